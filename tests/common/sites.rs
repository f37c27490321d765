//! Shared sites and checks: a Flask virtualenv, the shipped configurations,
//! servers running the probe app, and checks several suites make.

use super::*;

/// A server whose /app runs the probe in embedded mode.
pub fn probe_server(tag: &str, extra: &str) -> (Server, PathBuf) {
    let dir = probe_dir(tag);
    let conf = format!(
        "WSGIScriptAlias /app {}/probe.wsgi\n{}",
        dir.display(),
        extra
    );
    (Server::start(tag, &conf), dir)
}

/// A server whose /app runs the probe in daemon group `site` (two
/// processes unless `options` says otherwise).
pub fn daemon_server(tag: &str, options: &str, extra: &str) -> (Server, PathBuf) {
    let dir = probe_dir(tag);
    let (options, ready) = if options.contains("processes=") {
        (options.to_string(), "daemon process 1 ready")
    } else {
        (format!("processes=2 {options}"), "daemon process 2 ready")
    };
    let conf = format!(
        "WSGIDaemonProcess site threads=4 display-name=%{{GROUP}} {options}\n\
         WSGIScriptAlias /app {}/probe.wsgi process-group=site\n{extra}",
        dir.display()
    );
    let s = Server::start(tag, &conf);
    assert!(
        s.wait_for_log(ready, Duration::from_secs(20)),
        "daemons did not start\n{}",
        s.logs()
    );
    (s, dir)
}

/// The numeric id of user `name`.
pub fn user_id(name: &str) -> u32 {
    let out = std::process::Command::new("id")
        .args(["-u", name])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

/// A response body as JSON.
pub fn json_of(r: &http::Response) -> json::Value {
    json::parse_response(r)
}

/// A virtualenv under target/`name` with `packages` from PyPI, made once
/// (test binaries may run at once: one makes it, the others wait).
pub fn pip_venv(name: &str, packages: &[&str]) -> PathBuf {
    let target = super::target_dir();
    let venv = target.join(name);
    let lock = fs::File::create(target.join(format!("{name}.lock"))).unwrap();
    // SAFETY: flock on a descriptor we own; released when `lock` drops.
    unsafe { libc::flock(std::os::fd::AsRawFd::as_raw_fd(&lock), libc::LOCK_EX) };
    if venv.join("ok").exists() {
        return venv;
    }
    let _ = fs::remove_dir_all(&venv);
    let python = std::env::var("PYO3_PYTHON").unwrap_or_else(|_| "/usr/bin/python3".into());
    run_ok(std::process::Command::new(&python).args(["-m", "venv", venv.to_str().unwrap()]));
    run_ok(
        std::process::Command::new(venv.join("bin/pip"))
            .args(["install", "--quiet"])
            .args(packages),
    );
    fs::write(venv.join("ok"), "").unwrap();
    venv
}

/// Runs a command that must succeed; its stdout.
pub fn run_ok(cmd: &mut std::process::Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A virtualenv with Flask from PyPI, made once and kept under target/.
pub fn flask_venv() -> PathBuf {
    pip_venv("test-venv", &["flask"])
}

/// Sends a request, reads `n` bytes of the response, then hangs up.
pub fn request_and_hang_up(port: u16, path: &str, n: usize) {
    use std::io::Write;
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut buf = vec![0u8; n];
    s.read_exact(&mut buf).unwrap();
}

/// Waits (bounded) until a file exists.
pub fn wait_for_file(path: &Path, within: Duration) -> bool {
    wait_until(within, || path.exists())
}

impl Server {
    /// POSTs an urlencoded form body to `path`.
    pub fn post_form(&self, path: &str, body: &str) -> http::Response {
        self.request(&format!(
            "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
            body.len(),
            body
        ))
    }
}

/// What a user of the Flask test app (tests/apps/flask_app.wsgi) sees
/// when it is mounted at `mount` ("" for the root) and served from the
/// virtualenv `venv`.
pub fn check_flask_site(s: &Server, venv: &Path, mount: &str) {
    let r = s.get(&format!("{mount}/"));
    assert_eq!(
        (r.status, r.text().as_str()),
        (200, "flask says hi"),
        "{}",
        s.logs()
    );
    let w = json::parse_response(&s.get(&format!("{mount}/where")));
    let venv = venv.to_str().unwrap();
    assert_eq!(w.get("prefix").str(), venv);
    assert!(w.get("flask").str().starts_with(venv), "{:?}", w);
    assert_eq!(w.get("root").str(), mount);
    assert_eq!(w.get("path").str(), "/where");
    let r = s.post_form(&format!("{mount}/echo"), "a=1&b=two");
    assert_eq!(
        json::parse_response(&r).get("form").get("b").str(),
        "two",
        "{}",
        r.text()
    );
    // Flask turns its own exceptions into 500s; the traceback reaches the log.
    assert_eq!(s.get(&format!("{mount}/fail")).status, 500);
    assert!(
        s.wait_for_log("flask view failed on purpose", Duration::from_secs(5)),
        "{}",
        s.logs()
    );
    assert_eq!(s.get(&format!("{mount}/")).status, 200);
}

/// The read() calls the probe's CountingFile saw (written when closed).
pub fn reads_marker(dir: &std::path::Path) -> u64 {
    let path = dir.join("markers/reads");
    assert!(
        wait_for_file(&path, Duration::from_secs(5)),
        "no reads marker"
    );
    let mut text = String::new();
    wait_until(Duration::from_secs(2), || {
        text = fs::read_to_string(&path).unwrap_or_default();
        !text.is_empty()
    });
    text.trim().parse().unwrap()
}

/// What both modes must do at the end of a response (the probe at /app):
/// a body given without Content-Length whose end reaches Apache with its
/// last piece is counted (Content-Length, not chunked), an empty one is
/// `Content-Length: 0`, and keep-alive requests on one connection are all
/// answered, HEAD without a body.
pub fn check_response_endings(s: &Server) {
    let r = s.get("/app/head");
    assert_eq!((r.status, r.body.as_slice()), (200, &b"body of a GET"[..]));
    assert_eq!(r.header("Content-Length"), Some("13"), "{:?}", r.headers);
    assert_eq!(r.header("Transfer-Encoding"), None);
    let r = s.get("/app/empty");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("Content-Length"), Some("0"), "{:?}", r.headers);
    assert!(r.body.is_empty());
    let raw = "GET /app/head HTTP/1.1\r\nHost: x\r\n\r\n\
               HEAD /app/head HTTP/1.1\r\nHost: x\r\n\r\n\
               GET /app/empty HTTP/1.1\r\nHost: x\r\n\r\n\
               GET /app/head HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    let all = http::send_raw(s.port, raw.as_bytes()).unwrap();
    let text = String::from_utf8_lossy(&all);
    assert_eq!(text.matches("HTTP/1.1 200 OK\r\n").count(), 4, "{text}");
    assert_eq!(text.matches("body of a GET").count(), 2, "{text}");
    assert!(text.ends_with("body of a GET"), "{text}");
}

/// A server running one of the ready-made site configs in `apache-conf/`,
/// as shipped: /srv/site becomes a temporary site (the Flask test app as
/// app.wsgi, a static file) and /srv/site/venv the Flask test venv.
/// Returns the server and the venv.
pub fn shipped_config_server(tag: &str, file: &str) -> (Server, PathBuf) {
    let venv = flask_venv();
    let site = temp_dir(tag);
    write_file(&site, "app.wsgi", include_str!("../apps/flask_app.wsgi"));
    write_file(&site, "static/hello.txt", "static hello\n");
    let shipped = fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("apache-conf")
            .join(file),
    )
    .unwrap();
    assert!(shipped.contains("/srv/site/venv"), "{file} names no venv");
    let conf = shipped
        .replace("/srv/site/venv", venv.to_str().unwrap())
        .replace("/srv/site", site.to_str().unwrap());
    (Server::start(tag, &conf), venv)
}

