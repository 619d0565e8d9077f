//! Random number generators of the YCSB core workload, ported from YCSB's
//! `site.ycsb.generator` package so that our workloads draw the same distributions:
//!
//! - [`fnv_hash64`]: `Utils.fnvhash64`, FNV-1 over the 8 little-end bytes, made
//!   non-negative with `Math.abs` (which leaves `i64::MIN` alone, as Java's does).
//! - [`Zipfian`]: `ZipfianGenerator` (Gray et al., "Quickly generating billion-record
//!   synthetic databases"), items `0..n` with popularity `1 / (i+1)^theta`, item 0 the
//!   most popular; `zeta` is recomputed incrementally when the item count grows.
//! - [`ScrambledZipfian`]: `ScrambledZipfianGenerator`: a zipfian over 10^10 items with
//!   the precomputed zeta for theta 0.99, FNV-hashed and folded into `min..=max`, so the
//!   popular items are scattered over the key space.
//! - [`SkewedLatest`]: `SkewedLatestGenerator`: `last - zipfian(last)`, so the most
//!   recently inserted items are the most popular.
//! - [`AcknowledgedCounter`]: `AcknowledgedCounterGenerator`: hands out insert numbers
//!   and tracks the highest number below which every insert has been acknowledged, so
//!   readers never ask for a key still being inserted.
//! - uniform choice is `rng.gen_range`.

use rand::Rng;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};

/// YCSB's `ZipfianGenerator.ZIPFIAN_CONSTANT`.
pub const ZIPFIAN_CONSTANT: f64 = 0.99;
/// `ScrambledZipfianGenerator.ITEM_COUNT`: the hidden zipfian's item count.
const SCRAMBLED_ITEM_COUNT: i64 = 10_000_000_000;
/// `ScrambledZipfianGenerator.ZETAN`: `zeta(10^10, 0.99)`, precomputed by YCSB.
const SCRAMBLED_ZETAN: f64 = 26.469_028_201_783_02;

const FNV_OFFSET_BASIS_64: u64 = 0xCBF2_9CE4_8422_2325;
const FNV_PRIME_64: u64 = 1_099_511_628_211;

/// YCSB's `Utils.fnvhash64`: FNV-1 over the 8 bytes of `value`, lowest first, then
/// `Math.abs` (so the result is non-negative except for `i64::MIN`).
pub fn fnv_hash64(value: i64) -> i64 {
    let mut rest = value;
    let mut hash = FNV_OFFSET_BASIS_64;
    for _ in 0..8 {
        let octet = (rest & 0xff) as u64;
        // Java's `>>` on a long is arithmetic; the low byte taken each round is the same.
        rest >>= 8;
        hash ^= octet;
        hash = hash.wrapping_mul(FNV_PRIME_64);
    }
    (hash as i64).wrapping_abs()
}

/// `zeta(n, theta) = sum_{i=1..n} 1 / i^theta`, continuing from `zeta(start, theta) =
/// initial` (YCSB's incremental `zeta(st, n, theta, initialsum)`).
pub fn zeta_from(start: i64, n: i64, theta: f64, initial: f64) -> f64 {
    let mut sum = initial;
    for i in start..n {
        sum += 1.0 / ((i + 1) as f64).powf(theta);
    }
    sum
}

/// `zeta(n, theta)`.
pub fn zeta(n: i64, theta: f64) -> f64 {
    zeta_from(0, n, theta, 0.0)
}

/// YCSB's `ZipfianGenerator` over `base..base+items`.
#[derive(Clone, Debug)]
pub struct Zipfian {
    base: i64,
    items: i64,
    theta: f64,
    zeta2theta: f64,
    /// `0.5^theta`, which YCSB computes on every draw (one `pow` of the two per draw).
    half_pow_theta: f64,
    alpha: f64,
    zetan: f64,
    eta: f64,
    /// The item count `zetan` was computed for.
    count_for_zeta: i64,
}

impl Zipfian {
    /// Items `0..items` with YCSB's constant 0.99.
    pub fn new(items: i64) -> Zipfian {
        Zipfian::with_range(0, items - 1, ZIPFIAN_CONSTANT)
    }

