//! Daemon mode against a real httpd: WSGIDaemonProcess groups forked and
//! supervised by the Apache parent, requests relayed over UNIX sockets, and
//! the failure cases (dead, unreachable and slow daemons).

mod common;

use common::json::Value;
use common::{
    alive, children_named, daemon_server, http, probe_dir, user_id, wait_until, write_file, Server,
};
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::time::Duration;

fn json(r: &http::Response) -> Value {
    common::json::parse_response(r)
}

#[test]
fn requests_run_in_the_daemon_processes() {
    let (s, _d) = daemon_server("dbasic", "", "");
    let m = json(&s.get("/app/module"));
    assert_eq!(m.get("process_group").str(), "site");
    assert_eq!(
        m.get("application_group").str(),
        format!("127.0.0.1:{}|/app", s.port)
    );
    assert_eq!(m.get("maximum_processes").num(), 2.0);
    assert_eq!(m.get("threads_per_process").num(), 4.0);
    let daemons = children_named(s.pid(), "(wsgi:site)");
    assert_eq!(
        daemons.len(),
        2,
        "display-name=%{{GROUP}} shows in ps: {daemons:?}"
    );
    let pid = m.get("pid").num() as u32;
    assert!(
        daemons.contains(&pid),
        "request ran in pid {pid}, daemons are {daemons:?}"
    );
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        assert_eq!(
            m.get("uid").num() as u32,
            user_id("nobody"),
            "daemons run as Apache's User"
        );
    }
    let e = json(&s.get("/app/environ?x=1"));
    assert_eq!(e.get("mod_wsgi.process_group").str(), "site");
    assert_eq!(e.get("SCRIPT_NAME").str(), "/app");
    assert_eq!(e.get("PATH_INFO").str(), "/environ");
    assert_eq!(e.get("QUERY_STRING").str(), "x=1");
    assert_eq!(e.get("wsgi.multithread"), &Value::Bool(true));
    assert_eq!(e.get("wsgi.multiprocess"), &Value::Bool(true));
    assert_eq!(e.get("types_are_str"), &Value::Bool(true));
    assert!(!e.get("mod_wsgi.request_id").str().is_empty());
}

#[test]
fn bodies_streams_and_files_cross_the_socket() {
    let (s, dir) = daemon_server(
        "dbodies",
        "",
        "<Location /app>\n  WSGIChunkedRequest On\n</Location>",
    );
    let body = "abcdefgh\nline two\nthree\nfour\n";
    let r = s.request(&format!(
        "POST /app/read-modes HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
        body.len(),
        body
    ));
    let v = json(&r);
    assert_eq!(v.get("first").str(), "abcde");
    assert_eq!(v.get("limited").str(), "lin");

    let big: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    let mut req = format!(
        "POST /app/echo HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        big.len()
    )
    .into_bytes();
    req.extend_from_slice(&big);
    let r = s.request_bytes(&req);
    assert_eq!(r.status, 200, "{}", s.logs());
    assert!(
        r.body == big,
        "echoed {} bytes of {}",
        r.body.len(),
        big.len()
    );

    let mut req = b"POST /app/echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n".to_vec();
    req.extend_from_slice(&http::chunked(&big[..300_000], 7000));
    let r = s.request_bytes(&req);
    assert!(
        r.body == big[..300_000],
        "chunked echo was {} bytes",
        r.body.len()
    );

    let r = s.request("POST /app/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\nConnection: close\r\n\r\nhello");
    assert_eq!((r.status, r.text().as_str()), (200, "hello"));

    let r = s.get("/app/stream?64");
    assert_eq!(r.body.len(), 64 * 16384);

    let data: Vec<u8> = (0..1_048_576u32).map(|i| (i * 7 % 256) as u8).collect();
    fs::write(dir.join("markers/big.bin"), &data).unwrap();
    let r = s.get("/app/file?big.bin");
    assert_eq!(r.header("Content-Length"), Some("1048576"));
    assert!(r.body == data, "file body differs ({} bytes)", r.body.len());

    let r = s.get("/app/too-long");
    assert_eq!(r.text(), "12345");
}

#[test]
fn application_errors_are_500_and_logged_with_the_request_id_and_client() {
    let (s, _d) = daemon_server("derrors", "", "");
    let r = s.get("/app/raise?daemon-side");
    assert_eq!(r.status, 500);
    let line = s.log_line("RuntimeError: probe raised on purpose daemon-side");
    assert!(
        line.contains("process='site'") && line.contains("request="),
        "{line}"
    );
    // Where Apache writes "[client a:p]" for a request it logs itself (and
    // mod_wsgi's daemons "[remote a:p]").
    assert!(line.contains("] [remote 127.0.0.1:"), "{line}");
    assert_eq!(s.get("/app/module").status, 200);
    let r = s.get("/app/errors?from-daemon");
    assert_eq!(r.status, 200);
    assert!(s.wait_for_log("probe wsgi.errors line from-daemon", Duration::from_secs(5)));
}

