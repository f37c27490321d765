//! Which of the variables Apache's `ap_add_common_vars` and
//! `ap_add_cgi_vars` add stay out of a WSGI environ, as mod_wsgi 6.1 leaves
//! them out: none is part of PEP 3333, and each is either misleading for a
//! WSGI application or the server's own business.

use crate::environ::Environ;

/// Never passed: the gateway's "CGI/1.1", the HTML server signature, the
/// client's host name and ident (each a network look-up when the server
/// turns those on), and the server's PATH (mod_wsgi 4 left PATH out too).
const LEFT_OUT: [&[u8]; 5] = [
    b"GATEWAY_INTERFACE",
    b"SERVER_SIGNATURE",
    b"REMOTE_HOST",
    b"REMOTE_IDENT",
    b"PATH",
];

/// Copied by Apache from its own process environment for CGI children's
/// sake: left out where the value is that one (a `SetEnv` of another value
/// is the configuration's and stays).
const FROM_THE_PROCESS: [&[u8]; 12] = [
    b"LD_LIBRARY_PATH",
    b"DYLD_LIBRARY_PATH",
    b"SHLIB_PATH",
    b"LIBPATH",
    b"LIBRARY_PATH",
    b"PERLLIB_PREFIX",
    b"SystemRoot",
    b"COMSPEC",
    b"PATHEXT",
    b"WINDIR",
    b"ETC",
    b"DPATH",
];

/// Takes the variables above out of `environ`; `process_env` answers what
/// the server process's own environment holds for a name.
pub fn leave_out_server_variables(
    environ: &mut Environ,
    process_env: impl Fn(&[u8]) -> Option<Vec<u8>>,
) {
    environ.retain(|name, value| {
        if LEFT_OUT.contains(&name) {
            return false;
        }
        !(FROM_THE_PROCESS.contains(&name) && process_env(name).as_deref() == Some(value))
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn environ(pairs: &[(&'static str, &'static str)]) -> Environ<'static> {
        let mut e = Environ::with_capacity(pairs.len());
        for (k, v) in pairs {
            e.push(k.as_bytes(), v.as_bytes());
        }
        e
    }

    fn names(e: &Environ) -> Vec<String> {
        e.iter()
            .map(|(k, _)| String::from_utf8_lossy(k).into_owned())
            .collect()
    }

    #[test]
    fn server_variables_go_and_request_variables_stay() {
        let mut e = environ(&[
            ("GATEWAY_INTERFACE", "CGI/1.1"),
            ("SERVER_SIGNATURE", "<address>Apache</address>"),
            ("PATH", "/usr/bin:/bin"),
            ("REMOTE_HOST", "client.example"),
            ("SCRIPT_NAME", "/app"),
            ("PATH_INFO", "/x"),
            ("HTTP_PATH", "from a client header"),
        ]);
        leave_out_server_variables(&mut e, |_| None);
        assert_eq!(names(&e), ["SCRIPT_NAME", "PATH_INFO", "HTTP_PATH"]);
    }

    #[test]
    fn a_library_path_goes_only_when_it_is_the_processes_own() {
        let process = |n: &[u8]| (n == b"LD_LIBRARY_PATH").then(|| b"/opt/lib".to_vec());
        let mut inherited = environ(&[("LD_LIBRARY_PATH", "/opt/lib")]);
        leave_out_server_variables(&mut inherited, process);
        assert!(inherited.is_empty());
        let mut configured = environ(&[("LD_LIBRARY_PATH", "/srv/app/lib")]);
        leave_out_server_variables(&mut configured, process);
        assert_eq!(names(&configured), ["LD_LIBRARY_PATH"]);
    }
}
