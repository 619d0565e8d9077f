//! Running one phase of a plan against a store, checking every answer against the
//! experiment's model of the keys ([`Population`]), and measuring it.
//!
//! Reads check what they get: a live key must be found and its value must carry the key;
//! a deleted or never-written key must be absent. A wrong answer is an anomaly, counted
//! in the report; the experiment fails after printing the phase.

use crate::cli::error::{CliError, CliResult};
use crate::cli::plan::{AccessDistribution, Phase, Plan};
use crate::cli::progress::Progress;
use crate::cli::report::PhaseReport;
use crate::cli::store::KvStore;
use crate::cli::workload::generators::ScrambledZipfian;
use crate::cli::workload::keys::Population;
use crate::cli::workload::runner::{Outcome, RunStats, Status, Timing, run_threads};
use crate::cli::workload::{make_value, value_matches};
use rand::Rng;
use rand::rngs::StdRng;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Operation kinds of the phases (indexes into the runner's per-kind histograms).
const KIND_READ: usize = 0;
const KIND_WRITE: usize = 1;

/// What a phase runs against.
pub struct PhaseContext<'a> {
    pub store: &'a mut dyn KvStore,
    pub population: &'a mut Population,
    pub plan: &'a Plan,
    pub show_progress: bool,
    /// Seeds of the phase's threads and key choices derive from it.
    pub rng: &'a mut StdRng,
}

/// Run phase `index` (1-based) of the plan.
pub fn run_phase(
    index: usize,
    phase: &Phase,
    ctx: &mut PhaseContext<'_>,
) -> CliResult<PhaseReport> {
    let seed: u64 = ctx.rng.r#gen();
    let plan = ctx.plan;
    let label = format!("{index} {}", phase.kind());
    let threads_or = |threads: &Option<usize>| threads.unwrap_or(plan.threads);
    let mut report = PhaseReport {
        index,
        kind: phase.kind().to_string(),
        threads: 1,
        ..PhaseReport::default()
    };
    let started = Instant::now();
    let stats: Option<RunStats> = match phase {
        Phase::Load {
            count,
            distribution,
            batch,
        } => {
            let count = count.unwrap_or(plan.keys);
            let batch = batch.unwrap_or(1);
            report.detail = format!("{count} keys, {distribution:?}, batch {batch}").to_lowercase();
            let keys = ctx.population.generate(*distribution, count, ctx.rng);
            let stats = load(
                &*ctx.store,
                &keys,
                batch,
                plan.value_size,
                seed,
                ctx.show_progress,
                &label,
            )?;
            report.ops = count;
            Some(stats)
        }
        Phase::Read {
            ops,
            distribution,
            miss_fraction,
            threads,
            batch,
        } => {
            let ops = ops.unwrap_or(plan.keys);
            report.threads = threads_or(threads);
            report.detail =
                format!("{distribution:?}, {:.0}% misses", miss_fraction * 100.0).to_lowercase();
            let mix = Mix {
                read_fraction: 1.0,
                miss_fraction: *miss_fraction,
                distribution: *distribution,
                version: 0,
            };
            let batch = batch.unwrap_or(1);
            if batch > 1 {
                report
                    .detail
                    .push_str(&format!(", multi_get of {batch} (latency per call)"));
            }
            Some(access(ctx, &mix, ops, report.threads, seed, &label, batch)?)
        }
        Phase::Write {
            ops,
            distribution,
            threads,
        } => {
            let ops = ops.unwrap_or(plan.keys);
            report.threads = threads_or(threads);
            report.detail = format!("{distribution:?} overwrites").to_lowercase();
            let mix = Mix {
                read_fraction: 0.0,
                miss_fraction: 0.0,
                distribution: *distribution,
                version: index as u64,
            };
            Some(access(ctx, &mix, ops, report.threads, seed, &label, 1)?)
        }
        Phase::Mixed {
            ops,
            read_fraction,
            distribution,
            threads,
        } => {
            let ops = ops.unwrap_or(plan.keys);
            report.threads = threads_or(threads);
            report.detail =
                format!("{distribution:?}, {:.0}% reads", read_fraction * 100.0).to_lowercase();
            let mix = Mix {
                read_fraction: *read_fraction,
                miss_fraction: 0.0,
                distribution: *distribution,
                version: index as u64,
            };
            Some(access(ctx, &mix, ops, report.threads, seed, &label, 1)?)
        }
        Phase::Delete { fraction, pattern } => {
            let count = (ctx.population.live.len() as f64 * fraction).round() as usize;
            report.detail =
                format!("{:.0}% {pattern:?}, {count} keys", fraction * 100.0).to_lowercase();
            let victims = ctx.population.take_victims(*pattern, count, ctx.rng);
            report.ops = victims.len() as u64;
            Some(delete(
                &*ctx.store,
                &victims,
                seed,
                ctx.show_progress,
                &label,
            )?)
        }
        Phase::Scan {
            ops,
            length,
            threads,
        } => {
            let length = length.unwrap_or(100);
            let ops = ops.unwrap_or((plan.keys / length as u64).max(1));
            report.threads = threads_or(threads);
            report.detail = format!("{length} keys per scan");
            Some(scan(ctx, ops, length, report.threads, seed, &label)?)
        }
        Phase::Compact {} => {
            let progress = Progress::start(ctx.show_progress, None, label);
            let summary = ctx
                .store
                .compact()
                .map_err(|error| CliError::store(format!("phase {index} (compact)"), error))?;
            progress.finish();
            report.note = format!(
                "{} segments -> {}, {:.1} MB reclaimed in {:.2} s",
                summary.segments_in,
                summary.segments_out,
                summary.bytes_reclaimed as f64 / 1e6,
                summary.duration.as_secs_f64()
            );
            None
        }
        Phase::Checkpoint {} => {
            let progress = Progress::start(ctx.show_progress, None, label);
            ctx.store
                .checkpoint()
                .map_err(|error| CliError::store(format!("phase {index} (checkpoint)"), error))?;
            progress.finish();
            None
        }
        Phase::Reopen {} => {
            let progress = Progress::start(ctx.show_progress, None, label);
            let recovery = ctx
                .store
                .reopen()
                .map_err(|error| CliError::store(format!("phase {index} (reopen)"), error))?;
            progress.finish();
            report.note = format!("opened (recovered) in {:.3} s", recovery.as_secs_f64());
            None
        }
        Phase::Wait { seconds } => {
            let progress = Progress::start(ctx.show_progress, None, label);
            std::thread::sleep(Duration::from_secs_f64(*seconds));
            progress.finish();
            report.detail = format!("{seconds} s");
            None
        }
    };
    let wall = started.elapsed();
    report.wall_s = wall.as_secs_f64();
    if let Some(stats) = stats {
        if report.ops == 0 {
            report.ops = stats.ops;
        }
        report.hits = stats.hits;
        report.misses = stats.misses;
        report.anomalies = stats.anomalies;
        report.ops_per_s = report.ops as f64 / stats.wall.as_secs_f64().max(1e-9);
        let latency = stats.latency.summary();
        report.latency_us_p50 = latency.latency_us_p50;
        report.latency_us_p99 = latency.latency_us_p99;
        report.latency_us_max = latency.latency_us_max;
        if let Some(first) = stats.first_anomaly {
            report.note = format!("{} anomalies, first: {first}", stats.anomalies);
        }
    }
    let store_stats = ctx.store.stats();
    report.keys = store_stats.keys;
    report.live_bytes = store_stats.live_bytes;
    report.dead_bytes = store_stats.dead_bytes;
    report.space_amplification = store_stats.space_amplification;
    report.segments = store_stats.segments;
    report.file_bytes = store_stats.file_bytes;
    report.index_bytes = store_stats.index_bytes;
    report.rss_bytes = rss_bytes();
    Ok(report)
}

