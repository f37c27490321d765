//! `FramedConn` over a real socketpair, fed hostile bytes in random read
//! splits with random file descriptors attached (SCM_RIGHTS): whatever
//! arrives, the reader gets frames, body pieces, descriptors or an error —
//! never a panic, never a hang, and never more than a bounded number of
//! descriptors kept.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::time::Duration;
use wsgi_ipc::conn::FramedConn;

/// Sends `bytes` with `n` descriptors of /dev/null attached.
fn send_with_fds(sock: i32, bytes: &[u8], n: usize) {
    let files: Vec<std::fs::File> = (0..n)
        .filter_map(|_| std::fs::File::open("/dev/null").ok())
        .collect();
    let fds: Vec<i32> = files.iter().map(|f| f.as_raw_fd()).collect();
    let _ = wsgi_ipc::conn::send_with_fds(sock, bytes, &fds);
}

fuzz_target!(|data: &[u8]| {
    let Ok((a, b)) = UnixStream::pair() else { return };
    let input = data.to_vec();
    let writer = std::thread::spawn(move || {
        // Chunks: [length][descriptor count][bytes ...].
        let mut rest = &input[..];
        while rest.len() >= 2 {
            let (len, fds) = (rest[0] as usize, (rest[1] % 9) as usize);
            rest = &rest[2..];
            let take = len.min(rest.len());
            send_with_fds(a.as_raw_fd(), &rest[..take], fds);
            rest = &rest[take..];
        }
        drop(a);
    });
    let _ = b.set_read_timeout(Some(Duration::from_secs(2)));
    let mut conn = FramedConn::new(b);
    conn.set_max_read(1 << 16);
    let (mut out, mut pending) = (Vec::new(), Vec::new());
    for round in 0..10_000u32 {
        let step = match round % 3 {
            0 => conn.recv().map(drop),
            1 => conn.recv_body_onto(&mut out, 4096, &mut pending).map(drop),
            _ => conn.wait_frame().map(|()| {
                let mut pieces = Vec::new();
                let used = conn.buffered_data(&mut pieces);
                drop(pieces);
                conn.consume(used);
            }),
        };
        while conn.take_fd().is_some() {}
        out.clear();
        pending.clear();
        if step.is_err() {
            break;
        }
    }
    // Closing our end first: a writer still blocked on a full socket gets
    // EPIPE instead of waiting for ever.
    drop(conn);
    let _ = writer.join();
});
