//! The shutdown contract against a real httpd: every interpreter hears
//! `process_stopping` with a reason, interpreters are torn down (atexit,
//! finalizers) unless WSGIDestroyInterpreter Off,
//! a watchdog bounds everything, a report line tells what happened; plus
//! the request events and daemon signals of the `mod_wsgi` event API.

mod common;

use common::{alive, children_named, wait_until, write_file, Server};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

fn app_dir(tag: &str) -> PathBuf {
    let dir = common::temp_dir(tag);
    write_file(&dir, "lifecycle.wsgi", include_str!("apps/lifecycle.wsgi"));
    let markers = dir.join("markers");
    fs::create_dir_all(&markers).unwrap();
    fs::set_permissions(&markers, fs::Permissions::from_mode(0o777)).unwrap();
    dir
}

/// Contents of the marker files whose names start with `kind-`.
fn markers(dir: &Path, kind: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = fs::read_dir(dir.join("markers"))
        .unwrap()
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with(&format!("{kind}-"))
        })
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                fs::read_to_string(e.path()).unwrap_or_default(),
            )
        })
        .collect();
    out.sort();
    out
}

/// The shutdown report line (printed for the test's output) of a process
/// whose report contains `marker`; fails with the whole log if none does.
fn shutdown_report(s: &Server, marker: &str) -> String {
    let log = s.error_log();
    let report = log
        .lines()
        .find(|l| l.contains("shutdown report:") && l.contains(marker))
        .unwrap_or_else(|| panic!("no shutdown report with '{marker}'\n{log}"))
        .to_string();
    eprintln!("{report}");
    report
}

fn two_groups(dir: &Path, extra: &str) -> String {
    let d = dir.display();
    format!(
        "WSGIScriptAlias /a {d}/lifecycle.wsgi\n\
         WSGIScriptAlias /b {d}/lifecycle.wsgi application-group=second\n{extra}"
    )
}

#[test]
fn every_interpreter_hears_process_stopping_and_atexit_runs() {
    let dir = app_dir("lstop");
    let mut s = Server::start("lstop", &two_groups(&dir, ""));
    assert_eq!(s.get("/a/").status, 200);
    assert_eq!(s.get("/b/").status, 200);
    let took = s.stop();
    eprintln!("stop took {took:?}");
    let stopping = markers(&dir, "stopping");
    let groups: Vec<&str> = stopping.iter().map(|(n, _)| n.as_str()).collect();
    assert!(
        groups.iter().any(|n| n.contains("-second-")),
        "no process_stopping in 'second': {stopping:?}\n{}",
        s.logs()
    );
    assert!(
        groups.iter().any(|n| n.contains("_a-")),
        "no process_stopping in the /a group: {stopping:?}"
    );
    for (_, text) in &stopping {
        assert_eq!(text.trim(), "process_stopping child_exit", "{stopping:?}");
    }
    let atexit = markers(&dir, "atexit");
    assert_eq!(
        atexit.len(),
        stopping.len(),
        "atexit runs where process_stopping ran: {atexit:?}"
    );
    // Torn down for real: module globals were released (__del__ ran) and
    // a file the application never flushed got its bytes.
    let finalized = markers(&dir, "finalized");
    assert_eq!(
        finalized.len(),
        stopping.len(),
        "every interpreter torn down: {finalized:?}\n{}",
        s.logs()
    );
    let unflushed = markers(&dir, "unflushed");
    assert!(
        unflushed
            .iter()
            .filter(|(_, text)| text.contains("request /"))
            .count()
            >= 2,
        "unflushed files of both groups were flushed at teardown: {unflushed:?}"
    );
    // (MPMs may start and retire other children; take the one that ran both.)
    let report = shutdown_report(&s, "second=");
    assert!(
        report.contains("reason=child_exit")
            && report.contains("watchdog=not fired")
            && report.contains("destroyed=[")
            && report.contains("not_destroyed=[]"),
        "{report}"
    );
    assert!(report.contains("second="), "{report}");
}

/// A child recycled by MaxConnectionsPerChild says so.
#[test]
fn max_connections_per_child_is_a_reason() {
    let dir = app_dir("lmaxconn");
    let s = Server::start("lmaxconn", &two_groups(&dir, "MaxConnectionsPerChild 3"));
    let seen = wait_until(Duration::from_secs(20), || {
        assert_eq!(s.get("/a/").status, 200);
        markers(&dir, "stopping")
            .iter()
            .any(|(_, t)| t.trim() == "process_stopping max_connections")
    });
    assert!(seen, "{:?}\n{}", markers(&dir, "stopping"), s.logs());
}

