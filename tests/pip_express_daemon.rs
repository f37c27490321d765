//! The pip way's daemon settings and process tree:
//! --startup-timeout, --shutdown-timeout and --graceful-timeout by their
//! effect; start-server as a non-root user (a container's USER); and as
//! PID 1 of a PID namespace the test makes (a container's init): SIGTERM
//! stops it gracefully and orphans are reaped. Every server stopped by PID.

mod common;

use common::pip_express::{fresh_venv, is_root, serve, StartServer};
use common::{alive, children_named, free_port, http, temp_dir, wait_until, write_file};
use std::fs;
use std::os::unix::fs::chown;
use std::process::Command;
use std::time::{Duration, Instant};

const APP: &str = "import os, subprocess, time\n\
MARKER = os.path.join(os.path.dirname(__file__), 'deployed')\n\
if os.path.basename(__file__) == 'late.wsgi' and not os.path.exists(MARKER):\n\
\x20   raise ImportError('not deployed yet')\n\
def application(environ, start_response):\n\
\x20   path = environ['PATH_INFO']\n\
\x20   if path.startswith('/sleep/'):\n\
\x20       time.sleep(int(path[7:]))\n\
\x20   if path == '/orphan':\n\
\x20       subprocess.run(['sh', '-c', 'sleep 2 &'])\n\
\x20   start_response('200 OK', [('Content-Type', 'text/plain')])\n\
\x20   return [('pid=%d uid=%d' % (os.getpid(), os.getuid())).encode()]\n";

fn get(port: u16, path: &str) -> http::Response {
    let raw = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    http::send(port, raw.as_bytes()).unwrap_or_default()
}

fn error_log(s: &StartServer) -> String {
    fs::read_to_string(s.root.join("error_log")).unwrap_or_default()
}

/// The `total=` of the shutdown report with `reason`, in ms.
fn report_total(log: &str, reason: &str) -> Option<u64> {
    let line = log
        .lines()
        .find(|l| l.contains(&format!("reason={reason} ")))?;
    line.split("total=")
        .nth(1)?
        .split("ms")
        .next()?
        .parse()
        .ok()
}

#[test]
fn startup_timeout_restarts_a_daemon_whose_app_does_not_load() {
    let extra = ["--startup-timeout", "2", "--log-level", "info"];
    let (dir, _, s) = serve(
        "pipd-startup",
        &[("late.wsgi", APP)],
        &[],
        "late.wsgi",
        &extra,
    );
    assert!(s.get("/").status >= 500, "not loadable yet");
    assert!(
        wait_until(Duration::from_secs(20), || error_log(&s)
            .contains("reason=startup_timeout")),
        "{}",
        s.logs()
    );
    write_file(&dir, "deployed", "");
    assert!(
        wait_until(Duration::from_secs(20), || s.get("/").status == 200),
        "{}",
        s.logs()
    );
}

#[test]
fn shutdown_timeout_bounds_a_stop_now() {
    let extra = ["--shutdown-timeout", "2", "--log-level", "info"];
    let (_, _, mut s) = serve(
        "pipd-shutdown",
        &[("app.wsgi", APP)],
        &[],
        "app.wsgi",
        &extra,
    );
    let port = s.port;
    let busy = std::thread::spawn(move || get(port, "/sleep/30"));
    std::thread::sleep(Duration::from_millis(700));
    // Twice: the first asks for a graceful stop, the second for a stop now.
    let t0 = Instant::now();
    common::signal(s.pid() as i32, libc::SIGTERM);
    std::thread::sleep(Duration::from_millis(300));
    let code = s.signal_and_wait(libc::SIGTERM, Duration::from_secs(25));
    assert!(
        code.is_some(),
        "still running after {:?}\n{}",
        t0.elapsed(),
        s.logs()
    );
    let r = busy.join().unwrap();
    assert_ne!(r.text(), "pid", "the 30 s request was cut");
    let log = error_log(&s);
    let total = report_total(&log, "shutdown_signal").unwrap_or_else(|| panic!("{log}"));
    // The daemon waited about shutdown-timeout (2 s; default 5) for it.
    assert!((1500..4900).contains(&total), "total={total}ms\n{log}");
}

#[test]
fn graceful_timeout_bounds_a_recycling_daemons_drain() {
    let extra = [
        "--maximum-requests",
        "1",
        "--graceful-timeout",
        "2",
        "--log-level",
        "info",
    ];
    let (_, _, s) = serve(
        "pipd-graceful",
        &[("app.wsgi", APP)],
        &[],
        "app.wsgi",
        &extra,
    );
    let port = s.port;
    let settled = |s: &StartServer| error_log(s).matches("reason=maximum_requests").count();
    // The probe was the first process's one request: wait for its successor.
    assert!(
        wait_until(Duration::from_secs(20), || settled(&s) >= 1),
        "{}",
        s.logs()
    );
    let before = settled(&s);
    // A long request, then a short one: when the short one has been
    // served the process has served its maximum and drains while the long
    // one runs; graceful-timeout (2 s) ends the drain, not the 30 s request.
    let t0 = Instant::now();
    let long = std::thread::spawn(move || get(port, "/sleep/30"));
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(get(port, "/").status, 200, "{}", s.logs());
    let r = long.join().unwrap();
    assert!(
        t0.elapsed() < Duration::from_secs(20),
        "{:?} {}",
        t0.elapsed(),
        r.status
    );
    assert!(
        wait_until(Duration::from_secs(10), || settled(&s) > before),
        "{}",
        s.logs()
    );
    let log = error_log(&s);
    let line = log
        .lines()
        .filter(|l| l.contains("reason=maximum_requests"))
        .last()
        .unwrap();
    let drain: u64 = line
        .split("drain=")
        .nth(1)
        .unwrap()
        .split("ms")
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (1500..4000).contains(&drain),
        "drain={drain}ms (graceful-timeout 2 s)\n{log}"
    );
}

