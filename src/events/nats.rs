//! The NATS sink: one task that reads the sink's queue in order and publishes each event on
//! `<subject_prefix>.<type>` (`rivr.events.call.ended`) over the node's NATS connection.
//!
//! - **Core NATS** (default): fire and forget, at-most-once. An event counts as delivered once
//!   the connection has taken it. Publishing costs no allocation beyond the event's bytes: each
//!   type's subject is built once and cloned (a reference count), and the bytes are shared.
//! - **JetStream** (`jetstream: true`): at-least-once. The task first makes sure the stream
//!   exists (creating it over `<subject_prefix>.>`, file storage, limits retention), then
//!   publishes with up to [`ACK_WINDOW`] acknowledgements outstanding, awaited in order, so a
//!   node's throughput is not one round trip per event. When an acknowledgement fails (a
//!   timeout, or the stream refusing), that event and every later one in flight are published
//!   again, in order, after a backoff: the stream then holds the calls' events in order from
//!   there on, and an event whose first copy was stored appears twice (consumers deduplicate by
//!   the CloudEvents `id`). An event that keeps failing while NATS is connected is given up and
//!   counted after [`MAX_TRIES`].
//!
//! While NATS is down the task publishes nothing: events wait in the sink's bounded queue (so
//! the drops, if it fills, are counted there) and go out in order once the connection is back.
//! Calls never wait for any of this.

use std::collections::{HashMap, VecDeque};
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::context::{Context as JetStream, PublishErrorKind};
use async_nats::jetstream::publish::PublishAck;
use async_nats::jetstream::stream::{Config as StreamConfig, RetentionPolicy, StorageType};
use async_nats::{Client, Subject};
use tokio::task::JoinHandle;

use super::sink::{SinkInbox, SinkStats};
use super::{Event, EventKind};
use crate::config::{NatsSink, RivrEventType};
use crate::nats::{NatsConnection, NatsState};

/// Most JetStream acknowledgements awaited at once.
pub const ACK_WINDOW: usize = 256;

/// Tries of one JetStream event while NATS is connected before it is given up.
pub const MAX_TRIES: u32 = 6;

/// The first wait before publishing again after a failed acknowledgement.
const BACKOFF_START: Duration = Duration::from_millis(200);

/// The longest wait between two tries.
const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// How often a task waiting for the connection looks at its state.
const STATE_POLL: Duration = Duration::from_millis(50);

/// Published types whose subjects are kept; a script publishing ever new types beyond this
/// gets its subjects built per event instead of growing the cache.
const MAX_CACHED_SUBJECTS: usize = 1024;

/// Most events core NATS publishing takes from the queue at once.
const CORE_BATCH: usize = 1024;

/// How long core NATS publishing waits for more events after a batch smaller than
/// `CORE_BATCH`, and how often JetStream publishing looks for new events while acknowledgements
/// are awaited: an event's delay on its way out, traded for far fewer writes and wake-ups.
const LINGER: Duration = Duration::from_millis(5);

/// Start the NATS sink's task over `client`, reading `inbox` until it closes (rivr shutting
/// down). Returns at once, connected or not.
pub fn start(client: Client, config: &NatsSink, inbox: SinkInbox) -> JoinHandle<()> {
    let subjects = Subjects::new(&config.subject_prefix);
    if config.jetstream {
        let publisher = JetStreamPublisher {
            jetstream: async_nats::jetstream::new(client.clone()),
            client,
            stream: config.stream.clone(),
            stream_subjects: format!("{}.>", config.subject_prefix),
            subjects,
            in_flight: VecDeque::with_capacity(ACK_WINDOW),
        };
        tokio::spawn(publisher.run(inbox))
    } else {
        tokio::spawn(publish_core(client, subjects, inbox))
    }
}

/// [`start`] over a node's connection.
pub fn start_on(connection: &NatsConnection, config: &NatsSink, inbox: SinkInbox) -> JoinHandle<()> {
    start(connection.client(), config, inbox)
}

