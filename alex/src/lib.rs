//! ALEX, the updatable adaptive learned index (Ding et al., SIGMOD 2020): an ordered map from
//! `i64` keys to `Copy` payloads that behaves exactly like `BTreeMap<i64, V>`.
//!
//! The public API is [`AlexMap`] (this file). The design is described in `docs/alex.md`;
//! internals live in the modules below:
//! - `model`: linear models (model-node router, data-node position model);
//! - `data`: data nodes (gapped arrays, search, insert, delete), `bitmap`: their bitmaps;
//! - `cost`: the cost model and every tuning constant;
//! - `structure`: expansion, contraction, splits, merges and collapses;
//! - `grow`: growth of the root's (or a model node's) key domain;
//! - `bulk`: bulk load (top-down, fanout chosen by the cost model);
//! - `iter`: ordered iteration in both directions;
//! - `invariants`: `check_invariants` and `stats`.
//!
//! Invariants of the tree (checked by [`AlexMap::check_invariants`]):
//! - The root is a model node. Every model node has a power-of-two number of child slots;
//!   each child occupies one aligned power-of-two block of consecutive slots (pointer
//!   duplication) and is referenced by exactly one parent.
//! - Every key is stored in the data node that routing from the root leads to; since every
//!   router is monotone, an in-order walk of the leaves yields the keys in increasing order.
//! - The leaves form a doubly linked list in key order (`first_leaf .. last_leaf`).
//! - `len` is the sum of the data nodes' key counts.

mod bitmap;
mod bulk;
mod cost;
mod data;
mod grow;
mod invariants;
mod iter;
mod model;
mod slab;
mod structure;

#[cfg(test)]
mod tests;

use std::ops::RangeBounds;
use std::sync::Arc;

pub use iter::Range;

use data::{DataNode, Locate, NIL};
use model::Router;

pub(crate) use cost::MAX_DENSITY;

/// ALEX's largest data node: 2^20 slots, 16 MiB of `i64` keys and 8-byte payloads (the
/// reference implementation's `max_data_node_bytes` of 2^24). The default of
/// [`AlexMap::new`].
pub const DEFAULT_MAX_DATA_SLOTS: usize = cost::MAX_DATA_SLOTS;

/// The values [`AlexMap::with_max_data_slots`] accepts: from 2^10 slots (a node must hold
/// a split's worth of keys) up to [`DEFAULT_MAX_DATA_SLOTS`].
pub const MAX_DATA_SLOTS_RANGE: std::ops::RangeInclusive<usize> =
    (1 << 10)..=DEFAULT_MAX_DATA_SLOTS;

/// A maximum data node size outside [`MAX_DATA_SLOTS_RANGE`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("maximum data node size of {slots} slots is outside the supported {min}..={max}")]
pub struct InvalidMaxDataSlots {
    pub slots: usize,
    pub min: usize,
    pub max: usize,
}

fn check_max_data_slots(slots: usize) -> Result<usize, InvalidMaxDataSlots> {
    if MAX_DATA_SLOTS_RANGE.contains(&slots) {
        Ok(slots)
    } else {
        Err(InvalidMaxDataSlots {
            slots,
            min: *MAX_DATA_SLOTS_RANGE.start(),
            max: *MAX_DATA_SLOTS_RANGE.end(),
        })
    }
}

/// Error of [`AlexMap::bulk_load`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BulkLoadError {
    #[error(transparent)]
    InvalidMaxDataSlots(#[from] InvalidMaxDataSlots),
    #[error(
        "bulk load input is not strictly increasing at index {index}: key {key} follows {previous}"
    )]
    NotStrictlyIncreasing {
        index: usize,
        previous: i64,
        key: i64,
    },
}

