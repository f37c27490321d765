//! Integration-test harness: a real httpd per test, started from a
//! generated config on a free loopback port, in the foreground and in its
//! own process group so it is always stopped by PID, even when a test fails.
#![allow(dead_code)]

pub mod cores;
pub mod failure;
pub mod fake_daemon;
pub mod files;
pub mod hardening;
pub mod http;
pub mod idle;
pub mod json;
pub mod lifecycle_apps;
pub mod pip_express;
pub mod procs;
pub mod sites;
pub mod vs61;

#[allow(unused_imports)]
pub use procs::*;
#[allow(unused_imports)]
pub use sites::*;

use std::fs;
use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a server may take to come up or go down.
const START_DEADLINE: Duration = Duration::from_secs(30);
const STOP_DEADLINE: Duration = Duration::from_secs(15);

/// Cargo's target directory: $CARGO_TARGET_DIR (one per Python when the
/// suites run against another Python, see scripts/test), else target/.
pub fn target_dir() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    match std::env::var("CARGO_TARGET_DIR") {
        Ok(d) if !d.is_empty() => root.join(d),
        _ => root.join("target"),
    }
}

/// The module under test: $MOD_WSGI_RS_SO, else the release build.
pub fn module_path() -> PathBuf {
    if let Ok(p) = std::env::var("MOD_WSGI_RS_SO") {
        return PathBuf::from(p);
    }
    let p = target_dir().join("release/libmod_wsgi_rs.so");
    assert!(
        p.exists(),
        "{} is missing: run `cargo build --release` (scripts/test does)",
        p.display()
    );
    p
}

