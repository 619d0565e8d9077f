//! Damage that is not a torn tail: garbage after the last record, a broken record
//! followed by valid ones (typed `Error::Corruption` naming the file and offset, or
//! skipped and reported in `RecoveryMode::Salvage`), foreign files, unknown format
//! versions, garbage offsets handed to `record_at` — and a property test that random
//! bytes written over random ranges never make `open` panic.

mod common;

use std::path::Path;

use alexdb_wal::{Error, RecoveryMode, Segment, Seq, Wal, WalOptions, inspect};
use common::*;
use proptest::prelude::*;
use rand::{Rng, SeedableRng};

fn overwrite(path: &Path, offset: u64, bytes: &[u8]) {
    let mut file = std::fs::read(path).expect("read file");
    file[offset as usize..offset as usize + bytes.len()].copy_from_slice(bytes);
    std::fs::write(path, file).expect("write file");
}

#[test]
fn random_garbage_after_the_last_record_is_a_clean_stop() {
    let built = build_log(small_options(8192), &five_batches());
    let end = built.records.last().expect("not empty").end();
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x6a7b);
    for len in [1usize, 3, 8, 17, 64, 500, (8192 - end) as usize] {
        for round in 0..4 {
            let dir = restore(&built.snapshot);
            let garbage: Vec<u8> = (0..len).map(|_| rng.r#gen::<u8>() | 1).collect();
            overwrite(&segment_path(dir.path(), 1), end, &garbage);
            let (wal, report) = Wal::open(dir.path(), built.options.clone())
                .unwrap_or_else(|e| panic!("{len} garbage bytes (round {round}): {e}"));
            assert_eq!(
                logical(&scan_all(&wal).expect("scan")),
                built.prefix(5),
                "{len} garbage bytes"
            );
            assert!(
                report.bytes_truncated > 0,
                "{len} garbage bytes were truncated and reported: {report:?}"
            );
            assert_eq!(
                report.truncated_at.map(|l| l.offset),
                Some(end),
                "{len} garbage bytes: {report:?}"
            );
            let receipt = commit_entries(&wal, &[(1, payload_bytes(5, 5))])
                .expect("commit after the garbage");
            assert_eq!(receipt.first_seq, Seq(11));
            drop(wal);
            let (wal, report) = Wal::open(dir.path(), built.options.clone()).expect("reopen");
            assert_eq!(
                scan_all(&wal).expect("scan").len(),
                11,
                "{len} garbage bytes: the new record is there"
            );
            assert_eq!(report.bytes_truncated, 0, "{report:?}");
        }
    }
}

#[test]
fn a_zero_filled_preallocated_tail_is_clean() {
    let built = build_log(small_options(8192), &five_batches());
    let dir = restore(&built.snapshot);
    let end = built.records.last().expect("not empty").end();
    let file = std::fs::read(segment_path(dir.path(), 1)).expect("read");
    assert_eq!(
        file.len(),
        8192,
        "segments are preallocated to their capacity"
    );
    assert!(
        file[end as usize..].iter().all(|&b| b == 0),
        "the unwritten tail is zero"
    );
    let (wal, report) = Wal::open(dir.path(), built.options.clone()).expect("reopen");
    assert_eq!(logical(&scan_all(&wal).expect("scan")), built.prefix(5));
    assert_eq!(
        (report.bytes_truncated, report.truncated_at),
        (0, None),
        "{report:?}"
    );
}

