//! Damaged, foreign and future-version files give a typed error or a documented,
//! reported repair — never a panic, never silently wrong data (I-6).

use alexdb_engine::{AlexStorage, Config, Error, IndexSource};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn config() -> Config {
    let mut config = Config::benchmark().with_segment_capacity(32 << 10);
    config.checkpoint_every_bytes = 0;
    config.auto_compact = false;
    config
}

fn value(key: i64, round: u64) -> Vec<u8> {
    format!("value-{key}-{round}-padding-padding").into_bytes()
}

/// A store with several sealed segments, overwrites, deletes and a snapshot.
fn build(dir: &Path) -> BTreeMap<i64, Vec<u8>> {
    let mut storage = AlexStorage::open_with(dir, config()).unwrap();
    let mut model = BTreeMap::new();
    for round in 0..4u64 {
        for key in 0..300i64 {
            if (key + round as i64) % 5 == 0 {
                storage.delete(key).unwrap();
                model.remove(&key);
            } else {
                storage.insert(key, &value(key, round)).unwrap();
                model.insert(key, value(key, round));
            }
        }
        if round == 2 {
            storage.checkpoint().unwrap();
        }
    }
    storage.close().unwrap();
    model
}

fn files_with_suffix(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(suffix))
        .collect();
    files.sort();
    files
}

fn contents(storage: &AlexStorage) -> BTreeMap<i64, Vec<u8>> {
    storage
        .range(..)
        .map(|item| item.map(|(k, v)| (k, v.to_vec())).unwrap())
        .collect()
}

/// Every value the store returns is one that was written for that key.
fn assert_plausible(storage: &AlexStorage) {
    for item in storage.range(..) {
        let (key, found) = item.unwrap();
        assert!(
            (0..4).any(|round| value(key, round) == found),
            "key {key} has a value that was never written"
        );
    }
}

#[test]
fn a_damaged_snapshot_falls_back_to_a_full_scan_with_the_same_state() {
    let dir = tempfile::tempdir().unwrap();
    let model = build(dir.path());
    let snapshot = files_with_suffix(dir.path(), ".snap")
        .pop()
        .expect("a snapshot");
    let original = std::fs::read(&snapshot).unwrap();
    let step = (original.len() / 97).max(1);
    let mut damages: Vec<Vec<u8>> = (0..original.len())
        .step_by(step)
        .map(|len| original[..len].to_vec())
        .collect();
    for bit in (0..original.len() * 8).step_by(61) {
        let mut flipped = original.clone();
        flipped[bit / 8] ^= 1 << (bit % 8);
        damages.push(flipped);
    }
    for damaged in damages {
        std::fs::write(&snapshot, &damaged).unwrap();
        let storage = AlexStorage::open_with(dir.path(), config()).unwrap();
        match &storage.open_report().source {
            IndexSource::FullScan { reason, .. } => {
                assert!(reason.contains("snapshot"), "{reason}")
            }
            other => panic!("damaged snapshot was used: {other:?}"),
        }
        assert_eq!(contents(&storage), model);
        drop(storage);
        std::fs::write(&snapshot, &original).unwrap();
    }
}

#[test]
fn a_truncated_last_log_segment_recovers_a_prefix_and_reports_it() {
    let dir = tempfile::tempdir().unwrap();
    build(dir.path());
    let last = files_with_suffix(dir.path(), ".log")
        .pop()
        .expect("a log segment");
    let original = std::fs::read(&last).unwrap();
    for cut in (0..original.len()).step_by(997) {
        std::fs::write(&last, &original[..cut]).unwrap();
        match AlexStorage::open_with(dir.path(), config()) {
            Ok(storage) => assert_plausible(&storage),
            Err(error) => assert!(
                matches!(error, Error::Corruption { .. } | Error::ForeignFile { .. }),
                "cut at {cut}: {error}"
            ),
        }
        std::fs::write(&last, &original).unwrap();
    }
}

#[test]
fn bit_flips_in_sealed_segments_are_detected() {
    let dir = tempfile::tempdir().unwrap();
    build(dir.path());
    let logs = files_with_suffix(dir.path(), ".log");
    assert!(
        logs.len() >= 3,
        "expected several segments, got {}",
        logs.len()
    );
    let sealed = &logs[0];
    let original = std::fs::read(sealed).unwrap();
    // Flip bits inside the first few kilobytes (headers and records), with snapshots
    // removed so that every record is read by recovery.
    for snapshot in files_with_suffix(dir.path(), ".snap") {
        std::fs::remove_file(snapshot).unwrap();
    }
    for bit in (0..4096 * 8).step_by(509) {
        let mut flipped = original.clone();
        flipped[bit / 8] ^= 1 << (bit % 8);
        std::fs::write(sealed, &flipped).unwrap();
        match AlexStorage::open_with(dir.path(), config()) {
            Ok(storage) => assert_plausible(&storage),
            Err(error) => assert!(
                matches!(
                    error,
                    Error::Corruption { .. }
                        | Error::ForeignFile { .. }
                        | Error::UnsupportedVersion { .. }
                ),
                "bit {bit}: unexpected error kind {error}"
            ),
        }
    }
    std::fs::write(sealed, &original).unwrap();
}

