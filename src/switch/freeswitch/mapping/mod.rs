//! The verb mapping: every [`Command`] as FreeSWITCH applications, and every application's
//! completion as an [`Outcome`]. Pure functions, no I/O.
//!
//! [`plan`] turns a command into a [`Plan`]: the applications to run one after another (each
//! one `sendmsg` with its own `Event-UUID`), which of them carries the result, and what that
//! result means ([`Expect`]). When the main application's `CHANNEL_EXECUTE_COMPLETE` arrives,
//! [`Expect::outcome`] reads the outcome from its headers and channel variables through the
//! [`Lookup`] abstraction, so it can be tested against captured events and hand-made maps alike.
//!
//! # One file per verb family
//!
//! Each family's file holds its plan, its outcome reader, the FreeSWITCH names it uses and its
//! tests, and is named like the script side (`script/api/<family>.rs`):
//!
//! | file | verbs | FreeSWITCH |
//! |---|---|---|
//! | [`control`] | `answer`, `pre_answer`, `ring`, `reject`, `hangup`, `transfer`, `sleep`, `send_dtmf`, `execute` | `answer`, `pre_answer`, `ring_ready`, `sendmsg hangup`, `transfer`, `sleep`, `send_dtmf`, any app |
//! | [`media`] | `play`, `say`, `say_*`, and prompts for every verb | `playback`, `speak`, `say` |
//! | [`input`] | `ask` | `play_and_get_digits` |
//! | [`dial`] | `dial` | `set`, `bridge` |
//! | [`record`] | `record` | `playback` (beep), `set`, `record` |
//! | [`vars`] | `get_var`, `set_var` | `api uuid_getvar` / `getvar`, `set` |
//!
//! Arguments are escaped for FreeSWITCH's parsers by [`super::escape`].
//!
//! This module knows nothing of Rhai or of sockets.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::call::{CallError, Command, KeyPress, Outcome};
use crate::switch::freeswitch::escape::protect;
use crate::switch::freeswitch::event::Event;
use crate::switch::freeswitch::protocol::VARIABLE_PREFIX;
use crate::switch::freeswitch::settings::FsSettings;

pub mod control;
pub mod dial;
pub mod input;
pub mod media;
pub mod record;
pub mod vars;

pub use dial::DialExpect;
pub use input::{AskExpect, ASK_VARIABLE};
pub use record::RecordExpect;

/// What the mapping needs to know about the call besides the command.
#[derive(Clone, Copy, Debug)]
pub struct MapContext<'a> {
    /// Engine, voice, recordings directory, language.
    pub settings: &'a FsSettings,
    /// The channel's `Unique-ID` (for `uuid_getvar`).
    pub uuid: &'a str,
    /// Channel variables as rivr last knew them (the `connect` data plus `set_var`s), so a
    /// variable a verb changes for its own use can be put back afterwards.
    pub variables: &'a BTreeMap<String, String>,
    /// The socket has `full` control (`socket ... async full`), so `api` commands are allowed.
    pub full_control: bool,
}

/// One thing to ask of FreeSWITCH.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Run an application on the channel (`sendmsg` with `call-command: execute`).
    App {
        /// Application name, e.g. `playback`.
        app: String,
        /// Its argument, already escaped for FreeSWITCH.
        arg: Option<String>,
    },
    /// Run an API command (`api <command>`); the result is the reply's body.
    Api(String),
    /// Read a channel variable with the outbound-only `getvar <name>`; the value is the
    /// reply's `Reply-Text`.
    GetVar(String),
    /// Hang the channel up (`sendmsg` with `call-command: hangup`); done when it is down.
    Hangup {
        /// The Q.850 cause name sent as `hangup-cause`.
        cause: String,
    },
}

impl Step {
    fn app(app: &str, arg: impl Into<String>) -> Self {
        Step::App { app: app.to_string(), arg: Some(arg.into()) }
    }

    fn bare(app: &str) -> Self {
        Step::App { app: app.to_string(), arg: None }
    }
}

