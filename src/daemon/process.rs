//! A daemon process, from the moment the parent forks it: it takes its own
//! identity (setup.rs), starts Python, serves requests on its group's
//! socket with a pool of threads (pool.rs, serve.rs), and its main thread
//! waits for a reason to stop (stop_loop.rs), then drains and stops as the
//! reason's kind says. The parent-liveness pipe gives EOF when the Apache
//! parent is gone, so a daemon never outlives it.

#![forbid(unsafe_code)]

use super::group::DaemonGroup;
use super::health;
use super::pool::{accept_loop, drain, join_in_flight};
use super::setup::{close_inherited, restrict_scoreboard, set_identity, set_title};
use super::state::Daemon;
use super::stop_loop::wait_for_stop;
use crate::apache::{ffi, log};
use crate::os;
use crate::os::daemon_signals as signals;
use pyhost::runtime;
use std::os::fd::RawFd;
use std::sync::Arc;
use std::time::Duration;
use wsgi_core::stop::{Drain, StopReason};

/// Runs the daemon; never returns.
/// `fallback`: processes of the previous code still serve this group's
/// socket (a warm replacement, or a graceful restart that kept the
/// socket): then a WSGIImportScript that fails keeps this process from
/// taking requests at all; it exits, and the parent tries again with a
/// growing delay while the others serve.
pub fn run(
    g: &Arc<DaemonGroup>,
    index: u32,
    parent_pipe: RawFd,
    delay: Duration,
    fallback: bool,
) -> ! {
    log::set_process_group(&g.spec.name);
    let status = match setup_and_serve(g, index, parent_pipe, delay, fallback) {
        Ok((daemon, reason)) => {
            stop(&daemon, reason);
            0
        }
        Err(e) => {
            log::server(
                ffi::APLOG_ALERT,
                None,
                &format!("daemon process {} cannot start: {}", index + 1, e),
            );
            1
        }
    };
    // The shutdown sequence ran; leave without C atexit handlers or
    // unwinding into Apache's copy of the parent's state.
    crate::os::exit_now(status)
}

/// Drains as `reason` says, then runs the lifecycle's stop sequence.
fn stop(d: &Daemon, reason: StopReason) {
    let spec = &d.group.spec;
    // Retired because others serve the socket now: what is queued on it
    // is theirs; finish what is in flight.
    let how = match super::stop_loop::taken_over() {
        true if reason.drain() != Drain::None => {
            // No new connection from now on: the others take them, and
            // the Apache children's kept connections are handed back
            // (Retry) so their next requests go there too.
            super::pool::stop_accepting(d);
            super::pool::close_idle(d);
            Drain::InFlightOnly
        }
        _ => reason.drain(),
    };
    // Telemetry hears of the decision before the drain, as with mod_wsgi.
    crate::telemetry::stopping(reason.name());
    log::server(
        ffi::APLOG_INFO,
        None,
        &format!(
            "daemon process {} stopping: {} ({})",
            d.index + 1,
            reason.explain(),
            reason
        ),
    );
    let drained = match how {
        Drain::None => None,
        Drain::Graceful => Some(drain(d, spec.graceful_timeout, true)),
        Drain::InFlightOnly => Some(drain(d, spec.graceful_timeout, false)),
        Drain::Eviction => Some(drain(d, spec.eviction_timeout, true)),
    };
    let join = |budget: Duration| join_in_flight(d, budget);
    let phases = crate::lifecycle::DaemonPhases {
        drained,
        join: reason
            .waits_for_requests()
            .then_some(&join as &dyn Fn(Duration) -> usize),
    };
    let destroy = crate::config::global_snapshot().destroy_interpreter;
    crate::lifecycle::stop(reason, destroy, spec.shutdown_timeout, phases);
}