/// Core NATS: each event as it comes, once the connection is up.
async fn publish_core(client: Client, mut subjects: Subjects, mut inbox: SinkInbox) {
    let mut batch = Vec::with_capacity(CORE_BATCH);
    while inbox.events.recv_many(&mut batch, CORE_BATCH).await > 0 {
        connected(&client).await;
        let taken = batch.len();
        for event in batch.drain(..) {
            match client.publish(subjects.of(&event.kind), event.body).await {
                Ok(()) => inbox.stats.delivered(1),
                Err(error) => {
                    // Only an event larger than the server's max_payload, or a closed client,
                    // gets here: trying again would not help.
                    inbox.stats.gave_up(1);
                    tracing::warn!(sink = %inbox.name, event = event.kind.name(), %error, "cannot publish an event to NATS; given up");
                }
            }
        }
        if taken < CORE_BATCH {
            // Let the next events gather: publishing them together costs the connection one
            // wake-up and one write instead of one per event (a call emits about seven).
            tokio::time::sleep(LINGER).await;
        }
    }
    // rivr is shutting down: hand over what the connection still buffers, if it is up.
    if crate::nats::client_state(&client).is_connected() {
        let _ = tokio::time::timeout(BACKOFF_MAX, client.flush()).await;
    }
}

/// An acknowledgement on its way.
type AckFuture =
    Pin<Box<dyn Future<Output = Result<PublishAck, async_nats::jetstream::context::PublishError>> + Send>>;

/// JetStream: a window of acknowledgements in flight, in order.
struct JetStreamPublisher {
    client: Client,
    jetstream: JetStream,
    stream: String,
    stream_subjects: String,
    subjects: Subjects,
    /// Published and not yet acknowledged, oldest first.
    in_flight: VecDeque<(Event, AckFuture)>,
}

/// Why the window has to be published again.
struct Failure {
    /// Nothing can make this event go through (too large for the server): give it up alone.
    hopeless: bool,
    /// The stream was not there: make sure of it again before the next try.
    no_stream: bool,
    error: String,
}

impl JetStreamPublisher {
    async fn run(mut self, mut inbox: SinkInbox) {
        connected(&self.client).await;
        self.ensure_stream(&inbox.name).await;
        let mut tries = 0u32;
        let mut open = true;
        // One timer for the whole run, set again only when it fires: acknowledgements, which
        // come about as often as events, do not touch it.
        let linger = tokio::time::sleep(LINGER);
        tokio::pin!(linger);
        loop {
            let failure = if self.in_flight.is_empty() {
                if !open {
                    return;
                }
                match inbox.events.recv().await {
                    Some(event) => self.publish(event).await.err(),
                    None => return,
                }
            } else {
                // With acknowledgements awaited, new events are taken when one arrives or after
                // a linger, not as each is queued: waiting on the queue itself would have every
                // call wake this task's thread for every event.
                let window_full = self.in_flight.len() >= ACK_WINDOW;
                let front = &mut self.in_flight.front_mut().expect("not empty").1;
                tokio::select! {
                    biased;
                    ack = front => match ack {
                        Ok(_) => {
                            self.in_flight.pop_front();
                            inbox.stats.delivered(1);
                            tries = 0;
                            None
                        }
                        Err(error) => Some(Failure::of(&error)),
                    },
                    () = &mut linger, if open && !window_full => {
                        linger.as_mut().reset(tokio::time::Instant::now() + LINGER);
                        None
                    }
                }
            };
            let failure = match failure {
                None if open => self.publish_waiting(&mut inbox, &mut open).await,
                failure => failure,
            };
            if let Some(failure) = failure {
                self.recover(failure, &mut tries, &inbox.name, &inbox.stats).await;
            }
        }
    }

    /// Publish the events already queued, as many as the window has room for; `open` turns
    /// false once the queue is closed and empty.
    async fn publish_waiting(&mut self, inbox: &mut SinkInbox, open: &mut bool) -> Option<Failure> {
        while self.in_flight.len() < ACK_WINDOW {
            // Closed before an empty look means nothing more can come.
            let closed = inbox.events.is_closed();
            let Some(event) = inbox.events.try_recv() else {
                *open = !closed;
                return None;
            };
            if let Err(failure) = self.publish(event).await {
                return Some(failure);
            }
        }
        None
    }

