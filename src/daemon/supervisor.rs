//! The Apache parent's side of daemon mode: one listening socket per group,
//! forking each group's processes, restarting one that dies, and stopping
//! them all when the configuration pool goes (stop or restart).
//!
//! We do not hand daemons to APR's `apr_pool_note_subprocess` (which gives
//! them ~3 s after SIGTERM at the moment the pool is cleared); we stop them
//! ourselves so the lifecycle work can drain them (docs/architecture.md, "Lifecycle").

#![forbid(unsafe_code)]

use super::group::{self, DaemonGroup};
use crate::apache::kept::{kept, Kept};
use crate::apache::pool::Pool;
use crate::apache::server::Server;
use crate::apache::{ffi, log, mpm, other_child};
use crate::os::process::{self, Forked};
use std::cell::RefCell;
use std::os::fd::RawFd;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// One daemon process of a group, as the parent tracks it. The parent is
/// single-threaded: slots are shared between the pool cleanup and the exit
/// watches as `Rc<RefCell<_>>`.
struct Slot {
    group: Arc<DaemonGroup>,
    index: u32,
    /// The slot's newest process (the replacement, while one starts).
    pid: i32,
    parent_pipe: RawFd,
    started: Instant,
    quick_deaths: u32,
    /// `pid` said it is ready (notices.rs).
    ready: bool,
    /// The process being replaced warmly: it serves until `pid` is ready.
    replacing: Option<i32>,
    /// The previous generation's daemons still serve this group's socket
    /// (until every new one is ready).
    previous_serves: bool,
}

type SlotRef = Rc<RefCell<Slot>>;

/// A generation's slots and its notice channel, shared by the pool
/// cleanup and the waker's watch.
struct Generation {
    slots: Vec<SlotRef>,
    notices: RawFd,
    waker: std::cell::Cell<i32>,
}

/// Creates every group's socket and forks its processes (in the parent,
/// from post_config). Returns an error text for the log on failure.
pub fn start_all(pconf: Pool<'_>, s: Server) -> Result<(), String> {
    retire_noted_by_an_earlier_build(s);
    let groups = group::build_all(pconf)?;
    if groups.is_empty() {
        // A group removed from the configuration: its daemons drain and go.
        retire_noted(s, |_| Some(false));
        return Ok(());
    }
    // Sockets of generations before the previous one have no users left.
    let in_use: Vec<&str> = groups.iter().map(|g| g.socket_path.as_str()).collect();
    group::remove_old_sockets(
        &groups[0].socket_path,
        mpm::config_generation() - 1,
        &in_use,
    );
    let fds = parent_pipe(s)?;
    group::set_parent_pipe(fds[0], fds[1]);
    let (notices_rx, notices_tx) = super::notices::channel(s)?;
    group::set_notice_channel(notices_rx, notices_tx);
    super::keeper::ensure_started(s, fds[0], &groups[0].socket_path);
    let mut slots: Vec<SlotRef> = Vec::new();
    for g in &groups {
        for index in 0..g.spec.processes {
            let slot = Rc::new(RefCell::new(Slot {
                group: g.clone(),
                index,
                pid: 0,
                parent_pipe: fds[0],
                started: Instant::now(),
                quick_deaths: 0,
                ready: false,
                replacing: None,
                previous_serves: g.shared_with_previous,
            }));
            spawn(&slot, pconf, s);
            slots.push(slot);
        }
    }
    // The new sockets exist and their daemons are starting: only now may the
    // previous generation's daemons drain and leave — those whose socket
    // the new generation took over once its daemons are ready (on_notice).
    let shared: Vec<u64> = groups
        .iter()
        .filter(|g| g.shared_with_previous)
        .map(|g| g.socket_key)
        .collect();
    retire_noted(s, |key| (!shared.contains(&key)).then_some(false));
    let generation = Rc::new(Generation {
        slots,
        notices: notices_rx,
        waker: std::cell::Cell::new(0),
    });
    start_waker(&generation, pconf, s);
    pconf.on_cleanup(Box::new(move || config_gone(&generation, s)));
    Ok(())
}

