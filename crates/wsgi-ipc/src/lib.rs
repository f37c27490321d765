//! The daemon socket layer of mod_wsgi-rs, Apache-free and Python-free:
//! `conn`, a framed connection over a UNIX stream socket (the protocol of
//! `wsgi_core::protocol`, descriptor passing, bounded reads), and `socket`,
//! the Apache child's checked connect. The `unsafe` here is the socket FFI
//! (sendmsg/recvmsg with control messages, non-blocking connect,
//! SO_PEERCRED), each block with its SAFETY note; both ends of daemon mode
//! use it, and the fuzz targets drive it over socketpairs.

pub mod conn;
pub mod socket;