fn setup_and_serve(
    g: &Arc<DaemonGroup>,
    index: u32,
    parent_pipe: RawFd,
    delay: Duration,
    fallback: bool,
) -> Result<(Arc<Daemon>, StopReason), String> {
    os::own_process_group();
    os::signal_on_parent_death(libc::SIGTERM);
    let parent = os::parent_pid();
    signals::set_parent(parent);
    signals::install()?;
    close_inherited(g, parent_pipe);
    restrict_scoreboard(g)?;
    set_identity(g)?;
    set_title(g);
    if !delay.is_zero() {
        log::server(
            ffi::APLOG_WARNING,
            None,
            &format!(
                "restarting quickly after a failure; waiting {:?} first",
                delay
            ),
        );
        std::thread::sleep(delay);
    }
    let failed = start_python(g)?;
    if failed > 0 && fallback {
        return Err(format!(
            "{failed} WSGIImportScript(s) failed (above), and the processes running the previous code still serve: this one takes no request and exits; the parent starts it again"
        ));
    }
    log::server(
        ffi::APLOG_INFO,
        None,
        &format!(
            "daemon process {} ready (pid={}, {} threads, socket {})",
            index + 1,
            std::process::id(),
            g.spec.threads.max(1),
            g.socket_path
        ),
    );
    let daemon = Arc::new(Daemon::new(g.clone(), index)?);
    start_workers(&daemon)?;
    // Taking requests now: the parent may retire the process this one
    // replaces (notices.rs).
    super::notices::send(super::notices::Notice::Ready);
    let reason = wait_for_stop(&daemon, parent_pipe, parent);
    Ok((daemon, reason))
}

/// Starts Python and imports the group's WSGIImportScripts; how many of
/// those failed.
fn start_python(g: &DaemonGroup) -> Result<usize, String> {
    let settings = {
        let mut s = crate::config::global_snapshot().python;
        if g.spec.python_home.is_some() {
            s.python_home = g.spec.python_home.clone();
        }
        if !g.spec.python_path.is_empty() {
            s.python_path = g.spec.python_path.clone();
        }
        if g.spec.python_eggs.is_some() {
            s.python_eggs = g.spec.python_eggs.clone();
        }
        // WSGISwitchInterval is for Apache children; daemons have their own.
        s.switch_interval = g.spec.switch_interval;
        s.path_first = g.spec.home.clone();
        s.free_threading = crate::config::global_snapshot().free_threading(&g.spec.name);
        s.own_gil = crate::config::global_snapshot().own_gil(&g.spec.name);
        s.container_paths = crate::config::global_snapshot().container_paths(&g.spec.name);
        s.container_restrictions =
            crate::config::global_snapshot().container_restrictions(&g.spec.name);
        s.home_env = crate::os::users::home_of(g.uid);
        s
    };
    super::host::install(g.spec.server_metrics);
    runtime::initialize(runtime::ProcessInfo {
        process_group: g.spec.name.clone(),
        maximum_processes: g.spec.processes as i64,
        threads_per_process: g.spec.threads.max(1) as i64,
        settings,
        apache: crate::apache::mpm::apache_facts(false),
    })?;
    // glibc gives each thread that allocates its own malloc arena and keeps
    // what is freed there: with many request threads that is most of a
    // daemon's memory growth. Two arenas are plenty with the GIL.
    os::limit_malloc_arenas(2);
    if let Some(t) = crate::config::global_snapshot().telemetry_settings() {
        crate::telemetry::start(t);
    }
    health::start_gil_heartbeat(&g.spec);
    Ok(crate::import_scripts::preload_for(&g.spec.name, None))
}

fn start_workers(d: &Arc<Daemon>) -> Result<(), String> {
    let g = &d.group;
    // Non-blocking: workers poll, then accept under the accept lock (see
    // state.rs).
    os::set_nonblocking(g.listener);
    // The group's listening descriptor, inherited from the parent and
    // owned by this process from now on.
    let listener = Arc::new(os::listener_from_fd(g.listener));
    for n in 0..g.spec.threads.max(1) {
        let (listener, d) = (listener.clone(), d.clone());
        let mut builder = std::thread::Builder::new().name(format!("wsgi-worker-{}", n));
        if let Some(bytes) = g.spec.stack_size {
            // stack-size=: the request threads' stacks (at least 64 KiB).
            builder = builder.stack_size((bytes as usize).max(64 << 10));
        }
        builder
            .spawn(move || accept_loop(&listener, &d))
            .map_err(|e| format!("cannot start worker thread: {}", e))?;
    }
    Ok(())
}
