//! The host on a free-threaded CPython with the GIL disabled, without
//! httpd: eight threads send requests at once into the main interpreter
//! and two sub-interpreters (created by whichever request comes first),
//! every answer is whole and right, the application sees no GIL, and the
//! teardown then destroys every interpreter. On a Python with the GIL it
//! says it is skipped. Teardown ends Python, so it has a process of its own.

mod support;

use pyhost::runtime::{linked_python, PythonSettings};
use pyhost::teardown::{destroy_all, Outcome};
use std::time::{Duration, Instant};
use support::*;

const APP: &str = r#"
import sys, threading, mod_wsgi
counts = {}
lock = threading.Lock()
def application(environ, start_response):
    n = int(environ['QUERY_STRING'])
    with lock:
        counts[n] = counts.get(n, 0) + 1
    total = sum(i for i in range(n))
    start_response('200 OK', [('X-N', str(n))])
    return [('%s %s %d %s' % (mod_wsgi.application_group or 'main', sys._is_gil_enabled(),
             total, environ['PATH_INFO'])).encode()]
"#;

fn main() {
    if !linked_python().free_threaded {
        println!("skipped: built against a Python with the GIL (scripts/test runs this on /opt/python/3.13t)");
        return;
    }
    start_python_with(PythonSettings {
        free_threading: true,
        ..Default::default()
    });
    assert!(pyhost::gil_mode::gil_disabled());
    let s = Scripts::new("free-threaded");
    let app = s.write("app", APP);
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let app = app.clone();
            std::thread::spawn(move || {
                for i in 0..150usize {
                    let group = ["", "one", "two"][(t + i) % 3];
                    let n = 1000 + t * 1000 + i;
                    let path = format!("/t{t}/{i}");
                    let env = cgi("GET", &path, &[("QUERY_STRING", &n.to_string())]);
                    let (io, _) = RecordingIo::new(b"");
                    let (outcome, rec) = request(&app, group, io, &env);
                    assert_eq!(outcome, pyhost::wsgi_call::Outcome::Done);
                    let want = format!(
                        "{} False {} {path}",
                        if group.is_empty() { "main" } else { group },
                        n * (n - 1) / 2
                    );
                    assert_eq!(text(&rec), want);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("a request thread failed");
    }
    let deadline = Instant::now() + Duration::from_secs(3);
    let report = destroy_all(&|| deadline.saturating_duration_since(Instant::now()));
    for (name, outcome) in &report {
        match outcome {
            Outcome::Destroyed => {}
            Outcome::Kept(why) => panic!("interpreter '{name}' kept: {why}"),
        }
    }
    assert_eq!(report.len(), 3, "main, one and two");
    println!("free_threaded: 1200 requests from 8 threads into 3 interpreters without the GIL; all torn down");
}
