//! Running one request through a WSGI application in this process: the
//! environ, the call, and how it ended.

#![forbid(unsafe_code)]

use super::host::level;
use super::io::RequestIo;
use super::metrics;
use super::metrics_interval;
use super::native;
use super::object::{self, PyObj, PyResult};
use super::request_handle;
use super::request_state::RequestState;
use super::runtime::{self, Interpreter};
use super::slow_requests;
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
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    Done,
    /// The client went away; nothing to report to it.
    ClientGone,
    /// The application failed (already logged with its traceback).
    Failed {
        headers_sent: bool,
    },
}

/// Runs the application over `io` (GIL taken and released inside) and
/// returns how it ended plus the I/O, for the caller to finish with (None
/// if the application's objects still hold it, which they cannot use).
pub fn run_app<Io: RequestIo>(
    io: Io,
    target: &AppTarget,
    cgi: &Environ,
) -> Result<(Outcome, Option<Io>), String> {
    let started = std::time::Instant::now();
    metrics::request_started();
    let result = run_in_interpreter(io, target, cgi);
    metrics::request_finished(started.elapsed());
    result
}

fn run_in_interpreter<Io: RequestIo>(
    io: Io,
    target: &AppTarget,
    cgi: &Environ,
) -> Result<(Outcome, Option<Io>), String> {
    runtime::with_interpreter(&target.application_group, |interp| {
        object::gil_wait_reset(runtime::last_gil_wait());
        let head_request = cgi.get(b"REQUEST_METHOD") == Some(&b"HEAD"[..]);
        let handle = request_handle::new_handle(Box::new(io), head_request)
            .map_err(|_| runtime::describe_error(Some(interp)))?;
        // Whatever happens below (a panic included), the channel is taken
        // from the handle before this returns: the application may keep
        // the handle, never the embedder's I/O (which may borrow the
        // embedder's request for this call only).
        let _detach = DetachOnExit(handle.as_ptr());
        // When the application starts; with metrics on, its CPU so far too.
        let start = metrics::now_us();
        let recording = metrics::recording().then(|| {
            let slot = metrics::thread_slot();
            metrics::mark_in_flight(slot, start);
            slow_requests::begin(slot, cgi, start, metrics::active());
            (start, object::thread_cpu_time())
        });
        native::set_current(handle.as_ptr());
        let result = call_app(interp, target, cgi, &handle);
        native::set_current(std::ptr::null_mut());
        let mut state = request_handle::state_when_free(handle.as_ptr()).expect("our own capsule");
        match recording {
            Some((start, cpu)) => record_sample(&state, cgi, start, cpu),
            // Recording began during this request (the application asked
            // for it): mod_wsgi 6.1 counts the request in the interval; its
            // CPU before the call is not known and is taken as none.
            None if metrics::recording() => {
                record_sample(&state, cgi, start, object::thread_cpu_time())
            }
            None => {}
        }
        let outcome = match result {
            Ok(_) => Outcome::Done,
            Err(_) if state.client_gone() => {
                object::clear_error();
                state.log(
                    level::INFO,
                    "the client closed the connection before the response was complete",
                );
                Outcome::ClientGone
            }
            Err(_) => {
                let text = runtime::describe_error(Some(interp));
                state.log(
                    level::ERR,
                    &format!(
                        "exception while running WSGI script '{}' (application group '{}'):",
                        target.script, target.application_group
                    ),
                );
                for line in text.trim_end().lines() {
                    state.log(level::ERR, line);
                }
                Outcome::Failed {
                    headers_sent: state.headers_sent(),
                }
            }
        };
        let io = state
            .detach()
            .and_then(|io| io.into_any().downcast::<Io>().ok())
            .map(|io| *io);
        Ok((outcome, io))
    })?
}

