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
