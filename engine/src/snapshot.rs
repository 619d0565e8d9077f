//! Index snapshots: for every keyspace, its keys in order with their packed record
//! locations, plus per-segment live byte counts, covering the log up to a sequence
//! number. Opening loads a snapshot with `AlexMap::bulk_load` and replays only the log
//! after it. A snapshot is an optimisation, never the only copy of anything: without a
//! usable one, a full scan of the segments rebuilds the same state.

use crate::bytes::FRAME_OVERHEAD;
use crate::codec::{KeyspaceId, PackedLocation};
use crate::{Error, Result};
use alexdb_alex::AlexMap;
use std::fs::File;
use std::io::{BufReader, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;

const MAGIC: &[u8; 8] = b"ALEXSNAP";
/// Version of the snapshot format.
pub const FORMAT_VERSION: u32 = 1;
const ENTRY_LEN: usize = 16;

/// What checking a snapshot file (`read`) reports; `load` returns its contents.
#[derive(Debug, Default)]
pub struct Snapshot {
    pub covered_seq: u64,
}

/// Bytes a streaming encoder gathers before it hands them to its output (and checksums
/// them): large enough that writing costs one system call per mebibyte, small enough
/// that a checkpoint of any store needs no more memory than this.
const WRITE_CHUNK: usize = 1 << 20;

/// Encode a snapshot file — `magic | version | body | crc32` — straight into `out`, a
/// chunk at a time; the caller holds whatever lock keeps the indexes still.
///
/// Why streaming: encoding into one buffer needed a transient allocation as large as the
/// snapshot (16 bytes per key: 160 MB at 10M keys), and its fresh pages cost a page
/// fault and a zeroed page each — 8.5% of the time of 10M single inserts with automatic
/// checkpoints (`perf`, session 7). `out` is typically a file; pass a `Vec` to get the
/// bytes.
pub fn encode_to(
    out: &mut impl Write,
    covered_seq: u64,
    segment_live_bytes: &[(u64, u64)],
    keyspaces: &[(KeyspaceId, &AlexMap<u64>)],
) -> std::io::Result<()> {
    let mut w = ChunkWriter {
        out,
        chunk: Vec::with_capacity(WRITE_CHUNK + ENTRY_LEN),
        crc: crc32fast::Hasher::new(),
    };
    w.put(MAGIC);
    w.put(&FORMAT_VERSION.to_le_bytes());
    w.put(&covered_seq.to_le_bytes());
    w.put(&(segment_live_bytes.len() as u64).to_le_bytes());
    for (id, live) in segment_live_bytes {
        w.put(&id.to_le_bytes());
        w.put(&live.to_le_bytes());
    }
    w.put(&(keyspaces.len() as u64).to_le_bytes());
    for (id, index) in keyspaces {
        w.put(&id.0.to_le_bytes());
        w.put(&(index.len() as u64).to_le_bytes());
        for (key, location) in index.iter() {
            w.put(&key.to_le_bytes());
            w.put(&location.to_le_bytes());
            if w.chunk.len() >= WRITE_CHUNK {
                w.flush_chunk()?;
            }
        }
    }
    w.flush_chunk()?;
    let crc = w.crc.finalize();
    w.out.write_all(&crc.to_le_bytes())
}

/// The whole snapshot file as bytes (see [`encode_to`]).
#[cfg(test)]
pub fn encode(
    covered_seq: u64,
    segment_live_bytes: &[(u64, u64)],
    keyspaces: &[(KeyspaceId, &AlexMap<u64>)],
) -> Vec<u8> {
    let entries: usize = keyspaces.iter().map(|(_, index)| index.len()).sum();
    let mut bytes = Vec::with_capacity(
        FRAME_OVERHEAD + 64 + segment_live_bytes.len() * 16 + entries * ENTRY_LEN,
    );
    encode_to(&mut bytes, covered_seq, segment_live_bytes, keyspaces)
        .expect("writing into a Vec cannot fail");
    bytes
}

/// Write a whole encoded snapshot file to `path` atomically (tests build damaged ones).
#[cfg(test)]
pub fn write(path: &Path, bytes: Vec<u8>) -> Result<()> {
    crate::layout::write_atomically(path, &bytes)
}

/// Gathers small writes into a chunk, checksumming each chunk as it goes out.
struct ChunkWriter<'a, W> {
    out: &'a mut W,
    chunk: Vec<u8>,
    crc: crc32fast::Hasher,
}

