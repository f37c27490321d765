//! mod_wsgi-express users switch by changing one line: a server written by
//! PyPI's `mod_wsgi-express setup-server` (mod_wsgi 6.1.1, built here with
//! apache2-dev into a test virtualenv) runs with this module once its
//! `LoadModule wsgi_module` line names ours: the application in daemon
//! mode, `--url-alias` files by Apache, and `apachectl stop` leaves nothing.

mod common;

use common::{
    alive, children_named, free_port, http, module_path, temp_dir, wait_until, write_file,
};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// A virtualenv with PyPI's mod_wsgi, made once and kept under target/.
fn express_venv() -> PathBuf {
    common::pip_venv("express-venv", &["mod_wsgi==6.1.1"])
}

fn run(cmd: &mut Command) -> String {
    common::run_ok(cmd)
}

/// A server root written by setup-server, started with its own apachectl;
/// stopped by the pid in its pid file, also when a test fails.
struct Express {
    root: PathBuf,
    port: u16,
    _stopper: common::pip_express::PidFileServer,
}

const APP: &str = "import os
import mod_wsgi

def application(environ, start_response):
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [('v1 pid=%d group=%s' % (os.getpid(), mod_wsgi.process_group)).encode()]
";

impl Express {
    fn setup(tag: &str, app_dir: &Path, entry: &str, extra: &[&str]) -> Express {
        let venv = express_venv();
        let root = temp_dir(tag).join("server");
        let port = free_port();
        let static_dir = app_dir.join("static");
        write_file(&static_dir, "a.txt", "a static file\n");
        let mut cmd = Command::new(venv.join("bin/mod_wsgi-express"));
        cmd.args(["setup-server", entry, "--server-root"])
            .arg(&root)
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--user", "www-data", "--group", "www-data"])
            .args([
                "--processes",
                "2",
                "--threads",
                "4",
                "--url-alias",
                "/static",
            ])
            .arg(&static_dir)
            .args(extra);
        run(&mut cmd);
        // The one change a user makes: our module instead of mod_wsgi's.
        let conf_path = root.join("httpd.conf");
        let conf = fs::read_to_string(&conf_path).unwrap();
        let ours = format!("LoadModule wsgi_module '{}'", module_path().display());
        let mut replaced = 0;
        let conf: Vec<String> = conf
            .lines()
            .map(|l| {
                if l.starts_with("LoadModule wsgi_module ") {
                    replaced += 1;
                    ours.clone()
                } else {
                    l.to_string()
                }
            })
            .collect();
        assert_eq!(
            replaced,
            1,
            "one LoadModule wsgi_module line in {}",
            conf_path.display()
        );
        fs::write(&conf_path, conf.join("\n") + "\n").unwrap();
        Express {
            _stopper: common::pip_express::PidFileServer { root: root.clone() },
            root,
            port,
        }
    }

    fn apachectl(&self, what: &str) -> String {
        run(Command::new(self.root.join("apachectl")).arg(what))
    }

    fn pid(&self) -> Option<u32> {
        self._stopper.pid()
    }

    fn get(&self, path: &str) -> http::Response {
        let raw = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
        http::send(self.port, raw.as_bytes()).unwrap_or_default()
    }

    fn error_log(&self) -> String {
        fs::read_to_string(self.root.join("error_log")).unwrap_or_default()
    }

    fn start(&self) -> u32 {
        self.apachectl("start");
        assert!(
            wait_until(Duration::from_secs(30), || self.get("/static/a.txt").status
                == 200),
            "the express server did not come up\n{}",
            self.error_log()
        );
        self.pid().expect("httpd.pid")
    }
}

