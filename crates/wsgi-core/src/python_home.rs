//! What a Python home or virtualenv says about itself, for the checks made
//! at `configtest` (a home made from another Python than the module's is
//! the most common mod_wsgi failure: "No module named 'encodings'"), and
//! whether a user may read a file, from its permission bits.

/// The Python version a virtualenv was made from, from its `pyvenv.cfg`
/// (`version = 3.12.1`, or `version_info = 3.12.1.final.0` from the
/// virtualenv tool): (major, minor).
pub fn venv_version(pyvenv_cfg: &str) -> Option<(u32, u32)> {
    let value = |key: &str| {
        pyvenv_cfg.lines().find_map(|l| {
            let (k, v) = l.split_once('=')?;
            (k.trim() == key).then(|| v.trim().to_string())
        })
    };
    let v = value("version").or_else(|| value("version_info"))?;
    let mut parts = v.split('.').map(|p| p.parse::<u32>().ok());
    Some((parts.next()??, parts.next()??))
}

/// The Python versions a plain home (a prefix) has a standard library for:
/// the names of its `lib/` entries of the form `pythonX.Y`.
pub fn prefix_versions<'a>(lib_entries: impl IntoIterator<Item = &'a str>) -> Vec<(u32, u32)> {
    let mut found: Vec<(u32, u32)> = lib_entries
        .into_iter()
        .filter_map(|n| {
            let (a, b) = n.strip_prefix("python")?.split_once('.')?;
            Some((a.parse().ok()?, b.parse().ok()?))
        })
        .collect();
    found.sort_unstable();
    found.dedup();
    found
}

/// Read, write and search bits, as in a mode's `rwx`.
pub const READ: u32 = 4;
pub const SEARCH: u32 = 1;

/// Whether `uid` (member of `groups`) has `want` (READ and/or SEARCH) on a
/// file of `mode` owned by `owner`:`group`. Root always has.
pub fn permits(mode: u32, owner: u32, group: u32, uid: u32, groups: &[u32], want: u32) -> bool {
    if uid == 0 {
        return true;
    }
    let bits = if uid == owner {
        mode >> 6
    } else if groups.contains(&group) {
        mode >> 3
    } else {
        mode
    } & 7;
    bits & want == want
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn venv_versions() {
        let venv = "home = /usr/bin\ninclude-system-site-packages = false\nversion = 3.12.1\n";
        assert_eq!(venv_version(venv), Some((3, 12)));
        assert_eq!(
            venv_version("home=/x\nversion_info = 3.10.13.final.0\n"),
            Some((3, 10))
        );
        assert_eq!(venv_version("home = /usr/bin\n"), None);
        assert_eq!(venv_version("version = three\n"), None);
    }

    #[test]
    fn prefix_libraries() {
        let entries = [
            "python3.11",
            "libpython3.11.so",
            "pkgconfig",
            "python3.9",
            "python3.11",
        ];
        assert_eq!(prefix_versions(entries), vec![(3, 9), (3, 11)]);
    }

    #[test]
    fn permission_bits() {
        // drwx------ root:root: only root.
        assert!(!permits(0o700, 0, 0, 65534, &[65534], SEARCH));
        assert!(permits(0o700, 0, 0, 0, &[], READ | SEARCH));
        // drwxr-x--- root:www-data: the group may.
        assert!(permits(0o750, 0, 33, 33, &[33], READ | SEARCH));
        assert!(!permits(0o750, 0, 33, 65534, &[65534], READ));
        // The owner's bits decide for the owner, even if others may.
        assert!(!permits(0o077, 1000, 1000, 1000, &[1000], READ));
        assert!(permits(0o644, 0, 0, 65534, &[], READ));
        assert!(!permits(0o644, 0, 0, 65534, &[], READ | SEARCH));
    }
}
