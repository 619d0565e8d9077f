//! Criterion benches of the storage engine (`alexdb_engine::AlexStorage`) against
//! `BTreeMap<i64, Vec<u8>>` in the same run (issue 4's "Must reach" targets).
//!
//! Data: `ENGINE_BENCH_KEYS` distinct keys (default 10,000,000) drawn uniformly from the
//! full `i64` range with a fixed seed, inserted in random order; 100-byte values (one of
//! 4,096 fixed patterns chosen by a hash of the key, so values can be checked). Stores use
//! `Config::benchmark()` (`SyncMode::Off`) in a temp dir under `ENGINE_BENCH_DIR`
//! (default `std::env::temp_dir()`); the filesystem type is printed first, because on
//! tmpfs the disk figures mean nothing.
//!
//! Workloads, at `min(1M, N)` keys and at N keys:
//! - `get` of random existing keys and of missing keys (uniform `i64`s not in the set),
//!   reading the first byte and the length of each value from both maps; the same
//!   lookups through `multi_get` in calls of 1,000 keys (an information row: the
//!   `get` targets are judged on single `get` calls);
//! - single `insert` calls into a fresh store, and `BTreeMap::insert` of a `Vec<u8>`;
//! - `insert_batch` of all N keys in one call and in batches of 100,000 (N only);
//! - reopen after `checkpoint` + `close` from the snapshot, against a full-scan rebuild
//!   (the `snapshot-*.snap` file moved out of the directory), rounds interleaved, and
//!   `open_report()` asserted to name the path taken (N only);
//! - `compact()` after deleting a random 50% of the keys (random in key and in log
//!   position) with single `delete` calls: space amplification before and after, and the
//!   reclaim rate `bytes_reclaimed / duration` (N only, once: it consumes the store);
//!   then close, reopen and count kept keys lost and deleted keys back (must be 0).
//!   `ENGINE_BENCH_DEAD_RATIO` overrides `compaction_dead_ratio` (preset: 0.5).
//!
//! Criterion times the repeatable operations (gets, 100,000 single inserts into a fresh
//! store). The one-shot operations (loads, reopen, compaction) and the ratios are timed
//! with `std::time::Instant` in a summary pass (gets: best of 5 interleaved passes of
//! 1,000,000 queries), which ends with a table of figure, target and met/missed.
//! `ENGINE_BENCH_CRITERION=0` skips criterion; `ENGINE_BENCH_SUMMARY=0` skips the
//! summary's one-shot parts (loads are still timed, since the stores must be built).
//!
//! `ENGINE_BENCH_LOG_HUGE_PAGES=off` (or `on`) overrides the preset's huge pages for the
//! log (`Config::log_huge_pages`; the preset's `Auto` is on under `SyncMode::Off`).
//!
//! `ENGINE_BENCH_ONLY=reopen` runs only the N-key store's batched load and the reopen
//! comparison; `ENGINE_BENCH_ONLY=insert` only the N-key single inserts (both for
//! iterating on one figure; the summary then lists just those).
//!
//! Run: `CARGO_TARGET_DIR=/work/target-enginebench cargo bench --bench engine`
//! (about 4 minutes at 10M keys on 2 cores); quick: `ENGINE_BENCH_KEYS=1000000 ...`.
//! Under `cargo test --benches` (no `--bench` argument) it is a smoke test on 20,000 keys.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use alexdb_engine::{AlexStorage, Config, HugePages, IndexSource};
use criterion::{BatchSize, Criterion, Throughput};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

const DEFAULT_KEYS: usize = 10_000_000;
const SMALL_KEYS: usize = 1_000_000;
const SMOKE_KEYS: usize = 20_000;
const VALUE_BYTES: usize = 100;
const VALUE_PATTERNS: usize = 4096;
const QUERY_COUNT: usize = 1_000_000;
const BATCH_KEYS: usize = 100_000;
const CRITERION_INSERTS: usize = 100_000;
const GET_PASSES: usize = 5;
const REOPEN_ROUNDS: usize = 3;
const SEED: u64 = 0xE561_2020;

