//! Metrics cheap enough to leave on: per operation kind, a count, an error count and a
//! latency histogram.
//!
//! The histogram is log-linear: values below 64 ns have a bucket each; above, every
//! power of two is split into 64 equal sub-buckets, so a reported percentile is within
//! 1/64 (1.6%) of the true value of the recorded samples. Buckets are relaxed atomic
//! counters: recording never blocks and never allocates.
//!
//! Counters are striped over cache-line-padded slots, one owned by each metering thread
//! (up to 15; more share a last one), so threads do not bounce one cache line between
//! cores and the owner adds without a locked instruction. `get` latencies are *sampled* (one call in
//! [`GET_SAMPLE_EVERY`] per thread is timed) because two clock reads would cost more than
//! a lookup; counts are exact. All other operations are timed every time.
//!
//! A metered `get` reads and writes one thread-local word (stripe and sampling tick
//! packed together) and adds to its stripe of an array indexed by kind: 1.9–2.8 ns per
//! call (`metering_cost_per_call`), down from 10.7 ns with a 24-byte thread-local struct
//! and a `Vec` of kinds (docs/PERFORMANCE.md, session 8).

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// One `get` in this many (per thread) is timed.
pub const GET_SAMPLE_EVERY: u32 = 256;

/// Kinds of operations measured.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OpKind {
    Get,
    /// One `multi_get` call (whatever its number of keys).
    MultiGet,
    Insert,
    Delete,
    Batch,
    Scan,
    /// Every write that went through the log (insert, delete, batch), timed from entry
    /// into the commit queue to acknowledgement.
    Commit,
    CatchUp,
}

impl OpKind {
    pub const ALL: [OpKind; 8] = [
        OpKind::Get,
        OpKind::MultiGet,
        OpKind::Insert,
        OpKind::Delete,
        OpKind::Batch,
        OpKind::Scan,
        OpKind::Commit,
        OpKind::CatchUp,
    ];

