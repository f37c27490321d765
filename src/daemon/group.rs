//! What every process needs to know about the daemon process groups of the
//! current configuration: built in the parent (post_config) and inherited
//! by Apache's children and the daemons through fork.

#![forbid(unsafe_code)]

use crate::apache::mpm;
use crate::apache::pool::Pool;
use crate::apache::server::Server;
use crate::config;
use crate::os::process;
use std::os::fd::RawFd;
use std::sync::{Arc, Mutex};
use wsgi_core::directives::HandlerScript;
use wsgi_core::route_policy::{alias_reaches, handler_reaches, ScriptRoots};
use wsgi_core::DaemonProcessSpec;

/// A daemon process group of this configuration generation.
pub struct DaemonGroup {
    pub spec: DaemonProcessSpec,
    pub socket_path: String,
    /// The listening socket, created by the parent.
    pub listener: RawFd,
    pub uid: u32,
    pub gid: u32,
    /// Where the daemon starts (home=, else the user's home directory).
    pub home: Option<String>,
    /// The supplementary groups (gid first), resolved in the parent.
    pub groups: Vec<u32>,
    /// script-user= / script-group=: who must own the WSGI scripts this
    /// group runs (Owner::User(uid) or Owner::Group(gid)).
    pub script_owner: Option<ScriptOwner>,
    /// Where the scripts this group may run are (checked by its daemons).
    pub roots: ScriptRoots,
    /// What an Apache child checks of the socket before using it.
    pub expected: super::socket::Expected,
    /// What the socket depends on (socket_stash.rs).
    pub socket_key: u64,
    /// The socket is the previous generation's, whose daemons still accept
    /// on it until this generation's are ready.
    pub shared_with_previous: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScriptOwner {
    User(u32),
    Group(u32),
}

struct Registry {
    groups: Vec<Arc<DaemonGroup>>,
    parent_pipe: Option<(RawFd, RawFd)>,
    /// The notice channel (notices.rs): receiving end, sending end.
    notices: Option<(RawFd, RawFd)>,
}

static REGISTRY: Mutex<Registry> = Mutex::new(Registry {
    groups: Vec::new(),
    parent_pipe: None,
    notices: None,
});

fn registry() -> std::sync::MutexGuard<'static, Registry> {
    REGISTRY.lock().unwrap_or_else(|e| e.into_inner())
}

/// The group called `name`, if this configuration defines it.
pub fn find(name: &str) -> Option<Arc<DaemonGroup>> {
    registry()
        .groups
        .iter()
        .find(|g| g.spec.name == name)
        .cloned()
}

pub fn set_parent_pipe(read: RawFd, write: RawFd) {
    registry().parent_pipe = Some((read, write));
}

pub fn set_notice_channel(receive: RawFd, send: RawFd) {
    registry().notices = Some((receive, send));
}

/// The notice channel's sending end, for a daemon's keep-list.
pub fn notice_sender() -> Option<RawFd> {
    registry().notices.map(|(_, send)| send)
}

/// In an Apache child: drop what only the parent and daemons need (the
/// listening sockets, the parent-liveness pipe and the notice channel),
/// so a dead parent is seen by the daemons as EOF.
pub fn close_in_apache_child() {
    let r = registry();
    for g in &r.groups {
        // An inherited descriptor this process never uses.
        process::close(g.listener);
    }
    for (rd, wr) in [r.parent_pipe, r.notices].into_iter().flatten() {
        process::close(rd);
        process::close(wr);
    }
}

/// In the parent, when the configuration goes: close and remove sockets.
/// On a restart the socket files stay: Apache's old children may still
/// send late requests to the old daemons while those drain. They are
/// removed by `remove_old_sockets` once a generation is two restarts old,
/// and all of them when the server stops (`exiting`).
pub fn close_all(exiting: bool) {
    let mut r = registry();
    let groups: Vec<_> = r.groups.drain(..).collect();
    r.parent_pipe = None;
    drop(r);
    for g in &groups {
        if exiting {
            process::close(g.listener);
        } else {
            super::socket_stash::put(g.socket_key, g.listener, &g.socket_path);
        }
    }
    if exiting {
        super::socket_stash::close_rest();
        if let Some(g) = groups.first() {
            remove_old_sockets(&g.socket_path, i32::MAX, &[]);
        }
    }
}

