//! Group commit under `SyncMode::Full` (invariants I-3, I-4): many threads committing
//! at once all finish (a deadline turns a hang into a failure), every returned sequence
//! number is durable when its commit returns, sequence numbers are unique and
//! contiguous, fsyncs are shared, `commit_with` publishes each batch exactly once in
//! log order before its committer returns and never concurrently, and an injected
//! fsync or write failure poisons the log: the failing commit and everyone waiting with
//! it get an error, every later commit gets `Error::Poisoned`, nothing hangs, and a
//! reopen recovers a prefix.

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use alexdb_wal::{
    CommitReceipt, Error, FaultHook, FaultPoint, Publish, PublishedBatch, Seq, SyncMode, Wal,
    WalOptions,
};
use common::*;

const DEADLINE: Duration = Duration::from_secs(150);

fn full_options() -> WalOptions {
    WalOptions {
        sync_mode: SyncMode::Full,
        ..small_options(1 << 20)
    }
}

/// Entries of thread `thread`'s `index`-th batch: 1..=3 records, payload names both.
fn thread_batch(thread: u64, index: u64) -> Vec<(u8, Vec<u8>)> {
    let count = 1 + (thread + index) % 3;
    (0..count)
        .map(|j| {
            let mut payload = format!("t{thread} i{index} j{j} ").into_bytes();
            payload.extend(payload_bytes(
                thread << 32 | index << 4 | j,
                ((thread * 7 + index) % 90) as usize,
            ));
            (thread as u8, payload)
        })
        .collect()
}

/// Checks that the receipts of all threads cover 1..=n exactly and that the log holds
/// what each thread wrote at the seqs it was given.
fn check_receipts_against_log(wal: &Wal, per_thread: &[Vec<(u64, CommitReceipt)>]) {
    let mut expected: Vec<Option<(u8, Vec<u8>)>> = Vec::new();
    for (thread, receipts) in per_thread.iter().enumerate() {
        for (index, receipt) in receipts {
            let entries = thread_batch(thread as u64, *index);
            assert_eq!(
                receipt.locations.len(),
                entries.len(),
                "one location per entry"
            );
            for (j, entry) in entries.into_iter().enumerate() {
                let seq = receipt.first_seq.0 as usize + j;
                if expected.len() <= seq {
                    expected.resize(seq + 1, None);
                }
                assert!(expected[seq].is_none(), "seq {seq} was handed out twice");
                expected[seq] = Some(entry);
            }
        }
    }
    assert!(expected[0].is_none(), "seq 0 means nothing");
    let holes: Vec<usize> = (1..expected.len())
        .filter(|&s| expected[s].is_none())
        .collect();
    assert!(
        holes.is_empty(),
        "seqs are contiguous; missing: {:?}",
        &holes[..holes.len().min(10)]
    );
    let records = scan_all(wal).expect("scan");
    assert_eq!(
        records.len(),
        expected.len() - 1,
        "the log holds every committed record"
    );
    for record in &records {
        let (tag, payload) = expected[record.seq as usize]
            .as_ref()
            .expect("checked above");
        assert_eq!(
            (record.tag, &record.payload),
            (*tag, payload),
            "seq {}",
            record.seq
        );
    }
    batches_of(&records, false);
}

