//! `WSGIImportScript`: scripts loaded into their interpreters as a process
//! (an Apache child or a daemon) starts.

#![forbid(unsafe_code)]

use crate::apache::server::Server;
use crate::apache::{ffi, log};
use crate::config;
use pyhost::runtime;
use wsgi_core::app_group::{application_group_name, RequestIdentity};
use wsgi_core::directives::ProcessGroup;

/// `WSGIImportScript`: load the scripts meant for this process group ("" =
/// embedded) into their interpreters as the process starts, so the first
/// request does not pay for it. `s` None means the main server. Returns
/// how many failed.
pub fn preload_for(process_group: &str, s: Option<Server>) -> usize {
    let Some(s) = s.or_else(Server::main) else {
        return 0;
    };
    let mut failed = 0;
    let scripts = config::global_snapshot().import_scripts;
    let wanted = |pg: &ProcessGroup| match pg {
        ProcessGroup::Global => process_group.is_empty(),
        ProcessGroup::Named(n) => n == process_group,
        ProcessGroup::Env(_) => false,
    };
    for script in scripts.iter().filter(|i| wanted(&i.process_group)) {
        let (host, port) = (s.hostname(), s.port());
        let no_env = |_: &str| None;
        let group = application_group_name(
            &script.application_group,
            &RequestIdentity {
                server_hostname: &host,
                port,
                default_port: port == 0 || port == 80,
                script_name: "",
                env: &no_env,
            },
        );
        match runtime::preload_script(&group, &script.path) {
            Ok(()) => log::server(
                ffi::APLOG_INFO,
                Some(s),
                &format!(
                    "imported '{}' into application group '{}'",
                    script.path, group
                ),
            ),
            Err(e) => {
                failed += 1;
                let msg = format!("WSGIImportScript '{}' failed:", script.path);
                log::server(ffi::APLOG_ERR, Some(s), &msg);
                for line in e.trim_end().lines() {
                    log::server(ffi::APLOG_ERR, Some(s), line);
                }
            }
        }
    }
    failed
}
