//! Torn tails, LevelDB style: cut the last batch of a closed log at every byte offset
//! and check that reopening returns exactly the earlier batches, reports the repair,
//! and keeps working (a batch appended after the repair is there after another
//! reopen, and nothing cut comes back).
//!
//! Segment files are preallocated, so a crash can leave a tail in two shapes: a file
//! shorter than its capacity (`Cut::SetLen`) or a full-length file whose tail is zero
//! (`Cut::ZeroFill`). Both are tested at every offset.

mod common;

use alexdb_wal::{Location, SegmentId, Seq, Wal, WalOptions};
use common::*;

/// What a cut at one offset must leave: the batches that certainly survive and, if a
/// record lost only zero bytes, the batches that possibly survive (see `survives_cut`).
struct Expectation {
    certain: usize,
    possible: usize,
}

fn expectation(built: &BuiltLog, segment_id: u64, cut_at: u64, cut: Cut) -> Expectation {
    let file = built.file(segment_id);
    let mut certain = 0;
    let mut possible = 0;
    let mut certain_open = true;
    let mut possible_open = true;
    for batch in &built.batches {
        let mut batch_certain = true;
        let mut batch_possible = true;
        for record in batch {
            if record.location.segment_id.0 < segment_id {
                continue;
            }
            assert_eq!(
                record.location.segment_id.0, segment_id,
                "cuts are made in the last segment"
            );
            let (c, p) = survives_cut(file, record, cut_at, cut);
            batch_certain &= c;
            batch_possible &= p;
        }
        certain_open &= batch_certain;
        possible_open &= batch_possible;
        certain += usize::from(certain_open);
        possible += usize::from(possible_open);
    }
    Expectation { certain, possible }
}

/// Whether any nonzero byte is left on disk after the end of the first `kept` batches,
/// i.e. whether recovery has something to truncate.
fn leftover_after(dir: &std::path::Path, built: &BuiltLog, kept: usize) -> bool {
    let (end_segment, end_offset) = match built.batches[..kept].last() {
        Some(batch) => {
            let last = batch.last().expect("batches are not empty");
            (last.location.segment_id.0, last.end())
        }
        None => (built.records[0].location.segment_id.0, built.header_len()),
    };
    segment_ids_on_disk(dir).into_iter().any(|id| {
        let bytes = std::fs::read(segment_path(dir, id)).expect("read segment");
        let from = match id.cmp(&end_segment) {
            std::cmp::Ordering::Less => return false,
            std::cmp::Ordering::Equal => end_offset,
            std::cmp::Ordering::Greater => built.header_len(),
        } as usize;
        bytes
            .get(from..)
            .is_some_and(|tail| tail.iter().any(|&b| b != 0))
    })
}