impl<W: Write> ChunkWriter<'_, W> {
    #[inline]
    fn put(&mut self, bytes: &[u8]) {
        self.chunk.extend_from_slice(bytes);
    }

    fn flush_chunk(&mut self) -> std::io::Result<()> {
        self.crc.update(&self.chunk);
        self.out.write_all(&self.chunk)?;
        self.chunk.clear();
        Ok(())
    }
}

/// Read and validate a snapshot file (frame, structure, checksum) without building
/// its indexes.
pub fn read(path: &Path) -> Result<Snapshot> {
    let parsed = parse(
        path,
        usize::MAX,
        &mut None::<fn()>,
        &mut None,
        &mut |_, _| Ok(()),
    )?;
    Ok(Snapshot {
        covered_seq: parsed.covered_seq,
    })
}

/// A snapshot read, checksum-verified and bulk-loaded into indexes, but not yet checked
/// against the store's segments (opening does that once the log is recovered, see
/// `AlexStorage::install_snapshot`). Built without the store, so that opening can load
/// it while another thread recovers the log.
#[derive(Debug)]
pub struct LoadedSnapshot {
    pub covered_seq: u64,
    pub segment_live_bytes: Vec<(u64, u64)>,
    pub keyspaces: Vec<(KeyspaceId, AlexMap<u64>)>,
    /// For every segment some key points into: the highest offset pointed at, and a key
    /// pointing there. All locations are in bounds iff every segment listed exists and
    /// is written beyond its highest offset, which checks 10M keys with one comparison
    /// per segment.
    pub reach: Vec<SegmentReach>,
}

/// The furthest any key of a snapshot points into one segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SegmentReach {
    pub segment_id: u64,
    pub max_offset: u64,
    pub key: i64,
}

/// Read a snapshot (checksum verified) and bulk-load its indexes (ALEX's default maximum
/// node size).
#[cfg(test)]
pub fn load(path: &Path) -> Result<LoadedSnapshot> {
    load_with(path, alexdb_alex::DEFAULT_MAX_DATA_SLOTS)
}

/// Read a snapshot (checksum verified) and bulk-load its indexes with data nodes of at
/// most `max_data_slots`.
pub fn load_with(path: &Path, max_data_slots: usize) -> Result<LoadedSnapshot> {
    load_beside(path, PARALLEL_ENTRIES, max_data_slots, || ()).0
}

/// `load`, also running `beside` (once, whatever happens) as early as it can: opening
/// passes the start of log recovery. For a first keyspace of `parallel_entries` or more
/// entries, a helper thread decodes its second half while this one decodes the first,
/// and then runs `beside` (the helper is done after that, so at most two threads are
/// busy at once); otherwise `beside` runs on this thread before the entries are read.
pub fn load_beside<R: Send>(
    path: &Path,
    parallel_entries: usize,
    max_data_slots: usize,
    beside: impl FnOnce() -> R + Send,
) -> (Result<LoadedSnapshot>, R) {
    let mut beside = Some(beside);
    let mut beside_result = None;
    let loaded = load_inner(
        path,
        parallel_entries,
        max_data_slots,
        &mut beside,
        &mut beside_result,
    );
    let beside_result = match (beside.take(), beside_result) {
        (Some(beside), _) => beside(),
        (None, Some(result)) => result,
        (None, None) => unreachable!("beside is taken only when it runs"),
    };
    (loaded, beside_result)
}

fn load_inner<F: FnOnce() -> R + Send, R: Send>(
    path: &Path,
    parallel_entries: usize,
    max_data_slots: usize,
    beside: &mut Option<F>,
    beside_result: &mut Option<R>,
) -> Result<LoadedSnapshot> {
    let mut decoded = Vec::new();
    let parsed = parse(
        path,
        parallel_entries,
        beside,
        beside_result,
        &mut |id, entries| {
            decoded.push((id, entries));
            Ok(())
        },
    )?;
    let mut keyspaces = Vec::with_capacity(decoded.len());
    for (id, entries) in decoded {
        let index = AlexMap::bulk_load_with_max_data_slots(&entries, max_data_slots)
            .map_err(|error| Error::corruption(path, 0, format!("keyspace {}: {error}", id.0)))?;
        drop(entries);
        keyspaces.push((id, index));
    }
    Ok(LoadedSnapshot {
        covered_seq: parsed.covered_seq,
        segment_live_bytes: parsed.segment_live_bytes,
        keyspaces,
        reach: parsed.reach.into_list(),
    })
}

