//! The cost model (ALEX's intra-node cost model, section 4.3 of the paper) and its constants.
//!
//! The cost of a data node is `EXP_SEARCH_WEIGHT` times the expected exponential-search
//! iterations plus `SHIFTS_WEIGHT` times the expected shifts per insert; a model node adds `NODE_LOOKUP_WEIGHT`
//! per level traversed and `SIZE_WEIGHT` per byte of structure per key. The expected values
//! of a candidate node are estimated from a sample of its keys: fit the position model on
//! the sample, measure the prediction error (in slots) at the sampled keys. Bulk load picks
//! the fanout of each node with the least cost ("fanout tree"); a full node picks between
//! expanding (fanout 1) and splitting into 2, 4 or 8 in the same way.

/// Density a node is expanded or contracted to (ALEX's lower density limit).
pub(crate) const MIN_DENSITY: f64 = 0.6;
/// Density at which a node must expand or split (ALEX's upper density limit).
pub(crate) const MAX_DENSITY: f64 = 0.8;
/// Density of nodes built by bulk load and by splits (ALEX's initial density).
pub(crate) const INIT_DENSITY: f64 = 0.7;
/// A node whose density falls below this is contracted to `MIN_DENSITY`. Half of
/// `MIN_DENSITY` leaves room so that a delete/insert pair cannot make a node thrash.
pub(crate) const CONTRACT_DENSITY: f64 = 0.3;

/// Cost of one exponential-search iteration (ALEX: 20).
pub(crate) const EXP_SEARCH_WEIGHT: f64 = 20.0;
/// Cost of shifting one key on insert (ALEX: 0.5).
pub(crate) const SHIFTS_WEIGHT: f64 = 0.5;
/// Cost of traversing one model node (ALEX: 20).
pub(crate) const NODE_LOOKUP_WEIGHT: f64 = 20.0;
/// Cost of one byte of structure (pointers, node headers) per key. Chosen so that bulk load
/// makes leaves of hundreds to thousands of keys, which keeps the index within 24 bytes per
/// key at density 0.7 (16 bytes of key and `u64` payload per slot) while keeping model errors
/// small. Measured at 10M keys: 64 gave lognormal data depth 4 and 23.9 bytes/key, 128 gives
/// depth 3 and 23.8 bytes/key with faster lookups (uniform: 1,200-key leaves, depth 2).
pub(crate) const SIZE_WEIGHT: f64 = 128.0;
/// Bytes of a data node header in the arena plus its child pointer, for the size cost.
pub(crate) const DATA_NODE_BYTES: f64 = 132.0;

/// A node whose empirical cost exceeds `DEVIATION_FACTOR * expected + DEVIATION_SLACK` is
/// considered mispredicted (ALEX: 1.5); the slack keeps near-zero expected costs from
/// triggering on noise.
pub(crate) const DEVIATION_FACTOR: f64 = 1.5;
pub(crate) const DEVIATION_SLACK: f64 = 10.0;
/// Inserts observed before the empirical cost is trusted.
pub(crate) const MIN_INSERTS_FOR_DEVIATION: u32 = 32;
/// Catastrophic cost (ALEX): more than this many shifts per insert on average ...
pub(crate) const CATASTROPHIC_SHIFTS: f64 = 100.0;
/// ... or more than this many expected search iterations.
pub(crate) const CATASTROPHIC_ITERS: f64 = 20.0;
/// Every this many inserts a node checks for catastrophic cost even when not full.
pub(crate) const CATASTROPHIC_CHECK_PERIOD: u32 = 64;

/// Largest data node (slots). 2^20 slots of `i64` + `u64` are 16 MiB, ALEX's limit.
pub(crate) const MAX_DATA_SLOTS: usize = 1 << 20;
/// Largest model node fanout.
pub(crate) const MAX_FANOUT: usize = 1 << 20;
/// Model-node slots (4-byte child pointers) the whole map may hold per key before a split
/// stops growing a parent and goes downward instead: 4 bytes per key. ALEX's reference
/// implementation grows a parent for every sideways split up to its maximum fanout; under
/// clustered inserts that doubles model nodes whose other slots are duplicates of nearly
/// empty children: 4M keys in 1,024 clusters held 314 bytes per key (peak 492) without a
/// budget, 29 with this one. A tighter budget forces downward splits where a sideways one
/// was cheap: at 2 bytes per key keys of log-uniform magnitude grew depth 11, at 1 byte
/// depth 23 (4 bytes: depth 8; no budget: 7; docs/alex.md, "Cost model").
pub(crate) const MODEL_SLOTS_PER_KEY: f64 = 1.0;
/// The model-slot budget never falls below this many slots (small maps).
pub(crate) const MIN_MODEL_SLOT_BUDGET: usize = 1024;
/// Largest split fanout of a full data node (2^3 = 8).
pub(crate) const MAX_SPLIT_DEPTH: u32 = 3;
/// Keys sampled per candidate node when estimating its cost.
const COST_SAMPLES: usize = 24;
/// At most this many keys are sampled for all parts of one candidate fanout together (at
/// least `MIN_COST_SAMPLES` per part), which bounds the work of evaluating large fanouts.
const SAMPLE_BUDGET: usize = 1 << 20;
const MIN_COST_SAMPLES: usize = 4;

