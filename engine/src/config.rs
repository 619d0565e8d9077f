//! Configuration of a store, with the three presets.

use alexdb_wal::{FaultHook, HugePages, RecoveryMode, SyncMode};
use std::time::Duration;

/// How a store is opened. `Config::default()` is [`Config::production`].
#[derive(Clone)]
pub struct Config {
    /// When the log is synced; see `docs/engine.md` for what a crash can lose in each mode.
    pub sync_mode: SyncMode,
    /// Capacity of each segment file in bytes. Default 64 MiB.
    pub segment_capacity: u64,
    /// Largest value accepted; larger ones fail with `Error::ValueTooLarge`. Default 16 MiB.
    pub max_value_len: u64,
    /// Write a checkpoint automatically once this many log bytes follow the last one
    /// (appended since, or replayed at open); 0 disables automatic checkpoints. Default
    /// 256 MiB.
    pub checkpoint_every_bytes: u64,
    /// An automatic checkpoint also waits until the log after the last one is at least
    /// this fraction of the log bytes that checkpoint covered (after an open, what the
    /// loaded snapshot covered). Each checkpoint rewrites the whole index, so with a
    /// fixed interval a growing store spends time quadratic in its size on them; with a
    /// fraction `g > 0` the snapshots written add up to at most `(1 + g) / g` times the
    /// last one, and a crash replays about the fraction `g / (1 + g)` of the log at most
    /// (beyond `checkpoint_every_bytes`; a compaction since the last checkpoint can make
    /// it more). 0 gives the fixed interval. Default 1.0 (like a log rewrite at 100%
    /// growth).
    pub checkpoint_growth: f64,
    /// A sealed segment is compacted once this fraction of its bytes is dead. Default 0.5.
    pub compaction_dead_ratio: f64,
    /// While the space amplification (written bytes / live bytes) is above this, an
    /// explicit `compact()` rewrites every sealed segment. Default 1.1. Automatic
    /// compaction uses only `compaction_dead_ratio`.
    pub compaction_target_amplification: f64,
    /// Compact automatically after each automatic checkpoint when some segment crossed
    /// `compaction_dead_ratio`. Default on in the presets; tests that need a fixed
    /// segment layout turn it off.
    pub auto_compact: bool,
    /// `ConcurrentAlexStorage` only: run the automatic checkpoints and compactions on a
    /// thread of their own (`alexdb-maintenance`) instead of on the writer that finds
    /// them due, so no write waits for one. Off in the presets (the writer that notices
    /// does the work, as in an `AlexStorage`, which has no thread to hand it to).
    pub background_maintenance: bool,
    /// `SyncMode::Normal`: longest time between syncs.
    pub normal_sync_interval: Duration,
    /// `SyncMode::Normal`: most commits between syncs.
    pub normal_sync_commits: u64,
    /// What recovery does with damage that is not a torn tail.
    pub recovery_mode: RecoveryMode,
    /// Bytes of the active log segment a thread of the log keeps faulted in ahead of
    /// the writer, so appends do not stop for the page faults of fresh file pages
    /// (`alexdb_wal::WalOptions::prefault_ahead`). 0 turns it off. Default 4 MiB.
    pub prefault_ahead: u64,
    /// When the log fills a segment and moves on, start writing the full one back to
    /// disk at once (asynchronously; `alexdb_wal::WalOptions::writeback_sealed`), so a
    /// checkpoint's log sync finds the sealed segments written instead of writing them
    /// while the writer waits. Durability is unchanged. Default on.
    pub log_writeback: bool,
    /// Huge pages for the log's segment mappings (`alexdb_wal::HugePages`): by default
    /// `Auto`, on under `SyncMode::Checkpoint` and `SyncMode::Off` (a random `get` of a
    /// 1M-key store 10–13% faster where page walks are dear), off under `Full` and
    /// `Normal`, whose small syncs would write back whole 2 MiB folios.
    pub log_huge_pages: HugePages,
    /// Largest data node of the index, in slots (ALEX's maximum node size; the range
    /// is `alexdb_alex::MAX_DATA_SLOTS_RANGE`). A write that expands a data node rebuilds
    /// it at once, under `ConcurrentAlexStorage`'s exclusive lock, so this bounds the
    /// slowest write and how long readers can wait for one. Default 2^20, ALEX's own
    /// (16 MiB of keys and locations): measured in docs/PERFORMANCE.md ("Session 14").
    pub index_max_data_slots: usize,
    /// Test seam: fail chosen I/O steps of the log.
    pub fault_hook: Option<FaultHook>,
}

impl Config {
    /// Every acknowledged write is durable (`SyncMode::Full`, group-committed).
    pub fn production() -> Config {
        Config {
            sync_mode: SyncMode::Full,
            segment_capacity: 64 << 20,
            max_value_len: 16 << 20,
            checkpoint_every_bytes: 256 << 20,
            checkpoint_growth: 1.0,
            compaction_dead_ratio: 0.5,
            compaction_target_amplification: 1.1,
            auto_compact: true,
            background_maintenance: false,
            normal_sync_interval: Duration::from_millis(100),
            normal_sync_commits: 1000,
            recovery_mode: RecoveryMode::Strict,
            prefault_ahead: 4 << 20,
            log_writeback: true,
            log_huge_pages: HugePages::Auto,
            index_max_data_slots: alexdb_alex::DEFAULT_MAX_DATA_SLOTS,
            fault_hook: None,
        }
    }