#[test]
fn sixteen_threads_of_full_commits_all_finish_durable_and_contiguous() {
    const THREADS: u64 = 16;
    const COMMITS: u64 = 2000;
    let dir = tempfile::tempdir().expect("temp dir");
    let (wal, _) = Wal::open(dir.path(), full_options()).expect("open");
    let wal = Arc::new(wal);
    let worker_wal = Arc::clone(&wal);
    let per_thread = with_deadline(DEADLINE, "16 x 2000 Full commits", move || {
        std::thread::scope(|scope| {
            let handles: Vec<_> = (0..THREADS)
                .map(|thread| {
                    let wal = &worker_wal;
                    scope.spawn(move || {
                        let mut receipts = Vec::with_capacity(COMMITS as usize);
                        for index in 0..COMMITS {
                            let receipt =
                                commit_entries(wal, &thread_batch(thread, index)).expect("commit");
                            let last = receipt.first_seq.0 + receipt.locations.len() as u64 - 1;
                            let durable = wal.durable_seq();
                            assert!(
                                last <= durable.0,
                                "seq {last} returned before durable ({durable:?})"
                            );
                            receipts.push((index, receipt));
                        }
                        receipts
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("committer thread"))
                .collect::<Vec<_>>()
        })
    });
    check_receipts_against_log(&wal, &per_thread);
    let stats = wal.stats();
    println!("{stats:?}");
    assert_eq!(stats.batches, THREADS * COMMITS, "{stats:?}");
    assert!(stats.mean_group_size > 1.0, "fsyncs are shared: {stats:?}");
    assert!(
        stats.syncs < THREADS * COMMITS,
        "fewer syncs than commits: {stats:?}"
    );
    assert!(
        stats.max_group_size >= 2 && stats.max_group_size <= THREADS,
        "{stats:?}"
    );
    assert_eq!(wal.durable_seq(), wal.last_seq());
}

/// Records every published group and checks the `Publish` contract as it goes.
struct Recorder {
    wal: Arc<Wal>,
    in_publish: AtomicBool,
    published: Mutex<Vec<(Seq, usize)>>,
    violations: Mutex<Vec<String>>,
}

impl Publish for Recorder {
    fn publish(&self, group: &[PublishedBatch<'_>]) {
        if self.in_publish.swap(true, Ordering::SeqCst) {
            self.violations
                .lock()
                .expect("lock")
                .push("publish called concurrently".into());
        }
        let mut published = self.published.lock().expect("lock");
        for batch in group {
            let expected_first = published
                .last()
                .map_or(1, |(first, len)| first.0 + *len as u64);
            if batch.first_seq.0 != expected_first {
                self.violations.lock().expect("lock").push(format!(
                    "batch {:?} published after {:?}: not in log order or not exactly once",
                    batch.first_seq,
                    published.last()
                ));
            }
            // Documented: records of a published batch can be read from the segment.
            for (j, location) in batch.locations.iter().enumerate() {
                let seq = self
                    .wal
                    .segment(location.segment_id)
                    .and_then(|segment| segment.record_at(location.offset).ok().map(|r| r.seq));
                if seq != Some(Seq(batch.first_seq.0 + j as u64)) {
                    self.violations
                        .lock()
                        .expect("lock")
                        .push(format!("record at {location:?} reads as {seq:?}"));
                }
            }
            published.push((batch.first_seq, batch.locations.len()));
        }
        if let Some(&(first, len)) = published.last() {
            let durable = self.wal.durable_seq();
            if durable.0 < first.0 + len as u64 - 1 {
                self.violations
                    .lock()
                    .expect("lock")
                    .push(format!("group published before durable ({durable:?})"));
            }
        }
        drop(published);
        self.in_publish.store(false, Ordering::SeqCst);
    }
}

#[test]
fn commit_with_publishes_each_batch_once_in_order_before_returning() {
    const THREADS: u64 = 8;
    const COMMITS: u64 = 400;
    let dir = tempfile::tempdir().expect("temp dir");
    let (wal, _) = Wal::open(
        dir.path(),
        WalOptions {
            sync_mode: SyncMode::Full,
            ..small_options(64 << 10)
        },
    )
    .expect("open");
    let recorder = Arc::new(Recorder {
        wal: Arc::new(wal),
        in_publish: AtomicBool::new(false),
        published: Mutex::new(Vec::new()),
        violations: Mutex::new(Vec::new()),
    });
    let worker = Arc::clone(&recorder);
    let per_thread = with_deadline(DEADLINE, "commit_with from 8 threads", move || {
        std::thread::scope(|scope| {
            let handles: Vec<_> = (0..THREADS)
                .map(|thread| {
                    let recorder = &worker;
                    scope.spawn(move || {
                        let mut receipts = Vec::new();
                        for index in 0..COMMITS {
                            let owned = thread_batch(thread, index);
                            let entries: Vec<alexdb_wal::Entry<'_>> = owned
                                .iter()
                                .map(|(tag, payload)| alexdb_wal::Entry {
                                    tag: *tag,
                                    head: &[],
                                    body: payload,
                                })
                                .collect();
                            let receipt = recorder
                                .wal
                                .commit_with(&entries, recorder.as_ref())
                                .expect("commit_with");
                            let published = recorder.published.lock().expect("lock");
                            assert!(
                                published
                                    .binary_search_by_key(&receipt.first_seq, |&(first, _)| first)
                                    .is_ok(),
                                "batch {:?} returned before it was published",
                                receipt.first_seq
                            );
                            drop(published);
                            receipts.push((index, receipt));
                        }
                        receipts
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("committer thread"))
                .collect::<Vec<_>>()
        })
    });
    let violations = recorder.violations.lock().expect("lock").clone();
    assert!(
        violations.is_empty(),
        "{} violations: {:?}",
        violations.len(),
        &violations[..violations.len().min(10)]
    );
    let published = recorder.published.lock().expect("lock").clone();
    assert_eq!(
        published.len() as u64,
        THREADS * COMMITS,
        "every batch published exactly once"
    );
    check_receipts_against_log(&recorder.wal, &per_thread);
    // A plain commit after `commit_with` ones still works (it is published by nobody).
    recorder
        .wal
        .commit(&[alexdb_wal::Entry {
            tag: 0,
            head: b"x",
            body: b"",
        }])
        .expect("plain commit");
}

/// A hook that fails the `fail_at`-th call (0-based, counted once armed) at `point`.
fn failing_hook(
    point: FaultPoint,
    fail_at: u64,
    armed: Arc<AtomicBool>,
    calls: Arc<AtomicU64>,
) -> FaultHook {
    Arc::new(move |at: FaultPoint| {
        if at == point
            && armed.load(Ordering::SeqCst)
            && calls.fetch_add(1, Ordering::SeqCst) == fail_at
        {
            return Err(std::io::Error::other(format!("injected failure at {at:?}")));
        }
        Ok(())
    })
}

/// 16 threads commit until the injected failure; each keeps committing a few times
/// after its first error. Every commit after a thread's first error must be
/// `Poisoned`; every commit that returned Ok must be durable and present after reopen.
fn poison_run(point: FaultPoint, fail_at: u64) {
    const THREADS: u64 = 16;
    let dir = tempfile::tempdir().expect("temp dir");
    let armed = Arc::new(AtomicBool::new(false));
    let calls = Arc::new(AtomicU64::new(0));
    let options = WalOptions {
        fault_hook: Some(failing_hook(point, fail_at, armed.clone(), calls.clone())),
        ..full_options()
    };
    let (wal, _) = Wal::open(dir.path(), options).expect("open");
    armed.store(true, Ordering::SeqCst);
    let wal = Arc::new(wal);
    let worker_wal = Arc::clone(&wal);
    let outcomes = with_deadline(DEADLINE, "commits around an injected failure", move || {
        std::thread::scope(|scope| {
            let handles: Vec<_> = (0..THREADS)
                .map(|thread| {
                    let wal = &worker_wal;
                    scope.spawn(move || {
                        let mut outcomes: Vec<(u64, Result<CommitReceipt, Error>)> = Vec::new();
                        let mut errors_seen = 0;
                        for index in 0..100_000u64 {
                            let result = commit_entries(wal, &thread_batch(thread, index));
                            if let Ok(receipt) = &result {
                                let last = receipt.first_seq.0 + receipt.locations.len() as u64 - 1;
                                assert!(last <= wal.durable_seq().0, "acknowledged before durable");
                            }
                            errors_seen += usize::from(result.is_err());
                            outcomes.push((index, result));
                            if errors_seen >= 3 {
                                break;
                            }
                        }
                        outcomes
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("committer thread"))
                .collect::<Vec<_>>()
        })
    });
    let mut first_errors = Vec::new();
    for (thread, outcomes) in outcomes.iter().enumerate() {
        let first_error = outcomes
            .iter()
            .position(|(_, r)| r.is_err())
            .expect("every thread saw the failure");
        for (index, result) in &outcomes[first_error + 1..] {
            assert!(
                matches!(result, Err(Error::Poisoned { .. })),
                "thread {thread} commit {index} after an error: {:?}",
                result.as_ref().map(|r| r.first_seq)
            );
        }
        let error = outcomes[first_error]
            .1
            .as_ref()
            .expect_err("found by position");
        assert!(
            matches!(error, Error::Poisoned { .. } | Error::Io { .. }),
            "thread {thread}: the failure surfaces as Io or Poisoned, got {error:?}"
        );
        first_errors.push(error.to_string());
    }
    assert!(
        first_errors.iter().any(|e| e.contains("injected")),
        "the injected error is reported to someone: {first_errors:?}"
    );
    let cause = wal.poisoned().expect("the log says it is poisoned");
    println!("poisoned by: {cause}");
    assert!(
        matches!(
            commit_entries(&wal, &thread_batch(99, 0)),
            Err(Error::Poisoned { .. })
        ),
        "later commits fail"
    );
    assert!(
        matches!(
            wal.sync(),
            Err(Error::Poisoned { .. }) | Err(Error::Io { .. })
        ),
        "sync on a poisoned log fails"
    );
    let acknowledged: Vec<(u64, u64, CommitReceipt)> = outcomes
        .iter()
        .enumerate()
        .flat_map(|(thread, outcomes)| {
            outcomes.iter().filter_map(move |(index, r)| {
                r.as_ref().ok().map(|r| (thread as u64, *index, r.clone()))
            })
        })
        .collect();
    drop(wal);

    let (wal, report) = Wal::open(dir.path(), full_options()).expect("reopen without the hook");
    let records = scan_all(&wal).expect("scan");
    for (i, record) in records.iter().enumerate() {
        assert_eq!(
            record.seq,
            i as u64 + 1,
            "the recovered log is contiguous from 1: {report:?}"
        );
    }
    batches_of(&records, false);
    for (thread, index, receipt) in &acknowledged {
        for (j, (tag, payload)) in thread_batch(*thread, *index).into_iter().enumerate() {
            let record = records
                .get(receipt.first_seq.0 as usize - 1 + j)
                .unwrap_or_else(|| {
                    panic!(
                        "acknowledged seq {} is missing after reopen ({report:?})",
                        receipt.first_seq.0 + j as u64
                    )
                });
            assert_eq!(
                (record.tag, &record.payload),
                (tag, &payload),
                "seq {}",
                record.seq
            );
        }
    }
    let receipt =
        commit_entries(&wal, &thread_batch(99, 1)).expect("a reopened log takes commits again");
    assert_eq!(receipt.first_seq.0, records.len() as u64 + 1);
}

#[test]
fn a_failed_fsync_poisons_the_log_and_wakes_every_waiter() {
    poison_run(FaultPoint::Sync, 40);
}

#[test]
fn a_failed_first_fsync_poisons_the_log() {
    poison_run(FaultPoint::Sync, 0);
}

#[test]
fn a_failed_append_poisons_the_log() {
    poison_run(FaultPoint::Append, 25);
}
