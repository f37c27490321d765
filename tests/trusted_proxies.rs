//! WSGITrustedProxyHeaders / WSGITrustedProxies: a trusted proxy's headers
//! set REMOTE_ADDR, wsgi.url_scheme, HTTP_HOST and SCRIPT_NAME; from any
//! other peer every header of a chosen kind is removed, so spoofed values
//! never reach the application. In embedded and in daemon mode.

mod common;

use common::json::Value;
use common::sites::json_of;
use common::{probe_dir, Server};

const SPOOFED: &str = "X-Forwarded-For: 203.0.113.9, 127.0.0.1\r\n\
X-Real-IP: 6.6.6.6\r\n\
X-Forwarded-Proto: https\r\n\
X-Forwarded-Host: example.org\r\n\
X-Script-Name: /mounted\r\n";

fn site(tag: &str) -> Server {
    let dir = probe_dir(tag);
    let d = dir.display();
    let headers =
        "WSGITrustedProxyHeaders X-Forwarded-For X-Forwarded-Proto X-Forwarded-Host X-Script-Name";
    let conf = format!(
        "WSGIDaemonProcess site processes=1 threads=2\n\
         WSGIScriptAlias /trusted {d}/probe.wsgi\n\
         WSGIScriptAlias /untrusted {d}/probe.wsgi\n\
         WSGIScriptAlias /d-trusted {d}/probe.wsgi process-group=site\n\
         WSGIScriptAlias /d-untrusted {d}/probe.wsgi process-group=site\n\
         WSGIScriptAlias /plain {d}/probe.wsgi\n\
         <Location /trusted>\n  {headers}\n  WSGITrustedProxies 127.0.0.1\n</Location>\n\
         <Location /d-trusted>\n  {headers}\n  WSGITrustedProxies 127.0.0.0/8\n</Location>\n\
         <Location /untrusted>\n  {headers}\n  WSGITrustedProxies 10.0.0.0/8 192.0.2.1\n</Location>\n\
         <Location /d-untrusted>\n  {headers}\n  WSGITrustedProxies 10.0.0.1\n</Location>\n"
    );
    Server::start(tag, &conf)
}

fn environ(s: &Server, path: &str) -> Value {
    let r = s.request(&format!(
        "GET {path} HTTP/1.1\r\nHost: real.example\r\n{SPOOFED}Connection: close\r\n\r\n"
    ));
    assert_eq!(r.status, 200, "{}", s.logs());
    json_of(&r)
}

fn believed(v: &Value) {
    assert_eq!(v.get("REMOTE_ADDR").str(), "203.0.113.9");
    assert_eq!(v.get("wsgi.url_scheme").str(), "https");
    assert_eq!(v.get("HTTP_HOST").str(), "example.org");
    assert_eq!(v.get("SCRIPT_NAME").str(), "/mounted");
    assert_eq!(v.get("mod_wsgi.mount_point").str(), "/mounted");
    // The chosen header stays (as mod_wsgi keeps it); its synonym goes.
    assert_eq!(
        v.get("HTTP_X_FORWARDED_FOR").str(),
        "203.0.113.9, 127.0.0.1"
    );
    assert_eq!(v.get("HTTP_X_REAL_IP"), &Value::Null);
}

fn dropped(v: &Value, script_name: &str) {
    assert_eq!(v.get("REMOTE_ADDR").str(), "127.0.0.1");
    assert_eq!(v.get("wsgi.url_scheme").str(), "http");
    assert_eq!(v.get("HTTP_HOST").str(), "real.example");
    assert_eq!(v.get("SCRIPT_NAME").str(), script_name);
    for spoofed in [
        "HTTP_X_FORWARDED_FOR",
        "HTTP_X_REAL_IP",
        "HTTP_X_FORWARDED_PROTO",
        "HTTP_X_FORWARDED_HOST",
        "mod_wsgi.mount_point",
    ] {
        assert_eq!(
            v.get(spoofed),
            &Value::Null,
            "{spoofed} reached the application"
        );
    }
}

#[test]
fn a_trusted_proxy_is_believed_in_both_modes() {
    let s = site("proxy-trusted");
    believed(&environ(&s, "/trusted/environ"));
    believed(&environ(&s, "/d-trusted/environ"));
}

#[test]
fn headers_from_an_untrusted_peer_are_removed_in_both_modes() {
    let s = site("proxy-untrusted");
    dropped(&environ(&s, "/untrusted/environ"), "/untrusted");
    dropped(&environ(&s, "/d-untrusted/environ"), "/d-untrusted");
    // Without the directives the headers are ordinary request headers.
    let v = environ(&s, "/plain/environ");
    assert_eq!(
        v.get("HTTP_X_FORWARDED_FOR").str(),
        "203.0.113.9, 127.0.0.1"
    );
    assert_eq!(v.get("REMOTE_ADDR").str(), "127.0.0.1");
}

#[test]
fn bad_proxy_lines_are_refused() {
    for (conf, needle) in [
        ("WSGITrustedProxies 10.0.0.0/40", "not an IP address"),
        ("WSGITrustedProxies", "at least one address"),
        ("WSGITrustedProxyHeaders", "at least one header"),
    ] {
        let (ok, out, _) = common::configtest(conf);
        assert!(!ok && out.contains(needle), "{conf}:\n{out}");
    }
}
