//! `AlexStorage`: the store. Every write is appended once to the log (which is the
//! data); one `AlexMap` per keyspace maps each key to the location of its newest record;
//! a read follows that location into the memory-mapped segment and returns the bytes
//! without copying.
//!
//! Locking: `AlexStorage` is single-owner (`&mut self` writes). The concurrent wrapper
//! puts it behind a `RwLock`; the log itself is internally synchronized.

use crate::batch::WriteBatch;
use crate::codec::{
    self, DEFAULT_KEYSPACE, HEAD_LEN, KeyspaceId, PackedLocation, TAG_DELETE, TAG_PUT,
};
use crate::config::Config;
use crate::keyspace::{self, Keyspace, Keyspaces, MAX_KEYSPACES};
use crate::layout::DirLock;
use crate::manifest::Manifest;
use crate::range::Range;
use crate::recovery::OpenReport;
use crate::segments::SegmentTable;
use crate::stats::{KeyspaceStats, StorageStats};
use crate::{Error, Result};
use alexdb_wal::{CommitReceipt, Entry, PublishedBatch, SegmentWriter, Wal};
use std::ops::RangeBounds;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Keys whose lookups and record reads [`AlexStorage::multi_get`] overlaps.
pub const MULTI_GET_WINDOW: usize = 16;

/// How a store was opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AccessMode {
    /// The one writer: holds the directory lock.
    ReadWrite,
    /// A consistent snapshot of the files at open time; never changes.
    ReadOnly,
    /// Follows a writer in another process with `catch_up`.
    Secondary,
}

/// The storage engine. See the crate docs.
#[derive(Debug)]
pub struct AlexStorage {
    pub(crate) dir: PathBuf,
    pub(crate) config: Config,
    pub(crate) mode: AccessMode,
    /// Held for the lifetime of a read-write store.
    pub(crate) _lock: Option<DirLock>,
    /// The log, for a read-write store; `None` for read-only and secondary stores.
    pub(crate) wal: Option<Arc<Wal>>,
    /// Follows the writer's log, for read-only and secondary stores.
    pub(crate) follower: Option<alexdb_wal::LogFollower>,
    pub(crate) manifest: Manifest,
    pub(crate) keyspaces: Keyspaces,
    pub(crate) segments: SegmentTable,
    pub(crate) open_report: OpenReport,
    /// Log bytes after the last checkpoint: appended since, or replayed at open (drives
    /// automatic checkpoints and the one `close` may write).
    pub(crate) bytes_since_checkpoint: u64,
    /// Log bytes in the segments when the last checkpoint finished (at open, what the
    /// loaded snapshot covered): `Config::checkpoint_growth` is a fraction of it.
    pub(crate) checkpoint_base_bytes: u64,
    /// Highest sequence number applied to the indexes. Groups are applied in log order,
    /// so everything up to it is applied; snapshots cover exactly this.
    pub(crate) applied_seq: u64,
    /// Secondary stores: a catch-up failed after the follower moved on, so the next one
    /// must reload from the snapshot.
    pub(crate) needs_reload: bool,
    /// Read-only and secondary stores: the writer epoch (see `layout::DirLock`) seen at
    /// open; a different one means the writer restarted.
    pub(crate) writer_epoch: Option<u64>,
    pub(crate) checkpoints: u64,
    pub(crate) compactions: u64,
}

impl AlexStorage {
    /// A store with empty indexes over `segments`, before its indexes are loaded.
    pub(crate) fn assemble(
        dir: &Path,
        config: Config,
        mode: AccessMode,
        lock: Option<DirLock>,
        wal: Option<Arc<Wal>>,
        manifest: Manifest,
        segments: SegmentTable,
    ) -> AlexStorage {
        AlexStorage {
            dir: dir.to_path_buf(),
            keyspaces: Keyspaces::from_catalog(&manifest.keyspaces, config.index_max_data_slots),
            config,
            mode,
            _lock: lock,
            wal,
            follower: None,
            manifest,
            segments,
            open_report: OpenReport::default(),
            bytes_since_checkpoint: 0,
            checkpoint_base_bytes: 0,
            applied_seq: 0,
            needs_reload: false,
            writer_epoch: None,
            checkpoints: 0,
            compactions: 0,
        }
    }

