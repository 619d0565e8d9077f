//! The small interface the workloads drive, and its implementations.
//!
//! [`KvStore`] is deliberately narrow: what a phase of an experiment or a benchmark needs,
//! nothing more, so that adding a store (the concurrent handle, a peer) is a 30-line job.
//! Every method takes `&self` except `reopen`; implementations are `Send + Sync` and are
//! called from several threads at once.
//!
//! Implementations here:
//! - [`ConcurrentStore`]: `ConcurrentAlexStorage`, the thread-safe handle (group-commit
//!   writes, maintenance outside the exclusive lock). The default.
//! - [`EngineStore`]: `AlexStorage` behind a `std::sync::RwLock` (readers share, writers
//!   exclude, everything under the lock): what the concurrent handle improves on.
//! - [`BTreeStore`]: a `BTreeMap<i64, Vec<u8>>` behind a `RwLock`: the in-memory baseline
//!   of the peer comparisons, and the fast store of the unit tests.

use alexdb_concurrent::ConcurrentAlexStorage;
use alexdb_engine::{AlexStorage, Config, Result as EngineResult, SyncMode};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

/// Space and size figures of a store, as the reports show them.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StoreStats {
    pub keys: u64,
    /// Bytes of records the index points at.
    pub live_bytes: u64,
    /// Bytes written that nothing points at any more (overwritten, deleted, headers).
    pub dead_bytes: u64,
    /// `(live + dead) / live`; 1.0 for an empty store.
    pub space_amplification: f64,
    /// Data files (segments); 0 for in-memory stores.
    pub segments: u64,
    /// Bytes the data files take on disk (preallocated).
    pub file_bytes: u64,
    /// Heap bytes of the index.
    pub index_bytes: u64,
}

/// What one compaction did.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CompactSummary {
    pub segments_in: u64,
    pub segments_out: u64,
    pub bytes_reclaimed: u64,
    pub duration: Duration,
}

impl From<alexdb_engine::CompactionReport> for CompactSummary {
    fn from(report: alexdb_engine::CompactionReport) -> CompactSummary {
        CompactSummary {
            segments_in: report.segments_in as u64,
            segments_out: report.segments_out as u64,
            bytes_reclaimed: report.bytes_reclaimed,
            duration: report.duration,
        }
    }
}

/// The operations the workloads drive. Errors are the engine's typed errors.
pub trait KvStore: Send + Sync {
    /// A short name for reports ("alexdb", "btreemap").
    fn name(&self) -> &'static str;
    /// Copy the value of `key` into `out` (cleared first); `false` if absent.
    fn get(&self, key: i64, out: &mut Vec<u8>) -> EngineResult<bool>;
    /// Look `keys` up together: `f(position, value)` for each, in order (`None` if
    /// absent). Stores with a batched read (alexdb's `multi_get`, one read transaction)
    /// override it; the default asks `get` key by key.
    fn multi_get(&self, keys: &[i64], f: &mut dyn FnMut(usize, Option<&[u8]>)) -> EngineResult<()> {
        let mut buffer = Vec::new();
        for (i, &key) in keys.iter().enumerate() {
            let found = self.get(key, &mut buffer)?;
            f(i, found.then_some(&buffer[..]));
        }
        Ok(())
    }
    /// Insert or overwrite one key.
    fn put(&self, key: i64, value: &[u8]) -> EngineResult<()>;
    /// Insert or overwrite several keys atomically.
    fn put_batch(&self, items: &[(i64, &[u8])]) -> EngineResult<()>;
    /// Delete `key`; `true` if it existed.
    fn delete(&self, key: i64) -> EngineResult<bool>;
    /// Call `f` on at most `count` keys `>= start` in key order; returns how many.
    fn scan(&self, start: i64, count: usize, f: &mut dyn FnMut(i64, &[u8])) -> EngineResult<usize>;
    /// Make everything written so far recoverable without replaying the log.
    fn checkpoint(&self) -> EngineResult<()>;
    /// Reclaim the space of dead records.
    fn compact(&self) -> EngineResult<CompactSummary>;
    /// Close and open again; returns the time the open (recovery) took.
    fn reopen(&mut self) -> EngineResult<Duration>;
    fn stats(&self) -> StoreStats;
}

/// Which store a command runs against.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum EngineKind {
    /// alexdb's `ConcurrentAlexStorage` in a data directory.
    Alex,
    /// alexdb's `AlexStorage` under a plain `RwLock` (no group commit).
    Storage,
    /// `BTreeMap` under a `RwLock`, in memory (baseline; `reopen` keeps the data).
    Btree,
}

