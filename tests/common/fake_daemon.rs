//! A stand-in for a daemon process, for tests of what an Apache child does
//! with a daemon's answers: it takes over a group's socket path and
//! answers each connection with bytes of the test's choosing.

use std::fs;
use std::io::{Read, Write};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Moves the group's socket aside and ours (a socket file at `ours`) into
/// its place; returns where the real one went (the test renames it back).
pub fn take_over(sock: &Path, ours: &Path) -> PathBuf {
    let aside = sock.with_extension("real");
    fs::rename(sock, &aside).unwrap();
    fs::rename(ours, sock).unwrap();
    aside
}

pub fn listener_as_apache_file(dir: &Path) -> (UnixListener, PathBuf) {
    let p = dir.join("fake.sock");
    let l = UnixListener::bind(&p).unwrap();
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        let c = std::ffi::CString::new(p.to_str().unwrap()).unwrap();
        let nobody = nobody_uid();
        // SAFETY: chown of our own new socket file.
        assert_eq!(unsafe { libc::chown(c.as_ptr(), nobody, u32::MAX) }, 0);
    }
    (l, p)
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
