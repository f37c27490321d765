//! The thin, `unsafe` boundary with httpd: raw bindings and the handles
//! (`Request`, `Server`, `Pool`, `Cmd`, `Table`) that safe code holds. A raw
//! Apache pointer exists only under this module.

pub mod auth_hooks;
pub mod auth_status;
pub mod cgi;
pub mod cmd;
pub mod conftree;
mod errlog;
pub mod ffi;
pub mod guard;
pub mod hook_entry;
pub mod kept;
pub mod log;
pub mod module_def;
pub mod mpm;
pub mod other_child;
pub mod phases;
pub mod pool;
pub mod records;
pub mod regex;
pub mod request;
pub mod request_io;
pub mod response;
pub mod scoreboard;
pub mod server;
mod strings;
pub mod table;
pub mod vhosts;
