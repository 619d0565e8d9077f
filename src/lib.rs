//! alexdb: an embedded key-value store with `i64` keys and byte values — an ALEX learned
//! index in memory over memory-mapped, checksummed, append-only data files.

pub use alexdb_alex::{AlexMap, AlexStats, BulkLoadError};
