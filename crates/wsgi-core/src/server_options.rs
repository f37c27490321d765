//! Parsers for mod_wsgi 6's server-wide options that take more than a
//! flag: the GIL switch interval, slow-request threshold, telemetry
//! service and options, and the `<WSGIInterpreterOptions>` selectors.

use crate::directives::{ApplicationGroup, ProcessGroup};
use crate::words::{split_options, split_words, OptionWord};

fn named(o: OptionWord) -> Result<(String, String), String> {
    let value = o
        .value
        .ok_or_else(|| format!("'{}' needs a value (name=value)", o.name))?;
    Ok((o.name, value))
}

/// `sys.setswitchinterval()`'s argument: a positive number of seconds.
pub fn switch_interval(v: &str) -> Result<f64, String> {
    match v.trim().parse::<f64>() {
        Ok(s) if s > 0.0 && s.is_finite() => Ok(s),
        _ => Err(format!(
            "'{v}' is not a positive number of seconds (for example 0.005)"
        )),
    }
}

/// `WSGISlowRequests`: a threshold in seconds, zero or more.
pub fn slow_requests(v: &str) -> Result<f64, String> {
    match v.trim().parse::<f64>() {
        Ok(s) if s >= 0.0 && s.is_finite() => Ok(s),
        _ => Err(format!("'{v}' is not a number of seconds, zero or more")),
    }
}

/// `WSGITelemetryService unix:/path [interval=N]`.
#[derive(Debug, Clone, PartialEq)]
pub struct TelemetryService {
    pub socket: String,
    /// Seconds between reports.
    pub interval: f64,
}

impl TelemetryService {
    pub fn parse(args: &str) -> Result<Self, String> {
        let words = split_words(args)?;
        let (target, rest) = match words.split_first() {
            Some((t, rest)) if rest.len() <= 1 => (t, rest),
            Some(_) => return Err("takes one or two arguments".into()),
            None => return Err("needs unix:/path".into()),
        };
        let socket = target
            .strip_prefix("unix:")
            .filter(|p| p.starts_with('/'))
            .ok_or_else(|| format!("'{target}' is not unix:/absolute/path"))?;
        let mut interval = 1.0;
        for o in split_options(&rest.join(" "))? {
            let (key, value) = named(o)?;
            match key.as_str() {
                "interval" => {
                    interval = value
                        .parse::<f64>()
                        .ok()
                        .filter(|i| *i >= 0.5 && i.is_finite())
                        .ok_or_else(|| {
                            format!("interval '{value}' is not a number of seconds, 0.5 or more")
                        })?
                }
                _ => return Err(format!("unknown option '{key}'")),
            }
        }
        Ok(TelemetryService {
            socket: socket.to_string(),
            interval,
        })
    }
}

/// `WSGITelemetryOptions`: which optional fields telemetry captures.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TelemetryOptions {
    pub capture_user_agent: bool,
}

impl TelemetryOptions {
    /// Applies `[+|-]Flag... | None | All` on top of `self`.
    pub fn apply(mut self, args: &str) -> Result<Self, String> {
        let words = split_words(args)?;
        if words.is_empty() {
            return Err("needs [+|-]CaptureUserAgent, None or All".into());
        }
        let absolute = words.iter().any(|w| w == "None" || w == "All");
        let signed = words.iter().any(|w| w.starts_with(['+', '-']));
        if absolute && signed {
            return Err("None and All cannot be mixed with +Flag or -Flag on one line".into());
        }
        for w in &words {
            match w.as_str() {
                "None" => self = TelemetryOptions::default(),
                "All" => self.capture_user_agent = true,
                _ => {
                    let (on, flag) = match w.as_bytes()[0] {
                        b'+' => (true, &w[1..]),
                        b'-' => (false, &w[1..]),
                        _ => (true, w.as_str()),
                    };
                    if flag.is_empty() {
                        return Err(format!("'{w}' names no option"));
                    }
                    match flag {
                        "CaptureUserAgent" => self.capture_user_agent = on,
                        _ => return Err(format!("unknown telemetry option '{w}'")),
                    }
                }
            }
        }
        Ok(self)
    }
}

/// `<WSGIInterpreterOptions [process-group=] [application-group=]>`: which
/// interpreters a container's settings apply to (None: any).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InterpreterSelector {
    /// "" is embedded mode (`%{GLOBAL}`).
    pub process_group: Option<String>,
    /// "" is the main interpreter (`%{GLOBAL}`).
    pub application_group: Option<ApplicationGroup>,
}