#[test]
fn damage_in_the_middle_is_a_typed_corruption_error_with_path_and_offset() {
    let built = build_log(small_options(8192), &five_batches());
    for (batch, index) in [(0, 0), (1, 0), (1, 1), (1, 2), (2, 0), (3, 1)] {
        let record = &built.batches[batch][index];
        // Damage the last byte of the record's payload (or its header if empty).
        let offset = if record.payload.is_empty() {
            record.location.offset + 4
        } else {
            record.end() - 1
        };
        for corrupt in [0x00u8, 0xFF, 0x5A] {
            let dir = restore(&built.snapshot);
            let path = segment_path(dir.path(), 1);
            let mut file = std::fs::read(&path).expect("read");
            // Bytes beyond the payload are padding; find the payload's last byte instead.
            let target = (record.location.offset..record.end())
                .rev()
                .find(|&o| record.payload.last() == Some(&file[o as usize]))
                .unwrap_or(offset);
            if file[target as usize] == corrupt {
                continue;
            }
            file[target as usize] = corrupt;
            std::fs::write(&path, file).expect("write");
            match Wal::open(dir.path(), built.options.clone()) {
                Err(Error::Corruption {
                    path: reported,
                    offset: at,
                    reason,
                }) => {
                    assert_eq!(reported, path, "the damaged file is named");
                    assert_eq!(
                        at, record.location.offset,
                        "the damaged record's offset is named ({reason})"
                    );
                }
                Err(other) => {
                    panic!("batch {batch} record {index}: expected Corruption, got {other:?}")
                }
                Ok((wal, report)) => panic!(
                    "batch {batch} record {index}: damage before valid records was accepted: {} records, {report:?}",
                    scan_all(&wal).map(|r| r.len()).unwrap_or(0)
                ),
            }
            // inspect() applies the same rules without repairing anything.
            assert!(
                matches!(inspect(dir.path()), Err(Error::Corruption { .. })),
                "inspect agrees"
            );
        }
    }
}

#[test]
fn a_torn_end_of_a_sealed_segment_is_corruption_because_later_segments_follow() {
    let specs: Vec<BatchSpec> = (0..30u64)
        .map(|i| vec![(i as u8, payload_bytes(i, 200))])
        .collect();
    let built = build_log(small_options(2048), &specs);
    let first_segment_last = built
        .records
        .iter()
        .rfind(|r| r.location.segment_id.0 == 1)
        .expect("records in segment 1");
    assert!(
        built
            .records
            .last()
            .expect("not empty")
            .location
            .segment_id
            .0
            > 1,
        "several segments"
    );
    for cut in [Cut::ZeroFill, Cut::SetLen] {
        let dir = restore(&built.snapshot);
        let path = segment_path(dir.path(), 1);
        apply_cut(&path, first_segment_last.location.offset + 3, cut);
        match Wal::open(dir.path(), built.options.clone()) {
            Err(Error::Corruption {
                path: reported,
                offset,
                ..
            }) => {
                assert_eq!(reported, path, "{cut:?}");
                // The record start, or (for a short file) where the file ends inside it.
                assert!(
                    (first_segment_last.location.offset..first_segment_last.end())
                        .contains(&offset),
                    "{cut:?}: offset {offset} is not in the damaged record {:?}",
                    first_segment_last.location
                );
            }
            Err(other) => panic!("{cut:?}: expected Corruption, got {other:?}"),
            Ok((wal, report)) => panic!(
                "{cut:?}: a hole in a sealed segment was accepted: {} records of {}, {report:?}",
                scan_all(&wal).map(|r| r.len()).unwrap_or(0),
                built.records.len()
            ),
        }
    }
}

