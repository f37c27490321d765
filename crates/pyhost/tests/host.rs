//! The WSGI adapter and the interpreter registry, run with Python embedded
//! in this test binary and no httpd: requests go through a recording
//! `RequestIo`. Python is started once, on the main thread, as in a real
//! process, so this binary has its own `main` (harness = false).

mod support;

use pyhost::host::level;
use pyhost::runtime;
use pyhost::wsgi_call::Outcome;
use support::*;

fn environ_follows_pep3333(s: &Scripts) {
    let app = s.write(
        "environ",
        r#"
import json
def application(environ, start_response):
    start_response('200 OK', [('Content-Type', 'application/json')])
    keep = {k: v for k, v in environ.items() if isinstance(v, (str, bool, tuple))}
    keep['input'] = type(environ['wsgi.input']).__name__
    keep['errors'] = hasattr(environ['wsgi.errors'], 'write')
    return [json.dumps(keep).encode()]
"#,
    );
    let (io, _) = RecordingIo::new(b"");
    let (outcome, rec) = request(
        &app,
        "env-group",
        io,
        &cgi("GET", "/a", &[("HTTP_X_ONE", "1")]),
    );
    assert_eq!(outcome, Outcome::Done);
    let body = text(&rec);
    for want in [
        r#""wsgi.version": [1, 0]"#,
        r#""wsgi.url_scheme": "http""#,
        r#""wsgi.multithread": true"#,
        r#""wsgi.run_once": false"#,
        r#""wsgi.input_terminated": true"#,
        r#""PATH_INFO": "/a""#,
        r#""HTTP_X_ONE": "1""#,
        r#""mod_wsgi.application_group": "env-group""#,
        r#""mod_wsgi.callable_object": "application""#,
        r#""input": "Input""#,
        r#""errors": true"#,
    ] {
        assert!(body.contains(want), "environ lacks {want}: {body}");
    }
    let r = rec.lock().unwrap();
    assert_eq!(r.status, Some(200));
    assert_eq!(
        r.headers,
        vec![("Content-Type".into(), "application/json".into())]
    );
    assert_eq!(r.finished, Some(false));
}

fn start_response_rules(s: &Scripts) {
    let app = s.write(
        "start",
        r#"
def application(environ, start_response):
    path = environ['PATH_INFO']
    if path == '/twice':
        start_response('200 OK', [])
        try:
            start_response('201 Created', [])
        except RuntimeError:
            start_response('202 Accepted', [], __import__('sys').exc_info())
        return [b'second wins']
    if path == '/nohead':
        return [b'no start_response']
    if path == '/badstatus':
        start_response('two hundred', [])
        return [b'x']
    if path == '/hop':
        start_response('200 OK', [('Connection', 'close')])
        return [b'x']
    if path == '/str':
        start_response('200 OK', [])
        return ['text, not bytes']
"#,
    );
    let run = |path: &str| {
        let (io, _) = RecordingIo::new(b"");
        request(&app, "", io, &cgi("GET", path, &[]))
    };
    let (outcome, rec) = run("/twice");
    assert_eq!(outcome, Outcome::Done);
    assert_eq!(rec.lock().unwrap().status, Some(202));
    assert_eq!(text(&rec), "second wins");
    // The host's own Python shows its source lines in tracebacks.
    let (_, rec) = run("/nohead");
    let logs: Vec<String> = rec
        .lock()
        .unwrap()
        .logs
        .iter()
        .map(|(_, m)| m.clone())
        .collect();
    let text = logs.join("\n");
    assert!(text.contains("_mod_wsgi_rs_adapter.py\", line"), "{text}");
    assert!(
        text.contains("raise RuntimeError('the application sent response data without calling start_response()')"),
        "{text}"
    );
    for path in ["/nohead", "/badstatus", "/hop", "/str"] {
        let (outcome, rec) = run(path);
        assert_eq!(
            outcome,
            Outcome::Failed {
                headers_sent: false
            },
            "{path}"
        );
        let r = rec.lock().unwrap();
        assert!(r.body.is_empty(), "{path}: nothing sent");
        assert!(
            r.logs
                .iter()
                .any(|(l, m)| *l == level::ERR && m.contains("exception while running")),
            "{path}: the failure is logged: {:?}",
            r.logs
        );
    }
}

