//! The pip way: a fresh virtualenv with the wheel `scripts/package wheel`
//! built (no compiler, no index), and `mod_wsgi-express start-server`
//! run from it in its own process group, stopped by PID on drop.

use super::{alive, http, signal, temp_dir, wait_until};
use std::fs;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

/// The Python the suites run against (scripts/test's PYO3_PYTHON).
pub fn test_python() -> String {
    std::env::var("PYO3_PYTHON").unwrap_or_else(|_| "/usr/bin/python3".into())
}

/// dist/'s wheel for the test Python (cp3XY tag).
pub fn wheel() -> PathBuf {
    let out = Command::new(test_python())
        .args(["-c", "import sys; print('cp%d%d' % sys.version_info[:2])"])
        .output()
        .unwrap();
    let tag = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let dist = Path::new(env!("CARGO_MANIFEST_DIR")).join("dist");
    let found = fs::read_dir(&dist).ok().and_then(|d| {
        d.filter_map(|e| e.ok().map(|e| e.path())).find(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            name.starts_with("mod_wsgi_rs-") && name.contains(&format!("-{tag}-{tag}-"))
        })
    });
    found.unwrap_or_else(|| {
        panic!(
            "no {tag} wheel in {}: run `PYTHON={} scripts/package wheel` (scripts/test does)",
            dist.display(),
            test_python()
        )
    })
}

/// A fresh virtualenv of the test Python with the wheel installed by pip
/// from the file alone (--no-index) and a PATH without cargo: no build
/// step. `packages` come from PyPI afterwards.
pub fn fresh_venv(tag: &str, packages: &[&str]) -> PathBuf {
    let venv = temp_dir(tag).join("venv");
    super::run_ok(Command::new(test_python()).args(["-m", "venv"]).arg(&venv));
    let pip = venv.join("bin/pip");
    super::run_ok(
        Command::new(&pip)
            .args(["install", "--quiet", "--no-index"])
            .arg(wheel())
            .env("PATH", "/usr/bin:/bin"),
    );
    if !packages.is_empty() {
        super::run_ok(
            Command::new(&pip)
                .args(["install", "--quiet"])
                .args(packages),
        );
    }
    venv
}

/// `mod_wsgi-express ARGS` from `venv`, run to its end.
pub fn express(venv: &Path, args: &[&str]) -> Output {
    Command::new(venv.join("bin/mod_wsgi-express"))
        .args(args)
        .output()
        .unwrap()
}

/// A running `mod_wsgi-express start-server` (the supervisor's pid).
pub struct StartServer {
    pub child: Child,
    pub port: u16,
    pub root: PathBuf,
    pub out: PathBuf,
}

impl StartServer {
    /// Starts it (`cwd`: its working directory) and waits until `probe`
    /// answers on `port` with anything but a refused connection.
    pub fn start(venv: &Path, cwd: &Path, port: u16, args: &[&str], probe: &str) -> StartServer {
        let mut cmd = Command::new(venv.join("bin/mod_wsgi-express"));
        cmd.arg("start-server").args(args);
        Self::spawn(cmd, cwd, port, probe)
    }

