//! mod_wsgi-express's command line as a user meets it: --help describes
//! every option it supports, lists the refused ones compactly with what to
//! use instead, and has examples; --version; a mistyped option gets the
//! nearest name.

mod common;

use common::pip_express::{express, fresh_venv};
use std::process::Command;

/// Exit status 2 and one line on stderr holding each of `needles`.
fn refused_saying(venv: &std::path::Path, args: &[&str], needles: &[&str]) {
    let out = express(venv, args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
    assert_eq!(err.trim().lines().count(), 1, "{args:?}: {err}");
    for n in needles {
        assert!(err.contains(n), "{n:?} for {args:?}: {err}");
    }
}

#[test]
fn help_version_and_hints() {
    let venv = fresh_venv("pipx-cli", &[]);
    // Every option the parser knows and takes has a description.
    let undescribed = Command::new(venv.join("bin/python"))
        .args([
            "-c",
            "import argparse\nfrom mod_wsgi_rs.express import options\n\
             p = options.parser('start-server')\n\
             print(' '.join(f for a in p._actions if not a.help for f in a.option_strings))",
        ])
        .output()
        .unwrap();
    assert!(
        undescribed.status.success(),
        "{}",
        String::from_utf8_lossy(&undescribed.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&undescribed.stdout).trim(),
        "",
        "options without help"
    );
    let out = express(&venv, &["start-server", "--help"]);
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    for needle in [
        "--restart-interval SECONDS",
        "restart each daemon process after this long",
        "instead: --max-clients",
        "--rotate-logs",
        "examples:",
        "mod_wsgi-express start-server app.wsgi --port 8000",
    ] {
        assert!(help.contains(needle), "{needle:?} in --help:\n{help}");
    }
    // Refused options are listed once, compactly, not one help entry each.
    assert_eq!(help.matches("--enable-debugger").count(), 1, "{help}");
    assert!(
        !help.contains("ADD_HANDLER"),
        "no argparse placeholders:\n{help}"
    );
    for args in [&["--version"][..], &["start-server", "--version"][..]] {
        let out = express(&venv, args);
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{args:?}");
        assert!(text.starts_with("mod_wsgi-express (mod_wsgi-rs "), "{text}");
        assert!(text.contains("for Python 3."), "{text}");
    }
    refused_saying(
        &venv,
        &["start-server", "--treads", "3"],
        &["--treads", "did you mean --threads?"],
    );
    refused_saying(
        &venv,
        &["start-server", "--rotate-logs"],
        &["--rotate-logs", "instead: --log-to-terminal"],
    );
    refused_saying(
        &venv,
        &["start-server", "--enable-gdb"],
        &["--enable-gdb", "does not support"],
    );
}

/// `--server-mpm` takes the first MPM Apache has, as mod_wsgi-express
/// does, and names the directory when it has none of them (instead of
/// writing a configuration Apache cannot load).
#[test]
fn server_mpm_is_checked_against_the_modules_directory() {
    let venv = fresh_venv("pipx-mpm", &[]);
    let dir = venv.parent().unwrap();
    let modules = dir.join("modules");
    std::fs::create_dir_all(&modules).unwrap();
    let real = String::from_utf8(
        Command::new("apxs")
            .args(["-q", "LIBEXECDIR"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    std::os::unix::fs::symlink(
        std::path::Path::new(real.trim()).join("mod_mpm_prefork.so"),
        modules.join("mod_mpm_prefork.so"),
    )
    .unwrap();
    let app = dir.join("app.wsgi");
    std::fs::write(&app, "def application(e, s):\n    return []\n").unwrap();
    let root = dir.join("root");
    let base = |mpms: &[&str]| {
        let mut args = vec![
            "setup-server".to_string(),
            app.to_str().unwrap().into(),
            "--server-root".into(),
            root.to_str().unwrap().into(),
            "--modules-directory".into(),
            modules.to_str().unwrap().into(),
            "--user".into(),
            "www-data".into(),
            "--group".into(),
            "www-data".into(),
        ];
        for m in mpms {
            args.extend(["--server-mpm".to_string(), m.to_string()]);
        }
        args
    };
    let args = base(&["worker"]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    refused_saying(&venv, &args, &["--server-mpm worker", "mod_mpm_worker.so"]);
    let args = base(&["worker", "prefork"]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = express(&venv, &args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let conf = std::fs::read_to_string(root.join("httpd.conf")).unwrap();
    assert!(conf.contains("mod_mpm_prefork.so"), "{conf}");
    assert!(!conf.contains("mod_mpm_worker.so"), "{conf}");
}
