//! Criterion benches of the write-ahead log (`alexdb_wal`), issue 3's "Must reach" targets:
//!
//! - `wal_off_append`: `SyncMode::Off`, one thread, one 100-byte record per `commit`
//!   (and, for reference, 64 records per commit). Target >= 3M records/s.
//! - `wal_full_commit`: `SyncMode::Full`, one 100-byte record per `commit`, 1 committing
//!   thread vs 8 committing threads (group commit). Target: 8 threads >= 5x 1 thread.
//! - `wal_recovery`: `Wal::open` + `scan_from(Seq(0))` visiting every record, over a log of
//!   `WAL_BENCH_BYTES` bytes (default 1 GiB; 1,000-byte payloads) on a warm page cache, and
//!   the same for 100-byte payloads over a quarter of that. Target >= 1 GB/s.
//!
//! Logs live in `tempfile::tempdir()` (`$TMPDIR`, default `/tmp`). fsync is only
//! meaningful on a real disk: on tmpfs it is free and the `Full` figures mean nothing, so
//! the bench prints the filesystem type of the temp dir (from `/proc/mounts`) first.
//!
//! Ratios: criterion does not compare functions, so after the criterion groups a summary
//! pass times each workload again with `std::time::Instant` — the 1- and 8-thread `Full`
//! runs interleaved, three rounds each — and prints ops/s, the ratio and the target.
//! `WAL_BENCH_SUMMARY=0` skips it; `WAL_BENCH_CRITERION=0` runs only the summary.
//!
//! Run: `CARGO_TARGET_DIR=/work/target-waltest cargo bench --bench wal`;
//! quick: `WAL_BENCH_BYTES=134217728 cargo bench --bench wal`. Under `cargo test --benches`
//! (no `--bench` argument) it is a smoke test on a 16 MiB log.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use alexdb_wal::{Entry, Seq, SyncMode, Wal, WalOptions};
use criterion::{Criterion, SamplingMode, Throughput};

const RECORD_BYTES: usize = 100;
const FULL_THREADS: [usize; 2] = [1, 8];

fn is_bench_run() -> bool {
    std::env::args().any(|arg| arg == "--bench")
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn env_flag(name: &str) -> bool {
    std::env::var(name).map_or(true, |v| v != "0")
}

fn options(sync_mode: SyncMode) -> WalOptions {
    WalOptions {
        sync_mode,
        ..WalOptions::default()
    }
}

fn record() -> Vec<u8> {
    (0..RECORD_BYTES).map(|i| (i * 7 + 1) as u8).collect()
}

/// The filesystem type of the mount holding `path` (longest mount-point prefix).
fn filesystem_of(path: &Path) -> String {
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
    let path = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    mounts
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            (fields.len() > 2 && path.starts_with(fields[1]))
                .then(|| (fields[1].len(), format!("{} on {}", fields[2], fields[1])))
        })
        .max()
        .map_or_else(|| "unknown".to_string(), |(_, fs)| fs)
}

/// Commit `count` single-record batches of `per_commit` records with `SyncMode::Off`
/// into a fresh log; returns the time of the commits only.
fn off_append(count: u64, per_commit: usize) -> Duration {
    let dir = tempfile::tempdir().expect("temp dir");
    let (wal, _) = Wal::open(dir.path(), options(SyncMode::Off)).expect("open");
    let payload = record();
    let entries: Vec<Entry<'_>> = (0..per_commit)
        .map(|_| Entry {
            tag: 1,
            head: &[],
            body: &payload,
        })
        .collect();
    let commits = count.div_ceil(per_commit as u64);
    let started = Instant::now();
    for _ in 0..commits {
        black_box(wal.commit(&entries).expect("commit"));
    }
    let elapsed = started.elapsed();
    drop(wal);
    elapsed
}

/// `threads` threads commit `count` single-record `SyncMode::Full` batches in total.
fn full_commits(wal: &Wal, threads: usize, count: u64) -> Duration {
    let payload = record();
    let per_thread = count.div_ceil(threads as u64);
    let started = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                let entry = [Entry {
                    tag: 2,
                    head: &[],
                    body: &payload,
                }];
                for _ in 0..per_thread {
                    black_box(wal.commit(&entry).expect("commit"));
                }
            });
        }
    });
    started.elapsed()
}