/// Durability setting of the store, by its `SyncMode` name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum SyncSetting {
    /// Every acknowledged write is synced (group commit).
    Full,
    /// A background syncer bounds the loss window.
    Normal,
    /// Synced only at checkpoints.
    Checkpoint,
    /// Never synced by writes.
    Off,
}

impl SyncSetting {
    /// The engine configuration for this setting.
    pub fn config(self) -> Config {
        match self {
            SyncSetting::Full => Config::production(),
            SyncSetting::Normal => Config::balanced(),
            SyncSetting::Checkpoint => Config::production().with_sync_mode(SyncMode::Checkpoint),
            SyncSetting::Off => Config::benchmark(),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            SyncSetting::Full => "full",
            SyncSetting::Normal => "normal",
            SyncSetting::Checkpoint => "checkpoint",
            SyncSetting::Off => "off",
        }
    }
}

/// Open the store of `kind` (in `dir` for the engine).
pub fn open_store(
    kind: EngineKind,
    dir: &Path,
    sync: SyncSetting,
) -> EngineResult<Box<dyn KvStore>> {
    Ok(match kind {
        EngineKind::Alex => Box::new(ConcurrentStore::open(dir, sync.config())?),
        EngineKind::Storage => Box::new(EngineStore::open(dir, sync.config())?),
        EngineKind::Btree => Box::new(BTreeStore::default()),
    })
}

// ----- ConcurrentAlexStorage ------------------------------------------------------------

/// `ConcurrentAlexStorage`. The option is `None` only after a failed reopen.
#[derive(Debug)]
pub struct ConcurrentStore {
    dir: PathBuf,
    config: Config,
    handle: Option<ConcurrentAlexStorage>,
}

impl ConcurrentStore {
    pub fn open(dir: &Path, config: Config) -> EngineResult<ConcurrentStore> {
        let handle = ConcurrentAlexStorage::open_with(dir, config.clone())?;
        Ok(ConcurrentStore {
            dir: dir.to_path_buf(),
            config,
            handle: Some(handle),
        })
    }

    fn handle(&self) -> EngineResult<&ConcurrentAlexStorage> {
        self.handle.as_ref().ok_or_else(|| closed_error(&self.dir))
    }
}

impl KvStore for ConcurrentStore {
    fn name(&self) -> &'static str {
        "alexdb"
    }

    fn get(&self, key: i64, out: &mut Vec<u8>) -> EngineResult<bool> {
        out.clear();
        let found = self
            .handle()?
            .get_with(key, |value| out.extend_from_slice(value))?;
        Ok(found.is_some())
    }

    fn multi_get(&self, keys: &[i64], f: &mut dyn FnMut(usize, Option<&[u8]>)) -> EngineResult<()> {
        self.handle()?.multi_get_with(keys, f)
    }

    fn put(&self, key: i64, value: &[u8]) -> EngineResult<()> {
        self.handle()?.insert(key, value)
    }

    fn put_batch(&self, items: &[(i64, &[u8])]) -> EngineResult<()> {
        self.handle()?.insert_batch(items)
    }

    fn delete(&self, key: i64) -> EngineResult<bool> {
        self.handle()?.delete(key)
    }

    fn scan(&self, start: i64, count: usize, f: &mut dyn FnMut(i64, &[u8])) -> EngineResult<usize> {
        let mut seen = 0;
        if count == 0 {
            return Ok(0);
        }
        self.handle()?.scan(start.., |key, value| {
            f(key, value);
            seen += 1;
            seen < count
        })?;
        Ok(seen)
    }

    fn checkpoint(&self) -> EngineResult<()> {
        self.handle()?.checkpoint()
    }

    fn compact(&self) -> EngineResult<CompactSummary> {
        Ok(self.handle()?.compact()?.into())
    }

    fn reopen(&mut self) -> EngineResult<Duration> {
        if let Some(handle) = self.handle.take() {
            handle.close()?;
        }
        let started = Instant::now();
        let handle = ConcurrentAlexStorage::open_with(&self.dir, self.config.clone())?;
        let elapsed = started.elapsed();
        self.handle = Some(handle);
        Ok(elapsed)
    }

    fn stats(&self) -> StoreStats {
        match &self.handle {
            Some(handle) => engine_stats(&handle.stats()),
            None => StoreStats::default(),
        }
    }
}

fn engine_stats(stats: &alexdb_engine::StorageStats) -> StoreStats {
    StoreStats {
        keys: stats.keys as u64,
        live_bytes: stats.live_bytes,
        dead_bytes: stats.dead_bytes,
        space_amplification: stats.space_amplification,
        segments: stats.segments as u64,
        file_bytes: stats.file_bytes,
        index_bytes: stats.index_bytes as u64,
    }
}

