//! Serving one request in a daemon: the checked Request frame, the
//! queue-timeout and script-reload decisions, Accepted, then the WSGI
//! application over the connection.

#![forbid(unsafe_code)]

use super::conn::FramedConn;
use super::daemon_io::DaemonIo;
use super::incoming::Incoming;
use super::state::Daemon;
use super::state::RequestSlot;
use crate::apache::{ffi, log};
use crate::os::daemon_signals as signals;
use pyhost::runtime;
use pyhost::wsgi_call::{self, Outcome};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use wsgi_core::protocol::{Frame, T_REQUEST};

/// Whether `script` has changed since this process first ran it (the
/// modification time Apache saw, in ns; 0 = unknown).
fn script_changed(d: &Daemon, script: &str, mtime: i64) -> bool {
    if mtime == 0 {
        return false;
    }
    let mut seen = d.script_mtimes.lock().unwrap_or_else(|e| e.into_inner());
    match seen.iter().find(|(s, _)| s == script) {
        Some((_, first)) => *first != mtime,
        None => {
            seen.push((script.to_string(), mtime));
            false
        }
    }
}

/// Serves one request that an Apache child sent over `stream`.
/// Counts a request in flight for request-timeout and draining, and as
/// done when dropped; a connection that closed without a request (an
/// Apache child dropping an idle connection) does not count as served.
struct InFlight<'d> {
    d: &'d Daemon,
    slot: Arc<RequestSlot>,
    served: bool,
    /// Counts for inactivity-timeout (not under WSGIIgnoreActivity).
    activity: bool,
}

