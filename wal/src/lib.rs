//! The write-ahead log of alexdb — which is also its data.
//!
//! Owns: segment files (fixed capacity, preallocated, memory-mapped), record framing
//! (length, frame, tag, sequence number, CRC32), batches (atomic across segments),
//! group commit, sync modes, torn-tail recovery, reading records back by location.
//! Knows nothing of keys, values or indexes: a record's payload is opaque bytes plus a
//! one-byte caller-defined `tag`.
//!
//! Design and recovery rules: `docs/wal.md`; byte layout: `docs/FORMAT.md` § Log segments.
//! Invariants kept here: a commit acknowledged under `SyncMode::Full` is synced first and
//! survives `kill -9` (every mode survives a process kill: appends go through a shared
//! mapping into the page cache); what recovery keeps is a prefix of the log (a torn tail
//! or an incomplete last batch is truncated, damage before valid records is an error);
//! no set of concurrent committers can hang (a follower that wakes uncovered leads); a
//! failed sync poisons the log for good. All `unsafe` is in `map.rs`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

mod append;
mod follower;
mod format;
mod fsio;
mod group;
mod map;
mod prefault;
mod recovery;
mod segment;
mod wal;
mod writer;

pub use follower::LogFollower;
pub use segment::Segment;
pub use wal::Wal;
pub use writer::SegmentWriter;

/// Identifies a segment file. Allocated in increasing order, never reused.
/// Log segments and standalone segments (compaction outputs) share one id space.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SegmentId(pub u64);

/// Sequence number of a record. Strictly increasing along the log, one per record
/// (a batch of n entries takes n consecutive numbers). The first record ever is 1;
/// `Seq(0)` means "nothing".
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Seq(pub u64);

/// Where a record starts: the byte offset of its header inside a segment file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Location {
    pub segment_id: SegmentId,
    pub offset: u64,
}

/// What kind of segment a file is (stored in its header).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SegmentKind {
    /// Written by [`Wal`]: records in strictly increasing sequence order.
    Log,
    /// Written by [`SegmentWriter`] (compaction output): records keep the sequence
    /// numbers they had, in whatever order the writer chose; each record is its own unit.
    Standalone,
}

/// Position of a record inside its batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Frame {
    /// A batch of one record.
    Full,
    First,
    Middle,
    Last,
}

/// When the log calls fdatasync/msync. Documented per variant in `docs/FORMAT.md`
/// and the crate docs: what a process kill and a power loss can lose.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum SyncMode {
    /// Every commit is durable before it returns (group-committed).
    #[default]
    Full,
    /// A background syncer syncs every `normal_sync_interval` or every
    /// `normal_sync_commits` commits, whichever comes first.
    Normal,
    /// Synced only by [`Wal::sync`] (the engine calls it at checkpoints).
    Checkpoint,
    /// Never synced by commits; [`Wal::sync`] still works when called explicitly.
    Off,
}

/// Whether the log's segments are mapped with transparent huge pages (`madvise
/// MADV_HUGEPAGE` on the writer's mapping, Linux; elsewhere the setting does nothing).
///
/// With it, the page cache builds a segment out of 2 MiB folios as the prefault thread
/// (or the writer) first touches it, and the mapping maps them whole: a read of a
/// record then needs one TLB entry per 2 MiB instead of per 4 KiB, which saved a random
/// `get` of a 1M-record store 10–15% of its time on the project's machine (its page
/// walks are dear: a virtual machine's, in two dimensions). The cost is in syncs: a
/// large folio is written back whole, so a sync of a few hundred bytes appended into a
/// 2 MiB folio writes 2 MiB — under `SyncMode::Full` the commit rate of 8 threads fell
/// by a quarter to two thirds when this was tried for every mode (docs/PERFORMANCE.md,
/// sessions 8 and 17). Hence `Auto`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum HugePages {
    /// On where nothing syncs small ranges of the log — `SyncMode::Checkpoint` and
    /// `SyncMode::Off` (their syncs cover everything appended since the last, mostly
    /// whole folios) — and off under `Full` and `Normal`.
    #[default]
    Auto,
    /// Always on, whatever the sync mode.
    On,
    /// Always off: 4 KiB pages, and readahead off ahead of the writer (see
    /// `docs/wal.md`, "Readahead off where the log writes").
    Off,
}