fn input_is_read_every_way(s: &Scripts) {
    let app = s.write(
        "input",
        r#"
def application(environ, start_response):
    inp = environ['wsgi.input']
    how = environ['PATH_INFO']
    if how == '/all':
        parts = [inp.read()]
    elif how == '/sized':
        parts = []
        while True:
            b = inp.read(5)
            if not b:
                break
            parts.append(b)
    elif how == '/lines':
        parts = [inp.readline(), inp.readline(3), b'|'] + inp.readlines()
    else:
        parts = list(inp)
    start_response('200 OK', [])
    return [b'/'.join(parts)]
"#,
    );
    let body = b"one\ntwo\nthree\nfour";
    for (how, want) in [
        ("/all", "one\ntwo\nthree\nfour"),
        ("/sized", "one\nt/wo\nth/ree\nf/our"),
        // readline(3) stops inside "two\n"; readlines() takes the rest.
        ("/lines", "one\n/two/|/\n/three\n/four"),
        ("/iter", "one\n/two\n/three\n/four"),
    ] {
        let (io, _) = RecordingIo::new(body);
        let (outcome, rec) = request(&app, "", io, &cgi("POST", how, &[]));
        assert_eq!(outcome, Outcome::Done, "{how}");
        assert_eq!(text(&rec), want, "{how}");
    }
}

fn write_callable_and_content_length(s: &Scripts) {
    let app = s.write(
        "write",
        r#"
def application(environ, start_response):
    write = start_response('200 OK', [('Content-Length', environ['PATH_INFO'][1:])])
    write(b'abc')
    return [b'def', b'ghij']
"#,
    );
    // Exactly as declared: every piece, in order.
    let (io, _) = RecordingIo::new(b"");
    let (outcome, rec) = request(&app, "", io, &cgi("GET", "/10", &[]));
    assert_eq!(outcome, Outcome::Done);
    assert_eq!(text(&rec), "abcdefghij");
    assert_eq!(rec.lock().unwrap().finished, Some(false));
    // More than declared: cut at the Content-Length, with a warning.
    let (io, _) = RecordingIo::new(b"");
    let (_, rec) = request(&app, "", io, &cgi("GET", "/5", &[]));
    assert_eq!(text(&rec), "abcde");
    assert!(rec
        .lock()
        .unwrap()
        .logs
        .iter()
        .any(|(l, m)| *l == level::WARNING && m.contains("truncated")));
    // Less than declared: the end is marked short (the connection closes).
    let (io, _) = RecordingIo::new(b"");
    let (_, rec) = request(&app, "", io, &cgi("GET", "/20", &[]));
    assert_eq!(text(&rec), "abcdefghij");
    assert_eq!(rec.lock().unwrap().finished, Some(true));
}

fn one_call_at_a_time_and_head_answers_are_whole(s: &Scripts) {
    // A call made while another on the same request is in progress (here
    // from inside a read, which is asking for its size) is a RuntimeError,
    // never a second use of the request's state.
    let app = s.write(
        "reentry",
        r#"
def application(environ, start_response):
    if environ['REQUEST_METHOD'] == 'HEAD':
        # Werkzeug's way: the GET's Content-Length, no body.
        start_response('200 OK', [('Content-Length', '11')])
        return []
    seen = []
    class Size:
        # read(Size()): the native read takes the request, then asks for
        # the size, which reads the same request again.
        def __lt__(self, other):
            return False
        def __index__(self):
            try:
                environ['wsgi.input'].read(1)
                seen.append('read')
            except RuntimeError as e:
                seen.append(str(e))
            return 1
    environ['wsgi.input'].read(Size())
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [seen[0].encode()]
"#,
    );
    let (io, _) = RecordingIo::new(b"x");
    let (outcome, rec) = request(&app, "", io, &cgi("GET", "/", &[]));
    assert_eq!(outcome, Outcome::Done);
    assert!(
        text(&rec).contains("in use by another thread"),
        "{}",
        text(&rec)
    );
    let (io, _) = RecordingIo::new(b"");
    let (outcome, rec) = request(&app, "", io, &cgi("HEAD", "/", &[]));
    assert_eq!(outcome, Outcome::Done);
    let r = rec.lock().unwrap();
    assert_eq!(r.finished, Some(false), "a HEAD answer is not short");
    assert!(
        r.logs.iter().all(|(l, _)| *l != level::WARNING),
        "{:?}",
        r.logs
    );
}

