//! The typed part of a `Request` frame: the group's secret and the Apache
//! child's routing decisions (which script, callable and application group
//! run, and how). They travel as fields of their own, never as environ
//! entries, so nothing a client or a `SetEnv` puts into the environ can
//! change where a request runs, and applications never see them.
//!
//! ```text
//! u8 version | 32 bytes token | Route | u32 count, pairs (the environ)
//! ```

use crate::protocol::DecodeError;

/// Bytes in a group's secret.
pub const TOKEN_LEN: usize = 32;

/// Bits of `Route::flags`.
pub const RELOAD: u8 = 1;
pub const SENDFILE: u8 = 2;
pub const HTTPS: u8 = 4;
/// The body follows the Request frame unasked (a small one).
pub const EAGER_BODY: u8 = 8;
/// `WSGIIgnoreActivity On`: the request does not count as activity for
/// the daemon's inactivity-timeout.
pub const IGNORE_ACTIVITY: u8 = 16;

/// What the Apache child decided about a request, borrowed from wherever
/// it lives (the handler's strings in the child, the payload in the daemon).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Route<'a> {
    pub script: &'a [u8],
    /// The script's modification time as Apache saw it (ns since the epoch).
    pub script_mtime_ns: i64,
    pub callable: &'a [u8],
    pub application_group: &'a [u8],
    /// The request's virtual host (for the daemon's log lines).
    pub vhost: &'a [u8],
    /// Apache's request log id.
    pub request_id: &'a [u8],
    pub flags: u8,
    /// The Apache child that took the request.
    pub server_pid: u32,
    /// When Apache read the request line (µs since the epoch).
    pub request_start_us: u64,
    /// When the child began relaying it (µs since the epoch).
    pub queue_start_us: u64,
    /// New connections this request took, and times it was sent again.
    pub connects: u32,
    pub restarts: u32,
}

impl Route<'_> {
    pub fn has(&self, flag: u8) -> bool {
        self.flags & flag != 0
    }

    /// Appends the encoded route to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        put_bytes(out, self.script);
        out.extend_from_slice(&self.script_mtime_ns.to_be_bytes());
        put_bytes(out, self.callable);
        put_bytes(out, self.application_group);
        put_bytes(out, self.vhost);
        put_bytes(out, self.request_id);
        out.push(self.flags);
        out.extend_from_slice(&self.server_pid.to_be_bytes());
        out.extend_from_slice(&self.request_start_us.to_be_bytes());
        out.extend_from_slice(&self.queue_start_us.to_be_bytes());
        out.extend_from_slice(&self.connects.to_be_bytes());
        out.extend_from_slice(&self.restarts.to_be_bytes());
    }

    /// An upper bound of what `encode` appends.
    pub fn encoded_len(&self) -> usize {
        4 * 5
            + self.script.len()
            + self.callable.len()
            + self.application_group.len()
            + self.vhost.len()
            + self.request_id.len()
            + 8
            + 1
            + 4
            + 8
            + 8
            + 4
            + 4
    }
}

/// The start of a Request payload: version, token, route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHead<'a> {
    pub version: u8,
    pub token: &'a [u8],
    pub route: Route<'a>,
}

/// Reads a payload's fields in order, borrowing it.
pub struct Cursor<'a>(pub &'a [u8]);

impl<'a> Cursor<'a> {
    pub fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.0.len() < n {
            return Err(DecodeError::Malformed("truncated payload"));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    pub fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }

    pub fn u32(&mut self) -> Result<u32, DecodeError> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub fn u64(&mut self) -> Result<u64, DecodeError> {
        let mut a = [0u8; 8];
        a.copy_from_slice(self.take(8)?);
        Ok(u64::from_be_bytes(a))
    }

    /// A length-prefixed byte string.
    pub fn bytes(&mut self) -> Result<&'a [u8], DecodeError> {
        let n = self.u32()? as usize;
        self.take(n)
    }

    pub fn route(&mut self) -> Result<Route<'a>, DecodeError> {
        Ok(Route {
            script: self.bytes()?,
            script_mtime_ns: self.u64()? as i64,
            callable: self.bytes()?,
            application_group: self.bytes()?,
            vhost: self.bytes()?,
            request_id: self.bytes()?,
            flags: self.u8()?,
            server_pid: self.u32()?,
            request_start_us: self.u64()?,
            queue_start_us: self.u64()?,
            connects: self.u32()?,
            restarts: self.u32()?,
        })
    }
}

pub fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(&(b.len() as u32).to_be_bytes());
    out.extend_from_slice(b);
}

/// Compares two secrets in time that does not depend on where they differ.
pub fn same_token(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    pub fn sample() -> Route<'static> {
        Route {
            script: b"/srv/app.wsgi",
            script_mtime_ns: -5,
            callable: b"application",
            application_group: b"host|/app",
            vhost: b"main",
            request_id: b"abc",
            flags: RELOAD | EAGER_BODY,
            server_pid: 77,
            request_start_us: 1,
            queue_start_us: u64::MAX,
            connects: 1,
            restarts: 2,
        }
    }

    #[test]
    fn a_route_reads_back_as_written() {
        let r = sample();
        let mut out = Vec::new();
        r.encode(&mut out);
        assert!(out.len() <= r.encoded_len());
        let mut c = Cursor(&out);
        assert_eq!(c.route().unwrap(), r);
        assert!(c.0.is_empty());
        for cut in 0..out.len() {
            assert!(Cursor(&out[..cut]).route().is_err(), "cut {cut}");
        }
        assert!(r.has(RELOAD) && r.has(EAGER_BODY) && !r.has(HTTPS));
    }

    #[test]
    fn tokens_compare_whole() {
        assert!(same_token(&[1; 32], &[1; 32]));
        let mut other = [1u8; 32];
        other[31] = 2;
        assert!(!same_token(&[1; 32], &other));
        assert!(!same_token(&[1; 32], &[1; 31]));
        assert!(!same_token(&[], &[1; 32]));
    }
}
