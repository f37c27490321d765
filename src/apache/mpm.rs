//! What the MPM and the scoreboard tell a module about its process.

use super::ffi;

/// This process's configuration generation (None if the MPM cannot say).
pub fn generation() -> Option<i32> {
    let mut g: std::ffi::c_int = 0;
    // SAFETY: ap_mpm_query writes one int.
    (unsafe { ffi::ap_mpm_query(ffi::AP_MPMQ_GENERATION, &mut g) } == 0).then_some(g)
}

/// MaxConnectionsPerChild (0: no limit).
pub fn max_connections_per_child() -> i32 {
    // SAFETY: an int the MPM sets from the configuration, read-only here.
    unsafe { ffi::ap_max_requests_per_child }
}

/// The generation the parent runs now: it moves on as soon as the parent
/// takes a restart signal, before it reads the new configuration.
pub fn running_generation() -> Option<i32> {
    // SAFETY: the scoreboard is shared memory the parent keeps for the life
    // of the server; we only read the running generation.
    unsafe {
        let sb = ffi::ap_scoreboard_image;
        if sb.is_null() || (*sb).global.is_null() {
            return None;
        }
        Some((*(*sb).global).running_generation)
    }
}

fn query(what: i32) -> Option<i32> {
    let mut v: std::ffi::c_int = 0;
    // SAFETY: ap_mpm_query writes one int for these query codes.
    (unsafe { ffi::ap_mpm_query(what, &mut v) } == 0).then_some(v)
}

/// The most Apache children the MPM runs at once (at least 1).
pub fn max_daemons() -> i64 {
    query(ffi::AP_MPMQ_MAX_DAEMONS).unwrap_or(1).max(1) as i64
}

/// The threads of one Apache child (at least 1).
pub fn max_threads() -> i64 {
    query(ffi::AP_MPMQ_MAX_THREADS).unwrap_or(1).max(1) as i64
}

/// Whether the MPM runs several threads per child (event, worker).
pub fn is_threaded() -> bool {
    query(ffi::AP_MPMQ_IS_THREADED).is_some_and(|v| v != ffi::AP_MPMQ_NOT_SUPPORTED)
}

/// Whether the MPM is stopping (or cannot say).
pub fn stopping() -> bool {
    query(ffi::AP_MPMQ_MPM_STATE).is_none_or(|v| v == ffi::AP_MPMQ_STOPPING)
}

/// Apache's first, check-only, configuration pass at start-up.
pub fn is_check_pass() -> bool {
    // SAFETY: ap_state_query has no preconditions.
    (unsafe { ffi::ap_state_query(ffi::AP_SQ_MAIN_STATE) }) == ffi::AP_SQ_MS_CREATE_PRE_CONFIG
}

/// Whether the server is exiting (stop) rather than restarting.
pub fn exiting() -> bool {
    // SAFETY: ap_state_query has no preconditions.
    (unsafe { ffi::ap_state_query(ffi::AP_SQ_MAIN_STATE) }) == ffi::AP_SQ_MS_EXITING
}

/// How many times the configuration has been read (the parent's count).
pub fn config_generation() -> i32 {
    // SAFETY: ap_state_query has no preconditions.
    unsafe { ffi::ap_state_query(ffi::AP_SQ_CONFIG_GEN) }
}

/// Apache's `User` and `Group`, as its children run: (uid, gid, user name).
pub fn apache_identity() -> (u32, u32, String) {
    // SAFETY: set from the configuration before post_config; read-only after.
    unsafe {
        let u = std::ptr::addr_of!(ffi::ap_unixd_config);
        (
            (*u).user_id,
            (*u).group_id,
            super::strings::lossy(super::strings::c_bytes((*u).user_name)),
        )
    }
}

/// `name` under DefaultRuntimeDir.
pub fn runtime_dir_relative(pool: super::pool::Pool<'_>, name: &str) -> Option<String> {
    let c = std::ffi::CString::new(name).ok()?;
    // SAFETY: resolves into `pool`; the result is copied at once.
    unsafe {
        let p = ffi::ap_runtime_dir_relative(pool.raw(), c.as_ptr());
        (!p.is_null()).then(|| super::strings::lossy(super::strings::c_bytes(p)))
    }
}

/// Closes Apache's listening sockets in this process (a daemon never accepts
/// clients).
pub fn close_listeners() {
    // SAFETY: closes this process's copies of the listeners; nothing in a
    // daemon uses them.
    unsafe { ffi::ap_close_listeners() }
}

fn static_text(p: *const std::ffi::c_char) -> String {
    // SAFETY: httpd's static (or process-lifetime) text.
    super::strings::lossy(unsafe { super::strings::c_bytes(p) })
}

/// The server as mod_wsgi's `apache` module describes it (`embedded`: this
/// is an Apache child, not a daemon).
pub fn apache_facts(embedded: bool) -> pyhost::runtime::ApacheFacts {
    let threaded = is_threaded();
    let forked = query(ffi::AP_MPMQ_IS_FORKED).is_some_and(|v| v != ffi::AP_MPMQ_NOT_SUPPORTED);
    let processes = if forked {
        query(ffi::AP_MPMQ_MAX_DAEMON_USED)
            .filter(|n| *n > 0)
            .or_else(|| query(ffi::AP_MPMQ_MAX_DAEMONS))
            .unwrap_or(1)
    } else {
        1
    };
    // SAFETY: these return static text once the server is configured.
    let (description, mpm, built) = unsafe {
        (
            ffi::ap_get_server_description(),
            ffi::ap_show_mpm(),
            ffi::ap_get_server_built(),
        )
    };
    pyhost::runtime::ApacheFacts {
        version: (
            ffi::AP_SERVER_MAJORVERSION_NUMBER as i64,
            ffi::AP_SERVER_MINORVERSION_NUMBER as i64,
            ffi::AP_SERVER_PATCHLEVEL_NUMBER as i64,
        ),
        mpm_name: static_text(mpm),
        maximum_processes: processes.max(1) as i64,
        threads_per_process: if threaded { max_threads() } else { 1 },
        description: static_text(description),
        build_date: static_text(built),
        embedded,
    }
}
