//! Metrics: counts and error counts per operation kind are exact under concurrency,
//! latency summaries are consistent, and the cost on `get` is small.
//!
//! The cost on `get` is a timing, so it is not in the default suite (a shared, noisy
//! machine made even a 3x guard flaky when other tests ran alongside); measure it with:
//! `cargo test -p alexdb-concurrent --release --test metrics -- --ignored --nocapture get_overhead`

mod common;

use alexdb_concurrent::metrics::GET_SAMPLE_EVERY;
use alexdb_concurrent::{ConcurrentAlexStorage, OpKind};
use alexdb_engine::{Config, Error, WriteBatch};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use std::hint::black_box;
use std::time::Instant;

const THREADS: usize = 4;

/// What one thread did, counted by the test itself.
#[derive(Debug, Default, Clone, Copy)]
struct Done {
    gets: u64,
    get_samples: u64,
    inserts: u64,
    insert_errors: u64,
    deletes: u64,
    deletes_written: u64,
    batches: u64,
    scans: u64,
}

#[test]
fn counts_per_kind_are_exact_across_threads() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = Config::benchmark().with_segment_capacity(1 << 20);
    config.max_value_len = 1024;
    let store = ConcurrentAlexStorage::open_with(dir.path(), config).expect("open");
    let other = store.keyspace("other").expect("keyspace");

    let done: Vec<Done> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..THREADS)
            .map(|thread| {
                let (store, other) = (&store, &other);
                scope.spawn(move || {
                    let mut rng = StdRng::seed_from_u64(thread as u64);
                    let base = thread as i64 * 1_000_000;
                    let mut done = Done::default();
                    for i in 0..500i64 {
                        store.insert(base + i, b"value").expect("insert");
                        done.inserts += 1;
                        if i % 50 == 0 {
                            store.insert_in(other, base + i, b"v").expect("insert_in");
                            done.inserts += 1;
                            let too_big = vec![0u8; 2048];
                            assert!(matches!(
                                store.insert(base + i, &too_big),
                                Err(Error::ValueTooLarge { .. })
                            ));
                            done.inserts += 1;
                            done.insert_errors += 1;
                        }
                    }
                    for _ in 0..2_000 {
                        let key = base + rng.gen_range(0..1_000);
                        match rng.gen_range(0..3) {
                            0 => _ = black_box(store.get(key).expect("get")),
                            1 => _ = black_box(store.get_with(key, |v| v.len()).expect("get_with")),
                            _ => _ = black_box(store.get_in(other, key).expect("get_in")),
                        }
                        done.gets += 1;
                    }
                    done.get_samples = done.gets / u64::from(GET_SAMPLE_EVERY);
                    for i in 0..100i64 {
                        // Even keys exist (written above), odd ones beyond 500 do not.
                        let key = base + if i % 2 == 0 { i } else { 600 + i };
                        let existed = store.delete(key).expect("delete");
                        assert_eq!(existed, i % 2 == 0);
                        done.deletes += 1;
                        done.deletes_written += u64::from(existed);
                    }
                    for i in 0..20i64 {
                        let value = [i as u8; 16];
                        store
                            .insert_batch(&[(base + 700 + i, &value[..]), (base + 800 + i, &value)])
                            .expect("insert_batch");
                        let mut batch = WriteBatch::new();
                        batch.put(base + 900 + i, &value).delete(base + 700 + i);
                        store.write(batch).expect("write");
                        done.batches += 2;
                    }
                    for _ in 0..30 {
                        store
                            .range_collect(base..base + 100, 10)
                            .expect("range_collect");
                        store.scan(base.., |_, _| false).expect("scan");
                        done.scans += 2;
                    }
                    done
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("thread"))
            .collect()
    });

    let total = |f: fn(&Done) -> u64| done.iter().map(f).sum::<u64>();
    let metrics = store.metrics();
    let op = |kind| metrics.op(kind).clone();
    assert_eq!(op(OpKind::Get).count, total(|d| d.gets));
    assert_eq!(op(OpKind::Get).errors, 0);
    assert_eq!(op(OpKind::Get).latency.samples, total(|d| d.get_samples));
    assert_eq!(op(OpKind::Insert).count, total(|d| d.inserts));
    assert_eq!(op(OpKind::Insert).errors, total(|d| d.insert_errors));
    assert_eq!(op(OpKind::Delete).count, total(|d| d.deletes));
    assert_eq!(op(OpKind::Batch).count, total(|d| d.batches));
    assert_eq!(op(OpKind::Scan).count, total(|d| d.scans));
    // Every write that reached the log: inserts that passed validation, deletes of keys
    // that existed, every batch.
    assert_eq!(
        op(OpKind::Commit).count,
        total(|d| d.inserts - d.insert_errors + d.deletes_written + d.batches)
    );
    assert_eq!(op(OpKind::CatchUp).count, 0);
    for kind in [
        OpKind::Insert,
        OpKind::Delete,
        OpKind::Batch,
        OpKind::Scan,
        OpKind::Commit,
    ] {
        let snapshot = op(kind);
        assert_eq!(
            snapshot.latency.samples,
            snapshot.count,
            "{}: every call timed",
            kind.name()
        );
        let l = snapshot.latency;
        assert!(
            l.p50_ns <= l.p95_ns && l.p95_ns <= l.p99_ns && l.p99_ns <= l.max_ns && l.max_ns > 0,
            "{}: inconsistent summary {l:?}",
            kind.name()
        );
        assert!(l.mean_ns > 0.0 && l.mean_ns <= l.max_ns as f64);
    }
    assert!(metrics.uptime.as_nanos() > 0);
}

