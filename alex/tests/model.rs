//! Model tests: `AlexMap<u64>` must give exactly the results of `BTreeMap<i64, u64>` for any
//! sequence of operations (invariant I-1), for every `i64` including `i64::MIN` and `i64::MAX`.
//!
//! Keys are drawn from a mix that stresses a learned index: the full `i64` range, the extremes
//! and their neighbours, `0`, `-1`, `1`, dense clusters around a few random centres (shared by
//! every operation of a case, so clusters really fill up), and monotone runs in both
//! directions. Every case may start from a `bulk_load`. Ranges use every bound kind, both the
//! range syntax (`a..`, `..=b`, ...) and `(Bound, Bound)` pairs, and are consumed with an
//! arbitrary interleaving of `next` and `next_back`.
//!
//! Only ranges that `BTreeMap` accepts are generated: `BTreeMap::range` panics when
//! `start > end`, or when `start == end` and both bounds are excluded, and the public contract
//! of `AlexMap::range` is to behave the same way, so those inputs are not part of the model.
//!
//! Run: `cargo test -p alexdb-alex --release --test model` (about 10-30 s in release);
//! a longer hunt: `PROPTEST_CASES=20000 cargo test -p alexdb-alex --release --test model`.

use std::collections::BTreeMap;
use std::ops::Bound;

use alexdb_alex::{AlexMap, BulkLoadError};
use proptest::collection::vec;
use proptest::prelude::*;

/// A key, resolved against the case's cluster centres when the operation runs.
#[derive(Debug, Clone, Copy)]
enum KeySpec {
    /// A literal key (full range, extremes, small values).
    Raw(i64),
    /// `centres[index % centres.len()] + offset`, saturating at the ends of `i64`.
    Cluster { index: usize, offset: i64 },
}

impl KeySpec {
    fn resolve(self, centres: &[i64]) -> i64 {
        match self {
            KeySpec::Raw(key) => key,
            KeySpec::Cluster { index, offset } => {
                centres[index % centres.len()].saturating_add(offset)
            }
        }
    }
}

fn key_spec() -> impl Strategy<Value = KeySpec> {
    prop_oneof![
        3 => any::<i64>().prop_map(KeySpec::Raw),
        1 => prop_oneof![
            Just(i64::MIN),
            Just(i64::MAX),
            Just(0i64),
            Just(-1i64),
            Just(1i64),
            Just(i64::MIN + 1),
            Just(i64::MAX - 1),
        ]
        .prop_map(KeySpec::Raw),
        1 => (i64::MIN..i64::MIN + 64).prop_map(KeySpec::Raw),
        1 => (i64::MAX - 64..=i64::MAX).prop_map(KeySpec::Raw),
        1 => (-64i64..64).prop_map(KeySpec::Raw),
        6 => (0usize..4, -300i64..300)
            .prop_map(|(index, offset)| KeySpec::Cluster { index, offset }),
    ]
}

/// Cluster centres: anywhere, including right next to the extremes.
fn centres() -> impl Strategy<Value = Vec<i64>> {
    vec(
        prop_oneof![
            3 => any::<i64>(),
            1 => Just(i64::MIN),
            1 => Just(i64::MAX),
            1 => Just(0i64),
            1 => -1_000_000i64..1_000_000,
        ],
        1..4,
    )
}

#[derive(Debug, Clone, Copy)]
enum BoundSpec {
    Unbounded,
    Included(KeySpec),
    Excluded(KeySpec),
}

fn bound_spec() -> impl Strategy<Value = BoundSpec> {
    prop_oneof![
        1 => Just(BoundSpec::Unbounded),
        2 => key_spec().prop_map(BoundSpec::Included),
        2 => key_spec().prop_map(BoundSpec::Excluded),
    ]
}

