//! `Config::background_maintenance`: automatic checkpoints (and compactions) run on the
//! store's `alexdb-maintenance` thread, never on the writer that finds them due; the
//! last handle to go stops the thread, so the store can be reopened at once; and nothing
//! written is lost either way.
//!
//! Which thread did the work is seen through the log's fault hook, which records the
//! thread of every log I/O step: under `SyncMode::Off` and in one big segment the log is
//! synced by checkpoints only, and segments are removed by compactions only.

use alexdb_concurrent::ConcurrentAlexStorage;
use alexdb_engine::Config;
use alexdb_wal::FaultPoint;
use parking_lot::Mutex;
use std::sync::Arc;
use std::time::{Duration, Instant};

const KEYS: i64 = 6_000;

/// Log I/O steps seen by the fault hook, with the name of the thread that took them.
type Steps = Arc<Mutex<Vec<(FaultPoint, String)>>>;

/// Off (no syncs but the checkpoints'), a checkpoint every 64 KiB of log (a fixed
/// interval), segments of `segment_capacity`, and a hook that records which thread takes
/// each log I/O step.
fn config(background: bool, segment_capacity: u64, steps: &Steps) -> Config {
    let mut config = Config::benchmark()
        .with_segment_capacity(segment_capacity)
        .with_background_maintenance(background);
    config.checkpoint_every_bytes = 64 << 10;
    config.checkpoint_growth = 0.0;
    config.compaction_dead_ratio = 0.3;
    let steps = Arc::clone(steps);
    config.fault_hook = Some(Arc::new(move |point| {
        let name = std::thread::current().name().unwrap_or("?").to_string();
        steps.lock().push((point, name));
        Ok(())
    }));
    config
}

/// A fresh store in a temp dir with [`config`], and its recorded steps.
fn open(
    background: bool,
    segment_capacity: u64,
) -> (tempfile::TempDir, Steps, ConcurrentAlexStorage) {
    let dir = tempfile::tempdir().expect("temp dir");
    let steps = Steps::default();
    let store =
        ConcurrentAlexStorage::open_with(dir.path(), config(background, segment_capacity, &steps))
            .expect("open");
    (dir, steps, store)
}

/// The threads that took `point`.
fn threads_of(steps: &Steps, point: FaultPoint) -> Vec<String> {
    steps
        .lock()
        .iter()
        .filter(|(p, _)| *p == point)
        .map(|(_, name)| name.clone())
        .collect()
}

fn value(key: i64, round: u8) -> Vec<u8> {
    let mut value = vec![round; 100];
    value[..8].copy_from_slice(&key.to_le_bytes());
    value
}

/// Two rounds over every key (the second overwrites, so compaction has dead bytes).
fn write_rounds(store: &ConcurrentAlexStorage) {
    for round in 1..=2 {
        for key in 0..KEYS {
            store.insert(key, &value(key, round)).expect("insert");
        }
    }
}

fn assert_all_there(store: &ConcurrentAlexStorage, when: &str) {
    for key in 0..KEYS {
        assert_eq!(
            store.get(key).expect("get"),
            Some(value(key, 2)),
            "{when}: key {key}"
        );
    }
}

/// Poll `done` every millisecond for at most 20 s.
fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// One big segment: every sync of the log is a checkpoint's, and all come from the
/// maintenance thread.
#[test]
fn checkpoints_run_on_the_maintenance_thread() {
    let (dir, steps, store) = open(true, 64 << 20);
    steps.lock().clear();
    write_rounds(&store);
    // The maintenance thread may lag the writer and cover everything with one checkpoint
    // (requests coalesce), so the second is asked for by writes after the first.
    wait_for("a background checkpoint", || store.stats().checkpoints >= 1);
    for key in 0..KEYS {
        store.insert(key, &value(key, 2)).expect("insert");
    }
    wait_for("two background checkpoints", || {
        store.stats().checkpoints >= 2
    });
    only_the_maintenance_thread(store, dir.path(), &steps, FaultPoint::Sync);
}

/// Small segments, every key written twice: compactions run, and only the maintenance
/// thread removes segments.
#[test]
fn compactions_run_on_the_maintenance_thread() {
    let (dir, steps, store) = open(true, 256 << 10);
    write_rounds(&store);
    wait_for("a background compaction", || store.stats().compactions >= 1);
    wait_for("a removed segment", || {
        !threads_of(&steps, FaultPoint::RemoveSegment).is_empty()
    });
    only_the_maintenance_thread(store, dir.path(), &steps, FaultPoint::RemoveSegment);
}

/// No maintenance error; `point` was taken, and only by the maintenance thread; every
/// key is there, live and after a reopen right after the last handle is dropped.
fn only_the_maintenance_thread(
    store: ConcurrentAlexStorage,
    dir: &std::path::Path,
    steps: &Steps,
    point: FaultPoint,
) {
    assert_eq!(store.maintenance_error(), None);
    let threads = threads_of(steps, point);
    assert!(!threads.is_empty(), "no {point:?} at all");
    assert!(
        threads.iter().all(|name| name == "alexdb-maintenance"),
        "a writer took {point:?}: {threads:?}"
    );
    assert_all_there(&store, "live");
    drop(store);
    let reopened = ConcurrentAlexStorage::open_with(dir, Config::benchmark())
        .expect("reopen right after the last handle");
    assert_all_there(&reopened, "after reopen");
}

/// The control: without the option, the writer that finds the checkpoint due syncs.
#[test]
fn without_the_option_the_writer_does_the_work() {
    let (_dir, steps, store) = open(false, 64 << 20);
    steps.lock().clear();
    std::thread::Builder::new()
        .name("the-writer".into())
        .spawn({
            let store = store.clone();
            move || write_rounds(&store)
        })
        .expect("spawn")
        .join()
        .expect("writer");
    assert!(store.stats().checkpoints >= 2);
    let syncers = threads_of(&steps, FaultPoint::Sync);
    assert!(
        !syncers.is_empty() && syncers.iter().all(|name| name == "the-writer"),
        "{syncers:?}"
    );
}

/// Dropping every handle (clones included) while the thread may be mid-run stops it and
/// closes the store: an immediate reopen takes the writer lock and finds everything.
#[test]
fn the_last_handle_stops_the_thread_and_releases_the_store() {
    let dir = tempfile::tempdir().expect("temp dir");
    let steps = Steps::default();
    for _cycle in 0..3 {
        let store = ConcurrentAlexStorage::open_with(dir.path(), config(true, 256 << 10, &steps))
            .expect("open");
        let clones: Vec<_> = (0..4).map(|_| store.clone()).collect();
        write_rounds(&clones[1]);
        drop(clones);
        drop(store);
    }
    let reopened =
        ConcurrentAlexStorage::open_with(dir.path(), Config::benchmark()).expect("reopen");
    assert_all_there(&reopened, "after three open/write/drop cycles");
}
