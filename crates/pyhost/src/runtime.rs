//! Python in one process: initialisation, the registry of interpreters (one
//! per application group), and one cached thread state per (OS thread,
//! interpreter).
//!
//! Why raw FFI: pyo3's GIL entry knows only the main interpreter, so every
//! call into a sub-interpreter must switch to that thread's own state for it
//! (docs/architecture.md, "Interpreters and threads"). The rule that keeps this deadlock-free: the registry lock
//! is never taken while the GIL is held, except while creating an
//! interpreter, when the lock is taken first.

use super::object::{self, PyErrSet, PyObj, PyResult};
use pyo3_ffi as py;
use std::cell::RefCell;
use std::collections::HashMap;
use std::ffi::CString;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

/// What the host keeps of one interpreter: its state and the bootstrap
/// objects it calls per request (strong references, kept for its lifetime).
pub struct Interpreter {
    pub name: String,
    pub(crate) state: *mut py::PyInterpreterState,
    pub run: *mut py::PyObject,
    pub input_type: *mut py::PyObject,
    pub log_type: *mut py::PyObject,
    pub file_wrapper: *mut py::PyObject,
    pub format_exception: *mut py::PyObject,
    /// The environ's keys, interned (its own lock; used with the GIL held).
    pub(crate) environ_keys: crate::environ_keys::EnvironKeys,
}

// SAFETY: the pointers are only dereferenced with this interpreter's GIL
// held, through `with_interpreter`; the record itself is immutable apart
// from `environ_keys`, which is behind its own lock.
unsafe impl Send for Interpreter {}
// SAFETY: see above.
unsafe impl Sync for Interpreter {}

/// Facts every interpreter's `mod_wsgi` module reports.
#[derive(Clone)]
pub struct ProcessInfo {
    pub process_group: String,
    pub maximum_processes: i64,
    pub threads_per_process: i64,
    pub settings: PythonSettings,
    /// What the `apache` module reports.
    pub apache: ApacheFacts,
}

/// The Apache server this process belongs to, as mod_wsgi's `apache`
/// module reports it.
#[derive(Clone, Debug, Default)]
pub struct ApacheFacts {
    pub version: (i64, i64, i64),
    pub mpm_name: String,
    pub maximum_processes: i64,
    pub threads_per_process: i64,
    pub description: String,
    pub build_date: String,
    /// An Apache child (embedded mode), not a daemon: an importable
    /// `apache` package on sys.path is extended rather than replaced.
    pub embedded: bool,
}

/// How Python is set up in this process (the `WSGIPython*` directives,
/// and a daemon group's own `python-path=` / `python-home=`).
#[derive(Clone, Default)]
pub struct PythonSettings {
    pub python_home: Option<String>,
    pub python_path: Vec<String>,
    pub python_optimize: u8,
    pub python_hash_seed: Option<String>,
    pub python_warnings: Vec<String>,
    pub dont_write_bytecode: bool,
    pub restrict_stdin: bool,
    pub restrict_stdout: bool,
    pub restrict_signal: bool,
    /// `WSGIPythonEggs` / `python-eggs=`: PYTHON_EGG_CACHE.
    pub python_eggs: Option<String>,
    /// `WSGISwitchInterval` / `switch-interval=`: sys.setswitchinterval().
    pub switch_interval: Option<f64>,
    /// A daemon's `home=`: first on sys.path, as mod_wsgi puts it.
    pub path_first: Option<String>,
    /// A daemon's user's home directory: os.environ['HOME'] (Apache's
    /// children keep the HOME they inherited, as with mod_wsgi).
    pub home_env: Option<String>,
    /// `WSGIFreeThreading` for this process: start without the GIL
    /// (free-threaded builds only; see `gil_mode`).
    pub free_threading: bool,
    /// Which sub-interpreters get their own GIL (Python 3.12+).
    pub own_gil: wsgi_core::server_options::OwnGil,
    /// `WSGIPythonPath` in `<WSGIInterpreterOptions>`, per interpreter.
    pub container_paths: wsgi_core::server_options::ContainerPaths,
    /// `WSGIRestrict*` in `<WSGIInterpreterOptions>`, per interpreter.
    pub container_restrictions: wsgi_core::server_options::ContainerRestrictions,
}

/// The Python this module is linked with, as Python itself reports it
/// (readable before Python starts).
pub struct LinkedPython {
    /// "3.11.2"
    pub version: String,
    pub major: u32,
    pub minor: u32,
    /// A PEP 703 build (no GIL).
    pub free_threaded: bool,
    /// The shared library, e.g. "libpython3.11".
    pub library: String,
}

