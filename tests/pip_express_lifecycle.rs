//! The pip way's life cycle: setup-server and its own
//! apachectl (start, graceful, stop), --reload-on-changes, SIGTERM to
//! start-server with a request in flight, Django's runmodwsgi, and the
//! source distribution (built where the tools are, a clear error where
//! they are not). A fresh virtualenv per test; every server stopped by PID.

mod common;

use common::pip_express::{
    account, express, fresh_venv, serve, test_python, PidFileServer, StartServer,
};
use common::{alive, children_named, free_port, http, temp_dir, wait_until, write_file};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const APP: &str = "import os, time\n\
import helper\n\
def application(environ, start_response):\n\
\x20   if environ['PATH_INFO'].startswith('/sleep/'):\n\
\x20       time.sleep(int(environ['PATH_INFO'][7:]))\n\
\x20   start_response('200 OK', [('Content-Type', 'text/plain')])\n\
\x20   return [('%s pid=%d' % (helper.VERSION, os.getpid())).encode()]\n";

const FILES: &[(&str, &str)] = &[("app.wsgi", APP), ("helper.py", "VERSION = 'v1'\n")];

fn app_dir(tag: &str) -> PathBuf {
    let dir = temp_dir(tag);
    for (name, text) in FILES {
        write_file(&dir, name, text);
    }
    dir
}

fn get(port: u16, path: &str) -> http::Response {
    let raw = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    http::send(port, raw.as_bytes()).unwrap_or_default()
}

fn pid_in(text: &str) -> u32 {
    text.rsplit("pid=").next().unwrap().parse().unwrap_or(0)
}

/// A server root written by setup-server; stopped by its pid file's pid.
struct SetUp {
    root: PathBuf,
    server: PidFileServer,
}

impl SetUp {
    fn apachectl(&self, what: &str) -> std::process::Output {
        Command::new(self.root.join("apachectl"))
            .arg(what)
            .output()
            .unwrap()
    }
    fn pid(&self) -> Option<u32> {
        self.server.pid()
    }
    fn log(&self) -> String {
        fs::read_to_string(self.root.join("error_log")).unwrap_or_default()
    }
}

