//! The wire protocol between an Apache child and a daemon process.
//!
//! Every message is a frame: one type byte, a 4-byte big-endian payload
//! length, the payload. The daemon *pulls* the request body (`WantBody`),
//! so `Expect: 100-continue` is answered only once the application reads,
//! neither side buffers more than it asked for, and the Apache side needs no
//! extra thread. See docs/protocol.md.
//!
//! ```text
//! child  -> daemon: Request{version, token, route, environ}  Body* BodyEnd
//! daemon -> child : (Retry | Error | Accepted WantBody(n)* (Head (Data | File)* End | Error))
//! ```

/// Bumped on any incompatible change; both sides check it.
pub const PROTOCOL_VERSION: u8 = 2;

/// The most a frame's payload may carry (a guard against corrupt lengths).
pub const MAX_PAYLOAD: usize = 16 << 20;

/// The most body bytes one Data or Body frame carries: a larger write goes
/// out as several frames.
pub const MAX_PIECE: usize = 1 << 20;

/// Bytes in a frame header.
pub const HEADER_LEN: usize = 5;

/// The most response headers one Head frame may carry, and the most bytes
/// of one header (name and value): a daemon's answer is bounded by entries
/// as a client's request is by `LimitRequestFields`/`LimitRequestFieldSize`,
/// so a Head cannot cost the Apache child more than about its own size.
pub const MAX_HEAD_FIELDS: usize = 1000;
pub const MAX_HEAD_FIELD: usize = 64 << 10;

/// Name/value pairs (environ entries, headers), as bytes.
pub type Pairs = Vec<(Vec<u8>, Vec<u8>)>;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// A request: its payload, read with `Environ::decode_request`
    /// (version, the group's token, the typed route, the environ).
    Request(Vec<u8>),
    /// A piece of the request body.
    Body(Vec<u8>),
    /// The request body has ended (or there was none).
    BodyEnd,
    /// The daemon asks for up to n more body bytes.
    WantBody(u32),
    /// Status code, status line and headers.
    Head {
        status: u16,
        status_line: Vec<u8>,
        headers: Vec<(Vec<u8>, Vec<u8>)>,
    },
    /// A piece of the response body.
    Data(Vec<u8>),
    /// The response is complete.
    End,
    /// The daemon could not produce a response (before any Head): the
    /// Apache side answers with `status` and logs `message`.
    Error { status: u16, message: Vec<u8> },
    /// `len` bytes of a file from `offset`: the file's descriptor travels
    /// with the frame (SCM_RIGHTS), so Apache sends it with sendfile.
    File { offset: u64, len: u64 },
    /// The daemon did not take the request (it is restarting, e.g. for a
    /// changed WSGI script) and asked for no body: send it again.
    Retry,
    /// The daemon took the request and starts the application: from here
    /// on it is never sent again, whatever happens.
    Accepted,
}

pub const T_REQUEST: u8 = 1;
pub const T_BODY: u8 = 2;
const T_BODY_END: u8 = 3;
const T_WANT_BODY: u8 = 16;
const T_HEAD: u8 = 17;
pub const T_DATA: u8 = 18;
pub const T_END: u8 = 19;
const T_ERROR: u8 = 20;
const T_RETRY: u8 = 21;
const T_FILE: u8 = 22;
const T_ACCEPTED: u8 = 23;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    UnknownType(u8),
    TooLarge(usize),
    Malformed(&'static str),
    /// A Request of another protocol version.
    Version(u8),
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DecodeError::UnknownType(t) => write!(f, "unknown frame type {}", t),
            DecodeError::TooLarge(n) => write!(f, "frame of {} bytes exceeds the limit", n),
            DecodeError::Malformed(what) => write!(f, "malformed frame: {}", what),
            DecodeError::Version(v) => write!(
                f,
                "protocol version {} is not {} (an Apache child and a daemon of different builds)",
                v, PROTOCOL_VERSION
            ),
        }
    }
}