/// `threads` threads commit `SyncMode::Full` batches for about `duration`; commits/s.
fn full_rate(wal: &Wal, threads: usize, duration: Duration) -> f64 {
    let payload = record();
    let stop = std::sync::atomic::AtomicBool::new(false);
    let total = std::sync::atomic::AtomicU64::new(0);
    let started = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                let entry = [Entry {
                    tag: 2,
                    head: &[],
                    body: &payload,
                }];
                let mut done = 0u64;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    black_box(wal.commit(&entry).expect("commit"));
                    done += 1;
                }
                total.fetch_add(done, std::sync::atomic::Ordering::Relaxed);
            });
        }
        std::thread::sleep(duration);
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
    });
    total.load(std::sync::atomic::Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64()
}

/// A closed log of about `bytes` bytes of records with `payload_len`-byte payloads,
/// built once per process and synced, so the timed opens read a warm page cache.
struct RecoveryLog {
    _dir: tempfile::TempDir,
    path: PathBuf,
    /// Bytes of records (headers + payloads) in the log.
    record_bytes: u64,
    records: u64,
}

fn build_recovery_log(bytes: u64, payload_len: usize) -> RecoveryLog {
    let dir = tempfile::tempdir().expect("temp dir");
    let (wal, _) = Wal::open(dir.path(), options(SyncMode::Off)).expect("open");
    let payload: Vec<u8> = (0..payload_len).map(|i| (i * 31 + 7) as u8).collect();
    let entries: Vec<Entry<'_>> = (0..64)
        .map(|_| Entry {
            tag: 3,
            head: &[],
            body: &payload,
        })
        .collect();
    let mut written = 0u64;
    let mut records = 0u64;
    while written < bytes {
        let receipt = wal.commit(&entries).expect("commit");
        records += receipt.locations.len() as u64;
        written += receipt.locations.len() as u64 * (payload_len as u64 + 32);
    }
    wal.sync().expect("sync");
    let mut record_bytes = 0u64;
    wal.scan_from(Seq(0), &mut |record| {
        record_bytes += record.stored_len;
        Ok(())
    })
    .expect("scan");
    drop(wal);
    // Read it once more so every page is cached.
    let _ = recover(dir.path());
    RecoveryLog {
        path: dir.path().to_path_buf(),
        _dir: dir,
        record_bytes,
        records,
    }
}

/// Open (recovering) and scan every record, touching each payload's length.
fn recover(dir: &Path) -> (u64, u64) {
    let (wal, report) = Wal::open(dir, options(SyncMode::Off)).expect("open");
    let mut records = 0u64;
    let mut payload_bytes = 0u64;
    wal.scan_from(Seq(0), &mut |record| {
        records += 1;
        payload_bytes += record.payload.len() as u64;
        Ok(())
    })
    .expect("scan");
    assert_eq!(report.bytes_truncated, 0, "a clean log");
    (records, payload_bytes)
}

fn recovery_bytes() -> u64 {
    env_u64(
        "WAL_BENCH_BYTES",
        if is_bench_run() { 1 << 30 } else { 16 << 20 },
    )
}

fn big_log() -> &'static RecoveryLog {
    static LOG: OnceLock<RecoveryLog> = OnceLock::new();
    LOG.get_or_init(|| build_recovery_log(recovery_bytes(), 1000))
}

fn small_record_log() -> &'static RecoveryLog {
    static LOG: OnceLock<RecoveryLog> = OnceLock::new();
    LOG.get_or_init(|| build_recovery_log(recovery_bytes() / 4, RECORD_BYTES))
}

