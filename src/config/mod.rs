//! The module's configuration: per-server and per-directory records stored
//! in Apache's pools, the process-wide settings (`WSGIPython*`, ...), and the
//! directive handler that applies each directive using `wsgi_core` parsers.
//! Per-directory directives are in `per_dir`, whole-server ones in
//! `server_wide`, the `<WSGIInterpreterOptions>` container in
//! `interpreter_options`.

#![forbid(unsafe_code)]

mod interpreter_options;
mod per_dir;
mod server_wide;

use crate::apache::cmd::{Cmd, Directives};
use crate::apache::records::Records;
use crate::apache::regex::Regex;
use pyhost::runtime::PythonSettings;
use std::sync::{Mutex, MutexGuard};
use wsgi_core::directives::{parse_flag, ImportScript, ProcessGroup, ScriptAlias};
use wsgi_core::server_options::{TelemetryOptions, TelemetryService};
use wsgi_core::words::split_words;
use wsgi_core::DaemonProcessSpec;

pub use interpreter_options::InterpreterOptions;
pub use wsgi_core::target::DirSettings as DirConfig;

/// A `WSGIScriptAlias[Match]` with its compiled regex (Match form only).
pub struct AliasEntry {
    pub spec: ScriptAlias,
    pub regex: Option<Regex>,
}

/// Per virtual host: the script aliases defined there.
#[derive(Default)]
pub struct ServerConfig {
    pub aliases: Vec<std::sync::Arc<AliasEntry>>,
}

/// Settings that apply to the whole server (directives allowed only outside
/// virtual hosts), plus what later checks need from the whole config.
#[derive(Default, Clone)]
pub struct GlobalConfig {
    /// The `WSGIPython*`, `WSGISwitchInterval` and `WSGIRestrictStd*`/`Signal`
    /// directives.
    pub python: PythonSettings,
    pub restrict_embedded: bool,
    pub destroy_interpreter: bool,
    pub socket_prefix: Option<String>,
    pub daemons: Vec<DaemonProcessSpec>,
    pub import_scripts: Vec<ImportScript>,
    /// Process groups named by directives, checked once all are read.
    pub group_references: Vec<GroupReference>,
    /// WSGIScriptAlias targets (not the Match form's), checked likewise.
    pub script_targets: Vec<ScriptTarget>,
    pub per_interpreter_gil: bool,
    pub free_threading: bool,
    /// `<WSGIInterpreterOptions>` containers, in the order written.
    pub interpreter_options: Vec<InterpreterOptions>,
    /// The container being read (an index into `interpreter_options`).
    pub in_container: Option<usize>,
    pub server_metrics: bool,
    pub telemetry: Option<TelemetryService>,
    pub telemetry_options: TelemetryOptions,
    pub slow_requests: Option<f64>,
    /// What directives that work differently here mean, logged once when
    /// the server starts (each line names its directive).
    pub notes: Vec<String>,
}

/// A `WSGIScriptAlias` target, checked at configtest (it may not exist yet).
#[derive(Clone)]
pub struct ScriptTarget {
    pub path: String,
    /// The daemon group it runs in, when the alias names one.
    pub process_group: Option<String>,
    pub file: String,
    pub line: u32,
}

/// Where a directive named a daemon process group.
#[derive(Clone)]
pub struct GroupReference {
    pub group: String,
    pub directive: String,
    pub file: String,
    pub line: u32,
}

impl GlobalConfig {
    /// Which sub-interpreters of the process of `process_group` ("": an
    /// Apache child) get their own GIL.
    pub fn own_gil(&self, process_group: &str) -> wsgi_core::server_options::OwnGil {
        let containers: Vec<_> = self
            .interpreter_options
            .iter()
            .map(|c| (c.selector.clone(), c.per_interpreter_gil))
            .collect();
        wsgi_core::server_options::OwnGil::resolve(
            self.per_interpreter_gil,
            &containers,
            process_group,
        )
        .0
    }

