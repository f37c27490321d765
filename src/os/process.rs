//! Processes and descriptors: fork, signals, reaping, names, pipes,
//! randomness. Safe wrappers; each `unsafe` block says why it holds.

use std::io;
use std::os::fd::RawFd;

/// Which side of a fork this is.
pub enum Forked {
    Child,
    Parent(i32),
}

/// Forks. Call only while the process is single-threaded (the Apache
/// parent, a daemon before it starts threads): the child starts with this
/// thread only, so any lock another thread held would stay held.
pub fn fork() -> io::Result<Forked> {
    // SAFETY: the caller is single-threaded (see above); both sides go on
    // with a consistent copy of memory.
    match unsafe { libc::fork() } {
        -1 => Err(io::Error::last_os_error()),
        0 => Ok(Forked::Child),
        pid => Ok(Forked::Parent(pid)),
    }
}

/// Sends `sig` to process `pid` (ours: a child or a daemon).
pub fn signal(pid: i32, sig: i32) {
    // SAFETY: kill has no memory preconditions.
    unsafe { libc::kill(pid, sig) };
}

/// Reaps `pid` if it has exited; true once it is gone.
pub fn reaped(pid: i32) -> bool {
    // SAFETY: waitpid on our own child, without blocking.
    unsafe { libc::waitpid(pid, std::ptr::null_mut(), libc::WNOHANG) != 0 }
}

/// Waits for `pid` to exit and reaps it.
pub fn reap(pid: i32) {
    // SAFETY: waitpid on our own child.
    unsafe { libc::waitpid(pid, std::ptr::null_mut(), 0) };
}

pub fn euid() -> u32 {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() }
}

/// The name `ps -o comm` and top show (at most 15 bytes are kept).
pub fn set_comm(name: &str) {
    let c = std::ffi::CString::new(name.chars().take(15).collect::<String>()).unwrap_or_default();
    // SAFETY: PR_SET_NAME copies at most 16 bytes from a valid C string.
    unsafe { libc::prctl(libc::PR_SET_NAME, c.as_ptr()) };
}

/// Rewrites the command line `ps` shows with `title`. The kernel keeps it
/// in one span of our own memory (arg_start..arg_end in /proc/self/stat);
/// the title may use all of it, where argv[0] alone is often shorter.
pub fn set_cmdline(title: &str) {
    let Some((start, end)) = argv_span() else {
        return;
    };
    let span = end - start;
    let t = title.as_bytes();
    // SAFETY: [start, end) is this process's command-line memory, as the
    // kernel reports it; we write only inside it, and nothing of ours
    // refers to it (Apache copied argv long ago).
    unsafe {
        std::ptr::write_bytes(start as *mut u8, 0, span);
        std::ptr::copy_nonoverlapping(t.as_ptr(), start as *mut u8, t.len().min(span - 1));
    }
}

fn argv_span() -> Option<(usize, usize)> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name; arg_start and arg_end are fields 48, 49.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let start: usize = fields.get(45)?.parse().ok()?;
    let end: usize = fields.get(46)?.parse().ok()?;
    (end > start + 1).then_some((start, end))
}

/// Closes every open descriptor of this process but `keep`. Call only
/// while single-threaded (right after fork).
pub fn close_all_except(keep: &[RawFd]) {
    let open: Vec<RawFd> = std::fs::read_dir("/proc/self/fd")
        .map(|d| {
            d.flatten()
                .filter_map(|e| e.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    for fd in open.into_iter().filter(|fd| !keep.contains(fd)) {
        close(fd);
    }
}

/// Closes a descriptor this process owns and no longer uses.
pub fn close(fd: RawFd) {
    // SAFETY: closing a descriptor we own; a stale number just fails.
    unsafe { libc::close(fd) };
}

/// The path a Unix socket is bound to (None: not one, or unnamed).
pub fn socket_path(fd: RawFd) -> Option<String> {
    // SAFETY: sockaddr_un is plain data; getsockname writes at most `len`
    // bytes into it and sets `len`.
    let mut addr: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::sockaddr_un>() as libc::socklen_t;
    // SAFETY: as above.
    let r =
        unsafe { libc::getsockname(fd, (&mut addr as *mut libc::sockaddr_un).cast(), &mut len) };
    if r != 0 || addr.sun_family != libc::AF_UNIX as libc::sa_family_t {
        return None;
    }
    let path: Vec<u8> = addr
        .sun_path
        .iter()
        .take_while(|&&c| c != 0)
        .map(|&c| c as u8)
        .collect();
    (!path.is_empty()).then(|| String::from_utf8_lossy(&path).into_owned())
}

/// A close-on-exec pipe: [read end, write end].
pub fn pipe() -> io::Result<[RawFd; 2]> {
    let mut fds = [0; 2];
    // SAFETY: pipe2 writes two descriptors into `fds`.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(fds)
}

/// Fills `buf` from the kernel's random source.
pub fn random_bytes(buf: &mut [u8]) -> io::Result<()> {
    let mut got = 0;
    while got < buf.len() {
        let rest = &mut buf[got..];
        // SAFETY: getrandom writes at most `rest.len()` bytes into `rest`.
        let n = unsafe { libc::getrandom(rest.as_mut_ptr().cast(), rest.len(), 0) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        got += n as usize;
    }
    Ok(())
}

/// Sets a listening socket's backlog (std's listeners use 128).
pub fn set_backlog(fd: RawFd, backlog: u32) {
    // SAFETY: listen on our own bound socket.
    unsafe { libc::listen(fd, backlog.clamp(1, i32::MAX as u32) as i32) };
}

/// The [start, end) of this process's memory mapping that holds `addr`,
/// from /proc/self/maps.
pub fn mapping_containing(addr: usize) -> Option<(usize, usize)> {
    let maps = std::fs::read_to_string("/proc/self/maps").ok()?;
    maps.lines().find_map(|line| {
        let range = line.split(' ').next()?;
        let (a, b) = range.split_once('-')?;
        let (a, b) = (
            usize::from_str_radix(a, 16).ok()?,
            usize::from_str_radix(b, 16).ok()?,
        );
        (a <= addr && addr < b).then_some((a, b))
    })
}

/// Removes the mapping [start, end) from this process.
pub fn unmap(start: usize, end: usize) -> io::Result<()> {
    // SAFETY: the caller names a whole mapping nothing will touch again.
    match unsafe { libc::munmap(start as *mut libc::c_void, end - start) } {
        0 => Ok(()),
        _ => Err(io::Error::last_os_error()),
    }
}

/// Makes the mapping [start, end) read-only in this process.
pub fn make_read_only(start: usize, end: usize) -> io::Result<()> {
    // SAFETY: changes only the protection of a whole mapping; reads stay valid.
    match unsafe { libc::mprotect(start as *mut libc::c_void, end - start, libc::PROT_READ) } {
        0 => Ok(()),
        _ => Err(io::Error::last_os_error()),
    }
}
