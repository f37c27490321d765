//! Stopping a process that ran Python: every interpreter is told why
//! (`process_stopping`), then the interpreters are destroyed (atexit runs)
//! unless `WSGIDestroyInterpreter Off`, and a watchdog makes sure none of it
//! can keep the process alive past its deadline. One report line says how
//! it went.

#![forbid(unsafe_code)]

use crate::apache::{ffi, log};
use pyhost::{runtime, teardown};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use wsgi_core::stop::StopReason;

static ACTIVITY: Mutex<String> = Mutex::new(String::new());

/// Records what the shutdown is doing now (for the watchdog's report).
pub fn set_activity(what: &str) {
    let mut a = ACTIVITY.lock().unwrap_or_else(|e| e.into_inner());
    a.clear();
    a.push_str(what);
}

fn activity() -> String {
    ACTIVITY.lock().unwrap_or_else(|e| e.into_inner()).clone()
}

/// What a daemon adds to the shutdown sequence.
#[derive(Default)]
pub struct DaemonPhases<'a> {
    /// How long it drained before the sequence began (planned stops).
    pub drained: Option<Duration>,
    /// Stops taking requests and waits up to the given time for those in
    /// flight; returns how many are still running. None: nothing to wait
    /// for (the trigger was a stuck request or a stuck GIL).
    pub join: Option<&'a dyn Fn(Duration) -> usize>,
}

/// Runs the shutdown sequence of this process, bounded by `deadline` (the
/// watchdog `_exit`s the process when it passes): publish, join (daemons),
/// destroy. Returns normally when everything finished in time.
pub fn stop(reason: StopReason, destroy: bool, deadline: Duration, daemon: DaemonPhases) {
    if runtime::process_info().is_none() {
        return;
    }
    let t0 = Instant::now();
    crate::telemetry::stopping(reason.name());
    let done = Arc::new(AtomicBool::new(false));
    start_watchdog(reason.to_string(), deadline, done.clone());
    let left = || deadline.saturating_sub(t0.elapsed());

    let mut phases = Vec::new();
    let mut failed = Vec::new();
    for name in runtime::interpreter_names() {
        let started = Instant::now();
        set_activity(&format!(
            "publishing process_stopping in interpreter '{}'",
            name
        ));
        let remaining = deadline.saturating_sub(t0.elapsed());
        match runtime::stop_interpreter(&name, reason.name(), remaining) {
            Ok(f) => failed.extend(f.into_iter().map(|s| format!("{}:{}", label(&name), s))),
            Err(e) => log::server(
                ffi::APLOG_ERR,
                None,
                &format!("stopping interpreter '{}': {}", name, e),
            ),
        }
        phases.push(format!(
            "{}={}ms",
            label(&name),
            started.elapsed().as_millis()
        ));
    }
    let mut still_running = pyhost::metrics::active();
    let joined = daemon.join.map(|join| {
        set_activity("waiting for the requests in flight");
        let started = Instant::now();
        // The teardown needs some of what is left.
        let still = join(left().saturating_sub(Duration::from_millis(500)));
        still_running = still as u64;
        format!(
            " join={}ms ({} still running)",
            started.elapsed().as_millis(),
            still
        )
    });
    // Before the teardown, which may be cut short by the watchdog.
    crate::telemetry::stopped(reason.name(), still_running, true);
    let destroyed = if destroy {
        destroy_interpreters(&left)
    } else {
        "destroy=skipped (WSGIDestroyInterpreter Off: no atexit)".to_string()
    };
    done.store(true, Ordering::SeqCst);
    log::server(
        ffi::APLOG_NOTICE,
        None,
        &format!(
            "shutdown report: pid={} reason={} {}total={}ms process_stopping[{}]{} {} failed_subscribers=[{}] watchdog=not fired",
            std::process::id(),
            reason,
            daemon
                .drained
                .map(|d| format!("drain={}ms ", d.as_millis()))
                .unwrap_or_default(),
            t0.elapsed().as_millis(),
            phases.join(" "),
            joined.unwrap_or_default(),
            destroyed,
            failed.join(", ")
        ),
    );
}

/// Tears the interpreters down; the report's part on it.
fn destroy_interpreters(left: &dyn Fn() -> Duration) -> String {
    let started = Instant::now();
    let mut gone = Vec::new();
    let mut kept = Vec::new();
    for (name, outcome) in teardown::destroy_all(left) {
        match outcome {
            teardown::Outcome::Destroyed => gone.push(label(&name).to_string()),
            teardown::Outcome::Kept(why) => kept.push(format!(
                "{}: {}; its atexit callbacks ran",
                label(&name),
                why
            )),
        }
    }
    format!(
        "destroy={}ms destroyed=[{}] not_destroyed=[{}]",
        started.elapsed().as_millis(),
        gone.join(" "),
        kept.join("; ")
    )
}

