//! Small helpers for tests that drive scripts and look for their output.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The first file in `dir` whose name satisfies `wanted`.
pub fn first_file(dir: &Path, wanted: impl Fn(&str) -> bool) -> Option<PathBuf> {
    fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.file_name().is_some_and(|n| wanted(&n.to_string_lossy())))
}

/// Runs a command; whether it succeeded, and its stdout then stderr.
pub fn output_text(cmd: &mut Command) -> (bool, String) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// Every path under each of `roots` (symlinks not followed), for
/// comparing what an install left behind.
pub fn paths_under<P: AsRef<Path>>(roots: &[P]) -> BTreeSet<String> {
    fn walk(p: &Path, out: &mut BTreeSet<String>) {
        out.insert(p.display().to_string());
        if p.is_dir() && !p.is_symlink() {
            for e in fs::read_dir(p).into_iter().flatten().flatten() {
                walk(&e.path(), out);
            }
        }
    }
    let mut out = BTreeSet::new();
    for r in roots {
        walk(r.as_ref(), &mut out);
    }
    out
}
