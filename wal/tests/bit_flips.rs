//! Bit flips: every bit of a small record in the middle of the log and of the last
//! record, and a seeded sample of bits everywhere else, flipped one at a time in a
//! closed log. Reopening must detect each flip — `Error::Corruption` naming the file
//! when valid records follow, a truncated tail when the flip is in the last batch —
//! and must never return altered data or panic.
//!
//! A flip that leaves the scanned contents exactly as written is accepted only in
//! bytes that carry no information: padding after a record's payload, or the segment
//! header (whose damage must then be harmless). Such flips are counted and printed.

mod common;

use alexdb_wal::{Error, Wal};
use common::*;
use rand::{Rng, SeedableRng};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Region {
    /// The segment header (before the first record).
    Header,
    /// A record of a batch that is followed by other batches.
    Middle,
    /// A record of the last batch.
    Tail,
}

/// Where the payload of `record` starts in the file: found by its bytes (payloads are
/// distinctive and nonzero), searched from the end of the record backwards.
fn payload_end(file: &[u8], record: &Rec) -> u64 {
    let bytes = &file[record.location.offset as usize..record.end() as usize];
    let len = record.payload.len();
    if len == 0 {
        return record.location.offset;
    }
    let start = (0..=bytes.len() - len)
        .rev()
        .find(|&i| bytes[i..i + len] == record.payload[..])
        .expect("the payload is stored inside its record");
    record.location.offset + (start + len) as u64
}

/// Flip bit `bit` of byte `offset` of segment `segment_id`, reopen, and judge.
/// `Ok(true)` means the flip was harmless (contents unchanged, in a padding byte).
fn check_flip(built: &BuiltLog, segment_id: u64, offset: u64, bit: u8) -> Result<bool, String> {
    let file = built.file(segment_id);
    let record = built.records.iter().find(|r| {
        r.location.segment_id.0 == segment_id && (r.location.offset..r.end()).contains(&offset)
    });
    let last_batch_start = built.batches.last().expect("not empty")[0].seq;
    let region = match record {
        None if offset < built.header_len() => Region::Header,
        None => return Err(format!("offset {offset} is not inside any record")),
        Some(r) if r.seq >= last_batch_start => Region::Tail,
        Some(_) => Region::Middle,
    };
    let in_padding = record.is_some_and(|r| offset >= payload_end(file, r));
    let context =
        format!("flip of bit {bit} at {region:?} offset {offset} of segment {segment_id}");

    let dir = restore(&built.snapshot);
    let path = segment_path(dir.path(), segment_id);
    let mut bytes = std::fs::read(&path).expect("read segment");
    bytes[offset as usize] ^= 1 << bit;
    std::fs::write(&path, &bytes).expect("write segment");

    let opened = Wal::open(dir.path(), built.options.clone());
    let everything = built.prefix(built.batches.len());
    match (region, opened) {
        (_, Ok((wal, report))) => {
            let got =
                logical(&scan_all(&wal).map_err(|e| format!("{context}: scan after open: {e}"))?);
            if got == everything && (in_padding || region == Region::Header) {
                return Ok(true);
            }
            if region == Region::Tail && got == built.prefix(built.batches.len() - 1) {
                if report.bytes_truncated == 0 {
                    return Err(format!(
                        "{context}: tail batch dropped but not reported: {report:?}"
                    ));
                }
                return Ok(false);
            }
            Err(format!(
                "{context}: open succeeded with {} records (of {}), {}: {report:?}",
                got.len(),
                everything.len(),
                if got == everything {
                    "undetected flip"
                } else {
                    "altered or lost data"
                }
            ))
        }
        (
            Region::Header,
            Err(
                Error::Corruption { .. }
                | Error::NotASegment { .. }
                | Error::UnsupportedVersion { .. },
            ),
        ) => Ok(false),
        (
            _,
            Err(Error::Corruption {
                path: reported,
                offset: at,
                ..
            }),
        ) => {
            if reported != path {
                return Err(format!(
                    "{context}: corruption reported in {reported:?}, expected {path:?}"
                ));
            }
            let record = record.expect("not the header region");
            if !(record.location.offset..record.end()).contains(&at) {
                return Err(format!(
                    "{context}: corruption reported at offset {at}, outside the damaged record {:?}",
                    record.location
                ));
            }
            Ok(false)
        }
        (_, Err(other)) => Err(format!("{context}: unexpected error {other:?}")),
    }
}

