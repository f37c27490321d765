//! The same application under PyPI's mod_wsgi 6.1.1 (built here into the
//! test virtualenv) and under this module, in embedded and daemon mode:
//! the Python API names, the `apache` module, the environ keys' types, and
//! the keys of process_metrics(), request_metrics() and server_metrics();
//! and what the metrics API answers over one sequence of requests.

mod common;

use common::json::Value;
use common::sites::json_of;
use common::vs61::{start_with, SOCKETS};
use common::{probe_dir, Server};

/// What each path answers, under one module.
fn answers(tag: &str, module: Option<&str>) -> Vec<(String, Value)> {
    let dir = probe_dir(tag);
    let d = dir.display();
    let conf = format!(
        "WSGIServerMetrics On\nExtendedStatus On\n{SOCKETS}\n\
         WSGIDaemonProcess site processes=1 threads=2 server-metrics=On\n\
         WSGIScriptAlias /e {d}/probe.wsgi\n\
         WSGIScriptAlias /d {d}/probe.wsgi process-group=site\n"
    );
    let s = start_with(tag, &conf, module);
    // Which module really answers: mod_wsgi names itself in Apache's banner.
    let banner = s.log_line("resuming normal operations");
    assert_eq!(
        banner.contains("mod_wsgi/6.1.1"),
        module.is_some(),
        "{tag}: {banner}"
    );
    let mut out = Vec::new();
    for prefix in ["/e", "/d"] {
        for q in [
            "",
            "?metrics",
            "?request-metrics",
            "?request-metrics",
            "?server-metrics",
        ] {
            let r = s.get(&format!("{prefix}/api6{q}"));
            assert_eq!(r.status, 200, "{tag} {prefix}{q}\n{}", s.logs());
            out.push((format!("{prefix}{q}"), json_of(&r)));
        }
    }
    out
}

fn keys(v: &Value) -> Vec<String> {
    match v {
        Value::Obj(pairs) => {
            let mut k: Vec<String> = pairs.iter().map(|(k, _)| k.clone()).collect();
            k.sort();
            k
        }
        _ => Vec::new(),
    }
}

#[test]
fn the_python_api_matches_mod_wsgi_6_1_1() {
    let mod_wsgi = answers("vs61-theirs", Some(&common::sites::mod_wsgi_61()));
    let ours = answers("vs61-ours", None);
    for ((path, a), (_, b)) in mod_wsgi.iter().zip(ours.iter()) {
        match path.split_once('?').map_or("", |(_, q)| q) {
            "" => {
                for k in ["version", "has", "types", "apache_types"] {
                    assert_eq!(a.get(k), b.get(k), "{path}: {k}");
                }
            }
            "metrics" => assert_eq!(
                keys(a.get("metrics")),
                keys(b.get("metrics")),
                "{path}: process_metrics keys"
            ),
            "request-metrics" => {
                assert_eq!(
                    keys(a.get("metrics")),
                    keys(b.get("metrics")),
                    "{path}: request_metrics keys"
                )
            }
            _ => {
                for k in ["keys", "process_keys", "worker_keys"] {
                    assert_eq!(
                        a.get("metrics").get(k),
                        b.get("metrics").get(k),
                        "{path}: server_metrics {k}"
                    );
                }
            }
        }
    }
}

/// The metrics API over one sequence of requests to a fresh daemon
/// process, under one module.
fn behaviour(tag: &str, module: Option<&str>) -> Vec<Value> {
    let dir = probe_dir(tag);
    let d = dir.display();
    // One Apache child, so that embedded mode's counts are one process's.
    let one_child = if common::mpm() == "prefork" {
        "ServerLimit 1\nMaxRequestWorkers 4\nMinSpareServers 1\nMaxSpareServers 1\n"
    } else {
        "ServerLimit 1\nThreadsPerChild 25\nMaxRequestWorkers 25\nMinSpareThreads 1\nMaxSpareThreads 25\n"
    };
    let conf = format!(
        "{SOCKETS}\n{one_child}WSGIDaemonProcess site processes=1 threads=2\n\
         WSGIScriptAlias /d {d}/probe.wsgi process-group=site\n\
         WSGIScriptAlias /e {d}/probe.wsgi\n"
    );
    let s = start_with(tag, &conf, module);
    let mut out = Vec::new();
    for mode in ["/d", "/e"] {
        out.push(json_of(&s.get(&format!("{mode}/behave?before"))));
        out.push(json_of(&s.get(&format!("{mode}/behave?start"))));
        for status in [200, 200, 200, 404, 404, 500] {
            assert_eq!(s.get(&format!("{mode}/status?{status}")).status, status);
        }
        let post = format!(
            "POST {mode}/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\nConnection: close\r\n\r\n0123456789"
        );
        assert_eq!(s.request(&post).status, 200);
        out.push(json_of(&s.get(&format!("{mode}/behave?after"))));
        out.push(json_of(&s.get(&format!("{mode}/behave?again"))));
    }
    out
}

