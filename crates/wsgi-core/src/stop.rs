//! Why a process stops, and what each reason means for the requests it
//! holds. The names are mod_wsgi's `shutdown_reason` values (ours where
//! mod_wsgi has none); the drain policy is chosen by the reason's kind.

use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopReason {
    // Signals.
    ShutdownSignal,
    GracefulSignal,
    EvictionSignal,
    /// Apache restarted (graceful): the parent retires this generation.
    GracefulRestart,
    // Recycling triggers.
    MaximumRequests,
    RestartInterval,
    InactivityTimeout,
    CpuTimeLimit,
    MemoryLimit,
    VirtualMemoryLimit,
    /// `maximum-rss=`: a planned, warm recycle (memory-limit is a limit).
    MaximumRss,
    ScriptReload,
    // Failures.
    RequestTimeout,
    /// request-timeout with interrupt-timeout: the request ignored the
    /// exception raised in its thread.
    RequestTimeoutUninterrupted,
    DeadlockTimeout,
    StartupTimeout,
    ParentExit,
    // Apache children (embedded mode).
    ServerRestart,
    MaxConnections,
    ChildExit,
}

/// What happens to the requests a stopping daemon holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Drain {
    /// Stop taking requests at once; only the shutdown deadline applies.
    None,
    /// Finish what is in flight and what is already queued, within
    /// graceful-timeout.
    Graceful,
    /// Finish only what is in flight (queued requests wait for the
    /// replacement, which loads the new script), within graceful-timeout.
    InFlightOnly,
    /// As Graceful, within eviction-timeout.
    Eviction,
}

impl StopReason {
    /// mod_wsgi's name for it, as `shutdown_reason` and the report give it.
    pub fn name(self) -> &'static str {
        use StopReason::*;
        match self {
            ShutdownSignal => "shutdown_signal",
            GracefulSignal => "graceful_signal",
            EvictionSignal => "eviction_signal",
            GracefulRestart => "graceful_restart",
            MaximumRequests => "maximum_requests",
            RestartInterval => "restart_interval",
            InactivityTimeout => "inactivity_timeout",
            CpuTimeLimit => "cpu_time_limit",
            MemoryLimit | VirtualMemoryLimit => "memory_limit",
            MaximumRss => "maximum_rss",
            ScriptReload => "script_reload",
            RequestTimeout | RequestTimeoutUninterrupted => "request_timeout",
            DeadlockTimeout => "deadlock_timeout",
            StartupTimeout => "startup_timeout",
            ParentExit => "parent_exit",
            ServerRestart => "server_restart",
            MaxConnections => "max_connections",
            ChildExit => "child_exit",
        }
    }

    /// A few words for the error log.
    pub fn explain(self) -> &'static str {
        use StopReason::*;
        match self {
            ShutdownSignal => "stop signal",
            GracefulSignal => "graceful signal",
            EvictionSignal => "eviction signal",
            GracefulRestart => "the server restarted gracefully",
            MaximumRequests => "served maximum-requests",
            RestartInterval => "restart-interval reached",
            InactivityTimeout => "no request within inactivity-timeout",
            CpuTimeLimit => "used more CPU time than cpu-time-limit",
            MemoryLimit => "resident memory reached memory-limit",
            VirtualMemoryLimit => "virtual memory reached virtual-memory-limit",
            MaximumRss => "resident memory passed maximum-rss",
            ScriptReload => "a WSGI script file changed",
            RequestTimeout => "a request ran longer than request-timeout",
            RequestTimeoutUninterrupted => {
                "a request ran longer than request-timeout and did not stop when interrupted"
            }
            DeadlockTimeout => "the Python GIL has not been released within deadlock-timeout",
            StartupTimeout => "the WSGI script has not loaded within startup-timeout",
            ParentExit => "the Apache parent process has exited",
            ServerRestart => "the server is restarting",
            MaxConnections => "served MaxConnectionsPerChild connections",
            ChildExit => "the child is leaving (stop, graceful-stop or idle reaping)",
        }
    }

    /// What a daemon does with the requests it holds.
    pub fn drain(self) -> Drain {
        use StopReason::*;
        match self {
            EvictionSignal => Drain::Eviction,
            GracefulSignal | GracefulRestart | MaximumRequests | RestartInterval | CpuTimeLimit
            | MemoryLimit | VirtualMemoryLimit | MaximumRss => Drain::Graceful,
            ScriptReload => Drain::InFlightOnly,
            _ => Drain::None,
        }
    }

    /// The planned recycling triggers a daemon is replaced for warmly: it
    /// asks the parent for its replacement and keeps serving until that
    /// one is ready (docs/lifecycle.md, "Warm replacement"). Each has a
    /// one-byte code for that request.
    pub const WARM: [StopReason; 6] = [
        StopReason::MaximumRequests,
        StopReason::RestartInterval,
        StopReason::InactivityTimeout,
        StopReason::CpuTimeLimit,
        StopReason::GracefulSignal,
        StopReason::MaximumRss,
    ];

    /// This reason's code among `WARM`, if it is one.
    pub fn warm_code(self) -> Option<u8> {
        Self::WARM
            .iter()
            .position(|r| *r == self)
            .map(|i| i as u8 + 1)
    }

    /// The reason a `warm_code` stands for (None: not a code).
    pub fn from_warm_code(code: u8) -> Option<StopReason> {
        Self::WARM.get((code as usize).checked_sub(1)?).copied()
    }

    /// Whether waiting for request threads can help: a stuck request or
    /// GIL will not end by waiting for it.
    pub fn waits_for_requests(self) -> bool {
        use StopReason::*;
        !matches!(
            self,
            RequestTimeout | RequestTimeoutUninterrupted | DeadlockTimeout | StartupTimeout
        )
    }
}

