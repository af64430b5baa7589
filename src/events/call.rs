//! `CallEvents`: one call's events. It is the call's observer, so every verb the actor carries
//! out becomes a `call.verb` event as it completes; the runtime adds `call.started` and
//! `call.ended`. Each event carries its place in the call (`rivrseq`, from 1), so a consumer
//! reading several nodes' events can put each call's back in order.
//!
//! A verb's summary and script position are noted when the verb starts, from the command the
//! observer is lent, into text the call keeps reusing; the event is written in one go when the
//! outcome is known, so events are written whole, one after another, into the thread's arena
//! ([`super::arena`]), and nothing of the command is kept.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::call::transcript::Described;
use crate::call::{
    CallError, CallInfo, CallObserver, Command, HangupCause, Origin, Outcome, Publication, Publisher,
};
use crate::config::RivrEventType;
use crate::ops::calls::CallEnding;
use crate::script::runner::{CallReport, Ending};

use super::envelope::{DataWriter, Envelope, Id};
use super::{Event, EventBus, EventKind};

/// Room for a verb event without growing: the envelope is ~330 bytes.
const VERB_EVENT_CAPACITY: usize = 640;

/// The verb under way, noted when it started.
#[derive(Default)]
struct PendingVerb {
    /// The verb's name; `None` once its event is sent (or when no event is wanted).
    verb: Option<&'static str>,
    /// Its summary, and where in the script it was asked for: text reused verb after verb.
    summary: String,
    at: String,
    /// A `sensitive` ask: its digits must stay out of the event.
    sensitive: bool,
}

/// One call's events.
pub struct CallEvents {
    bus: Arc<EventBus>,
    uuid: String,
    route: String,
    started: Instant,
    sequence: AtomicU64,
    verbs: AtomicU64,
    /// The verb started and not yet finished.
    pending: Mutex<PendingVerb>,
}

impl CallEvents {
    /// The events of the call `info` running `script` at `version`, when the bus sends any;
    /// emits `call.started`.
    pub fn begin(
        bus: &Arc<EventBus>,
        info: &CallInfo,
        script: &str,
        version: &str,
    ) -> Option<Arc<CallEvents>> {
        if !bus.is_active() {
            return None;
        }
        let events = Arc::new(CallEvents::of(bus, info));
        if let Some(mut data) = events.begin_event(RivrEventType::CallStarted, 768) {
            data.field("route", &events.route)
                .field("script", script)
                .field("version", version)
                .field("caller_id_number", &info.caller_id_number)
                .field("caller_id_name", &info.caller_id_name)
                .field("destination", &info.destination)
                .field("context", &info.context);
            data.object("variables");
            for name in &bus.config().variables {
                if let Some(value) = info.variables.get(name) {
                    data.field(name, value);
                }
            }
            data.end_object();
            events.send(RivrEventType::CallStarted, data);
        }
        Some(events)
    }

    /// Emit the one event of a call rivr refused before any script ran (`max_calls`, draining,
    /// no route): `call.ended` with how it was refused and the cause it was hung up with.
    pub fn rejected(bus: &Arc<EventBus>, info: &CallInfo, ending: CallEnding, cause: &HangupCause) {
        if !bus.is_active() {
            return;
        }
        let events = CallEvents::of(bus, info);
        let Some(mut data) = events.begin_event(RivrEventType::CallEnded, 512) else { return };
        data.field("ending", ending.as_str())
            .field("cause", cause.as_str())
            .field("caller_id_number", &info.caller_id_number)
            .field("destination", &info.destination)
            .field("duration_ms", &0u64)
            .field("verbs", &0u64);
        events.send(RivrEventType::CallEnded, data);
    }

    /// Emit `call.ended` from the call's report (`None`: the fallback ran instead of a script).
    pub fn finish(&self, ending: CallEnding, report: Option<&CallReport>) {
        let Some(mut data) = self.begin_event(RivrEventType::CallEnded, 640) else { return };
        data.field("ending", ending.as_str());
        if let Some(report) = report {
            if let Ending::HungUp { cause } = &report.ending {
                data.field("cause", cause.as_str());
            }
            data.field("script", &report.script);
            if let Ending::Failed(failure) = &report.ending {
                data.object("error")
                    .field("kind", failure.kind.as_str())
                    .field("message", &failure.message)
                    .field("file", &failure.source)
                    .field("line", &failure.line)
                    .field("column", &failure.column)
                    .end_object();
            }
        }
        data.field("duration_ms", &millis(self.started.elapsed()))
            .field("verbs", &self.verbs.load(Ordering::Relaxed));
        self.send(RivrEventType::CallEnded, data);
    }