/// `multi_get` answers like a `get` per key (across several lock holds, with missing and
/// repeated keys, in a named keyspace too) and counts one `multi_get` per call.
#[test]
fn multi_get_answers_like_get_and_counts_one_call() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = ConcurrentAlexStorage::open_with(dir.path(), Config::benchmark()).expect("open");
    let nodes = store.keyspace("nodes").expect("keyspace");
    for key in (0..2_000i64).map(|k| k * 3) {
        store.insert(key, &key.to_le_bytes()).expect("insert");
        store
            .insert_in(&nodes, key, &(-key).to_le_bytes())
            .expect("insert");
    }
    // Every third key exists; 1,000 keys cross several lock holds; some repeat.
    let keys: Vec<i64> = (0..1_000i64).map(|i| (i * 7) % 1_500).collect();
    let expected: Vec<Option<Vec<u8>>> = keys.iter().map(|&k| store.get(k).unwrap()).collect();
    assert!(expected.iter().any(Option::is_none) && expected.iter().any(Option::is_some));
    assert_eq!(store.multi_get(&keys).expect("multi_get"), expected);
    let mut in_nodes = Vec::new();
    store
        .multi_get_with_in(&nodes, &keys, |i, value| {
            in_nodes.push((i, value.map(<[u8]>::to_vec)))
        })
        .expect("multi_get_with_in");
    let expected_nodes: Vec<(usize, Option<Vec<u8>>)> = keys
        .iter()
        .enumerate()
        .map(|(i, &k)| (i, store.get_in(&nodes, k).unwrap()))
        .collect();
    assert_eq!(in_nodes, expected_nodes);
    assert_eq!(
        store.multi_get(&[]).expect("empty"),
        Vec::<Option<Vec<u8>>>::new()
    );
    assert_eq!(store.metrics().op(OpKind::MultiGet).count, 3);
}

#[test]
fn readonly_and_secondary_count_their_errors_and_catch_ups() {
    let dir = tempfile::tempdir().expect("temp dir");
    let writer = ConcurrentAlexStorage::open_with(dir.path(), Config::benchmark()).expect("open");
    writer.insert(1, b"one").expect("insert");
    let readonly = ConcurrentAlexStorage::open_readonly(dir.path()).expect("open_readonly");
    assert!(readonly.insert(2, b"two").is_err());
    assert!(readonly.catch_up().is_err());
    let metrics = readonly.metrics();
    assert_eq!(metrics.op(OpKind::Insert).count, 1);
    assert_eq!(metrics.op(OpKind::Insert).errors, 1);
    assert_eq!(metrics.op(OpKind::Commit).count, 0);
    assert_eq!(metrics.op(OpKind::CatchUp).errors, 1);

    let secondary = ConcurrentAlexStorage::open_secondary(dir.path()).expect("open_secondary");
    for key in 2..12 {
        writer.insert(key, b"x").expect("insert");
        secondary.catch_up().expect("catch_up");
    }
    let metrics = secondary.metrics();
    assert_eq!(metrics.op(OpKind::CatchUp).count, 10);
    assert_eq!(metrics.op(OpKind::CatchUp).errors, 0);
    assert_eq!(metrics.op(OpKind::CatchUp).latency.samples, 10);
    assert_eq!(secondary.len(), 11);
    // The writer's handle has its own metrics.
    assert_eq!(writer.metrics().op(OpKind::CatchUp).count, 0);
}

/// Nanoseconds per `get`, metered and not, over the same store.
#[derive(Debug)]
struct Overhead {
    /// `ConcurrentAlexStorage::get` (metrics on).
    metered_ns: f64,
    /// The same handle's lock, store and copy through `with_storage`, no metrics.
    unmetered_ns: f64,
    /// Median over rounds of (metered / unmetered - 1), in percent.
    median_overhead: f64,
}

impl Overhead {
    fn report(&self) -> f64 {
        println!(
            "get: metered {:.1} ns, unmetered {:.1} ns (same store, lock and copy); overhead (median of rounds) {:+.1}%",
            self.metered_ns, self.unmetered_ns, self.median_overhead
        );
        self.median_overhead
    }
}

