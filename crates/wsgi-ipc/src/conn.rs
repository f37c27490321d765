//! A framed connection over a UNIX stream socket (both ends use it): frames
//! from `wsgi_core::protocol`, buffered reads, body data written with one
//! `writev` and no copy, and file descriptors passed along with a frame
//! (SCM_RIGHTS) for `File`.

use std::collections::VecDeque;
use std::io::{self, IoSlice, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::time::Duration;
use wsgi_core::environ::Environ;
use wsgi_core::protocol::{parse_header, Frame, HEADER_LEN, MAX_PIECE, T_BODY, T_DATA};
use wsgi_core::route::RequestHead;

/// The most descriptors a peer may have in flight to us: a File frame
/// carries one; more is a misbehaving (or hostile) peer.
const MAX_FDS: usize = 4;
/// Most iovecs given to one sendmsg (Linux's IOV_MAX is 1024).
const MAX_IOV: usize = 1024;

fn too_large(e: wsgi_core::protocol::DecodeError) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, e.to_string())
}

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
    /// Descriptors received with the bytes read so far, in order.
    fds: VecDeque<OwnedFd>,
    /// How far the read buffer grows while streaming (response-buffer-size).
    max_read: usize,
}

impl FramedConn {
    pub fn new(stream: UnixStream) -> FramedConn {
        FramedConn {
            stream,
            rbuf: Vec::new(),
            rpos: 0,
            rend: 0,
            wbuf: Vec::with_capacity(4096),
            fds: VecDeque::new(),
            max_read: BIG_READ,
        }
    }

    /// A connection whose first bytes were already read (a daemon's look
    /// before authentication): they are read again as the start of the
    /// first frame.
    pub fn with_received(stream: UnixStream, received: &[u8]) -> FramedConn {
        let mut conn = FramedConn::new(stream);
        conn.rbuf = vec![0; FIRST_READ.max(received.len())];
        conn.rbuf[..received.len()].copy_from_slice(received);
        conn.rend = received.len();
        conn
    }

    /// Caps how much is read ahead while streaming (a frame larger than
    /// that still fits: the buffer grows for it).
    pub fn set_max_read(&mut self, bytes: usize) {
        self.max_read = bytes.max(FIRST_READ);
    }

    /// The socket's send and receive buffer sizes (0 leaves the system's).
    /// On a UNIX stream socket the sender's send buffer bounds what is in
    /// flight one way: the daemon's for responses, the child's for bodies.
    pub fn set_buffer_sizes(&self, send: u32, receive: u32) -> io::Result<()> {
        for (option, size) in [(libc::SO_SNDBUF, send), (libc::SO_RCVBUF, receive)] {
            if size == 0 {
                continue;
            }
            let size = size.min(i32::MAX as u32) as libc::c_int;
            // SAFETY: setting an int socket option on our own descriptor.
            let rc = unsafe {
                libc::setsockopt(
                    self.stream.as_raw_fd(),
                    libc::SOL_SOCKET,
                    option,
                    (&size as *const libc::c_int).cast(),
                    std::mem::size_of::<libc::c_int>() as libc::socklen_t,
                )
            };
            if rc != 0 {
                return Err(io::Error::last_os_error());
            }
        }
        Ok(())
    }

    /// The read timeout alone (None = wait forever).
    pub fn set_read_timeout(&self, read: Option<Duration>) -> io::Result<()> {
        self.stream.set_read_timeout(read)
    }

    /// No more writes from this side (what the peer sent can still be read).
    pub fn shutdown_write(&self) {
        let _ = self.stream.shutdown(std::net::Shutdown::Write);
    }

    /// Read/write timeouts (None = wait forever).
    pub fn set_timeouts(&self, read: Option<Duration>, write: Option<Duration>) -> io::Result<()> {
        self.stream.set_read_timeout(read)?;
        self.stream.set_write_timeout(write)
    }

