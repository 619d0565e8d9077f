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
