//! A virtual host's record (`server_rec`), as a handle that safe code can
//! hold. Server records are built while Apache reads its configuration and
//! are only read afterwards; they live in the configuration pool, which
//! outlives every hook, request and daemon of that generation.

use super::ffi;
use super::strings::c_bytes;
use std::any::Any;
use std::ptr::NonNull;
use std::time::Duration;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(transparent)]
pub struct Server(NonNull<ffi::server_rec>);

// SAFETY: a server record is read-only once the configuration is read, and
// lives as long as the configuration that every user of a handle belongs to.
unsafe impl Send for Server {}
// SAFETY: as above.
unsafe impl Sync for Server {}

impl Server {
    /// # Safety
    /// `s` is null or a server record of the loaded configuration.
    pub(crate) unsafe fn from_raw(s: *mut ffi::server_rec) -> Option<Server> {
        NonNull::new(s).map(Server)
    }

    pub(super) fn raw(self) -> *mut ffi::server_rec {
        self.0.as_ptr()
    }

    fn rec(&self) -> &ffi::server_rec {
        // SAFETY: see the type's invariant.
        unsafe { self.0.as_ref() }
    }

    /// The main server (None before Apache has read its configuration).
    pub fn main() -> Option<Server> {
        // SAFETY: ap_server_conf is set once the configuration is read and
        // only read afterwards.
        unsafe { Server::from_raw(ffi::ap_server_conf) }
    }

    /// Every server of the configuration, main server first.
    pub fn all() -> impl Iterator<Item = Server> {
        std::iter::successors(Server::main(), |s| {
            // SAFETY: the `next` chain links records of the same configuration.
            unsafe { Server::from_raw(s.rec().next) }
        })
    }

    /// ServerName ("" if unset).
    pub fn hostname(self) -> String {
        // SAFETY: configuration-pool text.
        String::from_utf8_lossy(unsafe { c_bytes(self.rec().server_hostname) }).into_owned()
    }

    pub fn port(self) -> u16 {
        self.rec().port
    }

    /// `Timeout` (at least a second).
    pub fn timeout(self) -> Duration {
        Duration::from_micros(self.rec().timeout.max(1_000_000) as u64)
    }

    /// Our per-server record (see `records`), if it is a `T`.
    pub fn record<T: Any>(self) -> Option<&'static T> {
        super::records::get::<T>(self.rec().module_config)
    }

    /// The descriptor of this server's error log, if it is a file.
    pub fn error_log_fd(self) -> Option<i32> {
        let f = self.rec().error_log;
        if f.is_null() {
            return None;
        }
        let mut fd: i32 = -1;
        // SAFETY: an open APR file of this configuration.
        let rc = unsafe { ffi::apr_os_file_get(&mut fd, f) };
        (rc == 0 && fd >= 0).then_some(fd)
    }

    /// The pool of the Apache process (the parent's lives across restarts).
    pub fn process_pool(self) -> super::pool::Pool<'static> {
        // SAFETY: every server record points at the process record, whose
        // pool lives as long as the process.
        unsafe { super::pool::Pool::from_raw((*self.rec().process).pool) }
            .expect("the process has a pool")
    }
}
