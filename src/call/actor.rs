//! The call actor: the one tokio task per call ([`drive`]) that owns the switch channel, resumes
//! the script's fiber, runs the commands it asks for one at a time, and fails every pending and
//! later command once the call hangs up.
//!
//! HTTP requests (`Command::Http`) are the one kind of command the actor carries out itself,
//! through the `HttpClient` in its `CallServices`: the switch has nothing to do with them. A
//! request races the call's hangup, and a hangup drops (and so cancels) it. A script's own
//! events (`Command::Publish`) go to the `Publisher` in the services, without waiting.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use crate::call::fiber::{Fiber, Step};
use crate::call::http::{HttpClient, HttpRequest, NoHttp};
use crate::call::publish::{Publisher, Unpublished};
use crate::call::{
    CallEnd, CallError, CallObserver, CallState, Command, HangupCause, HangupRequest, Origin, Outcome,
};
use crate::switch::Channel;

/// What a call's actor needs besides its channel.
#[derive(Clone)]
pub struct CallServices {
    /// Carries out `http_get`/`http_post`.
    pub http: Arc<dyn HttpClient>,
    /// Longest the call may last (`max_call_duration_s`); then [`drive`] hangs it up with
    /// `ALLOTTED_TIMEOUT`. `None`: no limit.
    pub max_duration: Option<Duration>,
    /// Told about every command as it starts and finishes (the live call table).
    pub observer: Option<Arc<dyn CallObserver>>,
    /// Carries out `publish`: the node's event bus in `rivr run`; elsewhere nothing.
    pub publisher: Arc<dyn Publisher>,
    /// Lets someone outside the call hang it up (`DELETE /calls/{uuid}`).
    pub hangup: Option<Arc<HangupRequest>>,
}

impl CallServices {
    /// Services with `http` as the HTTP client.
    pub fn with_http(http: Arc<dyn HttpClient>) -> Self {
        CallServices {
            http,
            max_duration: None,
            observer: None,
            hangup: None,
            publisher: Arc::new(Unpublished),
        }
    }

    /// These services, for a call that may last at most `limit`.
    pub fn with_max_duration(self, limit: Duration) -> Self {
        CallServices { max_duration: Some(limit), ..self }
    }

    /// These services, also telling `observer` about every command (after any observer they
    /// already have).
    pub fn also_observed(self, observer: Arc<dyn CallObserver>) -> Self {
        let observer: Arc<dyn CallObserver> = match self.observer {
            Some(first) => Arc::new(crate::call::Observers(vec![first, observer])),
            None => observer,
        };
        CallServices { observer: Some(observer), ..self }
    }

    /// These services, publishing the script's events through `publisher`.
    pub fn publishing(self, publisher: Arc<dyn Publisher>) -> Self {
        CallServices { publisher, ..self }
    }

    /// These services, telling `observer` about every command and hanging up on `hangup`.
    pub fn watched(self, observer: Arc<dyn CallObserver>, hangup: Arc<HangupRequest>) -> Self {
        CallServices { observer: Some(observer), hangup: Some(hangup), ..self }
    }
}

impl Default for CallServices {
    /// No HTTP (every request fails with "HTTP is not configured for this call"), no limit.
    fn default() -> Self {
        CallServices::with_http(Arc::new(NoHttp))
    }
}

impl std::fmt::Debug for CallServices {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallServices").finish_non_exhaustive()
    }
}

/// Drive a call whose script runs on `fiber`: resume it, carry out each command it asks for on
/// `channel` (HTTP through `services`), resume it with the outcome, and close the channel when
/// the script is done. Returns what the script's body returned.
///
/// One task does it all, so a completion event leads to the next command within one poll. While
/// the script computes between verbs nothing reads the channel; a hangup in that time is noticed
/// when the script pauses (every `fiber::SLICE` of computing) or asks for its next verb.
///
/// When the call has lasted `services.max_duration`, the verb in progress is abandoned, the call
/// is hung up with `ALLOTTED_TIMEOUT`, and the script stops as on any hangup (`on_hangup` runs).
/// A hangup asked for through `services.hangup` ends the call the same way, with its cause.
pub async fn drive<C: Channel, R>(mut channel: C, mut fiber: Fiber<R>, services: CallServices) -> R {
    let state = fiber.state().clone();
    let deadline = services.max_duration.map(|limit| tokio::time::Instant::now() + limit);
    // One timer for the whole call, registered once, polled by every verb.
    let mut time_up = std::pin::pin!(tokio::time::sleep_until(deadline.unwrap_or_else(far_future)));
    let hangup = services.hangup.clone();
    let mut answer = None;
    let value = loop {
        match fiber.resume(answer.take()) {
            Step::Request { command, origin } => {
                let started = services.observer.as_ref().map(|observer| {
                    observer.verb_started(&command, origin.as_ref());
                    tokio::time::Instant::now()
                });
                let served = serve(&mut channel, &state, &services, command, origin);
                let result = if deadline.is_none() && hangup.is_none() {
                    Ok(served.await)
                } else {
                    tokio::select! {
                        biased;
                        result = served => Ok(result),
                        () = time_up.as_mut(), if deadline.is_some() && !state.is_hung_up() => Err(Interruption::TimeUp),
                        cause = asked_to_hang_up(hangup.as_deref()), if !state.is_hung_up() => Err(Interruption::Asked(cause)),
                    }
                };
                let result = match result {
                    Ok(result) => result,
                    Err(interruption) => interrupt(&mut channel, &state, &services, interruption).await,
                };
                if let (Some(observer), Some(started)) = (&services.observer, started) {
                    observer.verb_finished(&result, started.elapsed());
                }
                answer = Some(result);
            }
            Step::Pause => {
                if !state.is_hung_up() {
                    if let Some(cause) = ended_yet(&mut channel).await {
                        state.mark_hung_up(cause);
                    }
                }
                if !state.is_hung_up() {
                    if let Some(cause) = hangup.as_ref().and_then(|request| request.requested()) {
                        let _ = interrupt(&mut channel, &state, &services, Interruption::Asked(cause)).await;
                    }
                }
                if deadline.is_some_and(|at| tokio::time::Instant::now() >= at) && !state.is_hung_up() {
                    let _ = interrupt(&mut channel, &state, &services, Interruption::TimeUp).await;
                }
                tokio::task::yield_now().await;
            }
            Step::Finished(value) => break value,
        }
    };
    channel.close().await;
    value
}

