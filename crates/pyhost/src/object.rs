//! An owned Python reference and the handful of object operations the host
//! needs. Every `PyObj` is created and dropped with the GIL held, on the
//! thread that holds it (the type is neither Send nor Sync).

use pyo3_ffi as py;
use std::ffi::{c_char, CStr};
use std::ptr::NonNull;

/// A Python exception is set in the current thread state.
#[derive(Debug)]
pub struct PyErrSet;

pub type PyResult<T> = Result<T, PyErrSet>;

/// A strong reference, released on drop.
pub struct PyObj(NonNull<py::PyObject>);

impl PyObj {
    /// Takes ownership of a new reference; null means an exception is set.
    pub fn owned(p: *mut py::PyObject) -> PyResult<PyObj> {
        NonNull::new(p).map(PyObj).ok_or(PyErrSet)
    }

    /// Takes a new reference to a borrowed object.
    pub fn borrowed(p: *mut py::PyObject) -> PyResult<PyObj> {
        let p = NonNull::new(p).ok_or(PyErrSet)?;
        // SAFETY: GIL held (type invariant); `p` is a live object.
        unsafe { py::Py_INCREF(p.as_ptr()) };
        Ok(PyObj(p))
    }

    pub fn as_ptr(&self) -> *mut py::PyObject {
        self.0.as_ptr()
    }

    /// Gives the reference to the caller (e.g. to return it to Python).
    pub fn into_ptr(self) -> *mut py::PyObject {
        let p = self.0.as_ptr();
        std::mem::forget(self);
        p
    }

    pub fn getattr(&self, name: &CStr) -> PyResult<PyObj> {
        // SAFETY: GIL held; live object and NUL-terminated name.
        PyObj::owned(unsafe { py::PyObject_GetAttrString(self.as_ptr(), name.as_ptr()) })
    }

    pub fn setattr(&self, name: &CStr, value: &PyObj) -> PyResult<()> {
        // SAFETY: GIL held; live objects.
        check(unsafe { py::PyObject_SetAttrString(self.as_ptr(), name.as_ptr(), value.as_ptr()) })
    }

    /// Calls the object with positional arguments.
    pub fn call(&self, args: &[&PyObj]) -> PyResult<PyObj> {
        let ptrs: Vec<*mut py::PyObject> = args.iter().map(|a| a.as_ptr()).collect();
        // SAFETY: GIL held; `ptrs` holds borrowed live references for the call.
        PyObj::owned(unsafe {
            py::PyObject_Vectorcall(
                self.as_ptr(),
                ptrs.as_ptr(),
                ptrs.len(),
                std::ptr::null_mut(),
            )
        })
    }

    /// Sets `dict[key] = value` where `self` is a dict.
    pub fn dict_set(&self, key: &PyObj, value: &PyObj) -> PyResult<()> {
        // SAFETY: GIL held; `self` is a dict (callers only use it on dicts).
        check(unsafe { py::PyDict_SetItem(self.as_ptr(), key.as_ptr(), value.as_ptr()) })
    }

    pub fn dict_set_str(&self, key: &CStr, value: &PyObj) -> PyResult<()> {
        // SAFETY: as in dict_set.
        check(unsafe { py::PyDict_SetItemString(self.as_ptr(), key.as_ptr(), value.as_ptr()) })
    }

    /// `self[i]` of a sequence (a tuple, a list).
    pub fn item(&self, i: isize) -> PyResult<PyObj> {
        // SAFETY: GIL held; PySequence_GetItem returns a new reference or
        // null with an exception set.
        PyObj::owned(unsafe { py::PySequence_GetItem(self.as_ptr(), i) })
    }

    pub fn is_none(&self) -> bool {
        // SAFETY: GIL held; comparing with the None singleton.
        self.as_ptr() == unsafe { py::Py_None() }
    }

    pub fn is_false(&self) -> bool {
        // SAFETY: GIL held; comparing with the False singleton.
        self.as_ptr() == unsafe { py::Py_False() }
    }

