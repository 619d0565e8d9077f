//! Structural changes to the tree: what happens when a data node is full (expand, or split
//! into the number of parts the cost model chooses: sideways when the parent has room,
//! downwards when it has not), when a key falls outside a model node's
//! domain (grow the node, or the root, on that side), and after deletes (contract, merge
//! with the sibling, collapse single-child model nodes).
//!
//! Every change here preserves the tree invariants listed in `lib.rs`: new children occupy
//! aligned power-of-two slot blocks, the leaf chain is relinked in key order, and keys whose
//! routing changed (only possible when a domain grows) are moved to the leaf that routing
//! now leads to ([`AlexMap::relocate`]).

use crate::cost::{
    self, CATASTROPHIC_ITERS, CATASTROPHIC_SHIFTS, DATA_NODE_BYTES, DEVIATION_FACTOR,
    DEVIATION_SLACK, INIT_DENSITY, MAX_FANOUT, MAX_SPLIT_DEPTH, MIN_DENSITY,
    MIN_INSERTS_FOR_DEVIATION, MIN_MODEL_SLOT_BUDGET, MODEL_SLOTS_PER_KEY, NODE_LOOKUP_WEIGHT,
};
use crate::data::{DataNode, Layout, capacity_for};
use crate::model::Router;
use crate::{AlexMap, DATA_TAG, ModelNode};

/// Two sibling data nodes are merged after a delete when together they hold at most this
/// many keys (or one of them is empty).
pub(crate) const MERGE_MAX_KEYS: usize = 64;
/// Share of inserts at one end of a node above which it is "append-mostly" (ALEX: 0.9).
const APPEND_MOSTLY: f64 = 0.9;
/// Bytes of a model node header, for the size cost.
const MODEL_NODE_BYTES: f64 = 40.0;

/// The most distinct `i64` keys that convert to one `f64` (round to nearest, ties to even:
/// the 1,025 integers within 512 of a value with an even mantissa beyond 2^62, where
/// `f64`s are 1,024 apart). Model-node routers compute in `f64`, so no router can separate
/// such keys, and a data node holding only them cannot split.
pub(crate) const UNSEPARABLE_KEYS: usize = 1025;

/// The largest a data node can grow while it holds only keys no router separates, whatever
/// the map's maximum node size: room for [`UNSEPARABLE_KEYS`] plus the key being inserted
/// at the lower density (1,710 slots; above the smallest maximum the map accepts, 1,024).
pub(crate) const UNSEPARABLE_MAX_SLOTS: usize = (UNSEPARABLE_KEYS + 1) * 5 / 3;

/// Number of keys at which a node of `cap` slots must grow (upper density limit).
#[inline]
pub(crate) fn expansion_threshold(cap: usize) -> usize {
    if cap == 0 {
        0
    } else {
        ((cap as f64 * cost::MAX_DENSITY) as usize).min(cap - 1)
    }
}

/// ALEX's catastrophic cost: many shifts per insert, or a hopeless model.
pub(crate) fn is_catastrophic<V: Copy>(node: &DataNode<V>) -> bool {
    let s = node.stats;
    (s.inserts > 0 && s.shifts as f64 / s.inserts as f64 > CATASTROPHIC_SHIFTS)
        || node.expected_iters as f64 > CATASTROPHIC_ITERS
}

fn layout_for<V: Copy>(node: &DataNode<V>) -> Layout {
    let s = node.stats;
    let inserts = s.inserts as f64;
    if s.inserts >= 16 && s.right_appends as f64 > APPEND_MOSTLY * inserts {
        Layout::RoomRight
    } else if s.inserts >= 16 && s.left_appends as f64 > APPEND_MOSTLY * inserts {
        Layout::RoomLeft
    } else {
        Layout::Spread
    }
}

/// `bounds[j]` = index of the first key routed at or after slot `first + j * part`.
fn slot_bounds<V>(
    pairs: &[(i64, V)],
    parts: usize,
    route: impl Fn(i64) -> usize,
    first: usize,
    part: usize,
) -> Vec<usize> {
    let mut bounds = Vec::with_capacity(parts + 1);
    bounds.push(0);
    for j in 1..parts {
        let slot = first + j * part;
        bounds.push(pairs.partition_point(|p| route(p.0) < slot));
    }
    bounds.push(pairs.len());
    bounds
}

