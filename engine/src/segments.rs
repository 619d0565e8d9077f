//! The segment table: every segment the index may point into (log and compacted), with
//! the byte accounting that drives compaction.
//!
//! Invariant: for every segment, `live_bytes` is the sum of the stored lengths of the
//! records the indexes point at in it (tombstones are never live).

use crate::codec::{self, KeyspaceId, PackedLocation};
use crate::{Error, Result};
use alexdb_wal::{RecordRef, Segment, SegmentKind};
use std::sync::Arc;

/// One segment and its accounting.
#[derive(Debug)]
pub struct SegmentSlot {
    pub segment: Arc<Segment>,
    /// Sum of the stored lengths of records some index points at.
    pub live_bytes: u64,
    /// Compacted segments: smallest sequence number of any record in it (`u64::MAX`
    /// if none). Log segments read theirs live from the segment (see `min_seq()`),
    /// because the active one fills after it was registered.
    standalone_min_seq: u64,
}

impl SegmentSlot {
    pub fn kind(&self) -> SegmentKind {
        self.segment.kind()
    }

    /// Smallest sequence number of any record in the segment (`u64::MAX` if none yet).
    pub fn min_seq(&self) -> u64 {
        match self.segment.kind() {
            SegmentKind::Log => match self.segment.first_seq().0 {
                0 => u64::MAX,
                first => first,
            },
            SegmentKind::Standalone => self.standalone_min_seq,
        }
    }

    /// Bytes of the segment in use (header and records), live or not.
    pub fn written_bytes(&self) -> u64 {
        self.segment.written_len()
    }

    pub fn dead_bytes(&self) -> u64 {
        self.written_bytes().saturating_sub(self.live_bytes)
    }

    pub fn dead_ratio(&self) -> f64 {
        let written = self.written_bytes();
        if written == 0 {
            0.0
        } else {
            self.dead_bytes() as f64 / written as f64
        }
    }
}

/// Segments by id (a dense vector: ids are allocated in order and stay small).
#[derive(Debug, Default)]
pub struct SegmentTable {
    slots: Vec<Option<SegmentSlot>>,
}

impl SegmentTable {
    /// Register a segment; `min_seq` matters only for compacted (standalone) segments.
    pub fn insert(&mut self, segment: Arc<Segment>, min_seq: u64) {
        let id = segment.id().0 as usize;
        if self.slots.len() <= id {
            self.slots.resize_with(id + 1, || None);
        }
        self.slots[id] = Some(SegmentSlot {
            segment,
            live_bytes: 0,
            standalone_min_seq: min_seq,
        });
    }

    /// Use `segment` as the mapping of its id, keeping the accounting if the id is
    /// already known (a follower's mapping grows as the writer appends).
    pub fn replace_mapping(&mut self, segment: Arc<Segment>) {
        let id = segment.id().0;
        match self.get_mut(id) {
            // Never trade a mapping for one that can read less of the file.
            Some(slot) if segment.written_len() >= slot.segment.written_len() => {
                slot.segment = segment;
            }
            Some(_) => {}
            None => self.insert(segment, u64::MAX),
        }
    }

    pub fn contains(&self, id: u64) -> bool {
        self.get(id).is_some()
    }

    pub fn get(&self, id: u64) -> Option<&SegmentSlot> {
        self.slots.get(id as usize).and_then(Option::as_ref)
    }

    pub fn get_mut(&mut self, id: u64) -> Option<&mut SegmentSlot> {
        self.slots.get_mut(id as usize).and_then(Option::as_mut)
    }

    pub fn remove(&mut self, id: u64) -> Option<SegmentSlot> {
        self.slots.get_mut(id as usize).and_then(Option::take)
    }

    pub fn iter(&self) -> impl Iterator<Item = &SegmentSlot> {
        self.slots.iter().flatten()
    }

    pub fn len(&self) -> usize {
        self.iter().count()
    }

    /// The record at a packed location (hot path: no checksum verification).
    #[inline]
    pub fn record(&self, location: PackedLocation) -> Result<RecordRef<'_>> {
        match self.get(location.segment_id().0) {
            Some(slot) => Ok(slot.segment.record_at(location.offset())?),
            None => Err(Error::corruption(
                "(index)",
                location.offset(),
                format!(
                    "the index points into segment {} which is not part of the store",
                    location.segment_id().0
                ),
            )),
        }
    }

    /// Start loading the record at `location` (a hint: nothing happens for a location
    /// outside the store).
    #[inline]
    pub fn prefetch(&self, location: PackedLocation) {
        if let Some(slot) = self.get(location.segment_id().0) {
            slot.segment.prefetch_record(location.offset());
        }
    }

    /// The value of `key` stored at `location`, checked against the record's head.
    #[inline]
    pub fn value(&self, keyspace: KeyspaceId, key: i64, location: PackedLocation) -> Result<&[u8]> {
        // The lean path first (no error built, no record decoded beyond its head); the
        // full one below only to say what is wrong. The record's first three lines are
        // asked for together, so the value's lines load alongside the head's miss instead
        // of after the head is decoded.
        if let Some((tag, payload)) = self.get(location.segment_id().0).and_then(|slot| {
            slot.segment.prefetch_record(location.offset());
            slot.segment.payload_at(location.offset())
        }) && tag == codec::TAG_PUT
            && let Some((found_keyspace, found_key, value)) = codec::decode_head(payload)
            && found_keyspace == keyspace
            && found_key == key
        {
            return Ok(value);
        }
        self.value_slow(keyspace, key, location)
    }

    #[cold]
    #[inline(never)]
    fn value_slow(
        &self,
        keyspace: KeyspaceId,
        key: i64,
        location: PackedLocation,
    ) -> Result<&[u8]> {
        let record = self.record(location)?;
        match codec::decode_head(record.payload) {
            Some((found_keyspace, found_key, value))
                if found_keyspace == keyspace
                    && found_key == key
                    && record.tag == codec::TAG_PUT =>
            {
                Ok(value)
            }
            _ => Err(Error::corruption(
                record_path(self, location),
                location.offset(),
                format!(
                    "the index maps key {key} of keyspace {} here, but the record is not its value",
                    keyspace.0
                ),
            )),
        }
    }

    pub fn add_live(&mut self, id: u64, bytes: u64) {
        if let Some(slot) = self.get_mut(id) {
            slot.live_bytes += bytes;
        }
    }

    /// The record at `location` is no longer live.
    pub fn release(&mut self, location: PackedLocation) -> Result<()> {
        let stored_len = self.record(location)?.stored_len;
        let slot = self
            .get_mut(location.segment_id().0)
            .expect("record() just found this segment");
        slot.live_bytes = slot.live_bytes.saturating_sub(stored_len);
        Ok(())
    }

    /// (segment id, live bytes) of every segment, for snapshots.
    pub fn live_table(&self) -> Vec<(u64, u64)> {
        self.iter()
            .map(|slot| (slot.segment.id().0, slot.live_bytes))
            .collect()
    }
}

fn record_path(table: &SegmentTable, location: PackedLocation) -> std::path::PathBuf {
    table
        .get(location.segment_id().0)
        .map(|slot| slot.segment.path().to_path_buf())
        .unwrap_or_default()
}
