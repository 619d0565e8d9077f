//! `check_invariants` (a full structural check, for tests) and `stats`.

use std::mem::size_of;

use crate::data::{DataNode, NIL};
use crate::{AlexMap, AlexStats, DATA_TAG, ModelNode};

/// Depth beyond which the tree is considered broken (a cycle, or runaway growth).
const MAX_SANE_DEPTH: usize = 200;

impl<V: Copy> AlexMap<V> {
    pub(crate) fn compute_stats(&self) -> AlexStats {
        let mut model_nodes = 0;
        let mut data_nodes = 0;
        let mut depth = 0;
        let mut largest_data_node_slots = 0;
        let mut heap_bytes = self.models.capacity() * size_of::<ModelNode>()
            + self.datas.capacity() * size_of::<DataNode<V>>()
            + (self.free_models.capacity() + self.free_datas.capacity()) * size_of::<u32>();
        // Walk the tree (each child once: duplicated pointers are skipped).
        let mut stack = vec![(self.root, 1usize)];
        while let Some((m, level)) = stack.pop() {
            model_nodes += 1;
            let node = &self.models[m as usize];
            heap_bytes += node.children.len() * size_of::<u32>();
            let mut last = u32::MAX;
            for &c in node.children.iter() {
                if c == last {
                    continue;
                }
                last = c;
                if c & DATA_TAG != 0 {
                    data_nodes += 1;
                    depth = depth.max(level + 1);
                    let node = &self.datas[(c & !DATA_TAG) as usize];
                    heap_bytes += node.heap_bytes();
                    largest_data_node_slots = largest_data_node_slots.max(node.capacity());
                } else {
                    stack.push((c, level + 1));
                }
            }
        }
        heap_bytes += self.slab_dead_bytes();
        let c = &self.counters;
        AlexStats {
            keys: self.len,
            depth,
            model_nodes,
            data_nodes,
            heap_bytes,
            slab_bytes: self.slab.slab.as_ref().map_or(0, |slab| slab.used_bytes()),
            slab_releases: c.slab_releases,
            largest_data_node_slots,
            expansions: c.expansions,
            contractions: c.contractions,
            sideways_splits: c.sideways_splits,
            downward_splits: c.downward_splits,
            model_expansions: c.model_expansions,
            domain_growths_left: c.domain_growths_left,
            domain_growths_right: c.domain_growths_right,
            root_growths_left: c.root_growths_left,
            root_growths_right: c.root_growths_right,
            new_roots: c.new_roots,
            merges: c.merges,
            collapses: c.collapses,
        }
    }

    /// Slab accounting: only nodes pinning the map's slab hold slab arrays, and its live
    /// bytes are exactly theirs.
    fn check_slab(&self) {
        let mut live = 0;
        for (id, node) in self.datas.iter().enumerate() {
            let in_slab = node.keys.in_slab() || node.vals.in_slab() || node.bitmap.in_slab();
            match (&node.pin.0, &self.slab.slab) {
                (None, _) => assert!(!in_slab, "data node {id}: slab arrays without a pin"),
                (Some(pin), Some(slab)) => {
                    assert!(
                        std::sync::Arc::ptr_eq(pin, slab),
                        "data node {id}: foreign slab"
                    );
                    assert!(in_slab, "data node {id}: pins the slab without slab arrays");
                    live += node.slab_bytes();
                }
                (Some(_), None) => panic!("data node {id}: pins a slab the map released"),
            }
        }
        if let Some(slab) = &self.slab.slab {
            assert_eq!(slab.live_bytes(), live, "slab live bytes");
            let (free, _) = slab.free_blocks();
            assert_eq!(
                slab.used_bytes(),
                live + free,
                "slab used bytes: live and free blocks"
            );
            assert!(
                live * 2 >= slab.used_bytes() || self.slab.releasing_from.is_some(),
                "a sparse slab is kept and not being released"
            );
        }
    }

