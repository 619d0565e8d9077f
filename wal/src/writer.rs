//! [`SegmentWriter`]: writes a standalone segment (compaction output).
//!
//! Owns a temp file `<path>.tmp` until `finish`, which syncs it, renames it to `path`,
//! fsyncs the directory and hands back the mapping as a [`Segment`]. Dropped unfinished,
//! it removes the temp file. Records keep caller-given sequence numbers, frame `Full`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::format::{
    MAX_PAYLOAD_FORMAT, RECORD_HEADER_LEN, RecordHeader, SEGMENT_HEADER_LEN, SegmentHeader,
    ZERO_PAD, record_crc, stored_len,
};
use crate::fsio::{Faults, create_segment_file, io_error, sync_dir, temp_path};
use crate::map::{MapWriter, SharedMap};
use crate::prefault::Prefaulter;
use crate::segment::Segment;
use crate::{Error, Frame, Result, SegmentId, SegmentKind, Seq};

/// Bytes a standalone writer keeps faulted in ahead of itself (as the log's default).
const PREFAULT_AHEAD: u64 = 4 << 20;

/// Writes a standalone segment (compaction output) at `path` (written as a temp file,
/// synced and renamed by `finish`). Records keep caller-given sequence numbers.
pub struct SegmentWriter {
    path: PathBuf,
    temp: PathBuf,
    header: SegmentHeader,
    /// `None` once finished.
    writer: Option<MapWriter>,
    /// Next write offset (== published length).
    pos: u64,
    /// (first, highest) sequence numbers appended; (0, 0) while empty.
    seq_bounds: (u64, u64),
    /// Keeps the pages ahead of `pos` faulted in (see `prefault.rs`); `None` if no
    /// thread could be started.
    prefault: Option<Prefaulter>,
}

impl std::fmt::Debug for SegmentWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SegmentWriter")
            .field("path", &self.path)
            .field("id", &self.header.segment_id)
            .field("pos", &self.pos)
            .finish_non_exhaustive()
    }
}

impl SegmentWriter {
    /// Create `<path>.tmp` of `capacity` bytes (a multiple of 8, room for the header and
    /// at least one record), preallocated, with its header written.
    pub fn create(path: &Path, id: SegmentId, capacity: u64) -> Result<SegmentWriter> {
        if !capacity.is_multiple_of(8)
            || capacity < SEGMENT_HEADER_LEN + RECORD_HEADER_LEN
            || capacity > isize::MAX as u64
        {
            return Err(Error::InvalidOptions(format!(
                "bad standalone segment capacity {capacity}"
            )));
        }
        let temp = temp_path(path);
        let header = SegmentHeader {
            kind: SegmentKind::Standalone,
            segment_id: id,
            first_seq: 0,
            capacity,
        };
        let file = create_segment_file(&temp, None, &header, &Faults::default())?;
        let map = SharedMap::map(&file, capacity, true).map_err(|e| io_error(&temp, e))?;
        let mut writer = Arc::new(map)
            .take_writer()
            .expect("a fresh writable mapping has no writer yet");
        writer.publish(SEGMENT_HEADER_LEN);
        let mut prefault = Prefaulter::start(PREFAULT_AHEAD);
        if let Some(prefault) = &mut prefault {
            prefault.request(writer.map(), SEGMENT_HEADER_LEN);
        }
        Ok(SegmentWriter {
            path: path.to_path_buf(),
            temp,
            header,
            writer: Some(writer),
            pos: SEGMENT_HEADER_LEN,
            seq_bounds: (0, 0),
            prefault,
        })
    }

    /// Bytes a record with this payload length takes (header + payload + padding).
    pub fn stored_len(payload_len: u64) -> u64 {
        stored_len(payload_len)
    }

    /// Room left for records, in bytes.
    pub fn remaining(&self) -> u64 {
        self.header.capacity - self.pos
    }

    /// Append one record (frame `Full`); returns its offset. A record that does not fit
    /// in the remaining room gives `ValueTooLarge` with `max` the largest payload that
    /// would still fit.
    pub fn append(&mut self, seq: Seq, tag: u8, head: &[u8], body: &[u8]) -> Result<u64> {
        let payload_len = (head.len() + body.len()) as u64;
        let stored = stored_len(payload_len);
        let remaining = self.remaining();
        if stored > remaining || payload_len > MAX_PAYLOAD_FORMAT {
            let max = remaining
                .saturating_sub(RECORD_HEADER_LEN)
                .min(MAX_PAYLOAD_FORMAT);
            return Err(Error::ValueTooLarge {
                len: payload_len,
                max,
            });
        }
        let writer = self
            .writer
            .as_mut()
            .expect("only `finish` takes the writer, and it consumes self");
        let mut header =
            RecordHeader::encode_without_crc(payload_len as u32, seq.0, Frame::Full, tag);
        let crc = record_crc(&header, &[head, body]);
        header[0..4].copy_from_slice(&crc.to_le_bytes());
        let pad = (stored - RECORD_HEADER_LEN - payload_len) as usize;
        let offset = self.pos;
        writer.write(offset, &[&header, head, body, &ZERO_PAD[..pad]]);
        self.pos += stored;
        writer.publish(self.pos);
        if let Some(prefault) = &mut self.prefault {
            prefault.request(writer.map(), self.pos);
        }
        if offset == SEGMENT_HEADER_LEN {
            self.seq_bounds.0 = seq.0;
        }
        self.seq_bounds.1 = self.seq_bounds.1.max(seq.0);
        Ok(offset)
    }

    /// Sync, rename into place, fsync the directory, and hand back the mapping (still the
    /// one written through; nothing writes it any more).
    pub fn finish(mut self) -> Result<Arc<Segment>> {
        // Stop the prefault thread first: nothing is appended any more.
        self.prefault = None;
        let writer = self
            .writer
            .take()
            .expect("finish runs once: it consumes self");
        let map = Arc::clone(writer.map());
        drop(writer);
        map.sync_range(0, self.pos)
            .map_err(|e| io_error(&self.temp, e))?;
        std::fs::rename(&self.temp, &self.path).map_err(|e| io_error(&self.path, e))?;
        let dir = self.path.parent().unwrap_or(Path::new("."));
        sync_dir(dir, &Faults::default())?;
        let segment = Segment::from_parts(
            self.path.clone(),
            self.header,
            map,
            Vec::new(),
            Some(self.seq_bounds),
        );
        Ok(Arc::new(segment))
    }
}

impl Drop for SegmentWriter {
    fn drop(&mut self) {
        if self.writer.is_some() {
            // Unfinished: the temp file is garbage. Best effort; a leftover is harmless.
            let _ = std::fs::remove_file(&self.temp);
        }
    }
}
