//! The CGI environment of a request, built from Apache's own functions
//! before any Python runs (embedded mode hands it to the interpreter,
//! daemon mode sends it over the socket).
#![allow(clippy::not_unsafe_ptr_arg_deref)]

use super::{ffi, request};

/// The CGI variables for `r` (Apache's own `ap_add_common_vars` and
/// `ap_add_cgi_vars`, as mod_wsgi uses), plus mod_wsgi's string keys.
pub fn cgi_environ(
    r: *mut ffi::request_rec,
    pass_authorization: bool,
    head_as_get: bool,
) -> Vec<(Vec<u8>, Vec<u8>)> {
    // SAFETY: live request; these add entries to r->subprocess_env.
    unsafe {
        ffi::ap_add_common_vars(r);
        ffi::ap_add_cgi_vars(r);
    }
    // SAFETY: live request.
    let (env, headers_in) = unsafe { ((*r).subprocess_env, (*r).headers_in) };
    let mut out: Vec<(Vec<u8>, Vec<u8>)> = request::table_entries(env)
        .into_iter()
        .map(|(k, v)| (k.to_vec(), v.to_vec()))
        .collect();
    let mut set = |k: &[u8], v: Vec<u8>| match out.iter_mut().find(|(ek, _)| ek == k) {
        Some(e) => e.1 = v,
        None => out.push((k.to_vec(), v)),
    };
    if pass_authorization {
        if let Some(auth) = request::table_get(headers_in, c"Authorization") {
            set(b"HTTP_AUTHORIZATION", auth.to_vec());
        }
    }
    if head_as_get {
        set(b"REQUEST_METHOD", b"GET".to_vec());
    }
    let script_name = out
        .iter()
        .find(|(k, _)| k == b"SCRIPT_NAME")
        .map(|e| e.1.clone())
        .unwrap_or_default();
    let path_info = out
        .iter()
        .find(|(k, _)| k == b"PATH_INFO")
        .map(|e| e.1.clone())
        .unwrap_or_default();
    out.push((b"mod_wsgi.script_name".to_vec(), script_name));
    out.push((b"mod_wsgi.path_info".to_vec(), path_info));
    out.push((
        b"mod_wsgi.request_handler".to_vec(),
        b"wsgi-script".to_vec(),
    ));
    out.push((b"mod_wsgi.handler_script".to_vec(), Vec::new()));
    out.push((
        b"mod_wsgi.request_id".to_vec(),
        request::log_id(r).into_bytes(),
    ));
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
            request::cstr_bytes((*c).local_ip).to_vec(),
            port,
        )
    };
    out.push((
        b"mod_wsgi.request_start".to_vec(),
        start.to_string().into_bytes(),
    ));
    out.push((b"mod_wsgi.listener_host".to_vec(), local_ip));
    out.push((
        b"mod_wsgi.listener_port".to_vec(),
        local_port.to_string().into_bytes(),
    ));
    out
}