#[derive(Debug, Clone)]
enum Op {
    Insert(KeySpec, u64),
    Remove(KeySpec),
    Get(KeySpec),
    /// `get_many` over these keys (present, missing and repeated ones alike).
    GetMany(Vec<KeySpec>),
    /// `get_mut`, then (if present) adds `u64` to the value through the reference.
    GetMut(KeySpec, u64),
    ContainsKey(KeySpec),
    /// Inserts `count` keys from `start`, stepping by `step` (down if `descending`).
    Run {
        start: KeySpec,
        count: usize,
        step: i64,
        descending: bool,
        value: u64,
    },
    /// Removes up to `count` consecutive present keys from the first key `>= start`.
    RemoveRun {
        start: KeySpec,
        count: usize,
    },
    /// Consumes a range; `directions[i]` says whether step `i` is `next_back`. After the
    /// pattern runs out, the rest is drained with `next`.
    Range {
        start: BoundSpec,
        end: BoundSpec,
        directions: Vec<bool>,
    },
    FirstLast,
    Len,
    Iter,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        20 => (key_spec(), any::<u64>()).prop_map(|(k, v)| Op::Insert(k, v)),
        8 => key_spec().prop_map(Op::Remove),
        6 => key_spec().prop_map(Op::Get),
        2 => vec(key_spec(), 0..40).prop_map(Op::GetMany),
        3 => (key_spec(), any::<u64>()).prop_map(|(k, d)| Op::GetMut(k, d)),
        3 => key_spec().prop_map(Op::ContainsKey),
        2 => (key_spec(), 1usize..200, prop_oneof![Just(1i64), 1i64..1000, 1i64..(1 << 40)],
              any::<bool>(), any::<u64>())
            .prop_map(|(start, count, step, descending, value)| Op::Run {
                start, count, step, descending, value,
            }),
        1 => (key_spec(), 1usize..100).prop_map(|(start, count)| Op::RemoveRun { start, count }),
        6 => (bound_spec(), bound_spec(), vec(any::<bool>(), 0..40))
            .prop_map(|(start, end, directions)| Op::Range { start, end, directions }),
        1 => Just(Op::FirstLast),
        1 => Just(Op::Len),
        1 => Just(Op::Iter),
    ]
}

/// The initial contents of a case: nothing, or a bulk load.
fn initial_keys() -> impl Strategy<Value = Vec<KeySpec>> {
    prop_oneof![
        1 => Just(Vec::new()),
        2 => vec(key_spec(), 0..300),
    ]
}

/// The number of cases per property: `PROPTEST_CASES` when set (for long bug hunts, e.g.
/// `PROPTEST_CASES=20000`), otherwise the default that keeps this file well under a minute.
fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn value_for(key: i64) -> u64 {
    (key as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0x5555
}

fn resolve_bound(bound: BoundSpec, centres: &[i64]) -> Bound<i64> {
    match bound {
        BoundSpec::Unbounded => Bound::Unbounded,
        BoundSpec::Included(k) => Bound::Included(k.resolve(centres)),
        BoundSpec::Excluded(k) => Bound::Excluded(k.resolve(centres)),
    }
}

fn bound_key(bound: Bound<i64>) -> Option<i64> {
    match bound {
        Bound::Included(k) | Bound::Excluded(k) => Some(k),
        Bound::Unbounded => None,
    }
}

fn with_key(bound: Bound<i64>, key: i64) -> Bound<i64> {
    match bound {
        Bound::Included(_) => Bound::Included(key),
        Bound::Excluded(_) => Bound::Excluded(key),
        Bound::Unbounded => Bound::Unbounded,
    }
}

/// Turns any pair of bounds into one `BTreeMap::range` accepts: an inverted pair is swapped
/// (keeping each position's bound kind), and equal excluded bounds become `[a, a)`, which is
/// valid and empty. Inverted-but-valid pairs such as `(a, a]` and `[a, a)` are kept.
fn make_valid(start: Bound<i64>, end: Bound<i64>) -> (Bound<i64>, Bound<i64>) {
    match (bound_key(start), bound_key(end)) {
        (Some(a), Some(b)) if a > b => (with_key(start, b), with_key(end, a)),
        (Some(a), Some(b)) if a == b => match (start, end) {
            (Bound::Excluded(_), Bound::Excluded(_)) => (Bound::Included(a), Bound::Excluded(a)),
            _ => (start, end),
        },
        _ => (start, end),
    }
}

type Item<'a> = Option<(i64, &'a u64)>;

/// Drives two double-ended iterators with the same pattern and compares every step,
/// including one `next` and one `next_back` after both are exhausted.
fn compare_iters<'a, 'b, A, B>(
    mut alex: A,
    mut model: B,
    directions: &[bool],
) -> Result<(), TestCaseError>
where
    A: DoubleEndedIterator<Item = (i64, &'a u64)>,
    B: DoubleEndedIterator<Item = (&'b i64, &'b u64)>,
{
    let mut model_step = |back: bool| -> Item<'b> {
        let item = if back {
            model.next_back()
        } else {
            model.next()
        };
        item.map(|(k, v)| (*k, v))
    };
    for (step, &back) in directions.iter().enumerate() {
        let expected = model_step(back);
        let got = if back { alex.next_back() } else { alex.next() };
        prop_assert_eq!(got, expected, "step {} (next_back: {})", step, back);
    }
    // Bounded by the model's length: the model is finite.
    loop {
        let expected = model_step(false);
        let got = alex.next();
        prop_assert_eq!(got, expected, "draining with next");
        if expected.is_none() {
            break;
        }
    }
    prop_assert_eq!(alex.next_back(), None, "next_back after exhaustion");
    prop_assert_eq!(alex.next(), None, "next after exhaustion");
    Ok(())
}

