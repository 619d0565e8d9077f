//! Structural tests: each forces one path of the index and proves through the counters of
//! [`AlexStats`] that it was taken, then compares the whole map with a `BTreeMap`.

use std::collections::BTreeMap;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::AlexMap;

/// Asserts that `map` holds exactly `model`, by iteration both ways and by point lookups.
fn assert_same(map: &AlexMap<u64>, model: &BTreeMap<i64, u64>) {
    map.check_invariants();
    assert_eq!(map.len(), model.len());
    assert!(
        map.iter().eq(model.iter().map(|(k, v)| (*k, v))),
        "forward iteration differs"
    );
    assert!(
        map.iter()
            .rev()
            .eq(model.iter().rev().map(|(k, v)| (*k, v))),
        "reverse iteration differs"
    );
    for (k, v) in model {
        assert_eq!(map.get(*k), Some(v), "get({k})");
    }
}

fn keys_map(keys: impl IntoIterator<Item = i64>) -> (AlexMap<u64>, BTreeMap<i64, u64>) {
    let mut map = AlexMap::new();
    let mut model = BTreeMap::new();
    for k in keys {
        assert_eq!(map.insert(k, k as u64), model.insert(k, k as u64));
    }
    (map, model)
}

#[test]
fn node_headers_stay_small() {
    // The per-node header is part of the 24 bytes/key budget after bulk load.
    assert!(std::mem::size_of::<crate::data::DataNode<u64>>() <= 128);
    // Lookups read only the first cache line of a node.
    assert_eq!(std::mem::align_of::<crate::data::DataNode<u64>>(), 64);
}

#[test]
fn bulk_load_of_zero_one_two_keys() {
    let empty = AlexMap::<u64>::bulk_load(&[]).unwrap();
    empty.check_invariants();
    assert!(empty.is_empty());
    assert_eq!(empty.iter().next(), None);
    assert_eq!(empty.get(0), None);
    let one = AlexMap::bulk_load(&[(i64::MIN, 1u64)]).unwrap();
    one.check_invariants();
    assert_eq!(one.get(i64::MIN), Some(&1));
    assert_eq!(one.first_key_value(), Some((i64::MIN, &1)));
    let two = AlexMap::bulk_load(&[(-1, 1u64), (i64::MAX, 2)]).unwrap();
    two.check_invariants();
    assert_eq!(two.get(i64::MAX), Some(&2));
    assert_eq!(two.get(i64::MAX - 1), None);
    assert_eq!(two.last_key_value(), Some((i64::MAX, &2)));
    assert!(AlexMap::bulk_load(&[(1, 1u64), (1, 2)]).is_err());
}

#[test]
fn extreme_keys_behave_like_any_other() {
    let keys = [i64::MIN, i64::MIN + 1, -1, 0, 1, i64::MAX - 1, i64::MAX];
    let (mut map, mut model) = keys_map(keys);
    assert_same(&map, &model);
    assert_eq!(map.range(i64::MAX..).count(), 1);
    assert_eq!(map.range(..=i64::MIN).count(), 1);
    for k in keys {
        assert_eq!(map.remove(k), model.remove(&k));
        assert_same(&map, &model);
    }
    assert!(map.is_empty());
    assert_eq!(map.get(i64::MAX), None);
}

#[test]
fn randomized_small_loops_against_btreemap() {
    let mut rng = StdRng::seed_from_u64(7);
    for round in 0..40 {
        let mut map = AlexMap::new();
        let mut model = BTreeMap::new();
        let width: i64 = match round % 4 {
            0 => 100,
            1 => 10_000,
            2 => i64::MAX,
            _ => 1_000_000_000_000,
        };
        for step in 0..600 {
            let k = if round % 4 == 2 {
                rng.r#gen::<i64>()
            } else {
                rng.gen_range(-width..width)
            };
            let k = if step % 97 == 0 {
                i64::MAX
            } else if step % 89 == 0 {
                i64::MIN
            } else {
                k
            };
            if rng.gen_bool(0.65) {
                let v = rng.r#gen::<u64>();
                assert_eq!(map.insert(k, v), model.insert(k, v), "insert {k}");
            } else {
                assert_eq!(map.remove(k), model.remove(&k), "remove {k}");
            }
            if step % 50 == 0 {
                assert_same(&map, &model);
            } else {
                map.check_invariants();
            }
        }
        assert_same(&map, &model);
    }
}

