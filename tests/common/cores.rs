//! Core dumps of the servers the tests start: each server's crashed
//! processes leave a core in its directory (Apache's CoreDumpDirectory,
//! with the core size limit raised for httpd), and a failing test prints
//! gdb's backtrace of every thread in it, so that a crash seen once in CI
//! can be read from CI's output.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The directory for `root`'s cores, made writable by Apache's User.
pub fn dir(root: &Path) -> PathBuf {
    let d = root.join("cores");
    let _ = fs::create_dir_all(&d);
    let _ = fs::set_permissions(&d, fs::Permissions::from_mode(0o1777));
    d
}

/// Lets `cmd` (httpd) dump core: its soft limit raised to the hard one.
pub fn allow(cmd: &mut Command) {
    // SAFETY: runs in the forked child before exec; getrlimit/setrlimit
    // are async-signal-safe and touch only the child's own limits.
    unsafe {
        cmd.pre_exec(|| {
            let mut l = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            if libc::getrlimit(libc::RLIMIT_CORE, &mut l) == 0 {
                l.rlim_cur = l.rlim_max;
                libc::setrlimit(libc::RLIMIT_CORE, &l);
            }
            Ok(())
        });
    }
}

/// gdb's backtraces of every core under `root` (empty: none, or no gdb).
pub fn backtraces(root: &Path, binary: &Path) -> String {
    let mut out = String::new();
    for core in fs::read_dir(root.join("cores"))
        .into_iter()
        .flatten()
        .flatten()
    {
        let bt = Command::new("timeout")
            .args([
                "120",
                "gdb",
                "-batch",
                "-nx",
                "-ex",
                "thread apply all bt 30",
            ])
            .arg(binary)
            .arg(core.path())
            .output();
        let text = match bt {
            Ok(o) => String::from_utf8_lossy(&o.stdout).into_owned(),
            Err(e) => format!("(gdb: {e})"),
        };
        out += &format!("--- core {} ---\n{text}\n", core.path().display());
    }
    out
}