#[test]
fn destroy_interpreter_off_skips_atexit() {
    let dir = app_dir("lnoatexit");
    let mut s = Server::start("lnoatexit", &two_groups(&dir, "WSGIDestroyInterpreter Off"));
    assert_eq!(s.get("/a/").status, 200);
    s.stop();
    assert!(!markers(&dir, "stopping").is_empty(), "{}", s.logs());
    assert!(
        markers(&dir, "atexit").is_empty(),
        "atexit ran with WSGIDestroyInterpreter Off"
    );
    assert!(
        markers(&dir, "finalized").is_empty(),
        "an interpreter was torn down with WSGIDestroyInterpreter Off"
    );
    assert!(
        s.error_log()
            .contains("destroy=skipped (WSGIDestroyInterpreter Off"),
        "{}",
        s.logs()
    );
}

#[test]
fn a_stuck_non_daemon_thread_does_not_delay_stop() {
    let dir = app_dir("lthread");
    let mut s = Server::start("lthread", &two_groups(&dir, ""));
    assert_eq!(s.get("/a/thread").text(), "thread started");
    let took = s.stop();
    eprintln!("stop with a never-ending non-daemon thread took {took:?}");
    // A child that hung would make Apache escalate: AH00045 (its SIGTERM,
    // ~3 s into stop), then AH00046 (SIGKILL, ~9 s). Neither may appear.
    let log = s.error_log();
    assert!(
        !log.contains("AH00045") && !log.contains("AH00046"),
        "Apache had to kill a child\n{log}"
    );
    assert!(
        !markers(&dir, "stopping").is_empty(),
        "subscribers did not run\n{}",
        s.logs()
    );
    // The thread's interpreter cannot be torn down (Python would wait for
    // the thread without end): its atexit callbacks run instead, and the
    // report names the thread. The other group's interpreter is torn down.
    assert!(!markers(&dir, "atexit").is_empty(), "{}", s.logs());
    let report = shutdown_report(&s, "threads still running");
    assert!(report.contains("(non-daemon)"), "{report}");
}

#[test]
fn the_watchdog_ends_a_shutdown_that_hangs_and_shows_where() {
    let dir = app_dir("lwatchdog");
    let mut s = Server::start("lwatchdog", &two_groups(&dir, ""));
    assert_eq!(s.get("/a/hang-on-stop").text(), "will hang");
    let took = s.stop();
    eprintln!("stop with a hanging subscriber took {took:?}");
    // The watchdog (2 s) ends the child before Apache's SIGKILL (AH00046).
    assert!(
        !s.error_log().contains("AH00046"),
        "Apache had to SIGKILL a child\n{}",
        s.logs()
    );
    assert!(!markers(&dir, "hanging").is_empty(), "{}", s.logs());
    let log = s.error_log();
    assert!(
        log.contains("watchdog=fired") && log.contains("process_stopping subscriber hang_forever"),
        "{log}"
    );
    // faulthandler's dump of the stuck interpreter's threads, in the error log.
    assert!(
        log.contains("in hang_forever"),
        "no Python stack in the log:\n{log}"
    );
}

#[test]
fn request_events_and_request_data() {
    let dir = app_dir("levents");
    let s = Server::start("levents", &two_groups(&dir, ""));
    assert_eq!(s.get("/a/first").status, 200);
    let r = s.get("/a/events");
    let v = common::json::parse_response(&r);
    let events = format!("{:?}", v.get("events"));
    for e in ["request_started", "response_started", "request_finished"] {
        assert!(events.contains(e), "{e} missing from {events}");
    }
    // request_data() is per request, filled by the request_started subscriber.
    assert_eq!(
        v.get("data").get("request_id_seen").str(),
        v.get("request_id").str()
    );
    // A subscriber may replace the application; a failing one is logged and
    // the request still succeeds.
    assert_eq!(s.get("/a/replace").text(), "replaced application");
    assert_eq!(s.get("/a/bad-subscriber").status, 200);
    assert!(
        s.wait_for_log("subscriber failed on purpose", Duration::from_secs(5)),
        "{}",
        s.logs()
    );
    // request_finished carries mod_wsgi's payload: I/O counts, status, times.
    check_request_finished(&s, "/a", None);
    assert_eq!(s.get("/a/raise").status, 500);
    let v = common::json::parse_response(&s.get("/a/events"));
    assert!(
        format!("{:?}", v.get("events")).contains("request_exception"),
        "{:?}",
        v.get("events")
    );
}

