//! The Apache hooks: configuration checks, Python start-up in each child,
//! URL mapping for `WSGIScriptAlias`, and the `wsgi-script` handler.

use crate::apache::guard::catch;
use crate::apache::pool::pool_owned;
use crate::apache::request::{cstr_bytes, pool_str, table_get};
use crate::apache::{ffi, log};
use crate::config::{self, AliasEntry, DirConfig, ServerConfig};
use pyhost::{runtime, wsgi_call};
use std::ffi::{c_char, c_int, c_void, CStr};
use std::sync::Arc;
use wsgi_core::app_group::{application_group_name, RequestIdentity};
use wsgi_core::target;

/// Registers every hook (called by httpd when the module is loaded).
pub unsafe extern "C" fn register_hooks(_p: *mut ffi::apr_pool_t) {
    catch("register_hooks", (), || {
        crate::apache::guard::install_panic_hook();
        let middle = ffi::APR_HOOK_MIDDLE as c_int;
        // WSGIScriptAlias maps after mod_alias, so `Alias /static ...` inside a
        // WSGIScriptAlias / keeps working, as with mod_wsgi.
        let after_alias = leak_names(&[c"mod_alias.c"]);
        let before = leak_names(&[c"mod_userdir.c", c"mod_vhost_alias.c"]);
        // SAFETY: registering hook functions with httpd during module load;
        // the name lists are leaked, so they live as long as the process.
        unsafe {
            ffi::ap_hook_pre_config(Some(pre_config), std::ptr::null(), std::ptr::null(), middle);
            ffi::ap_hook_check_config(
                Some(check_config),
                std::ptr::null(),
                std::ptr::null(),
                middle,
            );
            ffi::ap_hook_post_config(
                Some(post_config),
                std::ptr::null(),
                std::ptr::null(),
                middle,
            );
            ffi::ap_hook_child_init(Some(child_init), std::ptr::null(), std::ptr::null(), middle);
            ffi::ap_hook_pre_connection(
                Some(pre_connection),
                std::ptr::null(),
                std::ptr::null(),
                ffi::APR_HOOK_REALLY_FIRST as c_int,
            );
            ffi::ap_hook_translate_name(Some(translate_name), after_alias, before, middle);
            ffi::ap_hook_handler(Some(handler), std::ptr::null(), std::ptr::null(), middle);
        }
    })
}

/// Counts this child's connections (to tell MaxConnectionsPerChild apart
/// from other reasons a child stops).
unsafe extern "C" fn pre_connection(_c: *mut ffi::conn_rec, _csd: *mut c_void) -> c_int {
    crate::lifecycle::count_connection();
    ffi::DECLINED as c_int
}

