//! The Apache child's side of daemon mode: send the request to the group's
//! socket and relay the response to the client, never hanging: a daemon
//! that cannot be reached gives 503, one that dies before answering 502,
//! one that does not answer within the socket timeout 504.

use super::conn::FramedConn;
use super::group::DaemonGroup;
use crate::apache::log::DaemonRequest;
use crate::apache::request::{self, Then};
use crate::apache::{ffi, log};
use crate::python::wsgi_call::AppTarget;
use std::borrow::Cow;
use std::ffi::{c_int, CString};
use std::io;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};
use wsgi_core::environ::Environ;
use wsgi_core::protocol::{Frame, T_END};

// Keys that carry the handler's decisions to the daemon inside the environ.
const K_SCRIPT: &[u8] = b"mod_wsgi.rs.script";
const K_MTIME: &[u8] = b"mod_wsgi.rs.script_mtime";
const K_CALLABLE: &[u8] = b"mod_wsgi.callable_object";
const K_APP_GROUP: &[u8] = b"mod_wsgi.application_group";
const K_RELOAD: &[u8] = b"mod_wsgi.script_reloading";
const K_HTTPS: &[u8] = b"mod_wsgi.rs.https";
const K_REQUEST_ID: &[u8] = b"mod_wsgi.request_id";
const K_EAGER: &[u8] = b"mod_wsgi.rs.eager_body";
/// Whether a file_wrapper may be handed to Apache as a file (WSGIEnableSendfile).
const K_SENDFILE: &[u8] = b"mod_wsgi.rs.sendfile";
/// The request's virtual host (see apache::vhosts), for the daemon's logs.
const K_VHOST: &[u8] = b"mod_wsgi.rs.vhost";
/// The Apache child that took the request (`server_pid` in request events).
const K_SERVER_PID: &[u8] = b"mod_wsgi.rs.server_pid";
/// New connections to the daemon this request took (0: a kept one served).
const K_CONNECTS: &[u8] = b"mod_wsgi.daemon_connects";
/// Times the request was sent again (a daemon turned it away).
const K_RESTARTS: &[u8] = b"mod_wsgi.daemon_restarts";

/// Whether the child sent the body with the request (daemon side).
pub fn eager_body(env: &Environ) -> bool {
    env.get(K_EAGER) == Some(b"1")
}

/// This Apache child's pid, as text (set once per child: no getpid per request).
static CHILD_PID: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// Called in each Apache child after the fork.
pub fn note_child_pid() {
    let _ = CHILD_PID.set(std::process::id().to_string());
}

fn child_pid() -> Cow<'static, [u8]> {
    match CHILD_PID.get() {
        Some(pid) => Cow::Borrowed(pid.as_bytes()),
        None => Cow::Owned(std::process::id().to_string().into_bytes()),
    }
}

fn flag(on: bool) -> &'static [u8] {
    if on {
        b"1"
    } else {
        b"0"
    }
}

/// Adds the handler's decisions to the CGI variables sent to the daemon.
fn encode_target<'a>(cgi: &mut Environ<'a>, t: &'a AppTarget, r: *mut ffi::request_rec) {
    // SAFETY: the live request being relayed.
    let server = unsafe { (*r).server };
    cgi.push(
        K_VHOST,
        crate::apache::vhosts::describe(server).into_bytes(),
    );
    cgi.push(K_SCRIPT, t.script.as_bytes());
    cgi.push(K_MTIME, t.script_mtime_ns.to_string().into_bytes());
    cgi.push(K_CALLABLE, t.callable.as_bytes());
    cgi.push(K_APP_GROUP, t.application_group.as_bytes());
    cgi.push(K_RELOAD, flag(t.reload));
    cgi.push(K_SENDFILE, flag(t.sendfile));
    cgi.push(K_SERVER_PID, child_pid());
    cgi.push(K_HTTPS, flag(t.https));
}