/// The configuration's pool is going: on a stop, every daemon (of every
/// generation) is stopped; on a restart, this generation's are noted to
/// be retired by the next one, and the sockets set aside for it.
fn config_gone(generation: &Generation, s: Server) {
    let exiting = mpm::exiting();
    stop_waker(generation);
    // Every process a slot has: a warm replacement's predecessor too.
    let pids: Vec<(i32, Duration, u64)> = generation
        .slots
        .iter()
        .map(|sl| sl.borrow())
        .flat_map(|sl| {
            let (timeout, key) = (sl.group.spec.shutdown_timeout, sl.group.socket_key);
            [Some(sl.pid), sl.replacing]
                .into_iter()
                .flatten()
                .filter(|&p| p > 0)
                .map(move |p| (p, timeout, key))
        })
        .collect();
    if exiting {
        let bound = pids.iter().map(|p| p.1).max().unwrap_or_default();
        let mut all: Vec<(i32, Duration)> = pids.iter().map(|p| (p.0, p.1)).collect();
        all.extend(take_all_noted(s).into_iter().map(|p| (p, bound)));
        stop_all(&all, s);
    } else {
        note_retiring(&pids, s);
    }
    group::close_all(exiting);
}

/// Forks the generation's waker and watches it: when it exits, a notice
/// is waiting (notices.rs). Not while the server stops.
fn start_waker(generation: &Rc<Generation>, pconf: Pool<'_>, s: Server) {
    if mpm::stopping() {
        return;
    }
    let pid = match crate::os::notices::fork_waker(generation.notices, super::notices::WAKER_PAUSE)
    {
        Ok(pid) => pid,
        Err(e) => {
            log::server(
                ffi::APLOG_ERR,
                Some(s),
                &format!("cannot start the notice waker ({e}): daemons are replaced when they exit, not warmly"),
            );
            return;
        }
    };
    generation.waker.set(pid);
    let again = generation.clone();
    other_child::watch(
        pconf,
        pid,
        Box::new(move |_status, pconf| {
            again.waker.set(0);
            for (pid, notice) in super::notices::take_all(again.notices) {
                on_notice(&again, pid, notice, pconf, s);
            }
            start_waker(&again, pconf, s);
        }),
    );
}

/// Whether every process of `group` in this generation is ready.
fn all_ready(generation: &Generation, group: &DaemonGroup) -> bool {
    generation
        .slots
        .iter()
        .map(|sl| sl.borrow())
        .filter(|sl| sl.group.socket_key == group.socket_key)
        .all(|sl| sl.ready)
}

/// Ends the generation's waker (its watch ends with the pool).
fn stop_waker(generation: &Generation) {
    let pid = generation.waker.replace(0);
    if pid > 0 {
        process::signal(pid, libc::SIGKILL);
        process::reap(pid);
    }
}

/// A daemon's notice: `pid` is the sender as the kernel says; only the
/// newest process of one of this generation's slots is listened to.
fn on_notice(
    generation: &Generation,
    pid: i32,
    notice: super::notices::Notice,
    pconf: Pool<'_>,
    s: Server,
) {
    use super::notices::Notice;
    let Some(slot) = generation.slots.iter().find(|sl| sl.borrow().pid == pid) else {
        return;
    };
    match notice {
        Notice::Ready => {
            let mut sl = slot.borrow_mut();
            if sl.ready {
                return;
            }
            sl.ready = true;
            let took = sl.started.elapsed().as_secs_f64();
            let (index, name) = (sl.index + 1, sl.group.spec.name.clone());
            log::server(ffi::APLOG_INFO, Some(s), &format!(
                "daemon process {index} of group '{name}' (pid={pid}) is ready, {took:.2} s after it was started"
            ));
            let group = sl.group.clone();
            if let Some(old) = sl.replacing.take() {
                // Its replacement takes requests now: it finishes its own
                // (up to graceful-timeout) and exits.
                process::signal(old, libc::SIGUSR2);
                log::server(ffi::APLOG_INFO, Some(s), &format!(
                    "daemon process {index} of group '{name}': pid={old} finishes its requests and exits, replaced by pid={pid}"
                ));
            }
            drop(sl);
            if group.shared_with_previous && all_ready(generation, &group) {
                retire_noted(s, |key| (key == group.socket_key).then_some(true));
                for other in &generation.slots {
                    let mut o = other.borrow_mut();
                    if o.group.socket_key == group.socket_key {
                        o.previous_serves = false;
                    }
                }
            }
        }
        Notice::Replace(reason) => {
            {
                let mut sl = slot.borrow_mut();
                if sl.replacing.is_some() || !sl.ready {
                    return;
                }
                sl.replacing = Some(pid);
                log::server(ffi::APLOG_INFO, Some(s), &format!(
                    "daemon process {} of group '{}' (pid={pid}): {} ({reason}); starting its replacement, and it serves until that one is ready",
                    sl.index + 1,
                    sl.group.spec.name,
                    reason.explain()
                ));
            }
            spawn(slot, pconf, s);
        }
    }
}

