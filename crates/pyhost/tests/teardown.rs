//! Teardown with Python embedded and no httpd: a clean sub-interpreter is
//! destroyed (its atexit runs), one with a thread still running is kept
//! (its atexit runs too), and the main interpreter is kept because of it.
//! Teardown ends Python for good, so it has a process of its own.

mod support;

use pyhost::teardown::{destroy_all, Outcome};
use std::time::{Duration, Instant};
use support::*;

fn main() {
    start_python();
    let s = Scripts::new("teardown");
    let marker = s.path("atexit");
    let app = s.write(
        "teardown",
        &format!(
            r#"
import atexit, threading, mod_wsgi
def note():
    with open({marker:?}, 'a') as f:
        f.write(mod_wsgi.application_group + '\n')
atexit.register(note)
if mod_wsgi.application_group == 'stuck':
    # A daemon thread: Py_EndInterpreter cannot run while it exists.
    threading.Thread(target=threading.Event().wait, name='stuck-worker', daemon=True).start()
def application(environ, start_response):
    start_response('200 OK', [])
    return [b'ok']
"#,
            marker = marker.to_string_lossy()
        ),
    );
    for group in ["clean", "stuck"] {
        let (io, _) = RecordingIo::new(b"");
        let (outcome, rec) = request(&app, group, io, &cgi("GET", "/", &[]));
        assert_eq!(outcome, pyhost::wsgi_call::Outcome::Done, "{group}");
        assert_eq!(text(&rec), "ok");
    }
    let deadline = Instant::now() + Duration::from_secs(3);
    let started = Instant::now();
    let report = destroy_all(&|| deadline.saturating_duration_since(Instant::now()));
    let took = started.elapsed();
    let outcome_of = |name: &str| {
        report
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, o)| match o {
                Outcome::Destroyed => "destroyed".to_string(),
                Outcome::Kept(why) => format!("kept: {why}"),
            })
            .unwrap_or_else(|| panic!("{name} in the report"))
    };
    let clean = outcome_of("clean");
    let stuck = outcome_of("stuck");
    let main = outcome_of("");
    println!("clean: {clean}\nstuck: {stuck}\nmain: {main}\ntook {took:?}");
    assert_eq!(clean, "destroyed");
    assert!(
        stuck.starts_with("kept") && stuck.contains("stuck-worker"),
        "{stuck}"
    );
    assert!(
        main.starts_with("kept") && main.contains("sub-interpreter"),
        "{main}"
    );
    let ran: Vec<String> = std::fs::read_to_string(&marker)
        .unwrap_or_default()
        .lines()
        .map(String::from)
        .collect();
    assert!(
        ran.contains(&"clean".to_string()),
        "atexit ran when destroyed: {ran:?}"
    );
    assert!(
        ran.contains(&"stuck".to_string()),
        "atexit ran when kept: {ran:?}"
    );
    assert!(
        took < Duration::from_secs(3),
        "bounded by the deadline: {took:?}"
    );
    // Nothing enters Python after teardown: a request is refused, not run.
    let (io, _) = RecordingIo::new(b"");
    let refused = pyhost::wsgi_call::run_app(io, &target(&app, "clean"), &cgi("GET", "/", &[]));
    assert!(refused.is_err(), "Python is closed after teardown");
    println!("test result: ok");
}
