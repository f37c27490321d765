//! The Python modules of each interpreter: the native `_mod_wsgi_rs`, the
//! public `mod_wsgi` and the private adapter (`python/`), loaded in that
//! order, and the objects the host keeps from them.

use super::native;
use super::object::{self, PyObj, PyResult};
use super::runtime::{Interpreter, ProcessInfo};
use pyo3_ffi as py;
use std::ffi::{CStr, CString};

/// The host's own Python, compiled under the files' real names; their
/// lines are handed to linecache too, so tracebacks show source lines
/// wherever the module is installed.
pub(crate) struct Source {
    pub(crate) module: &'static CStr,
    filename: &'static str,
    text: &'static str,
}

const PUBLIC: Source = Source {
    module: c"mod_wsgi",
    filename: concat!(env!("CARGO_MANIFEST_DIR"), "/python/mod_wsgi.py"),
    text: include_str!("../python/mod_wsgi.py"),
};

pub(crate) const ADAPTER: Source = Source {
    module: c"_mod_wsgi_rs_adapter",
    filename: concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/python/_mod_wsgi_rs_adapter.py"
    ),
    text: include_str!("../python/_mod_wsgi_rs_adapter.py"),
};

/// Runs `src` as the module of its name, registered in sys.modules (GIL held).
fn load_module(src: &Source) -> PyResult<PyObj> {
    let text = CString::new(src.text).expect("no NUL in the host's Python");
    let filename = CString::new(src.filename).expect("no NUL in a path");
    let module = object::sys_module(src.module)?;
    module.setattr(c"__file__", &object::str_utf8(src.filename)?)?;
    // SAFETY: GIL held; NUL-terminated source and file name.
    let code = PyObj::owned(unsafe {
        py::Py_CompileString(text.as_ptr(), filename.as_ptr(), py::Py_file_input)
    })?;
    // SAFETY: GIL held; PyModule_GetDict returns a borrowed reference.
    let globals = PyObj::borrowed(unsafe { py::PyModule_GetDict(module.as_ptr()) })?;
    // SAFETY: GIL held; module globals serve as both globals and locals.
    PyObj::owned(unsafe {
        py::PyEval_EvalCode(code.as_ptr(), globals.as_ptr(), globals.as_ptr())
    })?;
    Ok(module)
}

/// Creates the `_mod_wsgi_rs`, `mod_wsgi` and adapter modules in the
/// current interpreter (GIL held) and returns the objects the host calls.
pub(crate) fn bootstrap(name: &str, info: &ProcessInfo) -> PyResult<Interpreter> {
    native::install()?;
    let public = load_module(&PUBLIC)?;
    let adapter = load_module(&ADAPTER)?;
    let remember = public.getattr(c"_remember_source")?;
    for src in [&PUBLIC, &ADAPTER] {
        remember.call(&[
            &object::str_utf8(src.filename)?,
            &object::str_utf8(src.text)?,
        ])?;
    }
    public.setattr(c"FileWrapper", &adapter.getattr(c"FileWrapper")?)?;
    let a = &info.apache;
    adapter.getattr(c"_apache_module")?.call(&[
        &object::tuple(vec![
            object::int(a.version.0)?,
            object::int(a.version.1)?,
            object::int(a.version.2)?,
        ])?,
        &object::str_utf8(&a.mpm_name)?,
        &object::int(a.maximum_processes)?,
        &object::int(a.threads_per_process)?,
        &object::str_utf8(&a.description)?,
        &object::str_utf8(&a.build_date)?,
        &object::boolean(a.embedded),
    ])?;
    public.setattr(c"process_group", &object::str_utf8(&info.process_group)?)?;
    public.setattr(c"application_group", &object::str_utf8(name)?)?;
    public.setattr(c"maximum_processes", &object::int(info.maximum_processes)?)?;
    public.setattr(
        c"threads_per_process",
        &object::int(info.threads_per_process)?,
    )?;

    let s = &info.settings;
    let paths = s
        .python_path
        .iter()
        .chain(s.container_paths.for_interpreter(name).iter())
        .map(|p| object::str_utf8(p))
        .collect::<PyResult<Vec<_>>>()?;
    let eggs = match &s.python_eggs {
        Some(e) => object::str_utf8(e)?,
        None => object::none(),
    };
    let switch = match super::gil_mode::switch_interval_in_effect(name, s.switch_interval) {
        Some(v) => object::float(v)?,
        None => object::none(),
    };
    let text_or_none = |v: &Option<String>| match v {
        Some(t) => object::str_utf8(t),
        None => Ok(object::none()),
    };
    let path_first = text_or_none(&s.path_first)?;
    let home_env = text_or_none(&s.home_env)?;
    let r = &s.container_restrictions;
    adapter.getattr(c"_setup")?.call(&[
        &object::tuple(paths)?,
        &object::boolean(r.stdin.for_interpreter(name, s.restrict_stdin)),
        &object::boolean(r.stdout.for_interpreter(name, s.restrict_stdout)),
        &object::boolean(r.signal.for_interpreter(name, s.restrict_signal)),
        &eggs,
        &switch,
        &path_first,
        &home_env,
    ])?;

    let keep = |m: &PyObj, attr: &CStr| m.getattr(attr).map(PyObj::into_ptr);
    Ok(Interpreter {
        name: name.to_string(),
        state: std::ptr::null_mut(),
        run: keep(&adapter, c"_run")?,
        input_type: keep(&adapter, c"Input")?,
        log_type: keep(&adapter, c"_Log")?,
        file_wrapper: keep(&adapter, c"FileWrapper")?,
        format_exception: keep(&public, c"_format_exception")?,
        environ_keys: Default::default(),
    })
}
