//! Data nodes: gapped, sorted key and payload arrays with an occupancy bitmap and a linear
//! position model (the leaves of ALEX).
//!
//! Invariants (checked by [`DataNode::check`]):
//! - `keys.len() == capacity`, `bitmap.len() == ceil(capacity / 64)`, bits past `capacity`
//!   are 0, and `vals.len()` is `capacity` (or 0 while the node has never held a key and
//!   `capacity == 0`).
//! - The occupancy bitmap alone decides which slots hold keys; `num_keys` is its popcount.
//!   Occupied keys are strictly increasing by slot.
//! - Gap fill: a gap holds the key of the next occupied slot to its right; gaps after the
//!   last occupied slot (or in a node without keys) hold `i64::MAX`, and gaps before the first
//!   occupied slot hold `i64::MIN`. So `keys` is non-decreasing and a plain search on it (no
//!   bitmap) finds the upper bound of any key. Leading gaps hold `i64::MIN` rather than the
//!   first key so that keys arriving below every key (a prepend-mostly node) can be placed
//!   next to the first key without rewriting the whole run of leading gaps.
//! - The fill values `i64::MIN` and `i64::MAX` are real key values too; the only searches
//!   they can fool are for those two keys, so whether the node holds them is kept in
//!   `has_min` / `has_max` (never inferred from a key value).
//! - A gap's payload is some copy of a `V` (payloads are `Copy`), never read as a value.

use std::sync::Arc;

use crate::bitmap::{bit, next_clear, next_set, prev_clear, prev_set};
use crate::model::DataModel;
use crate::slab::{NodeArray, NodePin, Slab};

/// Ask the CPU to start loading the cache line of `slice[index]` into the first-level
/// cache (nothing if `index` is out of bounds or off x86-64). A hint only: never faults,
/// changes no value.
#[inline(always)]
pub(crate) fn prefetch<T>(slice: &[T], index: usize) {
    prefetch_into::<T, 3>(slice, index);
}

#[cfg(target_arch = "x86_64")]
const _: () = assert!(
    std::arch::x86_64::_MM_HINT_T0 == 3 && std::arch::x86_64::_MM_HINT_T1 == 2,
    "prefetch hint values"
);

/// `_mm_prefetch` with hint `HINT` (3 = `_MM_HINT_T0`, 2 = `_MM_HINT_T1`).
#[inline(always)]
fn prefetch_into<T, const HINT: i32>(slice: &[T], index: usize) {
    if index < slice.len() {
        prefetch_address::<HINT, T>(slice.as_ptr().wrapping_add(index));
    }
}

/// `_mm_prefetch` with hint `HINT` of any address, inside an allocation or not; nothing off
/// x86-64.
#[inline(always)]
pub(crate) fn prefetch_address<const HINT: i32, T>(address: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: `_mm_prefetch` needs SSE, which every x86-64 CPU has; a prefetch is a hint
    // that reads nothing into the program and never faults, whatever the address.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<HINT>(address as *const i8)
    };
    #[cfg(not(target_arch = "x86_64"))]
    let _ = address;
}

/// Fill every gap of `keys` (a clear bit of `bitmap`) with the key of the next occupied
/// slot to its right (`i64::MAX` past the last one), walking from the right. Returns the
/// sum of `len²` over the runs of occupied slots that end at a gap, and the length of
/// the run that reaches slot 0 (ended by the array's start instead).
///
/// Without a branch on each slot's bit: at the nodes' densities (0.6–0.8) a branch per
/// slot mispredicted often (about one slot in three under callgrind's branch simulation);
/// full and empty bitmap words take a shortcut.
fn fill_gaps_from_right(keys: &mut [i64], bitmap: &[u64]) -> (u64, u64) {
    let cap = keys.len();
    let mut fill = i64::MAX;
    let mut run = 0u64;
    let mut run_squares = 0u64;
    for word_index in (0..cap.div_ceil(64)).rev() {
        let word = bitmap[word_index];
        let lo = word_index * 64;
        let hi = (lo + 64).min(cap);
        let slots = &mut keys[lo..hi];
        if word == u64::MAX && slots.len() == 64 {
            fill = slots[0];
            run += 64;
            continue;
        }
        if word == 0 {
            slots.fill(fill);
            run_squares += run * run;
            run = 0;
            continue;
        }
        for offset in (0..slots.len()).rev() {
            // A slot takes the key of the first occupied slot at or after it (itself, if
            // occupied): always a load, never a branch on the slot's own bit — a select
            // between "this key" and "the fill" compiled to one, skipping the load.
            let rest = word >> offset;
            let next = if rest != 0 {
                slots[offset + rest.trailing_zeros() as usize]
            } else {
                fill
            };
            slots[offset] = next;
            let occupied = rest & 1;
            run_squares += (1 - occupied) * run * run;
            run = (run + 1) * occupied;
        }
        fill = slots[word.trailing_zeros() as usize];
    }
    (run_squares, run)
}

