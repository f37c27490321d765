//! One exchange with a daemon, as the Apache child runs it: each frame goes
//! through `wsgi_core::relay_rules`, then to Apache (head, body, files) or
//! back to the daemon (request body), never trusting what the daemon says.

#![forbid(unsafe_code)]

use super::conn::FramedConn;
use super::group::DaemonGroup;
use crate::apache::request::Request;
use crate::apache::response::{FileFrom, Then};
use crate::apache::{ffi, log};
use std::ffi::{c_int, CString};
use std::io;
use std::os::fd::AsRawFd;
use std::time::Duration;
use wsgi_core::protocol::{Frame, T_END};
use wsgi_core::relay_rules::{ResponseRules, Step};

pub(super) struct Relay<'a> {
    r: Request<'a>,
    g: &'a DaemonGroup,
    pub(super) conn: FramedConn,
    /// What the daemon may still send (wsgi_core::relay_rules).
    rules: ResponseRules,
    body_started: bool,
    body_done: bool,
    /// The response ended as it should: the connection can be kept.
    pub(super) clean_end: bool,
    /// The body's end already went to Apache (with its last piece).
    body_ended: bool,
    /// WSGIErrorOverride: an error status is answered by Apache's page.
    error_override: bool,
}

impl<'a> Relay<'a> {
    pub(super) fn new(
        r: Request<'a>,
        g: &'a DaemonGroup,
        conn: FramedConn,
        eager: bool,
        error_override: bool,
    ) -> Self {
        Relay {
            r,
            g,
            conn,
            rules: ResponseRules::for_request(r.header_only()),
            body_started: eager,
            body_done: eager,
            clean_end: false,
            body_ended: false,
            error_override,
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
    pub(super) fn run(&mut self) -> Result<c_int, NotTaken> {
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
                Frame::File { offset, len } => match self.file(offset, len) {
                    Ok(None) => continue,
                    Ok(Some(step)) => step,
                    Err(status) => return Ok(status),
                },
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
                Step::Head { status, .. }
                    if self.error_override && (400..=599).contains(&status) =>
                {
                    return Ok(self.overridden(status));
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

    /// A File frame: the descriptor that came with it goes to Apache as a
    /// file bucket (None: sent); any other step the rules make of it.
    /// Err: the client is gone.
    fn file(&mut self, offset: u64, len: u64) -> Result<Option<Step>, c_int> {
        let file = self.conn.take_fd().map(std::fs::File::from);
        let meta = file.as_ref().and_then(|f| f.metadata().ok());
        let size = meta.filter(|m| m.file_type().is_file()).map(|m| m.len());
        let step = self.rules.file(offset, len, size);
        if let (Step::File { offset, len }, Some(file)) = (&step, &file) {
            if *len > 0
                && !self
                    .r
                    .send_file(file.as_raw_fd(), *offset, *len, FileFrom::Daemon)
            {
                return Err(self.client_gone());
            }
            return Ok(None);
        }
        Ok(Some(step))
    }

    /// WSGIErrorOverride: the application's error response is dropped
    /// (with the connection, so nothing of it is read) and Apache answers
    /// the status with its own error page (ErrorDocument).
    fn overridden(&mut self, status: u16) -> c_int {
        log::request(
            ffi::APLOG_INFO,
            self.r,
            &format!("WSGIErrorOverride: the application's {status} response is replaced by Apache's error page"),
        );
        self.clean_end = false;
        status as c_int
    }

    fn socket_timeout(&self) -> Duration {
        if self.g.spec.socket_timeout.is_zero() {
            self.r.server().timeout()
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
        let ok = self.r.write_pieces(&pieces, then);
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
        self.r.set_response_head(status, &line, &headers);
        Ok(())
    }

    /// End: the response is complete unless it is short of its length.
    fn end(&mut self, short: bool) -> c_int {
        if short {
            self.close_connection();
            return ffi::OK;
        }
        if !self.body_ended && !self.r.end_body() {
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
            self.body_done = !self.r.start_body();
        }
        let frame_result = if self.body_done {
            self.conn.send(&Frame::BodyEnd)
        } else {
            buf.resize((n as usize).clamp(1, 1 << 20), 0);
            // Fill what was asked for (one client read often returns ~8 KB),
            // so a body costs one round trip per WantBody, not one per read.
            let mut got: isize = 0;
            while (got as usize) < buf.len() {
                let n = self.r.read_body(&mut buf[got as usize..]);
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
            self.r.abort_response();
            ffi::OK
        } else if timed_out {
            ffi::HTTP_GATEWAY_TIME_OUT
        } else {
            ffi::HTTP_BAD_GATEWAY
        }
    }

    fn close_connection(&self) {
        // The response is incomplete: the client must see the connection
        // close rather than wait for more.
        self.r.close_after();
    }
}

/// The daemon did not take the request: it may be sent again.
pub(super) struct NotTaken;
