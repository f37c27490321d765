//! A daemon's look at a new connection's first bytes (wsgi_core::preauth):
//! any bytes, in any split, never panic; the verdict on a prefix never
//! changes once it is more than Incomplete; Authentic only for a Request
//! of our version carrying the secret.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wsgi_core::preauth::{judge, Verdict, PREFIX_LEN};
use wsgi_core::protocol::{HEADER_LEN, PROTOCOL_VERSION, T_REQUEST};

const SECRET: [u8; 32] = [0x5a; 32];

fuzz_target!(|data: &[u8]| {
    let whole = judge(data, Some(&SECRET));
    if whole == Verdict::Authentic {
        assert!(data.len() >= PREFIX_LEN);
        assert_eq!(data[0], T_REQUEST);
        assert_eq!(data[HEADER_LEN], PROTOCOL_VERSION);
        assert_eq!(&data[HEADER_LEN + 1..PREFIX_LEN], &SECRET[..]);
    }
    if whole == Verdict::Incomplete {
        assert!(data.len() < PREFIX_LEN);
    }
    // Decided early means decided for good: every longer prefix agrees.
    let mut decided: Option<Verdict> = None;
    for cut in 0..=data.len().min(PREFIX_LEN + 4) {
        let v = judge(&data[..cut], Some(&SECRET));
        match &decided {
            Some(d) => assert_eq!(&v, d, "cut {cut}"),
            None if v != Verdict::Incomplete => decided = Some(v),
            None => {}
        }
    }
    assert!(judge(data, None) != Verdict::Authentic);
});