pub fn apxs(var: &str) -> String {
    let out = Command::new(std::env::var("APXS").unwrap_or_else(|_| "apxs".into()))
        .args(["-q", var])
        .output()
        .expect("apxs (apache2-dev) is needed");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// The httpd binary ($APACHE_BIN, else what apxs reports).
pub fn httpd_bin() -> PathBuf {
    if let Ok(p) = std::env::var("APACHE_BIN") {
        return PathBuf::from(p);
    }
    let sbin = apxs("SBINDIR");
    let name = apxs("TARGET");
    PathBuf::from(sbin).join(if name.is_empty() {
        "apache2".into()
    } else {
        name
    })
}

/// The MPM under test: $WSGI_TEST_MPM (event, worker or prefork).
pub fn mpm() -> String {
    std::env::var("WSGI_TEST_MPM").unwrap_or_else(|_| "event".into())
}

/// A fresh directory, readable by Apache's child user.
pub fn temp_dir(tag: &str) -> PathBuf {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let dir = std::env::temp_dir().join(format!(
        "mod_wsgi_rs-test-{}-{}-{}",
        tag,
        std::process::id(),
        n
    ));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

/// Writes a file (mode 0644) and returns its path. The file is replaced
/// whole (written aside, then renamed), so a server reading it meanwhile
/// sees the old text or the new, never an empty file.
pub fn write_file(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    if let Some(parent) = p.parent() {
        fs::create_dir_all(parent).unwrap();
        fs::set_permissions(parent, fs::Permissions::from_mode(0o755)).unwrap();
    }
    let aside = p.with_file_name(format!(
        ".{}.writing",
        p.file_name().unwrap().to_string_lossy()
    ));
    fs::write(&aside, text).unwrap();
    fs::set_permissions(&aside, fs::Permissions::from_mode(0o644)).unwrap();
    fs::rename(&aside, &p).unwrap();
    p
}

/// A free TCP port on 127.0.0.1 (bound and released; good enough for tests).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The common head of every generated httpd config.
pub fn base_config(root: &Path, port: u16, mpm: &str) -> String {
    let modules = apxs("LIBEXECDIR");
    // CoreDumpDirectory must exist when httpd reads it.
    cores::dir(root);
    let user = if unsafe_is_root() {
        "User nobody\nGroup nogroup\n"
    } else {
        ""
    };
    format!(
        "ServerRoot {root}\n\
         Listen 127.0.0.1:{port}\n\
         ServerName 127.0.0.1\n\
         PidFile {root}/httpd.pid\n\
         ErrorLog {root}/error.log\n\
         LogLevel info\n\
         Mutex file:{root}\n\
         DefaultRuntimeDir {root}\n\
         CoreDumpDirectory {root}/cores\n\
         {user}\
         LoadModule mpm_{mpm}_module {modules}/mod_mpm_{mpm}.so\n\
         LoadModule authz_core_module {modules}/mod_authz_core.so\n\
         LoadModule alias_module {modules}/mod_alias.so\n\
         LoadModule mime_module {modules}/mod_mime.so\n\
         LoadModule env_module {modules}/mod_env.so\n\
         LoadModule wsgi_module {module}\n\
         {free_threading}\
         TypesConfig /etc/mime.types\n\
         StartServers 1\n\
         GracefulShutdownTimeout 5\n\
         <Directory />\n  Require all granted\n</Directory>\n",
        root = root.display(),
        module = module_path().display(),
        free_threading = sites::free_threading_line(),
    )
}

fn unsafe_is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// A running httpd.
pub struct Server {
    pub root: PathBuf,
    pub port: u16,
    child: Option<Child>,
    /// The parent's pid, which is also its process group.
    pgid: i32,
    mpm: String,
}

impl Server {
    /// Starts httpd with `base_config` plus `extra` on the MPM under test.
    pub fn start(tag: &str, extra: &str) -> Server {
        Self::start_with_mpm(tag, extra, &mpm())
    }

    pub fn start_with_mpm(tag: &str, extra: &str, mpm: &str) -> Server {
        Self::start_inner(tag, extra, mpm, None)
    }

    /// Like `start`, with another build of the module (a wheel's, say).
    pub fn start_with_module(tag: &str, extra: &str, module: &Path) -> Server {
        let load = format!("LoadModule wsgi_module {}", module.display());
        Self::start_inner(tag, extra, &mpm(), Some(&load))
    }

    /// A server loading the module with `load` (LoadFile, LoadModule lines).
    pub fn start_with_load_lines(tag: &str, extra: &str, load: &str) -> Server {
        Self::start_inner(tag, extra, &mpm(), Some(load))
    }

    fn start_inner(tag: &str, extra: &str, mpm: &str, module: Option<&str>) -> Server {
        failure::remember_panics();
        let root = temp_dir(tag);
        // The free port is found by binding and letting go, so another
        // process (a parallel test) may take it first: then a new port.
        for attempt in 1.. {
            let port = free_port();
            let mut base = base_config(&root, port, mpm);
            if let Some(load) = module {
                let ours = format!("LoadModule wsgi_module {}", module_path().display());
                base = base.replace(&ours, load);
            }
            let conf = format!(
                "{}\n{}\n",
                base,
                extra.replace("@ROOT@", &root.display().to_string())
            );
            let conf_path = write_file(&root, "httpd.conf", &conf);
            let mut cmd = Command::new(httpd_bin());
            cores::allow(&mut cmd);
            let child = cmd
                .args(["-f", conf_path.to_str().unwrap(), "-DFOREGROUND"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(fs::File::create(root.join("stderr.log")).unwrap())
                .process_group(0)
                .spawn()
                .expect("starting httpd");
            let pgid = child.id() as i32;
            let mut server = Server {
                root: root.clone(),
                port,
                child: Some(child),
                pgid,
                mpm: mpm.to_string(),
            };
            if server.wait_ready(attempt < 5) {
                return server;
            }
            // Its httpd has exited; keep the directory for the next try.
            std::mem::forget(server);
        }
        unreachable!()
    }

    /// Like `start`, but `root` is chosen by the caller and `extra` may use @ROOT@.
    /// Waits until the server serves. False (only when `may_retry`): its
    /// port was taken by someone else meanwhile.
    fn wait_ready(&mut self, may_retry: bool) -> bool {
        let deadline = Instant::now() + START_DEADLINE;
        loop {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                let stderr = fs::read_to_string(self.root.join("stderr.log")).unwrap_or_default();
                if may_retry && stderr.contains("Address already in use") {
                    self.child = None;
                    return false;
                }
                panic!("httpd exited during start-up ({status})\n{}", self.logs());
            }
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok()
                && self.error_log().contains("resuming normal operations")
            {
                return true;
            }
            if Instant::now() > deadline {
                panic!(
                    "httpd not ready within {:?}\n{}",
                    START_DEADLINE,
                    self.logs()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(|c| c.id()).unwrap_or(0)
    }

    /// Live processes whose command line names this server's directory
    /// (its children, and daemons without a display-name).
    pub fn processes(&self) -> Vec<u32> {
        let needle = self.root.display().to_string();
        let mut out = Vec::new();
        for e in fs::read_dir("/proc").unwrap().flatten() {
            let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
                continue;
            };
            let cmd = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            if String::from_utf8_lossy(&cmd).contains(&needle) && alive(pid) {
                out.push(pid);
            }
        }
        out
    }

    pub fn error_log(&self) -> String {
        let mut s = String::new();
        if let Ok(mut f) = fs::File::open(self.root.join("error.log")) {
            let _ = f.read_to_string(&mut s);
        }
        s
    }

    pub fn logs(&self) -> String {
        let stderr = fs::read_to_string(self.root.join("stderr.log")).unwrap_or_default();
        format!(
            "--- error.log ({}) ---\n{}\n--- stderr ---\n{}",
            self.root.display(),
            self.error_log(),
            stderr
        )
    }

    /// The first error-log line containing `needle` (waiting for it, bounded).
    pub fn log_line(&self, needle: &str) -> String {
        assert!(
            self.wait_for_log(needle, Duration::from_secs(5)),
            "no '{needle}' in the log\n{}",
            self.logs()
        );
        self.error_log()
            .lines()
            .find(|l| l.contains(needle))
            .unwrap()
            .to_string()
    }

    /// Waits (bounded) until the error log contains `needle`.
    pub fn wait_for_log(&self, needle: &str, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if self.error_log().contains(needle) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    pub fn get(&self, path: &str) -> http::Response {
        self.request(&format!(
            "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: close\r\n\r\n",
            self.port
        ))
    }

    pub fn request(&self, raw: &str) -> http::Response {
        self.request_bytes(raw.as_bytes())
    }

    pub fn request_bytes(&self, raw: &[u8]) -> http::Response {
        http::send(self.port, raw)
            .unwrap_or_else(|e| panic!("request failed: {e}\n{}", self.logs()))
    }

    /// `apachectl graceful`: SIGUSR1 to the parent; waits (bounded) until
    /// the new generation is up.
    pub fn graceful(&self) {
        let before = self
            .error_log()
            .matches("resuming normal operations")
            .count();
        signal(self.pid() as i32, libc::SIGUSR1);
        let deadline = Instant::now() + START_DEADLINE;
        while self
            .error_log()
            .matches("resuming normal operations")
            .count()
            <= before
        {
            assert!(
                Instant::now() < deadline,
                "graceful restart did not finish\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `graceful`, then waits (bounded) until no Apache child of the
    /// previous generation still holds the listening socket: until then
    /// Apache itself may hand such a child a new connection (in embedded
    /// mode it then answers with the old code, as with mod_wsgi).
    pub fn graceful_and_old_children_stop_accepting(&self) {
        let old: Vec<u32> = self
            .processes()
            .into_iter()
            .filter(|p| *p != self.pid())
            .collect();
        let inode = listener_inode(self.port);
        self.graceful();
        if let Some(inode) = inode {
            wait_until(Duration::from_secs(5), || {
                old.iter().all(|p| !holds_socket(*p, &inode))
            });
        }
    }

    /// Rewrites the running server's httpd.conf (same port, MPM and
    /// paths) with `extra`, for the next restart.
    pub fn reconfigure(&self, extra: &str) {
        let conf = format!(
            "{}\n{}\n",
            base_config(&self.root, self.port, &self.mpm),
            extra.replace("@ROOT@", &self.root.display().to_string())
        );
        write_file(&self.root, "httpd.conf", &conf);
    }

    /// What `apachectl configtest` (`httpd -t`) says of the current
    /// httpd.conf: (passed, output).
    pub fn configtest(&self) -> (bool, String) {
        httpd_t(&self.root.join("httpd.conf"))
    }

    /// `apachectl graceful-stop`: SIGWINCH to the parent, then waits (up to
    /// `within`) for it to exit. Returns how long that took, or None if it
    /// was still running (the caller fails; Drop then stops it by force).
    pub fn graceful_stop(&mut self, within: Duration) -> Option<Duration> {
        self.signal_and_wait(libc::SIGWINCH, within)
    }

    /// Sends `sig` to the parent and waits (up to `within`) for it to exit,
    /// without touching anything else: what is left can then be inspected.
    pub fn signal_and_wait(&mut self, sig: i32, within: Duration) -> Option<Duration> {
        let t0 = Instant::now();
        let child = self.child.as_mut()?;
        signal(child.id() as i32, sig);
        while t0.elapsed() < within {
            if child.try_wait().ok().flatten().is_some() {
                // Drop still sends SIGKILL to the process group, in case.
                self.child = None;
                return Some(t0.elapsed());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        None
    }

    /// Stops httpd by PID: SIGTERM, a bounded wait, then SIGKILL to its
    /// whole process group. Returns how long the stop took.
    pub fn stop(&mut self) -> Duration {
        let t0 = Instant::now();
        let Some(mut child) = self.child.take() else {
            // Already gone (graceful_stop): stragglers in its group go too.
            signal(-self.pgid, 9);
            return Duration::ZERO;
        };
        let pid = child.id() as i32;
        signal(pid, 15);
        let deadline = t0 + STOP_DEADLINE;
        while Instant::now() < deadline {
            if child.try_wait().ok().flatten().is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        if child.try_wait().ok().flatten().is_none() {
            eprintln!(
                "httpd (pid {pid}) did not stop within {:?}; killing its process group",
                STOP_DEADLINE
            );
        }
        // Whatever is left in the group (children, stragglers) goes too.
        signal(-pid, 9);
        let _ = child.wait();
        t0.elapsed()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let failing = std::thread::panicking();
        self.stop();
        if failing {
            // The logs are long and CI shows the tail of the output, so
            // the failure itself is repeated after them.
            eprintln!(
                "{}\n{}--- this test failed at {}",
                self.logs(),
                cores::backtraces(&self.root, &httpd_bin()),
                failure::last().unwrap_or_default()
            );
        } else {
            let _ = fs::remove_dir_all(&self.root);
        }
    }
}

/// Sends a signal to a pid (negative: a process group).
pub fn signal(pid: i32, sig: i32) {
    // SAFETY: kill has no memory-safety preconditions.
    unsafe { libc::kill(pid, sig) };
}

/// Runs `httpd -t` on `extra` and returns (success, stderr).
pub fn configtest(extra: &str) -> (bool, String, PathBuf) {
    let root = temp_dir("configtest");
    let conf = format!(
        "{}\n{}\n",
        base_config(&root, free_port(), "event"),
        extra.replace("@ROOT@", &root.display().to_string())
    );
    let conf_path = write_file(&root, "httpd.conf", &conf);
    let (ok, text) = httpd_t(&conf_path);
    (ok, text, conf_path)
}

/// `httpd -t -f conf`: (passed, what it printed).
fn httpd_t(conf: &Path) -> (bool, String) {
    let out = Command::new(httpd_bin())
        .args(["-t", "-f", conf.to_str().unwrap()])
        .output()
        .expect("running httpd -t");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    (out.status.success(), text)
}

/// A directory holding the probe app and a world-writable markers/ dir.
pub fn probe_dir(tag: &str) -> PathBuf {
    let dir = temp_dir(tag);
    write_file(&dir, "probe.wsgi", include_str!("../apps/probe.wsgi"));
    let markers = dir.join("markers");
    fs::create_dir_all(&markers).unwrap();
    fs::set_permissions(&markers, fs::Permissions::from_mode(0o777)).unwrap();
    dir
}

/// Waits (bounded) until `cond` holds; returns whether it did.
pub fn wait_until(within: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    cond()
}