/// Highest offset per segment id: dense for the small ids stores use, sparse above.
#[derive(Default)]
struct Reach {
    dense: Vec<Option<(u64, i64)>>,
    sparse: std::collections::BTreeMap<u64, Option<(u64, i64)>>,
}

const DENSE_SEGMENT_IDS: u64 = 1 << 16;

impl Reach {
    #[inline]
    fn note(&mut self, key: i64, location: PackedLocation) {
        let id = location.segment_id().0;
        let offset = location.offset();
        let slot = if id < DENSE_SEGMENT_IDS {
            let id = id as usize;
            if self.dense.len() <= id {
                self.dense.resize(id + 1, None);
            }
            &mut self.dense[id]
        } else {
            // Only a damaged snapshot or a store past 65,536 segment ids gets here.
            self.sparse.entry(id).or_insert(None)
        };
        match slot {
            Some((max, _)) if *max >= offset => {}
            _ => *slot = Some((offset, key)),
        }
    }

    fn merge(&mut self, other: Reach) {
        for reach in other.into_list() {
            let location = PackedLocation((reach.segment_id << 40) | reach.max_offset);
            self.note(reach.key, location);
        }
    }

    fn into_list(self) -> Vec<SegmentReach> {
        let dense = self
            .dense
            .into_iter()
            .enumerate()
            .filter_map(|(id, slot)| slot.map(|found| (id as u64, found)));
        let sparse = self
            .sparse
            .into_iter()
            .filter_map(|(id, slot)| slot.map(|found| (id, found)));
        dense
            .chain(sparse)
            .map(|(segment_id, (max_offset, key))| SegmentReach {
                segment_id,
                max_offset,
                key,
            })
            .collect()
    }
}

/// Entries decoded per read (1 MiB of the file).
const CHUNK_ENTRIES: usize = 1 << 16;

/// A first keyspace with at least this many entries (16 MiB) is decoded by two threads.
/// The crate's unit tests lower it, so that their small stores open that way too (the
/// integration tests in `engine/tests` open theirs with one thread).
pub const PARALLEL_ENTRIES: usize = if cfg!(test) { 64 } else { 1 << 20 };

/// What `parse` found besides the entries it hands out.
struct Parsed {
    covered_seq: u64,
    segment_live_bytes: Vec<(u64, u64)>,
    reach: Reach,
}

/// Stream through a snapshot file: checks the frame, hands each keyspace's entries to
/// `keyspace` in file order, and verifies the checksum at the end (an error then means
/// the caller must discard everything it was handed). Streaming in 1 MiB pieces, instead
/// of reading the file into one buffer first, saves a copy and the page faults of a
/// buffer as large as the file.
/// `beside`: see `load_beside`; its result is stored in `beside_result` when it ran.
fn parse<F: FnOnce() -> R + Send, R: Send>(
    path: &Path,
    parallel_entries: usize,
    beside: &mut Option<F>,
    beside_result: &mut Option<R>,
    keyspace: &mut dyn FnMut(KeyspaceId, Vec<(i64, u64)>) -> Result<()>,
) -> Result<Parsed> {
    let mut stream = SealedStream::open(path)?;
    let covered_seq = stream.u64("covered sequence")?;
    let mut segment_live_bytes = Vec::new();
    for _ in 0..stream.count(16, "segment count")? {
        segment_live_bytes.push((stream.u64("segment id")?, stream.u64("live bytes")?));
    }
    let mut reach = Reach::default();
    for _ in 0..stream.count(12, "keyspace count")? {
        let id = KeyspaceId(stream.u32("keyspace id")?);
        let count = stream.count(ENTRY_LEN, "entry count")?;
        let entries = if count >= parallel_entries.max(2)
            && let Some(beside) = beside.take()
        {
            stream.entries_two_threads(count, &mut reach, beside, beside_result)?
        } else {
            if let Some(beside) = beside.take() {
                *beside_result = Some(beside());
            }
            stream.entries(count, &mut reach)?
        };
        keyspace(id, entries)?;
    }
    stream.finish()?;
    Ok(Parsed {
        covered_seq,
        segment_live_bytes,
        reach,
    })
}

