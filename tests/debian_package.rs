//! The Debian package (`scripts/package deb`, run by scripts/test before
//! this test) in the real system: `dpkg -i`, `a2enmod wsgi_rs`, the
//! Flask site of `apache-conf/daemon.conf` served by Debian's Apache
//! (`apache2ctl` with the system's enabled modules) on a free loopback
//! port, `apachectl graceful` and `stop`, then `a2dismod`, `dpkg -r` and
//! `dpkg -P`, and nothing of the package left. Needs root; the machine is
//! left as it was found, even when the test fails.

mod common;

use common::files::output_text as run;
use common::sites::flask_venv;
use common::{free_port, temp_dir, wait_until, write_file};
use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const PACKAGE: &str = "mod-wsgi-rs";

/// Where the package puts files or a2enmod/dpkg keep records of it.
const WATCHED: &[&str] = &[
    "/etc/apache2",
    "/usr/lib/apache2/modules",
    "/var/lib/apache2",
    "/usr/share/doc",
];

fn deb() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/debian");
    common::files::first_file(&dir, |n| n.ends_with(".deb")).unwrap_or_else(|| {
        panic!(
            "no .deb in {} (scripts/package deb makes it)",
            dir.display()
        )
    })
}

fn run_ok(cmd: &mut Command) -> String {
    let (ok, text) = run(cmd);
    assert!(ok, "{cmd:?} failed:\n{text}");
    text
}

fn installed(package: &str) -> bool {
    run(Command::new("dpkg-query").args(["-W", "-f=${Status}", package]))
        .1
        .contains("install ok installed")
}

/// Every path under the watched directories.
fn listing() -> BTreeSet<String> {
    let mut out = common::files::paths_under(WATCHED);
    // a2enmod's own record of what the admin chose, made by its first use
    // on a machine and shared by every module: the directories stay, our
    // module's entries in them must not (they are still compared).
    for dir in A2ENMOD_STATE {
        out.remove(*dir);
    }
    out
}

const A2ENMOD_STATE: &[&str] = &[
    "/var/lib/apache2/module/enabled_by_admin",
    "/var/lib/apache2/module/disabled_by_admin",
];

/// Undoes whatever of the install is still there (the test failed
/// half-way): the server by PID, the module, the package.
struct Cleanup {
    pid_file: PathBuf,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if let Some(pid) = fs::read_to_string(&self.pid_file)
            .ok()
            .and_then(|t| t.trim().parse::<i32>().ok())
        {
            common::signal(pid, libc::SIGTERM);
            if !wait_until(Duration::from_secs(15), || !common::alive(pid as u32)) {
                common::signal(pid, libc::SIGKILL);
            }
        }
        if Path::new("/etc/apache2/mods-enabled/wsgi_rs.load").exists() {
            let _ = run(Command::new("a2dismod").args(["-q", "-f", "wsgi_rs"]));
        }
        let _ = run(Command::new("dpkg").args(["-P", PACKAGE]));
    }
}

