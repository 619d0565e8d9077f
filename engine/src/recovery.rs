//! Opening a store: finish what a crash interrupted, recover the log, and rebuild the
//! indexes — from the snapshot plus the log after it, or, without a usable snapshot, by
//! a full scan where the record with the highest sequence number of each key wins.
//! Both paths give the same state (tested).

use crate::codec::{self, KeyspaceId, PackedLocation, TAG_DELETE, TAG_PUT};
use crate::config::Config;
use crate::layout::{self, DirLock, FileKind, MANIFEST_FILE};
use crate::manifest::{Manifest, SnapshotRef};
use crate::segments::SegmentTable;
use crate::snapshot::LoadedSnapshot;
use crate::storage::{AccessMode, AlexStorage};
use crate::{Error, Result};
use alexdb_alex::AlexMap;
use alexdb_wal::{RecordRef, RecoveryReport, Segment, Seq, Wal};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Where the indexes came from when the store was opened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IndexSource {
    /// Loaded from a snapshot, then the log after it was replayed.
    Snapshot {
        number: u64,
        covered_seq: u64,
        replayed_records: u64,
    },
    /// Rebuilt from every record of every segment.
    FullScan {
        /// Why no snapshot was used ("no snapshot yet", or what was wrong with it).
        reason: String,
        records_scanned: u64,
    },
}

/// What opening a store found and did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenReport {
    pub source: IndexSource,
    /// The log's own recovery (torn tail truncated, salvaged ranges).
    pub wal: RecoveryReport,
    /// Files removed because a crash left them behind (unfinished writes, uncommitted
    /// compaction outputs, segments whose retirement was committed).
    pub removed_files: Vec<PathBuf>,
    pub duration: Duration,
}

impl Default for OpenReport {
    fn default() -> OpenReport {
        OpenReport {
            source: IndexSource::FullScan {
                reason: String::new(),
                records_scanned: 0,
            },
            wal: RecoveryReport::default(),
            removed_files: Vec::new(),
            duration: Duration::ZERO,
        }
    }
}

pub(crate) fn open_read_write(dir: &Path, config: Config) -> Result<AlexStorage> {
    let started = Instant::now();
    config.validate()?;
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let lock = DirLock::acquire(dir)?;
    let files = layout::list(dir)?;
    let mut manifest = match Manifest::load(dir)? {
        Some(manifest) => manifest,
        None => {
            let data_file = files.iter().find(|(_, kind)| {
                matches!(
                    kind,
                    FileKind::Log(_) | FileKind::Segment(_) | FileKind::Snapshot(_)
                )
            });
            if let Some((path, _)) = data_file {
                return Err(Error::corruption(
                    dir.join(MANIFEST_FILE),
                    0,
                    format!("the MANIFEST is missing but {} exists", path.display()),
                ));
            }
            let manifest = Manifest::new();
            manifest.store(dir)?;
            manifest
        }
    };
    let removed_files = remove_leftovers(dir, &files, &manifest)?;
    if !manifest.retired.is_empty() {
        manifest.retired.clear();
        manifest.store(dir)?;
    }

    // The snapshot does not depend on the log: recover (and so verify) every log
    // segment on a second thread while this one reads, verifies and bulk-loads the
    // snapshot. (This way round, the index's many allocations come from the main
    // arena.) For a large snapshot, `load_beside` first decodes half of its entries on
    // that second thread and starts the log recovery from there once done, so that at
    // most two threads are busy. The snapshot is checked against the recovered segments
    // afterwards, in `load_index`, and one that fails any check is discarded for a full
    // scan exactly as if it had been loaded after the log.
    let snapshot_path = manifest
        .snapshot
        .map(|snapshot| layout::snapshot_path(dir, snapshot.number));
    let (wal, preloaded) = std::thread::scope(|scope| match snapshot_path.as_deref() {
        None => (Wal::open(dir, config.wal_options()), None),
        Some(path) => {
            let start_recovery = || {
                std::thread::Builder::new()
                    .name("alexdb-log-recovery".into())
                    .spawn_scoped(scope, || Wal::open(dir, config.wal_options()))
                    // No thread (resource limits): recovered below, on this one.
                    .ok()
            };
            let (loaded, recovery) = crate::snapshot::load_beside(
                path,
                crate::snapshot::PARALLEL_ENTRIES,
                config.index_max_data_slots,
                start_recovery,
            );
            let wal = match recovery {
                Some(recovery) => recovery
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
                None => Wal::open(dir, config.wal_options()),
            };
            (wal, Some(loaded))
        }
    });
    let (wal, wal_report) = wal?;
    let wal = Arc::new(wal);
    let mut segments = SegmentTable::default();
    for segment in wal.segments() {
        segments.insert(segment, u64::MAX);
    }
    for standalone in &manifest.standalone {
        let segment = Segment::open_sealed(&layout::segment_path(dir, standalone.id))?;
        segments.insert(Arc::new(segment), standalone.min_seq);
    }

    let mut storage = AlexStorage::assemble(
        dir,
        config,
        AccessMode::ReadWrite,
        Some(lock),
        Some(wal),
        manifest,
        segments,
    );
    let source = storage.load_index(preloaded)?;
    storage.applied_seq = storage.writer()?.last_seq().0;
    // What the snapshot covered (nothing after a full scan): the log beyond it was
    // counted into `bytes_since_checkpoint` as it was replayed.
    storage.checkpoint_base_bytes = storage
        .written_bytes()
        .saturating_sub(storage.bytes_since_checkpoint);
    storage.open_report = OpenReport {
        source,
        wal: wal_report,
        removed_files,
        duration: started.elapsed(),
    };
    Ok(storage)
}

