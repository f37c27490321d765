//! What one request has done so far, and the WSGI rules it enforces:
//! the head before the body, Content-Length (wsgi_core::body_length),
//! when the GIL may be kept for a write. Its channel is the embedder's
//! `RequestIo`; once the request is over the channel is gone and every
//! call raises instead of touching it.

#![forbid(unsafe_code)]

use super::host::{self, level};
use super::io::RequestIo;
use super::object::{self, raise_runtime, PyErrSet, PyResult};
use std::ffi::CString;
use std::time::{Duration, Instant};
use wsgi_core::body_length::{body_expected, BodyLength};

/// A piece up to this size is sent without giving up the GIL when the
/// channel takes it at once (RequestIo::try_write and try_write_final): a
/// copy this small takes microseconds, less than handing the GIL over.
const SMALL_PIECE: usize = 64 * 1024;

pub(crate) struct Head {
    pub(crate) status: u16,
    pub(crate) status_line: CString,
    pub(crate) headers: Vec<(CString, CString)>,
}

/// What one request has done so far.
pub struct RequestState {
    /// Where the response goes; None once the request is over.
    pub(crate) chan: Option<Box<dyn RequestIo>>,
    pub(crate) head: Option<Head>,
    pub(crate) headers_sent: bool,
    pub(crate) length: BodyLength,
    pub(crate) body_started: bool,
    pub(crate) body_done: bool,
    pub(crate) client_gone: bool,
    /// The request is a HEAD (as the application sees it).
    pub(crate) head_request: bool,
    pub(crate) stats: Stats,
}

/// I/O counts and times for the `request_finished` event.
#[derive(Default)]
pub(crate) struct Stats {
    pub(crate) input_reads: u64,
    pub(crate) input_length: u64,
    pub(crate) input_time: Duration,
    pub(crate) output_writes: u64,
    pub(crate) output_time: Duration,
}

impl RequestState {
    pub(crate) fn new(chan: Box<dyn RequestIo>, head_request: bool) -> RequestState {
        RequestState {
            chan: Some(chan),
            head: None,
            headers_sent: false,
            length: BodyLength::new(None),
            body_started: false,
            body_done: false,
            client_gone: false,
            head_request,
            stats: Stats::default(),
        }
    }

    /// Whether the status line and headers have gone to the client.
    pub fn headers_sent(&self) -> bool {
        self.headers_sent
    }

    /// Whether a write to the client failed (it went away).
    pub fn client_gone(&self) -> bool {
        self.client_gone
    }

    /// Ends the request's use of its channel and hands it back: later calls
    /// from Python raise instead of touching it.
    pub fn detach(&mut self) -> Option<Box<dyn RequestIo>> {
        self.chan.take()
    }

    /// Logs a line for this request (or for the process once detached).
    pub fn log(&self, level: i32, msg: &str) {
        match &self.chan {
            Some(c) => c.log(level, msg),
            None => host::log(level, msg),
        }
    }

    pub(crate) fn live(&mut self) -> PyResult<&mut dyn RequestIo> {
        match self.chan.as_mut() {
            Some(c) => Ok(&mut **c),
            None => {
                raise_runtime("this request is over; its WSGI objects can no longer be used");
                Err(PyErrSet)
            }
        }
    }

    pub(crate) fn send_head(&mut self) -> PyResult<()> {
        if self.headers_sent {
            return Ok(());
        }
        let Some(head) = self.head.take() else {
            raise_runtime("response data before start_response() was called");
            return Err(PyErrSet);
        };
        let chan = self.live()?;
        // No I/O (Apache keeps the head in the request; a daemon sends it
        // with the first body bytes): no need to give up the GIL.
        let ok = chan.send_head(head.status, &head.status_line, &head.headers);
        self.head = Some(head);
        self.headers_sent = true;
        self.check_sent(ok)
    }

    /// Whether the response, ended now, is short of its Content-Length (a
    /// HEAD, 204 or 304 answer has no body to be short of).
    fn ends_short(&self) -> bool {
        let status = self.head.as_ref().map_or(200, |h| h.status);
        body_expected(self.head_request, status) && self.length.short_after(0)
    }

    /// The part of `len` bytes that still fits the declared Content-Length
    /// (counted as written).
    pub(crate) fn allowed(&mut self, len: u64) -> u64 {
        let admit = self.length.admit(len);
        if admit.first_overrun {
            self.log(
                level::WARNING,
                &format!(
                    "the application sent more than its Content-Length of {} bytes; the response was truncated",
                    self.length.declared().unwrap_or(0)
                ),
            );
        }
        admit.allowed
    }