    /// Sends `f`, after any frames deferred so far, in one write.
    pub fn send(&mut self, f: &Frame) -> io::Result<()> {
        if let Err(e) = f.encode(&mut self.wbuf) {
            self.wbuf.clear();
            return Err(too_large(e));
        }
        let result = self.stream.write_all(&self.wbuf);
        self.wbuf.clear();
        result
    }

    /// Sends `f` (after any deferred frames) with `fd` attached: the peer
    /// gets its own descriptor for the same open file.
    pub fn send_with_fd(&mut self, f: &Frame, fd: RawFd) -> io::Result<()> {
        if let Err(e) = f.encode(&mut self.wbuf) {
            self.wbuf.clear();
            return Err(too_large(e));
        }
        let sent = send_with_fds(self.stream.as_raw_fd(), &self.wbuf, &[fd]);
        let result = sent.and_then(|n| self.stream.write_all(&self.wbuf[n..]));
        self.wbuf.clear();
        result
    }

    /// The socket's descriptor (for poll).
    pub fn raw_fd(&self) -> RawFd {
        self.stream.as_raw_fd()
    }

    /// Whether bytes were read that no frame has consumed yet.
    pub fn has_unread(&self) -> bool {
        self.rpos < self.rend
    }

    /// Whether the peer closed the connection or sent something unasked
    /// (a connection kept for reuse must be silent): checked without
    /// blocking before a kept connection carries a new request.
    pub fn is_stale(&self) -> bool {
        let mut b = [0u8; 1];
        // SAFETY: a non-blocking peek of one byte into our buffer.
        let n = unsafe {
            libc::recv(
                self.stream.as_raw_fd(),
                b.as_mut_ptr().cast(),
                1,
                libc::MSG_PEEK | libc::MSG_DONTWAIT,
            )
        };
        !(n < 0 && io::Error::last_os_error().kind() == io::ErrorKind::WouldBlock)
            || self.has_unread()
    }

    /// The next descriptor that came with the frames received (`File`).
    pub fn take_fd(&mut self) -> Option<OwnedFd> {
        self.fds.pop_front()
    }

