//! alexdb's peers behind alexdb's own workload interface, [`KvStore`], so that every
//! store runs the very same operations (`alexdb::cli::workload`).
//!
//! Each peer stores the `i64` key as 8 order-preserving bytes ([`encode_key`]: sign bit
//! flipped, big-endian), so that byte order is integer order and scans start and end
//! where alexdb's do. Each write call (`put`, `put_batch`, `delete`) is one write
//! transaction (one atomic batch); each read call (`get`, `scan`) is one read transaction
//! where the peer has them (LMDB, redb).
//!
//! Durability, per [`Durability`]:
//!
//! | store   | durable                                  | fast                                 |
//! |---------|------------------------------------------|--------------------------------------|
//! | alexdb  | `Config::production()` (`SyncMode::Full`) | `Config::benchmark()` (`SyncMode::Off`) |
//! | LMDB    | default flags: fsync at each commit      | `NO_SYNC | NO_META_SYNC`             |
//! | redb    | `Durability::Immediate`                  | `Durability::None`                   |
//! | fjall   | batch `durability(SyncAll)` per write    | no persist (journal to OS buffers)   |
//! | RocksDB | `WriteOptions::set_sync(true)`           | WAL on, not synced (the default)     |
//! | BTreeMap| in memory either way                     | in memory                            |
//! | floor   | in memory either way (not a peer: the floor of alexdb's design) | in memory |

use alexdb::cli::store::{BTreeStore, CompactSummary, ConcurrentStore, KvStore, SyncSetting};
use std::path::Path;

mod fjall_store;
mod floor;
mod lmdb;
mod redb_store;
#[cfg(feature = "rocksdb")]
mod rocks;

pub use fjall_store::FjallStore;
pub use floor::FloorStore;
pub use lmdb::LmdbStore;
pub use redb_store::RedbStore;
#[cfg(feature = "rocksdb")]
pub use rocks::RocksStore;

/// The order-preserving byte form of a key: sign bit flipped, big-endian.
pub fn encode_key(key: i64) -> [u8; 8] {
    ((key as u64) ^ (1 << 63)).to_be_bytes()
}

/// The inverse of [`encode_key`]; `None` if `bytes` is not 8 bytes long.
pub fn decode_key(bytes: &[u8]) -> Option<i64> {
    let bytes: [u8; 8] = bytes.try_into().ok()?;
    Some((u64::from_be_bytes(bytes) ^ (1 << 63)) as i64)
}

/// Whether acknowledged writes must survive a power loss.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Durability {
    /// Every acknowledged write is on disk (fsync or equivalent per write call).
    Durable,
    /// Writes reach the OS (or stay in memory), nothing forces them to disk.
    Fast,
}

impl Durability {
    pub fn name(self) -> &'static str {
        match self {
            Durability::Durable => "durable",
            Durability::Fast => "fast",
        }
    }
}

/// The stores this comparison knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum StoreKind {
    /// alexdb's `ConcurrentAlexStorage` (the reference every ratio divides by).
    Alexdb,
    /// LMDB through heed.
    Lmdb,
    Redb,
    Fjall,
    /// `BTreeMap` under a `RwLock`, in memory.
    Btree,
    /// RocksDB through the `rocksdb` crate (needs `--features rocksdb`).
    Rocksdb,
    /// Not a peer: a hash table from key to offset over an in-memory log, the floor of
    /// any "index, then record" store such as alexdb ([`FloorStore`]; point reads and
    /// writes only, no scans).
    Floor,
    /// No store at all ([`NullStore`]): what the workload driver itself costs per
    /// operation, the floor under every other store's time.
    Null,
}

impl StoreKind {
    pub fn name(self) -> &'static str {
        match self {
            StoreKind::Alexdb => "alexdb",
            StoreKind::Lmdb => "lmdb",
            StoreKind::Redb => "redb",
            StoreKind::Fjall => "fjall",
            StoreKind::Btree => "btree",
            StoreKind::Rocksdb => "rocksdb",
            StoreKind::Floor => "floor",
            StoreKind::Null => "null",
        }
    }
}

