//! Unit tests of `snapshot.rs` (moved out of it to keep that file about one thing).

use super::*;

#[test]
fn round_trips_and_rejects_every_truncation_and_flip() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("snap");
    let index = AlexMap::bulk_load(&[(i64::MIN, 1u64), (0, 2), (i64::MAX, 3)]).unwrap();
    write(&path, encode(42, &[(1, 300)], &[(KeyspaceId(0), &index)])).unwrap();
    let snapshot = load(&path).unwrap();
    assert_eq!(snapshot.covered_seq, 42);
    assert_eq!(read(&path).unwrap().covered_seq, 42);
    assert_eq!(snapshot.segment_live_bytes, vec![(1, 300)]);
    assert_eq!(snapshot.keyspaces.len(), 1);
    let (id, loaded) = &snapshot.keyspaces[0];
    assert_eq!(*id, KeyspaceId(0));
    let entries: Vec<(i64, u64)> = loaded.iter().map(|(k, v)| (k, *v)).collect();
    assert_eq!(entries, vec![(i64::MIN, 1), (0, 2), (i64::MAX, 3)]);

    let bytes = std::fs::read(&path).unwrap();
    // The frame is `bytes::seal`'s, byte for byte.
    let encoded = encode(42, &[(1, 300)], &[(KeyspaceId(0), &index)]);
    assert_eq!(bytes, encoded);
    assert_eq!(
        bytes,
        crate::bytes::seal(MAGIC, FORMAT_VERSION, &encoded[12..encoded.len() - 4])
    );
    for len in 0..bytes.len() {
        std::fs::write(&path, &bytes[..len]).unwrap();
        assert!(read(&path).is_err(), "truncated at {len}");
        assert!(load(&path).is_err(), "truncated at {len}");
    }
    for bit in 0..bytes.len() * 8 {
        assert_flip_refused(&path, &bytes, bit / 8, 1 << (bit % 8));
    }
}

/// Write `bytes` with `mask` xor-ed into byte `at`; both `read` and `load` must refuse it.
fn assert_flip_refused(path: &Path, bytes: &[u8], at: usize, mask: u8) {
    let mut damaged = bytes.to_vec();
    damaged[at] ^= mask;
    std::fs::write(path, &damaged).unwrap();
    assert!(
        read(path).is_err(),
        "byte {at} ^ {mask:#x}: read accepted it"
    );
    assert!(
        load(path).is_err(),
        "byte {at} ^ {mask:#x}: load accepted it"
    );
}

#[test]
fn reach_is_the_furthest_location_per_segment() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("snap");
    let at = |segment: u64, offset: u64| (segment << 40) | offset;
    let first = AlexMap::bulk_load(&[(1, at(3, 64)), (2, at(5, 4096)), (3, at(3, 128))]).unwrap();
    let second = AlexMap::bulk_load(&[(-7, at(5, 8192)), (9, at(1 << 20, 64))]).unwrap();
    let keyspaces = [(KeyspaceId(0), &first), (KeyspaceId(1), &second)];
    write(&path, encode(5, &[], &keyspaces)).unwrap();
    let reach = load(&path).unwrap().reach;
    let expect = |segment_id, max_offset, key| SegmentReach {
        segment_id,
        max_offset,
        key,
    };
    assert_eq!(
        reach,
        vec![
            expect(3, 128, 3),
            expect(5, 8192, -7),
            expect(1 << 20, 64, 9)
        ]
    );
}

/// Write a snapshot covering seq 9 with segments (1, 10) and (2, 20), keyspace 0
/// holding more than three read chunks of entries spread over segments 0..7, and
/// keyspace 3 holding one; returns keyspace 0's entries.
fn write_multi_chunk_snapshot(path: &Path) -> Vec<(i64, u64)> {
    let count = 3 * CHUNK_ENTRIES + 17;
    let entries: Vec<(i64, u64)> = (0..count as i64)
        .map(|i| {
            (
                i * 3 - 100_000,
                ((i as u64 % 7) << 40) | (64 + 8 * i as u64),
            )
        })
        .collect();
    let big = AlexMap::bulk_load(&entries).unwrap();
    let small = AlexMap::bulk_load(&[(5, (1u64 << 40) | 64)]).unwrap();
    let keyspaces = [(KeyspaceId(0), &big), (KeyspaceId(3), &small)];
    write(path, encode(9, &[(1, 10), (2, 20)], &keyspaces)).unwrap();
    entries
}

