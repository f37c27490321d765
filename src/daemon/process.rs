//! A daemon process, from the moment the parent forks it: it takes its own
//! identity, starts Python, serves requests on its group's socket with a
//! pool of threads, and its main thread waits for a reason to stop.
//!
//! Signal handlers only write a byte to a self-pipe (async-signal-safe); the
//! main thread reads it and decides. The parent-liveness pipe gives EOF when
//! the Apache parent is gone, so a daemon never outlives it.

use super::conn::FramedConn;
use super::group::DaemonGroup;
use crate::apache::{ffi, log};
use crate::python::channel::Channel;
use crate::python::runtime;
use crate::python::wsgi_call::{self, Outcome};
use std::os::fd::{FromRawFd, RawFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::Arc;
use std::time::Duration;
use wsgi_core::protocol::{Frame, T_REQUEST};

static SIGNAL_PIPE: AtomicI32 = AtomicI32::new(-1);
static SIGNAL_READ: AtomicI32 = AtomicI32::new(-1);
/// Requests being served right now (for draining).
static ACTIVE: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
/// Requests served so far (maximum-requests).
static SERVED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
/// When the last request finished, in ms since the process started serving.
static LAST_DONE_MS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
static SERVING_SINCE: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
/// The requests in flight (request-timeout). Never locked with the GIL held.
static IN_FLIGHT: std::sync::Mutex<Vec<Arc<RequestSlot>>> = std::sync::Mutex::new(Vec::new());
static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// One request in flight, as the main thread sees it.
struct RequestSlot {
    id: u64,
    started: std::time::Instant,
    /// The serving thread (Python's thread ident is its pthread id).
    thread: libc::pthread_t,
    app_group: std::sync::OnceLock<String>,
    request: std::sync::OnceLock<log::DaemonRequest>,
    /// When the main thread asked for an interrupt (interrupt-timeout).
    interrupt_asked: std::sync::Mutex<Option<std::time::Instant>>,
    /// Set under the GIL: the exception was injected / the app returned.
    injected: AtomicBool,
    done: AtomicBool,
}

/// How long the oldest request in flight has been running.
fn oldest_request() -> Option<Duration> {
    let slots = IN_FLIGHT.lock().unwrap_or_else(|e| e.into_inner());
    slots.iter().map(|s| s.started.elapsed()).max()
}

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
const SCRIPT_CHANGED: u8 = 0xF1;
/// The modification time each WSGI script had when this process first ran it.
static SCRIPT_MTIMES: std::sync::Mutex<Vec<(String, i64)>> = std::sync::Mutex::new(Vec::new());
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
        s
    };
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

/// Requests past request-timeout. Without interrupt-timeout the process
/// restarts at once. With it, each overdue request's thread first gets a
/// `mod_wsgi.RequestTimeout` exception (only that thread: the others go
/// on), and the process restarts only if the request is still running
/// interrupt-timeout later (an exception cannot reach a thread blocked in C).
fn overdue_requests(spec: &wsgi_core::DaemonProcessSpec) -> Option<StopReason> {
    let overdue: Vec<Arc<RequestSlot>> = IN_FLIGHT
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .filter(|s| s.started.elapsed() >= spec.request_timeout)
        .cloned()
        .collect();
    for slot in overdue {
        if spec.interrupt_timeout.is_zero() {
            return Some((
                "request_timeout",
                "a request ran longer than request-timeout",
            ));
        }
        let mut asked = slot
            .interrupt_asked
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        match *asked {
            Some(t) if t.elapsed() >= spec.interrupt_timeout => {
                return Some((
                    "request_timeout",
                    "a request ran longer than request-timeout and did not stop when interrupted",
                ))
            }
            Some(_) => {}
            None => {
                *asked = Some(std::time::Instant::now());
                interrupt(slot.clone());
            }
        }
    }
    None
}

/// Injects `mod_wsgi.RequestTimeout` into the thread serving `slot`, from a
/// thread of its own: taking the GIL may block (that is deadlock-timeout's
/// business), and the main thread must never wait for it.
fn interrupt(slot: Arc<RequestSlot>) {
    let request = slot.request.get().cloned().unwrap_or_default();
    log::daemon_request(
        ffi::APLOG_WARNING,
        std::ptr::null(),
        &request,
        "request ran longer than request-timeout: raising mod_wsgi.RequestTimeout in its thread",
    );
    let _ = std::thread::Builder::new()
        .name("wsgi-interrupt".into())
        .spawn(move || {
            let Some(group) = slot.app_group.get() else {
                return;
            };
            let _ = runtime::with_interpreter(group, |_| {
                // Under the GIL, as the worker's "done" is set: an exception
                // is never left pending for the thread's next request.
                if !slot.done.load(Ordering::SeqCst) {
                    runtime::raise_in_thread(slot.thread, Some("RequestTimeout"));
                    slot.injected.store(true, Ordering::SeqCst);
                }
            });
        });
}