impl InterpreterSelector {
    /// The container's arguments, with or without the closing '>'.
    pub fn parse(args: &str) -> Result<Self, String> {
        let args = args.trim().strip_suffix('>').unwrap_or(args.trim());
        let mut sel = InterpreterSelector::default();
        for o in split_options(args)? {
            let (key, value) = named(o)?;
            match key.as_str() {
                "process-group" => {
                    sel.process_group = Some(match ProcessGroup::parse(&value)? {
                        ProcessGroup::Global => String::new(),
                        ProcessGroup::Named(n) => n,
                        ProcessGroup::Env(_) => {
                            return Err("process-group= cannot be %{ENV:...} here".into())
                        }
                    })
                }
                "application-group" => {
                    sel.application_group = Some(ApplicationGroup::parse(&value)?)
                }
                _ => {
                    return Err(format!(
                        "unknown selector '{key}' (process-group=, application-group=)"
                    ))
                }
            }
        }
        Ok(sel)
    }

    /// How many keys are set (the more, the more specific).
    pub fn specificity(&self) -> usize {
        self.process_group.is_some() as usize + self.application_group.is_some() as usize
    }

    /// For the process of `process_group`: None when the container is not
    /// for it (another process group, or an application group given as a
    /// pattern, which cannot be told apart before a request); else the
    /// application group it names (None: any; "": the main interpreter).
    pub fn scope_in(&self, process_group: &str) -> Option<Option<String>> {
        if self
            .process_group
            .as_deref()
            .is_some_and(|g| g != process_group)
        {
            return None;
        }
        match &self.application_group {
            None => Some(None),
            Some(ApplicationGroup::Global) => Some(Some(String::new())),
            Some(ApplicationGroup::Named(n)) => Some(Some(n.clone())),
            Some(_) => None,
        }
    }
}

/// Whether a container scoped to `group` (see `scope_in`) applies to the
/// interpreter `name`. (mod_wsgi 6.1.1 sometimes also gives the main
/// interpreter the settings of containers naming another application
/// group, from one run to the next; this never does.)
fn applies_to(group: Option<&str>, name: &str) -> bool {
    group.is_none_or(|g| g == name)
}

/// Which sub-interpreters of one process get their own GIL
/// (`WSGIPerInterpreterGIL`, server-wide and in `<WSGIInterpreterOptions>`
/// containers). The main interpreter always keeps the shared GIL.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OwnGil {
    /// For sub-interpreters no container names.
    pub default: bool,
    /// By application group, from containers that name one.
    pub named: Vec<(String, bool)>,
}

impl OwnGil {
    /// For the process of `process_group` ("": an Apache child): the
    /// server-wide setting, then containers for any or this process group
    /// without an application group, then those naming one (the more
    /// specific wins; among equals, the later). Containers whose
    /// application group is a pattern (`%{RESOURCE}`, `%{SERVER}`,
    /// `%{ENV:..}`) cannot be told apart before a request and are returned
    /// in `unresolved`.
    pub fn resolve(
        server_wide: bool,
        containers: &[(InterpreterSelector, Option<bool>)],
        process_group: &str,
    ) -> (OwnGil, Vec<usize>) {
        let mut own = OwnGil {
            default: server_wide,
            named: Vec::new(),
        };
        let mut unresolved = Vec::new();
        let mut order: Vec<usize> = (0..containers.len()).collect();
        order.sort_by_key(|&k| containers[k].0.specificity());
        for k in order {
            let (sel, value) = &containers[k];
            let Some(on) = *value else { continue };
            if sel
                .process_group
                .as_deref()
                .is_some_and(|g| g != process_group)
            {
                continue;
            }
            match &sel.application_group {
                None => own.default = on,
                Some(ApplicationGroup::Global) => {}
                Some(ApplicationGroup::Named(n)) => {
                    own.named.retain(|(m, _)| m != n);
                    own.named.push((n.clone(), on));
                }
                Some(_) => unresolved.push(k),
            }
        }
        (own, unresolved)
    }

    /// Whether the interpreter `name` gets its own GIL.
    pub fn for_interpreter(&self, name: &str) -> bool {
        if name.is_empty() {
            return false;
        }
        self.named
            .iter()
            .find(|(n, _)| n == name)
            .map_or(self.default, |(_, on)| *on)
    }
}

/// The directives a `<WSGIInterpreterOptions>` container may hold.
pub const INTERPRETER_OPTION_DIRECTIVES: &[&str] = &[
    "WSGIPerInterpreterGIL",
    "WSGIFreeThreading",
    "WSGISwitchInterval",
    "WSGIPythonPath",
    "WSGIRestrictStdin",
    "WSGIRestrictStdout",
    "WSGIRestrictSignal",
];