#[test]
fn the_metrics_api_behaves_as_mod_wsgi_6_1_1_does() {
    let theirs = behaviour("vs61-behave-theirs", Some(&common::sites::mod_wsgi_61()));
    let ours = behaviour("vs61-behave-ours", None);
    let steps = ["before", "start", "after", "again"];
    for (i, (a, b)) in theirs.iter().zip(ours.iter()).enumerate() {
        let mode = if i < 4 { "daemon" } else { "embedded" };
        assert_eq!(
            a,
            b,
            "{mode} {}: mod_wsgi 6.1.1 left, ours right",
            steps[i % 4]
        );
    }
}

/// The Apache level and the message of each error-log line that carries
/// `needle`, in order (`[wsgi:warn] ... level-TAG warning` -> ("warn",
/// "level-TAG warning")).
fn logged(s: &Server, needle: &str) -> Vec<(String, String)> {
    s.error_log()
        .lines()
        .filter_map(|line| {
            let at = line.find(needle)?;
            let level = line.split("] [").nth(1)?.split(':').nth(1)?.to_string();
            Some((level, line[at..].trim_end().to_string()))
        })
        .collect()
}

/// LogHandler, FileWrapper and RequestTimeout as one application sees
/// them, under one module: embedded (/e) and daemon (/d) mode.
fn helpers(tag: &str, module: Option<&str>) -> Vec<(String, String)> {
    let dir = probe_dir(tag);
    let d = dir.display();
    let conf = format!(
        "{SOCKETS}\nWSGIDaemonProcess site processes=1 threads=2\n\
         WSGIDaemonProcess rt processes=1 threads=1 request-timeout=2 interrupt-timeout=3\n\
         WSGIScriptAlias /e {d}/probe.wsgi\n\
         WSGIScriptAlias /d {d}/probe.wsgi process-group=site\n\
         WSGIScriptAlias /t {d}/probe.wsgi process-group=rt\n"
    );
    let s = start_with(tag, &conf, module);
    let mut out = Vec::new();
    let probe = std::fs::read_to_string(dir.join("probe.wsgi")).unwrap();
    for mode in ["e", "d"] {
        let r = s.get(&format!("/{mode}/log-levels?{mode}x"));
        assert_eq!(r.status, 200, "{tag}\n{}", s.logs());
        out.push((format!("/{mode}/log-levels"), r.text()));
        for needle in [
            format!("level-{mode}x"),
            format!("-{mode}x first"),
            format!("second-{mode}x"),
        ] {
            assert!(
                common::wait_until(std::time::Duration::from_secs(5), || {
                    !logged(&s, &needle).is_empty()
                }),
                "{tag}: {needle} not logged\n{}",
                s.logs()
            );
            out.push((
                format!("/{mode} log {needle}"),
                format!("{:?}", logged(&s, &needle)),
            ));
        }
        let r = s.get(&format!("/{mode}/file-wrapper"));
        out.push((format!("/{mode}/file-wrapper"), r.text()));
        let r = s.get(&format!("/{mode}/file-wrapper?body"));
        assert_eq!(r.text(), probe, "{tag} /{mode}: the file, whole");
        out.push((format!("/{mode}/file-wrapper?body"), r.status.to_string()));
    }
    // The facts of the interrupted request; its timing only roughly (each
    // module checks its timeouts on its own beat).
    let r = s.get("/t/request-timeout");
    let v = json_of(&r);
    let after = v.get("after").num();
    assert!(
        (2.0..=8.0).contains(&after),
        "{tag}: interrupted after {after} s\n{}",
        r.text()
    );
    for k in ["caught", "is_request_timeout", "bases"] {
        out.push((format!("/t/request-timeout {k}"), format!("{:?}", v.get(k))));
    }
    out
}