    /// Items `min..=max` with constant `theta` (zeta computed here: O(items)).
    pub fn with_range(min: i64, max: i64, theta: f64) -> Zipfian {
        let items = max - min + 1;
        Zipfian::with_zetan(min, max, theta, zeta(items, theta))
    }

    /// Items `min..=max` with a precomputed `zetan = zeta(max - min + 1, theta)`.
    pub fn with_zetan(min: i64, max: i64, theta: f64, zetan: f64) -> Zipfian {
        assert!(
            max >= min,
            "a zipfian needs at least one item ({min}..={max})"
        );
        assert!(
            theta > 0.0 && theta < 1.0,
            "zipfian constant {theta} must be in (0, 1)"
        );
        let items = max - min + 1;
        let zeta2theta = zeta(2, theta);
        Zipfian {
            base: min,
            items,
            theta,
            zeta2theta,
            half_pow_theta: 0.5f64.powf(theta),
            alpha: 1.0 / (1.0 - theta),
            zetan,
            eta: eta(items, theta, zeta2theta, zetan),
            count_for_zeta: items,
        }
    }

    /// The next item of the distribution over the generator's own item count.
    pub fn next(&mut self, rng: &mut impl Rng) -> i64 {
        self.next_of(self.items, rng)
    }

    /// The next item of the distribution over `item_count` items (YCSB's
    /// `nextLong(itemcount)`): zeta is extended incrementally when the count grew and
    /// recomputed when it shrank.
    pub fn next_of(&mut self, item_count: i64, rng: &mut impl Rng) -> i64 {
        if item_count != self.count_for_zeta {
            self.zetan = if item_count > self.count_for_zeta {
                zeta_from(self.count_for_zeta, item_count, self.theta, self.zetan)
            } else {
                zeta(item_count, self.theta)
            };
            self.count_for_zeta = item_count;
            self.eta = eta(item_count, self.theta, self.zeta2theta, self.zetan);
        }
        let u: f64 = rng.r#gen();
        let uz = u * self.zetan;
        if uz < 1.0 {
            return self.base;
        }
        if uz < 1.0 + self.half_pow_theta {
            return self.base + 1;
        }
        self.base + (item_count as f64 * (self.eta * u - self.eta + 1.0).powf(self.alpha)) as i64
    }
}

fn eta(items: i64, theta: f64, zeta2theta: f64, zetan: f64) -> f64 {
    (1.0 - (2.0 / items as f64).powf(1.0 - theta)) / (1.0 - zeta2theta / zetan)
}

/// YCSB's `ScrambledZipfianGenerator` over `min..=max` with constant 0.99.
#[derive(Clone, Debug)]
pub struct ScrambledZipfian {
    min: i64,
    item_count: i64,
    inner: Zipfian,
}

impl ScrambledZipfian {
    pub fn new(min: i64, max: i64) -> ScrambledZipfian {
        assert!(
            max >= min,
            "a scrambled zipfian needs at least one item ({min}..={max})"
        );
        ScrambledZipfian {
            min,
            item_count: max - min + 1,
            inner: Zipfian::with_zetan(0, SCRAMBLED_ITEM_COUNT, ZIPFIAN_CONSTANT, SCRAMBLED_ZETAN),
        }
    }

    pub fn next(&mut self, rng: &mut impl Rng) -> i64 {
        let value = self.inner.next(rng);
        self.min + fnv_hash64(value).rem_euclid(self.item_count)
    }
}

/// YCSB's `SkewedLatestGenerator`: `last - zipfian(last)`, where `last` is the counter's
/// highest acknowledged item.
#[derive(Clone, Debug)]
pub struct SkewedLatest {
    zipfian: Zipfian,
}

impl SkewedLatest {
    /// `initial_last` is the counter's value at construction (YCSB builds the inner
    /// zipfian over that many items).
    pub fn new(initial_last: i64) -> SkewedLatest {
        SkewedLatest {
            zipfian: Zipfian::new(initial_last.max(2)),
        }
    }