/// Calls `range` with the range syntax matching the bound kinds where Rust has one, so both
/// the concrete range types and `(Bound, Bound)` are exercised.
fn check_range(
    alex: &AlexMap<u64>,
    model: &BTreeMap<i64, u64>,
    start: Bound<i64>,
    end: Bound<i64>,
    directions: &[bool],
) -> Result<(), TestCaseError> {
    use Bound::{Excluded, Included, Unbounded};
    let pair = (start, end);
    match pair {
        (Unbounded, Unbounded) => compare_iters(alex.range(..), model.range(..), directions)?,
        (Included(a), Unbounded) => compare_iters(alex.range(a..), model.range(a..), directions)?,
        (Unbounded, Excluded(b)) => compare_iters(alex.range(..b), model.range(..b), directions)?,
        (Unbounded, Included(b)) => compare_iters(alex.range(..=b), model.range(..=b), directions)?,
        (Included(a), Excluded(b)) => {
            compare_iters(alex.range(a..b), model.range(a..b), directions)?
        }
        (Included(a), Included(b)) => {
            compare_iters(alex.range(a..=b), model.range(a..=b), directions)?
        }
        _ => {}
    }
    // Every pair, also through `(Bound, Bound)`.
    compare_iters(alex.range(pair), model.range(pair), directions)
}

fn check_whole(alex: &AlexMap<u64>, model: &BTreeMap<i64, u64>) -> Result<(), TestCaseError> {
    prop_assert_eq!(alex.len(), model.len());
    prop_assert_eq!(alex.is_empty(), model.is_empty());
    prop_assert_eq!(alex.stats().keys, model.len());
    prop_assert!(
        alex.iter()
            .map(|(k, v)| (k, *v))
            .eq(model.iter().map(|(k, v)| (*k, *v)))
    );
    prop_assert!(
        alex.iter()
            .rev()
            .map(|(k, v)| (k, *v))
            .eq(model.iter().rev().map(|(k, v)| (*k, *v)))
    );
    prop_assert_eq!(
        alex.first_key_value(),
        model.first_key_value().map(|(k, v)| (*k, v))
    );
    prop_assert_eq!(
        alex.last_key_value(),
        model.last_key_value().map(|(k, v)| (*k, v))
    );
    Ok(())
}

