//! `apachectl configtest` (httpd -t) rejects bad mod_wsgi directives with a
//! message that names the directive, the option and the line, and accepts a
//! full mod_wsgi configuration.

mod common;

fn rejects(conf: &str, needles: &[&str]) {
    let (ok, out, path) = common::configtest(conf);
    assert!(!ok, "configtest passed but should fail for:\n{conf}\n{out}");
    for n in needles {
        assert!(
            out.contains(n),
            "expected '{n}' in configtest output:\n{out}\n(config {})",
            path.display()
        );
    }
}

#[test]
fn unknown_daemon_option_names_the_option_and_line() {
    rejects(
        "# line one of the extra part\nWSGIDaemonProcess site processes=2 thread=5",
        &[
            "WSGIDaemonProcess",
            "option 'thread=5': unknown option",
            "Syntax error on line",
        ],
    );
}

#[test]
fn bad_daemon_values() {
    rejects(
        "WSGIDaemonProcess site processes=0",
        &["option 'processes=0'"],
    );
    rejects(
        "WSGIDaemonProcess site threads=many",
        &["option 'threads=many'", "whole number"],
    );
    rejects(
        "WSGIDaemonProcess site graceful-timeout=-1",
        &["graceful-timeout=-1"],
    );
    rejects(
        "WSGIDaemonProcess site user=no-such-user-here",
        &["user=no-such-user-here", "no such user"],
    );
    rejects(
        "WSGIDaemonProcess site home=relative/dir",
        &["home=relative/dir", "absolute path"],
    );
    rejects(
        "WSGIDaemonProcess site threads",
        &["'threads' needs a value"],
    );
}

#[test]
fn duplicate_group_names_are_refused() {
    rejects(
        "WSGIDaemonProcess site\nWSGIDaemonProcess site processes=2",
        &[
            "WSGIDaemonProcess",
            "'site' duplicates a previous WSGIDaemonProcess",
        ],
    );
}

#[test]
fn process_groups_must_be_defined() {
    rejects(
        "WSGIDaemonProcess real\n<Location />\n  WSGIProcessGroup imaginary\n</Location>",
        &["WSGIProcessGroup", "'imaginary' is not defined", "line"],
    );
    rejects(
        "WSGIScriptAlias / /tmp/x.wsgi process-group=ghost",
        &["WSGIScriptAlias", "'ghost' is not defined"],
    );
}

#[test]
fn other_directive_errors() {
    rejects(
        "WSGIScriptAlias /only-one-argument",
        &["WSGIScriptAlias", "expected a URL path and a script path"],
    );
    rejects(
        "WSGIScriptAlias / /tmp/x.wsgi proces-group=g",
        &["option 'proces-group=g': unknown option"],
    );
    rejects(
        "WSGIScriptAliasMatch ^/(unclosed /tmp/x.wsgi",
        &["not a valid regular expression"],
    );
    rejects(
        "WSGIApplicationGroup %{NOPE}",
        &["WSGIApplicationGroup", "unknown expansion"],
    );
    rejects(
        "WSGIPythonOptimize 7",
        &["WSGIPythonOptimize", "not an optimisation level"],
    );
    rejects(
        "WSGIRestrictStdin maybe",
        &["WSGIRestrictStdin", "not On or Off"],
    );
    rejects(
        "WSGIImportScript /tmp/x.wsgi process-group=g",
        &["application-group= option is required"],
    );
    rejects(
        "<VirtualHost 127.0.0.1:80>\n  WSGIPythonHome /usr\n</VirtualHost>",
        &["WSGIPythonHome", "cannot occur within"],
    );
}

