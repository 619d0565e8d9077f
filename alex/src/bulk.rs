//! Bulk load: builds the tree top-down from sorted pairs. For each node, the cost model picks
//! the fanout (a power of two, possibly 1) from the costs of the resulting leaves — ALEX's
//! fanout tree, evaluated level by level until the cost stops improving. Consecutive
//! sparse slots share one child through pointer duplication (aligned power-of-two blocks),
//! so skewed data does not create runs of empty leaves.

use std::sync::Arc;

use crate::cost::{self, DATA_NODE_BYTES, INIT_DENSITY, MAX_FANOUT, NODE_LOOKUP_WEIGHT};
use crate::data::{DataNode, Layout, NIL};
use crate::model::Router;
use crate::slab::{MapSlab, Slab};
use crate::{AlexMap, DATA_TAG, ModelNode};

/// Largest leaf bulk load builds: one that fits `max_data_slots` at the initial density.
fn max_bulk_leaf_keys(max_data_slots: usize) -> usize {
    (max_data_slots as f64 * INIT_DENSITY) as usize
}
/// Fanouts are only considered while the average part keeps at least this many keys.
const MIN_AVG_PART_KEYS: usize = 8;
/// Children with fewer keys than this are leaves without evaluating deeper structure.
const MIN_KEYS_TO_DEEPEN: usize = 64;
/// A leaf whose estimated cost is at most this is not worth evaluating deeper structure for:
/// a model node costs `NODE_LOOKUP_WEIGHT` plus leaves of at least one search iteration each,
/// and the estimate is rough, so only leaves expected to need more than about 4 search
/// iterations are considered.
const DEEPEN_MIN_LEAF_COST: f64 = 5.0 * cost::EXP_SEARCH_WEIGHT;
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
///
/// Routers built by `Router::spanning` for fanouts `2^d` differ only by power-of-two factors
/// of the slope, so the slot of a key at depth `d` is its slot at depth `d + 1` shifted right:
/// each level's partition refines the previous one with short binary searches.
fn best_depth<V>(
    pairs: &[(i64, V)],
    lo: f64,
    span: f64,
    max_leaf_keys: usize,
) -> (u32, Vec<usize>) {
    let n = pairs.len();
    let mut best_depth = 0;
    let mut best_bounds = vec![0, n];
    let mut best_cost = if n <= max_leaf_keys {
        cost::leaf_cost(pairs, INIT_DENSITY)
    } else {
        f64::INFINITY
    };
    let max_fanout = MAX_FANOUT.min(n / MIN_AVG_PART_KEYS).max(2);
    let max_depth = max_fanout.ilog2();
    if n < 2 * MIN_AVG_PART_KEYS && best_cost.is_finite() {
        return (0, best_bounds);
    }
    let mut since_best = 0;
    // bounds[j] = first pair routed at or after slot j; refined level by level: the boundary of
    // slot 2j+1 at the next level lies between the boundaries of slots j and j+1 at this one.
    let mut bounds = vec![0, n];
    let mut finer = Vec::new();
    for depth in 1..=max_depth {
        let fanout = 1usize << depth;
        let router = Router::spanning(lo, span, fanout);
        finer.clear();
        for w in bounds.windows(2) {
            let odd_slot = finer.len() + 1;
            finer.push(w[0]);
            finer.push(
                w[0] + pairs[w[0]..w[1]].partition_point(|p| router.slot(p.0, fanout) < odd_slot),
            );
        }
        finer.push(n);
        std::mem::swap(&mut bounds, &mut finer);
        let nonempty = bounds.windows(2).filter(|w| w[1] > w[0]).count();
        let extra = fanout as f64 * 4.0 + nonempty as f64 * DATA_NODE_BYTES;
        let c = NODE_LOOKUP_WEIGHT + cost::parts_cost(pairs, &bounds, extra);
        if c < best_cost {
            best_cost = c;
            best_depth = depth;
            best_bounds.clone_from(&bounds);
            since_best = 0;
        } else {
            since_best += 1;
            if since_best >= PATIENCE_LEVELS && best_cost.is_finite() {
                break;
            }
        }
    }
    (best_depth, best_bounds)
}

/// A bulk load's slab reserves this many times the estimate of its arrays: room for the
/// map to grow into, as the nodes that later inserts rebuild go to the slab too. Address
/// space only: untouched pages cost nothing.
const GROWTH_ROOM: usize = 4;

