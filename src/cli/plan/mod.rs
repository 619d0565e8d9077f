//! Experiment plans: a TOML file of settings and an ordered list of phases.
//!
//! Parsing is two steps: `toml` + serde check the syntax, the field names and the types
//! (their errors carry the line and column); validation checks the values and
//! names the phase, its field and its line. The default plan is embedded from
//! `docs/experiments/default.toml`, so the documented example is the one that runs.
//!
//! Layout: `types` holds the parsed plan ([`Plan`], [`Phase`]); `file` the file's shape as
//! written and which fields each phase kind takes; `parse` turns text into a plan with
//! line-numbered errors; `validate` holds the limits on values. This file holds the
//! default plan.

mod file;
mod parse;
#[cfg(test)]
mod tests;
mod types;
mod validate;

pub use types::{AccessDistribution, Phase, Plan};

/// The plan `alexdb` runs with no arguments.
pub const DEFAULT_PLAN: &str = include_str!("../../../docs/experiments/default.toml");

impl Plan {
    /// The embedded default plan.
    pub fn default_plan() -> Plan {
        Plan::parse(DEFAULT_PLAN, "docs/experiments/default.toml")
            .expect("the embedded default plan is parsed by a unit test in every build")
    }
}
