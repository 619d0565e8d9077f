//! [`Wal`]: the log directory, its live segments, commits, retirement, the Normal-mode
//! background syncer and poisoning.
//!
//! Locks (see `group.rs` for their order): `append` guards appending and the active
//! segment; `leader_active` elects the sync leader (`sync_lock` only guards sync
//! statistics); `segments` is the live set for lookups; `publish_queue` /
//! `publish_lock` order publication. `last_seq`, `durable_seq` and `published_upto` are
//! atomics so readers never take a lock.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;

use parking_lot::{Condvar, Mutex, RwLock};

use crate::append::{AppendState, SegmentFactory};
use crate::format::{MAX_PAYLOAD_FORMAT, SEGMENT_HEADER_LEN, stored_len};
use crate::fsio::{Faults, io_error, sync_dir};
use crate::group::{PendingBatch, PublishQueue, SyncState};
use crate::prefault::Prefaulter;
use crate::recovery::recover;
use crate::segment::Segment;
use crate::{
    CommitReceipt, Entry, Error, FaultPoint, Publish, RecordRef, RecoveryReport, Result, SegmentId,
    Seq, SyncMode, WalOptions, WalStats,
};

/// State shared by the `Wal` handle and its background syncer.
pub(crate) struct Shared {
    pub dir: PathBuf,
    pub options: WalOptions,
    pub faults: Faults,
    /// The append lock.
    pub append: Mutex<AppendState>,
    /// A sync leader is active; followers park on its address (see `group.rs`).
    pub leader_active: AtomicBool,
    /// Bumped by every sync leader as it ends: the word followers sleep on (a futex on
    /// Linux), so that one system call wakes them all.
    pub leader_generation: std::sync::atomic::AtomicU32,
    /// Sync statistics (see `group.rs`).
    pub sync_lock: Mutex<SyncState>,
    /// Seq of the last record of the last complete batch appended (readable).
    pub last_seq: AtomicU64,
    /// Highest seq known durable. Never above `last_seq`.
    pub durable_seq: AtomicU64,
    pub poisoned: AtomicBool,
    pub poison_cause: Mutex<Option<String>>,
    /// Live log segments.
    pub segments: RwLock<BTreeMap<SegmentId, Arc<Segment>>>,
    /// Next segment id to hand out (log segments and standalone segments share it).
    pub next_id: AtomicU64,
    pub publish_queue: Mutex<PublishQueue>,
    /// Batches appended since the last sync capture (written under the append lock,
    /// read by a gathering leader).
    pub uncaptured_batches: AtomicU64,
    /// Batches in the last captured group.
    pub last_group_batches: AtomicU64,
    /// `Full` committers between their append and their return (waiting for a sync; see
    /// `group::Committing`).
    pub committers: AtomicU64,
    /// The most `committers` seen since the last sync capture...
    pub peak_committers: AtomicU64,
    /// ...and over the cycle before that capture: how many batches the next gathering
    /// leader can expect (see `Shared::gather`).
    pub last_peak_committers: AtomicU64,
    /// How long the last sync took, in nanoseconds (bounds a leader's gathering).
    pub last_sync_ns: AtomicU64,
    /// Serializes publishers.
    pub publish_lock: Mutex<()>,
    /// Every queued batch with `last_seq <= published_upto` has been published.
    pub published_upto: AtomicU64,
    /// Normal mode: commits since the last sync capture.
    pub commits_since_sync: AtomicU64,
    pub syncer_stop: Mutex<bool>,
    pub syncer_wake: Condvar,
}

impl Shared {
    pub(crate) fn check_poison(&self) -> Result<()> {
        if !self.poisoned.load(Ordering::Acquire) {
            return Ok(());
        }
        let cause = self.poison_cause.lock().clone().unwrap_or_default();
        Err(Error::Poisoned { cause })
    }

    /// Make the log refuse every later commit and sync. The first cause wins.
    pub(crate) fn poison(&self, cause: String) {
        let mut slot = self.poison_cause.lock();
        if slot.is_none() {
            *slot = Some(cause);
        }
        self.poisoned.store(true, Ordering::Release);
    }

