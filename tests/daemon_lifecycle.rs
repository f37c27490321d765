//! A daemon's lifecycle against a real httpd: teardown, the signals and
//! their reasons, shutdown bounds, and recycling by count and time.

mod common;

use common::lifecycle_apps::*;
use common::{alive, children_named, wait_until, Server};
use std::time::Duration;

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
    // Until the line is complete: the app creates the file, then writes
    // (without the GIL the test can read in between).
    assert!(
        wait_until(Duration::from_secs(5), || markers(&dir, "signal")
            .first()
            .is_some_and(|(_, text)| text.ends_with('\n'))),
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