/// Remove what a crash left behind: committed retirements, temp files, compaction
/// outputs the manifest does not list, snapshots it does not name.
fn remove_leftovers(
    dir: &Path,
    files: &[(PathBuf, FileKind)],
    manifest: &Manifest,
) -> Result<Vec<PathBuf>> {
    let listed: HashSet<u64> = manifest.standalone.iter().map(|s| s.id).collect();
    let retired: HashSet<u64> = manifest.retired.iter().copied().collect();
    let current_snapshot = manifest.snapshot.map(|s| s.number);
    let mut removed = Vec::new();
    for (path, kind) in files {
        let remove = match kind {
            FileKind::Temp => true,
            FileKind::Segment(id) => !listed.contains(id) || retired.contains(id),
            FileKind::Log(id) => retired.contains(id),
            FileKind::Snapshot(number) => Some(*number) != current_snapshot,
            FileKind::Other => false,
        };
        if remove {
            layout::remove_if_exists(path)?;
            removed.push(path.clone());
        }
    }
    if !removed.is_empty() {
        layout::sync_dir(dir)?;
    }
    Ok(removed)
}

/// Visits log records with the given visitor; returns segment mappings to register.
pub(crate) type LogScan<'a> = dyn FnMut(
        &mut dyn FnMut(RecordRef<'_>) -> alexdb_wal::Result<()>,
    ) -> alexdb_wal::Result<Vec<Arc<Segment>>>
    + 'a;

/// One record seen by a full scan. `stored_len` has [`TOMBSTONE_BIT`] set for tombstones.
#[derive(Clone, Copy)]
struct Scanned {
    keyspace: u32,
    stored_len: u32,
    key: i64,
    seq: u64,
    location: u64,
}

const TOMBSTONE_BIT: u32 = 1 << 31;