    fn factory(&self) -> SegmentFactory<'_> {
        SegmentFactory {
            dir: &self.dir,
            capacity: self.options.segment_capacity,
            faults: &self.faults,
            next_id: &self.next_id,
        }
    }

    /// Append under the append lock; for `commit_with`, also queue the batch for
    /// publication (in log order, because still under the append lock).
    fn append(&self, entries: &[Entry<'_>], queue_for_publish: bool) -> Result<CommitReceipt> {
        let max = self.options.max_record_payload;
        for entry in entries {
            let len = (entry.head.len() + entry.body.len()) as u64;
            if len > max {
                return Err(Error::ValueTooLarge { len, max });
            }
        }
        let mut state = self.append.lock();
        self.check_poison()?;
        let factory = self.factory();
        let mut on_new_segment = |segment: &Arc<Segment>| {
            self.segments
                .write()
                .insert(segment.id(), Arc::clone(segment));
        };
        let receipt = match state.append_batch(entries, &factory, &mut on_new_segment) {
            Ok(receipt) => receipt,
            Err(error) => {
                self.poison(format!("append failed: {error}"));
                return Err(error);
            }
        };
        let last_seq = state.last_seq;
        self.last_seq.store(last_seq, Ordering::Release);
        self.uncaptured_batches.fetch_add(1, Ordering::Relaxed);
        if queue_for_publish {
            // The publisher gets its own copy: the committer keeps the receipt, so it
            // needs nothing back from whoever publishes its batch.
            self.publish_queue.lock().push_back(PendingBatch {
                first_seq: receipt.first_seq.0,
                last_seq,
                locations: receipt.locations.clone(),
            });
        }
        Ok(receipt)
    }

    /// After an append: make it as durable as the sync mode promises.
    fn after_append(&self, last_seq: u64, publisher: Option<&dyn Publish>) -> Result<()> {
        match self.options.sync_mode {
            SyncMode::Full => {
                let _committing = self.enter_commit();
                self.sync_to(last_seq, publisher)
            }
            SyncMode::Normal => {
                let commits = self.commits_since_sync.fetch_add(1, Ordering::Relaxed) + 1;
                if commits >= self.options.normal_sync_commits {
                    let _stop = self.syncer_stop.lock();
                    self.syncer_wake.notify_one();
                }
                Ok(())
            }
            SyncMode::Checkpoint | SyncMode::Off => Ok(()),
        }
    }
}

/// The log: a directory of log segments (`{id:020}.log`), one active.
/// `Send + Sync`; all methods take `&self`.
pub struct Wal {
    shared: Arc<Shared>,
    syncer: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Wal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Wal")
            .field("dir", &self.shared.dir)
            .field("last_seq", &self.last_seq())
            .field("durable_seq", &self.durable_seq())
            .finish_non_exhaustive()
    }
}

fn validate(options: &WalOptions) -> Result<()> {
    let invalid = |reason: String| Err(Error::InvalidOptions(reason));
    if !options.segment_capacity.is_multiple_of(8) {
        return invalid(format!(
            "segment_capacity {} is not a multiple of 8",
            options.segment_capacity
        ));
    }
    if options.segment_capacity > isize::MAX as u64 {
        return invalid(format!(
            "segment_capacity {} is too large",
            options.segment_capacity
        ));
    }
    if options.max_record_payload > MAX_PAYLOAD_FORMAT {
        return invalid(format!(
            "max_record_payload {} exceeds the format's limit {MAX_PAYLOAD_FORMAT}",
            options.max_record_payload
        ));
    }
    let needed = SEGMENT_HEADER_LEN + stored_len(options.max_record_payload);
    if needed > options.segment_capacity {
        return invalid(format!(
            "segment_capacity {} cannot hold a header and a record of max_record_payload {} ({needed} bytes needed)",
            options.segment_capacity, options.max_record_payload
        ));
    }
    if options.sync_mode == SyncMode::Normal {
        if options.normal_sync_commits == 0 {
            return invalid("normal_sync_commits must be at least 1".into());
        }
        if options.normal_sync_interval.is_zero() {
            return invalid("normal_sync_interval must be positive".into());
        }
    }
    Ok(())
}

