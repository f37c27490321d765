//! The Apache child's handling of daemon frames (`wsgi_core::relay_rules`,
//! the logic the relay runs for each frame), driven by hostile frames: a
//! daemon can never get body bytes past its Content-Length, a head before
//! Accepted or twice, a non-error status out of an Error frame, a file
//! range past the file's end, or anything at all after the exchange ended.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wsgi_core::protocol::Frame;
use wsgi_core::relay_rules::{ResponseRules, Step};

fuzz_target!(|data: &[u8]| {
    let mut rules = ResponseRules::default();
    let mut rest = data;
    let (mut body, mut heads) = (0u64, 0);
    while let Ok(Some((frame, used))) = Frame::decode(rest) {
        rest = &rest[used..];
        let was_over = rules.is_over();
        let was_accepted = rules.accepted();
        let step = match frame {
            Frame::Data(d) => {
                let n = rules.body(d.len() as u64);
                assert!(n <= d.len() as u64);
                body += n;
                continue;
            }
            Frame::File { offset, len } => {
                // The "file size" comes from the input too.
                let size = rest.first().map(|b| (*b as u64) << 4);
                rules.file(offset, len, size)
            }
            other => rules.on_frame(other),
        };
        if was_over {
            assert!(matches!(step, Step::Refuse(_)), "{step:?} after the end");
        }
        match step {
            Step::Head { .. } => {
                heads += 1;
                assert!(was_accepted && heads == 1);
            }
            Step::Status { status, .. } => assert!((400..=599).contains(&status)),
            Step::File { offset, len } => {
                let size = (rest[0] as u64) << 4;
                assert!(offset <= size && len <= size - offset);
                body += len;
            }
            Step::NotTaken => assert!(!was_accepted),
            _ => {}
        }
        if let Some(cl) = rules.declared() {
            assert!(body <= cl, "{body} body bytes past Content-Length {cl}");
        }
    }
});
