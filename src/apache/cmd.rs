//! One directive being read (`cmd_parms`), as a handle, and the entry
//! point every directive of the command table points at.

use super::ffi;
use super::pool::Pool;
use super::regex::Regex;
use super::strings::{c_bytes, lossy};
use std::any::Any;
use std::ffi::{c_char, c_void, CString};
use std::marker::PhantomData;
use std::ptr::NonNull;

/// The directive being read, valid while its handler runs.
pub struct Cmd<'c> {
    cmd: NonNull<ffi::cmd_parms>,
    mconfig: *mut c_void,
    _life: PhantomData<&'c mut ffi::cmd_parms>,
}

/// What the module does with each directive: `Err` is the message Apache
/// prints (prefixed with the directive's name) before it refuses to start.
pub trait Directives: 'static {
    fn apply(cmd: &mut Cmd<'_>, name: &str, args: &str) -> Result<(), String>;
}

/// The RAW_ARGS handler of every directive: dispatches on the name.
///
/// # Safety
/// Only httpd calls this, with the arguments its callback type promises.
pub unsafe extern "C" fn directive<D: Directives>(
    cmd: *mut ffi::cmd_parms,
    mconfig: *mut c_void,
    args: *const c_char,
) -> *const c_char {
    super::guard::catch("directive", c"mod_wsgi-rs: internal error".as_ptr(), || {
        let Some(cmd) = NonNull::new(cmd) else {
            return std::ptr::null();
        };
        let mut c = Cmd {
            cmd,
            mconfig,
            _life: PhantomData,
        };
        let name = c.name();
        // SAFETY: Apache's argument line, in the configuration pool.
        let args = lossy(unsafe { c_bytes(args) });
        match D::apply(&mut c, &name, &args) {
            Ok(()) => std::ptr::null(),
            Err(e) => c.pool().c_string(format!("{}: {}", name, e).as_bytes()),
        }
    })
}

impl<'c> Cmd<'c> {
    fn parms(&self) -> &ffi::cmd_parms {
        // SAFETY: the live cmd_parms of this handler call.
        unsafe { self.cmd.as_ref() }
    }

    /// The directive's name, as our command table spells it.
    pub fn name(&self) -> String {
        // SAFETY: cmd->cmd is our table entry; its name is static.
        lossy(unsafe { c_bytes((*self.parms().cmd).name) })
    }

    pub fn pool(&self) -> Pool<'c> {
        // SAFETY: the configuration pool outlives the directive.
        unsafe { Pool::from_raw(self.parms().pool) }.expect("a directive has a pool")
    }

    /// The per-directory record of the section the directive is in (for a
    /// directive outside any section: the server's default record).
    pub fn dir_record<T: Any>(&mut self) -> Option<&mut T> {
        super::records::from_void(self.mconfig)
    }

    /// The per-server record of the (virtual) server being configured.
    pub fn server_record<T: Any>(&mut self) -> Option<&mut T> {
        // SAFETY: cmd->server is the server being configured; reading the
        // configuration is single-threaded.
        super::records::get_mut(unsafe { (*self.parms().server).module_config })
    }

    /// Err (Apache's message) unless the directive is outside every
    /// `<VirtualHost>`, `<Directory>`, `<Location>` and `<Files>`.
    pub fn require_global(&self) -> Result<(), String> {
        // SAFETY: a live cmd_parms; the answer is static or pooled text.
        let err = unsafe { ffi::ap_check_cmd_context(self.cmd.as_ptr(), ffi::GLOBAL_ONLY as _) };
        if err.is_null() {
            return Ok(());
        }
        // SAFETY: as above.
        Err(lossy(unsafe { c_bytes(err) })
            .trim_start_matches(' ')
            .to_string())
    }

    /// The file and line the directive is on.
    pub fn location(&self) -> (String, u32) {
        let d = self.parms().directive;
        if d.is_null() {
            return ("?".into(), 0);
        }
        // SAFETY: cmd->directive is the directive being processed.
        unsafe { (lossy(c_bytes((*d).filename)), (*d).line_num as u32) }
    }

    /// The path of the `<Directory>`/`<Location>` section the directive is
    /// in (None outside one).
    pub fn section_path(&self) -> Option<String> {
        let p = self.parms().path;
        // SAFETY: cmd->path is null or configuration-pool text.
        (!p.is_null()).then(|| lossy(unsafe { c_bytes(p) }))
    }

    /// `path` made absolute under ServerRoot.
    pub fn server_root_relative(&self, path: &str) -> Option<String> {
        let c = CString::new(path).ok()?;
        // SAFETY: resolves into the configuration pool.
        let abs = unsafe { ffi::ap_server_root_relative(self.parms().pool, c.as_ptr()) };
        // SAFETY: null or pool text.
        (!abs.is_null()).then(|| lossy(unsafe { c_bytes(abs) }))
    }

    /// Runs the directives inside this section directive (each comes back
    /// through the module's `Directives`).
    pub fn walk_children(&mut self) -> Result<(), String> {
        // SAFETY: cmd->directive is the section being processed; its
        // children are configuration-tree nodes of the same pool, and
        // ap_walk_config dispatches each with this cmd_parms.
        let err = unsafe {
            let d = self.parms().directive;
            if d.is_null() {
                return Ok(());
            }
            ffi::ap_walk_config((*d).first_child, self.cmd.as_ptr(), self.parms().context)
        };
        if err.is_null() {
            return Ok(());
        }
        // SAFETY: an error string in the configuration pool.
        Err(lossy(unsafe { c_bytes(err) }))
    }

    /// `pattern` compiled as an extended regular expression (Apache's PCRE).
    pub fn compile_regex(&self, pattern: &str) -> Option<Regex> {
        Regex::compile(self.pool(), pattern)
    }
}