    /// Open the store in `dir` with [`Config::production`], creating it if missing.
    pub fn open(dir: impl AsRef<Path>) -> Result<AlexStorage> {
        AlexStorage::open_with(dir, Config::default())
    }

    /// Open the store in `dir` with `config`, creating it if missing.
    pub fn open_with(dir: impl AsRef<Path>, config: Config) -> Result<AlexStorage> {
        crate::recovery::open_read_write(dir.as_ref(), config)
    }

    /// What opening found: snapshot or full scan, log recovery, timings.
    pub fn open_report(&self) -> &OpenReport {
        &self.open_report
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn access_mode(&self) -> AccessMode {
        self.mode
    }

    // ----- keyspaces -------------------------------------------------------------------

    /// The handle of the default keyspace.
    pub fn default_keyspace(&self) -> Keyspace {
        self.keyspaces.default_keyspace().handle.clone()
    }

    /// The keyspace called `name`, created (durably) if it does not exist yet.
    pub fn keyspace(&mut self, name: &str) -> Result<Keyspace> {
        match self.begin_keyspace(name)? {
            KeyspaceCreation::Existing(keyspace) => Ok(keyspace),
            KeyspaceCreation::New(pending) => {
                pending.write()?;
                Ok(self.finish_keyspace(pending))
            }
        }
    }

    /// Keyspace creation phase 1 (`&self`): the existing keyspace, or the MANIFEST that
    /// would create it. Only one checkpoint, compaction or keyspace creation may be in
    /// progress at a time.
    pub fn begin_keyspace(&self, name: &str) -> Result<KeyspaceCreation> {
        if let Some(state) = self.keyspaces.by_name(name) {
            return Ok(KeyspaceCreation::Existing(state.handle.clone()));
        }
        self.ensure_writable()?;
        keyspace::validate_name(name)?;
        if self.keyspaces.count() >= MAX_KEYSPACES {
            return Err(Error::InvalidKeyspaceName {
                name: name.to_string(),
                reason: format!("a store holds at most {MAX_KEYSPACES} keyspaces"),
            });
        }
        let id = self.keyspaces.next_id();
        let mut manifest = self.manifest.clone();
        manifest.keyspaces.push((id, name.to_string()));
        Ok(KeyspaceCreation::New(PendingKeyspace {
            dir: self.dir.clone(),
            id,
            name: name.to_string(),
            manifest,
        }))
    }

    /// Keyspace creation phase 3 (`&mut self`, no I/O): make the written keyspace usable.
    pub fn finish_keyspace(&mut self, pending: PendingKeyspace) -> Keyspace {
        self.manifest = pending.manifest;
        self.keyspaces.add(pending.id, &pending.name)
    }

    /// The keyspace called `name`, or `Error::KeyspaceNotFound`.
    pub fn existing_keyspace(&self, name: &str) -> Result<Keyspace> {
        self.keyspaces
            .by_name(name)
            .map(|state| state.handle.clone())
            .ok_or_else(|| Error::KeyspaceNotFound {
                name: name.to_string(),
            })
    }

    /// Every keyspace, in id order.
    pub fn keyspaces(&self) -> Vec<Keyspace> {
        self.keyspaces
            .iter()
            .map(|state| state.handle.clone())
            .collect()
    }

    pub(crate) fn state(&self, keyspace: &Keyspace) -> Result<&crate::keyspace::KeyspaceState> {
        self.keyspaces
            .get(keyspace.id)
            .filter(|state| state.handle.name == keyspace.name)
            .ok_or_else(|| Error::KeyspaceNotFound {
                name: keyspace.name.to_string(),
            })
    }

    // ----- reads -----------------------------------------------------------------------

    /// The value of `key` in the default keyspace: a slice of the memory-mapped segment.
    #[inline]
    pub fn get(&self, key: i64) -> Result<Option<&[u8]>> {
        let state = self.keyspaces.default_keyspace();
        match state.index.get(key) {
            Some(location) => self
                .segments
                .value(DEFAULT_KEYSPACE, key, PackedLocation(*location))
                .map(Some),
            None => Ok(None),
        }
    }

    /// The value of `key` in `keyspace`.
    pub fn get_in(&self, keyspace: &Keyspace, key: i64) -> Result<Option<&[u8]>> {
        let state = self.state(keyspace)?;
        match state.index.get(key) {
            Some(location) => self
                .segments
                .value(keyspace.id, key, PackedLocation(*location))
                .map(Some),
            None => Ok(None),
        }
    }

    /// The values of `keys` (default keyspace), in the order asked: the same answers as
    /// [`AlexStorage::get`] for each key, but the index lookups and record reads of
    /// [`MULTI_GET_WINDOW`] keys at a time overlap their cache misses (see
    /// [`alexdb_alex::AlexMap::get_many`]), so many scattered keys come back faster than
    /// one `get` after another. Duplicates and missing keys are allowed. A damaged record
    /// fails the whole call with the `Corruption` error `get` would give for its key.
    pub fn multi_get(&self, keys: &[i64]) -> Result<Vec<Option<&[u8]>>> {
        let state = self.keyspaces.default_keyspace();
        self.multi_get_from(DEFAULT_KEYSPACE, state, keys)
    }

    /// [`AlexStorage::multi_get`] in `keyspace`.
    pub fn multi_get_in(&self, keyspace: &Keyspace, keys: &[i64]) -> Result<Vec<Option<&[u8]>>> {
        self.multi_get_from(keyspace.id, self.state(keyspace)?, keys)
    }

    fn multi_get_from(
        &self,
        id: KeyspaceId,
        state: &crate::keyspace::KeyspaceState,
        keys: &[i64],
    ) -> Result<Vec<Option<&[u8]>>> {
        let mut values = Vec::with_capacity(keys.len());
        let mut locations = [None; MULTI_GET_WINDOW];
        for chunk in keys.chunks(MULTI_GET_WINDOW) {
            // Look the window up, starting each record's load as its location is known;
            // then read the records, whose lines are on their way.
            state.index.get_many(chunk, |i, location| {
                let location = location.map(|&packed| PackedLocation(packed));
                if let Some(location) = location {
                    self.segments.prefetch(location);
                }
                locations[i] = location;
            });
            for (&key, location) in chunk.iter().zip(&locations) {
                values.push(match *location {
                    Some(location) => Some(self.segments.value(id, key, location)?),
                    None => None,
                });
            }
        }
        Ok(values)
    }

    pub fn contains_key(&self, key: i64) -> bool {
        self.keyspaces.default_keyspace().index.contains_key(key)
    }

    /// Whether `keyspace` holds `key` (without reading its value).
    pub fn contains_key_in(&self, keyspace: &Keyspace, key: i64) -> Result<bool> {
        Ok(self.state(keyspace)?.index.contains_key(key))
    }

    /// Keys and values of the default keyspace in `range`, in key order (both directions).
    pub fn range(&self, range: impl RangeBounds<i64>) -> Range<'_> {
        let state = self.keyspaces.default_keyspace();
        Range::new(DEFAULT_KEYSPACE, state.index.range(range), &self.segments)
    }

