//! Unit tests of `conn::FramedConn` over socketpairs.
use super::*;

#[test]
fn buffered_data_frames_are_handed_over_in_place() {
    let (a, b) = UnixStream::pair().unwrap();
    let mut tx = FramedConn::new(a);
    let mut rx = FramedConn::new(b);
    tx.send_data(b"one").unwrap();
    tx.send_data(b"two!").unwrap();
    tx.send(&Frame::End).unwrap();
    // One read may bring only part of it: wait until End is in too.
    let mut got: Vec<Vec<u8>> = Vec::new();
    loop {
        rx.wait_frame().unwrap();
        let mut pieces = Vec::new();
        let used = rx.buffered_data(&mut pieces);
        got.extend(pieces.iter().map(|p| p.to_vec()));
        if used == 0 {
            break;
        }
        rx.consume(used);
    }
    assert_eq!(got, vec![b"one".to_vec(), b"two!".to_vec()]);
    assert!(matches!(rx.recv().unwrap(), Frame::End));
    assert!(!rx.has_buffered_frame());
}

#[test]
fn a_large_write_goes_out_as_bounded_frames() {
    let (a, b) = UnixStream::pair().unwrap();
    let data = vec![7u8; 3 * MAX_PIECE + 1];
    let sender = std::thread::spawn(move || {
        let mut tx = FramedConn::new(a);
        tx.send_payload_then(&data, false, Some(&Frame::End))
            .unwrap();
    });
    let mut rx = FramedConn::new(b);
    let mut sizes = Vec::new();
    loop {
        match rx.recv().unwrap() {
            Frame::Data(d) => sizes.push(d.len()),
            Frame::End => break,
            other => panic!("{other:?}"),
        }
    }
    sender.join().unwrap();
    assert_eq!(sizes, vec![MAX_PIECE, MAX_PIECE, MAX_PIECE, 1]);
}

#[test]
fn more_descriptors_than_a_frame_carries_is_an_error() {
    let (a, b) = UnixStream::pair().unwrap();
    let files: Vec<std::fs::File> = (0..MAX_FDS + 2)
        .map(|_| std::fs::File::open("/dev/null").unwrap())
        .collect();
    let bytes = [19u8, 0, 0, 0, 0];
    let fds: Vec<RawFd> = files.iter().map(|f| f.as_raw_fd()).collect();
    assert_eq!(send_with_fds(a.as_raw_fd(), &bytes, &fds).unwrap(), 5);
    let mut rx = FramedConn::new(b);
    let e = rx.recv().unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidData, "{e}");
    assert!(rx.take_fd().is_none(), "none of them is kept");
}

#[test]
fn an_oversized_frame_is_refused_before_it_is_sent() {
    let (a, _b) = UnixStream::pair().unwrap();
    let mut tx = FramedConn::new(a);
    let big = Frame::Error {
        status: 500,
        message: vec![0; wsgi_core::protocol::MAX_PAYLOAD + 1],
    };
    assert_eq!(
        tx.send(&big).unwrap_err().kind(),
        io::ErrorKind::InvalidInput
    );
}

#[test]
fn body_frames_land_in_the_callers_buffer_and_the_rest_waits() {
    let (a, b) = UnixStream::pair().unwrap();
    let mut tx = FramedConn::new(a);
    let mut rx = FramedConn::new(b);
    tx.send_payload_then(b"abcdef", true, Some(&Frame::BodyEnd))
        .unwrap();
    let (mut out, mut pending) = (b"x".to_vec(), Vec::new());
    assert_eq!(
        rx.recv_body_onto(&mut out, 4, &mut pending).unwrap(),
        Some(4)
    );
    assert_eq!(
        (out.as_slice(), pending.as_slice()),
        (&b"xabcd"[..], &b"ef"[..])
    );
    // BodyEnd is not a Body: left for recv.
    assert_eq!(rx.recv_body_onto(&mut out, 4, &mut pending).unwrap(), None);
    assert!(matches!(rx.recv().unwrap(), Frame::BodyEnd));
}

#[test]
fn the_read_buffer_shrinks_back_after_a_large_frame() {
    let (a, b) = UnixStream::pair().unwrap();
    let sender = std::thread::spawn(move || {
        let mut tx = FramedConn::new(a);
        // One frame far over the read-ahead bound, then a small one.
        tx.send(&Frame::Error {
            status: 500,
            message: vec![b'x'; 8 << 20],
        })
        .unwrap();
        tx.send(&Frame::End).unwrap();
    });
    let mut rx = FramedConn::new(b);
    assert!(matches!(rx.recv().unwrap(), Frame::Error { .. }));
    assert!(matches!(rx.recv().unwrap(), Frame::End));
    sender.join().unwrap();
    assert!(rx.rbuf.len() <= BIG_READ, "{} bytes kept", rx.rbuf.len());
}

#[test]
fn bytes_read_before_the_connection_are_read_again_first() {
    let (a, b) = UnixStream::pair().unwrap();
    let mut whole = Vec::new();
    Frame::Data(b"hello".to_vec()).encode(&mut whole).unwrap();
    let (first, rest) = whole.split_at(3);
    (&a).write_all(rest).unwrap();
    let mut rx = FramedConn::with_received(b, first);
    assert_eq!(rx.recv().unwrap(), Frame::Data(b"hello".to_vec()));
}
