//! Verification (`AlexStorage::verify`, behind `alexdb check`): read every record of
//! every segment and check that the files and the indexes agree, changing nothing.
//!
//! What is checked:
//! 1. Records: every record of every segment the store uses (sealed, compacted, and the
//!    live log up to its end) has a valid checksum and decodes — a head, a known tag, a
//!    keyspace the MANIFEST lists. The bytes after the last record of a sealed or
//!    compacted segment must be zero (anything else is a damaged record that hides the
//!    rest of the file). The log files are also inspected by the wal crate's own recovery
//!    rules (`alexdb_wal::inspect`: sequence order, batch frames, damage before valid
//!    records); a torn tail at the very end of the log is reported, not counted as damage.
//! 2. Index → log: every key of every index points at a put record of that keyspace and
//!    key, in a segment of the store, with a valid checksum, and it is the newest record
//!    of its key.
//! 3. Log → index: for every (keyspace, key), the record with the highest sequence number
//!    is the one the index points at — or a tombstone, and the key is absent. This is the
//!    rule full-scan recovery rebuilds the indexes by (`recovery.rs`). Records above the
//!    store's applied sequence number are checksummed but take no part: they are not
//!    visible yet (appended after a read-only open, or an incomplete last batch).
//!    Keyspaces are created through the MANIFEST, never by a log record.
//! 4. Metadata: the MANIFEST is read again and must parse; the snapshot was read and its
//!    checksum verified at open (a snapshot written since is read now), and its contents
//!    are checked by 2 and 3, since the indexes were loaded from it.
//!
//! Bounds: at most [`MAX_DAMAGE_LISTED`] damages are listed (the rest are counted). Memory
//! is one 24-byte entry per record seen, per keyspace, folded down to one per key (sort,
//! keep the newest) once the list reaches twice the keys of the keyspace's index, and
//! whenever it doubles after that: about 2 × 24 bytes per distinct key at the peak, no
//! per-entry allocation. Time: one checksummed pass over every segment, one over
//! the log files (the inspection), and one walk of each index.

use crate::codec::{self, KeyspaceId, PackedLocation, TAG_DELETE, TAG_PUT};
use crate::layout::{self, FileKind, MANIFEST_FILE};
use crate::manifest::Manifest;
use crate::recovery::IndexSource;
use crate::storage::AlexStorage;
use crate::{Error, Result};
use alexdb_wal::{RecordRef, Segment, SegmentKind};
use std::collections::BTreeMap;
use std::fmt;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Most damages a report lists; further ones are only counted (`damage_omitted`).
pub const MAX_DAMAGE_LISTED: usize = 1000;

/// Entries a keyspace's record list may reach before its first fold.
const FOLD_MIN: usize = 1 << 16;
/// Bytes read at a time when checking that a segment's unused part is zero.
const ZERO_CHECK_CHUNK: usize = 1 << 20;
/// Set in `Seen::seq_tag` for a tombstone (sequence numbers stay far below 2^63).
const TOMBSTONE: u64 = 1 << 63;

/// What kind of problem a [`Damage`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DamageKind {
    /// A record's bytes: bad checksum, bad structure, does not decode, out of order, or
    /// non-zero bytes where a sealed segment should be empty.
    Record,
    /// A file as a whole: shorter than its capacity, not a segment, cannot be read.
    File,
    /// The index maps a key to something that is not the newest put record of that key.
    IndexPointer,
    /// The newest record of a key is a put, but the index does not hold the key.
    IndexMissing,
    /// The MANIFEST or the snapshot.
    Metadata,
    /// The store does not open (see [`AlexStorage::verify_dir`]).
    Open,
}

/// One problem found by verification, with where it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Damage {
    pub kind: DamageKind,
    /// The file the damage is in (the data directory when no file can be named).
    pub file: PathBuf,
    /// Byte offset in `file` (the start of the record concerned; 0 for a whole file).
    pub offset: u64,
    /// Keyspace name (`#id` if the MANIFEST does not list it), where known.
    pub keyspace: Option<String>,
    pub key: Option<i64>,
    pub reason: String,
}

