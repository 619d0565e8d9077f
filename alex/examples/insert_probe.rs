//! The index bench's insert workload outside criterion, for profiling: bulk load half of
//! N uniformly random keys, then insert the other half one by one (random order), timed,
//! with the node statistics after. `BTreeMap` does the same in the same process.
//!
//! `cargo run --release -p alexdb-alex --example insert_probe -- [keys]` (default 10M).

use alexdb_alex::AlexMap;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use std::collections::BTreeMap;
use std::time::Instant;

fn main() {
    let keys: usize = std::env::args()
        .nth(1)
        .map(|arg| arg.parse().expect("key count"))
        .unwrap_or(10_000_000);
    let mut rng = StdRng::seed_from_u64(11);
    let mut pairs: Vec<(i64, u64)> = (0..keys).map(|i| (rng.r#gen::<i64>(), i as u64)).collect();
    pairs.sort_unstable();
    pairs.dedup_by_key(|p| p.0);
    pairs.shuffle(&mut rng);
    let inserted = pairs.split_off(pairs.len() / 2);
    pairs.sort_unstable();
    let skip_btree = std::env::var("INSERT_PROBE_BTREE").as_deref() == Ok("0");
    for round in 0..2 {
        let mut alex = AlexMap::bulk_load(&pairs).expect("sorted, distinct keys");
        let started = Instant::now();
        for &(key, value) in &inserted {
            alex.insert(key, value);
        }
        let alex_s = started.elapsed().as_secs_f64();
        let stats = alex.stats();
        drop(alex);
        let btree_s = if skip_btree {
            f64::NAN
        } else {
            let mut btree: BTreeMap<i64, u64> = pairs.iter().copied().collect();
            let started = Instant::now();
            for &(key, value) in &inserted {
                btree.insert(key, value);
            }
            started.elapsed().as_secs_f64()
        };
        println!(
            "round {round}: {} inserts into {} keys: alex {:.3} s ({:.0} ns/insert), btreemap {:.3} s ({:.2}x); expansions {}, sideways splits {}, downward splits {}, data nodes {}",
            inserted.len(),
            pairs.len(),
            alex_s,
            alex_s * 1e9 / inserted.len() as f64,
            btree_s,
            btree_s / alex_s,
            stats.expansions,
            stats.sideways_splits,
            stats.downward_splits,
            stats.data_nodes
        );
    }
}
