//! The Apache child's side of daemon mode: send the request to the group's
//! socket and relay the response to the client, never hanging: a daemon
//! that cannot be reached gives 503, one that dies before answering 502,
//! one that does not answer within the socket timeout 504. Every byte
//! from the daemon is checked as if a client had sent it (a daemon runs
//! application code), and a request is sent again only when the daemon
//! provably did not start it (it said Retry, or closed before Accepted).

use super::conn::FramedConn;
use super::group::DaemonGroup;
use super::socket;
use crate::apache::request::{self, Then};
use crate::apache::{ffi, log};
use crate::python::wsgi_call::AppTarget;
use std::ffi::{c_int, CString};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};
use wsgi_core::environ::Environ;
use wsgi_core::protocol::{Frame, PROTOCOL_VERSION, T_END};
use wsgi_core::relay_rules::{ResponseRules, Step};
use wsgi_core::route::{self, RequestHead, Route};

/// This Apache child's pid (set once per child: no getpid per request).
static CHILD_PID: std::sync::OnceLock<u32> = std::sync::OnceLock::new();

/// Called in each Apache child after the fork.
pub fn note_child_pid() {
    let _ = CHILD_PID.set(std::process::id());
}

fn child_pid() -> u32 {
    *CHILD_PID.get().unwrap_or(&std::process::id())
}

/// The handler's decisions as the typed route of the Request frame.
fn route_of<'a>(t: &'a AppTarget, vhost: &'a [u8], request_id: &'a [u8], start: u64) -> Route<'a> {
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
            | flag(t.https, route::HTTPS),
        server_pid: child_pid(),
        request_start_us: start,
        queue_start_us: request::epoch_micros(),
        connects: 0,
        restarts: 0,
    }
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

/// How often one request may be sent again (each time the daemon provably
/// did not take it: it said Retry, or closed before Accepted).
const MAX_RETRIES: u32 = 16;

fn connect(g: &DaemonGroup, start: &str) -> io::Result<(UnixStream, String)> {
    // A daemon that is (re)starting refuses or has no socket yet, and a
    // group whose backlog is full would block: retry until connect-timeout,
    // never longer. After a graceful restart this child may be of the old
    // generation, whose daemons leave once drained: then the same group's
    // newest socket serves it.
    let deadline = Instant::now() + g.spec.connect_timeout;
    let mut wait = Duration::from_millis(5);
    let mut path = start.to_string();
    loop {
        match socket::connect(&path, g.expected) {
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
                let now = Instant::now();
                if now >= deadline {
                    return Err(e);
                }
                std::thread::sleep(wait.min(deadline - now));
                wait = (wait * 2).min(Duration::from_millis(200));
            }
            Err(e) => return Err(e),
        }
    }
}

/// A connection for the next attempt: a kept one unless `fresh_only`.
/// Err: the status to answer with (the group cannot be reached).
fn obtain(
    r: *mut ffi::request_rec,
    g: &DaemonGroup,
    path: &str,
    fresh_only: bool,
    timeout: Duration,
) -> Result<(FramedConn, String, bool), c_int> {
    if !fresh_only {
        if let Some(c) = take_kept(path) {
            return Ok((c, path.to_string(), true));
        }
    }
    match connect(g, path) {
        Ok((stream, used)) => {
            let mut conn = FramedConn::new(stream);
            let _ = conn.set_timeouts(Some(timeout), Some(timeout));
            // (Best effort, as the daemon side: the system's sizes still work.)
            let _ = conn.set_buffer_sizes(g.spec.send_buffer_size, g.spec.receive_buffer_size);
            if g.spec.response_buffer_size > 0 {
                conn.set_max_read(g.spec.response_buffer_size as usize);
            }
            Ok((conn, used, false))
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
            Err(ffi::HTTP_SERVICE_UNAVAILABLE)
        }
    }
}

