//! `_mod_wsgi_rs`: the native functions the bootstrap module calls. Each
//! request's state (request_state.rs) lives in a capsule owned by Python,
//! so a stray reference kept by an application can never point at freed
//! memory.

use super::host::{self, level};
use super::object::raise_runtime;
use super::object::{self, PyErrSet, PyObj, PyResult};
use super::request_handle::{shared_of, state_of, take};
use super::request_state::Head;
use pyo3_ffi as py;
use std::ffi::{c_char, CStr, CString};
use wsgi_core::response::{check_app_header, parse_status};

// ---- Argument helpers ------------------------------------------------------

fn raise_type(msg: &str) {
    object::raise(object::Exc::TypeError, msg)
}

fn raise_value(msg: &str) {
    object::raise(object::Exc::ValueError, msg)
}

fn args<'a>(
    ptr: *mut *mut py::PyObject,
    n: py::Py_ssize_t,
    want: usize,
    name: &str,
) -> PyResult<&'a [*mut py::PyObject]> {
    if n as usize != want {
        raise_type(&format!(
            "{}() takes {} arguments ({} given)",
            name, want, n
        ));
        return Err(PyErrSet);
    }
    if want == 0 {
        // (CPython may pass a null array for no arguments.)
        return Ok(&[]);
    }
    // SAFETY: CPython passes `n` valid borrowed references at `ptr`.
    Ok(unsafe { std::slice::from_raw_parts(ptr, want) })
}

fn as_f64(o: *mut py::PyObject) -> PyResult<f64> {
    // SAFETY: GIL held; raises TypeError on a non-number.
    let v = unsafe { py::PyFloat_AsDouble(o) };
    // SAFETY: GIL held.
    if v == -1.0 && !unsafe { py::PyErr_Occurred() }.is_null() {
        return Err(PyErrSet);
    }
    Ok(v)
}

fn as_i64(o: *mut py::PyObject) -> PyResult<i64> {
    // SAFETY: GIL held; raises TypeError/OverflowError on bad input.
    let v = unsafe { py::PyLong_AsLongLong(o) };
    // SAFETY: GIL held.
    if v == -1 && !unsafe { py::PyErr_Occurred() }.is_null() {
        return Err(PyErrSet);
    }
    Ok(v)
}

fn as_bytes<'a>(o: *mut py::PyObject) -> PyResult<&'a [u8]> {
    let mut p: *mut c_char = std::ptr::null_mut();
    let mut len: py::Py_ssize_t = 0;
    // SAFETY: GIL held; raises TypeError if `o` is not bytes. The buffer
    // belongs to the immutable bytes object, which the caller keeps alive.
    if unsafe { py::PyBytes_AsStringAndSize(o, &mut p, &mut len) } < 0 {
        return Err(PyErrSet);
    }
    // SAFETY: see above.
    Ok(unsafe { std::slice::from_raw_parts(p.cast::<u8>(), len as usize) })
}

/// A header name or value: a `str` whose characters all fit in latin-1.
fn latin1(o: *mut py::PyObject, what: &str) -> PyResult<Vec<u8>> {
    let obj = PyObj::borrowed(o)?;
    let Some(text) = object::str_value(&obj) else {
        raise_type(&format!("{} must be str, not {}", what, type_name(o)));
        return Err(PyErrSet);
    };
    text.chars()
        .map(|c| u8::try_from(c as u32).ok())
        .collect::<Option<Vec<u8>>>()
        .ok_or_else(|| {
            raise_value(&format!(
                "{} {:?} is not latin-1 (ISO-8859-1) text",
                what, text
            ));
            PyErrSet
        })
}

fn type_name(o: *mut py::PyObject) -> String {
    // SAFETY: GIL held; every object has a type with a tp_name.
    unsafe {
        String::from_utf8_lossy(CStr::from_ptr((*py::Py_TYPE(o)).tp_name).to_bytes()).into_owned()
    }
}

