//! A daemon's main thread once the workers run: it waits for a reason to
//! stop — a signal, the parent's death, or a recycling or health trigger —
//! and returns it.

#![forbid(unsafe_code)]

use super::health::{self, StopReason};
use super::state::Daemon;
use super::timeouts::{oldest_request, overdue_requests};
use crate::os;
use crate::os::daemon_signals::{self as signals, RETIRE, SCRIPT_CHANGED};
use pyhost::runtime;
use std::os::fd::RawFd;
use std::sync::atomic::Ordering;

/// The main thread: waits for a signal or the parent's death. SIGHUP and
/// SIGUSR2 become `process_signal` events; the process keeps running.
pub(super) fn wait_for_stop(d: &Daemon, parent_pipe: RawFd, parent: i32) -> StopReason {
    let spec = &d.group.spec;
    let started = std::time::Instant::now();
    loop {
        // The recycling triggers, each enforced whatever else is configured.
        let served = d.served.load(Ordering::SeqCst);
        if spec.maximum_requests > 0 && served >= spec.maximum_requests {
            return StopReason::MaximumRequests;
        }
        if !spec.restart_interval.is_zero() && started.elapsed() >= spec.restart_interval {
            return StopReason::RestartInterval;
        }
        if !spec.request_timeout.is_zero()
            && oldest_request(d).is_some_and(|d| d >= spec.request_timeout)
        {
            if let Some(stop) = overdue_requests(d) {
                return stop;
            }
        }
        if let Some(stop) = health::check(spec) {
            return stop;
        }
        if !spec.inactivity_timeout.is_zero()
            && d.active() == 0
            && d.idle_for() >= spec.inactivity_timeout
        {
            return StopReason::InactivityTimeout;
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
                    s if s == RETIRE as i32 => return StopReason::GracefulRestart,
                    libc::SIGUSR1 if !spec.eviction_timeout.is_zero() => {
                        return StopReason::EvictionSignal
                    }
                    libc::SIGUSR1 => return StopReason::GracefulSignal,
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
    }
}
