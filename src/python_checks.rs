//! Python mistakes caught at `configtest`, naming both sides, before they
//! become "No module named 'encodings'" in a child or a daemon: a Python
//! home or virtualenv made from another Python than the module's; a home,
//! a virtualenv's base Python or a `python-path=` entry that the process's
//! user cannot read; a `WSGIScriptAlias` target that is missing or that
//! user cannot read (a warning: it may appear later).

#![forbid(unsafe_code)]

use crate::config::GlobalConfig;
use crate::os::access::{access_as, Access};
use pyhost::runtime::LinkedPython;
use std::path::Path;
use wsgi_core::python_home::{prefix_versions, venv_version};

/// One mistake: `fatal` ones fail the configuration.
pub struct Finding {
    pub fatal: bool,
    pub text: String,
}

/// Who a process runs as.
struct Account {
    name: String,
    uid: u32,
    groups: Vec<u32>,
}

impl Account {
    fn describe(&self) -> String {
        format!("user '{}' (uid {})", self.name, self.uid)
    }
}

fn fatal(text: String) -> Finding {
    Finding { fatal: true, text }
}

fn warning(text: String) -> Finding {
    Finding { fatal: false, text }
}

/// Every finding for this configuration.
pub fn findings(g: &GlobalConfig) -> Vec<Finding> {
    let py = pyhost::runtime::linked_python();
    let mut out = Vec::new();
    let (uid, gid, name) = crate::apache::mpm::apache_identity();
    let apache = Account {
        groups: crate::os::users::group_list(&name, gid),
        name,
        uid,
    };
    if !g.restrict_embedded {
        if let Some(home) = &g.python.python_home {
            check_home("WSGIPythonHome", home, &apache, &py, &mut out);
        }
        for p in &g.python.python_path {
            check_path("WSGIPythonPath", p, &apache, &mut out);
        }
    }
    for spec in &g.daemons {
        let Ok((uid, gid, groups)) =
            crate::daemon::group::identity_of(spec, uid, gid, &apache.name)
        else {
            continue;
        };
        let account = Account {
            name: spec.user.clone().unwrap_or_else(|| apache.name.clone()),
            uid,
            groups: if groups.is_empty() { vec![gid] } else { groups },
        };
        let what = format!("WSGIDaemonProcess {}", spec.name);
        match (&spec.python_home, &g.python.python_home) {
            (Some(home), _) => check_home(
                &format!("{what} python-home="),
                home,
                &account,
                &py,
                &mut out,
            ),
            (None, Some(home)) => check_home(
                &format!("WSGIPythonHome (for {what})"),
                home,
                &account,
                &py,
                &mut out,
            ),
            (None, None) => {}
        }
        for p in &spec.python_path {
            check_path(&format!("{what} python-path="), p, &account, &mut out);
        }
    }
    for t in &g.script_targets {
        let account = match &t.process_group {
            Some(group) if g.daemons.iter().any(|d| &d.name == group) => None,
            _ => Some(&apache),
        };
        // (A daemon group's scripts are read by its user; checked as the
        // group's account would be is left to the request: 404 or 500.)
        let at = format!("WSGIScriptAlias at {}:{}", t.file, t.line);
        match account.map(|a| (access_as(Path::new(&t.path), a.uid, &a.groups), a)) {
            Some((Access::Missing, _)) => out.push(warning(format!(
                "{at}: '{}' does not exist (requests for it get 404 until it does)",
                t.path
            ))),
            Some((Access::Denied(why), a)) => out.push(warning(format!(
                "{at}: {} cannot read '{}': {why}",
                a.describe(),
                t.path
            ))),
            _ => {}
        }
    }
    out
}

/// A home: its Python version against the module's, then whether the
/// account can read it (and a virtualenv's base Python).
fn check_home(
    what: &str,
    home: &str,
    account: &Account,
    py: &LinkedPython,
    out: &mut Vec<Finding>,
) {
    let mine = (py.major, py.minor);
    let ours = format!("this module runs Python {} ({})", py.version, py.library);
    let label = labelled(what, home);
    let path = Path::new(home);
    let cfg = std::fs::read_to_string(path.join("pyvenv.cfg")).ok();
    if let Some(cfg) = &cfg {
        if let Some((a, b)) = venv_version(cfg).filter(|v| *v != mine) {
            out.push(fatal(format!(
                "{label}: a virtualenv made with Python {a}.{b} (its pyvenv.cfg), but {ours}; make the virtualenv with Python {}.{} or build the module against Python {a}.{b}",
                mine.0, mine.1
            )));
            return;
        }
    } else if path.is_dir() {
        let entries: Vec<String> = std::fs::read_dir(path.join("lib"))
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        let found = prefix_versions(entries.iter().map(String::as_str));
        if !found.is_empty() && !found.contains(&mine) {
            let list: Vec<String> = found.iter().map(|(a, b)| format!("{a}.{b}")).collect();
            out.push(fatal(format!(
                "{label}: has a standard library for Python {} only, but {ours}",
                list.join(", ")
            )));
            return;
        }
    }
    readable(what, home, account, true, out);
    // A virtualenv runs its base Python's standard library.
    let base = cfg.as_deref().and_then(|c| {
        c.lines().find_map(|l| {
            let (k, v) = l.split_once('=')?;
            (k.trim() == "home").then(|| v.trim().trim_end_matches("/bin").to_string())
        })
    });
    if let Some(base) = base {
        readable(
            &format!("{label}: its base Python"),
            &base,
            account,
            true,
            out,
        );
    }
}

fn check_path(what: &str, entry: &str, account: &Account, out: &mut Vec<Finding>) {
    readable(what, entry, account, false, out);
}

/// Whether `account` can read `path`; missing is fatal for a home, a
/// warning for a path entry (it may appear later).
fn readable(what: &str, path: &str, account: &Account, home: bool, out: &mut Vec<Finding>) {
    let label = labelled(what, path);
    match access_as(Path::new(path), account.uid, &account.groups) {
        Access::Granted => {}
        Access::Missing if home => out.push(fatal(format!("{label}: does not exist"))),
        Access::Missing => out.push(warning(format!(
            "{label}: does not exist (it is left on sys.path)"
        ))),
        Access::Denied(why) => out.push(fatal(format!(
            "{label}: {} cannot read it: {why}",
            account.describe()
        ))),
    }
}

/// "python-home=/x" or "WSGIPythonHome /x".
fn labelled(what: &str, value: &str) -> String {
    if what.ends_with('=') {
        format!("{what}{value}")
    } else {
        format!("{what} {value}")
    }
}
