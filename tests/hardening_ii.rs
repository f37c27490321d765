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
    for _ in 0..6 {
        let t0 = Instant::now();
        let r = s.get("/app/environ");
        assert_eq!(r.status, 200, "{}", s.logs());
        assert!(
            t0.elapsed() < Duration::from_secs(2),
            "a quick request took {:?} under the attack\n{}",
            t0.elapsed(),
            s.logs()
        );
        std::thread::sleep(Duration::from_secs(1));
    }
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
