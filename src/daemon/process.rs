//! A daemon process, from the moment the parent forks it: it takes its own
//! identity, starts Python, serves requests on its group's socket with a
//! pool of threads, and its main thread waits for a reason to stop.
//!
//! Signal handlers only write a byte to a self-pipe (async-signal-safe); the
//! main thread reads it and decides. The parent-liveness pipe gives EOF when
//! the Apache parent is gone, so a daemon never outlives it.

use super::group::DaemonGroup;
use super::pool::{accept_loop, drain, join_in_flight};
use super::timeouts::{oldest_request, overdue_requests};
use crate::apache::{ffi, log};
use pyhost::runtime;
use std::os::fd::{FromRawFd, RawFd};
use std::os::unix::net::UnixListener;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Arc;
use std::time::Duration;

pub(super) static SIGNAL_PIPE: AtomicI32 = AtomicI32::new(-1);
static SIGNAL_READ: AtomicI32 = AtomicI32::new(-1);
/// Requests being served right now (for draining).
pub(super) static ACTIVE: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
/// Requests served so far (maximum-requests).
pub(super) static SERVED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
/// When the last request finished, in ms since the process started serving.
pub(super) static LAST_DONE_MS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
pub(super) static SERVING_SINCE: std::sync::OnceLock<std::time::Instant> =
    std::sync::OnceLock::new();

/// How long no request has been running.
fn idle_for(started: std::time::Instant) -> Duration {
    let since = *SERVING_SINCE.get_or_init(|| started);
    since
        .elapsed()
        .saturating_sub(Duration::from_millis(LAST_DONE_MS.load(Ordering::SeqCst)))
}

/// The signal byte for SIGUSR1 sent by our Apache parent: the server is
/// restarting and this daemon's generation retires (a user's SIGUSR1 is an
/// eviction when eviction-timeout is set).
const RETIRE: u8 = 0xF0;
/// Written by a worker that saw a changed WSGI script (script_reload).
pub(super) const SCRIPT_CHANGED: u8 = 0xF1;
static PARENT_PID: AtomicI32 = AtomicI32::new(0);

extern "C" fn on_signal(sig: libc::c_int, info: *mut libc::siginfo_t, _ctx: *mut libc::c_void) {
    // The interrupted code may be about to read errno: keep it as it was.
    // SAFETY: __errno_location is this thread's errno slot (async-signal-safe).
    let errno = unsafe { *libc::__errno_location() };
    let fd = SIGNAL_PIPE.load(Ordering::Relaxed);
    if fd >= 0 {
        // SAFETY: the kernel passes a valid siginfo to an SA_SIGINFO handler.
        let sender = if info.is_null() {
            0
        } else {
            unsafe { (*info).si_pid() }
        };
        let b = if sig == libc::SIGUSR1 && sender == PARENT_PID.load(Ordering::Relaxed) {
            RETIRE
        } else {
            sig as u8
        };
        // SAFETY: write(2) is async-signal-safe; a full pipe just drops it.
        unsafe { libc::write(fd, (&b as *const u8).cast(), 1) };
    }
    // SAFETY: as above.
    unsafe { *libc::__errno_location() = errno };
}

/// Runs the daemon; never returns.
pub fn run(g: &Arc<DaemonGroup>, index: u32, parent_pipe: RawFd, delay: Duration) -> ! {
    log::set_process_group(&g.spec.name);
    let status = match setup_and_serve(g, index, parent_pipe, delay) {
        Ok((reason, why)) => {
            log::server(
                ffi::APLOG_INFO,
                std::ptr::null(),
                &format!(
                    "daemon process {} stopping: {} ({})",
                    index + 1,
                    why,
                    reason
                ),
            );
            // Planned recycling finishes what is in flight first, like a
            // graceful stop; an eviction has its own bound.
            let drained = match reason {
                "eviction_signal" => Some(drain(g, g.spec.eviction_timeout, true)),
                "graceful_signal" | "graceful_restart" | "maximum_requests"
                | "restart_interval" | "cpu_time_limit" | "memory_limit" => {
                    Some(drain(g, g.spec.graceful_timeout, true))
                }
                // New requests already wait for the replacement (it loads
                // the new script); only those in flight finish here.
                "script_reload" => Some(drain(g, g.spec.graceful_timeout, false)),
                _ => None,
            };
            let join = |budget: Duration| join_in_flight(budget);
            let phases = crate::lifecycle::DaemonPhases {
                drained,
                // A stuck request or GIL will not end by waiting for it.
                join: match reason {
                    "request_timeout" | "deadlock_timeout" | "startup_timeout" => None,
                    _ => Some(&join),
                },
            };
            let destroy = crate::config::global_snapshot().destroy_interpreter;
            crate::lifecycle::stop(reason, destroy, g.spec.shutdown_timeout, phases);
            0
        }
        Err(e) => {
            log::server(
                ffi::APLOG_ALERT,
                std::ptr::null(),
                &format!("daemon process {} cannot start: {}", index + 1, e),
            );
            1
        }
    };
    // SAFETY: the shutdown sequence ran; leave without C atexit handlers or
    // unwinding into Apache's copy of the parent's state.
    unsafe { libc::_exit(status) }
}

