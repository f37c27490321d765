//! Reading a request's body and writing its response, through Apache's
//! filters. The blocking calls are made with the GIL released.

use super::ffi;
use super::request::Request;
use std::ffi::{c_int, CString};
use wsgi_core::environ::Environ;

/// Bodies up to this size, with a known length and no `Expect:
/// 100-continue`, are read before the application runs: in daemon mode they
/// go with the request (as mod_wsgi does, saving a WantBody round trip), in
/// embedded mode the application then reads them without a GIL hand-off.
const SMALL_BODY_MAX: u64 = 64 * 1024;

/// Below this, an unflushed write only lands in the output brigade's buffer
/// (APR's bucket buffer is 8000 bytes), with no network I/O.
pub const SMALL_WRITE: usize = 4096;

/// What `write_pieces` passes after the pieces (shim.c's MOD_WSGI_RS_*).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Then {
    /// Nothing: Apache may hold small pieces until more come.
    Keep = 0,
    /// A flush: they go out now.
    Flush = 1,
    /// The end of the body, then a flush: the response goes out whole
    /// before Apache looks for the client's next request.
    End = 2,
}

/// Whose descriptor a file bucket reads.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum FileFrom {
    /// An embedded application's own file, in this process.
    ThisProcess,
    /// One a daemon passed: another process can change it meanwhile.
    Daemon,
}

extern "C" {
    fn mod_wsgi_rs_sendfile_enabled(r: *mut ffi::request_rec) -> c_int;
    fn mod_wsgi_rs_send_file(
        r: *mut ffi::request_rec,
        fd: *mut ffi::apr_file_t,
        offset: ffi::apr_off_t,
        len: ffi::apr_size_t,
        may_mmap: c_int,
    ) -> c_int;
    fn mod_wsgi_rs_abort_response(r: *mut ffi::request_rec);
    fn mod_wsgi_rs_write_pieces(
        r: *mut ffi::request_rec,
        iov: *const libc::iovec,
        n: c_int,
        then: c_int,
    ) -> c_int;
}

impl<'r> Request<'r> {
    /// Reads up to `buf.len()` body bytes; 0 at the end, negative on error.
    pub fn read_body(self, buf: &mut [u8]) -> isize {
        // SAFETY: `buf` is writable for its length; the body was set up
        // with `setup_body` before the application ran.
        (unsafe { ffi::ap_get_client_block(self.raw(), buf.as_mut_ptr().cast(), buf.len() as _) })
            as isize
    }

    /// Reads up to `room` body bytes onto the end of `out` (no zero-filling,
    /// no intermediate buffer); the count read, 0 at the end, negative on error.
    pub fn read_body_onto(self, out: &mut Vec<u8>, room: usize) -> isize {
        out.reserve(room);
        let len = out.len();
        // SAFETY: `reserve` made room for `room` bytes after `len`; Apache
        // writes at most that many and returns how many it wrote, and only
        // those become part of the vector.
        unsafe {
            let at = out.as_mut_ptr().add(len).cast();
            let n = ffi::ap_get_client_block(self.raw(), at, room as _) as isize;
            if n > 0 {
                out.set_len(len + n as usize);
            }
            n
        }
    }

    /// The whole body, when it is small enough to read up front (see
    /// SMALL_BODY_MAX; `cgi` gives CONTENT_LENGTH and HTTP_EXPECT);
    /// Err(status) if reading it from the client failed.
    pub fn read_small_body(self, cgi: &Environ) -> Result<Option<Vec<u8>>, c_int> {
        let length = cgi
            .get(b"CONTENT_LENGTH")
            .and_then(|v| std::str::from_utf8(v).ok()?.trim().parse::<u64>().ok());
        let expects_continue = cgi
            .get(b"HTTP_EXPECT")
            .is_some_and(|v| v.eq_ignore_ascii_case(b"100-continue"));
        let Some(length) = length.filter(|n| (1..=SMALL_BODY_MAX).contains(n)) else {
            return Ok(None);
        };
        if expects_continue || !self.start_body() {
            return Ok(None);
        }
        let mut body = Vec::with_capacity(length as usize);
        while (body.len() as u64) < length {
            let room = length as usize - body.len();
            match self.read_body_onto(&mut body, room) {
                n if n < 0 => return Err(ffi::HTTP_BAD_REQUEST),
                0 => break,
                _ => {}
            }
        }
        Ok(Some(body))
    }

    /// Body bytes still to come (known Content-Length), if Apache knows.
    pub fn body_remaining(self) -> Option<usize> {
        // SAFETY: a live request; `remaining` is set by setup_body.
        let left = unsafe { (*self.raw()).remaining };
        (left > 0).then_some(left as usize)
    }

    /// Whether a Content-Length body has been read to its end (a chunked
    /// one only tells at its last chunk).
    pub fn body_fully_read(self) -> bool {
        // SAFETY: a live request with its body set up.
        unsafe { (*self.raw()).read_chunked == 0 && (*self.raw()).remaining == 0 }
    }

    /// Tells Apache the body will be read now (sends `100 Continue` if the
    /// client asked for it). Returns whether there is a body at all.
    pub fn start_body(self) -> bool {
        // SAFETY: a live request with its body set up.
        unsafe { ffi::ap_should_client_block(self.raw()) != 0 }
    }

    /// Writes bytes to the client and flushes; false when the client is gone.
    pub fn write_and_flush(self, data: &[u8]) -> bool {
        self.write(data, true)
    }

