//! Directives that set a per-directory (or per-location, .htaccess)
//! setting: they land in the section's `DirConfig`, which Apache merges
//! from the server down to the request's location.

#![forbid(unsafe_code)]

use super::{note_group_reference, one_word, set_flag, with_global, DirConfig};
use crate::apache::cmd::Cmd;
use wsgi_core::directives::{
    identifier, ApplicationGroup, AuthScript, HandlerScript, MapHeadToGet, ProcessGroup,
};
use wsgi_core::proxy_headers;
use wsgi_core::target::parse_restrict_process;
use wsgi_core::words::split_words;

const NAMES: &[&str] = &[
    "WSGIApplicationGroup",
    "WSGIProcessGroup",
    "WSGICallableObject",
    "WSGIPassAuthorization",
    "WSGIScriptReloading",
    "WSGIChunkedRequest",
    "WSGIEnableSendfile",
    "WSGIMapHEADToGET",
    "WSGIRestrictProcess",
    "WSGIPassApacheRequest",
    "WSGIHandlerScript",
    "WSGIAuthUserScript",
    "WSGIAuthGroupScript",
    "WSGIAccessScript",
    "WSGIGroupAuthoritative",
    "WSGITrustedProxyHeaders",
    "WSGITrustedProxies",
    "WSGIIgnoreActivity",
    "WSGIErrorOverride",
    "WSGIDispatchScript",
];

/// Applies `name` if it is a per-directory directive (None otherwise).
pub(super) fn apply(cmd: &mut Cmd<'_>, name: &str, args: &str) -> Option<Result<(), String>> {
    if !NAMES.contains(&name) {
        return None;
    }
    let handler = match name {
        "WSGIHandlerScript" => match HandlerScript::parse(args) {
            Ok(h) => Some(h),
            Err(e) => return Some(Err(e)),
        },
        _ => None,
    };
    let pg = match name {
        "WSGIProcessGroup" => match one_word(args).and_then(|w| ProcessGroup::parse(&w)) {
            Ok(pg) => Some(pg),
            Err(e) => return Some(Err(e)),
        },
        _ => handler.as_ref().and_then(|h| h.process_group.clone()),
    };
    if let Some(pg) = &pg {
        note_group_reference(cmd, name, pg);
    }
    let Some(dir) = cmd.dir_record::<DirConfig>() else {
        return Some(Err("internal error: no per-directory record".into()));
    };
    if let Some(h) = handler {
        dir.add_handler_script(h);
        return Some(Ok(()));
    }
    Some(set(dir, name, args, pg))
}

fn set(
    dir: &mut DirConfig,
    name: &str,
    args: &str,
    pg: Option<ProcessGroup>,
) -> Result<(), String> {
    match name {
        "WSGIApplicationGroup" => {
            dir.application_group = Some(ApplicationGroup::parse(&one_word(args)?)?)
        }
        "WSGIProcessGroup" => dir.process_group = pg,
        "WSGICallableObject" => dir.callable_object = Some(identifier(&one_word(args)?)?),
        "WSGIPassAuthorization" => set_flag(&mut dir.pass_authorization, args)?,
        "WSGIScriptReloading" => set_flag(&mut dir.script_reloading, args)?,
        "WSGIChunkedRequest" => set_flag(&mut dir.chunked_request, args)?,
        "WSGIEnableSendfile" => set_flag(&mut dir.enable_sendfile, args)?,
        "WSGIMapHEADToGET" => dir.map_head_to_get = Some(MapHeadToGet::parse(&one_word(args)?)?),
        "WSGIRestrictProcess" => {
            dir.restrict_process = Some(parse_restrict_process(&split_words(args)?)?)
        }
        "WSGIPassApacheRequest" => {
            set_flag(&mut dir.pass_apache_request, args)?;
            if dir.pass_apache_request == Some(true) {
                with_global(|g| {
                    g.note("WSGIPassApacheRequest On: applications get no Apache request object in the environ here (a raw pointer to Apache's request is of no use to Python code and would let it corrupt Apache)".into())
                });
            }
        }
        "WSGIAuthUserScript" => dir.auth_user_script = Some(AuthScript::parse(args)?),
        "WSGIAuthGroupScript" => dir.auth_group_script = Some(AuthScript::parse(args)?),
        "WSGIAccessScript" => dir.access_script = Some(AuthScript::parse(args)?),
        "WSGIDispatchScript" => dir.dispatch_script = Some(AuthScript::parse(args)?),
        "WSGIGroupAuthoritative" => set_flag(&mut dir.group_authoritative, args)?,
        "WSGIIgnoreActivity" => set_flag(&mut dir.ignore_activity, args)?,
        "WSGIErrorOverride" => set_flag(&mut dir.error_override, args)?,
        "WSGITrustedProxyHeaders" => {
            let (known, unknown) = proxy_headers::parse_headers(&split_words(args)?)?;
            if !unknown.is_empty() {
                with_global(|g| {
                    g.note(format!("WSGITrustedProxyHeaders: {} not a proxy header mod_wsgi knows, and so ignored (known: X-Forwarded-For, X-Client-IP, X-Real-IP, X-Forwarded-Host, X-Host, X-Forwarded-Server, X-Forwarded-Port, X-Script-Name, X-Forwarded-Script-Name, X-Forwarded-Proto, X-Forwarded-Scheme, X-Scheme, X-Forwarded-HTTPS, X-Forwarded-SSL, X-HTTPS)", unknown.join(", ")))
                });
            }
            dir.trusted_proxy_headers = Some(known);
        }
        "WSGITrustedProxies" => {
            dir.trusted_proxies = Some(proxy_headers::parse_proxies(&split_words(args)?)?)
        }
        _ => return Err("unknown directive".into()),
    }
    Ok(())
}
