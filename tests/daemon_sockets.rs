//! Daemon mode's connections against a real httpd: files passed as
//! descriptors, socket buffer sizes, kept connections and how they are
//! handed back, the shipped daemon configuration.

mod common;

use common::{children_named, daemon_server, http, probe_dir, user_id, wait_until, Server};
use std::fs;
use std::time::Duration;

#[test]
fn files_go_to_apache_as_descriptors_and_out_with_sendfile() {
    let (s, dir) = daemon_server("dsendfile", "processes=1", "");
    let data: Vec<u8> = (0..1_048_576u32).map(|i| (i * 13 % 251) as u8).collect();
    fs::write(dir.join("markers/f.bin"), &data).unwrap();
    let r = s.get("/app/counted-file?f.bin:100");
    assert_eq!(r.status, 200, "{}", s.logs());
    assert!(
        r.body == data[100..],
        "file body differs ({} bytes)",
        r.body.len()
    );
    // The daemon never read the file: Apache did, from the descriptor.
    assert_eq!(common::reads_marker(&dir), 0);

    // With WSGIEnableSendfile Off the wrapper is iterated in the daemon.
    let (s, dir) = daemon_server("dnosendfile", "processes=1", "WSGIEnableSendfile Off\n");
    fs::write(dir.join("markers/f.bin"), &data).unwrap();
    let r = s.get("/app/counted-file?f.bin");
    assert!(r.body == data, "file body differs ({} bytes)", r.body.len());
    assert!(common::reads_marker(&dir) > 0);
}

#[test]
fn cpu_priority_sets_the_daemons_nice_value() {
    let (s, _d) = daemon_server("dnice", "processes=1 cpu-priority=7 stack-size=524288", "");
    assert_eq!(s.get("/app/module").status, 200, "{}", s.logs());
    let pid = children_named(s.pid(), "(wsgi:site)")[0];
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let nice: i32 = stat
        .rsplit_once(')')
        .unwrap()
        .1
        .split_whitespace()
        .nth(16)
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(nice, 7);
}

#[test]
fn buffer_sizes_and_script_owner_options() {
    // header-buffer-size: a head larger than it is a 502, with a log line.
    let (s, _d) = daemon_server(
        "dbuffers",
        "header-buffer-size=8192 response-buffer-size=65536",
        "",
    );
    assert_eq!(s.get("/app/big-header?100").status, 200);
    assert_eq!(s.get("/app/big-header?20000").status, 502, "{}", s.logs());
    assert!(
        s.error_log().contains("exceed header-buffer-size"),
        "{}",
        s.logs()
    );
    // response-buffer-size only bounds read-ahead: a long stream is whole.
    assert_eq!(s.get("/app/stream?128").body.len(), 128 * 16384);

    // script-user=: a script owned by someone else is refused with 403.
    let (s, dir) = daemon_server("downer", "script-user=daemon", "");
    assert_eq!(s.get("/app/module").status, 403, "{}", s.logs());
    assert!(
        s.error_log()
            .contains("is not owned as daemon process group"),
        "{}",
        s.logs()
    );
    let uid = user_id("daemon");
    std::os::unix::fs::chown(dir.join("probe.wsgi"), Some(uid), None).unwrap();
    assert_eq!(s.get("/app/module").status, 200, "{}", s.logs());
}

#[test]
fn connections_to_the_daemon_are_kept_and_reused() {
    let (s, _d) = daemon_server("dkeep", "processes=1", "");
    let pid = children_named(s.pid(), "(wsgi:site)")[0];
    let sockets = || {
        fs::read_dir(format!("/proc/{pid}/fd"))
            .unwrap()
            .flatten()
            .filter(|e| {
                fs::read_link(e.path())
                    .map(|t| t.to_string_lossy().starts_with("socket:"))
                    .unwrap_or(false)
            })
            .count()
    };
    let before = sockets(); // the listening socket
    for _ in 0..20 {
        assert_eq!(s.get("/app/module").status, 200);
    }
    let kept = sockets();
    for _ in 0..50 {
        assert_eq!(s.get("/app/module").status, 200);
    }
    let after = sockets();
    // Connections from Apache's children stay open between requests, and
    // later requests reuse them instead of opening more.
    assert!(kept > before, "no connection kept: {before} -> {kept}");
    assert!(after <= kept + 2, "connections pile up: {kept} -> {after}");
}