/// Applies one operation to both maps and compares the results.
fn apply(
    alex: &mut AlexMap<u64>,
    model: &mut BTreeMap<i64, u64>,
    centres: &[i64],
    op: &Op,
) -> Result<(), TestCaseError> {
    match op {
        Op::Insert(k, v) => {
            let key = k.resolve(centres);
            prop_assert_eq!(
                alex.insert(key, *v),
                model.insert(key, *v),
                "insert {}",
                key
            );
        }
        Op::Remove(k) => {
            let key = k.resolve(centres);
            prop_assert_eq!(alex.remove(key), model.remove(&key), "remove {}", key);
        }
        Op::Get(k) => {
            let key = k.resolve(centres);
            prop_assert_eq!(alex.get(key), model.get(&key), "get {}", key);
        }
        Op::GetMany(specs) => {
            let keys: Vec<i64> = specs.iter().map(|k| k.resolve(centres)).collect();
            let mut answers = Vec::new();
            alex.get_many(&keys, |i, value| answers.push((i, value.copied())));
            let expected: Vec<(usize, Option<u64>)> = keys
                .iter()
                .enumerate()
                .map(|(i, key)| (i, model.get(key).copied()))
                .collect();
            prop_assert_eq!(answers, expected, "get_many {:?}", keys);
        }
        Op::GetMut(k, delta) => {
            let key = k.resolve(centres);
            let (ours, theirs) = (alex.get_mut(key), model.get_mut(&key));
            prop_assert_eq!(ours.is_some(), theirs.is_some(), "get_mut {}", key);
            if let (Some(ours), Some(theirs)) = (ours, theirs) {
                prop_assert_eq!(*ours, *theirs, "get_mut {}", key);
                *ours = ours.wrapping_add(*delta);
                *theirs = theirs.wrapping_add(*delta);
            }
        }
        Op::ContainsKey(k) => {
            let key = k.resolve(centres);
            prop_assert_eq!(
                alex.contains_key(key),
                model.contains_key(&key),
                "contains {}",
                key
            );
        }
        Op::Run {
            start,
            count,
            step,
            descending,
            value,
        } => {
            let mut key = start.resolve(centres);
            for i in 0..*count {
                let v = value.wrapping_add(i as u64);
                prop_assert_eq!(
                    alex.insert(key, v),
                    model.insert(key, v),
                    "run insert {}",
                    key
                );
                let next = if *descending {
                    key.checked_sub(*step)
                } else {
                    key.checked_add(*step)
                };
                match next {
                    Some(next) => key = next,
                    None => break,
                }
            }
        }
        Op::RemoveRun { start, count } => {
            let start = start.resolve(centres);
            let keys: Vec<i64> = model.range(start..).take(*count).map(|(k, _)| *k).collect();
            for key in keys {
                prop_assert_eq!(alex.remove(key), model.remove(&key), "run remove {}", key);
            }
        }
        Op::Range {
            start,
            end,
            directions,
        } => {
            let (start, end) =
                make_valid(resolve_bound(*start, centres), resolve_bound(*end, centres));
            check_range(alex, model, start, end, directions)?;
        }
        Op::FirstLast => {
            prop_assert_eq!(
                alex.first_key_value(),
                model.first_key_value().map(|(k, v)| (*k, v))
            );
            prop_assert_eq!(
                alex.last_key_value(),
                model.last_key_value().map(|(k, v)| (*k, v))
            );
        }
        Op::Len => {
            prop_assert_eq!(alex.len(), model.len());
            prop_assert_eq!(alex.is_empty(), model.is_empty());
        }
        Op::Iter => check_whole(alex, model)?,
    }
    Ok(())
}

/// The smallest maximum data node size: maps built with it split where the default ones
/// expand, so a few thousand keys already fill nodes to the maximum.
const SMALL_NODES: usize = 1 << 10;

/// ALEX's default maximum node size, or [`SMALL_NODES`].
fn max_data_slots(small_nodes: bool) -> usize {
    if small_nodes {
        SMALL_NODES
    } else {
        alexdb_alex::DEFAULT_MAX_DATA_SLOTS
    }
}