/// The server_rec of the request's virtual host in this process (null:
/// the main server).
pub fn vhost_from_environ(env: &Environ) -> *const ffi::server_rec {
    env.get(K_VHOST)
        .map(|v| crate::apache::vhosts::find(&String::from_utf8_lossy(v)))
        .unwrap_or(std::ptr::null())
}

/// How long ago Apache read the request line (`mod_wsgi.request_start`,
/// µs since the epoch): for queue-timeout, the time a request waited for a
/// daemon thread.
pub fn queued_for(env: &Environ) -> Option<Duration> {
    let start: u64 = env
        .get(b"mod_wsgi.request_start")
        .and_then(|v| std::str::from_utf8(v).ok()?.parse().ok())?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?;
    Some(now.saturating_sub(Duration::from_micros(start)))
}

/// script-user= / script-group=: a script not owned as required is refused
/// with 403 (as mod_wsgi does), before anything reaches the daemon.
fn check_script_owner(r: *mut ffi::request_rec, g: &DaemonGroup, script: &str) -> Option<c_int> {
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

/// Connections to daemons kept between requests, per Apache child process
/// (socket path, connection): connect, accept, timeouts and close are paid
/// once per connection instead of once per request.
static KEPT: std::sync::Mutex<Vec<(String, FramedConn)>> = std::sync::Mutex::new(Vec::new());
const MAX_KEPT: usize = 32;

/// RFC 9110's idempotent methods: safe to send again after a failure that
/// leaves it unknown whether the daemon started them.
fn idempotent(r: *mut ffi::request_rec) -> bool {
    // SAFETY: live request; its method is a C string.
    let method = request::cstr_bytes(unsafe { (*r).method });
    matches!(
        method,
        b"GET" | b"HEAD" | b"OPTIONS" | b"TRACE" | b"PUT" | b"DELETE"
    )
}

/// A kept connection to `path` that is still open and silent.
fn take_kept(path: &str) -> Option<FramedConn> {
    loop {
        let conn = {
            let mut kept = KEPT.lock().unwrap_or_else(|e| e.into_inner());
            let i = kept.iter().rposition(|(p, _)| p == path)?;
            kept.swap_remove(i).1
        };
        if !conn.is_stale() {
            return Some(conn);
        }
    }
}

fn keep(path: String, conn: FramedConn) {
    let mut kept = KEPT.lock().unwrap_or_else(|e| e.into_inner());
    if kept.len() >= MAX_KEPT {
        kept.remove(0);
    }
    kept.push((path, conn));
}

/// How often one request may be turned away by restarting daemons.
const MAX_RETRIES: u32 = 16;

/// The daemon's reading of what `encode_target` sent (and which request
/// this is, for its log lines).
pub fn target_from_environ(env: &Environ, g: &DaemonGroup) -> (AppTarget, DaemonRequest) {
    let get = |k: &[u8]| {
        env.get(k)
            .map(|v| String::from_utf8_lossy(v).into_owned())
            .unwrap_or_default()
    };
    let target = AppTarget {
        script: get(K_SCRIPT),
        script_mtime_ns: get(K_MTIME).parse().unwrap_or(0),
        callable: get(K_CALLABLE),
        application_group: get(K_APP_GROUP),
        process_group: g.spec.name.clone(),
        reload: get(K_RELOAD) == "1",
        // Files go to Apache as descriptors (Frame::File).
        sendfile: get(K_SENDFILE) == "1",
        multithread: g.spec.threads > 1,
        multiprocess: g.spec.multiprocess,
        https: get(K_HTTPS) == "1",
    };
    // "addr:port" in one allocation (this runs for every request).
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
    let request = DaemonRequest {
        id: get(K_REQUEST_ID),
        remote,
    };
    (target, request)
}

fn connect(g: &DaemonGroup, start: &str) -> io::Result<(UnixStream, String)> {
    // A daemon that is (re)starting refuses or has no socket yet: retry
    // until connect-timeout, as mod_wsgi does. After a graceful restart this
    // child may be of the old generation, whose daemons leave once drained:
    // then the same group's newest socket serves it.
    let deadline = Instant::now() + g.spec.connect_timeout;
    let mut wait = Duration::from_millis(5);
    let mut path = start.to_string();
    loop {
        match UnixStream::connect(&path) {
            Ok(s) => return Ok((s, path)),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::ConnectionRefused
                        | io::ErrorKind::NotFound
                        | io::ErrorKind::WouldBlock
                ) =>
            {
                if let Some(newer) = super::group::newer_socket(&path) {
                    path = newer;
                    continue;
                }
                if Instant::now() + wait >= deadline {
                    return Err(e);
                }
                std::thread::sleep(wait);
                wait = (wait * 2).min(Duration::from_millis(200));
            }
            Err(e) => return Err(e),
        }
    }
}

