//! `WSGIPerInterpreterGIL` on Python 3.12+ (run by scripts/test's matrix on
//! 3.12 and 3.13; on an older Python the directive fails configtest, which
//! tests/directives_6x.rs checks): sub-interpreters chosen by
//! `<WSGIInterpreterOptions>` get their own GIL and the isolation it needs
//! (a single-phase C extension refuses to load there, with Python's own
//! message in the log), the others and the main interpreter share the GIL,
//! requests run in parallel in two own-GIL interpreters, and each own-GIL
//! interpreter hears `process_stopping` and runs its atexit at shutdown.

mod common;

use common::sites::json_of;
use common::{temp_dir, wait_until, write_file, Server};
use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

const APP: &str = r#"import atexit, json, os, sys, threading, time
import mod_wsgi

MARKERS = os.path.join(os.path.dirname(__file__), 'markers')
GROUP = mod_wsgi.application_group or 'GLOBAL'

def mark(kind, text):
    with open(os.path.join(MARKERS, '%s-%s' % (kind, GROUP)), 'a') as f:
        f.write(text + '\n')

@mod_wsgi.subscribe_shutdown
def on_stop(event, **details):
    mark('stopping', details.get('shutdown_reason', ''))

atexit.register(lambda: mark('atexit', 'ran'))

def try_(f):
    try:
        f()
        return 'ok'
    except BaseException as e:
        return '%s: %s' % (type(e).__name__, e)

def application(environ, start_response):
    if environ['PATH_INFO'] == '/hold-gil':
        # Busy in C without releasing this interpreter's GIL (ctypes, the
        # usual way, is a single-phase extension: it cannot load here).
        import re
        re.match(r'(x+x+)+y', 'x' * 64)
    if environ['PATH_INFO'] == '/spin':
        t0, cpu0 = time.time(), time.thread_time()
        n = 0
        while time.time() - t0 < 1.0:
            n += 1
        body = {'loops': n, 'cpu': time.thread_time() - cpu0, 'start': t0, 'end': time.time()}
    else:
        body = {
            'group': mod_wsgi.application_group,
            'python': '%d.%d' % sys.version_info[:2],
            'single_phase': try_(lambda: __import__('_testsinglephase')),
            'daemon_thread': try_(lambda: threading.Thread(target=lambda: None, daemon=True).start()),
        }
    start_response('200 OK', [('Content-Type', 'application/json')])
    return [json.dumps(body).encode()]
"#;

