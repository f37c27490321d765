//! The CGI environment of a request, built from Apache's own functions
//! before any Python runs (embedded mode hands it to the interpreter,
//! daemon mode sends it over the socket).
#![allow(clippy::not_unsafe_ptr_arg_deref)]

use super::{ffi, request};
use wsgi_core::environ::Environ;

/// The CGI variables for `r` (Apache's own `ap_add_common_vars` and
/// `ap_add_cgi_vars`, as mod_wsgi uses), plus mod_wsgi's string keys. The
/// entries borrow Apache's strings, which live as long as the request.
pub fn cgi_environ<'r>(
    r: *mut ffi::request_rec,
    pass_authorization: bool,
    head_as_get: bool,
) -> Environ<'r> {
    // SAFETY: live request; these add entries to r->subprocess_env.
    unsafe {
        ffi::ap_add_common_vars(r);
        ffi::ap_add_cgi_vars(r);
    }
    // SAFETY: live request.
    let (env, headers_in) = unsafe { ((*r).subprocess_env, (*r).headers_in) };
    let mut out = Environ::with_capacity(64);
    request::table_each(env, |k, v| out.push(k, v));
    if pass_authorization {
        if let Some(auth) = request::table_get(headers_in, c"Authorization") {
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
    out.push(&b"mod_wsgi.request_handler"[..], &b"wsgi-script"[..]);
    out.push(&b"mod_wsgi.handler_script"[..], &b""[..]);
    out.push(&b"mod_wsgi.request_id"[..], request::log_id(r).into_bytes());
    // SAFETY: live request and connection.
    let (start, local_ip, local_port) = unsafe {
        let c = (*r).connection;
        let port = if (*c).local_addr.is_null() {
            0
        } else {
            (*(*c).local_addr).port
        };
        (
            (*r).request_time,
            request::cstr_bytes::<'r>((*c).local_ip),
            port,
        )
    };
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