/// POSTs 3000 bytes to `{prefix}/read`, then checks the request_finished
/// payload that request produced (`daemon`: the pid serving the app, which
/// then differs from `server_pid`, the Apache child).
fn check_request_finished(s: &Server, prefix: &str, daemon: Option<u32>) {
    let body = "y".repeat(3000);
    let r = s.request(&format!(
        "POST {prefix}/read HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Length: 3000\r\nConnection: close\r\n\r\n{body}",
        s.port
    ));
    assert_eq!(r.text(), "read 3000");
    // The event is published after the response went out: wait for it.
    let mut f = common::json::parse_response(&s.get(&format!("{prefix}/finished")));
    wait_until(Duration::from_secs(5), || {
        f = common::json::parse_response(&s.get(&format!("{prefix}/finished")));
        f.get("input_length").num() == 3000.0
    });
    assert_eq!(f.get("input_length").num(), 3000.0, "{f:?}");
    assert!(f.get("input_reads").num() >= 1.0, "{f:?}");
    assert_eq!(f.get("output_length").num(), 9.0, "{f:?}");
    assert_eq!(f.get("output_writes").num(), 1.0, "{f:?}");
    assert_eq!(f.get("status").num(), 200.0, "{f:?}");
    for k in [
        "input_time",
        "output_time",
        "cpu_user_time",
        "cpu_system_time",
        "cpu_time",
        "application_time",
    ] {
        assert!(f.get(k).num() >= 0.0, "{k}: {f:?}");
    }
    let (req, app, fin) = (
        f.get("request_start").num(),
        f.get("application_start").num(),
        f.get("application_finish").num(),
    );
    assert!(req > 1e9 && req <= app && app <= fin, "{f:?}");
    assert!(f.get("gil_wait_count").num() >= 1.0, "{f:?}");
    assert!(f.get("gil_wait_time").num() >= 0.0, "{f:?}");
    let started = f.get("started");
    let (queue, daemon_start) = (f.get("queue_start").num(), f.get("daemon_start").num());
    assert_eq!(started.get("queue_start").num(), queue, "{f:?}");
    if daemon.is_some() {
        // Apache read the request, relayed it, the daemon took it, then
        // the application ran; one connection or none (a kept one), no retry.
        assert!(
            req <= queue && queue <= daemon_start && daemon_start <= app,
            "{f:?}"
        );
        assert!(started.get("daemon_connects").num() <= 1.0, "{f:?}");
        assert_eq!(started.get("daemon_restarts").num(), 0.0, "{f:?}");
    } else {
        assert_eq!((queue, daemon_start), (0.0, 0.0), "{f:?}");
    }
    let server_pid = f.get("server_pid").num() as u32;
    match daemon {
        Some(pid) => {
            assert_eq!(f.get("pid").num() as u32, pid);
            assert_ne!(server_pid, pid, "server_pid is the Apache child");
        }
        None => assert_eq!(server_pid, f.get("pid").num() as u32),
    }
}

fn daemon_conf(dir: &Path, options: &str) -> String {
    format!(
        "WSGIDaemonProcess site processes=1 threads=2 display-name=%{{GROUP}} {options}\n\
         WSGIScriptAlias /d {}/lifecycle.wsgi process-group=site\n",
        dir.display()
    )
}

/// Both interpreters of a daemon are torn down on `stop` (finalizers run,
/// unflushed files are flushed); in a second run, a daemon thread left in
/// a sub-interpreter keeps it (and so the main one) from being torn down,
/// their atexit callbacks run instead, and nothing waits for the thread.
#[test]
fn daemon_interpreters_are_torn_down_unless_a_thread_is_left() {
    for with_thread in [false, true] {
        let dir = app_dir(if with_thread {
            "lteardownt"
        } else {
            "lteardown"
        });
        let conf = format!(
            "WSGIDaemonProcess site processes=1 threads=2\n\
             WSGIScriptAlias /d {d}/lifecycle.wsgi process-group=site application-group=%{{GLOBAL}}\n\
             WSGIScriptAlias /s {d}/lifecycle.wsgi process-group=site application-group=second\n",
            d = dir.display()
        );
        let mut s = Server::start("lteardown", &conf);
        assert_eq!(s.get("/d/").status, 200, "{}", s.logs());
        assert_eq!(s.get("/s/").status, 200, "{}", s.logs());
        if with_thread {
            assert_eq!(s.get("/s/daemon-thread").text(), "daemon thread started");
        }
        let took = s.stop();
        eprintln!("stop took {took:?}");
        let report = shutdown_report(&s, "process='site'");
        assert_eq!(markers(&dir, "stopping").len(), 2, "{}", s.logs());
        assert_eq!(markers(&dir, "atexit").len(), 2, "{}", s.logs());
        let finalized = markers(&dir, "finalized");
        if with_thread {
            assert!(finalized.is_empty(), "{finalized:?}");
            assert!(
                report.contains("destroyed=[]")
                    && report.contains("second: threads still running: forever (daemon)"),
                "{report}"
            );
            // Daemon threads are not waited for.
            assert!(took < Duration::from_secs(3), "stop took {took:?}");
        } else {
            assert_eq!(finalized.len(), 2, "{finalized:?}\n{report}");
            assert!(
                report.contains("destroyed=[second %{GLOBAL}]")
                    && report.contains("not_destroyed=[]"),
                "{report}"
            );
            let flushed = markers(&dir, "unflushed");
            assert!(
                flushed.iter().all(|(_, t)| t.contains("request /")),
                "{flushed:?}"
            );
        }
    }
}

