//! Daemon mode against a local process without the secret and a daemon
//! that lies: nothing before authentication holds a daemon thread or
//! restarts a daemon; nothing a daemon answers can crash or bloat the
//! Apache child.

mod common;

use common::hardening::{server, socket_path, Background};
use common::{write_file, Server};
use std::time::{Duration, Instant};

/// The daemon's ready lines so far (one per start of process 1).
fn starts(s: &Server) -> usize {
    s.error_log().matches("daemon process 1 ready").count()
}

#[test]
fn connections_trickling_without_the_secret_hold_no_thread_and_restart_nothing() {
    let (s, dir) = server("hpreauth", "processes=1 threads=2 request-timeout=4", "");
    let trickle = write_file(&dir, "trickle.py", include_str!("apps/trickle.py"));
    let sock = socket_path(&s);
    let mut attacker = Background::as_apache_user(&[
        "/usr/bin/python3",
        trickle.to_str().unwrap(),
        sock.to_str().unwrap(),
        "4",
        "9",
    ]);
    std::thread::sleep(Duration::from_secs(1));
    // A 2 s request runs through the attack...
    let port = s.port;
    let slow = std::thread::spawn(move || {
        let raw = "GET /app/sleep?2 HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
        common::http::send(port, raw.as_bytes()).map(|r| (r.status, r.body))
    });
    // ...while quick ones keep answering at once.
    let mut worst = Duration::ZERO;
    for _ in 0..6 {
        let t0 = Instant::now();
        let r = s.get("/app/environ");
        assert_eq!(r.status, 200, "{}", s.logs());
        worst = worst.max(t0.elapsed());
        assert!(
            t0.elapsed() < Duration::from_secs(2),
            "a quick request took {:?} under the attack\n{}",
            t0.elapsed(),
            s.logs()
        );
        std::thread::sleep(Duration::from_secs(1));
    }
    eprintln!("the slowest quick request under the attack took {worst:?}");
    let slow = slow.join().unwrap().expect("the 2 s request");
    assert_eq!(slow, (200, b"slept".to_vec()), "{}", s.logs());
    let closed = attacker
        .output_within(Duration::from_secs(20))
        .expect("the trickling client ends");
    assert!(
        closed.trim().parse::<u32>().unwrap() >= 4,
        "closed: {closed}"
    );
    assert_eq!(starts(&s), 1, "the daemon restarted\n{}", s.logs());
    let log = s.error_log();
    assert!(
        log.contains("did not show this group's secret within 1500 ms"),
        "{}",
        s.logs()
    );
    // Logged once per interval with a count, not once per connection.
    let lines = log.matches("did not show this group's secret").count();
    assert!(lines <= 2, "{lines} refusal lines\n{}", s.logs());
}

/// A connection whose receive buffer is 4 KiB from the start (so the
/// window stays small, and Apache's send buffer with it: most of a large
/// response stays unsent, in Apache's hands, while we do not read).
fn small_window_connect(port: u16) -> std::net::TcpStream {
    use std::os::fd::FromRawFd;
    // SAFETY: a new socket of ours, a 4-byte option, a sockaddr_in we own;
    // the descriptor is handed to TcpStream, which closes it.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
        assert!(fd >= 0);
        let size: libc::c_int = 4096;
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            (&size as *const libc::c_int).cast(),
            4,
        );
        let mut addr: libc::sockaddr_in = std::mem::zeroed();
        addr.sin_family = libc::AF_INET as libc::sa_family_t;
        addr.sin_port = port.to_be();
        addr.sin_addr.s_addr = u32::from_be_bytes([127, 0, 0, 1]).to_be();
        let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
        assert_eq!(
            libc::connect(fd, (&addr as *const libc::sockaddr_in).cast(), len),
            0
        );
        std::net::TcpStream::from_raw_fd(fd)
    }
}

