//! Domain growth: when keys arrive outside the key domain of the root (or of an inner model
//! node), the node grows on that side — in place by multiplying its slot array by a power of
//! two (exact for every in-domain key), or, for the root past the fanout cap, by a new root
//! above it — and the out-of-domain keys that sat clamped in the edge leaves are relocated.

use crate::cost::INIT_DENSITY;
use crate::data::{DataNode, Layout, NIL};
use crate::model::Router;
use crate::{AlexMap, DATA_TAG, ModelNode};

/// Trees with fewer keys than this are rebuilt by bulk load when the root must grow: cheaper
/// than growing, and it re-centres a tree that started from a few arbitrary keys.
pub(crate) const SMALL_TREE_KEYS: usize = 256;

/// Splits `[start, end)` into maximal aligned power-of-two blocks `(start, size)`.
fn aligned_blocks(mut start: usize, end: usize) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    while start < end {
        let mut size = if start == 0 {
            (end - start).next_power_of_two()
        } else {
            1 << start.trailing_zeros()
        };
        while start + size > end {
            size >>= 1;
        }
        out.push((start, size));
        start += size;
    }
    out
}

impl<V: Copy> AlexMap<V> {
    pub(crate) fn leftmost_leaf(&self, mut child: u32) -> u32 {
        while child & DATA_TAG == 0 {
            child = self.models[child as usize].children[0];
        }
        child & !DATA_TAG
    }

    pub(crate) fn rightmost_leaf(&self, mut child: u32) -> u32 {
        while child & DATA_TAG == 0 {
            let c = &self.models[child as usize].children;
            child = c[c.len() - 1];
        }
        child & !DATA_TAG
    }

    /// Grows the root so that `key` (and every key already held) is inside its domain.
    pub(crate) fn grow_root(&mut self, key: i64, right: bool) {
        if right {
            self.counters.root_growths_right += 1;
        } else {
            self.counters.root_growths_left += 1;
        }
        if self.len < SMALL_TREE_KEYS {
            let mut pairs = Vec::with_capacity(self.len);
            let mut leaf = self.first_leaf;
            while leaf != NIL {
                self.datas[leaf as usize].append_pairs(&mut pairs);
                leaf = self.datas[leaf as usize].next;
            }
            let lo = pairs.first().map_or(key, |p| p.0.min(key));
            let hi = pairs.last().map_or(key, |p| p.0.max(key));
            self.rebuild_from(&pairs, lo, hi, crate::slab::SLAB_MIN_BYTES);
            return;
        }
        if !self.grow_in_place(self.root, key, right) {
            self.new_root(key, right);
        }
    }

    /// The key a domain growth must cover: `key`, or the farthest key held on that side.
    fn growth_target(&self, key: i64, right: bool) -> i64 {
        let mut leaf = if right {
            self.last_leaf
        } else {
            self.first_leaf
        };
        while leaf != NIL {
            let node = &self.datas[leaf as usize];
            let extreme = if right {
                node.max_key()
            } else {
                node.min_key()
            };
            if let Some(k) = extreme {
                return if right { k.max(key) } else { k.min(key) };
            }
            leaf = if right { node.prev } else { node.next };
        }
        key
    }

    /// Widens model node `m`'s domain on one side by multiplying its fanout by a power of two,
    /// keeping the routing of every in-domain key exact. Returns false if the node would grow
    /// past the fanout cap.
    pub(crate) fn grow_in_place(&mut self, m: u32, key: i64, right: bool) -> bool {
        let target = if m == self.root {
            self.growth_target(key, right)
        } else {
            key
        };
        let node = &self.models[m as usize];
        let n = node.children.len() as u64;
        let raw = node.router.raw_slot(target);
        // Smallest power-of-two factor f >= 2 with the target's slot inside [0, n * f).
        let needed = if right {
            (raw.max(0) as u64 / n).saturating_add(1)
        } else {
            // -raw slots must be added on the left: f - 1 >= ceil(-raw / n).
            let missing = (raw.min(0) as i128).unsigned_abs() as u64;
            missing.div_ceil(n).saturating_add(1)
        };
        let Some(factor) = needed.max(2).checked_next_power_of_two() else {
            return false;
        };
        let Some(new_fanout) = n.checked_mul(factor) else {
            return false;
        };
        if new_fanout as usize > self.fanout_cap() {
            return false;
        }
        let (n, new_fanout) = (n as usize, new_fanout as usize);
        let old_edge_leaf = if right {
            self.rightmost_leaf(m)
        } else {
            self.leftmost_leaf(m)
        };
        let added = new_fanout - n;
        let region = if right { (n, new_fanout) } else { (0, added) };
        let mut children = vec![0u32; new_fanout];
        let old_range = if right { 0..n } else { added..new_fanout };
        children[old_range].copy_from_slice(&self.models[m as usize].children);
        let mut new_leaves = Vec::new();
        for (start, size) in aligned_blocks(region.0, region.1) {
            let id = self.alloc_data(DataNode::empty());
            children[start..start + size].fill(id | DATA_TAG);
            new_leaves.push(id);
        }
        self.set_children(m, children.into_boxed_slice());
        let node = &mut self.models[m as usize];
        if !right {
            node.router.offset = node.router.offset.saturating_add(added as i64);
        }
        if right {
            let next = self.datas[old_edge_leaf as usize].next;
            self.link_chain(old_edge_leaf, &new_leaves, next);
        } else {
            let prev = self.datas[old_edge_leaf as usize].prev;
            self.link_chain(prev, &new_leaves, old_edge_leaf);
        }
        if right {
            self.counters.domain_growths_right += 1;
        } else {
            self.counters.domain_growths_left += 1;
        }
        self.relocate(old_edge_leaf, right);
        true
    }

