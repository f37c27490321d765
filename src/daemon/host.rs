//! A daemon's Python host: as every process's (lifecycle::ProcessHost),
//! with script loads going to the health checks (startup-timeout).

#![forbid(unsafe_code)]

/// Installs the host before Python starts in this daemon (`server_metrics`:
/// its group's server-metrics=).
pub fn install(server_metrics: bool) {
    pyhost::host::set_host(Box::new(crate::lifecycle::ProcessHost {
        on_script_load: super::health::note_script_load,
        server_metrics,
    }));
}
