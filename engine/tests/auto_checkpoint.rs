//! When automatic checkpoints happen: after `checkpoint_every_bytes` of log, and, with
//! `checkpoint_growth`, only once the log grew by that fraction of what the last
//! checkpoint covered.

use alexdb_engine::{AlexStorage, Config, Error, IndexSource};

const EVERY: u64 = 64 << 10;

fn config(growth: f64) -> Config {
    let mut config = Config::benchmark().with_segment_capacity(4 << 20);
    config.checkpoint_every_bytes = EVERY;
    config.checkpoint_growth = growth;
    config.auto_compact = false;
    config
}

/// Insert `count` 100-byte values after `first`; the store's written log bytes at each
/// automatic checkpoint.
fn insert_and_watch(storage: &mut AlexStorage, first: i64, count: i64) -> Vec<u64> {
    let mut seen = storage.stats().checkpoints;
    let mut at = Vec::new();
    for key in first..first + count {
        storage.insert(key, &[7u8; 100]).unwrap();
        let stats = storage.stats();
        if stats.checkpoints != seen {
            assert_eq!(stats.checkpoints, seen + 1, "one write, one checkpoint");
            seen = stats.checkpoints;
            at.push(stats.written_bytes);
        }
    }
    at
}

#[test]
fn a_zero_growth_checkpoints_at_a_fixed_interval() {
    let dir = tempfile::tempdir().unwrap();
    let mut storage = AlexStorage::open_with(dir.path(), config(0.0)).unwrap();
    let at = insert_and_watch(&mut storage, 0, 8_000);
    let written = storage.stats().written_bytes;
    assert_eq!(at.len() as u64, written / EVERY, "checkpoints at {at:?}");
    for pair in at.windows(2) {
        let step = pair[1] - pair[0];
        assert!((EVERY..EVERY + 256).contains(&step), "steps at {at:?}");
    }
}

#[test]
fn a_growth_of_one_doubles_the_interval_with_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let mut storage = AlexStorage::open_with(dir.path(), config(1.0)).unwrap();
    // ~1 MiB of log: checkpoints near 64, 128, 256, 512 KiB and 1 MiB, not sixteen.
    let at = insert_and_watch(&mut storage, 0, 8_300);
    assert_eq!(at.len(), 5, "checkpoints at {at:?}");
    assert!(at[0] >= EVERY);
    for pair in at.windows(2) {
        assert!(pair[1] >= 2 * pair[0], "checkpoints at {at:?}");
        assert!(pair[1] <= 2 * pair[0] + 256, "checkpoints at {at:?}");
    }

    // A tail short of `checkpoint_every_bytes` (no checkpoint at close either), then a
    // reopen: the interval still counts from what the last checkpoint covered, and the
    // replayed tail counts toward it.
    storage.checkpoint().unwrap();
    let covered = storage.stats().written_bytes;
    assert!(insert_and_watch(&mut storage, 10_000, 300).is_empty());
    assert!(!storage.checkpoint_due_at_close());
    storage.close().unwrap();
    let mut storage = AlexStorage::open_with(dir.path(), config(1.0)).unwrap();
    assert!(storage.stats().written_bytes > covered + 30_000);
    let at = insert_and_watch(&mut storage, 20_000, 9_000);
    assert_eq!(at.len(), 1, "checkpoints at {at:?}");
    assert!(
        at[0] >= 2 * covered && at[0] <= 2 * covered + 256,
        "{at:?} vs {covered}"
    );
    assert_eq!(storage.stats().keys, 17_600);
}

/// A store opened, written a little and closed again and again: the tails of the
/// sessions add up to a checkpoint, so what a reopen replays stays bounded.
#[test]
fn short_sessions_still_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    for session in 0..6i64 {
        let mut storage = AlexStorage::open_with(dir.path(), config(1.0)).unwrap();
        // ~40 KiB per session, short of the 64 KiB interval on its own.
        insert_and_watch(&mut storage, session * 1_000, 320);
        storage.close().unwrap();
    }
    let replayed = replayed_at_open(dir.path());
    assert!(replayed < 600, "{replayed} records replayed of 1,920");
}

#[test]
fn a_growth_that_is_not_a_fraction_is_refused() {
    for growth in [-0.5, f64::NAN, f64::INFINITY] {
        let dir = tempfile::tempdir().unwrap();
        match AlexStorage::open_with(dir.path(), config(growth)) {
            Err(Error::InvalidConfig(message)) => {
                assert!(message.contains("checkpoint_growth"), "{message}")
            }
            other => panic!("growth {growth}: {other:?}"),
        }
    }
}

/// The log after the last checkpoint, as the next open replays it.
fn replayed_at_open(dir: &std::path::Path) -> u64 {
    let storage = AlexStorage::open_with(dir, config(1.0)).unwrap();
    match storage.open_report().source {
        IndexSource::Snapshot {
            replayed_records, ..
        } => replayed_records,
        ref other => panic!("opened from {other:?}"),
    }
}

#[test]
fn a_clean_close_checkpoints_a_tail_of_checkpoint_every_bytes_or_more() {
    let dir = tempfile::tempdir().unwrap();
    let mut storage = AlexStorage::open_with(dir.path(), config(1.0)).unwrap();
    assert_eq!(insert_and_watch(&mut storage, 0, 8_300).len(), 5);
    // ~128 KiB more: past `checkpoint_every_bytes`, far from the grown interval (~1 MiB).
    assert!(insert_and_watch(&mut storage, 10_000, 1_000).is_empty());
    assert!(storage.checkpoint_due_at_close());
    storage.close().unwrap();
    assert_eq!(replayed_at_open(dir.path()), 0, "close wrote a checkpoint");

    // A short tail is left to the next open, as before.
    let mut storage = AlexStorage::open_with(dir.path(), config(1.0)).unwrap();
    assert!(insert_and_watch(&mut storage, 20_000, 100).is_empty());
    assert!(!storage.checkpoint_due_at_close());
    storage.close().unwrap();
    assert_eq!(replayed_at_open(dir.path()), 100);

    // Automatic checkpoints off: close never writes one.
    let mut off = config(1.0);
    off.checkpoint_every_bytes = 0;
    let mut storage = AlexStorage::open_with(dir.path(), off).unwrap();
    assert!(insert_and_watch(&mut storage, 30_000, 1_000).is_empty());
    assert!(!storage.checkpoint_due_at_close());
    storage.close().unwrap();
    assert_eq!(replayed_at_open(dir.path()), 1_100);
}
