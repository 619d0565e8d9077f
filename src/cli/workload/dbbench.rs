//! LevelDB's `db_bench` benchmarks with its conventions: `--num` entries, 100-byte values,
//! one result line per benchmark in `micros/op` (thread time per operation, so it is the
//! mean latency) and `MB/s` (key + value bytes over wall time), `(found of asked)` for
//! random reads. `fill*` benchmarks start from a fresh database; the others use the one
//! the previous benchmark left. Keys are `i64` (8 bytes), not LevelDB's 16-byte strings.
//!
//! `fillsync` writes `num / 1000` entries to a store opened with `SyncMode::Full`; the
//! other writes are unsynced (`SyncMode::Off`), as db_bench's default `sync = false`.

use crate::cli::error::{CliError, CliResult};
use crate::cli::histogram::{Latency, LatencySummary};
use crate::cli::progress::Progress;
use crate::cli::store::{EngineKind, KvStore, SyncSetting, open_store};
use crate::cli::workload::runner::{Outcome, RunStats, Status, Timing, run_threads};
use crate::cli::workload::{make_value, value_matches};
use indicatif::ProgressBar;
use rand::Rng;
use rand::rngs::StdRng;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

/// Every benchmark this command knows.
pub const BENCHMARKS: &[&str] = &[
    "fillseq",
    "fillrandom",
    "fillsync",
    "overwrite",
    "readrandom",
    "multireadrandom",
    "readseq",
    "readmissing",
    "readwhilewriting",
    "deleterandom",
    "deleteseq",
    "compact",
    "stats",
];

/// Keys per `scan` call of `readseq`.
const READSEQ_CHUNK: usize = 100;
/// Keys per `multi_get` call of `multireadrandom` (RocksDB's db_bench calls it
/// `multiread_batched`; its latency histogram is per call, its ops per key).
pub const MULTIREAD_BATCH: usize = 100;
/// Key bytes counted in MB/s.
const KEY_BYTES: u64 = 8;

#[derive(Clone, Debug)]
pub struct DbBenchOptions {
    pub benchmarks: Vec<String>,
    pub num: u64,
    pub reads: u64,
    pub value_size: usize,
    pub threads: usize,
    pub histogram: bool,
    pub seed: u64,
    pub engine: EngineKind,
}

/// One benchmark's result line.
#[derive(Clone, Debug, Serialize)]
pub struct BenchResult {
    pub benchmark: String,
    pub ops: u64,
    pub micros_per_op: f64,
    pub mb_per_s: Option<f64>,
    pub message: String,
    #[serde(flatten)]
    pub latency: LatencySummary,
    #[serde(skip)]
    pub buckets: Vec<(f64, u64, f64)>,
}

/// Split and check a `--benchmarks` list.
pub fn parse_benchmarks(list: &str) -> CliResult<Vec<String>> {
    let names: Vec<String> = list
        .split(',')
        .map(|name| name.trim().to_string())
        .filter(|name| !name.is_empty())
        .collect();
    for name in &names {
        if !BENCHMARKS.contains(&name.as_str()) {
            return Err(CliError::Usage(format!(
                "unknown benchmark {name:?}; known: {}",
                BENCHMARKS.join(", ")
            )));
        }
    }
    if names.is_empty() {
        return Err(CliError::Usage("--benchmarks is empty".to_string()));
    }
    Ok(names)
}

/// The header db_bench prints before the results.
pub fn header(options: &DbBenchOptions, store: &str) -> String {
    let raw_mb = (KEY_BYTES + options.value_size as u64) as f64 * options.num as f64 / 1048576.0;
    format!(
        "{store}:    alexdb {}\nKeys:       {KEY_BYTES} bytes each\nValues:     {} bytes each\nEntries:    {}\nRawSize:    {raw_mb:.1} MB (estimated)\n------------------------------------------------",
        env!("CARGO_PKG_VERSION"),
        options.value_size,
        options.num
    )
}