use super::health::{self, StopReason};

fn setup_and_serve(
    g: &Arc<DaemonGroup>,
    index: u32,
    parent_pipe: RawFd,
    delay: Duration,
) -> Result<StopReason, String> {
    let parent = {
        // SAFETY: plain process-control syscalls in a freshly forked,
        // single-threaded child.
        unsafe {
            libc::setpgid(0, 0);
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
            libc::getppid()
        }
    };
    PARENT_PID.store(parent, Ordering::Relaxed);
    let sig_read = install_signal_handlers()?;
    SIGNAL_READ.store(sig_read, Ordering::Relaxed);
    close_inherited(g, parent_pipe);
    set_identity(g)?;
    set_title(g);
    if !delay.is_zero() {
        log::server(
            ffi::APLOG_WARNING,
            std::ptr::null(),
            &format!(
                "restarting quickly after a failure; waiting {:?} first",
                delay
            ),
        );
        std::thread::sleep(delay);
    }
    let settings = {
        let mut s = crate::config::global_snapshot();
        if g.spec.python_home.is_some() {
            s.python_home = g.spec.python_home.clone();
        }
        if !g.spec.python_path.is_empty() {
            s.python_path = g.spec.python_path.clone();
        }
        s.python_settings()
    };
    crate::host_events::install();
    runtime::initialize(runtime::ProcessInfo {
        process_group: g.spec.name.clone(),
        maximum_processes: g.spec.processes as i64,
        threads_per_process: g.spec.threads.max(1) as i64,
        settings,
    })?;
    // glibc gives each thread that allocates its own malloc arena and keeps
    // what is freed there: with many request threads that is most of a
    // daemon's memory growth. Two arenas are plenty with the GIL.
    // SAFETY: mallopt only tunes the allocator; called before any worker
    // thread exists.
    unsafe { libc::mallopt(libc::M_ARENA_MAX, 2) };
    health::start_gil_heartbeat(&g.spec);
    crate::hooks::preload_import_scripts_for(&g.spec.name, std::ptr::null_mut());
    log::server(
        ffi::APLOG_INFO,
        std::ptr::null(),
        &format!(
            "daemon process {} ready (pid={}, {} threads, socket {})",
            index + 1,
            std::process::id(),
            g.spec.threads.max(1),
            g.socket_path
        ),
    );

    SERVING_SINCE.get_or_init(std::time::Instant::now);
    // Non-blocking: workers poll, then accept under ACCEPT_LOCK (see there).
    // SAFETY: fcntl on our own listening descriptor.
    unsafe {
        let flags = libc::fcntl(g.listener, libc::F_GETFL);
        libc::fcntl(g.listener, libc::F_SETFL, flags | libc::O_NONBLOCK);
    }
    // SAFETY: the group's listening descriptor, inherited from the parent
    // and owned by this process from now on.
    let listener = Arc::new(unsafe { UnixListener::from_raw_fd(g.listener) });
    for n in 0..g.spec.threads.max(1) {
        let (listener, g) = (listener.clone(), g.clone());
        let mut builder = std::thread::Builder::new().name(format!("wsgi-worker-{}", n));
        if let Some(bytes) = g.spec.stack_size {
            // stack-size=: the request threads' stacks (at least 64 KiB).
            builder = builder.stack_size((bytes as usize).max(64 << 10));
        }
        builder
            .spawn(move || accept_loop(&listener, &g))
            .map_err(|e| format!("cannot start worker thread: {}", e))?;
    }
    Ok(wait_for_stop(sig_read, parent_pipe, parent, &g.spec))
}