/// The socket of the same group from the newest generation after the one in
/// `path`, if there is one. An Apache child of an old generation uses it
/// when its own generation's daemons have finished draining and gone.
pub fn newer_socket(path: &str) -> Option<String> {
    let p = std::path::Path::new(path);
    let (dir, name) = (p.parent()?, p.file_name()?.to_str()?);
    let parts: Vec<&str> = name.rsplitn(5, '.').collect();
    let [_, group, generation, pid, base] = parts[..] else {
        return None;
    };
    let mine: i64 = generation.parse().ok()?;
    let mut best: Option<(i64, std::path::PathBuf)> = None;
    for e in std::fs::read_dir(dir).ok()?.flatten() {
        let file = e.file_name().to_string_lossy().into_owned();
        let f: Vec<&str> = file.rsplitn(5, '.').collect();
        if let [ext, fgroup, fgen, fpid, fbase] = f[..] {
            let Ok(g) = fgen.parse::<i64>() else { continue };
            if ext == "sock"
                && fgroup == group
                && fpid == pid
                && fbase == base
                && g > mine
                && best.as_ref().is_none_or(|(b, _)| g > *b)
            {
                best = Some((g, e.path()));
            }
        }
    }
    best.map(|(_, p)| p.to_string_lossy().into_owned())
}

/// The socket files beside `example` (a socket path of this parent) that
/// share its prefix and parent pid, with their generation (None for a
/// `.sock.new` still being set up). Names are PREFIX.PARENTPID.GEN.HEX.sock.
fn sockets_of_parent(example: &str) -> Vec<(std::path::PathBuf, Option<i32>)> {
    let path = std::path::Path::new(example);
    let (Some(dir), Some(name)) = (path.parent(), path.file_name().and_then(|n| n.to_str())) else {
        return Vec::new();
    };
    let parts: Vec<&str> = name.rsplitn(5, '.').collect();
    let [_, _, _, pid, base] = parts[..] else {
        return Vec::new();
    };
    let ours = format!("{}.{}.", base, pid);
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for e in entries.flatten() {
        let file = e.file_name().to_string_lossy().into_owned();
        let Some(rest) = file.strip_prefix(&ours) else {
            continue;
        };
        if let Some(stem) = rest.strip_suffix(".sock") {
            let generation = stem.split('.').next().and_then(|g| g.parse().ok());
            if generation.is_some() {
                out.push((e.path(), generation));
            }
        } else if rest.ends_with(".sock.new") {
            out.push((e.path(), None));
        }
    }
    out
}

