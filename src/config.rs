//! The module's configuration: per-server and per-directory records stored
//! in Apache's pools, the process-wide settings (`WSGIPython*`, ...), and the
//! directive handler that applies each directive using `wsgi_core` parsers.

use crate::apache::ffi;
use crate::apache::pool::pool_owned;
use crate::apache::request::cstr_bytes;
use pyhost::runtime::PythonSettings;
use std::ffi::{c_char, c_void, CStr, CString};
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
    pub regex: *mut ffi::ap_regex_t,
}

/// Per virtual host: the script aliases defined there.
#[derive(Default)]
pub struct ServerConfig {
    pub aliases: Vec<std::sync::Arc<AliasEntry>>,
}

// SAFETY: the regex pointer refers to a compiled pattern in the config pool,
// which lives as long as this record and is only read after start-up.
unsafe impl Send for AliasEntry {}
// SAFETY: see above; ap_regexec on a compiled pattern is thread safe.
unsafe impl Sync for AliasEntry {}

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

// ---- Apache's config callbacks ------------------------------------------

pub unsafe extern "C" fn create_dir_config(
    p: *mut ffi::apr_pool_t,
    _dir: *mut c_char,
) -> *mut c_void {
    crate::apache::guard::catch("create_dir_config", std::ptr::null_mut(), || {
        pool_owned(p, DirConfig::default()).cast()
    })
}

pub unsafe extern "C" fn merge_dir_config(
    p: *mut ffi::apr_pool_t,
    base: *mut c_void,
    add: *mut c_void,
) -> *mut c_void {
    crate::apache::guard::catch("merge_dir_config", std::ptr::null_mut(), || {
        // SAFETY: both records were made by create_dir_config/merge_dir_config.
        let (b, a) = unsafe { (&*base.cast::<DirConfig>(), &*add.cast::<DirConfig>()) };
        pool_owned(p, DirConfig::merged(b, a)).cast()
    })
}

pub unsafe extern "C" fn create_server_config(
    p: *mut ffi::apr_pool_t,
    _s: *mut ffi::server_rec,
) -> *mut c_void {
    crate::apache::guard::catch("create_server_config", std::ptr::null_mut(), || {
        pool_owned(p, ServerConfig::default()).cast()
    })
}

pub unsafe extern "C" fn merge_server_config(
    p: *mut ffi::apr_pool_t,
    base: *mut c_void,
    add: *mut c_void,
) -> *mut c_void {
    crate::apache::guard::catch("merge_server_config", std::ptr::null_mut(), || {
        // SAFETY: both records were made by create_server_config.
        let (b, a) = unsafe { (&*base.cast::<ServerConfig>(), &*add.cast::<ServerConfig>()) };
        // Like mod_alias: the virtual host's aliases first, then the main server's.
        let aliases = a.aliases.iter().chain(b.aliases.iter()).cloned().collect();
        pool_owned(p, ServerConfig { aliases }).cast()
    })
}

/// This module's record in a per-server or per-directory config vector.
pub fn module_config<T>(cv: *mut ffi::ap_conf_vector_t) -> *mut T {
    // SAFETY: `cv` is a live config vector; our slot holds a T we created.
    unsafe { ffi::ap_get_module_config(cv, std::ptr::addr_of!(crate::wsgi_module)).cast() }
}

// ---- Directives -----------------------------------------------------------

/// The one handler every directive in the command table points at: it
/// dispatches on the directive's name and returns Apache's error string.
pub unsafe extern "C" fn directive(
    cmd: *mut ffi::cmd_parms,
    mconfig: *mut c_void,
    args: *const c_char,
) -> *const c_char {
    crate::apache::guard::catch("directive", c"mod_wsgi-rs: internal error".as_ptr(), || {
        // SAFETY: Apache passes a live cmd_parms whose `cmd` is our table entry.
        let (name, pool) = unsafe { (CStr::from_ptr((*(*cmd).cmd).name), (*cmd).pool) };
        let name = name.to_str().unwrap_or("?");
        let args = String::from_utf8_lossy(cstr_bytes(args)).into_owned();
        match apply(cmd, mconfig, name, &args) {
            Ok(()) => std::ptr::null(),
            Err(e) => {
                let msg = CString::new(format!("{}: {}", name, e).replace('\0', " ")).unwrap();
                // SAFETY: the error string must outlive this call; copy it into the pool.
                unsafe { ffi::apr_pstrdup(pool, msg.as_ptr()) }
            }
        }
    })
}

fn one_word(args: &str) -> Result<String, String> {
    match split_words(args)?.as_slice() {
        [w] => Ok(w.clone()),
        [] => Err("takes one argument".into()),
        _ => Err("takes exactly one argument".into()),
    }
}

fn global_only(cmd: *mut ffi::cmd_parms) -> Result<(), String> {
    // SAFETY: live cmd_parms; the returned string (if any) is static or pooled.
    let err = unsafe { ffi::ap_check_cmd_context(cmd, ffi::GLOBAL_ONLY as _) };
    if err.is_null() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(cstr_bytes(err))
            .trim_start_matches(' ')
            .to_string())
    }
}

