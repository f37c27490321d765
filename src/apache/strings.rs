//! C strings that Apache hands us, as byte slices.

use std::ffi::{c_char, CStr};

/// The bytes of `p` ("" for null), for a lifetime the caller picks.
///
/// # Safety
/// `p` is null or a NUL-terminated string that lives, unchanged, for `'a`
/// (a string in a pool that outlives `'a`: the request's, the
/// configuration's, or static text).
pub(super) unsafe fn c_bytes<'a>(p: *const c_char) -> &'a [u8] {
    if p.is_null() {
        return b"";
    }
    // SAFETY: the caller's promise.
    unsafe { CStr::from_ptr(p).to_bytes() }
}

pub(super) fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}
