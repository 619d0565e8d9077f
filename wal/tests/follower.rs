//! `LogFollower` on a live log in the same process: it sees exactly the committed
//! batches, in order, never part of a batch, across segment rolls (also while a writer
//! thread is appending batches that span segments), and reports `SegmentGone` when the
//! writer retired a segment it still needed.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use alexdb_wal::{Error, Frame, LogFollower, Seq, Wal, WalOptions};
use common::*;

fn options() -> WalOptions {
    WalOptions {
        max_record_payload: 1024,
        ..small_options(4096)
    }
}

fn poll_all(follower: &mut LogFollower) -> alexdb_wal::Result<(Vec<Rec>, Seq)> {
    let mut records = Vec::new();
    let last = follower.poll(&mut |record| {
        records.push(Rec::from_ref(&record));
        Ok(())
    })?;
    Ok((records, last))
}

#[test]
fn a_follower_sees_exactly_the_committed_batches_across_rolls() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (wal, _) = Wal::open(dir.path(), options()).expect("open");
    let mut follower = LogFollower::open(dir.path(), Seq(1)).expect("follower");
    let (seen, _) = poll_all(&mut follower).expect("poll an empty log");
    assert!(seen.is_empty());
    let mut next = 1u64;
    // The first batch, committed after the follower opened on an empty log.
    commit_entries(&wal, &seq_entries(next, 1)).expect("commit");
    next += 1;
    let (seen, last) = poll_all(&mut follower).expect("poll");
    assert_eq!(
        seen.iter().map(|r| r.seq).collect::<Vec<_>>(),
        vec![1],
        "the first batch is seen"
    );
    assert_eq!(last, Seq(1));
    let mut all_seen = seen;
    for round in 0..40u64 {
        let batches = 1 + round % 3;
        for b in 0..batches {
            let count = 1 + (round + b) % 4;
            commit_entries(&wal, &seq_entries(next, count)).expect("commit");
            next += count;
        }
        if round % 7 == 3 {
            wal.roll().expect("roll");
        }
        let (seen, last) = poll_all(&mut follower).expect("poll");
        assert_eq!(
            seen.first().map(|r| r.seq),
            Some(all_seen.len() as u64 + 1),
            "round {round}: continues where it left"
        );
        assert_eq!(
            last,
            Seq(next - 1),
            "round {round}: poll returns the last seq visited"
        );
        for record in &seen {
            assert_eq!(
                (record.tag, &record.payload),
                (tag_for_seq(record.seq), &payload_for_seq(record.seq))
            );
        }
        let (again, _) = poll_all(&mut follower).expect("poll again");
        assert!(
            again.is_empty(),
            "round {round}: nothing new, nothing visited"
        );
        all_seen.extend(seen);
    }
    assert_eq!(all_seen.len() as u64, next - 1);
    assert!(
        wal.active_segment_id().0 >= 4,
        "the follower crossed several rolls"
    );
    // Records it visited can be read through the segments it opened.
    let last = all_seen.last().expect("not empty");
    let segment = follower
        .segment(last.location.segment_id)
        .expect("the follower has the active segment open");
    assert_eq!(
        Rec::from_ref(&segment.record_at(last.location.offset).expect("record")),
        *last
    );
    batches_of(&all_seen, false);
}

#[test]
fn a_follower_started_later_begins_at_its_from_seq() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (wal, _) = Wal::open(dir.path(), options()).expect("open");
    let mut next = 1;
    for count in [1u64, 3, 2, 4, 1, 2, 5, 1, 3] {
        commit_entries(&wal, &seq_entries(next, count)).expect("commit");
        next += count;
    }
    let from = 8;
    let mut follower = LogFollower::open(dir.path(), Seq(from)).expect("follower");
    let (seen, last) = poll_all(&mut follower).expect("poll");
    assert_eq!(seen.first().map(|r| r.seq), Some(from));
    assert_eq!(
        seen.iter().map(|r| r.seq).collect::<Vec<_>>(),
        (from..next).collect::<Vec<_>>()
    );
    assert_eq!(last, Seq(next - 1));
}

