//! A daemon's worker threads: the one holding the accept lock waits on the
//! group's socket and the idle kept connections, takes the next request
//! and counts it in flight; draining and joining when the process stops.

#![forbid(unsafe_code)]

use super::conn::FramedConn;
use super::group::DaemonGroup;
use super::preauth::Step;
use super::serve::serve_connection;
use super::state::Daemon;
use crate::apache::{ffi, log};
use crate::os::{self, Epoll, Latch};
use std::os::fd::RawFd;
use std::os::unix::net::UnixListener;
use std::sync::atomic::Ordering;
use std::time::Duration;
use wsgi_core::protocol::Frame;

pub(super) const MAX_IDLE: usize = 64;

/// A new epoll set with the listening socket and the stop latch in it
/// (both level-triggered).
pub(super) fn epoll_set(listener: RawFd) -> Result<(Epoll, Latch), String> {
    let fail = |e: std::io::Error| format!("cannot create the epoll set: {}", e);
    let ep = Epoll::new().map_err(fail)?;
    let stop = Latch::new().map_err(fail)?;
    ep.add(listener);
    ep.add(stop.fd());
    Ok((ep, stop))
}

/// Stops taking requests: the waiting worker wakes and leaves, and once
/// the lock is ours no connection is half taken.
pub(super) fn stop_accepting(d: &Daemon) {
    d.stop_accepting.store(true, Ordering::SeqCst);
    // Every worker that waits from now on wakes at once.
    d.stop_event.set();
    drop(d.accept_lock.lock().unwrap_or_else(|e| e.into_inner()));
}

