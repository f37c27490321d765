//! New connections before they are requests. A local process running as
//! Apache's `User` can connect to a daemon socket; until it has shown the
//! group's secret (`wsgi_core::preauth`) its connection costs a fixed
//! 38-byte buffer and a place in the epoll set: no worker thread, no
//! request slot, nothing counted toward request-timeout. It has
//! `PREAUTH_DEADLINE` in all to show it, however slowly the bytes come.
//! Refusals are logged once per `LOG_INTERVAL` per kind, with a count.

#![forbid(unsafe_code)]

use super::conn::FramedConn;
use super::secret::Token;
use super::socket;
use crate::apache::{ffi, log};
use crate::os::Epoll;
use std::io::{ErrorKind, Read, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use wsgi_core::preauth::{judge, Verdict, PREFIX_LEN};
use wsgi_core::protocol::Frame;

/// How long a new connection has, from accept, to send its secret. An
/// Apache child sends it in its first write.
pub(super) const PREAUTH_DEADLINE: Duration = Duration::from_millis(1500);
/// Connections waiting to show their secret, at most; past that the
/// oldest is closed (an Apache child's shows it within microseconds).
const MAX_PENDING: usize = 256;
/// One log line per kind of refusal per interval.
const LOG_INTERVAL: Duration = Duration::from_secs(10);

struct Pending {
    stream: UnixStream,
    got: [u8; PREFIX_LEN],
    len: usize,
    deadline: Instant,
}

/// Counts refusals of one kind between log lines.
struct RefusalCount {
    why: String,
    logged_at: Option<Instant>,
    since: u64,
}

/// The daemon's connections that have not shown the secret yet.
pub(super) struct Gate {
    /// The group's secret (None: this daemon holds none, so nothing is
    /// authentic).
    secret: Option<Token>,
    pending: Mutex<Vec<Pending>>,
    refusals: Mutex<Vec<RefusalCount>>,
}

/// What a step of the gate gives the accept loop.
pub(super) enum Step {
    /// An authentic connection: serve its request.
    Request(FramedConn),
    /// Nothing to serve (still waiting, or refused and closed).
    Nothing,
}

impl Gate {
    pub(super) fn new(secret: Option<Token>) -> Gate {
        Gate {
            secret,
            pending: Mutex::new(Vec::new()),
            refusals: Mutex::new(Vec::new()),
        }
    }

    /// A connection just accepted: judged on what it has sent already,
    /// else kept waiting (armed in `epoll`).
    pub(super) fn admit(&self, stream: UnixStream, ep: &Epoll) -> Step {
        if stream.set_nonblocking(true).is_err() {
            return Step::Nothing;
        }
        let p = Pending {
            stream,
            got: [0; PREFIX_LEN],
            len: 0,
            deadline: Instant::now() + PREAUTH_DEADLINE,
        };
        self.advance(p, ep)
    }

    /// Whether `fd` is a connection waiting here; if so, reads what it sent.
    pub(super) fn ready(&self, fd: RawFd, ep: &Epoll) -> Option<Step> {
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        let at = pending.iter().position(|p| p.stream.as_raw_fd() == fd)?;
        let p = pending.swap_remove(at);
        drop(pending);
        Some(self.advance(p, ep))
    }

    /// Closes the connections whose time is up (called on every turn of
    /// the accept loop, which wakes at least every 100 ms).
    pub(super) fn expire(&self) {
        let now = Instant::now();
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        if pending.iter().all(|p| p.deadline > now) {
            return;
        }
        let (late, kept): (Vec<_>, Vec<_>) = pending.drain(..).partition(|p| p.deadline <= now);
        *pending = kept;
        drop(pending);
        for p in late {
            self.refused(
                &p.stream,
                &format!(
                    "a connection that did not show this group's secret within {} ms",
                    PREAUTH_DEADLINE.as_millis()
                ),
            );
        }
    }

    fn advance(&self, mut p: Pending, ep: &Epoll) -> Step {
        loop {
            match (&p.stream).read(&mut p.got[p.len..]) {
                Ok(0) => {
                    // Closed before a request: an Apache child dropping a
                    // connection it made is not worth a log line; a
                    // partial prefix is.
                    if p.len > 0 {
                        self.refused(
                            &p.stream,
                            "a connection closed in the middle of its first frame",
                        );
                    }
                    return Step::Nothing;
                }
                Ok(n) => p.len += n,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(_) => return Step::Nothing,
            }
            if p.len == PREFIX_LEN {
                break;
            }
        }
        match judge(&p.got[..p.len], self.secret.as_ref().map(|t| &t[..])) {
            Verdict::Incomplete => {
                self.wait(p, ep);
                Step::Nothing
            }
            Verdict::Authentic => match p.stream.set_nonblocking(false) {
                Ok(()) => Step::Request(FramedConn::with_received(p.stream, &p.got)),
                Err(_) => Step::Nothing,
            },
            v @ Verdict::OtherVersion(_) => {
                // An Apache child of another build: it is told why.
                let mut out = Vec::new();
                let why = v.why();
                let _ = Frame::Error {
                    status: 500,
                    message: why.clone().into_bytes(),
                }
                .encode(&mut out);
                let _ = (&p.stream).write_all(&out);
                self.refused(&p.stream, &why);
                Step::Nothing
            }
            v => {
                self.refused(&p.stream, &v.why());
                Step::Nothing
            }
        }
    }

    fn wait(&self, p: Pending, ep: &Epoll) {
        let fd = p.stream.as_raw_fd();
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        // Full: the one waiting longest makes room.
        let crowded_out = (pending.len() >= MAX_PENDING)
            .then(|| (0..pending.len()).min_by_key(|&i| pending[i].deadline))
            .flatten()
            .map(|i| pending.swap_remove(i));
        pending.push(p);
        drop(pending);
        ep.arm_once(fd);
        if let Some(old) = crowded_out {
            self.refused(
                &old.stream,
                "a connection crowded out by too many slow ones",
            );
        }
    }

    /// Logs a refusal: the first of its kind at once, then one line per
    /// interval with how many there were. What the peer had sent so far is
    /// read and dropped (at most 256 KiB, without waiting), so closing
    /// ends the connection cleanly: closed with unread bytes, a UNIX socket
    /// resets the peer, which may then lose the Error frame it was sent.
    fn refused(&self, stream: &UnixStream, why: &str) {
        let mut sink = [0u8; 4096];
        for _ in 0..64 {
            if !matches!((&*stream).read(&mut sink), Ok(n) if n > 0) {
                break;
            }
        }
        let mut counts = self.refusals.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let entry = match counts.iter_mut().position(|c| c.why == why) {
            Some(i) => &mut counts[i],
            None => {
                counts.push(RefusalCount {
                    why: why.to_string(),
                    logged_at: None,
                    since: 0,
                });
                counts.last_mut().expect("just pushed")
            }
        };
        entry.since += 1;
        if entry
            .logged_at
            .is_some_and(|t| now.duration_since(t) < LOG_INTERVAL)
        {
            return;
        }
        let more = match entry.since {
            1 => String::new(),
            n => format!(
                " ({} such refusals in the last {} s)",
                n,
                LOG_INTERVAL.as_secs()
            ),
        };
        entry.logged_at = Some(now);
        entry.since = 0;
        drop(counts);
        let peer = socket::peer(stream.as_raw_fd())
            .map(|c| format!("pid {} uid {}", c.pid, c.uid))
            .unwrap_or_else(|_| "an unknown peer".into());
        log::server(
            ffi::APLOG_ERR,
            None,
            &format!("refused {} from {}; nothing was run{}", why, peer, more),
        );
    }
}
