//! Visibility under `Config::production()` (`SyncMode::Full`, group commit): once an
//! insert returns, every thread sees it (read-your-writes across threads); `delete`'s
//! return value is exact when threads race to delete the same keys; and a value is
//! never visible before its commit was made durable.

mod common;

use alexdb_concurrent::ConcurrentAlexStorage;
use alexdb_engine::{AlexStorage, Config};
use alexdb_wal::{FaultHook, FaultPoint};
use common::{Deadline, check, encode};
use parking_lot::Mutex;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::time::Duration;

fn production() -> Config {
    Config::production().with_segment_capacity(1 << 20)
}

/// 4 writers insert under `Full`; after each insert returns, the key is published to
/// the readers, which must find it on their very next lookup — for that key and for
/// every key acknowledged before it.
#[test]
fn acknowledged_inserts_are_visible_to_every_thread() {
    const WRITERS: usize = 4;
    const PER_WRITER: usize = 80;
    let dir = tempfile::tempdir().expect("temp dir");
    let store = ConcurrentAlexStorage::open_with(dir.path(), production()).expect("open");
    let limit = Deadline::new(Duration::from_secs(30), Duration::from_secs(30));
    // acked[w] = how many of writer w's keys are acknowledged (its keys in order).
    let acked: Vec<AtomicUsize> = (0..WRITERS).map(|_| AtomicUsize::new(0)).collect();
    let stop = AtomicBool::new(false);
    let checks = AtomicUsize::new(0);
    let key_of = |writer: usize, i: usize| (writer * 1_000_000 + i) as i64;

    std::thread::scope(|scope| {
        let mut writers = Vec::new();
        for writer in 0..WRITERS {
            let (store, acked) = (&store, &acked);
            writers.push(scope.spawn(move || {
                for i in 0..PER_WRITER {
                    let key = key_of(writer, i);
                    store
                        .insert(key, &encode(key, 1, writer as u32, 32))
                        .expect("insert");
                    acked[writer].store(i + 1, Ordering::Release);
                    if limit.passed() {
                        break;
                    }
                }
            }));
        }
        for reader in 0..4u64 {
            let (store, acked, stop, checks) = (&store, &acked, &stop, &checks);
            scope.spawn(move || {
                let mut rng = StdRng::seed_from_u64(reader);
                while !stop.load(Ordering::Acquire) {
                    let writer = rng.gen_range(0..WRITERS);
                    let count = acked[writer].load(Ordering::Acquire);
                    if count == 0 {
                        continue;
                    }
                    // The newest acknowledged key, and a random older one.
                    for i in [count - 1, rng.gen_range(0..count)] {
                        let key = key_of(writer, i);
                        let found = store.get_with(key, |bytes| check(key, bytes)).expect("get");
                        assert!(found.is_some(), "key {key} acknowledged but not visible");
                        checks.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
        }
        for writer in writers {
            writer.join().expect("writer");
        }
        stop.store(true, Ordering::Release);
    });
    limit.check_hard("read-your-writes run");
    assert!(checks.load(Ordering::Relaxed) > 0);
    assert_eq!(store.len(), WRITERS * PER_WRITER);
}

/// 8 threads delete the same keys (each in its own order), under `Full`: for every key
/// that existed exactly one `delete` returns `true`; for keys that never existed, none.
/// Afterwards, and after reopening, every key is gone.
#[test]
fn racing_deletes_return_true_exactly_once_per_key() {
    race_deletes(production(), 300, 30);
}

/// The same race with `Config::benchmark()` (no syncs, so much tighter races) over more
/// keys.
#[test]
fn racing_deletes_without_sync_return_true_exactly_once_per_key() {
    race_deletes(Config::benchmark(), 5000, 500);
}

fn race_deletes(config: Config, existing: usize, absent: usize) {
    const THREADS: usize = 8;
    let dir = tempfile::tempdir().expect("temp dir");
    let store = ConcurrentAlexStorage::open_with(dir.path(), config.clone()).expect("open");
    let limit = Deadline::new(Duration::from_secs(30), Duration::from_secs(30));
    let keys: Vec<i64> = (0..existing + absent)
        .map(|i| i as i64 * 17 - 4000)
        .collect();
    let values: Vec<Vec<u8>> = keys[..existing]
        .iter()
        .map(|&k| encode(k, 1, 0, 20))
        .collect();
    let entries: Vec<(i64, &[u8])> = keys[..existing]
        .iter()
        .zip(&values)
        .map(|(&k, v)| (k, v.as_slice()))
        .collect();
    store.insert_batch(&entries).expect("load");
    let trues: Vec<AtomicU32> = keys.iter().map(|_| AtomicU32::new(0)).collect();

    std::thread::scope(|scope| {
        for thread in 0..THREADS {
            let (store, trues, keys) = (&store, &trues, &keys);
            scope.spawn(move || {
                let mut order: Vec<usize> = (0..keys.len()).collect();
                // Half the threads go in the same order (maximal contention on each
                // key), half shuffled.
                if thread % 2 == 1 {
                    order.shuffle(&mut StdRng::seed_from_u64(thread as u64));
                }
                for index in order {
                    if store.delete(keys[index]).expect("delete") {
                        trues[index].fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
        }
    });
    limit.check_hard("delete race");
    for (index, &key) in keys.iter().enumerate() {
        let expected = u32::from(index < existing);
        assert_eq!(
            trues[index].load(Ordering::Relaxed),
            expected,
            "key {key}: delete returned true this many times"
        );
        assert_eq!(
            store.get(key).expect("get"),
            None,
            "key {key} after the race"
        );
    }
    assert!(store.is_empty());
    store.close().expect("close");
    let storage = AlexStorage::open_with(dir.path(), config).expect("reopen");
    assert!(storage.is_empty(), "deleted keys came back after reopen");
}

/// Under `Full`, nothing is visible before it is durable, and readers do not wait on
/// the sync (I-7). A fault hook stops the group leader just before each fdatasync and,
/// from there, asks a reader thread to look up the key being committed and an older,
/// acknowledged one: the first must be absent, the second present, and the reader must
/// answer while the leader is still "inside" the sync — if the leader held the store's
/// exclusive lock across the sync, the reader could not answer and the hook times out.
#[test]
fn nothing_is_visible_before_its_sync_and_reads_go_on_during_it() {
    const KEYS: i64 = 40;
    let dir = tempfile::tempdir().expect("temp dir");
    let armed = Arc::new(AtomicBool::new(false));
    let pending = Arc::new(AtomicI64::new(-1));
    let (ask, asked) = mpsc::channel::<i64>();
    let (answer, answered) = mpsc::channel::<(i64, bool, bool)>();
    let answered = Arc::new(Mutex::new(answered));
    let failures = Arc::new(Mutex::new(Vec::<String>::new()));
    let probes = Arc::new(AtomicUsize::new(0));
    let hook: FaultHook = {
        let (armed, pending, answered, failures, probes) = (
            Arc::clone(&armed),
            Arc::clone(&pending),
            Arc::clone(&answered),
            Arc::clone(&failures),
            Arc::clone(&probes),
        );
        Arc::new(move |point| {
            if point != FaultPoint::Sync || !armed.load(Ordering::SeqCst) {
                return Ok(());
            }
            let key = pending.load(Ordering::SeqCst);
            if key < 0 || ask.send(key).is_err() {
                return Ok(());
            }
            let answered = answered.lock();
            let reply = loop {
                match answered.recv_timeout(Duration::from_secs(5)) {
                    // A late answer to an earlier probe that timed out.
                    Ok((asked_key, ..)) if asked_key != key => continue,
                    other => break other,
                }
            };
            match reply {
                Ok((_, pending_visible, older_visible)) => {
                    probes.fetch_add(1, Ordering::SeqCst);
                    if pending_visible {
                        failures
                            .lock()
                            .push(format!("key {key} visible before its sync"));
                    }
                    if !older_visible {
                        failures
                            .lock()
                            .push(format!("key {} lost during a sync", key - 1));
                    }
                }
                Err(_) => failures
                    .lock()
                    .push(format!("reader blocked while key {key} was being synced")),
            }
            Ok(())
        })
    };
    let mut config = production();
    config.fault_hook = Some(hook);
    let store = ConcurrentAlexStorage::open_with(dir.path(), config).expect("open");
    armed.store(true, Ordering::SeqCst);
    let stop = AtomicBool::new(false);
    // Observed, not asserted: whether a read-only open in the middle of the sync already
    // shows the key (it reads the shared page cache; see docs/concurrency.md).
    let readonly_saw_unsynced = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        {
            let (store, stop, readonly_saw_unsynced) = (&store, &stop, &readonly_saw_unsynced);
            let dir = dir.path();
            scope.spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    let key = match asked.recv_timeout(Duration::from_millis(20)) {
                        Ok(key) => key,
                        Err(mpsc::RecvTimeoutError::Timeout) => continue,
                        Err(mpsc::RecvTimeoutError::Disconnected) => break,
                    };
                    let pending_visible = store.get(key).expect("get").is_some();
                    let older_visible = key == 0 || store.get(key - 1).expect("get").is_some();
                    let readonly = AlexStorage::open_readonly(dir).expect("open_readonly");
                    if readonly.get(key).expect("read-only get").is_some() {
                        readonly_saw_unsynced.fetch_add(1, Ordering::Relaxed);
                    }
                    if answer.send((key, pending_visible, older_visible)).is_err() {
                        break;
                    }
                }
            });
        }
        for key in 0..KEYS {
            pending.store(key, Ordering::SeqCst);
            store.insert(key, &encode(key, 1, 0, 24)).expect("insert");
            assert!(
                store.get(key).expect("get").is_some(),
                "key {key} after insert"
            );
        }
        armed.store(false, Ordering::SeqCst);
        stop.store(true, Ordering::SeqCst);
    });
    println!(
        "read-only opens during the sync saw {} of {} keys before their sync completed",
        readonly_saw_unsynced.load(Ordering::Relaxed),
        probes.load(Ordering::SeqCst)
    );
    let failures = failures.lock().clone();
    assert!(failures.is_empty(), "{failures:#?}");
    assert!(
        probes.load(Ordering::SeqCst) >= KEYS as usize,
        "every commit should have synced at least once"
    );
}

/// A fresh store with automatic checkpoints from 64 KiB of log (`checkpoint_growth` as
/// given), holding `keys` inserts of 100-byte values.
fn store_with_checkpoints(
    growth: f64,
    keys: i64,
) -> (tempfile::TempDir, Config, ConcurrentAlexStorage) {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = Config::benchmark();
    config.checkpoint_every_bytes = 64 << 10;
    config.checkpoint_growth = growth;
    let store = ConcurrentAlexStorage::open_with(dir.path(), config.clone()).expect("open");
    for key in 0..keys {
        store.insert(key, &[5u8; 100]).expect("insert");
    }
    (dir, config, store)
}

/// The write path notices when a checkpoint is due (a flag the group leader sets under
/// the exclusive lock) and runs it, and stops once it is done.
#[test]
fn automatic_checkpoints_run_from_the_write_path() {
    let (dir, _, store) = store_with_checkpoints(0.0, 2_000);
    let checkpoints = store.stats().checkpoints;
    // 2,000 records of 128 bytes = 250 KiB of log: about 3 checkpoints, not one per write.
    assert!((2..=6).contains(&checkpoints), "{checkpoints} checkpoints");
    drop(store);
    let reopened =
        ConcurrentAlexStorage::open_with(dir.path(), Config::benchmark()).expect("reopen");
    assert_eq!(reopened.stats().keys, 2_000);
}

/// `close` checkpoints when the log since the last checkpoint reached
/// `checkpoint_every_bytes`, however far `checkpoint_growth` put the next automatic one.
#[test]
fn close_checkpoints_a_tail_of_checkpoint_every_bytes_or_more() {
    // ~190 KiB of log: one automatic checkpoint at 64 KiB, the next one 1e6 times
    // further on.
    let (dir, config, store) = store_with_checkpoints(1e6, 1_500);
    assert_eq!(store.stats().checkpoints, 1);
    assert!(store.with_storage(|s| s.checkpoint_due_at_close()));
    store.close().expect("close");
    let reopened = ConcurrentAlexStorage::open_with(dir.path(), config).expect("reopen");
    let source = reopened.with_storage(|s| s.open_report().source.clone());
    match source {
        alexdb_engine::IndexSource::Snapshot {
            replayed_records, ..
        } => assert_eq!(replayed_records, 0, "close wrote a checkpoint"),
        other => panic!("opened from {other:?}"),
    }
    assert_eq!(reopened.stats().keys, 1_500);
}
