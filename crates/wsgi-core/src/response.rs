//! Checks on what a WSGI application returns through `start_response`.
//!
//! PEP 3333 leaves enforcement to the server; bad values here would otherwise
//! reach the client as a malformed response (or a header injection), so each
//! is refused with a message the application's author can act on.

/// Parses a WSGI status such as `"200 OK"` into its code.
pub fn parse_status(status: &str) -> Result<u16, String> {
    let b = status.as_bytes();
    let code_ok = b.len() >= 3 && b[..3].iter().all(u8::is_ascii_digit);
    if !code_ok || (b.len() > 3 && b[3] != b' ') {
        return Err(format!(
            "invalid status '{}': it must start with a three-digit code and a space, as in '200 OK'",
            status.escape_debug()
        ));
    }
    if status.chars().any(|c| c.is_control()) {
        return Err(format!(
            "invalid status '{}': control characters",
            status.escape_debug()
        ));
    }
    let code: u16 = status[..3]
        .parse()
        .map_err(|_| "invalid status code".to_string())?;
    if !(100..=999).contains(&code) {
        return Err(format!("invalid status code {}", code));
    }
    Ok(code)
}

/// An HTTP header name must be an RFC 9110 token.
pub fn check_header_name(name: &str) -> Result<(), String> {
    const EXTRA: &[u8] = b"!#$%&'*+-.^_`|~";
    if !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || EXTRA.contains(&b))
    {
        Ok(())
    } else {
        Err(format!("invalid header name '{}'", name.escape_debug()))
    }
}

/// A header value may not contain CR, LF or other control characters
/// (horizontal tab excepted). Latin-1 is checked where the value is encoded.
pub fn check_header_value(name: &str, value: &str) -> Result<(), String> {
    if value
        .chars()
        .any(|c| (c.is_control() && c != '\t') || c == '\u{7f}')
    {
        Err(format!(
            "invalid value for header '{}': '{}' contains a control character (CR/LF are not allowed)",
            name,
            value.escape_debug()
        ))
    } else {
        Ok(())
    }
}

/// Headers that describe the connection, which a WSGI app must not set
/// (PEP 3333 "hop-by-hop" headers).
pub fn is_hop_by_hop(name: &str) -> bool {
    const HOP: &[&str] = &[
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailers",
        "transfer-encoding",
        "upgrade",
    ];
    HOP.iter().any(|h| h.eq_ignore_ascii_case(name))
}

/// The Apache child's check of a daemon's response head (a daemon runs
/// application code, so its bytes are checked as a client's would be):
/// a final status (200-599) whose status line starts with that code and
/// has no control characters; header names that are tokens, values without
/// CR, LF or other controls, no hop-by-hop header, and at most one
/// well-formed Content-Length. Returns the Content-Length, if any.
pub fn check_daemon_head(
    status: u16,
    status_line: &[u8],
    headers: &[(Vec<u8>, Vec<u8>)],
) -> Result<Option<u64>, String> {
    let line = latin1(status_line);
    let code = parse_status(&line)?;
    if code != status {
        return Err(format!(
            "status {} does not match its status line '{}'",
            status,
            line.escape_debug()
        ));
    }
    if !(200..=599).contains(&status) {
        return Err(format!("status {} is not a final status", status));
    }
    let mut length = None;
    for (k, v) in headers {
        let (k, v) = (latin1(k), latin1(v));
        check_header_name(&k)?;
        check_header_value(&k, &v)?;
        if is_hop_by_hop(&k) {
            return Err(format!("hop-by-hop header '{}'", k));
        }
        if k.eq_ignore_ascii_case("content-length") {
            let n = content_length(&v)
                .ok_or_else(|| format!("invalid Content-Length '{}'", v.escape_debug()))?;
            if length.is_some_and(|m| m != n) {
                return Err("two different Content-Length headers".into());
            }
            length = Some(n);
        }
    }
    Ok(length)
}

/// The status a daemon's Error frame may ask for: a client or server error;
/// anything else becomes 502.
pub fn daemon_error_status(status: u16) -> u16 {
    if (400..=599).contains(&status) {
        status
    } else {
        502
    }
}

/// Bytes as Latin-1 text: borrowed when they are ASCII, as they nearly
/// always are (this runs for every header of every daemon response).
fn latin1(b: &[u8]) -> std::borrow::Cow<'_, str> {
    match std::str::from_utf8(b) {
        Ok(text) if b.is_ascii() => std::borrow::Cow::Borrowed(text),
        _ => std::borrow::Cow::Owned(b.iter().map(|&c| c as char).collect()),
    }
}

/// Checks one header a WSGI application sent (PEP 3333: no hop-by-hop
/// headers); for Content-Length, its value.
pub fn check_app_header(name: &str, value: &str) -> Result<Option<u64>, String> {
    check_header_name(name)?;
    check_header_value(name, value)?;
    if is_hop_by_hop(name) {
        return Err(format!(
            "hop-by-hop header '{}' is not allowed from a WSGI application (PEP 3333)",
            name
        ));
    }
    if !name.eq_ignore_ascii_case("content-length") {
        return Ok(None);
    }
    content_length(value)
        .map(Some)
        .ok_or_else(|| format!("invalid Content-Length '{}'", value.escape_debug()))
}

