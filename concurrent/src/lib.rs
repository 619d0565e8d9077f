//! `ConcurrentAlexStorage`: a cheap-to-clone, `Send + Sync` handle over
//! `Arc<parking_lot::RwLock<AlexStorage>>` for many threads, plus read-only and
//! secondary access from other processes, and metrics.
//!
//! Readers normally skip the `RwLock`'s shared acquire: while no writer has been active
//! for a millisecond, each reader announces itself in its own cache line instead, and a
//! writer that takes the lock exclusively first waits for those readers to leave (the
//! BRAVO technique; `bias.rs` has the argument). Any write turns the fast path off for a
//! while, so mixed workloads run on the plain `RwLock`.
//!
//! Write path (invariant I-7): a writer validates under the shared lock, then enters the
//! log's group commit *without* any store lock. The group's leader appends and syncs the
//! group, and only then takes the exclusive lock to apply the whole group to the indexes,
//! in log order, before anyone in the group returns. So under `SyncMode::Full` nothing is
//! visible before it is durable, and no reader ever waits on an fsync.
//!
//! Maintenance (checkpoint, compaction, keyspace creation) is serialized by its own
//! mutex and does its I/O outside the exclusive lock: a checkpoint encodes the indexes
//! under the shared lock and writes with no lock; a compaction chooses under the shared
//! lock one victim at a time, copies with no lock, and takes the exclusive lock only to
//! repoint the indexes and, later, to adopt the committed MANIFEST (no I/O).
//! Automatic checkpoints and compactions run on the writer that finds them due, or,
//! with `Config::background_maintenance`, on a thread of the store's own
//! (`maintainer.rs`), so that no write waits for one.

mod bias;
mod handle;
mod maintainer;
pub mod metrics;

pub use handle::{ConcurrentAlexStorage, MULTI_GET_LOCK_KEYS};
pub use metrics::{LatencySummary, MetricsSnapshot, OpKind, OpSnapshot};
