//! Unit tests of the log as a whole: commit/read back, recovery of each torn shape,
//! group-commit hand-off, poisoning through the fault hook, follower across a roll.
//! (Black-box, byte-level and crash tests live in `wal/tests/`.)

use std::fs::OpenOptions;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use crate::format::SEGMENT_HEADER_LEN;
use crate::*;

const SMALL: u64 = 64 << 10;

fn options(sync_mode: SyncMode) -> WalOptions {
    WalOptions {
        segment_capacity: SMALL,
        max_record_payload: 4 << 10,
        sync_mode,
        ..WalOptions::default()
    }
}

fn entry(body: &[u8]) -> Entry<'_> {
    Entry {
        tag: 7,
        head: b"h:",
        body,
    }
}

fn seg_path(dir: &Path, id: u64) -> PathBuf {
    dir.join(format!("{id:020}.log"))
}

/// Every (seq, payload) in the log.
fn contents(wal: &Wal) -> Vec<(u64, Vec<u8>)> {
    let mut out = Vec::new();
    wal.scan_from(Seq(0), &mut |r| {
        out.push((r.seq.0, r.payload.to_vec()));
        Ok(())
    })
    .expect("scan");
    out
}

#[test]
fn commit_read_back_and_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (wal, report) = Wal::open(dir.path(), options(SyncMode::Full)).expect("open");
    assert_eq!(report.records, 0);
    let r1 = wal.commit(&[entry(b"one")]).expect("commit");
    let r2 = wal
        .commit(&[entry(b"two"), entry(b"three")])
        .expect("commit");
    assert_eq!(r1.first_seq, Seq(1));
    assert_eq!(r2.first_seq, Seq(2));
    assert_eq!(wal.last_seq(), Seq(3));
    assert_eq!(wal.durable_seq(), Seq(3));
    let segment = wal.segment(r2.locations[1].segment_id).expect("segment");
    let record = segment.record_at(r2.locations[1].offset).expect("record");
    assert_eq!(record.payload, b"h:three");
    assert_eq!(
        (record.seq, record.tag, record.frame),
        (Seq(3), 7, Frame::Last)
    );
    assert!(segment.record_at_verified(r1.locations[0].offset).is_ok());
    assert!(segment.record_at(3).is_err());
    assert!(segment.record_at(1 << 40).is_err());
    assert!(segment.record_at(u64::MAX - 3).is_err());
    drop(wal);
    let (wal, report) = Wal::open(dir.path(), options(SyncMode::Full)).expect("reopen");
    assert_eq!(
        (report.records, report.batches, report.last_seq),
        (3, 2, Seq(3))
    );
    assert_eq!(report.truncated_at, None);
    assert_eq!(
        wal.commit(&[entry(b"four")]).expect("commit").first_seq,
        Seq(4)
    );
    assert_eq!(contents(&wal).len(), 4);
}

#[test]
fn batches_span_segments_and_rolls() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (wal, _) = Wal::open(dir.path(), options(SyncMode::Off)).expect("open");
    let body = vec![0x5a; 1000];
    let entries: Vec<Entry<'_>> = (0..300).map(|_| entry(&body)).collect();
    let receipt = wal.commit(&entries).expect("big batch");
    assert!(wal.segments().len() >= 5, "300 KB over 64 KiB segments");
    assert_eq!(receipt.locations.len(), 300);
    for (i, location) in receipt.locations.iter().enumerate() {
        let segment = wal.segment(location.segment_id).expect("live");
        let record = segment.record_at_verified(location.offset).expect("rec");
        assert_eq!(record.seq, Seq(1 + i as u64));
    }
    wal.roll().expect("roll");
    wal.roll().expect("second roll is a no-op");
    let count = wal.segments().len();
    drop(wal);
    let (wal, report) = Wal::open(dir.path(), options(SyncMode::Off)).expect("reopen");
    assert_eq!((report.records, report.batches), (300, 1));
    assert_eq!(wal.segments().len(), count);
    assert_eq!(
        wal.commit(&[entry(b"x")]).expect("commit").first_seq,
        Seq(301)
    );
}

#[test]
fn value_too_large_and_invalid_options() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (wal, _) = Wal::open(dir.path(), options(SyncMode::Off)).expect("open");
    let big = vec![0u8; 5 << 10];
    assert!(matches!(
        wal.commit(&[entry(&big)]),
        Err(Error::ValueTooLarge { .. })
    ));
    assert!(wal.poisoned().is_none());
    let bad = WalOptions {
        segment_capacity: 4096,
        max_record_payload: 4096,
        ..WalOptions::default()
    };
    assert!(matches!(
        Wal::open(dir.path(), bad),
        Err(Error::InvalidOptions(_))
    ));
}

