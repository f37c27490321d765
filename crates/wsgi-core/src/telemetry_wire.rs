//! The datagrams mod_wsgi 6's telemetry reporter sends to an ingester
//! (`WSGITelemetryService`), read by the `mod_wsgi-telemetry` package: a
//! 24-byte little-endian header (magic `WSGI`, version 1, kind, flags, pid,
//! sequence number, stamp in seconds since the epoch) and then records of
//! field id (u16), type tag (u8), a u16 length for strings and arrays, and
//! the value. Field ids and kinds are mod_wsgi's; an ingester for mod_wsgi
//! reads ours unchanged.

/// What a datagram describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Kind {
    /// One interval of the process's requests (mod_wsgi's "request_metrics").
    Request = 2,
    SlowRequest = 4,
    ProcessStarted = 5,
    ProcessStopping = 6,
    ProcessStopped = 7,
}

pub const MAGIC: &[u8; 4] = b"WSGI";
pub const VERSION: u8 = 1;
/// No datagram is larger (mod_wsgi's bound; ingesters size buffers by it).
pub const MAX_DATAGRAM: usize = 8192;
pub const HEADER_LEN: usize = 24;
/// The longest string field (a URL or User-Agent is cut there).
pub const TEXT_MAX: usize = 1024;

const T_U64: u8 = 0x01;
const T_F64: u8 = 0x02;
const T_BYTES: u8 = 0x04;
const T_I32_ARRAY: u8 = 0x05;
const T_F64_ARRAY: u8 = 0x06;

/// mod_wsgi's field ids (wsgi_telemetry.h), by the name its ingester uses.
pub mod field {
    pub const MOD_WSGI_VERSION: u16 = 1;
    pub const PYTHON_VERSION: u16 = 2;
    pub const APACHE_VERSION: u16 = 3;
    pub const MPM_NAME: u16 = 4;
    pub const HOSTNAME: u16 = 5;
    pub const PROCESS_GROUP: u16 = 6;
    pub const PROCESS_PARENT_PID: u16 = 7;
    pub const SAMPLE_PERIOD: u16 = 10;
    pub const TELEMETRY_INTERVAL: u16 = 11;
    pub const SLOW_REQUESTS_THRESHOLD: u16 = 12;
    pub const SWITCH_INTERVAL: u16 = 13;
    pub const REQUEST_COUNT: u16 = 20;
    pub const REQUEST_THROUGHPUT: u16 = 21;
    pub const CAPACITY_UTILIZATION: u16 = 22;
    pub const CPU_USER_UTILIZATION: u16 = 30;
    pub const CPU_SYSTEM_UTILIZATION: u16 = 31;
    pub const CPU_UTILIZATION: u16 = 32;
    pub const MEMORY_RSS: u16 = 40;
    pub const MEMORY_MAX_RSS: u16 = 41;
    pub const REQUEST_THREADS_MAXIMUM: u16 = 50;
    pub const REQUEST_THREADS_STARTED: u16 = 51;
    pub const REQUEST_THREADS_ACTIVE: u16 = 52;
    /// Mean phase times are 60 + phase, minimums 70 + phase, maximums
    /// 80 + phase, histograms 90 + phase (see `Phase`).
    pub const PHASE_MEAN: u16 = 60;
    pub const PHASE_MIN: u16 = 70;
    pub const PHASE_MAX: u16 = 80;
    pub const PHASE_BUCKETS: u16 = 90;
    pub const INPUT_BYTES_TOTAL: u16 = 100;
    pub const INPUT_READS_TOTAL: u16 = 101;
    pub const OUTPUT_BYTES_TOTAL: u16 = 102;
    pub const OUTPUT_WRITES_TOTAL: u16 = 103;
    pub const REQUEST_THREADS_COMPLETED: u16 = 110;
    pub const REQUEST_THREADS_BUSY_TIME: u16 = 111;
    pub const REQUEST_THREADS_CPU_TIME: u16 = 112;
    pub const REQUEST_THREADS_CURRENT_ELAPSED: u16 = 113;
    pub const REQUEST_THREADS_MAX_DURATION: u16 = 114;
    /// status_1xx_total .. status_5xx_total are 120 .. 124.
    pub const STATUS_1XX_TOTAL: u16 = 120;
    pub const SHUTDOWN_REASON: u16 = 130;
    pub const PROCESS_UPTIME: u16 = 131;
    pub const LIFETIME_REQUEST_COUNT: u16 = 132;
    pub const ACTIVE_REQUESTS_AT_DECISION: u16 = 133;
    pub const ACTIVE_REQUESTS_AT_EXIT: u16 = 134;
    pub const GRACEFUL_DRAIN: u16 = 135;
    pub const SLOW_RECORD_STATE: u16 = 200;
    pub const SLOW_START_STAMP: u16 = 201;
    pub const SLOW_DURATION: u16 = 202;
    pub const SLOW_THREAD_ID: u16 = 203;
    pub const SLOW_LOG_ID: u16 = 204;
    pub const SLOW_SERVER_PID: u16 = 205;
    pub const SLOW_METHOD: u16 = 210;
    pub const SLOW_SCHEME: u16 = 211;
    pub const SLOW_HOSTNAME: u16 = 212;
    pub const SLOW_SCRIPT_NAME: u16 = 213;
    pub const SLOW_PATH_INFO: u16 = 214;
    pub const SLOW_PROTOCOL: u16 = 215;
    pub const SLOW_PEER_IP: u16 = 216;
    pub const SLOW_USER_AGENT: u16 = 217;
    pub const SLOW_SERVER_TIME: u16 = 220;
    pub const SLOW_QUEUE_TIME: u16 = 221;
    pub const SLOW_DAEMON_TIME: u16 = 222;
    pub const SLOW_APPLICATION_TIME: u16 = 223;
    pub const SLOW_GIL_WAIT_TIME: u16 = 224;
    pub const SLOW_GIL_WAIT_COUNT: u16 = 225;
    pub const SLOW_INPUT_BYTES: u16 = 230;
    pub const SLOW_INPUT_READS: u16 = 231;
    pub const SLOW_OUTPUT_BYTES: u16 = 232;
    pub const SLOW_OUTPUT_WRITES: u16 = 233;
    pub const SLOW_INPUT_READ_TIME: u16 = 234;
    pub const SLOW_OUTPUT_WRITE_TIME: u16 = 235;
    pub const SLOW_STATUS: u16 = 240;
    pub const SLOW_CPU_USER_TIME: u16 = 250;
    pub const SLOW_CPU_SYSTEM_TIME: u16 = 251;
    pub const SLOW_ACTIVE_AT_START: u16 = 260;
    pub const SLOW_ACTIVE_AT_COMPLETION: u16 = 261;
}