/// Whether a partition makes progress (no part holds every key).
fn separates(bounds: &[usize], n: usize) -> bool {
    bounds.windows(2).all(|w| w[1] - w[0] < n)
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Choice {
    Expand,
    Sideways(u32),
    Downward(u32),
}

impl<V: Copy> AlexMap<V> {
    /// Largest model-node fanout allowed now: proportional to the keys held, so that small
    /// maps stay small (I-2), up to `MAX_FANOUT`.
    pub(crate) fn fanout_cap(&self) -> usize {
        (self.len.next_power_of_two().max(64) * 2).min(MAX_FANOUT)
    }

    /// Whether a sideways split may grow model node slots by `added`: the map's model slots
    /// stay within [`MODEL_SLOTS_PER_KEY`] per key held (I-2: memory per key stays bounded).
    pub(crate) fn model_slots_allow(&self, added: usize) -> bool {
        let budget = ((self.len as f64 * MODEL_SLOTS_PER_KEY) as usize).max(MIN_MODEL_SLOT_BUDGET);
        self.model_slots + added <= budget
    }

    /// The aligned block `(start, size)` of slots of `parent` that hold `child`, given one
    /// slot `slot` that does.
    pub(crate) fn block_of(&self, parent: u32, slot: usize, child: u32) -> (usize, usize) {
        let children = &self.models[parent as usize].children;
        let mut size = 1;
        while size < children.len() {
            let bigger = size * 2;
            let start = slot & !(bigger - 1);
            if children[start] == child && children[start + bigger - 1] == child {
                size = bigger;
            } else {
                break;
            }
        }
        (slot & !(size - 1), size)
    }

    /// Called when data node `leaf` (where `key` routes) cannot take `key`: grows a domain,
    /// expands the node, or splits it. Afterwards an insert of `key` finds room, or the next
    /// call makes further progress.
    pub(crate) fn make_room(&mut self, leaf: u32, key: i64) {
        let root = &self.models[self.root as usize];
        let raw = root.router.raw_slot(key);
        let fanout = root.children.len() as i64;
        if raw < 0 || raw >= fanout {
            self.grow_root(key, raw >= fanout);
            return;
        }
        let mut path = Vec::with_capacity(8);
        let found = self.path_to(key, &mut path);
        assert_eq!(
            found, leaf,
            "make_room: key {key} does not route to leaf {leaf}"
        );
        let parent = *path.last().expect("path holds at least the root");
        if parent != self.root {
            let p = &self.models[parent as usize];
            let raw = p.router.raw_slot(key);
            let fanout = p.children.len() as i64;
            if (raw < 0 || raw >= fanout) && self.grow_in_place(parent, key, raw >= fanout) {
                return;
            }
        }
        self.expand_or_split(leaf, parent, key);
    }

    /// Slots for `n` keys at `density`, but no more than the map's maximum node size (an
    /// uneven split or a domain growth can leave one part with nearly all of a full
    /// node's keys; it then starts out denser, and splits at its next expansion) — unless
    /// `n` keys do not fit the maximum even at the upper density, which only a part
    /// holding keys that no router separates can reach (see [`UNSEPARABLE_MAX_SLOTS`]).
    pub(crate) fn capped_capacity(&self, n: usize, density: f64) -> usize {
        capacity_for(n, density)
            .min(self.max_data_slots)
            .max(capacity_for(n, cost::MAX_DENSITY))
    }

    /// Expands `leaf`, or splits it, whichever the cost model prefers.
    fn expand_or_split(&mut self, leaf: u32, parent: u32, key: i64) {
        let node = &self.datas[leaf as usize];
        let n = node.num_keys();
        let layout = layout_for(node);
        let too_big = capacity_for(n + 1, MIN_DENSITY) > self.max_data_slots;
        let catastrophic = is_catastrophic(node);
        let s = node.stats;
        let expected = cost::expected_cost(node.expected_iters, node.expected_shifts);
        let empirical = cost::empirical_cost(s.inserts, s.search_iters, s.shifts);
        let deviated = s.inserts >= MIN_INSERTS_FOR_DEVIATION
            && empirical > DEVIATION_FACTOR * expected + DEVIATION_SLACK;
        // Append-mostly nodes keep their room on the side where keys arrive, so appends are
        // cheap after an expansion whatever the model's fit; splitting them would only cut off
        // the end that receives every insert (and, at the edge of a domain, deepen the tree).
        if !too_big && (layout != Layout::Spread || (!catastrophic && !deviated)) {
            self.expand(leaf, layout, !deviated && layout == Layout::Spread, None);
            return;
        }
        let pairs = node.pairs();
        let p = &self.models[parent as usize];
        let fanout = p.children.len();
        let slot = p.router.slot(key, fanout);
        let (block_start, block_size) = self.block_of(parent, slot, leaf | DATA_TAG);
        let cap_fanout = self.fanout_cap();
        let mut best = Choice::Expand;
        let mut best_cost = if too_big {
            f64::INFINITY
        } else {
            cost::leaf_cost(&pairs, MIN_DENSITY)
        };
        let mut best_split: Option<(f64, Choice)> = None;
        let mut consider = |choice: Choice, c: f64| {
            if c < best_cost {
                best_cost = c;
                best = choice;
            }
            if best_split.is_none_or(|(bc, _)| c < bc) {
                best_split = Some((c, choice));
            }
        };
        for d in 1..=MAX_SPLIT_DEPTH {
            let parts = 1usize << d;
            if parts > n {
                break;
            }
            // The direction follows from the parent, as in ALEX's reference implementation:
            // sideways when the parent can hold the parts (expanding it first, within the
            // fanout cap, if the node has fewer slots than parts), downward only when it
            // cannot. The cost model weighs expanding against the number of parts. Two
            // differences: a sideways partition by the parent's slots that leaves every key
            // in one part (a cluster inside one slot) is not taken, and a parent is not
            // grown past the map's model-slot budget; those splits go downward, where the
            // new model node spans the node's own keys.
            let scale = if block_size >= parts {
                1
            } else {
                parts / block_size
            };
            let mut sideways = false;
            if fanout * scale <= cap_fanout && self.model_slots_allow(fanout * (scale - 1)) {
                let router = p.router.scale(scale);
                let scaled_fanout = fanout * scale;
                let part = block_size * scale / parts;
                let bounds = slot_bounds(
                    &pairs,
                    parts,
                    |k| router.slot(k, scaled_fanout),
                    block_start * scale,
                    part,
                );
                if separates(&bounds, n) {
                    let extra =
                        (parts - 1) as f64 * DATA_NODE_BYTES + ((scale - 1) * fanout * 4) as f64;
                    consider(
                        Choice::Sideways(d),
                        cost::parts_cost(&pairs, &bounds, extra),
                    );
                    sideways = true;
                }
            }
            if sideways {
                continue;
            }
            // Downwards: a new model node spanning the node's keys.
            let router = downward_router(&pairs, parts);
            let bounds = slot_bounds(&pairs, parts, |k| router.slot(k, parts), 0, 1);
            if separates(&bounds, n) {
                let extra = parts as f64 * (DATA_NODE_BYTES + 4.0) + MODEL_NODE_BYTES;
                consider(
                    Choice::Downward(d),
                    NODE_LOOKUP_WEIGHT + cost::parts_cost(&pairs, &bounds, extra),
                );
            }
        }
        if best == Choice::Expand
            && (too_big || catastrophic)
            && let Some((_, choice)) = best_split
        {
            best = choice;
        }
        // A node too big to expand that no split separates — every router puts all its keys
        // in one slot, because they all round to the same `f64` — expands beyond the
        // maximum after all: there is no other way to make room. Bounded by
        // `UNSEPARABLE_MAX_SLOTS`; the first key inserted outside that `f64` makes the node
        // separable, and its next growth splits it.
        match best {
            Choice::Expand => self.expand(leaf, layout, false, Some(&pairs)),
            Choice::Sideways(d) => {
                self.split_sideways(leaf, parent, block_start, block_size, d, &pairs, layout)
            }
            Choice::Downward(d) => {
                self.split_downward(leaf, parent, block_start, block_size, d, &pairs, layout)
            }
        }
    }

    /// Rebuilds `leaf` with room for more keys (or, if it is not full, retrains it at its
    /// current size). With `rescale`, the node's model is scaled to the new capacity instead
    /// of refitted (ALEX does this when the model's cost has not deviated).
    ///
    /// `pairs` are the node's pairs if the caller has collected them already (a full
    /// node whose split was weighed): collecting them again cost a second copy.
    fn expand(&mut self, leaf: u32, layout: Layout, rescale: bool, pairs: Option<&[(i64, V)]>) {
        let slab = self.growth_slab();
        let node = &mut self.datas[leaf as usize];
        let n = node.num_keys();
        let cap = capacity_for(n + 1, MIN_DENSITY).max(node.capacity());
        let collected;
        let pairs = match pairs {
            Some(pairs) => pairs,
            None => {
                collected = node.pairs();
                &collected
            }
        };
        let (prev, next) = (node.prev, node.next);
        // The old model predicts ranks of the old keys; as a rank model it keeps its shape.
        let model = (rescale && n > 0).then(|| node.rank_model());
        // The pairs are copied out: free the old arrays first, so the new ones can reuse
        // their space (in a slab, merged with free neighbours).
        node.clear();
        *node = if let Some(model) = model {
            DataNode::build_with_model(pairs, cap, model, layout, slab.as_ref())
        } else {
            DataNode::build_with_capacity(pairs, cap, layout, slab.as_ref())
        };
        node.prev = prev;
        node.next = next;
        self.counters.expansions += 1;
    }

    /// Splits every slot of model node `m` into `scale` slots (pointer duplication keeps every
    /// key routed to the same child).
    fn expand_model(&mut self, m: u32, scale: usize) {
        let node = &self.models[m as usize];
        let mut children = Vec::with_capacity(node.children.len() * scale);
        for &c in node.children.iter() {
            children.extend(std::iter::repeat_n(c, scale));
        }
        self.set_children(m, children.into_boxed_slice());
        let node = &mut self.models[m as usize];
        node.router = node.router.scale(scale);
        self.counters.model_expansions += 1;
    }

    /// Builds the data nodes for `parts` of `pairs`, reusing `leaf`'s arena slot for the first,
    /// and relinks the leaf chain. Returns their ids.
    fn build_parts(
        &mut self,
        leaf: u32,
        pairs: &[(i64, V)],
        bounds: &[usize],
        layout: Layout,
    ) -> Vec<u32> {
        let (prev, next) = (
            self.datas[leaf as usize].prev,
            self.datas[leaf as usize].next,
        );
        let parts = bounds.len() - 1;
        let mut ids = Vec::with_capacity(parts);
        let slab = self.growth_slab();
        // The pairs are copied out: the parts can reuse the old arrays' space.
        self.datas[leaf as usize].clear();
        for j in 0..parts {
            let part_layout = match layout {
                Layout::RoomRight if j == parts - 1 => Layout::RoomRight,
                Layout::RoomLeft if j == 0 => Layout::RoomLeft,
                _ => Layout::Spread,
            };
            let part = &pairs[bounds[j]..bounds[j + 1]];
            let cap = self.capped_capacity(part.len(), INIT_DENSITY);
            let node = DataNode::build_with_capacity(part, cap, part_layout, slab.as_ref());
            let id = if j == 0 {
                self.datas[leaf as usize] = node;
                leaf
            } else {
                self.alloc_data(node)
            };
            ids.push(id);
        }
        self.link_chain(prev, &ids, next);
        ids
    }

    #[allow(clippy::too_many_arguments)] // Reason: the split needs the node's whole position.
    fn split_sideways(
        &mut self,
        leaf: u32,
        parent: u32,
        block_start: usize,
        block_size: usize,
        depth: u32,
        pairs: &[(i64, V)],
        layout: Layout,
    ) {
        let parts = 1usize << depth;
        let (start, size) = if block_size < parts {
            let scale = parts / block_size;
            self.expand_model(parent, scale);
            (block_start * scale, parts)
        } else {
            (block_start, block_size)
        };
        let p = &self.models[parent as usize];
        let (router, fanout) = (p.router, p.children.len());
        let part = size / parts;
        let bounds = slot_bounds(pairs, parts, |k| router.slot(k, fanout), start, part);
        let ids = self.build_parts(leaf, pairs, &bounds, layout);
        let children = &mut self.models[parent as usize].children;
        for (j, id) in ids.into_iter().enumerate() {
            children[start + j * part..start + (j + 1) * part].fill(id | DATA_TAG);
        }
        self.counters.sideways_splits += 1;
    }

    #[allow(clippy::too_many_arguments)] // Reason: the split needs the node's whole position.
    fn split_downward(
        &mut self,
        leaf: u32,
        parent: u32,
        block_start: usize,
        block_size: usize,
        depth: u32,
        pairs: &[(i64, V)],
        layout: Layout,
    ) {
        let parts = 1usize << depth;
        let router = downward_router(pairs, parts);
        let bounds = slot_bounds(pairs, parts, |k| router.slot(k, parts), 0, 1);
        let ids = self.build_parts(leaf, pairs, &bounds, layout);
        let children: Box<[u32]> = ids.iter().map(|id| id | DATA_TAG).collect();
        let m = self.alloc_model(ModelNode { router, children });
        self.models[parent as usize].children[block_start..block_start + block_size].fill(m);
        self.counters.downward_splits += 1;
    }

    /// Contracts, merges and collapses after a delete from `leaf` (where `key` routed, via the
    /// model nodes `path`).
    pub(crate) fn after_remove(&mut self, mut leaf: u32, key: i64, path: &[u32]) {
        let slab = self.growth_slab();
        let node = &mut self.datas[leaf as usize];
        let cap = node.capacity();
        if node.num_keys() == 0 && cap > 0 {
            node.rebuild(&[], MIN_DENSITY, Layout::Spread, None);
            self.counters.contractions += 1;
        } else if cap > 16 && (node.num_keys() as f64) < cap as f64 * cost::CONTRACT_DENSITY {
            let pairs = node.pairs();
            node.rebuild(&pairs, MIN_DENSITY, Layout::Spread, slab.as_ref());
            self.counters.contractions += 1;
        }
        let mut depth = path.len();
        while depth > 0 {
            let parent = path[depth - 1];
            let p = &self.models[parent as usize];
            let fanout = p.children.len();
            let slot = p.router.slot(key, fanout);
            let (start, size) = self.block_of(parent, slot, leaf | DATA_TAG);
            if size == fanout {
                // The parent routes everything to this leaf: replace it by the leaf.
                if depth < 2 {
                    break;
                }
                let grand = path[depth - 2];
                for c in self.models[grand as usize].children.iter_mut() {
                    if *c == parent {
                        *c = leaf | DATA_TAG;
                    }
                }
                self.free_model(parent);
                self.counters.collapses += 1;
                depth -= 1;
                continue;
            }
            let buddy_start = start ^ size;
            let buddy = p.children[buddy_start];
            if buddy & DATA_TAG == 0 || p.children[buddy_start + size - 1] != buddy {
                break;
            }
            let buddy = buddy & !DATA_TAG;
            let (a, b) = (
                self.datas[leaf as usize].num_keys(),
                self.datas[buddy as usize].num_keys(),
            );
            if a != 0 && b != 0 && a + b > MERGE_MAX_KEYS {
                break;
            }
            let (survivor, victim) = if a == 0 { (buddy, leaf) } else { (leaf, buddy) };
            if a != 0 && b != 0 {
                let (left, right) = if start < buddy_start {
                    (leaf, buddy)
                } else {
                    (buddy, leaf)
                };
                let mut pairs = self.datas[left as usize].pairs();
                self.datas[right as usize].append_pairs(&mut pairs);
                self.datas[survivor as usize].rebuild(
                    &pairs,
                    INIT_DENSITY,
                    Layout::Spread,
                    slab.as_ref(),
                );
            }
            let (prev, next) = (
                self.datas[victim as usize].prev,
                self.datas[victim as usize].next,
            );
            self.link_chain(prev, &[], next);
            let merged_start = start.min(buddy_start);
            self.models[parent as usize].children[merged_start..merged_start + 2 * size]
                .fill(survivor | DATA_TAG);
            self.free_data(victim);
            self.counters.merges += 1;
            leaf = survivor;
        }
    }
}

/// Router of a model node replacing a data node holding `pairs` (sorted, at least 2 keys).
fn downward_router<V>(pairs: &[(i64, V)], parts: usize) -> Router {
    let lo = pairs[0].0 as f64;
    let hi = pairs[pairs.len() - 1].0 as f64;
    Router::spanning(lo, hi - lo + 1.0, parts)
}
