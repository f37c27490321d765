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
/// An external reporter (WSGITelemetryService) takes the intervals: the
/// Python accessors then return None, as in mod_wsgi.
static EXTERNAL: AtomicBool = AtomicBool::new(false);
static STARTED: OnceLock<f64> = OnceLock::new();
static REQUESTS: AtomicU64 = AtomicU64::new(0);
static BUSY_US: AtomicU64 = AtomicU64::new(0);
static ACTIVE: AtomicI64 = AtomicI64::new(0);
static THREADS: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// This thread's request-thread slot, from 1 (0: none yet).
    static SLOT: Cell<usize> = const { Cell::new(0) };
}

/// When each slot's request in flight began (µs since the epoch), for
/// the in-flight tail of busy time and request_threads_current_elapsed.
static IN_FLIGHT: std::sync::Mutex<Vec<u64>> = std::sync::Mutex::new(Vec::new());

/// This thread's slot (mod_wsgi.thread_id), assigned on first use.
pub fn thread_slot() -> usize {
    SLOT.with(|s| {
        if s.get() == 0 {
            s.set(THREADS.fetch_add(1, Ordering::Relaxed) as usize + 1);
        }
        s.get()
    })
}

/// Request threads that have served a request.
pub fn threads_started() -> u64 {
    THREADS.load(Ordering::Relaxed)
}

fn in_flight() -> std::sync::MutexGuard<'static, Vec<u64>> {
    IN_FLIGHT.lock().unwrap_or_else(|e| e.into_inner())
}

/// While recording: the slot's request began at `start_us` (0: ended).
pub fn mark_in_flight(slot: usize, start_us: u64) {
    let mut v = in_flight();
    if v.len() < slot {
        v.resize(slot, 0);
    }
    if slot >= 1 {
        v[slot - 1] = start_us;
    }
}

/// The start (µs) of each slot's request in flight (0: idle).
pub fn in_flight_starts() -> Vec<u64> {
    in_flight().clone()
}

pub fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// When Python started in this process (process_metrics' restart_time).
pub fn note_process_start() {
    let _ = STARTED.set(now());
}

/// `start_recording_metrics()`: idempotent.
pub fn start_recording(cpu: (f64, f64)) {
    if !RECORDING.swap(true, Ordering::SeqCst) {
        super::metrics_interval::begin(now(), cpu);
    }
}

/// Now in µs since the epoch.
pub fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// The telemetry reporter owns the metrics from now on.
pub fn set_external() {
    EXTERNAL.store(true, Ordering::SeqCst);
}

pub fn external() -> bool {
    EXTERNAL.load(Ordering::Relaxed)
}

/// Requests in flight now.
pub fn active() -> u64 {
    ACTIVE.load(Ordering::Relaxed).max(0) as u64
}

pub fn recording() -> bool {
    RECORDING.load(Ordering::Relaxed)
}

/// A request began on this thread.
pub fn request_started() {
    ACTIVE.fetch_add(1, Ordering::Relaxed);
    thread_slot();
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
