//! Crash test (invariant I-3): a child process appends commits and prints each
//! acknowledged batch; the parent `kill -9`s it at a random moment, reopens the log,
//! and checks that every acknowledged batch is present and intact and that the log is
//! a prefix of what was written: sequence numbers contiguous from 1, every payload as
//! the deterministic generator made it (`payload_for_seq`), whole batches only.
//!
//! One directory is reused across all kills, with small segments so rolls happen, so
//! recovery of earlier crashes is exercised too; on every other kill the parent only
//! `inspect`s the log and leaves the repair to the next child. Some kills land during
//! the child's start-up (its own recovery).
//!
//! The child is this test binary re-executed with `ALEXDB_WAL_CRASH_CHILD` set, running
//! only the ignored test `crash_child`.
//!
//! Long version (5,000 kills, a few minutes):
//! `CARGO_TARGET_DIR=/work/target-waltest cargo test -p alexdb-wal --release --test crash_kill9 -- --ignored --exact kill9_full_sync_5000_times --nocapture`

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use alexdb_wal::{Seq, SyncMode, Wal, WalOptions, inspect};
use common::*;
use rand::{Rng, SeedableRng};

const CHILD_ENV: &str = "ALEXDB_WAL_CRASH_CHILD";

fn options(mode: SyncMode) -> WalOptions {
    // Off commits are ~100x faster than Full ones: bigger segments keep the file count sane.
    // Checkpoint mode (never synced here, like Off) runs with segments of 4 MiB, so that
    // its default huge pages (`HugePages::Auto`) can give each segment a 2 MiB folio.
    let capacity = match mode {
        SyncMode::Full => 16 << 10,
        SyncMode::Checkpoint => 4 << 20,
        _ => 512 << 10,
    };
    WalOptions {
        sync_mode: mode,
        ..small_options(capacity)
    }
}

fn mode_name(mode: SyncMode) -> &'static str {
    match mode {
        SyncMode::Full => "full",
        SyncMode::Off => "off",
        SyncMode::Normal => "normal",
        SyncMode::Checkpoint => "checkpoint",
    }
}

/// The child: open the log (recovering whatever the last kill left), then commit
/// batches of 1..=4 records forever, printing `ACK <first_seq> <count> .` after each.
#[test]
#[ignore = "child process of the crash tests; does nothing unless ALEXDB_WAL_CRASH_CHILD is set"]
fn crash_child() {
    let Ok(spec) = std::env::var(CHILD_ENV) else {
        return;
    };
    let mut parts = spec.splitn(3, '|');
    let (mode, seed, dir) = (
        parts.next().expect("mode"),
        parts.next().expect("seed"),
        parts.next().expect("dir"),
    );
    let mode = match mode {
        "full" => SyncMode::Full,
        "checkpoint" => SyncMode::Checkpoint,
        _ => SyncMode::Off,
    };
    let seed: u64 = seed.parse().expect("seed");
    let (wal, _report) = Wal::open(Path::new(dir), options(mode)).expect("child: open");
    let mut out = std::io::stdout().lock();
    let mut next = wal.last_seq().0 + 1;
    writeln!(out, "READY {} .", next - 1).expect("stdout");
    out.flush().expect("stdout");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    loop {
        let count = rng.gen_range(1..=4u64);
        let receipt = commit_entries(&wal, &seq_entries(next, count)).expect("child: commit");
        assert_eq!(
            receipt.first_seq,
            Seq(next),
            "child: seqs continue where recovery left off"
        );
        writeln!(out, "ACK {next} {count} .").expect("stdout");
        out.flush().expect("stdout");
        next += count;
    }
}

/// What the parent knows: every batch acknowledged and not yet retired, by first seq ->
/// count.
#[derive(Default)]
struct Acknowledged {
    batches: BTreeMap<u64, u64>,
    /// Batches acknowledged since the start, retired or not.
    total: u64,
    /// The parent called `retire_below(retired_below)`; 0 if never.
    retired_below: u64,
}

