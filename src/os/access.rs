//! Whether another user could read a path: every directory on the way must
//! be searchable by it and the path itself readable (and searchable, for a
//! directory). Answered from permission bits, as root at start-up.

#![forbid(unsafe_code)]

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use wsgi_core::python_home::{permits, READ, SEARCH};

pub enum Access {
    Granted,
    Missing,
    /// Why not, naming the directory or file that stops it.
    Denied(String),
}

fn describe(path: &Path, m: &std::fs::Metadata) -> String {
    format!(
        "'{}' (mode {:o}, owner {}:{})",
        path.display(),
        m.mode() & 0o7777,
        m.uid(),
        m.gid()
    )
}

/// Whether `uid`, a member of `groups`, may read `path`.
pub fn access_as(path: &Path, uid: u32, groups: &[u32]) -> Access {
    let Ok(real) = std::fs::canonicalize(path) else {
        return Access::Missing;
    };
    let mut ancestors: Vec<&Path> = real.ancestors().skip(1).collect();
    ancestors.reverse();
    for dir in ancestors {
        let Ok(m) = std::fs::metadata(dir) else {
            return Access::Missing;
        };
        if !permits(m.mode(), m.uid(), m.gid(), uid, groups, SEARCH) {
            return Access::Denied(format!("{} cannot be entered", describe(dir, &m)));
        }
    }
    let Ok(m) = std::fs::metadata(&real) else {
        return Access::Missing;
    };
    let want = if m.is_dir() { READ | SEARCH } else { READ };
    if !permits(m.mode(), m.uid(), m.gid(), uid, groups, want) {
        return Access::Denied(format!("{} cannot be read", describe(&real, &m)));
    }
    Access::Granted
}