/// One result in db_bench's format: `name : x micros/op; y MB/s (message)`.
pub fn render(result: &BenchResult, histogram: bool) -> String {
    let rate = result
        .mb_per_s
        .map(|mb| format!(" {mb:6.1} MB/s"))
        .unwrap_or_default();
    let message = if result.message.is_empty() {
        String::new()
    } else {
        format!(" {}", result.message)
    };
    let mut text = format!(
        "{:<12} : {:11.3} micros/op;{rate}{message}",
        result.benchmark, result.micros_per_op
    );
    if histogram && result.latency.count > 0 {
        let latency = &result.latency;
        text.push_str(&format!(
            "\nMicroseconds per op:\nCount: {}  Average: {:.4}\nMedian: {:.4}  P95: {:.4}  P99: {:.4}  Max: {:.4}\n------------------------------------------------------",
            latency.count, latency.latency_us_mean, latency.latency_us_p50, latency.latency_us_p95, latency.latency_us_p99, latency.latency_us_max
        ));
        let mut previous = 0.0;
        for (upper, count, cumulative) in &result.buckets {
            let share = *count as f64 * 100.0 / latency.count as f64;
            let bar = "#".repeat((share / 5.0).round() as usize);
            text.push_str(&format!(
                "\n[ {previous:>10.3}, {upper:>10.3} ) {count:>9} {share:>7.3}% {:>8.3}% {bar}",
                cumulative * 100.0
            ));
            previous = *upper;
        }
    }
    text
}

/// The database the benchmarks share; `fill*` replace it with a fresh one.
struct Bench<'a> {
    base: &'a Path,
    options: &'a DbBenchOptions,
    store: Option<Box<dyn KvStore>>,
    generation: u32,
    show_progress: bool,
}

impl Bench<'_> {
    fn fresh(&mut self, sync: SyncSetting) -> CliResult<&dyn KvStore> {
        self.store = None;
        self.generation += 1;
        let dir = self.base.join(format!("db-{}", self.generation));
        let store = open_store(self.options.engine, &dir, sync)
            .map_err(|error| CliError::store(format!("opening {}", dir.display()), error))?;
        Ok(&**self.store.insert(store))
    }

    fn existing(&mut self) -> CliResult<&dyn KvStore> {
        if self.store.is_none() {
            return self.fresh(SyncSetting::Off);
        }
        Ok(self
            .store
            .as_deref()
            .expect("checked just above that a store is open"))
    }
}

/// Run the benchmarks in order in `base` (a directory this call may fill), calling
/// `on_result` after each.
pub fn run(
    base: &Path,
    options: &DbBenchOptions,
    show_progress: bool,
    mut on_result: impl FnMut(&BenchResult),
) -> CliResult<Vec<BenchResult>> {
    let mut bench = Bench {
        base,
        options,
        store: None,
        generation: 0,
        show_progress,
    };
    let mut results = Vec::new();
    for (index, name) in options.benchmarks.iter().enumerate() {
        let seed = options.seed.wrapping_add(index as u64 * 1000);
        let result = run_one(&mut bench, name, seed)?;
        on_result(&result);
        results.push(result);
    }
    Ok(results)
}

/// Make the temporary base directory of a run, or use `dir` (must be empty or new).
pub fn base_dir(dir: Option<&Path>) -> CliResult<(Option<tempfile::TempDir>, PathBuf)> {
    match dir {
        Some(dir) => {
            std::fs::create_dir_all(dir).map_err(|source| CliError::io(dir, source))?;
            let mut entries = std::fs::read_dir(dir).map_err(|source| CliError::io(dir, source))?;
            if entries.next().is_some() {
                return Err(CliError::Usage(format!(
                    "--dir {}: the directory is not empty",
                    dir.display()
                )));
            }
            Ok((None, dir.to_path_buf()))
        }
        None => {
            let temp = tempfile::Builder::new()
                .prefix("alexdb-bench-")
                .tempdir()
                .map_err(|source| CliError::io(std::env::temp_dir(), source))?;
            let path = temp.path().to_path_buf();
            Ok((Some(temp), path))
        }
    }
}