/// "No node" in the leaf chain.
pub(crate) const NIL: u32 = u32::MAX;

/// Statistics of inserts since the node was (re)built, for the empirical cost.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct InsertStats {
    pub inserts: u32,
    pub search_iters: u32,
    pub shifts: u32,
    /// Inserts of a key above every key of the node.
    pub right_appends: u32,
    /// Inserts of a key below every key of the node.
    pub left_appends: u32,
}

/// Where new keys are expected, which decides how keys are spread when a node is rebuilt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Layout {
    /// Spread over the whole array.
    Spread,
    /// Keys packed into the left part, room kept on the right (append-mostly nodes).
    RoomRight,
    /// Keys packed into the right part, room kept on the left (prepend-mostly nodes).
    RoomLeft,
}

/// Field order and alignment are chosen so that everything a lookup reads (model, key and
/// payload array pointers, the extreme-key flags) lies in the node's first cache line.
#[derive(Clone, Debug)]
#[repr(C, align(64))]
pub(crate) struct DataNode<V> {
    pub model: DataModel,
    /// One key per slot; gaps hold the fill values described in the module docs.
    pub keys: NodeArray<i64>,
    /// One payload per slot (empty while `capacity == 0`).
    pub vals: NodeArray<V>,
    /// Whether the node holds the key `i64::MAX` (whose slot the gap fill cannot reveal).
    pub has_max: bool,
    /// Whether the node holds the key `i64::MIN`.
    pub has_min: bool,
    /// Bit `i` set iff slot `i` is occupied.
    pub bitmap: NodeArray<u64>,
    /// Keys held (the bitmap's popcount); a `u32` keeps the header within 128 bytes.
    keys_held: u32,
    /// Previous and next leaf in key order, or [`NIL`].
    pub prev: u32,
    pub next: u32,
    pub stats: InsertStats,
    /// Expected search iterations and shifts per insert when the node was built.
    pub expected_iters: f32,
    pub expected_shifts: f32,
    /// Set when some of the arrays above live in a bulk load's slab: keeps it mapped.
    pub pin: NodePin,
}

impl<V> DataNode<V> {
    /// Bytes of this node's arrays that live in a slab.
    pub(crate) fn slab_bytes(&self) -> usize {
        self.keys.slab_bytes() + self.vals.slab_bytes() + self.bitmap.slab_bytes()
    }

    /// Gives the arrays that live in a slab back to it (leaving them empty) and lets go
    /// of the slab.
    fn give_back_slab_arrays(&mut self) {
        if let Some(slab) = self.pin.0.take() {
            self.keys.give_back(&slab);
            self.vals.give_back(&slab);
            self.bitmap.give_back(&slab);
        }
    }
}

impl<V: Copy> DataNode<V> {
    /// Frees the arrays (a slab's back to it) ahead of a rebuild that has copied the
    /// pairs out, so that the rebuilt node can take their space: the node is left empty.
    pub(crate) fn clear(&mut self) {
        let (prev, next) = (self.prev, self.next);
        *self = DataNode::empty();
        self.prev = prev;
        self.next = next;
    }
}

impl<V> Drop for DataNode<V> {
    fn drop(&mut self) {
        self.give_back_slab_arrays();
    }
}

/// Result of locating a key in a data node.
pub(crate) enum Locate {
    Found(usize),
    /// Not present: the first slot whose key is greater (`upper_bound`), the model's
    /// prediction, and the number of search iterations it took.
    Missing {
        upper: usize,
        predicted: usize,
        iters: u32,
    },
}

