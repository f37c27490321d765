//! Embedded mode: the application runs in the Apache child that holds the
//! request.

#![forbid(unsafe_code)]

use crate::apache::request::Request;
use crate::apache::request_io::ApacheIo;
use crate::apache::{ffi, log};
use pyhost::io::Preread;
use pyhost::wsgi_call::{run_app, AppTarget, Outcome};
use std::ffi::c_int;
use wsgi_core::environ::Environ;

/// Embedded mode: runs the application for `r` and returns the handler's
/// status for Apache.
pub fn run(r: Request<'_>, target: &AppTarget, cgi: &Environ) -> c_int {
    // A small body (known length, no 100-continue) is read before the
    // application starts, as daemon mode sends it with the request.
    let preread = match r.read_small_body(cgi) {
        Ok(body) => body.map(Preread::new),
        Err(status) => {
            log::request(
                ffi::APLOG_INFO,
                r,
                "reading the request body from the client failed",
            );
            return status;
        }
    };
    match run_app(ApacheIo::new(r, preread), target, cgi) {
        Ok((Outcome::Done, _)) => {
            // The GIL is released: the body's end and what Apache still
            // holds go out now (see response::Then::End), unless the body
            // was short, which keeps Apache's own ending.
            if r.keeps_connection() {
                r.end_body();
            }
            ffi::OK
        }
        Ok((Outcome::ClientGone, _)) => ffi::OK,
        Ok((Outcome::Failed { headers_sent: true }, _)) => {
            // Too late for a 500: make sure the client sees a cut response.
            r.abort_response();
            ffi::OK
        }
        Ok((
            Outcome::Failed {
                headers_sent: false,
            },
            _,
        )) => ffi::HTTP_INTERNAL_SERVER_ERROR,
        Err(e) => {
            log::request(ffi::APLOG_ERR, r, &e);
            ffi::HTTP_INTERNAL_SERVER_ERROR
        }
    }
}

/// Installs the host before Python starts in this child (script loads
/// matter only to daemons' health checks).
pub fn install_host() {
    pyhost::host::set_host(Box::new(crate::lifecycle::ProcessHost {
        on_script_load: |_| {},
        server_metrics: crate::config::global_snapshot().server_metrics,
    }));
}