/// Decode raw entries into `out` (as many entries as `raw` holds), noting where they
/// point.
fn decode_entries(raw: &[u8], out: &mut [(i64, u64)], reach: &mut Reach) {
    for (entry, slot) in raw.chunks_exact(ENTRY_LEN).zip(out) {
        let key = i64::from_le_bytes(entry[..8].try_into().expect("8 bytes"));
        let location = u64::from_le_bytes(entry[8..].try_into().expect("8 bytes"));
        reach.note(key, PackedLocation(location));
        *slot = (key, location);
    }
}

/// Read, checksum and decode `out.len()` entries at file offset `offset` with a file
/// handle of its own. The caller checked that they lie inside the body.
fn decode_at(
    path: &Path,
    offset: u64,
    out: &mut [(i64, u64)],
) -> Result<(crc32fast::Hasher, Reach)> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let mut hasher = crc32fast::Hasher::new();
    let mut reach = Reach::default();
    let mut buffer = vec![0u8; CHUNK_ENTRIES * ENTRY_LEN];
    let mut at = offset;
    for chunk in out.chunks_mut(CHUNK_ENTRIES) {
        let raw = &mut buffer[..chunk.len() * ENTRY_LEN];
        file.read_exact_at(raw, at)
            .map_err(|e| Error::io(path, e))?;
        hasher.update(raw);
        decode_entries(raw, chunk, &mut reach);
        at += raw.len() as u64;
    }
    Ok((hasher, reach))
}

/// Sequential reader of a sealed frame (`magic | version | body | crc32`, see
/// `bytes::seal`): every byte of the body passes through the checksum as it is taken,
/// and every short read is a typed corruption error naming the file and offset.
struct SealedStream<'p> {
    reader: BufReader<File>,
    path: &'p Path,
    /// File offset of the next byte to take.
    position: u64,
    /// File offset where the body ends (the checksum follows).
    body_end: u64,
    hasher: crc32fast::Hasher,
    scratch: Vec<u8>,
}