/// A log of batches 1..=n (batch k has k records of k bytes), Off mode, closed.
fn write_batches(dir: &Path, n: usize) -> Vec<CommitReceipt> {
    let (wal, _) = Wal::open(dir, options(SyncMode::Off)).expect("open");
    let receipts = (1..=n)
        .map(|k| {
            let body = vec![k as u8; k];
            let entries: Vec<Entry<'_>> = (0..k).map(|_| entry(&body)).collect();
            wal.commit(&entries).expect("commit")
        })
        .collect();
    wal.sync().expect("sync");
    receipts
}

fn patch(path: &Path, offset: u64, bytes: &[u8]) {
    let file = OpenOptions::new()
        .write(true)
        .open(path)
        .expect("open file");
    file.write_all_at(bytes, offset).expect("patch");
}

#[test]
fn torn_last_record_is_truncated() {
    let dir = tempfile::tempdir().expect("tempdir");
    let receipts = write_batches(dir.path(), 4);
    let last = receipts[3].locations[3];
    patch(&seg_path(dir.path(), 1), last.offset + 26, &[0xff]);
    let report = inspect(dir.path()).expect("inspect");
    assert_eq!(report.truncated_at, Some(receipts[3].locations[0]));
    let (wal, report) = Wal::open(dir.path(), options(SyncMode::Off)).expect("open");
    assert_eq!(
        (report.batches, report.records, report.last_seq),
        (3, 6, Seq(6))
    );
    assert_eq!(report.truncated_at, Some(receipts[3].locations[0]));
    assert!(report.bytes_truncated > 0);
    assert_eq!(contents(&wal).len(), 6);
    drop(wal);
    let (_, report) = Wal::open(dir.path(), options(SyncMode::Off)).expect("reopen is clean");
    assert_eq!((report.records, report.truncated_at), (6, None));
}

#[test]
fn garbage_after_last_record_is_a_clean_stop() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_batches(dir.path(), 3);
    let (wal, _) = Wal::open(dir.path(), options(SyncMode::Off)).expect("open");
    let end = wal.segments()[0].written_len();
    drop(wal);
    patch(
        &seg_path(dir.path(), 1),
        end + 40,
        &[0xde, 0xad, 0xbe, 0xef, 1, 2, 3],
    );
    let (wal, report) = Wal::open(dir.path(), options(SyncMode::Off)).expect("open");
    assert_eq!(report.records, 6);
    assert_eq!(report.truncated_at.map(|l| l.offset), Some(end));
    assert_eq!(contents(&wal).len(), 6);
}

#[test]
fn middle_damage_is_corruption_or_salvaged() {
    let dir = tempfile::tempdir().expect("tempdir");
    let receipts = write_batches(dir.path(), 4);
    let victim = receipts[1].locations[0];
    patch(&seg_path(dir.path(), 1), victim.offset + 30, &[0x99]);
    match Wal::open(dir.path(), options(SyncMode::Off)) {
        Err(Error::Corruption { offset, .. }) => assert_eq!(offset, victim.offset),
        other => panic!("expected corruption, got {other:?}"),
    }
    assert!(matches!(inspect(dir.path()), Err(Error::Corruption { .. })));
    let salvage = WalOptions {
        recovery_mode: RecoveryMode::Salvage,
        ..options(SyncMode::Off)
    };
    let (wal, report) = Wal::open(dir.path(), salvage).expect("salvage");
    assert!(!report.skipped.is_empty());
    assert_eq!(report.skipped[0].0, victim);
    let seqs: Vec<u64> = contents(&wal).iter().map(|(s, _)| *s).collect();
    assert_eq!(
        seqs,
        vec![1, 4, 5, 6, 7, 8, 9, 10],
        "batch 2 (seqs 2,3) skipped whole"
    );
}

#[test]
fn incomplete_batch_spanning_segments_is_truncated() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (wal, _) = Wal::open(dir.path(), options(SyncMode::Off)).expect("open");
    wal.commit(&[entry(b"keep")]).expect("commit");
    let body = vec![1u8; 2000];
    let entries: Vec<Entry<'_>> = (0..100).map(|_| entry(&body)).collect();
    let receipt = wal.commit(&entries).expect("spanning batch");
    let last = *receipt.locations.last().expect("locations");
    let segments_before = wal.segments().len();
    drop(wal);
    // Destroy the Last record: the batch is incomplete and spans segments.
    patch(
        &seg_path(dir.path(), last.segment_id.0),
        last.offset,
        &[0u8; 24],
    );
    let report = inspect(dir.path()).expect("inspect");
    assert_eq!(report.truncated_at, Some(receipt.locations[0]));
    assert_eq!(report.last_seq, Seq(1));
    let (wal, report) = Wal::open(dir.path(), options(SyncMode::Off)).expect("open");
    assert_eq!(
        (report.records, report.batches, report.last_seq),
        (1, 1, Seq(1))
    );
    assert!(wal.segments().len() < segments_before);
    assert_eq!(contents(&wal), vec![(1, b"h:keep".to_vec())]);
    assert_eq!(
        wal.commit(&[entry(b"next")]).expect("commit").first_seq,
        Seq(2)
    );
}

