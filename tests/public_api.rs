//! The public API named by the issues exists with exactly these signatures (a compile-
//! time check), and the facade works end to end on a small store.

use alexdb::{
    AlexMap, AlexStats, AlexStorage, BulkLoadError, CompactionReport, ConcurrentAlexStorage,
    Config, Error, MetricsSnapshot, Result, StorageStats, SyncMode, WriteBatch,
};
use std::ops::Bound;
use std::path::Path;

#[allow(dead_code, clippy::type_complexity)]
fn signatures() {
    let _: fn() -> AlexMap<u64> = AlexMap::new;
    let _: fn(&[(i64, u64)]) -> std::result::Result<AlexMap<u64>, BulkLoadError> =
        AlexMap::bulk_load;
    let _: fn(&AlexMap<u64>) -> usize = AlexMap::len;
    let _: fn(&AlexMap<u64>) -> bool = AlexMap::is_empty;
    let _: fn(&AlexMap<u64>, i64) -> Option<&u64> = AlexMap::get;
    let _: fn(&AlexMap<u64>, i64) -> bool = AlexMap::contains_key;
    let _: fn(&mut AlexMap<u64>, i64, u64) -> Option<u64> = AlexMap::insert;
    let _: fn(&mut AlexMap<u64>, i64) -> Option<u64> = AlexMap::remove;
    let _: fn(&AlexMap<u64>) -> Option<(i64, &u64)> = AlexMap::first_key_value;
    let _: fn(&AlexMap<u64>) -> Option<(i64, &u64)> = AlexMap::last_key_value;
    let _: fn(&AlexMap<u64>) -> AlexStats = AlexMap::stats;

    // `impl AsRef<Path>` parameters: checked through closures.
    let _ = |dir: &Path| -> Result<AlexStorage> { AlexStorage::open(dir) };
    let _ =
        |dir: &Path, config: Config| -> Result<AlexStorage> { AlexStorage::open_with(dir, config) };
    let _: fn(&mut AlexStorage, i64, &[u8]) -> Result<()> = AlexStorage::insert;
    let _: fn(&mut AlexStorage, &[(i64, &[u8])]) -> Result<()> = AlexStorage::insert_batch;
    let _: fn(&mut AlexStorage, WriteBatch) -> Result<()> = AlexStorage::write;
    let _: fn(&AlexStorage, i64) -> Result<Option<&[u8]>> = AlexStorage::get;
    let _: fn(&mut AlexStorage, i64) -> Result<bool> = AlexStorage::delete;
    let _: fn(&AlexStorage) -> usize = AlexStorage::len;
    let _: fn(&mut AlexStorage) -> Result<()> = AlexStorage::sync;
    let _: fn(&mut AlexStorage) -> Result<()> = AlexStorage::checkpoint;
    let _: fn(&mut AlexStorage) -> Result<CompactionReport> = AlexStorage::compact;
    let _: fn(&AlexStorage) -> StorageStats = AlexStorage::stats;
    let _: fn(AlexStorage) -> Result<()> = AlexStorage::close;

    let _ = |dir: &Path| -> Result<ConcurrentAlexStorage> { ConcurrentAlexStorage::open(dir) };
    let _ = |dir: &Path, config: Config| -> Result<ConcurrentAlexStorage> {
        ConcurrentAlexStorage::open_with(dir, config)
    };
    let _: fn(&ConcurrentAlexStorage, i64) -> Result<Option<Vec<u8>>> = ConcurrentAlexStorage::get;
    let _: fn(&ConcurrentAlexStorage, i64, &[u8]) -> Result<()> = ConcurrentAlexStorage::insert;
    let _: fn(&ConcurrentAlexStorage, &[(i64, &[u8])]) -> Result<()> =
        ConcurrentAlexStorage::insert_batch;
    let _: fn(&ConcurrentAlexStorage, WriteBatch) -> Result<()> = ConcurrentAlexStorage::write;
    let _: fn(&ConcurrentAlexStorage, i64) -> Result<bool> = ConcurrentAlexStorage::delete;
    let _: fn(&ConcurrentAlexStorage) -> Result<()> = ConcurrentAlexStorage::checkpoint;
    let _: fn(&ConcurrentAlexStorage) -> Result<CompactionReport> = ConcurrentAlexStorage::compact;
    let _: fn(&ConcurrentAlexStorage) -> StorageStats = ConcurrentAlexStorage::stats;
    let _: fn(&ConcurrentAlexStorage) -> MetricsSnapshot = ConcurrentAlexStorage::metrics;
}

#[test]
fn presets_have_the_documented_sync_modes() {
    assert_eq!(Config::production().sync_mode, SyncMode::Full);
    assert_eq!(Config::balanced().sync_mode, SyncMode::Normal);
    assert_eq!(Config::benchmark().sync_mode, SyncMode::Off);
    assert_eq!(Config::default().sync_mode, SyncMode::Full);
}

#[test]
fn the_facade_works_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let shared = ConcurrentAlexStorage::open_with(dir.path(), Config::benchmark()).unwrap();
    std::thread::scope(|scope| {
        for thread in 0..4i64 {
            let handle = shared.clone();
            scope.spawn(move || {
                for i in 0..250 {
                    handle.insert(thread * 1000 + i, &i.to_le_bytes()).unwrap();
                }
            });
        }
    });
    assert_eq!(shared.len(), 1000);
    assert_eq!(shared.get_with(3007, |v| v.len()).unwrap(), Some(8));
    let range = shared
        .range_collect((Bound::Excluded(0), Bound::Included(5)), 3)
        .unwrap();
    assert_eq!(
        range.iter().map(|(k, _)| *k).collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
    let mut seen = 0;
    shared
        .scan(2000.., |_, _| {
            seen += 1;
            seen < 10
        })
        .unwrap();
    assert_eq!(seen, 10);
    assert!(shared.delete(3007).unwrap());
    assert!(!shared.delete(3007).unwrap());
    shared.checkpoint().unwrap();
    shared.close().unwrap();

    let mut store = AlexStorage::open_with(dir.path(), Config::benchmark()).unwrap();
    assert_eq!(store.len(), 999);
    let mut batch = WriteBatch::new();
    batch.put(-1, b"minus one").delete(0);
    store.write(batch).unwrap();
    assert_eq!(store.get(-1).unwrap(), Some(&b"minus one"[..]));
    let keys: Vec<i64> = store.range(..3).map(|item| item.unwrap().0).collect();
    assert_eq!(keys, vec![-1, 1, 2]);
    match AlexStorage::open_with(dir.path(), Config::benchmark()) {
        Err(Error::Locked { .. }) => {}
        other => panic!("expected Locked, got {other:?}"),
    }
    store.close().unwrap();
}