impl AlexStorage {
    /// Build the indexes from the snapshot (if usable) or by a full scan. `preloaded`
    /// is the snapshot the manifest names, already loaded (while another thread
    /// recovered the log) but not yet checked against the store; `None` loads it here.
    pub(crate) fn load_index(
        &mut self,
        preloaded: Option<Result<LoadedSnapshot>>,
    ) -> Result<IndexSource> {
        let reason = match self.manifest.snapshot {
            None => "no snapshot yet".to_string(),
            Some(snapshot) => match self.load_snapshot(snapshot, preloaded) {
                Ok(replayed_records) => {
                    return Ok(IndexSource::Snapshot {
                        number: snapshot.number,
                        covered_seq: snapshot.covered_seq,
                        replayed_records,
                    });
                }
                Err(error) => {
                    self.reset_indexes();
                    format!("snapshot {} unusable: {error}", snapshot.number)
                }
            },
        };
        let records_scanned = self.full_scan()?;
        // No snapshot covers any of it.
        self.bytes_since_checkpoint = self.written_bytes();
        Ok(IndexSource::FullScan {
            reason,
            records_scanned,
        })
    }

    pub(crate) fn reset_indexes(&mut self) {
        let empty = self.keyspaces.empty_index();
        for state in self.keyspaces.iter_mut() {
            state.index = empty.clone();
        }
        let ids: Vec<u64> = self
            .segments
            .iter()
            .map(|slot| slot.segment.id().0)
            .collect();
        for id in ids {
            if let Some(slot) = self.segments.get_mut(id) {
                slot.live_bytes = 0;
            }
        }
    }

    /// Load the snapshot (unless `preloaded`), check and install it, and replay the log
    /// after it; returns the records replayed.
    fn load_snapshot(
        &mut self,
        snapshot_ref: SnapshotRef,
        preloaded: Option<Result<LoadedSnapshot>>,
    ) -> Result<u64> {
        let path = layout::snapshot_path(&self.dir, snapshot_ref.number);
        let loaded = preloaded.unwrap_or_else(|| {
            crate::snapshot::load_with(&path, self.config.index_max_data_slots)
        })?;
        self.install_snapshot(snapshot_ref, &path, loaded)?;
        let from = Seq(snapshot_ref.covered_seq + 1);
        self.replay_log(from)
    }

    /// Load the snapshot's indexes and byte accounting (no log replay).
    pub(crate) fn load_snapshot_indexes(&mut self, snapshot_ref: SnapshotRef) -> Result<()> {
        let path = layout::snapshot_path(&self.dir, snapshot_ref.number);
        let loaded = crate::snapshot::load_with(&path, self.config.index_max_data_slots)?;
        self.install_snapshot(snapshot_ref, &path, loaded)
    }

    /// Check a loaded snapshot against the manifest, the log and the segment table (every
    /// key must point inside a segment that exists), then adopt its indexes and byte
    /// accounting. On error the caller resets the indexes.
    fn install_snapshot(
        &mut self,
        snapshot_ref: SnapshotRef,
        path: &Path,
        snapshot: LoadedSnapshot,
    ) -> Result<()> {
        let fail = |reason: String| Error::corruption(path, 0, reason);
        if snapshot.covered_seq != snapshot_ref.covered_seq {
            return Err(fail(format!(
                "covers sequence {} but the manifest says {}",
                snapshot.covered_seq, snapshot_ref.covered_seq
            )));
        }
        if let Some(wal) = &self.wal
            && snapshot.covered_seq > wal.last_seq().0
        {
            return Err(fail(format!(
                "covers sequence {} but the log ends at {}",
                snapshot.covered_seq,
                wal.last_seq().0
            )));
        }
        for (id, live_bytes) in &snapshot.segment_live_bytes {
            match self.segments.get_mut(*id) {
                Some(slot) => slot.live_bytes = *live_bytes,
                None if *live_bytes == 0 => {}
                None => {
                    return Err(fail(format!(
                        "refers to segment {id}, which does not exist"
                    )));
                }
            }
        }
        for reach in &snapshot.reach {
            let in_bounds = self
                .segments
                .get(reach.segment_id)
                .is_some_and(|slot| reach.max_offset < slot.written_bytes());
            if !in_bounds {
                return Err(fail(format!(
                    "key {} points at segment {} offset {}, which does not exist",
                    reach.key, reach.segment_id, reach.max_offset
                )));
            }
        }
        for (keyspace, index) in snapshot.keyspaces {
            let state = self.keyspaces.get_mut(keyspace).ok_or_else(|| {
                fail(format!(
                    "names keyspace {}, which does not exist",
                    keyspace.0
                ))
            })?;
            state.index = index;
        }
        self.applied_seq = snapshot.covered_seq;
        Ok(())
    }

