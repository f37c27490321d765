//! Python mistakes that `apachectl configtest` (httpd -t) catches, naming
//! both sides: a virtualenv or home from another Python than the module's,
//! a home, a virtualenv's base Python or a python-path= the process's user
//! cannot read, and (warnings only) WSGIScriptAlias targets that are
//! missing or unreadable.

mod common;

use common::{configtest, temp_dir, write_file};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// The module's Python, as "3.11".
fn our_python() -> String {
    let py = std::env::var("PYO3_PYTHON").unwrap_or_else(|_| "/usr/bin/python3".into());
    let out = std::process::Command::new(py)
        .args(["-c", "import sys; print('%d.%d' % sys.version_info[:2])"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Another minor version than ours.
fn other_python() -> String {
    if our_python() == "3.12" {
        "3.11".into()
    } else {
        "3.12".into()
    }
}

/// A directory that looks like a virtualenv of `version`, on a real base.
fn fake_venv(dir: &Path, version: &str) -> PathBuf {
    let venv = dir.join(format!("venv{version}"));
    write_file(
        &venv,
        "pyvenv.cfg",
        &format!("home = /usr/bin\ninclude-system-site-packages = false\nversion = {version}.1\n"),
    );
    venv
}

fn mode(p: &Path, m: u32) {
    fs::set_permissions(p, fs::Permissions::from_mode(m)).unwrap();
}

fn assert_refused(conf: &str, needles: &[&str]) {
    let (ok, out, _) = configtest(conf);
    assert!(!ok, "configtest passed:\n{conf}\n{out}");
    for n in needles {
        assert!(out.contains(n), "{n:?} missing from:\n{out}");
    }
}

#[test]
fn a_virtualenv_of_another_python_is_refused_naming_both() {
    let dir = temp_dir("pycheck-venv");
    let other = other_python();
    let venv = fake_venv(&dir, &other);
    let ours = our_python();
    let v = venv.display();
    let ours_runs = format!("this module runs Python {ours}");
    let made = format!("a virtualenv made with Python {other}");
    assert_refused(
        &format!("WSGIPythonHome {v}\n"),
        &["WSGIPythonHome", &made, &ours_runs],
    );
    assert_refused(
        &format!("WSGIDaemonProcess site python-home={v}\n"),
        &["WSGIDaemonProcess site python-home=", &made, &ours_runs],
    );
    // The same Python's virtualenv is fine.
    let good = fake_venv(&dir, &ours);
    let (ok, out, _) = configtest(&format!("WSGIPythonHome {}\n", good.display()));
    assert!(ok, "{out}");
}

#[test]
fn a_home_with_another_pythons_library_is_refused() {
    let dir = temp_dir("pycheck-prefix");
    let home = dir.join("prefix");
    fs::create_dir_all(home.join(format!("lib/python{}", other_python()))).unwrap();
    assert_refused(
        &format!("WSGIPythonHome {}\n", home.display()),
        &[
            &format!("has a standard library for Python {} only", other_python()),
            &format!("this module runs Python {}", our_python()),
        ],
    );
}

#[test]
fn homes_and_paths_the_user_cannot_read_are_refused() {
    let dir = temp_dir("pycheck-access");
    let locked = dir.join("locked");
    let venv = fake_venv(&locked, &our_python());
    mode(&locked, 0o700);
    let v = venv.display();
    // The daemon runs as Apache's User (nobody in the tests): it cannot
    // enter the root-only directory.
    assert_refused(
        &format!("WSGIDaemonProcess site python-home={v}\n"),
        &[
            "python-home=",
            "user 'nobody'",
            "cannot read it",
            "cannot be entered",
        ],
    );
    assert_refused(
        &format!("WSGIDaemonProcess site python-path={}\n", locked.display()),
        &["python-path=", "user 'nobody'", "cannot read it"],
    );
    // A virtualenv whose base Python lives where the user cannot go (a
    // pyenv build under /root, say).
    let base = locked.join("python");
    fs::create_dir_all(base.join("bin")).unwrap();
    let open_venv = dir.join("open-venv");
    write_file(
        &open_venv,
        "pyvenv.cfg",
        &format!(
            "home = {}/bin\nversion = {}.1\n",
            base.display(),
            our_python()
        ),
    );
    assert_refused(
        &format!(
            "WSGIDaemonProcess site python-home={}\n",
            open_venv.display()
        ),
        &["its base Python", "cannot read it"],
    );
    // With WSGIRestrictEmbedded On, Apache's children start no Python.
    let (ok, out, _) = configtest(&format!(
        "WSGIRestrictEmbedded On\nWSGIPythonPath {}\n",
        locked.display()
    ));
    assert!(ok, "{out}");
}

#[test]
fn missing_or_unreadable_scripts_are_warnings() {
    let dir = temp_dir("pycheck-scripts");
    let missing = dir.join("nowhere.wsgi");
    let hidden = dir.join("hidden");
    write_file(&hidden, "app.wsgi", "application = None\n");
    mode(&hidden, 0o700);
    let (ok, out, _) = configtest(&format!(
        "WSGIScriptAlias /a {}\nWSGIScriptAlias /b {}/app.wsgi\n",
        missing.display(),
        hidden.display()
    ));
    assert!(ok, "only warnings:\n{out}");
    assert!(
        out.contains("does not exist (requests for it get 404"),
        "{out}"
    );
    assert!(
        out.contains("user 'nobody'") && out.contains("cannot read"),
        "{out}"
    );
    // Each names where the alias is.
    assert!(out.contains("WSGIScriptAlias at "), "{out}");
}
