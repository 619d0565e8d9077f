//! Criterion benches of the ALEX index (`alexdb_alex::AlexMap<u64>`) against
//! `BTreeMap<i64, u64>`, measured in the same run (issue 2's "Must reach" targets).
//!
//! Workloads, each on `ALEX_BENCH_KEYS` keys (default 10,000,000) with `u64` payloads:
//! - point lookups of existing keys and of missing keys, for keys uniform over the full `i64`
//!   range and for lognormal keys `floor(1e9 * LogNormal(0, 2))` (deduplicated);
//!   missing keys are drawn from the same distribution and rejected if present;
//! - the same hits as a dependent chain (each key's index depends on the previous result),
//!   which measures lookup latency rather than throughput (summary only);
//! - range scans of 100 keys from random start keys drawn from the key distribution, and
//!   (summary only, uniform keys) the seek alone and the scan's memory floor: streaming the
//!   slots 100 keys span at the index's density from random starts in two plain arrays
//!   (keys, payloads — the data nodes' layout), in the same two with every line of the
//!   span prefetched before the first read, and in one array of pairs;
//! - random inserts of N/2 uniform keys into a bulk-loaded map of the other N/2
//!   (one iteration = all N/2 inserts; the bulk load is setup, not timed);
//! - bulk load of N sorted uniform keys (absolute time; target < 1.5 s for 10M);
//! - index memory per key after bulk load, measured two ways: `stats().heap_bytes` and the
//!   live-byte delta of a counting global allocator (the same allocator measures `BTreeMap`)
//!   plus the bytes `AlexMap` carved from its bulk-load slab (`stats().slab_bytes`, memory the
//!   allocator does not see).
//!
//! Ratios: criterion does not compute ratios between functions, so after the criterion groups
//! a summary pass times every workload again (minimum of 5 passes for lookups and scans, of 2
//! for inserts and bulk loads; AlexMap and BTreeMap passes interleaved) and prints a table of
//! ops/s for both maps, the ratio and the target, and the memory figures. Each measurement is
//! taken twice: by wall clock (`Instant`) and by the thread's on-CPU time
//! (`CLOCK_THREAD_CPUTIME_ID`), because the shared 2-core machine is often loaded far
//! beyond its cores and wall-clock time then mostly measures waiting for a CPU. Set
//! `ALEX_BENCH_SUMMARY=0` to skip the summary, or `ALEX_BENCH_CRITERION=0` to run only it.
//!
//! Run: `CARGO_TARGET_DIR=... cargo bench --bench alex` (10M keys: about 3.5 CPU-minutes,
//! 9 minutes of wall clock on the loaded 2-core machine; results in docs/perf/alex.md);
//! quick: `ALEX_BENCH_KEYS=200000 cargo bench --bench alex`. All data sets come from fixed
//! seeds and are built before any timed loop. Under `cargo test --benches` (no `--bench`
//! argument) it runs as a smoke test on 20,000 keys.

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::BTreeMap;
use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use alexdb_alex::AlexMap;
use criterion::{BatchSize, Criterion, SamplingMode, Throughput};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, LogNormal};

/// A global allocator that counts live heap bytes, so both maps' memory is measured the
/// same way (and `AlexStats::heap_bytes` can be checked against it).
struct CountingAllocator;

static LIVE_BYTES: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every method forwards to `System` with the caller's arguments unchanged, so the
// `GlobalAlloc` contract is `System`'s; the counter is only bookkeeping.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded unchanged; the caller upholds `alloc`'s contract.
        let pointer = unsafe { System.alloc(layout) };
        if !pointer.is_null() {
            LIVE_BYTES.fetch_add(layout.size(), Ordering::Relaxed);
        }
        pointer
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded unchanged; the caller upholds `alloc_zeroed`'s contract.
        let pointer = unsafe { System.alloc_zeroed(layout) };
        if !pointer.is_null() {
            LIVE_BYTES.fetch_add(layout.size(), Ordering::Relaxed);
        }
        pointer
    }

    unsafe fn dealloc(&self, pointer: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged; the caller upholds `dealloc`'s contract.
        unsafe { System.dealloc(pointer, layout) };
        LIVE_BYTES.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, pointer: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded unchanged; the caller upholds `realloc`'s contract.
        let new_pointer = unsafe { System.realloc(pointer, layout, new_size) };
        if !new_pointer.is_null() {
            LIVE_BYTES.fetch_sub(layout.size(), Ordering::Relaxed);
            LIVE_BYTES.fetch_add(new_size, Ordering::Relaxed);
        }
        new_pointer
    }
}

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

