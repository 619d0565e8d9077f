//! `Config::index_max_data_slots`: every path that builds an index — inserts into an
//! empty one, a snapshot's bulk load at open, and a full scan when the snapshot is unusable
//! — keeps data nodes at or under the configured size, and the store holds the same keys
//! either way. Out-of-range values are refused with a typed error.

use alexdb_engine::{AlexStorage, Config, Error, IndexSource};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const SMALL: usize = 1 << 10;

fn config() -> Config {
    let mut config = Config::benchmark().with_segment_capacity(4 << 20);
    config.checkpoint_every_bytes = 0;
    config.index_max_data_slots = SMALL;
    config
}

fn check(storage: &AlexStorage, model: &BTreeMap<i64, u64>) {
    let stats = storage.stats();
    let index = &stats.keyspaces[0];
    assert!(
        index.index_largest_node_slots <= SMALL,
        "largest node {} slots, configured {SMALL}",
        index.index_largest_node_slots
    );
    assert!(
        index.index_data_nodes >= model.len() / SMALL,
        "{} data nodes for {} keys",
        index.index_data_nodes,
        model.len()
    );
    assert_eq!(stats.keys, model.len());
    for (key, version) in model {
        let value = storage.get(*key).unwrap().expect("acknowledged key");
        assert_eq!(value, version.to_le_bytes(), "key {key}");
    }
}

fn snapshots(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.to_string_lossy().ends_with(".snap"))
        .collect()
}

#[test]
fn every_index_build_keeps_nodes_under_the_configured_size() {
    let dir = tempfile::tempdir().unwrap();
    let mut model = BTreeMap::new();
    let mut rng = StdRng::seed_from_u64(5);
    {
        let mut storage = AlexStorage::open_with(dir.path(), config()).unwrap();
        for version in 0..30_000u64 {
            let key = if version % 3 == 0 {
                version as i64
            } else {
                rng.r#gen::<i64>()
            };
            storage.insert(key, &version.to_le_bytes()).unwrap();
            model.insert(key, version);
        }
        check(&storage, &model);
        storage.checkpoint().unwrap();
    }
    let storage = AlexStorage::open_with(dir.path(), config()).unwrap();
    assert!(matches!(
        storage.open_report().source,
        IndexSource::Snapshot { .. }
    ));
    check(&storage, &model);
    drop(storage);
    for snapshot in snapshots(dir.path()) {
        std::fs::write(&snapshot, b"not a snapshot").unwrap();
    }
    let storage = AlexStorage::open_with(dir.path(), config()).unwrap();
    assert!(matches!(
        storage.open_report().source,
        IndexSource::FullScan { .. }
    ));
    check(&storage, &model);
}

#[test]
fn a_maximum_node_size_out_of_range_is_refused() {
    let range = alexdb_alex::MAX_DATA_SLOTS_RANGE;
    for slots in [0, range.start() - 1, range.end() + 1] {
        let dir = tempfile::tempdir().unwrap();
        let mut config = config();
        config.index_max_data_slots = slots;
        match AlexStorage::open_with(dir.path(), config) {
            Err(Error::InvalidConfig(message)) => {
                assert!(message.contains("index_max_data_slots"), "{message}")
            }
            other => panic!("{slots} slots: {:?}", other.map(|_| ())),
        }
    }
}
