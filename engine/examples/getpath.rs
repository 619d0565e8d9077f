//! The cost of one `AlexStorage::get` three ways, at N keys (argument, default 1M) of
//! uniform random `i64`s with 100-byte values, `Config::benchmark()`, loaded in batches of
//! 100K: gets of independent keys touching one byte of the value (the engine bench's
//! loop), the same copying the whole value (what a caller of `get` usually does), and
//! chained gets whose next key depends on the last byte of the value (nothing overlaps).
//!
//! `cargo run --release -p alexdb-engine --example getpath -- 1000000`
use alexdb_engine::{AlexStorage, Config};
use rand::{Rng, SeedableRng, rngs::StdRng};
use std::hint::black_box;
use std::time::Instant;
fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .map(|s| s.parse().unwrap())
        .unwrap_or(1_000_000);
    let dir = tempfile::tempdir().unwrap();
    let mut store = AlexStorage::open_with(dir.path(), Config::benchmark()).unwrap();
    let mut rng = StdRng::seed_from_u64(7);
    let mut keys: Vec<i64> = (0..n).map(|_| rng.r#gen::<i64>()).collect();
    keys.sort_unstable();
    keys.dedup();
    use rand::seq::SliceRandom;
    keys.shuffle(&mut rng);
    let value = [7u8; 100];
    let entries: Vec<(i64, &[u8])> = keys.iter().map(|&k| (k, &value[..])).collect();
    for c in entries.chunks(100_000) {
        store.insert_batch(c).unwrap();
    }
    let queries: Vec<i64> = (0..1_000_000)
        .map(|_| keys[rng.gen_range(0..keys.len())])
        .collect();
    let mut out = Vec::with_capacity(128);
    for round in 0..3 {
        let mut line = format!("round {round}:");
        for mode in ["byte", "copy", "chained"] {
            let start = Instant::now();
            let mut total = 0usize;
            let mut i = 0usize;
            for q in 0..queries.len() {
                match mode {
                    "byte" => {
                        let v = store.get(queries[q]).unwrap().unwrap();
                        total += v[0] as usize + v.len();
                    }
                    "copy" => {
                        out.clear();
                        out.extend_from_slice(store.get(queries[q]).unwrap().unwrap());
                        total += out[99] as usize;
                    }
                    _ => {
                        let v = store.get(queries[i]).unwrap().unwrap();
                        i = (i + 1 + (v[99] == 0) as usize) % queries.len();
                        total += v.len();
                    }
                }
            }
            let ns = start.elapsed().as_secs_f64() * 1e9 / queries.len() as f64;
            line += &format!(" {mode} {ns:.0} ns");
            black_box(total);
        }
        println!("{line}");
    }
}
