//! A daemon's set-up right after fork, while it is still single-threaded:
//! the inherited descriptors it must not keep, its identity (groups,
//! chroot, gid, uid, in that order) and the title `ps` shows.

#![forbid(unsafe_code)]

use super::group::DaemonGroup;
use std::os::fd::RawFd;

/// Closes everything the daemon inherited but the descriptors on an
/// explicit list (docs/security.md): stdin/stdout/stderr, the error logs
/// of the servers (it logs to each request's virtual host), its group's
/// listening socket, the read end of the parent pipe, the sending end of
/// the notice channel and its own signal pipe. Gone are Apache's listeners, other groups' sockets, the MPM's
/// pipe of death, mutex and log files, the parent pipe's write end.
pub(super) fn close_inherited(g: &DaemonGroup, parent_pipe: RawFd) {
    crate::apache::mpm::close_listeners();
    let mut keep = vec![0, 1, 2, g.listener, parent_pipe];
    if let Some(sender) = super::group::notice_sender() {
        keep.push(sender);
        super::notices::set_sender(sender);
    }
    keep.extend(crate::apache::vhosts::error_log_fds());
    keep.extend(crate::os::daemon_signals::pipe_fds());
    crate::os::process::close_all_except(&keep);
    // Another group's secret would let this one's applications send
    // requests to that group's daemons.
    super::secret::keep_only(&g.spec.name);
}

/// Apache's scoreboard is the parent's shared memory, with every Apache
/// worker's client address and request line (query strings included) and
/// fields the parent acts on. A daemon keeps none of it writable: with
/// `server-metrics=Off` the mapping is removed (and forgotten, so nothing
/// reads it), with `On` it stays readable only (docs/security.md).
pub(super) fn restrict_scoreboard(g: &DaemonGroup) -> Result<(), String> {
    use crate::os::process;
    let Some(inside) = crate::apache::scoreboard::shared_address() else {
        return Ok(());
    };
    let (start, end) = process::mapping_containing(inside)
        .ok_or("cannot restrict Apache's scoreboard: its memory is not in /proc/self/maps")?;
    let done = if g.spec.server_metrics {
        process::make_read_only(start, end)
    } else {
        crate::apache::scoreboard::forget();
        process::unmap(start, end)
    };
    done.map_err(|e| format!("cannot restrict Apache's scoreboard: {}", e))
}

pub(super) fn set_identity(g: &DaemonGroup) -> Result<(), String> {
    let spec = &g.spec;
    crate::os::identity::switch_to(&crate::os::identity::Identity {
        uid: g.uid,
        gid: g.gid,
        groups: &g.groups,
        chroot: spec.chroot.as_deref(),
        home: g.home.as_deref(),
        umask: spec.umask,
        priority: spec.cpu_priority,
    })?;
    if let Some(lang) = &spec.lang {
        std::env::set_var("LANG", lang);
    }
    if let Some(locale) = &spec.locale {
        std::env::set_var("LC_ALL", locale);
    }
    Ok(())
}

/// `display-name=`: what `ps` shows for this process (the command line and
/// comm, which `ps -o comm` and top show).
pub(super) fn set_title(g: &DaemonGroup) {
    if let Some(title) = g.spec.process_title() {
        crate::os::process::set_cmdline(&title);
        crate::os::process::set_comm(&title);
    }
}
