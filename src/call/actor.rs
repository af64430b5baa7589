//! The call actor: a tokio task per call that owns the switch channel, runs the script's
//! commands one at a time and fails every pending and later command once the call hangs up.
//!
//! HTTP requests (`Command::Http`) are the one kind of command the actor carries out itself,
//! through the `HttpClient` in its `CallServices`: the switch has nothing to do with them. A
//! request races the call's hangup, and a hangup drops (and so cancels) it.

use std::sync::Arc;

use tokio::sync::mpsc;

use crate::call::http::{HttpClient, HttpRequest, NoHttp};
use crate::call::{CallError, CallHandle, CallState, Command, Outcome, Request};
use crate::switch::Channel;

/// How many commands may queue between a script and its actor. A script sends one at a time, so
/// one slot is enough; a second lets `on_hangup` send without waiting on a slow actor.
const REQUEST_QUEUE: usize = 2;

/// What a call's actor needs besides its channel: everything shared by all calls.
#[derive(Clone)]
pub struct CallServices {
    /// Carries out `http_get`/`http_post`.
    pub http: Arc<dyn HttpClient>,
}

impl CallServices {
    /// Services with `http` as the HTTP client.
    pub fn with_http(http: Arc<dyn HttpClient>) -> Self {
        CallServices { http }
    }
}

impl Default for CallServices {
    /// No HTTP: every request fails with "HTTP is not configured for this call".
    fn default() -> Self {
        CallServices { http: Arc::new(NoHttp) }
    }
}

impl std::fmt::Debug for CallServices {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallServices").finish_non_exhaustive()
    }
}

/// Spawn the actor for `channel` with no services (HTTP requests are refused) and return the
/// handle a script thread uses to drive it. The actor ends, closing the channel, when every
/// handle is dropped.
///
/// # Panics
/// When called outside a tokio runtime.
pub fn spawn<C: Channel>(channel: C) -> (CallHandle, tokio::task::JoinHandle<()>) {
    spawn_with(channel, CallServices::default())
}

/// Spawn the actor for `channel` on the current tokio runtime with `services`.
///
/// # Panics
/// When called outside a tokio runtime.
pub fn spawn_with<C: Channel>(
    channel: C,
    services: CallServices,
) -> (CallHandle, tokio::task::JoinHandle<()>) {
    let (requests, state, task) = start(channel, services);
    (CallHandle::new(requests, state), task)
}

/// Spawn the actor for `channel` on the current tokio runtime with `services`, and return where
/// its requests go and the state it shares, for a script on a fiber (`call::fiber::Fibers`). The
/// actor ends, closing the channel, when the request sender is dropped.
///
/// # Panics
/// When called outside a tokio runtime.
pub fn start<C: Channel>(
    channel: C,
    services: CallServices,
) -> (mpsc::Sender<Box<Request>>, Arc<CallState>, tokio::task::JoinHandle<()>) {
    let (requests, inbox) = mpsc::channel(REQUEST_QUEUE);
    let state = Arc::new(CallState::default());
    let task = tokio::spawn(run_with(channel, inbox, state.clone(), services));
    (requests, state, task)
}

/// Serve requests until the script lets go of the call, then close the channel (no services).
pub async fn run<C: Channel>(channel: C, inbox: mpsc::Receiver<Box<Request>>, state: Arc<CallState>) {
    run_with(channel, inbox, state, CallServices::default()).await
}

/// Serve requests until the script lets go of the call, then close the channel.
pub async fn run_with<C: Channel>(
    mut channel: C,
    mut inbox: mpsc::Receiver<Box<Request>>,
    state: Arc<CallState>,
    services: CallServices,
) {
    loop {
        tokio::select! {
            request = inbox.recv() => {
                let Some(request) = request else { break };
                let Request { command, origin, reply } = *request;
                let result = match command {
                    Command::Http(request) => http(&mut channel, &state, &*services.http, request).await,
                    _ if state.is_hung_up() => Err(CallError::hangup(state.cause())),
                    command => {
                        let ends_call = ends_call(&command);
                        let result = channel.execute(command, origin).await;
                        match (&result, ends_call) {
                            (Err(CallError::Hangup { cause }), _) => state.mark_hung_up(cause),
                            (Ok(_), Some(cause)) => state.mark_hung_up(&cause),
                            _ => {}
                        }
                        result
                    }
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

/// Run one HTTP request. While the call is up it races the call's end: a hangup drops the
/// request's future, which closes its connection. After the hangup (from `on_hangup`) nothing is
/// left to race and the request runs to its own timeout.
async fn http<C: Channel>(
    channel: &mut C,
    state: &CallState,
    client: &dyn HttpClient,
    request: HttpRequest,
) -> Result<Outcome, CallError> {
    let verb = request.method.verb();
    let to_result =
        |result: Result<_, _>| result.map(Outcome::Http).map_err(|error| CallError::Http { verb, error });
    if state.is_hung_up() {
        return to_result(client.send(request).await);
    }
    tokio::select! {
        result = client.send(request) => to_result(result),
        cause = channel.ended() => {
            tracing::debug!(%cause, "call ended during an HTTP request; cancelling it");
            state.mark_hung_up(&cause);
            Err(CallError::hangup(cause))
        }
    }
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
