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
//! Phases, so that the concurrent wrapper holds its exclusive lock only to repoint:
//! [`AlexStorage::choose_compaction`], [`AlexStorage::choose_live`] (one pass over the
//! indexes in key order, keeping the entries that point into a victim) and
//! [`AlexStorage::choose_survivors`] (`&self`, one victim per call: verifies every
//! record's checksum and picks the tombstones to keep), [`CompactionChoice::copy`] (no
//! access to the store),
//! [`AlexStorage::install_compaction`] (`&mut self`, in memory only), then the commit
//! as a checkpoint ([`AlexStorage::begin_compaction_commit`], `PendingCheckpoint::write`,
//! `finish_checkpoint`), and [`InstalledCompaction::retire_victims`] (no access).
//!
//! A tombstone is dropped only when no older record of its key can remain outside the
//! victims: every other segment's smallest sequence number is above the tombstone's,
//! or the key has been written again since.

use crate::checkpoint::PendingCheckpoint;
use crate::codec::{self, KeyspaceId, PackedLocation, TAG_DELETE, TAG_PUT};
use crate::layout;
use crate::manifest::StandaloneSegment;
use crate::storage::AlexStorage;
use crate::{Error, Result};
use alexdb_wal::{Segment, SegmentId, SegmentWriter, Seq, Wal};
use std::path::PathBuf;
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

/// How much a compaction should take.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CompactionGoal {
    /// Only segments past `Config::compaction_dead_ratio` (the automatic policy).
    DeadRatio,
    /// While the space amplification is above `Config::compaction_target_amplification`,
    /// every sealed segment (a full compaction, which can drop every tombstone);
    /// otherwise as `DeadRatio`. What an explicit `compact()` does.
    TargetAmplification,
}

/// Victims chosen and (after `choose_survivors`) the records to keep from them.
#[derive(Debug)]
pub struct CompactionChoice {
    victims: Vec<Arc<Segment>>,
    /// Smallest sequence number of any segment that is not a victim.
    oldest_elsewhere: u64,
    survivors: Vec<Survivor>,
    report: CompactionReport,
    started: Instant,
    wal: Arc<Wal>,
    dir: PathBuf,
    segment_capacity: u64,
}

/// Survivors copied into new segments, ready to install.
#[derive(Debug)]
pub struct CompactionPlan {
    victims: Vec<Arc<Segment>>,
    survivors: Vec<Survivor>,
    outputs: Vec<(Arc<Segment>, u64)>,
    report: CompactionReport,
    started: Instant,
    wal: Arc<Wal>,
    dir: PathBuf,
}

/// A compaction installed in memory; commit it with `begin_compaction_commit`, then
/// delete the victims with `retire_victims`.
#[derive(Debug)]
pub struct InstalledCompaction {
    victims: Vec<u64>,
    outputs: Vec<StandaloneSegment>,
    report: CompactionReport,
    started: Instant,
    wal: Arc<Wal>,
    dir: PathBuf,
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
    /// `Config::compaction_dead_ratio` — or all of them while the space amplification is
    /// above `Config::compaction_target_amplification` (the active log segment is sealed
    /// first when that needs it).
    pub fn compact(&mut self) -> Result<CompactionReport> {
        self.compact_with(CompactionGoal::TargetAmplification)
    }

    /// Compact for `goal`.
    pub fn compact_with(&mut self, goal: CompactionGoal) -> Result<CompactionReport> {
        let started = Instant::now();
        if self.active_segment_worth_sealing(goal) {
            self.writer()?.roll()?;
        }
        let Some(mut choice) = self.choose_compaction(goal)? else {
            return Ok(CompactionReport {
                duration: started.elapsed(),
                ..CompactionReport::default()
            });
        };
        self.choose_live(&mut choice);
        for victim in 0..choice.victim_count() {
            self.choose_survivors(&mut choice, victim)?;
        }
        let plan = choice.copy()?;
        let installed = self.install_compaction(plan)?;
        let pending = self.begin_compaction_commit(&installed)?;
        // The victims' records must be durable before their copies replace them.
        self.writer()?.sync()?;
        let written = pending.write()?;
        self.finish_checkpoint(written);
        self.compaction_done();
        installed.retire_victims()
    }

