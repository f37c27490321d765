//! The Apache child's side of daemon mode: send the request to the group's
//! socket and relay the response to the client, never hanging: a daemon
//! that cannot be reached gives 503, one that dies before answering 502,
//! one that does not answer within the socket timeout 504. Every byte
//! from the daemon is checked as if a client had sent it (a daemon runs
//! application code), and a request is sent again only when the daemon
//! provably did not start it (it said Retry, or closed before Accepted).

#![forbid(unsafe_code)]

use super::conn::FramedConn;
use super::connections::{keep, obtain, MAX_RETRIES};
use super::exchange::Relay;
use super::group::DaemonGroup;
use crate::apache::request::{self, Request};
use crate::apache::{ffi, log};
use pyhost::wsgi_call::AppTarget;
use std::ffi::c_int;
use std::time::Duration;
use wsgi_core::environ::Environ;
use wsgi_core::protocol::{Frame, PROTOCOL_VERSION};
use wsgi_core::retry::{after_not_taken, Retry};
use wsgi_core::route::{self, RequestHead, Route};

/// This Apache child's pid (set once per child: no getpid per request).
static CHILD_PID: std::sync::OnceLock<u32> = std::sync::OnceLock::new();

/// Called in each Apache child after the fork.
pub fn note_child_pid() {
    let _ = CHILD_PID.set(std::process::id());
}

fn child_pid() -> u32 {
    CHILD_PID.get().copied().unwrap_or_else(std::process::id)
}

/// The handler's decisions as the typed route of the Request frame.
fn route_of<'a>(
    t: &'a AppTarget,
    opts: &Options,
    vhost: &'a [u8],
    request_id: &'a [u8],
    start: u64,
) -> Route<'a> {
    let flag = |on: bool, bit: u8| if on { bit } else { 0 };
    Route {
        script: t.script.as_bytes(),
        script_mtime_ns: t.script_mtime_ns,
        callable: t.callable.as_bytes(),
        application_group: t.application_group.as_bytes(),
        vhost,
        request_id,
        flags: flag(t.reload, route::RELOAD)
            | flag(t.sendfile, route::SENDFILE)
            | flag(t.https, route::HTTPS)
            | flag(opts.ignore_activity, route::IGNORE_ACTIVITY),
        server_pid: child_pid(),
        request_start_us: start,
        queue_start_us: request::epoch_micros(),
        connects: 0,
        restarts: 0,
    }
}

/// script-user= / script-group=: a script not owned as required is refused
/// with 403 (as mod_wsgi does), before anything reaches the daemon.
fn check_script_owner(r: Request<'_>, g: &DaemonGroup, script: &str) -> Option<c_int> {
    use super::group::ScriptOwner;
    use std::os::unix::fs::MetadataExt;
    let want = g.script_owner?;
    let meta = std::fs::metadata(script).ok();
    let ok = match (want, &meta) {
        (ScriptOwner::User(uid), Some(m)) => m.uid() == uid,
        (ScriptOwner::Group(gid), Some(m)) => m.gid() == gid,
        (_, None) => false,
    };
    if ok {
        return None;
    }
    log::request(
        ffi::APLOG_ERR,
        r,
        &format!(
            "WSGI script {} is not owned as daemon process group '{}' requires ({:?}); refused",
            script, g.spec.name, want
        ),
    );
    Some(ffi::HTTP_FORBIDDEN)
}

/// What a request needs before it is sent: the group's secret, the small
/// body read ahead, the socket timeout.
struct Prepared {
    token: [u8; route::TOKEN_LEN],
    eager: Option<Vec<u8>>,
    timeout: Duration,
}

fn prepare(
    r: Request<'_>,
    g: &DaemonGroup,
    target: &AppTarget,
    cgi: &Environ,
) -> Result<Prepared, c_int> {
    let server_timeout = r.server().timeout();
    let timeout = if g.spec.socket_timeout.is_zero() {
        server_timeout
    } else {
        g.spec.socket_timeout
    };
    let Some(token) = super::secret::token(&g.spec.name) else {
        log::request(
            ffi::APLOG_ERR,
            r,
            &format!(
                "daemon process group '{}' has no secret in this process",
                g.spec.name
            ),
        );
        return Err(ffi::HTTP_INTERNAL_SERVER_ERROR);
    };
    if let Some(status) = check_script_owner(r, g, &target.script) {
        return Err(status);
    }
    let eager = r.read_small_body(cgi).inspect_err(|_| {
        log::request(
            ffi::APLOG_INFO,
            r,
            "reading the request body from the client failed",
        );
    })?;
    Ok(Prepared {
        token,
        eager,
        timeout,
    })
}