/// Builds the starting pair of maps: a bulk load of the deduplicated, sorted initial keys.
fn start(
    centres: &[i64],
    initial: &[KeySpec],
    small_nodes: bool,
) -> Result<(AlexMap<u64>, BTreeMap<i64, u64>), TestCaseError> {
    let model: BTreeMap<i64, u64> = initial
        .iter()
        .map(|k| {
            let key = k.resolve(centres);
            (key, value_for(key))
        })
        .collect();
    let sorted: Vec<(i64, u64)> = model.iter().map(|(k, v)| (*k, *v)).collect();
    let alex = AlexMap::bulk_load_with_max_data_slots(&sorted, max_data_slots(small_nodes));
    prop_assert!(
        alex.is_ok(),
        "bulk_load of sorted unique keys failed: {:?}",
        alex.err()
    );
    let alex = alex.expect("checked just above");
    alex.check_invariants();
    check_whole(&alex, &model)?;
    Ok((alex, model))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(256), ..ProptestConfig::default() })]

    /// Small cases; the structure's own invariants are checked after every operation.
    #[test]
    fn small_sequences_match_btreemap_with_invariants_after_every_op(
        centres in centres(),
        initial in initial_keys(),
        ops in vec(op(), 1..120),
        small_nodes in any::<bool>(),
    ) {
        let (mut alex, mut model) = start(&centres, &initial, small_nodes)?;
        for op in &ops {
            apply(&mut alex, &mut model, &centres, op)?;
            alex.check_invariants();
        }
        check_whole(&alex, &model)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(48), ..ProptestConfig::default() })]

    /// Longer cases that grow maps to thousands of keys (node splits, expansions, root
    /// growth); invariants are checked every 64 operations and at the end.
    #[test]
    fn long_sequences_match_btreemap(
        centres in centres(),
        initial in initial_keys(),
        ops in vec(op(), 500..2500),
        small_nodes in any::<bool>(),
    ) {
        let (mut alex, mut model) = start(&centres, &initial, small_nodes)?;
        for (i, op) in ops.iter().enumerate() {
            apply(&mut alex, &mut model, &centres, op)?;
            if i % 64 == 0 {
                alex.check_invariants();
            }
        }
        alex.check_invariants();
        check_whole(&alex, &model)?;
    }

    /// A large bulk load (dense clusters plus scattered keys), then mutations.
    #[test]
    fn large_bulk_load_then_ops_match_btreemap(
        centres in centres(),
        cluster_sizes in vec(1usize..20_000, 1..4),
        scattered in vec(any::<i64>(), 0..5_000),
        ops in vec(op(), 200..1000),
        small_nodes in any::<bool>(),
    ) {
        let mut model = BTreeMap::new();
        for (index, size) in cluster_sizes.iter().enumerate() {
            let centre = centres[index % centres.len()];
            for offset in 0..*size as i64 {
                let key = centre.saturating_add(offset * 3);
                model.insert(key, value_for(key));
            }
        }
        for key in scattered {
            model.insert(key, value_for(key));
        }
        let sorted: Vec<(i64, u64)> = model.iter().map(|(k, v)| (*k, *v)).collect();
        let alex = AlexMap::bulk_load_with_max_data_slots(&sorted, max_data_slots(small_nodes));
        prop_assert!(alex.is_ok());
        let mut alex = alex.expect("checked just above");
        alex.check_invariants();
        check_whole(&alex, &model)?;
        for op in &ops {
            apply(&mut alex, &mut model, &centres, op)?;
        }
        alex.check_invariants();
        check_whole(&alex, &model)?;
    }

    /// Random point lookups, hits and misses, after a bulk load.
    #[test]
    fn gets_after_bulk_load_match_btreemap(
        mut keys in vec(any::<i64>(), 0..3_000),
        probes in vec(any::<i64>(), 0..500),
    ) {
        keys.sort_unstable();
        keys.dedup();
        let sorted: Vec<(i64, u64)> = keys.iter().map(|&k| (k, value_for(k))).collect();
        let alex = AlexMap::bulk_load(&sorted).expect("sorted unique keys");
        for &key in keys.iter().step_by(7).chain(probes.iter()) {
            let expected = keys.binary_search(&key).ok().map(|_| value_for(key));
            prop_assert_eq!(alex.get(key).copied(), expected, "get {}", key);
            prop_assert_eq!(alex.contains_key(key), expected.is_some());
        }
    }

    /// `bulk_load` rejects any input that is not strictly increasing and names the first
    /// offending position.
    #[test]
    fn bulk_load_rejects_unsorted_or_duplicate_input(
        mut keys in vec(any::<i64>(), 2..500),
        position in any::<prop::sample::Index>(),
        duplicate in any::<bool>(),
    ) {
        keys.sort_unstable();
        keys.dedup();
        prop_assume!(keys.len() >= 2);
        let at = 1 + position.index(keys.len() - 1);
        if duplicate {
            keys[at] = keys[at - 1];
        } else {
            keys.swap(at - 1, at);
        }
        let pairs: Vec<(i64, u64)> = keys.iter().map(|&k| (k, 1)).collect();
        match AlexMap::bulk_load(&pairs) {
            Err(BulkLoadError::NotStrictlyIncreasing { index, previous, key }) => {
                prop_assert_eq!(index, at);
                prop_assert_eq!(previous, keys[at - 1]);
                prop_assert_eq!(key, keys[at]);
            }
            other => prop_assert!(false, "expected NotStrictlyIncreasing, got {:?}", other.map(|m| m.len())),
        }
    }
}

#[test]
fn bulk_load_errors_on_duplicates_and_descending_pairs() {
    let duplicate = [(1i64, 0u64), (5, 0), (5, 0), (9, 0)];
    assert_eq!(
        AlexMap::bulk_load(&duplicate).err(),
        Some(BulkLoadError::NotStrictlyIncreasing {
            index: 2,
            previous: 5,
            key: 5
        })
    );
    let descending = [(i64::MAX, 0u64), (i64::MIN, 0)];
    assert_eq!(
        AlexMap::bulk_load(&descending).err(),
        Some(BulkLoadError::NotStrictlyIncreasing {
            index: 1,
            previous: i64::MAX,
            key: i64::MIN
        })
    );
    let extremes_twice = [(i64::MIN, 0u64), (i64::MIN, 1)];
    assert!(AlexMap::bulk_load(&extremes_twice).is_err());
    let message = AlexMap::bulk_load(&duplicate)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(message.contains("index 2"), "message: {message}");
}

