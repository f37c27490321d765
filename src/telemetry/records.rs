//! What each telemetry datagram says, built from the process's metrics in
//! mod_wsgi's field layout (`wsgi_core::telemetry_wire`).

#![forbid(unsafe_code)]

use pyhost::metrics_interval::{Interval, Phase as Times, Threads};
use pyhost::slow_requests::SlowRecord;
use wsgi_core::telemetry_wire::{field as f, Datagram, Kind, Phase};

/// Who is reporting: fixed for the life of the process.
#[derive(Clone, Debug, Default)]
pub struct Identity {
    pub pid: u32,
    pub parent_pid: u32,
    pub hostname: String,
    /// The daemon group; empty in an Apache child.
    pub process_group: String,
    pub mod_wsgi_version: String,
    pub python_version: String,
    pub apache_version: String,
    pub mpm_name: String,
    /// sys.getswitchinterval() in this process.
    pub switch_interval: f64,
    pub interval: f64,
    /// WSGISlowRequests in seconds (0: not set).
    pub slow_threshold: f64,
}

impl Identity {
    fn versions(&self, d: &mut Datagram) {
        d.text(f::MOD_WSGI_VERSION, &self.mod_wsgi_version)
            .text(f::PYTHON_VERSION, &self.python_version)
            .text(f::APACHE_VERSION, &self.apache_version)
            .text(f::MPM_NAME, &self.mpm_name);
    }

    fn place(&self, d: &mut Datagram) {
        d.text(f::HOSTNAME, &self.hostname)
            .text(f::PROCESS_GROUP, &self.process_group);
    }
}

fn secs(us: u64) -> f64 {
    us as f64 / 1e6
}

/// PROCESS_STARTED, stamped with the process's start.
pub fn started(id: &Identity, seq: u32, stamp: f64) -> Datagram {
    let mut d = Datagram::new(Kind::ProcessStarted, id.pid, seq, stamp);
    id.versions(&mut d);
    id.place(&mut d);
    d.u64(f::PROCESS_PARENT_PID, id.parent_pid as u64)
        .f64(f::SWITCH_INTERVAL, id.switch_interval);
    d
}

/// PROCESS_STOPPING: the decision to stop, before any drain.
pub fn stopping(id: &Identity, seq: u32, now: f64, reason: &str, active: u64) -> Datagram {
    let mut d = Datagram::new(Kind::ProcessStopping, id.pid, seq, now);
    id.place(&mut d);
    d.text(f::SHUTDOWN_REASON, reason)
        .u64(f::ACTIVE_REQUESTS_AT_DECISION, active);
    d
}

/// What PROCESS_STOPPED reports.
pub struct Stopped<'a> {
    pub reason: &'a str,
    pub uptime: f64,
    pub lifetime_requests: u64,
    pub active_at_exit: u64,
}

pub fn stopped(id: &Identity, seq: u32, now: f64, s: &Stopped) -> Datagram {
    let mut d = Datagram::new(Kind::ProcessStopped, id.pid, seq, now);
    id.place(&mut d);
    d.text(f::SHUTDOWN_REASON, s.reason)
        .f64(f::PROCESS_UPTIME, s.uptime)
        .u64(f::LIFETIME_REQUEST_COUNT, s.lifetime_requests)
        .u64(f::ACTIVE_REQUESTS_AT_EXIT, s.active_at_exit)
        .u64(f::GRACEFUL_DRAIN, (s.active_at_exit == 0) as u64);
    d
}

/// The process's own numbers for an interval.
pub struct ProcessSide {
    pub now: f64,
    /// CPU (user, system) seconds used in the interval.
    pub cpu: (f64, f64),
    pub rss: u64,
    pub max_rss: u64,
    pub threads_started: u64,
}

fn phase(d: &mut Datagram, which: Phase, t: &Times, count: u64) {
    let k = which as u16;
    let mean = if count > 0 {
        t.total / count as f64
    } else {
        0.0
    };
    d.f64(f::PHASE_MEAN + k, mean);
    if let (Some(min), Some(max)) = (t.min_us, t.max_us) {
        d.f64(f::PHASE_MIN + k, secs(min))
            .f64(f::PHASE_MAX + k, secs(max));
    }
    d.counts(f::PHASE_BUCKETS + k, &t.buckets);
}

