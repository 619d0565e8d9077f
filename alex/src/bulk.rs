//! Bulk load: builds the tree top-down from sorted pairs. For each node, the cost model picks
//! the fanout (a power of two, possibly 1) from the costs of the resulting leaves — ALEX's
//! fanout tree, evaluated level by level until the cost stops improving. Consecutive
//! sparse slots share one child through pointer duplication (aligned power-of-two blocks),
//! so skewed data does not create runs of empty leaves.

use crate::cost::{
    self, DATA_NODE_BYTES, INIT_DENSITY, MAX_DATA_SLOTS, MAX_FANOUT, NODE_LOOKUP_WEIGHT,
};
use crate::data::{DataNode, Layout, NIL};
use crate::model::Router;
use crate::{AlexMap, DATA_TAG, ModelNode};

/// Largest leaf bulk load builds: one that fits `MAX_DATA_SLOTS` at the initial density.
const MAX_BULK_LEAF_KEYS: usize = (MAX_DATA_SLOTS as f64 * INIT_DENSITY) as usize;
/// Fanouts are only considered while the average part keeps at least this many keys.
const MIN_AVG_PART_KEYS: usize = 8;
/// Children with fewer keys than this are leaves without evaluating deeper structure.
const MIN_KEYS_TO_DEEPEN: usize = 64;
/// Fanout levels evaluated past the best one before giving up.
const PATIENCE_LEVELS: u32 = 3;

/// `bounds[j]` = index of the first pair routed at or after slot `j`, for `j` in `0..=fanout`.
fn route_bounds<V>(pairs: &[(i64, V)], router: &Router, fanout: usize) -> Vec<usize> {
    let n = pairs.len();
    let mut bounds = Vec::with_capacity(fanout + 1);
    let log_n = (usize::BITS - n.leading_zeros()) as usize;
    if fanout * log_n < n {
        bounds.push(0);
        let mut from = 0;
        for slot in 1..fanout {
            from += pairs[from..].partition_point(|p| router.slot(p.0, fanout) < slot);
            bounds.push(from);
        }
        bounds.push(n);
    } else {
        let mut slot = 0;
        bounds.push(0);
        for (i, p) in pairs.iter().enumerate() {
            let s = router.slot(p.0, fanout);
            while slot < s {
                bounds.push(i);
                slot += 1;
            }
        }
        while bounds.len() <= fanout {
            bounds.push(n);
        }
    }
    bounds
}

/// The fanout exponent with the least cost for a node over `pairs` with domain
/// `[lo, lo + span)`; 0 means "make it a data node" (never chosen when too many keys).
fn best_depth<V>(pairs: &[(i64, V)], lo: f64, span: f64) -> u32 {
    let n = pairs.len();
    let mut best_depth = 0;
    let mut best_cost = if n <= MAX_BULK_LEAF_KEYS {
        cost::leaf_cost(pairs, INIT_DENSITY)
    } else {
        f64::INFINITY
    };
    let max_fanout = MAX_FANOUT.min(n / MIN_AVG_PART_KEYS).max(1);
    let mut since_best = 0;
    let mut depth = 1;
    while (1usize << depth) <= max_fanout || (depth == 1 && best_cost.is_infinite()) {
        let fanout = 1usize << depth;
        let router = Router::spanning(lo, span, fanout);
        let bounds = route_bounds(pairs, &router, fanout);
        let nonempty = bounds.windows(2).filter(|w| w[1] > w[0]).count();
        let extra = fanout as f64 * 4.0 + nonempty as f64 * DATA_NODE_BYTES;
        let c = NODE_LOOKUP_WEIGHT + cost::parts_cost(pairs, &bounds, extra);
        if c < best_cost {
            best_cost = c;
            best_depth = depth;
            since_best = 0;
        } else {
            since_best += 1;
            if since_best >= PATIENCE_LEVELS && best_cost.is_finite() {
                break;
            }
        }
        depth += 1;
    }
    best_depth
}

impl<V: Copy> AlexMap<V> {
    /// Replaces the whole tree with one built from `pairs` (sorted, strictly increasing), with
    /// the root's domain `[dom_lo, dom_hi]` (which must contain every key). Keeps the counters.
    pub(crate) fn rebuild_from(&mut self, pairs: &[(i64, V)], dom_lo: i64, dom_hi: i64) {
        debug_assert!(pairs.first().is_none_or(|p| p.0 >= dom_lo));
        debug_assert!(pairs.last().is_none_or(|p| p.0 <= dom_hi));
        let counters = std::mem::take(&mut self.counters);
        *self = AlexMap::new();
        self.counters = counters;
        self.models.clear();
        self.datas.clear();
        let lo = dom_lo as f64;
        let span = dom_hi as f64 - lo + 1.0;
        let mut leaves = Vec::new();
        self.root = self.build_model(pairs, lo, span, &mut leaves);
        self.link_chain(NIL, &leaves, NIL);
        self.len = pairs.len();
    }

    /// Builds a model node over `pairs` with domain `[lo, lo + span)`, appending its leaves (in
    /// key order) to `leaves`. Returns the model node's id.
    fn build_model(
        &mut self,
        pairs: &[(i64, V)],
        lo: f64,
        span: f64,
        leaves: &mut Vec<u32>,
    ) -> u32 {
        let depth = best_depth(pairs, lo, span);
        let fanout = 1usize << depth;
        let router = Router::spanning(lo, span, fanout);
        let bounds = route_bounds(pairs, &router, fanout);
        let id = self.alloc_model(ModelNode {
            router,
            children: vec![0; fanout].into_boxed_slice(),
        });
        let merge_limit = (pairs.len() / fanout / 2).max(1);
        let mut children = vec![0u32; fanout];
        self.build_block(
            pairs,
            &bounds,
            0,
            fanout,
            merge_limit,
            &mut children,
            leaves,
        );
        self.models[id as usize].children = children.into_boxed_slice();
        id
    }

    /// Builds the child (or children) for slots `[start, start + size)` (an aligned block).
    #[allow(clippy::too_many_arguments)] // Reason: recursion state of one bulk-load node.
    fn build_block(
        &mut self,
        pairs: &[(i64, V)],
        bounds: &[usize],
        start: usize,
        size: usize,
        merge_limit: usize,
        children: &mut [u32],
        leaves: &mut Vec<u32>,
    ) {
        let keys = &pairs[bounds[start]..bounds[start + size]];
        if size > 1 && keys.len() > merge_limit {
            let half = size / 2;
            self.build_block(pairs, bounds, start, half, merge_limit, children, leaves);
            self.build_block(
                pairs,
                bounds,
                start + half,
                half,
                merge_limit,
                children,
                leaves,
            );
            return;
        }
        let progress = keys.len() < pairs.len();
        let deepen = progress
            && (keys.len() > MAX_BULK_LEAF_KEYS
                || (keys.len() >= MIN_KEYS_TO_DEEPEN && {
                    let lo = keys[0].0 as f64;
                    let span = keys[keys.len() - 1].0 as f64 - lo + 1.0;
                    best_depth(keys, lo, span) > 0
                }));
        let child = if deepen {
            let lo = keys[0].0 as f64;
            let span = keys[keys.len() - 1].0 as f64 - lo + 1.0;
            self.build_model(keys, lo, span, leaves)
        } else {
            let id = self.alloc_data(DataNode::build(keys, INIT_DENSITY, Layout::Spread));
            leaves.push(id);
            id | DATA_TAG
        };
        children[start..start + size].fill(child);
    }
}
