//! What a daemon process group accepts: a second line of defence behind the
//! group's secret. Even a request that carries the right secret runs only a
//! script the configuration could route to this group, with a callable that
//! is a Python identifier and an application-group name Apache could have
//! made, so a forged request gains nothing an HTTP request could not do.

use crate::directives::{HandlerScript, ProcessGroup, ScriptAlias};
use crate::route::Route;

/// Where the scripts this group may run can be, built in the Apache parent
/// from the whole configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScriptRoots {
    /// Script files named by a `WSGIScriptAlias`.
    pub files: Vec<String>,
    /// Directories whose scripts may run: `WSGIScriptAlias` directory
    /// targets, the fixed start of `WSGIScriptAliasMatch` targets, and
    /// `<Directory>` sections that map files to `wsgi-script`.
    pub dirs: Vec<String>,
    /// A handler mapping outside any plain `<Directory>`: any file may be
    /// a script.
    pub anywhere: bool,
}

/// Whether `alias` can send requests to `group`: its own `process-group=`
/// names it, or leaves the choice to the directory's `WSGIProcessGroup`.
pub fn alias_reaches(alias: &ScriptAlias, group: &str) -> bool {
    match &alias.process_group {
        None | Some(ProcessGroup::Env(_)) => true,
        Some(ProcessGroup::Named(n)) => n == group,
        Some(ProcessGroup::Global) => false,
    }
}

/// Whether a `WSGIHandlerScript` can send requests to `group` (same rule
/// as an alias's `process-group=`).
pub fn handler_reaches(h: &HandlerScript, group: &str) -> bool {
    match &h.process_group {
        None | Some(ProcessGroup::Env(_)) => true,
        Some(ProcessGroup::Named(n)) => n == group,
        Some(ProcessGroup::Global) => false,
    }
}

impl ScriptRoots {
    /// Adds a handler script's file (call only when `handler_reaches`).
    pub fn add_handler_script(&mut self, h: &HandlerScript) {
        self.files.push(h.script.clone());
    }

    /// Adds what `alias` can route (call only when `alias_reaches`).
    /// `is_dir` tells whether a plain alias target is a directory.
    pub fn add_alias(&mut self, alias: &ScriptAlias, is_dir: bool) {
        let target = alias.target.as_str();
        if alias.is_regex {
            // Up to the first substitution: its directory is fixed.
            let fixed = &target[..target.find(['$', '\\']).unwrap_or(target.len())];
            match fixed.rfind('/') {
                Some(_) if fixed.len() == target.len() && !is_dir => {
                    self.files.push(target.to_string())
                }
                Some(i) => self.dirs.push(target[..=i].to_string()),
                None => self.anywhere = true,
            }
        } else if is_dir || target.ends_with('/') {
            self.dirs.push(dir_with_slash(target));
        } else {
            self.files.push(target.to_string());
        }
    }

    /// Adds a `<Directory>` whose files may run.
    pub fn add_directory(&mut self, dir: &str) {
        self.dirs.push(dir_with_slash(dir));
    }

    /// Adds what an `AddHandler`/`SetHandler` directive (`args`, inside
    /// `sections`, innermost first) can route, if it maps to this module:
    /// its `<Directory>`, or anywhere when it stands outside one (server
    /// level, `<Location>`, `<DirectoryMatch>`: any file may then be a
    /// script, as with mod_wsgi).
    pub fn add_handler_mapping(&mut self, args: &str, sections: &[(String, String)]) {
        let words = crate::words::split_words(args).unwrap_or_default();
        let ours = |w: &String| w == "wsgi-script" || w == "application/x-httpd-wsgi";
        if !words.first().is_some_and(ours) {
            return;
        }
        let dir = sections.iter().find_map(|(name, args)| {
            let args = args.trim_end_matches('>').trim();
            let is_dir = name.eq_ignore_ascii_case("<Directory");
            let plain = is_dir && !args.starts_with('~');
            if name.eq_ignore_ascii_case("<DirectoryMatch") || (is_dir && !plain) {
                return Some(None);
            }
            if plain {
                let word = crate::words::split_words(args).ok()?.into_iter().next()?;
                return Some(Some(word));
            }
            None
        });
        match dir.flatten() {
            Some(d) if d.starts_with('/') && !d.contains(['*', '?', '[']) => self.add_directory(&d),
            _ => self.anywhere = true,
        }
    }

    /// Whether `script` (an absolute path without `.` or `..` parts, as
    /// Apache's directory walk leaves `r->filename`) may run here.
    pub fn allows(&self, script: &str) -> bool {
        self.anywhere
            || self.files.iter().any(|f| f == script)
            || self.dirs.iter().any(|d| script.starts_with(d.as_str()))
    }
}

fn dir_with_slash(d: &str) -> String {
    if d.ends_with('/') {
        d.to_string()
    } else {
        format!("{}/", d)
    }
}

/// The longest application-group name accepted (Apache's own names are
/// `host:port|script-name`, well below this).
const MAX_APP_GROUP: usize = 4096;

