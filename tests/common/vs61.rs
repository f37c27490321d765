//! Starting the same configuration under PyPI's mod_wsgi 6.1.1 or ours, for
//! the side-by-side tests (`*_vs_61.rs`).
#![allow(dead_code)]

use super::Server;

/// mod_wsgi 6.1.1's sockets go under Debian's /var/run/apache2 whatever
/// DefaultRuntimeDir says, and a fresh machine has no such directory
/// until Apache's init script first runs: both modules get the same
/// directory here.
pub const SOCKETS: &str = "WSGISocketPrefix /tmp/mod_wsgi_rs-vs61-wsgi";

/// `WSGIPythonHome` for both modules when the tests run on a Python other
/// than Debian's (scripts/test's matrix): mod_wsgi 6.1.1, built by pip,
/// would look for the standard library where that Python was built, under
/// a home directory Apache's User cannot read; the copy under /opt is
/// readable.
fn python_home_line() -> String {
    let Ok(py) = std::env::var("PYO3_PYTHON") else {
        return String::new();
    };
    if py.starts_with("/usr/bin/") {
        return String::new();
    }
    let out = std::process::Command::new(&py)
        .args(["-c", "import sys; print(sys.base_prefix)"])
        .output()
        .unwrap();
    format!(
        "WSGIPythonHome {}\n",
        String::from_utf8_lossy(&out.stdout).trim()
    )
}

/// Starts a server with `module` (None: ours). The tests of this binary
/// run in parallel and the module is chosen by an environment variable:
/// one start at a time.
pub fn start_with(tag: &str, conf: &str, module: Option<&str>) -> Server {
    static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let conf = format!("{}{conf}", python_home_line());
    match module {
        Some(m) => std::env::set_var("MOD_WSGI_RS_SO", m),
        None => std::env::remove_var("MOD_WSGI_RS_SO"),
    }
    let s = Server::start(tag, &conf);
    std::env::remove_var("MOD_WSGI_RS_SO");
    s
}