fn live_bytes() -> usize {
    LIVE_BYTES.load(Ordering::Relaxed)
}

/// Builds a value and returns it with the live heap bytes it added.
fn measured<T>(build: impl FnOnce() -> T) -> (T, usize) {
    let before = live_bytes();
    let value = build();
    (value, live_bytes().saturating_sub(before))
}

const DEFAULT_KEYS: usize = 10_000_000;
const SMOKE_KEYS: usize = 20_000;
const QUERY_COUNT: usize = 1_000_000;
const SCAN_COUNT: usize = 100_000;
const SCAN_LENGTH: usize = 100;
const SEED: u64 = 0xA1E8_2020;
/// Passes per lookup and scan workload in the summary (the best one counts).
const LOOKUP_PASSES: usize = 5;

fn payload(key: i64) -> u64 {
    (key as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// One key distribution, its data and its query sets, built before any timing.
struct Dataset {
    name: &'static str,
    /// Sorted, distinct.
    pairs: Vec<(i64, u64)>,
    hits: Vec<i64>,
    misses: Vec<i64>,
    scan_starts: Vec<i64>,
}

fn sorted_distinct(
    count: usize,
    rng: &mut StdRng,
    mut draw: impl FnMut(&mut StdRng) -> i64,
) -> Vec<i64> {
    let mut keys: Vec<i64> = Vec::with_capacity(count + count / 16);
    // Bounded: each round adds count - len draws, and duplicates are rare for both
    // distributions, so a handful of rounds suffice; 64 is a generous limit.
    for _round in 0..64 {
        if keys.len() >= count {
            break;
        }
        let missing = count - keys.len();
        keys.extend((0..missing + missing / 32 + 16).map(|_| draw(rng)));
        keys.sort_unstable();
        keys.dedup();
    }
    assert!(keys.len() >= count, "could not draw {count} distinct keys");
    // Drop a random surplus (not the largest keys), then restore the order.
    keys.shuffle(rng);
    keys.truncate(count);
    keys.sort_unstable();
    keys
}

impl Dataset {
    fn build(
        name: &'static str,
        count: usize,
        seed: u64,
        draw: impl Fn(&mut StdRng) -> i64,
    ) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        let keys = sorted_distinct(count, &mut rng, &draw);
        let hits: Vec<i64> = (0..QUERY_COUNT)
            .map(|_| keys[rng.gen_range(0..keys.len())])
            .collect();
        let mut misses = Vec::with_capacity(QUERY_COUNT);
        // Bounded: at most QUERY_COUNT * 64 draws; both distributions have far more
        // missing than present keys.
        for _ in 0..QUERY_COUNT * 64 {
            if misses.len() == QUERY_COUNT {
                break;
            }
            let key = draw(&mut rng);
            if keys.binary_search(&key).is_err() {
                misses.push(key);
            }
        }
        assert_eq!(
            misses.len(),
            QUERY_COUNT,
            "{name}: could not draw missing keys"
        );
        let scan_starts: Vec<i64> = (0..SCAN_COUNT).map(|_| draw(&mut rng)).collect();
        let pairs = keys.iter().map(|&k| (k, payload(k))).collect();
        Dataset {
            name,
            pairs,
            hits,
            misses,
            scan_starts,
        }
    }
}

fn uniform_dataset(count: usize) -> Dataset {
    Dataset::build("uniform", count, SEED, |rng| rng.r#gen::<i64>())
}

fn lognormal_dataset(count: usize) -> Dataset {
    let distribution = LogNormal::<f64>::new(0.0, 2.0).expect("sigma 2 is valid");
    Dataset::build("lognormal", count, SEED + 1, move |rng| {
        // `as` saturates; values above i64::MAX need z > 15 sigma and do not occur.
        (1e9 * distribution.sample(rng)).floor() as i64
    })
}

/// Both maps over one data set, with the bytes each took to build (heap, and for `AlexMap`
/// the slab its node arrays were carved from).
struct Maps {
    alex: AlexMap<u64>,
    btree: BTreeMap<i64, u64>,
    alex_live_bytes: usize,
    btree_live_bytes: usize,
}

fn build_maps(data: &Dataset) -> Maps {
    let (alex, heap_bytes) =
        measured(|| AlexMap::bulk_load(&data.pairs).expect("sorted, distinct keys"));
    // A large bulk load puts its node arrays in a slab, outside the counted heap.
    let alex_live_bytes = heap_bytes + alex.stats().slab_bytes;
    let (btree, btree_live_bytes) = measured(|| data.pairs.iter().copied().collect());
    Maps {
        alex,
        btree,
        alex_live_bytes,
        btree_live_bytes,
    }
}

fn sum_lookups_alex(map: &AlexMap<u64>, keys: &[i64]) -> u64 {
    keys.iter()
        .map(|&k| map.get(k).copied().unwrap_or(1))
        .fold(0, u64::wrapping_add)
}

fn sum_lookups_btree(map: &BTreeMap<i64, u64>, keys: &[i64]) -> u64 {
    keys.iter()
        .map(|k| map.get(k).copied().unwrap_or(1))
        .fold(0, u64::wrapping_add)
}

/// Lookups where each key's index depends on the previous result, so the CPU cannot overlap
/// them: this measures latency, where the plain loops above measure throughput.
fn chained_lookups_alex(map: &AlexMap<u64>, keys: &[i64]) -> u64 {
    let mut acc = 0u64;
    for i in 0..keys.len() {
        let key = keys[(i + (acc & 1) as usize) % keys.len()];
        acc = acc.wrapping_add(map.get(key).copied().unwrap_or(1));
    }
    acc
}

fn chained_lookups_btree(map: &BTreeMap<i64, u64>, keys: &[i64]) -> u64 {
    let mut acc = 0u64;
    for i in 0..keys.len() {
        let key = keys[(i + (acc & 1) as usize) % keys.len()];
        acc = acc.wrapping_add(map.get(&key).copied().unwrap_or(1));
    }
    acc
}

fn sum_scans_alex(map: &AlexMap<u64>, starts: &[i64]) -> u64 {
    let mut sum = 0u64;
    for &start in starts {
        for (_, value) in map.range(start..).take(SCAN_LENGTH) {
            sum = sum.wrapping_add(*value);
        }
    }
    sum
}

fn seek_alex(map: &AlexMap<u64>, starts: &[i64]) -> u64 {
    let mut sum = 0u64;
    for &start in starts {
        if let Some((_, value)) = map.range(start..).next() {
            sum = sum.wrapping_add(*value);
        }
    }
    sum
}

fn seek_btree(map: &BTreeMap<i64, u64>, starts: &[i64]) -> u64 {
    let mut sum = 0u64;
    for &start in starts {
        if let Some((_, value)) = map.range(start..).next() {
            sum = sum.wrapping_add(*value);
        }
    }
    sum
}

fn sum_scans_btree(map: &BTreeMap<i64, u64>, starts: &[i64]) -> u64 {
    let mut sum = 0u64;
    for &start in starts {
        for (_, value) in map.range(start..).take(SCAN_LENGTH) {
            sum = sum.wrapping_add(*value);
        }
    }
    sum
}

/// The uniform keys split for the insert workload: a sorted half to bulk load and the other
/// half in random order to insert.
struct InsertSplit {
    loaded: Vec<(i64, u64)>,
    inserted: Vec<(i64, u64)>,
}

fn insert_split(data: &Dataset) -> InsertSplit {
    let mut rng = StdRng::seed_from_u64(SEED + 2);
    let mut shuffled = data.pairs.clone();
    shuffled.shuffle(&mut rng);
    let inserted = shuffled.split_off(shuffled.len() / 2);
    shuffled.sort_unstable();
    InsertSplit {
        loaded: shuffled,
        inserted,
    }
}

/// Lookups per iteration of the criterion throughput benches.
const LOOKUP_BATCH: usize = 1_000;

/// Cycles through a query set one key per criterion iteration.
struct Cycle<'a> {
    keys: &'a [i64],
    next: usize,
}

impl Cycle<'_> {
    fn key(&mut self) -> i64 {
        let key = self.keys[self.next];
        self.next += 1;
        if self.next == self.keys.len() {
            self.next = 0;
        }
        key
    }
}

