//! Property test against a model: random batches of random entries (payloads 0..2 KiB,
//! random tags) in a log with 4 KiB segments (so batches span segments), random rolls,
//! reopens, cuts of the tail file at random offsets (both `set_len` and zero-fill),
//! and `retire_below`. After every step, `scan_from` must return exactly what the model
//! holds: the committed batches, minus retired segments, minus — after a cut — every
//! batch that does not lie entirely before the cut (and everything after it).

mod common;

use std::collections::BTreeSet;

use alexdb_wal::{Location, Seq, Wal, WalOptions};
use common::*;
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Op {
    /// Entries as (tag, payload length).
    Commit(Vec<(u8, usize)>),
    Roll,
    Reopen,
    /// Cut the highest segment file at `fraction` of its written records.
    CutTail {
        fraction: f64,
        zero_fill: bool,
    },
    /// `retire_below(fraction * (last_seq + 1))`.
    RetireBelow(f64),
}

fn op_strategy() -> impl Strategy<Value = Op> {
    let length = prop_oneof![3 => 0usize..64, 1 => 0usize..2048];
    prop_oneof![
        8 => prop::collection::vec((any::<u8>(), length), 1..6).prop_map(Op::Commit),
        1 => Just(Op::Roll),
        1 => Just(Op::Reopen),
        2 => (0.0..=1.0f64, any::<bool>()).prop_map(|(fraction, zero_fill)| Op::CutTail { fraction, zero_fill }),
        1 => (0.0..=1.0f64).prop_map(Op::RetireBelow),
    ]
}

fn options() -> WalOptions {
    WalOptions {
        max_record_payload: 2048,
        ..small_options(4096)
    }
}

/// The model: committed batches (records that were retired are removed from them).
#[derive(Default)]
struct Model {
    batches: Vec<Vec<Rec>>,
    /// Highest seq ever retired: new seqs must stay above it.
    retired_up_to: u64,
    /// Bytes before the first record of a segment, once known.
    header_len: Option<u64>,
}

impl Model {
    fn records(&self) -> Vec<Rec> {
        self.batches.iter().flatten().cloned().collect()
    }

    fn last_seq(&self) -> u64 {
        self.batches
            .iter()
            .flatten()
            .map(|r| r.seq)
            .max()
            .unwrap_or(0)
    }

    fn check(&self, wal: &Wal, step: usize) -> Result<(), TestCaseError> {
        let expected = logical(&self.records());
        let got =
            scan_all(wal).map_err(|e| TestCaseError::fail(format!("step {step}: scan: {e}")))?;
        prop_assert_eq!(
            got.iter().map(|r| r.seq).collect::<Vec<_>>(),
            expected.iter().map(|r| r.0).collect::<Vec<_>>(),
            "step {}: seqs",
            step
        );
        prop_assert!(logical(&got) == expected, "step {}: contents differ", step);
        // Locations are stable: the same records, where the receipts said.
        let locations: Vec<Location> = self.records().iter().map(|r| r.location).collect();
        prop_assert_eq!(
            got.iter().map(|r| r.location).collect::<Vec<_>>(),
            locations,
            "step {}: locations",
            step
        );
        if let Some(middle) = expected.get(expected.len() / 2) {
            let from = middle.0;
            let tail = scan_from(wal, Seq(from))
                .map_err(|e| TestCaseError::fail(format!("step {step}: scan_from: {e}")))?;
            prop_assert!(
                logical(&tail)
                    == expected
                        .iter()
                        .filter(|r| r.0 >= from)
                        .cloned()
                        .collect::<Vec<_>>(),
                "step {}: scan_from({})",
                step,
                from
            );
        }
        if !expected.is_empty() {
            prop_assert_eq!(
                wal.last_seq(),
                Seq(self.last_seq()),
                "step {}: last_seq",
                step
            );
        }
        Ok(())
    }
}