#[test]
fn a_killed_daemon_is_replaced() {
    let (s, _d) = daemon_server("dkill", "", "");
    let before = children_named(s.pid(), "(wsgi:site)");
    assert_eq!(before.len(), 2);
    common::signal(before[0] as i32, 9);
    assert!(
        wait_until(Duration::from_secs(10), || {
            let now = children_named(s.pid(), "(wsgi:site)");
            now.len() == 2 && !now.contains(&before[0])
        }),
        "no replacement daemon\n{}",
        s.logs()
    );
    assert!(
        s.wait_for_log(
            "was killed by signal 9; starting a new one",
            Duration::from_secs(5)
        ),
        "{}",
        s.logs()
    );
    for _ in 0..10 {
        assert_eq!(s.get("/app/module").status, 200);
    }
}

#[test]
fn a_daemon_dying_mid_request_gives_502_or_a_cut_response() {
    let (s, _d) = daemon_server("ddie", "", "");
    let r = s.get("/app/exit-now");
    assert_eq!(r.status, 502, "{}", s.logs());
    assert!(
        s.wait_for_log(
            "daemon process group 'site' closed the connection",
            Duration::from_secs(5)
        ),
        "{}",
        s.logs()
    );
    let cut = http::send(
        s.port,
        b"GET /app/exit-mid-stream HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    let e = cut.expect_err("a response cut by a dying daemon must not look complete");
    assert!(e.contains("truncated"), "{e}");
    // The group recovers.
    assert!(wait_until(Duration::from_secs(10), || s
        .get("/app/module")
        .status
        == 200));
}

#[test]
fn an_unreachable_daemon_gives_503_and_a_slow_one_504() {
    let (s, _d) = daemon_server("dunreach", "connect-timeout=1 socket-timeout=1", "");
    let socket = fs::read_dir(&s.root)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "sock"))
        .expect("the group's socket is in DefaultRuntimeDir");
    let r = s.get("/app/sleep?3");
    assert_eq!(r.status, 504, "{}", s.logs());
    assert!(s.wait_for_log(
        "did not answer within the socket timeout",
        Duration::from_secs(5)
    ));
    fs::remove_file(&socket).unwrap();
    let r = s.get("/app/module");
    assert_eq!(r.status, 503);
    assert!(
        s.wait_for_log(
            &format!(
                "cannot reach daemon process group 'site' at {}",
                socket.display()
            ),
            Duration::from_secs(5)
        ),
        "{}",
        s.logs()
    );
}

#[test]
fn the_socket_is_private_to_apaches_user() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: needs root to check ownership and another user");
        return;
    }
    let (s, _d) = daemon_server("dperm", "", "");
    let socket = fs::read_dir(&s.root)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "sock"))
        .unwrap();
    let meta = fs::metadata(&socket).unwrap();
    assert_eq!(meta.mode() & 0o777, 0o600);
    assert_eq!(meta.uid(), user_id("nobody"));
    // Another (non-root) user cannot connect.
    let out = std::process::Command::new("setpriv")
        .args([
            "--reuid=daemon",
            "--regid=daemon",
            "--clear-groups",
            "/usr/bin/python3",
            "-c",
        ])
        .arg(format!(
            "import socket; s = socket.socket(socket.AF_UNIX); s.connect({:?}); print('connected')",
            socket.display().to_string()
        ))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && text.contains("PermissionError"),
        "{text}"
    );
}

#[test]
fn user_and_import_script_options() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: needs root to switch users");
        return;
    }
    let dir = probe_dir("duser");
    write_file(&dir, "preload.wsgi", "import os\nopen(os.path.join(os.path.dirname(__file__), 'markers', 'preloaded-%d' % os.getpid()), 'w').close()\n");
    let d = dir.display();
    let s = Server::start(
        "duser",
        &format!(
            "WSGIDaemonProcess other user=daemon group=daemon processes=1 threads=2\n\
             WSGIImportScript {d}/preload.wsgi process-group=other application-group=%{{GLOBAL}}\n\
             WSGIScriptAlias /app {d}/probe.wsgi process-group=other\n"
        ),
    );
    let m = json(&s.get("/app/module"));
    assert_eq!(m.get("uid").num() as u32, user_id("daemon"));
    let pid = m.get("pid").num() as u32;
    assert!(
        dir.join(format!("markers/preloaded-{pid}")).exists(),
        "import script did not run in the daemon\n{}",
        s.logs()
    );
}

