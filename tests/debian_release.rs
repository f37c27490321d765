//! The package built for another Debian release (`scripts/package deb
//! --release SUITE`, run by scripts/test before this test) in a fresh
//! system of that release made from the mirror (scripts/debian-system):
//! `apt install` of the .deb, `a2enmod wsgi_rs`, a Flask site (the
//! release's own python3-flask) in daemon mode served by the release's
//! own `apache2ctl`, `graceful`, `stop`, then `apt purge`, and nothing of
//! the package left. Needs root, mmdebstrap and the mirror.

mod common;

use common::{free_port, temp_dir, wait_until};
use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// Where the package puts files or a2enmod and dpkg keep records of it,
/// inside the system.
const WATCHED: &[&str] = &["etc/apache2", "usr/lib/apache2/modules", "usr/share/doc"];

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn deb(release: &str) -> PathBuf {
    let dir = repo().join("target/debian").join(release);
    common::files::first_file(&dir, |n| n.ends_with(".deb")).unwrap_or_else(|| {
        panic!(
            "no .deb in {} (scripts/package deb --release {release} makes it)",
            dir.display()
        )
    })
}

/// A system of `release`, and commands run inside it.
struct System {
    dir: PathBuf,
}

impl System {
    fn make(release: &str) -> System {
        let dir = temp_dir(&format!("release-{release}")).join("system");
        let out = Command::new(repo().join("scripts/debian-system"))
            .args(["make", release])
            .arg(&dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "debian-system make {release}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        System { dir }
    }

    /// Runs `script` with bash inside; (success, stdout and stderr).
    fn run(&self, script: &str) -> (bool, String) {
        common::files::output_text(
            Command::new(repo().join("scripts/debian-system"))
                .arg("run")
                .arg(&self.dir)
                .args(["bash", "-euc", script]),
        )
    }

    fn run_ok(&self, script: &str) -> String {
        let (ok, text) = self.run(script);
        assert!(ok, "{script}\nfailed:\n{text}\nerror log:\n{}", self.log());
        text
    }

    fn path(&self, inside: &str) -> PathBuf {
        self.dir.join(inside.trim_start_matches('/'))
    }

    fn write(&self, inside: &str, text: &str) {
        let p = self.path(inside);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, text).unwrap();
    }

    fn log(&self) -> String {
        fs::read_to_string(self.path("/var/log/apache2/error.log")).unwrap_or_default()
    }

    fn apache_pid(&self) -> Option<i32> {
        fs::read_to_string(self.path("/run/apache2/apache2.pid"))
            .ok()
            .and_then(|t| t.trim().parse().ok())
    }

    /// Every path under the watched directories, relative to the system.
    fn listing(&self) -> BTreeSet<String> {
        let roots: Vec<PathBuf> = WATCHED.iter().map(|w| self.dir.join(w)).collect();
        common::files::paths_under(&roots)
    }
}

impl Drop for System {
    /// Apache stopped by its PID (the test may have failed half-way), then
    /// the whole system removed.
    fn drop(&mut self) {
        if let Some(pid) = self.apache_pid() {
            if common::alive(pid as u32) {
                common::signal(pid, libc::SIGTERM);
                if !wait_until(Duration::from_secs(15), || !common::alive(pid as u32)) {
                    common::signal(pid, libc::SIGKILL);
                }
            }
        }
        if let Some(top) = self.dir.parent() {
            let _ = fs::remove_dir_all(top);
        }
    }
}

