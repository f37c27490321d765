//! Small safe helpers over `request_rec` and APR tables for the handler.
//! Callers pass the live request being handled; these functions are only
//! used on the thread that owns it (or with the owner blocked in Python).
//!
//! They take the raw pointers Apache handed to the hook rather than a
//! wrapper type: every pointer comes straight from httpd and is live for the
//! hook's duration, which is the invariant the SAFETY comments rely on.
//! (A `#[repr(transparent)]` request wrapper would state that in the type;
//! it is the planned next step for this file.)
#![allow(clippy::not_unsafe_ptr_arg_deref)]

use super::ffi;
use std::ffi::{c_char, c_int, c_void, CStr, CString};
use wsgi_core::environ::Environ;

/// Borrows a C string as bytes ("" for null).
pub fn cstr_bytes<'a>(p: *const c_char) -> &'a [u8] {
    if p.is_null() {
        return b"";
    }
    // SAFETY: Apache's strings are NUL-terminated and live in pools that
    // outlive the request handler that reads them.
    unsafe { CStr::from_ptr(p).to_bytes() }
}

/// Apache's request log id (what `%L` prints), generating it if needed.
pub fn log_id(r: *mut ffi::request_rec) -> String {
    if r.is_null() {
        return "-".into();
    }
    // SAFETY: `r` is live; ap_run_generate_log_id fills r->log_id from the
    // request pool, exactly as the error log does for `%L`.
    unsafe {
        if (*r).log_id.is_null() {
            let mut id: *const c_char = std::ptr::null();
            ffi::ap_run_generate_log_id((*r).connection, r, &mut id);
            (*r).log_id = id;
        }
        String::from_utf8_lossy(cstr_bytes((*r).log_id)).into_owned()
    }
}

/// Calls `each` with every entry of an APR table, in order. The strings
/// live in the table's pool.
pub fn table_each<'a, F: FnMut(&'a [u8], &'a [u8])>(t: *const ffi::apr_table_t, mut each: F) {
    unsafe extern "C" fn visit<'a, F: FnMut(&'a [u8], &'a [u8])>(
        rec: *mut c_void,
        k: *const c_char,
        v: *const c_char,
    ) -> c_int {
        // SAFETY: `rec` is the closure passed below; k/v are table strings.
        let each = unsafe { &mut *rec.cast::<F>() };
        each(cstr_bytes(k), cstr_bytes(v));
        1
    }
    if t.is_null() {
        return;
    }
    // SAFETY: apr_table_do walks a live table and calls `visit`
    // synchronously, with `rec` pointing at `each` for the whole walk.
    unsafe {
        ffi::apr_table_do(
            Some(visit::<'a, F>),
            &mut each as *mut F as *mut c_void,
            t,
            std::ptr::null::<c_char>(),
        )
    };
}

/// Looks up `key` in an APR table.
pub fn table_get<'a>(t: *const ffi::apr_table_t, key: &CStr) -> Option<&'a [u8]> {
    // SAFETY: live table, NUL-terminated key.
    let v = unsafe { ffi::apr_table_get(t, key.as_ptr()) };
    (!v.is_null()).then(|| cstr_bytes(v))
}

/// Copies `s` into the request pool as a C string.
pub fn pool_str(pool: *mut ffi::apr_pool_t, s: &[u8]) -> *mut c_char {
    // SAFETY: apr_pstrmemdup copies `len` bytes and adds a NUL.
    unsafe { ffi::apr_pstrmemdup(pool, s.as_ptr().cast(), s.len()) }
}

/// Adds a header (or env entry) to a table, copying both into `pool`.
pub fn table_add(pool: *mut ffi::apr_pool_t, t: *mut ffi::apr_table_t, key: &[u8], value: &[u8]) {
    // SAFETY: both strings are copied into the pool that owns the table.
    unsafe { ffi::apr_table_addn(t, pool_str(pool, key), pool_str(pool, value)) };
}

