//! The append side of the log: the active segment's writer, sequence numbers, rolling.
//!
//! Owns [`AppendState`], which lives inside `Shared::append` (a mutex: "the append lock").
//! Every method here requires that lock. Invariants: `pos == active.written_len()` between
//! batches; `last_seq` is the seq of the last record of the last complete batch; bytes are
//! copied before they are published; a batch's bytes are published segment by segment and
//! `Shared::last_seq` is raised only after the whole batch is in place.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::format::{
    RECORD_HEADER_LEN, RecordHeader, SEGMENT_HEADER_LEN, SegmentHeader, stored_len,
};
use crate::fsio::{Faults, create_segment_file, io_error, log_file_name, temp_path};
use crate::map::{MapWriter, SharedMap};
use crate::prefault::Prefaulter;
use crate::segment::{Segment, frame_of};
use crate::{CommitReceipt, Entry, FaultPoint, Location, Result, SegmentId, SegmentKind, Seq};

/// State guarded by the append lock.
#[derive(Debug)]
pub(crate) struct AppendState {
    /// The segment being appended to.
    pub active: Arc<Segment>,
    /// The only writer of `active`'s mapping.
    pub writer: MapWriter,
    /// Next write offset in `active` (== its published length between batches).
    pub pos: u64,
    /// Seq of the last record appended (0 if none ever).
    pub last_seq: u64,
    /// Offset in `active` from which bytes are not yet covered by a sync capture.
    pub active_unsynced_from: u64,
    /// Sealed segments with bytes not yet covered by a sync capture: (segment, from, to).
    pub sealed_unsynced: Vec<(Arc<Segment>, u64, u64)>,
    /// Batches appended since the last sync capture (the next group's size).
    pub batches_since_capture: u64,
    pub bytes_appended: u64,
    pub records: u64,
    pub batches: u64,
    /// Keeps the active segment faulted in ahead of `pos` (None: off, or no thread).
    pub prefault: Option<Prefaulter>,
    /// Start writing a segment's unsynced bytes back when it is sealed
    /// (`WalOptions::writeback_sealed`).
    pub writeback_sealed: bool,
    /// Map the writer's segments with huge pages (`WalOptions::huge_pages`, resolved).
    pub huge_pages: bool,
}

/// What a sync leader captured under the append lock: the watermark it may publish once
/// the ranges are synced, and the ranges.
#[derive(Debug)]
pub(crate) struct SyncCapture {
    pub upto_seq: u64,
    pub ranges: Vec<(Arc<Segment>, u64, u64)>,
    pub group_batches: u64,
}

/// Where new segments go and how they are made.
#[derive(Debug)]
pub(crate) struct SegmentFactory<'a> {
    pub dir: &'a Path,
    pub capacity: u64,
    pub faults: &'a Faults,
    /// The id allocator shared with `Wal::allocate_segment_id`.
    pub next_id: &'a AtomicU64,
}

impl SegmentFactory<'_> {
    /// Create log segment `id` whose first record will carry `first_seq`; durable
    /// (temp file, sync, rename, directory fsync) before it is returned.
    pub(crate) fn create(
        &self,
        id: SegmentId,
        first_seq: u64,
    ) -> Result<(Arc<Segment>, MapWriter)> {
        let path = self.dir.join(log_file_name(id.0));
        let header = SegmentHeader {
            kind: SegmentKind::Log,
            segment_id: id,
            first_seq,
            capacity: self.capacity,
        };
        let file = create_segment_file(&temp_path(&path), Some(&path), &header, self.faults)?;
        let map = SharedMap::map(&file, self.capacity, true).map_err(|e| io_error(&path, e))?;
        let map = Arc::new(map);
        let mut writer = map
            .take_writer()
            .expect("a fresh writable mapping has no writer yet");
        writer.publish(SEGMENT_HEADER_LEN);
        let segment = Arc::new(Segment::from_parts(
            path,
            header,
            map,
            Vec::new(),
            Some((0, 0)),
        ));
        Ok((segment, writer))
    }
}

impl AppendState {
    pub(crate) fn new(
        active: Arc<Segment>,
        writer: MapWriter,
        last_seq: u64,
        mut prefault: Option<Prefaulter>,
        writeback_sealed: bool,
        huge_pages: bool,
    ) -> AppendState {
        let pos = active.written_len();
        // Advisory (see `advise_append_region`): a refusal costs speed, never data.
        let _ = writer.map().advise_append_region(pos, huge_pages);
        if let Some(prefault) = &mut prefault {
            prefault.request(writer.map(), pos);
        }
        AppendState {
            active,
            writer,
            pos,
            last_seq,
            active_unsynced_from: pos,
            sealed_unsynced: Vec::new(),
            batches_since_capture: 0,
            bytes_appended: 0,
            records: 0,
            batches: 0,
            prefault,
            writeback_sealed,
            huge_pages,
        }
    }