/// The request phases, in mod_wsgi's field order (offsets from the
/// PHASE_* bases).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Server = 0,
    Queue = 1,
    Daemon = 2,
    Application = 3,
    Request = 4,
    GilWait = 5,
    InputRead = 6,
    OutputWrite = 7,
}

/// One datagram being written. Fields that would not fit in MAX_DATAGRAM
/// are left out (strings are cut first), so a datagram is always whole.
pub struct Datagram {
    buf: Vec<u8>,
}

impl Datagram {
    pub fn new(kind: Kind, pid: u32, seq: u32, stamp: f64) -> Datagram {
        let mut buf = Vec::with_capacity(1024);
        buf.extend_from_slice(MAGIC);
        buf.push(VERSION);
        buf.push(kind as u8);
        buf.extend_from_slice(&0u16.to_le_bytes());
        buf.extend_from_slice(&pid.to_le_bytes());
        buf.extend_from_slice(&seq.to_le_bytes());
        buf.extend_from_slice(&stamp.to_le_bytes());
        Datagram { buf }
    }

    fn room(&self) -> usize {
        MAX_DATAGRAM - self.buf.len()
    }

    fn head(&mut self, id: u16, tag: u8) {
        self.buf.extend_from_slice(&id.to_le_bytes());
        self.buf.push(tag);
    }

    pub fn u64(&mut self, id: u16, v: u64) -> &mut Self {
        if self.room() >= 11 {
            self.head(id, T_U64);
            self.buf.extend_from_slice(&v.to_le_bytes());
        }
        self
    }

    pub fn f64(&mut self, id: u16, v: f64) -> &mut Self {
        if self.room() >= 11 {
            self.head(id, T_F64);
            self.buf.extend_from_slice(&v.to_le_bytes());
        }
        self
    }

    /// A string field, cut at TEXT_MAX bytes; empty strings are left out,
    /// as mod_wsgi does.
    pub fn text(&mut self, id: u16, v: &str) -> &mut Self {
        let room = self.room().saturating_sub(5).min(TEXT_MAX);
        if v.is_empty() || room == 0 {
            return self;
        }
        let mut n = v.len().min(room);
        while !v.is_char_boundary(n) {
            n -= 1;
        }
        self.head(id, T_BYTES);
        self.buf.extend_from_slice(&(n as u16).to_le_bytes());
        self.buf.extend_from_slice(&v.as_bytes()[..n]);
        self
    }

