//! The call actor: a tokio task per call that owns the switch channel, runs the script's
//! commands one at a time and fails every pending and later command once the call hangs up.

use std::sync::Arc;

use tokio::sync::mpsc;

use crate::call::{CallError, CallHandle, CallState, Command, Request};
use crate::switch::Channel;

/// How many commands may queue between a script and its actor. A script sends one at a time, so
/// one slot is enough; a second lets `on_hangup` send without waiting on a slow actor.
const REQUEST_QUEUE: usize = 2;

/// Spawn the actor for `channel` on the current tokio runtime and return the handle a script
/// thread uses to drive it. The actor ends, closing the channel, when every handle is dropped.
///
/// # Panics
/// When called outside a tokio runtime.
pub fn spawn<C: Channel>(channel: C) -> (CallHandle, tokio::task::JoinHandle<()>) {
    let (requests, inbox) = mpsc::channel(REQUEST_QUEUE);
    let state = Arc::new(CallState::default());
    let task = tokio::spawn(run(channel, inbox, state.clone()));
    (CallHandle::new(requests, state), task)
}

/// Serve requests until the script lets go of the call, then close the channel.
pub async fn run<C: Channel>(mut channel: C, mut inbox: mpsc::Receiver<Request>, state: Arc<CallState>) {
    loop {
        tokio::select! {
            request = inbox.recv() => {
                let Some(Request { command, origin, reply }) = request else { break };
                let result = if state.is_hung_up() {
                    Err(CallError::hangup(state.cause()))
                } else {
                    let ends_call = ends_call(&command);
                    let result = channel.execute(command, origin).await;
                    match (&result, ends_call) {
                        (Err(CallError::Hangup { cause }), _) => state.mark_hung_up(cause),
                        (Ok(_), Some(cause)) => state.mark_hung_up(&cause),
                        _ => {}
                    }
                    result
                };
                // The script may have been stopped meanwhile; nobody is waiting then.
                let _ = reply.send(result);
            }
            cause = channel.ended(), if !state.is_hung_up() => {
                state.mark_hung_up(&cause);
            }
        }
    }
    channel.close().await;
}

/// The cause a command ends the call with when it succeeds: after it, the call is no longer the
/// script's to drive.
fn ends_call(command: &Command) -> Option<String> {
    match command {
        Command::Hangup(cause) | Command::Reject(cause) => Some(cause.to_string()),
        Command::Transfer(_) => Some("TRANSFERRED".into()),
        _ => None,
    }
}
