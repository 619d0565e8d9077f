//! The write latency tail of a mixed load with more threads than cores: `T` threads
//! (default 8) each reading random keys and overwriting `W`% of the time (default 5), on a
//! fresh `ConcurrentAlexStorage` of 1M keys × 100-byte values (`Config::benchmark()`), for
//! 2 s. Prints the throughput and every write's latency percentiles. Behind the "95/5 write
//! p99 with 8 threads" paragraph of docs/PERFORMANCE.md, "Session 15".
//!
//! Run: `[T=8] [W=5] cargo run --release -p alexdb-concurrent --example mixed_tail`

use alexdb_concurrent::ConcurrentAlexStorage;
use alexdb_engine::Config;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

const KEYS: i64 = 1_000_000;
const RUN: Duration = Duration::from_secs(2);

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let threads = env_u64("T", 8) as usize;
    let percent = env_u64("W", 5);
    let dir = tempfile::tempdir().expect("temp dir");
    let store = ConcurrentAlexStorage::open_with(dir.path(), Config::benchmark()).expect("open");
    // Scattered over the whole i64 range (a multiplicative hash of 0..KEYS).
    let keys: Vec<i64> = (0..KEYS)
        .map(|i| i.wrapping_mul(0x9E37_79B9_7F4A_7C15_u64 as i64))
        .collect();
    let value = [7u8; 100];
    for chunk in keys.chunks(1000) {
        let batch: Vec<(i64, &[u8])> = chunk.iter().map(|&k| (k, &value[..])).collect();
        store.insert_batch(&batch).expect("load");
    }
    let stop = AtomicBool::new(false);
    let per_thread: Vec<(Vec<u64>, u64)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|thread| {
                let (store, keys, stop, value) = (&store, &keys, &stop, &value);
                scope.spawn(move || {
                    let mut x = 0x1234_5678_u64 ^ (thread as u64 + 1).wrapping_mul(0x9E37);
                    let mut write_ns = Vec::new();
                    let mut ops = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        let key = keys[(x % keys.len() as u64) as usize];
                        if (x >> 40) % 100 < percent {
                            let started = Instant::now();
                            store.insert(key, value).expect("insert");
                            write_ns.push(started.elapsed().as_nanos() as u64);
                        } else {
                            std::hint::black_box(store.get_with(key, |v| v.len()).expect("get"));
                        }
                        ops += 1;
                    }
                    (write_ns, ops)
                })
            })
            .collect();
        std::thread::sleep(RUN);
        stop.store(true, Ordering::Relaxed);
        handles
            .into_iter()
            .map(|h| h.join().expect("worker"))
            .collect()
    });
    let mut write_ns: Vec<u64> = per_thread
        .iter()
        .flat_map(|t| t.0.iter().copied())
        .collect();
    let ops: u64 = per_thread.iter().map(|t| t.1).sum();
    write_ns.sort_unstable();
    let us = |q: f64| match write_ns.len() {
        0 => f64::NAN,
        n => write_ns[((n as f64 * q) as usize).min(n - 1)] as f64 / 1e3,
    };
    println!(
        "T={threads} W={percent}%: {:.2} M ops/s, writes {} p50 {:.1} p99 {:.1} p99.9 {:.1} max {:.1} us",
        ops as f64 / RUN.as_secs_f64() / 1e6,
        write_ns.len(),
        us(0.5),
        us(0.99),
        us(0.999),
        us(1.0)
    );
}
