//! Logging to Apache's error log. Every line names the module, the process
//! group and the pid; request lines add Apache's request log id. Text is
//! always passed as an argument to a "%s" format, never as the format.
//! The server/request pointers are those httpd handed to the current hook
//! (or null), as in `request.rs`.
#![allow(clippy::not_unsafe_ptr_arg_deref)]

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

/// `s`, or the main server when null: with a null server httpd applies its
/// built-in log level rather than the configured LogLevel.
fn or_main_server(s: *const ffi::server_rec) -> *const ffi::server_rec {
    if s.is_null() {
        // SAFETY: ap_server_conf is set once the configuration is read and
        // only read afterwards.
        unsafe { ffi::ap_server_conf }
    } else {
        s
    }
}

fn module_index() -> c_int {
    // SAFETY: httpd writes module_index once while loading the module, before
    // any hook or directive runs; afterwards it is only read.
    unsafe { (*ptr::addr_of!(crate::wsgi_module)).module_index }
}

fn c_text(text: String) -> CString {
    CString::new(text.replace('\0', "\\0")).expect("NULs were replaced")
}

/// The text of one log line: module, process group, pid, request id if any.
fn line(request_id: Option<&str>, msg: &str) -> CString {
    c_text(line_text(request_id, msg))
}

fn line_text(request_id: Option<&str>, msg: &str) -> String {
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

fn log_error(level: i32, s: *const ffi::server_rec, text: &CString) {
    // SAFETY: the format is a literal "%s" and `text` a valid C string that
    // outlives the call; `or_main_server` gives a live server_rec.
    unsafe {
        ffi::ap_log_error_(
            c"mod_wsgi_rs".as_ptr(),
            0,
            module_index(),
            level,
            0,
            or_main_server(s),
            c"%s".as_ptr(),
            text.as_ptr(),
        )
    };
}

/// Logs `msg` for the whole server (`s` may be null: the main server's log).
pub fn server(level: i32, s: *const ffi::server_rec, msg: &str) {
    log_error(level, s, &line(None, msg));
}

/// Logs an error for the whole server.
pub fn server_error(msg: &str) {
    server(ffi::APLOG_ERR, ptr::null(), msg);
}

/// Logs `msg` for request `r`, naming its request id.
pub fn request(level: i32, r: *mut ffi::request_rec, msg: &str) {
    let text = line(Some(&super::request::log_id(r)), msg);
    // SAFETY: as in `log_error`; `r` is the live request being handled.
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

/// A request as a daemon process knows it: the request_rec lives in the
/// Apache child, so its lines carry the id and the client's address that
/// came with the request.
#[derive(Clone, Debug, Default)]
pub struct DaemonRequest {
    pub id: String,
    /// "address:port", as REMOTE_ADDR and REMOTE_PORT gave it ("" if absent).
    pub remote: String,
}

impl DaemonRequest {
    /// The text of a line for this request: "[remote a:p] " first, where
    /// Apache puts "[client a:p]" for a request_rec (and mod_wsgi's daemons
    /// put "[remote a:p]").
    fn text(&self, msg: &str) -> CString {
        let text = line_text(Some(&self.id), msg);
        if self.remote.is_empty() {
            return c_text(text);
        }
        c_text(format!("[remote {}] {text}", self.remote))
    }
}

/// Logs `msg` for a request served in this daemon process, to server `s`'s
/// error log (its virtual host's; null: the main server's).
pub fn daemon_request(level: i32, s: *const ffi::server_rec, req: &DaemonRequest, msg: &str) {
    log_error(level, s, &req.text(msg));
}
