//! The CGI environment of a request, built from Apache's own functions
//! before any Python runs (embedded mode hands it to the interpreter,
//! daemon mode sends it over the socket).

use super::request::Request;
use wsgi_core::environ::Environ;

/// The CGI variables for `r` (Apache's own `ap_add_common_vars` and
/// `ap_add_cgi_vars`, less what mod_wsgi 6.1 leaves out: no
/// PATH_TRANSLATED, see `Request::add_cgi_vars`, and
/// `wsgi_core::cgi_vars`), plus mod_wsgi's string keys. The
/// entries borrow Apache's strings, which live as long as the request.
/// `handler_script`: the `WSGIHandlerScript` serving it ("" if none).
pub fn cgi_environ<'r>(
    r: Request<'r>,
    pass_authorization: bool,
    head_as_get: bool,
    handler_script: &str,
) -> Environ<'r> {
    r.add_cgi_vars();
    let mut out = Environ::with_capacity(64);
    if let Some(env) = r.subprocess_env() {
        env.each(|k, v| out.push(k, v));
    }
    wsgi_core::cgi_vars::leave_out_server_variables(&mut out, |name| {
        let name = std::str::from_utf8(name).ok()?;
        std::env::var_os(name).map(|v| std::os::unix::ffi::OsStringExt::into_vec(v))
    });
    if pass_authorization {
        if let Some(auth) = r.headers_in().and_then(|h| h.get(c"Authorization")) {
            out.set(b"HTTP_AUTHORIZATION", auth);
        }
    }
    if head_as_get {
        out.set(b"REQUEST_METHOD", &b"GET"[..]);
    }
    // Names of ours are never taken from the request's environment (a
    // `SetEnv` or `RewriteRule [E=...]` cannot make one up).
    out.remove_prefixed(b"mod_wsgi.rs.");
    // PEP 3333: PATH_INFO may be empty but is always there (a request for
    // the mount point itself, `/app` under `WSGIScriptAlias /app`, has none).
    if out.get(b"PATH_INFO").is_none() {
        out.push(&b"PATH_INFO"[..], &b""[..]);
    }
    let script_name = out.get(b"SCRIPT_NAME").unwrap_or_default().to_vec();
    let path_info = out.get(b"PATH_INFO").unwrap_or_default().to_vec();
    out.push(&b"mod_wsgi.script_name"[..], script_name);
    out.push(&b"mod_wsgi.path_info"[..], path_info);
    out.push(&b"mod_wsgi.request_handler"[..], r.handler());
    out.push(
        &b"mod_wsgi.handler_script"[..],
        handler_script.as_bytes().to_vec(),
    );
    out.push(&b"mod_wsgi.request_id"[..], r.log_id().into_bytes());
    if let Some(id) = r.connection_log_id() {
        out.push(&b"mod_wsgi.connection_id"[..], id);
    }
    let start = r.start_us();
    let (local_ip, local_port) = r.local_address();
    out.push(
        &b"mod_wsgi.request_start"[..],
        start.to_string().into_bytes(),
    );
    out.push(&b"mod_wsgi.listener_host"[..], local_ip);
    out.push(
        &b"mod_wsgi.listener_port"[..],
        local_port.to_string().into_bytes(),
    );
    out
}
