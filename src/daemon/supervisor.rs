//! The Apache parent's side of daemon mode: one listening socket per group,
//! forking each group's processes, restarting one that dies, and stopping
//! them all when the configuration pool goes (stop or restart).
//!
//! We do not hand daemons to APR's `apr_pool_note_subprocess` (which gives
//! them ~3 s after SIGTERM at the moment the pool is cleared); we stop them
//! ourselves so the lifecycle work can drain them (DESIGN.md §4).

use super::group::{self, DaemonGroup};
use crate::apache::pool::{on_cleanup, pool_owned};
use crate::apache::{ffi, log};
use std::ffi::{c_int, c_void};
use std::os::fd::RawFd;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// One daemon process of a group, as the parent tracks it.
struct Slot {
    group: Arc<DaemonGroup>,
    index: u32,
    proc_: ffi::apr_proc_t,
    pool: *mut ffi::apr_pool_t,
    parent_pipe: RawFd,
    started: Instant,
    quick_deaths: u32,
}

/// Creates every group's socket and forks its processes (in the parent,
/// from post_config). Returns an error text for the log on failure.
pub fn start_all(pconf: *mut ffi::apr_pool_t, s: *mut ffi::server_rec) -> Result<(), String> {
    let groups = group::build_all(pconf)?;
    if groups.is_empty() {
        // A group removed from the configuration: its daemons drain and go.
        retire_noted(s);
        return Ok(());
    }
    // Sockets of generations before the previous one have no users left.
    // SAFETY: ap_state_query has no preconditions.
    let generation = unsafe { ffi::ap_state_query(ffi::AP_SQ_CONFIG_GEN) };
    group::remove_old_sockets(&groups[0].socket_path, generation - 1);
    let fds = parent_pipe(s)?;
    group::set_parent_pipe(fds[0], fds[1]);
    super::keeper::ensure_started(s, fds[0], &groups[0].socket_path);
    let mut slots: Vec<*mut Slot> = Vec::new();
    for g in &groups {
        for index in 0..g.spec.processes {
            let slot = pool_owned(
                pconf,
                Slot {
                    group: g.clone(),
                    index,
                    proc_: ffi::apr_proc_t::default(),
                    pool: pconf,
                    parent_pipe: fds[0],
                    started: Instant::now(),
                    quick_deaths: 0,
                },
            );
            spawn(slot, s);
            slots.push(slot);
        }
    }
    // The new sockets exist and their daemons are starting: only now may the
    // previous generation's daemons drain and leave.
    retire_noted(s);
    let server = s as usize;
    on_cleanup(
        pconf,
        Box::new(move || {
            // SAFETY: ap_state_query has no preconditions.
            let exiting =
                unsafe { ffi::ap_state_query(ffi::AP_SQ_MAIN_STATE) } == ffi::AP_SQ_MS_EXITING;
            if exiting {
                stop_all(&slots, server as *mut ffi::server_rec);
            } else {
                note_retiring(&slots, server as *mut ffi::server_rec);
            }
            group::close_all(exiting);
        }),
    );
    Ok(())
}

/// The parent-liveness pipe: daemons read it, only the parent holds the
/// write end (close-on-exec, so piped loggers do not hold it either). It
/// lives as long as the parent, across restarts — daemons of an older
/// generation still finishing their requests must not see EOF — so it is
/// kept in the process pool, which (unlike this .so's statics) survives them.
fn parent_pipe(s: *mut ffi::server_rec) -> Result<[RawFd; 2], String> {
    const KEY: &std::ffi::CStr = c"mod_wsgi_rs:parent_pipe";
    // SAFETY: the process pool lives as long as the parent; the stored value
    // is two ints allocated from it.
    unsafe {
        let pool = (*(*s).process).pool;
        let mut data: *mut std::ffi::c_void = std::ptr::null_mut();
        ffi::apr_pool_userdata_get(&mut data, KEY.as_ptr(), pool);
        if !data.is_null() {
            return Ok(*data.cast::<[RawFd; 2]>());
        }
        let mut fds = [0; 2];
        if libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) != 0 {
            return Err(format!("pipe2 failed: {}", std::io::Error::last_os_error()));
        }
        let stored = ffi::apr_palloc(pool, std::mem::size_of::<[RawFd; 2]>()).cast::<[RawFd; 2]>();
        *stored = fds;
        ffi::apr_pool_userdata_set(stored.cast(), KEY.as_ptr(), None, pool);
        Ok(fds)
    }
}

