//! mod_wsgi-rs: an Apache httpd 2.4 module that hosts Python WSGI
//! applications, a drop-in replacement for mod_wsgi.
//!
//! This file is the module as httpd sees it: the `wsgi_module` record, with
//! the directive table (`commands`), the config records (`config`) and the
//! hooks (`hooks`). docs/architecture.md maps the rest.

pub mod apache;
mod auth;
mod commands;
mod config;
mod daemon;
mod dispatch;
mod embedded;
mod hooks;
mod import_scripts;
mod lifecycle;
mod os;
mod python_checks;
mod telemetry;

use apache::module_def::module;
use config::WsgiRecords;

/// The module record httpd looks up by name after `LoadModule wsgi_module`.
/// httpd writes into it (module_index, next), hence `static mut`; its name
/// "mod_wsgi.c" lets `<IfModule mod_wsgi.c>` match as it does for mod_wsgi.
#[no_mangle]
#[allow(non_upper_case_globals)]
pub static mut wsgi_module: apache::ffi::module = module(
    c"mod_wsgi.c",
    Some(apache::records::create_dir::<WsgiRecords>),
    Some(apache::records::merge_dir::<WsgiRecords>),
    Some(apache::records::create_server::<WsgiRecords>),
    Some(apache::records::merge_server::<WsgiRecords>),
    commands::COMMANDS.0.as_ptr(),
    apache::hook_entry::register_hooks::<hooks::Wsgi>,
);
