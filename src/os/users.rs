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

/// The home directory of `uid` in the user database.
pub fn home_of(uid: u32) -> Option<String> {
    // SAFETY: getpwuid reads the user database; the result is copied out at
    // once (the parent reads configuration on one thread).
    let pw = unsafe { libc::getpwuid(uid) };
    // SAFETY: a non-null result points at a valid passwd record.
    (!pw.is_null()).then(|| unsafe {
        String::from_utf8_lossy(std::ffi::CStr::from_ptr((*pw).pw_dir).to_bytes()).into_owned()
    })
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

/// The groups `user` belongs to (as initgroups would set them), with `gid`
/// first, read from the group database now — in the parent, before any
/// chroot, so the chroot's /etc/group cannot decide them.
pub fn group_list(user: &str, gid: u32) -> Vec<u32> {
    let Ok(c) = std::ffi::CString::new(user) else {
        return vec![gid];
    };
    let mut n: libc::c_int = 64;
    loop {
        let mut groups = vec![0 as libc::gid_t; n as usize];
        let asked = n;
        // SAFETY: getgrouplist writes at most `n` gids into our buffer and
        // sets `n` to how many there are.
        let rc = unsafe { libc::getgrouplist(c.as_ptr(), gid, groups.as_mut_ptr(), &mut n) };
        if rc >= 0 {
            groups.truncate(n as usize);
            return groups;
        }
        if n <= asked {
            n = asked * 2;
        }
        if n > 65536 {
            return vec![gid];
        }
    }
}

/// A daemon group that names an account other than the one Apache runs as
/// needs Apache to start as root (only root can switch identity).
pub fn check_can_switch(spec: &DaemonProcessSpec) -> Result<(), String> {
    // SAFETY: geteuid / getegid have no preconditions.
    let (euid, egid) = unsafe { (libc::geteuid(), libc::getegid()) };
    if euid == 0 {
        return Ok(());
    }
    let other_user = spec
        .user
        .as_deref()
        .and_then(user_id)
        .is_some_and(|u| u != euid);
    let other_group = spec
        .group
        .as_deref()
        .and_then(group_id)
        .is_some_and(|g| g != egid);
    if other_user || other_group {
        return Err(format!(
            "daemon process group '{}' asks for user={} group={}, but Apache is not started as root, so its processes cannot switch to them; start Apache as root or drop the options",
            spec.name,
            spec.user.as_deref().unwrap_or("-"),
            spec.group.as_deref().unwrap_or("-")
        ));
    }
    Ok(())
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