impl<'p> SealedStream<'p> {
    fn open(path: &'p Path) -> Result<SealedStream<'p>> {
        let file = File::open(path).map_err(|e| Error::io(path, e))?;
        let len = file.metadata().map_err(|e| Error::io(path, e))?.len();
        let mut reader = BufReader::with_capacity(CHUNK_ENTRIES * ENTRY_LEN, file);
        let mut head = [0u8; 12];
        let have = len.min(12) as usize;
        reader
            .read_exact(&mut head[..have])
            .map_err(|e| Error::io(path, e))?;
        if have < 12 || &head[..8] != MAGIC {
            return Err(Error::ForeignFile {
                file: path.to_path_buf(),
            });
        }
        let version = u32::from_le_bytes(head[8..12].try_into().expect("4 bytes"));
        if version != FORMAT_VERSION {
            return Err(Error::UnsupportedVersion {
                file: path.to_path_buf(),
                found: version,
                supported: FORMAT_VERSION,
            });
        }
        if len < FRAME_OVERHEAD as u64 {
            return Err(Error::corruption(path, len, "file is truncated"));
        }
        let mut hasher = crc32fast::Hasher::new();
        hasher.update(&head);
        Ok(SealedStream {
            reader,
            path,
            position: 12,
            body_end: len - 4,
            hasher,
            scratch: Vec::new(),
        })
    }

    fn remaining(&self) -> u64 {
        self.body_end - self.position
    }

    fn error(&self, reason: impl Into<String>) -> Error {
        Error::corruption(self.path, self.position, reason)
    }

    /// The next `len` bytes of the body (checksummed as they are taken).
    fn take(&mut self, len: usize, what: &str) -> Result<&[u8]> {
        if self.remaining() < len as u64 {
            return Err(self.error(format!(
                "file ends inside {what}: {len} bytes needed, {} left",
                self.remaining()
            )));
        }
        self.scratch.resize(len, 0);
        self.reader
            .read_exact(&mut self.scratch)
            .map_err(|e| Error::io(self.path, e))?;
        self.hasher.update(&self.scratch);
        self.position += len as u64;
        Ok(&self.scratch)
    }

    fn u32(&mut self, what: &str) -> Result<u32> {
        let bytes = self.take(4, what)?;
        Ok(u32::from_le_bytes(bytes.try_into().expect("4 bytes")))
    }

    fn u64(&mut self, what: &str) -> Result<u64> {
        let bytes = self.take(8, what)?;
        Ok(u64::from_le_bytes(bytes.try_into().expect("8 bytes")))
    }

    /// A count that must be plausible: each counted item takes at least `item_len` bytes
    /// of what is left, so a flipped bit cannot make us allocate terabytes.
    fn count(&mut self, item_len: usize, what: &str) -> Result<usize> {
        let count = self.u64(what)?;
        let max = self.remaining() / item_len.max(1) as u64;
        if count > max {
            return Err(self.error(format!(
                "{what} = {count} is impossible with {} bytes left",
                self.remaining()
            )));
        }
        Ok(count as usize)
    }

    /// The next `count` entries (`count` was checked against what is left), noting in
    /// `reach` where they point.
    fn entries(&mut self, count: usize, reach: &mut Reach) -> Result<Vec<(i64, u64)>> {
        let mut entries = vec![(0i64, 0u64); count];
        for chunk in entries.chunks_mut(CHUNK_ENTRIES) {
            let raw = self.take(chunk.len() * ENTRY_LEN, "entries")?;
            decode_entries(raw, chunk, reach);
        }
        Ok(entries)
    }

    /// `entries` on two threads: a helper reads, checksums and decodes the second half
    /// with a file handle of its own, then runs `beside`; its checksum is combined into
    /// this stream's (`Hasher::combine`).
    fn entries_two_threads<F: FnOnce() -> R + Send, R: Send>(
        &mut self,
        count: usize,
        reach: &mut Reach,
        beside: F,
        beside_result: &mut Option<R>,
    ) -> Result<Vec<(i64, u64)>> {
        // Zeroed memory comes from the allocator untouched (calloc): decoding into it
        // is its first write.
        let mut entries = vec![(0i64, 0u64); count];
        let split = count / 2;
        let (front, back) = entries.split_at_mut(split);
        let back_offset = self.position + (split * ENTRY_LEN) as u64;
        let path = self.path;
        let mut beside = Some(beside);
        let (front_result, helped) = std::thread::scope(|scope| {
            let helper = std::thread::Builder::new()
                .name("alexdb-snapshot-decode".into())
                .spawn_scoped(scope, || {
                    let decoded = decode_at(path, back_offset, back);
                    (decoded, beside.take().map(|beside| beside()))
                })
                // No thread (resource limits): the second half is decoded below.
                .ok();
            let front_result: Result<()> = front.chunks_mut(CHUNK_ENTRIES).try_for_each(|chunk| {
                let raw = self.take(chunk.len() * ENTRY_LEN, "entries")?;
                decode_entries(raw, chunk, reach);
                Ok(())
            });
            let helped = helper.map(|helper| {
                helper
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            });
            (front_result, helped)
        });
        let back_result = match helped {
            Some((decoded, result)) => {
                *beside_result = result;
                decoded
            }
            None => {
                *beside_result = beside.take().map(|beside| beside());
                decode_at(path, back_offset, back)
            }
        };
        front_result?;
        let (hasher, back_reach) = back_result?;
        let skipped = ((count - split) * ENTRY_LEN) as u64;
        self.reader
            .seek_relative(skipped as i64)
            .map_err(|e| Error::io(self.path, e))?;
        self.position += skipped;
        self.hasher.combine(&hasher);
        reach.merge(back_reach);
        Ok(entries)
    }

    /// The body must end here, and the checksum must match.
    fn finish(mut self) -> Result<()> {
        if self.remaining() != 0 {
            return Err(self.error("unexpected bytes after the snapshot body"));
        }
        let mut stored = [0u8; 4];
        self.reader
            .read_exact(&mut stored)
            .map_err(|e| Error::io(self.path, e))?;
        if self.hasher.finalize() != u32::from_le_bytes(stored) {
            return Err(Error::corruption(
                self.path,
                self.body_end,
                "checksum mismatch",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