/// `Wal::retire` may remove any sealed segment (compaction retires victims from the
/// middle of the log), so a log whose middle segment file is missing is a legal state
/// the log cannot tell from a lost file: it has no record of what was retired (the
/// engine's manifest does). What the log must do is stay consistent: the remaining
/// records, in order, with the gap, and new commits continuing after the highest seq.
#[test]
fn a_log_with_a_retired_middle_segment_reopens_with_exactly_that_gap() {
    let specs: Vec<BatchSpec> = (0..30u64)
        .map(|i| vec![(i as u8, payload_bytes(i, 200))])
        .collect();
    let built = build_log(small_options(2048), &specs);
    let dir = restore(&built.snapshot);
    let (wal, _) = Wal::open(dir.path(), built.options.clone()).expect("open");
    wal.retire(&[alexdb_wal::SegmentId(2)])
        .expect("retire a middle segment");
    assert!(!segment_path(dir.path(), 2).exists());
    assert!(wal.segment(alexdb_wal::SegmentId(2)).is_none());
    let expected: Vec<Logical> = built
        .records
        .iter()
        .filter(|r| r.location.segment_id.0 != 2)
        .map(Rec::logical)
        .collect();
    assert_eq!(logical(&scan_all(&wal).expect("scan")), expected);
    drop(wal);
    let (wal, report) = Wal::open(dir.path(), built.options.clone()).expect("reopen");
    assert_eq!(logical(&scan_all(&wal).expect("scan")), expected);
    assert_eq!(report.last_seq, Seq(30), "{report:?}");
    assert_eq!(
        commit_entries(&wal, &[(1, payload_bytes(1, 1))])
            .expect("commit")
            .first_seq,
        Seq(31)
    );
}

#[test]
fn salvage_keeps_the_later_records_and_reports_the_skip() {
    let built = build_log(small_options(8192), &five_batches());
    // Batch 3 is a single record: damage its payload.
    let damaged = &built.batches[2][0];
    let dir = restore(&built.snapshot);
    let path = segment_path(dir.path(), 1);
    let file = std::fs::read(&path).expect("read");
    let payload_at = (damaged.location.offset..damaged.end())
        .find(|&o| file[o as usize] == damaged.payload[0])
        .expect("payload byte is in the record");
    overwrite(&path, payload_at, &[damaged.payload[0] ^ 0x10]);

    assert!(
        matches!(
            Wal::open(dir.path(), built.options.clone()),
            Err(Error::Corruption { .. })
        ),
        "strict mode refuses"
    );
    let options = WalOptions {
        recovery_mode: RecoveryMode::Salvage,
        ..built.options.clone()
    };
    let (wal, report) = Wal::open(dir.path(), options.clone()).expect("salvage opens");
    let mut expected = built.prefix(2);
    expected.extend(built.batches[3..].iter().flatten().map(Rec::logical));
    assert_eq!(
        logical(&scan_all(&wal).expect("scan")),
        expected,
        "every record but the damaged one"
    );
    assert_eq!(report.skipped.len(), 1, "one damaged range: {report:?}");
    assert_eq!(report.skipped[0].0, damaged.location, "{report:?}");
    assert!(
        report.skipped[0].1 >= damaged.stored_len,
        "the skipped range covers the record: {report:?}"
    );
    // Salvage must not lose the tail either: the log keeps working.
    let receipt = commit_entries(&wal, &[(3, payload_bytes(3, 3))]).expect("commit after salvage");
    assert_eq!(receipt.first_seq, Seq(11));
}

#[test]
fn a_foreign_file_named_like_a_segment_is_not_a_segment() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = segment_path(dir.path(), 1);
    let mut foreign = b"This is a text file, not an alexdb segment.\n".repeat(200);
    foreign.truncate(8192);
    std::fs::write(&path, &foreign).expect("write");
    match Wal::open(dir.path(), small_options(8192)) {
        Err(Error::NotASegment { path: reported }) => assert_eq!(reported, path),
        other => panic!(
            "expected NotASegment, got {:?}",
            other.map(|(_, report)| report)
        ),
    }
    assert!(
        matches!(Segment::open(&path), Err(Error::NotASegment { .. })),
        "Segment::open agrees"
    );
    assert_eq!(
        std::fs::read(&path).expect("read"),
        foreign,
        "the foreign file was left alone"
    );
}

