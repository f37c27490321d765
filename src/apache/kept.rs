//! Plain C data kept in the Apache parent's process pool. The pool lives as
//! long as the parent, across restarts, while this .so (its statics and
//! even its Rust types) is unloaded and loaded again: what must survive a
//! restart (the parent-liveness pipe, the groups' secrets, the daemons of
//! the generation being replaced) is kept here, as `Copy` data of a fixed
//! layout, found again by name.

use super::ffi;
use super::pool::Pool;
use std::ffi::CString;
use std::ptr::NonNull;

/// A `T` in a process pool. Processes forked from the parent see their own
/// copy of it.
pub struct Kept<T: Copy + 'static>(NonNull<T>);

// SAFETY: the memory lives as long as the process; the parent is
// single-threaded while it uses these, and a daemon touches only its copy.
unsafe impl<T: Copy + Send> Send for Kept<T> {}
// SAFETY: as above.
unsafe impl<T: Copy + Sync> Sync for Kept<T> {}

impl<T: Copy + 'static> Kept<T> {
    pub fn get(&self) -> T {
        // SAFETY: a live, initialised T in the process pool.
        unsafe { self.0.as_ptr().read_volatile() }
    }

    /// Overwrites the value (volatile: a wipe is never optimised away).
    pub fn set(&self, value: T) {
        // SAFETY: as above.
        unsafe { self.0.as_ptr().write_volatile(value) }
    }
}

/// The value kept under `key` in `pool`, made with `init` the first time
/// (`init`'s error is returned and nothing is kept). `fresh` says whether
/// it was made now.
pub fn kept<T: Copy + 'static, E>(
    pool: Pool<'static>,
    key: &str,
    init: impl FnOnce() -> Result<T, E>,
) -> Result<(Kept<T>, bool), E> {
    let key = CString::new(format!("mod_wsgi_rs:{key}")).expect("keys have no NUL");
    let mut data: *mut std::ffi::c_void = std::ptr::null_mut();
    // SAFETY: looking a name up in a live pool.
    unsafe { ffi::apr_pool_userdata_get(&mut data, key.as_ptr(), pool.raw()) };
    if let Some(p) = NonNull::new(data.cast::<T>()) {
        return Ok((Kept(p), false));
    }
    let value = init()?;
    // SAFETY: memory of T's size and alignment (APR aligns to 8) from the
    // pool, written before it is published; the key is copied into the pool
    // because APR keeps the pointer.
    unsafe {
        let stored = ffi::apr_palloc(pool.raw(), std::mem::size_of::<T>()).cast::<T>();
        stored.write(value);
        let kept_key = ffi::apr_pstrdup(pool.raw(), key.as_ptr());
        ffi::apr_pool_userdata_set(stored.cast(), kept_key, None, pool.raw());
        Ok((
            Kept(NonNull::new(stored).expect("apr_palloc aborts on failure")),
            true,
        ))
    }
}