/// Shape and size of an index, and counters of the structural operations performed so far
/// (cumulative over the life of the map, so tests can prove that a path was taken).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AlexStats {
    /// Keys held.
    pub keys: usize,
    /// Levels from the root to the deepest data node, counting both (a root with data-node
    /// children has depth 2).
    pub depth: usize,
    /// Model nodes in the tree.
    pub model_nodes: usize,
    /// Data nodes in the tree.
    pub data_nodes: usize,
    /// Bytes of the structure: capacities of all key, payload, bitmap and child arrays, of
    /// the node arenas and free lists, and the free space inside a bulk load's slab
    /// (below). Heap arrays count their requested size: the global allocator's own
    /// overhead and fragmentation are not seen.
    pub heap_bytes: usize,
    /// Bytes used of the slab a large bulk load allocates its node arrays from (an
    /// anonymous mapping advised for huge pages, outside the global allocator, that later
    /// rebuilds of nodes allocate from as well; 0 when the map has none): up to the end of
    /// its highest block, so live arrays and the free blocks between them. Included in
    /// `heap_bytes`.
    pub slab_bytes: usize,
    /// Times a slab was released: once less than half of its used bytes were live (after
    /// removes, typically), its remaining arrays were copied to the heap and the mapping
    /// was unmapped.
    pub slab_releases: u64,
    /// Slots of the largest data node (at most [`AlexMap::max_data_slots`], or 1,710 for
    /// a node holding only keys no router separates; see [`AlexMap::with_max_data_slots`]).
    pub largest_data_node_slots: usize,
    /// Data nodes expanded in place (density bound reached, no split chosen).
    pub expansions: u64,
    /// Data nodes contracted after deletes.
    pub contractions: u64,
    /// Data nodes split sideways (into their parent's slots).
    pub sideways_splits: u64,
    /// Data nodes split downwards (replaced by a new model node).
    pub downward_splits: u64,
    /// Model nodes whose slot array was doubled (or more) to make room for a sideways split.
    pub model_expansions: u64,
    /// Times a model node's key domain grew to the left / right for out-of-domain keys,
    /// including the root.
    pub domain_growths_left: u64,
    pub domain_growths_right: u64,
    /// Times the root grew for an out-of-domain key (in place, by a new root, or by a rebuild
    /// of a small tree), per side.
    pub root_growths_left: u64,
    pub root_growths_right: u64,
    /// Root growths that put a new root above the old one (the tree got one level deeper).
    pub new_roots: u64,
    /// Data nodes merged with their sibling after deletes.
    pub merges: u64,
    /// Model nodes removed because all their slots pointed to a single child.
    pub collapses: u64,
}

/// Cumulative counters (see [`AlexStats`]).
#[derive(Debug, Clone, Default)]
pub(crate) struct Counters {
    pub expansions: u64,
    pub contractions: u64,
    pub sideways_splits: u64,
    pub downward_splits: u64,
    pub model_expansions: u64,
    pub domain_growths_left: u64,
    pub domain_growths_right: u64,
    pub root_growths_left: u64,
    pub root_growths_right: u64,
    pub new_roots: u64,
    pub merges: u64,
    pub collapses: u64,
    pub slab_releases: u64,
}

/// Tag bit of a child reference: set for a data node, clear for a model node. The remaining
/// 31 bits are the index in the node's arena.
pub(crate) const DATA_TAG: u32 = 1 << 31;

/// A model node: a router and a power-of-two array of child references.
#[derive(Clone, Debug)]
pub(crate) struct ModelNode {
    pub router: Router,
    /// Child references (`DATA_TAG | data index`, or a model index); length a power of two.
    pub children: Box<[u32]>,
}

impl ModelNode {
    #[inline(always)]
    pub fn child_for(&self, key: i64) -> u32 {
        self.children[self.router.slot(key, self.children.len())]
    }
}

/// Lookups [`AlexMap::get_many`] interleaves: enough to cover a lookup's misses with the
/// others' (a window's state is 16 leaf numbers on the stack).
pub const GET_MANY_WINDOW: usize = 16;

/// An ordered map from `i64` to `V`, indexed by ALEX.
#[derive(Clone)]
pub struct AlexMap<V> {
    /// Model-node arena; freed slots are listed in `free_models`.
    models: Vec<ModelNode>,
    /// Data-node arena; freed slots are listed in `free_datas` (and hold empty nodes).
    datas: Vec<DataNode<V>>,
    free_models: Vec<u32>,
    free_datas: Vec<u32>,
    /// Index of the root model node.
    root: u32,
    /// Keys held.
    len: usize,
    /// Ends of the leaf chain.
    first_leaf: u32,
    last_leaf: u32,
    counters: Counters,
    /// Slots of all live model nodes together (the pointer memory that sideways splits
    /// grow; bounded by [`cost::MODEL_SLOTS_PER_KEY`] when a split would grow a parent).
    model_slots: usize,
    /// No data node grows beyond this many slots (see [`AlexMap::with_max_data_slots`]).
    max_data_slots: usize,
    /// The slab of the last bulk load, which node arrays are allocated from until it is
    /// released (`slab` module docs).
    slab: slab::MapSlab,
}

