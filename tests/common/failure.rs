//! Remembers, per test thread, where and why the test panicked, so the
//! server's Drop can repeat it after the (long) logs it prints.

use std::cell::RefCell;
use std::sync::Once;

/// Kept short: the message often embeds the logs, which are printed anyway.
const KEEP: usize = 4000;

thread_local! {
    static LAST: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Installs (once per test binary) a panic hook that notes the panic and
/// then does what the default hook does.
pub fn remember_panics() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let place = info
                .location()
                .map(|l| format!("{}:{}", l.file(), l.line()))
                .unwrap_or_default();
            let message = info
                .payload()
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| info.payload().downcast_ref::<&str>().copied())
                .unwrap_or("(no message)");
            let short: String = message.chars().take(KEEP).collect();
            LAST.with(|l| *l.borrow_mut() = Some(format!("{place}: {short}")));
            default(info);
        }));
    });
}

/// The panic this thread last noted, if any.
pub fn last() -> Option<String> {
    LAST.with(|l| l.borrow().clone())
}