fn run_one(bench: &mut Bench<'_>, name: &str, seed: u64) -> CliResult<BenchResult> {
    let options = bench.options;
    let num = options.num;
    let show = bench.show_progress;
    // As LevelDB's db_bench: the clock is read per operation only for `--histogram`.
    let timing = if options.histogram {
        Timing::EveryOp
    } else {
        Timing::WallOnly
    };
    let entry_bytes = KEY_BYTES + options.value_size as u64;
    let label = name.to_string();
    let fail = |error| CliError::store(format!("benchmark {name}"), error);
    let (stats, bytes, message): (RunStats, u64, String) = match name {
        "fillseq" | "fillrandom" | "fillsync" | "overwrite" => {
            let sync = if name == "fillsync" {
                SyncSetting::Full
            } else {
                SyncSetting::Off
            };
            let store = if name == "overwrite" {
                bench.existing()?
            } else {
                bench.fresh(sync)?
            };
            let ops = if name == "fillsync" {
                (num / 1000).max(1)
            } else {
                num
            };
            let sequential = name == "fillseq";
            let progress = Progress::start(show, Some(ops), label);
            let work = Work {
                store,
                name,
                num,
                ops,
                threads: 1,
                value_size: options.value_size,
                seed,
                timing,
            };
            let stats = fill(&work, sequential, progress.bar())?;
            progress.finish();
            let bytes = stats.ops * entry_bytes;
            (
                stats,
                bytes,
                if name == "fillsync" {
                    format!("({ops} ops)")
                } else {
                    String::new()
                },
            )
        }
        "readrandom" | "readmissing" | "multireadrandom" => {
            let store = bench.existing()?;
            let batched = name == "multireadrandom";
            let calls = if batched {
                options.reads.div_ceil(MULTIREAD_BATCH as u64)
            } else {
                options.reads
            };
            let progress = Progress::start(show, Some(calls), label);
            let work = Work {
                store,
                name,
                num,
                ops: options.reads,
                threads: options.threads,
                value_size: options.value_size,
                seed,
                timing,
            };
            let stats = if batched {
                multi_read_random(&work, progress.bar())?
            } else {
                read_random(&work, name == "readmissing", progress.bar())?
            };
            progress.finish();
            let per_call = if batched {
                format!(", {MULTIREAD_BATCH} keys per call; latency per call")
            } else {
                String::new()
            };
            let message = format!("({} of {} found{per_call})", stats.hits, stats.ops);
            (stats, 0, message)
        }
        "readseq" => {
            let store = bench.existing()?;
            let chunks = options.reads.div_ceil(READSEQ_CHUNK as u64);
            let progress = Progress::start(show, Some(chunks), label);
            let keys_read = AtomicU64::new(0);
            let bytes_read = AtomicU64::new(0);
            let stats = run_threads(timing, 1, chunks, seed, progress.bar(), |_| {
                let mut next = Some(i64::MIN);
                let (keys_read, bytes_read) = (&keys_read, &bytes_read);
                move |_rng: &mut StdRng| {
                    let Some(start) = next else {
                        return Ok(Outcome::new(0, Status::Done));
                    };
                    let mut last = None;
                    let mut bytes = 0u64;
                    let seen = store
                        .scan(start, READSEQ_CHUNK, &mut |key, value| {
                            last = Some(key);
                            bytes += KEY_BYTES + value.len() as u64;
                        })
                        .map_err(fail)?;
                    keys_read.fetch_add(seen as u64, Ordering::Relaxed);
                    bytes_read.fetch_add(bytes, Ordering::Relaxed);
                    next = if seen < READSEQ_CHUNK {
                        None
                    } else {
                        last.and_then(|key: i64| key.checked_add(1))
                    };
                    Ok(Outcome::new(0, Status::Done))
                }
            })?;
            progress.finish();
            let mut stats = stats;
            stats.ops = keys_read.load(Ordering::Relaxed);
            (stats, bytes_read.load(Ordering::Relaxed), String::new())
        }
        "readwhilewriting" => {
            let store = bench.existing()?;
            let done = AtomicBool::new(false);
            let writes = AtomicU64::new(0);
            let progress = Progress::start(show, Some(options.reads), label);
            let stats = std::thread::scope(|scope| -> CliResult<RunStats> {
                let writer = scope.spawn(|| -> CliResult<()> {
                    let mut rng: StdRng = rand::SeedableRng::seed_from_u64(seed ^ 0xDB);
                    let mut value = Vec::with_capacity(options.value_size);
                    while !done.load(Ordering::Relaxed) {
                        let key = rng.gen_range(0..num as i64);
                        make_value(key, 1, options.value_size, &mut value);
                        store.put(key, &value).map_err(fail)?;
                        writes.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(())
                });
                let readers = run_threads(
                    timing,
                    options.threads,
                    options.reads,
                    seed,
                    progress.bar(),
                    |_| {
                        let mut buffer = Vec::new();
                        move |rng: &mut StdRng| {
                            let key = rng.gen_range(0..num as i64);
                            let found = store.get(key, &mut buffer).map_err(fail)?;
                            let status = match found {
                                true if value_matches(key, &buffer) => Status::Hit,
                                true => Status::Anomaly(format!(
                                    "key {key} returned a value of another key"
                                )),
                                false => Status::Miss,
                            };
                            Ok(Outcome::new(0, status))
                        }
                    },
                );
                done.store(true, Ordering::Relaxed);
                let written = writer.join().unwrap_or_else(|_| {
                    Err(CliError::Other("the writer thread panicked".to_string()))
                });
                let readers = readers?;
                written?;
                Ok(readers)
            })?;
            progress.finish();
            let message = format!(
                "({} of {} found, {} writes meanwhile)",
                stats.hits,
                stats.ops,
                writes.load(Ordering::Relaxed)
            );
            (stats, 0, message)
        }
        "deleterandom" | "deleteseq" => {
            let store = bench.existing()?;
            let sequential = name == "deleteseq";
            let progress = Progress::start(show, Some(num), label);
            let stats = run_threads(timing, 1, num, seed, progress.bar(), |_| {
                let mut next: i64 = 0;
                move |rng: &mut StdRng| {
                    let key = if sequential {
                        next
                    } else {
                        rng.gen_range(0..num as i64)
                    };
                    next += 1;
                    let existed = store.delete(key).map_err(fail)?;
                    Ok(Outcome::new(
                        0,
                        if existed { Status::Hit } else { Status::Miss },
                    ))
                }
            })?;
            progress.finish();
            let message = format!("({} of {} existed)", stats.hits, stats.ops);
            (stats, 0, message)
        }
        "compact" => {
            let store = bench.existing()?;
            let progress = Progress::start(show, None, label);
            let started = Instant::now();
            let summary = store.compact().map_err(fail)?;
            let elapsed = started.elapsed();
            progress.finish();
            let mut stats = RunStats {
                ops: 1,
                wall: elapsed,
                ..RunStats::default()
            };
            stats.latency = Latency::new();
            stats.latency.record(elapsed);
            let message = format!(
                "({} segments -> {}, {:.1} MB reclaimed)",
                summary.segments_in,
                summary.segments_out,
                summary.bytes_reclaimed as f64 / 1e6
            );
            (stats, 0, message)
        }
        "stats" => {
            let store = bench.existing()?;
            let stats = store.stats();
            let message = format!(
                "({} keys, live {:.1} MB, dead {:.1} MB, amp {:.2}, {} segments, index {:.1} MB)",
                stats.keys,
                stats.live_bytes as f64 / 1e6,
                stats.dead_bytes as f64 / 1e6,
                stats.space_amplification,
                stats.segments,
                stats.index_bytes as f64 / 1e6
            );
            (RunStats::default(), 0, message)
        }
        other => return Err(CliError::Usage(format!("unknown benchmark {other:?}"))),
    };
    if let Some(first) = &stats.first_anomaly {
        return Err(CliError::Consistency(format!(
            "benchmark {name}: {} anomalies, first: {first}",
            stats.anomalies
        )));
    }
    let threads = if matches!(
        name,
        "readrandom" | "multireadrandom" | "readmissing" | "readwhilewriting"
    ) {
        options.threads
    } else {
        1
    };
    let seconds = stats.wall.as_secs_f64();
    Ok(BenchResult {
        benchmark: name.to_string(),
        ops: stats.ops,
        micros_per_op: if stats.ops > 0 {
            seconds * threads as f64 * 1e6 / stats.ops as f64
        } else {
            0.0
        },
        mb_per_s: (bytes > 0 && seconds > 0.0).then(|| bytes as f64 / 1048576.0 / seconds),
        message,
        latency: stats.latency.summary(),
        buckets: stats.latency.buckets(),
    })
}

/// One write or random-read benchmark's parameters: `ops` operations on `threads`
/// threads over the keys `0..num`.
struct Work<'a> {
    store: &'a dyn KvStore,
    name: &'a str,
    num: u64,
    ops: u64,
    threads: usize,
    value_size: usize,
    seed: u64,
    timing: Timing,
}

