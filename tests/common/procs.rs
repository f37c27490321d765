//! What the tests read about processes and sockets from /proc.

use std::fs;

/// Pids of processes whose command line contains `needle` and whose parent is `ppid`.
pub fn children_named(ppid: u32, needle: &str) -> Vec<u32> {
    let mut out = Vec::new();
    for e in fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let parent = stat
            .rsplit_once(')')
            .and_then(|(_, r)| r.split_whitespace().nth(1)?.parse::<u32>().ok());
        let cmd = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        if parent == Some(ppid) && String::from_utf8_lossy(&cmd).contains(needle) {
            out.push(pid);
        }
    }
    out.sort();
    out
}

/// Whether a process exists (and is not a zombie).
pub fn alive(pid: u32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            stat.rsplit_once(')')
                .and_then(|(_, r)| r.split_whitespace().next())
                != Some("Z")
        }
        Err(_) => false,
    }
}

/// The inode of the socket listening on 127.0.0.1:`port` (/proc/net/tcp).
pub fn listener_inode(port: u16) -> Option<String> {
    let want = format!("0100007F:{port:04X}");
    fs::read_to_string("/proc/net/tcp")
        .ok()?
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|f| f.len() > 9 && f[1] == want && f[3] == "0A")
        .map(|f| f[9].to_string())
}

/// Whether process `pid` has the socket `inode` open.
pub fn holds_socket(pid: u32, inode: &str) -> bool {
    let link = format!("socket:[{inode}]");
    fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| {
            d.flatten()
                .any(|e| fs::read_link(e.path()).is_ok_and(|t| t.to_string_lossy() == link))
        })
        .unwrap_or(false)
}
