//! Zero-downtime restarts under load: requests run continuously (short
//! ones, ones lasting seconds, some with bodies) while the server goes
//! through repeated `apachectl graceful`; every response must be complete.
//! Bounded: a fixed number of restarts, every request with a timeout.

mod common;

use common::{http, probe_dir, Server};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const RESTARTS: usize = 5;

/// A request and how to tell its response is complete.
type Check = (String, Box<dyn Fn(&http::Response) -> bool>);

#[derive(Default)]
struct Tally {
    ok: AtomicUsize,
    failed: AtomicUsize,
}

/// One client loop: cycles through a short GET, a POST with a body, and
/// (for `slow`) a request that lasts `slow` seconds.
fn client(
    port: u16,
    stop: Arc<AtomicBool>,
    tally: Arc<Tally>,
    failures: Arc<std::sync::Mutex<Vec<String>>>,
    slow: Option<f64>,
) {
    let body = "x".repeat(20_000);
    let mut n = 0usize;
    while !stop.load(Ordering::SeqCst) {
        n += 1;
        let (req, want): Check = match (n % 3, slow) {
            (0, Some(secs)) => (
                format!("GET /app/sleep?{secs} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
                Box::new(move |r: &http::Response| r.status == 200 && r.text() == format!("{{\"slept\": {secs:?}}}")),
            ),
            (1, _) => (
                format!("POST /app/echo HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}", body.len(), body),
                Box::new(|r: &http::Response| r.status == 200 && r.body.len() == 20_000),
            ),
            _ => (
                "GET /app/stream?8 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".to_string(),
                Box::new(|r: &http::Response| r.status == 200 && r.body.len() == 8 * 16384),
            ),
        };
        match http::send(port, req.as_bytes()) {
            Ok(r) if want(&r) => {
                tally.ok.fetch_add(1, Ordering::SeqCst);
            }
            Ok(r) => {
                tally.failed.fetch_add(1, Ordering::SeqCst);
                failures.lock().unwrap().push(format!(
                    "{} -> {} ({} bytes)",
                    req.lines().next().unwrap(),
                    r.status,
                    r.body.len()
                ));
            }
            Err(e) => {
                tally.failed.fetch_add(1, Ordering::SeqCst);
                failures
                    .lock()
                    .unwrap()
                    .push(format!("{} -> {}", req.lines().next().unwrap(), e));
            }
        }
    }
}

fn run_under_restarts(tag: &str, conf_extra: &str, daemon: bool) {
    let dir = probe_dir(tag);
    let alias = if daemon {
        format!("WSGIDaemonProcess site processes=2 threads=8 graceful-timeout=30\nWSGIScriptAlias /app {}/probe.wsgi process-group=site\n", dir.display())
    } else {
        format!("WSGIScriptAlias /app {}/probe.wsgi\n", dir.display())
    };
    let s = Server::start(tag, &format!("{alias}{conf_extra}"));
    if daemon {
        assert!(
            s.wait_for_log("daemon process 2 ready", Duration::from_secs(20)),
            "{}",
            s.logs()
        );
    }
    let stop = Arc::new(AtomicBool::new(false));
    let tally = Arc::new(Tally::default());
    let failures = Arc::new(std::sync::Mutex::new(Vec::new()));
    let clients: Vec<_> = (0..6)
        .map(|i| {
            let (stop, tally, failures, port) =
                (stop.clone(), tally.clone(), failures.clone(), s.port);
            let slow = if i < 2 { Some(2.0) } else { None };
            std::thread::spawn(move || client(port, stop, tally, failures, slow))
        })
        .collect();
    let t0 = Instant::now();
    for _ in 0..RESTARTS {
        std::thread::sleep(Duration::from_millis(700));
        s.graceful();
    }
    std::thread::sleep(Duration::from_millis(700));
    stop.store(true, Ordering::SeqCst);
    for c in clients {
        c.join().unwrap();
    }
    let (ok, failed) = (
        tally.ok.load(Ordering::SeqCst),
        tally.failed.load(Ordering::SeqCst),
    );
    eprintln!(
        "{tag}: {RESTARTS} graceful restarts in {:?}: {ok} requests ok, {failed} failed",
        t0.elapsed()
    );
    assert!(ok > 50, "too few requests ran ({ok})\n{}", s.logs());
    assert_eq!(
        failed,
        0,
        "failures: {:?}\n{}",
        failures.lock().unwrap(),
        s.logs()
    );
}

#[test]
fn embedded_mode_loses_nothing_across_graceful_restarts() {
    run_under_restarts("rembedded", "", false);
}

#[test]
fn daemon_mode_loses_nothing_across_graceful_restarts() {
    run_under_restarts("rdaemon", "", true);
}