    pub(crate) fn check_all(&self) {
        let mut model_refs = vec![0u32; self.models.len()];
        let mut data_refs = vec![0u32; self.datas.len()];
        let mut leaves_in_order = Vec::new();
        assert!(
            (self.root as usize) < self.models.len(),
            "root index out of range"
        );
        model_refs[self.root as usize] += 1;
        self.check_model(
            self.root,
            1,
            &mut model_refs,
            &mut data_refs,
            &mut leaves_in_order,
        );
        for (id, &refs) in model_refs.iter().enumerate() {
            let free = self.free_models.contains(&(id as u32));
            assert!(
                (refs == 1) != free,
                "model node {id}: {refs} parents, free-listed: {free}"
            );
        }
        let model_slots: usize = self.models.iter().map(|m| m.children.len()).sum();
        assert_eq!(
            model_slots, self.model_slots,
            "model slots counted {} but held {model_slots}",
            self.model_slots
        );
        for (id, &refs) in data_refs.iter().enumerate() {
            let free = self.free_datas.contains(&(id as u32));
            assert!(
                (refs == 1) != free,
                "data node {id}: {refs} parents, free-listed: {free}"
            );
        }
        self.check_slab();
        // Leaf chain equals the in-order walk.
        let mut chain = Vec::new();
        let mut leaf = self.first_leaf;
        let mut prev = NIL;
        while leaf != NIL {
            assert!(chain.len() <= self.datas.len(), "leaf chain has a cycle");
            let node = &self.datas[leaf as usize];
            assert_eq!(node.prev, prev, "leaf {leaf}: prev link");
            chain.push(leaf);
            prev = leaf;
            leaf = node.next;
        }
        assert_eq!(
            prev, self.last_leaf,
            "last_leaf is not the end of the chain"
        );
        assert_eq!(
            chain, leaves_in_order,
            "leaf chain differs from the tree's leaf order"
        );
        // Keys: increasing along the chain, routed to their leaf, counted in len.
        let mut total = 0;
        let mut previous: Option<i64> = None;
        for &leaf in &chain {
            let node = &self.datas[leaf as usize];
            node.check(leaf);
            total += node.num_keys();
            for (k, _) in node.pairs() {
                if let Some(p) = previous {
                    assert!(p < k, "keys out of order across leaves: {p} then {k}");
                }
                previous = Some(k);
                assert_eq!(
                    self.leaf_for(k),
                    leaf,
                    "key {k} is stored in leaf {leaf} but routes elsewhere"
                );
            }
        }
        assert_eq!(total, self.len, "len differs from the keys stored");
    }

    fn check_model(
        &self,
        m: u32,
        level: usize,
        model_refs: &mut [u32],
        data_refs: &mut [u32],
        leaves: &mut Vec<u32>,
    ) {
        assert!(level <= MAX_SANE_DEPTH, "tree deeper than {MAX_SANE_DEPTH}");
        let node = &self.models[m as usize];
        let n = node.children.len();
        assert!(
            n.is_power_of_two(),
            "model node {m}: fanout {n} is not a power of two"
        );
        assert!(
            node.router.slope.is_finite() && node.router.slope >= 0.0,
            "model node {m}: bad slope {}",
            node.router.slope
        );
        let mut start = 0;
        while start < n {
            let child = node.children[start];
            let mut end = start + 1;
            while end < n && node.children[end] == child {
                end += 1;
            }
            let size = end - start;
            assert!(
                size.is_power_of_two() && start % size == 0,
                "model node {m}: child {child:#x} occupies unaligned slots {start}..{end}"
            );
            if child & DATA_TAG != 0 {
                let d = (child & !DATA_TAG) as usize;
                assert!(
                    d < self.datas.len(),
                    "model node {m}: data child {d} out of range"
                );
                let capacity = self.datas[d].capacity();
                // The maximum holds for every node but one that held only keys no router
                // separates (`structure::UNSEPARABLE_MAX_SLOTS`).
                let limit = self
                    .max_data_slots
                    .max(crate::structure::UNSEPARABLE_MAX_SLOTS);
                assert!(
                    capacity <= limit,
                    "data node {d}: {capacity} slots, above the maximum of {} ({limit} for keys \
                     no router separates)",
                    self.max_data_slots
                );
                data_refs[d] += 1;
                leaves.push(d as u32);
            } else {
                let c = child as usize;
                assert!(
                    c < self.models.len(),
                    "model node {m}: model child {c} out of range"
                );
                model_refs[c] += 1;
                assert_eq!(model_refs[c], 1, "model node {c} has several parents");
                self.check_model(child, level + 1, model_refs, data_refs, leaves);
            }
            start = end;
        }
    }
}
