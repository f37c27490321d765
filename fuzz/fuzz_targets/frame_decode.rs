//! Any bytes fed to the frame decoder give a frame, "need more", or an
//! error — never a panic — and every decoded frame re-encodes to the same
//! bytes. The borrowing Request reader (`Environ::decode_request`) agrees
//! with the frame decoder on every payload.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wsgi_core::environ::Environ;
use wsgi_core::protocol::{Frame, HEADER_LEN};

fuzz_target!(|data: &[u8]| {
    let mut rest = data;
    while let Ok(Some((frame, used))) = Frame::decode(rest) {
        let mut again = Vec::new();
        frame.encode(&mut again);
        assert_eq!(&again[..], &rest[..used], "re-encoding {frame:?}");
        if let Frame::Request { version, environ } = &frame {
            let (v, env) = Environ::decode_request(&rest[HEADER_LEN..used]).expect("same payload");
            assert_eq!(v, *version);
            assert!(env.iter().eq(environ.iter().map(|(k, v)| (&k[..], &v[..]))));
        }
        rest = &rest[used..];
    }
});