fn python_minor() -> u32 {
    let py = std::env::var("PYO3_PYTHON").unwrap_or_else(|_| "/usr/bin/python3".into());
    let out = std::process::Command::new(py)
        .args(["-c", "import sys; print(sys.version_info[1])"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

/// One daemon: own GIL for its sub-interpreters but `shared` and
/// `shared2`; the same app in embedded mode (server-wide Off).
fn config(dir: &std::path::Path) -> String {
    let d = dir.display();
    let mut conf = String::from(
        "WSGIDaemonProcess gil processes=1 threads=4\n\
         <WSGIInterpreterOptions process-group=gil>\nWSGIPerInterpreterGIL On\n</WSGIInterpreterOptions>\n",
    );
    for shared in ["shared", "shared2"] {
        conf += &format!(
            "<WSGIInterpreterOptions process-group=gil application-group={shared}>\n\
             WSGIPerInterpreterGIL Off\n</WSGIInterpreterOptions>\n"
        );
    }
    for group in ["one", "two", "shared", "shared2"] {
        conf += &format!(
            "WSGIScriptAlias /{group} {d}/app.wsgi process-group=gil application-group={group}\n"
        );
    }
    conf + &format!(
        "WSGIScriptAlias /global {d}/app.wsgi process-group=gil application-group=%{{GLOBAL}}\n\
         WSGIScriptAlias /embedded {d}/app.wsgi application-group=emb\n"
    )
}

#[test]
fn chosen_sub_interpreters_get_their_own_gil() {
    if python_minor() < 12 {
        eprintln!("skipped: per-interpreter GIL needs Python 3.12 or newer");
        return;
    }
    let dir = temp_dir("own-gil-app");
    write_file(&dir, "app.wsgi", APP);
    let markers = dir.join("markers");
    std::fs::create_dir_all(&markers).unwrap();
    std::fs::set_permissions(&markers, std::fs::Permissions::from_mode(0o777)).unwrap();
    let mut s = Server::start("own-gil", &config(&dir));
    for own in ["/one", "/two"] {
        let v = json_of(&s.get(&format!("{own}/")));
        let single = v.get("single_phase").str();
        assert!(
            single.starts_with("ImportError") && single.contains("subinterpreter"),
            "{own}: {single}\n{}",
            s.logs()
        );
        assert!(
            v.get("daemon_thread").str().starts_with("RuntimeError"),
            "{v:?}"
        );
    }
    // On a free-threaded build CPython lets no sub-interpreter load a
    // single-phase extension, GIL or not (its legacy config checks them).
    let ft = common::sites::free_threaded_build();
    for shared in ["/shared", "/shared2", "/global", "/embedded"] {
        let v = json_of(&s.get(&format!("{shared}/")));
        let sub = shared != "/global";
        let single = v.get("single_phase").str();
        if ft && sub {
            assert!(
                single.contains("does not support loading in subinterpreters"),
                "{shared}: {v:?}"
            );
        } else {
            assert_eq!(single, "ok", "{shared}: {v:?}");
        }
        assert_eq!(v.get("daemon_thread").str(), "ok", "{shared}: {v:?}");
    }
    let log = s.error_log();
    for (name, own) in [
        ("one", true),
        ("two", true),
        ("shared", false),
        ("emb", false),
    ] {
        let line = format!("interpreter '{name}' created with its own GIL");
        assert_eq!(log.contains(&line), own, "{name}\n{log}");
    }
    // Two interpreters spin for a second at once, each on its own request
    // thread: with their own GILs both run. Sharing one, the second waits
    // for the first to end (CPython's switch request is per interpreter, so
    // a spinning one never hears a waiter from another). Printed for the
    // record, not asserted: timing is not a test here.
    let own = spin_together(&s, ["/one/spin", "/two/spin"]);
    let shared = spin_together(&s, ["/shared/spin", "/shared2/spin"]);
    eprintln!(
        "two 1 s spins at once: own GILs {own:.2} s, shared GIL {shared:.2} s from first start to last end"
    );
    s.stop();
    for g in ["one", "two"] {
        let stopping = dir.join("markers").join(format!("stopping-{g}"));
        let atexit = dir.join("markers").join(format!("atexit-{g}"));
        assert!(
            wait_until(Duration::from_secs(5), || stopping.exists()
                && atexit.exists()),
            "{g}: no process_stopping or atexit marker\n{}",
            s.logs()
        );
    }
}

/// How long two one-second spins sent at the same time took, from the
/// first one's start to the last one's end.
fn spin_together(s: &Server, paths: [&'static str; 2]) -> f64 {
    let port = s.port;
    let spins: Vec<_> = paths
        .into_iter()
        .map(|p| {
            std::thread::spawn(move || {
                common::http::send(
                    port,
                    format!("GET {p} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
                )
            })
        })
        .collect();
    let times: Vec<(f64, f64)> = spins
        .into_iter()
        .map(|t| {
            let r = t.join().unwrap().unwrap();
            assert_eq!(r.status, 200);
            let v = json_of(&r);
            (v.get("start").num(), v.get("end").num())
        })
        .collect();
    let first = times.iter().map(|t| t.0).fold(f64::MAX, f64::min);
    let last = times.iter().map(|t| t.1).fold(0.0, f64::max);
    last - first
}

#[test]
fn deadlock_timeout_sees_a_stuck_own_gil() {
    if python_minor() < 12 {
        eprintln!("skipped: per-interpreter GIL needs Python 3.12 or newer");
        return;
    }
    let dir = temp_dir("own-gil-stuck-app");
    write_file(&dir, "app.wsgi", APP);
    let markers = dir.join("markers");
    std::fs::create_dir_all(&markers).unwrap();
    std::fs::set_permissions(&markers, std::fs::Permissions::from_mode(0o777)).unwrap();
    let d = dir.display();
    let s = Server::start(
        "own-gil-stuck",
        &format!(
            "WSGIDaemonProcess gil processes=1 threads=2 deadlock-timeout=2 shutdown-timeout=2\n\
             WSGIPerInterpreterGIL On\n\
             WSGIScriptAlias /stuck {d}/app.wsgi process-group=gil application-group=stuck\n"
        ),
    );
    assert_eq!(s.get("/stuck/").status, 200, "{}", s.logs());
    // The main interpreter's GIL stays free: only the stuck one's is held.
    let r = s.get("/stuck/hold-gil");
    assert_eq!(r.status, 502, "{}", s.logs());
    assert!(
        s.wait_for_log("reason=deadlock_timeout", Duration::from_secs(5)),
        "{}",
        s.logs()
    );
}
