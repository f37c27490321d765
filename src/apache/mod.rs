//! The thin, `unsafe` boundary with httpd: raw bindings and small safe wrappers.
//! Raw Apache pointers live only under this module and `crate::hooks`.

pub mod cgi;
pub mod conftree;
pub mod ffi;
pub mod guard;
pub mod log;
pub mod module_def;
pub mod mpm;
pub mod pool;
pub mod request;
pub mod request_io;
pub mod vhosts;
