//! mod_wsgi 6.1's directives as a configuration written for it uses them:
//! every one is known to Apache; those that work differently here say so
//! once at start-up; the GIL modes are checked against the Python this
//! module runs; the simple ones do what mod_wsgi documents.

mod common;

use common::sites::{daemon_server, json_of, probe_server};
use common::{configtest, probe_dir, Server};

/// Each directive of mod_wsgi 6.1 this module accepts, with a valid value
/// (the ones still to come are refused by name: see config_errors).
const ACCEPTED: &str = "\
WSGISocketRotation Off
WSGIAcceptMutex default
WSGIVerboseDebugging Off
WSGIPythonEggs /tmp/eggs
WSGISwitchInterval 0.004
WSGIPerInterpreterGIL Off
WSGIFreeThreading Off
WSGICaseSensitivity On
WSGIServerMetrics Off
WSGISlowRequests 2.5
WSGITelemetryService unix:/tmp/telemetry.sock interval=2
WSGITelemetryOptions +CaptureUserAgent
WSGIRestrictProcess site %{GLOBAL}
WSGIPassApacheRequest Off
WSGIDaemonProcess site switch-interval=0.002 response-flush-delay=5 python-eggs=/tmp/e server-metrics=Off
<WSGIInterpreterOptions process-group=site application-group=app1>
    WSGIPerInterpreterGIL Off
    WSGISwitchInterval 0.002
    WSGIPythonPath /opt/app1/lib
    WSGIRestrictStdin On
    WSGIRestrictStdout Off
    WSGIRestrictSignal On
</WSGIInterpreterOptions>
<WSGIInterpreterOptions>
    WSGIFreeThreading Off
</WSGIInterpreterOptions>
<Directory /tmp>
    WSGIRestrictProcess site
    WSGIPassApacheRequest Off
</Directory>
";

#[test]
fn every_accepted_6x_directive_parses() {
    let (ok, out, _) = configtest(ACCEPTED);
    assert!(ok, "configtest failed:\n{out}");
    assert!(!out.contains("Invalid command"), "{out}");
}

fn refused(conf: &str, needles: &[&str]) {
    let (ok, out, path) = configtest(conf);
    assert!(!ok, "configtest passed but should fail for:\n{conf}\n{out}");
    for n in needles {
        assert!(
            out.contains(n),
            "expected '{n}' in:\n{out}\n({})",
            path.display()
        );
    }
}

#[test]
fn bad_6x_values_are_refused_with_their_reason() {
    refused(
        "WSGISwitchInterval 0",
        &["WSGISwitchInterval", "positive number of seconds"],
    );
    refused("WSGISlowRequests -1", &["WSGISlowRequests", "zero or more"]);
    refused(
        "WSGITelemetryService tcp:1.2.3.4",
        &["WSGITelemetryService", "unix:/absolute/path"],
    );
    refused(
        "WSGITelemetryOptions +Colour",
        &["WSGITelemetryOptions", "unknown telemetry option"],
    );
    refused(
        "WSGIDaemonProcess g switch-interval=-2",
        &["switch-interval=-2"],
    );
    refused(
        "WSGIDaemonProcess g response-flush-delay=x",
        &["response-flush-delay=x"],
    );
    refused(
        "WSGIRestrictProcess",
        &["WSGIRestrictProcess", "at least one"],
    );
    refused(
        "<VirtualHost *:80>\nWSGISwitchInterval 0.1\n</VirtualHost>",
        &["WSGISwitchInterval"],
    );
}

#[test]
fn the_interpreter_options_container_is_checked() {
    refused(
        "<WSGIInterpreterOptions process-group=a>\n  WSGIScriptAlias /x /tmp/x.wsgi\n</WSGIInterpreterOptions>",
        &["WSGIScriptAlias", "not allowed inside <WSGIInterpreterOptions>"],
    );
    refused(
        "<WSGIInterpreterOptions colour=red>\n</WSGIInterpreterOptions>",
        &["unknown selector 'colour'"],
    );
    refused(
        "<WSGIInterpreterOptions>\n  WSGISwitchInterval nope\n</WSGIInterpreterOptions>",
        &["WSGISwitchInterval", "positive number"],
    );
    refused(
        "<VirtualHost *:80>\n<WSGIInterpreterOptions>\n</WSGIInterpreterOptions>\n</VirtualHost>",
        &["<WSGIInterpreterOptions"],
    );
}