/// The metered `get` against the same handle's unmetered path (`with_storage`: the same
/// lock, the same store, the same copy; only the metrics differ). Both copy the value
/// through `black_box`, so the compiler cannot skip the copy (and the second cache line
/// of the record) on either side. Lookups run in chunks of 10,000 that alternate
/// between the two, so both see the same cache and machine conditions; each round
/// gives one ratio and the median round is reported.
fn measure_get_overhead(keys: usize, lookups: usize, rounds: usize) -> Overhead {
    const CHUNK: usize = 10_000;
    let dir = tempfile::tempdir().expect("temp dir");
    let value = [7u8; 100];
    let store = ConcurrentAlexStorage::open_with(dir.path(), Config::benchmark()).expect("open");
    let all: Vec<i64> = (0..keys as i64).map(|k| k * 3).collect();
    for chunk in all.chunks(10_000) {
        let entries: Vec<(i64, &[u8])> = chunk.iter().map(|&k| (k, &value[..])).collect();
        store.insert_batch(&entries).expect("load");
    }
    let mut order: Vec<i64> = (0..lookups).map(|i| (i % keys) as i64 * 3).collect();
    order.shuffle(&mut StdRng::seed_from_u64(1));

    let metered = |key| {
        store
            .get(key)
            .expect("get")
            .map(black_box)
            .map_or(0, |v| v.len())
    };
    // The copy leaves the lock and is freed after its release, as the metered `get`'s
    // is: freeing it under the lock makes a `get` ~40% cheaper on this machine whether
    // metered or not (docs/PERFORMANCE.md, session 9), which is not the metrics' cost.
    let unmetered = |key| {
        store
            .with_storage(|s| s.get(key).expect("get").map(<[u8]>::to_vec))
            .map(black_box)
            .map_or(0, |v| v.len())
    };
    let variants: [&dyn Fn(i64) -> usize; 2] = [&metered, &unmetered];
    // Warm both paths over every key once.
    for (i, &key) in order.iter().enumerate() {
        black_box(variants[i % 2](black_box(key)));
    }
    let mut ratios = Vec::with_capacity(rounds);
    let (mut total_metered, mut total_unmetered) = (0f64, 0f64);
    for round in 0..rounds {
        let mut nanos = [0u128; 2];
        let mut counts = [0usize; 2];
        for (c, chunk) in order.chunks(CHUNK).enumerate() {
            let variant = (c + round) % 2;
            let started = Instant::now();
            let mut bytes = 0;
            for &key in chunk {
                bytes += variants[variant](black_box(key));
            }
            black_box(bytes);
            nanos[variant] += started.elapsed().as_nanos();
            counts[variant] += chunk.len();
        }
        let per = |v: usize| nanos[v] as f64 / counts[v] as f64;
        ratios.push(per(0) / per(1));
        total_metered += per(0);
        total_unmetered += per(1);
    }
    ratios.sort_by(f64::total_cmp);
    Overhead {
        metered_ns: total_metered / rounds as f64,
        unmetered_ns: total_unmetered / rounds as f64,
        median_overhead: (ratios[rounds / 2] - 1.0) * 100.0,
    }
}

/// The ≤ 5% target, measured: 1M keys, 2M lookups per round, 9 rounds. Run alone on a
/// quiet machine: other processes' bursts land in one variant's chunks at random.
#[test]
#[ignore = "a measurement (~30 s); see docs/perf/concurrent.md"]
fn get_overhead() {
    let overhead = measure_get_overhead(1_000_000, 2_000_000, 9).report();
    assert!(
        overhead <= 5.0,
        "metrics overhead on get {overhead:.1}% > 5%"
    );
}

/// The cost of metering alone: `Metrics::start` + `Metrics::finish` for a `get` (one in
/// `GET_SAMPLE_EVERY` timed) and for an always-timed kind, per call.
#[test]
#[ignore = "a measurement (~2 s); see docs/perf/concurrent.md"]
fn metering_cost_per_call() {
    use alexdb_concurrent::metrics::Metrics;
    let metrics = Metrics::default();
    let calls = 5_000_000u32;
    for kind in [OpKind::Get, OpKind::Insert] {
        let mut best = f64::MAX;
        for _ in 0..5 {
            let started = Instant::now();
            for _ in 0..calls {
                let timer = metrics.start(black_box(kind));
                let outcome: Result<(), ()> = black_box(Ok(()));
                metrics.finish(timer, &outcome);
            }
            best = best.min(started.elapsed().as_nanos() as f64 / f64::from(calls));
        }
        println!("metering one {} call: {best:.1} ns", kind.name());
    }
    let mut best = f64::MAX;
    for _ in 0..5 {
        let started = Instant::now();
        for _ in 0..calls {
            black_box(Instant::now().elapsed());
        }
        best = best.min(started.elapsed().as_nanos() as f64 / f64::from(calls));
    }
    println!("two clock reads (Instant::now + elapsed): {best:.1} ns");
}