/// An Apache configuration directory for `apache2ctl` (APACHE_CONFDIR):
/// the system's enabled modules, a loopback port, the shipped daemon-mode
/// site with /srv/site replaced, and run/lock/log files of its own.
fn confdir(site: &Path, venv: &Path, port: u16) -> PathBuf {
    let root = temp_dir("debpkg-apache2");
    let r = root.display();
    write_file(
        &root,
        "envvars",
        &format!(
            "unset HOME\nexport APACHE_RUN_USER=www-data\nexport APACHE_RUN_GROUP=www-data\n\
             export APACHE_PID_FILE={r}/run/apache2.pid\nexport APACHE_RUN_DIR={r}/run\n\
             export APACHE_LOCK_DIR={r}/lock\nexport APACHE_LOG_DIR={r}/log\nexport LANG=C\n"
        ),
    );
    for d in ["run", "lock", "log"] {
        fs::create_dir_all(root.join(d)).unwrap();
    }
    let shipped =
        fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("apache-conf/daemon.conf"))
            .unwrap()
            .replace("/srv/site/venv", venv.to_str().unwrap())
            .replace("/srv/site", site.to_str().unwrap());
    write_file(
        &root,
        "apache2.conf",
        &format!(
            "DefaultRuntimeDir ${{APACHE_RUN_DIR}}\nPidFile ${{APACHE_PID_FILE}}\n\
             Mutex file:${{APACHE_LOCK_DIR}} default\n\
             User ${{APACHE_RUN_USER}}\nGroup ${{APACHE_RUN_GROUP}}\n\
             ErrorLog ${{APACHE_LOG_DIR}}/error.log\nLogLevel info\n\
             IncludeOptional /etc/apache2/mods-enabled/*.load\n\
             IncludeOptional /etc/apache2/mods-enabled/*.conf\n\
             Listen 127.0.0.1:{port}\nServerName 127.0.0.1\n{shipped}"
        ),
    );
    root
}

fn apache2ctl(confdir: &Path, action: &str) -> (bool, String) {
    // APACHE_STARTED_BY_SYSTEMD: start httpd itself, not systemd's unit.
    run(Command::new("apache2ctl")
        .arg(action)
        .env("APACHE_CONFDIR", confdir)
        .env("APACHE_STARTED_BY_SYSTEMD", "true"))
}

