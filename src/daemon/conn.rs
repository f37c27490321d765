//! A framed connection over a UNIX stream socket (both ends use it): frames
//! from `wsgi_core::protocol`, buffered reads, and body data written with
//! one `writev` and no copy.

use std::io::{self, IoSlice, Read, Write};
use std::os::unix::net::UnixStream;
use std::time::Duration;
use wsgi_core::protocol::{parse_header, Frame, HEADER_LEN};

pub struct FramedConn {
    stream: UnixStream,
    rbuf: Vec<u8>,
    rpos: usize,
    wbuf: Vec<u8>,
}

impl FramedConn {
    pub fn new(stream: UnixStream) -> FramedConn {
        FramedConn {
            stream,
            rbuf: Vec::with_capacity(1 << 16),
            rpos: 0,
            wbuf: Vec::with_capacity(4096),
        }
    }

    /// Read/write timeouts (None = wait forever).
    pub fn set_timeouts(&self, read: Option<Duration>, write: Option<Duration>) -> io::Result<()> {
        self.stream.set_read_timeout(read)?;
        self.stream.set_write_timeout(write)
    }

    pub fn send(&mut self, f: &Frame) -> io::Result<()> {
        self.wbuf.clear();
        f.encode(&mut self.wbuf);
        self.stream.write_all(&self.wbuf)
    }

    /// Sends a Data (response) or Body (request) frame without copying `data`.
    pub fn send_payload(&mut self, data: &[u8], request_side: bool) -> io::Result<()> {
        let header = Frame::data_header(data.len(), request_side);
        let mut bufs = [IoSlice::new(&header), IoSlice::new(data)];
        let mut slices: &mut [IoSlice] = &mut bufs;
        while !slices.is_empty() {
            match self.stream.write_vectored(slices) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => IoSlice::advance_slices(&mut slices, n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Sends response body bytes (daemon side).
    pub fn send_data(&mut self, data: &[u8]) -> io::Result<()> {
        self.send_payload(data, false)
    }

    /// Whether a whole frame is already buffered (so recv will not block).
    pub fn has_buffered_frame(&self) -> bool {
        let avail = &self.rbuf[self.rpos..];
        matches!(parse_header(avail), Ok(Some((_, len))) if avail.len() >= HEADER_LEN + len)
    }

    /// Receives the next frame. EOF before a whole frame is UnexpectedEof.
    pub fn recv(&mut self) -> io::Result<Frame> {
        loop {
            match Frame::decode(&self.rbuf[self.rpos..]) {
                Ok(Some((frame, used))) => {
                    self.rpos += used;
                    if self.rpos == self.rbuf.len() {
                        self.rbuf.clear();
                        self.rpos = 0;
                    }
                    return Ok(frame);
                }
                Ok(None) => {}
                Err(e) => return Err(io::Error::new(io::ErrorKind::InvalidData, e.to_string())),
            }
            if self.rpos > 0 {
                self.rbuf.drain(..self.rpos);
                self.rpos = 0;
            }
            let old = self.rbuf.len();
            self.rbuf.resize(old + (1 << 16), 0);
            let n = loop {
                match self.stream.read(&mut self.rbuf[old..]) {
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    other => break other,
                }
            };
            match n {
                Ok(0) => {
                    self.rbuf.truncate(old);
                    return Err(io::ErrorKind::UnexpectedEof.into());
                }
                Ok(n) => self.rbuf.truncate(old + n),
                Err(e) => {
                    self.rbuf.truncate(old);
                    return Err(e);
                }
            }
        }
    }
}