/// Removes this parent's socket files of generations before `keep_from`
/// that nothing listens on any more, found next to `example`. (An old
/// generation's daemons may still be draining, and an Apache child of
/// that generation may still send them a request.)
pub fn remove_old_sockets(example: &str, keep_from: i32, in_use: &[&str]) {
    for (path, generation) in sockets_of_parent(example) {
        // A socket kept across restarts (socket_stash.rs) is in use
        // whatever its generation; it is not even probed.
        if in_use.iter().any(|u| std::path::Path::new(u) == path) {
            continue;
        }
        if generation.is_some_and(|g| g < keep_from)
            && std::os::unix::net::UnixStream::connect(&path).is_err()
        {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// After the parent died: removes every socket file it made beside
/// `example` (all generations; its daemons are leaving too).
pub fn remove_parents_sockets(example: &str) {
    for (path, _) in sockets_of_parent(example) {
        let _ = std::fs::remove_file(path);
    }
}

/// Builds every configured group: resolves its accounts, creates its socket.
pub fn build_all(pconf: Pool<'_>) -> Result<Vec<Arc<DaemonGroup>>, String> {
    let settings = config::global_snapshot();
    let generation = mpm::config_generation();
    let process_pool = Server::main().ok_or("no main server")?.process_pool();
    // (Also with no group left: the removed ones' secrets are wiped.)
    let names: Vec<&str> = settings.daemons.iter().map(|d| d.name.as_str()).collect();
    super::secret::configure(process_pool, &names, generation)?;
    if settings.daemons.is_empty() {
        super::socket_stash::close_rest();
        return Ok(Vec::new());
    }
    let prefix = match &settings.socket_prefix {
        Some(p) => p.clone(),
        None => {
            mpm::runtime_dir_relative(pconf, "wsgi").ok_or("cannot resolve DefaultRuntimeDir")?
        }
    };
    // (check_config logged any warning already.)
    check_socket_dir(&prefix)?;
    let (apache_uid, apache_gid, apache_user) = mpm::apache_identity();
    let parent_uid = process::euid();
    let handler_mappings = crate::apache::conftree::find(&["AddHandler", "SetHandler"]);
    let handler_scripts: Vec<HandlerScript> = crate::apache::conftree::find(&["WSGIHandlerScript"])
        .iter()
        .filter_map(|m| HandlerScript::parse(&m.args).ok())
        .collect();
    let mut out = Vec::new();
    for spec in settings.daemons.iter() {
        let (uid, gid, groups) = identity_of(spec, apache_uid, apache_gid, &apache_user)?;
        // Apache's children connect as Apache's User (or socket-user=).
        let socket_owner = spec
            .socket_user
            .as_deref()
            .and_then(crate::os::users::user_id)
            .unwrap_or(apache_uid);
        let (listener, socket_path, socket_key, shared_with_previous) =
            group_socket(spec, &prefix, generation, socket_owner)?;
        let mut roots = alias_roots(&spec.name);
        for m in &handler_mappings {
            roots.add_handler_mapping(&m.args, &m.sections);
        }
        for h in handler_scripts
            .iter()
            .filter(|h| handler_reaches(h, &spec.name))
        {
            roots.add_handler_script(h);
        }
        let expected = super::socket::Expected {
            // (The parent chowns the socket only when it runs as root.)
            file_owner: if parent_uid == 0 {
                socket_owner
            } else {
                parent_uid
            },
            listener_uid: parent_uid,
            listener_pid: std::process::id() as i32,
            file: socket_file_id(&socket_path),
        };
        let script_owner = script_owner_of(spec);
        out.push(Arc::new(DaemonGroup {
            spec: spec.clone(),
            socket_path,
            listener,
            uid,
            gid,
            home: spec.home.clone().or_else(|| crate::os::users::home_of(uid)),
            groups,
            script_owner,
            roots,
            expected,
            socket_key,
            shared_with_previous,
        }));
    }
    // Sockets of groups removed or changed by this restart.
    super::socket_stash::close_rest();
    registry().groups = out.clone();
    Ok(out)
}

/// script-user= / script-group=, resolved.
fn script_owner_of(spec: &wsgi_core::DaemonProcessSpec) -> Option<ScriptOwner> {
    match (&spec.script_user, &spec.script_group) {
        (Some(u), _) => crate::os::users::user_id(u).map(ScriptOwner::User),
        (None, Some(g)) => crate::os::users::group_id(g).map(ScriptOwner::Group),
        (None, None) => None,
    }
}

/// The group's listening socket: the previous generation's when it can be
/// kept (socket_stash.rs), else a new one. (descriptor, path, key, kept).
fn group_socket(
    spec: &wsgi_core::DaemonProcessSpec,
    prefix: &str,
    generation: i32,
    owner: u32,
) -> Result<(RawFd, String, u64, bool), String> {
    let key = super::socket_stash::key(&spec.name, owner, spec.listen_backlog, prefix);
    if let Some((fd, path)) = super::socket_stash::take(key) {
        return Ok((fd, path, key, true));
    }
    let path = socket_path_for(prefix, generation, &spec.name);
    let fd = listen(&path, spec.listen_backlog, owner)?;
    Ok((fd, path, key, false))
}

/// The uid, gid and groups a daemon of `spec` runs with (Apache's User and
/// Group unless user=/group= say otherwise).
pub(crate) fn identity_of(
    spec: &wsgi_core::DaemonProcessSpec,
    apache_uid: u32,
    apache_gid: u32,
    apache_user: &str,
) -> Result<(u32, u32, Vec<libc::gid_t>), String> {
    let uid = spec
        .user
        .as_deref()
        .and_then(crate::os::users::user_id)
        .unwrap_or(apache_uid);
    let gid = spec
        .group
        .as_deref()
        .and_then(crate::os::users::group_id)
        .unwrap_or(apache_gid);
    let user_name = spec.user.clone().unwrap_or_else(|| apache_user.to_string());
    crate::os::users::check_can_switch(spec)?;
    let groups = if spec.supplementary_groups.is_empty() {
        crate::os::users::group_list(&user_name, gid)
    } else {
        let mut ids = vec![gid];
        ids.extend(
            spec.supplementary_groups
                .iter()
                .filter_map(|n| crate::os::users::group_id(n)),
        );
        ids
    };
    Ok((uid, gid, groups))
}

/// The group's name (hex, so any name is a safe file name) rather than its
/// position: an old generation's child finds the same group's newest
/// socket by it (see `newer_socket`).
fn socket_path_for(prefix: &str, generation: i32, name: &str) -> String {
    let hex_name: String = name.bytes().map(|b| format!("{:02x}", b)).collect();
    format!(
        "{}.{}.{}.{}.sock",
        prefix,
        std::process::id(),
        generation,
        hex_name
    )
}

/// The directory of the daemon sockets must be one only root (or the
/// user Apache starts as) can write: anyone else who can create files
/// there can plant or swap a socket. A sticky directory of root's (like
/// /tmp) is accepted, with a warning (Ok(Some)): others cannot replace our
/// files there, and a socket they make is refused by the children (its
/// listener is not the parent's), but they can make one under a name a
/// child would try after a restart and so fail its requests.
pub(crate) fn check_socket_dir(prefix: &str) -> Result<Option<String>, String> {
    use std::os::unix::fs::MetadataExt;
    let dir = std::path::Path::new(prefix)
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    let meta = match std::fs::metadata(dir) {
        Ok(m) => m,
        // Not there yet (at configtest): binding the socket says so at start.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(format!(
                "the daemon socket directory {}: {}",
                dir.display(),
                e
            ))
        }
    };
    let mode = meta.mode();
    let others_write = mode & 0o022 != 0;
    let sticky_roots = mode & 0o1000 != 0 && meta.uid() == 0;
    if (meta.uid() != 0 && meta.uid() != process::euid()) || (others_write && !sticky_roots) {
        return Err(format!(
            "the daemon socket directory {} (owner uid {}, mode {:o}) can be written by users other than root: \
             anyone who can create files there could plant or swap a daemon socket; \
             give WSGISocketPrefix a directory only root can write",
            dir.display(),
            meta.uid(),
            mode & 0o7777
        ));
    }
    Ok(others_write.then(|| {
        format!(
            "the daemon socket directory {} is a shared sticky directory: other users can make files \
             under names a child would try after a restart (failing its requests, never reaching them); \
             a directory only root can write is better (WSGISocketPrefix)",
            dir.display()
        )
    }))
}