#[test]
fn a_damaged_manifest_is_a_typed_error() {
    let dir = tempfile::tempdir().unwrap();
    build(dir.path());
    let manifest = dir.path().join("MANIFEST");
    let original = std::fs::read(&manifest).unwrap();
    for len in 0..original.len() {
        std::fs::write(&manifest, &original[..len]).unwrap();
        let error = AlexStorage::open_with(dir.path(), config()).expect_err("truncated manifest");
        assert!(
            matches!(error, Error::Corruption { .. } | Error::ForeignFile { .. }),
            "{error}"
        );
    }
    for bit in 0..original.len() * 8 {
        let mut flipped = original.clone();
        flipped[bit / 8] ^= 1 << (bit % 8);
        std::fs::write(&manifest, &flipped).unwrap();
        let error = AlexStorage::open_with(dir.path(), config()).expect_err("flipped manifest");
        assert!(
            matches!(
                error,
                Error::Corruption { .. }
                    | Error::ForeignFile { .. }
                    | Error::UnsupportedVersion { .. }
            ),
            "bit {bit}: {error}"
        );
    }
    std::fs::remove_file(&manifest).unwrap();
    let error = AlexStorage::open_with(dir.path(), config()).expect_err("missing manifest");
    assert!(matches!(error, Error::Corruption { .. }), "{error}");
}

#[test]
fn a_future_format_version_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    build(dir.path());
    let manifest = dir.path().join("MANIFEST");
    let mut bytes = std::fs::read(&manifest).unwrap();
    bytes[8..12].copy_from_slice(&2u32.to_le_bytes());
    let body_end = bytes.len() - 4;
    let crc = crc32fast::hash(&bytes[..body_end]);
    bytes[body_end..].copy_from_slice(&crc.to_le_bytes());
    std::fs::write(&manifest, &bytes).unwrap();
    match AlexStorage::open_with(dir.path(), config()) {
        Err(Error::UnsupportedVersion {
            found: 2,
            supported: 1,
            file,
        }) => assert_eq!(file, manifest),
        other => panic!("expected UnsupportedVersion, got {other:?}"),
    }
}

#[test]
fn foreign_files_are_ignored_or_named() {
    let dir = tempfile::tempdir().unwrap();
    let model = build(dir.path());
    std::fs::write(dir.path().join("notes.txt"), b"not ours").unwrap();
    let storage = AlexStorage::open_with(dir.path(), config()).unwrap();
    assert_eq!(
        contents(&storage),
        model,
        "a file with a foreign name is left alone"
    );
    drop(storage);

    let impostor = dir.path().join("00000000000000009999.log");
    std::fs::write(&impostor, vec![0x5au8; 4096]).unwrap();
    match AlexStorage::open_with(dir.path(), config()) {
        Err(Error::ForeignFile { file }) => assert_eq!(file, impostor),
        other => panic!("expected ForeignFile, got {other:?}"),
    }
    std::fs::remove_file(&impostor).unwrap();

    let foreign_dir = tempfile::tempdir().unwrap();
    std::fs::write(
        foreign_dir.path().join("MANIFEST"),
        b"some other program's manifest",
    )
    .unwrap();
    match AlexStorage::open_with(foreign_dir.path(), config()) {
        Err(Error::ForeignFile { .. }) => {}
        other => panic!("expected ForeignFile, got {other:?}"),
    }
}

/// A record changed under an open store (another program writing into the segment file
/// the store has mapped): `get`, `multi_get` and `range` report `Corruption` naming the
/// key, the file and the record's offset — never another key's value.
#[test]
fn a_record_changed_under_an_open_store_is_reported_by_every_read_path() {
    let dir = tempfile::tempdir().unwrap();
    let mut storage = AlexStorage::open_with(dir.path(), config()).unwrap();
    for key in 0..50i64 {
        storage.insert(key, &value(key, 0)).unwrap();
    }
    storage.sync().unwrap();
    // Rewrite key 17's head in its record so that it names key 18.
    let wanted = value(17, 0);
    let log = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .find(|path| {
            path.extension().is_some_and(|e| e == "log")
                && std::fs::read(path)
                    .unwrap()
                    .windows(wanted.len())
                    .any(|w| w == wanted)
        })
        .expect("the segment holding key 17");
    let bytes = std::fs::read(&log).unwrap();
    let at = bytes
        .windows(wanted.len())
        .position(|w| w == wanted)
        .unwrap();
    assert_eq!(bytes[at - 8..at], 17i64.to_le_bytes());
    // In place, as another writer of the file would (no truncation under the mapping).
    use std::io::{Seek, SeekFrom, Write};
    let mut file = std::fs::OpenOptions::new().write(true).open(&log).unwrap();
    file.seek(SeekFrom::Start((at - 8) as u64)).unwrap();
    file.write_all(&18i64.to_le_bytes()).unwrap();
    drop(file);

    let is_corruption_of_17 = |error: Error| match error {
        Error::Corruption { file, reason, .. } => {
            assert_eq!(file, log, "{reason}");
            assert!(reason.contains("key 17"), "{reason}");
        }
        other => panic!("expected Corruption, got {other:?}"),
    };
    is_corruption_of_17(storage.get(17).unwrap_err());
    is_corruption_of_17(storage.multi_get(&[16, 17, 18]).unwrap_err());
    let damaged: Vec<_> = storage
        .range(15..20)
        .filter_map(|item| item.err())
        .collect();
    assert_eq!(damaged.len(), 1);
    damaged.into_iter().for_each(is_corruption_of_17);
    // The neighbours still read.
    assert_eq!(
        storage.multi_get(&[16, 18]).unwrap(),
        vec![Some(&value(16, 0)[..]), Some(&value(18, 0)[..])]
    );
}