    pub(crate) fn write(&mut self, data: &[u8]) -> PyResult<()> {
        self.send_head()?;
        let n = self.allowed(data.len() as u64) as usize;
        if n == 0 {
            return Ok(());
        }
        let chunk = &data[..n];
        let chan = self.live()?;
        let t0 = Instant::now();
        let ok = if chunk.len() <= SMALL_PIECE {
            match chan.try_write(chunk) {
                Ok(ok) => ok,
                Err(sent) => object::allow_threads(|| chan.write_rest(chunk, sent)),
            }
        } else {
            object::allow_threads(|| chan.write(chunk))
        };
        self.stats.output_writes += 1;
        self.stats.output_time += t0.elapsed();
        self.check_sent(ok)
    }

    /// Sends part of a file as a file; Ok(false) when this channel cannot
    /// (the caller then iterates the file instead).
    pub(crate) fn send_file(&mut self, fd: i32, offset: u64, len: u64) -> PyResult<bool> {
        self.send_head()?;
        let n = self.allowed(len);
        if n == 0 {
            return Ok(true);
        }
        let chan = self.live()?;
        let t0 = Instant::now();
        let ok = object::allow_threads(|| chan.send_file(fd, offset, n));
        self.stats.output_writes += 1;
        self.stats.output_time += t0.elapsed();
        self.check_sent(ok).map(|_| true)
    }

    pub(crate) fn check_sent(&mut self, ok: bool) -> PyResult<()> {
        if ok {
            return Ok(());
        }
        self.client_gone = true;
        object::raise_os_error("failed to write response data: the client connection was closed");
        Err(PyErrSet)
    }

    fn warn_short(&self) {
        self.log(
            level::WARNING,
            &format!(
                "the application sent {} bytes but declared a Content-Length of {}; closing the connection",
                self.length.written(),
                self.length.declared().unwrap_or(0)
            ),
        );
    }

    /// The application's last body bytes and the end of the response.
    pub(crate) fn write_final(&mut self, data: &[u8]) -> PyResult<()> {
        self.send_head()?;
        let n = self.allowed(data.len() as u64);
        let short = self.ends_short();
        if short {
            self.warn_short();
        }
        let chunk = &data[..n as usize];
        let chan = self.live()?;
        let t0 = Instant::now();
        let ok = if chan.buffers_without_io(chunk.len()) {
            chan.write_final(chunk, short)
        } else if short || chunk.len() > SMALL_PIECE {
            object::allow_threads(|| chan.write_final(chunk, short))
        } else {
            match chan.try_write_final(chunk) {
                Ok(ok) => ok,
                Err(sent) => object::allow_threads(|| chan.write_final_rest(chunk, short, sent)),
            }
        };
        self.stats.output_writes += 1;
        self.stats.output_time += t0.elapsed();
        self.check_sent(ok)
    }

    pub(crate) fn finish(&mut self) -> PyResult<()> {
        self.send_head()?;
        let short = self.ends_short() && !self.client_gone;
        if short {
            self.warn_short();
        }
        let chan = self.live()?;
        let ok = match chan.try_finish(short) {
            Ok(ok) => ok,
            Err(sent) => object::allow_threads(|| chan.finish_rest(short, sent)),
        };
        self.check_sent(ok)
    }

    pub(crate) fn read(&mut self, size: i64) -> PyResult<Vec<u8>> {
        if self.body_done || size == 0 {
            return Ok(Vec::new());
        }
        let first = !self.body_started;
        self.body_started = true;
        let chan = self.live()?;
        let t0 = Instant::now();
        // One GIL release for both: Apache sends "100 Continue" only now
        // that the application reads, then the body arrives.
        let (out, failed, eof) = object::allow_threads(|| {
            if first && !chan.start_body() {
                return (Vec::new(), false, true);
            }
            read_body(chan, size)
        });
        self.stats.input_reads += 1;
        self.stats.input_length += out.len() as u64;
        self.stats.input_time += t0.elapsed();
        self.body_done = eof || failed;
        if failed {
            object::raise_os_error(
                "failed to read the request body (client gone, timeout or bad chunked encoding)",
            );
            return Err(PyErrSet);
        }
        Ok(out)
    }
}

/// Reads up to `size` bytes (all of the body when negative):
/// (bytes, failed, reached the end).
fn read_body(chan: &mut dyn RequestIo, size: i64) -> (Vec<u8>, bool, bool) {
    const PIECE: usize = 1 << 16;
    let want = if size < 0 { usize::MAX } else { size as usize };
    // A known Content-Length sizes the buffer once (up to 16 MiB up front).
    let first = chan.body_remaining().unwrap_or(PIECE).clamp(1, 16 << 20);
    let mut out = Vec::with_capacity(want.min(first));
    while out.len() < want {
        let spare = out.capacity() - out.len();
        if spare == 0 && chan.body_known_done() {
            return (out, false, true);
        }
        let room = (want - out.len()).min(if spare > 0 { spare } else { PIECE });
        match chan.read_body_onto(&mut out, room) {
            Err(()) => return (out, true, true),
            Ok(0) => return (out, false, true),
            Ok(_) => {}
        }
    }
    (out, false, false)
}
