//! Black-box structural tests: the extreme keys (no sentinel may collide with a real key),
//! bulk loads of 0, 1, 2 and 10M keys, index memory per key after a large bulk load, and
//! workloads that drive the structure through growth on both sides, expansion, splits,
//! contraction and emptying, checked against the expected contents.
//!
//! Run: `cargo test -p alexdb-alex --release --test edge_keys`. The 10M-key test runs in
//! release builds only (it would take minutes in a debug build).

use std::collections::BTreeMap;
use std::ops::Bound;

use alexdb_alex::AlexMap;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

const EXTREMES: [i64; 7] = [i64::MIN, i64::MIN + 1, -1, 0, 1, i64::MAX - 1, i64::MAX];

fn assert_matches(map: &AlexMap<u64>, model: &BTreeMap<i64, u64>) {
    map.check_invariants();
    assert_eq!(map.len(), model.len());
    assert_eq!(map.is_empty(), model.is_empty());
    assert_eq!(map.stats().keys, model.len());
    assert!(
        map.iter()
            .map(|(k, v)| (k, *v))
            .eq(model.iter().map(|(k, v)| (*k, *v)))
    );
    assert!(
        map.iter()
            .rev()
            .map(|(k, v)| (k, *v))
            .eq(model.iter().rev().map(|(k, v)| (*k, *v)))
    );
    assert_eq!(
        map.first_key_value(),
        model.first_key_value().map(|(k, v)| (*k, v))
    );
    assert_eq!(
        map.last_key_value(),
        model.last_key_value().map(|(k, v)| (*k, v))
    );
    for (&key, value) in model {
        assert_eq!(map.get(key), Some(value), "get {key}");
    }
}

/// Each extreme key alone, in an otherwise empty map: a sentinel that equals it would show
/// up as a wrong `get`, a wrong length or a phantom during iteration.
#[test]
fn each_extreme_key_alone() {
    for &key in &EXTREMES {
        let mut map = AlexMap::new();
        for &other in &EXTREMES {
            assert_eq!(map.get(other), None, "phantom {other} in an empty map");
        }
        assert_eq!(map.insert(key, 5), None);
        assert_eq!(map.insert(key, 6), Some(5));
        let model = BTreeMap::from([(key, 6)]);
        assert_matches(&map, &model);
        for &other in &EXTREMES {
            if other != key {
                assert_eq!(map.get(other), None, "phantom {other} beside {key}");
                assert!(!map.contains_key(other));
                assert_eq!(map.remove(other), None);
            }
        }
        assert_eq!(
            map.range(key..=key).map(|(k, _)| k).collect::<Vec<_>>(),
            vec![key]
        );
        assert_eq!(
            map.range((Bound::Excluded(key), Bound::Unbounded)).count(),
            0
        );
        assert_eq!(map.range(..key).count(), 0);
        assert_eq!(map.remove(key), Some(6));
        assert_matches(&map, &BTreeMap::new());
        assert_eq!(map.remove(key), None);
    }
}

#[test]
fn extremes_through_bulk_load_and_inserts_in_every_order() {
    let pairs: Vec<(i64, u64)> = EXTREMES.iter().map(|&k| (k, k as u64)).collect();
    let model: BTreeMap<i64, u64> = pairs.iter().copied().collect();
    let loaded = AlexMap::bulk_load(&pairs).expect("EXTREMES is strictly increasing");
    assert_matches(&loaded, &model);
    assert_eq!(
        loaded
            .range(..=i64::MIN)
            .map(|(k, _)| k)
            .collect::<Vec<_>>(),
        vec![i64::MIN]
    );
    assert_eq!(
        loaded.range(i64::MAX..).map(|(k, _)| k).collect::<Vec<_>>(),
        vec![i64::MAX]
    );
    assert_eq!(loaded.range(-1..=1).count(), 3);

    let mut rng = StdRng::seed_from_u64(1);
    for _ in 0..50 {
        let mut order = EXTREMES.to_vec();
        order.shuffle(&mut rng);
        let mut map = AlexMap::new();
        for &key in &order {
            map.insert(key, key as u64);
        }
        assert_matches(&map, &model);
        order.shuffle(&mut rng);
        let mut remaining = model.clone();
        for &key in &order {
            assert_eq!(map.remove(key), remaining.remove(&key));
            assert_matches(&map, &remaining);
        }
    }
}