/// The app answers from a daemon process of the express group, and
/// `apachectl stop` ends the parent, its children and the daemons.
fn served_in_daemon_mode_then_stopped(e: &Express, parent: u32, want: &str) {
    let r = e.get("/");
    assert_eq!(r.status, 200, "{}", e.error_log());
    let text = r.text();
    assert!(text.starts_with(want), "{text}\n{}", e.error_log());
    let group = format!("127.0.0.1:{}", e.port);
    assert!(text.ends_with(&format!("group={group}")), "{text}");
    let pid: u32 = text
        .split("pid=")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let daemons = children_named(parent, "(wsgi:");
    assert!(
        daemons.contains(&pid),
        "pid {pid} is not a daemon of {parent}: {daemons:?}"
    );
    assert_eq!(e.get("/static/a.txt").text(), "a static file\n");
    let mut everyone = common::children_named(parent, "");
    everyone.push(parent);
    e.apachectl("stop");
    assert!(
        wait_until(Duration::from_secs(20), || everyone
            .iter()
            .all(|p| !alive(*p))),
        "left running after apachectl stop: {:?}\n{}",
        everyone.iter().filter(|p| alive(**p)).collect::<Vec<_>>(),
        e.error_log()
    );
}

#[test]
fn a_server_written_by_setup_server_runs_with_only_load_module_changed() {
    let app_dir = temp_dir("express-app");
    let script = write_file(&app_dir, "app.wsgi", APP);
    let e = Express::setup("express", &app_dir, script.to_str().unwrap(), &[]);
    let (ok, out) = {
        let out = Command::new(e.root.join("apachectl"))
            .arg("configtest")
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    assert!(ok && out.contains("Syntax OK"), "{out}");
    let parent = e.start();
    served_in_daemon_mode_then_stopped(&e, parent, "v1 ");
}

#[test]
fn reload_on_changes_restarts_the_daemon_when_the_code_changes() {
    let app_dir = temp_dir("express-reload");
    let script = write_file(&app_dir, "app.wsgi", APP);
    let e = Express::setup(
        "express-reload",
        &app_dir,
        script.to_str().unwrap(),
        &["--reload-on-changes"],
    );
    let parent = e.start();
    assert!(e.get("/").text().starts_with("v1 "), "{}", e.error_log());
    std::thread::sleep(Duration::from_millis(1100));
    write_file(&app_dir, "app.wsgi", &APP.replace("v1 pid", "v2 pid"));
    assert!(
        wait_until(Duration::from_secs(20), || e
            .get("/")
            .text()
            .starts_with("v2 ")),
        "the change was not picked up\n{}",
        e.error_log()
    );
    served_in_daemon_mode_then_stopped(&e, parent, "v2 ");
}

#[test]
fn application_type_module_imports_the_named_module() {
    let app_dir = temp_dir("express-module");
    write_file(&app_dir, "expressapp.py", APP);
    let e = Express::setup(
        "express-module",
        &app_dir,
        "expressapp",
        &[
            "--application-type",
            "module",
            "--working-directory",
            app_dir.to_str().unwrap(),
        ],
    );
    let parent = e.start();
    served_in_daemon_mode_then_stopped(&e, parent, "v1 ");
}

#[test]
fn embedded_mode_serves_from_the_apache_children() {
    let app_dir = temp_dir("express-embedded");
    let script = write_file(&app_dir, "app.wsgi", APP);
    let e = Express::setup(
        "express-embedded",
        &app_dir,
        script.to_str().unwrap(),
        &["--embedded-mode"],
    );
    let parent = e.start();
    let text = e.get("/").text();
    assert!(
        text.starts_with("v1 ") && text.ends_with("group="),
        "{text}\n{}",
        e.error_log()
    );
    let pid: u32 = text
        .split("pid=")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        children_named(parent, "").contains(&pid),
        "not an Apache child: {pid}"
    );
    assert!(
        children_named(parent, "(wsgi:").is_empty(),
        "no daemons in embedded mode"
    );
    let mut everyone = children_named(parent, "");
    everyone.push(parent);
    e.apachectl("stop");
    assert!(
        wait_until(Duration::from_secs(20), || everyone
            .iter()
            .all(|p| !alive(*p))),
        "left running after apachectl stop\n{}",
        e.error_log()
    );
}
