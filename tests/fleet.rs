//! More than one machine: two Apache hosts with mod_wsgi-rs,
//! each in a network namespace this test makes (`scripts/fleet`), HAProxy
//! in front on 127.0.0.1 with health checks, and mixed load through it
//! (short requests, 20 KB POSTs, 2–5 s requests). A rolling deploy of new
//! code host by host with `apachectl graceful`, then one host taken out
//! with `graceful-stop`: no request fails, and every request that starts
//! after the deploy is answered by the new code. Everything is torn down
//! by PID (`scripts/fleet down`), also when the test fails.

mod common;

use common::{free_port, http, temp_dir};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

struct Fleet {
    dir: PathBuf,
    net: String,
}

impl Fleet {
    fn run(&self, args: &[&str]) -> String {
        let (ok, text) = common::files::output_text(
            Command::new(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/fleet"))
                .args(args)
                .env("FLEET_DIR", &self.dir)
                .env("FLEET_NET", &self.net)
                .env("MOD_WSGI_RS_SO", common::module_path()),
        );
        assert!(ok, "scripts/fleet {args:?}: {text}\n{}", self.logs());
        text
    }

    fn logs(&self) -> String {
        (1..=2)
            .map(|h| {
                let log = std::fs::read_to_string(self.dir.join(format!("h{h}/error_log")));
                format!("--- host {h}\n{}", log.unwrap_or_default())
            })
            .collect()
    }

    fn host_pid(&self, h: u32) -> Option<u32> {
        let pid = std::fs::read_to_string(self.dir.join(format!("h{h}/httpd.pid"))).ok()?;
        pid.trim().parse().ok()
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        let _ = Command::new(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/fleet"))
            .arg("down")
            .env("FLEET_DIR", &self.dir)
            .env("FLEET_NET", &self.net)
            .status();
    }
}

/// One response the load generator saw.
struct Seen {
    started: Instant,
    kind: &'static str,
    outcome: Result<String, String>,
}

const POST_SIZE: usize = 20 * 1024;

fn one_request(port: u16, n: usize) -> (&'static str, Result<String, String>) {
    let (kind, raw, want) = match n % 3 {
        0 => (
            "short",
            "GET /short HTTP/1.1\r\nHost: fleet\r\nConnection: close\r\n\r\n"
                .to_string()
                .into_bytes(),
            "ok".to_string(),
        ),
        1 => {
            let mut raw = format!(
                "POST /echo HTTP/1.1\r\nHost: fleet\r\nConnection: close\r\nContent-Length: {POST_SIZE}\r\n\r\n"
            )
            .into_bytes();
            raw.extend(std::iter::repeat_n(b'x', POST_SIZE));
            ("post", raw, format!("echo {POST_SIZE}"))
        }
        _ => {
            let secs = 2 + n % 4; // 2–5 s
            let raw =
                format!("GET /slow?{secs} HTTP/1.1\r\nHost: fleet\r\nConnection: close\r\n\r\n");
            ("slow", raw.into_bytes(), "slow".to_string())
        }
    };
    let outcome = http::send(port, &raw).and_then(|r| {
        let text = r.text();
        let version = r.header("x-version").unwrap_or("").to_string();
        if r.status == 200 && text == format!("{version} {want}") {
            Ok(version)
        } else {
            Err(format!("{} {text:?}", r.status))
        }
    });
    (kind, outcome)
}

/// Clients sending mixed requests until `stop`; what they saw.
fn load(
    port: u16,
    clients: usize,
    stop: Arc<AtomicBool>,
) -> Vec<std::thread::JoinHandle<Vec<Seen>>> {
    (0..clients)
        .map(|c| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut seen = Vec::new();
                let mut n = c;
                while !stop.load(Ordering::SeqCst) {
                    let started = Instant::now();
                    let (kind, outcome) = one_request(port, n);
                    seen.push(Seen {
                        started,
                        kind,
                        outcome,
                    });
                    n += 1;
                }
                seen
            })
        })
        .collect()
}

fn phase(what: &str, t: Instant) {
    eprintln!("fleet test: {what} at {:?}", t.elapsed());
}

fn count(seen: &[Seen], kind: &str, version: &str) -> usize {
    seen.iter()
        .filter(|s| s.kind == kind && s.outcome.as_deref() == Ok(version))
        .count()
}

fn summarize(seen: &[Seen], deployed: &str) {
    let c = |k, v| count(seen, k, v);
    eprintln!(
        "fleet test: {} requests; v1 short/post/slow {}/{}/{}, v2 {}/{}/{}; {deployed}",
        seen.len(),
        c("short", "v1"),
        c("post", "v1"),
        c("slow", "v1"),
        c("short", "v2"),
        c("post", "v2"),
        c("slow", "v2"),
    );
}

#[test]
fn a_rolling_deploy_and_a_graceful_stop_behind_haproxy_lose_nothing() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: network namespaces need root");
        return;
    }
    let fleet = Fleet {
        dir: temp_dir("fleet"),
        net: format!("10.{}", 200 + std::process::id() % 50),
    };
    let port = free_port();
    fleet.run(&["up", "2", &port.to_string()]);
    let t0 = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let clients = load(port, 8, stop.clone());
    std::thread::sleep(Duration::from_secs(3));
    phase("deploy v2 starts", t0);
    let deployed = fleet.run(&["deploy", "v2"]);
    let deploy_done = Instant::now();
    phase("deploy v2 done", t0);
    std::thread::sleep(Duration::from_secs(4));
    let host1 = fleet.host_pid(1).expect("host 1's pid");
    fleet.run(&["graceful-stop", "1"]);
    phase("host 1 graceful-stop", t0);
    std::thread::sleep(Duration::from_secs(7));
    stop.store(true, Ordering::SeqCst);
    let seen: Vec<Seen> = clients
        .into_iter()
        .flat_map(|c| c.join().unwrap())
        .collect();
    assert!(
        common::wait_until(Duration::from_secs(30), || !common::alive(host1)),
        "host 1 still running after graceful-stop"
    );

    let failed: Vec<String> = seen
        .iter()
        .filter_map(|s| {
            s.outcome
                .as_ref()
                .err()
                .map(|e| format!("{} at {:?}: {e}", s.kind, s.started - t0))
        })
        .collect();
    let old_after: Vec<String> = seen
        .iter()
        .filter(|s| s.started > deploy_done && s.outcome.as_deref() != Ok("v2"))
        .map(|s| format!("{} at {:?}: {:?}", s.kind, s.started - t0, s.outcome))
        .collect();
    summarize(&seen, &deployed);
    assert!(
        failed.is_empty(),
        "failed requests:\n{}\n{}",
        failed.join("\n"),
        fleet.logs()
    );
    assert!(
        old_after.is_empty(),
        "old code after the deploy:\n{}",
        old_after.join("\n")
    );
    for kind in ["short", "post", "slow"] {
        assert!(
            count(&seen, kind, "v1") > 0 && count(&seen, kind, "v2") > 0,
            "{kind} requests in both versions"
        );
    }
}