fn label(name: &str) -> &str {
    if name.is_empty() {
        "%{GLOBAL}"
    } else {
        name
    }
}

/// Blocks, for good, the signals the MPM uses to stop a child. On `stop`
/// the parent writes the pipe of death and then also sends SIGTERM; the
/// child's handler destroys the child pool, which would re-enter the pool
/// destruction our shutdown sequence is running in (seen as a segfault
/// under load). The child is exiting anyway; the watchdog and Apache's own
/// SIGKILL still bound it.
pub fn block_stop_signals() {
    crate::os::block_signals(&[
        libc::SIGTERM,
        libc::SIGHUP,
        libc::SIGUSR1,
        libc::SIGINT,
        libc::SIGWINCH,
    ]);
}

/// How long the watchdog's report may take before the process exits anyway.
const WATCHDOG_REPORT_BOUND: Duration = Duration::from_secs(1);

/// A thread that ends the process if the shutdown is not done in time.
fn start_watchdog(reason: String, deadline: Duration, done: Arc<AtomicBool>) {
    let spawned = std::thread::Builder::new().name("wsgi-shutdown-watchdog".into()).spawn(move || {
        let t0 = Instant::now();
        while t0.elapsed() < deadline {
            if done.load(Ordering::SeqCst) {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        if done.load(Ordering::SeqCst) {
            return;
        }
        // The report below may block (a full log pipe, a lock held by the
        // stuck thread): a second thread makes sure the process still goes.
        let _ = std::thread::Builder::new()
            .name("wsgi-watchdog-backstop".into())
            .spawn(|| {
                std::thread::sleep(WATCHDOG_REPORT_BOUND);
                // The report did not finish in time.
                crate::os::exit_now(1);
            });
        log::server(
            ffi::APLOG_ERR,
            None,
            &format!(
                "shutdown report: pid={} reason={} total={}ms watchdog=fired: still {} (the Python stacks of that interpreter's threads are above); exiting now",
                std::process::id(),
                reason,
                t0.elapsed().as_millis(),
                activity()
            ),
        );
        crate::telemetry::stopped(&reason, pyhost::metrics::active(), false);
        // The deadline passed; leave without running anything else.
        crate::os::exit_now(1);
    });
    if spawned.is_err() {
        log::server(ffi::APLOG_ERR, None, "cannot start the shutdown watchdog");
    }
}

static CHILD_GENERATION: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(-1);

/// Remembers the configuration generation this Apache child was started for.
pub fn note_child_generation() {
    if let Some(g) = crate::apache::mpm::generation() {
        CHILD_GENERATION.store(g, Ordering::Relaxed);
    }
}

static CONNECTIONS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// One more connection taken by this Apache child.
pub fn count_connection() {
    CONNECTIONS.fetch_add(1, Ordering::Relaxed);
}

/// Why an Apache child is stopping, as far as Apache lets a module know:
/// a new configuration generation means a restart (graceful or not); a
/// child that took MaxConnectionsPerChild connections is being recycled;
/// otherwise the child is leaving on `stop`/`graceful-stop` or idle-child
/// reaping, which a child cannot tell apart.
pub fn embedded_reason() -> StopReason {
    let limit = crate::apache::mpm::max_connections_per_child();
    if server_restarted() {
        StopReason::ServerRestart
    } else if limit > 0 && CONNECTIONS.load(Ordering::Relaxed) >= limit as u64 {
        StopReason::MaxConnections
    } else {
        StopReason::ChildExit
    }
}

/// Whether the server has restarted since this Apache child started: the
/// parent bumps the scoreboard's running generation as soon as it takes a
/// restart signal, before it reads the new configuration.
pub fn server_restarted() -> bool {
    let Some(running) = crate::apache::mpm::running_generation() else {
        return false;
    };
    let mine = CHILD_GENERATION.load(Ordering::Relaxed);
    mine >= 0 && running != mine
}

/// What a process's Python host reports: log lines to the error log,
/// activity to the watchdog (`set_activity`), script loads to `on_script_load`.
pub struct ProcessHost {
    pub on_script_load: fn(bool),
    /// WSGIServerMetrics On (Apache children) / server-metrics=On (daemons).
    pub server_metrics: bool,
}

impl pyhost::host::Host for ProcessHost {
    fn log(&self, level: i32, msg: &str) {
        log::server(level, None, msg);
    }

    fn activity(&self, what: &str) {
        set_activity(what);
    }

    fn script_loaded(&self, ok: bool) {
        (self.on_script_load)(ok);
    }

    fn server_metrics(&self) -> Option<pyhost::scoreboard::Scoreboard> {
        if self.server_metrics {
            crate::apache::scoreboard::snapshot()
        } else {
            None
        }
    }
}
