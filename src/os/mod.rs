//! The one place, besides `apache/`, where the module calls the C library
//! for processes, signals and descriptors: small safe wrappers, each
//! `unsafe` block with its reason. Everything above uses these.

pub mod access;
pub mod daemon_signals;
pub mod identity;
pub mod notices;
pub mod prefork_signals;
pub mod process;
pub mod users;

use std::os::fd::{FromRawFd, RawFd};
use std::os::unix::net::UnixListener;
use std::time::Duration;

/// Puts this (just forked) process in a process group of its own.
pub fn own_process_group() {
    // SAFETY: setpgid on ourselves has no memory preconditions.
    unsafe { libc::setpgid(0, 0) };
}

/// Asks the kernel to send `sig` when the parent dies.
pub fn signal_on_parent_death(sig: i32) {
    // SAFETY: PR_SET_PDEATHSIG takes a signal number.
    unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, sig) };
}

pub fn parent_pid() -> i32 {
    // SAFETY: getppid has no preconditions.
    unsafe { libc::getppid() }
}

/// Leaves at once: no C atexit handlers, no unwinding (after the
/// shutdown sequence ran, or in a forked child that must not return).
pub fn exit_now(status: i32) -> ! {
    // SAFETY: _exit never returns and touches no Rust state.
    unsafe { libc::_exit(status) }
}

/// This thread's pthread id (Python's thread ident is the same number).
pub fn thread_id() -> u64 {
    // SAFETY: pthread_self has no preconditions.
    unsafe { libc::pthread_self() as u64 }
}

/// glibc's malloc arenas: each thread that allocates gets one and keeps
/// what is freed there; `n` caps them (call before starting threads).
pub fn limit_malloc_arenas(n: i32) {
    // SAFETY: mallopt only tunes the allocator.
    unsafe { libc::mallopt(libc::M_ARENA_MAX, n) };
}

pub fn set_nonblocking(fd: RawFd) {
    // SAFETY: fcntl flag calls on a descriptor; a bad one just fails.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK);
    }
}

/// Takes ownership of an inherited listening socket.
pub fn listener_from_fd(fd: RawFd) -> UnixListener {
    // SAFETY: the caller hands over a listening UNIX socket it owns and
    // no longer uses by number.
    unsafe { UnixListener::from_raw_fd(fd) }
}

/// Which of `fds` are readable (or hung up) within `timeout_ms` (0: now).
pub fn readable(fds: &[RawFd], timeout_ms: i32) -> Vec<bool> {
    let mut pfds: Vec<libc::pollfd> = fds
        .iter()
        .map(|&fd| libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    // SAFETY: polls our own array of pollfds.
    let n = unsafe { libc::poll(pfds.as_mut_ptr(), pfds.len() as libc::nfds_t, timeout_ms) };
    pfds.iter().map(|p| n > 0 && p.revents != 0).collect()
}

/// The process's resource use so far.
pub struct Usage {
    pub user: Duration,
    pub system: Duration,
    /// The largest resident set, in bytes.
    pub max_rss: u64,
}

pub fn usage() -> Usage {
    // SAFETY: getrusage fills the struct we pass.
    let u = unsafe {
        let mut u: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut u);
        u
    };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    Usage {
        user: tv(u.ru_utime),
        system: tv(u.ru_stime),
        max_rss: u.ru_maxrss.max(0) as u64 * 1024,
    }
}

/// The process's user plus system CPU time.
pub fn cpu_time() -> Duration {
    let u = usage();
    u.user + u.system
}

/// The kernel's clock ticks per second (the unit of /proc's CPU times).
pub fn clock_ticks() -> u64 {
    // SAFETY: sysconf has no preconditions.
    (unsafe { libc::sysconf(libc::_SC_CLK_TCK) }).max(1) as u64
}

/// (virtual size, resident set) in bytes, from /proc/self/statm.
pub fn memory() -> (u64, u64) {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let mut f = statm
        .split_whitespace()
        .map(|v| v.parse::<u64>().unwrap_or(0));
    let page = page_size();
    let size = f.next().unwrap_or(0) * page;
    let resident = f.next().unwrap_or(0) * page;
    (size, resident)
}

pub fn page_size() -> u64 {
    // SAFETY: sysconf has no preconditions.
    (unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).max(4096) as u64
}

/// An epoll set with level-triggered members and one-shot ones.
pub struct Epoll(RawFd);

impl Epoll {
    pub fn new() -> std::io::Result<Epoll> {
        // SAFETY: creates a private descriptor.
        let ep = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if ep < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(Epoll(ep))
    }

    /// Adds `fd`, level-triggered.
    pub fn add(&self, fd: RawFd) {
        self.ctl(libc::EPOLL_CTL_ADD, fd, libc::EPOLLIN as u32);
    }

    /// (Re-)arms `fd` for one event. A closed descriptor leaves the set by
    /// itself, so a number seen before may be a new one: MOD fails with
    /// ENOENT and it is added.
    pub fn arm_once(&self, fd: RawFd) {
        let events = (libc::EPOLLIN | libc::EPOLLONESHOT) as u32;
        if !self.ctl(libc::EPOLL_CTL_MOD, fd, events) {
            self.ctl(libc::EPOLL_CTL_ADD, fd, events);
        }
    }

    fn ctl(&self, op: i32, fd: RawFd, events: u32) -> bool {
        let mut ev = libc::epoll_event {
            events,
            u64: fd as u64,
        };
        // SAFETY: our epoll descriptor and an event struct we own.
        unsafe { libc::epoll_ctl(self.0, op, fd, &mut ev) == 0 }
    }

    /// The next ready descriptor within `timeout_ms`.
    pub fn wait_one(&self, timeout_ms: i32) -> Option<RawFd> {
        let mut ev = libc::epoll_event { events: 0, u64: 0 };
        // SAFETY: waits on our epoll set for one event into `ev`.
        let n = unsafe { libc::epoll_wait(self.0, &mut ev, 1, timeout_ms) };
        (n > 0).then_some(ev.u64 as RawFd)
    }
}

/// An eventfd that, once signalled, stays readable.
pub struct Latch(RawFd);

impl Latch {
    pub fn new() -> std::io::Result<Latch> {
        // SAFETY: creates a private descriptor.
        let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(Latch(fd))
    }

    pub fn fd(&self) -> RawFd {
        self.0
    }

    /// Never read: it stays readable, so every waiter from now on wakes.
    pub fn set(&self) {
        // SAFETY: an 8-byte write to our own eventfd.
        unsafe { libc::write(self.0, (&1u64 as *const u64).cast(), 8) };
    }
}

/// Blocks `signals` in the calling thread, for good.
pub fn block_signals(signals: &[i32]) {
    // SAFETY: builds a signal set we own and changes this thread's mask.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for &sig in signals {
            libc::sigaddset(&mut set, sig);
        }
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
}
