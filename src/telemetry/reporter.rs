//! The reporter thread and its socket: one tick per interval, the final
//! tick from the stopping thread.

#![forbid(unsafe_code)]

use super::records::{self, Identity, ProcessSide, Stopped};
use crate::apache::{ffi, log};
use pyhost::{metrics, metrics_interval, runtime, slow_requests};
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};
use wsgi_core::telemetry_wire::Datagram;

/// The telemetry directives, as this process applies them.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The ingester's socket (`unix:` taken off).
    pub socket: String,
    pub interval: f64,
    /// WSGISlowRequests, seconds.
    pub slow_threshold: Option<f64>,
    pub capture_user_agent: bool,
}

/// In-flight slow requests described per tick, at most (as mod_wsgi).
const SLOW_IN_FLIGHT_PER_TICK: usize = 16;

pub struct Reporter {
    socket: UnixDatagram,
    target: PathBuf,
    id: Identity,
    seq: AtomicU32,
    started: Instant,
    started_stamp: f64,
    max_threads: usize,
    /// One tick at a time: the last one runs on the stopping thread.
    ticking: Mutex<()>,
    paused: Mutex<bool>,
    wake: Condvar,
}

fn cpu_now() -> (f64, f64) {
    let u = crate::os::usage();
    (u.user.as_secs_f64(), u.system.as_secs_f64())
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_default()
}

/// How long a stop's report waits for room in the ingester's queue: every
/// process of the server stops at once, and an ingester slowed by a busy
/// machine drains its queue (often 10 datagrams) slowly; well inside the
/// seconds Apache gives a stopping child.
const STOP_SEND_PATIENCE: std::time::Duration = std::time::Duration::from_millis(1000);

impl Reporter {
    /// Opens the socket and turns on the accounting the reports need.
    pub fn new(s: Settings) -> Result<Reporter, String> {
        let info = runtime::process_info().ok_or("Python is not running here")?;
        let socket = UnixDatagram::unbound().map_err(|e| format!("socket: {e}"))?;
        socket
            .set_nonblocking(true)
            .map_err(|e| format!("socket: {e}"))?;
        // The reporter owns the intervals now (request_metrics() gives
        // None, as in mod_wsgi), and starts the first one.
        metrics::set_external();
        metrics::start_recording(cpu_now());
        if let Some(t) = s.slow_threshold {
            slow_requests::enable(slow_requests::SlowConfig {
                threshold_us: (t * 1e6) as u64,
                capture_user_agent: s.capture_user_agent,
                clock_ticks: crate::os::clock_ticks(),
            });
        }
        let [a, b, c] = pyhost::API_VERSION;
        let (x, y, z) = info.apache.version;
        let id = Identity {
            pid: std::process::id(),
            parent_pid: crate::os::parent_pid() as u32,
            hostname: hostname(),
            process_group: info.process_group.clone(),
            mod_wsgi_version: format!("{a}.{b}.{c} (mod_wsgi-rs {})", env!("CARGO_PKG_VERSION")),
            python_version: runtime::linked_python().version,
            apache_version: format!("Apache/{x}.{y}.{z}"),
            mpm_name: info.apache.mpm_name.clone(),
            // What sys.getswitchinterval() gives: ours sets it only from
            // the directives, else it is Python's default of 5 ms.
            switch_interval: info.settings.switch_interval.unwrap_or(0.005),
            interval: s.interval,
            slow_threshold: s.slow_threshold.unwrap_or(0.0),
        };
        Ok(Reporter {
            socket,
            target: PathBuf::from(s.socket),
            id,
            seq: AtomicU32::new(0),
            started: Instant::now(),
            started_stamp: metrics::now(),
            max_threads: info.threads_per_process.max(1) as usize,
            ticking: Mutex::new(()),
            paused: Mutex::new(false),
            wake: Condvar::new(),
        })
    }

    fn send(&self, d: Datagram) {
        // Nobody listening, or the ingester behind: the datagram is lost,
        // never the request's time.
        let _ = self.socket.send_to(d.bytes(), &self.target);
    }

    fn seq(&self) -> u32 {
        self.seq.fetch_add(1, Ordering::Relaxed) + 1
    }

    pub fn uptime(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    /// Sends PROCESS_STARTED and starts the thread.
    pub fn spawn(&'static self) {
        self.send(records::started(&self.id, self.seq(), self.started_stamp));
        let spawned = std::thread::Builder::new()
            .name("wsgi-telemetry".into())
            .spawn(move || self.run());
        let msg = match spawned {
            Ok(_) => format!(
                "telemetry reporter started: unix:{}, every {}s",
                self.target.display(),
                self.id.interval
            ),
            Err(e) => format!("telemetry reporter thread not started: {e}"),
        };
        log::server(ffi::APLOG_INFO, None, &msg);
    }

    fn run(&self) {
        let every = Duration::from_secs_f64(self.id.interval.max(0.1));
        loop {
            let paused = self.paused.lock().unwrap_or_else(|e| e.into_inner());
            let (paused, _) = self
                .wake
                .wait_timeout_while(paused, every, |p| !*p)
                .unwrap_or_else(|e| e.into_inner());
            if *paused {
                return;
            }
            drop(paused);
            self.tick();
        }
    }

    /// Stops the thread's ticks and sends the interval so far.
    pub fn final_tick(&self) {
        *self.paused.lock().unwrap_or_else(|e| e.into_inner()) = true;
        self.wake.notify_all();
        self.tick();
    }

    fn tick(&self) {
        let _one = self.ticking.lock().unwrap_or_else(|e| e.into_inner());
        let now = metrics::now();
        let cpu = cpu_now();
        if let Some(i) = metrics_interval::drain(now, cpu) {
            let threads = i.threads(now, self.max_threads, &metrics::in_flight_starts());
            let usage = crate::os::usage();
            let side = ProcessSide {
                now,
                cpu: (
                    (cpu.0 - i.cpu_start.0).max(0.0),
                    (cpu.1 - i.cpu_start.1).max(0.0),
                ),
                rss: crate::os::memory().1,
                max_rss: usage.max_rss,
                threads_started: metrics::threads_started(),
            };
            self.send(records::interval(&self.id, self.seq(), &i, &threads, &side));
        }
        if slow_requests::config().is_none() {
            return;
        }
        // Finished ones first, so their end arrives before a later tick
        // could show them as still running.
        for r in slow_requests::take_completed() {
            self.send(records::slow(&self.id, self.seq(), now, &r));
        }
        let in_flight = slow_requests::in_flight_over(metrics::now_us());
        for r in in_flight.iter().take(SLOW_IN_FLIGHT_PER_TICK) {
            self.send(records::slow(&self.id, self.seq(), now, r));
        }
    }

    /// At a stop, when every process of the server reports at once, the
    /// ingester's queue (net.unix.max_dgram_qlen, often 10) can be full:
    /// no request waits then, so a full queue is retried for a moment.
    fn send_at_stop(&self, d: Datagram) {
        let deadline = Instant::now() + STOP_SEND_PATIENCE;
        while let Err(e) = self.socket.send_to(d.bytes(), &self.target) {
            if e.kind() != std::io::ErrorKind::WouldBlock || Instant::now() >= deadline {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
    }

    pub fn send_stopping(&self, reason: &str, active: u64) {
        let d = records::stopping(&self.id, self.seq(), metrics::now(), reason, active);
        self.send_at_stop(d);
    }

    pub fn send_stopped(&self, s: &Stopped) {
        self.send_at_stop(records::stopped(&self.id, self.seq(), metrics::now(), s));
    }
}