/// The inverted-but-valid and empty ranges `BTreeMap` accepts, on a map that holds the
/// bounds themselves.
#[test]
fn empty_and_degenerate_ranges_match_btreemap() {
    use Bound::{Excluded, Included, Unbounded};
    let keys = [i64::MIN, -1, 0, 1, 5, 6, i64::MAX];
    let model: BTreeMap<i64, u64> = keys.iter().map(|&k| (k, value_for(k))).collect();
    let alex: AlexMap<u64> = {
        let mut map = AlexMap::new();
        for &k in &keys {
            map.insert(k, value_for(k));
        }
        map
    };
    let collect_alex =
        |r: (Bound<i64>, Bound<i64>)| -> Vec<i64> { alex.range(r).map(|(k, _)| k).collect() };
    let collect_model =
        |r: (Bound<i64>, Bound<i64>)| -> Vec<i64> { model.range(r).map(|(k, _)| *k).collect() };
    for &a in &keys {
        for &b in &keys {
            if a > b {
                continue;
            }
            let mut pairs = vec![
                (Included(a), Included(b)),
                (Included(a), Excluded(b)),
                (Excluded(a), Included(b)),
                (Unbounded, Included(b)),
                (Unbounded, Excluded(b)),
                (Included(a), Unbounded),
                (Excluded(a), Unbounded),
            ];
            if a != b {
                pairs.push((Excluded(a), Excluded(b)));
            }
            for pair in pairs {
                assert_eq!(collect_alex(pair), collect_model(pair), "range {pair:?}");
                let rev_alex: Vec<i64> = alex.range(pair).rev().map(|(k, _)| k).collect();
                let rev_model: Vec<i64> = model.range(pair).rev().map(|(k, _)| *k).collect();
                assert_eq!(rev_alex, rev_model, "reversed range {pair:?}");
            }
        }
    }
    assert_eq!(alex.range(5..5).count(), 0);
    assert_eq!(
        alex.range(5..6).map(|(k, _)| k).collect::<Vec<_>>(),
        vec![5]
    );
    assert_eq!(alex.range((Excluded(5), Excluded(6))).count(), 0);
    assert_eq!(alex.range((Excluded(5), Included(5))).count(), 0);
    assert_eq!(alex.range(..i64::MIN).count(), 0);
    assert_eq!(alex.range((Excluded(i64::MAX), Unbounded)).count(), 0);
    assert_eq!(alex.range(i64::MIN..=i64::MAX).count(), keys.len());
    assert_eq!(
        alex.range(..=i64::MAX).next_back().map(|(k, _)| k),
        Some(i64::MAX)
    );
    let empty = AlexMap::<u64>::new();
    assert_eq!(empty.range(..).next(), None);
    assert_eq!(empty.range(..).next_back(), None);
    assert_eq!(empty.range(3..=3).next(), None);
}

#[test]
fn default_debug_and_clone() {
    let empty: AlexMap<u64> = AlexMap::default();
    assert!(empty.is_empty());
    assert_eq!(empty.len(), 0);
    assert_eq!(empty.first_key_value(), None);
    assert_eq!(empty.last_key_value(), None);
    assert_eq!(
        format!("{empty:?}"),
        format!("{:?}", BTreeMap::<i64, u64>::new())
    );
    empty.check_invariants();

    let mut original = AlexMap::new();
    let mut model = BTreeMap::new();
    for key in [i64::MIN, -7, 0, 3, i64::MAX] {
        original.insert(key, value_for(key));
        model.insert(key, value_for(key));
    }
    assert_eq!(format!("{original:?}"), format!("{model:?}"));

    let mut big = AlexMap::new();
    for key in 0..10_000i64 {
        big.insert(key * 1_000_003, key as u64);
    }
    let snapshot = big.clone();
    for key in 0..5_000i64 {
        big.remove(key * 1_000_003);
        big.insert(-key, 0);
    }
    big.check_invariants();
    snapshot.check_invariants();
    assert_eq!(snapshot.len(), 10_000);
    assert!(
        snapshot
            .iter()
            .map(|(k, v)| (k, *v))
            .eq((0..10_000i64).map(|k| (k * 1_000_003, k as u64)))
    );
    assert_eq!(big.len(), 10_000);
}