fn store_error(label: &str) -> impl Fn(alexdb_engine::Error) -> CliError + '_ {
    move |error| CliError::store(format!("phase {label}"), error)
}

fn load(
    store: &dyn KvStore,
    keys: &[i64],
    batch: usize,
    value_size: usize,
    seed: u64,
    show_progress: bool,
    label: &str,
) -> CliResult<RunStats> {
    let chunks: Vec<&[i64]> = keys.chunks(batch).collect();
    let progress = Progress::start(show_progress, Some(chunks.len() as u64), label.to_string());
    let stats = run_threads(
        Timing::EveryOp,
        1,
        chunks.len() as u64,
        seed,
        progress.bar(),
        |_| {
            let chunks = &chunks;
            let mut next = 0usize;
            let mut values: Vec<Vec<u8>> = Vec::new();
            move |_rng: &mut StdRng| {
                let chunk = chunks[next];
                next += 1;
                if let [key] = chunk {
                    let mut value = values.pop().unwrap_or_default();
                    make_value(*key, 0, value_size, &mut value);
                    store.put(*key, &value).map_err(store_error(label))?;
                    values.push(value);
                } else {
                    values.resize_with(chunk.len(), Vec::new);
                    for (key, value) in chunk.iter().zip(values.iter_mut()) {
                        make_value(*key, 0, value_size, value);
                    }
                    let items: Vec<(i64, &[u8])> = chunk
                        .iter()
                        .copied()
                        .zip(values.iter().map(Vec::as_slice))
                        .collect();
                    store.put_batch(&items).map_err(store_error(label))?;
                }
                Ok(Outcome::new(KIND_WRITE, Status::Done))
            }
        },
    )?;
    progress.finish();
    Ok(stats)
}