/// `fillseq`/`fillrandom`/`overwrite`: one `put` per operation (sequential keys count
/// from 0 in each thread).
fn fill(work: &Work<'_>, sequential: bool, bar: &ProgressBar) -> CliResult<RunStats> {
    let (store, num, value_size) = (work.store, work.num, work.value_size);
    let fail = |error| CliError::store(format!("benchmark {}", work.name), error);
    run_threads(work.timing, work.threads, work.ops, work.seed, bar, |_| {
        let mut next: i64 = 0;
        let mut value = Vec::with_capacity(value_size);
        move |rng: &mut StdRng| {
            let key = if sequential {
                next
            } else {
                rng.gen_range(0..num as i64)
            };
            next += 1;
            make_value(key, 0, value_size, &mut value);
            store.put(key, &value).map_err(fail)?;
            Ok(Outcome::new(0, Status::Done))
        }
    })
}

/// `readrandom`/`readmissing`: one `get` per operation, checking the value found.
fn read_random(work: &Work<'_>, missing: bool, bar: &ProgressBar) -> CliResult<RunStats> {
    let (store, num) = (work.store, work.num);
    let fail = |error| CliError::store(format!("benchmark {}", work.name), error);
    run_threads(work.timing, work.threads, work.ops, work.seed, bar, |_| {
        let mut buffer = Vec::new();
        move |rng: &mut StdRng| {
            let key = rng.gen_range(0..num as i64) + if missing { num as i64 } else { 0 };
            let found = store.get(key, &mut buffer).map_err(fail)?;
            let status = match found {
                true if value_matches(key, &buffer) => Status::Hit,
                true => Status::Anomaly(format!("key {key} returned a value of another key")),
                false => Status::Miss,
            };
            Ok(Outcome::new(0, status))
        }
    })
}