fn criterion_point_and_scan(criterion: &mut Criterion, data: &Dataset, maps: &Maps) {
    for (kind, queries) in [("hit", &data.hits), ("miss", &data.misses)] {
        let mut group = criterion.benchmark_group(format!("lookup_{kind}_{}", data.name));
        group
            .warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(3));
        group.bench_function("alex", |b| {
            let mut cycle = Cycle {
                keys: queries,
                next: 0,
            };
            b.iter(|| black_box(maps.alex.get(cycle.key()).copied()))
        });
        group.bench_function("btreemap", |b| {
            let mut cycle = Cycle {
                keys: queries,
                next: 0,
            };
            b.iter(|| black_box(maps.btree.get(&cycle.key()).copied()))
        });
        group.finish();
        // Throughput: 1,000 independent lookups per iteration, the way the summary (and
        // the ALEX paper) count lookups per second; the group above is closer to latency.
        let mut group = criterion.benchmark_group(format!("lookup_{kind}_{}_x1000", data.name));
        group
            .warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(3))
            .throughput(Throughput::Elements(LOOKUP_BATCH as u64));
        group.bench_function("alex", |b| {
            let mut start = 0;
            b.iter(|| {
                let keys = &queries[start..start + LOOKUP_BATCH];
                start = (start + LOOKUP_BATCH) % (queries.len() - LOOKUP_BATCH);
                black_box(sum_lookups_alex(&maps.alex, keys))
            })
        });
        group.bench_function("btreemap", |b| {
            let mut start = 0;
            b.iter(|| {
                let keys = &queries[start..start + LOOKUP_BATCH];
                start = (start + LOOKUP_BATCH) % (queries.len() - LOOKUP_BATCH);
                black_box(sum_lookups_btree(&maps.btree, keys))
            })
        });
        group.finish();
    }
    let mut group = criterion.benchmark_group(format!("range{SCAN_LENGTH}_{}", data.name));
    group
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    group.bench_function("alex", |b| {
        let mut cycle = Cycle {
            keys: &data.scan_starts,
            next: 0,
        };
        b.iter(|| black_box(sum_scans_alex(&maps.alex, &[cycle.key()])))
    });
    group.bench_function("btreemap", |b| {
        let mut cycle = Cycle {
            keys: &data.scan_starts,
            next: 0,
        };
        b.iter(|| black_box(sum_scans_btree(&maps.btree, &[cycle.key()])))
    });
    group.finish();
}

