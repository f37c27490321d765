//! Which application a request runs and how: the settings of its
//! `WSGIScriptAlias` (when one matched) over those of its directory, which
//! Apache has already merged from server to location (`DirSettings::merged`).
//! Then the defaults mod_wsgi documents.

use crate::directives::{
    ApplicationGroup, AuthScript, HandlerScript, MapHeadToGet, ProcessGroup, ScriptAlias,
};

/// Per directory / location / .htaccess settings; `None` = inherit.
#[derive(Default, Clone, Debug, PartialEq)]
pub struct DirSettings {
    pub application_group: Option<ApplicationGroup>,
    pub process_group: Option<ProcessGroup>,
    pub callable_object: Option<String>,
    pub pass_authorization: Option<bool>,
    pub script_reloading: Option<bool>,
    pub chunked_request: Option<bool>,
    pub map_head_to_get: Option<MapHeadToGet>,
    pub enable_sendfile: Option<bool>,
    /// `WSGIRestrictProcess`: the process groups ("" = embedded) a
    /// request here may end up in.
    pub restrict_process: Option<Vec<String>>,
    pub error_override: Option<bool>,
    pub ignore_activity: Option<bool>,
    pub pass_apache_request: Option<bool>,
    /// `WSGIHandlerScript`s visible here, by handler name.
    pub handler_scripts: Vec<HandlerScript>,
    pub auth_user_script: Option<AuthScript>,
    pub auth_group_script: Option<AuthScript>,
    pub access_script: Option<AuthScript>,
    /// `WSGIDispatchScript` (same form: path [application-group=]).
    pub dispatch_script: Option<AuthScript>,
    pub group_authoritative: Option<bool>,
    /// `WSGITrustedProxyHeaders`, as CGI names (HTTP_X_FORWARDED_FOR).
    pub trusted_proxy_headers: Option<Vec<String>>,
    pub trusted_proxies: Option<Vec<crate::proxy_headers::Cidr>>,
}

impl DirSettings {
    /// `add` (the inner section) over `base` (the outer one).
    pub fn merged(base: &DirSettings, add: &DirSettings) -> DirSettings {
        DirSettings {
            application_group: add
                .application_group
                .clone()
                .or(base.application_group.clone()),
            process_group: add.process_group.clone().or(base.process_group.clone()),
            callable_object: add.callable_object.clone().or(base.callable_object.clone()),
            pass_authorization: add.pass_authorization.or(base.pass_authorization),
            script_reloading: add.script_reloading.or(base.script_reloading),
            chunked_request: add.chunked_request.or(base.chunked_request),
            map_head_to_get: add.map_head_to_get.or(base.map_head_to_get),
            enable_sendfile: add.enable_sendfile.or(base.enable_sendfile),
            restrict_process: add
                .restrict_process
                .clone()
                .or(base.restrict_process.clone()),
            error_override: add.error_override.or(base.error_override),
            ignore_activity: add.ignore_activity.or(base.ignore_activity),
            pass_apache_request: add.pass_apache_request.or(base.pass_apache_request),
            handler_scripts: overlay(&add.handler_scripts, &base.handler_scripts),
            auth_user_script: add
                .auth_user_script
                .clone()
                .or(base.auth_user_script.clone()),
            auth_group_script: add
                .auth_group_script
                .clone()
                .or(base.auth_group_script.clone()),
            access_script: add.access_script.clone().or(base.access_script.clone()),
            dispatch_script: add.dispatch_script.clone().or(base.dispatch_script.clone()),
            group_authoritative: add.group_authoritative.or(base.group_authoritative),
            trusted_proxy_headers: add
                .trusted_proxy_headers
                .clone()
                .or(base.trusted_proxy_headers.clone()),
            trusted_proxies: add.trusted_proxies.clone().or(base.trusted_proxies.clone()),
        }
    }
}

/// The inner section's handler scripts, then the outer ones of other names.
fn overlay(add: &[HandlerScript], base: &[HandlerScript]) -> Vec<HandlerScript> {
    let mut out = add.to_vec();
    out.extend(
        base.iter()
            .filter(|b| !add.iter().any(|a| a.name == b.name))
            .cloned(),
    );
    out
}

impl DirSettings {
    /// The handler script registered for Apache handler `name`, if any.
    pub fn handler_script(&self, name: &[u8]) -> Option<&HandlerScript> {
        self.handler_scripts
            .iter()
            .find(|h| h.name.as_bytes() == name)
    }

    /// Registers (or replaces) a handler script in this section.
    pub fn add_handler_script(&mut self, h: HandlerScript) {
        self.handler_scripts.retain(|x| x.name != h.name);
        self.handler_scripts.push(h);
    }
}