/// Checks a request's route against the group's roots; the error says why
/// it is refused (for the daemon's log).
pub fn check(route: &Route, roots: &ScriptRoots) -> Result<(), String> {
    let script = std::str::from_utf8(route.script)
        .map_err(|_| "the script path is not UTF-8".to_string())?;
    let clean = script.starts_with('/')
        && !script.contains('\0')
        && !script.split('/').any(|part| part == ".." || part == ".");
    if !clean {
        return Err(format!(
            "script path '{}' is not a plain absolute path",
            script.escape_debug()
        ));
    }
    if !roots.allows(script) {
        return Err(format!(
            "script '{}' is not one this group's configuration routes to it",
            script
        ));
    }
    let callable = std::str::from_utf8(route.callable).unwrap_or("");
    crate::directives::identifier(callable)?;
    let group = route.application_group;
    if group.len() > MAX_APP_GROUP
        || std::str::from_utf8(group).is_err()
        || group.iter().any(|b| b.is_ascii_control())
    {
        return Err("the application group name is not one Apache makes".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alias(target: &str, is_regex: bool, pg: Option<&str>) -> ScriptAlias {
        let opt = pg
            .map(|g| format!(" process-group={g}"))
            .unwrap_or_default();
        ScriptAlias::parse(&format!("/x {target}{opt}"), is_regex).unwrap()
    }

    fn route(script: &'static str) -> Route<'static> {
        Route {
            script: script.as_bytes(),
            callable: b"application",
            application_group: b"host:80|/x",
            ..Default::default()
        }
    }

    #[test]
    fn only_scripts_the_configuration_routes_here_run() {
        let mut roots = ScriptRoots::default();
        roots.add_alias(&alias("/srv/a/app.wsgi", false, Some("g")), false);
        roots.add_alias(&alias("/srv/dir", false, None), true);
        roots.add_alias(&alias("/srv/m/$1.wsgi", true, None), false);
        roots.add_directory("/var/www/wsgi");
        assert!(check(&route("/srv/a/app.wsgi"), &roots).is_ok());
        assert!(check(&route("/srv/dir/sub/x.py"), &roots).is_ok());
        assert!(check(&route("/srv/m/anything.wsgi"), &roots).is_ok());
        assert!(check(&route("/var/www/wsgi/h.wsgi"), &roots).is_ok());
        for bad in [
            "/tmp/evil.py",
            "/srv/a/app.wsgi2",
            "/srv/a/other.wsgi",
            "/srv/dirx/y.py",
            "/srv/dir/../../etc/evil.py",
            "/srv/dir/./x.py",
            "relative.py",
        ] {
            assert!(check(&route(bad), &roots).is_err(), "{bad} was allowed");
        }
    }

    #[test]
    fn handler_mappings_open_their_directory_or_everything() {
        let sec = |n: &str, a: &str| vec![(n.to_string(), a.to_string())];
        let mut roots = ScriptRoots::default();
        roots.add_handler_mapping("wsgi-script .wsgi", &sec("<Directory", "\"/var/www/h\">"));
        roots.add_handler_mapping("cgi-script .cgi", &[]);
        roots.add_handler_mapping("default-handler", &sec("<Directory", "/x>"));
        assert_eq!(roots.dirs, vec!["/var/www/h/".to_string()]);
        assert!(!roots.anywhere);
        let mut everywhere = ScriptRoots::default();
        everywhere.add_handler_mapping("wsgi-script", &[]);
        assert!(everywhere.anywhere);
        let mut glob = ScriptRoots::default();
        glob.add_handler_mapping("wsgi-script .py", &sec("<Directory", "/srv/*/app>"));
        assert!(glob.anywhere);
        let mut regex = ScriptRoots::default();
        regex.add_handler_mapping("wsgi-script .py", &sec("<DirectoryMatch", "^/srv>"));
        assert!(regex.anywhere);
        // <Files> inside a <Directory>: the directory counts.
        let mut files = ScriptRoots::default();
        let nested = vec![
            ("<Files".to_string(), "x.wsgi>".to_string()),
            ("<Directory".to_string(), "/d>".to_string()),
        ];
        files.add_handler_mapping("wsgi-script", &nested);
        assert_eq!(files.dirs, vec!["/d/".to_string()]);
    }

    #[test]
    fn aliases_for_other_groups_give_nothing() {
        assert!(alias_reaches(&alias("/a.wsgi", false, Some("g")), "g"));
        assert!(alias_reaches(&alias("/a.wsgi", false, None), "g"));
        assert!(!alias_reaches(&alias("/a.wsgi", false, Some("other")), "g"));
        assert!(!alias_reaches(
            &alias("/a.wsgi", false, Some("%{GLOBAL}")),
            "g"
        ));
    }

    #[test]
    fn callable_and_application_group_are_checked() {
        let roots = ScriptRoots {
            anywhere: true,
            ..Default::default()
        };
        let mut r = route("/any/where.py");
        assert!(check(&r, &roots).is_ok());
        r.callable = b"os.system";
        assert!(check(&r, &roots).is_err());
        r.callable = b"application";
        r.application_group = b"a\nb";
        assert!(check(&r, &roots).is_err());
        let long = vec![b'a'; MAX_APP_GROUP + 1];
        let r = Route {
            application_group: &long,
            ..route("/any/where.py")
        };
        assert!(check(&r, &roots).is_err());
    }
}
