//! Content-Length accounting for a response an application writes: how
//! much of each piece may go out, and whether the response ended short.
//! Used by the Python host in both modes (the Apache child checks a
//! daemon's frames again with `relay_rules`).

/// Whether a response may carry a body at all: not to a HEAD request, not
/// with 1xx, 204 or 304. A Content-Length on those describes the body a
/// GET would have had (Werkzeug answers HEAD so); no body is not short.
pub fn body_expected(head_request: bool, status: u16) -> bool {
    !(head_request || status == 204 || status == 304 || (100..200).contains(&status))
}

/// What the application declared and what went out so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BodyLength {
    declared: Option<u64>,
    written: u64,
    truncated: bool,
}

/// What `admit` decided for one piece.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Admit {
    /// How many of the piece's bytes may go out.
    pub allowed: u64,
    /// This piece is the first to pass the declared length (log it once).
    pub first_overrun: bool,
}

impl BodyLength {
    /// A response with `declared` bytes (None: no Content-Length).
    pub fn new(declared: Option<u64>) -> BodyLength {
        BodyLength {
            declared,
            ..BodyLength::default()
        }
    }

    pub fn declared(&self) -> Option<u64> {
        self.declared
    }

    pub fn written(&self) -> u64 {
        self.written
    }

    /// The part of a `len`-byte piece that still fits the declared length,
    /// counted as written.
    pub fn admit(&mut self, len: u64) -> Admit {
        let allowed = match self.declared {
            Some(cl) if len > cl.saturating_sub(self.written) => cl.saturating_sub(self.written),
            _ => len,
        };
        let first_overrun = allowed < len && !self.truncated;
        self.truncated |= allowed < len;
        self.written = self.written.saturating_add(allowed);
        Admit {
            allowed,
            first_overrun,
        }
    }

    /// Whether the response would end short if it ended after `more` bytes
    /// still to be admitted: fewer bytes than declared.
    pub fn short_after(&self, more: u64) -> bool {
        matches!(self.declared, Some(cl) if self.written.saturating_add(more) < cl)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn head_204_and_304_carry_no_body() {
        assert!(body_expected(false, 200));
        assert!(body_expected(false, 404));
        assert!(!body_expected(true, 200));
        assert!(!body_expected(false, 304));
        assert!(!body_expected(false, 204));
    }

    #[test]
    fn without_a_declared_length_everything_goes() {
        let mut b = BodyLength::new(None);
        assert_eq!(b.admit(10).allowed, 10);
        assert_eq!(b.admit(u64::MAX - 10).allowed, u64::MAX - 10);
        assert!(!b.short_after(0));
    }

    #[test]
    fn pieces_are_cut_at_the_declared_length_and_the_overrun_is_reported_once() {
        let mut b = BodyLength::new(Some(5));
        assert_eq!(
            b.admit(3),
            Admit {
                allowed: 3,
                first_overrun: false
            }
        );
        assert_eq!(
            b.admit(4),
            Admit {
                allowed: 2,
                first_overrun: true
            }
        );
        assert_eq!(
            b.admit(4),
            Admit {
                allowed: 0,
                first_overrun: false
            }
        );
        assert_eq!(b.written(), 5);
        assert!(!b.short_after(0));
    }

    #[test]
    fn a_response_that_stops_early_is_short() {
        let mut b = BodyLength::new(Some(10));
        b.admit(4);
        assert!(b.short_after(0));
        assert!(b.short_after(5));
        assert!(!b.short_after(6));
        let mut z = BodyLength::new(Some(0));
        assert!(!z.short_after(0));
        assert_eq!(z.admit(1).allowed, 0);
    }

    #[test]
    fn huge_lengths_do_not_overflow() {
        let mut b = BodyLength::new(Some(u64::MAX));
        b.admit(u64::MAX - 1);
        assert_eq!(b.admit(10).allowed, 1);
        assert!(!b.short_after(u64::MAX));
    }
}
