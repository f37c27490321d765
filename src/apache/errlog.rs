//! The bottom of logging: the text of a line (module, process group, pid,
//! request id) and writing it to Apache's error log for a raw server or
//! request. `log.rs` is the typed interface; panic containment (`guard`)
//! uses this directly, below the handles.

use super::ffi;
use std::ffi::{c_int, CString};
use std::ptr;
use std::sync::OnceLock;

static PROCESS_GROUP: OnceLock<String> = OnceLock::new();
static PARENT_PID: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

/// Names this process's group in log lines ("" = embedded in an Apache child).
pub fn set_process_group(name: &str) {
    let _ = PROCESS_GROUP.set(name.to_string());
}

/// Marks the calling process as the Apache parent (for log lines).
pub fn mark_parent() {
    PARENT_PID.store(std::process::id(), std::sync::atomic::Ordering::Relaxed);
}

fn group_label() -> &'static str {
    match PROCESS_GROUP.get().map(String::as_str) {
        Some(g) if !g.is_empty() => g,
        _ if PARENT_PID.load(std::sync::atomic::Ordering::Relaxed) == std::process::id() => {
            "parent"
        }
        _ => "embedded",
    }
}

fn module_index() -> c_int {
    // SAFETY: httpd writes module_index once while loading the module, before
    // any hook or directive runs; afterwards it is only read.
    unsafe { (*ptr::addr_of!(crate::wsgi_module)).module_index }
}

pub(super) fn c_text(text: String) -> CString {
    CString::new(text.replace('\0', "\\0")).expect("NULs were replaced")
}

/// The text of one log line: module, process group, pid, request id if any.
pub(super) fn line(request_id: Option<&str>, msg: &str) -> CString {
    c_text(line_text(request_id, msg))
}

pub(super) fn line_text(request_id: Option<&str>, msg: &str) -> String {
    let request = request_id
        .map(|id| format!(", request={}", id))
        .unwrap_or_default();
    format!(
        "mod_wsgi-rs (pid={}, process='{}'{}): {}",
        std::process::id(),
        group_label(),
        request,
        msg
    )
}

/// Writes `text` for server `s` (null: the main server, which makes httpd
/// apply the configured LogLevel rather than its built-in one).
pub(super) fn write(level: i32, s: *const ffi::server_rec, text: &CString) {
    // SAFETY: ap_server_conf is set once the configuration is read and only
    // read afterwards.
    let s = if s.is_null() {
        unsafe { ffi::ap_server_conf }
    } else {
        s
    };
    // SAFETY: the format is a literal "%s" and `text` a valid C string that
    // outlives the call; `s` is a live server record or null.
    unsafe {
        ffi::ap_log_error_(
            c"mod_wsgi_rs".as_ptr(),
            0,
            module_index(),
            level,
            0,
            s,
            c"%s".as_ptr(),
            text.as_ptr(),
        )
    };
}

/// Writes `text` for the live request `r`.
pub(super) fn write_request(level: i32, r: *mut ffi::request_rec, text: &CString) {
    // SAFETY: as in `write`; `r` is the live request being handled.
    unsafe {
        ffi::ap_log_rerror_(
            c"mod_wsgi_rs".as_ptr(),
            0,
            module_index(),
            level,
            0,
            r,
            c"%s".as_ptr(),
            text.as_ptr(),
        )
    };
}

/// Logs an error for the whole server.
pub fn server_error(msg: &str) {
    write(ffi::APLOG_ERR, ptr::null(), &line(None, msg));
}
