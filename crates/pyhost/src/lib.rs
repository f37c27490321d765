//! The Python host: interpreters, thread states, the per-interpreter
//! `mod_wsgi` module, the WSGI adapter and teardown. It knows nothing of
//! Apache: one request's I/O comes through `io::RequestIo`, process-wide
//! notifications go to `host::Host`. Raw CPython calls are confined to
//! this crate.

pub mod auth_call;
mod environ_keys;
pub mod gil_mode;
pub mod host;
mod interpreter_events;
pub mod io;
pub mod metrics;
mod metrics_dict;
pub mod metrics_interval;
mod modules;
mod native;
mod new_interpreter;
pub mod object;
mod request_handle;
mod request_state;
pub mod runtime;
pub mod scoreboard;
pub mod slow_requests;
pub mod teardown;
pub mod wsgi_call;

/// The mod_wsgi API level this host matches (`mod_wsgi.version`).
pub use native::API_VERSION;