    /// Puts a new root above the current one, covering `key` on the given side.
    fn new_root(&mut self, key: i64, right: bool) {
        let target = self.growth_target(key, right) as f64;
        let old = self.root;
        let old_node = &self.models[old as usize];
        let n = old_node.children.len() as i64;
        let lo = old_node.router.key_at_slot(0);
        let hi = old_node.router.key_at_slot(n);
        let width = (hi - lo).max(1.0);
        let needed = if right {
            (target - lo + 1.0) / width
        } else {
            (hi - target + 1.0) / width
        };
        let factor = 2f64.powi(needed.max(2.0).log2().ceil() as i32).max(2.0);
        let fanout = (factor.min(self.fanout_cap() as f64) as usize).max(2);
        let span = width * factor;
        let router = if right {
            Router::spanning(lo, span, fanout)
        } else {
            Router::spanning(hi - span, span, fanout)
        };
        let old_edge_leaf = if right {
            self.rightmost_leaf(old)
        } else {
            self.leftmost_leaf(old)
        };
        let mut children = vec![old; fanout];
        let region = if right { (1, fanout) } else { (0, fanout - 1) };
        let mut new_leaves = Vec::new();
        for (start, size) in aligned_blocks(region.0, region.1) {
            let id = self.alloc_data(DataNode::empty());
            children[start..start + size].fill(id | DATA_TAG);
            new_leaves.push(id);
        }
        self.root = self.alloc_model(ModelNode {
            router,
            children: children.into_boxed_slice(),
        });
        self.counters.new_roots += 1;
        if right {
            let next = self.datas[old_edge_leaf as usize].next;
            self.link_chain(old_edge_leaf, &new_leaves, next);
        } else {
            let prev = self.datas[old_edge_leaf as usize].prev;
            self.link_chain(prev, &new_leaves, old_edge_leaf);
        }
        self.relocate(old_edge_leaf, right);
    }

    /// After a domain grew on the `right` (or left), moves the keys that routing no longer
    /// leads to their leaf, walking the leaf chain from `edge_leaf` inwards. Those keys are a
    /// suffix (prefix) of the keys in key order, because routing is monotone.
    fn relocate(&mut self, edge_leaf: u32, right: bool) {
        let mut moved: Vec<(i64, V)> = Vec::new();
        let mut leaf = edge_leaf;
        while leaf != NIL {
            let node = &self.datas[leaf as usize];
            let step = if right { node.prev } else { node.next };
            if node.num_keys() > 0 {
                let pairs = node.pairs();
                let stays = |k: i64| self.leaf_for(k) == leaf;
                let split = if right {
                    pairs.partition_point(|p| stays(p.0))
                } else {
                    pairs.partition_point(|p| !stays(p.0))
                };
                let (keep, go) = if right {
                    pairs.split_at(split)
                } else {
                    let (go, keep) = pairs.split_at(split);
                    (keep, go)
                };
                if go.is_empty() {
                    break;
                }
                moved.extend_from_slice(go);
                let keep_empty = keep.is_empty();
                let cap = self.capped_capacity(keep.len(), INIT_DENSITY);
                let slab = self.growth_slab();
                self.datas[leaf as usize].rebuild_with_capacity(
                    keep,
                    cap,
                    Layout::Spread,
                    slab.as_ref(),
                );
                if !keep_empty {
                    break;
                }
            }
            leaf = step;
        }
        self.len -= moved.len();
        for (k, v) in moved {
            self.insert(k, v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligned_blocks_cover_exactly() {
        assert_eq!(aligned_blocks(4, 16), vec![(4, 4), (8, 8)]);
        assert_eq!(aligned_blocks(0, 12), vec![(0, 8), (8, 4)]);
        assert_eq!(aligned_blocks(1, 8), vec![(1, 1), (2, 2), (4, 4)]);
        assert_eq!(aligned_blocks(0, 1), vec![(0, 1)]);
    }
}