fn install_signal_handlers() -> Result<RawFd, String> {
    let mut fds = [0; 2];
    // SAFETY: creating our self-pipe; non-blocking so a handler never waits.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) } != 0 {
        return Err("cannot create the signal pipe".into());
    }
    SIGNAL_PIPE.store(fds[1], Ordering::Relaxed);
    // SAFETY: replacing the handlers inherited from the Apache parent with
    // ours (which only write to the pipe) and unblocking every signal.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_signal as *const () as libc::sighandler_t;
        sa.sa_flags = libc::SA_SIGINFO | libc::SA_RESTART;
        libc::sigemptyset(&mut sa.sa_mask);
        for sig in [
            libc::SIGTERM,
            libc::SIGINT,
            libc::SIGUSR1,
            libc::SIGHUP,
            libc::SIGUSR2,
        ] {
            libc::sigaction(sig, &sa, std::ptr::null_mut());
        }
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
        libc::signal(libc::SIGCHLD, libc::SIG_DFL);
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::pthread_sigmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
    }
    Ok(fds[0])
}

/// Closes everything the daemon inherited but the descriptors on an
/// explicit list (docs/security.md): stdin/stdout/stderr, the error logs
/// of the servers (it logs to each request's virtual host), its group's
/// listening socket, the read end of the parent pipe and its own signal
/// pipe. Gone are Apache's listeners, other groups' sockets, the MPM's
/// pipe of death, mutex and log files, the parent pipe's write end.
fn close_inherited(g: &DaemonGroup, parent_pipe: RawFd) {
    // SAFETY: Apache's own bookkeeping of its listeners, then closing.
    unsafe { ffi::ap_close_listeners() };
    let mut keep = vec![0, 1, 2, g.listener, parent_pipe];
    keep.extend(crate::apache::vhosts::error_log_fds());
    keep.push(SIGNAL_PIPE.load(Ordering::Relaxed));
    keep.push(SIGNAL_READ.load(Ordering::Relaxed));
    let open: Vec<RawFd> = std::fs::read_dir("/proc/self/fd")
        .map(|d| {
            d.flatten()
                .filter_map(|e| e.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    for fd in open.into_iter().filter(|fd| !keep.contains(fd)) {
        // SAFETY: closing an inherited descriptor not on the keep list
        // (single-threaded: nothing else is using it).
        unsafe { libc::close(fd) };
    }
    // Another group's secret would let this one's applications send
    // requests to that group's daemons.
    super::secret::keep_only(&g.spec.name);
}

fn set_identity(g: &DaemonGroup) -> Result<(), String> {
    let spec = &g.spec;
    // SAFETY: process credential and environment syscalls, before any
    // thread is started.
    unsafe {
        if let Some(mask) = spec.umask {
            libc::umask(mask);
        }
        if spec.cpu_priority != 0 {
            // cpu-priority=: the nice value (lowering it needs root, which
            // the daemon still is here).
            libc::setpriority(libc::PRIO_PROCESS, 0, spec.cpu_priority);
        }
        // The safe order, with everything resolved in the parent: the
        // groups first (while still root), then the chroot (so its
        // /etc/group decides nothing), then gid, then uid (after which
        // nothing can be changed back). Each step is checked.
        let root = libc::geteuid() == 0;
        let fail = |what: &str| {
            Err(format!(
                "{} failed: {}",
                what,
                std::io::Error::last_os_error()
            ))
        };
        if root && libc::setgroups(g.groups.len(), g.groups.as_ptr()) != 0 {
            return fail("setgroups");
        }
        if let Some(dir) = &spec.chroot {
            let c = std::ffi::CString::new(dir.as_str()).unwrap_or_default();
            if libc::chroot(c.as_ptr()) != 0 || libc::chdir(c"/".as_ptr()) != 0 {
                return fail(&format!("chroot to {}", dir));
            }
        }
        if root {
            if libc::setgid(g.gid) != 0 {
                return fail(&format!("setgid({})", g.gid));
            }
            if libc::setuid(g.uid) != 0 {
                return fail(&format!("setuid({})", g.uid));
            }
            // Root must be gone for good.
            if g.uid != 0 && libc::setuid(0) == 0 {
                return Err("setuid(0) still worked after dropping root".into());
            }
        }
        if let Some(h) = &g.home {
            let c = std::ffi::CString::new(h.as_str()).unwrap_or_default();
            libc::chdir(c.as_ptr());
        }
    }
    if let Some(lang) = &spec.lang {
        std::env::set_var("LANG", lang);
    }
    if let Some(locale) = &spec.locale {
        std::env::set_var("LC_ALL", locale);
    }
    Ok(())
}

/// `display-name=`: what `ps` shows for this process. The kernel keeps the
/// command line in one span of our own memory (arg_start..arg_end in
/// /proc/self/stat); the title may use all of it, where argv[0] alone is
/// often shorter than the name. comm (`ps -o comm`, top) is set too.
fn set_title(g: &DaemonGroup) {
    let Some(title) = g.spec.process_title() else {
        return;
    };
    if let Some((start, end)) = argv_span() {
        let span = end - start;
        let t = title.as_bytes();
        // SAFETY: [start, end) is this process's command-line memory, as
        // the kernel reports it; we write only inside it.
        unsafe {
            std::ptr::write_bytes(start as *mut u8, 0, span);
            std::ptr::copy_nonoverlapping(t.as_ptr(), start as *mut u8, t.len().min(span - 1));
        }
    }
    let comm =
        std::ffi::CString::new(title.chars().take(15).collect::<String>()).unwrap_or_default();
    // SAFETY: PR_SET_NAME copies at most 16 bytes from a valid C string.
    unsafe { libc::prctl(libc::PR_SET_NAME, comm.as_ptr()) };
}

fn argv_span() -> Option<(usize, usize)> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name; arg_start and arg_end are fields 48, 49.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let start: usize = fields.get(45)?.parse().ok()?;
    let end: usize = fields.get(46)?.parse().ok()?;
    (end > start + 1).then_some((start, end))
}

/// The main thread: waits for a signal or the parent's death. SIGHUP and
/// SIGUSR2 become `process_signal` events; the process keeps running.
fn wait_for_stop(
    sig_read: RawFd,
    parent_pipe: RawFd,
    parent: i32,
    spec: &wsgi_core::DaemonProcessSpec,
) -> StopReason {
    let started = std::time::Instant::now();
    loop {
        // The recycling triggers, each enforced whatever else is configured.
        let served = SERVED.load(Ordering::SeqCst);
        if spec.maximum_requests > 0 && served >= spec.maximum_requests {
            return ("maximum_requests", "served maximum-requests");
        }
        if !spec.restart_interval.is_zero() && started.elapsed() >= spec.restart_interval {
            return ("restart_interval", "restart-interval reached");
        }
        if !spec.request_timeout.is_zero()
            && oldest_request().is_some_and(|d| d >= spec.request_timeout)
        {
            if let Some(stop) = overdue_requests(spec) {
                return stop;
            }
        }
        if let Some(stop) = health::check(spec) {
            return stop;
        }
        if !spec.inactivity_timeout.is_zero()
            && ACTIVE.load(Ordering::SeqCst) == 0
            && idle_for(started) >= spec.inactivity_timeout
        {
            return ("inactivity_timeout", "no request within inactivity-timeout");
        }
        let mut fds = [
            libc::pollfd {
                fd: sig_read,
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: parent_pipe,
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        // SAFETY: polling our two descriptors; wakes every 100 ms to check
        // the parent and the recycling triggers.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), 2, 100) };
        // SAFETY: getppid has no preconditions.
        if fds[1].revents != 0 || unsafe { libc::getppid() } != parent {
            return ("parent_exit", "the Apache parent process has exited");
        }
        if n > 0 && fds[0].revents != 0 {
            let mut b = [0u8; 16];
            // SAFETY: reading signal numbers from our non-blocking pipe.
            let got = unsafe { libc::read(sig_read, b.as_mut_ptr().cast(), b.len()) };
            for &sig in &b[..got.max(0) as usize] {
                match sig as i32 {
                    libc::SIGTERM | libc::SIGINT => return ("shutdown_signal", "stop signal"),
                    s if s == SCRIPT_CHANGED as i32 => {
                        return ("script_reload", "a WSGI script file changed")
                    }
                    s if s == RETIRE as i32 => {
                        return ("graceful_restart", "the server restarted gracefully")
                    }
                    libc::SIGUSR1 if !spec.eviction_timeout.is_zero() => {
                        return ("eviction_signal", "eviction signal")
                    }
                    libc::SIGUSR1 => return ("graceful_signal", "graceful signal"),
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