/// What both shipped site configs must do: the Flask site at /, with
/// static files beside it.
pub fn check_shipped_site(s: &Server, venv: &Path) {
    check_flask_site(s, venv, "");
    let r = s.get("/static/hello.txt");
    assert_eq!(
        (r.status, r.text().as_str()),
        (200, "static hello\n"),
        "Alias /static/ must win over WSGIScriptAlias /\n{}",
        s.logs()
    );
}

/// PyPI's mod_wsgi 6.1.1 module, built into the express test virtualenv
/// (for whichever Python the tests use).
pub fn mod_wsgi_61() -> String {
    let venv = pip_venv("express-venv", &["mod_wsgi==6.1.1"]);
    let lib = fs::read_dir(venv.join("lib")).unwrap();
    for py in lib.flatten() {
        let server = py.path().join("site-packages/mod_wsgi/server");
        for f in fs::read_dir(&server).into_iter().flatten().flatten() {
            let name = f.file_name().to_string_lossy().into_owned();
            if name.starts_with("mod_wsgi-py") && name.ends_with(".so") {
                return f.path().display().to_string();
            }
        }
    }
    panic!("no mod_wsgi-py*.so in {}", venv.display())
}

/// `WSGIFreeThreading On` for every server the tests start, when
/// $WSGI_TEST_FREE_THREADING is 1 (scripts/test runs the suites so on the
/// free-threaded build, /opt/python/3.13t): the suites then run with the
/// GIL disabled in every process.
pub fn free_threading_line() -> &'static str {
    if std::env::var("WSGI_TEST_FREE_THREADING").as_deref() == Ok("1") {
        "WSGIFreeThreading On\n"
    } else {
        ""
    }
}

/// Whether the Python the module is built against ($PYO3_PYTHON, else
/// Debian's) is a free-threaded build (PEP 703).
pub fn free_threaded_build() -> bool {
    let python = std::env::var("PYO3_PYTHON").unwrap_or_else(|_| "/usr/bin/python3".into());
    let out = std::process::Command::new(&python)
        .args([
            "-c",
            "import sysconfig; print(bool(sysconfig.get_config_var('Py_GIL_DISABLED')))",
        ])
        .output()
        .expect("running the build's Python");
    String::from_utf8_lossy(&out.stdout).trim() == "True"
}
