//! Logging to Apache's error log. Every line names the module, the process
//! group and the pid; request lines add Apache's request log id. Text is
//! always passed as an argument to a "%s" format, never as the format.

use super::errlog::{c_text, line, line_text, write, write_request};
use super::ffi;
use super::request::Request;
use super::server::Server;
use std::ffi::CString;

pub use super::errlog::{mark_parent, server_error, set_process_group};

fn raw(s: Option<Server>) -> *const ffi::server_rec {
    s.map_or(std::ptr::null(), |s| s.raw())
}

/// Logs `msg` for the whole server (`s`: None for the main server's log).
pub fn server(level: i32, s: Option<Server>, msg: &str) {
    write(level, raw(s), &line(None, msg));
}

/// Logs `msg` for request `r`, naming its request id.
pub fn request(level: i32, r: Request<'_>, msg: &str) {
    write_request(level, r.raw(), &line(Some(&r.log_id()), msg));
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
pub fn daemon_request(level: i32, s: Option<Server>, req: &DaemonRequest, msg: &str) {
    write(level, raw(s), &req.text(msg));
}
