//! mod_wsgi-rs: an Apache httpd 2.4 module that hosts Python WSGI
//! applications, a drop-in replacement for mod_wsgi.
//!
//! This file is the whole module as httpd sees it: the `wsgi_module` record,
//! the directive table, and where the hooks are registered. The logic lives
//! in `config` (directives), `hooks` (Apache's phases), `python` (the host)
//! and the Apache-free `wsgi-core` crate.

pub mod apache;
mod child_signals;
mod config;
mod daemon;
mod embedded;
mod hooks;
mod import_scripts;
mod lifecycle;
mod os;
mod users;

use apache::ffi::{ACCESS_CONF, OR_AUTHCFG, OR_FILEINFO, RSRC_CONF};
use apache::module_def::{end_of_commands, module, raw_args, CommandTable};
use config::directive;

/// Where a directive may appear.
const SERVER: i32 = RSRC_CONF;
const SERVER_OR_DIR: i32 = RSRC_CONF | ACCESS_CONF;
const ANYWHERE: i32 = RSRC_CONF | ACCESS_CONF | OR_FILEINFO | OR_AUTHCFG;

/// Every directive mod_wsgi defines. All are handled by `config::directive`,
/// which parses the argument line itself (RAW_ARGS) with `wsgi_core`;
/// the ones we do not support yet are refused there with a clear message.
static COMMANDS: CommandTable<44> = CommandTable([
    raw_args(
        c"WSGIScriptAlias",
        directive,
        SERVER,
        c"URL-path script-path [options]: map a URL to a WSGI script",
    ),
    raw_args(
        c"WSGIScriptAliasMatch",
        directive,
        SERVER,
        c"regex script-path [options]: map URLs matching a regex to a WSGI script",
    ),
    raw_args(
        c"WSGIDaemonProcess",
        directive,
        SERVER,
        c"name [options]: define a daemon process group",
    ),
    raw_args(
        c"WSGIImportScript",
        directive,
        SERVER,
        c"path process-group=... application-group=...: preload a script",
    ),
    raw_args(
        c"WSGIProcessGroup",
        directive,
        SERVER_OR_DIR,
        c"%{GLOBAL}|%{ENV:var}|name: where applications run",
    ),
    raw_args(
        c"WSGIApplicationGroup",
        directive,
        SERVER_OR_DIR,
        c"%{GLOBAL}|%{RESOURCE}|%{SERVER}|%{ENV:var}|name: which interpreter",
    ),
    raw_args(
        c"WSGICallableObject",
        directive,
        OR_FILEINFO,
        c"name: the WSGI application's name in the script",
    ),
    raw_args(
        c"WSGIPassAuthorization",
        directive,
        OR_FILEINFO,
        c"On|Off: pass the Authorization header to the application",
    ),
    raw_args(
        c"WSGIScriptReloading",
        directive,
        OR_FILEINFO,
        c"On|Off: reload a script when its file changes",
    ),
    raw_args(
        c"WSGIChunkedRequest",
        directive,
        OR_FILEINFO,
        c"On|Off: accept chunked request bodies",
    ),
    raw_args(
        c"WSGIMapHEADToGET",
        directive,
        OR_FILEINFO,
        c"On|Off|Auto: run HEAD requests as GET",
    ),
    raw_args(
        c"WSGIEnableSendfile",
        directive,
        OR_FILEINFO,
        c"On|Off: send wsgi.file_wrapper files as files",
    ),
    raw_args(
        c"WSGIPythonHome",
        directive,
        SERVER,
        c"path: Python installation or virtual environment",
    ),
    raw_args(
        c"WSGIPythonPath",
        directive,
        SERVER,
        c"dir[:dir...]: extra module search directories",
    ),
    raw_args(
        c"WSGIPythonOptimize",
        directive,
        SERVER,
        c"0|1|2: Python optimisation level",
    ),
    raw_args(
        c"WSGIPythonHashSeed",
        directive,
        SERVER,
        c"random|number: Python hash seed",
    ),
    raw_args(
        c"WSGIPythonWarnings",
        directive,
        SERVER,
        c"filter: a Python -W warning filter",
    ),
    raw_args(
        c"WSGIDontWriteBytecode",
        directive,
        SERVER,
        c"On|Off: do not write .pyc files",
    ),
    raw_args(
        c"WSGIRestrictEmbedded",
        directive,
        SERVER,
        c"On|Off: refuse to run applications inside Apache's children",
    ),
    raw_args(
        c"WSGIRestrictStdin",
        directive,
        SERVER,
        c"On|Off: make sys.stdin raise",
    ),
    raw_args(
        c"WSGIRestrictStdout",
        directive,
        SERVER,
        c"On|Off: make sys.stdout raise",
    ),
    raw_args(
        c"WSGIRestrictSignal",
        directive,
        SERVER,
        c"On|Off: ignore signal.signal() calls from applications",
    ),
    raw_args(
        c"WSGIDestroyInterpreter",
        directive,
        SERVER,
        c"On|Off: destroy interpreters (and run atexit) at shutdown",
    ),
    raw_args(
        c"WSGISocketPrefix",
        directive,
        SERVER,
        c"path: prefix of daemon sockets",
    ),
    raw_args(
        c"WSGILazyInitialization",
        directive,
        SERVER,
        c"On|Off: accepted; Python always starts in the processes that use it",
    ),
    raw_args(
        c"WSGISocketRotation",
        directive,
        ANYWHERE,
        c"not supported yet",
    ),
    raw_args(
        c"WSGIAcceptMutex",
        directive,
        ANYWHERE,
        c"not supported yet",
    ),
    raw_args(
        c"WSGIVerboseDebugging",
        directive,
        ANYWHERE,
        c"not supported yet",
    ),
    raw_args(c"WSGIPythonEggs", directive, ANYWHERE, c"not supported yet"),
    raw_args(
        c"WSGICaseSensitivity",
        directive,
        ANYWHERE,
        c"not supported yet",
    ),
    raw_args(
        c"WSGIRestrictProcess",
        directive,
        ANYWHERE,
        c"not supported yet",
    ),
    raw_args(
        c"WSGIDispatchScript",
        directive,
        ANYWHERE,
        c"not supported yet",
    ),
    raw_args(
        c"WSGIPassApacheRequest",
        directive,
        ANYWHERE,
        c"not supported yet",
    ),
    raw_args(
        c"WSGIErrorOverride",
        directive,
        ANYWHERE,
        c"not supported yet",
    ),
    raw_args(
        c"WSGIIgnoreActivity",
        directive,
        ANYWHERE,
        c"not supported yet",
    ),
    raw_args(
        c"WSGITrustedProxyHeaders",
        directive,
        ANYWHERE,
        c"not supported yet",
    ),
    raw_args(
        c"WSGITrustedProxies",
        directive,
        ANYWHERE,
        c"not supported yet",
    ),
    raw_args(
        c"WSGIAccessScript",
        directive,
        ANYWHERE,
        c"not supported yet",
    ),
    raw_args(
        c"WSGIAuthUserScript",
        directive,
        ANYWHERE,
        c"not supported yet",
    ),
    raw_args(
        c"WSGIAuthGroupScript",
        directive,
        ANYWHERE,
        c"not supported yet",
    ),
    raw_args(
        c"WSGIGroupAuthoritative",
        directive,
        ANYWHERE,
        c"not supported yet",
    ),
    raw_args(
        c"WSGIHandlerScript",
        directive,
        ANYWHERE,
        c"not supported yet",
    ),
    raw_args(
        c"WSGIServerMetrics",
        directive,
        ANYWHERE,
        c"not supported yet",
    ),
    end_of_commands(),
]);

/// The module record httpd looks up by name after `LoadModule wsgi_module`.
/// httpd writes into it (module_index, next), hence `static mut`; its name
/// "mod_wsgi.c" lets `<IfModule mod_wsgi.c>` match as it does for mod_wsgi.
#[no_mangle]
#[allow(non_upper_case_globals)]
pub static mut wsgi_module: apache::ffi::module = module(
    c"mod_wsgi.c",
    Some(config::create_dir_config),
    Some(config::merge_dir_config),
    Some(config::create_server_config),
    Some(config::merge_server_config),
    COMMANDS.0.as_ptr(),
    hooks::register_hooks,
);
