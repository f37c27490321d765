//! `WSGITelemetryService`, `WSGISlowRequests` and `WSGITelemetryOptions`
//! against the real consumer: PyPI's `mod_wsgi-telemetry` ingester (its
//! `dump` command, which binds the socket and prints each datagram it
//! decodes) receives what a daemon process and the Apache children send,
//! and the test reads its output. The same requests are then served by
//! PyPI's mod_wsgi 6.1.1, whose datagrams must carry no field ours lack.

mod common;

use common::json::{self, Value};
use common::{temp_dir, wait_until, write_file, Server};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const APP: &str = r#"import json, os, time
import mod_wsgi

def application(environ, start_response):
    path = environ.get('PATH_INFO', '')
    if path == '/slow':
        time.sleep(2.0)
    if path == '/metrics':
        mod_wsgi.start_recording_metrics()
        body = json.dumps({'request': mod_wsgi.request_metrics() is None,
                           'process': mod_wsgi.process_metrics() is None})
        start_response('200 OK', [('Content-Type', 'application/json')])
        return [body.encode()]
    if path == '/missing':
        start_response('404 Not Found', [('Content-Type', 'text/plain')])
        return [b'no']
    start_response('200 OK', [('Content-Type', 'text/plain'), ('X-Pid', str(os.getpid()))])
    return [b'ok']
"#;

/// The ingester, stopped by its pid when dropped.
struct Ingester {
    child: Child,
    out: PathBuf,
}

impl Ingester {
    fn start(dir: &Path) -> (Ingester, PathBuf) {
        let venv = common::pip_venv("telemetry-venv", &["mod_wsgi-telemetry==1.1.0"]);
        let sock = dir.join("telemetry.sock");
        let out = dir.join("samples.jsonl");
        let child = Command::new(venv.join("bin/mod_wsgi-telemetry"))
            .args(["dump", "--format", "json", "--socket-mode", "0666"])
            .arg("--listen")
            .arg(format!("unix:{}", sock.display()))
            .env("PYTHONUNBUFFERED", "1")
            .stdin(Stdio::null())
            .stdout(fs::File::create(&out).unwrap())
            .stderr(fs::File::create(dir.join("ingester.err")).unwrap())
            .spawn()
            .expect("starting mod_wsgi-telemetry");
        let ingester = Ingester { child, out };
        assert!(
            wait_until(Duration::from_secs(30), || sock.exists()),
            "the ingester did not bind {}",
            sock.display()
        );
        (ingester, sock)
    }

    fn samples(&self) -> Vec<Value> {
        fs::read_to_string(&self.out)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| json::parse(l).ok())
            .collect()
    }
}

impl Drop for Ingester {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn kind(v: &Value) -> &str {
    v.get("kind").str()
}

fn pid(v: &Value) -> u32 {
    v.get("pid").num() as u32
}

fn field<'a>(v: &'a Value, k: &str) -> &'a Value {
    v.get("fields").get(k)
}

fn of<'a>(all: &'a [Value], k: &str, pid_is: impl Fn(u32) -> bool) -> Vec<&'a Value> {
    all.iter()
        .filter(|v| kind(v) == k && pid_is(pid(v)))
        .collect()
}

fn total(samples: &[&Value], k: &str) -> f64 {
    samples.iter().map(|v| field(v, k).num()).sum()
}

fn daemon_pid(s: &Server) -> u32 {
    let r = s.get("/d/pid");
    assert_eq!(r.status, 200, "{}", s.logs());
    r.header("X-Pid").map_or(0, |p| p.parse().unwrap())
}

/// Serves the test's requests under `module` (None: ours) with an ingester
/// listening; what it received once the server stopped, and the daemon's pid.
/// Telemetry to the ingester at `sock`, a daemon group at /d and embedded
/// mode at /e, both running `dir`'s app.
fn config(sock: &Path, dir: &Path) -> String {
    format!(
        "WSGITelemetryService unix:{} interval=0.5\n\
         WSGISlowRequests 1\n\
         WSGITelemetryOptions +CaptureUserAgent\n\
         WSGIDaemonProcess tele processes=1 threads=3\n\
         WSGIScriptAlias /d {d}/app.wsgi process-group=tele\n\
         WSGIScriptAlias /e {d}/app.wsgi\n{sockets}\n",
        sock.display(),
        d = dir.display(),
        // mod_wsgi 6.1.1's own default (/var/run/apache2) exists only
        // once Debian's init script has run.
        sockets = common::vs61::SOCKETS
    )
}

