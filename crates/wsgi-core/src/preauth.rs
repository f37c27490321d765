//! A daemon's first look at a new connection, before it costs anything:
//! the first bytes of every `Request` frame are its header, the protocol
//! version and the group's secret, at fixed places. The daemon reads just
//! these into a fixed buffer, without a worker thread, and judges them
//! here; only an authentic prefix makes the connection a request.
//!
//! ```text
//! u8 type (1) | u32 length | u8 version | 32 bytes secret | ...
//! ```

use crate::protocol::{parse_header, DecodeError, HEADER_LEN, PROTOCOL_VERSION, T_REQUEST};
use crate::route::{same_token, TOKEN_LEN};

/// The bytes judged before a connection counts as a request.
pub const PREFIX_LEN: usize = HEADER_LEN + 1 + TOKEN_LEN;

/// What the bytes received so far say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Nothing wrong yet; more bytes are needed.
    Incomplete,
    /// A Request frame of our version with this group's secret.
    Authentic,
    /// A Request frame of another protocol version (an Apache child of
    /// another build): it is told so, as an error.
    OtherVersion(u8),
    /// Not a Request frame of a plausible size.
    NotARequest(&'static str),
    /// A Request frame without this group's secret.
    WrongSecret,
}

impl Verdict {
    /// The class of a refusal, for the daemon's log line.
    pub fn why(&self) -> String {
        match self {
            Verdict::OtherVersion(v) => DecodeError::Version(*v).to_string(),
            Verdict::NotARequest(what) => format!("a connection that sent {what}"),
            Verdict::WrongSecret => {
                "a request without this group's secret (not from an Apache child of this server)"
                    .into()
            }
            Verdict::Incomplete | Verdict::Authentic => String::new(),
        }
    }
}

/// Judges `got`, the first bytes of a connection (at most `PREFIX_LEN`
/// are looked at), against the group's secret (None: the daemon holds
/// none, so nothing is authentic). Decides as early as the bytes allow.
pub fn judge(got: &[u8], secret: Option<&[u8]>) -> Verdict {
    let got = &got[..got.len().min(PREFIX_LEN)];
    if got.first().is_some_and(|t| *t != T_REQUEST) {
        return Verdict::NotARequest("something other than a request frame");
    }
    match parse_header(got) {
        Err(_) => return Verdict::NotARequest("a frame over the size limit"),
        Ok(Some((_, 0))) => return Verdict::NotARequest("an empty request frame"),
        _ => {}
    }
    let Some(&version) = got.get(HEADER_LEN) else {
        return Verdict::Incomplete;
    };
    if version != PROTOCOL_VERSION {
        return Verdict::OtherVersion(version);
    }
    if got.len() < PREFIX_LEN {
        return Verdict::Incomplete;
    }
    let len = u32::from_be_bytes([got[1], got[2], got[3], got[4]]) as usize;
    if len < 1 + TOKEN_LEN {
        return Verdict::NotARequest("a request frame too short to hold a secret");
    }
    match secret {
        Some(s) if same_token(&got[HEADER_LEN + 1..PREFIX_LEN], s) => Verdict::Authentic,
        _ => Verdict::WrongSecret,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::MAX_PAYLOAD;

    fn prefix(kind: u8, len: u32, version: u8, secret: &[u8; 32]) -> Vec<u8> {
        let mut v = vec![kind];
        v.extend_from_slice(&len.to_be_bytes());
        v.push(version);
        v.extend_from_slice(secret);
        v
    }

    #[test]
    fn an_authentic_prefix_is_authentic_only_when_whole() {
        let p = prefix(T_REQUEST, 200, PROTOCOL_VERSION, &[7; 32]);
        for cut in 0..PREFIX_LEN {
            assert_eq!(
                judge(&p[..cut], Some(&[7; 32])),
                Verdict::Incomplete,
                "cut {cut}"
            );
        }
        assert_eq!(judge(&p, Some(&[7; 32])), Verdict::Authentic);
        // Bytes past the prefix are not looked at.
        let mut longer = p.clone();
        longer.extend_from_slice(b"anything");
        assert_eq!(judge(&longer, Some(&[7; 32])), Verdict::Authentic);
    }

    #[test]
    fn a_wrong_secret_or_no_secret_is_refused() {
        let p = prefix(T_REQUEST, 200, PROTOCOL_VERSION, &[7; 32]);
        let mut other = [7u8; 32];
        other[31] = 8;
        assert_eq!(judge(&p, Some(&other)), Verdict::WrongSecret);
        assert_eq!(judge(&p, None), Verdict::WrongSecret);
    }

    #[test]
    fn hostile_first_bytes_are_refused_at_once() {
        let s = Some(&[7u8; 32][..]);
        assert!(matches!(judge(b"G", s), Verdict::NotARequest(_)));
        assert!(matches!(
            judge(&[T_REQUEST, 0, 0, 0, 0], s),
            Verdict::NotARequest(_)
        ));
        let huge = ((MAX_PAYLOAD + 1) as u32).to_be_bytes();
        let mut h = vec![T_REQUEST];
        h.extend_from_slice(&huge);
        assert!(matches!(judge(&h, s), Verdict::NotARequest(_)));
        let short = prefix(T_REQUEST, 20, PROTOCOL_VERSION, &[7; 32]);
        assert!(matches!(judge(&short, s), Verdict::NotARequest(_)));
    }

    #[test]
    fn another_version_is_named_as_soon_as_its_byte_arrives() {
        let v1 = [T_REQUEST, 0, 0, 0, 9, 1];
        assert_eq!(judge(&v1, Some(&[7; 32])), Verdict::OtherVersion(1));
        assert!(Verdict::OtherVersion(1).why().contains("version 1"));
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        let mut x = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let n = (x % 48) as usize;
            let bytes: Vec<u8> = (0..n).map(|i| (x >> (i % 8 * 8)) as u8).collect();
            let _ = judge(&bytes, Some(&[1; 32]));
        }
    }
}