impl Frame {
    /// Appends the encoded frame to `out`; a payload over MAX_PAYLOAD is
    /// refused (`out` is left as it was) rather than sent with a wrong length.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), DecodeError> {
        let start = out.len();
        out.extend_from_slice(&[0; HEADER_LEN]);
        let t = match self {
            Frame::Request(p) => {
                out.extend_from_slice(p);
                T_REQUEST
            }
            Frame::Body(b) => {
                out.extend_from_slice(b);
                T_BODY
            }
            Frame::BodyEnd => T_BODY_END,
            Frame::WantBody(n) => {
                out.extend_from_slice(&n.to_be_bytes());
                T_WANT_BODY
            }
            Frame::Head {
                status,
                status_line,
                headers,
            } => {
                if let Err(e) = head_bounds(
                    headers.len(),
                    headers.iter().map(|(k, v)| k.len() + v.len()),
                ) {
                    out.truncate(start);
                    return Err(e);
                }
                out.extend_from_slice(&status.to_be_bytes());
                put_bytes(out, status_line);
                put_pairs(out, headers);
                T_HEAD
            }
            Frame::Data(b) => {
                out.extend_from_slice(b);
                T_DATA
            }
            Frame::End => T_END,
            Frame::Retry => T_RETRY,
            Frame::Accepted => T_ACCEPTED,
            Frame::File { offset, len } => {
                out.extend_from_slice(&offset.to_be_bytes());
                out.extend_from_slice(&len.to_be_bytes());
                T_FILE
            }
            Frame::Error { status, message } => {
                out.extend_from_slice(&status.to_be_bytes());
                out.extend_from_slice(message);
                T_ERROR
            }
        };
        let len = out.len() - start - HEADER_LEN;
        if len > MAX_PAYLOAD {
            out.truncate(start);
            return Err(DecodeError::TooLarge(len));
        }
        out[start] = t;
        out[start + 1..start + HEADER_LEN].copy_from_slice(&(len as u32).to_be_bytes());
        Ok(())
    }

    /// Encodes a data-carrying frame header only, for writing the payload
    /// separately without copying it (`Data` / `Body`). `len` is at most
    /// MAX_PIECE: callers split larger payloads.
    pub fn data_header(len: usize, request_side: bool) -> [u8; HEADER_LEN] {
        debug_assert!(len <= MAX_PIECE);
        let mut h = [0u8; HEADER_LEN];
        h[0] = if request_side { T_BODY } else { T_DATA };
        h[1..].copy_from_slice(&(len as u32).to_be_bytes());
        h
    }

    /// The frame's name, for log lines.
    pub fn name(&self) -> &'static str {
        match self {
            Frame::Request(_) => "Request",
            Frame::Body(_) => "Body",
            Frame::BodyEnd => "BodyEnd",
            Frame::WantBody(_) => "WantBody",
            Frame::Head { .. } => "Head",
            Frame::Data(_) => "Data",
            Frame::End => "End",
            Frame::Error { .. } => "Error",
            Frame::Retry => "Retry",
            Frame::Accepted => "Accepted",
            Frame::File { .. } => "File",
        }
    }

    /// Decodes one frame from the start of `buf`. `Ok(None)` means more
    /// bytes are needed; `Ok(Some((frame, used)))` consumed `used` bytes.
    pub fn decode(buf: &[u8]) -> Result<Option<(Frame, usize)>, DecodeError> {
        let Some((t, len)) = parse_header(buf)? else {
            return Ok(None);
        };
        if buf.len() < HEADER_LEN + len {
            return Ok(None);
        }
        let p = &buf[HEADER_LEN..HEADER_LEN + len];
        Ok(Some((Self::decode_payload(t, p)?, HEADER_LEN + len)))
    }

    /// Decodes a frame whose type and payload are already separated.
    pub fn decode_payload(t: u8, p: &[u8]) -> Result<Frame, DecodeError> {
        let mut r = Reader { b: p };
        let f = match t {
            T_REQUEST => Frame::Request(r.rest()),
            T_BODY => Frame::Body(r.rest()),
            T_BODY_END => Frame::BodyEnd,
            T_WANT_BODY => Frame::WantBody(r.u32()?),
            T_HEAD => {
                let status = r.u16()?;
                let status_line = r.bytes()?;
                let headers = r.head_fields()?;
                Frame::Head {
                    status,
                    status_line,
                    headers,
                }
            }
            T_DATA => Frame::Data(r.rest()),
            T_END => Frame::End,
            T_RETRY => Frame::Retry,
            T_ACCEPTED => Frame::Accepted,
            T_FILE => Frame::File {
                offset: r.u64()?,
                len: r.u64()?,
            },
            T_ERROR => {
                let status = r.u16()?;
                Frame::Error {
                    status,
                    message: r.rest(),
                }
            }
            other => return Err(DecodeError::UnknownType(other)),
        };
        if !r.b.is_empty() {
            return Err(DecodeError::Malformed("trailing bytes"));
        }
        Ok(f)
    }
}

/// Checks a Head's header count and each header's size (`sizes`).
fn head_bounds(count: usize, mut sizes: impl Iterator<Item = usize>) -> Result<(), DecodeError> {
    if count > MAX_HEAD_FIELDS {
        return Err(DecodeError::Malformed(
            "more response headers than a head may carry (1000)",
        ));
    }
    if sizes.any(|n| n > MAX_HEAD_FIELD) {
        return Err(DecodeError::Malformed("a response header over 64 KiB"));
    }
    Ok(())
}