#[test]
fn daemons_exit_when_the_parent_is_killed() {
    let (mut s, _d) = daemon_server("dorphan", "", "");
    let daemons = children_named(s.pid(), "(wsgi:site)");
    assert_eq!(daemons.len(), 2);
    common::signal(s.pid() as i32, 9);
    let gone = wait_until(Duration::from_secs(3), || {
        daemons.iter().all(|p| !alive(*p))
    });
    // The socket keeper removes the socket files the parent left.
    let sockets = || {
        fs::read_dir(&s.root)
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().contains(".sock"))
            .count()
    };
    let no_sockets = wait_until(Duration::from_secs(5), || sockets() == 0);
    let left = sockets();
    // Clean up whatever is left before asserting.
    for p in &daemons {
        common::signal(*p as i32, 9);
    }
    s.stop();
    assert!(gone, "daemons outlived the Apache parent by 3 s");
    assert!(no_sockets, "{left} socket files left 5 s after SIGKILL");
    assert!(
        s.wait_for_log(
            "the Apache parent process has exited (parent_exit)",
            Duration::from_secs(2)
        ),
        "{}",
        s.logs()
    );
}

#[test]
fn stop_leaves_no_daemon_or_socket_behind() {
    let (mut s, _d) = daemon_server("dstop", "", "");
    let daemons = children_named(s.pid(), "(wsgi:site)");
    assert_eq!(s.get("/app/module").status, 200);
    let took = s.stop();
    eprintln!("stop took {:?}", took);
    assert!(daemons.iter().all(|p| !alive(*p)), "daemons left running");
    let sockets: Vec<_> = fs::read_dir(&s.root)
        .unwrap()
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "sock"))
        .collect();
    assert!(
        sockets.is_empty(),
        "socket files left: {:?}",
        sockets.iter().map(|e| e.path()).collect::<Vec<_>>()
    );
    assert!(
        s.error_log()
            .contains("stopping: stop signal (shutdown_signal)"),
        "{}",
        s.logs()
    );
}

#[test]
fn flask_in_daemon_mode_as_mod_wsgis_docs_configure_it() {
    let venv = common::flask_venv();
    let dir = common::temp_dir("dflask");
    write_file(&dir, "flask_app.wsgi", include_str!("apps/flask_app.wsgi"));
    let d = dir.display();
    // The daemon-mode configuration mod_wsgi's documentation shows; only
    // the LoadModule line (in the harness) differs.
    let s = Server::start(
        "dflask",
        &format!(
            "WSGIDaemonProcess flaskapp processes=2 threads=5 python-home={venv} display-name=%{{GROUP}}\n\
             WSGIProcessGroup flaskapp\n\
             WSGIApplicationGroup %{{GLOBAL}}\n\
             WSGIScriptAlias /site {d}/flask_app.wsgi\n\
             <Directory {d}>\n  <Files flask_app.wsgi>\n    Require all granted\n  </Files>\n</Directory>\n",
            venv = venv.display()
        ),
    );
    common::check_flask_site(&s, &venv, "/site");
    assert_eq!(children_named(s.pid(), "(wsgi:flaskapp)").len(), 2);
}

