//! The metering's cost on a single-threaded `get_with`, from paired passes: 40 passes of
//! 250K lookups alternate between the metered `get_with` and the same read through
//! `with_storage` (same lock, no metrics), and the median of the 40 paired ratios is
//! reported next to the best-of figure the scaling bench uses (docs/PERFORMANCE.md,
//! "Session 10").
//!
//! `cargo run --release -p alexdb-concurrent --example metering_pairs -- [pairs]`
//! (1M random keys, 100-byte values, loaded in batches of 100 under `Config::benchmark()`,
//! in a temporary directory).

use alexdb_concurrent::ConcurrentAlexStorage;
use alexdb_engine::Config;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::hint::black_box;
use std::time::Instant;

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let pairs: usize = std::env::args()
        .nth(1)
        .map(|arg| arg.parse().expect("pair count"))
        .unwrap_or(40)
        .max(1);
    let dir = tempfile::tempdir()?;
    let store = ConcurrentAlexStorage::open_with(dir.path(), Config::benchmark())?;
    let mut rng = StdRng::seed_from_u64(7);
    let keys: Vec<i64> = (0..1_000_000).map(|_| rng.r#gen::<i64>()).collect();
    let value = [7u8; 100];
    for chunk in keys.chunks(100) {
        let entries: Vec<(i64, &[u8])> = chunk.iter().map(|&k| (k, &value[..])).collect();
        store.insert_batch(&entries)?;
    }
    let lookups: Vec<i64> = (0..250_000)
        .map(|_| keys[rng.gen_range(0..keys.len())])
        .collect();
    let metered = |key: i64| {
        store
            .get_with(key, |v| usize::from(v[0]) + v.len())
            .expect("get_with")
            .unwrap_or(0)
    };
    let unmetered = |key: i64| {
        store.with_storage(|s| {
            s.get(key)
                .expect("get")
                .map_or(0, |v| usize::from(v[0]) + v.len())
        })
    };
    let pass = |read: &dyn Fn(i64) -> usize| {
        let started = Instant::now();
        let mut sum = 0;
        for &key in &lookups {
            sum += read(black_box(key));
        }
        black_box(sum);
        started.elapsed().as_nanos() as f64 / lookups.len() as f64
    };
    pass(&metered);
    pass(&unmetered);
    let (mut with, mut without, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..pairs {
        let (m, u) = if i % 2 == 0 {
            let m = pass(&metered);
            (m, pass(&unmetered))
        } else {
            let u = pass(&unmetered);
            (pass(&metered), u)
        };
        with.push(m);
        without.push(u);
        ratios.push(m / u);
    }
    let best_with = with.iter().copied().fold(f64::MAX, f64::min);
    let best_without = without.iter().copied().fold(f64::MAX, f64::min);
    println!(
        "get_with metered vs unmetered: best {best_with:.1} / {best_without:.1} ns ({:+.2}%); \
         median of {pairs} paired ratios {:+.2}%; medians {:.1} / {:.1} ns",
        (best_with / best_without - 1.0) * 100.0,
        (median(&mut ratios) - 1.0) * 100.0,
        median(&mut with),
        median(&mut without)
    );
    Ok(())
}
