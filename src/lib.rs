//! mod_wsgi-rs: an Apache httpd 2.4 module that hosts Python WSGI
//! applications, a drop-in replacement for mod_wsgi.
//!
//! This file is the whole module as httpd sees it: the `wsgi_module` record,
//! the directive table, and where the hooks are registered. The logic lives
//! in `config` (directives), `hooks` (Apache's phases), `python` (the host)
//! and the Apache-free `wsgi-core` crate.

pub mod apache;
mod config;
mod daemon;
mod embedded;
mod hooks;
mod import_scripts;
mod lifecycle;
mod os;

use apache::ffi::{ACCESS_CONF, OR_AUTHCFG, OR_FILEINFO, RSRC_CONF};
use apache::module_def::{end_of_commands, module, raw_args, CommandTable, RawArgsFn};
use config::{WsgiDirectives, WsgiRecords};

/// The handler of every directive (see `config::WsgiDirectives`).
const DIRECTIVE: RawArgsFn = apache::cmd::directive::<WsgiDirectives>;

/// Where a directive may appear.
const SERVER: i32 = RSRC_CONF;
const SERVER_OR_DIR: i32 = RSRC_CONF | ACCESS_CONF;
const ANYWHERE: i32 = RSRC_CONF | ACCESS_CONF | OR_FILEINFO | OR_AUTHCFG;

