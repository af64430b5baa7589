//! `CallHandle`: the blocking seam through which a script thread drives its call.
//!
//! Every verb becomes one `Command` sent to the call's actor with a reply slot; the script
//! thread blocks until the actor answers. Script threads are plain OS threads that never enter
//! the tokio runtime, so blocking sends and receives on tokio channels are safe here.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, oneshot};

use crate::call::{CallError, Command, Outcome};

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

/// One command on its way to the actor, with the slot for its answer.
#[derive(Debug)]
pub struct Request {
    /// What to do.
    pub command: Command,
    /// Where the script asked for it.
    pub origin: Option<Origin>,
    /// Where the actor puts the result.
    pub reply: oneshot::Sender<Result<Outcome, CallError>>,
}

/// State shared between a call's actor and its script thread.
#[derive(Debug, Default)]
pub struct CallState {
    /// Set by the actor the moment the switch reports the call gone; read by the script's
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

/// The script thread's grip on its call.
#[derive(Clone, Debug)]
pub struct CallHandle {
    requests: mpsc::Sender<Box<Request>>,
    state: Arc<CallState>,
}

impl CallHandle {
    /// A handle sending to `requests`, sharing `state` with the actor.
    pub fn new(requests: mpsc::Sender<Box<Request>>, state: Arc<CallState>) -> Self {
        CallHandle { requests, state }
    }

    /// Run one command and wait for its outcome.
    ///
    /// # Errors
    /// `CallError::Hangup` once the call has ended (for this and every later command), or the
    /// failure the switch reported.
    ///
    /// # Panics
    /// When called from inside a tokio runtime: script threads must be plain OS threads.
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
        let (reply, answer) = oneshot::channel();
        // Boxed: tokio allocates the queue in blocks of 32 slots, and a whole `Command` per slot
        // would cost kilobytes per call.
        let request = Box::new(Request { command, origin, reply });
        if self.requests.blocking_send(request).is_err() {
            self.state.mark_hung_up("NORMAL_CLEARING");
            return Err(CallError::hangup(self.state.cause()));
        }
        match answer.blocking_recv() {
            Ok(result) => result,
            // The actor went away without answering: the call is over.
            Err(_) => {
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
