//! What a daemon tells the Apache parent (docs/lifecycle.md, "Warm
//! replacement"): that it is ready (Python started, its group's
//! WSGIImportScripts imported, its threads accepting), or that a planned
//! recycling trigger fired and it keeps serving until the parent has
//! started a replacement and seen it ready. Two bytes a notice, over the
//! channel of `os::notices`, whose receiver learns the sender's pid from
//! the kernel: the parent acts only on pids it started itself, and a
//! malformed notice is dropped.
//!
//! The parent is single-threaded and wakes only from its wait loop; a
//! small "waker" process it forks exits when a notice arrives, which the
//! loop sees within its second (`os::notices::fork_waker`).

#![forbid(unsafe_code)]

use crate::apache::kept::kept;
use crate::apache::server::Server;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::Duration;
use wsgi_core::stop::StopReason;

/// A daemon's copy of the sending end (-1: none).
static SENDER: AtomicI32 = AtomicI32::new(-1);

/// How long each waker waits before it watches: a daemon that floods the
/// channel makes the parent fork at most this often.
pub const WAKER_PAUSE: Duration = Duration::from_millis(50);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notice {
    Ready,
    /// A planned trigger fired (one of `StopReason::WARM`).
    Replace(StopReason),
}

impl Notice {
    fn encode(self) -> [u8; 2] {
        match self {
            Notice::Ready => [b'R', 0],
            Notice::Replace(r) => [b'P', r.warm_code().unwrap_or(0)],
        }
    }

    /// A notice as a daemon sent it (hostile bytes: anything else is None).
    pub fn decode(bytes: &[u8]) -> Option<Notice> {
        match bytes {
            [b'R', 0] => Some(Notice::Ready),
            [b'P', code] => StopReason::from_warm_code(*code).map(Notice::Replace),
            _ => None,
        }
    }
}

/// The channel, made once per Apache parent and kept in its process pool
/// (daemons of an older generation still send on it after a restart):
/// (receiving end, sending end).
pub fn channel(s: Server) -> Result<(RawFd, RawFd), String> {
    let (k, _) = kept(s.process_pool(), "notice_channel", || {
        crate::os::notices::channel().map_err(|e| format!("socketpair failed: {}", e))
    })?;
    Ok(k.get())
}

/// In a daemon, right after fork: the end it sends on.
pub fn set_sender(fd: RawFd) {
    SENDER.store(fd, Ordering::SeqCst);
}

/// Sends `n` to the parent; false when it could not be sent (no channel,
/// or a full queue), so the caller falls back to stopping on its own.
pub fn send(n: Notice) -> bool {
    let fd = SENDER.load(Ordering::SeqCst);
    fd >= 0 && crate::os::notices::send(fd, &n.encode()).is_ok()
}

/// In the parent: every notice waiting, with its sender's pid; malformed
/// ones are dropped.
pub fn take_all(rx: RawFd) -> Vec<(i32, Notice)> {
    crate::os::notices::receive_all(rx)
        .into_iter()
        .filter_map(|(pid, bytes)| Some((pid, Notice::decode(&bytes)?)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notices_round_trip_and_anything_else_is_dropped() {
        for n in [Notice::Ready, Notice::Replace(StopReason::MaximumRequests)] {
            assert_eq!(Notice::decode(&n.encode()), Some(n));
        }
        for r in StopReason::WARM {
            assert_eq!(
                Notice::decode(&Notice::Replace(r).encode()),
                Some(Notice::Replace(r))
            );
        }
        for bad in [
            &b""[..],
            b"R",
            b"R\x01",
            b"P\x00",
            b"P\x63",
            b"RRR",
            b"X\x01",
        ] {
            assert_eq!(Notice::decode(bad), None, "{bad:?}");
        }
        // A reason that is not replaced warmly is not a notice.
        assert_eq!(
            Notice::decode(&Notice::Replace(StopReason::ShutdownSignal).encode()),
            None
        );
    }
}