/// Bulk loads of 0, 1 and 2 keys, then growth from each.
#[test]
fn bulk_load_of_zero_one_and_two_keys() {
    let empty = AlexMap::<u64>::bulk_load(&[]).expect("empty input is sorted");
    assert_matches(&empty, &BTreeMap::new());
    assert_eq!(empty.iter().next_back(), None);

    for input in [
        vec![(0i64, 1u64)],
        vec![(i64::MIN, 1)],
        vec![(i64::MAX, 1)],
        vec![(3, 1), (4, 2)],
        vec![(i64::MIN, 1), (i64::MAX, 2)],
        vec![(-1, 1), (0, 2)],
        vec![(i64::MAX - 1, 1), (i64::MAX, 2)],
    ] {
        let mut map = AlexMap::bulk_load(&input).expect("inputs are strictly increasing");
        let mut model: BTreeMap<i64, u64> = input.iter().copied().collect();
        assert_matches(&map, &model);
        // Grow from the tiny load in both directions and in between.
        let mut rng = StdRng::seed_from_u64(input.len() as u64);
        for i in 0..5_000u64 {
            let key = match i % 3 {
                0 => rng.r#gen::<i64>(),
                1 => rng.gen_range(-1_000i64..1_000),
                _ => input[0].0.saturating_add(rng.gen_range(-50..50)),
            };
            assert_eq!(map.insert(key, i), model.insert(key, i));
        }
        assert_matches(&map, &model);
    }
}