fn run_flips(built: &BuiltLog, targets: &[(u64, u64, u8)]) {
    let mut failures = Vec::new();
    let mut harmless = 0;
    for &(segment_id, offset, bit) in targets {
        match check_flip(built, segment_id, offset, bit) {
            Ok(true) => harmless += 1,
            Ok(false) => {}
            Err(failure) => failures.push(failure),
        }
    }
    println!(
        "{} flips, {harmless} harmless (padding or unused header bytes)",
        targets.len()
    );
    assert!(
        failures.is_empty(),
        "{} of {} flips mishandled; first ones:\n{}",
        failures.len(),
        targets.len(),
        failures
            .iter()
            .take(16)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}

fn every_bit_of(record: &Rec) -> Vec<(u64, u64, u8)> {
    (record.location.offset..record.end())
        .flat_map(|offset| (0..8).map(move |bit| (record.location.segment_id.0, offset, bit)))
        .collect()
}

#[test]
fn every_bit_of_a_small_record_in_the_middle_is_detected_as_corruption() {
    let built = build_log(small_options(8192), &five_batches());
    // Batch 3 is one record with a one-byte payload, followed by two batches.
    let record = &built.batches[2][0];
    assert_eq!(record.payload.len(), 1);
    run_flips(&built, &every_bit_of(record));
}

#[test]
fn every_bit_of_an_empty_record_inside_a_batch_is_detected() {
    let built = build_log(small_options(8192), &five_batches());
    // Batch 2's middle record has an empty payload.
    let record = &built.batches[1][1];
    assert!(record.payload.is_empty());
    run_flips(&built, &every_bit_of(record));
}

#[test]
fn every_bit_of_the_last_record_is_detected() {
    let built = build_log(small_options(8192), &five_batches());
    let record = built.records.last().expect("not empty");
    run_flips(&built, &every_bit_of(record));
}

#[test]
fn a_sample_of_bits_anywhere_in_the_written_region_is_detected() {
    let built = build_log(small_options(8192), &five_batches());
    let end = built.records.last().expect("not empty").end();
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x5eed_b175);
    let targets: Vec<(u64, u64, u8)> = (0..400)
        .map(|_| (1, rng.gen_range(0..end), rng.gen_range(0..8)))
        .collect();
    run_flips(&built, &targets);
}

#[test]
fn a_sample_of_bits_in_a_multi_segment_log_is_detected() {
    // Several segments: flips in sealed segments are always followed by valid records.
    let specs: Vec<BatchSpec> = (0..24u64)
        .map(|i| {
            (0..1 + i % 3)
                .map(|j| {
                    (
                        (i * 3 + j) as u8,
                        payload_bytes(i * 10 + j, (i * 37 % 250) as usize),
                    )
                })
                .collect()
        })
        .collect();
    let built = build_log(small_options(2048), &specs);
    let segments: Vec<u64> = {
        let mut ids: Vec<u64> = built
            .records
            .iter()
            .map(|r| r.location.segment_id.0)
            .collect();
        ids.dedup();
        ids
    };
    assert!(
        segments.len() >= 3,
        "the log spans several segments: {segments:?}"
    );
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x5eed_5e65);
    let targets: Vec<(u64, u64, u8)> = (0..300)
        .map(|_| {
            let record = &built.records[rng.gen_range(0..built.records.len())];
            (
                record.location.segment_id.0,
                rng.gen_range(record.location.offset..record.end()),
                rng.gen_range(0..8),
            )
        })
        .collect();
    run_flips(&built, &targets);
}
