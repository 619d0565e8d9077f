//! Group commit: making appended batches durable and publishing them, in log order.
//!
//! Shape: PostgreSQL's `XLogFlush`. Each committer appends its own batch under the append
//! lock (a memcpy into the mapping; nobody copies anyone else's bytes), then needs the
//! log durable up to its last sequence number:
//!
//! 1. If `durable_seq` already covers it, done.
//! 2. Otherwise, if no leader is active, become it (a compare-and-swap on
//!    `leader_active`): capture under the append lock the watermark (`last_seq`) and the
//!    byte ranges appended since the last capture — *before* syncing —, sync the ranges,
//!    publish the captured watermark as `durable_seq`; a leader that commits with a
//!    publisher then publishes the group (below) itself; finally it clears
//!    `leader_active` and wakes every waiter.
//! 3. If a leader is active, sleep until it ends: on Linux on a futex, the word being
//!    `leader_generation`, which every ending leader bumps (after clearing
//!    `leader_active`) before one `FUTEX_WAKE` for all sleepers — the kernel re-checks
//!    the word as it puts a follower to sleep, so a wake-up cannot be lost; elsewhere
//!    parked with `parking_lot_core`, keyed on `leader_active` (the park re-checks the
//!    flag under the parking lot's queue lock). Committers arriving during a sync
//!    append and sleep, so the next leader syncs all of them at once (the group). All
//!    waiters wake together: a covered one returns, an uncovered one re-checks and one
//!    of them leads — no lost leader, I-4. Waking them all at once, rather than through
//!    a condition variable whose waiters re-take one mutex one after another, keeps the
//!    hand-off from serializing wake-ups: each serial hand-off costs a scheduler
//!    wake-up, and on 2 cores a chain of them shrank groups and stretched every cycle.
//! 4. A failed sync poisons the log: the leader and every later caller gets
//!    `Error::Poisoned` (woken waiters re-check the poison flag).
//!
//! Publishing (`Wal::commit_with`) has its own lock: batches are queued in log order
//! under the append lock; whoever publishes takes the publish lock and publishes every
//! queued batch up to the watermark (durable under `Full`, appended otherwise) as one
//! group, then advances `published_upto`. Under `Full` the sync leader does it before
//! waking its group, so the members find their batches published (one atomic load) and
//! return without touching a lock; a committer that finds its batch unpublished (other
//! modes, or a leader that had no publisher) publishes through the lock. So groups are
//! published one at a time and in log order, and a batch is published before its
//! committer returns.
//!
//! Lock order: append lock → publish queue; publish lock → publish queue. The sync
//! leader holds no lock while syncing; it takes the publish lock after its sync.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

#[cfg(not(target_os = "linux"))]
use parking_lot_core::{DEFAULT_PARK_TOKEN, DEFAULT_UNPARK_TOKEN};

use crate::wal::Shared;
use crate::{Error, FaultPoint, Location, Publish, PublishedBatch, Result, Seq, SyncMode};

/// A gathering leader waits at most as long as the last sync took, but never less than
/// this (so a fast sync still leaves time for woken committers to come back)...
const GATHER_MIN: Duration = Duration::from_micros(50);
/// ...and never more than this (a slow disk's sync does not hold a group back longer).
const GATHER_CAP: Duration = Duration::from_millis(1);

/// Sync statistics, behind the `sync_lock` mutex (taken by leaders after their sync and by
/// `Wal::stats`, never while waiting).
#[derive(Debug, Default)]
pub(crate) struct SyncState {
    pub stats: SyncStats,
}

/// What one leader's sync did.
#[derive(Debug)]
struct Synced {
    latency_us: u64,
    group_batches: u64,
}

/// Sync statistics (only leaders update them).
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

/// Queue of batches waiting to be published, in log order (pushed under the append lock).
pub(crate) type PublishQueue = VecDeque<PendingBatch>;

/// How long a gathering leader may wait, given the last sync's duration.
fn gather_bound(last_sync_ns: u64) -> Duration {
    Duration::from_nanos(last_sync_ns).clamp(GATHER_MIN, GATHER_CAP)
}