#[test]
fn setup_server_then_its_apachectl_start_graceful_stop() {
    let dir = app_dir("pipl-setup");
    let venv = fresh_venv("pipl-setup", &[]);
    let port = free_port();
    let (p, root) = (port.to_string(), dir.join("sr"));
    let mut args = vec![
        "setup-server",
        "app.wsgi",
        "--host",
        "127.0.0.1",
        "--port",
        &p,
    ];
    args.extend(account());
    args.extend(["--server-root", root.to_str().unwrap()]);
    let out = Command::new(venv.join("bin/mod_wsgi-express"))
        .args(&args)
        .current_dir(&dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s = SetUp {
        server: PidFileServer { root: root.clone() },
        root,
    };
    let test = s.apachectl("configtest");
    assert!(
        String::from_utf8_lossy(&test.stderr).contains("Syntax OK"),
        "{test:?}"
    );
    assert!(s.apachectl("start").status.success());
    assert!(
        wait_until(Duration::from_secs(30), || get(port, "/").status == 200),
        "{}",
        s.log()
    );
    let parent = s.pid().unwrap();
    let before = pid_in(&get(port, "/").text());
    assert!(
        children_named(parent, "(wsgi:").contains(&before),
        "{before} is a daemon"
    );
    // graceful: new daemons, the same parent, never a failed request.
    assert!(s.apachectl("graceful").status.success());
    let mut after = before;
    assert!(wait_until(Duration::from_secs(30), || {
        let r = get(port, "/");
        assert_eq!(r.status, 200, "during graceful\n{}", s.log());
        after = pid_in(&r.text());
        after != before
    }));
    assert_eq!(s.pid(), Some(parent));
    let mut everyone = children_named(parent, "");
    everyone.push(parent);
    assert!(s.apachectl("stop").status.success());
    assert!(
        wait_until(Duration::from_secs(20), || everyone
            .iter()
            .all(|p| !alive(*p))),
        "left after apachectl stop: {everyone:?}\n{}",
        s.log()
    );
}

#[test]
fn reload_on_changes_picks_up_an_edited_module() {
    let (dir, _, s) = serve(
        "pipl-reload",
        FILES,
        &[],
        "app.wsgi",
        &["--reload-on-changes"],
    );
    let first = s.get("/").text();
    assert!(first.starts_with("v1 "), "{first}\n{}", s.logs());
    // The module the script imports, not the script itself, changes.
    std::thread::sleep(Duration::from_millis(1100));
    write_file(&dir, "helper.py", "VERSION = 'v2'\n");
    assert!(
        wait_until(Duration::from_secs(30), || s
            .get("/")
            .text()
            .starts_with("v2 ")),
        "still {}\n{}",
        s.get("/").text(),
        s.logs()
    );
    assert_ne!(
        pid_in(&s.get("/").text()),
        pid_in(&first),
        "a fresh process"
    );
}

#[test]
fn sigterm_to_start_server_lets_a_request_in_flight_finish() {
    let (_, _, mut s) = serve("pipl-sigterm", FILES, &[], "app.wsgi", &[]);
    let port = s.port;
    let httpd: u32 = fs::read_to_string(s.root.join("httpd.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let mut everyone = children_named(httpd, "");
    everyone.push(httpd);
    let in_flight = std::thread::spawn(move || get(port, "/sleep/3"));
    std::thread::sleep(Duration::from_millis(700));
    let code = s.signal_and_wait(libc::SIGTERM, Duration::from_secs(30));
    let r = in_flight.join().unwrap();
    assert_eq!(r.status, 200, "the request in flight\n{}", s.logs());
    assert!(r.text().starts_with("v1 "), "{}", r.text());
    assert_eq!(code, Some(0), "start-server's exit\n{}", s.logs());
    assert!(
        wait_until(Duration::from_secs(10), || everyone
            .iter()
            .all(|p| !alive(*p))),
        "left: {everyone:?}"
    );
}

#[test]
fn django_runmodwsgi_serves_the_project() {
    let dir = temp_dir("pipl-django");
    let venv = fresh_venv("pipl-django", &["django"]);
    common::run_ok(
        Command::new(venv.join("bin/django-admin"))
            .args(["startproject", "proj"])
            .arg(&dir),
    );
    let settings = dir.join("proj/settings.py");
    let text = fs::read_to_string(&settings).unwrap().replace(
        "INSTALLED_APPS = [",
        "INSTALLED_APPS = [\n    'mod_wsgi_rs.express',",
    );
    fs::write(&settings, text).unwrap();
    let port = free_port();
    let mut cmd = Command::new(venv.join("bin/python"));
    cmd.args([
        "manage.py",
        "runmodwsgi",
        "--host",
        "127.0.0.1",
        "--port",
        &port.to_string(),
    ]);
    cmd.args(account());
    let s = StartServer::spawn(cmd, &dir, port, "/admin/login/");
    let r = s.get("/admin/login/");
    assert_eq!(r.status, 200, "{}", s.logs());
    assert!(r.text().contains("Django administration"), "{}", r.text());
    let conf = fs::read_to_string(s.root.join("httpd.conf")).unwrap();
    assert!(
        conf.contains("proj.wsgi"),
        "WSGI_APPLICATION's module:\n{conf}"
    );
}

/// Runs pip on the sdist in a fresh venv; (ok, output).
fn pip_install_sdist(tag: &str, env: &[(&str, &str)]) -> (bool, String, PathBuf) {
    let sdist = temp_dir(&format!("{tag}-sdist"));
    let out = common::run_ok(Command::new(test_python()).args([
        "-c",
        &format!(
            "import sys, os; os.chdir({root:?}); sys.path.insert(0, 'packaging/python'); \
         import build_backend; print(build_backend.build_sdist({sdist:?}))",
            root = env!("CARGO_MANIFEST_DIR"),
            sdist = sdist.display().to_string()
        ),
    ]));
    let tarball = sdist.join(out.trim());
    let venv = temp_dir(tag).join("venv");
    common::run_ok(Command::new(test_python()).args(["-m", "venv"]).arg(&venv));
    let mut pip = Command::new(venv.join("bin/pip"));
    pip.args(["install", "--no-index", "--no-build-isolation"])
        .arg(&tarball);
    for (k, v) in env {
        pip.env(k, v);
    }
    let done = pip.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&done.stdout),
        String::from_utf8_lossy(&done.stderr)
    );
    (done.status.success(), text, venv)
}

#[test]
fn the_sdist_builds_where_the_tools_are_and_says_what_is_missing_where_not() {
    let empty_home = temp_dir("pipl-nohome");
    let (ok, text, _) = pip_install_sdist(
        "pipl-sdist-notools",
        &[
            ("PATH", "/usr/bin:/bin"),
            ("HOME", empty_home.to_str().unwrap()),
        ],
    );
    assert!(!ok, "built without cargo?\n{text}");
    assert!(text.contains("needs a Rust toolchain"), "{text}");
    // With the tools: built (sharing this checkout's cargo cache).
    let target = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/sdist-build");
    let (ok, text, venv) = pip_install_sdist(
        "pipl-sdist",
        &[("CARGO_TARGET_DIR", target.to_str().unwrap())],
    );
    assert!(ok, "{text}");
    let out = express(&venv, &["module-location"]);
    let so = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(Path::new(&so).is_file(), "{so}\n{text}");
}
