//! `AlexStorage`: the storage engine of alexdb.
//!
//! Owns a data directory: the write-ahead log (whose segments are the data files),
//! compacted segments, index snapshots and the MANIFEST. Keeps one ALEX index per
//! keyspace mapping each key to the location of its newest record, and reads values as
//! slices of the memory-mapped segments.
//!
//! Invariants (tested): updates and deletes survive reopen, checkpoint, compaction,
//! recovery without a snapshot, and crashes during any of them (I-5); damaged or foreign
//! files give a typed error or a reported repair, never a panic (I-6). See
//! `docs/engine.md` for the read and write paths and `docs/FORMAT.md` for the files.

mod batch;
mod bytes;
mod checkpoint;
pub mod codec;
mod compaction;
mod config;
mod error;
mod follow;
mod keyspace;
mod layout;
mod manifest;
mod range;
mod recovery;
mod segments;
mod snapshot;
mod stats;
mod storage;
mod verify;
mod warm;

pub use alexdb_wal::{HugePages, PublishedBatch, RecoveryMode, RecoveryReport, SyncMode, WalStats};
pub use batch::WriteBatch;
pub use checkpoint::{PendingCheckpoint, WrittenCheckpoint};
pub use codec::KeyspaceId;
pub use compaction::{
    CompactionChoice, CompactionGoal, CompactionPlan, CompactionReport, InstalledCompaction,
};
pub use config::Config;
pub use error::{Error, Result};
pub use follow::CatchUpReport;
pub use keyspace::{Keyspace, MAX_KEYSPACE_NAME_LEN, MAX_KEYSPACES};
pub use range::Range;
pub use recovery::{IndexSource, OpenReport};
pub use stats::{KeyspaceStats, StorageStats};
pub use storage::{AccessMode, AlexStorage, KeyspaceCreation, MULTI_GET_WINDOW, PendingKeyspace};
pub use verify::{Damage, DamageKind, MAX_DAMAGE_LISTED, TornTail, VerifyReport};
