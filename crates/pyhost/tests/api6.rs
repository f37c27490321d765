//! mod_wsgi 6.1's Python surface as the host gives it, without httpd: the
//! versions, the `apache` module, the 6.x environ keys, LogHandler,
//! FileWrapper and RequestTimeout.

mod support;

use pyhost::wsgi_call::Outcome;
use support::*;

const REPORT: &str = r#"
import json, logging, os, sys
import apache
import mod_wsgi

def application(environ, start_response):
    if environ['PATH_INFO'] == '/request-metrics':
        m = mod_wsgi.request_metrics()
        start_response('200 OK', [])
        return [json.dumps(m).encode()]
    if environ['PATH_INFO'] == '/metrics':
        before = mod_wsgi.process_metrics()
        mod_wsgi.start_recording_metrics()
        mod_wsgi.start_recording_metrics()
        m = mod_wsgi.process_metrics()
        start_response('200 OK', [])
        return [json.dumps({'before': before, 'after': m}).encode()]
    if environ['PATH_INFO'] == '/log':
        log = logging.getLogger('api6')
        log.propagate = False
        log.setLevel(logging.DEBUG)
        if not log.handlers:
            log.addHandler(mod_wsgi.LogHandler())
        log.warning('first line\nsecond line')
        log.error('an error')
        log.info('some info')
        log.debug('a detail')
        start_response('200 OK', [])
        return [b'logged']
    keys = ('mod_wsgi.request_start', 'mod_wsgi.queue_start', 'mod_wsgi.daemon_start',
            'mod_wsgi.application_start', 'mod_wsgi.thread_id', 'mod_wsgi.server_pid')
    report = {
        'version': list(mod_wsgi.version),
        'rs_version': list(mod_wsgi.mod_wsgi_rs_version),
        'apache': [list(apache.version), apache.mpm_name, apache.maximum_processes,
                   apache.threads_per_process, apache.description, apache.build_date],
        'file_wrapper': environ['wsgi.file_wrapper'] is mod_wsgi.FileWrapper,
        'request_timeout': issubclass(mod_wsgi.RequestTimeout, BaseException) and not issubclass(mod_wsgi.RequestTimeout, Exception),
        'environ': {k: [type(environ[k]).__name__, environ[k]] for k in keys},
        'active': list(mod_wsgi.active_requests) == [environ['mod_wsgi.request_id']]
                  and mod_wsgi.active_requests[environ['mod_wsgi.request_id']] is mod_wsgi.request_data(),
        'callback_lists': [type(x).__name__ for x in (mod_wsgi.event_callbacks,
                           mod_wsgi.shutdown_callbacks, mod_wsgi.signal_callbacks)],
        'pid': os.getpid(),
    }
    start_response('200 OK', [('Content-Type', 'application/json')])
    return [json.dumps(report).encode()]
"#;

fn versions_and_the_apache_module(s: &Scripts) {
    let app = s.write("report", REPORT);
    let (io, _) = RecordingIo::new(b"");
    let env = cgi("GET", "/", &[("mod_wsgi.request_id", "r-0")]);
    let (outcome, rec) = request(&app, "api6", io, &env);
    assert_eq!(outcome, Outcome::Done);
    let t = text(&rec);
    for want in [
        "\"version\": [6, 1, 1]",
        "\"rs_version\": [0, 1, 0]",
        "\"apache\": [[2, 4, 99], \"test\", 3, 4, \"Apache/2.4.99 (test)\", \"today\"]",
        "\"file_wrapper\": true",
        "\"request_timeout\": true",
        "\"active\": true",
        "\"callback_lists\": [\"list\", \"list\", \"list\"]",
    ] {
        assert!(t.contains(want), "{want} in {t}");
    }
}

fn the_6x_environ(s: &Scripts) {
    let app = s.write("report6", REPORT);
    let (io, _) = RecordingIo::new(b"");
    let env = cgi(
        "GET",
        "/",
        &[
            ("mod_wsgi.request_start", "1700000000123456"),
            ("mod_wsgi.request_id", "r-1"),
        ],
    );
    let (_, rec) = request(&app, "api6", io, &env);
    let t = text(&rec);
    assert!(
        t.contains("\"mod_wsgi.request_start\": [\"float\", 1700000000.123456]"),
        "{t}"
    );
    // Embedded mode (no daemon keys): 0.0, as with mod_wsgi.
    assert!(
        t.contains("\"mod_wsgi.queue_start\": [\"float\", 0.0]"),
        "{t}"
    );
    assert!(
        t.contains("\"mod_wsgi.daemon_start\": [\"float\", 0.0]"),
        "{t}"
    );
    assert!(
        t.contains("\"mod_wsgi.application_start\": [\"float\", 1"),
        "{t}"
    );
    assert!(t.contains("\"mod_wsgi.thread_id\": [\"int\", 1]"), "{t}");
    let pid = std::process::id();
    assert!(
        t.contains(&format!("\"mod_wsgi.server_pid\": [\"str\", \"{pid}\"]")),
        "{t}"
    );
}

