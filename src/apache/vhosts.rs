//! Naming a virtual host so that a daemon process, forked from the same
//! configuration as the Apache child that relays a request, finds the
//! request's server_rec (and so logs to that virtual host's error log).
#![allow(clippy::not_unsafe_ptr_arg_deref)]

use super::ffi;
use super::request::cstr_bytes;

/// `"N:hostname:port"`: the server's position in Apache's server list,
/// checked against its name and port on the other side.
pub fn describe(s: *const ffi::server_rec) -> String {
    let mut n = 0usize;
    for candidate in servers() {
        if candidate == s {
            break;
        }
        n += 1;
    }
    format!("{}:{}", n, name_of(s))
}

/// The server described by `describe`, or null (the main server's log is
/// then used) when this configuration has no such server.
pub fn find(description: &str) -> *const ffi::server_rec {
    let Some((n, name)) = description.split_once(':') else {
        return std::ptr::null();
    };
    let n: usize = n.parse().unwrap_or(usize::MAX);
    let list: Vec<*const ffi::server_rec> = servers().collect();
    match list.get(n) {
        Some(&s) if name_of(s) == name => s,
        // A different generation's configuration: look for the name.
        _ => list
            .into_iter()
            .find(|&s| name_of(s) == name)
            .unwrap_or(std::ptr::null()),
    }
}

fn name_of(s: *const ffi::server_rec) -> String {
    if s.is_null() {
        return String::new();
    }
    // SAFETY: a server_rec of the loaded configuration; its hostname is a
    // C string or null.
    let (host, port) = unsafe { (cstr_bytes((*s).server_hostname), (*s).port) };
    format!("{}:{}", String::from_utf8_lossy(host), port)
}

/// Apache's servers, main server first.
fn servers() -> impl Iterator<Item = *const ffi::server_rec> {
    // SAFETY: ap_server_conf and the `next` chain are set up when the
    // configuration is read and not changed while it is in use.
    let first = unsafe { ffi::ap_server_conf } as *const ffi::server_rec;
    std::iter::successors((!first.is_null()).then_some(first), |&s| {
        // SAFETY: as above.
        let next = unsafe { (*s).next } as *const ffi::server_rec;
        (!next.is_null()).then_some(next)
    })
}

/// The descriptors of every server's error log (a daemon keeps them: it
/// logs to the virtual host of each request).
pub fn error_log_fds() -> Vec<i32> {
    let mut out = Vec::new();
    for s in servers() {
        // SAFETY: a server record of this configuration; its error log
        // (if any) is an open APR file.
        unsafe {
            let f = (*s).error_log;
            let mut fd: i32 = -1;
            if !f.is_null() && ffi::apr_os_file_get(&mut fd, f) == 0 && fd >= 0 {
                out.push(fd);
            }
        }
    }
    out
}