    /// The call `info`'s events, none emitted yet.
    fn of(bus: &Arc<EventBus>, info: &CallInfo) -> CallEvents {
        CallEvents {
            bus: bus.clone(),
            uuid: info.uuid.clone(),
            route: info.route.clone().unwrap_or_default(),
            started: Instant::now(),
            sequence: AtomicU64::new(0),
            verbs: AtomicU64::new(0),
            pending: Mutex::new(PendingVerb::default()),
        }
    }

    /// The call's uuid.
    pub fn uuid(&self) -> &str {
        &self.uuid
    }

    /// The next place in the call's sequence, for an event the script publishes.
    pub fn next_sequence(&self) -> u64 {
        self.sequence.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// The bus the call's events go to.
    pub fn bus(&self) -> &Arc<EventBus> {
        &self.bus
    }

    fn begin_event(&self, kind: RivrEventType, capacity: usize) -> Option<DataWriter> {
        if !self.bus.sends(kind) {
            return None;
        }
        let sequence = self.next_sequence();
        let envelope = Envelope {
            id: Id::InCall(&self.uuid, sequence),
            source: self.bus.source(),
            kind: kind.as_str(),
            rivr_type: true,
            subject: Some(&self.uuid),
            sequence: Some(sequence),
        };
        Some(envelope.begin(capacity))
    }

    fn send(&self, kind: RivrEventType, data: DataWriter) {
        self.bus.emit(Event { kind: EventKind::Rivr(kind), body: data.finish() });
    }
}

impl CallObserver for CallEvents {
    fn verb_started(&self, command: &Command, origin: Option<&Origin>) {
        // A log line is the script talking to rivr's log, not to the call (and may say anything);
        // a publication is an event of its own.
        use std::fmt::Write as _;
        if matches!(command, Command::Log(_) | Command::Publish(_)) {
            return;
        }
        self.verbs.fetch_add(1, Ordering::Relaxed);
        if !self.bus.sends(RivrEventType::CallVerb) {
            return;
        }
        let mut pending = self.pending.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        pending.verb = Some(command.verb());
        pending.summary.clear();
        let _ = write!(pending.summary, "{}", Summary(command));
        pending.at.clear();
        if let Some(origin) = origin {
            let site = origin.site();
            let mut number = itoa::Buffer::new();
            pending.at.push_str(&site.source);
            pending.at.push(':');
            pending.at.push_str(number.format(site.line));
            pending.at.push(':');
            pending.at.push_str(number.format(site.column));
        }
        // A sensitive ask's digits never leave the call; its outcome says only how many.
        pending.sensitive = matches!(command, Command::Ask(ask) if ask.sensitive);
    }

    fn verb_finished(&self, result: &Result<Outcome, CallError>, switch_time: Duration) {
        let mut pending = self.pending.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let Some(verb) = pending.verb.take() else { return };
        let Some(mut data) = self.begin_event(RivrEventType::CallVerb, VERB_EVENT_CAPACITY) else { return };
        data.field("verb", verb).field("summary", &pending.summary);
        if !pending.at.is_empty() {
            data.field("at", &pending.at);
        }
        data.field("switch_ms", &millis(switch_time));
        write_outcome(&mut data, result, pending.sensitive);
        drop(pending);
        self.send(RivrEventType::CallVerb, data);
    }
}

impl Publisher for CallEvents {
    /// Check the type against `events.publish` and queue the event on every sink.
    fn publish(&self, publication: &Publication) -> Result<(), CallError> {
        self.bus.check_publishable(publication)?;
        let sequence = self.next_sequence();
        let envelope = Envelope {
            id: Id::InCall(&self.uuid, sequence),
            source: self.bus.source(),
            kind: publication.kind.as_str(),
            rivr_type: false,
            subject: Some(&self.uuid),
            sequence: Some(sequence),
        };
        let mut data = envelope.begin(512);
        if let serde_json::Value::Object(fields) = &publication.data {
            for (key, value) in fields {
                data.field(key, value);
            }
        }
        let kind = EventKind::Published(Arc::from(publication.kind.as_str()));
        self.bus.emit(Event { kind, body: data.finish() });
        Ok(())
    }
}

/// A verb's arguments in short: the transcript's line, cut at 200 characters (a `say` can be
/// long, and a summary is for people and dashboards, not for replay).
struct Summary<'a>(&'a Command);

