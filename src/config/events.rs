//! `events:`: which call and script events `rivr run` sends out, what they may carry, what
//! scripts may publish, and the sinks they go to (see `crate::events` for the events themselves).

use std::num::{NonZeroU64, NonZeroUsize};

use serde::Deserialize;

use super::position::Positioned;
use super::secret::Secret;

/// Events out (`rivr run` only; nothing is sent without a sink). Takes effect on restart.
///
/// ```yaml
/// events:
///   source: rivr://node-a           # CloudEvents `source`; default rivr://<host name>
///   types: [call.started, call.ended]   # default: all of rivr's own
///   variables: [account, campaign]  # channel variables `call.started` carries; default none
///   publish: ["survey.*"]           # what scripts may `publish`; default nothing
///   webhooks:
///     - url: https://crm.example.com/rivr/events
///       secret: ${CRM_WEBHOOK_SECRET}   # HMAC-SHA256 signature header
///       batch: 20
///   nats:                           # over the `nats:` connection
///     subject_prefix: rivr.events
///     jetstream: true
/// ```
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct Events {
    /// The events' CloudEvents `source`: this node. Default `rivr://` and the host name.
    pub source: Option<Positioned<String>>,
    /// rivr's own event types sent out. Default: all of them. Scripts' events are governed by
    /// `publish`.
    pub types: Option<Vec<RivrEventType>>,
    /// Channel variables `call.started` carries (an allowlist). Default none: channel variables
    /// can hold secrets.
    pub variables: Vec<String>,
    /// Event types scripts may send with `publish(type, data)`: exact names
    /// (`survey.completed`) or prefixes ending in `.*` (`survey.*`). Default none.
    pub publish: Vec<Positioned<String>>,
    /// HTTP receivers, each sent every event.
    pub webhooks: Vec<Webhook>,
    /// NATS subjects (and JetStream), over the connection in `nats:`.
    pub nats: Option<NatsSink>,
}

impl Events {
    /// Whether any sink is configured: without one, no event is built.
    pub fn has_sinks(&self) -> bool {
        !self.webhooks.is_empty() || self.nats.is_some()
    }

    /// Whether rivr's own events of `kind` go out.
    pub fn sends(&self, kind: RivrEventType) -> bool {
        self.types.as_ref().is_none_or(|types| types.contains(&kind))
    }

    /// Whether a script may publish an event of type `name`.
    pub fn allows_publishing(&self, name: &str) -> bool {
        self.publish.iter().any(|pattern| publish_pattern_matches(pattern, name))
    }
}

/// Whether the `publish` allowlist entry `pattern` admits the event type `name`.
fn publish_pattern_matches(pattern: &str, name: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => name.len() > prefix.len() && name.starts_with(prefix),
        None => pattern == name,
    }
}

/// rivr's own event types.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq, Hash)]
pub enum RivrEventType {
    /// A call was routed and its script starts.
    #[serde(rename = "call.started")]
    CallStarted,
    /// A verb of a call completed.
    #[serde(rename = "call.verb")]
    CallVerb,
    /// A call ended.
    #[serde(rename = "call.ended")]
    CallEnded,
    /// A script changed on disk and its new version serves new calls.
    #[serde(rename = "script.reloaded")]
    ScriptReloaded,
    /// A script changed on disk and does not compile.
    #[serde(rename = "script.failed")]
    ScriptFailed,
}

impl RivrEventType {
    /// Every type, in the order the README lists them.
    pub const ALL: [RivrEventType; 5] = [
        RivrEventType::CallStarted,
        RivrEventType::CallVerb,
        RivrEventType::CallEnded,
        RivrEventType::ScriptReloaded,
        RivrEventType::ScriptFailed,
    ];

    /// The name as `events.types` and subjects spell it: `call.started`.
    pub fn as_str(self) -> &'static str {
        match self {
            RivrEventType::CallStarted => "call.started",
            RivrEventType::CallVerb => "call.verb",
            RivrEventType::CallEnded => "call.ended",
            RivrEventType::ScriptReloaded => "script.reloaded",
            RivrEventType::ScriptFailed => "script.failed",
        }
    }
}

/// An HTTP receiver of events.
///
/// Each POST carries one event (`Content-Type: application/cloudevents+json`) or, with
/// `batch` above 1, up to that many (`application/cloudevents-batch+json`, a JSON array).
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Webhook {
    /// The name in logs and metrics. Default: the URL's host.
    pub name: Option<String>,
    /// Where to POST: `https://…` or `http://…`. `${ENV}` references are replaced.
    pub url: Positioned<String>,
    /// Key of the `X-Rivr-Signature: sha256=<hex>` header, an HMAC-SHA256 of the body, so the
    /// receiver can tell the events came from rivr. Write `${…}` to keep it out of the file.
    /// Default: no signature.
    pub secret: Option<Secret>,
    /// Longest one POST may take, in milliseconds. Default 5000.
    #[serde(default = "default_webhook_timeout_ms")]
    pub timeout_ms: NonZeroU64,
    /// Most events in one POST. Default 1.
    #[serde(default = "default_batch")]
    pub batch: NonZeroUsize,
    /// Tries after the first failed one, waiting `backoff_ms` before the first and twice as long
    /// before each next (up to 30 s); then the events are given up and counted. Default 5.
    #[serde(default = "default_retries")]
    pub retries: u32,
    /// The first wait before a retry, in milliseconds. Default 200.
    #[serde(default = "default_backoff_ms")]
    pub backoff_ms: NonZeroU64,
    /// Events waiting to be sent; when full, new ones are dropped and counted, never waited
    /// for. Default 10000.
    #[serde(default = "default_queue", deserialize_with = "super::de::event_queue")]
    pub queue: NonZeroUsize,
}

