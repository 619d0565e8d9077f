//! Read-only and secondary stores: other processes reading a directory that one writer
//! owns, without the lock and without changing any file.
//!
//! - `open_readonly`: a consistent view of everything in the files at open time (the
//!   snapshot, then every complete batch of the log after it), frozen from then on.
//! - `open_secondary` + `catch_up`: the same, then each `catch_up` applies the complete
//!   batches appended since the last one (I-8: every write acknowledged before the call
//!   is visible after it). When the writer compacted underneath (the MANIFEST's segment
//!   set changed) or retired a segment this store still needed, `catch_up` reloads from
//!   the writer's current snapshot and says so in its report.

use crate::codec::PackedLocation;
use crate::config::Config;
use crate::layout::{self, FileKind, MANIFEST_FILE};
use crate::manifest::Manifest;
use crate::recovery::{IndexSource, OpenReport};
use crate::segments::SegmentTable;
use crate::storage::{AccessMode, AlexStorage};
use crate::{Error, Result};
use alexdb_wal::{LogFollower, RecordRef, Segment, SegmentId, Seq};
use std::collections::{BTreeSet, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What one `catch_up` did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CatchUpReport {
    /// Log records applied by this call.
    pub records_applied: u64,
    /// Whether the store was reloaded from the writer's snapshot (after a compaction or
    /// a retired segment), instead of only applying the log tail.
    pub reloaded: bool,
    /// Highest sequence number now visible.
    pub applied_seq: u64,
    pub duration: Duration,
}

/// How many times opening retries when the writer removes a file under it.
const OPEN_ATTEMPTS: usize = 5;

/// A log record seen by a follower, kept until its segment's mapping is registered.
struct Followed {
    location: alexdb_wal::Location,
    seq: u64,
    tag: u8,
    stored_len: u64,
    keyspace: crate::codec::KeyspaceId,
    key: i64,
}

impl AlexStorage {
    /// Open a consistent, read-only view of the store in `dir` as it is now on disk.
    /// Writes fail with `Error::ReadOnly`.
    pub fn open_readonly(dir: impl AsRef<Path>) -> Result<AlexStorage> {
        open_following(dir.as_ref(), AccessMode::ReadOnly)
    }

    /// Open a secondary view of the store in `dir`, to be advanced with `catch_up`.
    pub fn open_secondary(dir: impl AsRef<Path>) -> Result<AlexStorage> {
        open_following(dir.as_ref(), AccessMode::Secondary)
    }

    /// Apply everything the writer appended since the last call (secondary stores only).
    pub fn catch_up(&mut self) -> Result<CatchUpReport> {
        let started = Instant::now();
        self.check_secondary()?;
        let manifest = load_manifest(&self.dir)?;
        if self.reload_wanted(&manifest) {
            return self.reload(started);
        }
        for (id, name) in &manifest.keyspaces {
            if self.keyspaces.get(*id).is_none() {
                self.keyspaces.add(*id, name);
            }
        }
        self.manifest.keyspaces = manifest.keyspaces;
        match self.follow_tail() {
            Ok(records_applied) => Ok(CatchUpReport {
                records_applied,
                reloaded: false,
                applied_seq: self.applied_seq,
                duration: started.elapsed(),
            }),
            Err(Error::Wal(alexdb_wal::Error::SegmentGone(_))) => self.reload(started),
            Err(error) => Err(error),
        }
    }

    fn reload(&mut self, started: Instant) -> Result<CatchUpReport> {
        let (fresh, report) = self.open_reloaded(started)?;
        *self = fresh;
        Ok(report)
    }

    /// Whether the next `catch_up` has to reload rather than follow the log tail (the
    /// writer compacted, retired a segment this store needs, or a new writer took over),
    /// checked without changing anything (secondary stores only). With
    /// [`AlexStorage::open_reloaded`] it lets a caller that shares the store behind a
    /// lock open the fresh store outside its exclusive section.
    pub fn catch_up_needs_reload(&self) -> Result<bool> {
        self.check_secondary()?;
        Ok(self.reload_wanted(&load_manifest(&self.dir)?))
    }

    /// A fresh secondary of this store's directory and the report of the reloading
    /// `catch_up` it stands for (`started` is when that catch-up began); `self` is left
    /// as it was. Installing it (`*store = fresh`) completes the catch-up.
    pub fn open_reloaded(&self, started: Instant) -> Result<(AlexStorage, CatchUpReport)> {
        self.check_secondary()?;
        let fresh = open_following(&self.dir, self.mode)?;
        let records_applied = match &fresh.open_report.source {
            IndexSource::Snapshot {
                replayed_records, ..
            } => *replayed_records,
            IndexSource::FullScan {
                records_scanned, ..
            } => *records_scanned,
        };
        let report = CatchUpReport {
            records_applied,
            reloaded: true,
            applied_seq: fresh.applied_seq,
            duration: started.elapsed(),
        };
        Ok((fresh, report))
    }

    fn check_secondary(&self) -> Result<()> {
        if self.mode == AccessMode::Secondary {
            Ok(())
        } else {
            Err(Error::InvalidConfig(
                "catch_up is only for stores opened with open_secondary".into(),
            ))
        }
    }

    fn reload_wanted(&self, manifest: &Manifest) -> bool {
        self.needs_reload
            || manifest.standalone != self.manifest.standalone
            || layout::writer_epoch(&self.dir) != self.writer_epoch
    }

    /// Poll the follower and apply the complete batches it returns, in log order.
    fn follow_tail(&mut self) -> Result<u64> {
        let mut follower = self
            .follower
            .take()
            .expect("read-only and secondary stores always have a follower");
        let mut followed = Vec::new();
        let polled = poll_follower(&mut follower, &self.manifest, &mut followed, self);
        let mappings = followed_mappings(&follower, &followed);
        self.follower = Some(follower);
        // The follower has moved past what it polled: if anything below fails, only a
        // reload can bring the store back in step.
        self.needs_reload = true;
        polled?;
        for segment in mappings {
            self.segments.replace_mapping(segment);
        }
        // A keyspace created after our MANIFEST was read: its entry was stored before any
        // of its records were written, so the MANIFEST on disk now names it.
        if followed
            .iter()
            .any(|r| self.keyspaces.get(r.keyspace).is_none())
        {
            self.refresh_keyspaces()?;
        }
        // Check everything before applying anything: a poll is applied whole or not at all.
        if let Some(record) = followed
            .iter()
            .find(|r| self.keyspaces.get(r.keyspace).is_none())
        {
            return Err(Error::corruption(
                self.segment_path_of(record.location.segment_id.0),
                record.location.offset,
                format!(
                    "record of key {} names keyspace {}, which the MANIFEST does not list",
                    record.key, record.keyspace.0
                ),
            ));
        }
        let applied = followed.len() as u64;
        for record in followed {
            let packed = PackedLocation::pack(record.location).ok_or_else(|| {
                Error::corruption(
                    self.segment_path_of(record.location.segment_id.0),
                    record.location.offset,
                    "record location is beyond what the index can address",
                )
            })?;
            self.apply_record(
                record.keyspace,
                record.key,
                record.tag,
                record.seq,
                packed,
                record.stored_len,
            )?;
        }
        self.needs_reload = false;
        Ok(applied)
    }

    /// Add the keyspaces the MANIFEST on disk lists that this store does not know yet.
    pub(crate) fn refresh_keyspaces(&mut self) -> Result<()> {
        let manifest = load_manifest(&self.dir)?;
        for (id, name) in &manifest.keyspaces {
            if self.keyspaces.get(*id).is_none() {
                self.keyspaces.add(*id, name);
            }
        }
        self.manifest.keyspaces = manifest.keyspaces;
        Ok(())
    }
}

/// Visit the follower's new complete batches, skipping segments whose retirement is
/// committed, collecting what to apply.
fn poll_follower(
    follower: &mut LogFollower,
    manifest: &Manifest,
    followed: &mut Vec<Followed>,
    storage: &AlexStorage,
) -> Result<()> {
    let retired: HashSet<u64> = manifest.retired.iter().copied().collect();
    let mut failure = None;
    let outcome = follower.poll(&mut |record: RecordRef<'_>| {
        if retired.contains(&record.location.segment_id.0) {
            return Ok(());
        }
        match storage.decode_record(&record) {
            Ok((keyspace, key, _)) => {
                followed.push(Followed {
                    location: record.location,
                    seq: record.seq.0,
                    tag: record.tag,
                    stored_len: record.stored_len,
                    keyspace,
                    key,
                });
                Ok(())
            }
            Err(error) => {
                failure = Some(error);
                Err(alexdb_wal::Error::BadLocation {
                    location: record.location,
                    reason: "follow stopped by the engine".into(),
                })
            }
        }
    });
    if let Some(error) = failure {
        return Err(error);
    }
    outcome?;
    Ok(())
}

