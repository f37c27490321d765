//! Any bytes fed to the frame decoder give a frame, "need more", or an
//! error — never a panic — and every decoded frame re-encodes to the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wsgi_core::protocol::Frame;

fuzz_target!(|data: &[u8]| {
    let mut rest = data;
    while let Ok(Some((frame, used))) = Frame::decode(rest) {
        let mut again = Vec::new();
        frame.encode(&mut again);
        assert_eq!(&again[..], &rest[..used], "re-encoding {frame:?}");
        rest = &rest[used..];
    }
});