    /// Publish `event` and put it in the window; on failure it is in the window too (with an
    /// acknowledgement that fails at once), so that `recover` sends it in its place.
    async fn publish(&mut self, event: Event) -> Result<(), Failure> {
        let subject = self.subjects.of(&event.kind);
        match self.jetstream.publish(subject, event.body.clone()).await {
            Ok(ack) => {
                self.in_flight.push_back((event, ack.into_future()));
                Ok(())
            }
            Err(error) => {
                let failure = Failure::of(&error);
                self.in_flight.push_back((event, Box::pin(std::future::ready(Err(error)))));
                Err(failure)
            }
        }
    }

    /// The oldest event in flight failed: wait, then publish it and every later one again, in
    /// order. Tries while NATS is down do not count: those events wait for the connection.
    async fn recover(&mut self, failure: Failure, tries: &mut u32, sink: &str, stats: &SinkStats) {
        let was_connected = crate::nats::client_state(&self.client).is_connected();
        if was_connected {
            *tries += 1;
        }
        if failure.hopeless || *tries >= MAX_TRIES {
            if let Some((event, _)) = self.in_flight.pop_front() {
                stats.gave_up(1);
                tracing::warn!(
                    sink,
                    event = event.kind.name(),
                    tries = *tries,
                    error = %failure.error,
                    "JetStream did not acknowledge an event; given up"
                );
            }
            *tries = 0;
        } else {
            let level_warn = *tries == 1;
            if level_warn {
                tracing::warn!(
                    sink,
                    in_flight = self.in_flight.len(),
                    error = %failure.error,
                    "JetStream did not acknowledge an event; publishing it and the ones after it again"
                );
            } else {
                tracing::debug!(sink, tries = *tries, error = %failure.error, "JetStream retry");
            }
            tokio::time::sleep(backoff(*tries)).await;
        }
        connected(&self.client).await;
        if failure.no_stream {
            self.ensure_stream(sink).await;
        }
        let again: Vec<Event> = self.in_flight.drain(..).map(|(event, _)| event).collect();
        for event in again {
            let subject = self.subjects.of(&event.kind);
            let ack: AckFuture = match self.jetstream.publish(subject, event.body.clone()).await {
                Ok(ack) => ack.into_future(),
                Err(error) => Box::pin(std::future::ready(Err(error))),
            };
            self.in_flight.push_back((event, ack));
        }
    }

    /// Make sure the stream exists, creating it over `<prefix>.>` if it does not; say what was
    /// done. A failure is logged, not fatal: the acknowledgements say whether events are stored.
    /// (`&mut`: the window of boxed futures is `Send` but not `Sync`.)
    async fn ensure_stream(&mut self, sink: &str) {
        use async_nats::jetstream::context::GetStreamErrorKind;
        use async_nats::jetstream::ErrorCode;

        match self.jetstream.get_stream(&self.stream).await {
            Ok(stream) => {
                let info = stream.cached_info();
                let covered = info.config.subjects.iter().any(|s| covers(s, &self.stream_subjects));
                if covered {
                    tracing::info!(sink, stream = %self.stream, messages = info.state.messages, "events go into the existing JetStream stream");
                } else {
                    tracing::warn!(
                        sink,
                        stream = %self.stream,
                        subjects = ?info.config.subjects,
                        needed = %self.stream_subjects,
                        "the JetStream stream exists but does not take the events' subjects: add them to it, or name another `events.nats.stream`"
                    );
                }
            }
            Err(error) if matches!(error.kind(), GetStreamErrorKind::JetStream(e) if e.error_code() == ErrorCode::STREAM_NOT_FOUND) =>
            {
                let config = StreamConfig {
                    name: self.stream.clone(),
                    subjects: vec![self.stream_subjects.clone()],
                    storage: StorageType::File,
                    retention: RetentionPolicy::Limits,
                    ..StreamConfig::default()
                };
                match self.jetstream.create_stream(config).await {
                    Ok(_) => tracing::info!(
                        sink,
                        stream = %self.stream,
                        subjects = %self.stream_subjects,
                        "created the JetStream stream for events (file storage, limits retention)"
                    ),
                    Err(error) => tracing::error!(
                        sink,
                        stream = %self.stream,
                        %error,
                        "cannot create the JetStream stream for events: create it on the NATS side; events are published anyway and given up if not acknowledged"
                    ),
                }
            }
            Err(error) => tracing::error!(
                sink,
                stream = %self.stream,
                %error,
                "cannot look up the JetStream stream for events (is JetStream enabled on the server?); events are published anyway and given up if not acknowledged"
            ),
        }
    }
}

