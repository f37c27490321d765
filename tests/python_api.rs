//! mod_wsgi 6.1's Python surface under a real httpd, in embedded and in
//! daemon mode: `mod_wsgi.version`, the `apache` module, the 6.x environ
//! timing keys, and `mod_wsgi.LogHandler` writing to Apache's error log
//! with the request's id.

mod common;

use common::json::Value;
use common::sites::json_of;
use common::{probe_dir, Server};

fn site(tag: &str) -> Server {
    let dir = probe_dir(tag);
    let d = dir.display();
    let conf = format!(
        "WSGIDaemonProcess site processes=1 threads=2\n\
         WSGIScriptAlias /e {d}/probe.wsgi\n\
         WSGIScriptAlias /d {d}/probe.wsgi process-group=site\n"
    );
    Server::start(tag, &conf)
}

fn num(v: &Value, k: &str) -> f64 {
    v.get("environ").get(k).num()
}

fn common_checks(v: &Value, s: &Server) {
    assert_eq!(
        v.get("version"),
        &json_list(&[6.0, 1.0, 1.0]),
        "{}",
        s.logs()
    );
    assert_eq!(v.get("apache_version").get_index(0).num(), 2.0);
    assert_eq!(v.get("mpm_name").str(), common::mpm().as_str());
    assert!(
        v.get("description").str().starts_with("Apache/2.4"),
        "{v:?}"
    );
    assert!(!v.get("build_date").str().is_empty());
    assert!(v.get("apache_threads_per_process").num() >= 1.0);
    for k in ["mod_wsgi.request_start", "mod_wsgi.application_start"] {
        assert_eq!(v.get("types").get(k).str(), "float", "{k}");
    }
    assert!(num(v, "mod_wsgi.application_start") >= num(v, "mod_wsgi.request_start"));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    assert!(
        (now - num(v, "mod_wsgi.request_start")).abs() < 60.0,
        "{v:?}"
    );
    assert_eq!(v.get("types").get("mod_wsgi.thread_id").str(), "int");
    assert!(num(v, "mod_wsgi.thread_id") >= 1.0);
}

fn json_list(items: &[f64]) -> Value {
    Value::List(items.iter().map(|n| Value::Num(*n)).collect())
}

#[test]
fn embedded_mode_has_the_6x_surface() {
    let s = site("api6-embedded");
    let v = json_of(&s.get("/e/api6"));
    common_checks(&v, &s);
    assert_eq!(num(&v, "mod_wsgi.queue_start"), 0.0, "embedded: no queue");
    assert_eq!(num(&v, "mod_wsgi.daemon_start"), 0.0);
    assert_eq!(
        v.get("environ").get("mod_wsgi.server_pid").str(),
        format!("{}", v.get("pid").num() as u32)
    );
}

#[test]
fn daemon_mode_has_the_6x_surface() {
    let s = site("api6-daemon");
    let v = json_of(&s.get("/d/api6"));
    common_checks(&v, &s);
    let (request, queue, daemon, app) = (
        num(&v, "mod_wsgi.request_start"),
        num(&v, "mod_wsgi.queue_start"),
        num(&v, "mod_wsgi.daemon_start"),
        num(&v, "mod_wsgi.application_start"),
    );
    assert!(
        request <= queue && queue <= daemon && daemon <= app,
        "{v:?}"
    );
    // The Apache child that relayed it, not the daemon.
    let server_pid: u32 = v
        .get("environ")
        .get("mod_wsgi.server_pid")
        .str()
        .parse()
        .unwrap();
    assert_ne!(server_pid, v.get("pid").num() as u32);
}

#[test]
fn log_handler_lines_carry_the_request_id_in_both_modes() {
    let s = site("api6-log");
    for (path, word) in [
        ("/e/api6?log=embedded-hello", "embedded-hello"),
        ("/d/api6?log=daemon-hello", "daemon-hello"),
    ] {
        assert_eq!(s.get(path).status, 200, "{}", s.logs());
        let line = s.log_line(&format!("probe LogHandler says {word}"));
        assert!(line.contains(":error]"), "{line}");
        assert!(line.contains("request="), "no request id: {line}");
    }
}

