//! Warming a published group before it is applied: the reads `apply_published` will
//! make, done first under the shared lock, so the exclusive section that follows finds
//! them in cache.
//!
//! Applying one overwrite touches three places that are usually DRAM misses on a large
//! store: the index leaf holding the key, and the *old* record's header (its length is
//! subtracted from its segment's live bytes). Under the exclusive lock every reader
//! waits through those misses; warmed, the exclusive section is mostly cache hits. The
//! warm-up changes nothing and may be skipped or be stale (another group applied in
//! between): it is only a cache hint, so correctness never depends on it.

use crate::codec::{self, PackedLocation};
use crate::storage::AlexStorage;
use alexdb_wal::PublishedBatch;
use std::hint::black_box;

/// Groups larger than this are not warmed: the apply of a large group is long anyway,
/// and warming it would only double the work done while holding the shared lock.
pub const MAX_WARMED_RECORDS: usize = 64;

impl AlexStorage {
    /// Touch, for every record of `group`, the index entry of its key and the header of
    /// the record it replaces. Read-only; errors are ignored (the apply reports them).
    pub fn warm_published(&self, group: &[PublishedBatch<'_>]) {
        let records: usize = group.iter().map(|batch| batch.locations.len()).sum();
        if records > MAX_WARMED_RECORDS {
            return;
        }
        let mut touched = 0u64;
        for batch in group {
            for location in batch.locations {
                let Some(packed) = PackedLocation::pack(*location) else {
                    continue;
                };
                let Ok(record) = self.segments.record(packed) else {
                    continue;
                };
                let Some((keyspace, key, _)) = codec::decode_head(record.payload) else {
                    continue;
                };
                let Some(state) = self.keyspaces.get(keyspace) else {
                    continue;
                };
                if let Some(&old) = state.index.get(key)
                    && let Ok(old_record) = self.segments.record(PackedLocation(old))
                {
                    touched = touched.wrapping_add(old_record.stored_len);
                }
            }
        }
        black_box(touched);
    }
}
