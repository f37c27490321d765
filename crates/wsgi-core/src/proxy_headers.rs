//! `WSGITrustedProxyHeaders` / `WSGITrustedProxies`, as mod_wsgi 6 does
//! them: from a trusted proxy (or from anyone, when no proxies are listed)
//! the chosen header of each kind rewrites the variable it stands for
//! (REMOTE_ADDR, wsgi.url_scheme, HTTP_HOST, SERVER_NAME, SERVER_PORT,
//! SCRIPT_NAME); every other header of a kind that was chosen is removed,
//! and so are all of them when the peer is not trusted, so an application
//! never sees a spoofed value.

use crate::environ::Environ;
use std::net::IpAddr;

/// The kinds of proxy header; one header of each kind is believed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Client,
    Host,
    Server,
    Port,
    ScriptName,
    Scheme,
}

/// How a header's value is used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Apply {
    ForwardedFor,
    Verbatim(&'static [u8]),
    ScriptName,
    SchemeWord,
    SchemeFlag,
}

/// Every header mod_wsgi knows, by CGI name.
const REGISTRY: &[(&str, Kind, Apply)] = &[
    ("HTTP_X_FORWARDED_FOR", Kind::Client, Apply::ForwardedFor),
    (
        "HTTP_X_CLIENT_IP",
        Kind::Client,
        Apply::Verbatim(b"REMOTE_ADDR"),
    ),
    (
        "HTTP_X_REAL_IP",
        Kind::Client,
        Apply::Verbatim(b"REMOTE_ADDR"),
    ),
    (
        "HTTP_X_FORWARDED_HOST",
        Kind::Host,
        Apply::Verbatim(b"HTTP_HOST"),
    ),
    ("HTTP_X_HOST", Kind::Host, Apply::Verbatim(b"HTTP_HOST")),
    (
        "HTTP_X_FORWARDED_SERVER",
        Kind::Server,
        Apply::Verbatim(b"SERVER_NAME"),
    ),
    (
        "HTTP_X_FORWARDED_PORT",
        Kind::Port,
        Apply::Verbatim(b"SERVER_PORT"),
    ),
    ("HTTP_X_SCRIPT_NAME", Kind::ScriptName, Apply::ScriptName),
    (
        "HTTP_X_FORWARDED_SCRIPT_NAME",
        Kind::ScriptName,
        Apply::ScriptName,
    ),
    ("HTTP_X_FORWARDED_PROTO", Kind::Scheme, Apply::SchemeWord),
    ("HTTP_X_FORWARDED_SCHEME", Kind::Scheme, Apply::SchemeWord),
    ("HTTP_X_SCHEME", Kind::Scheme, Apply::SchemeWord),
    ("HTTP_X_FORWARDED_HTTPS", Kind::Scheme, Apply::SchemeFlag),
    ("HTTP_X_FORWARDED_SSL", Kind::Scheme, Apply::SchemeFlag),
    ("HTTP_X_HTTPS", Kind::Scheme, Apply::SchemeFlag),
];

/// `X-Forwarded-For` → `HTTP_X_FORWARDED_FOR`.
pub fn cgi_name(header: &str) -> String {
    let mut out = String::from("HTTP_");
    out.extend(header.chars().map(|c| {
        if c == '-' {
            '_'
        } else {
            c.to_ascii_uppercase()
        }
    }));
    out
}

/// `WSGITrustedProxyHeaders`' words as CGI names, and those mod_wsgi does
/// not know (accepted, and ignored as mod_wsgi ignores them; the caller
/// says so in the log).
pub fn parse_headers(words: &[String]) -> Result<(Vec<String>, Vec<String>), String> {
    if words.is_empty() {
        return Err("needs at least one header name".into());
    }
    let (mut known, mut unknown) = (Vec::new(), Vec::new());
    for w in words {
        let name = cgi_name(w);
        if REGISTRY.iter().any(|(n, _, _)| *n == name) {
            known.push(name);
        } else {
            unknown.push(w.clone());
        }
    }
    Ok((known, unknown))
}