impl<V: Copy + std::fmt::Debug> std::fmt::Debug for AlexMap<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl<V: Copy> Default for AlexMap<V> {
    fn default() -> Self {
        Self::new()
    }
}

/// Bound on the attempts of one insert: each failed attempt expands, splits or grows a node,
/// and one of those always makes room; more attempts than this means a bug.
const MAX_INSERT_ATTEMPTS: usize = 64;

impl<V: Copy> AlexMap<V> {
    /// An empty map: a root with one slot pointing to an empty data node. Data nodes grow
    /// up to ALEX's [`DEFAULT_MAX_DATA_SLOTS`].
    pub fn new() -> Self {
        Self::empty_with(DEFAULT_MAX_DATA_SLOTS)
    }

    /// An empty map whose data nodes never grow beyond `slots` slots (ALEX's maximum node
    /// size, `max_data_node_bytes` in the reference implementation): a full node of that
    /// size splits instead of expanding. The insert that expands a node rebuilds it at
    /// once, so the maximum bounds the slowest insert — 13–22 ms at the default 2^20
    /// slots, 2.6–3.4 ms at 2^17 over 10M random inserts into an empty map (docs/alex.md,
    /// "Maximum node size") — at the price of more, smaller nodes.
    ///
    /// One exception: routers compute in `f64`, and up to 1,025 distinct keys (beyond
    /// ±2^62, where `f64`s are 1,024 apart) convert to the same `f64`. A node holding only
    /// such keys cannot split, and grows past `slots` if it must, to at most 1,710 slots.
    pub fn with_max_data_slots(slots: usize) -> Result<Self, InvalidMaxDataSlots> {
        Ok(Self::empty_with(check_max_data_slots(slots)?))
    }

    /// The largest data node this map builds, in slots.
    pub fn max_data_slots(&self) -> usize {
        self.max_data_slots
    }

    fn empty_with(max_data_slots: usize) -> Self {
        let mut map = AlexMap {
            models: Vec::new(),
            datas: Vec::new(),
            free_models: Vec::new(),
            free_datas: Vec::new(),
            root: 0,
            len: 0,
            first_leaf: 0,
            last_leaf: 0,
            counters: Counters::default(),
            model_slots: 1,
            max_data_slots,
            slab: slab::MapSlab::default(),
        };
        map.datas.push(DataNode::empty());
        map.models.push(ModelNode {
            router: Router::spanning(0.0, 1.0, 1),
            children: Box::new([DATA_TAG]),
        });
        map
    }

    /// Builds a map from strictly increasing `(key, value)` pairs.
    ///
    /// When the data nodes' arrays come to 8 MiB or more, they are allocated from one
    /// anonymous mapping advised for transparent huge pages instead of the heap (fewer TLB
    /// misses for lookups and scans). Nodes that later inserts and removes rebuild are
    /// allocated from it too, in the space freed by earlier rebuilds where it fits; it is
    /// released to the heap once less than half of it is live. See
    /// [`AlexStats::slab_bytes`] and docs/alex.md, "Node memory".
    pub fn bulk_load(sorted: &[(i64, V)]) -> Result<Self, BulkLoadError> {
        Self::bulk_load_with_max_data_slots(sorted, DEFAULT_MAX_DATA_SLOTS)
    }

    /// [`AlexMap::bulk_load`] into a map whose data nodes never exceed `max_data_slots`
    /// (see [`AlexMap::with_max_data_slots`]).
    pub fn bulk_load_with_max_data_slots(
        sorted: &[(i64, V)],
        max_data_slots: usize,
    ) -> Result<Self, BulkLoadError> {
        let max_data_slots = check_max_data_slots(max_data_slots)?;
        for (index, pair) in sorted.windows(2).enumerate() {
            if pair[0].0 >= pair[1].0 {
                return Err(BulkLoadError::NotStrictlyIncreasing {
                    index: index + 1,
                    previous: pair[0].0,
                    key: pair[1].0,
                });
            }
        }
        Ok(Self::bulk_load_checked(
            sorted,
            max_data_slots,
            slab::SLAB_MIN_BYTES,
        ))
    }

