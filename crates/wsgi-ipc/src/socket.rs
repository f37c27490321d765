//! The Apache child's checked way onto a daemon socket: the path must be a
//! socket owned as the parent made it, the connect never blocks (a full
//! backlog is retried until connect-timeout instead of holding an Apache
//! worker for ever), and the listener at the other end must have been
//! created by the Apache parent (SO_PEERCRED gives the credentials of the
//! process that called listen), so a socket planted by another local user
//! is never sent a request.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::os::unix::net::UnixStream;

/// Who may own the socket file and who must have made the listener.
#[derive(Clone, Copy, Debug)]
pub struct Expected {
    pub file_owner: u32,
    pub listener_uid: u32,
    /// The process that made the listener (the Apache parent): a listener
    /// another process of the same uid made is refused.
    pub listener_pid: i32,
    /// The socket file the parent made for this group and generation,
    /// (device, inode); None for a newer generation's, not known yet.
    pub file: Option<(u64, u64)>,
}

/// One non-blocking connect attempt. `WouldBlock`: the backlog is full;
/// `NotFound` / `ConnectionRefused`: no daemon listens (yet).
pub fn connect(path: &str, expected: Expected) -> io::Result<UnixStream> {
    let meta = std::fs::symlink_metadata(path)?;
    if !meta.file_type().is_socket() || meta.uid() != expected.file_owner {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!(
                "{} is not a socket owned by uid {} (type {:?}, owner {}): not used",
                path,
                expected.file_owner,
                meta.file_type(),
                meta.uid()
            ),
        ));
    }
    if expected.file.is_some_and(|f| f != (meta.dev(), meta.ino())) {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!(
                "{} is not the socket the Apache parent made for this group (it was replaced): not used",
                path
            ),
        ));
    }
    let stream = connect_nonblocking(path)?;
    let cred = peer(stream.as_raw_fd())?;
    if cred.uid != expected.listener_uid || cred.pid != expected.listener_pid {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!(
                "the listener at {} was made by pid {} uid {}, not by the Apache parent (pid {} uid {}): not used",
                path, cred.pid, cred.uid, expected.listener_pid, expected.listener_uid
            ),
        ));
    }
    stream.set_nonblocking(false)?;
    Ok(stream)
}

fn connect_nonblocking(path: &str) -> io::Result<UnixStream> {
    // SAFETY: a zeroed sockaddr_un is valid; the path is copied into it
    // only if it fits with its terminating NUL.
    let mut addr: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
    let bytes = path.as_bytes();
    if bytes.len() >= addr.sun_path.len() || bytes.contains(&0) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "socket path too long",
        ));
    }
    for (d, s) in addr.sun_path.iter_mut().zip(bytes) {
        *d = *s as libc::c_char;
    }
    // SAFETY: creating a socket we own at once (OwnedFd closes it on error).
    let fd = unsafe {
        libc::socket(
            libc::AF_UNIX,
            libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            0,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is a fresh descriptor nobody else owns.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: `addr` is a valid sockaddr_un of the given size.
    let rc = unsafe {
        libc::connect(
            fd,
            (&addr as *const libc::sockaddr_un).cast(),
            std::mem::size_of::<libc::sockaddr_un>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(UnixStream::from(owned))
}

/// The uid of the peer of a connected UNIX socket.
pub fn peer_uid(fd: RawFd) -> io::Result<u32> {
    peer(fd).map(|c| c.uid)
}

/// The peer's credentials (pid, uid), as the kernel recorded them.
pub fn peer(fd: RawFd) -> io::Result<libc::ucred> {
    let mut cred = libc::ucred {
        pid: 0,
        uid: 0,
        gid: 0,
    };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: SO_PEERCRED writes one ucred into our buffer of that size.
    let rc = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&mut cred as *mut libc::ucred).cast(),
            &mut len,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(cred)
}
