//! The Apache child's decision when a daemon did not take a request: a
//! request is sent again only when the daemon provably did not start it
//! (it said Retry, or closed before Accepted), whatever the method; then
//! it goes to a fresh connection, to the newer generation's socket when
//! there is one, and not forever.

/// What to do after a daemon turned a request away.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Retry {
    /// Too many turns: answer 503.
    GiveUp,
    /// Send it again on a fresh connection.
    Resend {
        /// To the newer generation's socket (it exists).
        to_newer: bool,
        /// Wait a moment first: a fresh connection was turned away, so the
        /// group is restarting and its replacement needs a little time.
        pause: bool,
    },
}

/// `restarts`: how many times the request was turned away, this one
/// included; `newer`: a newer generation's socket exists; `reused`: the
/// connection that turned it away was a kept one (a stale kept connection
/// says nothing about the group, so no pause).
pub fn after_not_taken(restarts: u32, max: u32, newer: bool, reused: bool) -> Retry {
    if restarts > max {
        return Retry::GiveUp;
    }
    Retry::Resend {
        to_newer: newer,
        pause: !newer && !reused,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_is_resent_until_the_limit() {
        for n in 1..=3 {
            assert!(matches!(
                after_not_taken(n, 3, false, false),
                Retry::Resend { .. }
            ));
        }
        assert_eq!(after_not_taken(4, 3, false, false), Retry::GiveUp);
        assert_eq!(after_not_taken(4, 3, true, true), Retry::GiveUp);
    }

    #[test]
    fn the_newer_generation_is_preferred_and_waits_only_for_a_restarting_group() {
        assert_eq!(
            after_not_taken(1, 3, true, false),
            Retry::Resend {
                to_newer: true,
                pause: false
            }
        );
        assert_eq!(
            after_not_taken(1, 3, false, true),
            Retry::Resend {
                to_newer: false,
                pause: false
            }
        );
        assert_eq!(
            after_not_taken(1, 3, false, false),
            Retry::Resend {
                to_newer: false,
                pause: true
            }
        );
    }
}