/// Self-check of speed against `BTreeMap` (not a benchmark; the criterion benches are in
/// `benches/alex.rs`). Run:
/// `cargo test -p alexdb-alex --release --lib perf_vs_btreemap -- --ignored --nocapture`
/// (`ALEX_PERF_N` sets the key count, default 10M).
#[test]
#[ignore]
fn perf_vs_btreemap() {
    use rand_distr::{Distribution, LogNormal};
    use std::time::Instant;
    let n: usize = std::env::var("ALEX_PERF_N")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000_000);
    let mut rng = StdRng::seed_from_u64(42);
    let dists: [(&str, Vec<i64>); 2] = [
        ("uniform", (0..n).map(|_| rng.r#gen::<i64>()).collect()),
        ("lognormal", {
            let ln = LogNormal::<f64>::new(0.0, 2.0).unwrap();
            (0..n)
                .map(|_| (1e9 * ln.sample(&mut rng)).floor() as i64)
                .collect()
        }),
    ];
    for (name, mut keys) in dists {
        keys.sort_unstable();
        keys.dedup();
        let pairs: Vec<(i64, u64)> = keys.iter().map(|&k| (k, k as u64)).collect();
        let t = Instant::now();
        let mut map = AlexMap::bulk_load(&pairs).unwrap();
        for _ in 1..std::env::var("ALEX_PERF_BULK_REPEAT")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(1)
        {
            map = AlexMap::bulk_load(&pairs).unwrap();
        }
        let bulk_s = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let bt: BTreeMap<i64, u64> = pairs.iter().copied().collect();
        let bt_build_s = t.elapsed().as_secs_f64();
        let st = map.stats();
        println!(
            "{name}: {} keys, bulk load {:.3}s (btree {:.3}s), {:.2} bytes/key, depth {}, {} model / {} data nodes",
            pairs.len(),
            bulk_s,
            bt_build_s,
            st.heap_bytes as f64 / st.keys as f64,
            st.depth,
            st.model_nodes,
            st.data_nodes
        );
        {
            let arrays: usize = map.datas.iter().map(|d| d.heap_bytes()).sum();
            let slots: usize = map.datas.iter().map(|d| d.capacity()).sum();
            let children: usize = map.models.iter().map(|m| m.children.len() * 4).sum();
            println!(
                "  breakdown: arrays {:.2} B/key (density {:.3}), headers {:.2} B/key, child arrays {:.2} B/key",
                arrays as f64 / st.keys as f64,
                st.keys as f64 / slots as f64,
                (map.datas.capacity() * std::mem::size_of::<crate::data::DataNode<u64>>()) as f64
                    / st.keys as f64,
                children as f64 / st.keys as f64
            );
        }
        if std::env::var("ALEX_PERF_BULK_ONLY").is_ok() {
            continue;
        }
        let probes: Vec<i64> = (0..2_000_000)
            .map(|_| keys[rng.gen_range(0..keys.len())])
            .collect();
        let t = Instant::now();
        let mut sum = 0u64;
        for &k in &probes {
            sum = sum.wrapping_add(*map.get(k).unwrap());
        }
        let alex_ns = t.elapsed().as_nanos() as f64 / probes.len() as f64;
        let t = Instant::now();
        for &k in &probes {
            sum = sum.wrapping_add(*bt.get(&k).unwrap());
        }
        let bt_ns = t.elapsed().as_nanos() as f64 / probes.len() as f64;
        println!(
            "  lookups: alex {alex_ns:.0} ns, btree {bt_ns:.0} ns, ratio {:.2}x ({sum})",
            bt_ns / alex_ns
        );
        let t = Instant::now();
        let mut cnt = 0usize;
        for &k in probes.iter().take(200_000) {
            cnt += map.range(k..).take(100).count();
        }
        let alex_ns = t.elapsed().as_nanos() as f64 / 200_000.0;
        let t = Instant::now();
        for &k in probes.iter().take(200_000) {
            cnt += bt.range(k..).take(100).count();
        }
        let bt_ns = t.elapsed().as_nanos() as f64 / 200_000.0;
        println!(
            "  range100: alex {alex_ns:.0} ns, btree {bt_ns:.0} ns, ratio {:.2}x ({cnt})",
            bt_ns / alex_ns
        );
        drop(map);
        drop(bt);
        // Inserts: bulk load half, insert the other half in random order.
        let mut half_a = Vec::new();
        let mut half_b = Vec::new();
        for (i, p) in pairs.iter().enumerate() {
            if i % 2 == 0 {
                half_a.push(*p)
            } else {
                half_b.push(*p)
            }
        }
        use rand::seq::SliceRandom;
        half_b.shuffle(&mut rng);
        let mut map = AlexMap::bulk_load(&half_a).unwrap();
        let mut bt: BTreeMap<i64, u64> = half_a.iter().copied().collect();
        let t = Instant::now();
        for &(k, v) in &half_b {
            map.insert(k, v);
        }
        let alex_ns = t.elapsed().as_nanos() as f64 / half_b.len() as f64;
        let t = Instant::now();
        for &(k, v) in &half_b {
            bt.insert(k, v);
        }
        let bt_ns = t.elapsed().as_nanos() as f64 / half_b.len() as f64;
        let st = map.stats();
        println!(
            "  inserts: alex {alex_ns:.0} ns, btree {bt_ns:.0} ns, ratio {:.2}x; after: {:.2} bytes/key depth {} data nodes {} exp {} side {} down {}",
            bt_ns / alex_ns,
            st.heap_bytes as f64 / st.keys as f64,
            st.depth,
            st.data_nodes,
            st.expansions,
            st.sideways_splits,
            st.downward_splits
        );
    }
}

/// Uniform random inserts into a bulk-loaded map fill data nodes to the upper density, and
/// nodes whose model still fits are expanded in place.
#[test]
fn expansion_when_nodes_fill_up() {
    let pairs: Vec<(i64, u64)> = (0..20_000).map(|i| (i * 1000, i as u64)).collect();
    let mut map = AlexMap::bulk_load(&pairs).unwrap();
    let mut model: BTreeMap<i64, u64> = pairs.iter().copied().collect();
    let mut rng = StdRng::seed_from_u64(1);
    for _ in 0..40_000 {
        let k = rng.gen_range(0..20_000_000);
        assert_eq!(map.insert(k, 7), model.insert(k, 7));
    }
    assert!(map.stats().expansions > 0, "{:?}", map.stats());
    assert_same(&map, &model);
}

/// Deleting most keys makes nodes contract.
#[test]
fn contraction_after_deletes() {
    let pairs: Vec<(i64, u64)> = (0..20_000).map(|i| (i * 3, i as u64)).collect();
    let mut map = AlexMap::bulk_load(&pairs).unwrap();
    let mut model: BTreeMap<i64, u64> = pairs.iter().copied().collect();
    for i in 0..20_000i64 {
        if i % 10 != 0 {
            assert_eq!(map.remove(i * 3), model.remove(&(i * 3)));
        }
    }
    assert!(map.stats().contractions > 0, "{:?}", map.stats());
    assert_same(&map, &model);
}

/// Many keys inserted into a narrow region of a sparse bulk-loaded map: the node's model
/// no longer fits, the cost model prefers splitting, and the parent has duplicated slots or
/// room to expand, so the node is split sideways.
#[test]
fn sideways_split_under_skewed_inserts() {
    let pairs: Vec<(i64, u64)> = (0..4_000).map(|i| (i * 1_000_000, 0)).collect();
    let mut map = AlexMap::bulk_load(&pairs).unwrap();
    let mut model: BTreeMap<i64, u64> = pairs.iter().copied().collect();
    let mut rng = StdRng::seed_from_u64(3);
    for i in 0..60_000u64 {
        // Ever denser around a few centres: each node's model is trained on the old spread.
        let centre = [500_000_000i64, 1_700_000_000, 3_100_000_000][(i % 3) as usize];
        let k = centre + rng.gen_range(-20_000_000..20_000_000);
        assert_eq!(map.insert(k, i), model.insert(k, i));
    }
    let stats = map.stats();
    assert!(stats.sideways_splits > 0, "{stats:?}");
    assert_same(&map, &model);
}

/// A tight cluster inside one slot of a wide root cannot be separated by the root's model:
/// only a new model node trained on the cluster can, so the node is split downwards.
#[test]
fn downward_split_for_a_cluster_inside_one_slot() {
    let pairs: Vec<(i64, u64)> = (0..2_000).map(|i| (i << 40, 0)).collect();
    let mut map = AlexMap::bulk_load(&pairs).unwrap();
    let mut model: BTreeMap<i64, u64> = pairs.iter().copied().collect();
    let mut rng = StdRng::seed_from_u64(4);
    for i in 0..50_000u64 {
        // Two clusters with a lognormal-like shape inside the same root slot.
        let base = (77i64 << 40) + if i % 2 == 0 { 1_000 } else { 1 << 30 };
        let spread = 1i64 << rng.gen_range(1..24);
        let k = base + rng.gen_range(0..spread);
        assert_eq!(map.insert(k, i), model.insert(k, i));
    }
    let stats = map.stats();
    assert!(stats.downward_splits > 0, "{stats:?}");
    assert!(stats.depth >= 3, "{stats:?}");
    assert_same(&map, &model);
}

/// The direction of a split follows from the parent, as in ALEX's reference
/// implementation: while the parent can grow, full nodes split sideways even where a new
/// model node spanning the node's keys would cut them more evenly. Keys `0..n` inserted in
/// three ascending passes (every third key per pass: the peers' `readrandom` load) used to
/// grow a depth-4 tree of ~120 downward splits at 1M keys, the cost model preferring the
/// even cut to the parent's uneven one; the same keys bulk loaded make depth 2.
#[test]
fn splits_go_sideways_while_the_parent_has_room() {
    let n = 1_000_000i64;
    let mut map = AlexMap::new();
    let mut model = BTreeMap::new();
    for pass in 0..3 {
        for k in (pass..n).step_by(3) {
            assert_eq!(map.insert(k, k as u64), model.insert(k, k as u64));
        }
    }
    let stats = map.stats();
    assert!(stats.sideways_splits > 0, "{stats:?}");
    assert_eq!(stats.downward_splits, 0, "{stats:?}");
    assert!(stats.depth <= 2, "{stats:?}");
    assert_same(&map, &model);
}

/// Growing parents for sideways splits is bounded by the map's model-slot budget: keys in
/// 1,024 clusters of widths 2^10 to 2^39 double model nodes whose other slots point at
/// nearly empty children. Without the budget 2M such keys peaked at 187 bytes per key
/// (4M at 494).
#[test]
fn clustered_inserts_keep_model_slots_within_budget() {
    let mut rng = StdRng::seed_from_u64(6);
    let mut map = AlexMap::new();
    let mut peak = 0.0f64;
    for i in 0..2_000_000i64 {
        let k = (i % 1024) * (i64::MAX / 1024) + rng.gen_range(0..1i64 << (10 + (i % 30)));
        map.insert(k, 0u64);
        if i % 100_000 == 99_999 {
            let stats = map.stats();
            peak = peak.max(stats.heap_bytes as f64 / stats.keys as f64);
        }
    }
    let stats = map.stats();
    assert!(
        stats.sideways_splits > 0 && stats.downward_splits > 0,
        "{stats:?}"
    );
    assert!(peak <= 34.0, "peak {peak:.1} bytes per key, {stats:?}");
    map.check_invariants();
}

/// Keys above and below the bulk-loaded domain grow the root on both sides: first in place
/// (more slots), then, for far keys beyond the fanout cap, by a new root above the old one.
#[test]
fn root_grows_left_and_right() {
    let pairs: Vec<(i64, u64)> = (0..10_000).map(|i| (i * 100, 0)).collect();
    let mut map = AlexMap::bulk_load(&pairs).unwrap();
    let mut model: BTreeMap<i64, u64> = pairs.iter().copied().collect();
    let depth_before = map.stats().depth;
    // Appends just past the right end, then prepends just past the left end.
    for i in 0..5_000i64 {
        let k = 1_000_000 + i * 100;
        assert_eq!(map.insert(k, 1), model.insert(k, 1));
        let k = -100 - i * 100;
        assert_eq!(map.insert(k, 2), model.insert(k, 2));
    }
    let stats = map.stats();
    assert!(
        stats.root_growths_right > 0 && stats.root_growths_left > 0,
        "{stats:?}"
    );
    assert!(
        stats.domain_growths_right > 0 && stats.domain_growths_left > 0,
        "{stats:?}"
    );
    map.check_invariants();
    // Far keys, enough to fill the edge nodes: the root cannot grow in place that much (its
    // fanout is capped), so a new root is put above it.
    for i in 0..3_000i64 {
        let k = i64::MAX - i * (1 << 50);
        assert_eq!(map.insert(k, 3), model.insert(k, 3));
        let k = i64::MIN + i * (1 << 50);
        assert_eq!(map.insert(k, 4), model.insert(k, 4));
    }
    let stats = map.stats();
    assert!(
        stats.new_roots > 0 && stats.depth > depth_before,
        "{stats:?}"
    );
    assert_same(&map, &model);
}

/// Removing every key of a region empties its data nodes, which merge with their siblings;
/// model nodes left with a single child collapse.
#[test]
fn empty_nodes_merge_with_siblings() {
    let mut rng = StdRng::seed_from_u64(6);
    let mut keys: Vec<i64> = (0..50_000).map(|_| rng.gen_range(0..1_000_000)).collect();
    keys.sort_unstable();
    keys.dedup();
    let pairs: Vec<(i64, u64)> = keys.iter().map(|&k| (k * k, 0)).collect();
    let mut map = AlexMap::bulk_load(&pairs).unwrap();
    let mut model: BTreeMap<i64, u64> = pairs.iter().copied().collect();
    let nodes_before = map.stats().data_nodes;
    assert!(nodes_before > 4, "{:?}", map.stats());
    for &(k, _) in &pairs[5_000..45_000] {
        assert_eq!(map.remove(k), model.remove(&k));
    }
    let stats = map.stats();
    assert!(stats.merges > 0, "{stats:?}");
    assert!(
        stats.data_nodes < nodes_before,
        "{stats:?} vs {nodes_before} nodes before"
    );
    assert_same(&map, &model);
    // Reinserting works across the merged nodes.
    for &(k, _) in pairs[5_000..45_000].iter().step_by(7) {
        assert_eq!(map.insert(k, 1), model.insert(k, 1));
    }
    assert_same(&map, &model);
}

/// Downward splits, then deletes: model nodes whose slots end up pointing to one data node
/// are collapsed into it.
#[test]
fn single_child_model_nodes_collapse() {
    let mut map = AlexMap::new();
    let mut model = BTreeMap::new();
    let mut rng = StdRng::seed_from_u64(5);
    let keys: Vec<i64> = (0..30_000)
        .map(|_| {
            let bits = rng.gen_range(4..30);
            (1 << 50) + rng.gen_range(0..1i64 << bits)
        })
        .collect();
    for &k in &keys {
        assert_eq!(map.insert(k, 0), model.insert(k, 0));
    }
    assert!(map.stats().model_nodes > 1, "{:?}", map.stats());
    for &k in &keys {
        assert_eq!(map.remove(k), model.remove(&k));
        if model.len() % 5000 == 0 {
            map.check_invariants();
        }
    }
    assert!(map.is_empty());
    let stats = map.stats();
    assert!(stats.merges + stats.collapses > 0, "{stats:?}");
    assert_same(&map, &model);
}

/// Monotone appends in both directions into an empty map stay within the memory bound and
/// keep a shallow tree.
#[test]
fn monotone_appends_stay_compact() {
    for descending in [false, true] {
        let mut map = AlexMap::new();
        for i in 0..200_000i64 {
            let k = if descending { -i * 3 } else { i * 3 };
            map.insert(k, i as u64);
        }
        let stats = map.stats();
        assert!(stats.heap_bytes <= 64 * stats.keys, "{stats:?}");
        assert!(stats.depth <= 6, "{stats:?}");
        map.check_invariants();
    }
}

/// Bulk load of 10M keys: shape, memory per key (<= 24 bytes with u64 payloads), lookups.
/// Release only (`cargo test -p alexdb-alex --release --lib bulk_load_ten_million`).
#[test]
#[cfg_attr(debug_assertions, ignore)]
fn bulk_load_ten_million_keys() {
    let mut rng = StdRng::seed_from_u64(10);
    let mut keys: Vec<i64> = (0..10_000_000).map(|_| rng.r#gen::<i64>()).collect();
    keys.sort_unstable();
    keys.dedup();
    let pairs: Vec<(i64, u64)> = keys.iter().map(|&k| (k, k as u64)).collect();
    let map = AlexMap::bulk_load(&pairs).unwrap();
    let stats = map.stats();
    assert_eq!(stats.keys, pairs.len());
    assert!(stats.heap_bytes <= 24 * stats.keys, "{stats:?}");
    for (k, v) in pairs.iter().step_by(997) {
        assert_eq!(map.get(*k), Some(v));
        assert_eq!(
            map.get(k.wrapping_add(1)).is_some(),
            keys.binary_search(&k.wrapping_add(1)).is_ok()
        );
    }
    assert!(map.iter().map(|(k, _)| k).eq(keys.iter().copied()));
}

/// Range-scan self-check (see `perf_vs_btreemap`).
#[test]
#[ignore]
fn perf_range_scan() {
    use std::time::Instant;
    let mut rng = StdRng::seed_from_u64(42);
    let mut keys: Vec<i64> = (0..2_000_000).map(|_| rng.r#gen::<i64>()).collect();
    keys.sort_unstable();
    keys.dedup();
    let pairs: Vec<(i64, u64)> = keys.iter().map(|&k| (k, k as u64)).collect();
    let map = AlexMap::bulk_load(&pairs).unwrap();
    let bt: BTreeMap<i64, u64> = pairs.iter().copied().collect();
    let starts: Vec<i64> = (0..300_000)
        .map(|_| keys[rng.gen_range(0..keys.len())])
        .collect();
    let which = std::env::var("ALEX_PERF_ONLY").unwrap_or_default();
    for _ in 0..3 {
        let mut sum = 0u64;
        let t = Instant::now();
        if which != "btree" && which != "skip" {
            for &k in &starts {
                for (_, v) in map.range(k..).take(100) {
                    sum = sum.wrapping_add(*v);
                }
            }
        }
        let alex_ns = t.elapsed().as_nanos() as f64 / starts.len() as f64;
        let t = Instant::now();
        if which != "alex" && which != "skip" {
            for &k in &starts {
                for (_, v) in bt.range(k..).take(100) {
                    sum = sum.wrapping_add(*v);
                }
            }
        }
        let bt_ns = t.elapsed().as_nanos() as f64 / starts.len() as f64;
        println!(
            "range100: alex {alex_ns:.0} ns, btree {bt_ns:.0} ns, ratio {:.2}x ({sum})",
            bt_ns / alex_ns
        );
    }
}

/// Long randomized stress against `BTreeMap`: phases of appends, prepends, clustered and
/// uniform inserts, deletes of ranges, re-bulk-loads, with full checks between phases.
/// Run: `cargo test -p alexdb-alex --release --lib stress_phases -- --ignored`
/// (`ALEX_STRESS_ROUNDS`, default 20).
#[test]
#[ignore]
fn stress_phases() {
    let rounds: u64 = std::env::var("ALEX_STRESS_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    for seed in 0..rounds {
        let mut rng = StdRng::seed_from_u64(1000 + seed);
        let mut map = AlexMap::new();
        let mut model = BTreeMap::new();
        for phase in 0..12 {
            let count = rng.gen_range(1..30_000);
            let kind = rng.gen_range(0..7);
            let base: i64 = rng.r#gen();
            let step: i64 = 1 << rng.gen_range(0..40);
            for i in 0..count as i64 {
                let k = match kind {
                    0 => base.saturating_add(i.saturating_mul(step)),
                    1 => base.saturating_sub(i.saturating_mul(step)),
                    2 => base.wrapping_add(rng.gen_range(-1000..1000)),
                    3 => rng.r#gen(),
                    4 => {
                        [i64::MIN, i64::MAX, 0, -1][rng.gen_range(0..4)]
                            + rng.gen_range(-3..=3).max(0)
                    }
                    _ => base.wrapping_add(rng.gen_range(0..(step.max(2)))),
                };
                if kind == 6 || (phase % 3 == 2 && rng.gen_bool(0.5)) {
                    assert_eq!(
                        map.remove(k),
                        model.remove(&k),
                        "seed {seed} phase {phase} remove {k}"
                    );
                } else {
                    let v: u64 = rng.r#gen();
                    assert_eq!(
                        map.insert(k, v),
                        model.insert(k, v),
                        "seed {seed} phase {phase} insert {k}"
                    );
                }
            }
            if phase % 4 == 3 {
                // Remove a random key range.
                let lo: i64 = rng.r#gen();
                let hi = lo.saturating_add(1 << rng.gen_range(30..63));
                let doomed: Vec<i64> = model.range(lo..=hi).map(|(k, _)| *k).collect();
                for k in doomed {
                    assert_eq!(map.remove(k), model.remove(&k));
                }
            }
            if phase == 6 {
                let pairs: Vec<(i64, u64)> = model.iter().map(|(k, v)| (*k, *v)).collect();
                map = AlexMap::bulk_load(&pairs).unwrap();
            }
            assert_same(&map, &model);
            let stats = map.stats();
            assert!(
                stats.heap_bytes <= (64 * stats.keys).max(1 << 20),
                "seed {seed} phase {phase}: {stats:?}"
            );
        }
    }
}

/// Insert self-check: bulk load half of 5M uniform keys, insert the other half.
/// `ALEX_PERF_ONLY=alex|btree|skip` times one side alone (compare with `perf stat`).
#[test]
#[ignore]
fn perf_inserts() {
    use rand::seq::SliceRandom;
    let which = std::env::var("ALEX_PERF_ONLY").unwrap_or_default();
    let mut rng = StdRng::seed_from_u64(43);
    let mut keys: Vec<i64> = (0..5_000_000).map(|_| rng.r#gen::<i64>()).collect();
    keys.sort_unstable();
    keys.dedup();
    let (mut loaded, mut inserted) = (Vec::new(), Vec::new());
    for (i, &k) in keys.iter().enumerate() {
        if i % 2 == 0 {
            loaded.push((k, k as u64));
        } else {
            inserted.push(k);
        }
    }
    inserted.shuffle(&mut rng);
    if which != "btree" && which != "skip" {
        let mut map = AlexMap::bulk_load(&loaded).unwrap();
        let t = std::time::Instant::now();
        for &k in &inserted {
            map.insert(k, k as u64);
        }
        println!(
            "alex: {:.0} ns/insert {:?}",
            t.elapsed().as_nanos() as f64 / inserted.len() as f64,
            map.stats()
        );
    }
    if which != "alex" && which != "skip" {
        let mut bt: BTreeMap<i64, u64> = loaded.iter().copied().collect();
        let t = std::time::Instant::now();
        for &k in &inserted {
            bt.insert(k, k as u64);
        }
        println!(
            "btree: {:.0} ns/insert",
            t.elapsed().as_nanos() as f64 / inserted.len() as f64
        );
    }
}

/// Full-iteration self-check (per-item cost without the start lookup).
#[test]
#[ignore]
fn perf_full_iteration() {
    let which = std::env::var("ALEX_PERF_ONLY").unwrap_or_default();
    let mut rng = StdRng::seed_from_u64(44);
    let mut keys: Vec<i64> = (0..2_000_000).map(|_| rng.r#gen::<i64>()).collect();
    keys.sort_unstable();
    keys.dedup();
    let pairs: Vec<(i64, u64)> = keys.iter().map(|&k| (k, k as u64)).collect();
    let mut sum = 0u64;
    if which == "alex" {
        let map = AlexMap::bulk_load(&pairs).unwrap();
        let t = std::time::Instant::now();
        for _ in 0..20 {
            for (_, v) in map.iter() {
                sum = sum.wrapping_add(*v);
            }
        }
        println!("alex {:.2} ns/item", t.elapsed().as_nanos() as f64 / 40e6);
    } else if which == "btree" {
        let bt: BTreeMap<i64, u64> = pairs.iter().copied().collect();
        let t = std::time::Instant::now();
        for _ in 0..20 {
            for (_, v) in bt.iter() {
                sum = sum.wrapping_add(*v);
            }
        }
        println!("btree {:.2} ns/item", t.elapsed().as_nanos() as f64 / 40e6);
    }
    println!("{sum}");
}

#[test]
fn max_data_slots_outside_the_range_is_refused() {
    use crate::{BulkLoadError, InvalidMaxDataSlots, MAX_DATA_SLOTS_RANGE};
    let (min, max) = (*MAX_DATA_SLOTS_RANGE.start(), *MAX_DATA_SLOTS_RANGE.end());
    for slots in [0, min - 1, max + 1, usize::MAX] {
        let expected = InvalidMaxDataSlots { slots, min, max };
        assert_eq!(
            AlexMap::<u64>::with_max_data_slots(slots).err(),
            Some(expected.clone())
        );
        assert_eq!(
            AlexMap::<u64>::bulk_load_with_max_data_slots(&[(1, 1)], slots).err(),
            Some(BulkLoadError::InvalidMaxDataSlots(expected))
        );
    }
    assert_eq!(AlexMap::<u64>::new().max_data_slots(), max);
    assert_eq!(
        AlexMap::<u64>::with_max_data_slots(min)
            .unwrap()
            .max_data_slots(),
        min
    );
}

/// With the smallest maximum, full nodes split instead of expanding past it — under random
/// and sequential inserts, after a bulk load, and after the map was emptied and refilled
/// (the structure is rebuilt then, and must keep the maximum). `check_invariants` asserts
/// every node's capacity against it.
#[test]
fn nodes_never_grow_past_the_maximum() {
    let max = *crate::MAX_DATA_SLOTS_RANGE.start();
    let mut rng = StdRng::seed_from_u64(31);
    let mut map = AlexMap::with_max_data_slots(max).unwrap();
    let mut model = BTreeMap::new();
    for _ in 0..60_000 {
        let key = rng.r#gen::<i64>();
        map.insert(key, key as u64);
        model.insert(key, key as u64);
    }
    for key in 0..30_000i64 {
        map.insert(key, key as u64);
        model.insert(key, key as u64);
    }
    assert_same(&map, &model);
    let stats = map.stats();
    assert!(
        stats.data_nodes >= model.len() / max,
        "{} data nodes for {} keys of at most {max} slots",
        stats.data_nodes,
        model.len()
    );
    let keys: Vec<i64> = model.keys().copied().collect();
    for key in keys {
        map.remove(key);
    }
    assert!(map.is_empty());
    assert_eq!(map.max_data_slots(), max);
    model.clear();
    for key in (0..20_000i64).rev() {
        map.insert(key * 7, key as u64);
        model.insert(key * 7, key as u64);
    }
    assert_same(&map, &model);

    let sorted: Vec<(i64, u64)> = (0..50_000i64).map(|k| (k * 3, k as u64)).collect();
    let loaded = AlexMap::bulk_load_with_max_data_slots(&sorted, max).unwrap();
    loaded.check_invariants();
    assert_eq!(loaded.max_data_slots(), max);
    assert!(loaded.stats().data_nodes >= sorted.len() / max);
}

/// Bulk loads whose node arrays go to a slab however small (the public threshold is 8 MiB),
/// then random inserts and removes against `BTreeMap`, then removes down to a fifth of the
/// keys, with the slab accounting checked by `check_invariants` after every operation.
#[test]
fn slab_backed_maps_match_btreemap_through_release() {
    let mut rng = StdRng::seed_from_u64(11);
    let mut releases = 0;
    for round in 0..30 {
        let n = [1, 2, 64, 500, 3_000][round % 5];
        let width: i64 = if round % 2 == 0 { 1_000_000 } else { i64::MAX };
        let mut keys: Vec<i64> = (0..n).map(|_| rng.gen_range(-width..width)).collect();
        keys.sort_unstable();
        keys.dedup();
        let pairs: Vec<(i64, u64)> = keys.iter().map(|&k| (k, k as u64)).collect();
        let mut map = AlexMap::bulk_load_checked(&pairs, crate::DEFAULT_MAX_DATA_SLOTS, 0);
        let mut model: BTreeMap<i64, u64> = pairs.iter().copied().collect();
        map.check_invariants();
        assert!(
            map.stats().slab_bytes > 0,
            "round {round}: the load used a slab"
        );
        assert_same(&map, &model);
        // A clone copies to the heap and shares nothing with the original.
        let clone = map.clone();
        assert_eq!(clone.stats().slab_bytes, 0);
        clone.check_invariants();
        for step in 0..3 * n.max(100) {
            let k = rng.gen_range(-width..width);
            if rng.gen_bool(0.7) {
                let v = rng.r#gen::<u64>();
                assert_eq!(map.insert(k, v), model.insert(k, v), "insert {k}");
            } else {
                let k = model
                    .keys()
                    .next()
                    .copied()
                    .filter(|_| step % 3 == 0)
                    .unwrap_or(k);
                assert_eq!(map.remove(k), model.remove(&k), "remove {k}");
            }
            map.check_invariants();
        }
        // Then mostly removes, down to a fifth: the slab's free space outgrows its live
        // bytes and it is released.
        let target = model.len() / 5;
        while model.len() > target.max(1) {
            let k = if rng.gen_bool(0.9) {
                let nth = rng.gen_range(0..model.len());
                *model.keys().nth(nth).expect("nth < len")
            } else {
                rng.gen_range(-width..width)
            };
            assert_eq!(map.remove(k), model.remove(&k), "remove {k}");
            map.check_invariants();
        }
        assert_same(&map, &model);
        assert_same(&clone, &pairs.iter().copied().collect());
        releases += map.stats().slab_releases;
    }
    assert!(releases >= 10, "slabs released in {releases} of 30 rounds");
}

/// 600K random keys, bulk loaded: large enough for a slab of its own.
fn large_slab_map(rng: &mut StdRng) -> (AlexMap<u64>, BTreeMap<i64, u64>) {
    let mut keys: Vec<i64> = (0..600_000).map(|_| rng.r#gen::<i64>()).collect();
    keys.sort_unstable();
    keys.dedup();
    let pairs: Vec<(i64, u64)> = keys.iter().map(|&k| (k, !(k as u64))).collect();
    let map = AlexMap::bulk_load(&pairs).unwrap();
    let stats = map.stats();
    assert!(
        stats.slab_bytes > 0 && stats.slab_bytes <= stats.heap_bytes,
        "{stats:?}"
    );
    assert!(stats.heap_bytes <= 24 * pairs.len(), "{stats:?}");
    map.check_invariants();
    (map, pairs.into_iter().collect())
}

/// A large bulk load takes a slab by itself, and the nodes that inserts rebuild go to it
/// too, in the space earlier rebuilds freed where it fits: three times the keys later, every
/// node is still in the slab, nothing was released, and the free space between nodes stays
/// below a third of the live bytes.
#[test]
fn large_bulk_load_grows_in_its_slab() {
    let mut rng = StdRng::seed_from_u64(12);
    let (mut map, mut model) = large_slab_map(&mut rng);
    let loaded = model.len();
    while model.len() < 3 * loaded {
        for _ in 0..1_000 {
            let k = rng.r#gen::<i64>();
            assert_eq!(map.insert(k, 1), model.insert(k, 1));
        }
        if model.len() % 100_000 < 1_000 {
            let stats = map.stats();
            assert!(stats.heap_bytes <= 64 * model.len(), "{stats:?}");
            map.check_invariants();
        }
    }
    let stats = map.stats();
    assert!(stats.expansions > 1_000, "{stats:?}");
    assert_eq!(stats.slab_releases, 0, "{stats:?}");
    let slab = map.slab.slab.clone().expect("the slab is kept");
    assert!(
        map.datas
            .iter()
            .all(|node| node.capacity() == 0 || node.is_in_slab(&slab)),
        "a rebuilt node went to the heap"
    );
    let (free, blocks) = slab.free_blocks();
    assert!(
        free * 3 <= slab.live_bytes(),
        "{free} bytes free in {blocks} blocks beside {} live",
        slab.live_bytes()
    );
    map.check_invariants();
    assert_same(&map, &model);
}

/// The adversarial shapes of I-2 on a bulk-loaded, slab-backed map, whose rebuilt nodes go
/// to the slab: appends past the largest key, inserts below the smallest, and one key
/// inserted and removed many times. Memory stays within 64 bytes per key held (the slab's
/// free space counted) and the map answers like the model.
#[test]
fn slab_backed_map_under_adversarial_shapes() {
    let mut rng = StdRng::seed_from_u64(15);
    let (mut map, mut model) = large_slab_map(&mut rng);
    let within_budget = |map: &AlexMap<u64>, held: usize, what: &str| {
        let stats = map.stats();
        assert!(stats.heap_bytes <= 64 * held, "{what}: {stats:?}");
    };
    let top = *model.keys().next_back().expect("keys");
    let bottom = *model.keys().next().expect("keys");
    for i in 1..=300_000i64 {
        assert_eq!(map.insert(top + i, 1), model.insert(top + i, 1));
        if i % 50_000 == 0 {
            within_budget(&map, model.len(), "appends");
        }
    }
    for i in 1..=300_000i64 {
        assert_eq!(map.insert(bottom - i, 2), model.insert(bottom - i, 2));
        if i % 50_000 == 0 {
            within_budget(&map, model.len(), "descending inserts");
        }
    }
    map.check_invariants();
    let key = (0..)
        .map(|_| rng.r#gen::<i64>())
        .find(|k| !model.contains_key(k))
        .expect("a free key");
    for i in 0..200_000u64 {
        assert_eq!(map.insert(key, i), None);
        assert_eq!(map.remove(key), Some(i));
    }
    within_budget(&map, model.len(), "one key in and out");
    assert!(map.slab.slab.is_some(), "the slab is kept");
    map.check_invariants();
    assert_same(&map, &model);
}

/// Removing most of a large bulk-loaded map leaves its slab sparse: the arrays still in it
/// move to the heap a step at a time, the map answering the same throughout, and the
/// mapping is released.
#[test]
fn a_slab_left_sparse_by_removes_is_released() {
    use rand::seq::SliceRandom;
    let mut rng = StdRng::seed_from_u64(13);
    let (mut map, mut model) = large_slab_map(&mut rng);
    let mut keys: Vec<i64> = model.keys().copied().collect();
    keys.shuffle(&mut rng);
    let mut seen_releasing = false;
    for (removed, k) in keys.into_iter().enumerate() {
        assert_eq!(map.remove(k), model.remove(&k), "remove {k}");
        if map.slab.releasing_from.is_some() && !seen_releasing {
            // Half-way through the release: arrays in both places.
            seen_releasing = true;
            map.check_invariants();
        }
        if removed % 20_000 == 0 {
            let stats = map.stats();
            assert!(
                stats.heap_bytes <= 64 * model.len().max(16_384),
                "{stats:?}"
            );
            map.check_invariants();
        }
        if map.counters.slab_releases > 0 {
            break;
        }
    }
    assert!(seen_releasing, "the release took more than one step");
    assert!(map.slab.slab.is_none() && map.stats().slab_bytes == 0);
    assert!(!model.is_empty(), "released before the map emptied");
    map.check_invariants();
    assert_same(&map, &model);
}

#[test]
fn long_scans_turn_readahead_on_and_lower_bounds_turn_it_off() {
    // The counter is per thread: a fresh thread starts with it off.
    std::thread::spawn(|| {
        let mut rng = StdRng::seed_from_u64(20);
        let mut keys: Vec<i64> = (0..20_000).map(|_| rng.r#gen::<i64>()).collect();
        keys.sort_unstable();
        keys.dedup();
        let (map, model) = keys_map(keys.iter().copied());
        let starts: Vec<i64> = (0..40).map(|_| rng.r#gen::<i64>()).collect();
        let check_scan = |start: i64, len: usize| {
            assert!(
                map.range(start..)
                    .take(len)
                    .eq(model.range(start..).take(len).map(|(k, v)| (*k, v))),
                "scan of {len} from {start}"
            );
        };
        assert!(!crate::iter::reads_ahead());
        // One long scan is not a run of them; a second is.
        check_scan(i64::MIN + 1, 500);
        assert!(!crate::iter::reads_ahead());
        check_scan(i64::MIN + 1, 500);
        assert!(crate::iter::reads_ahead());
        // Scans while reading ahead return the same entries.
        for &start in &starts {
            check_scan(start, 300);
            assert!(crate::iter::reads_ahead());
        }
        // Ranges from the first key search nothing and leave the counter alone.
        assert!(
            map.iter()
                .take(3)
                .eq(model.iter().take(3).map(|(k, v)| (*k, v)))
        );
        assert!(crate::iter::reads_ahead());
        // Lower bounds (ranges read for one key) turn it off.
        for &start in &starts[..2] {
            check_scan(start, 1);
        }
        assert!(!crate::iter::reads_ahead());
        // A range dropped unread counts as short too.
        drop(map.range(starts[0]..));
        assert!(!crate::iter::reads_ahead());
        for &start in &starts {
            check_scan(start, 1);
            check_scan(start, 120);
        }
        map.check_invariants();
    })
    .join()
    .expect("readahead test thread");
}

proptest::proptest! {
    // 256 cases by default; `PROPTEST_CASES` sets more for a soak.
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(256)
    ))]

    /// A slab-backed map (any size: the threshold is lifted) against `BTreeMap` through
    /// inserts, removes, point reads and ranges, with the slab accounting checked after
    /// every operation.
    #[test]
    fn slab_backed_map_matches_btreemap(
        initial in proptest::collection::btree_set(-5_000i64..5_000, 0..600),
        ops in proptest::collection::vec((0u8..4, -6_000i64..6_000, -6_000i64..6_000), 0..400),
    ) {
        let pairs: Vec<(i64, u64)> = initial.iter().map(|&k| (k, k as u64)).collect();
        let mut map = AlexMap::bulk_load_checked(&pairs, crate::DEFAULT_MAX_DATA_SLOTS, 0);
        let mut model: BTreeMap<i64, u64> = pairs.iter().copied().collect();
        for (kind, a, b) in ops {
            match kind {
                0 | 1 => proptest::prop_assert_eq!(map.insert(a, b as u64), model.insert(a, b as u64)),
                2 => proptest::prop_assert_eq!(map.remove(a), model.remove(&a)),
                _ => {
                    let (lo, hi) = (a.min(b), a.max(b));
                    proptest::prop_assert!(map.range(lo..hi).eq(model.range(lo..hi).map(|(k, v)| (*k, v))));
                    proptest::prop_assert_eq!(map.get(a), model.get(&a));
                }
            }
            map.check_invariants();
        }
        assert_same(&map, &model);
    }
}

/// 1,025 keys that all convert to the same `f64` (every router puts them in one slot), in a
/// map of the smallest maximum node size: the node holding them cannot split, so it grows
/// past the maximum up to `UNSEPARABLE_MAX_SLOTS`; keys outside that `f64` then make it
/// separable again, and it splits. A proptest case found the node growing past the maximum
/// (1,035 slots of 1,024) with no bound stated or checked.
#[test]
fn keys_no_router_separates_grow_one_node_past_the_maximum_and_no_further() {
    use crate::structure::{UNSEPARABLE_KEYS, UNSEPARABLE_MAX_SLOTS};
    // 3 * 2^61 has an even mantissa, and f64s are 1,024 apart there: the integers within
    // 512 of it (ties included, rounding to even) all convert to it.
    let centre: i64 = 3 << 61;
    let bucket: Vec<i64> = (-512..=512).map(|d| centre + d).collect();
    assert_eq!(bucket.len(), UNSEPARABLE_KEYS);
    assert_eq!(
        UNSEPARABLE_MAX_SLOTS,
        crate::data::capacity_for(UNSEPARABLE_KEYS + 1, 0.6)
    );
    assert!(bucket.iter().all(|&k| k as f64 == centre as f64));
    assert_ne!((centre - 513) as f64, centre as f64);
    assert_ne!((centre + 513) as f64, centre as f64);
    let mut rng = StdRng::seed_from_u64(1025);
    let mut shuffled = bucket.clone();
    for i in (1..shuffled.len()).rev() {
        shuffled.swap(i, rng.gen_range(0..=i));
    }
    let mut map = AlexMap::with_max_data_slots(1 << 10).unwrap();
    let mut model = BTreeMap::new();
    for (i, &k) in shuffled.iter().enumerate() {
        assert_eq!(map.insert(k, i as u64), model.insert(k, i as u64));
        map.check_invariants();
    }
    assert!(
        map.stats().largest_data_node_slots > 1 << 10,
        "{:?}",
        map.stats()
    );
    assert_same(&map, &model);
    // Keys on both sides, outside the bucket: the node becomes separable and splits.
    for i in 0..4000i64 {
        let k = if i % 2 == 0 {
            centre - 600 - i * 7
        } else {
            centre + 600 + i * 7
        };
        assert_eq!(map.insert(k, 7), model.insert(k, 7));
        map.check_invariants();
    }
    assert_same(&map, &model);
    assert!(map.stats().largest_data_node_slots <= UNSEPARABLE_MAX_SLOTS);
    // And back down: remove the bucket.
    for &k in &bucket {
        assert_eq!(map.remove(k), model.remove(&k));
    }
    map.check_invariants();
    assert_same(&map, &model);
}