#[test]
fn daemon_signals_give_their_reasons() {
    let dir = app_dir("lsignals");
    let s = Server::start("lsignals", &daemon_conf(&dir, ""));
    assert!(
        s.wait_for_log("daemon process 1 ready", Duration::from_secs(20)),
        "{}",
        s.logs()
    );
    assert_eq!(s.get("/d/").status, 200);
    let first = children_named(s.pid(), "(wsgi:site)")[0];
    check_request_finished(&s, "/d", Some(first));

    // SIGHUP: a process_signal event, the process keeps running.
    common::signal(first as i32, libc::SIGHUP);
    assert!(
        wait_until(Duration::from_secs(5), || !markers(&dir, "signal")
            .is_empty()),
        "{}",
        s.logs()
    );
    assert_eq!(markers(&dir, "signal")[0].1.trim(), "SIGHUP 1");
    assert_eq!(s.get("/d/").text(), format!("pid {first}"));

    // SIGTERM: process_stopping(shutdown_signal), then a new daemon.
    common::signal(first as i32, libc::SIGTERM);
    assert!(
        wait_until(Duration::from_secs(10), || !alive(first)),
        "daemon did not stop"
    );
    let stopping = markers(&dir, "stopping");
    assert!(
        stopping
            .iter()
            .any(|(_, t)| t.trim() == "process_stopping shutdown_signal"),
        "{stopping:?}\n{}",
        s.logs()
    );
    assert!(wait_until(Duration::from_secs(10), || children_named(
        s.pid(),
        "(wsgi:site)"
    )
    .len()
        == 1));
    let second = children_named(s.pid(), "(wsgi:site)")[0];
    assert_ne!(second, first);

    // SIGUSR1: graceful_signal.
    assert_eq!(s.get("/d/").status, 200);
    common::signal(second as i32, libc::SIGUSR1);
    assert!(wait_until(Duration::from_secs(10), || !alive(second)));
    assert!(
        markers(&dir, "stopping")
            .iter()
            .any(|(_, t)| t.trim() == "process_stopping graceful_signal"),
        "{}",
        s.logs()
    );
    assert!(
        s.error_log().contains("reason=graceful_signal"),
        "{}",
        s.logs()
    );
}

#[test]
fn a_daemon_shutdown_is_bounded_by_shutdown_timeout() {
    let dir = app_dir("ldwatchdog");
    let s = Server::start("ldwatchdog", &daemon_conf(&dir, "shutdown-timeout=1"));
    assert!(s.wait_for_log("daemon process 1 ready", Duration::from_secs(20)));
    assert_eq!(s.get("/d/hang-on-stop").text(), "will hang");
    let pid = children_named(s.pid(), "(wsgi:site)")[0];
    let t0 = std::time::Instant::now();
    common::signal(pid as i32, libc::SIGTERM);
    assert!(
        wait_until(Duration::from_secs(10), || !alive(pid)),
        "daemon still alive"
    );
    eprintln!(
        "daemon with a hanging subscriber and shutdown-timeout=1 exited after {:?}",
        t0.elapsed()
    );
    assert!(
        s.wait_for_log("watchdog=fired", Duration::from_secs(5)),
        "{}",
        s.logs()
    );
    assert!(s.error_log().contains("in hang_forever"), "{}", s.logs());
}

/// Waits until the single daemon of `s` is a process other than `old`.
fn replaced(s: &Server, old: u32) -> Option<u32> {
    let mut new = None;
    wait_until(Duration::from_secs(10), || {
        new = children_named(s.pid(), "(wsgi:site)")
            .into_iter()
            .find(|p| *p != old && alive(*p));
        new.is_some() && !alive(old)
    });
    new
}

