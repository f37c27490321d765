//! A daemon's reading of a Request frame: the version, the group's secret
//! and the route are checked before anything runs. A request that fails
//! is answered without running any application code and logged with who
//! sent it (the peer's pid and uid, from SO_PEERCRED).

#![forbid(unsafe_code)]

use super::group::DaemonGroup;
use super::secret;
use crate::apache::log::DaemonRequest;
use pyhost::wsgi_call::AppTarget;
use std::time::Duration;
use wsgi_core::environ::Environ;
use wsgi_core::protocol::DecodeError;
use wsgi_core::route::{self, same_token, Route};

/// A checked request: what to run, and which request it is (for logs).
pub struct Incoming<'a> {
    pub target: AppTarget,
    pub request: DaemonRequest,
    pub route: Route<'a>,
    pub environ: Environ<'a>,
}

/// Why a request was refused; `answer` is what the Apache child is told
/// (None: nothing, the connection is just closed).
pub struct Refused {
    pub why: String,
    pub answer: Option<(u16, String)>,
}

/// The public mod_wsgi keys come from the route, never from whatever the
/// environ says; no name of ours comes from it either.
fn add_route_keys(environ: &mut Environ, route: &route::Route) {
    environ.remove_prefixed(b"mod_wsgi.rs.");
    environ.push(
        &b"mod_wsgi.queue_start"[..],
        route.queue_start_us.to_string().into_bytes(),
    );
    environ.push(
        &b"mod_wsgi.daemon_connects"[..],
        route.connects.to_string().into_bytes(),
    );
    environ.push(
        &b"mod_wsgi.daemon_restarts"[..],
        route.restarts.to_string().into_bytes(),
    );
    environ.push(
        &b"mod_wsgi.daemon_start"[..],
        crate::apache::request::epoch_micros()
            .to_string()
            .into_bytes(),
    );
    // (Taken out again by the adapter before the application sees it.)
    environ.push(
        &b"mod_wsgi.rs.server_pid"[..],
        route.server_pid.to_string().into_bytes(),
    );
}

/// Decodes and checks the payload of a Request frame sent to group `g`.
pub fn check<'a>(payload: &'a [u8], g: &DaemonGroup) -> Result<Incoming<'a>, Refused> {
    let (head, mut environ) = Environ::decode_request(payload).map_err(|e| match e {
        DecodeError::Version(_) => Refused {
            why: e.to_string(),
            answer: Some((500, e.to_string())),
        },
        other => Refused {
            why: format!("an unreadable request ({})", other),
            answer: None,
        },
    })?;
    let ours = secret::token(&g.spec.name);
    if !ours.is_some_and(|t| same_token(head.token, &t)) {
        // Nothing to tell a process that does not know the secret.
        return Err(Refused {
            why: "a request without this group's secret (not from an Apache child of this server)"
                .into(),
            answer: None,
        });
    }
    let route = head.route;
    if let Err(e) = wsgi_core::route_policy::check(&route, &g.roots) {
        return Err(Refused {
            why: format!("a request outside this group's configuration: {}", e),
            answer: Some((
                403,
                format!("refused by daemon process group '{}': {}", g.spec.name, e),
            )),
        });
    }
    add_route_keys(&mut environ, &route);
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    let target = AppTarget {
        script: text(route.script),
        script_mtime_ns: route.script_mtime_ns,
        callable: text(route.callable),
        application_group: text(route.application_group),
        process_group: g.spec.name.clone(),
        reload: route.has(route::RELOAD),
        // Files go to Apache as descriptors (Frame::File).
        sendfile: route.has(route::SENDFILE),
        multithread: g.spec.threads > 1,
        multiprocess: g.spec.multiprocess,
        https: route.has(route::HTTPS),
    };
    let request = DaemonRequest {
        id: text(route.request_id),
        remote: remote_of(&environ),
    };
    Ok(Incoming {
        target,
        request,
        route,
        environ,
    })
}

/// "addr:port" in one allocation (this runs for every request).
fn remote_of(env: &Environ) -> String {
    let mut remote = String::new();
    if let Some(addr) = env.get(b"REMOTE_ADDR").filter(|a| !a.is_empty()) {
        let port = env.get(b"REMOTE_PORT").unwrap_or_default();
        remote.reserve(addr.len() + 1 + port.len());
        remote.push_str(&String::from_utf8_lossy(addr));
        if !port.is_empty() {
            remote.push(':');
            remote.push_str(&String::from_utf8_lossy(port));
        }
    }
    remote
}

impl Incoming<'_> {
    /// How long ago Apache read the request line: for queue-timeout, the
    /// time a request waited for a daemon thread.
    pub fn queued_for(&self) -> Duration {
        let now = crate::apache::request::epoch_micros();
        Duration::from_micros(now.saturating_sub(self.route.request_start_us))
    }

    /// WSGIIgnoreActivity: this request does not reset inactivity-timeout.
    pub fn ignores_activity(&self) -> bool {
        self.route.has(route::IGNORE_ACTIVITY)
    }

    pub fn eager_body(&self) -> bool {
        self.route.has(route::EAGER_BODY)
    }

    /// The request's virtual host in this process (None: the main server).
    pub fn vhost(&self) -> Option<crate::apache::server::Server> {
        crate::apache::vhosts::find(&String::from_utf8_lossy(self.route.vhost))
    }
}