/// The parent-liveness pipe: daemons read it, only the parent holds the
/// write end (close-on-exec, so piped loggers do not hold it either). It
/// lives as long as the parent, across restarts — daemons of an older
/// generation still finishing their requests must not see EOF — so it is
/// kept in the process pool, which (unlike this .so's statics) survives them.
fn parent_pipe(s: Server) -> Result<[RawFd; 2], String> {
    let (fds, _) = kept(s.process_pool(), "parent_pipe", || {
        process::pipe().map_err(|e| format!("pipe2 failed: {}", e))
    })?;
    Ok(fds.get())
}

/// Daemons of the generation being replaced, kept in the process pool (as
/// plain C data: the .so, and so its Rust types, may differ after the
/// restart) until they are told to go: at once when their group has a new
/// socket, or once every new daemon of their group is ready when the new
/// generation took their socket over (socket_stash.rs). `keys[i]` is the
/// socket key of `pids[i]`'s group.
#[repr(C)]
#[derive(Clone, Copy)]
struct Retiring {
    count: i32,
    pids: [i32; 1024],
    keys: [u64; 1024],
}

fn retiring(s: Server) -> Option<Kept<Retiring>> {
    let zero = Retiring {
        count: 0,
        pids: [0; 1024],
        keys: [0; 1024],
    };
    kept::<_, ()>(s.process_pool(), "retiring_by_socket", || Ok(zero))
        .ok()
        .map(|(k, _)| k)
}

/// On a restart, the old generation's daemons are only noted here; they are
/// told to leave by `retire_noted` once the new generation's sockets exist
/// (telling them now would let an idle one leave before a late request from
/// an old Apache child has a newer socket to fall back to).
fn note_retiring(live: &[(i32, Duration, u64)], s: Server) {
    let Some(kept) = retiring(s) else {
        return;
    };
    let mut rec = kept.get();
    for &(pid, _, key) in live {
        if (rec.count as usize) < rec.pids.len() {
            rec.pids[rec.count as usize] = pid;
            rec.keys[rec.count as usize] = key;
            rec.count += 1;
        } else {
            // No room to remember it: tell it now rather than never.
            process::signal(pid, libc::SIGUSR1);
        }
    }
    kept.set(rec);
}

/// Tells the noted daemons whose socket key `now` accepts to go: SIGUSR1
/// when their socket is theirs alone (they finish what old children sent
/// them, up to graceful-timeout), SIGUSR2 when the new generation shares
/// it (they finish only what is in flight). The parent does not wait.
fn retire_noted(s: Server, now: impl Fn(u64) -> Option<bool>) {
    let Some(kept) = retiring(s) else {
        return;
    };
    let mut rec = kept.get();
    let count = (rec.count.max(0) as usize).min(rec.pids.len());
    let mut left = 0;
    for i in 0..count {
        let (pid, key) = (rec.pids[i], rec.keys[i]);
        let Some(shared) = now(key) else {
            rec.pids[left] = pid;
            rec.keys[left] = key;
            left += 1;
            continue;
        };
        process::signal(pid, if shared { libc::SIGUSR2 } else { libc::SIGUSR1 });
        log::server(ffi::APLOG_INFO, Some(s), &format!(
            "restart: daemon process pid={} of the previous generation finishes its requests (up to its graceful-timeout) and exits{}",
            pid,
            if shared { "; the new generation's processes, ready now, take its socket's requests" } else { "" }
        ));
    }
    rec.count = left as i32;
    kept.set(rec);
}

/// The record an earlier build of this module kept its old generation's
/// daemons in (the .so can change on a graceful restart): they are told
/// to go at once, as that build would have.
#[repr(C)]
#[derive(Clone, Copy)]
struct RetiringBefore {
    count: i32,
    pids: [i32; 1024],
}

fn retire_noted_by_an_earlier_build(s: Server) {
    let zero = RetiringBefore {
        count: 0,
        pids: [0; 1024],
    };
    let Ok((kept, _)) = kept::<_, ()>(s.process_pool(), "retiring", || Ok(zero)) else {
        return;
    };
    let mut rec = kept.get();
    let count = (rec.count.max(0) as usize).min(rec.pids.len());
    for &pid in &rec.pids[..count] {
        process::signal(pid, libc::SIGUSR1);
    }
    rec.count = 0;
    kept.set(rec);
}

/// On stop: the previous generations' daemons still waiting to be retired.
fn take_all_noted(s: Server) -> Vec<i32> {
    let Some(kept) = retiring(s) else {
        return Vec::new();
    };
    let mut rec = kept.get();
    let count = (rec.count.max(0) as usize).min(rec.pids.len());
    let pids = rec.pids[..count].to_vec();
    rec.count = 0;
    kept.set(rec);
    pids
}

