//! Durability of an `AlexStorage`: `sync`, checkpoints (encode the index snapshot into
//! its temporary file under a shared borrow, sync it and write the MANIFEST with no lock,
//! adopt the MANIFEST) and `close`. A snapshot never points at unsynced log bytes: the
//! log is synced first.

use crate::codec::KeyspaceId;
use crate::layout::{self, TempFile};
use crate::manifest::Manifest;
use crate::storage::{AccessMode, AlexStorage};
use crate::{Error, Result};
use std::path::PathBuf;

impl AlexStorage {
    /// Make every acknowledged write durable now, whatever the sync mode.
    pub fn sync(&mut self) -> Result<()> {
        self.ensure_writable()?;
        Ok(self.writer()?.sync()?)
    }

    /// Write an index snapshot covering everything written so far, so that the next open
    /// replays only the log after it.
    pub fn checkpoint(&mut self) -> Result<()> {
        self.writer()?.sync()?;
        let pending = self.begin_checkpoint()?;
        let written = pending.write()?;
        self.finish_checkpoint(written);
        Ok(())
    }

    /// Checkpoint phase 1 (`&self`: in the concurrent wrapper, under the shared lock):
    /// encode the indexes into the snapshot's temporary file (through the page cache, a
    /// mebibyte at a time; no sync) and prepare the next MANIFEST. Only one checkpoint,
    /// compaction or keyspace creation may be in progress at a time.
    pub fn begin_checkpoint(&self) -> Result<PendingCheckpoint> {
        self.begin_checkpoint_with(|_| {})
    }

    /// `begin_checkpoint` with a change to the MANIFEST committed along with it.
    pub(crate) fn begin_checkpoint_with(
        &self,
        edit: impl FnOnce(&mut Manifest),
    ) -> Result<PendingCheckpoint> {
        self.ensure_writable()?;
        let covered_seq = self.applied_seq;
        let indexes: Vec<(KeyspaceId, &alexdb_alex::AlexMap<u64>)> = self
            .keyspaces
            .iter()
            .map(|state| (state.handle.id, &state.index))
            .collect();
        let mut manifest = self.manifest.clone();
        edit(&mut manifest);
        let number = manifest.next_snapshot_number;
        let mut snapshot = TempFile::create(&layout::snapshot_path(&self.dir, number))?;
        crate::snapshot::encode_to(
            &mut snapshot.file,
            covered_seq,
            &self.segments.live_table(),
            &indexes,
        )
        .map_err(|e| Error::io(&snapshot.path, e))?;
        let previous = manifest.snapshot.map(|snapshot| snapshot.number);
        manifest.snapshot = Some(crate::manifest::SnapshotRef {
            number,
            covered_seq,
        });
        manifest.next_snapshot_number = number + 1;
        Ok(PendingCheckpoint {
            dir: self.dir.clone(),
            snapshot,
            manifest,
            previous,
        })
    }

    /// Checkpoint phase 3 (`&mut self`, no I/O): adopt the committed MANIFEST.
    pub fn finish_checkpoint(&mut self, written: WrittenCheckpoint) {
        self.manifest = written.manifest;
        self.bytes_since_checkpoint = 0;
        self.checkpoint_base_bytes = self.written_bytes();
        self.checkpoints += 1;
    }

    /// Sync and close, reporting any error that dropping would swallow. If automatic
    /// checkpoints are on and at least `checkpoint_every_bytes` of log were written since
    /// the last checkpoint (appended, or replayed at open), write one first (see
    /// [`AlexStorage::checkpoint_due_at_close`]).
    pub fn close(mut self) -> Result<()> {
        if self.checkpoint_due_at_close() {
            self.checkpoint()?;
        } else if self.mode == AccessMode::ReadWrite {
            self.writer()?.sync()?;
        }
        Ok(())
    }

    /// Whether a clean close writes a checkpoint: automatic checkpoints are on and the log
    /// after the last one (appended, or replayed at open) reached
    /// `checkpoint_every_bytes`. With `checkpoint_growth` the log after the last checkpoint
    /// may grow far beyond that before the next automatic one; a clean close does not
    /// leave it to the next open.
    pub fn checkpoint_due_at_close(&self) -> bool {
        let every = self.config.checkpoint_every_bytes;
        self.mode == AccessMode::ReadWrite && every > 0 && self.bytes_since_checkpoint >= every
    }
}

/// A checkpoint whose snapshot is written but not yet durable nor named by the MANIFEST
/// (see [`AlexStorage::begin_checkpoint`]).
#[derive(Debug)]
pub struct PendingCheckpoint {
    dir: PathBuf,
    /// The snapshot, written to its temporary file.
    snapshot: TempFile,
    manifest: Manifest,
    previous: Option<u64>,
}

/// A checkpoint whose snapshot and MANIFEST are durable, to be adopted with
/// [`AlexStorage::finish_checkpoint`].
#[derive(Debug)]
pub struct WrittenCheckpoint {
    manifest: Manifest,
}

impl PendingCheckpoint {
    /// Checkpoint phase 2 (no lock needed): make the snapshot durable under its name,
    /// commit the MANIFEST naming it, remove the previous snapshot. The log must be
    /// durable up to the covered sequence number before this is called.
    pub fn write(self) -> Result<WrittenCheckpoint> {
        self.snapshot.commit()?;
        self.manifest.store(&self.dir)?;
        if let Some(previous) = self.previous {
            layout::remove_if_exists(&layout::snapshot_path(&self.dir, previous))?;
        }
        Ok(WrittenCheckpoint {
            manifest: self.manifest,
        })
    }
}