#[test]
fn process_metrics_count_requests_in_both_modes() {
    let s = site("api6-metrics");
    for prefix in ["/e", "/d"] {
        let first = json_of(&s.get(&format!("{prefix}/api6?metrics")));
        let m = first.get("metrics");
        assert_eq!(
            m.get("active_requests").num(),
            1.0,
            "{prefix}: {first:?}\n{}",
            s.logs()
        );
        // The request's own id is the one in flight.
        assert_eq!(
            first.get("active").get_index(0).str(),
            first.get("request_id").str()
        );
        assert!(m.get("memory_rss").num() > 1e6);
        assert!(m.get("running_time").num() >= 0.0);
        let before = m.get("request_count").num();
        for _ in 0..3 {
            assert_eq!(s.get(&format!("{prefix}/environ")).status, 200);
        }
        let later = json_of(&s.get(&format!("{prefix}/api6?metrics")));
        let after = later.get("metrics").get("request_count").num();
        // Embedded requests may land in another Apache child (StartServers 1
        // keeps it to one here); a daemon group of one process sees them all.
        if prefix == "/d" {
            assert_eq!(after, before + 4.0, "{later:?}");
        } else {
            assert!(after >= before, "{later:?}");
        }
    }
}

#[test]
fn request_metrics_have_daemon_phases_only_in_daemon_mode() {
    let s = site("api6-rmetrics");
    for (prefix, daemon) in [("/d", true), ("/e", false)] {
        // Starts recording (and drains what there was).
        json_of(&s.get(&format!("{prefix}/api6?request-metrics")));
        json_of(&s.get(&format!("{prefix}/api6?request-metrics")));
        for _ in 0..2 {
            assert_eq!(s.get(&format!("{prefix}/environ")).status, 200);
        }
        let v = json_of(&s.get(&format!("{prefix}/api6?request-metrics")));
        let m = v.get("metrics");
        if daemon {
            // The previous reader and the two requests, all in the one daemon.
            assert_eq!(m.get("request_count").num(), 3.0, "{v:?}\n{}", s.logs());
            assert!(m.get("queue_time").num() >= 0.0, "{v:?}");
            assert!(m.get("daemon_time").num() >= 0.0, "{v:?}");
            assert_eq!(m.get("request_threads_maximum").num(), 2.0);
        } else {
            assert_eq!(m.get("queue_time"), &Value::Null, "{v:?}");
            assert_eq!(m.get("daemon_time"), &Value::Null);
        }
        assert!(m.get("status_2xx").num() >= 1.0, "{v:?}");
        assert!(m.get("sample_period").num() > 0.0);
        assert!(m.get("memory_rss").num() > 1e6);
    }
}

#[test]
fn server_metrics_show_the_scoreboard_only_where_allowed() {
    let dir = probe_dir("api6-server");
    let d = dir.display();
    let conf = format!(
        "WSGIServerMetrics On\nExtendedStatus On\n\
         WSGIDaemonProcess on processes=1 threads=2 server-metrics=On\n\
         WSGIDaemonProcess off processes=1 threads=2\n\
         WSGIScriptAlias /e {d}/probe.wsgi\n\
         WSGIScriptAlias /on {d}/probe.wsgi process-group=on\n\
         WSGIScriptAlias /off {d}/probe.wsgi process-group=off\n"
    );
    let s = Server::start("api6-server", &conf);
    assert_eq!(
        json_of(&s.get("/off/api6?server-metrics")).get("metrics"),
        &Value::Null
    );
    for path in ["/e/api6?server-metrics", "/on/api6?server-metrics"] {
        let v = json_of(&s.get(path));
        let m = v.get("metrics");
        assert_ne!(m, &Value::Null, "{path}: {v:?}\n{}", s.logs());
        assert!(m.get("server_limit").num() >= 1.0, "{path}: {v:?}");
        assert!(m.get("processes").num() >= 1.0);
        // The Apache child serving this very request is writing it (its
        // request line is there with ExtendedStatus On).
        assert!(m.get("writing").num() >= 1.0, "{path}: {v:?}");
        let requests = format!("{:?}", m.get("requests"));
        assert!(requests.contains("server-metrics"), "{path}: {requests}");
        assert!(m.get("pids").get_index(0) != &Value::Null, "{path}: {v:?}");
    }
    drop(s);
    // Off by default in Apache children too.
    let s = site("api6-server-off");
    assert_eq!(
        json_of(&s.get("/e/api6?server-metrics")).get("metrics"),
        &Value::Null
    );
}