fn parse_head(
    status: *mut py::PyObject,
    headers: *mut py::PyObject,
) -> PyResult<(Head, Option<u64>)> {
    let status_text = String::from_utf8(latin1(status, "the status")?).unwrap_or_default();
    let code = parse_status(&status_text).map_err(|e| {
        raise_value(&e);
        PyErrSet
    })?;
    // SAFETY: GIL held; PySequence_Fast returns a new list/tuple reference.
    let seq = PyObj::owned(unsafe {
        py::PySequence_Fast(headers, c"response headers must be a list".as_ptr())
    })?;
    // SAFETY: GIL held; `seq` is a list or tuple.
    let n = unsafe { py::PySequence_Size(seq.as_ptr()) };
    let mut out = Vec::with_capacity(n.max(0) as usize);
    let mut content_length = None;
    for i in 0..n {
        // SAFETY: GIL held; index in range; new reference.
        let item = PyObj::owned(unsafe { py::PySequence_GetItem(seq.as_ptr(), i) })?;
        // SAFETY: GIL held.
        let is_pair = unsafe {
            py::PyTuple_Check(item.as_ptr()) != 0 && py::PyTuple_Size(item.as_ptr()) == 2
        };
        if !is_pair {
            raise_type(&format!(
                "each response header must be a (name, value) tuple, not {}",
                type_name(item.as_ptr())
            ));
            return Err(PyErrSet);
        }
        // SAFETY: GIL held; borrowed items of a 2-tuple.
        let (k, v) = unsafe {
            (
                py::PyTuple_GetItem(item.as_ptr(), 0),
                py::PyTuple_GetItem(item.as_ptr(), 1),
            )
        };
        let name = latin1(k, "a header name")?;
        let value = latin1(v, "a header value")?;
        let name_s: String = name.iter().map(|&b| b as char).collect();
        let value_s: String = value.iter().map(|&b| b as char).collect();
        match check_app_header(&name_s, &value_s) {
            Ok(Some(n)) => content_length = Some(n),
            Ok(None) => {}
            Err(e) => {
                raise_value(&e);
                return Err(PyErrSet);
            }
        }
        out.push((
            CString::new(name).expect("checked"),
            CString::new(value).expect("checked"),
        ));
    }
    let status_line = CString::new(status_text).expect("checked: no control characters");
    Ok((
        Head {
            status: code,
            status_line,
            headers: out,
        },
        content_length,
    ))
}

// ---- The functions ----------------------------------------------------------

/// Runs a native function body: panics become RuntimeError, errors null.
fn entry(name: &str, body: impl FnOnce() -> PyResult<PyObj>) -> *mut py::PyObject {
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(body));
    match result {
        Ok(Ok(v)) => v.into_ptr(),
        Ok(Err(PyErrSet)) => std::ptr::null_mut(),
        Err(_) => {
            host::log(
                level::ERR,
                &format!("internal error: panic in _mod_wsgi_rs.{}", name),
            );
            raise_runtime("internal error in mod_wsgi-rs (see the error log)");
            std::ptr::null_mut()
        }
    }
}

unsafe extern "C" fn start_response(
    _m: *mut py::PyObject,
    a: *mut *mut py::PyObject,
    n: py::Py_ssize_t,
) -> *mut py::PyObject {
    entry("start_response", || {
        let a = args(a, n, 3, "start_response")?;
        let mut state = state_of(a[0])?;
        state.live()?;
        let (head, content_length) = parse_head(a[1], a[2])?;
        state.head = Some(head);
        state.length = wsgi_core::body_length::BodyLength::new(content_length);
        Ok(object::none())
    })
}

unsafe extern "C" fn write(
    _m: *mut py::PyObject,
    a: *mut *mut py::PyObject,
    n: py::Py_ssize_t,
) -> *mut py::PyObject {
    entry("write", || {
        let a = args(a, n, 2, "write")?;
        let mut state = state_of(a[0])?;
        state.write(as_bytes(a[1])?)?;
        Ok(object::none())
    })
}