#[test]
fn foreign_and_wrong_version_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        seg_path(dir.path(), 3),
        b"hello, this is not a segment at all........................................",
    )
    .expect("write");
    assert!(matches!(
        Wal::open(dir.path(), options(SyncMode::Off)),
        Err(Error::NotASegment { .. })
    ));
    let dir = tempfile::tempdir().expect("tempdir");
    write_batches(dir.path(), 1);
    patch(&seg_path(dir.path(), 1), 8, &9u32.to_le_bytes());
    assert!(matches!(
        Wal::open(dir.path(), options(SyncMode::Off)),
        Err(Error::UnsupportedVersion { found: 9, .. })
    ));
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("00000000000000000042.snap"), b"x").expect("write");
    let (wal, _) = Wal::open(dir.path(), options(SyncMode::Off)).expect("open");
    assert_eq!(wal.active_segment_id(), SegmentId(43));
    assert_eq!(wal.allocate_segment_id(), SegmentId(44));
}

#[test]
fn retire_segments() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (wal, _) = Wal::open(dir.path(), options(SyncMode::Off)).expect("open");
    for _ in 0..3 {
        wal.commit(&[entry(b"a")]).expect("commit");
        wal.roll().expect("roll");
    }
    wal.commit(&[entry(b"b")]).expect("commit");
    let ids: Vec<SegmentId> = wal.segments().iter().map(|s| s.id()).collect();
    assert_eq!(ids.len(), 4);
    assert!(matches!(
        wal.retire(&[wal.active_segment_id()]),
        Err(Error::InvalidOptions(_))
    ));
    wal.retire(&[ids[1]]).expect("retire middle");
    assert!(!seg_path(dir.path(), ids[1].0).exists());
    assert!(matches!(wal.retire(&[ids[1]]), Err(Error::SegmentGone(_))));
    assert_eq!(wal.retire_below(Seq(2)).expect("below"), vec![ids[0]]);
    drop(wal);
    let (wal, report) = Wal::open(dir.path(), options(SyncMode::Off)).expect("reopen with a gap");
    assert_eq!((report.records, report.last_seq), (2, Seq(4)));
    assert_eq!(
        wal.commit(&[entry(b"c")]).expect("commit").first_seq,
        Seq(5)
    );
}

#[test]
fn empty_active_segment_keeps_sequence_numbers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (wal, _) = Wal::open(dir.path(), options(SyncMode::Off)).expect("open");
    wal.commit(&[entry(b"a"), entry(b"b")]).expect("commit");
    wal.roll().expect("roll");
    wal.retire_below(Seq(3)).expect("retire");
    assert_eq!(wal.segments().len(), 1);
    drop(wal);
    let (wal, report) = Wal::open(dir.path(), options(SyncMode::Off)).expect("reopen");
    assert_eq!(report.last_seq, Seq(2));
    assert_eq!(
        wal.commit(&[entry(b"c")]).expect("commit").first_seq,
        Seq(3)
    );
}

struct Recorder {
    groups: parking_lot::Mutex<Vec<Vec<(u64, usize)>>>,
}

impl Publish for Recorder {
    fn publish(&self, group: &[PublishedBatch<'_>]) {
        self.groups.lock().push(
            group
                .iter()
                .map(|b| (b.first_seq.0, b.locations.len()))
                .collect(),
        );
    }
}

#[test]
fn group_commit_publishes_every_batch_once_in_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (wal, _) = Wal::open(dir.path(), options(SyncMode::Full)).expect("open");
    let recorder = Recorder {
        groups: parking_lot::Mutex::new(Vec::new()),
    };
    std::thread::scope(|scope| {
        for t in 0..8u8 {
            let (wal, recorder) = (&wal, &recorder);
            scope.spawn(move || {
                for i in 0..50u8 {
                    let body = [t, i];
                    let receipt = wal
                        .commit_with(&[entry(&body), entry(&body)], recorder)
                        .expect("commit");
                    assert!(wal.durable_seq() >= Seq(receipt.first_seq.0 + 1));
                    assert_eq!(receipt.locations.len(), 2);
                }
            });
        }
    });
    let groups = recorder.groups.lock();
    let flat: Vec<u64> = groups.iter().flatten().map(|&(seq, _)| seq).collect();
    let expected: Vec<u64> = (0..400).map(|i| 1 + 2 * i).collect();
    assert_eq!(flat, expected, "every batch published once, in log order");
    let stats = wal.stats();
    assert_eq!(stats.batches, 400);
    assert!(stats.syncs <= 400);
    assert!(stats.max_group_size >= 1);
    // Every committer was counted in and out (gathering leaders aim at the count).
    let (committers, last_peak) = wal.committers();
    assert_eq!(committers, 0);
    assert!(last_peak <= 8, "{last_peak}");
}

