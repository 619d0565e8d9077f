//! The engine's one error type. Every variant carries enough context (file, offset, key,
//! keyspace) to act on without a debugger.

use std::path::PathBuf;

/// Errors of [`crate::AlexStorage`] and everything it does.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Another handle (in this or another process) holds the directory's write lock.
    #[error("data directory is locked by another writer: {path}")]
    Locked { path: PathBuf },
    /// A file's bytes are not what was written: checksum mismatch, impossible length, a
    /// reference to a record that is not there.
    #[error("corruption in {file} at offset {offset}: {reason}")]
    Corruption {
        file: PathBuf,
        offset: u64,
        reason: String,
    },
    /// A value larger than `Config::max_value_len`.
    #[error("value of {len} bytes for key {key} exceeds the maximum of {max} bytes")]
    ValueTooLarge { key: i64, len: u64, max: u64 },
    /// A file written by a newer (or unknown) format version.
    #[error("{file} has format version {found}; this build supports version {supported}")]
    UnsupportedVersion {
        file: PathBuf,
        found: u32,
        supported: u32,
    },
    /// A file with one of alexdb's names whose contents are not alexdb's.
    #[error("{file} is not an alexdb file")]
    ForeignFile { file: PathBuf },
    /// An earlier sync or write failed; the log refuses further writes until reopened.
    #[error("the log is poisoned by an earlier failure ({cause}); reopen the store to recover")]
    Poisoned { cause: String },
    #[error("keyspace {name:?} not found")]
    KeyspaceNotFound { name: String },
    #[error("invalid keyspace name {name:?}: {reason}")]
    InvalidKeyspaceName { name: String, reason: String },
    /// A write was attempted through a read-only or secondary handle.
    #[error("the store is open read-only ({mode}); writes are not allowed")]
    ReadOnly { mode: &'static str },
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),
    #[error("I/O error on {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A log error with no closer engine equivalent.
    #[error(transparent)]
    Wal(alexdb_wal::Error),
}

/// Result with the engine's [`enum@Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Error {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn corruption(
        file: impl Into<PathBuf>,
        offset: u64,
        reason: impl Into<String>,
    ) -> Error {
        Error::Corruption {
            file: file.into(),
            offset,
            reason: reason.into(),
        }
    }
}

impl From<alexdb_wal::Error> for Error {
    fn from(error: alexdb_wal::Error) -> Error {
        use alexdb_wal::Error as W;
        match error {
            W::Io { path, source } => Error::Io { path, source },
            W::Corruption {
                path,
                offset,
                reason,
            } => Error::Corruption {
                file: path,
                offset,
                reason,
            },
            W::NotASegment { path } => Error::ForeignFile { file: path },
            W::UnsupportedVersion {
                path,
                found,
                supported,
            } => Error::UnsupportedVersion {
                file: path,
                found,
                supported,
            },
            W::Poisoned { cause } => Error::Poisoned { cause },
            W::InvalidOptions(message) => Error::InvalidConfig(message),
            other => Error::Wal(other),
        }
    }
}