/// How many batches a gathering leader waits for: as many as the last group had, or as
/// many `Full` committers as were in flight at once during the last cycle if that is
/// more (each of them commits again as soon as it is woken).
fn gather_target(last_group_batches: u64, last_peak_committers: u64) -> u64 {
    last_group_batches.max(last_peak_committers)
}

/// A `Full` committer between its append and its return, counted in
/// `Shared::committers` (and its peak) for the gathering leaders; uncounted on drop,
/// whether the commit succeeded, failed or panicked.
pub(crate) struct Committing<'a> {
    shared: &'a Shared,
}

impl Drop for Committing<'_> {
    fn drop(&mut self) {
        self.shared.committers.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Shared {
    /// Count a `Full` committer in (see [`Committing`]).
    pub(crate) fn enter_commit(&self) -> Committing<'_> {
        let now = self.committers.fetch_add(1, Ordering::Relaxed) + 1;
        self.peak_committers.fetch_max(now, Ordering::Relaxed);
        Committing { shared: self }
    }

    /// Block until everything up to `target` is durable, leading a sync if needed. A
    /// leader given a `publisher` also publishes what its sync made durable before it
    /// wakes the others.
    pub(crate) fn sync_to(&self, target: u64, publisher: Option<&dyn Publish>) -> Result<()> {
        // Bounded: every pass either returns, leads a sync, or waits for a leader's sync
        // to end, and each ended sync either covers `target` or poisons the log.
        loop {
            if self.durable_seq.load(Ordering::Acquire) >= target {
                return Ok(());
            }
            self.check_poison()?;
            if self
                .leader_active
                .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
                .is_err()
            {
                // Follower: the leader's sync may not cover us (we appended after its
                // capture); re-check when it ends, and lead if still uncovered (I-4).
                self.wait_for_leader();
                continue;
            }
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                // A sync may have ended between the check above and the swap.
                if self.durable_seq.load(Ordering::Acquire) >= target {
                    return Ok(None);
                }
                let synced = self.lead_sync()?;
                if let Some(publisher) = publisher {
                    self.publish_ready(publisher)?;
                }
                Ok(Some(synced))
            }));
            self.leader_active.store(false, Ordering::SeqCst);
            self.wake_followers();
            let outcome = match outcome {
                Ok(outcome) => outcome,
                Err(panic) => {
                    self.poison("a sync leader panicked".into());
                    std::panic::resume_unwind(panic);
                }
            };
            if let Some(synced) = outcome? {
                let stats = &mut self.sync_lock.lock().stats;
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
    }

    /// Sleep until the active leader ends (returns at once if it already has; may
    /// return early — callers re-check).
    #[cfg(target_os = "linux")]
    fn wait_for_leader(&self) {
        let generation = self.leader_generation.load(Ordering::SeqCst);
        if !self.leader_active.load(Ordering::SeqCst) {
            return;
        }
        // The leader clears `leader_active`, then bumps the generation, then wakes: if it
        // bumped after our load above, the kernel sees the changed word and returns at
        // once; otherwise its wake-up finds us asleep.
        futex::wait(&self.leader_generation, generation);
    }

    /// Wake every sleeping follower (called after clearing `leader_active`): one system
    /// call for all of them.
    #[cfg(target_os = "linux")]
    fn wake_followers(&self) {
        self.leader_generation.fetch_add(1, Ordering::SeqCst);
        futex::wake_all(&self.leader_generation);
    }

    /// The parking key for sync followers: the address of `leader_active`.
    #[cfg(not(target_os = "linux"))]
    fn leader_key(&self) -> usize {
        std::ptr::from_ref(&self.leader_active) as usize
    }

    /// Park until the active leader clears `leader_active` (returns at once if it
    /// already has).
    #[cfg(not(target_os = "linux"))]
    fn wait_for_leader(&self) {
        // SAFETY: the key is the address of a field of this `Shared`, which outlives the
        // call, and is used for nothing but sync followers; the validation closure only
        // loads an atomic, and the other callbacks do nothing, so none of them panics or
        // calls into the parking lot.
        unsafe {
            parking_lot_core::park(
                self.leader_key(),
                || self.leader_active.load(Ordering::SeqCst),
                || {},
                |_, _| {},
                DEFAULT_PARK_TOKEN,
                None,
            );
        }
    }

    /// Wake every parked follower (called after clearing `leader_active`).
    #[cfg(not(target_os = "linux"))]
    fn wake_followers(&self) {
        // SAFETY: same key as `wait_for_leader`; called with no parking-lot lock held.
        unsafe {
            parking_lot_core::unpark_all(self.leader_key(), DEFAULT_UNPARK_TOKEN);
        }
    }

    /// The leader's work, without any lock held: gather, capture, sync, publish the
    /// watermark.
    fn lead_sync(&self) -> Result<Synced> {
        self.gather();
        // Capture the watermark under the append lock *before* syncing: everything up to
        // it is in the ranges synced below.
        let capture = {
            let mut append = self.append.lock();
            self.uncaptured_batches.store(0, Ordering::Relaxed);
            let peak = self
                .peak_committers
                .swap(self.committers.load(Ordering::Relaxed), Ordering::Relaxed);
            self.last_peak_committers.store(peak, Ordering::Relaxed);
            append.capture()
        };
        self.last_group_batches
            .store(capture.group_batches, Ordering::Relaxed);
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
        let latency = started.elapsed();
        self.last_sync_ns
            .store(latency.as_nanos() as u64, Ordering::Relaxed);
        let latency_us = latency.as_micros() as u64;
        self.durable_seq
            .fetch_max(capture.upto_seq, Ordering::AcqRel);
        Ok(Synced {
            latency_us,
            group_batches: capture.group_batches,
        })
    }

    /// If the last group had several batches, give their committers — just woken by the
    /// last leader, and on their way back with their next batch — a moment to append
    /// before capturing, so the group does not shrink to whoever was fastest: yield the
    /// CPU until as many batches wait as the last group had, or as there were `Full`
    /// committers in flight at once during the last cycle if that is more
    /// ([`gather_target`]), for at most as long as the last sync took (within
    /// [`GATHER_MIN`]..[`GATHER_CAP`]). A lone committer never waits.
    ///
    /// Why the committers too: aiming only at the last group's size is stable at any
    /// size — 8 committers settled into groups of ~7 while the eighth, woken last, came
    /// back just after the capture and waited a whole extra cycle. Counting committers
    /// lets the group grow back to all of them (commit probe, 8 threads: 7.0–7.4 → 7.9
    /// batches per sync, +8–11% commits/s; see docs/wal.md). When committers stop, the
    /// count falls at the next capture, so at most one gather waits in vain.
    ///
    /// Why the last sync's duration: the wait is paid once per group and buys up to the
    /// whole group's share of one sync, so waiting as long as a sync at most costs a
    /// committer at most one more sync's worth of latency, on any disk. A fixed 50 µs
    /// bound let 8 committers on 2 cores settle into groups of ~5 (a sync of 150–220 µs
    /// here; woken committers need ~70 µs to all append again); see docs/wal.md.
    fn gather(&self) {
        let wanted = gather_target(
            self.last_group_batches.load(Ordering::Relaxed),
            self.last_peak_committers.load(Ordering::Relaxed),
        );
        if wanted <= 1 {
            return;
        }
        let bound = gather_bound(self.last_sync_ns.load(Ordering::Relaxed));
        let started = Instant::now();
        while self.uncaptured_batches.load(Ordering::Relaxed) < wanted && started.elapsed() < bound
        {
            std::thread::yield_now();
        }
    }

    /// Make sure the batch ending at `last_seq` is published: usually the sync leader
    /// already did (one atomic load); otherwise publish every ready batch as one group.
    pub(crate) fn publish_through(&self, last_seq: u64, publisher: &dyn Publish) -> Result<()> {
        if self.published_upto.load(Ordering::Acquire) >= last_seq {
            return Ok(());
        }
        self.publish_ready(publisher)?;
        if self.published_upto.load(Ordering::Acquire) >= last_seq {
            return Ok(());
        }
        // Only when an earlier publisher panicked with this batch in its group.
        self.check_poison()?;
        Err(Error::Poisoned {
            cause: "batch lost by a panicking publisher".into(),
        })
    }

    /// Under the publish lock, publish as one group every queued batch up to the
    /// publishable watermark (durable under `Full`, appended otherwise).
    fn publish_ready(&self, publisher: &dyn Publish) -> Result<()> {
        let _publishing = self.publish_lock.lock();
        let watermark = match self.options.sync_mode {
            SyncMode::Full => self.durable_seq.load(Ordering::Acquire),
            _ => self.last_seq.load(Ordering::Acquire),
        };
        let group: Vec<PendingBatch> = {
            let mut queue = self.publish_queue.lock();
            let ready = queue.iter().take_while(|b| b.last_seq <= watermark).count();
            queue.drain(..ready).collect()
        };
        let Some(last) = group.last().map(|b| b.last_seq) else {
            return Ok(());
        };
        let batches: Vec<PublishedBatch<'_>> = group
            .iter()
            .map(|b| PublishedBatch {
                first_seq: Seq(b.first_seq),
                locations: &b.locations,
            })
            .collect();
        let published =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| publisher.publish(&batches)));
        if let Err(panic) = published {
            // The group is lost to the index: refuse everything from now on.
            self.poison("the publisher panicked".into());
            std::panic::resume_unwind(panic);
        }
        let before = self.published_upto.swap(last, Ordering::AcqRel);
        assert!(last > before, "groups are published in log order");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gathering_waits_about_one_sync_within_its_bounds() {
        // No sync yet, or a sync faster than a committer's way back: the floor.
        assert_eq!(gather_bound(0), GATHER_MIN);
        assert_eq!(gather_bound(10_000), GATHER_MIN);
        // A typical sync here: as long as it took.
        assert_eq!(gather_bound(150_000), Duration::from_micros(150));
        // A stalled disk does not hold a group back longer than the cap.
        assert_eq!(gather_bound(40_000_000), GATHER_CAP);
        assert_eq!(gather_bound(u64::MAX), GATHER_CAP);
    }

    #[test]
    fn gathering_aims_at_the_larger_of_last_group_and_committers() {
        assert_eq!(gather_target(0, 0), 0);
        assert_eq!(gather_target(1, 1), 1);
        assert_eq!(gather_target(7, 8), 8);
        assert_eq!(gather_target(6, 2), 6);
    }
}

