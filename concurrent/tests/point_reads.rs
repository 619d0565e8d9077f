//! `get_into` and `get_into_in` give the answers of `get` and `get_in`, through one
//! reused buffer: cleared on every call (also on a miss and after a delete), its
//! capacity kept, and counted as a `get` by the metrics; `contains_key` and
//! `contains_key_in` agree with them.

use alexdb_concurrent::{ConcurrentAlexStorage, OpKind};
use alexdb_engine::Config;

/// Keys at the edges of the key space and values from empty to several pages.
fn entries() -> Vec<(i64, Vec<u8>)> {
    [i64::MIN, -1, 0, 1, 42, i64::MAX - 1, i64::MAX]
        .iter()
        .zip([0usize, 1, 7, 100, 4096, 5000, 65_537])
        .map(|(&key, len)| {
            (
                key,
                (0..len).map(|i| (i as u64 ^ key as u64) as u8).collect(),
            )
        })
        .collect()
}

/// Keys that are never written.
const ABSENT: [i64; 4] = [i64::MIN + 1, -2, 2, i64::MAX - 2];

#[test]
fn get_into_answers_like_get_and_reuses_the_buffer() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = ConcurrentAlexStorage::open_with(dir.path(), Config::benchmark()).expect("open");
    let entries = entries();
    for (key, value) in &entries {
        store.insert(*key, value).expect("insert");
    }
    let gets_before = store.metrics().op(OpKind::Get).count;
    let mut buf = b"left over from an earlier read".to_vec();
    let mut calls = 0;
    for key in entries.iter().map(|(key, _)| *key).chain(ABSENT) {
        let found = store.get_into(key, &mut buf).expect("get_into");
        calls += 1;
        let expected = store.get(key).expect("get");
        calls += 1;
        assert_eq!(found, expected.is_some(), "key {key}");
        assert_eq!(store.contains_key(key), found, "contains_key {key}");
        calls += 1;
        assert_eq!(buf, expected.unwrap_or_default(), "key {key}");
    }
    let capacity = buf.capacity();
    assert!(capacity >= 65_537, "the largest value's room is kept");
    assert!(!store.get_into(ABSENT[0], &mut buf).expect("get_into"));
    calls += 1;
    assert!(buf.is_empty(), "a miss leaves the buffer empty");
    assert_eq!(buf.capacity(), capacity, "and keeps its capacity");

    // Overwrites and deletes are seen through the same buffer.
    store.insert(42, b"new").expect("overwrite");
    assert!(store.get_into(42, &mut buf).expect("get_into"));
    assert_eq!(buf, b"new");
    assert!(store.delete(42).expect("delete"));
    assert!(!store.get_into(42, &mut buf).expect("get_into"));
    assert!(buf.is_empty());
    assert!(!store.contains_key(42), "a deleted key is gone");
    calls += 3;

    assert_eq!(
        store.metrics().op(OpKind::Get).count - gets_before,
        calls,
        "each get_into is metered as one get"
    );
}

#[test]
fn get_into_in_reads_its_own_keyspace() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = ConcurrentAlexStorage::open_with(dir.path(), Config::benchmark()).expect("open");
    let nodes = store.keyspace("nodes").expect("keyspace");
    store.insert(7, b"default").expect("insert");
    store.insert_in(&nodes, 7, b"in nodes").expect("insert_in");
    store.insert_in(&nodes, 8, b"").expect("insert_in");

    let mut buf = Vec::new();
    assert!(store.get_into_in(&nodes, 7, &mut buf).expect("get_into_in"));
    assert_eq!(buf, b"in nodes");
    assert!(store.get_into(7, &mut buf).expect("get_into"));
    assert_eq!(buf, b"default");
    assert!(store.get_into_in(&nodes, 8, &mut buf).expect("get_into_in"));
    assert!(buf.is_empty(), "an empty value exists and reads as empty");
    assert!(!store.get_into(8, &mut buf).expect("get_into"));
    assert!(store.contains_key_in(&nodes, 8).expect("contains_key_in"));
    assert!(!store.contains_key(8));
    for key in [i64::MIN, 0, 9, i64::MAX] {
        assert!(!store.contains_key_in(&nodes, key).expect("contains_key_in"));
        assert!(
            !store
                .get_into_in(&nodes, key, &mut buf)
                .expect("get_into_in")
        );
        assert_eq!(
            store.get_in(&nodes, key).expect("get_in"),
            None,
            "key {key} in nodes"
        );
    }
}

#[test]
fn get_into_on_a_read_only_store() {
    let dir = tempfile::tempdir().expect("temp dir");
    {
        let writer =
            ConcurrentAlexStorage::open_with(dir.path(), Config::benchmark()).expect("open");
        for (key, value) in entries() {
            writer.insert(key, &value).expect("insert");
        }
        writer.close().expect("close");
    }
    let reader = ConcurrentAlexStorage::open_readonly(dir.path()).expect("open_readonly");
    let mut buf = Vec::new();
    for (key, value) in entries() {
        assert!(
            reader.get_into(key, &mut buf).expect("get_into"),
            "key {key}"
        );
        assert_eq!(buf, value, "key {key}");
    }
    for key in ABSENT {
        assert!(
            !reader.get_into(key, &mut buf).expect("get_into"),
            "key {key}"
        );
    }
}
