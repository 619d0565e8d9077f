//! A reader-biased front for the store's `RwLock`: the BRAVO technique (Dice and Kogan,
//! "BRAVO — Biased Locking for Reader-Writer Locks", USENIX ATC 2019), written for this
//! crate.
//!
//! Why: every `get` used to acquire and release the shared lock, two atomic
//! read-modify-writes on the lock's one cache line. With two cores reading, that line
//! travels between them twice per lookup; measured, it cost a fifth of the read
//! throughput at 2 threads (see docs/perf/concurrent.md).
//!
//! How: while the lock is *biased*, a reader announces itself by incrementing its own
//! counter slot (a cache line mostly touched by that thread) and re-checks the bias; if
//! it still holds, the reader reads without touching the `RwLock`. A writer first takes
//! the `RwLock` exclusively (so new readers go to the slow path), then *revokes* the
//! bias and waits until every slot is zero. Readers in the slow path take the `RwLock`
//! shared as before, and re-enable the bias once an inhibition window after the last
//! revocation has passed — so write-heavy phases run on the plain `RwLock` and pay no
//! revocations, while read-only phases get the fast path back within a millisecond.
//!
//! Correctness (the Dekker pattern, all `SeqCst`): a fast reader increments its slot
//! *then* loads the bias; a revoking writer stores `false` *then* loads every slot. One
//! of them sees the other's write: either the reader sees `false` and backs out to the
//! slow path (where the writer's exclusive hold blocks it), or the writer sees the
//! reader's count and waits for it to leave. The bias only becomes `true` again by a
//! reader holding the lock shared, so never while a writer holds it.
//!
//! Waiting: a reader that finds the lock taken, or a writer that finds it held, spins
//! (`PAUSE`, re-trying) for up to [`SPIN_FOR`] before it falls back to the `RwLock`'s own
//! wait, and a spinning writer makes new slow-path readers hold off. `parking_lot`'s wait
//! spins for about half a microsecond, then calls `sched_yield` several times before it
//! parks; on a machine with as many busy threads as cores, a yield hands the core to any
//! other runnable thread — the log's prefault thread, say, in the middle of faulting in
//! a mebibyte, or another of eight threads on two cores — for up to a scheduler slice,
//! while a write to the index takes about a microsecond. Measured (docs/PERFORMANCE.md,
//! "Session 15"): a reader's `get`s over 1 ms during 5M inserts 117–214 instead of
//! 388–453; reads' p99 with 4 and 8 threads on 2 cores 1.3–2.3 µs instead of 22–105 µs.

use parking_lot::{RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::cell::Cell;
use std::ops::Deref;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Reader slots per lock. Threads beyond this share slots (correct, only slower).
const SLOTS: usize = 32;

/// The bias stays off for at least this long after a revocation (and for 9× the
/// revocation's cost if that is longer, BRAVO's rule), so a stream of writes does not
/// pay a revocation each.
const MIN_INHIBIT: Duration = Duration::from_millis(1);

/// A slow-path reader looks at the clock once per this many slow reads.
const REBIAS_CHECK_EVERY: u32 = 64;

/// How long a waiting reader or writer spins before it falls back to the `RwLock`'s own
/// wait: well above a write to the index (about a microsecond) or a lookup, well below a
/// scheduler slice (milliseconds).
const SPIN_FOR: Duration = Duration::from_micros(20);

/// Spin iterations between clock reads while spinning.
const SPINS_PER_CLOCK: u32 = 16;

/// Call `attempt` until it returns `Some`, with a `PAUSE` between calls, for up to
/// [`SPIN_FOR`]; `None` if it never did.
#[inline]
fn spin_for<R>(mut attempt: impl FnMut() -> Option<R>) -> Option<R> {
    let mut started: Option<Instant> = None;
    let mut spins = 0u32;
    loop {
        if let Some(done) = attempt() {
            return Some(done);
        }
        spins = spins.wrapping_add(1);
        if spins.is_multiple_of(SPINS_PER_CLOCK) {
            // The clock is read only once a wait has lasted a few spins.
            if started.get_or_insert_with(Instant::now).elapsed() >= SPIN_FOR {
                return None;
            }
        }
        std::hint::spin_loop();
    }
}

/// One reader counter on its own pair of cache lines (adjacent-line prefetch).
#[repr(align(128))]
#[derive(Default)]
struct Slot(AtomicUsize);

pub(crate) struct BiasedRwLock<T> {
    lock: RwLock<T>,
    bias: AtomicBool,
    /// Writers spinning for the lock: new slow-path readers hold off while it is
    /// non-zero, so a writer does not spin behind a stream of readers.
    writers_waiting: AtomicUsize,
    slots: Box<[Slot]>,
    /// Nanoseconds after `epoch` before which readers must not re-enable the bias.
    inhibit_until_ns: AtomicU64,
    epoch: Instant,
}

impl<T: std::fmt::Debug> std::fmt::Debug for BiasedRwLock<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BiasedRwLock")
            .field("lock", &self.lock)
            .field("bias", &self.bias.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

thread_local! {
    /// This thread's slot number, `usize::MAX` until its first read (threads are
    /// numbered as they first read). Const-initialized: no lazy-init check per access.
    static SLOT_INDEX: Cell<usize> = const { Cell::new(usize::MAX) };
    /// Slow reads left before this thread next looks at the clock.
    static REBIAS_COUNTDOWN: Cell<u32> = const { Cell::new(0) };
}

/// This thread's reader slot.
#[inline]
fn slot_index() -> usize {
    SLOT_INDEX.with(|index| match index.get() {
        usize::MAX => {
            static NEXT: AtomicUsize = AtomicUsize::new(0);
            let assigned = NEXT.fetch_add(1, Ordering::Relaxed) % SLOTS;
            index.set(assigned);
            assigned
        }
        assigned => assigned,
    })
}

/// Shared access: either through a reader slot (biased) or the `RwLock`'s shared guard.
pub(crate) enum ReadGuard<'a, T> {
    Fast {
        lock: &'a BiasedRwLock<T>,
        slot: &'a AtomicUsize,
    },
    Slow(RwLockReadGuard<'a, T>),
}

impl<T> Deref for ReadGuard<'_, T> {
    type Target = T;

    #[inline]
    fn deref(&self) -> &T {
        match self {
            // SAFETY: this reader's slot count is non-zero and it saw the bias set after
            // incrementing it, so any writer that takes the lock exclusively waits in
            // `revoke` until the count drops (in `drop`) before it touches the data; and
            // the bias is only set by readers holding the lock shared, after the last
            // writer released it (acquire/release through the bias flag), so the data is
            // not being written and its last writes are visible here.
            ReadGuard::Fast { lock, .. } => unsafe { &*lock.lock.data_ptr() },
            ReadGuard::Slow(guard) => guard,
        }
    }
}

impl<T> Drop for ReadGuard<'_, T> {
    #[inline]
    fn drop(&mut self) {
        if let ReadGuard::Fast { slot, .. } = self {
            slot.fetch_sub(1, Ordering::Release);
        }
    }
}

