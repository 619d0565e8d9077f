//! Latency recording: an HDR histogram of nanoseconds (3 significant digits, so every
//! percentile is within 0.1% of the true value), summarised in microseconds.

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Longest latency recorded exactly: one hour. Longer ones saturate to it.
const MAX_LATENCY_NS: u64 = 3_600_000_000_000;

/// Latencies of one kind of operation, possibly from several threads (merge them).
#[derive(Debug, Clone)]
pub struct Latency {
    histogram: Histogram<u64>,
}

/// The percentiles a report shows, in microseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LatencySummary {
    pub count: u64,
    pub latency_us_mean: f64,
    pub latency_us_p50: f64,
    pub latency_us_p95: f64,
    pub latency_us_p99: f64,
    pub latency_us_max: f64,
}

impl Default for Latency {
    fn default() -> Latency {
        Latency::new()
    }
}

impl Latency {
    pub fn new() -> Latency {
        Latency {
            histogram: Histogram::new_with_bounds(1, MAX_LATENCY_NS, 3).expect(
                "bounds 1 ns..1 h with 3 significant digits are within hdrhistogram's limits",
            ),
        }
    }

    #[inline]
    pub fn record(&mut self, latency: Duration) {
        let ns = u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX);
        self.histogram
            .saturating_record(ns.clamp(1, MAX_LATENCY_NS));
    }

    /// Add every sample of `other`.
    pub fn merge(&mut self, other: &Latency) {
        self.histogram
            .add(&other.histogram)
            .expect("both histograms have the same bounds, so every sample of one fits the other");
    }

    pub fn count(&self) -> u64 {
        self.histogram.len()
    }

    pub fn summary(&self) -> LatencySummary {
        if self.histogram.is_empty() {
            return LatencySummary::default();
        }
        let us = |ns: u64| ns as f64 / 1000.0;
        LatencySummary {
            count: self.histogram.len(),
            latency_us_mean: self.histogram.mean() / 1000.0,
            latency_us_p50: us(self.histogram.value_at_quantile(0.50)),
            latency_us_p95: us(self.histogram.value_at_quantile(0.95)),
            latency_us_p99: us(self.histogram.value_at_quantile(0.99)),
            latency_us_max: us(self.histogram.max()),
        }
    }

    /// `(upper bound in µs, count, cumulative fraction)` per non-empty bucket of a
    /// log-linear iteration, for db_bench's `--histogram` output.
    pub fn buckets(&self) -> Vec<(f64, u64, f64)> {
        let total = self.histogram.len().max(1) as f64;
        let mut cumulative = 0u64;
        self.histogram
            .iter_log(1000, 2.0)
            .filter(|step| step.count_since_last_iteration() > 0)
            .map(|step| {
                cumulative += step.count_since_last_iteration();
                (
                    step.value_iterated_to() as f64 / 1000.0,
                    step.count_since_last_iteration(),
                    cumulative as f64 / total,
                )
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_of_a_known_sample() {
        let mut latency = Latency::new();
        for us in 1..=1000u64 {
            latency.record(Duration::from_micros(us));
        }
        let summary = latency.summary();
        assert_eq!(summary.count, 1000);
        assert!((summary.latency_us_p50 - 500.0).abs() < 1.0, "{summary:?}");
        assert!((summary.latency_us_p99 - 990.0).abs() < 2.0, "{summary:?}");
        assert!((summary.latency_us_max - 1000.0).abs() < 1.0, "{summary:?}");
        let mut other = Latency::new();
        other.record(Duration::from_secs(7200));
        latency.merge(&other);
        assert_eq!(latency.count(), 1001);
        assert!(latency.summary().latency_us_max >= 3.5e9);
        assert!(!latency.buckets().is_empty());
    }
}
