//! Linear models: the router of a model node and the position model of a data node.
//!
//! Invariants:
//! - A [`Router`] is monotone: `k1 <= k2` implies `route(k1) <= route(k2)`. Every step of
//!   its computation (`i64 -> f64` rounding, subtracting a constant, multiplying by a
//!   non-negative slope, `floor`, adding an integer, clamping) is monotone, so this holds
//!   for every `i64`, including `i64::MIN` and `i64::MAX`. Monotone routing is what keeps
//!   the leaves in key order; the fit of the model only affects speed.
//! - Scaling a router by a power of two (`scale`) maps every key to a slot whose
//!   `>> log2(factor)` is its old slot, exactly: multiplying an `f64` by a power of two is
//!   exact, and `floor(f * y) div f == floor(y)` for integer `f`.
//! - A [`DataModel`] is only a hint for where to start searching; it never decides
//!   membership, so its rounding and saturation cannot make a lookup wrong.

/// `floor(y)` as `i64` for finite or infinite `y`, saturating; cheaper than `f64::floor`
/// on targets without SSE4.1 (which would make `floor` a library call).
#[inline(always)]
fn floor_i64(y: f64) -> i64 {
    let t = y as i64; // Truncates toward zero and saturates; NaN becomes 0.
    t.saturating_sub((y < t as f64) as i64)
}

/// Model-node router: `slot = clamp(floor((key as f64 - base) * slope) + offset, 0, fanout - 1)`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Router {
    /// Key (as `f64`) where the unclamped slot is `offset`.
    pub base: f64,
    /// Slots per key; finite and `>= 0`.
    pub slope: f64,
    /// Integer slot offset; lets the root grow on the left without touching `base`/`slope`,
    /// which keeps the routing of every existing key exact.
    pub offset: i64,
}

impl Router {
    /// A router mapping `[lo, lo + span)` linearly onto `[0, fanout)`.
    pub fn spanning(lo: f64, span: f64, fanout: usize) -> Router {
        let span = if span.is_finite() && span >= 1.0 {
            span
        } else {
            1.0
        };
        let slope = fanout as f64 / span;
        Router {
            base: lo,
            slope: if slope.is_finite() { slope } else { 0.0 },
            offset: 0,
        }
    }

    /// The unclamped slot of `key`; below 0 or at/above the fanout means out of domain.
    #[inline(always)]
    pub fn raw_slot(&self, key: i64) -> i64 {
        floor_i64((key as f64 - self.base) * self.slope).saturating_add(self.offset)
    }

    /// The slot of `key` in a node of `fanout` slots.
    #[inline(always)]
    pub fn slot(&self, key: i64, fanout: usize) -> usize {
        self.raw_slot(key).clamp(0, fanout as i64 - 1) as usize
    }

    /// The router of the same node after every slot is split into `factor` slots
    /// (`factor` a power of two).
    pub fn scale(&self, factor: usize) -> Router {
        debug_assert!(factor.is_power_of_two());
        Router {
            base: self.base,
            slope: self.slope * factor as f64,
            offset: self.offset.saturating_mul(factor as i64),
        }
    }

    /// The key (as `f64`) where unclamped slot `slot` begins.
    pub fn key_at_slot(&self, slot: i64) -> f64 {
        if self.slope > 0.0 {
            self.base + (slot - self.offset) as f64 / self.slope
        } else {
            self.base
        }
    }
}

/// Data-node position model: `pos = clamp(trunc((key - base) * slope + intercept), 0, cap - 1)`,
/// with `key - base` computed exactly in `i64` (saturating), so keys in a narrow cluster far from
/// zero still get distinct predictions.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct DataModel {
    pub base: i64,
    pub slope: f64,
    pub intercept: f64,
}

impl DataModel {
    pub const ZERO: DataModel = DataModel {
        base: 0,
        slope: 0.0,
        intercept: 0.0,
    };

    #[inline(always)]
    pub fn x(&self, key: i64) -> f64 {
        key.saturating_sub(self.base) as f64
    }

    /// Unclamped prediction.
    #[inline(always)]
    pub fn predict_f(&self, key: i64) -> f64 {
        self.x(key) * self.slope + self.intercept
    }

    /// Predicted slot in `[0, cap)`; `cap > 0`.
    #[inline(always)]
    pub fn predict(&self, key: i64, cap: usize) -> usize {
        let p = self.predict_f(key) as i64;
        p.clamp(0, cap as i64 - 1) as usize
    }

    /// Least-squares fit of rank (0, 1, ...) on key for a sorted key sequence, with `base` the first key.
    /// Degenerate inputs (one key, or all keys equal after saturation) give a flat model at rank 0.
    pub fn fit_ranks(keys: impl Iterator<Item = i64> + Clone, n: usize) -> DataModel {
        let mut keys_iter = keys.clone();
        let Some(base) = keys_iter.next() else {
            return DataModel::ZERO;
        };
        let mut model = DataModel {
            base,
            slope: 0.0,
            intercept: 0.0,
        };
        if n < 2 {
            return model;
        }
        let n_f = n as f64;
        let mut sum_x = 0.0;
        for k in keys.clone() {
            sum_x += model.x(k);
        }
        let mean_x = sum_x / n_f;
        let mean_y = (n_f - 1.0) / 2.0;
        let mut sxy = 0.0;
        let mut sxx = 0.0;
        for (i, k) in keys.enumerate() {
            let dx = model.x(k) - mean_x;
            sxy += dx * (i as f64 - mean_y);
            sxx += dx * dx;
        }
        if sxx > 0.0 && sxy.is_finite() && sxx.is_finite() {
            model.slope = sxy / sxx;
            model.intercept = mean_y - model.slope * mean_x;
        } else {
            model.intercept = mean_y;
        }
        if !model.slope.is_finite() || !model.intercept.is_finite() {
            model.slope = 0.0;
            model.intercept = mean_y;
        }
        model
    }

    /// The model with predictions multiplied by `factor`.
    pub fn scaled(&self, factor: f64) -> DataModel {
        DataModel {
            base: self.base,
            slope: self.slope * factor,
            intercept: self.intercept * factor,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floor_matches_std() {
        for y in [
            -2.5,
            -1.0,
            -0.5,
            -0.0,
            0.0,
            0.5,
            1.0,
            1.5,
            1e30,
            -1e30,
            f64::INFINITY,
        ] {
            let expected = y.floor();
            let expected = if expected >= i64::MAX as f64 {
                i64::MAX
            } else if expected <= i64::MIN as f64 {
                i64::MIN
            } else {
                expected as i64
            };
            assert_eq!(floor_i64(y), expected, "floor({y})");
        }
    }

    #[test]
    fn router_is_monotone_at_extremes_and_scales_exactly() {
        let r = Router::spanning(-1e18, 3e18, 1024);
        let keys = [
            i64::MIN,
            -1_000_000_000_000_000_001,
            -1,
            0,
            1,
            1 << 60,
            i64::MAX,
        ];
        let mut last = 0;
        for k in keys {
            let s = r.slot(k, 1024);
            assert!(s >= last);
            last = s;
            let scaled = r.scale(8);
            assert_eq!(scaled.slot(k, 8192) >> 3, s);
        }
    }

    #[test]
    fn fit_ranks_is_exact_on_a_line() {
        let keys: Vec<i64> = (0..100).map(|i| i64::MAX - 1000 + i * 10).collect();
        let m = DataModel::fit_ranks(keys.iter().copied(), keys.len());
        for (i, &k) in keys.iter().enumerate() {
            assert!((m.predict_f(k) - i as f64).abs() < 1e-6);
        }
    }
}