#[test]
fn kept_connections_handed_back_under_load_lose_no_post() {
    // More concurrent clients than daemon threads: the daemon keeps handing
    // idle connections back (Retry), while Apache's children reuse them.
    let (s, _d) = daemon_server("dhandback", "processes=2 threads=2", "");
    let port = s.port;
    let failures: Vec<String> = (0..24)
        .map(|_| {
            std::thread::spawn(move || {
                let body = "p".repeat(5000);
                let mut bad = Vec::new();
                for _ in 0..80 {
                    let raw = format!(
                        "POST /app/echo HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
                        body.len(),
                        body
                    );
                    match http::send(port, raw.as_bytes()) {
                        Ok(r) if r.status == 200 && r.body.len() == 5000 => {}
                        Ok(r) => bad.push(format!("{} ({} bytes)", r.status, r.body.len())),
                        Err(e) => bad.push(e),
                    }
                }
                bad
            })
        })
        .flat_map(|t| t.join().unwrap())
        .collect();
    assert!(failures.is_empty(), "{failures:?}\n{}", s.logs());
}

#[test]
fn a_response_ends_with_its_last_piece() {
    let (s, _d) = daemon_server("dend", "", "");
    common::check_response_endings(&s);
}

/// The `skmem` buffer sizes `ss` reports for the UNIX sockets process `pid`
/// holds: (receive, send) per socket. The kernel reports twice the size
/// asked for (it counts its own overhead).
fn socket_buffers(pid: u32) -> Vec<(u64, u64)> {
    let out = std::process::Command::new("ss")
        .args(["-xmpH"])
        .output()
        .expect("ss (iproute2) runs");
    let text = String::from_utf8_lossy(&out.stdout);
    let field = |line: &str, name: &str| -> Option<u64> {
        let at = line.find(&format!(",{name}"))? + name.len() + 1;
        line[at..]
            .split(|c: char| !c.is_ascii_digit())
            .next()?
            .parse()
            .ok()
    };
    text.lines()
        .filter(|l| l.contains(&format!("pid={pid},")))
        .filter_map(|l| Some((field(l, "rb")?, field(l, "tb")?)))
        .collect()
}

#[test]
fn send_and_receive_buffer_sizes_apply_to_both_ends_of_each_connection() {
    let dir = probe_dir("dbufs");
    let conf = format!(
        "WSGIDaemonProcess sized processes=1 threads=2 display-name=%{{GROUP}} send-buffer-size=300000 receive-buffer-size=200000\n\
         WSGIDaemonProcess plain processes=1 threads=2 display-name=%{{GROUP}}\n\
         WSGIScriptAlias /sized {d}/probe.wsgi process-group=sized\n\
         WSGIScriptAlias /plain {d}/probe.wsgi process-group=plain\n\
         StartServers 1\nServerLimit 1\n",
        d = dir.display()
    );
    let s = Server::start("dbufs", &conf);
    // Kept connections stay open between requests: each end can be seen.
    for path in ["/sized/module", "/plain/module"] {
        assert_eq!(s.get(path).status, 200, "{}", s.logs());
    }
    let sized = children_named(s.pid(), "(wsgi:sized)");
    let plain = children_named(s.pid(), "(wsgi:plain)");
    assert_eq!((sized.len(), plain.len()), (1, 1));
    let connected = |pid: u32, want: (u64, u64)| socket_buffers(pid).contains(&want);
    assert!(
        wait_until(Duration::from_secs(5), || connected(
            sized[0],
            (400_000, 600_000)
        )),
        "the daemon's end: {:?}",
        socket_buffers(sized[0])
    );
    // Without the option, the daemon's end gets our 1 MiB send buffer.
    assert!(
        socket_buffers(plain[0])
            .iter()
            .any(|&(_, send)| send == 2 << 20),
        "the daemon's end without the option: {:?}",
        socket_buffers(plain[0])
    );
    // The Apache child's end of the sized group's connection.
    let apache_children: Vec<u32> = children_named(s.pid(), "")
        .into_iter()
        .filter(|p| *p != sized[0] && *p != plain[0])
        .collect();
    assert!(
        apache_children
            .iter()
            .any(|&p| socket_buffers(p).contains(&(400_000, 600_000))),
        "no Apache child end with the sizes: {:?}",
        apache_children
            .iter()
            .map(|&p| socket_buffers(p))
            .collect::<Vec<_>>()
    );
}

#[test]
fn the_shipped_daemon_conf_serves_a_flask_site_from_its_daemons() {
    let (s, venv) = common::shipped_config_server("shipped-daemon", "daemon.conf");
    common::check_shipped_site(&s, &venv);
    // display-name=%{GROUP}: the two daemons show in ps as (wsgi:site).
    let daemons = children_named(s.pid(), "(wsgi:site)");
    assert_eq!(daemons.len(), 2, "{}", s.logs());
    // The app ran there, not in an Apache child.
    let line = s.log_line("flask view failed on purpose");
    assert!(line.contains("process='site'"), "{line}");
}
