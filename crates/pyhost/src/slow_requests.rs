//! `WSGISlowRequests`: the requests in flight, by request-thread slot, so
//! that the telemetry reporter can describe one that has run longer than
//! the threshold, and the finished ones that took at least that long.
//! Kept only while the embedder turned it on (`enable`); otherwise each
//! request pays one atomic load.

#![forbid(unsafe_code)]

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use wsgi_core::environ::Environ;

/// What to keep.
#[derive(Clone, Copy, Debug)]
pub struct SlowConfig {
    pub threshold_us: u64,
    pub capture_user_agent: bool,
    /// The kernel's clock ticks per second (for a thread's user/system CPU).
    pub clock_ticks: u64,
}

static CONFIG: OnceLock<SlowConfig> = OnceLock::new();

/// Turns the bookkeeping on for this process (once).
pub fn enable(c: SlowConfig) {
    let _ = CONFIG.set(c);
}

pub fn config() -> Option<&'static SlowConfig> {
    CONFIG.get()
}

/// One slow request, in flight (`completed` false; the outcome fields 0)
/// or finished. Times in µs; instants since the epoch.
#[derive(Clone, Debug, Default)]
pub struct SlowRecord {
    pub completed: bool,
    pub request_start: u64,
    pub duration: u64,
    pub thread_id: u64,
    pub log_id: String,
    pub server_pid: u64,
    pub method: String,
    pub scheme: String,
    pub hostname: String,
    pub script_name: String,
    pub path_info: String,
    pub protocol: String,
    pub peer_ip: String,
    pub user_agent: String,
    pub server_time: u64,
    pub queue_time: u64,
    pub daemon_time: u64,
    pub application_start: u64,
    pub application_time: u64,
    pub gil_wait_time: u64,
    pub gil_wait_count: u64,
    pub input_bytes: u64,
    pub input_reads: u64,
    pub output_bytes: u64,
    pub output_writes: u64,
    pub input_read_time: u64,
    pub output_write_time: u64,
    pub status: u16,
    pub cpu_user: u64,
    pub cpu_system: u64,
    /// The thread's (user, system) CPU in µs when the request began.
    pub cpu_start: (u64, u64),
    pub active_at_start: u64,
    pub active_at_completion: u64,
}

/// Finished records kept for the reporter between two ticks.
const COMPLETED_KEPT: usize = 256;

static IN_FLIGHT: Mutex<Vec<Option<SlowRecord>>> = Mutex::new(Vec::new());
static COMPLETED: Mutex<VecDeque<SlowRecord>> = Mutex::new(VecDeque::new());
static DROPPED: AtomicU64 = AtomicU64::new(0);

