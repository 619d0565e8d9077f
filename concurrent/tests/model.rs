//! Model-based tests of `ConcurrentAlexStorage` through its public API: a `BTreeMap` per
//! keyspace is the specification.
//!
//! - `sequential_ops_match_the_model` (proptest): any sequence of inserts, deletes, point
//!   reads (`get`, `get_into`, `get_with`, `multi_get`), ranges, scans, batches across
//!   keyspaces, checkpoints, compactions and reopens; along the way a secondary catches
//!   up and a read-only store is opened, and both must show exactly the model (I-8:
//!   everything acknowledged before `catch_up` / `open_readonly`).
//! - `threads_on_disjoint_keys_match_their_models`: threads writing their own keys
//!   through the shared group-commit path (with checkpoints and compactions running
//!   beside them) read their own writes at once, and the union of their models is the
//!   store's state, before and after a reopen.

use alexdb_concurrent::ConcurrentAlexStorage;
use alexdb_engine::{Config, Keyspace, SyncMode, WriteBatch};
use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::BTreeMap;
use std::ops::Bound;
use std::path::Path;

const KEYSPACES: [&str; 2] = ["default", "nodes"];

type Model = Vec<BTreeMap<i64, Vec<u8>>>;

#[derive(Clone, Debug)]
enum Op {
    Insert {
        keyspace: usize,
        key: i64,
        len: usize,
    },
    Delete {
        keyspace: usize,
        key: i64,
    },
    Get {
        keyspace: usize,
        key: i64,
        how: u8,
    },
    MultiGet {
        keys: Vec<i64>,
    },
    Range {
        keyspace: usize,
        low: i64,
        high: i64,
        limit: usize,
    },
    Scan {
        keyspace: usize,
        low: i64,
        stop_after: usize,
    },
    Batch(Vec<(usize, i64, Option<usize>)>),
    InsertBatch(Vec<(i64, usize)>),
    Checkpoint,
    Compact,
    Reopen,
    CatchUp,
    ReadOnly,
}

