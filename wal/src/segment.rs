//! A memory-mapped segment file and reading records back from it.
//!
//! Owns: the mapping of one segment (fixed length, never remapped), its decoded header,
//! and the published region `[0, written_len)`, which holds only whole, checked records
//! (except ranges a salvaging recovery recorded as skipped). Readers never look above it.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::format::{
    HeaderError, Probe, RECORD_ALIGN, RECORD_HEADER_LEN, RecordHeader, SEGMENT_HEADER_LEN,
    SegmentHeader, is_all_zero, probe_record, probe_structure,
};
use crate::fsio::io_error;
use crate::map::SharedMap;
use crate::{Error, Frame, Location, RecordRef, Result, SegmentId, SegmentKind, Seq};

/// A memory-mapped segment file. The mapping has the file's fixed capacity and is never
/// remapped, so slices returned by it stay valid while the `Segment` (or an `Arc` of it)
/// lives — also after the file is retired (unlinked).
pub struct Segment {
    path: PathBuf,
    header: SegmentHeader,
    map: Arc<SharedMap>,
    /// Sequence number of the first record (0 while there is none). Set once.
    first_record_seq: AtomicU64,
    /// Highest sequence number of any record written (0 while there is none).
    max_seq: AtomicU64,
    /// Ranges `[from, to)` a salvaging recovery skipped as damaged; sorted, disjoint.
    skipped: Vec<(u64, u64)>,
}

impl std::fmt::Debug for Segment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Segment")
            .field("path", &self.path)
            .field("id", &self.header.segment_id)
            .field("kind", &self.header.kind)
            .field("written_len", &self.written_len())
            .finish_non_exhaustive()
    }
}

/// Turn a header decoding failure into the typed error for `path`.
pub(crate) fn header_error(path: &Path, error: HeaderError) -> Error {
    match error {
        HeaderError::NotASegment => Error::NotASegment {
            path: path.to_path_buf(),
        },
        HeaderError::UnsupportedVersion(found) => Error::UnsupportedVersion {
            path: path.to_path_buf(),
            found,
            supported: crate::format::FORMAT_VERSION,
        },
        HeaderError::Corrupt(reason) => Error::Corruption {
            path: path.to_path_buf(),
            offset: 0,
            reason: reason.to_string(),
        },
    }
}

/// Read and validate the header of an open segment file; also returns the file length.
pub(crate) fn read_header(file: &File, path: &Path) -> Result<(SegmentHeader, u64)> {
    let file_len = file.metadata().map_err(|e| io_error(path, e))?.len();
    let mut bytes = [0u8; SEGMENT_HEADER_LEN as usize];
    let have = file_len.min(SEGMENT_HEADER_LEN) as usize;
    file.read_exact_at(&mut bytes[..have], 0)
        .map_err(|e| io_error(path, e))?;
    let header = SegmentHeader::decode(&bytes[..have]).map_err(|e| header_error(path, e))?;
    Ok((header, file_len))
}

impl Segment {
    /// Wrap a mapping whose published region the caller has already established.
    /// `seq_bounds` are the (first, highest) sequence numbers of its records if the
    /// caller knows them; `None` scans the published records to find them.
    pub(crate) fn from_parts(
        path: PathBuf,
        header: SegmentHeader,
        map: Arc<SharedMap>,
        skipped: Vec<(u64, u64)>,
        seq_bounds: Option<(u64, u64)>,
    ) -> Segment {
        let (first, max) = seq_bounds.unwrap_or((0, 0));
        let segment = Segment {
            path,
            header,
            map,
            first_record_seq: AtomicU64::new(first),
            max_seq: AtomicU64::new(max),
            skipped,
        };
        if seq_bounds.is_none() {
            segment.refresh_seq_bounds();
        }
        segment
    }

    /// Recompute first/max sequence numbers from the published records (open and
    /// recovery; the live writer maintains them with `note_seqs` instead).
    pub(crate) fn refresh_seq_bounds(&self) {
        let mut first = 0;
        let mut max = 0;
        let _ = self.scan_until(SEGMENT_HEADER_LEN, true, &mut |record| {
            if first == 0 {
                first = record.seq.0;
            }
            max = max.max(record.seq.0);
            Ok(true)
        });
        self.first_record_seq.store(first, Ordering::Release);
        self.max_seq.fetch_max(max, Ordering::AcqRel);
    }

