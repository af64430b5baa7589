//! `Fallback`: what happens to a call whose script fails.

use serde::Deserialize;

/// What rivr does with a call whose script errored or broke a sandbox limit. Only that call is
/// affected.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Fallback {
    /// Play an optional prompt, then hang up with a cause.
    Hangup {
        /// Prompt played first (a file, or `say:<text>`); none plays nothing.
        #[serde(default)]
        prompt: Option<String>,
        /// Q.850 cause name for the hangup.
        #[serde(default = "default_fallback_cause")]
        cause: String,
    },
    /// Transfer the call to a dialplan extension (an operator, a static IVR).
    Transfer {
        /// Extension to transfer to.
        extension: String,
        /// Dialplan context; the call's own when absent.
        #[serde(default)]
        context: Option<String>,
    },
}

fn default_fallback_cause() -> String {
    "NORMAL_TEMPORARY_FAILURE".into()
}

impl Default for Fallback {
    fn default() -> Self {
        Fallback::Hangup {
            prompt: Some("say:We are sorry, something went wrong. Please call again later.".into()),
            cause: default_fallback_cause(),
        }
    }
}
