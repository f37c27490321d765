//! mod_wsgi-express owns its server root: a root another user made first
//! (the default one is a predictable name under /tmp), a symlink planted
//! there, or a group/world-writable one is refused before anything is
//! written or run; option values cannot smuggle a second directive or a
//! shell command into httpd.conf, envvars or apachectl.

mod common;

use common::pip_express::{express, fresh_venv, is_root};
use common::{free_port, temp_dir, write_file};
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The default server root for `localhost:port` as root, removed (with
/// whatever is in it) when dropped.
struct DefaultRoot(PathBuf);

impl DefaultRoot {
    fn for_port(port: u16) -> DefaultRoot {
        let r = DefaultRoot(PathBuf::from(format!("/tmp/mod_wsgi-localhost:{port}:0")));
        r.remove();
        r
    }

    fn remove(&self) {
        let _ = fs::remove_file(&self.0);
        let _ = fs::remove_dir_all(&self.0);
    }
}

impl Drop for DefaultRoot {
    fn drop(&mut self) {
        self.remove();
    }
}

/// Runs `sh -c script` as nobody (the local attacker).
fn as_nobody(script: &str) {
    let st = Command::new("setpriv")
        .args(["--reuid=nobody", "--regid=nogroup", "--clear-groups"])
        .args(["sh", "-c", script])
        .status()
        .unwrap();
    assert!(st.success(), "as nobody: {script}");
}

/// setup-server on the default root exits 2 with one line naming `root`,
/// `why` and --server-root.
fn refused_root(venv: &Path, port: &str, root: &Path, why: &str) {
    let out = express(
        venv,
        &["setup-server", "--port", port, "--user", "www-data"],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    for needle in [root.to_str().unwrap(), why, "--server-root"] {
        assert!(err.contains(needle), "{needle:?} in: {err}");
    }
}

#[test]
fn a_server_root_made_by_another_user_is_refused_and_runs_nothing() {
    if !is_root() {
        eprintln!("skipped: needs root (a second user plants the directory)");
        return;
    }
    let venv = fresh_venv("pipx-root-planted", &[]);
    let port = free_port();
    let p = port.to_string();
    let root = DefaultRoot::for_port(port);
    let marker = temp_dir("pipx-root-marker").join("ran-as-root");
    fs::set_permissions(marker.parent().unwrap(), fs::Permissions::from_mode(0o777)).unwrap();

    // nobody makes the root first, world-writable, with an envvars that
    // apachectl would source as root.
    as_nobody(&format!(
        "mkdir -m 0777 '{r}' && echo 'touch {m}' > '{r}/envvars'",
        r = root.0.display(),
        m = marker.display()
    ));
    refused_root(&venv, &p, &root.0, "belongs to uid 65534");
    assert!(!root.0.join("apachectl").exists(), "nothing is written");
    assert!(!root.0.join("httpd.conf").exists(), "nothing is written");
    assert!(!marker.exists(), "the planted envvars ran");

    // A symlink to a directory of root's.
    root.remove();
    let target = temp_dir("pipx-root-target");
    std::os::unix::fs::symlink(&target, &root.0).unwrap();
    refused_root(&venv, &p, &root.0, "symbolic link");
    assert_eq!(fs::read_dir(&target).unwrap().count(), 0, "nothing written");

    // Ours, but writable by others.
    root.remove();
    fs::create_dir(&root.0).unwrap();
    fs::set_permissions(&root.0, fs::Permissions::from_mode(0o777)).unwrap();
    refused_root(&venv, &p, &root.0, "writable by users other");

    // Made fresh: root's, search-only for the serving group, and used again.
    root.remove();
    for _ in 0..2 {
        let out = express(&venv, &["setup-server", "--port", &p, "--user", "www-data"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let meta = fs::symlink_metadata(&root.0).unwrap();
    assert_eq!(meta.mode() & 0o7777, 0o710);
    assert_eq!((meta.uid(), meta.gid()), (0, 33), "root:www-data");
    let ctl = Command::new(root.0.join("apachectl"))
        .arg("configtest")
        .output()
        .unwrap();
    assert!(
        ctl.status.success(),
        "{}",
        String::from_utf8_lossy(&ctl.stderr)
    );
    assert!(!marker.exists());
}

#[test]
fn option_values_cannot_add_directives_or_commands() {
    let dir = temp_dir("pipx-values");
    let script = write_file(&dir, "app.wsgi", "application = None\n");
    let s = script.to_str().unwrap();
    let root = dir.join("sr");
    let r = root.to_str().unwrap();
    let venv = fresh_venv("pipx-values", &[]);
    let cases: &[(&[&str], &str)] = &[
        (
            &["--server-name", "a\nInclude /etc/shadow"],
            "--server-name",
        ),
        (&["--server-alias", "b c"], "--server-alias"),
        (&["--host", "127.0.0.1\nListen 9"], "--host"),
        (&["--setenv", "A\nB", "v"], "--setenv"),
        (&["--setenv", "A", "v\"\nSetEnv B"], "--setenv"),
        (&["--passenv", "X Y"], "--passenv"),
        (&["--lang", "C'; touch /tmp/x; '"], ""),
        (&["--application-group", "g\"x"], "--application-group"),
        (&["--log-level", "warn\nInclude /x"], "--log-level"),
        (&["--error-document", "40x", "/e"], "--error-document"),
        (&["--process-name", "p\x07q"], "--process-name"),
    ];
    for (args, needle) in cases {
        let mut argv = vec!["setup-server", s, "--server-root", r];
        argv.extend(common::pip_express::account());
        argv.extend(args.iter());
        let out = express(&venv, &argv);
        let err = String::from_utf8_lossy(&out.stderr);
        if args[1].contains('\'') {
            // A shell metacharacter in a value that is shell-quoted is
            // harmless: it reaches apachectl as one quoted word.
            assert!(out.status.success(), "{args:?}: {err}");
            let ctl = fs::read_to_string(root.join("apachectl")).unwrap();
            assert!(ctl.contains("LANG='C'\"'\"'; touch"), "{ctl}");
            continue;
        }
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
    }
}

/// A file in the checkout that git does not track, removed when dropped.
struct Untracked(PathBuf);

impl Drop for Untracked {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.0);
    }
}

#[test]
fn the_sdist_ships_tracked_files_only() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let name = format!("untracked-{}.env", std::process::id());
    let secret = Untracked(root.join(&name));
    fs::write(&secret.0, "SECRET=1\n").unwrap();
    let out_dir = temp_dir("pipx-sdist-files");
    let script = format!(
        "import sys, os, tarfile; os.chdir({root:?}); sys.path.insert(0, 'packaging/python'); \
         import build_backend; name = build_backend.build_sdist({out:?}); \
         print('\\n'.join(tarfile.open(os.path.join({out:?}, name)).getnames()))",
        root = root.display().to_string(),
        out = out_dir.display().to_string()
    );
    let listing =
        common::run_ok(Command::new(common::pip_express::test_python()).args(["-c", &script]));
    assert!(
        listing.lines().any(|l| l.ends_with("/Cargo.toml")),
        "{listing}"
    );
    assert!(
        !listing.contains(&name),
        "an untracked file was shipped:\n{listing}"
    );
}
