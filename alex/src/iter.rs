//! Ordered iteration over a key range in both directions, along the leaf chain.
//!
//! Each end keeps a cursor: the current leaf's arrays, the first slot of the current bitmap
//! word and the bits of that word not yet visited, so the next key is one `trailing_zeros`
//! (or `leading_zeros` from the back) away.
//! The two ends never cross: the front only yields keys below the last key the back yielded,
//! and vice versa (keys are unique, so comparing keys is exact).

use std::cell::Cell;
use std::ops::Bound;

use crate::AlexMap;
use crate::data::{DataNode, NIL, prefetch_address};

/// Slots per bitmap word: the cursors advance a word at a time.
const WORD_SLOTS: usize = 64;
/// Slots per prefetch: one cache line of keys (8-byte keys).
const LINE_SLOTS: usize = 8;

/// Key and payload lines a range starts loading from its predicted first slot while it
/// searches for it, after a run of long ranges on this thread ("Readahead" below): about half
/// of the ~145 slots a 100-key scan spans at the bulk-load density.
const SCAN_READAHEAD_LINES: usize = 10;
/// The same, otherwise: the lines a short range or a lower bound reads first.
const SEEK_READAHEAD_LINES: usize = 3;

// Readahead. A range cannot know how far it will be read (`take(100)` tells it nothing),
// and what to load while its search runs depends on it: the search waits on one key line,
// and only loads whose addresses are known before the search — lines from the model's
// predicted slot — overlap that miss (nothing issued after it can: the search's branches
// wait on the key line). Ten lines of each array from the prediction made 100-key scans of
// 10M keys 3–10% faster and lower bounds (a range read for one key) 14–45% slower
// (docs/PERFORMANCE.md, "Session 20"). So a thread's ranges load that much only while its
// recent ranges were long, as an operating system's readahead grows with sequential reads:
// a saturating counter per thread, up for a range whose front went past its first bitmap
// word (64 slots, ~44 keys), down for one that did not.
thread_local! {
    /// In `0..=READAHEAD_COUNTER_MAX`; ranges read ahead while it is at least
    /// `READAHEAD_COUNTER_ON`.
    static LONG_RANGES: Cell<u8> = const { Cell::new(0) };
}
const READAHEAD_COUNTER_MAX: u8 = 3;
const READAHEAD_COUNTER_ON: u8 = 2;

/// Lines to read ahead for a range positioned now on this thread.
fn readahead_lines() -> usize {
    let long = LONG_RANGES
        .try_with(|counter| counter.get() >= READAHEAD_COUNTER_ON)
        .unwrap_or(false);
    if long {
        SCAN_READAHEAD_LINES
    } else {
        SEEK_READAHEAD_LINES
    }
}

/// Counts a range positioned by a search into this thread's readahead counter.
fn record_range(long: bool) {
    let _ = LONG_RANGES.try_with(|counter| {
        let old = counter.get();
        let new = if long {
            (old + 1).min(READAHEAD_COUNTER_MAX)
        } else {
            old.saturating_sub(1)
        };
        if new != old {
            counter.set(new);
        }
    });
}

/// Whether ranges positioned now on this thread read ahead (for tests).
#[cfg(test)]
pub(crate) fn reads_ahead() -> bool {
    readahead_lines() == SCAN_READAHEAD_LINES
}

/// Key lines per bitmap word.
const WORD_LINES: isize = (WORD_SLOTS / LINE_SLOTS) as isize;

/// Start loading `lines` lines of keys from slot `from` and the payloads of the same slots
/// (one payload prefetch per line of keys). A scan streams two arrays at once; asking for
/// the next word's lines while the current one is read keeps the misses of both streams in
/// flight instead of waiting for the hardware prefetcher to notice them.
///
/// `HINT`: forward scans load into the second-level cache only (`PREFETCHT1`): a 100-key
/// scan of 10M keys took ~810 ns instead of ~840 with the lines loaded into the first
/// level (a probe, alternating binaries) — a word ahead is 16 lines, as many as the core
/// can have in flight into the first level, so those requests held up the demand loads of
/// the current word. Backward, loading into the first level (`PREFETCHT0`) stays faster
/// (the second-level hint cost reverse scans 4–8%).
///
/// Straight-line code with no bounds, inlined: lines outside the arrays are harmless (a
/// prefetch never faults), and with no call in the iterator's loop the compiler keeps the
/// caller's loop state in registers. As a call (it was one, with bounds and a loop, because
/// inlining that version slowed the per-item loop), it left the sum and the count of a
/// `take(100)` loop on the stack, a store-to-load round trip each per item
/// (docs/PERFORMANCE.md, "Session 21").
#[inline(always)]
fn prefetch_lines<V, const HINT: i32>(keys: &[i64], vals: &[V], from: isize, lines: isize) {
    let keys = keys.as_ptr().wrapping_offset(from);
    let vals = vals.as_ptr().wrapping_offset(from);
    for line in 0..lines {
        let step = line * LINE_SLOTS as isize;
        prefetch_address::<HINT, _>(keys.wrapping_offset(step));
        prefetch_address::<HINT, _>(vals.wrapping_offset(step));
    }
}

