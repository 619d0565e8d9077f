//! Recovery: scanning a log directory, classifying damage, truncating the torn tail.
//!
//! Owns the rules of `docs/wal.md` § Recovery. One pass over the log segments in id order
//! checks every record (structure, CRC, increasing sequence numbers, frame order) and
//! tracks the open batch; a second step decides what the damage found means:
//! - zeroes after the last record: the clean end of a segment;
//! - non-zero bytes that are not a record, with no valid record after them anywhere:
//!   the torn tail — truncated (zeroed) and reported;
//! - a batch with `First` but no `Last` at the end of the log (possibly spanning
//!   segments): truncated too, and later segments holding only its records are deleted;
//! - damage followed by valid records (same segment or a later one):
//!   `Error::Corruption` in `Strict`, skipped and reported in `Salvage`.
//!
//! `inspect` runs the same analysis on copies of the files and changes nothing.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::format::{
    Probe, SEGMENT_HEADER_LEN, SegmentHeader, find_next_valid, is_all_zero, nonzero_end,
    probe_record,
};
use crate::fsio::{Faults, Listing, io_error, list_dir, sync_dir};
use crate::map::{MapWriter, SharedMap};
use crate::segment::{Segment, read_header};
use crate::{
    Error, FaultPoint, Frame, Location, RecoveryMode, RecoveryReport, Result, SegmentId,
    SegmentKind,
};

/// The log as recovery left it.
#[derive(Debug)]
pub(crate) struct Recovered {
    /// Live log segments, oldest first, published up to their last valid record.
    pub segments: Vec<Arc<Segment>>,
    /// Writer of the last segment's mapping (the one appends continue in).
    pub active_writer: Option<MapWriter>,
    /// Highest sequence number of the recovered log (also counting the first_seq in the
    /// last segment's header, so numbers are never reused after retirement).
    pub last_seq: u64,
    /// One above the highest `{id:020}.*` id in the directory.
    pub next_id: u64,
    pub report: RecoveryReport,
}

/// A batch whose `Last` has not been seen yet.
#[derive(Debug)]
struct OpenBatch {
    first_seq: u64,
    /// Ranges `(segment index, from, to)` its records occupy, in order.
    spans: Vec<(usize, u64, u64)>,
    records: u64,
}

impl OpenBatch {
    fn new(first_seq: u64, index: usize, from: u64, to: u64) -> OpenBatch {
        OpenBatch {
            first_seq,
            spans: vec![(index, from, to)],
            records: 1,
        }
    }

    fn extend(&mut self, index: usize, from: u64, to: u64) {
        match self.spans.last_mut() {
            Some(span) if span.0 == index && span.2 == from => span.2 = to,
            _ => self.spans.push((index, from, to)),
        }
        self.records += 1;
    }

    fn start(&self) -> (usize, u64) {
        (self.spans[0].0, self.spans[0].1)
    }
}

/// What the scan found in one segment.
#[derive(Debug)]
struct SegmentScan {
    /// End of the last retained record: the segment's published length.
    valid_end: u64,
    /// End of the non-zero bytes (>= `valid_end`).
    data_end: u64,
    /// Non-zero bytes at `valid_end` with no valid record after them in this segment.
    torn: Option<&'static str>,
    has_records: bool,
    /// (first, highest) sequence numbers of the records kept.
    seq_bounds: (u64, u64),
}

/// Cross-segment state of the scan.
#[derive(Debug)]
struct Tracker {
    mode: RecoveryMode,
    /// (id, path) per scanned segment.
    files: Vec<(SegmentId, PathBuf)>,
    /// Salvage: damaged ranges per segment index.
    skips: Vec<Vec<(u64, u64)>>,
    last_seq: u64,
    open_batch: Option<OpenBatch>,
    records: u64,
    batches: u64,
    skipped: Vec<(Location, u64)>,
    /// Salvage: damage hit a batch; its remaining records are skipped up to its end.
    broken_batch: bool,
}

impl Tracker {
    /// Damaged bytes `[from, to)` of segment `index`: an error in `Strict`; in `Salvage`
    /// skipped, together with the whole batch they belong to (atomicity).
    fn damage(&mut self, index: usize, from: u64, to: u64, reason: &str) -> Result<()> {
        self.skip(index, from, to, reason)?;
        self.broken_batch = true;
        if let Some(batch) = self.open_batch.take() {
            self.drop_batch(batch)?;
        }
        Ok(())
    }

