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
        'request_timeout': issubclass(mod_wsgi.RequestTimeout, Exception),
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
