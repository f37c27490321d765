//! Models of mod_wsgi's directives other than `WSGIDaemonProcess`, and the
//! parsers for their arguments. The module's command table calls these and
//! hands any error string back to Apache, which adds the file and line.

use crate::words::{parse_on_off, split_options, split_words};

/// Which interpreter inside a process runs an application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApplicationGroup {
    /// `%{GLOBAL}`: the main interpreter.
    Global,
    /// `%{RESOURCE}` (the default): `host[:port]|script-name`.
    Resource,
    /// `%{SERVER}`: `host[:port]`.
    Server,
    /// `%{ENV:name}`: the value of a request environment variable.
    Env(String),
    /// Any other text names the interpreter directly.
    Named(String),
}

impl ApplicationGroup {
    pub fn parse(v: &str) -> Result<Self, String> {
        Ok(match v {
            "%{GLOBAL}" => Self::Global,
            "%{RESOURCE}" => Self::Resource,
            "%{SERVER}" => Self::Server,
            _ => match env_reference(v)? {
                Some(name) => Self::Env(name),
                None => Self::Named(v.to_string()),
            },
        })
    }
}

/// Where requests run: embedded in Apache's children or in a daemon group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProcessGroup {
    /// `%{GLOBAL}` (the default): embedded mode.
    Global,
    /// `%{ENV:name}`: chosen per request.
    Env(String),
    /// A `WSGIDaemonProcess` group by name.
    Named(String),
}

impl ProcessGroup {
    pub fn parse(v: &str) -> Result<Self, String> {
        if v.is_empty() {
            return Err("a process group name is required".into());
        }
        Ok(match v {
            "%{GLOBAL}" => Self::Global,
            _ => match env_reference(v)? {
                Some(name) => Self::Env(name),
                None => Self::Named(v.to_string()),
            },
        })
    }

    /// The daemon group this names, when it names one directly.
    pub fn named(&self) -> Option<&str> {
        match self {
            Self::Named(n) => Some(n),
            _ => None,
        }
    }
}

/// `%{ENV:name}` → `Some(name)`; other `%{...}` forms are errors.
fn env_reference(v: &str) -> Result<Option<String>, String> {
    if let Some(inner) = v.strip_prefix("%{").and_then(|r| r.strip_suffix('}')) {
        return match inner.strip_prefix("ENV:") {
            Some(name) if !name.is_empty() => Ok(Some(name.to_string())),
            _ => Err(format!("unknown expansion '{}'", v)),
        };
    }
    Ok(None)
}

/// `WSGIScriptAlias` / `WSGIScriptAliasMatch` and their options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptAlias {
    /// URL prefix, or a regular expression for the Match form.
    pub url: String,
    /// Script file or directory; `$1`-style references for the Match form.
    pub target: String,
    pub is_regex: bool,
    pub process_group: Option<ProcessGroup>,
    pub application_group: Option<ApplicationGroup>,
    pub callable_object: Option<String>,
    pub pass_authorization: Option<bool>,
}

impl ScriptAlias {
    pub fn parse(args: &str, is_regex: bool) -> Result<Self, String> {
        let (positional, options) = split_positional(args, 2)?;
        let [url, target]: [String; 2] = positional
            .try_into()
            .map_err(|_| "expected a URL path and a script path".to_string())?;
        if !is_regex && !url.starts_with('/') {
            return Err(format!("the URL path '{}' must start with '/'", url));
        }
        let mut alias = ScriptAlias {
            url,
            target,
            is_regex,
            process_group: None,
            application_group: None,
            callable_object: None,
            pass_authorization: None,
        };
        for (name, value) in options {
            let bad = |e: String| format!("option '{}={}': {}", name, value, e);
            match name.as_str() {
                "process-group" => {
                    alias.process_group = Some(ProcessGroup::parse(&value).map_err(bad)?)
                }
                "application-group" => {
                    alias.application_group = Some(ApplicationGroup::parse(&value).map_err(bad)?)
                }
                "callable-object" => alias.callable_object = Some(identifier(&value).map_err(bad)?),
                "pass-authorization" => {
                    alias.pass_authorization =
                        Some(parse_on_off(&value).ok_or_else(|| bad("expected On or Off".into()))?)
                }
                _ => return Err(bad("unknown option".into())),
            }
        }
        Ok(alias)
    }