fn exercise(tag: &str, module: Option<&str>) -> (Vec<Value>, u32) {
    let dir = temp_dir(&format!("{tag}-app"));
    write_file(&dir, "app.wsgi", APP);
    let (ingester, sock) = Ingester::start(&dir);
    match module {
        Some(m) => std::env::set_var("MOD_WSGI_RS_SO", m),
        None => std::env::remove_var("MOD_WSGI_RS_SO"),
    }
    let mut s = Server::start(tag, &config(&sock, &dir));
    std::env::remove_var("MOD_WSGI_RS_SO");
    let daemon = daemon_pid(&s);
    assert!(daemon > 0);
    let port = s.port;
    let slow = std::thread::spawn(move || {
        common::http::send(
            port,
            b"GET /d/slow HTTP/1.1\r\nHost: tele.test\r\nUser-Agent: telemetry-test/1.0\r\nConnection: close\r\n\r\n",
        )
    });
    for _ in 0..4 {
        assert_eq!(s.get("/d/ok").status, 200);
    }
    for _ in 0..2 {
        assert_eq!(s.get("/d/missing").status, 404);
    }
    for _ in 0..3 {
        assert_eq!(s.get("/e/ok").status, 200);
    }
    // With an external reporter the accessors stand down (mod_wsgi 6.1).
    for mode in ["d", "e"] {
        let v = common::sites::json_of(&s.get(&format!("/{mode}/metrics")));
        assert_eq!(v.get("request"), &Value::Bool(true), "{mode}: {v:?}");
        assert_eq!(v.get("process"), &Value::Bool(true), "{mode}: {v:?}");
    }
    assert_eq!(slow.join().unwrap().unwrap().status, 200);
    let completed_slow = |all: &[Value]| {
        of(all, "slow_request", |p| p == daemon)
            .iter()
            .any(|v| field(v, "slow_record_state").num() == 1.0)
    };
    assert!(
        wait_until(Duration::from_secs(10), || completed_slow(
            &ingester.samples()
        )),
        "no completed slow record\n{}",
        s.logs()
    );
    s.stop();
    assert!(
        wait_until(Duration::from_secs(10), || {
            !of(&ingester.samples(), "process_stopped", |p| p == daemon).is_empty()
        }),
        "no process_stopped from the daemon\n{}",
        fs::read_to_string(&ingester.out).unwrap_or_default()
    );
    // The ingester writes what it reads in its own time: the daemon's last
    // datagram may be written before an Apache child's (check_children
    // then tells which child sent none).
    let every_child_stopped = |all: &[Value]| {
        of(all, "process_started", |p| p != daemon)
            .iter()
            .all(|st| !of(all, "process_stopped", |q| q == pid(st)).is_empty())
    };
    let all_stopped = wait_until(Duration::from_secs(10), || {
        every_child_stopped(&ingester.samples())
    });
    if !all_stopped {
        // check_children names the child; this says what the server saw.
        eprintln!("{}", s.logs());
    }
    (ingester.samples(), daemon)
}

#[test]
fn the_mod_wsgi_telemetry_ingester_reads_what_each_process_sends() {
    let (ours, daemon) = exercise("telemetry", None);
    check_daemon(&ours, daemon);
    check_children(&ours, daemon);
    check_slow(&ours, daemon);
    // The same requests under PyPI's mod_wsgi 6.1.1: the same counts, and
    // every field it sends, we send.
    let (theirs, their_daemon) = exercise("telemetry-61", Some(&common::sites::mod_wsgi_61()));
    for (all, p) in [(&theirs, their_daemon), (&ours, daemon)] {
        let ticks = of(all, "request_metrics", |q| q == p);
        assert_eq!(total(&ticks, "request_count"), 9.0);
        let children = of(all, "request_metrics", |q| q != p);
        assert_eq!(total(&children, "request_count"), 4.0);
    }
    for k in [
        "process_started",
        "request_metrics",
        "slow_request",
        "process_stopping",
        "process_stopped",
    ] {
        let (a, b) = (
            field_names(&theirs, k, their_daemon),
            field_names(&ours, k, daemon),
        );
        assert!(!a.is_empty(), "mod_wsgi 6.1.1 sent no {k}");
        let missing: Vec<_> = a.iter().filter(|n| !b.contains(n)).collect();
        assert!(missing.is_empty(), "{k}: we do not send {missing:?}");
    }
}

/// Every field name the daemon's datagrams of one kind carried.
fn field_names(all: &[Value], k: &str, daemon: u32) -> Vec<String> {
    let mut names: Vec<String> = of(all, k, |p| p == daemon)
        .iter()
        .flat_map(|v| match v.get("fields") {
            Value::Obj(f) => f.iter().map(|(n, _)| n.clone()).collect(),
            _ => Vec::new(),
        })
        .collect();
    names.sort();
    names.dedup();
    names
}

