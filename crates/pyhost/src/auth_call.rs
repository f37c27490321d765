//! Calling the functions of mod_wsgi's authentication scripts
//! (`WSGIAuthUserScript`: check_password, get_realm_hash;
//! `WSGIAuthGroupScript`: groups_for_user; `WSGIAccessScript`:
//! allow_access). The adapter's `_auth` checks what the function returned
//! and raises TypeError for anything else, so a broken script is an error
//! (a 500 with its traceback in the log), never an accidental allow.

#![forbid(unsafe_code)]

use super::object::{self, PyObj, PyResult};
use super::runtime;
use wsgi_core::environ::Environ;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthFunction {
    CheckPassword,
    RealmHash,
    GroupsForUser,
    AllowAccess,
}

impl AuthFunction {
    pub fn name(self) -> &'static str {
        match self {
            AuthFunction::CheckPassword => "check_password",
            AuthFunction::RealmHash => "get_realm_hash",
            AuthFunction::GroupsForUser => "groups_for_user",
            AuthFunction::AllowAccess => "allow_access",
        }
    }
}

/// What a `WSGIDispatchScript` chose: process group, application group,
/// callable (None: keep the configured one).
pub type Dispatch = [Option<String>; 3];

/// Runs the dispatch script's functions for this request in `group`.
pub fn dispatch(
    group: &str,
    script: &str,
    reload: bool,
    cgi: &Environ,
) -> Result<Dispatch, String> {
    runtime::with_interpreter(group, |interp| {
        dispatch_answer(script, reload, cgi, group)
            .map_err(|_| runtime::describe_error(Some(interp)))
    })?
}

fn dispatch_answer(script: &str, reload: bool, cgi: &Environ, group: &str) -> PyResult<Dispatch> {
    let env = environ_dict(cgi, group)?;
    let result = runtime::adapter_function(c"_dispatch")?.call(&[
        &object::str_utf8(script)?,
        &object::boolean(reload),
        &env,
    ])?;
    let text = |i| result.item(i).map(|v| object::str_value(&v));
    Ok([text(0)?, text(1)?, text(2)?])
}

fn environ_dict(cgi: &Environ, group: &str) -> PyResult<PyObj> {
    let env = object::new_dict()?;
    for (k, v) in cgi.iter() {
        env.dict_set(&object::str_latin1(k)?, &object::str_latin1(v)?)?;
    }
    env.dict_set_str(c"mod_wsgi.application_group", &object::str_utf8(group)?)?;
    Ok(env)
}

/// What the script answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuthAnswer {
    /// True, or (check_password) the user name to record.
    Granted(Option<String>),
    Denied,
    /// None from check_password / get_realm_hash: no such user.
    NotFound,
    /// None from allow_access: this script does not decide.
    Neutral,
    Hash(String),
    Groups(Vec<String>),
}

/// Calls `function(environ, *args)` of `script` in application group
/// `group`. Err: the traceback (or why Python could not run it), for the log.
pub fn call(
    group: &str,
    script: &str,
    reload: bool,
    function: AuthFunction,
    cgi: &Environ,
    args: &[&[u8]],
) -> Result<AuthAnswer, String> {
    runtime::with_interpreter(group, |interp| {
        answer(script, reload, function, cgi, args, group)
            .map_err(|_| runtime::describe_error(Some(interp)))
    })?
}

fn answer(
    script: &str,
    reload: bool,
    function: AuthFunction,
    cgi: &Environ,
    args: &[&[u8]],
    group: &str,
) -> PyResult<AuthAnswer> {
    let env = environ_dict(cgi, group)?;
    // Bytes from the client (user names, passwords) are latin-1, as in
    // mod_wsgi: any byte sequence decodes, none crashes.
    let args: Vec<PyObj> = args
        .iter()
        .map(|a| object::str_latin1(a))
        .collect::<PyResult<_>>()?;
    let result = runtime::adapter_function(c"_auth")?.call(&[
        &object::str_utf8(script)?,
        &object::boolean(reload),
        &object::str_utf8(function.name())?,
        &env,
        &object::tuple(args)?,
    ])?;
    let kind = object::str_value(&result.item(0)?).unwrap_or_default();
    let value = result.item(1)?;
    let text = || object::str_value(&value);
    Ok(match kind.as_str() {
        "granted" => AuthAnswer::Granted(text()),
        "denied" => AuthAnswer::Denied,
        "not_found" => AuthAnswer::NotFound,
        "neutral" => AuthAnswer::Neutral,
        "hash" => AuthAnswer::Hash(text().unwrap_or_default()),
        _ => AuthAnswer::Groups(object::str_list(&value)),
    })
}
