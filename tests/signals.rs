//! Signal paths: a prefork child is stopped by a signal whose Apache
//! handler destroys the child pool; our shutdown sequence (Python,
//! allocation, threads) must run on a thread of ours instead of inside
//! that handler, and still reach every interpreter and tear them down.

mod common;

use common::{write_file, Server};
use std::fs;
use std::os::unix::fs::PermissionsExt;

#[test]
fn a_prefork_child_stops_outside_apaches_signal_handler() {
    if common::mpm() != "prefork" {
        return; // event and worker children stop through the pipe of death
    }
    let dir = common::temp_dir("sigprefork");
    write_file(&dir, "lifecycle.wsgi", include_str!("apps/lifecycle.wsgi"));
    let markers = dir.join("markers");
    fs::create_dir_all(&markers).unwrap();
    fs::set_permissions(&markers, fs::Permissions::from_mode(0o777)).unwrap();
    let d = dir.display();
    let mut s = Server::start(
        "sigprefork",
        &format!(
            "WSGIScriptAlias /a {d}/lifecycle.wsgi\n\
             WSGIScriptAlias /b {d}/lifecycle.wsgi application-group=second\n"
        ),
    );
    assert_eq!(s.get("/a/").status, 200);
    assert_eq!(s.get("/b/").status, 200);
    // `apachectl stop`: SIGTERM to the parent, which sends it on to each
    // child (Apache's just_die handler).
    s.stop();
    let threads: Vec<String> = fs::read_dir(&markers)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("stopthread-"))
        .map(|e| fs::read_to_string(e.path()).unwrap_or_default())
        .collect();
    assert!(!threads.is_empty(), "no process_stopping\n{}", s.logs());
    for t in &threads {
        assert!(
            !t.contains("MainThread"),
            "process_stopping ran on the child's main thread (in the signal handler): {threads:?}"
        );
    }
    // And the sequence still finished: both interpreters torn down, in time.
    let log = s.error_log();
    let report = log
        .lines()
        .find(|l| l.contains("shutdown report:") && l.contains("second="))
        .unwrap_or_else(|| panic!("no report for the child that served\n{log}"));
    assert!(report.contains("watchdog=not fired"), "{report}");
    assert!(report.contains("not_destroyed=[]"), "{report}");
}