    /// Apply every log record from `from` on, in order. Returns how many were applied.
    pub(crate) fn replay_log(&mut self, from: Seq) -> Result<u64> {
        let wal = Arc::clone(self.writer()?);
        let mut applied = 0u64;
        let mut failure: Option<Error> = None;
        let outcome = wal.scan_from(from, &mut |record| {
            match self.apply_scanned(&record) {
                Ok(()) => {
                    applied += 1;
                    // The log after the last checkpoint, replayed: it counts toward the
                    // next one as if written in this session.
                    self.bytes_since_checkpoint += record.stored_len;
                    Ok(())
                }
                Err(error) => {
                    failure = Some(error);
                    // Stops the scan; the real error is `failure`.
                    Err(scan_stopped(record.location))
                }
            }
        });
        if let Some(error) = failure {
            return Err(error);
        }
        outcome?;
        Ok(applied)
    }

    fn apply_scanned(&mut self, record: &RecordRef<'_>) -> Result<()> {
        let (keyspace, key, _) = self.decode_record(record)?;
        let packed = self.pack(record.location)?;
        self.apply_record(
            keyspace,
            key,
            record.tag,
            record.seq.0,
            packed,
            record.stored_len,
        )
        .map(|_| ())
    }

    pub(crate) fn decode_record<'r>(
        &self,
        record: &RecordRef<'r>,
    ) -> Result<(KeyspaceId, i64, &'r [u8])> {
        codec::decode_head(record.payload).ok_or_else(|| {
            Error::corruption(
                self.segment_path_of(record.location.segment_id.0),
                record.location.offset,
                format!(
                    "record payload of {} bytes is shorter than its head",
                    record.payload.len()
                ),
            )
        })
    }

    pub(crate) fn segment_path_of(&self, id: u64) -> PathBuf {
        self.segments.get(id).map_or_else(
            || self.dir.clone(),
            |slot| slot.segment.path().to_path_buf(),
        )
    }

    /// Full scan of the compacted segments and the writer's log.
    fn full_scan(&mut self) -> Result<u64> {
        let wal = Arc::clone(self.writer()?);
        self.full_scan_with(&mut |visit| wal.scan_from(Seq(0), visit).map(|()| Vec::new()))
    }

    /// Rebuild every index from all segments: per key, the record with the highest
    /// sequence number wins (a tombstone means absent). `scan_log` visits the log's
    /// records and returns the mappings of log segments the table may not have yet.
    /// Returns the records scanned.
    pub(crate) fn full_scan_with(&mut self, scan_log: &mut LogScan<'_>) -> Result<u64> {
        let mut scanned: Vec<Scanned> = Vec::new();
        let mut failure: Option<Error> = None;
        let mut collect =
            |storage: &AlexStorage, record: RecordRef<'_>| -> alexdb_wal::Result<()> {
                let entry = storage
                    .decode_record(&record)
                    .and_then(|(keyspace, key, _)| {
                        let tombstone = match record.tag {
                            TAG_PUT => 0,
                            TAG_DELETE => TOMBSTONE_BIT,
                            other => {
                                return Err(Error::corruption(
                                    storage.segment_path_of(record.location.segment_id.0),
                                    record.location.offset,
                                    format!("unknown record tag {other}"),
                                ));
                            }
                        };
                        let location = PackedLocation::pack(record.location).ok_or_else(|| {
                            Error::corruption(
                                storage.segment_path_of(record.location.segment_id.0),
                                record.location.offset,
                                "record location is beyond what the index can address",
                            )
                        })?;
                        Ok(Scanned {
                            keyspace: keyspace.0,
                            stored_len: record.stored_len as u32 | tombstone,
                            key,
                            seq: record.seq.0,
                            location: location.0,
                        })
                    });
                match entry {
                    Ok(entry) => {
                        scanned.push(entry);
                        Ok(())
                    }
                    Err(error) => {
                        failure = Some(error);
                        Err(scan_stopped(record.location))
                    }
                }
            };
        let standalone: Vec<Arc<Segment>> = self
            .segments
            .iter()
            .filter(|slot| slot.kind() == alexdb_wal::SegmentKind::Standalone)
            .map(|slot| Arc::clone(&slot.segment))
            .collect();
        let mut outcome = Ok(Vec::new());
        for segment in &standalone {
            if let Err(error) = segment.scan(0, &mut |record| collect(self, record)) {
                outcome = Err(error);
                break;
            }
        }
        if outcome.is_ok() {
            outcome = scan_log(&mut |record| collect(self, record));
        }
        if let Some(error) = failure {
            return Err(error);
        }
        for segment in outcome? {
            self.segments.replace_mapping(segment);
        }

        let records_scanned = scanned.len() as u64;
        let max_seq = scanned.iter().map(|entry| entry.seq).max().unwrap_or(0);
        self.applied_seq = self.applied_seq.max(max_seq);
        scanned.sort_unstable_by_key(|entry| (entry.keyspace, entry.key, entry.seq));
        let mut per_keyspace: Vec<(KeyspaceId, Vec<(i64, u64)>)> = Vec::new();
        let mut index = 0;
        while index < scanned.len() {
            let mut last = index;
            while last + 1 < scanned.len()
                && scanned[last + 1].keyspace == scanned[index].keyspace
                && scanned[last + 1].key == scanned[index].key
            {
                last += 1;
            }
            let winner = scanned[last];
            index = last + 1;
            if winner.stored_len & TOMBSTONE_BIT != 0 {
                continue;
            }
            let keyspace = KeyspaceId(winner.keyspace);
            if per_keyspace.last().map(|(id, _)| *id) != Some(keyspace) {
                per_keyspace.push((keyspace, Vec::new()));
            }
            per_keyspace
                .last_mut()
                .expect("pushed just above")
                .1
                .push((winner.key, winner.location));
            self.segments.add_live(
                PackedLocation(winner.location).segment_id().0,
                u64::from(winner.stored_len),
            );
        }
        drop(scanned);
        // Read-only and secondary stores: the log may name a keyspace created after the
        // MANIFEST was read (its entry is stored before any of its records).
        if self.wal.is_none()
            && per_keyspace
                .iter()
                .any(|(keyspace, _)| self.keyspaces.get(*keyspace).is_none())
        {
            self.refresh_keyspaces()?;
        }
        for (keyspace, entries) in per_keyspace {
            let index =
                AlexMap::bulk_load_with_max_data_slots(&entries, self.config.index_max_data_slots)
                    .expect("full-scan entries are sorted and deduplicated by key");
            let Some(state) = self.keyspaces.get_mut(keyspace) else {
                return Err(Error::corruption(
                    self.dir.join(MANIFEST_FILE),
                    0,
                    format!(
                        "records name keyspace {}, which the manifest does not list",
                        keyspace.0
                    ),
                ));
            };
            state.index = index;
        }
        Ok(records_scanned)
    }
}

/// The error a scan callback returns to stop the scan; the caller reports its own.
fn scan_stopped(location: alexdb_wal::Location) -> alexdb_wal::Error {
    alexdb_wal::Error::BadLocation {
        location,
        reason: "scan stopped by the engine".to_string(),
    }
}

#[cfg(test)]
mod tests;