impl HugePages {
    /// Whether a log in `sync_mode` maps its segments with huge pages.
    pub fn enabled(self, sync_mode: SyncMode) -> bool {
        match self {
            HugePages::Auto => matches!(sync_mode, SyncMode::Checkpoint | SyncMode::Off),
            HugePages::On => true,
            HugePages::Off => false,
        }
    }
}

/// What recovery does when it finds damage that is not a torn tail.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum RecoveryMode {
    /// Torn tail: truncated and reported. Damage followed by valid records: `Error::Corruption`.
    #[default]
    Strict,
    /// Skip damaged records, keep every valid record after them, and report what was skipped.
    Salvage,
}

/// Points at which the fault-injection hook is consulted before the real operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultPoint {
    CreateSegment,
    Preallocate,
    WriteHeader,
    /// Before copying a batch's bytes into the active segment.
    Append,
    /// Before each fdatasync/msync of a segment.
    Sync,
    /// Before a directory fsync.
    SyncDir,
    RemoveSegment,
}

/// A test seam: called before each I/O step; an `Err` makes that step fail as if the
/// OS had failed it. `None` in production.
pub type FaultHook = Arc<dyn Fn(FaultPoint) -> std::io::Result<()> + Send + Sync>;

/// Options for [`Wal::open`].
#[derive(Clone)]
pub struct WalOptions {
    /// Capacity of each segment file in bytes, header included. Default 64 MiB.
    pub segment_capacity: u64,
    /// Largest payload of a single record. Default 16 MiB; must leave room for the
    /// segment header and one record header inside `segment_capacity`.
    pub max_record_payload: u64,
    pub sync_mode: SyncMode,
    /// `SyncMode::Normal`: longest time between syncs. Default 100 ms.
    pub normal_sync_interval: Duration,
    /// `SyncMode::Normal`: most commits between syncs. Default 1000.
    pub normal_sync_commits: u64,
    pub recovery_mode: RecoveryMode,
    /// Bytes of the active segment kept faulted in ahead of the append position by a
    /// thread of the log's own (`alexdb-wal-prefault`), so appends do not take the page
    /// faults of fresh file pages. 0 turns it off. Default 4 MiB.
    pub prefault_ahead: u64,
    /// When the log moves on to a new segment, ask the kernel to start writing the
    /// sealed segment's unsynced bytes back to disk (`sync_file_range`, asynchronous —
    /// like RocksDB's `wal_bytes_per_sync`, a segment at a time). Durability is unchanged:
    /// only syncs make bytes durable; this lets the next one (a checkpoint's, under
    /// `Checkpoint` or `Off`) find them written instead of writing them, and bounds the
    /// dirty pages of an unsynced log to about one segment. Default on.
    pub writeback_sealed: bool,
    /// Huge pages for the writer's segment mappings ([`HugePages`]). Default `Auto`.
    pub huge_pages: HugePages,
    pub fault_hook: Option<FaultHook>,
}

impl Default for WalOptions {
    fn default() -> Self {
        WalOptions {
            segment_capacity: 64 << 20,
            max_record_payload: 16 << 20,
            sync_mode: SyncMode::Full,
            normal_sync_interval: Duration::from_millis(100),
            normal_sync_commits: 1000,
            recovery_mode: RecoveryMode::Strict,
            prefault_ahead: 4 << 20,
            writeback_sealed: true,
            huge_pages: HugePages::Auto,
            fault_hook: None,
        }
    }
}

impl std::fmt::Debug for WalOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WalOptions")
            .field("segment_capacity", &self.segment_capacity)
            .field("max_record_payload", &self.max_record_payload)
            .field("sync_mode", &self.sync_mode)
            .field("normal_sync_interval", &self.normal_sync_interval)
            .field("normal_sync_commits", &self.normal_sync_commits)
            .field("recovery_mode", &self.recovery_mode)
            .field("prefault_ahead", &self.prefault_ahead)
            .field("writeback_sealed", &self.writeback_sealed)
            .field("huge_pages", &self.huge_pages)
            .field("fault_hook", &self.fault_hook.is_some())
            .finish()
    }
}