unsafe extern "C" fn finish(
    _m: *mut py::PyObject,
    a: *mut *mut py::PyObject,
    n: py::Py_ssize_t,
) -> *mut py::PyObject {
    entry("finish", || {
        // finish(handle) or finish(handle, last_bytes)
        if n == 2 {
            let a = args(a, n, 2, "finish")?;
            let mut state = state_of(a[0])?;
            let data = as_bytes(a[1])?;
            state.write_final(data)?;
        } else {
            let a = args(a, n, 1, "finish")?;
            state_of(a[0])?.finish()?;
        }
        Ok(object::none())
    })
}

/// (input_reads, input_length, input_time, output_writes, output_length,
/// output_time, status) of a request so far; status 0 before start_response.
unsafe extern "C" fn stats(
    _m: *mut py::PyObject,
    a: *mut *mut py::PyObject,
    n: py::Py_ssize_t,
) -> *mut py::PyObject {
    entry("stats", || {
        let a = args(a, n, 1, "stats")?;
        let st = state_of(a[0])?;
        let s = &st.stats;
        // This thread's GIL waits since the request began (it runs the
        // whole request, and request_finished is published from it).
        let (gil_wait, gil_waits) = object::gil_wait();
        let d = object::new_dict()?;
        let fields = [
            (c"input_reads", object::int(s.input_reads as i64)?),
            (c"input_length", object::int(s.input_length as i64)?),
            (c"input_time", object::float(s.input_time.as_secs_f64())?),
            (c"output_writes", object::int(s.output_writes as i64)?),
            (c"output_length", object::int(st.length.written() as i64)?),
            (c"output_time", object::float(s.output_time.as_secs_f64())?),
            (
                c"status",
                object::int(st.head.as_ref().map_or(0, |h| h.status as i64))?,
            ),
            (c"gil_wait_time", object::float(gil_wait.as_secs_f64())?),
            (c"gil_wait_count", object::int(gil_waits as i64)?),
        ];
        for (k, v) in fields {
            d.dict_set_str(k, &v)?;
        }
        Ok(d)
    })
}

unsafe extern "C" fn start_recording_metrics(
    _m: *mut py::PyObject,
    a: *mut *mut py::PyObject,
    n: py::Py_ssize_t,
) -> *mut py::PyObject {
    entry("start_recording_metrics", || {
        // (the process's user and system CPU seconds now)
        let a = args(a, n, 2, "start_recording_metrics")?;
        super::metrics::start_recording((as_f64(a[0])?, as_f64(a[1])?));
        Ok(object::none())
    })
}

/// request_metrics()'s interval (None before recording): the dict of the
/// interval that ends now. Arguments: the process's CPU seconds now.
unsafe extern "C" fn request_interval(
    _m: *mut py::PyObject,
    a: *mut *mut py::PyObject,
    n: py::Py_ssize_t,
) -> *mut py::PyObject {
    entry("request_interval", || {
        let a = args(a, n, 2, "request_interval")?;
        if super::metrics::external() {
            return Ok(object::none());
        }
        let now = super::metrics::now();
        let Some(ended) = super::metrics_interval::drain(now, (as_f64(a[0])?, as_f64(a[1])?))
        else {
            return Ok(object::none());
        };
        let info = super::runtime::process_info();
        let max = info.map_or(1, |p| p.threads_per_process.max(1) as usize);
        let daemon = info.is_some_and(|p| !p.process_group.is_empty());
        super::metrics_dict::interval_dict(&ended, now, max, daemon)
    })
}