impl Webhook {
    /// The name in logs and metrics: `name`, or the URL's host.
    pub fn display_name(&self) -> String {
        if let Some(name) = &self.name {
            return name.clone();
        }
        let rest = self.url.split_once("://").map_or(self.url.as_str(), |(_, rest)| rest);
        rest.split(['/', '?', '#']).next().unwrap_or(rest).to_string()
    }

    /// The interpolation pass needs the secret's text.
    pub(crate) fn secret_mut(&mut self) -> Option<&mut Positioned<String>> {
        self.secret.as_mut().map(Secret::positioned_mut)
    }
}

/// Events to NATS: each on `<subject_prefix>.<type>` (`rivr.events.call.ended`).
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct NatsSink {
    /// The subjects' first tokens. Default `rivr.events`.
    pub subject_prefix: String,
    /// Publish through JetStream and wait for each acknowledgement (at-least-once delivery),
    /// into `stream`, which rivr creates over `<subject_prefix>.>` when it does not exist.
    /// Default false: core NATS, at-most-once.
    pub jetstream: bool,
    /// The JetStream stream. Default `RIVR_EVENTS`.
    pub stream: String,
    /// Events waiting to be published; when full, new ones are dropped and counted. Default
    /// 10000.
    #[serde(deserialize_with = "super::de::event_queue")]
    pub queue: NonZeroUsize,
}

impl Default for NatsSink {
    fn default() -> Self {
        NatsSink {
            subject_prefix: "rivr.events".into(),
            jetstream: false,
            stream: "RIVR_EVENTS".into(),
            queue: default_queue(),
        }
    }
}

fn default_webhook_timeout_ms() -> NonZeroU64 {
    NonZeroU64::new(5000).expect("non-zero")
}

fn default_batch() -> NonZeroUsize {
    NonZeroUsize::MIN
}

fn default_retries() -> u32 {
    5
}

fn default_backoff_ms() -> NonZeroU64 {
    NonZeroU64::new(200).expect("non-zero")
}

fn default_queue() -> NonZeroUsize {
    NonZeroUsize::new(10_000).expect("non-zero")
}

/// Whether `name` can be an event type a script publishes (see `call::EventName`).
pub fn is_publishable_type(name: &str) -> bool {
    crate::call::EventName::is_valid(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    #[test]
    fn no_sink_means_no_events_and_every_type_goes_out_unless_types_narrow_it() {
        let config = Config::default();
        assert!(!config.events.has_sinks());
        assert!(RivrEventType::ALL.iter().all(|kind| config.events.sends(*kind)));
        let yaml = "events:\n  types: [call.ended]\n  webhooks:\n    - url: https://crm.example.com/in\n";
        let config = Config::parse(yaml, "rivr.yaml").expect("valid");
        assert!(config.events.has_sinks());
        assert!(config.events.sends(RivrEventType::CallEnded));
        assert!(!config.events.sends(RivrEventType::CallVerb));
        assert_eq!(config.events.webhooks[0].display_name(), "crm.example.com");
        assert_eq!(config.events.webhooks[0].batch.get(), 1);
    }

    #[test]
    fn the_publish_allowlist_takes_exact_names_and_prefixes() {
        let yaml = "events:\n  publish: [\"survey.*\", order.placed]\n";
        let events = Config::parse(yaml, "rivr.yaml").expect("valid").events;
        assert!(events.allows_publishing("survey.completed"));
        assert!(events.allows_publishing("order.placed"));
        assert!(!events.allows_publishing("survey."));
        assert!(!events.allows_publishing("surveys.completed"));
        assert!(!events.allows_publishing("order.placed.twice"));
    }

    #[test]
    fn a_webhook_without_a_host_and_a_bad_publish_entry_are_errors_with_their_lines() {
        let yaml = "events:\n  publish: [\"survey..x\"]\n  webhooks:\n    - url: ftp://crm\n";
        let text = Config::parse(yaml, "rivr.yaml").expect_err("invalid").to_string();
        assert!(
            text.contains("rivr.yaml:2")
                && text.contains("not an event type: use dot-separated words of letters"),
            "{text}"
        );
        assert!(text.contains("rivr.yaml:4") && text.contains("with a host: write e.g. https://"), "{text}");
        assert!(!text.contains("  e.g."), "{text}");
    }

    #[test]
    fn a_sink_queue_larger_than_a_million_events_is_an_error_with_its_line() {
        let yaml = "nats:\n  url: nats://127.0.0.1:4222\nevents:\n  nats:\n    queue: 1000000\n  webhooks:\n    - url: https://crm.example.com/in\n      queue: 2000000\n";
        let text = Config::parse(yaml, "rivr.yaml").expect_err("too large").to_string();
        assert!(text.contains("rivr.yaml:8") && text.contains("at most 1000000 events"), "{text}");
        assert!(!text.contains("rivr.yaml:5"), "a million is allowed: {text}");
    }

    #[test]
    fn an_unknown_event_type_is_an_error_with_its_line() {
        let error = Config::parse("events:\n  types: [call.begun]\n", "rivr.yaml").expect_err("invalid");
        assert!(error.to_string().contains("rivr.yaml:2"), "{error}");
    }
}