/// Every directive mod_wsgi defines. All are handled by `config::WsgiDirectives`,
/// which parses the argument line itself (RAW_ARGS) with `wsgi_core`;
/// the ones we do not support yet are refused there with a clear message.
static COMMANDS: CommandTable<44> = CommandTable([
    raw_args(
        c"WSGIScriptAlias",
        DIRECTIVE,
        SERVER,
        c"URL-path script-path [options]: map a URL to a WSGI script",
    ),
    raw_args(
        c"WSGIScriptAliasMatch",
        DIRECTIVE,
        SERVER,
        c"regex script-path [options]: map URLs matching a regex to a WSGI script",
    ),
    raw_args(
        c"WSGIDaemonProcess",
        DIRECTIVE,
        SERVER,
        c"name [options]: define a daemon process group",
    ),
    raw_args(
        c"WSGIImportScript",
        DIRECTIVE,
        SERVER,
        c"path process-group=... application-group=...: preload a script",
    ),
    raw_args(
        c"WSGIProcessGroup",
        DIRECTIVE,
        SERVER_OR_DIR,
        c"%{GLOBAL}|%{ENV:var}|name: where applications run",
    ),
    raw_args(
        c"WSGIApplicationGroup",
        DIRECTIVE,
        SERVER_OR_DIR,
        c"%{GLOBAL}|%{RESOURCE}|%{SERVER}|%{ENV:var}|name: which interpreter",
    ),
    raw_args(
        c"WSGICallableObject",
        DIRECTIVE,
        OR_FILEINFO,
        c"name: the WSGI application's name in the script",
    ),
    raw_args(
        c"WSGIPassAuthorization",
        DIRECTIVE,
        OR_FILEINFO,
        c"On|Off: pass the Authorization header to the application",
    ),
    raw_args(
        c"WSGIScriptReloading",
        DIRECTIVE,
        OR_FILEINFO,
        c"On|Off: reload a script when its file changes",
    ),
    raw_args(
        c"WSGIChunkedRequest",
        DIRECTIVE,
        OR_FILEINFO,
        c"On|Off: accept chunked request bodies",
    ),
    raw_args(
        c"WSGIMapHEADToGET",
        DIRECTIVE,
        OR_FILEINFO,
        c"On|Off|Auto: run HEAD requests as GET",
    ),
    raw_args(
        c"WSGIEnableSendfile",
        DIRECTIVE,
        OR_FILEINFO,
        c"On|Off: send wsgi.file_wrapper files as files",
    ),
    raw_args(
        c"WSGIPythonHome",
        DIRECTIVE,
        SERVER,
        c"path: Python installation or virtual environment",
    ),
    raw_args(
        c"WSGIPythonPath",
        DIRECTIVE,
        SERVER,
        c"dir[:dir...]: extra module search directories",
    ),
    raw_args(
        c"WSGIPythonOptimize",
        DIRECTIVE,
        SERVER,
        c"0|1|2: Python optimisation level",
    ),
    raw_args(
        c"WSGIPythonHashSeed",
        DIRECTIVE,
        SERVER,
        c"random|number: Python hash seed",
    ),
    raw_args(
        c"WSGIPythonWarnings",
        DIRECTIVE,
        SERVER,
        c"filter: a Python -W warning filter",
    ),
    raw_args(
        c"WSGIDontWriteBytecode",
        DIRECTIVE,
        SERVER,
        c"On|Off: do not write .pyc files",
    ),
    raw_args(
        c"WSGIRestrictEmbedded",
        DIRECTIVE,
        SERVER,
        c"On|Off: refuse to run applications inside Apache's children",
    ),
    raw_args(
        c"WSGIRestrictStdin",
        DIRECTIVE,
        SERVER,
        c"On|Off: make sys.stdin raise",
    ),
    raw_args(
        c"WSGIRestrictStdout",
        DIRECTIVE,
        SERVER,
        c"On|Off: make sys.stdout raise",
    ),
    raw_args(
        c"WSGIRestrictSignal",
        DIRECTIVE,
        SERVER,
        c"On|Off: ignore signal.signal() calls from applications",
    ),
    raw_args(
        c"WSGIDestroyInterpreter",
        DIRECTIVE,
        SERVER,
        c"On|Off: destroy interpreters (and run atexit) at shutdown",
    ),
    raw_args(
        c"WSGISocketPrefix",
        DIRECTIVE,
        SERVER,
        c"path: prefix of daemon sockets",
    ),
    raw_args(
        c"WSGILazyInitialization",
        DIRECTIVE,
        SERVER,
        c"On|Off: accepted; Python always starts in the processes that use it",
    ),
    raw_args(
        c"WSGISocketRotation",
        DIRECTIVE,
        ANYWHERE,
        c"not supported yet",
    ),
    raw_args(
        c"WSGIAcceptMutex",
        DIRECTIVE,
        ANYWHERE,
        c"not supported yet",
    ),
    raw_args(
        c"WSGIVerboseDebugging",
        DIRECTIVE,
        ANYWHERE,
        c"not supported yet",
    ),
    raw_args(c"WSGIPythonEggs", DIRECTIVE, ANYWHERE, c"not supported yet"),
    raw_args(
        c"WSGICaseSensitivity",
        DIRECTIVE,
        ANYWHERE,
        c"not supported yet",
    ),
    raw_args(
        c"WSGIRestrictProcess",
        DIRECTIVE,
        ANYWHERE,
        c"not supported yet",
    ),
    raw_args(
        c"WSGIDispatchScript",
        DIRECTIVE,
        ANYWHERE,
        c"not supported yet",
    ),
    raw_args(
        c"WSGIPassApacheRequest",
        DIRECTIVE,
        ANYWHERE,
        c"not supported yet",
    ),
    raw_args(
        c"WSGIErrorOverride",
        DIRECTIVE,
        ANYWHERE,
        c"not supported yet",
    ),
    raw_args(
        c"WSGIIgnoreActivity",
        DIRECTIVE,
        ANYWHERE,
        c"not supported yet",
    ),
    raw_args(
        c"WSGITrustedProxyHeaders",
        DIRECTIVE,
        ANYWHERE,
        c"not supported yet",
    ),
    raw_args(
        c"WSGITrustedProxies",
        DIRECTIVE,
        ANYWHERE,
        c"not supported yet",
    ),
    raw_args(
        c"WSGIAccessScript",
        DIRECTIVE,
        ANYWHERE,
        c"not supported yet",
    ),
    raw_args(
        c"WSGIAuthUserScript",
        DIRECTIVE,
        ANYWHERE,
        c"not supported yet",
    ),
    raw_args(
        c"WSGIAuthGroupScript",
        DIRECTIVE,
        ANYWHERE,
        c"not supported yet",
    ),
    raw_args(
        c"WSGIGroupAuthoritative",
        DIRECTIVE,
        ANYWHERE,
        c"not supported yet",
    ),
    raw_args(
        c"WSGIHandlerScript",
        DIRECTIVE,
        ANYWHERE,
        c"not supported yet",
    ),
    raw_args(
        c"WSGIServerMetrics",
        DIRECTIVE,
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
    Some(apache::records::create_dir::<WsgiRecords>),
    Some(apache::records::merge_dir::<WsgiRecords>),
    Some(apache::records::create_server::<WsgiRecords>),
    Some(apache::records::merge_server::<WsgiRecords>),
    COMMANDS.0.as_ptr(),
    apache::phases::register_hooks::<hooks::Wsgi>,
);
