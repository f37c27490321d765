//! Destroying the interpreters of a stopping process (WSGIDestroyInterpreter
//! On): sub-interpreters first with `Py_EndInterpreter`, then the main one
//! with `Py_FinalizeEx`, so that atexit callbacks, module finalizers and
//! the flushing of unclosed files all happen as in any Python program.
//!
//! CPython cannot tear down an interpreter while another thread may still
//! run in it (3.11 aborts the process on "not the last thread"), so each is
//! checked first. The application's non-daemon threads get until shortly
//! before the deadline to end (teardown would wait for them without end).
//! An interpreter where a thread is still running — a daemon thread in a
//! sub-interpreter, a non-daemon thread that did not end, a request thread
//! still busy — is not torn down: its atexit callbacks run instead, and the
//! report says which threads kept it.

use super::host::{self, level};
use super::object::{self, PyObj};
use super::runtime::{self, OwnState};
use pyo3_ffi as py;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// What happened to one interpreter.
pub enum Outcome {
    /// Torn down.
    Destroyed,
    /// Not torn down (why); its atexit callbacks ran.
    Kept(String),
}

/// Tears down every interpreter of the process; `left` says how much of
/// the shutdown deadline remains. Returns (interpreter name, outcome) in
/// the order they were handled. Python cannot be entered afterwards.
pub fn destroy_all(left: &dyn Fn() -> Duration) -> Vec<(String, Outcome)> {
    runtime::begin_teardown();
    let names = runtime::interpreter_names();
    let mut out = Vec::new();
    let mut kept_sub = false;
    for name in names {
        host::host().activity(&format!("destroying interpreter '{}'", name));
        let outcome = if name.is_empty() {
            if kept_sub {
                keep_main("a sub-interpreter was not torn down".into())
            } else {
                end_main(left)
            }
        } else {
            end_sub(&name, left)
        };
        kept_sub |= !name.is_empty() && matches!(outcome, Outcome::Kept(_));
        out.push((name, outcome));
    }
    out
}

/// Time the application's non-daemon threads get to end: what is left of
/// the deadline, less a margin for the teardown itself.
fn join_budget(left: &dyn Fn() -> Duration) -> f64 {
    left()
        .saturating_sub(Duration::from_millis(500))
        .as_secs_f64()
}

/// Makes `own` current with the GIL held (the teardown's own way in:
/// with_interpreter refuses every thread now).
fn enter(own: &OwnState) {
    // SAFETY: `own` is the calling thread's state; no other thread runs
    // Python now (TEARING_DOWN), so it may take the GIL with it.
    unsafe { py::PyEval_RestoreThread(own.tstate) };
}

fn leave() {
    // SAFETY: the calling thread holds the GIL (after `enter`).
    unsafe { py::PyEval_SaveThread() };
}

/// Calls `mod_wsgi.<name>(args)` in the current interpreter (GIL held).
fn call_mod_wsgi(name: &std::ffi::CStr, args: &[&PyObj]) -> Result<PyObj, String> {
    object::sys_module(c"mod_wsgi")
        .and_then(|m| m.getattr(name))
        .and_then(|f| f.call(args))
        .map_err(|_| runtime::describe_error(None))
}

/// Waits for the non-daemon threads; the names of the threads still
/// running, as a reason to keep the interpreter (None: none left).
fn threads_left(left: &dyn Fn() -> Duration) -> Option<String> {
    let budget = object::float(join_budget(left)).ok()?;
    let names = call_mod_wsgi(c"_join_threads", &[&budget]).ok()?;
    let names = object::str_list(&names);
    (!names.is_empty()).then(|| format!("threads still running: {}", names.join(", ")))
}

/// Runs atexit, leaves the interpreter as it is and gives the GIL back
/// (entered by the caller).
fn keep(why: String) -> Outcome {
    if let Err(e) = call_mod_wsgi(c"_run_atexit", &[]) {
        host::log(level::ERR, &format!("atexit callbacks: {}", e));
    }
    leave();
    Outcome::Kept(why)
}

fn keep_main(why: String) -> Outcome {
    let Some((_, own)) = runtime::own_state_for("") else {
        return Outcome::Kept(why);
    };
    enter(own);
    keep(why)
}

/// In the entered interpreter: what keeps it from being torn down — the
/// application's threads that did not end (after waiting for the
/// non-daemon ones), or other threads still in it, as `count` says (after
/// `settle`) — or Ok with what `count` found.
fn blocker<T>(
    own: &OwnState,
    left: &dyn Fn() -> Duration,
    count: impl Fn() -> (T, usize),
    busy_means: &str,
) -> Result<T, String> {
    if let Some(why) = threads_left(left) {
        return Err(why);
    }
    match settle(own, count) {
        (found, 0) => Ok(found),
        (_, busy) => Err(format!("{} {}", busy, busy_means)),
    }
}