/// REQUEST: one ended interval (mod_wsgi's periodic sample).
pub fn interval(id: &Identity, seq: u32, i: &Interval, t: &Threads, p: &ProcessSide) -> Datagram {
    let mut d = Datagram::new(Kind::Request, id.pid, seq, p.now);
    let period = (p.now - i.start).max(1e-9);
    id.versions(&mut d);
    id.place(&mut d);
    d.u64(f::PROCESS_PARENT_PID, id.parent_pid as u64)
        .f64(f::SAMPLE_PERIOD, period)
        .f64(f::TELEMETRY_INTERVAL, id.interval)
        .f64(f::SLOW_REQUESTS_THRESHOLD, id.slow_threshold)
        .f64(f::SWITCH_INTERVAL, id.switch_interval)
        .u64(f::REQUEST_COUNT, i.requests)
        .f64(f::REQUEST_THROUGHPUT, i.requests as f64 / period)
        .f64(f::CAPACITY_UTILIZATION, t.utilization)
        .f64(f::CPU_USER_UTILIZATION, p.cpu.0 / period)
        .f64(f::CPU_SYSTEM_UTILIZATION, p.cpu.1 / period)
        .f64(f::CPU_UTILIZATION, (p.cpu.0 + p.cpu.1) / period)
        .u64(f::MEMORY_RSS, p.rss)
        .u64(f::MEMORY_MAX_RSS, p.max_rss)
        .u64(f::REQUEST_THREADS_MAXIMUM, t.maximum as u64)
        .u64(f::REQUEST_THREADS_STARTED, p.threads_started)
        .u64(f::REQUEST_THREADS_ACTIVE, t.active as u64);
    let n = i.requests;
    phase(&mut d, Phase::Server, &i.server, n);
    // Queue and daemon time exist in daemon mode only.
    if i.daemon_mode || !id.process_group.is_empty() {
        phase(&mut d, Phase::Queue, &i.queue, n);
        phase(&mut d, Phase::Daemon, &i.daemon, n);
    }
    phase(&mut d, Phase::Application, &i.application, n);
    phase(&mut d, Phase::Request, &i.request, n);
    phase(&mut d, Phase::GilWait, &i.gil_wait, n);
    phase(&mut d, Phase::InputRead, &i.input_read, n);
    phase(&mut d, Phase::OutputWrite, &i.output_write, n);
    d.u64(f::INPUT_BYTES_TOTAL, i.input_bytes)
        .u64(f::INPUT_READS_TOTAL, i.input_reads)
        .u64(f::OUTPUT_BYTES_TOTAL, i.output_bytes)
        .u64(f::OUTPUT_WRITES_TOTAL, i.output_writes);
    for (k, c) in i.status.iter().enumerate() {
        d.u64(f::STATUS_1XX_TOTAL + k as u16, *c);
    }
    d.counts(f::REQUEST_THREADS_COMPLETED, &t.completed)
        .floats(f::REQUEST_THREADS_BUSY_TIME, &t.busy)
        .floats(f::REQUEST_THREADS_CPU_TIME, &t.cpu)
        .floats(f::REQUEST_THREADS_CURRENT_ELAPSED, &t.current)
        .floats(f::REQUEST_THREADS_MAX_DURATION, &t.longest);
    d
}

/// SLOW_REQUEST: one request over the threshold, in flight or finished.
/// Numbers first, strings last, so a long URL cannot crowd them out.
pub fn slow(id: &Identity, seq: u32, now: f64, r: &SlowRecord) -> Datagram {
    let mut d = Datagram::new(Kind::SlowRequest, id.pid, seq, now);
    d.u64(f::SLOW_RECORD_STATE, r.completed as u64)
        .f64(f::SLOW_START_STAMP, secs(r.request_start))
        .f64(f::SLOW_DURATION, secs(r.duration))
        .u64(f::SLOW_THREAD_ID, r.thread_id)
        .u64(f::SLOW_SERVER_PID, r.server_pid)
        .u64(f::SLOW_INPUT_BYTES, r.input_bytes)
        .u64(f::SLOW_INPUT_READS, r.input_reads)
        .u64(f::SLOW_OUTPUT_BYTES, r.output_bytes)
        .u64(f::SLOW_OUTPUT_WRITES, r.output_writes)
        .f64(f::SLOW_CPU_USER_TIME, secs(r.cpu_user))
        .f64(f::SLOW_CPU_SYSTEM_TIME, secs(r.cpu_system))
        .f64(f::SLOW_SERVER_TIME, secs(r.server_time))
        .f64(f::SLOW_QUEUE_TIME, secs(r.queue_time))
        .f64(f::SLOW_DAEMON_TIME, secs(r.daemon_time))
        .f64(f::SLOW_APPLICATION_TIME, secs(r.application_time))
        .f64(f::SLOW_GIL_WAIT_TIME, secs(r.gil_wait_time))
        .u64(f::SLOW_GIL_WAIT_COUNT, r.gil_wait_count)
        .f64(f::SLOW_INPUT_READ_TIME, secs(r.input_read_time))
        .f64(f::SLOW_OUTPUT_WRITE_TIME, secs(r.output_write_time))
        .u64(f::SLOW_ACTIVE_AT_START, r.active_at_start)
        .u64(f::SLOW_ACTIVE_AT_COMPLETION, r.active_at_completion)
        .u64(f::SLOW_STATUS, r.status as u64)
        .text(f::SLOW_LOG_ID, &r.log_id)
        .text(f::SLOW_METHOD, &r.method)
        .text(f::SLOW_SCHEME, &r.scheme)
        .text(f::SLOW_HOSTNAME, &r.hostname)
        .text(f::SLOW_SCRIPT_NAME, &r.script_name)
        .text(f::SLOW_PATH_INFO, &r.path_info)
        .text(f::SLOW_PROTOCOL, &r.protocol)
        .text(f::SLOW_PEER_IP, &r.peer_ip)
        .text(f::SLOW_USER_AGENT, &r.user_agent);
    d
}
