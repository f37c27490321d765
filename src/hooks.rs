//! The module's part in Apache's phases: configuration checks, daemon
//! start-up in the parent, Python start-up in each child, URL mapping for
//! `WSGIScriptAlias`, and the `wsgi-script` handler. The entry points httpd
//! calls are `apache::phases`; this file holds only safe Rust.

#![forbid(unsafe_code)]

use crate::apache::phases::{Authn, Authz, Phases};
use crate::apache::pool::Pool;
use crate::apache::request::{FileKind, Request};
use crate::apache::server::Server;
use crate::apache::{ffi, log, mpm};
use crate::config::{self, AliasEntry, DirConfig, ServerConfig};
use pyhost::{runtime, wsgi_call};
use std::ffi::c_int;
use std::sync::Arc;
use wsgi_core::app_group::{application_group_name, RequestIdentity};
use wsgi_core::directives::HandlerScript;
use wsgi_core::proxy_headers;
use wsgi_core::target;

/// This module's phases, as `apache::phases` calls them.
pub struct Wsgi;

impl Phases for Wsgi {
    fn pre_config() {
        config::reset_global();
    }

    /// Every process group a directive names must be defined; the Python
    /// homes, paths and scripts must fit this module's Python and users.
    fn check_config(s: Server) -> c_int {
        let g = config::global_snapshot();
        let mut status = ffi::OK;
        for r in &g.group_references {
            if !g.daemons.iter().any(|d| d.name == r.group) {
                log::server(
                    ffi::APLOG_EMERG,
                    Some(s),
                    &format!(
                        "Syntax error on line {} of {}: {}: the process group '{}' is not defined by any WSGIDaemonProcess",
                        r.line, r.file, r.directive, r.group
                    ),
                );
                status = ffi::HTTP_INTERNAL_SERVER_ERROR;
            }
        }
        if let Some(prefix) = g.socket_prefix.as_deref().filter(|_| !g.daemons.is_empty()) {
            match crate::daemon::group::check_socket_dir(prefix) {
                Ok(None) => {}
                Ok(Some(warning)) => log::server(ffi::APLOG_WARNING, Some(s), &warning),
                Err(e) => {
                    log::server(
                        ffi::APLOG_EMERG,
                        Some(s),
                        &format!("WSGISocketPrefix {}: {}", prefix, e),
                    );
                    status = ffi::HTTP_INTERNAL_SERVER_ERROR;
                }
            }
        }
        for f in crate::python_checks::findings(&g) {
            let level = if f.fatal {
                ffi::APLOG_EMERG
            } else {
                ffi::APLOG_WARNING
            };
            log::server(level, Some(s), &f.text);
            if f.fatal {
                status = ffi::HTTP_INTERNAL_SERVER_ERROR;
            }
        }
        status
    }

    /// In the parent, once per configuration generation: says what the
    /// directives that differ here mean. Apache reads its configuration
    /// twice at start-up; the first pass is only a check.
    fn post_config(_pconf: Pool<'_>, s: Server, first_pass: bool) -> c_int {
        if first_pass {
            return ffi::OK;
        }
        log::mark_parent();
        for note in config::global_snapshot().notes {
            log::server(ffi::APLOG_NOTICE, Some(s), &note);
        }
        ffi::OK
    }

    /// Starts the daemon process groups (after the scoreboard exists, so
    /// `server-metrics=` daemons can read it, as with mod_wsgi).
    fn start_processes(pconf: Pool<'_>, s: Server) -> c_int {
        match crate::daemon::supervisor::start_all(pconf, s) {
            Ok(()) => ffi::OK,
            Err(e) => {
                let msg = format!("cannot start daemon processes: {}", e);
                log::server(ffi::APLOG_EMERG, Some(s), &msg);
                ffi::HTTP_INTERNAL_SERVER_ERROR
            }
        }
    }

    fn child_init(pchild: Pool<'_>, s: Server) {
        child_init(pchild, s)
    }

    /// Counts this child's connections (to tell MaxConnectionsPerChild apart
    /// from other reasons a child stops).
    fn pre_connection() {
        crate::lifecycle::count_connection();
    }

    fn translate_name(r: Request<'_>) -> c_int {
        translate_name(r)
    }