#[test]
fn files_that_are_not_log_segments_are_ignored() {
    let built = build_log(small_options(8192), &five_batches());
    let dir = restore(&built.snapshot);
    std::fs::write(dir.path().join("notes.txt"), b"hello").expect("write");
    std::fs::write(
        dir.path().join("00000000000000000007.seg"),
        b"a standalone output",
    )
    .expect("write");
    let (wal, _) = Wal::open(dir.path(), built.options.clone()).expect("open");
    assert_eq!(logical(&scan_all(&wal).expect("scan")), built.prefix(5));
    // The id allocator respects the highest `{id:020}.*` file, whatever its extension.
    assert!(wal.allocate_segment_id().0 > 7, "ids are never reused");
}

/// The segment header layout documented in docs/FORMAT.md (and the module docs of
/// `wal/src/format.rs`): magic at 0..8, format version (u32 LE) at 8..12, header CRC32
/// (LE) at 60..64 over bytes 0..60. The test first checks that the untouched header's
/// CRC matches this layout (so a layout change fails loudly instead of testing nothing),
/// then bumps the version and recomputes the CRC so only the version is "wrong".
#[test]
fn a_segment_with_a_newer_format_version_is_unsupported() {
    const VERSION: std::ops::Range<usize> = 8..12;
    const CRC: std::ops::Range<usize> = 60..64;
    const CRC_COVERS: std::ops::Range<usize> = 0..60;
    let built = build_log(small_options(8192), &five_batches());
    let dir = restore(&built.snapshot);
    let path = segment_path(dir.path(), 1);
    let mut file = std::fs::read(&path).expect("read");
    let stored_crc = u32::from_le_bytes(file[CRC].try_into().expect("4 bytes"));
    assert_eq!(
        crc32fast::hash(&file[CRC_COVERS]),
        stored_crc,
        "the header layout is as documented in docs/FORMAT.md"
    );
    let version = u32::from_le_bytes(file[VERSION].try_into().expect("4 bytes"));
    file[VERSION].copy_from_slice(&(version + 1).to_le_bytes());
    let crc = crc32fast::hash(&file[CRC_COVERS]);
    file[CRC].copy_from_slice(&crc.to_le_bytes());
    std::fs::write(&path, &file).expect("write");
    match Wal::open(dir.path(), built.options.clone()) {
        Err(Error::UnsupportedVersion {
            path: reported,
            found,
            supported,
        }) => {
            assert_eq!(reported, path);
            assert_eq!((found, supported), (version + 1, version));
        }
        other => panic!(
            "expected UnsupportedVersion, got {:?}",
            other.map(|(_, report)| report)
        ),
    }
    assert!(
        matches!(Segment::open(&path), Err(Error::UnsupportedVersion { .. })),
        "Segment::open agrees"
    );
    assert!(
        matches!(inspect(dir.path()), Err(Error::UnsupportedVersion { .. })),
        "inspect agrees"
    );
}

#[test]
fn garbage_offsets_give_bad_location_never_a_panic() {
    let built = build_log(small_options(8192), &five_batches());
    let dir = restore(&built.snapshot);
    let (wal, _) = Wal::open(dir.path(), built.options.clone()).expect("open");
    let segment = wal
        .segment(alexdb_wal::SegmentId(1))
        .expect("segment 1 is live");
    let starts: Vec<u64> = built.records.iter().map(|r| r.location.offset).collect();
    for offset in (0..9000u64).chain([u64::MAX, u64::MAX - 7, 1 << 40]) {
        let plain = segment.record_at(offset);
        let verified = segment.record_at_verified(offset);
        if let Some(index) = starts.iter().position(|&s| s == offset) {
            let record = plain.expect("a record starts here");
            assert_eq!(Rec::from_ref(&record), built.records[index]);
            assert_eq!(
                Rec::from_ref(&verified.expect("and verifies")),
                built.records[index]
            );
        } else {
            // Without CRC verification, an offset inside a record may look like one; the
            // verified read must refuse everything that is not a record start.
            assert!(
                matches!(
                    verified,
                    Err(Error::BadLocation { .. } | Error::Corruption { .. })
                ),
                "offset {offset}: {:?}",
                verified.map(|r| r.seq)
            );
        }
    }
    assert!(wal.segment(alexdb_wal::SegmentId(99)).is_none());
}

