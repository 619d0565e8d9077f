//! How long a reader can wait behind one write, by the index's maximum data node size
//! (`Config::index_max_data_slots`).
//!
//! One thread inserts `KEYS` random keys with 100-byte values into a fresh
//! `ConcurrentAlexStorage` (`Config::benchmark()` with background maintenance); a second
//! thread meanwhile reads random keys (a miss until the writer got there: the read path
//! is the same), timing every `get`. A write that expands a data node rebuilds it under
//! the exclusive lock, so the reader's slowest `get`s show the largest rebuilds. ALEX's
//! default maximum (2^20 slots) and smaller ones alternate, `ROUNDS` times each, each in
//! its own temporary directory. Prints the writer's rate, and the reader's p99.99, its
//! maximum and how many of its `get`s took over 1 ms.
//!
//! Run: `cargo run --release -p alexdb-concurrent --example write_stalls`
//! (`KEYS`, default 5,000,000; `ROUNDS`, default 2; `NO_CHECKPOINTS=1` turns automatic
//! checkpoints off, `NO_PREFAULT=1` the log's prefault thread, `PREFAULT_AHEAD=<bytes>` sets
//! how far ahead it keeps the log mapped).

use alexdb_concurrent::ConcurrentAlexStorage;
use alexdb_engine::Config;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn xorshift(x: &mut u64) -> u64 {
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    *x
}

fn run(max_data_slots: usize, count: usize) -> String {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = Config::benchmark().with_background_maintenance(true);
    config.index_max_data_slots = max_data_slots;
    if std::env::var("NO_CHECKPOINTS").as_deref() == Ok("1") {
        config.checkpoint_every_bytes = 0;
    }
    if let Some(ahead) = std::env::var("PREFAULT_AHEAD")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        config.prefault_ahead = ahead;
    }
    if std::env::var("NO_PREFAULT").as_deref() == Ok("1") {
        config.prefault_ahead = 0;
    }
    let store = ConcurrentAlexStorage::open_with(dir.path(), config).expect("open");
    let done = AtomicBool::new(false);
    let value = [7u8; 100];
    let (write_seconds, mut nanos) = std::thread::scope(|scope| {
        let reader = scope.spawn(|| {
            let mut nanos: Vec<u64> = Vec::with_capacity(1 << 24);
            let mut x = 0x2545_F491_4F6C_DD1Du64;
            while !done.load(Ordering::Relaxed) {
                let key = xorshift(&mut x) as i64;
                let t = Instant::now();
                let found = store.get_with(key, |v| v.len()).expect("get");
                nanos.push(t.elapsed().as_nanos() as u64);
                std::hint::black_box(found);
            }
            nanos
        });
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        let started = Instant::now();
        for _ in 0..count {
            store
                .insert(xorshift(&mut x) as i64, &value)
                .expect("insert");
        }
        let seconds = started.elapsed().as_secs_f64();
        done.store(true, Ordering::Relaxed);
        (seconds, reader.join().expect("reader"))
    });
    let largest = store.stats().keyspaces[0].index_largest_node_slots;
    if let Some(error) = store.maintenance_error() {
        panic!("maintenance failed: {error}");
    }
    drop(store);
    let over_ms = nanos.iter().filter(|&&n| n > 1_000_000).count();
    nanos.sort_unstable();
    let at = |q: f64| nanos[((nanos.len() - 1) as f64 * q) as usize] as f64 / 1000.0;
    format!(
        "max 2^{:<2} slots (largest node {largest:>7}): writer {:>5.3} M inserts/s; reader {:>5.2} M gets, p99 {:>5.2} us, p99.99 {:>7.1} us, max {:>6.2} ms, {over_ms} over 1 ms",
        max_data_slots.ilog2(),
        count as f64 / write_seconds / 1e6,
        nanos.len() as f64 / 1e6,
        at(0.99),
        at(0.9999),
        *nanos.last().expect("some gets") as f64 / 1e6,
    )
}

fn main() {
    let count = env_usize("KEYS", 5_000_000);
    let rounds = env_usize("ROUNDS", 2);
    println!("{count} inserts of 100-byte values on one thread, random gets on another");
    for _round in 0..rounds {
        for max_data_slots in [1 << 20, 1 << 18, 1 << 17] {
            println!("{}", run(max_data_slots, count));
        }
    }
}
