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
//!
//! Layout: `report` holds what a verification returns; `newest` keeps the newest
//! record of each key; `records` is the segment pass (1), `indexes` the index walk
//! (2, 3), `metadata` the MANIFEST and snapshot checks (4), `inspect` the wal crate's
//! log inspection. This file holds the entry points and the state they share.

mod indexes;
mod inspect;
mod metadata;
mod newest;
mod records;
mod report;
#[cfg(test)]
mod tests;

pub use report::{Damage, DamageKind, MAX_DAMAGE_LISTED, TornTail, VerifyReport};

use crate::codec::KeyspaceId;
use crate::storage::AlexStorage;
use crate::{Error, Result};
use inspect::inspect_log;
use newest::Newest;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

impl AlexStorage {
    /// Check every record of every segment and that the indexes agree with the log (see
    /// the module docs of `verify/mod.rs` for exactly what). Changes nothing. Damage is in
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
}
