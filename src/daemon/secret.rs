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
//! its secret for as long as each configuration has it. A group a restart
//! removes has its secret wiped, and gets a fresh one if it comes back.
//! Each daemon wipes every other group's secret right after fork.
//! docs/security.md says what this guards against.

#![forbid(unsafe_code)]

use crate::apache::kept::{kept, Kept};
use crate::apache::pool::Pool;
use crate::apache::{ffi, log};
use std::sync::Mutex;
use wsgi_core::route::TOKEN_LEN;

pub type Token = [u8; TOKEN_LEN];

/// What the parent keeps for one group: its secret and the configuration
/// generation that last had the group (-1: wiped, the group was removed).
#[derive(Clone, Copy)]
struct Stored {
    token: Token,
    configured_in: i32,
}

/// The groups whose secrets the parent keeps, by a hash of their names (the
/// process pool has no way to list what it keeps).
const MAX_GROUPS: usize = 1024;

#[derive(Clone, Copy)]
struct Known {
    hashes: [u64; MAX_GROUPS],
    len: usize,
}

/// This process's copy: (group name, secret, where the parent keeps it).
struct Entry {
    group: String,
    token: Token,
    stored: Kept<Stored>,
}

static TOKENS: Mutex<Vec<Entry>> = Mutex::new(Vec::new());

fn tokens() -> std::sync::MutexGuard<'static, Vec<Entry>> {
    TOKENS.lock().unwrap_or_else(|e| e.into_inner())
}

/// FNV-1a: a stable key for a group name.
fn name_hash(group: &str) -> u64 {
    group.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
    })
}

fn stored_of(pool: Pool<'static>, hash: u64) -> Kept<Stored> {
    let (stored, _) = kept(pool, &format!("token:{hash:016x}"), || {
        Ok::<_, ()>(Stored {
            token: [0; TOKEN_LEN],
            configured_in: -1,
        })
    })
    .expect("an infallible init");
    stored
}

fn fresh_token(group: &str) -> Result<Token, String> {
    let mut fresh = [0u8; TOKEN_LEN];
    crate::os::process::random_bytes(&mut fresh)
        .map_err(|e| format!("cannot make the secret of group '{}': {}", group, e))?;
    Ok(fresh)
}

/// In the parent, for a configuration (`generation`) of `groups`: a group
/// that was in the previous configuration (or this one) keeps its secret,
/// since an Apache child of the previous generation may still send it
/// requests; a new group, or one that comes back after being removed, gets
/// a fresh one; the secret of a group no longer configured is wiped.
pub fn configure(pool: Pool<'static>, groups: &[&str], generation: i32) -> Result<(), String> {
    let (known, _) = kept(pool, "token-index", || {
        Ok::<_, ()>(Known {
            hashes: [0; MAX_GROUPS],
            len: 0,
        })
    })
    .expect("an infallible init");
    let mut index = known.get();
    let wanted: Vec<u64> = groups.iter().map(|g| name_hash(g)).collect();
    for &h in index.hashes[..index.len]
        .iter()
        .filter(|h| !wanted.contains(h))
    {
        stored_of(pool, h).set(Stored {
            token: [0; TOKEN_LEN],
            configured_in: -1,
        });
        log::server(
            ffi::APLOG_INFO,
            None,
            &format!("wiped the secret of a removed daemon process group (key {h:016x})"),
        );
    }
    let mut t = tokens();
    t.clear();
    index.len = 0;
    for (&group, &h) in groups.iter().zip(&wanted) {
        let stored = stored_of(pool, h);
        let mut s = stored.get();
        if s.configured_in < generation - 1 || s.token == [0; TOKEN_LEN] {
            s.token = fresh_token(group)?;
            log::server(
                ffi::APLOG_INFO,
                None,
                &format!("made a new secret for daemon process group '{group}'"),
            );
        }
        s.configured_in = generation;
        stored.set(s);
        if index.len == MAX_GROUPS {
            return Err(format!("more than {MAX_GROUPS} daemon process groups"));
        }
        index.hashes[index.len] = h;
        index.len += 1;
        t.push(Entry {
            group: group.to_string(),
            token: s.token,
            stored,
        });
    }
    known.set(index);
    Ok(())
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
        e.stored.set(Stored {
            token: [0; TOKEN_LEN],
            configured_in: -1,
        });
    }
}