impl Acknowledged {
    fn last_seq(&self) -> u64 {
        self.batches
            .iter()
            .next_back()
            .map_or(0, |(first, count)| first + count - 1)
    }
}

/// Spawn a child, kill it at a random moment, and record its acknowledgements.
fn run_and_kill(
    kill: usize,
    dir: &Path,
    mode: SyncMode,
    seed: u64,
    rng: &mut impl Rng,
    acked: &mut Acknowledged,
) {
    let mut child = Command::new(std::env::current_exe().expect("current exe"))
        .args([
            "--exact",
            "crash_child",
            "--nocapture",
            "--include-ignored",
            "--test-threads=1",
        ])
        .env(
            CHILD_ENV,
            format!("{}|{seed}|{}", mode_name(mode), dir.display()),
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn child");
    let stdout = child.stdout.take().expect("piped");
    let (line_tx, line_rx) = std::sync::mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if line_tx.send(line).is_err() {
                break;
            }
        }
    });
    let stderr = child.stderr.take().expect("piped");
    let stderr_reader =
        std::thread::spawn(move || std::io::read_to_string(stderr).unwrap_or_default());

    let mut lines = Vec::new();
    if rng.gen_bool(0.2) {
        // Kill during start-up: possibly in the middle of the child's own recovery.
        std::thread::sleep(Duration::from_micros(rng.gen_range(0..15_000)));
    } else {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match line_rx.recv_timeout(left) {
                Ok(line) => {
                    // libtest prints "test crash_child ... " without a newline before the output.
                    let ready = line.contains("READY ");
                    lines.push(line);
                    if ready {
                        break;
                    }
                }
                Err(why) => {
                    let _ = child.kill();
                    let status = child.wait();
                    panic!(
                        "kill {kill}: child never became ready ({why:?}, {status:?}); last stdout lines: {:?}; stderr:\n{}",
                        &lines[lines.len().saturating_sub(4)..],
                        stderr_reader.join().unwrap_or_default()
                    );
                }
            }
        }
        std::thread::sleep(Duration::from_micros(rng.gen_range(2_000..50_000)));
    }
    child.kill().expect("kill -9 the child");
    let status = child.wait().expect("wait for the child");
    reader.join().expect("reader thread");
    let stderr = stderr_reader.join().unwrap_or_default();
    assert_eq!(
        status.signal(),
        Some(libc::SIGKILL),
        "the child died by SIGKILL, not by itself: {status:?}\n{stderr}"
    );
    lines.extend(line_rx.try_iter());
    for line in lines {
        let Some(start) = line.find("ACK ") else {
            continue;
        };
        let fields: Vec<&str> = line[start..].split(' ').collect();
        if let ["ACK", first, count, "."] = fields[..] {
            let first: u64 = first.parse().expect("ack seq");
            let count: u64 = count.parse().expect("ack count");
            assert!(
                first > acked.last_seq(),
                "acks are increasing: {first} after {}",
                acked.last_seq()
            );
            acked.batches.insert(first, count);
            acked.total += 1;
        }
    }
}