/// The first index `i` in `[0, keys.len()]` with `keys[i] > key`, by exponential search from
/// `start` (`start < keys.len()`), and its iteration count as ALEX counts it for the cost
/// model: 1 plus the times the bound doubled (the probe that stops the doubling and the
/// binary search after it are not counted). The expected count a build computes,
/// `1 + mean(floor(log2(error + 1)))`, estimates the same quantity; counting every probe
/// (as this did until 2026-12-06) made the empirical count about twice the expected one,
/// so nearly every full node looked mispredicted: it was refitted instead of rescaled and
/// its splits weighed at each expansion (docs/PERFORMANCE.md, "Session 13").
#[inline(always)]
pub(crate) fn upper_bound_from(keys: &[i64], start: usize, key: i64) -> (usize, u32) {
    let n = keys.len();
    let mut iters = 1u32;
    let (mut lo, mut hi);
    if keys[start] <= key {
        // Answer in (start, n].
        lo = start + 1;
        let mut bound = 1usize;
        loop {
            let probe = start + bound;
            if probe >= n {
                hi = n;
                break;
            }
            if keys[probe] > key {
                hi = probe;
                break;
            }
            iters += 1;
            lo = probe + 1;
            bound <<= 1;
        }
    } else {
        // keys[start] > key: answer in [0, start].
        hi = start;
        let mut bound = 1usize;
        loop {
            if bound > start {
                lo = 0;
                break;
            }
            let probe = start - bound;
            if keys[probe] <= key {
                lo = probe + 1;
                break;
            }
            iters += 1;
            hi = probe;
            bound <<= 1;
        }
    }
    // Binary search for the first key > `key` in [lo, hi); `hi` itself qualifies (or is `n`).
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if keys[mid] <= key {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    (lo, iters)
}

/// Capacity for `n` keys at `density`, never below `n + 1` (there is always a gap) nor 8.
pub(crate) fn capacity_for(n: usize, density: f64) -> usize {
    ((n as f64 / density).ceil() as usize).max(n + 1).max(8)
}

impl<V: Copy> DataNode<V> {
    /// A node with no slots.
    pub fn empty() -> Self {
        DataNode {
            keys: NodeArray::empty(),
            vals: NodeArray::empty(),
            bitmap: NodeArray::empty(),
            model: DataModel::ZERO,
            keys_held: 0,
            has_max: false,
            has_min: false,
            prev: NIL,
            next: NIL,
            stats: InsertStats::default(),
            expected_iters: 0.0,
            expected_shifts: 0.0,
            pin: NodePin::default(),
        }
    }

    /// Whether this node's arrays (some of them) live in `slab`.
    pub fn is_in_slab(&self, slab: &Arc<Slab>) -> bool {
        self.pin
            .0
            .as_ref()
            .is_some_and(|pin| Arc::ptr_eq(pin, slab))
    }

    /// Copies the arrays that live in a slab to the heap, gives their slab memory back and
    /// lets go of the slab.
    pub fn move_to_heap(&mut self) {
        if let Some(slab) = self.pin.0.take() {
            self.keys.move_to_heap(&slab);
            self.vals.move_to_heap(&slab);
            self.bitmap.move_to_heap(&slab);
        }
    }

    /// Keys held.
    #[inline(always)]
    pub fn num_keys(&self) -> usize {
        self.keys_held as usize
    }

    pub fn capacity(&self) -> usize {
        self.keys.len()
    }

    pub fn heap_bytes(&self) -> usize {
        self.keys.len() * 8 + self.vals.len() * std::mem::size_of::<V>() + self.bitmap.len() * 8
    }

    pub fn is_occupied(&self, slot: usize) -> bool {
        bit(&self.bitmap, slot)
    }

    /// The highest occupied slot.
    pub fn last_occupied(&self) -> Option<usize> {
        prev_set(&self.bitmap, self.capacity())
    }

    pub fn first_occupied(&self) -> Option<usize> {
        next_set(&self.bitmap, 0, self.capacity())
    }

    pub fn min_key(&self) -> Option<i64> {
        self.first_occupied().map(|s| self.keys[s])
    }

    pub fn max_key(&self) -> Option<i64> {
        self.last_occupied().map(|s| self.keys[s])
    }

    /// Slot of `key`, if present. No bitmap access unless `key == i64::MAX`.
    #[inline(always)]
    pub fn find(&self, key: i64) -> Option<usize> {
        let cap = self.keys.len();
        if cap == 0 {
            return None;
        }
        if key == i64::MAX {
            if !self.has_max {
                return None;
            }
            return self.last_occupied().filter(|&s| self.keys[s] == key);
        }
        let predicted = self.model.predict(key, cap);
        // The payload line at the prediction is almost always the found slot's: loading it
        // now overlaps its miss with the key line's instead of following it. A caller that
        // waits on each lookup (the storage engine's `get`: lookup, then the record it
        // points to) saves a whole miss; for a miss the prefetch is wasted.
        prefetch(&self.vals, predicted);
        let (upper, _) = upper_bound_from(&self.keys, predicted, key);
        // Slot `upper - 1` holds the greatest value <= key. If it equals `key` it is occupied:
        // an interior gap equal to `key` would be followed by another slot equal to `key`, and
        // leading (trailing) gaps hold `i64::MIN` (`i64::MAX`), checked through `has_min`.
        if upper > 0 && self.keys[upper - 1] == key && (key != i64::MIN || self.has_min) {
            Some(upper - 1)
        } else {
            None
        }
    }

    /// Start loading the key and payload lines at `key`'s predicted slot (a hint for
    /// batched lookups; changes nothing).
    #[inline(always)]
    pub fn prefetch_slot(&self, key: i64) {
        self.prefetch_lines(key, false);
    }

    /// [`DataNode::prefetch_slot`] plus the bitmap line an insert of `key` updates.
    #[inline(always)]
    pub fn prefetch_for_write(&self, key: i64) {
        self.prefetch_lines(key, true);
    }

    #[inline(always)]
    fn prefetch_lines(&self, key: i64, bitmap: bool) {
        let cap = self.keys.len();
        if cap > 0 {
            let predicted = self.model.predict(key, cap);
            prefetch(&self.keys, predicted);
            prefetch(&self.vals, predicted);
            if bitmap {
                prefetch(&self.bitmap, predicted >> 6);
            }
        }
    }

    /// Finds `key` or where it would go.
    pub fn locate(&self, key: i64) -> Locate {
        let cap = self.keys.len();
        if cap == 0 {
            return Locate::Missing {
                upper: 0,
                predicted: 0,
                iters: 0,
            };
        }
        let predicted = self.model.predict(key, cap);
        // An update writes the payload, an insert the payloads and the bitmap near the
        // prediction: start loading both lines while the search runs.
        prefetch(&self.vals, predicted);
        prefetch(&self.bitmap, predicted >> 6);
        if key == i64::MAX {
            return match self.last_occupied() {
                Some(s) if self.keys[s] == key => Locate::Found(s),
                Some(s) => Locate::Missing {
                    upper: s + 1,
                    predicted,
                    iters: 1,
                },
                None => Locate::Missing {
                    upper: 0,
                    predicted,
                    iters: 1,
                },
            };
        }
        let (upper, iters) = upper_bound_from(&self.keys, predicted, key);
        if upper > 0 && self.keys[upper - 1] == key && (key != i64::MIN || self.has_min) {
            Locate::Found(upper - 1)
        } else {
            Locate::Missing {
                upper,
                predicted,
                iters,
            }
        }
    }

    /// First occupied slot whose key is `>= key`, starting to load the first
    /// `readahead_lines` key and payload lines from the predicted slot while the search runs
    /// (at least the first three; a scan passes more, see `iter.rs`, "Readahead").
    pub fn lower_bound_slot(&self, key: i64, readahead_lines: usize) -> Option<usize> {
        let cap = self.capacity();
        if cap == 0 {
            return None;
        }
        if key == i64::MIN {
            return self.first_occupied();
        }
        // Upper bound of key - 1 is the first slot with value >= key; the first occupied slot
        // from there holds the first key >= key (gaps repeat the next occupied key). The
        // bitmap word and the payload it leads to are near the prediction: start loading
        // them while the search runs, instead of after it — and the next key and payload
        // lines, where a scan from here goes first. The addresses depend only on the
        // prediction, so these loads overlap the search's own miss; once the search is done
        // nothing can start earlier than its result (its branches wait on the key line).
        let predicted = self.model.predict(key, cap);
        prefetch(&self.bitmap, predicted >> 6);
        prefetch(&self.vals, predicted);
        let mut line = 1;
        while line < readahead_lines.max(3) {
            prefetch(&self.keys, predicted + line * 8);
            prefetch(&self.vals, predicted + line * 8);
            line += 1;
        }
        let (upper, _) = upper_bound_from(&self.keys, predicted, key - 1);
        next_set(&self.bitmap, upper, cap)
    }

    /// Last occupied slot whose key is `<= key`.
    pub fn upper_bound_slot(&self, key: i64) -> Option<usize> {
        let cap = self.capacity();
        if cap == 0 {
            return None;
        }
        if key == i64::MAX {
            return self.last_occupied();
        }
        let (upper, _) = upper_bound_from(&self.keys, self.model.predict(key, cap), key);
        prev_set(&self.bitmap, upper)
    }

    /// Inserts a missing key located by [`DataNode::locate`]; requires `num_keys < capacity`.
    /// Returns the number of shifted slots.
    pub fn insert_missing(
        &mut self,
        key: i64,
        val: V,
        upper: usize,
        predicted: usize,
        iters: u32,
    ) -> usize {
        let cap = self.capacity();
        assert!(
            self.num_keys() < cap,
            "insert into a full data node (num_keys {} capacity {cap})",
            self.num_keys()
        );
        // Statistics for append-mostly detection; both are O(1). A key is below every key iff
        // nothing occupied precedes `upper` (slot `upper - 1` is then a leading gap), and a key
        // whose upper bound holds `i64::MAX` is above every key but (possibly) `i64::MAX`.
        let left_append = upper == 0 || !bit(&self.bitmap, upper - 1);
        let right_append = upper >= cap || self.keys[upper] == i64::MAX;
        let (pos, shifts) = if upper > 0 && !bit(&self.bitmap, upper - 1) {
            // Slot `upper - 1` is a leading gap (an interior gap before `upper` would hold a
            // value > key): `key` is below every key and `upper` is the first occupied slot.
            // Place it at the prediction within the leading gaps; the gaps between it and
            // `upper` stop being leading and take the first key's value.
            let pos = predicted.min(upper - 1);
            let first_key = self.keys[upper];
            self.keys[pos + 1..upper].fill(first_key);
            (pos, 0)
        } else if upper < cap && !bit(&self.bitmap, upper) {
            // Free slots for `key`: from `upper` to just before the next occupied slot, which is
            // the last slot holding the value `keys[upper]` (gaps repeat it). Place `key` at the
            // prediction if free, else at the nearest free slot, without scanning the bitmap
            // (a long run of gaps, as in append-mostly nodes, must cost nothing).
            let value = self.keys[upper];
            let pos = if predicted <= upper {
                upper
            } else if value == i64::MAX && !self.has_max {
                predicted // All of [upper, cap) is trailing gap.
            } else if value == i64::MAX {
                match next_set(&self.bitmap, upper, predicted + 1) {
                    Some(occupied) => occupied - 1,
                    None => predicted,
                }
            } else if self.keys[predicted] == value {
                predicted - bit(&self.bitmap, predicted) as usize
            } else {
                let last_with_value =
                    upper + self.keys[upper..predicted].partition_point(|&k| k <= value) - 1;
                last_with_value - 1
            };
            // Gaps in [upper, pos) now precede `key`: leading gaps if nothing precedes them.
            let fill = if upper == 0 { i64::MIN } else { key };
            self.keys[upper..pos].fill(fill);
            (pos, 0)
        } else {
            // Slot `upper` is occupied (or `upper == cap`): shift towards the nearest gap.
            let right = next_clear(&self.bitmap, upper, cap);
            let left = prev_clear(&self.bitmap, upper);
            let go_right = match (left, right) {
                (Some(l), Some(r)) => r - upper < upper - l,
                (None, Some(_)) => true,
                (Some(_), None) => false,
                (None, None) => unreachable!("a node with num_keys < capacity has a gap"),
            };
            if go_right {
                let gap = right.expect("checked above");
                self.keys.copy_within(upper..gap, upper + 1);
                self.vals.copy_within(upper..gap, upper + 1);
                self.set_bit(gap);
                (upper, gap - upper)
            } else {
                let gap = left.expect("checked above");
                self.keys.copy_within(gap + 1..upper, gap);
                self.vals.copy_within(gap + 1..upper, gap);
                self.set_bit(gap);
                (upper - 1, upper - 1 - gap)
            }
        };
        self.keys[pos] = key;
        self.vals[pos] = val;
        self.set_bit(pos);
        self.keys_held += 1;
        self.has_max |= key == i64::MAX;
        self.has_min |= key == i64::MIN;
        let stats = &mut self.stats;
        stats.inserts = stats.inserts.saturating_add(1);
        stats.search_iters = stats.search_iters.saturating_add(iters);
        stats.shifts = stats
            .shifts
            .saturating_add(shifts.min(u32::MAX as usize) as u32);
        stats.right_appends = stats.right_appends.saturating_add(right_append as u32);
        stats.left_appends = stats.left_appends.saturating_add(left_append as u32);
        shifts
    }

    /// Removes the key at occupied `slot`, returning its payload.
    pub fn remove_at(&mut self, slot: usize) -> V {
        debug_assert!(self.is_occupied(slot));
        let val = self.vals[slot];
        let key = self.keys[slot];
        self.has_max &= key != i64::MAX;
        self.has_min &= key != i64::MIN;
        self.bitmap[slot >> 6] &= !(1u64 << (slot & 63));
        self.keys_held -= 1;
        let cap = self.capacity();
        if self.num_keys() == 0 {
            self.keys.fill(i64::MAX);
            return val;
        }
        // `slot` held the first key iff nothing occupied precedes it: slot 0, or slot - 1 is a
        // leading gap (free and `i64::MIN`; an interior gap before `slot` would hold `key`).
        let was_first = slot == 0
            || key == i64::MIN
            || (!bit(&self.bitmap, slot - 1) && self.keys[slot - 1] == i64::MIN);
        if was_first {
            // It and the gaps up to the next key become leading gaps.
            let next = next_set(&self.bitmap, slot + 1, cap).expect("num_keys > 0");
            self.keys[slot..next].fill(i64::MIN);
        } else {
            // The run of gaps before `slot` (which held `key`) and `slot` now precede the next
            // key, or are trailing. Walking the run costs what filling it costs.
            let fill = if slot + 1 < cap {
                self.keys[slot + 1]
            } else {
                i64::MAX
            };
            let mut start = slot;
            while start > 0 && self.keys[start - 1] == key && !bit(&self.bitmap, start - 1) {
                start -= 1;
            }
            self.keys[start..=slot].fill(fill);
        }
        val
    }

    fn set_bit(&mut self, slot: usize) {
        self.bitmap[slot >> 6] |= 1u64 << (slot & 63);
    }

    /// The occupied (key, payload) pairs in order.
    pub fn pairs(&self) -> Vec<(i64, V)> {
        let mut out = Vec::with_capacity(self.num_keys());
        self.append_pairs(&mut out);
        out
    }

    pub fn append_pairs(&self, out: &mut Vec<(i64, V)>) {
        for (w, &word) in self.bitmap.iter().enumerate() {
            let mut bits = word;
            while bits != 0 {
                let i = (w << 6) + bits.trailing_zeros() as usize;
                out.push((self.keys[i], self.vals[i]));
                bits &= bits - 1;
            }
        }
    }

    /// Builds a node holding `pairs` (sorted, strictly increasing) at `density`, placing each key
    /// at its model's prediction when free (model-based inserts), in `layout`.
    /// The arrays are carved from `slab` (when given) while it has room, else allocated
    /// on the heap.
    pub fn build_in(
        pairs: &[(i64, V)],
        density: f64,
        layout: Layout,
        slab: Option<&Arc<Slab>>,
    ) -> Self {
        Self::build_with_capacity(pairs, capacity_for(pairs.len(), density), layout, slab)
    }

    /// Like [`DataNode::build_in`] with an explicit capacity (`> pairs.len()`, or any when
    /// empty).
    pub fn build_with_capacity(
        pairs: &[(i64, V)],
        cap: usize,
        layout: Layout,
        slab: Option<&Arc<Slab>>,
    ) -> Self {
        let n = pairs.len();
        if n == 0 {
            return DataNode::empty();
        }
        assert!(cap > n, "data node of {n} keys needs more than {cap} slots");
        let fit = DataModel::fit_ranks(pairs.iter().map(|p| p.0), n);
        Self::build_with_model(pairs, cap, fit, layout, slab)
    }

    /// Like [`DataNode::build_with_capacity`], with `fit` (predicting ranks `0..n`) as the
    /// model instead of a fresh least-squares fit: an expansion whose model still predicts
    /// well rescales it (as ALEX does) rather than paying for a new fit.
    pub fn build_with_model(
        pairs: &[(i64, V)],
        cap: usize,
        fit: DataModel,
        layout: Layout,
        slab: Option<&Arc<Slab>>,
    ) -> Self {
        let n = pairs.len();
        let mut node = DataNode::empty();
        if n == 0 {
            return node;
        }
        assert!(cap > n, "data node of {n} keys needs more than {cap} slots");
        // Ranks [0, n) are spread over `used` slots, starting at `first`.
        let used = match layout {
            Layout::Spread => cap as f64,
            Layout::RoomRight | Layout::RoomLeft => (n as f64 / crate::MAX_DENSITY).min(cap as f64),
        };
        let first = match layout {
            Layout::RoomLeft => cap as f64 - used,
            _ => 0.0,
        };
        let mut model = fit.scaled(used / n as f64);
        model.intercept += first;
        let carve_from = slab.map(|slab| &**slab);
        let (mut keys_array, keys_in_slab) = NodeArray::filled(i64::MAX, cap, carve_from);
        let (mut vals_array, vals_in_slab) = NodeArray::filled(pairs[0].1, cap, carve_from);
        let (mut bitmap_array, bitmap_in_slab) =
            NodeArray::filled(0u64, cap.div_ceil(64), carve_from);
        let keys: &mut [i64] = &mut keys_array;
        let vals: &mut [V] = &mut vals_array;
        let bitmap: &mut [u64] = &mut bitmap_array;
        let mut next_free = 0usize;
        // Sum of floor(log2(error + 1)), in an integer: a float accumulator made each key
        // wait for the previous key's addition.
        let mut err_log_sum = 0u64;
        for (i, &(k, v)) in pairs.iter().enumerate() {
            let predicted = model.predict(k, cap);
            let pos = predicted.max(next_free).min(cap - (n - i));
            err_log_sum += u64::from((predicted.abs_diff(pos) + 1).ilog2());
            keys[pos] = k;
            vals[pos] = v;
            bitmap[pos >> 6] |= 1u64 << (pos & 63);
            next_free = pos + 1;
        }
        // Gap fill from the right, and the expected shifts: inserting into a run of `len`
        // occupied slots shifts about `len / 4` keys (to the nearer end), and a run is hit with
        // probability `len / n`; `run_squares` sums `len²` over the runs.
        let (run_squares, last_run) = fill_gaps_from_right(keys, bitmap);
        let shift_sum = (run_squares + last_run * last_run) as f64 / 4.0;
        let first = next_set(bitmap, 0, cap).expect("n > 0 keys were placed");
        keys[..first].fill(i64::MIN);
        node.keys = keys_array;
        node.vals = vals_array;
        node.bitmap = bitmap_array;
        if let Some(slab) = slab
            && (keys_in_slab || vals_in_slab || bitmap_in_slab)
        {
            node.pin = NodePin(Some(Arc::clone(slab)));
        }
        node.model = model;
        node.keys_held = u32::try_from(n).expect("a data node holds fewer than 2^32 keys");
        node.has_max = pairs[n - 1].0 == i64::MAX;
        node.has_min = pairs[0].0 == i64::MIN;
        node.expected_iters = (err_log_sum as f64 / n as f64) as f32 + 1.0;
        node.expected_shifts = (shift_sum / n as f64) as f32;
        node
    }

    /// Rebuilds in place (keeping the leaf links) with `pairs`, in `slab` while it has room.
    pub fn rebuild(
        &mut self,
        pairs: &[(i64, V)],
        density: f64,
        layout: Layout,
        slab: Option<&Arc<Slab>>,
    ) {
        self.rebuild_with_capacity(pairs, capacity_for(pairs.len(), density), layout, slab);
    }

    /// [`DataNode::rebuild`] with an explicit capacity (`> pairs.len()`).
    pub fn rebuild_with_capacity(
        &mut self,
        pairs: &[(i64, V)],
        cap: usize,
        layout: Layout,
        slab: Option<&Arc<Slab>>,
    ) {
        let (prev, next) = (self.prev, self.next);
        *self = DataNode::build_with_capacity(pairs, cap, layout, slab);
        self.prev = prev;
        self.next = next;
    }

    /// The position model rescaled to predict ranks `0..num_keys()` (for [`Self::build_with_model`]);
    /// meaningful for nodes built with [`Layout::Spread`].
    pub fn rank_model(&self) -> DataModel {
        if self.num_keys() == 0 || self.capacity() == 0 {
            return self.model;
        }
        self.model
            .scaled(self.num_keys() as f64 / self.capacity() as f64)
    }

    /// Panics with a description of the first violated invariant.
    pub fn check(&self, id: u32) {
        let cap = self.capacity();
        assert_eq!(
            self.bitmap.len(),
            cap.div_ceil(64),
            "data node {id}: bitmap length"
        );
        assert!(
            self.vals.len() == cap,
            "data node {id}: {} payloads for {cap} slots",
            self.vals.len()
        );
        if !cap.is_multiple_of(64) {
            assert_eq!(
                self.bitmap[cap / 64] >> (cap % 64),
                0,
                "data node {id}: bits set past capacity"
            );
        }
        let popcount: usize = self.bitmap.iter().map(|w| w.count_ones() as usize).sum();
        assert_eq!(
            self.has_max,
            self.max_key() == Some(i64::MAX),
            "data node {id}: has_max flag"
        );
        assert_eq!(
            popcount,
            self.num_keys(),
            "data node {id}: num_keys != popcount"
        );
        assert_eq!(
            self.has_min,
            self.min_key() == Some(i64::MIN),
            "data node {id}: has_min flag"
        );
        // A node without keys has only trailing gaps.
        let first = self.first_occupied().unwrap_or(0);
        let mut fill = i64::MAX;
        let mut prev_key: Option<i64> = None;
        for slot in (0..cap).rev() {
            if slot < first {
                assert_eq!(
                    self.keys[slot],
                    i64::MIN,
                    "data node {id}: leading gap {slot} does not hold i64::MIN"
                );
                continue;
            }
            if self.is_occupied(slot) {
                let k = self.keys[slot];
                if let Some(p) = prev_key {
                    assert!(k < p, "data node {id}: keys not increasing at slot {slot}");
                }
                prev_key = Some(k);
                fill = k;
            } else {
                assert_eq!(
                    self.keys[slot], fill,
                    "data node {id}: gap {slot} does not hold the next key to its right"
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_find_insert_remove_with_extreme_keys() {
        let pairs: Vec<(i64, u32)> = vec![(i64::MIN, 0), (-5, 1), (0, 2), (7, 3), (i64::MAX, 4)];
        let mut node = DataNode::build_in(&pairs, 0.7, Layout::Spread, None);
        node.check(0);
        for &(k, v) in &pairs {
            assert_eq!(node.find(k).map(|s| node.vals[s]), Some(v));
        }
        for k in [i64::MIN + 1, -6, 1, i64::MAX - 1] {
            assert_eq!(node.find(k), None);
        }
        let s = node.find(i64::MAX).unwrap();
        node.remove_at(s);
        node.check(0);
        assert_eq!(node.find(i64::MAX), None);
        match node.locate(i64::MAX) {
            Locate::Missing {
                upper,
                predicted,
                iters,
            } => {
                node.insert_missing(i64::MAX, 9, upper, predicted, iters);
            }
            Locate::Found(_) => panic!("removed key found"),
        }
        node.check(0);
        assert_eq!(node.find(i64::MAX).map(|s| node.vals[s]), Some(9));
    }

    /// The slot-by-slot gap fill `fill_gaps_from_right` replaced, kept as its model.
    fn fill_gaps_naive(keys: &mut [i64], bitmap: &[u64]) -> (u64, u64) {
        let (mut fill, mut run, mut run_squares) = (i64::MAX, 0u64, 0u64);
        for slot in (0..keys.len()).rev() {
            if bit(bitmap, slot) {
                fill = keys[slot];
                run += 1;
            } else {
                keys[slot] = fill;
                run_squares += run * run;
                run = 0;
            }
        }
        (run_squares, run)
    }

    #[test]
    fn gap_fill_matches_the_slot_by_slot_model() {
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for cap in [1usize, 2, 63, 64, 65, 127, 128, 129, 200, 640, 1000] {
            for density_case in 0..8 {
                let mut bitmap = vec![0u64; cap.div_ceil(64)];
                for (w, word) in bitmap.iter_mut().enumerate() {
                    *word = match (density_case + w) % 5 {
                        0 => u64::MAX,
                        1 => 0,
                        2 => next() & next(),
                        3 => next() | next(),
                        _ => next(),
                    };
                }
                if cap % 64 != 0 {
                    *bitmap.last_mut().unwrap() &= (1u64 << (cap % 64)) - 1;
                }
                let keys: Vec<i64> = (0..cap).map(|_| next() as i64).collect();
                let (mut fast, mut slow) = (keys.clone(), keys);
                let got = fill_gaps_from_right(&mut fast, &bitmap);
                let want = fill_gaps_naive(&mut slow, &bitmap);
                assert_eq!(
                    (got, &fast),
                    (want, &slow),
                    "cap {cap}, case {density_case}"
                );
            }
        }
    }
}
