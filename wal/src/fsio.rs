//! File-system steps shared by the log, the standalone writer and recovery: naming,
//! directory listing, directory fsync, creating a preallocated segment file, and the
//! fault-injection seam consulted before each of them.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use crate::format::{SEGMENT_HEADER_LEN, SegmentHeader};
use crate::map::preallocate;
use crate::{Error, FaultHook, FaultPoint, Result};

/// Consults the optional fault hook before an I/O step.
#[derive(Clone, Default)]
pub(crate) struct Faults {
    hook: Option<FaultHook>,
}

impl std::fmt::Debug for Faults {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Faults")
            .field("hook", &self.hook.is_some())
            .finish()
    }
}

impl Faults {
    pub(crate) fn new(hook: Option<FaultHook>) -> Faults {
        Faults { hook }
    }

    /// `Err(Error::Io)` naming `path` if the hook fails this step.
    #[inline]
    pub(crate) fn check(&self, point: FaultPoint, path: &Path) -> Result<()> {
        match &self.hook {
            Some(hook) => hook(point).map_err(|source| io_error(path, source)),
            None => Ok(()),
        }
    }
}

pub(crate) fn io_error(path: &Path, source: io::Error) -> Error {
    Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// `{id:020}.log`.
pub(crate) fn log_file_name(id: u64) -> String {
    format!("{id:020}.log")
}

/// The id of a file named `{id:020}.<anything>`, with the part after the dot.
pub(crate) fn parse_file_name(name: &str) -> Option<(u64, &str)> {
    let (digits, rest) = name.split_at_checked(20)?;
    let ext = rest.strip_prefix('.')?;
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((digits.parse().ok()?, ext))
}

/// What a log directory holds.
#[derive(Debug, Default)]
pub(crate) struct Listing {
    /// `{id:020}.log` files, by increasing id.
    pub log_segments: Vec<(u64, PathBuf)>,
    /// Highest id of any `{id:020}.*` file (0 if none).
    pub max_id: u64,
    /// `{id:020}.log.tmp` leftovers of a segment creation interrupted by a crash.
    pub stale_temps: Vec<PathBuf>,
}

pub(crate) fn list_dir(dir: &Path) -> Result<Listing> {
    let mut listing = Listing::default();
    let entries = std::fs::read_dir(dir).map_err(|e| io_error(dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| io_error(dir, e))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some((id, ext)) = parse_file_name(name) else {
            continue;
        };
        listing.max_id = listing.max_id.max(id);
        if ext == "log" {
            listing.log_segments.push((id, entry.path()));
        } else if ext == "log.tmp" {
            listing.stale_temps.push(entry.path());
        }
    }
    listing.log_segments.sort();
    Ok(listing)
}

/// fsync a directory so that creations, renames and removals in it are durable.
pub(crate) fn sync_dir(dir: &Path, faults: &Faults) -> Result<()> {
    faults.check(FaultPoint::SyncDir, dir)?;
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io_error(dir, e))
}

/// `path` + `.tmp`.
pub(crate) fn temp_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".tmp");
    PathBuf::from(name)
}

/// Create a segment file durably: write `header` into a preallocated temp file of
/// `header.capacity` bytes, sync it, and (if `final_path` is given) rename it into place
/// and fsync the directory. Returns the open read-write file at its final path.
pub(crate) fn create_segment_file(
    temp: &Path,
    final_path: Option<&Path>,
    header: &SegmentHeader,
    faults: &Faults,
) -> Result<File> {
    faults.check(FaultPoint::CreateSegment, temp)?;
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(temp)
        .map_err(|e| io_error(temp, e))?;
    faults.check(FaultPoint::Preallocate, temp)?;
    preallocate(&file, header.capacity).map_err(|e| io_error(temp, e))?;
    faults.check(FaultPoint::WriteHeader, temp)?;
    file.write_all_at(&header.encode(), 0)
        .map_err(|e| io_error(temp, e))?;
    debug_assert!(header.capacity >= SEGMENT_HEADER_LEN);
    if let Some(final_path) = final_path {
        faults.check(FaultPoint::Sync, temp)?;
        file.sync_all().map_err(|e| io_error(temp, e))?;
        std::fs::rename(temp, final_path).map_err(|e| io_error(final_path, e))?;
        let dir = final_path.parent().unwrap_or(Path::new("."));
        sync_dir(dir, faults)?;
    }
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_round_trip() {
        assert_eq!(log_file_name(42), "00000000000000000042.log");
        assert_eq!(
            parse_file_name("00000000000000000042.log"),
            Some((42, "log"))
        );
        assert_eq!(
            parse_file_name("00000000000000000042.seg.tmp"),
            Some((42, "seg.tmp"))
        );
        assert_eq!(parse_file_name("0000000000000000042.log"), None);
        assert_eq!(parse_file_name("0000000000000000004x.log"), None);
        assert_eq!(parse_file_name("00000000000000000042log"), None);
        assert_eq!(parse_file_name("LOCK"), None);
    }
}
