//! The Apache child's decoding of a daemon's Head frame: any payload never
//! panics, a decoded head holds at most MAX_HEAD_FIELDS headers of at most
//! MAX_HEAD_FIELD bytes each, and re-encodes to the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wsgi_core::protocol::{Frame, MAX_HEAD_FIELD, MAX_HEAD_FIELDS};

fuzz_target!(|data: &[u8]| {
    // Every payload as a Head (type 17); the count field is often large,
    // so a count byte up front steers it into the interesting range.
    let mut frame = vec![17u8];
    frame.extend_from_slice(&(data.len() as u32).to_be_bytes());
    frame.extend_from_slice(data);
    if let Ok(Some((f, used))) = Frame::decode(&frame) {
        assert_eq!(used, frame.len());
        if let Frame::Head { headers, .. } = &f {
            assert!(headers.len() <= MAX_HEAD_FIELDS);
            assert!(headers.iter().all(|(k, v)| k.len() + v.len() <= MAX_HEAD_FIELD));
        }
        let mut again = Vec::new();
        f.encode(&mut again).expect("a decoded head re-encodes");
        assert_eq!(again, frame);
    }
});
