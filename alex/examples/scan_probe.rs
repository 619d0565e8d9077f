//! 100-key range scans from random start keys, `AlexMap` against `BTreeMap`, outside the
//! criterion bench: the probe behind the scan figures of docs/PERFORMANCE.md
//! ("Session 10"). Prints, per round, the forward scan (loop inlined here and in a
//! function of its own), the backward scan, the seek alone, and `BTreeMap`'s forward scan.
//!
//! `cargo run --release -p alexdb-alex --example scan_probe -- [keys]` (default 10M keys,
//! uniformly random `i64`s, bulk loaded; 200K scans per measurement, 3 rounds).

use alexdb_alex::AlexMap;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::Instant;

const SCAN_LENGTH: usize = 100;
const SCANS: usize = 200_000;

#[inline(never)]
fn scans_in_a_function(map: &AlexMap<u64>, starts: &[i64]) -> u64 {
    let mut sum = 0u64;
    for &start in starts {
        for (_, value) in map.range(start..).take(SCAN_LENGTH) {
            sum = sum.wrapping_add(*value);
        }
    }
    sum
}

fn per_scan(started: Instant) -> f64 {
    started.elapsed().as_secs_f64() * 1e9 / SCANS as f64
}

fn main() {
    let keys: usize = std::env::args()
        .nth(1)
        .map(|arg| arg.parse().expect("key count"))
        .unwrap_or(10_000_000);
    let mut rng = StdRng::seed_from_u64(3);
    let mut sorted: Vec<i64> = (0..keys).map(|_| rng.r#gen::<i64>()).collect();
    sorted.sort_unstable();
    sorted.dedup();
    let pairs: Vec<(i64, u64)> = sorted.iter().map(|&k| (k, k as u64 ^ 0x55)).collect();
    let map = AlexMap::bulk_load(&pairs).expect("sorted, distinct keys");
    let btree: BTreeMap<i64, u64> = pairs.iter().copied().collect();
    let starts: Vec<i64> = (0..SCANS).map(|_| rng.r#gen::<i64>()).collect();
    let mut sum = 0u64;
    for _ in 0..3 {
        let started = Instant::now();
        for &start in &starts {
            for (_, value) in map.range(start..).take(SCAN_LENGTH) {
                sum = sum.wrapping_add(*value);
            }
        }
        let forward = per_scan(started);
        let started = Instant::now();
        sum = sum.wrapping_add(black_box(scans_in_a_function(&map, black_box(&starts))));
        let in_function = per_scan(started);
        let started = Instant::now();
        for &start in &starts {
            for (_, value) in map.range(..start).rev().take(SCAN_LENGTH) {
                sum = sum.wrapping_add(*value);
            }
        }
        let backward = per_scan(started);
        let started = Instant::now();
        for &start in &starts {
            if let Some((_, value)) = map.range(start..).next() {
                sum = sum.wrapping_add(*value);
            }
        }
        let seek = per_scan(started);
        let started = Instant::now();
        for &start in &starts {
            for (_, value) in btree.range(start..).take(SCAN_LENGTH) {
                sum = sum.wrapping_add(*value);
            }
        }
        let btree_forward = per_scan(started);
        println!(
            "{keys} keys: AlexMap forward {forward:.0} ns (in a function {in_function:.0} ns), \
             backward {backward:.0} ns, seek {seek:.0} ns; BTreeMap forward {btree_forward:.0} ns \
             ({:.2}x)",
            btree_forward / forward
        );
    }
    black_box(sum);
}