fn key() -> impl Strategy<Value = i64> {
    prop_oneof![
        6 => -30i64..30,
        1 => Just(i64::MIN),
        1 => Just(i64::MAX),
        1 => any::<i64>(),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    let keyspace = 0..KEYSPACES.len();
    prop_oneof![
        16 => (keyspace.clone(), key(), 0usize..200).prop_map(|(keyspace, key, len)| Op::Insert { keyspace, key, len }),
        6 => (keyspace.clone(), key()).prop_map(|(keyspace, key)| Op::Delete { keyspace, key }),
        8 => (keyspace.clone(), key(), 0u8..4).prop_map(|(keyspace, key, how)| Op::Get { keyspace, key, how }),
        2 => proptest::collection::vec(key(), 0..20).prop_map(|keys| Op::MultiGet { keys }),
        3 => (keyspace.clone(), key(), key(), 0usize..12).prop_map(|(keyspace, a, b, limit)| Op::Range { keyspace, low: a.min(b), high: a.max(b), limit }),
        2 => (keyspace.clone(), key(), 0usize..12).prop_map(|(keyspace, low, stop_after)| Op::Scan { keyspace, low, stop_after }),
        3 => proptest::collection::vec((keyspace, key(), proptest::option::of(0usize..100)), 0..12).prop_map(Op::Batch),
        2 => proptest::collection::vec((key(), 0usize..100), 0..12).prop_map(Op::InsertBatch),
        1 => Just(Op::Checkpoint),
        1 => Just(Op::Compact),
        1 => Just(Op::Reopen),
        2 => Just(Op::CatchUp),
        1 => Just(Op::ReadOnly),
    ]
}

/// A value that names its key and version, so a stale value cannot pass for a new one.
fn value(key: i64, version: u64, len: usize) -> Vec<u8> {
    let seed = format!("{key}:{version}:");
    seed.bytes().cycle().take(len).collect()
}

/// Small segments (so compaction has sealed ones to choose), no automatic maintenance
/// (the test asks for it), and `sync_mode` as given.
fn config(sync_mode: SyncMode) -> Config {
    let mut config = Config::benchmark()
        .with_segment_capacity(16 << 10)
        .with_sync_mode(sync_mode);
    config.checkpoint_every_bytes = 0;
    config.auto_compact = false;
    config.compaction_dead_ratio = 0.3;
    config
}

fn keyspaces(store: &ConcurrentAlexStorage) -> Vec<Keyspace> {
    KEYSPACES
        .iter()
        .map(|name| store.keyspace(name).expect("keyspace"))
        .collect()
}

/// Every keyspace of `store` holds exactly the model, in order, with the right length.
fn check_all(store: &ConcurrentAlexStorage, model: &Model, who: &str) {
    for (index, name) in KEYSPACES.iter().enumerate() {
        let keyspace = store.existing_keyspace(name).expect("keyspace");
        let found = store
            .range_collect_in(&keyspace, .., usize::MAX)
            .expect("range_collect");
        let expected: Vec<(i64, Vec<u8>)> =
            model[index].iter().map(|(k, v)| (*k, v.clone())).collect();
        assert_eq!(found, expected, "{who}: keyspace {name}");
    }
    assert_eq!(store.len(), model[0].len(), "{who}: len");
}

fn run(ops: Vec<Op>, sync_mode: SyncMode) {
    let dir = tempfile::tempdir().expect("temp dir");
    let open = |dir: &Path| ConcurrentAlexStorage::open_with(dir, config(sync_mode)).expect("open");
    let mut store = open(dir.path());
    let mut handles = keyspaces(&store);
    let secondary = ConcurrentAlexStorage::open_secondary(dir.path()).expect("open_secondary");
    let mut model: Model = vec![BTreeMap::new(); KEYSPACES.len()];
    let mut buf = b"junk".to_vec();
    let mut version = 0u64;
    for op in ops {
        version += 1;
        match op {
            Op::Insert { keyspace, key, len } => {
                let bytes = value(key, version, len);
                if keyspace == 0 {
                    store.insert(key, &bytes).expect("insert");
                } else {
                    store
                        .insert_in(&handles[keyspace], key, &bytes)
                        .expect("insert_in");
                }
                model[keyspace].insert(key, bytes);
            }
            Op::Delete { keyspace, key } => {
                let existed = if keyspace == 0 {
                    store.delete(key).expect("delete")
                } else {
                    store.delete_in(&handles[keyspace], key).expect("delete_in")
                };
                assert_eq!(
                    existed,
                    model[keyspace].remove(&key).is_some(),
                    "delete {key}"
                );
            }
            Op::Get { keyspace, key, how } => {
                let expected = model[keyspace].get(&key).cloned();
                let handle = &handles[keyspace];
                let found = match how {
                    0 => store.get_in(handle, key).expect("get_in"),
                    1 => store
                        .get_into_in(handle, key, &mut buf)
                        .expect("get_into_in")
                        .then(|| buf.clone()),
                    2 => store
                        .get_with_in(handle, key, <[u8]>::to_vec)
                        .expect("get_with_in"),
                    _ => {
                        let found = store.contains_key_in(handle, key).expect("contains_key_in");
                        assert_eq!(found, expected.is_some(), "contains_key_in {key}");
                        expected.clone()
                    }
                };
                assert_eq!(found, expected, "get {key} in {}", KEYSPACES[keyspace]);
                if keyspace == 0 {
                    assert_eq!(store.get(key).expect("get"), expected, "get {key}");
                }
            }
            Op::MultiGet { keys } => {
                let expected: Vec<Option<Vec<u8>>> =
                    keys.iter().map(|k| model[0].get(k).cloned()).collect();
                assert_eq!(store.multi_get(&keys).expect("multi_get"), expected);
            }
            Op::Range {
                keyspace,
                low,
                high,
                limit,
            } => {
                let expected: Vec<(i64, Vec<u8>)> = model[keyspace]
                    .range(low..=high)
                    .take(limit)
                    .map(|(k, v)| (*k, v.clone()))
                    .collect();
                let found = store
                    .range_collect_in(&handles[keyspace], low..=high, limit)
                    .expect("range_collect_in");
                assert_eq!(found, expected, "range {low}..={high} limit {limit}");
            }
            Op::Scan {
                keyspace,
                low,
                stop_after,
            } => {
                let expected: Vec<(i64, Vec<u8>)> = model[keyspace]
                    .range((Bound::Excluded(low), Bound::Unbounded))
                    .take(stop_after.max(1))
                    .map(|(k, v)| (*k, v.clone()))
                    .collect();
                let mut found = Vec::new();
                store
                    .scan_in(
                        &handles[keyspace],
                        (Bound::Excluded(low), Bound::Unbounded),
                        |k, v| {
                            found.push((k, v.to_vec()));
                            found.len() < stop_after
                        },
                    )
                    .expect("scan_in");
                assert_eq!(found, expected, "scan from {low} (excluded), {stop_after}");
            }
            Op::Batch(entries) => {
                let mut batch = WriteBatch::new();
                for (i, (keyspace, key, len)) in entries.into_iter().enumerate() {
                    match len {
                        Some(len) => {
                            let bytes = value(key, version * 1000 + i as u64, len);
                            batch.put_in(&handles[keyspace], key, &bytes);
                            model[keyspace].insert(key, bytes);
                        }
                        None => {
                            batch.delete_in(&handles[keyspace], key);
                            model[keyspace].remove(&key);
                        }
                    }
                }
                store.write(batch).expect("write");
            }
            Op::InsertBatch(entries) => {
                let values: Vec<(i64, Vec<u8>)> = entries
                    .iter()
                    .enumerate()
                    .map(|(i, &(key, len))| (key, value(key, version * 1000 + i as u64, len)))
                    .collect();
                let slices: Vec<(i64, &[u8])> =
                    values.iter().map(|(k, v)| (*k, v.as_slice())).collect();
                store.insert_batch(&slices).expect("insert_batch");
                for (key, bytes) in values {
                    model[0].insert(key, bytes);
                }
            }
            Op::Checkpoint => store.checkpoint().expect("checkpoint"),
            Op::Compact => {
                store.compact().expect("compact");
            }
            Op::Reopen => {
                store.close().expect("close");
                store = open(dir.path());
                handles = keyspaces(&store);
                check_all(&store, &model, "reopened");
            }
            Op::CatchUp => {
                secondary.catch_up().expect("catch_up");
                check_all(&secondary, &model, "secondary");
            }
            Op::ReadOnly => {
                let reader =
                    ConcurrentAlexStorage::open_readonly(dir.path()).expect("open_readonly");
                check_all(&reader, &model, "read-only");
            }
        }
    }
    check_all(&store, &model, "end");
    store.close().expect("close");
    let store = open(dir.path());
    check_all(&store, &model, "reopened at the end");
    secondary.catch_up().expect("catch_up");
    check_all(&secondary, &model, "secondary at the end");
}

proptest! {
    // A failing case shrinks for at most 30 s (each case opens stores and files). A
    // longer run: `PROPTEST_CASES=5000 cargo test -p alexdb-concurrent --release --test
    // model`.
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|cases| cases.parse().ok())
            .unwrap_or(if cfg!(debug_assertions) { 8 } else { 96 }),
        max_shrink_time: 30_000,
        ..ProptestConfig::default()
    })]

    #[test]
    fn sequential_ops_match_the_model(ops in proptest::collection::vec(op(), 1..80)) {
        run(ops, SyncMode::Off);
    }

    #[test]
    fn sequential_ops_match_the_model_under_full(ops in proptest::collection::vec(op(), 1..40)) {
        run(ops, SyncMode::Full);
    }
}