    pub fn name(self) -> &'static str {
        match self {
            OpKind::Get => "get",
            OpKind::MultiGet => "multi_get",
            OpKind::Insert => "insert",
            OpKind::Delete => "delete",
            OpKind::Batch => "batch",
            OpKind::Scan => "scan",
            OpKind::Commit => "commit",
            OpKind::CatchUp => "catch_up",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

const STRIPES: usize = 16;
const SUB_BUCKET_BITS: u32 = 6;
const SUB_BUCKETS: u64 = 1 << SUB_BUCKET_BITS;
/// Buckets for every u64 value: 64 exact ones, then 64 per power of two from 2^6 to 2^63.
const BUCKETS: usize = ((64 - SUB_BUCKET_BITS + 1) as usize) * SUB_BUCKETS as usize;

/// One stripe on its own *pair* of cache lines: the adjacent-line prefetcher fetches
/// 64-byte lines in 128-byte pairs, so two threads adding to neighbouring 64-byte stripes
/// still passed lines between their cores. Which stripes two threads hold depends on the
/// order earlier threads gave theirs back, so it showed as a bimodal slowdown: the peer
/// comparison's `readrandom` at 2 threads ran at 3.5–3.7 M gets/s in some processes and
/// 5.8–6.5 M/s in others; aligned to 128 bytes, 5.8–6.3 M/s in three runs of three.
#[repr(align(128))]
#[derive(Debug, Default)]
struct PaddedCounter(AtomicU64);
const _: () = assert!(
    std::mem::size_of::<PaddedCounter>() == 128,
    "one stripe per 128-byte pair of lines"
);

/// A counter split over cache lines; reads sum the stripes.
#[derive(Debug, Default)]
struct StripedCounter {
    stripes: [PaddedCounter; STRIPES],
}

/// Which counter stripe a thread writes. Each of the first `STRIPES - 1` stripes has at
/// most one owner thread at a time (in every `Metrics`: ownership is process-wide), which
/// adds with a plain load and store — no locked read-modify-write on the hot path. When
/// more threads than that are metering, the extra ones share the last stripe with
/// `fetch_add`. A thread gives its stripe back when it exits.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Stripe {
    index: usize,
    owned: bool,
}

const SHARED_STRIPE: usize = STRIPES - 1;
const _: () = assert!(
    STRIPES <= SLOT_INDEX_MASK as usize + 1,
    "a stripe index fits in the slot word"
);

/// Per-thread metering state packed into one word, so that an operation reads and writes
/// one thread-local `u64`: the stripe index (bits 0–7), whether this thread owns it (bit
/// 8), whether a stripe was claimed at all (bit 9; 0 until the thread's first operation),
/// and how many `get`s the thread has started, for sampling (bits 32–63).
const SLOT_INDEX_MASK: u64 = 0xff;
const SLOT_OWNED: u64 = 1 << 8;
const SLOT_CLAIMED: u64 = 1 << 9;
const SLOT_TICK_SHIFT: u32 = 32;

thread_local! {
    static SLOT: Cell<u64> = const { Cell::new(0) };
    /// Returns an owned stripe to the pool when the thread exits.
    static OWNERSHIP: StripeOwnership = const { StripeOwnership(Cell::new(None)) };
}

/// Stripes released by exited threads, and the next never-used one.
static FREE_STRIPES: Mutex<Vec<usize>> = Mutex::new(Vec::new());
static NEXT_STRIPE: AtomicUsize = AtomicUsize::new(0);

struct StripeOwnership(Cell<Option<usize>>);

impl Drop for StripeOwnership {
    fn drop(&mut self) {
        if let Some(index) = self.0.get() {
            // The owner's last plain stores happen before the next owner's first load:
            // the mutex orders them.
            FREE_STRIPES
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(index);
        }
    }
}

/// Take an owned stripe if one is free, else the shared one.
#[cold]
fn claim_stripe() -> Stripe {
    let reused = FREE_STRIPES
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .pop();
    let index = reused.or_else(|| {
        NEXT_STRIPE
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |next| {
                (next < SHARED_STRIPE).then_some(next + 1)
            })
            .ok()
    });
    match index {
        // `try_with` fails only while the thread is being torn down; then the stripe
        // is not registered for return, and that thread uses the shared one instead.
        Some(index) if OWNERSHIP.try_with(|o| o.0.set(Some(index))).is_ok() => {
            Stripe { index, owned: true }
        }
        Some(index) => {
            FREE_STRIPES
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(index);
            Stripe {
                index: SHARED_STRIPE,
                owned: false,
            }
        }
        None => Stripe {
            index: SHARED_STRIPE,
            owned: false,
        },
    }
}

/// This thread's stripe, and (when `tick_get`) whether this `get` is to be timed.
#[inline]
fn thread_slot(tick_get: bool) -> (Stripe, bool) {
    SLOT.with(|cell| {
        let mut slot = cell.get();
        if slot & SLOT_CLAIMED == 0 {
            slot = claimed_slot();
            cell.set(slot);
        }
        let mut timed = false;
        if tick_get {
            slot = slot.wrapping_add(1 << SLOT_TICK_SHIFT);
            timed = ((slot >> SLOT_TICK_SHIFT) as u32).is_multiple_of(GET_SAMPLE_EVERY);
            cell.set(slot);
        }
        let stripe = Stripe {
            index: (slot & SLOT_INDEX_MASK) as usize,
            owned: slot & SLOT_OWNED != 0,
        };
        (stripe, timed)
    })
}

/// The packed slot of a thread's first operation (see `SLOT`).
#[cold]
fn claimed_slot() -> u64 {
    let stripe = claim_stripe();
    stripe.index as u64 | if stripe.owned { SLOT_OWNED } else { 0 } | SLOT_CLAIMED
}

impl StripedCounter {
    #[inline]
    fn add(&self, stripe: Stripe, value: u64) {
        let counter = &self.stripes[stripe.index].0;
        if stripe.owned {
            // Only this thread writes an owned stripe (see `Stripe`), so a plain load
            // and store cannot lose another writer's addition.
            counter.store(
                counter.load(Ordering::Relaxed).wrapping_add(value),
                Ordering::Relaxed,
            );
        } else {
            counter.fetch_add(value, Ordering::Relaxed);
        }
    }

