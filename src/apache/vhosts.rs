//! Naming a virtual host so that a daemon process, forked from the same
//! configuration as the Apache child that relays a request, finds the
//! request's server record (and so logs to that virtual host's error log).

use super::server::Server;
use std::borrow::Cow;
use std::sync::OnceLock;

/// `"N:hostname:port"`: the server's position in Apache's server list,
/// checked against its name and port on the other side.
pub fn describe(s: Server) -> Cow<'static, str> {
    match described().iter().find(|(c, _)| *c == s) {
        Some((_, text)) => Cow::Borrowed(text.as_str()),
        None => Cow::Owned(describe_now(s)),
    }
}

/// The server described by `describe`, or None (the main server's log is
/// then used) when this configuration has no such server.
pub fn find(description: &str) -> Option<Server> {
    if let Some((s, _)) = described().iter().find(|(_, d)| d == description) {
        return Some(*s);
    }
    let (n, name) = description.split_once(':')?;
    let n: usize = n.parse().unwrap_or(usize::MAX);
    match Server::all().nth(n) {
        Some(s) if name_of(s) == name => Some(s),
        // A different generation's configuration: look for the name.
        _ => Server::all().find(|&s| name_of(s) == name),
    }
}

/// Every server's description, made once per process (each relayed
/// request needs its server's, in the Apache child and in the daemon);
/// empty when the configuration is not the one they were made from.
fn described() -> &'static [(Server, String)] {
    static DESCRIBED: OnceLock<(i32, Vec<(Server, String)>)> = OnceLock::new();
    let (generation, all) = DESCRIBED.get_or_init(|| {
        let all = Server::all().map(|c| (c, describe_now(c))).collect();
        (super::mpm::config_generation(), all)
    });
    if *generation == super::mpm::config_generation() {
        all
    } else {
        &[]
    }
}

fn describe_now(s: Server) -> String {
    let n = Server::all().position(|c| c == s).unwrap_or(0);
    format!("{}:{}", n, name_of(s))
}

fn name_of(s: Server) -> String {
    format!("{}:{}", s.hostname(), s.port())
}

/// The descriptors of every server's error log (a daemon keeps them: it
/// logs to the virtual host of each request).
pub fn error_log_fds() -> Vec<i32> {
    Server::all().filter_map(Server::error_log_fd).collect()
}
