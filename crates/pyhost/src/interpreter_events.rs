//! What the lifecycle tells every interpreter: the process is stopping
//! (`process_stopping`), or a signal came (`process_signal`).

use super::object::{self, PyObj, PyResult};
use super::runtime::{
    describe_error, drop_states_of_exited_threads, interpreter_names, with_interpreter,
};
use pyo3_ffi as py;
use std::time::Duration;

/// Tells one interpreter the process is stopping (its `process_stopping`
/// subscribers). Python's
/// faulthandler is armed to dump this interpreter's thread stacks to the
/// error log shortly before `remaining` runs out. Returns the subscribers
/// that raised.
pub fn stop_interpreter(
    name: &str,
    reason: &str,
    remaining: Duration,
) -> Result<Vec<String>, String> {
    with_interpreter(name, |interp| {
        // Before faulthandler is armed: it must list live threads only.
        drop_states_of_exited_threads(interp.state());
        let result = (|| -> PyResult<Vec<String>> {
            let module = object::sys_module(c"mod_wsgi")?;
            // SAFETY: GIL held inside with_interpreter. faulthandler is a
            // single-phase extension:
            // an interpreter with its own GIL cannot load it, and then has
            // no stack dump on the watchdog's path.
            let fh = PyObj::owned(unsafe { py::PyImport_ImportModule(c"faulthandler".as_ptr()) });
            if fh.is_err() {
                object::clear_error();
            }
            if let Ok(fh) = &fh {
                let dump_after = remaining
                    .saturating_sub(Duration::from_millis(300))
                    .as_secs_f64()
                    .max(0.05);
                // SAFETY: as above; a float for the timeout.
                let timeout = PyObj::owned(unsafe { py::PyFloat_FromDouble(dump_after) })?;
                fh.getattr(c"dump_traceback_later")?.call(&[
                    &timeout,
                    &object::boolean(false),
                    &object::int(2)?,
                ])?;
            }
            let failed = module
                .getattr(c"_stopping")?
                .call(&[&object::str_utf8(reason)?])?;
            if let Ok(fh) = &fh {
                let _ = fh
                    .getattr(c"cancel_dump_traceback_later")
                    .and_then(|c| c.call(&[]));
            }
            // SAFETY: GIL held; `failed` is the list _stopping returns.
            let n = unsafe { py::PyList_Size(failed.as_ptr()) };
            let mut out = Vec::new();
            for i in 0..n.max(0) {
                if let Ok(item) = object::list_item(&failed, i) {
                    out.push(item.to_text());
                }
            }
            Ok(out)
        })();
        result.map_err(|_| describe_error(Some(interp)))
    })?
}

/// Delivers a `process_signal` event to every interpreter's subscribers.
pub fn publish_signal(signum: i32, signame: &str) {
    for name in interpreter_names() {
        let r = with_interpreter(&name, |interp| {
            let call = object::sys_module(c"mod_wsgi")
                .and_then(|m| m.getattr(c"_signal"))
                .and_then(|f| f.call(&[&object::int(signum as i64)?, &object::str_utf8(signame)?]));
            call.map(drop).map_err(|_| describe_error(Some(interp)))
        });
        if let Ok(Err(e)) | Err(e) = r {
            super::host::log(
                super::host::level::ERR,
                &format!("process_signal in '{}': {}", name, e),
            );
        }
    }
}
