//! `const fn` stand-ins for httpd's initializer macros
//! (`STANDARD20_MODULE_STUFF`, `AP_INIT_RAW_ARGS`, `AP_INIT_TAKE1`, ...).

use super::ffi;
use std::ffi::{c_char, c_int, c_void, CStr};
use std::ptr;

/// `const char *handler(cmd_parms *, void *mconfig, const char *args)`
pub type RawArgsFn =
    unsafe extern "C" fn(*mut ffi::cmd_parms, *mut c_void, *const c_char) -> *const c_char;

/// A directive whose whole argument line is handed to `func` (RAW_ARGS):
/// we split it ourselves with `wsgi_core::words`, so quoting rules match
/// Apache's and the parser is unit tested.
pub const fn raw_args(
    name: &'static CStr,
    func: RawArgsFn,
    req_override: c_int,
    help: &'static CStr,
) -> ffi::command_rec {
    ffi::command_rec {
        name: name.as_ptr(),
        func: ffi::cmd_func {
            raw_args: Some(func),
        },
        cmd_data: ptr::null_mut(),
        req_override,
        args_how: ffi::cmd_how_RAW_ARGS,
        errmsg: help.as_ptr(),
    }
}

/// The all-null entry that ends a command table.
pub const fn end_of_commands() -> ffi::command_rec {
    ffi::command_rec {
        name: ptr::null(),
        func: ffi::cmd_func { raw_args: None },
        cmd_data: ptr::null_mut(),
        req_override: 0,
        args_how: ffi::cmd_how_RAW_ARGS,
        errmsg: ptr::null(),
    }
}

/// The `module` record, as `STANDARD20_MODULE_STUFF` plus the six callbacks
/// would build it. `name` is what `<IfModule name.c>` matches.
#[allow(clippy::too_many_arguments)]
pub const fn module(
    name: &'static CStr,
    create_dir_config: Option<
        unsafe extern "C" fn(*mut ffi::apr_pool_t, *mut c_char) -> *mut c_void,
    >,
    merge_dir_config: Option<
        unsafe extern "C" fn(*mut ffi::apr_pool_t, *mut c_void, *mut c_void) -> *mut c_void,
    >,
    create_server_config: Option<
        unsafe extern "C" fn(*mut ffi::apr_pool_t, *mut ffi::server_rec) -> *mut c_void,
    >,
    merge_server_config: Option<
        unsafe extern "C" fn(*mut ffi::apr_pool_t, *mut c_void, *mut c_void) -> *mut c_void,
    >,
    cmds: *const ffi::command_rec,
    register_hooks: unsafe extern "C" fn(*mut ffi::apr_pool_t),
) -> ffi::module {
    ffi::module {
        version: ffi::MODULE_MAGIC_NUMBER_MAJOR as c_int,
        minor_version: ffi::MODULE_MAGIC_NUMBER_MINOR as c_int,
        module_index: -1,
        name: name.as_ptr(),
        dynamic_load_handle: ptr::null_mut(),
        next: ptr::null_mut(),
        magic: ffi::MODULE_MAGIC_COOKIE as _,
        rewrite_args: None,
        create_dir_config,
        merge_dir_config,
        create_server_config,
        merge_server_config,
        cmds,
        register_hooks: Some(register_hooks),
        flags: 0,
    }
}

/// A command table Apache can read from a `static`: the raw pointers inside
/// point at `'static` strings and functions, so sharing it is sound.
#[repr(transparent)]
pub struct CommandTable<const N: usize>(pub [ffi::command_rec; N]);

// SAFETY: the table is immutable and only holds pointers to 'static data.
unsafe impl<const N: usize> Sync for CommandTable<N> {}
