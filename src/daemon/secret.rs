//! Each daemon process group's secret: 32 random bytes made in the Apache
//! parent (root) the first time the group is configured, sent by Apache's
//! children with every request and checked by the group's daemons. A
//! process that can reach a daemon socket but is not an Apache child or
//! that group's daemon (anything else running as Apache's `User`: a CGI,
//! another group's daemon, a local shell) does not know it.
//!
//! The secrets live in the parent's process pool, which survives restarts
//! (this .so and its statics do not): an Apache child of an old generation
//! may send a request to the same group's newer daemons, so a group keeps
//! its secret for the parent's life. Each daemon wipes every other group's
//! secret right after fork. docs/security.md says what this guards against.

use crate::apache::ffi;
use std::sync::Mutex;
use wsgi_core::route::TOKEN_LEN;

pub type Token = [u8; TOKEN_LEN];

/// This process's copy: (group name, secret, where the parent keeps it).
struct Entry {
    group: String,
    token: Token,
    stored: usize,
}

static TOKENS: Mutex<Vec<Entry>> = Mutex::new(Vec::new());

fn tokens() -> std::sync::MutexGuard<'static, Vec<Entry>> {
    TOKENS.lock().unwrap_or_else(|e| e.into_inner())
}

/// In the parent, for each configured group: its secret, made on first use.
pub fn load(process_pool: *mut ffi::apr_pool_t, group: &str) -> Result<(), String> {
    let stored = stored_token(process_pool, group)?;
    // SAFETY: `stored` points at TOKEN_LEN bytes in the process pool.
    let token = unsafe { *stored };
    let mut t = tokens();
    t.retain(|e| e.group != group);
    t.push(Entry {
        group: group.to_string(),
        token,
        stored: stored as usize,
    });
    Ok(())
}

/// Forgets the previous configuration's list (the parent, before `load`).
pub fn reset() {
    tokens().clear();
}

/// The secret of `group` (None: not a group of this configuration, or
/// wiped in this daemon).
pub fn token(group: &str) -> Option<Token> {
    tokens()
        .iter()
        .find(|e| e.group == group && e.token != [0; TOKEN_LEN])
        .map(|e| e.token)
}

/// In a daemon right after fork: every other group's secret is overwritten,
/// here and in the inherited process-pool copy, so a compromised
/// application in one group cannot read another group's secret from memory.
pub fn keep_only(group: &str) {
    for e in tokens().iter_mut().filter(|e| e.group != group) {
        e.token = [0; TOKEN_LEN];
        // SAFETY: `stored` is the process-pool copy made by `stored_token`,
        // still mapped in this forked copy of the parent.
        unsafe { std::ptr::write_volatile(e.stored as *mut Token, [0; TOKEN_LEN]) };
    }
}

/// The group's secret in the process pool, made (from getrandom) if absent.
fn stored_token(pool: *mut ffi::apr_pool_t, group: &str) -> Result<*mut Token, String> {
    let key = std::ffi::CString::new(format!("mod_wsgi_rs:token:{}", group))
        .map_err(|_| "NUL in a group name".to_string())?;
    // SAFETY: the process pool lives as long as the parent; the stored value
    // and the key (which APR does not copy) are allocated from it.
    unsafe {
        let mut data: *mut std::ffi::c_void = std::ptr::null_mut();
        ffi::apr_pool_userdata_get(&mut data, key.as_ptr(), pool);
        if !data.is_null() {
            return Ok(data.cast());
        }
        let stored = ffi::apr_palloc(pool, TOKEN_LEN).cast::<Token>();
        let mut fresh = [0u8; TOKEN_LEN];
        let mut got = 0;
        while got < TOKEN_LEN {
            let n = libc::getrandom(fresh[got..].as_mut_ptr().cast(), TOKEN_LEN - got, 0);
            if n < 0 {
                let e = std::io::Error::last_os_error();
                if e.kind() == std::io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(format!(
                    "cannot make the secret of group '{}': {}",
                    group, e
                ));
            }
            got += n as usize;
        }
        *stored = fresh;
        let kept_key = ffi::apr_pstrdup(pool, key.as_ptr());
        ffi::apr_pool_userdata_set(stored.cast(), kept_key, None, pool);
        Ok(stored)
    }
}