impl<'d> InFlight<'d> {
    /// (`active` was counted up by the accept loop, under `accept_lock`.)
    fn begin(d: &'d Daemon) -> InFlight<'d> {
        let slot = Arc::new(RequestSlot {
            id: d.next_id.fetch_add(1, Ordering::SeqCst),
            started: std::time::Instant::now(),
            thread: crate::os::thread_id(),
            app_group: std::sync::OnceLock::new(),
            request: std::sync::OnceLock::new(),
            interrupt_asked: std::sync::Mutex::new(None),
            injected: AtomicBool::new(false),
            done: AtomicBool::new(false),
        });
        d.in_flight
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(slot.clone());
        InFlight {
            d,
            slot,
            served: false,
            activity: true,
        }
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        let id = self.slot.id;
        self.d
            .in_flight
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|s| s.id != id);
        if self.served {
            self.d.note_done(self.activity);
        }
        self.d.active.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Serves one request that an Apache child sent over `conn`; the
/// connection back when it can carry the next one.
pub(super) fn serve_connection(mut conn: FramedConn, d: &Daemon) -> Option<FramedConn> {
    let mut in_flight = InFlight::begin(d);
    // The environ borrows the request's payload: one copy, one allocation.
    let payload = match conn.recv_raw() {
        Ok((T_REQUEST, payload)) => payload,
        Ok(_) | Err(_) => return None,
    };
    let incoming = match super::incoming::check(&payload, &d.group) {
        Ok(i) => i,
        Err(refused) => {
            refuse(&mut conn, refused);
            return None;
        }
    };
    in_flight.served = true;
    in_flight.activity = !incoming.ignores_activity();
    if queued_too_long(&mut conn, d, &incoming) || reload_first(&mut conn, d, &incoming) {
        return None;
    }
    run(conn, d, &in_flight.slot, &incoming)
}

/// queue-timeout: a request that waited too long for a free thread gets
/// 503 without running.
fn queued_too_long(conn: &mut FramedConn, d: &Daemon, incoming: &Incoming) -> bool {
    let limit = d.group.spec.queue_timeout;
    let waited = incoming.queued_for();
    if limit.is_zero() || waited <= limit {
        return false;
    }
    let _ = conn.send(&Frame::Error {
        status: 503,
        message: format!(
            "request {} waited {:.1}s for a free daemon thread, more than queue-timeout ({:?}); answered 503 without running the application",
            incoming.request.id,
            waited.as_secs_f64(),
            limit
        )
        .into_bytes(),
    });
    true
}

/// mod_wsgi's daemon-mode reloading: a changed script restarts the
/// process, so the new code starts with fresh modules. The request goes
/// back to the relay (Retry), which sends it again; it is served by
/// another process or this one's replacement.
fn reload_first(conn: &mut FramedConn, d: &Daemon, incoming: &Incoming) -> bool {
    let target = &incoming.target;
    if !target.reload || !script_changed(d, &target.script, target.script_mtime_ns) {
        return false;
    }
    if !d.stop_accepting.swap(true, Ordering::SeqCst) {
        log::daemon_request(
            ffi::APLOG_INFO,
            None,
            &incoming.request,
            &format!(
                "{} changed: restarting this process to load it",
                target.script
            ),
        );
        signals::notify(signals::SCRIPT_CHANGED);
    }
    let _ = conn.send(&Frame::Retry);
    true
}

/// Runs the application for an accepted request.
fn run(
    mut conn: FramedConn,
    d: &Daemon,
    slot: &RequestSlot,
    incoming: &Incoming,
) -> Option<FramedConn> {
    let g = &*d.group;
    let request = incoming.request.clone();
    let target = &incoming.target;
    // From here on the request runs: the child never sends it again. If
    // the child already gave up on it (queue-timeout), this fails and
    // nothing runs.
    if conn.send(&Frame::Accepted).is_err() {
        return None;
    }
    let _ = slot.app_group.set(target.application_group.clone());
    let _ = slot.request.set(request.clone());
    let chan = DaemonIo {
        conn,
        request: request.clone(),
        server: incoming.vhost(),
        body_done: false,
        eager: incoming.eager_body(),
        pending: Vec::new(),
    };
    let environ = &incoming.environ;
    let outcome = wsgi_call::run_app(chan, target, environ);
    if !g.spec.interrupt_timeout.is_zero() {
        // Under the GIL, so an interrupt cannot land after this point; one
        // that landed too late to be raised is withdrawn.
        let _ = runtime::with_interpreter(&target.application_group, |_| {
            slot.done.store(true, Ordering::SeqCst);
            if slot.injected.load(Ordering::SeqCst) {
                runtime::raise_in_thread(slot.thread, None);
            }
        });
    }
    match outcome {
        Ok((
            Outcome::Failed {
                headers_sent: false,
            },
            Some(DaemonIo { mut conn, .. }),
        )) => {
            let _ = conn.send(&Frame::Error {
                status: 500,
                message: b"the WSGI application failed (its traceback is in the error log)"
                    .to_vec(),
            });
            None
        }
        // A complete exchange that left nothing unread can carry the next
        // request (DaemonIo::reusable).
        Ok((Outcome::Done, Some(io))) if io.reusable() => Some(io.conn),
        // Complete, but unread body bytes remain: the child may already be
        // sending its next request on this connection; Retry tells it to
        // use another (see docs/protocol.md) before we close.
        Ok((Outcome::Done, Some(DaemonIo { mut conn, .. }))) => {
            let _ = conn.send(&Frame::Retry);
            None
        }
        Ok(_) => None,
        Err(e) => {
            log::daemon_request(ffi::APLOG_ERR, None, &request, &e);
            None
        }
    }
}

/// Answers a refused request (or just closes it) and logs who sent it.
pub(super) fn refuse(conn: &mut FramedConn, refused: super::incoming::Refused) {
    let peer = super::socket::peer(conn.raw_fd())
        .map(|c| format!("pid {} uid {}", c.pid, c.uid))
        .unwrap_or_else(|_| "an unknown peer".into());
    log::server(
        ffi::APLOG_ERR,
        None,
        &format!("refused {} from {}; nothing was run", refused.why, peer),
    );
    if let Some((status, message)) = refused.answer {
        let _ = conn.send(&Frame::Error {
            status,
            message: message.into_bytes(),
        });
    }
}