fn is_bench_run() -> bool {
    std::env::args().any(|arg| arg == "--bench")
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .map(|v| v.replace('_', ""))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn env_flag(name: &str) -> bool {
    std::env::var(name).map_or(true, |v| v != "0")
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

/// The filesystem type of the mount holding `path` (longest mount-point prefix).
fn filesystem_of(path: &Path) -> String {
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
    let path = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    mounts
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            (fields.len() > 2 && path.starts_with(fields[1])).then(|| {
                (
                    fields[1].len(),
                    format!("{} ({}) on {}", fields[2], fields[0], fields[1]),
                )
            })
        })
        .max()
        .map_or_else(|| "unknown".to_string(), |(_, fs)| fs)
}

fn mix(key: i64) -> u64 {
    let mut x = key as u64;
    x ^= x >> 33;
    x = x.wrapping_mul(0xFF51_AFD7_ED55_8CCD);
    x ^ (x >> 33)
}

/// 4,096 fixed 100-byte values; a key's value is chosen by a hash of the key.
struct Values(Vec<[u8; VALUE_BYTES]>);

impl Values {
    fn new() -> Values {
        let mut rng = StdRng::seed_from_u64(SEED ^ 0x5A5A);
        Values(
            (0..VALUE_PATTERNS)
                .map(|_| {
                    let mut value = [0u8; VALUE_BYTES];
                    rng.fill(&mut value[..]);
                    value
                })
                .collect(),
        )
    }

    fn of(&self, key: i64) -> &[u8] {
        &self.0[(mix(key) % VALUE_PATTERNS as u64) as usize]
    }
}

/// Keys and queries of one size, built before any timing.
struct Dataset {
    /// Distinct uniform keys in random (insertion) order.
    keys: Vec<i64>,
    /// Keys drawn with replacement from `keys`.
    hits: Vec<i64>,
    /// Uniform keys not in `keys`.
    misses: Vec<i64>,
}

