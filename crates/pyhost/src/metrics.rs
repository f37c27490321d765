//! The process's counters behind mod_wsgi 6's metrics API: whether an
//! application asked for recording (`start_recording_metrics`), and the
//! lifetime totals `process_metrics()` reports. Atomics only: counting
//! costs a few relaxed adds per request.

#![forbid(unsafe_code)]

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

static RECORDING: AtomicBool = AtomicBool::new(false);
static STARTED: OnceLock<f64> = OnceLock::new();
static REQUESTS: AtomicU64 = AtomicU64::new(0);
static BUSY_US: AtomicU64 = AtomicU64::new(0);
static ACTIVE: AtomicI64 = AtomicI64::new(0);
static THREADS: AtomicU64 = AtomicU64::new(0);

thread_local! {
    static SEEN: Cell<bool> = const { Cell::new(false) };
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// When Python started in this process (process_metrics' restart_time).
pub fn note_process_start() {
    let _ = STARTED.set(now());
}

/// `start_recording_metrics()`: idempotent.
pub fn start_recording() {
    RECORDING.store(true, Ordering::SeqCst);
}

pub fn recording() -> bool {
    RECORDING.load(Ordering::Relaxed)
}

/// A request began on this thread.
pub fn request_started() {
    ACTIVE.fetch_add(1, Ordering::Relaxed);
    if !SEEN.with(|s| s.replace(true)) {
        THREADS.fetch_add(1, Ordering::Relaxed);
    }
}

/// A request ended after `busy`.
pub fn request_finished(busy: Duration) {
    ACTIVE.fetch_sub(1, Ordering::Relaxed);
    REQUESTS.fetch_add(1, Ordering::Relaxed);
    BUSY_US.fetch_add(busy.as_micros() as u64, Ordering::Relaxed);
}

/// The lifetime totals: (restart_time, request_count, request_busy_time
/// in seconds, active requests, request threads seen).
pub fn totals() -> (f64, u64, f64, i64, u64) {
    (
        STARTED.get().copied().unwrap_or_else(now),
        REQUESTS.load(Ordering::Relaxed),
        BUSY_US.load(Ordering::Relaxed) as f64 / 1e6,
        ACTIVE.load(Ordering::Relaxed).max(0),
        THREADS.load(Ordering::Relaxed),
    )
}