/// Sends request `r` to daemon group `g` and relays its response.
pub fn relay<'a>(
    r: *mut ffi::request_rec,
    g: &DaemonGroup,
    target: &'a AppTarget,
    cgi: Environ<'a>,
) -> c_int {
    // SAFETY: live request; the server's Timeout directive (microseconds).
    let server_timeout =
        Duration::from_micros(unsafe { (*(*r).server).timeout }.max(1_000_000) as u64);
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
        return ffi::HTTP_INTERNAL_SERVER_ERROR;
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
    // SAFETY: live request: its server and start time.
    let (server, start) = unsafe { ((*r).server, (*r).request_time as u64) };
    let vhost = crate::apache::vhosts::describe(server).into_bytes();
    let request_id = request::log_id(r).into_bytes();
    let mut head = RequestHead {
        version: PROTOCOL_VERSION,
        token: &token,
        route: route_of(target, &vhost, &request_id, start),
    };
    if eager.is_some() {
        head.route.flags |= route::EAGER_BODY;
    }
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
    // A kept connection is tried first; after any trouble, fresh ones only.
    let mut fresh_only = false;
    loop {
        let (mut conn, used, reused) = match obtain(r, g, &path, fresh_only, timeout) {
            Ok(c) => c,
            Err(status) => return status,
        };
        if !reused {
            head.route.connects += 1;
        }
        // The request and a small body go out in one write.
        conn.defer_request(&head, &cgi);
        let sent = match &eager {
            Some(body) => conn.send_payload_then(body, true, Some(&Frame::BodyEnd)),
            None => conn.send_deferred(),
        };
        if sent.is_err() {
            // Whatever the daemon said before it closed still decides
            // (Retry, or Accepted and then a failure): read it.
            conn.shutdown_write();
        }
        let mut relay = Relay::new(r, g, conn, eager.is_some());
        match relay.run() {
            Ok(status) => {
                if relay.clean_end {
                    keep(used, relay.conn);
                }
                return status;
            }
            Err(NotTaken) => {
                // The daemon provably did not start it (it said Retry, or
                // closed before Accepted): safe to send again, whatever the
                // method. Another process of the group, the replacement of
                // this one, or the newer generation's daemons take it.
                head.route.restarts += 1;
                if head.route.restarts > MAX_RETRIES {
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
                fresh_only = true;
                if let Some(newer) = super::group::newer_socket(&used) {
                    path = newer;
                } else if !reused {
                    std::thread::sleep(Duration::from_millis(10));
                }
            }
        }
    }
}

/// The daemon did not take the request: it may be sent again.
struct NotTaken;

struct Relay<'a> {
    r: *mut ffi::request_rec,
    g: &'a DaemonGroup,
    conn: FramedConn,
    /// What the daemon may still send (wsgi_core::relay_rules).
    rules: ResponseRules,
    body_started: bool,
    body_done: bool,
    /// The response ended as it should: the connection can be kept.
    clean_end: bool,
    /// The body's end already went to Apache (with its last piece).
    body_ended: bool,
}

