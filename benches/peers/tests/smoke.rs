//! Every store through a few hundred operations against a `BTreeMap` model: values read
//! back, delete's answer, scan order across negative keys, data kept by reopen.
//! `cargo test --manifest-path benches/peers/Cargo.toml --release`

use alexdb::cli::store::KvStore;
use alexdb::cli::workload::dbbench;
use alexdb::cli::workload::ycsb::{self, Workload, YcsbOptions};
use alexdb_peers::{Durability, StoreKind, open_store};
use std::collections::BTreeMap;

fn kinds() -> Vec<StoreKind> {
    let mut kinds = vec![
        StoreKind::Alexdb,
        StoreKind::Lmdb,
        StoreKind::Redb,
        StoreKind::Fjall,
        StoreKind::Btree,
    ];
    if cfg!(feature = "rocksdb") {
        kinds.push(StoreKind::Rocksdb);
    }
    kinds
}

/// A small deterministic generator (xorshift), so the test needs no RNG crate.
struct Xorshift(u64);

impl Xorshift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn scan_all(store: &dyn KvStore, start: i64, count: usize) -> Vec<(i64, Vec<u8>)> {
    let mut seen = Vec::new();
    let returned = store
        .scan(start, count, &mut |key, value| {
            seen.push((key, value.to_vec()))
        })
        .unwrap();
    assert_eq!(returned, seen.len());
    seen
}

fn check_against_model(store: &dyn KvStore, model: &BTreeMap<i64, Vec<u8>>, label: &str) {
    let mut out = Vec::new();
    for (key, value) in model {
        assert!(store.get(*key, &mut out).unwrap(), "{label}: {key} missing");
        assert_eq!(&out, value, "{label}: value of {key}");
    }
    let all = scan_all(store, i64::MIN, usize::MAX);
    let expected: Vec<(i64, Vec<u8>)> = model.iter().map(|(k, v)| (*k, v.clone())).collect();
    assert_eq!(all, expected, "{label}: full scan");
}

fn exercise(kind: StoreKind, durability: Durability) {
    let label = format!("{} {}", kind.name(), durability.name());
    let dir = tempfile::tempdir().unwrap();
    let mut store = open_store(kind, &dir.path().join("db"), durability).unwrap();
    let mut model: BTreeMap<i64, Vec<u8>> = BTreeMap::new();
    let mut out = Vec::new();

    // Edge keys and signs: byte order must be integer order.
    let edges = [i64::MIN, -1_000_000, -256, -1, 0, 1, 255, 256, i64::MAX];
    let values: Vec<Vec<u8>> = edges.iter().map(|k| k.to_le_bytes().to_vec()).collect();
    let items: Vec<(i64, &[u8])> = edges
        .iter()
        .copied()
        .zip(values.iter().map(Vec::as_slice))
        .collect();
    store.put_batch(&items).unwrap();
    for (key, value) in edges.iter().zip(&values) {
        model.insert(*key, value.clone());
    }
    let from_minus = scan_all(&*store, -300, 4);
    let keys: Vec<i64> = from_minus.iter().map(|(k, _)| *k).collect();
    assert_eq!(keys, vec![-256, -1, 0, 1], "{label}");
    assert_eq!(scan_all(&*store, 257, 10).len(), 1, "{label}");
    assert_eq!(store.scan(0, 0, &mut |_, _| {}).unwrap(), 0, "{label}");

    // A few hundred random puts, batches, deletes and gets against the model.
    let mut rng = Xorshift(0x5EED ^ kind as u64);
    for step in 0..400u64 {
        let key = (rng.next() % 200) as i64 - 100;
        match rng.next() % 4 {
            0 => {
                let value = format!("v{step}-{key}").into_bytes();
                store.put(key, &value).unwrap();
                model.insert(key, value);
            }
            1 => {
                let value = vec![step as u8; 100];
                let other = key.wrapping_mul(7);
                store.put_batch(&[(key, &value), (other, &value)]).unwrap();
                model.insert(key, value.clone());
                model.insert(other, value);
            }
            2 => {
                let existed = store.delete(key).unwrap();
                assert_eq!(
                    existed,
                    model.remove(&key).is_some(),
                    "{label}: delete {key}"
                );
            }
            _ => {
                let found = store.get(key, &mut out).unwrap();
                assert_eq!(found, model.contains_key(&key), "{label}: get {key}");
                if let Some(value) = model.get(&key) {
                    assert_eq!(&out, value, "{label}: get {key}");
                }
            }
        }
    }
    check_against_model(&*store, &model, &label);
    assert!(!store.delete(12345).unwrap(), "{label}");
    assert_eq!(store.stats().keys, model.len() as u64, "{label}: stats");

    store.checkpoint().unwrap();
    store.compact().unwrap();
    store.reopen().unwrap();
    check_against_model(&*store, &model, &format!("{label} after reopen"));
}