#[test]
fn graceful_restart_lets_in_flight_daemon_requests_finish() {
    let (s, _d) = daemon_server("dgraceful", "processes=1", "");
    let old = json(&s.get("/app/module")).get("pid").num() as u32;
    let port = s.port;
    let in_flight = std::thread::spawn(move || {
        http::send(
            port,
            b"GET /app/sleep?3 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        )
    });
    std::thread::sleep(Duration::from_millis(500));
    s.graceful();
    // The old daemon takes requests until the new generation's is ready
    // (docs/lifecycle.md, "Warm replacement"); every request that starts
    // after that reaches the new one, even one an old Apache child takes.
    assert!(
        s.wait_for_log("take its socket's requests", Duration::from_secs(10)),
        "{}",
        s.logs()
    );
    for _ in 0..10 {
        let r = s.get("/app/module");
        assert_eq!(r.status, 200, "{}", s.logs());
        assert_ne!(json(&r).get("pid").num() as u32, old, "{}", s.logs());
    }
    let r = in_flight
        .join()
        .unwrap()
        .expect("the in-flight request failed");
    assert_eq!(
        (r.status, r.text().as_str()),
        (200, "{\"slept\": 3.0}"),
        "{}",
        s.logs()
    );
    assert!(
        wait_until(Duration::from_secs(10), || !alive(old)),
        "the old daemon did not exit"
    );
    assert!(
        s.wait_for_log("reason=graceful_restart", Duration::from_secs(5)),
        "{}",
        s.logs()
    );
}

#[test]
fn a_client_that_hangs_up_makes_the_daemon_close_the_iterable() {
    let (s, dir) = daemon_server("ddisconnect", "", "");
    common::request_and_hang_up(s.port, "/app/slow-close?gone", 20_000);
    // The daemon notices on its next write and calls close() well before
    // the ~10 s the full response would take.
    assert!(
        common::wait_for_file(&dir.join("markers/gone"), Duration::from_secs(5)),
        "close() was not called after the client left\n{}",
        s.logs()
    );
    assert!(
        s.wait_for_log("the client closed the connection", Duration::from_secs(5)),
        "{}",
        s.logs()
    );
    assert_eq!(s.get("/app/module").status, 200);
}

#[test]
fn a_request_that_waited_past_queue_timeout_gets_503() {
    let (s, _d) = daemon_server("dqueue", "processes=1 threads=1 queue-timeout=1", "");
    let port = s.port;
    let busy = std::thread::spawn(move || {
        http::send(
            port,
            b"GET /app/sleep?3 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        )
    });
    std::thread::sleep(Duration::from_millis(300));
    // The only thread is busy for ~3 s: this one is answered 503 once it
    // has waited queue-timeout (1 s), not when the thread frees up.
    let t0 = std::time::Instant::now();
    let r = s.get("/app/module");
    assert_eq!(r.status, 503, "{}", s.logs());
    let waited = t0.elapsed();
    assert!(
        waited >= Duration::from_millis(900) && waited < Duration::from_millis(2500),
        "{waited:?}"
    );
    assert!(
        s.error_log()
            .contains("took no request within the queue-timeout"),
        "{}",
        s.logs()
    );
    let first = busy.join().unwrap().expect("the busy request");
    assert_eq!(first.status, 200);
    // Without a queue, requests run.
    assert_eq!(s.get("/app/module").status, 200);
}

#[test]
fn a_changed_script_restarts_the_daemons_and_no_request_fails() {
    let (s, dir) = daemon_server("dreload", "", "");
    let pid_of = |r: &http::Response| json(r).get("pid").num() as u32;
    let old: std::collections::BTreeSet<u32> =
        (0..10).map(|_| pid_of(&s.get("/app/module"))).collect();
    // A new version of the script (its modification time moves).
    std::thread::sleep(Duration::from_millis(20));
    let script = dir.join("probe.wsgi");
    let text = std::fs::read_to_string(&script).unwrap() + "\n# deployed again\n";
    common::write_file(&dir, "probe.wsgi", &text);
    // Every request after the change is served, and by a process that
    // started after it (mod_wsgi's daemon-mode reloading).
    for _ in 0..10 {
        let r = s.get("/app/module");
        assert_eq!(r.status, 200, "{}", s.logs());
        assert!(
            !old.contains(&pid_of(&r)),
            "an old process served it\n{}",
            s.logs()
        );
    }
    assert!(
        wait_until(Duration::from_secs(10), || old.iter().all(|p| !alive(*p))),
        "{}",
        s.logs()
    );
    assert!(
        s.error_log().contains("reason=script_reload"),
        "{}",
        s.logs()
    );
}

#[test]
fn daemon_logs_reach_the_virtual_hosts_error_log_with_the_request_id() {
    let dir = probe_dir("dvhost");
    let s = Server::start(
        "dvhost",
        &format!(
            "WSGIDaemonProcess site processes=1 threads=2\n\
             <VirtualHost *>\n\
             \x20 ServerName vhost.test\n\
             \x20 ErrorLog @ROOT@/vhost-error.log\n\
             \x20 WSGIScriptAlias /app {}/probe.wsgi process-group=site\n\
             </VirtualHost>\n",
            dir.display()
        ),
    );
    let r =
        s.request("GET /app/errors?vh1 HTTP/1.1\r\nHost: vhost.test\r\nConnection: close\r\n\r\n");
    assert_eq!(r.status, 200, "{}", s.logs());
    let vhost_log = || std::fs::read_to_string(s.root.join("vhost-error.log")).unwrap_or_default();
    assert!(
        wait_until(Duration::from_secs(5), || vhost_log()
            .contains("probe stdout line vh1")),
        "vhost log: {}\n{}",
        vhost_log(),
        s.logs()
    );
    let log = vhost_log();
    for needle in ["probe stdout line vh1", "probe wsgi.errors line vh1"] {
        let line = log.lines().find(|l| l.contains(needle)).unwrap();
        assert!(line.contains("request="), "no request id: {line}");
        assert!(line.contains("process='site'"), "{line}");
        assert!(line.contains("[remote 127.0.0.1:"), "{line}");
    }
    assert!(!s.error_log().contains("line vh1"), "{}", s.logs());
}
