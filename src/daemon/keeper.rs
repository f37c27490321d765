//! The socket keeper: one small process per Apache parent that removes the
//! daemon socket files when the parent dies without cleaning up (SIGKILL,
//! a crash). The daemons cannot do it: they have dropped root, and the
//! socket directory (DefaultRuntimeDir) is root's. The keeper holds nothing
//! but the read end of the parent-liveness pipe, reads nothing from anyone,
//! and on EOF removes this parent's `PREFIX.PID.*.sock` files and exits.
//! On a normal stop the parent removes them itself and the keeper finds
//! nothing left to do.

#![forbid(unsafe_code)]

use crate::apache::kept::kept;
use crate::apache::server::Server;
use crate::apache::{ffi, log};
use crate::os::process::{fork, Forked};
use std::os::fd::RawFd;

/// Starts the keeper once per parent (the process pool remembers it across
/// restarts). `example` is one of this parent's socket paths: the keeper
/// removes the files beside it that share its prefix and parent pid.
pub fn ensure_started(s: Server, parent_pipe: RawFd, example: &str) {
    // A marker in the process pool: one keeper per parent, across restarts.
    let Ok((_, fresh)) = kept::<u8, ()>(s.process_pool(), "socket_keeper", || Ok(1)) else {
        return;
    };
    if !fresh {
        return;
    }
    match fork() {
        Ok(Forked::Child) => keep(parent_pipe, example),
        Err(e) => log::server(
            ffi::APLOG_WARNING,
            Some(s),
            &format!(
                "cannot start the socket keeper ({}): socket files may stay behind if Apache is killed",
                e
            ),
        ),
        Ok(Forked::Parent(p)) => log::server(
            ffi::APLOG_INFO,
            Some(s),
            &format!("socket keeper started (pid={})", p),
        ),
    }
}

/// The keeper's life: wait for the parent to go, then clean up. It has its
/// own process group (no MPM signal reaches it), every descriptor but the
/// pipe closed, and a name for ps.
fn keep(parent_pipe: RawFd, example: &str) -> ! {
    crate::os::own_process_group();
    crate::os::process::set_comm("wsgi-rs-sockets");
    crate::os::process::close_all_except(&[parent_pipe]);
    let parent = crate::os::parent_pid();
    loop {
        // Wakes each second to check the parent by pid too.
        let ready = crate::os::readable(&[parent_pipe], 1000);
        if ready.first() == Some(&true) || crate::os::parent_pid() != parent {
            break;
        }
    }
    super::group::remove_parents_sockets(example);
    // Leave without running anything inherited from Apache.
    crate::os::exit_now(0)
}