/// Open the log and check it against everything acknowledged so far. With `retire`,
/// also retire the segments below the last acknowledged batch, so the directory stays
/// small over thousands of kills and recovery after retirement is exercised too.
fn verify(dir: &Path, mode: SyncMode, acked: &mut Acknowledged, kill: usize, retire: bool) {
    let (wal, report) =
        Wal::open(dir, options(mode)).unwrap_or_else(|e| panic!("kill {kill}: reopen failed: {e}"));
    let records = scan_all(&wal).unwrap_or_else(|e| panic!("kill {kill}: scan failed: {e}"));
    // Retirement removes whole segments below `retired_below`, so the log starts at or
    // before it (possibly inside a batch whose start was retired).
    let first = records.first().map_or(1, |r| r.seq);
    assert!(
        first <= acked.retired_below.max(1),
        "kill {kill}: log starts at {first}, retired below {}",
        acked.retired_below
    );
    for (index, record) in records.iter().enumerate() {
        assert_eq!(
            record.seq,
            first + index as u64,
            "kill {kill}: seqs are contiguous (no holes, no reordering)"
        );
        assert_eq!(
            record.tag,
            tag_for_seq(record.seq),
            "kill {kill}: tag of seq {}",
            record.seq
        );
        assert_eq!(
            record.payload,
            payload_for_seq(record.seq),
            "kill {kill}: payload of seq {}",
            record.seq
        );
    }
    let batches = batches_of(&records, acked.retired_below > 0);
    let by_first: BTreeMap<u64, u64> = batches.iter().map(|b| (b[0].seq, b.len() as u64)).collect();
    for (&batch_first, count) in acked.batches.range(first..) {
        assert_eq!(
            by_first.get(&batch_first),
            Some(count),
            "kill {kill}: acknowledged batch {batch_first}+{count} is present and whole"
        );
    }
    let last = records.last().map_or(0, |r| r.seq);
    assert!(
        last >= acked.last_seq(),
        "kill {kill}: log ends at {last}, acked up to {}",
        acked.last_seq()
    );
    assert_eq!(report.last_seq.0, last, "kill {kill}: {report:?}");
    if retire && let Some((&below, _)) = acked.batches.iter().next_back() {
        wal.retire_below(Seq(below))
            .unwrap_or_else(|e| panic!("kill {kill}: retire_below({below}): {e}"));
        acked.retired_below = below;
        acked.batches.retain(|&batch_first, _| batch_first >= below);
    }
}

fn kill_loop(mode: SyncMode, kills: usize, seed: u64) {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut acked = Acknowledged::default();
    let started = Instant::now();
    for kill in 0..kills {
        run_and_kill(kill, dir.path(), mode, rng.r#gen(), &mut rng, &mut acked);
        if kill % 2 == 0 || kill + 1 == kills {
            verify(dir.path(), mode, &mut acked, kill, kill % 50 == 0);
        } else {
            // Leave any torn tail for the next child to repair; inspect must not modify.
            let report =
                inspect(dir.path()).unwrap_or_else(|e| panic!("kill {kill}: inspect failed: {e}"));
            assert!(
                report.last_seq.0 >= acked.last_seq(),
                "kill {kill}: inspect {report:?} vs acked {}",
                acked.last_seq()
            );
        }
    }
    let segments = segment_ids_on_disk(dir.path()).len();
    println!(
        "{kills} kills ({mode:?}) in {:?}: {} batches acknowledged, last seq {}, {segments} segment files",
        started.elapsed(),
        acked.total,
        acked.last_seq()
    );
    assert!(
        acked.total > kills as u64 / 2,
        "the children got work done between kills"
    );
}

#[test]
fn kill9_full_sync_100_times() {
    kill_loop(SyncMode::Full, 100, 0xC0FFEE);
}

#[test]
fn kill9_sync_off_loses_nothing_appended_to_the_mapping() {
    // SyncMode::Off writes through a shared mapping: a process kill (not a power loss)
    // loses at most the batch being copied when the signal arrived, which was never
    // acknowledged.
    kill_loop(SyncMode::Off, 30, 0x0FF);
}

#[test]
fn kill9_huge_page_log_loses_nothing_appended_to_the_mapping() {
    // As under Off, with the log's segments mapped in huge pages (Checkpoint mode's
    // default): a kill leaves large folios of the page cache half written, and recovery
    // must find every acknowledged batch in them.
    assert!(alexdb_wal::HugePages::Auto.enabled(SyncMode::Checkpoint));
    kill_loop(SyncMode::Checkpoint, 20, 0x2A6E);
}

/// `cargo test -p alexdb-wal --release --test crash_kill9 -- --ignored --exact kill9_full_sync_5000_times --nocapture`
#[test]
#[ignore = "long: 5,000 kills"]
fn kill9_full_sync_5000_times() {
    // `WAL_CRASH_KILLS=1000` runs a shorter soak with the same code.
    let kills = std::env::var("WAL_CRASH_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5000);
    kill_loop(SyncMode::Full, kills, 0x5000);
}
