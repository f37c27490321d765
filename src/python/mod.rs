//! The Python host: interpreters, the per-interpreter `mod_wsgi` module and
//! the WSGI adapter. Raw CPython calls are confined to these files.

pub mod channel;
mod native;
pub mod object;
pub mod runtime;
pub mod teardown;
pub mod wsgi_call;
