//! The dict `request_metrics()` returns for an ended interval, with
//! mod_wsgi 6.1's keys (the Python side adds CPU rates and memory).

#![forbid(unsafe_code)]

use super::metrics;
use super::metrics_interval::{Interval, Phase};
use super::object::{self, PyObj, PyResult};
use std::ffi::CString;

fn set(d: &PyObj, key: &str, v: PyObj) -> PyResult<()> {
    let k = CString::new(key).expect("our keys have no NUL");
    d.dict_set_str(&k, &v)
}

fn opt_int(v: Option<u64>) -> PyResult<PyObj> {
    v.map_or_else(|| Ok(object::none()), |n| object::int(n as i64))
}

/// `<name>_time` (the mean over `count`, None when the phase does not
/// apply), `_min_us`, `_max_us`, `_buckets`.
fn phase(d: &PyObj, name: &str, p: &Phase, count: u64, applies: bool) -> PyResult<()> {
    let mean = if applies && count > 0 {
        object::float(p.total / count as f64)?
    } else if applies {
        object::float(0.0)?
    } else {
        object::none()
    };
    set(d, &format!("{name}_time"), mean)?;
    set(
        d,
        &format!("{name}_time_min_us"),
        opt_int(p.min_us.filter(|_| applies))?,
    )?;
    set(
        d,
        &format!("{name}_time_max_us"),
        opt_int(p.max_us.filter(|_| applies))?,
    )?;
    set(
        d,
        &format!("{name}_time_buckets"),
        object::int_list(&p.buckets)?,
    )
}

/// The interval `i`, ended at `now`, for a process of `max_threads`
/// request threads; `daemon`: this is a daemon process.
pub fn interval_dict(i: &Interval, now: f64, max_threads: usize, daemon: bool) -> PyResult<PyObj> {
    let d = object::new_dict()?;
    let period = (now - i.start).max(1e-9);
    set(&d, "start_time", object::float(i.start)?)?;
    set(&d, "stop_time", object::float(now)?)?;
    set(&d, "sample_period", object::float(period)?)?;
    set(&d, "request_count", object::int(i.requests as i64)?)?;
    set(
        &d,
        "request_throughput",
        object::float(i.requests as f64 / period)?,
    )?;
    threads(&d, i, now, max_threads)?;
    let n = i.requests;
    phase(&d, "server", &i.server, n, true)?;
    phase(&d, "queue", &i.queue, n, daemon)?;
    phase(&d, "daemon", &i.daemon, n, daemon)?;
    phase(&d, "application", &i.application, n, true)?;
    phase(&d, "request", &i.request, n, true)?;
    phase(&d, "input_read", &i.input_read, n, true)?;
    phase(&d, "output_write", &i.output_write, n, true)?;
    phase(&d, "gil_wait", &i.gil_wait, n, true)?;
    set(&d, "gil_wait_count", object::int(i.gil_wait_count as i64)?)?;
    for (k, v) in [
        ("input_bytes", i.input_bytes),
        ("input_reads", i.input_reads),
        ("output_bytes", i.output_bytes),
        ("output_writes", i.output_writes),
    ] {
        set(&d, k, object::int(v as i64)?)?;
    }
    for (c, count) in i.status.iter().enumerate() {
        set(
            &d,
            &format!("status_{}xx", c + 1),
            object::int(*count as i64)?,
        )?;
    }
    set(
        &d,
        "_cpu_start",
        object::tuple(vec![
            object::float(i.cpu_start.0)?,
            object::float(i.cpu_start.1)?,
        ])?,
    )?;
    Ok(d)
}

/// The per-thread-slot lists and capacity, in-flight requests included.
fn threads(d: &PyObj, i: &Interval, now: f64, max: usize) -> PyResult<()> {
    let t = i.threads(now, max, &metrics::in_flight_starts());
    set(d, "request_threads_maximum", object::int(t.maximum as i64)?)?;
    set(
        d,
        "request_threads_started",
        object::int(metrics::threads_started() as i64)?,
    )?;
    set(d, "request_threads_active", object::int(t.active as i64)?)?;
    set(d, "capacity_utilization", object::float(t.utilization)?)?;
    set(
        d,
        "request_threads_completed",
        object::int_list(&t.completed)?,
    )?;
    set(
        d,
        "request_threads_buckets",
        object::int_list(&t.completed)?,
    )?;
    set(d, "request_threads_busy_time", object::float_list(&t.busy)?)?;
    set(d, "request_threads_cpu_time", object::float_list(&t.cpu)?)?;
    set(
        d,
        "request_threads_current_elapsed",
        object::float_list(&t.current)?,
    )?;
    set(
        d,
        "request_threads_max_duration",
        object::float_list(&t.longest)?,
    )
}
