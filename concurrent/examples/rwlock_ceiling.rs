//! What a mixed read/write load can gain from a second thread when every write takes one
//! `RwLock` over the index exclusively — with nothing else in the way. An `AlexMap` of 1M
//! keys behind a `parking_lot::RwLock`; a read looks a key up under the shared lock and
//! touches the 128-byte "record" it names; a write reserves a record with one atomic
//! add, copies 128 bytes (standing in for the append) and repoints the key under the
//! exclusive lock. No log, no group commit, no metrics: the part of
//! `ConcurrentAlexStorage`'s write path no design built on the `RwLock` can remove.
//! (With writes this frequent the store's reader bias is off, so its reads take the same
//! `RwLock`.) Prints 2T/1T per write percentage, 0.7 s per thread count, three rounds.
//!
//! `cargo run --release -p alexdb-concurrent --example rwlock_ceiling -- [write %...]`
//! (default 20 5 0). docs/PERFORMANCE.md, "Session 10", has the figures.

use alexdb_alex::AlexMap;
use parking_lot::RwLock;
use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Operations per check of the stop flag.
const BATCH: u64 = 100;

struct Xorshift(u64);

impl Xorshift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn main() {
    let mut percents: Vec<u64> = std::env::args()
        .skip(1)
        .map(|arg| arg.parse().expect("write percentage"))
        .collect();
    if percents.is_empty() {
        percents = vec![20, 5, 0];
    }
    let mut rng = Xorshift(88_172_645_463_325_252);
    let mut keys: Vec<i64> = (0..1_000_000).map(|_| rng.next() as i64).collect();
    keys.sort_unstable();
    keys.dedup();
    let records: Vec<[u8; 128]> = vec![[7u8; 128]; keys.len() * 2];
    let pairs: Vec<(i64, u64)> = keys
        .iter()
        .enumerate()
        .map(|(i, &k)| (k, i as u64))
        .collect();
    let map = RwLock::new(AlexMap::bulk_load(&pairs).expect("sorted, distinct keys"));
    let tail = AtomicU64::new(keys.len() as u64);
    let run = |threads: usize, percent: u64| -> f64 {
        let stop = AtomicBool::new(false);
        let ops = AtomicU64::new(0);
        let started = Instant::now();
        std::thread::scope(|scope| {
            for thread in 0..threads {
                let (map, keys, records, tail, stop, ops) =
                    (&map, &keys, &records, &tail, &stop, &ops);
                scope.spawn(move || {
                    let mut rng = Xorshift(0x9E37_79B9_7F4A_7C15 ^ (thread as u64 + 1));
                    let mut scratch = [0u8; 128];
                    let mut done = 0;
                    while !stop.load(Ordering::Relaxed) {
                        for _ in 0..BATCH {
                            let draw = rng.next();
                            let key = keys[(draw % keys.len() as u64) as usize];
                            if (draw >> 7) % 100 < percent {
                                let at =
                                    tail.fetch_add(1, Ordering::Relaxed) % records.len() as u64;
                                scratch.copy_from_slice(&records[at as usize]);
                                black_box(&scratch);
                                map.write().insert(key, at);
                            } else {
                                let index = map.read();
                                let at = *index.get(key).expect("every key is loaded");
                                black_box(records[at as usize][0]);
                            }
                        }
                        done += BATCH;
                    }
                    ops.fetch_add(done, Ordering::Relaxed);
                });
            }
            std::thread::sleep(Duration::from_millis(700));
            stop.store(true, Ordering::Relaxed);
        });
        ops.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64()
    };
    for &percent in &percents {
        for _ in 0..3 {
            let one = run(1, percent);
            let two = run(2, percent);
            println!(
                "{percent}% writes: 1T {:.2} M ops/s, 2T {:.2} M ops/s, 2T/1T {:.3}",
                one / 1e6,
                two / 1e6,
                two / one
            );
        }
    }
}
