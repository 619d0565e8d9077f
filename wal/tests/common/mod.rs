//! Helpers shared by the black-box tests of `alexdb-wal`: deterministic payloads, a
//! copy of everything a scan returns, directory snapshots for byte-level damage, and
//! the "which records survive a cut" rule used by the torn-tail tests and the model.
//!
//! Everything here uses only the public API of the crate; record boundaries come from
//! `RecordRef::location` and `RecordRef::stored_len`, the segment header length from the
//! offset of a segment's first record.

// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};

use alexdb_wal::{
    CommitReceipt, Entry, Frame, Location, RecordRef, Seq, SyncMode, Wal, WalOptions,
};

/// An owned copy of one record returned by a scan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rec {
    pub seq: u64,
    pub tag: u8,
    pub frame: Frame,
    pub payload: Vec<u8>,
    pub location: Location,
    pub stored_len: u64,
}

impl Rec {
    pub fn from_ref(record: &RecordRef<'_>) -> Rec {
        Rec {
            seq: record.seq.0,
            tag: record.tag,
            frame: record.frame,
            payload: record.payload.to_vec(),
            location: record.location,
            stored_len: record.stored_len,
        }
    }

    /// One past the last byte of the record in its segment file.
    pub fn end(&self) -> u64 {
        self.location.offset + self.stored_len
    }

    pub fn logical(&self) -> Logical {
        (self.seq, self.tag, self.payload.clone())
    }
}

/// What a caller can observe of a record: sequence number, tag, payload.
pub type Logical = (u64, u8, Vec<u8>);

pub fn logical(records: &[Rec]) -> Vec<Logical> {
    records.iter().map(Rec::logical).collect()
}

/// Every record of the log, in log order.
pub fn scan_all(wal: &Wal) -> alexdb_wal::Result<Vec<Rec>> {
    scan_from(wal, Seq(0))
}

pub fn scan_from(wal: &Wal, from: Seq) -> alexdb_wal::Result<Vec<Rec>> {
    let mut records = Vec::new();
    wal.scan_from(from, &mut |record| {
        records.push(Rec::from_ref(&record));
        Ok(())
    })?;
    Ok(records)
}

/// A cheap, well-mixed 64-bit hash (splitmix64), so payloads are a pure function of
/// their sequence number and tests can check any record without remembering it.
pub fn mix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// `len` bytes derived from `seed`, none of them zero (so a zero byte in a record is
/// always header or padding, never payload; see [`survives_cut`]).
pub fn payload_bytes(seed: u64, len: usize) -> Vec<u8> {
    (0..len as u64)
        .map(|i| (mix64(seed ^ (i << 40) ^ i) % 255) as u8 + 1)
        .collect()
}

/// The payload the crash and concurrency tests write at `seq`: length 0..300.
pub fn payload_for_seq(seq: u64) -> Vec<u8> {
    let len = (mix64(seq.wrapping_mul(31)) % 300) as usize;
    payload_bytes(seq, len)
}

pub fn tag_for_seq(seq: u64) -> u8 {
    (mix64(seq ^ 0xA5A5) & 0xFF) as u8
}

/// Options for tests: small segments, `SyncMode::Off` unless overridden.
pub fn small_options(segment_capacity: u64) -> WalOptions {
    WalOptions {
        segment_capacity,
        max_record_payload: segment_capacity / 2,
        sync_mode: SyncMode::Off,
        ..WalOptions::default()
    }
}

/// Commit one batch of `(tag, payload)` entries, splitting each payload into head and
/// body at a third so the two-part form of `Entry` is exercised.
pub fn commit_entries(wal: &Wal, entries: &[(u8, Vec<u8>)]) -> alexdb_wal::Result<CommitReceipt> {
    let split: Vec<Entry<'_>> = entries
        .iter()
        .map(|(tag, payload)| {
            let cut = payload.len() / 3;
            Entry {
                tag: *tag,
                head: &payload[..cut],
                body: &payload[cut..],
            }
        })
        .collect();
    wal.commit(&split)
}

/// The entries for a batch of `count` records starting at `first_seq`, per
/// [`payload_for_seq`] and [`tag_for_seq`].
pub fn seq_entries(first_seq: u64, count: u64) -> Vec<(u8, Vec<u8>)> {
    (first_seq..first_seq + count)
        .map(|seq| (tag_for_seq(seq), payload_for_seq(seq)))
        .collect()
}

pub fn segment_path(dir: &Path, id: u64) -> PathBuf {
    dir.join(format!("{id:020}.log"))
}

