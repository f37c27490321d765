//! Making a sub-interpreter: with its own GIL where configured (Python
//! 3.12+, `WSGIPerInterpreterGIL`), else sharing the main interpreter's.

use pyo3_ffi as py;

/// A new sub-interpreter's thread state (null: failed), current on return.
/// With `own_gil` (Python 3.12+) it has its own GIL and the isolation that
/// needs, as mod_wsgi 6 makes it (`_PyInterpreterConfig_INIT`: its own
/// allocator, no fork/exec or daemon threads, extensions must support
/// sub-interpreters); otherwise it shares the main interpreter's.
///
/// # Safety
/// The calling thread holds the main interpreter's GIL.
pub unsafe fn new_interpreter(own_gil: bool) -> *mut py::PyThreadState {
    #[cfg(Py_3_12)]
    if own_gil {
        let mut ts = std::ptr::null_mut();
        let config = py::_PyInterpreterConfig_INIT;
        // SAFETY: the caller's promise; Python reads the config only here.
        let st = unsafe { py::Py_NewInterpreterFromConfig(&mut ts, &config) };
        // SAFETY: a status Python just returned.
        if unsafe { py::PyStatus_Exception(st) } != 0 {
            return std::ptr::null_mut();
        }
        return ts;
    }
    let _ = own_gil;
    // SAFETY: the caller's promise.
    unsafe { py::Py_NewInterpreter() }
}
