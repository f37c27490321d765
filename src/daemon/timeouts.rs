//! request-timeout in a daemon: the requests in flight as the main thread
//! sees them, and the interrupt (mod_wsgi.RequestTimeout) that
//! interrupt-timeout sends to an overdue request's thread first.

#![forbid(unsafe_code)]

use super::state::{Daemon, RequestSlot};
use crate::apache::{ffi, log};
use pyhost::runtime;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use wsgi_core::stop::StopReason;

/// How long the oldest request in flight has been running.
pub(super) fn oldest_request(d: &Daemon) -> Option<Duration> {
    let slots = d.in_flight.lock().unwrap_or_else(|e| e.into_inner());
    slots.iter().map(|s| s.started.elapsed()).max()
}

/// Requests past request-timeout. Without interrupt-timeout the process
/// restarts at once. With it, each overdue request's thread first gets a
/// `mod_wsgi.RequestTimeout` exception (only that thread: the others go
/// on), and the process restarts only if the request is still running
/// interrupt-timeout later (an exception cannot reach a thread blocked in C).
pub(super) fn overdue_requests(d: &Daemon) -> Option<StopReason> {
    let spec = &d.group.spec;
    let overdue: Vec<Arc<RequestSlot>> = d
        .in_flight
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .filter(|s| s.started.elapsed() >= spec.request_timeout)
        .cloned()
        .collect();
    for slot in overdue {
        if spec.interrupt_timeout.is_zero() {
            return Some(StopReason::RequestTimeout);
        }
        let mut asked = slot
            .interrupt_asked
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        match *asked {
            Some(t) if t.elapsed() >= spec.interrupt_timeout => {
                return Some(StopReason::RequestTimeoutUninterrupted)
            }
            Some(_) => {}
            None => {
                *asked = Some(std::time::Instant::now());
                interrupt(slot.clone());
            }
        }
    }
    None
}

/// Injects `mod_wsgi.RequestTimeout` into the thread serving `slot`, from a
/// thread of its own: taking the GIL may block (that is deadlock-timeout's
/// business), and the main thread must never wait for it.
pub(super) fn interrupt(slot: Arc<RequestSlot>) {
    let request = slot.request.get().cloned().unwrap_or_default();
    log::daemon_request(
        ffi::APLOG_WARNING,
        None,
        &request,
        "request ran longer than request-timeout: raising mod_wsgi.RequestTimeout in its thread",
    );
    let _ = std::thread::Builder::new()
        .name("wsgi-interrupt".into())
        .spawn(move || {
            let Some(group) = slot.app_group.get() else {
                return;
            };
            let _ = runtime::with_interpreter(group, |_| {
                // Under the GIL, as the worker's "done" is set: an exception
                // is never left pending for the thread's next request.
                if !slot.done.load(Ordering::SeqCst) {
                    runtime::raise_in_thread(slot.thread, Some("RequestTimeout"));
                    slot.injected.store(true, Ordering::SeqCst);
                }
            });
        });
}
