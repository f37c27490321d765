//! Embedded mode's request I/O: the WSGI adapter's calls go straight to
//! Apache's request.

use super::log;
use super::request::Request;
use super::response::{FileFrom, SMALL_WRITE};
use pyhost::io::{Preread, RequestIo};
use std::ffi::CString;

pub struct ApacheIo {
    /// The request, its lifetime erased: pyhost keeps a channel in a
    /// Python object, which must be `'static`, and detaches it before
    /// `run_app` returns (a panic included), so it is never used after the
    /// handler that made it.
    r: Request<'static>,
    preread: Option<Preread>,
}

impl ApacheIo {
    /// I/O for the live request `r`, for one `run_app` call.
    pub fn new(r: Request<'_>, preread: Option<Preread>) -> ApacheIo {
        // SAFETY: see the field: the value goes to `run_app` only, which
        // ends every use of it before the handler holding `r` returns.
        let r = unsafe { Request::from_raw(r.raw()) }.expect("a live request");
        ApacheIo { r, preread }
    }
}

impl RequestIo for ApacheIo {
    fn send_head(&mut self, status: u16, line: &CString, headers: &[(CString, CString)]) -> bool {
        self.r.set_response_head(status, line, headers);
        true
    }

    fn write(&mut self, data: &[u8]) -> bool {
        self.r.write_and_flush(data)
    }

    /// Joins Apache's output, which the handler sends with the body's end
    /// once the GIL is released.
    fn write_final(&mut self, data: &[u8], short: bool) -> bool {
        self.r.write(data, false) && self.finish(short)
    }

    fn buffers_without_io(&self, len: usize) -> bool {
        len < SMALL_WRITE
    }

    fn send_file(&mut self, fd: i32, offset: u64, len: u64) -> bool {
        self.r.send_file(fd, offset, len, FileFrom::ThisProcess)
    }

    /// Only marks the request: no I/O.
    fn finish(&mut self, short: bool) -> bool {
        if short {
            // The client still waits for the missing bytes: the connection
            // must not be reused.
            self.r.close_after();
        }
        true
    }

    fn start_body(&mut self) -> bool {
        match &self.preread {
            Some(p) => p.has_body(),
            None => self.r.start_body(),
        }
    }

    fn read_body_onto(&mut self, out: &mut Vec<u8>, room: usize) -> Result<usize, ()> {
        match &mut self.preread {
            Some(p) => Ok(p.take_onto(out, room)),
            None => usize::try_from(self.r.read_body_onto(out, room)).map_err(|_| ()),
        }
    }

    fn body_known_done(&self) -> bool {
        match &self.preread {
            Some(p) => p.left().is_empty(),
            None => self.r.body_fully_read(),
        }
    }

    fn body_remaining(&self) -> Option<usize> {
        match &self.preread {
            Some(p) => (!p.left().is_empty()).then_some(p.left().len()),
            None => self.r.body_remaining(),
        }
    }

    fn log(&self, level: i32, msg: &str) {
        log::request(level, self.r, msg);
    }
}
