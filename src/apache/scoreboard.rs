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

/// An address inside the scoreboard's shared memory (None: this process
/// has no scoreboard).
pub fn shared_address() -> Option<usize> {
    // SAFETY: reading the pointer the MPM set before any fork; `global`
    // points into the shared mapping.
    unsafe {
        let image = ffi::ap_scoreboard_image;
        (!image.is_null()).then(|| (*image).global as usize)
    }
}

/// Forgets the scoreboard in this process (a daemon about to unmap it):
/// every reader checks the image for null.
pub fn forget() {
    // SAFETY: a daemon's own copy of the pointer; nothing holds a
    // reference derived from it at this point (right after fork).
    unsafe { std::ptr::addr_of_mut!(ffi::ap_scoreboard_image).write(std::ptr::null_mut()) };
}