    /// Whether the process of `process_group` ("": an Apache child) runs
    /// without the GIL: the server-wide `WSGIFreeThreading`, overridden by
    /// the most specific container for any or this process group (one
    /// that selects an application group never sets it: free threading is
    /// per process).
    pub fn free_threading(&self, process_group: &str) -> bool {
        let containers: Vec<_> = self
            .interpreter_options
            .iter()
            .filter(|c| c.selector.application_group.is_none())
            .map(|c| (c.selector.clone(), c.free_threading))
            .collect();
        wsgi_core::server_options::ContainerFlag::resolve(&containers, process_group)
            .for_interpreter("", self.free_threading)
    }

    /// The `WSGIPythonPath` of the containers that apply in the process of
    /// `process_group` ("": an Apache child).
    pub fn container_paths(
        &self,
        process_group: &str,
    ) -> wsgi_core::server_options::ContainerPaths {
        let containers: Vec<_> = self
            .interpreter_options
            .iter()
            .map(|c| (c.selector.clone(), c.python_path.clone()))
            .collect();
        wsgi_core::server_options::ContainerPaths::resolve(&containers, process_group)
    }

    /// The `WSGIRestrict*` overrides of the containers, for the process of
    /// `process_group` ("": an Apache child).
    pub fn container_restrictions(
        &self,
        process_group: &str,
    ) -> wsgi_core::server_options::ContainerRestrictions {
        use wsgi_core::server_options::ContainerFlag;
        let flag = |f: fn(&InterpreterOptions) -> Option<bool>| {
            let containers: Vec<_> = self
                .interpreter_options
                .iter()
                .map(|c| (c.selector.clone(), f(c)))
                .collect();
            ContainerFlag::resolve(&containers, process_group)
        };
        wsgi_core::server_options::ContainerRestrictions {
            stdin: flag(|c| c.restrict_stdin),
            stdout: flag(|c| c.restrict_stdout),
            signal: flag(|c| c.restrict_signal),
        }
    }

    /// What the telemetry reporter needs, if WSGITelemetryService is set.
    pub fn telemetry_settings(&self) -> Option<crate::telemetry::Settings> {
        self.telemetry.as_ref().map(|t| crate::telemetry::Settings {
            socket: t.socket.clone(),
            interval: t.interval,
            slow_threshold: self.slow_requests,
            capture_user_agent: self.telemetry_options.capture_user_agent,
        })
    }

    fn defaults() -> Self {
        GlobalConfig {
            python: PythonSettings {
                // mod_wsgi 6's defaults: stdin reads as empty, signal
                // registrations are ignored.
                restrict_stdin: false,
                restrict_signal: true,
                // A Python outside the system's directories (build.rs):
                // where it is, which its compiled-in prefix may not say.
                python_home: option_env!("MOD_WSGI_RS_PYTHON_HOME").map(String::from),
                ..Default::default()
            },
            destroy_interpreter: true,
            ..Default::default()
        }
    }

    /// Records what a directive means here, once per text.
    fn note(&mut self, text: String) {
        if !self.notes.contains(&text) {
            self.notes.push(text);
        }
    }
}

static GLOBAL: Mutex<Option<GlobalConfig>> = Mutex::new(None);

/// The whole-server settings (read in the parent, inherited by children).
pub fn global() -> MutexGuard<'static, Option<GlobalConfig>> {
    GLOBAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// A snapshot of the whole-server settings.
pub fn global_snapshot() -> GlobalConfig {
    global().clone().unwrap_or_else(GlobalConfig::defaults)
}

/// Called before each configuration read: forget the previous one.
pub fn reset_global() {
    *global() = Some(GlobalConfig::defaults());
}

fn with_global<T>(f: impl FnOnce(&mut GlobalConfig) -> T) -> T {
    let mut g = global();
    f(g.get_or_insert_with(GlobalConfig::defaults))
}

// ---- Apache's config records ----------------------------------------------

/// How our per-directory and per-server records are made and merged
/// (`apache::records` calls these).
pub struct WsgiRecords;