    /// Record that sequence numbers `first..=last` were written (writer side).
    pub(crate) fn note_seqs(&self, first: u64, last: u64) {
        let _ =
            self.first_record_seq
                .compare_exchange(0, first, Ordering::AcqRel, Ordering::Acquire);
        self.max_seq.fetch_max(last, Ordering::AcqRel);
    }

    /// Open an existing segment file read-only (validates magic, version, header CRC).
    /// The readable region is found by scanning valid records from the start; whatever
    /// follows (a torn tail, bytes a writer is still copying in) is left out. For a
    /// segment nothing writes any more, use [`Segment::open_sealed`].
    pub fn open(path: &Path) -> Result<Segment> {
        Segment::open_scanned(path, false)
    }

    /// Open a complete segment file read-only: a compacted segment, or a log segment with
    /// a newer one after it. As [`Segment::open`], and everything after the last valid
    /// record must be zeros: a damaged record followed by more data is `Corruption` at
    /// its offset, never a silently shorter segment.
    pub fn open_sealed(path: &Path) -> Result<Segment> {
        Segment::open_scanned(path, true)
    }

    fn open_scanned(path: &Path, sealed: bool) -> Result<Segment> {
        let segment = Segment::open_unscanned(path)?;
        let mut buf = Vec::new();
        let mut offset = SEGMENT_HEADER_LEN;
        let reason = loop {
            match probe_shared(&segment.map, offset, &mut buf) {
                Probe::Valid(header) => offset += header.stored_len(),
                Probe::Invalid(reason) => break reason,
            }
        };
        if sealed && !segment.map.is_zero_from(offset) {
            return Err(Error::Corruption {
                path: path.to_path_buf(),
                offset,
                reason: format!(
                    "{reason}, and data follows: the records after this point would be lost"
                ),
            });
        }
        segment.map.advance_published(offset);
        segment.refresh_seq_bounds();
        Ok(segment)
    }

    /// Open read-only with only the header published (a follower validates the rest).
    pub(crate) fn open_unscanned(path: &Path) -> Result<Segment> {
        let file = File::open(path).map_err(|e| io_error(path, e))?;
        let (header, file_len) = read_header(&file, path)?;
        let map_len = file_len.min(header.capacity);
        let map = SharedMap::map(&file, map_len, false).map_err(|e| io_error(path, e))?;
        map.advance_published(SEGMENT_HEADER_LEN);
        Ok(Segment::from_parts(
            path.to_path_buf(),
            header,
            Arc::new(map),
            Vec::new(),
            Some((0, 0)),
        ))
    }

    pub fn id(&self) -> SegmentId {
        self.header.segment_id
    }
    pub fn kind(&self) -> SegmentKind {
        self.header.kind
    }
    pub fn path(&self) -> &Path {
        &self.path
    }
    /// Sequence number of the first record written into it (0 for an empty segment).
    pub fn first_seq(&self) -> Seq {
        Seq(self.first_record_seq.load(Ordering::Acquire))
    }
    /// The first sequence number recorded in the header: for a log segment, the seq its
    /// first record carries (or will carry, while it is empty); 0 for standalone ones.
    pub(crate) fn header_first_seq(&self) -> u64 {
        self.header.first_seq
    }
    /// Bytes of header + records that are published (readable); grows for the active segment.
    pub fn written_len(&self) -> u64 {
        self.map.published_len()
    }
    pub fn capacity(&self) -> u64 {
        self.header.capacity
    }

    pub(crate) fn map(&self) -> &Arc<SharedMap> {
        &self.map
    }
    /// Highest sequence number written into it (0 if none).
    pub(crate) fn max_seq(&self) -> u64 {
        self.max_seq.load(Ordering::Acquire)
    }

    /// Highest sequence number of any record published in it (`Seq(0)` if none); grows
    /// while the segment is active.
    pub fn last_seq(&self) -> Seq {
        Seq(self.max_seq())
    }

