//! A plan file's shape as written (every field optional, each phase with its position),
//! and which fields each phase kind takes.

use super::{AccessDistribution, Phase};
use crate::cli::store::SyncSetting;
use crate::cli::workload::keys::{DeletePattern, KeyDistribution};
use serde::Deserialize;

/// The file's shape, with each phase's position for error messages.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PlanFile {
    pub(super) name: Option<String>,
    pub(super) description: Option<String>,
    pub(super) keys: Option<u64>,
    pub(super) value_size: Option<usize>,
    pub(super) threads: Option<usize>,
    pub(super) sync: Option<SyncSetting>,
    pub(super) seed: Option<u64>,
    #[serde(default)]
    pub(super) phase: Vec<toml::Spanned<PhaseFile>>,
}

/// A `[[phase]]` table as written: every field of every kind, so that `toml` reports a
/// wrong type at the value's own line (an internally tagged enum would lose it).
/// [`PhaseFile::into_phase`] then checks which fields the kind takes.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PhaseFile {
    pub(super) kind: String,
    count: Option<u64>,
    distribution: Option<String>,
    batch: Option<usize>,
    ops: Option<u64>,
    miss_fraction: Option<f64>,
    read_fraction: Option<f64>,
    threads: Option<usize>,
    fraction: Option<f64>,
    pattern: Option<DeletePattern>,
    length: Option<usize>,
    seconds: Option<f64>,
}

const KINDS: &str = "load, read, write, mixed, delete, compact, checkpoint, reopen, scan, wait";

impl PhaseFile {
    /// The fields present, by name.
    fn present(&self) -> Vec<&'static str> {
        let fields: [(&'static str, bool); 11] = [
            ("count", self.count.is_some()),
            ("distribution", self.distribution.is_some()),
            ("batch", self.batch.is_some()),
            ("ops", self.ops.is_some()),
            ("miss_fraction", self.miss_fraction.is_some()),
            ("read_fraction", self.read_fraction.is_some()),
            ("threads", self.threads.is_some()),
            ("fraction", self.fraction.is_some()),
            ("pattern", self.pattern.is_some()),
            ("length", self.length.is_some()),
            ("seconds", self.seconds.is_some()),
        ];
        fields
            .iter()
            .filter(|(_, present)| *present)
            .map(|(name, _)| *name)
            .collect()
    }

    /// The phase, or `(field, message)` naming what is wrong.
    pub(super) fn into_phase(self) -> Result<Phase, (&'static str, String)> {
        let allowed: &[&str] = match self.kind.as_str() {
            "load" => &["count", "distribution", "batch"],
            "read" => &["ops", "distribution", "miss_fraction", "threads", "batch"],
            "write" => &["ops", "distribution", "threads"],
            "mixed" => &["ops", "read_fraction", "distribution", "threads"],
            "delete" => &["fraction", "pattern"],
            "scan" => &["ops", "length", "threads"],
            "wait" => &["seconds"],
            "compact" | "checkpoint" | "reopen" => &[],
            other => {
                return Err((
                    "kind",
                    format!("unknown kind {other:?}; expected one of {KINDS}"),
                ));
            }
        };
        if let Some(field) = self
            .present()
            .into_iter()
            .find(|field| !allowed.contains(field))
        {
            let takes = if allowed.is_empty() {
                "no fields".to_string()
            } else {
                allowed.join(", ")
            };
            return Err((
                field,
                format!("does not apply to a {} phase (it takes {takes})", self.kind),
            ));
        }
        let access =
            |distribution: &Option<String>| -> Result<AccessDistribution, (&'static str, String)> {
                match distribution.as_deref() {
                    None | Some("uniform") => Ok(AccessDistribution::Uniform),
                    Some("zipfian") => Ok(AccessDistribution::Zipfian),
                    Some(other) => Err((
                        "distribution",
                        format!(
                            "unknown access distribution {other:?}; expected uniform or zipfian"
                        ),
                    )),
                }
            };
        let required = |field: &'static str, value: Option<f64>| {
            value.ok_or((field, format!("is required for a {} phase", self.kind)))
        };
        Ok(match self.kind.as_str() {
            "load" => Phase::Load {
                count: self.count,
                distribution: match self.distribution.as_deref() {
                    None | Some("uniform") => KeyDistribution::Uniform,
                    Some("sequential") => KeyDistribution::Sequential,
                    Some("lognormal") => KeyDistribution::Lognormal,
                    Some("zipf_clustered") => KeyDistribution::ZipfClustered,
                    Some(other) => {
                        return Err((
                            "distribution",
                            format!(
                                "unknown key distribution {other:?}; expected uniform, sequential, lognormal or zipf_clustered"
                            ),
                        ));
                    }
                },
                batch: self.batch,
            },
            "read" => Phase::Read {
                ops: self.ops,
                distribution: access(&self.distribution)?,
                miss_fraction: self.miss_fraction.unwrap_or(0.0),
                threads: self.threads,
                batch: self.batch,
            },
            "write" => Phase::Write {
                ops: self.ops,
                distribution: access(&self.distribution)?,
                threads: self.threads,
            },
            "mixed" => Phase::Mixed {
                ops: self.ops,
                read_fraction: required("read_fraction", self.read_fraction)?,
                distribution: access(&self.distribution)?,
                threads: self.threads,
            },
            "delete" => Phase::Delete {
                fraction: required("fraction", self.fraction)?,
                pattern: self.pattern.unwrap_or_default(),
            },
            "scan" => Phase::Scan {
                ops: self.ops,
                length: self.length,
                threads: self.threads,
            },
            "wait" => Phase::Wait {
                seconds: required("seconds", self.seconds)?,
            },
            "compact" => Phase::Compact {},
            "checkpoint" => Phase::Checkpoint {},
            _ => Phase::Reopen {},
        })
    }
}
