//! `WSGIAuthUserScript`, `WSGIAuthGroupScript`, `WSGIAccessScript`: Apache
//! asks, a Python function answers. As with mod_wsgi they run in the
//! Apache child handling the request (embedded mode), in the main
//! interpreter unless `application-group=` says otherwise. Anything that
//! goes wrong (no Python here, a raising script, a wrong answer) is an
//! error: logged with its traceback, answered 500, never an allow.

#![forbid(unsafe_code)]

use crate::apache::auth_status::{Authn, Authz};
use crate::apache::request::Request;
use crate::apache::{ffi, log};
use crate::config::DirConfig;
use pyhost::auth_call::{self, AuthAnswer, AuthFunction};
use pyhost::runtime;
use std::ffi::c_int;
use wsgi_core::app_group::{application_group_name, RequestIdentity};
use wsgi_core::directives::AuthScript;

fn user_script(d: &DirConfig) -> Option<&AuthScript> {
    d.auth_user_script.as_ref()
}

fn group_script(d: &DirConfig) -> Option<&AuthScript> {
    d.auth_group_script.as_ref()
}

fn access_script(d: &DirConfig) -> Option<&AuthScript> {
    d.access_script.as_ref()
}

/// Runs `function` of the script `pick` chooses for this request. Err:
/// nothing to run, or it failed (already logged).
fn run(
    r: Request<'_>,
    directive: &str,
    pick: fn(&DirConfig) -> Option<&AuthScript>,
    function: AuthFunction,
    args: &[&[u8]],
) -> Result<AuthAnswer, ()> {
    let dir = r.dir_record::<DirConfig>();
    let Some(script) = dir.and_then(pick) else {
        let msg = format!(
            "{directive} is not set here, but Apache asked for it ({})",
            function.name()
        );
        log::request(ffi::APLOG_ERR, r, &msg);
        return Err(());
    };
    if runtime::process_info().is_none() {
        let msg = format!("{directive} '{}': Python does not run in Apache's children here (WSGIRestrictEmbedded On, or it failed to start), and authentication scripts run there, as with mod_wsgi", script.script);
        log::request(ffi::APLOG_ERR, r, &msg);
        return Err(());
    }
    let hostname = r.server().hostname();
    let (port, default_port, _) = r.port_and_scheme();
    let env = |k: &str| r.env(k);
    let group = application_group_name(
        &script.group(),
        &RequestIdentity {
            server_hostname: &hostname,
            port,
            default_port,
            script_name: "",
            env: &env,
        },
    );
    let cgi = crate::apache::cgi::cgi_environ(r, false, false, "");
    let reload = dir.and_then(|d| d.script_reloading).unwrap_or(true);
    auth_call::call(&group, &script.script, reload, function, &cgi, args).map_err(|e| {
        let msg = format!(
            "{directive} '{}' failed in {}():",
            script.script,
            function.name()
        );
        log::request(ffi::APLOG_ERR, r, &msg);
        for line in e.trim_end().lines() {
            log::request(ffi::APLOG_ERR, r, line);
        }
    })
}

/// `AuthBasicProvider wsgi`: check_password(environ, user, password).
pub fn check_password(r: Request<'_>, user: &[u8], password: &[u8]) -> Authn {
    let pick = user_script;
    match run(
        r,
        "WSGIAuthUserScript",
        pick,
        AuthFunction::CheckPassword,
        &[user, password],
    ) {
        Ok(AuthAnswer::Granted(name)) => {
            if let Some(name) = name {
                r.set_user(name.as_bytes());
            }
            Authn::Granted
        }
        Ok(AuthAnswer::Denied) => Authn::Denied,
        Ok(AuthAnswer::NotFound) => Authn::UserNotFound,
        _ => Authn::GeneralError,
    }
}

/// `AuthDigestProvider wsgi`: get_realm_hash(environ, user, realm).
pub fn realm_hash(r: Request<'_>, user: &[u8], realm: &[u8]) -> (Authn, Option<String>) {
    let pick = user_script;
    match run(
        r,
        "WSGIAuthUserScript",
        pick,
        AuthFunction::RealmHash,
        &[user, realm],
    ) {
        Ok(AuthAnswer::Hash(h)) => (Authn::UserFound, Some(h)),
        Ok(AuthAnswer::NotFound) => (Authn::UserNotFound, None),
        _ => (Authn::GeneralError, None),
    }
}

/// `Require wsgi-group name...`: groups_for_user(environ, user) must name one.
pub fn group_authz(r: Request<'_>, require_args: &[u8]) -> Authz {
    let Some(user) = r.user() else {
        return Authz::DeniedNoUser;
    };
    let pick = group_script;
    let groups = match run(
        r,
        "WSGIAuthGroupScript",
        pick,
        AuthFunction::GroupsForUser,
        &[user],
    ) {
        Ok(AuthAnswer::Groups(g)) => g,
        _ => return Authz::GeneralError,
    };
    let wanted =
        wsgi_core::words::split_words(&String::from_utf8_lossy(require_args)).unwrap_or_default();
    if wanted.iter().any(|w| groups.contains(w)) {
        return Authz::Granted;
    }
    let user = String::from_utf8_lossy(user);
    let msg = format!(
        "user '{user}' is not in any of the groups {wanted:?} (groups_for_user gave {groups:?})"
    );
    log::request(ffi::APLOG_ERR, r, &msg);
    let authoritative = r
        .dir_record::<DirConfig>()
        .and_then(|d| d.group_authoritative)
        .unwrap_or(true);
    if authoritative {
        Authz::Denied
    } else {
        Authz::Neutral
    }
}

/// The access phase: allow_access(environ, host) when `WSGIAccessScript` is set.
pub fn access_checker(r: Request<'_>) -> c_int {
    if r.dir_record::<DirConfig>()
        .and_then(|d| d.access_script.as_ref())
        .is_none()
    {
        return ffi::DECLINED;
    }
    let host = r.remote_host();
    let pick = access_script;
    match run(
        r,
        "WSGIAccessScript",
        pick,
        AuthFunction::AllowAccess,
        &[host.as_bytes()],
    ) {
        Ok(AuthAnswer::Granted(_)) => ffi::OK,
        Ok(AuthAnswer::Neutral) => ffi::DECLINED,
        Ok(AuthAnswer::Denied) => {
            let msg = format!(
                "client {host} denied by WSGIAccessScript: {}",
                String::from_utf8_lossy(r.filename())
            );
            log::request(ffi::APLOG_ERR, r, &msg);
            ffi::HTTP_FORBIDDEN
        }
        _ => ffi::HTTP_INTERNAL_SERVER_ERROR,
    }
}