    /// Append `entries` as one batch. Sizes were validated by the caller. On `Err` the
    /// caller must poison the log: part of the batch may be in place (never published as
    /// complete: `last_seq` is untouched, and recovery truncates the incomplete batch).
    pub(crate) fn append_batch(
        &mut self,
        entries: &[Entry<'_>],
        factory: &SegmentFactory<'_>,
        on_new_segment: &mut dyn FnMut(&Arc<Segment>),
    ) -> Result<CommitReceipt> {
        factory
            .faults
            .check(FaultPoint::Append, self.active.path())?;
        let count = entries.len();
        let first_seq = self.last_seq + 1;
        let mut locations = Vec::with_capacity(count);
        let mut segment_first_seq = first_seq;
        let mut bytes = 0u64;
        for (index, entry) in entries.iter().enumerate() {
            let payload_len = (entry.head.len() + entry.body.len()) as u64;
            let stored = stored_len(payload_len);
            let seq = first_seq + index as u64;
            if self.pos + stored > self.active.capacity() {
                // Publish what this batch wrote here (whole records; the batch is still
                // incomplete, which readers of the log detect by its frames).
                self.writer.publish(self.pos);
                if seq > segment_first_seq {
                    self.active.note_seqs(segment_first_seq, seq - 1);
                }
                self.roll(seq, factory, on_new_segment)?;
                segment_first_seq = seq;
            }
            let header = RecordHeader::encode_without_crc(
                payload_len as u32,
                seq,
                frame_of(index, count),
                entry.tag,
            );
            let pad = (stored - RECORD_HEADER_LEN - payload_len) as usize;
            self.writer
                .write_record(self.pos, &header, entry.head, entry.body, pad);
            locations.push(Location {
                segment_id: self.active.id(),
                offset: self.pos,
            });
            self.pos += stored;
            bytes += stored;
            // A large batch outruns the prefault window: keep the thread faulting pages
            // ahead while this loop writes (two comparisons when nothing is due).
            if let Some(prefault) = &mut self.prefault {
                prefault.request(self.writer.map(), self.pos);
            }
        }
        let last_seq = first_seq + count as u64 - 1;
        self.writer.publish(self.pos);
        self.active.note_seqs(segment_first_seq, last_seq);
        self.last_seq = last_seq;
        self.bytes_appended += bytes;
        self.records += count as u64;
        self.batches += 1;
        self.batches_since_capture += 1;
        Ok(CommitReceipt {
            first_seq: Seq(first_seq),
            locations,
        })
    }

    /// Seal the active segment and continue in a new one whose first record gets
    /// `next_seq`. The new segment is durable before it is used.
    pub(crate) fn roll(
        &mut self,
        next_seq: u64,
        factory: &SegmentFactory<'_>,
        on_new_segment: &mut dyn FnMut(&Arc<Segment>),
    ) -> Result<()> {
        let id = SegmentId(factory.next_id.fetch_add(1, Ordering::AcqRel));
        let (segment, writer) = factory.create(id, next_seq)?;
        self.writer.publish(self.pos);
        if self.pos > self.active_unsynced_from {
            let old = Arc::clone(&self.active);
            if self.writeback_sealed {
                // Advisory: a failure here loses nothing (the sync that makes these bytes
                // durable comes later and reports its own errors), so it is not one.
                let _ =
                    crate::map::start_writeback(old.path(), self.active_unsynced_from, self.pos);
            }
            self.sealed_unsynced
                .push((old, self.active_unsynced_from, self.pos));
        }
        on_new_segment(&segment);
        // Advisory, like the advice it undoes: the sealed segment is only read from now on.
        let _ = self.active.map().advise_sealed();
        self.pos = segment.written_len();
        // Advisory (see `advise_append_region`): a refusal costs speed, never data.
        let _ = writer.map().advise_append_region(self.pos, self.huge_pages);
        self.active_unsynced_from = self.pos;
        self.active = segment;
        self.writer = writer;
        Ok(())
    }

    /// Take everything appended since the last capture (requires the append lock, and
    /// the caller is the sync leader).
    pub(crate) fn capture(&mut self) -> SyncCapture {
        let mut ranges = std::mem::take(&mut self.sealed_unsynced);
        if self.pos > self.active_unsynced_from {
            ranges.push((
                Arc::clone(&self.active),
                self.active_unsynced_from,
                self.pos,
            ));
        }
        self.active_unsynced_from = self.pos;
        let group_batches = std::mem::take(&mut self.batches_since_capture);
        SyncCapture {
            upto_seq: self.last_seq,
            ranges,
            group_batches,
        }
    }
}
