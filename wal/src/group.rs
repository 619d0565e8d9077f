//! Group commit: making appended batches durable and publishing them, in log order.
//!
//! Shape: PostgreSQL's `XLogFlush`. Each committer appends its own batch under the append
//! lock (a memcpy into the mapping; nobody copies anyone else's bytes), then needs the
//! log durable up to its last sequence number:
//!
//! 1. If `durable_seq` already covers it, done.
//! 2. Otherwise take the sync lock. If no leader is active, become it (`leader_active`),
//!    release the lock, capture under the append lock the watermark (`last_seq`) and the
//!    byte ranges appended since the last capture — *before* syncing —, sync the ranges,
//!    publish the captured watermark as `durable_seq`, and wake every waiter.
//! 3. If a leader is active, wait on `sync_done`. Committers arriving during a sync
//!    append and wait, so the next leader syncs all of them at once (the group). All
//!    waiters wake together when a sync ends: a covered one returns, an uncovered one
//!    re-checks and one of them leads — no lost leader, I-4. (Waking them together,
//!    rather than handing a mutex from one to the next, keeps the hand-off from
//!    serializing wake-ups, which on 2 cores shrank groups to ~2 batches.)
//! 4. A failed sync poisons the log: the leader and every later caller gets
//!    `Error::Poisoned` (waiters re-check the poison flag after taking the lock).
//!
//! Publishing (`Wal::commit_with`) is a second, similar step with its own lock: batches
//! are queued in log order under the append lock; a committer whose batch is durable
//! takes the publish lock and, unless someone already published it, publishes every
//! queued batch up to the watermark as one group. So groups are published one at a time
//! and in log order, and a batch is published before its committer returns.
//!
//! Lock order: sync lock → append lock; append lock → publish queue; publish lock →
//! publish queue. Never the reverse.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::Ordering;
use std::time::Instant;

use parking_lot::MutexGuard;

use crate::wal::Shared;
use crate::{Error, FaultPoint, Location, Publish, PublishedBatch, Result, Seq, SyncMode};

/// State of the sync lock.
#[derive(Debug, Default)]
pub(crate) struct SyncState {
    /// A leader is syncing (with the lock released); others wait on `sync_done`.
    pub leader_active: bool,
    pub stats: SyncStats,
}

/// What one leader's sync did.
#[derive(Debug)]
struct Synced {
    latency_us: u64,
    group_batches: u64,
}

/// Sync statistics; guarded by the sync lock (only leaders update them).
#[derive(Debug, Default)]
pub(crate) struct SyncStats {
    pub syncs: u64,
    pub groups: u64,
    pub group_batches_total: u64,
    pub max_group_size: u64,
    pub sync_latency_total_us: u64,
    pub sync_latency_max_us: u64,
}

/// A committed batch waiting to be published.
#[derive(Debug)]
pub(crate) struct PendingBatch {
    pub first_seq: u64,
    pub last_seq: u64,
    pub locations: Vec<Location>,
}

/// State of the publish lock.
#[derive(Debug, Default)]
pub(crate) struct PublishState {
    /// Every queued batch with `last_seq <= published_upto` has been published.
    pub published_upto: u64,
    /// Locations of batches published by another committer's call, by first seq, until
    /// their own committer collects them.
    pub done: HashMap<u64, Vec<Location>>,
}

/// Queue of batches waiting to be published, in log order (pushed under the append lock).
pub(crate) type PublishQueue = VecDeque<PendingBatch>;