/// An address or a CIDR range of `WSGITrustedProxies`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    pub fn parse(v: &str) -> Result<Cidr, String> {
        let bad = || format!("'{v}' is not an IP address or an address/prefix range");
        let (a, p) = match v.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (v, None),
        };
        let addr: IpAddr = a.parse().map_err(|_| bad())?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match p {
            Some(p) => p.parse::<u8>().ok().filter(|n| *n <= max).ok_or_else(bad)?,
            None => max,
        };
        Ok(Cidr { addr, prefix })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let bits = |ip: IpAddr| -> (u128, u8) {
            match ip {
                IpAddr::V4(v4) => (u32::from(v4) as u128, 32),
                // An IPv4 client seen through an IPv6 socket.
                IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                    Some(v4) => (u32::from(v4) as u128, 32),
                    None => (u128::from(v6), 128),
                },
            }
        };
        let (net, width) = bits(self.addr);
        let (host, host_width) = bits(ip);
        if width != host_width {
            return false;
        }
        let shift = width - self.prefix.min(width);
        shift >= width || (net >> shift) == (host >> shift)
    }
}

pub fn parse_proxies(words: &[String]) -> Result<Vec<Cidr>, String> {
    if words.is_empty() {
        return Err("needs at least one address".into());
    }
    words.iter().map(|w| Cidr::parse(w)).collect()
}

fn trusted(proxies: &[Cidr], ip: &str) -> bool {
    ip.trim()
        .parse::<IpAddr>()
        .is_ok_and(|ip| proxies.iter().any(|c| c.contains(ip)))
}

/// What the headers changed beyond the environ: the scheme, when a
/// believed header gave one.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Applied {
    pub https: Option<bool>,
}