    fn check_password(r: Request<'_>, user: &[u8], password: &[u8]) -> Authn {
        crate::auth::check_password(r, user, password)
    }

    fn realm_hash(r: Request<'_>, user: &[u8], realm: &[u8]) -> (Authn, Option<String>) {
        crate::auth::realm_hash(r, user, realm)
    }

    fn group_authz(r: Request<'_>, require_args: &[u8]) -> Authz {
        crate::auth::group_authz(r, require_args)
    }

    fn access_checker(r: Request<'_>) -> c_int {
        crate::auth::access_checker(r)
    }

    /// The `wsgi-script` handler, and the handlers of `WSGIHandlerScript`s.
    fn handler(r: Request<'_>) -> c_int {
        let h = r.handler();
        if h == b"wsgi-script" || h == b"application/x-httpd-wsgi" {
            return handle_wsgi(r, None);
        }
        match r
            .dir_record::<DirConfig>()
            .and_then(|d| d.handler_script(h))
        {
            Some(script) => handle_wsgi(r, Some(script)),
            None => ffi::DECLINED,
        }
    }
}

/// Starts Python in each Apache child (never in the parent: docs/architecture.md, "Interpreters and threads").
fn child_init(pchild: Pool<'_>, s: Server) {
    crate::daemon::group::close_in_apache_child();
    crate::daemon::relay::note_child_pid();
    crate::lifecycle::note_child_generation();
    let settings = config::global_snapshot();
    let run_atexit = settings.destroy_interpreter;
    if settings.restrict_embedded {
        return;
    }
    let info = runtime::ProcessInfo {
        process_group: String::new(),
        maximum_processes: mpm::max_daemons(),
        threads_per_process: mpm::max_threads(),
        settings: runtime::PythonSettings {
            free_threading: settings.free_threading(""),
            own_gil: settings.own_gil(""),
            container_paths: settings.container_paths(""),
            container_restrictions: settings.container_restrictions(""),
            ..settings.python.clone()
        },
        apache: mpm::apache_facts(true),
    };
    crate::embedded::install_host();
    if let Err(e) = runtime::initialize(info) {
        let msg = format!("{}; WSGI applications cannot run in this process", e);
        log::server(ffi::APLOG_CRIT, Some(s), &msg);
        return;
    }
    // The child pool goes when the MPM stops this child (after its worker
    // threads were joined): tell every interpreter why, bounded well inside
    // Apache's SIGKILL (~9 s into `stop`).
    let stop = move || {
        crate::lifecycle::block_stop_signals();
        crate::lifecycle::stop(
            crate::lifecycle::embedded_reason(),
            run_atexit,
            EMBEDDED_STOP_DEADLINE,
            Default::default(),
        )
    };
    // Prefork stops its children from a signal handler: the sequence then
    // runs on a thread of ours instead (see os::prefork_signals).
    if !mpm::is_threaded() {
        crate::os::prefork_signals::take_over(stop);
    }
    pchild.on_cleanup(Box::new(move || {
        if !crate::os::prefork_signals::stopped_already() {
            stop();
        }
    }));
    // Only once a stop is sure to be reported: a child that says it
    // started always says it stopped.
    if let Some(t) = settings.telemetry_settings() {
        crate::telemetry::start(t);
    }
    let _ = crate::import_scripts::preload_for("", Some(s));
}

/// How long an Apache child's Python shutdown may take (docs/architecture.md, "Lifecycle").
const EMBEDDED_STOP_DEADLINE: std::time::Duration = std::time::Duration::from_secs(2);

/// What translate_name found, kept for the handler in the request's notes.
struct AliasMatch {
    alias: Arc<AliasEntry>,
}

/// Maps URLs under a `WSGIScriptAlias` to the script, as mod_alias maps
/// `ScriptAlias`: r->filename is the target plus the rest of the URL, and
/// Apache's directory walk then splits off PATH_INFO.
fn translate_name(r: Request<'_>) -> c_int {
    let Some(sc) = r.server().record::<ServerConfig>() else {
        return ffi::DECLINED;
    };
    let uri = r.uri();
    if sc.aliases.is_empty() || uri.first() != Some(&b'/') {
        return ffi::DECLINED;
    }
    for alias in &sc.aliases {
        if let Some(filename) = map_alias(r, alias, uri) {
            r.map_to(&filename, c"wsgi-script");
            r.set_note(AliasMatch {
                alias: alias.clone(),
            });
            return ffi::OK;
        }
    }
    ffi::DECLINED
}

