//! What the lifecycle suites share: the lifecycle app and its marker
//! files, shutdown reports, and servers with one or two daemons.

use super::{alive, children_named, wait_until, write_file, Server};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub fn app_dir(tag: &str) -> PathBuf {
    let dir = super::temp_dir(tag);
    write_file(
        &dir,
        "lifecycle.wsgi",
        include_str!("../apps/lifecycle.wsgi"),
    );
    let markers = dir.join("markers");
    fs::create_dir_all(&markers).unwrap();
    fs::set_permissions(&markers, fs::Permissions::from_mode(0o777)).unwrap();
    dir
}

/// Contents of the marker files whose names start with `kind-`.
pub fn markers(dir: &Path, kind: &str) -> Vec<(String, String)> {
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
pub fn shutdown_report(s: &Server, marker: &str) -> String {
    let log = s.error_log();
    let report = log
        .lines()
        .find(|l| l.contains("shutdown report:") && l.contains(marker))
        .unwrap_or_else(|| panic!("no shutdown report with '{marker}'\n{log}"))
        .to_string();
    eprintln!("{report}");
    report
}

pub fn two_groups(dir: &Path, extra: &str) -> String {
    let d = dir.display();
    format!(
        "WSGIScriptAlias /a {d}/lifecycle.wsgi\n\
         WSGIScriptAlias /b {d}/lifecycle.wsgi application-group=second\n{extra}"
    )
}

pub fn daemon_conf(dir: &Path, options: &str) -> String {
    format!(
        "WSGIDaemonProcess site processes=1 threads=2 display-name=%{{GROUP}} {options}\n\
         WSGIScriptAlias /d {}/lifecycle.wsgi process-group=site\n",
        dir.display()
    )
}

/// Waits until the single daemon of `s` is a process other than `old`.
pub fn replaced(s: &Server, old: u32) -> Option<u32> {
    let mut new = None;
    wait_until(Duration::from_secs(10), || {
        new = children_named(s.pid(), "(wsgi:site)")
            .into_iter()
            .find(|p| *p != old && alive(*p));
        new.is_some() && !alive(old)
    });
    new
}

/// Starts a one-process daemon group with `options` and returns the server
/// and the daemon's pid.
pub fn one_daemon(tag: &str, options: &str) -> (Server, PathBuf, u32) {
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

pub fn stopped_for(s: &Server, dir: &Path, reason: &str) {
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

/// Sends `sig` to the daemon `pid` once a 2 s request runs in it (its
/// `stuck` marker appeared), and checks that the request's client still
/// gets the whole answer.
pub fn signal_during_a_2s_request(s: &Server, dir: &Path, pid: u32, sig: i32) {
    let port = s.port;
    let in_flight = std::thread::spawn(move || {
        super::http::send(
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
    super::signal(pid as i32, sig);
    let r = in_flight.join().unwrap().expect("in-flight request");
    assert_eq!(
        (r.status, r.text().as_str()),
        (200, "unstuck"),
        "{}",
        s.logs()
    );
}

/// POSTs 3000 bytes to `{prefix}/read`, then checks the request_finished
/// payload that request produced (`daemon`: the pid serving the app, which
/// then differs from `server_pid`, the Apache child).
pub fn check_request_finished(s: &Server, prefix: &str, daemon: Option<u32>) {
    let body = "y".repeat(3000);
    let r = s.request(&format!(
        "POST {prefix}/read HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Length: 3000\r\nConnection: close\r\n\r\n{body}",
        s.port
    ));
    assert_eq!(r.text(), "read 3000");
    // The event is published after the response went out: wait for it.
    let mut f = super::json::parse_response(&s.get(&format!("{prefix}/finished")));
    wait_until(Duration::from_secs(5), || {
        f = super::json::parse_response(&s.get(&format!("{prefix}/finished")));
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
