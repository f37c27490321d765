//! A daemon process's health, as its main thread checks it every 100 ms:
//! CPU time (`cpu-time-limit`), memory (`memory-limit`,
//! `virtual-memory-limit`, `maximum-rss`), a GIL heartbeat (`deadlock-timeout`) and
//! whether the WSGI script ever loaded (`startup-timeout`). Each check is
//! enforced whatever else is configured, and names the reason it stops for.

#![forbid(unsafe_code)]

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};
use wsgi_core::DaemonProcessSpec;

pub use wsgi_core::stop::StopReason;

static EPOCH: OnceLock<Instant> = OnceLock::new();
/// When a thread last got the GIL (ms since EPOCH).
static GIL_SEEN_MS: AtomicU64 = AtomicU64::new(0);
/// When loading the WSGI script first failed with no success yet (ms since
/// EPOCH, plus one so that 0 means "not failing").
static SCRIPT_FAILING_SINCE: AtomicU64 = AtomicU64::new(0);
static SCRIPT_LOADED: AtomicBool = AtomicBool::new(false);

fn now_ms() -> u64 {
    EPOCH.get_or_init(Instant::now).elapsed().as_millis() as u64
}

/// Called from Python each time a WSGI script is loaded (or fails to).
pub fn note_script_load(ok: bool) {
    if ok {
        SCRIPT_LOADED.store(true, Ordering::SeqCst);
        SCRIPT_FAILING_SINCE.store(0, Ordering::SeqCst);
    } else if !SCRIPT_LOADED.load(Ordering::SeqCst) {
        let _ = SCRIPT_FAILING_SINCE.compare_exchange(
            0,
            now_ms() + 1,
            Ordering::SeqCst,
            Ordering::SeqCst,
        );
    }
}

/// A thread that takes each GIL once a second and notes when it got them. If
/// some thread holds the GIL without end (a C extension stuck without
/// releasing it), the note stops moving and `check` sees a deadlock.
pub fn start_gil_heartbeat(spec: &DaemonProcessSpec) {
    GIL_SEEN_MS.store(now_ms(), Ordering::SeqCst);
    if spec.deadlock_timeout.is_zero() {
        return;
    }
    let period =
        (spec.deadlock_timeout / 4).clamp(Duration::from_millis(100), Duration::from_secs(1));
    let _ = std::thread::Builder::new()
        .name("wsgi-gil-heartbeat".into())
        .spawn(move || loop {
            // Every interpreter, the main one first: one with its own GIL
            // (WSGIPerInterpreterGIL) can be stuck while the shared GIL is
            // free, and then this thread waits there and the note goes stale.
            let all = pyhost::runtime::interpreter_names()
                .iter()
                .rev()
                .all(|name| pyhost::runtime::with_interpreter(name, |_| ()).is_ok());
            if all {
                GIL_SEEN_MS.store(now_ms(), Ordering::SeqCst);
            }
            std::thread::sleep(period);
        });
}

/// The first health limit this process is over, if any.
pub fn check(spec: &DaemonProcessSpec) -> Option<StopReason> {
    if !spec.deadlock_timeout.is_zero()
        && Duration::from_millis(now_ms().saturating_sub(GIL_SEEN_MS.load(Ordering::SeqCst)))
            >= spec.deadlock_timeout
    {
        return Some(StopReason::DeadlockTimeout);
    }
    let failing = SCRIPT_FAILING_SINCE.load(Ordering::SeqCst);
    if !spec.startup_timeout.is_zero()
        && failing > 0
        && Duration::from_millis(now_ms().saturating_sub(failing - 1)) >= spec.startup_timeout
    {
        return Some(StopReason::StartupTimeout);
    }
    if !spec.cpu_time_limit.is_zero() && cpu_time() >= spec.cpu_time_limit {
        return Some(StopReason::CpuTimeLimit);
    }
    if spec.memory_limit > 0 || spec.virtual_memory_limit > 0 || spec.maximum_rss > 0 {
        let (size, resident) = memory();
        if spec.memory_limit > 0 && resident >= spec.memory_limit {
            return Some(StopReason::MemoryLimit);
        }
        if spec.virtual_memory_limit > 0 && size >= spec.virtual_memory_limit {
            return Some(StopReason::VirtualMemoryLimit);
        }
        // maximum-rss is in MiB, and a planned (warm) recycle.
        if spec.maximum_rss > 0 && resident >= spec.maximum_rss << 20 {
            return Some(StopReason::MaximumRss);
        }
    }
    None
}

/// User plus system CPU time of the whole process.
fn cpu_time() -> Duration {
    crate::os::cpu_time()
}

/// (virtual size, resident set) in bytes.
fn memory() -> (u64, u64) {
    crate::os::memory()
}
