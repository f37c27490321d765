//! Embedded mode's request I/O: the WSGI adapter's calls go straight to
//! Apache's request.

use super::{ffi, log, request};
use pyhost::io::{Preread, RequestIo};
use std::ffi::CString;

pub struct ApacheIo {
    r: *mut ffi::request_rec,
    preread: Option<Preread>,
}

impl ApacheIo {
    /// I/O for the live request `r`, which must outlive this value (the
    /// handler keeps it until the application has returned).
    pub fn new(r: *mut ffi::request_rec, preread: Option<Preread>) -> ApacheIo {
        ApacheIo { r, preread }
    }
}

impl RequestIo for ApacheIo {
    fn send_head(&mut self, status: u16, line: &CString, headers: &[(CString, CString)]) -> bool {
        request::set_response_head(self.r, status, line, headers);
        true
    }

    fn write(&mut self, data: &[u8]) -> bool {
        request::write_and_flush(self.r, data)
    }

    /// Joins Apache's output, which the handler sends with the body's end
    /// once the GIL is released.
    fn write_final(&mut self, data: &[u8], short: bool) -> bool {
        request::write(self.r, data, false) && self.finish(short)
    }

    fn buffers_without_io(&self, len: usize) -> bool {
        len < request::SMALL_WRITE
    }

    fn send_file(&mut self, fd: i32, offset: u64, len: u64) -> bool {
        request::send_file(self.r, fd, offset, len)
    }

    /// Only marks the request: no I/O.
    fn finish(&mut self, short: bool) -> bool {
        if short {
            // The client still waits for the missing bytes: the connection
            // must not be reused.
            request::close_after(self.r);
        }
        true
    }

    fn start_body(&mut self) -> bool {
        match &self.preread {
            Some(p) => p.has_body(),
            None => request::start_body(self.r),
        }
    }

    fn read_body_onto(&mut self, out: &mut Vec<u8>, room: usize) -> Result<usize, ()> {
        match &mut self.preread {
            Some(p) => Ok(p.take_onto(out, room)),
            None => usize::try_from(request::read_body_onto(self.r, out, room)).map_err(|_| ()),
        }
    }

    fn body_known_done(&self) -> bool {
        match &self.preread {
            Some(p) => p.left().is_empty(),
            None => request::body_fully_read(self.r),
        }
    }

    fn body_remaining(&self) -> Option<usize> {
        match &self.preread {
            Some(p) => (!p.left().is_empty()).then_some(p.left().len()),
            None => request::body_remaining(self.r),
        }
    }

    fn log(&self, level: i32, msg: &str) {
        log::request(level, self.r, msg);
    }
}
