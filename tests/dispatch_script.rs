//! WSGIDispatchScript: process_group(), application_group() and
//! callable_object() choose per request, in both modes; a failing or
//! invalid answer is a 500 with the reason in the log.

mod common;

use common::sites::json_of;
use common::{probe_dir, write_file, Server};

fn site(tag: &str) -> Server {
    let dir = probe_dir(tag);
    let d = dir.display();
    write_file(&dir, "dispatch.py", include_str!("apps/dispatch.py"));
    let conf = format!(
        "WSGIDaemonProcess a processes=1 threads=2\nWSGIDaemonProcess b processes=1 threads=2\n\
         WSGIScriptAlias /app {d}/probe.wsgi\n\
         <Location /app>\n  WSGIProcessGroup a\n  WSGIDispatchScript {d}/dispatch.py\n</Location>\n"
    );
    Server::start(tag, &conf)
}

#[test]
fn the_dispatch_script_chooses_group_interpreter_and_callable() {
    let s = site("dispatch");
    let module = |q: &str| json_of(&s.get(&format!("/app/module?{q}")));
    assert_eq!(module("").get("process_group").str(), "a", "{}", s.logs());
    assert_eq!(module("to-b").get("process_group").str(), "b");
    assert_eq!(module("embedded").get("process_group").str(), "");
    assert_eq!(
        module("app-group").get("application_group").str(),
        "chosen-group"
    );
    let r = json_of(&s.get("/app/module?to-b,callable"));
    assert_eq!(r.get("callable").str(), "other_app");
    assert_eq!(r.get("process_group").str(), "b");
}

#[test]
fn bad_dispatch_answers_are_errors() {
    let s = site("dispatch-bad");
    assert_eq!(s.get("/app/module?wrongtype").status, 500);
    assert!(
        s.error_log().contains("must return a str or None, not 42"),
        "{}",
        s.logs()
    );
    assert_eq!(s.get("/app/module?nowhere").status, 500);
    assert!(
        s.error_log()
            .contains("no WSGI daemon process group called 'no-such-group'"),
        "{}",
        s.logs()
    );
    assert_eq!(s.get("/app/module?bad-callable").status, 500);
    assert!(s.error_log().contains("callable_object()"), "{}", s.logs());
    assert_eq!(s.get("/app/module").status, 200, "still serving");
}