    /// Runs `cmd` (start-server's options follow, or Django's runmodwsgi)
    /// with `--server-root cwd/sr`, as `start` does.
    pub fn spawn(mut cmd: Command, cwd: &Path, port: u16, probe: &str) -> StartServer {
        // Short: daemon socket paths must fit a UNIX socket address.
        let root = cwd.join("sr");
        let out = cwd.join("start-server.out");
        let log = fs::File::create(&out).unwrap();
        let child = cmd
            .arg("--server-root")
            .arg(&root)
            .current_dir(cwd)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .process_group(0)
            .spawn()
            .unwrap();
        let mut s = StartServer {
            child,
            port,
            root,
            out,
        };
        let up = wait_until(Duration::from_secs(60), || {
            s.exited().is_none() && s.try_get(probe).is_some()
        });
        assert!(up, "start-server did not come up\n{}", s.logs());
        s
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The supervisor's exit code once it has exited.
    pub fn exited(&mut self) -> Option<i32> {
        self.child
            .try_wait()
            .ok()
            .flatten()
            .map(|s| s.code().unwrap_or(-1))
    }

    pub fn try_get(&self, path: &str) -> Option<http::Response> {
        let raw = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
        http::send(self.port, raw.as_bytes()).ok()
    }

    pub fn get(&self, path: &str) -> http::Response {
        self.try_get(path)
            .unwrap_or_else(|| panic!("GET {path} failed\n{}", self.logs()))
    }

    /// What start-server printed, and the error log.
    pub fn logs(&self) -> String {
        format!(
            "--- start-server output\n{}\n--- error_log\n{}",
            fs::read_to_string(&self.out).unwrap_or_default(),
            fs::read_to_string(self.root.join("error_log")).unwrap_or_default()
        )
    }

    /// Sends `sig` to the supervisor; its exit code within `within`.
    pub fn signal_and_wait(&mut self, sig: i32, within: Duration) -> Option<i32> {
        signal(self.pid() as i32, sig);
        self.wait_exit(within)
    }

    /// Its exit code, once it exits within `within`.
    pub fn wait_exit(&mut self, within: Duration) -> Option<i32> {
        let mut code = None;
        wait_until(within, || {
            code = self.exited();
            code.is_some()
        });
        code
    }
}

impl Drop for StartServer {
    fn drop(&mut self) {
        if self.exited().is_some() {
            return;
        }
        let pid = self.pid();
        signal(pid as i32, libc::SIGTERM);
        signal(pid as i32, libc::SIGTERM); // the second one: stop now
        if !wait_until(Duration::from_secs(20), || self.exited().is_some()) {
            signal(-(pid as i32), libc::SIGKILL);
            let _ = self.child.wait();
        }
        let _ = alive(pid);
    }
}

/// Whether the tests run as root.
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// The account options mod_wsgi-express needs as root (the one that
/// serves); none otherwise.
pub fn account() -> Vec<&'static str> {
    if is_root() {
        vec!["--user", "www-data", "--group", "www-data"]
    } else {
        vec![]
    }
}

/// An app directory with `files`, a fresh venv with the wheel (and
/// `packages`), and `start-server SCRIPT --host 127.0.0.1 --port P` with
/// the account options and `extra`, up and answering `/`.
pub fn serve(
    tag: &str,
    files: &[(&str, &str)],
    packages: &[&str],
    script: &str,
    extra: &[&str],
) -> (PathBuf, PathBuf, StartServer) {
    let dir = temp_dir(tag);
    for (name, text) in files {
        super::write_file(&dir, name, text);
    }
    let venv = fresh_venv(tag, packages);
    let port = super::free_port();
    let p = port.to_string();
    let mut args = vec![script, "--host", "127.0.0.1", "--port", &p];
    args.extend(account());
    args.extend(extra);
    let s = StartServer::start(&venv, &dir, port, &args, "/");
    (dir, venv, s)
}

/// A server root's Apache, found by its pid file and stopped by that pid
/// when dropped (SIGTERM, then SIGKILL to its process group).
pub struct PidFileServer {
    pub root: PathBuf,
}

impl PidFileServer {
    pub fn pid(&self) -> Option<u32> {
        fs::read_to_string(self.root.join("httpd.pid"))
            .ok()?
            .trim()
            .parse()
            .ok()
    }
}

impl Drop for PidFileServer {
    fn drop(&mut self) {
        let Some(pid) = self.pid().filter(|p| alive(*p)) else {
            return;
        };
        signal(pid as i32, libc::SIGTERM);
        if !wait_until(Duration::from_secs(15), || !alive(pid)) {
            signal(-(pid as i32), libc::SIGKILL);
        }
    }
}