/// Sets a table entry, copying both into `pool`.
pub fn table_set(pool: *mut ffi::apr_pool_t, t: *mut ffi::apr_table_t, key: &[u8], value: &[u8]) {
    // SAFETY: as in table_add.
    unsafe { ffi::apr_table_setn(t, pool_str(pool, key), pool_str(pool, value)) };
}

/// Reads up to `buf.len()` bytes of the request body; 0 at the end,
/// negative on error. Blocks: call with the GIL released.
pub fn read_body(r: *mut ffi::request_rec, buf: &mut [u8]) -> isize {
    // SAFETY: `buf` is writable for its length; the body was set up with
    // ap_setup_client_block before the application ran.
    (unsafe { ffi::ap_get_client_block(r, buf.as_mut_ptr().cast(), buf.len() as _) }) as isize
}

/// Bodies up to this size, with a known length and no `Expect:
/// 100-continue`, are read before the application runs: in daemon mode they
/// go with the request (as mod_wsgi does, saving a WantBody round trip), in
/// embedded mode the application then reads them without a GIL hand-off.
const SMALL_BODY_MAX: u64 = 64 * 1024;

/// The whole body, when it is small enough to read up front (see
/// SMALL_BODY_MAX; `cgi` gives CONTENT_LENGTH and HTTP_EXPECT); Err(status)
/// if reading it from the client failed.
pub fn read_small_body(r: *mut ffi::request_rec, cgi: &Environ) -> Result<Option<Vec<u8>>, c_int> {
    let get = |k: &[u8]| cgi.get(k);
    let length = get(b"CONTENT_LENGTH")
        .and_then(|v| std::str::from_utf8(v).ok()?.trim().parse::<u64>().ok());
    let expects_continue =
        get(b"HTTP_EXPECT").is_some_and(|v| v.eq_ignore_ascii_case(b"100-continue"));
    let Some(length) = length.filter(|n| (1..=SMALL_BODY_MAX).contains(n)) else {
        return Ok(None);
    };
    if expects_continue || !start_body(r) {
        return Ok(None);
    }
    let mut body = Vec::with_capacity(length as usize);
    while (body.len() as u64) < length {
        let room = length as usize - body.len();
        match read_body_onto(r, &mut body, room) {
            n if n < 0 => return Err(ffi::HTTP_BAD_REQUEST),
            0 => break,
            _ => {}
        }
    }
    Ok(Some(body))
}

/// Reads up to `room` body bytes onto the end of `out` (no zero-filling,
/// no intermediate buffer); the count read, 0 at the end, negative on error.
pub fn read_body_onto(r: *mut ffi::request_rec, out: &mut Vec<u8>, room: usize) -> isize {
    out.reserve(room);
    let len = out.len();
    // SAFETY: `reserve` made room for `room` bytes after `len`; Apache
    // writes at most that many and returns how many it wrote, and only
    // those become part of the vector.
    unsafe {
        let n = ffi::ap_get_client_block(r, out.as_mut_ptr().add(len).cast(), room as _) as isize;
        if n > 0 {
            out.set_len(len + n as usize);
        }
        n
    }
}

/// Body bytes still to come (known Content-Length), if Apache knows.
pub fn body_remaining(r: *mut ffi::request_rec) -> Option<usize> {
    // SAFETY: live request; `remaining` is set by ap_setup_client_block.
    let left = unsafe { (*r).remaining };
    (left > 0).then_some(left as usize)
}

/// Whether a Content-Length body has been read to its end (a chunked one
/// only tells at its last chunk).
pub fn body_fully_read(r: *mut ffi::request_rec) -> bool {
    // SAFETY: live request with client block set up.
    unsafe { (*r).read_chunked == 0 && (*r).remaining == 0 }
}

/// Tells Apache the body will be read now (sends `100 Continue` if the
/// client asked for it). Returns whether there is a body at all.
pub fn start_body(r: *mut ffi::request_rec) -> bool {
    // SAFETY: live request with client block set up.
    unsafe { ffi::ap_should_client_block(r) != 0 }
}

