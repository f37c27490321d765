//! Zero-downtime restarts under load. Clients send requests continuously —
//! short GETs, 20 KB POSTs, streamed responses, and requests lasting up to
//! 10 s — while the server goes through 10 `apachectl graceful` restarts
//! and then an `apachectl graceful-stop`. Every request must come back
//! complete; new code must serve every request that starts after a
//! restart has finished (in daemon mode: once the new generation's daemons
//! are ready, the previous code answering until then); the graceful-stop
//! must let every request in flight finish.
//!
//! Bounded: a fixed number of restarts, every request with a timeout.
//! With WSGI_TEST_REPORT_ONLY=1 the figures are printed but failures are not
//! asserted: that is how the same load runs against another module
//! (MOD_WSGI_RS_SO=/usr/lib/apache2/modules/mod_wsgi.so) for contrast.

mod common;

use common::{http, probe_dir, wait_until, write_file, Server};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const RESTARTS: usize = 10;
const RESTART_EVERY: Duration = Duration::from_millis(1200);
/// Request lengths of the slow clients, in seconds (the longest is 10 s).
const SLOW: [&[f64]; 2] = [&[10.0, 3.0, 6.0], &[4.0, 10.0, 2.0]];

fn report_only() -> bool {
    std::env::var("WSGI_TEST_REPORT_ONLY").is_ok_and(|v| v == "1")
}

/// A request and how to tell its response is complete.
struct Check {
    raw: String,
    ok: Box<dyn Fn(&http::Response) -> bool + Send>,
    /// Short requests count for the restart-latency figures.
    short: bool,
}

#[derive(Default)]
struct Load {
    stop: AtomicBool,
    ok: AtomicUsize,
    failures: Mutex<Vec<String>>,
    /// (start, latency) of every short request.
    latencies: Mutex<Vec<(Instant, Duration)>>,
}

