//! A stand-in for a daemon process, for tests of what an Apache child does
//! with a daemon's answers: it takes over a group's socket path and
//! answers each connection with bytes of the test's choosing.

use std::fs;
use std::io::{Read, Write};
use std::os::unix::net::UnixListener;
use std::path::Path;
use std::time::Duration;

/// A group's real listening socket, taken out of its daemon as a
/// compromised application in the group holds it (pidfd_getfd, which
/// needs the right to ptrace the daemon: root), with the daemon stopped
/// (SIGSTOP) so every connection comes to the test. The socket file, its
/// inode and its listener are the parent's, so the Apache child's checks
/// of who made the socket pass: what is tested is what it does with the
/// answers. The daemon goes on when this is dropped.
pub struct StolenListener {
    pub listener: UnixListener,
    daemon: i32,
}

impl StolenListener {
    /// None where the daemon's descriptors cannot be had (not root).
    pub fn take(sock: &Path, daemon: i32) -> Option<StolenListener> {
        let inode = listening_inode(sock)?;
        let target = fs::read_dir(format!("/proc/{daemon}/fd"))
            .ok()?
            .find_map(|e| {
                let e = e.ok()?;
                let link = fs::read_link(e.path()).ok()?;
                (link.to_str()? == format!("socket:[{inode}]"))
                    .then(|| e.file_name().to_str()?.parse::<i32>().ok())
                    .flatten()
            })?;
        // SAFETY: pidfd_open and pidfd_getfd return new descriptors we own
        // (or -1); nothing else is touched.
        let fd = unsafe {
            let pidfd = libc::syscall(libc::SYS_pidfd_open, daemon, 0) as i32;
            if pidfd < 0 {
                return None;
            }
            let fd = libc::syscall(libc::SYS_pidfd_getfd, pidfd, target, 0) as i32;
            libc::close(pidfd);
            fd
        };
        if fd < 0 {
            return None;
        }
        // SAFETY: a descriptor we now own.
        let listener = unsafe { <UnixListener as std::os::fd::FromRawFd>::from_raw_fd(fd) };
        // SAFETY: kill has no memory-safety preconditions.
        unsafe { libc::kill(daemon, libc::SIGSTOP) };
        // (The flag is the shared file's: set back before the daemon goes on.)
        listener.set_nonblocking(false).unwrap();
        Some(StolenListener { listener, daemon })
    }
}

impl Drop for StolenListener {
    fn drop(&mut self) {
        let _ = self.listener.set_nonblocking(true);
        // SAFETY: kill has no memory-safety preconditions.
        unsafe { libc::kill(self.daemon, libc::SIGCONT) };
    }
}

/// The inode of the listening socket bound at `path` (/proc/net/unix).
fn listening_inode(path: &Path) -> Option<String> {
    let table = fs::read_to_string("/proc/net/unix").ok()?;
    table.lines().skip(1).find_map(|line| {
        let f: Vec<&str> = line.split_whitespace().collect();
        // Num RefCount Protocol Flags Type St Inode Path; St 01 = listening.
        (f.len() >= 8 && f[7] == path.to_str()? && f[5] == "01").then(|| f[6].to_string())
    })
}

pub fn nobody_uid() -> u32 {
    let out = std::process::Command::new("id")
        .args(["-u", "nobody"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

pub fn frame(kind: u8, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![kind];
    f.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    f.extend_from_slice(payload);
    f
}

pub fn bstr(b: &[u8]) -> Vec<u8> {
    let mut v = (b.len() as u32).to_be_bytes().to_vec();
    v.extend_from_slice(b);
    v
}

pub fn head(status: u16, line: &str, headers: &[(&str, &str)]) -> Vec<u8> {
    let mut p = status.to_be_bytes().to_vec();
    p.extend(bstr(line.as_bytes()));
    p.extend_from_slice(&(headers.len() as u32).to_be_bytes());
    for (k, v) in headers {
        p.extend(bstr(k.as_bytes()));
        p.extend(bstr(v.as_bytes()));
    }
    frame(17, &p)
}

pub const ACCEPTED: [u8; 5] = [23, 0, 0, 0, 0];
pub const END: [u8; 5] = [19, 0, 0, 0, 0];

/// What the fake daemon answers to one request: bytes, and maybe a
/// descriptor sent with them.
pub struct Answer {
    pub bytes: Vec<u8>,
    pub fd: Option<i32>,
}

/// Sends `bytes` with `fd` attached (SCM_RIGHTS), all of it in one message.
pub fn send_with_fd(sock: i32, bytes: &[u8], fd: i32) {
    let sent = wsgi_ipc::conn::send_with_fds(sock, bytes, &[fd]).unwrap();
    assert_eq!(sent, bytes.len());
}

/// Serves `answers` in order, one connection each, on `l`.
pub fn fake_daemon(l: UnixListener, answers: Vec<Answer>) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        for a in answers {
            let Ok((mut c, _)) = l.accept() else { return };
            c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut buf = [0u8; 65536];
            let _ = c.read(&mut buf);
            match a.fd {
                Some(fd) => {
                    send_with_fd(std::os::fd::AsRawFd::as_raw_fd(&c), &a.bytes, fd);
                }
                None => {
                    let _ = c.write_all(&a.bytes);
                }
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    })
}
