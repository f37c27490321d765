//! `WSGIFreeThreading` on a free-threaded CPython (PEP 703; scripts/test
//! runs this on /opt/python/3.13t, built by scripts/build-python-ft; on a
//! Python with the GIL every test here says it is skipped, and
//! tests/directives_6x.rs checks the "not in effect" note instead).
//!
//! The GIL is off exactly in the processes the directive selects
//! (server-wide, or `<WSGIInterpreterOptions process-group=...>`), and on
//! everywhere else whatever extensions declare, as under mod_wsgi 6.1.1;
//! without it a daemon's request threads run Python on every core at
//! once; `WSGIPerInterpreterGIL` and `switch-interval=` are skipped with a
//! warning where there is no GIL; sub-interpreters work.

mod common;

use common::json::Value;
use common::sites::{free_threaded_build, json_of};
use common::{temp_dir, write_file, Server};
use std::time::Instant;

const APP: &str = r#"import json, os, sys, threading, time
import mod_wsgi

def application(environ, start_response):
    if environ['PATH_INFO'] == '/spin':
        # About 0.3 s of pure-Python work: no I/O, no C call that could
        # release anything, so only a missing GIL lets two run at once.
        t0 = time.thread_time()
        x = 0
        for i in range(1500000):
            x += i * i
        body = {'cpu': time.thread_time() - t0}
    else:
        body = {
            'gil': sys._is_gil_enabled(),
            'pid': os.getpid(),
            'group': environ['mod_wsgi.process_group'],
            'interpreter': mod_wsgi.application_group,
            'switch': sys.getswitchinterval(),
            'thread': threading.Thread(target=lambda: None).start() is None,
        }
    start_response('200 OK', [('Content-Type', 'application/json')])
    return [json.dumps(body).encode()]
"#;

fn skipped() -> bool {
    if free_threaded_build() {
        return false;
    }
    eprintln!("skipped: the module is built against a Python with the GIL (scripts/test runs this on /opt/python/3.13t)");
    true
}

/// A server with the app at /emb (embedded), /ft and /gil (two daemon
/// groups), and `settings` after an explicit server-wide Off (so the
/// suite-wide $WSGI_TEST_FREE_THREADING does not decide here).
fn start(tag: &str, settings: &str) -> Server {
    let dir = temp_dir(tag);
    write_file(&dir, "app.wsgi", APP);
    let app = dir.join("app.wsgi");
    let app = app.display();
    Server::start(
        tag,
        &format!(
            "WSGIFreeThreading Off\n{settings}\n\
             WSGIDaemonProcess ft processes=1 threads=4 switch-interval=0.002\n\
             WSGIDaemonProcess gil processes=1 threads=4\n\
             WSGIScriptAlias /ft {app} process-group=ft application-group=%{{GLOBAL}}\n\
             WSGIScriptAlias /sub {app} process-group=ft application-group=sub\n\
             WSGIScriptAlias /gil {app} process-group=gil application-group=%{{GLOBAL}}\n\
             WSGIScriptAlias /emb {app}\n"
        ),
    )
}

fn gil_off(s: &Server, path: &str) -> bool {
    let r = s.get(path);
    assert_eq!(r.status, 200, "{path}\n{}", s.logs());
    json_of(&r).get("gil") == &Value::Bool(false)
}