fn sleep_request(secs: f64) -> Check {
    Check {
        raw: format!("GET /app/sleep?{secs} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
        ok: Box::new(move |r| r.status == 200 && r.text() == format!("{{\"slept\": {secs:?}}}")),
        short: false,
    }
}

fn short_request(n: usize) -> Check {
    let body = "x".repeat(20_000);
    match n % 3 {
        0 => Check {
            raw: "GET /app/stream?8 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".into(),
            ok: Box::new(|r| r.status == 200 && r.body.len() == 8 * 16384),
            short: true,
        },
        1 => Check {
            raw: format!(
                "POST /app/echo HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
                body.len(),
                body
            ),
            ok: Box::new(|r| r.status == 200 && r.body.len() == 20_000),
            short: true,
        },
        _ => Check {
            raw: "GET /app/code-version HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".into(),
            ok: Box::new(|r| r.status == 200 && !r.body.is_empty()),
            short: true,
        },
    }
}

fn run(port: u16, load: &Load, check: Check) {
    let t0 = Instant::now();
    let first = check.raw.lines().next().unwrap_or_default().to_string();
    match http::send(port, check.raw.as_bytes()) {
        Ok(r) if (check.ok)(&r) => {
            load.ok.fetch_add(1, Ordering::SeqCst);
            if check.short {
                load.latencies.lock().unwrap().push((t0, t0.elapsed()));
            }
        }
        Ok(r) => load.failures.lock().unwrap().push(format!(
            "{first} -> {} ({} bytes) after {:?}",
            r.status,
            r.body.len(),
            t0.elapsed()
        )),
        Err(e) => load
            .failures
            .lock()
            .unwrap()
            .push(format!("{first} -> {e} after {:?}", t0.elapsed())),
    }
}

/// One client: loops until told to stop, finishing the request it is in.
/// A slow client alternates its long requests with short ones.
fn client(port: u16, load: Arc<Load>, slow: Option<&'static [f64]>) {
    let mut n = 0usize;
    while !load.stop.load(Ordering::SeqCst) {
        n += 1;
        let check = match slow {
            Some(lengths) if n % 2 == 1 => sleep_request(lengths[(n / 2) % lengths.len()]),
            _ => short_request(n),
        };
        run(port, &load, check);
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn summary(mut v: Vec<Duration>) -> String {
    v.sort();
    format!(
        "n={} p50={:.1}ms p99={:.1}ms max={:.1}ms",
        v.len(),
        percentile(&v, 0.5).as_secs_f64() * 1e3,
        percentile(&v, 0.99).as_secs_f64() * 1e3,
        v.last().copied().unwrap_or_default().as_secs_f64() * 1e3
    )
}

fn run_under_restarts(tag: &str, daemon: bool) {
    let dir = probe_dir(tag);
    let version = |v: usize| {
        write_file(&dir, "code-version", &format!("v{v}"));
    };
    version(0);
    let mut s = start_site(tag, &dir, daemon);
    let load = Arc::new(Load::default());
    let mut clients = start_clients(s.port, &load);
    let t0 = Instant::now();
    let (windows, stale) = restart_repeatedly(&mut s, &load, &version, if daemon { 2 } else { 0 });
    let restarts_took = t0.elapsed();

    // graceful-stop with requests in flight: one more 6 s request starts
    // now; the clients finish what they are in (up to 10 s) and start no
    // more; once everything sent has been accepted, graceful-stop.
    let last = {
        let (load, port) = (load.clone(), s.port);
        std::thread::spawn(move || {
            run(port, &load, sleep_request(6.0));
            Instant::now()
        })
    };
    load.stop.store(true, Ordering::SeqCst);
    std::thread::sleep(Duration::from_millis(1000));
    let stop_sent = Instant::now();
    let stopped = s.graceful_stop(Duration::from_secs(40));
    let last_done = last.join().unwrap();
    for c in clients.drain(..) {
        c.join().unwrap();
    }
    let (during, outside) = latencies_during_restarts(&load, &windows);
    let restart_times: Vec<Duration> = windows.iter().map(|(b, e)| *e - *b).collect();
    let failures = load.failures.lock().unwrap().clone();
    eprintln!(
        "{tag} ({}): {RESTARTS} graceful restarts in {:.1}s, then graceful-stop: \
         {} requests complete, {} failed, {} stale-code responses; \
         restart (signal to new generation up) {}; \
         short requests during restarts {}, otherwise {}; \
         graceful-stop took {:?} (last request done {:.2}s after the signal); \
         processes left: {:?}",
        common::mpm(),
        restarts_took.as_secs_f64(),
        load.ok.load(Ordering::SeqCst),
        failures.len(),
        stale.len(),
        summary(restart_times),
        summary(during),
        summary(outside),
        stopped,
        last_done.saturating_duration_since(stop_sent).as_secs_f64(),
        s.processes(),
    );
    if report_only() {
        print_report(&s, &failures, &stale);
        return;
    }
    assert!(
        load.ok.load(Ordering::SeqCst) > 100,
        "too few requests ran\n{}",
        s.logs()
    );
    assert!(failures.is_empty(), "failures: {failures:#?}\n{}", s.logs());
    assert!(
        stale.is_empty(),
        "old code served: {stale:#?}\n{}",
        s.logs()
    );
    let stopped = stopped.unwrap_or_else(|| panic!("graceful-stop did not finish\n{}", s.logs()));
    // The server waited for the last request, and left nothing behind.
    assert!(stop_sent + stopped >= last_done, "{}", s.logs());
    assert!(
        wait_until(Duration::from_secs(3), || s.processes().is_empty()),
        "left behind: {:?}\n{}",
        s.processes(),
        s.logs()
    );
}

/// The slow clients (one per SLOW entry) and four fast ones.
fn start_clients(port: u16, load: &Arc<Load>) -> Vec<std::thread::JoinHandle<()>> {
    SLOW.iter()
        .map(|lengths| Some(*lengths))
        .chain([None; 4])
        .map(|slow| {
            let load = load.clone();
            std::thread::spawn(move || client(port, load, slow))
        })
        .collect()
}

/// The probe app at /app, embedded or in a daemon group, once it answers.
fn start_site(tag: &str, dir: &std::path::Path, daemon: bool) -> Server {
    let alias = if daemon {
        format!(
            "WSGIDaemonProcess site processes=2 threads=8 graceful-timeout=30\n\
             WSGIScriptAlias /app {}/probe.wsgi process-group=site\n",
            dir.display()
        )
    } else {
        format!("WSGIScriptAlias /app {}/probe.wsgi\n", dir.display())
    };
    // Long enough for the 10 s requests in flight at the graceful-stop.
    let s = Server::start(tag, &format!("{alias}GracefulShutdownTimeout 20\n"));
    assert!(
        wait_until(Duration::from_secs(20), || s
            .get("/app/code-version")
            .status
            == 200),
        "{}",
        s.logs()
    );
    s
}

type Windows = Vec<(Instant, Instant)>;

/// Restarts, each with new "code": a request after the restart must see
/// it. Returns each restart's (signal, new generation up) and the stale
/// answers seen.
fn restart_repeatedly(
    s: &mut Server,
    load: &Load,
    version: &dyn Fn(usize),
    daemons: usize,
) -> (Windows, Vec<String>) {
    let mut windows = Vec::new();
    let mut stale = Vec::new();
    for i in 1..=RESTARTS {
        std::thread::sleep(RESTART_EVERY);
        version(i);
        let begin = Instant::now();
        s.graceful_and_old_children_stop_accepting();
        // In daemon mode the previous generation answers (old code) until
        // the new one is ready: the restart ends when the old daemons have
        // stopped taking requests (they log it as they do).
        let retired = |s: &Server| {
            s.error_log()
                .matches("stopping: the server restarted gracefully")
                .count()
        };
        assert!(
            common::wait_until(Duration::from_secs(15), || retired(s) >= daemons * i),
            "the previous generation was not retired after restart {i}\n{}",
            s.logs()
        );
        windows.push((begin, Instant::now()));
        for _ in 0..3 {
            check_version(s.port, i, load, &mut stale);
        }
    }
    (windows, stale)
}

fn check_version(port: u16, i: usize, load: &Load, stale: &mut Vec<String>) {
    let raw = "GET /app/code-version HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    let failure = match http::send(port, raw.as_bytes()) {
        Ok(r) if r.status == 200 => {
            if r.text() != format!("v{i}") {
                stale.push(format!("after restart {i}: {:?}", r.text()));
            }
            return;
        }
        Ok(r) => format!(
            "version check after restart {i} -> {} ({} bytes)",
            r.status,
            r.body.len()
        ),
        Err(e) => format!("version check after restart {i} -> {e}"),
    };
    load.failures.lock().unwrap().push(failure);
}

/// Latency of short requests that started during a restart (signal to new
/// generation up, plus 1 s) and of the others.
fn latencies_during_restarts(load: &Load, windows: &Windows) -> (Vec<Duration>, Vec<Duration>) {
    let (mut during, mut outside) = (Vec::new(), Vec::new());
    for (start, took) in load.latencies.lock().unwrap().iter() {
        let in_window = windows
            .iter()
            .any(|(b, e)| *start >= *b && *start <= *e + Duration::from_secs(1));
        if in_window {
            during.push(*took)
        } else {
            outside.push(*took)
        }
    }
    (during, outside)
}

fn print_report(s: &Server, failures: &[String], stale: &[String]) {
    eprintln!("failures: {failures:#?}\nstale: {stale:#?}");
    let log = s.error_log();
    let notable: Vec<&str> = log
        .lines()
        .filter(|l| l.contains(":error]") || l.contains(":warn]") || l.contains(":crit]"))
        .take(40)
        .collect();
    eprintln!(
        "error log warnings and errors (first 40):\n{}",
        notable.join("\n")
    );
}

#[test]
fn embedded_mode_loses_nothing_across_graceful_restarts_and_graceful_stop() {
    run_under_restarts("rembedded", false);
}

#[test]
fn daemon_mode_loses_nothing_across_graceful_restarts_and_graceful_stop() {
    run_under_restarts("rdaemon", true);
}

/// Two daemon groups, `a` (with `a_processes`) and optionally `b`, both
/// running the probe app.
fn groups_conf(dir: &std::path::Path, a_processes: u32, with_b: bool) -> String {
    let mut conf = format!(
        "WSGIDaemonProcess a processes={a_processes} threads=4 display-name=%{{GROUP}} graceful-timeout=30\n\
         WSGIScriptAlias /a {}/probe.wsgi process-group=a\n",
        dir.display()
    );
    if with_b {
        conf += &format!(
            "WSGIDaemonProcess b processes=1 threads=4 display-name=%{{GROUP}} graceful-timeout=30\n\
             WSGIScriptAlias /b {}/probe.wsgi process-group=b\n",
            dir.display()
        );
    }
    conf
}

fn daemons(s: &Server, group: &str) -> Vec<u32> {
    common::children_named(s.pid(), &format!("(wsgi:{group})"))
}

/// Starts `path` (/…/sleep?<secs>) in the background and returns once the
/// application is running it (its marker file appeared), so the request is
/// really in flight: a fixed pause was not enough on prefork, which starts
/// with one child and spawns more only once a second.
fn sleep_in_background(
    port: u16,
    dir: &std::path::Path,
    path: &str,
) -> std::thread::JoinHandle<Result<http::Response, String>> {
    let secs = path.rsplit_once('?').map_or("1", |(_, q)| q).to_string();
    let marker = dir.join(format!("markers/sleeping-{secs}"));
    let _ = std::fs::remove_file(&marker);
    let raw = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    let handle = std::thread::spawn(move || http::send(port, raw.as_bytes()));
    assert!(
        common::wait_for_file(&marker, Duration::from_secs(15)),
        "{path} did not start running"
    );
    handle
}

fn assert_slept(r: Result<http::Response, String>, secs: f64, s: &Server) {
    let r = r.unwrap_or_else(|e| panic!("in-flight request failed: {e}\n{}", s.logs()));
    assert_eq!(
        (r.status, r.text()),
        (200, format!("{{\"slept\": {secs:?}}}")),
        "{}",
        s.logs()
    );
}

#[test]
fn a_configuration_error_leaves_the_running_server_untouched() {
    let dir = probe_dir("rconferr");
    let good = groups_conf(&dir, 2, true);
    let s = Server::start("rconferr", &good);
    assert!(
        wait_until(Duration::from_secs(20), || daemons(&s, "a").len() == 2
            && s.get("/a/code-version").status == 200),
        "{}",
        s.logs()
    );
    let before = (daemons(&s, "a"), daemons(&s, "b"));
    let in_flight = sleep_in_background(s.port, &dir, "/a/sleep?2");

    // Errors only our module can see: both `apachectl configtest` and
    // `httpd -k graceful` (which apachectl graceful runs after its
    // configtest) refuse the file, naming what is wrong.
    for (bad, says) in [
        ("WSGIDaemonProcess c processes=none\n", "processes"),
        (
            "WSGIScriptAlias /c @ROOT@/x.wsgi process-group=nosuch\n",
            "nosuch",
        ),
    ] {
        s.reconfigure(&format!("{good}{bad}"));
        let (ok, out) = s.configtest();
        assert!(
            !ok && out.contains(says),
            "configtest passed or was unclear: {out}"
        );
        let graceful = std::process::Command::new(common::httpd_bin())
            .args([
                "-f",
                s.root.join("httpd.conf").to_str().unwrap(),
                "-k",
                "graceful",
            ])
            .output()
            .unwrap();
        assert!(
            !graceful.status.success(),
            "httpd -k graceful accepted a bad config"
        );
    }
    // Nothing was restarted: same daemons, requests served, the in-flight
    // request completes.
    assert_slept(in_flight.join().unwrap(), 2.0, &s);
    assert_eq!((daemons(&s, "a"), daemons(&s, "b")), before);
    assert_eq!(s.get("/b/code-version").status, 200);
    assert_eq!(
        s.error_log().matches("resuming normal operations").count(),
        1,
        "{}",
        s.logs()
    );
}

#[test]
fn restarts_apply_removed_groups_and_new_process_counts_while_old_ones_drain() {
    let dir = probe_dir("rreshape");
    let s = Server::start("rreshape", &groups_conf(&dir, 2, true));
    assert!(
        wait_until(Duration::from_secs(20), || daemons(&s, "a").len() == 2
            && daemons(&s, "b").len() == 1
            && s.get("/b/code-version").status == 200),
        "{}",
        s.logs()
    );
    let (old_a, old_b) = (daemons(&s, "a"), daemons(&s, "b"));
    let on_b = sleep_in_background(s.port, &dir, "/b/sleep?3");
    let on_a = sleep_in_background(s.port, &dir, "/a/sleep?4");

    // Restart 1: group b removed, a goes from 2 to 3 processes. Restart 2
    // follows at once, while restart 1's old daemons are still draining.
    s.reconfigure(&groups_conf(&dir, 3, false));
    s.graceful();
    let first_gen: Vec<u32> = daemons(&s, "a")
        .into_iter()
        .filter(|p| !old_a.contains(p))
        .collect();
    s.graceful();
    // An old child may still take a connection in the moment it is told to
    // stop (worker MPM): that request is served by the old configuration,
    // as it should be; new connections soon get the new one.
    assert!(
        wait_until(Duration::from_secs(5), || s.get("/b/code-version").status
            == 404),
        "b's URL is not gone\n{}",
        s.logs()
    );

    // In-flight requests on the removed group and the reshaped one finish.
    assert_slept(on_b.join().unwrap(), 3.0, &s);
    assert_slept(on_a.join().unwrap(), 4.0, &s);

    // Then the old daemons leave: b's for good, a's replaced by three.
    let all_old: Vec<u32> = old_a
        .iter()
        .chain(&old_b)
        .chain(&first_gen)
        .copied()
        .collect();
    assert!(
        wait_until(Duration::from_secs(10), || all_old
            .iter()
            .all(|p| !common::alive(*p))),
        "old daemons still running: {:?}\n{}",
        all_old
            .iter()
            .filter(|p| common::alive(**p))
            .collect::<Vec<_>>(),
        s.logs()
    );
    assert!(daemons(&s, "b").is_empty(), "{}", s.logs());
    assert!(
        wait_until(Duration::from_secs(10), || daemons(&s, "a").len() == 3),
        "{:?}\n{}",
        daemons(&s, "a"),
        s.logs()
    );
    let served_by: std::collections::BTreeSet<u32> = (0..30)
        .map(|_| {
            common::json::parse_response(&s.get("/a/module"))
                .get("pid")
                .num() as u32
        })
        .collect();
    assert!(
        served_by.iter().all(|p| daemons(&s, "a").contains(p)),
        "{served_by:?}"
    );
}

/// `apachectl restart` (SIGHUP) and `apachectl stop` (SIGTERM) are prompt
/// with both an embedded application and a daemon group loaded, and leave
/// nothing behind.
#[test]
fn restart_and_stop_are_prompt() {
    let dir = probe_dir("rstop");
    let conf = format!(
        "{}WSGIScriptAlias /e {}/probe.wsgi\n",
        groups_conf(&dir, 2, false),
        dir.display()
    );
    let mut s = Server::start("rstop", &conf);
    // (A request that arrives while `restart` kills Apache's children is
    // cut: that is what `restart`, unlike `graceful`, does.)
    let ok = |s: &Server, path: &str| {
        let raw = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        http::send(s.port, raw.as_bytes()).is_ok_and(|r| r.status == 200)
    };
    let both_serve = |s: &Server| {
        wait_until(Duration::from_secs(20), || {
            ok(s, "/a/code-version") && ok(s, "/e/code-version")
        })
    };
    assert!(both_serve(&s), "{}", s.logs());
    let old = daemons(&s, "a");

    let t0 = Instant::now();
    common::signal(s.pid() as i32, libc::SIGHUP);
    assert!(
        s.wait_for_log("SIGHUP received", Duration::from_secs(10)),
        "{}",
        s.logs()
    );
    assert!(both_serve(&s), "{}", s.logs());
    let restart = t0.elapsed();
    assert!(
        wait_until(Duration::from_secs(10), || old
            .iter()
            .all(|p| !common::alive(*p))),
        "{}",
        s.logs()
    );

    let took = s
        .signal_and_wait(libc::SIGTERM, Duration::from_secs(10))
        .unwrap_or_else(|| panic!("stop did not finish\n{}", s.logs()));
    let left = s.processes();
    eprintln!(
        "restart: serving again (both modes) {restart:?} after SIGHUP; stop: parent gone {took:?} after SIGTERM; left: {left:?}"
    );
    assert!(took < Duration::from_secs(5), "stop took {took:?}");
    assert!(left.is_empty(), "left behind: {left:?}");
}
