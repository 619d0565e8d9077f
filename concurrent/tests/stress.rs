//! Stress: many writer and reader threads on one `ConcurrentAlexStorage`, with
//! checkpoints and compactions running underneath, and invariants checked on every read:
//! each value is intact (CRC32) and belongs to its key, and for a given reader a key's
//! version never goes backwards. At the end, every acknowledged write is there — in the
//! live store and after reopening — and no deleted key came back.
//!
//! Each test runs for a few seconds (`ALEXDB_STRESS_SECS`, default 3) and fails instead of
//! hanging if it overruns its hard limit. Longer soak:
//! `ALEXDB_STRESS_SECS=60 cargo test -p alexdb-concurrent --release --test stress`

mod common;

use alexdb_concurrent::{ConcurrentAlexStorage, OpKind};
use alexdb_engine::{AlexStorage, Config, IndexSource, WriteBatch};
use common::{Deadline, Stamp, check, encode, payload_len, secs_from_env};
use parking_lot::Mutex;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

const WRITERS: usize = 8;
const READERS: usize = 8;

fn run_time() -> Duration {
    secs_from_env("ALEXDB_STRESS_SECS", 3.0)
}

fn deadline() -> Deadline {
    Deadline::new(run_time(), Duration::from_secs(60))
}

/// Small segments so the log rolls often and compaction has victims; automatic
/// checkpoints (and compactions) every 512 KiB on top of the explicit ones (a fixed
/// interval: with `checkpoint_growth` they would thin out as the log grows).
fn config() -> Config {
    let mut config = Config::benchmark().with_segment_capacity(256 << 10);
    config.checkpoint_every_bytes = 512 << 10;
    config.checkpoint_growth = 0.0;
    config.compaction_dead_ratio = 0.3;
    config
}

/// Key `index` of the shared key set: spread over negative and positive keys.
fn key_of(index: usize) -> i64 {
    (index as i64 - 1024) * 7919
}

/// Writer `writer`'s final view of its own keys: `Some(version)` or deleted (`None`).
type Model = HashMap<i64, Option<Stamp>>;

fn verify_against(model: &Model, read: impl Fn(i64) -> Option<Vec<u8>>, when: &str) {
    for (&key, expected) in model {
        let found = read(key).map(|bytes| check(key, &bytes));
        assert_eq!(
            found, *expected,
            "{when}: key {key} should be {expected:?}, found {found:?}"
        );
    }
}

/// Readers: random keys (and now and then a short range or a `multi_get` of 300 keys); every value intact and of its
/// key, and per key the version never goes backwards for this reader.
fn reader_loop(store: &ConcurrentAlexStorage, keys: &[i64], seed: u64, stop: &AtomicBool) -> u64 {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut seen: HashMap<i64, u64> = HashMap::new();
    let mut reads = 0u64;
    let observe = |key: i64, bytes: &[u8], seen: &mut HashMap<i64, u64>| {
        let stamp = check(key, bytes);
        let last = seen.entry(key).or_insert(0);
        assert!(
            stamp.version >= *last,
            "key {key}: version went back from {last} to {}",
            stamp.version
        );
        *last = stamp.version;
    };
    while !stop.load(Ordering::Acquire) {
        let key = keys[rng.gen_range(0..keys.len())];
        if rng.gen_ratio(1, 50) {
            let entries = store
                .range_collect(key..key.saturating_add(7919 * 16), 16)
                .expect("range_collect");
            for (key, value) in entries {
                observe(key, &value, &mut seen);
            }
        } else if rng.gen_ratio(1, 10) {
            // A batched lookup spanning several lock holds: each value of its own key.
            let batch: Vec<i64> = (0..300)
                .map(|_| keys[rng.gen_range(0..keys.len())])
                .collect();
            store
                .multi_get_with(&batch, |i, value| {
                    if let Some(bytes) = value {
                        observe(batch[i], bytes, &mut seen);
                    }
                })
                .expect("multi_get");
        } else if let Some(bytes) = store.get(key).expect("get") {
            observe(key, &bytes, &mut seen);
        }
        reads += 1;
    }
    reads
}