impl Records for WsgiRecords {
    type Dir = DirConfig;
    type Server = ServerConfig;

    fn merge_dir(base: &DirConfig, add: &DirConfig) -> DirConfig {
        DirConfig::merged(base, add)
    }

    /// Like mod_alias: the virtual host's aliases first, then the main server's.
    fn merge_server(base: &ServerConfig, add: &ServerConfig) -> ServerConfig {
        let aliases = add
            .aliases
            .iter()
            .chain(base.aliases.iter())
            .cloned()
            .collect();
        ServerConfig { aliases }
    }
}

// ---- Directives -----------------------------------------------------------

/// Every directive in the command table: dispatched on its name.
pub struct WsgiDirectives;

impl Directives for WsgiDirectives {
    fn apply(cmd: &mut Cmd<'_>, name: &str, args: &str) -> Result<(), String> {
        if let Some(result) = interpreter_options::apply(cmd, name, args) {
            return result;
        }
        if let Some(result) = per_dir::apply(cmd, name, args) {
            return result;
        }
        match name {
            "WSGIScriptAlias" | "WSGIScriptAliasMatch" => add_script_alias(cmd, name, args),
            "WSGIDaemonProcess" => add_daemon_process(args),
            "WSGIImportScript" => {
                let s = ImportScript::parse(args)?;
                note_group_reference(cmd, name, &s.process_group);
                with_global(|g| g.import_scripts.push(s));
                Ok(())
            }
            _ => server_wide::apply(cmd, name, args),
        }
    }
}

fn one_word(args: &str) -> Result<String, String> {
    match split_words(args)?.as_slice() {
        [w] => Ok(w.clone()),
        [] => Err("takes one argument".into()),
        _ => Err("takes exactly one argument".into()),
    }
}

fn flag(args: &str) -> Result<bool, String> {
    parse_flag(&one_word(args)?)
}

fn set_flag(slot: &mut Option<bool>, args: &str) -> Result<(), String> {
    *slot = Some(flag(args)?);
    Ok(())
}

fn note_group_reference(cmd: &Cmd<'_>, directive: &str, pg: &ProcessGroup) {
    if let Some(group) = pg.named() {
        let (file, line) = cmd.location();
        with_global(|g| {
            g.group_references.push(GroupReference {
                group: group.to_string(),
                directive: directive.to_string(),
                file,
                line,
            })
        });
    }
}

fn add_daemon_process(args: &str) -> Result<(), String> {
    let spec = DaemonProcessSpec::parse(args)?;
    crate::os::users::check_daemon_accounts(&spec)?;
    crate::os::users::check_can_switch(&spec)?;
    with_global(|g| {
        if g.daemons.iter().any(|d| d.name == spec.name) {
            return Err(format!(
                "the name '{}' duplicates a previous WSGIDaemonProcess (names must be unique in the whole server)",
                spec.name
            ));
        }
        g.daemons.push(spec);
        Ok(())
    })
}

fn add_script_alias(cmd: &mut Cmd<'_>, name: &str, args: &str) -> Result<(), String> {
    let is_regex = name == "WSGIScriptAliasMatch";
    let spec = ScriptAlias::parse(args, is_regex)?;
    if let Some(pg) = &spec.process_group {
        note_group_reference(cmd, name, pg);
    }
    if !is_regex {
        let (file, line) = cmd.location();
        let target = ScriptTarget {
            path: spec.target.clone(),
            process_group: spec
                .process_group
                .as_ref()
                .and_then(|p| p.named().map(String::from)),
            file,
            line,
        };
        with_global(|g| g.script_targets.push(target));
    }
    let regex = if is_regex {
        let re = cmd.compile_regex(&spec.url);
        Some(re.ok_or_else(|| format!("'{}' is not a valid regular expression", spec.url))?)
    } else {
        None
    };
    let Some(sc) = cmd.server_record::<ServerConfig>() else {
        return Err("internal error: no per-server record".into());
    };
    sc.aliases
        .push(std::sync::Arc::new(AliasEntry { spec, regex }));
    Ok(())
}
