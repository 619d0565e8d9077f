//! Compaction: rewrite the live records of mostly-dead sealed segments into new,
//! key-ordered segments and delete the old ones.
//!
//! Steps, and why a crash at any point leaves a store that opens correctly:
//! 1. Copy live records (and still-needed tombstones), keeping their sequence numbers,
//!    into new standalone segments (`*.seg`, written as temp files, synced, renamed).
//!    A crash here leaves outputs the MANIFEST does not list: open deletes them.
//! 2. Repoint the indexes at the copies (in memory), skipping any key written again
//!    since step 1 (its copy is simply dead).
//! 3. Write a snapshot of the repointed indexes, then commit a MANIFEST that lists the
//!    outputs, drops the victims and names them as retired. This rename is the commit
//!    point. Before it, the old snapshot and the victims are intact; after it, open
//!    removes the retired victims before reading anything.
//! 4. Delete the victims.
//!
//! Steps 1 is [`AlexStorage::prepare_compaction`] (`&self`: readers and, in the
//! concurrent wrapper, writers go on meanwhile); steps 2-4 are
//! [`AlexStorage::install_compaction`] (`&mut self`, short).
//!
//! A tombstone is dropped only when no older record of its key can remain outside the
//! victims: every other segment's smallest sequence number is above the tombstone's,
//! or the key has been written again since.

use crate::codec::{self, KeyspaceId, PackedLocation, TAG_DELETE, TAG_PUT};
use crate::layout;
use crate::manifest::StandaloneSegment;
use crate::storage::AlexStorage;
use crate::{Error, Result};
use alexdb_wal::{Segment, SegmentId, SegmentWriter, Seq};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What one `compact()` did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CompactionReport {
    /// Segments compacted (and deleted).
    pub segments_in: usize,
    /// Segments written.
    pub segments_out: usize,
    pub bytes_read: u64,
    pub bytes_written: u64,
    /// `bytes_read - bytes_written`: space given back.
    pub bytes_reclaimed: u64,
    pub live_records_moved: u64,
    pub tombstones_kept: u64,
    pub tombstones_dropped: u64,
    pub duration: Duration,
}

/// A record chosen to be copied.
#[derive(Debug)]
struct Survivor {
    keyspace: KeyspaceId,
    key: i64,
    seq: u64,
    tag: u8,
    from: PackedLocation,
    to: PackedLocation,
    stored_len: u64,
}

/// The result of the copying phase, to be installed with `install_compaction`.
#[derive(Debug)]
pub struct CompactionPlan {
    victims: Vec<u64>,
    survivors: Vec<Survivor>,
    outputs: Vec<(Arc<Segment>, u64)>,
    report: CompactionReport,
    started: Instant,
}

impl AlexStorage {
    /// Whether some sealed segment has crossed the dead-byte threshold.
    pub fn has_compaction_work(&self) -> bool {
        let Some(wal) = &self.wal else {
            return false;
        };
        let active = wal.active_segment_id().0;
        self.segments.iter().any(|slot| {
            slot.segment.id().0 != active && slot.dead_ratio() >= self.config.compaction_dead_ratio
        })
    }

    /// Compact every sealed segment whose dead-byte ratio is at least
    /// `Config::compaction_dead_ratio` (the active log segment is sealed first if it
    /// qualifies and holds records).
    pub fn compact(&mut self) -> Result<CompactionReport> {
        let started = Instant::now();
        match self.prepare_compaction()? {
            Some(plan) => self.install_compaction(plan),
            None => Ok(CompactionReport {
                duration: started.elapsed(),
                ..CompactionReport::default()
            }),
        }
    }

    /// Phase 1: choose victims and copy their live records into new segments. Changes
    /// nothing a reader can see; `None` if there is nothing to compact.
    pub fn prepare_compaction(&self) -> Result<Option<CompactionPlan>> {
        self.ensure_writable()?;
        let started = Instant::now();
        let threshold = self.config.compaction_dead_ratio;
        let active = self.writer()?.active_segment_id();
        if let Some(slot) = self.segments.get(active.0)
            && slot.segment.first_seq().0 != 0
            && self.writer()?.last_seq() >= slot.segment.first_seq()
            && slot.dead_ratio() >= threshold
        {
            self.writer()?.roll()?;
        }
        let active = self.writer()?.active_segment_id().0;
        let victims: Vec<u64> = self
            .segments
            .iter()
            .filter(|slot| slot.segment.id().0 != active && slot.dead_ratio() >= threshold)
            .map(|slot| slot.segment.id().0)
            .collect();
        if victims.is_empty() {
            return Ok(None);
        }
        self.writer()?.sync()?;
        let mut report = CompactionReport {
            segments_in: victims.len(),
            ..CompactionReport::default()
        };
        let oldest_elsewhere = self
            .segments
            .iter()
            .filter(|slot| !victims.contains(&slot.segment.id().0))
            .map(|slot| slot.min_seq)
            .min()
            .unwrap_or(u64::MAX);

        let mut survivors = Vec::new();
        for id in &victims {
            let slot = self.segments.get(*id).expect("victims come from the table");
            report.bytes_read += slot.written_bytes();
            self.choose_survivors(&slot.segment, oldest_elsewhere, &mut survivors, &mut report)?;
        }
        survivors.sort_unstable_by_key(|s| (s.keyspace, s.key));
        let outputs = self.copy_survivors(&mut survivors, &mut report)?;
        report.segments_out = outputs.len();
        Ok(Some(CompactionPlan {
            victims,
            survivors,
            outputs,
            report,
            started,
        }))
    }