pub fn linked_python() -> LinkedPython {
    // SAFETY: Py_GetVersion returns a static string and may be called
    // before Python is initialised.
    let full = unsafe { std::ffi::CStr::from_ptr(py::Py_GetVersion()) }
        .to_string_lossy()
        .into_owned();
    let version = full.split_whitespace().next().unwrap_or("").to_string();
    let mut parts = version.split('.').map(|p| {
        p.chars()
            .take_while(char::is_ascii_digit)
            .collect::<String>()
            .parse::<u32>()
            .unwrap_or(0)
    });
    let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    LinkedPython {
        free_threaded: full.contains("free-threading"),
        library: format!("libpython{major}.{minor}"),
        version,
        major,
        minor,
    }
}

static PROCESS: OnceLock<ProcessInfo> = OnceLock::new();
static REGISTRY: Mutex<Option<HashMap<String, &'static Interpreter>>> = Mutex::new(None);

thread_local! {
    /// The interpreter this thread used last: most threads serve one
    /// application, so this spares the registry lock on every request.
    static LAST_USED: std::cell::Cell<Option<&'static Interpreter>> = const { std::cell::Cell::new(None) };
    /// How long this thread's last `with_interpreter` waited for the GIL.
    static LAST_WAIT: std::cell::Cell<Duration> = const { std::cell::Cell::new(Duration::ZERO) };
    /// This OS thread's state in each interpreter it has entered.
    static THREAD_STATES: ThreadStates = const { ThreadStates(RefCell::new(Vec::new())) };
}

/// A thread's states; when the thread exits they are marked, so that the
/// stop can drop them (see `drop_states_of_exited_threads`).
struct ThreadStates(RefCell<Vec<&'static OwnState>>);

impl Drop for ThreadStates {
    fn drop(&mut self) {
        for own in self.0.borrow().iter() {
            own.exited.store(true, Ordering::SeqCst);
        }
    }
}

/// A thread state this module made, and whether its thread is inside
/// Python with it right now: the teardown deletes only idle ones.
pub struct OwnState {
    pub interp: *mut py::PyInterpreterState,
    pub tstate: *mut py::PyThreadState,
    pub busy: AtomicBool,
    /// Its OS thread has exited (an Apache worker thread the MPM joined).
    pub exited: AtomicBool,
}

// SAFETY: the pointers are used by their own thread, or by the teardown
// once TEARING_DOWN keeps every other thread out of Python.
unsafe impl Send for OwnState {}
// SAFETY: see above; `busy` is atomic.
unsafe impl Sync for OwnState {}

/// Every OwnState of the process (never freed: a handful per thread).
static OWN_STATES: Mutex<Vec<&'static OwnState>> = Mutex::new(Vec::new());
/// Set when interpreters are being destroyed: no thread enters Python again.
static TEARING_DOWN: AtomicBool = AtomicBool::new(false);

fn remember_state(
    interp: *mut py::PyInterpreterState,
    tstate: *mut py::PyThreadState,
) -> &'static OwnState {
    let own: &'static OwnState = Box::leak(Box::new(OwnState {
        interp,
        tstate,
        busy: AtomicBool::new(false),
        exited: AtomicBool::new(false),
    }));
    OWN_STATES
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(own);
    THREAD_STATES.with(|t| t.0.borrow_mut().push(own));
    own
}

/// Deletes the states, in `interp`, of threads that have exited. Python
/// still lists them, and from 3.14 faulthandler asks the system for each
/// listed thread's name: a thread that is gone crashes that dump (the
/// stop's watchdog arms one). The caller holds `interp`'s GIL through a
/// state of its own.
pub fn drop_states_of_exited_threads(interp: *mut py::PyInterpreterState) {
    let gone: Vec<*mut py::PyThreadState> = own_states_in(interp)
        .into_iter()
        .filter(|o| o.exited.load(Ordering::SeqCst) && !o.busy.load(Ordering::SeqCst))
        .map(|o| o.tstate)
        .collect();
    for t in gone {
        // SAFETY: `t` is one of ours, in the interpreter whose GIL the
        // caller holds, and its thread has exited, so it is current
        // nowhere; Clear needs the GIL, Delete a cleared state.
        unsafe {
            py::PyThreadState_Clear(t);
            py::PyThreadState_Delete(t);
        }
        forget_state(t);
    }
}

/// How long the current `with_interpreter` waited for the GIL.
pub fn last_gil_wait() -> Duration {
    LAST_WAIT.with(|w| w.get())
}