/// Daemons of the generation being replaced, kept in the process pool (as
/// plain C data: the .so, and so its Rust types, may differ after the
/// restart) until the new generation's sockets exist.
#[repr(C)]
struct Retiring {
    count: i32,
    pids: [i32; 1024],
}

fn retiring(s: *mut ffi::server_rec) -> *mut Retiring {
    const KEY: &std::ffi::CStr = c"mod_wsgi_rs:retiring";
    // SAFETY: as in parent_pipe: process-pool memory, zeroed on creation.
    unsafe {
        let pool = (*(*s).process).pool;
        let mut data: *mut std::ffi::c_void = std::ptr::null_mut();
        ffi::apr_pool_userdata_get(&mut data, KEY.as_ptr(), pool);
        if data.is_null() {
            data = ffi::apr_palloc(pool, std::mem::size_of::<Retiring>());
            std::ptr::write_bytes(data.cast::<u8>(), 0, std::mem::size_of::<Retiring>());
            ffi::apr_pool_userdata_set(data, KEY.as_ptr(), None, pool);
        }
        data.cast()
    }
}

/// On a restart, the old generation's daemons are only noted here; they are
/// told to leave by `retire_noted` once the new generation's sockets exist
/// (telling them now would let an idle one leave before a late request from
/// an old Apache child has a newer socket to fall back to).
fn note_retiring(slots: &[*mut Slot], s: *mut ffi::server_rec) {
    let r = retiring(s);
    // SAFETY: the slots live in the pool being cleared (see stop_all); `r`
    // is our process-pool record, used only by this single-threaded parent.
    unsafe {
        let rec = &mut *r;
        for sl in slots.iter().map(|p| &**p).filter(|sl| sl.proc_.pid > 0) {
            if (rec.count as usize) < rec.pids.len() {
                rec.pids[rec.count as usize] = sl.proc_.pid;
                rec.count += 1;
            } else {
                // No room to remember it: tell it now rather than never.
                libc::kill(sl.proc_.pid, libc::SIGUSR1);
            }
        }
    }
}

/// SIGUSR1 to the previous generation's daemons: they finish the requests
/// already sent to them (up to graceful-timeout), then exit. The parent does
/// not wait for them.
fn retire_noted(s: *mut ffi::server_rec) {
    let r = retiring(s);
    // SAFETY: as in note_retiring.
    unsafe {
        let rec = &mut *r;
        for &pid in &rec.pids[..rec.count as usize] {
            libc::kill(pid, libc::SIGUSR1);
            log::server(ffi::APLOG_INFO, s, &format!(
                "restart: daemon process pid={} of the previous generation finishes its requests (up to its graceful-timeout) and exits",
                pid
            ));
        }
        rec.count = 0;
    }
}

fn spawn(slot: *mut Slot, s: *mut ffi::server_rec) {
    // SAFETY: `slot` lives in the config pool for as long as it is registered.
    let sl = unsafe { &mut *slot };
    // Crash-loop throttle: a process that dies within a second of starting
    // makes its successor wait (1 s, 2 s, 4 s ... up to 20 s) before starting
    // Python, so a broken app cannot turn into a fork bomb.
    let delay = if sl.quick_deaths == 0 {
        Duration::ZERO
    } else {
        Duration::from_secs((1u64 << sl.quick_deaths.min(5)).min(20))
    };
    // SAFETY: the parent is single-threaded; the child never returns.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        log::server(
            ffi::APLOG_ALERT,
            s,
            &format!(
                "fork for daemon process group '{}' failed: {}",
                sl.group.spec.name,
                std::io::Error::last_os_error()
            ),
        );
        return;
    }
    if pid == 0 {
        super::process::run(&sl.group, sl.index, sl.parent_pipe, delay);
    }
    sl.proc_.pid = pid;
    sl.started = Instant::now();
    log::server(
        ffi::APLOG_INFO,
        s,
        &format!(
            "started daemon process {} of group '{}' (pid={})",
            sl.index + 1,
            sl.group.spec.name,
            pid
        ),
    );
    // SAFETY: registers the process with APR so the MPM's wait loop tells us
    // when it exits; the registration is removed when the pool is cleared.
    unsafe {
        ffi::apr_proc_other_child_register(
            &mut sl.proc_,
            Some(maintenance),
            slot.cast(),
            std::ptr::null_mut(),
            sl.pool,
        );
    }
}