/// Ids of the `*.log` segment files in `dir`, ascending.
pub fn segment_ids_on_disk(dir: &Path) -> Vec<u64> {
    let mut ids: Vec<u64> = fs::read_dir(dir)
        .expect("test directory is readable")
        .filter_map(|entry| {
            let name = entry.ok()?.file_name().into_string().ok()?;
            let stem = name.strip_suffix(".log")?;
            if stem.len() == 20 {
                stem.parse().ok()
            } else {
                None
            }
        })
        .collect();
    ids.sort_unstable();
    ids
}

/// Every regular file of a directory, by name.
pub type Snapshot = Vec<(OsString, Vec<u8>)>;

pub fn snapshot(dir: &Path) -> Snapshot {
    let mut files: Snapshot = fs::read_dir(dir)
        .expect("test directory is readable")
        .filter_map(|entry| {
            let entry = entry.ok()?;
            if !entry.file_type().ok()?.is_file() {
                return None;
            }
            Some((entry.file_name(), fs::read(entry.path()).ok()?))
        })
        .collect();
    files.sort();
    files
}

/// A fresh temporary directory holding the files of `snapshot`.
pub fn restore(snapshot: &Snapshot) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("create temp dir");
    for (name, bytes) in snapshot {
        fs::write(dir.path().join(name), bytes).expect("write snapshot file");
    }
    dir
}

pub fn snapshot_file<'a>(snapshot: &'a Snapshot, name: &str) -> &'a [u8] {
    &snapshot
        .iter()
        .find(|(n, _)| n == name)
        .expect("file is in the snapshot")
        .1
}

pub fn segment_name(id: u64) -> String {
    format!("{id:020}.log")
}

/// How a test damages the tail of a preallocated file from `offset` on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cut {
    /// `set_len(offset)`: the file becomes shorter than its capacity.
    SetLen,
    /// Zero every byte from `offset` to the end of the file (length unchanged).
    ZeroFill,
}

pub fn apply_cut(path: &Path, offset: u64, cut: Cut) {
    match cut {
        Cut::SetLen => {
            let file = fs::OpenOptions::new()
                .write(true)
                .open(path)
                .expect("open segment");
            file.set_len(offset).expect("set_len");
        }
        Cut::ZeroFill => {
            let mut bytes = fs::read(path).expect("read segment");
            let from = (offset as usize).min(bytes.len());
            bytes[from..].fill(0);
            fs::write(path, bytes).expect("write segment");
        }
    }
}

/// Whether a record whose bytes in the pristine file are `file[record.offset..end]`
/// is left intact by damage starting at `cut_at`.
///
/// Returns `(certainly, possibly)`. A record wholly before the cut certainly survives.
/// A record cut only inside bytes that were zero anyway (padding, or a header ending in
/// zero bytes) is byte-for-byte unchanged after a zero-fill, so it survives that; after
/// a `set_len` it is short on disk, and whether the log treats it as whole depends on
/// whether it re-extends the file first, so either answer is accepted.
pub fn survives_cut(file: &[u8], record: &Rec, cut_at: u64, cut: Cut) -> (bool, bool) {
    if record.end() <= cut_at {
        return (true, true);
    }
    let from = cut_at.max(record.location.offset) as usize;
    let untouched = file[from..record.end() as usize].iter().all(|&b| b == 0);
    match cut {
        Cut::ZeroFill => (untouched, untouched),
        Cut::SetLen => (false, untouched),
    }
}

/// Groups records into batches by their frames. Panics if the frames do not form
/// whole batches (a `First` without `Last`, a stray `Middle`, ...), except that the
/// very first batch may start with `Middle`/`Last` when `allow_orphan_start` (the
/// log's oldest segments were retired in the middle of a batch).
pub fn batches_of(records: &[Rec], allow_orphan_start: bool) -> Vec<Vec<Rec>> {
    let mut batches: Vec<Vec<Rec>> = Vec::new();
    let mut open: Option<Vec<Rec>> = None;
    for (index, record) in records.iter().enumerate() {
        match (record.frame, open.as_mut()) {
            (Frame::Full, None) => batches.push(vec![record.clone()]),
            (Frame::First, None) => open = Some(vec![record.clone()]),
            (Frame::Middle, Some(batch)) => batch.push(record.clone()),
            (Frame::Last, Some(batch)) => {
                batch.push(record.clone());
                batches.push(open.take().expect("matched Some"));
            }
            (Frame::Middle, None) if index == 0 && allow_orphan_start => {
                open = Some(vec![record.clone()]);
            }
            (Frame::Last, None) if index == 0 && allow_orphan_start => {
                batches.push(vec![record.clone()]);
            }
            (frame, state) => panic!(
                "record seq {} has frame {frame:?} while a batch is {}: not a sequence of whole batches",
                record.seq,
                if state.is_some() { "open" } else { "closed" }
            ),
        }
    }
    assert!(
        open.is_none(),
        "the log ends inside a batch: {:?}",
        open.map(|b| b[0].seq)
    );
    batches
}

