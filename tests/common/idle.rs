//! Waiting until Apache has closed every connection a test made, before a
//! stop that should not race with it.
//!
//! Why: Apache's event MPM can crash (SIGSEGV in `apr_os_sock_get`, from
//! its main thread's `close_worker_sockets`) when an ungraceful stop lands
//! while a worker is just letting go of a finished connection. The core
//! files of two CI failures showed that, with no frame of ours. A test of
//! our stop sequence stops an idle server instead.

use super::Server;
use std::time::{Duration, Instant};

/// TCP states in /proc/net/tcp (hex) that still hold the socket in Apache:
/// established, FIN_WAIT1/2, CLOSE_WAIT, LAST_ACK, CLOSING.
const OPEN_STATES: &[&str] = &["01", "04", "05", "08", "09", "0B"];

/// How many server-side sockets on `port` are still open (not listening,
/// not TIME_WAIT, which the kernel alone holds).
pub fn open_server_sockets(port: u16) -> usize {
    let want = format!(":{:04X}", port);
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap_or_default();
    table
        .lines()
        .skip(1)
        .filter(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            fields.len() > 3 && fields[1].ends_with(&want) && OPEN_STATES.contains(&fields[3])
        })
        .count()
}

impl Server {
    /// Waits (at most 5 s) until Apache has closed every client
    /// connection; says so on stderr if it had not by then.
    pub fn wait_until_connections_closed(&self) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while open_server_sockets(self.port) > 0 {
            if Instant::now() > deadline {
                eprintln!("connections to port {} still open after 5 s", self.port);
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}
