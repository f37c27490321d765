//! The hook entry points httpd calls for the request phases and the
//! module's life: each turns the raw pointers it is given into handles
//! (`Request`, `Server`, `Pool`), contains panics, and calls `Phases`.

use super::ffi;
use super::guard::catch;
use super::phases::Phases;
use super::pool::Pool;
use super::request::Request;
use super::server::Server;
use std::ffi::{c_char, c_int, c_void, CStr};
use std::sync::atomic::{AtomicPtr, Ordering};

/// Registers every hook (httpd calls this when the module is loaded).
///
/// # Safety
/// Only httpd calls this, with the arguments its callback type promises.
pub unsafe extern "C" fn register_hooks<P: Phases>(p: *mut ffi::apr_pool_t) {
    catch("register_hooks", (), || {
        super::auth_hooks::register::<P>(p);
        super::guard::install_panic_hook();
        let middle = ffi::APR_HOOK_MIDDLE as c_int;
        // WSGIScriptAlias maps after mod_alias, so `Alias /static ...` inside a
        // WSGIScriptAlias / keeps working, as with mod_wsgi.
        let after_alias = leak_names(&[c"mod_alias.c"]);
        let before = leak_names(&[c"mod_userdir.c", c"mod_vhost_alias.c"]);
        let none = std::ptr::null();
        // SAFETY: registering hook functions with httpd during module load;
        // the name lists are leaked, so they live as long as the process.
        unsafe {
            ffi::ap_hook_pre_config(Some(pre_config::<P>), none, none, middle);
            ffi::ap_hook_check_config(Some(check_config::<P>), none, none, middle);
            ffi::ap_hook_post_config(Some(post_config::<P>), none, none, middle);
            let last = ffi::APR_HOOK_REALLY_LAST as c_int;
            ffi::ap_hook_pre_mpm(Some(pre_mpm::<P>), none, none, last);
            ffi::ap_hook_child_init(Some(child_init::<P>), none, none, middle);
            let first = ffi::APR_HOOK_REALLY_FIRST as c_int;
            ffi::ap_hook_pre_connection(Some(pre_connection::<P>), none, none, first);
            ffi::ap_hook_translate_name(Some(translate_name::<P>), after_alias, before, middle);
            ffi::ap_hook_handler(Some(handler::<P>), none, none, middle);
        }
    })
}

fn leak_names(names: &[&'static CStr]) -> *const *const c_char {
    let mut v: Vec<*const c_char> = names.iter().map(|n| n.as_ptr()).collect();
    v.push(std::ptr::null());
    Box::leak(v.into_boxed_slice()).as_ptr()
}

/// The server httpd passed, or the main one.
fn server(s: *mut ffi::server_rec) -> Option<Server> {
    // SAFETY: httpd passes a server record of the configuration, or null.
    unsafe { Server::from_raw(s) }.or_else(Server::main)
}

unsafe extern "C" fn pre_config<P: Phases>(
    _pconf: *mut ffi::apr_pool_t,
    _plog: *mut ffi::apr_pool_t,
    _ptemp: *mut ffi::apr_pool_t,
) -> c_int {
    catch("pre_config", ffi::OK, || {
        P::pre_config();
        ffi::OK
    })
}

unsafe extern "C" fn check_config<P: Phases>(
    _pconf: *mut ffi::apr_pool_t,
    _plog: *mut ffi::apr_pool_t,
    _ptemp: *mut ffi::apr_pool_t,
    s: *mut ffi::server_rec,
) -> c_int {
    catch("check_config", ffi::HTTP_INTERNAL_SERVER_ERROR, || {
        server(s).map_or(ffi::OK, P::check_config)
    })
}

unsafe extern "C" fn post_config<P: Phases>(
    pconf: *mut ffi::apr_pool_t,
    _plog: *mut ffi::apr_pool_t,
    _ptemp: *mut ffi::apr_pool_t,
    s: *mut ffi::server_rec,
) -> c_int {
    catch("post_config", ffi::HTTP_INTERNAL_SERVER_ERROR, || {
        // SAFETY: the configuration pool, live for the whole generation.
        let (Some(pool), Some(s)) = (unsafe { Pool::from_raw(pconf) }, server(s)) else {
            return ffi::OK;
        };
        let first_pass = super::mpm::is_check_pass();
        let status = P::post_config(pool, s, first_pass);
        if first_pass || status != ffi::OK {
            return status;
        }
        // SAFETY: ap_scoreboard_image is set by the MPM before pre_mpm
        // returns and kept across restarts; only compared with null here.
        if unsafe { ffi::ap_scoreboard_image }.is_null() {
            DEFERRED.store(pconf, Ordering::SeqCst);
            DEFERRED_SERVER.store(s.raw(), Ordering::SeqCst);
            return ffi::OK;
        }
        P::start_processes(pool, s)
    })
}

/// The configuration pool and main server whose processes start in pre_mpm.
static DEFERRED: AtomicPtr<ffi::apr_pool_t> = AtomicPtr::new(std::ptr::null_mut());
static DEFERRED_SERVER: AtomicPtr<ffi::server_rec> = AtomicPtr::new(std::ptr::null_mut());

unsafe extern "C" fn pre_mpm<P: Phases>(
    _p: *mut ffi::apr_pool_t,
    _sb: ffi::ap_scoreboard_e,
) -> c_int {
    catch("pre_mpm", ffi::HTTP_INTERNAL_SERVER_ERROR, || {
        let pconf = DEFERRED.swap(std::ptr::null_mut(), Ordering::SeqCst);
        let s = DEFERRED_SERVER.swap(std::ptr::null_mut(), Ordering::SeqCst);
        // SAFETY: the pool and server post_config was given for this
        // generation (pre_mpm runs after it, before any child exists).
        match (unsafe { Pool::from_raw(pconf) }, server(s)) {
            (Some(pool), Some(s)) => P::start_processes(pool, s),
            _ => ffi::OK,
        }
    })
}

unsafe extern "C" fn child_init<P: Phases>(pchild: *mut ffi::apr_pool_t, s: *mut ffi::server_rec) {
    catch("child_init", (), || {
        // SAFETY: the child's pool, live until the child exits.
        if let (Some(pool), Some(s)) = (unsafe { Pool::from_raw(pchild) }, server(s)) {
            P::child_init(pool, s);
        }
    })
}

unsafe extern "C" fn pre_connection<P: Phases>(_c: *mut ffi::conn_rec, _csd: *mut c_void) -> c_int {
    catch("pre_connection", ffi::DECLINED, || {
        P::pre_connection();
        ffi::DECLINED
    })
}

unsafe extern "C" fn translate_name<P: Phases>(r: *mut ffi::request_rec) -> c_int {
    catch("translate_name", ffi::DECLINED, || {
        // SAFETY: the live request of this hook call.
        unsafe { Request::from_raw(r) }.map_or(ffi::DECLINED, P::translate_name)
    })
}

unsafe extern "C" fn handler<P: Phases>(r: *mut ffi::request_rec) -> c_int {
    catch("handler", ffi::HTTP_INTERNAL_SERVER_ERROR, || {
        // SAFETY: the live request of this hook call.
        unsafe { Request::from_raw(r) }.map_or(ffi::DECLINED, P::handler)
    })
}
