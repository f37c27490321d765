//! A daemon's set-up right after fork, while it is still single-threaded:
//! the inherited descriptors it must not keep, its identity (groups,
//! chroot, gid, uid, in that order) and the title `ps` shows.

use super::group::DaemonGroup;
use crate::apache::ffi;
use std::os::fd::RawFd;

/// Closes everything the daemon inherited but the descriptors on an
/// explicit list (docs/security.md): stdin/stdout/stderr, the error logs
/// of the servers (it logs to each request's virtual host), its group's
/// listening socket, the read end of the parent pipe and its own signal
/// pipe. Gone are Apache's listeners, other groups' sockets, the MPM's
/// pipe of death, mutex and log files, the parent pipe's write end.
pub(super) fn close_inherited(g: &DaemonGroup, parent_pipe: RawFd) {
    // SAFETY: Apache's own bookkeeping of its listeners, then closing.
    unsafe { ffi::ap_close_listeners() };
    let mut keep = vec![0, 1, 2, g.listener, parent_pipe];
    keep.extend(crate::apache::vhosts::error_log_fds());
    keep.extend(crate::os::daemon_signals::pipe_fds());
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

pub(super) fn set_identity(g: &DaemonGroup) -> Result<(), String> {
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
pub(super) fn set_title(g: &DaemonGroup) {
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
