//! One error type for the whole crate, split by area so the CLI can map each to an exit code:
//! mistakes a user can fix (config, data, checkpoint, flags) exit with 2, our own failures with 1.

use std::path::{Path, PathBuf};

/// Everything that can go wrong in neurona.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The experiment file is unreadable, malformed or holds an invalid value.
    #[error("{0}")]
    Config(String),
    /// A data file is missing, truncated, corrupt or inconsistent.
    #[error("{0}")]
    Data(String),
    /// A checkpoint cannot be read or does not fit the configured model.
    #[error("checkpoint {}: {reason}", path.display())]
    Checkpoint { path: PathBuf, reason: String },
    /// The requested backend is unknown, not compiled in, or has no usable device.
    #[error("{0}")]
    Backend(String),
    /// A command-line argument is wrong (e.g. a run directory that does not exist).
    #[error("{0}")]
    Usage(String),
    /// Reading or writing a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A check the user asked for (such as `gradcheck`) found a discrepancy.
    #[error("{0}")]
    CheckFailed(String),
    /// The disk is full: the user's to fix, by freeing space (a training then resumes).
    #[error(
        "{0}: the disk is full; free space on it and run the command again (a training continues \
         from its last completed epoch with --resume)"
    )]
    DiskFull(String),
    /// A failure inside neurona or Burn that the user cannot fix by changing the input.
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    /// Process exit code: 2 for errors in the user's input, 1 for internal failures.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Internal(_) | Error::CheckFailed(_) => 1,
            _ => 2,
        }
    }

    /// A failure reported by a library as text (burn-train's error, a panic's message): a full
    /// disk is the user's condition, anything else is ours. `what` says what was being done.
    pub fn from_failure(what: &str, message: &str) -> Error {
        if is_disk_full(message) {
            Error::DiskFull(format!("{what}: {message}"))
        } else {
            Error::Internal(format!("{what}: {message}"))
        }
    }

    /// Wraps an I/O error with the path it happened on.
    pub fn io(path: impl AsRef<Path>) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.as_ref().to_path_buf();
        move |source| Error::Io { path, source }
    }
}

/// Whether a library's error text reports a full disk (ENOSPC, as std formats it).
pub fn is_disk_full(message: &str) -> bool {
    message.contains("No space left on device") || message.contains("(os error 28)")
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
