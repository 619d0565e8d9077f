//! Compaction retires log segments that batches span: a batch whose head stays in a
//! kept segment while its tail was in a retired one is complete, not torn, and reopen
//! must keep it (found by the `alexdb` default experiment: keys lost after
//! load → delete → compact → reopen).

use alexdb_engine::{AlexStorage, Config, IndexSource};
use std::collections::BTreeMap;

fn config() -> Config {
    let mut config = Config::benchmark().with_segment_capacity(64 << 10);
    config.checkpoint_every_bytes = 0;
    config.auto_compact = false;
    config
}

fn value(key: i64) -> Vec<u8> {
    let mut value = key.to_le_bytes().to_vec();
    value.resize(100, (key % 251) as u8);
    value
}

fn contents(storage: &AlexStorage) -> BTreeMap<i64, Vec<u8>> {
    storage
        .range(..)
        .map(|item| item.map(|(k, v)| (k, v.to_vec())).expect("record"))
        .collect()
}

#[test]
fn batches_spanning_retired_segments_survive_reopen() {
    for delete_every in [2i64, 3, 5] {
        let dir = tempfile::tempdir().unwrap();
        let mut storage = AlexStorage::open_with(dir.path(), config()).unwrap();
        let mut model = BTreeMap::new();
        // Batches of 100 x ~136-byte records: many batches span two 64 KiB segments.
        for batch in 0..40i64 {
            let items: Vec<(i64, Vec<u8>)> = (0..100)
                .map(|i| {
                    let key = (batch * 100 + i) * 7919 % 100_003;
                    (key, value(key))
                })
                .collect();
            let refs: Vec<(i64, &[u8])> = items.iter().map(|(k, v)| (*k, v.as_slice())).collect();
            storage.insert_batch(&refs).unwrap();
            model.extend(items);
        }
        let keys: Vec<i64> = model.keys().copied().collect();
        for key in keys.iter().filter(|k| *k % delete_every == 0) {
            assert!(storage.delete(*key).unwrap());
            model.remove(key);
        }
        storage.compact().unwrap();
        assert_eq!(
            contents(&storage),
            model,
            "after compaction (every {delete_every})"
        );
        storage.close().unwrap();

        let storage = AlexStorage::open_with(dir.path(), config()).unwrap();
        assert!(
            matches!(storage.open_report().source, IndexSource::Snapshot { .. }),
            "the compaction's snapshot must be usable: {:?}",
            storage.open_report()
        );
        assert_eq!(
            storage.open_report().wal.bytes_truncated,
            0,
            "{:?}",
            storage.open_report().wal
        );
        assert_eq!(
            contents(&storage),
            model,
            "after reopen (every {delete_every})"
        );
        drop(storage);

        // And the same state without the snapshot.
        for entry in std::fs::read_dir(dir.path()).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "snap") {
                std::fs::remove_file(path).unwrap();
            }
        }
        let storage = AlexStorage::open_with(dir.path(), config()).unwrap();
        assert_eq!(
            contents(&storage),
            model,
            "after full-scan reopen (every {delete_every})"
        );
    }
}

#[test]
fn explicit_compaction_brings_space_amplification_to_the_target() {
    use rand::{Rng, SeedableRng};
    let dir = tempfile::tempdir().unwrap();
    let mut storage = AlexStorage::open_with(dir.path(), config()).unwrap();
    let mut model = BTreeMap::new();
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    for _ in 0..20_000 {
        let key: i64 = rng.r#gen();
        storage.insert(key, &value(key)).unwrap();
        model.insert(key, value(key));
    }
    let keys: Vec<i64> = model.keys().copied().collect();
    for key in keys {
        if rng.gen_bool(0.5) {
            assert!(storage.delete(key).unwrap());
            model.remove(&key);
        }
    }
    let before = storage.stats().space_amplification;
    assert!(
        before > 1.8,
        "deleting half should double amplification, got {before}"
    );
    let report = storage.compact().unwrap();
    let after = storage.stats().space_amplification;
    assert!(
        after <= 1.1,
        "space amplification {after} after compaction ({report:?})"
    );
    assert!(report.tombstones_dropped > 0);
    assert_eq!(contents(&storage), model);
    storage.close().unwrap();
    let storage = AlexStorage::open_with(dir.path(), config()).unwrap();
    assert_eq!(contents(&storage), model);
    assert!(storage.stats().space_amplification <= 1.1);
}
