//! The daemon-mode hardening tests' server: an app directory with the
//! hardening app, a group `site` at /app and embedded mode at
//! /embedded, and ways to act as a local process of Apache's User.
#![allow(dead_code)]

use super::{temp_dir, write_file, Server};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::time::Duration;

pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// A directory with the hardening app and a markers/ directory the
/// daemons (running as Apache's User) can write to.
pub fn app_dir(tag: &str) -> PathBuf {
    let dir = temp_dir(tag);
    write_file(&dir, "app.wsgi", include_str!("../apps/hardening.wsgi"));
    write_file(&dir, "forge.py", include_str!("../apps/forge.py"));
    let markers = dir.join("markers");
    fs::create_dir_all(&markers).unwrap();
    fs::set_permissions(&markers, fs::Permissions::from_mode(0o777)).unwrap();
    dir
}

/// A server whose /app runs in daemon group `site`, and /embedded in the
/// Apache children.
pub fn server(tag: &str, options: &str, extra: &str) -> (Server, PathBuf) {
    let dir = app_dir(tag);
    let conf = format!(
        "WSGIDaemonProcess site {options}\n\
         WSGIScriptAlias /app {d}/app.wsgi process-group=site\n\
         WSGIScriptAlias /embedded {d}/app.wsgi\n{extra}",
        d = dir.display()
    );
    let s = Server::start(tag, &conf);
    assert!(
        s.wait_for_log("daemon process 1 ready", Duration::from_secs(20)),
        "daemons did not start\n{}",
        s.logs()
    );
    (s, dir)
}

/// Group `site`'s socket, as its daemon's ready line names it.
pub fn socket_path(s: &Server) -> PathBuf {
    group_socket(s, "site")
}

/// Group `name`'s socket, as its daemon's ready line names it.
pub fn group_socket(s: &Server, name: &str) -> PathBuf {
    let ready = format!("process='{name}'): daemon process 1 ready");
    assert!(
        s.wait_for_log(&ready, Duration::from_secs(20)),
        "{}",
        s.logs()
    );
    let line = s.log_line(&ready);
    let path = line
        .split("socket ")
        .nth(1)
        .expect("socket in the ready line");
    PathBuf::from(path.trim().trim_end_matches(')'))
}

/// The pid of the group's daemon process 1, as its ready line gives it.
pub fn daemon_pid(s: &Server) -> i32 {
    let line = s.log_line("daemon process 1 ready");
    let pid = line
        .split("ready (pid=")
        .nth(1)
        .expect("pid in the ready line");
    pid.split(',').next().unwrap().parse().unwrap()
}

/// `cmd` as a command that runs as Apache's User when the tests run as
/// root (as a CGI or an embedded app of another site would), else as
/// ourselves.
fn apache_user_command(cmd: &[&str]) -> std::process::Command {
    let mut full: Vec<&str> = Vec::new();
    if is_root() {
        full.extend([
            "setpriv",
            "--reuid=nobody",
            "--regid=nogroup",
            "--clear-groups",
        ]);
    }
    full.extend(cmd);
    let mut c = std::process::Command::new(full[0]);
    c.args(&full[1..]);
    c
}

/// Runs `cmd` as Apache's User (see `apache_user_command`) to its end.
pub fn as_apache_user(cmd: &[&str]) -> std::process::Output {
    apache_user_command(cmd)
        .output()
        .expect("running the command")
}

/// `cmd` started in the background as `as_apache_user` runs it, killed
/// by its pid when dropped (a test that fails leaves nothing running).
pub struct Background(pub std::process::Child);

impl Background {
    pub fn as_apache_user(cmd: &[&str]) -> Background {
        let child = apache_user_command(cmd)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("starting the command");
        Background(child)
    }

    /// Its standard output once it exits within `within` (None: still
    /// running then).
    pub fn output_within(&mut self, within: Duration) -> Option<String> {
        let exited = super::wait_until(within, || matches!(self.0.try_wait(), Ok(Some(_))));
        if !exited {
            return None;
        }
        let mut out = String::new();
        use std::io::Read;
        self.0.stdout.take()?.read_to_string(&mut out).ok()?;
        Some(out)
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}