/// After a restart (the scoreboard's generation moved on), a request this
/// old-generation child takes is new work: it goes to the group's newest
/// daemons, so new code serves every request that starts after a restart.
/// Until the new socket exists (the parent is still reading the new
/// configuration), or if the group is gone, our own daemons serve it.
fn first_socket(g: &DaemonGroup) -> String {
    if crate::lifecycle::server_restarted() {
        super::group::newer_socket(&g.socket_path).unwrap_or_else(|| g.socket_path.clone())
    } else {
        g.socket_path.clone()
    }
}

/// What the directory says about relaying, beyond the application target.
#[derive(Clone, Copy, Debug, Default)]
pub struct Options {
    /// WSGIIgnoreActivity: not activity for the daemon's inactivity-timeout.
    pub ignore_activity: bool,
    /// WSGIErrorOverride: Apache's error page replaces the application's.
    pub error_override: bool,
}

/// The request and a small body in one write. A failed send is not an
/// error here: whatever the daemon said before it closed still decides
/// (Retry, or Accepted and then a failure), so the relay reads it. Err:
/// an environ no daemon would take, answered with that status.
fn send_request(
    r: Request<'_>,
    g: &DaemonGroup,
    conn: &mut FramedConn,
    head: &RequestHead,
    cgi: &Environ,
    eager: Option<&[u8]>,
) -> Result<(), c_int> {
    if let Err(e) = conn.defer_request(head, cgi) {
        log::request(
            ffi::APLOG_ERR,
            r,
            &format!(
                "cannot send the request to daemon process group '{}': its environ is too large ({}); answered 500",
                g.spec.name, e
            ),
        );
        return Err(ffi::HTTP_INTERNAL_SERVER_ERROR);
    }
    let sent = match eager {
        Some(body) => conn.send_payload_then(body, true, Some(&Frame::BodyEnd)),
        None => conn.send_deferred(),
    };
    if sent.is_err() {
        conn.shutdown_write();
    }
    Ok(())
}

/// Sends request `r` to daemon group `g` and relays its response.
pub fn relay<'a>(
    r: Request<'_>,
    g: &DaemonGroup,
    target: &'a AppTarget,
    cgi: Environ<'a>,
    opts: Options,
) -> c_int {
    let p = match prepare(r, g, target, &cgi) {
        Ok(p) => p,
        Err(status) => return status,
    };
    let (server, start) = (r.server(), r.start_us());
    let vhost = crate::apache::vhosts::describe(server);
    let request_id = r.log_id().into_bytes();
    let mut head = RequestHead {
        version: PROTOCOL_VERSION,
        token: &p.token,
        route: route_of(target, &opts, vhost.as_bytes(), &request_id, start),
    };
    if p.eager.is_some() {
        head.route.flags |= route::EAGER_BODY;
    }
    let mut path = first_socket(g);
    // A kept connection is tried first; after any trouble, fresh ones only.
    let mut fresh_only = false;
    loop {
        let (mut conn, used, reused) = match obtain(r, g, &path, fresh_only, p.timeout) {
            Ok(c) => c,
            Err(status) => return status,
        };
        if !reused {
            head.route.connects += 1;
        }
        if let Err(status) = send_request(r, g, &mut conn, &head, &cgi, p.eager.as_deref()) {
            return status;
        }
        let mut relay = Relay::new(r, g, conn, p.eager.is_some(), opts.error_override);
        if let Ok(status) = relay.run() {
            if relay.clean_end {
                keep(used, relay.conn);
            }
            return status;
        }
        // Not taken: the daemon provably did not start it (it said Retry,
        // or closed before Accepted), so it may go again (wsgi_core::retry).
        head.route.restarts += 1;
        let newer = super::group::newer_socket(&used);
        match after_not_taken(head.route.restarts, MAX_RETRIES, newer.is_some(), reused) {
            Retry::GiveUp => {
                log::request(
                    ffi::APLOG_ERR,
                    r,
                    &format!(
                        "daemon process group '{}' turned the request away {} times (restarting)",
                        g.spec.name, head.route.restarts
                    ),
                );
                return ffi::HTTP_SERVICE_UNAVAILABLE;
            }
            Retry::Resend { to_newer, pause } => {
                fresh_only = true;
                if let (true, Some(newer)) = (to_newer, newer) {
                    path = newer;
                }
                if pause {
                    std::thread::sleep(Duration::from_millis(10));
                }
            }
        }
    }
}