/// Bulk load of 10M keys uniform over the full `i64` range with `u64` payloads: contents by
/// sampling, `len`, `stats().keys`, and at most 24 heap bytes per key (issue 2's target).
#[cfg(not(debug_assertions))]
#[test]
fn bulk_load_of_ten_million_keys() {
    const COUNT: usize = 10_000_000;
    let mut rng = StdRng::seed_from_u64(10);
    let mut keys: Vec<i64> = (0..COUNT + COUNT / 100).map(|_| rng.r#gen()).collect();
    keys.sort_unstable();
    keys.dedup();
    keys.truncate(COUNT);
    assert_eq!(
        keys.len(),
        COUNT,
        "2^64 is large enough that 1% spare covers duplicates"
    );
    let pairs: Vec<(i64, u64)> = keys.iter().map(|&k| (k, !(k as u64))).collect();
    let map = AlexMap::bulk_load(&pairs).expect("sorted, deduplicated keys");
    drop(pairs);
    let stats = map.stats();
    assert_eq!(map.len(), COUNT);
    assert_eq!(stats.keys, COUNT);
    let bytes_per_key = stats.heap_bytes as f64 / COUNT as f64;
    println!("10M bulk load: {stats:?}, {bytes_per_key:.2} heap bytes/key");
    assert!(
        stats.heap_bytes <= 24 * COUNT,
        "{bytes_per_key:.2} heap bytes per key after a bulk load of 10M u64 payloads (> 24)"
    );
    // A real index holds at least the keys and payloads; 0 means "not reported".
    assert!(
        stats.heap_bytes == 0 || stats.heap_bytes >= 16 * COUNT,
        "heap_bytes {} under-reports: 10M keys and u64 payloads need at least 160 MB",
        stats.heap_bytes
    );
    for &key in keys.iter().step_by(997) {
        assert_eq!(map.get(key), Some(&!(key as u64)), "get {key}");
    }
    for _ in 0..100_000 {
        let probe: i64 = rng.r#gen();
        assert_eq!(map.contains_key(probe), keys.binary_search(&probe).is_ok());
    }
    assert_eq!(map.first_key_value().map(|(k, _)| k), keys.first().copied());
    assert_eq!(map.last_key_value().map(|(k, _)| k), keys.last().copied());
    let start = keys[COUNT / 2];
    assert!(
        map.range(start..)
            .take(1_000)
            .map(|(k, _)| k)
            .eq(keys[COUNT / 2..COUNT / 2 + 1_000].iter().copied())
    );
    assert!(map.iter().map(|(k, _)| k).eq(keys.iter().copied()));
}

/// Growth far outside the loaded domain on both sides, alternating, with increasing
/// distance: the root must grow left and right.
#[test]
fn root_growth_on_both_sides() {
    let pairs: Vec<(i64, u64)> = (0..10_000i64).map(|k| (k * 10, 0)).collect();
    let mut map = AlexMap::bulk_load(&pairs).expect("strictly increasing");
    let mut model: BTreeMap<i64, u64> = pairs.iter().copied().collect();
    let mut distance = 100_000i64;
    let mut step = 0u64;
    while let Some(next) = distance.checked_mul(3) {
        for offset in 0..50 {
            for key in [100_000 + distance + offset, -distance - offset] {
                step += 1;
                assert_eq!(map.insert(key, step), model.insert(key, step));
            }
        }
        map.check_invariants();
        distance = next;
    }
    for key in [i64::MIN, i64::MAX] {
        assert_eq!(map.insert(key, 1), model.insert(key, 1));
    }
    assert_matches(&map, &model);
    // The keys left and right of the loaded domain must have grown the tree on both sides.
    let stats = map.stats();
    assert!(
        stats.domain_growths_left + stats.root_growths_left > 0,
        "no growth on the left: {stats:?}"
    );
    assert!(
        stats.domain_growths_right + stats.root_growths_right > 0,
        "no growth on the right: {stats:?}"
    );
}

/// Random growth from empty to 200K keys in clustered and uniform regions, then removal of
/// everything in random order (contraction and emptying of nodes), then regrowth.
#[test]
fn grow_shrink_to_empty_and_regrow() {
    let mut rng = StdRng::seed_from_u64(2);
    let mut map = AlexMap::new();
    let mut model = BTreeMap::new();
    let centres: Vec<i64> = (0..8).map(|_| rng.r#gen()).collect();
    for i in 0..200_000u64 {
        let key = if i % 2 == 0 {
            rng.r#gen::<i64>()
        } else {
            centres[rng.gen_range(0..centres.len())].saturating_add(rng.gen_range(0..50_000))
        };
        assert_eq!(map.insert(key, i), model.insert(key, i));
        if i % 20_000 == 0 {
            map.check_invariants();
        }
    }
    assert_matches(&map, &model);
    let grown = map.stats();
    assert!(
        grown.expansions + grown.sideways_splits + grown.downward_splits > 0,
        "200K inserts into an empty map neither expanded nor split a node: {grown:?}"
    );
    let mut keys: Vec<i64> = model.keys().copied().collect();
    keys.shuffle(&mut rng);
    for (i, &key) in keys.iter().enumerate() {
        assert_eq!(map.remove(key), model.remove(&key));
        if i % 20_000 == 0 {
            map.check_invariants();
            assert_eq!(map.len(), model.len());
        }
    }
    assert_matches(&map, &model);
    assert!(map.is_empty());
    let stats = map.stats();
    assert!(
        stats.contractions + stats.merges + stats.collapses
            > grown.contractions + grown.merges + grown.collapses,
        "removing 200K keys neither contracted nor merged a node: {stats:?}"
    );
    assert!(
        stats.heap_bytes <= 1 << 20,
        "an emptied map holds {} heap bytes (> 1 MiB): {stats:?}",
        stats.heap_bytes
    );
    for &key in keys.iter().take(50_000) {
        assert_eq!(map.insert(key, 1), model.insert(key, 1));
    }
    assert_matches(&map, &model);
}

/// Removing a contiguous half of a bulk-loaded map (whole nodes become empty) and then
/// reading across the hole in both directions.
#[test]
fn remove_a_contiguous_half_then_scan_across_the_hole() {
    let pairs: Vec<(i64, u64)> = (0..100_000i64)
        .map(|k| (k * 7 - 350_000, k as u64))
        .collect();
    let mut map = AlexMap::bulk_load(&pairs).expect("strictly increasing");
    let mut model: BTreeMap<i64, u64> = pairs.iter().copied().collect();
    for &(key, _) in &pairs[25_000..75_000] {
        assert_eq!(map.remove(key), model.remove(&key));
    }
    assert_matches(&map, &model);
    let hole_start = pairs[24_990].0;
    assert!(
        map.range(hole_start..)
            .take(20)
            .map(|(k, _)| k)
            .eq(model.range(hole_start..).take(20).map(|(k, _)| *k))
    );
    let hole_end = pairs[75_010].0;
    assert!(
        map.range(..hole_end)
            .rev()
            .take(20)
            .map(|(k, _)| k)
            .eq(model.range(..hole_end).rev().take(20).map(|(k, _)| *k))
    );
    let stats = map.stats();
    assert!(stats.heap_bytes <= 64 * map.len().max(1 << 14), "{stats:?}");
}

/// An item of a range, as an owned pair.
type Item = Option<(i64, u64)>;

/// One step of both iterators from the same end (`back`: `next_back`), as owned pairs.
fn step_both(
    ours: &mut alexdb_alex::Range<'_, u64>,
    theirs: &mut std::collections::btree_map::Range<'_, i64, u64>,
    back: bool,
) -> (Item, Item) {
    let (a, b) = if back {
        (ours.next_back(), theirs.next_back())
    } else {
        (ours.next(), theirs.next())
    };
    (a.map(|(k, v)| (k, *v)), b.map(|(k, v)| (*k, *v)))
}

/// Both ends of one range, driven in every order of `next` and `next_back` (up to eight
/// steps), over maps that hold the extreme keys, and over ranges that start or end on
/// them: the two ends must meet without yielding a key twice or skipping one. The front
/// records only its last key and the back takes that in as it is called, so this is where
/// an off-by-one at `i64::MIN` or `i64::MAX` would show.
#[test]
fn both_ends_meet_at_the_extremes() {
    let sets: [&[i64]; 4] = [
        &EXTREMES,
        &[i64::MIN, i64::MAX],
        &[i64::MAX],
        &[i64::MIN, -5, 0, 5, 10, 20, i64::MAX],
    ];
    let bounds = [
        (Bound::Unbounded, Bound::Unbounded),
        (Bound::Included(i64::MIN), Bound::Included(i64::MAX)),
        (Bound::Excluded(i64::MIN), Bound::Excluded(i64::MAX)),
        (Bound::Included(-1), Bound::Included(i64::MAX)),
        (Bound::Included(i64::MIN), Bound::Excluded(0)),
        (Bound::Excluded(-1), Bound::Unbounded),
    ];
    for keys in sets {
        let model: BTreeMap<i64, u64> = keys.iter().map(|&k| (k, k as u64 ^ 7)).collect();
        let pairs: Vec<(i64, u64)> = model.iter().map(|(k, v)| (*k, *v)).collect();
        let map = AlexMap::bulk_load(&pairs).unwrap();
        for &range in &bounds {
            for steps in 1..=8u32 {
                for pattern in 0..1u32 << steps {
                    let mut ours = map.range(range);
                    let mut theirs = model.range(range);
                    for step in 0..steps {
                        let (a, b) = step_both(&mut ours, &mut theirs, pattern >> step & 1 == 1);
                        assert_eq!(
                            a, b,
                            "keys {keys:?}, range {range:?}, pattern {pattern:#b}, step {step}"
                        );
                    }
                }
            }
        }
    }
}

/// Long runs from each end in turn, over a map of many leaves. Each end yields without
/// checking its bound once it has yielded twice and the other end has not yielded; that
/// must stop as soon as the other end starts, so no run may yield a key the other end
/// already gave, and the two must meet exactly.
#[test]
fn long_runs_from_both_ends_meet_exactly() {
    let mut rng = StdRng::seed_from_u64(21);
    let mut keys: Vec<i64> = (0..200_000).map(|_| rng.r#gen::<i64>()).collect();
    keys.extend([i64::MIN, i64::MAX]);
    keys.sort_unstable();
    keys.dedup();
    let pairs: Vec<(i64, u64)> = keys.iter().map(|&k| (k, k as u64 ^ 9)).collect();
    let model: BTreeMap<i64, u64> = pairs.iter().copied().collect();
    let map = AlexMap::bulk_load(&pairs).unwrap();
    assert!(map.stats().data_nodes > 8, "{:?}", map.stats());
    let inner = (keys[1000], keys[keys.len() - 1000]);
    let ranges = [
        (Bound::Unbounded, Bound::Unbounded),
        (Bound::Included(inner.0), Bound::Excluded(inner.1)),
        (Bound::Excluded(inner.0), Bound::Included(inner.1)),
    ];
    let runs: [&[usize]; 5] = [
        &[1, 1, 1, 1],
        &[2, 2, 2, 2, 2, 2],
        &[3, 150, 1, 150, 2],
        &[50_000, 50_000, 40_000, 70_000],
        &[150, 1, 150, 1, 30_000, 3],
    ];
    for range in ranges {
        for pattern in runs {
            for first_back in [false, true] {
                let mut ours = map.range(range);
                let mut theirs = model.range(range);
                let mut back = first_back;
                // The runs, then drained from the other end; then both ends must be empty.
                for &run in pattern.iter().chain([&usize::MAX]) {
                    for step in 0..run {
                        let (a, b) = step_both(&mut ours, &mut theirs, back);
                        assert_eq!(
                            a,
                            b,
                            "range {range:?}, runs {pattern:?}, back first {first_back}, \
                             step {step} of a run of {run} from the {} end",
                            if back { "back" } else { "front" }
                        );
                        if a.is_none() {
                            break;
                        }
                    }
                    back = !back;
                }
                assert_eq!(ours.next(), None);
                assert_eq!(ours.next_back(), None);
            }
        }
    }
}
