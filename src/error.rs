//! The one error type of the crate. Every variant is a user-facing message: the binary prints
//! it on one line and exits with status 2 (see `Error::exit_code`).

use std::path::PathBuf;

/// Errors the library reports. The `Display` text is the whole line a user sees.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A value or shape that does not satisfy the model's definition.
    #[error("invalid input: {0}")]
    Invalid(String),
    /// A request the exact method cannot do in reasonable time or memory.
    #[error("too large: {0}")]
    TooLarge(String),
    /// A file that could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A file whose content is malformed, truncated or of the wrong kind.
    #[error("{}: {msg}", path.display())]
    Format { path: PathBuf, msg: String },
    /// A numerical routine that did not reach its stated accuracy.
    #[error("numerical failure: {0}")]
    Numerical(String),
}

impl Error {
    /// Shorthand for [`Error::Invalid`].
    pub fn invalid(msg: impl Into<String>) -> Self {
        Error::Invalid(msg.into())
    }

    /// Shorthand for [`Error::Format`].
    pub fn format(path: impl Into<PathBuf>, msg: impl Into<String>) -> Self {
        Error::Format {
            path: path.into(),
            msg: msg.into(),
        }
    }

    /// Process exit status for this error: 2 for anything the user can fix (bad input,
    /// unreadable files, sizes beyond the exact method), 1 for a numerical failure.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Numerical(_) => 1,
            _ => 2,
        }
    }
}

/// Result alias used throughout the crate.
pub type Result<T> = std::result::Result<T, Error>;

/// Checks that every value is finite; `what` names the quantity in the message.
pub(crate) fn ensure_finite(what: &str, values: &[f64]) -> Result<()> {
    match values.iter().position(|v| !v.is_finite()) {
        None => Ok(()),
        Some(k) => Err(Error::invalid(format!(
            "{what} has a non-finite entry ({}) at position {k}",
            values[k]
        ))),
    }
}