/// Called by APR (from the MPM's wait loop in the parent) about one daemon.
unsafe extern "C" fn maintenance(reason: c_int, data: *mut c_void, status: c_int) {
    crate::apache::guard::catch("daemon maintenance", (), || {
        let slot = data.cast::<Slot>();
        // SAFETY: `data` is the Slot we registered.
        let sl = unsafe { &mut *slot };
        let s = std::ptr::null_mut();
        if reason == ffi::APR_OC_REASON_UNREGISTER {
            // APR calls us with this while unregistering; doing it again
            // from here would recurse without end.
            return;
        }
        // SAFETY: unregistering the entry APR is telling us about.
        unsafe { ffi::apr_proc_other_child_unregister(data) };
        match reason {
            ffi::APR_OC_REASON_DEATH | ffi::APR_OC_REASON_LOST => {
                if stopping() {
                    return;
                }
                let how = describe_status(status);
                // Exit status 0 is a planned exit (recycling, a signal it was sent).
                let planned = libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
                log::server(
                    if planned {
                        ffi::APLOG_INFO
                    } else {
                        ffi::APLOG_ERR
                    },
                    s,
                    &format!(
                        "daemon process {} of group '{}' (pid={}) {}; starting a new one",
                        sl.index + 1,
                        sl.group.spec.name,
                        sl.proc_.pid,
                        how
                    ),
                );
                if !planned && sl.started.elapsed() < Duration::from_secs(1) {
                    sl.quick_deaths += 1;
                } else {
                    sl.quick_deaths = 0;
                }
                spawn(slot, s);
            }
            _ => {}
        }
    })
}

fn stopping() -> bool {
    let mut state: c_int = 0;
    // SAFETY: ap_mpm_query writes one int.
    let rc = unsafe { ffi::ap_mpm_query(ffi::AP_MPMQ_MPM_STATE as c_int, &mut state) };
    rc != 0 || state == ffi::AP_MPMQ_STOPPING as c_int
}

fn describe_status(status: c_int) -> String {
    if libc::WIFSIGNALED(status) {
        format!("was killed by signal {}", libc::WTERMSIG(status))
    } else if libc::WIFEXITED(status) {
        format!("exited with status {}", libc::WEXITSTATUS(status))
    } else {
        "went away".into()
    }
}

/// On stop: SIGTERM to every daemon, a bounded wait, then SIGKILL.
fn stop_all(slots: &[*mut Slot], s: *mut ffi::server_rec) {
    // SAFETY: the slots live in the pool being cleared; its cleanups run
    // in reverse order, so they are still valid here.
    let live: Vec<(i32, Duration)> = slots
        .iter()
        .map(|p| unsafe { &**p })
        .filter(|sl| sl.proc_.pid > 0)
        .map(|sl| (sl.proc_.pid, sl.group.spec.shutdown_timeout))
        .collect();
    for (pid, _) in &live {
        // SAFETY: signalling our own child.
        unsafe { libc::kill(*pid, libc::SIGTERM) };
    }
    let bound = live.iter().map(|(_, t)| *t).max().unwrap_or_default() + Duration::from_secs(1);
    let deadline = Instant::now() + bound;
    let mut left: Vec<i32> = live.iter().map(|(p, _)| *p).collect();
    while !left.is_empty() && Instant::now() < deadline {
        // SAFETY: reaping our own children without blocking.
        left.retain(|&pid| unsafe { libc::waitpid(pid, std::ptr::null_mut(), libc::WNOHANG) } == 0);
        std::thread::sleep(Duration::from_millis(10));
    }
    for pid in left {
        log::server(
            ffi::APLOG_WARNING,
            s,
            &format!(
                "daemon process pid={} did not exit within {:?}; sending SIGKILL",
                pid, bound
            ),
        );
        // SAFETY: signalling and reaping our own child.
        unsafe {
            libc::kill(pid, libc::SIGKILL);
            libc::waitpid(pid, std::ptr::null_mut(), 0);
        }
    }
}