/// Applies the trusted headers to `env` (whose REMOTE_ADDR is the peer).
pub fn apply(env: &mut Environ<'_>, headers: &[String], proxies: Option<&[Cidr]>) -> Applied {
    let mut out = Applied::default();
    if headers.is_empty() {
        return out;
    }
    let peer_trusted = match proxies {
        None => true,
        Some(list) => env
            .get(b"REMOTE_ADDR")
            .is_some_and(|ip| trusted(list, &String::from_utf8_lossy(ip))),
    };
    let mut kept: Vec<(Kind, &'static str)> = Vec::new();
    let mut chosen: Vec<Kind> = Vec::new();
    for name in headers {
        let Some(&(cgi, kind, how)) = REGISTRY.iter().find(|(n, _, _)| n == name) else {
            continue;
        };
        chosen.push(kind);
        if !peer_trusted {
            continue;
        }
        let Some(value) = env
            .get(cgi.as_bytes())
            .map(|v| String::from_utf8_lossy(v).into_owned())
        else {
            continue;
        };
        apply_one(env, cgi, how, &value, proxies, &mut out);
        kept.push((kind, cgi));
    }
    for &(cgi, kind, _) in REGISTRY {
        if chosen.contains(&kind) && !kept.contains(&(kind, cgi)) {
            env.remove(cgi.as_bytes());
        }
    }
    out
}

fn apply_one(
    env: &mut Environ<'_>,
    cgi: &'static str,
    how: Apply,
    value: &str,
    proxies: Option<&[Cidr]>,
    out: &mut Applied,
) {
    match how {
        Apply::ForwardedFor => {
            let (remote, rewritten) = forwarded_for(value, proxies);
            if let Some(r) = remote {
                env.set(b"REMOTE_ADDR", r.into_bytes());
            }
            if let Some(list) = rewritten {
                env.set(cgi.as_bytes(), list.into_bytes());
            }
        }
        Apply::Verbatim(target) => env.set(target, value.as_bytes().to_vec()),
        Apply::ScriptName => {
            env.set(b"mod_wsgi.mount_point", value.as_bytes().to_vec());
            env.set(b"SCRIPT_NAME", value.as_bytes().to_vec());
        }
        Apply::SchemeWord => {
            if value.eq_ignore_ascii_case("https") {
                out.https = Some(true);
            } else if value.eq_ignore_ascii_case("http") {
                out.https = Some(false);
            }
        }
        Apply::SchemeFlag => match value.to_ascii_lowercase().as_str() {
            "on" | "true" | "1" => out.https = Some(true),
            "off" | "false" | "0" => out.https = Some(false),
            _ => {}
        },
    }
}

/// X-Forwarded-For: with trusted proxies, the client is the address just
/// before the trailing run of trusted ones, and the header keeps only
/// that address onwards; without a list, the first address is the client
/// and the header stays.
fn forwarded_for(value: &str, proxies: Option<&[Cidr]>) -> (Option<String>, Option<String>) {
    let items: Vec<&str> = value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    let Some(proxies) = proxies else {
        return (items.first().map(|s| s.to_string()), None);
    };
    let Some(last) = items.last() else {
        return (None, None);
    };
    let mut first = None;
    for i in (0..items.len()).rev() {
        if !trusted(proxies, items[i]) {
            break;
        }
        first = Some(i);
    }
    match first {
        Some(f) => {
            let i = f.saturating_sub(1);
            (Some(items[i].to_string()), Some(items[i..].join(", ")))
        }
        None => (Some(last.to_string()), Some(last.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Environ<'static> {
        let mut e = Environ::with_capacity(8);
        for (k, v) in pairs {
            e.push(k.as_bytes().to_vec(), v.as_bytes().to_vec());
        }
        e
    }

    fn get(e: &Environ, k: &str) -> Option<String> {
        e.get(k.as_bytes())
            .map(|v| String::from_utf8_lossy(v).into_owned())
    }

    fn words(w: &[&str]) -> Vec<String> {
        w.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn cidrs() {
        let c = Cidr::parse("10.0.0.0/8").unwrap();
        assert!(c.contains("10.1.2.3".parse().unwrap()));
        assert!(!c.contains("11.0.0.1".parse().unwrap()));
        assert!(c.contains("::ffff:10.0.0.1".parse().unwrap()));
        assert!(Cidr::parse("1.2.3.4")
            .unwrap()
            .contains("1.2.3.4".parse().unwrap()));
        assert!(!Cidr::parse("1.2.3.4")
            .unwrap()
            .contains("1.2.3.5".parse().unwrap()));
        assert!(Cidr::parse("fe80::/10")
            .unwrap()
            .contains("fe80::1".parse().unwrap()));
        assert!(Cidr::parse("0.0.0.0/0")
            .unwrap()
            .contains("8.8.8.8".parse().unwrap()));
        for bad in ["x", "1.2.3.4/33", "1.2.3/8", "::1/129"] {
            assert!(Cidr::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn header_names() {
        let (known, unknown) = parse_headers(&words(&[
            "X-Forwarded-For",
            "x-forwarded-proto",
            "X-Colour",
        ]))
        .unwrap();
        assert_eq!(known, ["HTTP_X_FORWARDED_FOR", "HTTP_X_FORWARDED_PROTO"]);
        assert_eq!(unknown, ["X-Colour"]);
        assert!(parse_headers(&[]).is_err());
    }

    #[test]
    fn a_trusted_proxy_is_believed_and_synonyms_are_dropped() {
        let proxies = parse_proxies(&words(&["127.0.0.1"])).unwrap();
        let mut e = env(&[
            ("REMOTE_ADDR", "127.0.0.1"),
            ("HTTP_X_FORWARDED_FOR", "203.0.113.9, 127.0.0.1"),
            ("HTTP_X_REAL_IP", "6.6.6.6"),
            ("HTTP_X_FORWARDED_PROTO", "https"),
            ("HTTP_X_FORWARDED_HOST", "example.org"),
            ("HTTP_X_SCRIPT_NAME", "/mount"),
        ]);
        let headers = parse_headers(&words(&[
            "X-Forwarded-For",
            "X-Forwarded-Proto",
            "X-Forwarded-Host",
            "X-Script-Name",
        ]))
        .unwrap()
        .0;
        let a = apply(&mut e, &headers, Some(&proxies));
        assert_eq!(get(&e, "REMOTE_ADDR").as_deref(), Some("203.0.113.9"));
        assert_eq!(
            get(&e, "HTTP_X_FORWARDED_FOR").as_deref(),
            Some("203.0.113.9, 127.0.0.1")
        );
        assert_eq!(
            get(&e, "HTTP_X_REAL_IP"),
            None,
            "a synonym of a chosen kind"
        );
        assert_eq!(a.https, Some(true));
        assert_eq!(get(&e, "HTTP_HOST").as_deref(), Some("example.org"));
        assert_eq!(get(&e, "SCRIPT_NAME").as_deref(), Some("/mount"));
        assert_eq!(get(&e, "mod_wsgi.mount_point").as_deref(), Some("/mount"));
    }

    #[test]
    fn an_untrusted_peer_gets_every_chosen_kind_removed() {
        let proxies = parse_proxies(&words(&["10.0.0.0/8"])).unwrap();
        let mut e = env(&[
            ("REMOTE_ADDR", "198.51.100.7"),
            ("HTTP_HOST", "real.example"),
            ("HTTP_X_FORWARDED_FOR", "1.1.1.1"),
            ("HTTP_X_FORWARDED_PROTO", "https"),
            ("HTTP_X_FORWARDED_HOST", "evil.example"),
            ("HTTP_X_UNRELATED", "kept"),
        ]);
        let headers = parse_headers(&words(&[
            "X-Forwarded-For",
            "X-Forwarded-Proto",
            "X-Forwarded-Host",
        ]))
        .unwrap()
        .0;
        let a = apply(&mut e, &headers, Some(&proxies));
        assert_eq!(get(&e, "REMOTE_ADDR").as_deref(), Some("198.51.100.7"));
        assert_eq!(get(&e, "HTTP_HOST").as_deref(), Some("real.example"));
        for gone in [
            "HTTP_X_FORWARDED_FOR",
            "HTTP_X_FORWARDED_PROTO",
            "HTTP_X_FORWARDED_HOST",
        ] {
            assert_eq!(get(&e, gone), None, "{gone}");
        }
        assert_eq!(get(&e, "HTTP_X_UNRELATED").as_deref(), Some("kept"));
        assert_eq!(a.https, None);
    }

    #[test]
    fn forwarded_for_walks_back_over_trusted_proxies() {
        let p = parse_proxies(&words(&["10.0.0.0/8"])).unwrap();
        assert_eq!(
            forwarded_for("1.1.1.1, 10.0.0.2, 10.0.0.3", Some(&p)),
            (
                Some("1.1.1.1".into()),
                Some("1.1.1.1, 10.0.0.2, 10.0.0.3".into())
            )
        );
        // A spoofed start is cut off: only the hop before the proxies counts.
        assert_eq!(
            forwarded_for("6.6.6.6, 2.2.2.2, 10.0.0.2", Some(&p)),
            (Some("2.2.2.2".into()), Some("2.2.2.2, 10.0.0.2".into()))
        );
        assert_eq!(
            forwarded_for("2.2.2.2", Some(&p)),
            (Some("2.2.2.2".into()), Some("2.2.2.2".into()))
        );
        assert_eq!(
            forwarded_for("10.0.0.2", Some(&p)),
            (Some("10.0.0.2".into()), Some("10.0.0.2".into()))
        );
        assert_eq!(forwarded_for(" , ", Some(&p)), (None, None));
        assert_eq!(
            forwarded_for(" , 3.3.3.3, 4.4.4.4", None),
            (Some("3.3.3.3".into()), None)
        );
    }

    #[test]
    fn scheme_flags() {
        for (h, v, want) in [
            ("X-Forwarded-SSL", "on", Some(true)),
            ("X-Forwarded-HTTPS", "0", Some(false)),
            ("X-Scheme", "HTTP", Some(false)),
            ("X-Forwarded-Proto", "gopher", None),
        ] {
            let mut e = env(&[("REMOTE_ADDR", "127.0.0.1"), (cgi_name(h).as_str(), v)]);
            let headers = parse_headers(&words(&[h])).unwrap().0;
            assert_eq!(apply(&mut e, &headers, None).https, want, "{h}: {v}");
        }
    }
}
