//! The keys an experiment has written: which are live (in insertion order, for
//! "delete the oldest"), which were deleted (the misses reads ask for), and the load
//! distributions that generate new ones.
//!
//! Invariant: `live` and `deleted` are disjoint and hold no duplicates; `used` is their
//! union plus nothing else, so a fresh key is one not in `used`.

use rand::Rng;
use rand::seq::SliceRandom;
use rand_distr::{Distribution, LogNormal, Zipf};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;

/// How a `load` phase draws its keys.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyDistribution {
    /// Uniform over all of `i64`.
    #[default]
    Uniform,
    /// `0, 1, 2, ...` continuing after the largest sequential key so far.
    Sequential,
    /// Log-normal (mu 0, sigma 2) scaled by 10^12: dense near zero, a long right tail.
    Lognormal,
    /// 1,000 random cluster centres chosen with Zipf(1.0) popularity; each key lies
    /// within 2^20 after its centre. Tight clusters with far-apart gaps.
    ZipfClustered,
}

/// How a `delete` phase chooses its victims.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeletePattern {
    /// Random live keys.
    #[default]
    Random,
    /// A contiguous run of live keys in key order, starting at a random position.
    Range,
    /// The live keys inserted first.
    Oldest,
}

const CLUSTERS: u64 = 1000;
const CLUSTER_WIDTH: i64 = 1 << 20;
const LOGNORMAL_SCALE: f64 = 1e12;

/// The experiment's model of what the store holds.
#[derive(Debug, Default)]
pub struct Population {
    /// Live keys in insertion order.
    pub live: Vec<i64>,
    /// Deleted keys (never written again by a plan).
    pub deleted: Vec<i64>,
    used: HashSet<i64>,
    next_sequential: i64,
    cluster_centres: Vec<i64>,
}

impl Population {
    pub fn new() -> Population {
        Population::default()
    }

    /// Draw `count` new distinct keys (never used before), append them to `live` and
    /// return them in generation order.
    pub fn generate(
        &mut self,
        distribution: KeyDistribution,
        count: u64,
        rng: &mut impl Rng,
    ) -> Vec<i64> {
        let mut keys = Vec::with_capacity(count as usize);
        let lognormal =
            LogNormal::new(0.0, 2.0).expect("mu 0, sigma 2 are valid log-normal parameters");
        let zipf =
            Zipf::new(CLUSTERS, 1.0).expect("1000 elements with exponent 1.0 is a valid Zipf");
        if distribution == KeyDistribution::ZipfClustered && self.cluster_centres.is_empty() {
            self.cluster_centres = (0..CLUSTERS)
                .map(|_| rng.gen_range(i64::MIN / 2..i64::MAX / 2))
                .collect();
        }
        // Bounded retries: each draw is fresh with overwhelming probability except for
        // the clustered distribution, whose clusters hold 2^20 keys each.
        let mut attempts: u64 = 0;
        let max_attempts = count.saturating_mul(100).max(1000);
        while (keys.len() as u64) < count {
            attempts += 1;
            assert!(
                attempts <= max_attempts,
                "could not draw {count} distinct {distribution:?} keys in {max_attempts} attempts"
            );
            let key = match distribution {
                KeyDistribution::Uniform => rng.r#gen::<i64>(),
                KeyDistribution::Sequential => {
                    let key = self.next_sequential;
                    self.next_sequential += 1;
                    key
                }
                KeyDistribution::Lognormal => {
                    let sample: f64 = lognormal.sample(rng) * LOGNORMAL_SCALE;
                    if sample >= i64::MAX as f64 {
                        i64::MAX
                    } else {
                        sample as i64
                    }
                }
                KeyDistribution::ZipfClustered => {
                    let cluster = zipf.sample(rng) as usize - 1;
                    self.cluster_centres[cluster] + rng.gen_range(0..CLUSTER_WIDTH)
                }
            };
            if self.used.insert(key) {
                keys.push(key);
            }
        }
        self.live.extend_from_slice(&keys);
        keys
    }

    /// Choose `count` live keys to delete by `pattern`, move them from `live` to
    /// `deleted`, and return them.
    pub fn take_victims(
        &mut self,
        pattern: DeletePattern,
        count: usize,
        rng: &mut impl Rng,
    ) -> Vec<i64> {
        let count = count.min(self.live.len());
        let victims: Vec<i64> = match pattern {
            DeletePattern::Random => self.live.choose_multiple(rng, count).copied().collect(),
            DeletePattern::Oldest => self.live[..count].to_vec(),
            DeletePattern::Range => {
                let mut sorted = self.live.clone();
                sorted.sort_unstable();
                let start = rng.gen_range(0..=sorted.len() - count);
                sorted[start..start + count].to_vec()
            }
        };
        let doomed: HashSet<i64> = victims.iter().copied().collect();
        self.live.retain(|key| !doomed.contains(key));
        self.deleted.extend_from_slice(&victims);
        victims
    }

    /// A key that was never written (for misses when nothing was deleted yet).
    pub fn fresh_key(&self, rng: &mut impl Rng) -> i64 {
        loop {
            let key = rng.r#gen::<i64>();
            if !self.used.contains(&key) {
                return key;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    #[test]
    fn every_distribution_gives_distinct_fresh_keys() {
        let mut rng = StdRng::seed_from_u64(1);
        let mut population = Population::new();
        for distribution in [
            KeyDistribution::Uniform,
            KeyDistribution::Sequential,
            KeyDistribution::Lognormal,
            KeyDistribution::ZipfClustered,
        ] {
            let keys = population.generate(distribution, 5000, &mut rng);
            assert_eq!(keys.len(), 5000);
        }
        let distinct: HashSet<i64> = population.live.iter().copied().collect();
        assert_eq!(distinct.len(), 20_000);
        let sequential = population.generate(KeyDistribution::Sequential, 3, &mut rng);
        assert_eq!(sequential, vec![5000, 5001, 5002]);
    }

    #[test]
    fn victims_follow_the_pattern() {
        let mut rng = StdRng::seed_from_u64(2);
        let mut population = Population::new();
        population.generate(KeyDistribution::Uniform, 1000, &mut rng);
        let first: Vec<i64> = population.live[..100].to_vec();
        assert_eq!(
            population.take_victims(DeletePattern::Oldest, 100, &mut rng),
            first
        );
        let mut range = population.take_victims(DeletePattern::Range, 200, &mut rng);
        range.sort_unstable();
        let (low, high) = (range[0], range[199]);
        assert!(population.live.iter().all(|key| *key < low || *key > high));
        population.take_victims(DeletePattern::Random, 300, &mut rng);
        assert_eq!(population.live.len(), 400);
        assert_eq!(population.deleted.len(), 600);
        let deleted: HashSet<i64> = population.deleted.iter().copied().collect();
        assert!(population.live.iter().all(|key| !deleted.contains(key)));
    }
}
