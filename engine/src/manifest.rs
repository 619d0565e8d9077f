//! The MANIFEST: the small file whose atomic replacement commits every change to the set
//! of files that make up the store — keyspace creation, the live compacted segments,
//! the segments whose removal is committed, and the current snapshot.
//!
//! Invariants: a compacted segment is part of the store iff the manifest lists it; a
//! snapshot is used iff the manifest names it; a segment in `retired` is never read again
//! (open removes it before anything else). Log segments not in `retired` are all live.

use crate::bytes::{ByteReader, ByteWriter, open_sealed, seal};
use crate::codec::{DEFAULT_KEYSPACE, KeyspaceId};
use crate::layout::{MANIFEST_FILE, write_atomically};
use crate::{Error, Result};
use std::path::Path;

const MAGIC: &[u8; 8] = b"ALEXMANI";
/// Version of the manifest format (and of the directory layout as a whole).
pub const FORMAT_VERSION: u32 = 1;

/// A compacted segment and the smallest sequence number it holds (used to decide when a
/// tombstone can be dropped).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StandaloneSegment {
    pub id: u64,
    pub min_seq: u64,
}

/// The snapshot in use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SnapshotRef {
    pub number: u64,
    /// Every record with a sequence number ≤ this is reflected in the snapshot.
    pub covered_seq: u64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Manifest {
    /// Keyspace ids and names; id 0 is always "default".
    pub keyspaces: Vec<(KeyspaceId, String)>,
    pub standalone: Vec<StandaloneSegment>,
    /// Segment ids (log or compacted) whose removal is committed.
    pub retired: Vec<u64>,
    pub snapshot: Option<SnapshotRef>,
    /// Number for the next snapshot file; never reused.
    pub next_snapshot_number: u64,
}

impl Manifest {
    /// The manifest of a new, empty store.
    pub fn new() -> Manifest {
        Manifest {
            keyspaces: vec![(DEFAULT_KEYSPACE, "default".to_string())],
            standalone: Vec::new(),
            retired: Vec::new(),
            snapshot: None,
            next_snapshot_number: 1,
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut w = ByteWriter::with_capacity(256);
        w.u64(self.keyspaces.len() as u64);
        for (id, name) in &self.keyspaces {
            w.u32(id.0);
            w.u16(name.len() as u16);
            w.raw(name.as_bytes());
        }
        w.u64(self.standalone.len() as u64);
        for segment in &self.standalone {
            w.u64(segment.id);
            w.u64(segment.min_seq);
        }
        w.u64(self.retired.len() as u64);
        for id in &self.retired {
            w.u64(*id);
        }
        match self.snapshot {
            Some(snapshot) => {
                w.u8(1);
                w.u64(snapshot.number);
                w.u64(snapshot.covered_seq);
            }
            None => {
                w.u8(0);
                w.u64(0);
                w.u64(0);
            }
        }
        w.u64(self.next_snapshot_number);
        seal(MAGIC, FORMAT_VERSION, &w.bytes)
    }

    pub fn decode(bytes: &[u8], file: &Path) -> Result<Manifest> {
        let body = open_sealed(MAGIC, FORMAT_VERSION, bytes, file)?;
        let mut r = ByteReader::new(body, file);
        let mut keyspaces = Vec::new();
        for _ in 0..r.count(6, "keyspace count")? {
            let id = KeyspaceId(r.u32("keyspace id")?);
            let len = r.u16("keyspace name length")? as usize;
            let name = std::str::from_utf8(r.take(len, "keyspace name")?)
                .map_err(|_| r.error("keyspace name is not UTF-8"))?;
            keyspaces.push((id, name.to_string()));
        }
        if keyspaces.first().map(|(id, _)| *id) != Some(DEFAULT_KEYSPACE) {
            return Err(r.error("the default keyspace is missing"));
        }
        let mut standalone = Vec::new();
        for _ in 0..r.count(16, "segment count")? {
            let id = r.u64("segment id")?;
            let min_seq = r.u64("segment min seq")?;
            standalone.push(StandaloneSegment { id, min_seq });
        }
        let mut retired = Vec::new();
        for _ in 0..r.count(8, "retired count")? {
            retired.push(r.u64("retired segment id")?);
        }
        let has_snapshot = r.u8("snapshot flag")?;
        let number = r.u64("snapshot number")?;
        let covered_seq = r.u64("snapshot sequence")?;
        let snapshot = match has_snapshot {
            0 => None,
            1 => Some(SnapshotRef {
                number,
                covered_seq,
            }),
            other => return Err(r.error(format!("snapshot flag {other} is neither 0 nor 1"))),
        };
        let next_snapshot_number = r.u64("next snapshot number")?;
        if r.remaining() != 0 {
            return Err(r.error("unexpected bytes after the manifest body"));
        }
        Ok(Manifest {
            keyspaces,
            standalone,
            retired,
            snapshot,
            next_snapshot_number,
        })
    }

    /// Read the manifest of `dir`; `Ok(None)` if there is none.
    pub fn load(dir: &Path) -> Result<Option<Manifest>> {
        let path = dir.join(MANIFEST_FILE);
        match std::fs::read(&path) {
            Ok(bytes) => Manifest::decode(&bytes, &path).map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io(&path, e)),
        }
    }

    /// Replace the manifest of `dir` atomically and durably.
    pub fn store(&self, dir: &Path) -> Result<()> {
        write_atomically(&dir.join(MANIFEST_FILE), &self.encode())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Manifest {
        let mut manifest = Manifest::new();
        manifest
            .keyspaces
            .push((KeyspaceId(3), "graph-nodes".into()));
        manifest
            .standalone
            .push(StandaloneSegment { id: 9, min_seq: 4 });
        manifest.retired.push(2);
        manifest.snapshot = Some(SnapshotRef {
            number: 5,
            covered_seq: 77,
        });
        manifest.next_snapshot_number = 6;
        manifest
    }

    #[test]
    fn round_trips() {
        let manifest = sample();
        let decoded = Manifest::decode(&manifest.encode(), Path::new("MANIFEST")).unwrap();
        assert_eq!(decoded, manifest);
    }

    #[test]
    fn every_truncation_and_bit_flip_is_a_typed_error() {
        let bytes = sample().encode();
        let file = Path::new("MANIFEST");
        for len in 0..bytes.len() {
            assert!(
                Manifest::decode(&bytes[..len], file).is_err(),
                "truncated at {len}"
            );
        }
        for bit in 0..bytes.len() * 8 {
            let mut damaged = bytes.clone();
            damaged[bit / 8] ^= 1 << (bit % 8);
            assert!(
                Manifest::decode(&damaged, file).is_err(),
                "bit {bit} flipped"
            );
        }
    }

    #[test]
    fn a_future_version_is_reported_as_such() {
        let mut bytes = sample().encode();
        bytes[8..12].copy_from_slice(&(FORMAT_VERSION + 1).to_le_bytes());
        match Manifest::decode(&bytes, Path::new("MANIFEST")) {
            Err(Error::UnsupportedVersion { found, .. }) => assert_eq!(found, FORMAT_VERSION + 1),
            other => panic!("expected UnsupportedVersion, got {other:?}"),
        }
    }
}