fn get(port: u16, path: &str) -> Option<common::http::Response> {
    common::http::send(
        port,
        format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .ok()
}

/// The Flask test app as check_flask_site (tests/common/sites.rs) sees
/// it, on a server this test did not start itself.
fn check_flask_site(port: u16, venv: &Path, logs: &dyn Fn() -> String) {
    let w = common::json::parse_response(&get(port, "/where").expect("no answer"));
    assert_eq!(w.get("prefix").str(), venv.to_str().unwrap(), "{}", logs());
    let body = "a=1&b=two";
    let post = format!(
        "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let r = common::http::send(port, post.as_bytes()).unwrap();
    assert_eq!(
        common::json::parse_response(&r).get("form").get("b").str(),
        "two"
    );
    assert_eq!(get(port, "/fail").map(|r| r.status), Some(500));
    assert!(
        wait_until(Duration::from_secs(5), || logs()
            .contains("flask view failed on purpose")),
        "{}",
        logs()
    );
}

/// The package's control fields the issue asks for.
fn check_fields(deb: &Path) {
    let fields = run_ok(Command::new("dpkg-deb").args(["-f"]).arg(deb));
    for f in [
        "Depends: apache2-api-20120211",
        "libpython3.",
        "Conflicts: libapache2-mod-wsgi-py3",
        "Replaces: libapache2-mod-wsgi-py3",
    ] {
        assert!(fields.contains(f), "{f:?} missing:\n{fields}");
    }
}

/// dpkg -i and a2enmod; the files in place.
fn install_and_enable(deb: &Path) {
    run_ok(Command::new("dpkg").arg("-i").arg(deb));
    for f in [
        "/usr/lib/apache2/modules/mod_wsgi_rs.so",
        "/etc/apache2/mods-available/wsgi_rs.load",
        "/etc/apache2/mods-available/wsgi_rs.conf",
        "/usr/share/doc/mod-wsgi-rs/copyright",
    ] {
        assert!(Path::new(f).exists(), "{f} not installed");
    }
    run_ok(Command::new("a2enmod").arg("wsgi_rs"));
    assert!(Path::new("/etc/apache2/mods-enabled/wsgi_rs.load").exists());
}

/// apache2ctl configtest, start, the site, graceful, the site, stop.
fn serve_restart_stop(conf: &Path, port: u16, venv: &Path) {
    let log = conf.join("log/error.log");
    let logs = || fs::read_to_string(&log).unwrap_or_default();
    let (ok, text) = apache2ctl(conf, "configtest");
    assert!(ok && text.contains("Syntax OK"), "{text}");
    let (ok, text) = apache2ctl(conf, "start");
    assert!(ok, "apache2ctl start: {text}\n{}", logs());
    let served = || {
        wait_until(Duration::from_secs(30), || {
            get(port, "/").is_some_and(|r| r.status == 200 && r.text() == "flask says hi")
        })
    };
    assert!(served(), "not serving\n{}", logs());
    assert!(logs().contains("daemon process"), "{}", logs());
    check_flask_site(port, venv, &logs);
    assert_eq!(
        get(port, "/static/hello.txt").map(|r| r.text()),
        Some("static hello\n".into())
    );

    // graceful: the same site answers from the new generation.
    let (ok, text) = apache2ctl(conf, "graceful");
    assert!(ok, "apache2ctl graceful: {text}");
    let generations = || logs().matches("resuming normal operations").count();
    assert!(
        wait_until(Duration::from_secs(20), || generations() == 2),
        "no new generation after graceful\n{}",
        logs()
    );
    assert!(served(), "not serving after graceful\n{}", logs());

    let pid: u32 = fs::read_to_string(conf.join("run/apache2.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let (ok, text) = apache2ctl(conf, "stop");
    assert!(ok, "apache2ctl stop: {text}");
    assert!(
        wait_until(Duration::from_secs(20), || !common::alive(pid)),
        "Apache (pid {pid}) still running after stop\n{}",
        logs()
    );
    assert!(get(port, "/").is_none(), "still answering after stop");
}

/// a2dismod, dpkg -r (conffiles stay, as for any package), dpkg -P; then
/// nothing added or taken away since `before`.
fn remove_and_purge(before: &BTreeSet<String>) {
    run_ok(Command::new("a2dismod").arg("wsgi_rs"));
    assert!(!Path::new("/etc/apache2/mods-enabled/wsgi_rs.load").exists());
    run_ok(Command::new("dpkg").args(["-r", PACKAGE]));
    assert!(!Path::new("/usr/lib/apache2/modules/mod_wsgi_rs.so").exists());
    assert!(Path::new("/etc/apache2/mods-available/wsgi_rs.conf").exists());
    run_ok(Command::new("dpkg").args(["-P", PACKAGE]));
    let after = listing();
    let added: Vec<_> = after.difference(before).collect();
    let removed: Vec<_> = before.difference(&after).collect();
    assert!(
        added.is_empty() && removed.is_empty(),
        "left behind: {added:?}\ntaken away: {removed:?}"
    );
}

#[test]
fn the_deb_installs_serves_restarts_and_uninstalls_cleanly() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: dpkg -i needs root");
        return;
    }
    let deb = deb();
    assert!(
        !installed(PACKAGE),
        "{PACKAGE} is already installed: this test installs and removes it itself"
    );
    // Both register wsgi_module, so ours Conflicts with and Replaces
    // Debian's mod_wsgi: dpkg -i would remove it, and this test must leave
    // the machine as it found it.
    if installed("libapache2-mod-wsgi-py3") {
        eprintln!(
            "skipped: libapache2-mod-wsgi-py3 is installed here, and installing {PACKAGE} \
             would replace it (a fresh machine, as in CI, does not have it)"
        );
        return;
    }
    check_fields(&deb);
    let before = listing();
    let venv = flask_venv();
    let site = temp_dir("debpkg-site");
    write_file(&site, "app.wsgi", include_str!("apps/flask_app.wsgi"));
    write_file(&site, "static/hello.txt", "static hello\n");
    let port = free_port();
    let conf = confdir(&site, &venv, port);
    let _cleanup = Cleanup {
        pid_file: conf.join("run/apache2.pid"),
    };
    install_and_enable(&deb);
    serve_restart_stop(&conf, port, &venv);
    remove_and_purge(&before);
    let _ = fs::remove_dir_all(&site);
    let _ = fs::remove_dir_all(&conf);
}
