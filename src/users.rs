//! Resolving the user and group names a `WSGIDaemonProcess` asks for, so a
//! typo is a configuration error rather than a daemon that cannot start.

use wsgi_core::DaemonProcessSpec;

/// A user name or `#uid` → uid.
pub fn user_id(name: &str) -> Option<u32> {
    if let Some(n) = name.strip_prefix('#') {
        return n.parse().ok();
    }
    let c = std::ffi::CString::new(name).ok()?;
    // SAFETY: getpwnam reads the user database; we copy the uid out at once
    // (config is read on one thread, so the static result is not shared).
    let pw = unsafe { libc::getpwnam(c.as_ptr()) };
    // SAFETY: non-null results point at a valid passwd record.
    (!pw.is_null()).then(|| unsafe { (*pw).pw_uid })
}

/// A group name or `#gid` → gid.
pub fn group_id(name: &str) -> Option<u32> {
    if let Some(n) = name.strip_prefix('#') {
        return n.parse().ok();
    }
    let c = std::ffi::CString::new(name).ok()?;
    // SAFETY: as in user_id, for the group database.
    let gr = unsafe { libc::getgrnam(c.as_ptr()) };
    // SAFETY: non-null results point at a valid group record.
    (!gr.is_null()).then(|| unsafe { (*gr).gr_gid })
}

/// Checks that every account named by the daemon group exists.
pub fn check_daemon_accounts(spec: &DaemonProcessSpec) -> Result<(), String> {
    for (option, name) in [
        ("user", &spec.user),
        ("socket-user", &spec.socket_user),
        ("script-user", &spec.script_user),
    ] {
        if let Some(n) = name {
            let uid =
                user_id(n).ok_or_else(|| format!("option '{}={}': no such user", option, n))?;
            if option == "user" && uid == 0 {
                return Err(format!(
                    "option 'user={}': daemon processes may not run as root",
                    n
                ));
            }
        }
    }
    let groups = spec
        .supplementary_groups
        .iter()
        .map(|g| ("supplementary-groups", g));
    for (option, name) in [("group", &spec.group), ("script-group", &spec.script_group)]
        .into_iter()
        .filter_map(|(o, n)| n.as_ref().map(|n| (o, n)))
        .chain(groups)
    {
        group_id(name).ok_or_else(|| format!("option '{}={}': no such group", option, name))?;
    }
    Ok(())
}
