//! Where a request's bytes go: straight to Apache (embedded mode) or over
//! the daemon socket to the Apache child that holds the client (daemon
//! mode). The WSGI adapter above sees one interface; these calls block, so
//! callers release the GIL around them.

use crate::apache::{ffi, log, request};
use crate::daemon::conn::FramedConn;
use std::ffi::CString;
use wsgi_core::protocol::Frame;

/// A small request body read before the application started (so reading
/// it costs the application no GIL hand-off), handed out from here.
pub struct Preread {
    body: Vec<u8>,
    pos: usize,
}

impl Preread {
    pub fn new(body: Vec<u8>) -> Preread {
        Preread { body, pos: 0 }
    }

    fn left(&self) -> &[u8] {
        &self.body[self.pos..]
    }
}

pub enum Channel {
    Apache(*mut ffi::request_rec, Option<Preread>),
    Daemon {
        conn: FramedConn,
        request: log::DaemonRequest,
        /// The request's virtual host in this process, for its error log.
        server: *const ffi::server_rec,
        body_done: bool,
        /// The Apache child sends the (small) body unasked, right after the
        /// request: no WantBody round trip (see docs/protocol.md).
        eager: bool,
        /// Body bytes received but not yet handed to the application.
        pending: Vec<u8>,
    },
}

impl Channel {
    /// Sends the status line and headers.
    pub fn send_head(
        &mut self,
        status: u16,
        line: &CString,
        headers: &[(CString, CString)],
    ) -> bool {
        match self {
            Channel::Apache(r, _) => {
                request::set_response_head(*r, status, line, headers);
                true
            }
            // PEP 3333: the head goes out with the first body bytes (or the
            // end), in the same write.
            Channel::Daemon { conn, .. } => conn
                .defer(&Frame::Head {
                    status,
                    status_line: line.as_bytes().to_vec(),
                    headers: headers
                        .iter()
                        .map(|(k, v)| (k.as_bytes().to_vec(), v.as_bytes().to_vec()))
                        .collect(),
                })
                .is_ok(),
        }
    }

    /// Sends body bytes and flushes; false when the client is gone.
    pub fn write(&mut self, data: &[u8]) -> bool {
        match self {
            Channel::Apache(r, _) => request::write_and_flush(*r, data),
            Channel::Daemon { conn, .. } => conn.send_data(data).is_ok(),
        }
    }

    /// Daemon mode: `write` as far as the socket takes it without blocking,
    /// so a piece can go without giving up the GIL. Ok(result) when it is
    /// done; Err(sent) when the rest must go with `write_rest`, the GIL
    /// released (always so in embedded mode).
    pub fn try_write(&mut self, data: &[u8]) -> Result<bool, usize> {
        match self {
            Channel::Daemon { conn, .. } => match conn.try_send_payload_then(data, None) {
                Ok(None) => Ok(true),
                Ok(Some(sent)) => Err(sent),
                Err(_) => Ok(false),
            },
            Channel::Apache(..) => Err(0),
        }
    }

    /// The rest of a `try_write`.
    pub fn write_rest(&mut self, data: &[u8], sent: usize) -> bool {
        match self {
            Channel::Daemon { conn, .. } => conn.send_payload_rest(data, None, sent).is_ok(),
            Channel::Apache(..) => self.write(data),
        }
    }

    /// Daemon mode: `finish` as far as the socket takes it without
    /// blocking (see `try_write`); Err(sent) for `finish_rest`.
    pub fn try_finish(&mut self, short: bool) -> Result<bool, usize> {
        match self {
            Channel::Daemon { conn, .. } => match conn.try_send_frame(&Frame::End) {
                Ok(None) => Ok(true),
                Ok(Some(sent)) => Err(sent),
                Err(_) => Ok(false),
            },
            // Only marks the request: no I/O.
            Channel::Apache(..) => Ok(self.finish(short)),
        }
    }

    /// The rest of a `try_finish`.
    pub fn finish_rest(&mut self, short: bool, sent: usize) -> bool {
        match self {
            Channel::Daemon { conn, .. } => conn.send_frame_rest(&Frame::End, sent).is_ok(),
            Channel::Apache(..) => self.finish(short),
        }
    }

    /// Sends the last body bytes and ends the response (one write in
    /// daemon mode; in embedded mode they join Apache's output, which the
    /// handler sends with the body's end once the GIL is released).
    /// `short` as for `finish`.
    pub fn write_final(&mut self, data: &[u8], short: bool) -> bool {
        match self {
            Channel::Apache(r, _) => request::write(*r, data, false) && self.finish(short),
            Channel::Daemon { conn, .. } => conn
                .send_payload_then(data, false, Some(&Frame::End))
                .is_ok(),
        }
    }

    /// Whether `write_final` of `len` bytes only copies into Apache's output
    /// buffer, without network I/O (so the GIL may be kept): a small last
    /// piece in embedded mode, sent with the body's end once the GIL is released.
    pub fn buffers_without_io(&self, len: usize) -> bool {
        matches!(self, Channel::Apache(..)) && len < request::SMALL_WRITE
    }

