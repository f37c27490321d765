//! No Rust panic may unwind into Apache or Python (docs/architecture.md, "Safety"). Every
//! `extern "C"` entry point runs its body through [`catch`], which turns a
//! panic into a logged error and the entry point's fallback value.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Once;

/// Runs `body`; on panic logs `what` and returns `fallback`.
pub fn catch<T>(what: &str, fallback: T, body: impl FnOnce() -> T) -> T {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(v) => v,
        Err(_) => {
            super::errlog::server_error(&format!("internal error: panic in {}", what));
            fallback
        }
    }
}

/// Sends panic messages to Apache's error log instead of stderr.
pub fn install_panic_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        std::panic::set_hook(Box::new(|info| {
            super::errlog::server_error(&format!("panic: {}", info));
        }));
    });
}
