//! A daemon's worker threads: the one holding the accept lock waits on the
//! group's socket and the idle kept connections, takes the next request
//! and counts it in flight; draining and joining when the process stops.

use super::conn::FramedConn;
use super::group::DaemonGroup;
use super::process::ACTIVE;
use super::serve::serve_connection;
use crate::apache::{ffi, log};
use std::os::fd::RawFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use wsgi_core::protocol::Frame;

/// Taking a connection and counting it as in flight happen under this lock,
/// and so does the drain's idle check: a connection can never be accepted
/// but not yet counted when the daemon decides it is idle and leaves.
pub(super) static ACCEPT_LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
pub(super) static STOP_ACCEPTING: AtomicBool = AtomicBool::new(false);

/// Connections from Apache children between two requests, by descriptor.
/// The worker that holds ACCEPT_LOCK waits on them and on the listening
/// socket with one epoll set, so an idle connection never ties up a
/// worker; the next request on one is served like a new connection. Each
/// is armed one-shot when put back: the waiting worker sees it without
/// being woken to rebuild a list.
pub(super) static IDLE: std::sync::Mutex<Vec<FramedConn>> = std::sync::Mutex::new(Vec::new());
pub(super) const MAX_IDLE: usize = 64;
pub(super) static EPOLL: std::sync::OnceLock<RawFd> = std::sync::OnceLock::new();
/// An eventfd in the epoll set, written once when the process stops taking
/// requests, so the waiting worker sees STOP_ACCEPTING at once.
pub(super) static STOP_EVENT: std::sync::OnceLock<RawFd> = std::sync::OnceLock::new();

/// The process's epoll set, with the listening socket and the stop event
/// in it (both level-triggered).
pub(super) fn epoll_set(listener: RawFd) -> RawFd {
    *EPOLL.get_or_init(|| {
        // SAFETY: creating a private epoll descriptor and eventfd, adding
        // them and our own listening socket.
        unsafe {
            let ep = libc::epoll_create1(libc::EPOLL_CLOEXEC);
            let stop = *STOP_EVENT
                .get_or_init(|| libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK));
            for fd in [listener, stop] {
                let mut ev = libc::epoll_event {
                    events: libc::EPOLLIN as u32,
                    u64: fd as u64,
                };
                libc::epoll_ctl(ep, libc::EPOLL_CTL_ADD, fd, &mut ev);
            }
            ep
        }
    })
}

/// Stops taking requests: the waiting worker wakes and leaves, and once
/// the lock is ours no connection is half taken.
pub(super) fn stop_accepting() {
    STOP_ACCEPTING.store(true, Ordering::SeqCst);
    if let Some(&fd) = STOP_EVENT.get() {
        // SAFETY: an 8-byte write to our own eventfd (never read: it stays
        // readable, so every worker that waits afterwards wakes at once).
        unsafe { libc::write(fd, (&1u64 as *const u64).cast(), 8) };
    }
    drop(ACCEPT_LOCK.lock().unwrap_or_else(|e| e.into_inner()));
}

