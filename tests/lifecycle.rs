//! The shutdown contract against a real httpd: every interpreter hears
//! `process_stopping` with a reason, interpreters are torn down (atexit,
//! finalizers) unless WSGIDestroyInterpreter Off,
//! a watchdog bounds everything, a report line tells what happened; plus
//! the request events of the `mod_wsgi` event API (daemons: daemon_lifecycle.rs).

mod common;

use common::lifecycle_apps::*;

use common::{wait_until, Server};
use std::time::Duration;

#[test]
fn every_interpreter_hears_process_stopping_and_atexit_runs() {
    let dir = app_dir("lstop");
    let mut s = Server::start("lstop", &two_groups(&dir, ""));
    assert_eq!(s.get("/a/").status, 200);
    assert_eq!(s.get("/b/").status, 200);
    s.wait_until_connections_closed();
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
    s.wait_until_connections_closed();
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
    s.wait_until_connections_closed();
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
    s.wait_until_connections_closed();
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

#[test]
fn the_wait_before_a_stop_sees_a_connection_apache_still_holds() {
    use std::io::{Read, Write};
    let dir = app_dir("lheld");
    let mut s = Server::start("lheld", &two_groups(&dir, ""));
    let mut c = std::net::TcpStream::connect(("127.0.0.1", s.port)).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    c.write_all(b"GET /a/ HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
    let mut first = [0u8; 12];
    c.read_exact(&mut first).unwrap();
    assert_eq!(&first, b"HTTP/1.1 200", "{}", s.logs());
    // A keep-alive connection: Apache holds it until the client goes.
    assert_eq!(s.held_connections(), 1, "{}", s.logs());
    drop(c);
    s.wait_until_connections_closed();
    assert_eq!(s.held_connections(), 0, "{}", s.logs());
    s.stop();
}