/// Keeps every thread but the caller out of Python from now on, for the
/// teardown (see teardown.rs).
pub fn begin_teardown() {
    TEARING_DOWN.store(true, Ordering::SeqCst);
}

/// The thread states this module made in `interp`.
pub fn own_states_in(interp: *mut py::PyInterpreterState) -> Vec<&'static OwnState> {
    OWN_STATES
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .copied()
        .filter(|o| o.interp == interp)
        .collect()
}

/// Forgets a thread state the teardown deleted.
pub fn forget_state(tstate: *mut py::PyThreadState) {
    OWN_STATES
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .retain(|o| o.tstate != tstate);
}

/// The calling thread's state in the named interpreter (made if needed),
/// and the interpreter, for the teardown.
pub fn own_state_for(name: &str) -> Option<(&'static Interpreter, &'static OwnState)> {
    let interp = registry().get_interp(name)?;
    Some((interp, thread_state_for(interp.state)))
}

/// Drops a destroyed interpreter from the registry.
pub fn forget_interpreter(name: &str) {
    if let Some(m) = registry().as_mut() {
        m.remove(name);
    }
    LAST_USED.with(|l| l.set(None));
}

impl Interpreter {
    pub fn state(&self) -> *mut py::PyInterpreterState {
        self.state
    }
}

/// The process facts, once Python is running in this process.
pub fn process_info() -> Option<&'static ProcessInfo> {
    PROCESS.get()
}

fn info_ref() -> &'static ProcessInfo {
    PROCESS.get().expect("initialised")
}

/// Loads a script into an interpreter ahead of requests (WSGIImportScript).
pub fn preload_script(group: &str, path: &str) -> Result<(), String> {
    with_interpreter(group, |interp| {
        let module = adapter_function(c"_load_script")
            .and_then(|load| load.call(&[&object::str_utf8(path)?, &object::boolean(true)]));
        module.map(drop).map_err(|_| describe_error(Some(interp)))
    })?
}

/// A function of the current interpreter's adapter module (GIL held).
pub(crate) fn adapter_function(name: &std::ffi::CStr) -> PyResult<PyObj> {
    object::sys_module(super::modules::ADAPTER.module).and_then(|m| m.getattr(name))
}

/// Initialises Python on the calling (main) thread of a process that will
/// run applications, and sets up the main interpreter. Leaves the GIL
/// released. Errors are described for the error log.
pub fn initialize(info: ProcessInfo) -> Result<(), String> {
    if PROCESS.get().is_some() {
        return Ok(());
    }
    configure_and_start(&info.settings)?;
    super::gil_mode::note_started(info.settings.free_threading);
    super::metrics::note_process_start();
    let _ = PROCESS.set(info);
    // SAFETY: Py_InitializeFromConfig left this thread holding the GIL with
    // the main interpreter's first thread state current.
    let tstate = unsafe { py::PyThreadState_Get() };
    // SAFETY: as above.
    let interp = unsafe { py::PyThreadState_GetInterpreter(tstate) };
    // Import threading on the process's main thread, so threading.main_thread()
    // is this thread and not whichever worker happens to import it first.
    let result = import_threading().and_then(|_| super::modules::bootstrap("", info_ref()));
    let main = match result {
        Ok(main) => main,
        Err(PyErrSet) => {
            let msg = describe_error(None);
            // SAFETY: GIL held; give it back before reporting.
            unsafe { py::PyEval_SaveThread() };
            return Err(format!("setting up the main interpreter failed: {}", msg));
        }
    };
    remember_state(interp, tstate);
    let main: &'static Interpreter = Box::leak(Box::new(Interpreter {
        state: interp,
        ..main
    }));
    registry().insert(String::new(), main);
    // SAFETY: GIL held by this thread; release it for the worker threads.
    unsafe { py::PyEval_SaveThread() };
    Ok(())
}

fn registry() -> std::sync::MutexGuard<'static, Option<HashMap<String, &'static Interpreter>>> {
    let mut g = REGISTRY.lock().unwrap_or_else(|e| e.into_inner());
    g.get_or_insert_with(HashMap::new);
    g
}

trait RegistryExt {
    fn insert(&mut self, name: String, interp: &'static Interpreter);
    fn get_interp(&self, name: &str) -> Option<&'static Interpreter>;
}

impl RegistryExt for std::sync::MutexGuard<'static, Option<HashMap<String, &'static Interpreter>>> {
    fn insert(&mut self, name: String, interp: &'static Interpreter) {
        self.as_mut()
            .expect("registry initialised")
            .insert(name, interp);
    }
    fn get_interp(&self, name: &str) -> Option<&'static Interpreter> {
        self.as_ref().and_then(|m| m.get(name).copied())
    }
}

