//! The handle: reads under the shared lock, writes through the log's group commit, and
//! maintenance that keeps I/O out of the exclusive lock. See the crate docs.

use crate::bias::BiasedRwLock;
use crate::maintainer::Maintainer;
use crate::metrics::{Metrics, MetricsSnapshot, OpKind};
use alexdb_engine::codec::{self, DEFAULT_KEYSPACE, KeyspaceId, TAG_DELETE, TAG_PUT};
use alexdb_engine::{
    AccessMode, AlexStorage, CatchUpReport, CompactionGoal, CompactionReport, Config, Error,
    Keyspace, KeyspaceCreation, PublishedBatch, Result, StorageStats, WriteBatch,
};
use alexdb_wal::{CommitReceipt, Entry, Publish, Wal};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::ops::RangeBounds;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Keys a `multi_get` looks up per hold of the shared lock (tens of microseconds).
pub const MULTI_GET_LOCK_KEYS: usize = 256;

/// A thread-safe handle to a store. Cloning is cheap (an `Arc`); all clones share the
/// store, its log and its metrics.
#[derive(Clone, Debug)]
pub struct ConcurrentAlexStorage {
    /// The maintenance thread, with `Config::background_maintenance` (read-write stores
    /// only). Declared before `shared` so that the last handle stops the thread (and
    /// waits for its run) before it lets go of the store.
    maintainer: Option<Arc<Maintainer>>,
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    /// The store behind its `RwLock`, with a reader-biased fast path (see `bias`).
    storage: BiasedRwLock<AlexStorage>,
    /// The log (read-write stores only); committing never takes `storage`'s lock.
    wal: Option<Arc<Wal>>,
    mode: AccessMode,
    max_value_len: u64,
    auto_compact: bool,
    metrics: Metrics,
    /// Serializes checkpoints, compactions and keyspace creation (the MANIFEST writers).
    maintenance: Mutex<()>,
    /// Set if a durable group could not be applied to the indexes: they may lag the log,
    /// so every later write fails until the store is reopened.
    failure: Mutex<Option<String>>,
    /// `failure` is set: checked (a relaxed load) before taking its mutex, so writers
    /// do not pass one mutex's cache line between cores twice per write.
    failed: AtomicBool,
    /// Whether the store wanted a checkpoint after the last applied group: written by the
    /// group leader under the exclusive lock, read by every writer without a lock.
    checkpoint_due: AtomicBool,
    /// For each applied tombstone, whether its key existed; taken by its committer.
    delete_outcomes: Mutex<HashMap<u64, bool>>,
    /// The last error of an automatic checkpoint or compaction, if any.
    maintenance_error: Mutex<Option<String>>,
}

impl Publish for Shared {
    /// Called by the group leader once the group is durable: apply it, whole and in log
    /// order, under the exclusive lock.
    fn publish(&self, group: &[PublishedBatch<'_>]) {
        // Take the apply's cache misses (index leaves, replaced records' headers) under
        // the shared lock, so readers wait through fewer of them (see engine `warm.rs`).
        self.storage.read().warm_published(group);
        let mut outcomes = Vec::new();
        let applied = {
            let mut storage = self.storage.write();
            let applied =
                storage.apply_published(group, &mut |seq, existed| outcomes.push((seq, existed)));
            self.checkpoint_due
                .store(storage.checkpoint_due(), Ordering::Relaxed);
            applied
        };
        if !outcomes.is_empty() {
            self.delete_outcomes.lock().extend(outcomes);
        }
        if let Err(error) = applied {
            *self.failure.lock() = Some(error.to_string());
            self.failed.store(true, Ordering::Release);
        }
    }
}

impl Shared {
    fn check_failure(&self) -> Result<()> {
        if !self.failed.load(Ordering::Acquire) {
            return Ok(());
        }
        match &*self.failure.lock() {
            Some(cause) => Err(Error::Poisoned {
                cause: cause.clone(),
            }),
            None => Ok(()),
        }
    }

    fn writer(&self) -> Result<&Arc<Wal>> {
        self.wal.as_ref().ok_or(Error::ReadOnly {
            mode: match self.mode {
                AccessMode::Secondary => "secondary",
                _ => "read-only",
            },
        })
    }
}

impl ConcurrentAlexStorage {
    /// Open (creating if missing) with [`Config::production`].
    pub fn open(dir: impl AsRef<Path>) -> Result<ConcurrentAlexStorage> {
        ConcurrentAlexStorage::open_with(dir, Config::default())
    }