fn leak_names(names: &[&'static CStr]) -> *const *const c_char {
    let mut v: Vec<*const c_char> = names.iter().map(|n| n.as_ptr()).collect();
    v.push(std::ptr::null());
    Box::leak(v.into_boxed_slice()).as_ptr()
}

unsafe extern "C" fn pre_config(
    _pconf: *mut ffi::apr_pool_t,
    _plog: *mut ffi::apr_pool_t,
    _ptemp: *mut ffi::apr_pool_t,
) -> c_int {
    catch("pre_config", ffi::OK, || {
        config::reset_global();
        ffi::OK
    })
}

/// Runs after the whole configuration is read (also for `apachectl
/// configtest`): every process group a directive names must be defined.
unsafe extern "C" fn check_config(
    _pconf: *mut ffi::apr_pool_t,
    _plog: *mut ffi::apr_pool_t,
    _ptemp: *mut ffi::apr_pool_t,
    s: *mut ffi::server_rec,
) -> c_int {
    catch("check_config", ffi::HTTP_INTERNAL_SERVER_ERROR, || {
        let g = config::global_snapshot();
        let mut status = ffi::OK;
        for r in &g.group_references {
            if !g.daemons.iter().any(|d| d.name == r.group) {
                log::server(
                    ffi::APLOG_EMERG,
                    s,
                    &format!(
                        "Syntax error on line {} of {}: {}: the process group '{}' is not defined by any WSGIDaemonProcess",
                        r.line, r.file, r.directive, r.group
                    ),
                );
                status = ffi::HTTP_INTERNAL_SERVER_ERROR;
            }
        }
        status
    })
}

/// Starts the daemon process groups, in the parent, once per configuration
/// generation. Apache reads its configuration twice at start-up; the first
/// pass (AP_SQ_MS_CREATE_PRE_CONFIG) is only a check, so nothing is forked then.
unsafe extern "C" fn post_config(
    pconf: *mut ffi::apr_pool_t,
    _plog: *mut ffi::apr_pool_t,
    _ptemp: *mut ffi::apr_pool_t,
    s: *mut ffi::server_rec,
) -> c_int {
    catch("post_config", ffi::HTTP_INTERNAL_SERVER_ERROR, || {
        // SAFETY: ap_state_query has no preconditions.
        let state = unsafe { ffi::ap_state_query(ffi::AP_SQ_MAIN_STATE as c_int) };
        if state == ffi::AP_SQ_MS_CREATE_PRE_CONFIG as c_int {
            return ffi::OK;
        }
        log::mark_parent();
        match crate::daemon::supervisor::start_all(pconf, s) {
            Ok(()) => ffi::OK,
            Err(e) => {
                log::server(
                    ffi::APLOG_EMERG,
                    s,
                    &format!("cannot start daemon processes: {}", e),
                );
                ffi::HTTP_INTERNAL_SERVER_ERROR
            }
        }
    })
}

fn mpm_query(what: u32) -> i64 {
    let mut v: c_int = 0;
    // SAFETY: ap_mpm_query writes one int for these query codes.
    let rc = unsafe { ffi::ap_mpm_query(what as c_int, &mut v) };
    if rc == 0 {
        v as i64
    } else {
        0
    }
}

/// Starts Python in each Apache child (never in the parent: DESIGN.md §1).
unsafe extern "C" fn child_init(pchild: *mut ffi::apr_pool_t, s: *mut ffi::server_rec) {
    catch("child_init", (), || {
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
            maximum_processes: mpm_query(ffi::AP_MPMQ_MAX_DAEMONS as u32).max(1),
            threads_per_process: mpm_query(ffi::AP_MPMQ_MAX_THREADS as u32).max(1),
            settings: settings.python.clone(),
        };
        crate::embedded::install_host();
        if let Err(e) = runtime::initialize(info) {
            log::server(
                ffi::APLOG_CRIT,
                s,
                &format!("{}; WSGI applications cannot run in this process", e),
            );
            return;
        }
        // The child pool goes when the MPM stops this child (after its
        // worker threads were joined): tell every interpreter why, bounded
        // well inside Apache's SIGKILL (~9 s into `stop`).
        let stop = move || {
            crate::lifecycle::block_stop_signals();
            crate::lifecycle::stop(
                crate::lifecycle::embedded_reason(),
                run_atexit,
                EMBEDDED_STOP_DEADLINE,
                Default::default(),
            )
        };
        // Prefork stops its children from a signal handler: the sequence
        // then runs on a thread of ours instead (see child_signals).
        if mpm_query(ffi::AP_MPMQ_IS_THREADED as u32) == ffi::AP_MPMQ_NOT_SUPPORTED as i64 {
            crate::child_signals::take_over(stop);
        }
        crate::apache::pool::on_cleanup(
            pchild,
            Box::new(move || {
                if !crate::child_signals::stopped_already() {
                    stop();
                }
            }),
        );
        crate::import_scripts::preload_for("", s);
    })
}

/// How long an Apache child's Python shutdown may take (DESIGN.md §4).
const EMBEDDED_STOP_DEADLINE: std::time::Duration = std::time::Duration::from_secs(2);

/// What translate_name found, kept for the handler in the request config.
struct AliasMatch {
    alias: Arc<AliasEntry>,
}