/// A writer thread commits batches (some larger than a segment) as fast as it can; the
/// follower polls concurrently. Every poll must end on a batch boundary and the union
/// must be the whole log, in order.
#[test]
fn a_follower_never_sees_part_of_a_batch_while_the_writer_appends() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (wal, _) = Wal::open(
        dir.path(),
        WalOptions {
            max_record_payload: 1024,
            ..small_options(8192)
        },
    )
    .expect("open");
    let wal = Arc::new(wal);
    let done = Arc::new(AtomicBool::new(false));
    let writer = {
        let (wal, done) = (Arc::clone(&wal), Arc::clone(&done));
        std::thread::spawn(move || {
            let mut next = 1u64;
            for i in 0..3000u64 {
                // Mostly small batches; every 50th is 12 records (> one 8 KiB segment
                // with the larger payloads) so it must span segments.
                let count = if i % 50 == 49 { 12 } else { 1 + i % 4 };
                commit_entries(&wal, &seq_entries(next, count)).expect("commit");
                next += count;
            }
            done.store(true, Ordering::SeqCst);
            next - 1
        })
    };
    let last_written = with_deadline(
        Duration::from_secs(60),
        "follower racing a writer",
        move || {
            let mut follower = LogFollower::open(dir.path(), Seq(1)).expect("follower");
            let mut seen: Vec<Rec> = Vec::new();
            let mut polls = 0u64;
            loop {
                let finished = done.load(Ordering::SeqCst);
                let (batch, _) = poll_all(&mut follower).expect("poll");
                polls += 1;
                if let Some(last) = batch.last() {
                    assert!(
                        matches!(last.frame, Frame::Full | Frame::Last),
                        "poll {polls} ended inside a batch at seq {} ({:?})",
                        last.seq,
                        last.frame
                    );
                }
                for (index, record) in batch.iter().enumerate() {
                    assert_eq!(
                        record.seq,
                        (seen.len() + index) as u64 + 1,
                        "poll {polls}: contiguous"
                    );
                    assert_eq!(
                        record.payload,
                        payload_for_seq(record.seq),
                        "seq {}",
                        record.seq
                    );
                }
                seen.extend(batch);
                if finished {
                    break;
                }
            }
            batches_of(&seen, false);
            println!("{polls} polls, {} records", seen.len());
            (seen.len() as u64, dir)
        },
    );
    let written = writer.join().expect("writer");
    assert_eq!(
        last_written.0, written,
        "after the writer finished, one more poll saw everything"
    );
}

#[test]
fn retiring_a_segment_the_follower_has_not_read_gives_segment_gone() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (wal, _) = Wal::open(dir.path(), options()).expect("open");
    commit_entries(&wal, &seq_entries(1, 2)).expect("commit");
    // Opened while only segment 1 exists, so it cannot have mapped the later ones.
    let mut follower = LogFollower::open(dir.path(), Seq(1)).expect("follower");
    let mut next = 3;
    for _ in 0..3 {
        wal.roll().expect("roll");
        commit_entries(&wal, &seq_entries(next, 2)).expect("commit");
        next += 2;
    }
    next -= 2;
    let retired = wal.retire_below(Seq(next)).expect("retire");
    assert_eq!(
        retired.len(),
        3,
        "segments 1..=3 hold only seqs below {next}: {retired:?}"
    );
    match poll_all(&mut follower) {
        // The follower cannot know which ids were retired (log and standalone segments
        // share one id space), so the id it names is not checked.
        Err(Error::SegmentGone(id)) => println!("SegmentGone({id:?}); retired {retired:?}"),
        Ok((seen, _)) => panic!(
            "a follower that needed retired segments polled Ok: seqs {:?}",
            seen.iter().map(|r| r.seq).collect::<Vec<_>>()
        ),
        Err(other) => panic!("expected SegmentGone, got {other:?}"),
    }
}

#[test]
fn a_follower_past_the_retired_segments_is_unaffected() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (wal, _) = Wal::open(dir.path(), options()).expect("open");
    let mut next = 1;
    for _ in 0..3 {
        commit_entries(&wal, &seq_entries(next, 2)).expect("commit");
        next += 2;
        wal.roll().expect("roll");
    }
    commit_entries(&wal, &seq_entries(next, 2)).expect("commit");
    let mut follower = LogFollower::open(dir.path(), Seq(1)).expect("follower");
    let (seen, _) = poll_all(&mut follower).expect("poll");
    assert_eq!(seen.len() as u64, next + 1);
    wal.retire_below(Seq(next)).expect("retire");
    commit_entries(&wal, &seq_entries(next + 2, 3)).expect("commit");
    let (seen, last) = poll_all(&mut follower).expect("poll after retire of segments already read");
    assert_eq!(
        seen.iter().map(|r| r.seq).collect::<Vec<_>>(),
        vec![next + 2, next + 3, next + 4]
    );
    assert_eq!(last, Seq(next + 4));
}

#[test]
fn a_damaged_record_in_a_sealed_segment_is_an_error_not_a_skip() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (wal, _) = Wal::open(dir.path(), options()).expect("open");
    commit_entries(&wal, &seq_entries(1, 3)).expect("commit");
    let damaged = commit_entries(&wal, &seq_entries(4, 1))
        .expect("commit")
        .locations[0];
    commit_entries(&wal, &seq_entries(5, 1)).expect("commit");
    wal.roll().expect("roll");
    commit_entries(&wal, &seq_entries(6, 1)).expect("commit");
    // Flip a byte inside the record of seq 4, in the sealed first segment.
    let first = segment_path(dir.path(), damaged.segment_id.0);
    let mut bytes = std::fs::read(&first).expect("read");
    bytes[damaged.offset as usize + 30] ^= 0xFF;
    std::fs::write(&first, &bytes).expect("write");
    // Both segments are listed when the follower opens, so a sequence gap between them
    // would pass as retired segments: only the damage itself can stop it.
    let mut follower = LogFollower::open(dir.path(), Seq(1)).expect("follower");
    match poll_all(&mut follower) {
        Err(Error::Corruption { path, offset, .. }) => {
            assert_eq!((path, offset), (first, damaged.offset));
        }
        other => panic!("expected Corruption, got {other:?}"),
    }
}
