//! `request_metrics()`: what happened in this process since the previous
//! call, with mod_wsgi 6.1's definitions (phase times from the request's
//! instants; 65 HDR-style buckets per phase: 16 octaves from 1 ms, four
//! linear sub-buckets each, one overflow bucket). Recorded only while
//! `start_recording_metrics()` is on; one mutex per finished request.

#![forbid(unsafe_code)]

use std::sync::Mutex;

pub const BUCKETS: usize = 65;

/// The bucket of a duration in seconds.
pub fn bucket(seconds: f64) -> usize {
    let ms = seconds * 1000.0;
    if ms < 1.0 {
        return 0;
    }
    if ms >= 65536.0 {
        return BUCKETS - 1;
    }
    // ms = mantissa * 2^exp with mantissa in [0.5, 1): octave exp - 1.
    let exp = ms.log2().floor() as i32 + 1;
    let mantissa = ms / 2f64.powi(exp);
    let sub = (((2.0 * mantissa - 1.0) * 4.0) as usize).min(3);
    ((exp - 1) as usize) * 4 + sub
}

/// One phase over an interval: total seconds, extremes, histogram.
#[derive(Clone, Debug)]
pub struct Phase {
    pub total: f64,
    pub min_us: Option<u64>,
    pub max_us: Option<u64>,
    pub buckets: [u64; BUCKETS],
}

impl Default for Phase {
    fn default() -> Phase {
        Phase {
            total: 0.0,
            min_us: None,
            max_us: None,
            buckets: [0; BUCKETS],
        }
    }
}

impl Phase {
    fn record(&mut self, us: u64) {
        let s = us as f64 / 1e6;
        self.total += s;
        self.min_us = Some(self.min_us.map_or(us, |m| m.min(us)));
        self.max_us = Some(self.max_us.map_or(us, |m| m.max(us)));
        self.buckets[bucket(s)] += 1;
    }
}

/// One finished request, as the host saw it (times in µs since the epoch;
/// queue/daemon 0 in embedded mode).
#[derive(Clone, Debug, Default)]
pub struct Sample {
    pub request_start: u64,
    pub queue_start: u64,
    pub daemon_start: u64,
    pub application_start: u64,
    pub application_finish: u64,
    pub input_bytes: u64,
    pub input_reads: u64,
    pub input_us: u64,
    pub output_bytes: u64,
    pub output_writes: u64,
    pub output_us: u64,
    pub status: u16,
    /// The request's GIL waits: their sum and how many.
    pub gil_wait_us: u64,
    pub gil_wait_count: u64,
    /// The request thread's slot, from 1.
    pub slot: usize,
    pub cpu: f64,
}

/// Per request-thread slot over the interval.
#[derive(Clone, Debug, Default)]
pub struct SlotTotals {
    pub completed: u64,
    pub busy: f64,
    pub cpu: f64,
    pub max_duration: f64,
}

/// An interval's accumulators.
#[derive(Clone, Debug, Default)]
pub struct Interval {
    pub start: f64,
    /// The process's user and system CPU seconds when it began.
    pub cpu_start: (f64, f64),
    pub requests: u64,
    pub server: Phase,
    pub queue: Phase,
    pub daemon: Phase,
    pub application: Phase,
    pub request: Phase,
    pub input_read: Phase,
    pub output_write: Phase,
    pub gil_wait: Phase,
    pub gil_wait_count: u64,
    pub input_bytes: u64,
    pub input_reads: u64,
    pub output_bytes: u64,
    pub output_writes: u64,
    /// 1xx..5xx; a request with no status counts as 5xx.
    pub status: [u64; 5],
    pub slots: Vec<SlotTotals>,
    pub daemon_mode: bool,
}

fn delta(later: u64, earlier: u64) -> u64 {
    later.saturating_sub(earlier)
}

impl Interval {
    /// Adds a finished request (mod_wsgi's phase definitions).
    pub fn record(&mut self, s: &Sample) {
        let (server, queue, daemon) = if s.queue_start != 0 {
            self.daemon_mode = true;
            (
                delta(s.queue_start, s.request_start),
                delta(s.daemon_start, s.queue_start),
                delta(s.application_start, s.daemon_start),
            )
        } else {
            (delta(s.application_start, s.request_start), 0, 0)
        };
        let application = delta(s.application_finish, s.application_start);
        self.requests += 1;
        self.server.record(server);
        if s.queue_start != 0 {
            self.queue.record(queue);
            self.daemon.record(daemon);
        }
        self.application.record(application);
        self.request.record(server + queue + daemon + application);
        self.input_read.record(s.input_us);
        self.output_write.record(s.output_us);
        // Per request, like the other phases (mod_wsgi buckets each single
        // wait; we count the waits and time them per request).
        self.gil_wait.record(s.gil_wait_us);
        self.gil_wait_count += s.gil_wait_count;
        self.input_bytes += s.input_bytes;
        self.input_reads += s.input_reads;
        self.output_bytes += s.output_bytes;
        self.output_writes += s.output_writes;
        let class = match s.status {
            100..=599 => (s.status / 100 - 1) as usize,
            _ => 4,
        };
        self.status[class] += 1;
        if s.slot >= 1 {
            if self.slots.len() < s.slot {
                self.slots.resize(s.slot, SlotTotals::default());
            }
            let duration = application as f64 / 1e6;
            let slot = &mut self.slots[s.slot - 1];
            slot.completed += 1;
            // Busy time inside this interval only (an earlier part was
            // counted as the in-flight tail of the interval before).
            let started = (s.application_start as f64 / 1e6).max(self.start);
            slot.busy += (s.application_finish as f64 / 1e6 - started).max(0.0);
            slot.cpu += s.cpu;
            slot.max_duration = slot.max_duration.max(duration);
        }
    }
}