/// As under mod_wsgi 6.1.1, a GIL mode the Python cannot do is accepted and
/// not in effect, so a 6.1 configuration starts unchanged; the start-up
/// note says so and names the Python. Where it can (3.12+), On is in effect
/// (tests/own_gil.rs) and no such note is logged.
#[test]
fn gil_modes_the_python_cannot_do_start_and_say_they_are_not_in_effect() {
    let (major, minor) = python_version();
    let dir = probe_dir("gilmodes6x");
    let conf = format!(
        "WSGIPerInterpreterGIL On
WSGIFreeThreading On
         <WSGIInterpreterOptions application-group=a>
  WSGIPerInterpreterGIL On
</WSGIInterpreterOptions>
         WSGIScriptAlias /app {}/probe.wsgi application-group=a
",
        dir.display()
    );
    let s = Server::start("gilmodes6x", &conf);
    assert_eq!(s.get("/app/environ").status, 200, "{}", s.logs());
    let log = s.error_log();
    let version = format!("Python {major}.{minor}");
    let gil_note = log
        .lines()
        .find(|l| l.contains("WSGIPerInterpreterGIL On: not in effect"));
    if (major, minor) < (3, 12) {
        let line =
            gil_note.unwrap_or_else(|| panic!("no note for WSGIPerInterpreterGIL\n{}", s.logs()));
        assert!(
            line.contains("Python 3.12") && line.contains(&version),
            "{line}"
        );
    } else {
        assert!(gil_note.is_none(), "{}", s.logs());
    }
    // Debian's and pyenv's builds all have the GIL.
    let free = log
        .lines()
        .find(|l| l.contains("WSGIFreeThreading On: not in effect"))
        .unwrap_or_else(|| panic!("no note for WSGIFreeThreading\n{}", s.logs()));
    assert!(
        free.contains("free-threaded") && free.contains(&version),
        "{free}"
    );
}

/// The Python the tests build against (PYO3_PYTHON, as the module is).
fn python_version() -> (u32, u32) {
    let python = std::env::var("PYO3_PYTHON").unwrap_or_else(|_| "python3".into());
    let out = std::process::Command::new(python)
        .args([
            "-c",
            "import sys; print(sys.version_info[0], sys.version_info[1])",
        ])
        .output()
        .expect("python runs");
    let text = String::from_utf8_lossy(&out.stdout);
    let mut it = text.split_whitespace().map(|w| w.parse().unwrap());
    (it.next().unwrap(), it.next().unwrap())
}

#[test]
fn directives_that_differ_say_what_they_mean_at_start_up() {
    let dir = probe_dir("notes6x");
    let conf = format!(
        "WSGISocketRotation Off\nWSGIAcceptMutex flock\nWSGIVerboseDebugging On\n\
         WSGITelemetryService unix:/tmp/t.sock\nWSGIPassApacheRequest On\n\
         <WSGIInterpreterOptions process-group=x>\n  WSGISwitchInterval 0.01\n</WSGIInterpreterOptions>\n\
         WSGIScriptAlias /app {}/probe.wsgi\n",
        dir.display()
    );
    let s = Server::start("notes6x", &conf);
    for directive in [
        "WSGISocketRotation Off:",
        "WSGIAcceptMutex flock:",
        "WSGIVerboseDebugging On:",
        "WSGITelemetryService unix:/tmp/t.sock:",
        "WSGIPassApacheRequest On:",
        "<WSGIInterpreterOptions> at ",
    ] {
        assert!(
            s.error_log().contains(directive),
            "no note for {directive}\n{}",
            s.logs()
        );
    }
    assert_eq!(s.get("/app/environ").status, 200, "{}", s.logs());
}

#[test]
fn python_eggs_and_switch_interval_reach_python_in_both_modes() {
    let (s, _) = probe_server(
        "eggs6x",
        "WSGIPythonEggs /tmp/eggs-embedded\nWSGISwitchInterval 0.004\n",
    );
    let v = json_of(&s.get("/app/python"));
    assert_eq!(
        v.get("egg_cache").str(),
        "/tmp/eggs-embedded",
        "{}",
        s.logs()
    );
    assert_eq!(v.get("switch_interval").num(), 0.004);
    assert!(
        s.error_log()
            .contains("GIL switch interval set to 0.004 seconds"),
        "{}",
        s.logs()
    );
    drop(s);
    let (s, _) = daemon_server(
        "eggs6xd",
        "processes=1 python-eggs=/tmp/eggs-daemon switch-interval=0.003",
        "WSGISwitchInterval 0.004\n",
    );
    let v = json_of(&s.get("/app/python"));
    assert_eq!(v.get("egg_cache").str(), "/tmp/eggs-daemon", "{}", s.logs());
    // WSGISwitchInterval is for Apache children; the daemon has its own.
    assert_eq!(v.get("switch_interval").num(), 0.003);
}

