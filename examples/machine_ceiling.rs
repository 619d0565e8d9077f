//! What this machine allows, before any alexdb code runs: how far two threads scale on
//! plain arithmetic and on random memory reads, and how long one dependent DRAM read
//! takes. The scaling and latency targets of `docs/PERFORMANCE.md` are read against it:
//! a store whose `get` is two or three dependent misses cannot beat the chained-read
//! latency times that, and no read path scales from 1 to 2 threads better than random
//! reads of private arrays do.
//!
//! Each case runs 1 thread, then 2, each thread on its own data (nothing shared), and
//! prints the ratio and the CPU time the hypervisor took from this machine meanwhile
//! (`steal` ticks of `/proc/stat`, 100 per CPU-second; Linux only): a ratio measured
//! while steal is high says nothing.
//!
//! Last, how much the first write to fresh memory costs against writing it again: on a
//! virtual machine whose host backs guest memory lazily, the first touch of a page the
//! guest has not used lately is several times dearer (docs/PERFORMANCE.md, session 8),
//! and every figure that streams fresh memory (inserts, checkpoints, compaction output)
//! depends on it.
//!
//! Run: `cargo run --release --example machine_ceiling` (about 25 s; 1 GiB of memory
//! while two threads read; `MACHINE_CEILING_MIB` sets the per-thread array, default 512).

use std::hint::black_box;
use std::time::{Duration, Instant};

/// Rounds of every case; the spread between rounds is part of the answer.
const ROUNDS: usize = 3;
/// Random reads per thread per case.
const READS: u64 = 5_000_000;

/// `xorshift64`: cheap, and its next value depends on nothing but the previous one.
fn next(x: &mut u64) -> u64 {
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    *x
}

/// Steal ticks so far (all CPUs), if the kernel reports them.
fn steal_ticks() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    stat.lines().next()?.split_whitespace().nth(8)?.parse().ok()
}

/// Runs `work` on `threads` threads at once; returns operations per second (all threads)
/// and the steal ticks meanwhile.
fn timed(threads: usize, work: impl Fn(usize) -> u64 + Sync) -> (f64, Option<u64>) {
    let steal_before = steal_ticks();
    let started = Instant::now();
    let ops: u64 = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let work = &work;
                scope.spawn(move || work(t))
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("worker")).sum()
    });
    let rate = ops as f64 / started.elapsed().as_secs_f64();
    let steal = steal_before.zip(steal_ticks()).map(|(b, a)| a - b);
    (rate, steal)
}

/// One line: both rates in `unit` (`scale` operations each), their ratio, the steal.
fn report(case: &str, unit: &str, scale: f64, one: (f64, Option<u64>), two: (f64, Option<u64>)) {
    let steal = |s: Option<u64>| s.map_or("n/a".to_string(), |t| t.to_string());
    println!(
        "{case:<34} 1T {:>8.2} {unit}  2T {:>8.2} {unit}  2T/1T {:.2}x  (steal ticks {} / {})",
        one.0 / scale,
        two.0 / scale,
        two.0 / one.0,
        steal(one.1),
        steal(two.1),
    );
}

fn main() {
    let mib: usize = std::env::var("MACHINE_CEILING_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(512);
    let words = (mib << 20) / 8;
    // A power of two, so an index is one mask away.
    let words = 1usize << (usize::BITS - 1 - words.leading_zeros());
    println!(
        "machine ceiling: {} CPUs, {} MiB per thread, {} random reads per thread per case",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        (words * 8) >> 20,
        READS
    );
    let arrays: Vec<Vec<u64>> = (0..2)
        .map(|t| {
            let mut x = 0x9E37_79B9_7F4A_7C15 ^ (t + 1);
            (0..words).map(|_| next(&mut x)).collect()
        })
        .collect();
    let mask = words as u64 - 1;
    let spin = |_: usize| {
        let deadline = Instant::now() + Duration::from_millis(500);
        let (mut x, mut loops) = (1u64, 0u64);
        while Instant::now() < deadline {
            for _ in 0..1000 {
                x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            }
            loops += 1000;
        }
        black_box(x);
        loops
    };
    let independent = |t: usize| {
        let (array, mut x, mut sum) = (&arrays[t], 0x5EED ^ t as u64, 0u64);
        for _ in 0..READS {
            sum = sum.wrapping_add(array[(next(&mut x) & mask) as usize]);
        }
        black_box(sum);
        READS
    };
    // Each index depends on the value just read (its low bit is mixed in), so the reads
    // cannot overlap: the rate is 1 / latency.
    let chained = |t: usize| {
        let (array, mut x, mut value) = (&arrays[t], 0x5EED ^ t as u64, 0u64);
        for _ in 0..READS / 5 {
            value = array[((next(&mut x) ^ (value & 1)) & mask) as usize];
        }
        black_box(value);
        READS / 5
    };
    for round in 1..=ROUNDS {
        println!("-- round {round} (load {})", load());
        report(
            "arithmetic, private",
            "G/s",
            1e9,
            timed(1, spin),
            timed(2, spin),
        );
        report(
            "random reads, independent",
            "M/s",
            1e6,
            timed(1, independent),
            timed(2, independent),
        );
        let one = timed(1, chained);
        let two = timed(2, chained);
        report("random reads, dependent chain", "M/s", 1e6, one, two);
        println!(
            "{:<34} {:.0} ns per dependent read (1 thread)",
            "",
            1e9 / one.0
        );
    }
    drop(arrays);
    first_touch(mib);
}

/// Write `mib` MiB of freshly allocated memory, then the same buffer again, then a second
/// fresh buffer (which the allocator and the kernel usually back with the pages the
/// first one just gave back): GB/s of each.
fn first_touch(mib: usize) {
    let bytes = mib << 20;
    let write = |buffer: &mut Vec<u8>, value: u8| {
        let started = Instant::now();
        buffer.clear();
        buffer.resize(bytes, value);
        black_box(&buffer[bytes / 2]);
        bytes as f64 / started.elapsed().as_secs_f64() / 1e9
    };
    let mut fresh = Vec::with_capacity(bytes);
    let first = write(&mut fresh, 1);
    let again = write(&mut fresh, 2);
    drop(fresh);
    let mut recycled = Vec::with_capacity(bytes);
    let reused = write(&mut recycled, 3);
    println!(
        "-- writing {mib} MiB: fresh memory {first:.2} GB/s, the same memory again {again:.2} GB/s, \
         a new buffer after freeing the first {reused:.2} GB/s (load {})",
        load()
    );
}

fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "n/a".into())
}