impl Failure {
    fn of(error: &async_nats::jetstream::context::PublishError) -> Failure {
        Failure {
            hopeless: matches!(error.kind(), PublishErrorKind::MaxPayloadExceeded),
            no_stream: matches!(error.kind(), PublishErrorKind::StreamNotFound),
            error: error.to_string(),
        }
    }
}

/// Whether the stream subject `filter` takes every subject under `wanted` (`rivr.events.>`).
fn covers(filter: &str, wanted: &str) -> bool {
    if filter == wanted || filter == ">" {
        return true;
    }
    let mut filter = filter.split('.');
    let mut wanted = wanted.split('.');
    loop {
        match (filter.next(), wanted.next()) {
            (Some(">"), Some(_)) => return true,
            (Some("*"), Some(w)) if w != ">" => {}
            (Some(f), Some(w)) if f == w && f != ">" => {}
            _ => return false,
        }
    }
}

/// The wait before try `tries + 1`: doubling from 200 ms up to 5 s.
fn backoff(tries: u32) -> Duration {
    BACKOFF_START.saturating_mul(1 << tries.saturating_sub(1).min(16)).min(BACKOFF_MAX)
}

/// Wait until the client is connected (at once when it is).
async fn connected(client: &Client) {
    while crate::nats::client_state(client) != NatsState::Connected {
        tokio::time::sleep(STATE_POLL).await;
    }
}

/// Each event type's subject, built once.
struct Subjects {
    prefix: String,
    rivr: [Subject; RivrEventType::ALL.len()],
    published: HashMap<Arc<str>, Subject>,
}

impl Subjects {
    fn new(prefix: &str) -> Subjects {
        Subjects {
            prefix: prefix.to_string(),
            rivr: RivrEventType::ALL.map(|kind| Subject::from(format!("{prefix}.{}", kind.as_str()))),
            published: HashMap::new(),
        }
    }

    /// The subject of events of `kind` (a reference-counted clone).
    fn of(&mut self, kind: &EventKind) -> Subject {
        match kind {
            EventKind::Rivr(kind) => {
                let index = RivrEventType::ALL.iter().position(|k| k == kind).expect("ALL lists every type");
                self.rivr[index].clone()
            }
            EventKind::Published(name) => {
                if let Some(subject) = self.published.get(name) {
                    return subject.clone();
                }
                let subject = Subject::from(format!("{}.{name}", self.prefix));
                if self.published.len() < MAX_CACHED_SUBJECTS {
                    self.published.insert(name.clone(), subject.clone());
                }
                subject
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_type_has_its_subject_under_the_prefix_built_once() {
        let mut subjects = Subjects::new("rivr.events");
        let ended = EventKind::Rivr(RivrEventType::CallEnded);
        assert_eq!(subjects.of(&ended).as_str(), "rivr.events.call.ended");
        let survey = EventKind::Published(Arc::from("survey.completed"));
        assert_eq!(subjects.of(&survey).as_str(), "rivr.events.survey.completed");
        assert_eq!(subjects.published.len(), 1);
        subjects.of(&survey);
        assert_eq!(subjects.published.len(), 1);
    }

    #[test]
    fn a_stream_covers_the_events_when_its_subjects_take_all_of_the_prefix() {
        for filter in ["rivr.events.>", "rivr.>", ">", "rivr.*.>", "*.events.>"] {
            assert!(covers(filter, "rivr.events.>"), "{filter}");
        }
        for filter in ["rivr.events.call.>", "rivr.events.*", "rivr.events", "other.>"] {
            assert!(!covers(filter, "rivr.events.>"), "{filter}");
        }
    }

    #[test]
    fn retries_back_off_from_200_ms_to_5_s() {
        assert_eq!(backoff(1), Duration::from_millis(200));
        assert_eq!(backoff(2), Duration::from_millis(400));
        assert_eq!(backoff(40), BACKOFF_MAX);
    }
}