    fn skip(&mut self, index: usize, from: u64, to: u64, reason: &str) -> Result<()> {
        let (id, path) = &self.files[index];
        match self.mode {
            RecoveryMode::Strict => Err(Error::Corruption {
                path: path.clone(),
                offset: from,
                reason: reason.to_string(),
            }),
            RecoveryMode::Salvage => {
                self.skipped.push((
                    Location {
                        segment_id: *id,
                        offset: from,
                    },
                    to - from,
                ));
                self.skips[index].push((from, to));
                Ok(())
            }
        }
    }

    /// Salvage: forget the records of an open batch and skip its bytes.
    fn drop_batch(&mut self, batch: OpenBatch) -> Result<()> {
        self.records -= batch.records;
        for (index, from, to) in batch.spans {
            self.skip(index, from, to, "incomplete batch")?;
        }
        Ok(())
    }

    /// A batch that a later batch follows without its `Last`: never written by a healthy
    /// writer, so corruption (or, salvaging, skipped whole).
    fn interrupted(&mut self, batch: OpenBatch) -> Result<()> {
        let (index, offset) = batch.start();
        if self.mode == RecoveryMode::Strict {
            return Err(Error::Corruption {
                path: self.files[index].1.clone(),
                offset,
                reason: "batch without its last record is followed by another batch".into(),
            });
        }
        self.drop_batch(batch)
    }

    /// Scan the records of segment `index` (its bytes from offset 0 are `region`; its
    /// header says its first record carries `header_first_seq`).
    fn scan_segment(
        &mut self,
        index: usize,
        region: &[u8],
        header_first_seq: u64,
    ) -> Result<SegmentScan> {
        if header_first_seq > self.last_seq + 1 && self.open_batch.take().is_some() {
            // Sequence numbers jump at this segment's start (even an empty one): the rest
            // of the open batch was in segments retired since, so it was complete.
            self.batches += 1;
        }
        let mut offset = SEGMENT_HEADER_LEN;
        let mut has_records = false;
        let mut seq_bounds = (0, 0);
        loop {
            let header = match probe_record(region, offset) {
                Probe::Valid(header) => header,
                Probe::Invalid(reason) => {
                    let rest = &region[(offset as usize).min(region.len())..];
                    if is_all_zero(rest) {
                        return Ok(SegmentScan {
                            valid_end: offset,
                            data_end: offset,
                            torn: None,
                            has_records,
                            seq_bounds,
                        });
                    }
                    match find_next_valid(region, offset) {
                        Some(next) => {
                            self.damage(index, offset, next, reason)?;
                            offset = next;
                            continue;
                        }
                        None => {
                            return Ok(SegmentScan {
                                valid_end: offset,
                                data_end: nonzero_end(region, offset),
                                torn: Some(reason),
                                has_records,
                                seq_bounds,
                            });
                        }
                    }
                }
            };
            let end = offset + header.stored_len();
            if header.seq <= self.last_seq {
                self.damage(index, offset, end, "sequence number does not increase")?;
                offset = end;
                continue;
            }
            if self.broken_batch {
                if matches!(header.frame, Frame::Middle | Frame::Last) {
                    // The rest of a batch damage hit (Salvage only: Strict failed already).
                    if header.frame == Frame::Last {
                        self.broken_batch = false;
                    }
                    self.skip(index, offset, end, "rest of a damaged batch")?;
                    self.last_seq = header.seq;
                    offset = end;
                    continue;
                }
                self.broken_batch = false;
            }
            let contiguous = header.seq == self.last_seq + 1;
            if !contiguous && self.open_batch.take().is_some() {
                // The rest of that batch was in segments retired since: it was complete.
                self.batches += 1;
            }
            // The common case (most records of a large batch) extends the open batch in
            // place: taking it out of the `Option` and putting it back per record cost
            // about 40% of this loop.
            if header.frame == Frame::Middle
                && let Some(batch) = self.open_batch.as_mut()
            {
                batch.extend(index, offset, end);
            } else {
                match (header.frame, self.open_batch.take()) {
                    (Frame::Full | Frame::First, open) => {
                        if let Some(batch) = open {
                            self.interrupted(batch)?;
                        }
                        if header.frame == Frame::Full {
                            self.batches += 1;
                        } else {
                            self.open_batch = Some(OpenBatch::new(header.seq, index, offset, end));
                        }
                    }
                    (Frame::Middle, Some(mut batch)) => {
                        batch.extend(index, offset, end);
                        self.open_batch = Some(batch);
                    }
                    (Frame::Last, Some(_)) => self.batches += 1,
                    (Frame::Middle | Frame::Last, None) if contiguous => {
                        self.damage(
                            index,
                            offset,
                            end,
                            "batch continuation without its first record",
                        )?;
                        offset = end;
                        continue;
                    }
                    // After a gap in sequence numbers (retired segments), a batch may
                    // continue whose start is gone.
                    (Frame::Middle, None) => {
                        self.open_batch = Some(OpenBatch::new(header.seq, index, offset, end));
                    }
                    (Frame::Last, None) => self.batches += 1,
                }
            }
            self.records += 1;
            self.last_seq = header.seq;
            if !has_records {
                seq_bounds.0 = header.seq;
            }
            seq_bounds.1 = header.seq;
            has_records = true;
            offset = end;
        }
    }
}

