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

/// The main server's record (lives for the whole process).
pub fn main_server() -> *mut ffi::server_rec {
    // SAFETY: set by Apache before any module hook runs.
    unsafe { ffi::ap_server_conf }
}

/// A server's ServerName and port.
pub fn server_name_port(s: *mut ffi::server_rec) -> (String, u16) {
    // SAFETY: a live server record; its strings live in the config pool.
    unsafe {
        (
            String::from_utf8_lossy(super::request::cstr_bytes((*s).server_hostname)).into_owned(),
            (*s).port,
        )
    }
}