/// None before start_recording_metrics(); else the process's lifetime
/// totals as a tuple (restart_time, request_count, request_busy_time,
/// active_requests, request_threads).
unsafe extern "C" fn process_totals(
    _m: *mut py::PyObject,
    a: *mut *mut py::PyObject,
    n: py::Py_ssize_t,
) -> *mut py::PyObject {
    entry("process_totals", || {
        args(a, n, 0, "process_totals")?;
        if !super::metrics::recording() || super::metrics::external() {
            return Ok(object::none());
        }
        let (restart, count, busy, active, threads) = super::metrics::totals();
        object::tuple(vec![
            object::float(restart)?,
            object::int(count as i64)?,
            object::float(busy)?,
            object::int(active)?,
            object::int(threads as i64)?,
        ])
    })
}

/// None unless the host shows Apache's scoreboard to this process.
unsafe extern "C" fn server_metrics(
    _m: *mut py::PyObject,
    a: *mut *mut py::PyObject,
    n: py::Py_ssize_t,
) -> *mut py::PyObject {
    entry("server_metrics", || {
        args(a, n, 0, "server_metrics")?;
        match host::host().server_metrics() {
            Some(s) => super::scoreboard::to_dict(&s, super::metrics::now()),
            None => Ok(object::none()),
        }
    })
}

unsafe extern "C" fn read(
    _m: *mut py::PyObject,
    a: *mut *mut py::PyObject,
    n: py::Py_ssize_t,
) -> *mut py::PyObject {
    entry("read", || {
        let a = args(a, n, 2, "read")?;
        let mut state = state_of(a[0])?;
        let size = as_i64(a[1])?;
        object::bytes(&state.read(size)?)
    })
}

unsafe extern "C" fn sendfile(
    _m: *mut py::PyObject,
    a: *mut *mut py::PyObject,
    n: py::Py_ssize_t,
) -> *mut py::PyObject {
    entry("sendfile", || {
        let a = args(a, n, 4, "sendfile")?;
        let mut state = state_of(a[0])?;
        let (fd, offset, len) = (as_i64(a[1])?, as_i64(a[2])?, as_i64(a[3])?);
        if fd < 0 || offset < 0 || len < 0 {
            raise_value(
                "sendfile() needs a file descriptor, offset and length that are not negative",
            );
            return Err(PyErrSet);
        }
        // True: sent as a file; False: the caller iterates the wrapper.
        Ok(object::boolean(state.send_file(
            fd as i32,
            offset as u64,
            len as u64,
        )?))
    })
}

thread_local! {
    /// The request this thread is running the application for, if any:
    /// print() and sys.stderr lines written meanwhile belong to it.
    static CURRENT: std::cell::Cell<*mut py::PyObject> = const { std::cell::Cell::new(std::ptr::null_mut()) };
}

/// Marks `handle` as this thread's request while the application runs
/// (null: none). The handle outlives the mark: run_app clears it first.
pub fn set_current(handle: *mut py::PyObject) {
    CURRENT.with(|c| c.set(handle));
}

unsafe extern "C" fn log_line(
    _m: *mut py::PyObject,
    a: *mut *mut py::PyObject,
    n: py::Py_ssize_t,
) -> *mut py::PyObject {
    entry("log", || {
        let a = args(a, n, 3, "log")?;
        let level = as_i64(a[1])?.clamp(0, 7) as i32;
        let text = object::str_value(&PyObj::borrowed(a[2])?)
            .unwrap_or_else(|| "<non-str log text>".into());
        // SAFETY: GIL held; comparing against the None singleton.
        if a[0] == unsafe { py::Py_None() } {
            let current = CURRENT.with(|c| c.get());
            // A request whose state another thread holds right now: the
            // line goes to the process's log rather than waiting.
            let held = (!current.is_null())
                .then(|| shared_of(current).ok().and_then(take))
                .flatten();
            match held {
                Some(state) => state.log(level, &text),
                None => host::log(level, &text),
            }
        } else {
            state_of(a[0])?.log(level, &text);
        }
        Ok(object::none())
    })
}

