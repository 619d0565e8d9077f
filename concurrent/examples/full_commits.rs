//! `Full` commits from 1, 2, 4 and 8 threads on one store, one after another (up, down
//! and up again), each for a second: commits/s and the log's mean sync latency so far.
//! The probe behind docs/wal.md "Readahead off where the log writes": before the log
//! turned readahead off for the region it appends to, the syncs on a store that had
//! been written for a few seconds grew from ~55 to ~330 µs and one thread fell from 16K
//! to 3K commits/s, whatever the thread count.
//!
//! Run: `cargo run --release -p alexdb-concurrent --example full_commits -- [keys] [secs]`
//! (keys preloaded and then overwritten at random, default 100,000; seconds per step,
//! default 1). Writes under the system temp dir.

use alexdb_concurrent::ConcurrentAlexStorage;
use alexdb_engine::Config;
use std::time::{Duration, Instant};

const STEPS: [usize; 12] = [1, 2, 4, 8, 8, 4, 2, 1, 1, 2, 4, 8];

fn main() -> alexdb_engine::Result<()> {
    let mut args = std::env::args().skip(1);
    let keys: u64 = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(100_000)
        .max(1);
    let secs: f64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(1.0);
    let dir = tempfile::tempdir().map_err(|e| alexdb_engine::Error::Io {
        path: std::env::temp_dir(),
        source: e,
    })?;
    let store = ConcurrentAlexStorage::open_with(dir.path(), Config::production())?;
    let value = [7u8; 100];
    for start in (0..keys).step_by(10_000) {
        let entries: Vec<(i64, &[u8])> = (start..(start + 10_000).min(keys))
            .map(|k| (k as i64, &value[..]))
            .collect();
        store.insert_batch(&entries)?;
    }
    println!("{keys} keys, 100-byte values, Config::production(), {secs} s per step");
    for threads in STEPS {
        let started = Instant::now();
        let run_for = Duration::from_secs_f64(secs);
        let commits: u64 = std::thread::scope(|scope| {
            let workers: Vec<_> = (0..threads)
                .map(|t| {
                    let store = store.clone();
                    scope.spawn(move || -> alexdb_engine::Result<u64> {
                        let mut n = 0u64;
                        while started.elapsed() < run_for {
                            let mixed = (n ^ (t as u64) << 32).wrapping_mul(0x9E37_79B9_7F4A_7C15);
                            store.insert((mixed % keys) as i64, &value)?;
                            n += 1;
                        }
                        Ok(n)
                    })
                })
                .collect();
            workers
                .into_iter()
                .map(|w| w.join().expect("worker panicked"))
                .sum::<alexdb_engine::Result<u64>>()
        })?;
        let rate = commits as f64 / started.elapsed().as_secs_f64();
        let sync_us = store.stats().wal.sync_latency_mean_us;
        println!("{threads} thread(s): {rate:>7.0} commits/s (mean sync so far {sync_us:.0} us)");
    }
    Ok(())
}