/// Forward: into the second-level cache (see [`prefetch_lines`]).
const FORWARD_HINT: i32 = 2;
/// Backward: into the first-level cache.
const BACKWARD_HINT: i32 = 3;

/// One end of a [`Range`]: a position in a leaf, at bitmap-word granularity.
struct Cursor<'a, V> {
    leaf: u32,
    keys: &'a [i64],
    vals: &'a [V],
    bitmap: &'a [u64],
    /// First slot of the current bitmap word, `64 ×` its index (may be one word past
    /// either end when exhausted): a slot is `base | bit`, with no shift per item.
    base: isize,
    /// Occupied slots of the current word not yet yielded.
    bits: u64,
}

impl<V> Clone for Cursor<'_, V> {
    fn clone(&self) -> Self {
        Cursor { ..*self }
    }
}

impl<'a, V> Cursor<'a, V> {
    fn empty() -> Self {
        Cursor {
            leaf: NIL,
            keys: &[],
            vals: &[],
            bitmap: &[],
            base: 0,
            bits: 0,
        }
    }

    /// A cursor on `leaf` whose first (front) or last (back) candidate slot is `slot`.
    fn at(leaf: u32, node: &'a DataNode<V>, slot: usize, front: bool) -> Self {
        let mut cursor = Cursor {
            leaf,
            keys: &node.keys,
            vals: &node.vals,
            bitmap: &node.bitmap,
            base: (slot & !63) as isize,
            bits: 0,
        };
        if let Some(&word) = node.bitmap.get(slot >> 6) {
            let bit = slot & 63;
            cursor.bits = if front {
                word & (!0u64 << bit)
            } else {
                word & (!0u64 >> (63 - bit))
            };
        }
        cursor
    }
}

/// Iterator over a key range, in both directions. Item = `(key, &value)`.
pub struct Range<'a, V> {
    map: &'a AlexMap<V>,
    front: Cursor<'a, V>,
    /// Positioned on the first `next_back` (most scans only go forward, and positioning
    /// costs a lookup); `back.leaf == NIL` until then.
    back: Cursor<'a, V>,
    /// Keys still to yield are in `[lo, hi]`, above `front_last` once the front has
    /// yielded and below `back_last` once the back has. Each end records only its last key
    /// per item; the other end folds it into its own bound (`lo` for the back, `hi` for the
    /// front) on its slow path. `done` once an end found the interval empty.
    lo: i64,
    hi: i64,
    done: bool,
    /// The last key each end yielded (valid once its `*_taken > 0`).
    front_last: i64,
    back_last: i64,
    /// The front yields a key below `front_limit`, and the back one above `back_limit`,
    /// with no other check (one compare per item); any other key takes the end's slow path,
    /// which checks the bounds, counts the item and folds in the other end's progress. A
    /// limit is open (`hi + 1` and `lo - 1`, saturating: a key equal to it takes the slow
    /// path) only from an end's second item on, and only while the other end has not
    /// yielded; before, and once both ends have yielded, it is closed (`i64::MIN` for the
    /// front, `i64::MAX` for the back) and every item takes the slow path.
    front_limit: i64,
    back_limit: i64,
    /// Items each end has yielded, counted up to 2: from the second on, that end
    /// prefetches a word ahead (a range read for its first key only — a lower bound —
    /// should not pay for lines it never reads). The front's count goes to 3 once it
    /// leaves its first bitmap word: a long range, for the readahead counter.
    front_taken: u8,
    back_taken: u8,
    /// Whether `new` searched for the start (and so counts for the readahead counter when
    /// the range is dropped).
    searched: bool,
}

impl<V> std::fmt::Debug for Range<'_, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Range")
            .field("lo", &self.lo)
            .field("hi", &self.hi)
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

impl<V> Clone for Range<'_, V> {
    fn clone(&self) -> Self {
        Range {
            map: self.map,
            front: self.front.clone(),
            back: self.back.clone(),
            lo: self.lo,
            hi: self.hi,
            done: self.done,
            front_last: self.front_last,
            back_last: self.back_last,
            front_limit: self.front_limit,
            back_limit: self.back_limit,
            front_taken: self.front_taken,
            back_taken: self.back_taken,
            searched: self.searched,
        }
    }
}