fn lock<T>(m: &'static Mutex<T>) -> std::sync::MutexGuard<'static, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn text(cgi: &Environ, key: &[u8]) -> String {
    cgi.get(key)
        .map(|v| String::from_utf8_lossy(v).into_owned())
        .unwrap_or_default()
}

fn micros(cgi: &Environ, key: &[u8]) -> u64 {
    cgi.get(key)
        .and_then(|v| std::str::from_utf8(v).ok()?.parse().ok())
        .unwrap_or(0)
}

/// This thread's (user, system) CPU time in µs, from /proc.
fn thread_cpu(ticks: u64) -> (u64, u64) {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap_or_default();
    // Fields after the command name, which is in parentheses and may
    // hold spaces: state is field 3, utime 14, stime 15.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<u64> = rest
        .split_whitespace()
        .map(|v| v.parse().unwrap_or(0))
        .collect();
    let us = |t: u64| t * 1_000_000 / ticks.max(1);
    (us(*f.get(11).unwrap_or(&0)), us(*f.get(12).unwrap_or(&0)))
}

/// The request on `slot` began its application call at `application_start`.
pub fn begin(slot: usize, cgi: &Environ, application_start: u64, active: u64) {
    let Some(c) = config() else { return };
    let request_start = micros(cgi, b"mod_wsgi.request_start");
    let queue_start = micros(cgi, b"mod_wsgi.queue_start");
    let daemon_start = micros(cgi, b"mod_wsgi.daemon_start");
    let (server_time, queue_time, daemon_time) = if queue_start != 0 {
        (
            queue_start.saturating_sub(request_start),
            daemon_start.saturating_sub(queue_start),
            application_start.saturating_sub(daemon_start),
        )
    } else {
        (application_start.saturating_sub(request_start), 0, 0)
    };
    let https = matches!(cgi.get(b"HTTPS"), Some(b"on" | b"1" | b"ON"));
    let mut host = text(cgi, b"HTTP_HOST");
    if host.is_empty() {
        host = text(cgi, b"SERVER_NAME");
    }
    let server_pid = match micros(cgi, b"mod_wsgi.rs.server_pid") {
        0 => std::process::id() as u64,
        pid => pid,
    };
    let record = SlowRecord {
        request_start,
        thread_id: slot as u64,
        log_id: text(cgi, b"mod_wsgi.request_id"),
        server_pid,
        method: text(cgi, b"REQUEST_METHOD"),
        scheme: if https { "https" } else { "http" }.into(),
        hostname: host,
        script_name: text(cgi, b"SCRIPT_NAME"),
        path_info: text(cgi, b"PATH_INFO"),
        protocol: text(cgi, b"SERVER_PROTOCOL"),
        peer_ip: text(cgi, b"REMOTE_ADDR"),
        user_agent: if c.capture_user_agent {
            text(cgi, b"HTTP_USER_AGENT")
        } else {
            String::new()
        },
        server_time,
        queue_time,
        daemon_time,
        application_start,
        cpu_start: thread_cpu(c.clock_ticks),
        active_at_start: active,
        ..Default::default()
    };
    let mut v = lock(&IN_FLIGHT);
    if v.len() < slot {
        v.resize(slot, None);
    }
    if slot >= 1 {
        v[slot - 1] = Some(record);
    }
}

/// What a finished request did, for its record.
#[derive(Default)]
pub struct Outcome {
    pub finished_at: u64,
    pub status: u16,
    pub input_bytes: u64,
    pub input_reads: u64,
    pub input_read_time: u64,
    pub output_bytes: u64,
    pub output_writes: u64,
    pub output_write_time: u64,
    pub gil_wait_time: u64,
    pub gil_wait_count: u64,
    pub active: u64,
}

/// The request on `slot` finished; kept if it took the threshold or more.
pub fn finish(slot: usize, o: Outcome) {
    let Some(c) = config() else { return };
    let Some(mut r) = lock(&IN_FLIGHT)
        .get_mut(slot.wrapping_sub(1))
        .and_then(Option::take)
    else {
        return;
    };
    r.duration = o.finished_at.saturating_sub(r.request_start);
    if r.duration < c.threshold_us {
        return;
    }
    let (user, system) = thread_cpu(c.clock_ticks);
    r.completed = true;
    r.application_time = o.finished_at.saturating_sub(r.application_start);
    r.status = o.status;
    r.input_bytes = o.input_bytes;
    r.input_reads = o.input_reads;
    r.input_read_time = o.input_read_time;
    r.output_bytes = o.output_bytes;
    r.output_writes = o.output_writes;
    r.output_write_time = o.output_write_time;
    r.gil_wait_time = o.gil_wait_time;
    r.gil_wait_count = o.gil_wait_count;
    r.cpu_user = user.saturating_sub(r.cpu_start.0);
    r.cpu_system = system.saturating_sub(r.cpu_start.1);
    r.active_at_completion = o.active;
    let mut done = lock(&COMPLETED);
    if done.len() == COMPLETED_KEPT {
        done.pop_front();
        DROPPED.fetch_add(1, Ordering::Relaxed);
    }
    done.push_back(r);
}

/// The finished slow records since the previous call.
pub fn take_completed() -> Vec<SlowRecord> {
    lock(&COMPLETED).drain(..).collect()
}

/// The requests in flight that have run for the threshold or more by `now`.
pub fn in_flight_over(now: u64) -> Vec<SlowRecord> {
    let Some(c) = config() else {
        return Vec::new();
    };
    lock(&IN_FLIGHT)
        .iter()
        .flatten()
        .filter(|r| now.saturating_sub(r.request_start) >= c.threshold_us)
        .map(|r| SlowRecord {
            duration: now.saturating_sub(r.request_start),
            application_time: now.saturating_sub(r.application_start),
            ..r.clone()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slow_request_is_seen_in_flight_then_kept_when_done() {
        enable(SlowConfig {
            threshold_us: 1_000_000,
            capture_user_agent: false,
            clock_ticks: 100,
        });
        let mut cgi = Environ::with_capacity(8);
        cgi.push(&b"mod_wsgi.request_start"[..], &b"10000000"[..]);
        cgi.push(&b"REQUEST_METHOD"[..], &b"POST"[..]);
        cgi.push(&b"PATH_INFO"[..], &b"/upload"[..]);
        cgi.push(&b"HTTP_USER_AGENT"[..], &b"secret-agent"[..]);
        cgi.push(&b"SERVER_NAME"[..], &b"example.test"[..]);
        begin(2, &cgi, 10_200_000, 1);
        assert!(in_flight_over(10_900_000).is_empty(), "under the threshold");
        let seen = in_flight_over(11_500_000);
        assert_eq!(seen.len(), 1);
        let r = &seen[0];
        assert!(!r.completed);
        assert_eq!((r.duration, r.application_time), (1_500_000, 1_300_000));
        assert_eq!(
            (r.method.as_str(), r.path_info.as_str()),
            ("POST", "/upload")
        );
        assert_eq!(r.hostname, "example.test", "SERVER_NAME without a Host");
        assert_eq!(r.user_agent, "", "not captured unless asked");
        assert_eq!((r.server_time, r.thread_id), (200_000, 2));
        finish(
            2,
            Outcome {
                finished_at: 12_000_000,
                status: 201,
                ..Default::default()
            },
        );
        assert!(in_flight_over(13_000_000).is_empty());
        let done = take_completed();
        assert_eq!(done.len(), 1);
        assert!(done[0].completed);
        assert_eq!((done[0].duration, done[0].status), (2_000_000, 201));
        assert!(take_completed().is_empty(), "taken once");
        // A quick one on the same slot is not kept.
        begin(2, &cgi, 10_100_000, 1);
        finish(
            2,
            Outcome {
                finished_at: 10_500_000,
                ..Default::default()
            },
        );
        assert!(take_completed().is_empty());
    }
}