impl std::fmt::Display for Summary<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use std::fmt::Write;
        // Writes through, counting characters, and stops at the limit.
        struct Cut<'a, 'b> {
            out: &'a mut std::fmt::Formatter<'b>,
            left: usize,
        }
        impl Write for Cut<'_, '_> {
            fn write_str(&mut self, s: &str) -> std::fmt::Result {
                // A piece with no more bytes than the characters left has no more characters.
                if s.len() <= self.left {
                    self.left -= s.chars().count();
                    return self.out.write_str(s);
                }
                for c in s.chars() {
                    if self.left == 0 {
                        return Ok(());
                    }
                    self.left -= 1;
                    self.out.write_char(c)?;
                }
                Ok(())
            }
        }
        let command = match self.0 {
            // The digits `send_dtmf` sends can be a PIN: a summary never carries them.
            Command::SendDtmf(_) => return f.write_str("send_dtmf"),
            // A variable's value can be a secret.
            Command::SetVar { name, .. } => return write!(f, "set_var: {name}"),
            command => command,
        };
        write!(Cut { out: f, left: 200 }, "{}", Described(command))
    }
}

/// The outcome part of a verb event.
fn write_outcome(data: &mut DataWriter, result: &Result<Outcome, CallError>, sensitive: bool) {
    match result {
        Ok(Outcome::Ask(ask)) => {
            data.field("outcome", ask.status.as_str());
            if sensitive {
                data.field("digit_count", &ask.digits.chars().count());
            } else {
                data.field("digits", &ask.digits);
            }
        }
        Ok(Outcome::Dial(dial)) => {
            data.field("outcome", dial.status.as_str())
                .field("cause", dial.cause.as_str())
                .field("talk_ms", &millis(dial.duration))
                .field_opt("answered_by", dial.answered_by.as_deref());
        }
        Ok(Outcome::Record(record)) => {
            data.field("outcome", record.status.as_str())
                .field("path", &record.path)
                .field("recorded_ms", &millis(record.duration));
        }
        Ok(Outcome::Http(response)) => {
            data.field("outcome", "done").field("http_status", &response.status);
        }
        // Variables' values and switch responses can hold anything: not carried.
        Ok(Outcome::Done | Outcome::Value(_) | Outcome::Response(_)) => {
            data.field("outcome", "done");
        }
        Err(CallError::Hangup { cause }) => {
            data.field("outcome", "hung_up").field("cause", cause.as_str());
        }
        Err(CallError::Transferred) => {
            data.field("outcome", "transferred");
        }
        Err(error) => {
            data.field("outcome", "error").field("error", &format_args!("{error}"));
        }
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::call::{AskOptions, AskOutcome, AskStatus, EventName, HangupCause};
    use crate::config::Config;
    use crate::events::sink::{self, SinkInbox};

    fn call_events(yaml: &str) -> (Arc<CallEvents>, SinkInbox) {
        let config = Config::parse(yaml, "rivr.yaml").expect("valid");
        let (queue, inbox) = sink::queue("test", "webhook", 64);
        let bus = Arc::new(EventBus::new(&config.events, vec![queue]));
        let mut info = CallInfo::new("u-1", "5551234", "4000");
        info.route = Some("sales".into());
        info.variables.insert("account".into(), "A-17".into());
        info.variables.insert("sip_auth_password".into(), "secret".into());
        (CallEvents::begin(&bus, &info, "main.rhai", "4642d536").expect("a sink"), inbox)
    }

    fn next(inbox: &mut SinkInbox) -> serde_json::Value {
        serde_json::from_slice(&inbox.events.try_recv().expect("an event").body).expect("JSON")
    }

    fn ask(sensitive: bool) -> Command {
        Command::Ask(AskOptions { prompts: vec!["ivr/pin.wav".into()], sensitive, ..AskOptions::default() })
    }

    fn answered(digits: &str) -> Result<Outcome, CallError> {
        Ok(Outcome::Ask(AskOutcome {
            status: AskStatus::Match,
            digits: digits.into(),
            terminator: None,
            keys: Vec::new(),
        }))
    }

    #[test]
    fn a_call_emits_started_then_each_verb_then_ended_numbered_in_order() {
        let (events, mut inbox) = call_events("events:\n  variables: [account]\n");
        events.verb_started(&ask(false), None);
        events.verb_finished(&answered("2"), Duration::from_millis(1500));
        events.verb_started(&Command::Hangup(HangupCause::normal()), None);
        events.verb_finished(&Ok(Outcome::Done), Duration::from_millis(3));
        events.finish(CallEnding::Completed, None);

        let started = next(&mut inbox);
        assert_eq!(started["type"], "dev.rivr.call.started");
        assert_eq!(started["data"]["variables"], serde_json::json!({"account": "A-17"}), "only allowlisted");
        assert_eq!(started["data"]["route"], "sales");
        let verb = next(&mut inbox);
        assert_eq!(verb["data"]["verb"], "ask");
        assert_eq!(verb["data"]["outcome"], "match");
        assert_eq!(verb["data"]["digits"], "2");
        assert_eq!(verb["data"]["switch_ms"], 1500);
        assert_eq!(verb["data"]["summary"], "ask: ivr/pin.wav");
        let hangup = next(&mut inbox);
        let ended = next(&mut inbox);
        assert_eq!(ended["data"]["ending"], "completed");
        assert_eq!(ended["data"]["verbs"], 2);
        let sequence: Vec<_> =
            [&started, &verb, &hangup, &ended].iter().map(|e| e["rivrseq"].clone()).collect();
        assert_eq!(sequence, [1, 2, 3, 4]);
        assert_eq!(ended["id"], "u-1-4");
        assert!([&started, &verb, &hangup, &ended].iter().all(|e| e["subject"] == "u-1"));
    }

    #[test]
    fn a_sensitive_asks_digits_and_a_secret_variable_never_reach_an_event() {
        let (events, mut inbox) = call_events("events:\n  types: [call.verb]\n");
        events.verb_started(&ask(true), None);
        events.verb_finished(&answered("4711"), Duration::from_millis(10));
        events.verb_started(&Command::SendDtmf(crate::call::DtmfTones::parse("1234").expect("keys")), None);
        events.verb_finished(&Ok(Outcome::Done), Duration::from_millis(10));
        let masked = next(&mut inbox);
        assert_eq!(masked["data"]["digit_count"], 4);
        let sent = next(&mut inbox);
        assert_eq!(sent["data"]["summary"], "send_dtmf");
        let text = format!("{masked}{sent}");
        assert!(!text.contains("4711") && !text.contains("1234") && !text.contains("secret"), "{text}");
    }

    #[test]
    fn a_verb_event_says_where_the_script_asked_for_it_or_for_the_stdlib_call_it_ran_inside() {
        let (events, mut inbox) = call_events("events:\n  types: [call.verb]\n");
        let at = |line, column, within| Origin { source: "main.rhai".into(), line, column, within };
        let menu = crate::call::Site { function: "menu", at: at(12, 5, None), keys: vec!["1".into()] };
        for (origin, expected) in
            [(at(4, 9, None), "main.rhai:4:9"), (at(30, 1, Some(Arc::new(menu))), "main.rhai:12:5")]
        {
            events.verb_started(&Command::Answer, Some(&origin));
            events.verb_finished(&Ok(Outcome::Done), Duration::from_millis(1));
            assert_eq!(next(&mut inbox)["data"]["at"], expected);
        }
        events.verb_started(&Command::Answer, None);
        events.verb_finished(&Ok(Outcome::Done), Duration::from_millis(1));
        assert!(next(&mut inbox)["data"].get("at").is_none(), "no position, no field");
    }

    #[test]
    fn a_long_summary_is_cut_at_200_characters_however_many_bytes_they_take() {
        let (events, mut inbox) = call_events("events:\n  types: [call.verb]\n");
        for text in ["é".repeat(300), "a".repeat(300), "a".repeat(150)] {
            let say = crate::call::SayOptions { text: text.clone(), voice: None, engine: None };
            events.verb_started(&Command::Say(say), None);
            events.verb_finished(&Ok(Outcome::Done), Duration::from_millis(10));
            let summary = next(&mut inbox)["data"]["summary"].as_str().expect("a summary").to_string();
            let whole = format!("say: {text:?}");
            let expected: String = whole.chars().take(200).collect();
            assert_eq!(summary, expected, "{} characters of {}", summary.chars().count(), text.len());
        }
    }

    #[test]
    fn a_script_publishes_only_allowed_types_in_the_calls_sequence() {
        let (events, mut inbox) = call_events("events:\n  types: [call.ended]\n  publish: [\"survey.*\"]\n");
        let publication = |name: &str| Publication {
            kind: EventName::parse(name).expect("a name"),
            data: serde_json::json!({"score": 5}),
        };
        events.publish(&publication("survey.completed")).expect("allowed");
        let refused = events.publish(&publication("order.placed")).expect_err("not allowed");
        assert!(refused.to_string().contains("events.publish"), "{refused}");
        let event = next(&mut inbox);
        assert_eq!(event["type"], "survey.completed");
        assert_eq!(event["data"], serde_json::json!({"score": 5}));
        assert_eq!(event["rivrseq"], 1, "numbers count the events sent, so a gap means a loss");
        assert!(inbox.events.try_recv().is_none());
    }
}
