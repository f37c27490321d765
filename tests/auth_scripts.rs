//! WSGIAuthUserScript (Basic and Digest), WSGIAuthGroupScript with
//! `Require wsgi-group`, WSGIAccessScript: Python decides, Apache asks.
//! A script that raises or answers the wrong type is a 500 with its
//! traceback in the log, never an allow; hostile Authorization headers are
//! a 401, never a crash.

mod common;

use common::sites::json_of;
use common::{apxs, probe_dir, write_file, Server};

fn auth_site(tag: &str) -> Server {
    let dir = probe_dir(tag);
    let d = dir.display();
    write_file(&dir, "auth.wsgi", include_str!("apps/auth.wsgi"));
    write_file(&dir, "access.wsgi", include_str!("apps/access.wsgi"));
    let m = apxs("LIBEXECDIR");
    let conf = format!(
        "LoadModule authn_core_module {m}/mod_authn_core.so\n\
         LoadModule auth_basic_module {m}/mod_auth_basic.so\n\
         LoadModule auth_digest_module {m}/mod_auth_digest.so\n\
         LoadModule authz_user_module {m}/mod_authz_user.so\n\
         WSGIScriptAlias /app {d}/probe.wsgi\n\
         WSGIScriptAlias /digest {d}/probe.wsgi\n\
         WSGIScriptAlias /acc {d}/probe.wsgi\n\
         <Location /app>\n  AuthType Basic\n  AuthName \"wsgi test\"\n  AuthBasicProvider wsgi\n\
           WSGIAuthUserScript {d}/auth.wsgi\n  Require valid-user\n</Location>\n\
         WSGIScriptAlias /grp {d}/probe.wsgi\n\
         <Location /grp>\n  AuthType Basic\n  AuthName \"wsgi test\"\n  AuthBasicProvider wsgi\n\
           WSGIAuthUserScript {d}/auth.wsgi\n  WSGIAuthGroupScript {d}/auth.wsgi\n\
           Require wsgi-group admins\n</Location>\n\
         <Location /digest>\n  AuthType Digest\n  AuthName \"realm-x\"\n  AuthDigestProvider wsgi\n\
           WSGIAuthUserScript {d}/auth.wsgi\n  Require valid-user\n</Location>\n\
         <Location /acc>\n  WSGIAccessScript {d}/access.wsgi\n</Location>\n"
    );
    Server::start(tag, &conf)
}

fn basic(user: &[u8], password: &[u8]) -> String {
    let mut raw = user.to_vec();
    raw.push(b':');
    raw.extend_from_slice(password);
    base64(&raw)
}