/// `multireadrandom`: `ops` random keys of `0..num`, asked [`MULTIREAD_BATCH`] at a time
/// through `KvStore::multi_get`. The returned stats count keys (`ops`, `hits`, `misses`);
/// the latency histogram holds one sample per call.
fn multi_read_random(work: &Work<'_>, bar: &ProgressBar) -> CliResult<RunStats> {
    let (store, num) = (work.store, work.num);
    let fail = |error| CliError::store(format!("benchmark {}", work.name), error);
    let calls = work.ops.div_ceil(MULTIREAD_BATCH as u64);
    let found = AtomicU64::new(0);
    let mut stats = run_threads(work.timing, work.threads, calls, work.seed, bar, |_| {
        let mut keys = vec![0i64; MULTIREAD_BATCH];
        let found = &found;
        move |rng: &mut StdRng| {
            for key in keys.iter_mut() {
                *key = rng.gen_range(0..num as i64);
            }
            let mut hits = 0u64;
            let mut status = Status::Hit;
            store
                .multi_get(&keys, &mut |i, value| match value {
                    Some(value) if value_matches(keys[i], value) => hits += 1,
                    Some(_) => {
                        status = Status::Anomaly(format!(
                            "key {} returned a value of another key",
                            keys[i]
                        ))
                    }
                    // Absent: a miss, as in `readrandom` (a fill may not cover 0..num).
                    None => {}
                })
                .map_err(fail)?;
            found.fetch_add(hits, Ordering::Relaxed);
            Ok(Outcome::new(0, status))
        }
    })?;
    stats.ops = calls * MULTIREAD_BATCH as u64;
    stats.hits = found.load(Ordering::Relaxed);
    stats.misses = stats.ops - stats.hits;
    Ok(stats)
}