/// Reads a frame header: (type, payload length), or None if incomplete.
pub fn parse_header(buf: &[u8]) -> Result<Option<(u8, usize)>, DecodeError> {
    if buf.len() < HEADER_LEN {
        return Ok(None);
    }
    let len = u32::from_be_bytes([buf[1], buf[2], buf[3], buf[4]]) as usize;
    if len > MAX_PAYLOAD {
        return Err(DecodeError::TooLarge(len));
    }
    Ok(Some((buf[0], len)))
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(&(b.len() as u32).to_be_bytes());
    out.extend_from_slice(b);
}

fn put_pairs(out: &mut Vec<u8>, pairs: &[(Vec<u8>, Vec<u8>)]) {
    out.extend_from_slice(&(pairs.len() as u32).to_be_bytes());
    for (k, v) in pairs {
        put_bytes(out, k);
        put_bytes(out, v);
    }
}

struct Reader<'a> {
    b: &'a [u8],
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], DecodeError> {
        if self.b.len() < n {
            return Err(DecodeError::Malformed("truncated payload"));
        }
        let (head, rest) = self.b.split_at(n);
        self.b = rest;
        Ok(head)
    }
    fn u16(&mut self) -> Result<u16, DecodeError> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }
    fn u32(&mut self) -> Result<u32, DecodeError> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn u64(&mut self) -> Result<u64, DecodeError> {
        let mut a = [0u8; 8];
        a.copy_from_slice(self.take(8)?);
        Ok(u64::from_be_bytes(a))
    }
    fn bytes(&mut self) -> Result<Vec<u8>, DecodeError> {
        let n = self.u32()? as usize;
        Ok(self.take(n)?.to_vec())
    }
    /// A Head's headers, within MAX_HEAD_FIELDS and MAX_HEAD_FIELD.
    fn head_fields(&mut self) -> Result<Pairs, DecodeError> {
        let n = self.u32()? as usize;
        // Each pair needs at least 8 bytes, which bounds a hostile count.
        if n > self.b.len() / 8 {
            return Err(DecodeError::Malformed("pair count exceeds payload"));
        }
        head_bounds(n, std::iter::empty())?;
        // Reserved in proportion to the bytes there, not to the count
        // (a pair is 48 bytes in memory but may be 8 on the wire).
        let mut out = Vec::with_capacity(n.min(self.b.len() / 64));
        for _ in 0..n {
            let (k, v) = (self.bytes()?, self.bytes()?);
            head_bounds(0, std::iter::once(k.len() + v.len()))?;
            out.push((k, v));
        }
        Ok(out)
    }
    fn rest(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.b).to_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(f: Frame) {
        let mut buf = Vec::new();
        f.encode(&mut buf).unwrap();
        let (back, used) = Frame::decode(&buf).unwrap().unwrap();
        assert_eq!(back, f);
        assert_eq!(used, buf.len());
        // Every strict prefix is "need more", never an error or a frame.
        for cut in 0..buf.len() {
            assert_eq!(
                Frame::decode(&buf[..cut]).unwrap(),
                None,
                "prefix {cut} of {f:?}"
            );
        }
    }

    #[test]
    fn every_frame_round_trips() {
        round_trip(Frame::Request(vec![PROTOCOL_VERSION, 1, 2, 3]));
        round_trip(Frame::Accepted);
        round_trip(Frame::Body(b"abc".to_vec()));
        round_trip(Frame::Body(vec![]));
        round_trip(Frame::BodyEnd);
        round_trip(Frame::WantBody(65536));
        round_trip(Frame::Head {
            status: 404,
            status_line: b"404 Not Found".to_vec(),
            headers: vec![(b"Content-Type".to_vec(), b"text/plain".to_vec())],
        });
        round_trip(Frame::Data(vec![7; 100_000]));
        round_trip(Frame::End);
        round_trip(Frame::Retry);
        round_trip(Frame::File {
            offset: 7,
            len: 1 << 40,
        });
        round_trip(Frame::Error {
            status: 500,
            message: b"boom".to_vec(),
        });
    }

    #[test]
    fn frames_follow_each_other_in_one_buffer() {
        let mut buf = Vec::new();
        Frame::WantBody(10).encode(&mut buf).unwrap();
        Frame::Data(b"xy".to_vec()).encode(&mut buf).unwrap();
        Frame::End.encode(&mut buf).unwrap();
        let (a, n1) = Frame::decode(&buf).unwrap().unwrap();
        let (b, n2) = Frame::decode(&buf[n1..]).unwrap().unwrap();
        let (c, _) = Frame::decode(&buf[n1 + n2..]).unwrap().unwrap();
        assert_eq!(
            (a, b, c),
            (Frame::WantBody(10), Frame::Data(b"xy".to_vec()), Frame::End)
        );
    }

    #[test]
    fn data_header_matches_encode() {
        let mut buf = Vec::new();
        Frame::Data(b"hello".to_vec()).encode(&mut buf).unwrap();
        assert_eq!(&buf[..HEADER_LEN], &Frame::data_header(5, false));
        buf.clear();
        Frame::Body(b"hello".to_vec()).encode(&mut buf).unwrap();
        assert_eq!(&buf[..HEADER_LEN], &Frame::data_header(5, true));
    }

    #[test]
    fn an_oversized_payload_is_refused_not_wrapped() {
        let mut buf = b"kept".to_vec();
        let big = Frame::Error {
            status: 500,
            message: vec![b'x'; MAX_PAYLOAD],
        };
        assert!(matches!(
            big.encode(&mut buf),
            Err(DecodeError::TooLarge(_))
        ));
        assert_eq!(buf, b"kept", "nothing half-written is left behind");
        // Exactly the limit still goes.
        let fits = Frame::Data(vec![0; MAX_PAYLOAD]);
        assert!(fits.encode(&mut buf).is_ok());
        assert_eq!(buf.len(), 4 + HEADER_LEN + MAX_PAYLOAD);
    }

    #[test]
    fn a_head_is_bounded_by_entries_not_only_bytes() {
        // A million empty headers fit in 8 MB on the wire, and would cost
        // ~100 MB decoded: refused before any is decoded.
        let mut p = 0u16.to_be_bytes().to_vec();
        p.extend_from_slice(&[0, 0, 0, 0]);
        p.extend_from_slice(&1_000_000u32.to_be_bytes());
        p.extend(std::iter::repeat_n(0u8, 8_000_000));
        let e = Frame::decode_payload(T_HEAD, &p).unwrap_err();
        assert!(e.to_string().contains("1000"), "{e}");
        // The bound itself is allowed; one header too large is not.
        let head = |headers: Pairs| Frame::Head {
            status: 200,
            status_line: b"200 OK".to_vec(),
            headers,
        };
        let many = head(vec![(b"X".to_vec(), Vec::new()); MAX_HEAD_FIELDS]);
        round_trip(many);
        let mut out = Vec::new();
        let more = head(vec![(b"X".to_vec(), Vec::new()); MAX_HEAD_FIELDS + 1]);
        assert!(more.encode(&mut out).is_err() && out.is_empty());
        let big = head(vec![(b"X".to_vec(), vec![b'v'; MAX_HEAD_FIELD])]);
        assert!(big.encode(&mut out).is_err());
        let mut wire = 0u16.to_be_bytes().to_vec();
        wire.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 1]);
        put_bytes(&mut wire, b"X");
        put_bytes(&mut wire, &vec![b'v'; MAX_HEAD_FIELD]);
        assert!(Frame::decode_payload(T_HEAD, &wire).is_err());
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        assert_eq!(
            Frame::decode(&[99, 0, 0, 0, 0]),
            Err(DecodeError::UnknownType(99))
        );
        assert!(matches!(
            Frame::decode(&[T_DATA, 0xff, 0xff, 0xff, 0xff]),
            Err(DecodeError::TooLarge(_))
        ));
        // A Head claiming a million headers in a tiny payload.
        let bad = [T_HEAD, 0, 0, 0, 10, 0, 200, 0, 0, 0, 0, 0, 0x0f, 0x42, 0x40];
        assert!(Frame::decode(&bad).is_err());
        // An End or Retry with a payload.
        assert!(Frame::decode(&[T_END, 0, 0, 0, 1, 0]).is_err());
        assert!(Frame::decode(&[T_ACCEPTED, 0, 0, 0, 1, 0]).is_err());
        // A WantBody with trailing garbage.
        assert!(Frame::decode(&[T_WANT_BODY, 0, 0, 0, 5, 0, 0, 0, 1, 9]).is_err());
        // A Head whose status line length runs past the payload.
        assert!(Frame::decode(&[T_HEAD, 0, 0, 0, 6, 0, 200, 0, 0, 0, 9]).is_err());
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        // A cheap deterministic fuzz pass (the cargo-fuzz target goes further).
        let mut x: u64 = 0x9e3779b97f4a7c15;
        for _ in 0..20_000 {
            let mut buf = Vec::new();
            let len = (x % 40) as usize;
            for _ in 0..len {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                buf.push((x & 0xff) as u8);
            }
            if !buf.is_empty() {
                buf[0] =
                    [T_REQUEST, T_HEAD, T_WANT_BODY, T_ERROR, T_DATA, T_FILE][(x % 6) as usize];
            }
            let _ = Frame::decode(&buf);
        }
    }
}
