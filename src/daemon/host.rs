//! What a daemon's Python host reports: log lines to the error log,
//! activity to the lifecycle's watchdog, script loads to the health checks.

#![forbid(unsafe_code)]

use crate::apache::log;

struct DaemonHost;

impl pyhost::host::Host for DaemonHost {
    fn log(&self, level: i32, msg: &str) {
        log::server(level, std::ptr::null(), msg);
    }

    fn activity(&self, what: &str) {
        crate::lifecycle::set_activity(what);
    }

    fn script_loaded(&self, ok: bool) {
        super::health::note_script_load(ok);
    }
}

/// Installs the host before Python starts in this daemon.
pub fn install() {
    pyhost::host::set_host(Box::new(DaemonHost));
}