fn criterion_inserts_and_bulk_load(criterion: &mut Criterion, data: &Dataset, split: &InsertSplit) {
    let mut group =
        criterion.benchmark_group(format!("insert_half_into_bulk_loaded_half_{}", data.name));
    group
        .sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(Duration::from_millis(1))
        .measurement_time(Duration::from_millis(1));
    group.bench_function("alex", |b| {
        b.iter_batched(
            || AlexMap::bulk_load(&split.loaded).expect("sorted, distinct keys"),
            |mut map| {
                for &(key, value) in &split.inserted {
                    map.insert(key, value);
                }
                map
            },
            BatchSize::PerIteration,
        )
    });
    group.bench_function("btreemap", |b| {
        b.iter_batched(
            || split.loaded.iter().copied().collect::<BTreeMap<i64, u64>>(),
            |mut map| {
                for &(key, value) in &split.inserted {
                    map.insert(key, value);
                }
                map
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();

    let mut group = criterion.benchmark_group(format!("bulk_load_sorted_{}", data.name));
    group
        .sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(Duration::from_millis(1))
        .measurement_time(Duration::from_millis(1));
    group.bench_function("alex", |b| {
        b.iter_with_large_drop(|| AlexMap::bulk_load(&data.pairs).expect("sorted, distinct keys"))
    });
    group.bench_function("btreemap", |b| {
        b.iter_with_large_drop(|| data.pairs.iter().copied().collect::<BTreeMap<i64, u64>>())
    });
    group.finish();
}

/// On-CPU time of the calling thread (`clock_gettime(CLOCK_THREAD_CPUTIME_ID)`): time spent
/// waiting for a CPU on the overloaded shared machine is excluded. `None` off Linux or on
/// error.
fn thread_cpu_seconds() -> Option<f64> {
    #[cfg(target_os = "linux")]
    {
        /// `struct timespec` on 64-bit Linux.
        #[repr(C)]
        struct Timespec {
            seconds: i64,
            nanoseconds: i64,
        }
        unsafe extern "C" {
            /// From the C library std already links.
            fn clock_gettime(clock_id: i32, time: *mut Timespec) -> i32;
        }
        /// `CLOCK_THREAD_CPUTIME_ID` in Linux's `<time.h>`.
        const CLOCK_THREAD_CPUTIME_ID: i32 = 3;
        let mut time = Timespec {
            seconds: 0,
            nanoseconds: 0,
        };
        // SAFETY: `time` is a valid, writable `struct timespec` (two 64-bit fields on 64-bit
        // Linux, which the compile-time check below enforces) for the duration of the call,
        // and the clock id is a constant the kernel accepts.
        let status = unsafe { clock_gettime(CLOCK_THREAD_CPUTIME_ID, &mut time) };
        (status == 0).then(|| time.seconds as f64 + time.nanoseconds as f64 / 1e9)
    }
    #[cfg(not(target_os = "linux"))]
    {
        None
    }
}

// `Timespec` above assumes 64-bit `time_t` and `long`.
#[cfg(target_os = "linux")]
const _: () = assert!(
    std::mem::size_of::<usize>() == 8,
    "the bench assumes 64-bit Linux"
);

/// Wall-clock and on-CPU seconds of one measurement (or the best of several, taken
/// separately per field).
#[derive(Clone, Copy)]
struct Timing {
    wall_seconds: f64,
    /// NaN when the platform does not report thread CPU time.
    cpu_seconds: f64,
}

impl Timing {
    const WORST: Timing = Timing {
        wall_seconds: f64::INFINITY,
        cpu_seconds: f64::INFINITY,
    };

    fn measure(work: impl FnOnce()) -> Timing {
        let cpu_before = thread_cpu_seconds();
        let started = Instant::now();
        work();
        let wall_seconds = started.elapsed().as_secs_f64();
        let cpu_seconds = match (cpu_before, thread_cpu_seconds()) {
            (Some(before), Some(after)) => after - before,
            _ => f64::NAN,
        };
        Timing {
            wall_seconds,
            cpu_seconds,
        }
    }

    fn best(self, other: Timing) -> Timing {
        Timing {
            wall_seconds: self.wall_seconds.min(other.wall_seconds),
            cpu_seconds: self.cpu_seconds.min(other.cpu_seconds),
        }
    }
}

/// The best of `passes` runs of each of `alex` and `btree`, with the runs interleaved
/// (alex, btree, alex, ...) so that a noisy period on the shared machine hits both sides
/// rather than one.
fn best_interleaved(
    passes: usize,
    mut alex: impl FnMut() -> u64,
    mut btree: impl FnMut() -> u64,
) -> (Timing, Timing) {
    let mut best = (Timing::WORST, Timing::WORST);
    for _pass in 0..passes {
        best.0 = best.0.best(Timing::measure(|| {
            black_box(alex());
        }));
        best.1 = best.1.best(Timing::measure(|| {
            black_box(btree());
        }));
    }
    best
}

/// One line of the summary table.
struct Row {
    workload: String,
    operations: usize,
    alex: Timing,
    btree: Timing,
    target: String,
    /// Minimum speed-up over `BTreeMap` the target asks for, if it is a ratio.
    ratio_target: Option<f64>,
    /// Maximum time for the AlexMap side, if the target is absolute.
    seconds_target: Option<f64>,
}

impl Row {
    fn verdict(&self, alex_seconds: f64, btree_seconds: f64) -> String {
        let ratio = btree_seconds / alex_seconds;
        match (self.ratio_target, self.seconds_target) {
            _ if alex_seconds.is_nan() => "n/a".to_string(),
            (Some(wanted), _) if ratio >= wanted => "met".to_string(),
            (Some(wanted), _) => format!("MISSED by {:.0}%", (1.0 - ratio / wanted) * 100.0),
            (None, Some(limit)) if alex_seconds < limit => format!("met ({alex_seconds:.3} s)"),
            (None, Some(limit)) => format!(
                "MISSED ({alex_seconds:.3} s, {:.0}% over)",
                (alex_seconds / limit - 1.0) * 100.0
            ),
            (None, None) => "-".to_string(),
        }
    }

    fn print(&self) {
        let alex_rate = self.operations as f64 / self.alex.wall_seconds;
        let btree_rate = self.operations as f64 / self.btree.wall_seconds;
        println!(
            "{:<38} {:>11.0} {:>11.0} {:>6.2}x {:>6.2}x  {:<9} {:<26} {}",
            self.workload,
            alex_rate,
            btree_rate,
            self.btree.wall_seconds / self.alex.wall_seconds,
            self.btree.cpu_seconds / self.alex.cpu_seconds,
            self.target,
            self.verdict(self.alex.wall_seconds, self.btree.wall_seconds),
            self.verdict(self.alex.cpu_seconds, self.btree.cpu_seconds),
        );
    }
}

fn print_table(key_count: usize, rows: &[Row]) {
    println!(
        "summary ({key_count} keys; ratio = BTreeMap time / AlexMap time, by wall clock and by \
         on-CPU time; best of {LOOKUP_PASSES} interleaved passes, inserts and bulk loads best of 2)"
    );
    println!(
        "{:<38} {:>11} {:>11} {:>7} {:>7}  {:<9} {:<26} verdict (cpu)",
        "workload", "alex", "btreemap", "wall", "cpu", "target", "verdict (wall)"
    );
    for row in rows {
        row.print();
    }
}

fn summary_point_and_scan(data: &Dataset, maps: &Maps, rows: &mut Vec<Row>) {
    let (lookup_target, hit_ratio_target) = match data.name {
        "uniform" => (">= 4x", 4.0),
        _ => (">= 2.5x", 2.5),
    };
    for (kind, queries, target, ratio_target) in [
        ("hit", &data.hits, lookup_target, Some(hit_ratio_target)),
        ("miss", &data.misses, "-", None),
    ] {
        let (alex, btree) = best_interleaved(
            LOOKUP_PASSES,
            || sum_lookups_alex(&maps.alex, queries),
            || sum_lookups_btree(&maps.btree, queries),
        );
        rows.push(Row {
            workload: format!("lookup {kind} {} (ops/s)", data.name),
            operations: queries.len(),
            alex,
            btree,
            target: target.to_string(),
            ratio_target,
            seconds_target: None,
        });
    }
    let (alex, btree) = best_interleaved(
        LOOKUP_PASSES,
        || chained_lookups_alex(&maps.alex, &data.hits),
        || chained_lookups_btree(&maps.btree, &data.hits),
    );
    rows.push(Row {
        workload: format!("lookup hit {} chained (ops/s)", data.name),
        operations: data.hits.len(),
        alex,
        btree,
        target: "-".to_string(),
        ratio_target: None,
        seconds_target: None,
    });
    let (target, ratio_target) = match data.name {
        "uniform" => (">= 2x", Some(2.0)),
        _ => ("-", None),
    };
    let (alex, btree) = best_interleaved(
        LOOKUP_PASSES,
        || sum_scans_alex(&maps.alex, &data.scan_starts),
        || sum_scans_btree(&maps.btree, &data.scan_starts),
    );
    rows.push(Row {
        workload: format!("scan {SCAN_LENGTH} {} (scans/s)", data.name),
        operations: data.scan_starts.len(),
        alex,
        btree,
        target: target.to_string(),
        ratio_target,
        seconds_target: None,
    });
}

/// Why scans of 100 stay near 1x: the seek alone (first key only), and the memory floor of
/// the scan's streaming part measured without the index — summing the same number of
/// slots a scan of [`SCAN_LENGTH`] keys spans at the index's density (8-byte keys and
/// 8-byte payloads, as the data nodes hold them: two arrays) from random starts in two
/// arrays as large as the index's, and, for comparison, in one array of pairs.
fn summary_scan_floor(data: &Dataset, maps: &Maps, rows: &mut Vec<Row>, notes: &mut Vec<String>) {
    let (alex, btree) = best_interleaved(
        LOOKUP_PASSES,
        || seek_alex(&maps.alex, &data.scan_starts),
        || seek_btree(&maps.btree, &data.scan_starts),
    );
    rows.push(Row {
        workload: format!("scan {} first key only (seeks/s)", data.name),
        operations: data.scan_starts.len(),
        alex,
        btree,
        target: "-".to_string(),
        ratio_target: None,
        seconds_target: None,
    });
    let slots_per_key = maps.alex.stats().heap_bytes as f64 / 16.0 / data.pairs.len() as f64;
    let span = ((SCAN_LENGTH as f64) * slots_per_key).ceil() as usize;
    let slots = (data.pairs.len() as f64 * slots_per_key) as usize;
    let keys: Vec<u64> = (0..slots as u64).collect();
    let vals: Vec<u64> = (0..slots as u64).map(|v| v.wrapping_mul(3)).collect();
    let pairs: Vec<(u64, u64)> = keys.iter().map(|&k| (k, k.wrapping_mul(3))).collect();
    let mut rng = StdRng::seed_from_u64(SEED + 9);
    let starts: Vec<usize> = (0..data.scan_starts.len())
        .map(|_| rng.gen_range(0..slots - span))
        .collect();
    let mut two = f64::INFINITY;
    let mut one = f64::INFINITY;
    let mut prefetched = f64::INFINITY;
    for _pass in 0..LOOKUP_PASSES {
        let started = Instant::now();
        let mut sum = 0u64;
        for &start in &starts {
            for slot in start..start + span {
                if keys[slot] & 1 == 0 {
                    sum = sum.wrapping_add(vals[slot]);
                }
            }
        }
        black_box(sum);
        two = two.min(started.elapsed().as_secs_f64());
        let started = Instant::now();
        for &start in &starts {
            for &(key, val) in &pairs[start..start + span] {
                if key & 1 == 0 {
                    sum = sum.wrapping_add(val);
                }
            }
        }
        black_box(sum);
        one = one.min(started.elapsed().as_secs_f64());
        // Two arrays again, every line of the span requested before the first is read,
        // so all its misses are in flight at once (what an iterator told its length
        // could do at best).
        let started = Instant::now();
        for &start in &starts {
            for slot in (start..start + span).step_by(8) {
                prefetch(&keys[slot]);
                prefetch(&vals[slot]);
            }
            for slot in start..start + span {
                if keys[slot] & 1 == 0 {
                    sum = sum.wrapping_add(vals[slot]);
                }
            }
        }
        black_box(sum);
        prefetched = prefetched.min(started.elapsed().as_secs_f64());
    }
    let per_scan = |seconds: f64| seconds / starts.len() as f64 * 1e9;
    notes.push(format!(
        "scan floor, {}: a scan of {SCAN_LENGTH} keys spans ~{span} slots at this density; streaming {span} slots from random starts costs {:.0} ns in two arrays (the data nodes' layout: keys, payloads), {:.0} ns in two arrays with the whole span prefetched up front, and {:.0} ns in one array of pairs, with no index work at all",
        data.name,
        per_scan(two),
        per_scan(prefetched),
        per_scan(one),
    ));
}

/// Ask the CPU to start loading the cache line of `value` (a hint; nothing off x86-64).
#[inline(always)]
fn prefetch(value: &u64) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        // SAFETY: `_mm_prefetch` needs SSE, which every x86-64 CPU has; a prefetch of a
        // valid reference reads nothing into the program and cannot fault.
        unsafe { _mm_prefetch::<_MM_HINT_T0>(std::ptr::from_ref(value).cast::<i8>()) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = value;
}

/// Times the insert workload (2 passes each, setup untimed) and reports memory afterwards.
fn summary_inserts(split: &InsertSplit, rows: &mut Vec<Row>, notes: &mut Vec<String>) {
    let mut alex_best = Timing::WORST;
    let mut btree_best = Timing::WORST;
    for _pass in 0..2 {
        let before = live_bytes();
        let mut alex = AlexMap::bulk_load(&split.loaded).expect("sorted, distinct keys");
        alex_best = alex_best.best(Timing::measure(|| {
            for &(key, value) in &split.inserted {
                alex.insert(key, value);
            }
        }));
        let alex_stats = alex.stats();
        let alex_live = live_bytes().saturating_sub(before) + alex_stats.slab_bytes;
        drop(alex);

        let before = live_bytes();
        let mut btree: BTreeMap<i64, u64> = split.loaded.iter().copied().collect();
        btree_best = btree_best.best(Timing::measure(|| {
            for &(key, value) in &split.inserted {
                btree.insert(key, value);
            }
        }));
        let btree_live = live_bytes().saturating_sub(before);
        let keys = btree.len() as f64;
        drop(btree);
        if notes.iter().all(|n| !n.starts_with("after inserts")) {
            notes.push(format!(
                "after inserts: alex {:.1} B/key live ({:.1} B/key by stats, {alex_stats:?}); btreemap {:.1} B/key live",
                alex_live as f64 / keys,
                alex_stats.heap_bytes as f64 / keys,
                btree_live as f64 / keys,
            ));
        }
    }
    rows.push(Row {
        workload: format!(
            "insert {}->{} uniform (ops/s)",
            split.loaded.len(),
            split.loaded.len() + split.inserted.len()
        ),
        operations: split.inserted.len(),
        alex: alex_best,
        btree: btree_best,
        target: ">= 2x".to_string(),
        ratio_target: Some(2.0),
        seconds_target: None,
    });
}

fn summary_bulk_load(data: &Dataset, rows: &mut Vec<Row>, notes: &mut Vec<String>) {
    let (alex, btree) = best_interleaved(
        2,
        || {
            AlexMap::bulk_load(&data.pairs)
                .expect("sorted, distinct keys")
                .len() as u64
        },
        || {
            data.pairs
                .iter()
                .copied()
                .collect::<BTreeMap<i64, u64>>()
                .len() as u64
        },
    );
    // Issue 2's target is 1.5 s for 10M keys; scaled linearly for other sizes.
    let target_seconds = 1.5 * data.pairs.len() as f64 / 1e7;
    notes.push(format!(
        "bulk load of {} sorted {} keys (best of 2, includes dropping the map): alex {:.3} s wall, \
         {:.3} s on-CPU (target < {target_seconds:.3} s); btreemap {:.3} s wall, {:.3} s on-CPU",
        data.pairs.len(),
        data.name,
        alex.wall_seconds,
        alex.cpu_seconds,
        btree.wall_seconds,
        btree.cpu_seconds,
    ));
    rows.push(Row {
        workload: format!("bulk load {} (keys/s)", data.name),
        operations: data.pairs.len(),
        alex,
        btree,
        target: format!("< {target_seconds:.2} s"),
        ratio_target: None,
        seconds_target: Some(target_seconds),
    });
}

fn memory_note(data: &Dataset, maps: &Maps) -> String {
    let keys = data.pairs.len() as f64;
    let stats = maps.alex.stats();
    let by_stats = stats.heap_bytes as f64 / keys;
    let live = maps.alex_live_bytes as f64 / keys;
    format!(
        "memory after bulk load, {} u64 payloads: alex {live:.1} B/key live, {by_stats:.1} B/key by stats ({stats:?}; target <= 24: {}); btreemap {:.1} B/key live",
        data.name,
        if live <= 24.0 { "met" } else { "MISSED" },
        maps.btree_live_bytes as f64 / keys,
    )
}

fn env_flag(name: &str) -> bool {
    std::env::var(name).map(|v| v != "0").unwrap_or(true)
}

fn main() {
    let benching = std::env::args().any(|arg| arg == "--bench");
    let requested = std::env::var("ALEX_BENCH_KEYS")
        .ok()
        .and_then(|v| v.replace('_', "").parse::<usize>().ok())
        .unwrap_or(DEFAULT_KEYS)
        .max(2);
    let key_count = if benching {
        requested
    } else {
        requested.min(SMOKE_KEYS)
    };
    let run_criterion = env_flag("ALEX_BENCH_CRITERION");
    let run_summary = env_flag("ALEX_BENCH_SUMMARY");
    let mut criterion = Criterion::default().configure_from_args();

    let mut rows = Vec::new();
    let mut notes = Vec::new();
    println!(
        "alex bench: {key_count} keys, u64 payloads, {QUERY_COUNT} lookups per pass, seed {SEED:#x}"
    );

    for dataset_index in 0..2 {
        let started = Instant::now();
        let data = if dataset_index == 0 {
            uniform_dataset(key_count)
        } else {
            lognormal_dataset(key_count)
        };
        let maps = build_maps(&data);
        println!(
            "{}: data and maps built in {:.1} s",
            data.name,
            started.elapsed().as_secs_f64()
        );
        assert_eq!(maps.alex.len(), maps.btree.len());
        assert_eq!(
            sum_lookups_alex(&maps.alex, &data.hits[..1000]),
            sum_lookups_btree(&maps.btree, &data.hits[..1000]),
            "the maps disagree"
        );
        if run_criterion {
            criterion_point_and_scan(&mut criterion, &data, &maps);
        }
        if run_summary {
            summary_point_and_scan(&data, &maps, &mut rows);
            if dataset_index == 0 {
                summary_scan_floor(&data, &maps, &mut rows, &mut notes);
            }
            notes.push(memory_note(&data, &maps));
        }
        if dataset_index == 0 {
            drop(maps);
            let split = insert_split(&data);
            if run_criterion {
                criterion_inserts_and_bulk_load(&mut criterion, &data, &split);
            }
            if run_summary {
                summary_inserts(&split, &mut rows, &mut notes);
                summary_bulk_load(&data, &mut rows, &mut notes);
            }
        }
    }
    criterion.final_summary();

    if run_summary {
        println!();
        print_table(key_count, &rows);
        for note in &notes {
            println!("{note}");
        }
        println!(
            "loadavg at end: {}",
            std::fs::read_to_string("/proc/loadavg")
                .unwrap_or_default()
                .trim()
        );
    }
}