    /// Writes bytes to the client, flushing if asked; false when the client is gone.
    pub fn write(self, data: &[u8], flush: bool) -> bool {
        // SAFETY: `data` is valid for its length; ap_rwrite copies it into
        // the output brigade before returning.
        let written = data.is_empty()
            || unsafe { ffi::ap_rwrite(data.as_ptr().cast(), data.len() as c_int, self.raw()) }
                >= 0;
        // SAFETY: a live request.
        written && (!flush || unsafe { ffi::ap_rflush(self.raw()) } >= 0) && !self.client_gone()
    }

    /// Writes several pieces of memory as one: one brigade of buckets that
    /// point at them (copied only by a filter that keeps them), then what
    /// `then` says. False when the client is gone.
    pub fn write_pieces(self, pieces: &[&[u8]], then: Then) -> bool {
        let iovec = |p: &&[u8]| libc::iovec {
            iov_base: p.as_ptr() as *mut libc::c_void,
            iov_len: p.len(),
        };
        // Most writes have a few pieces: no allocation for those.
        let mut small = [libc::iovec {
            iov_base: std::ptr::null_mut(),
            iov_len: 0,
        }; 16];
        let many: Vec<libc::iovec>;
        let iov: &[libc::iovec] = if pieces.len() <= small.len() {
            for (slot, p) in small.iter_mut().zip(pieces) {
                *slot = iovec(p);
            }
            &small[..pieces.len()]
        } else {
            many = pieces.iter().map(iovec).collect();
            &many
        };
        // SAFETY: every iovec points into `pieces`, which outlive the call;
        // the shim's buckets are transient, so nothing refers to the memory
        // once it returns (see shim.c).
        let rc = unsafe {
            mod_wsgi_rs_write_pieces(self.raw(), iov.as_ptr(), iov.len() as c_int, then as c_int)
        };
        rc == 0 && !self.client_gone()
    }

    /// Ends the body (nothing more is written for this request) and sends
    /// what Apache holds. False when the client is gone.
    pub fn end_body(self) -> bool {
        self.write_pieces(&[], Then::End)
    }

    /// Ends a response that cannot be completed after its headers went out,
    /// so the client sees it cut (no final chunk; connection closed).
    pub fn abort_response(self) {
        // SAFETY: a live request whose headers were sent; see shim.c.
        unsafe { mod_wsgi_rs_abort_response(self.raw()) }
    }

    /// Sets the response status and headers before the first body byte.
    pub fn set_response_head(
        self,
        status: u16,
        status_line: &CString,
        headers: &[(CString, CString)],
    ) {
        let pool = self.pool();
        let line = pool.c_string(status_line.as_bytes());
        // SAFETY: a live request, no reference into it held; the line is
        // in its pool.
        unsafe {
            (*self.raw()).status = status as c_int;
            (*self.raw()).status_line = line;
        }
        let Some(out) = self.headers_out() else {
            return;
        };
        for (k, v) in headers {
            let (kb, vb) = (k.as_bytes(), v.as_bytes());
            if kb.eq_ignore_ascii_case(b"content-type") {
                // SAFETY: the type is copied into the request pool.
                unsafe { ffi::ap_set_content_type(self.raw(), pool.c_string(vb)) };
            } else if kb.eq_ignore_ascii_case(b"content-length") {
                out.set(kb, vb);
            } else {
                out.add(kb, vb);
            }
        }
    }

    /// Sends `len` bytes of the open file `fd` from `offset` through Apache's
    /// output filters as a file bucket (sendfile where EnableSendfile allows).
    /// The fd is duplicated (close-on-exec: no CGI child inherits it) so the
    /// application may close its file at once. `from` says whose file it
    /// is: a daemon's is never memory-mapped, since a daemon that truncates
    /// it while the mapping is read would kill this child with SIGBUS.
    pub fn send_file(self, fd: c_int, offset: u64, len: u64, from: FileFrom) -> bool {
        // SAFETY: duplicating a descriptor the application holds open.
        let own = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 0) };
        if own < 0 {
            return false;
        }
        let pool = self.pool();
        let mut file: *mut ffi::apr_file_t = std::ptr::null_mut();
        let mut os_fd = own;
        // Apache's EnableSendfile decides, as for its own static files
        // (sendfile over loopback can be slower than writing from mmap).
        // SAFETY: a live request.
        let flags = if unsafe { mod_wsgi_rs_sendfile_enabled(self.raw()) } != 0 {
            ffi::APR_FOPEN_READ | ffi::APR_FOPEN_SENDFILE_ENABLED
        } else {
            ffi::APR_FOPEN_READ
        };
        // SAFETY: wraps our own descriptor in an APR file of the request pool.
        if unsafe { ffi::apr_os_file_put(&mut file, &mut os_fd, flags, pool.raw()) } != 0 {
            // SAFETY: our own descriptor, not handed to APR.
            unsafe { libc::close(own) };
            return false;
        }
        // Closed by the request pool's cleanup, after every bucket that
        // refers to it is gone.
        pool.on_cleanup(Box::new(move || {
            // SAFETY: our own descriptor; every bucket using it is gone.
            unsafe { libc::close(own) };
        }));
        // No flush: like Apache's own static files, the file bucket goes out
        // with what follows (at the latest with the end of the response).
        // SAFETY: a live request and the APR file just made.
        let may_mmap = c_int::from(from == FileFrom::ThisProcess);
        let rv =
            unsafe { mod_wsgi_rs_send_file(self.raw(), file, offset as _, len as _, may_mmap) };
        rv == 0 && !self.client_gone()
    }
}