    /// Keys and values of `keyspace` in `range`.
    pub fn range_in(&self, keyspace: &Keyspace, range: impl RangeBounds<i64>) -> Result<Range<'_>> {
        let state = self.state(keyspace)?;
        Ok(Range::new(
            keyspace.id,
            state.index.range(range),
            &self.segments,
        ))
    }

    /// Number of keys in the default keyspace.
    pub fn len(&self) -> usize {
        self.keyspaces.default_keyspace().index.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of keys in `keyspace`.
    pub fn len_in(&self, keyspace: &Keyspace) -> Result<usize> {
        Ok(self.state(keyspace)?.index.len())
    }

    // ----- writes ----------------------------------------------------------------------

    /// Insert or overwrite `key` in the default keyspace.
    pub fn insert(&mut self, key: i64, value: &[u8]) -> Result<()> {
        self.insert_entries(DEFAULT_KEYSPACE, &[(key, value)])
    }

    /// Insert or overwrite `key` in `keyspace`.
    pub fn insert_in(&mut self, keyspace: &Keyspace, key: i64, value: &[u8]) -> Result<()> {
        self.state(keyspace)?;
        self.insert_entries(keyspace.id, &[(key, value)])
    }

    /// Insert or overwrite all `entries` atomically.
    pub fn insert_batch(&mut self, entries: &[(i64, &[u8])]) -> Result<()> {
        self.insert_entries(DEFAULT_KEYSPACE, entries)
    }

    /// Delete `key` from the default keyspace; `true` if it existed. Deleting a missing
    /// key writes nothing.
    pub fn delete(&mut self, key: i64) -> Result<bool> {
        let keyspace = self.default_keyspace();
        self.delete_in(&keyspace, key)
    }

    /// Delete `key` from `keyspace`; `true` if it existed.
    pub fn delete_in(&mut self, keyspace: &Keyspace, key: i64) -> Result<bool> {
        self.ensure_writable()?;
        if !self.state(keyspace)?.index.contains_key(key) {
            return Ok(false);
        }
        let head = codec::encode_head(keyspace.id, key);
        let entry = Entry {
            tag: TAG_DELETE,
            head: &head,
            body: &[],
        };
        let receipt = self.writer()?.commit(&[entry])?;
        self.apply_receipt(
            &receipt,
            [(keyspace.id, key, TAG_DELETE, 0usize)].into_iter(),
        )?;
        self.after_write()?;
        Ok(true)
    }

    /// Apply a batch of puts and deletes atomically.
    pub fn write(&mut self, batch: WriteBatch) -> Result<()> {
        self.validate_batch(&batch)?;
        let mut heads = Vec::new();
        let entries = batch.log_entries(&mut heads);
        let receipt = self.writer()?.commit(&entries)?;
        self.apply_receipt(
            &receipt,
            batch
                .ops
                .iter()
                .map(|op| (op.keyspace, op.key, op.tag, op.value.len())),
        )?;
        self.after_write()
    }

    fn insert_entries(&mut self, keyspace: KeyspaceId, items: &[(i64, &[u8])]) -> Result<()> {
        self.ensure_writable()?;
        for (key, value) in items {
            self.check_value_len(*key, value.len())?;
        }
        let receipt = if let [(key, value)] = items {
            // Start the index's cache miss now; it completes while the log append runs.
            if let Some(state) = self.keyspaces.get(keyspace) {
                state.index.prefetch(*key);
            }
            let head = codec::encode_head(keyspace, *key);
            self.writer()?.commit(&[Entry {
                tag: TAG_PUT,
                head: &head,
                body: value,
            }])?
        } else {
            let heads = codec::put_heads(keyspace, items);
            self.writer()?.commit(&codec::put_entries(items, &heads))?
        };
        self.apply_receipt(
            &receipt,
            items
                .iter()
                .map(|(key, value)| (keyspace, *key, TAG_PUT, value.len())),
        )?;
        self.after_write()
    }

    fn check_value_len(&self, key: i64, len: usize) -> Result<()> {
        if len as u64 > self.config.max_value_len {
            return Err(Error::ValueTooLarge {
                key,
                len: len as u64,
                max: self.config.max_value_len,
            });
        }
        Ok(())
    }

    pub(crate) fn ensure_writable(&self) -> Result<()> {
        match self.mode {
            AccessMode::ReadWrite => Ok(()),
            AccessMode::ReadOnly => Err(Error::ReadOnly { mode: "read-only" }),
            AccessMode::Secondary => Err(Error::ReadOnly { mode: "secondary" }),
        }
    }

    /// Make committed entries visible: `ops` describes the entries of `receipt` in order.
    pub(crate) fn apply_receipt(
        &mut self,
        receipt: &CommitReceipt,
        ops: impl Iterator<Item = (KeyspaceId, i64, u8, usize)>,
    ) -> Result<()> {
        /// From this many entries on, apply in key order: consecutive index updates then
        /// land in the same or neighbouring leaves (cache-warm) instead of one random
        /// leaf each. Entries of the same key keep their log order: the sort key ends
        /// with the sequence number, which is unique, so an unstable sort (in place, no
        /// scratch buffer: 200 MB less to allocate for a batch of 10M) gives the order a
        /// stable one would.
        const SORT_FROM: usize = 256;
        if let [location] = receipt.locations.as_slice() {
            // A single put or delete (the common write): no list to build.
            let mut ops = ops;
            let (keyspace, key, tag, value_len) = ops.next().expect("one op per committed entry");
            let stored_len = SegmentWriter::stored_len((HEAD_LEN + value_len) as u64);
            let packed = self.pack(*location)?;
            self.apply_record(keyspace, key, tag, receipt.first_seq.0, packed, stored_len)?;
            self.bytes_since_checkpoint += stored_len;
            return Ok(());
        }
        let mut appended = 0;
        let mut records = Vec::with_capacity(receipt.locations.len());
        let entries = ops.zip(&receipt.locations).enumerate();
        for (index, ((keyspace, key, tag, value_len), location)) in entries {
            let stored_len = SegmentWriter::stored_len((HEAD_LEN + value_len) as u64);
            appended += stored_len;
            let packed = self.pack(*location)?;
            let seq = receipt.first_seq.0 + index as u64;
            records.push((keyspace, key, tag, seq, packed, stored_len));
        }
        if records.len() >= SORT_FROM {
            records.sort_unstable_by_key(|&(keyspace, key, _, seq, ..)| (keyspace, key, seq));
        }
        for (keyspace, key, tag, seq, packed, stored_len) in records {
            self.apply_record(keyspace, key, tag, seq, packed, stored_len)?;
        }
        self.bytes_since_checkpoint += appended;
        Ok(())
    }

    /// Make a group committed through `Wal::commit_with` visible, batch by batch in log
    /// order, reading each entry's key back from the log (the group leader of the
    /// concurrent wrapper calls this under the exclusive lock). `on_delete` learns, for
    /// every tombstone, its sequence number and whether the key existed just before it.
    pub fn apply_published(
        &mut self,
        group: &[PublishedBatch<'_>],
        on_delete: &mut dyn FnMut(u64, bool),
    ) -> Result<()> {
        for batch in group {
            for (index, location) in batch.locations.iter().enumerate() {
                let packed = self.pack(*location)?;
                let record = self.segments.record(packed)?;
                let (tag, stored_len) = (record.tag, record.stored_len);
                let Some((keyspace, key, _)) = codec::decode_head(record.payload) else {
                    return Err(Error::corruption(
                        self.segment_path(packed),
                        location.offset,
                        "record payload is shorter than its head",
                    ));
                };
                self.bytes_since_checkpoint += stored_len;
                let seq = batch.first_seq.0 + index as u64;
                let existed = self.apply_record(keyspace, key, tag, seq, packed, stored_len)?;
                if tag == TAG_DELETE {
                    on_delete(seq, existed);
                }
            }
        }
        Ok(())
    }

    pub(crate) fn pack(&mut self, location: alexdb_wal::Location) -> Result<PackedLocation> {
        let id = location.segment_id.0;
        if !self.segments.contains(id) {
            let found = match (&self.wal, &self.follower) {
                (Some(wal), _) => wal.segment(location.segment_id),
                (None, Some(follower)) => follower.segment(location.segment_id),
                (None, None) => None,
            };
            let segment = found.ok_or_else(|| {
                Error::corruption(
                    &self.dir,
                    location.offset,
                    format!("log segment {id} vanished"),
                )
            })?;
            self.segments.insert(segment, u64::MAX);
        }
        PackedLocation::pack(location).ok_or_else(|| {
            Error::InvalidConfig(format!(
                "segment id {id} or offset {} is beyond what the index can address",
                location.offset
            ))
        })
    }

    /// Apply one record to the index and the byte accounting; returns whether the key
    /// had a value before. Records must be applied in log order (sequence order) for a
    /// given key.
    pub(crate) fn apply_record(
        &mut self,
        keyspace: KeyspaceId,
        key: i64,
        tag: u8,
        seq: u64,
        location: PackedLocation,
        stored_len: u64,
    ) -> Result<bool> {
        self.applied_seq = self.applied_seq.max(seq);
        let Some(state) = self.keyspaces.get_mut(keyspace) else {
            return Err(Error::corruption(
                self.segment_path(location),
                location.offset(),
                format!(
                    "record of key {key} names keyspace {} which does not exist",
                    keyspace.0
                ),
            ));
        };
        let previous = match tag {
            TAG_PUT => {
                self.segments.add_live(location.segment_id().0, stored_len);
                state.index.insert(key, location.0)
            }
            TAG_DELETE => state.index.remove(key),
            other => {
                return Err(Error::corruption(
                    self.segment_path(location),
                    location.offset(),
                    format!("unknown record tag {other}"),
                ));
            }
        };
        if let Some(previous) = previous {
            self.segments.release(PackedLocation(previous))?;
        }
        Ok(previous.is_some())
    }

    pub(crate) fn segment_path(&self, location: PackedLocation) -> PathBuf {
        self.segments.get(location.segment_id().0).map_or_else(
            || self.dir.clone(),
            |slot| slot.segment.path().to_path_buf(),
        )
    }

    fn after_write(&mut self) -> Result<()> {
        if self.checkpoint_due() {
            self.checkpoint()?;
            if self.config.auto_compact && self.has_compaction_work() {
                self.compact_with(crate::compaction::CompactionGoal::DeadRatio)?;
            }
        }
        Ok(())
    }

    // ----- introspection ---------------------------------------------------------------

    /// Sizes, space use and activity counters.
    pub fn stats(&self) -> StorageStats {
        let keyspaces: Vec<KeyspaceStats> = self
            .keyspaces
            .iter()
            .map(|state| {
                let index = state.index.stats();
                KeyspaceStats {
                    name: state.handle.name.to_string(),
                    keys: state.index.len(),
                    index_bytes: index.heap_bytes,
                    index_depth: index.depth,
                    index_data_nodes: index.data_nodes,
                    index_largest_node_slots: index.largest_data_node_slots,
                    index_slab_bytes: index.slab_bytes,
                }
            })
            .collect();
        let live_bytes: u64 = self.segments.iter().map(|slot| slot.live_bytes).sum();
        let written_bytes = self.written_bytes();
        let file_bytes: u64 = self
            .segments
            .iter()
            .map(|slot| slot.segment.capacity())
            .sum();
        StorageStats {
            keys: keyspaces.iter().map(|k| k.keys).sum(),
            index_bytes: keyspaces.iter().map(|k| k.index_bytes).sum(),
            index_depth: keyspaces.iter().map(|k| k.index_depth).max().unwrap_or(0),
            keyspaces,
            live_bytes,
            dead_bytes: written_bytes.saturating_sub(live_bytes),
            written_bytes,
            file_bytes,
            segments: self.segments.len(),
            space_amplification: if live_bytes == 0 {
                1.0
            } else {
                written_bytes as f64 / live_bytes as f64
            },
            wal: self.wal.as_ref().map(|wal| wal.stats()).unwrap_or_default(),
            last_seq: self.applied_seq,
            checkpoints: self.checkpoints,
            compactions: self.compactions,
        }
    }

    /// Check a batch before it is committed: writable store, keyspaces exist, values fit.
    pub fn validate_batch(&self, batch: &WriteBatch) -> Result<()> {
        self.ensure_writable()?;
        for op in &batch.ops {
            if self.keyspaces.get(op.keyspace).is_none() {
                return Err(Error::KeyspaceNotFound {
                    name: format!("#{}", op.keyspace.0),
                });
            }
            self.check_value_len(op.key, op.value.len())?;
        }
        Ok(())
    }

    /// Whether enough log was written since the last checkpoint to take one.
    pub fn checkpoint_due(&self) -> bool {
        let every = self.config.checkpoint_every_bytes;
        let grown = self.config.checkpoint_growth * self.checkpoint_base_bytes as f64;
        every > 0 && self.bytes_since_checkpoint as f64 >= grown.max(every as f64)
    }

    /// Log bytes written into the current segments, live or dead.
    pub(crate) fn written_bytes(&self) -> u64 {
        self.segments.iter().map(|slot| slot.written_bytes()).sum()
    }

    /// Highest sequence number visible in the indexes.
    pub fn applied_seq(&self) -> u64 {
        self.applied_seq
    }

    /// The log this store writes to (shared with the concurrent wrapper); `None` for
    /// read-only and secondary stores.
    pub fn wal(&self) -> Option<&Arc<Wal>> {
        self.wal.as_ref()
    }

    /// The log writer, or `Error::ReadOnly`.
    pub(crate) fn writer(&self) -> Result<&Arc<Wal>> {
        self.ensure_writable()?;
        self.wal
            .as_ref()
            .ok_or(Error::ReadOnly { mode: "read-only" })
    }
}

/// What `begin_keyspace` found.
#[derive(Debug)]
pub enum KeyspaceCreation {
    Existing(Keyspace),
    New(PendingKeyspace),
}

/// A keyspace about to be created: write its MANIFEST (no lock needed), then
/// `finish_keyspace`.
#[derive(Debug)]
pub struct PendingKeyspace {
    dir: PathBuf,
    id: KeyspaceId,
    name: String,
    manifest: Manifest,
}

impl PendingKeyspace {
    /// Keyspace creation phase 2: store the MANIFEST that names the new keyspace.
    pub fn write(&self) -> Result<()> {
        self.manifest.store(&self.dir)
    }
}