/// `log2(x)` for `x >= 1`, within 0.09: exponent plus linear mantissa. The cost model only
/// needs a rough count of search iterations, and the libm call dominated bulk load.
#[inline]
pub(crate) fn fast_log2(x: f64) -> f64 {
    let bits = x.to_bits();
    let exponent = ((bits >> 52) & 0x7ff) as f64 - 1023.0;
    let mantissa = f64::from_bits((bits & ((1u64 << 52) - 1)) | (1023u64 << 52)); // in [1, 2)
    exponent + (mantissa - 1.0)
}

/// Expected cost of a data node holding `keys` (sorted) at `density`.
pub(crate) fn leaf_cost<V>(keys: &[(i64, V)], density: f64) -> f64 {
    leaf_cost_sampled(keys, density, COST_SAMPLES)
}

fn leaf_cost_sampled<V>(keys: &[(i64, V)], density: f64, max_samples: usize) -> f64 {
    let n = keys.len();
    if n <= 1 {
        return EXP_SEARCH_WEIGHT;
    }
    let samples = n.min(max_samples).min(COST_SAMPLES);
    // The sampled ranks `j * (n - 1) / (samples - 1)` for `j` in `0..samples`, and their
    // keys relative to the first, gathered once: the three passes below used to recompute
    // each rank (an integer division) and reload its key, 15 candidate nodes per full
    // node's decision (docs/PERFORMANCE.md, "Session 13").
    let mut ranks = [0f64; COST_SAMPLES];
    let mut xs = [0f64; COST_SAMPLES];
    let base = keys[0].0;
    let (step, remainder_step, divisor) = if samples == 1 {
        (0, 0, 1)
    } else {
        (
            (n - 1) / (samples - 1),
            (n - 1) % (samples - 1),
            samples - 1,
        )
    };
    let (mut rank, mut remainder) = (0usize, 0usize);
    for (r, x) in ranks[..samples].iter_mut().zip(&mut xs[..samples]) {
        *r = rank as f64;
        *x = keys[rank].0.saturating_sub(base) as f64;
        rank += step;
        remainder += remainder_step;
        if remainder >= divisor {
            remainder -= divisor;
            rank += 1;
        }
    }
    let (ranks, xs) = (&ranks[..samples], &xs[..samples]);
    // Fit rank-on-key over the sample (with the true ranks as targets).
    let (mut sx, mut sy) = (0.0, 0.0);
    for (&x, &r) in xs.iter().zip(ranks) {
        sx += x;
        sy += r;
    }
    let (mx, my) = (sx / samples as f64, sy / samples as f64);
    let (mut sxy, mut sxx) = (0.0, 0.0);
    for (&x, &r) in xs.iter().zip(ranks) {
        let dx = x - mx;
        sxy += dx * (r - my);
        sxx += dx * dx;
    }
    let slope = if sxx > 0.0 { sxy / sxx } else { 0.0 };
    let mut log_err = 0.0;
    let mut err = 0.0;
    for (&x, &r) in xs.iter().zip(ranks) {
        let predicted = my + slope * (x - mx);
        let e = ((predicted - r).abs() / density).min(n as f64 / density);
        err += e;
        log_err += fast_log2(e + 1.0);
    }
    let iters = 1.0 + log_err / samples as f64;
    // Keys mispredicted by `e` slots collide into runs of about `e` keys; an insert shifts
    // about a quarter of a run.
    let shifts = 0.25 * err / samples as f64;
    EXP_SEARCH_WEIGHT * iters + SHIFTS_WEIGHT * shifts
}

/// Empirical cost per insert of a node from its insert statistics.
pub(crate) fn empirical_cost(inserts: u32, search_iters: u32, shifts: u32) -> f64 {
    if inserts == 0 {
        return 0.0;
    }
    let n = inserts as f64;
    EXP_SEARCH_WEIGHT * (search_iters as f64 / n) + SHIFTS_WEIGHT * (shifts as f64 / n)
}

/// Expected cost of a node from its build-time expectations.
pub(crate) fn expected_cost(iters: f32, shifts: f32) -> f64 {
    EXP_SEARCH_WEIGHT * iters as f64 + SHIFTS_WEIGHT * shifts as f64
}