/// The applications one command needs, run in order, each waited for.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    /// Steps in order.
    pub steps: Vec<Step>,
    /// Index of the step whose completion gives the outcome; steps after it restore what the
    /// steps before it changed.
    pub main: usize,
    /// How to read the outcome.
    pub expect: Expect,
}

impl Plan {
    fn single(step: Step, expect: Expect) -> Self {
        Plan { steps: vec![step], main: 0, expect }
    }
}

/// How to read the main step's completion.
#[derive(Clone, Debug, PartialEq)]
pub enum Expect {
    /// `play_and_get_digits`: digits, status and terminator from channel variables.
    Ask(AskExpect),
    /// `bridge`: status from `originate_disposition`, talk time from the bridge events.
    Dial(DialExpect),
    /// Any completion is `Outcome::Done`.
    Done,
    /// The step ends the call (a hangup): the channel's hangup is its success.
    EndsCall,
    /// `Application-Response` is `FILE PLAYED`, or the verb failed.
    Playback {
        /// What was played, for the error message.
        what: String,
    },
    /// `record`: length and terminator from channel variables.
    Record(RecordExpect),
    /// `execute`: `Outcome::Response(Application-Response)`.
    Response,
    /// `api uuid_getvar`: `Outcome::Value` from the reply body.
    Value,
}

/// Header lookup over a completion event: the codec's [`Event`], or a map in tests.
pub trait Lookup {
    /// The decoded value of header `name` (ASCII case ignored where the source allows).
    fn header(&self, name: &str) -> Option<&str>;

    /// Channel variable `name` (the header `variable_<name>`).
    fn variable(&self, name: &str) -> Option<&str>;
}

impl Lookup for Event {
    fn header(&self, name: &str) -> Option<&str> {
        Event::header(self, name)
    }

    fn variable(&self, name: &str) -> Option<&str> {
        Event::variable(self, name)
    }
}

impl Lookup for BTreeMap<String, String> {
    fn header(&self, name: &str) -> Option<&str> {
        self.get(name).map(String::as_str)
    }

    fn variable(&self, name: &str) -> Option<&str> {
        self.get(&format!("{VARIABLE_PREFIX}{name}")).map(String::as_str)
    }
}

/// What the channel saw while the main step ran, besides its completion.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Observed {
    /// DTMF keys FreeSWITCH reported (`DTMF` events), in order, each with when it came since
    /// the step was sent. FreeSWITCH sends the event as an application takes the key off the
    /// channel (`switch_channel_dequeue_dtmf`: in the outbound-pagd capture the DTMF event and
    /// the completion carry the same `Event-Date-Timestamp`), so this is when the collection
    /// took it; a key typed ahead comes as the step starts.
    pub keys: Vec<KeyPress>,
    /// `Event-Date-Timestamp` (µs) of the `CHANNEL_BRIDGE` event.
    pub bridged_at: Option<u64>,
    /// `Event-Date-Timestamp` (µs) of the `CHANNEL_UNBRIDGE` event.
    pub unbridged_at: Option<u64>,
}

