//! The index bench's insert workload outside criterion, for profiling: bulk load half of
//! N uniformly random keys, then insert the other half one by one (random order), timed,
//! with the node statistics after. `BTreeMap` does the same in the same process.
//!
//! `INSERT_PROBE_FROM_EMPTY=1` inserts all N keys into an empty map instead, then times
//! 1M lookups of inserted keys (the shape the storage engine's single inserts build).
//! `INSERT_PROBE_BTREE=0` skips `BTreeMap`. `INSERT_PROBE_TAIL=1` times every insert
//! and prints the slowest and how many took over 100 µs and 1 ms (the clock reads add
//! to the total). `INSERT_PROBE_MAX_SLOTS=131072` builds the map with that maximum data
//! node size instead of ALEX's 2^20 slots.
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
    let from_empty = std::env::var("INSERT_PROBE_FROM_EMPTY").as_deref() == Ok("1");
    let inserted = pairs.split_off(if from_empty { 0 } else { pairs.len() / 2 });
    pairs.sort_unstable();
    let lookups: Vec<i64> = (0..1_000_000)
        .map(|_| inserted[rng.gen_range(0..inserted.len())].0)
        .collect();
    let skip_btree = std::env::var("INSERT_PROBE_BTREE").as_deref() == Ok("0");
    for round in 0..2 {
        let max_slots = std::env::var("INSERT_PROBE_MAX_SLOTS")
            .ok()
            .map_or(alexdb_alex::DEFAULT_MAX_DATA_SLOTS, |v| {
                v.parse().expect("INSERT_PROBE_MAX_SLOTS: a slot count")
            });
        let rss_before = rss_bytes();
        let mut alex = AlexMap::bulk_load_with_max_data_slots(&pairs, max_slots)
            .expect("sorted, distinct keys and a valid maximum");
        let tail = std::env::var("INSERT_PROBE_TAIL").as_deref() == Ok("1");
        let (mut slowest, mut over_100us, mut over_1ms) = (0f64, 0usize, 0usize);
        let started = Instant::now();
        for &(key, value) in &inserted {
            if tail {
                let one = Instant::now();
                alex.insert(key, value);
                let took = one.elapsed().as_secs_f64();
                slowest = slowest.max(took);
                over_100us += usize::from(took > 100e-6);
                over_1ms += usize::from(took > 1e-3);
            } else {
                alex.insert(key, value);
            }
        }
        let alex_s = started.elapsed().as_secs_f64();
        let rss_grown = rss_bytes().saturating_sub(rss_before);
        if tail {
            println!(
                "round {round}: slowest insert {:.2} ms; {over_100us} over 100 us, {over_1ms} over 1 ms",
                slowest * 1e3
            );
        }
        let stats = alex.stats();
        let started = Instant::now();
        let mut found = 0u64;
        for &key in &lookups {
            found += alex.get(key).copied().unwrap_or(0) & 1;
        }
        let lookup_ns = started.elapsed().as_secs_f64() * 1e9 / lookups.len() as f64;
        std::hint::black_box(found);
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
            "round {round}: {} inserts into {} keys: alex {:.3} s ({:.0} ns/insert), btreemap {:.3} s ({:.2}x); expansions {}, sideways splits {}, downward splits {}, data nodes {}, depth {}; {:.1} B/key ({:.1} B/key resident since the load), slab {} MiB, {} slab releases; then lookups {lookup_ns:.0} ns",
            inserted.len(),
            pairs.len(),
            alex_s,
            alex_s * 1e9 / inserted.len() as f64,
            btree_s,
            btree_s / alex_s,
            stats.expansions,
            stats.sideways_splits,
            stats.downward_splits,
            stats.data_nodes,
            stats.depth,
            stats.heap_bytes as f64 / stats.keys as f64,
            rss_grown as f64 / stats.keys as f64,
            stats.slab_bytes >> 20,
            stats.slab_releases
        );
    }
}

/// Resident set size of this process (0 where `/proc` is not there).
fn rss_bytes() -> usize {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|statm| statm.split_whitespace().nth(1)?.parse::<usize>().ok())
        .map_or(0, |pages| pages * 4096)
}
