//! The YCSB core workloads A-F (Cooper et al., SoCC 2010; `workloads/workload[a-f]` of
//! the YCSB repository), with YCSB's generators and key scheme.
//!
//! | workload | operations                         | request distribution |
//! |----------|------------------------------------|----------------------|
//! | A        | 50% read, 50% update               | zipfian              |
//! | B        | 95% read, 5% update                | zipfian              |
//! | C        | 100% read                          | zipfian              |
//! | D        | 95% read, 5% insert                | latest               |
//! | E        | 95% scan (1..=100 keys), 5% insert | zipfian              |
//! | F        | 50% read, 50% read-modify-write    | zipfian              |
//!
//! Keys: record number `n` becomes key `fnv_hash64(n)` (YCSB's `CoreWorkload.buildKeyName`
//! with hashed inserts), so keys are scattered over the non-negative `i64`s. "zipfian"
//! is the scrambled zipfian over `0..records + 2 * expected inserts` (as YCSB sizes it),
//! re-drawn while it names a record not yet acknowledged. Values are one field of
//! `value_size` bytes (YCSB's default is ten fields of 100 bytes).

use crate::cli::error::{CliError, CliResult};
use crate::cli::histogram::LatencySummary;
use crate::cli::progress::Progress;
use crate::cli::store::KvStore;
use crate::cli::workload::generators::{
    AcknowledgedCounter, ScrambledZipfian, SkewedLatest, fnv_hash64,
};
use crate::cli::workload::runner::{Outcome, Status, Timing, run_threads};
use crate::cli::workload::{make_value, value_matches};
use rand::Rng;
use rand::rngs::StdRng;
use serde::Serialize;
use std::time::Instant;

/// The six core workloads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Workload {
    A,
    B,
    C,
    D,
    E,
    F,
}

/// How a workload picks existing records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum RequestDistribution {
    Zipfian,
    Latest,
    Uniform,
}

/// A workload's operation mix (fractions sum to 1).
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Proportions {
    pub read: f64,
    pub update: f64,
    pub insert: f64,
    pub scan: f64,
    pub read_modify_write: f64,
    pub distribution: RequestDistribution,
}

/// YCSB's `maxscanlength` default; scan lengths are uniform in `1..=MAX_SCAN_LENGTH`.
pub const MAX_SCAN_LENGTH: usize = 100;

/// Operation kinds, in report order.
const KIND_NAMES: [&str; 5] = ["READ", "UPDATE", "INSERT", "SCAN", "READ-MODIFY-WRITE"];
const READ: usize = 0;
const UPDATE: usize = 1;
const INSERT: usize = 2;
const SCAN: usize = 3;
const READ_MODIFY_WRITE: usize = 4;

impl Workload {
    pub fn proportions(self) -> Proportions {
        let mix = |read, update, insert, scan, read_modify_write, distribution| Proportions {
            read,
            update,
            insert,
            scan,
            read_modify_write,
            distribution,
        };
        match self {
            Workload::A => mix(0.5, 0.5, 0.0, 0.0, 0.0, RequestDistribution::Zipfian),
            Workload::B => mix(0.95, 0.05, 0.0, 0.0, 0.0, RequestDistribution::Zipfian),
            Workload::C => mix(1.0, 0.0, 0.0, 0.0, 0.0, RequestDistribution::Zipfian),
            Workload::D => mix(0.95, 0.0, 0.05, 0.0, 0.0, RequestDistribution::Latest),
            Workload::E => mix(0.0, 0.0, 0.05, 0.95, 0.0, RequestDistribution::Zipfian),
            Workload::F => mix(0.5, 0.0, 0.0, 0.0, 0.5, RequestDistribution::Zipfian),
        }
    }
}

impl Proportions {
    /// The operation kind for a uniform draw `u` in `[0, 1)`.
    fn choose(&self, u: f64) -> usize {
        let cumulative = [
            self.read,
            self.update,
            self.insert,
            self.scan,
            self.read_modify_write,
        ];
        let mut sum = 0.0;
        for (kind, share) in cumulative.iter().enumerate() {
            sum += share;
            if u < sum {
                return kind;
            }
        }
        // Rounding can leave u just above the sum: the last kind with a share.
        cumulative
            .iter()
            .rposition(|share| *share > 0.0)
            .unwrap_or(READ)
    }
}

/// Parameters of a run.
#[derive(Clone, Debug, Serialize)]
pub struct YcsbOptions {
    pub workload: Workload,
    pub records: u64,
    pub ops: u64,
    pub threads: usize,
    pub value_size: usize,
    pub seed: u64,
    /// Replaces the workload's request distribution (YCSB's `requestdistribution`).
    pub distribution: Option<RequestDistribution>,
}

/// One operation kind's results.
#[derive(Clone, Debug, Serialize)]
pub struct KindReport {
    pub operation: String,
    #[serde(flatten)]
    pub latency: LatencySummary,
}