/// Cost of splitting `keys` into the parts given by `bounds` (`bounds[j]..bounds[j + 1]` is part
/// `j`), each a fresh data node at `INIT_DENSITY`, with `extra_bytes` of new structure.
pub(crate) fn parts_cost<V>(keys: &[(i64, V)], bounds: &[usize], extra_bytes: f64) -> f64 {
    let n = keys.len().max(1) as f64;
    let samples = (SAMPLE_BUDGET / bounds.len().max(1)).clamp(MIN_COST_SAMPLES, COST_SAMPLES);
    let mut cost = 0.0;
    for w in bounds.windows(2) {
        let part = &keys[w[0]..w[1]];
        if !part.is_empty() {
            cost += part.len() as f64 / n * leaf_cost_sampled(part, INIT_DENSITY, samples);
        }
    }
    cost + SIZE_WEIGHT * extra_bytes / n
}

/// Fits a data model (for tests of the estimator).
#[cfg(test)]
pub(crate) fn fit(keys: &[i64]) -> crate::model::DataModel {
    crate::model::DataModel::fit_ranks(keys.iter().copied(), keys.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The sampled ranks, gathered without a division per sample, are the ones the
    /// formula `j * (n - 1) / (samples - 1)` names.
    #[test]
    fn sampled_ranks_match_the_formula() {
        for n in [2usize, 3, 5, 23, 24, 25, 47, 48, 49, 100, 1000, 12_345] {
            let keys: Vec<(i64, ())> = (0..n as i64).map(|i| (i * i, ())).collect();
            for max in [1usize, 2, 4, 24] {
                let samples = n.min(max);
                let direct = leaf_cost_by_formula(&keys, INIT_DENSITY, samples);
                let got = leaf_cost_sampled(&keys, INIT_DENSITY, max);
                assert_eq!(got.to_bits(), direct.to_bits(), "n {n}, max {max}");
            }
        }
    }

    /// The estimator as first written (a division per sample per pass), for the test above.
    fn leaf_cost_by_formula(keys: &[(i64, ())], density: f64, samples: usize) -> f64 {
        let n = keys.len();
        let idx = |j: usize| {
            if samples == 1 {
                0
            } else {
                j * (n - 1) / (samples - 1)
            }
        };
        let base = keys[0].0;
        let x = |k: i64| k.saturating_sub(base) as f64;
        let (mut sx, mut sy) = (0.0, 0.0);
        for j in 0..samples {
            sx += x(keys[idx(j)].0);
            sy += idx(j) as f64;
        }
        let (mx, my) = (sx / samples as f64, sy / samples as f64);
        let (mut sxy, mut sxx) = (0.0, 0.0);
        for j in 0..samples {
            let dx = x(keys[idx(j)].0) - mx;
            sxy += dx * (idx(j) as f64 - my);
            sxx += dx * dx;
        }
        let slope = if sxx > 0.0 { sxy / sxx } else { 0.0 };
        let (mut log_err, mut err) = (0.0, 0.0);
        for j in 0..samples {
            let i = idx(j);
            let predicted = my + slope * (x(keys[i].0) - mx);
            let e = ((predicted - i as f64).abs() / density).min(n as f64 / density);
            err += e;
            log_err += fast_log2(e + 1.0);
        }
        EXP_SEARCH_WEIGHT * (1.0 + log_err / samples as f64)
            + SHIFTS_WEIGHT * (0.25 * err / samples as f64)
    }

    #[test]
    fn fast_log2_is_close() {
        for x in [1.0, 1.5, 2.0, 3.0, 1000.0, 1e12] {
            assert!((fast_log2(x) - f64::log2(x)).abs() < 0.09, "log2({x})");
        }
    }

    #[test]
    fn linear_keys_are_cheap_and_skewed_keys_are_not() {
        let linear: Vec<(i64, ())> = (0..10_000).map(|i| (i * 7, ())).collect();
        let skewed: Vec<(i64, ())> = (0..10_000i64).map(|i| (i * i * i, ())).collect();
        let c_lin = leaf_cost(&linear, INIT_DENSITY);
        let c_skew = leaf_cost(&skewed, INIT_DENSITY);
        assert!(c_lin < 25.0, "linear cost {c_lin}");
        assert!(
            c_skew > 5.0 * c_lin,
            "skewed cost {c_skew} vs linear {c_lin}"
        );
        let keys: Vec<i64> = linear.iter().map(|p| p.0).collect();
        let m = fit(&keys);
        assert!((m.predict_f(700) - 100.0).abs() < 1e-6);
    }
}