#[test]
fn maximum_requests_recycles_a_daemon_after_its_requests() {
    let dir = app_dir("lmaxreq");
    let s = Server::start("lmaxreq", &daemon_conf(&dir, "maximum-requests=3"));
    assert!(s.wait_for_log("daemon process 1 ready", Duration::from_secs(20)));
    let old = children_named(s.pid(), "(wsgi:site)")[0];
    for _ in 0..3 {
        assert_eq!(s.get("/d/").text(), format!("pid {old}"));
    }
    let new = replaced(&s, old).unwrap_or_else(|| panic!("not recycled\n{}", s.logs()));
    assert!(
        s.error_log().contains("reason=maximum_requests"),
        "{}",
        s.logs()
    );
    assert!(markers(&dir, "stopping")
        .iter()
        .any(|(_, t)| t.trim() == "process_stopping maximum_requests"));
    assert_eq!(s.get("/d/").text(), format!("pid {new}"));
}

#[test]
fn inactivity_timeout_and_restart_interval_recycle_daemons() {
    let dir = app_dir("linactive");
    let s = Server::start("linactive", &daemon_conf(&dir, "inactivity-timeout=1"));
    assert!(s.wait_for_log("daemon process 1 ready", Duration::from_secs(20)));
    let old = children_named(s.pid(), "(wsgi:site)")[0];
    assert_eq!(s.get("/d/").status, 200);
    replaced(&s, old).unwrap_or_else(|| panic!("not recycled after inactivity\n{}", s.logs()));
    assert!(
        s.error_log().contains("reason=inactivity_timeout"),
        "{}",
        s.logs()
    );

    let dir = app_dir("linterval");
    let s = Server::start("linterval", &daemon_conf(&dir, "restart-interval=1"));
    assert!(s.wait_for_log("daemon process 1 ready", Duration::from_secs(20)));
    let old = children_named(s.pid(), "(wsgi:site)")[0];
    replaced(&s, old).unwrap_or_else(|| panic!("not recycled by restart-interval\n{}", s.logs()));
    assert!(
        s.error_log().contains("reason=restart_interval"),
        "{}",
        s.logs()
    );
}

