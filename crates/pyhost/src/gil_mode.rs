//! The GIL mode of this process. On a free-threaded build (PEP 703,
//! `Py_GIL_DISABLED`) Python starts with the GIL disabled only where
//! `WSGIFreeThreading On` applies to the process; everywhere else it is
//! enabled explicitly, whatever the imported extensions declare, as under
//! mod_wsgi 6.1.1. With an explicit setting CPython never turns the GIL on
//! again when an extension without `Py_mod_gil` is imported.
//!
//! Where the GIL is off, `WSGIPerInterpreterGIL` and the switch interval
//! have nothing to act on: each is skipped with a warning.

use pyo3_ffi as py;
use std::sync::atomic::{AtomicBool, Ordering};

/// Set once, before the first request, when Python started with the GIL
/// disabled in this process.
static GIL_DISABLED: AtomicBool = AtomicBool::new(false);

/// Sets `PyConfig.enable_gil` for `free_threading` (free-threaded builds
/// only; a build with the GIL has no such field and nothing to choose).
pub(crate) fn configure(config: &mut py::PyConfig, free_threading: bool) {
    #[cfg(Py_GIL_DISABLED)]
    {
        // _PyConfig_GIL_DISABLE (0) or _PyConfig_GIL_ENABLE (1); never the
        // default (-1), which lets an extension's import turn the GIL on.
        config.enable_gil = if free_threading { 0 } else { 1 };
    }
    #[cfg(not(Py_GIL_DISABLED))]
    let _ = (config, free_threading);
}

/// Records what Python started with (after `Py_InitializeFromConfig`,
/// GIL held): `PYTHON_GIL=1` in Apache's environment turns the GIL on
/// whatever the configuration says, so Python itself is asked.
pub(crate) fn note_started(free_threading: bool) {
    if !(cfg!(Py_GIL_DISABLED) && free_threading) {
        return;
    }
    let disabled = super::object::sys_module(c"sys")
        .and_then(|m| m.getattr(c"_is_gil_enabled"))
        .and_then(|f| f.call(&[]))
        .map(|v| v.is_false());
    match disabled {
        Ok(true) => {
            GIL_DISABLED.store(true, Ordering::SeqCst);
            super::host::log(
                super::host::level::INFO,
                "Python runs free-threaded in this process: the GIL is disabled (WSGIFreeThreading On)",
            );
        }
        _ => {
            super::object::clear_error();
            super::host::log(
                super::host::level::WARNING,
                "WSGIFreeThreading On: the GIL is enabled all the same in this process (PYTHON_GIL=1 or -X gil=1 in Apache's environment?)",
            );
        }
    }
}

/// Whether Python runs without the GIL in this process.
pub fn gil_disabled() -> bool {
    GIL_DISABLED.load(Ordering::SeqCst)
}

/// `WSGIPerInterpreterGIL` for the interpreter `name`, given the GIL
/// mode: without a GIL there is none to give it (warned once per
/// interpreter, as mod_wsgi 6.1.1 does at creation).
pub(crate) fn own_gil_in_effect(name: &str, configured: bool) -> bool {
    if configured && gil_disabled() {
        super::host::log(
            super::host::level::WARNING,
            &format!("WSGIPerInterpreterGIL On for the interpreter '{name}': not in effect, since this process runs free-threaded (WSGIFreeThreading On; there is no GIL to give it)"),
        );
        return false;
    }
    configured
}

/// The switch interval to set, given the GIL mode: none without a GIL.
pub(crate) fn switch_interval_in_effect(name: &str, configured: Option<f64>) -> Option<f64> {
    match configured {
        Some(v) if gil_disabled() => {
            super::host::log(
                super::host::level::WARNING,
                &format!("switch interval {v} for the interpreter '{name}': not set, since this process runs free-threaded (WSGIFreeThreading On; there is no GIL to switch)"),
            );
            None
        }
        other => other,
    }
}