    /// Whether the active log segment holds records and should be sealed so that
    /// compaction for `goal` can take it (`Wal::roll`).
    pub fn active_segment_worth_sealing(&self, goal: CompactionGoal) -> bool {
        let Some(wal) = &self.wal else {
            return false;
        };
        let over_target = goal == CompactionGoal::TargetAmplification
            && self.space_amplification() > self.config.compaction_target_amplification;
        self.segments
            .get(wal.active_segment_id().0)
            .is_some_and(|slot| {
                slot.segment.first_seq().0 != 0
                    && wal.last_seq() >= slot.segment.first_seq()
                    && (slot.dead_ratio() >= self.config.compaction_dead_ratio
                        || (over_target && slot.dead_bytes() > slot.written_bytes() / 10))
            })
    }

    fn space_amplification(&self) -> f64 {
        let live: u64 = self.segments.iter().map(|slot| slot.live_bytes).sum();
        let written: u64 = self.segments.iter().map(|slot| slot.written_bytes()).sum();
        if live == 0 {
            1.0
        } else {
            written as f64 / live as f64
        }
    }

    /// Choose the victims among sealed segments: those past the dead-byte threshold, or,
    /// for `TargetAmplification` while the space amplification is above the target,
    /// all of them. `None` if there is nothing to compact. (Call
    /// `Wal::roll` first if `active_segment_worth_sealing`.)
    pub fn choose_compaction(&self, goal: CompactionGoal) -> Result<Option<CompactionChoice>> {
        let wal = Arc::clone(self.writer()?);
        let started = Instant::now();
        let threshold = self.config.compaction_dead_ratio;
        let active = wal.active_segment_id().0;
        // Over the target, compact every sealed segment: only then can every tombstone
        // go (a segment left out may hold an older record of its key).
        let full = goal == CompactionGoal::TargetAmplification
            && self.space_amplification() > self.config.compaction_target_amplification;
        // Only segments all of whose records are applied: a group appended but not yet
        // applied (the concurrent wrapper applies groups after their sync) would
        // otherwise be indexed into a segment this compaction is about to remove.
        let applied = self.applied_seq;
        let victims: Vec<Arc<Segment>> = self
            .segments
            .iter()
            .filter(|slot| slot.segment.id().0 != active && slot.segment.last_seq().0 <= applied)
            .filter(|slot| full || slot.dead_ratio() >= threshold)
            .map(|slot| Arc::clone(&slot.segment))
            .collect();
        if victims.is_empty() {
            return Ok(None);
        }
        let victim_ids: Vec<u64> = victims.iter().map(|s| s.id().0).collect();
        let oldest_elsewhere = self
            .segments
            .iter()
            .filter(|slot| !victim_ids.contains(&slot.segment.id().0))
            .map(|slot| slot.min_seq())
            .min()
            .unwrap_or(u64::MAX);
        let report = CompactionReport {
            segments_in: victims.len(),
            bytes_read: victims.iter().map(|s| s.written_len()).sum(),
            ..CompactionReport::default()
        };
        Ok(Some(CompactionChoice {
            victims,
            oldest_elsewhere,
            survivors: Vec::new(),
            report,
            started,
            wal,
            dir: self.dir.clone(),
            segment_capacity: self.config.segment_capacity,
        }))
    }

