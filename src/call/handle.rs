//! `CallHandle`: the synchronous seam through which a script drives its call.
//!
//! Every verb becomes one `Command`: the script's fiber suspends with it, the call's task
//! (`call::actor::drive`) carries it out on the switch, and resumes the fiber with the outcome
//! (see `call::fiber`). To the script, the verb simply returns.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use crate::call::{fiber, CallError, Command, Outcome};
use crate::cause::{CallEnd, HangupCause};

/// Where in a script a command came from, for transcripts and error messages.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Origin {
    /// Script file (relative to the scripts directory) or stdlib module.
    pub source: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// The stdlib call (`menu`, `collect::digits`) this command ran inside, as the script made
    /// it; `None` when the script asked for the command itself. Analytics count per script site.
    pub within: Option<Arc<Site>>,
}

/// One call of a stdlib entry point (`menu`, `digits`, `pin`) from a script: what a command
/// inside it is counted under. Each call is its own `Arc`, so two runs of the same menu in a
/// loop are two visits (compare with `Arc::ptr_eq`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Site {
    /// The stdlib function: `menu`, `digits` or `pin`.
    pub function: &'static str,
    /// Where the script called it.
    pub at: Origin,
    /// A menu's choice keys as the script wrote them (empty for `collect`).
    pub keys: Vec<String>,
}

impl Origin {
    /// The script-level position this command counts under: the stdlib call it ran inside, or
    /// itself.
    pub fn site(&self) -> &Origin {
        self.within.as_ref().map_or(self, |site| &site.at)
    }
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
    /// How the call ended, once known.
    end: Mutex<Option<CallEnd>>,
}

impl CallState {
    /// Record that the call ended with `cause`.
    pub fn mark_hung_up(&self, cause: impl Into<HangupCause>) {
        self.mark_ended(CallEnd::HungUp(cause.into()));
    }

    /// Record that the call stopped being the script's; the first end recorded stands.
    pub fn mark_ended(&self, end: CallEnd) {
        let mut slot = fiber::lock(&self.end);
        if slot.is_none() {
            *slot = Some(end);
        }
        self.hung_up.store(true, Ordering::Release);
    }

    /// Whether the call has ended.
    pub fn is_hung_up(&self) -> bool {
        self.hung_up.load(Ordering::Acquire)
    }

    /// How the call ended: hung up with `NORMAL_CLEARING` if it ended without a cause.
    pub fn end(&self) -> CallEnd {
        fiber::lock(&self.end).clone().unwrap_or_else(|| CallEnd::HungUp(HangupCause::normal()))
    }

    /// The error every command gets now that the call has ended.
    pub fn ended_error(&self) -> CallError {
        CallError::ended(self.end())
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
            return Err(self.state.ended_error());
        }
        let answered = self.link.exchange(command, origin);
        match answered {
            Some(result) => result,
            // The actor went away without answering: the call is over.
            None => {
                self.state.mark_hung_up(HangupCause::normal());
                Err(self.state.ended_error())
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
