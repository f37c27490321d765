//! What the Python host needs from whoever embeds it, beyond one request's
//! I/O (see `io.rs`): somewhere to log, and someone to tell what the
//! process is doing. The Apache module installs its own at start-up; tests
//! and tools get a host that writes to stderr.

#![forbid(unsafe_code)]

use std::sync::OnceLock;

/// Log levels, numbered as syslog (and Apache's APLOG_*) number them.
pub mod level {
    pub const EMERG: i32 = 0;
    pub const ALERT: i32 = 1;
    pub const CRIT: i32 = 2;
    pub const ERR: i32 = 3;
    pub const WARNING: i32 = 4;
    pub const NOTICE: i32 = 5;
    pub const INFO: i32 = 6;
    pub const DEBUG: i32 = 7;
}

/// Process-wide notifications from the Python host.
pub trait Host: Send + Sync {
    /// A line for the process's log, not tied to a request.
    fn log(&self, level: i32, msg: &str);
    /// What the process is doing now (the watchdog names it if a stop hangs).
    fn activity(&self, _what: &str) {}
    /// A WSGI script was loaded (ok) or failed to load.
    fn script_loaded(&self, _ok: bool) {}
    /// Apache's scoreboard, when this process may show it
    /// (WSGIServerMetrics / server-metrics=); None otherwise.
    fn server_metrics(&self) -> Option<super::scoreboard::Scoreboard> {
        None
    }
}

struct Stderr;

impl Host for Stderr {
    fn log(&self, level: i32, msg: &str) {
        eprintln!("[pyhost:{}] {}", level, msg);
    }
}

static HOST: OnceLock<Box<dyn Host>> = OnceLock::new();

/// Installs the process's host; the first call wins (a process has one).
pub fn set_host(host: Box<dyn Host>) {
    let _ = HOST.set(host);
}

pub(crate) fn host() -> &'static dyn Host {
    HOST.get().map(|h| &**h).unwrap_or(&Stderr)
}

/// Logs through the installed host.
pub fn log(level: i32, msg: &str) {
    host().log(level, msg);
}
