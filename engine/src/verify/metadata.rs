//! Check 4, metadata: the MANIFEST as it is on disk now, and the snapshot it names.

use super::{DamageKind, Verifier};
use crate::Error;
use crate::layout::{self, MANIFEST_FILE};
use crate::manifest::Manifest;
use crate::recovery::IndexSource;
use std::path::PathBuf;

impl Verifier<'_> {
    pub(super) fn check_metadata(&mut self) {
        for outcome in [self.manifest_state(), self.snapshot_state()] {
            match outcome {
                Ok(note) => self.report.notes.push(note),
                Err((file, offset, reason)) => {
                    self.damage(DamageKind::Metadata, &file, offset, None, reason);
                }
            }
        }
    }

    /// A note on the MANIFEST as it is on disk now, or where it is damaged.
    fn manifest_state(&self) -> std::result::Result<String, (PathBuf, u64, String)> {
        let dir = &self.storage.dir;
        match Manifest::load(dir) {
            Ok(Some(manifest)) => Ok(format!(
                "MANIFEST parses: {} keyspace(s), {} compacted segment(s)",
                manifest.keyspaces.len(),
                manifest.standalone.len()
            )),
            Ok(None) => Err((dir.join(MANIFEST_FILE), 0, "the MANIFEST is missing".into())),
            Err(error) => {
                let offset = match &error {
                    Error::Corruption { offset, .. } => *offset,
                    _ => 0,
                };
                Err((dir.join(MANIFEST_FILE), offset, error.to_string()))
            }
        }
    }

    /// A note on the snapshot the store's MANIFEST names, or why it is damage.
    fn snapshot_state(&self) -> std::result::Result<String, (PathBuf, u64, String)> {
        let storage = self.storage;
        let Some(snapshot) = storage.manifest.snapshot else {
            return Ok("no snapshot: the indexes were rebuilt by a full scan at open".into());
        };
        let path = layout::snapshot_path(&storage.dir, snapshot.number);
        match &storage.open_report.source {
            IndexSource::Snapshot { number, .. } if *number == snapshot.number => Ok(format!(
                "snapshot {} (covering sequence {}) was read and its checksum verified at open; \
                 its contents are checked with the indexes loaded from it",
                snapshot.number, snapshot.covered_seq
            )),
            IndexSource::FullScan { reason, .. }
                if reason.starts_with(&format!("snapshot {} unusable", snapshot.number)) =>
            {
                // A writer's checkpoint can replace the snapshot between the MANIFEST read
                // and the snapshot read of a read-only open: not damage.
                let replaced = !path.exists()
                    && Manifest::load(&storage.dir)
                        .ok()
                        .flatten()
                        .and_then(|now| now.snapshot)
                        .is_some_and(|now| now.number != snapshot.number);
                if replaced {
                    return Ok(format!(
                        "snapshot {} was replaced by the writer while this store opened, which \
                         rebuilt the indexes by a full scan instead",
                        snapshot.number
                    ));
                }
                let reason =
                    format!("not used at open, which rebuilt the indexes by a full scan: {reason}");
                Err((path, 0, reason))
            }
            // Written after this store was opened: read it now.
            _ => match crate::snapshot::read(&path) {
                Ok(read) if read.covered_seq == snapshot.covered_seq => Ok(format!(
                    "snapshot {} (written since open) parses and its checksum is valid",
                    snapshot.number
                )),
                Ok(read) => {
                    let reason = format!(
                        "covers sequence {} but the MANIFEST says {}",
                        read.covered_seq, snapshot.covered_seq
                    );
                    Err((path, 0, reason))
                }
                Err(error) => Err((path, 0, error.to_string())),
            },
        }
    }
}