    fn bad_location(&self, offset: u64, reason: &str) -> Error {
        Error::BadLocation {
            location: Location {
                segment_id: self.id(),
                offset,
            },
            reason: reason.to_string(),
        }
    }

    fn record_ref<'a>(
        &self,
        region: &'a [u8],
        offset: u64,
        header: &RecordHeader,
    ) -> RecordRef<'a> {
        let start = (offset + RECORD_HEADER_LEN) as usize;
        RecordRef {
            location: Location {
                segment_id: self.id(),
                offset,
            },
            seq: Seq(header.seq),
            tag: header.tag,
            frame: header.frame,
            payload: &region[start..start + header.payload_len as usize],
            stored_len: header.stored_len(),
        }
    }

    /// Ask the CPU to start loading the record at `offset` (its first three cache lines:
    /// a header and a value of up to ~150 bytes). A hint: never fails, never faults.
    /// Callers that read records in an order of their own (compaction copies in key
    /// order) issue it a few records ahead.
    #[inline]
    pub fn prefetch_record(&self, offset: u64) {
        self.map.prefetch(offset);
        self.map.prefetch(offset.wrapping_add(64));
        self.map.prefetch(offset.wrapping_add(127));
    }

    /// The tag and payload of the record at `offset`: `Some` exactly where
    /// [`Segment::record_at`] would succeed, with the same checks, but nothing else
    /// decoded or copied. The point-read path: a lone read is waiting for the record's
    /// cache miss, and the fewer instructions it has in flight, the sooner the processor
    /// can start on the next lookup's misses. `record_at` says what is wrong on `None`.
    #[inline]
    pub fn payload_at(&self, offset: u64) -> Option<(u8, &[u8])> {
        let region = self.map.published();
        if !offset.is_multiple_of(RECORD_ALIGN) || offset < SEGMENT_HEADER_LEN {
            return None;
        }
        let start = usize::try_from(offset).ok()?;
        let header_end = start.checked_add(RECORD_HEADER_LEN as usize)?;
        let header: &[u8; RECORD_HEADER_LEN as usize] =
            region.get(start..header_end)?.try_into().ok()?;
        let header = RecordHeader::decode(header)?;
        if offset + header.stored_len() > region.len() as u64 {
            return None;
        }
        let payload = region.get(header_end..header_end + header.payload_len as usize)?;
        Some((header.tag, payload))
    }

    /// The record starting at `offset`, bounds-checked against the published region but
    /// without CRC verification (the hot read path). Garbage offsets give `BadLocation`,
    /// never UB or a panic.
    #[inline]
    pub fn record_at(&self, offset: u64) -> Result<RecordRef<'_>> {
        let region = self.map.published();
        if !offset.is_multiple_of(RECORD_ALIGN) || offset < SEGMENT_HEADER_LEN {
            return Err(self.bad_location(offset, "not a record offset"));
        }
        let Some(header_end) = offset.checked_add(RECORD_HEADER_LEN) else {
            return Err(self.bad_location(offset, "offset out of range"));
        };
        if header_end > region.len() as u64 {
            return Err(self.bad_location(offset, "beyond the written part of the segment"));
        }
        let mut header_bytes = [0u8; RECORD_HEADER_LEN as usize];
        header_bytes.copy_from_slice(&region[offset as usize..header_end as usize]);
        let Some(header) = RecordHeader::decode(&header_bytes) else {
            return Err(self.bad_location(offset, "no record header here"));
        };
        if offset + header.stored_len() > region.len() as u64 {
            return Err(self.bad_location(offset, "record runs past the written part"));
        }
        Ok(self.record_ref(region, offset, &header))
    }

    /// Like `record_at`, also verifying the CRC.
    pub fn record_at_verified(&self, offset: u64) -> Result<RecordRef<'_>> {
        let region = self.map.published();
        match probe_record(region, offset) {
            Probe::Valid(header) => Ok(self.record_ref(region, offset, &header)),
            Probe::Invalid(reason) => Err(self.bad_location(offset, reason)),
        }
    }

    /// Visit verified records from `offset` to the end of the published region, in file
    /// order. Stops (Ok) at a torn/zero tail; mid-file damage gives `Corruption`.
    /// Returns the offset where it stopped.
    pub fn scan(
        &self,
        offset: u64,
        visit: &mut dyn FnMut(RecordRef<'_>) -> Result<()>,
    ) -> Result<u64> {
        self.scan_until(offset, true, &mut |record| visit(record).map(|()| true))
    }

    /// `scan` whose visitor can stop early by returning `Ok(false)` (the offset returned
    /// is then that record's). `verify_crc: false` only checks structure and bounds: for
    /// the log's own segments, whose published region recovery verified or this process
    /// wrote (it halves the cost of the engine's replay right after open).
    pub(crate) fn scan_until(
        &self,
        offset: u64,
        verify_crc: bool,
        visit: &mut dyn FnMut(RecordRef<'_>) -> Result<bool>,
    ) -> Result<u64> {
        let region = self.map.published();
        let end = region.len() as u64;
        let mut offset = offset.max(SEGMENT_HEADER_LEN);
        let mut skips = self.skipped.iter().peekable();
        while offset < end {
            while skips.next_if(|&&(_, to)| to <= offset).is_some() {}
            if let Some(&&(from, to)) = skips.peek()
                && from <= offset
            {
                offset = to;
                continue;
            }
            let probe = if verify_crc {
                probe_record(region, offset)
            } else {
                probe_structure(region, offset)
            };
            match probe {
                Probe::Valid(header) => {
                    if !visit(self.record_ref(region, offset, &header))? {
                        return Ok(offset);
                    }
                    offset += header.stored_len();
                }
                Probe::Invalid(reason) => {
                    if is_all_zero(&region[offset as usize..]) {
                        break;
                    }
                    return Err(Error::Corruption {
                        path: self.path.clone(),
                        offset,
                        reason: reason.to_string(),
                    });
                }
            }
        }
        Ok(offset.min(end))
    }
}

/// Check the record at `offset` of a mapping whose bytes may still be changing (a file
/// another process writes): the record is copied out into `buf` and checked there, never
/// read in place. Only bytes that pass may later be published.
pub(crate) fn probe_shared(map: &SharedMap, offset: u64, buf: &mut Vec<u8>) -> Probe {
    if !offset.is_multiple_of(RECORD_ALIGN) || offset < SEGMENT_HEADER_LEN {
        return Probe::Invalid("misaligned record offset");
    }
    let mut header_bytes = [0u8; RECORD_HEADER_LEN as usize];
    if !map.copy_out(offset, &mut header_bytes) {
        return Probe::Invalid("record header runs past the end of the segment");
    }
    let Some(header) = RecordHeader::decode(&header_bytes) else {
        return Probe::Invalid("no record header");
    };
    let stored = header.stored_len();
    if offset.saturating_add(stored) > map.len() {
        return Probe::Invalid("record runs past the end of the segment");
    }
    buf.clear();
    buf.resize(stored as usize, 0);
    if !map.copy_out(offset, buf) {
        return Probe::Invalid("record runs past the end of the segment");
    }
    match probe_record_at_zero(buf) {
        Some(checked) if checked == header => Probe::Valid(header),
        _ => Probe::Invalid("record checksum mismatch"),
    }
}

/// Check a record copied to the start of `bytes`.
fn probe_record_at_zero(bytes: &[u8]) -> Option<RecordHeader> {
    let mut header_bytes = [0u8; RECORD_HEADER_LEN as usize];
    header_bytes.copy_from_slice(bytes.get(..RECORD_HEADER_LEN as usize)?);
    let header = RecordHeader::decode(&header_bytes)?;
    let stored = header.stored_len() as usize;
    if bytes.len() < stored || crc32fast::hash(&bytes[4..stored]) != header.crc {
        return None;
    }
    Some(header)
}

/// Frame of record `index` in a batch of `count`.
#[inline]
pub(crate) fn frame_of(index: usize, count: usize) -> Frame {
    match (index, count) {
        (_, 1) => Frame::Full,
        (0, _) => Frame::First,
        (i, n) if i + 1 == n => Frame::Last,
        _ => Frame::Middle,
    }
}
