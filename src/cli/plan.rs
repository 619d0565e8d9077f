//! Experiment plans: a TOML file of settings and an ordered list of phases.
//!
//! Parsing is two steps: `toml` + serde check the syntax, the field names and the types
//! (their errors carry the line and column); [`Plan::validate`] checks the values and
//! names the phase, its field and its line. The default plan is embedded from
//! `docs/experiments/default.toml`, so the documented example is the one that runs.

use crate::cli::error::{CliError, CliResult};
use crate::cli::store::SyncSetting;
use crate::cli::workload::keys::{DeletePattern, KeyDistribution};
use crate::cli::workload::runner::MAX_THREADS;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The plan `alexdb` runs with no arguments.
pub const DEFAULT_PLAN: &str = include_str!("../../docs/experiments/default.toml");

/// Limits on plan values (a limit on everything).
const MAX_KEYS: u64 = 1_000_000_000;
const MAX_VALUE_SIZE: usize = 16 << 20;
const MAX_OPS: u64 = 10_000_000_000;
const MAX_BATCH: usize = 100_000;
const MAX_SCAN_LENGTH: usize = 1_000_000;
const MAX_WAIT_SECONDS: f64 = 3600.0;

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
    /// `ops` gets; `miss_fraction` of them ask for deleted (or never written) keys.
    Read {
        ops: Option<u64>,
        #[serde(default)]
        distribution: AccessDistribution,
        #[serde(default)]
        miss_fraction: f64,
        threads: Option<usize>,
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

/// The file's shape, with each phase's position for error messages.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PlanFile {
    name: Option<String>,
    description: Option<String>,
    keys: Option<u64>,
    value_size: Option<usize>,
    threads: Option<usize>,
    sync: Option<SyncSetting>,
    seed: Option<u64>,
    #[serde(default)]
    phase: Vec<toml::Spanned<PhaseFile>>,
}

/// A `[[phase]]` table as written: every field of every kind, so that `toml` reports a
/// wrong type at the value's own line (an internally tagged enum would lose it).
/// [`PhaseFile::into_phase`] then checks which fields the kind takes.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PhaseFile {
    kind: String,
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
    fn into_phase(self) -> Result<Phase, (&'static str, String)> {
        let allowed: &[&str] = match self.kind.as_str() {
            "load" => &["count", "distribution", "batch"],
            "read" => &["ops", "distribution", "miss_fraction", "threads"],
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

/// Where a plan came from, for error messages.
struct Source<'a> {
    name: &'a str,
    text: &'a str,
}

impl Source<'_> {
    /// 1-based line of byte `offset`.
    fn line_of(&self, offset: usize) -> usize {
        self.text[..offset.min(self.text.len())]
            .matches('\n')
            .count()
            + 1
    }

    /// The line of `field = ...` inside byte range `within`, or of the range's start.
    fn field_line(&self, within: std::ops::Range<usize>, field: &str) -> usize {
        let start = within.start.min(self.text.len());
        let end = within.end.min(self.text.len());
        let mut offset = start;
        for line in self.text[start..end].split_inclusive('\n') {
            let trimmed = line.trim_start();
            if trimmed.starts_with(field) && trimmed[field.len()..].trim_start().starts_with('=') {
                return self.line_of(offset);
            }
            offset += line.len();
        }
        self.line_of(start)
    }

    fn error(&self, line: usize, message: String) -> CliError {
        CliError::Plan(format!("{}:{line}: {message}", self.name))
    }
}

impl Plan {
    /// The embedded default plan.
    pub fn default_plan() -> Plan {
        Plan::parse(DEFAULT_PLAN, "docs/experiments/default.toml")
            .expect("the embedded default plan is parsed by a unit test in every build")
    }

    /// Read and parse a plan file.
    pub fn load(path: &Path) -> CliResult<Plan> {
        let text = std::fs::read_to_string(path).map_err(|source| CliError::io(path, source))?;
        Plan::parse(&text, &path.display().to_string())
    }