pub(super) fn accept_loop(listener: &UnixListener, g: &DaemonGroup) {
    let ep = epoll_set(g.listener);
    loop {
        // Only the thread holding the lock waits (as Apache's own accept
        // mutex does): one wake-up per request, no herd.
        let job = {
            let _lock = ACCEPT_LOCK.lock().unwrap_or_else(|e| e.into_inner());
            if STOP_ACCEPTING.load(Ordering::SeqCst) {
                return;
            }
            let mut ev = libc::epoll_event { events: 0, u64: 0 };
            // SAFETY: waiting on our epoll set for one event, at most 100 ms
            // (so a drain check waiting for the lock is not held up long).
            if unsafe { libc::epoll_wait(ep, &mut ev, 1, 100) } <= 0 {
                continue;
            }
            let ready = ev.u64 as RawFd;
            if Some(&ready) == STOP_EVENT.get() {
                return;
            }
            if ready == g.listener {
                match listener.accept() {
                    Ok((stream, _)) => {
                        now_busy(g);
                        Some(Ok(new_conn(stream, g)))
                    }
                    Err(e) => Some(Err(e)),
                }
            } else {
                let mut idle = IDLE.lock().unwrap_or_else(|e| e.into_inner());
                let at = idle.iter().position(|c| c.raw_fd() == ready);
                let conn = at.map(|i| idle.swap_remove(i));
                drop(idle);
                conn.map(|c| {
                    now_busy(g);
                    Ok(c)
                })
            }
        };
        match job {
            None => {}
            Some(Ok(conn)) => {
                if let Some(conn) = serve_connection(conn, g) {
                    keep_idle(conn, ep);
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
                    std::ptr::null(),
                    &format!("accept on {} failed: {}", g.socket_path, e),
                );
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

/// Counts a request in flight. When that leaves no worker free, the idle
/// connections are handed back (Retry, then closed): their next requests
/// then come as new connections, which any process of the group with a
/// free worker takes, instead of waiting here.
pub(super) fn now_busy(g: &DaemonGroup) {
    let active = ACTIVE.fetch_add(1, Ordering::SeqCst) + 1;
    if active >= g.spec.threads.max(1) as usize {
        close_idle();
    }
}

/// The daemon's send buffer when send-buffer-size= is not given: a 1 MiB
/// response fits in about one buffer, so the daemon thread and the Apache
/// child hand over a few times per response instead of once per ~200 KiB
/// (docs/benchmarks.md: stream1m).
pub(super) const DEFAULT_SEND_BUFFER: u32 = 1 << 20;

/// A connection just accepted (accepted sockets do not inherit the
/// listener's O_NONBLOCK, nor its buffer sizes), with the group's socket
/// timeouts and buffer sizes.
pub(super) fn new_conn(stream: UnixStream, g: &DaemonGroup) -> FramedConn {
    let conn = FramedConn::new(stream);
    let send = match g.spec.send_buffer_size {
        0 => DEFAULT_SEND_BUFFER,
        n => n,
    };
    if let Err(e) = conn.set_buffer_sizes(send, g.spec.receive_buffer_size) {
        log::server(
            ffi::APLOG_WARNING,
            std::ptr::null(),
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
pub(super) fn keep_idle(mut conn: FramedConn, ep: RawFd) {
    let mut idle = IDLE.lock().unwrap_or_else(|e| e.into_inner());
    if STOP_ACCEPTING.load(Ordering::SeqCst) || idle.len() >= MAX_IDLE {
        // The child may reuse it at once: Retry sends that request elsewhere.
        let _ = conn.send(&Frame::Retry);
        return;
    }
    let fd = conn.raw_fd();
    idle.push(conn);
    drop(idle);
    let mut ev = libc::epoll_event {
        events: (libc::EPOLLIN | libc::EPOLLONESHOT) as u32,
        u64: fd as u64,
    };
    // SAFETY: (re-)arming our own descriptor in our epoll set. A closed
    // descriptor leaves the set by itself, so a number seen before may be
    // a new connection: MOD fails with ENOENT and it is added.
    unsafe {
        if libc::epoll_ctl(ep, libc::EPOLL_CTL_MOD, fd, &mut ev) != 0 {
            libc::epoll_ctl(ep, libc::EPOLL_CTL_ADD, fd, &mut ev);
        }
    }
}

/// Whether a request is waiting on an idle connection.
pub(super) fn idle_request_waiting() -> bool {
    let idle = IDLE.lock().unwrap_or_else(|e| e.into_inner());
    let mut pfds: Vec<libc::pollfd> = idle
        .iter()
        .map(|c| libc::pollfd {
            fd: c.raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    // SAFETY: a zero-timeout poll on descriptors we own.
    !pfds.is_empty() && unsafe { libc::poll(pfds.as_mut_ptr(), pfds.len() as _, 0) } > 0
}

/// When the process stops taking requests: each idle connection is told to
/// send its next request elsewhere (Retry), then closed.
pub(super) fn close_idle() {
    let idle = std::mem::take(&mut *IDLE.lock().unwrap_or_else(|e| e.into_inner()));
    for mut conn in idle {
        let _ = conn.send(&Frame::Retry);
    }
}

/// Keeps serving until no request is in flight and none is waiting on the
/// socket, or graceful-timeout passes; then stops accepting for good and
/// lets whatever was accepted meanwhile finish (within the same timeout).
/// Stops taking requests and waits up to `budget` for those in flight
/// (the shutdown's join phase); returns how many are still running.
/// (Workers check STOP_ACCEPTING first thing under the lock and leave;
/// stop_accepting takes the lock once, so no accept is half done.)
pub(super) fn join_in_flight(budget: Duration) -> usize {
    let t0 = std::time::Instant::now();
    stop_accepting();
    close_idle();
    while ACTIVE.load(Ordering::SeqCst) > 0 && t0.elapsed() < budget {
        std::thread::sleep(Duration::from_millis(10));
    }
    ACTIVE.load(Ordering::SeqCst)
}

pub(super) fn drain(g: &DaemonGroup, timeout: Duration, serve_queued: bool) -> Duration {
    let t0 = std::time::Instant::now();
    let in_time = || t0.elapsed() < timeout;
    let waiting = || {
        if !serve_queued {
            return false;
        }
        let mut pfd = libc::pollfd {
            fd: g.listener,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: a zero-timeout poll on our listening socket.
        let listener_ready = unsafe { libc::poll(&mut pfd, 1, 0) > 0 };
        listener_ready || idle_request_waiting()
    };
    while (ACTIVE.load(Ordering::SeqCst) > 0 || waiting()) && in_time() {
        std::thread::sleep(Duration::from_millis(20));
    }
    // Connections still queued are refused when we exit, and the relay
    // retries those elsewhere.
    let still = join_in_flight(timeout.saturating_sub(t0.elapsed()));
    log::server(
        ffi::APLOG_INFO,
        std::ptr::null(),
        &format!(
            "drained after {}ms ({} request(s) still in flight)",
            t0.elapsed().as_millis(),
            still
        ),
    );
    t0.elapsed()
}