#[test]
fn restrict_process_limits_the_groups_a_location_may_choose() {
    let dir = probe_dir("restrict6x");
    let d = dir.display();
    let conf = format!(
        "WSGIDaemonProcess a processes=1 threads=2\nWSGIDaemonProcess b processes=1 threads=2\n\
         WSGIScriptAlias /a {d}/probe.wsgi process-group=a\n\
         WSGIScriptAlias /b {d}/probe.wsgi process-group=b\n\
         WSGIScriptAlias /e {d}/probe.wsgi\n\
         <Directory {d}>\n  WSGIRestrictProcess a\n</Directory>\n"
    );
    let s = Server::start("restrict6x", &conf);
    assert_eq!(s.get("/a/environ").status, 200, "{}", s.logs());
    assert_eq!(s.get("/b/environ").status, 500);
    assert_eq!(
        s.get("/e/environ").status,
        500,
        "embedded is not on the list either"
    );
    assert!(
        s.error_log()
            .contains("the daemon process group 'b' cannot be used here: WSGIRestrictProcess"),
        "{}",
        s.logs()
    );
}

#[test]
fn error_override_serves_apache_error_pages_for_daemon_errors() {
    let dir = probe_dir("override6x");
    let d = dir.display();
    let conf = format!(
        "WSGIDaemonProcess site processes=1 threads=2\n\
         WSGIScriptAlias /d {d}/probe.wsgi process-group=site\n\
         WSGIScriptAlias /plain {d}/probe.wsgi process-group=site\n\
         WSGIScriptAlias /e {d}/probe.wsgi\n\
         ErrorDocument 404 \"apache says missing\"\n\
         <Location /d>\n  WSGIErrorOverride On\n</Location>\n\
         <Location /e>\n  WSGIErrorOverride On\n</Location>\n"
    );
    let s = Server::start("override6x", &conf);
    let r = s.get("/d/status?404");
    assert_eq!(r.status, 404, "{}", s.logs());
    assert_eq!(r.text(), "apache says missing");
    assert!(s
        .error_log()
        .contains("WSGIErrorOverride: the application's 404 response"));
    // Success passes through; and without the directive the app's page stays.
    assert_eq!(s.get("/d/status?200").text(), "app body for 200");
    assert_eq!(s.get("/plain/status?404").text(), "app body for 404");
    // As with mod_wsgi, embedded mode is not concerned.
    assert_eq!(s.get("/e/status?404").text(), "app body for 404");
    // The group keeps serving after an overridden response.
    assert_eq!(s.get("/d/environ").status, 200);
}

#[test]
fn ignore_activity_requests_do_not_keep_an_idle_daemon_alive() {
    let dir = probe_dir("ignore6x");
    let d = dir.display();
    let conf = format!(
        "WSGIDaemonProcess site processes=1 threads=2 inactivity-timeout=2 display-name=%{{GROUP}}\n\
         WSGIScriptAlias /app {d}/probe.wsgi process-group=site\n\
         <Location /app/python>\n  WSGIIgnoreActivity On\n</Location>\n"
    );
    let s = Server::start("ignore6x", &conf);
    let pid = || json_of(&s.get("/app/module")).get("pid").num() as u32;
    // Ordinary requests every half second keep it.
    let first = pid();
    for _ in 0..8 {
        std::thread::sleep(std::time::Duration::from_millis(500));
        assert_eq!(s.get("/app/environ").status, 200);
    }
    assert!(common::alive(first), "recycled although busy\n{}", s.logs());
    // Ignored ones do not: it goes after two seconds of them.
    let second = pid();
    let gone = common::wait_until(std::time::Duration::from_secs(8), || {
        assert_eq!(s.get("/app/python").status, 200);
        std::thread::sleep(std::time::Duration::from_millis(300));
        !common::alive(second)
    });
    assert!(
        gone,
        "pid {second} outlived inactivity-timeout\n{}",
        s.logs()
    );
    assert!(s.error_log().contains("inactivity"), "{}", s.logs());
}