/// 8 writers (inserts, batches, mixed `WriteBatch`es with deletes, deletes) on disjoint
/// keys, 8 readers, and a thread checkpointing and compacting — then everything
/// acknowledged is there, live and after reopen, and no deleted key came back.
#[test]
fn writers_readers_checkpoints_and_compactions() {
    writers_readers_checkpoints_and_compactions_with(config());
}

/// The same with the automatic checkpoints and compactions on the store's maintenance
/// thread, concurrent with the explicit ones.
#[test]
fn writers_readers_and_background_maintenance() {
    writers_readers_checkpoints_and_compactions_with(config().with_background_maintenance(true));
}

fn writers_readers_checkpoints_and_compactions_with(config: Config) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = ConcurrentAlexStorage::open_with(dir.path(), config).expect("open");
    let keys: Vec<i64> = (0..2048).map(key_of).collect();
    let limit = deadline();
    let stop_readers = AtomicBool::new(false);
    let writers_done = AtomicBool::new(false);
    let compacted_segments = AtomicU64::new(0);
    let model: Mutex<Model> = Mutex::new(HashMap::new());

    std::thread::scope(|scope| {
        let mut writers = Vec::new();
        for writer in 0..WRITERS {
            let (store, keys, model) = (&store, &keys, &model);
            writers.push(scope.spawn(move || {
                let mut rng = StdRng::seed_from_u64(writer as u64);
                let own: Vec<i64> = keys.iter().copied().skip(writer).step_by(WRITERS).collect();
                let mut versions: HashMap<i64, u64> = HashMap::new();
                let mut mine: Model = HashMap::new();
                let mut next_stamp = |key: i64| {
                    let version = versions.entry(key).or_insert(0);
                    *version += 1;
                    Stamp {
                        key,
                        version: *version,
                        writer: writer as u32,
                    }
                };
                let value_of = |stamp: Stamp| {
                    encode(
                        stamp.key,
                        stamp.version,
                        stamp.writer,
                        payload_len(stamp.version),
                    )
                };
                while !limit.passed() {
                    let roll = rng.gen_range(0..100);
                    let key = own[rng.gen_range(0..own.len())];
                    if roll < 65 {
                        let stamp = next_stamp(key);
                        store.insert(key, &value_of(stamp)).expect("insert");
                        mine.insert(key, Some(stamp));
                    } else if roll < 80 {
                        let stamps: Vec<Stamp> = own
                            .choose_multiple(&mut rng, 8)
                            .map(|&key| next_stamp(key))
                            .collect();
                        let values: Vec<Vec<u8>> = stamps.iter().map(|&s| value_of(s)).collect();
                        let entries: Vec<(i64, &[u8])> = stamps
                            .iter()
                            .zip(&values)
                            .map(|(stamp, value)| (stamp.key, value.as_slice()))
                            .collect();
                        store.insert_batch(&entries).expect("insert_batch");
                        for stamp in stamps {
                            mine.insert(stamp.key, Some(stamp));
                        }
                    } else if roll < 88 {
                        // Two puts and a delete of a third key, atomically.
                        let chosen: Vec<i64> = own.choose_multiple(&mut rng, 3).copied().collect();
                        let puts = [next_stamp(chosen[0]), next_stamp(chosen[1])];
                        let mut batch = WriteBatch::new();
                        for stamp in puts {
                            batch.put(stamp.key, &value_of(stamp));
                        }
                        batch.delete(chosen[2]);
                        store.write(batch).expect("write");
                        for stamp in puts {
                            mine.insert(stamp.key, Some(stamp));
                        }
                        mine.insert(chosen[2], None);
                    } else {
                        let existed = store.delete(key).expect("delete");
                        let expected = matches!(mine.get(&key), Some(Some(_)));
                        assert_eq!(existed, expected, "delete({key}) by its only writer");
                        mine.insert(key, None);
                    }
                }
                model.lock().extend(mine);
            }));
        }
        for reader in 0..READERS {
            let (store, keys, stop) = (&store, &keys, &stop_readers);
            scope.spawn(move || reader_loop(store, keys, 100 + reader as u64, stop));
        }
        {
            let (store, done, compacted) = (&store, &writers_done, &compacted_segments);
            scope.spawn(move || {
                while !done.load(Ordering::Acquire) {
                    store.checkpoint().expect("checkpoint");
                    std::thread::sleep(Duration::from_millis(15));
                    let report = store.compact().expect("compact");
                    compacted.fetch_add(report.segments_in as u64, Ordering::Relaxed);
                    std::thread::sleep(Duration::from_millis(15));
                }
            });
        }
        for writer in writers {
            writer.join().expect("writer thread");
        }
        writers_done.store(true, Ordering::Release);
        stop_readers.store(true, Ordering::Release);
    });
    limit.check_hard("stress run");

    // One more compaction with every writer stopped, so the check below covers a store
    // whose records were moved at least once.
    let report = store.compact().expect("final compact");
    compacted_segments.fetch_add(report.segments_in as u64, Ordering::Relaxed);
    assert!(
        compacted_segments.load(Ordering::Relaxed) > 0,
        "the run was meant to compact segments but none were"
    );
    assert_eq!(store.maintenance_error(), None);

    let model = model.into_inner();
    let present = model.values().filter(|v| v.is_some()).count();
    verify_against(&model, |key| store.get(key).expect("get"), "live");
    assert_eq!(store.len(), present, "live key count");
    let snapshot = store.metrics();
    for op in &snapshot.ops {
        assert_eq!(op.errors, 0, "{} errors", op.kind.name());
    }
    let count = |kind| snapshot.op(kind).count;
    println!(
        "stress: {} gets/scans, {} inserts, {} batches, {} deletes, {} segments compacted, {} present keys",
        count(OpKind::Get) + count(OpKind::Scan),
        count(OpKind::Insert),
        count(OpKind::Batch),
        count(OpKind::Delete),
        compacted_segments.load(Ordering::Relaxed),
        present
    );
    store.close().expect("close");

    reopen_and_verify(dir.path(), &model, present);
}

