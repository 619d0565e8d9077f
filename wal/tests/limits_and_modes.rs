//! Limits and sync modes: a payload over `max_record_payload` is `ValueTooLarge` (not a
//! panic) and the log keeps working; options that cannot work are `InvalidOptions`; an
//! empty batch is a no-op; `SyncMode::Normal` makes commits durable within its interval
//! without a call to `sync`; `SyncMode::Checkpoint` only on `sync`.

mod common;

use std::time::{Duration, Instant};

use alexdb_wal::{Entry, Error, Seq, SyncMode, Wal, WalOptions};
use common::*;

#[test]
fn a_payload_over_the_maximum_is_value_too_large_and_the_log_keeps_working() {
    let dir = tempfile::tempdir().expect("temp dir");
    let options = WalOptions {
        max_record_payload: 1000,
        ..small_options(8192)
    };
    let (wal, _) = Wal::open(dir.path(), options.clone()).expect("open");
    commit_entries(&wal, &[(1, payload_bytes(1, 1000))]).expect("exactly the maximum fits");
    let big = payload_bytes(2, 1001);
    match commit_entries(&wal, &[(1, payload_bytes(3, 10)), (2, big.clone())]) {
        Err(Error::ValueTooLarge { len, max }) => assert_eq!((len, max), (1001, 1000)),
        other => panic!(
            "expected ValueTooLarge, got {:?}",
            other.map(|r| r.first_seq)
        ),
    }
    // Head and body count together.
    let half = payload_bytes(4, 600);
    let split = [Entry {
        tag: 3,
        head: &half,
        body: &half,
    }];
    assert!(matches!(
        wal.commit(&split),
        Err(Error::ValueTooLarge { len: 1200, .. })
    ));
    // Nothing of the refused batches was written; the log is not poisoned.
    assert!(wal.poisoned().is_none());
    let receipt =
        commit_entries(&wal, &[(5, payload_bytes(5, 5))]).expect("commit after a refusal");
    assert_eq!(
        receipt.first_seq,
        Seq(2),
        "refused batches took no sequence numbers"
    );
    drop(wal);
    let (wal, _) = Wal::open(dir.path(), options).expect("reopen");
    assert_eq!(
        scan_all(&wal)
            .expect("scan")
            .iter()
            .map(|r| r.seq)
            .collect::<Vec<_>>(),
        vec![1, 2]
    );
}

#[test]
fn the_default_maximum_is_at_least_16_mib_and_fits_a_default_segment() {
    let dir = tempfile::tempdir().expect("temp dir");
    let options = WalOptions {
        sync_mode: SyncMode::Off,
        ..WalOptions::default()
    };
    assert!(options.max_record_payload >= 16 << 20);
    let (wal, _) = Wal::open(dir.path(), options).expect("open");
    let payload = payload_bytes(7, 16 << 20);
    let receipt = commit_entries(&wal, &[(7, payload.clone())]).expect("a 16 MiB value");
    let segment = wal
        .segment(receipt.locations[0].segment_id)
        .expect("live segment");
    let record = segment
        .record_at_verified(receipt.locations[0].offset)
        .expect("read back");
    assert!(
        record.payload == &payload[..],
        "the 16 MiB value reads back intact"
    );
}

#[test]
fn options_that_cannot_work_are_invalid_options() {
    for (name, options) in [
        (
            "payload larger than a segment",
            WalOptions {
                max_record_payload: 8192,
                ..small_options(8192)
            },
        ),
        (
            "zero capacity",
            WalOptions {
                segment_capacity: 0,
                max_record_payload: 0,
                ..small_options(8192)
            },
        ),
    ] {
        let dir = tempfile::tempdir().expect("temp dir");
        match Wal::open(dir.path(), options) {
            Err(Error::InvalidOptions(_)) => {}
            other => panic!(
                "{name}: expected InvalidOptions, got {:?}",
                other.map(|(_, r)| r)
            ),
        }
    }
}

#[test]
fn an_empty_batch_is_a_no_op() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (wal, _) = Wal::open(dir.path(), small_options(8192)).expect("open");
    commit_entries(&wal, &[(1, payload_bytes(1, 3))]).expect("commit");
    let receipt = wal.commit(&[]).expect("empty batch");
    assert!(receipt.locations.is_empty());
    assert_eq!(wal.last_seq(), Seq(1));
    assert_eq!(
        commit_entries(&wal, &[(1, payload_bytes(2, 3))])
            .expect("commit")
            .first_seq,
        Seq(2)
    );
}

#[test]
fn normal_mode_makes_commits_durable_within_its_interval() {
    let dir = tempfile::tempdir().expect("temp dir");
    let options = WalOptions {
        sync_mode: SyncMode::Normal,
        normal_sync_interval: Duration::from_millis(20),
        normal_sync_commits: 1_000_000,
        ..small_options(64 << 10)
    };
    let (wal, _) = Wal::open(dir.path(), options).expect("open");
    let receipt = commit_entries(&wal, &[(1, payload_bytes(1, 10))]).expect("commit");
    let started = Instant::now();
    while wal.durable_seq() < receipt.first_seq {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "the background syncer never synced"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    println!("durable after {:?}", started.elapsed());
}

#[test]
fn normal_mode_syncs_after_its_commit_count() {
    let dir = tempfile::tempdir().expect("temp dir");
    let options = WalOptions {
        sync_mode: SyncMode::Normal,
        normal_sync_interval: Duration::from_secs(3600),
        normal_sync_commits: 10,
        ..small_options(64 << 10)
    };
    let (wal, _) = Wal::open(dir.path(), options).expect("open");
    for i in 0..25 {
        commit_entries(&wal, &[(1, payload_bytes(i, 10))]).expect("commit");
    }
    let started = Instant::now();
    while wal.durable_seq() < Seq(20) {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "no sync after 25 commits with normal_sync_commits = 10"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
}

#[test]
fn checkpoint_mode_is_durable_only_after_sync() {
    let dir = tempfile::tempdir().expect("temp dir");
    let options = WalOptions {
        sync_mode: SyncMode::Checkpoint,
        ..small_options(64 << 10)
    };
    let (wal, _) = Wal::open(dir.path(), options).expect("open");
    for i in 0..5 {
        commit_entries(&wal, &[(1, payload_bytes(i, 10))]).expect("commit");
    }
    assert_eq!(wal.last_seq(), Seq(5));
    assert!(
        wal.durable_seq() < Seq(5),
        "Checkpoint mode does not sync on commit: {:?}",
        wal.durable_seq()
    );
    wal.sync().expect("sync");
    assert_eq!(wal.durable_seq(), Seq(5));
}
