//! The socket keeper: one small process per Apache parent that removes the
//! daemon socket files when the parent dies without cleaning up (SIGKILL,
//! a crash). The daemons cannot do it: they have dropped root, and the
//! socket directory (DefaultRuntimeDir) is root's. The keeper holds nothing
//! but the read end of the parent-liveness pipe, reads nothing from anyone,
//! and on EOF removes this parent's `PREFIX.PID.*.sock` files and exits.
//! On a normal stop the parent removes them itself and the keeper finds
//! nothing left to do.

use crate::apache::{ffi, log};
use std::os::fd::RawFd;
use std::time::Duration;

/// Starts the keeper once per parent (the process pool remembers it across
/// restarts). `example` is one of this parent's socket paths: the keeper
/// removes the files beside it that share its prefix and parent pid.
pub fn ensure_started(s: *mut ffi::server_rec, parent_pipe: RawFd, example: &str) {
    const KEY: &std::ffi::CStr = c"mod_wsgi_rs:socket_keeper";
    // SAFETY: the process pool lives as long as the parent; the stored
    // value is a marker allocated from it.
    unsafe {
        let pool = (*(*s).process).pool;
        let mut data: *mut std::ffi::c_void = std::ptr::null_mut();
        ffi::apr_pool_userdata_get(&mut data, KEY.as_ptr(), pool);
        if !data.is_null() {
            return;
        }
        let marker = ffi::apr_palloc(pool, 1);
        ffi::apr_pool_userdata_set(marker, KEY.as_ptr(), None, pool);
    }
    let example = example.to_string();
    // SAFETY: the parent is single-threaded; the child never returns.
    let pid = unsafe { libc::fork() };
    match pid {
        0 => keep(parent_pipe, &example),
        p if p < 0 => log::server(
            ffi::APLOG_WARNING,
            s,
            &format!(
                "cannot start the socket keeper ({}): socket files may stay behind if Apache is killed",
                std::io::Error::last_os_error()
            ),
        ),
        p => log::server(
            ffi::APLOG_INFO,
            s,
            &format!("socket keeper started (pid={})", p),
        ),
    }
}

/// The keeper's life: wait for the parent to go, then clean up.
fn keep(parent_pipe: RawFd, example: &str) -> ! {
    // SAFETY: process-control and descriptor syscalls in a freshly forked,
    // single-threaded child: its own process group (no MPM signal reaches
    // it), every descriptor but the pipe closed, a name for ps.
    let parent = unsafe {
        libc::setpgid(0, 0);
        libc::prctl(libc::PR_SET_NAME, c"wsgi-rs-sockets".as_ptr());
        let max = libc::sysconf(libc::_SC_OPEN_MAX).clamp(1024, 65536) as RawFd;
        for fd in 0..max {
            if fd != parent_pipe {
                libc::close(fd);
            }
        }
        libc::getppid()
    };
    loop {
        let mut pfd = libc::pollfd {
            fd: parent_pipe,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: polling our one descriptor, waking each second to check
        // the parent by pid too.
        let n = unsafe { libc::poll(&mut pfd, 1, 1000) };
        // SAFETY: getppid has no preconditions.
        if (n > 0 && pfd.revents != 0) || unsafe { libc::getppid() } != parent {
            break;
        }
        if n < 0 {
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    super::group::remove_parents_sockets(example);
    // SAFETY: leave without running anything inherited from Apache.
    unsafe { libc::_exit(0) }
}