/// Sends request `r` to daemon group `g` and relays its response.
pub fn relay<'a>(
    r: *mut ffi::request_rec,
    g: &DaemonGroup,
    target: &'a AppTarget,
    mut cgi: Environ<'a>,
) -> c_int {
    // SAFETY: live request; the server's Timeout directive (microseconds).
    let server_timeout =
        Duration::from_micros(unsafe { (*(*r).server).timeout }.max(1_000_000) as u64);
    let timeout = if g.spec.socket_timeout.is_zero() {
        server_timeout
    } else {
        g.spec.socket_timeout
    };
    if let Some(status) = check_script_owner(r, g, &target.script) {
        return status;
    }
    let eager = match request::read_small_body(r, &cgi) {
        Ok(b) => b,
        Err(status) => {
            log::request(
                ffi::APLOG_INFO,
                r,
                "reading the request body from the client failed",
            );
            return status;
        }
    };
    encode_target(&mut cgi, target, r);
    if eager.is_some() {
        cgi.push(K_EAGER, &b"1"[..]);
    }
    // mod_wsgi's timing keys: when the relay to the daemon began, and (set
    // before each send) how many connections and retries it took.
    cgi.push(
        &b"mod_wsgi.queue_start"[..],
        request::epoch_micros().to_string().into_bytes(),
    );
    let counters = cgi.len();
    cgi.push(K_CONNECTS, &b"0"[..]);
    cgi.push(K_RESTARTS, &b"0"[..]);
    // After a restart (the scoreboard's generation moved on), a request this
    // old-generation child takes is new work: it goes to the group's newest
    // daemons, so new code serves every request that starts after a restart.
    // Until the new socket exists (the parent is still reading the new
    // configuration), or if the group is gone, our own daemons serve it.
    let mut path = if crate::lifecycle::server_restarted() {
        super::group::newer_socket(&g.socket_path).unwrap_or_else(|| g.socket_path.clone())
    } else {
        g.socket_path.clone()
    };
    let mut retries = 0u32;
    let mut connects = 0u32;
    // A kept connection is tried first; after any trouble, fresh ones only.
    let mut fresh_only = false;
    loop {
        let kept = if fresh_only { None } else { take_kept(&path) };
        let reused = kept.is_some();
        let (mut conn, used) = match kept {
            Some(c) => (c, path.clone()),
            None => match connect(g, &path) {
                Ok((stream, used)) => {
                    connects += 1;
                    let mut conn = FramedConn::new(stream);
                    let _ = conn.set_timeouts(Some(timeout), Some(timeout));
                    // (Best effort, as the daemon side: the system's sizes
                    // still work.)
                    let _ =
                        conn.set_buffer_sizes(g.spec.send_buffer_size, g.spec.receive_buffer_size);
                    if g.spec.response_buffer_size > 0 {
                        conn.set_max_read(g.spec.response_buffer_size as usize);
                    }
                    (conn, used)
                }
                Err(e) => {
                    log::request(
                        ffi::APLOG_ERR,
                        r,
                        &format!(
                        "cannot reach daemon process group '{}' at {}: {} (after connect-timeout {:?})",
                        g.spec.name, path, e, g.spec.connect_timeout
                    ),
                    );
                    return ffi::HTTP_SERVICE_UNAVAILABLE;
                }
            },
        };
        if connects > 0 || retries > 0 {
            cgi.set_at(counters, connects.to_string().into_bytes());
            cgi.set_at(counters + 1, retries.to_string().into_bytes());
        }
        // The request and a small body go out in one write.
        conn.defer_request(&cgi);
        let sent = match &eager {
            Some(body) => conn.send_payload_then(body, true, Some(&Frame::BodyEnd)),
            None => conn.send_deferred(),
        };
        let sent_body = eager.is_some();
        let relay = Relay {
            r,
            g,
            conn,
            head_sent: false,
            body_started: sent_body,
            body_done: sent_body,
            declared: None,
            written: 0,
            frames: 0,
            retry: false,
            clean_end: false,
            body_ended: false,
        };
        let mut relay = relay;
        let send_failed = sent.is_err();
        let result = match sent {
            Ok(()) => relay.run(),
            // A kept connection the daemon gave back while we were sending:
            // it said so (Retry) before closing, and took nothing.
            Err(e) if reused => match relay.conn.recv() {
                Ok(Frame::Retry) => {
                    relay.retry = true;
                    Ok(ffi::OK)
                }
                _ => Err(e),
            },
            Err(e) => Err(e),
        };
        match result {
            Ok(_) if relay.retry => {
                // A daemon restarting for a changed script turned it away;
                // another process (or its replacement) takes it.
                retries += 1;
                if retries > MAX_RETRIES {
                    log::request(
                        ffi::APLOG_ERR,
                        r,
                        &format!(
                            "daemon process group '{}' turned the request away {} times (restarting)",
                            g.spec.name, retries
                        ),
                    );
                    return ffi::HTTP_SERVICE_UNAVAILABLE;
                }
                fresh_only = true;
                if !reused {
                    std::thread::sleep(Duration::from_millis(10));
                }
                continue;
            }
            Ok(status) => {
                if relay.clean_end {
                    keep(used, relay.conn);
                }
                return status;
            }
            // A kept connection we could not even send on: the daemon
            // closed it (it stopped, or died while it was idle) and so never
            // saw the request. Once sent, a request is never sent again
            // unless the daemon says so (Retry): a daemon that died while
            // running it (request-timeout, a crash) must not get a second
            // one to run it again.
            Err(_) if reused && send_failed && idempotent(r) => {
                fresh_only = true;
                continue;
            }
            Err(e) => match relay.unanswered(e, &used, &mut path) {
                Some(status) => return status,
                None => continue, // retry on the newer generation's socket
            },
        }
    }
}