/// Taking a connection and counting it as in flight happen under this lock,
/// and so does the drain's idle check: a connection can never be accepted
/// but not yet counted when the daemon decides it is idle and leaves.
static ACCEPT_LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
static STOP_ACCEPTING: AtomicBool = AtomicBool::new(false);

/// Connections from Apache children between two requests, by descriptor.
/// The worker that holds ACCEPT_LOCK waits on them and on the listening
/// socket with one epoll set, so an idle connection never ties up a
/// worker; the next request on one is served like a new connection. Each
/// is armed one-shot when put back: the waiting worker sees it without
/// being woken to rebuild a list.
static IDLE: std::sync::Mutex<Vec<FramedConn>> = std::sync::Mutex::new(Vec::new());
const MAX_IDLE: usize = 64;
static EPOLL: std::sync::OnceLock<RawFd> = std::sync::OnceLock::new();
/// An eventfd in the epoll set, written once when the process stops taking
/// requests, so the waiting worker sees STOP_ACCEPTING at once.
static STOP_EVENT: std::sync::OnceLock<RawFd> = std::sync::OnceLock::new();

/// The process's epoll set, with the listening socket and the stop event
/// in it (both level-triggered).
fn epoll_set(listener: RawFd) -> RawFd {
    *EPOLL.get_or_init(|| {
        // SAFETY: creating a private epoll descriptor and eventfd, adding
        // them and our own listening socket.
        unsafe {
            let ep = libc::epoll_create1(libc::EPOLL_CLOEXEC);
            let stop = *STOP_EVENT
                .get_or_init(|| libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK));
            for fd in [listener, stop] {
                let mut ev = libc::epoll_event {
                    events: libc::EPOLLIN as u32,
                    u64: fd as u64,
                };
                libc::epoll_ctl(ep, libc::EPOLL_CTL_ADD, fd, &mut ev);
            }
            ep
        }
    })
}

/// Stops taking requests: the waiting worker wakes and leaves, and once
/// the lock is ours no connection is half taken.
fn stop_accepting() {
    STOP_ACCEPTING.store(true, Ordering::SeqCst);
    if let Some(&fd) = STOP_EVENT.get() {
        // SAFETY: an 8-byte write to our own eventfd (never read: it stays
        // readable, so every worker that waits afterwards wakes at once).
        unsafe { libc::write(fd, (&1u64 as *const u64).cast(), 8) };
    }
    drop(ACCEPT_LOCK.lock().unwrap_or_else(|e| e.into_inner()));
}

