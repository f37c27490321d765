//! APR tables (headers, the subprocess environment) of a live request.

use super::ffi;
use super::pool::Pool;
use super::strings::c_bytes;
use std::ffi::{c_char, c_int, c_void, CStr};
use std::marker::PhantomData;
use std::ptr::NonNull;

/// A table and the pool its entries are copied into, both valid for `'r`.
#[derive(Clone, Copy)]
pub struct Table<'r> {
    t: NonNull<ffi::apr_table_t>,
    pool: Pool<'r>,
    _life: PhantomData<&'r ffi::apr_table_t>,
}

impl<'r> Table<'r> {
    /// # Safety
    /// `t` is null or a table that lives for `'r`, as `pool` does.
    pub(super) unsafe fn from_raw(t: *mut ffi::apr_table_t, pool: Pool<'r>) -> Option<Table<'r>> {
        NonNull::new(t).map(|t| Table {
            t,
            pool,
            _life: PhantomData,
        })
    }

    /// The value of `key` (case-insensitive, as APR compares).
    pub fn get(self, key: &CStr) -> Option<&'r [u8]> {
        // SAFETY: a live table and a NUL-terminated key.
        let v = unsafe { ffi::apr_table_get(self.t.as_ptr(), key.as_ptr()) };
        // SAFETY: table strings live in the table's pool, for `'r`.
        (!v.is_null()).then(|| unsafe { c_bytes(v) })
    }

    /// Calls `each` with every entry, in order.
    pub fn each<F: FnMut(&'r [u8], &'r [u8])>(self, mut each: F) {
        unsafe extern "C" fn visit<'r, F: FnMut(&'r [u8], &'r [u8])>(
            rec: *mut c_void,
            k: *const c_char,
            v: *const c_char,
        ) -> c_int {
            // SAFETY: `rec` is the closure passed below; k/v are table
            // strings, which live for `'r`.
            unsafe {
                let each = &mut *rec.cast::<F>();
                each(super::strings::c_bytes(k), super::strings::c_bytes(v));
            }
            1
        }
        // SAFETY: apr_table_do walks a live table and calls `visit`
        // synchronously, with `rec` pointing at `each` for the whole walk.
        unsafe {
            ffi::apr_table_do(
                Some(visit::<'r, F>),
                &mut each as *mut F as *mut c_void,
                self.t.as_ptr(),
                std::ptr::null::<c_char>(),
            )
        };
    }

    /// Adds an entry (a header may repeat), copying both into the pool.
    pub fn add(self, key: &[u8], value: &[u8]) {
        // SAFETY: both strings are copied into the pool that owns the table.
        unsafe {
            ffi::apr_table_addn(
                self.t.as_ptr(),
                self.pool.c_string(key),
                self.pool.c_string(value),
            )
        };
    }

    /// Sets an entry, replacing any with the same key.
    pub fn set(self, key: &[u8], value: &[u8]) {
        // SAFETY: as in `add`.
        unsafe {
            ffi::apr_table_setn(
                self.t.as_ptr(),
                self.pool.c_string(key),
                self.pool.c_string(value),
            )
        };
    }
}