/// Cut the last segment at `cut_at`, reopen, and check contents, report, and that the
/// repaired log keeps working. Returns a description of the first violation.
fn check_cut(built: &BuiltLog, cut_at: u64, cut: Cut, append_after: bool) -> Result<(), String> {
    let context = format!("cut {cut:?} at offset {cut_at}");
    let segment_id = built
        .records
        .last()
        .expect("log not empty")
        .location
        .segment_id
        .0;
    let expect = expectation(built, segment_id, cut_at, cut);
    let dir = restore(&built.snapshot);
    apply_cut(&segment_path(dir.path(), segment_id), cut_at, cut);
    let leftover_certain = leftover_after(dir.path(), built, expect.certain);
    let leftover_possible = leftover_after(dir.path(), built, expect.possible);

    let (wal, report) = Wal::open(dir.path(), built.options.clone())
        .map_err(|e| format!("{context}: reopen failed: {e}"))?;
    let got = logical(&scan_all(&wal).map_err(|e| format!("{context}: scan failed: {e}"))?);
    let (kept, leftover) = if got == built.prefix(expect.certain) {
        (expect.certain, leftover_certain)
    } else if got == built.prefix(expect.possible) {
        (expect.possible, leftover_possible)
    } else {
        return Err(format!(
            "{context}: recovered seqs {:?}, expected the first {} batches (seqs {:?})",
            got.iter().map(|r| r.0).collect::<Vec<_>>(),
            expect.certain,
            built
                .prefix(expect.certain)
                .iter()
                .map(|r| r.0)
                .collect::<Vec<_>>()
        ));
    };
    let kept_records = built.batches[..kept].iter().map(Vec::len).sum::<usize>();
    let last_seq = built.batches[..kept]
        .last()
        .map_or(0, |b| b.last().expect("not empty").seq);
    if report.records != kept_records as u64 || report.batches != kept as u64 {
        return Err(format!(
            "{context}: report counts {report:?}, kept {kept} batches of {kept_records} records"
        ));
    }
    if report.last_seq != Seq(last_seq) || wal.last_seq() != Seq(last_seq) {
        return Err(format!(
            "{context}: report {report:?} / last_seq {:?}, expected {last_seq}",
            wal.last_seq()
        ));
    }
    drop(wal);

    if leftover {
        let first_dropped = built.batches[kept][0].location;
        if report.bytes_truncated == 0 {
            return Err(format!(
                "{context}: bytes were left after the last whole batch but report says none truncated: {report:?}"
            ));
        }
        if report.truncated_at != Some(first_dropped) {
            return Err(format!(
                "{context}: truncated_at {:?}, expected the start of the first dropped batch {first_dropped:?}",
                report.truncated_at
            ));
        }
    } else if cut == Cut::ZeroFill && (report.bytes_truncated != 0 || report.truncated_at.is_some())
    {
        return Err(format!(
            "{context}: a clean zero tail was reported as truncated: {report:?}"
        ));
    }

    if append_after {
        let (wal, _) = Wal::open(dir.path(), built.options.clone())
            .map_err(|e| format!("{context}: second reopen failed: {e}"))?;
        let added = vec![
            (200u8, payload_bytes(999, 33)),
            (201u8, payload_bytes(998, 7)),
        ];
        let receipt = commit_entries(&wal, &added)
            .map_err(|e| format!("{context}: commit after repair: {e}"))?;
        if receipt.first_seq != Seq(last_seq + 1) {
            return Err(format!(
                "{context}: commit after repair got seq {:?}, expected {}",
                receipt.first_seq,
                last_seq + 1
            ));
        }
        drop(wal);
        let (wal, report) = Wal::open(dir.path(), built.options.clone())
            .map_err(|e| format!("{context}: reopen after append failed: {e}"))?;
        let got = logical(&scan_all(&wal).map_err(|e| format!("{context}: scan failed: {e}"))?);
        let mut expected = built.prefix(kept);
        expected.extend(
            added
                .into_iter()
                .enumerate()
                .map(|(i, (tag, p))| (last_seq + 1 + i as u64, tag, p)),
        );
        if got != expected {
            return Err(format!(
                "{context}: after repair + append + reopen got seqs {:?}, expected {:?}",
                got.iter().map(|r| r.0).collect::<Vec<_>>(),
                expected.iter().map(|r| r.0).collect::<Vec<_>>()
            ));
        }
        if report.bytes_truncated != 0 {
            return Err(format!(
                "{context}: a repaired log needed repair again: {report:?}"
            ));
        }
    }
    Ok(())
}