fn check_daemon(all: &[Value], daemon: u32) {
    let started = of(all, "process_started", |p| p == daemon);
    assert_eq!(started.len(), 1, "{started:?}");
    let st = started[0];
    assert_eq!(field(st, "process_group").str(), "tele");
    assert!(field(st, "mod_wsgi_version").str().starts_with("6.1.1"));
    assert!(field(st, "python_version").str().starts_with("3."));
    assert!(field(st, "apache_version").str().starts_with("Apache/2.4."));
    assert_eq!(field(st, "mpm_name").str(), common::mpm());
    let ticks = of(all, "request_metrics", |p| p == daemon);
    assert!(ticks.len() >= 2, "{} ticks", ticks.len());
    // pid, 4 ok, 2 missing, slow, metrics: every request in some interval.
    assert_eq!(total(&ticks, "request_count"), 9.0, "{ticks:?}");
    assert_eq!(total(&ticks, "status_2xx_total"), 7.0);
    assert_eq!(total(&ticks, "status_4xx_total"), 2.0);
    let t = ticks[0];
    assert_eq!(field(t, "telemetry_interval").num(), 0.5);
    assert_eq!(field(t, "slow_requests_threshold").num(), 1.0);
    assert_eq!(field(t, "request_threads_maximum").num(), 3.0);
    let busy = ticks
        .iter()
        .find(|v| field(v, "request_count").num() > 0.0)
        .unwrap();
    for k in ["queue_time", "daemon_time", "application_time_max"] {
        assert!(
            matches!(field(busy, k), Value::Num(_)),
            "{k} missing: {busy:?}"
        );
    }
    match field(busy, "request_time_buckets") {
        Value::List(b) => assert_eq!(b.len(), 65),
        other => panic!("request_time_buckets: {other:?}"),
    }
    let stopping = of(all, "process_stopping", |p| p == daemon);
    assert_eq!(stopping.len(), 1, "{stopping:?}");
    let stopped = of(all, "process_stopped", |p| p == daemon);
    assert_eq!(stopped.len(), 1, "{stopped:?}");
    let sp = stopped[0];
    assert_eq!(
        field(sp, "shutdown_reason").str(),
        field(stopping[0], "shutdown_reason").str()
    );
    assert!(!field(sp, "shutdown_reason").str().is_empty());
    assert_eq!(field(sp, "lifetime_request_count").num(), 9.0);
    assert_eq!(field(sp, "graceful_drain").num(), 1.0);
    assert!(field(sp, "process_uptime").num() > 0.5);
}

fn check_children(all: &[Value], daemon: u32) {
    let started = of(all, "process_started", |p| p != daemon);
    assert!(!started.is_empty(), "no Apache child reported");
    for st in &started {
        assert_eq!(field(st, "process_group"), &Value::Null, "{st:?}");
    }
    // 3 ok and 1 metrics in embedded mode; the relayed ones are not theirs.
    let ticks = of(all, "request_metrics", |p| p != daemon);
    assert_eq!(total(&ticks, "request_count"), 4.0, "{ticks:?}");
    for st in &started {
        let p = pid(st);
        assert_eq!(
            of(all, "process_stopped", |q| q == p).len(),
            1,
            "child {p} sent no process_stopped"
        );
    }
}

fn check_slow(all: &[Value], daemon: u32) {
    let slow = of(all, "slow_request", |p| p == daemon);
    let active: Vec<_> = slow
        .iter()
        .filter(|v| field(v, "slow_record_state").num() == 0.0)
        .collect();
    let done: Vec<_> = slow
        .iter()
        .filter(|v| field(v, "slow_record_state").num() == 1.0)
        .collect();
    assert!(!active.is_empty(), "no in-flight record: {slow:?}");
    assert_eq!(done.len(), 1, "{slow:?}");
    let a = active[0];
    assert!(field(a, "slow_duration").num() >= 1.0);
    assert_eq!(field(a, "slow_status").num(), 0.0);
    let c = done[0];
    assert!(field(c, "slow_duration").num() >= 2.0, "{c:?}");
    assert_eq!(field(c, "slow_status").num(), 200.0);
    assert_eq!(field(c, "slow_method").str(), "GET");
    assert_eq!(field(c, "slow_script_name").str(), "/d");
    assert_eq!(field(c, "slow_path_info").str(), "/slow");
    assert_eq!(field(c, "slow_hostname").str(), "tele.test");
    assert_eq!(field(c, "slow_protocol").str(), "HTTP/1.1");
    assert_eq!(field(c, "slow_peer_ip").str(), "127.0.0.1");
    assert_eq!(field(c, "slow_user_agent").str(), "telemetry-test/1.0");
    assert!(field(c, "slow_application_time").num() >= 2.0);
    assert_eq!(
        field(c, "slow_log_id").str(),
        field(a, "slow_log_id").str(),
        "the same request"
    );
    assert!(field(c, "slow_server_pid").num() > 0.0);
}
