//! What the Python host tests share: Python started once on the main
//! thread, a recording `RequestIo`, and scripts written to a temp dir.

#![allow(dead_code)]

use pyhost::io::RequestIo;
use pyhost::runtime::{self, ProcessInfo, PythonSettings};
use pyhost::wsgi_call::{run_app, AppTarget, Outcome};
use std::ffi::CString;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use wsgi_core::environ::Environ;

/// Starts Python in this process (on the calling, main thread).
pub fn start_python() {
    start_python_with(PythonSettings::default());
}

/// Starts Python with `settings` (on the calling, main thread).
pub fn start_python_with(settings: PythonSettings) {
    runtime::initialize(ProcessInfo {
        process_group: String::new(),
        maximum_processes: 1,
        threads_per_process: 4,
        settings,
        apache: pyhost::runtime::ApacheFacts {
            version: (2, 4, 99),
            mpm_name: "test".into(),
            maximum_processes: 3,
            threads_per_process: 4,
            description: "Apache/2.4.99 (test)".into(),
            build_date: "today".into(),
            embedded: false,
        },
    })
    .expect("Python starts");
}

/// A directory for this run's scripts, removed by the caller's guard.
pub struct Scripts(pub PathBuf);

impl Scripts {
    pub fn new(tag: &str) -> Scripts {
        let dir = std::env::temp_dir().join(format!("pyhost-{}-{}", tag, std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        Scripts(dir)
    }

    /// Writes `source` as `<name>.wsgi` and returns its path.
    pub fn write(&self, name: &str, source: &str) -> String {
        let p = self.0.join(format!("{}.wsgi", name));
        std::fs::write(&p, source).expect("write script");
        p.to_string_lossy().into_owned()
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Scripts {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Everything the adapter did to one request, in order.
#[derive(Default, Debug)]
pub struct Record {
    pub status: Option<u16>,
    pub status_line: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub writes: usize,
    /// (offset, len) of each file handed over, with its bytes.
    pub files: Vec<(u64, u64)>,
    pub finished: Option<bool>,
    pub logs: Vec<(i32, String)>,
}

/// A request: a body handed out in `piece`-sized reads; writes fail once
/// `fail_after` body bytes went out (a client that left).
pub struct RecordingIo {
    pub rec: Arc<Mutex<Record>>,
    pub input: Vec<u8>,
    pub pos: usize,
    pub piece: usize,
    pub fail_after: Option<usize>,
}

impl RecordingIo {
    pub fn new(input: &[u8]) -> (RecordingIo, Arc<Mutex<Record>>) {
        let rec = Arc::new(Mutex::new(Record::default()));
        let io = RecordingIo {
            rec: rec.clone(),
            input: input.to_vec(),
            pos: 0,
            piece: 7,
            fail_after: None,
        };
        (io, rec)
    }

    fn put(&mut self, data: &[u8]) -> bool {
        let mut r = self.rec.lock().unwrap();
        if let Some(limit) = self.fail_after {
            if r.body.len() + data.len() > limit {
                return false;
            }
        }
        r.body.extend_from_slice(data);
        r.writes += 1;
        true
    }
}

impl RequestIo for RecordingIo {
    fn send_head(&mut self, status: u16, line: &CString, headers: &[(CString, CString)]) -> bool {
        let mut r = self.rec.lock().unwrap();
        r.status = Some(status);
        r.status_line = line.to_string_lossy().into_owned();
        r.headers = headers
            .iter()
            .map(|(k, v)| {
                (
                    k.to_string_lossy().into_owned(),
                    v.to_string_lossy().into_owned(),
                )
            })
            .collect();
        true
    }

    fn write(&mut self, data: &[u8]) -> bool {
        self.put(data)
    }

    fn write_final(&mut self, data: &[u8], short: bool) -> bool {
        self.put(data) && self.finish(short)
    }

    fn send_file(&mut self, fd: i32, offset: u64, len: u64) -> bool {
        use std::os::unix::fs::FileExt;
        // SAFETY: the adapter keeps the file open for the call; reading
        // through a duplicate leaves the application's file as it is.
        let own = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) }
            .try_clone_to_owned()
            .expect("dup");
        let file = std::fs::File::from(own);
        let mut buf = vec![0; len as usize];
        file.read_exact_at(&mut buf, offset)
            .expect("read the handed file");
        self.rec.lock().unwrap().files.push((offset, len));
        self.put(&buf)
    }

    fn finish(&mut self, short: bool) -> bool {
        self.rec.lock().unwrap().finished = Some(short);
        true
    }

    fn start_body(&mut self) -> bool {
        !self.input.is_empty()
    }

    fn read_body_onto(&mut self, out: &mut Vec<u8>, room: usize) -> Result<usize, ()> {
        let n = (self.input.len() - self.pos).min(room).min(self.piece);
        out.extend_from_slice(&self.input[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }

    fn log(&self, level: i32, msg: &str) {
        self.rec.lock().unwrap().logs.push((level, msg.to_string()));
    }
}

pub fn target(script: &str, group: &str) -> AppTarget {
    AppTarget {
        script: script.to_string(),
        script_mtime_ns: 0,
        callable: "application".into(),
        application_group: group.into(),
        process_group: String::new(),
        reload: true,
        sendfile: true,
        multithread: true,
        multiprocess: false,
        https: false,
    }
}

/// A CGI environ for `method` `path`.
pub fn cgi(method: &str, path: &str, extra: &[(&str, &str)]) -> Environ<'static> {
    let mut e = Environ::with_capacity(8);
    for (k, v) in [
        ("REQUEST_METHOD", method),
        ("SCRIPT_NAME", ""),
        ("PATH_INFO", path),
        ("QUERY_STRING", ""),
        ("SERVER_NAME", "127.0.0.1"),
        ("SERVER_PORT", "80"),
        ("SERVER_PROTOCOL", "HTTP/1.1"),
    ]
    .into_iter()
    .chain(extra.iter().copied())
    {
        e.push(k.as_bytes().to_vec(), v.as_bytes().to_vec());
    }
    e
}

/// Runs `script` for one request; the outcome and what the app did.
pub fn request(
    script: &str,
    group: &str,
    io: RecordingIo,
    cgi: &Environ,
) -> (Outcome, Arc<Mutex<Record>>) {
    let rec = io.rec.clone();
    let (outcome, back) = run_app(io, &target(script, group), cgi).expect("the interpreter runs");
    assert!(back.is_some(), "the adapter hands the I/O back");
    (outcome, rec)
}

/// The body as text.
pub fn text(rec: &Arc<Mutex<Record>>) -> String {
    String::from_utf8_lossy(&rec.lock().unwrap().body).into_owned()
}
