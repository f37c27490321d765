//! The environ's keys as interned `str`s, kept per interpreter. A request's
//! environ has some 50 keys, nearly always the same ones in the same order
//! as the previous request's; making, hashing and freeing a new `str` for
//! each was about a quarter of building the environ (callgrind, hello
//! world). Interned keys also let the application's `environ['PATH_INFO']`
//! match by identity.

use crate::object::{PyObj, PyResult};
use pyo3_ffi as py;
use std::collections::HashMap;
use std::ffi::c_char;
use std::sync::Mutex;

/// Header names come from clients: the cache stops growing here.
const MAX_KEYS: usize = 512;

/// Strong references to interned key strings, owned by the interpreter
/// they were made in and used only with its GIL held. They are never
/// released: they live as long as the interpreter, whose teardown frees
/// them with everything else.
struct Cache {
    /// The keys of the latest environ, by position.
    recent: Vec<(Box<[u8]>, *mut py::PyObject)>,
    by_name: HashMap<Box<[u8]>, *mut py::PyObject>,
}

pub struct EnvironKeys(Mutex<Cache>);

impl EnvironKeys {
    pub fn new() -> EnvironKeys {
        EnvironKeys(Mutex::new(Cache {
            recent: Vec::new(),
            by_name: HashMap::new(),
        }))
    }

    /// The keys called `names`, in order (GIL held, or attached on a
    /// free-threaded build). No Python code runs while the cache is
    /// locked: keys not cached yet are made between two short locks. So a
    /// thread waiting here never holds up another that needs Python: with
    /// the GIL, the holder cannot pass it on and then wait; without it, a
    /// waiter attached to Python cannot stall a stop-the-world pause that
    /// the holder's allocation started.
    pub fn keys(&self, names: &[&[u8]]) -> PyResult<Vec<PyObj>> {
        let mut found: Vec<Option<PyObj>> = {
            let mut c = self.0.lock().unwrap_or_else(|e| e.into_inner());
            names
                .iter()
                .enumerate()
                .map(|(at, name)| c.find(at, name))
                .collect()
        };
        if found.iter().any(Option::is_none) {
            let mut made = Vec::new();
            for (at, slot) in found.iter_mut().enumerate() {
                if slot.is_none() {
                    let key = new_interned(names[at])?;
                    made.push((at, key.as_ptr()));
                    *slot = Some(key);
                }
            }
            let mut c = self.0.lock().unwrap_or_else(|e| e.into_inner());
            for (at, key) in made {
                c.remember(at, names[at], key);
            }
        }
        Ok(found.into_iter().flatten().collect())
    }
}

impl Default for EnvironKeys {
    fn default() -> Self {
        EnvironKeys::new()
    }
}

impl Cache {
    /// The cached key `name`, the environ's `at`-th, if there is one.
    fn find(&mut self, at: usize, name: &[u8]) -> Option<PyObj> {
        if let Some((n, p)) = self.recent.get(at) {
            if **n == *name {
                return PyObj::borrowed(*p).ok();
            }
        }
        let p = *self.by_name.get(name)?;
        self.note_recent(at, name, p);
        PyObj::borrowed(p).ok()
    }

    /// Keeps `key` (made by the caller, who holds a reference to it) as
    /// the key `name`, unless another thread kept one first or the cache
    /// is full.
    fn remember(&mut self, at: usize, name: &[u8], key: *mut py::PyObject) {
        let p = match self.by_name.get(name) {
            Some(p) => *p,
            None if self.by_name.len() >= MAX_KEYS => return,
            None => {
                // SAFETY: `key` is a live str the caller holds; the cache
                // takes a reference of its own, never released (above).
                unsafe { py::Py_INCREF(key) };
                self.by_name.insert(name.into(), key);
                key
            }
        };
        self.note_recent(at, name, p);
    }

    fn note_recent(&mut self, at: usize, name: &[u8], p: *mut py::PyObject) {
        if at < self.recent.len() {
            self.recent[at] = (name.into(), p);
        } else if at == self.recent.len() && at < MAX_KEYS {
            self.recent.push((name.into(), p));
        }
    }
}

/// A new interned `str` of latin-1 `name` (as PEP 3333 makes keys).
fn new_interned(name: &[u8]) -> PyResult<PyObj> {
    // SAFETY: GIL held; every byte is valid latin-1, and the pointer and
    // length describe `name`.
    let s = PyObj::owned(unsafe {
        py::PyUnicode_DecodeLatin1(
            name.as_ptr().cast::<c_char>(),
            name.len() as isize,
            std::ptr::null(),
        )
    })?;
    let mut p = s.into_ptr();
    // SAFETY: GIL held; `p` is our strong reference to an exact str, which
    // InternInPlace may swap for the interned one (moving the reference).
    unsafe { py::PyUnicode_InternInPlace(&mut p) };
    PyObj::owned(p)
}