/// Writes bytes to the client and flushes; false when the client is gone.
/// Blocks: call with the GIL released.
pub fn write_and_flush(r: *mut ffi::request_rec, data: &[u8]) -> bool {
    write(r, data, true)
}

/// Below this, an unflushed write only lands in the output brigade's buffer
/// (APR's bucket buffer is 8000 bytes), with no network I/O.
pub const SMALL_WRITE: usize = 4096;

/// Writes bytes to the client, flushing if asked; false when the client is gone.
pub fn write(r: *mut ffi::request_rec, data: &[u8], flush: bool) -> bool {
    // SAFETY: `data` is valid for its length; ap_rwrite copies it into the
    // output brigade before returning.
    unsafe {
        if !data.is_empty() && ffi::ap_rwrite(data.as_ptr().cast(), data.len() as c_int, r) < 0 {
            return false;
        }
        (!flush || ffi::ap_rflush(r) >= 0) && (*(*r).connection).aborted == 0
    }
}

/// What `write_pieces` passes after the pieces (shim.c's MOD_WSGI_RS_*).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Then {
    /// Nothing: Apache may hold small pieces until more come.
    Keep = 0,
    /// A flush: they go out now.
    Flush = 1,
    /// The end of the body, then a flush: the response goes out whole
    /// before Apache looks for the client's next request.
    End = 2,
}

/// Writes several pieces of memory as one: one brigade of buckets that
/// point at them (copied only by a filter that keeps them), then what
/// `then` says. False when the client is gone.
pub fn write_pieces(r: *mut ffi::request_rec, pieces: &[&[u8]], then: Then) -> bool {
    let iovec = |p: &&[u8]| libc::iovec {
        iov_base: p.as_ptr() as *mut libc::c_void,
        iov_len: p.len(),
    };
    // Most writes have a few pieces: no allocation for those.
    let mut small = [libc::iovec {
        iov_base: std::ptr::null_mut(),
        iov_len: 0,
    }; 16];
    let many: Vec<libc::iovec>;
    let iov: &[libc::iovec] = if pieces.len() <= small.len() {
        for (slot, p) in small.iter_mut().zip(pieces) {
            *slot = iovec(p);
        }
        &small[..pieces.len()]
    } else {
        many = pieces.iter().map(iovec).collect();
        &many
    };
    // SAFETY: `r` is live; every iovec points into `pieces`, which outlive
    // the call; the shim's buckets are transient, so nothing refers to the
    // memory once it returns (see shim.c).
    unsafe {
        mod_wsgi_rs_write_pieces(r, iov.as_ptr(), iov.len() as c_int, then as c_int) == 0
            && (*(*r).connection).aborted == 0
    }
}

/// Whether the client connection may carry another request (nothing has
/// marked it to close).
pub fn keeps_connection(r: *mut ffi::request_rec) -> bool {
    // SAFETY: live request and its connection.
    unsafe { (*(*r).connection).keepalive != ffi::ap_conn_keepalive_e_AP_CONN_CLOSE }
}

/// The request's server's `Timeout` (at least a second).
pub fn server_timeout(r: *mut ffi::request_rec) -> std::time::Duration {
    // SAFETY: live request and its server; Timeout is in microseconds.
    let us = unsafe { (*(*r).server).timeout };
    std::time::Duration::from_micros(us.max(1_000_000) as u64)
}

/// The request's virtual host and when the request began (µs since the epoch).
pub fn server_and_start(r: *mut ffi::request_rec) -> (*mut ffi::server_rec, u64) {
    // SAFETY: live request.
    unsafe { ((*r).server, (*r).request_time as u64) }
}

/// Marks the connection to be closed after this response.
pub fn close_after(r: *mut ffi::request_rec) {
    // SAFETY: live request and its connection.
    unsafe { (*(*r).connection).keepalive = ffi::ap_conn_keepalive_e_AP_CONN_CLOSE }
}