#[test]
fn failed_sync_poisons_every_waiter_and_later_commit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fail = Arc::new(AtomicUsize::new(0));
    let hook_fail = Arc::clone(&fail);
    let hook: FaultHook = Arc::new(move |point| {
        if point == FaultPoint::Sync && hook_fail.load(Ordering::SeqCst) == 1 {
            std::thread::sleep(Duration::from_millis(20));
            return Err(std::io::Error::other("injected fsync failure"));
        }
        Ok(())
    });
    let opts = WalOptions {
        fault_hook: Some(hook),
        ..options(SyncMode::Full)
    };
    let (wal, _) = Wal::open(dir.path(), opts).expect("open");
    wal.commit(&[entry(b"ok")]).expect("healthy commit");
    fail.store(1, Ordering::SeqCst);
    let errors = AtomicU64::new(0);
    std::thread::scope(|scope| {
        for _ in 0..8 {
            scope.spawn(|| {
                for _ in 0..20 {
                    match wal.commit(&[entry(b"x")]) {
                        Err(Error::Poisoned { cause }) => {
                            assert!(cause.contains("injected"), "{cause}");
                            errors.fetch_add(1, Ordering::Relaxed);
                        }
                        other => panic!("expected Poisoned, got {other:?}"),
                    }
                }
            });
        }
    });
    assert_eq!(errors.load(Ordering::Relaxed), 160);
    assert_eq!(wal.committers().0, 0);
    assert!(wal.poisoned().is_some());
    assert!(matches!(wal.sync(), Err(Error::Poisoned { .. })));
    assert_eq!(wal.durable_seq(), Seq(1));
    drop(wal);
    let (_, report) = Wal::open(dir.path(), options(SyncMode::Full)).expect("reopen recovers");
    assert!(report.records >= 1);
}

#[test]
fn failed_segment_creation_poisons() {
    let dir = tempfile::tempdir().expect("tempdir");
    let armed = Arc::new(AtomicUsize::new(0));
    let hook_armed = Arc::clone(&armed);
    let hook: FaultHook = Arc::new(move |point| {
        if point == FaultPoint::CreateSegment && hook_armed.load(Ordering::SeqCst) == 1 {
            return Err(std::io::Error::other("disk full"));
        }
        Ok(())
    });
    let (wal, _) = Wal::open(
        dir.path(),
        WalOptions {
            fault_hook: Some(hook),
            ..options(SyncMode::Off)
        },
    )
    .expect("open");
    wal.commit(&[entry(b"first")]).expect("commit");
    armed.store(1, Ordering::SeqCst);
    let body = vec![3u8; 3000];
    let entries: Vec<Entry<'_>> = (0..40).map(|_| entry(&body)).collect();
    assert!(matches!(wal.commit(&entries), Err(Error::Io { .. })));
    assert!(matches!(
        wal.commit(&[entry(b"later")]),
        Err(Error::Poisoned { .. })
    ));
    drop(wal);
    let (wal, report) = Wal::open(dir.path(), options(SyncMode::Off)).expect("reopen");
    assert_eq!((report.records, report.last_seq), (1, Seq(1)));
    assert!(
        report.truncated_at.is_some(),
        "the half-written batch is truncated"
    );
    assert_eq!(contents(&wal).len(), 1);
}