impl Dataset {
    fn build(count: usize, seed: u64) -> Dataset {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut sorted: Vec<i64> = Vec::with_capacity(count + 1024);
        // Bounded: collisions among uniform i64s are vanishingly rare; 16 rounds is ample.
        for _round in 0..16 {
            if sorted.len() >= count {
                break;
            }
            let missing = count - sorted.len();
            sorted.extend((0..missing).map(|_| rng.r#gen::<i64>()));
            sorted.sort_unstable();
            sorted.dedup();
        }
        assert_eq!(sorted.len(), count, "could not draw {count} distinct keys");
        let hits = (0..QUERY_COUNT)
            .map(|_| sorted[rng.gen_range(0..count)])
            .collect();
        let mut misses = Vec::with_capacity(QUERY_COUNT);
        while misses.len() < QUERY_COUNT {
            let key = rng.r#gen::<i64>();
            if sorted.binary_search(&key).is_err() {
                misses.push(key);
            }
        }
        let mut keys = sorted;
        keys.shuffle(&mut rng);
        Dataset { keys, hits, misses }
    }
}

fn engine_lookups(store: &AlexStorage, queries: &[i64]) -> u64 {
    let mut sum = 0u64;
    for &key in queries {
        if let Some(value) = store.get(key).expect("get") {
            sum += value[0] as u64 + value.len() as u64;
        }
    }
    sum
}

/// Keys per `multi_get` call in the summary's batched-lookup row.
const MULTI_GET_BATCH: usize = 1_000;

/// The same lookups as [`engine_lookups`], `MULTI_GET_BATCH` keys per `multi_get` call.
fn engine_multi_lookups(store: &AlexStorage, queries: &[i64]) -> u64 {
    let mut sum = 0u64;
    for batch in queries.chunks(MULTI_GET_BATCH) {
        for value in store
            .multi_get(batch)
            .expect("multi_get")
            .into_iter()
            .flatten()
        {
            sum += value[0] as u64 + value.len() as u64;
        }
    }
    sum
}

fn btree_lookups(map: &BTreeMap<i64, Vec<u8>>, queries: &[i64]) -> u64 {
    let mut sum = 0u64;
    for &key in queries {
        if let Some(value) = map.get(&key) {
            sum += value[0] as u64 + value.len() as u64;
        }
    }
    sum
}

fn rate(count: usize, elapsed: Duration) -> f64 {
    count as f64 / elapsed.as_secs_f64()
}

fn timed<T>(work: impl FnOnce() -> T) -> (T, Duration) {
    let started = Instant::now();
    let value = work();
    (value, started.elapsed())
}

fn open(dir: &Path) -> AlexStorage {
    AlexStorage::open_with(dir, bench_config()).expect("open store")
}

/// `Config::benchmark()`, with the log's huge pages from `ENGINE_BENCH_LOG_HUGE_PAGES`
/// (`auto`, the preset's, which is on under its `SyncMode::Off`; `on`; `off`): the A/B
/// switch behind docs/PERFORMANCE.md "Session 17".
fn bench_config() -> Config {
    let mut config = Config::benchmark();
    match std::env::var("ENGINE_BENCH_LOG_HUGE_PAGES").as_deref() {
        Ok("on") => config.log_huge_pages = HugePages::On,
        Ok("off") => config.log_huge_pages = HugePages::Off,
        Ok("auto") | Err(_) => {}
        Ok(other) => panic!("ENGINE_BENCH_LOG_HUGE_PAGES must be auto, on or off, not {other:?}"),
    }
    config
}

/// Removes a store's directory (and its page-cache footprint) when done with it.
fn discard(store: AlexStorage) {
    let dir = store.dir().to_path_buf();
    store.close().expect("close");
    std::fs::remove_dir_all(&dir).expect("remove store dir");
}

/// Checks a sample of keys (values and misses) so a fast wrong answer cannot pass.
fn verify(store: &AlexStorage, values: &Values, present: &[i64], absent: &[i64]) {
    for &key in present.iter().step_by(present.len().div_ceil(2000).max(1)) {
        assert_eq!(
            store.get(key).expect("get"),
            Some(values.of(key)),
            "key {key}"
        );
    }
    for &key in absent.iter().step_by(absent.len().div_ceil(2000).max(1)) {
        assert_eq!(store.get(key).expect("get"), None, "absent key {key}");
    }
}

/// One row of the final table.
struct Figure {
    name: String,
    value: String,
    target: String,
    /// `None`: informational, no target.
    met: Option<bool>,
}

#[derive(Default)]
struct Summary(Vec<Figure>);

impl Summary {
    fn info(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.0.push(Figure {
            name: name.into(),
            value: value.into(),
            target: String::new(),
            met: None,
        });
    }

    fn check(
        &mut self,
        name: impl Into<String>,
        value: impl Into<String>,
        target: impl Into<String>,
        met: bool,
    ) {
        self.0.push(Figure {
            name: name.into(),
            value: value.into(),
            target: target.into(),
            met: Some(met),
        });
    }

    fn print(&self) {
        println!("\n=== engine summary (load {}) ===", load_average());
        println!("{:<46} {:>26} {:>18}  result", "figure", "value", "target");
        for figure in &self.0 {
            let verdict = match figure.met {
                None => "",
                Some(true) => "met",
                Some(false) => "MISSED",
            };
            println!(
                "{:<46} {:>26} {:>18}  {verdict}",
                figure.name, figure.value, figure.target
            );
        }
    }
}

fn mops(per_second: f64) -> String {
    format!("{:.2} M/s", per_second / 1e6)
}

fn millis(elapsed: Duration) -> String {
    format!("{:.0} ms", elapsed.as_secs_f64() * 1e3)
}

fn label(count: usize) -> String {
    if count.is_multiple_of(1_000_000) {
        format!("{}M", count / 1_000_000)
    } else if count.is_multiple_of(1_000) {
        format!("{}K", count / 1_000)
    } else {
        count.to_string()
    }
}

fn main() {
    let bench_run = is_bench_run();
    let total = if bench_run {
        env_usize("ENGINE_BENCH_KEYS", DEFAULT_KEYS)
    } else {
        SMOKE_KEYS
    };
    assert!(total > 0, "ENGINE_BENCH_KEYS must be positive");
    let base = std::env::var_os("ENGINE_BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let root = tempfile::Builder::new()
        .prefix("alexdb-enginebench-")
        .tempdir_in(&base)
        .expect("temp dir");
    println!(
        "engine bench: {total} keys (uniform i64, seed {SEED:#x}), {VALUE_BYTES}-byte values, \
         Config::benchmark() (log huge pages {:?}); dir {} on {}; load {}",
        bench_config().log_huge_pages,
        root.path().display(),
        filesystem_of(root.path()),
        load_average()
    );
    let mut criterion = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    let run_criterion = env_flag("ENGINE_BENCH_CRITERION");
    let one_shots = env_flag("ENGINE_BENCH_SUMMARY");
    let only = std::env::var("ENGINE_BENCH_ONLY").ok();
    let only_reopen = only.as_deref() == Some("reopen");
    let only_insert = only.as_deref() == Some("insert");
    assert!(
        only.is_none() || only_reopen || only_insert,
        "ENGINE_BENCH_ONLY must be reopen or insert"
    );
    let run_criterion = run_criterion && only.is_none();
    let values = Values::new();
    let mut summary = Summary::default();
    let mut sizes = vec![total.min(SMALL_KEYS)];
    if total > SMALL_KEYS {
        sizes.push(total);
    }
    if only.is_some() {
        sizes = vec![total];
    }
    for (index, &count) in sizes.iter().enumerate() {
        let data = Dataset::build(count, SEED + index as u64);
        let store_dir = |name: &str| root.path().join(format!("{name}-{count}"));
        let size = label(count);

        // Writes: BTreeMap (kept as the lookup baseline), single engine inserts.
        if only_reopen {
            let mut store = open(&store_dir("batched"));
            let entries: Vec<(i64, &[u8])> = data.keys.iter().map(|&k| (k, values.of(k))).collect();
            for chunk in entries.chunks(BATCH_KEYS) {
                store.insert_batch(chunk).expect("insert_batch");
            }
            drop(entries);
            let store = reopen(&mut summary, &size, store, &values, &data);
            discard(store);
            continue;
        }
        let (map, btree_insert) = timed(|| {
            let mut map = BTreeMap::new();
            for &key in data.keys.iter().filter(|_| !only_insert) {
                map.insert(key, values.of(key).to_vec());
            }
            map
        });
        let (store, engine_insert) = {
            let mut store = open(&store_dir("single"));
            let ((), elapsed) = timed(|| {
                for &key in &data.keys {
                    store.insert(key, values.of(key)).expect("insert");
                }
            });
            (store, elapsed)
        };
        verify(&store, &values, &data.keys, &data.misses);
        let checkpoints = store.stats().checkpoints;
        discard(store);
        let engine_rate = rate(count, engine_insert);
        summary.check(
            format!("insert {size}: engine single insert()"),
            format!("{} ({} auto-ckpt)", mops(engine_rate), checkpoints),
            ">= 1.50 M/s",
            engine_rate >= 1.5e6,
        );
        if only_insert {
            continue;
        }
        summary.info(
            format!("insert {size}: BTreeMap insert (ratio)"),
            format!(
                "{} ({:.2}x)",
                mops(rate(count, btree_insert)),
                btree_insert.as_secs_f64() / engine_insert.as_secs_f64()
            ),
        );

        // Bulk loads: one insert_batch call (largest size only), then batches of 100K
        // (the store kept for everything below).
        let entries: Vec<(i64, &[u8])> = data.keys.iter().map(|&k| (k, values.of(k))).collect();
        let is_largest = index + 1 == sizes.len();
        if is_largest && one_shots {
            let mut store = open(&store_dir("onecall"));
            let ((), elapsed) = timed(|| store.insert_batch(&entries).expect("insert_batch"));
            verify(&store, &values, &data.keys, &data.misses);
            discard(store);
            summary.check(
                format!("insert_batch {size}: one call"),
                format!("{} ({})", millis(elapsed), mops(rate(count, elapsed))),
                if count == DEFAULT_KEYS { "< 10 s" } else { "" },
                count != DEFAULT_KEYS || elapsed < Duration::from_secs(10),
            );
        }
        let mut store = open(&store_dir("batched"));
        let ((), elapsed) = timed(|| {
            for chunk in entries.chunks(BATCH_KEYS) {
                store.insert_batch(chunk).expect("insert_batch");
            }
        });
        drop(entries);
        verify(&store, &values, &data.keys, &data.misses);
        summary.check(
            format!("insert_batch {size}: batches of 100K"),
            format!("{} ({})", millis(elapsed), mops(rate(count, elapsed))),
            if count == DEFAULT_KEYS { "< 10 s" } else { "" },
            count != DEFAULT_KEYS || elapsed < Duration::from_secs(10),
        );

        // Reads.
        if run_criterion {
            criterion_gets(&mut criterion, &size, &store, &map, &data);
            if index == 0 {
                criterion_inserts(&mut criterion, root.path(), &values, &data);
            }
        }
        summary_gets(&mut summary, &size, &store, &map, &data);
        drop(map);

        if is_largest && one_shots {
            let store = reopen(&mut summary, &size, store, &values, &data);
            compaction(&mut summary, &size, store, &values, &data);
        } else {
            discard(store);
        }
    }
    if run_criterion {
        criterion.final_summary();
    }
    summary.print();
}

fn criterion_gets(
    criterion: &mut Criterion,
    size: &str,
    store: &AlexStorage,
    map: &BTreeMap<i64, Vec<u8>>,
    data: &Dataset,
) {
    let mut group = criterion.benchmark_group(format!("get_{size}"));
    group.throughput(Throughput::Elements(1));
    for (name, queries) in [("hit", &data.hits), ("miss", &data.misses)] {
        let mut next = 0usize;
        group.bench_function(format!("engine_{name}"), |b| {
            b.iter(|| {
                next = (next + 1) % queries.len();
                black_box(store.get(queries[next]).expect("get").map(|v| v[0]))
            })
        });
        let mut next = 0usize;
        group.bench_function(format!("btreemap_{name}"), |b| {
            b.iter(|| {
                next = (next + 1) % queries.len();
                black_box(map.get(&queries[next]).map(|v| v[0]))
            })
        });
    }
    group.finish();
}

/// A store that removes its directory when dropped (criterion drops routine outputs
/// outside the timed section).
struct Scratch(Option<AlexStorage>);

impl Drop for Scratch {
    fn drop(&mut self) {
        if let Some(store) = self.0.take() {
            discard(store);
        }
    }
}

/// 100,000 single inserts (the first keys of the data set) into a fresh store per
/// iteration; opening the store and removing it are not timed.
fn criterion_inserts(criterion: &mut Criterion, root: &Path, values: &Values, data: &Dataset) {
    let keys = &data.keys[..CRITERION_INSERTS.min(data.keys.len())];
    let mut group = criterion.benchmark_group("insert_100K_fresh");
    group.throughput(Throughput::Elements(keys.len() as u64));
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(5));
    let mut opened = 0u64;
    group.bench_function("engine_insert", |b| {
        b.iter_batched(
            || {
                opened += 1;
                Scratch(Some(open(&root.join(format!("criterion-insert-{opened}")))))
            },
            |mut scratch| {
                let store = scratch.0.as_mut().expect("set up just above");
                for &key in keys {
                    store.insert(key, values.of(key)).expect("insert");
                }
                scratch
            },
            BatchSize::PerIteration,
        )
    });
    group.bench_function("btreemap_insert", |b| {
        b.iter_batched(
            BTreeMap::new,
            |mut map| {
                for &key in keys {
                    map.insert(key, values.of(key).to_vec());
                }
                map
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

fn summary_gets(
    summary: &mut Summary,
    size: &str,
    store: &AlexStorage,
    map: &BTreeMap<i64, Vec<u8>>,
    data: &Dataset,
) {
    for (name, queries) in [("hit", &data.hits), ("miss", &data.misses)] {
        let mut best_engine = Duration::MAX;
        let mut best_btree = Duration::MAX;
        let mut best_multi = Duration::MAX;
        for _pass in 0..GET_PASSES {
            let (sum, elapsed) = timed(|| engine_lookups(store, queries));
            black_box(sum);
            best_engine = best_engine.min(elapsed);
            let (multi_sum, elapsed) = timed(|| engine_multi_lookups(store, queries));
            assert_eq!(multi_sum, sum, "multi_get answers as get does");
            best_multi = best_multi.min(elapsed);
            let (sum, elapsed) = timed(|| btree_lookups(map, queries));
            black_box(sum);
            best_btree = best_btree.min(elapsed);
        }
        let engine_rate = rate(queries.len(), best_engine);
        let ratio = best_btree.as_secs_f64() / best_engine.as_secs_f64();
        summary.check(
            format!("get {size} {name}: engine vs BTreeMap"),
            format!(
                "{} / {} = {ratio:.2}x",
                mops(engine_rate),
                mops(rate(queries.len(), best_btree))
            ),
            ">= 1.50x",
            ratio >= 1.5,
        );
        summary.info(
            format!(
                "get {size} {name}: multi_get of {MULTI_GET_BATCH} keys (ratio to BTreeMap get)"
            ),
            format!(
                "{} ({:.2}x)",
                mops(rate(queries.len(), best_multi)),
                best_btree.as_secs_f64() / best_multi.as_secs_f64()
            ),
        );
        if name == "hit" && size == "1M" {
            summary.check(
                "get 1M hit: engine rate",
                mops(engine_rate),
                ">= 4.00 M/s",
                engine_rate >= 4e6,
            );
        }
    }
}

fn snapshot_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("read store dir")
        .map(|entry| entry.expect("dir entry").path())
        .filter(|path| {
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            name.starts_with("snapshot-") && name.ends_with(".snap")
        })
        .collect();
    files.sort();
    files
}

/// Checkpoint and close, then reopen alternately from the snapshot and by a full scan
/// (the snapshot moved out of the directory and back), asserting the path each took.
fn reopen(
    summary: &mut Summary,
    size: &str,
    mut store: AlexStorage,
    values: &Values,
    data: &Dataset,
) -> AlexStorage {
    let dir = store.dir().to_path_buf();
    let ((), checkpoint) = timed(|| store.checkpoint().expect("checkpoint"));
    store.close().expect("close");
    let snapshots = snapshot_files(&dir);
    assert_eq!(
        snapshots.len(),
        1,
        "one snapshot after checkpoint: {snapshots:?}"
    );
    let snapshot = snapshots[0].clone();
    let aside = dir.with_extension("snap-aside");
    let mut best_snapshot = Duration::MAX;
    let mut best_scan = Duration::MAX;
    for _round in 0..REOPEN_ROUNDS {
        let (store, elapsed) = timed(|| open(&dir));
        assert!(
            matches!(
                store.open_report().source,
                IndexSource::Snapshot {
                    replayed_records: 0,
                    ..
                }
            ),
            "expected a snapshot open: {:?}",
            store.open_report().source
        );
        assert_eq!(store.len(), data.keys.len());
        verify(&store, values, &data.hits, &data.misses);
        store.close().expect("close");
        best_snapshot = best_snapshot.min(elapsed);

        std::fs::rename(&snapshot, &aside).expect("move snapshot aside");
        let (store, elapsed) = timed(|| open(&dir));
        assert!(
            matches!(store.open_report().source, IndexSource::FullScan { .. }),
            "expected a full-scan open: {:?}",
            store.open_report().source
        );
        assert_eq!(store.len(), data.keys.len());
        verify(&store, values, &data.hits, &data.misses);
        // Dropped, not closed: `close` would checkpoint the log this open replayed (all
        // of it) and so replace the snapshot set aside.
        drop(store);
        std::fs::rename(&aside, &snapshot).expect("restore snapshot");
        best_scan = best_scan.min(elapsed);
    }
    let share = best_snapshot.as_secs_f64() / best_scan.as_secs_f64();
    summary.info(
        format!("checkpoint {size} (sync + snapshot)"),
        millis(checkpoint),
    );
    summary.check(
        format!("reopen {size}: from snapshot"),
        millis(best_snapshot),
        if size == "10M" { "< 2 s" } else { "" },
        size != "10M" || best_snapshot < Duration::from_secs(2),
    );
    summary.info(
        format!("reopen {size}: full-scan rebuild"),
        millis(best_scan),
    );
    summary.check(
        format!("reopen {size}: snapshot / full scan"),
        format!("{:.1}%", share * 100.0),
        "<= 25%",
        share <= 0.25,
    );
    AlexStorage::open_with(&dir, compaction_config()).expect("reopen")
}

/// `Config::benchmark()` with the compaction threshold from `ENGINE_BENCH_DEAD_RATIO`
/// (default: the preset's).
fn compaction_config() -> Config {
    let mut config = bench_config();
    if let Some(ratio) = std::env::var("ENGINE_BENCH_DEAD_RATIO")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        config.compaction_dead_ratio = ratio;
    }
    config
}

/// Delete a random half of the keys (random in key and in log position), then compact
/// once; then close, reopen, and count keys lost or resurrected.
fn compaction(
    summary: &mut Summary,
    size: &str,
    mut store: AlexStorage,
    values: &Values,
    data: &Dataset,
) {
    let mut order = data.keys.clone();
    order.shuffle(&mut StdRng::seed_from_u64(SEED ^ 0xDE1E7E));
    let (deleted, kept) = order.split_at(order.len() / 2);
    let ((), elapsed) = timed(|| {
        for &key in deleted {
            assert!(store.delete(key).expect("delete"), "key {key} existed");
        }
    });
    summary.info(
        format!("delete 50% of {size}: single delete()"),
        mops(rate(deleted.len(), elapsed)),
    );
    let before = store.stats();
    let (report, wall) = timed(|| store.compact().expect("compact"));
    let after = store.stats();
    assert_eq!(store.len(), kept.len());
    verify(&store, values, kept, deleted);
    println!("compaction: before {before:?}\nreport {report:?}\nafter {after:?}");
    summary.info(
        format!("compact {size}: dead ratio threshold"),
        format!("{}", store.config().compaction_dead_ratio),
    );
    summary.info(
        format!("compact {size}: segments in/out"),
        format!(
            "{}/{} of {}",
            report.segments_in, report.segments_out, before.segments
        ),
    );
    summary.info(
        format!("compact {size}: tombstones kept/dropped"),
        format!("{}/{}", report.tombstones_kept, report.tombstones_dropped),
    );
    summary.info(
        format!("compact {size}: space amp before"),
        format!("{:.3}", before.space_amplification),
    );
    summary.check(
        format!("compact {size}: space amp after"),
        format!("{:.3}", after.space_amplification),
        "<= 1.10",
        after.space_amplification <= 1.1,
    );
    let reclaim = report.bytes_reclaimed as f64 / report.duration.as_secs_f64() / 1e6;
    summary.check(
        format!("compact {size}: reclaim rate"),
        format!(
            "{reclaim:.0} MB/s ({:.0} MB in {})",
            report.bytes_reclaimed as f64 / 1e6,
            millis(report.duration)
        ),
        ">= 200 MB/s",
        reclaim >= 200.0,
    );
    summary.info(
        format!("compact {size}: wall time of compact()"),
        millis(wall),
    );

    // Correctness after the compaction survives a reopen (counted, not asserted, so the
    // table is printed either way).
    let dir = store.dir().to_path_buf();
    store.close().expect("close");
    let store = AlexStorage::open_with(&dir, compaction_config()).expect("reopen");
    println!("reopen after compaction: {:?}", store.open_report());
    let lost = kept
        .iter()
        .filter(|&&key| store.get(key).expect("get") != Some(values.of(key)))
        .count();
    let resurrected = deleted
        .iter()
        .filter(|&&key| store.get(key).expect("get").is_some())
        .count();
    let source = match &store.open_report().source {
        IndexSource::Snapshot { .. } => "snapshot",
        IndexSource::FullScan { .. } => "full scan",
    };
    summary.check(
        format!("compact {size}: reopen afterwards ({source})"),
        format!("{} keys, {lost} lost, {resurrected} back", store.len()),
        "0 lost, 0 back",
        lost == 0 && resurrected == 0 && store.len() == kept.len(),
    );
    discard(store);
}
