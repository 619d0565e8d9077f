//! Model-based test: `AlexStorage` behaves like a `BTreeMap` per keyspace for any
//! sequence of inserts, overwrites, deletes, gets, ranges, batches, checkpoints,
//! compactions, reopens, and reopens without a snapshot (invariant I-5).

use alexdb_engine::{AlexStorage, Config, IndexSource, WriteBatch};
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::path::Path;

const KEYSPACES: [&str; 3] = ["default", "nodes", "edges"];

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
    },
    MultiGet {
        keyspace: usize,
        keys: Vec<i64>,
    },
    Range {
        keyspace: usize,
        low: i64,
        high: i64,
        /// Step `i` takes from the back if `directions[i]`, else from the front; the
        /// rest is drained from the front.
        directions: Vec<bool>,
    },
    Batch(Vec<(usize, i64, Option<usize>)>),
    Checkpoint,
    Compact,
    Reopen,
    ReopenWithoutSnapshot,
}

fn key() -> impl Strategy<Value = i64> {
    prop_oneof![
        4 => -40i64..40,
        1 => Just(i64::MIN),
        1 => Just(i64::MAX),
        1 => any::<i64>(),
        1 => (i64::MAX - 5)..=i64::MAX,
        1 => i64::MIN..(i64::MIN + 5),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    let keyspace = 0..KEYSPACES.len();
    prop_oneof![
        20 => (keyspace.clone(), key(), 0usize..300).prop_map(|(keyspace, key, len)| Op::Insert { keyspace, key, len }),
        8 => (keyspace.clone(), key()).prop_map(|(keyspace, key)| Op::Delete { keyspace, key }),
        8 => (keyspace.clone(), key()).prop_map(|(keyspace, key)| Op::Get { keyspace, key }),
        3 => (keyspace.clone(), proptest::collection::vec(key(), 0..40)).prop_map(|(keyspace, keys)| Op::MultiGet { keyspace, keys }),
        3 => (keyspace.clone(), key(), key(), prop_oneof![
                Just(Vec::new()),
                Just(vec![true; 100]),
                proptest::collection::vec(any::<bool>(), 0..40),
            ]).prop_map(|(keyspace, a, b, directions)| Op::Range { keyspace, low: a.min(b), high: a.max(b), directions }),
        4 => proptest::collection::vec((keyspace.clone(), key(), proptest::option::of(0usize..200)), 0..20).prop_map(Op::Batch),
        // From 256 entries a batch is applied in key order (the same key several times
        // over, in both keyspaces, must still end at its last entry).
        1 => proptest::collection::vec((keyspace, key(), proptest::option::of(0usize..40)), 256..320).prop_map(Op::Batch),
        1 => Just(Op::Checkpoint),
        1 => Just(Op::Compact),
        1 => Just(Op::Reopen),
        1 => Just(Op::ReopenWithoutSnapshot),
    ]
}

/// A value that names its key and version, so a stale value cannot pass for a new one.
fn value(key: i64, version: u64, len: usize) -> Vec<u8> {
    let seed = format!("{key}:{version}:");
    seed.bytes().cycle().take(len).collect()
}

fn config() -> Config {
    let mut config = Config::benchmark().with_segment_capacity(16 << 10);
    config.checkpoint_every_bytes = 0;
    config.auto_compact = false;
    config.compaction_dead_ratio = 0.3;
    config
}

fn open(dir: &Path) -> AlexStorage {
    AlexStorage::open_with(dir, config()).expect("open")
}

/// [`config`] with the automatic maintenance on: checkpoints from 2 KiB of log on,
/// growing with it (`checkpoint_growth` 1.0), a compaction after each when due, and the
/// checkpoint a clean `close` writes.
fn maintained_config() -> Config {
    let mut config = config();
    config.checkpoint_every_bytes = 2 << 10;
    config.checkpoint_growth = 1.0;
    config.auto_compact = true;
    config
}

type Model = Vec<BTreeMap<i64, Vec<u8>>>;

fn check_all(storage: &mut AlexStorage, model: &Model) {
    for (index, name) in KEYSPACES.iter().enumerate() {
        let keyspace = storage.keyspace(name).expect("keyspace");
        let found: Vec<(i64, Vec<u8>)> = storage
            .range_in(&keyspace, ..)
            .expect("range")
            .map(|item| item.map(|(k, v)| (k, v.to_vec())).expect("record"))
            .collect();
        let expected: Vec<(i64, Vec<u8>)> =
            model[index].iter().map(|(k, v)| (*k, v.clone())).collect();
        assert_eq!(found, expected, "keyspace {name}");
        assert_eq!(storage.len_in(&keyspace).unwrap(), model[index].len());
    }
}

fn run(ops: Vec<Op>) {
    run_with(ops, &config());
}

fn run_with(ops: Vec<Op>, config: &Config) {
    let open = |dir: &Path| AlexStorage::open_with(dir, config.clone()).expect("open");
    let dir = tempfile::tempdir().expect("temp dir");
    let mut storage = open(dir.path());
    let mut model: Model = vec![BTreeMap::new(); KEYSPACES.len()];
    let mut version = 0u64;
    for op in ops {
        version += 1;
        match op {
            Op::Insert { keyspace, key, len } => {
                let handle = storage.keyspace(KEYSPACES[keyspace]).unwrap();
                let value = value(key, version, len);
                storage.insert_in(&handle, key, &value).unwrap();
                model[keyspace].insert(key, value);
            }
            Op::Delete { keyspace, key } => {
                let handle = storage.keyspace(KEYSPACES[keyspace]).unwrap();
                let existed = storage.delete_in(&handle, key).unwrap();
                assert_eq!(existed, model[keyspace].remove(&key).is_some());
            }
            Op::Get { keyspace, key } => {
                let handle = storage.keyspace(KEYSPACES[keyspace]).unwrap();
                let found = storage.get_in(&handle, key).unwrap().map(<[u8]>::to_vec);
                assert_eq!(found.as_ref(), model[keyspace].get(&key));
            }
            Op::MultiGet { keyspace, keys } => {
                let handle = storage.keyspace(KEYSPACES[keyspace]).unwrap();
                let found: Vec<Option<Vec<u8>>> = storage
                    .multi_get_in(&handle, &keys)
                    .unwrap()
                    .into_iter()
                    .map(|value| value.map(<[u8]>::to_vec))
                    .collect();
                let expected: Vec<Option<Vec<u8>>> = keys
                    .iter()
                    .map(|key| model[keyspace].get(key).cloned())
                    .collect();
                assert_eq!(found, expected, "multi_get {keys:?}");
            }
            Op::Range {
                keyspace,
                low,
                high,
                directions,
            } => {
                let handle = storage.keyspace(KEYSPACES[keyspace]).unwrap();
                let mut range = storage.range_in(&handle, low..=high).unwrap();
                let mut expected: std::collections::VecDeque<(i64, Vec<u8>)> = model[keyspace]
                    .range(low..=high)
                    .map(|(k, v)| (*k, v.clone()))
                    .collect();
                let owned = |item: Option<alexdb_engine::Result<(i64, &[u8])>>| {
                    item.map(|r| r.map(|(k, v)| (k, v.to_vec())).unwrap())
                };
                for back in directions {
                    if back {
                        assert_eq!(owned(range.next_back()), expected.pop_back());
                    } else {
                        assert_eq!(owned(range.next()), expected.pop_front());
                    }
                }
                let rest: Vec<(i64, Vec<u8>)> = range
                    .map(|r| r.map(|(k, v)| (k, v.to_vec())).unwrap())
                    .collect();
                assert_eq!(rest, Vec::from(expected));
            }
            Op::Batch(items) => {
                let mut batch = WriteBatch::new();
                let mut staged = model.clone();
                for (index, (keyspace, key, len)) in items.into_iter().enumerate() {
                    let handle = storage.keyspace(KEYSPACES[keyspace]).unwrap();
                    match len {
                        Some(len) => {
                            let value = value(key, version * 1000 + index as u64, len);
                            batch.put_in(&handle, key, &value);
                            staged[keyspace].insert(key, value);
                        }
                        None => {
                            batch.delete_in(&handle, key);
                            staged[keyspace].remove(&key);
                        }
                    }
                }
                storage.write(batch).unwrap();
                model = staged;
            }
            Op::Checkpoint => storage.checkpoint().unwrap(),
            Op::Compact => {
                let before = storage.stats();
                let report = storage.compact().unwrap();
                let after = storage.stats();
                assert_eq!(before.keys, after.keys);
                assert!(after.written_bytes <= before.written_bytes + report.bytes_written);
            }
            Op::Reopen => {
                storage.close().unwrap();
                storage = open(dir.path());
            }
            Op::ReopenWithoutSnapshot => {
                storage.close().unwrap();
                for entry in std::fs::read_dir(dir.path()).unwrap() {
                    let path = entry.unwrap().path();
                    if path.extension().is_some_and(|e| e == "snap") {
                        std::fs::remove_file(path).unwrap();
                    }
                }
                storage = open(dir.path());
                assert!(
                    matches!(storage.open_report().source, IndexSource::FullScan { .. }),
                    "{:?}",
                    storage.open_report()
                );
            }
        }
        let stats = storage.stats();
        assert!(stats.live_bytes <= stats.written_bytes);
    }
    check_all(&mut storage, &model);
    // A snapshot-based reopen and a full-scan reopen of the final state agree.
    storage.checkpoint().unwrap();
    storage.close().unwrap();
    let mut storage = open(dir.path());
    assert!(matches!(
        storage.open_report().source,
        IndexSource::Snapshot { .. }
    ));
    check_all(&mut storage, &model);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn storage_matches_a_btreemap_model(ops in proptest::collection::vec(op(), 1..160)) {
        run(ops);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn with_automatic_maintenance_storage_matches_a_btreemap_model(
        ops in proptest::collection::vec(op(), 1..160)
    ) {
        run_with(ops, &maintained_config());
    }
}

#[test]
fn many_overwrites_and_deletes_then_compaction_and_reopen() {
    // A deterministic long run that forces many segment rolls and compactions.
    let mut ops = Vec::new();
    for round in 0..3000i64 {
        ops.push(Op::Insert {
            keyspace: (round % 3) as usize,
            key: round % 97,
            len: 100,
        });
        if round % 5 == 0 {
            ops.push(Op::Delete {
                keyspace: (round % 3) as usize,
                key: (round * 7) % 97,
            });
        }
        if round % 500 == 499 {
            ops.push(Op::Compact);
            ops.push(Op::Reopen);
        }
        if round % 1200 == 1199 {
            ops.push(Op::ReopenWithoutSnapshot);
        }
    }
    run(ops);
}

/// Long ranges taken from both ends in several patterns: the look-ahead buffers of the
/// two ends fill up, meet in the middle and hand each other their entries, and every key
/// comes out once, in order, with its own value.
#[test]
fn long_ranges_from_both_ends_meet_exactly_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut storage = open(dir.path());
    // Written in an order unrelated to key order, so records are scattered in the log.
    let keys: Vec<i64> = (0..1_000i64).map(|i| (i * 7_919) % 1_000 * 3).collect();
    for &key in &keys {
        storage.insert(key, &value(key, 1, 20)).expect("insert");
    }
    let expected: Vec<i64> = (0..1_000i64).map(|k| k * 3).collect();
    for pattern in [
        vec![false],
        vec![true],
        vec![false, true],
        vec![true, true, false],
        vec![
            false, false, false, false, false, false, false, false, false, true,
        ],
    ] {
        for (low, high) in [(0, 2_997), (10, 200), (1_000, 1_030), (3, 3)] {
            let mut range = storage.range(low..=high);
            let mut want: std::collections::VecDeque<i64> = expected
                .iter()
                .copied()
                .filter(|k| (low..=high).contains(k))
                .collect();
            for step in 0.. {
                let item = if pattern[step % pattern.len()] {
                    (range.next_back(), want.pop_back())
                } else {
                    (range.next(), want.pop_front())
                };
                match item {
                    (None, None) => break,
                    (Some(found), Some(key)) => {
                        let (found_key, found_value) = found.expect("record");
                        assert_eq!(found_key, key, "pattern {pattern:?} in {low}..={high}");
                        assert_eq!(found_value, &value(key, 1, 20)[..]);
                    }
                    (found, key) => panic!(
                        "pattern {pattern:?} in {low}..={high}: got {:?}, wanted {key:?}",
                        found.map(|f| f.map(|(k, _)| k))
                    ),
                }
            }
            assert!(range.next().is_none() && range.next_back().is_none());
        }
    }
}