#[test]
fn log_handler_file_wrapper_and_request_timeout_behave_as_in_6_1_1() {
    let theirs = helpers("vs61-helpers-theirs", Some(&common::sites::mod_wsgi_61()));
    let ours = helpers("vs61-helpers-ours", None);
    assert_eq!(theirs.len(), ours.len());
    for ((what, a), (_, b)) in theirs.iter().zip(ours.iter()) {
        assert_eq!(a, b, "{what}: mod_wsgi 6.1.1 left, ours right");
    }
}

/// Per application group: whether a single-phase C extension imports and
/// whether a daemon thread starts, then how long two CPU-bound requests
/// (the same fixed work) sent at once took (own-GIL pair, shared pair), under one module.
fn own_gil_facts(tag: &str, module: Option<&str>) -> (Vec<(String, String)>, f64, f64) {
    let dir = common::temp_dir(tag);
    common::write_file(&dir, "app.wsgi", OWN_GIL_APP);
    let d = dir.display();
    let mut conf = format!(
        "{SOCKETS}\nWSGIDaemonProcess gil processes=1 threads=4\n\
         <WSGIInterpreterOptions process-group=gil>\nWSGIPerInterpreterGIL On\n</WSGIInterpreterOptions>\n"
    );
    for shared in ["shared", "shared2"] {
        conf += &format!(
            "<WSGIInterpreterOptions process-group=gil application-group={shared}>\n\
             WSGIPerInterpreterGIL Off\n</WSGIInterpreterOptions>\n"
        );
    }
    for g in ["one", "two", "shared", "shared2"] {
        conf +=
            &format!("WSGIScriptAlias /{g} {d}/app.wsgi process-group=gil application-group={g}\n");
    }
    conf += &format!(
        "WSGIScriptAlias /global {d}/app.wsgi process-group=gil application-group=%{{GLOBAL}}\n"
    );
    let s = start_with(tag, &conf, module);
    let mut facts = Vec::new();
    for g in ["one", "two", "shared", "shared2", "global"] {
        let r = s.get(&format!("/{g}/"));
        assert_eq!(r.status, 200, "{tag} /{g}\n{}", s.logs());
        facts.push((g.to_string(), r.text()));
    }
    let own = spin_together(&s, ["/one/spin", "/two/spin"]);
    let shared = spin_together(&s, ["/shared/spin", "/shared2/spin"]);
    (facts, own, shared)
}

const OWN_GIL_APP: &str = r#"import json, threading, time

def outcome(f):
    try:
        f()
        return 'ok'
    except BaseException as e:
        return type(e).__name__

def application(environ, start_response):
    if environ['PATH_INFO'] == '/spin':
        # A fixed amount of work (not a fixed time), so that sharing a GIL
        # shows as a longer span.
        t0 = time.time()
        n = 0
        for i in range(10000000):
            n += i
        body = {'start': t0, 'end': time.time()}
    else:
        body = {
            'single_phase': outcome(lambda: __import__('_testsinglephase')),
            'daemon_thread': outcome(lambda: threading.Thread(target=lambda: None, daemon=True).start()),
        }
    start_response('200 OK', [('Content-Type', 'application/json')])
    return [json.dumps(body, sort_keys=True).encode()]
"#;

