//! Check 1, records: one checksummed pass over every segment of the store, collecting
//! the newest record of each key, and the check that a sealed segment's unused part is
//! zero.

use super::newest::{Newest, Seen, TOMBSTONE};
use super::{DamageKind, Verifier};
use crate::codec::{self, KeyspaceId, PackedLocation, TAG_DELETE, TAG_PUT};
use crate::{Error, Result};
use alexdb_wal::{RecordRef, Segment, SegmentKind};
use std::fs::File;
use std::os::unix::fs::FileExt;

/// Bytes read at a time when checking that a segment's unused part is zero.
const ZERO_CHECK_CHUNK: usize = 1 << 20;

/// Why a record cannot be used: whose it is (keyspace, key), if that is known, and why.
type Unusable = (Option<(KeyspaceId, i64)>, String);

impl<'s> Verifier<'s> {
    /// Read every record of every segment of the store, collecting the newest per key.
    pub(super) fn scan_segments(&mut self) -> Result<()> {
        let storage = self.storage;
        // The newest log segment may still be appended to (by this store, or by the
        // writer a read-only store follows): its tail is judged by the log inspection.
        let newest_log = storage
            .segments
            .iter()
            .filter(|slot| slot.kind() == SegmentKind::Log)
            .map(|slot| slot.segment.id().0)
            .max();
        for slot in storage.segments.iter() {
            let segment: &'s Segment = &slot.segment;
            self.report.segments_checked += 1;
            let outcome = segment.scan(0, &mut |record| {
                self.visit(segment, record);
                Ok(())
            });
            if let Err(error) = outcome {
                let (offset, reason) = match error {
                    alexdb_wal::Error::Corruption { offset, reason, .. } => (offset, reason),
                    other => (0, other.to_string()),
                };
                self.damage(DamageKind::Record, segment.path(), offset, None, reason);
            }
            if slot.kind() == SegmentKind::Standalone || Some(segment.id().0) != newest_log {
                self.check_unused_part(segment)?;
            }
        }
        Ok(())
    }

    fn visit(&mut self, segment: &Segment, record: RecordRef<'_>) {
        self.report.records_checked += 1;
        self.report.bytes_checked += record.stored_len;
        if record.seq.0 > self.storage.applied_seq {
            self.report.records_above_applied += 1;
            return;
        }
        match self.decode(&record) {
            Ok((keyspace, seen)) => {
                // No fold before twice the keys the index holds: below that, folding
                // would cost sorts and save little (most records are of distinct keys).
                let storage = self.storage;
                let fold_at = || Newest {
                    entries: Vec::new(),
                    fold_at: storage
                        .keyspaces
                        .get(keyspace)
                        .map_or(0, |state| 2 * state.index.len()),
                };
                self.newest
                    .entry(keyspace)
                    .or_insert_with(fold_at)
                    .push(seen);
            }
            Err((subject, reason)) => {
                let offset = record.location.offset;
                self.damage(DamageKind::Record, segment.path(), offset, subject, reason);
            }
        }
    }

    /// What a record says, or why it cannot be used (and whose it is, if that is known).
    fn decode(&self, record: &RecordRef<'_>) -> std::result::Result<(KeyspaceId, Seen), Unusable> {
        let Some((keyspace, key, _)) = codec::decode_head(record.payload) else {
            let reason = format!(
                "record payload of {} bytes is shorter than its {}-byte head",
                record.payload.len(),
                codec::HEAD_LEN
            );
            return Err((None, reason));
        };
        let subject = Some((keyspace, key));
        let tombstone = match record.tag {
            TAG_PUT => 0,
            TAG_DELETE => TOMBSTONE,
            other => return Err((subject, format!("unknown record tag {other}"))),
        };
        if self.storage.keyspaces.get(keyspace).is_none() {
            let reason = format!(
                "the record names keyspace {}, which the MANIFEST does not list",
                keyspace.0
            );
            return Err((subject, reason));
        }
        let Some(location) = PackedLocation::pack(record.location) else {
            let reason = "record location is beyond what the index can address".to_string();
            return Err((subject, reason));
        };
        let seen = Seen {
            key,
            seq_tag: record.seq.0 | tombstone,
            location: location.0,
        };
        Ok((keyspace, seen))
    }

    /// A sealed or compacted segment's bytes after its last valid record must be zero:
    /// anything else is a damaged record, behind which the rest of the file is unreadable.
    fn check_unused_part(&mut self, segment: &Segment) -> Result<()> {
        let path = segment.path();
        let file = match File::open(path) {
            Ok(file) => file,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                self.report.notes.push(format!(
                    "{} was removed (retired by the writer) before its unused part was checked",
                    path.display()
                ));
                return Ok(());
            }
            Err(error) => return Err(Error::io(path, error)),
        };
        let file_len = file.metadata().map_err(|e| Error::io(path, e))?.len();
        if segment.kind() == SegmentKind::Standalone && file_len < segment.capacity() {
            let reason = format!(
                "the file is {file_len} bytes, shorter than its capacity {}",
                segment.capacity()
            );
            self.damage(DamageKind::File, path, file_len, None, reason);
        }
        let from = segment.written_len();
        let end = file_len.min(segment.capacity());
        let (mut first, mut last) = (None, 0);
        let mut buffer = vec![0u8; ZERO_CHECK_CHUNK];
        let mut at = from;
        // Bounded: every iteration reads at least one byte, up to `end`.
        while at < end {
            let len = ZERO_CHECK_CHUNK.min((end - at) as usize);
            let chunk = &mut buffer[..len];
            file.read_exact_at(chunk, at)
                .map_err(|e| Error::io(path, e))?;
            if let Some(index) = chunk.iter().position(|&byte| byte != 0) {
                first.get_or_insert(at + index as u64);
                let tail = chunk.iter().rposition(|&byte| byte != 0).unwrap_or(index);
                last = at + tail as u64 + 1;
            }
            at += len as u64;
        }
        if let Some(first) = first {
            let reason = format!(
                "no valid record here, but bytes {first}..{last} are not zero: a damaged \
                 record; the rest of this file cannot be read"
            );
            self.damage(DamageKind::Record, path, from, None, reason);
        }
        Ok(())
    }
}