    /// Bulk load of pairs already checked; node arrays go to a slab from `slab_min_bytes`.
    pub(crate) fn bulk_load_checked(
        sorted: &[(i64, V)],
        max_data_slots: usize,
        slab_min_bytes: usize,
    ) -> Self {
        let mut map = AlexMap::empty_with(max_data_slots);
        if let (Some(first), Some(last)) = (sorted.first(), sorted.last()) {
            map.rebuild_from(sorted, first.0, last.0, slab_min_bytes);
        }
        map
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The data node that routing leads `key` to.
    #[inline(always)]
    pub(crate) fn leaf_for(&self, key: i64) -> u32 {
        let mut node = &self.models[self.root as usize];
        loop {
            let child = node.child_for(key);
            if child & DATA_TAG != 0 {
                return child & !DATA_TAG;
            }
            node = &self.models[child as usize];
        }
    }

    /// Like [`Self::leaf_for`], also recording the model nodes on the way (root first).
    pub(crate) fn path_to(&self, key: i64, path: &mut Vec<u32>) -> u32 {
        path.clear();
        let mut id = self.root;
        loop {
            path.push(id);
            let child = self.models[id as usize].child_for(key);
            if child & DATA_TAG != 0 {
                return child & !DATA_TAG;
            }
            id = child;
        }
    }

    pub fn get(&self, key: i64) -> Option<&V> {
        let node = &self.datas[self.leaf_for(key) as usize];
        node.find(key).map(|slot| &node.vals[slot])
    }

    /// Start loading the lines a lookup, update or insert of `key` will touch in its data
    /// node (the predicted key, payload and bitmap lines); changes nothing. For a caller
    /// with other work to do first: the storage engine asks before it appends the record
    /// to its log, so the index's cache miss overlaps the append instead of following it.
    #[inline]
    pub fn prefetch(&self, key: i64) {
        self.datas[self.leaf_for(key) as usize].prefetch_for_write(key);
    }

    /// Look up every key of `keys` and hand `(position in keys, value)` to `visit`, in
    /// order: the same answers as calling [`AlexMap::get`] for each key, faster when the
    /// keys are many and scattered.
    ///
    /// Why it is faster: a lone `get` waits for its cache misses one after another (the
    /// data node, then the key slot, then the payload). Here the lookups of a window of
    /// [`GET_MANY_WINDOW`] keys advance stage by stage — route all, then start loading
    /// every node's predicted key and payload lines, then search all — so the misses of
    /// one window overlap instead of adding up. `visit` may start loading whatever the
    /// value points to (the storage engine prefetches the record) before the next window.
    pub fn get_many<'a>(&'a self, keys: &[i64], mut visit: impl FnMut(usize, Option<&'a V>)) {
        let mut leaves = [0u32; GET_MANY_WINDOW];
        for (window, chunk) in keys.chunks(GET_MANY_WINDOW).enumerate() {
            for (leaf, &key) in leaves.iter_mut().zip(chunk) {
                *leaf = self.leaf_for(key);
                data::prefetch(&self.datas, *leaf as usize);
            }
            for (&leaf, &key) in leaves.iter().zip(chunk) {
                self.datas[leaf as usize].prefetch_slot(key);
            }
            for (i, (&leaf, &key)) in leaves.iter().zip(chunk).enumerate() {
                let node = &self.datas[leaf as usize];
                visit(
                    window * GET_MANY_WINDOW + i,
                    node.find(key).map(|slot| &node.vals[slot]),
                );
            }
        }
    }

    /// A mutable reference to the value of `key`: replace a value with one lookup.
    pub fn get_mut(&mut self, key: i64) -> Option<&mut V> {
        let leaf = self.leaf_for(key);
        let node = &mut self.datas[leaf as usize];
        node.find(key).map(|slot| &mut node.vals[slot])
    }

    pub fn contains_key(&self, key: i64) -> bool {
        self.get(key).is_some()
    }

    /// Inserts `value` under `key`, returning the previous value.
    pub fn insert(&mut self, key: i64, value: V) -> Option<V> {
        for _ in 0..MAX_INSERT_ATTEMPTS {
            let leaf = self.leaf_for(key);
            let node = &mut self.datas[leaf as usize];
            match node.locate(key) {
                Locate::Found(slot) => {
                    return Some(std::mem::replace(&mut node.vals[slot], value));
                }
                Locate::Missing {
                    upper,
                    predicted,
                    iters,
                } => {
                    let cap = node.capacity();
                    if cap == 0 {
                        // An empty node has no payload array yet; build it around this key.
                        node.rebuild(
                            &[(key, value)],
                            cost::MIN_DENSITY,
                            data::Layout::Spread,
                            None,
                        );
                        self.len += 1;
                        return None;
                    }
                    let full = node.num_keys() >= structure::expansion_threshold(cap);
                    let check = node.stats.inserts % cost::CATASTROPHIC_CHECK_PERIOD
                        == cost::CATASTROPHIC_CHECK_PERIOD - 1;
                    if !(full || check && structure::is_catastrophic(node)) {
                        node.insert_missing(key, value, upper, predicted, iters);
                        self.len += 1;
                        return None;
                    }
                    self.make_room(leaf, key);
                    self.tend_slab();
                }
            }
        }
        panic!("alex: insert of key {key} found no room after {MAX_INSERT_ATTEMPTS} attempts");
    }

    /// Removes `key`, returning its value.
    pub fn remove(&mut self, key: i64) -> Option<V> {
        let mut path = Vec::with_capacity(8);
        let leaf = self.path_to(key, &mut path);
        let node = &mut self.datas[leaf as usize];
        let slot = node.find(key)?;
        let value = node.remove_at(slot);
        self.len -= 1;
        if self.len == 0 {
            self.reset_structure();
        } else {
            self.after_remove(leaf, key, &path);
            self.tend_slab();
        }
        Some(value)
    }

    /// Iterator over the entries with keys in `range`, in key order (and reversible).
    ///
    /// # Panics
    /// Like `BTreeMap::range`: if the start is greater than the end, or if both are excluded
    /// and equal.
    pub fn range<R: RangeBounds<i64>>(&self, range: R) -> Range<'_, V> {
        Range::new(
            self,
            range.start_bound().cloned(),
            range.end_bound().cloned(),
        )
    }