    /// The live puts of every victim: one pass over each index in key order, keeping the
    /// entries that point into a victim. Sequential, where looking up every victim
    /// record in the index would be one random access per record. Their sequence
    /// numbers are read when `copy` reads the records.
    pub fn choose_live(&self, choice: &mut CompactionChoice) {
        let mut is_victim = Vec::new();
        for victim in &choice.victims {
            let id = victim.id().0 as usize;
            if is_victim.len() <= id {
                is_victim.resize(id + 1, false);
            }
            is_victim[id] = true;
        }
        for state in self.keyspaces.iter() {
            let keyspace = state.handle.id;
            for (key, &location) in state.index.iter() {
                let location = PackedLocation(location);
                let id = location.segment_id().0 as usize;
                if is_victim.get(id).copied().unwrap_or(false) {
                    choice.survivors.push(Survivor {
                        keyspace,
                        key,
                        seq: 0,
                        tag: TAG_PUT,
                        from: location,
                        to: location,
                        stored_len: 0,
                    });
                }
            }
        }
    }

    /// Read victim number `victim` in full, verifying every record's checksum (so that
    /// a damaged record is reported rather than copied under a fresh checksum), and
    /// keep the tombstones an older record of their key may still need. (The live puts
    /// come from [`AlexStorage::choose_live`].)
    pub fn choose_survivors(&self, choice: &mut CompactionChoice, victim: usize) -> Result<()> {
        let segment = Arc::clone(&choice.victims[victim]);
        let oldest_elsewhere = choice.oldest_elsewhere;
        let (survivors, report) = (&mut choice.survivors, &mut choice.report);
        let mut failure = None;
        let outcome = segment.scan(0, &mut |record| {
            if record.tag != TAG_DELETE {
                return Ok(());
            }
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
            // Needed only if an older record of the key may remain outside the victims
            // and the key has not been written again since.
            let keep = oldest_elsewhere < record.seq.0
                && self
                    .keyspaces
                    .get(keyspace)
                    .is_none_or(|state| !state.index.contains_key(key));
            if keep {
                report.tombstones_kept += 1;
                let from = PackedLocation::pack(record.location)
                    .expect("locations of segments in the table fit in a packed location");
                survivors.push(Survivor {
                    keyspace,
                    key,
                    seq: record.seq.0,
                    tag: record.tag,
                    from,
                    to: from,
                    stored_len: 0,
                });
            } else {
                report.tombstones_dropped += 1;
            }
            Ok(())
        });
        if let Some(error) = failure {
            return Err(error);
        }
        outcome?;
        Ok(())
    }

    /// Repoint the indexes at the copies (skipping keys written again since they were
    /// chosen) and swap the segment set, in memory.
    pub fn install_compaction(&mut self, plan: CompactionPlan) -> Result<InstalledCompaction> {
        self.ensure_writable()?;
        let CompactionPlan {
            victims,
            survivors,
            outputs,
            mut report,
            started,
            wal,
            dir,
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
            // Written again (or deleted) since the copy was chosen: the copy is dead.
            match state.index.get_mut(survivor.key) {
                Some(location) if *location == survivor.from.0 => *location = survivor.to.0,
                _ => continue,
            }
            self.segments
                .add_live(survivor.to.segment_id().0, survivor.stored_len);
            report.live_records_moved += 1;
        }
        let victims: Vec<u64> = victims.iter().map(|s| s.id().0).collect();
        for id in &victims {
            self.segments.remove(*id);
        }
        Ok(InstalledCompaction {
            victims,
            outputs: outputs
                .iter()
                .map(|(segment, min_seq)| StandaloneSegment {
                    id: segment.id().0,
                    min_seq: *min_seq,
                })
                .collect(),
            report,
            started,
            wal,
            dir,
        })
    }

    /// Begin the checkpoint that commits an installed compaction.
    pub fn begin_compaction_commit(
        &self,
        installed: &InstalledCompaction,
    ) -> Result<PendingCheckpoint> {
        self.begin_checkpoint_with(|manifest| {
            manifest
                .standalone
                .retain(|s| !installed.victims.contains(&s.id));
            manifest
                .standalone
                .extend(installed.outputs.iter().copied());
            manifest.retired = installed.victims.clone();
        })
    }

