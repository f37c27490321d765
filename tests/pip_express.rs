//! The pip way: the wheel `scripts/package wheel` builds,
//! installed by pip into a fresh virtualenv per test, and its
//! `mod_wsgi-express start-server` serving a Flask app with mod_wsgi 6.1's
//! options, each checked for its effect; bad command lines; the module
//! commands. Loopback only; every server is stopped by PID.

mod common;

use common::pip_express::{account, express, fresh_venv, is_root, serve, StartServer};
use common::{free_port, json_of, temp_dir, wait_until, write_file};
use std::fs;
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const FLASK_APP: &str = r#"
import os, sys, time
import mod_wsgi
from flask import Flask, jsonify, request

app = Flask(__name__)

@app.route('/facts')
def facts():
    try:
        import extra_mod
    except ImportError:
        extra_mod = None
    env = request.environ
    return jsonify(pid=os.getpid(), uid=os.getuid(), gid=os.getgid(), cwd=os.getcwd(),
                   procs=mod_wsgi.maximum_processes,
                   threads=mod_wsgi.threads_per_process,
                   group=mod_wsgi.process_group,
                   script_name=env['SCRIPT_NAME'], path_info=env['PATH_INFO'],
                   setenv=env.get('EXPRESS_TEST'), extra=getattr(extra_mod, 'VALUE', None),
                   scheme=env['wsgi.url_scheme'], prefix=sys.prefix)

@app.route('/sleep/<int:n>')
def sleep(n):
    time.sleep(n)
    return 'slept %d' % n

application = app
"#;

/// An app directory: app.wsgi, lib/extra_mod.py (for --python-path),
/// static/a.txt (for --url-alias).
const FILES: &[(&str, &str)] = &[
    ("app.wsgi", FLASK_APP),
    ("lib/extra_mod.py", "VALUE = 'from python-path'\n"),
    ("static/a.txt", "a static file\n"),
];

fn app_dir(tag: &str) -> std::path::PathBuf {
    let dir = temp_dir(tag);
    for (name, text) in FILES {
        write_file(&dir, name, text);
    }
    dir
}

fn group_id(name: &str) -> u32 {
    let groups = fs::read_to_string("/etc/group").unwrap();
    let line = groups
        .lines()
        .find(|l| l.starts_with(&format!("{name}:")))
        .unwrap();
    line.split(':').nth(2).unwrap().parse().unwrap()
}

/// A self-signed certificate for 127.0.0.1, made here with openssl.
fn self_signed(dir: &Path) -> (String, String) {
    let (crt, key) = (dir.join("cert.crt"), dir.join("cert.key"));
    common::run_ok(
        Command::new("openssl")
            .args([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            ])
            .args(["-subj", "/CN=127.0.0.1", "-keyout"])
            .arg(&key)
            .arg("-out")
            .arg(&crt),
    );
    (crt.display().to_string(), key.display().to_string())
}

fn https_get(port: u16, path: &str) -> String {
    common::run_ok(Command::new("curl").args([
        "-sk",
        "--max-time",
        "20",
        &format!("https://127.0.0.1:{port}{path}"),
    ]))
}

/// What the app sees of --processes, --threads, --user, --group,
/// --working-directory, --mount-point, --python-path, --setenv,
/// --include-file and --url-alias.
fn app_sees_the_options(s: &StartServer, venv: &Path, dir: &Path) {
    let port = s.port;
    let r = s.get("/app/facts");
    assert_eq!(r.status, 200, "{}", s.logs());
    let facts = json_of(&r);
    let num = |k: &str| facts.get(k).num();
    let text = |k: &str| facts.get(k).str().to_string();
    assert_eq!(
        (num("procs"), num("threads")),
        (2.0, 3.0),
        "--processes/--threads"
    );
    assert_eq!(text("group"), format!("127.0.0.1:{port}"));
    assert_eq!(
        text("prefix"),
        venv.display().to_string(),
        "the venv's Python"
    );
    if is_root() {
        assert_eq!(num("uid") as u32, common::user_id("www-data"), "--user");
        assert_eq!(num("gid") as u32, group_id("www-data"), "--group");
    }
    assert_eq!(
        text("cwd"),
        dir.display().to_string(),
        "the working directory"
    );
    assert_eq!(
        (text("script_name"), text("path_info")),
        ("/app".into(), "/facts".into())
    );
    assert_eq!(s.get("/elsewhere").status, 404, "outside --mount-point");
    assert_eq!(text("extra"), "from python-path");
    assert_eq!(text("setenv"), "yes", "--setenv");
    assert_eq!(r.header("x-included"), Some("yes"), "--include-file");
    assert_eq!(
        s.get("/static/a.txt").text(),
        "a static file\n",
        "--url-alias"
    );
}