impl fmt::Display for Damage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at offset {}", self.file.display(), self.offset)?;
        if let Some(keyspace) = &self.keyspace {
            write!(f, ", keyspace {keyspace:?}")?;
        }
        if let Some(key) = self.key {
            write!(f, ", key {key}")?;
        }
        write!(f, ": {}", self.reason)
    }
}

/// Non-zero bytes at the very end of the log that are not a whole record (a write a crash
/// or a live writer left unfinished): not damage. A read-write open truncates them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TornTail {
    pub file: PathBuf,
    pub offset: u64,
    pub bytes: u64,
}

/// What [`AlexStorage::verify`] checked and found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VerifyReport {
    /// Segment files whose records were read (log and compacted).
    pub segments_checked: u64,
    /// Records whose checksum was verified.
    pub records_checked: u64,
    /// Bytes of those records.
    pub bytes_checked: u64,
    /// Of those, records above `applied_seq` (not visible yet), left out of 2 and 3.
    pub records_above_applied: u64,
    /// Index entries checked against the log.
    pub keys_checked: u64,
    pub keyspaces_checked: u64,
    /// The sequence number the checked view of the store covers.
    pub applied_seq: u64,
    /// Records the log inspection counted (complete batches only).
    pub log_records: u64,
    pub torn_tail: Option<TornTail>,
    /// What was checked how, and anything worth knowing that is not damage.
    pub notes: Vec<String>,
    /// The damage found, at most [`MAX_DAMAGE_LISTED`] entries.
    pub damage: Vec<Damage>,
    /// Damages found beyond those listed.
    pub damage_omitted: u64,
    pub duration: Duration,
}

impl VerifyReport {
    /// No damage found.
    pub fn is_clean(&self) -> bool {
        self.damage.is_empty() && self.damage_omitted == 0
    }

    /// Damages found in all, listed or not.
    pub fn damage_count(&self) -> u64 {
        self.damage.len() as u64 + self.damage_omitted
    }

    fn add(&mut self, damage: Damage) {
        if self.damage.len() >= MAX_DAMAGE_LISTED {
            self.damage_omitted += 1;
            return;
        }
        // The log inspection and the segment pass can find the same damaged record (such
        // damage names no key; checking only those keeps this bounded).
        let repeated = damage.key.is_none()
            && self.damage.iter().any(|listed| {
                listed.file == damage.file
                    && listed.offset == damage.offset
                    && listed.kind == damage.kind
            });
        if !repeated {
            self.damage.push(damage);
        }
    }
}

impl AlexStorage {
    /// Check every record of every segment and that the indexes agree with the log (see
    /// the module docs of `verify.rs` for exactly what). Changes nothing. Damage is in
    /// the report; `Err` only when verification itself cannot proceed (an I/O error, a
    /// file of a newer format).
    pub fn verify(&self) -> Result<VerifyReport> {
        let started = Instant::now();
        let mut verifier = Verifier {
            storage: self,
            report: VerifyReport {
                applied_seq: self.applied_seq,
                ..VerifyReport::default()
            },
            newest: BTreeMap::new(),
        };
        verifier.check_metadata();
        inspect_log(&self.dir, &mut verifier.report)?;
        let inspected = started.elapsed();
        verifier.scan_segments()?;
        let scanned = started.elapsed();
        verifier.check_indexes();
        let mut report = verifier.report;
        report.notes.push(format!(
            "time: log inspection {:.2} s, segment pass {:.2} s, index walk {:.2} s",
            inspected.as_secs_f64(),
            (scanned - inspected).as_secs_f64(),
            (started.elapsed() - scanned).as_secs_f64()
        ));
        report.duration = started.elapsed();
        Ok(report)
    }

