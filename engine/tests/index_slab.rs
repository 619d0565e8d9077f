//! A store whose index is large enough for the huge-page slab (docs/alex.md, "Node
//! memory"): reopened from its snapshot and from a full scan, the index is bulk loaded
//! into a slab; overwrites, deletes and a compaction (which repoints index entries in
//! place, inside the slab) then rebuild nodes in the slab, deleting most keys releases
//! it, and every answer stays the model's, across more reopens.

use alexdb_engine::{AlexStorage, Config, IndexSource};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::BTreeMap;

/// Enough keys for the index's arrays to pass the slab threshold (8 MiB at ~23 B/key).
const KEYS: i64 = 450_000;

fn config() -> Config {
    let mut config = Config::benchmark().with_segment_capacity(16 << 20);
    config.checkpoint_every_bytes = 0;
    config
}

fn value(key: i64, version: u64) -> [u8; 16] {
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&key.to_le_bytes());
    bytes[8..].copy_from_slice(&version.to_le_bytes());
    bytes
}

fn check(storage: &AlexStorage, model: &BTreeMap<i64, u64>) {
    assert_eq!(storage.stats().keys, model.len());
    for (&key, &version) in model {
        assert_eq!(
            storage.get(key).unwrap(),
            Some(&value(key, version)[..]),
            "key {key}"
        );
    }
    let mut seen = 0;
    for item in storage.range(..) {
        let (key, bytes) = item.unwrap();
        assert_eq!(bytes, value(key, model[&key]), "scanned key {key}");
        seen += 1;
    }
    assert_eq!(seen, model.len());
}

fn slab_bytes(storage: &AlexStorage) -> usize {
    storage.stats().keyspaces[0].index_slab_bytes
}

#[test]
fn a_slab_backed_index_answers_like_the_model_through_rebuilds_compaction_and_reopens() {
    let dir = tempfile::tempdir().unwrap();
    let mut model = BTreeMap::new();
    let mut rng = StdRng::seed_from_u64(21);
    {
        let mut storage = AlexStorage::open_with(dir.path(), config()).unwrap();
        let keys: Vec<i64> = (0..KEYS).map(|i| i * 7919 % KEYS * 3).collect();
        for chunk in keys.chunks(1_000) {
            let values: Vec<[u8; 16]> = chunk.iter().map(|&k| value(k, 0)).collect();
            let items: Vec<(i64, &[u8])> = chunk
                .iter()
                .zip(&values)
                .map(|(&k, v)| (k, &v[..]))
                .collect();
            storage.insert_batch(&items).unwrap();
            model.extend(chunk.iter().map(|&k| (k, 0)));
        }
        assert_eq!(
            slab_bytes(&storage),
            0,
            "an index grown by inserts is on the heap"
        );
        storage.checkpoint().unwrap();
        storage.close().unwrap();
    }
    // From the snapshot: a bulk load, into a slab.
    let mut storage = AlexStorage::open_with(dir.path(), config()).unwrap();
    assert!(matches!(
        storage.open_report().source,
        IndexSource::Snapshot { .. }
    ));
    assert!(
        slab_bytes(&storage) > 0,
        "{:?}",
        storage.stats().keyspaces[0]
    );
    check(&storage, &model);
    // Overwrites, deletes and new keys rebuild nodes, in the slab.
    for round in 1..=4u64 {
        for _ in 0..60_000 {
            let key = rng.gen_range(0..KEYS * 3 + 1_000);
            if rng.gen_bool(0.2) {
                assert_eq!(storage.delete(key).unwrap(), model.remove(&key).is_some());
            } else {
                storage.insert(key, &value(key, round)).unwrap();
                model.insert(key, round);
            }
        }
        if round == 2 {
            storage.compact().unwrap();
        }
        check(&storage, &model);
    }
    assert!(
        slab_bytes(&storage) > 0,
        "the rebuilt nodes are in the slab"
    );
    storage.close().unwrap();
    // A full scan (no snapshot) bulk loads too.
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let path = entry.unwrap().path();
        if path.to_string_lossy().ends_with(".snap") {
            std::fs::remove_file(path).unwrap();
        }
    }
    let mut storage = AlexStorage::open_with(dir.path(), config()).unwrap();
    assert!(matches!(
        storage.open_report().source,
        IndexSource::FullScan { .. }
    ));
    assert!(slab_bytes(&storage) > 0);
    check(&storage, &model);
    // Deleting most keys leaves the slab sparse: it is released.
    let keys: Vec<i64> = model.keys().copied().collect();
    for (i, key) in keys.into_iter().enumerate() {
        if i % 7 != 0 {
            assert!(storage.delete(key).unwrap());
            model.remove(&key);
        }
    }
    assert_eq!(slab_bytes(&storage), 0, "the slab was released");
    check(&storage, &model);
}