unsafe extern "C" fn set_activity(
    _m: *mut py::PyObject,
    a: *mut *mut py::PyObject,
    n: py::Py_ssize_t,
) -> *mut py::PyObject {
    entry("set_activity", || {
        let a = args(a, n, 1, "set_activity")?;
        let text = object::str_value(&PyObj::borrowed(a[0])?).unwrap_or_default();
        host::host().activity(&text);
        Ok(object::none())
    })
}

unsafe extern "C" fn script_loaded(
    _m: *mut py::PyObject,
    a: *mut *mut py::PyObject,
    n: py::Py_ssize_t,
) -> *mut py::PyObject {
    entry("script_loaded", || {
        let a = args(a, n, 1, "script_loaded")?;
        // SAFETY: GIL held; comparing against the True singleton.
        let ok = a[0] == unsafe { py::Py_True() };
        host::host().script_loaded(ok);
        Ok(object::none())
    })
}

#[repr(transparent)]
struct MethodTable([py::PyMethodDef; 14]);
// SAFETY: the table is only read by Python after installation.
unsafe impl Sync for MethodTable {}

const fn method(name: &'static CStr, f: py::PyCFunctionFast) -> py::PyMethodDef {
    py::PyMethodDef {
        ml_name: name.as_ptr(),
        ml_meth: py::PyMethodDefPointer { PyCFunctionFast: f },
        ml_flags: py::METH_FASTCALL,
        ml_doc: std::ptr::null(),
    }
}

static METHODS: MethodTable = MethodTable([
    method(c"start_response", start_response),
    method(c"write", write),
    method(c"finish", finish),
    method(c"read", read),
    method(c"sendfile", sendfile),
    method(c"log", log_line),
    method(c"set_activity", set_activity),
    method(c"script_loaded", script_loaded),
    method(c"stats", stats),
    method(c"start_recording_metrics", start_recording_metrics),
    method(c"process_totals", process_totals),
    method(c"request_interval", request_interval),
    method(c"server_metrics", server_metrics),
    py::PyMethodDef::zeroed(),
]);

/// The mod_wsgi API level the `mod_wsgi` module provides (code written for
/// mod_wsgi compares `mod_wsgi.version` against it), also the environ's
/// `mod_wsgi.version`.
pub const API_VERSION: [i64; 3] = [6, 1, 1];

pub fn api_version() -> PyResult<PyObj> {
    object::tuple(
        API_VERSION
            .iter()
            .map(|&n| object::int(n))
            .collect::<PyResult<Vec<_>>>()?,
    )
}

/// Creates `_mod_wsgi_rs` in the current interpreter and registers it in
/// `sys.modules` (GIL held).
pub fn install() -> PyResult<()> {
    // SAFETY: GIL held; PyModule_AddFunctions only reads the static table
    // (the *mut is an artefact of the C signature).
    unsafe {
        let m = PyObj::owned(py::PyModule_New(c"_mod_wsgi_rs".as_ptr()))?;
        if py::PyModule_AddFunctions(m.as_ptr(), METHODS.0.as_ptr() as *mut py::PyMethodDef) < 0 {
            return Err(PyErrSet);
        }
        let version = object::str_utf8(concat!("mod_wsgi-rs/", env!("CARGO_PKG_VERSION")))?;
        m.setattr(c"server_version", &version)?;
        m.setattr(c"api_version", &api_version()?)?;
        for (name, value) in [
            (c"LOG_CRIT", level::CRIT),
            (c"LOG_ERR", level::ERR),
            (c"LOG_WARNING", level::WARNING),
            (c"LOG_NOTICE", level::NOTICE),
            (c"LOG_INFO", level::INFO),
            (c"LOG_DEBUG", level::DEBUG),
        ] {
            m.setattr(name, &object::int(value as i64)?)?;
        }
        let modules = PyObj::borrowed(py::PyImport_GetModuleDict())?;
        modules.dict_set_str(c"_mod_wsgi_rs", &m)
    }
}
