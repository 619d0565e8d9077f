//! alexdb: an embedded key-value store with `i64` keys and byte values — an ALEX learned
//! index in memory over memory-mapped, checksummed, append-only data files with its own
//! write-ahead log.
//!
//! ```no_run
//! use alexdb::{AlexStorage, Config};
//!
//! # fn main() -> alexdb::Result<()> {
//! let mut store = AlexStorage::open_with("my-data", Config::production())?;
//! store.insert(42, b"hello")?;
//! assert_eq!(store.get(42)?, Some(&b"hello"[..])); // a slice of the mapped file
//! store.close()
//! # }
//! ```
//!
//! For many threads, share a [`ConcurrentAlexStorage`] (cheap to clone). Crates below
//! this facade: `alexdb-alex` (the index), `alexdb-wal` (the log), `alexdb-engine` (the
//! store), `alexdb-concurrent` (the thread-safe handle and metrics); see
//! `docs/ARCHITECTURE.md`.

pub use alexdb_alex::{
    AlexMap, AlexStats, BulkLoadError, DEFAULT_MAX_DATA_SLOTS, InvalidMaxDataSlots,
    MAX_DATA_SLOTS_RANGE,
};
pub use alexdb_concurrent::{
    ConcurrentAlexStorage, LatencySummary, MetricsSnapshot, OpKind, OpSnapshot,
};
pub use alexdb_engine::{
    AccessMode, AlexStorage, CatchUpReport, CompactionReport, Config, Damage, DamageKind, Error,
    HugePages, IndexSource, Keyspace, KeyspaceStats, OpenReport, Range, RecoveryMode,
    RecoveryReport, Result, StorageStats, SyncMode, TornTail, VerifyReport, WalStats, WriteBatch,
};

/// The write-ahead log crate, for tools that inspect segments directly.
pub use alexdb_wal as wal;

/// The `alexdb` command-line tool (the binary is a one-line `main` over this). Public only
/// so that the peer comparison in `benches/peers/` can drive the same workloads
/// (`cli::workload`) through the same interface (`cli::store::KvStore`); not a stable API.
#[doc(hidden)]
pub mod cli;