/// Maps URLs under a `WSGIScriptAlias` to the script, as mod_alias maps
/// `ScriptAlias`: r->filename is the target plus the rest of the URL, and
/// Apache's directory walk then splits off PATH_INFO.
unsafe extern "C" fn translate_name(r: *mut ffi::request_rec) -> c_int {
    catch("translate_name", ffi::DECLINED, || {
        // SAFETY: live request; our server config for its virtual host.
        let (uri_ptr, sc) = unsafe {
            (
                (*r).uri,
                &*config::module_config::<ServerConfig>((*(*r).server).module_config),
            )
        };
        if sc.aliases.is_empty() || uri_ptr.is_null() {
            return ffi::DECLINED;
        }
        let uri = cstr_bytes(uri_ptr);
        if uri.first() != Some(&b'/') {
            return ffi::DECLINED;
        }
        for alias in &sc.aliases {
            if let Some(filename) = map_alias(r, alias, uri) {
                // SAFETY: live request; strings copied into its pool.
                unsafe {
                    (*r).filename = pool_str((*r).pool, &filename);
                    (*r).handler = c"wsgi-script".as_ptr();
                    let m = pool_owned(
                        (*r).pool,
                        AliasMatch {
                            alias: alias.clone(),
                        },
                    );
                    ffi::ap_set_module_config(
                        (*r).request_config,
                        std::ptr::addr_of!(crate::wsgi_module),
                        m.cast(),
                    );
                }
                return ffi::OK;
            }
        }
        ffi::DECLINED
    })
}

fn map_alias(r: *mut ffi::request_rec, alias: &AliasEntry, uri: &[u8]) -> Option<Vec<u8>> {
    if !alias.spec.is_regex {
        let uri_s = std::str::from_utf8(uri).ok()?;
        let n = alias.spec.match_prefix(uri_s)?;
        let mut f = alias.spec.target.as_bytes().to_vec();
        f.extend_from_slice(&uri[n..]);
        return Some(f);
    }
    const N: usize = 10;
    let mut m = [ffi::ap_regmatch_t {
        rm_so: -1,
        rm_eo: -1,
    }; N];
    let uri_c = std::ffi::CString::new(uri).ok()?;
    let target = std::ffi::CString::new(alias.spec.target.as_str()).ok()?;
    // SAFETY: compiled regex from config; buffers sized N; pool strings.
    unsafe {
        if ffi::ap_regexec(alias.regex, uri_c.as_ptr(), N, m.as_mut_ptr(), 0) != 0 {
            return None;
        }
        let sub = ffi::ap_pregsub(
            (*r).pool,
            target.as_ptr(),
            uri_c.as_ptr(),
            N,
            m.as_mut_ptr(),
        );
        if sub.is_null() {
            return None;
        }
        let mut f = cstr_bytes(sub).to_vec();
        f.extend_from_slice(&uri[m[0].rm_eo as usize..]);
        Some(f)
    }
}

/// The `wsgi-script` handler: resolves which application runs where, then
/// runs it in this process (embedded mode).
unsafe extern "C" fn handler(r: *mut ffi::request_rec) -> c_int {
    catch("handler", ffi::HTTP_INTERNAL_SERVER_ERROR, || {
        // SAFETY: live request.
        let h = cstr_bytes(unsafe { (*r).handler });
        if h != b"wsgi-script" && h != b"application/x-httpd-wsgi" {
            return ffi::DECLINED;
        }
        handle_wsgi(r)
    })
}

fn handle_wsgi(r: *mut ffi::request_rec) -> c_int {
    let (alias, dir, script) = request_facts(r);
    if let Err(rc) = check_script_file(r, &script, alias.is_some()) {
        return rc;
    }
    let choice = target::choose(alias.as_ref().map(|a| &a.spec), dir);
    let process_group = target::process_group_name(&choice.process_group, &|k| env_value(r, k));
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
    // SAFETY: live request.
    let is_get = unsafe { (*r).method_number } == ffi::M_GET as c_int;
    let head_as_get = is_get
        && target::head_runs_as_get(is_head(r), choice.map_head_to_get, || {
            has_content_filters(r)
        });
    let cgi = crate::apache::cgi::cgi_environ(r, choice.pass_authorization, head_as_get);
    let target = app_target(r, script, &choice, process_group, process, &cgi);
    match daemon {
        Some(g) => crate::daemon::relay::relay(r, &g, &target, cgi),
        None => crate::embedded::run(r, &target, &cgi),
    }
}

/// The script file Apache mapped the request to.
struct ScriptFile {
    path: String,
    filetype: ffi::apr_filetype_e,
    /// Modification time in APR's microseconds.
    mtime_us: i64,
}

