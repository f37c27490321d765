//! The Apache child's connections to daemons: kept ones (checked for
//! staleness before reuse) first, else a fresh, checked connect retried
//! until connect-timeout.

#![forbid(unsafe_code)]

use super::conn::FramedConn;
use super::group::DaemonGroup;
use super::socket;
use crate::apache::request::Request;
use crate::apache::{ffi, log};
use std::ffi::c_int;
use std::io;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

/// Connections to daemons kept between requests, per Apache child process
/// (socket path, connection): connect, accept, timeouts and close are paid
/// once per connection instead of once per request.
static KEPT: std::sync::Mutex<Vec<(String, FramedConn)>> = std::sync::Mutex::new(Vec::new());
const MAX_KEPT: usize = 32;

/// A kept connection to `path` that is still open and silent.
fn take_kept(path: &str) -> Option<FramedConn> {
    loop {
        let conn = {
            let mut kept = KEPT.lock().unwrap_or_else(|e| e.into_inner());
            let i = kept.iter().rposition(|(p, _)| p == path)?;
            kept.swap_remove(i).1
        };
        if !conn.is_stale() {
            return Some(conn);
        }
    }
}

pub(super) fn keep(path: String, conn: FramedConn) {
    let mut kept = KEPT.lock().unwrap_or_else(|e| e.into_inner());
    if kept.len() >= MAX_KEPT {
        kept.remove(0);
    }
    kept.push((path, conn));
}

/// How often one request may be sent again (each time the daemon provably
/// did not take it: it said Retry, or closed before Accepted).
pub(super) const MAX_RETRIES: u32 = 16;

fn connect(g: &DaemonGroup, start: &str) -> io::Result<(UnixStream, String)> {
    // A daemon that is (re)starting refuses or has no socket yet, and a
    // group whose backlog is full would block: retry until connect-timeout,
    // never longer. After a graceful restart this child may be of the old
    // generation, whose daemons leave once drained: then the same group's
    // newest socket serves it.
    let deadline = Instant::now() + g.spec.connect_timeout;
    let mut wait = Duration::from_millis(5);
    let mut path = start.to_string();
    loop {
        // A newer generation's socket is not known by its inode here.
        let expected = if path == g.socket_path {
            g.expected
        } else {
            socket::Expected {
                file: None,
                ..g.expected
            }
        };
        match socket::connect(&path, expected) {
            Ok(s) => return Ok((s, path)),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::ConnectionRefused
                        | io::ErrorKind::NotFound
                        | io::ErrorKind::WouldBlock
                ) =>
            {
                if let Some(newer) = super::group::newer_socket(&path) {
                    path = newer;
                    continue;
                }
                let now = Instant::now();
                if now >= deadline {
                    return Err(e);
                }
                std::thread::sleep(wait.min(deadline - now));
                wait = (wait * 2).min(Duration::from_millis(200));
            }
            Err(e) => return Err(e),
        }
    }
}

/// A connection for the next attempt: a kept one unless `fresh_only`.
/// Err: the status to answer with (the group cannot be reached).
pub(super) fn obtain(
    r: Request<'_>,
    g: &DaemonGroup,
    path: &str,
    fresh_only: bool,
    timeout: Duration,
) -> Result<(FramedConn, String, bool), c_int> {
    if !fresh_only {
        if let Some(c) = take_kept(path) {
            return Ok((c, path.to_string(), true));
        }
    }
    match connect(g, path) {
        Ok((stream, used)) => {
            let mut conn = FramedConn::new(stream);
            let _ = conn.set_timeouts(Some(timeout), Some(timeout));
            // (Best effort, as the daemon side: the system's sizes still work.)
            let _ = conn.set_buffer_sizes(g.spec.send_buffer_size, g.spec.receive_buffer_size);
            if g.spec.response_buffer_size > 0 {
                conn.set_max_read(g.spec.response_buffer_size as usize);
            }
            Ok((conn, used, false))
        }
        Err(e) => {
            log::request(
                ffi::APLOG_ERR,
                r,
                &format!(
                    "cannot reach daemon process group '{}' at {}: {} (after connect-timeout {:?})",
                    g.spec.name, path, e, g.spec.connect_timeout
                ),
            );
            Err(ffi::HTTP_SERVICE_UNAVAILABLE)
        }
    }
}