fn criterion_benches(c: &mut Criterion) {
    let mut group = c.benchmark_group("wal_off_append");
    group.throughput(Throughput::Elements(1));
    group.bench_function("100B_record_per_commit", |b| {
        b.iter_custom(|iters| off_append(iters, 1))
    });
    group.throughput(Throughput::Elements(64));
    group.bench_function("64x100B_records_per_commit", |b| {
        b.iter_custom(|iters| off_append(iters * 64, 64))
    });
    group.finish();

    let mut group = c.benchmark_group("wal_full_commit");
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .measurement_time(Duration::from_secs(8))
        .throughput(Throughput::Elements(1));
    for threads in FULL_THREADS {
        group.bench_function(format!("{threads}_threads"), |b| {
            b.iter_custom(|iters| {
                let dir = tempfile::tempdir().expect("temp dir");
                let (wal, _) = Wal::open(dir.path(), options(SyncMode::Full)).expect("open");
                full_commits(&wal, threads, iters)
            })
        });
    }
    group.finish();

    let mut group = c.benchmark_group("wal_recovery");
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .measurement_time(Duration::from_secs(10));
    for (name, log) in [
        ("1000B_payloads", big_log as fn() -> &'static RecoveryLog),
        ("100B_payloads", small_record_log),
    ] {
        group.throughput(Throughput::Bytes(log().record_bytes));
        group.bench_function(format!("open_and_scan_{name}"), |b| {
            let log = log();
            b.iter_custom(|iters| {
                let started = Instant::now();
                for _ in 0..iters {
                    assert_eq!(black_box(recover(&log.path)).0, log.records);
                }
                started.elapsed()
            })
        });
    }
    group.finish();
}

fn summary() {
    println!(
        "\n=== wal summary (same run; {}) ===",
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .trim()
    );
    let temp = std::env::temp_dir();
    println!("temp dir {} is {}", temp.display(), filesystem_of(&temp));

    let records = if is_bench_run() { 3_000_000 } else { 100_000 };
    let best = (0..3)
        .map(|_| off_append(records, 1))
        .min()
        .expect("three runs");
    let rate = records as f64 / best.as_secs_f64();
    println!(
        "Off append, 100-byte record per commit, 1 thread: {:.2} M records/s (best of 3 x {records}); target 3 M/s: {}",
        rate / 1e6,
        verdict(rate / 3e6)
    );
    let best = (0..3)
        .map(|_| off_append(records, 64))
        .min()
        .expect("three runs");
    println!(
        "Off append, 64 x 100-byte records per commit: {:.2} M records/s",
        records as f64 / best.as_secs_f64() / 1e6
    );

    let round = if is_bench_run() {
        Duration::from_secs(3)
    } else {
        Duration::from_millis(300)
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let (wal, _) = Wal::open(dir.path(), options(SyncMode::Full)).expect("open");
    let mut rates = [Vec::new(), Vec::new()];
    for _ in 0..3 {
        for (slot, threads) in FULL_THREADS.iter().enumerate() {
            rates[slot].push(full_rate(&wal, *threads, round));
        }
    }
    let stats = wal.stats();
    drop(wal);
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    println!(
        "  rounds (commits/s): 1 thread {:.0?}, 8 threads {:.0?}",
        rates[0], rates[1]
    );
    let (one, eight) = (median(&mut rates[0]), median(&mut rates[1]));
    println!(
        "Full commits, 100-byte record: 1 thread {one:.0}/s, 8 threads {eight:.0}/s (median of 3 interleaved {round:?} rounds); \
         ratio {:.2}x, target 5x: {}",
        eight / one,
        verdict(eight / one / 5.0)
    );
    println!(
        "  log stats over those rounds: {} syncs, mean group {:.2}, max group {}, sync latency mean {:.0} us, max {} us",
        stats.syncs,
        stats.mean_group_size,
        stats.max_group_size,
        stats.sync_latency_mean_us,
        stats.sync_latency_max_us
    );

    for (name, log) in [("1000-byte", big_log()), ("100-byte", small_record_log())] {
        let best = (0..3)
            .map(|_| {
                let started = Instant::now();
                black_box(recover(&log.path));
                started.elapsed()
            })
            .min()
            .expect("three runs");
        let rate = log.record_bytes as f64 / best.as_secs_f64();
        println!(
            "Recovery (open + scan_from(0)), {name} payloads, {:.2} GB of records, {} records: {:.2} GB/s (best of 3); target 1 GB/s: {}",
            log.record_bytes as f64 / 1e9,
            log.records,
            rate / 1e9,
            verdict(rate / 1e9)
        );
    }
}

fn verdict(ratio_to_target: f64) -> String {
    if ratio_to_target >= 1.0 {
        format!("met ({:.0}% of target)", ratio_to_target * 100.0)
    } else {
        format!("MISSED ({:.0}% of target)", ratio_to_target * 100.0)
    }
}

fn main() {
    if env_flag("WAL_BENCH_CRITERION") {
        let mut criterion = Criterion::default().configure_from_args();
        criterion_benches(&mut criterion);
        criterion.final_summary();
    }
    if env_flag("WAL_BENCH_SUMMARY") {
        summary();
    }
}
