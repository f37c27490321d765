//! Our records in Apache's configuration vectors (per server, per
//! directory, per request). Each slot holds a pool-owned
//! `Box<dyn Any + Send + Sync>`, so reading one back is a checked downcast,
//! never a cast of a `void *` to whatever type the caller hopes for.

use super::ffi;
use super::pool::Pool;
use std::any::Any;
use std::ffi::{c_char, c_void};

pub type Record = Box<dyn Any + Send + Sync>;

/// How the module's per-directory and per-server records are made and merged.
pub trait Records: 'static {
    type Dir: Any + Send + Sync + Default;
    type Server: Any + Send + Sync + Default;
    fn merge_dir(base: &Self::Dir, add: &Self::Dir) -> Self::Dir;
    fn merge_server(base: &Self::Server, add: &Self::Server) -> Self::Server;
}

fn module() -> *const ffi::module {
    std::ptr::addr_of!(crate::wsgi_module)
}

/// A new pool-owned record, as the `void *` Apache stores.
fn new_record(pool: Pool<'_>, value: Record) -> *mut c_void {
    pool.keep_raw(value).cast()
}

fn record_at<'a>(p: *mut c_void) -> Option<&'a mut Record> {
    // SAFETY: every slot of ours holds null or a pointer from new_record,
    // which lives as long as the pool of the vector that holds it.
    unsafe { p.cast::<Record>().as_mut() }
}

/// Our record in `cv`, if it is a `T`. The record lives as long as the
/// configuration (or, in a request's vector, the request).
pub(super) fn get<'a, T: Any>(cv: *mut ffi::ap_conf_vector_t) -> Option<&'a T> {
    if cv.is_null() {
        return None;
    }
    // SAFETY: a live configuration vector; our slot is null or a Record.
    let p = unsafe { ffi::ap_get_module_config(cv, module()) };
    record_at(p).and_then(|r| r.downcast_ref::<T>())
}

/// The same, mutable: only while the configuration is being read (one
/// thread, nothing else holds the record).
pub(super) fn get_mut<'a, T: Any>(cv: *mut ffi::ap_conf_vector_t) -> Option<&'a mut T> {
    if cv.is_null() {
        return None;
    }
    // SAFETY: as in `get`.
    let p = unsafe { ffi::ap_get_module_config(cv, module()) };
    record_at(p).and_then(|r| r.downcast_mut::<T>())
}

/// Stores `value` in our slot of `cv`, owned by `pool`.
pub(super) fn set(cv: *mut ffi::ap_conf_vector_t, pool: Pool<'_>, value: Record) {
    let p = new_record(pool, value);
    // SAFETY: a live configuration vector of `pool`'s lifetime.
    unsafe { ffi::ap_set_module_config(cv, module(), p) }
}

/// A record pointer Apache hands a callback (`mconfig`, merge arguments).
pub(super) fn from_void<'a, T: Any>(p: *mut c_void) -> Option<&'a mut T> {
    record_at(p).and_then(|r| r.downcast_mut::<T>())
}

fn pool_of<'a>(p: *mut ffi::apr_pool_t) -> Option<Pool<'a>> {
    // SAFETY: Apache passes the pool the record is to live in.
    unsafe { Pool::from_raw(p) }
}

/// # Safety
/// Only httpd calls this, with the arguments its callback type promises.
pub unsafe extern "C" fn create_dir<R: Records>(
    p: *mut ffi::apr_pool_t,
    _dir: *mut c_char,
) -> *mut c_void {
    super::guard::catch("create_dir_config", std::ptr::null_mut(), || {
        pool_of(p).map_or(std::ptr::null_mut(), |pool| {
            new_record(pool, Box::new(R::Dir::default()))
        })
    })
}

/// # Safety
/// Only httpd calls this, with the arguments its callback type promises.
pub unsafe extern "C" fn merge_dir<R: Records>(
    p: *mut ffi::apr_pool_t,
    base: *mut c_void,
    add: *mut c_void,
) -> *mut c_void {
    super::guard::catch("merge_dir_config", add, || {
        let merged = match (from_void::<R::Dir>(base), from_void::<R::Dir>(add)) {
            (Some(b), Some(a)) => R::merge_dir(b, a),
            _ => return add,
        };
        pool_of(p).map_or(add, |pool| new_record(pool, Box::new(merged)))
    })
}

/// # Safety
/// Only httpd calls this, with the arguments its callback type promises.
pub unsafe extern "C" fn create_server<R: Records>(
    p: *mut ffi::apr_pool_t,
    _s: *mut ffi::server_rec,
) -> *mut c_void {
    super::guard::catch("create_server_config", std::ptr::null_mut(), || {
        pool_of(p).map_or(std::ptr::null_mut(), |pool| {
            new_record(pool, Box::new(R::Server::default()))
        })
    })
}

/// # Safety
/// Only httpd calls this, with the arguments its callback type promises.
pub unsafe extern "C" fn merge_server<R: Records>(
    p: *mut ffi::apr_pool_t,
    base: *mut c_void,
    add: *mut c_void,
) -> *mut c_void {
    super::guard::catch("merge_server_config", add, || {
        let merged = match (from_void::<R::Server>(base), from_void::<R::Server>(add)) {
            (Some(b), Some(a)) => R::merge_server(b, a),
            _ => return add,
        };
        pool_of(p).map_or(add, |pool| new_record(pool, Box::new(merged)))
    })
}
