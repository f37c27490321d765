//! Generates Rust bindings for the httpd and APR headers.
//!
//! The headers are found the way Apache modules find them: by asking `apxs`
//! (override with `APXS=/path/to/apxs`). Nothing is hard-coded, so the module
//! builds against whichever httpd the machine has. It also compiles
//! src/apache/shim.c, the one helper that needs APR's C macros.

use std::env;
use std::path::PathBuf;
use std::process::Command;

fn apxs_query(apxs: &str, var: &str) -> String {
    let out = Command::new(apxs)
        .args(["-q", var])
        .output()
        .unwrap_or_else(|e| {
            panic!("running `{apxs} -q {var}` failed: {e}; install apache2-dev or set APXS")
        });
    assert!(out.status.success(), "`{apxs} -q {var}` failed");
    String::from_utf8(out.stdout)
        .expect("apxs output is UTF-8")
        .trim()
        .to_string()
}

/// Where the Python being built against keeps its shared library, when
/// that is not a directory the dynamic loader searches anyway: Apache must
/// find it with no LD_LIBRARY_PATH, so the module records it (an rpath).
/// Asked of the Python itself (`PYO3_PYTHON`, as pyo3 does): a copy of a
/// Python tree reports its own location in `sys.base_prefix`, while its
/// build-time `LIBDIR` may name where it was built.
fn python_library_dir() -> Option<String> {
    println!("cargo:rerun-if-env-changed=PYO3_PYTHON");
    let python = env::var("PYO3_PYTHON").unwrap_or_else(|_| "python3".to_string());
    let script = "import os, sys, sysconfig\n\
                  lib = sysconfig.get_config_var('LDLIBRARY') or ''\n\
                  d = os.path.join(sys.base_prefix, 'lib')\n\
                  print(d if lib and os.path.exists(os.path.join(d, lib)) else '')";
    let out = Command::new(&python).args(["-c", script]).output().ok()?;
    let dir = String::from_utf8(out.stdout).ok()?.trim().to_string();
    let searched_anyway = ["/usr/lib", "/lib", "/usr/lib64", "/lib64"];
    (!dir.is_empty() && !searched_anyway.contains(&dir.as_str())).then_some(dir)
}

fn main() {
    // The wheel's module records nothing of the machine that built it: it
    // is not linked to libpython (PYO3_BUILD_EXTENSION_MODULE) and has no
    // rpath; mod_wsgi-express loads the libpython of the Python it runs
    // with (LoadFile) before the module.
    println!("cargo:rerun-if-env-changed=MOD_WSGI_RS_NO_RPATH");
    let portable = env::var_os("MOD_WSGI_RS_NO_RPATH").is_some();
    if let Some(dir) = python_library_dir().filter(|_| !portable) {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
        println!("cargo:rustc-link-search=native={dir}");
        // Such a Python's compiled-in prefix may be where it was built, not
        // where it is (a copy): without WSGIPythonHome, Python is told.
        let home = dir.trim_end_matches("/lib");
        println!("cargo:rustc-env=MOD_WSGI_RS_PYTHON_HOME={home}");
    }
    let apxs = env::var("APXS").unwrap_or_else(|_| "apxs".to_string());
    println!("cargo:rerun-if-env-changed=APXS");
    println!("cargo:rerun-if-changed=src/apache/wrapper.h");

    let mut builder = bindgen::Builder::default()
        .header("src/apache/wrapper.h")
        .allowlist_function("ap_.*|apr_.*")
        .allowlist_type("request_rec|server_rec|conn_rec|module|command_rec|cmd_parms|process_rec|ap_directive_t|unixd_config_rec|apr_proc_t|authn_provider|authz_provider|authn_status|authz_status")
        .allowlist_var("ap_unixd_config|ap_server_conf|ap_scoreboard_image|ap_max_requests_per_child|ap_conftree")
        .allowlist_var("MODULE_MAGIC_.*|OK|DECLINED|DONE|HTTP_.*|APLOG_.*|RSRC_CONF|ACCESS_CONF|OR_.*|REQUEST_CHUNKED_.*|AP_MPMQ_.*|APR_SUCCESS|APR_EOF|APR_HOOK_.*|APR_BLOCK_READ|APR_NONBLOCK_READ|NOT_IN_.*|GLOBAL_ONLY|M_GET|M_HEAD|AP_SQ_.*|APR_READ|APR_SENDFILE_ENABLED|APR_FOPEN_.*|APR_OS_DEFAULT|AP_REQ_.*|AP_REG_.*|OPT_.*|APR_OC_REASON_.*|SATISFY_.*|REMOTE_.*|AUTH_.*|AP_SERVER_.*_NUMBER")
        .default_macro_constant_type(bindgen::MacroTypeVariation::Signed)
        .derive_default(true)
        .layout_tests(false)
        .generate_comments(false)
        .parse_callbacks(Box::new(bindgen::CargoCallbacks::new()));

    println!("cargo:rerun-if-changed=src/apache/shim.c");
    let mut shim = cc::Build::new();
    shim.file("src/apache/shim.c").warnings(true);
    let mut seen = Vec::new();
    for var in ["INCLUDEDIR", "APR_INCLUDEDIR", "APU_INCLUDEDIR"] {
        let dir = apxs_query(&apxs, var);
        if !dir.is_empty() && !seen.contains(&dir) {
            builder = builder.clang_arg(format!("-I{dir}"));
            shim.include(&dir);
            seen.push(dir);
        }
    }
    // APR's headers need the platform's large-file and GNU defines, as apxs gives them.
    for flag in apxs_query(&apxs, "EXTRA_CPPFLAGS").split_whitespace() {
        if flag.starts_with("-D") {
            builder = builder.clang_arg(flag);
        }
    }
    for flag in apxs_query(&apxs, "CFLAGS").split_whitespace() {
        if flag.starts_with("-D") {
            builder = builder.clang_arg(flag);
        }
    }
    for flag in apxs_query(&apxs, "EXTRA_CPPFLAGS")
        .split_whitespace()
        .chain(apxs_query(&apxs, "CFLAGS").split_whitespace())
    {
        if let Some(def) = flag.strip_prefix("-D") {
            let (k, v) = def
                .split_once('=')
                .map_or((def, None), |(k, v)| (k, Some(v)));
            shim.define(k, v);
        }
    }
    shim.compile("mod_wsgi_rs_shim");

    let bindings = builder
        .generate()
        .expect("bindgen could not read the httpd headers");
    let out = PathBuf::from(env::var("OUT_DIR").unwrap()).join("apache_bindings.rs");
    bindings.write_to_file(out).expect("writing bindings");
}
