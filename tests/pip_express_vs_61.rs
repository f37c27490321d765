//! Our mod_wsgi-express against PyPI's mod_wsgi 6.1.1's, same run, same
//! app, same options: what the application sees (WSGI environ, process
//! environment, working directory, sys.path, its module's name, the
//! mod_wsgi facts) must be the same but for the ports and server roots.

mod common;

use common::pip_express::{account, fresh_venv, StartServer};
use common::{free_port, pip_venv, temp_dir, write_file};
use std::path::Path;

const APP: &str = r#"
import os, sys, json, mod_wsgi
KEYS = ['SCRIPT_NAME', 'PATH_INFO', 'QUERY_STRING', 'REQUEST_URI',
        'wsgi.multiprocess', 'wsgi.multithread', 'wsgi.url_scheme',
        'mod_wsgi.process_group', 'mod_wsgi.application_group',
        'mod_wsgi.callable_object', 'mod_wsgi.handler_script',
        'SERVER_NAME', 'SERVER_PORT', 'HTTP_HOST', 'DOCUMENT_ROOT',
        'EXPRESS_SETENV']
def application(environ, start_response):
    out = {k: str(environ.get(k)) for k in KEYS}
    # LANG and LC_ALL differ on purpose where en_US.UTF-8 is not
    # installed: 6.1.1 sets it anyway, ours C.UTF-8 (docs/express.md).
    out['os.environ'] = {k: v for k, v in os.environ.items()
                         if k.startswith('MOD_WSGI') or k == 'PYTHON_EGG_CACHE'}
    out['cwd'] = os.getcwd()
    out['sys.path[0]'] = sys.path[0]
    out['__name__'] = __name__
    out['processes'] = mod_wsgi.maximum_processes
    out['threads'] = mod_wsgi.threads_per_process
    body = json.dumps(out, indent=1, sort_keys=True).encode()
    start_response('200 OK', [('Content-Type', 'application/json')])
    return [body]
"#;

/// The app's view under `venv`'s mod_wsgi-express, ports and server root
/// replaced by placeholders.
fn seen_under(venv: &Path, dir: &Path, extra: &[&str]) -> String {
    let port = free_port();
    let p = port.to_string();
    let mut args = vec!["app.wsgi", "--host", "127.0.0.1", "--port", &p];
    args.extend(account());
    args.extend(extra);
    let s = StartServer::start(venv, dir, port, &args, "/");
    let r = s.get("/app/x/y?q=1");
    assert_eq!(r.status, 200, "{}", s.logs());
    r.text()
        .replace(&s.root.display().to_string(), "@ROOT@")
        .replace(&p, "@PORT@")
}

#[test]
fn the_app_sees_what_it_sees_under_mod_wsgi_express_6_1_1() {
    let mod_wsgi_61 = pip_venv("express-venv", &["mod_wsgi==6.1.1"]);
    let ours = fresh_venv("pipv-ours", &[]);
    let options = [
        "--mount-point",
        "/app",
        "--processes",
        "2",
        "--threads",
        "3",
        "--setenv",
        "EXPRESS_SETENV",
        "set",
    ];
    let (dir61, dir_ours) = (temp_dir("pipv-61"), temp_dir("pipv-ours-app"));
    write_file(&dir61, "app.wsgi", APP);
    write_file(&dir_ours, "app.wsgi", APP);
    let theirs =
        seen_under(&mod_wsgi_61, &dir61, &options).replace(&dir61.display().to_string(), "@APP@");
    let ours =
        seen_under(&ours, &dir_ours, &options).replace(&dir_ours.display().to_string(), "@APP@");
    eprintln!("mod_wsgi-express 6.1.1:\n{theirs}");
    if theirs != ours {
        let diff: Vec<String> = theirs
            .lines()
            .zip(ours.lines())
            .filter(|(a, b)| a != b)
            .map(|(a, b)| format!("6.1.1: {a}\nours:  {b}"))
            .collect();
        panic!("differs:\n{}\n--- ours\n{ours}", diff.join("\n"));
    }
}