/// One log segment file being recovered.
#[derive(Debug)]
struct Candidate {
    id: u64,
    path: PathBuf,
    header: SegmentHeader,
    /// Repair only: the writable mapping and its writer.
    writer: Option<MapWriter>,
}

/// Open, validate and (repair mode) map every log segment of `listing`.
fn open_candidate(
    id: u64,
    path: &Path,
    is_last: bool,
    repair: bool,
    mode: RecoveryMode,
    buffer: &mut Vec<u8>,
) -> Result<(Candidate, Option<Error>)> {
    let file = if repair {
        OpenOptions::new().read(true).write(true).open(path)
    } else {
        File::open(path)
    }
    .map_err(|e| io_error(path, e))?;
    let (header, file_len) = read_header(&file, path)?;
    if header.segment_id.0 != id {
        return Err(Error::Corruption {
            path: path.to_path_buf(),
            offset: 16,
            reason: format!(
                "header names segment {}, the file name {id}",
                header.segment_id.0
            ),
        });
    }
    if header.kind != SegmentKind::Log {
        return Err(Error::Corruption {
            path: path.to_path_buf(),
            offset: 12,
            reason: "a standalone segment carries a log segment's name".into(),
        });
    }
    // Files are created at full length (temp file + rename), so only the last one can be
    // short, and only by external truncation: treat the missing part as zeros there.
    let mut short = None;
    if file_len < header.capacity && !is_last {
        short = Some(Error::Corruption {
            path: path.to_path_buf(),
            offset: file_len,
            reason: format!(
                "segment file is shorter than its capacity {}",
                header.capacity
            ),
        });
        if mode == RecoveryMode::Strict {
            return Err(short.take().expect("just set"));
        }
    }
    let writer = if repair {
        if file_len < header.capacity {
            file.set_len(header.capacity)
                .map_err(|e| io_error(path, e))?;
        }
        let map = SharedMap::map(&file, header.capacity, true).map_err(|e| io_error(path, e))?;
        Some(
            Arc::new(map)
                .take_writer()
                .expect("a fresh writable mapping has no writer yet"),
        )
    } else {
        let len = file_len.min(header.capacity) as usize;
        buffer.clear();
        buffer.resize(len, 0);
        file.read_exact_at(buffer, 0)
            .map_err(|e| io_error(path, e))?;
        None
    };
    Ok((
        Candidate {
            id,
            path: path.to_path_buf(),
            header,
            writer,
        },
        short,
    ))
}