struct Relay<'a> {
    r: *mut ffi::request_rec,
    g: &'a DaemonGroup,
    conn: FramedConn,
    head_sent: bool,
    body_started: bool,
    body_done: bool,
    declared: Option<u64>,
    written: u64,
    /// Frames received from the daemon so far.
    frames: u32,
    /// The daemon asked for the request to be sent again.
    retry: bool,
    /// The response ended as it should: the connection can be kept.
    clean_end: bool,
    /// The body's end already went to Apache (with its last piece).
    body_ended: bool,
}

impl Relay<'_> {
    /// The connection failed before the daemon sent anything: if this is an
    /// old generation's socket and a newer one exists, the draining daemon
    /// left without taking the request (it finishes every request it
    /// accepts, and no body was read: there was no WantBody), so it is
    /// retried there (None). Otherwise the status to answer with.
    fn unanswered(&mut self, e: io::Error, used: &str, path: &mut String) -> Option<c_int> {
        let gone = matches!(
            e.kind(),
            io::ErrorKind::UnexpectedEof
                | io::ErrorKind::ConnectionReset
                | io::ErrorKind::BrokenPipe
        );
        if gone && self.frames == 0 {
            if let Some(newer) = super::group::newer_socket(used) {
                *path = newer;
                return None;
            }
        }
        Some(self.broken(e))
    }

    /// Whether the body, `more` bytes on, is still shorter than the
    /// Content-Length the application declared.
    fn short_of_declared(&self, more: usize) -> bool {
        matches!(self.declared, Some(cl) if self.written + (more as u64) < cl)
    }

    /// The client went away mid-response: logged, nothing more to send.
    fn client_gone(&self) -> c_int {
        log::request(
            ffi::APLOG_INFO,
            self.r,
            "the client closed the connection before the response was complete",
        );
        ffi::OK
    }

    /// Relays the daemon's frames. Err: the connection failed before any
    /// frame arrived (the caller decides whether to retry).
    fn run(&mut self) -> Result<c_int, io::Error> {
        let mut body_buf = Vec::new();
        loop {
            if let Err(e) = self.conn.wait_frame() {
                if self.frames == 0 {
                    return Err(e);
                }
                return Ok(self.broken(e));
            }
            if self.head_sent {
                // Response bytes go to Apache straight from the read buffer.
                let mut pieces = Vec::new();
                let used = self.conn.buffered_data(&mut pieces);
                if used > 0 {
                    self.frames += pieces.len() as u32;
                    let n: usize = pieces.iter().map(|p| p.len()).sum();
                    // Flush only when nothing further is already waiting;
                    // end the body with the last piece when End is waiting.
                    let then = match self.conn.buffered_frame_type_after(used) {
                        None => Then::Flush,
                        Some(T_END) if !self.short_of_declared(n) => Then::End,
                        Some(_) => Then::Keep,
                    };
                    let ok = request::write_pieces(self.r, &pieces, then);
                    drop(pieces);
                    self.conn.consume(used);
                    if !ok {
                        return Ok(self.client_gone());
                    }
                    self.written += n as u64;
                    self.body_ended = then == Then::End;
                    continue;
                }
            }
            let frame = match self.conn.recv() {
                Ok(f) => f,
                Err(e) if self.frames == 0 => return Err(e),
                Err(e) => return Ok(self.broken(e)),
            };
            self.frames += 1;
            match frame {
                Frame::WantBody(n) => {
                    if let Err(status) = self.send_body(n, &mut body_buf) {
                        return Ok(status);
                    }
                }
                Frame::Head {
                    status,
                    status_line,
                    headers,
                } if !self.head_sent => {
                    let size = status_line.len()
                        + headers
                            .iter()
                            .map(|(k, v)| k.len() + v.len() + 4)
                            .sum::<usize>();
                    let limit = self.g.spec.header_buffer_size as usize;
                    if limit > 0 && size > limit {
                        log::request(
                            ffi::APLOG_ERR,
                            self.r,
                            &format!(
                                "daemon process group '{}': response headers of {} bytes exceed header-buffer-size ({})",
                                self.g.spec.name, size, limit
                            ),
                        );
                        return Ok(ffi::HTTP_BAD_GATEWAY);
                    }
                    let line = CString::new(status_line).unwrap_or_default();
                    let headers: Vec<(CString, CString)> = headers
                        .into_iter()
                        .filter_map(|(k, v)| Some((CString::new(k).ok()?, CString::new(v).ok()?)))
                        .collect();
                    self.declared = headers
                        .iter()
                        .find(|(k, _)| k.as_bytes().eq_ignore_ascii_case(b"content-length"))
                        .and_then(|(_, v)| v.to_str().ok()?.trim().parse().ok());
                    request::set_response_head(self.r, status, &line, &headers);
                    self.head_sent = true;
                }
                // A file the daemon opened, sent from here with sendfile.
                Frame::File { offset, len } if self.head_sent => {
                    let Some(fd) = self.conn.take_fd() else {
                        return Ok(self.broken(io::Error::new(
                            io::ErrorKind::InvalidData,
                            "a File frame came without its descriptor",
                        )));
                    };
                    let fd = std::os::fd::AsRawFd::as_raw_fd(&fd);
                    if !request::send_file(self.r, fd, offset, len) {
                        return Ok(self.client_gone());
                    }
                    self.written += len;
                }
                Frame::End if self.head_sent => {
                    if self.short_of_declared(0) {
                        self.close_connection();
                        return Ok(ffi::OK);
                    }
                    if !self.body_ended && !request::end_body(self.r) {
                        return Ok(self.client_gone());
                    }
                    self.clean_end = true;
                    return Ok(ffi::OK);
                }
                // Only as the first frame: no body was asked for yet.
                Frame::Retry if self.frames == 1 => {
                    self.retry = true;
                    return Ok(ffi::OK);
                }
                Frame::Error { status, message } if !self.head_sent => {
                    log::request(
                        ffi::APLOG_ERR,
                        self.r,
                        &format!(
                            "daemon process group '{}': {}",
                            self.g.spec.name,
                            String::from_utf8_lossy(&message)
                        ),
                    );
                    return Ok(status as c_int);
                }
                other => {
                    return Ok(self.broken(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("unexpected frame {:?}", frame_name(&other)),
                    )));
                }
            }
        }
    }

    /// Answers WantBody(n): reads up to n bytes from the client.
    fn send_body(&mut self, n: u32, buf: &mut Vec<u8>) -> Result<(), c_int> {
        if !self.body_started {
            self.body_started = true;
            // Sends "100 Continue" now that the application reads.
            self.body_done = !request::start_body(self.r);
        }
        let frame_result = if self.body_done {
            self.conn.send(&Frame::BodyEnd)
        } else {
            buf.resize((n as usize).clamp(1, 1 << 20), 0);
            // Fill what was asked for (one client read often returns ~8 KB),
            // so a body costs one round trip per WantBody, not one per read.
            let mut got: isize = 0;
            while (got as usize) < buf.len() {
                let n = request::read_body(self.r, &mut buf[got as usize..]);
                if n <= 0 {
                    if n < 0 || got == 0 {
                        got = n;
                    }
                    if n == 0 {
                        // End of body: say so after this last piece.
                        self.body_done = got > 0 || self.body_done;
                    }
                    break;
                }
                got += n;
            }
            if got < 0 {
                log::request(
                    ffi::APLOG_INFO,
                    self.r,
                    "reading the request body from the client failed",
                );
                self.close_connection();
                return Err(if self.head_sent {
                    ffi::OK
                } else {
                    ffi::HTTP_BAD_REQUEST
                });
            }
            if got == 0 {
                self.body_done = true;
                self.conn.send(&Frame::BodyEnd)
            } else {
                // (If the end was reached, the next WantBody gets BodyEnd.)
                self.conn.send_payload(&buf[..got as usize], true)
            }
        };
        frame_result.map_err(|e| self.broken(e))
    }

    /// The daemon went away or misbehaved.
    fn broken(&mut self, e: io::Error) -> c_int {
        let timed_out = matches!(
            e.kind(),
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
        );
        let what = if timed_out {
            "did not answer within the socket timeout"
        } else {
            "closed the connection (the process may have died)"
        };
        log::request(
            ffi::APLOG_ERR,
            self.r,
            &format!(
                "daemon process group '{}' {} {}: {}",
                self.g.spec.name,
                what,
                if self.head_sent {
                    "while sending the response"
                } else {
                    "before responding"
                },
                e
            ),
        );
        if self.head_sent {
            request::abort_response(self.r);
            ffi::OK
        } else if timed_out {
            ffi::HTTP_GATEWAY_TIME_OUT
        } else {
            ffi::HTTP_BAD_GATEWAY
        }
    }

    fn close_connection(&self) {
        // SAFETY: live request; the response is incomplete, so the client
        // must see the connection close rather than wait for more.
        unsafe { (*(*self.r).connection).keepalive = ffi::ap_conn_keepalive_e_AP_CONN_CLOSE };
    }
}

fn frame_name(f: &Frame) -> &'static str {
    match f {
        Frame::Request { .. } => "Request",
        Frame::Body(_) => "Body",
        Frame::BodyEnd => "BodyEnd",
        Frame::WantBody(_) => "WantBody",
        Frame::Head { .. } => "Head",
        Frame::Data(_) => "Data",
        Frame::End => "End",
        Frame::Error { .. } => "Error",
        Frame::Retry => "Retry",
        Frame::File { .. } => "File",
    }
}
