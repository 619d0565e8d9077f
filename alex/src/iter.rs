//! Ordered iteration over a key range in both directions, along the leaf chain.
//!
//! Each end keeps a cursor (leaf, slot) and finds the next occupied slot with the bitmap.
//! The two ends never cross: the front only yields keys below the last key the back yielded,
//! and vice versa (keys are unique, so comparing keys is exact).

use std::ops::Bound;

use crate::AlexMap;
use crate::data::{NIL, next_set, prev_set};

/// Iterator over a key range, in both directions. Item = `(key, &value)`.
pub struct Range<'a, V> {
    map: &'a AlexMap<V>,
    /// Next slot to examine from the front (inclusive).
    front_leaf: u32,
    front_slot: usize,
    /// The back examines slots strictly below `back_slot` of `back_leaf`; [`NIL`] until the
    /// first `next_back` (most scans only go forward, and positioning costs a lookup).
    back_leaf: u32,
    back_slot: usize,
    /// Keys still to yield are in `[lo, hi]`; `done` when that interval is empty.
    lo: i64,
    hi: i64,
    done: bool,
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
        Range { ..*self }
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
        let mut range = Range {
            map,
            front_leaf: NIL,
            front_slot: 0,
            back_leaf: NIL,
            back_slot: 0,
            lo,
            hi,
            done,
        };
        if !done {
            range.front_leaf = map.leaf_for(lo);
            let node = &map.datas[range.front_leaf as usize];
            range.front_slot = node.lower_bound_slot(lo).unwrap_or(node.capacity());
        }
        range
    }
}

impl<'a, V> Iterator for Range<'a, V> {
    type Item = (i64, &'a V);

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        loop {
            let node = &self.map.datas[self.front_leaf as usize];
            if let Some(slot) = next_set(&node.bitmap, self.front_slot, node.keys.len()) {
                let key = node.keys[slot];
                if key > self.hi {
                    self.done = true;
                    return None;
                }
                self.front_slot = slot + 1;
                if key == i64::MAX {
                    self.done = true;
                } else {
                    self.lo = key + 1;
                    self.done = self.lo > self.hi;
                }
                return Some((key, &node.vals[slot]));
            }
            if node.next == NIL {
                self.done = true;
                return None;
            }
            self.front_leaf = node.next;
            self.front_slot = 0;
        }
    }
}

impl<V: Copy> DoubleEndedIterator for Range<'_, V> {
    #[inline]
    fn next_back(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        if self.back_leaf == NIL {
            self.back_leaf = self.map.leaf_for(self.hi);
            let node = &self.map.datas[self.back_leaf as usize];
            self.back_slot = node.upper_bound_slot(self.hi).map_or(0, |s| s + 1);
        }
        loop {
            let node = &self.map.datas[self.back_leaf as usize];
            if let Some(slot) = prev_set(&node.bitmap, self.back_slot) {
                let key = node.keys[slot];
                if key < self.lo {
                    self.done = true;
                    return None;
                }
                self.back_slot = slot;
                if key == i64::MIN {
                    self.done = true;
                } else {
                    self.hi = key - 1;
                    self.done = self.lo > self.hi;
                }
                return Some((key, &node.vals[slot]));
            }
            if node.prev == NIL {
                self.done = true;
                return None;
            }
            self.back_leaf = node.prev;
            self.back_slot = self.map.datas[node.prev as usize].keys.len();
        }
    }
}

impl<V> std::iter::FusedIterator for Range<'_, V> {}
