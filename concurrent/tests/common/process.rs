//! Child processes for the multi-process tests: the test binary re-executes itself with
//! `--exact child_process_entry --include-ignored` and a role in an environment
//! variable; the child prints tagged lines that the parent collects.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The environment variable that carries a child's role and arguments.
pub const CHILD_ENV: &str = "ALEXDB_MP_CHILD";

/// A running child and the lines it printed so far.
#[derive(Debug)]
pub struct Running {
    pub name: String,
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
    reader: Option<JoinHandle<()>>,
}

/// Start this test binary as a child playing `role` with `args` (joined by `|`).
pub fn spawn(name: &str, role: &str, args: &[String]) -> Running {
    let exe = std::env::current_exe().expect("test binary path");
    let mut child = Command::new(exe)
        .args([
            "--exact",
            "child_process_entry",
            "--nocapture",
            "--include-ignored",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, format!("{role}|{}", args.join("|")))
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn child process");
    let stdout = child.stdout.take().expect("piped stdout");
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&lines);
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(|line| line.ok()) {
            sink.lock().expect("line sink").push(line);
        }
    });
    Running {
        name: name.to_string(),
        child,
        lines,
        reader: Some(reader),
    }
}

impl Running {
    /// Lines printed so far that start with `tag ` (tag removed).
    pub fn tagged(&self, tag: &str) -> Vec<String> {
        let prefix = format!("{tag} ");
        self.lines
            .lock()
            .expect("line sink")
            .iter()
            .filter_map(|line| line.strip_prefix(&prefix).map(str::to_string))
            .collect()
    }

    /// SIGKILL the child (a crash at an arbitrary instant) and reap it.
    pub fn kill(mut self) -> Vec<String> {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(reader) = self.reader.take() {
            reader.join().expect("stdout reader");
        }
        self.lines.lock().expect("line sink").clone()
    }

    pub fn has_exited(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }

    /// Wait for a successful exit until `limit`; kill the child and panic otherwise.
    pub fn finish(mut self, limit: Instant) -> Vec<String> {
        loop {
            match self.child.try_wait().expect("wait for child") {
                Some(status) => {
                    if let Some(reader) = self.reader.take() {
                        reader.join().expect("stdout reader");
                    }
                    assert!(status.success(), "child {} failed: {status}", self.name);
                    return self.lines.lock().expect("line sink").clone();
                }
                None if Instant::now() >= limit => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    panic!("child {} overran its time limit and was killed", self.name);
                }
                None => std::thread::sleep(Duration::from_millis(5)),
            }
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        // A failing test must not leave children behind.
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The writer publishes how many of its operations are acknowledged in this file
/// (written to a temporary file and renamed, so readers see whole numbers).
pub fn publish_progress(path: &Path, acknowledged: u64) {
    let temp = path.with_extension("tmp");
    std::fs::write(&temp, acknowledged.to_string()).expect("write progress");
    std::fs::rename(&temp, path).expect("publish progress");
}

/// Operations acknowledged so far (0 before the writer's first acknowledgement).
pub fn read_progress(path: &Path) -> u64 {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|text| text.trim().parse().ok())
        .unwrap_or(0)
}

/// Wait until at least `count` operations are acknowledged, or panic at `limit`.
pub fn wait_for_progress(path: &Path, count: u64, limit: Instant) -> u64 {
    loop {
        let acknowledged = read_progress(path);
        if acknowledged >= count {
            return acknowledged;
        }
        assert!(Instant::now() < limit, "writer made no progress in time");
        std::thread::sleep(Duration::from_millis(1));
    }
}