    /// Daemon mode: `write_final` as far as the socket takes it without
    /// blocking, so the GIL can be kept (the Apache child is usually
    /// waiting for just this). Ok(result) when it is done; Err(sent) when
    /// the rest must go with `write_final_rest`, the GIL released.
    pub fn try_write_final(&mut self, data: &[u8]) -> Result<bool, usize> {
        match self {
            Channel::Daemon { conn, .. } => {
                match conn.try_send_payload_then(data, Some(&Frame::End)) {
                    Ok(None) => Ok(true),
                    Ok(Some(sent)) => Err(sent),
                    Err(_) => Ok(false),
                }
            }
            Channel::Apache(..) => Err(0),
        }
    }

    /// The rest of a `try_write_final` (daemon mode) or all of
    /// `write_final` (embedded).
    pub fn write_final_rest(&mut self, data: &[u8], short: bool, sent: usize) -> bool {
        match self {
            Channel::Daemon { conn, .. } => conn
                .send_payload_rest(data, Some(&Frame::End), sent)
                .is_ok(),
            Channel::Apache(..) => self.write_final(data, short),
        }
    }

    /// Hands a file over as a file: to Apache itself, or from a daemon as a
    /// descriptor the Apache child sends with sendfile.
    pub fn send_file(&mut self, fd: i32, offset: u64, len: u64) -> bool {
        match self {
            Channel::Apache(r, _) => request::send_file(*r, fd, offset, len),
            Channel::Daemon { conn, .. } => {
                conn.send_with_fd(&Frame::File { offset, len }, fd).is_ok()
            }
        }
    }

    /// Announces that the body will be read (Apache: may send 100-continue);
    /// false when there is no body.
    pub fn start_body(&mut self) -> bool {
        match self {
            Channel::Apache(_, Some(p)) => !p.body.is_empty(),
            Channel::Apache(r, None) => request::start_body(*r),
            Channel::Daemon { .. } => true,
        }
    }

    /// Reads up to `room` body bytes onto the end of `out`: Ok(0) at the end.
    pub fn read_body_onto(&mut self, out: &mut Vec<u8>, room: usize) -> Result<usize, ()> {
        match self {
            Channel::Apache(_, Some(p)) => {
                let n = p.left().len().min(room);
                out.extend_from_slice(&p.left()[..n]);
                p.pos += n;
                Ok(n)
            }
            Channel::Apache(r, None) => {
                let n = request::read_body_onto(*r, out, room);
                if n < 0 {
                    Err(())
                } else {
                    Ok(n as usize)
                }
            }
            Channel::Daemon {
                conn,
                body_done,
                eager,
                pending,
                ..
            } => read_from_child(conn, body_done, *eager, pending, out, room),
        }
    }

    /// Whether the body is known to be over without another read.
    pub fn body_known_done(&self) -> bool {
        match self {
            Channel::Apache(_, Some(p)) => p.left().is_empty(),
            Channel::Apache(r, None) => request::body_fully_read(*r),
            Channel::Daemon { .. } => false,
        }
    }

    /// Body bytes still to come, when known (a size hint for reading).
    pub fn body_remaining(&self) -> Option<usize> {
        match self {
            Channel::Apache(_, Some(p)) => (!p.left().is_empty()).then_some(p.left().len()),
            Channel::Apache(r, None) => request::body_remaining(*r),
            Channel::Daemon { pending, .. } => (!pending.is_empty()).then_some(pending.len()),
        }
    }

    /// Ends the response; `short` when fewer bytes than Content-Length went out.
    pub fn finish(&mut self, short: bool) -> bool {
        match self {
            Channel::Apache(r, _) => {
                if short {
                    // SAFETY: live request; the connection must not be reused
                    // because the client is still waiting for missing bytes.
                    unsafe {
                        (*(**r).connection).keepalive = ffi::ap_conn_keepalive_e_AP_CONN_CLOSE
                    };
                }
                true
            }
            Channel::Daemon { conn, .. } => conn.send(&Frame::End).is_ok(),
        }
    }

    /// Logs a line for this request (with its request id).
    pub fn log(&self, level: i32, msg: &str) {
        match self {
            Channel::Apache(r, _) => log::request(level, *r, msg),
            Channel::Daemon {
                request, server, ..
            } => log::daemon_request(level, *server, request, msg),
        }
    }
}

/// Daemon side: up to `room` body bytes onto `out` — first what an earlier
/// Body frame left over, else the next Body frame (asked for with WantBody
/// unless the child sends the body unasked), copied once, from the read
/// buffer. Ok(0) at the end.
fn read_from_child(
    conn: &mut FramedConn,
    body_done: &mut bool,
    eager: bool,
    pending: &mut Vec<u8>,
    out: &mut Vec<u8>,
    room: usize,
) -> Result<usize, ()> {
    if !pending.is_empty() {
        let n = pending.len().min(room);
        out.extend_from_slice(&pending[..n]);
        pending.drain(..n);
        return Ok(n);
    }
    if *body_done {
        return Ok(0);
    }
    if !eager {
        conn.send(&Frame::WantBody(room.min(u32::MAX as usize) as u32))
            .map_err(|_| ())?;
    }
    match conn.recv_body_onto(out, room, pending) {
        Ok(Some(n)) => return Ok(n),
        Ok(None) => {}
        Err(_) => return Err(()),
    }
    match conn.recv() {
        Ok(Frame::Body(_)) | Ok(Frame::BodyEnd) => {
            *body_done = true;
            Ok(0)
        }
        _ => Err(()),
    }
}