/// How the main step finished.
#[derive(Clone, Copy)]
pub enum Finished<'a> {
    /// An application's `CHANNEL_EXECUTE_COMPLETE`.
    App(&'a dyn Lookup),
    /// An API command's reply body, or `getvar`'s reply text.
    Api(&'a str),
}

/// The applications that carry out `command` on the call described by `ctx`.
///
/// # Errors
/// `CallError::Invalid` or `CallError::Unsupported` when the command cannot be expressed
/// (a DTMF string with other keys, a dial option FreeSWITCH cannot carry, ...).
pub fn plan(command: &Command, ctx: &MapContext<'_>) -> Result<Plan, CallError> {
    match command {
        // The call actor carries out HTTP itself; it never reaches the switch.
        Command::Http(_) => Err(CallError::Unsupported {
            verb: command.verb(),
            reason: "HTTP requests are made by rivr, not by FreeSWITCH".into(),
        }),
        // The channel writes log lines itself; they never reach the switch.
        Command::Log(_) => Err(CallError::Internal { verb: "log", reason: "a log line has no plan".into() }),
        // The actor publishes events itself; they never reach the switch.
        Command::Publish(_) => {
            Err(CallError::Internal { verb: "publish", reason: "a publication has no plan".into() })
        }
        Command::Answer
        | Command::PreAnswer
        | Command::Ring
        | Command::Reject(_)
        | Command::Hangup(_)
        | Command::Transfer(_)
        | Command::SendDtmf(_)
        | Command::Sleep(_)
        | Command::Execute { .. } => control::plan(command),
        Command::Play(prompts) => media::play(prompts, ctx.settings),
        Command::Say(options) => media::say(options, ctx.settings),
        Command::SayAs(say) => media::say_as(say, ctx.settings),
        Command::Ask(options) => Ok(input::plan(options, ctx.settings)),
        Command::Dial(options) => dial::plan(options, ctx),
        Command::Record(options) => Ok(record::plan(options, ctx)),
        Command::GetVar(name) => vars::get(name, ctx),
        Command::SetVar { name, value } => vars::set_var(name, value),
    }
}

impl Expect {
    /// Read the outcome of the main step.
    ///
    /// # Errors
    /// `CallError::Switch` when FreeSWITCH reports that the verb failed (a missing file, a
    /// prompt that could not be played, an API error).
    pub fn outcome(
        &self,
        verb: &'static str,
        finished: Finished<'_>,
        observed: &Observed,
    ) -> Result<Outcome, CallError> {
        let event = match finished {
            Finished::Api(body) => return vars::value_outcome(verb, body),
            Finished::App(event) => event,
        };
        match self {
            Expect::Ask(ask) => input::outcome(ask, event, observed),
            Expect::Dial(dial) => Ok(Outcome::Dial(dial::outcome(dial, event, observed))),
            Expect::Done | Expect::EndsCall => Ok(Outcome::Done),
            Expect::Playback { what } => media::playback_outcome(verb, what, event),
            Expect::Record(record) => Ok(Outcome::Record(record::outcome(record, event))),
            Expect::Response => Ok(Outcome::Response(control::response(event))),
            Expect::Value => Err(CallError::Internal {
                verb,
                reason: "expected an API reply, got an application completion".into(),
            }),
        }
    }
}

impl Expect {
    /// What an operator must know when the call ended while the main step ran and the step
    /// itself is the likely reason (a `record` that could not open its file).
    pub fn hangup_hint(&self, cause: &str) -> Option<String> {
        match self {
            Expect::Record(record) => record::hangup_hint(record, cause),
            _ => None,
        }
    }
}

/// `set <name>=<value>`. `set` expands variables in the value once more after the core did
/// (`base_set` in `mod_dptools.c`), so the value is protected twice.
fn set(name: &str, value: &str) -> Step {
    Step::app(APP_SET, protect(&format!("{name}={}", protect(value))))
}

/// The channel variables verbs change for their own run and put back afterwards: all a channel
/// needs to remember of the call's variables (see [`restorable`]).
pub const RESTORED_VARIABLES: [&str; 2] = [dial::VAR_RINGBACK, record::VAR_PLAYBACK_TERMINATORS];

/// The part of a call's variables the mapping reads back ([`RESTORED_VARIABLES`]). A call
/// arrives with about a hundred variables; copying all of them into each call's channel cost
/// two hundred allocations for two lookups.
pub fn restorable(variables: &crate::call::Variables) -> BTreeMap<String, String> {
    RESTORED_VARIABLES
        .iter()
        .filter_map(|name| variables.get(name).map(|value| (name.to_string(), value.to_string())))
        .collect()
}

/// Put a variable back to what it was before a verb changed it.
fn restore(name: &str, variables: &BTreeMap<String, String>) -> Step {
    match variables.get(name) {
        Some(value) => set(name, value),
        None => Step::app(APP_UNSET, name),
    }
}

/// A duration as whole milliseconds, as FreeSWITCH's applications take them.
fn millis(duration: Duration) -> u64 {
    duration.as_millis().min(u128::from(u32::MAX)) as u64
}

/// `mod_dptools`' `set <name>=<value>`.
const APP_SET: &str = "set";
/// `mod_dptools`' `unset <name>`.
const APP_UNSET: &str = "unset";

/// Helpers the families' tests share.
#[cfg(test)]
mod test_support {
    use std::collections::BTreeMap;

    use super::{plan, MapContext, Plan, Step};
    use crate::call::Command;
    use crate::switch::freeswitch::settings::FsSettings;

    pub fn settings() -> FsSettings {
        FsSettings::default()
    }

    /// The plan of `command` on a `full` socket with no variables.
    pub fn plan_of(command: Command) -> Plan {
        let settings = settings();
        let variables = BTreeMap::new();
        let ctx = MapContext {
            settings: &settings,
            uuid: "54a68d40-0ec8-4658-b126-577f3a9d53de",
            variables: &variables,
            full_control: true,
        };
        plan(&command, &ctx).expect("maps")
    }

    /// Each step as the application line a dialplan would show.
    pub fn apps(plan: &Plan) -> Vec<String> {
        plan.steps
            .iter()
            .map(|step| match step {
                Step::App { app, arg: Some(arg) } => format!("{app} {arg}"),
                Step::App { app, arg: None } => app.clone(),
                Step::Api(command) => format!("api {command}"),
                Step::GetVar(name) => format!("getvar {name}"),
                Step::Hangup { cause } => format!("sendmsg hangup {cause}"),
            })
            .collect()
    }

    /// One run of `app` in an outbound capture, as the channel sees it: its argument, its
    /// completion, and the DTMF and bridge events between its start and its completion.
    pub struct CapturedRun {
        pub arg: String,
        pub completion: crate::switch::freeswitch::event::Event,
        pub observed: super::Observed,
    }

    /// Every run of `app` in `tests/fixtures/esl/<capture>.fs2app.raw`, in order.
    pub fn captured_runs(capture: &str, app: &str) -> Vec<CapturedRun> {
        use bytes::BytesMut;

        use crate::switch::freeswitch::event::Event;
        use crate::switch::freeswitch::frame::FrameDecoder;

        let path = format!("{}/tests/fixtures/esl/{capture}.fs2app.raw", env!("CARGO_MANIFEST_DIR"));
        let bytes = std::fs::read(&path).expect("fixture");
        let mut buf = BytesMut::from(&bytes[..]);
        let mut decoder = FrameDecoder::new();
        let mut runs = Vec::new();
        let mut running: Option<(String, super::Observed)> = None;
        while let Some(frame) = decoder.decode(&mut buf).expect("captures decode") {
            let Ok(event) = Event::from_frame(&frame) else { continue };
            let at = event.header("Event-Date-Timestamp").and_then(|t| t.parse().ok());
            match (event.name(), running.as_mut()) {
                (Some("CHANNEL_EXECUTE"), None) if event.header("Application") == Some(app) => {
                    let arg = event.header("Application-Data").unwrap_or_default().to_string();
                    running = Some((arg, super::Observed::default()));
                }
                (Some("CHANNEL_BRIDGE"), Some((_, observed))) => observed.bridged_at = at,
                (Some("CHANNEL_UNBRIDGE"), Some((_, observed))) => observed.unbridged_at = at,
                (Some("DTMF"), Some((_, observed))) => {
                    let key = event.header("DTMF-Digit").and_then(|d| d.chars().next());
                    observed
                        .keys
                        .extend(key.map(|key| super::KeyPress { key, at: std::time::Duration::ZERO }))
                }
                (Some("CHANNEL_EXECUTE_COMPLETE"), Some(_)) if event.header("Application") == Some(app) => {
                    let (arg, observed) = running.take().expect("a run started");
                    runs.push(CapturedRun { arg, completion: event, observed });
                }
                _ => {}
            }
        }
        runs
    }

    /// A completion event from header pairs.
    pub fn event(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }
}