/// `WSGIPythonPath` inside `<WSGIInterpreterOptions>` containers, for one
/// process: each container for it (`InterpreterSelector::scope_in`), in
/// configuration order, with the application group it names.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContainerPaths(pub Vec<ContainerPath>);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerPath {
    pub application_group: Option<String>,
    pub paths: Vec<String>,
}

impl ContainerPaths {
    pub fn resolve(
        containers: &[(InterpreterSelector, Vec<String>)],
        process_group: &str,
    ) -> ContainerPaths {
        let found = containers.iter().filter(|(_, paths)| !paths.is_empty());
        ContainerPaths(
            found
                .filter_map(|(sel, paths)| {
                    Some(ContainerPath {
                        application_group: sel.scope_in(process_group)?,
                        paths: paths.clone(),
                    })
                })
                .collect(),
        )
    }

    /// The directories the interpreter `name` adds after the server-wide
    /// ones: a container's when it names that application group or none.
    pub fn for_interpreter(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|c| applies_to(c.application_group.as_deref(), name))
            .flat_map(|c| c.paths.iter().cloned())
            .collect()
    }
}

/// An On/Off setting `<WSGIInterpreterOptions>` may override per
/// interpreter (`WSGIRestrictStdin`, `WSGIRestrictStdout`,
/// `WSGIRestrictSignal`), for one process: the containers that set it, the
/// less specific first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContainerFlag(pub Vec<(Option<String>, bool)>);

impl ContainerFlag {
    pub fn resolve(
        containers: &[(InterpreterSelector, Option<bool>)],
        process_group: &str,
    ) -> ContainerFlag {
        let mut order: Vec<&(InterpreterSelector, Option<bool>)> = containers.iter().collect();
        order.sort_by_key(|(sel, _)| sel.specificity());
        ContainerFlag(
            order
                .into_iter()
                .filter_map(|(sel, value)| Some((sel.scope_in(process_group)?, (*value)?)))
                .collect(),
        )
    }

    /// The value for the interpreter `name`: the most specific container
    /// that names its application group or none (among equals, the
    /// later), else `server_wide`.
    pub fn for_interpreter(&self, name: &str, server_wide: bool) -> bool {
        self.0
            .iter()
            .rev()
            .find(|(g, _)| applies_to(g.as_deref(), name))
            .map_or(server_wide, |(_, on)| *on)
    }
}