    /// The next item given the current highest acknowledged item `last`.
    pub fn next(&mut self, last: i64, rng: &mut impl Rng) -> i64 {
        if last < 1 {
            return 0;
        }
        last - self.zipfian.next_of(last, rng)
    }
}

/// YCSB's `AcknowledgedCounterGenerator`: `next()` hands out insert numbers; `ack(n)`
/// marks one done; `last()` is the highest number below which all are acknowledged.
#[derive(Debug)]
pub struct AcknowledgedCounter {
    next: AtomicI64,
    /// Highest number such that it and everything below it is acknowledged.
    limit: AtomicI64,
    /// Acknowledged numbers above `limit + 1`, waiting for the gap below to fill.
    pending: Mutex<BinaryHeap<Reverse<i64>>>,
}

impl AcknowledgedCounter {
    /// A counter whose first number is `start` (so `last()` starts at `start - 1`).
    pub fn new(start: i64) -> AcknowledgedCounter {
        AcknowledgedCounter {
            next: AtomicI64::new(start),
            limit: AtomicI64::new(start - 1),
            pending: Mutex::new(BinaryHeap::new()),
        }
    }

    pub fn next(&self) -> i64 {
        self.next.fetch_add(1, Ordering::Relaxed)
    }

    pub fn last(&self) -> i64 {
        self.limit.load(Ordering::Acquire)
    }