fn reopen_and_verify(dir: &Path, model: &Model, present: usize) {
    let storage = AlexStorage::open_with(dir, config()).expect("reopen");
    verify_against(
        model,
        |key| storage.get(key).expect("get").map(<[u8]>::to_vec),
        "after reopen",
    );
    assert_eq!(storage.len(), present, "key count after reopen");
}

/// 8 writers on the SAME 64 keys, no coordination. Each writer's own writes to a key are
/// sequential (each acknowledged before the next starts), so they are in the log in that
/// order: a reader never sees a (key, writer) version go backwards, and at the end every
/// key holds the *last* write of one of the writers — never an earlier one, never a mix.
#[test]
fn eight_writers_on_the_same_keys() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = ConcurrentAlexStorage::open_with(dir.path(), config()).expect("open");
    let keys: Vec<i64> = (0..64).map(|i| i * 3 - 90).collect();
    let limit = deadline();
    let stop = AtomicBool::new(false);
    let last_writes: Mutex<Vec<HashMap<i64, u64>>> = Mutex::new(vec![HashMap::new(); WRITERS]);

    std::thread::scope(|scope| {
        let mut writers = Vec::new();
        for writer in 0..WRITERS {
            let (store, keys, last_writes) = (&store, &keys, &last_writes);
            writers.push(scope.spawn(move || {
                let mut rng = StdRng::seed_from_u64(writer as u64 + 7);
                let mut version = 0u64;
                let mut last: HashMap<i64, u64> = HashMap::new();
                while !limit.passed() {
                    version += 1;
                    if rng.gen_ratio(1, 5) {
                        // A batch over several shared keys, all at this version.
                        let chosen: Vec<i64> = keys.choose_multiple(&mut rng, 4).copied().collect();
                        let values: Vec<Vec<u8>> = chosen
                            .iter()
                            .map(|&key| encode(key, version, writer as u32, payload_len(version)))
                            .collect();
                        let entries: Vec<(i64, &[u8])> = chosen
                            .iter()
                            .zip(&values)
                            .map(|(&key, value)| (key, value.as_slice()))
                            .collect();
                        store.insert_batch(&entries).expect("insert_batch");
                        for key in chosen {
                            last.insert(key, version);
                        }
                    } else {
                        let key = keys[rng.gen_range(0..keys.len())];
                        let value = encode(key, version, writer as u32, payload_len(version));
                        store.insert(key, &value).expect("insert");
                        last.insert(key, version);
                    }
                }
                last_writes.lock()[writer] = last;
            }));
        }
        for reader in 0..READERS {
            let (store, keys, stop) = (&store, &keys, &stop);
            scope.spawn(move || {
                let mut rng = StdRng::seed_from_u64(200 + reader as u64);
                let mut seen: HashMap<(i64, u32), u64> = HashMap::new();
                while !stop.load(Ordering::Acquire) {
                    let key = keys[rng.gen_range(0..keys.len())];
                    if let Some(stamp) =
                        store.get_with(key, |bytes| check(key, bytes)).expect("get")
                    {
                        let last = seen.entry((key, stamp.writer)).or_insert(0);
                        assert!(
                            stamp.version >= *last,
                            "key {key} writer {}: version went back from {last} to {}",
                            stamp.writer,
                            stamp.version
                        );
                        *last = stamp.version;
                    }
                }
            });
        }
        {
            let (store, stop) = (&store, &stop);
            scope.spawn(move || {
                while !stop.load(Ordering::Acquire) {
                    std::thread::sleep(Duration::from_millis(25));
                    store.compact().expect("compact");
                }
            });
        }
        for writer in writers {
            writer.join().expect("writer thread");
        }
        stop.store(true, Ordering::Release);
    });
    limit.check_hard("same-keys run");

    let last_writes = last_writes.into_inner();
    let check_final = |read: &dyn Fn(i64) -> Option<Vec<u8>>, when: &str| {
        for &key in &keys {
            let Some(bytes) = read(key) else {
                assert!(
                    last_writes.iter().all(|last| !last.contains_key(&key)),
                    "{when}: key {key} was written but is missing"
                );
                continue;
            };
            let stamp = check(key, &bytes);
            let last_of_writer = last_writes[stamp.writer as usize].get(&key);
            assert_eq!(
                last_of_writer,
                Some(&stamp.version),
                "{when}: key {key} holds version {} of writer {}, not that writer's last write",
                stamp.version,
                stamp.writer
            );
        }
    };
    check_final(&|key| store.get(key).expect("get"), "live");
    store.close().expect("close");
    let storage = AlexStorage::open_with(dir.path(), config()).expect("reopen");
    check_final(
        &|key| storage.get(key).expect("get").map(<[u8]>::to_vec),
        "after reopen",
    );
}