#[test]
fn normal_mode_syncs_in_background() {
    let dir = tempfile::tempdir().expect("tempdir");
    let opts = WalOptions {
        normal_sync_interval: Duration::from_millis(5),
        normal_sync_commits: 10,
        ..options(SyncMode::Normal)
    };
    let (wal, _) = Wal::open(dir.path(), opts).expect("open");
    wal.commit(&[entry(b"a")]).expect("commit");
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while wal.durable_seq() < Seq(1) {
        assert!(
            std::time::Instant::now() < deadline,
            "background sync never happened"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    assert!(wal.stats().syncs >= 1);
}

#[test]
fn standalone_segment_writer() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("00000000000000000009.seg");
    let mut writer = SegmentWriter::create(&path, SegmentId(9), 4096).expect("create");
    let a = writer.append(Seq(50), 1, b"k", b"v1").expect("append");
    let b = writer.append(Seq(20), 2, b"", b"v2").expect("append");
    assert!(matches!(
        writer.append(Seq(1), 0, &[0u8; 5000], b""),
        Err(Error::ValueTooLarge { .. })
    ));
    let segment = writer.finish().expect("finish");
    assert_eq!(segment.record_at(a).expect("a").payload, b"kv1");
    assert_eq!(segment.record_at(b).expect("b").seq, Seq(20));
    assert!(path.exists());
    let reopened = Segment::open(&path).expect("open");
    assert_eq!(
        (reopened.kind(), reopened.id(), reopened.first_seq()),
        (SegmentKind::Standalone, SegmentId(9), Seq(50))
    );
    assert_eq!(reopened.written_len(), segment.written_len());
    let mut seen = 0;
    reopened
        .scan(SEGMENT_HEADER_LEN, &mut |_| {
            seen += 1;
            Ok(())
        })
        .expect("scan");
    assert_eq!(seen, 2);
    // Standalone files are ignored by the log but their ids are respected.
    let (wal, _) = Wal::open(dir.path(), options(SyncMode::Off)).expect("open");
    assert_eq!(wal.active_segment_id(), SegmentId(10));
}

#[test]
fn follower_sees_complete_batches_across_rolls() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (wal, _) = Wal::open(dir.path(), options(SyncMode::Off)).expect("open");
    let mut follower = LogFollower::open(dir.path(), Seq(1)).expect("follower");
    let mut seen = Vec::new();
    assert_eq!(
        follower
            .poll(&mut |r| {
                seen.push(r.seq.0);
                Ok(())
            })
            .expect("poll"),
        Seq(0)
    );
    wal.commit(&[entry(b"a")]).expect("commit");
    let body = vec![9u8; 1500];
    let entries: Vec<Entry<'_>> = (0..100).map(|_| entry(&body)).collect();
    wal.commit(&entries).expect("spanning batch");
    wal.roll().expect("roll");
    wal.commit(&[entry(b"z")]).expect("commit");
    let last = follower
        .poll(&mut |r| {
            seen.push(r.seq.0);
            Ok(())
        })
        .expect("poll");
    assert_eq!(last, Seq(102));
    assert_eq!(seen, (1..=102).collect::<Vec<_>>());
    // Retiring what a second follower still needs is reported.
    let mut late = LogFollower::open(dir.path(), Seq(1)).expect("late follower");
    wal.retire_below(Seq(102)).expect("retire");
    let mut ignore = |_: RecordRef<'_>| Ok(());
    let first = late.poll(&mut ignore);
    let again = LogFollower::open(dir.path(), Seq(1))
        .expect("reopen")
        .poll(&mut ignore);
    assert!(first.is_ok() || matches!(first, Err(Error::SegmentGone(_))));
    assert!(matches!(again, Err(Error::SegmentGone(_))), "{again:?}");
}

#[test]
fn follower_crosses_gaps_that_existed_when_it_opened() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (wal, _) = Wal::open(dir.path(), options(SyncMode::Off)).expect("open");
    for i in 0..4u8 {
        wal.commit(&[entry(&[i])]).expect("commit");
        wal.roll().expect("roll");
    }
    wal.commit(&[entry(b"last")]).expect("commit");
    let ids: Vec<SegmentId> = wal.segments().iter().map(|s| s.id()).collect();
    wal.retire(&[ids[1], ids[2]])
        .expect("retire the middle (as compaction does)");
    let mut follower = LogFollower::open(dir.path(), Seq(0)).expect("follower");
    let mut seen = Vec::new();
    let last = follower
        .poll(&mut |r| {
            seen.push(r.seq.0);
            Ok(())
        })
        .expect("a gap that existed at open is not SegmentGone");
    assert_eq!((seen, last), (vec![1, 4, 5], Seq(5)));
    // A segment retired after the follower listed it, before reading it, is.
    wal.commit(&[entry(b"more")]).expect("commit");
    wal.roll().expect("roll");
    wal.commit(&[entry(b"after")]).expect("commit");
    let mut fresh = LogFollower::open(dir.path(), Seq(0)).expect("follower");
    wal.retire(&[ids[3]]).expect("retire");
    let outcome = fresh.poll(&mut |_| Ok(()));
    assert!(matches!(outcome, Err(Error::SegmentGone(_))), "{outcome:?}");
}

struct PanickingPublisher;

