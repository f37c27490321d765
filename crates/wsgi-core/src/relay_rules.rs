//! What an Apache child does with each frame a daemon sends, as a pure
//! state machine (the relay performs the steps; the fuzz target drives it
//! with hostile frames). A daemon runs application code, so nothing it
//! says is taken on trust: frames out of order, a bad head, an error
//! status that is not an error, body past its Content-Length and a file
//! range past the file's end are all caught here.

use crate::body_length::body_expected;
use crate::protocol::Frame;
use crate::response::{check_daemon_head, daemon_error_status};

/// What to do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// The daemon took the request: it is never sent again.
    Accepted,
    /// The daemon did not take it (Retry before Accepted): send it again.
    NotTaken,
    /// Read up to n body bytes from the client and send them.
    WantBody(u32),
    /// Hand the (checked) head to Apache.
    Head {
        status: u16,
        status_line: Vec<u8>,
        headers: Vec<(Vec<u8>, Vec<u8>)>,
    },
    /// Send `len` bytes of the passed file from `offset` (clamped).
    File { offset: u64, len: u64 },
    /// The response is complete; `short`: shorter than its Content-Length
    /// (the client's connection must close).
    End { short: bool },
    /// Answer with this status before any head (an Error frame).
    Status { status: u16, message: Vec<u8> },
    /// The daemon broke a rule: 502, or a cut response once the head went.
    Refuse(String),
}

/// The relay's view of one exchange.
#[derive(Debug, Default, Clone)]
pub struct ResponseRules {
    accepted: bool,
    head_sent: bool,
    declared: Option<u64>,
    written: u64,
    over: bool,
    /// The request was HEAD (Apache's header_only).
    head_request: bool,
    /// The response carries no body (HEAD, 204, 304): its Content-Length
    /// describes what a GET would have had.
    bodiless: bool,
}

impl ResponseRules {
    /// The rules for the answer to a request (`head_request`: a HEAD).
    pub fn for_request(head_request: bool) -> ResponseRules {
        ResponseRules {
            head_request,
            ..ResponseRules::default()
        }
    }

    pub fn accepted(&self) -> bool {
        self.accepted
    }

    pub fn head_sent(&self) -> bool {
        self.head_sent
    }

    pub fn declared(&self) -> Option<u64> {
        self.declared
    }

    /// Whether the exchange is over (End, Error, a refusal).
    pub fn is_over(&self) -> bool {
        self.over
    }

    /// Whether the body, `more` bytes on, is still short of Content-Length.
    pub fn short_of_declared(&self, more: u64) -> bool {
        !self.bodiless && matches!(self.declared, Some(cl) if self.written + more < cl)
    }

    /// Body bytes: how many of `n` may go to the client (the rest would
    /// pass the declared Content-Length), counted as written.
    pub fn body(&mut self, n: u64) -> u64 {
        if !self.head_sent || self.over {
            return 0;
        }
        let fits = match self.declared {
            Some(cl) => n.min(cl.saturating_sub(self.written)),
            None => n,
        };
        self.written += fits;
        fits
    }

    /// A File frame whose descriptor is a regular file of `size` bytes
    /// (None: not a regular file, or none came).
    pub fn file(&mut self, offset: u64, len: u64, size: Option<u64>) -> Step {
        if !self.head_sent || self.over {
            return self.refuse("a File frame outside a response body");
        }
        let Some(size) = size else {
            return self.refuse("a File frame without a regular file");
        };
        let offset = offset.min(size);
        let len = self.body(len.min(size - offset));
        Step::File { offset, len }
    }

    fn refuse(&mut self, why: &str) -> Step {
        self.over = true;
        Step::Refuse(why.to_string())
    }