fn map_alias(r: Request<'_>, alias: &AliasEntry, uri: &[u8]) -> Option<Vec<u8>> {
    match &alias.regex {
        None => {
            let n = alias.spec.match_prefix(std::str::from_utf8(uri).ok()?)?;
            let mut f = alias.spec.target.as_bytes().to_vec();
            f.extend_from_slice(&uri[n..]);
            Some(f)
        }
        Some(re) => re.substitute_then_rest(r, uri, &alias.spec.target),
    }
}

/// Resolves which application runs where, then runs it in this process
/// (embedded mode) or relays it to its daemon.
fn handle_wsgi(r: Request<'_>, handler: Option<&HandlerScript>) -> c_int {
    let (alias, dir, script) = request_facts(r);
    let (script, mut choice) = match handler {
        // The handler's own script serves whatever Apache mapped the URL to.
        Some(h) => (handler_script_file(h), target::choose_for_handler(h, dir)),
        None => {
            if let Err(rc) = check_script_file(r, &script, alias.is_some()) {
                return rc;
            }
            let choice = target::choose(alias.as_ref().map(|a| &a.spec), dir);
            (script, choice)
        }
    };
    if let Some(ds) = &dir.dispatch_script {
        if let Err(rc) = crate::dispatch::apply(r, ds, choice.reload, &mut choice) {
            return rc;
        }
    }
    let process_group = target::process_group_name(&choice.process_group, &|k| r.env(k));
    if !target::process_allowed(dir, &process_group) {
        let which = if process_group.is_empty() {
            "embedded mode (%{GLOBAL})".to_string()
        } else {
            format!("the daemon process group '{process_group}'")
        };
        let msg = format!("{which} cannot be used here: WSGIRestrictProcess does not list it");
        log::request(ffi::APLOG_ERR, r, &msg);
        return ffi::HTTP_INTERNAL_SERVER_ERROR;
    }
    let daemon = match find_daemon(r, &process_group) {
        Ok(d) => d,
        Err(rc) => return rc,
    };
    let process = runtime::process_info();
    if daemon.is_none() && process.is_none() {
        log::request(ffi::APLOG_ERR, r, "embedded mode is disabled (WSGIRestrictEmbedded On) or Python failed to start in this process");
        return ffi::HTTP_INTERNAL_SERVER_ERROR;
    }
    if let Err(rc) = setup_body(r, choice.chunked) {
        return rc;
    }
    let head_as_get = r.is_get()
        && target::head_runs_as_get(r.header_only(), choice.map_head_to_get, || {
            r.has_content_filters()
        });
    let handler_path = handler.map_or("", |h| h.script.as_str());
    let mut cgi =
        crate::apache::cgi::cgi_environ(r, choice.pass_authorization, head_as_get, handler_path);
    let proxied = match &dir.trusted_proxy_headers {
        Some(headers) => proxy_headers::apply(&mut cgi, headers, dir.trusted_proxies.as_deref()),
        None => Default::default(),
    };
    let mut target = app_target(r, script, &choice, process_group, process, &cgi);
    if let Some(https) = proxied.https {
        target.https = https;
    }
    match daemon {
        Some(g) => {
            let opts = crate::daemon::relay::Options {
                ignore_activity: choice.ignore_activity,
                error_override: choice.error_override,
            };
            crate::daemon::relay::relay(r, &g, &target, cgi, opts)
        }
        None => crate::embedded::run(r, &target, &cgi),
    }
}

/// The script file Apache mapped the request to.
struct ScriptFile {
    path: String,
    kind: FileKind,
    /// Modification time in APR's microseconds.
    mtime_us: i64,
}

/// The alias translate_name matched (if any), the directory's settings and
/// the script file.
fn request_facts<'r>(r: Request<'r>) -> (Option<Arc<AliasEntry>>, &'r DirConfig, ScriptFile) {
    static NO_SETTINGS: std::sync::OnceLock<DirConfig> = std::sync::OnceLock::new();
    let alias = r.note::<AliasMatch>().map(|m| m.alias.clone());
    let dir = r
        .dir_record::<DirConfig>()
        .unwrap_or_else(|| NO_SETTINGS.get_or_init(DirConfig::default));
    let (kind, mtime_us) = r.file();
    let file = ScriptFile {
        path: String::from_utf8_lossy(r.filename()).into_owned(),
        kind,
        mtime_us,
    };
    (alias, dir, file)
}