    /// Parse and validate plan text; `name` is the file name for messages.
    pub fn parse(text: &str, name: &str) -> CliResult<Plan> {
        let source = Source { name, text };
        let file: PlanFile = toml::from_str(text).map_err(|error| {
            let line = error
                .span()
                .map(|span| source.line_of(span.start))
                .unwrap_or(1);
            let message = error.message().trim().to_string();
            source.error(line, format!("{message}\n{error}"))
        })?;
        let mut plan = Plan {
            name: file.name.unwrap_or_else(|| "plan".to_string()),
            description: file.description.unwrap_or_default(),
            keys: file.keys.unwrap_or(100_000),
            value_size: file.value_size.unwrap_or(100),
            threads: file.threads.unwrap_or(1),
            sync: file.sync.unwrap_or(SyncSetting::Off),
            seed: file.seed.unwrap_or(42),
            phases: Vec::with_capacity(file.phase.len()),
        };
        let header_end = file
            .phase
            .first()
            .map(|phase| phase.span().start)
            .unwrap_or(text.len());
        plan.validate_settings().map_err(|(field, message)| {
            source.error(
                source.field_line(0..header_end, field),
                format!("field `{field}`: {message}"),
            )
        })?;
        if file.phase.is_empty() {
            return Err(source.error(
                1,
                "the plan has no phases (add a `[[phase]]` table)".to_string(),
            ));
        }
        for (index, spanned) in file.phase.into_iter().enumerate() {
            let span = spanned.span();
            let phase_file = spanned.into_inner();
            let kind = phase_file.kind.clone();
            let phase = phase_file.into_phase().map_err(|(field, message)| {
                source.error(
                    source.field_line(span.clone(), field),
                    format!("phase {} ({kind}): field `{field}`: {message}", index + 1),
                )
            })?;
            validate_phase(&phase).map_err(|(field, message)| {
                source.error(
                    source.field_line(span.clone(), field),
                    format!(
                        "phase {} ({}): field `{field}`: {message}",
                        index + 1,
                        phase.kind()
                    ),
                )
            })?;
            plan.phases.push(phase);
        }
        Ok(plan)
    }

    /// Check the plan-wide settings (also after command-line overrides).
    pub fn validate_settings(&self) -> Result<(), (&'static str, String)> {
        check_range("keys", self.keys, 1, MAX_KEYS)?;
        check_range(
            "value_size",
            self.value_size as u64,
            1,
            MAX_VALUE_SIZE as u64,
        )?;
        check_range("threads", self.threads as u64, 1, MAX_THREADS as u64)?;
        Ok(())
    }
}

fn check_range(
    field: &'static str,
    value: u64,
    min: u64,
    max: u64,
) -> Result<(), (&'static str, String)> {
    if value < min || value > max {
        return Err((field, format!("{value} is not in {min}..={max}")));
    }
    Ok(())
}

fn check_fraction(field: &'static str, value: f64) -> Result<(), (&'static str, String)> {
    if !(0.0..=1.0).contains(&value) {
        return Err((field, format!("{value} is not a fraction in [0, 1]")));
    }
    Ok(())
}

fn check_optional(
    field: &'static str,
    value: Option<u64>,
    min: u64,
    max: u64,
) -> Result<(), (&'static str, String)> {
    match value {
        Some(value) => check_range(field, value, min, max),
        None => Ok(()),
    }
}