/// 8 writers on the same 32 keys under a per-key discipline: a writer takes the key's
/// lock, gives the key its next version, writes it and releases the lock only after the
/// write is acknowledged. Versions per key then increase in acknowledgement order, so
/// the final version of every key must equal the highest version acknowledged for it,
/// and a reader must never see a key's version decrease.
#[test]
fn per_key_versions_end_at_the_highest_acknowledged() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = ConcurrentAlexStorage::open_with(dir.path(), config()).expect("open");
    let keys: Vec<i64> = (0..32).map(|i| i64::MAX - i * 1000).collect();
    let locks: Vec<Mutex<u64>> = keys.iter().map(|_| Mutex::new(0)).collect();
    let acknowledged: Vec<AtomicU64> = keys.iter().map(|_| AtomicU64::new(0)).collect();
    let limit = deadline();
    let stop = AtomicBool::new(false);

    std::thread::scope(|scope| {
        let mut writers = Vec::new();
        for writer in 0..WRITERS {
            let (store, keys, locks, acknowledged) = (&store, &keys, &locks, &acknowledged);
            writers.push(scope.spawn(move || {
                let mut rng = StdRng::seed_from_u64(writer as u64 + 31);
                while !limit.passed() {
                    let index = rng.gen_range(0..keys.len());
                    let mut version = locks[index].lock();
                    *version += 1;
                    let key = keys[index];
                    let value = encode(key, *version, writer as u32, payload_len(*version));
                    store.insert(key, &value).expect("insert");
                    acknowledged[index].fetch_max(*version, Ordering::Relaxed);
                }
            }));
        }
        for reader in 0..READERS {
            let (store, keys, stop) = (&store, &keys, &stop);
            scope.spawn(move || {
                let mut rng = StdRng::seed_from_u64(300 + reader as u64);
                let mut seen = vec![0u64; keys.len()];
                while !stop.load(Ordering::Acquire) {
                    let index = rng.gen_range(0..keys.len());
                    let key = keys[index];
                    if let Some(stamp) =
                        store.get_with(key, |bytes| check(key, bytes)).expect("get")
                    {
                        assert!(
                            stamp.version >= seen[index],
                            "key {key}: version went back from {} to {}",
                            seen[index],
                            stamp.version
                        );
                        seen[index] = stamp.version;
                    }
                }
            });
        }
        for writer in writers {
            writer.join().expect("writer thread");
        }
        stop.store(true, Ordering::Release);
    });
    limit.check_hard("per-key run");

    for (index, &key) in keys.iter().enumerate() {
        let acked = acknowledged[index].load(Ordering::Relaxed);
        let found = store
            .get(key)
            .expect("get")
            .map(|bytes| check(key, &bytes).version);
        assert_eq!(found, (acked > 0).then_some(acked), "key {key}");
    }
}