impl<T> BiasedRwLock<T> {
    pub(crate) fn new(value: T) -> Self {
        BiasedRwLock {
            lock: RwLock::new(value),
            bias: AtomicBool::new(true),
            writers_waiting: AtomicUsize::new(0),
            slots: (0..SLOTS).map(|_| Slot::default()).collect(),
            inhibit_until_ns: AtomicU64::new(0),
            epoch: Instant::now(),
        }
    }

    /// Shared access. Like `RwLock::read`, do not nest it with a write on one thread.
    #[inline]
    pub(crate) fn read(&self) -> ReadGuard<'_, T> {
        if self.bias.load(Ordering::Relaxed) {
            let slot = &self.slots[slot_index()].0;
            slot.fetch_add(1, Ordering::SeqCst);
            if self.bias.load(Ordering::SeqCst) {
                return ReadGuard::Fast { lock: self, slot };
            }
            slot.fetch_sub(1, Ordering::Release);
        }
        self.read_slow()
    }

    /// Shared access through the `RwLock`, spinning first if it is taken (kept out of
    /// line so the fast path inlines small).
    #[cold]
    #[inline(never)]
    fn read_slow(&self) -> ReadGuard<'_, T> {
        let spun = spin_for(|| {
            if self.writers_waiting.load(Ordering::Relaxed) == 0 {
                self.lock.try_read()
            } else {
                None
            }
        });
        let guard = spun.unwrap_or_else(|| self.lock.read());
        if !self.bias.load(Ordering::Relaxed) {
            self.maybe_rebias();
        }
        ReadGuard::Slow(guard)
    }

    /// Exclusive access: the `RwLock`'s write guard, taken after every fast reader left
    /// (spinning first while readers or another writer hold it).
    pub(crate) fn write(&self) -> RwLockWriteGuard<'_, T> {
        self.writers_waiting.fetch_add(1, Ordering::SeqCst);
        let spun = spin_for(|| self.lock.try_write());
        self.writers_waiting.fetch_sub(1, Ordering::Release);
        let guard = spun.unwrap_or_else(|| self.lock.write());
        if self.bias.load(Ordering::Relaxed) {
            self.revoke();
        }
        guard
    }

    /// With the lock held exclusively: turn the bias off and wait for fast readers.
    #[cold]
    fn revoke(&self) {
        let started = Instant::now();
        self.bias.store(false, Ordering::SeqCst);
        for slot in self.slots.iter() {
            // Fast readers hold the slot for one lookup or one scan callback run.
            let drained = || (slot.0.load(Ordering::SeqCst) == 0).then_some(());
            if spin_for(drained).is_none() {
                while drained().is_none() {
                    std::thread::yield_now();
                }
            }
        }
        let cost = started.elapsed();
        let inhibit = (cost * 9).max(MIN_INHIBIT);
        let until = (started + inhibit).duration_since(self.epoch).as_nanos() as u64;
        self.inhibit_until_ns.store(until, Ordering::Relaxed);
    }

    /// Slow path, lock held shared, bias off: turn the bias back on once the inhibition
    /// window after the last revocation is over (the clock is read once per
    /// [`REBIAS_CHECK_EVERY`] slow reads of this thread).
    #[cold]
    fn maybe_rebias(&self) {
        let due = REBIAS_COUNTDOWN.with(|countdown| match countdown.get() {
            0 => {
                countdown.set(REBIAS_CHECK_EVERY);
                true
            }
            left => {
                countdown.set(left - 1);
                false
            }
        });
        if due {
            let now = self.epoch.elapsed().as_nanos() as u64;
            if now >= self.inhibit_until_ns.load(Ordering::Relaxed) {
                self.bias.store(true, Ordering::SeqCst);
            }
        }
    }

    /// Whether readers currently take the fast path (for tests and diagnostics).
    #[cfg(test)]
    pub(crate) fn is_biased(&self) -> bool {
        self.bias.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;

    #[test]
    fn reads_take_the_fast_path_until_a_write_revokes_the_bias() {
        let lock = BiasedRwLock::new(5u64);
        assert!(lock.is_biased());
        assert!(matches!(lock.read(), ReadGuard::Fast { .. }));
        *lock.write() += 1;
        assert!(!lock.is_biased());
        assert!(matches!(lock.read(), ReadGuard::Slow(_)));
        assert_eq!(*lock.read(), 6);
        // Re-enabled by a slow reader once the inhibition window has passed.
        std::thread::sleep(MIN_INHIBIT * 3);
        for _ in 0..=REBIAS_CHECK_EVERY {
            drop(lock.read());
        }
        assert!(lock.is_biased());
        assert_eq!(*lock.read(), 6);
    }

    /// Writers keep a two-word invariant (both words equal) that readers check; readers
    /// on the fast and the slow path race writers that revoke the bias, for a bounded time.
    #[test]
    fn readers_never_see_a_half_done_write() {
        let lock = BiasedRwLock::new((0u64, 0u64));
        let stop = AtomicBool::new(false);
        let deadline = Instant::now() + Duration::from_millis(600);
        std::thread::scope(|scope| {
            for _ in 0..3 {
                scope.spawn(|| {
                    let mut last = 0;
                    while !stop.load(Ordering::Relaxed) {
                        let guard = lock.read();
                        let (a, b) = *guard;
                        assert_eq!(a, b, "torn read");
                        assert!(a >= last, "went backwards");
                        last = a;
                    }
                });
            }
            scope.spawn(|| {
                let mut writes = 0u64;
                while Instant::now() < deadline {
                    {
                        let mut guard = lock.write();
                        guard.0 += 1;
                        std::hint::spin_loop();
                        guard.1 += 1;
                    }
                    writes += 1;
                    // Let the bias come back now and then, so revocations happen.
                    if writes.is_multiple_of(64) {
                        std::thread::sleep(MIN_INHIBIT * 2);
                    }
                }
                stop.store(true, Ordering::Relaxed);
            });
        });
        let (a, b) = *lock.read();
        assert_eq!(a, b);
    }

    /// Holds far longer than the spin: both sides fall back to the `RwLock`'s wait and
    /// get the lock as soon as it is released.
    #[test]
    fn long_holds_outlast_the_spin_on_both_sides() {
        let hold = SPIN_FOR * 500;
        let lock = BiasedRwLock::new(0u64);
        *lock.write() += 1; // bias off: readers take the `RwLock`
        let released = AtomicBool::new(false);
        std::thread::scope(|scope| {
            let guard = lock.read();
            let writer = scope.spawn(|| {
                *lock.write() += 1;
                released.load(Ordering::SeqCst)
            });
            std::thread::sleep(hold);
            released.store(true, Ordering::SeqCst);
            drop(guard);
            assert!(
                writer.join().unwrap(),
                "the writer got in only after the reader left"
            );
        });
        std::thread::scope(|scope| {
            let mut guard = lock.write();
            let reader = scope.spawn(|| *lock.read());
            std::thread::sleep(hold);
            *guard += 1;
            drop(guard);
            assert_eq!(reader.join().unwrap(), 3, "the reader waited for the write");
        });
    }

    /// Readers re-taking the lock back to back on the slow path do not keep a writer out
    /// (new readers hold off while it spins), and writers do not keep readers out.
    #[test]
    fn neither_side_starves_the_other() {
        let lock = BiasedRwLock::new(0u64);
        let stop = AtomicBool::new(false);
        let deadline = Instant::now() + Duration::from_millis(300);
        let reads = AtomicU64::new(0);
        std::thread::scope(|scope| {
            for _ in 0..2 {
                scope.spawn(|| {
                    while !stop.load(Ordering::Relaxed) {
                        let guard = lock.read();
                        std::hint::black_box(*guard);
                        drop(guard);
                        reads.fetch_add(1, Ordering::Relaxed);
                    }
                });
            }
            let mut writes = 0u64;
            while Instant::now() < deadline {
                *lock.write() += 1;
                writes += 1;
            }
            stop.store(true, Ordering::Relaxed);
            assert!(writes >= 100, "{writes} writes in 300 ms");
        });
        assert!(reads.load(Ordering::Relaxed) >= 100, "readers got in");
        assert!(*lock.read() >= 100);
    }
}
