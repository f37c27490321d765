//! Daemon mode against local processes, lying daemons and faults: a forged
//! request runs nothing, a planted socket gets nothing, every daemon answer
//! is checked as a client's would be, a request never runs twice, any
//! write size crosses the socket, and a saturated group costs the others
//! nothing.

mod common;

use common::fake_daemon::*;
use common::hardening::{as_apache_user, daemon_pid, is_root, server, socket_path};
use common::json::Value;
use common::{http, temp_dir, wait_until, write_file, Server};
use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

fn json(r: &http::Response) -> Value {
    common::json::parse_response(r)
}

#[test]
fn a_forged_request_from_apaches_user_runs_nothing() {
    let (s, dir) = server("hforge", "processes=1 threads=2", "");
    let marker = dir.join("markers/forged");
    let evil = write_file(
        &dir,
        "evil.wsgi",
        &format!(
            "open({:?}, 'w').write('ran')\n\
             def application(e, sr):\n    sr('200 OK', [])\n    return [b'forged']\n",
            marker.display().to_string()
        ),
    );
    let sock = socket_path(&s);
    let out = as_apache_user(&[
        "/usr/bin/python3",
        dir.join("forge.py").to_str().unwrap(),
        sock.to_str().unwrap(),
        evil.to_str().unwrap(),
    ]);
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        !marker.exists(),
        "the forged script ran\n{said}\n{}",
        s.logs()
    );
    // Both frames were refused and logged with who sent them.
    let log = s.error_log();
    assert!(
        log.contains("refused a request without this group's secret"),
        "{said}\n{}",
        s.logs()
    );
    assert!(log.contains("protocol version 1 is not 2"), "{}", s.logs());
    assert!(!said.contains("666f72676564"), "no 'forged' body: {said}");
    // The real thing still works.
    let r = s.get("/app/environ");
    assert_eq!(r.status, 200, "{}", s.logs());
}

#[test]
fn private_names_never_reach_the_application_and_the_mount_point_has_path_info() {
    let (s, _dir) = server(
        "hkeys",
        "processes=1 threads=2",
        "SetEnv mod_wsgi.rs.script /tmp/evil.wsgi\nSetEnv mod_wsgi.rs.eager_body 1\n",
    );
    for mount in ["/app", "/embedded"] {
        let r = s.get(mount);
        assert_eq!(r.status, 200, "{mount}\n{}", s.logs());
        let env = json(&r);
        assert_eq!(env.get("PATH_INFO").str(), "", "{mount}: PEP 3333 needs it");
        assert_eq!(env.get("SCRIPT_NAME").str(), mount);
        let text = r.text();
        assert!(
            !text.contains("mod_wsgi.rs."),
            "{mount} shows a private name: {text}"
        );
        assert!(env.get("mod_wsgi.request_id").str().len() > 3);
    }
    assert_eq!(
        json(&s.get("/app")).get("mod_wsgi.process_group").str(),
        "site"
    );
}

#[test]
fn a_post_in_flight_across_graceful_runs_once() {
    let (s, dir) = server(
        "hpostonce",
        "processes=1 threads=2 graceful-timeout=1 shutdown-timeout=2",
        "",
    );
    let port = s.port;
    let client = std::thread::spawn(move || {
        let body = "once";
        let raw = format!(
            "POST /app/post-once?12 HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        let t0 = Instant::now();
        (http::send(port, raw.as_bytes()), t0.elapsed())
    });
    let runs = dir.join("markers/post-runs");
    let count = || {
        fs::read_to_string(&runs)
            .unwrap_or_default()
            .lines()
            .count()
    };
    assert!(
        wait_until(Duration::from_secs(10), || count() == 1),
        "the POST did not start\n{}",
        s.logs()
    );
    s.graceful();
    let (answer, took) = client.join().unwrap();
    // Its daemon was stopped with it in flight: the client gets an error,
    // and the request is not run again by the new daemon.
    if let Ok(r) = &answer {
        assert_ne!(r.text(), "ran", "a second run answered after {took:?}");
        assert!(r.status >= 500, "{} after {took:?}", r.status);
    }
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        count(),
        1,
        "the POST ran more than once:\n{}\n{}",
        fs::read_to_string(&runs).unwrap_or_default(),
        s.logs()
    );
    assert_eq!(s.get("/app/environ").status, 200, "{}", s.logs());
}