impl Shared {
    /// Block until everything up to `target` is durable, leading a sync if needed.
    pub(crate) fn sync_to(&self, target: u64) -> Result<()> {
        if self.durable_seq.load(Ordering::Acquire) >= target {
            return Ok(());
        }
        let mut state = self.sync_lock.lock();
        // Bounded: every pass either returns or waits for a leader's sync to end, and each
        // ended sync either covers `target` or poisons the log.
        loop {
            if self.durable_seq.load(Ordering::Acquire) >= target {
                return Ok(());
            }
            self.check_poison()?;
            if state.leader_active {
                // Follower: the leader's sync may not cover us (we appended after its
                // capture); re-check when it ends, and lead if still uncovered (I-4).
                self.sync_done.wait(&mut state);
                continue;
            }
            state.leader_active = true;
            let outcome = MutexGuard::unlocked(&mut state, || {
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.lead_sync()))
            });
            state.leader_active = false;
            self.sync_done.notify_all();
            let outcome = match outcome {
                Ok(outcome) => outcome,
                Err(panic) => {
                    self.poison("a sync leader panicked".into());
                    drop(state);
                    std::panic::resume_unwind(panic);
                }
            };
            let synced = outcome?;
            let stats = &mut state.stats;
            stats.syncs += 1;
            stats.sync_latency_total_us += synced.latency_us;
            stats.sync_latency_max_us = stats.sync_latency_max_us.max(synced.latency_us);
            if synced.group_batches > 0 {
                stats.groups += 1;
                stats.group_batches_total += synced.group_batches;
                stats.max_group_size = stats.max_group_size.max(synced.group_batches);
            }
        }
    }

    /// The leader's work, without the sync lock held: capture, sync, publish the watermark.
    fn lead_sync(&self) -> Result<Synced> {
        // Capture the watermark under the append lock *before* syncing: everything up to
        // it is in the ranges synced below.
        let capture = self.append.lock().capture();
        self.commits_since_sync.store(0, Ordering::Relaxed);
        let started = Instant::now();
        for (segment, from, to) in &capture.ranges {
            let outcome = self
                .faults
                .check(FaultPoint::Sync, segment.path())
                .and_then(|()| {
                    segment
                        .map()
                        .sync_range(*from, *to)
                        .map_err(|source| Error::Io {
                            path: segment.path().to_path_buf(),
                            source,
                        })
                });
            if let Err(error) = outcome {
                self.poison(format!("sync failed: {error}"));
                self.check_poison()?;
            }
        }
        let latency_us = started.elapsed().as_micros() as u64;
        self.durable_seq
            .fetch_max(capture.upto_seq, Ordering::AcqRel);
        Ok(Synced {
            latency_us,
            group_batches: capture.group_batches,
        })
    }

    /// Publish, as one group, every queued batch up to the publishable watermark unless
    /// someone already did; return the locations of the batch starting at `first_seq`.
    pub(crate) fn publish_through(
        &self,
        first_seq: u64,
        last_seq: u64,
        publisher: &dyn Publish,
    ) -> Result<Vec<Location>> {
        let mut state = self.publish_lock.lock();
        if state.published_upto < last_seq {
            let watermark = match self.options.sync_mode {
                SyncMode::Full => self.durable_seq.load(Ordering::Acquire),
                _ => self.last_seq.load(Ordering::Acquire),
            };
            let group: Vec<PendingBatch> = {
                let mut queue = self.publish_queue.lock();
                let ready = queue.iter().take_while(|b| b.last_seq <= watermark).count();
                queue.drain(..ready).collect()
            };
            let batches: Vec<PublishedBatch<'_>> = group
                .iter()
                .map(|b| PublishedBatch {
                    first_seq: Seq(b.first_seq),
                    locations: &b.locations,
                })
                .collect();
            if !batches.is_empty() {
                let published = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    publisher.publish(&batches)
                }));
                if let Err(panic) = published {
                    // The group is lost to the index: refuse everything from now on.
                    self.poison("the publisher panicked".into());
                    drop(state);
                    std::panic::resume_unwind(panic);
                }
            }
            drop(batches);
            if let Some(last) = group.last() {
                assert!(
                    last.last_seq > state.published_upto,
                    "groups are published in log order"
                );
                state.published_upto = last.last_seq;
            }
            for batch in group {
                state.done.insert(batch.first_seq, batch.locations);
            }
        }
        match state.done.remove(&first_seq) {
            Some(locations) => Ok(locations),
            // Only when an earlier publisher panicked with this batch in its group.
            None => {
                self.check_poison()?;
                Err(Error::Poisoned {
                    cause: "batch lost by a panicking publisher".into(),
                })
            }
        }
    }
}
