//! One daemon process's state, owned by a `Daemon` value that the main
//! thread makes once Python is up and every worker thread shares.

#![forbid(unsafe_code)]

use super::conn::FramedConn;
use super::group::DaemonGroup;
use crate::apache::log;
use crate::os::{Epoll, Latch};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub(super) struct Daemon {
    pub(super) group: Arc<DaemonGroup>,
    /// Which process of the group this is (from 0).
    pub(super) index: u32,
    /// Requests being served right now (for draining).
    pub(super) active: AtomicUsize,
    /// Requests served so far (maximum-requests).
    pub(super) served: AtomicU64,
    pub(super) serving_since: Instant,
    /// When the last request finished, in ms since `serving_since`.
    pub(super) last_done_ms: AtomicU64,
    /// The requests in flight (request-timeout). Never locked with the GIL held.
    pub(super) in_flight: Mutex<Vec<Arc<RequestSlot>>>,
    pub(super) next_id: AtomicU64,
    /// Taking a connection and counting it as in flight happen under this
    /// lock, and so does the drain's idle check: a connection can never be
    /// accepted but not yet counted when the daemon decides it is idle and
    /// leaves.
    pub(super) accept_lock: Mutex<()>,
    pub(super) stop_accepting: AtomicBool,
    /// Connections from Apache children between two requests. The worker
    /// that holds `accept_lock` waits on them and on the listening socket
    /// with one epoll set, so an idle connection never ties up a worker;
    /// the next request on one is served like a new connection. Each is
    /// armed one-shot when put back: the waiting worker sees it without
    /// being woken to rebuild a list.
    pub(super) idle: Mutex<Vec<FramedConn>>,
    /// New connections that have not shown the group's secret yet.
    pub(super) gate: super::preauth::Gate,
    /// The epoll set: the listening socket, the stop event, idle
    /// connections, connections not yet authenticated.
    pub(super) epoll: Epoll,
    /// An eventfd in the epoll set, written once when the process stops
    /// taking requests, so the waiting worker sees `stop_accepting` at once.
    pub(super) stop_event: Latch,
    /// The modification time each WSGI script had when this process first ran it.
    pub(super) script_mtimes: Mutex<Vec<(String, i64)>>,
}

impl Daemon {
    pub(super) fn new(group: Arc<DaemonGroup>, index: u32) -> Result<Daemon, String> {
        let (epoll, stop_event) = super::pool::epoll_set(group.listener)?;
        let gate = super::preauth::Gate::new(super::secret::token(&group.spec.name));
        Ok(Daemon {
            group,
            index,
            active: AtomicUsize::new(0),
            served: AtomicU64::new(0),
            serving_since: Instant::now(),
            last_done_ms: AtomicU64::new(0),
            in_flight: Mutex::new(Vec::new()),
            next_id: AtomicU64::new(0),
            accept_lock: Mutex::new(()),
            stop_accepting: AtomicBool::new(false),
            idle: Mutex::new(Vec::new()),
            gate,
            epoll,
            stop_event,
            script_mtimes: Mutex::new(Vec::new()),
        })
    }

    /// How long no request has been running.
    pub(super) fn idle_for(&self) -> Duration {
        self.serving_since
            .elapsed()
            .saturating_sub(Duration::from_millis(
                self.last_done_ms.load(Ordering::SeqCst),
            ))
    }

    /// A request finished; `activity`: it counts for inactivity-timeout
    /// (not under WSGIIgnoreActivity).
    pub(super) fn note_done(&self, activity: bool) {
        self.served.fetch_add(1, Ordering::SeqCst);
        if activity {
            let ms = self.serving_since.elapsed().as_millis() as u64;
            self.last_done_ms.store(ms, Ordering::SeqCst);
        }
    }

    pub(super) fn active(&self) -> usize {
        self.active.load(Ordering::SeqCst)
    }
}

/// One request in flight, as the main thread sees it.
pub(super) struct RequestSlot {
    pub(super) id: u64,
    pub(super) started: std::time::Instant,
    /// The serving thread (Python's thread ident is its pthread id).
    pub(super) thread: u64,
    pub(super) app_group: std::sync::OnceLock<String>,
    pub(super) request: std::sync::OnceLock<log::DaemonRequest>,
    /// When the main thread asked for an interrupt (interrupt-timeout).
    pub(super) interrupt_asked: std::sync::Mutex<Option<std::time::Instant>>,
    /// Set under the GIL: the exception was injected / the app returned.
    pub(super) injected: AtomicBool,
    pub(super) done: AtomicBool,
}