/// A Content-Length value: digits only (around them, spaces), as HTTP
/// says; Rust's own parse would take a leading '+'.
pub fn content_length(value: &str) -> Option<u64> {
    let v = value.trim_matches([' ', '\t']);
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    v.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(k: &str, v: &str) -> (Vec<u8>, Vec<u8>) {
        (k.as_bytes().to_vec(), v.as_bytes().to_vec())
    }

    #[test]
    fn a_content_length_is_digits_only() {
        assert_eq!(content_length("5"), Some(5));
        assert_eq!(content_length(" 12 "), Some(12));
        for bad in [
            "+5",
            "-5",
            "",
            " ",
            "5a",
            "0x5",
            "1e3",
            "5 5",
            "99999999999999999999999",
        ] {
            assert_eq!(content_length(bad), None, "{bad:?}");
            assert!(check_app_header("Content-Length", bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_daemon_head_is_checked_as_strictly_as_an_application() {
        let ok = [h("Content-Type", "text/plain"), h("Content-Length", "5")];
        assert_eq!(check_daemon_head(200, b"200 OK", &ok), Ok(Some(5)));
        assert_eq!(check_daemon_head(404, b"404 Gone", &[]), Ok(None));
        // Latin-1 bytes are text in a value (only ASCII is borrowed as is),
        // never in a name; a Latin-1 control (0x85) is refused in a value.
        let latin1 = [(b"X-Name".to_vec(), b"caf\xe9".to_vec())];
        assert_eq!(check_daemon_head(200, b"200 OK", &latin1), Ok(None));
        for (k, v) in [(&b"X-Caf\xe9"[..], &b"v"[..]), (b"X", b"a\x85b")] {
            let head = [(k.to_vec(), v.to_vec())];
            assert!(check_daemon_head(200, b"200 OK", &head).is_err());
        }
        type Case<'a> = (u16, &'a [u8], Vec<(Vec<u8>, Vec<u8>)>);
        let bad: &[Case] = &[
            (200, b"200 OK\r\nSet-Cookie: x=1", vec![]),
            (200, b"201 Created", vec![]),
            (101, b"101 Switching Protocols", vec![]),
            (100, b"100 Continue", vec![]),
            (600, b"600 Odd", vec![]),
            (200, b"200 OK", vec![h("X", "a\r\nInjected: 1")]),
            (200, b"200 OK", vec![h("Bad Name", "v")]),
            (200, b"200 OK", vec![h("Transfer-Encoding", "chunked")]),
            (200, b"200 OK", vec![h("Connection", "close")]),
            (200, b"200 OK", vec![h("Content-Length", "-1")]),
            (200, b"200 OK", vec![h("Content-Length", "1e3")]),
            (
                200,
                b"200 OK",
                vec![h("Content-Length", "1"), h("content-length", "2")],
            ),
        ];
        for (status, line, headers) in bad {
            assert!(
                check_daemon_head(*status, line, headers).is_err(),
                "{status} {:?} {headers:?} passed",
                String::from_utf8_lossy(line)
            );
        }
    }

    #[test]
    fn error_statuses_are_limited_to_errors() {
        assert_eq!(daemon_error_status(503), 503);
        assert_eq!(daemon_error_status(404), 404);
        for s in [0, 200, 302, 600, 999] {
            assert_eq!(daemon_error_status(s), 502);
        }
    }

    #[test]
    fn statuses() {
        assert_eq!(parse_status("200 OK").unwrap(), 200);
        assert_eq!(parse_status("404 Not Found").unwrap(), 404);
        assert_eq!(parse_status("599").unwrap(), 599);
        assert!(parse_status("OK").is_err());
        assert!(parse_status("20 OK").is_err());
        assert!(parse_status("200OK").is_err());
        assert!(parse_status("200 OK\r\nX: y").is_err());
        assert!(parse_status("099 Low").is_err());
    }

    #[test]
    fn header_names_and_values() {
        assert!(check_header_name("Content-Type").is_ok());
        assert!(check_header_name("X-Odd_Name!").is_ok());
        assert!(check_header_name("Bad Name").is_err());
        assert!(check_header_name("Bad:Name").is_err());
        assert!(check_header_name("").is_err());
        assert!(check_header_value("X", "a\tb").is_ok());
        assert!(check_header_value("X", "a\r\nSet-Cookie: x").is_err());
        assert!(check_header_value("X", "a\nb").is_err());
        assert!(is_hop_by_hop("Transfer-Encoding"));
        assert!(!is_hop_by_hop("Content-Length"));
    }

    #[test]
    fn app_headers_are_checked_and_content_length_read() {
        assert_eq!(check_app_header("Content-Type", "text/plain"), Ok(None));
        assert_eq!(check_app_header("content-length", " 42 "), Ok(Some(42)));
        assert!(check_app_header("Content-Length", "-1").is_err());
        assert!(check_app_header("Connection", "close")
            .unwrap_err()
            .contains("hop-by-hop"));
        assert!(check_app_header("Bad Name", "x").is_err());
        assert!(check_app_header("X-A", "line\r\nbreak").is_err());
    }
}