impl Publish for PanickingPublisher {
    fn publish(&self, _group: &[PublishedBatch<'_>]) {
        panic!("index applier bug");
    }
}

/// In every mode; under `Full` the committer is also uncounted from the committers a
/// gathering leader waits for.
#[test]
fn a_panicking_publisher_poisons_the_log() {
    for mode in [SyncMode::Off, SyncMode::Full] {
        let dir = tempfile::tempdir().expect("tempdir");
        let (wal, _) = Wal::open(dir.path(), options(mode)).expect("open");
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            wal.commit_with(&[entry(b"a")], &PanickingPublisher)
        }));
        assert!(
            outcome.is_err(),
            "{mode:?}: the publisher's panic reaches its caller"
        );
        assert!(matches!(
            wal.commit(&[entry(b"b")]),
            Err(Error::Poisoned { .. })
        ));
        assert_eq!(wal.committers().0, 0, "{mode:?}");
    }
}

#[test]
fn followers_queue_behind_a_slow_leader_and_share_its_successor_sync() {
    let dir = tempfile::tempdir().expect("tempdir");
    let hook: FaultHook = Arc::new(|point| {
        if point == FaultPoint::Sync {
            std::thread::sleep(Duration::from_millis(30));
        }
        Ok(())
    });
    let opts = WalOptions {
        fault_hook: Some(hook),
        ..options(SyncMode::Full)
    };
    let (wal, _) = Wal::open(dir.path(), opts).expect("open");
    let before = wal.stats().syncs;
    std::thread::scope(|scope| {
        for t in 0..8u8 {
            let wal = &wal;
            scope.spawn(move || {
                let receipt = wal.commit(&[entry(&[t])]).expect("commit");
                assert!(
                    wal.durable_seq() >= receipt.first_seq,
                    "acknowledged only when durable"
                );
            });
        }
    });
    let stats = wal.stats();
    assert_eq!(wal.durable_seq(), Seq(8));
    assert!(
        stats.syncs - before < 8,
        "8 commits shared syncs: {stats:?}"
    );
    assert!(stats.max_group_size >= 2, "{stats:?}");
}

#[test]
fn handles_are_thread_safe() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>() {}
    send_sync::<Wal>();
    send_sync::<Segment>();
    send_sync::<Arc<Segment>>();
    send::<LogFollower>();
    send::<SegmentWriter>();
}

#[test]
fn open_sealed_refuses_damage_that_would_hide_records() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("00000000000000000003.seg");
    let mut writer = SegmentWriter::create(&path, SegmentId(3), 1 << 16).expect("create");
    let offsets: Vec<u64> = (0..3u64)
        .map(|i| {
            writer
                .append(Seq(10 + i), 1, b"key", &[i as u8; 40])
                .expect("append")
        })
        .collect();
    drop(writer.finish().expect("finish"));
    assert_eq!(
        Segment::open_sealed(&path).expect("clean").last_seq(),
        Seq(12)
    );

    // Damage the middle record: the lenient open stops before it; the sealed open
    // refuses, at its offset, because the third record follows.
    let file = OpenOptions::new()
        .write(true)
        .open(&path)
        .expect("open file");
    file.write_all_at(&[0xFF], offsets[1] + 30).expect("flip");
    assert_eq!(Segment::open(&path).expect("lenient").last_seq(), Seq(10));
    match Segment::open_sealed(&path) {
        Err(Error::Corruption { offset, .. }) => assert_eq!(offset, offsets[1]),
        other => panic!("expected Corruption, got {other:?}"),
    }

    // Damage in the last record: only zeros follow its bytes, but its own bytes are not
    // zeros, so it is refused too.
    file.write_all_at(&[1], offsets[1] + 30).expect("restore");
    file.write_all_at(&[0xFF], offsets[2] + 30).expect("flip");
    assert_eq!(Segment::open(&path).expect("lenient").last_seq(), Seq(11));
    match Segment::open_sealed(&path) {
        Err(Error::Corruption { offset, .. }) => assert_eq!(offset, offsets[2]),
        other => panic!("expected Corruption, got {other:?}"),
    }
}