#[test]
fn request_timeout_restarts_a_daemon_with_a_stuck_request() {
    let dir = app_dir("lreqtimeout");
    let s = Server::start("lreqtimeout", &daemon_conf(&dir, "request-timeout=1"));
    assert!(s.wait_for_log("daemon process 1 ready", Duration::from_secs(20)));
    let old = children_named(s.pid(), "(wsgi:site)")[0];
    // Twice on one client connection, so the stuck request travels on a
    // connection to the daemon kept from the first: when the daemon dies
    // under it, it must not be sent to the next daemon to get stuck again.
    let t0 = std::time::Instant::now();
    let both = s.request(
        "GET /d/ HTTP/1.1\r\nHost: x\r\n\r\nGET /d/stuck?30 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    let took = t0.elapsed();
    eprintln!("a 30 s request under request-timeout=1 ended after {took:?}");
    assert!(
        both.text().contains("HTTP/1.1 502"),
        "{}\n{}",
        both.text(),
        s.logs()
    );
    // It ran once: no second daemon got it after the first died.
    let runs: usize = markers(&dir, "stuck")
        .iter()
        .map(|(_, t)| t.lines().count())
        .sum();
    assert_eq!(runs, 1, "the stuck request ran {runs} times\n{}", s.logs());
    assert!(
        s.error_log().contains("reason=request_timeout"),
        "{}",
        s.logs()
    );
    assert!(markers(&dir, "stopping")
        .iter()
        .any(|(_, t)| t.trim() == "process_stopping request_timeout"));
    replaced(&s, old).unwrap_or_else(|| panic!("no new daemon\n{}", s.logs()));
    assert_eq!(s.get("/d/").status, 200);
}

/// Starts a one-process daemon group with `options` and returns the server
/// and the daemon's pid.
fn one_daemon(tag: &str, options: &str) -> (Server, PathBuf, u32) {
    let dir = app_dir(tag);
    let s = Server::start(tag, &daemon_conf(&dir, options));
    assert!(
        s.wait_for_log("daemon process 1 ready", Duration::from_secs(20)),
        "{}",
        s.logs()
    );
    let pid = children_named(s.pid(), "(wsgi:site)")[0];
    (s, dir, pid)
}

fn stopped_for(s: &Server, dir: &Path, reason: &str) {
    assert!(
        s.wait_for_log(&format!("reason={reason}"), Duration::from_secs(5)),
        "{}",
        s.logs()
    );
    let want = match reason {
        "graceful_restart" => "process_stopping shutdown_signal (graceful_restart)".to_string(),
        _ => format!("process_stopping {reason}"),
    };
    assert!(
        wait_until(Duration::from_secs(5), || markers(dir, "stopping")
            .iter()
            .any(|(_, t)| t.trim() == want)),
        "{:?}\n{}",
        markers(dir, "stopping"),
        s.logs()
    );
}

#[test]
fn cpu_and_memory_limits_recycle_a_daemon_after_its_requests() {
    let (s, dir, old) = one_daemon("lcpu", "cpu-time-limit=1");
    // The limit passes mid-request (2 s of CPU, not of wall time: on a busy
    // machine a wall-time spin may use less than the limit): the request
    // still completes.
    let r = s.get("/d/spin-cpu?2");
    assert_eq!((r.status, r.text().as_str()), (200, "spun"), "{}", s.logs());
    replaced(&s, old).unwrap_or_else(|| panic!("not recycled\n{}", s.logs()));
    stopped_for(&s, &dir, "cpu_time_limit");

    let (s, dir, old) = one_daemon("lmemory", "memory-limit=150000000");
    let r = s.get("/d/grow?200");
    assert_eq!(
        (r.status, r.text().as_str()),
        (200, "grown"),
        "{}",
        s.logs()
    );
    replaced(&s, old).unwrap_or_else(|| panic!("not recycled\n{}", s.logs()));
    stopped_for(&s, &dir, "memory_limit");
    assert_eq!(s.get("/d/").status, 200);
}

#[test]
fn deadlock_timeout_restarts_a_daemon_whose_gil_is_stuck() {
    let (s, _dir, old) = one_daemon("ldeadlock", "deadlock-timeout=2 shutdown-timeout=2");
    let t0 = std::time::Instant::now();
    let r = s.get("/d/hold-gil?60");
    eprintln!(
        "a request holding the GIL for 60 s ended after {:?}",
        t0.elapsed()
    );
    assert_eq!(r.status, 502, "{}", s.logs());
    assert!(
        s.wait_for_log("reason=deadlock_timeout", Duration::from_secs(5)),
        "{}",
        s.logs()
    );
    // Nothing could run Python any more, so the watchdog ended the process.
    assert!(s.error_log().contains("watchdog=fired"), "{}", s.logs());
    let new = replaced(&s, old).unwrap_or_else(|| panic!("no new daemon\n{}", s.logs()));
    assert_eq!(s.get("/d/").text(), format!("pid {new}"));
}

#[test]
fn interrupt_timeout_stops_only_the_stuck_request_when_it_can() {
    let (s, dir, pid) = one_daemon("linterrupt", "request-timeout=1 interrupt-timeout=2");
    // Python code running: the exception lands, the request fails alone.
    let t0 = std::time::Instant::now();
    let r = s.get("/d/spin?30");
    eprintln!(
        "a 30 s busy request under request-timeout=1 ended after {:?}",
        t0.elapsed()
    );
    // 500 (not 502 after a restart, nor 200 after 30 s): the exception
    // reached the request.
    assert_eq!(r.status, 500, "{}", s.logs());
    assert!(
        s.error_log().contains("mod_wsgi.RequestTimeout"),
        "{}",
        s.logs()
    );
    assert_eq!(s.get("/d/").text(), format!("pid {pid}"), "same process");
    // Nothing pending is left for that thread's next requests.
    for _ in 0..4 {
        assert_eq!(s.get("/d/").status, 200);
    }
    // Blocked in C (time.sleep): the exception cannot land, so after
    // interrupt-timeout the process restarts.
    let r = s.get("/d/stuck?30");
    assert_eq!(r.status, 502, "{}", s.logs());
    stopped_for(&s, &dir, "request_timeout");
    replaced(&s, pid).unwrap_or_else(|| panic!("no new daemon\n{}", s.logs()));
}

#[test]
fn startup_timeout_restarts_a_daemon_whose_script_does_not_load() {
    let dir = app_dir("lstartup");
    common::write_file(
        &dir,
        "broken.wsgi",
        "import os\n\
         if not os.path.exists(os.path.join(os.path.dirname(__file__), 'markers', 'fixed')):\n\
         \x20   raise ImportError('not deployed yet')\n\
         def application(environ, start_response):\n\
         \x20   start_response('200 OK', [('Content-Type', 'text/plain')])\n\
         \x20   return [b'loaded']\n",
    );
    let s = Server::start(
        "lstartup",
        &format!(
            "WSGIDaemonProcess site processes=1 display-name=%{{GROUP}} startup-timeout=2\n\
             WSGIScriptAlias /b {}/broken.wsgi process-group=site\n",
            dir.display()
        ),
    );
    assert!(s.wait_for_log("daemon process 1 ready", Duration::from_secs(20)));
    let old = children_named(s.pid(), "(wsgi:site)")[0];
    assert_eq!(s.get("/b/").status, 500);
    replaced(&s, old).unwrap_or_else(|| panic!("not restarted\n{}", s.logs()));
    assert!(
        s.error_log().contains("reason=startup_timeout"),
        "{}",
        s.logs()
    );
    common::write_file(&dir, "markers/fixed", "");
    assert_eq!(s.get("/b/").text(), "loaded");
}

/// Sends `sig` to the daemon `pid` once a 2 s request runs in it (its
/// `stuck` marker appeared), and checks that the request's client still
/// gets the whole answer.
fn signal_during_a_2s_request(s: &Server, dir: &Path, pid: u32, sig: i32) {
    let port = s.port;
    let in_flight = std::thread::spawn(move || {
        common::http::send(
            port,
            b"GET /d/stuck?2 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        )
    });
    assert!(
        wait_until(Duration::from_secs(10), || !markers(dir, "stuck")
            .is_empty()),
        "the request did not start\n{}",
        s.logs()
    );
    common::signal(pid as i32, sig);
    let r = in_flight.join().unwrap().expect("in-flight request");
    assert_eq!(
        (r.status, r.text().as_str()),
        (200, "unstuck"),
        "{}",
        s.logs()
    );
}

/// SIGTERM (stop) to a daemon: it takes no new request, but the one in
/// flight finishes (the join phase, bounded by shutdown-timeout) and its
/// client gets the whole answer; the report shows the join.
#[test]
fn a_stopping_daemon_lets_its_requests_in_flight_finish() {
    let (s, dir, pid) = one_daemon("ljoin", "shutdown-timeout=5");
    signal_during_a_2s_request(&s, &dir, pid, libc::SIGTERM);
    stopped_for(&s, &dir, "shutdown_signal");
    let report = shutdown_report(&s, "reason=shutdown_signal");
    let join_ms: u64 = report
        .split(" join=")
        .nth(1)
        .and_then(|t| t.split("ms").next()?.parse().ok())
        .unwrap_or_else(|| panic!("no join phase: {report}"));
    assert!(
        join_ms >= 1200 && report.contains("(0 still running)"),
        "{report}"
    );
}

#[test]
fn sigusr1_is_an_eviction_when_eviction_timeout_is_set_but_a_restart_stays_graceful() {
    let (s, dir, pid) = one_daemon("leviction", "eviction-timeout=10");
    signal_during_a_2s_request(&s, &dir, pid, libc::SIGUSR1);
    stopped_for(&s, &dir, "eviction_signal");
    let new = replaced(&s, pid).unwrap_or_else(|| panic!("no new daemon\n{}", s.logs()));
    assert_eq!(s.get("/d/").text(), format!("pid {new}"));

    // A server restart retires the daemons with SIGUSR1 too, but from the
    // parent: mod_wsgi's shutdown_signal (our cause: graceful_restart),
    // bounded by graceful-timeout.
    s.graceful();
    assert!(
        wait_until(Duration::from_secs(10), || !alive(new)),
        "{}",
        s.logs()
    );
    stopped_for(&s, &dir, "graceful_restart");
}

/// For each way a process ends: the time from the trigger to the process's
/// exit (printed; these are the figures the lifecycle issue asks for) and
/// the reason its `process_stopping` subscriber received (asserted).
#[test]
fn every_trigger_ends_its_process_promptly_with_its_reason() {
    let dir = app_dir("ltimes");
    let d = dir.display();
    let group = |name: &str, opts: &str| {
        format!(
            "WSGIDaemonProcess {name} processes=1 threads=2 display-name=%{{GROUP}} {opts}\n\
             WSGIScriptAlias /{name} {d}/lifecycle.wsgi process-group={name}\n"
        )
    };
    let conf = format!(
        "WSGIScriptAlias /e {d}/lifecycle.wsgi\n{}{}{}",
        group("plain", ""),
        group("maxreq", "maximum-requests=2"),
        group("reqtime", "request-timeout=1")
    );
    let daemon = |s: &Server, g: &str| {
        let mut pid = None;
        wait_until(Duration::from_secs(20), || {
            pid = children_named(s.pid(), &format!("(wsgi:{g})"))
                .first()
                .copied();
            pid.is_some()
        });
        pid.unwrap_or_else(|| panic!("no daemon for {g}\n{}", s.logs()))
    };
    let reason_of = |pid: u32| {
        let mut r = String::new();
        wait_until(Duration::from_secs(3), || {
            r = markers(&dir, "stopping")
                .into_iter()
                .find(|(n, _)| n.ends_with(&format!("-{pid}")))
                .map(|(_, t)| t.trim().trim_start_matches("process_stopping ").to_string())
                .unwrap_or_default();
            !r.is_empty()
        });
        r
    };
    let gone = |pid: u32| wait_until(Duration::from_secs(15), || !alive(pid));
    // The Apache children serving /e (each has loaded the app).
    let embedded = |s: &Server| {
        let mut pids: Vec<u32> = (0..6)
            .map(|_| {
                s.get("/e/")
                    .text()
                    .trim_start_matches("pid ")
                    .parse()
                    .unwrap()
            })
            .collect();
        pids.sort();
        pids.dedup();
        pids
    };
    let mut rows: Vec<(String, Duration, String, &str)> = Vec::new();

    let mut s = Server::start("ltimes", &conf);
    // SIGUSR1 to an idle daemon.
    let p = daemon(&s, "plain");
    assert_eq!(s.get("/plain/").text(), format!("pid {p}"));
    let t0 = std::time::Instant::now();
    common::signal(p as i32, libc::SIGUSR1);
    assert!(gone(p));
    rows.push((
        "kill -USR1 (daemon)".into(),
        t0.elapsed(),
        reason_of(p),
        "graceful_signal",
    ));
    // maximum-requests=2: from the end of the second request.
    let p = daemon(&s, "maxreq");
    assert_eq!(s.get("/maxreq/").status, 200);
    assert_eq!(s.get("/maxreq/").status, 200);
    let t0 = std::time::Instant::now();
    assert!(gone(p));
    rows.push((
        "maximum-requests (daemon)".into(),
        t0.elapsed(),
        reason_of(p),
        "maximum_requests",
    ));
    // request-timeout=1: from the moment the request passed the timeout.
    let p = daemon(&s, "reqtime");
    assert_eq!(s.get("/reqtime/").status, 200);
    let t0 = std::time::Instant::now();
    assert_eq!(s.get("/reqtime/stuck?30").status, 502);
    assert!(gone(p));
    rows.push((
        "request-timeout (daemon)".into(),
        t0.elapsed().saturating_sub(Duration::from_secs(1)),
        reason_of(p),
        "request_timeout",
    ));
    // apachectl graceful: the old daemon and the old Apache children.
    let p = daemon(&s, "plain");
    assert_eq!(s.get("/plain/").status, 200);
    let children = embedded(&s);
    let t0 = std::time::Instant::now();
    s.graceful();
    assert!(gone(p));
    rows.push((
        "graceful (daemon)".into(),
        t0.elapsed(),
        reason_of(p),
        "shutdown_signal (graceful_restart)",
    ));
    for c in children {
        assert!(gone(c));
        rows.push((
            "graceful (Apache child)".into(),
            t0.elapsed(),
            reason_of(c),
            "server_restart",
        ));
    }
    // apachectl graceful-stop.
    let p = daemon(&s, "plain");
    assert_eq!(s.get("/plain/").status, 200);
    let children = embedded(&s);
    let took = s
        .graceful_stop(Duration::from_secs(20))
        .unwrap_or_else(|| panic!("graceful-stop did not finish\n{}", s.logs()));
    assert!(gone(p));
    rows.push((
        "graceful-stop (daemon)".into(),
        took,
        reason_of(p),
        "shutdown_signal",
    ));
    for c in children {
        rows.push((
            "graceful-stop (Apache child)".into(),
            took,
            reason_of(c),
            "child_exit",
        ));
    }
    for line in s
        .error_log()
        .lines()
        .filter(|l| l.contains("shutdown report:"))
    {
        eprintln!("{}", line.split("shutdown report: ").nth(1).unwrap_or(line));
    }
    drop(s);

    // apachectl stop.
    let mut s = Server::start("ltimes2", &conf);
    let p = daemon(&s, "plain");
    assert_eq!(s.get("/plain/").status, 200);
    let children = embedded(&s);
    let took = s
        .signal_and_wait(libc::SIGTERM, Duration::from_secs(20))
        .unwrap_or_else(|| panic!("stop did not finish\n{}", s.logs()));
    rows.push((
        "stop (daemon)".into(),
        took,
        reason_of(p),
        "shutdown_signal",
    ));
    for c in children {
        rows.push((
            "stop (Apache child)".into(),
            took,
            reason_of(c),
            "child_exit",
        ));
    }

    for (what, took, reason, _) in &rows {
        eprintln!(
            "{what:32} exited {:>7.1} ms after the trigger, reason {reason}",
            took.as_secs_f64() * 1e3
        );
    }
    for (what, _, reason, want) in &rows {
        assert_eq!(reason, want, "{what}");
    }
}