    /// `str(self)` as Rust text (lossy).
    pub fn to_text(&self) -> String {
        // SAFETY: GIL held; PyObject_Str returns a new reference or null.
        let s = match PyObj::owned(unsafe { py::PyObject_Str(self.as_ptr()) }) {
            Ok(s) => s,
            Err(_) => {
                clear_error();
                return "<unprintable>".into();
            }
        };
        str_value(&s).unwrap_or_else(|| "<unprintable>".into())
    }
}

impl Drop for PyObj {
    fn drop(&mut self) {
        // SAFETY: GIL held (type invariant); we own one reference.
        unsafe { py::Py_DECREF(self.0.as_ptr()) }
    }
}

fn check(rc: i32) -> PyResult<()> {
    if rc < 0 {
        Err(PyErrSet)
    } else {
        Ok(())
    }
}

/// A Python `str` from UTF-8 text.
pub fn str_utf8(s: &str) -> PyResult<PyObj> {
    // SAFETY: GIL held; pointer and length describe valid UTF-8.
    PyObj::owned(unsafe { py::PyUnicode_FromStringAndSize(s.as_ptr().cast(), s.len() as isize) })
}

/// A Python `str` from bytes taken as ISO-8859-1, as PEP 3333 wants for
/// CGI variables ("native strings").
pub fn str_latin1(b: &[u8]) -> PyResult<PyObj> {
    // SAFETY: GIL held; every byte is valid latin-1.
    PyObj::owned(unsafe {
        py::PyUnicode_DecodeLatin1(
            b.as_ptr().cast::<c_char>(),
            b.len() as isize,
            std::ptr::null(),
        )
    })
}

pub fn bytes(b: &[u8]) -> PyResult<PyObj> {
    // SAFETY: GIL held; pointer and length describe `b`.
    PyObj::owned(unsafe { py::PyBytes_FromStringAndSize(b.as_ptr().cast(), b.len() as isize) })
}

pub fn int(n: i64) -> PyResult<PyObj> {
    // SAFETY: GIL held.
    PyObj::owned(unsafe { py::PyLong_FromLongLong(n) })
}

/// The items of a Python list as text (GIL held); empty if not a list.
pub fn str_list(list: &PyObj) -> Vec<String> {
    // SAFETY: GIL held (caller's contract); a size below 0 means not a list.
    let n = unsafe { py::PyList_Size(list.as_ptr()) };
    if n < 0 {
        clear_error();
        return Vec::new();
    }
    (0..n)
        .filter_map(|i| list_item(list, i).ok())
        .map(|item| item.to_text())
        .collect()
}

/// Item `i` of a list, as a strong reference: another thread may change
/// the list meanwhile when the GIL is off (PyList_GetItemRef, 3.13+).
pub fn list_item(list: &PyObj, i: isize) -> PyResult<PyObj> {
    // SAFETY: GIL held (caller's contract); an index out of range or a
    // non-list gives null with an error set.
    PyObj::owned(unsafe { py::compat::PyList_GetItemRef(list.as_ptr(), i) })
}

/// The module `name` in sys.modules (created empty if absent), as a
/// strong reference: a borrowed one could be dropped by another thread's
/// import when the GIL is off (PyImport_AddModuleRef, 3.13+).
pub fn sys_module(name: &std::ffi::CStr) -> PyResult<PyObj> {
    // SAFETY: GIL held (caller's contract); NUL-terminated name.
    PyObj::owned(unsafe { py::compat::PyImport_AddModuleRef(name.as_ptr()) })
}

/// A list of the given objects.
pub fn list(items: Vec<PyObj>) -> PyResult<PyObj> {
    // SAFETY: GIL held; PyList_SetItem steals each reference we hand over.
    unsafe {
        let l = PyObj::owned(py::PyList_New(items.len() as isize))?;
        for (i, item) in items.into_iter().enumerate() {
            py::PyList_SetItem(l.as_ptr(), i as isize, item.into_ptr());
        }
        Ok(l)
    }
}

