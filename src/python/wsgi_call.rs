//! Running one request through a WSGI application in this process
//! (embedded mode): the environ, the call, and what to tell Apache after.

use super::channel::{Channel, Preread};
use super::native;
use super::object::{self, PyObj, PyResult};
use super::runtime::{self, Interpreter};
use crate::apache::{ffi, log, request};
use std::ffi::c_int;
use wsgi_core::environ::Environ;

/// Everything the handler resolved about which application to run.
pub struct AppTarget {
    pub script: String,
    /// The script's modification time as Apache saw it (ns since the epoch).
    pub script_mtime_ns: i64,
    pub callable: String,
    pub application_group: String,
    pub process_group: String,
    pub reload: bool,
    pub sendfile: bool,
    pub multithread: bool,
    pub multiprocess: bool,
    pub https: bool,
}

/// How running the application ended.
pub enum Outcome {
    Done,
    /// The client went away; nothing to report to it.
    ClientGone,
    /// The application failed (already logged with its traceback).
    Failed {
        headers_sent: bool,
    },
}

/// Runs the application over `chan` (GIL taken and released inside) and
/// returns how it ended plus the channel, for the caller to finish with.
pub fn run_app(
    chan: Channel,
    target: &AppTarget,
    cgi: &Environ,
) -> Result<(Outcome, Option<Channel>), String> {
    runtime::with_interpreter(&target.application_group, |interp| {
        object::gil_wait_reset(runtime::last_gil_wait());
        let handle = native::new_handle(chan).map_err(|_| runtime::describe_error(Some(interp)))?;
        native::set_current(handle.as_ptr());
        let result = call_app(interp, target, cgi, &handle);
        native::set_current(std::ptr::null_mut());
        let state = native::state_of(handle.as_ptr()).expect("our own capsule");
        let outcome = match result {
            Ok(_) => Outcome::Done,
            Err(_) if state.client_gone() => {
                object::clear_error();
                state.log(
                    ffi::APLOG_INFO,
                    "the client closed the connection before the response was complete",
                );
                Outcome::ClientGone
            }
            Err(_) => {
                let text = runtime::describe_error(Some(interp));
                state.log(
                    ffi::APLOG_ERR,
                    &format!(
                        "exception while running WSGI script '{}' (application group '{}'):",
                        target.script, target.application_group
                    ),
                );
                for line in text.trim_end().lines() {
                    state.log(ffi::APLOG_ERR, line);
                }
                Outcome::Failed {
                    headers_sent: state.headers_sent(),
                }
            }
        };
        Ok((outcome, state.detach()))
    })?
}

/// Embedded mode: runs the application for `r` and returns the handler's
/// status for Apache.
pub fn run(r: *mut ffi::request_rec, target: &AppTarget, cgi: &Environ) -> c_int {
    // A small body (known length, no 100-continue) is read before the
    // application starts, as daemon mode sends it with the request.
    let preread = match request::read_small_body(r, cgi) {
        Ok(body) => body.map(Preread::new),
        Err(status) => {
            log::request(
                ffi::APLOG_INFO,
                r,
                "reading the request body from the client failed",
            );
            return status;
        }
    };
    match run_app(Channel::Apache(r, preread), target, cgi) {
        Ok((Outcome::Done, _)) => {
            // The GIL is released: the body's end and what Apache still
            // holds go out now (see request::Then::End), unless the body
            // was short, which keeps Apache's own ending.
            if request::keeps_connection(r) {
                request::end_body(r);
            }
            ffi::OK
        }
        Ok((Outcome::ClientGone, _)) => ffi::OK,
        Ok((Outcome::Failed { headers_sent: true }, _)) => {
            // Too late for a 500: make sure the client sees a cut response.
            request::abort_response(r);
            ffi::OK
        }
        Ok((
            Outcome::Failed {
                headers_sent: false,
            },
            _,
        )) => ffi::HTTP_INTERNAL_SERVER_ERROR,
        Err(e) => {
            log::request(ffi::APLOG_ERR, r, &e);
            ffi::HTTP_INTERNAL_SERVER_ERROR
        }
    }
}

fn call_app(interp: &Interpreter, t: &AppTarget, cgi: &Environ, handle: &PyObj) -> PyResult<PyObj> {
    let environ = build_environ(interp, t, cgi, handle)?;
    let run = PyObj::borrowed(interp.run)?;
    run.call(&[
        &object::str_utf8(&t.script)?,
        &object::int(t.script_mtime_ns)?,
        &object::str_utf8(&t.callable)?,
        &object::boolean(t.reload),
        &object::boolean(t.sendfile),
        &environ,
        handle,
    ])
}

fn build_environ(
    interp: &Interpreter,
    t: &AppTarget,
    cgi: &Environ,
    handle: &PyObj,
) -> PyResult<PyObj> {
    let env = object::new_dict()?;
    for (k, v) in cgi.iter() {
        env.dict_set(&object::str_latin1(k)?, &object::str_latin1(v)?)?;
    }
    let set = |k: &std::ffi::CStr, v: PyObj| env.dict_set_str(k, &v);
    set(
        c"wsgi.version",
        object::tuple(vec![object::int(1)?, object::int(0)?])?,
    )?;
    set(
        c"wsgi.url_scheme",
        object::str_utf8(if t.https { "https" } else { "http" })?,
    )?;
    set(
        c"wsgi.input",
        PyObj::borrowed(interp.input_type)?.call(&[handle])?,
    )?;
    set(c"wsgi.input_terminated", object::boolean(true))?;
    let errors_level = object::int(ffi::APLOG_ERR as i64)?;
    let errors_name = object::str_utf8("wsgi.errors")?;
    set(
        c"wsgi.errors",
        PyObj::borrowed(interp.log_type)?.call(&[handle, &errors_level, &errors_name])?,
    )?;
    set(c"wsgi.multithread", object::boolean(t.multithread))?;
    set(c"wsgi.multiprocess", object::boolean(t.multiprocess))?;
    set(c"wsgi.run_once", object::boolean(false))?;
    set(c"wsgi.file_wrapper", PyObj::borrowed(interp.file_wrapper)?)?;
    set(
        c"mod_wsgi.process_group",
        object::str_utf8(&t.process_group)?,
    )?;
    set(
        c"mod_wsgi.application_group",
        object::str_utf8(&t.application_group)?,
    )?;
    set(c"mod_wsgi.callable_object", object::str_utf8(&t.callable)?)?;
    set(
        c"mod_wsgi.script_reloading",
        object::str_utf8(if t.reload { "1" } else { "0" })?,
    )?;
    set(
        c"mod_wsgi.enable_sendfile",
        object::str_utf8(if t.sendfile { "1" } else { "0" })?,
    )?;
    set(
        c"mod_wsgi.version",
        object::tuple(vec![object::int(4)?, object::int(9)?, object::int(4)?])?,
    )?;
    Ok(env)
}