fn run(ops: Vec<Op>) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().expect("temp dir");
    let (mut wal, _) = Wal::open(dir.path(), options()).expect("open");
    let mut model = Model::default();
    let mut next_tag_seed = 0u64;
    for (step, op) in ops.into_iter().enumerate() {
        match op {
            Op::Commit(shape) => {
                let entries: Vec<(u8, Vec<u8>)> = shape
                    .iter()
                    .map(|&(tag, len)| {
                        next_tag_seed += 1;
                        (tag, payload_bytes(next_tag_seed, len))
                    })
                    .collect();
                let receipt = commit_entries(&wal, &entries)
                    .map_err(|e| TestCaseError::fail(format!("step {step}: commit: {e}")))?;
                let expected_first = if model.last_seq() == 0 {
                    prop_assert!(
                        receipt.first_seq.0 > model.retired_up_to,
                        "step {}: seq reuse after retire",
                        step
                    );
                    receipt.first_seq.0
                } else {
                    model.last_seq() + 1
                };
                prop_assert_eq!(
                    receipt.first_seq,
                    Seq(expected_first),
                    "step {}: first_seq",
                    step
                );
                // The very first record of a fresh log starts right after segment 1's header.
                model.header_len.get_or_insert(receipt.locations[0].offset);
                let mut batch = Vec::new();
                for (j, ((tag, payload), location)) in
                    entries.iter().zip(&receipt.locations).enumerate()
                {
                    let segment = wal
                        .segment(location.segment_id)
                        .expect("a receipt names a live segment");
                    let record = segment.record_at_verified(location.offset).map_err(|e| {
                        TestCaseError::fail(format!("step {step}: record_at {location:?}: {e}"))
                    })?;
                    prop_assert_eq!(record.seq, Seq(expected_first + j as u64));
                    prop_assert_eq!((record.tag, record.payload), (*tag, &payload[..]));
                    batch.push(Rec::from_ref(&record));
                }
                model.batches.push(batch);
            }
            Op::Roll => {
                let before = wal.active_segment_id();
                let active_has_records = model
                    .records()
                    .iter()
                    .any(|r| r.location.segment_id == before);
                wal.roll()
                    .map_err(|e| TestCaseError::fail(format!("step {step}: roll: {e}")))?;
                if active_has_records {
                    prop_assert!(
                        wal.active_segment_id() > before,
                        "step {}: roll starts a new segment",
                        step
                    );
                }
            }
            Op::Reopen => {
                drop(wal);
                let (reopened, report) = Wal::open(dir.path(), options())
                    .map_err(|e| TestCaseError::fail(format!("step {step}: reopen: {e}")))?;
                wal = reopened;
                prop_assert_eq!(
                    report.bytes_truncated,
                    0,
                    "step {}: a clean reopen truncates nothing: {:?}",
                    step,
                    report
                );
            }
            Op::CutTail {
                fraction,
                zero_fill,
            } => {
                let Some(header_len) = model.header_len else {
                    continue;
                };
                drop(wal);
                let tail_id = *segment_ids_on_disk(dir.path())
                    .last()
                    .expect("a log has a segment");
                let path = segment_path(dir.path(), tail_id);
                let file = std::fs::read(&path).expect("read tail");
                let written_end = model
                    .records()
                    .iter()
                    .filter(|r| r.location.segment_id.0 == tail_id)
                    .map(Rec::end)
                    .max()
                    .unwrap_or(header_len);
                let cut_at = header_len + ((written_end - header_len) as f64 * fraction) as u64;
                let cut = if zero_fill {
                    Cut::ZeroFill
                } else {
                    Cut::SetLen
                };
                // Which batches survive: a prefix of those whose records all survive.
                let survival = |certain: bool| {
                    let mut kept = 0;
                    for batch in &model.batches {
                        let whole = batch.iter().all(|r| {
                            r.location.segment_id.0 != tail_id || {
                                let (c, p) = survives_cut(&file, r, cut_at, cut);
                                if certain { c } else { p }
                            }
                        });
                        if !whole {
                            break;
                        }
                        kept += 1;
                    }
                    kept
                };
                let (certain, possible) = (survival(true), survival(false));
                apply_cut(&path, cut_at, cut);
                let (reopened, report) = Wal::open(dir.path(), options()).map_err(|e| {
                    TestCaseError::fail(format!(
                        "step {step}: reopen after {cut:?} at {cut_at} of segment {tail_id}: {e}"
                    ))
                })?;
                wal = reopened;
                let got = logical(
                    &scan_all(&wal)
                        .map_err(|e| TestCaseError::fail(format!("step {step}: scan: {e}")))?,
                );
                let prefix = |kept: usize| {
                    logical(
                        &model.batches[..kept]
                            .iter()
                            .flatten()
                            .cloned()
                            .collect::<Vec<_>>(),
                    )
                };
                let kept = if got == prefix(certain) {
                    certain
                } else if got == prefix(possible) {
                    possible
                } else {
                    return Err(TestCaseError::fail(format!(
                        "step {step}: {cut:?} at {cut_at} of segment {tail_id}: recovered seqs {:?}, expected the first {certain} batches ({:?}); report {report:?}",
                        got.iter().map(|r| r.0).collect::<Vec<_>>(),
                        prefix(certain).iter().map(|r| r.0).collect::<Vec<_>>()
                    )));
                };
                model.batches.truncate(kept);
            }
            Op::RetireBelow(fraction) => {
                let below = ((model.last_seq() + 1) as f64 * fraction) as u64;
                let active = wal.active_segment_id();
                let retired = wal.retire_below(Seq(below)).map_err(|e| {
                    TestCaseError::fail(format!("step {step}: retire_below({below}): {e}"))
                })?;
                let retired: BTreeSet<u64> = retired.iter().map(|id| id.0).collect();
                prop_assert!(
                    !retired.contains(&active.0),
                    "step {}: the active segment was retired",
                    step
                );
                let records = model.records();
                let mut segments: BTreeSet<u64> =
                    records.iter().map(|r| r.location.segment_id.0).collect();
                segments.remove(&active.0);
                for id in segments {
                    let all_below = records
                        .iter()
                        .filter(|r| r.location.segment_id.0 == id)
                        .all(|r| r.seq < below);
                    prop_assert_eq!(
                        retired.contains(&id),
                        all_below,
                        "step {}: retire_below({}) and sealed segment {}",
                        step,
                        below,
                        id
                    );
                }
                for id in &retired {
                    prop_assert!(
                        !segment_path(dir.path(), *id).exists(),
                        "step {}: segment {} file removed",
                        step,
                        id
                    );
                    prop_assert!(
                        wal.segment(alexdb_wal::SegmentId(*id)).is_none(),
                        "step {}: segment {} gone",
                        step,
                        id
                    );
                }
                let retired_max = records
                    .iter()
                    .filter(|r| retired.contains(&r.location.segment_id.0))
                    .map(|r| r.seq)
                    .max();
                model.retired_up_to = model.retired_up_to.max(retired_max.unwrap_or(0));
                for batch in &mut model.batches {
                    batch.retain(|r| !retired.contains(&r.location.segment_id.0));
                }
                model.batches.retain(|b| !b.is_empty());
            }
        }
        model.check(&wal, step)?;
    }
    drop(wal);
    let (wal, _) = Wal::open(dir.path(), options())
        .map_err(|e| TestCaseError::fail(format!("final reopen: {e}")))?;
    model.check(&wal, usize::MAX)
}

/// Cases per run: 96 by default; `WAL_MODEL_CASES=5000` for a long soak.
fn cases() -> u32 {
    std::env::var("WAL_MODEL_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(96)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn the_log_matches_the_model(ops in prop::collection::vec(op_strategy(), 1..40)) {
        run(ops)?;
    }
}
