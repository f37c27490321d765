//! Daemon mode: `WSGIDaemonProcess` groups run applications in their own
//! processes, forked and supervised by the Apache parent; Apache's children
//! relay requests to them over a UNIX socket (docs/protocol.md).

mod connections;
mod daemon_io;
mod exchange;
pub mod group;
pub mod health;
mod host;
pub mod incoming;
pub mod keeper;
mod notices;
mod pool;
mod preauth;
pub mod process;
pub mod relay;
pub mod secret;
mod serve;
mod setup;
mod socket_stash;
mod state;
mod stop_loop;
pub mod supervisor;
mod timeouts;

pub use wsgi_ipc::{conn, socket};