fn accept_loop(listener: &UnixListener, g: &DaemonGroup) {
    let ep = epoll_set(g.listener);
    loop {
        // Only the thread holding the lock waits (as Apache's own accept
        // mutex does): one wake-up per request, no herd.
        let job = {
            let _lock = ACCEPT_LOCK.lock().unwrap_or_else(|e| e.into_inner());
            if STOP_ACCEPTING.load(Ordering::SeqCst) {
                return;
            }
            let mut ev = libc::epoll_event { events: 0, u64: 0 };
            // SAFETY: waiting on our epoll set for one event, at most 100 ms
            // (so a drain check waiting for the lock is not held up long).
            if unsafe { libc::epoll_wait(ep, &mut ev, 1, 100) } <= 0 {
                continue;
            }
            let ready = ev.u64 as RawFd;
            if Some(&ready) == STOP_EVENT.get() {
                return;
            }
            if ready == g.listener {
                match listener.accept() {
                    Ok((stream, _)) => {
                        now_busy(g);
                        Some(Ok(new_conn(stream, g)))
                    }
                    Err(e) => Some(Err(e)),
                }
            } else {
                let mut idle = IDLE.lock().unwrap_or_else(|e| e.into_inner());
                let at = idle.iter().position(|c| c.raw_fd() == ready);
                let conn = at.map(|i| idle.swap_remove(i));
                drop(idle);
                conn.map(|c| {
                    now_busy(g);
                    Ok(c)
                })
            }
        };
        match job {
            None => {}
            Some(Ok(conn)) => {
                if let Some(conn) = serve_connection(conn, g) {
                    keep_idle(conn, ep);
                }
            }
            Some(Err(e))
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::Interrupted
                ) => {}
            Some(Err(e)) => {
                log::server(
                    ffi::APLOG_ERR,
                    std::ptr::null(),
                    &format!("accept on {} failed: {}", g.socket_path, e),
                );
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

/// Counts a request in flight. When that leaves no worker free, the idle
/// connections are handed back (Retry, then closed): their next requests
/// then come as new connections, which any process of the group with a
/// free worker takes, instead of waiting here.
fn now_busy(g: &DaemonGroup) {
    let active = ACTIVE.fetch_add(1, Ordering::SeqCst) + 1;
    if active >= g.spec.threads.max(1) as usize {
        close_idle();
    }
}

/// The daemon's send buffer when send-buffer-size= is not given: a 1 MiB
/// response fits in about one buffer, so the daemon thread and the Apache
/// child hand over a few times per response instead of once per ~200 KiB
/// (docs/benchmarks.md: stream1m).
const DEFAULT_SEND_BUFFER: u32 = 1 << 20;

/// A connection just accepted (accepted sockets do not inherit the
/// listener's O_NONBLOCK, nor its buffer sizes), with the group's socket
/// timeouts and buffer sizes.
fn new_conn(stream: UnixStream, g: &DaemonGroup) -> FramedConn {
    let conn = FramedConn::new(stream);
    let send = match g.spec.send_buffer_size {
        0 => DEFAULT_SEND_BUFFER,
        n => n,
    };
    if let Err(e) = conn.set_buffer_sizes(send, g.spec.receive_buffer_size) {
        log::server(
            ffi::APLOG_WARNING,
            std::ptr::null(),
            &format!(
                "daemon process group '{}': cannot set the socket buffer sizes ({} / {}): {}",
                g.spec.name, send, g.spec.receive_buffer_size, e
            ),
        );
    }
    let timeout = Some(if g.spec.socket_timeout.is_zero() {
        Duration::from_secs(300)
    } else {
        g.spec.socket_timeout
    });
    let _ = conn.set_timeouts(timeout, timeout);
    conn
}

/// Puts a connection back for its next request (or closes it when the
/// process is stopping or enough are kept already), armed in the epoll set
/// for one event.
fn keep_idle(mut conn: FramedConn, ep: RawFd) {
    let mut idle = IDLE.lock().unwrap_or_else(|e| e.into_inner());
    if STOP_ACCEPTING.load(Ordering::SeqCst) || idle.len() >= MAX_IDLE {
        // The child may reuse it at once: Retry sends that request elsewhere.
        let _ = conn.send(&Frame::Retry);
        return;
    }
    let fd = conn.raw_fd();
    idle.push(conn);
    drop(idle);
    let mut ev = libc::epoll_event {
        events: (libc::EPOLLIN | libc::EPOLLONESHOT) as u32,
        u64: fd as u64,
    };
    // SAFETY: (re-)arming our own descriptor in our epoll set. A closed
    // descriptor leaves the set by itself, so a number seen before may be
    // a new connection: MOD fails with ENOENT and it is added.
    unsafe {
        if libc::epoll_ctl(ep, libc::EPOLL_CTL_MOD, fd, &mut ev) != 0 {
            libc::epoll_ctl(ep, libc::EPOLL_CTL_ADD, fd, &mut ev);
        }
    }
}

/// Whether a request is waiting on an idle connection.
fn idle_request_waiting() -> bool {
    let idle = IDLE.lock().unwrap_or_else(|e| e.into_inner());
    let mut pfds: Vec<libc::pollfd> = idle
        .iter()
        .map(|c| libc::pollfd {
            fd: c.raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    // SAFETY: a zero-timeout poll on descriptors we own.
    !pfds.is_empty() && unsafe { libc::poll(pfds.as_mut_ptr(), pfds.len() as _, 0) } > 0
}

/// When the process stops taking requests: each idle connection is told to
/// send its next request elsewhere (Retry), then closed.
fn close_idle() {
    let idle = std::mem::take(&mut *IDLE.lock().unwrap_or_else(|e| e.into_inner()));
    for mut conn in idle {
        let _ = conn.send(&Frame::Retry);
    }
}

/// Keeps serving until no request is in flight and none is waiting on the
/// socket, or graceful-timeout passes; then stops accepting for good and
/// lets whatever was accepted meanwhile finish (within the same timeout).
/// Stops taking requests and waits up to `budget` for those in flight
/// (the shutdown's join phase); returns how many are still running.
/// (Workers check STOP_ACCEPTING first thing under the lock and leave;
/// stop_accepting takes the lock once, so no accept is half done.)
fn join_in_flight(budget: Duration) -> usize {
    let t0 = std::time::Instant::now();
    stop_accepting();
    close_idle();
    while ACTIVE.load(Ordering::SeqCst) > 0 && t0.elapsed() < budget {
        std::thread::sleep(Duration::from_millis(10));
    }
    ACTIVE.load(Ordering::SeqCst)
}

fn drain(g: &DaemonGroup, timeout: Duration, serve_queued: bool) -> Duration {
    let t0 = std::time::Instant::now();
    let in_time = || t0.elapsed() < timeout;
    let waiting = || {
        if !serve_queued {
            return false;
        }
        let mut pfd = libc::pollfd {
            fd: g.listener,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: a zero-timeout poll on our listening socket.
        let listener_ready = unsafe { libc::poll(&mut pfd, 1, 0) > 0 };
        listener_ready || idle_request_waiting()
    };
    while (ACTIVE.load(Ordering::SeqCst) > 0 || waiting()) && in_time() {
        std::thread::sleep(Duration::from_millis(20));
    }
    // Connections still queued are refused when we exit, and the relay
    // retries those elsewhere.
    let still = join_in_flight(timeout.saturating_sub(t0.elapsed()));
    log::server(
        ffi::APLOG_INFO,
        std::ptr::null(),
        &format!(
            "drained after {}ms ({} request(s) still in flight)",
            t0.elapsed().as_millis(),
            still
        ),
    );
    t0.elapsed()
}

/// Whether `script` has changed since this process first ran it (the
/// modification time Apache saw, in ns; 0 = unknown).
fn script_changed(script: &str, mtime: i64) -> bool {
    if mtime == 0 {
        return false;
    }
    let mut seen = SCRIPT_MTIMES.lock().unwrap_or_else(|e| e.into_inner());
    match seen.iter().find(|(s, _)| s == script) {
        Some((_, first)) => *first != mtime,
        None => {
            seen.push((script.to_string(), mtime));
            false
        }
    }
}

/// Serves one request that an Apache child sent over `stream`.
fn serve_connection(conn: FramedConn, g: &DaemonGroup) -> Option<FramedConn> {
    /// Counts the request as done; a connection that closed without one
    /// (an Apache child dropping an idle connection) does not count.
    struct InFlight(Arc<RequestSlot>, bool);
    impl Drop for InFlight {
        fn drop(&mut self) {
            IN_FLIGHT
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .retain(|s| s.id != self.0.id);
            if self.1 {
                SERVED.fetch_add(1, Ordering::SeqCst);
                if let Some(since) = SERVING_SINCE.get() {
                    LAST_DONE_MS.store(since.elapsed().as_millis() as u64, Ordering::SeqCst);
                }
            }
            ACTIVE.fetch_sub(1, Ordering::SeqCst);
        }
    }
    // (ACTIVE was counted up by the accept loop, under ACCEPT_LOCK.)
    let slot = Arc::new(RequestSlot {
        id: NEXT_ID.fetch_add(1, Ordering::SeqCst),
        started: std::time::Instant::now(),
        // SAFETY: pthread_self has no preconditions.
        thread: unsafe { libc::pthread_self() },
        app_group: std::sync::OnceLock::new(),
        request: std::sync::OnceLock::new(),
        interrupt_asked: std::sync::Mutex::new(None),
        injected: AtomicBool::new(false),
        done: AtomicBool::new(false),
    });
    IN_FLIGHT
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(slot.clone());
    let mut in_flight = InFlight(slot.clone(), false);
    let mut conn = conn;
    // The environ borrows the request's payload: one copy, one allocation.
    let payload = match conn.recv_raw() {
        Ok((T_REQUEST, payload)) => payload,
        Ok(_) | Err(_) => return None,
    };
    let incoming = match super::incoming::check(&payload, g) {
        Ok(i) => i,
        Err(refused) => {
            refuse(&mut conn, refused);
            return None;
        }
    };
    in_flight.1 = true;
    let request = incoming.request.clone();
    if !g.spec.queue_timeout.is_zero() {
        let waited = incoming.queued_for();
        if waited > g.spec.queue_timeout {
            let _ = conn.send(&Frame::Error {
                status: 503,
                message: format!(
                    "request {} waited {:.1}s for a free daemon thread, more than queue-timeout ({:?}); answered 503 without running the application",
                    request.id,
                    waited.as_secs_f64(),
                    g.spec.queue_timeout
                )
                .into_bytes(),
            });
            return None;
        }
    }
    let target = &incoming.target;
    if target.reload && script_changed(&target.script, target.script_mtime_ns) {
        // mod_wsgi's daemon-mode reloading: a changed script restarts the
        // process, so the new code starts with fresh modules. This request
        // goes back to the relay, which sends it again; it is served by
        // another process or this one's replacement.
        let first = !STOP_ACCEPTING.swap(true, Ordering::SeqCst);
        if first {
            log::daemon_request(
                ffi::APLOG_INFO,
                std::ptr::null(),
                &request,
                &format!(
                    "{} changed: restarting this process to load it",
                    target.script
                ),
            );
            let fd = SIGNAL_PIPE.load(Ordering::Relaxed);
            // SAFETY: writing one byte to our own non-blocking self-pipe.
            unsafe { libc::write(fd, (&SCRIPT_CHANGED as *const u8).cast(), 1) };
        }
        let _ = conn.send(&Frame::Retry);
        return None;
    }
    // From here on the request runs: the child never sends it again. If
    // the child already gave up on it (queue-timeout), this fails and
    // nothing runs.
    if conn.send(&Frame::Accepted).is_err() {
        return None;
    }
    let _ = slot.app_group.set(target.application_group.clone());
    let _ = slot.request.set(request.clone());
    let chan = Channel::Daemon {
        conn,
        request: request.clone(),
        server: incoming.vhost(),
        body_done: false,
        eager: incoming.eager_body(),
        pending: Vec::new(),
    };
    let environ = &incoming.environ;
    let outcome = wsgi_call::run_app(chan, target, environ);
    if !g.spec.interrupt_timeout.is_zero() {
        // Under the GIL, so an interrupt cannot land after this point; one
        // that landed too late to be raised is withdrawn.
        let _ = runtime::with_interpreter(&target.application_group, |_| {
            slot.done.store(true, Ordering::SeqCst);
            if slot.injected.load(Ordering::SeqCst) {
                runtime::raise_in_thread(slot.thread, None);
            }
        });
    }
    match outcome {
        Ok((
            Outcome::Failed {
                headers_sent: false,
            },
            Some(Channel::Daemon { mut conn, .. }),
        )) => {
            let _ = conn.send(&Frame::Error {
                status: 500,
                message: b"the WSGI application failed (its traceback is in the error log)"
                    .to_vec(),
            });
            None
        }
        // A complete exchange leaves nothing unread on the connection (a
        // body is only sent when asked for, unless it came eagerly and was
        // read to its end): it can carry the next request.
        Ok((
            Outcome::Done,
            Some(Channel::Daemon {
                conn,
                eager,
                body_done,
                pending,
                ..
            }),
        )) if (!eager || body_done) && pending.is_empty() && !conn.has_unread() => Some(conn),
        // Complete, but unread body bytes remain: the child may already be
        // sending its next request on this connection; Retry tells it to
        // use another (see docs/protocol.md) before we close.
        Ok((Outcome::Done, Some(Channel::Daemon { mut conn, .. }))) => {
            let _ = conn.send(&Frame::Retry);
            None
        }
        Ok(_) => None,
        Err(e) => {
            log::daemon_request(ffi::APLOG_ERR, std::ptr::null(), &request, &e);
            None
        }
    }
}

/// Answers a refused request (or just closes it) and logs who sent it.
fn refuse(conn: &mut FramedConn, refused: super::incoming::Refused) {
    let peer = super::socket::peer(conn.raw_fd())
        .map(|c| format!("pid {} uid {}", c.pid, c.uid))
        .unwrap_or_else(|_| "an unknown peer".into());
    log::server(
        ffi::APLOG_ERR,
        std::ptr::null(),
        &format!("refused {} from {}; nothing was run", refused.why, peer),
    );
    if let Some((status, message)) = refused.answer {
        let _ = conn.send(&Frame::Error {
            status,
            message: message.into_bytes(),
        });
    }
}