    /// One read into the free part of the buffer, keeping any descriptors
    /// that arrive with the bytes.
    fn read_more(&mut self) -> io::Result<usize> {
        let buf = &mut self.rbuf[self.rend..];
        let mut iov = libc::iovec {
            iov_base: buf.as_mut_ptr().cast(),
            iov_len: buf.len(),
        };
        // Room for MAX_FDS descriptors; more sets MSG_CTRUNC (the kernel
        // closes what did not fit).
        let mut control = [0u64; 4];
        // SAFETY: a zeroed msghdr is valid; we point it at our iovec and
        // control buffer, which outlive the call.
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = std::mem::size_of_val(&control) as _;
        // SAFETY: recvmsg writes at most iov_len bytes into `buf` and the
        // control data into `control`.
        let n = unsafe { libc::recvmsg(self.stream.as_raw_fd(), &mut msg, libc::MSG_CMSG_CLOEXEC) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        let truncated = msg.msg_flags & libc::MSG_CTRUNC != 0;
        // SAFETY: walking the control messages the kernel just wrote, with
        // the libc macros; each SCM_RIGHTS entry is a descriptor we now own.
        unsafe {
            let mut c = libc::CMSG_FIRSTHDR(&msg);
            while !c.is_null() {
                if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_RIGHTS {
                    let data = libc::CMSG_DATA(c).cast::<libc::c_int>();
                    let count = ((*c).cmsg_len as usize - libc::CMSG_LEN(0) as usize)
                        / std::mem::size_of::<libc::c_int>();
                    for i in 0..count {
                        self.fds
                            .push_back(OwnedFd::from_raw_fd(data.add(i).read_unaligned()));
                    }
                }
                c = libc::CMSG_NXTHDR(&msg, c);
            }
        }
        if truncated || self.fds.len() > MAX_FDS {
            self.fds.clear();
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "the peer passed more file descriptors than a frame may carry",
            ));
        }
        Ok(n as usize)
    }

    /// Encodes a Request frame (`head`, then `env`) to go out with the
    /// next send.
    pub fn defer_request(&mut self, head: &RequestHead, env: &Environ) -> io::Result<()> {
        env.encode_request(head, &mut self.wbuf).map_err(too_large)
    }

    /// Sends what was deferred.
    pub fn send_deferred(&mut self) -> io::Result<()> {
        let result = self.stream.write_all(&self.wbuf);
        self.wbuf.clear();
        result
    }

    /// Encodes `f` to go out with the next send (one write instead of two,
    /// e.g. the response head with the first body bytes).
    pub fn defer(&mut self, f: &Frame) -> io::Result<()> {
        f.encode(&mut self.wbuf).map_err(too_large)
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
        self.write_payload(Some(data), request_side, last, 0, false)
            .map(drop)
    }

    /// As `send_payload_then`, but only what the socket takes at once:
    /// Ok(None) when all of it went out, Ok(Some(sent)) when the rest must
    /// follow with `send_payload_rest(.., sent)`. Lets a daemon worker end
    /// a response without giving up the GIL when the write cannot block.
    pub fn try_send_payload_then(
        &mut self,
        data: &[u8],
        last: Option<&Frame>,
    ) -> io::Result<Option<usize>> {
        self.write_payload(Some(data), false, last, 0, true)
    }

    /// The rest of a `try_send_payload_then` that did not all go out.
    pub fn send_payload_rest(
        &mut self,
        data: &[u8],
        last: Option<&Frame>,
        sent: usize,
    ) -> io::Result<()> {
        self.write_payload(Some(data), false, last, sent, false)
            .map(drop)
    }

    /// Deferred frames and `f`, as far as the socket takes them without
    /// blocking: Ok(None) when all went out, Ok(Some(sent)) when the rest
    /// must follow with `send_frame_rest(f, sent)`.
    pub fn try_send_frame(&mut self, f: &Frame) -> io::Result<Option<usize>> {
        self.write_payload(None, false, Some(f), 0, true)
    }

    /// The rest of a `try_send_frame` that did not all go out.
    pub fn send_frame_rest(&mut self, f: &Frame, sent: usize) -> io::Result<()> {
        self.write_payload(None, false, Some(f), sent, false)
            .map(drop)
    }

    /// Writes wbuf, then `data` (if any) as Data/Body frames of at most
    /// MAX_PIECE bytes each, then `last`, skipping the first `skip` bytes
    /// (sent before); `nowait` stops at a full socket and says how far it
    /// got.
    fn write_payload(
        &mut self,
        data: Option<&[u8]>,
        request_side: bool,
        last: Option<&Frame>,
        skip: usize,
        nowait: bool,
    ) -> io::Result<Option<usize>> {
        // One frame for a small piece (the usual case), several for a
        // large one: any write size works, and no frame exceeds the limit.
        let pieces: Vec<&[u8]> = match data {
            None => Vec::new(),
            Some([]) => vec![&[][..]],
            Some(d) => d.chunks(MAX_PIECE).collect(),
        };
        let headers: Vec<[u8; HEADER_LEN]> = pieces
            .iter()
            .map(|p| Frame::data_header(p.len(), request_side))
            .collect();
        let mut trailer = Vec::new();
        if let Some(f) = last {
            f.encode(&mut trailer).map_err(too_large)?;
        }
        let mut bufs = Vec::with_capacity(2 + 2 * pieces.len());
        bufs.push(IoSlice::new(&self.wbuf));
        for (h, p) in headers.iter().zip(&pieces) {
            bufs.push(IoSlice::new(h));
            bufs.push(IoSlice::new(p));
        }
        bufs.push(IoSlice::new(&trailer));
        let mut slices: &mut [IoSlice] = &mut bufs;
        IoSlice::advance_slices(&mut slices, skip);
        let mut sent = skip;
        let fd = self.stream.as_raw_fd();
        let flags = libc::MSG_NOSIGNAL | if nowait { libc::MSG_DONTWAIT } else { 0 };
        let mut result = Ok(None);
        while !slices.is_empty() {
            match send_vectored(fd, &slices[..slices.len().min(MAX_IOV)], flags) {
                Ok(0) => {
                    result = Err(io::ErrorKind::WriteZero.into());
                    break;
                }
                Ok(n) => {
                    sent += n;
                    IoSlice::advance_slices(&mut slices, n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if nowait && e.kind() == io::ErrorKind::WouldBlock => {
                    // Kept for send_payload_rest, which sends wbuf again.
                    return Ok(Some(sent));
                }
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
        self.buffered_frame_type_after(0).is_some()
    }

    /// The type of the whole frame buffered `skip` bytes on, if there is one.
    pub fn buffered_frame_type_after(&self, skip: usize) -> Option<u8> {
        let avail = &self.rbuf[(self.rpos + skip).min(self.rend)..self.rend];
        match parse_header(avail) {
            Ok(Some((kind, len))) if avail.len() >= HEADER_LEN + len => Some(kind),
            _ => None,
        }
    }

    /// Reads until at least one whole frame is buffered (recv then returns
    /// it without reading).
    pub fn wait_frame(&mut self) -> io::Result<()> {
        while !self.has_buffered_frame() {
            if parse_header(&self.rbuf[self.rpos..self.rend]).is_err() {
                break; // recv reports it
            }
            self.fill()?;
        }
        Ok(())
    }

    /// The payloads of the Data frames at the front of the buffer, as
    /// slices of it, and how many buffered bytes they span (for `consume`).
    /// The relay hands them to Apache as they are: a daemon streams in
    /// small frames, and one read often brings in many of them.
    pub fn buffered_data<'a>(&'a self, out: &mut Vec<&'a [u8]>) -> usize {
        let mut at = self.rpos;
        loop {
            let avail = &self.rbuf[at..self.rend];
            match parse_header(avail) {
                Ok(Some((t, len))) if t == T_DATA && avail.len() >= HEADER_LEN + len => {
                    out.push(&avail[HEADER_LEN..HEADER_LEN + len]);
                    at += HEADER_LEN + len;
                }
                _ => return at - self.rpos,
            }
        }
    }

    /// Daemon side: if the next frame is a non-empty Body, appends up to
    /// `room` of its bytes to `out` and the rest to `pending`, straight from
    /// the read buffer, and returns how many went to `out`. None: the next
    /// frame is something else (BodyEnd, an empty Body), left for recv.
    pub fn recv_body_onto(
        &mut self,
        out: &mut Vec<u8>,
        room: usize,
        pending: &mut Vec<u8>,
    ) -> io::Result<Option<usize>> {
        self.wait_frame()?;
        let avail = &self.rbuf[self.rpos..self.rend];
        let Ok(Some((T_BODY, len))) = parse_header(avail) else {
            return Ok(None);
        };
        if len == 0 || avail.len() < HEADER_LEN + len {
            return Ok(None);
        }
        let payload = &avail[HEADER_LEN..HEADER_LEN + len];
        let n = len.min(room);
        out.extend_from_slice(&payload[..n]);
        pending.extend_from_slice(&payload[n..]);
        self.consume(HEADER_LEN + len);
        Ok(Some(n))
    }

    /// Drops `n` buffered bytes (frames handled through `buffered_data`).
    pub fn consume(&mut self, n: usize) {
        self.rpos = (self.rpos + n).min(self.rend);
        if self.rpos == self.rend {
            self.emptied();
        }
    }

    /// Everything read was consumed. A buffer that grew past the read-ahead
    /// bound for one large frame is let go: a kept connection does not
    /// hold megabytes between requests.
    fn emptied(&mut self) {
        self.rpos = 0;
        self.rend = 0;
        if self.rbuf.len() > self.max_read {
            self.rbuf = Vec::new();
        }
    }

    /// Receives the next frame as its type and a copy of its payload (one
    /// allocation, for a frame read into borrowed parts, e.g. a Request's
    /// environ). EOF before a whole frame is UnexpectedEof.
    pub fn recv_raw(&mut self) -> io::Result<(u8, Vec<u8>)> {
        loop {
            let avail = &self.rbuf[self.rpos..self.rend];
            match parse_header(avail) {
                Ok(Some((kind, len))) if avail.len() >= HEADER_LEN + len => {
                    let payload = avail[HEADER_LEN..HEADER_LEN + len].to_vec();
                    self.consume(HEADER_LEN + len);
                    return Ok((kind, payload));
                }
                Ok(_) => {}
                Err(e) => return Err(io::Error::new(io::ErrorKind::InvalidData, e.to_string())),
            }
            self.fill()?;
        }
    }

    /// Receives the next frame. EOF before a whole frame is UnexpectedEof.
    pub fn recv(&mut self) -> io::Result<Frame> {
        loop {
            match Frame::decode(&self.rbuf[self.rpos..self.rend]) {
                Ok(Some((frame, used))) => {
                    self.rpos += used;
                    if self.rpos == self.rend {
                        self.emptied();
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
            match self.read_more() {
                Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
                Ok(n) => {
                    self.rend += n;
                    // A read that filled all the room means more is coming
                    // (a streamed body): read in bigger pieces from now on.
                    if n == room && self.rbuf.len() < self.max_read {
                        let grown = (self.rbuf.len() * 2).min(self.max_read);
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

/// One sendmsg of `slices` with `flags` (the socket's own timeouts apply
/// when it blocks).
fn send_vectored(sock: RawFd, slices: &[IoSlice], flags: libc::c_int) -> io::Result<usize> {
    // SAFETY: IoSlice is ABI-compatible with iovec; a zeroed msghdr pointed
    // at slices that outlive the call; sendmsg only reads them.
    unsafe {
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = slices.as_ptr() as *mut libc::iovec;
        msg.msg_iovlen = slices.len() as _;
        let n = libc::sendmsg(sock, &msg, flags);
        if n < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(n as usize)
        }
    }
}

/// The most descriptors `send_with_fds` passes in one message.
pub const MAX_SEND_FDS: usize = 16;

/// Sends (the start of) `bytes` on `sock` with `fds` attached (SCM_RIGHTS;
/// the peer gets its own descriptors for the same open files); returns how
/// many bytes went out (the rest is written normally: the descriptors
/// travel once). No descriptors: a plain sendmsg.
pub fn send_with_fds(sock: RawFd, bytes: &[u8], fds: &[RawFd]) -> io::Result<usize> {
    if fds.len() > MAX_SEND_FDS {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "too many descriptors for one message",
        ));
    }
    let mut iov = libc::iovec {
        iov_base: bytes.as_ptr() as *mut libc::c_void,
        iov_len: bytes.len(),
    };
    // CMSG_SPACE(16 * 4) is 80 bytes on Linux.
    let mut control = [0u64; 10];
    let size = std::mem::size_of_val(fds) as u32;
    // SAFETY: as in read_more: a zeroed msghdr pointed at buffers that
    // outlive the call; one SCM_RIGHTS message carrying at most
    // MAX_SEND_FDS descriptors, which fits `control`.
    unsafe {
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        if !fds.is_empty() {
            msg.msg_control = control.as_mut_ptr().cast();
            msg.msg_controllen = libc::CMSG_SPACE(size) as _;
            let c = libc::CMSG_FIRSTHDR(&msg);
            (*c).cmsg_level = libc::SOL_SOCKET;
            (*c).cmsg_type = libc::SCM_RIGHTS;
            (*c).cmsg_len = libc::CMSG_LEN(size) as _;
            let data = libc::CMSG_DATA(c).cast::<libc::c_int>();
            for (k, fd) in fds.iter().enumerate() {
                data.add(k).write_unaligned(*fd);
            }
        }
        loop {
            let n = libc::sendmsg(sock, &msg, libc::MSG_NOSIGNAL);
            if n >= 0 {
                return Ok(n as usize);
            }
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
    }
}

#[cfg(test)]
#[path = "conn_tests.rs"]
mod tests;