    /// For a prefix alias: does `uri` fall under it, and where does the
    /// script part end? Returns the length of the matched prefix. Like
    /// mod_alias, `/app` matches `/app` and `/app/x` but not `/apple`.
    pub fn match_prefix(&self, uri: &str) -> Option<usize> {
        if self.is_regex {
            return None;
        }
        let alias = self.url.trim_end_matches('/');
        if alias.is_empty() {
            return Some(0);
        }
        let rest = uri.strip_prefix(alias)?;
        (rest.is_empty() || rest.starts_with('/')).then_some(alias.len())
    }
}

/// `WSGIImportScript path process-group=... application-group=...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportScript {
    pub path: String,
    pub process_group: ProcessGroup,
    pub application_group: ApplicationGroup,
}

impl ImportScript {
    pub fn parse(args: &str) -> Result<Self, String> {
        let (positional, options) = split_positional(args, 1)?;
        let [path]: [String; 1] = positional
            .try_into()
            .map_err(|_| "expected the script's path".to_string())?;
        let (mut pg, mut ag) = (None, None);
        for (name, value) in options {
            let bad = |e: String| format!("option '{}={}': {}", name, value, e);
            match name.as_str() {
                "process-group" => pg = Some(ProcessGroup::parse(&value).map_err(bad)?),
                "application-group" => ag = Some(ApplicationGroup::parse(&value).map_err(bad)?),
                _ => return Err(bad("unknown option".into())),
            }
        }
        let process_group = pg.ok_or("the process-group= option is required")?;
        let application_group = ag.ok_or("the application-group= option is required")?;
        if matches!(process_group, ProcessGroup::Env(_)) {
            return Err("process-group= cannot use %{ENV:...} here".into());
        }
        if matches!(
            application_group,
            ApplicationGroup::Env(_) | ApplicationGroup::Resource
        ) {
            return Err("application-group= must be %{GLOBAL}, %{SERVER} or a name here".into());
        }
        Ok(ImportScript {
            path,
            process_group,
            application_group,
        })
    }
}

/// `WSGIMapHEADToGET On|Off|Auto`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MapHeadToGet {
    Off,
    On,
    /// Map only when an output filter may need the body (mod_wsgi's default).
    Auto,
}

impl MapHeadToGet {
    pub fn parse(v: &str) -> Result<Self, String> {
        if v.eq_ignore_ascii_case("auto") {
            return Ok(Self::Auto);
        }
        match parse_on_off(v) {
            Some(true) => Ok(Self::On),
            Some(false) => Ok(Self::Off),
            None => Err("expected On, Off or Auto".into()),
        }
    }
}

/// `On|Off` for flag-style directives, with a message naming the choices.
pub fn parse_flag(v: &str) -> Result<bool, String> {
    parse_on_off(v).ok_or_else(|| format!("'{}' is not On or Off", v))
}

/// `WSGIPythonOptimize 0|1|2`.
pub fn parse_optimize(v: &str) -> Result<u8, String> {
    match v.parse::<u8>() {
        Ok(n @ 0..=2) => Ok(n),
        _ => Err(format!("'{}' is not an optimisation level (0, 1 or 2)", v)),
    }
}

/// A Python identifier, for `WSGICallableObject` / `callable-object=`.
pub fn identifier(v: &str) -> Result<String, String> {
    let mut chars = v.chars();
    let ok = matches!(chars.next(), Some(c) if c == '_' || c.is_alphabetic())
        && chars.all(|c| c == '_' || c.is_alphanumeric());
    if ok {
        Ok(v.to_string())
    } else {
        Err(format!("'{}' is not a Python identifier", v))
    }
}

/// Splits `args` into `n` leading words and the `name=value` options after them.
/// Positional words, then `(name, value)` options.
type Positional = (Vec<String>, Vec<(String, String)>);

fn split_positional(args: &str, n: usize) -> Result<Positional, String> {
    let mut rest = args.trim_start();
    let mut positional = Vec::new();
    for _ in 0..n {
        if rest.is_empty() {
            break;
        }
        // Find where this word ends, respecting quotes, by re-splitting.
        let word = split_words(rest)?.into_iter().next().unwrap_or_default();
        positional.push(word);
        rest = skip_word(rest).trim_start();
    }
    let options = split_options(rest)?
        .into_iter()
        .map(|o| match o.value {
            Some(v) => Ok((o.name, v)),
            None => Err(format!(
                "unexpected argument '{}' (options are written name=value)",
                o.name
            )),
        })
        .collect::<Result<_, _>>()?;
    Ok((positional, options))
}

