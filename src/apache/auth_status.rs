//! What authentication and authorization providers answer (mod_auth.h's
//! authn_status and authz_status), as Rust enums.

/// An authentication provider's answer (mod_auth.h's authn_status).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Authn {
    Denied,
    Granted,
    UserFound,
    UserNotFound,
    GeneralError,
}

/// An authorization provider's answer (mod_auth.h's authz_status).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Authz {
    Denied,
    Granted,
    Neutral,
    GeneralError,
    DeniedNoUser,
}
