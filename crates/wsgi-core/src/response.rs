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

#[cfg(test)]
mod tests {
    use super::*;

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
}