#[test]
fn start_server_serves_a_flask_app_with_each_option_in_effect() {
    let dir = app_dir("pipx-options");
    let venv = fresh_venv("pipx-options", &["flask"]);
    let (crt, key) = self_signed(&dir);
    write_file(&dir, "inc.conf", "Header set X-Included yes\n");
    let (port, https) = (free_port(), free_port());
    let (p, h, lib, st, inc) = (
        port.to_string(),
        https.to_string(),
        dir.join("lib").display().to_string(),
        dir.join("static").display().to_string(),
        dir.join("inc.conf").display().to_string(),
    );
    let mut args = vec!["app.wsgi", "--host", "127.0.0.1", "--port", &p];
    args.extend(account());
    args.extend([
        "--processes",
        "2",
        "--threads",
        "3",
        "--mount-point",
        "/app",
    ]);
    args.extend(["--url-alias", "/static", &st, "--python-path", &lib]);
    args.extend(["--setenv", "EXPRESS_TEST", "yes", "--include-file", &inc]);
    args.extend(["--access-log", "--log-level", "info", "--https-port", &h]);
    args.extend([
        "--ssl-certificate-file",
        &crt,
        "--ssl-certificate-key-file",
        &key,
    ]);
    let s = StartServer::start(&venv, &dir, port, &args, "/app/facts");

    app_sees_the_options(&s, &venv, &dir);
    // --host: only that address listens.
    assert!(
        TcpStream::connect(("127.0.0.2", port)).is_err(),
        "--host 127.0.0.1"
    );
    let over_tls = https_get(https, "/app/facts");
    assert!(
        over_tls.contains("\"scheme\":\"https\""),
        "{over_tls}\n{}",
        s.logs()
    );
    let access = fs::read_to_string(s.root.join("access_log")).unwrap_or_default();
    assert!(
        access.contains("\"GET /app/facts HTTP/1.1\" 200"),
        "{access}"
    );
    let log = fs::read_to_string(s.root.join("error_log")).unwrap();
    assert!(log.contains(":info]"), "--log-level info: {log}");
    for f in ["httpd.conf", "apachectl", "handler.wsgi", "envvars"] {
        assert!(s.root.join(f).exists(), "--server-root has {f}");
    }
}

#[test]
fn request_timeout_queue_timeout_and_maximum_requests_take_effect() {
    let (_, _, s) = serve(
        "pipx-timeouts",
        FILES,
        &["flask"],
        "app.wsgi",
        &[
            "--threads",
            "1",
            "--request-timeout",
            "3",
            "--queue-timeout",
            "1",
            "--maximum-requests",
            "3",
        ],
    );
    // The pid that served a request (None: not served; while the daemon
    // restarts, --queue-timeout 1 rightly answers 503).
    let pid_of = |s: &StartServer| {
        let r = s.get("/facts");
        (r.status == 200).then(|| json_of(&r).get("pid").num())
    };
    // --maximum-requests 3: after three requests a new process serves.
    let pids: Vec<_> = (0..3).map(|_| pid_of(&s)).collect();
    assert!(
        pids[0].is_some() && pids.iter().all(|p| *p == pids[0]),
        "{pids:?}\n{}",
        s.logs()
    );
    assert!(
        wait_until(Duration::from_secs(20), || pid_of(&s)
            .is_some_and(|p| Some(p) != pids[0])),
        "{pids:?}\n{}",
        s.logs()
    );
    // The old process served until its replacement was ready (warm
    // replacement) and leaves now; the queue-timeout check below needs
    // the one process with its one thread.
    let old = pids[0].unwrap_or_default() as u32;
    assert!(
        wait_until(Duration::from_secs(20), || !common::alive(old)),
        "pid {old} did not leave\n{}",
        s.logs()
    );

    let port2 = s.port;
    let stuck = std::thread::spawn(move || {
        let t0 = Instant::now();
        let raw = "GET /sleep/30 HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
        let r = common::http::send(port2, raw.as_bytes()).unwrap_or_default();
        (r.status, t0.elapsed())
    });
    std::thread::sleep(Duration::from_millis(500));
    // --queue-timeout 1: the one thread is busy; a waiting request gets 503.
    let t0 = Instant::now();
    let queued = s.get("/facts");
    assert_eq!(queued.status, 503, "{}", s.logs());
    assert!(t0.elapsed() < Duration::from_secs(10), "{:?}", t0.elapsed());
    // --request-timeout 3: the 30 s request is cut off well before 30 s.
    let (status, took) = stuck.join().unwrap();
    assert!(
        status >= 500 && took < Duration::from_secs(20),
        "{status} after {took:?}\n{}",
        s.logs()
    );
    assert!(wait_until(Duration::from_secs(20), || s
        .get("/facts")
        .status
        == 200));
}