fn get(port: u16, path: &str) -> Option<common::http::Response> {
    common::http::send(
        port,
        format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .ok()
}

/// The site: the Flask test app in a daemon group, on a loopback port.
fn site(sys: &System, port: u16) {
    sys.write("/srv/site/app.wsgi", include_str!("apps/flask_app.wsgi"));
    sys.write(
        "/etc/apache2/ports.conf",
        &format!("Listen 127.0.0.1:{port}\n"),
    );
    sys.write(
        "/etc/apache2/sites-available/site.conf",
        "<VirtualHost *:*>\n\
         ServerName 127.0.0.1\n\
         WSGIDaemonProcess site processes=2 threads=4 display-name=%{GROUP}\n\
         WSGIProcessGroup site\n\
         WSGIApplicationGroup %{GLOBAL}\n\
         WSGIScriptAlias / /srv/site/app.wsgi\n\
         <Directory /srv/site>\n    Require all granted\n</Directory>\n\
         </VirtualHost>\n",
    );
}

/// apache2ctl start, the site (run by the release's Python), graceful,
/// the site again, stop.
fn serve_restart_stop(sys: &System, port: u16, python: &str) {
    sys.run_ok("apache2ctl start");
    let served = || {
        wait_until(Duration::from_secs(30), || {
            get(port, "/").is_some_and(|r| r.status == 200 && r.text() == "flask says hi")
        })
    };
    assert!(served(), "not serving\n{}", sys.log());
    let w = common::json::parse_response(&get(port, "/where").expect("no answer"));
    assert_eq!(w.get("prefix").str(), "/usr", "{}", sys.log());
    assert!(
        w.get("flask")
            .str()
            .starts_with("/usr/lib/python3/dist-packages/flask"),
        "{}",
        w.get("flask").str()
    );
    let version = python.trim_start_matches("python");
    assert!(
        w.get("python").str().starts_with(&format!("{version}.")),
        "the release's Python {version} runs the app, not {}",
        w.get("python").str()
    );
    assert_eq!(get(port, "/fail").map(|r| r.status), Some(500));
    assert!(
        wait_until(Duration::from_secs(5), || sys
            .log()
            .contains("flask view failed on purpose")),
        "{}",
        sys.log()
    );

    // graceful: a new generation serves.
    sys.run_ok("apache2ctl graceful");
    assert!(
        wait_until(Duration::from_secs(20), || sys
            .log()
            .matches("resuming normal operations")
            .count()
            == 2),
        "no new generation after graceful\n{}",
        sys.log()
    );
    assert!(served(), "not serving after graceful\n{}", sys.log());

    let pid = sys.apache_pid().expect("no pid file");
    sys.run_ok("apache2ctl stop");
    assert!(
        wait_until(Duration::from_secs(20), || !common::alive(pid as u32)),
        "Apache (pid {pid}) still running after stop\n{}",
        sys.log()
    );
    assert!(get(port, "/").is_none(), "still answering after stop");
}

fn check_release(release: &str, python: &str) {
    let deb = deb(release);
    let sys = System::make(release);
    // Apache and Flask from the release itself, before the package, so
    // that the listing compared at the end is the release's own.
    sys.run_ok(
        "apt-get -qq update && apt-get -qq install -y --no-install-recommends apache2 python3-flask >/dev/null",
    );
    let port = free_port();
    site(&sys, port);
    sys.run_ok("a2dissite -q 000-default && a2ensite -q site");
    let before = sys.listing();

    fs::copy(&deb, sys.path("/tmp/mod-wsgi-rs.deb")).unwrap();
    sys.run_ok("apt-get -qq install -y /tmp/mod-wsgi-rs.deb >/dev/null && a2enmod -q wsgi_rs");
    let fields = sys.run_ok("dpkg-query -W -f='${Depends}' mod-wsgi-rs");
    assert!(fields.contains(&format!("lib{python}")), "{fields}");
    let text = sys.run_ok("apache2ctl configtest 2>&1");
    assert!(text.contains("Syntax OK"), "{text}");

    serve_restart_stop(&sys, port, python);

    // purge, and autoremove what apt installed only for the package (its
    // libpython, which the release's own python3 does not need).
    sys.run_ok(
        "a2dismod -q wsgi_rs && apt-get -qq purge -y mod-wsgi-rs >/dev/null \
         && apt-get -qq autoremove --purge -y >/dev/null",
    );
    let (_, status) = sys.run("dpkg-query -W -f='${Status}' mod-wsgi-rs");
    assert!(!status.contains("installed"), "{status}");
    let after = sys.listing();
    let added: Vec<_> = after.difference(&before).collect();
    let removed: Vec<_> = before.difference(&after).collect();
    assert!(
        added.is_empty() && removed.is_empty(),
        "left behind: {added:?}\ntaken away: {removed:?}"
    );
}

fn runnable() -> bool {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: making a system needs root");
        return false;
    }
    true
}