/// The rest of `s` after its first (possibly quoted) word.
fn skip_word(s: &str) -> &str {
    let mut chars = s.char_indices();
    match chars.next() {
        Some((_, q @ ('"' | '\''))) => {
            let mut escaped = false;
            for (i, c) in chars {
                if escaped {
                    escaped = false;
                } else if c == '\\' {
                    escaped = true;
                } else if c == q {
                    return &s[i + 1..];
                }
            }
            ""
        }
        _ => s.find(char::is_whitespace).map_or("", |i| &s[i..]),
    }
}

/// `WSGIHandlerScript name path [process-group=] [application-group=]
/// [pass-authorization=]`: a script that serves requests whose Apache
/// handler is `name` (SetHandler, AddHandler, RewriteRule [H=name]); its
/// callable is always `handle_request`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandlerScript {
    pub name: String,
    pub script: String,
    pub process_group: Option<ProcessGroup>,
    pub application_group: Option<ApplicationGroup>,
    pub pass_authorization: Option<bool>,
}

/// The callable a handler script must define.
pub const HANDLER_CALLABLE: &str = "handle_request";

impl HandlerScript {
    pub fn parse(args: &str) -> Result<Self, String> {
        let (positional, options) = split_positional(args, 2)?;
        let [name, script]: [String; 2] = positional
            .try_into()
            .map_err(|_| "expected a handler name and a script path".to_string())?;
        if name.is_empty() || name.contains(char::is_whitespace) {
            return Err(format!("'{name}' is not a handler name"));
        }
        if !script.starts_with('/') {
            return Err(format!("the script path '{script}' must be absolute"));
        }
        let mut h = HandlerScript {
            name,
            script,
            process_group: None,
            application_group: None,
            pass_authorization: None,
        };
        for (option, value) in options {
            let bad = |e: String| format!("option '{}={}': {}", option, value, e);
            match option.as_str() {
                "process-group" => {
                    h.process_group = Some(ProcessGroup::parse(&value).map_err(bad)?)
                }
                "application-group" => {
                    h.application_group = Some(ApplicationGroup::parse(&value).map_err(bad)?)
                }
                "pass-authorization" => {
                    h.pass_authorization =
                        Some(parse_on_off(&value).ok_or_else(|| bad("expected On or Off".into()))?)
                }
                _ => return Err(bad("unknown option".into())),
            }
        }
        Ok(h)
    }
}

/// `WSGIAuthUserScript`, `WSGIAuthGroupScript`, `WSGIAccessScript`:
/// `path [application-group=name]`. They run in Apache's children (as with
/// mod_wsgi), in the main interpreter unless `application-group=` says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthScript {
    pub script: String,
    pub application_group: Option<ApplicationGroup>,
}

impl AuthScript {
    pub fn parse(args: &str) -> Result<Self, String> {
        let (positional, options) = split_positional(args, 1)?;
        let [script]: [String; 1] = positional
            .try_into()
            .map_err(|_| "expected one script path".to_string())?;
        if !script.starts_with('/') {
            return Err(format!("the script path '{script}' must be absolute"));
        }
        let mut a = AuthScript {
            script,
            application_group: None,
        };
        for (option, value) in options {
            let bad = |e: String| format!("option '{}={}': {}", option, value, e);
            match option.as_str() {
                "application-group" => {
                    a.application_group = Some(ApplicationGroup::parse(&value).map_err(bad)?)
                }
                _ => {
                    return Err(bad(
                        "unknown option (the only one is application-group=)".into()
                    ))
                }
            }
        }
        Ok(a)
    }

    /// The interpreter it runs in: `application-group=`, else %{GLOBAL}.
    pub fn group(&self) -> ApplicationGroup {
        self.application_group
            .clone()
            .unwrap_or(ApplicationGroup::Global)
    }
}

/// What the module does with each mod_wsgi directive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Support {
    /// Does what mod_wsgi documents.
    Supported,
    /// Accepted and checked; it works differently here, and the module
    /// logs at start-up what it means (docs/directives.md says why).
    Differs,
    /// Parsed and refused with "not supported yet".
    NotYet,
}

