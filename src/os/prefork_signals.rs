//! Prefork children are stopped by a signal whose Apache handler
//! (`just_die`) destroys the child pool right in the handler, so our pool
//! cleanup — Python, allocation, threads — would run in signal context.
//! Here the handler only writes the signal number to a self-pipe; a
//! thread of ours runs the shutdown sequence outside any handler, then
//! puts Apache's handlers back and sends the signal on to the child's main
//! thread, where Apache's handler runs as it always did — and its pool
//! destruction finds our part already done. (Event and worker children
//! learn to stop from the MPM's pipe of death and are not concerned.)

use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::Mutex;

static PIPE_WRITE: AtomicI32 = AtomicI32::new(-1);
/// Apache's handlers for SIGTERM and SIGHUP, put back after our part.
static APACHE: Mutex<Vec<(libc::c_int, libc::sigaction)>> = Mutex::new(Vec::new());
/// The child's main thread (where Apache expects its handler to run).
static MAIN: Mutex<Option<libc::pthread_t>> = Mutex::new(None);
static STOPPED: AtomicBool = AtomicBool::new(false);

/// Whether the shutdown sequence already ran (the pool cleanup skips it).
pub fn stopped_already() -> bool {
    STOPPED.load(Ordering::SeqCst)
}

extern "C" fn on_stop_signal(sig: libc::c_int) {
    // SAFETY: errno is saved and restored around write(2), which is
    // async-signal-safe; a full pipe drops the byte (one is enough).
    unsafe {
        let errno = *libc::__errno_location();
        let b = sig as u8;
        libc::write(
            PIPE_WRITE.load(Ordering::Relaxed),
            (&b as *const u8).cast(),
            1,
        );
        *libc::__errno_location() = errno;
    }
}

/// In a prefork child: SIGTERM and SIGHUP run `stop` on a thread of ours,
/// then Apache's own handler. Without a pipe or thread, nothing changes.
pub fn take_over(stop: impl FnOnce() + Send + 'static) {
    let mut fds = [0; 2];
    // SAFETY: a close-on-exec pipe; its write end non-blocking.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return;
    }
    // SAFETY: as above.
    unsafe { libc::fcntl(fds[1], libc::F_SETFL, libc::O_NONBLOCK) };
    PIPE_WRITE.store(fds[1], Ordering::Relaxed);
    let read = fds[0];
    let spawned = std::thread::Builder::new()
        .name("wsgi-prefork-stop".into())
        .spawn(move || wait_and_stop(read, stop));
    if spawned.is_err() {
        return;
    }
    // SAFETY: pthread_self has no preconditions (child_init runs on the
    // child's main thread).
    *MAIN.lock().unwrap_or_else(|e| e.into_inner()) = Some(unsafe { libc::pthread_self() });
    let mut saved = APACHE.lock().unwrap_or_else(|e| e.into_inner());
    for sig in [libc::SIGTERM, libc::SIGHUP] {
        // SAFETY: reading, then replacing, this process's handler.
        unsafe {
            let mut old: libc::sigaction = std::mem::zeroed();
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_stop_signal as *const () as libc::sighandler_t;
            libc::sigemptyset(&mut sa.sa_mask);
            if libc::sigaction(sig, &sa, &mut old) == 0 {
                saved.push((sig, old));
            }
        }
    }
}

fn wait_and_stop(read: libc::c_int, stop: impl FnOnce()) {
    let mut b = 0u8;
    loop {
        // SAFETY: a blocking one-byte read from our own pipe.
        let n = unsafe { libc::read(read, (&mut b as *mut u8).cast(), 1) };
        if n == 1 {
            break;
        }
        if n == 0 {
            return;
        }
    }
    // (`stop` blocks the stop signals in this thread first.)
    stop();
    STOPPED.store(true, Ordering::SeqCst);
    for (sig, old) in APACHE.lock().unwrap_or_else(|e| e.into_inner()).iter() {
        // SAFETY: putting back the handler read in take_over.
        unsafe { libc::sigaction(*sig, old, std::ptr::null_mut()) };
    }
    let main = *MAIN.lock().unwrap_or_else(|e| e.into_inner());
    match main {
        // SAFETY: the child's main thread lives until the process exits;
        // Apache's handler runs there, as it would have without us.
        Some(t) => unsafe {
            libc::pthread_kill(t, b as libc::c_int);
        },
        // SAFETY: the sequence ran; leave.
        None => unsafe { libc::_exit(0) },
    }
}