    fn choose_survivors(
        &self,
        segment: &Arc<Segment>,
        oldest_elsewhere: u64,
        survivors: &mut Vec<Survivor>,
        report: &mut CompactionReport,
    ) -> Result<()> {
        let mut failure = None;
        let outcome = segment.scan(0, &mut |record| {
            let Some((keyspace, key, _)) = codec::decode_head(record.payload) else {
                failure = Some(Error::corruption(
                    segment.path(),
                    record.location.offset,
                    "record payload is shorter than its head",
                ));
                return Err(alexdb_wal::Error::BadLocation {
                    location: record.location,
                    reason: "compaction stopped".into(),
                });
            };
            let from = PackedLocation::pack(record.location)
                .expect("locations of segments in the table fit in a packed location");
            let current = self
                .keyspaces
                .get(keyspace)
                .and_then(|state| state.index.get(key).copied());
            let keep = match record.tag {
                TAG_PUT => current == Some(from.0),
                TAG_DELETE => {
                    let keep = current.is_none() && oldest_elsewhere < record.seq.0;
                    if keep {
                        report.tombstones_kept += 1;
                    } else {
                        report.tombstones_dropped += 1;
                    }
                    keep
                }
                _ => false,
            };
            if keep {
                survivors.push(Survivor {
                    keyspace,
                    key,
                    seq: record.seq.0,
                    tag: record.tag,
                    from,
                    to: from,
                    stored_len: 0,
                });
            }
            Ok(())
        });
        if let Some(error) = failure {
            return Err(error);
        }
        outcome?;
        Ok(())
    }

    /// Copy survivors (sorted by key) into new segments, keeping their sequence numbers;
    /// records each one's new location.
    fn copy_survivors(
        &self,
        survivors: &mut [Survivor],
        report: &mut CompactionReport,
    ) -> Result<Vec<(Arc<Segment>, u64)>> {
        let mut outputs = Vec::new();
        let mut writer: Option<(SegmentWriter, SegmentId, u64)> = None;
        for survivor in survivors.iter_mut() {
            let record = self.segments.record(survivor.from)?;
            let (_, _, body) = codec::decode_head(record.payload).expect("decoded when chosen");
            let head = codec::encode_head(survivor.keyspace, survivor.key);
            let needed = SegmentWriter::stored_len(record.payload.len() as u64);
            if writer
                .as_ref()
                .is_some_and(|(w, _, _)| w.remaining() < needed)
            {
                let (full, _, min_seq) = writer.take().expect("checked just above");
                outputs.push((full.finish()?, min_seq));
            }
            if writer.is_none() {
                let id = self.writer()?.allocate_segment_id();
                let path = layout::segment_path(&self.dir, id.0);
                let created = SegmentWriter::create(&path, id, self.config.segment_capacity)?;
                writer = Some((created, id, u64::MAX));
            }
            let (out, id, min_seq) = writer.as_mut().expect("created just above");
            let offset = out.append(Seq(survivor.seq), survivor.tag, &head, body)?;
            *min_seq = (*min_seq).min(survivor.seq);
            report.bytes_written += needed;
            let location = alexdb_wal::Location {
                segment_id: *id,
                offset,
            };
            survivor.to = PackedLocation::pack(location).ok_or_else(|| {
                Error::InvalidConfig(format!(
                    "segment id {} is beyond what the index can address",
                    id.0
                ))
            })?;
            survivor.stored_len = needed;
        }
        if let Some((last, _, min_seq)) = writer.take() {
            outputs.push((last.finish()?, min_seq));
        }
        Ok(outputs)
    }

    /// Phases 2-4: repoint the indexes, commit the new segment set with a snapshot, and
    /// delete the victims.
    pub fn install_compaction(&mut self, plan: CompactionPlan) -> Result<CompactionReport> {
        self.ensure_writable()?;
        let CompactionPlan {
            victims,
            survivors,
            outputs,
            mut report,
            started,
        } = plan;
        for (segment, min_seq) in &outputs {
            self.segments.insert(Arc::clone(segment), *min_seq);
        }
        for survivor in &survivors {
            if survivor.tag != TAG_PUT {
                continue;
            }
            let state = self
                .keyspaces
                .get_mut(survivor.keyspace)
                .expect("survivors' keyspaces exist");
            // Written again since the copy was chosen: the copy is dead.
            if state.index.get(survivor.key) != Some(&survivor.from.0) {
                continue;
            }
            state.index.insert(survivor.key, survivor.to.0);
            self.segments
                .add_live(survivor.to.segment_id().0, survivor.stored_len);
            report.live_records_moved += 1;
        }
        for id in &victims {
            self.segments.remove(*id);
        }

        let mut manifest = self.manifest.clone();
        manifest.standalone.retain(|s| !victims.contains(&s.id));
        manifest
            .standalone
            .extend(outputs.iter().map(|(segment, min_seq)| StandaloneSegment {
                id: segment.id().0,
                min_seq: *min_seq,
            }));
        manifest.retired = victims.clone();
        self.writer()?.sync()?;
        self.write_snapshot_and_manifest(manifest)?;

        let wal = Arc::clone(self.writer()?);
        let log_victims: Vec<SegmentId> = victims
            .iter()
            .map(|id| SegmentId(*id))
            .filter(|id| wal.segment(*id).is_some())
            .collect();
        self.writer()?.retire(&log_victims)?;
        for id in &victims {
            layout::remove_if_exists(&layout::segment_path(&self.dir, *id))?;
        }
        layout::sync_dir(&self.dir)?;
        self.manifest.retired.clear();
        self.compactions += 1;
        report.bytes_reclaimed = report.bytes_read.saturating_sub(report.bytes_written);
        report.duration = started.elapsed();
        Ok(report)
    }
}
