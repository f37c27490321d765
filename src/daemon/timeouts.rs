//! request-timeout in a daemon: the requests in flight as the main thread
//! sees them, and the interrupt (mod_wsgi.RequestTimeout) that
//! interrupt-timeout sends to an overdue request's thread first.

use super::health::StopReason;
use crate::apache::{ffi, log};
use pyhost::runtime;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// The requests in flight (request-timeout). Never locked with the GIL held.
pub(super) static IN_FLIGHT: std::sync::Mutex<Vec<Arc<RequestSlot>>> =
    std::sync::Mutex::new(Vec::new());
pub(super) static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// One request in flight, as the main thread sees it.
pub(super) struct RequestSlot {
    pub(super) id: u64,
    pub(super) started: std::time::Instant,
    /// The serving thread (Python's thread ident is its pthread id).
    pub(super) thread: libc::pthread_t,
    pub(super) app_group: std::sync::OnceLock<String>,
    pub(super) request: std::sync::OnceLock<log::DaemonRequest>,
    /// When the main thread asked for an interrupt (interrupt-timeout).
    pub(super) interrupt_asked: std::sync::Mutex<Option<std::time::Instant>>,
    /// Set under the GIL: the exception was injected / the app returned.
    pub(super) injected: AtomicBool,
    pub(super) done: AtomicBool,
}

/// How long the oldest request in flight has been running.
pub(super) fn oldest_request() -> Option<Duration> {
    let slots = IN_FLIGHT.lock().unwrap_or_else(|e| e.into_inner());
    slots.iter().map(|s| s.started.elapsed()).max()
}

/// Requests past request-timeout. Without interrupt-timeout the process
/// restarts at once. With it, each overdue request's thread first gets a
/// `mod_wsgi.RequestTimeout` exception (only that thread: the others go
/// on), and the process restarts only if the request is still running
/// interrupt-timeout later (an exception cannot reach a thread blocked in C).
pub(super) fn overdue_requests(spec: &wsgi_core::DaemonProcessSpec) -> Option<StopReason> {
    let overdue: Vec<Arc<RequestSlot>> = IN_FLIGHT
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .filter(|s| s.started.elapsed() >= spec.request_timeout)
        .cloned()
        .collect();
    for slot in overdue {
        if spec.interrupt_timeout.is_zero() {
            return Some((
                "request_timeout",
                "a request ran longer than request-timeout",
            ));
        }
        let mut asked = slot
            .interrupt_asked
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        match *asked {
            Some(t) if t.elapsed() >= spec.interrupt_timeout => {
                return Some((
                    "request_timeout",
                    "a request ran longer than request-timeout and did not stop when interrupted",
                ))
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
        std::ptr::null(),
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