/// Run `ops` operations of `fillrandom`, `overwrite`, `readrandom`, `readmissing` or
/// `multireadrandom` (ops = keys) on
/// `threads` threads over the keys `0..num` of a store the caller opened (the peer
/// comparison in `benches/peers` drives every store through this). Unlike [`run`],
/// `fillrandom` does not open a fresh store and any benchmark may use several threads.
/// Fails on the first anomaly (a value of another key).
pub fn run_on_store(
    store: &dyn KvStore,
    name: &str,
    num: u64,
    ops: u64,
    threads: usize,
    value_size: usize,
    seed: u64,
) -> CliResult<RunStats> {
    let work = Work {
        store,
        name,
        num,
        ops,
        threads,
        value_size,
        seed,
        timing: Timing::WallOnly,
    };
    let bar = ProgressBar::hidden();
    let stats = match name {
        "fillrandom" | "overwrite" => fill(&work, false, &bar)?,
        "readrandom" | "readmissing" => read_random(&work, name == "readmissing", &bar)?,
        "multireadrandom" => multi_read_random(&work, &bar)?,
        other => {
            return Err(CliError::Usage(format!(
                "run_on_store runs fillrandom, overwrite, readrandom, readmissing or multireadrandom, not {other:?}"
            )));
        }
    };
    if let Some(first) = &stats.first_anomaly {
        return Err(CliError::Consistency(format!(
            "benchmark {name}: {} anomalies, first: {first}",
            stats.anomalies
        )));
    }
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_benchmarks_are_refused() {
        assert!(parse_benchmarks("fillseq, readrandom").is_ok());
        let error = parse_benchmarks("fillseq,readrandon")
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("readrandon") && error.contains("readrandom"),
            "{error}"
        );
    }

    #[test]
    fn run_on_store_fills_then_reads_back() {
        let store = crate::cli::store::BTreeStore::default();
        let fill = run_on_store(&store, "fillrandom", 500, 3000, 2, 100, 7).unwrap();
        assert_eq!(fill.ops, 3000);
        assert!(store.stats().keys > 400, "{:?}", store.stats());
        let read = run_on_store(&store, "readrandom", 500, 1000, 2, 100, 8).unwrap();
        assert_eq!((read.ops, read.anomalies), (1000, 0));
        assert!(read.hits > 800, "{read:?}");
        let batched = run_on_store(&store, "multireadrandom", 500, 1000, 2, 100, 8).unwrap();
        assert_eq!((batched.ops, batched.anomalies), (1000, 0));
        assert_eq!(batched.hits + batched.misses, 1000);
        assert!(batched.hits > 800, "{batched:?}");
        let missing = run_on_store(&store, "readmissing", 500, 100, 1, 100, 9).unwrap();
        assert_eq!(missing.hits, 0);
        assert!(run_on_store(&store, "fillseq", 500, 10, 1, 100, 9).is_err());
    }

    #[test]
    fn every_benchmark_runs_small_on_the_baseline() {
        let dir = tempfile::tempdir().unwrap();
        let options = DbBenchOptions {
            benchmarks: BENCHMARKS.iter().map(|name| name.to_string()).collect(),
            num: 2000,
            reads: 2000,
            value_size: 100,
            threads: 2,
            histogram: true,
            seed: 301,
            engine: EngineKind::Btree,
        };
        let mut lines = Vec::new();
        let results = run(dir.path(), &options, false, |result| {
            lines.push(render(result, true))
        })
        .unwrap();
        assert_eq!(results.len(), BENCHMARKS.len());
        let by_name = |name: &str| {
            results
                .iter()
                .find(|result| result.benchmark == name)
                .unwrap()
        };
        assert_eq!(by_name("fillseq").ops, 2000);
        assert_eq!(by_name("fillsync").ops, 2);
        assert!(
            by_name("readmissing")
                .message
                .starts_with("(0 of 2000 found)")
        );
        // After fillsync wrote 2 keys and overwrite ~1264 distinct ones:
        assert!(by_name("readseq").ops > 1000, "{:?}", by_name("readseq"));
        assert!(lines[0].starts_with("fillseq      :"), "{}", lines[0]);
        assert!(lines[0].contains("MB/s") && lines[0].contains("Microseconds per op"));
        // With --histogram every operation is timed.
        let readrandom = by_name("readrandom");
        assert_eq!(readrandom.latency.count, readrandom.ops);
    }

    /// Without `--histogram`, as in LevelDB's db_bench, no operation is timed: the
    /// histograms stay empty and micros/op comes from the wall time alone.
    #[test]
    fn without_histogram_operations_are_not_timed() {
        let dir = tempfile::tempdir().unwrap();
        let options = DbBenchOptions {
            benchmarks: vec!["fillrandom".into(), "readrandom".into()],
            num: 2000,
            reads: 2000,
            value_size: 100,
            threads: 2,
            histogram: false,
            seed: 302,
            engine: EngineKind::Btree,
        };
        let results = run(dir.path(), &options, false, |_| {}).unwrap();
        for result in &results {
            assert!(result.ops > 0 && result.micros_per_op > 0.0, "{result:?}");
            assert_eq!(result.latency.count, 0, "{result:?}");
            assert!(!render(result, false).contains("Microseconds per op"));
        }
        let store = crate::cli::store::BTreeStore::default();
        run_on_store(&store, "fillrandom", 500, 1000, 1, 100, 7).unwrap();
        let read = run_on_store(&store, "readrandom", 500, 1000, 1, 100, 8).unwrap();
        assert_eq!((read.ops, read.latency.summary().count), (1000, 0));
    }
}