fn validate_phase(phase: &Phase) -> Result<(), (&'static str, String)> {
    let threads = |threads: &Option<usize>| {
        check_optional("threads", threads.map(|t| t as u64), 1, MAX_THREADS as u64)
    };
    match phase {
        Phase::Load { count, batch, .. } => {
            check_optional("count", *count, 1, MAX_KEYS)?;
            check_optional("batch", batch.map(|b| b as u64), 1, MAX_BATCH as u64)
        }
        Phase::Read {
            ops,
            miss_fraction,
            threads: t,
            ..
        } => {
            check_optional("ops", *ops, 1, MAX_OPS)?;
            check_fraction("miss_fraction", *miss_fraction)?;
            threads(t)
        }
        Phase::Write {
            ops, threads: t, ..
        } => {
            check_optional("ops", *ops, 1, MAX_OPS)?;
            threads(t)
        }
        Phase::Mixed {
            ops,
            read_fraction,
            threads: t,
            ..
        } => {
            check_optional("ops", *ops, 1, MAX_OPS)?;
            check_fraction("read_fraction", *read_fraction)?;
            threads(t)
        }
        Phase::Delete { fraction, .. } => check_fraction("fraction", *fraction),
        Phase::Scan {
            ops,
            length,
            threads: t,
        } => {
            check_optional("ops", *ops, 1, MAX_OPS)?;
            check_optional(
                "length",
                length.map(|l| l as u64),
                1,
                MAX_SCAN_LENGTH as u64,
            )?;
            threads(t)
        }
        Phase::Wait { seconds } => {
            if !(0.0..=MAX_WAIT_SECONDS).contains(seconds) {
                return Err((
                    "seconds",
                    format!("{seconds} is not in 0..={MAX_WAIT_SECONDS}"),
                ));
            }
            Ok(())
        }
        Phase::Compact {} | Phase::Checkpoint {} | Phase::Reopen {} => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error_of(text: &str) -> String {
        match Plan::parse(text, "test.toml") {
            Ok(plan) => panic!("parsed a bad plan: {plan:?}"),
            Err(error) => error.to_string(),
        }
    }

    #[test]
    fn default_plan_parses() {
        let plan = Plan::default_plan();
        let kinds: Vec<&str> = plan.phases.iter().map(Phase::kind).collect();
        assert_eq!(
            kinds,
            [
                "load", "read", "delete", "read", "compact", "read", "reopen", "read"
            ]
        );
        assert_eq!(plan.keys, 1_000_000);
    }

    #[test]
    fn every_example_plan_parses() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/experiments");
        let mut count = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|ext| ext == "toml") {
                Plan::load(&path).unwrap_or_else(|error| panic!("{error}"));
                count += 1;
            }
        }
        assert!(count >= 3, "only {count} example plans");
    }

    #[test]
    fn a_full_plan_parses_with_every_kind() {
        let plan = Plan::parse(
            r#"
name = "all"
keys = 5000
value_size = 16
threads = 2
sync = "full"
seed = 7

[[phase]]
kind = "load"
distribution = "zipf_clustered"
batch = 10
[[phase]]
kind = "read"
distribution = "zipfian"
miss_fraction = 0.25
[[phase]]
kind = "write"
ops = 100
[[phase]]
kind = "mixed"
read_fraction = 0.9
threads = 1
[[phase]]
kind = "delete"
fraction = 0.1
pattern = "range"
[[phase]]
kind = "compact"
[[phase]]
kind = "checkpoint"
[[phase]]
kind = "reopen"
[[phase]]
kind = "scan"
length = 10
[[phase]]
kind = "wait"
seconds = 0.5
"#,
            "all.toml",
        )
        .unwrap();
        assert_eq!(plan.phases.len(), 10);
        assert_eq!(plan.sync, SyncSetting::Full);
        assert_eq!(
            plan.phases[4],
            Phase::Delete {
                fraction: 0.1,
                pattern: DeletePattern::Range
            }
        );
    }

    #[test]
    fn bad_values_name_the_line_and_field() {
        let text = "keys = 100\n\n[[phase]]\nkind = \"load\"\n\n[[phase]]\nkind = \"delete\"\nfraction = 1.5\n";
        let error = error_of(text);
        assert!(error.contains("test.toml:8:"), "{error}");
        assert!(error.contains("phase 2 (delete)"), "{error}");
        assert!(error.contains("`fraction`"), "{error}");

        let error = error_of("keys = 0\n[[phase]]\nkind = \"load\"\n");
        assert!(
            error.contains("test.toml:1:") && error.contains("`keys`"),
            "{error}"
        );
    }

    #[test]
    fn unknown_fields_and_kinds_name_the_line() {
        let error = error_of("keys = 10\n[[phase]]\nkind = \"load\"\ncuont = 5\n");
        assert!(error.contains("cuont"), "{error}");
        assert!(error.contains("test.toml:"), "{error}");

        let error = error_of("keys = 10\n[[phase]]\nkind = \"explode\"\n");
        assert!(
            error.contains("explode") && error.contains("test.toml:3:"),
            "{error}"
        );

        let error = error_of("keys = 10\n[[phase]]\nkind = \"read\"\nfraction = 0.5\n");
        assert!(
            error.contains("test.toml:4:") && error.contains("does not apply"),
            "{error}"
        );

        let error = error_of("keys = 10\n[[phase]]\nkind = \"delete\"\n");
        assert!(
            error.contains("`fraction`") && error.contains("required"),
            "{error}"
        );

        let error = error_of("keys = 10\n[[phase]]\nkind = \"load\"\ndistribution = \"zipfian\"\n");
        assert!(
            error.contains("test.toml:4:") && error.contains("sequential"),
            "{error}"
        );

        let error = error_of("keys = 10\nthreds = 3\n[[phase]]\nkind = \"load\"\n");
        assert!(
            error.contains("threds") && error.contains("test.toml:2:"),
            "{error}"
        );
    }

    #[test]
    fn syntax_and_type_errors_name_the_line() {
        let error = error_of("keys = 10\n[[phase]]\nkind = \"read\"\nops = \"many\"\n");
        assert!(error.contains("test.toml:"), "{error}");
        assert!(
            error.contains("ops") || error.contains("integer"),
            "{error}"
        );

        let error = error_of("keys = 10\nvalue_size = = 3\n");
        assert!(error.contains("test.toml:2:"), "{error}");

        let error = error_of("keys = 10\n");
        assert!(error.contains("no phases"), "{error}");
    }
}
