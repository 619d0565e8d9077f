//! `FromIterator` and `Extend` behave like `BTreeMap`'s: any order, duplicates resolved
//! last-write-wins, extending a non-empty map updates and adds.
//!
//! Run: `cargo test -p alexdb-alex --release --test collect_extend`.

use std::collections::BTreeMap;

use alexdb_alex::AlexMap;
use proptest::collection::vec;
use proptest::prelude::*;

fn key() -> impl Strategy<Value = i64> {
    prop_oneof![
        2 => any::<i64>(),
        1 => prop_oneof![Just(i64::MIN), Just(i64::MAX), Just(0i64), Just(-1i64), Just(1i64)],
        2 => -200i64..200,
    ]
}

fn assert_same(alex: &AlexMap<u64>, model: &BTreeMap<i64, u64>) -> Result<(), TestCaseError> {
    alex.check_invariants();
    prop_assert_eq!(alex.len(), model.len());
    prop_assert!(
        alex.iter()
            .map(|(k, v)| (k, *v))
            .eq(model.iter().map(|(k, v)| (*k, *v)))
    );
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn collect_matches_btreemap(pairs in vec((key(), any::<u64>()), 0..2_000)) {
        let alex: AlexMap<u64> = pairs.iter().copied().collect();
        let model: BTreeMap<i64, u64> = pairs.iter().copied().collect();
        assert_same(&alex, &model)?;
    }

    #[test]
    fn extend_matches_btreemap(
        first in vec((key(), any::<u64>()), 0..1_000),
        second in vec((key(), any::<u64>()), 0..1_000),
    ) {
        let mut alex: AlexMap<u64> = first.iter().copied().collect();
        let mut model: BTreeMap<i64, u64> = first.iter().copied().collect();
        alex.extend(second.iter().copied());
        model.extend(second.iter().copied());
        assert_same(&alex, &model)?;
        alex.extend(std::iter::empty());
        assert_same(&alex, &model)?;
    }
}

#[test]
fn collect_sorted_and_reversed_large_inputs() {
    for reversed in [false, true] {
        let mut pairs: Vec<(i64, u64)> = (0..200_000i64)
            .map(|k| (k * 3 - 300_000, k as u64))
            .collect();
        if reversed {
            pairs.reverse();
        }
        let alex: AlexMap<u64> = pairs.iter().copied().collect();
        let model: BTreeMap<i64, u64> = pairs.iter().copied().collect();
        alex.check_invariants();
        assert_eq!(alex.len(), model.len());
        assert!(
            alex.iter()
                .map(|(k, v)| (k, *v))
                .eq(model.iter().map(|(k, v)| (*k, *v)))
        );
    }
}
