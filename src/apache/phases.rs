//! What the module does in each of Apache's phases, as a trait the module
//! implements (so this layer imports nothing above it); `hook_entry` and
//! `auth_hooks` are the entry points httpd calls, which turn its pointers
//! into handles and call these.

pub use super::auth_status::{Authn, Authz};
use super::pool::Pool;
use super::request::Request;
use super::server::Server;
use std::ffi::c_int;

/// What the module does in each of Apache's phases. The status values are
/// Apache's (`ffi::OK`, `ffi::DECLINED`, HTTP status codes).
pub trait Phases: 'static {
    /// Before each configuration read.
    fn pre_config();
    /// After the configuration is read (also for `configtest`).
    fn check_config(s: Server) -> c_int;
    /// In the parent, once the configuration is in place (`first_pass` on
    /// the check-only pass Apache makes at start-up).
    fn post_config(pconf: Pool<'_>, s: Server, first_pass: bool) -> c_int;
    /// In the parent, once per configuration generation, when the
    /// scoreboard exists: at the end of post_config on a restart, from
    /// pre_mpm at start-up (the MPM makes the scoreboard in between, and
    /// processes forked before it would never see it).
    fn start_processes(pconf: Pool<'_>, s: Server) -> c_int;
    /// In each new Apache child.
    fn child_init(pchild: Pool<'_>, s: Server);
    /// For each new client connection.
    fn pre_connection();
    fn translate_name(r: Request<'_>) -> c_int;
    fn handler(r: Request<'_>) -> c_int;
    /// `AuthBasicProvider wsgi`.
    fn check_password(r: Request<'_>, user: &[u8], password: &[u8]) -> Authn;
    /// `AuthDigestProvider wsgi`: the status and, when found, the hash.
    fn realm_hash(r: Request<'_>, user: &[u8], realm: &[u8]) -> (Authn, Option<String>);
    /// `Require wsgi-group name...`.
    fn group_authz(r: Request<'_>, require_args: &[u8]) -> Authz;
    /// The access phase (`WSGIAccessScript`).
    fn access_checker(r: Request<'_>) -> c_int;
}
