//! The switch boundary: what a backend must provide for rivr to run a call on it.
//!
//! Two backends implement it: `sim` (in-process, deterministic, for the console, tests and
//! scenarios) and `freeswitch` (the Event Socket). An Asterisk ARI backend would be a third; the
//! script layer never sees which one it runs on.

use std::future::Future;

use crate::call::{CallError, Command, HangupCause, Origin, Outcome};

pub mod freeswitch;
pub mod sim;

/// One live call leg on a switch, as the call actor drives it.
pub trait Channel: Send + 'static {
    /// Carry out one command and resolve with its outcome.
    ///
    /// Must resolve with `CallError::Hangup` as soon as the call ends while the command runs,
    /// never hang on a completion that will not come. The future may be dropped before it
    /// resolves (the call reached `max_call_duration_s`); the next command must then work, and
    /// must not take the abandoned one's reply or completion for its own.
    fn execute(
        &mut self,
        command: Command,
        origin: Option<Origin>,
    ) -> impl Future<Output = Result<Outcome, CallError>> + Send;

    /// Resolves with the hangup cause when the call ends while no command runs. Must be
    /// cancel-safe: the actor drops it whenever a command arrives.
    fn ended(&mut self) -> impl Future<Output = HangupCause> + Send;

    /// The script is finished with the call: hang it up if it is still up and release the
    /// connection.
    fn close(self) -> impl Future<Output = ()> + Send;
}