    /// Open the store in `dir` read-only (no lock needed: a writer may be running) and
    /// verify it. A store that does not open is damage, not an error: the report names
    /// the location the open failed at, and what the log inspection finds.
    pub fn verify_dir(dir: impl AsRef<Path>) -> Result<VerifyReport> {
        let dir = dir.as_ref();
        let started = Instant::now();
        // A writer retiring a segment while this opens can make the open fail with
        // `SegmentGone` once; twice in a row is a hole in the log.
        let mut attempts = 0;
        let error = loop {
            attempts += 1;
            match AlexStorage::open_readonly(dir) {
                Ok(storage) => return storage.verify(),
                Err(Error::Wal(alexdb_wal::Error::SegmentGone(_))) if attempts < 2 => {}
                Err(error) => break error,
            }
        };
        let (file, offset, reason) = match error {
            Error::Corruption {
                file,
                offset,
                reason,
            } => (file, offset, reason),
            Error::ForeignFile { file } => (file, 0, "not an alexdb file".to_string()),
            Error::Wal(wal) => (dir.to_path_buf(), 0, wal.to_string()),
            // I/O errors, unsupported versions: nothing verification can say.
            other => return Err(other),
        };
        let mut report = VerifyReport::default();
        report.add(Damage {
            kind: DamageKind::Open,
            file,
            offset,
            keyspace: None,
            key: None,
            reason: format!("the store does not open: {reason}"),
        });
        report
            .notes
            .push("the store does not open, so its indexes were not checked".into());
        inspect_log(dir, &mut report)?;
        report.duration = started.elapsed();
        Ok(report)
    }
}

/// One record seen, for the log → index comparison.
#[derive(Clone, Copy, Debug)]
struct Seen {
    key: i64,
    /// Sequence number, with [`TOMBSTONE`] set for tombstones.
    seq_tag: u64,
    /// Packed location of the record.
    location: u64,
}

impl Seen {
    fn seq(self) -> u64 {
        self.seq_tag & !TOMBSTONE
    }

    fn is_tombstone(self) -> bool {
        self.seq_tag & TOMBSTONE != 0
    }
}

/// Why a record cannot be used: whose it is (keyspace, key), if that is known, and why.
type Unusable = (Option<(KeyspaceId, i64)>, String);

/// The records of one keyspace, folded to the newest per key now and then.
#[derive(Debug, Default)]
struct Newest {
    entries: Vec<Seen>,
    fold_at: usize,
}

impl Newest {
    fn push(&mut self, seen: Seen) {
        self.entries.push(seen);
        if self.entries.len() >= self.fold_at.max(FOLD_MIN) {
            self.fold();
            self.fold_at = self.fold_at.max(self.entries.len() * 2);
        }
    }

    /// Sort by key and keep only the newest record of each key.
    fn fold(&mut self) {
        self.entries
            .sort_unstable_by(|a, b| a.key.cmp(&b.key).then(b.seq().cmp(&a.seq())));
        self.entries.dedup_by_key(|seen| seen.key);
    }

    /// The newest record of every key, in key order.
    fn finish(mut self) -> Vec<Seen> {
        self.fold();
        self.entries
    }
}

struct Verifier<'s> {
    storage: &'s AlexStorage,
    report: VerifyReport,
    newest: BTreeMap<KeyspaceId, Newest>,
}

impl<'s> Verifier<'s> {
    /// Record a damage; `subject` is the (keyspace, key) concerned, where known.
    fn damage(
        &mut self,
        kind: DamageKind,
        file: &Path,
        offset: u64,
        subject: Option<(KeyspaceId, i64)>,
        reason: String,
    ) {
        let keyspace = subject.map(|(id, _)| self.keyspace_name(id));
        self.report.add(Damage {
            kind,
            file: file.to_path_buf(),
            offset,
            keyspace,
            key: subject.map(|(_, key)| key),
            reason,
        });
    }

    fn keyspace_name(&self, id: KeyspaceId) -> String {
        self.storage.keyspaces.get(id).map_or_else(
            || format!("#{}", id.0),
            |state| state.handle.name.to_string(),
        )
    }

    // ----- 4. metadata -----------------------------------------------------------------