    /// Count a committed compaction (after `finish_checkpoint` adopted its MANIFEST).
    pub fn compaction_done(&mut self) {
        self.compactions += 1;
    }
}

impl CompactionChoice {
    pub fn victim_count(&self) -> usize {
        self.victims.len()
    }

    /// Copy the survivors, sorted by key and keeping their sequence numbers, into new
    /// segments (synced and renamed into place). Reads only the victims' mappings.
    pub fn copy(mut self) -> Result<CompactionPlan> {
        /// How many survivors ahead to start loading: the reads are in key order, so
        /// random in the victims, and overlapping their misses is most of the speed.
        const PREFETCH_AHEAD: usize = 16;
        self.survivors.sort_unstable_by_key(|s| (s.keyspace, s.key));
        let mut by_id: Vec<Option<Arc<Segment>>> = Vec::new();
        for victim in &self.victims {
            let id = victim.id().0 as usize;
            if by_id.len() <= id {
                by_id.resize(id + 1, None);
            }
            by_id[id] = Some(Arc::clone(victim));
        }
        let victim_of = |location: PackedLocation| -> &Segment {
            by_id[location.segment_id().0 as usize]
                .as_deref()
                .expect("survivors come from victims")
        };
        let mut outputs = Vec::new();
        let mut writer: Option<(SegmentWriter, SegmentId, u64)> = None;
        for index in 0..self.survivors.len() {
            if let Some(ahead) = self.survivors.get(index + PREFETCH_AHEAD) {
                victim_of(ahead.from).prefetch_record(ahead.from.offset());
            }
            let survivor = &mut self.survivors[index];
            let victim = victim_of(survivor.from);
            let record = victim.record_at(survivor.from.offset())?;
            let body = match codec::decode_head(record.payload) {
                Some((keyspace, key, body))
                    if keyspace == survivor.keyspace
                        && key == survivor.key
                        && record.tag == survivor.tag =>
                {
                    body
                }
                _ => {
                    return Err(Error::corruption(
                        victim.path(),
                        survivor.from.offset(),
                        format!(
                            "compaction: the index maps key {} of keyspace {} here, but the record is not its value",
                            survivor.key, survivor.keyspace.0
                        ),
                    ));
                }
            };
            survivor.seq = record.seq.0;
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
                let id = self.wal.allocate_segment_id();
                let path = layout::segment_path(&self.dir, id.0);
                let created = SegmentWriter::create(&path, id, self.segment_capacity)?;
                writer = Some((created, id, u64::MAX));
            }
            let (out, id, min_seq) = writer.as_mut().expect("created just above");
            let offset = out.append(Seq(survivor.seq), survivor.tag, &head, body)?;
            *min_seq = (*min_seq).min(survivor.seq);
            self.report.bytes_written += needed;
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
        self.report.segments_out = outputs.len();
        Ok(CompactionPlan {
            victims: self.victims,
            survivors: self.survivors,
            outputs,
            report: self.report,
            started: self.started,
            wal: self.wal,
            dir: self.dir,
        })
    }
}

impl InstalledCompaction {
    /// After the commit: delete the victims. Their removal is already committed (the
    /// MANIFEST lists them as retired), so a crash here is finished by the next open.
    pub fn retire_victims(self) -> Result<CompactionReport> {
        let log_victims: Vec<SegmentId> = self
            .victims
            .iter()
            .map(|id| SegmentId(*id))
            .filter(|id| self.wal.segment(*id).is_some())
            .collect();
        self.wal.retire(&log_victims)?;
        for id in &self.victims {
            layout::remove_if_exists(&layout::segment_path(&self.dir, *id))?;
        }
        layout::sync_dir(&self.dir)?;
        let mut report = self.report;
        report.bytes_reclaimed = report.bytes_read.saturating_sub(report.bytes_written);
        report.duration = self.started.elapsed();
        Ok(report)
    }
}
