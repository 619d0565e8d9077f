//! Index snapshots: for every keyspace, its keys in order with their packed record
//! locations, plus per-segment live byte counts, covering the log up to a sequence
//! number. Opening loads a snapshot with `AlexMap::bulk_load` and replays only the log
//! after it. A snapshot is an optimisation, never the only copy of anything: without a
//! usable one, a full scan of the segments rebuilds the same state.

use crate::bytes::{ByteReader, ByteWriter, open_sealed, seal};
use crate::codec::KeyspaceId;
use crate::layout::write_atomically;
use crate::{Error, Result};
use alexdb_alex::AlexMap;
use std::path::Path;

const MAGIC: &[u8; 8] = b"ALEXSNAP";
/// Version of the snapshot format.
pub const FORMAT_VERSION: u32 = 1;
const ENTRY_LEN: usize = 16;

/// A decoded snapshot.
#[derive(Debug, Default)]
pub struct Snapshot {
    pub covered_seq: u64,
    /// (segment id, live bytes) for every segment holding live records.
    pub segment_live_bytes: Vec<(u64, u64)>,
    /// Keys in strictly increasing order with their packed locations, per keyspace.
    pub keyspaces: Vec<(KeyspaceId, Vec<(i64, u64)>)>,
}

/// Encode a snapshot body: the caller holds whatever lock keeps the indexes still.
pub fn encode(
    covered_seq: u64,
    segment_live_bytes: &[(u64, u64)],
    keyspaces: &[(KeyspaceId, &AlexMap<u64>)],
) -> Vec<u8> {
    let entries: usize = keyspaces.iter().map(|(_, index)| index.len()).sum();
    let mut w = ByteWriter::with_capacity(64 + segment_live_bytes.len() * 16 + entries * ENTRY_LEN);
    w.u64(covered_seq);
    w.u64(segment_live_bytes.len() as u64);
    for (id, live) in segment_live_bytes {
        w.u64(*id);
        w.u64(*live);
    }
    w.u64(keyspaces.len() as u64);
    for (id, index) in keyspaces {
        w.u32(id.0);
        w.u64(index.len() as u64);
        for (key, location) in index.iter() {
            w.i64(key);
            w.u64(*location);
        }
    }
    w.bytes
}

/// Write an encoded snapshot body to `path` atomically.
pub fn write(path: &Path, body: &[u8]) -> Result<()> {
    write_atomically(path, &seal(MAGIC, FORMAT_VERSION, body))
}

/// Read and validate a snapshot file.
pub fn read(path: &Path) -> Result<Snapshot> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let body = open_sealed(MAGIC, FORMAT_VERSION, &bytes, path)?;
    let mut r = ByteReader::new(body, path);
    let covered_seq = r.u64("covered sequence")?;
    let mut segment_live_bytes = Vec::new();
    for _ in 0..r.count(16, "segment count")? {
        segment_live_bytes.push((r.u64("segment id")?, r.u64("live bytes")?));
    }
    let mut keyspaces = Vec::new();
    for _ in 0..r.count(12, "keyspace count")? {
        let id = KeyspaceId(r.u32("keyspace id")?);
        let count = r.count(ENTRY_LEN, "entry count")?;
        let raw = r.take(count * ENTRY_LEN, "entries")?;
        let mut entries = Vec::with_capacity(count);
        for chunk in raw.chunks_exact(ENTRY_LEN) {
            let key = i64::from_le_bytes(chunk[..8].try_into().expect("8 bytes"));
            let location = u64::from_le_bytes(chunk[8..].try_into().expect("8 bytes"));
            entries.push((key, location));
        }
        keyspaces.push((id, entries));
    }
    if r.remaining() != 0 {
        return Err(r.error("unexpected bytes after the snapshot body"));
    }
    Ok(Snapshot {
        covered_seq,
        segment_live_bytes,
        keyspaces,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_every_truncation_and_flip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("snap");
        let index = AlexMap::bulk_load(&[(i64::MIN, 1u64), (0, 2), (i64::MAX, 3)]).unwrap();
        write(&path, &encode(42, &[(1, 300)], &[(KeyspaceId(0), &index)])).unwrap();
        let snapshot = read(&path).unwrap();
        assert_eq!(snapshot.covered_seq, 42);
        assert_eq!(snapshot.segment_live_bytes, vec![(1, 300)]);
        assert_eq!(
            snapshot.keyspaces,
            vec![(KeyspaceId(0), vec![(i64::MIN, 1), (0, 2), (i64::MAX, 3)])]
        );

        let bytes = std::fs::read(&path).unwrap();
        for len in 0..bytes.len() {
            std::fs::write(&path, &bytes[..len]).unwrap();
            assert!(read(&path).is_err(), "truncated at {len}");
        }
        for bit in 0..bytes.len() * 8 {
            let mut damaged = bytes.clone();
            damaged[bit / 8] ^= 1 << (bit % 8);
            std::fs::write(&path, &damaged).unwrap();
            assert!(read(&path).is_err(), "bit {bit} flipped");
        }
    }
}