fn file_wrapper_hands_files_over(s: &Scripts) {
    let data = s.path("data.bin");
    std::fs::write(&data, b"0123456789").unwrap();
    let app = s.write(
        "files",
        &format!(
            r#"
import io
def application(environ, start_response):
    start_response('200 OK', [])
    if environ['PATH_INFO'] == '/file':
        f = open({data:?}, 'rb')
        f.seek(3)
        return environ['wsgi.file_wrapper'](f)
    return environ['wsgi.file_wrapper'](io.BytesIO(b'not a file'), 4)
"#,
            data = data.to_string_lossy()
        ),
    );
    let (io, _) = RecordingIo::new(b"");
    let (outcome, rec) = request(&app, "", io, &cgi("GET", "/file", &[]));
    assert_eq!(outcome, Outcome::Done);
    assert_eq!(text(&rec), "3456789");
    assert_eq!(
        rec.lock().unwrap().files,
        vec![(3, 7)],
        "a regular file goes as a file"
    );
    let (io, _) = RecordingIo::new(b"");
    let (_, rec) = request(&app, "", io, &cgi("GET", "/bytesio", &[]));
    assert_eq!(text(&rec), "not a file");
    let r = rec.lock().unwrap();
    assert!(r.files.is_empty());
    assert!(
        r.writes >= 3,
        "iterated in blocks of 4: {} writes",
        r.writes
    );
}

fn close_is_always_called(s: &Scripts) {
    let marker = s.path("closed");
    let app = s.write(
        "close",
        &format!(
            r#"
class Body:
    def __init__(self, fail):
        self.fail = fail
    def __iter__(self):
        yield b'first'
        if self.fail:
            raise ValueError('mid-body')
        yield b'second'
    def close(self):
        with open({marker:?}, 'a') as f:
            f.write('closed\n')
def application(environ, start_response):
    start_response('200 OK', [])
    return Body(environ['PATH_INFO'] == '/fail')
"#,
            marker = marker.to_string_lossy()
        ),
    );
    let closes = || {
        std::fs::read_to_string(&marker)
            .unwrap_or_default()
            .lines()
            .count()
    };
    let (io, _) = RecordingIo::new(b"");
    assert_eq!(
        request(&app, "", io, &cgi("GET", "/", &[])).0,
        Outcome::Done
    );
    assert_eq!(closes(), 1, "after a whole response");
    let (io, _) = RecordingIo::new(b"");
    let (outcome, _) = request(&app, "", io, &cgi("GET", "/fail", &[]));
    assert_eq!(outcome, Outcome::Failed { headers_sent: true });
    assert_eq!(closes(), 2, "after the application raised");
    let (mut io, _) = RecordingIo::new(b"");
    io.fail_after = Some(0);
    let (outcome, _) = request(&app, "", io, &cgi("GET", "/", &[]));
    assert_eq!(outcome, Outcome::ClientGone);
    assert_eq!(closes(), 3, "after the client left");
}

fn application_groups_get_their_own_interpreters(s: &Scripts) {
    let app = s.write(
        "groups",
        r#"
import sys, threading, mod_wsgi
counter = getattr(sys, '_test_counter', 0) + 1
sys._test_counter = counter
local = threading.local()
def application(environ, start_response):
    local.n = getattr(local, 'n', 0) + 1
    start_response('200 OK', [])
    body = '%s %d %d %d' % (mod_wsgi.application_group, id(sys), threading.get_ident(), local.n)
    return [body.encode()]
"#,
    );
    let ask = |group: &str| {
        let (io, _) = RecordingIo::new(b"");
        let (outcome, rec) = request(&app, group, io, &cgi("GET", "/", &[]));
        assert_eq!(outcome, Outcome::Done);
        let t = text(&rec);
        let f: Vec<String> = t.split(' ').map(String::from).collect();
        assert_eq!(f.len(), 4, "{t}");
        f
    };
    let global = ask("");
    let one = ask("one");
    let two = ask("two");
    assert_eq!(
        global[0], "",
        "%{{GLOBAL}} is the main interpreter, named ''"
    );
    assert_eq!(one[0], "one");
    assert_ne!(one[1], two[1], "each group has its own sys module");
    assert_ne!(global[1], one[1]);
    // The same thread keeps its thread state in an interpreter: its
    // threading.local survives from one request to the next.
    assert_eq!(ask("one")[3], "2");
    // Another OS thread gets its own thread state (and thread-locals).
    let other = on_thread(move || ask_from_thread(&app));
    assert_eq!(other[3], "1");
    assert_ne!(other[2], one[2]);
    let names = runtime::interpreter_names();
    for g in ["", "one", "two"] {
        assert!(names.iter().any(|n| n == g), "{g} registered: {names:?}");
    }
}

/// How long a test thread may take before the test fails instead of hanging.
const THREAD_DEADLINE: std::time::Duration = std::time::Duration::from_secs(60);