#[test]
fn the_gil_is_off_only_in_the_processes_the_directive_selects() {
    if skipped() {
        return;
    }
    let s = start(
        "ft-selected",
        "<WSGIInterpreterOptions process-group=ft>\nWSGIFreeThreading On\n</WSGIInterpreterOptions>",
    );
    assert!(
        gil_off(&s, "/ft"),
        "group ft runs free-threaded\n{}",
        s.logs()
    );
    assert!(gil_off(&s, "/sub"), "and so do its sub-interpreters");
    assert!(!gil_off(&s, "/gil"), "group gil keeps the GIL");
    assert!(!gil_off(&s, "/emb"), "Apache's children keep the GIL");
    let line = s.log_line("the GIL is disabled (WSGIFreeThreading On)");
    assert!(line.contains("process='ft'"), "{line}");
    // A thread the application starts runs, and the switch interval is
    // left alone where there is no GIL to switch (with a warning).
    let v = json_of(&s.get("/ft"));
    assert_eq!(v.get("thread"), &Value::Bool(true));
    assert_eq!(v.get("switch").num(), 0.005, "{}", s.logs());
    assert!(
        s.logs().contains("switch interval 0.002 for the interpreter '': not set, since this process runs free-threaded"),
        "{}",
        s.logs()
    );

    let all = start("ft-everywhere", "WSGIFreeThreading On");
    for path in ["/ft", "/sub", "/gil", "/emb"] {
        assert!(
            gil_off(&all, path),
            "{path} runs free-threaded\n{}",
            all.logs()
        );
    }
    // A container for %{GLOBAL} is embedded mode only.
    let embedded = start(
        "ft-embedded",
        "<WSGIInterpreterOptions process-group=%{GLOBAL}>\nWSGIFreeThreading On\n</WSGIInterpreterOptions>",
    );
    assert!(gil_off(&embedded, "/emb"));
    assert!(!gil_off(&embedded, "/ft") && !gil_off(&embedded, "/gil"));
}

#[test]
fn an_own_gil_is_not_given_where_there_is_no_gil() {
    if skipped() {
        return;
    }
    let s = start(
        "ft-own-gil",
        "WSGIFreeThreading On\nWSGIPerInterpreterGIL On",
    );
    let v = json_of(&s.get("/sub"));
    assert_eq!(v.get("interpreter").str(), "sub", "{}", s.logs());
    assert_eq!(v.get("gil"), &Value::Bool(false));
    assert!(
        s.logs().contains("WSGIPerInterpreterGIL On for the interpreter 'sub': not in effect, since this process runs free-threaded"),
        "{}",
        s.logs()
    );
}

/// CPU seconds process `pid` has used (utime + stime, /proc).
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .unwrap()
        .1
        .split_whitespace()
        .collect();
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    (fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap()) / ticks
}

/// Eight CPU-bound requests at once at `path`: the daemon's CPU seconds
/// over the wall-clock seconds they took (1.0: one core at a time).
fn cores_used(s: &Server, path: &str) -> f64 {
    let pid = json_of(&s.get(path)).get("pid").num() as u32;
    let port = s.port;
    let spin = format!("{path}/spin");
    let (cpu0, t0) = (cpu_seconds(pid), Instant::now());
    let clients: Vec<_> = (0..8)
        .map(|_| {
            let spin = spin.clone();
            std::thread::spawn(move || {
                let raw =
                    format!("GET {spin} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
                common::http::send(port, raw.as_bytes())
                    .map(|r| r.status)
                    .unwrap_or(0)
            })
        })
        .collect();
    for c in clients {
        assert_eq!(c.join().unwrap(), 200);
    }
    (cpu_seconds(pid) - cpu0) / t0.elapsed().as_secs_f64()
}

#[test]
fn without_the_gil_request_threads_use_every_core() {
    if skipped() {
        return;
    }
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    if cpus < 2 {
        eprintln!("skipped: one CPU; parallelism cannot be seen");
        return;
    }
    let s = start(
        "ft-parallel",
        "<WSGIInterpreterOptions process-group=ft>\nWSGIFreeThreading On\n</WSGIInterpreterOptions>",
    );
    let with_gil = cores_used(&s, "/gil");
    let without = cores_used(&s, "/ft");
    eprintln!("cores used by 4 request threads: {with_gil:.2} with the GIL, {without:.2} without ({cpus} CPUs)");
    // Generous margins: a GIL lets one thread run at a time (about 1.0);
    // without it the 4 threads fill both cores (about 2.0 here).
    assert!(with_gil < 1.25, "with the GIL: {with_gil:.2} cores");
    assert!(
        without > 1.4,
        "without the GIL: {without:.2} cores\n{}",
        s.logs()
    );
}