#[test]
fn module_entry_point_document_root_and_log_to_terminal() {
    let dir = temp_dir("pipx-module");
    write_file(
        &dir,
        "mymod.py",
        "def app2(environ, start_response):\n\
         \x20   start_response('200 OK', [('Content-Type', 'text/plain')])\n\
         \x20   return [('app2 at ' + environ['PATH_INFO']).encode()]\n",
    );
    write_file(&dir, "docroot/static.txt", "from the document root\n");
    let venv = fresh_venv("pipx-module", &[]);
    let port = free_port();
    let (p, docroot) = (port.to_string(), dir.join("docroot").display().to_string());
    let mut args = vec!["--application-type", "module", "--entry-point", "mymod"];
    args.extend([
        "--callable-object",
        "app2",
        "--host",
        "127.0.0.1",
        "--port",
        &p,
    ]);
    args.extend(account());
    args.extend([
        "--document-root",
        &docroot,
        "--log-to-terminal",
        "--access-log",
    ]);
    args.extend([
        "--startup-timeout",
        "7",
        "--graceful-timeout",
        "4",
        "--shutdown-timeout",
        "3",
    ]);
    let s = StartServer::start(&venv, &dir, port, &args, "/x");
    assert_eq!(s.get("/x/y").text(), "app2 at /x/y", "{}", s.logs());
    assert_eq!(s.get("/static.txt").text(), "from the document root\n");
    let printed = || fs::read_to_string(&s.out).unwrap_or_default();
    assert!(
        wait_until(Duration::from_secs(5), || printed()
            .contains("\"GET /x/y HTTP/1.1\" 200")),
        "--log-to-terminal --access-log: {}",
        printed()
    );
    assert!(
        printed().contains("resuming normal operations"),
        "{}",
        printed()
    );
    assert!(
        !s.root.join("error_log").exists(),
        "the error log went to the terminal"
    );
    // The daemon's timeouts as given (their behaviour: tests/daemon_triggers.rs).
    let conf = fs::read_to_string(s.root.join("httpd.conf")).unwrap();
    for opt in [
        "startup-timeout=\"7\"",
        "graceful-timeout=\"4\"",
        "shutdown-timeout=\"3\"",
    ] {
        assert!(conf.contains(opt), "{opt} in\n{conf}");
    }
}

