//! `mod_wsgi.server_metrics()`: Apache's scoreboard as the embedder reads
//! it (`host::Host::server_metrics`), turned into mod_wsgi 6.1's dict.

#![forbid(unsafe_code)]

use super::object::{self, PyObj, PyResult};
use std::ffi::CString;

/// The scoreboard's global part and every process slot.
#[derive(Clone, Debug, Default)]
pub struct Scoreboard {
    pub server_limit: i64,
    pub thread_limit: i64,
    pub running_generation: i64,
    /// Seconds since the epoch.
    pub restart_time: f64,
    pub processes: Vec<ProcessSlot>,
}

#[derive(Clone, Debug, Default)]
pub struct ProcessSlot {
    pub pid: i64,
    pub generation: i64,
    pub quiescing: bool,
    pub workers: Vec<WorkerSlot>,
}

#[derive(Clone, Debug, Default)]
pub struct WorkerSlot {
    pub thread_num: i64,
    pub generation: i64,
    /// mod_status's letter: `_` ready, `W` writing, `.` dead, ...
    pub status: char,
    pub access_count: u64,
    pub bytes_served: u64,
    pub start_time: f64,
    pub stop_time: f64,
    pub last_used: f64,
    pub client: String,
    pub request: String,
    pub vhost: String,
}

fn set(d: &PyObj, key: &str, v: PyObj) -> PyResult<()> {
    d.dict_set_str(&CString::new(key).expect("no NUL"), &v)
}

/// The dict mod_wsgi 6.1's server_metrics() returns.
pub fn to_dict(s: &Scoreboard, now: f64) -> PyResult<PyObj> {
    let d = object::new_dict()?;
    set(&d, "server_limit", object::int(s.server_limit)?)?;
    set(&d, "thread_limit", object::int(s.thread_limit)?)?;
    set(&d, "running_generation", object::int(s.running_generation)?)?;
    set(&d, "restart_time", object::float(s.restart_time)?)?;
    set(&d, "current_time", object::float(now)?)?;
    set(
        &d,
        "running_time",
        object::int((now - s.restart_time).max(0.0) as i64)?,
    )?;
    let mut processes = Vec::with_capacity(s.processes.len());
    for (i, p) in s.processes.iter().enumerate() {
        let pd = object::new_dict()?;
        set(&pd, "process_num", object::int(i as i64)?)?;
        set(&pd, "pid", object::int(p.pid)?)?;
        set(&pd, "generation", object::int(p.generation)?)?;
        set(&pd, "quiescing", object::boolean(p.quiescing))?;
        let mut workers = Vec::with_capacity(p.workers.len());
        for w in &p.workers {
            let wd = object::new_dict()?;
            set(&wd, "thread_num", object::int(w.thread_num)?)?;
            set(&wd, "generation", object::int(w.generation)?)?;
            set(&wd, "status", object::str_utf8(&w.status.to_string())?)?;
            set(&wd, "access_count", object::int(w.access_count as i64)?)?;
            set(&wd, "bytes_served", object::int(w.bytes_served as i64)?)?;
            set(&wd, "start_time", object::float(w.start_time)?)?;
            set(&wd, "stop_time", object::float(w.stop_time)?)?;
            set(&wd, "last_used", object::float(w.last_used)?)?;
            set(&wd, "client", object::str_latin1(w.client.as_bytes())?)?;
            set(&wd, "request", object::str_latin1(w.request.as_bytes())?)?;
            set(&wd, "vhost", object::str_latin1(w.vhost.as_bytes())?)?;
            workers.push(wd);
        }
        set(&pd, "workers", object::list(workers)?)?;
        processes.push(pd);
    }
    set(&d, "processes", object::list(processes)?)?;
    Ok(d)
}