#[test]
fn start_server_runs_as_a_non_root_user() {
    if !is_root() {
        eprintln!("skipped: needs root to become www-data");
        return;
    }
    let dir = temp_dir("pipd-nonroot");
    write_file(&dir, "app.wsgi", APP);
    let venv = fresh_venv("pipd-nonroot", &[]);
    let uid = common::user_id("www-data");
    chown(&dir, Some(uid), Some(uid)).unwrap();
    let port = free_port();
    let mut cmd = Command::new("setpriv");
    cmd.args([
        "--reuid=www-data",
        "--regid=www-data",
        "--clear-groups",
        "--",
    ])
    .arg(venv.join("bin/mod_wsgi-express"))
    .args(["start-server", "app.wsgi", "--host", "127.0.0.1", "--port"])
    .arg(port.to_string());
    let s = StartServer::spawn(cmd, &dir, port, "/");
    let r = s.get("/");
    assert!(
        r.text().ends_with(&format!("uid={uid}")),
        "{}\n{}",
        r.text(),
        s.logs()
    );
    let httpd: u32 = fs::read_to_string(s.root.join("httpd.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let owner = fs::read_to_string(format!("/proc/{httpd}/status")).unwrap();
    let line = owner
        .lines()
        .find(|l| l.starts_with("Uid:"))
        .unwrap()
        .to_string();
    assert!(
        line.split_whitespace()
            .all(|f| f == "Uid:" || f == uid.to_string()),
        "{line}"
    );
}

/// Zombie children of `pid` (state Z), by /proc.
fn zombies_of(pid: u32) -> Vec<u32> {
    children_named(pid, "")
        .into_iter()
        .filter(|c| {
            let stat = fs::read_to_string(format!("/proc/{c}/stat")).unwrap_or_default();
            stat.rsplit(')')
                .next()
                .map(|r| r.trim_start().starts_with('Z'))
                == Some(true)
        })
        .collect()
}

/// The namespace's processes, killed by process group if the test fails.
struct Namespace(i32);

impl Drop for Namespace {
    fn drop(&mut self) {
        common::signal(-self.0, libc::SIGKILL);
    }
}

#[test]
fn as_pid_1_sigterm_stops_gracefully_and_orphans_are_reaped() {
    if !is_root() {
        eprintln!("skipped: needs root for a PID namespace");
        return;
    }
    let dir = temp_dir("pipd-pid1");
    write_file(&dir, "app.wsgi", APP);
    let venv = fresh_venv("pipd-pid1", &[]);
    let port = free_port();
    let mut cmd = Command::new("unshare");
    cmd.args(["--pid", "--fork", "--kill-child=SIGKILL", "--"])
        .arg(venv.join("bin/mod_wsgi-express"))
        .args(["start-server", "app.wsgi", "--host", "127.0.0.1", "--port"])
        .arg(port.to_string())
        .args(common::pip_express::account());
    let mut s = StartServer::spawn(cmd, &dir, port, "/");
    let _guard = Namespace(s.pid() as i32);
    let init = children_named(s.pid(), "")[0];
    let status = fs::read_to_string(format!("/proc/{init}/status")).unwrap();
    let nspid = status
        .lines()
        .find(|l| l.starts_with("NSpid:"))
        .unwrap()
        .to_string();
    assert!(
        nspid.trim_end().ends_with(" 1") || nspid.ends_with("\t1"),
        "{nspid}"
    );
    // A daemon's grandchild outlives its parent: re-parented to PID 1.
    assert_eq!(get(port, "/orphan").status, 200, "{}", s.logs());
    assert!(
        wait_until(Duration::from_secs(5), || !children_named(init, "sleep")
            .is_empty()),
        "the orphan went to PID 1"
    );
    assert!(
        wait_until(Duration::from_secs(10), || children_named(init, "sleep")
            .is_empty()
            && zombies_of(init).is_empty()),
        "not reaped: {:?}",
        zombies_of(init)
    );
    // SIGTERM to PID 1 with a request in flight: it finishes, all exit.
    let busy = std::thread::spawn(move || get(port, "/sleep/2"));
    std::thread::sleep(Duration::from_millis(500));
    common::signal(init as i32, libc::SIGTERM);
    let r = busy.join().unwrap();
    assert_eq!(r.status, 200, "the request in flight\n{}", s.logs());
    let code = s.wait_exit(Duration::from_secs(20));
    assert_eq!(code, Some(0), "{}", s.logs());
    assert!(!alive(init));
}
