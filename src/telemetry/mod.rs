//! mod_wsgi 6's telemetry reporter (`WSGITelemetryService`): in every
//! process that runs WSGI requests (each daemon process, each Apache child
//! unless `WSGIRestrictEmbedded On`), one thread sends a datagram per
//! interval to the ingester's UNIX socket, with the slow requests
//! (`WSGISlowRequests`) after it; the process's start and stop are sent as
//! they happen. The datagrams are mod_wsgi's (`records.rs`), so the
//! `mod_wsgi-telemetry` ingester reads them unchanged.
//!
//! Sending never blocks and never fails a request: a missing ingester or a
//! full socket drops the datagram, as in mod_wsgi.

#![forbid(unsafe_code)]

mod records;
mod reporter;

pub use reporter::Settings;

use records::Stopped;
use reporter::Reporter;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};

static REPORTER: OnceLock<Reporter> = OnceLock::new();
static STOPPING_SENT: AtomicBool = AtomicBool::new(false);
static STOPPED_SENT: AtomicBool = AtomicBool::new(false);
/// Whether the process has decided to stop. A reporter starts (and says
/// `process_started`) only under this lock and only before that decision,
/// so a process that said it started always says it stopped: a prefork
/// child stopped while it was still starting says neither.
static STOP_DECIDED: Mutex<bool> = Mutex::new(false);

/// Starts the reporter in this process (after Python was initialised).
pub fn start(s: Settings) {
    let decided = STOP_DECIDED.lock().unwrap_or_else(|e| e.into_inner());
    if *decided || REPORTER.get().is_some() {
        return;
    }
    match Reporter::new(s) {
        Ok(r) => {
            let r = REPORTER.get_or_init(|| r);
            r.spawn();
        }
        Err(e) => crate::apache::log::server(
            crate::apache::ffi::APLOG_WARNING,
            None,
            &format!("telemetry reporter not started: {e}; no telemetry is sent from this process"),
        ),
    }
}

/// The process decided to stop (once; before it drains).
pub fn stopping(reason: &str) {
    *STOP_DECIDED.lock().unwrap_or_else(|e| e.into_inner()) = true;
    let Some(r) = REPORTER.get() else { return };
    if !STOPPING_SENT.swap(true, Ordering::SeqCst) {
        r.send_stopping(reason, pyhost::metrics::active());
    }
}

/// The process is about to end: the interval so far, then STOPPED (once).
/// `flush`: false on a forced exit, where only STOPPED is sent.
pub fn stopped(reason: &str, active_at_exit: u64, flush: bool) {
    stopping(reason);
    let Some(r) = REPORTER.get() else { return };
    if STOPPED_SENT.swap(true, Ordering::SeqCst) {
        return;
    }
    if flush {
        r.final_tick();
    }
    r.send_stopped(&Stopped {
        reason,
        uptime: r.uptime(),
        lifetime_requests: pyhost::metrics::totals().1,
        active_at_exit,
    });
}
