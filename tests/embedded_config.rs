//! Embedded mode's configuration against a real httpd: aliases and
//! handlers, restrictions, Python paths and homes, import scripts, the
//! shipped embedded configuration.

mod common;

use common::{http, write_file, Server};
use std::fs;
use std::time::Duration;

use common::{probe_dir, probe_server};

fn json(r: &http::Response) -> Value {
    common::json::parse_response(r)
}

use common::json::Value;

#[test]
fn aliases_static_files_regex_and_addhandler() {
    let dir = probe_dir("aliases");
    write_file(&dir, "static/style.css", "body{}");
    write_file(
        &dir,
        "handlers/h.wsgi",
        "def application(e, sr):\n    sr('200 OK', [])\n    return [e['SCRIPT_NAME'].encode()]\n",
    );
    write_file(
        &dir,
        "noexec/h.wsgi",
        "def application(e, sr):\n    sr('200 OK', [])\n    return [b'should not run']\n",
    );
    write_file(&dir, "match/one.wsgi", "def application(e, sr):\n    sr('200 OK', [])\n    return [('one ' + e['PATH_INFO']).encode()]\n");
    let d = dir.display();
    let s = Server::start(
        "aliases",
        &format!(
            "Alias /static/ {d}/static/\n\
             WSGIScriptAliasMatch ^/m/([^/]+) {d}/match/$1.wsgi\n\
             Alias /h/ {d}/handlers/\n\
             Alias /n/ {d}/noexec/\n\
             <Directory {d}/handlers>\n  Options ExecCGI\n  AddHandler wsgi-script .wsgi\n</Directory>\n\
             <Directory {d}/noexec>\n  AddHandler wsgi-script .wsgi\n</Directory>\n\
             WSGIScriptAlias / {d}/probe.wsgi\n"
        ),
    );
    let r = s.get("/static/style.css");
    assert_eq!(
        (r.status, r.text().as_str()),
        (200, "body{}"),
        "mod_alias must win for /static"
    );
    let r = s.get("/m/one/extra/path");
    assert_eq!(
        (r.status, r.text().as_str()),
        (200, "one /extra/path"),
        "{}",
        s.logs()
    );
    let r = s.get("/h/h.wsgi");
    assert_eq!((r.status, r.text().as_str()), (200, "/h/h.wsgi"));
    let r = s.get("/n/h.wsgi");
    assert_eq!(
        r.status, 403,
        "AddHandler without Options ExecCGI must be refused"
    );
    assert!(s.wait_for_log("Options ExecCGI is off", Duration::from_secs(5)));
    assert_eq!(s.get("/environ").status, 200);
}

#[test]
fn stdin_reads_empty_by_default_and_is_refused_when_restricted() {
    // mod_wsgi 6's default: WSGIRestrictStdin Off.
    let (s, _d) = probe_server("stdin", "");
    let v = json(&s.get("/app/stdin"));
    assert!(!v.get("stdin").str().starts_with("refused"), "{:?}", v);
    let (s, _d) = probe_server("stdin-on", "WSGIRestrictStdin On\n");
    let v = json(&s.get("/app/stdin"));
    assert!(v.get("stdin").str().starts_with("refused"), "{:?}", v);
}

#[test]
fn python_path_adds_import_directories() {
    let dir = common::temp_dir("pypath");
    write_file(
        &dir,
        "lib/helper_mod_for_test.py",
        "WORD = b'from-python-path'\n",
    );
    write_file(&dir, "app.wsgi", "import helper_mod_for_test\ndef application(e, sr):\n    sr('200 OK', [])\n    return [helper_mod_for_test.WORD]\n");
    let s = Server::start(
        "pypath",
        &format!(
            "WSGIPythonPath {}/lib\nWSGIScriptAlias / {}/app.wsgi",
            dir.display(),
            dir.display()
        ),
    );
    assert_eq!(s.get("/").text(), "from-python-path");
}

#[test]
fn restrict_embedded_refuses_to_run_applications_in_children() {
    let (s, _d) = probe_server("restrict", "WSGIRestrictEmbedded On");
    assert_eq!(s.get("/app/module").status, 500);
    assert!(s.wait_for_log("embedded mode is disabled", Duration::from_secs(5)));
}

#[test]
fn flask_app_from_a_virtualenv_via_python_home() {
    let venv = common::flask_venv();
    let dir = common::temp_dir("flask");
    write_file(&dir, "flask_app.wsgi", include_str!("apps/flask_app.wsgi"));
    // The config a mod_wsgi user would write; only LoadModule differs.
    let s = Server::start(
        "flask",
        &format!(
            "WSGIPythonHome {venv}\n\
             WSGIScriptAlias /site {d}/flask_app.wsgi\n\
             <Directory {d}>\n  Require all granted\n</Directory>\n",
            venv = venv.display(),
            d = dir.display()
        ),
    );
    common::check_flask_site(&s, &venv, "/site");
}

#[test]
fn import_script_preloads_into_the_named_interpreter() {
    let dir = probe_dir("import");
    let d = dir.display();
    write_file(
        &dir,
        "preload.wsgi",
        "import os, mod_wsgi\n\
         with open(os.path.join(os.path.dirname(__file__), 'markers', 'imported-%d' % os.getpid()), 'a') as f:\n    f.write('group=[%s]\\n' % mod_wsgi.application_group)\n\
         def application(e, sr):\n    sr('200 OK', [])\n    return [b'preloaded app']\n",
    );
    let s = Server::start(
        "import",
        &format!(
            "WSGIImportScript {d}/preload.wsgi process-group=%{{GLOBAL}} application-group=%{{GLOBAL}}\n\
             WSGIScriptAlias / {d}/preload.wsgi application-group=%{{GLOBAL}}\n"
        ),
    );
    // No request has been sent: the marker can only come from the preload.
    // (Wait for the line, not just the file: it is created before it is written.)
    let read_markers = || -> Vec<String> {
        fs::read_dir(dir.join("markers"))
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with("imported-"))
            .map(|e| fs::read_to_string(e.path()).unwrap_or_default())
            .collect()
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !read_markers().iter().any(|m| m.ends_with('\n')) {
        assert!(
            std::time::Instant::now() < deadline,
            "script was not preloaded\n{}",
            s.logs()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(s.get("/").text(), "preloaded app");
    assert_eq!(s.get("/").text(), "preloaded app");
    // Each process imported the script once, into %{GLOBAL} (''), and the
    // requests reused it rather than importing it again.
    for m in read_markers() {
        assert_eq!(m, "group=[]\n", "{}", s.logs());
    }
}

#[test]
fn a_client_that_hangs_up_gets_the_iterable_closed() {
    let (s, dir) = probe_server("disconnect", "");
    common::request_and_hang_up(s.port, "/app/slow-close?gone", 20_000);
    assert!(
        common::wait_for_file(&dir.join("markers/gone"), Duration::from_secs(5)),
        "close() was not called after the client left\n{}",
        s.logs()
    );
    assert_eq!(s.get("/app/module").status, 200);
}

#[test]
fn a_response_ends_with_its_last_piece() {
    let (s, _d) = probe_server("end", "");
    common::check_response_endings(&s);
}

#[test]
fn the_shipped_embedded_conf_serves_a_flask_site() {
    let (s, venv) = common::shipped_config_server("shipped-embedded", "embedded.conf");
    common::check_shipped_site(&s, &venv);
}