/// Every directive mod_wsgi 6.1 registers (and mod_wsgi 4's
/// WSGILazyInitialization): none is unknown to Apache or refused as "not
/// supported", whatever its arguments.
const MOD_WSGI_61: &[&str] = &[
    "WSGIScriptAlias",
    "WSGIScriptAliasMatch",
    "WSGIDaemonProcess",
    "WSGISocketPrefix",
    "WSGISocketRotation",
    "WSGIAcceptMutex",
    "WSGIVerboseDebugging",
    "WSGIDontWriteBytecode",
    "WSGIPythonWarnings",
    "WSGIPythonOptimize",
    "WSGIPythonHome",
    "WSGIPythonPath",
    "WSGIPythonEggs",
    "WSGIPythonHashSeed",
    "WSGISwitchInterval",
    "WSGIDestroyInterpreter",
    "WSGIPerInterpreterGIL",
    "WSGIFreeThreading",
    "WSGIRestrictEmbedded",
    "WSGIRestrictStdin",
    "WSGIRestrictStdout",
    "WSGIRestrictSignal",
    "WSGICaseSensitivity",
    "WSGIRestrictProcess",
    "WSGIProcessGroup",
    "WSGIApplicationGroup",
    "WSGICallableObject",
    "WSGIImportScript",
    "WSGIDispatchScript",
    "WSGIPassApacheRequest",
    "WSGIPassAuthorization",
    "WSGIScriptReloading",
    "WSGIErrorOverride",
    "WSGIChunkedRequest",
    "WSGIMapHEADToGET",
    "WSGIIgnoreActivity",
    "WSGITrustedProxyHeaders",
    "WSGITrustedProxies",
    "WSGIEnableSendfile",
    "WSGIAccessScript",
    "WSGIAuthUserScript",
    "WSGIAuthGroupScript",
    "WSGIGroupAuthoritative",
    "WSGIHandlerScript",
    "WSGIServerMetrics",
    "WSGITelemetryService",
    "WSGISlowRequests",
    "WSGITelemetryOptions",
    "WSGILazyInitialization",
];

#[test]
fn no_mod_wsgi_directive_is_unknown_or_refused() {
    assert_eq!(MOD_WSGI_61.len(), 49);
    for name in MOD_WSGI_61 {
        for conf in [
            format!("{name} x"),
            format!("<Directory /tmp>\n{name} x\n</Directory>"),
        ] {
            let (_, out, _) = common::configtest(&conf);
            assert!(!out.contains("Invalid command"), "{name}: {out}");
            assert!(!out.contains("not supported"), "{name}: {out}");
        }
    }
    let (_, out, _) = common::configtest("<WSGIInterpreterOptions>\n</WSGIInterpreterOptions>");
    assert!(!out.contains("Invalid command"), "{out}");
}

#[test]
fn a_full_mod_wsgi_configuration_passes() {
    let conf = "\
WSGIPythonOptimize 1
WSGIRestrictStdout Off
WSGIDestroyInterpreter Off
WSGISocketPrefix run/wsgi
WSGIDaemonProcess site processes=2 threads=15 display-name=%{GROUP} python-path=\"/srv/a b:/srv/c\" \\
    maximum-requests=1000 graceful-timeout=20 shutdown-timeout=5 inactivity-timeout=300 \\
    request-timeout=60 queue-timeout=45 socket-timeout=60 listen-backlog=500 lang=en_US.UTF-8 locale=C.UTF-8
WSGIProcessGroup site
WSGIApplicationGroup %{GLOBAL}
WSGIScriptAlias /app /tmp/app.wsgi process-group=site application-group=%{GLOBAL} pass-authorization=On
WSGIScriptAliasMatch ^/x/([^/]+) /tmp/x/$1.wsgi
WSGIImportScript /tmp/app.wsgi process-group=site application-group=%{GLOBAL}
<IfModule wsgi_module>
WSGIPassAuthorization On
</IfModule>
<IfModule mod_wsgi.c>
<Location /app>
  WSGIChunkedRequest On
  WSGIMapHEADToGET Off
  WSGICallableObject app
</Location>
</IfModule>
";
    let (ok, out, _) = common::configtest(conf);
    assert!(ok, "configtest failed:\n{out}");
    assert!(out.contains("Syntax OK"), "{out}");
}

#[test]
fn both_ifmodule_names_match_this_module() {
    // A bad directive inside the block is only reported if the block is read.
    rejects(
        "<IfModule mod_wsgi.c>\n  WSGIPythonOptimize 9\n</IfModule>",
        &["WSGIPythonOptimize"],
    );
    rejects(
        "<IfModule wsgi_module>\n  WSGIPythonOptimize 9\n</IfModule>",
        &["WSGIPythonOptimize"],
    );
}