#[test]
fn an_80_mib_write_crosses_the_socket() {
    let (s, _dir) = server("hbig", "processes=1 threads=2", "");
    for mount in ["/app", "/embedded"] {
        let mut c = std::net::TcpStream::connect(("127.0.0.1", s.port)).unwrap();
        c.set_read_timeout(Some(http::IO_TIMEOUT)).unwrap();
        write!(
            c,
            "GET {mount}/big?80 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut got = Vec::new();
        c.read_to_end(&mut got).unwrap();
        let r = http::parse(&got).unwrap_or_else(|e| panic!("{mount}: {e}\n{}", s.logs()));
        assert_eq!(r.status, 200, "{mount}\n{}", s.logs());
        assert_eq!(r.body.len(), 80 << 20, "{mount}");
        assert!(r.body.iter().all(|&b| b == b'x'));
    }
}

#[test]
fn a_daemon_is_checked_like_a_client() {
    let (s, dir) = server("hliar", "processes=1 threads=1", "");
    let fifo = dir.join("fifo");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: a FIFO in our own directory, opened without blocking.
    let fifo_fd = unsafe {
        assert_eq!(libc::mkfifo(c.as_ptr(), 0o600), 0);
        libc::open(c.as_ptr(), libc::O_RDWR | libc::O_NONBLOCK)
    };
    assert!(fifo_fd >= 0);
    let cases = liar_cases(fifo_fd);
    let sock = socket_path(&s);
    let expect: Vec<(&str, &str)> = cases.iter().map(|(w, _, l)| (*w, *l)).collect();
    let mut answers: Vec<Answer> = cases.into_iter().map(|(_, a, _)| a).collect();
    // Last: more body than its Content-Length.
    answers.push(Answer {
        bytes: [
            &ACCEPTED[..],
            &head(200, "200 OK", &[("Content-Length", "5")]),
            &frame(18, b"hello, and more"),
            &END,
        ]
        .concat(),
        fd: None,
    });
    let daemon = daemon_pid(&s);
    let Some(stolen) = StolenListener::take(&sock, daemon) else {
        eprintln!("skipped: the daemon's listening socket cannot be taken (needs root)");
        return;
    };
    let l = stolen.listener.try_clone().unwrap();
    let fake = fake_daemon(l, answers);
    for (what, logged) in &expect {
        refused_and_logged(&s, what, logged);
    }
    let r = s.get("/app/environ");
    assert_eq!(r.status, 200, "{}", s.logs());
    assert_eq!(r.body, b"hello", "cut at its Content-Length");
    assert!(s
        .error_log()
        .contains("more than the response's Content-Length"));
    fake.join().unwrap();
    drop(stolen);
    assert_eq!(s.get("/app/environ").status, 200, "{}", s.logs());
    // SAFETY: closing our FIFO descriptor.
    unsafe { libc::close(fifo_fd) };
}

/// The daemon's lies, each with what the Apache child must log about it.
fn liar_cases(fifo_fd: i32) -> Vec<(&'static str, Answer, &'static str)> {
    let plain = |b: Vec<u8>| Answer { bytes: b, fd: None };
    let ok_head = head(200, "200 OK", &[("Content-Type", "text/plain")]);
    let mut file_frame = ok_head.clone();
    let mut range = 0u64.to_be_bytes().to_vec();
    range.extend_from_slice(&1000u64.to_be_bytes());
    file_frame.extend(frame(22, &range));
    file_frame.extend(END);
    vec![
        (
            "CR/LF in the status line",
            plain(
                [
                    &ACCEPTED[..],
                    &head(200, "200 OK\r\nX-Injected: yes", &[]),
                    &END,
                ]
                .concat(),
            ),
            "refused its response head",
        ),
        (
            "an informational final status",
            plain(
                [
                    &ACCEPTED[..],
                    &head(101, "101 Switching Protocols", &[]),
                    &END,
                ]
                .concat(),
            ),
            "not a final status",
        ),
        (
            "a hop-by-hop header",
            plain(
                [
                    &ACCEPTED[..],
                    &head(200, "200 OK", &[("Transfer-Encoding", "chunked")]),
                    &END,
                ]
                .concat(),
            ),
            "hop-by-hop header",
        ),
        (
            "an Error frame asking for 200",
            plain([&ACCEPTED[..], &frame(20, &[0, 200, b'x'])].concat()),
            "daemon process group 'site': x",
        ),
        (
            "a frame over the limit",
            plain([&ACCEPTED[..], &[17, 0xff, 0xff, 0xff, 0xff][..]].concat()),
            "exceeds the limit",
        ),
        (
            "a million empty headers (8 MB on the wire)",
            plain([&ACCEPTED[..], &million_header_head(), &END].concat()),
            "more response headers than a head may carry",
        ),
        (
            "a FIFO passed as a file",
            Answer {
                bytes: [&ACCEPTED[..], &file_frame].concat(),
                fd: Some(fifo_fd),
            },
            "without a regular file",
        ),
    ]
}

/// A Head frame of a million empty headers: bounded by its bytes (under
/// the 16 MiB frame limit), not by its entries, it would cost the child
/// hundreds of MB to decode.
fn million_header_head() -> Vec<u8> {
    let mut p = 200u16.to_be_bytes().to_vec();
    p.extend(bstr(b"200 OK"));
    p.extend_from_slice(&1_000_000u32.to_be_bytes());
    p.extend(std::iter::repeat_n(0u8, 8_000_000));
    frame(17, &p)
}

/// One lying answer: nothing of it reaches the client, the child logs
/// why, and the child still serves.
fn refused_and_logged(s: &Server, what: &str, logged: &str) {
    let raw = http::send_raw(
        s.port,
        b"GET /app/environ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .unwrap_or_default();
    let text = String::from_utf8_lossy(&raw).into_owned();
    assert!(!text.contains("X-Injected"), "{what}: {text}");
    assert!(
        !text.starts_with("HTTP/1.1 200") && !text.starts_with("HTTP/1.1 101"),
        "{what} reached the client: {text}"
    );
    assert!(
        wait_until(Duration::from_secs(5), || s.error_log().contains(logged)),
        "{what}: not logged as '{logged}'\n{}",
        s.logs()
    );
    // The Apache child is fine: embedded mode still serves.
    assert_eq!(s.get("/embedded/environ").status, 200, "after {what}");
}

#[test]
fn a_planted_socket_is_never_sent_a_request() {
    let (s, dir) = server("hplant", "processes=1 threads=1 connect-timeout=1", "");
    let sock = socket_path(&s);
    let planted = dir.join("planted.sock");
    let got = dir.join("markers/planted-got");
    // A listener made by Apache's User (as a compromised app could),
    // recording whatever it is sent.
    let script = format!(
        "import socket,sys\n\
         s=socket.socket(socket.AF_UNIX);s.bind({p:?});s.listen(8);s.settimeout(8)\n\
         print('up',flush=True)\n\
         try:\n    c,_=s.accept();c.settimeout(2);open({g:?},'wb').write(c.recv(65536))\n\
         except Exception:\n    pass\n",
        p = planted.display().to_string(),
        g = got.display().to_string()
    );
    write_file(&dir, "plant.py", &script);
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o777)).unwrap();
    let mut cmd = if is_root() {
        let mut c = std::process::Command::new("setpriv");
        c.args([
            "--reuid=nobody",
            "--regid=nogroup",
            "--clear-groups",
            "/usr/bin/python3",
        ]);
        c
    } else {
        std::process::Command::new("/usr/bin/python3")
    };
    let mut child = cmd
        .arg(dir.join("plant.py"))
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut up = [0u8; 3];
    child.stdout.as_mut().unwrap().read_exact(&mut up).unwrap();
    let aside = sock.with_extension("real");
    fs::rename(&sock, &aside).unwrap();
    fs::rename(&planted, &sock).unwrap();
    let r = s.get("/app/environ");
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(r.status, 503, "{}", s.logs());
    assert!(
        s.error_log()
            .contains("is not the socket the Apache parent made for this group"),
        "{}",
        s.logs()
    );
    assert!(
        fs::read(&got).unwrap_or_default().is_empty(),
        "the planted socket was sent a request"
    );
    fs::rename(&aside, &sock).unwrap();
    assert_eq!(s.get("/app/environ").status, 200, "{}", s.logs());
}

