//! Limits on plan values (a limit on everything): the plan-wide settings and each phase's
//! fields, each error naming its field.

use super::{Phase, Plan};
use crate::cli::workload::runner::MAX_THREADS;

/// Limits on plan values (a limit on everything).
const MAX_KEYS: u64 = 1_000_000_000;
const MAX_VALUE_SIZE: usize = 16 << 20;
const MAX_OPS: u64 = 10_000_000_000;
const MAX_BATCH: usize = 100_000;
const MAX_SCAN_LENGTH: usize = 1_000_000;
const MAX_WAIT_SECONDS: f64 = 3600.0;

impl Plan {
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

pub(super) fn validate_phase(phase: &Phase) -> Result<(), (&'static str, String)> {
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
            batch,
            ..
        } => {
            check_optional("ops", *ops, 1, MAX_OPS)?;
            check_fraction("miss_fraction", *miss_fraction)?;
            check_optional("batch", batch.map(|b| b as u64), 1, MAX_BATCH as u64)?;
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
