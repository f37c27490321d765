//! Any bytes fed to the frame decoder give a frame, "need more", or an
//! error — never a panic — and every decoded frame re-encodes to the same
//! bytes. A Request's payload read by `Environ::decode_request` (version,
//! secret, typed route, environ) re-encodes to the same payload.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wsgi_core::environ::Environ;
use wsgi_core::protocol::{Frame, HEADER_LEN};

fuzz_target!(|data: &[u8]| {
    let mut rest = data;
    while let Ok(Some((frame, used))) = Frame::decode(rest) {
        let mut again = Vec::new();
        frame.encode(&mut again).expect("a decoded frame fits");
        assert_eq!(&again[..], &rest[..used], "re-encoding {frame:?}");
        if let Frame::Request(payload) = &frame {
            if let Ok((head, env)) = Environ::decode_request(payload) {
                let mut back = Vec::new();
                env.encode_request(&head, &mut back)
                    .expect("a decoded request fits");
                assert_eq!(&back[HEADER_LEN..], &payload[..]);
            }
        }
        rest = &rest[used..];
    }
});