/// A slab for the node arrays of a bulk load of `n` keys, when they are estimated at
/// `min_bytes` or more (and the mapping can be made): [`GROWTH_ROOM`] times the estimate,
/// or the estimate alone if that mapping fails. Nodes that do not fit go to the heap.
fn slab_for<V>(n: usize, min_bytes: usize) -> Option<Arc<Slab>> {
    // Every leaf is built at INIT_DENSITY; 10% and a line per array per 64 keys cover
    // capacity rounding and alignment.
    let slots = (n as f64 / INIT_DENSITY * 1.1) as usize + 64;
    let bytes = slots * (8 + size_of::<V>()) + slots / 8 + n + (1 << 16);
    if size_of::<V>() == 0 || bytes < min_bytes {
        return None;
    }
    bytes
        .checked_mul(GROWTH_ROOM)
        .and_then(Slab::new)
        .or_else(|| Slab::new(bytes))
}

impl<V: Copy> AlexMap<V> {
    /// Replaces the whole tree with one built from `pairs` (sorted, strictly increasing), with
    /// the root's domain `[dom_lo, dom_hi]` (which must contain every key). Keeps the counters.
    ///
    /// The node arrays go to a slab when they are estimated at `slab_min_bytes` or more.
    pub(crate) fn rebuild_from(
        &mut self,
        pairs: &[(i64, V)],
        dom_lo: i64,
        dom_hi: i64,
        slab_min_bytes: usize,
    ) {
        debug_assert!(pairs.first().is_none_or(|p| p.0 >= dom_lo));
        debug_assert!(pairs.last().is_none_or(|p| p.0 <= dom_hi));
        let counters = std::mem::take(&mut self.counters);
        *self = AlexMap::empty_with(self.max_data_slots);
        self.counters = counters;
        self.models.clear();
        self.model_slots = 0;
        self.datas.clear();
        self.slab = MapSlab::new(slab_for::<V>(pairs.len(), slab_min_bytes));
        let lo = dom_lo as f64;
        let span = dom_hi as f64 - lo + 1.0;
        let mut leaves = Vec::new();
        self.root = self.build_model(pairs, lo, span, None, &mut leaves);
        self.link_chain(NIL, &leaves, NIL);
        self.len = pairs.len();
        // The arenas grew by doubling; a bulk-loaded index should not carry that slack.
        self.models.shrink_to_fit();
        self.datas.shrink_to_fit();
    }

    /// Builds a model node over `pairs` with domain `[lo, lo + span)`, appending its leaves (in
    /// key order) to `leaves`. Returns the model node's id.
    fn build_model(
        &mut self,
        pairs: &[(i64, V)],
        lo: f64,
        span: f64,
        choice: Option<(u32, Vec<usize>)>,
        leaves: &mut Vec<u32>,
    ) -> u32 {
        let (depth, bounds) = choice.unwrap_or_else(|| {
            best_depth(pairs, lo, span, max_bulk_leaf_keys(self.max_data_slots))
        });
        let fanout = 1usize << depth;
        let router = Router::spanning(lo, span, fanout);
        debug_assert_eq!(bounds, route_bounds(pairs, &router, fanout));
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
        self.set_children(id, children.into_boxed_slice());
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
        let mut deeper = None;
        if progress && keys.len() >= MIN_KEYS_TO_DEEPEN {
            let lo = keys[0].0 as f64;
            let span = keys[keys.len() - 1].0 as f64 - lo + 1.0;
            let max_leaf_keys = max_bulk_leaf_keys(self.max_data_slots);
            if keys.len() > max_leaf_keys
                || cost::leaf_cost(keys, INIT_DENSITY) > DEEPEN_MIN_LEAF_COST
            {
                let choice = best_depth(keys, lo, span, max_leaf_keys);
                if choice.0 > 0 {
                    deeper = Some((lo, span, choice));
                }
            }
        }
        let child = if let Some((lo, span, choice)) = deeper {
            self.build_model(keys, lo, span, Some(choice), leaves)
        } else {
            let slab = self.slab.slab.as_ref();
            let node = DataNode::build_in(keys, INIT_DENSITY, Layout::Spread, slab);
            let id = self.alloc_data(node);
            leaves.push(id);
            id | DATA_TAG
        };
        children[start..start + size].fill(child);
    }
}
