//! A daemon's identity, switched to right after fork, before any thread
//! starts: groups, chroot, gid, uid (in that order), and the process
//! settings that go with it.

/// Everything resolved in the parent that the switch needs.
pub struct Identity<'a> {
    pub uid: u32,
    pub gid: u32,
    pub groups: &'a [libc::gid_t],
    pub chroot: Option<&'a str>,
    pub home: Option<&'a str>,
    pub umask: Option<u32>,
    /// The nice value (0: unchanged).
    pub priority: i32,
}

fn fail(what: &str) -> Result<(), String> {
    Err(format!(
        "{} failed: {}",
        what,
        std::io::Error::last_os_error()
    ))
}

fn c(path: &str) -> std::ffi::CString {
    std::ffi::CString::new(path).unwrap_or_default()
}

/// Switches this process to `id`. The safe order: the groups first (while
/// still root), then the chroot (so its /etc/group decides nothing), then
/// gid, then uid (after which nothing can be changed back). Each step is
/// checked; root must be gone for good.
pub fn switch_to(id: &Identity<'_>) -> Result<(), String> {
    // SAFETY: process credential syscalls with valid arguments (`groups`
    // holds `groups.len()` ids; the paths are C strings), made while the
    // process is single-threaded.
    unsafe {
        if let Some(mask) = id.umask {
            libc::umask(mask);
        }
        if id.priority != 0 {
            // Lowering the nice value needs root, which the daemon still is.
            libc::setpriority(libc::PRIO_PROCESS, 0, id.priority);
        }
        let root = libc::geteuid() == 0;
        if root && libc::setgroups(id.groups.len(), id.groups.as_ptr()) != 0 {
            return fail("setgroups");
        }
        if let Some(dir) = id.chroot {
            if libc::chroot(c(dir).as_ptr()) != 0 || libc::chdir(c"/".as_ptr()) != 0 {
                return fail(&format!("chroot to {}", dir));
            }
        }
        if root {
            if libc::setgid(id.gid) != 0 {
                return fail(&format!("setgid({})", id.gid));
            }
            if libc::setuid(id.uid) != 0 {
                return fail(&format!("setuid({})", id.uid));
            }
            if id.uid != 0 && libc::setuid(0) == 0 {
                return Err("setuid(0) still worked after dropping root".into());
            }
        }
        if let Some(h) = id.home {
            libc::chdir(c(h).as_ptr());
        }
    }
    Ok(())
}