impl fmt::Display for StopReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [StopReason; 20] = [
        StopReason::ShutdownSignal,
        StopReason::GracefulSignal,
        StopReason::EvictionSignal,
        StopReason::GracefulRestart,
        StopReason::MaximumRequests,
        StopReason::RestartInterval,
        StopReason::InactivityTimeout,
        StopReason::CpuTimeLimit,
        StopReason::MemoryLimit,
        StopReason::VirtualMemoryLimit,
        StopReason::MaximumRss,
        StopReason::ScriptReload,
        StopReason::RequestTimeout,
        StopReason::RequestTimeoutUninterrupted,
        StopReason::DeadlockTimeout,
        StopReason::StartupTimeout,
        StopReason::ParentExit,
        StopReason::ServerRestart,
        StopReason::MaxConnections,
        StopReason::ChildExit,
    ];

    #[test]
    fn display_gives_mod_wsgis_names() {
        assert_eq!(StopReason::ShutdownSignal.to_string(), "shutdown_signal");
        assert_eq!(
            StopReason::RequestTimeoutUninterrupted.to_string(),
            "request_timeout"
        );
        for r in ALL {
            let n = r.name();
            assert!(
                n.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{n}"
            );
            assert!(!r.explain().is_empty());
        }
    }

    #[test]
    fn planned_recycling_drains_and_failures_do_not() {
        assert_eq!(StopReason::GracefulRestart.drain(), Drain::Graceful);
        assert_eq!(StopReason::MaximumRequests.drain(), Drain::Graceful);
        assert_eq!(StopReason::MemoryLimit.drain(), Drain::Graceful);
        assert_eq!(StopReason::EvictionSignal.drain(), Drain::Eviction);
        assert_eq!(StopReason::ScriptReload.drain(), Drain::InFlightOnly);
        for r in [
            StopReason::ShutdownSignal,
            StopReason::ParentExit,
            StopReason::RequestTimeout,
            StopReason::DeadlockTimeout,
        ] {
            assert_eq!(r.drain(), Drain::None, "{r}");
        }
    }

    #[test]
    fn warm_codes_go_both_ways_and_only_for_planned_reasons() {
        for r in ALL {
            match r.warm_code() {
                Some(c) => assert_eq!(StopReason::from_warm_code(c), Some(r)),
                None => assert!(!StopReason::WARM.contains(&r)),
            }
        }
        assert_eq!(StopReason::from_warm_code(0), None);
        assert_eq!(StopReason::from_warm_code(7), None);
        assert_eq!(StopReason::from_warm_code(255), None);
        assert_eq!(StopReason::ScriptReload.warm_code(), None);
        assert_eq!(StopReason::MemoryLimit.warm_code(), None);
    }

    #[test]
    fn stuck_processes_do_not_wait_for_their_requests() {
        assert!(!StopReason::DeadlockTimeout.waits_for_requests());
        assert!(!StopReason::RequestTimeout.waits_for_requests());
        assert!(!StopReason::StartupTimeout.waits_for_requests());
        assert!(StopReason::ShutdownSignal.waits_for_requests());
        assert!(StopReason::GracefulRestart.waits_for_requests());
    }
}