pub(super) fn accept_loop(listener: &UnixListener, d: &Daemon) {
    let g = &*d.group;
    loop {
        // Only the thread holding the lock waits (as Apache's own accept
        // mutex does): one wake-up per request, no herd.
        let job = {
            let _lock = d.accept_lock.lock().unwrap_or_else(|e| e.into_inner());
            if d.stop_accepting.load(Ordering::SeqCst) {
                return;
            }
            // At most 100 ms, so a drain check waiting for the lock is not
            // held up long.
            d.gate.expire();
            let Some(ready) = d.epoll.wait_one(100) else {
                continue;
            };
            if ready == d.stop_event.fd() {
                return;
            }
            if ready == g.listener {
                // Counted busy only once it has shown the secret.
                match listener.accept() {
                    Ok((stream, _)) => authentic(d, d.gate.admit(stream, &d.epoll)),
                    Err(e) => Some(Err(e)),
                }
            } else if let Some(step) = d.gate.ready(ready, &d.epoll) {
                authentic(d, step)
            } else {
                let mut idle = d.idle.lock().unwrap_or_else(|e| e.into_inner());
                let at = idle.iter().position(|c| c.raw_fd() == ready);
                let conn = at.map(|i| idle.swap_remove(i));
                drop(idle);
                conn.map(|c| {
                    now_busy(d);
                    Ok(c)
                })
            }
        };
        match job {
            None => {}
            Some(Ok(conn)) => {
                if let Some(conn) = serve_connection(conn, d) {
                    keep_idle(d, conn);
                }
            }
            Some(Err(e))
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::Interrupted
                ) => {}
            Some(Err(e)) => {
                log::server(
                    ffi::APLOG_ERR,
                    None,
                    &format!("accept on {} failed: {}", g.socket_path, e),
                );
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

/// An authenticated new connection, counted busy and set up as the
/// group's connections are.
fn authentic(d: &Daemon, step: Step) -> Option<std::io::Result<FramedConn>> {
    match step {
        Step::Request(conn) => {
            now_busy(d);
            Some(Ok(set_up(conn, &d.group)))
        }
        Step::Nothing => None,
    }
}

/// Counts a request in flight. When that leaves no worker free, the idle
/// connections are handed back (Retry, then closed): their next requests
/// then come as new connections, which any process of the group with a
/// free worker takes, instead of waiting here.
pub(super) fn now_busy(d: &Daemon) {
    let active = d.active.fetch_add(1, Ordering::SeqCst) + 1;
    if active >= d.group.spec.threads.max(1) as usize {
        close_idle(d);
    }
}

/// The daemon's send buffer when send-buffer-size= is not given: a 1 MiB
/// response fits in about one buffer, so the daemon thread and the Apache
/// child hand over a few times per response instead of once per ~200 KiB
/// (docs/benchmarks.md: stream1m).
pub(super) const DEFAULT_SEND_BUFFER: u32 = 1 << 20;

/// A connection just authenticated (accepted sockets do not inherit the
/// listener's buffer sizes), with the group's socket timeouts and buffer
/// sizes.
pub(super) fn set_up(conn: FramedConn, g: &DaemonGroup) -> FramedConn {
    let send = match g.spec.send_buffer_size {
        0 => DEFAULT_SEND_BUFFER,
        n => n,
    };
    if let Err(e) = conn.set_buffer_sizes(send, g.spec.receive_buffer_size) {
        log::server(
            ffi::APLOG_WARNING,
            None,
            &format!(
                "daemon process group '{}': cannot set the socket buffer sizes ({} / {}): {}",
                g.spec.name, send, g.spec.receive_buffer_size, e
            ),
        );
    }
    let timeout = Some(if g.spec.socket_timeout.is_zero() {
        Duration::from_secs(300)
    } else {
        g.spec.socket_timeout
    });
    let _ = conn.set_timeouts(timeout, timeout);
    conn
}

/// Puts a connection back for its next request (or closes it when the
/// process is stopping or enough are kept already), armed in the epoll set
/// for one event.
pub(super) fn keep_idle(d: &Daemon, mut conn: FramedConn) {
    let mut idle = d.idle.lock().unwrap_or_else(|e| e.into_inner());
    if d.stop_accepting.load(Ordering::SeqCst) || idle.len() >= MAX_IDLE {
        // The child may reuse it at once: Retry sends that request elsewhere.
        let _ = conn.send(&Frame::Retry);
        return;
    }
    let fd = conn.raw_fd();
    idle.push(conn);
    drop(idle);
    d.epoll.arm_once(fd);
}

/// Whether a request is waiting on an idle connection.
pub(super) fn idle_request_waiting(d: &Daemon) -> bool {
    let idle = d.idle.lock().unwrap_or_else(|e| e.into_inner());
    let fds: Vec<RawFd> = idle.iter().map(|c| c.raw_fd()).collect();
    os::readable(&fds, 0).into_iter().any(|r| r)
}

/// When the process stops taking requests: each idle connection is told to
/// send its next request elsewhere (Retry), then closed.
pub(super) fn close_idle(d: &Daemon) {
    let idle = std::mem::take(&mut *d.idle.lock().unwrap_or_else(|e| e.into_inner()));
    for mut conn in idle {
        let _ = conn.send(&Frame::Retry);
    }
}

/// Keeps serving until no request is in flight and none is waiting on the
/// socket, or graceful-timeout passes; then stops accepting for good and
/// lets whatever was accepted meanwhile finish (within the same timeout).
/// Stops taking requests and waits up to `budget` for those in flight
/// (the shutdown's join phase); returns how many are still running.
/// (Workers check stop_accepting first thing under the lock and leave;
/// stop_accepting takes the lock once, so no accept is half done.)
pub(super) fn join_in_flight(d: &Daemon, budget: Duration) -> usize {
    let t0 = std::time::Instant::now();
    stop_accepting(d);
    close_idle(d);
    while d.active() > 0 && t0.elapsed() < budget {
        std::thread::sleep(Duration::from_millis(10));
    }
    d.active()
}

pub(super) fn drain(d: &Daemon, timeout: Duration, serve_queued: bool) -> Duration {
    let g = &*d.group;
    let t0 = std::time::Instant::now();
    let in_time = || t0.elapsed() < timeout;
    let waiting = || {
        if !serve_queued {
            return false;
        }
        let listener_ready = os::readable(&[g.listener], 0)[0];
        listener_ready || idle_request_waiting(d)
    };
    while (d.active() > 0 || waiting()) && in_time() {
        std::thread::sleep(Duration::from_millis(20));
    }
    // Connections still queued are refused when we exit, and the relay
    // retries those elsewhere.
    let still = join_in_flight(d, timeout.saturating_sub(t0.elapsed()));
    log::server(
        ffi::APLOG_INFO,
        None,
        &format!(
            "drained after {}ms ({} request(s) still in flight)",
            t0.elapsed().as_millis(),
            still
        ),
    );
    t0.elapsed()
}
