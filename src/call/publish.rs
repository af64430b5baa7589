//! Events a script publishes itself (`publish("survey.completed", #{score: 5})`): the data that
//! crosses the seam and the `Publisher` boundary the call actor hands them to.
//!
//! A publication is a `Command::Publish` like any other verb, so the simulator, scenarios and
//! traces see it as data. The actor carries it out itself (the switch has nothing to do with
//! it) through the `Publisher` it was given: in `rivr run`, the node's event bus, which checks
//! the type against `events.publish` in rivr.yaml. This module knows nothing of sinks, NATS or
//! Rhai.

use std::fmt;

use crate::call::CallError;

/// The type of an event a script publishes: dot-separated words of ASCII letters, digits, `_`
/// and `-` (`survey.completed`), at most 100 characters, so that it is also a NATS subject's
/// tail; never in rivr's own `dev.rivr.` space.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct EventName(String);

/// The longest event type a script may publish.
pub const MAX_EVENT_NAME: usize = 100;

impl EventName {
    /// `name` as an event type, or why it cannot be one.
    ///
    /// # Errors
    /// When `name` is empty, too long, has a character other than letters, digits, `_`, `-`
    /// and single dots between words, or starts with `dev.rivr.`.
    pub fn parse(name: &str) -> Result<EventName, String> {
        if Self::is_valid(name) {
            Ok(EventName(name.to_string()))
        } else {
            Err(format!(
                "`{name}` is not an event type: use dot-separated words of letters, digits, `_` \
                 and `-` (`survey.completed`), at most {MAX_EVENT_NAME} characters, outside \
                 rivr's own `dev.rivr.`"
            ))
        }
    }

    /// Whether `name` can be an event type.
    pub fn is_valid(name: &str) -> bool {
        name.len() <= MAX_EVENT_NAME
            && !name.starts_with("dev.rivr.")
            && name.split('.').all(|word| {
                !word.is_empty() && word.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
            })
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for EventName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One event from a script.
#[derive(Clone, Debug, PartialEq)]
pub struct Publication {
    /// Its type.
    pub kind: EventName,
    /// Its data, as the script built it (a map, converted to JSON).
    pub data: serde_json::Value,
}

/// Sends a call's publications on. Called on the call's task: it must not wait (a sink that
/// cannot keep up drops the event, counted, rather than slow the call).
pub trait Publisher: Send + Sync {
    /// Send `publication`, or say why a script may not publish it (a type not allowed by the
    /// configuration is the script author's mistake: `CallError::Invalid`).
    fn publish(&self, publication: &Publication) -> Result<(), CallError>;
}

/// Publishes nothing and refuses nothing: for calls whose events go nowhere (the simulator,
/// scenarios), where the transcript shows what was published.
#[derive(Clone, Copy, Debug, Default)]
pub struct Unpublished;

impl Publisher for Unpublished {
    fn publish(&self, _publication: &Publication) -> Result<(), CallError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_names_are_subject_safe_words_outside_rivrs_own_space() {
        assert!(EventName::parse("survey.completed").is_ok());
        assert!(EventName::parse("order_v2.placed-late").is_ok());
        for bad in ["", "survey..done", "survey.*", "a b", "rivr>x", "dev.rivr.call.ended", &"x".repeat(101)]
        {
            let error = EventName::parse(bad).expect_err(bad);
            assert!(error.contains("not an event type"), "{error}");
        }
    }
}
