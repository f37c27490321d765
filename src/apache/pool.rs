//! APR pools as handles, and Rust values whose lifetime is a pool's.

use super::ffi;
use std::ffi::c_void;
use std::marker::PhantomData;
use std::ptr::NonNull;

/// A live APR pool, valid for `'p`.
#[derive(Clone, Copy)]
#[repr(transparent)]
pub struct Pool<'p>(NonNull<ffi::apr_pool_t>, PhantomData<&'p ffi::apr_pool_t>);

impl<'p> Pool<'p> {
    /// # Safety
    /// `p` is null or a pool that lives for `'p`.
    pub(crate) unsafe fn from_raw(p: *mut ffi::apr_pool_t) -> Option<Pool<'p>> {
        NonNull::new(p).map(|p| Pool(p, PhantomData))
    }

    pub(super) fn raw(self) -> *mut ffi::apr_pool_t {
        self.0.as_ptr()
    }

    /// Moves `value` into the pool: it is dropped when the pool is cleared
    /// or destroyed.
    pub fn keep<T>(self, value: T) -> &'p T {
        // SAFETY: the box lives until the pool's cleanup drops it, which is
        // after every user of `'p`.
        unsafe { &*self.keep_raw(value) }
    }

    /// As `keep`, for a record Apache stores and hands back to us.
    pub(super) fn keep_raw<T>(self, value: T) -> *mut T {
        let ptr = Box::into_raw(Box::new(value));
        self.register_cleanup(ptr.cast(), drop_box::<T>);
        ptr
    }

    /// Runs `f` when the pool is cleared or destroyed.
    pub fn on_cleanup(self, f: Box<dyn FnOnce()>) {
        let data = Box::into_raw(Box::new(f));
        self.register_cleanup(data.cast(), run_closure);
    }

    /// A copy of `s` as a C string in the pool.
    pub(super) fn c_string(self, s: &[u8]) -> *mut std::ffi::c_char {
        // SAFETY: apr_pstrmemdup copies `len` bytes and adds a NUL.
        unsafe { ffi::apr_pstrmemdup(self.raw(), s.as_ptr().cast(), s.len()) }
    }

    fn register_cleanup(
        self,
        data: *mut c_void,
        cleanup: unsafe extern "C" fn(*mut c_void) -> ffi::apr_status_t,
    ) {
        // SAFETY: a live pool; `data` stays valid until the cleanup frees it.
        // Child cleanups (on fork+exec) do nothing.
        unsafe {
            ffi::apr_pool_cleanup_register(self.raw(), data, Some(cleanup), Some(no_cleanup))
        };
    }
}

unsafe extern "C" fn drop_box<T>(data: *mut c_void) -> ffi::apr_status_t {
    crate::apache::guard::catch("pool cleanup", (), || {
        // SAFETY: `data` came from Box::into_raw in `keep` and APR runs each
        // registered cleanup once.
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
