//! What a writer waits for when automatic checkpoints run inline, and when they run on
//! the store's maintenance thread (`Config::background_maintenance`).
//!
//! One thread inserts `KEYS` random keys with 100-byte values into a fresh
//! `ConcurrentAlexStorage` (`Config::benchmark()`, a checkpoint every 64 MiB of log),
//! timing every insert; the two configurations alternate, `ROUNDS` times each, each in
//! its own temporary directory. Prints inserts/s, p50, p99, p99.9 and the maximum.
//!
//! Run: `cargo run --release -p alexdb-concurrent --example maintenance_latency`
//! (`KEYS`, default 2,000,000; `ROUNDS`, default 2; `DIR` for the temporary
//! directories, default the system's).

use alexdb_concurrent::ConcurrentAlexStorage;
use alexdb_engine::Config;
use std::time::Instant;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn run(background: bool, keys: &[i64]) -> String {
    let dir = match std::env::var("DIR") {
        Ok(base) => tempfile::tempdir_in(base),
        Err(_) => tempfile::tempdir(),
    }
    .expect("temp dir");
    let mut config = Config::benchmark().with_background_maintenance(background);
    config.checkpoint_every_bytes = 64 << 20;
    config.checkpoint_growth = 0.0;
    let store = ConcurrentAlexStorage::open_with(dir.path(), config).expect("open");
    let value = [7u8; 100];
    let mut nanos: Vec<u64> = Vec::with_capacity(keys.len());
    let started = Instant::now();
    for &key in keys {
        let t = Instant::now();
        store.insert(key, &value).expect("insert");
        nanos.push(t.elapsed().as_nanos() as u64);
    }
    let seconds = started.elapsed().as_secs_f64();
    let checkpoints = store.stats().checkpoints;
    if let Some(error) = store.maintenance_error() {
        panic!("maintenance failed: {error}");
    }
    drop(store);
    nanos.sort_unstable();
    let at = |q: f64| nanos[((nanos.len() - 1) as f64 * q) as usize] as f64 / 1000.0;
    format!(
        "{:<10} {:>6.3} M inserts/s  p50 {:>5.2} us  p99 {:>6.2} us  p99.9 {:>7.1} us  max {:>8.1} ms  ({} checkpoints)",
        if background { "background" } else { "inline" },
        keys.len() as f64 / seconds / 1e6,
        at(0.5),
        at(0.99),
        at(0.999),
        *nanos.last().expect("some inserts") as f64 / 1e6,
        checkpoints
    )
}

fn main() {
    let count = env_usize("KEYS", 2_000_000);
    let rounds = env_usize("ROUNDS", 2);
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    let keys: Vec<i64> = (0..count)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as i64
        })
        .collect();
    println!("{count} inserts of 100-byte values, one thread, checkpoint every 64 MiB of log");
    for _round in 0..rounds {
        for background in [false, true] {
            println!("{}", run(background, &keys));
        }
    }
}
