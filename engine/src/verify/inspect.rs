//! The log inspection: the wal crate's recovery rules run over the log files without
//! changing them, retried while a writer changes the log underneath.

use super::{Damage, DamageKind, TornTail, VerifyReport};
use crate::Result;
use crate::layout::{self, FileKind};
use std::path::{Path, PathBuf};

/// Looks at the log a verification may take when a writer keeps changing it.
const INSPECT_ATTEMPTS: usize = 5;

/// Run the wal crate's recovery analysis over the log files of `dir` without changing
/// them. A writer working meanwhile can remove a segment between the listing and the
/// reading (retry) or make a record look damaged for a moment (damage counts only when
/// two looks in a row agree).
pub(super) fn inspect_log(dir: &Path, report: &mut VerifyReport) -> Result<()> {
    let mut previous: Option<String> = None;
    let mut attempt = 0;
    // Whether two looks disagreed (or a file vanished): only then did the log change.
    // A damaged log fails the same way twice, which is a confirmation, not a change.
    let mut changed = false;
    let outcome = loop {
        attempt += 1;
        let outcome = alexdb_wal::inspect(dir);
        let error = match &outcome {
            Ok(_) => break outcome,
            Err(error) => error.to_string(),
        };
        let gone = matches!(&outcome, Err(alexdb_wal::Error::Io { source, .. })
            if source.kind() == std::io::ErrorKind::NotFound);
        let confirmed = !gone && previous.as_ref() == Some(&error);
        changed |= gone || previous.is_some() && !confirmed;
        if confirmed || attempt >= INSPECT_ATTEMPTS {
            break outcome;
        }
        previous = Some(error);
    };
    changed |= attempt > 1 && outcome.is_ok();
    if changed {
        report.notes.push(format!(
            "the log changed while it was inspected; looked {attempt} times"
        ));
    }
    let (file, offset, reason) = match outcome {
        Ok(inspected) => {
            report.log_records = inspected.records;
            report.notes.push(format!(
                "log inspected by the wal's recovery rules: {} segment(s), {} record(s) in \
                 {} complete batch(es), last sequence {}",
                inspected.segments, inspected.records, inspected.batches, inspected.last_seq.0
            ));
            if let Some(at) = inspected.truncated_at {
                report.torn_tail = Some(TornTail {
                    file: log_path(dir, at.segment_id.0)?,
                    offset: at.offset,
                    bytes: inspected.bytes_truncated,
                });
            }
            return Ok(());
        }
        Err(alexdb_wal::Error::Corruption {
            path,
            offset,
            reason,
        }) => (path, offset, reason),
        Err(alexdb_wal::Error::NotASegment { path }) => {
            (path, 0, "not an alexdb segment (bad magic)".to_string())
        }
        Err(other) => return Err(other.into()),
    };
    report.add(Damage {
        kind: DamageKind::Record,
        file,
        offset,
        keyspace: None,
        key: None,
        reason: format!("{reason} (log inspection)"),
    });
    Ok(())
}

/// The path of log segment `id` in `dir`, as listed there.
fn log_path(dir: &Path, id: u64) -> Result<PathBuf> {
    Ok(layout::list(dir)?
        .into_iter()
        .find(|(_, kind)| *kind == FileKind::Log(id))
        .map_or_else(|| dir.to_path_buf(), |(path, _)| path))
}