impl<'a, V: Copy> Range<'a, V> {
    pub(crate) fn new(map: &'a AlexMap<V>, start: Bound<i64>, end: Bound<i64>) -> Self {
        match (start, end) {
            (Bound::Excluded(s), Bound::Excluded(e)) if s == e => {
                panic!("range start and end are equal and excluded in AlexMap")
            }
            (Bound::Included(s) | Bound::Excluded(s), Bound::Included(e) | Bound::Excluded(e))
                if s > e =>
            {
                panic!("range start is greater than range end in AlexMap")
            }
            _ => {}
        }
        let mut done = false;
        let lo = match start {
            Bound::Included(s) => s,
            Bound::Excluded(s) => s.checked_add(1).unwrap_or_else(|| {
                done = true;
                i64::MAX
            }),
            Bound::Unbounded => i64::MIN,
        };
        let hi = match end {
            Bound::Included(e) => e,
            Bound::Excluded(e) => e.checked_sub(1).unwrap_or_else(|| {
                done = true;
                i64::MIN
            }),
            Bound::Unbounded => i64::MAX,
        };
        done |= lo > hi || map.is_empty();
        let mut front = Cursor::empty();
        let searched = !done && lo != i64::MIN;
        if !done {
            let leaf = map.leaf_for(lo);
            let node = &map.datas[leaf as usize];
            let lines = if searched { readahead_lines() } else { 0 };
            let slot = node.lower_bound_slot(lo, lines).unwrap_or(node.capacity());
            front = Cursor::at(leaf, node, slot, true);
        }
        Range {
            map,
            front,
            back: Cursor::empty(),
            lo,
            hi,
            done,
            front_last: 0,
            back_last: 0,
            front_limit: i64::MIN,
            back_limit: i64::MAX,
            front_taken: 0,
            back_taken: 0,
            searched,
        }
    }
}

impl<V> Drop for Range<'_, V> {
    fn drop(&mut self) {
        if self.searched {
            record_range(self.front_taken > 2);
        }
    }
}

impl<'a, V> Iterator for Range<'a, V> {
    type Item = (i64, &'a V);

    // Always inlined: the per-item path is a few instructions, and a call per item (what
    // the compiler chose once the prefetching made the function longer) cost ~1.6 ns per
    // key in cache-resident scans.
    #[inline(always)]
    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let c = &mut self.front;
        loop {
            if c.bits != 0 {
                let slot = c.base as usize | c.bits.trailing_zeros() as usize;
                c.bits &= c.bits - 1;
                debug_assert!(slot < c.keys.len() && slot < c.vals.len());
                // SAFETY: `slot` is a set bit of the cursor's node's bitmap (`bits` only ever
                // holds bits of `bitmap` words), and a node sets bits only for slots below
                // its capacity, which is the length of its key and payload arrays (both
                // checked by `check_invariants`; the three slices come from one node in
                // `Cursor::at`). Unchecked because the two bounds checks per item (each a
                // length reloaded from the stack, a compare and a branch, in a loop of about
                // twenty instructions) cost a scan of 100 keys of a 10M-key map ~3.6%: 1.93-
                // 1.98x `BTreeMap` with them, 1.99-2.08x without, six pairs of runs
                // alternating (docs/PERFORMANCE.md, "Session 16").
                let (key, value) =
                    unsafe { (*c.keys.get_unchecked(slot), c.vals.get_unchecked(slot)) };
                // The front records only its last key; the back folds it into `lo` when
                // it needs it. One store per item instead of updating `lo` and `done`
                // (with the `i64::MAX` case): a cache-resident scan of 100 keys went
                // from ~315 to ~260 ns, one of 10M keys from ~810 to ~720 ns (a probe,
                // alternating binaries).
                self.front_last = key;
                if key < self.front_limit {
                    return Some((key, value));
                }
                if self.back_taken > 0 {
                    // Nothing from the back's last key on is left.
                    if self.back_last == i64::MIN {
                        self.done = true;
                        return None;
                    }
                    self.hi = self.hi.min(self.back_last - 1);
                }
                if key > self.hi {
                    self.done = true;
                    return None;
                }
                if self.front_taken < 2 {
                    self.front_taken += 1;
                    if self.front_taken == 1 {
                        // From now on the back must fold in the front's progress.
                        self.back_limit = i64::MAX;
                    } else {
                        if self.back_taken == 0 {
                            self.front_limit = self.hi.saturating_add(1);
                        }
                        // A scan, not a lower bound: load the rest of this word and the
                        // next one.
                        prefetch_lines::<V, FORWARD_HINT>(
                            c.keys,
                            c.vals,
                            (slot & !(LINE_SLOTS - 1)) as isize,
                            2 * WORD_LINES - (slot % WORD_SLOTS / LINE_SLOTS) as isize,
                        );
                    }
                }
                return Some((key, value));
            }
            c.base += WORD_SLOTS as isize;
            let word = c.base as usize / WORD_SLOTS;
            if let Some(&bits) = c.bitmap.get(word) {
                c.bits = bits;
                if self.front_taken >= 2 {
                    self.front_taken = 3;
                    prefetch_lines::<V, FORWARD_HINT>(
                        c.keys,
                        c.vals,
                        c.base + WORD_SLOTS as isize,
                        WORD_LINES,
                    );
                }
                continue;
            }
            let next = self.map.datas[c.leaf as usize].next;
            if next == NIL {
                self.done = true;
                return None;
            }
            let node = &self.map.datas[next as usize];
            *c = Cursor::at(next, node, 0, true);
            c.base = 0;
            if self.front_taken >= 2 {
                self.front_taken = 3;
                prefetch_lines::<V, FORWARD_HINT>(c.keys, c.vals, 0, 2 * WORD_LINES);
            }
        }
    }
}

