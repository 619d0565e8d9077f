//! [`LogFollower`]: reads a log that another process is writing (secondary instances).
//!
//! Owns read-only mappings of the log segments it has reached and a cursor. Bytes above
//! what it has checked are copied out and CRC-checked before the segment's published
//! length is raised over them, so it never trusts a record the writer is still copying.
//! Records are handed out only once their batch's `Last` (or `Full`) record is seen.
//! Sequence numbers of the log are consecutive except across segments retired earlier,
//! so a jump that was not already there when the follower opened (between two segments
//! both listed then), or a listed segment that disappears before it is read, means
//! records were retired before the follower read them: `SegmentGone`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::format::{Probe, SEGMENT_HEADER_LEN};
use crate::fsio::{io_error, list_dir};
use crate::segment::{Segment, probe_shared, read_header};
use crate::{Error, Frame, Location, RecordRef, Result, SegmentId, Seq};

/// Follows a log written by another process (read-only; for secondary instances).
pub struct LogFollower {
    dir: PathBuf,
    /// Segments opened so far (the current one and any holding the open batch).
    segments: BTreeMap<SegmentId, Arc<Segment>>,
    /// Next record to check: segment and offset. `None` before any segment exists.
    cursor: Option<(SegmentId, u64)>,
    /// Records with a lower seq are skipped.
    from: u64,
    /// Seq the next record must carry (0: not known yet, or a known gap is being crossed).
    expected_seq: u64,
    /// Every log segment id this follower has seen listed. One that disappears before
    /// the follower read it means records it needed were retired.
    known_ids: BTreeSet<u64>,
    /// Ids listed when the follower was opened: gaps in sequence numbers between two
    /// of them already existed (retired before) and are crossed without complaint.
    ids_at_open: BTreeSet<u64>,
    /// Start of the batch being assembled (its records are checked, not yet visited).
    batch_start: Option<Location>,
    /// Last record of the batch being assembled, and its seq.
    batch_last: Option<(Location, u64)>,
    /// Last seq handed to a visitor.
    last_visited: u64,
    /// Last seq checked (visited or in the open batch); 0 before the first record.
    last_seen: u64,
    /// Scratch space for copying records out of the mapping.
    buffer: Vec<u8>,
}

impl std::fmt::Debug for LogFollower {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogFollower")
            .field("dir", &self.dir)
            .field("cursor", &self.cursor)
            .field("last_visited", &self.last_visited)
            .finish_non_exhaustive()
    }
}

impl LogFollower {
    /// Start following the log in `dir` at the first record with `seq >= from`.
    pub fn open(dir: &Path, from: Seq) -> Result<LogFollower> {
        let mut follower = LogFollower {
            dir: dir.to_path_buf(),
            segments: BTreeMap::new(),
            cursor: None,
            from: from.0,
            expected_seq: 0,
            known_ids: BTreeSet::new(),
            ids_at_open: BTreeSet::new(),
            batch_start: None,
            batch_last: None,
            last_visited: from.0.saturating_sub(1),
            last_seen: 0,
            buffer: Vec::new(),
        };
        // Start in the last segment whose first record is at or before `from`.
        let listing = list_dir(dir)?;
        follower.ids_at_open = listing.log_segments.iter().map(|(id, _)| *id).collect();
        follower.known_ids = follower.ids_at_open.clone();
        let mut start = None;
        for (_, path) in &listing.log_segments {
            let file = std::fs::File::open(path).map_err(|e| io_error(path, e))?;
            let (header, _) = read_header(&file, path)?;
            if start.is_none() || header.first_seq <= from.0.max(1) {
                start = Some(path);
            } else {
                break;
            }
        }
        let start = start
            .map(|path| Segment::open_unscanned(path))
            .transpose()?
            .map(Arc::new);
        if let Some(segment) = start {
            follower.cursor = Some((segment.id(), SEGMENT_HEADER_LEN));
            follower.segments.insert(segment.id(), segment);
        }
        Ok(follower)
    }

    /// The mapping of a segment this follower has opened (every segment visited by the
    /// last `poll` stays available until the next one).
    pub fn segment(&self, id: SegmentId) -> Option<Arc<Segment>> {
        self.segments.get(&id).cloned()
    }

