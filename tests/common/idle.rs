//! Waiting until Apache has let go of every connection a test made,
//! before a stop that should not race with it.
//!
//! Why: Apache's event MPM can crash (SIGSEGV in `apr_os_sock_get`, from
//! its main thread's `close_worker_sockets`, while its listener thread
//! frees idle pools) when an ungraceful stop lands while a finished
//! connection is still in its lingering close. The cores of two CI
//! failures showed that, with no frame of ours. A test of our stop
//! sequence stops an idle server instead.
//!
//! A connection in lingering close may already look closed in
//! /proc/net/tcp (TIME_WAIT, once the client's FIN came), so this counts
//! the sockets Apache's processes still hold instead.

use super::{wait_until, Server};
use std::collections::HashSet;
use std::time::Duration;

/// Inodes of the sockets that are not client connections: listening TCP
/// sockets, and every UNIX, UDP and netlink socket.
fn other_sockets() -> HashSet<u64> {
    let mut known = HashSet::new();
    for (table, inode_col) in [
        ("tcp", 9),
        ("tcp6", 9),
        ("udp", 9),
        ("udp6", 9),
        ("unix", 6),
        ("netlink", 8),
    ] {
        let text = std::fs::read_to_string(format!("/proc/net/{table}")).unwrap_or_default();
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            let listening_or_other = !table.starts_with("tcp") || f.get(3) == Some(&"0A");
            if let (true, Some(Ok(inode))) =
                (listening_or_other, f.get(inode_col).map(|s| s.parse()))
            {
                known.insert(inode);
            }
        }
    }
    known
}

/// How many client connections the processes `pids` still hold.
fn held_connections(pids: &[u32]) -> usize {
    let other = other_sockets();
    let mut held = HashSet::new();
    for pid in pids {
        let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            let target = std::fs::read_link(fd.path()).unwrap_or_default();
            let target = target.to_string_lossy();
            if let Some(inode) = target
                .strip_prefix("socket:[")
                .and_then(|t| t.strip_suffix(']'))
                .and_then(|t| t.parse::<u64>().ok())
            {
                if !other.contains(&inode) {
                    held.insert(inode);
                }
            }
        }
    }
    held.len()
}

impl Server {
    /// How many client connections Apache's processes hold (its
    /// children name the server's directory; the daemons hold none).
    pub fn held_connections(&self) -> usize {
        held_connections(&self.processes())
    }

    /// Waits (at most 5 s) until Apache holds no client connection; says
    /// so on stderr if it still did by then.
    pub fn wait_until_connections_closed(&self) {
        if !wait_until(Duration::from_secs(5), || self.held_connections() == 0) {
            eprintln!("Apache still holds a connection after 5 s");
        }
    }
}