impl<'a> Relay<'a> {
    fn new(r: *mut ffi::request_rec, g: &'a DaemonGroup, conn: FramedConn, eager: bool) -> Self {
        Relay {
            r,
            g,
            conn,
            rules: ResponseRules::default(),
            body_started: eager,
            body_done: eager,
            clean_end: false,
            body_ended: false,
        }
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

    /// The daemon sent what no daemon of ours sends: logged, and the client
    /// gets a 502 (or a cut response once the head went out).
    fn refused(&mut self, what: &str) -> c_int {
        self.broken(io::Error::new(io::ErrorKind::InvalidData, what.to_string()))
    }

    /// Before Accepted: a failed connection means the daemon did not take
    /// the request; a timeout means no daemon thread took it in time.
    fn before_accepted(&mut self, e: io::Error) -> Result<c_int, NotTaken> {
        if matches!(
            e.kind(),
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
        ) {
            log::request(
                ffi::APLOG_ERR,
                self.r,
                &format!(
                    "daemon process group '{}' took no request within the {}; answered 503 (the request did not run)",
                    self.g.spec.name,
                    if self.g.spec.queue_timeout.is_zero() {
                        "socket timeout"
                    } else {
                        "queue-timeout"
                    }
                ),
            );
            return Ok(ffi::HTTP_SERVICE_UNAVAILABLE);
        }
        if e.kind() == io::ErrorKind::InvalidData {
            return Ok(self.broken(e));
        }
        Err(NotTaken)
    }

    /// A failed read: before Accepted, see `before_accepted`.
    fn failed(&mut self, e: io::Error) -> Result<c_int, NotTaken> {
        if self.rules.accepted() {
            Ok(self.broken(e))
        } else {
            self.before_accepted(e)
        }
    }

    /// Relays the daemon's frames. Err: the daemon did not take the request.
    fn run(&mut self) -> Result<c_int, NotTaken> {
        // Until the daemon takes it, the wait is queue-timeout's.
        let queue = self.g.spec.queue_timeout;
        if !queue.is_zero() {
            let _ = self.conn.set_read_timeout(Some(queue));
        }
        let mut body_buf = Vec::new();
        loop {
            if let Err(e) = self.conn.wait_frame() {
                return self.failed(e);
            }
            if self.rules.head_sent() {
                if let Some(status) = self.relay_buffered_data() {
                    return Ok(status);
                }
                if !self.conn.has_buffered_frame() {
                    continue;
                }
            }
            let frame = match self.conn.recv() {
                Ok(f) => f,
                Err(e) => return self.failed(e),
            };
            let step = match frame {
                Frame::File { offset, len } => {
                    let file = self.conn.take_fd().map(std::fs::File::from);
                    let meta = file.as_ref().and_then(|f| f.metadata().ok());
                    let size = meta.filter(|m| m.file_type().is_file()).map(|m| m.len());
                    let step = self.rules.file(offset, len, size);
                    if let (Step::File { offset, len }, Some(file)) = (&step, &file) {
                        if *len > 0 && !request::send_file(self.r, file.as_raw_fd(), *offset, *len)
                        {
                            return Ok(self.client_gone());
                        }
                        continue;
                    }
                    step
                }
                other => self.rules.on_frame(other),
            };
            match step {
                Step::Accepted => {
                    if !queue.is_zero() {
                        let _ = self.conn.set_read_timeout(Some(self.socket_timeout()));
                    }
                }
                Step::NotTaken => return Err(NotTaken),
                Step::WantBody(n) => {
                    if let Err(status) = self.send_body(n, &mut body_buf) {
                        return Ok(status);
                    }
                }
                Step::Head {
                    status,
                    status_line,
                    headers,
                } => {
                    if let Err(status) = self.start_response(status, status_line, headers) {
                        return Ok(status);
                    }
                }
                Step::File { .. } => {}
                Step::End { short } => return Ok(self.end(short)),
                Step::Status { status, message } => {
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
                Step::Refuse(why) => return Ok(self.refused(&why)),
            }
        }
    }

    fn socket_timeout(&self) -> Duration {
        if self.g.spec.socket_timeout.is_zero() {
            // SAFETY: live request; the server's Timeout (microseconds).
            Duration::from_micros(unsafe { (*(*self.r).server).timeout }.max(1_000_000) as u64)
        } else {
            self.g.spec.socket_timeout
        }
    }

    /// Response bytes go to Apache straight from the read buffer, cut at
    /// the declared Content-Length. Some(status): the relay is over.
    fn relay_buffered_data(&mut self) -> Option<c_int> {
        let mut pieces = Vec::new();
        let used = self.conn.buffered_data(&mut pieces);
        if used == 0 {
            return None;
        }
        let n: usize = pieces.iter().map(|p| p.len()).sum();
        let fits = self.rules.body(n as u64) as usize;
        let overflow = fits < n;
        if overflow {
            let mut left = fits;
            for p in pieces.iter_mut() {
                let take = p.len().min(left);
                *p = &p[..take];
                left -= take;
            }
        }
        // Flush only when nothing further is already waiting; end the body
        // with the last piece when End is waiting (or the declared length
        // is reached and the daemon sent more: the rest is not sent).
        let then = match self.conn.buffered_frame_type_after(used) {
            _ if overflow => Then::End,
            None => Then::Flush,
            Some(T_END) if !self.rules.short_of_declared(0) => Then::End,
            Some(_) => Then::Keep,
        };
        let ok = request::write_pieces(self.r, &pieces, then);
        drop(pieces);
        self.conn.consume(used);
        if !ok {
            return Some(self.client_gone());
        }
        self.body_ended = then == Then::End;
        if overflow {
            log::request(
                ffi::APLOG_ERR,
                self.r,
                &format!(
                    "daemon process group '{}' sent more than the response's Content-Length ({}); the rest was not sent",
                    self.g.spec.name,
                    self.rules.declared().unwrap_or(0)
                ),
            );
            return Some(ffi::OK);
        }
        None
    }

    /// Hands the head (checked by the rules) to Apache, unless it is larger
    /// than header-buffer-size. Err: the status to answer with.
    fn start_response(
        &mut self,
        status: u16,
        status_line: Vec<u8>,
        headers: Vec<(Vec<u8>, Vec<u8>)>,
    ) -> Result<(), c_int> {
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
            // Nothing went to Apache yet: a plain 502, not a cut response.
            return Err(ffi::HTTP_BAD_GATEWAY);
        }
        // (The checks exclude NUL.)
        let line = CString::new(status_line).unwrap_or_default();
        let headers: Vec<(CString, CString)> = headers
            .into_iter()
            .filter_map(|(k, v)| Some((CString::new(k).ok()?, CString::new(v).ok()?)))
            .collect();
        request::set_response_head(self.r, status, &line, &headers);
        Ok(())
    }

    /// End: the response is complete unless it is short of its length.
    fn end(&mut self, short: bool) -> c_int {
        if short {
            self.close_connection();
            return ffi::OK;
        }
        if !self.body_ended && !request::end_body(self.r) {
            return self.client_gone();
        }
        self.clean_end = true;
        ffi::OK
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
                return Err(if self.rules.head_sent() {
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
                if self.rules.head_sent() {
                    "while sending the response"
                } else {
                    "before responding"
                },
                e
            ),
        );
        if self.rules.head_sent() {
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
