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

#![forbid(unsafe_code)]

use crate::apache::kept::{kept, Kept};
use crate::apache::pool::Pool;
use std::sync::Mutex;
use wsgi_core::route::TOKEN_LEN;

pub type Token = [u8; TOKEN_LEN];

/// This process's copy: (group name, secret, where the parent keeps it).
struct Entry {
    group: String,
    token: Token,
    stored: Kept<Token>,
}

static TOKENS: Mutex<Vec<Entry>> = Mutex::new(Vec::new());

fn tokens() -> std::sync::MutexGuard<'static, Vec<Entry>> {
    TOKENS.lock().unwrap_or_else(|e| e.into_inner())
}

/// In the parent, for each configured group: its secret, made (from the
/// kernel's random source) on first use.
pub fn load(process_pool: Pool<'static>, group: &str) -> Result<(), String> {
    let (stored, _) = kept(process_pool, &format!("token:{}", group), || {
        let mut fresh = [0u8; TOKEN_LEN];
        crate::os::process::random_bytes(&mut fresh)
            .map_err(|e| format!("cannot make the secret of group '{}': {}", group, e))?;
        Ok::<Token, String>(fresh)
    })?;
    let token = stored.get();
    let mut t = tokens();
    t.retain(|e| e.group != group);
    t.push(Entry {
        group: group.to_string(),
        token,
        stored,
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
        e.stored.set([0; TOKEN_LEN]);
    }
}