/// GET `path` and read nothing for `pause`, then read to the end (or a
/// 20 s bound): the bytes that came.
fn slow_read(port: u16, path: &str, pause: Duration) -> Vec<u8> {
    use std::io::{Read, Write};
    let mut c = small_window_connect(port);
    c.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    // gzip: mod_deflate reads the file's bytes itself, as any filter that
    // looks at a body does (a mapping would be read in this process).
    write!(
        c,
        "GET {path} HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    std::thread::sleep(pause);
    let mut got = Vec::new();
    let _ = c.read_to_end(&mut got);
    got
}

fn a_file_truncated_under_a_slow_client(sendfile: &str) {
    let (s, _dir) = server(
        &format!("htrunc{}", sendfile.len()),
        "processes=1 threads=2",
        &format!(
            "EnableMMAP On\nEnableSendfile {sendfile}\nWSGIEnableSendfile On\n\
             LoadModule filter_module {m}/mod_filter.so\n\
             LoadModule deflate_module {m}/mod_deflate.so\n\
             <Location /app/truncate>\n  SetOutputFilter DEFLATE\n</Location>\n",
            m = common::apxs("LIBEXECDIR")
        ),
    );
    for i in 0..20 {
        let t0 = Instant::now();
        let pause = Duration::from_millis(if i % 2 == 0 { 0 } else { 300 });
        let got = slow_read(s.port, &format!("/app/truncate?{i}"), pause);
        assert!(t0.elapsed() < Duration::from_secs(15), "{}", s.logs());
        assert!(got.len() <= (2 << 20) + 1000, "never more than the file");
    }
    // The child lived through it and still serves.
    assert_eq!(s.get("/app/environ").status, 200, "{}", s.logs());
    assert_eq!(s.get("/embedded/environ").status, 200, "{}", s.logs());
    let log = s.error_log();
    assert!(
        !log.contains("Bus error"),
        "a child died of SIGBUS\n{}",
        s.logs()
    );
    assert!(!log.contains("exit signal"), "a child died\n{}", s.logs());
}

#[test]
fn a_daemon_truncating_its_file_cannot_crash_the_child_read_path() {
    a_file_truncated_under_a_slow_client("Off");
}

#[test]
fn a_daemon_truncating_its_file_cannot_crash_the_child_sendfile_path() {
    a_file_truncated_under_a_slow_client("On");
}

/// Reads one response's head (and `body` bytes after it) from `c`.
fn read_response(c: &mut std::net::TcpStream, body: usize) -> Result<String, String> {
    use std::io::Read;
    let mut got = Vec::new();
    let mut b = [0u8; 1];
    while !got.ends_with(b"\r\n\r\n") {
        match c.read(&mut b) {
            Ok(1) => got.push(b[0]),
            _ => return Err(format!("closed after {:?}", String::from_utf8_lossy(&got))),
        }
    }
    let mut rest = vec![0u8; body];
    c.read_exact(&mut rest).map_err(|e| e.to_string())?;
    got.extend(rest);
    Ok(String::from_utf8_lossy(&got).into_owned())
}

#[test]
fn a_head_answered_with_the_gets_length_keeps_the_connection() {
    let (s, _dir) = server("hhead", "processes=1 threads=2", "WSGIMapHEADToGET Off\n");
    for mount in ["/app", "/embedded"] {
        use std::io::Write;
        let mut c = std::net::TcpStream::connect(("127.0.0.1", s.port)).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        for (method, body) in [("HEAD", 0), ("GET", 11), ("HEAD", 0), ("GET", 11)] {
            write!(c, "{method} {mount}/werkzeug HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
            let r = read_response(&mut c, body)
                .unwrap_or_else(|e| panic!("{mount} {method}: {e}\n{}", s.logs()));
            assert!(r.starts_with("HTTP/1.1 200"), "{r}");
            assert!(r.contains("Content-Length: 11"), "{r}");
            assert_eq!(r.ends_with("hello world"), method == "GET", "{r}");
        }
    }
    let log = s.error_log();
    assert!(!log.contains("declared a Content-Length"), "{}", s.logs());
    assert!(!log.contains("short"), "{}", s.logs());
}

#[test]
fn a_content_length_with_a_sign_is_an_application_error_in_both_modes() {
    let (s, _dir) = server("hplus", "processes=1 threads=2", "");
    for mount in ["/app", "/embedded"] {
        let r = s.get(&format!("{mount}/plus-length"));
        assert_eq!(r.status, 500, "{mount}: {}\n{}", r.text(), s.logs());
    }
    let log = s.error_log();
    assert_eq!(
        log.matches("invalid Content-Length '+5'").count(),
        2,
        "{}",
        s.logs()
    );
}

#[test]
fn an_environ_too_large_for_a_daemon_is_a_500_not_sent_again() {
    let (s, _dir) = server(
        "hbigenv",
        "processes=1 threads=2",
        "LimitRequestFieldSize 2100000\n",
    );
    let mut raw = b"GET /app/environ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n".to_vec();
    for i in 0..9 {
        raw.extend(format!("X-Big-{i}: ").bytes());
        raw.extend(std::iter::repeat_n(b'x', 2_000_000));
        raw.extend(b"\r\n");
    }
    raw.extend(b"\r\n");
    let r = common::http::send(s.port, &raw).expect("an answer");
    assert_eq!(r.status, 500, "{}", s.logs());
    let log = s.error_log();
    assert!(log.contains("its environ is too large"), "{}", s.logs());
    assert!(!log.contains("turned the request away"), "{}", s.logs());
    assert_eq!(s.get("/app/environ").status, 200, "{}", s.logs());
}

#[test]
fn several_python_threads_on_one_request_are_refused_not_undefined() {
    let (s, _dir) = server("hthreads", "processes=1 threads=2", "");
    for mount in ["/app", "/embedded"] {
        // Writes: what went through arrives whole, in pieces of 1000.
        let r = s.get(&format!("{mount}/threads-write"));
        assert_eq!(r.status, 200, "{mount}\n{}", s.logs());
        let text = r.text();
        let (body, counts) = text.rsplit_once('\n').expect("the counts");
        let mut c = counts.split(' ').map(|n| n.parse::<usize>().unwrap());
        let (done, refused) = (c.next().unwrap(), c.next().unwrap());
        assert_eq!(
            done, 200,
            "{mount}: every write went through once: {counts}"
        );
        assert_eq!(
            body.len(),
            200 * 1000,
            "{mount}: {counts} ({refused} refused)"
        );
        assert!(body.bytes().all(|b| b == b'x'), "{mount}");
        // Reads: every byte of a 1 MiB body, exactly once.
        let body = vec![b'b'; 1 << 20];
        let mut raw = format!(
            "POST {mount}/threads-read HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        )
        .into_bytes();
        raw.extend(&body);
        let r = common::http::send(s.port, &raw).expect("an answer");
        assert_eq!(r.status, 200, "{mount}\n{}", s.logs());
        let text = r.text();
        let total = text.split(' ').next().unwrap().parse::<usize>().unwrap();
        assert_eq!(total, 1 << 20, "{mount}: read {text}");
    }
    let log = s.error_log();
    assert!(!log.contains("exit signal"), "a child died\n{}", s.logs());
}

/// What /scoreboard-peek says in a group's daemon after a client sent
/// `needle` in a request line: (found in shared memory, the shared mappings).
fn peek(s: &Server, mount: &str, needle: &str) -> (bool, String) {
    assert_eq!(s.get(&format!("/embedded/environ?{needle}")).status, 200);
    let r = s.get(&format!("{mount}/scoreboard-peek?{needle}"));
    assert_eq!(r.status, 200, "{}", s.logs());
    let text = r.text();
    let (verdict, maps) = text.split_once('\n').unwrap_or((&text, ""));
    (verdict == "found", maps.to_string())
}

#[test]
fn daemons_keep_no_writable_view_of_apaches_scoreboard() {
    let dir = common::hardening::app_dir("hscore");
    let conf = format!(
        "WSGIDaemonProcess site processes=1 threads=2\n\
         WSGIDaemonProcess metrics processes=1 threads=2 server-metrics=On\n\
         WSGIScriptAlias /app {d}/app.wsgi process-group=site\n\
         WSGIScriptAlias /metrics {d}/app.wsgi process-group=metrics\n\
         WSGIScriptAlias /embedded {d}/app.wsgi\n",
        d = dir.display()
    );
    let s = Server::start("hscore", &conf);
    // Without server-metrics: nothing of it is there to read.
    let (found, maps) = peek(&s, "/app", "token-a1b2c3");
    assert!(!found, "a daemon read other clients' request lines\n{maps}");
    assert!(!maps.contains("rw-s"), "a writable shared mapping:\n{maps}");
    // With it: readable (mod_wsgi.server_metrics() reads it), not writable.
    let (_, maps) = peek(&s, "/metrics", "token-d4e5f6");
    assert!(!maps.contains("rw-s"), "a writable shared mapping:\n{maps}");
    assert!(maps.contains("r--s"), "the scoreboard, read-only:\n{maps}");
    let log = s.error_log();
    assert!(!log.contains("cannot restrict"), "{}", s.logs());
}