    pub fn ack(&self, value: i64) {
        let mut pending = self
            .pending
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        pending.push(Reverse(value));
        let mut limit = self.limit.load(Ordering::Acquire);
        while let Some(Reverse(smallest)) = pending.peek().copied() {
            if smallest != limit + 1 {
                break;
            }
            pending.pop();
            limit = smallest;
        }
        self.limit.store(limit, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    #[test]
    fn fnv_matches_ycsb() {
        // Computed by hand from the definition: FNV-1 of eight zero bytes.
        let mut hash = FNV_OFFSET_BASIS_64;
        for _ in 0..8 {
            hash = hash.wrapping_mul(FNV_PRIME_64);
        }
        assert_eq!(fnv_hash64(0), (hash as i64).wrapping_abs());
        assert!(fnv_hash64(12345) >= 0);
        assert_ne!(fnv_hash64(1), fnv_hash64(2));
        // Distinct inputs give distinct keys over a realistic range.
        let keys: std::collections::HashSet<i64> = (0..100_000).map(fnv_hash64).collect();
        assert_eq!(keys.len(), 100_000);
    }

    #[test]
    fn scrambled_zetan_is_zeta_of_ten_billion() {
        // The constant YCSB ships; check its first digits against a partial sum plus
        // the integral tail approximation (the full sum takes minutes).
        let partial = zeta(1_000_000, ZIPFIAN_CONSTANT);
        let tail = |n: f64| n.powf(1.0 - ZIPFIAN_CONSTANT) / (1.0 - ZIPFIAN_CONSTANT);
        let estimate = partial + tail(1e10) - tail(1e6);
        assert!((estimate - SCRAMBLED_ZETAN).abs() < 0.01, "{estimate}");
    }

    #[test]
    fn zipfian_frequencies_follow_the_power_law() {
        let items = 1000;
        let mut zipfian = Zipfian::new(items);
        let mut rng = StdRng::seed_from_u64(7);
        let samples = 200_000;
        let mut counts = vec![0u64; items as usize];
        for _ in 0..samples {
            let item = zipfian.next(&mut rng);
            assert!((0..items).contains(&item));
            counts[item as usize] += 1;
        }
        let zetan = zeta(items, ZIPFIAN_CONSTANT);
        let probability = |item: usize| 1.0 / (((item + 1) as f64).powf(ZIPFIAN_CONSTANT) * zetan);
        // Items 0 and 1 are drawn exactly (the generator's two special cases): their
        // counts are within 5 standard deviations of a binomial count.
        for (item, &count) in counts.iter().enumerate().take(2) {
            let p = probability(item);
            let expected = p * samples as f64;
            let sigma = (samples as f64 * p * (1.0 - p)).sqrt();
            assert!(
                (count as f64 - expected).abs() < 5.0 * sigma,
                "item {item}: {count} vs {expected:.0}"
            );
        }
        // The rest follow Gray et al.'s closed-form approximation of the inverse CDF,
        // which is close but not exact for small ranks: compare power-of-two bins of
        // ranks (chi-square-ish, with a relative tolerance for the approximation).
        let mut low = 2;
        while low < items as usize {
            let high = (low * 2).min(items as usize);
            let observed: u64 = counts[low..high].iter().sum();
            let expected: f64 = (low..high).map(probability).sum::<f64>() * samples as f64;
            let relative = (observed as f64 - expected).abs() / expected;
            assert!(
                relative < 0.2,
                "ranks {low}..{high}: {observed} vs {expected:.0}"
            );
            low = high;
        }
        // And the head dominates: the top 10% of items take most of the draws.
        let head: u64 = counts[..100].iter().sum();
        assert!(head as f64 > 0.6 * samples as f64, "{head}");
    }

    #[test]
    fn scrambled_zipfian_is_skewed_but_scattered() {
        let mut generator = ScrambledZipfian::new(0, 99_999);
        let mut rng = StdRng::seed_from_u64(11);
        let mut counts = std::collections::HashMap::<i64, u64>::new();
        for _ in 0..200_000 {
            let item = generator.next(&mut rng);
            assert!((0..100_000).contains(&item));
            *counts.entry(item).or_default() += 1;
        }
        // The most popular item is hit with probability ~ 1/zeta(10^10) = 3.8%.
        let top = counts.values().copied().max().unwrap_or(0) as f64 / 200_000.0;
        assert!(
            (top - 1.0 / SCRAMBLED_ZETAN).abs() < 0.01,
            "top share {top}"
        );
        // It is not item 0 (that is what scrambling is for).
        let (&hottest, _) = counts.iter().max_by_key(|(_, count)| **count).unwrap();
        assert_eq!(hottest, fnv_hash64(0).rem_euclid(100_000));
    }

    #[test]
    fn uniform_mean_and_variance() {
        let mut rng = StdRng::seed_from_u64(3);
        let n = 100_000;
        let samples: Vec<f64> = (0..n).map(|_| rng.gen_range(0..1000i64) as f64).collect();
        let mean = samples.iter().sum::<f64>() / n as f64;
        let variance = samples.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64;
        // Discrete uniform on 0..1000: mean 499.5, variance (1000^2 - 1) / 12.
        assert!((mean - 499.5).abs() < 5.0, "{mean}");
        assert!(
            (variance - 83_333.25).abs() / 83_333.25 < 0.02,
            "{variance}"
        );
    }

    #[test]
    fn latest_skews_to_recent_inserts() {
        let counter = AcknowledgedCounter::new(10_000);
        let mut latest = SkewedLatest::new(counter.last());
        let mut rng = StdRng::seed_from_u64(5);
        let mut recent = 0;
        for round in 0..50_000 {
            if round % 10 == 0 {
                let item = counter.next();
                counter.ack(item);
            }
            let last = counter.last();
            let item = latest.next(last, &mut rng);
            assert!((0..=last).contains(&item), "{item} outside 0..={last}");
            if last - item < 10 {
                recent += 1;
            }
        }
        // With theta 0.99 over ~10^4 items, the 10 newest take about
        // zeta(10) / zeta(10^4) ~ 27% of the draws; uniform would give 0.1%.
        assert!(
            recent > 50_000 / 5,
            "only {recent} draws among the 10 newest"
        );
    }

    #[test]
    fn acknowledged_counter_waits_for_gaps() {
        let counter = AcknowledgedCounter::new(100);
        assert_eq!(counter.last(), 99);
        let (a, b, c) = (counter.next(), counter.next(), counter.next());
        counter.ack(b);
        assert_eq!(counter.last(), 99);
        counter.ack(a);
        assert_eq!(counter.last(), 101);
        counter.ack(c);
        assert_eq!(counter.last(), 102);
    }
}
