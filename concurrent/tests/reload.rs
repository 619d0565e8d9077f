//! A secondary `ConcurrentAlexStorage` whose writer compacted underneath it reloads in
//! `catch_up` (the fresh store is opened beside the old one and swapped in), while its
//! own reader threads keep reading: every read returns a value of the right key, from
//! before or after the writer's overwrite, never an error; after the call every key has
//! the writer's latest value.

use alexdb_concurrent::ConcurrentAlexStorage;
use alexdb_engine::Config;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

const KEYS: i64 = 3_000;

fn value(key: i64, version: u8) -> Vec<u8> {
    let mut value = vec![version; 64];
    value[..8].copy_from_slice(&key.to_le_bytes());
    value
}

#[test]
fn readers_keep_reading_while_catch_up_reloads() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = Config::benchmark().with_segment_capacity(128 << 10);
    config.auto_compact = false;
    config.checkpoint_every_bytes = 0;
    let writer = ConcurrentAlexStorage::open_with(dir.path(), config).expect("open");
    for key in 0..KEYS {
        writer.insert(key, &value(key, 1)).expect("insert");
    }
    let secondary = ConcurrentAlexStorage::open_secondary(dir.path()).expect("secondary");
    for key in 0..KEYS {
        writer.insert(key, &value(key, 2)).expect("overwrite");
    }
    let compaction = writer.compact().expect("compact");
    assert!(compaction.segments_in > 0, "{compaction:?}");

    let stop = AtomicBool::new(false);
    let reads = AtomicU64::new(0);
    let report = std::thread::scope(|scope| {
        for seed in 0..2u64 {
            let (secondary, stop, reads) = (&secondary, &stop, &reads);
            scope.spawn(move || {
                let mut x = 0x9E37_79B9_7F4A_7C15 ^ (seed + 1);
                let mut n = 0;
                while !stop.load(Ordering::Acquire) || n == 0 {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    let key = (x % KEYS as u64) as i64;
                    let found = secondary.get(key).expect("a read during the reload");
                    assert!(
                        found == Some(value(key, 1)) || found == Some(value(key, 2)),
                        "key {key}: {found:?}"
                    );
                    n += 1;
                }
                reads.fetch_add(n, Ordering::Relaxed);
            });
        }
        let report = secondary.catch_up().expect("catch_up");
        stop.store(true, Ordering::Release);
        report
    });
    assert!(report.reloaded, "{report:?}");
    assert!(reads.load(Ordering::Relaxed) > 0);
    for key in 0..KEYS {
        assert_eq!(
            secondary.get(key).expect("get"),
            Some(value(key, 2)),
            "key {key}"
        );
    }
    // And it follows the log tail again from there.
    writer.insert(KEYS, &value(KEYS, 3)).expect("insert");
    let report = secondary.catch_up().expect("catch_up");
    assert!(!report.reloaded, "{report:?}");
    assert_eq!(secondary.get(KEYS).expect("get"), Some(value(KEYS, 3)));
}
