//! Group commit: making appended batches durable and publishing them, in log order.
//!
//! Shape: PostgreSQL's `XLogFlush`. Each committer appends its own batch under the append
//! lock (a memcpy into the mapping; nobody copies anyone else's bytes), then needs the
//! log durable up to its last sequence number:
//!
//! 1. If `durable_seq` already covers it, done.
//! 2. Otherwise take the sync lock. Whoever holds it is the leader; everyone else who
//!    needs a sync queues on it while the leader's sync runs — so they append meanwhile,
//!    and the next leader syncs all of them at once (the group).
//! 3. Holding the sync lock, re-check (a leader before us may have covered us: the
//!    follower that wakes covered returns, one that wakes uncovered leads — no lost
//!    leader, I-4), then capture under the append lock the watermark (`last_seq`) and the
//!    byte ranges appended since the last capture, *before* syncing; sync the ranges;
//!    publish the captured watermark as `durable_seq`.
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

use crate::wal::Shared;
use crate::{Error, FaultPoint, Location, Publish, PublishedBatch, Result, Seq, SyncMode};

/// Sync statistics; guarded by the sync lock (only leaders touch them).
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
        loop {
            if self.durable_seq.load(Ordering::Acquire) >= target {
                return Ok(());
            }
            self.check_poison()?;
            let mut stats = self.sync_lock.lock();
            if self.durable_seq.load(Ordering::Acquire) >= target {
                return Ok(());
            }
            self.check_poison()?;
            // Capture the watermark under the append lock *before* syncing: everything up
            // to it is in the ranges we are about to sync.
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
                    let cause = format!("sync failed: {error}");
                    self.poison(cause);
                    return self.check_poison();
                }
            }
            let latency_us = started.elapsed().as_micros() as u64;
            stats.syncs += 1;
            stats.sync_latency_total_us += latency_us;
            stats.sync_latency_max_us = stats.sync_latency_max_us.max(latency_us);
            if capture.group_batches > 0 {
                stats.groups += 1;
                stats.group_batches_total += capture.group_batches;
                stats.max_group_size = stats.max_group_size.max(capture.group_batches);
            }
            self.durable_seq
                .fetch_max(capture.upto_seq, Ordering::AcqRel);
            debug_assert!(
                capture.upto_seq >= target,
                "a captured watermark covers every earlier append"
            );
        }
    }

    /// Publish, as one group, every queued batch up to the publishable watermark unless
    /// someone already did; return the locations of the batch starting at `first_seq`.
    pub(crate) fn publish_through(
        &self,
        first_seq: u64,
        last_seq: u64,
        publisher: &dyn Publish,
    ) -> Vec<Location> {
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
                publisher.publish(&batches);
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
        state
            .done
            .remove(&first_seq)
            .expect("a durable queued batch is published by the first committer that needs it")
    }
}
