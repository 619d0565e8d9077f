//! What `AlexStorage::stats` reports.

use alexdb_wal::WalStats;

/// One keyspace's size.
#[derive(Clone, Debug, PartialEq)]
pub struct KeyspaceStats {
    pub name: String,
    pub keys: usize,
    pub index_bytes: usize,
    pub index_depth: usize,
    pub index_data_nodes: usize,
    /// Slots of the index's largest data node (at most `Config::index_max_data_slots`, or
    /// 1,710 for keys no router separates: `AlexMap::with_max_data_slots`).
    pub index_largest_node_slots: usize,
    /// Bytes of the index in the huge-page slab of its last bulk load (a snapshot's or a
    /// full scan's at open), included in `index_bytes`; 0 when the index is on the heap.
    pub index_slab_bytes: usize,
}

/// Sizes, space use and counters of a store.
#[derive(Clone, Debug, PartialEq)]
pub struct StorageStats {
    /// Keys over all keyspaces.
    pub keys: usize,
    pub keyspaces: Vec<KeyspaceStats>,
    /// Bytes of records the indexes point at.
    pub live_bytes: u64,
    /// Bytes written to segments that nothing points at (overwritten values, tombstones,
    /// segment headers).
    pub dead_bytes: u64,
    /// `live_bytes + dead_bytes`: the used part of all segments.
    pub written_bytes: u64,
    /// Bytes the segment files take on disk (preallocated capacity).
    pub file_bytes: u64,
    pub segments: usize,
    /// `written_bytes / live_bytes` (1.0 for an empty store).
    pub space_amplification: f64,
    /// Heap bytes of all indexes.
    pub index_bytes: usize,
    /// Deepest index.
    pub index_depth: usize,
    pub wal: WalStats,
    pub last_seq: u64,
    pub checkpoints: u64,
    pub compactions: u64,
}
