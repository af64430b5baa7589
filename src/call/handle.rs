//! `CallHandle`: the synchronous seam through which a script drives its call.
//!
//! Every verb becomes one `Command` sent to the call's actor with a reply slot, and the script
//! waits for the answer. It waits in one of two ways, invisible to the script:
//! - on a fiber driven by the call's task (`rivr run`): the fiber suspends with the command and
//!   is resumed with the outcome (see `call::fiber`, `call::actor::drive`);
//! - on an OS thread of its own (the simulator, tests): the thread blocks on the tokio channels.
//!   Such threads never enter the runtime, so blocking sends and receives are safe there.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, oneshot};

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

/// State shared between a call's actor (or driver) and its script.
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

/// The script's grip on its call.
#[derive(Clone, Debug)]
pub struct CallHandle {
    link: Link,
    state: Arc<CallState>,
}

/// How a handle reaches its actor.
#[derive(Clone, Debug)]
enum Link {
    /// From an OS thread of its own, blocking.
    Thread(mpsc::Sender<Box<Request>>),
    /// From a fiber, suspending it.
    Fiber(Arc<fiber::Link>),
}

impl CallHandle {
    /// A handle for a script on an OS thread of its own, sending to `requests` and sharing
    /// `state` with the actor.
    pub fn new(requests: mpsc::Sender<Box<Request>>, state: Arc<CallState>) -> Self {
        CallHandle { link: Link::Thread(requests), state }
    }

    /// A handle for a script on a fiber.
    pub(crate) fn on_fiber(link: Arc<fiber::Link>, state: Arc<CallState>) -> Self {
        CallHandle { link: Link::Fiber(link), state }
    }

    /// On a fiber that has computed for a whole slice since it last waited, let the other calls
    /// run first. Called from the engine's progress hook; does nothing on a thread.
    pub fn pause_if_due(&self) {
        if let Link::Fiber(link) = &self.link {
            link.pause_if_due();
        }
    }

    /// Run one command and wait for its outcome.
    ///
    /// # Errors
    /// `CallError::Hangup` once the call has ended (for this and every later command), or the
    /// failure the switch reported.
    ///
    /// # Panics
    /// A thread's handle, when called from inside a tokio runtime (script threads must be plain
    /// OS threads); a fiber's handle, when called outside its fiber.
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
        let answered = match &self.link {
            Link::Thread(requests) => {
                let (reply, answer) = oneshot::channel();
                // Boxed: tokio allocates the queue in blocks of 32 slots, and a whole `Command`
                // per slot would cost kilobytes per call.
                let request = Box::new(Request { command, origin, reply });
                match requests.blocking_send(request) {
                    Ok(()) => answer.blocking_recv().ok(),
                    Err(_) => None,
                }
            }
            Link::Fiber(link) => link.exchange(command, origin),
        };
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