/// The alias translate_name matched (if any), the directory's settings and
/// the script file.
fn request_facts(
    r: *mut ffi::request_rec,
) -> (Option<Arc<AliasEntry>>, &'static DirConfig, ScriptFile) {
    // SAFETY: live request; the module config slots hold our records (the
    // request one only when translate_name matched an alias); the directory
    // record lives in a pool that outlives the request.
    unsafe {
        let m =
            ffi::ap_get_module_config((*r).request_config, std::ptr::addr_of!(crate::wsgi_module))
                .cast::<AliasMatch>();
        let alias = (!m.is_null()).then(|| (*m).alias.clone());
        let dir = &*config::module_config::<DirConfig>((*r).per_dir_config);
        let file = ScriptFile {
            path: String::from_utf8_lossy(cstr_bytes((*r).filename)).into_owned(),
            filetype: (*r).finfo.filetype,
            mtime_us: (*r).finfo.mtime,
        };
        (alias, dir, file)
    }
}

/// 404 for a missing script, 403 for a directory or (outside an alias)
/// a directory without `Options ExecCGI`.
fn check_script_file(r: *mut ffi::request_rec, f: &ScriptFile, aliased: bool) -> Result<(), c_int> {
    let (status, why) = if f.filetype == ffi::apr_filetype_e_APR_NOFILE {
        (
            ffi::HTTP_NOT_FOUND,
            "target WSGI script not found or unable to stat",
        )
    } else if f.filetype == ffi::apr_filetype_e_APR_DIR {
        (
            ffi::HTTP_FORBIDDEN,
            "attempt to invoke a directory as a WSGI application",
        )
    // SAFETY: live request.
    } else if !aliased && unsafe { ffi::ap_allow_options(r) } & ffi::OPT_EXECCGI as c_int == 0 {
        (
            ffi::HTTP_FORBIDDEN,
            "Options ExecCGI is off in this directory",
        )
    } else {
        return Ok(());
    };
    log::request(ffi::APLOG_ERR, r, &format!("{}: {}", why, f.path));
    Err(status)
}

/// The daemon group the request goes to (None: this process).
fn find_daemon(
    r: *mut ffi::request_rec,
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
fn setup_body(r: *mut ffi::request_rec, chunked: bool) -> Result<(), c_int> {
    let policy = if chunked {
        ffi::REQUEST_CHUNKED_DECHUNK
    } else {
        ffi::REQUEST_CHUNKED_ERROR
    };
    // SAFETY: live request.
    let rc = unsafe { ffi::ap_setup_client_block(r, policy as c_int) };
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
    r: *mut ffi::request_rec,
    script: ScriptFile,
    choice: &target::Choice,
    process_group: String,
    process: Option<&runtime::ProcessInfo>,
    cgi: &wsgi_core::environ::Environ,
) -> wsgi_call::AppTarget {
    let script_name =
        String::from_utf8_lossy(cgi.get(b"SCRIPT_NAME").unwrap_or_default()).into_owned();
    // SAFETY: live request and server.
    let (hostname, port, default_port, https) = unsafe {
        let port = ffi::ap_get_server_port(r);
        let scheme = cstr_bytes(ffi::ap_run_http_scheme(r));
        (
            String::from_utf8_lossy(cstr_bytes((*(*r).server).server_hostname)).into_owned(),
            port,
            port as u32 == ffi::ap_run_default_port(r) as u32,
            scheme == b"https",
        )
    };
    let env_lookup = |k: &str| env_value(r, k);
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

fn is_head(r: *mut ffi::request_rec) -> bool {
    // SAFETY: live request.
    unsafe { (*r).header_only != 0 }
}

/// True when a content-level output filter (e.g. mod_deflate) is in the
/// chain: it may need the body even for HEAD, so HEAD runs as GET.
fn has_content_filters(r: *mut ffi::request_rec) -> bool {
    // SAFETY: walking the request's live output filter list.
    unsafe {
        let mut f = (*r).output_filters;
        while !f.is_null() {
            let frec = (*f).frec;
            if !frec.is_null() && (*frec).ftype < ffi::ap_filter_type_AP_FTYPE_PROTOCOL {
                return true;
            }
            f = (*f).next;
        }
    }
    false
}

fn env_value(r: *mut ffi::request_rec, key: &str) -> Option<String> {
    let k = std::ffi::CString::new(key).ok()?;
    // SAFETY: live request.
    let env = unsafe { (*r).subprocess_env };
    table_get(env, &k).map(|v| String::from_utf8_lossy(v).into_owned())
}
