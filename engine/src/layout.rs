//! The data directory: which file names mean what, the writer lock, and the one way this
//! crate replaces a file atomically (temp file, fsync, rename, directory fsync).
//!
//! ```text
//! LOCK                        flock'ed by the one writer
//! MANIFEST                    keyspaces, live compacted segments, current snapshot
//! {id:020}.log                log segments (owned by the wal crate)
//! {id:020}.seg                compacted (standalone) segments listed in the MANIFEST
//! snapshot-{n:020}.snap       index snapshot named by the MANIFEST
//! *.tmp                       unfinished writes, removed on open
//! ```
//! Files with other names are left alone (and never read).

use crate::{Error, Result};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

pub const LOCK_FILE: &str = "LOCK";
pub const MANIFEST_FILE: &str = "MANIFEST";
const SEGMENT_SUFFIX: &str = ".seg";
const LOG_SUFFIX: &str = ".log";
const SNAPSHOT_PREFIX: &str = "snapshot-";
const SNAPSHOT_SUFFIX: &str = ".snap";
const TEMP_SUFFIX: &str = ".tmp";

/// Path of a compacted segment.
pub fn segment_path(dir: &Path, id: u64) -> PathBuf {
    dir.join(format!("{id:020}{SEGMENT_SUFFIX}"))
}

/// Path of snapshot number `number`.
pub fn snapshot_path(dir: &Path, number: u64) -> PathBuf {
    dir.join(format!("{SNAPSHOT_PREFIX}{number:020}{SNAPSHOT_SUFFIX}"))
}

/// What a directory entry is, judged by its name alone.
#[derive(Debug, PartialEq, Eq)]
pub enum FileKind {
    Segment(u64),
    Log(u64),
    Snapshot(u64),
    Temp,
    Other,
}

pub fn classify(name: &str) -> FileKind {
    let numbered = |stem: &str| -> Option<u64> {
        (stem.len() == 20 && stem.bytes().all(|b| b.is_ascii_digit()))
            .then(|| stem.parse().ok())
            .flatten()
    };
    if name.ends_with(TEMP_SUFFIX) {
        return FileKind::Temp;
    }
    if let Some(stem) = name.strip_suffix(SEGMENT_SUFFIX)
        && let Some(id) = numbered(stem)
    {
        return FileKind::Segment(id);
    }
    if let Some(stem) = name.strip_suffix(LOG_SUFFIX)
        && let Some(id) = numbered(stem)
    {
        return FileKind::Log(id);
    }
    if let Some(stem) = name
        .strip_prefix(SNAPSHOT_PREFIX)
        .and_then(|rest| rest.strip_suffix(SNAPSHOT_SUFFIX))
        && let Some(number) = numbered(stem)
    {
        return FileKind::Snapshot(number);
    }
    FileKind::Other
}

/// Every entry of `dir` with its kind.
pub fn list(dir: &Path) -> Result<Vec<(PathBuf, FileKind)>> {
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let name = entry.file_name();
        let kind = name.to_str().map_or(FileKind::Other, classify);
        files.push((entry.path(), kind));
    }
    files.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(files)
}

/// Make the directory's entries (creations, renames, removals) durable.
pub fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io(dir, e))
}

/// Replace `path` with `bytes` atomically: a crash leaves either the old or the new file.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut temp = TempFile::create(path)?;
    temp.file
        .write_all(bytes)
        .map_err(|e| Error::io(&temp.path, e))?;
    temp.commit()
}

/// A file written beside its final path (`<path>.tmp`) and then renamed over it: a crash
/// leaves either the old or the new file, never a part. Dropped uncommitted, it removes
/// itself (and a crash's leftover is removed by the next open).
#[derive(Debug)]
pub struct TempFile {
    pub file: File,
    pub path: PathBuf,
    target: PathBuf,
    committed: bool,
}

impl TempFile {
    /// Create (or truncate) the temporary file for `target`.
    pub fn create(target: &Path) -> Result<TempFile> {
        let mut temp = target.as_os_str().to_owned();
        temp.push(TEMP_SUFFIX);
        let path = PathBuf::from(temp);
        let file = File::create(&path).map_err(|e| Error::io(&path, e))?;
        Ok(TempFile {
            file,
            path,
            target: target.to_path_buf(),
            committed: false,
        })
    }

