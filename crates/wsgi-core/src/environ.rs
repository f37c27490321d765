//! A request's environ as name/value byte strings that borrow wherever they
//! can: from Apache's request pool in the Apache child, from the received
//! Request frame in a daemon. Building, sending and reading one then costs
//! a few allocations per request instead of two per entry.

use crate::protocol::{DecodeError, HEADER_LEN, MAX_PAYLOAD, PROTOCOL_VERSION, T_REQUEST};
use crate::route::{put_bytes, Cursor, RequestHead, TOKEN_LEN};
use std::borrow::Cow;

/// One name and its value, each borrowed or owned.
type Entry<'a> = (Cow<'a, [u8]>, Cow<'a, [u8]>);

/// Name/value pairs in order; a later entry with the same name wins.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Environ<'a> {
    pairs: Vec<Entry<'a>>,
}

impl<'a> Environ<'a> {
    pub fn with_capacity(n: usize) -> Environ<'a> {
        Environ {
            pairs: Vec::with_capacity(n),
        }
    }

    pub fn len(&self) -> usize {
        self.pairs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    /// Appends an entry (borrowed `&[u8]` or owned `Vec<u8>`).
    pub fn push(&mut self, name: impl Into<Cow<'a, [u8]>>, value: impl Into<Cow<'a, [u8]>>) {
        self.pairs.push((name.into(), value.into()));
    }

    /// Replaces the first entry called `name`, or appends one.
    pub fn set(&mut self, name: &'a [u8], value: impl Into<Cow<'a, [u8]>>) {
        match self.pairs.iter_mut().find(|(k, _)| k.as_ref() == name) {
            Some(e) => e.1 = value.into(),
            None => self.pairs.push((Cow::Borrowed(name), value.into())),
        }
    }

    /// Removes every entry called `name`.
    pub fn remove(&mut self, name: &[u8]) {
        self.pairs.retain(|(k, _)| k.as_ref() != name);
    }

    /// Keeps the entries `keep` says yes to (name, value), in order.
    pub fn retain(&mut self, mut keep: impl FnMut(&[u8], &[u8]) -> bool) {
        self.pairs.retain(|(k, v)| keep(k, v));
    }

    /// Replaces the value of entry `i` (as `len()` was when it was pushed).
    pub fn set_at(&mut self, i: usize, value: impl Into<Cow<'a, [u8]>>) {
        self.pairs[i].1 = value.into();
    }

    /// The value of `name` (the last entry wins, as in a dict built in order).
    pub fn get(&self, name: &[u8]) -> Option<&[u8]> {
        self.pairs
            .iter()
            .rev()
            .find(|(k, _)| k.as_ref() == name)
            .map(|(_, v)| v.as_ref())
    }

    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.pairs.iter().map(|(k, v)| (k.as_ref(), v.as_ref()))
    }

    /// Appends a whole Request frame (see `protocol::Frame::Request` and
    /// `route`): version, token, route, then this environ. One over the
    /// frame limit is refused (`out` left as it was): no daemon would take
    /// it, and sending it again would not help.
    pub fn encode_request(&self, head: &RequestHead, out: &mut Vec<u8>) -> Result<(), DecodeError> {
        let size: usize = self.pairs.iter().map(|(k, v)| 8 + k.len() + v.len()).sum();
        let bound = 5 + head.token.len() + head.route.encoded_len() + size;
        if bound > MAX_PAYLOAD {
            return Err(DecodeError::TooLarge(bound));
        }
        out.reserve(HEADER_LEN + bound);
        let start = out.len();
        out.extend_from_slice(&[0; HEADER_LEN]);
        out.push(head.version);
        out.extend_from_slice(head.token);
        head.route.encode(out);
        out.extend_from_slice(&(self.pairs.len() as u32).to_be_bytes());
        for (k, v) in &self.pairs {
            put_bytes(out, k);
            put_bytes(out, v);
        }
        let len = (out.len() - start - HEADER_LEN) as u32;
        out[start] = T_REQUEST;
        out[start + 1..start + HEADER_LEN].copy_from_slice(&len.to_be_bytes());
        Ok(())
    }

    /// Reads a Request frame's payload: its head and the environ, both
    /// borrowing it. A version other than ours is `Version(v)`, reported
    /// before anything else is read (its layout may differ).
    pub fn decode_request(
        payload: &'a [u8],
    ) -> Result<(RequestHead<'a>, Environ<'a>), DecodeError> {
        let mut c = Cursor(payload);
        let version = c.u8()?;
        if version != PROTOCOL_VERSION {
            return Err(DecodeError::Version(version));
        }
        let token = c.take(TOKEN_LEN)?;
        let route = c.route()?;
        let count = c.u32()? as usize;
        // Each pair needs at least 8 bytes, which bounds a hostile count.
        if count > c.0.len() / 8 {
            return Err(DecodeError::Malformed("pair count exceeds payload"));
        }
        let mut env = Environ::with_capacity(count + 8);
        for _ in 0..count {
            let k = c.bytes()?;
            let v = c.bytes()?;
            env.push(k, v);
        }
        if !c.0.is_empty() {
            return Err(DecodeError::Malformed("trailing bytes"));
        }
        let head = RequestHead {
            version,
            token,
            route,
        };
        Ok((head, env))
    }

    /// Drops every entry whose name starts with `prefix` (names private to
    /// this module, which no client or `SetEnv` may supply).
    pub fn remove_prefixed(&mut self, prefix: &[u8]) {
        self.pairs.retain(|(k, _)| !k.starts_with(prefix));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::route::Route;

    fn sample() -> Environ<'static> {
        let mut e = Environ::with_capacity(4);
        e.push(&b"PATH_INFO"[..], &b"/x"[..]);
        e.push(&b"EMPTY"[..], Vec::new());
        e.push(
            b"mod_wsgi.request_start".to_vec(),
            b"1700000000000000".to_vec(),
        );
        e
    }

    fn head() -> RequestHead<'static> {
        RequestHead {
            version: PROTOCOL_VERSION,
            token: &[9; TOKEN_LEN],
            route: Route {
                script: b"/srv/a.wsgi",
                callable: b"app",
                flags: crate::route::HTTPS,
                ..Default::default()
            },
        }
    }

    #[test]
    fn decodes_what_it_encodes_borrowing_the_payload() {
        let e = sample();
        let mut buf = Vec::new();
        e.encode_request(&head(), &mut buf).unwrap();
        let (h, back) = Environ::decode_request(&buf[HEADER_LEN..]).unwrap();
        assert_eq!(h, head());
        assert_eq!(back, e);
        assert!(back
            .iter()
            .all(|(k, _)| buf.as_ptr_range().contains(&k.as_ptr())));
        let (frame, used) = crate::protocol::Frame::decode(&buf).unwrap().unwrap();
        assert_eq!(used, buf.len());
        assert_eq!(
            frame,
            crate::protocol::Frame::Request(buf[HEADER_LEN..].to_vec())
        );
    }

    #[test]
    fn an_environ_over_the_frame_limit_is_refused_not_sent() {
        let mut e = sample();
        e.push(&b"HTTP_X_BIG"[..], vec![b'x'; MAX_PAYLOAD]);
        let mut buf = b"kept".to_vec();
        assert!(matches!(
            e.encode_request(&head(), &mut buf),
            Err(DecodeError::TooLarge(_))
        ));
        assert_eq!(buf, b"kept");
    }

    #[test]
    fn another_version_is_named_before_anything_else_is_read() {
        assert_eq!(
            Environ::decode_request(&[1, 0, 0]),
            Err(DecodeError::Version(1))
        );
    }

    #[test]
    fn rejects_truncated_trailing_and_hostile_payloads() {
        let mut buf = Vec::new();
        sample().encode_request(&head(), &mut buf).unwrap();
        let p = &buf[HEADER_LEN..];
        for cut in 0..p.len() {
            assert!(Environ::decode_request(&p[..cut]).is_err(), "cut {cut}");
        }
        let mut extra = p.to_vec();
        extra.push(0);
        assert_eq!(
            Environ::decode_request(&extra),
            Err(DecodeError::Malformed("trailing bytes"))
        );
        // A hostile pair count right after a valid head.
        let mut hostile = Vec::new();
        Environ::default()
            .encode_request(&head(), &mut hostile)
            .unwrap();
        let n = hostile.len();
        hostile[n - 4..].copy_from_slice(&[0xff; 4]);
        assert_eq!(
            Environ::decode_request(&hostile[HEADER_LEN..]),
            Err(DecodeError::Malformed("pair count exceeds payload"))
        );
    }

    #[test]
    fn private_names_can_be_dropped() {
        let mut e = sample();
        e.push(&b"mod_wsgi.rs.script"[..], &b"/evil"[..]);
        e.remove_prefixed(b"mod_wsgi.rs.");
        assert_eq!(e, sample());
    }

    #[test]
    fn get_and_set_follow_dict_order() {
        let mut e = sample();
        e.push(&b"PATH_INFO"[..], &b"/later"[..]);
        assert_eq!(e.get(b"PATH_INFO"), Some(&b"/later"[..]));
        e.set(b"EMPTY", b"now".to_vec());
        assert_eq!(e.get(b"EMPTY"), Some(&b"now"[..]));
        e.set(b"NEW", &b"1"[..]);
        assert_eq!(e.len(), 5);
        e.set_at(0, &b"/first"[..]);
        assert_eq!(e.iter().next(), Some((&b"PATH_INFO"[..], &b"/first"[..])));
        assert_eq!(e.get(b"MISSING"), None);
    }
}