/// `Segment::payload_at` (the point-read path) answers exactly where `record_at` does,
/// with the same tag and payload, at every offset of a segment — record starts, offsets
/// inside records, past the published end — and on a segment whose records were damaged
/// in place (a bad frame byte, non-zero reserved bytes, a length running past the end).
#[test]
fn payload_at_agrees_with_record_at_everywhere() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (wal, _) = Wal::open(dir.path(), options(SyncMode::Off)).expect("open");
    let bodies: Vec<Vec<u8>> = (0..40).map(|k| vec![k as u8; k * 7 % 50]).collect();
    let receipts: Vec<CommitReceipt> = bodies
        .iter()
        .map(|body| wal.commit(&[entry(body)]).expect("commit"))
        .collect();
    let id = receipts[0].locations[0].segment_id;
    let check = |segment: &Segment| {
        let end = segment.written_len() + 64;
        for offset in (0..end).chain([u64::MAX - 7, u64::MAX, 1 << 40]) {
            let lean = segment.payload_at(offset);
            let full = segment.record_at(offset).ok().map(|r| (r.tag, r.payload));
            assert_eq!(lean, full, "offset {offset}");
        }
    };
    let segment = wal.segment(id).expect("segment");
    check(&segment);
    // Damage the file under the open log: the mapping is shared, so the published
    // region now holds the damaged bytes.
    let path = seg_path(dir.path(), id.0);
    let at = |i: usize| receipts[i].locations[0].offset;
    patch(&path, at(3) + 16, &[9]); // unknown frame code
    patch(&path, at(5) + 20, &[1]); // reserved byte set
    patch(&path, at(7) + 4, &u32::MAX.to_le_bytes()); // payload length past the end
    check(&segment);
    for i in [3, 5, 7] {
        assert!(segment.payload_at(at(i)).is_none(), "damaged record {i}");
    }
    assert!(
        segment.payload_at(at(4)).is_some(),
        "records between are still read"
    );
}

/// Commits `records` records (`body` with its index in the first four bytes) to a fresh
/// log opened with `opts`, checks they took at least `min_segments` segments, syncs,
/// reopens, and returns the contents — the same before and after the reopen.
fn contents_through_sync_and_reopen(
    opts: WalOptions,
    body: &[u8],
    records: u32,
    min_segments: usize,
) -> Vec<(u64, Vec<u8>)> {
    let dir = tempfile::tempdir().expect("tempdir");
    let (wal, _) = Wal::open(dir.path(), opts.clone()).expect("open");
    for i in 0..records {
        let mut record = body.to_vec();
        record[..4].copy_from_slice(&i.to_le_bytes());
        wal.commit(&[entry(&record)]).expect("commit");
    }
    assert!(wal.segments().len() >= min_segments, "several rolls");
    let before = contents(&wal);
    assert_eq!(before.len(), records as usize);
    wal.sync().expect("sync");
    drop(wal);
    let (wal, report) = Wal::open(dir.path(), opts).expect("reopen");
    assert_eq!(report.records, u64::from(records));
    assert_eq!(contents(&wal), before);
    before
}

#[test]
fn sealed_segment_writeback_changes_no_contents() {
    // Rolls of a log in `Off` mode start the sealed segments' writeback (or not): what
    // is read back, before and after a sync and reopen, is the same either way.
    let body = vec![0xA5u8; 1000];
    let seen: Vec<_> = [true, false]
        .into_iter()
        .map(|writeback_sealed| {
            let opts = WalOptions {
                writeback_sealed,
                ..options(SyncMode::Off)
            };
            contents_through_sync_and_reopen(opts, &body, 400, 6)
        })
        .collect();
    assert_eq!(seen[0], seen[1]);
}

#[test]
fn start_writeback_checks_its_range_and_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("f");
    std::fs::write(&path, vec![1u8; 3 << 12]).expect("write");
    crate::map::start_writeback(&path, 0, 3 << 12).expect("whole file");
    crate::map::start_writeback(&path, 4096, 4096).expect("empty range");
    assert!(crate::map::start_writeback(&path, 8192, 4096).is_err());
    assert!(crate::map::start_writeback(&path, u64::MAX - 1, u64::MAX).is_err());
    assert!(crate::map::start_writeback(&dir.path().join("missing"), 0, 1).is_err());
}

/// The `VmFlags` of every mapping of `path` in this process, lowest address first.
#[cfg(target_os = "linux")]
fn vm_flags_of(path: &Path) -> Vec<String> {
    let smaps = std::fs::read_to_string("/proc/self/smaps").expect("smaps");
    let name = path.to_str().expect("utf-8 path");
    let mut flags = Vec::new();
    let mut inside = false;
    for line in smaps.lines() {
        if let Some(rest) = line.strip_prefix("VmFlags:") {
            if inside {
                flags.push(rest.trim().to_string());
            }
        } else if line.contains('-') && line.split_whitespace().count() >= 5 {
            // A mapping's header line: "start-end perms offset dev inode [path]".
            inside = line.ends_with(name);
        }
    }
    flags
}