    fn check_metadata(&mut self) {
        for outcome in [self.manifest_state(), self.snapshot_state()] {
            match outcome {
                Ok(note) => self.report.notes.push(note),
                Err((file, offset, reason)) => {
                    self.damage(DamageKind::Metadata, &file, offset, None, reason);
                }
            }
        }
    }

    /// A note on the MANIFEST as it is on disk now, or where it is damaged.
    fn manifest_state(&self) -> std::result::Result<String, (PathBuf, u64, String)> {
        let dir = &self.storage.dir;
        match Manifest::load(dir) {
            Ok(Some(manifest)) => Ok(format!(
                "MANIFEST parses: {} keyspace(s), {} compacted segment(s)",
                manifest.keyspaces.len(),
                manifest.standalone.len()
            )),
            Ok(None) => Err((dir.join(MANIFEST_FILE), 0, "the MANIFEST is missing".into())),
            Err(error) => {
                let offset = match &error {
                    Error::Corruption { offset, .. } => *offset,
                    _ => 0,
                };
                Err((dir.join(MANIFEST_FILE), offset, error.to_string()))
            }
        }
    }

    /// A note on the snapshot the store's MANIFEST names, or why it is damage.
    fn snapshot_state(&self) -> std::result::Result<String, (PathBuf, u64, String)> {
        let storage = self.storage;
        let Some(snapshot) = storage.manifest.snapshot else {
            return Ok("no snapshot: the indexes were rebuilt by a full scan at open".into());
        };
        let path = layout::snapshot_path(&storage.dir, snapshot.number);
        match &storage.open_report.source {
            IndexSource::Snapshot { number, .. } if *number == snapshot.number => Ok(format!(
                "snapshot {} (covering sequence {}) was read and its checksum verified at open; \
                 its contents are checked with the indexes loaded from it",
                snapshot.number, snapshot.covered_seq
            )),
            IndexSource::FullScan { reason, .. }
                if reason.starts_with(&format!("snapshot {} unusable", snapshot.number)) =>
            {
                // A writer's checkpoint can replace the snapshot between the MANIFEST read
                // and the snapshot read of a read-only open: not damage.
                let replaced = !path.exists()
                    && Manifest::load(&storage.dir)
                        .ok()
                        .flatten()
                        .and_then(|now| now.snapshot)
                        .is_some_and(|now| now.number != snapshot.number);
                if replaced {
                    return Ok(format!(
                        "snapshot {} was replaced by the writer while this store opened, which \
                         rebuilt the indexes by a full scan instead",
                        snapshot.number
                    ));
                }
                let reason =
                    format!("not used at open, which rebuilt the indexes by a full scan: {reason}");
                Err((path, 0, reason))
            }
            // Written after this store was opened: read it now.
            _ => match crate::snapshot::read(&path) {
                Ok(read) if read.covered_seq == snapshot.covered_seq => Ok(format!(
                    "snapshot {} (written since open) parses and its checksum is valid",
                    snapshot.number
                )),
                Ok(read) => {
                    let reason = format!(
                        "covers sequence {} but the MANIFEST says {}",
                        read.covered_seq, snapshot.covered_seq
                    );
                    Err((path, 0, reason))
                }
                Err(error) => Err((path, 0, error.to_string())),
            },
        }
    }

    // ----- 1. records ------------------------------------------------------------------

