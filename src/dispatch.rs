//! `WSGIDispatchScript`: a Python script, run in the Apache child for each
//! request it covers, whose process_group(), application_group() and
//! callable_object() may change where and how the request runs. Its
//! answers go through the same parsers as the directives they stand for,
//! so a dispatch script cannot name anything a configuration could not.

#![forbid(unsafe_code)]

use crate::apache::request::Request;
use crate::apache::{ffi, log};
use pyhost::{auth_call, runtime};
use std::ffi::c_int;
use wsgi_core::app_group::{application_group_name, RequestIdentity};
use wsgi_core::directives::{identifier, ApplicationGroup, AuthScript, ProcessGroup};
use wsgi_core::target::Choice;

/// Applies the dispatch script's answers to `choice`. Err: the status to
/// answer with (the script failed or answered something invalid; logged).
pub fn apply(
    r: Request<'_>,
    ds: &AuthScript,
    reload: bool,
    choice: &mut Choice,
) -> Result<(), c_int> {
    let fail = |msg: String| {
        log::request(ffi::APLOG_ERR, r, &msg);
        Err(ffi::HTTP_INTERNAL_SERVER_ERROR)
    };
    if runtime::process_info().is_none() {
        return fail(format!("WSGIDispatchScript '{}': Python does not run in Apache's children here (WSGIRestrictEmbedded On, or it failed to start), and dispatch scripts run there, as with mod_wsgi", ds.script));
    }
    let cgi = crate::apache::cgi::cgi_environ(r, false, false, "");
    // In its own application-group=, else in the request's.
    let group = ds
        .application_group
        .clone()
        .unwrap_or(choice.application_group.clone());
    let hostname = r.server().hostname();
    let (port, default_port, _) = r.port_and_scheme();
    let script_name =
        String::from_utf8_lossy(cgi.get(b"SCRIPT_NAME").unwrap_or_default()).into_owned();
    let env = |k: &str| r.env(k);
    let group = application_group_name(
        &group,
        &RequestIdentity {
            server_hostname: &hostname,
            port,
            default_port,
            script_name: &script_name,
            env: &env,
        },
    );
    let [process_group, application_group, callable] =
        match auth_call::dispatch(&group, &ds.script, reload, &cgi) {
            Ok(answers) => answers,
            Err(e) => {
                log::request(
                    ffi::APLOG_ERR,
                    r,
                    &format!("WSGIDispatchScript '{}' failed:", ds.script),
                );
                for line in e.trim_end().lines() {
                    log::request(ffi::APLOG_ERR, r, line);
                }
                return Err(ffi::HTTP_INTERNAL_SERVER_ERROR);
            }
        };
    let bad = |what: &str, e: String| format!("WSGIDispatchScript '{}': {what}(): {e}", ds.script);
    if let Some(pg) = process_group {
        match ProcessGroup::parse(&pg) {
            Ok(pg) => choice.process_group = pg,
            Err(e) => return fail(bad("process_group", e)),
        }
    }
    if let Some(ag) = application_group {
        match ApplicationGroup::parse(&ag) {
            Ok(ag) => choice.application_group = ag,
            Err(e) => return fail(bad("application_group", e)),
        }
    }
    if let Some(c) = callable {
        match identifier(&c) {
            Ok(c) => choice.callable = c,
            Err(e) => return fail(bad("callable_object", e)),
        }
    }
    Ok(())
}