    /// A background syncer bounds the loss window (`SyncMode::Normal`).
    pub fn balanced() -> Config {
        Config {
            sync_mode: SyncMode::Normal,
            ..Config::production()
        }
    }

    /// No syncing at all (`SyncMode::Off`): a process crash loses nothing that was
    /// acknowledged, a power loss may lose everything since the last explicit sync.
    pub fn benchmark() -> Config {
        Config {
            sync_mode: SyncMode::Off,
            ..Config::production()
        }
    }

    /// Replace the sync mode.
    pub fn with_sync_mode(mut self, sync_mode: SyncMode) -> Config {
        self.sync_mode = sync_mode;
        self
    }

    /// Turn [`Config::background_maintenance`] on or off.
    pub fn with_background_maintenance(mut self, on: bool) -> Config {
        self.background_maintenance = on;
        self
    }

    /// Replace the segment capacity. A value must fit in a segment, so `max_value_len`
    /// is lowered to a quarter of the capacity if it was larger.
    pub fn with_segment_capacity(mut self, bytes: u64) -> Config {
        self.segment_capacity = bytes;
        self.max_value_len = self.max_value_len.min(bytes / 4);
        self
    }

    pub(crate) fn wal_options(&self) -> alexdb_wal::WalOptions {
        alexdb_wal::WalOptions {
            segment_capacity: self.segment_capacity,
            max_record_payload: self.max_value_len + crate::codec::HEAD_LEN as u64,
            sync_mode: self.sync_mode,
            normal_sync_interval: self.normal_sync_interval,
            normal_sync_commits: self.normal_sync_commits,
            recovery_mode: self.recovery_mode,
            prefault_ahead: self.prefault_ahead,
            writeback_sealed: self.log_writeback,
            huge_pages: self.log_huge_pages,
            fault_hook: self.fault_hook.clone(),
        }
    }

    pub(crate) fn validate(&self) -> crate::Result<()> {
        let fail = |message: String| Err(crate::Error::InvalidConfig(message));
        if self.segment_capacity >= crate::codec::MAX_OFFSET {
            return fail(format!(
                "segment_capacity {} must be below {} (offsets are 40-bit)",
                self.segment_capacity,
                crate::codec::MAX_OFFSET
            ));
        }
        if !alexdb_alex::MAX_DATA_SLOTS_RANGE.contains(&self.index_max_data_slots) {
            return fail(format!(
                "index_max_data_slots {} must be in {}..={}",
                self.index_max_data_slots,
                alexdb_alex::MAX_DATA_SLOTS_RANGE.start(),
                alexdb_alex::MAX_DATA_SLOTS_RANGE.end()
            ));
        }
        if self.max_value_len > 1 << 30 {
            return fail(format!(
                "max_value_len {} must be at most 1 GiB",
                self.max_value_len
            ));
        }
        if !(self.checkpoint_growth >= 0.0 && self.checkpoint_growth <= 1e6) {
            return fail(format!(
                "checkpoint_growth {} must be in [0, 1e6]",
                self.checkpoint_growth
            ));
        }
        if !(self.compaction_dead_ratio > 0.0 && self.compaction_dead_ratio <= 1.0) {
            return fail(format!(
                "compaction_dead_ratio {} must be in (0, 1]",
                self.compaction_dead_ratio
            ));
        }
        if self.compaction_target_amplification.is_nan()
            || self.compaction_target_amplification < 1.0
        {
            return fail(format!(
                "compaction_target_amplification {} must be at least 1.0",
                self.compaction_target_amplification
            ));
        }
        Ok(())
    }
}

impl Default for Config {
    fn default() -> Config {
        Config::production()
    }
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("sync_mode", &self.sync_mode)
            .field("segment_capacity", &self.segment_capacity)
            .field("max_value_len", &self.max_value_len)
            .field("checkpoint_every_bytes", &self.checkpoint_every_bytes)
            .field("checkpoint_growth", &self.checkpoint_growth)
            .field("compaction_dead_ratio", &self.compaction_dead_ratio)
            .field(
                "compaction_target_amplification",
                &self.compaction_target_amplification,
            )
            .field("auto_compact", &self.auto_compact)
            .field("background_maintenance", &self.background_maintenance)
            .field("normal_sync_interval", &self.normal_sync_interval)
            .field("normal_sync_commits", &self.normal_sync_commits)
            .field("recovery_mode", &self.recovery_mode)
            .field("prefault_ahead", &self.prefault_ahead)
            .field("log_writeback", &self.log_writeback)
            .field("log_huge_pages", &self.log_huge_pages)
            .field("index_max_data_slots", &self.index_max_data_slots)
            .field("fault_hook", &self.fault_hook.is_some())
            .finish()
    }
}
