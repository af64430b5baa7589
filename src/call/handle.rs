//! `CallHandle`: the synchronous seam through which a script drives its call.
//!
//! Every verb becomes one `Command`: the script's fiber suspends with it, the call's task
//! (`call::actor::drive`) carries it out on the switch, and resumes the fiber with the outcome
//! (see `call::fiber`). To the script, the verb simply returns.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use crate::call::{fiber, CallError, Command, Outcome};

/// Where in a script a command came from, for transcripts and error messages.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Origin {
    /// Script file (relative to the scripts directory) or stdlib module.
    pub source: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}:{}", self.source, self.line, self.column)
    }
}

/// State shared between a call's task and its script.
#[derive(Debug, Default)]
pub struct CallState {
    /// Set by the call's task the moment it learns the call is gone; read by the script's
    /// progress hook so a computing script stops without waiting for its next verb.
    hung_up: AtomicBool,
    /// The hangup cause, once known.
    cause: Mutex<Option<String>>,
}

impl CallState {
    /// Record that the call ended.
    pub fn mark_hung_up(&self, cause: &str) {
        let mut slot = self.cause.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if slot.is_none() {
            *slot = Some(cause.to_string());
        }
        self.hung_up.store(true, Ordering::Release);
    }

    /// Whether the call has ended.
    pub fn is_hung_up(&self) -> bool {
        self.hung_up.load(Ordering::Acquire)
    }

    /// The hangup cause, `NORMAL_CLEARING` if the call ended without one.
    pub fn cause(&self) -> String {
        self.cause
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
            .unwrap_or_else(|| "NORMAL_CLEARING".into())
    }
}

/// The script's grip on its call, valid on the script's fiber.
#[derive(Clone, Debug)]
pub struct CallHandle {
    link: Arc<fiber::Link>,
    state: Arc<CallState>,
}

impl CallHandle {
    /// A handle for a script on a fiber.
    pub(crate) fn on_fiber(link: Arc<fiber::Link>, state: Arc<CallState>) -> Self {
        CallHandle { link, state }
    }

    /// If the script has computed for a whole slice since it last waited, let the other calls
    /// run first. Called from the engine's progress hook.
    pub fn pause_if_due(&self) {
        self.link.pause_if_due();
    }

    /// Run one command and wait for its outcome.
    ///
    /// # Errors
    /// `CallError::Hangup` once the call has ended (for this and every later command), or the
    /// failure the switch reported.
    ///
    /// # Panics
    /// When called outside the script's fiber.
    pub fn execute(&self, command: Command) -> Result<Outcome, CallError> {
        self.execute_from(command, None)
    }

    /// Like [`CallHandle::execute`], recording where in the script the command came from.
    ///
    /// # Errors
    /// As for [`CallHandle::execute`].
    pub fn execute_from(&self, command: Command, origin: Option<Origin>) -> Result<Outcome, CallError> {
        if self.state.is_hung_up() && !command.runs_after_hangup() {
            return Err(CallError::hangup(self.state.cause()));
        }
        let answered = self.link.exchange(command, origin);
        match answered {
            Some(result) => result,
            // The actor went away without answering: the call is over.
            None => {
                self.state.mark_hung_up("NORMAL_CLEARING");
                Err(CallError::hangup(self.state.cause()))
            }
        }
    }

    /// The state shared with the actor.
    pub fn state(&self) -> &Arc<CallState> {
        &self.state
    }

    /// Whether the call has ended.
    pub fn is_hung_up(&self) -> bool {
        self.state.is_hung_up()
    }
}
