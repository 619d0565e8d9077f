//! Quick self-measurements (not the criterion benches, which live in `benches/wal.rs`).
//! Ignored by default; run with
//! `cargo test -p alexdb-wal --release --lib perf -- --ignored --nocapture --test-threads 1`.

use std::time::{Duration, Instant};

use crate::*;

fn payload() -> [u8; 100] {
    [0x42; 100]
}

/// A fresh `SyncMode::Off` log in a temp dir (kept alive by the returned guard).
fn open_off() -> (tempfile::TempDir, Wal) {
    let dir = tempfile::tempdir().expect("tempdir");
    let options = WalOptions {
        sync_mode: SyncMode::Off,
        ..WalOptions::default()
    };
    let (wal, _) = Wal::open(dir.path(), options).expect("open");
    (dir, wal)
}

#[test]
#[ignore = "timing; run explicitly"]
fn perf_off_append_100_byte_records() {
    let (_dir, wal) = open_off();
    let body = payload();
    let count = 3_000_000u64;
    let started = Instant::now();
    for _ in 0..count {
        wal.commit(&[Entry {
            tag: 1,
            head: &[],
            body: &body,
        }])
        .expect("commit");
    }
    let elapsed = started.elapsed();
    println!(
        "Off append: {count} x 100 B in {elapsed:?} = {:.2} M records/s",
        count as f64 / elapsed.as_secs_f64() / 1e6
    );
}

fn full_commits_per_second(threads: usize, duration: Duration) -> (f64, WalStats) {
    let dir = tempfile::tempdir().expect("tempdir");
    let (wal, _) = Wal::open(dir.path(), WalOptions::default()).expect("open");
    let body = payload();
    let deadline = Instant::now() + duration;
    let started = Instant::now();
    let total: u64 = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                let wal = &wal;
                scope.spawn(move || {
                    let mut n = 0u64;
                    while Instant::now() < deadline {
                        wal.commit(&[Entry {
                            tag: 1,
                            head: &[],
                            body: &body,
                        }])
                        .expect("commit");
                        n += 1;
                    }
                    n
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("thread")).sum()
    });
    (total as f64 / started.elapsed().as_secs_f64(), wal.stats())
}

#[test]
#[ignore = "timing; run explicitly"]
fn perf_full_group_commit_scaling() {
    let duration = Duration::from_secs(3);
    let (one, _) = full_commits_per_second(1, duration);
    let (eight, stats) = full_commits_per_second(8, duration);
    println!(
        "Full: 1 thread {one:.0} commits/s, 8 threads {eight:.0} commits/s, ratio {:.2}; \
         8-thread mean group {:.2}, max {}, sync mean {:.0} us",
        eight / one,
        stats.mean_group_size,
        stats.max_group_size,
        stats.sync_latency_mean_us
    );
}

#[test]
#[ignore = "timing; run explicitly"]
fn perf_recovery_scan() {
    let dir = tempfile::tempdir().expect("tempdir");
    let options = WalOptions {
        sync_mode: SyncMode::Off,
        ..WalOptions::default()
    };
    let (wal, _) = Wal::open(dir.path(), options.clone()).expect("open");
    let body = [7u8; 1000];
    let entries: Vec<Entry<'_>> = (0..1000)
        .map(|_| Entry {
            tag: 1,
            head: &[],
            body: &body,
        })
        .collect();
    for _ in 0..500 {
        wal.commit(&entries).expect("commit");
    }
    let bytes = wal.stats().bytes_appended;
    drop(wal);
    // Warm the cache once, then time a second open.
    drop(Wal::open(dir.path(), options.clone()).expect("warm open"));
    let started = Instant::now();
    let (_, report) = Wal::open(dir.path(), options).expect("open");
    let elapsed = started.elapsed();
    assert_eq!(report.records, 500_000);
    println!(
        "recovery: {} MB in {elapsed:?} = {:.2} GB/s",
        bytes / 1_000_000,
        bytes as f64 / elapsed.as_secs_f64() / 1e9
    );
}

/// The engine's `insert_batch` of 10M entries (~1.3 GB) must work as one batch.
#[test]
#[ignore = "big: 1.3 GB of log; run explicitly"]
fn perf_ten_million_entry_batch() {
    let dir = tempfile::tempdir().expect("tempdir");
    let options = WalOptions {
        sync_mode: SyncMode::Full,
        ..WalOptions::default()
    };
    let (wal, _) = Wal::open(dir.path(), options.clone()).expect("open");
    let body = payload();
    let entries: Vec<Entry<'_>> = (0..10_000_000)
        .map(|_| Entry {
            tag: 1,
            head: &[],
            body: &body,
        })
        .collect();
    let started = Instant::now();
    let receipt = wal.commit(&entries).expect("commit");
    let elapsed = started.elapsed();
    assert_eq!(receipt.locations.len(), 10_000_000);
    println!(
        "10M-entry batch: {} MB over {} segments in {elapsed:?}",
        wal.stats().bytes_appended / 1_000_000,
        wal.segments().len()
    );
    drop(wal);
    let started = Instant::now();
    let (_, report) = Wal::open(dir.path(), options).expect("reopen");
    assert_eq!((report.records, report.batches), (10_000_000, 1));
    println!("reopen: {:?}", started.elapsed());
}

#[test]
#[ignore = "timing; run explicitly"]
fn perf_record_at() {
    let (_dir, wal) = open_off();
    let body = payload();
    let entries: Vec<Entry<'_>> = (0..1_000_000)
        .map(|_| Entry {
            tag: 1,
            head: &[],
            body: &body,
        })
        .collect();
    let receipt = wal.commit(&entries).expect("commit");
    let segments: Vec<_> = wal.segments();
    let started = Instant::now();
    let mut sum = 0u64;
    for _ in 0..5 {
        for location in &receipt.locations {
            let segment = segments
                .iter()
                .find(|s| s.id() == location.segment_id)
                .expect("live");
            sum += segment.record_at(location.offset).expect("record").payload[0] as u64;
        }
    }
    let per_read_ns = started.elapsed().as_nanos() as f64 / 5e6;
    assert_eq!(sum, 5 * 1_000_000 * 0x42);
    println!("record_at: {per_read_ns:.1} ns per read (sequential locations, warm)");
}

#[test]
#[ignore = "timing; run explicitly"]
fn perf_segment_open() {
    let (_dir, wal) = open_off();
    let body = [7u8; 1000];
    let entries: Vec<Entry<'_>> = (0..1000)
        .map(|_| Entry {
            tag: 1,
            head: &[],
            body: &body,
        })
        .collect();
    for _ in 0..200 {
        wal.commit(&entries).expect("commit");
    }
    let paths: Vec<_> = wal
        .segments()
        .iter()
        .map(|s| s.path().to_path_buf())
        .collect();
    let bytes = wal.stats().bytes_appended;
    let started = Instant::now();
    for path in &paths {
        let segment = Segment::open(path).expect("open");
        assert!(segment.written_len() > 64);
    }
    let elapsed = started.elapsed();
    println!(
        "Segment::open: {} MB in {elapsed:?} = {:.2} GB/s",
        bytes / 1_000_000,
        bytes as f64 / elapsed.as_secs_f64() / 1e9
    );
}