impl<V: Copy> DoubleEndedIterator for Range<'_, V> {
    // Inlined for the same reason as `next`; the mirror image of it.
    #[inline(always)]
    fn next_back(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        if self.back.leaf == NIL {
            let leaf = self.map.leaf_for(self.hi);
            let node = &self.map.datas[leaf as usize];
            self.back = match node.upper_bound_slot(self.hi) {
                Some(slot) => Cursor::at(leaf, node, slot, false),
                None => Cursor {
                    base: -(WORD_SLOTS as isize),
                    ..Cursor::at(leaf, node, 0, false)
                },
            };
            if self.back.base < 0 {
                self.back.bits = 0;
            }
        }
        let c = &mut self.back;
        loop {
            if c.bits != 0 {
                let bit = 63 - c.bits.leading_zeros() as usize;
                let slot = c.base as usize | bit;
                c.bits &= !(1u64 << bit);
                debug_assert!(slot < c.keys.len() && slot < c.vals.len());
                // SAFETY: as in `next`: `slot` is a set bit of the cursor's node's bitmap,
                // below the length of the node's key and payload arrays.
                let (key, value) =
                    unsafe { (*c.keys.get_unchecked(slot), c.vals.get_unchecked(slot)) };
                self.back_last = key;
                if key > self.back_limit {
                    return Some((key, value));
                }
                if self.front_taken > 0 {
                    // Nothing up to the front's last key is left.
                    if self.front_last == i64::MAX {
                        self.done = true;
                        return None;
                    }
                    self.lo = self.lo.max(self.front_last + 1);
                }
                if key < self.lo {
                    self.done = true;
                    return None;
                }
                if self.back_taken < 2 {
                    self.back_taken += 1;
                    if self.back_taken == 1 {
                        // From now on the front must fold in the back's progress.
                        self.front_limit = i64::MIN;
                    } else {
                        if self.front_taken == 0 {
                            self.back_limit = self.lo.saturating_sub(1);
                        }
                        // As the front does: the rest of this word and the one before.
                        prefetch_lines::<V, BACKWARD_HINT>(
                            c.keys,
                            c.vals,
                            c.base - WORD_SLOTS as isize,
                            WORD_LINES + (bit / LINE_SLOTS) as isize,
                        );
                    }
                }
                return Some((key, value));
            }
            c.base -= WORD_SLOTS as isize;
            if c.base >= 0 {
                c.bits = c.bitmap[c.base as usize / WORD_SLOTS];
                if self.back_taken >= 2 {
                    prefetch_lines::<V, BACKWARD_HINT>(
                        c.keys,
                        c.vals,
                        c.base - WORD_SLOTS as isize,
                        WORD_LINES,
                    );
                }
                continue;
            }
            let prev = self.map.datas[c.leaf as usize].prev;
            if prev == NIL {
                self.done = true;
                return None;
            }
            let node = &self.map.datas[prev as usize];
            // Start one word past the end; the loop steps onto the last word.
            *c = Cursor {
                base: (node.bitmap.len() * WORD_SLOTS) as isize,
                bits: 0,
                ..Cursor::at(prev, node, 0, false)
            };
            if self.back_taken >= 2 {
                prefetch_lines::<V, BACKWARD_HINT>(
                    c.keys,
                    c.vals,
                    c.base - 2 * WORD_SLOTS as isize,
                    2 * WORD_LINES,
                );
            }
        }
    }
}

impl<V> std::iter::FusedIterator for Range<'_, V> {}