/// Runs `f` on a new thread; its result arrives on the returned channel.
fn spawn_with_result<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> std::sync::mpsc::Receiver<T> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx
}

/// `f`'s result from another thread, within THREAD_DEADLINE.
fn on_thread<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    spawn_with_result(f)
        .recv_timeout(THREAD_DEADLINE)
        .expect("the thread finished in time")
}

fn ask_from_thread(app: &str) -> Vec<String> {
    let (io, _) = RecordingIo::new(b"");
    let (_, rec) = request(app, "one", io, &cgi("GET", "/", &[]));
    text(&rec).split(' ').map(String::from).collect()
}

fn threads_run_one_interpreter_at_once(s: &Scripts) {
    let app = s.write(
        "parallel",
        r#"
import time
def application(environ, start_response):
    time.sleep(0.05)
    start_response('200 OK', [])
    return [environ['PATH_INFO'].encode()]
"#,
    );
    let handles: Vec<_> = (0..4)
        .map(|i| {
            let app = app.clone();
            spawn_with_result(move || {
                (0..5)
                    .map(|j| {
                        let (io, _) = RecordingIo::new(b"");
                        let path = format!("/{i}-{j}");
                        let (_, rec) = request(&app, "par", io, &cgi("GET", &path, &[]));
                        text(&rec) == path
                    })
                    .all(|ok| ok)
            })
        })
        .collect();
    for rx in handles {
        let ok = rx
            .recv_timeout(THREAD_DEADLINE)
            .expect("the thread finished in time");
        assert!(ok, "each thread got its own responses");
    }
}

fn request_events_carry_named_stats(s: &Scripts) {
    let app = s.write(
        "events",
        r#"
import mod_wsgi
seen = []
@mod_wsgi.subscribe_events
def note(name, **details):
    if name == 'request_finished':
        seen.append(details)
def application(environ, start_response):
    if environ['PATH_INFO'] == '/report':
        d = seen[-1]
        start_response('200 OK', [])
        keys = 'status output_length output_writes input_length input_reads gil_wait_count'
        return [' '.join('%s=%s' % (k, d[k]) for k in keys.split()).encode()]
    environ['wsgi.input'].read()
    start_response('201 Created', [('Content-Length', '5')])
    return [b'hello']
"#,
    );
    let (io, _) = RecordingIo::new(b"0123456789");
    let (outcome, _) = request(&app, "events", io, &cgi("POST", "/", &[]));
    assert_eq!(outcome, Outcome::Done);
    let (io, _) = RecordingIo::new(b"");
    let (_, rec) = request(&app, "events", io, &cgi("GET", "/report", &[]));
    let report = text(&rec);
    for want in [
        "status=201",
        "output_length=5",
        "input_length=10",
        "output_writes=1",
    ] {
        assert!(report.contains(want), "{want} in {report}");
    }
    assert!(report.contains("input_reads="), "{report}");
}

fn main() {
    start_python();
    let scripts = Scripts::new("host");
    let tests: &[(&str, fn(&Scripts))] = &[
        ("environ_follows_pep3333", environ_follows_pep3333),
        ("start_response_rules", start_response_rules),
        ("input_is_read_every_way", input_is_read_every_way),
        (
            "write_callable_and_content_length",
            write_callable_and_content_length,
        ),
        (
            "file_wrapper_hands_files_over",
            file_wrapper_hands_files_over,
        ),
        (
            "one_call_at_a_time_and_head_answers_are_whole",
            one_call_at_a_time_and_head_answers_are_whole,
        ),
        ("close_is_always_called", close_is_always_called),
        (
            "application_groups_get_their_own_interpreters",
            application_groups_get_their_own_interpreters,
        ),
        (
            "threads_run_one_interpreter_at_once",
            threads_run_one_interpreter_at_once,
        ),
        (
            "request_events_carry_named_stats",
            request_events_carry_named_stats,
        ),
    ];
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let mut failed = Vec::new();
    for (name, test) in tests {
        if !filter.is_empty() && !filter.iter().any(|f| name.contains(f.as_str())) {
            continue;
        }
        match std::panic::catch_unwind(|| test(&scripts)) {
            Ok(()) => println!("test {name} ... ok"),
            Err(_) => {
                println!("test {name} ... FAILED");
                failed.push(*name);
            }
        }
    }
    drop(scripts);
    if !failed.is_empty() {
        println!("failed: {}", failed.join(", "));
        std::process::exit(1);
    }
    println!("test result: ok");
}