/// Keyspaces larger than one read chunk decode across chunk boundaries, and damage
/// anywhere in them is caught.
#[test]
fn large_keyspaces_round_trip_across_chunks() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("snap");
    let entries = write_multi_chunk_snapshot(&path);
    let loaded = load(&path).unwrap();
    assert_eq!(loaded.covered_seq, 9);
    assert_eq!(loaded.segment_live_bytes, vec![(1, 10), (2, 20)]);
    let contents: Vec<(KeyspaceId, Vec<(i64, u64)>)> = loaded
        .keyspaces
        .iter()
        .map(|(id, index)| (*id, index.iter().map(|(k, v)| (k, *v)).collect()))
        .collect();
    assert_eq!(
        contents,
        vec![
            (KeyspaceId(0), entries.clone()),
            (KeyspaceId(3), vec![(5, (1u64 << 40) | 64)])
        ]
    );
    let furthest = |segment: u64| {
        let (key, location) = *entries
            .iter()
            .filter(|(_, location)| location >> 40 == segment)
            .max_by_key(|(_, location)| *location)
            .unwrap();
        SegmentReach {
            segment_id: segment,
            max_offset: location & ((1 << 40) - 1),
            key,
        }
    };
    let expected: Vec<SegmentReach> = (0..7).map(furthest).collect();
    assert_eq!(loaded.reach, expected);
    let bytes = std::fs::read(&path).unwrap();
    for at in [100, bytes.len() / 3, bytes.len() / 2 + 5, bytes.len() - 40] {
        assert_flip_refused(&path, &bytes, at, 0x40);
    }
}

/// Two-thread decoding gives exactly what one thread gives, catches damage in
/// either half, and `beside` runs exactly once whatever happens.
#[test]
fn two_threads_decode_what_one_thread_decodes_and_beside_runs_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("snap");
    let entries = write_multi_chunk_snapshot(&path);
    let contents = |loaded: &LoadedSnapshot| -> Vec<(KeyspaceId, Vec<(i64, u64)>)> {
        loaded
            .keyspaces
            .iter()
            .map(|(id, index)| (*id, index.iter().map(|(k, v)| (k, *v)).collect()))
            .collect()
    };
    let caller = std::thread::current().id();
    let (one, ran_on) = load_beside(
        &path,
        usize::MAX,
        alexdb_alex::DEFAULT_MAX_DATA_SLOTS,
        || std::thread::current().id(),
    );
    let one = one.unwrap();
    assert_eq!(ran_on, caller, "no helper: beside runs on the caller");
    for parallel in [2, 1000, entries.len()] {
        let (two, ran_on) =
            load_beside(&path, parallel, alexdb_alex::DEFAULT_MAX_DATA_SLOTS, || {
                std::thread::current().id()
            });
        let two = two.unwrap();
        assert_ne!(ran_on, caller, "beside runs on the helper");
        assert_eq!(two.covered_seq, 9);
        assert_eq!(two.segment_live_bytes, vec![(1, 10), (2, 20)]);
        assert_eq!(contents(&two), contents(&one));
        assert_eq!(two.reach, one.reach);
    }
    assert_eq!(contents(&one)[0].1, entries);
    let bytes = std::fs::read(&path).unwrap();
    let entries_start = 8 + 4 + 8 + 8 + 2 * 16 + 8 + 4 + 8;
    let half = entries_start + (entries.len() / 2) * ENTRY_LEN;
    for at in [
        10,
        30,
        entries_start + 3,
        half - 1,
        half,
        half + 100,
        bytes.len() - 40,
    ] {
        let mut damaged = bytes.clone();
        damaged[at] ^= 0x40;
        std::fs::write(&path, &damaged).unwrap();
        for parallel in [2, usize::MAX] {
            let runs = std::sync::atomic::AtomicUsize::new(0);
            let (loaded, ()) =
                load_beside(&path, parallel, alexdb_alex::DEFAULT_MAX_DATA_SLOTS, || {
                    runs.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                });
            assert!(loaded.is_err(), "byte {at} flipped, parallel {parallel}");
            assert_eq!(runs.into_inner(), 1, "byte {at}, parallel {parallel}");
        }
    }
    std::fs::write(&path, b"not a snapshot").unwrap();
    let (loaded, runs) = load_beside(&path, 2, alexdb_alex::DEFAULT_MAX_DATA_SLOTS, || 1);
    assert!(matches!(loaded, Err(Error::ForeignFile { .. })));
    assert_eq!(runs, 1);
}

/// Streaming a snapshot of more than one write chunk (into a file, as checkpoints do)
/// gives the same bytes as the whole frame sealed at once: the checksum runs across the
/// chunks.
#[test]
fn streamed_encoding_is_the_sealed_frame() {
    let count = 3 * super::WRITE_CHUNK / ENTRY_LEN + 5;
    let entries: Vec<(i64, u64)> = (0..count as i64)
        .map(|i| (i * 7 - 1000, i as u64))
        .collect();
    let index = AlexMap::bulk_load(&entries).unwrap();
    let keyspaces = [(KeyspaceId(0), &index), (KeyspaceId(2), &index)];
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("streamed");
    let mut file = std::fs::File::create(&path).unwrap();
    encode_to(&mut file, 77, &[(4, 40)], &keyspaces).unwrap();
    drop(file);
    let streamed = std::fs::read(&path).unwrap();
    let whole = encode(77, &[(4, 40)], &keyspaces);
    assert_eq!(streamed, whole);
    assert_eq!(
        streamed,
        crate::bytes::seal(MAGIC, FORMAT_VERSION, &whole[12..whole.len() - 4])
    );
    let loaded = load(&path).unwrap();
    assert_eq!(loaded.covered_seq, 77);
    assert_eq!(loaded.keyspaces.len(), 2);
    assert_eq!(loaded.keyspaces[1].1.len(), count);
}
