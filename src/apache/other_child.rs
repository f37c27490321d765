//! Watching a process the parent forked: APR's "other child" registry,
//! which the MPM's wait loop in the parent consults when a child it does
//! not know exits.

use super::ffi;
use super::pool::Pool;
use std::ffi::{c_int, c_void};

/// One registration: the pid APR checks and what to do when it is gone.
struct Watch {
    proc_: ffi::apr_proc_t,
    pool: *mut ffi::apr_pool_t,
    on_exit: Option<OnExit>,
}

/// Called with the wait status and the pool the watch was made in (so the
/// callback can watch a successor there).
pub type OnExit = Box<dyn FnOnce(c_int, Pool<'_>)>;

/// Calls `on_exit` once, from the MPM's wait loop, when `pid` exits. The
/// watch ends with `pool` (nothing is called then).
pub fn watch(pool: Pool<'_>, pid: i32, on_exit: OnExit) {
    let w = Box::into_raw(Box::new(Watch {
        proc_: ffi::apr_proc_t {
            pid,
            ..Default::default()
        },
        pool: pool.raw(),
        on_exit: Some(on_exit),
    }));
    // SAFETY: `w` stays valid until APR tells us it is unregistered (on
    // exit, or when the pool is cleared), which frees it.
    unsafe {
        ffi::apr_proc_other_child_register(
            &mut (*w).proc_,
            Some(maintenance),
            w.cast(),
            std::ptr::null_mut(),
            pool.raw(),
        )
    };
}

unsafe extern "C" fn maintenance(reason: c_int, data: *mut c_void, status: c_int) {
    super::guard::catch("daemon maintenance", (), || {
        let w = data.cast::<Watch>();
        if reason == ffi::APR_OC_REASON_UNREGISTER {
            // The registration is gone (we unregistered it below, or its
            // pool was cleared): free it.
            // SAFETY: `w` came from Box::into_raw in `watch`; APR reports
            // the unregistration once.
            drop(unsafe { Box::from_raw(w) });
            return;
        }
        if reason != ffi::APR_OC_REASON_DEATH && reason != ffi::APR_OC_REASON_LOST {
            return;
        }
        // SAFETY: still registered, so still ours; the closure is taken
        // before unregistering frees the Watch.
        let (on_exit, pool) = unsafe { ((*w).on_exit.take(), (*w).pool) };
        // SAFETY: unregistering the entry APR is telling us about; this
        // calls us back with UNREGISTER, which frees `w`.
        unsafe { ffi::apr_proc_other_child_unregister(data) };
        // SAFETY: the pool is live: clearing it would have unregistered us.
        if let (Some(f), Some(pool)) = (on_exit, unsafe { Pool::from_raw(pool) }) {
            f(status, pool);
        }
    })
}
