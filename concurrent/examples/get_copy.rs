//! Loops of point reads through `ConcurrentAlexStorage`, one thread: `get` (a new `Vec`
//! per read, freed by the caller at once), `get_into` (one reused buffer), `get_with`
//! reading one byte (no copy) and `contains_key` (the index alone). 1M uniformly random `i64` keys, 100-byte values,
//! `Config::benchmark()`, loaded in batches of 100; 500K random existing keys per pass,
//! three rounds. docs/PERFORMANCE.md ("Session 11") has the figures.
//!
//! `cargo run --release -p alexdb-concurrent --example get_copy`

use alexdb_concurrent::ConcurrentAlexStorage;
use alexdb_engine::Config;
use std::hint::black_box;
use std::time::Instant;

fn main() {
    let mut x = 88_172_645_463_325_252u64;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let keys: Vec<i64> = (0..1_000_000).map(|_| next() as i64).collect();
    let dir = tempfile::tempdir().expect("temp dir");
    let store = ConcurrentAlexStorage::open_with(dir.path(), Config::benchmark()).expect("open");
    let value = [7u8; 100];
    for chunk in keys.chunks(100) {
        let entries: Vec<(i64, &[u8])> = chunk.iter().map(|&key| (key, &value[..])).collect();
        store.insert_batch(&entries).expect("insert_batch");
    }
    let lookups: Vec<i64> = (0..500_000)
        .map(|_| keys[(next() % keys.len() as u64) as usize])
        .collect();
    let per_read = |read: &mut dyn FnMut(i64) -> usize| {
        let started = Instant::now();
        let mut sum = 0usize;
        for &key in &lookups {
            sum = sum.wrapping_add(read(black_box(key)));
        }
        black_box(sum);
        started.elapsed().as_nanos() as f64 / lookups.len() as f64
    };
    let mut buf = Vec::new();
    for round in 0..3 {
        let get = per_read(&mut |key| store.get(key).expect("get").map_or(0, |v| v.len()));
        let get_into = per_read(&mut |key| {
            store.get_into(key, &mut buf).expect("get_into");
            buf.len()
        });
        let get_with = per_read(&mut |key| {
            store
                .get_with(key, |v| usize::from(v[0]))
                .expect("get_with")
                .unwrap_or(0)
        });
        let contains = per_read(&mut |key| usize::from(store.contains_key(key)));
        println!(
            "round {round}: get {get:.0} ns, get_into {get_into:.0} ns, get_with (one byte) {get_with:.0} ns, contains_key {contains:.0} ns"
        );
    }
}