// ----- AlexStorage -----------------------------------------------------------------------

/// `AlexStorage` behind a `RwLock`. The option is `None` only while `reopen` runs, or
/// after a failed reopen (every call then fails with the error of a closed store).
#[derive(Debug)]
pub struct EngineStore {
    dir: PathBuf,
    config: Config,
    storage: RwLock<Option<AlexStorage>>,
}

impl EngineStore {
    pub fn open(dir: &Path, config: Config) -> EngineResult<EngineStore> {
        let storage = AlexStorage::open_with(dir, config.clone())?;
        Ok(EngineStore {
            dir: dir.to_path_buf(),
            config,
            storage: RwLock::new(Some(storage)),
        })
    }

    /// The shared lock. A poisoned lock means a thread panicked while writing; the
    /// panic is reported by the thread's join, and the store itself stays consistent
    /// (the engine does not leave half-applied state visible), so reads go on.
    fn read(&self) -> EngineResult<RwLockReadGuard<'_, Option<AlexStorage>>> {
        let guard = self
            .storage
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if guard.is_none() {
            return Err(closed_error(&self.dir));
        }
        Ok(guard)
    }

    fn write(&self) -> EngineResult<RwLockWriteGuard<'_, Option<AlexStorage>>> {
        let guard = self
            .storage
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if guard.is_none() {
            return Err(closed_error(&self.dir));
        }
        Ok(guard)
    }
}

fn closed_error(dir: &Path) -> alexdb_engine::Error {
    alexdb_engine::Error::Io {
        path: dir.to_path_buf(),
        source: std::io::Error::other("the store is closed (an earlier reopen failed)"),
    }
}

/// Runs `f` on the storage inside a guard that `read()`/`write()` proved is `Some`.
macro_rules! with_storage {
    ($guard:expr, |$storage:ident| $body:expr) => {{
        match $guard {
            Some($storage) => $body,
            None => unreachable!("read()/write() return only guards holding a store"),
        }
    }};
}

impl KvStore for EngineStore {
    fn name(&self) -> &'static str {
        "alexdb-storage"
    }

    fn get(&self, key: i64, out: &mut Vec<u8>) -> EngineResult<bool> {
        let guard = self.read()?;
        with_storage!(guard.as_ref(), |storage| {
            out.clear();
            match storage.get(key)? {
                Some(value) => {
                    out.extend_from_slice(value);
                    Ok(true)
                }
                None => Ok(false),
            }
        })
    }

    fn multi_get(&self, keys: &[i64], f: &mut dyn FnMut(usize, Option<&[u8]>)) -> EngineResult<()> {
        let guard = self.read()?;
        with_storage!(guard.as_ref(), |storage| {
            for (i, value) in storage.multi_get(keys)?.into_iter().enumerate() {
                f(i, value);
            }
            Ok(())
        })
    }

    fn put(&self, key: i64, value: &[u8]) -> EngineResult<()> {
        let mut guard = self.write()?;
        with_storage!(guard.as_mut(), |storage| storage.insert(key, value))
    }

    fn put_batch(&self, items: &[(i64, &[u8])]) -> EngineResult<()> {
        let mut guard = self.write()?;
        with_storage!(guard.as_mut(), |storage| storage.insert_batch(items))
    }

    fn delete(&self, key: i64) -> EngineResult<bool> {
        let mut guard = self.write()?;
        with_storage!(guard.as_mut(), |storage| storage.delete(key))
    }

    fn scan(&self, start: i64, count: usize, f: &mut dyn FnMut(i64, &[u8])) -> EngineResult<usize> {
        let guard = self.read()?;
        with_storage!(guard.as_ref(), |storage| {
            let mut seen = 0;
            for item in storage.range(start..).take(count) {
                let (key, value) = item?;
                f(key, value);
                seen += 1;
            }
            Ok(seen)
        })
    }

    fn checkpoint(&self) -> EngineResult<()> {
        let mut guard = self.write()?;
        with_storage!(guard.as_mut(), |storage| storage.checkpoint())
    }

    fn compact(&self) -> EngineResult<CompactSummary> {
        let mut guard = self.write()?;
        with_storage!(guard.as_mut(), |storage| { Ok(storage.compact()?.into()) })
    }

    fn reopen(&mut self) -> EngineResult<Duration> {
        let slot = self
            .storage
            .get_mut()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(storage) = slot.take() {
            storage.close()?;
        }
        let started = Instant::now();
        let storage = AlexStorage::open_with(&self.dir, self.config.clone())?;
        let elapsed = started.elapsed();
        *slot = Some(storage);
        Ok(elapsed)
    }

    fn stats(&self) -> StoreStats {
        let guard = self
            .storage
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        match guard.as_ref() {
            Some(storage) => engine_stats(&storage.stats()),
            None => StoreStats::default(),
        }
    }
}