fn configure_and_start(settings: &PythonSettings) -> Result<(), String> {
    // SAFETY: PyConfig is plain data that PyConfig_InitPythonConfig fills
    // in; the strings we set are copied by Python; PyConfig_Clear frees them.
    unsafe {
        let mut config: py::PyConfig = std::mem::zeroed();
        py::PyConfig_InitPythonConfig(&mut config);
        config.install_signal_handlers = 0;
        super::gil_mode::configure(&mut config, settings.free_threading);
        config.parse_argv = 0;
        config.optimization_level = settings.python_optimize as i32;
        config.write_bytecode = i32::from(!settings.dont_write_bytecode);
        if let Some(seed) = &settings.python_hash_seed {
            if let Ok(n) = seed.parse::<u64>() {
                config.use_hash_seed = 1;
                config.hash_seed = n as _;
            }
        }
        let mut status_err = None;
        if let Some(home) = &settings.python_home {
            // A venv (pyvenv.cfg) is entered through its interpreter, which lets
            // Python find the base install's stdlib; a plain prefix is the home.
            let venv = std::path::Path::new(home).join("pyvenv.cfg").exists();
            let (field, value) = if venv {
                (
                    &raw mut config.executable,
                    format!("{}/bin/python3", home.trim_end_matches('/')),
                )
            } else {
                (&raw mut config.home, home.clone())
            };
            let c = CString::new(value).map_err(|_| "NUL in WSGIPythonHome".to_string())?;
            let st = py::PyConfig_SetBytesString(&mut config, field, c.as_ptr());
            if py::PyStatus_Exception(st) != 0 {
                status_err = Some(status_text(&st));
            }
        }
        for w in &settings.python_warnings {
            let c =
                CString::new(w.as_str()).map_err(|_| "NUL in WSGIPythonWarnings".to_string())?;
            let wide = py::Py_DecodeLocale(c.as_ptr(), std::ptr::null_mut());
            if !wide.is_null() {
                py::PyWideStringList_Append(&mut config.warnoptions, wide);
                py::PyMem_RawFree(wide.cast());
            }
        }
        if let Some(e) = status_err {
            py::PyConfig_Clear(&mut config);
            return Err(e);
        }
        let st = py::Py_InitializeFromConfig(&config);
        py::PyConfig_Clear(&mut config);
        if py::PyStatus_Exception(st) != 0 {
            return Err(format!(
                "Python initialisation failed: {}",
                status_text(&st)
            ));
        }
    }
    Ok(())
}

fn status_text(st: &py::PyStatus) -> String {
    let part = |p: *const std::ffi::c_char| {
        if p.is_null() {
            return String::new();
        }
        // SAFETY: Python's status strings are static, NUL-terminated.
        unsafe { std::ffi::CStr::from_ptr(p) }
            .to_string_lossy()
            .into_owned()
    };
    format!("{} {}", part(st.func), part(st.err_msg))
}

fn import_threading() -> PyResult<()> {
    // SAFETY: GIL held.
    PyObj::owned(unsafe { py::PyImport_ImportModule(c"threading".as_ptr()) }).map(drop)
}

/// This thread's state for `interp`, created on first use.
fn thread_state_for(interp: *mut py::PyInterpreterState) -> &'static OwnState {
    let found = THREAD_STATES.with(|t| t.0.borrow().iter().copied().find(|o| o.interp == interp));
    if let Some(own) = found {
        return own;
    }
    // SAFETY: `interp` is a live interpreter (interpreters are destroyed
    // only by the teardown, after which no thread gets here); a new thread
    // state needs no GIL.
    let ts = unsafe { py::PyThreadState_New(interp) };
    remember_state(interp, ts)
}

