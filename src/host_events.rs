//! What the Python host reports, routed to this module's roles: log lines
//! to Apache's error log, activity to the lifecycle's watchdog, script
//! loads to a daemon's health checks.

use crate::apache::log;

struct ApacheHost;

impl pyhost::host::Host for ApacheHost {
    fn log(&self, level: i32, msg: &str) {
        log::server(level, std::ptr::null(), msg);
    }

    fn activity(&self, what: &str) {
        crate::lifecycle::set_activity(what);
    }

    fn script_loaded(&self, ok: bool) {
        crate::daemon::health::note_script_load(ok);
    }
}

/// Installs the host before Python starts in this process.
pub fn install() {
    pyhost::host::set_host(Box::new(ApacheHost));
}
