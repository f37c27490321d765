//! A request being handled (`request_rec`), as a handle that safe code can
//! hold for the hook's duration: what it asks for, where Apache mapped it,
//! and the per-request notes of this module. Reading and writing the body
//! is in `response.rs`.
//!
//! A `Request<'r>` is made only by the hook entry points (`phases.rs`)
//! from the pointer httpd passes, and lives no longer than the hook call;
//! it is used only on the thread that runs the hook (or with that thread
//! blocked in Python on its behalf).

use super::ffi;
use super::pool::Pool;
use super::server::Server;
use super::strings::lossy;
use super::table::Table;
use std::any::Any;
use std::ffi::{c_char, c_int, CStr, CString};
use std::marker::PhantomData;
use std::ptr::NonNull;

#[derive(Clone, Copy)]
#[repr(transparent)]
pub struct Request<'r>(
    NonNull<ffi::request_rec>,
    PhantomData<&'r mut ffi::request_rec>,
);

/// What Apache's directory walk found at r->filename.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileKind {
    Missing,
    Directory,
    File,
}

impl<'r> Request<'r> {
    /// # Safety
    /// `r` is null or the live request of the hook being run, valid for `'r`.
    pub(crate) unsafe fn from_raw(r: *mut ffi::request_rec) -> Option<Request<'r>> {
        NonNull::new(r).map(|r| Request(r, PhantomData))
    }

    pub(super) fn raw(self) -> *mut ffi::request_rec {
        self.0.as_ptr()
    }

    fn rec(&self) -> &ffi::request_rec {
        // SAFETY: see the type's invariant; the reference lasts one field
        // read, never across one of our own writes.
        unsafe { &*self.0.as_ptr() }
    }

    fn conn(&self) -> &ffi::conn_rec {
        // SAFETY: every live request has its connection.
        unsafe { &*self.rec().connection }
    }

    fn text(&self, p: *const c_char) -> &'r [u8] {
        // SAFETY: request strings live in the request's (or a longer) pool.
        unsafe { super::strings::c_bytes(p) }
    }

    pub fn pool(self) -> Pool<'r> {
        // SAFETY: a request's pool lives as long as the request.
        unsafe { Pool::from_raw(self.rec().pool) }.expect("a request has a pool")
    }

    pub fn server(self) -> Server {
        // SAFETY: r->server is its virtual host's record.
        unsafe { Server::from_raw(self.rec().server) }.expect("a request has a server")
    }

    pub fn uri(self) -> &'r [u8] {
        self.text(self.rec().uri)
    }

    pub fn filename(self) -> &'r [u8] {
        self.text(self.rec().filename)
    }

    pub fn handler(self) -> &'r [u8] {
        self.text(self.rec().handler)
    }

    /// Maps the request to `filename` for `handler` (what translate_name does).
    pub fn map_to(self, filename: &[u8], handler: &'static CStr) {
        let f = self.pool().c_string(filename);
        // SAFETY: the request is live and no reference into it is held;
        // both strings outlive it.
        unsafe {
            (*self.raw()).filename = f;
            (*self.raw()).handler = handler.as_ptr();
        }
    }

    pub fn is_get(self) -> bool {
        self.rec().method_number == ffi::M_GET as c_int
    }

    /// A HEAD request (Apache sends no body).
    pub fn header_only(self) -> bool {
        self.rec().header_only != 0
    }

    /// When the request began, in microseconds since the epoch.
    pub fn start_us(self) -> u64 {
        self.rec().request_time as u64
    }

    /// Apache's request log id (what `%L` prints), generated if needed.
    pub fn log_id(self) -> String {
        if self.rec().log_id.is_null() {
            let mut id: *const c_char = std::ptr::null();
            // SAFETY: fills the id from the request pool, exactly as the
            // error log does for `%L`; no reference into the request is held.
            unsafe {
                ffi::ap_run_generate_log_id(self.rec().connection, self.raw(), &mut id);
                (*self.raw()).log_id = id;
            }
        }
        lossy(self.text(self.rec().log_id))
    }

    pub fn headers_in(self) -> Option<Table<'r>> {
        // SAFETY: the request's own table, in its pool.
        unsafe { Table::from_raw(self.rec().headers_in, self.pool()) }
    }

    pub fn headers_out(self) -> Option<Table<'r>> {
        // SAFETY: as above.
        unsafe { Table::from_raw(self.rec().headers_out, self.pool()) }
    }

    pub fn subprocess_env(self) -> Option<Table<'r>> {
        // SAFETY: as above.
        unsafe { Table::from_raw(self.rec().subprocess_env, self.pool()) }
    }

    /// A variable of the request's environment (`SetEnv`, `[E=...]`).
    pub fn env(self, key: &str) -> Option<String> {
        let k = CString::new(key).ok()?;
        self.subprocess_env()?.get(&k).map(lossy)
    }

    /// Adds Apache's CGI variables to the subprocess environment
    /// (`ap_add_common_vars` and `ap_add_cgi_vars`), without
    /// PATH_TRANSLATED (as mod_wsgi 6.1 leaves it out): for a request with
    /// a path info, `ap_add_cgi_vars` finds it with a whole sub-request (a
    /// second directory walk and every hook), on every request. The path
    /// info is hidden from it, and SCRIPT_NAME and PATH_INFO are then set
    /// as it sets them.
    pub fn add_cgi_vars(self) {
        let path_info = self.rec().path_info;
        // SAFETY: a live request, used by this thread only; these add
        // entries to r->subprocess_env. r->path_info is hidden for the one
        // call and put back at once.
        unsafe {
            ffi::ap_add_common_vars(self.raw());
            (*self.raw()).path_info = std::ptr::null_mut();
            ffi::ap_add_cgi_vars(self.raw());
            (*self.raw()).path_info = path_info;
        }
        let info = self.text(path_info);
        if info.is_empty() {
            return;
        }
        let Some(env) = self.subprocess_env() else {
            return;
        };
        let uri = self.uri();
        if self.text(self.rec().protocol) != b"INCLUDED" {
            // SAFETY: both are NUL-terminated request strings.
            let at = unsafe { ffi::ap_find_path_info(self.rec().uri, path_info) };
            let at = usize::try_from(at).unwrap_or(0).min(uri.len());
            env.set(b"SCRIPT_NAME", &uri[..at]);
        }
        env.set(b"PATH_INFO", info);
    }

    /// What is at r->filename, and its modification time (APR µs).
    pub fn file(self) -> (FileKind, i64) {
        let f = &self.rec().finfo;
        let kind = match f.filetype {
            ffi::apr_filetype_e_APR_NOFILE => FileKind::Missing,
            ffi::apr_filetype_e_APR_DIR => FileKind::Directory,
            _ => FileKind::File,
        };
        (kind, f.mtime)
    }

    /// Whether `Options ExecCGI` is on for the request's directory.
    pub fn exec_cgi_allowed(self) -> bool {
        // SAFETY: a live request.
        (unsafe { ffi::ap_allow_options(self.raw()) } & ffi::OPT_EXECCGI as c_int) != 0
    }

    /// Prepares reading the body, refusing a chunked one unless `chunked`;
    /// Apache's status (OK, 411, 413 ...).
    pub fn setup_body(self, chunked: bool) -> c_int {
        let policy = if chunked {
            ffi::REQUEST_CHUNKED_DECHUNK
        } else {
            ffi::REQUEST_CHUNKED_ERROR
        };
        // SAFETY: a live request, before its body is read.
        unsafe { ffi::ap_setup_client_block(self.raw(), policy as c_int) }
    }

    /// The port the request came to, whether that is its scheme's default,
    /// and whether the scheme is https.
    pub fn port_and_scheme(self) -> (u16, bool, bool) {
        // SAFETY: a live request.
        unsafe {
            let port = ffi::ap_get_server_port(self.raw());
            let scheme = self.text(ffi::ap_run_http_scheme(self.raw()));
            let default = port as u32 == ffi::ap_run_default_port(self.raw()) as u32;
            (port, default, scheme == b"https")
        }
    }

    /// True when a content-level output filter (e.g. mod_deflate) is in the chain.
    pub fn has_content_filters(self) -> bool {
        let mut f = self.rec().output_filters;
        while !f.is_null() {
            // SAFETY: walking the request's live output filter list.
            unsafe {
                let frec = (*f).frec;
                if !frec.is_null() && (*frec).ftype < ffi::ap_filter_type_AP_FTYPE_PROTOCOL {
                    return true;
                }
                f = (*f).next;
            }
        }
        false
    }

    /// The address and port the connection came in on.
    pub fn local_address(self) -> (&'r [u8], u16) {
        let c = self.conn();
        let port = if c.local_addr.is_null() {
            0
        } else {
            // SAFETY: the connection's own address record.
            unsafe { (*c.local_addr).port }
        };
        (self.text(c.local_ip), port)
    }

    /// Our per-directory record for the request's location.
    pub fn dir_record<T: Any>(self) -> Option<&'r T> {
        super::records::get(self.rec().per_dir_config)
    }

    /// What an earlier phase of this module noted for the request.
    pub fn note<T: Any>(self) -> Option<&'r T> {
        super::records::get(self.rec().request_config)
    }

    /// Notes `value` for later phases of this request (one note per request).
    pub fn set_note<T: Any + Send + Sync>(self, value: T) {
        super::records::set(self.rec().request_config, self.pool(), Box::new(value));
    }

    /// Whether the client connection may carry another request.
    pub fn keeps_connection(self) -> bool {
        self.conn().keepalive != ffi::ap_conn_keepalive_e_AP_CONN_CLOSE
    }

    /// Marks the connection to be closed after this response.
    pub fn close_after(self) {
        // SAFETY: the live connection; no reference into it is held.
        unsafe { (*self.rec().connection).keepalive = ffi::ap_conn_keepalive_e_AP_CONN_CLOSE }
    }

    /// The connection's log id (`%{c}L`), if Apache made one.
    pub fn connection_log_id(self) -> Option<&'r [u8]> {
        let id = self.conn().log_id;
        (!id.is_null()).then(|| self.text(id))
    }

    /// The authenticated user (r->user), if any.
    pub fn user(self) -> Option<&'r [u8]> {
        let u = self.rec().user;
        (!u.is_null()).then(|| self.text(u))
    }

    /// Records the authenticated user's name (r->user).
    pub fn set_user(self, name: &[u8]) {
        let u = self.pool().c_string(name);
        // SAFETY: a live request, no reference into it held; the name is
        // in its pool.
        unsafe { (*self.raw()).user = u };
    }

    /// The client's host name if Apache knows it (HostnameLookups), else
    /// its address, as mod_wsgi passes it to allow_access().
    pub fn remote_host(self) -> String {
        // SAFETY: a live request and its connection; the answer is pool text.
        let host = unsafe {
            ffi::ap_get_remote_host(
                self.rec().connection,
                self.rec().per_dir_config.cast(),
                ffi::REMOTE_HOST as c_int,
                std::ptr::null_mut(),
            )
        };
        if host.is_null() {
            lossy(self.text(self.rec().useragent_ip))
        } else {
            lossy(self.text(host))
        }
    }

    pub(super) fn client_gone(self) -> bool {
        self.conn().aborted != 0
    }
}

/// Now, in microseconds since the epoch (the unit of Apache's times).
pub fn epoch_micros() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}
