//! A daemon's signals. Handlers only write a byte to a self-pipe
//! (async-signal-safe); the main thread reads it and decides (daemon/stop_loop.rs).
//! The pipe and the parent's pid are statics because a signal handler can
//! reach nothing else.

use std::os::fd::RawFd;
use std::sync::atomic::{AtomicI32, Ordering};

static SIGNAL_PIPE: AtomicI32 = AtomicI32::new(-1);
static SIGNAL_READ: AtomicI32 = AtomicI32::new(-1);
static PARENT_PID: AtomicI32 = AtomicI32::new(0);

/// The signal byte for SIGUSR1 sent by our Apache parent: the server is
/// restarting and this daemon's generation retires (a user's SIGUSR1 is an
/// eviction when eviction-timeout is set).
pub const RETIRE: u8 = 0xF0;
/// Written by a worker that saw a changed WSGI script (script_reload).
pub const SCRIPT_CHANGED: u8 = 0xF1;
/// The signal byte for SIGUSR2 sent by our Apache parent: retire, and
/// leave what is queued on the socket to the processes that took over
/// (a warm replacement, or the next generation on the same socket).
pub const RETIRE_SHARED: u8 = 0xF2;

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
        let from_parent = sender == PARENT_PID.load(Ordering::Relaxed);
        let b = match sig {
            libc::SIGUSR1 if from_parent => RETIRE,
            libc::SIGUSR2 if from_parent => RETIRE_SHARED,
            _ => sig as u8,
        };
        // SAFETY: write(2) is async-signal-safe; a full pipe just drops it.
        unsafe { libc::write(fd, (&b as *const u8).cast(), 1) };
    }
    // SAFETY: as above.
    unsafe { *libc::__errno_location() = errno };
}

/// Tells the main thread something (one of the bytes above).
pub fn notify(byte: u8) {
    let fd = SIGNAL_PIPE.load(Ordering::Relaxed);
    // SAFETY: writing one byte to our own non-blocking self-pipe.
    unsafe { libc::write(fd, (&byte as *const u8).cast(), 1) };
}

/// The signal bytes waiting in the pipe (none if there are none).
pub fn take_pending(out: &mut [u8; 16]) -> &[u8] {
    let fd = SIGNAL_READ.load(Ordering::Relaxed);
    // SAFETY: reading signal numbers from our non-blocking pipe.
    let got = unsafe { libc::read(fd, out.as_mut_ptr().cast(), out.len()) };
    &out[..got.max(0) as usize]
}

/// The two ends of the pipe, for the keep-list of inherited descriptors.
pub fn pipe_fds() -> [RawFd; 2] {
    [
        SIGNAL_PIPE.load(Ordering::Relaxed),
        SIGNAL_READ.load(Ordering::Relaxed),
    ]
}

/// The read end, for the main thread's poll.
pub fn read_fd() -> RawFd {
    SIGNAL_READ.load(Ordering::Relaxed)
}

/// Remembers the Apache parent, whose SIGUSR1 means "retire".
pub fn set_parent(pid: i32) {
    PARENT_PID.store(pid, Ordering::Relaxed);
}

/// Replaces the handlers inherited from the Apache parent with ours (which
/// only write to the pipe) and unblocks every signal.
pub fn install() -> Result<(), String> {
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
    SIGNAL_READ.store(fds[0], Ordering::Relaxed);
    Ok(())
}