    /// Make the contents durable, rename the file over its target and make the rename
    /// durable.
    pub fn commit(mut self) -> Result<()> {
        self.file.sync_all().map_err(|e| Error::io(&self.path, e))?;
        std::fs::rename(&self.path, &self.target).map_err(|e| Error::io(&self.target, e))?;
        self.committed = true;
        sync_dir(
            self.target
                .parent()
                .expect("a data file always has its directory as parent"),
        )
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.committed {
            // Best effort: a leftover is harmless, and the next open removes it.
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Remove a file if it exists.
pub fn remove_if_exists(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io(path, e)),
    }
}

/// The writer lock: held (flock) for as long as this value lives. The file holds the
/// writer's epoch (8 bytes, little-endian): a fresh value every time a writer opens the
/// store, so that other processes following the log can tell a restart (whose recovery
/// may rewrite a torn tail they had already read) from a writer that kept going.
#[derive(Debug)]
pub struct DirLock {
    _file: File,
}

/// The epoch of the last writer to open `dir` (`None` if no writer ever wrote one).
pub fn writer_epoch(dir: &Path) -> Option<u64> {
    let bytes = std::fs::read(dir.join(LOCK_FILE)).ok()?;
    Some(u64::from_le_bytes(bytes.get(..8)?.try_into().ok()?))
}

fn new_epoch() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_nanos() as u64);
    nanos ^ (u64::from(std::process::id()) << 32)
}

impl DirLock {
    /// Take the exclusive lock, or fail with `Error::Locked` naming the lock file.
    pub fn acquire(dir: &Path) -> Result<DirLock> {
        let path = dir.join(LOCK_FILE);
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| Error::io(&path, e))?;
        match file.try_lock() {
            Ok(()) => {
                let epoch = new_epoch().to_le_bytes();
                (&file)
                    .write_all(&epoch)
                    .and_then(|()| file.set_len(epoch.len() as u64))
                    .map_err(|e| Error::io(&path, e))?;
                Ok(DirLock { _file: file })
            }
            Err(std::fs::TryLockError::WouldBlock) => Err(Error::Locked { path }),
            Err(std::fs::TryLockError::Error(e)) => Err(Error::io(&path, e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_temp_file_replaces_its_target_only_when_committed() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("data");
        std::fs::write(&target, b"old").unwrap();
        let mut abandoned = TempFile::create(&target).unwrap();
        abandoned.file.write_all(b"half").unwrap();
        let temp_path = abandoned.path.clone();
        drop(abandoned);
        assert!(!temp_path.exists(), "an abandoned temp file removes itself");
        assert_eq!(std::fs::read(&target).unwrap(), b"old");

        let mut replacement = TempFile::create(&target).unwrap();
        replacement.file.write_all(b"new").unwrap();
        replacement.commit().unwrap();
        assert!(!temp_path.exists());
        assert_eq!(std::fs::read(&target).unwrap(), b"new");
    }

    #[test]
    fn names_are_classified_strictly() {
        assert_eq!(classify("00000000000000000007.seg"), FileKind::Segment(7));
        assert_eq!(classify("00000000000000000007.log"), FileKind::Log(7));
        assert_eq!(
            classify("snapshot-00000000000000000003.snap"),
            FileKind::Snapshot(3)
        );
        assert_eq!(classify("MANIFEST.tmp"), FileKind::Temp);
        assert_eq!(classify("7.seg"), FileKind::Other);
        assert_eq!(classify("notes.txt"), FileKind::Other);
        assert_eq!(classify("0000000000000000000x.seg"), FileKind::Other);
    }

    #[test]
    fn a_second_lock_fails_with_locked() {
        let dir = tempfile::tempdir().expect("temp dir");
        let first = DirLock::acquire(dir.path()).expect("first lock");
        match DirLock::acquire(dir.path()) {
            Err(Error::Locked { path }) => assert_eq!(path, dir.path().join(LOCK_FILE)),
            other => panic!("expected Locked, got {other:?}"),
        }
        drop(first);
        DirLock::acquire(dir.path()).expect("lock is free again after drop");
    }
}
