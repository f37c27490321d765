//! A daemon group's socket is tied to the group: an Apache child sends a
//! request only to the socket file the parent made for that group and
//! generation, whose listener the parent itself made; a directory others
//! can write is refused for the sockets; a group that a restart removes
//! loses its secret, and gets a fresh one when it comes back.

mod common;

use common::hardening::{app_dir, group_socket, is_root};
use common::{configtest, Server};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixListener;
use std::time::Duration;

fn two_groups(tag: &str, dir: &std::path::Path) -> String {
    format!(
        "WSGIDaemonProcess site processes=1 threads=2 connect-timeout=1\n\
         WSGIDaemonProcess other processes=1 threads=2 connect-timeout=1\n\
         WSGIScriptAlias /app {d}/app.wsgi process-group=site\n\
         WSGIScriptAlias /other {d}/app.wsgi process-group=other\n\
         # {tag}\n",
        d = dir.display()
    )
}

#[test]
fn a_socket_swapped_between_groups_or_made_by_another_root_process_is_refused() {
    let dir = app_dir("pin");
    let s = Server::start("pin", &two_groups("pin", &dir));
    assert!(s.wait_for_log("daemon process 1 ready", Duration::from_secs(20)));
    // (No request before the swap: a child would keep its connection.)
    let site = group_socket(&s, "site");
    let other = group_socket(&s, "other");
    assert_ne!(site, other);
    // other's socket in site's place: a listener of the parent's, the
    // wrong group's file.
    let aside = site.with_extension("aside");
    fs::rename(&site, &aside).unwrap();
    fs::hard_link(&other, &site).unwrap();
    let r = s.get("/app/environ");
    assert_eq!(r.status, 503, "{}", s.logs());
    assert!(
        s.error_log()
            .contains("is not the socket the Apache parent made for this group"),
        "{}",
        s.logs()
    );
    fs::remove_file(&site).unwrap();
    // A listener of this test's (root when the tests run as root: the
    // uid check alone would pass it), at the same path.
    let planted = UnixListener::bind(&site).unwrap();
    planted.set_nonblocking(true).unwrap();
    let r = s.get("/app/environ");
    assert_eq!(r.status, 503, "{}", s.logs());
    assert!(
        planted.accept().is_err(),
        "the planted listener was connected to"
    );
    drop(planted);
    fs::remove_file(&site).unwrap();
    fs::rename(&aside, &site).unwrap();
    assert_eq!(s.get("/app/environ").status, 200, "{}", s.logs());
}

#[test]
fn a_socket_directory_other_users_can_write_is_refused() {
    let dir = app_dir("pinprefix");
    let shared = dir.join("shared");
    fs::create_dir(&shared).unwrap();
    fs::set_permissions(&shared, fs::Permissions::from_mode(0o777)).unwrap();
    let conf = format!(
        "{}WSGISocketPrefix {}/wsgi\n",
        two_groups("prefix", &dir),
        shared.display()
    );
    let (ok, text, _) = configtest(&conf);
    assert!(!ok, "accepted:\n{text}");
    assert!(
        text.contains("can be written by users other than root"),
        "{text}"
    );
    assert!(text.contains(&shared.display().to_string()), "{text}");
    // Sticky (like /tmp) and root's: accepted, with a warning.
    if is_root() {
        fs::set_permissions(&shared, fs::Permissions::from_mode(0o1777)).unwrap();
        let (ok, text, _) = configtest(&conf);
        assert!(ok, "{text}");
        assert!(text.contains("shared sticky directory"), "{text}");
    }
}

#[test]
fn a_removed_groups_secret_is_wiped_and_a_returning_group_gets_a_new_one() {
    let dir = app_dir("pinsecret");
    let both = two_groups("secret", &dir);
    let mut s = Server::start("pinsecret", &both);
    assert!(s.wait_for_log("daemon process 1 ready", Duration::from_secs(20)));
    let made = |s: &Server| {
        s.error_log()
            .matches("made a new secret for daemon process group 'other'")
            .count()
    };
    assert_eq!(made(&s), 1, "{}", s.logs());
    // A graceful restart that keeps it: the same secret.
    s.graceful();
    assert_eq!(made(&s), 1, "{}", s.logs());
    // Removed: wiped.
    s.reconfigure(&format!(
        "WSGIDaemonProcess site processes=1 threads=2\nWSGIScriptAlias /app {}/app.wsgi process-group=site\n",
        dir.display()
    ));
    s.graceful();
    assert!(
        s.wait_for_log(
            "wiped the secret of a removed daemon process group",
            Duration::from_secs(20)
        ),
        "{}",
        s.logs()
    );
    // Back: a fresh one, and it serves.
    s.reconfigure(&both);
    s.graceful();
    assert!(
        common::wait_until(Duration::from_secs(20), || made(&s) == 2),
        "{}",
        s.logs()
    );
    assert!(common::wait_until(Duration::from_secs(20), || s
        .get("/other/environ")
        .status
        == 200));
    let _ = s.stop();
}