fn followed_mappings(follower: &LogFollower, followed: &[Followed]) -> Vec<Arc<Segment>> {
    let ids: BTreeSet<u64> = followed.iter().map(|r| r.location.segment_id.0).collect();
    ids.into_iter()
        .filter_map(|id| follower.segment(SegmentId(id)))
        .collect()
}

fn load_manifest(dir: &Path) -> Result<Manifest> {
    Manifest::load(dir)?.ok_or_else(|| {
        Error::corruption(
            dir.join(MANIFEST_FILE),
            0,
            "there is no MANIFEST: not an alexdb store, or not created yet",
        )
    })
}

fn open_following(dir: &Path, mode: AccessMode) -> Result<AlexStorage> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let outcome = try_open_following(dir, mode).and_then(|storage| {
            // A compaction that committed while we opened may have deleted log segments
            // our MANIFEST still counted on before the follower listed the directory
            // (the follower would then take the hole for an old one): open again.
            if load_manifest(dir)?.standalone != storage.manifest.standalone {
                return Err(Error::io(
                    dir.join(MANIFEST_FILE),
                    std::io::Error::new(
                        std::io::ErrorKind::Interrupted,
                        "the store was compacted while it was being opened",
                    ),
                ));
            }
            Ok(storage)
        });
        match outcome {
            // The writer removed or replaced files under us: look again.
            Err(Error::Io { source, .. })
                if matches!(
                    source.kind(),
                    std::io::ErrorKind::NotFound | std::io::ErrorKind::Interrupted
                ) && attempt < OPEN_ATTEMPTS => {}
            other => return other,
        }
    }
}

