//! The write-ahead log of alexdb — which is also its data.
//!
//! CONTRACT SKELETON: every public item below is the API the engine is written against.
//! The implementation may split this into modules (`segment`, `record`, `writer`,
//! `group`, `recovery`, `follower`, `fault`), add items and private helpers, but must
//! keep these names, signatures and documented behaviours.
//!
//! Owns: segment files (fixed capacity, preallocated, memory-mapped), record framing
//! (length, frame, tag, sequence number, CRC32), batches (atomic across segments),
//! group commit, sync modes, torn-tail recovery, reading records back by location.
//! Knows nothing of keys, values or indexes: a record's payload is opaque bytes plus a
//! one-byte caller-defined `tag`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

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

/// A memory-mapped segment file. The mapping has the file's fixed capacity and is never
/// remapped, so slices returned by it stay valid while the `Segment` (or an `Arc` of it)
/// lives — also after the file is retired (unlinked).
pub struct Segment {
    _private: (),
}

impl std::fmt::Debug for Segment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Segment").finish_non_exhaustive()
    }
}

impl Segment {
    /// Open an existing segment file read-only (validates magic, version, header CRC).
    /// The readable region is found by scanning valid records from the start.
    pub fn open(path: &Path) -> Result<Segment> {
        let _ = path;
        todo!()
    }
    pub fn id(&self) -> SegmentId {
        todo!()
    }
    pub fn kind(&self) -> SegmentKind {
        todo!()
    }
    pub fn path(&self) -> &Path {
        todo!()
    }
    /// Sequence number of the first record written into it (0 for an empty segment).
    pub fn first_seq(&self) -> Seq {
        todo!()
    }
    /// Bytes of header + records that are published (readable); grows for the active segment.
    pub fn written_len(&self) -> u64 {
        todo!()
    }
    pub fn capacity(&self) -> u64 {
        todo!()
    }
    /// The record starting at `offset`, bounds-checked against the published region but
    /// without CRC verification (the hot read path). Garbage offsets give `BadLocation`,
    /// never UB or a panic.
    pub fn record_at(&self, offset: u64) -> Result<RecordRef<'_>> {
        let _ = offset;
        todo!()
    }
    /// Like `record_at`, also verifying the CRC.
    pub fn record_at_verified(&self, offset: u64) -> Result<RecordRef<'_>> {
        let _ = offset;
        todo!()
    }
    /// Visit verified records from `offset` to the end of the published region, in file
    /// order. Stops (Ok) at a torn/zero tail; mid-file damage gives `Corruption`.
    pub fn scan(
        &self,
        offset: u64,
        visit: &mut dyn FnMut(RecordRef<'_>) -> Result<()>,
    ) -> Result<u64> {
        let _ = (offset, visit);
        todo!()
    }
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

/// The log: a directory of log segments (`{id:020}.log`), one active.
/// `Send + Sync`; all methods take `&self`.
pub struct Wal {
    _private: (),
}

impl std::fmt::Debug for Wal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Wal").finish_non_exhaustive()
    }
}

impl Wal {
    /// Open (creating if needed) the log in `dir`. Recovers the tail: a torn last record
    /// or an incomplete last batch (even one spanning segments) is truncated and reported.
    /// Files that are not `*.log` are ignored, except that the highest `{id:020}.*`
    /// segment id found in `dir` is respected by the id allocator.
    pub fn open(dir: &Path, options: WalOptions) -> Result<(Wal, RecoveryReport)> {
        let _ = (dir, options);
        todo!()
    }