/// An interval's request-thread slots, the requests in flight included.
#[derive(Debug, Default)]
pub struct Threads {
    pub maximum: usize,
    pub completed: Vec<u64>,
    pub busy: Vec<f64>,
    pub cpu: Vec<f64>,
    pub longest: Vec<f64>,
    /// How long each slot's request in flight has run (0: idle).
    pub current: Vec<f64>,
    /// Slots that finished a request or have one in flight.
    pub active: usize,
    pub utilization: f64,
}

impl Interval {
    /// The slots at `now` for a process of `max` request threads;
    /// `in_flight`: when each slot's request in flight began (µs, 0: idle).
    pub fn threads(&self, now: f64, max: usize, in_flight: &[u64]) -> Threads {
        let max = max.max(1);
        let period = (now - self.start).max(1e-9);
        let width = max.max(self.slots.len()).max(in_flight.len());
        let mut t = Threads {
            maximum: max,
            completed: vec![0; width],
            busy: vec![0.0; width],
            cpu: vec![0.0; width],
            longest: vec![0.0; width],
            current: vec![0.0; width],
            ..Default::default()
        };
        for (k, s) in self.slots.iter().enumerate() {
            t.completed[k] = s.completed;
            t.busy[k] = s.busy;
            t.cpu[k] = s.cpu;
            t.longest[k] = s.max_duration;
        }
        for (k, &start) in in_flight.iter().enumerate() {
            if start != 0 {
                let start = start as f64 / 1e6;
                t.current[k] = (now - start).max(0.0);
                t.busy[k] += (now - start.max(self.start)).max(0.0);
            }
        }
        t.active = (0..width)
            .filter(|&k| t.completed[k] > 0 || t.current[k] > 0.0)
            .count();
        t.utilization = t.busy.iter().sum::<f64>() / (period * max as f64);
        t
    }
}

static INTERVAL: Mutex<Option<Interval>> = Mutex::new(None);

fn interval() -> std::sync::MutexGuard<'static, Option<Interval>> {
    INTERVAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// Starts the first interval (start_recording_metrics), if none.
pub fn begin(now: f64, cpu: (f64, f64)) {
    let mut i = interval();
    if i.is_none() {
        *i = Some(Interval {
            start: now,
            cpu_start: cpu,
            ..Default::default()
        });
    }
}

pub fn record(s: &Sample) {
    if let Some(i) = interval().as_mut() {
        i.record(s);
    }
}

/// The interval that ends now (`cpu`: the process's CPU now); the next
/// one starts.
pub fn drain(now: f64, cpu: (f64, f64)) -> Option<Interval> {
    let mut guard = interval();
    let ended = guard.take()?;
    *guard = Some(Interval {
        start: now,
        cpu_start: cpu,
        ..Default::default()
    });
    Some(ended)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_follow_mod_wsgi() {
        assert_eq!(bucket(0.0005), 0);
        assert_eq!(bucket(0.001), 0); // [1, 1.25) ms: octave 0, sub 0
        assert_eq!(bucket(0.00125), 1);
        assert_eq!(bucket(0.0019), 3);
        assert_eq!(bucket(0.002), 4);
        assert_eq!(bucket(0.003), 6); // [3, 3.5) in octave [2, 4)
        assert_eq!(bucket(65.535), 63);
        assert_eq!(bucket(65.536), 64);
        assert_eq!(bucket(1000.0), 64);
    }

    #[test]
    fn phases_and_classes() {
        let mut i = Interval::default();
        i.record(&Sample {
            request_start: 1_000_000,
            application_start: 1_002_000,
            application_finish: 1_012_000,
            status: 200,
            slot: 2,
            gil_wait_us: 12,
            gil_wait_count: 2,
            ..Default::default()
        });
        i.record(&Sample {
            request_start: 2_000_000,
            queue_start: 2_001_000,
            daemon_start: 2_003_000,
            application_start: 2_004_000,
            application_finish: 2_005_000,
            status: 0,
            slot: 1,
            ..Default::default()
        });
        assert_eq!(i.requests, 2);
        assert_eq!(i.server.min_us, Some(1000));
        assert_eq!(i.server.max_us, Some(2000));
        assert_eq!(i.queue.max_us, Some(2000));
        assert_eq!(i.daemon.max_us, Some(1000));
        assert_eq!(i.request.max_us, Some(12_000));
        assert_eq!(i.status, [0, 1, 0, 0, 1]);
        assert_eq!(i.gil_wait_count, 2);
        assert_eq!(i.slots.len(), 2);
        assert_eq!(i.slots[1].completed, 1);
        assert!((i.slots[1].max_duration - 0.010).abs() < 1e-9);
        assert!(i.daemon_mode);
    }
}