/// From the first start to the last end of two spins sent at once.
fn spin_together(s: &Server, paths: [&'static str; 2]) -> f64 {
    let port = s.port;
    let spins: Vec<_> = paths
        .into_iter()
        .map(|p| {
            std::thread::spawn(move || {
                let raw = format!("GET {p} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
                common::http::send(port, raw.as_bytes())
            })
        })
        .collect();
    let times: Vec<(f64, f64)> = spins
        .into_iter()
        .map(|t| {
            let v = json_of(&t.join().unwrap().unwrap());
            (v.get("start").num(), v.get("end").num())
        })
        .collect();
    let first = times.iter().map(|t| t.0).fold(f64::MAX, f64::min);
    times.iter().map(|t| t.1).fold(0.0, f64::max) - first
}

#[test]
fn per_interpreter_gil_behaves_as_in_6_1_1() {
    let minor = std::env::var("PYO3_PYTHON")
        .ok()
        .and_then(|p| {
            p.rsplit("python3.")
                .next()
                .and_then(|m| m.trim_end_matches('t').parse::<u32>().ok())
        })
        .unwrap_or(11);
    if minor < 12 {
        eprintln!(
            "skipped: per-interpreter GIL needs Python 3.12 or newer (scripts/test's matrix)"
        );
        return;
    }
    let theirs = own_gil_facts("vs61-gil-theirs", Some(&common::sites::mod_wsgi_61()));
    let ours = own_gil_facts("vs61-gil-ours", None);
    // The main interpreter is left out of the comparison: 6.1.1 runs a
    // %{GLOBAL} request in a sub-interpreter when its thread served one
    // first (see the test below), so its answer there depends on which
    // thread took the request.
    for ((g, a), (_, b)) in theirs.0.iter().zip(ours.0.iter()) {
        if g != "global" {
            assert_eq!(a, b, "/{g}: mod_wsgi 6.1.1 left, ours right");
        }
    }
    let global = &ours.0.iter().find(|f| f.0 == "global").unwrap().1;
    assert_eq!(
        global, r#"{"daemon_thread": "ok", "single_phase": "ok"}"#,
        "ours: the main interpreter keeps the shared GIL and its freedoms"
    );
    // For the record, not asserted: timing is not a test here.
    eprintln!(
        "two CPU-bound requests at once, Python 3.{minor}, first start to last end: own GILs {:.2} s (6.1.1) {:.2} s (ours); \
         shared GIL {:.2} s (6.1.1) {:.2} s (ours)",
        theirs.1, ours.1, theirs.2, ours.2
    );
}

const OPTIONS_APP: &str = r#"import json, os, sys
HERE = os.path.dirname(__file__)

def application(environ, start_response):
    extras = [os.path.basename(p) for p in sys.path if p.startswith(HERE)]
    body = {'extras': extras, 'switch_interval': sys.getswitchinterval()}
    start_response('200 OK', [('Content-Type', 'application/json')])
    return [json.dumps(body, sort_keys=True).encode()]
"#;

/// What each interpreter sees of `<WSGIInterpreterOptions>`' python path
/// and switch interval, under one module.
fn container_facts(tag: &str, module: Option<&str>) -> Vec<(String, String)> {
    let dir = common::temp_dir(tag);
    common::write_file(&dir, "app.wsgi", OPTIONS_APP);
    for x in ["extra-a", "extra-all", "extra-emb"] {
        std::fs::create_dir_all(dir.join(x)).unwrap();
    }
    let d = dir.display();
    let conf = format!(
        "{SOCKETS}\nWSGIDaemonProcess ip processes=1 threads=2\n\
         <WSGIInterpreterOptions process-group=ip application-group=a>\n\
         WSGIPythonPath {d}/extra-a\nWSGISwitchInterval 0.002\n</WSGIInterpreterOptions>\n\
         <WSGIInterpreterOptions process-group=ip>\nWSGIPythonPath {d}/extra-all\n</WSGIInterpreterOptions>\n\
         <WSGIInterpreterOptions application-group=emb>\nWSGIPythonPath {d}/extra-emb\n</WSGIInterpreterOptions>\n\
         WSGIScriptAlias /a {d}/app.wsgi process-group=ip application-group=a\n\
         WSGIScriptAlias /b {d}/app.wsgi process-group=ip application-group=b\n\
         WSGIScriptAlias /g {d}/app.wsgi process-group=ip application-group=%{{GLOBAL}}\n\
         WSGIScriptAlias /e {d}/app.wsgi application-group=emb\n\
         WSGIScriptAlias /f {d}/app.wsgi application-group=other\n"
    );
    let s = start_with(tag, &conf, module);
    let mut out = Vec::new();
    for p in ["/b", "/a", "/b", "/g", "/e", "/f"] {
        let r = s.get(p);
        assert_eq!(r.status, 200, "{tag} {p}\n{}", s.logs());
        out.push((p.to_string(), r.text()));
    }
    out
}

#[test]
fn interpreter_option_containers_apply_as_in_6_1_1() {
    let theirs = container_facts("vs61-opts-theirs", Some(&common::sites::mod_wsgi_61()));
    let ours = container_facts("vs61-opts-ours", None);
    for ((p, a), (_, b)) in theirs.iter().zip(ours.iter()) {
        // The main interpreter (/g): 6.1.1 runs it in the sub-interpreter
        // its thread served first, when there is one, and so adds that
        // group's directories in some runs (see
        // a_global_request_runs_in_the_main_interpreter_on_any_thread);
        // ours only the process-wide container's, as for /b.
        if p == "/g" {
            assert_eq!(b, &ours[0].1, "/g gets what /b gets");
            continue;
        }
        assert_eq!(a, b, "{p}: mod_wsgi 6.1.1 left, ours right");
    }
}

const RESTRICT_APP: &str = r#"import json, signal, sys

def outcome(f):
    try:
        r = f()
        return 'ok' if r is None or isinstance(r, (str, int)) else type(r).__name__
    except BaseException as e:
        return type(e).__name__

def application(environ, start_response):
    body = {
        'stdin': outcome(lambda: sys.stdin.read(1)),
        'stdout': outcome(lambda: print('restrict probe')),
        'signal': outcome(lambda: signal.signal(signal.SIGUSR2, lambda *a: None)),
    }
    start_response('200 OK', [('Content-Type', 'application/json')])
    return [json.dumps(body, sort_keys=True).encode()]
"#;

/// What each interpreter sees of the restrictions set in containers.
fn restrict_facts(tag: &str, module: Option<&str>) -> Vec<(String, String)> {
    let dir = common::temp_dir(tag);
    common::write_file(&dir, "app.wsgi", RESTRICT_APP);
    let d = dir.display();
    let conf = format!(
        "{SOCKETS}\nWSGIDaemonProcess ip processes=1 threads=2\n\
         <WSGIInterpreterOptions process-group=ip application-group=a>\n\
         WSGIRestrictStdin Off\nWSGIRestrictStdout On\nWSGIRestrictSignal Off\n</WSGIInterpreterOptions>\n\
         <WSGIInterpreterOptions application-group=emb>\nWSGIRestrictStdout On\n</WSGIInterpreterOptions>\n\
         WSGIScriptAlias /a {d}/app.wsgi process-group=ip application-group=a\n\
         WSGIScriptAlias /b {d}/app.wsgi process-group=ip application-group=b\n\
         WSGIScriptAlias /g {d}/app.wsgi process-group=ip application-group=%{{GLOBAL}}\n\
         WSGIScriptAlias /e {d}/app.wsgi application-group=emb\n\
         WSGIScriptAlias /f {d}/app.wsgi application-group=other\n"
    );
    let s = start_with(tag, &conf, module);
    let mut out = Vec::new();
    for p in ["/a", "/b", "/g", "/e", "/f"] {
        let r = s.get(p);
        assert_eq!(r.status, 200, "{tag} {p}\n{}", s.logs());
        out.push((p.to_string(), r.text()));
    }
    out
}

#[test]
fn restrictions_in_containers_apply_as_in_6_1_1() {
    let theirs = restrict_facts("vs61-restrict-theirs", Some(&common::sites::mod_wsgi_61()));
    let ours = restrict_facts("vs61-restrict-ours", None);
    for ((p, a), (_, b)) in theirs.iter().zip(ours.iter()) {
        // The main interpreter (/g): 6.1.1 runs it in the sub-interpreter
        // its thread served first, when there is one, and so applies that
        // group's container in some runs; ours keeps the server-wide
        // values, as for /b.
        if p == "/g" {
            assert_eq!(b, &ours[1].1, "/g keeps the server-wide values, as /b");
            continue;
        }
        assert_eq!(a, b, "{p}: mod_wsgi 6.1.1 left, ours right");
    }
}
