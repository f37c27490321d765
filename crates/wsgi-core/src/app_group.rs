//! Naming the interpreter (application group) a request runs in.

use crate::directives::ApplicationGroup;

/// What a request contributes to its application group's name.
pub struct RequestIdentity<'a> {
    pub server_hostname: &'a str,
    pub port: u16,
    /// True when `port` is the scheme's default (80 for http, 443 for https).
    pub default_port: bool,
    pub script_name: &'a str,
    /// Looks up a request environment variable for `%{ENV:name}`.
    pub env: &'a dyn Fn(&str) -> Option<String>,
}

/// The interpreter name; the empty string is the main interpreter, as in
/// mod_wsgi (`mod_wsgi.application_group` reads `''` under `%{GLOBAL}`).
pub fn application_group_name(spec: &ApplicationGroup, req: &RequestIdentity) -> String {
    match spec {
        ApplicationGroup::Global => String::new(),
        ApplicationGroup::Server => server_part(req, 0),
        ApplicationGroup::Resource => {
            // One allocation: this runs for every request.
            let mut name = server_part(req, 1 + req.script_name.len());
            name.push('|');
            name.push_str(req.script_name);
            name
        }
        ApplicationGroup::Env(name) => (req.env)(name).unwrap_or_default(),
        ApplicationGroup::Named(name) => name.clone(),
    }
}

/// The host part, in a string with room for `more` bytes after it.
fn server_part(req: &RequestIdentity, more: usize) -> String {
    let mut part = String::with_capacity(req.server_hostname.len() + 6 + more);
    part.push_str(req.server_hostname);
    if !req.default_port {
        use std::fmt::Write;
        let _ = write!(part, ":{}", req.port);
    }
    part
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ident<'a>(env: &'a dyn Fn(&str) -> Option<String>, port: u16) -> RequestIdentity<'a> {
        RequestIdentity {
            server_hostname: "example.com",
            port,
            default_port: port == 80,
            script_name: "/app",
            env,
        }
    }

    #[test]
    fn names() {
        let env = |k: &str| (k == "APP").then(|| "from-env".to_string());
        let r = ident(&env, 8000);
        assert_eq!(application_group_name(&ApplicationGroup::Global, &r), "");
        assert_eq!(
            application_group_name(&ApplicationGroup::Resource, &r),
            "example.com:8000|/app"
        );
        assert_eq!(
            application_group_name(&ApplicationGroup::Server, &r),
            "example.com:8000"
        );
        assert_eq!(
            application_group_name(&ApplicationGroup::Env("APP".into()), &r),
            "from-env"
        );
        assert_eq!(
            application_group_name(&ApplicationGroup::Env("NONE".into()), &r),
            ""
        );
        assert_eq!(
            application_group_name(&ApplicationGroup::Named("x".into()), &r),
            "x"
        );
        let r80 = ident(&env, 80);
        assert_eq!(
            application_group_name(&ApplicationGroup::Resource, &r80),
            "example.com|/app"
        );
    }
}