/// Runs `work` on its own thread and fails the test if it has not finished within
/// `limit` (a hang is a failure, never a stuck test run).
pub fn with_deadline<T: Send + 'static>(
    limit: std::time::Duration,
    what: &str,
    work: impl FnOnce() -> T + Send + 'static,
) -> T {
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    let handle = std::thread::spawn(move || {
        let result = work();
        let _ = done_tx.send(());
        result
    });
    match done_rx.recv_timeout(limit) {
        Ok(()) => handle
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
            // The worker panicked before sending: surface its panic.
            match handle.join() {
                Err(panic) => std::panic::resume_unwind(panic),
                Ok(_) => unreachable!("the worker sends before it returns"),
            }
        }
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
            panic!("{what} did not finish within {limit:?}: a hang")
        }
    }
}

/// One batch to commit: `(tag, payload)` per entry.
pub type BatchSpec = Vec<(u8, Vec<u8>)>;

/// Five batches, some with several entries and some with empty payloads.
pub fn five_batches() -> Vec<BatchSpec> {
    vec![
        vec![(1, payload_bytes(1, 5))],
        vec![
            (2, payload_bytes(2, 40)),
            (3, vec![]),
            (4, payload_bytes(4, 100)),
        ],
        vec![(5, payload_bytes(5, 1))],
        vec![(6, payload_bytes(6, 200)), (7, payload_bytes(7, 13))],
        vec![
            (8, payload_bytes(8, 17)),
            (9, vec![]),
            (10, payload_bytes(10, 64)),
        ],
    ]
}

/// A log written by the tests and closed again, with what a scan of it returned.
#[derive(Debug)]
pub struct BuiltLog {
    pub options: WalOptions,
    pub snapshot: Snapshot,
    /// Every record, in log order, as scanned before closing.
    pub records: Vec<Rec>,
    /// `records` grouped per committed batch (same order as the specs).
    pub batches: Vec<Vec<Rec>>,
}

impl BuiltLog {
    /// The logical contents of the first `count` batches.
    pub fn prefix(&self, count: usize) -> Vec<Logical> {
        self.batches[..count]
            .iter()
            .flatten()
            .map(Rec::logical)
            .collect()
    }

    /// Bytes before the first record of a segment (the segment header, as laid out).
    pub fn header_len(&self) -> u64 {
        self.records[0].location.offset
    }

    pub fn file(&self, id: u64) -> &[u8] {
        snapshot_file(&self.snapshot, &segment_name(id))
    }
}

/// Write `specs` as batches into a fresh log, check the receipts against a scan,
/// close the log and snapshot its directory.
pub fn build_log(options: WalOptions, specs: &[BatchSpec]) -> BuiltLog {
    let dir = tempfile::tempdir().expect("create temp dir");
    let (wal, report) = Wal::open(dir.path(), options.clone()).expect("open a fresh log");
    assert_eq!(report.records, 0, "a fresh log is empty");
    let mut receipts = Vec::new();
    for spec in specs {
        receipts.push(commit_entries(&wal, spec).expect("commit"));
    }
    let records = scan_all(&wal).expect("scan the log just written");
    drop(wal);
    let mut batches = Vec::new();
    let mut next = 0;
    for (spec, receipt) in specs.iter().zip(&receipts) {
        let batch: Vec<Rec> = records[next..next + spec.len()].to_vec();
        next += spec.len();
        assert_eq!(
            batch[0].seq, receipt.first_seq.0,
            "receipt seq matches the scan"
        );
        let locations: Vec<Location> = batch.iter().map(|r| r.location).collect();
        assert_eq!(
            locations, receipt.locations,
            "receipt locations match the scan"
        );
        for (record, (tag, payload)) in batch.iter().zip(spec) {
            assert_eq!(
                (record.tag, &record.payload),
                (*tag, payload),
                "scan returns what was written"
            );
        }
        batches.push(batch);
    }
    assert_eq!(
        next,
        records.len(),
        "the scan returns exactly the committed records"
    );
    let snapshot = snapshot(dir.path());
    BuiltLog {
        options,
        snapshot,
        records,
        batches,
    }
}
