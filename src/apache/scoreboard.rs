//! Apache's scoreboard, read for `mod_wsgi.server_metrics()`: the shared
//! memory the parent keeps for the life of the server, read (never
//! written) by Apache children and, through fork, by daemons.

use super::ffi;
use super::strings::lossy;
use pyhost::scoreboard::{ProcessSlot, Scoreboard, WorkerSlot};

/// mod_status's letters for scoreboard.h's SERVER_* states.
const STATUS: [char; 11] = ['.', 'S', '_', 'R', 'W', 'K', 'L', 'D', 'C', 'G', 'I'];

fn seconds(apr_time: i64) -> f64 {
    apr_time as f64 / 1e6
}

/// The bytes of a fixed-size C string field, up to its NUL.
fn field(chars: &[std::ffi::c_char]) -> String {
    let bytes: Vec<u8> = chars
        .iter()
        .take_while(|c| **c != 0)
        .map(|c| *c as u8)
        .collect();
    lossy(&bytes)
}

fn worker(w: &ffi::worker_score) -> WorkerSlot {
    let client = if w.client64[0] != 0 {
        field(&w.client64)
    } else {
        field(&w.client)
    };
    WorkerSlot {
        thread_num: w.thread_num as i64,
        generation: w.generation as i64,
        status: STATUS.get(w.status as usize).copied().unwrap_or('?'),
        access_count: w.access_count as u64,
        bytes_served: w.bytes_served.max(0) as u64,
        start_time: seconds(w.start_time),
        stop_time: seconds(w.stop_time),
        last_used: seconds(w.last_used),
        client,
        request: field(&w.request),
        vhost: field(&w.vhost),
    }
}

/// A copy of the scoreboard now (None if this process has none).
pub fn snapshot() -> Option<Scoreboard> {
    // SAFETY: the scoreboard is shared memory the parent created before
    // any child or daemon existed and keeps for the server's life; its
    // records are plain C data we copy field by field. Indexes stay
    // within the limits the scoreboard itself gives.
    unsafe {
        if ffi::ap_scoreboard_image.is_null() {
            return None;
        }
        let g = ffi::ap_get_scoreboard_global();
        if g.is_null() {
            return None;
        }
        let g = &*g;
        let mut processes = Vec::with_capacity(g.server_limit.max(0) as usize);
        for i in 0..g.server_limit.max(0) {
            let p = ffi::ap_get_scoreboard_process(i);
            if p.is_null() {
                break;
            }
            let p = &*p;
            let mut workers = Vec::with_capacity(g.thread_limit.max(0) as usize);
            for j in 0..g.thread_limit.max(0) {
                let w = ffi::ap_get_scoreboard_worker_from_indexes(i, j);
                if !w.is_null() {
                    workers.push(worker(&*w));
                }
            }
            processes.push(ProcessSlot {
                pid: p.pid as i64,
                generation: p.generation as i64,
                quiescing: p.quiescing != 0,
                workers,
            });
        }
        Some(Scoreboard {
            server_limit: g.server_limit as i64,
            thread_limit: g.thread_limit as i64,
            running_generation: g.running_generation as i64,
            restart_time: seconds(g.restart_time),
            processes,
        })
    }
}

/// In a daemon right after fork: Apache's scoreboard is the parent's
/// shared memory, with every Apache worker's client address and request
/// line (query strings included) and fields the parent acts on. A daemon
/// keeps none of it writable: with `server-metrics=Off` the mapping is
/// removed (and the image forgotten, so nothing reads it), with `On` it
/// stays readable only. Err: what could not be done (the daemon stops).
pub fn restrict_in_daemon(readable: bool) -> Result<(), String> {
    // SAFETY: reading the pointer the MPM set before any fork.
    let image = unsafe { ffi::ap_scoreboard_image };
    if image.is_null() {
        return Ok(());
    }
    // SAFETY: the image is the parent's (heap) record of the shared
    // memory; `global` points into the shared mapping.
    let inside = unsafe { (*image).global } as usize;
    let (start, end) = crate::os::process::mapping_containing(inside)
        .ok_or("the scoreboard's shared memory is not in /proc/self/maps")?;
    let len = end - start;
    if readable {
        // SAFETY: the whole mapping found above; reads stay valid.
        if unsafe { libc::mprotect(start as *mut libc::c_void, len, libc::PROT_READ) } != 0 {
            return Err(format!("mprotect: {}", std::io::Error::last_os_error()));
        }
        return Ok(());
    }
    // SAFETY: nothing in a daemon refers to the image past this point but
    // through `ap_scoreboard_image`, which is cleared first (every reader
    // checks it for null); then the mapping goes.
    unsafe {
        std::ptr::addr_of_mut!(ffi::ap_scoreboard_image).write(std::ptr::null_mut());
        if libc::munmap(start as *mut libc::c_void, len) != 0 {
            return Err(format!("munmap: {}", std::io::Error::last_os_error()));
        }
    }
    Ok(())
}