/// The three restrictions' container overrides.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContainerRestrictions {
    pub stdin: ContainerFlag,
    pub stdout: ContainerFlag,
    pub signal: ContainerFlag,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn switch_interval_must_be_positive() {
        assert_eq!(switch_interval("0.002").unwrap(), 0.002);
        for bad in ["0", "-1", "abc", "inf", ""] {
            assert!(switch_interval(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn slow_requests_allows_zero_not_negative() {
        assert_eq!(slow_requests("0").unwrap(), 0.0);
        assert_eq!(slow_requests("2.5").unwrap(), 2.5);
        assert!(slow_requests("-1").is_err());
        assert!(slow_requests("x").is_err());
    }

    #[test]
    fn telemetry_service_forms() {
        let t = TelemetryService::parse("unix:/run/t.sock").unwrap();
        assert_eq!((t.socket.as_str(), t.interval), ("/run/t.sock", 1.0));
        let t = TelemetryService::parse("unix:/run/t.sock interval=2.5").unwrap();
        assert_eq!(t.interval, 2.5);
        assert!(TelemetryService::parse("").is_err());
        assert!(TelemetryService::parse("tcp:1.2.3.4:5").is_err());
        assert!(TelemetryService::parse("unix:relative").is_err());
        assert!(TelemetryService::parse("unix:/a interval=0").is_err());
        assert!(TelemetryService::parse("unix:/a interval=0.4").is_err());
        assert_eq!(
            TelemetryService::parse("unix:/a interval=0.5")
                .unwrap()
                .interval,
            0.5
        );
        assert!(TelemetryService::parse("unix:/a colour=red").is_err());
        assert!(TelemetryService::parse("unix:/a interval=1 x").is_err());
    }

    #[test]
    fn telemetry_options_toggle() {
        let o = TelemetryOptions::default();
        assert!(o.apply("+CaptureUserAgent").unwrap().capture_user_agent);
        assert!(o.apply("All").unwrap().capture_user_agent);
        assert!(!o.apply("All None").unwrap().capture_user_agent);
        assert!(
            o.apply("All -CaptureUserAgent").is_err(),
            "the forms do not mix"
        );
        assert!(o.apply("+").is_err());
        // Lines layer: a later -Flag undoes an earlier +Flag.
        let on = o.apply("+CaptureUserAgent").unwrap();
        assert!(!on.apply("-CaptureUserAgent").unwrap().capture_user_agent);
        assert!(o.apply("Colour").is_err());
        assert!(o.apply("").is_err());
    }

    #[test]
    fn interpreter_selectors() {
        let s = InterpreterSelector::parse("process-group=d1 application-group=app1>").unwrap();
        assert_eq!(s.process_group.as_deref(), Some("d1"));
        assert_eq!(
            s.application_group,
            Some(ApplicationGroup::Named("app1".into()))
        );
        assert_eq!(s.specificity(), 2);
        let s = InterpreterSelector::parse(">").unwrap();
        assert_eq!(s, InterpreterSelector::default());
        assert_eq!(s.specificity(), 0);
        let s = InterpreterSelector::parse("process-group=%{GLOBAL}").unwrap();
        assert_eq!(s.process_group.as_deref(), Some(""));
        assert!(InterpreterSelector::parse("colour=red>").is_err());
        assert!(InterpreterSelector::parse("process-group=%{ENV:X}>").is_err());
    }

    #[test]
    fn own_gil_resolution() {
        let sel = |a: &str| InterpreterSelector::parse(a).unwrap();
        let containers = vec![
            (sel("process-group=site"), Some(true)),
            (
                sel("process-group=site application-group=legacy"),
                Some(false),
            ),
            (sel("application-group=fast"), Some(true)),
            (sel("process-group=other"), Some(false)),
            (sel("application-group=%{RESOURCE}"), Some(true)),
            (sel("application-group=%{GLOBAL}"), Some(true)),
        ];
        let (site, unresolved) = OwnGil::resolve(false, &containers, "site");
        assert_eq!(unresolved, vec![4]);
        assert!(site.for_interpreter("anything"));
        assert!(
            !site.for_interpreter("legacy"),
            "the more specific container wins"
        );
        assert!(site.for_interpreter("fast"));
        assert!(
            !site.for_interpreter(""),
            "the main interpreter shares the GIL"
        );
        let (other, _) = OwnGil::resolve(true, &containers, "other");
        assert!(!other.for_interpreter("x"));
        assert!(other.for_interpreter("fast"));
        let (embedded, _) = OwnGil::resolve(true, &[], "");
        assert!(embedded.for_interpreter("x"));
    }

    #[test]
    fn container_paths_follow_the_selectors() {
        let sel = |a: &str| InterpreterSelector::parse(a).unwrap();
        let v = |p: &str| vec![p.to_string()];
        let containers = vec![
            (sel("process-group=ip application-group=a"), v("/a")),
            (sel("process-group=ip"), v("/all")),
            (sel("application-group=emb"), v("/emb")),
            (sel("process-group=other"), v("/other")),
            (
                sel("process-group=ip application-group=%{RESOURCE}"),
                v("/pattern"),
            ),
            (sel("process-group=ip"), Vec::new()),
        ];
        let ip = ContainerPaths::resolve(&containers, "ip");
        assert_eq!(ip.for_interpreter("a"), ["/a", "/all"]);
        assert_eq!(ip.for_interpreter("b"), ["/all"]);
        assert_eq!(ip.for_interpreter(""), ["/all"]);
        let child = ContainerPaths::resolve(&containers, "");
        assert_eq!(child.for_interpreter("emb"), ["/emb"]);
        assert!(child.for_interpreter("other").is_empty());
        assert!(child.for_interpreter("").is_empty());
    }

    #[test]
    fn container_flags_override_the_server_wide_value() {
        let sel = |a: &str| InterpreterSelector::parse(a).unwrap();
        let containers = vec![
            (sel("process-group=ip application-group=a"), Some(true)),
            (sel("process-group=ip"), Some(false)),
            (sel("application-group=emb"), Some(true)),
            (sel("process-group=ip application-group=b"), None),
        ];
        let ip = ContainerFlag::resolve(&containers, "ip");
        assert!(ip.for_interpreter("a", false));
        assert!(!ip.for_interpreter("b", true));
        // The main interpreter: only containers naming no group (or %{GLOBAL}).
        assert!(!ip.for_interpreter("", true));
        let child = ContainerFlag::resolve(&containers, "");
        assert!(child.for_interpreter("emb", false));
        assert!(!child.for_interpreter("other", false));
        assert!(child.for_interpreter("other", true));
    }
}