/// Exit status 2 and one line on stderr that names `needle`.
fn refused(venv: &Path, args: &[&str], needle: &str) {
    let out = express(venv, args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
    assert_eq!(err.trim().lines().count(), 1, "{args:?}: {err}");
    assert!(err.contains(needle), "{args:?}: {err}");
}

#[test]
fn bad_command_lines_exit_2_naming_the_option() {
    let dir = temp_dir("pipx-bad");
    let script = write_file(&dir, "app.wsgi", "application = None\n");
    let s = script.to_str().unwrap();
    let venv = fresh_venv("pipx-bad", &[]);
    refused(&venv, &["start-server", s, "--bogus"], "--bogus");
    refused(&venv, &["start-server", s, "--http2"], "--http2");
    refused(
        &venv,
        &["start-server", s, "--enable-debugger"],
        "--enable-debugger",
    );
    refused(&venv, &["start-server", s, "--port", "eighty"], "--port");
    refused(&venv, &["start-server", s, "--port", "70000"], "--port");
    refused(
        &venv,
        &["start-server", s, "--processes", "0"],
        "--processes",
    );
    refused(
        &venv,
        &["start-server", s, "--https-port", "8443"],
        "--https-port",
    );
    refused(
        &venv,
        &["start-server", s, "--application-type", "paste"],
        "--application-type",
    );
    refused(
        &venv,
        &["setup-server", "/no/such/app.wsgi"],
        "/no/such/app.wsgi",
    );
    refused(&venv, &["serve-it"], "serve-it");
    // --help lists every option, the refused ones too.
    let out = express(&venv, &["start-server", "--help"]);
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{help}");
    for opt in [
        "--request-timeout",
        "--reload-on-changes",
        "--url-alias",
        "--http2",
    ] {
        assert!(help.contains(opt), "{opt} in --help:\n{help}");
    }
    let by_module = Command::new(venv.join("bin/python"))
        .args(["-m", "mod_wsgi_rs.express", "--help"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&by_module.stdout).contains("start-server"));
}

#[test]
fn module_config_location_and_install_module() {
    let venv = fresh_venv("pipx-module-cmds", &[]);
    let out = express(&venv, &["module-location"]);
    let so = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(
        Path::new(&so).is_file() && so.starts_with(venv.to_str().unwrap()),
        "{so}"
    );
    // The wheel's module records nothing of the build machine: no libpython
    // linked, no rpath; module-config names this Python's libpython.
    let dynamic = common::sites::run_ok(Command::new("readelf").args(["-d", &so]));
    assert!(
        !dynamic.contains("libpython")
            && !dynamic.contains("RPATH")
            && !dynamic.contains("RUNPATH"),
        "{dynamic}"
    );
    let config = String::from_utf8_lossy(&express(&venv, &["module-config"]).stdout).into_owned();
    assert!(
        config.contains(&format!("LoadModule wsgi_module \"{so}\"")),
        "{config}"
    );
    let load_file = config
        .lines()
        .find(|l| l.starts_with("LoadFile \"") && l.contains("libpython3."))
        .unwrap_or_else(|| panic!("no LoadFile of libpython:\n{config}"));
    assert!(
        config.contains(&format!("WSGIPythonHome \"{}\"", venv.display())),
        "{config}"
    );
    let modules = temp_dir("pipx-modules-dir");
    let out = express(
        &venv,
        &[
            "install-module",
            "--modules-directory",
            modules.to_str().unwrap(),
        ],
    );
    let printed = String::from_utf8_lossy(&out.stdout);
    let installed = fs::read_dir(&modules)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    assert_eq!(fs::read(&installed).unwrap(), fs::read(&so).unwrap());
    assert!(
        printed.contains(&installed.display().to_string()),
        "{printed}"
    );
    // The lines module-config prints are a working configuration.
    let dir = temp_dir("pipx-module-config");
    let app = write_file(
        &dir,
        "hello.wsgi",
        "import sys\n\
         def application(environ, start_response):\n\
         \x20   start_response('200 OK', [('Content-Type', 'text/plain')])\n\
         \x20   return [sys.prefix.encode()]\n",
    );
    let home = config
        .lines()
        .find(|l| l.starts_with("WSGIPythonHome"))
        .unwrap();
    let extra = format!(
        "{home}\nWSGIScriptAlias / {}\n<Directory {}>\nRequire all granted\n</Directory>\n",
        app.display(),
        dir.display()
    );
    let load = format!("{load_file}\nLoadModule wsgi_module {so}");
    let s = common::Server::start_with_load_lines("pipx-module-config", &extra, &load);
    assert_eq!(
        s.get("/").text(),
        venv.display().to_string(),
        "{}",
        s.logs()
    );
}

fn get_host(port: u16, host: &str) -> u16 {
    let raw = format!("GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    common::http::send(port, raw.as_bytes())
        .map(|r| r.status)
        .unwrap_or(0)
}

#[test]
fn server_name_and_alias_answer_other_host_names_refused() {
    let (_, _, s) = serve(
        "pipx-names",
        FILES,
        &["flask"],
        "app.wsgi",
        &[
            "--server-name",
            "app.test",
            "--server-alias",
            "www.app.test",
        ],
    );
    let port = s.port;
    let at = |host: &str| get_host(port, &format!("{host}:{port}"));
    // The app has no route for /: 404 from Flask means the app was reached.
    assert_eq!(at("app.test"), 404, "{}", s.logs());
    assert_eq!(at("www.app.test"), 404);
    assert_eq!(at("other.test"), 403, "another host name");
    assert_eq!(at("localhost"), 403, "localhost without --allow-localhost");
}