    /// Counts as an array of i32 (saturated).
    pub fn counts(&mut self, id: u16, v: &[u64]) -> &mut Self {
        if v.len() <= u16::MAX as usize && self.room() >= 5 + 4 * v.len() {
            self.head(id, T_I32_ARRAY);
            self.buf.extend_from_slice(&(v.len() as u16).to_le_bytes());
            for &c in v {
                self.buf
                    .extend_from_slice(&(c.min(i32::MAX as u64) as i32).to_le_bytes());
            }
        }
        self
    }

    pub fn floats(&mut self, id: u16, v: &[f64]) -> &mut Self {
        if v.len() <= u16::MAX as usize && self.room() >= 5 + 8 * v.len() {
            self.head(id, T_F64_ARRAY);
            self.buf.extend_from_slice(&(v.len() as u16).to_le_bytes());
            for &f in v {
                self.buf.extend_from_slice(&f.to_le_bytes());
            }
        }
        self
    }

    pub fn bytes(&self) -> &[u8] {
        &self.buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader for the tests: (id, tag, payload) per field.
    fn fields(d: &[u8]) -> Vec<(u16, u8, Vec<u8>)> {
        let mut out = Vec::new();
        let mut at = HEADER_LEN;
        while at < d.len() {
            let id = u16::from_le_bytes([d[at], d[at + 1]]);
            let tag = d[at + 2];
            at += 3;
            let n = match tag {
                T_U64 | T_F64 => 8,
                _ => {
                    let len = u16::from_le_bytes([d[at], d[at + 1]]) as usize;
                    at += 2;
                    len * match tag {
                        T_BYTES => 1,
                        T_I32_ARRAY => 4,
                        _ => 8,
                    }
                }
            };
            out.push((id, tag, d[at..at + n].to_vec()));
            at += n;
        }
        assert_eq!(at, d.len());
        out
    }

    #[test]
    fn header_is_mod_wsgis() {
        let d = Datagram::new(Kind::ProcessStarted, 0x01020304, 7, 1.5);
        let b = d.bytes();
        assert_eq!(b.len(), HEADER_LEN);
        assert_eq!(&b[..4], b"WSGI");
        assert_eq!((b[4], b[5]), (1, 5));
        assert_eq!(&b[6..8], &[0, 0]);
        assert_eq!(&b[8..12], &[4, 3, 2, 1]);
        assert_eq!(u32::from_le_bytes(b[12..16].try_into().unwrap()), 7);
        assert_eq!(f64::from_le_bytes(b[16..24].try_into().unwrap()), 1.5);
    }

    #[test]
    fn fields_round_trip() {
        let mut d = Datagram::new(Kind::Request, 1, 1, 0.0);
        d.u64(field::REQUEST_COUNT, 3)
            .f64(field::SAMPLE_PERIOD, 0.5)
            .text(field::PROCESS_GROUP, "site")
            .text(field::HOSTNAME, "")
            .counts(field::PHASE_BUCKETS, &[1, u64::MAX])
            .floats(field::REQUEST_THREADS_BUSY_TIME, &[0.25]);
        let f = fields(d.bytes());
        assert_eq!(f.len(), 5, "the empty string is left out");
        assert_eq!(f[0], (20, T_U64, 3u64.to_le_bytes().to_vec()));
        assert_eq!(f[1], (10, T_F64, 0.5f64.to_le_bytes().to_vec()));
        assert_eq!(f[2], (6, T_BYTES, b"site".to_vec()));
        let mut counts = 1i32.to_le_bytes().to_vec();
        counts.extend_from_slice(&i32::MAX.to_le_bytes());
        assert_eq!(f[3], (90, T_I32_ARRAY, counts));
        assert_eq!(f[4], (111, T_F64_ARRAY, 0.25f64.to_le_bytes().to_vec()));
    }

    #[test]
    fn never_larger_than_the_bound() {
        let mut d = Datagram::new(Kind::SlowRequest, 1, 1, 0.0);
        let long = "é".repeat(6000);
        d.text(field::SLOW_PATH_INFO, &long)
            .text(field::SLOW_USER_AGENT, &long)
            .counts(field::PHASE_BUCKETS, &[0; 65])
            .u64(field::SLOW_STATUS, 200);
        assert!(d.bytes().len() <= MAX_DATAGRAM);
        let f = fields(d.bytes());
        // The strings were cut on a character boundary and still parse.
        assert!(f[0].2.len() <= TEXT_MAX && std::str::from_utf8(&f[0].2).is_ok());
        assert_eq!(f[1].0, field::SLOW_USER_AGENT);
        assert!(f.iter().any(|x| x.0 == field::SLOW_STATUS));
    }
}