// ----- BTreeMap --------------------------------------------------------------------------

/// `BTreeMap<i64, Vec<u8>>` under a `RwLock`: in memory, nothing to compact, `reopen`
/// keeps the map (it measures nothing but the lock round trip).
#[derive(Debug, Default)]
pub struct BTreeStore {
    map: RwLock<BTreeMap<i64, Vec<u8>>>,
}

impl BTreeStore {
    fn read(&self) -> RwLockReadGuard<'_, BTreeMap<i64, Vec<u8>>> {
        self.map
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, BTreeMap<i64, Vec<u8>>> {
        self.map
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Rough heap bytes per `BTreeMap` entry beyond key and value (node overhead).
const BTREE_ENTRY_OVERHEAD_BYTES: u64 = 24 + 16;

impl KvStore for BTreeStore {
    fn name(&self) -> &'static str {
        "btreemap"
    }

    fn get(&self, key: i64, out: &mut Vec<u8>) -> EngineResult<bool> {
        out.clear();
        match self.read().get(&key) {
            Some(value) => {
                out.extend_from_slice(value);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    fn multi_get(&self, keys: &[i64], f: &mut dyn FnMut(usize, Option<&[u8]>)) -> EngineResult<()> {
        let map = self.read();
        for (i, key) in keys.iter().enumerate() {
            f(i, map.get(key).map(Vec::as_slice));
        }
        Ok(())
    }

    fn put(&self, key: i64, value: &[u8]) -> EngineResult<()> {
        self.write().insert(key, value.to_vec());
        Ok(())
    }

    fn put_batch(&self, items: &[(i64, &[u8])]) -> EngineResult<()> {
        let mut map = self.write();
        for (key, value) in items {
            map.insert(*key, value.to_vec());
        }
        Ok(())
    }

    fn delete(&self, key: i64) -> EngineResult<bool> {
        Ok(self.write().remove(&key).is_some())
    }

    fn scan(&self, start: i64, count: usize, f: &mut dyn FnMut(i64, &[u8])) -> EngineResult<usize> {
        let map = self.read();
        let mut seen = 0;
        for (key, value) in map.range(start..).take(count) {
            f(*key, value);
            seen += 1;
        }
        Ok(seen)
    }

    fn checkpoint(&self) -> EngineResult<()> {
        Ok(())
    }

    fn compact(&self) -> EngineResult<CompactSummary> {
        Ok(CompactSummary::default())
    }

    fn reopen(&mut self) -> EngineResult<Duration> {
        let started = Instant::now();
        drop(self.write());
        Ok(started.elapsed())
    }

    fn stats(&self) -> StoreStats {
        let map = self.read();
        let keys = map.len() as u64;
        let live_bytes: u64 = map.values().map(|value| 8 + value.len() as u64).sum();
        StoreStats {
            keys,
            live_bytes,
            dead_bytes: 0,
            space_amplification: 1.0,
            segments: 0,
            file_bytes: 0,
            index_bytes: keys * BTREE_ENTRY_OVERHEAD_BYTES,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exercise(store: &mut dyn KvStore) {
        let mut out = Vec::new();
        assert!(!store.get(5, &mut out).unwrap());
        store.put(5, b"five").unwrap();
        store
            .put_batch(&[(-3, b"minus three"), (i64::MAX, b"max")])
            .unwrap();
        assert!(store.get(5, &mut out).unwrap());
        assert_eq!(out, b"five");
        let mut keys = Vec::new();
        assert_eq!(
            store
                .scan(i64::MIN, 10, &mut |key, _| keys.push(key))
                .unwrap(),
            3
        );
        assert_eq!(keys, vec![-3, 5, i64::MAX]);
        assert!(store.delete(5).unwrap());
        assert!(!store.delete(5).unwrap());
        store.checkpoint().unwrap();
        store.compact().unwrap();
        store.reopen().unwrap();
        assert!(!store.get(5, &mut out).unwrap());
        assert!(store.get(-3, &mut out).unwrap());
        assert_eq!(out, b"minus three");
        assert_eq!(store.stats().keys, 2);
    }

    #[test]
    fn btree_store_behaves_like_a_map() {
        exercise(&mut BTreeStore::default());
    }

    #[test]
    fn engine_stores_behave_like_a_map() {
        for kind in [EngineKind::Alex, EngineKind::Storage] {
            let dir = tempfile::tempdir().unwrap();
            let mut store = open_store(kind, dir.path(), SyncSetting::Off).unwrap();
            exercise(&mut *store);
        }
    }
}