#[test]
fn a_saturated_group_costs_other_applications_nothing() {
    let (s, _dir) = server(
        "hsaturate",
        "processes=1 threads=1 listen-backlog=1 connect-timeout=2 queue-timeout=2",
        "<IfModule mpm_prefork_module>\nStartServers 16\nMinSpareServers 16\nMaxSpareServers 32\n</IfModule>\n",
    );
    let port = s.port;
    let t0 = Instant::now();
    let busy: Vec<_> = (0..10)
        .map(|_| {
            std::thread::spawn(move || {
                let r = http::send(
                    port,
                    b"GET /app/sleep?6 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                );
                (r.map(|r| r.status).unwrap_or(0), t0.elapsed())
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    let t1 = Instant::now();
    let other = s.get("/embedded/environ");
    let other_took = t1.elapsed();
    assert_eq!(other.status, 200);
    assert!(
        other_took < Duration::from_secs(2),
        "another application waited {other_took:?}"
    );
    let results: Vec<(u16, Duration)> = busy.into_iter().map(|h| h.join().unwrap()).collect();
    let ok = results.iter().filter(|(st, _)| *st == 200).count();
    let refused: Vec<_> = results.iter().filter(|(st, _)| *st == 503).collect();
    assert!(ok >= 1, "{results:?}");
    assert_eq!(
        ok + refused.len(),
        results.len(),
        "{results:?}\n{}",
        s.logs()
    );
    // The overflow is told within connect-timeout / queue-timeout, not
    // when the busy thread frees up.
    for (_, took) in &refused {
        assert!(*took < Duration::from_millis(4500), "{results:?}");
    }
}

#[test]
fn a_daemon_keeps_only_the_descriptors_it_needs_and_its_own_groups() {
    let (s, _dir) = server("hfds", "processes=1 threads=2 display-name=%{GROUP}", "");
    let daemons = common::children_named(s.pid(), "(wsgi:site)");
    assert_eq!(daemons.len(), 1, "{daemons:?}");
    let pid = daemons[0];
    let root = s.root.display().to_string();
    let error_log = s.root.join("error.log").display().to_string();
    let mut pipes = 0;
    let mut seen = Vec::new();
    for e in fs::read_dir(format!("/proc/{pid}/fd")).unwrap().flatten() {
        let target = fs::read_link(e.path())
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        if target.starts_with("pipe:") {
            pipes += 1;
        }
        // Nothing of the server's but its error log: no mutex or pid file.
        if target.starts_with(&root) && target != error_log {
            panic!("the daemon holds {target}\n{seen:?}");
        }
        assert!(!target.starts_with("TCP"), "{target}");
        seen.push(target);
    }
    // Its signal pipe (both ends) and the parent pipe's read end; not the
    // MPM's pipe of death nor the parent pipe's write end.
    assert!(pipes <= 3, "{pipes} pipes: {seen:?}");
    let sockets = seen.iter().filter(|t| t.starts_with("socket:")).count();
    assert!(
        sockets <= 2,
        "only its listener (and connections): {seen:?}"
    );
    if is_root() {
        // Groups resolved in the parent, set before the chroot/uid switch.
        let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        let groups = status
            .lines()
            .find(|l| l.starts_with("Groups:"))
            .unwrap()
            .to_string();
        let out = std::process::Command::new("id")
            .args(["-G", "nobody"])
            .output()
            .unwrap();
        let want: Vec<&str> = std::str::from_utf8(&out.stdout)
            .unwrap()
            .split_whitespace()
            .collect();
        let have: Vec<&str> = groups["Groups:".len()..].split_whitespace().collect();
        let mut want_sorted = want.clone();
        want_sorted.sort();
        let mut have_sorted = have.clone();
        have_sorted.sort();
        assert_eq!(have_sorted, want_sorted, "{status}");
        assert!(
            status.contains(&format!("Uid:\t{}", nobody_uid())),
            "{status}"
        );
    }
    assert_eq!(s.get("/app/environ").status, 200);
}

#[test]
fn another_user_without_root_is_a_configuration_error() {
    if !is_root() {
        return; // needs root to run httpd -t as another user
    }
    let dir = temp_dir("hnoroot");
    let conf = format!(
        "{}\nWSGIDaemonProcess site user=daemon\n",
        common::base_config(&dir, common::free_port(), &common::mpm())
            .replace("User nobody\nGroup nogroup\n", "")
    );
    let path = write_file(&dir, "httpd.conf", &conf);
    let out = std::process::Command::new("setpriv")
        .args(["--reuid=nobody", "--regid=nogroup", "--clear-groups"])
        .arg(common::httpd_bin())
        .args(["-t", "-f", path.to_str().unwrap()])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "{text}");
    assert!(text.contains("Apache is not started as root"), "{text}");
    assert!(text.contains("WSGIDaemonProcess"), "{text}");
}