    /// Open (creating if missing) with `config`.
    pub fn open_with(dir: impl AsRef<Path>, config: Config) -> Result<ConcurrentAlexStorage> {
        Ok(ConcurrentAlexStorage::wrap(AlexStorage::open_with(
            dir, config,
        )?))
    }

    /// Open a consistent read-only view of a store another process may be writing.
    pub fn open_readonly(dir: impl AsRef<Path>) -> Result<ConcurrentAlexStorage> {
        Ok(ConcurrentAlexStorage::wrap(AlexStorage::open_readonly(
            dir,
        )?))
    }

    /// Open a secondary that follows a writer in another process with `catch_up`.
    pub fn open_secondary(dir: impl AsRef<Path>) -> Result<ConcurrentAlexStorage> {
        Ok(ConcurrentAlexStorage::wrap(AlexStorage::open_secondary(
            dir,
        )?))
    }

    /// Share an already open store.
    pub fn wrap(storage: AlexStorage) -> ConcurrentAlexStorage {
        let background = storage.config().background_maintenance && storage.wal().is_some();
        let shared = Shared {
            wal: storage.wal().cloned(),
            mode: storage.access_mode(),
            max_value_len: storage.config().max_value_len,
            auto_compact: storage.config().auto_compact,
            storage: BiasedRwLock::new(storage),
            metrics: Metrics::default(),
            maintenance: Mutex::new(()),
            failure: Mutex::new(None),
            failed: AtomicBool::new(false),
            checkpoint_due: AtomicBool::new(false),
            delete_outcomes: Mutex::new(HashMap::new()),
            maintenance_error: Mutex::new(None),
        };
        let shared = Arc::new(shared);
        let maintainer = background.then(|| {
            let store = Arc::downgrade(&shared);
            let started = Maintainer::start(move || match store.upgrade() {
                Some(shared) => {
                    let handle = ConcurrentAlexStorage {
                        maintainer: None,
                        shared,
                    };
                    // No writer is there to see a panic: report it like an error and
                    // keep serving requests (nothing is adopted unless a step finished).
                    let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        handle.run_maintenance();
                    }));
                    if run.is_err() {
                        *handle.shared.maintenance_error.lock() =
                            Some("automatic maintenance panicked".into());
                    }
                    true
                }
                None => false,
            });
            match started {
                Ok(maintainer) => Some(Arc::new(maintainer)),
                Err(error) => {
                    // Fall back to running maintenance on the writers, and say why.
                    *shared.maintenance_error.lock() =
                        Some(format!("could not start the maintenance thread: {error}"));
                    None
                }
            }
        });
        ConcurrentAlexStorage {
            maintainer: maintainer.flatten(),
            shared,
        }
    }

    fn measured<T>(&self, kind: OpKind, work: impl FnOnce() -> Result<T>) -> Result<T> {
        let timer = self.shared.metrics.start(kind);
        let outcome = work();
        self.shared.metrics.finish(timer, &outcome);
        outcome
    }

    /// A point read under the shared lock, metered: the metrics are finished *before*
    /// the lock is released, not after.
    ///
    /// Why: releasing the lock is a locked instruction, which cannot complete before the
    /// read's cache misses are served. Metering after it made every `get` wait for that,
    /// and the next `get` could no longer start its own misses while this one's were in
    /// flight: at 1M keys a metered `get_with` took ~510 ns against ~260 ns unmetered;
    /// finished under the lock it takes ~260 ns (a probe, one thread). A timed `get`'s
    /// latency therefore ends before the release.
    #[inline]
    fn measured_read<T>(&self, read: impl FnOnce(&AlexStorage) -> Result<T>) -> Result<T> {
        let timer = self.shared.metrics.start(OpKind::Get);
        let guard = self.shared.storage.read();
        let outcome = read(&guard);
        self.shared.metrics.finish(timer, &outcome);
        drop(guard);
        outcome
    }

    // ----- reads (shared lock) ---------------------------------------------------------

    /// The value of `key` (default keyspace), copied. For a loop of reads,
    /// [`ConcurrentAlexStorage::get_into`] with one reused buffer is about twice as fast.
    pub fn get(&self, key: i64) -> Result<Option<Vec<u8>>> {
        self.measured_read(|storage| Ok(storage.get(key)?.map(<[u8]>::to_vec)))
    }

    /// Hand the value of `key` to `f` without copying; `f` runs under the shared lock,
    /// so keep it short.
    pub fn get_with<R>(&self, key: i64, f: impl FnOnce(&[u8]) -> R) -> Result<Option<R>> {
        self.measured_read(|storage| Ok(storage.get(key)?.map(f)))
    }

    /// The value of `key` (default keyspace) copied into `buf`, which is cleared first:
    /// `true` if the key exists, `false` (and `buf` empty) if not. The same answer as
    /// [`ConcurrentAlexStorage::get`] without a new allocation per call — for loops of
    /// point reads, reuse one buffer. A tight loop of `get`s, each copy freed by the
    /// caller right after, ran at ~520 ns per read against ~270 ns this way (1M keys,
    /// 100-byte values, one thread; docs/PERFORMANCE.md, "Session 11").
    pub fn get_into(&self, key: i64, buf: &mut Vec<u8>) -> Result<bool> {
        buf.clear();
        Ok(self
            .get_with(key, |value| buf.extend_from_slice(value))?
            .is_some())
    }

    /// Whether `key` exists (default keyspace): an index lookup under the shared lock,
    /// without reading the record. Metered as a `get`.
    pub fn contains_key(&self, key: i64) -> bool {
        // The closure cannot fail; `measured_read` takes a `Result` for the other reads.
        self.measured_read(|storage| Ok(storage.contains_key(key)))
            .unwrap_or(false)
    }

    /// Whether `keyspace` holds `key` (without reading its value). Metered as a `get`.
    pub fn contains_key_in(&self, keyspace: &Keyspace, key: i64) -> Result<bool> {
        self.measured_read(|storage| storage.contains_key_in(keyspace, key))
    }

    /// The values of `keys` (default keyspace), copied, in the order asked: like a `get`
    /// per key, with the lookups and record reads of several keys overlapped (see
    /// [`AlexStorage::multi_get`]). The shared lock is taken per [`MULTI_GET_LOCK_KEYS`]
    /// keys, so a long call does not hold writers back; each answer is the key's value at
    /// some moment during the call, as with one `get` after another.
    pub fn multi_get(&self, keys: &[i64]) -> Result<Vec<Option<Vec<u8>>>> {
        let mut values = Vec::with_capacity(keys.len());
        self.multi_get_with(keys, |_, value| values.push(value.map(<[u8]>::to_vec)))?;
        Ok(values)
    }

    /// [`ConcurrentAlexStorage::multi_get`] without copying: `f` gets each key's position
    /// in `keys` and its value, in order, under the shared lock (keep it short). If the
    /// call fails (a damaged record, an unknown keyspace), `f` has seen the keys of the
    /// lock holds before the failing one.
    pub fn multi_get_with(&self, keys: &[i64], f: impl FnMut(usize, Option<&[u8]>)) -> Result<()> {
        let keyspace = self.default_keyspace();
        self.multi_get_with_in(&keyspace, keys, f)
    }

    /// [`ConcurrentAlexStorage::multi_get_with`] in `keyspace`.
    pub fn multi_get_with_in(
        &self,
        keyspace: &Keyspace,
        keys: &[i64],
        mut f: impl FnMut(usize, Option<&[u8]>),
    ) -> Result<()> {
        self.measured(OpKind::MultiGet, || {
            for (chunk_index, chunk) in keys.chunks(MULTI_GET_LOCK_KEYS).enumerate() {
                let storage = self.shared.storage.read();
                let values = storage.multi_get_in(keyspace, chunk)?;
                for (i, value) in values.into_iter().enumerate() {
                    f(chunk_index * MULTI_GET_LOCK_KEYS + i, value);
                }
            }
            Ok(())
        })
    }

    /// The value of `key` in `keyspace`, copied.
    pub fn get_in(&self, keyspace: &Keyspace, key: i64) -> Result<Option<Vec<u8>>> {
        self.measured_read(|storage| Ok(storage.get_in(keyspace, key)?.map(<[u8]>::to_vec)))
    }

    /// [`ConcurrentAlexStorage::get_into`] in `keyspace`.
    pub fn get_into_in(&self, keyspace: &Keyspace, key: i64, buf: &mut Vec<u8>) -> Result<bool> {
        buf.clear();
        Ok(self
            .get_with_in(keyspace, key, |value| buf.extend_from_slice(value))?
            .is_some())
    }

    /// `get_with` in `keyspace`.
    pub fn get_with_in<R>(
        &self,
        keyspace: &Keyspace,
        key: i64,
        f: impl FnOnce(&[u8]) -> R,
    ) -> Result<Option<R>> {
        self.measured_read(|storage| Ok(storage.get_in(keyspace, key)?.map(f)))
    }

    /// Up to `limit` keys and values of `range` (default keyspace), in key order.
    pub fn range_collect(
        &self,
        range: impl RangeBounds<i64>,
        limit: usize,
    ) -> Result<Vec<(i64, Vec<u8>)>> {
        let keyspace = self.default_keyspace();
        self.range_collect_in(&keyspace, range, limit)
    }

    /// Up to `limit` keys and values of `range` in `keyspace`, in key order.
    pub fn range_collect_in(
        &self,
        keyspace: &Keyspace,
        range: impl RangeBounds<i64>,
        limit: usize,
    ) -> Result<Vec<(i64, Vec<u8>)>> {
        self.measured(OpKind::Scan, || {
            let storage = self.shared.storage.read();
            storage
                .range_in(keyspace, range)?
                .take(limit)
                .map(|item| item.map(|(key, value)| (key, value.to_vec())))
                .collect()
        })
    }

    /// Visit keys and values of `range` in key order until `f` returns `false`. Runs under
    /// the shared lock: writers' groups wait until it returns.
    pub fn scan(
        &self,
        range: impl RangeBounds<i64>,
        f: impl FnMut(i64, &[u8]) -> bool,
    ) -> Result<()> {
        let keyspace = self.default_keyspace();
        self.scan_in(&keyspace, range, f)
    }

    /// `scan` in `keyspace`.
    pub fn scan_in(
        &self,
        keyspace: &Keyspace,
        range: impl RangeBounds<i64>,
        mut f: impl FnMut(i64, &[u8]) -> bool,
    ) -> Result<()> {
        self.measured(OpKind::Scan, || {
            let storage = self.shared.storage.read();
            for item in storage.range_in(keyspace, range)? {
                let (key, value) = item?;
                if !f(key, value) {
                    break;
                }
            }
            Ok(())
        })
    }

    /// Keys in the default keyspace.
    pub fn len(&self) -> usize {
        self.shared.storage.read().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    // ----- writes (group commit, no store lock while syncing) --------------------------

    /// Insert or overwrite `key` (default keyspace).
    pub fn insert(&self, key: i64, value: &[u8]) -> Result<()> {
        self.measured(OpKind::Insert, || self.put(DEFAULT_KEYSPACE, key, value))
    }

    /// Insert or overwrite `key` in `keyspace`.
    pub fn insert_in(&self, keyspace: &Keyspace, key: i64, value: &[u8]) -> Result<()> {
        self.measured(OpKind::Insert, || {
            self.shared.storage.read().len_in(keyspace)?;
            self.put(keyspace.id(), key, value)
        })
    }

    fn put(&self, keyspace: KeyspaceId, key: i64, value: &[u8]) -> Result<()> {
        self.check_value_len(key, value.len())?;
        let head = codec::encode_head(keyspace, key);
        self.commit(&[Entry {
            tag: TAG_PUT,
            head: &head,
            body: value,
        }])?;
        Ok(())
    }

    /// Insert or overwrite all `entries` atomically (default keyspace).
    pub fn insert_batch(&self, entries: &[(i64, &[u8])]) -> Result<()> {
        self.measured(OpKind::Batch, || {
            for (key, value) in entries {
                self.check_value_len(*key, value.len())?;
            }
            let heads = codec::put_heads(DEFAULT_KEYSPACE, entries);
            self.commit(&codec::put_entries(entries, &heads))?;
            Ok(())
        })
    }

    /// Apply a batch of puts and deletes (any keyspaces) atomically.
    pub fn write(&self, batch: WriteBatch) -> Result<()> {
        self.measured(OpKind::Batch, || {
            self.shared.storage.read().validate_batch(&batch)?;
            let mut heads = Vec::new();
            let entries = batch.log_entries(&mut heads);
            let receipt = self.commit(&entries)?;
            if batch.has_deletes() {
                let mut outcomes = self.shared.delete_outcomes.lock();
                for seq in receipt.first_seq.0..receipt.first_seq.0 + entries.len() as u64 {
                    outcomes.remove(&seq);
                }
            }
            Ok(())
        })
    }

    /// Delete `key` (default keyspace); `true` if it existed when the delete was applied.
    pub fn delete(&self, key: i64) -> Result<bool> {
        let keyspace = self.default_keyspace();
        self.delete_in(&keyspace, key)
    }

    /// Delete `key` from `keyspace`; `true` if it existed when the delete was applied.
    /// Deleting a key that is absent writes nothing.
    pub fn delete_in(&self, keyspace: &Keyspace, key: i64) -> Result<bool> {
        self.measured(OpKind::Delete, || {
            self.shared.writer()?;
            if !self.shared.storage.read().contains_key_in(keyspace, key)? {
                return Ok(false);
            }
            let head = codec::encode_head(keyspace.id(), key);
            let receipt = self.commit(&[Entry {
                tag: TAG_DELETE,
                head: &head,
                body: &[],
            }])?;
            Ok(self
                .shared
                .delete_outcomes
                .lock()
                .remove(&receipt.first_seq.0)
                .unwrap_or(false))
        })
    }

    fn check_value_len(&self, key: i64, len: usize) -> Result<()> {
        if len as u64 > self.shared.max_value_len {
            return Err(Error::ValueTooLarge {
                key,
                len: len as u64,
                max: self.shared.max_value_len,
            });
        }
        Ok(())
    }

    /// Append, sync per the sync mode, and get applied by the group leader.
    fn commit(&self, entries: &[Entry<'_>]) -> Result<CommitReceipt> {
        let wal = self.shared.writer()?;
        self.shared.check_failure()?;
        let receipt = self.measured(OpKind::Commit, || {
            Ok(wal.commit_with(entries, &*self.shared)?)
        })?;
        self.shared.check_failure()?;
        self.maintain_if_due();
        Ok(receipt)
    }

    /// Automatic checkpoint (and compaction) once enough log was written: handed to the
    /// maintenance thread if there is one, else run by the writer that notices first
    /// (others go on).
    fn maintain_if_due(&self) {
        if !self.shared.checkpoint_due.load(Ordering::Relaxed) {
            return;
        }
        match &self.maintainer {
            Some(maintainer) => maintainer.request(),
            None => self.run_maintenance(),
        }
    }

    /// One round of automatic maintenance, if still due and no other maintenance runs.
    fn run_maintenance(&self) {
        let Some(_maintenance) = self.shared.maintenance.try_lock() else {
            return;
        };
        // The flag may be stale (a checkpoint ran since it was set): clear it, then ask
        // the store. Cleared first, so a group applied meanwhile that sets it again is
        // not overwritten (its writers' next request would otherwise never come).
        self.shared.checkpoint_due.store(false, Ordering::Relaxed);
        if !self.shared.storage.read().checkpoint_due() {
            return;
        }
        let mut outcome = self.checkpoint_locked();
        if outcome.is_ok()
            && self.shared.auto_compact
            && self.shared.storage.read().has_compaction_work()
        {
            outcome = self.compact_locked(CompactionGoal::DeadRatio).map(|_| ());
        }
        if let Err(error) = outcome {
            *self.shared.maintenance_error.lock() = Some(error.to_string());
        }
    }

    /// The last error of an automatic checkpoint or compaction (the writes that
    /// triggered it succeeded regardless).
    pub fn maintenance_error(&self) -> Option<String> {
        self.shared.maintenance_error.lock().clone()
    }

    // ----- keyspaces -------------------------------------------------------------------

    pub fn default_keyspace(&self) -> Keyspace {
        self.shared.storage.read().default_keyspace()
    }

    /// The keyspace `name`, created (durably) if missing. The MANIFEST is written with
    /// no store lock held; the exclusive lock only makes the keyspace visible.
    pub fn keyspace(&self, name: &str) -> Result<Keyspace> {
        if let Ok(keyspace) = self.shared.storage.read().existing_keyspace(name) {
            return Ok(keyspace);
        }
        let _maintenance = self.shared.maintenance.lock();
        let creation = self.shared.storage.read().begin_keyspace(name)?;
        match creation {
            KeyspaceCreation::Existing(keyspace) => Ok(keyspace),
            KeyspaceCreation::New(pending) => {
                pending.write()?;
                Ok(self.shared.storage.write().finish_keyspace(pending))
            }
        }
    }

    /// The keyspace `name`, or `Error::KeyspaceNotFound`.
    pub fn existing_keyspace(&self, name: &str) -> Result<Keyspace> {
        self.shared.storage.read().existing_keyspace(name)
    }

    pub fn keyspaces(&self) -> Vec<Keyspace> {
        self.shared.storage.read().keyspaces()
    }

    // ----- maintenance -----------------------------------------------------------------

    /// Write an index snapshot so the next open replays only the log after it. Encodes
    /// under the shared lock, writes with no lock.
    pub fn checkpoint(&self) -> Result<()> {
        let _maintenance = self.shared.maintenance.lock();
        self.checkpoint_locked()
    }

    fn checkpoint_locked(&self) -> Result<()> {
        let wal = self.shared.writer()?;
        let pending = self.shared.storage.read().begin_checkpoint()?;
        wal.sync()?;
        let written = pending.write()?;
        self.shared.storage.write().finish_checkpoint(written);
        Ok(())
    }

    /// Compact segments past the dead-byte threshold while readers and writers go on;
    /// the exclusive lock is taken only to repoint the indexes and to adopt the MANIFEST.
    pub fn compact(&self) -> Result<CompactionReport> {
        let _maintenance = self.shared.maintenance.lock();
        self.compact_locked(CompactionGoal::TargetAmplification)
    }

    fn compact_locked(&self, goal: CompactionGoal) -> Result<CompactionReport> {
        let wal = self.shared.writer()?;
        if self
            .shared
            .storage
            .read()
            .active_segment_worth_sealing(goal)
        {
            wal.roll()?;
        }
        let Some(mut choice) = self.shared.storage.read().choose_compaction(goal)? else {
            return Ok(CompactionReport::default());
        };
        self.shared.storage.read().choose_live(&mut choice);
        for victim in 0..choice.victim_count() {
            self.shared
                .storage
                .read()
                .choose_survivors(&mut choice, victim)?;
        }
        let plan = choice.copy()?;
        let installed = self.shared.storage.write().install_compaction(plan)?;
        let pending = self
            .shared
            .storage
            .read()
            .begin_compaction_commit(&installed)?;
        wal.sync()?;
        let written = pending.write()?;
        {
            let mut storage = self.shared.storage.write();
            storage.finish_checkpoint(written);
            storage.compaction_done();
        }
        installed.retire_victims()
    }

    /// Make every acknowledged write durable now.
    pub fn sync(&self) -> Result<()> {
        Ok(self.shared.writer()?.sync()?)
    }

    /// Secondary stores: apply what the writer appended since the last call. After it
    /// returns, every write the writer acknowledged before the call is visible (I-8).
    pub fn catch_up(&self) -> Result<CatchUpReport> {
        self.measured(OpKind::CatchUp, || {
            // One catch-up at a time. A reload (the writer compacted or was replaced)
            // opens the fresh store under the shared lock, so readers go on meanwhile,
            // and takes the exclusive lock only to swap it in; the old store is dropped
            // after the lock is released.
            let _one_at_a_time = self.shared.maintenance.lock();
            let started = std::time::Instant::now();
            let reloaded = {
                let storage = self.shared.storage.read();
                if storage.catch_up_needs_reload()? {
                    Some(storage.open_reloaded(started)?)
                } else {
                    None
                }
            };
            match reloaded {
                Some((fresh, report)) => {
                    let old = std::mem::replace(&mut *self.shared.storage.write(), fresh);
                    drop(old);
                    Ok(report)
                }
                None => self.shared.storage.write().catch_up(),
            }
        })
    }

    // ----- introspection ---------------------------------------------------------------

    pub fn stats(&self) -> StorageStats {
        self.shared.storage.read().stats()
    }

    pub fn metrics(&self) -> MetricsSnapshot {
        self.shared.metrics.snapshot()
    }

    pub fn access_mode(&self) -> AccessMode {
        self.shared.mode
    }

    /// Run `f` with shared access to the underlying store.
    pub fn with_storage<R>(&self, f: impl FnOnce(&AlexStorage) -> R) -> R {
        f(&self.shared.storage.read())
    }

    /// Sync (read-write stores) and report errors that dropping would swallow; like
    /// `AlexStorage::close`, checkpoint first if
    /// [`AlexStorage::checkpoint_due_at_close`]. Other clones stay usable.
    pub fn close(self) -> Result<()> {
        if self.shared.wal.is_some() {
            if self.shared.storage.read().checkpoint_due_at_close() {
                self.checkpoint()?;
            } else {
                self.sync()?;
            }
        }
        Ok(())
    }
}