fn try_open_following(dir: &Path, mode: AccessMode) -> Result<AlexStorage> {
    let started = Instant::now();
    let writer_epoch = layout::writer_epoch(dir);
    let manifest = load_manifest(dir)?;
    let retired: HashSet<u64> = manifest.retired.iter().copied().collect();
    let mut segments = SegmentTable::default();
    for standalone in &manifest.standalone {
        let segment = Segment::open_sealed(&layout::segment_path(dir, standalone.id))?;
        segments.insert(Arc::new(segment), standalone.min_seq);
    }
    let logs: Vec<(PathBuf, u64)> = layout::list(dir)?
        .into_iter()
        .filter_map(|(path, kind)| match kind {
            FileKind::Log(id) if !retired.contains(&id) => Some((path, id)),
            _ => None,
        })
        .collect();
    let newest = logs.iter().map(|&(_, id)| id).max();
    for (path, id) in &logs {
        // Every log segment but the newest is complete: damage in one is an error here,
        // as it is for the writer's own open, not a silent end of the log. The newest
        // may have a torn tail or a writer appending to it.
        let segment = if Some(*id) == newest {
            Segment::open(path)?
        } else {
            Segment::open_sealed(path)?
        };
        segments.replace_mapping(Arc::new(segment));
    }
    let mut storage =
        AlexStorage::assemble(dir, Config::default(), mode, None, None, manifest, segments);
    storage.writer_epoch = writer_epoch;

    let mut from_snapshot = None;
    let mut reason = "no snapshot yet".to_string();
    if let Some(snapshot) = storage.manifest.snapshot {
        match storage.load_snapshot_indexes(snapshot) {
            Ok(()) => from_snapshot = Some(snapshot),
            Err(error) => {
                storage.reset_indexes();
                reason = format!("snapshot {} unusable: {error}", snapshot.number);
            }
        }
    }
    let source = match from_snapshot {
        Some(snapshot) => {
            storage.follower = Some(LogFollower::open(dir, Seq(snapshot.covered_seq + 1))?);
            let replayed_records = storage.follow_tail()?;
            IndexSource::Snapshot {
                number: snapshot.number,
                covered_seq: snapshot.covered_seq,
                replayed_records,
            }
        }
        None => {
            let mut follower = LogFollower::open(dir, Seq(0))?;
            let retired = retired.clone();
            let records_scanned = storage.full_scan_with(&mut |visit| {
                let mut ids = BTreeSet::new();
                follower.poll(&mut |record| {
                    if retired.contains(&record.location.segment_id.0) {
                        return Ok(());
                    }
                    ids.insert(record.location.segment_id);
                    visit(record)
                })?;
                Ok(ids
                    .into_iter()
                    .filter_map(|id| follower.segment(id))
                    .collect())
            })?;
            storage.follower = Some(follower);
            IndexSource::FullScan {
                reason,
                records_scanned,
            }
        }
    };
    storage.open_report = OpenReport {
        source,
        wal: alexdb_wal::RecoveryReport::default(),
        removed_files: Vec::new(),
        duration: started.elapsed(),
    };
    Ok(storage)
}
