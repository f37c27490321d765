//! A framed connection over a UNIX stream socket (both ends use it): frames
//! from `wsgi_core::protocol`, buffered reads, and body data written with
//! one `writev` and no copy.

use std::io::{self, IoSlice, Read, Write};
use std::os::unix::net::UnixStream;
use std::time::Duration;
use wsgi_core::protocol::{parse_header, Frame, HEADER_LEN};

/// The read buffer starts at FIRST_READ bytes and grows up to BIG_READ
/// while reads keep filling it: one allocation for a small request, few
/// syscalls for a streamed response.
const FIRST_READ: usize = 1 << 14;
const BIG_READ: usize = 1 << 18;

pub struct FramedConn {
    stream: UnixStream,
    /// Received bytes: rbuf[rpos..rend] are not consumed yet.
    rbuf: Vec<u8>,
    rpos: usize,
    rend: usize,
    wbuf: Vec<u8>,
}

impl FramedConn {
    pub fn new(stream: UnixStream) -> FramedConn {
        FramedConn {
            stream,
            rbuf: Vec::new(),
            rpos: 0,
            rend: 0,
            wbuf: Vec::with_capacity(4096),
        }
    }

    /// Read/write timeouts (None = wait forever).
    pub fn set_timeouts(&self, read: Option<Duration>, write: Option<Duration>) -> io::Result<()> {
        self.stream.set_read_timeout(read)?;
        self.stream.set_write_timeout(write)
    }

    /// Sends `f`, after any frames deferred so far, in one write.
    pub fn send(&mut self, f: &Frame) -> io::Result<()> {
        f.encode(&mut self.wbuf);
        let result = self.stream.write_all(&self.wbuf);
        self.wbuf.clear();
        result
    }

    /// Encodes `f` to go out with the next send (one write instead of two,
    /// e.g. the response head with the first body bytes).
    pub fn defer(&mut self, f: &Frame) {
        f.encode(&mut self.wbuf);
    }

    /// Sends a Data (response) or Body (request) frame without copying `data`.
    pub fn send_payload(&mut self, data: &[u8], request_side: bool) -> io::Result<()> {
        self.send_payload_then(data, request_side, None)
    }

    /// Sends deferred frames, a Data/Body frame carrying `data` (not
    /// copied) and then `last` (End, BodyEnd), all in one `writev`.
    pub fn send_payload_then(
        &mut self,
        data: &[u8],
        request_side: bool,
        last: Option<&Frame>,
    ) -> io::Result<()> {
        let header = Frame::data_header(data.len(), request_side);
        let mut trailer = Vec::new();
        if let Some(f) = last {
            f.encode(&mut trailer);
        }
        let mut bufs = [
            IoSlice::new(&self.wbuf),
            IoSlice::new(&header),
            IoSlice::new(data),
            IoSlice::new(&trailer),
        ];
        let mut slices: &mut [IoSlice] = &mut bufs;
        let mut result = Ok(());
        while !slices.is_empty() {
            match self.stream.write_vectored(slices) {
                Ok(0) => {
                    result = Err(io::ErrorKind::WriteZero.into());
                    break;
                }
                Ok(n) => IoSlice::advance_slices(&mut slices, n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
        }
        self.wbuf.clear();
        result
    }

    /// Sends response body bytes (daemon side).
    pub fn send_data(&mut self, data: &[u8]) -> io::Result<()> {
        self.send_payload(data, false)
    }

    /// Whether a whole frame is already buffered (so recv will not block).
    pub fn has_buffered_frame(&self) -> bool {
        let avail = &self.rbuf[self.rpos..self.rend];
        matches!(parse_header(avail), Ok(Some((_, len))) if avail.len() >= HEADER_LEN + len)
    }

    /// Receives the next frame. EOF before a whole frame is UnexpectedEof.
    pub fn recv(&mut self) -> io::Result<Frame> {
        loop {
            match Frame::decode(&self.rbuf[self.rpos..self.rend]) {
                Ok(Some((frame, used))) => {
                    self.rpos += used;
                    if self.rpos == self.rend {
                        self.rpos = 0;
                        self.rend = 0;
                    }
                    return Ok(frame);
                }
                Ok(None) => {}
                Err(e) => return Err(io::Error::new(io::ErrorKind::InvalidData, e.to_string())),
            }
            self.fill()?;
        }
    }

    /// Reads more bytes after those buffered. The buffer is zeroed only when
    /// it grows (a frame larger than it), never per read.
    fn fill(&mut self) -> io::Result<()> {
        if self.rpos > 0 {
            self.rbuf.copy_within(self.rpos..self.rend, 0);
            self.rend -= self.rpos;
            self.rpos = 0;
        }
        if self.rend == self.rbuf.len() {
            let grown = (self.rbuf.len() * 2).max(FIRST_READ);
            self.rbuf.resize(grown, 0);
        }
        loop {
            let room = self.rbuf.len() - self.rend;
            match self.stream.read(&mut self.rbuf[self.rend..]) {
                Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
                Ok(n) => {
                    self.rend += n;
                    // A read that filled all the room means more is coming
                    // (a streamed body): read in bigger pieces from now on.
                    if n == room && self.rbuf.len() < BIG_READ {
                        let grown = (self.rbuf.len() * 2).min(BIG_READ);
                        self.rbuf.resize(grown, 0);
                    }
                    return Ok(());
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
}
