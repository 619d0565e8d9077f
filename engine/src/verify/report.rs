//! What a verification returns: the [`VerifyReport`], and each [`Damage`] it lists (at
//! most [`MAX_DAMAGE_LISTED`]; further ones are only counted).

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// Most damages a report lists; further ones are only counted (`damage_omitted`).
pub const MAX_DAMAGE_LISTED: usize = 1000;

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
    /// The store does not open (see [`AlexStorage::verify_dir`](crate::AlexStorage::verify_dir)).
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

/// What [`AlexStorage::verify`](crate::AlexStorage::verify) checked and found.
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

    pub(super) fn add(&mut self, damage: Damage) {
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