/// Adds the finished request to request_metrics()'s interval.
fn record_sample(state: &RequestState, cgi: &Environ, application_start: u64, cpu0: f64) {
    let us = |key: &[u8]| {
        cgi.get(key)
            .and_then(|v| std::str::from_utf8(v).ok()?.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let (gil_wait, gil_waits) = object::gil_wait();
    let slot = metrics::thread_slot();
    metrics::mark_in_flight(slot, 0);
    let s = &state.stats;
    let sample = metrics_interval::Sample {
        request_start: us(b"mod_wsgi.request_start"),
        queue_start: us(b"mod_wsgi.queue_start"),
        daemon_start: us(b"mod_wsgi.daemon_start"),
        application_start,
        application_finish: metrics::now_us(),
        input_bytes: s.input_length,
        input_reads: s.input_reads,
        input_us: s.input_time.as_micros() as u64,
        output_bytes: state.length.written(),
        output_writes: s.output_writes,
        output_us: s.output_time.as_micros() as u64,
        status: state.head.as_ref().map_or(0, |h| h.status),
        gil_wait_us: gil_wait.as_micros() as u64,
        gil_wait_count: gil_waits,
        slot,
        cpu: (object::thread_cpu_time() - cpu0).max(0.0),
    };
    metrics_interval::record(&sample);
    slow_requests::finish(
        slot,
        slow_requests::Outcome {
            finished_at: sample.application_finish,
            status: sample.status,
            input_bytes: sample.input_bytes,
            input_reads: sample.input_reads,
            input_read_time: sample.input_us,
            output_bytes: sample.output_bytes,
            output_writes: sample.output_writes,
            output_write_time: sample.output_us,
            gil_wait_time: sample.gil_wait_us,
            gil_wait_count: sample.gil_wait_count,
            // In flight now, this request included (as at its start).
            active: metrics::active(),
        },
    );
}

/// Detaches a handle's channel when dropped (if `run_app` has not taken it).
struct DetachOnExit(*mut pyo3_ffi::PyObject);

impl Drop for DetachOnExit {
    fn drop(&mut self) {
        if let Ok(mut state) = request_handle::state_when_free(self.0) {
            drop(state.detach());
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

/// The environ's times, which mod_wsgi 6 gives as float seconds.
const TIMES: [&std::ffi::CStr; 3] = [
    c"mod_wsgi.request_start",
    c"mod_wsgi.queue_start",
    c"mod_wsgi.daemon_start",
];

/// A time the host passed in µs since the epoch, in seconds (0.0 if it is
/// not a number).
fn micros_as_seconds(v: &[u8]) -> f64 {
    std::str::from_utf8(v)
        .ok()
        .and_then(|t| t.parse::<u64>().ok())
        .map_or(0.0, |us| us as f64 / 1e6)
}

fn now_as_seconds() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// The CGI entries' names and values (room left for the WSGI and mod_wsgi
/// keys), and which of the times were among them.
#[allow(clippy::type_complexity)]
fn cgi_entries<'c>(cgi: &'c Environ) -> PyResult<(Vec<&'c [u8]>, Vec<PyObj>, [bool; 3])> {
    let mut values = Vec::with_capacity(cgi.len() + 24);
    let mut times_seen = [false; 3];
    for (k, v) in cgi.iter() {
        // mod_wsgi 6's times are float seconds; the host passes µs.
        let value = match TIMES.iter().position(|t| t.to_bytes() == k) {
            Some(i) => {
                times_seen[i] = true;
                object::float(micros_as_seconds(v))?
            }
            None => object::str_latin1(v)?,
        };
        values.push(value);
    }
    let mut names: Vec<&[u8]> = Vec::with_capacity(values.capacity());
    names.extend(cgi.iter().map(|(k, _)| k));
    Ok((names, values, times_seen))
}

fn build_environ(
    interp: &Interpreter,
    t: &AppTarget,
    cgi: &Environ,
    handle: &PyObj,
) -> PyResult<PyObj> {
    // The values first: making them may run Python code, which may let
    // another thread of this interpreter build its environ; the key cache
    // is locked only while no Python code runs.
    let (mut names, mut values, times_seen) = cgi_entries(cgi)?;
    let mut set = |k: &'static std::ffi::CStr, v: PyObj| -> PyResult<()> {
        names.push(k.to_bytes());
        values.push(v);
        Ok(())
    };
    // Embedded mode has no queue or daemon start: 0.0, as in mod_wsgi 6.
    for (t, seen) in TIMES.iter().zip(times_seen) {
        if !seen {
            set(t, object::float(0.0)?)?;
        }
    }
    set(
        c"mod_wsgi.application_start",
        object::float(now_as_seconds())?,
    )?;
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
    let errors_level = object::int(level::ERR as i64)?;
    let errors_name = object::str_utf8("wsgi.errors")?;
    set(
        c"wsgi.errors",
        PyObj::borrowed(interp.log_type)?.call(&[handle, &errors_level, &errors_name])?,
    )?;
    set(c"wsgi.multithread", object::boolean(t.multithread))?;
    set(c"wsgi.multiprocess", object::boolean(t.multiprocess))?;
    set(c"wsgi.run_once", object::boolean(false))?;
    set(c"wsgi.file_wrapper", PyObj::borrowed(interp.file_wrapper)?)?;
    let flag = |on: bool| if on { "1" } else { "0" };
    for (k, v) in [
        (c"mod_wsgi.process_group", t.process_group.as_str()),
        (c"mod_wsgi.application_group", &t.application_group),
        (c"mod_wsgi.callable_object", &t.callable),
        (c"mod_wsgi.script_reloading", flag(t.reload)),
        (c"mod_wsgi.enable_sendfile", flag(t.sendfile)),
    ] {
        set(k, object::str_utf8(v)?)?;
    }
    set(c"mod_wsgi.version", native::api_version()?)?;
    // The request thread's slot, as request_metrics() numbers them.
    set(
        c"mod_wsgi.thread_id",
        object::int(metrics::thread_slot() as i64)?,
    )?;
    if let Some(p) = runtime::process_info() {
        let (a, b, c) = p.apache.version;
        let v = object::tuple(vec![object::int(a)?, object::int(b)?, object::int(c)?])?;
        set(c"apache.version", v)?;
    }
    let keys = interp.environ_keys.keys(&names)?;
    let env = object::new_dict()?;
    for (k, v) in keys.iter().zip(values.iter()) {
        env.dict_set(k, v)?;
    }
    Ok(env)
}
