//! The parsed plan: its settings and its ordered [`Phase`]s, as the experiment runs them.

use crate::cli::store::SyncSetting;
use crate::cli::workload::keys::{DeletePattern, KeyDistribution};
use serde::{Deserialize, Serialize};

/// Which keys a read, write or mixed phase picks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccessDistribution {
    /// Every live key equally likely.
    #[default]
    Uniform,
    /// YCSB's scrambled zipfian (constant 0.99) over the live keys.
    Zipfian,
}

/// One phase. `ops`/`threads` left out default to the plan's `keys`/`threads`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Phase {
    /// Insert `count` new keys (default: the plan's `keys`), `batch` per write.
    Load {
        count: Option<u64>,
        #[serde(default)]
        distribution: KeyDistribution,
        batch: Option<usize>,
    },
    /// `ops` gets; `miss_fraction` of them ask for deleted (or never written) keys. With
    /// `batch` > 1, the keys are asked `batch` at a time through `multi_get` (latency is
    /// then per call).
    Read {
        ops: Option<u64>,
        #[serde(default)]
        distribution: AccessDistribution,
        #[serde(default)]
        miss_fraction: f64,
        threads: Option<usize>,
        batch: Option<usize>,
    },
    /// `ops` overwrites of live keys.
    Write {
        ops: Option<u64>,
        #[serde(default)]
        distribution: AccessDistribution,
        threads: Option<usize>,
    },
    /// `ops` operations, `read_fraction` of them gets and the rest overwrites.
    Mixed {
        ops: Option<u64>,
        read_fraction: f64,
        #[serde(default)]
        distribution: AccessDistribution,
        threads: Option<usize>,
    },
    /// Delete `fraction` of the live keys.
    Delete {
        fraction: f64,
        #[serde(default)]
        pattern: DeletePattern,
    },
    /// Reclaim dead space.
    Compact {},
    /// Write an index snapshot.
    Checkpoint {},
    /// Close and open again; reports the recovery time.
    Reopen {},
    /// `ops` range scans of `length` keys from a random live key.
    Scan {
        ops: Option<u64>,
        length: Option<usize>,
        threads: Option<usize>,
    },
    /// Do nothing for `seconds` (lets a background syncer run, for example).
    Wait { seconds: f64 },
}

impl Phase {
    pub fn kind(&self) -> &'static str {
        match self {
            Phase::Load { .. } => "load",
            Phase::Read { .. } => "read",
            Phase::Write { .. } => "write",
            Phase::Mixed { .. } => "mixed",
            Phase::Delete { .. } => "delete",
            Phase::Compact {} => "compact",
            Phase::Checkpoint {} => "checkpoint",
            Phase::Reopen {} => "reopen",
            Phase::Scan { .. } => "scan",
            Phase::Wait { .. } => "wait",
        }
    }
}

/// A parsed and validated plan.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub name: String,
    pub description: String,
    /// Keys loaded by a `load` without `count`, and ops of phases without `ops`.
    pub keys: u64,
    pub value_size: usize,
    pub threads: usize,
    pub sync: SyncSetting,
    pub seed: u64,
    pub phases: Vec<Phase>,
}