/// What one request resolved to, before the names that depend on the
/// request itself (a `%{ENV:}` process group, the application group's
/// `%{RESOURCE}` etc.) are worked out.
#[derive(Clone, Debug, PartialEq)]
pub struct Choice {
    pub process_group: ProcessGroup,
    pub application_group: ApplicationGroup,
    pub callable: String,
    pub pass_authorization: bool,
    pub reload: bool,
    pub sendfile: bool,
    pub chunked: bool,
    pub map_head_to_get: MapHeadToGet,
    pub error_override: bool,
    pub ignore_activity: bool,
}

/// A handler script's options over the directory's (its callable is
/// always `handle_request`).
pub fn choose_for_handler(h: &HandlerScript, dir: &DirSettings) -> Choice {
    let mut c = choose(None, dir);
    if let Some(pg) = &h.process_group {
        c.process_group = pg.clone();
    }
    if let Some(ag) = &h.application_group {
        c.application_group = ag.clone();
    }
    if let Some(pa) = h.pass_authorization {
        c.pass_authorization = pa;
    }
    c.callable = crate::directives::HANDLER_CALLABLE.into();
    c
}

/// The alias's options over the directory's, then mod_wsgi's defaults.
pub fn choose(alias: Option<&ScriptAlias>, dir: &DirSettings) -> Choice {
    Choice {
        process_group: alias
            .and_then(|a| a.process_group.clone())
            .or(dir.process_group.clone())
            .unwrap_or(ProcessGroup::Global),
        application_group: alias
            .and_then(|a| a.application_group.clone())
            .or(dir.application_group.clone())
            .unwrap_or(ApplicationGroup::Resource),
        callable: alias
            .and_then(|a| a.callable_object.clone())
            .or(dir.callable_object.clone())
            .unwrap_or_else(|| "application".into()),
        pass_authorization: alias
            .and_then(|a| a.pass_authorization)
            .or(dir.pass_authorization)
            .unwrap_or(false),
        reload: dir.script_reloading.unwrap_or(true),
        sendfile: dir.enable_sendfile.unwrap_or(true),
        chunked: dir.chunked_request.unwrap_or(false),
        map_head_to_get: dir.map_head_to_get.unwrap_or(MapHeadToGet::Auto),
        error_override: dir.error_override.unwrap_or(false),
        ignore_activity: dir.ignore_activity.unwrap_or(false),
    }
}

/// `WSGIRestrictProcess`: whether `group` ("" = embedded) may be chosen
/// here. Without the directive every group may.
pub fn process_allowed(dir: &DirSettings, group: &str) -> bool {
    dir.restrict_process
        .as_ref()
        .is_none_or(|allowed| allowed.iter().any(|g| g == group))
}

/// `WSGIRestrictProcess`'s arguments: group names, `%{GLOBAL}` for embedded.
pub fn parse_restrict_process(words: &[String]) -> Result<Vec<String>, String> {
    if words.is_empty() {
        return Err("needs at least one process group name".into());
    }
    Ok(words
        .iter()
        .map(|w| {
            if w == "%{GLOBAL}" {
                String::new()
            } else {
                w.clone()
            }
        })
        .collect())
}

/// The process group's name ("" = this process, embedded mode).
pub fn process_group_name(pg: &ProcessGroup, env: &dyn Fn(&str) -> Option<String>) -> String {
    match pg {
        ProcessGroup::Global => String::new(),
        ProcessGroup::Named(n) => n.clone(),
        ProcessGroup::Env(k) => env(k).unwrap_or_default(),
    }
}

