//! Naming a virtual host so that a daemon process, forked from the same
//! configuration as the Apache child that relays a request, finds the
//! request's server record (and so logs to that virtual host's error log).

use super::server::Server;

/// `"N:hostname:port"`: the server's position in Apache's server list,
/// checked against its name and port on the other side.
pub fn describe(s: Server) -> String {
    let n = Server::all().position(|c| c == s).unwrap_or(0);
    format!("{}:{}", n, name_of(s))
}

/// The server described by `describe`, or None (the main server's log is
/// then used) when this configuration has no such server.
pub fn find(description: &str) -> Option<Server> {
    let (n, name) = description.split_once(':')?;
    let n: usize = n.parse().unwrap_or(usize::MAX);
    match Server::all().nth(n) {
        Some(s) if name_of(s) == name => Some(s),
        // A different generation's configuration: look for the name.
        _ => Server::all().find(|&s| name_of(s) == name),
    }
}

fn name_of(s: Server) -> String {
    format!("{}:{}", s.hostname(), s.port())
}

/// The descriptors of every server's error log (a daemon keeps them: it
/// logs to the virtual host of each request).
pub fn error_log_fds() -> Vec<i32> {
    Server::all().filter_map(Server::error_log_fd).collect()
}