fn location(cmd: *mut ffi::cmd_parms) -> (String, u32) {
    // SAFETY: cmd->directive is the directive being processed.
    unsafe {
        let d = (*cmd).directive;
        if d.is_null() {
            return ("?".into(), 0);
        }
        (
            String::from_utf8_lossy(cstr_bytes((*d).filename)).into_owned(),
            (*d).line_num as u32,
        )
    }
}

fn note_group_reference(cmd: *mut ffi::cmd_parms, directive: &str, pg: &ProcessGroup) {
    if let Some(group) = pg.named() {
        let (file, line) = location(cmd);
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

fn apply(
    cmd: *mut ffi::cmd_parms,
    mconfig: *mut c_void,
    name: &str,
    args: &str,
) -> Result<(), String> {
    let dir = || {
        // SAFETY: for directory-context directives Apache passes our DirConfig.
        unsafe { &mut *mconfig.cast::<DirConfig>() }
    };
    match name {
        "WSGIScriptAlias" | "WSGIScriptAliasMatch" => add_script_alias(cmd, name, args),
        "WSGIDaemonProcess" => {
            let spec = DaemonProcessSpec::parse(args)?;
            crate::users::check_daemon_accounts(&spec)?;
            crate::users::check_can_switch(&spec)?;
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
        "WSGIApplicationGroup" => {
            dir().application_group = Some(ApplicationGroup::parse(&one_word(args)?)?);
            Ok(())
        }
        "WSGIProcessGroup" => {
            let pg = ProcessGroup::parse(&one_word(args)?)?;
            note_group_reference(cmd, name, &pg);
            dir().process_group = Some(pg);
            Ok(())
        }
        "WSGICallableObject" => {
            dir().callable_object = Some(identifier(&one_word(args)?)?);
            Ok(())
        }
        "WSGIPassAuthorization" => set_flag(&mut dir().pass_authorization, args),
        "WSGIScriptReloading" => set_flag(&mut dir().script_reloading, args),
        "WSGIChunkedRequest" => set_flag(&mut dir().chunked_request, args),
        "WSGIEnableSendfile" => set_flag(&mut dir().enable_sendfile, args),
        "WSGIMapHEADToGET" => {
            dir().map_head_to_get = Some(MapHeadToGet::parse(&one_word(args)?)?);
            Ok(())
        }
        _ => apply_global(cmd, name, args),
    }
}

fn set_flag(slot: &mut Option<bool>, args: &str) -> Result<(), String> {
    *slot = Some(parse_flag(&one_word(args)?)?);
    Ok(())
}

/// Directives allowed only in the main server config.
fn apply_global(cmd: *mut ffi::cmd_parms, name: &str, args: &str) -> Result<(), String> {
    if let Some((_, Support::NotYet)) = MOD_WSGI_DIRECTIVES.iter().find(|(n, _)| *n == name) {
        return Err("not supported yet by mod_wsgi-rs (see docs/directives.md)".into());
    }
    global_only(cmd)?;
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
                let c = CString::new(v.clone()).map_err(|_| "NUL in path".to_string())?;
                // SAFETY: resolves relative to ServerRoot into the cmd pool.
                let abs = unsafe { ffi::ap_server_root_relative((*cmd).pool, c.as_ptr()) };
                if abs.is_null() {
                    return Err(format!("invalid path '{}'", v));
                }
                g.socket_prefix = Some(String::from_utf8_lossy(cstr_bytes(abs)).into_owned());
            }
            _ => return Err("unknown directive".into()),
        }
        Ok(())
    })
}

fn add_script_alias(cmd: *mut ffi::cmd_parms, name: &str, args: &str) -> Result<(), String> {
    let is_regex = name == "WSGIScriptAliasMatch";
    let spec = ScriptAlias::parse(args, is_regex)?;
    if let Some(pg) = &spec.process_group {
        note_group_reference(cmd, name, pg);
    }
    let mut regex = std::ptr::null_mut();
    if is_regex {
        let pat = CString::new(spec.url.clone()).map_err(|_| "NUL in pattern".to_string())?;
        // SAFETY: compiles into the config pool, which owns the result.
        regex = unsafe { ffi::ap_pregcomp((*cmd).pool, pat.as_ptr(), ffi::AP_REG_EXTENDED) };
        if regex.is_null() {
            return Err(format!("'{}' is not a valid regular expression", spec.url));
        }
    }
    // SAFETY: cmd->server is the (virtual) server being configured.
    let sc = module_config::<ServerConfig>(unsafe { (*(*cmd).server).module_config });
    // SAFETY: our ServerConfig for this server, only touched while reading config.
    unsafe {
        (*sc)
            .aliases
            .push(std::sync::Arc::new(AliasEntry { spec, regex }))
    };
    Ok(())
}
