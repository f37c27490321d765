//! Slow clients against daemon mode: a request body larger than the eager
//! limit is read while the application reads it, so a client trickling it
//! holds a daemon thread — for at most Apache's `Timeout` between two of
//! its reads, and no longer than mod_reqtimeout allows (docs/deploying.md).

mod common;

use common::hardening::server;
use std::io::Write;
use std::time::{Duration, Instant};

/// Sends a request with a large body very slowly (100 bytes every 200 ms)
/// until `for_at_most` or the server closes: a slow client.
fn trickle(port: u16, for_at_most: Duration) {
    let Ok(mut c) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return;
    };
    let _ = write!(
        c,
        "POST /app/read HTTP/1.1\r\nHost: x\r\nContent-Length: 200000\r\n\r\n"
    );
    let t0 = Instant::now();
    while t0.elapsed() < for_at_most {
        if c.write_all(&[b'z'; 100]).is_err() {
            return;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn slow_uploads_hold_daemon_threads_only_as_long_as_request_read_timeout_allows() {
    let modules = String::from_utf8(
        std::process::Command::new("apxs")
            .args(["-q", "LIBEXECDIR"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let (s, _dir) = server(
        "hslow",
        "processes=1 threads=2",
        &format!(
            "LoadModule reqtimeout_module {}/mod_reqtimeout.so\nRequestReadTimeout header=10 body=2\n",
            modules.trim()
        ),
    );
    let port = s.port;
    // Two slow clients take both daemon threads (their bodies are larger
    // than the eager limit, so the daemon reads them as they come).
    let slow: Vec<_> = (0..2)
        .map(|_| std::thread::spawn(move || trickle(port, Duration::from_secs(15))))
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    // mod_reqtimeout ends them after 2 s, which frees the threads: a
    // normal request is served then, not when the slow clients are done.
    let t0 = Instant::now();
    let r = s.get("/app/environ");
    let took = t0.elapsed();
    assert_eq!(r.status, 200, "{}", s.logs());
    assert!(
        took < Duration::from_secs(8),
        "waited {took:?}\n{}",
        s.logs()
    );
    for h in slow {
        h.join().unwrap();
    }
    assert!(
        s.error_log().contains("reading the body failed"),
        "the application saw the cut body as an error\n{}",
        s.logs()
    );
}

#[test]
fn a_client_that_stops_sending_frees_its_daemon_thread_after_timeout() {
    let (s, _dir) = server("hstall", "processes=1 threads=1", "Timeout 2\n");
    let port = s.port;
    // Sends part of a large body, then nothing (but keeps the connection).
    let stalled = std::thread::spawn(move || {
        let mut c = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        write!(
            c,
            "POST /app/read HTTP/1.1\r\nHost: x\r\nContent-Length: 200000\r\n\r\n"
        )
        .unwrap();
        c.write_all(&[b'z'; 1000]).unwrap();
        std::thread::sleep(Duration::from_secs(8));
    });
    std::thread::sleep(Duration::from_millis(500));
    // The only daemon thread is free again once Apache's Timeout (2 s)
    // passes without a read from the stalled client.
    let t0 = Instant::now();
    let r = s.get("/app/environ");
    let took = t0.elapsed();
    assert_eq!(r.status, 200, "{}", s.logs());
    assert!(
        took < Duration::from_secs(6),
        "waited {took:?}\n{}",
        s.logs()
    );
    assert!(
        s.error_log().contains("reading the body failed"),
        "{}",
        s.logs()
    );
    stalled.join().unwrap();
}
