//! Tests of verification: index inconsistencies named with their keyspace, key and
//! location; the damage listing limit; folding to the newest record of each key.

use super::newest::{FOLD_MIN, Newest, Seen, TOMBSTONE};
use super::*;
use crate::Config;
use crate::codec::DEFAULT_KEYSPACE;
use crate::codec::PackedLocation;

fn config() -> Config {
    let mut config = Config::benchmark().with_segment_capacity(32 << 10);
    config.checkpoint_every_bytes = 0;
    config.auto_compact = false;
    config
}

fn location_of(storage: &AlexStorage, key: i64) -> PackedLocation {
    let state = storage.keyspaces.default_keyspace();
    PackedLocation(*state.index.get(key).expect("key is indexed"))
}

fn only_damage_of(report: &VerifyReport, key: i64) -> &Damage {
    let found: Vec<&Damage> = report
        .damage
        .iter()
        .filter(|d| d.key == Some(key))
        .collect();
    assert_eq!(found.len(), 1, "damage of key {key}: {:#?}", report.damage);
    found[0]
}

#[test]
fn index_inconsistencies_are_reported_with_keyspace_key_and_location() {
    let dir = tempfile::tempdir().unwrap();
    let mut storage = AlexStorage::open_with(dir.path(), config()).unwrap();
    for key in 0..400 {
        storage
            .insert(key, format!("first-{key}").as_bytes())
            .unwrap();
    }
    let old_20 = location_of(&storage, 20);
    let old_199 = location_of(&storage, 199);
    for key in 0..100 {
        storage.insert(key, b"second").unwrap();
    }
    storage.delete(199).unwrap();
    let report = storage.verify().unwrap();
    assert!(report.is_clean(), "{:#?}", report.damage);
    assert_eq!(report.keys_checked, 399);

    let newest_10 = location_of(&storage, 10);
    let newest_31 = location_of(&storage, 31);
    let index = &mut storage.keyspaces.get_mut(DEFAULT_KEYSPACE).unwrap().index;
    index.remove(10);
    index.insert(20, old_20.0);
    index.insert(199, old_199.0);
    index.insert(30, newest_31.0);
    let nowhere = PackedLocation::pack(alexdb_wal::Location {
        segment_id: alexdb_wal::SegmentId(999),
        offset: 64,
    })
    .unwrap();
    index.insert(40, nowhere.0);

    let report = storage.verify().unwrap();
    assert_eq!(report.damage_count(), 5, "{:#?}", report.damage);
    let path_of = |location: PackedLocation| storage.segment_path_of(location.segment_id().0);

    let missing = only_damage_of(&report, 10);
    assert_eq!(missing.kind, DamageKind::IndexMissing);
    assert_eq!(
        (missing.file.clone(), missing.offset),
        (path_of(newest_10), newest_10.offset())
    );
    assert_eq!(missing.keyspace.as_deref(), Some("default"));

    let stale = only_damage_of(&report, 20);
    assert_eq!(stale.kind, DamageKind::IndexPointer);
    assert_eq!(
        (stale.file.clone(), stale.offset),
        (path_of(old_20), old_20.offset())
    );
    assert!(stale.reason.contains("older record"), "{}", stale.reason);

    let deleted = only_damage_of(&report, 199);
    assert!(
        deleted.reason.contains("the newest is a tombstone"),
        "{}",
        deleted.reason
    );

    let wrong_key = only_damage_of(&report, 30);
    assert!(
        wrong_key.reason.contains("record of key 31"),
        "{}",
        wrong_key.reason
    );
    assert_eq!(wrong_key.offset, newest_31.offset());

    let outside = only_damage_of(&report, 40);
    assert!(outside.reason.contains("segment 999"), "{}", outside.reason);
    let shown = outside.to_string();
    assert!(
        shown.contains("offset 64") && shown.contains("key 40"),
        "{shown}"
    );
}

#[test]
fn damage_beyond_the_listing_limit_is_counted() {
    let dir = tempfile::tempdir().unwrap();
    let mut storage = AlexStorage::open_with(dir.path(), config()).unwrap();
    let keys = 2 * MAX_DAMAGE_LISTED as i64;
    for key in 0..keys {
        storage.insert(key, b"value").unwrap();
    }
    let nowhere = PackedLocation::pack(alexdb_wal::Location {
        segment_id: alexdb_wal::SegmentId(999),
        offset: 64,
    })
    .unwrap();
    let state = storage.keyspaces.get_mut(DEFAULT_KEYSPACE).unwrap();
    for key in 0..keys {
        state.index.insert(key, nowhere.0);
    }
    let report = storage.verify().unwrap();
    assert_eq!(report.damage.len(), MAX_DAMAGE_LISTED);
    assert_eq!(report.damage_count(), keys as u64);
}

#[test]
fn folding_keeps_the_newest_record_of_every_key() {
    let mut newest = Newest::default();
    let rounds = 5u64;
    let keys = (FOLD_MIN / 2) as i64;
    for round in 1..=rounds {
        for key in 0..keys {
            let tombstone = if (key + round as i64) % 7 == 0 {
                TOMBSTONE
            } else {
                0
            };
            newest.push(Seen {
                key,
                seq_tag: (round * 1_000_000 + key as u64) | tombstone,
                location: round,
            });
        }
        assert!(newest.entries.len() <= 2 * keys as usize + FOLD_MIN);
    }
    let winners = newest.finish();
    assert_eq!(winners.len(), keys as usize);
    for (key, winner) in (0..keys).zip(&winners) {
        assert_eq!(winner.key, key);
        assert_eq!(winner.location, rounds);
        assert_eq!(winner.is_tombstone(), (key + rounds as i64) % 7 == 0);
    }
}
