//! `<WSGIInterpreterOptions [process-group=] [application-group=]>`: options
//! for the interpreters the selectors match, and the checks that the GIL
//! modes (`WSGIPerInterpreterGIL`, `WSGIFreeThreading`) fit the Python this
//! module runs. The grammar is complete and validated here; which of the
//! settings take effect, and how, is logged at start-up (`notes`).

#![forbid(unsafe_code)]

use super::{flag, one_word, with_global};
use crate::apache::cmd::Cmd;
use wsgi_core::server_options::{
    switch_interval, InterpreterSelector, INTERPRETER_OPTION_DIRECTIVES,
};

/// One container and what it sets (None: not set there).
#[derive(Clone, Debug, Default)]
pub struct InterpreterOptions {
    pub selector: InterpreterSelector,
    pub per_interpreter_gil: Option<bool>,
    pub free_threading: Option<bool>,
    pub switch_interval: Option<f64>,
    pub python_path: Vec<String>,
    pub restrict_stdin: Option<bool>,
    pub restrict_stdout: Option<bool>,
    pub restrict_signal: Option<bool>,
    /// Where the container starts, for messages.
    pub at: String,
}

/// The container itself, or a directive inside one (None: neither).
pub(super) fn apply(cmd: &mut Cmd<'_>, name: &str, args: &str) -> Option<Result<(), String>> {
    if name == "<WSGIInterpreterOptions" {
        return Some(container(cmd, args));
    }
    let index = with_global(|g| g.in_container)?;
    if !INTERPRETER_OPTION_DIRECTIVES.contains(&name) {
        return Some(Err(format!(
            "not allowed inside <WSGIInterpreterOptions> (allowed there: {})",
            INTERPRETER_OPTION_DIRECTIVES.join(", ")
        )));
    }
    Some(with_global(|g| {
        let at = g.interpreter_options[index].at.clone();
        let mode = match name {
            "WSGIFreeThreading" | "WSGIPerInterpreterGIL" => {
                let (on, note) = gil_mode(name, flag(args)?);
                if let Some(note) = note {
                    g.note(note);
                }
                Some(on)
            }
            _ => None,
        };
        let (gil, free) = (mode, mode);
        let c = &mut g.interpreter_options[index];
        match name {
            "WSGIPerInterpreterGIL" => c.per_interpreter_gil = gil,
            "WSGIFreeThreading" => {
                if c.selector.application_group.is_some() {
                    let text = format!("WSGIFreeThreading inside the <WSGIInterpreterOptions> at {at}: ignored, since free-threading is set per process and this container selects an application group");
                    g.note(text);
                    return Ok(());
                }
                c.free_threading = free;
            }
            "WSGISwitchInterval" => c.switch_interval = Some(switch_interval(&one_word(args)?)?),
            "WSGIPythonPath" => c
                .python_path
                .extend(wsgi_core::daemon::split_path_list(&one_word(args)?)),
            "WSGIRestrictStdin" => c.restrict_stdin = Some(flag(args)?),
            "WSGIRestrictStdout" => c.restrict_stdout = Some(flag(args)?),
            "WSGIRestrictSignal" => c.restrict_signal = Some(flag(args)?),
            _ => return Err("unknown directive".into()),
        }
        Ok(())
    }))
}

/// Reads one container: its selectors, then the directives inside it.
fn container(cmd: &mut Cmd<'_>, args: &str) -> Result<(), String> {
    cmd.require_global()?;
    if with_global(|g| g.in_container.is_some()) {
        return Err("<WSGIInterpreterOptions> sections cannot be nested".into());
    }
    let selector = InterpreterSelector::parse(args)?;
    let (file, line) = cmd.location();
    let at = format!("{file}:{line}");
    let index = with_global(|g| {
        g.interpreter_options.push(InterpreterOptions {
            selector,
            at: at.clone(),
            ..Default::default()
        });
        g.in_container = Some(g.interpreter_options.len() - 1);
        g.interpreter_options.len() - 1
    });
    let walked = cmd.walk_children();
    with_global(|g| {
        g.in_container = None;
        if walked.is_ok() {
            let c = g.interpreter_options[index].clone();
            let text = format!("<WSGIInterpreterOptions> at {at}: read and checked; of its settings WSGIPerInterpreterGIL, WSGIPythonPath and WSGIRestrictStdin/Stdout/Signal take effect here (for a literal application-group= or none), WSGIFreeThreading for its process-group= (or every process); WSGISwitchInterval keeps its server-wide value, as under mod_wsgi 6.1.1");
            let pattern = matches!(
                c.selector.application_group,
                Some(
                    wsgi_core::directives::ApplicationGroup::Resource
                        | wsgi_core::directives::ApplicationGroup::Server
                        | wsgi_core::directives::ApplicationGroup::Env(_)
                )
            );
            let scoped = c.per_interpreter_gil.is_some()
                || !c.python_path.is_empty()
                || c.restrict_stdin.is_some()
                || c.restrict_stdout.is_some()
                || c.restrict_signal.is_some();
            if scoped && pattern {
                g.note(format!("the <WSGIInterpreterOptions> at {at}: not in effect, since its application-group= is a pattern; name the group (or leave application-group= out)"));
            }
            if c.switch_interval.is_some() {
                g.note(text);
            }
        }
    });
    walked
}

/// What `WSGIPerInterpreterGIL` or `WSGIFreeThreading` set to `on` means
/// with the Python this module runs: the value in effect, and the note
/// logged at start-up. As under mod_wsgi 6.1.1, On where the Python cannot
/// do it (no per-interpreter GIL before 3.12; a GIL build for free
/// threading) is accepted and not in effect, so a 6.1 configuration starts
/// unchanged; the note names the Python.
pub(super) fn gil_mode(name: &str, on: bool) -> (bool, Option<String>) {
    if !on {
        return (false, None);
    }
    let py = pyhost::runtime::linked_python();
    match name {
        "WSGIPerInterpreterGIL" if (py.major, py.minor) < (3, 12) => (false, Some(format!(
            "WSGIPerInterpreterGIL On: not in effect: it needs Python 3.12 or newer (PEP 684) and this module runs Python {} ({}); sub-interpreters share the GIL, as under mod_wsgi 6.1.1",
            py.version, py.library
        ))),
        "WSGIFreeThreading" if !py.free_threaded => (false, Some(format!(
            "WSGIFreeThreading On: not in effect: it needs a free-threaded build of Python 3.13 or newer (PEP 703, python3.13t) and this module runs Python {} ({}), which has the GIL; as under mod_wsgi 6.1.1",
            py.version, py.library
        ))),
        _ => (true, None),
    }
}