#[test]
fn trixie_installs_serves_restarts_and_purges_cleanly() {
    if runnable() {
        check_release("trixie", "python3.13");
    }
}

/// Debian unstable: CPython 3.14 and Apache 2.4.69.
#[test]
fn sid_installs_serves_restarts_and_purges_cleanly() {
    if runnable() {
        check_release("sid", "python3.14");
    }
}

/// dist/'s cp313 wheel (scripts/package wheel with a CPython 3.13).
fn cp313_wheel() -> PathBuf {
    common::files::first_file(&repo().join("dist"), |n| {
        n.starts_with("mod_wsgi_rs-") && n.contains("-cp313-cp313-manylinux_")
    })
    .expect("no cp313 manylinux wheel in dist/ (scripts/test builds one with CPython 3.13)")
}

/// A start-server running inside a system: stopped by its PID (SIGTERM,
/// a graceful stop), its process group killed if it does not go.
struct StartServer(std::process::Child);

impl Drop for StartServer {
    fn drop(&mut self) {
        let pid = self.0.id() as i32;
        common::signal(pid, libc::SIGTERM);
        if !wait_until(Duration::from_secs(20), || {
            matches!(self.0.try_wait(), Ok(Some(_)))
        }) {
            common::signal(-pid, libc::SIGKILL);
            let _ = self.0.wait();
        }
    }
}

/// The wheel built on this machine, for another installation of
/// CPython 3.13 (trixie's own), in a virtualenv of that Python: no rpath or
/// libpython of the build machine, mod_wsgi-express loads trixie's
/// libpython and serves with trixie's Apache.
#[test]
fn a_wheel_built_here_serves_from_a_virtualenv_of_trixies_python() {
    if !runnable() {
        return;
    }
    if !Path::new("/opt/python/3.13/bin/python3.13").exists() {
        eprintln!("skipped: no CPython 3.13 here to build the cp313 wheel with (scripts/setup)");
        return;
    }
    let wheel = cp313_wheel();
    let sys = System::make("trixie");
    sys.run_ok(
        "apt-get -qq update && apt-get -qq install -y --no-install-recommends \
         apache2 python3-venv libpython3.13 >/dev/null",
    );
    let name = wheel.file_name().unwrap().to_str().unwrap();
    fs::copy(&wheel, sys.path(&format!("/tmp/{name}"))).unwrap();
    sys.run_ok(&format!(
        "python3 -m venv /srv/venv && /srv/venv/bin/pip install -q --no-index /tmp/{name}"
    ));
    sys.write(
        "/srv/app.wsgi",
        "import sys\n\
         def application(environ, start_response):\n\
         \x20   start_response('200 OK', [('Content-Type', 'text/plain')])\n\
         \x20   return [('%s %s' % (sys.version.split()[0], sys.prefix)).encode()]\n",
    );
    let port = free_port();
    let mut cmd = Command::new(repo().join("scripts/debian-system"));
    cmd.arg("run").arg(&sys.dir).args([
        "/srv/venv/bin/mod_wsgi-express",
        "start-server",
        "/srv/app.wsgi",
        "--port",
        &port.to_string(),
        "--user",
        "www-data",
        "--group",
        "www-data",
        "--server-root",
        "/tmp/express-root",
    ]);
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    let _server = StartServer(
        cmd.stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let conf = || fs::read_to_string(sys.path("/tmp/express-root/httpd.conf")).unwrap_or_default();
    let logs = || fs::read_to_string(sys.path("/tmp/express-root/error_log")).unwrap_or_default();
    let mut body = String::new();
    let served = wait_until(Duration::from_secs(60), || match get(port, "/") {
        Some(r) if r.status == 200 => {
            body = r.text();
            true
        }
        _ => false,
    });
    assert!(served, "not serving\n{}\n{}", conf(), logs());
    assert!(
        body.starts_with("3.13.") && body.ends_with(" /srv/venv"),
        "{body}"
    );
    assert!(
        conf().contains("LoadFile \"/usr/lib/x86_64-linux-gnu/libpython3.13.so.1.0\""),
        "trixie's libpython is not the one loaded:\n{}",
        conf()
    );
}