/// Errors of the log. Every variant names the file and, where there is one, the offset.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("I/O error on {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("corruption in {path} at offset {offset}: {reason}")]
    Corruption {
        path: PathBuf,
        offset: u64,
        reason: String,
    },
    #[error("{path} is not an alexdb segment (bad magic)")]
    NotASegment { path: PathBuf },
    #[error("{path} has segment format version {found}; this build reads version {supported}")]
    UnsupportedVersion {
        path: PathBuf,
        found: u32,
        supported: u32,
    },
    #[error("record payload of {len} bytes exceeds the maximum of {max} bytes")]
    ValueTooLarge { len: u64, max: u64 },
    #[error("the log is poisoned by an earlier failed sync or write ({cause}); reopen to recover")]
    Poisoned { cause: String },
    #[error("no record at {location:?}: {reason}")]
    BadLocation { location: Location, reason: String },
    #[error("invalid option: {0}")]
    InvalidOptions(String),
    #[error("segment {0:?} is not part of the log (retired or never existed)")]
    SegmentGone(SegmentId),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// One entry to append: payload = `head` followed by `body` (two parts so callers need
/// not copy a value into a buffer just to prefix it). `tag` is opaque to the log.
#[derive(Clone, Copy, Debug)]
pub struct Entry<'a> {
    pub tag: u8,
    pub head: &'a [u8],
    pub body: &'a [u8],
}

/// What a committed batch got: its first sequence number and, in entry order, where
/// each entry's record starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommitReceipt {
    pub first_seq: Seq,
    pub locations: Vec<Location>,
}

/// One batch of a committed group, as handed to a [`Publish`] implementation.
#[derive(Clone, Copy, Debug)]
pub struct PublishedBatch<'a> {
    pub first_seq: Seq,
    pub locations: &'a [Location],
}

/// Makes committed batches visible (the engine applies them to its index).
pub trait Publish: Sync {
    /// Called by the group leader once per group, with every batch of the group in log
    /// order, after the group is durable as the sync mode promises and before any
    /// member's `commit_with` returns. Groups are published in log order, never
    /// concurrently. Records can be read with [`Wal::segment`] / [`Segment::record_at`].
    fn publish(&self, group: &[PublishedBatch<'_>]);
}

/// A record read back from a segment. Borrowed from the segment's mapping: no copy.
#[derive(Clone, Copy, Debug)]
pub struct RecordRef<'a> {
    pub location: Location,
    pub seq: Seq,
    pub tag: u8,
    pub frame: Frame,
    pub payload: &'a [u8],
    /// Header + payload (+ padding): the offset of the next record is `offset + stored_len`.
    pub stored_len: u64,
}

/// What [`Wal::open`] found and repaired.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    pub segments: u64,
    pub records: u64,
    pub batches: u64,
    pub last_seq: Seq,
    pub bytes_truncated: u64,
    /// Where the truncated tail started, if anything was truncated.
    pub truncated_at: Option<Location>,
    /// `RecoveryMode::Salvage` only: damaged ranges skipped.
    pub skipped: Vec<(Location, u64)>,
}

/// Counters of the log since open.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct WalStats {
    pub bytes_appended: u64,
    pub records: u64,
    pub batches: u64,
    pub syncs: u64,
    pub groups: u64,
    pub mean_group_size: f64,
    pub max_group_size: u64,
    pub sync_latency_mean_us: f64,
    pub sync_latency_max_us: u64,
    pub segments: u64,
}

/// Scan a directory's log segments without modifying anything (for read-only opens and
/// `alexdb check`): the same rules as recovery, but the tail is reported, not truncated.
pub fn inspect(dir: &Path) -> Result<RecoveryReport> {
    let faults = fsio::Faults::default();
    Ok(recovery::recover(dir, RecoveryMode::Strict, false, &faults)?.report)
}
#[cfg(test)]
mod perf;
#[cfg(test)]
mod tests;