/// Results of a load and run.
#[derive(Clone, Debug, Serialize)]
pub struct YcsbReport {
    pub store: String,
    pub options: YcsbOptions,
    pub proportions: Proportions,
    pub load_s: f64,
    pub load_ops_per_s: f64,
    pub run_s: f64,
    pub ops_per_s: f64,
    pub operations: Vec<KindReport>,
    pub anomalies: u64,
}

/// Load `records` records (in batches of 100, not timed per op), then run `ops`
/// operations of the workload on `threads` threads.
pub fn run(
    store: &dyn KvStore,
    options: &YcsbOptions,
    show_progress: bool,
) -> CliResult<YcsbReport> {
    assert!(options.records >= 1, "ycsb needs at least one record");
    let mut proportions = options.workload.proportions();
    if let Some(distribution) = options.distribution {
        proportions.distribution = distribution;
    }
    let load_started = Instant::now();
    let progress = Progress::start(
        show_progress,
        Some(options.records),
        "ycsb load".to_string(),
    );
    let mut values: Vec<Vec<u8>> = vec![Vec::new(); 100];
    let mut record: u64 = 0;
    while record < options.records {
        let end = (record + 100).min(options.records);
        let keys: Vec<i64> = (record..end).map(|n| fnv_hash64(n as i64)).collect();
        for (key, value) in keys.iter().zip(values.iter_mut()) {
            make_value(*key, 0, options.value_size, value);
        }
        let items: Vec<(i64, &[u8])> = keys
            .iter()
            .copied()
            .zip(values.iter().map(Vec::as_slice))
            .collect();
        store
            .put_batch(&items)
            .map_err(|error| CliError::store("ycsb load", error))?;
        progress.bar().inc(end - record);
        record = end;
    }
    progress.finish();
    let load_s = load_started.elapsed().as_secs_f64();

    let counter = AcknowledgedCounter::new(options.records as i64);
    let expected_inserts = (options.ops as f64 * proportions.insert * 2.0) as i64;
    let key_space_max = options.records as i64 + expected_inserts - 1;
    let label = format!("ycsb {:?}", options.workload).to_lowercase();
    let progress = Progress::start(show_progress, Some(options.ops), label.clone());
    let stats = run_threads(
        Timing::EveryOp,
        options.threads,
        options.ops,
        options.seed,
        progress.bar(),
        |_| {
            let counter = &counter;
            let mut zipfian = ScrambledZipfian::new(0, key_space_max);
            let mut latest = SkewedLatest::new(counter.last());
            let mut buffer = Vec::with_capacity(options.value_size);
            let mut value = Vec::with_capacity(options.value_size);
            let value_size = options.value_size;
            let label = &label;
            move |rng: &mut StdRng| {
                let fail = |error| CliError::store(label.clone(), error);
                let mut next_keynum = |rng: &mut StdRng| -> i64 {
                    let last = counter.last();
                    match proportions.distribution {
                        RequestDistribution::Latest => latest.next(last, rng),
                        RequestDistribution::Uniform => rng.gen_range(0..=last),
                        RequestDistribution::Zipfian => loop {
                            let keynum = zipfian.next(rng);
                            if keynum <= last {
                                break keynum;
                            }
                        },
                    }
                };
                let kind = proportions.choose(rng.r#gen::<f64>());
                let status = match kind {
                    READ | READ_MODIFY_WRITE => {
                        let key = fnv_hash64(next_keynum(rng));
                        let found = store.get(key, &mut buffer).map_err(fail)?;
                        let mut status = match found {
                            true if value_matches(key, &buffer) => Status::Hit,
                            true => Status::Anomaly(format!(
                                "key {key} returned a value of another key"
                            )),
                            false => Status::Anomaly(format!("acknowledged key {key} not found")),
                        };
                        if kind == READ_MODIFY_WRITE && status == Status::Hit {
                            make_value(key, 1, value_size, &mut value);
                            store.put(key, &value).map_err(fail)?;
                            status = Status::Done;
                        }
                        status
                    }
                    UPDATE => {
                        let key = fnv_hash64(next_keynum(rng));
                        make_value(key, 1, value_size, &mut value);
                        store.put(key, &value).map_err(fail)?;
                        Status::Done
                    }
                    INSERT => {
                        let keynum = counter.next();
                        let key = fnv_hash64(keynum);
                        make_value(key, 0, value_size, &mut value);
                        store.put(key, &value).map_err(fail)?;
                        counter.ack(keynum);
                        Status::Done
                    }
                    SCAN => {
                        let start = fnv_hash64(next_keynum(rng));
                        let length = rng.gen_range(1..=MAX_SCAN_LENGTH);
                        let mut first: Option<i64> = None;
                        store
                            .scan(start, length, &mut |key, _value| {
                                first.get_or_insert(key);
                            })
                            .map_err(fail)?;
                        if first == Some(start) {
                            Status::Done
                        } else {
                            Status::Anomaly(format!(
                                "scan from acknowledged key {start} began at {first:?}"
                            ))
                        }
                    }
                    _ => unreachable!("Proportions::choose returns one of the five kinds"),
                };
                Ok(Outcome::new(kind, status))
            }
        },
    )?;
    progress.finish();
    let operations = stats
        .by_kind
        .iter()
        .zip(KIND_NAMES)
        .filter(|(latency, _)| latency.count() > 0)
        .map(|(latency, name)| KindReport {
            operation: name.to_string(),
            latency: latency.summary(),
        })
        .collect();
    let report = YcsbReport {
        store: store.name().to_string(),
        options: options.clone(),
        proportions,
        load_s,
        load_ops_per_s: options.records as f64 / load_s.max(1e-9),
        run_s: stats.wall.as_secs_f64(),
        ops_per_s: stats.ops_per_sec(),
        operations,
        anomalies: stats.anomalies,
    };
    if let Some(first) = stats.first_anomaly {
        return Err(CliError::Consistency(format!(
            "ycsb {:?}: {} anomalies, first: {first}",
            options.workload, stats.anomalies
        )));
    }
    Ok(report)
}

/// YCSB's text output (`[OVERALL], RunTime(ms), ...`).
pub fn render(report: &YcsbReport) -> String {
    let mut lines = vec![
        format!(
            "# workload {:?} on {}: {} records x {} B, {} ops, {} thread(s)",
            report.options.workload,
            report.store,
            report.options.records,
            report.options.value_size,
            report.options.ops,
            report.options.threads
        ),
        format!("[LOAD], RunTime(ms), {:.0}", report.load_s * 1000.0),
        format!("[LOAD], Throughput(ops/sec), {:.0}", report.load_ops_per_s),
        format!("[OVERALL], RunTime(ms), {:.0}", report.run_s * 1000.0),
        format!("[OVERALL], Throughput(ops/sec), {:.0}", report.ops_per_s),
    ];
    for kind in &report.operations {
        let name = &kind.operation;
        let latency = &kind.latency;
        lines.push(format!("[{name}], Operations, {}", latency.count));
        lines.push(format!(
            "[{name}], AverageLatency(us), {:.3}",
            latency.latency_us_mean
        ));
        lines.push(format!(
            "[{name}], 50thPercentileLatency(us), {:.3}",
            latency.latency_us_p50
        ));
        lines.push(format!(
            "[{name}], 95thPercentileLatency(us), {:.3}",
            latency.latency_us_p95
        ));
        lines.push(format!(
            "[{name}], 99thPercentileLatency(us), {:.3}",
            latency.latency_us_p99
        ));
        lines.push(format!(
            "[{name}], MaxLatency(us), {:.3}",
            latency.latency_us_max
        ));
        lines.push(format!("[{name}], Return=OK, {}", latency.count));
    }
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::store::BTreeStore;

    #[test]
    fn proportions_sum_to_one_and_choose_all_kinds() {
        for workload in [
            Workload::A,
            Workload::B,
            Workload::C,
            Workload::D,
            Workload::E,
            Workload::F,
        ] {
            let p = workload.proportions();
            let sum = p.read + p.update + p.insert + p.scan + p.read_modify_write;
            assert!((sum - 1.0).abs() < 1e-9, "{workload:?}");
        }
        let e = Workload::E.proportions();
        assert_eq!(e.choose(0.0), INSERT);
        assert_eq!(e.choose(0.06), SCAN);
        assert_eq!(e.choose(0.999_999_999_999), SCAN);
        assert_eq!(Workload::F.proportions().choose(0.7), READ_MODIFY_WRITE);
    }

    #[test]
    fn every_workload_runs_small_without_anomalies() {
        for workload in [
            Workload::A,
            Workload::B,
            Workload::C,
            Workload::D,
            Workload::E,
            Workload::F,
        ] {
            let store = BTreeStore::default();
            let options = YcsbOptions {
                workload,
                records: 2000,
                ops: 4000,
                threads: 2,
                value_size: 32,
                seed: 1,
                distribution: None,
            };
            let report = run(&store, &options, false).unwrap();
            let total: u64 = report
                .operations
                .iter()
                .map(|kind| kind.latency.count)
                .sum();
            assert_eq!(total, 4000, "{workload:?}");
            assert_eq!(report.anomalies, 0);
            if workload == Workload::D {
                let inserts = report
                    .operations
                    .iter()
                    .find(|kind| kind.operation == "INSERT")
                    .unwrap();
                assert!(
                    inserts.latency.count > 100 && inserts.latency.count < 350,
                    "{inserts:?}"
                );
                assert!(store.stats().keys > 2100);
            }
            assert!(render(&report).contains("[OVERALL], Throughput(ops/sec)"));
        }
        let store = BTreeStore::default();
        let options = YcsbOptions {
            workload: Workload::B,
            records: 1000,
            ops: 2000,
            threads: 1,
            value_size: 8,
            seed: 2,
            distribution: Some(RequestDistribution::Uniform),
        };
        assert_eq!(
            run(&store, &options, false)
                .unwrap()
                .proportions
                .distribution,
            RequestDistribution::Uniform
        );
    }
}