#[cfg(target_os = "linux")]
#[test]
fn the_unwritten_part_of_the_active_segment_has_no_readahead() {
    // `advise_append_region`: the writer's segment is mapped with readahead off from its
    // append position on (`rr` in smaps), for a fresh log, after a roll and after reopen;
    // `advise_sealed` gives it back to a segment the log has left.
    let dir = tempfile::tempdir().expect("tempdir");
    let check = |wal: &Wal, when: &str| {
        let active = wal
            .segment(wal.active_segment_id())
            .expect("active segment");
        let flags = vm_flags_of(active.path());
        let last = flags
            .last()
            .unwrap_or_else(|| panic!("{when}: no mapping found"));
        assert!(
            last.split_whitespace().any(|f| f == "rr"),
            "{when}: {flags:?}"
        );
    };
    let (wal, _) = Wal::open(dir.path(), options(SyncMode::Full)).expect("open");
    check(&wal, "fresh");
    wal.commit(&[entry(b"one")]).expect("commit");
    let sealed = wal
        .segment(wal.active_segment_id())
        .expect("active segment");
    wal.roll().expect("roll");
    check(&wal, "after a roll");
    // The sealed segment is only read from now on: readahead is back on all of it.
    let flags = vm_flags_of(sealed.path());
    assert!(!flags.is_empty(), "the sealed segment stays mapped");
    assert!(
        flags
            .iter()
            .all(|f| !f.split_whitespace().any(|f| f == "rr")),
        "sealed: {flags:?}"
    );
    wal.commit(&[entry(b"two")]).expect("commit");
    drop(wal);
    let (wal, report) = Wal::open(dir.path(), options(SyncMode::Full)).expect("reopen");
    assert_eq!(report.records, 2);
    check(&wal, "reopened");
    assert_eq!(contents(&wal).len(), 2);
}

#[test]
fn huge_pages_auto_follows_the_sync_mode() {
    use SyncMode::*;
    for mode in [Full, Normal, Checkpoint, Off] {
        assert_eq!(
            HugePages::Auto.enabled(mode),
            matches!(mode, Checkpoint | Off),
            "{mode:?}"
        );
        assert!(HugePages::On.enabled(mode));
        assert!(!HugePages::Off.enabled(mode));
    }
    assert_eq!(WalOptions::default().huge_pages, HugePages::Auto);
}

#[test]
fn huge_page_mappings_change_no_contents() {
    // Segments of 4 MiB (two huge pages each) filled in `Off` mode with and without huge
    // pages: what is read back, before and after a sync and reopen, is the same.
    let body: Vec<u8> = (0..3000u32).map(|i| (i * 31 + 7) as u8).collect();
    let seen: Vec<_> = [HugePages::On, HugePages::Off]
        .into_iter()
        .map(|huge_pages| {
            let opts = WalOptions {
                segment_capacity: 4 << 20,
                huge_pages,
                ..options(SyncMode::Off)
            };
            contents_through_sync_and_reopen(opts, &body, 4000, 3)
        })
        .collect();
    assert_eq!(seen[0], seen[1]);
}

#[cfg(target_os = "linux")]
#[test]
fn the_writers_mapping_takes_huge_pages_where_asked() {
    // With huge pages the writer's segment is advised `MADV_HUGEPAGE` (`hg` in smaps)
    // and keeps readahead (no `rr`); without, the reverse — fresh, after a roll, and
    // after reopen. A kernel built without transparent huge pages refuses the advice
    // (which the log ignores), so there only the readahead half is checked.
    let thp = Path::new("/sys/kernel/mm/transparent_hugepage/enabled").exists();
    for (mode, setting) in [
        (SyncMode::Off, HugePages::Auto),
        (SyncMode::Full, HugePages::Auto),
        (SyncMode::Full, HugePages::On),
        (SyncMode::Checkpoint, HugePages::Off),
    ] {
        let huge = setting.enabled(mode);
        let dir = tempfile::tempdir().expect("tempdir");
        let opts = WalOptions {
            huge_pages: setting,
            ..options(mode)
        };
        let check = |wal: &Wal, when: &str| {
            let active = wal
                .segment(wal.active_segment_id())
                .expect("active segment");
            let flags = vm_flags_of(active.path());
            let last = flags.last().expect("the active segment is mapped");
            let has = |flag: &str| last.split_whitespace().any(|f| f == flag);
            let label = format!("{mode:?} {setting:?} {when}: {flags:?}");
            assert_eq!(has("rr"), !huge, "{label}");
            if thp {
                assert_eq!(has("hg"), huge, "{label}");
            }
        };
        let (wal, _) = Wal::open(dir.path(), opts.clone()).expect("open");
        check(&wal, "fresh");
        wal.commit(&[entry(b"one")]).expect("commit");
        wal.roll().expect("roll");
        check(&wal, "after a roll");
        drop(wal);
        let (wal, report) = Wal::open(dir.path(), opts).expect("reopen");
        assert_eq!(report.records, 1);
        check(&wal, "reopened");
    }
}