    /// Read every record of every segment of the store, collecting the newest per key.
    fn scan_segments(&mut self) -> Result<()> {
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

    // ----- 2 and 3. indexes ------------------------------------------------------------

    /// Walk each index beside the newest record of each key (both in key order).
    fn check_indexes(&mut self) {
        let storage = self.storage;
        let mut newest = std::mem::take(&mut self.newest);
        for state in storage.keyspaces.iter() {
            let id = state.handle.id;
            let winners = newest.remove(&id).map(Newest::finish).unwrap_or_default();
            self.report.keyspaces_checked += 1;
            self.report.keys_checked += state.index.len() as u64;
            let mut winners = winners.into_iter().peekable();
            for (key, &location) in state.index.iter() {
                while let Some(winner) = winners.next_if(|winner| winner.key < key) {
                    self.not_indexed(id, winner);
                }
                let winner = winners.next_if(|winner| winner.key == key);
                let agrees = winner
                    .is_some_and(|winner| !winner.is_tombstone() && winner.location == location);
                if !agrees {
                    self.explain_pointer(id, key, PackedLocation(location), winner);
                }
            }
            for winner in winners {
                self.not_indexed(id, winner);
            }
        }
    }

    /// The newest record of a key that is not in the index: damage if it is a put.
    fn not_indexed(&mut self, keyspace: KeyspaceId, winner: Seen) {
        if winner.is_tombstone() {
            return;
        }
        let location = PackedLocation(winner.location);
        let path = self.storage.segment_path_of(location.segment_id().0);
        let reason = format!(
            "the newest record of this key (sequence {}) is a put, but the index does not hold the key",
            winner.seq()
        );
        self.damage(
            DamageKind::IndexMissing,
            &path,
            location.offset(),
            Some((keyspace, winner.key)),
            reason,
        );
    }

    /// The index maps `key` to `location`, which is not where its newest record is (or
    /// that record is a tombstone): say what is there instead. Two records of a key with
    /// the same sequence number are copies of one another (compaction keeps numbers), so
    /// pointing at either is right.
    fn explain_pointer(
        &mut self,
        keyspace: KeyspaceId,
        key: i64,
        location: PackedLocation,
        winner: Option<Seen>,
    ) {
        let storage = self.storage;
        let (segment_id, offset) = (location.segment_id().0, location.offset());
        let Some(slot) = storage.segments.get(segment_id) else {
            let reason = format!(
                "the index points into segment {segment_id}, which is not part of the store"
            );
            self.damage(
                DamageKind::IndexPointer,
                &storage.dir,
                offset,
                Some((keyspace, key)),
                reason,
            );
            return;
        };
        let reason = match slot.segment.record_at_verified(offset) {
            Err(error) => format!("the index points here, but there is no valid record: {error}"),
            Ok(record) => match codec::decode_head(record.payload) {
                None => "the index points at a record too short to hold a key".to_string(),
                Some((found_keyspace, found_key, _)) if found_keyspace != keyspace => {
                    format!(
                        "the index points at a record of keyspace {} (key {found_key})",
                        self.keyspace_name(found_keyspace)
                    )
                }
                Some((_, found_key, _)) if found_key != key => {
                    format!("the index points at a record of key {found_key}")
                }
                Some(_) if record.tag != TAG_PUT => format!(
                    "the index points at a tombstone (sequence {})",
                    record.seq.0
                ),
                Some(_) => match winner {
                    Some(winner)
                        if winner.seq() > record.seq.0
                            || (winner.seq() == record.seq.0 && winner.is_tombstone()) =>
                    {
                        let newest = PackedLocation(winner.location);
                        format!(
                            "the index points at an older record (sequence {}); the newest is a {} \
                             (sequence {}) in {} at offset {}",
                            record.seq.0,
                            if winner.is_tombstone() {
                                "tombstone"
                            } else {
                                "put"
                            },
                            winner.seq(),
                            storage.segment_path_of(newest.segment_id().0).display(),
                            newest.offset()
                        )
                    }
                    // A copy of the newest record: right.
                    Some(winner) if winner.seq() == record.seq.0 => return,
                    _ if record.seq.0 > storage.applied_seq => format!(
                        "the index points at a record (sequence {}) above the applied sequence {}",
                        record.seq.0, storage.applied_seq
                    ),
                    _ => format!(
                        "the index points at a record (sequence {}) the scan of its segment \
                         did not reach (see the damage reported for this file)",
                        record.seq.0
                    ),
                },
            },
        };
        self.damage(
            DamageKind::IndexPointer,
            slot.segment.path(),
            offset,
            Some((keyspace, key)),
            reason,
        );
    }
}

/// Looks at the log a verification may take when a writer keeps changing it.
const INSPECT_ATTEMPTS: usize = 5;

/// Run the wal crate's recovery analysis over the log files of `dir` without changing
/// them. A writer working meanwhile can remove a segment between the listing and the
/// reading (retry) or make a record look damaged for a moment (damage counts only when
/// two looks in a row agree).
fn inspect_log(dir: &Path, report: &mut VerifyReport) -> Result<()> {
    let mut previous: Option<String> = None;
    let mut attempt = 0;
    let outcome = loop {
        attempt += 1;
        let outcome = alexdb_wal::inspect(dir);
        let error = match &outcome {
            Ok(_) => break outcome,
            Err(error) => error.to_string(),
        };
        let gone = matches!(&outcome, Err(alexdb_wal::Error::Io { source, .. })
            if source.kind() == std::io::ErrorKind::NotFound);
        let confirmed = !gone && previous.as_ref() == Some(&error);
        if confirmed || attempt >= INSPECT_ATTEMPTS {
            break outcome;
        }
        previous = Some(error);
    };
    if attempt > 1 {
        report.notes.push(format!(
            "the log changed while it was inspected; looked {attempt} times"
        ));
    }
    let (file, offset, reason) = match outcome {
        Ok(inspected) => {
            report.log_records = inspected.records;
            report.notes.push(format!(
                "log inspected by the wal's recovery rules: {} segment(s), {} record(s) in \
                 {} complete batch(es), last sequence {}",
                inspected.segments, inspected.records, inspected.batches, inspected.last_seq.0
            ));
            if let Some(at) = inspected.truncated_at {
                report.torn_tail = Some(TornTail {
                    file: log_path(dir, at.segment_id.0)?,
                    offset: at.offset,
                    bytes: inspected.bytes_truncated,
                });
            }
            return Ok(());
        }
        Err(alexdb_wal::Error::Corruption {
            path,
            offset,
            reason,
        }) => (path, offset, reason),
        Err(alexdb_wal::Error::NotASegment { path }) => {
            (path, 0, "not an alexdb segment (bad magic)".to_string())
        }
        Err(other) => return Err(other.into()),
    };
    report.add(Damage {
        kind: DamageKind::Record,
        file,
        offset,
        keyspace: None,
        key: None,
        reason: format!("{reason} (log inspection)"),
    });
    Ok(())
}

/// The path of log segment `id` in `dir`, as listed there.
fn log_path(dir: &Path, id: u64) -> Result<PathBuf> {
    Ok(layout::list(dir)?
        .into_iter()
        .find(|(_, kind)| *kind == FileKind::Log(id))
        .map_or_else(|| dir.to_path_buf(), |(path, _)| path))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Config;
    use crate::codec::DEFAULT_KEYSPACE;

    fn config() -> Config {
        let mut config = Config::benchmark().with_segment_capacity(32 << 10);
        config.checkpoint_every_bytes = 0;
        config.auto_compact = false;
        config
    }

    fn location_of(storage: &AlexStorage, key: i64) -> PackedLocation {
        let state = storage.keyspaces.default_keyspace();
        PackedLocation(*state.index.get(key).expect("key is indexed"))
    }

    fn only_damage_of(report: &VerifyReport, key: i64) -> &Damage {
        let found: Vec<&Damage> = report
            .damage
            .iter()
            .filter(|d| d.key == Some(key))
            .collect();
        assert_eq!(found.len(), 1, "damage of key {key}: {:#?}", report.damage);
        found[0]
    }

    #[test]
    fn index_inconsistencies_are_reported_with_keyspace_key_and_location() {
        let dir = tempfile::tempdir().unwrap();
        let mut storage = AlexStorage::open_with(dir.path(), config()).unwrap();
        for key in 0..400 {
            storage
                .insert(key, format!("first-{key}").as_bytes())
                .unwrap();
        }
        let old_20 = location_of(&storage, 20);
        let old_199 = location_of(&storage, 199);
        for key in 0..100 {
            storage.insert(key, b"second").unwrap();
        }
        storage.delete(199).unwrap();
        let report = storage.verify().unwrap();
        assert!(report.is_clean(), "{:#?}", report.damage);
        assert_eq!(report.keys_checked, 399);

        let newest_10 = location_of(&storage, 10);
        let newest_31 = location_of(&storage, 31);
        let index = &mut storage.keyspaces.get_mut(DEFAULT_KEYSPACE).unwrap().index;
        index.remove(10);
        index.insert(20, old_20.0);
        index.insert(199, old_199.0);
        index.insert(30, newest_31.0);
        let nowhere = PackedLocation::pack(alexdb_wal::Location {
            segment_id: alexdb_wal::SegmentId(999),
            offset: 64,
        })
        .unwrap();
        index.insert(40, nowhere.0);

        let report = storage.verify().unwrap();
        assert_eq!(report.damage_count(), 5, "{:#?}", report.damage);
        let path_of = |location: PackedLocation| storage.segment_path_of(location.segment_id().0);

        let missing = only_damage_of(&report, 10);
        assert_eq!(missing.kind, DamageKind::IndexMissing);
        assert_eq!(
            (missing.file.clone(), missing.offset),
            (path_of(newest_10), newest_10.offset())
        );
        assert_eq!(missing.keyspace.as_deref(), Some("default"));

        let stale = only_damage_of(&report, 20);
        assert_eq!(stale.kind, DamageKind::IndexPointer);
        assert_eq!(
            (stale.file.clone(), stale.offset),
            (path_of(old_20), old_20.offset())
        );
        assert!(stale.reason.contains("older record"), "{}", stale.reason);

        let deleted = only_damage_of(&report, 199);
        assert!(
            deleted.reason.contains("the newest is a tombstone"),
            "{}",
            deleted.reason
        );

        let wrong_key = only_damage_of(&report, 30);
        assert!(
            wrong_key.reason.contains("record of key 31"),
            "{}",
            wrong_key.reason
        );
        assert_eq!(wrong_key.offset, newest_31.offset());

        let outside = only_damage_of(&report, 40);
        assert!(outside.reason.contains("segment 999"), "{}", outside.reason);
        let shown = outside.to_string();
        assert!(
            shown.contains("offset 64") && shown.contains("key 40"),
            "{shown}"
        );
    }

    #[test]
    fn damage_beyond_the_listing_limit_is_counted() {
        let dir = tempfile::tempdir().unwrap();
        let mut storage = AlexStorage::open_with(dir.path(), config()).unwrap();
        let keys = 2 * MAX_DAMAGE_LISTED as i64;
        for key in 0..keys {
            storage.insert(key, b"value").unwrap();
        }
        let nowhere = PackedLocation::pack(alexdb_wal::Location {
            segment_id: alexdb_wal::SegmentId(999),
            offset: 64,
        })
        .unwrap();
        let state = storage.keyspaces.get_mut(DEFAULT_KEYSPACE).unwrap();
        for key in 0..keys {
            state.index.insert(key, nowhere.0);
        }
        let report = storage.verify().unwrap();
        assert_eq!(report.damage.len(), MAX_DAMAGE_LISTED);
        assert_eq!(report.damage_count(), keys as u64);
    }

    #[test]
    fn folding_keeps_the_newest_record_of_every_key() {
        let mut newest = Newest::default();
        let rounds = 5u64;
        let keys = (FOLD_MIN / 2) as i64;
        for round in 1..=rounds {
            for key in 0..keys {
                let tombstone = if (key + round as i64) % 7 == 0 {
                    TOMBSTONE
                } else {
                    0
                };
                newest.push(Seen {
                    key,
                    seq_tag: (round * 1_000_000 + key as u64) | tombstone,
                    location: round,
                });
            }
            assert!(newest.entries.len() <= 2 * keys as usize + FOLD_MIN);
        }
        let winners = newest.finish();
        assert_eq!(winners.len(), keys as usize);
        for (key, winner) in (0..keys).zip(&winners) {
            assert_eq!(winner.key, key);
            assert_eq!(winner.location, rounds);
            assert_eq!(winner.is_tombstone(), (key + rounds as i64) % 7 == 0);
        }
    }
}