#[test]
fn every_store_matches_a_map_in_both_durabilities() {
    for kind in kinds() {
        for durability in [Durability::Fast, Durability::Durable] {
            exercise(kind, durability);
        }
    }
}

#[test]
fn every_store_runs_the_workload_drivers_without_anomalies() {
    for kind in kinds().into_iter().chain([StoreKind::Null]) {
        for workload in [Workload::A, Workload::D, Workload::E, Workload::F] {
            let dir = tempfile::tempdir().unwrap();
            let store = open_store(kind, &dir.path().join("db"), Durability::Fast).unwrap();
            let options = YcsbOptions {
                workload,
                records: 300,
                ops: 300,
                threads: 2,
                value_size: 100,
                seed: 5,
                distribution: None,
            };
            let report = ycsb::run(&*store, &options, false).unwrap();
            assert_eq!(report.anomalies, 0, "{} {workload:?}", kind.name());
        }
        let dir = tempfile::tempdir().unwrap();
        let store = open_store(kind, &dir.path().join("db"), Durability::Fast).unwrap();
        dbbench::run_on_store(&*store, "fillrandom", 300, 600, 2, 100, 1).unwrap();
        let read = dbbench::run_on_store(&*store, "readrandom", 300, 300, 2, 100, 2).unwrap();
        assert!(read.hits > 200, "{}: {read:?}", kind.name());
        let batched =
            dbbench::run_on_store(&*store, "multireadrandom", 300, 300, 2, 100, 2).unwrap();
        assert_eq!(batched.anomalies, 0, "{}: {batched:?}", kind.name());
        assert!(batched.hits > 200, "{}: {batched:?}", kind.name());
    }
}

/// The floor store (not a peer: no scans) through puts, batches, deletes and gets across
/// several doublings of its table, then the point-read drivers.
#[test]
fn the_floor_store_matches_a_map_and_refuses_scans() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(StoreKind::Floor, dir.path(), Durability::Fast).unwrap();
    let mut model: BTreeMap<i64, Vec<u8>> = BTreeMap::new();
    let mut out = Vec::new();
    let mut rng = Xorshift(0xF100);
    for step in 0..20_000u64 {
        let key = (rng.next() % 6_000) as i64 - 3_000;
        match rng.next() % 4 {
            0 | 1 => {
                let value = format!("v{step}-{key}").into_bytes();
                store.put(key, &value).unwrap();
                model.insert(key, value);
            }
            2 => {
                let existed = store.delete(key).unwrap();
                assert_eq!(existed, model.remove(&key).is_some(), "delete {key}");
            }
            _ => {
                let found = store.get(key, &mut out).unwrap();
                assert_eq!(found, model.contains_key(&key), "get {key}");
                if let Some(value) = model.get(&key) {
                    assert_eq!(&out, value, "get {key}");
                }
            }
        }
    }
    for (key, value) in &model {
        assert!(store.get(*key, &mut out).unwrap(), "{key} missing");
        assert_eq!(&out, value, "value of {key}");
    }
    assert_eq!(store.stats().keys, model.len() as u64);
    assert!(store.scan(0, 10, &mut |_, _| {}).is_err());

    let store = open_store(StoreKind::Floor, dir.path(), Durability::Fast).unwrap();
    let options = YcsbOptions {
        workload: Workload::C,
        records: 3_000,
        ops: 3_000,
        threads: 2,
        value_size: 100,
        seed: 5,
        distribution: None,
    };
    assert_eq!(ycsb::run(&*store, &options, false).unwrap().anomalies, 0);
    dbbench::run_on_store(&*store, "fillrandom", 300, 600, 2, 100, 1).unwrap();
    let read = dbbench::run_on_store(&*store, "readrandom", 300, 300, 2, 100, 2).unwrap();
    assert!(read.hits > 200, "{read:?}");
}
