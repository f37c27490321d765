//! Regular expressions compiled by Apache (its PCRE, as mod_alias uses), for
//! `WSGIScriptAliasMatch`.

use super::ffi;
use super::pool::Pool;
use super::request::Request;
use std::ffi::CString;
use std::ptr::NonNull;

/// A compiled pattern in the configuration pool.
pub struct Regex(NonNull<ffi::ap_regex_t>);

// SAFETY: compiled once while reading the configuration, then only matched;
// ap_regexec on a compiled pattern is thread safe.
unsafe impl Send for Regex {}
// SAFETY: as above.
unsafe impl Sync for Regex {}

/// Apache's limit on `$N` groups in a substitution.
const GROUPS: usize = 10;

impl Regex {
    pub(super) fn compile(pool: Pool<'_>, pattern: &str) -> Option<Regex> {
        let pat = CString::new(pattern).ok()?;
        // SAFETY: compiles into the configuration pool, which owns the
        // result for as long as the configuration (and so this value) lives.
        let r = unsafe { ffi::ap_pregcomp(pool.raw(), pat.as_ptr(), ffi::AP_REG_EXTENDED) };
        NonNull::new(r).map(Regex)
    }

    /// When `subject` matches: `template` with `$N` replaced by the groups
    /// (Apache's ap_pregsub rules), followed by what is after the match.
    pub fn substitute_then_rest(
        &self,
        r: Request<'_>,
        subject: &[u8],
        template: &str,
    ) -> Option<Vec<u8>> {
        let mut m = [ffi::ap_regmatch_t {
            rm_so: -1,
            rm_eo: -1,
        }; GROUPS];
        let subject_c = CString::new(subject).ok()?;
        let template_c = CString::new(template).ok()?;
        // SAFETY: a compiled pattern; `m` has room for GROUPS matches.
        if unsafe {
            ffi::ap_regexec(
                self.0.as_ptr(),
                subject_c.as_ptr(),
                GROUPS,
                m.as_mut_ptr(),
                0,
            )
        } != 0
        {
            return None;
        }
        // SAFETY: the offsets come from the match just made on this subject;
        // the result is request-pool text.
        let sub = unsafe {
            ffi::ap_pregsub(
                r.pool().raw(),
                template_c.as_ptr(),
                subject_c.as_ptr(),
                GROUPS,
                m.as_mut_ptr(),
            )
        };
        if sub.is_null() {
            return None;
        }
        // SAFETY: request-pool text, copied at once.
        let mut out = unsafe { super::strings::c_bytes(sub) }.to_vec();
        out.extend_from_slice(
            subject
                .get(m[0].rm_eo.max(0) as usize..)
                .unwrap_or_default(),
        );
        Some(out)
    }
}