    pub fn iter(&self) -> Range<'_, V> {
        self.range(..)
    }

    pub fn first_key_value(&self) -> Option<(i64, &V)> {
        self.iter().next()
    }

    pub fn last_key_value(&self) -> Option<(i64, &V)> {
        self.iter().next_back()
    }

    /// Shape, size and structural counters.
    pub fn stats(&self) -> AlexStats {
        self.compute_stats()
    }

    /// Checks every structural invariant; panics with a description of the first violation.
    pub fn check_invariants(&self) {
        self.check_all();
    }

    /// Drops every node and starts over with the minimal structure, keeping the counters.
    fn reset_structure(&mut self) {
        if self.models.len() == 1 && self.datas.len() == 1 && self.datas[0].capacity() <= 64 {
            return;
        }
        let counters = std::mem::take(&mut self.counters);
        *self = AlexMap::empty_with(self.max_data_slots);
        self.counters = counters;
    }

    /// Releases the bulk load's slab once fewer than half of its used bytes are live (the
    /// rest free blocks that rebuilds have not reused, typically after removes): the arrays
    /// still in it are copied to the heap, up to [`slab::RELEASE_STEP_BYTES`] per call (per
    /// structural change), and the mapping is unmapped after the last. The copy moves at
    /// most as many bytes as are free, so its cost is amortised over the rebuilds that
    /// freed them, and the slab's free space stays below the live bytes beside it until
    /// the release starts. While it runs, rebuilt nodes go to the heap.
    fn tend_slab(&mut self) {
        let Some(slab) = &self.slab.slab else {
            return;
        };
        let mut id = match self.slab.releasing_from {
            Some(id) => id,
            None if slab.live_bytes() * 2 < slab.used_bytes() => 0,
            None => return,
        };
        let slab = Arc::clone(slab);
        let (mut moved, mut visited) = (0, 0);
        while id < self.datas.len()
            && moved < slab::RELEASE_STEP_BYTES
            && visited < slab::RELEASE_STEP_NODES
        {
            let node = &mut self.datas[id];
            if node.is_in_slab(&slab) {
                moved += node.slab_bytes();
                node.move_to_heap();
            }
            id += 1;
            visited += 1;
        }
        if id < self.datas.len() {
            self.slab.releasing_from = Some(id);
        } else {
            debug_assert_eq!(slab.live_bytes(), 0);
            self.slab = slab::MapSlab::default();
            self.counters.slab_releases += 1;
        }
    }

    /// The slab new node arrays go to: the map's, unless it has none or is being released.
    pub(crate) fn growth_slab(&self) -> Option<Arc<slab::Slab>> {
        match self.slab.releasing_from {
            None => self.slab.slab.clone(),
            Some(_) => None,
        }
    }

    /// Bytes of the free blocks inside the bulk load's slab and of their bookkeeping, as
    /// counted in [`AlexStats::heap_bytes`].
    fn slab_dead_bytes(&self) -> usize {
        self.slab.slab.as_ref().map_or(0, |slab| {
            let (free, blocks) = slab.free_blocks();
            free + blocks * slab::FREE_BLOCK_BOOKKEEPING_BYTES
        })
    }

    pub(crate) fn alloc_data(&mut self, node: DataNode<V>) -> u32 {
        if let Some(id) = self.free_datas.pop() {
            self.datas[id as usize] = node;
            id
        } else {
            let id = self.datas.len() as u32;
            assert!(id < DATA_TAG, "alex: data node arena overflow");
            self.datas.push(node);
            id
        }
    }

    pub(crate) fn free_data(&mut self, id: u32) {
        self.datas[id as usize] = DataNode::empty();
        self.free_datas.push(id);
    }

    pub(crate) fn alloc_model(&mut self, node: ModelNode) -> u32 {
        self.model_slots += node.children.len();
        if let Some(id) = self.free_models.pop() {
            self.models[id as usize] = node;
            id
        } else {
            let id = self.models.len() as u32;
            assert!(id < DATA_TAG, "alex: model node arena overflow");
            self.models.push(node);
            id
        }
    }

    pub(crate) fn free_model(&mut self, id: u32) {
        self.set_children(id, Box::new([]));
        self.free_models.push(id);
    }

    /// Replaces model node `id`'s slot array, keeping the count of model slots.
    pub(crate) fn set_children(&mut self, id: u32, children: Box<[u32]>) {
        let node = &mut self.models[id as usize];
        self.model_slots = self.model_slots - node.children.len() + children.len();
        node.children = children;
    }

    /// Links `ids` (in key order) between leaves `prev` and `next` (either may be [`NIL`]).
    pub(crate) fn link_chain(&mut self, prev: u32, ids: &[u32], next: u32) {
        let mut left = prev;
        for &id in ids {
            self.datas[id as usize].prev = left;
            if left == NIL {
                self.first_leaf = id;
            } else {
                self.datas[left as usize].next = id;
            }
            left = id;
        }
        if left == NIL {
            self.first_leaf = next;
        } else {
            self.datas[left as usize].next = next;
        }
        if next == NIL {
            self.last_leaf = left;
        } else {
            self.datas[next as usize].prev = left;
        }
    }
}

impl<V: Copy> FromIterator<(i64, V)> for AlexMap<V> {
    fn from_iter<I: IntoIterator<Item = (i64, V)>>(iter: I) -> Self {
        let mut pairs: Vec<(i64, V)> = iter.into_iter().collect();
        // Later values win, as with repeated inserts: stable sort, then keep the last of each run.
        pairs.sort_by_key(|p| p.0);
        let mut dedup: Vec<(i64, V)> = Vec::with_capacity(pairs.len());
        for p in pairs {
            match dedup.last_mut() {
                Some(last) if last.0 == p.0 => *last = p,
                _ => dedup.push(p),
            }
        }
        AlexMap::bulk_load(&dedup).expect("deduplicated sorted input is strictly increasing")
    }
}

impl<V: Copy> Extend<(i64, V)> for AlexMap<V> {
    fn extend<I: IntoIterator<Item = (i64, V)>>(&mut self, iter: I) {
        for (k, v) in iter {
            self.insert(k, v);
        }
    }
}
