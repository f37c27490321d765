//! The command table: every directive of mod_wsgi 6.1 (and mod_wsgi 4's
//! `WSGILazyInitialization`), with mod_wsgi's contexts. Each is RAW_ARGS:
//! `config::WsgiDirectives` splits the line itself with `wsgi_core::words`.

#![forbid(unsafe_code)]

use crate::apache::ffi::{ACCESS_CONF, OR_AUTHCFG, OR_FILEINFO, RSRC_CONF};
use crate::apache::module_def::{end_of_commands, raw_args, CommandTable, RawArgsFn};
use crate::config::WsgiDirectives;
use std::ffi::CStr;

/// The handler of every directive.
const D: RawArgsFn = crate::apache::cmd::directive::<WsgiDirectives>;

/// Where a directive may appear (as mod_wsgi registers it).
const SERVER: i32 = RSRC_CONF;
const SERVER_OR_DIR: i32 = RSRC_CONF | ACCESS_CONF;
/// Server, directory and `.htaccess` with `AllowOverride FileInfo`.
const FILEINFO: i32 = OR_FILEINFO;
/// Directory and `.htaccess` with `AllowOverride AuthConfig`.
const AUTHCFG: i32 = OR_AUTHCFG;

const fn c(name: &'static CStr, how: i32, help: &'static CStr) -> crate::apache::ffi::command_rec {
    raw_args(name, D, how, help)
}