impl Wal {
    /// Open (creating if needed) the log in `dir`. Recovers the tail: a torn last record
    /// or an incomplete last batch (even one spanning segments) is truncated and reported.
    /// Files that are not `*.log` are ignored, except that the highest `{id:020}.*`
    /// segment id found in `dir` is respected by the id allocator.
    pub fn open(dir: &Path, options: WalOptions) -> Result<(Wal, RecoveryReport)> {
        validate(&options)?;
        let faults = Faults::new(options.fault_hook.clone());
        if !dir.exists() {
            std::fs::create_dir_all(dir).map_err(|e| io_error(dir, e))?;
            if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
                sync_dir(parent, &faults)?;
            }
        }
        let recovered = recover(dir, options.recovery_mode, true, &faults)?;
        let mut report = recovered.report;
        let last_seq = recovered.last_seq;
        let next_id = AtomicU64::new(recovered.next_id.max(1));
        let mut segments: BTreeMap<SegmentId, Arc<Segment>> = recovered
            .segments
            .iter()
            .map(|s| (s.id(), Arc::clone(s)))
            .collect();
        let (active, writer) = match (recovered.segments.last(), recovered.active_writer) {
            (Some(active), Some(writer)) => (Arc::clone(active), writer),
            _ => {
                let factory = SegmentFactory {
                    dir,
                    capacity: options.segment_capacity,
                    faults: &faults,
                    next_id: &next_id,
                };
                let id = SegmentId(next_id.fetch_add(1, Ordering::AcqRel));
                let (segment, writer) = factory.create(id, last_seq + 1)?;
                segments.insert(id, Arc::clone(&segment));
                report.segments += 1;
                (segment, writer)
            }
        };
        let sync_mode = options.sync_mode;
        let interval = options.normal_sync_interval;
        let shared = Arc::new(Shared {
            dir: dir.to_path_buf(),
            faults,
            append: Mutex::new(AppendState::new(
                active,
                writer,
                last_seq,
                (options.prefault_ahead > 0)
                    .then(|| Prefaulter::start(options.prefault_ahead))
                    .flatten(),
                options.writeback_sealed,
                options.huge_pages.enabled(options.sync_mode),
            )),
            leader_active: AtomicBool::new(false),
            leader_generation: std::sync::atomic::AtomicU32::new(0),
            sync_lock: Mutex::new(SyncState::default()),
            last_seq: AtomicU64::new(last_seq),
            durable_seq: AtomicU64::new(last_seq),
            poisoned: AtomicBool::new(false),
            poison_cause: Mutex::new(None),
            segments: RwLock::new(segments),
            next_id,
            publish_queue: Mutex::new(PublishQueue::new()),
            uncaptured_batches: AtomicU64::new(0),
            last_group_batches: AtomicU64::new(0),
            committers: AtomicU64::new(0),
            peak_committers: AtomicU64::new(0),
            last_peak_committers: AtomicU64::new(0),
            last_sync_ns: AtomicU64::new(0),
            publish_lock: Mutex::new(()),
            published_upto: AtomicU64::new(last_seq),
            commits_since_sync: AtomicU64::new(0),
            syncer_stop: Mutex::new(false),
            syncer_wake: Condvar::new(),
            options,
        });
        let syncer = if sync_mode == SyncMode::Normal {
            let shared = Arc::clone(&shared);
            let handle = std::thread::Builder::new()
                .name("alexdb-wal-syncer".into())
                .spawn(move || run_syncer(&shared, interval))
                .map_err(|e| io_error(dir, e))?;
            Some(handle)
        } else {
            None
        };
        Ok((Wal { shared, syncer }, report))
    }

    /// Append `entries` as one atomic batch and return per the sync mode (Full: durable).
    /// Group-committed with concurrent callers. An empty batch is a no-op receipt.
    pub fn commit(&self, entries: &[Entry<'_>]) -> Result<CommitReceipt> {
        if entries.is_empty() {
            return Ok(CommitReceipt {
                first_seq: Seq(0),
                locations: Vec::new(),
            });
        }
        self.shared.check_poison()?;
        let receipt = self.shared.append(entries, false)?;
        self.shared
            .after_append(receipt.first_seq.0 + entries.len() as u64 - 1, None)?;
        Ok(receipt)
    }

    /// Like `commit`, but the group's leader calls `publisher.publish` for the whole
    /// group (see [`Publish`]) before anyone returns.
    ///
    /// The group published by one call may contain batches of other `commit_with`
    /// callers: all callers on one `Wal` must pass equivalent publishers (the engine
    /// passes its one index applier). Batches committed with plain `commit` are never
    /// published.
    pub fn commit_with(
        &self,
        entries: &[Entry<'_>],
        publisher: &dyn Publish,
    ) -> Result<CommitReceipt> {
        if entries.is_empty() {
            return Ok(CommitReceipt {
                first_seq: Seq(0),
                locations: Vec::new(),
            });
        }
        self.shared.check_poison()?;
        let receipt = self.shared.append(entries, true)?;
        let last_seq = receipt.first_seq.0 + entries.len() as u64 - 1;
        self.shared.after_append(last_seq, Some(publisher))?;
        self.shared.publish_through(last_seq, publisher)?;
        Ok(receipt)
    }

    /// Sync everything appended so far, whatever the mode.
    pub fn sync(&self) -> Result<()> {
        self.shared.check_poison()?;
        let target = self.shared.last_seq.load(Ordering::Acquire);
        self.shared.sync_to(target, None)
    }

    /// Seal the active segment and start a new one (no-op if the active one is empty).
    pub fn roll(&self) -> Result<()> {
        let shared = &self.shared;
        let mut state = shared.append.lock();
        shared.check_poison()?;
        if state.pos == SEGMENT_HEADER_LEN {
            return Ok(());
        }
        let next_seq = state.last_seq + 1;
        let factory = shared.factory();
        let mut on_new_segment = |segment: &Arc<Segment>| {
            shared
                .segments
                .write()
                .insert(segment.id(), Arc::clone(segment));
        };
        state
            .roll(next_seq, &factory, &mut on_new_segment)
            .inspect_err(|error| {
                shared.poison(format!("roll failed: {error}"));
            })
    }

    /// The mapping of a live log segment.
    pub fn segment(&self, id: SegmentId) -> Option<Arc<Segment>> {
        self.shared.segments.read().get(&id).cloned()
    }

    /// Live log segments, oldest first; the last is the active one.
    pub fn segments(&self) -> Vec<Arc<Segment>> {
        self.shared.segments.read().values().cloned().collect()
    }

    pub fn active_segment_id(&self) -> SegmentId {
        self.shared.append.lock().active.id()
    }

    /// Highest sequence number appended (published to readers of the mapping).
    pub fn last_seq(&self) -> Seq {
        Seq(self.shared.last_seq.load(Ordering::Acquire))
    }

    /// `Full` committers in flight now, and at most at once during the last sync cycle
    /// (what gathering leaders aim at).
    #[cfg(test)]
    pub(crate) fn committers(&self) -> (u64, u64) {
        (
            self.shared.committers.load(Ordering::SeqCst),
            self.shared.last_peak_committers.load(Ordering::SeqCst),
        )
    }

    /// Highest sequence number known durable.
    pub fn durable_seq(&self) -> Seq {
        Seq(self.shared.durable_seq.load(Ordering::Acquire))
    }

    /// Visit every record with `seq >= from`, in log order, across segments. Records
    /// appended after the call started (above `last_seq()` at that moment) are not
    /// visited, so only complete batches are seen. CRCs are not re-checked: every
    /// published record of a live log segment was verified by recovery or written by
    /// this process (use [`Segment::scan`] to verify).
    pub fn scan_from(
        &self,
        from: Seq,
        visit: &mut dyn FnMut(RecordRef<'_>) -> Result<()>,
    ) -> Result<()> {
        let limit = self.shared.last_seq.load(Ordering::Acquire);
        for segment in self.segments() {
            if segment.max_seq() < from.0 {
                continue;
            }
            let mut done = false;
            segment.scan_until(SEGMENT_HEADER_LEN, false, &mut |record| {
                if record.seq.0 > limit {
                    done = true;
                    return Ok(false);
                }
                if record.seq >= from {
                    visit(record)?;
                }
                Ok(true)
            })?;
            if done {
                break;
            }
        }
        Ok(())
    }

    /// Remove sealed log segments (never the active one) and fsync the directory.
    /// Unknown ids give `SegmentGone`, the active one `InvalidOptions`; nothing is
    /// removed then.
    pub fn retire(&self, ids: &[SegmentId]) -> Result<()> {
        let shared = &self.shared;
        let active = self.active_segment_id();
        let mut segments = shared.segments.write();
        for id in ids {
            if *id == active {
                return Err(Error::InvalidOptions(format!(
                    "cannot retire the active segment {id:?}"
                )));
            }
            if !segments.contains_key(id) {
                return Err(Error::SegmentGone(*id));
            }
        }
        if ids.is_empty() {
            return Ok(());
        }
        for id in ids {
            let Some(segment) = segments.get(id) else {
                continue;
            };
            let path = segment.path().to_path_buf();
            shared.faults.check(FaultPoint::RemoveSegment, &path)?;
            std::fs::remove_file(&path).map_err(|e| io_error(&path, e))?;
            segments.remove(id);
        }
        drop(segments);
        sync_dir(&shared.dir, &shared.faults)
    }

    /// Remove every sealed log segment all of whose records have `seq < below`.
    pub fn retire_below(&self, below: Seq) -> Result<Vec<SegmentId>> {
        let active = self.active_segment_id();
        let ids: Vec<SegmentId> = self
            .shared
            .segments
            .read()
            .values()
            .filter(|s| s.id() != active && s.max_seq() < below.0)
            .map(|s| s.id())
            .collect();
        self.retire(&ids)?;
        Ok(ids)
    }

    /// Reserve a fresh segment id (for [`crate::SegmentWriter`] outputs).
    pub fn allocate_segment_id(&self) -> SegmentId {
        SegmentId(self.shared.next_id.fetch_add(1, Ordering::AcqRel))
    }

    pub fn options(&self) -> &WalOptions {
        &self.shared.options
    }

    pub fn dir(&self) -> &Path {
        &self.shared.dir
    }

    pub fn stats(&self) -> WalStats {
        let (bytes_appended, records, batches) = {
            let state = self.shared.append.lock();
            (state.bytes_appended, state.records, state.batches)
        };
        let state = self.shared.sync_lock.lock();
        let sync = &state.stats;
        let mean = |total: u64, count: u64| {
            if count == 0 {
                0.0
            } else {
                total as f64 / count as f64
            }
        };
        WalStats {
            bytes_appended,
            records,
            batches,
            syncs: sync.syncs,
            groups: sync.groups,
            mean_group_size: mean(sync.group_batches_total, sync.groups),
            max_group_size: sync.max_group_size,
            sync_latency_mean_us: mean(sync.sync_latency_total_us, sync.syncs),
            sync_latency_max_us: sync.sync_latency_max_us,
            segments: self.shared.segments.read().len() as u64,
        }
    }

    /// If poisoned, the cause.
    pub fn poisoned(&self) -> Option<String> {
        if !self.shared.poisoned.load(Ordering::Acquire) {
            return None;
        }
        self.shared.poison_cause.lock().clone()
    }
}

impl Drop for Wal {
    fn drop(&mut self) {
        if let Some(handle) = self.syncer.take() {
            *self.shared.syncer_stop.lock() = true;
            self.shared.syncer_wake.notify_all();
            let _ = handle.join();
            // Normal mode promises a bounded loss window; closing cleanly closes it.
            let _ = self.sync();
        }
    }
}

/// The Normal-mode syncer: sync every `interval`, or sooner when `normal_sync_commits`
/// commits have accumulated; exits on stop or once the log is poisoned.
fn run_syncer(shared: &Shared, interval: std::time::Duration) {
    loop {
        {
            let mut stop = shared.syncer_stop.lock();
            if *stop {
                return;
            }
            if shared.commits_since_sync.load(Ordering::Relaxed)
                < shared.options.normal_sync_commits
            {
                shared.syncer_wake.wait_for(&mut stop, interval);
            }
            if *stop {
                return;
            }
        }
        let target = shared.last_seq.load(Ordering::Acquire);
        if target <= shared.durable_seq.load(Ordering::Acquire) {
            // Commits counted after a capture that already covered them.
            shared.commits_since_sync.store(0, Ordering::Relaxed);
        } else if shared.sync_to(target, None).is_err() {
            return;
        }
    }
}