/// Why the actor abandons the verb in progress and hangs the call up.
enum Interruption {
    /// The call lasted `max_call_duration_s`.
    TimeUp,
    /// Someone outside the call asked for the hangup, with this cause.
    Asked(HangupCause),
}

/// Wait for a hangup request, forever when nobody can ask for one.
async fn asked_to_hang_up(request: Option<&HangupRequest>) -> HangupCause {
    match request {
        Some(request) => request.wait().await,
        None => std::future::pending().await,
    }
}

/// A deadline no call reaches, for a timer that is never polled.
fn far_future() -> tokio::time::Instant {
    tokio::time::Instant::now() + Duration::from_secs(86_400 * 365)
}

/// Hang the call up for `why`, and answer the verb that was running (if any) with the hangup.
async fn interrupt<C: Channel>(
    channel: &mut C,
    state: &CallState,
    services: &CallServices,
    why: Interruption,
) -> Result<Outcome, CallError> {
    let cause = match why {
        Interruption::TimeUp => {
            let limit = services.max_duration.unwrap_or_default();
            tracing::warn!(?limit, "the call lasted max_call_duration_s; hanging it up");
            HangupCause::parse(CAUSE_ALLOTTED_TIMEOUT).unwrap_or_else(HangupCause::normal)
        }
        Interruption::Asked(cause) => {
            tracing::info!(%cause, "hanging the call up as asked");
            cause
        }
    };
    if let Err(error) = channel.execute(Command::Hangup(cause.clone()), None).await {
        if !error.is_hangup() {
            tracing::warn!(%error, "hanging up the call failed");
        }
    }
    state.mark_hung_up(cause);
    Err(state.ended_error())
}

/// The cause a call that lasted `max_call_duration_s` is hung up with.
const CAUSE_ALLOTTED_TIMEOUT: &str = "ALLOTTED_TIMEOUT";

/// Whether the channel has ended, reading what it has already received but not waiting.
async fn ended_yet<C: Channel>(channel: &mut C) -> Option<HangupCause> {
    let ended = channel.ended();
    let mut ended = std::pin::pin!(ended);
    std::future::poll_fn(|cx| match ended.as_mut().poll(cx) {
        std::task::Poll::Ready(cause) => std::task::Poll::Ready(Some(cause)),
        std::task::Poll::Pending => std::task::Poll::Ready(None),
    })
    .await
}

/// Carry out one command for the script.
async fn serve<C: Channel>(
    channel: &mut C,
    state: &CallState,
    services: &CallServices,
    command: Command,
    origin: Option<Origin>,
) -> Result<Outcome, CallError> {
    match command {
        Command::Http(request) => http(channel, state, &*services.http, request).await,
        // Sent by the publisher; then the channel takes note of it as of a log line (the
        // simulator's transcript shows it, FreeSWITCH is not asked anything).
        Command::Publish(publication) => {
            services.publisher.publish(&publication)?;
            channel.execute(Command::Publish(publication), origin).await
        }
        // A log line needs no call: it is written in order with the verbs, also in `on_hangup`.
        command @ Command::Log(_) => channel.execute(command, origin).await,
        _ if state.is_hung_up() => Err(state.ended_error()),
        command => {
            let ends_call = ends_call(&command);
            let result = channel.execute(command, origin).await;
            match (&result, ends_call) {
                (Err(CallError::Hangup { cause }), _) => state.mark_hung_up(cause.clone()),
                (Ok(_), Some(end)) => state.mark_ended(end),
                _ => {}
            }
            result
        }
    }
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
            state.mark_hung_up(cause.clone());
            Err(CallError::hangup(cause))
        }
    }
}

/// How a command ends the call when it succeeds: after it, the call is no longer the script's
/// to drive.
fn ends_call(command: &Command) -> Option<CallEnd> {
    match command {
        Command::Hangup(cause) | Command::Reject(cause) => Some(CallEnd::HungUp(cause.clone())),
        Command::Transfer(_) => Some(CallEnd::Transferred),
        _ => None,
    }
}
