//! Several processes on one data directory: a writer process, and readers in other
//! processes that open it read-only or as secondaries (I-8).
//!
//! - A read-only open sees every write acknowledged before the open; a secondary, after
//!   `catch_up()`, sees every write acknowledged before that call — while the writer
//!   rolls segments, checkpoints and compacts underneath (the secondary reloads).
//! - A secondary survives its writer being killed (SIGKILL) and restarted.
//! - Writes through read-only and secondary handles fail with `Error::ReadOnly`; a second
//!   read-write open fails with `Error::Locked`.
//! - The RocksDB-style measurement: 1 writer process adding records 10 ms apart, 4 reader
//!   processes looking up random already-acknowledged keys, hit rate per mode and
//!   catch-up latency. The default suite runs a short version and asserts the 100% hit
//!   rates; the full one prints the table of `docs/perf/concurrent.md`:
//!   `cargo test -p alexdb-concurrent --release --test multiprocess -- --ignored --nocapture rocksdb_measurement`
//!
//! The writer acknowledges operations in order and publishes the count in a progress
//! file after each one; a reader reads that count *before* it opens or catches up, so
//! everything up to it was acknowledged before the call.

mod common;

use alexdb_concurrent::ConcurrentAlexStorage;
use alexdb_engine::{Config, Error, WriteBatch};
use common::process::{self, CHILD_ENV, Running};
use common::{check, encode, percentile};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Operation `i` of the writer writes key `i % keys` at version `i + 1`.
fn key_of(op: u64, keys: u64) -> i64 {
    (op % keys) as i64
}

/// The version key `key` must have at least once `acknowledged` operations are
/// acknowledged (`None` if it was not written yet).
fn expected_version(key: i64, acknowledged: u64, keys: u64) -> Option<u64> {
    let key = key as u64;
    if acknowledged <= key {
        return None;
    }
    let last_op = key + ((acknowledged - 1 - key) / keys) * keys;
    Some(last_op + 1)
}

/// Whether `store` shows `key` at least at the version `acknowledged` operations imply.
fn is_current(store: &ConcurrentAlexStorage, key: i64, acknowledged: u64, keys: u64) -> bool {
    let Some(expected) = expected_version(key, acknowledged, keys) else {
        return true;
    };
    match store.get_with(key, |bytes| check(key, bytes)).expect("get") {
        Some(stamp) => stamp.version >= expected,
        None => false,
    }
}

fn writer_config() -> Config {
    let mut config = Config::production().with_segment_capacity(64 << 10);
    config.checkpoint_every_bytes = 0;
    config.auto_compact = false;
    config.compaction_dead_ratio = 0.2;
    config
}

#[derive(Clone, Debug)]
struct WriterPlan {
    dir: PathBuf,
    progress: PathBuf,
    /// The writer performs operations `first_op..ops`.
    first_op: u64,
    ops: u64,
    interval: Duration,
    keys: u64,
    payload: usize,
    maintenance: bool,
    shared_readers: usize,
    pace: Duration,
}

impl WriterPlan {
    fn args(&self) -> Vec<String> {
        vec![
            self.dir.display().to_string(),
            self.progress.display().to_string(),
            self.first_op.to_string(),
            self.ops.to_string(),
            self.interval.as_micros().to_string(),
            self.keys.to_string(),
            self.payload.to_string(),
            u8::from(self.maintenance).to_string(),
            self.shared_readers.to_string(),
            self.pace.as_micros().to_string(),
        ]
    }

    fn parse(args: &[&str]) -> WriterPlan {
        let micros = |s: &str| Duration::from_micros(s.parse().expect("micros"));
        WriterPlan {
            dir: PathBuf::from(args[0]),
            progress: PathBuf::from(args[1]),
            first_op: args[2].parse().expect("first op"),
            ops: args[3].parse().expect("ops"),
            interval: micros(args[4]),
            keys: args[5].parse().expect("keys"),
            payload: args[6].parse().expect("payload"),
            maintenance: args[7] == "1",
            shared_readers: args[8].parse().expect("shared readers"),
            pace: micros(args[9]),
        }
    }
}

/// The child entry point: does nothing unless started by a test as a child.
#[test]
#[ignore = "entry point of child processes; started by the other tests"]
fn child_process_entry() {
    let Ok(spec) = std::env::var(CHILD_ENV) else {
        return;
    };
    // The harness may have printed "test child_process_entry ... " without a newline;
    // start our tagged lines on a line of their own.
    println!();
    let parts: Vec<&str> = spec.split('|').collect();
    match parts[0] {
        "writer" => run_writer(&WriterPlan::parse(&parts[1..])),
        "reader" => run_reader(&parts[1..]),
        other => panic!("unknown child role {other}"),
    }
}

