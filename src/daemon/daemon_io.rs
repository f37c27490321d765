//! Daemon mode's request I/O: the WSGI adapter's calls become frames to
//! the Apache child that holds the client (docs/protocol.md).

#![forbid(unsafe_code)]

use crate::apache::log;
use crate::daemon::conn::FramedConn;
use pyhost::io::RequestIo;
use std::ffi::CString;
use wsgi_core::protocol::Frame;

pub struct DaemonIo {
    pub conn: FramedConn,
    pub request: log::DaemonRequest,
    /// The request's virtual host in this process, for its error log.
    pub server: Option<crate::apache::server::Server>,
    pub body_done: bool,
    /// The Apache child sends the (small) body unasked, right after the
    /// request: no WantBody round trip (see docs/protocol.md).
    pub eager: bool,
    /// Body bytes received but not yet handed to the application.
    pub pending: Vec<u8>,
}

impl DaemonIo {
    /// Whether the exchange left nothing unread on the connection, so it
    /// can carry the next request: a body is only sent when asked for,
    /// unless it came eagerly and was read to its end.
    pub fn reusable(&self) -> bool {
        (!self.eager || self.body_done) && self.pending.is_empty() && !self.conn.has_unread()
    }
}

/// Ok(true) when done, Err(sent) when the rest must follow (see
/// `RequestIo::try_write`).
fn partial(r: std::io::Result<Option<usize>>) -> Result<bool, usize> {
    match r {
        Ok(None) => Ok(true),
        Ok(Some(sent)) => Err(sent),
        Err(_) => Ok(false),
    }
}

impl RequestIo for DaemonIo {
    /// Deferred: the head goes out with the first body bytes (or the end),
    /// in the same write.
    fn send_head(&mut self, status: u16, line: &CString, headers: &[(CString, CString)]) -> bool {
        let head = Frame::Head {
            status,
            status_line: line.as_bytes().to_vec(),
            headers: headers
                .iter()
                .map(|(k, v)| (k.as_bytes().to_vec(), v.as_bytes().to_vec()))
                .collect(),
        };
        self.conn.defer(&head).is_ok()
    }

    fn write(&mut self, data: &[u8]) -> bool {
        self.conn.send_data(data).is_ok()
    }

    fn try_write(&mut self, data: &[u8]) -> Result<bool, usize> {
        partial(self.conn.try_send_payload_then(data, None))
    }

    fn write_rest(&mut self, data: &[u8], sent: usize) -> bool {
        self.conn.send_payload_rest(data, None, sent).is_ok()
    }

    fn write_final(&mut self, data: &[u8], _short: bool) -> bool {
        self.conn
            .send_payload_then(data, false, Some(&Frame::End))
            .is_ok()
    }

    fn try_write_final(&mut self, data: &[u8]) -> Result<bool, usize> {
        partial(self.conn.try_send_payload_then(data, Some(&Frame::End)))
    }

    fn write_final_rest(&mut self, data: &[u8], _short: bool, sent: usize) -> bool {
        self.conn
            .send_payload_rest(data, Some(&Frame::End), sent)
            .is_ok()
    }

    /// As a descriptor the Apache child sends with sendfile.
    fn send_file(&mut self, fd: i32, offset: u64, len: u64) -> bool {
        self.conn
            .send_with_fd(&Frame::File { offset, len }, fd)
            .is_ok()
    }

    /// The Apache child checks Content-Length itself (relay_rules).
    fn finish(&mut self, _short: bool) -> bool {
        self.conn.send(&Frame::End).is_ok()
    }

    fn try_finish(&mut self, _short: bool) -> Result<bool, usize> {
        partial(self.conn.try_send_frame(&Frame::End))
    }

    fn finish_rest(&mut self, _short: bool, sent: usize) -> bool {
        self.conn.send_frame_rest(&Frame::End, sent).is_ok()
    }

    fn start_body(&mut self) -> bool {
        true
    }

    fn read_body_onto(&mut self, out: &mut Vec<u8>, room: usize) -> Result<usize, ()> {
        read_from_child(self, out, room)
    }

    fn body_remaining(&self) -> Option<usize> {
        (!self.pending.is_empty()).then_some(self.pending.len())
    }

    fn log(&self, level: i32, msg: &str) {
        log::daemon_request(level, self.server, &self.request, msg);
    }
}

/// Up to `room` body bytes onto `out`: first what an earlier Body frame
/// left over, else the next Body frame (asked for with WantBody unless the
/// child sends the body unasked), copied once, from the read buffer.
/// Ok(0) at the end.
fn read_from_child(io: &mut DaemonIo, out: &mut Vec<u8>, room: usize) -> Result<usize, ()> {
    if !io.pending.is_empty() {
        let n = io.pending.len().min(room);
        out.extend_from_slice(&io.pending[..n]);
        io.pending.drain(..n);
        return Ok(n);
    }
    if io.body_done {
        return Ok(0);
    }
    if !io.eager {
        io.conn
            .send(&Frame::WantBody(room.min(u32::MAX as usize) as u32))
            .map_err(|_| ())?;
    }
    match io.conn.recv_body_onto(out, room, &mut io.pending) {
        Ok(Some(n)) => return Ok(n),
        Ok(None) => {}
        Err(_) => return Err(()),
    }
    match io.conn.recv() {
        Ok(Frame::Body(_)) | Ok(Frame::BodyEnd) => {
            io.body_done = true;
            Ok(0)
        }
        _ => Err(()),
    }
}
