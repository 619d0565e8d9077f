//! Unit tests of `recovery.rs` (moved out of it to keep that file about one thing).

use super::*;
use crate::layout::FileKind;

fn config() -> Config {
    let mut config = Config::benchmark().with_segment_capacity(32 << 10);
    config.checkpoint_every_bytes = 0;
    config.auto_compact = false;
    config
}

/// A closed store of 2,000 keys over several sealed log segments, whose snapshot
/// covers everything; returns the snapshot's path.
fn build(dir: &Path) -> PathBuf {
    let mut storage = AlexStorage::open_with(dir, config()).unwrap();
    for key in 0..2000i64 {
        storage.insert(key, &key.to_le_bytes().repeat(4)).unwrap();
    }
    storage.checkpoint().unwrap();
    storage.close().unwrap();
    let snapshot = layout::list(dir)
        .unwrap()
        .into_iter()
        .find(|(_, kind)| matches!(kind, FileKind::Snapshot(_)))
        .expect("a snapshot");
    snapshot.0
}

fn log_segments(dir: &Path) -> Vec<PathBuf> {
    let mut logs: Vec<PathBuf> = layout::list(dir)
        .unwrap()
        .into_iter()
        .filter(|(_, kind)| matches!(kind, FileKind::Log(_)))
        .map(|(path, _)| path)
        .collect();
    logs.sort();
    logs
}

fn assert_all_keys(storage: &AlexStorage) {
    assert_eq!(storage.len(), 2000);
    for key in 0..2000i64 {
        assert_eq!(
            storage.get(key).unwrap(),
            Some(&key.to_le_bytes().repeat(4)[..])
        );
    }
}

#[test]
fn the_snapshot_loaded_while_the_log_recovers_gives_the_full_scan_state() {
    let dir = tempfile::tempdir().unwrap();
    let snapshot = build(dir.path());
    let storage = AlexStorage::open_with(dir.path(), config()).unwrap();
    assert!(matches!(
        storage.open_report().source,
        IndexSource::Snapshot {
            replayed_records: 0,
            ..
        }
    ));
    assert_all_keys(&storage);
    let live_from_snapshot = storage.segments.live_table();
    storage.close().unwrap();

    std::fs::remove_file(&snapshot).unwrap();
    let storage = AlexStorage::open_with(dir.path(), config()).unwrap();
    assert!(matches!(
        storage.open_report().source,
        IndexSource::FullScan { .. }
    ));
    assert_all_keys(&storage);
    assert_eq!(storage.segments.live_table(), live_from_snapshot);
}

/// A snapshot with a valid checksum that points past the end of a segment (as if the
/// log had lost records it covers) is refused with the key named, and the full scan
/// rebuilds the store.
#[test]
fn a_snapshot_pointing_past_a_segment_falls_back_to_a_full_scan() {
    let dir = tempfile::tempdir().unwrap();
    let snapshot_path = build(dir.path());
    let loaded = crate::snapshot::load(&snapshot_path).unwrap();
    let (keyspace, index) = &loaded.keyspaces[0];
    let mut entries: Vec<(i64, u64)> = index.iter().map(|(k, v)| (k, *v)).collect();
    let victim = entries[1234].0;
    let location = PackedLocation(entries[1234].1);
    // Same segment, a record-aligned offset beyond its capacity.
    let beyond = PackedLocation::pack(alexdb_wal::Location {
        segment_id: location.segment_id(),
        offset: 1 << 20,
    })
    .unwrap();
    entries[1234].1 = beyond.0;
    let damaged = AlexMap::bulk_load(&entries).unwrap();
    let body = crate::snapshot::encode(
        loaded.covered_seq,
        &loaded.segment_live_bytes,
        &[(*keyspace, &damaged)],
    );
    crate::snapshot::write(&snapshot_path, body).unwrap();

    let storage = AlexStorage::open_with(dir.path(), config()).unwrap();
    match &storage.open_report().source {
        IndexSource::FullScan { reason, .. } => {
            let expected = format!(
                "key {victim} points at segment {} offset {}",
                location.segment_id().0,
                1u64 << 20
            );
            assert!(reason.contains(&expected), "{reason}");
        }
        other => panic!("the damaged snapshot was used: {other:?}"),
    }
    assert_all_keys(&storage);
}

/// Loading the snapshot while another thread recovers the log does not stop that
/// recovery from refusing a damaged sealed log segment.
#[test]
fn a_damaged_sealed_segment_is_corruption_also_with_a_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    build(dir.path());
    let logs = log_segments(dir.path());
    assert!(logs.len() >= 3, "{logs:?}");
    let sealed = &logs[0];
    let original = std::fs::read(sealed).unwrap();
    // A byte of the first record's payload: its checksum fails, valid records follow.
    let mut damaged = original.clone();
    damaged[64 + 24 + 3] ^= 0x10;
    std::fs::write(sealed, &damaged).unwrap();
    match AlexStorage::open_with(dir.path(), config()) {
        Err(Error::Corruption { file, offset, .. }) => {
            assert_eq!(&file, sealed);
            assert_eq!(offset, 64);
        }
        Err(other) => panic!("expected Corruption, got {other}"),
        Ok(storage) => panic!(
            "opened a store with a damaged sealed segment: {:?}",
            storage.open_report()
        ),
    }
    std::fs::write(sealed, &original).unwrap();
    assert_all_keys(&AlexStorage::open_with(dir.path(), config()).unwrap());
}

/// Damage the snapshot in every way loading it (beside log recovery) can fail; each
/// open falls back to the full scan and says why.
#[test]
fn a_snapshot_that_fails_to_load_beside_log_recovery_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let snapshot_path = build(dir.path());
    let original = std::fs::read(&snapshot_path).unwrap();
    let mut wrong_version = original.clone();
    wrong_version[8] ^= 1;
    let mut wrong_checksum = original.clone();
    *wrong_checksum.last_mut().unwrap() ^= 1;
    let cases: [(&[u8], &str); 4] = [
        (b"not a snapshot", "not an alexdb"),
        (&wrong_version, "version"),
        (&original[..original.len() - 9], "entry count"),
        (&wrong_checksum, "checksum mismatch"),
    ];
    for (bytes, expected) in cases {
        std::fs::write(&snapshot_path, bytes).unwrap();
        let storage = AlexStorage::open_with(dir.path(), config()).unwrap();
        match &storage.open_report().source {
            IndexSource::FullScan { reason, .. } => {
                assert!(reason.contains("unusable"), "{reason}");
                assert!(reason.contains(expected), "{expected}: {reason}");
            }
            other => panic!("the damaged snapshot was used: {other:?}"),
        }
        assert_all_keys(&storage);
        storage.close().unwrap();
        std::fs::write(&snapshot_path, &original).unwrap();
    }
}