/// Ends the body (nothing more is written for this request) and sends
/// what Apache holds. False when the client is gone.
pub fn end_body(r: *mut ffi::request_rec) -> bool {
    write_pieces(r, &[], Then::End)
}

extern "C" {
    fn mod_wsgi_rs_sendfile_enabled(r: *mut ffi::request_rec) -> c_int;
    fn mod_wsgi_rs_send_file(
        r: *mut ffi::request_rec,
        fd: *mut ffi::apr_file_t,
        offset: ffi::apr_off_t,
        len: ffi::apr_size_t,
    ) -> c_int;
    fn mod_wsgi_rs_abort_response(r: *mut ffi::request_rec);
    fn mod_wsgi_rs_write_pieces(
        r: *mut ffi::request_rec,
        iov: *const libc::iovec,
        n: c_int,
        then: c_int,
    ) -> c_int;
}

/// Ends a response that cannot be completed after its headers went out,
/// so the client sees it cut (no final chunk; connection closed).
pub fn abort_response(r: *mut ffi::request_rec) {
    // SAFETY: live request whose headers were sent; see shim.c.
    unsafe { mod_wsgi_rs_abort_response(r) }
}

/// Sets the response status and headers before the first body byte.
pub fn set_response_head(
    r: *mut ffi::request_rec,
    status: u16,
    status_line: &CString,
    headers: &[(CString, CString)],
) {
    // SAFETY: `r` is live; every string is copied into r->pool.
    unsafe {
        let pool = (*r).pool;
        (*r).status = status as c_int;
        (*r).status_line = pool_str(pool, status_line.as_bytes());
        for (k, v) in headers {
            let (kb, vb) = (k.as_bytes(), v.as_bytes());
            if kb.eq_ignore_ascii_case(b"content-type") {
                ffi::ap_set_content_type(r, pool_str(pool, vb));
            } else if kb.eq_ignore_ascii_case(b"content-length") {
                table_set(pool, (*r).headers_out, kb, vb);
            } else {
                table_add(pool, (*r).headers_out, kb, vb);
            }
        }
    }
}

/// Sends `len` bytes of the open file `fd` from `offset` through Apache's
/// output filters as a file bucket (sendfile where EnableSendfile allows).
/// The fd is duplicated so the application may close its file at once.
pub fn send_file(r: *mut ffi::request_rec, fd: c_int, offset: u64, len: u64) -> bool {
    // SAFETY: dup gives us our own descriptor, closed by the request pool's
    // cleanup after every bucket that refers to it is gone.
    unsafe {
        let own = libc::dup(fd);
        if own < 0 {
            return false;
        }
        let pool = (*r).pool;
        let mut file: *mut ffi::apr_file_t = std::ptr::null_mut();
        let mut os_fd = own;
        // Apache's EnableSendfile decides, as for its own static files
        // (sendfile over loopback can be slower than writing from mmap).
        let flags = if mod_wsgi_rs_sendfile_enabled(r) != 0 {
            ffi::APR_FOPEN_READ | ffi::APR_FOPEN_SENDFILE_ENABLED
        } else {
            ffi::APR_FOPEN_READ
        };
        if ffi::apr_os_file_put(&mut file, &mut os_fd, flags, pool) != 0 {
            libc::close(own);
            return false;
        }
        crate::apache::pool::on_cleanup(
            pool,
            Box::new(move || {
                libc::close(own);
            }),
        );
        // No flush: like Apache's own static files, the file bucket goes out
        // with what follows (at the latest with the end of the response).
        let rv = mod_wsgi_rs_send_file(r, file, offset as _, len as _);
        rv == 0 && (*(*r).connection).aborted == 0
    }
}

/// Now, in microseconds since the epoch (the unit of Apache's times).
pub fn epoch_micros() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}