/// Parameters of a read/write/mixed phase.
struct Mix {
    read_fraction: f64,
    miss_fraction: f64,
    distribution: AccessDistribution,
    version: u64,
}

/// Picks the keys of reads and writes as a phase's mix asks (uniform or zipfian over the
/// live keys; misses from the deleted keys, or fresh ones if none were deleted).
struct KeyPicker<'a> {
    population: &'a Population,
    distribution: AccessDistribution,
    miss_fraction: f64,
    zipfian: Option<ScrambledZipfian>,
}

impl<'a> KeyPicker<'a> {
    fn new(population: &'a Population, mix: &Mix) -> KeyPicker<'a> {
        let live = &population.live;
        KeyPicker {
            population,
            distribution: mix.distribution,
            miss_fraction: mix.miss_fraction,
            zipfian: (!live.is_empty()).then(|| ScrambledZipfian::new(0, live.len() as i64 - 1)),
        }
    }

    fn live(&mut self, rng: &mut StdRng) -> i64 {
        let live = &self.population.live;
        match (self.distribution, self.zipfian.as_mut()) {
            (AccessDistribution::Zipfian, Some(zipfian)) => live[zipfian.next(rng) as usize],
            _ => live[rng.gen_range(0..live.len())],
        }
    }

    /// A key to read, and whether it is meant to be missing.
    fn read(&mut self, rng: &mut StdRng) -> (i64, bool) {
        let population = self.population;
        let wants_miss = population.live.is_empty()
            || (self.miss_fraction > 0.0 && rng.r#gen::<f64>() < self.miss_fraction);
        if !wants_miss {
            return (self.live(rng), false);
        }
        let key = if population.deleted.is_empty() {
            population.fresh_key(rng)
        } else {
            population.deleted[rng.gen_range(0..population.deleted.len())]
        };
        (key, true)
    }
}

/// What a read of `key` should have found (`wants_miss`: nothing) against what it did.
fn read_status(key: i64, wants_miss: bool, found: Option<&[u8]>) -> Status {
    match (wants_miss, found) {
        (false, Some(value)) if value_matches(key, value) => Status::Hit,
        (false, Some(_)) => Status::Anomaly(format!("key {key} returned a value of another key")),
        (false, None) => Status::Anomaly(format!("live key {key} not found")),
        (true, None) => Status::Miss,
        (true, Some(_)) => Status::Anomaly(format!("deleted or never written key {key} found")),
    }
}

/// Reads and writes as `mix` asks, `ops` in all; with `batch` > 1 (read phases only) the
/// reads are asked `batch` keys per `KvStore::multi_get` call, each key checked as a
/// single `get` is, and the returned stats count keys while the latency histogram holds
/// one sample per call.
fn access(
    ctx: &PhaseContext<'_>,
    mix: &Mix,
    ops: u64,
    threads: usize,
    seed: u64,
    label: &str,
    batch: usize,
) -> CliResult<RunStats> {
    let store: &dyn KvStore = &*ctx.store;
    let population: &Population = ctx.population;
    let value_size = ctx.plan.value_size;
    let calls = ops.div_ceil(batch as u64);
    let progress = Progress::start(ctx.show_progress, Some(calls), label.to_string());
    let batch_hits = AtomicU64::new(0);
    let mut stats = run_threads(
        Timing::EveryOp,
        threads,
        calls,
        seed,
        progress.bar(),
        |_| {
            let mut picker = KeyPicker::new(population, mix);
            let mut buffer = Vec::with_capacity(value_size);
            let mut keys = Vec::with_capacity(batch);
            let batch_hits = &batch_hits;
            move |rng: &mut StdRng| {
                if batch > 1 {
                    let (status, hits) = batched_read(store, &mut picker, &mut keys, batch, rng)
                        .map_err(store_error(label))?;
                    batch_hits.fetch_add(hits, Ordering::Relaxed);
                    return Ok(Outcome::new(KIND_READ, status));
                }
                let is_read = mix.read_fraction >= 1.0 || rng.r#gen::<f64>() < mix.read_fraction;
                if is_read {
                    let (key, wants_miss) = picker.read(rng);
                    let found = store.get(key, &mut buffer).map_err(store_error(label))?;
                    let status = read_status(key, wants_miss, found.then_some(&buffer[..]));
                    Ok(Outcome::new(KIND_READ, status))
                } else {
                    if population.live.is_empty() {
                        return Err(CliError::Usage(format!(
                            "phase {label}: nothing to overwrite (load keys first)"
                        )));
                    }
                    let key = picker.live(rng);
                    make_value(key, mix.version, value_size, &mut buffer);
                    store.put(key, &buffer).map_err(store_error(label))?;
                    Ok(Outcome::new(KIND_WRITE, Status::Done))
                }
            }
        },
    )?;
    progress.finish();
    if batch > 1 {
        stats.ops = calls * batch as u64;
        stats.hits = batch_hits.into_inner();
        stats.misses = stats.ops - stats.hits;
    }
    Ok(stats)
}

/// One `multi_get` of `batch` keys picked by `picker`: the call's status (its first
/// anomaly, if any) and how many keys were found as expected.
fn batched_read(
    store: &dyn KvStore,
    picker: &mut KeyPicker<'_>,
    keys: &mut Vec<(i64, bool)>,
    batch: usize,
    rng: &mut StdRng,
) -> alexdb_engine::Result<(Status, u64)> {
    keys.clear();
    keys.extend((0..batch).map(|_| picker.read(rng)));
    let asked: Vec<i64> = keys.iter().map(|&(key, _)| key).collect();
    let mut status = Status::Hit;
    let mut hits = 0u64;
    store.multi_get(&asked, &mut |i, value| {
        let (key, wants_miss) = keys[i];
        match read_status(key, wants_miss, value) {
            Status::Hit => hits += 1,
            Status::Anomaly(message) if !matches!(status, Status::Anomaly(_)) => {
                status = Status::Anomaly(message);
            }
            _ => {}
        }
    })?;
    Ok((status, hits))
}

fn delete(
    store: &dyn KvStore,
    victims: &[i64],
    seed: u64,
    show_progress: bool,
    label: &str,
) -> CliResult<RunStats> {
    let progress = Progress::start(show_progress, Some(victims.len() as u64), label.to_string());
    let stats = run_threads(
        Timing::EveryOp,
        1,
        victims.len() as u64,
        seed,
        progress.bar(),
        |_| {
            let mut next = 0usize;
            move |_rng: &mut StdRng| {
                let key = victims[next];
                next += 1;
                let existed = store.delete(key).map_err(store_error(label))?;
                let status = if existed {
                    Status::Done
                } else {
                    Status::Anomaly(format!("deleting live key {key} found nothing"))
                };
                Ok(Outcome::new(KIND_WRITE, status))
            }
        },
    )?;
    progress.finish();
    Ok(stats)
}

fn scan(
    ctx: &PhaseContext<'_>,
    ops: u64,
    length: usize,
    threads: usize,
    seed: u64,
    label: &str,
) -> CliResult<RunStats> {
    let store: &dyn KvStore = &*ctx.store;
    let live = &ctx.population.live;
    if live.is_empty() {
        return Err(CliError::Usage(format!(
            "phase {label}: nothing to scan (load keys first)"
        )));
    }
    let progress = Progress::start(ctx.show_progress, Some(ops), label.to_string());
    let stats = run_threads(Timing::EveryOp, threads, ops, seed, progress.bar(), |_| {
        move |rng: &mut StdRng| {
            let start = live[rng.gen_range(0..live.len())];
            let mut previous: Option<i64> = None;
            let mut problem: Option<String> = None;
            let seen = store
                .scan(start, length, &mut |key, value| {
                    let in_order = previous.is_none_or(|previous| key > previous) && key >= start;
                    if problem.is_none() && (!in_order || !value_matches(key, value)) {
                        problem = Some(format!(
                            "scan from {start}: key {key} out of order or with a foreign value"
                        ));
                    }
                    if previous.is_none() && key != start {
                        problem = Some(format!("scan from live key {start} began at {key}"));
                    }
                    previous = Some(key);
                })
                .map_err(store_error(label))?;
            let status = match problem {
                Some(problem) => Status::Anomaly(problem),
                None if seen == 0 => {
                    Status::Anomaly(format!("scan from live key {start} returned nothing"))
                }
                None => Status::Done,
            };
            Ok(Outcome::new(KIND_READ, status))
        }
    })?;
    progress.finish();
    Ok(stats)
}

/// Resident set size of this process (`VmRSS` of `/proc/self/status`), 0 where unknown.
pub fn rss_bytes() -> u64 {
    let Ok(status) = std::fs::read_to_string("/proc/self/status") else {
        return 0;
    };
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| {
            rest.trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<u64>()
                .ok()
        })
        .map(|kib| kib * 1024)
        .unwrap_or(0)
}