fn log_handler_writes_to_the_request_log(s: &Scripts) {
    let app = s.write("logs", REPORT);
    let (io, _) = RecordingIo::new(b"");
    let (outcome, rec) = request(&app, "api6", io, &cgi("GET", "/log", &[]));
    assert_eq!(outcome, Outcome::Done);
    let logs = rec.lock().unwrap().logs.clone();
    let has = |level: i32, text: &str| logs.iter().any(|(l, m)| *l == level && m == text);
    // Apache's levels: warn 4, err 3, info 6, debug 7; one line per line.
    assert!(has(4, "first line") && has(4, "second line"), "{logs:?}");
    assert!(has(3, "an error"), "{logs:?}");
    assert!(has(6, "some info"), "{logs:?}");
    assert!(has(7, "a detail"), "{logs:?}");
}

fn process_metrics_after_recording_starts(s: &Scripts) {
    let app = s.write("metrics", REPORT);
    let (io, _) = RecordingIo::new(b"");
    let (_, rec) = request(&app, "api6", io, &cgi("GET", "/metrics", &[]));
    let t = text(&rec);
    assert!(t.contains("\"before\": null"), "None before recording: {t}");
    for key in [
        "pid",
        "restart_time",
        "current_time",
        "running_time",
        "request_count",
        "request_busy_time",
        "request_threads",
        "active_requests",
        "cpu_user_time",
        "cpu_system_time",
        "cpu_time",
        "memory_rss",
        "memory_max_rss",
        "threads",
    ] {
        assert!(t.contains(&format!("\"{key}\": ")), "{key} in {t}");
    }
    // This request is in flight while it asks.
    assert!(t.contains("\"active_requests\": 1"), "{t}");
}

/// Keys request_metrics() has, beyond those checked by value.
const REQUEST_METRICS_KEYS: &[&str] = &[
    "start_time",
    "stop_time",
    "sample_period",
    "request_throughput",
    "capacity_utilization",
    "request_threads_started",
    "request_threads_active",
    "request_threads_completed",
    "request_threads_busy_time",
    "request_threads_cpu_time",
    "request_threads_current_elapsed",
    "request_threads_max_duration",
    "server_time",
    "server_time_min_us",
    "server_time_max_us",
    "application_time_buckets",
    "request_time",
    "input_read_time",
    "output_write_time",
    "gil_wait_time",
    "gil_wait_count",
    "input_bytes",
    "output_bytes",
    "output_writes",
    "cpu_user_utilization",
    "cpu_utilization",
    "memory_rss",
    "memory_max_rss",
    "pid",
];

fn request_metrics_cover_the_interval(s: &Scripts) {
    let app = s.write("rmetrics", REPORT);
    // Recording is on (process_metrics_after_recording_starts): drain, then
    // three requests (one raises: no request id here), then read. The
    // draining request itself ends in the new interval: 4 in all.
    let run = |path: &str| {
        let (io, _) = RecordingIo::new(b"abc");
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_micros()
            .to_string();
        request(
            &app,
            "api6",
            io,
            &cgi("GET", path, &[("mod_wsgi.request_start", &now)]),
        )
    };
    run("/request-metrics");
    for path in ["/", "/log", "/metrics"] {
        run(path);
    }
    let (_, rec) = run("/request-metrics");
    let t = text(&rec);
    for want in [
        "\"request_count\": 4",
        "\"status_2xx\": 3",
        "\"status_5xx\": 1",
        "\"queue_time\": null",
        "\"daemon_time_min_us\": null",
        "\"request_threads_maximum\": 4",
    ] {
        assert!(t.contains(want), "{want} in {t}");
    }
    for key in REQUEST_METRICS_KEYS {
        assert!(t.contains(&format!("\"{key}\": ")), "{key} in {t}");
    }
    // Phase times are small here (no request waits in a queue).
    let server_max: f64 = t
        .split("\"server_time_max_us\": ")
        .nth(1)
        .unwrap()
        .split(',')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(server_max < 1e6, "{server_max}");
    // 65 buckets per phase.
    let buckets = t
        .split("\"server_time_buckets\": [")
        .nth(1)
        .unwrap()
        .split(']')
        .next()
        .unwrap();
    assert_eq!(buckets.split(',').count(), 65, "{buckets}");
    // The request reading them is in flight in its slot.
    let current = t
        .split("\"request_threads_current_elapsed\": [")
        .nth(1)
        .unwrap()
        .split(']')
        .next()
        .unwrap();
    assert!(
        current
            .split(',')
            .any(|v| v.trim().parse::<f64>().unwrap() > 0.0),
        "{current}"
    );
}

fn main() {
    start_python();
    let scripts = Scripts::new("api6");
    let tests: &[(&str, fn(&Scripts))] = &[
        (
            "versions_and_the_apache_module",
            versions_and_the_apache_module,
        ),
        ("the_6x_environ", the_6x_environ),
        (
            "log_handler_writes_to_the_request_log",
            log_handler_writes_to_the_request_log,
        ),
        (
            "process_metrics_after_recording_starts",
            process_metrics_after_recording_starts,
        ),
        (
            "request_metrics_cover_the_interval",
            request_metrics_cover_the_interval,
        ),
    ];
    let mut failed = Vec::new();
    for (name, test) in tests {
        let ok = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| test(&scripts))).is_ok();
        println!("test {name} ... {}", if ok { "ok" } else { "FAILED" });
        if !ok {
            failed.push(*name);
        }
    }
    println!(
        "test result: {}. {} passed; {} failed",
        if failed.is_empty() { "ok" } else { "FAILED" },
        tests.len() - failed.len(),
        failed.len()
    );
    if !failed.is_empty() {
        std::process::exit(1);
    }
}