fn base64(b: &[u8]) -> String {
    const T: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for c in b.chunks(3) {
        let n = (c[0] as u32) << 16
            | (*c.get(1).unwrap_or(&0) as u32) << 8
            | *c.get(2).unwrap_or(&0) as u32;
        for i in 0..4 {
            if i <= c.len() {
                out.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn get_with(s: &Server, path: &str, authorization: &str) -> common::http::Response {
    s.request(&format!(
        "GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: {authorization}\r\nConnection: close\r\n\r\n"
    ))
}

#[test]
fn check_password_decides_basic_authentication() {
    let s = auth_site("auth-basic");
    assert_eq!(s.get("/app/environ").status, 401);
    let r = get_with(
        &s,
        "/app/environ",
        &format!("Basic {}", basic(b"alice", b"secret")),
    );
    assert_eq!(r.status, 200, "{}", s.logs());
    assert_eq!(json_of(&r).get("REMOTE_USER").str(), "alice");
    assert_eq!(
        get_with(
            &s,
            "/app/environ",
            &format!("Basic {}", basic(b"alice", b"nope"))
        )
        .status,
        401
    );
    assert_eq!(
        get_with(
            &s,
            "/app/environ",
            &format!("Basic {}", basic(b"nobody", b"x"))
        )
        .status,
        401
    );
    // A user name returned by the script becomes the request's user.
    let r = get_with(
        &s,
        "/app/environ",
        &format!("Basic {}", basic(b"renamed", b"x")),
    );
    assert_eq!(json_of(&r).get("REMOTE_USER").str(), "alice-the-renamed");
}

#[test]
fn a_failing_auth_script_is_a_500_never_an_allow() {
    let s = auth_site("auth-fail");
    let r = get_with(
        &s,
        "/app/environ",
        &format!("Basic {}", basic(b"boom", b"x")),
    );
    assert_eq!(r.status, 500, "{}", s.logs());
    assert!(s.wait_for_log(
        "auth script raised on purpose",
        std::time::Duration::from_secs(5)
    ));
    assert!(s.error_log().contains("WSGIAuthUserScript"), "{}", s.logs());
    let r = get_with(
        &s,
        "/app/environ",
        &format!("Basic {}", basic(b"wrongtype", b"x")),
    );
    assert_eq!(r.status, 500);
    assert!(
        s.error_log()
            .contains("must return True, False or None or a user name; not 42"),
        "{}",
        s.logs()
    );
    // The server goes on serving.
    let r = get_with(
        &s,
        "/app/environ",
        &format!("Basic {}", basic(b"alice", b"secret")),
    );
    assert_eq!(r.status, 200);
}

#[test]
fn hostile_authorization_headers_get_401() {
    let s = auth_site("auth-hostile");
    for header in [
        "Basic !!!not-base64!!!".to_string(),
        "Basic ".to_string(),
        format!("Basic {}", basic(b"\xff\xfe\x80", b"\xc3\x28")),
        format!("Basic {}", base64(b"no-colon-at-all")),
        "Bearer abc".to_string(),
    ] {
        let r = get_with(&s, "/app/environ", &header);
        assert_eq!(r.status, 401, "{header}: {}", s.logs());
    }
    assert_eq!(
        s.get("/acc/environ").status,
        200,
        "still serving\n{}",
        s.logs()
    );
}

#[test]
fn require_wsgi_group_asks_groups_for_user() {
    let s = auth_site("auth-groups");
    let alice = format!("Basic {}", basic(b"alice", b"secret"));
    assert_eq!(
        get_with(&s, "/grp/environ", &alice).status,
        200,
        "{}",
        s.logs()
    );
    let dave = format!("Basic {}", basic(b"dave", b"pw"));
    assert_ne!(get_with(&s, "/grp/environ", &dave).status, 200);
    assert!(
        s.error_log()
            .contains("user 'dave' is not in any of the groups"),
        "{}",
        s.logs()
    );
    // One str instead of a list of names: an error, not a match on "admins".
    let carol = format!("Basic {}", basic(b"carol", b"pw"));
    assert_eq!(
        get_with(&s, "/grp/environ", &carol).status,
        500,
        "{}",
        s.logs()
    );
    assert!(s
        .error_log()
        .contains("must return an iterable of group names, not one str"));
}

#[test]
fn allow_access_decides_the_access_phase() {
    let s = auth_site("auth-access");
    assert_eq!(s.get("/acc/environ").status, 200, "{}", s.logs());
    assert_eq!(s.get("/acc/environ?deny").status, 403);
    assert!(
        s.error_log()
            .contains("client 127.0.0.1 denied by WSGIAccessScript"),
        "{}",
        s.logs()
    );
    // None: the script does not decide; Apache's own rules (granted here) do.
    assert_eq!(s.get("/acc/environ?neutral").status, 200);
    assert_eq!(s.get("/acc/environ?boom").status, 500);
    assert_eq!(s.get("/acc/environ?bad").status, 500);
    assert!(s.error_log().contains("allow_access() in"), "{}", s.logs());
}

#[test]
fn get_realm_hash_serves_digest_authentication() {
    let s = auth_site("auth-digest");
    let challenge = s.get("/digest/environ");
    assert_eq!(challenge.status, 401, "{}", s.logs());
    let www = challenge
        .header("WWW-Authenticate")
        .unwrap_or_default()
        .to_string();
    let field = |name: &str| {
        www.split(&format!("{name}=\""))
            .nth(1)
            .and_then(|r| r.split('"').next())
            .unwrap_or_default()
            .to_string()
    };
    let (realm, nonce) = (field("realm"), field("nonce"));
    assert_eq!(realm, "realm-x", "{www}");
    let header = digest_header("alice", "secret", &realm, &nonce, "/digest/environ");
    let r = get_with(&s, "/digest/environ", &header);
    assert_eq!(r.status, 200, "{header}\n{}", s.logs());
    assert_eq!(json_of(&r).get("REMOTE_USER").str(), "alice");
    let wrong = digest_header("alice", "wrong", &realm, &nonce, "/digest/environ");
    assert_eq!(get_with(&s, "/digest/environ", &wrong).status, 401);
}

/// An RFC 2617 Digest Authorization header (qop=auth), computed by Python's hashlib.
fn digest_header(user: &str, password: &str, realm: &str, nonce: &str, uri: &str) -> String {
    let py = format!(
        "import hashlib\nh=lambda s: hashlib.md5(s.encode()).hexdigest()\n\
         ha1=h('{user}:{realm}:{password}'); ha2=h('GET:{uri}')\n\
         print(h('%s:{nonce}:00000001:abcdef:auth:%s' % (ha1, ha2)))"
    );
    let out = std::process::Command::new("python3")
        .args(["-c", &py])
        .output()
        .unwrap();
    let response = String::from_utf8_lossy(&out.stdout).trim().to_string();
    format!(
        "Digest username=\"{user}\", realm=\"{realm}\", nonce=\"{nonce}\", uri=\"{uri}\", \
         algorithm=MD5, response=\"{response}\", qop=auth, nc=00000001, cnonce=\"abcdef\""
    )
}

/// A virtualenv with Django from PyPI, made once and kept under target/.
fn django_venv() -> std::path::PathBuf {
    common::pip_venv("django-venv", &["django"])
}

fn run(cmd: &mut std::process::Command) {
    common::run_ok(cmd);
}

/// A Django project (settings, SQLite users and groups) whose users log in
/// at /site and, if editors, at /editors.
fn django_site() -> Server {
    use std::os::unix::fs::PermissionsExt;
    let venv = django_venv();
    let dir = probe_dir("auth-django");
    let d = dir.display();
    write_file(&dir, "authsite/__init__.py", "");
    write_file(
        &dir,
        "authsite/settings.py",
        &format!(
            "SECRET_KEY = 'test only'\n\
             INSTALLED_APPS = ['django.contrib.auth', 'django.contrib.contenttypes']\n\
             DATABASES = {{'default': {{'ENGINE': 'django.db.backends.sqlite3', 'NAME': '{d}/db/users.sqlite3'}}}}\n\
             PASSWORD_HASHERS = ['django.contrib.auth.hashers.MD5PasswordHasher']\n\
             USE_TZ = True\n"
        ),
    );
    let db_dir = dir.join("db");
    std::fs::create_dir_all(&db_dir).unwrap();
    let populate = "import django\ndjango.setup()\n\
        from django.core.management import call_command\ncall_command('migrate', verbosity=0)\n\
        from django.contrib.auth.models import User, Group\n\
        alice = User.objects.create_user('alice', password='secret')\n\
        alice.groups.add(Group.objects.create(name='editors'))\n\
        User.objects.create_user('bob', password='pw')\n\
        User.objects.create_user('gone', password='pw', is_active=False)\n";
    run(std::process::Command::new(venv.join("bin/python"))
        .args(["-c", populate])
        .env("DJANGO_SETTINGS_MODULE", "authsite.settings")
        .current_dir(&dir));
    // Apache's User reads (and SQLite locks) the database.
    std::fs::set_permissions(&db_dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    let db = db_dir.join("users.sqlite3");
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o666)).unwrap();
    write_file(
        &dir,
        "django_auth.wsgi",
        &format!(
            "import os, sys\nsys.path.insert(0, '{d}')\n\
             os.environ['DJANGO_SETTINGS_MODULE'] = 'authsite.settings'\n\
             import django\ndjango.setup()\n\
             from django.contrib.auth.handlers.modwsgi import check_password, groups_for_user\n"
        ),
    );
    let m = apxs("LIBEXECDIR");
    let conf = format!(
        "LoadModule authn_core_module {m}/mod_authn_core.so\n\
         LoadModule auth_basic_module {m}/mod_auth_basic.so\n\
         LoadModule authz_user_module {m}/mod_authz_user.so\n\
         WSGIPythonHome {venv}\n\
         WSGIScriptAlias /site {d}/probe.wsgi\n\
         WSGIScriptAlias /editors {d}/probe.wsgi\n\
         <Location /site>\n  AuthType Basic\n  AuthName \"django\"\n  AuthBasicProvider wsgi\n\
           WSGIAuthUserScript {d}/django_auth.wsgi\n  Require valid-user\n</Location>\n\
         <Location /editors>\n  AuthType Basic\n  AuthName \"django\"\n  AuthBasicProvider wsgi\n\
           WSGIAuthUserScript {d}/django_auth.wsgi\n  WSGIAuthGroupScript {d}/django_auth.wsgi\n\
           Require wsgi-group editors\n</Location>\n",
        venv = venv.display()
    );
    Server::start("auth-django", &conf)
}

/// Django's own deployment guide: `AuthBasicProvider wsgi` with
/// django.contrib.auth.handlers.modwsgi's check_password and
/// groups_for_user, over users and groups in SQLite.
#[test]
fn a_django_project_authenticates_users_and_groups() {
    let s = django_site();
    let as_user = |path: &str, u: &str, p: &str| {
        get_with(
            &s,
            path,
            &format!("Basic {}", basic(u.as_bytes(), p.as_bytes())),
        )
    };
    let r = as_user("/site/environ", "alice", "secret");
    assert_eq!(r.status, 200, "{}", s.logs());
    assert_eq!(json_of(&r).get("REMOTE_USER").str(), "alice");
    assert_eq!(as_user("/site/environ", "alice", "wrong").status, 401);
    assert_eq!(as_user("/site/environ", "nobody-here", "x").status, 401);
    assert_eq!(
        as_user("/site/environ", "gone", "pw").status,
        401,
        "inactive users are refused"
    );
    assert_eq!(
        as_user("/editors/environ", "alice", "secret").status,
        200,
        "{}",
        s.logs()
    );
    assert_ne!(
        as_user("/editors/environ", "bob", "pw").status,
        200,
        "bob is not an editor"
    );
}
