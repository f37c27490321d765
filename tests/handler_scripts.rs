//! `WSGIHandlerScript name path [options]`: a script that serves every
//! request whose Apache handler is `name` (SetHandler, AddHandler, a
//! RewriteRule's [H=name]), through its `handle_request`, in embedded mode
//! or in the daemon group its `process-group=` names.

mod common;

use common::sites::json_of;
use common::{probe_dir, write_file, Server};

fn handler_site(tag: &str, options: &str) -> (Server, std::path::PathBuf) {
    let dir = probe_dir(tag);
    let d = dir.display();
    write_file(&dir, "handler.wsgi", include_str!("apps/handler.wsgi"));
    write_file(&dir, "files/page.myext", "not python\n");
    let conf = format!(
        "WSGIDaemonProcess site processes=1 threads=2 display-name=%{{GROUP}}\n\
         WSGIScriptAlias /probe {d}/probe.wsgi\n\
         WSGIHandlerScript my-handler {d}/handler.wsgi {options}\n\
         <Location /h>\n  SetHandler my-handler\n</Location>\n\
         Alias /files {d}/files\n\
         <Directory {d}/files>\n  AddHandler my-handler .myext\n  Require all granted\n</Directory>\n"
    );
    (Server::start(tag, &conf), dir)
}

#[test]
fn set_handler_runs_handle_request_in_embedded_mode() {
    let (s, dir) = handler_site("hs-embedded", "");
    let r = s.get("/h/some/path");
    assert_eq!(r.status, 200, "{}", s.logs());
    let v = json_of(&r);
    assert_eq!(v.get("callable").str(), "handle_request");
    assert_eq!(v.get("process_group").str(), "");
    assert_eq!(v.get("request_handler").str(), "my-handler");
    assert_eq!(
        v.get("handler_script").str(),
        dir.join("handler.wsgi").to_str().unwrap()
    );
    let daemons = common::children_named(s.pid(), "(wsgi:site)");
    assert!(
        !daemons.contains(&(v.get("pid").num() as u32)),
        "ran in an Apache child"
    );
}

#[test]
fn add_handler_maps_files_to_the_handler_script() {
    let (s, dir) = handler_site("hs-addhandler", "");
    let r = s.get("/files/page.myext/extra");
    assert_eq!(r.status, 200, "{}", s.logs());
    let v = json_of(&r);
    assert_eq!(v.get("callable").str(), "handle_request");
    assert_eq!(
        v.get("script_filename").str(),
        dir.join("files/page.myext").to_str().unwrap()
    );
    assert_eq!(v.get("path_info").str(), "/extra");
    // Other files are Apache's.
    write_file(&dir, "files/plain.txt", "plain\n");
    assert_eq!(s.get("/files/plain.txt").text(), "plain\n");
}

#[test]
fn process_group_sends_the_handler_to_its_daemon() {
    let (s, _) = handler_site(
        "hs-daemon",
        "process-group=site application-group=%{GLOBAL}",
    );
    let r = s.get("/h/x");
    assert_eq!(r.status, 200, "{}", s.logs());
    let v = json_of(&r);
    assert_eq!(v.get("process_group").str(), "site", "{}", s.logs());
    assert_eq!(v.get("application_group").str(), "");
    let daemons = common::children_named(s.pid(), "(wsgi:site)");
    assert!(
        daemons.contains(&(v.get("pid").num() as u32)),
        "{daemons:?}"
    );
    let embedded = json_of(&s.get("/probe/module"));
    assert_ne!(
        embedded.get("pid").num(),
        v.get("pid").num(),
        "ran in the daemon"
    );
}

#[test]
fn bad_handler_script_lines_are_refused() {
    for (conf, needle) in [
        (
            "WSGIHandlerScript only-a-name",
            "expected a handler name and a script path",
        ),
        ("WSGIHandlerScript h relative.wsgi", "must be absolute"),
        ("WSGIHandlerScript h /a.wsgi colour=red", "unknown option"),
        (
            "WSGIHandlerScript h /a.wsgi process-group=nowhere",
            "not defined by any WSGIDaemonProcess",
        ),
    ] {
        let (ok, out, _) = common::configtest(conf);
        assert!(!ok && out.contains(needle), "{conf}:\n{out}");
    }
}

const RELOAD_REQUIRED_APP: &str = r#"import os
MARK = os.path.join(os.path.dirname(__file__), 'reload-now')

def reload_required(path):
    # mod_wsgi's hook: True loads the script anew before this request.
    return os.path.exists(MARK)

def application(environ, start_response):
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [str(id(reload_required)).encode()]
"#;

/// mod_wsgi's `reload_required(path)` in a script: consulted on every
/// request (script reloading on), and a True loads the script again; in
/// embedded and daemon mode.
#[test]
fn a_scripts_reload_required_hook_loads_it_again() {
    let dir = probe_dir("reload-required");
    write_file(&dir, "r.wsgi", RELOAD_REQUIRED_APP);
    let d = dir.display();
    let conf = format!(
        "WSGIDaemonProcess rr processes=1 threads=2\n\
         WSGIScriptAlias /e {d}/r.wsgi\n\
         WSGIScriptAlias /d {d}/r.wsgi process-group=rr\n"
    );
    let s = Server::start("reload-required", &conf);
    for mode in ["/e", "/d"] {
        // Two requests in a row, served by the same module: its answer.
        let twice = |why: &str| {
            let first = s.get(mode).text();
            assert_eq!(s.get(mode).text(), first, "{mode}: {why}\n{}", s.logs());
            first
        };
        let first = twice("loaded again without reason");
        write_file(&dir, "reload-now", "");
        let again = s.get(mode).text();
        assert_ne!(
            again,
            first,
            "{mode}: reload_required() said True, yet the same module served\n{}",
            s.logs()
        );
        std::fs::remove_file(dir.join("reload-now")).unwrap();
        twice("loaded again after the hook said False");
    }
}
