//! Gives this crate pyo3's `Py_3_X` cfgs for the Python it is built
//! against, so version-dependent CPython calls (per-interpreter GIL, 3.12+)
//! are compiled only where they exist.

fn main() {
    pyo3_build_config::print_expected_cfgs();
    pyo3_build_config::use_pyo3_cfgs();
}