/// Open a fresh store of `kind` in the empty directory `dir`.
pub fn open_store(
    kind: StoreKind,
    dir: &Path,
    durability: Durability,
) -> alexdb::Result<Box<dyn KvStore>> {
    Ok(match kind {
        StoreKind::Alexdb => {
            let sync = match durability {
                Durability::Durable => SyncSetting::Full,
                Durability::Fast => SyncSetting::Off,
            };
            Box::new(ConcurrentStore::open(dir, sync.config())?)
        }
        StoreKind::Lmdb => Box::new(LmdbStore::open(dir, durability)?),
        StoreKind::Redb => Box::new(RedbStore::open(dir, durability)?),
        StoreKind::Fjall => Box::new(FjallStore::open(dir, durability)?),
        StoreKind::Btree => Box::new(BTreeStore::default()),
        StoreKind::Floor => Box::new(FloorStore::new()?),
        StoreKind::Null => Box::new(NullStore),
        #[cfg(feature = "rocksdb")]
        StoreKind::Rocksdb => Box::new(RocksStore::open(dir, durability)?),
        #[cfg(not(feature = "rocksdb"))]
        StoreKind::Rocksdb => {
            return Err(peer_error(
                dir,
                "rocksdb",
                "built without the `rocksdb` feature (cargo run --features rocksdb)",
            ));
        }
    })
}

/// Stores nothing and answers every read with a value of the asked key (the key's 8
/// bytes, then zeros, 100 bytes in all), every scan with `count` consecutive keys from
/// `start`. Its ops/s is the workload driver's own rate (generators, timing, histogram,
/// value checks): the time every store pays on top of its own.
#[derive(Debug, Default)]
pub struct NullStore;

/// Bytes of the null store's values (the benchmarks' value size).
const NULL_VALUE_BYTES: usize = 100;

impl KvStore for NullStore {
    fn name(&self) -> &'static str {
        "null"
    }

    fn get(&self, key: i64, out: &mut Vec<u8>) -> alexdb::Result<bool> {
        out.clear();
        out.extend_from_slice(&key.to_le_bytes());
        out.resize(NULL_VALUE_BYTES, 0);
        Ok(true)
    }

    fn put(&self, _key: i64, _value: &[u8]) -> alexdb::Result<()> {
        Ok(())
    }

    fn put_batch(&self, _items: &[(i64, &[u8])]) -> alexdb::Result<()> {
        Ok(())
    }

    fn delete(&self, _key: i64) -> alexdb::Result<bool> {
        Ok(true)
    }

    fn scan(
        &self,
        start: i64,
        count: usize,
        f: &mut dyn FnMut(i64, &[u8]),
    ) -> alexdb::Result<usize> {
        let value = [0u8; NULL_VALUE_BYTES];
        let mut seen = 0;
        for key in (start..=i64::MAX).take(count) {
            f(key, &value);
            seen += 1;
        }
        Ok(seen)
    }

    fn checkpoint(&self) -> alexdb::Result<()> {
        Ok(())
    }

    fn compact(&self) -> alexdb::Result<CompactSummary> {
        Ok(nothing_compacted())
    }

    fn reopen(&mut self) -> alexdb::Result<std::time::Duration> {
        Ok(std::time::Duration::ZERO)
    }

    fn stats(&self) -> alexdb::cli::store::StoreStats {
        alexdb::cli::store::StoreStats::default()
    }
}

/// A peer's error as alexdb's I/O error on `dir`, naming the peer.
pub(crate) fn peer_error(dir: &Path, peer: &str, error: impl std::fmt::Display) -> alexdb::Error {
    alexdb::Error::Io {
        path: dir.to_path_buf(),
        source: std::io::Error::other(format!("{peer}: {error}")),
    }
}

/// The shared part of a peer's `reopen`: close what `slot` holds, then time `open`
/// (the slot stays empty if it fails, and later calls report the store closed).
pub(crate) fn timed_reopen<T>(
    slot: &mut Option<T>,
    open: impl FnOnce() -> alexdb::Result<T>,
) -> alexdb::Result<std::time::Duration> {
    drop(slot.take());
    let started = std::time::Instant::now();
    *slot = Some(open()?);
    Ok(started.elapsed())
}

/// What `compact` reports for a peer that compacts by itself or in place.
pub(crate) fn nothing_compacted() -> CompactSummary {
    CompactSummary::default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_encode_in_order() {
        let keys = [i64::MIN, -1_000_000, -1, 0, 1, 255, 256, i64::MAX];
        for pair in keys.windows(2) {
            assert!(encode_key(pair[0]) < encode_key(pair[1]), "{pair:?}");
        }
        for key in keys {
            assert_eq!(decode_key(&encode_key(key)), Some(key));
        }
        assert_eq!(decode_key(b"short"), None);
    }
}