    fn sum(&self) -> u64 {
        self.stripes
            .iter()
            .map(|s| s.0.load(Ordering::Relaxed))
            .sum()
    }
}

/// A lock-free log-linear histogram of nanoseconds.
#[derive(Debug)]
pub struct Histogram {
    buckets: Box<[AtomicU64]>,
    max: AtomicU64,
    sum: AtomicU64,
}

impl Default for Histogram {
    fn default() -> Histogram {
        Histogram {
            buckets: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
            max: AtomicU64::new(0),
            sum: AtomicU64::new(0),
        }
    }
}

/// Bucket of a value.
fn bucket_of(value: u64) -> usize {
    if value < SUB_BUCKETS {
        return value as usize;
    }
    let exponent = 63 - value.leading_zeros(); // >= SUB_BUCKET_BITS
    let shift = exponent - SUB_BUCKET_BITS;
    let mantissa = (value >> shift) & (SUB_BUCKETS - 1);
    ((shift as u64 + 1) * SUB_BUCKETS + mantissa) as usize
}

/// Midpoint of a bucket (the value reported for samples in it).
fn bucket_value(bucket: usize) -> u64 {
    let bucket = bucket as u64;
    if bucket < SUB_BUCKETS {
        return bucket;
    }
    let shift = bucket / SUB_BUCKETS - 1;
    let mantissa = bucket % SUB_BUCKETS;
    let low = (SUB_BUCKETS + mantissa) << shift;
    let width = 1u64 << shift;
    low + width / 2
}

impl Histogram {
    #[inline]
    pub fn record(&self, nanos: u64) {
        self.buckets[bucket_of(nanos)].fetch_add(1, Ordering::Relaxed);
        self.max.fetch_max(nanos, Ordering::Relaxed);
        self.sum.fetch_add(nanos, Ordering::Relaxed);
    }

    /// Counts per bucket, total, max and sum, read without stopping writers.
    pub fn snapshot(&self) -> LatencySummary {
        let counts: Vec<u64> = self
            .buckets
            .iter()
            .map(|b| b.load(Ordering::Relaxed))
            .collect();
        let samples: u64 = counts.iter().sum();
        let percentile = |fraction: f64| -> u64 {
            if samples == 0 {
                return 0;
            }
            let rank = ((samples as f64 * fraction).ceil() as u64).clamp(1, samples);
            let mut seen = 0;
            for (bucket, count) in counts.iter().enumerate() {
                seen += count;
                if seen >= rank {
                    return bucket_value(bucket);
                }
            }
            bucket_value(BUCKETS - 1)
        };
        let max_ns = self.max.load(Ordering::Relaxed);
        LatencySummary {
            samples,
            mean_ns: if samples == 0 {
                0.0
            } else {
                self.sum.load(Ordering::Relaxed) as f64 / samples as f64
            },
            p50_ns: percentile(0.50).min(max_ns),
            p95_ns: percentile(0.95).min(max_ns),
            p99_ns: percentile(0.99).min(max_ns),
            max_ns,
        }
    }
}

/// Percentiles of one histogram (nanoseconds; each within 1.6% of the recorded value).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct LatencySummary {
    pub samples: u64,
    pub mean_ns: f64,
    pub p50_ns: u64,
    pub p95_ns: u64,
    pub p99_ns: u64,
    pub max_ns: u64,
}

#[derive(Debug, Default)]
struct OpMetrics {
    count: StripedCounter,
    errors: StripedCounter,
    latency: Histogram,
}

/// All metrics of one store handle (shared by its clones).
#[derive(Debug)]
pub struct Metrics {
    /// Indexed by `OpKind::index` (an array, not a `Vec`: one pointer less per call).
    ops: [OpMetrics; OpKind::ALL.len()],
    started: Instant,
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics {
            ops: std::array::from_fn(|_| OpMetrics::default()),
            started: Instant::now(),
        }
    }
}

/// A running measurement; finish it with [`Metrics::finish`].
#[derive(Debug)]
pub struct Timer {
    kind: OpKind,
    stripe: Stripe,
    started: Option<Instant>,
}

