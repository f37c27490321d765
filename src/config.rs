//! The module's configuration: per-server and per-directory records stored
//! in Apache's pools, the process-wide settings (`WSGIPython*`, ...), and the
//! directive handler that applies each directive using `wsgi_core` parsers.

#![forbid(unsafe_code)]

use crate::apache::cmd::{Cmd, Directives};
use crate::apache::records::Records;
use crate::apache::regex::Regex;
use pyhost::runtime::PythonSettings;
use std::sync::{Mutex, MutexGuard};
use wsgi_core::directives::{
    identifier, parse_flag, parse_optimize, ApplicationGroup, ImportScript, MapHeadToGet,
    ProcessGroup, ScriptAlias, Support, MOD_WSGI_DIRECTIVES,
};
use wsgi_core::words::split_words;
use wsgi_core::DaemonProcessSpec;

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

pub use wsgi_core::target::DirSettings as DirConfig;

/// Settings that apply to the whole server (directives allowed only outside
/// virtual hosts), plus what later checks need from the whole config.
#[derive(Default, Clone)]
pub struct GlobalConfig {
    /// The `WSGIPython*` and `WSGIRestrictStd*`/`Signal` directives.
    pub python: PythonSettings,
    pub restrict_embedded: bool,
    pub destroy_interpreter: bool,
    pub socket_prefix: Option<String>,
    pub daemons: Vec<DaemonProcessSpec>,
    pub import_scripts: Vec<ImportScript>,
    /// Process groups named by directives, checked once all are read.
    pub group_references: Vec<GroupReference>,
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
    fn defaults() -> Self {
        GlobalConfig {
            python: PythonSettings {
                restrict_stdin: true,
                restrict_signal: true,
                ..Default::default()
            },
            destroy_interpreter: true,
            ..Default::default()
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
        apply(cmd, name, args)
    }
}

fn one_word(args: &str) -> Result<String, String> {
    match split_words(args)?.as_slice() {
        [w] => Ok(w.clone()),
        [] => Err("takes one argument".into()),
        _ => Err("takes exactly one argument".into()),
    }
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

fn apply(cmd: &mut Cmd<'_>, name: &str, args: &str) -> Result<(), String> {
    if let Some(dir) = dir_setting(cmd, name, args) {
        return dir;
    }
    match name {
        "WSGIScriptAlias" | "WSGIScriptAliasMatch" => add_script_alias(cmd, name, args),
        "WSGIDaemonProcess" => {
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
        "WSGIImportScript" => {
            let s = ImportScript::parse(args)?;
            note_group_reference(cmd, name, &s.process_group);
            with_global(|g| g.import_scripts.push(s));
            Ok(())
        }
        _ => apply_global(cmd, name, args),
    }
}

/// A directive that sets a per-directory setting (None: not one of those).
fn dir_setting(cmd: &mut Cmd<'_>, name: &str, args: &str) -> Option<Result<(), String>> {
    let dir_names = [
        "WSGIApplicationGroup",
        "WSGIProcessGroup",
        "WSGICallableObject",
        "WSGIPassAuthorization",
        "WSGIScriptReloading",
        "WSGIChunkedRequest",
        "WSGIEnableSendfile",
        "WSGIMapHEADToGET",
    ];
    if !dir_names.contains(&name) {
        return None;
    }
    let pg = match name {
        "WSGIProcessGroup" => match one_word(args).and_then(|w| ProcessGroup::parse(&w)) {
            Ok(pg) => Some(pg),
            Err(e) => return Some(Err(e)),
        },
        _ => None,
    };
    if let Some(pg) = &pg {
        note_group_reference(cmd, name, pg);
    }
    let Some(dir) = cmd.dir_record::<DirConfig>() else {
        return Some(Err("internal error: no per-directory record".into()));
    };
    Some(set_dir(dir, name, args, pg))
}

fn set_dir(
    dir: &mut DirConfig,
    name: &str,
    args: &str,
    pg: Option<ProcessGroup>,
) -> Result<(), String> {
    match name {
        "WSGIApplicationGroup" => {
            dir.application_group = Some(ApplicationGroup::parse(&one_word(args)?)?)
        }
        "WSGIProcessGroup" => dir.process_group = pg,
        "WSGICallableObject" => dir.callable_object = Some(identifier(&one_word(args)?)?),
        "WSGIPassAuthorization" => set_flag(&mut dir.pass_authorization, args)?,
        "WSGIScriptReloading" => set_flag(&mut dir.script_reloading, args)?,
        "WSGIChunkedRequest" => set_flag(&mut dir.chunked_request, args)?,
        "WSGIEnableSendfile" => set_flag(&mut dir.enable_sendfile, args)?,
        "WSGIMapHEADToGET" => dir.map_head_to_get = Some(MapHeadToGet::parse(&one_word(args)?)?),
        _ => return Err("unknown directive".into()),
    }
    Ok(())
}

fn set_flag(slot: &mut Option<bool>, args: &str) -> Result<(), String> {
    *slot = Some(parse_flag(&one_word(args)?)?);
    Ok(())
}

/// Directives allowed only in the main server config.
fn apply_global(cmd: &Cmd<'_>, name: &str, args: &str) -> Result<(), String> {
    if let Some((_, Support::NotYet)) = MOD_WSGI_DIRECTIVES.iter().find(|(n, _)| *n == name) {
        return Err("not supported yet by mod_wsgi-rs (see docs/directives.md)".into());
    }
    cmd.require_global()?;
    let flag = |v: &str| parse_flag(&one_word(v)?);
    with_global(|g| {
        match name {
            "WSGIPythonHome" => g.python.python_home = Some(one_word(args)?),
            "WSGIPythonPath" => {
                g.python.python_path = wsgi_core::daemon::split_path_list(&one_word(args)?)
            }
            "WSGIPythonOptimize" => g.python.python_optimize = parse_optimize(&one_word(args)?)?,
            "WSGIPythonHashSeed" => {
                let v = one_word(args)?;
                if v != "random" && v.parse::<u32>().is_err() {
                    return Err(format!(
                        "'{}' is not 'random' or a number from 0 to 4294967295",
                        v
                    ));
                }
                g.python.python_hash_seed = Some(v);
            }
            "WSGIPythonWarnings" => g.python.python_warnings.push(one_word(args)?),
            "WSGIDontWriteBytecode" => g.python.dont_write_bytecode = flag(args)?,
            "WSGIRestrictEmbedded" => g.restrict_embedded = flag(args)?,
            "WSGIRestrictStdin" => g.python.restrict_stdin = flag(args)?,
            "WSGIRestrictStdout" => g.python.restrict_stdout = flag(args)?,
            "WSGIRestrictSignal" => g.python.restrict_signal = flag(args)?,
            "WSGIDestroyInterpreter" => g.destroy_interpreter = flag(args)?,
            // We always initialise Python lazily, in the processes that run it.
            "WSGILazyInitialization" => {
                flag(args)?;
            }
            "WSGISocketPrefix" => {
                let v = one_word(args)?;
                let abs = cmd.server_root_relative(&v);
                g.socket_prefix = Some(abs.ok_or_else(|| format!("invalid path '{}'", v))?);
            }
            _ => return Err("unknown directive".into()),
        }
        Ok(())
    })
}

fn add_script_alias(cmd: &mut Cmd<'_>, name: &str, args: &str) -> Result<(), String> {
    let is_regex = name == "WSGIScriptAliasMatch";
    let spec = ScriptAlias::parse(args, is_regex)?;
    if let Some(pg) = &spec.process_group {
        note_group_reference(cmd, name, pg);
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