/// A batch becomes visible all at once: a reader scanning the batch's keys under one
/// read lock sees every key at the same version, while other writers keep committing
/// groups around it.
#[test]
fn batches_become_visible_atomically() {
    const BATCH_KEYS: i64 = 16;
    let dir = tempfile::tempdir().expect("temp dir");
    let store = ConcurrentAlexStorage::open_with(dir.path(), config()).expect("open");
    let base = 1_000_000i64;
    let limit = deadline();
    let stop = AtomicBool::new(false);
    let scans = AtomicU64::new(0);

    std::thread::scope(|scope| {
        let mut writers = Vec::new();
        for writer in 0..4u32 {
            let store = &store;
            writers.push(scope.spawn(move || {
                let mut version = 0u64;
                while !limit.passed() {
                    version += 1;
                    if writer == 0 {
                        let values: Vec<Vec<u8>> = (0..BATCH_KEYS)
                            .map(|i| encode(base + i, version, writer, payload_len(version)))
                            .collect();
                        let entries: Vec<(i64, &[u8])> = (0..BATCH_KEYS)
                            .zip(&values)
                            .map(|(i, value)| (base + i, value.as_slice()))
                            .collect();
                        store.insert_batch(&entries).expect("insert_batch");
                    } else {
                        // Noise around the batch's keys, so groups mix both.
                        let key = -(writer as i64) * 1_000_000 - (version % 512) as i64;
                        let value = encode(key, version, writer, payload_len(version));
                        store.insert(key, &value).expect("insert");
                    }
                }
            }));
        }
        for _ in 0..4 {
            let (store, stop, scans) = (&store, &stop, &scans);
            scope.spawn(move || {
                while !stop.load(Ordering::Acquire) {
                    let entries = store
                        .range_collect(base..base + BATCH_KEYS, 100)
                        .expect("range_collect");
                    if entries.is_empty() {
                        continue;
                    }
                    assert_eq!(entries.len(), BATCH_KEYS as usize, "a partial batch");
                    let versions: Vec<u64> = entries
                        .iter()
                        .map(|(key, value)| check(*key, value).version)
                        .collect();
                    assert!(
                        versions.iter().all(|&v| v == versions[0]),
                        "a torn batch: {versions:?}"
                    );
                    scans.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
        for writer in writers {
            writer.join().expect("writer thread");
        }
        stop.store(true, Ordering::Release);
    });
    limit.check_hard("batch visibility run");
    assert!(scans.load(Ordering::Relaxed) > 0, "no scan saw the batch");
}

/// Keys deleted while readers, writers and compactions run never come back: not in the
/// live store, not after a checkpoint-based reopen, not after a full-scan reopen.
#[test]
fn deleted_keys_stay_deleted_through_compaction_and_reopen() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = ConcurrentAlexStorage::open_with(dir.path(), config()).expect("open");
    let limit = deadline();
    let keys: Vec<i64> = (0..4000).map(|i| i * 13 - 20_000).collect();
    // Load every key, then overwrite and delete in rounds so segments die and compact.
    for chunk in keys.chunks(200) {
        let values: Vec<Vec<u8>> = chunk.iter().map(|&k| encode(k, 1, 0, 40)).collect();
        let entries: Vec<(i64, &[u8])> = chunk
            .iter()
            .zip(&values)
            .map(|(&k, v)| (k, v.as_slice()))
            .collect();
        store.insert_batch(&entries).expect("load");
    }
    let deleted: Mutex<Vec<i64>> = Mutex::new(Vec::new());
    let stop = AtomicBool::new(false);
    std::thread::scope(|scope| {
        let mut writers = Vec::new();
        for writer in 0..4usize {
            let (store, keys, deleted) = (&store, &keys, &deleted);
            writers.push(scope.spawn(move || {
                let own: Vec<i64> = keys.iter().copied().skip(writer).step_by(4).collect();
                let mut gone = Vec::new();
                let mut version = 1;
                for (i, &key) in own.iter().enumerate() {
                    if limit.passed() {
                        break;
                    }
                    version += 1;
                    if i % 3 == 0 {
                        assert!(store.delete(key).expect("delete"), "key {key} was loaded");
                        gone.push(key);
                    } else {
                        let value = encode(key, version, writer as u32, 60);
                        store.insert(key, &value).expect("overwrite");
                    }
                }
                deleted.lock().extend(gone);
            }));
        }
        for reader in 0..4u64 {
            let (store, keys, stop) = (&store, &keys, &stop);
            scope.spawn(move || reader_loop(store, keys, 400 + reader, stop));
        }
        {
            let (store, stop) = (&store, &stop);
            scope.spawn(move || {
                while !stop.load(Ordering::Acquire) {
                    store.compact().expect("compact");
                    store.checkpoint().expect("checkpoint");
                    std::thread::sleep(Duration::from_millis(10));
                }
            });
        }
        for writer in writers {
            writer.join().expect("writer thread");
        }
        stop.store(true, Ordering::Release);
    });
    limit.check_hard("delete run");
    store.compact().expect("final compact");
    let deleted = deleted.into_inner();
    assert!(!deleted.is_empty());
    for &key in &deleted {
        assert_eq!(
            store.get(key).expect("get"),
            None,
            "live: deleted key {key}"
        );
    }
    store.close().expect("close");
    let storage = AlexStorage::open_with(dir.path(), config()).expect("reopen");
    for &key in &deleted {
        assert_eq!(
            storage.get(key).expect("get"),
            None,
            "reopen: deleted key {key}"
        );
    }
    assert_eq!(storage.len(), keys.len() - deleted.len());
    drop(storage);
    // Without snapshots, a full scan of the log must rebuild the same state.
    for entry in std::fs::read_dir(dir.path()).expect("list dir") {
        let path = entry.expect("dir entry").path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if name.starts_with("snapshot-") && name.ends_with(".snap") {
            std::fs::remove_file(&path).expect("remove snapshot");
        }
    }
    let storage = AlexStorage::open_with(dir.path(), config()).expect("reopen by full scan");
    assert!(
        matches!(storage.open_report().source, IndexSource::FullScan { .. }),
        "expected a full scan, got {:?}",
        storage.open_report().source
    );
    for &key in &deleted {
        assert_eq!(
            storage.get(key).expect("get"),
            None,
            "full scan: deleted key {key}"
        );
    }
    assert_eq!(storage.len(), keys.len() - deleted.len());
}
