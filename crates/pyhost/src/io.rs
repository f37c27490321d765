//! One request's I/O as the WSGI adapter sees it. The embedder implements
//! it: straight to Apache (embedded mode) or over the daemon socket to the
//! Apache child that holds the client (daemon mode). The calls may block,
//! so the adapter releases the GIL around them unless a method says it
//! need not.

#![forbid(unsafe_code)]

use std::any::Any;
use std::ffi::CString;

/// Lets the embedder take its own channel back after the request.
pub trait IntoAny: Any {
    fn into_any(self: Box<Self>) -> Box<dyn Any>;
}

impl<T: Any> IntoAny for T {
    fn into_any(self: Box<Self>) -> Box<dyn Any> {
        self
    }
}

/// Where a request's bytes come from and go to. `false` / `Err(())` means
/// the client (or the peer relaying for it) is gone.
pub trait RequestIo: IntoAny {
    /// The status line and headers (PEP 3333: they go out with the first
    /// body bytes or the end, so this need not do I/O).
    fn send_head(&mut self, status: u16, line: &CString, headers: &[(CString, CString)]) -> bool;

    /// Body bytes, flushed.
    fn write(&mut self, data: &[u8]) -> bool;

    /// `write` as far as it goes without blocking, so a small piece can go
    /// without giving up the GIL. Ok(result) when done; Err(sent) when the
    /// rest must go with `write_rest`, the GIL released.
    fn try_write(&mut self, _data: &[u8]) -> Result<bool, usize> {
        Err(0)
    }

    /// The rest of a `try_write`.
    fn write_rest(&mut self, data: &[u8], _sent: usize) -> bool {
        self.write(data)
    }

    /// The last body bytes and the end of the response in one go; `short`
    /// as for `finish`.
    fn write_final(&mut self, data: &[u8], short: bool) -> bool;

    /// Whether `write_final` of `len` bytes only copies into a buffer,
    /// without I/O (so the GIL may be kept).
    fn buffers_without_io(&self, _len: usize) -> bool {
        false
    }

    /// `write_final` as far as it goes without blocking (see `try_write`).
    fn try_write_final(&mut self, _data: &[u8]) -> Result<bool, usize> {
        Err(0)
    }

    /// The rest of a `try_write_final`, or all of `write_final`.
    fn write_final_rest(&mut self, data: &[u8], short: bool, _sent: usize) -> bool {
        self.write_final(data, short)
    }

    /// Hands part of an open regular file over as a file (sendfile).
    fn send_file(&mut self, fd: i32, offset: u64, len: u64) -> bool;

    /// Ends the response; `short` when fewer bytes than Content-Length went
    /// out (the connection must then not be reused).
    fn finish(&mut self, short: bool) -> bool;

    /// `finish` as far as it goes without blocking (see `try_write`).
    fn try_finish(&mut self, short: bool) -> Result<bool, usize> {
        Ok(self.finish(short))
    }

    /// The rest of a `try_finish`.
    fn finish_rest(&mut self, short: bool, _sent: usize) -> bool {
        self.finish(short)
    }

    /// The application starts reading the body (Apache may send
    /// 100-continue); false when there is no body.
    fn start_body(&mut self) -> bool;

    /// Up to `room` body bytes onto the end of `out`: Ok(0) at the end.
    fn read_body_onto(&mut self, out: &mut Vec<u8>, room: usize) -> Result<usize, ()>;

    /// Whether the body is known to be over without another read.
    fn body_known_done(&self) -> bool {
        false
    }

    /// Body bytes still to come, when known (a size hint for reading).
    fn body_remaining(&self) -> Option<usize> {
        None
    }

    /// A log line for this request (with its request id).
    fn log(&self, level: i32, msg: &str);
}

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

    /// The bytes not handed out yet.
    pub fn left(&self) -> &[u8] {
        &self.body[self.pos..]
    }

    /// Whether there was a body at all.
    pub fn has_body(&self) -> bool {
        !self.body.is_empty()
    }

    /// Up to `room` bytes onto `out`; their count.
    pub fn take_onto(&mut self, out: &mut Vec<u8>, room: usize) -> usize {
        let n = self.left().len().min(room);
        out.extend_from_slice(&self.body[self.pos..self.pos + n]);
        self.pos += n;
        n
    }
}
