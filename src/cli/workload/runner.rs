//! Runs a number of operations on several threads, timing each one.
//!
//! Each thread builds its own worker (its own buffers and generators) from a shared
//! factory and its own seeded RNG, so a run is reproducible per thread. Latencies go into
//! one histogram per operation kind per thread, merged at the end.

use crate::cli::error::{CliError, CliResult};
use crate::cli::histogram::Latency;
use indicatif::ProgressBar;
use rand::SeedableRng;
use rand::rngs::StdRng;
use std::time::{Duration, Instant};

/// Most distinct operation kinds one run can count (YCSB has 5).
pub const MAX_KINDS: usize = 8;
/// Threads advance the progress bar in steps of this many operations.
const PROGRESS_STEP: u64 = 1024;
/// Upper bound on threads (a limit on everything).
pub const MAX_THREADS: usize = 256;

/// What one operation found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Status {
    /// A read found its key.
    Hit,
    /// A read did not find its key, as expected for a miss.
    Miss,
    /// A write, scan or other operation completed.
    Done,
    /// The store answered something the model says is impossible (a live key missing,
    /// a deleted key present, a value of another key).
    Anomaly(String),
}

/// One operation's kind (an index below [`MAX_KINDS`]) and outcome.
#[derive(Clone, Debug)]
pub struct Outcome {
    pub kind: usize,
    pub status: Status,
}

impl Outcome {
    pub fn new(kind: usize, status: Status) -> Outcome {
        Outcome { kind, status }
    }
}

/// Totals of a run.
#[derive(Debug, Default)]
pub struct RunStats {
    pub ops: u64,
    pub hits: u64,
    pub misses: u64,
    pub anomalies: u64,
    pub first_anomaly: Option<String>,
    /// All operations.
    pub latency: Latency,
    /// Per kind.
    pub by_kind: Vec<Latency>,
    pub wall: Duration,
}

impl RunStats {
    fn new() -> RunStats {
        RunStats {
            by_kind: (0..MAX_KINDS).map(|_| Latency::new()).collect(),
            ..RunStats::default()
        }
    }

    fn absorb(&mut self, other: RunStats) {
        self.ops += other.ops;
        self.hits += other.hits;
        self.misses += other.misses;
        self.anomalies += other.anomalies;
        if self.first_anomaly.is_none() {
            self.first_anomaly = other.first_anomaly;
        }
        self.latency.merge(&other.latency);
        for (mine, theirs) in self.by_kind.iter_mut().zip(&other.by_kind) {
            mine.merge(theirs);
        }
    }

    /// Operations per second over the wall time.
    pub fn ops_per_sec(&self) -> f64 {
        let seconds = self.wall.as_secs_f64();
        if seconds > 0.0 {
            self.ops as f64 / seconds
        } else {
            0.0
        }
    }
}

/// Whether a run reads the clock around every operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Timing {
    /// Every operation is timed into the latency histograms (experiment phases, YCSB,
    /// db_bench with `--histogram`).
    EveryOp,
    /// Only the run's wall time (db_bench without `--histogram`, as LevelDB's db_bench
    /// does: it reads the clock per operation only for its histogram). Two clock reads
    /// per operation are not free: they keep a store's consecutive operations from
    /// overlapping their cache misses, and at 1M keys they cost alexdb's `readrandom`
    /// 2.32 → 1.43 M/s (1 thread; LMDB 0.72 → 0.70 M/s).
    WallOnly,
}

/// Run `total_ops` operations split over `threads` threads. `make_worker(thread)` builds
/// a thread's worker; the worker is called once per operation with the thread's RNG
/// (seeded from `seed` and the thread number). The first error stops the run. With
/// [`Timing::WallOnly`] the latency histograms stay empty.
pub fn run_threads<M, W>(
    timing: Timing,
    threads: usize,
    total_ops: u64,
    seed: u64,
    bar: &ProgressBar,
    make_worker: M,
) -> CliResult<RunStats>
where
    M: Fn(usize) -> W + Sync,
    W: FnMut(&mut StdRng) -> CliResult<Outcome>,
{
    let threads = threads.clamp(1, MAX_THREADS);
    let started = Instant::now();
    let results: Vec<CliResult<RunStats>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|thread| {
                let share = total_ops / threads as u64
                    + u64::from((thread as u64) < total_ops % threads as u64);
                let make_worker = &make_worker;
                scope.spawn(move || {
                    let mut worker = make_worker(thread);
                    let mut rng = StdRng::seed_from_u64(
                        seed ^ (thread as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15),
                    );
                    run_share(timing, share, &mut worker, &mut rng, bar)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|handle| {
                handle.join().unwrap_or_else(|_| {
                    Err(CliError::Other("a worker thread panicked".to_string()))
                })
            })
            .collect()
    });
    let mut total = RunStats::new();
    for result in results {
        total.absorb(result?);
    }
    total.wall = started.elapsed();
    Ok(total)
}

fn run_share<W>(
    timing: Timing,
    share: u64,
    worker: &mut W,
    rng: &mut StdRng,
    bar: &ProgressBar,
) -> CliResult<RunStats>
where
    W: FnMut(&mut StdRng) -> CliResult<Outcome>,
{
    let mut stats = RunStats::new();
    for done in 0..share {
        let outcome = match timing {
            Timing::EveryOp => {
                let started = Instant::now();
                let outcome = worker(rng)?;
                let latency = started.elapsed();
                assert!(
                    outcome.kind < MAX_KINDS,
                    "operation kind {} >= {MAX_KINDS}",
                    outcome.kind
                );
                stats.by_kind[outcome.kind].record(latency);
                outcome
            }
            Timing::WallOnly => worker(rng)?,
        };
        match outcome.status {
            Status::Hit => stats.hits += 1,
            Status::Miss => stats.misses += 1,
            Status::Done => {}
            Status::Anomaly(message) => {
                stats.anomalies += 1;
                if stats.first_anomaly.is_none() {
                    stats.first_anomaly = Some(message);
                }
            }
        }
        if (done + 1) % PROGRESS_STEP == 0 {
            bar.inc(PROGRESS_STEP);
        }
    }
    bar.inc(share % PROGRESS_STEP);
    stats.ops = share;
    // The all-operations histogram is the sum of the per-kind ones: built once here
    // rather than recorded into on every operation (one histogram update per timed
    // operation instead of two; the same samples either way).
    for kind in &stats.by_kind {
        stats.latency.merge(kind);
    }
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_ops_and_merges_counts() {
        let bar = ProgressBar::hidden();
        let stats = run_threads(Timing::EveryOp, 3, 1000, 9, &bar, |thread| {
            let mut count = 0u64;
            move |_rng: &mut StdRng| {
                count += 1;
                let status = if (count + thread as u64).is_multiple_of(2) {
                    Status::Hit
                } else {
                    Status::Miss
                };
                Ok(Outcome::new(thread % 2, status))
            }
        })
        .unwrap();
        assert_eq!(stats.ops, 1000);
        assert_eq!(stats.hits + stats.misses, 1000);
        assert_eq!(stats.latency.count(), 1000);
        assert_eq!(stats.by_kind[0].count() + stats.by_kind[1].count(), 1000);
        assert_eq!(bar.position(), 1000);
    }
}
