//! A group's listening socket kept across `apachectl graceful`: when the
//! configuration goes, each group's socket is set aside here (in the
//! parent's process pool, which outlives the restart) instead of being
//! closed, and the next generation takes it back for the same group if
//! nothing the socket depends on changed. The old generation's daemons go
//! on accepting on it while the new ones import the application; once
//! every new one is ready the parent retires the old ones
//! (docs/lifecycle.md, "Warm replacement"). Sockets nobody takes are
//! closed.

#![forbid(unsafe_code)]

use crate::apache::kept::{kept, Kept};
use crate::apache::server::Server;
use crate::os::process;
use std::os::fd::RawFd;

const ENTRIES: usize = 64;
const PATH_MAX: usize = 128;

#[repr(C)]
#[derive(Clone, Copy)]
struct Entry {
    key: u64,
    fd: RawFd,
    /// The socket file's (device, inode) when it was set aside.
    file: (u64, u64),
    path_len: u32,
    path: [u8; PATH_MAX],
}

/// Plain C data: the module (and so its Rust types) may be another build
/// after the restart.
#[repr(C)]
#[derive(Clone, Copy)]
struct Stash {
    count: u32,
    entries: [Entry; ENTRIES],
}

fn stash() -> Option<Kept<Stash>> {
    let empty = Entry {
        key: 0,
        fd: -1,
        file: (0, 0),
        path_len: 0,
        path: [0; PATH_MAX],
    };
    let pool = Server::main()?.process_pool();
    kept::<_, ()>(pool, "socket_stash", || {
        Ok(Stash {
            count: 0,
            entries: [empty; ENTRIES],
        })
    })
    .ok()
    .map(|(k, _)| k)
}

/// What the socket of a group depends on: its name, who may connect (the
/// socket file's owner), its backlog, where it lives, and the protocol
/// its daemons speak (a module of another protocol version gets a new
/// socket, so old and new daemons never share one). FNV-1a: the same in
/// every process, no randomness needed.
pub fn key(name: &str, owner: u32, backlog: u32, prefix: &str) -> u64 {
    let text = format!(
        "{name}\0{owner}\0{backlog}\0{prefix}\0{}",
        wsgi_core::protocol::PROTOCOL_VERSION
    );
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Sets a group's socket aside (restart, not stop). Without room it is
/// closed, and the next generation makes a new one.
pub fn put(key: u64, fd: RawFd, path: &str) {
    let Some(k) = stash() else {
        process::close(fd);
        return;
    };
    let mut st = k.get();
    let n = st.count as usize;
    if n >= ENTRIES || path.len() > PATH_MAX {
        process::close(fd);
        return;
    }
    let Some(file) = file_id(path) else {
        process::close(fd);
        return;
    };
    let mut e = st.entries[n];
    e.key = key;
    e.fd = fd;
    e.file = file;
    e.path_len = path.len() as u32;
    e.path = [0; PATH_MAX];
    e.path[..path.len()].copy_from_slice(path.as_bytes());
    st.entries[n] = e;
    st.count += 1;
    k.set(st);
}

fn file_id(path: &str) -> Option<(u64, u64)> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let m = std::fs::symlink_metadata(path).ok()?;
    m.file_type().is_socket().then(|| (m.dev(), m.ino()))
}

/// Takes back the socket set aside under `key`, if it is still bound to
/// its path and the file there is the one it was when set aside:
/// (descriptor, path).
pub fn take(key: u64) -> Option<(RawFd, String)> {
    let k = stash()?;
    let mut st = k.get();
    let n = st.count as usize;
    let at = st.entries[..n].iter().position(|e| e.key == key)?;
    let e = st.entries[at];
    st.entries[at] = st.entries[n - 1];
    st.count -= 1;
    k.set(st);
    let path = String::from_utf8_lossy(&e.path[..e.path_len as usize]).into_owned();
    // (Bound under a temporary name and renamed into place: group::listen.)
    let bound = process::socket_path(e.fd);
    let bound_here = bound.as_deref() == Some(path.as_str())
        || bound.as_deref() == Some(format!("{path}.new").as_str());
    if bound_here && file_id(&path) == Some(e.file) {
        Some((e.fd, path))
    } else {
        process::close(e.fd);
        None
    }
}

/// Closes every socket nobody took back (its group was removed or
/// changed); its file goes with the old generation's
/// (`group::remove_old_sockets`).
pub fn close_rest() {
    let Some(k) = stash() else {
        return;
    };
    let mut st = k.get();
    for e in &st.entries[..st.count as usize] {
        process::close(e.fd);
    }
    st.count = 0;
    k.set(st);
}

#[cfg(test)]
mod tests {
    use super::key;

    #[test]
    fn the_key_changes_with_anything_the_socket_depends_on() {
        let k = key("site", 33, 100, "/run/wsgi");
        assert_eq!(k, key("site", 33, 100, "/run/wsgi"));
        for other in [
            key("site2", 33, 100, "/run/wsgi"),
            key("site", 34, 100, "/run/wsgi"),
            key("site", 33, 101, "/run/wsgi"),
            key("site", 33, 100, "/run/wsgi2"),
        ] {
            assert_ne!(k, other);
        }
    }
}