/// The thread states in `interp` other than `mine`: ours that are idle
/// (safe to delete), and how many others there are (another thread that
/// is, or may be, running in it).
fn other_states(
    interp: *mut py::PyInterpreterState,
    mine: *mut py::PyThreadState,
) -> (Vec<*mut py::PyThreadState>, usize) {
    let ours = runtime::own_states_in(interp);
    let mut idle = Vec::new();
    let mut busy = 0;
    let is_ours = |t: *mut py::PyThreadState| ours.iter().find(|o| o.tstate == t);
    // SAFETY: GIL held (by the caller), or this thread attached on a
    // free-threaded build; see `walk_states` for what is dereferenced.
    unsafe {
        walk_states(
            interp,
            |t| t == mine || is_ours(t).is_some(),
            |t| {
                if t == mine {
                    return;
                }
                match is_ours(t) {
                    Some(o) if !o.busy.load(Ordering::SeqCst) => idle.push(t),
                    _ => busy += 1,
                }
            },
        )
    };
    (idle, busy)
}

/// Visits the interpreter's thread states. With the GIL, the list only
/// changes under it, so every state is visited. Without a GIL (PEP 703)
/// another thread may unlink and free its own state while we walk, so
/// only states that `known` says are alive (ours: no thread of ours
/// enters Python during the teardown) are followed; the first other one
/// is visited as a pointer, never read, and ends the walk — it counts as
/// "another thread still in it", which keeps the interpreter.
///
/// # Safety
/// The caller holds the GIL (or is attached, free-threaded).
unsafe fn walk_states(
    interp: *mut py::PyInterpreterState,
    known: impl Fn(*mut py::PyThreadState) -> bool,
    mut visit: impl FnMut(*mut py::PyThreadState),
) {
    let whole_list = !super::gil_mode::gil_disabled();
    // SAFETY: the caller's promise; `interp` is live.
    let mut t = unsafe { py::PyInterpreterState_ThreadHead(interp) };
    while !t.is_null() {
        visit(t);
        if !whole_list && !known(t) {
            return;
        }
        // SAFETY: `t` is alive: with the GIL, as the list is; without, it
        // is one of ours.
        t = unsafe { py::PyThreadState_Next(t) };
    }
}

/// Counts the busy thread states with `count` (GIL held); while some are
/// busy, gives the GIL up for a moment, up to 200 ms in all: a thread that
/// was already waiting for the GIL when the teardown began (the daemon's
/// GIL heartbeat, say) gets it, sees the teardown and leaves. A request
/// still running stays busy and keeps its interpreter.
fn settle<T>(own: &OwnState, count: impl Fn() -> (T, usize)) -> (T, usize) {
    let mut result = count();
    for _ in 0..20 {
        if result.1 == 0 {
            break;
        }
        leave();
        std::thread::sleep(Duration::from_millis(10));
        enter(own);
        result = count();
    }
    result
}

/// Deletes idle thread states we made (their threads will never enter
/// Python again: TEARING_DOWN). GIL held through another state.
fn delete_states(states: &[*mut py::PyThreadState]) {
    for &t in states {
        // SAFETY: `t` is one of ours, not current in any thread; Clear needs
        // the GIL (held), Delete a cleared state.
        unsafe {
            py::PyThreadState_Clear(t);
            py::PyThreadState_Delete(t);
        }
        runtime::forget_state(t);
    }
}

fn end_sub(name: &str, left: &dyn Fn() -> Duration) -> Outcome {
    let Some((interp, own)) = runtime::own_state_for(name) else {
        return Outcome::Kept("not found".into());
    };
    let Some((_, main_own)) = runtime::own_state_for("") else {
        return Outcome::Kept("no main interpreter".into());
    };
    enter(own);
    let counted = || other_states(interp.state(), own.tstate);
    let idle = match blocker(own, left, counted, "other thread(s) still in it") {
        Ok(idle) => idle,
        Err(why) => return keep(why),
    };
    delete_states(&idle);
    // SAFETY: `own` is current and the interpreter's only thread state,
    // with no Python frame. Py_EndInterpreter leaves the GIL held and no
    // state current; this thread's main-interpreter state is made current
    // again so the GIL is released the normal way.
    unsafe {
        py::Py_EndInterpreter(own.tstate);
        py::PyThreadState_Swap(main_own.tstate);
    }
    runtime::forget_state(own.tstate);
    runtime::forget_interpreter(name);
    leave();
    Outcome::Destroyed
}

fn end_main(left: &dyn Fn() -> Duration) -> Outcome {
    let Some((interp, own)) = runtime::own_state_for("") else {
        return Outcome::Kept("not found".into());
    };
    enter(own);
    // Daemon threads the application started are stopped by Python itself;
    // a request thread of ours still inside Python is not.
    let counted = || {
        let busy = runtime::own_states_in(interp.state())
            .iter()
            .filter(|o| o.tstate != own.tstate && o.busy.load(Ordering::SeqCst))
            .count();
        ((), busy)
    };
    if let Err(why) = blocker(own, left, counted, "request thread(s) still running") {
        return keep(why);
    }
    if let Err(e) = call_mod_wsgi(c"_prepare_finalize", &[]) {
        host::log(
            level::WARNING,
            &format!("before destroying the main interpreter: {}", e),
        );
    }
    // SAFETY: the main interpreter's state of this thread is current, GIL
    // held; nothing enters Python after this (TEARING_DOWN).
    if unsafe { py::Py_FinalizeEx() } != 0 {
        host::log(
            level::WARNING,
            "destroying the main interpreter: buffered data could not be flushed",
        );
    }
    runtime::forget_interpreter("");
    Outcome::Destroyed
}