impl Metrics {
    /// Start measuring one operation (`get` is timed only one call in
    /// [`GET_SAMPLE_EVERY`]).
    #[inline]
    pub fn start(&self, kind: OpKind) -> Timer {
        let is_get = kind == OpKind::Get;
        let (stripe, sampled) = thread_slot(is_get);
        Timer {
            kind,
            stripe,
            started: (!is_get || sampled).then(Instant::now),
        }
    }

    /// Count the operation, its error if any, and its latency if it was timed.
    #[inline]
    pub fn finish<T, E>(&self, timer: Timer, outcome: &Result<T, E>) {
        let op = &self.ops[timer.kind.index()];
        op.count.add(timer.stripe, 1);
        if outcome.is_err() {
            op.errors.add(timer.stripe, 1);
        }
        if let Some(started) = timer.started {
            op.latency.record(started.elapsed().as_nanos() as u64);
        }
    }

    pub fn snapshot(&self) -> MetricsSnapshot {
        MetricsSnapshot {
            uptime: self.started.elapsed(),
            ops: OpKind::ALL
                .iter()
                .map(|kind| {
                    let op = &self.ops[kind.index()];
                    OpSnapshot {
                        kind: *kind,
                        count: op.count.sum(),
                        errors: op.errors.sum(),
                        latency: op.latency.snapshot(),
                    }
                })
                .collect(),
        }
    }
}

/// One operation kind's figures.
#[derive(Clone, Debug, PartialEq)]
pub struct OpSnapshot {
    pub kind: OpKind,
    pub count: u64,
    pub errors: u64,
    pub latency: LatencySummary,
}

/// Every operation kind's figures at one moment.
#[derive(Clone, Debug, PartialEq)]
pub struct MetricsSnapshot {
    pub uptime: Duration,
    pub ops: Vec<OpSnapshot>,
}

impl MetricsSnapshot {
    pub fn op(&self, kind: OpKind) -> &OpSnapshot {
        self.ops
            .iter()
            .find(|op| op.kind == kind)
            .expect("snapshots hold every kind")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_values_are_within_two_percent() {
        for value in
            (0..20_000u64).chain((1..60).map(|shift| (1u64 << shift) + 12345 % (1 << shift)))
        {
            let reported = bucket_value(bucket_of(value)) as f64;
            let error = (reported - value as f64).abs() / (value as f64).max(1.0);
            assert!(error <= 1.0 / 64.0, "value {value} reported as {reported}");
        }
        assert!(bucket_of(u64::MAX) < BUCKETS);
    }

    #[test]
    fn percentiles_of_a_known_distribution() {
        let histogram = Histogram::default();
        for value in 1..=10_000u64 {
            histogram.record(value * 1000);
        }
        let summary = histogram.snapshot();
        assert_eq!(summary.samples, 10_000);
        for (reported, exact) in [(summary.p50_ns, 5_000_000.0), (summary.p99_ns, 9_900_000.0)] {
            assert!(
                (reported as f64 - exact).abs() / exact <= 0.02,
                "{reported} vs {exact}"
            );
        }
        assert_eq!(summary.max_ns, 10_000_000);
    }

    #[test]
    fn counts_are_exact_across_threads() {
        let metrics = Metrics::default();
        std::thread::scope(|scope| {
            for _ in 0..4 {
                scope.spawn(|| {
                    for i in 0..10_000 {
                        let timer = metrics.start(OpKind::Get);
                        let outcome: Result<(), ()> = if i % 100 == 0 { Err(()) } else { Ok(()) };
                        metrics.finish(timer, &outcome);
                    }
                });
            }
        });
        let get = metrics.snapshot().op(OpKind::Get).clone();
        assert_eq!(get.count, 40_000);
        assert_eq!(get.errors, 400);
        // Each thread times every GET_SAMPLE_EVERY-th of its own calls.
        assert_eq!(
            get.latency.samples,
            4 * (10_000 / u64::from(GET_SAMPLE_EVERY))
        );
    }
}
