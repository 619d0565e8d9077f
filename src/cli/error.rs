//! The tool's one error type: every failure the user can cause or meet, with the context
//! needed to act on it (which file, which line, which key), and the exit code it maps to.

use std::fmt;
use std::path::PathBuf;

/// Exit code for an operational failure (store error, I/O error).
pub const EXIT_FAILURE: u8 = 1;
/// Exit code for bad input: arguments, plan files, numbers (clap uses 2 as well).
pub const EXIT_USAGE: u8 = 2;
/// Exit code of `alexdb check` when it found damage.
pub const EXIT_DAMAGE: u8 = 3;

/// Everything that can make a command fail.
#[derive(Debug)]
pub enum CliError {
    /// A plan file (or the embedded default plan) is not valid; the message names the
    /// file, the line and the field.
    Plan(String),
    /// An argument is invalid in a way clap cannot see (for example a directory that
    /// does not exist, or a combination of options).
    Usage(String),
    /// The store failed; `context` says what the tool was doing.
    Store {
        context: String,
        source: alexdb_engine::Error,
    },
    /// A file the tool reads or writes itself (plan, report) failed.
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The store answered, but not what was written: a lost key, a resurrected delete,
    /// a value that does not carry its key. Always a bug or damage.
    Consistency(String),
    /// `alexdb check` found damage (already printed); carries a one-line summary.
    Damage(String),
    /// Anything else (report rendering, thread panics), with a description.
    Other(String),
}

impl CliError {
    /// A store error with what the tool was doing when it happened.
    pub fn store(context: impl Into<String>, source: alexdb_engine::Error) -> CliError {
        CliError::Store {
            context: context.into(),
            source,
        }
    }

    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> CliError {
        CliError::Io {
            path: path.into(),
            source,
        }
    }

    /// The process exit code for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Plan(_) | CliError::Usage(_) => EXIT_USAGE,
            CliError::Damage(_) | CliError::Consistency(_) => EXIT_DAMAGE,
            _ => EXIT_FAILURE,
        }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliError::Plan(message) => write!(f, "bad plan: {message}"),
            CliError::Usage(message) => write!(f, "{message}"),
            CliError::Store { context, source } => {
                write!(f, "{context}: {source}")?;
                if let alexdb_engine::Error::Locked { .. } = source {
                    write!(
                        f,
                        " (another alexdb process has this directory open; close it or use another --dir)"
                    )?;
                }
                Ok(())
            }
            CliError::Io { path, source } => write!(f, "{}: {source}", path.display()),
            CliError::Consistency(message) => write!(f, "consistency failure: {message}"),
            CliError::Damage(message) => write!(f, "damage found: {message}"),
            CliError::Other(message) => write!(f, "{message}"),
        }
    }
}

impl std::error::Error for CliError {}

/// Result of the tool's functions.
pub type CliResult<T> = Result<T, CliError>;
