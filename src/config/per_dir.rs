//! Directives that set a per-directory (or per-location, .htaccess)
//! setting: they land in the section's `DirConfig`, which Apache merges
//! from the server down to the request's location.

#![forbid(unsafe_code)]

use super::{note_group_reference, one_word, set_flag, with_global, DirConfig};
use crate::apache::cmd::Cmd;
use wsgi_core::directives::{identifier, ApplicationGroup, MapHeadToGet, ProcessGroup};
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
];

/// Applies `name` if it is a per-directory directive (None otherwise).
pub(super) fn apply(cmd: &mut Cmd<'_>, name: &str, args: &str) -> Option<Result<(), String>> {
    if !NAMES.contains(&name) {
        return None;
    }
    let pg = match name {
        "WSGIProcessGroup" => match one_word(args).and_then(|w| ProcessGroup::parse(&w)) {
            Ok(pg) => Some(pg),
            Err(e) => return Some(Err(e)),
        },
        _ => None,
    };
    if let Some(pg) = &pg {
        note_group_reference(cmd, name, pg);
    }
    let Some(dir) = cmd.dir_record::<DirConfig>() else {
        return Some(Err("internal error: no per-directory record".into()));
    };
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
        _ => return Err("unknown directive".into()),
    }
    Ok(())
}
