//! The same application under PyPI's mod_wsgi 6.1.1 (built here into the
//! test virtualenv) and under this module, in embedded and daemon mode:
//! the Python API names, the `apache` module, the environ keys' types, and
//! the keys of process_metrics(), request_metrics() and server_metrics().

mod common;

use common::json::Value;
use common::sites::json_of;
use common::{probe_dir, Server};

/// What each path answers, under one module.
fn answers(tag: &str, module: Option<&str>) -> Vec<(String, Value)> {
    let dir = probe_dir(tag);
    let d = dir.display();
    let conf = format!(
        "WSGIServerMetrics On\nExtendedStatus On\n\
         WSGIDaemonProcess site processes=1 threads=2 server-metrics=On\n\
         WSGIScriptAlias /e {d}/probe.wsgi\n\
         WSGIScriptAlias /d {d}/probe.wsgi process-group=site\n"
    );
    // (One test in this binary: the variable is not shared with another.)
    match module {
        Some(m) => std::env::set_var("MOD_WSGI_RS_SO", m),
        None => std::env::remove_var("MOD_WSGI_RS_SO"),
    }
    let s = Server::start(tag, &conf);
    std::env::remove_var("MOD_WSGI_RS_SO");
    // Which module really answers: mod_wsgi names itself in Apache's banner.
    let banner = s.log_line("resuming normal operations");
    assert_eq!(
        banner.contains("mod_wsgi/6.1.1"),
        module.is_some(),
        "{tag}: {banner}"
    );
    let mut out = Vec::new();
    for prefix in ["/e", "/d"] {
        for q in [
            "",
            "?metrics",
            "?request-metrics",
            "?request-metrics",
            "?server-metrics",
        ] {
            let r = s.get(&format!("{prefix}/api6{q}"));
            assert_eq!(r.status, 200, "{tag} {prefix}{q}\n{}", s.logs());
            out.push((format!("{prefix}{q}"), json_of(&r)));
        }
    }
    out
}

fn keys(v: &Value) -> Vec<String> {
    match v {
        Value::Obj(pairs) => {
            let mut k: Vec<String> = pairs.iter().map(|(k, _)| k.clone()).collect();
            k.sort();
            k
        }
        _ => Vec::new(),
    }
}

#[test]
fn the_python_api_matches_mod_wsgi_6_1_1() {
    let mod_wsgi = answers("vs61-theirs", Some(&common::sites::mod_wsgi_61()));
    let ours = answers("vs61-ours", None);
    for ((path, a), (_, b)) in mod_wsgi.iter().zip(ours.iter()) {
        match path.split_once('?').map_or("", |(_, q)| q) {
            "" => {
                for k in ["version", "has", "types", "apache_types"] {
                    assert_eq!(a.get(k), b.get(k), "{path}: {k}");
                }
            }
            "metrics" => assert_eq!(
                keys(a.get("metrics")),
                keys(b.get("metrics")),
                "{path}: process_metrics keys"
            ),
            "request-metrics" => {
                assert_eq!(
                    keys(a.get("metrics")),
                    keys(b.get("metrics")),
                    "{path}: request_metrics keys"
                )
            }
            _ => {
                for k in ["keys", "process_keys", "worker_keys"] {
                    assert_eq!(
                        a.get("metrics").get(k),
                        b.get("metrics").get(k),
                        "{path}: server_metrics {k}"
                    );
                }
            }
        }
    }
}