/// Every directive mod_wsgi 4.9 / 6.1 defines, and our status for it.
pub const MOD_WSGI_DIRECTIVES: &[(&str, Support)] = &[
    ("WSGIScriptAlias", Support::Supported),
    ("WSGIScriptAliasMatch", Support::Supported),
    ("WSGIDaemonProcess", Support::Supported),
    ("WSGIProcessGroup", Support::Supported),
    ("WSGIApplicationGroup", Support::Supported),
    ("WSGICallableObject", Support::Supported),
    ("WSGIPythonHome", Support::Supported),
    ("WSGIPythonPath", Support::Supported),
    ("WSGIPythonOptimize", Support::Supported),
    ("WSGIPassAuthorization", Support::Supported),
    ("WSGIRestrictEmbedded", Support::Supported),
    ("WSGIRestrictStdin", Support::Supported),
    ("WSGIRestrictStdout", Support::Supported),
    ("WSGIRestrictSignal", Support::Supported),
    ("WSGIDestroyInterpreter", Support::Supported),
    ("WSGIImportScript", Support::Supported),
    ("WSGISocketPrefix", Support::Supported),
    ("WSGIChunkedRequest", Support::Supported),
    ("WSGIMapHEADToGET", Support::Supported),
    ("WSGIScriptReloading", Support::Supported),
    ("WSGILazyInitialization", Support::Supported),
    ("WSGIDontWriteBytecode", Support::Supported),
    ("WSGIPythonHashSeed", Support::Supported),
    ("WSGIPythonWarnings", Support::Supported),
    ("WSGIEnableSendfile", Support::Supported),
    ("WSGIPythonEggs", Support::Supported),
    ("WSGISwitchInterval", Support::Supported),
    ("WSGIRestrictProcess", Support::Supported),
    ("WSGISocketRotation", Support::Differs),
    ("WSGIAcceptMutex", Support::Differs),
    ("WSGIVerboseDebugging", Support::Differs),
    ("WSGICaseSensitivity", Support::Differs),
    ("WSGIPassApacheRequest", Support::Differs),
    ("WSGIServerMetrics", Support::Supported),
    ("WSGIPerInterpreterGIL", Support::Differs),
    ("WSGIFreeThreading", Support::Differs),
    ("<WSGIInterpreterOptions", Support::Differs),
    ("WSGITelemetryService", Support::Differs),
    ("WSGITelemetryOptions", Support::Differs),
    ("WSGISlowRequests", Support::Differs),
    ("WSGIDispatchScript", Support::Supported),
    ("WSGIErrorOverride", Support::Supported),
    ("WSGIIgnoreActivity", Support::Supported),
    ("WSGITrustedProxyHeaders", Support::Supported),
    ("WSGITrustedProxies", Support::Supported),
    ("WSGIAccessScript", Support::Supported),
    ("WSGIAuthUserScript", Support::Supported),
    ("WSGIAuthGroupScript", Support::Supported),
    ("WSGIGroupAuthoritative", Support::Supported),
    ("WSGIHandlerScript", Support::Supported),
];
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auth_script_forms() {
        let a = AuthScript::parse("/srv/auth.wsgi").unwrap();
        assert_eq!(a.group(), ApplicationGroup::Global);
        let a = AuthScript::parse("'/srv/a b.wsgi' application-group=django").unwrap();
        assert_eq!(a.script, "/srv/a b.wsgi");
        assert_eq!(a.group(), ApplicationGroup::Named("django".into()));
        assert!(AuthScript::parse("").is_err());
        assert!(AuthScript::parse("rel.wsgi").is_err());
        assert!(AuthScript::parse("/a /b").is_err());
        assert!(AuthScript::parse("/a process-group=x").is_err());
    }

    #[test]
    fn handler_script_forms() {
        let h = HandlerScript::parse(
            "wsgi-handler '/srv/h.wsgi' process-group='localhost:8000' application-group=%{GLOBAL}",
        )
        .unwrap();
        assert_eq!(h.name, "wsgi-handler");
        assert_eq!(h.script, "/srv/h.wsgi");
        assert_eq!(
            h.process_group,
            Some(ProcessGroup::Named("localhost:8000".into()))
        );
        assert_eq!(h.application_group, Some(ApplicationGroup::Global));
        let h = HandlerScript::parse("x /a.wsgi pass-authorization=On").unwrap();
        assert_eq!(h.pass_authorization, Some(true));
        assert!(HandlerScript::parse("x").is_err());
        assert!(HandlerScript::parse("x relative.wsgi").is_err());
        assert!(HandlerScript::parse("x /a.wsgi colour=red").is_err());
        assert!(HandlerScript::parse("x /a.wsgi pass-authorization=maybe").is_err());
    }

    #[test]
    fn application_group_forms() {
        assert_eq!(
            ApplicationGroup::parse("%{GLOBAL}").unwrap(),
            ApplicationGroup::Global
        );
        assert_eq!(
            ApplicationGroup::parse("%{RESOURCE}").unwrap(),
            ApplicationGroup::Resource
        );
        assert_eq!(
            ApplicationGroup::parse("%{SERVER}").unwrap(),
            ApplicationGroup::Server
        );
        assert_eq!(
            ApplicationGroup::parse("%{ENV:APP}").unwrap(),
            ApplicationGroup::Env("APP".into())
        );
        assert_eq!(
            ApplicationGroup::parse("site").unwrap(),
            ApplicationGroup::Named("site".into())
        );
        assert!(ApplicationGroup::parse("%{BOGUS}").is_err());
        assert!(ApplicationGroup::parse("%{ENV:}").is_err());
    }

    #[test]
    fn script_alias_with_options() {
        let a = ScriptAlias::parse(
            r#"/app "/srv/x y/app.wsgi" process-group=g application-group=%{GLOBAL} callable-object=app pass-authorization=On"#,
            false,
        )
        .unwrap();
        assert_eq!(a.url, "/app");
        assert_eq!(a.target, "/srv/x y/app.wsgi");
        assert_eq!(a.process_group, Some(ProcessGroup::Named("g".into())));
        assert_eq!(a.application_group, Some(ApplicationGroup::Global));
        assert_eq!(a.callable_object.as_deref(), Some("app"));
        assert_eq!(a.pass_authorization, Some(true));
    }

    #[test]
    fn script_alias_errors() {
        assert!(ScriptAlias::parse("/app", false)
            .unwrap_err()
            .contains("URL path and a script"));
        assert!(ScriptAlias::parse("app /x.wsgi", false)
            .unwrap_err()
            .contains("must start"));
        let e = ScriptAlias::parse("/ /x.wsgi proces-group=g", false).unwrap_err();
        assert!(
            e.contains("proces-group=g") && e.contains("unknown option"),
            "{e}"
        );
        let e = ScriptAlias::parse("/ /x.wsgi callable-object=1x", false).unwrap_err();
        assert!(e.contains("not a Python identifier"), "{e}");
        assert!(ScriptAlias::parse("/ /x.wsgi stray", false)
            .unwrap_err()
            .contains("stray"));
        assert!(ScriptAlias::parse("^/(.*)$ /x/$1.wsgi", true).is_ok());
    }

    #[test]
    fn prefix_matching() {
        let a = ScriptAlias::parse("/app /x.wsgi", false).unwrap();
        assert_eq!(a.match_prefix("/app"), Some(4));
        assert_eq!(a.match_prefix("/app/x"), Some(4));
        assert_eq!(a.match_prefix("/apple"), None);
        let root = ScriptAlias::parse("/ /x.wsgi", false).unwrap();
        assert_eq!(root.match_prefix("/anything"), Some(0));
        let slash = ScriptAlias::parse("/app/ /x.wsgi", false).unwrap();
        assert_eq!(slash.match_prefix("/app/y"), Some(4));
    }

    #[test]
    fn import_script() {
        let s = ImportScript::parse("/x.wsgi process-group=g application-group=%{GLOBAL}").unwrap();
        assert_eq!(s.process_group, ProcessGroup::Named("g".into()));
        assert!(ImportScript::parse("/x.wsgi process-group=g")
            .unwrap_err()
            .contains("application-group"));
        assert!(ImportScript::parse("/x.wsgi application-group=a")
            .unwrap_err()
            .contains("process-group"));
    }

    #[test]
    fn small_values() {
        assert_eq!(MapHeadToGet::parse("auto").unwrap(), MapHeadToGet::Auto);
        assert!(MapHeadToGet::parse("x").is_err());
        assert_eq!(parse_optimize("2").unwrap(), 2);
        assert!(parse_optimize("3").is_err());
        assert!(parse_flag("On").unwrap());
        assert!(parse_flag("1").is_err());
        assert!(ProcessGroup::parse("").is_err());
    }
}