/// Keys of thread `t` of `threads`: `key % threads == t`, near zero and at the extremes.
fn thread_key(rng: &mut StdRng, t: usize, threads: usize) -> i64 {
    let base = match rng.gen_range(0..10) {
        0 => i64::MIN / threads as i64 * threads as i64,
        1 => i64::MAX / threads as i64 * threads as i64 - threads as i64,
        _ => rng.gen_range(-50i64..50) * threads as i64,
    };
    base + t as i64
}

fn threads_on_disjoint_keys(sync_mode: SyncMode, ops_per_thread: usize) {
    const THREADS: usize = 4;
    let dir = tempfile::tempdir().expect("temp dir");
    let store = ConcurrentAlexStorage::open_with(dir.path(), config(sync_mode)).expect("open");
    let handles = keyspaces(&store);
    let done = std::sync::atomic::AtomicBool::new(false);
    let models: Vec<Model> = std::thread::scope(|scope| {
        let maintainer = scope.spawn(|| {
            let mut rounds = 0;
            while !done.load(std::sync::atomic::Ordering::Acquire) {
                if rounds % 2 == 0 {
                    store.checkpoint().expect("checkpoint");
                } else {
                    store.compact().expect("compact");
                }
                rounds += 1;
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
        });
        let workers: Vec<_> = (0..THREADS)
            .map(|t| {
                let (store, handles) = (&store, &handles);
                scope.spawn(move || {
                    let mut rng = StdRng::seed_from_u64(0x5eed + t as u64);
                    let mut model: Model = vec![BTreeMap::new(); KEYSPACES.len()];
                    let mut buf = Vec::new();
                    for step in 0..ops_per_thread {
                        let keyspace = rng.gen_range(0..KEYSPACES.len());
                        let key = thread_key(&mut rng, t, THREADS);
                        let version = (t * ops_per_thread + step) as u64;
                        match rng.gen_range(0..10) {
                            0..=3 => {
                                let bytes = value(key, version, rng.gen_range(0..120));
                                store
                                    .insert_in(&handles[keyspace], key, &bytes)
                                    .expect("insert_in");
                                model[keyspace].insert(key, bytes);
                            }
                            4 => {
                                let existed =
                                    store.delete_in(&handles[keyspace], key).expect("delete_in");
                                assert_eq!(
                                    existed,
                                    model[keyspace].remove(&key).is_some(),
                                    "thread {t}: delete {key}"
                                );
                            }
                            5 => {
                                let mut batch = WriteBatch::new();
                                for i in 0..rng.gen_range(1..6) {
                                    let keyspace = rng.gen_range(0..KEYSPACES.len());
                                    let key = thread_key(&mut rng, t, THREADS);
                                    if rng.gen_bool(0.8) {
                                        let bytes =
                                            value(key, version * 10 + i, rng.gen_range(0..60));
                                        batch.put_in(&handles[keyspace], key, &bytes);
                                        model[keyspace].insert(key, bytes);
                                    } else {
                                        batch.delete_in(&handles[keyspace], key);
                                        model[keyspace].remove(&key);
                                    }
                                }
                                store.write(batch).expect("write");
                            }
                            _ => {}
                        }
                        // Read your own write (or its absence) at once.
                        let found = store
                            .get_into_in(&handles[keyspace], key, &mut buf)
                            .expect("get_into_in")
                            .then(|| buf.clone());
                        assert_eq!(
                            found,
                            model[keyspace].get(&key).cloned(),
                            "thread {t}: key {key}"
                        );
                    }
                    model
                })
            })
            .collect();
        let models = workers
            .into_iter()
            .map(|worker| worker.join().expect("worker"))
            .collect();
        done.store(true, std::sync::atomic::Ordering::Release);
        maintainer.join().expect("maintainer");
        models
    });
    let mut merged: Model = vec![BTreeMap::new(); KEYSPACES.len()];
    for model in models {
        for (index, keyspace) in model.into_iter().enumerate() {
            merged[index].extend(keyspace);
        }
    }
    check_all(&store, &merged, "after the threads");
    store.close().expect("close");
    let store = ConcurrentAlexStorage::open_with(dir.path(), config(sync_mode)).expect("reopen");
    check_all(&store, &merged, "reopened");
}

#[test]
fn threads_on_disjoint_keys_match_their_models() {
    threads_on_disjoint_keys(SyncMode::Off, 3_000);
}

#[test]
fn threads_on_disjoint_keys_match_their_models_under_full() {
    threads_on_disjoint_keys(SyncMode::Full, 300);
}