#[test]
fn inspect_reports_a_torn_tail_without_repairing_it() {
    let built = build_log(small_options(8192), &five_batches());
    let dir = restore(&built.snapshot);
    let path = segment_path(dir.path(), 1);
    let last = built.records.last().expect("not empty");
    apply_cut(&path, last.end() - 2, Cut::ZeroFill);
    let before = std::fs::read(&path).expect("read");
    let report = inspect(dir.path()).expect("inspect");
    assert_eq!(report.last_seq, Seq(7), "{report:?}");
    assert_eq!(
        report.truncated_at,
        Some(built.batches[4][0].location),
        "{report:?}"
    );
    assert_eq!(
        std::fs::read(&path).expect("read"),
        before,
        "inspect modifies nothing"
    );
    let (_, opened) = Wal::open(dir.path(), built.options.clone()).expect("open");
    assert_eq!(opened, report, "open repairs what inspect reported");
}

/// A log with three segments, built once per process for the property test.
fn fuzz_base() -> &'static BuiltLog {
    static BASE: std::sync::OnceLock<BuiltLog> = std::sync::OnceLock::new();
    BASE.get_or_init(|| {
        let specs: Vec<BatchSpec> = (0..14u64)
            .map(|i| {
                (0..1 + i % 3)
                    .map(|j| {
                        (
                            j as u8,
                            payload_bytes(i * 7 + j, 60 + (i * 13 % 90) as usize),
                        )
                    })
                    .collect()
            })
            .collect();
        build_log(small_options(2048), &specs)
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, failure_persistence: None, ..ProptestConfig::default() })]

    /// Random bytes over random ranges of random segment files: `open` (both modes),
    /// `inspect`, `Segment::open` + `scan` return `Ok` or `Err`, never panic; whatever
    /// an `Ok` open returns is a sequence of records from the original log.
    #[test]
    fn random_overwrites_never_panic(
        writes in prop::collection::vec((0usize..8, 0u64..2048, prop::collection::vec(any::<u8>(), 1..64)), 1..4),
        shorten in prop::option::of((0usize..8, 0u64..2048)),
    ) {
        let built = fuzz_base();
        let dir = restore(&built.snapshot);
        let ids = segment_ids_on_disk(dir.path());
        for (which, offset, bytes) in &writes {
            let path = segment_path(dir.path(), ids[which % ids.len()]);
            let mut file = std::fs::read(&path).expect("read");
            let start = (*offset as usize).min(file.len());
            let end = (start + bytes.len()).min(file.len());
            file[start..end].copy_from_slice(&bytes[..end - start]);
            std::fs::write(&path, file).expect("write");
        }
        if let Some((which, len)) = shorten {
            apply_cut(&segment_path(dir.path(), ids[which % ids.len()]), len, Cut::SetLen);
        }
        let _ = inspect(dir.path());
        for id in &ids {
            if let Ok(segment) = Segment::open(&segment_path(dir.path(), *id)) {
                let _ = segment.scan(0, &mut |_| Ok(()));
                let _ = segment.scan(segment.written_len(), &mut |_| Ok(()));
            }
        }
        let original = logical(&built.records);
        for mode in [RecoveryMode::Strict, RecoveryMode::Salvage] {
            let copy = restore(&snapshot(dir.path()));
            let options = WalOptions { recovery_mode: mode, ..built.options.clone() };
            if let Ok((wal, _)) = Wal::open(copy.path(), options)
                && let Ok(records) = scan_all(&wal)
            {
                for record in logical(&records) {
                    prop_assert!(original.contains(&record), "{mode:?}: open returned a record that was never written: seq {}", record.0);
                }
            }
        }
    }
}
