//! Events out of rivr: what happens on calls and to scripts, as CloudEvents, for the rest of a
//! company's systems (a CRM, a data team's pipeline), over webhooks and NATS.
//!
//! - [`envelope`]: an event's bytes, the CloudEvents 1.0 JSON envelope around rivr's data,
//!   written into the thread's [`arena`] and stamped by [`clock`].
//! - [`call`]: `CallEvents`, a call's observer: `call.started`, one `call.verb` per verb,
//!   `call.ended`, and the events the script publishes itself, numbered in order.
//! - [`sink`]: the bounded queue in front of each sink, and the counts of what became of events.
//! - [`webhook`] and [`nats`]: the sinks' delivery tasks.
//!
//! Each event is serialised once and the same bytes go to every sink. Emitting never waits: a
//! sink that cannot keep up drops (and counts) events instead of slowing a call.

pub mod arena;
pub mod call;
pub mod clock;
pub mod envelope;
pub mod nats;
pub mod sink;
pub mod webhook;

use std::sync::Arc;

use bytes::Bytes;

use crate::call::{CallError, Publication, Publisher};
use crate::config::{Events, RivrEventType};
use crate::script::Diagnostic;
use envelope::{Envelope, Id};
use sink::{SinkQueue, SinkReading};

pub use call::CallEvents;

/// An event ready to send: its type, for subjects and filters, and its bytes.
#[derive(Clone, Debug)]
pub struct Event {
    /// What kind of event.
    pub kind: EventKind,
    /// The CloudEvents JSON.
    pub body: Bytes,
}

/// An event's type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EventKind {
    /// One of rivr's own.
    Rivr(RivrEventType),
    /// One a script published (`publish("survey.completed", …)`).
    Published(Arc<str>),
}

impl EventKind {
    /// The type as subjects end in it: `call.ended`, `survey.completed`.
    pub fn name(&self) -> &str {
        match self {
            EventKind::Rivr(kind) => kind.as_str(),
            EventKind::Published(name) => name,
        }
    }
}

/// Where a node's events go: the configuration's filters and each sink's queue.
pub struct EventBus {
    source: String,
    config: Events,
    sinks: Vec<SinkQueue>,
}

impl EventBus {
    /// A bus for `config` sending to `sinks` (whose delivery tasks the caller started).
    pub fn new(config: &Events, sinks: Vec<SinkQueue>) -> Self {
        let source = match &config.source {
            Some(source) => source.as_str().to_string(),
            None => format!("rivr://{}", crate::host::host_name()),
        };
        EventBus { source, config: config.clone(), sinks }
    }

    /// The CloudEvents `source` of this node's events.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Whether any sink takes events: without one, nothing is built.
    pub fn is_active(&self) -> bool {
        !self.sinks.is_empty()
    }

    /// Whether rivr's own events of `kind` go out.
    pub fn sends(&self, kind: RivrEventType) -> bool {
        self.is_active() && self.config.sends(kind)
    }

    /// The configuration the bus was built from.
    pub fn config(&self) -> &Events {
        &self.config
    }

    /// Queue `event` on every sink, never waiting.
    pub fn emit(&self, event: Event) {
        if let Some((last, others)) = self.sinks.split_last() {
            for sink in others {
                sink.offer(event.clone());
            }
            last.offer(event);
        }
    }

    /// `script.reloaded`: `script` now serves new calls at `version`.
    pub fn script_reloaded(&self, script: &str, version: &str) {
        if !self.sends(RivrEventType::ScriptReloaded) {
            return;
        }
        let id = uuid::Uuid::new_v4();
        let mut data = self.envelope(&id, RivrEventType::ScriptReloaded, Some(script)).begin(384);
        data.field("script", script).field("version", version);
        self.emit(Event { kind: EventKind::Rivr(RivrEventType::ScriptReloaded), body: data.finish() });
    }