pub static COMMANDS: CommandTable<51> = CommandTable([
    c(
        c"WSGIScriptAlias",
        SERVER,
        c"URL-path script-path [options]: map a URL to a WSGI script",
    ),
    c(
        c"WSGIScriptAliasMatch",
        SERVER,
        c"regex script-path [options]: map URLs matching a regex to a WSGI script",
    ),
    c(
        c"WSGIDaemonProcess",
        SERVER,
        c"name [options]: define a daemon process group",
    ),
    c(
        c"WSGISocketPrefix",
        SERVER,
        c"path: prefix of the daemon sockets' file names",
    ),
    c(
        c"WSGISocketRotation",
        SERVER,
        c"On|Off: a new daemon socket per restart (always On here)",
    ),
    c(
        c"WSGIAcceptMutex",
        SERVER,
        c"Default|type: accept mutex of daemons (not needed here)",
    ),
    c(
        c"WSGIVerboseDebugging",
        SERVER,
        c"On|Off: verbose debugging (a no-op in mod_wsgi 6)",
    ),
    c(
        c"WSGIDontWriteBytecode",
        SERVER,
        c"On|Off: do not write .pyc files",
    ),
    c(
        c"WSGIPythonWarnings",
        SERVER,
        c"action:message:category:module:lineno: a warnings filter",
    ),
    c(
        c"WSGIPythonOptimize",
        SERVER,
        c"0|1|2: Python's optimisation level",
    ),
    c(
        c"WSGIPythonHome",
        SERVER,
        c"path: the Python installation or virtualenv",
    ),
    c(
        c"WSGIPythonPath",
        SERVER,
        c"path[:path...]: directories added to sys.path",
    ),
    c(
        c"WSGIPythonEggs",
        SERVER,
        c"path: the Python egg cache (PYTHON_EGG_CACHE)",
    ),
    c(
        c"WSGIPythonHashSeed",
        SERVER,
        c"random|number: PYTHONHASHSEED",
    ),
    c(
        c"WSGISwitchInterval",
        SERVER,
        c"seconds: sys.setswitchinterval() in Apache children",
    ),
    c(
        c"WSGIDestroyInterpreter",
        SERVER,
        c"On|Off: destroy interpreters (and run atexit) at shutdown",
    ),
    c(
        c"WSGIPerInterpreterGIL",
        SERVER,
        c"On|Off: sub-interpreters with their own GIL (Python 3.12+)",
    ),
    c(
        c"WSGIFreeThreading",
        SERVER,
        c"On|Off: run without the GIL (free-threaded Python 3.13+)",
    ),
    c(
        c"<WSGIInterpreterOptions",
        SERVER,
        c"[process-group=name] [application-group=name]: options for some interpreters",
    ),
    c(
        c"WSGIRestrictEmbedded",
        SERVER,
        c"On|Off: refuse to run applications in Apache children",
    ),
    c(c"WSGIRestrictStdin", SERVER, c"On|Off: sys.stdin raises"),
    c(
        c"WSGIRestrictStdout",
        SERVER,
        c"On|Off: print() to sys.stdout raises",
    ),
    c(
        c"WSGIRestrictSignal",
        SERVER,
        c"On|Off: signal.signal() is ignored",
    ),
    c(
        c"WSGICaseSensitivity",
        SERVER,
        c"On|Off: whether script paths are case sensitive",
    ),
    c(
        c"WSGILazyInitialization",
        SERVER,
        c"On|Off: start Python only in the processes that run it (always here)",
    ),
    c(
        c"WSGIImportScript",
        SERVER,
        c"path process-group=... application-group=...: preload a script",
    ),
    c(
        c"WSGIServerMetrics",
        SERVER,
        c"On|Off: give applications Apache's scoreboard (server_metrics)",
    ),
    c(
        c"WSGITelemetryService",
        SERVER,
        c"unix:/path [interval=N]: push telemetry",
    ),
    c(
        c"WSGISlowRequests",
        SERVER,
        c"seconds: report requests running longer",
    ),
    c(
        c"WSGITelemetryOptions",
        SERVER,
        c"[+|-]CaptureUserAgent|None|All: what telemetry captures",
    ),
    c(
        c"WSGIRestrictProcess",
        SERVER_OR_DIR,
        c"group...: the daemon process groups applications here may choose",
    ),
    c(
        c"WSGIProcessGroup",
        SERVER_OR_DIR,
        c"%{GLOBAL}|%{ENV:var}|name: where applications run",
    ),
    c(
        c"WSGIApplicationGroup",
        SERVER_OR_DIR,
        c"%{GLOBAL}|%{RESOURCE}|%{SERVER}|%{ENV:var}|name: which interpreter",
    ),
    c(
        c"WSGIDispatchScript",
        SERVER_OR_DIR,
        c"path [application-group=...]: choose group and callable per request",
    ),
    c(
        c"WSGIPassApacheRequest",
        SERVER_OR_DIR,
        c"On|Off: pass Apache's request object to the application",
    ),
    c(
        c"WSGIHandlerScript",
        SERVER_OR_DIR,
        c"name path [options]: a script that serves an Apache handler",
    ),
    c(
        c"WSGICallableObject",
        FILEINFO,
        c"name: the WSGI application's name in the script",
    ),
    c(
        c"WSGIPassAuthorization",
        FILEINFO,
        c"On|Off: pass the Authorization header to the application",
    ),
    c(
        c"WSGIScriptReloading",
        FILEINFO,
        c"On|Off: reload a script when its file changes",
    ),
    c(
        c"WSGIErrorOverride",
        FILEINFO,
        c"On|Off: Apache's error pages replace the application's",
    ),
    c(
        c"WSGIChunkedRequest",
        FILEINFO,
        c"On|Off: accept chunked request bodies",
    ),
    c(
        c"WSGIMapHEADToGET",
        FILEINFO,
        c"On|Off|Auto: run HEAD requests as GET",
    ),
    c(
        c"WSGIIgnoreActivity",
        FILEINFO,
        c"On|Off: requests here do not count as activity (inactivity-timeout)",
    ),
    c(
        c"WSGITrustedProxyHeaders",
        FILEINFO,
        c"header...: proxy headers to believe from trusted proxies",
    ),
    c(
        c"WSGITrustedProxies",
        FILEINFO,
        c"address...: the proxies whose headers are believed",
    ),
    c(
        c"WSGIEnableSendfile",
        FILEINFO,
        c"On|Off: send wsgi.file_wrapper files with sendfile",
    ),
    c(
        c"WSGIAccessScript",
        AUTHCFG,
        c"path [application-group=...]: allow_access(environ, host)",
    ),
    c(
        c"WSGIAuthUserScript",
        AUTHCFG,
        c"path [application-group=...]: check_password / get_realm_hash",
    ),
    c(
        c"WSGIAuthGroupScript",
        AUTHCFG,
        c"path [application-group=...]: groups_for_user, for Require wsgi-group",
    ),
    c(
        c"WSGIGroupAuthoritative",
        AUTHCFG,
        c"On|Off: whether Require wsgi-group is the last word",
    ),
    end_of_commands(),
]);
