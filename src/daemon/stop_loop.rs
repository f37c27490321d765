//! A daemon's main thread once the workers run: it waits for a reason to
//! stop — a signal, the parent's death, or a recycling or health trigger —
//! and returns it. A planned recycling trigger (`StopReason::WARM`) does
//! not stop the process at once: it asks the parent for a replacement and
//! keeps serving until the parent, having seen the replacement ready,
//! tells it to go (docs/lifecycle.md, "Warm replacement").

#![forbid(unsafe_code)]

use super::health::{self, StopReason};
use super::notices::{self, Notice};
use super::state::Daemon;
use super::timeouts::{oldest_request, overdue_requests};
use crate::apache::{ffi, log};
use crate::os;
use crate::os::daemon_signals::{self as signals, RETIRE, RETIRE_SHARED, SCRIPT_CHANGED};
use pyhost::runtime;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use wsgi_core::DaemonProcessSpec;

/// How often a daemon waiting for its replacement asks again (the parent
/// ignores a request while it already has one, or before it has seen this
/// process ready).
const ASK_AGAIN: Duration = Duration::from_secs(5);

/// Set when the parent retired this process because others serve its
/// socket now: it finishes only the requests in flight.
static TAKEN_OVER: AtomicBool = AtomicBool::new(false);

/// Whether others took this process's socket over (see `TAKEN_OVER`).
pub(super) fn taken_over() -> bool {
    TAKEN_OVER.load(Ordering::SeqCst)
}

/// This process's own recycling points: maximum-requests plus a random
/// 0..=maximum-requests-jitter, and restart-interval plus up to a tenth
/// of it, so the processes of a group do not recycle together.
struct Limits {
    maximum_requests: u64,
    restart_interval: Duration,
}

impl Limits {
    fn for_this_process(spec: &DaemonProcessSpec) -> Limits {
        let mut bytes = [0u8; 8];
        let _ = os::process::random_bytes(&mut bytes);
        let r = u64::from_le_bytes(bytes);
        let spread_ms = spec.restart_interval.as_millis() as u64 / 10;
        Limits {
            maximum_requests: match spec.maximum_requests {
                0 => 0,
                n => n.saturating_add(r % spec.maximum_requests_jitter.saturating_add(1)),
            },
            restart_interval: match spec.restart_interval.is_zero() {
                true => Duration::ZERO,
                false => spec.restart_interval + Duration::from_millis((r >> 32) % (spread_ms + 1)),
            },
        }
    }
}

/// The planned trigger that fired, if one did.
fn planned_trigger(d: &Daemon, limits: &Limits, started: Instant) -> Option<StopReason> {
    let spec = &d.group.spec;
    if limits.maximum_requests > 0 && d.served.load(Ordering::SeqCst) >= limits.maximum_requests {
        return Some(StopReason::MaximumRequests);
    }
    if !limits.restart_interval.is_zero() && started.elapsed() >= limits.restart_interval {
        return Some(StopReason::RestartInterval);
    }
    if !spec.inactivity_timeout.is_zero()
        && d.active() == 0
        && d.idle_for() >= spec.inactivity_timeout
    {
        return Some(StopReason::InactivityTimeout);
    }
    None
}

/// A warm replacement asked for (or not: then the caller stops now).
struct Replacing {
    reason: StopReason,
    asked: Instant,
}

/// Asks the parent to replace this process for `reason`; None when the
/// notice cannot be sent (the caller stops the old way).
fn ask(d: &Daemon, reason: StopReason) -> Option<Replacing> {
    if !notices::send(Notice::Replace(reason)) {
        return None;
    }
    log::server(
        ffi::APLOG_INFO,
        None,
        &format!(
            "daemon process {}: {} ({}); serving until its replacement is ready",
            d.index + 1,
            reason.explain(),
            reason
        ),
    );
    Some(Replacing {
        reason,
        asked: Instant::now(),
    })
}

/// The main thread: waits for a signal or the parent's death. SIGHUP and
/// SIGUSR2 become `process_signal` events; the process keeps running.
pub(super) fn wait_for_stop(d: &Daemon, parent_pipe: RawFd, parent: i32) -> StopReason {
    let spec = &d.group.spec;
    let started = Instant::now();
    let limits = Limits::for_this_process(spec);
    let mut replacing: Option<Replacing> = None;
    loop {
        // The recycling triggers, each enforced whatever else is configured.
        let mut planned = planned_trigger(d, &limits, started);
        if !spec.request_timeout.is_zero()
            && oldest_request(d).is_some_and(|d| d >= spec.request_timeout)
        {
            if let Some(stop) = overdue_requests(d) {
                return stop;
            }
        }
        match health::check(spec) {
            Some(r) if r.warm_code().is_some() => planned = planned.or(Some(r)),
            Some(stop) => return stop,
            None => {}
        }
        // Wakes every 100 ms to check the parent and the recycling triggers.
        let ready = os::readable(&[signals::read_fd(), parent_pipe], 100);
        if ready[1] || os::parent_pid() != parent {
            return StopReason::ParentExit;
        }
        if ready[0] {
            let mut buf = [0u8; 16];
            for &sig in signals::take_pending(&mut buf) {
                match sig as i32 {
                    libc::SIGTERM | libc::SIGINT => return StopReason::ShutdownSignal,
                    s if s == SCRIPT_CHANGED as i32 => return StopReason::ScriptReload,
                    // The parent: the server restarted, or this process's
                    // replacement is ready.
                    s if s == RETIRE as i32 => {
                        return replacing.map_or(StopReason::GracefulRestart, |r| r.reason)
                    }
                    s if s == RETIRE_SHARED as i32 => {
                        TAKEN_OVER.store(true, Ordering::SeqCst);
                        return replacing.map_or(StopReason::GracefulRestart, |r| r.reason);
                    }
                    libc::SIGUSR1 if !spec.eviction_timeout.is_zero() => {
                        return StopReason::EvictionSignal
                    }
                    libc::SIGUSR1 => planned = planned.or(Some(StopReason::GracefulSignal)),
                    s @ (libc::SIGHUP | libc::SIGUSR2) => runtime::publish_signal(
                        s,
                        if s == libc::SIGHUP {
                            "SIGHUP"
                        } else {
                            "SIGUSR2"
                        },
                    ),
                    _ => {}
                }
            }
        }
        match (&replacing, planned) {
            (None, Some(reason)) => match ask(d, reason) {
                Some(r) => replacing = Some(r),
                None => return reason,
            },
            (Some(r), _) if r.asked.elapsed() >= ASK_AGAIN => {
                let reason = r.reason;
                if notices::send(Notice::Replace(reason)) {
                    replacing = Some(Replacing {
                        reason,
                        asked: Instant::now(),
                    });
                }
            }
            _ => {}
        }
    }
}
