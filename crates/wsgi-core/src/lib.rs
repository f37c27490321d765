//! Apache-free logic of mod_wsgi-rs.
//!
//! Everything here is plain Rust with no FFI, so it can be unit tested with
//! `cargo test -p wsgi-core`: the tokenizer for directive arguments, the
//! directive models and their validation, application-group naming, and the
//! checks applied to what a WSGI application hands back (status, headers).
#![forbid(unsafe_code)]

pub mod app_group;
pub mod body_length;
pub mod cgi_vars;
pub mod daemon;
pub mod directives;
pub mod environ;
pub mod preauth;
pub mod protocol;
pub mod proxy_headers;
pub mod python_home;
pub mod relay_rules;
pub mod response;
pub mod retry;
pub mod route;
pub mod route_policy;
pub mod server_options;
pub mod stop;
pub mod target;
pub mod telemetry_wire;
pub mod words;

pub use daemon::DaemonProcessSpec;