fn run_cuts(built: &BuiltLog, offsets: impl Iterator<Item = u64> + Clone, append_every: u64) {
    let mut failures = Vec::new();
    let mut tried = 0;
    for cut in [Cut::SetLen, Cut::ZeroFill] {
        for (index, offset) in offsets.clone().enumerate() {
            tried += 1;
            if let Err(failure) = check_cut(
                built,
                offset,
                cut,
                (index as u64).is_multiple_of(append_every),
            ) {
                failures.push(failure);
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {tried} cuts failed; first ones:\n{}",
        failures.len(),
        failures
            .iter()
            .take(12)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
fn cutting_the_last_batch_at_every_offset_leaves_exactly_the_earlier_batches() {
    let built = build_log(small_options(8192), &five_batches());
    let last = built.batches.last().expect("five batches");
    assert!(
        built
            .records
            .iter()
            .all(|r| r.location.segment_id == last[0].location.segment_id),
        "one segment"
    );
    let start = last[0].location.offset;
    let end = last.last().expect("not empty").end();
    run_cuts(&built, start..end, 1);
}

#[test]
fn cutting_a_single_record_last_batch_at_every_offset() {
    let mut specs = five_batches();
    specs.push(vec![(77, payload_bytes(77, 50))]);
    let built = build_log(small_options(8192), &specs);
    let last = &built.batches.last().expect("six batches")[0];
    run_cuts(&built, last.location.offset..last.end(), 1);
}

#[test]
fn a_cut_exactly_at_the_end_of_the_log_loses_nothing() {
    let built = build_log(small_options(8192), &five_batches());
    let end = built.records.last().expect("not empty").end();
    for cut in [Cut::SetLen, Cut::ZeroFill] {
        check_cut(&built, end, cut, true).unwrap_or_else(|failure| panic!("{failure}"));
        let dir = restore(&built.snapshot);
        apply_cut(&segment_path(dir.path(), 1), end, cut);
        let (wal, report) = Wal::open(dir.path(), built.options.clone()).expect("reopen");
        assert_eq!(logical(&scan_all(&wal).expect("scan")), built.prefix(5));
        assert_eq!(
            (report.bytes_truncated, report.truncated_at),
            (0, None),
            "{cut:?}: nothing to repair: {report:?}"
        );
    }
}

#[test]
fn a_clean_reopen_reports_nothing_truncated() {
    let built = build_log(small_options(8192), &five_batches());
    let dir = restore(&built.snapshot);
    for round in 0..3 {
        let (wal, report) = Wal::open(dir.path(), built.options.clone()).expect("reopen");
        assert_eq!(
            logical(&scan_all(&wal).expect("scan")),
            built.prefix(5),
            "round {round}"
        );
        assert_eq!(report.bytes_truncated, 0, "round {round}: {report:?}");
        assert_eq!(report.truncated_at, None, "round {round}: {report:?}");
        assert!(report.skipped.is_empty(), "round {round}: {report:?}");
        assert_eq!(
            (report.records, report.batches, report.last_seq),
            (10, 5, Seq(10)),
            "round {round}"
        );
    }
}

/// A log of a few small batches followed by one batch larger than a segment, so it
/// must span segments (frames First/Middle/Last).
fn spanning_log() -> BuiltLog {
    let options = WalOptions {
        max_record_payload: 1024,
        ..small_options(4096)
    };
    let mut specs: Vec<BatchSpec> = (0..4)
        .map(|i| vec![(i as u8, payload_bytes(i, 300))])
        .collect();
    specs.push(
        (0..6)
            .map(|i| (50 + i as u8, payload_bytes(50 + i, 900)))
            .collect(),
    );
    let built = build_log(options, &specs);
    let spanning = built.batches.last().expect("five batches");
    let first_segment = spanning[0].location.segment_id;
    let last_segment = spanning.last().expect("not empty").location.segment_id;
    assert!(
        last_segment > first_segment,
        "the last batch spans segments: {spanning:?}"
    );
    assert!(
        built.batches[3]
            .iter()
            .all(|r| r.location.segment_id == first_segment),
        "the batch before it is whole in the segment it starts in"
    );
    built
}

#[test]
fn a_batch_spanning_segments_torn_in_its_last_segment_is_gone_entirely() {
    let built = spanning_log();
    let spanning = built.batches.last().expect("five batches");
    let last_segment = spanning.last().expect("not empty").location.segment_id;
    let in_last: Vec<&Rec> = spanning
        .iter()
        .filter(|r| r.location.segment_id == last_segment)
        .collect();
    let start = in_last[0].location.offset;
    let end = in_last.last().expect("not empty").end();
    // Every byte of the first and last 96 bytes, a stride in between.
    let offsets =
        (start..end).filter(|&o| o < start + 96 || o + 96 >= end || (o - start).is_multiple_of(11));
    run_cuts(&built, offsets, 4);
}

#[test]
fn a_batch_whose_later_segment_file_is_missing_is_gone_entirely() {
    let built = spanning_log();
    let spanning = built.batches.last().expect("five batches");
    let last_segment = spanning.last().expect("not empty").location.segment_id.0;
    let dir = restore(&built.snapshot);
    std::fs::remove_file(segment_path(dir.path(), last_segment)).expect("remove last segment");
    // With a three-segment span, the middle segment would be whole; drop everything
    // after the segment the batch starts in, as a crash before those files existed would.
    for id in segment_ids_on_disk(dir.path()) {
        if id > spanning[0].location.segment_id.0 {
            std::fs::remove_file(segment_path(dir.path(), id)).expect("remove later segment");
        }
    }
    let (wal, report) = Wal::open(dir.path(), built.options.clone()).expect("reopen");
    assert_eq!(logical(&scan_all(&wal).expect("scan")), built.prefix(4));
    assert!(report.bytes_truncated > 0, "{report:?}");
    assert_eq!(
        report.truncated_at,
        Some(spanning[0].location),
        "{report:?}"
    );
    let receipt = commit_entries(&wal, &[(9, payload_bytes(9, 10))]).expect("commit after repair");
    assert_eq!(receipt.first_seq, Seq(built.batches[3][0].seq + 1));
    drop(wal);
    let (wal, _) = Wal::open(dir.path(), built.options.clone()).expect("reopen again");
    let mut expected = built.prefix(4);
    expected.push((receipt.first_seq.0, 9, payload_bytes(9, 10)));
    assert_eq!(
        logical(&scan_all(&wal).expect("scan")),
        expected,
        "nothing of the dropped batch came back"
    );
}

#[test]
fn the_report_names_the_segment_of_a_truncated_span() {
    let built = spanning_log();
    let spanning = built.batches.last().expect("five batches");
    let last = spanning.last().expect("not empty");
    let dir = restore(&built.snapshot);
    apply_cut(
        &segment_path(dir.path(), last.location.segment_id.0),
        last.location.offset + 1,
        Cut::ZeroFill,
    );
    let (_wal, report) = Wal::open(dir.path(), built.options.clone()).expect("reopen");
    assert_eq!(
        report.truncated_at,
        Some(Location {
            segment_id: SegmentId(spanning[0].location.segment_id.0),
            offset: spanning[0].location.offset
        }),
        "the truncated tail starts where the spanning batch starts: {report:?}"
    );
}