/// (device, inode) of the socket file just made: the children take only
/// that file for this group and generation.
fn socket_file_id(path: &str) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::symlink_metadata(path)
        .ok()
        .map(|m| (m.dev(), m.ino()))
}

/// What every virtual host's `WSGIScriptAlias[Match]` can route to `group`.
fn alias_roots(group: &str) -> ScriptRoots {
    let mut roots = ScriptRoots::default();
    for sc in Server::all().filter_map(|s| s.record::<config::ServerConfig>()) {
        for a in sc.aliases.iter().filter(|a| alias_reaches(&a.spec, group)) {
            let is_dir = std::fs::metadata(&a.spec.target).is_ok_and(|m| m.is_dir());
            roots.add_alias(&a.spec, is_dir);
        }
    }
    roots
}

/// A listening UNIX socket at `path`, owned by `owner`, mode 0600. A stale
/// file from a server that was killed is removed first.
fn listen(path: &str, backlog: u32, owner: u32) -> Result<RawFd, String> {
    use std::os::fd::IntoRawFd;
    use std::os::unix::fs::PermissionsExt;
    // Made under a temporary name and renamed into place once its owner and
    // mode are set: a child looking for the newest socket never finds one
    // it may not connect to yet.
    let temporary = format!("{}.new", path);
    let _ = std::fs::remove_file(&temporary);
    let listener = std::os::unix::net::UnixListener::bind(&temporary)
        .map_err(|e| format!("cannot create daemon socket '{}': {}", path, e))?;
    let fail = |e: std::io::Error, what: &str| {
        let _ = std::fs::remove_file(&temporary);
        format!("cannot {} daemon socket '{}': {}", what, path, e)
    };
    if process::euid() == 0 {
        std::os::unix::fs::chown(&temporary, Some(owner), None).map_err(|e| fail(e, "chown"))?;
    }
    std::fs::set_permissions(&temporary, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| fail(e, "chmod"))?;
    let fd = listener.into_raw_fd();
    // A larger backlog than std's default.
    process::set_backlog(fd, backlog);
    // (A stale file of a killed server is replaced by the rename.)
    if let Err(e) = std::fs::rename(&temporary, path) {
        process::close(fd);
        return Err(fail(e, "create"));
    }
    Ok(fd)
}
