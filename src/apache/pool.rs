//! Rust values whose lifetime is an APR pool's.

use super::ffi;
use std::ffi::c_void;

/// Moves `value` into `pool`: it is dropped when the pool is cleared or
/// destroyed. Returns a pointer valid for the pool's lifetime.
pub fn pool_owned<T>(pool: *mut ffi::apr_pool_t, value: T) -> *mut T {
    let ptr = Box::into_raw(Box::new(value));
    register_cleanup(pool, ptr.cast(), drop_box::<T>);
    ptr
}

/// Runs `f` when `pool` is cleared or destroyed.
pub fn on_cleanup(pool: *mut ffi::apr_pool_t, f: Box<dyn FnOnce()>) {
    let data = Box::into_raw(Box::new(f));
    register_cleanup(pool, data.cast(), run_closure);
}

fn register_cleanup(
    pool: *mut ffi::apr_pool_t,
    data: *mut c_void,
    cleanup: unsafe extern "C" fn(*mut c_void) -> ffi::apr_status_t,
) {
    // SAFETY: `pool` is a live pool handed to us by Apache; `data` stays valid
    // until the cleanup frees it. Child cleanups (on fork+exec) do nothing.
    unsafe { ffi::apr_pool_cleanup_register(pool, data, Some(cleanup), Some(no_cleanup)) };
}

unsafe extern "C" fn drop_box<T>(data: *mut c_void) -> ffi::apr_status_t {
    crate::apache::guard::catch("pool cleanup", (), || {
        // SAFETY: `data` came from Box::into_raw in pool_owned and APR runs
        // each registered cleanup once.
        drop(unsafe { Box::from_raw(data.cast::<T>()) });
    });
    0
}

unsafe extern "C" fn run_closure(data: *mut c_void) -> ffi::apr_status_t {
    crate::apache::guard::catch("pool cleanup", (), || {
        // SAFETY: `data` came from Box::into_raw in on_cleanup, run once.
        let f = unsafe { Box::from_raw(data.cast::<Box<dyn FnOnce()>>()) };
        f();
    });
    0
}

unsafe extern "C" fn no_cleanup(_: *mut c_void) -> ffi::apr_status_t {
    0
}