/// A handler script, with its modification time (0 when it cannot be
/// read here: the process that runs it reports why).
fn handler_script_file(h: &HandlerScript) -> ScriptFile {
    let mtime_us = std::fs::metadata(&h.script)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_micros() as i64);
    ScriptFile {
        path: h.script.clone(),
        kind: FileKind::File,
        mtime_us,
    }
}

/// 404 for a missing script, 403 for a directory or (outside an alias)
/// a directory without `Options ExecCGI`.
fn check_script_file(r: Request<'_>, f: &ScriptFile, aliased: bool) -> Result<(), c_int> {
    let (status, why) = match f.kind {
        FileKind::Missing => (
            ffi::HTTP_NOT_FOUND,
            "target WSGI script not found or unable to stat",
        ),
        FileKind::Directory => (
            ffi::HTTP_FORBIDDEN,
            "attempt to invoke a directory as a WSGI application",
        ),
        FileKind::File if !aliased && !r.exec_cgi_allowed() => (
            ffi::HTTP_FORBIDDEN,
            "Options ExecCGI is off in this directory",
        ),
        FileKind::File => return Ok(()),
    };
    log::request(ffi::APLOG_ERR, r, &format!("{}: {}", why, f.path));
    Err(status)
}

/// The daemon group the request goes to (None: this process).
fn find_daemon(
    r: Request<'_>,
    process_group: &str,
) -> Result<Option<Arc<crate::daemon::group::DaemonGroup>>, c_int> {
    if process_group.is_empty() {
        return Ok(None);
    }
    match crate::daemon::group::find(process_group) {
        Some(g) => Ok(Some(g)),
        None => {
            log::request(
                ffi::APLOG_ERR,
                r,
                &format!(
                    "no WSGI daemon process group called '{}' is configured",
                    process_group
                ),
            );
            Err(ffi::HTTP_INTERNAL_SERVER_ERROR)
        }
    }
}

/// Prepares reading the body (it is read only when the application asks,
/// so 100-continue waits for that); a chunked body needs WSGIChunkedRequest.
fn setup_body(r: Request<'_>, chunked: bool) -> Result<(), c_int> {
    let rc = r.setup_body(chunked);
    if rc == ffi::HTTP_LENGTH_REQUIRED as c_int && !chunked {
        // Apache says only "chunked Transfer-Encoding forbidden", at info.
        log::request(
            ffi::APLOG_ERR,
            r,
            "a chunked request body was refused with 411: WSGIChunkedRequest is Off here (turn it On to accept chunked uploads)",
        );
    }
    if rc != ffi::OK {
        return Err(rc);
    }
    Ok(())
}

/// Everything the application's host needs to know, with the application
/// group's name worked out for this request.
fn app_target(
    r: Request<'_>,
    script: ScriptFile,
    choice: &target::Choice,
    process_group: String,
    process: Option<&runtime::ProcessInfo>,
    cgi: &wsgi_core::environ::Environ,
) -> wsgi_call::AppTarget {
    let script_name =
        String::from_utf8_lossy(cgi.get(b"SCRIPT_NAME").unwrap_or_default()).into_owned();
    let hostname = r.server().hostname();
    let (port, default_port, https) = r.port_and_scheme();
    let env_lookup = |k: &str| r.env(k);
    let application_group = application_group_name(
        &choice.application_group,
        &RequestIdentity {
            server_hostname: &hostname,
            port,
            default_port,
            script_name: &script_name,
            env: &env_lookup,
        },
    );
    wsgi_call::AppTarget {
        script: script.path,
        // APR times are microseconds; Python compares against st_mtime_ns.
        script_mtime_ns: script.mtime_us * 1000,
        callable: choice.callable.clone(),
        application_group,
        process_group,
        reload: choice.reload,
        sendfile: choice.sendfile,
        multithread: process.is_some_and(|p| p.threads_per_process > 1),
        multiprocess: process.is_some_and(|p| p.maximum_processes > 1),
        https,
    }
}