/// Forks the slot's daemon and watches it: when it exits (and the server
/// is not stopping) a new one is started.
fn spawn(slot: &SlotRef, pconf: Pool<'_>, s: Server) {
    let (group, index, parent_pipe, quick_deaths, fallback) = {
        let sl = slot.borrow();
        let fallback = sl.replacing.is_some() || sl.previous_serves;
        (
            sl.group.clone(),
            sl.index,
            sl.parent_pipe,
            sl.quick_deaths,
            fallback,
        )
    };
    // Crash-loop throttle: a process that dies within a second of starting
    // makes its successor wait (1 s, 2 s, 4 s ... up to 20 s) before starting
    // Python, so a broken app cannot turn into a fork bomb.
    let delay = if quick_deaths == 0 {
        Duration::ZERO
    } else {
        Duration::from_secs((1u64 << quick_deaths.min(5)).min(20))
    };
    let pid = match process::fork() {
        Ok(Forked::Child) => super::process::run(&group, index, parent_pipe, delay, fallback),
        Ok(Forked::Parent(pid)) => pid,
        Err(e) => {
            let msg = format!(
                "fork for daemon process group '{}' failed: {}",
                group.spec.name, e
            );
            log::server(ffi::APLOG_ALERT, Some(s), &msg);
            return;
        }
    };
    {
        let mut sl = slot.borrow_mut();
        sl.pid = pid;
        sl.started = Instant::now();
        sl.ready = false;
    }
    log::server(
        ffi::APLOG_INFO,
        Some(s),
        &format!(
            "started daemon process {} of group '{}' (pid={})",
            index + 1,
            group.spec.name,
            pid
        ),
    );
    // The MPM's wait loop calls this; the watch ends with the pool.
    let again = slot.clone();
    other_child::watch(
        pconf,
        pid,
        Box::new(move |status, pconf| exited(&again, pid, status, pconf, s)),
    );
}

/// A daemon exited: log how, and start its successor (unless it was a
/// process replaced warmly, whose successor is already there).
fn exited(slot: &SlotRef, pid: i32, status: i32, pconf: Pool<'_>, s: Server) {
    if mpm::stopping() {
        return;
    }
    let how = describe_status(status);
    if slot.borrow().pid != pid {
        let mut sl = slot.borrow_mut();
        if sl.replacing == Some(pid) {
            // It left before its replacement was ready: that one serves
            // as soon as it can.
            sl.replacing = None;
        }
        log::server(
            ffi::APLOG_INFO,
            None,
            &format!(
                "daemon process {} of group '{}' (pid={}) {}; replaced by pid={}",
                sl.index + 1,
                sl.group.spec.name,
                pid,
                how,
                sl.pid
            ),
        );
        return;
    }
    // Exit status 0 is a planned exit (recycling, a signal it was sent).
    let planned = libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
    {
        let mut sl = slot.borrow_mut();
        log::server(
            if planned {
                ffi::APLOG_INFO
            } else {
                ffi::APLOG_ERR
            },
            None,
            &format!(
                "daemon process {} of group '{}' (pid={}) {}; starting a new one",
                sl.index + 1,
                sl.group.spec.name,
                sl.pid,
                how
            ),
        );
        // A process that never became ready (a failed import) counts as a
        // quick death too: its successors wait longer each time.
        if !planned && (sl.started.elapsed() < Duration::from_secs(1) || !sl.ready) {
            sl.quick_deaths += 1;
        } else {
            sl.quick_deaths = 0;
        }
    }
    spawn(slot, pconf, s);
}

fn describe_status(status: i32) -> String {
    if libc::WIFSIGNALED(status) {
        format!("was killed by signal {}", libc::WTERMSIG(status))
    } else if libc::WIFEXITED(status) {
        format!("exited with status {}", libc::WEXITSTATUS(status))
    } else {
        "went away".into()
    }
}

/// On stop: SIGTERM to every daemon, a bounded wait, then SIGKILL.
fn stop_all(live: &[(i32, Duration)], s: Server) {
    for &(pid, _) in live {
        process::signal(pid, libc::SIGTERM);
    }
    let bound = live.iter().map(|(_, t)| *t).max().unwrap_or_default() + Duration::from_secs(1);
    let deadline = Instant::now() + bound;
    let mut left: Vec<i32> = live.iter().map(|(p, _)| *p).collect();
    while !left.is_empty() && Instant::now() < deadline {
        left.retain(|&pid| !process::reaped(pid));
        std::thread::sleep(Duration::from_millis(10));
    }
    for pid in left {
        log::server(
            ffi::APLOG_WARNING,
            Some(s),
            &format!(
                "daemon process pid={} did not exit within {:?}; sending SIGKILL",
                pid, bound
            ),
        );
        process::signal(pid, libc::SIGKILL);
        process::reap(pid);
    }
}
