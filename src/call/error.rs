//! `CallError`: why a command did not produce an outcome, and whose it is to fix.

use thiserror::Error;

use crate::call::http::HttpError;
use crate::cause::{CallEnd, HangupCause};

/// Why a command failed, and so whose it is to fix (as rustls' errors say who broke the rules):
///
/// | variant | whose | example |
/// |---|---|---|
/// | [`Hangup`](CallError::Hangup), [`Transferred`](CallError::Transferred) | nobody's: the call is over | the caller hung up |
/// | [`Invalid`](CallError::Invalid) | the script author's | `send_dtmf("12x")`, `play([])` |
/// | [`Switch`](CallError::Switch) | whoever runs the switch | a sound file missing on the switch, a refused command |
/// | [`Unsupported`](CallError::Unsupported) | the script author's, for this switch | a number `mod_say` cannot speak |
/// | [`Http`](CallError::Http) | the service's, or the allowlist's | a web service that does not answer |
/// | [`Internal`](CallError::Internal) | rivr's: a bug to report | a reply rivr did not expect |
///
/// `Hangup` is control flow, not a failure: it stops the script quietly and runs `on_hangup`.
/// The other variants are the script's to catch.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum CallError {
    /// The call has ended; no more commands will run on it.
    #[error("the call has ended ({cause})")]
    Hangup {
        /// Why, e.g. `NORMAL_CLEARING`.
        cause: HangupCause,
    },
    /// A `transfer` handed the call back to the dialplan; no more commands will run on it.
    #[error("the call was transferred")]
    Transferred,
    /// The script asked for something the verb cannot do with these arguments.
    #[error("{verb}: {reason} (a mistake in the script)")]
    Invalid {
        /// The verb.
        verb: &'static str,
        /// What is wrong with the arguments.
        reason: String,
    },
    /// The switch ran the command and reported a failure (a missing sound file, a refused
    /// command, an API error): for whoever runs the switch.
    #[error("{verb} failed: {reason}")]
    Switch {
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
    /// rivr broke one of its own rules: a bug, not the script's or the switch's doing.
    #[error("{verb}: internal error in rivr ({reason}); please report it")]
    Internal {
        /// The verb.
        verb: &'static str,
        /// What rivr found.
        reason: String,
    },
}

/// Whose move it is when a command fails: who reads the message and acts on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Nobody's: the call ended.
    None,
    /// The script's author.
    Script,
    /// Whoever runs the switch.
    Switch,
    /// A web service the script called, or the allowlist that refused it.
    Service,
    /// rivr's developers.
    Rivr,
}

impl Fault {
    /// A short lowercase name, for logs and metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Fault::None => "none",
            Fault::Script => "script",
            Fault::Switch => "switch",
            Fault::Service => "service",
            Fault::Rivr => "rivr",
        }
    }
}

impl CallError {
    /// A hangup with the given cause.
    pub fn hangup(cause: impl Into<HangupCause>) -> Self {
        CallError::Hangup { cause: cause.into() }
    }

    /// The error every command gets once the call has ended this way.
    pub fn ended(end: CallEnd) -> Self {
        match end {
            CallEnd::HungUp(cause) => CallError::Hangup { cause },
            CallEnd::Transferred => CallError::Transferred,
        }
    }

    /// Whose it is to act on this error.
    pub fn fault(&self) -> Fault {
        match self {
            CallError::Hangup { .. } | CallError::Transferred => Fault::None,
            CallError::Invalid { .. } | CallError::Unsupported { .. } => Fault::Script,
            CallError::Switch { .. } => Fault::Switch,
            CallError::Http { .. } => Fault::Service,
            CallError::Internal { .. } => Fault::Rivr,
        }
    }

    /// Whether this is the end of the call (hung up or transferred) rather than a failure.
    pub fn is_hangup(&self) -> bool {
        matches!(self, CallError::Hangup { .. } | CallError::Transferred)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_error_says_whose_it_is_to_fix() {
        let invalid = CallError::Invalid { verb: "send_dtmf", reason: "`12x` is not a DTMF string".into() };
        assert_eq!(invalid.fault(), Fault::Script);
        assert!(invalid.to_string().contains("a mistake in the script"), "{invalid}");
        let switch = CallError::Switch { verb: "play", reason: "file not found: x.wav".into() };
        assert_eq!(
            (switch.fault(), switch.to_string().as_str()),
            (Fault::Switch, "play failed: file not found: x.wav")
        );
        let internal = CallError::Internal { verb: "get_var", reason: "no pending step".into() };
        assert_eq!(internal.fault(), Fault::Rivr);
        assert!(internal.to_string().contains("please report it"), "{internal}");
        assert_eq!(CallError::hangup("NORMAL_CLEARING").fault(), Fault::None);
    }
}