/// Write `ops` operations, publishing progress after each acknowledgement; with
/// `maintenance`, checkpoint and compact now and then; with `shared_readers`, look up
/// acknowledged keys from threads of this process (the "shared" mode).
fn run_writer(plan: &WriterPlan) {
    let store = ConcurrentAlexStorage::open_with(&plan.dir, writer_config()).expect("writer open");
    let acknowledged = AtomicU64::new(0);
    let done = AtomicBool::new(false);
    std::thread::scope(|scope| {
        for reader in 0..plan.shared_readers {
            let (store, acknowledged, done) = (&store, &acknowledged, &done);
            scope.spawn(move || {
                let mut rng = StdRng::seed_from_u64(reader as u64);
                let (mut lookups, mut hits) = (0u64, 0u64);
                while !done.load(Ordering::Acquire) {
                    let count = acknowledged.load(Ordering::Acquire);
                    if count > 0 {
                        let key = key_of(rng.gen_range(0..count), plan.keys);
                        lookups += 1;
                        hits += u64::from(is_current(store, key, count, plan.keys));
                    }
                    std::thread::sleep(plan.pace);
                }
                println!("RESULT {lookups} {hits} {lookups} {hits}");
            });
        }
        for op in plan.first_op..plan.ops {
            let key = key_of(op, plan.keys);
            store
                .insert(key, &encode(key, op + 1, 0, plan.payload))
                .expect("writer insert");
            acknowledged.store(op + 1, Ordering::Release);
            process::publish_progress(&plan.progress, op + 1);
            println!("ACK {op}");
            if plan.maintenance && op % 37 == 36 {
                store.checkpoint().expect("writer checkpoint");
                println!("CHECKPOINT {op}");
            }
            if plan.maintenance && op % 53 == 52 {
                let report = store.compact().expect("writer compact");
                println!("COMPACT {}", report.segments_in);
            }
            std::thread::sleep(plan.interval);
        }
        done.store(true, Ordering::Release);
    });
    println!("SEGMENTS {}", store.stats().segments);
    store.close().expect("writer close");
}

/// A reader process: `dir progress mode ops keys pace_us seed`. Modes: `once` (open
/// read-only once, at start), `reopen` (open read-only before each lookup), `secondary`
/// (open once, `catch_up` before each lookup). Stops when the writer finished.
fn run_reader(args: &[&str]) {
    let dir = Path::new(args[0]);
    let progress = Path::new(args[1]);
    let mode = args[2];
    let ops: u64 = args[3].parse().expect("ops");
    let keys: u64 = args[4].parse().expect("keys");
    let pace = Duration::from_micros(args[5].parse().expect("pace"));
    let mut rng = StdRng::seed_from_u64(args[6].parse().expect("seed"));
    let limit = Instant::now() + Duration::from_secs(120);

    let at_open = process::wait_for_progress(progress, 1, limit);
    let mut store = match mode {
        "secondary" => ConcurrentAlexStorage::open_secondary(dir).expect("open_secondary"),
        _ => ConcurrentAlexStorage::open_readonly(dir).expect("open_readonly"),
    };
    let (mut lookups, mut hits, mut covered, mut covered_hits) = (0u64, 0u64, 0u64, 0u64);
    loop {
        let acknowledged = process::read_progress(progress);
        let visible_floor = match mode {
            "once" => at_open,
            "reopen" => {
                let started = Instant::now();
                store = ConcurrentAlexStorage::open_readonly(dir).expect("open_readonly");
                println!("OPEN {}", started.elapsed().as_micros());
                acknowledged
            }
            "secondary" => {
                let started = Instant::now();
                store.catch_up().expect("catch_up");
                println!("CU {}", started.elapsed().as_micros());
                acknowledged
            }
            other => panic!("unknown reader mode {other}"),
        };
        let key = key_of(rng.gen_range(0..acknowledged), keys);
        let hit = is_current(&store, key, acknowledged, keys);
        lookups += 1;
        hits += u64::from(hit);
        // Was the write this lookup wants acknowledged before the open / catch-up?
        if expected_version(key, acknowledged, keys) <= expected_version(key, visible_floor, keys) {
            covered += 1;
            covered_hits += u64::from(hit);
        }
        if acknowledged >= ops {
            break;
        }
        assert!(Instant::now() < limit, "reader ran past its time limit");
        std::thread::sleep(pace);
    }
    println!("RESULT {lookups} {hits} {covered} {covered_hits}");
}