/// A list of ints.
pub fn int_list(items: &[u64]) -> PyResult<PyObj> {
    list(
        items
            .iter()
            .map(|v| int(*v as i64))
            .collect::<PyResult<_>>()?,
    )
}

/// A list of floats.
pub fn float_list(items: &[f64]) -> PyResult<PyObj> {
    list(items.iter().map(|v| float(*v)).collect::<PyResult<_>>()?)
}

/// This thread's CPU time in seconds (`time.thread_time()`), GIL held.
pub fn thread_cpu_time() -> f64 {
    // SAFETY: GIL held; the lookup gives a new reference (null, no error,
    // when time is not imported yet: imported then); errors cleared below.
    let module = unsafe {
        let mut found = std::ptr::null_mut();
        let key = str_utf8("time");
        if let Ok(k) = &key {
            py::compat::PyDict_GetItemRef(py::PyImport_GetModuleDict(), k.as_ptr(), &mut found);
        }
        if found.is_null() {
            PyObj::owned(py::PyImport_ImportModule(c"time".as_ptr()))
        } else {
            PyObj::owned(found)
        }
    };
    let t = module
        .and_then(|m| m.getattr(c"thread_time"))
        .and_then(|f| f.call(&[]))
        // SAFETY: GIL held (as for the lookups above); `v` is a live
        // object, and a non-float gives -1.0 with an error, handled below.
        .map(|v| unsafe { py::PyFloat_AsDouble(v.as_ptr()) });
    match t {
        Ok(v) if v >= 0.0 => v,
        _ => {
            clear_error();
            0.0
        }
    }
}

pub fn float(v: f64) -> PyResult<PyObj> {
    // SAFETY: GIL held (caller's contract, as for every helper here).
    PyObj::owned(unsafe { py::PyFloat_FromDouble(v) })
}

pub fn boolean(v: bool) -> PyObj {
    // SAFETY: GIL held; True/False are immortal-enough singletons we incref.
    PyObj::borrowed(unsafe {
        if v {
            py::Py_True()
        } else {
            py::Py_False()
        }
    })
    .expect("bool singleton")
}

pub fn none() -> PyObj {
    // SAFETY: GIL held; None is a singleton we incref.
    PyObj::borrowed(unsafe { py::Py_None() }).expect("None singleton")
}

pub fn new_dict() -> PyResult<PyObj> {
    // SAFETY: GIL held.
    PyObj::owned(unsafe { py::PyDict_New() })
}

/// Builds a tuple from the given items.
pub fn tuple(items: Vec<PyObj>) -> PyResult<PyObj> {
    // SAFETY: GIL held; PyTuple_SetItem steals each reference we hand over.
    unsafe {
        let t = PyObj::owned(py::PyTuple_New(items.len() as isize))?;
        for (i, item) in items.into_iter().enumerate() {
            py::PyTuple_SetItem(t.as_ptr(), i as isize, item.into_ptr());
        }
        Ok(t)
    }
}

/// The UTF-8 text of a `str` object, or None if it is not a str.
pub fn str_value(o: &PyObj) -> Option<String> {
    // SAFETY: GIL held; the returned buffer belongs to the str object and is
    // copied before `o` can go away.
    unsafe {
        if py::PyUnicode_Check(o.as_ptr()) == 0 {
            return None;
        }
        let mut len: isize = 0;
        let p = py::PyUnicode_AsUTF8AndSize(o.as_ptr(), &mut len);
        if p.is_null() {
            clear_error();
            return None;
        }
        Some(
            String::from_utf8_lossy(std::slice::from_raw_parts(p.cast::<u8>(), len as usize))
                .into_owned(),
        )
    }
}

/// Clears the current exception, if any.
pub fn clear_error() {
    // SAFETY: GIL held.
    unsafe { py::PyErr_Clear() }
}