/// Whether a HEAD request runs as GET: mod_wsgi's WSGIMapHEADToGET, where
/// Auto means "when an output filter may need the body" (asked only then).
pub fn head_runs_as_get(
    is_head: bool,
    map: MapHeadToGet,
    content_filters: impl FnOnce() -> bool,
) -> bool {
    is_head
        && match map {
            MapHeadToGet::On => true,
            MapHeadToGet::Off => false,
            MapHeadToGet::Auto => content_filters(),
        }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handler_scripts_overlay_and_choose() {
        let h = |name: &str, script: &str, pg: Option<&str>| HandlerScript {
            name: name.into(),
            script: script.into(),
            process_group: pg.map(|g| ProcessGroup::Named(g.into())),
            application_group: None,
            pass_authorization: None,
        };
        let mut outer = DirSettings::default();
        outer.add_handler_script(h("a", "/outer-a", None));
        outer.add_handler_script(h("b", "/outer-b", None));
        let mut inner = DirSettings::default();
        inner.add_handler_script(h("a", "/inner-a", Some("g")));
        let m = DirSettings::merged(&outer, &inner);
        assert_eq!(m.handler_script(b"a").unwrap().script, "/inner-a");
        assert_eq!(m.handler_script(b"b").unwrap().script, "/outer-b");
        assert!(m.handler_script(b"c").is_none());
        let dir = DirSettings {
            process_group: Some(ProcessGroup::Named("dirs".into())),
            callable_object: Some("app".into()),
            ..Default::default()
        };
        let c = choose_for_handler(m.handler_script(b"a").unwrap(), &dir);
        assert_eq!(c.process_group, ProcessGroup::Named("g".into()));
        assert_eq!(c.callable, "handle_request");
        let c = choose_for_handler(m.handler_script(b"b").unwrap(), &dir);
        assert_eq!(c.process_group, ProcessGroup::Named("dirs".into()));
    }

    #[test]
    fn restrict_process_lists_the_allowed_groups() {
        let mut dir = DirSettings::default();
        assert!(process_allowed(&dir, "any"));
        assert!(process_allowed(&dir, ""));
        let words: Vec<String> = ["bob:1", "%{GLOBAL}"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        dir.restrict_process = Some(parse_restrict_process(&words).unwrap());
        assert!(process_allowed(&dir, "bob:1"));
        assert!(process_allowed(&dir, ""));
        assert!(!process_allowed(&dir, "joe:1"));
        assert!(parse_restrict_process(&[]).is_err());
        // An inner section's list replaces the outer one.
        let inner = DirSettings {
            restrict_process: Some(vec!["joe:1".into()]),
            ..Default::default()
        };
        let merged = DirSettings::merged(&dir, &inner);
        assert!(process_allowed(&merged, "joe:1"));
        assert!(!process_allowed(&merged, "bob:1"));
    }

    fn alias(options: &str) -> ScriptAlias {
        ScriptAlias::parse(&format!("/app /srv/app.wsgi {options}"), false).unwrap()
    }

    #[test]
    fn defaults_are_mod_wsgis() {
        let c = choose(None, &DirSettings::default());
        assert_eq!(c.process_group, ProcessGroup::Global);
        assert_eq!(c.application_group, ApplicationGroup::Resource);
        assert_eq!(c.callable, "application");
        assert!(!c.pass_authorization && c.reload && c.sendfile && !c.chunked);
        assert_eq!(c.map_head_to_get, MapHeadToGet::Auto);
    }

    #[test]
    fn alias_options_win_over_the_directory() {
        let dir = DirSettings {
            process_group: Some(ProcessGroup::Named("dir".into())),
            application_group: Some(ApplicationGroup::Global),
            callable_object: Some("dir_app".into()),
            pass_authorization: Some(false),
            ..Default::default()
        };
        let a = alias(
            "process-group=site application-group=one callable-object=app pass-authorization=On",
        );
        let c = choose(Some(&a), &dir);
        assert_eq!(c.process_group, ProcessGroup::Named("site".into()));
        assert_eq!(c.application_group, ApplicationGroup::Named("one".into()));
        assert_eq!(c.callable, "app");
        assert!(c.pass_authorization);
        // An alias without options leaves the directory's settings.
        let c = choose(Some(&alias("")), &dir);
        assert_eq!(c.process_group, ProcessGroup::Named("dir".into()));
        assert_eq!(c.application_group, ApplicationGroup::Global);
        assert_eq!(c.callable, "dir_app");
    }

    #[test]
    fn inner_sections_override_outer_ones_setting_by_setting() {
        let server = DirSettings {
            process_group: Some(ProcessGroup::Named("server".into())),
            script_reloading: Some(false),
            ..Default::default()
        };
        let location = DirSettings {
            process_group: Some(ProcessGroup::Named("location".into())),
            chunked_request: Some(true),
            ..Default::default()
        };
        let m = DirSettings::merged(&server, &location);
        assert_eq!(
            m.process_group,
            Some(ProcessGroup::Named("location".into()))
        );
        assert_eq!(m.script_reloading, Some(false));
        assert_eq!(m.chunked_request, Some(true));
        let c = choose(None, &m);
        assert!(!c.reload && c.chunked);
    }

    #[test]
    fn env_process_groups_and_head_mapping() {
        let env = |k: &str| (k == "GROUP").then(|| "from-env".to_string());
        assert_eq!(
            process_group_name(&ProcessGroup::Env("GROUP".into()), &env),
            "from-env"
        );
        assert_eq!(
            process_group_name(&ProcessGroup::Env("OTHER".into()), &env),
            ""
        );
        assert_eq!(process_group_name(&ProcessGroup::Global, &env), "");
        let never = || -> bool { panic!("filters asked for outside Auto") };
        assert!(head_runs_as_get(true, MapHeadToGet::On, never));
        assert!(!head_runs_as_get(true, MapHeadToGet::Off, never));
        assert!(head_runs_as_get(true, MapHeadToGet::Auto, || true));
        assert!(!head_runs_as_get(true, MapHeadToGet::Auto, || false));
        assert!(!head_runs_as_get(false, MapHeadToGet::Auto, never));
    }
}