/// The two futex operations the followers need (Linux).
#[cfg(target_os = "linux")]
mod futex {
    use std::sync::atomic::AtomicU32;

    /// Sleep while `word` holds `expected` (returns at once if it does not; may return
    /// spuriously).
    pub(super) fn wait(word: &AtomicU32, expected: u32) {
        // SAFETY: FUTEX_WAIT reads the aligned 4-byte word behind a live reference (an
        // `AtomicU32` has the layout of a `u32`), compares it with `expected` atomically
        // and sleeps; a null timeout means no timeout. It writes no memory of ours.
        unsafe {
            libc::syscall(
                libc::SYS_futex,
                word.as_ptr(),
                libc::FUTEX_WAIT | libc::FUTEX_PRIVATE_FLAG,
                expected,
                std::ptr::null::<libc::timespec>(),
            );
        }
    }

    /// Wake every thread sleeping on `word`.
    pub(super) fn wake_all(word: &AtomicU32) {
        // SAFETY: FUTEX_WAKE only uses the word's address as a key; it reads and writes
        // no memory of ours.
        unsafe {
            libc::syscall(
                libc::SYS_futex,
                word.as_ptr(),
                libc::FUTEX_WAKE | libc::FUTEX_PRIVATE_FLAG,
                i32::MAX,
            );
        }
    }
}