/// Runs `f` inside the named interpreter (created on first use) with its
/// GIL held by this thread, then releases the GIL.
pub fn with_interpreter<T>(name: &str, f: impl FnOnce(&Interpreter) -> T) -> Result<T, String> {
    let interp = match LAST_USED.with(|l| l.get().filter(|i| i.name == name)) {
        Some(i) => i,
        None => {
            // (Bound first: a guard in the match scrutinee would live through the arms.)
            let found = registry().get_interp(name);
            let i = match found {
                Some(i) => i,
                None => create_interpreter(name)?,
            };
            LAST_USED.with(|l| l.set(Some(i)));
            i
        }
    };
    let own = thread_state_for(interp.state);
    // Busy before the check, the teardown checks in the other order: one
    // of the two sees the other (both SeqCst).
    own.busy.store(true, Ordering::SeqCst);
    if TEARING_DOWN.load(Ordering::SeqCst) {
        own.busy.store(false, Ordering::SeqCst);
        return Err("Python is being shut down in this process".into());
    }
    struct Release(&'static OwnState);
    impl Drop for Release {
        fn drop(&mut self) {
            // SAFETY: this thread holds the GIL (acquired below).
            unsafe { py::PyEval_SaveThread() };
            self.0.busy.store(false, Ordering::SeqCst);
        }
    }
    // SAFETY: the state belongs to this thread and is not current anywhere else.
    let waited = unsafe { object::acquire_counted(own.tstate) };
    LAST_WAIT.with(|w| w.set(waited));
    let _release = Release(own);
    Ok(f(interp))
}

fn create_interpreter(name: &str) -> Result<&'static Interpreter, String> {
    let mut reg = registry();
    if let Some(i) = reg.get_interp(name) {
        return Ok(i);
    }
    let main = reg
        .get_interp("")
        .ok_or("Python is not initialised in this process")?;
    let main_ts = thread_state_for(main.state).tstate;
    // SAFETY: take the GIL through this thread's main-interpreter state, then
    // Py_NewInterpreter makes a fresh interpreter with a thread state for
    // this thread and makes it current; we keep that state as this thread's.
    let own_gil =
        super::gil_mode::own_gil_in_effect(name, info_ref().settings.own_gil.for_interpreter(name));
    let result = unsafe {
        py::PyEval_RestoreThread(main_ts);
        let ts = super::new_interpreter::new_interpreter(own_gil);
        if ts.is_null() {
            py::PyEval_SaveThread();
            return Err(format!("creating the interpreter '{}' failed", name));
        }
        if own_gil {
            super::host::host().log(
                super::host::level::INFO,
                &format!("interpreter '{name}' created with its own GIL"),
            );
        }
        let state = py::PyThreadState_GetInterpreter(ts);
        let made = import_threading().and_then(|_| super::modules::bootstrap(name, info_ref()));
        let made = made.map_err(|_| describe_error(None));
        remember_state(state, ts);
        py::PyEval_SaveThread();
        made.map(|i| Interpreter { state, ..i })
    };
    let interp: &'static Interpreter =
        Box::leak(Box::new(result.map_err(|e| {
            format!("setting up the interpreter '{}' failed: {}", name, e)
        })?));
    reg.insert(name.to_string(), interp);
    Ok(interp)
}

/// Takes the current Python exception and formats it with its traceback
/// (GIL held). Uses the interpreter's formatter when there is one.
pub fn describe_error(interp: Option<&Interpreter>) -> String {
    let Some((t, v, tb)) = object::fetch_error() else {
        return "unknown error (no Python exception set)".into();
    };
    if let Some(i) = interp {
        if let Ok(f) = PyObj::borrowed(i.format_exception) {
            let tb = tb.unwrap_or_else(object::none);
            if let Ok(text) = f.call(&[&t, &v, &tb]) {
                return text.to_text();
            }
            object::clear_error();
        }
    }
    format!("{}: {}", t.to_text(), v.to_text())
}

/// The interpreters this process has, sub-interpreters first and the main
/// one (`""`) last, the order they are stopped in.
pub fn interpreter_names() -> Vec<String> {
    let reg = registry();
    let mut names: Vec<String> = reg
        .as_ref()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    names.sort_by_key(|n| (n.is_empty(), n.clone()));
    names
}

pub use super::interpreter_events::{publish_signal, stop_interpreter};

/// Raises `mod_wsgi.<exception>` in the thread `thread` of the current
/// interpreter when it next runs Python code, or (None) withdraws one that
/// is pending (GIL held, inside `with_interpreter`).
pub fn raise_in_thread(thread: u64, exception: Option<&str>) {
    let exc = match exception {
        Some(name) => {
            let Ok(cname) = CString::new(name) else {
                return;
            };
            let found = object::sys_module(c"mod_wsgi").and_then(|m| m.getattr(&cname));
            match found {
                Ok(e) => Some(e),
                Err(_) => {
                    // SAFETY: GIL held; drop the lookup's exception.
                    unsafe { py::PyErr_Clear() };
                    return;
                }
            }
        }
        None => None,
    };
    let ptr = exc.as_ref().map_or(std::ptr::null_mut(), |e| e.as_ptr());
    // SAFETY: GIL held; a null exception withdraws a pending one.
    unsafe { py::PyThreadState_SetAsyncExc(thread as _, ptr) };
}
