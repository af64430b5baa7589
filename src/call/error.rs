//! `CallError`: why a command did not produce an outcome.

use thiserror::Error;

use crate::call::http::HttpError;

/// Why a command failed.
///
/// `Hangup` is control flow, not a failure: it stops the script quietly and runs `on_hangup`.
/// The other variants are the script's to catch.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum CallError {
    /// The call has ended; no more commands will run on it.
    #[error("the call has ended ({cause})")]
    Hangup {
        /// The Q.850 cause name, e.g. `NORMAL_CLEARING`.
        cause: String,
    },
    /// The switch ran the command and reported a failure (e.g. a missing sound file).
    #[error("{verb} failed: {reason}")]
    Failed {
        /// The verb that failed.
        verb: &'static str,
        /// What the switch said.
        reason: String,
    },
    /// The backend cannot carry out this command.
    #[error("{verb} is not supported by this switch: {reason}")]
    Unsupported {
        /// The verb.
        verb: &'static str,
        /// Why.
        reason: String,
    },
    /// An HTTP request (`http_get`, `http_post`) got no response.
    #[error("{verb}: {error}")]
    Http {
        /// The verb.
        verb: &'static str,
        /// What went wrong.
        error: HttpError,
    },
}

impl CallError {
    /// A hangup with the given cause.
    pub fn hangup(cause: impl Into<String>) -> Self {
        CallError::Hangup { cause: cause.into() }
    }

    /// Whether this is the end of the call rather than a failure.
    pub fn is_hangup(&self) -> bool {
        matches!(self, CallError::Hangup { .. })
    }
}