    /// Any frame but Data and File (Data goes through `body`, File
    /// through `file` once its descriptor is checked).
    pub fn on_frame(&mut self, frame: Frame) -> Step {
        if self.over {
            return self.refuse("a frame after the end of the exchange");
        }
        match frame {
            Frame::Accepted if !self.accepted => {
                self.accepted = true;
                Step::Accepted
            }
            Frame::Retry if !self.accepted => {
                self.over = true;
                Step::NotTaken
            }
            Frame::Error { status, message } if !self.head_sent => {
                self.over = true;
                Step::Status {
                    status: daemon_error_status(status),
                    message,
                }
            }
            Frame::WantBody(n) if self.accepted => Step::WantBody(n),
            Frame::Head {
                status,
                status_line,
                headers,
            } if self.accepted && !self.head_sent => {
                match check_daemon_head(status, &status_line, &headers) {
                    Ok(length) => {
                        self.declared = length;
                        self.head_sent = true;
                        self.bodiless = !body_expected(self.head_request, status);
                        Step::Head {
                            status,
                            status_line,
                            headers,
                        }
                    }
                    Err(e) => self.refuse(&format!("refused its response head: {}", e)),
                }
            }
            Frame::End if self.head_sent => {
                self.over = true;
                Step::End {
                    short: self.short_of_declared(0),
                }
            }
            other => {
                let what = format!("unexpected frame {}", other.name());
                self.refuse(&what)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(cl: Option<&str>) -> Frame {
        Frame::Head {
            status: 200,
            status_line: b"200 OK".to_vec(),
            headers: cl
                .map(|v| vec![(b"Content-Length".to_vec(), v.as_bytes().to_vec())])
                .unwrap_or_default(),
        }
    }

    #[test]
    fn a_normal_exchange() {
        let mut r = ResponseRules::default();
        assert_eq!(r.on_frame(Frame::Accepted), Step::Accepted);
        assert_eq!(r.on_frame(Frame::WantBody(10)), Step::WantBody(10));
        assert!(matches!(r.on_frame(head(Some("5"))), Step::Head { .. }));
        assert_eq!(r.body(3), 3);
        assert_eq!(r.body(10), 2, "cut at Content-Length");
        assert_eq!(r.body(1), 0);
        assert_eq!(r.on_frame(Frame::End), Step::End { short: false });
        assert!(r.is_over());
        assert!(matches!(r.on_frame(Frame::End), Step::Refuse(_)));
    }

    #[test]
    fn a_head_answer_or_304_with_a_length_and_no_body_is_whole() {
        for (head_request, status) in [(true, 200), (false, 304), (false, 204)] {
            let mut r = ResponseRules::for_request(head_request);
            r.on_frame(Frame::Accepted);
            let mut h = head(Some("1234"));
            if let Frame::Head {
                status: s,
                status_line,
                ..
            } = &mut h
            {
                *s = status;
                *status_line = format!("{status} X").into_bytes();
            }
            assert!(matches!(r.on_frame(h), Step::Head { .. }));
            assert!(!r.short_of_declared(0));
            assert_eq!(r.on_frame(Frame::End), Step::End { short: false });
        }
        // A GET's 200 that stops early is short.
        let mut r = ResponseRules::for_request(false);
        r.on_frame(Frame::Accepted);
        r.on_frame(head(Some("1234")));
        assert_eq!(r.on_frame(Frame::End), Step::End { short: true });
    }

    #[test]
    fn nothing_happens_out_of_order() {
        // No head, body or body request before Accepted.
        let mut r = ResponseRules::default();
        assert!(matches!(r.on_frame(head(None)), Step::Refuse(_)));
        let mut r = ResponseRules::default();
        assert!(matches!(r.on_frame(Frame::WantBody(1)), Step::Refuse(_)));
        let mut r = ResponseRules::default();
        assert_eq!(r.body(5), 0);
        // Retry only before Accepted; a second Accepted is a lie.
        let mut r = ResponseRules::default();
        r.on_frame(Frame::Accepted);
        assert!(matches!(r.on_frame(Frame::Retry), Step::Refuse(_)));
        let mut r = ResponseRules::default();
        r.on_frame(Frame::Accepted);
        assert!(matches!(r.on_frame(Frame::Accepted), Step::Refuse(_)));
        // Not taken: may be sent again.
        let mut r = ResponseRules::default();
        assert_eq!(r.on_frame(Frame::Retry), Step::NotTaken);
    }

    #[test]
    fn errors_are_errors_and_files_are_clamped() {
        let mut r = ResponseRules::default();
        r.on_frame(Frame::Accepted);
        let s = r.on_frame(Frame::Error {
            status: 200,
            message: vec![],
        });
        assert!(matches!(s, Step::Status { status: 502, .. }));
        let mut r = ResponseRules::default();
        r.on_frame(Frame::Accepted);
        r.on_frame(head(Some("100")));
        assert_eq!(
            r.file(50, 1 << 40, Some(80)),
            Step::File {
                offset: 50,
                len: 30
            }
        );
        assert_eq!(
            r.file(1 << 40, 5, Some(80)),
            Step::File { offset: 80, len: 0 }
        );
        assert_eq!(r.on_frame(Frame::End), Step::End { short: true });
        let mut r = ResponseRules::default();
        r.on_frame(Frame::Accepted);
        r.on_frame(head(None));
        assert!(matches!(r.file(0, 1, None), Step::Refuse(_)));
    }
}
