//! Directives allowed only in the main server configuration (outside
//! virtual hosts and sections): Python's start-up settings, the embedded
//! mode switches, and mod_wsgi 6's process-wide options. Several do their
//! job differently here; `GlobalConfig::note` records what each means,
//! and the parent logs it when the server starts.

#![forbid(unsafe_code)]

use super::{flag, one_word, with_global, GlobalConfig};
use crate::apache::cmd::Cmd;
use wsgi_core::directives::{parse_optimize, Support, MOD_WSGI_DIRECTIVES};
use wsgi_core::server_options::{slow_requests, switch_interval, TelemetryService};

pub(super) fn apply(cmd: &Cmd<'_>, name: &str, args: &str) -> Result<(), String> {
    if let Some((_, Support::NotYet)) = MOD_WSGI_DIRECTIVES.iter().find(|(n, _)| *n == name) {
        return Err("not supported yet by mod_wsgi-rs (see docs/directives.md)".into());
    }
    cmd.require_global()?;
    let socket_prefix = match name {
        "WSGISocketPrefix" => {
            let v = one_word(args)?;
            Some(
                cmd.server_root_relative(&v)
                    .ok_or_else(|| format!("invalid path '{}'", v))?,
            )
        }
        _ => None,
    };
    with_global(|g| {
        if let Some(p) = socket_prefix {
            g.socket_prefix = Some(p);
            return Ok(());
        }
        python(g, name, args).unwrap_or_else(|| process_wide(g, name, args))
    })
}

/// The directives that set how Python starts (None: not one of them).
fn python(g: &mut GlobalConfig, name: &str, args: &str) -> Option<Result<(), String>> {
    let p = &mut g.python;
    let mut set = || -> Result<(), String> {
        match name {
            "WSGIPythonHome" => p.python_home = Some(one_word(args)?),
            "WSGIPythonPath" => {
                p.python_path = wsgi_core::daemon::split_path_list(&one_word(args)?)
            }
            "WSGIPythonOptimize" => p.python_optimize = parse_optimize(&one_word(args)?)?,
            "WSGIPythonHashSeed" => p.python_hash_seed = Some(hash_seed(&one_word(args)?)?),
            "WSGIPythonWarnings" => p.python_warnings.push(one_word(args)?),
            "WSGIPythonEggs" => p.python_eggs = Some(one_word(args)?),
            "WSGIDontWriteBytecode" => p.dont_write_bytecode = flag(args)?,
            "WSGIRestrictStdin" => p.restrict_stdin = flag(args)?,
            "WSGIRestrictStdout" => p.restrict_stdout = flag(args)?,
            "WSGIRestrictSignal" => p.restrict_signal = flag(args)?,
            "WSGISwitchInterval" => p.switch_interval = Some(switch_interval(&one_word(args)?)?),
            _ => return Err(String::new()),
        }
        Ok(())
    };
    match set() {
        Err(e) if e.is_empty() => None,
        other => Some(other),
    }
}

fn hash_seed(v: &str) -> Result<String, String> {
    if v != "random" && v.parse::<u32>().is_err() {
        return Err(format!(
            "'{}' is not 'random' or a number from 0 to 4294967295",
            v
        ));
    }
    Ok(v.to_string())
}

/// The other whole-server switches.
fn process_wide(g: &mut GlobalConfig, name: &str, args: &str) -> Result<(), String> {
    match name {
        "WSGIRestrictEmbedded" => g.restrict_embedded = flag(args)?,
        "WSGIDestroyInterpreter" => g.destroy_interpreter = flag(args)?,
        // We always initialise Python lazily, in the processes that run it.
        "WSGILazyInitialization" => {
            flag(args)?;
        }
        "WSGIPerInterpreterGIL" | "WSGIFreeThreading" => {
            let (on, note) = super::interpreter_options::gil_mode(name, flag(args)?);
            if let Some(note) = note {
                g.note(note);
            }
            if name == "WSGIFreeThreading" {
                g.free_threading = on;
            } else {
                g.per_interpreter_gil = on;
            }
        }
        "WSGIVerboseDebugging" => {
            if flag(args)? {
                g.note("WSGIVerboseDebugging On: no extra messages (a no-op, as in mod_wsgi 6); use LogLevel wsgi:debug".into());
            }
        }
        "WSGIAcceptMutex" => {
            let v = one_word(args)?;
            g.note(format!("WSGIAcceptMutex {v}: not used; each daemon process waits on its group's socket with epoll and takes one connection at a time, so no cross-process mutex is needed"));
        }
        "WSGISocketRotation" => {
            if !flag(args)? {
                g.note("WSGISocketRotation Off: each configuration generation still gets its own daemon socket, so a graceful restart loses no request; the old sockets are removed once their daemons have gone".into());
            }
        }
        "WSGICaseSensitivity" => {
            if !flag(args)? {
                g.note("WSGICaseSensitivity Off: script paths are compared as written (Linux file systems are case sensitive)".into());
            }
        }
        "WSGIServerMetrics" => {
            g.server_metrics = flag(args)?;
        }
        "WSGITelemetryService" => {
            let t = TelemetryService::parse(args)?;
            g.note(format!(
                "WSGITelemetryService unix:{}: interval, slow-request and process start/stop datagrams are sent as mod_wsgi 6.1 sends them; its garbage-collector datagrams (gc_snapshot, gc_event) are not",
                t.socket
            ));
            g.telemetry = Some(t);
        }
        "WSGISlowRequests" => {
            g.slow_requests = Some(slow_requests(&one_word(args)?)?);
        }
        "WSGITelemetryOptions" => g.telemetry_options = g.telemetry_options.apply(args)?,
        _ => return Err("unknown directive".into()),
    }
    Ok(())
}