    /// Append `entries` as one atomic batch and return per the sync mode (Full: durable).
    /// Group-committed with concurrent callers. An empty batch is a no-op receipt.
    pub fn commit(&self, entries: &[Entry<'_>]) -> Result<CommitReceipt> {
        let _ = entries;
        todo!()
    }

    /// Like `commit`, but the group's leader calls `publisher.publish` for the whole
    /// group (see [`Publish`]) before anyone returns.
    pub fn commit_with(
        &self,
        entries: &[Entry<'_>],
        publisher: &dyn Publish,
    ) -> Result<CommitReceipt> {
        let _ = (entries, publisher);
        todo!()
    }

    /// Sync everything appended so far, whatever the mode.
    pub fn sync(&self) -> Result<()> {
        todo!()
    }

    /// Seal the active segment and start a new one (no-op if the active one is empty).
    pub fn roll(&self) -> Result<()> {
        todo!()
    }

    /// The mapping of a live log segment.
    pub fn segment(&self, id: SegmentId) -> Option<Arc<Segment>> {
        let _ = id;
        todo!()
    }

    /// Live log segments, oldest first; the last is the active one.
    pub fn segments(&self) -> Vec<Arc<Segment>> {
        todo!()
    }

    pub fn active_segment_id(&self) -> SegmentId {
        todo!()
    }

    /// Highest sequence number appended (published to readers of the mapping).
    pub fn last_seq(&self) -> Seq {
        todo!()
    }

    /// Highest sequence number known durable.
    pub fn durable_seq(&self) -> Seq {
        todo!()
    }

    /// Visit every record with `seq >= from`, in log order, across segments.
    pub fn scan_from(
        &self,
        from: Seq,
        visit: &mut dyn FnMut(RecordRef<'_>) -> Result<()>,
    ) -> Result<()> {
        let _ = (from, visit);
        todo!()
    }

    /// Remove sealed log segments (never the active one) and fsync the directory.
    pub fn retire(&self, ids: &[SegmentId]) -> Result<()> {
        let _ = ids;
        todo!()
    }

    /// Remove every sealed log segment all of whose records have `seq < below`.
    pub fn retire_below(&self, below: Seq) -> Result<Vec<SegmentId>> {
        let _ = below;
        todo!()
    }

    /// Reserve a fresh segment id (for [`SegmentWriter`] outputs).
    pub fn allocate_segment_id(&self) -> SegmentId {
        todo!()
    }

    pub fn options(&self) -> &WalOptions {
        todo!()
    }

    pub fn dir(&self) -> &Path {
        todo!()
    }

    pub fn stats(&self) -> WalStats {
        todo!()
    }

    /// If poisoned, the cause.
    pub fn poisoned(&self) -> Option<String> {
        todo!()
    }
}

/// Writes a standalone segment (compaction output) at `path` (written as a temp file,
/// synced and renamed by `finish`). Records keep caller-given sequence numbers.
pub struct SegmentWriter {
    _private: (),
}

impl std::fmt::Debug for SegmentWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SegmentWriter").finish_non_exhaustive()
    }
}

impl SegmentWriter {
    pub fn create(path: &Path, id: SegmentId, capacity: u64) -> Result<SegmentWriter> {
        let _ = (path, id, capacity);
        todo!()
    }
    /// Bytes a record with this payload length takes (header + payload + padding).
    pub fn stored_len(payload_len: u64) -> u64 {
        let _ = payload_len;
        todo!()
    }
    /// Room left for records, in bytes.
    pub fn remaining(&self) -> u64 {
        todo!()
    }
    /// Append one record (frame `Full`); returns its offset.
    pub fn append(&mut self, seq: Seq, tag: u8, head: &[u8], body: &[u8]) -> Result<u64> {
        let _ = (seq, tag, head, body);
        todo!()
    }
    /// Sync, rename into place, fsync the directory, and map it read-only.
    pub fn finish(self) -> Result<Arc<Segment>> {
        todo!()
    }
}

/// Follows a log written by another process (read-only; for secondary instances).
pub struct LogFollower {
    _private: (),
}

impl std::fmt::Debug for LogFollower {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogFollower").finish_non_exhaustive()
    }
}

impl LogFollower {
    /// Start following the log in `dir` at the first record with `seq >= from`.
    pub fn open(dir: &Path, from: Seq) -> Result<LogFollower> {
        let _ = (dir, from);
        todo!()
    }
    /// Visit records of every *complete* batch appended since the last poll, in log
    /// order; stops before an incomplete batch. Follows segment rolls. Returns the last
    /// sequence number visited. `SegmentGone` if the writer retired a segment this
    /// follower still needed (the caller must reload from a snapshot).
    pub fn poll(&mut self, visit: &mut dyn FnMut(RecordRef<'_>) -> Result<()>) -> Result<Seq> {
        let _ = visit;
        todo!()
    }
    /// The mapping of a segment this follower has opened.
    pub fn segment(&self, id: SegmentId) -> Option<Arc<Segment>> {
        let _ = id;
        todo!()
    }
}

/// Scan a directory's log segments without modifying anything (for read-only opens and
/// `alexdb check`): the same rules as recovery, but the tail is reported, not truncated.
pub fn inspect(dir: &Path) -> Result<RecoveryReport> {
    let _ = dir;
    todo!()
}
