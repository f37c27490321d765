//! A datagram channel whose receiver learns each sender's real pid: a
//! Unix datagram socket pair with SO_PASSCRED on the receiving end, so the
//! kernel attaches the sender's credentials to every datagram and a
//! sender cannot name another process (only root could, and daemons are
//! not root once running). Daemons tell the Apache parent through it that
//! they are ready or want a warm replacement (daemon/notices.rs).

use std::io;
use std::os::fd::RawFd;

/// Longest datagram a receiver takes; anything longer is cut (and then
/// refused by its parser).
const MAX_DATAGRAM: usize = 64;

/// A new channel: (receiving end, sending end), both close-on-exec and
/// non-blocking.
pub fn channel() -> io::Result<(RawFd, RawFd)> {
    let mut fds = [0; 2];
    // SAFETY: socketpair writes two descriptors into `fds`.
    let r = unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_DGRAM | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
            0,
            fds.as_mut_ptr(),
        )
    };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    let on: libc::c_int = 1;
    // SAFETY: setting an int option on our own socket.
    let r = unsafe {
        libc::setsockopt(
            fds[0],
            libc::SOL_SOCKET,
            libc::SO_PASSCRED,
            (&on as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if r != 0 {
        let e = io::Error::last_os_error();
        super::process::close(fds[0]);
        super::process::close(fds[1]);
        return Err(e);
    }
    Ok((fds[0], fds[1]))
}

/// Sends one datagram without blocking (a full queue is an error).
pub fn send(fd: RawFd, bytes: &[u8]) -> io::Result<()> {
    // SAFETY: sending from a valid buffer on our own socket.
    let n = unsafe { libc::send(fd, bytes.as_ptr().cast(), bytes.len(), libc::MSG_DONTWAIT) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Every datagram waiting on `fd`, each with its sender's pid (0 when the
/// kernel attached none), without blocking.
pub fn receive_all(fd: RawFd) -> Vec<(i32, Vec<u8>)> {
    let mut out = Vec::new();
    while let Some(one) = receive_one(fd) {
        out.push(one);
        if out.len() >= 1024 {
            break;
        }
    }
    out
}

fn receive_one(fd: RawFd) -> Option<(i32, Vec<u8>)> {
    let mut buf = [0u8; MAX_DATAGRAM];
    // u64 words: the control buffer must be aligned for cmsghdr.
    let mut control = [0u64; 8];
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: msghdr is plain data; zeroed is a valid empty value.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&control);
    // SAFETY: msg points at live buffers of the sizes it states.
    let n = unsafe { libc::recvmsg(fd, &mut msg, libc::MSG_DONTWAIT) };
    if n < 0 {
        return None;
    }
    Some((sender_pid(&msg), buf[..n as usize].to_vec()))
}

/// The pid in the SCM_CREDENTIALS message of `msg`, if any.
fn sender_pid(msg: &libc::msghdr) -> i32 {
    // SAFETY: walking the control messages recvmsg just filled in, within
    // msg_controllen, with the libc macros made for it.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(msg);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_CREDENTIALS {
                let cred = libc::CMSG_DATA(c).cast::<libc::ucred>().read_unaligned();
                return cred.pid;
            }
            c = libc::CMSG_NXTHDR(msg, c);
        }
    }
    0
}

/// Forks a process that exits as soon as `fd` has something to read (it
/// reads nothing): the Apache parent sees it exit within its wait loop's
/// second, which is how a daemon's notice reaches the single-threaded
/// parent promptly. It waits `pause` first, so a flood of notices cannot
/// make the parent fork more than once per pause. Dies with the parent.
pub fn fork_waker(fd: RawFd, pause: std::time::Duration) -> io::Result<i32> {
    match super::process::fork()? {
        super::process::Forked::Parent(pid) => Ok(pid),
        super::process::Forked::Child => {
            super::signal_on_parent_death(libc::SIGKILL);
            super::process::close_all_except(&[fd]);
            std::thread::sleep(pause);
            let mut p = libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            };
            loop {
                // SAFETY: one valid pollfd.
                let r = unsafe { libc::poll(&mut p, 1, -1) };
                if r != 0 {
                    break;
                }
            }
            super::exit_now(0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_receiver_learns_the_senders_pid() {
        let (rx, tx) = channel().unwrap();
        send(tx, b"Rx").unwrap();
        send(tx, b"P\x01").unwrap();
        let got = receive_all(rx);
        let me = std::process::id() as i32;
        assert_eq!(got, vec![(me, b"Rx".to_vec()), (me, b"P\x01".to_vec())]);
        assert!(receive_all(rx).is_empty());
        let long = [b'x'; 200];
        send(tx, &long).unwrap();
        assert_eq!(receive_all(rx)[0].1.len(), MAX_DATAGRAM);
        super::super::process::close(rx);
        super::super::process::close(tx);
    }
}
