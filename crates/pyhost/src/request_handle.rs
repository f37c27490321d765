//! A request's handle: the capsule Python holds for one request, and the
//! only way to its state. The state is used by one caller at a time; the
//! GIL is not what makes it so (see `SharedState`).

use super::io::RequestIo;
use super::object::{self, raise_runtime, PyErrSet, PyObj, PyResult};
use super::request_state::RequestState;
use pyo3_ffi as py;
use std::cell::UnsafeCell;
use std::ffi::CStr;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, Ordering};

const CAPSULE_NAME: &CStr = c"mod_wsgi_rs.request";

/// One request's state behind its handle, used by one caller at a time.
/// A native call holds it for its whole length, the I/O included, which
/// runs with the GIL released; so a second thread that uses the same
/// request's `wsgi.input`, `write()` or `file_wrapper` meanwhile gets a
/// RuntimeError instead of a second `&mut` to the state. The flag, not the
/// GIL, gives the exclusion (it holds on a free-threaded build too).
pub struct SharedState {
    in_use: AtomicBool,
    state: UnsafeCell<RequestState>,
}

/// The state, held: the only way to reach it. Dropped at the end of the
/// native call (or of the embedder's use) that took it.
pub struct StateGuard {
    shared: NonNull<SharedState>,
}

impl std::ops::Deref for StateGuard {
    type Target = RequestState;
    fn deref(&self) -> &RequestState {
        // SAFETY: this guard set `in_use`, so no other reference to the
        // state exists until it is dropped; the handle (which owns the
        // box) outlives every guard (see `take`).
        unsafe { &*self.shared.as_ref().state.get() }
    }
}

impl std::ops::DerefMut for StateGuard {
    fn deref_mut(&mut self) -> &mut RequestState {
        // SAFETY: as in deref; `&mut self` makes this the only use.
        unsafe { &mut *self.shared.as_ref().state.get() }
    }
}

impl Drop for StateGuard {
    fn drop(&mut self) {
        // SAFETY: the box outlives the guard (see deref).
        unsafe { self.shared.as_ref() }
            .in_use
            .store(false, Ordering::Release);
    }
}

unsafe extern "C" fn free_state(capsule: *mut py::PyObject) {
    // SAFETY: the capsule was made by new_handle with a Box<SharedState>.
    let p = unsafe { py::PyCapsule_GetPointer(capsule, CAPSULE_NAME.as_ptr()) };
    if !p.is_null() {
        // SAFETY: see above; Python calls the destructor once, when no
        // call that could hold a guard has the handle any more.
        drop(unsafe { Box::from_raw(p.cast::<SharedState>()) });
    }
}

/// A new request handle (capsule) over `chan` (`head_request`: a HEAD).
pub fn new_handle(chan: Box<dyn RequestIo>, head_request: bool) -> PyResult<PyObj> {
    let shared = Box::new(SharedState {
        in_use: AtomicBool::new(false),
        state: UnsafeCell::new(RequestState::new(chan, head_request)),
    });
    let p = Box::into_raw(shared);
    // SAFETY: GIL held; on failure we take the box back.
    let cap = unsafe { py::PyCapsule_New(p.cast(), CAPSULE_NAME.as_ptr(), Some(free_state)) };
    if cap.is_null() {
        // SAFETY: ownership was not transferred.
        drop(unsafe { Box::from_raw(p) });
    }
    PyObj::owned(cap)
}

/// The shared state inside a handle (GIL held; Python raised when the
/// object is not one of our handles).
pub(crate) fn shared_of(handle: *mut py::PyObject) -> PyResult<NonNull<SharedState>> {
    // SAFETY: PyCapsule_GetPointer checks the capsule's type and name and
    // raises if they are wrong.
    let p = unsafe { py::PyCapsule_GetPointer(handle, CAPSULE_NAME.as_ptr()) };
    NonNull::new(p.cast::<SharedState>()).ok_or(PyErrSet)
}

/// Takes the state if no other caller holds it. The caller keeps `handle`
/// alive for as long as the guard lives (a native call's argument, or
/// the embedder's own reference).
pub(crate) fn take(shared: NonNull<SharedState>) -> Option<StateGuard> {
    // SAFETY: the handle that owns the box is alive (see above).
    let flag = unsafe { &shared.as_ref().in_use };
    flag.compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
        .ok()
        .map(|_| StateGuard { shared })
}

/// The state inside a handle, for one native call; a RuntimeError when
/// another thread is using the same request at this moment.
pub fn state_of(handle: *mut py::PyObject) -> PyResult<StateGuard> {
    take(shared_of(handle)?).ok_or_else(|| {
        raise_runtime(
            "this request's wsgi.input, write() or file_wrapper is in use by another \
             thread (or by a call still in progress): one request's I/O goes one call at a time",
        );
        PyErrSet
    })
}

/// The state inside a handle for the embedder once the application has
/// returned: a thread it left behind may still be in the middle of a
/// call, so this waits for it, with the GIL released between tries (that
/// thread needs the GIL to finish).
pub fn state_when_free(handle: *mut py::PyObject) -> PyResult<StateGuard> {
    let shared = shared_of(handle)?;
    loop {
        if let Some(guard) = take(shared) {
            return Ok(guard);
        }
        object::allow_threads(|| std::thread::sleep(std::time::Duration::from_millis(1)));
    }
}