    /// The next log segment after `id` in the directory, opened (`None` if there is
    /// none). `SegmentGone` if a segment between them that this follower saw listed has
    /// disappeared (retired before the follower read it).
    /// The flag says whether a sequence gap into it already existed at open.
    fn next_segment(&mut self, id: SegmentId) -> Result<Option<(Arc<Segment>, bool)>> {
        let listing = list_dir(&self.dir)?;
        let Some((next_id, path)) = listing.log_segments.iter().find(|(i, _)| *i > id.0) else {
            return Ok(None);
        };
        if let Some(gone) = self.known_ids.range(id.0 + 1..*next_id).next() {
            return Err(Error::SegmentGone(SegmentId(*gone)));
        }
        self.known_ids
            .extend(listing.log_segments.iter().map(|(i, _)| *i));
        match Segment::open_unscanned(path) {
            Ok(segment) => {
                // Adjacent when the follower opened: a sequence gap between them was
                // already there (segments retired earlier), not something missed.
                let known_gap =
                    self.ids_at_open.contains(&id.0) && self.ids_at_open.contains(next_id);
                Ok(Some((Arc::new(segment), known_gap)))
            }
            Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                Err(Error::SegmentGone(SegmentId(*next_id)))
            }
            Err(error) => Err(error),
        }
    }

    /// Visit records of every *complete* batch appended since the last poll, in log
    /// order; stops before an incomplete batch. Follows segment rolls. Returns the last
    /// sequence number visited. `SegmentGone` if the writer retired a segment this
    /// follower still needed (the caller must reload from a snapshot).
    pub fn poll(&mut self, visit: &mut dyn FnMut(RecordRef<'_>) -> Result<()>) -> Result<Seq> {
        // Mappings of segments the previous poll moved past are dropped only now: until
        // this call, the caller may still ask `segment()` for any segment it visited.
        self.forget_unneeded();
        if self.cursor.is_none() {
            let listing = list_dir(&self.dir)?;
            let Some((_, path)) = listing.log_segments.first() else {
                return Ok(Seq(self.last_visited));
            };
            let segment = Arc::new(Segment::open_unscanned(path)?);
            self.cursor = Some((segment.id(), SEGMENT_HEADER_LEN));
            self.segments.insert(segment.id(), segment);
        }
        // Bounded: each iteration consumes a record or moves to a later segment.
        loop {
            let (id, offset) = self.cursor.expect("set above");
            let segment = Arc::clone(
                self.segments
                    .get(&id)
                    .expect("the cursor's segment is open"),
            );
            let header = match probe_shared(segment.map(), offset, &mut self.buffer) {
                Probe::Valid(header) => header,
                Probe::Invalid(_) => {
                    // Nothing (yet) at the cursor. If a later segment exists the writer
                    // has rolled; re-check once, since the roll happens after the last
                    // record here was complete.
                    let Some((next, known_gap)) = self.next_segment(id)? else {
                        break;
                    };
                    if matches!(
                        probe_shared(segment.map(), offset, &mut self.buffer),
                        Probe::Valid(_)
                    ) {
                        continue;
                    }
                    // The writer rolled, so this segment is complete: only zeros may follow
                    // its last record. Anything else is a damaged record, and moving on
                    // would silently skip the records behind it.
                    if !segment.map().is_zero_from(offset) {
                        return Err(Error::Corruption {
                            path: segment.path().to_path_buf(),
                            offset,
                            reason: "damaged record in a sealed log segment (a later one exists)"
                                .to_string(),
                        });
                    }
                    if known_gap {
                        self.expected_seq = 0;
                    }
                    if self.last_seen != 0 && next.header_first_seq() > self.last_seen + 1 {
                        // Sequence numbers jump into the next segment: the rest of the
                        // open batch was in segments retired since, so it was complete.
                        if let (Some(start), Some((last, seq))) =
                            (self.batch_start.take(), self.batch_last.take())
                        {
                            self.visit_batch(start, last, visit)?;
                            self.last_visited = self.last_visited.max(seq);
                        }
                    }
                    self.cursor = Some((next.id(), SEGMENT_HEADER_LEN));
                    self.segments.insert(next.id(), next);
                    continue;
                }
            };
            let end = offset + header.stored_len();
            if self.expected_seq == 0 && self.last_seen == 0 {
                // The very first record: records from `from` on must still be there.
                if self.from >= 1 && header.seq > self.from {
                    return Err(Error::SegmentGone(id));
                }
            } else if self.expected_seq != 0 && header.seq != self.expected_seq {
                return Err(Error::SegmentGone(id));
            }
            self.last_seen = header.seq;
            self.expected_seq = header.seq + 1;
            segment.map().advance_published(end);
            self.cursor = Some((id, end));
            let location = Location {
                segment_id: id,
                offset,
            };
            match header.frame {
                Frame::First => {
                    self.batch_start = Some(location);
                    self.batch_last = Some((location, header.seq));
                }
                Frame::Middle => {
                    // A batch whose start preceded `from` (or the follower's first look).
                    self.batch_start.get_or_insert(location);
                    self.batch_last = Some((location, header.seq));
                }
                Frame::Full | Frame::Last => {
                    self.batch_last = None;
                    let start = self.batch_start.take().unwrap_or(location);
                    self.visit_batch(start, location, visit)?;
                    self.last_visited = self.last_visited.max(header.seq);
                }
            }
        }
        Ok(Seq(self.last_visited))
    }

    /// Visit the checked records from `start` through `last` (inclusive), across segments.
    fn visit_batch(
        &self,
        start: Location,
        last: Location,
        visit: &mut dyn FnMut(RecordRef<'_>) -> Result<()>,
    ) -> Result<()> {
        for (id, segment) in self.segments.range(start.segment_id..=last.segment_id) {
            let from = if *id == start.segment_id {
                start.offset
            } else {
                SEGMENT_HEADER_LEN
            };
            let mut at = from;
            loop {
                let record = segment.record_at(at)?;
                let stored = record.stored_len;
                if record.seq.0 >= self.from {
                    visit(record)?;
                }
                if *id == last.segment_id && at == last.offset {
                    return Ok(());
                }
                at += stored;
                if at >= segment.written_len() {
                    break;
                }
            }
        }
        Ok(())
    }

    /// Drop mappings of segments before the cursor that no open batch needs.
    fn forget_unneeded(&mut self) {
        let keep_from = match (self.batch_start, self.cursor) {
            (Some(start), _) => start.segment_id,
            (None, Some((id, _))) => id,
            (None, None) => return,
        };
        self.segments.retain(|id, _| *id >= keep_from);
    }
}
