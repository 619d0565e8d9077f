//! Edge keys, empty and maximum-size values, and the writer lock.

use alexdb_engine::{AlexStorage, Config, Error, WriteBatch};

fn config() -> Config {
    let mut config = Config::benchmark().with_segment_capacity(1 << 20);
    config.max_value_len = 256 << 10;
    config.checkpoint_every_bytes = 0;
    config
}

#[test]
fn extreme_keys_and_empty_values_round_trip_through_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let mut storage = AlexStorage::open_with(dir.path(), config()).unwrap();
    for key in [i64::MIN, i64::MIN + 1, -1, 0, 1, i64::MAX - 1, i64::MAX] {
        storage.insert(key, &[]).unwrap();
    }
    storage.insert(i64::MAX, b"max").unwrap();
    assert!(storage.delete(i64::MIN + 1).unwrap());
    assert!(!storage.delete(i64::MIN + 1).unwrap());
    for reopen_with_checkpoint in [false, true] {
        if reopen_with_checkpoint {
            storage.checkpoint().unwrap();
        }
        storage.close().unwrap();
        storage = AlexStorage::open_with(dir.path(), config()).unwrap();
        assert_eq!(storage.get(i64::MIN).unwrap(), Some(&b""[..]));
        assert_eq!(storage.get(i64::MIN + 1).unwrap(), None);
        assert_eq!(storage.get(i64::MAX).unwrap(), Some(&b"max"[..]));
        let keys: Vec<i64> = storage.range(..).map(|r| r.unwrap().0).collect();
        assert_eq!(keys, vec![i64::MIN, -1, 0, 1, i64::MAX - 1, i64::MAX]);
        let reversed: Vec<i64> = storage.range(..).rev().map(|r| r.unwrap().0).collect();
        assert_eq!(reversed, vec![i64::MAX, i64::MAX - 1, 1, 0, -1, i64::MIN]);
    }
}

#[test]
fn values_at_the_limit_are_accepted_and_one_byte_over_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut storage = AlexStorage::open_with(dir.path(), config()).unwrap();
    let max = config().max_value_len as usize;
    let at_limit = vec![7u8; max];
    storage.insert(5, &at_limit).unwrap();
    match storage.insert(6, &vec![7u8; max + 1]) {
        Err(Error::ValueTooLarge {
            key: 6,
            len,
            max: limit,
        }) => {
            assert_eq!(len, max as u64 + 1);
            assert_eq!(limit, max as u64);
        }
        other => panic!("expected ValueTooLarge, got {other:?}"),
    }
    let mut batch = WriteBatch::new();
    batch.put(8, b"fine").put(9, &vec![0u8; max + 1]);
    assert!(matches!(
        storage.write(batch),
        Err(Error::ValueTooLarge { key: 9, .. })
    ));
    assert_eq!(
        storage.get(8).unwrap(),
        None,
        "a refused batch writes nothing"
    );
    storage.close().unwrap();
    let storage = AlexStorage::open_with(dir.path(), config()).unwrap();
    assert_eq!(storage.get(5).unwrap(), Some(&at_limit[..]));
    assert_eq!(storage.get(6).unwrap(), None);
}

#[test]
fn the_default_sixteen_mebibyte_limit_holds() {
    let dir = tempfile::tempdir().unwrap();
    let mut storage = AlexStorage::open_with(dir.path(), Config::benchmark()).unwrap();
    let max = Config::production().max_value_len as usize;
    assert_eq!(max, 16 << 20);
    storage.insert(1, &vec![1u8; max]).unwrap();
    assert!(matches!(
        storage.insert(2, &vec![1u8; max + 1]),
        Err(Error::ValueTooLarge { .. })
    ));
    assert_eq!(storage.get(1).unwrap().map(<[u8]>::len), Some(max));
}

#[test]
fn a_second_writer_gets_locked_naming_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let first = AlexStorage::open_with(dir.path(), config()).unwrap();
    match AlexStorage::open_with(dir.path(), config()) {
        Err(Error::Locked { path }) => assert!(path.starts_with(dir.path())),
        other => panic!("expected Locked, got {other:?}"),
    }
    first.close().unwrap();
    AlexStorage::open_with(dir.path(), config()).expect("the lock is released by close");
}

#[test]
fn keyspaces_are_independent_and_persist() {
    let dir = tempfile::tempdir().unwrap();
    let mut storage = AlexStorage::open_with(dir.path(), config()).unwrap();
    let nodes = storage.keyspace("nodes").unwrap();
    let edges = storage.keyspace("edges").unwrap();
    storage.insert(1, b"default").unwrap();
    storage.insert_in(&nodes, 1, b"node").unwrap();
    let mut batch = WriteBatch::new();
    batch
        .put_in(&edges, 1, b"edge")
        .delete_in(&nodes, 1)
        .put(2, b"two");
    storage.write(batch).unwrap();
    assert!(matches!(
        storage.existing_keyspace("missing"),
        Err(Error::KeyspaceNotFound { .. })
    ));
    assert!(matches!(
        storage.keyspace(""),
        Err(Error::InvalidKeyspaceName { .. })
    ));
    storage.close().unwrap();
    let mut storage = AlexStorage::open_with(dir.path(), config()).unwrap();
    let nodes = storage.existing_keyspace("nodes").unwrap();
    let edges = storage.existing_keyspace("edges").unwrap();
    assert_eq!(storage.get(1).unwrap(), Some(&b"default"[..]));
    assert_eq!(storage.get(2).unwrap(), Some(&b"two"[..]));
    assert_eq!(storage.get_in(&nodes, 1).unwrap(), None);
    assert_eq!(storage.get_in(&edges, 1).unwrap(), Some(&b"edge"[..]));
    assert_eq!(storage.keyspaces().len(), 3);
    let again = storage.keyspace("nodes").unwrap();
    assert_eq!(again, nodes);
}
