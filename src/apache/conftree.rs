//! Reading Apache's parsed configuration tree (`ap_conftree`), for what
//! other modules' directives say about this one: where `AddHandler` /
//! `SetHandler` map files to `wsgi-script` (daemons accept scripts there).

use super::ffi;

/// A directive found in the tree, with the sections around it, innermost
/// first: (section name such as `<Directory`, its arguments).
pub struct Found {
    pub args: String,
    pub sections: Vec<(String, String)>,
}

/// Every directive called one of `names` (case-insensitive), anywhere in
/// the configuration read so far (Include'd files are in the tree).
pub fn find(names: &[&str]) -> Vec<Found> {
    let mut out = Vec::new();
    // SAFETY: the tree lives in the configuration pool, which outlives
    // post_config, where this runs; it is only read.
    let root = unsafe { ffi::ap_conftree };
    walk(root, names, &mut out);
    out
}

fn text(p: *const std::ffi::c_char) -> String {
    // SAFETY: configuration-tree text lives in the configuration pool.
    super::strings::lossy(unsafe { super::strings::c_bytes(p) })
}

fn walk(mut d: *mut ffi::ap_directive_t, names: &[&str], out: &mut Vec<Found>) {
    while !d.is_null() {
        // SAFETY: a node of the live tree (see `find`).
        let node = unsafe { &*d };
        let name = text(node.directive);
        if names.iter().any(|n| n.eq_ignore_ascii_case(&name)) {
            let mut sections = Vec::new();
            let mut p = node.parent;
            while !p.is_null() {
                // SAFETY: as above.
                let parent = unsafe { &*p };
                sections.push((text(parent.directive), text(parent.args)));
                p = parent.parent;
            }
            out.push(Found {
                args: text(node.args),
                sections,
            });
        }
        walk(node.first_child, names, out);
        d = node.next;
    }
}