    /// `script.failed`: a changed script does not compile.
    pub fn script_failed(&self, problem: &Diagnostic) {
        if !self.sends(RivrEventType::ScriptFailed) {
            return;
        }
        let id = uuid::Uuid::new_v4();
        let mut data = self.envelope(&id, RivrEventType::ScriptFailed, Some(&problem.file)).begin(512);
        data.field("script", &problem.file)
            .field("error", &problem.message)
            .field("line", &problem.line)
            .field("column", &problem.column);
        self.emit(Event { kind: EventKind::Rivr(RivrEventType::ScriptFailed), body: data.finish() });
    }

    /// Whether a script may publish `publication` (`events.publish`).
    ///
    /// # Errors
    /// `CallError::Invalid` naming the setting to change, when the type is not allowed.
    pub fn check_publishable(&self, publication: &Publication) -> Result<(), CallError> {
        if self.config.allows_publishing(publication.kind.as_str()) {
            return Ok(());
        }
        Err(CallError::Invalid {
            verb: "publish",
            reason: format!(
                "event type `{}` is not allowed: add it (or a prefix such as `{}.*`) to `events.publish` in rivr.yaml",
                publication.kind,
                publication.kind.as_str().split('.').next().unwrap_or_default()
            ),
        })
    }

    /// The sinks' counts, for `/metrics`.
    pub fn readings(&self) -> Vec<SinkReading> {
        self.sinks.iter().map(SinkQueue::reading).collect()
    }

    fn envelope<'a>(
        &'a self,
        id: &'a uuid::Uuid,
        kind: RivrEventType,
        subject: Option<&'a str>,
    ) -> Envelope<'a> {
        Envelope {
            id: Id::Unique(id),
            source: &self.source,
            kind: kind.as_str(),
            rivr_type: true,
            subject,
            sequence: None,
        }
    }
}

/// A bus without a call's events (no sink takes any): it checks what scripts publish against
/// the configuration all the same, so a script behaves alike with and without sinks.
impl Publisher for EventBus {
    fn publish(&self, publication: &Publication) -> Result<(), CallError> {
        self.check_publishable(publication)
    }
}

impl std::fmt::Debug for EventBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventBus").field("source", &self.source).field("sinks", &self.sinks.len()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn bus(yaml: &str) -> (EventBus, sink::SinkInbox) {
        let config = Config::parse(yaml, "rivr.yaml").expect("valid");
        let (queue, inbox) = sink::queue("test", "webhook", 16);
        (EventBus::new(&config.events, vec![queue]), inbox)
    }

    #[test]
    fn script_events_name_the_script_and_its_version_or_its_error_position() {
        let (bus, mut inbox) = bus("events:\n  source: rivr://node-a\n");
        bus.script_reloaded("main.rhai", "4642d536");
        let problem =
            Diagnostic { file: "main.rhai".into(), line: 3, column: 7, message: "Expecting ';'".into() };
        bus.script_failed(&problem);
        let reloaded: serde_json::Value =
            serde_json::from_slice(&inbox.events.try_recv().expect("reloaded").body).expect("JSON");
        assert_eq!(reloaded["type"], "dev.rivr.script.reloaded");
        assert_eq!(reloaded["source"], "rivr://node-a");
        assert_eq!(reloaded["data"]["version"], "4642d536");
        let failed: serde_json::Value =
            serde_json::from_slice(&inbox.events.try_recv().expect("failed").body).expect("JSON");
        assert_eq!(failed["data"]["line"], 3);
        assert_eq!(failed["subject"], "main.rhai");
    }

    #[test]
    fn types_left_out_of_the_configuration_are_not_built() {
        let (bus, mut inbox) = bus("events:\n  types: [call.ended]\n");
        bus.script_reloaded("main.rhai", "1");
        assert!(inbox.events.try_recv().is_none());
        assert!(bus.source().starts_with("rivr://"));
    }
}