// ----- visibility and consistency across processes ----------------------------------------

/// A secondary and repeated read-only opens follow a writer process that rolls segments,
/// checkpoints and compacts: after each `catch_up` (and each open) every key shows at
/// least the version acknowledged before the call; at the end, exactly the last one.
#[test]
fn readonly_and_secondary_follow_a_writer_process() {
    let temp = tempfile::tempdir().expect("temp dir");
    let plan = WriterPlan {
        dir: temp.path().join("store"),
        progress: temp.path().join("acked"),
        first_op: 0,
        ops: 700,
        interval: Duration::from_micros(300),
        keys: 120,
        payload: 420,
        maintenance: true,
        shared_readers: 0,
        pace: Duration::from_millis(1),
    };
    let limit = Instant::now() + Duration::from_secs(90);
    let mut writer = process::spawn("writer", "writer", &plan.args());
    process::wait_for_progress(&plan.progress, 1, limit);

    let secondary = ConcurrentAlexStorage::open_secondary(&plan.dir).expect("open_secondary");
    let (mut catch_ups, mut reloads, mut readonly_opens) = (0u64, 0u64, 0u64);
    let mut saw_locked = false;
    while !writer.has_exited() {
        assert!(Instant::now() < limit, "writer did not finish in time");
        let acknowledged = process::read_progress(&plan.progress);
        let report = secondary.catch_up().expect("catch_up");
        catch_ups += 1;
        reloads += u64::from(report.reloaded);
        check_all_current(&secondary, acknowledged, plan.keys, "secondary");

        if catch_ups % 4 == 0 {
            let acknowledged = process::read_progress(&plan.progress);
            let readonly = ConcurrentAlexStorage::open_readonly(&plan.dir).expect("open_readonly");
            readonly_opens += 1;
            check_all_current(&readonly, acknowledged, plan.keys, "read-only");
            expect_writes_refused(&readonly);
        }
        if !saw_locked && acknowledged < plan.ops {
            match ConcurrentAlexStorage::open_with(&plan.dir, writer_config()) {
                Err(Error::Locked { .. }) => saw_locked = true,
                // The writer may have finished in between; then the open legitimately
                // succeeds — drop it at once and try no more.
                Ok(_) if writer.has_exited() => {}
                other => panic!("second read-write open: expected Locked, got {other:?}"),
            }
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let lines = writer.finish(limit);
    let compacted: u64 = lines
        .iter()
        .filter_map(|line| line.strip_prefix("COMPACT "))
        .map(|n| n.parse::<u64>().expect("segments_in"))
        .sum();
    let checkpoints = lines
        .iter()
        .filter(|l| l.starts_with("CHECKPOINT "))
        .count();

    // Everything is acknowledged now: the secondary must show exactly the final state.
    secondary.catch_up().expect("final catch_up");
    for key in 0..plan.keys as i64 {
        let expected = expected_version(key, plan.ops, plan.keys);
        let found = secondary
            .get_with(key, |bytes| check(key, bytes).version)
            .expect("get");
        assert_eq!(found, expected, "secondary, final state, key {key}");
    }
    expect_writes_refused(&secondary);
    assert!(saw_locked, "never saw Error::Locked while the writer ran");
    assert!(
        checkpoints > 0 && compacted > 0,
        "the writer was meant to checkpoint and compact"
    );
    assert!(
        reloads > 0,
        "the writer compacted {compacted} segments but the secondary never reloaded"
    );
    assert!(
        catch_ups > 10 && readonly_opens > 2,
        "too few rounds to mean anything"
    );
    let metrics = secondary.metrics();
    assert_eq!(
        metrics.op(alexdb_concurrent::OpKind::CatchUp).count,
        catch_ups + 1
    );
}

fn check_all_current(store: &ConcurrentAlexStorage, acknowledged: u64, keys: u64, what: &str) {
    for key in 0..keys as i64 {
        assert!(
            is_current(store, key, acknowledged, keys),
            "{what}: key {key} older than version {:?} acknowledged before the call \
             ({acknowledged} operations acknowledged)",
            expected_version(key, acknowledged, keys)
        );
    }
}

fn expect_writes_refused(store: &ConcurrentAlexStorage) {
    let value = encode(1, 1, 9, 8);
    let refused = |outcome: Result<(), Error>, what: &str| {
        assert!(
            matches!(outcome, Err(Error::ReadOnly { .. })),
            "{what} through a {:?} handle: expected ReadOnly, got {outcome:?}",
            store.access_mode()
        );
    };
    refused(store.insert(1, &value), "insert");
    refused(store.insert_batch(&[(1, &value[..])]), "insert_batch");
    let mut batch = WriteBatch::new();
    batch.put(2, &value);
    refused(store.write(batch), "write");
    refused(store.delete(1).map(|_| ()), "delete");
    refused(store.checkpoint(), "checkpoint");
    refused(store.compact().map(|_| ()), "compact");
}

/// A secondary outlives its writer: the writer process is killed (SIGKILL) in the
/// middle of writing, the secondary catches up (every acknowledged write visible, every
/// value intact — no torn batch applied), a new writer process reopens the directory
/// (recovering the torn tail) and finishes the work, and the same secondary, caught up
/// again, shows exactly the final state.
#[test]
fn secondary_survives_a_killed_and_restarted_writer() {
    let temp = tempfile::tempdir().expect("temp dir");
    let mut plan = WriterPlan {
        dir: temp.path().join("store"),
        progress: temp.path().join("acked"),
        first_op: 0,
        ops: 100_000,
        interval: Duration::ZERO,
        keys: 200,
        payload: 300,
        maintenance: true,
        shared_readers: 0,
        pace: Duration::from_millis(1),
    };
    let limit = Instant::now() + Duration::from_secs(90);
    let writer = process::spawn("first writer", "writer", &plan.args());
    process::wait_for_progress(&plan.progress, 50, limit);
    let secondary = ConcurrentAlexStorage::open_secondary(&plan.dir).expect("open_secondary");
    process::wait_for_progress(&plan.progress, 400, limit);
    writer.kill();
    let acknowledged = process::read_progress(&plan.progress);
    assert!(
        acknowledged < plan.ops,
        "the writer finished before it was killed"
    );
    secondary
        .catch_up()
        .expect("catch_up after the writer died");
    check_all_current(&secondary, acknowledged, plan.keys, "secondary after kill");

    // Restart: redo from the first unacknowledged operation (an op that was durable but
    // unacknowledged is rewritten with the same version and bytes).
    plan.first_op = acknowledged;
    plan.ops = acknowledged + 300;
    let writer = process::spawn("second writer", "writer", &plan.args());
    while process::read_progress(&plan.progress) < plan.ops {
        assert!(
            Instant::now() < limit,
            "second writer did not finish in time"
        );
        let acknowledged = process::read_progress(&plan.progress);
        secondary
            .catch_up()
            .expect("catch_up while the second writer runs");
        check_all_current(
            &secondary,
            acknowledged,
            plan.keys,
            "secondary, second writer",
        );
        std::thread::sleep(Duration::from_millis(3));
    }
    writer.finish(limit);
    secondary.catch_up().expect("final catch_up");
    for key in 0..plan.keys as i64 {
        let expected = expected_version(key, plan.ops, plan.keys);
        let found = secondary
            .get_with(key, |bytes| check(key, bytes).version)
            .expect("get");
        assert_eq!(found, expected, "secondary, final state, key {key}");
    }
}

/// A second read-write open of a directory, in the same process, fails with `Locked`;
/// once the first is closed, it succeeds.
#[test]
fn second_writer_is_locked_out() {
    let temp = tempfile::tempdir().expect("temp dir");
    let first = ConcurrentAlexStorage::open_with(temp.path(), Config::benchmark()).expect("open");
    first.insert(1, b"one").expect("insert");
    match ConcurrentAlexStorage::open_with(temp.path(), Config::benchmark()) {
        Err(Error::Locked { .. }) => {}
        other => panic!("expected Locked, got {other:?}"),
    }
    // Read-only and secondary opens need no lock.
    let readonly = ConcurrentAlexStorage::open_readonly(temp.path()).expect("open_readonly");
    assert_eq!(readonly.get(1).expect("get"), Some(b"one".to_vec()));
    assert!(matches!(readonly.catch_up(), Err(Error::InvalidConfig(_))));
    first.close().expect("close");
    // Other tests of this binary spawn child processes; a child forked at this moment
    // holds a copy of the LOCK descriptor (so the lock) until it execs. Give it a moment.
    let mut second = ConcurrentAlexStorage::open_with(temp.path(), Config::benchmark());
    for _ in 0..100 {
        if !matches!(second, Err(Error::Locked { .. })) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
        second = ConcurrentAlexStorage::open_with(temp.path(), Config::benchmark());
    }
    let second = second.expect("reopen");
    assert_eq!(second.get(1).expect("get"), Some(b"one".to_vec()));
}

// ----- the RocksDB-style measurement ------------------------------------------------------

/// Hit rates of one mode, summed over its readers.
#[derive(Debug, Default)]
struct ModeReport {
    mode: &'static str,
    lookups: u64,
    hits: u64,
    covered: u64,
    covered_hits: u64,
    /// `catch_up` (secondary) or `open_readonly` (reopen) latencies, microseconds.
    latencies_us: Vec<f64>,
}

fn measure(ops: u64, interval: Duration, readers: usize, pace: Duration) -> Vec<ModeReport> {
    let modes = ["shared", "once", "reopen", "secondary"];
    let mut reports = Vec::new();
    for mode in modes {
        let temp = tempfile::tempdir().expect("temp dir");
        let plan = WriterPlan {
            dir: temp.path().join("store"),
            progress: temp.path().join("acked"),
            first_op: 0,
            ops,
            interval,
            keys: ops,
            payload: 64,
            maintenance: false,
            shared_readers: if mode == "shared" { readers } else { 0 },
            pace,
        };
        let limit = Instant::now() + Duration::from_secs(120);
        let writer = process::spawn("writer", "writer", &plan.args());
        let mut children: Vec<Running> = Vec::new();
        if mode != "shared" {
            for reader in 0..readers {
                let args = vec![
                    plan.dir.display().to_string(),
                    plan.progress.display().to_string(),
                    mode.to_string(),
                    ops.to_string(),
                    ops.to_string(),
                    pace.as_micros().to_string(),
                    reader.to_string(),
                ];
                children.push(process::spawn(
                    &format!("{mode} reader {reader}"),
                    "reader",
                    &args,
                ));
            }
        }
        let mut report = ModeReport {
            mode,
            ..ModeReport::default()
        };
        let mut outputs = vec![writer.finish(limit)];
        outputs.extend(children.into_iter().map(|child| child.finish(limit)));
        for line in outputs.iter().flatten() {
            if let Some(rest) = line.strip_prefix("RESULT ") {
                let n: Vec<u64> = rest.split(' ').map(|x| x.parse().expect("count")).collect();
                report.lookups += n[0];
                report.hits += n[1];
                report.covered += n[2];
                report.covered_hits += n[3];
            } else if let Some(us) = line.strip_prefix("CU ").or(line.strip_prefix("OPEN ")) {
                report.latencies_us.push(us.parse().expect("micros"));
            }
        }
        report.latencies_us.sort_by(f64::total_cmp);
        reports.push(report);
    }
    reports
}

fn print_and_check(reports: &[ModeReport]) {
    println!(
        "mode       lookups   hit rate   acknowledged-before-open/catch-up: lookups  hit rate   latency p50 / p99 / max (us)"
    );
    for r in reports {
        let rate = |hits: u64, n: u64| 100.0 * hits as f64 / n.max(1) as f64;
        let lat = &r.latencies_us;
        println!(
            "{:<10} {:>7}   {:>7.2}%   {:>39}  {:>7.2}%   {}",
            r.mode,
            r.lookups,
            rate(r.hits, r.lookups),
            r.covered,
            rate(r.covered_hits, r.covered),
            if lat.is_empty() {
                "-".to_string()
            } else {
                format!(
                    "{:.0} / {:.0} / {:.0}",
                    percentile(lat, 0.5),
                    percentile(lat, 0.99),
                    lat[lat.len() - 1]
                )
            }
        );
    }
    for r in reports {
        assert!(r.lookups > 0, "{}: no lookups", r.mode);
        assert_eq!(
            r.covered_hits, r.covered,
            "{}: a write acknowledged before the open/catch-up was not visible",
            r.mode
        );
        if r.mode != "once" {
            assert_eq!(
                r.hits, r.lookups,
                "{}: every acknowledged key must be visible",
                r.mode
            );
        }
    }
}

/// Short version for the default suite: 40 records 5 ms apart, 4 readers per mode.
#[test]
fn rocksdb_measurement_short() {
    let reports = measure(40, Duration::from_millis(5), 4, Duration::from_millis(2));
    print_and_check(&reports);
}

/// The measurement as specified: 100 records 10 ms apart, 4 reader processes per mode
/// (4 threads of the writer process in shared mode), lookups every 2 ms per reader.
/// `cargo test -p alexdb-concurrent --release --test multiprocess -- --ignored --nocapture rocksdb_measurement`
#[test]
#[ignore = "about 10 s; prints the table of docs/perf/concurrent.md"]
fn rocksdb_measurement() {
    let reports = measure(100, Duration::from_millis(10), 4, Duration::from_millis(2));
    print_and_check(&reports);
}
