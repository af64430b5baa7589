//! `GET /events`: the live view's feed, as server-sent events.
//!
//! A listener first gets a `snapshot` (calls, scripts, recent errors, counters), then changes:
//! `call` (a call started or changed verb: the whole call), `call_ended`, `script_error`,
//! `scripts` (after a reload) and `counters`. Call changes are coalesced over a short window,
//! so a wall screen gets each call's latest state a few times a second however busy the node
//! is; a listener that falls behind the feed gets a fresh snapshot instead of a gap.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use tokio::sync::{broadcast, mpsc};
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::{Stream, StreamExt};

use super::ApiState;
use crate::ops::calls::{CallEnding, Counters, LiveCall, ScriptError, Subscription, Update};
use crate::server::Runtime;

/// How often coalesced changes go out.
const FLUSH_EVERY: Duration = Duration::from_millis(250);

/// How often counters and the script list are looked at (sent only when they changed).
const TICKS_PER_SUMMARY: u32 = 4;

/// `GET /events`.
pub(super) async fn stream(
    State(state): State<ApiState>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let (sender, receiver) = mpsc::channel(64);
    // Subscribed before the snapshot is taken, so no change falls between the two.
    let feed = state.runtime.calls().subscribe();
    tokio::spawn(pump(state.runtime.clone(), feed, sender));
    Sse::new(ReceiverStream::new(receiver).map(Ok)).keep_alive(KeepAlive::default())
}

/// The changes one listener has not been sent yet.
#[derive(Default)]
struct Pending {
    calls: HashMap<String, Arc<LiveCall>>,
    ended: Vec<(String, CallEnding)>,
    errors: Vec<Arc<ScriptError>>,
}

/// Move the feed to one listener until it goes away.
async fn pump(runtime: Arc<Runtime>, mut feed: Subscription, out: mpsc::Sender<Event>) {
    if out.send(snapshot(&runtime)).await.is_err() {
        return;
    }
    let mut pending = Pending::default();
    let mut last_counters = runtime.calls().counters();
    let mut last_scripts = scripts_seen(&runtime);
    let mut flush = tokio::time::interval(FLUSH_EVERY);
    flush.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut ticks = 0u32;
    loop {
        tokio::select! {
            update = feed.recv() => match update {
                Ok(Update::Call(call)) => {
                    pending.calls.insert(call.uuid().to_string(), call);
                }
                Ok(Update::Ended { uuid, ending }) => {
                    pending.calls.remove(&uuid);
                    pending.ended.push((uuid, ending));
                }
                Ok(Update::ScriptError(error)) => pending.errors.push(error),
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    tracing::debug!(missed, "a live view fell behind; sending it a fresh snapshot");
                    pending = Pending::default();
                    if out.send(snapshot(&runtime)).await.is_err() {
                        return;
                    }
                }
                Err(broadcast::error::RecvError::Closed) => return,
            },
            _ = flush.tick() => {
                let mut events = Vec::new();
                for call in pending.calls.drain().map(|(_, call)| call) {
                    events.push(json_event("call", &call.view()));
                }
                for (uuid, ending) in pending.ended.drain(..) {
                    events.push(json_event("call_ended", &serde_json::json!({ "uuid": uuid, "ending": ending })));
                }
                for error in pending.errors.drain(..) {
                    events.push(json_event("script_error", &*error));
                }
                ticks += 1;
                if ticks.is_multiple_of(TICKS_PER_SUMMARY) {
                    let counters = runtime.calls().counters();
                    if counters != last_counters {
                        events.push(json_event("counters", &counters));
                        last_counters = counters;
                    }
                    let scripts = scripts_seen(&runtime);
                    if scripts != last_scripts {
                        events.push(json_event("scripts", &super::node::script_list(&runtime)));
                        last_scripts = scripts;
                    }
                }
                for event in events {
                    if out.send(event).await.is_err() {
                        return;
                    }
                }
            }
            () = out.closed() => return,
        }
    }
}

/// What tells that the script list changed: the store's generation and its rescans.
fn scripts_seen(runtime: &Runtime) -> (u64, u64) {
    (runtime.store().generation(), runtime.store().rescans())
}

fn snapshot(runtime: &Runtime) -> Event {
    let calls: Vec<_> = runtime.calls().list().iter().map(|call| call.view()).collect();
    let recent = runtime.calls().recent_errors();
    let errors: Vec<&ScriptError> = recent.iter().map(|error| &**error).collect();
    let scripts = super::node::script_list(runtime);
    let counters: Counters = runtime.calls().counters();
    json_event(
        "snapshot",
        &serde_json::json!({
            "calls": calls,
            "scripts": scripts["scripts"],
            "errors": errors,
            "counters": counters,
        }),
    )
}

fn json_event(name: &str, data: &impl serde::Serialize) -> Event {
    Event::default().event(name).data(serde_json::to_string(data).unwrap_or_else(|_| "null".into()))
}