/// The built-in exceptions the host raises.
#[derive(Clone, Copy)]
pub enum Exc {
    OSError,
    RuntimeError,
    TypeError,
    ValueError,
}

/// Raises `exc(message)` in the current thread (GIL held).
pub fn raise(exc: Exc, message: &str) {
    let msg = std::ffi::CString::new(message.replace('\0', " ")).expect("no NULs");
    // SAFETY: reading exception type objects exported by Python; GIL held.
    unsafe {
        let t = match exc {
            Exc::OSError => py::PyExc_OSError,
            Exc::RuntimeError => py::PyExc_RuntimeError,
            Exc::TypeError => py::PyExc_TypeError,
            Exc::ValueError => py::PyExc_ValueError,
        };
        py::PyErr_SetString(t, msg.as_ptr())
    }
}

/// Raises OSError with `message` (the client went away, a read failed).
pub fn raise_os_error(message: &str) {
    raise(Exc::OSError, message)
}

/// Takes the current exception: (type, value, traceback), normalized.
// PyErr_Fetch is deprecated from 3.12 on, but its replacement
// (PyErr_GetRaisedException) does not exist in 3.10 and 3.11.
#[allow(deprecated)]
pub fn fetch_error() -> Option<(PyObj, PyObj, Option<PyObj>)> {
    let (mut t, mut v, mut tb) = (
        std::ptr::null_mut(),
        std::ptr::null_mut(),
        std::ptr::null_mut(),
    );
    // SAFETY: GIL held; PyErr_Fetch hands us the three references (any may be null).
    unsafe {
        py::PyErr_Fetch(&mut t, &mut v, &mut tb);
        if t.is_null() {
            return None;
        }
        py::PyErr_NormalizeException(&mut t, &mut v, &mut tb);
    }
    let t = PyObj::owned(t).ok()?;
    let v = PyObj::owned(v).unwrap_or_else(|_| none());
    Some((t, v, PyObj::owned(tb).ok()))
}

thread_local! {
    /// Time this thread spent waiting for the GIL, and how many times it
    /// took it, since `gil_wait_reset` (the request's `gil_wait_*`).
    static GIL_WAIT: std::cell::Cell<(std::time::Duration, u64)> =
        const { std::cell::Cell::new((std::time::Duration::ZERO, 0)) };
}

/// Starts counting GIL waits for a request, from its first acquisition.
pub fn gil_wait_reset(first: std::time::Duration) {
    GIL_WAIT.with(|w| w.set((first, 1)));
}

/// The GIL waits counted since `gil_wait_reset`.
pub fn gil_wait() -> (std::time::Duration, u64) {
    GIL_WAIT.with(|w| w.get())
}

/// Takes the GIL with `ts`, counting the wait.
///
/// # Safety
/// `ts` is the calling thread's own thread state, not current anywhere.
pub unsafe fn acquire_counted(ts: *mut py::PyThreadState) -> std::time::Duration {
    let t0 = std::time::Instant::now();
    // SAFETY: the caller's promise.
    unsafe { py::PyEval_RestoreThread(ts) };
    let waited = t0.elapsed();
    GIL_WAIT.with(|w| {
        let (d, n) = w.get();
        w.set((d + waited, n + 1));
    });
    waited
}

/// Runs `f` with the GIL released (for blocking I/O).
pub fn allow_threads<T>(f: impl FnOnce() -> T) -> T {
    struct Reacquire(*mut py::PyThreadState);
    impl Drop for Reacquire {
        fn drop(&mut self) {
            // SAFETY: the state PyEval_SaveThread gave this thread below.
            unsafe { acquire_counted(self.0) };
        }
    }
    // SAFETY: GIL held by this thread; it is given back when `_guard` drops,
    // even if `f` panics.
    let _guard = Reacquire(unsafe { py::PyEval_SaveThread() });
    f()
}

/// Raises RuntimeError(msg).
pub fn raise_runtime(msg: &str) {
    raise(Exc::RuntimeError, msg)
}
