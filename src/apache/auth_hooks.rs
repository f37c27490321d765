//! The authentication and authorization entry points: the `wsgi` authn
//! provider (`AuthBasicProvider wsgi`, `AuthDigestProvider wsgi`), the
//! `wsgi-group` authz provider (`Require wsgi-group ...`) and the access
//! checker (`WSGIAccessScript`). Like `phases`, they turn httpd's pointers
//! into handles and call the module's `Phases`.

use super::auth_status::{Authn, Authz};
use super::ffi;
use super::guard::catch;
use super::phases::Phases;
use super::request::Request;
use super::strings::c_bytes;
use std::ffi::{c_char, c_int, c_void};

fn authn(a: Authn) -> ffi::authn_status {
    match a {
        Authn::Denied => ffi::authn_status_AUTH_DENIED,
        Authn::Granted => ffi::authn_status_AUTH_GRANTED,
        Authn::UserFound => ffi::authn_status_AUTH_USER_FOUND,
        Authn::UserNotFound => ffi::authn_status_AUTH_USER_NOT_FOUND,
        Authn::GeneralError => ffi::authn_status_AUTH_GENERAL_ERROR,
    }
}

fn authz(a: Authz) -> ffi::authz_status {
    match a {
        Authz::Denied => ffi::authz_status_AUTHZ_DENIED,
        Authz::Granted => ffi::authz_status_AUTHZ_GRANTED,
        Authz::Neutral => ffi::authz_status_AUTHZ_NEUTRAL,
        Authz::GeneralError => ffi::authz_status_AUTHZ_GENERAL_ERROR,
        Authz::DeniedNoUser => ffi::authz_status_AUTHZ_DENIED_NO_USER,
    }
}

/// Registers the providers and the access checker (from register_hooks).
pub(super) fn register<P: Phases>(pool: *mut ffi::apr_pool_t) {
    // The provider records must outlive the module's registration: leaked
    // (a few words per configuration load).
    let authn_provider: &'static ffi::authn_provider = Box::leak(Box::new(ffi::authn_provider {
        check_password: Some(check_password::<P>),
        get_realm_hash: Some(get_realm_hash::<P>),
    }));
    let authz_provider: &'static ffi::authz_provider = Box::leak(Box::new(ffi::authz_provider {
        check_authorization: Some(check_authorization::<P>),
        parse_require_line: None,
    }));
    // SAFETY: registering static records and hook functions with httpd
    // while the module loads; the names are static text.
    unsafe {
        ffi::ap_register_provider(
            pool,
            c"authn".as_ptr(),
            c"wsgi".as_ptr(),
            c"0".as_ptr(),
            (authn_provider as *const ffi::authn_provider).cast::<c_void>(),
        );
        ffi::ap_register_provider(
            pool,
            c"authz".as_ptr(),
            c"wsgi-group".as_ptr(),
            c"0".as_ptr(),
            (authz_provider as *const ffi::authz_provider).cast::<c_void>(),
        );
        let none = std::ptr::null();
        ffi::ap_hook_access_checker(
            Some(access_checker::<P>),
            none,
            none,
            ffi::APR_HOOK_MIDDLE as c_int,
        );
    }
}

fn request<'r>(r: *mut ffi::request_rec) -> Option<Request<'r>> {
    // SAFETY: the live request of this callback.
    unsafe { Request::from_raw(r) }
}

fn text<'a>(p: *const c_char) -> &'a [u8] {
    // SAFETY: httpd's argument strings live for the callback.
    unsafe { c_bytes(p) }
}

unsafe extern "C" fn check_password<P: Phases>(
    r: *mut ffi::request_rec,
    user: *const c_char,
    password: *const c_char,
) -> ffi::authn_status {
    catch(
        "check_password",
        ffi::authn_status_AUTH_GENERAL_ERROR,
        || {
            request(r).map_or(ffi::authn_status_AUTH_GENERAL_ERROR, |r| {
                authn(P::check_password(r, text(user), text(password)))
            })
        },
    )
}

unsafe extern "C" fn get_realm_hash<P: Phases>(
    r: *mut ffi::request_rec,
    user: *const c_char,
    realm: *const c_char,
    rethash: *mut *mut c_char,
) -> ffi::authn_status {
    catch(
        "get_realm_hash",
        ffi::authn_status_AUTH_GENERAL_ERROR,
        || {
            let Some(r) = request(r) else {
                return ffi::authn_status_AUTH_GENERAL_ERROR;
            };
            let (status, hash) = P::realm_hash(r, text(user), text(realm));
            if let (Authn::UserFound, Some(h)) = (status, hash) {
                // SAFETY: httpd passes where to store the hash; the copy lives
                // in the request pool.
                unsafe { *rethash = r.pool().c_string(h.as_bytes()) };
            }
            authn(status)
        },
    )
}

unsafe extern "C" fn check_authorization<P: Phases>(
    r: *mut ffi::request_rec,
    require_args: *const c_char,
    _parsed: *const c_void,
) -> ffi::authz_status {
    catch(
        "check_authorization",
        ffi::authz_status_AUTHZ_GENERAL_ERROR,
        || {
            request(r).map_or(ffi::authz_status_AUTHZ_GENERAL_ERROR, |r| {
                authz(P::group_authz(r, text(require_args)))
            })
        },
    )
}

unsafe extern "C" fn access_checker<P: Phases>(r: *mut ffi::request_rec) -> c_int {
    catch("access_checker", ffi::HTTP_INTERNAL_SERVER_ERROR, || {
        request(r).map_or(ffi::DECLINED, P::access_checker)
    })
}
