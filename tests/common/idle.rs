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

use super::Server;
use std::collections::HashSet;
use std::time::{Duration, Instant};

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

/// The pids of process group `pgid` (Apache's parent and children; the
/// daemons have groups of their own).
fn group_pids(pgid: i32) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            let after = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
            after.split_whitespace().nth(2) == Some(&pgid.to_string())
        })
        .collect()
}

/// How many client connections the processes of group `pgid` still hold.
fn held_connections(pgid: i32) -> usize {
    let other = other_sockets();
    let mut held = HashSet::new();
    for pid in group_pids(pgid) {
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
    /// How many client connections Apache's processes hold.
    pub fn held_connections(&self) -> usize {
        held_connections(self.pgid)
    }

    /// Waits (at most 5 s) until Apache holds no client connection; says
    /// so on stderr if it still did by then.
    pub fn wait_until_connections_closed(&self) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while self.held_connections() > 0 {
            if Instant::now() > deadline {
                eprintln!("Apache still holds a connection after 5 s");
                return;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}