/// Recover the log in `dir`: repair (truncate, delete, sync) when `repair`, else only
/// report what recovery would do.
pub(crate) fn recover(
    dir: &Path,
    mode: RecoveryMode,
    repair: bool,
    faults: &Faults,
) -> Result<Recovered> {
    let listing: Listing = list_dir(dir)?;
    let count = listing.log_segments.len();
    let mut tracker = Tracker {
        mode,
        files: Vec::with_capacity(count),
        skips: Vec::with_capacity(count),
        last_seq: 0,
        open_batch: None,
        records: 0,
        batches: 0,
        skipped: Vec::new(),
        broken_batch: false,
    };
    let mut candidates = Vec::with_capacity(count);
    let mut scans = Vec::with_capacity(count);
    let mut buffer = Vec::new();
    for (index, (id, path)) in listing.log_segments.iter().enumerate() {
        let (candidate, short) =
            open_candidate(*id, path, index + 1 == count, repair, mode, &mut buffer)?;
        tracker.files.push((SegmentId(*id), path.clone()));
        tracker.skips.push(Vec::new());
        if let Some(Error::Corruption { offset, .. }) = short {
            let to = candidate.header.capacity;
            tracker.skip(
                index,
                offset,
                to,
                "segment file is shorter than its capacity",
            )?;
        }
        let region: &[u8] = match &candidate.writer {
            Some(writer) => writer.whole(),
            None => &buffer,
        };
        scans.push(tracker.scan_segment(index, region, candidate.header.first_seq)?);
        candidates.push(candidate);
    }

    // Torn bytes followed by valid records in a later segment are damage; the first torn
    // segment with nothing valid after it is where the tail starts.
    let last_with_records = scans.iter().rposition(|s| s.has_records);
    let mut tail: Option<(usize, u64)> = None;
    for (index, scan) in scans.iter().enumerate() {
        let Some(reason) = scan.torn else { continue };
        if last_with_records.is_some_and(|last| last > index) {
            tracker.skip(index, scan.valid_end, scan.data_end, reason)?;
        } else if tail.is_none() {
            tail = Some((index, scan.valid_end));
        }
    }
    let mut last_seq = tracker.last_seq;
    let mut records = tracker.records;
    if let Some(batch) = tracker.open_batch.take() {
        let start = batch.start();
        tail = Some(tail.map_or(start, |torn| torn.min(start)));
        records -= batch.records;
        last_seq = batch.first_seq - 1;
    }

    let mut report = RecoveryReport {
        records,
        batches: tracker.batches,
        skipped: tracker.skipped,
        ..RecoveryReport::default()
    };
    let mut keep = candidates.len();
    if let Some((index, offset)) = tail {
        keep = index + 1;
        let mut truncated = scans[index].data_end.max(offset) - offset;
        for scan in &scans[keep..] {
            truncated += scan.data_end.max(SEGMENT_HEADER_LEN) - SEGMENT_HEADER_LEN;
        }
        report.bytes_truncated = truncated;
        report.truncated_at = Some(Location {
            segment_id: SegmentId(candidates[index].id),
            offset,
        });
        scans[index].valid_end = offset;
        scans[index].data_end = scans[index].data_end.max(offset);
    }
    for candidate in &candidates[..keep] {
        last_seq = last_seq.max(candidate.header.first_seq.saturating_sub(1));
    }
    report.last_seq = crate::Seq(last_seq);
    report.segments = keep as u64;

    if !repair {
        return Ok(Recovered {
            segments: Vec::new(),
            active_writer: None,
            last_seq,
            next_id: listing.max_id + 1,
            report,
        });
    }

    // Repair: zero the torn tail, delete segments after it, remove stale temp files.
    let mut dir_changed = false;
    for candidate in candidates.drain(keep..) {
        faults.check(FaultPoint::RemoveSegment, &candidate.path)?;
        drop(candidate.writer);
        std::fs::remove_file(&candidate.path).map_err(|e| io_error(&candidate.path, e))?;
        dir_changed = true;
    }
    for temp in &listing.stale_temps {
        faults.check(FaultPoint::RemoveSegment, temp)?;
        std::fs::remove_file(temp).map_err(|e| io_error(temp, e))?;
        dir_changed = true;
    }
    if dir_changed {
        sync_dir(dir, faults)?;
    }
    let mut segments = Vec::with_capacity(keep);
    let mut active_writer = None;
    for (index, (mut candidate, scan)) in candidates.into_iter().zip(scans).enumerate() {
        let mut writer = candidate
            .writer
            .take()
            .expect("repair mode maps every segment");
        let truncated_here = tail.is_some_and(|(tail_index, _)| tail_index == index);
        if truncated_here && scan.data_end > scan.valid_end {
            // The torn tail (and any incomplete batch): zeroed, so nothing stale can
            // ever follow the records appended here next.
            writer.zero(scan.valid_end, scan.data_end - scan.valid_end);
        }
        faults.check(FaultPoint::Sync, &candidate.path)?;
        // Make what survived durable now: a crash after this open must not lose what
        // the recovered state already counts as written (I-3: no holes).
        writer
            .map()
            .sync_range(0, scan.data_end.max(scan.valid_end))
            .map_err(|e| io_error(&candidate.path, e))?;
        writer.publish(scan.valid_end);
        let mut skips = std::mem::take(&mut tracker.skips[index]);
        skips.retain(|&(from, _)| from < scan.valid_end);
        skips.sort_unstable();
        let mut merged: Vec<(u64, u64)> = Vec::with_capacity(skips.len());
        for (from, to) in skips {
            match merged.last_mut() {
                Some(last) if from <= last.1 => last.1 = last.1.max(to),
                _ => merged.push((from, to)),
            }
        }
        let map = Arc::clone(writer.map());
        segments.push(Arc::new(Segment::from_parts(
            candidate.path,
            candidate.header,
            map,
            merged,
            // The tail segment lost records to truncation: let it rescan itself.
            (!truncated_here).then_some(scan.seq_bounds),
        )));
        if index + 1 == keep {
            active_writer = Some(writer);
        }
    }
    Ok(Recovered {
        segments,
        active_writer,
        last_seq,
        next_id: listing.max_id + 1,
        report,
    })
}
