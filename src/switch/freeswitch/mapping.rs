//! The verb mapping: every [`Command`] as FreeSWITCH applications, and every application's
//! completion as an [`Outcome`]. Pure functions, no I/O.
//!
//! [`plan`] turns a command into a [`Plan`]: the applications to run one after another (each
//! one `sendmsg` with its own `Event-UUID`), which of them carries the result, and what that
//! result means ([`Expect`]). When the main application's `CHANNEL_EXECUTE_COMPLETE` arrives,
//! [`Expect::outcome`] reads the outcome from its headers and channel variables through the
//! [`Lookup`] abstraction, so it can be tested against captured events and hand-made maps alike.
//!
//! # Arguments pass three parsers
//!
//! FreeSWITCH reads an application argument in layers, and a value that is not escaped for each
//! layer is silently changed:
//!
//! 1. The core expands channel variables in every argument (`switch_core_session.c`,
//!    `switch_core_session_execute_application_get_flags`) when it holds `${` or a backslash
//!    escape: `${var}` is replaced and `${api(arg)}` *runs an API command*. Text that rivr
//!    passes on (TTS text, variable values, caller ids) goes through `protect` so it arrives
//!    literally. Dial targets and `execute` arguments stay expandable, as in a dialplan.
//! 2. The application splits its argument (`switch_separate_string`, `switch_utils.c`): on
//!    blanks for `play_and_get_digits`, `record` and `say`; on `!` inside `file_string://`; on
//!    `|` for `tts://`; on `,` and `=` inside `{...}` of a dial string. Each split honours `'`
//!    quotes and backslash escapes and strips quotes: `escape_word` and `escape_item` undo
//!    exactly that.
//! 3. `speak` takes its text verbatim after the second `|` (`mod_dptools.c`, `speak_function`),
//!    so it needs layer 1 only.
//!
//! # `say:` prompts
//!
//! A prompt `say:<text>` is text to speech. FreeSWITCH's own `say:` file syntax needs the
//! channel variable `tts_engine` (`switch_ivr_play_file`) and is not understood inside
//! `file_string://` (each part is opened with `switch_core_file_open`), so the mapping writes it
//! as `tts://<engine>|<voice>|<text>` (`mod_dptools`' `tts` file format), with the engine and
//! voice of [`FsSettings`]. That works alone, in lists, in `ask` and in dial confirmations.
//!
//! This module knows nothing of Rhai or of sockets.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::time::Duration;

use crate::call::{
    AskOptions, AskOutcome, AskStatus, CallError, Command, DialOptions, DialOutcome, DialStatus, Outcome,
    Prompt, RecordOptions, RecordOutcome, RecordStatus, SayAs, SayKind, SayOptions, TransferOptions,
    SAY_PROMPT_PREFIX,
};
use crate::switch::freeswitch::event::Event;
use crate::switch::freeswitch::settings::FsSettings;

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

/// What `ask` needs to read its outcome.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AskExpect {
    /// The variable `play_and_get_digits` stores the digits in.
    pub variable: String,
    /// The script's `max_digits`.
    pub max_digits: u32,
    /// The script's terminator keys.
    pub terminators: String,
}

/// What `dial` needs to read its outcome.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DialExpect {
    /// The targets, in the order they were given (leg numbers index this list).
    pub targets: Vec<String>,
}

/// What `record` needs to read its outcome.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordExpect {
    /// Where FreeSWITCH writes the file.
    pub path: String,
    /// The silence that ends the recording; zero when silence detection is off.
    pub silence: Duration,
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
        self.get(&format!("{VARIABLE_HEADER_PREFIX}{name}")).map(String::as_str)
    }
}

/// What the channel saw while the main step ran, besides its completion.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Observed {
    /// DTMF keys FreeSWITCH reported (`DTMF` events), in order.
    pub dtmf: String,
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
/// `CallError::Failed` or `CallError::Unsupported` when the command cannot be expressed
/// (a DTMF string with other keys, a dial option FreeSWITCH cannot carry, ...).
pub fn plan(command: &Command, ctx: &MapContext<'_>) -> Result<Plan, CallError> {
    let settings = ctx.settings;
    let plan = match command {
        // The call actor carries out HTTP itself; it never reaches the switch.
        Command::Http(_) => {
            return Err(CallError::Unsupported {
                verb: command.verb(),
                reason: "HTTP requests are made by rivr, not by FreeSWITCH".into(),
            })
        }
        Command::Answer => Plan::single(Step::bare(APP_ANSWER), Expect::Done),
        Command::PreAnswer => Plan::single(Step::bare(APP_PRE_ANSWER), Expect::Done),
        Command::Ring => Plan::single(Step::bare(APP_RING_READY), Expect::Done),
        // `sendmsg` `call-command: hangup`, exactly as every outbound capture ends a call.
        // Reject is a hangup too, rather than `respond <code>`: `respond` only means something
        // to SIP channels (loopback, verto and FreeTDM calls stay up), while a hangup ends any
        // channel and, on an unanswered SIP call, sends the final response mod_sofia derives
        // from the cause (`hangup_cause_to_sip`: USER_BUSY → 486, CALL_REJECTED → 603, ...).
        Command::Reject(cause) | Command::Hangup(cause) => {
            Plan::single(Step::Hangup { cause: cause.as_str().to_string() }, Expect::EndsCall)
        }
        Command::Play(prompts) if prompts.is_empty() => {
            return Err(CallError::Failed { verb: "play", reason: "nothing to play".into() })
        }
        Command::Play(prompts) => {
            let what = files(prompts, settings);
            Plan::single(Step::app(APP_PLAYBACK, protect(&what)), Expect::Playback { what })
        }
        Command::Say(options) => Plan::single(speak(options, settings)?, Expect::Done),
        Command::SayAs(say) => Plan::single(say_as(say, settings)?, Expect::Done),
        Command::Ask(options) => Plan::single(
            Step::app(APP_PLAY_AND_GET_DIGITS, protect(&ask_arg(options, ASK_VARIABLE, settings))),
            Expect::Ask(AskExpect {
                variable: ASK_VARIABLE.into(),
                max_digits: options.max_digits,
                terminators: options.terminators.clone(),
            }),
        ),
        Command::Dial(options) => dial(options, ctx)?,
        Command::Record(options) => record(options, ctx),
        Command::Transfer(options) => Plan::single(transfer(options), Expect::Done),
        Command::GetVar(name) => {
            check_variable_name("get_var", name)?;
            // `api uuid_getvar` tells unset (`_undef_`) from empty and carries any value in a
            // body; without `full` control only `getvar` is allowed, whose `Reply-Text` is
            // empty for an unset variable and cannot hold a line break.
            let step = if ctx.full_control {
                Step::Api(format!("{API_UUID_GETVAR} {} {name}", ctx.uuid))
            } else {
                Step::GetVar(name.clone())
            };
            Plan::single(step, Expect::Value)
        }
        Command::SetVar { name, value } => {
            check_variable_name("set_var", name)?;
            Plan::single(set(name, value), Expect::Done)
        }
        Command::SendDtmf(digits) => {
            if digits.is_empty() || !digits.chars().all(|k| DTMF_SEND_KEYS.contains(k)) {
                return Err(CallError::Failed {
                    verb: "send_dtmf",
                    reason: format!("`{digits}` is not a DTMF string (0-9, *, #, A-D, and w/W for pauses)"),
                });
            }
            Plan::single(Step::app(APP_SEND_DTMF, digits.as_str()), Expect::Done)
        }
        Command::Sleep(duration) => {
            Plan::single(Step::app(APP_SLEEP, millis(*duration).to_string()), Expect::Done)
        }
        Command::Execute { app, args } => {
            if app.is_empty() || app.contains(char::is_whitespace) {
                return Err(CallError::Failed {
                    verb: "execute",
                    reason: format!("`{app}` is not an application name"),
                });
            }
            // The escape hatch passes its argument exactly as a dialplan would, `${...}`
            // expansion included.
            let arg = (!args.is_empty()).then(|| args.clone());
            Plan::single(Step::App { app: app.clone(), arg }, Expect::Response)
        }
    };
    Ok(plan)
}

impl Expect {
    /// Read the outcome of the main step.
    ///
    /// # Errors
    /// `CallError::Failed` when FreeSWITCH reports that the verb failed (a missing file, a
    /// prompt that could not be played, an API error).
    pub fn outcome(
        &self,
        verb: &'static str,
        finished: Finished<'_>,
        observed: &Observed,
    ) -> Result<Outcome, CallError> {
        let event = match finished {
            Finished::Api(body) => return value_outcome(verb, body),
            Finished::App(event) => event,
        };
        match self {
            Expect::Ask(ask) => ask_outcome(ask, event, observed),
            Expect::Dial(dial) => Ok(Outcome::Dial(dial_outcome(dial, event, observed))),
            Expect::Done | Expect::EndsCall => Ok(Outcome::Done),
            Expect::Playback { what } => playback_outcome(verb, what, event),
            Expect::Record(record) => Ok(Outcome::Record(record_outcome(record, event))),
            Expect::Response => Ok(Outcome::Response(
                event.header(HEADER_APPLICATION_RESPONSE).unwrap_or_default().to_string(),
            )),
            Expect::Value => Err(CallError::Failed {
                verb,
                reason: "expected an API reply, got an application completion".into(),
            }),
        }
    }
}

// ---- Building arguments ----

/// `speak <engine>|<voice>|<text>`, as in the outbound-speak capture.
fn speak(options: &SayOptions, settings: &FsSettings) -> Result<Step, CallError> {
    let engine = options.engine.as_deref().unwrap_or(&settings.tts_engine);
    let voice = options.voice.as_deref().unwrap_or(&settings.tts_voice);
    check_tts_name("say", "engine", engine)?;
    check_tts_name("say", "voice", voice)?;
    let text = tts_text(&options.text);
    Ok(Step::app(APP_SPEAK, protect(&format!("{engine}|{voice}|{text}"))))
}

/// `say <lang> <type> <method> <value>` (mod_say), as in the outbound-pagd capture.
fn say_as(say: &SayAs, settings: &FsSettings) -> Result<Step, CallError> {
    let language = if say.language.is_empty() { settings.language.as_str() } else { say.language.as_str() };
    check_tts_name(say.kind.verb(), "language", language)?;
    let value = say.value.trim();
    let unsupported = |reason: String| CallError::Unsupported { verb: say.kind.verb(), reason };
    let (kind, method) = match say.kind {
        // mod_say reads numbers with `switch_strip_commas`: digits only, nine at most in
        // `mod_say_en` (`en_say_general_count`).
        SayKind::Number => {
            if value.is_empty()
                || value.len() > MAX_SAY_NUMBER_DIGITS
                || !value.bytes().all(|b| b.is_ascii_digit())
            {
                return Err(unsupported(format!(
                    "FreeSWITCH's mod_say speaks whole numbers from 0 to 999999999, not `{value}`"
                )));
            }
            (SAY_TYPE_NUMBER, SAY_METHOD_PRONOUNCED)
        }
        // `number iterated` says each digit but refuses anything else; `name_spelled` also
        // says `*` and `#` (ascii/42.wav, ascii/35.wav).
        SayKind::Digits => {
            if value.bytes().all(|b| b.is_ascii_digit()) {
                (SAY_TYPE_NUMBER, SAY_METHOD_ITERATED)
            } else {
                (SAY_TYPE_NAME_SPELLED, SAY_METHOD_ITERATED)
            }
        }
        SayKind::Money => (SAY_TYPE_CURRENCY, SAY_METHOD_PRONOUNCED),
        // An epoch timestamp is a moment: date and time. `HH:MM[:SS]` is a time of today.
        SayKind::Time => {
            if value.contains(':') {
                (SAY_TYPE_CURRENT_TIME, SAY_METHOD_PRONOUNCED)
            } else {
                (SAY_TYPE_CURRENT_DATE_TIME, SAY_METHOD_PRONOUNCED)
            }
        }
    };
    if value.is_empty() || value.contains(char::is_whitespace) {
        return Err(unsupported(format!("`{value}` is not one word")));
    }
    let arg = format!("{language} {kind} {method} {}", escape_word(value));
    Ok(Step::app(APP_SAY, protect(&arg)))
}

/// The `play_and_get_digits` argument: `<min> <max> <tries> <timeout> <terminators> <file>
/// <invalid_file> <var_name> <regex> <digit_timeout>`, as in the outbound-pagd capture.
///
/// A regex is always passed (the slot is positional); without the script's own, one that
/// accepts `min..=max` DTMF keys, so `<var>_invalid` is always reset and only FreeSWITCH's own
/// min/max rules decide.
pub(crate) fn ask_arg(options: &AskOptions, variable: &str, settings: &FsSettings) -> String {
    let prompt = if options.prompts.is_empty() {
        ASK_NO_PROMPT.to_string()
    } else {
        files(&options.prompts, settings)
    };
    let invalid = options
        .invalid_prompt
        .as_ref()
        .map_or_else(|| ASK_NO_INVALID_PROMPT.to_string(), |p| file(p, settings));
    let terminators = if options.terminators.is_empty() {
        // An empty slot means `#` to play_and_get_digits; `none` holds no DTMF key.
        ASK_NO_TERMINATORS
    } else {
        options.terminators.as_str()
    };
    let regex = options
        .regex
        .clone()
        .unwrap_or_else(|| format!("^[0-9*#A-D]{{{},{}}}$", options.min_digits, options.max_digits));
    format!(
        "{} {} {} {} {} {} {} {} {} {}",
        options.min_digits,
        options.max_digits,
        options.tries.max(1),
        millis(options.timeout),
        escape_word(terminators),
        escape_word(&prompt),
        escape_word(&invalid),
        variable,
        escape_word(&regex),
        millis(options.inter_digit_timeout),
    )
}

/// `set continue_on_fail=true`, `set hangup_after_bridge=false`, then `bridge`.
///
/// Without those two variables a failed bridge hangs the caller up (`switch_channel_handle_cause`)
/// and so does the end of an answered one (`hangup_after_bridge` defaults to true for
/// `bridge` in a dialplan); the script must keep its caller either way.
fn dial(options: &DialOptions, ctx: &MapContext<'_>) -> Result<Plan, CallError> {
    let settings = ctx.settings;
    let unsupported = |reason: String| CallError::Unsupported { verb: "dial", reason };
    let mut globals: Vec<(&str, String)> =
        vec![(VAR_ORIGINATE_TIMEOUT, options.timeout.as_millis().div_ceil(1000).max(1).to_string())];
    let mut add = |name: &'static str, value: &str| -> Result<(), CallError> {
        if value.contains(['{', '}', '\n', '\r']) {
            // `switch_find_end_paren` counts braces without regard to quotes or escapes.
            return Err(unsupported(format!(
                "{name} `{value}` cannot hold braces or line breaks in a FreeSWITCH dial string"
            )));
        }
        // Split on `,` and then at the first `=` (`switch_event_create_brackets`).
        globals.push((name, escape_item(&escape_item(value, '='), ',')));
        Ok(())
    };
    if let Some(number) = &options.caller_id_number {
        add(VAR_ORIGINATION_CALLER_ID_NUMBER, number)?;
    }
    if let Some(name) = &options.caller_id_name {
        add(VAR_ORIGINATION_CALLER_ID_NAME, name)?;
    }
    if let Some(confirm) = &options.confirm {
        add(VAR_GROUP_CONFIRM_FILE, &file(confirm, settings))?;
        add(VAR_GROUP_CONFIRM_KEY, GROUP_CONFIRM_KEY)?;
    }
    let several = options.targets.len() > 1;
    let legs: Vec<String> = options
        .targets
        .iter()
        .enumerate()
        .map(|(index, target)| {
            if !several {
                return target.clone();
            }
            // Each leg carries its number; `import` copies the answering leg's to the caller.
            let leg = format!("{VAR_DIAL_LEG}={index}");
            match target.strip_prefix('[') {
                Some(rest) => format!("[{leg},{rest}"),
                None => format!("[{leg}]{target}"),
            }
        })
        .collect();
    let separator = if options.sequential { "|" } else { "," };
    let targets = legs.join(separator);
    let assemble = |protect_values: bool| {
        let vars: Vec<String> = globals
            .iter()
            .map(|(name, value)| {
                let value = if protect_values { escape_expansion(value) } else { value.clone() };
                format!("{name}={value}")
            })
            .collect();
        format!("{{{}}}{targets}", vars.join(","))
    };
    // The targets stay expandable (`user/1000@${domain_name}`), so the values are escaped
    // against the expansion exactly when the whole argument will be expanded.
    let bridge = assemble(false);
    let bridge = if expands(&bridge) { assemble(true) } else { bridge };

    let mut steps = vec![set(VAR_CONTINUE_ON_FAIL, "true"), set(VAR_HANGUP_AFTER_BRIDGE, "false")];
    if several {
        steps.push(set(VAR_IMPORT, VAR_DIAL_LEG));
    }
    if let Some(ringback) = &options.ringback {
        steps.push(set(VAR_RINGBACK, ringback));
    }
    let main = steps.len();
    steps.push(Step::app(APP_BRIDGE, bridge));
    if options.ringback.is_some() {
        steps.push(restore(VAR_RINGBACK, ctx.variables));
    }
    Ok(Plan { steps, main, expect: Expect::Dial(DialExpect { targets: options.targets.clone() }) })
}

/// Beep, set the terminators, `record <path> <secs> <threshold> <silence secs>` (as in the
/// outbound-record capture), then put `playback_terminators` back.
///
/// `record` stops on the keys in `playback_terminators` (`mod_dptools.c`, `on_dtmf`); that
/// variable also governs later playbacks, hence the restore.
fn record(options: &RecordOptions, ctx: &MapContext<'_>) -> Plan {
    let path = format!("{}/{}.wav", ctx.settings.recordings_dir.trim_end_matches('/'), options.name);
    let seconds = |d: Duration| d.as_millis().div_ceil(1000);
    let (threshold, silence) = if options.silence_timeout.is_zero() {
        (0, 0)
    } else {
        (options.silence_threshold, seconds(options.silence_timeout))
    };
    let mut steps = Vec::new();
    if options.beep {
        steps.push(Step::app(APP_PLAYBACK, BEEP));
    }
    let terminators =
        if options.terminators.is_empty() { PLAYBACK_TERMINATORS_NONE } else { options.terminators.as_str() };
    steps.push(set(VAR_PLAYBACK_TERMINATORS, terminators));
    let main = steps.len();
    steps.push(Step::app(
        APP_RECORD,
        protect(&format!("{} {} {threshold} {silence}", escape_word(&path), seconds(options.max_duration))),
    ));
    steps.push(restore(VAR_PLAYBACK_TERMINATORS, ctx.variables));
    Plan {
        steps,
        main,
        expect: Expect::Record(RecordExpect { path, silence: Duration::from_secs(silence as u64) }),
    }
}

/// `transfer <extension> [XML <context>]`.
fn transfer(options: &TransferOptions) -> Step {
    let arg = match &options.context {
        Some(context) => {
            format!("{} {TRANSFER_DIALPLAN} {}", escape_word(&options.extension), escape_word(context))
        }
        None => escape_word(&options.extension),
    };
    Step::app(APP_TRANSFER, protect(&arg))
}

/// `set <name>=<value>`. `set` expands variables in the value once more after the core did
/// (`base_set` in `mod_dptools.c`), so the value is protected twice.
fn set(name: &str, value: &str) -> Step {
    Step::app(APP_SET, protect(&format!("{name}={}", protect(value))))
}

/// The channel variables verbs change for their own run and put back afterwards: all a channel
/// needs to remember of the call's variables (see [`restorable`]).
pub const RESTORED_VARIABLES: [&str; 2] = [VAR_RINGBACK, VAR_PLAYBACK_TERMINATORS];

/// The part of a call's variables the mapping reads back ([`RESTORED_VARIABLES`]). A call
/// arrives with about a hundred variables; copying all of them into each call's channel cost
/// two hundred allocations for two lookups.
pub fn restorable(variables: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    RESTORED_VARIABLES
        .iter()
        .filter_map(|name| variables.get_key_value(*name))
        .map(|(name, value)| (name.clone(), value.clone()))
        .collect()
}

/// Put a variable back to what it was before a verb changed it.
fn restore(name: &str, variables: &BTreeMap<String, String>) -> Step {
    match variables.get(name) {
        Some(value) => set(name, value),
        None => Step::app(APP_UNSET, name),
    }
}

/// One prompt as a FreeSWITCH file string.
pub(crate) fn file(prompt: &Prompt, settings: &FsSettings) -> String {
    match prompt.strip_prefix(SAY_PROMPT_PREFIX) {
        Some(text) => format!(
            "{TTS_FILE_PREFIX}{}|{}|{}",
            settings.tts_engine,
            settings.tts_voice,
            escape_item(&tts_text(text), '|')
        ),
        None => prompt.clone(),
    }
}

/// Prompts as one file string: one as is, several as `file_string://a!b`.
pub(crate) fn files(prompts: &[Prompt], settings: &FsSettings) -> String {
    match prompts {
        [one] => file(one, settings),
        _ => {
            let parts: Vec<String> = prompts.iter().map(|p| escape_item(&file(p, settings), '!')).collect();
            format!("{FILE_STRING_PREFIX}{}", parts.join("!"))
        }
    }
}

/// TTS text made safe where FreeSWITCH reads more than text: `playback` cuts its argument at
/// `@@` (a start offset), so the pair is split with a space, which speech engines ignore.
fn tts_text(text: &str) -> String {
    text.replace("@@", "@ @")
}

// ---- Escaping ----

/// Escape `text` so that FreeSWITCH's blank-separated `switch_separate_string` gives it back as
/// one word: quoted with `'...'` when it holds blanks, quotes inside as `\'`, and a backslash
/// doubled only where the parser would otherwise eat it (so `\d` in a regex stays `\d`, as in
/// the outbound-pagd capture). Quoting rather than `\s` keeps the argument free of escapes
/// that would make the core expand it (see [`protect`]).
pub(crate) fn escape_word(text: &str) -> String {
    let inner = escape(text, None);
    if text.contains(' ') {
        format!("'{inner}'")
    } else {
        inner
    }
}

/// Escape `text` so that `switch_separate_string(_, delim, ..)` gives it back as one item.
pub(crate) fn escape_item(text: &str, delim: char) -> String {
    escape(text, Some(delim))
}

fn escape(text: &str, delim: Option<char>) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                // `cleanup_separated_string` turns `\x` into `x` for these x (and `\n`, `\r`,
                // `\t`, `\s` into control characters); any other backslash stays literal.
                let eaten = match chars.peek() {
                    None => true,
                    Some(&next) => {
                        matches!(next, '\\' | '\'' | '"' | 'n' | 'r' | 't' | 's') || Some(next) == delim
                    }
                };
                out.push_str(if eaten { "\\\\" } else { "\\" });
            }
            '\'' => out.push_str("\\'"),
            c if Some(c) == delim => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

/// Make a whole application argument arrive literally through the core's variable expansion.
///
/// The core only expands an argument that holds `${` (blanks and backslashes may sit between)
/// or a backslash before `\`, `n`, `s`, `t` or `'` (`switch_string_var_check_const`,
/// `switch_string_has_escaped_data`); then `\\` becomes `\` and `\$` a literal `$`. So an
/// argument that would not be expanded is sent as is (the capture bytes stay exact), and one
/// that would is sent with every `\` and `$` escaped.
pub(crate) fn protect(arg: &str) -> Cow<'_, str> {
    if !expands(arg) {
        return Cow::Borrowed(arg);
    }
    Cow::Owned(escape_expansion(arg))
}

fn escape_expansion(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if c == '\\' || c == '$' {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Whether FreeSWITCH's core would run `text` through variable expansion.
fn expands(text: &str) -> bool {
    let bytes = text.as_bytes();
    let mut dollar = false;
    for &b in bytes {
        if b == b'$' {
            dollar = true;
        } else if dollar {
            if b == b'{' {
                return true;
            }
            if b != b'\\' {
                dollar = false;
            }
        }
    }
    bytes.windows(2).any(|w| w[0] == b'\\' && matches!(w[1], b'\\' | b'n' | b's' | b't' | b'\''))
}

// ---- Reading outcomes ----

fn playback_outcome(verb: &'static str, what: &str, event: &dyn Lookup) -> Result<Outcome, CallError> {
    match event.header(HEADER_APPLICATION_RESPONSE) {
        Some(RESPONSE_FILE_NOT_FOUND) => {
            Err(CallError::Failed { verb, reason: format!("file not found: {what}") })
        }
        Some(RESPONSE_PLAYBACK_ERROR) => {
            Err(CallError::Failed { verb, reason: format!("FreeSWITCH could not play {what}") })
        }
        _ => Ok(Outcome::Done),
    }
}

/// `ask`'s outcome from what `play_and_get_digits` leaves behind (`switch_ivr_play_say.c`,
/// `switch_play_and_get_digits` and `switch_ivr_read`).
///
/// Each try's `switch_ivr_read` resets `<var>` and `read_result` first, so both describe the
/// last try: a match returns at once with `<var>` set and `read_result` `success` (or `timeout`
/// once enough digits were in); too few digits leave `<var>` set and `read_result` `failure`;
/// a regex mismatch clears `<var>` and stores the digits in `<var>_invalid`; nothing pressed is
/// `timeout` (min 0) or `failure` with no digits. `read_terminator_used` is only reset when a
/// terminator is pressed, so it is read only when the last try must have ended on one; when
/// that cannot be told from the variables, the last DTMF key of the ask decides.
///
/// `<var>_invalid` is reset once per `play_and_get_digits`, not per try: with `min_digits: 0`,
/// a mismatch on an earlier try followed by silence on the last reports `nomatch` with the
/// earlier digits.
fn ask_outcome(ask: &AskExpect, event: &dyn Lookup, observed: &Observed) -> Result<Outcome, CallError> {
    let digits = event.variable(&ask.variable).filter(|d| !d.is_empty()).map(str::to_string);
    let invalid = event
        .variable(&format!("{}{INVALID_SUFFIX}", ask.variable))
        .filter(|d| !d.is_empty())
        .map(str::to_string);
    let used = event.variable(VAR_READ_TERMINATOR_USED).and_then(|t| t.chars().next());
    let last_key_was_terminator = || observed.dtmf.chars().last().filter(|k| ask.terminators.contains(*k));
    let result = event.variable(VAR_READ_RESULT);
    let (status, digits, terminator) = match (result, digits) {
        (Some(READ_SUCCESS), Some(digits)) => {
            let terminator = if (digits.chars().count() as u32) < ask.max_digits { used } else { None };
            (AskStatus::Match, digits, terminator)
        }
        (Some(READ_TIMEOUT), Some(digits)) => (AskStatus::Match, digits, None),
        (Some(_), Some(digits)) => (AskStatus::NoMatch, digits, last_key_was_terminator()),
        // The regex refused the digits (they are in `<var>_invalid`), or min_digits is 0 and
        // only a terminator (success) or nothing (timeout) came.
        (Some(result @ (READ_SUCCESS | READ_TIMEOUT)), None) => match invalid {
            Some(digits) => (
                AskStatus::NoMatch,
                digits,
                used.filter(|_| result == READ_SUCCESS && last_key_was_terminator().is_some()),
            ),
            None if result == READ_SUCCESS => {
                (AskStatus::NoMatch, String::new(), used.filter(|_| last_key_was_terminator().is_some()))
            }
            None => (AskStatus::NoInput, String::new(), None),
        },
        (Some(_), None) => match last_key_was_terminator() {
            Some(key) => (AskStatus::NoMatch, String::new(), Some(key)),
            None => (AskStatus::NoInput, String::new(), None),
        },
        (None, _) => {
            return Err(CallError::Failed {
                verb: "ask",
                reason: "FreeSWITCH could not play the prompt (play_and_get_digits set no \
                         read_result)"
                    .into(),
            })
        }
    };
    Ok(Outcome::Ask(AskOutcome { status, digits, terminator }))
}

/// `dial`'s outcome from the caller leg's variables after `bridge` (`switch_ivr_originate.c`):
/// `originate_disposition` is `call accepted` on success and the cause name otherwise;
/// `bridge_hangup_cause` is how the answered bridge ended. `bridge_epoch`/`billsec` are only
/// written at hangup, so the talk time comes from the `CHANNEL_BRIDGE` and `CHANNEL_UNBRIDGE`
/// event timestamps.
fn dial_outcome(dial: &DialExpect, event: &dyn Lookup, observed: &Observed) -> DialOutcome {
    let disposition = event.variable(VAR_ORIGINATE_DISPOSITION).or_else(|| event.variable(VAR_DIALSTATUS));
    let answered = matches!(disposition, Some(DISPOSITION_ACCEPTED | DIALSTATUS_ANSWER | DIALSTATUS_EARLY));
    if answered {
        let cause = event.variable(VAR_BRIDGE_HANGUP_CAUSE).unwrap_or(CAUSE_NORMAL_CLEARING).to_string();
        let end = observed
            .unbridged_at
            .or_else(|| event.header(HEADER_EVENT_DATE_TIMESTAMP).and_then(|t| t.parse().ok()));
        let duration = match (observed.bridged_at, end) {
            (Some(start), Some(end)) if end >= start => Duration::from_micros(end - start),
            _ => Duration::ZERO,
        };
        let answered_by = match dial.targets.as_slice() {
            [one] => Some(one.clone()),
            targets => event
                .variable(VAR_DIAL_LEG)
                .and_then(|leg| leg.parse::<usize>().ok())
                .and_then(|leg| targets.get(leg).cloned()),
        };
        return DialOutcome { status: DialStatus::Answered, cause, duration, answered_by };
    }
    // `failure` is what early errors (bad arguments) leave; the cause is then elsewhere.
    let cause = disposition
        .filter(|d| *d != DISPOSITION_FAILURE && is_cause_name(d))
        .or_else(|| event.variable(VAR_ORIGINATE_FAILED_CAUSE))
        .or_else(|| event.variable(VAR_HANGUP_CAUSE))
        .unwrap_or(CAUSE_UNKNOWN)
        .to_string();
    let status = match cause.as_str() {
        "USER_BUSY" => DialStatus::Busy,
        "NO_ANSWER" | "NO_USER_RESPONSE" | "PROGRESS_TIMEOUT" | "ALLOTTED_TIMEOUT" | "ORIGINATOR_CANCEL" => {
            DialStatus::NoAnswer
        }
        _ => DialStatus::Failed,
    };
    DialOutcome { status, cause, duration: Duration::ZERO, answered_by: None }
}

fn is_cause_name(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
}

/// `record`'s outcome (`switch_ivr_record_file`): `record_ms` is the length written,
/// `playback_terminator_used` the key that stopped it (reset by `record` itself), and
/// `silence_hits_exhausted` says silence ended it. A recording that is no longer than the
/// silence that ended it never had sound in it: `empty`.
fn record_outcome(record: &RecordExpect, event: &dyn Lookup) -> RecordOutcome {
    let duration = event
        .variable(VAR_RECORD_MS)
        .and_then(|ms| ms.parse::<u64>().ok())
        .map(Duration::from_millis)
        .or_else(|| {
            event.variable(VAR_RECORD_SECONDS).and_then(|s| s.parse::<u64>().ok()).map(Duration::from_secs)
        })
        .unwrap_or(Duration::ZERO);
    let silent_throughout = !record.silence.is_zero()
        && event.variable(VAR_SILENCE_HITS_EXHAUSTED) == Some("true")
        && duration <= record.silence + EMPTY_RECORDING_MARGIN;
    let status =
        if duration.is_zero() || silent_throughout { RecordStatus::Empty } else { RecordStatus::Recorded };
    RecordOutcome {
        status,
        path: record.path.clone(),
        duration,
        terminator: event.variable(VAR_PLAYBACK_TERMINATOR_USED).and_then(|t| t.chars().next()),
    }
}

/// `get_var`'s outcome from the `api uuid_getvar` reply body (`_undef_` when unset) or the
/// `getvar` reply text (empty when unset; FreeSWITCH cannot hold an empty variable anyway:
/// setting one to "" unsets it).
fn value_outcome(verb: &'static str, body: &str) -> Result<Outcome, CallError> {
    if body.starts_with(REPLY_ERR) || body.starts_with(REPLY_USAGE) {
        return Err(CallError::Failed { verb, reason: body.trim_end().to_string() });
    }
    if body == UNDEFINED_VALUE || body.is_empty() {
        return Ok(Outcome::Value(None));
    }
    Ok(Outcome::Value(Some(body.to_string())))
}

// ---- Checks ----

fn check_variable_name(verb: &'static str, name: &str) -> Result<(), CallError> {
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') {
        return Err(CallError::Failed {
            verb,
            reason: format!("`{name}` is not a variable name (letters, digits, _ and -)"),
        });
    }
    Ok(())
}

/// An engine, voice or language sits between `|` or blanks; it must be a plain word.
fn check_tts_name(verb: &'static str, what: &str, value: &str) -> Result<(), CallError> {
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-.:/".contains(&b)) {
        return Err(CallError::Unsupported {
            verb,
            reason: format!("{what} `{value}` is not a plain name FreeSWITCH can take"),
        });
    }
    Ok(())
}

fn millis(duration: Duration) -> u64 {
    duration.as_millis().min(u128::from(u32::MAX)) as u64
}

// ---- FreeSWITCH names (mod_dptools applications, channel variables, literal values) ----

const APP_ANSWER: &str = "answer";
const APP_BRIDGE: &str = "bridge";
const APP_PLAYBACK: &str = "playback";
const APP_PLAY_AND_GET_DIGITS: &str = "play_and_get_digits";
const APP_PRE_ANSWER: &str = "pre_answer";
const APP_RECORD: &str = "record";
const APP_RING_READY: &str = "ring_ready";
const APP_SAY: &str = "say";
const APP_SEND_DTMF: &str = "send_dtmf";
const APP_SET: &str = "set";
const APP_SLEEP: &str = "sleep";
const APP_SPEAK: &str = "speak";
const APP_TRANSFER: &str = "transfer";
const APP_UNSET: &str = "unset";

/// `mod_commands`' `uuid_getvar <uuid> <name>`: the value as the body, `_undef_` when unset.
const API_UUID_GETVAR: &str = "uuid_getvar";

/// The variable `play_and_get_digits` stores an `ask`'s digits in.
pub const ASK_VARIABLE: &str = "rivr_digits";
/// Each leg of a multi-target dial carries its index in this variable.
pub const VAR_DIAL_LEG: &str = "rivr_dial_leg";

const VAR_BRIDGE_HANGUP_CAUSE: &str = "bridge_hangup_cause";
const VAR_CONTINUE_ON_FAIL: &str = "continue_on_fail";
const VAR_DIALSTATUS: &str = "DIALSTATUS";
const VAR_GROUP_CONFIRM_FILE: &str = "group_confirm_file";
const VAR_GROUP_CONFIRM_KEY: &str = "group_confirm_key";
const VAR_HANGUP_AFTER_BRIDGE: &str = "hangup_after_bridge";
const VAR_HANGUP_CAUSE: &str = "hangup_cause";
const VAR_IMPORT: &str = "import";
const VAR_ORIGINATE_DISPOSITION: &str = "originate_disposition";
const VAR_ORIGINATE_FAILED_CAUSE: &str = "originate_failed_cause";
const VAR_ORIGINATE_TIMEOUT: &str = "originate_timeout";
const VAR_ORIGINATION_CALLER_ID_NAME: &str = "origination_caller_id_name";
const VAR_ORIGINATION_CALLER_ID_NUMBER: &str = "origination_caller_id_number";
const VAR_PLAYBACK_TERMINATORS: &str = "playback_terminators";
const VAR_PLAYBACK_TERMINATOR_USED: &str = "playback_terminator_used";
const VAR_READ_RESULT: &str = "read_result";
const VAR_READ_TERMINATOR_USED: &str = "read_terminator_used";
const VAR_RECORD_MS: &str = "record_ms";
const VAR_RECORD_SECONDS: &str = "record_seconds";
const VAR_RINGBACK: &str = "ringback";
const VAR_SILENCE_HITS_EXHAUSTED: &str = "silence_hits_exhausted";

const HEADER_APPLICATION_RESPONSE: &str = "Application-Response";
const HEADER_EVENT_DATE_TIMESTAMP: &str = "Event-Date-Timestamp";
const VARIABLE_HEADER_PREFIX: &str = "variable_";

const RESPONSE_FILE_NOT_FOUND: &str = "FILE NOT FOUND";
const RESPONSE_PLAYBACK_ERROR: &str = "PLAYBACK ERROR";

const READ_SUCCESS: &str = "success";
const READ_TIMEOUT: &str = "timeout";
const INVALID_SUFFIX: &str = "_invalid";

const DISPOSITION_ACCEPTED: &str = "call accepted";
const DISPOSITION_FAILURE: &str = "failure";
const DIALSTATUS_ANSWER: &str = "ANSWER";
const DIALSTATUS_EARLY: &str = "EARLY";
const CAUSE_NORMAL_CLEARING: &str = "NORMAL_CLEARING";
/// The cause reported when FreeSWITCH left none anywhere.
const CAUSE_UNKNOWN: &str = "UNSPECIFIED";
/// The key that accepts a confirmed dial.
const GROUP_CONFIRM_KEY: &str = "1";

const REPLY_ERR: &str = "-ERR";
const REPLY_USAGE: &str = "-USAGE";
const UNDEFINED_VALUE: &str = "_undef_";

const SAY_TYPE_CURRENCY: &str = "currency";
const SAY_TYPE_CURRENT_DATE_TIME: &str = "current_date_time";
const SAY_TYPE_CURRENT_TIME: &str = "current_time";
const SAY_TYPE_NAME_SPELLED: &str = "name_spelled";
const SAY_TYPE_NUMBER: &str = "number";
const SAY_METHOD_ITERATED: &str = "iterated";
const SAY_METHOD_PRONOUNCED: &str = "pronounced";
const MAX_SAY_NUMBER_DIGITS: usize = 9;

const TRANSFER_DIALPLAN: &str = "XML";
const FILE_STRING_PREFIX: &str = "file_string://";
const TTS_FILE_PREFIX: &str = "tts://";
/// `switch_ivr_read` skips the prompt when it is literally `silence`.
const ASK_NO_PROMPT: &str = "silence";
/// What the outbound-pagd capture plays between tries when the script names no prompt.
const ASK_NO_INVALID_PROMPT: &str = "silence_stream://250";
/// Holds no DTMF key, so no key ends input (an empty slot would mean `#`).
const ASK_NO_TERMINATORS: &str = "none";
/// `on_dtmf` treats `none` as no terminator.
const PLAYBACK_TERMINATORS_NONE: &str = "none";
/// A 250 ms 800 Hz tone.
const BEEP: &str = "tone_stream://%(250,0,800)";
/// Keys `send_dtmf` takes: DTMF plus `w`/`W` (0.5 s / 1 s pauses).
const DTMF_SEND_KEYS: &str = "0123456789*#ABCDabcdwW";
/// How much longer than its silence timeout an all-silent recording may come out (one packet
/// of rounding at each end).
const EMPTY_RECORDING_MARGIN: Duration = Duration::from_millis(250);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::call::HangupCause;

    fn settings() -> FsSettings {
        FsSettings::default()
    }

    fn plan_of(command: Command) -> Plan {
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

    fn apps(plan: &Plan) -> Vec<String> {
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

    fn event(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    /// The tokenizers of `switch_separate_string` and `cleanup_separated_string`, transcribed
    /// from `switch_utils.c`, so the escapes are checked against what FreeSWITCH does.
    /// `delim: None` is the blank-separated mode.
    fn fs_separate(input: &str, delim: Option<char>, max: usize) -> Vec<String> {
        let chars: Vec<char> = input.chars().collect();
        let mut cut = vec![false; chars.len()];
        let mut starts = Vec::new();
        let mut ptr = 0;
        let mut quoted = false;
        #[derive(PartialEq)]
        enum State {
            Start,
            SkipInitial,
            Find,
            SkipEnding,
        }
        let mut state = State::Start;
        while ptr < chars.len() && starts.len() < max {
            let c = chars[ptr];
            match state {
                State::Start => {
                    starts.push(ptr);
                    state = if delim.is_none() { State::SkipInitial } else { State::Find };
                }
                State::SkipInitial => {
                    if c == ' ' {
                        ptr += 1;
                    } else {
                        state = State::Find;
                    }
                }
                State::Find => {
                    if c == '\\' {
                        ptr += 1;
                    } else if c == '\'' {
                        if delim.is_none() || quoted || chars[ptr + 1..].contains(&'\'') {
                            quoted = !quoted;
                        }
                    } else if c == delim.unwrap_or(' ') && !quoted {
                        cut[ptr] = true;
                        state = if delim.is_none() { State::SkipEnding } else { State::Start };
                    }
                    ptr += 1;
                }
                State::SkipEnding => {
                    if c == ' ' {
                        ptr += 1;
                    } else {
                        state = State::Start;
                    }
                }
            }
        }
        starts
            .iter()
            .map(|&start| {
                let end = (start..chars.len()).find(|&i| cut[i]).unwrap_or(chars.len());
                cleanup(&chars[start..end], delim)
            })
            .collect()
    }

    fn cleanup(chars: &[char], delim: Option<char>) -> String {
        let mut i = 0;
        while i < chars.len() && chars[i] == ' ' {
            i += 1;
        }
        let mut out = String::new();
        let mut end = 0;
        let mut quoted = false;
        while i < chars.len() {
            let c = chars[i];
            if c == '\\' && i + 1 < chars.len() {
                let e = chars[i + 1];
                let unescaped = match e {
                    'n' => Some('\n'),
                    'r' => Some('\r'),
                    't' => Some('\t'),
                    's' => Some(' '),
                    '\'' | '"' | '\\' => Some(e),
                    e if Some(e) == delim => Some(e),
                    _ => None,
                };
                if let Some(u) = unescaped {
                    out.push(u);
                    end = out.len();
                    i += 2;
                    continue;
                }
            }
            if c == '\'' && (quoted || chars[i + 1..].contains(&'\'')) {
                quoted = !quoted;
                if quoted {
                    end = out.len();
                }
            } else {
                out.push(c);
                if c != ' ' || quoted {
                    end = out.len();
                }
            }
            i += 1;
        }
        out.truncate(end);
        out
    }

    /// `switch_channel_expand_variables_check` for text without real variables.
    fn fs_expand(text: &str) -> String {
        if !expands(text) {
            return text.to_string();
        }
        let chars: Vec<char> = text.chars().collect();
        let mut out = String::new();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            if c == '\\' && i + 1 < chars.len() {
                match chars[i + 1] {
                    '$' => {
                        out.push('$');
                        i += if chars.get(i + 2) == Some(&'$') { 3 } else { 2 };
                        continue;
                    }
                    '\'' => {
                        i += 2;
                        continue;
                    }
                    '\\' => {
                        out.push('\\');
                        i += 2;
                        continue;
                    }
                    _ => {}
                }
            }
            if c == '$' && chars.get(i + 1) == Some(&'{') {
                // A real variable: stands for itself here.
                let close = chars[i..].iter().position(|&c| c == '}').map_or(chars.len(), |p| i + p + 1);
                out.extend(&chars[i..close]);
                i = close;
                continue;
            }
            out.push(c);
            i += 1;
        }
        out
    }

    #[test]
    fn call_control_verbs_map_to_their_applications() {
        assert_eq!(apps(&plan_of(Command::Answer)), ["answer"]);
        assert_eq!(apps(&plan_of(Command::PreAnswer)), ["pre_answer"]);
        assert_eq!(apps(&plan_of(Command::Ring)), ["ring_ready"]);
        assert_eq!(
            apps(&plan_of(Command::Hangup(HangupCause::normal()))),
            ["sendmsg hangup NORMAL_CLEARING"]
        );
        let busy = HangupCause::parse("busy").expect("cause");
        let reject = plan_of(Command::Reject(busy));
        assert_eq!(apps(&reject), ["sendmsg hangup USER_BUSY"]);
        assert_eq!(reject.expect, Expect::EndsCall);
        assert_eq!(apps(&plan_of(Command::Sleep(Duration::from_millis(1500)))), ["sleep 1500"]);
        assert_eq!(apps(&plan_of(Command::SendDtmf("12#w3".into()))), ["send_dtmf 12#w3"]);
    }

    #[test]
    fn playback_of_one_file_matches_the_capture() {
        // outbound-pagd: `execute-app-name: playback`, `execute-app-arg: hello-world.wav`.
        let plan = plan_of(Command::Play(vec!["hello-world.wav".into()]));
        assert_eq!(apps(&plan), ["playback hello-world.wav"]);
    }

    #[test]
    fn several_prompts_become_one_file_string() {
        let plan = plan_of(Command::Play(vec![
            "ivr/you-have.wav".into(),
            "digits/3.wav".into(),
            "tone_stream://%(100,0,440)".into(),
        ]));
        assert_eq!(
            apps(&plan),
            ["playback file_string://ivr/you-have.wav!digits/3.wav!tone_stream://%(100,0,440)"]
        );
    }

    #[test]
    fn say_prompts_become_tts_file_strings() {
        let settings = settings();
        assert_eq!(files(&["say:Hello there".into()], &settings), "tts://flite|kal|Hello there");
        let list = files(&["say:Wow! A|B".into(), "beep.wav".into()], &settings);
        assert_eq!(list, r"file_string://tts://flite|kal|Wow\! A\|B!beep.wav");
        // FreeSWITCH's parsers give the text back: split on `!`, then on `|` (3 items).
        let parts = fs_separate(list.trim_start_matches("file_string://"), Some('!'), 128);
        assert_eq!(parts.len(), 2);
        let tts = fs_separate(parts[0].trim_start_matches("tts://"), Some('|'), 3);
        assert_eq!(tts, ["flite", "kal", "Wow! A|B"]);
        assert_eq!(parts[1], "beep.wav");
    }

    #[test]
    fn speak_matches_the_capture_and_keeps_bars_and_quotes_in_the_text() {
        // outbound-speak: `execute-app-arg: flite|kal|Hello from the F S lab.`
        let say =
            |text: &str| plan_of(Command::Say(SayOptions { text: text.into(), voice: None, engine: None }));
        assert_eq!(apps(&say("Hello from the F S lab.")), ["speak flite|kal|Hello from the F S lab."]);
        // speak takes the text after the second `|` verbatim.
        assert_eq!(apps(&say("It's a|b, 'quoted'")), ["speak flite|kal|It's a|b, 'quoted'"]);
        let voice = plan_of(Command::Say(SayOptions {
            text: "Bonjour".into(),
            voice: Some("slt".into()),
            engine: Some("flite".into()),
        }));
        assert_eq!(apps(&voice), ["speak flite|slt|Bonjour"]);
    }

    #[test]
    fn speak_text_with_variables_arrives_literally() {
        let plan = plan_of(Command::Say(SayOptions {
            text: "Costs ${system(rm -rf /)} \\n $5".into(),
            voice: None,
            engine: None,
        }));
        let Step::App { arg: Some(arg), .. } = &plan.steps[0] else {
            panic!("not an app");
        };
        assert_eq!(fs_expand(arg), "flite|kal|Costs ${system(rm -rf /)} \\n $5");
    }

    #[test]
    fn an_unplain_voice_is_unsupported() {
        let settings = settings();
        let variables = BTreeMap::new();
        let ctx = MapContext { settings: &settings, uuid: "u", variables: &variables, full_control: true };
        let bad = Command::Say(SayOptions { text: "hi".into(), voice: Some("kal|x".into()), engine: None });
        assert!(matches!(plan(&bad, &ctx), Err(CallError::Unsupported { verb: "say", .. })));
    }

    #[test]
    fn say_digits_matches_the_capture() {
        // outbound-pagd: `execute-app-name: say`, `execute-app-arg: en number iterated 1`.
        let plan = plan_of(Command::SayAs(SayAs {
            kind: SayKind::Digits,
            value: "1".into(),
            language: "en".into(),
        }));
        assert_eq!(apps(&plan), ["say en number iterated 1"]);
    }

    #[test]
    fn say_kinds_use_the_matching_mod_say_types() {
        let say = |kind, value: &str| {
            apps(&plan_of(Command::SayAs(SayAs { kind, value: value.into(), language: "en".into() })))
        };
        assert_eq!(say(SayKind::Number, "42"), ["say en number pronounced 42"]);
        assert_eq!(say(SayKind::Digits, "12*#"), ["say en name_spelled iterated 12*#"]);
        assert_eq!(say(SayKind::Money, "12.50"), ["say en currency pronounced 12.50"]);
        assert_eq!(say(SayKind::Time, "14:30"), ["say en current_time pronounced 14:30"]);
        assert_eq!(say(SayKind::Time, "1795472296"), ["say en current_date_time pronounced 1795472296"]);
    }

    #[test]
    fn numbers_mod_say_cannot_speak_are_unsupported() {
        let settings = settings();
        let variables = BTreeMap::new();
        let ctx = MapContext { settings: &settings, uuid: "u", variables: &variables, full_control: true };
        for value in ["-5", "1234567890"] {
            let command =
                Command::SayAs(SayAs { kind: SayKind::Number, value: value.into(), language: "en".into() });
            assert!(matches!(plan(&command, &ctx), Err(CallError::Unsupported { verb: "say_number", .. })));
        }
    }

    #[test]
    fn ask_argument_matches_the_capture_byte_for_byte() {
        // outbound-pagd: `1 1 2 8000 # vm-enter-num-to-call.wav silence_stream://250
        // fslab_digit \d 3000`.
        let options = AskOptions {
            prompts: vec!["vm-enter-num-to-call.wav".into()],
            min_digits: 1,
            max_digits: 1,
            timeout: Duration::from_millis(8000),
            inter_digit_timeout: Duration::from_millis(3000),
            terminators: "#".into(),
            tries: 2,
            invalid_prompt: None,
            regex: Some(r"\d".into()),
        };
        let arg = ask_arg(&options, "fslab_digit", &settings());
        assert_eq!(arg, r"1 1 2 8000 # vm-enter-num-to-call.wav silence_stream://250 fslab_digit \d 3000");
        assert_eq!(protect(&arg), arg);
    }

    #[test]
    fn ask_without_a_regex_passes_one_that_enforces_min_and_max() {
        let options = AskOptions {
            prompts: vec!["ivr/enter-pin.wav".into()],
            min_digits: 4,
            max_digits: 6,
            terminators: String::new(),
            ..AskOptions::default()
        };
        let plan = plan_of(Command::Ask(options));
        assert_eq!(
            apps(&plan),
            ["play_and_get_digits 4 6 1 5000 none ivr/enter-pin.wav silence_stream://250 \
              rivr_digits ^[0-9*#A-D]{4,6}$ 3000"]
        );
    }

    #[test]
    fn ask_with_tts_prompts_survives_the_blank_splitter() {
        let options = AskOptions {
            prompts: vec!["say:Press 1 for sales, or 2!".into(), "beep.wav".into()],
            invalid_prompt: Some("say:That's not right".into()),
            regex: Some(r"^\d\s?$".into()),
            ..AskOptions::default()
        };
        let plan = plan_of(Command::Ask(options));
        let Step::App { arg: Some(arg), .. } = &plan.steps[0] else {
            panic!("not an app");
        };
        let expanded = fs_expand(arg);
        let argv = fs_separate(&expanded, None, 11);
        assert_eq!(argv.len(), 10, "{argv:?}");
        assert_eq!(argv[5], r"file_string://tts://flite|kal|Press 1 for sales, or 2\!!beep.wav");
        assert_eq!(argv[6], "tts://flite|kal|That\\'s not right");
        assert_eq!(argv[8], r"^\d\s?$");
        // The file string splits back into the TTS text.
        let parts = fs_separate(argv[5].trim_start_matches("file_string://"), Some('!'), 128);
        let tts = fs_separate(parts[0].trim_start_matches("tts://"), Some('|'), 3);
        assert_eq!(tts[2], "Press 1 for sales, or 2!");
        let invalid = fs_separate(argv[6].trim_start_matches("tts://"), Some('|'), 3);
        assert_eq!(invalid[2], "That's not right");
    }

    #[test]
    fn dial_sets_failure_variables_then_bridges() {
        let plan = plan_of(Command::Dial(DialOptions {
            targets: vec!["user/1000".into()],
            caller_id_number: Some("5551234".into()),
            caller_id_name: Some("Acme, Inc.".into()),
            timeout: Duration::from_millis(20_500),
            ..DialOptions::default()
        }));
        assert_eq!(
            apps(&plan),
            [
                "set continue_on_fail=true",
                "set hangup_after_bridge=false",
                "bridge {originate_timeout=21,origination_caller_id_number=5551234,\
                 origination_caller_id_name=Acme\\, Inc.}user/1000",
            ]
        );
        assert_eq!(plan.main, 2);
    }

    #[test]
    fn parallel_and_sequential_dials_join_legs_with_comma_and_bar() {
        let targets = vec!["user/1001".to_string(), "[leg_timeout=5]user/1002".to_string()];
        let parallel =
            plan_of(Command::Dial(DialOptions { targets: targets.clone(), ..DialOptions::default() }));
        assert_eq!(
            apps(&parallel),
            [
                "set continue_on_fail=true",
                "set hangup_after_bridge=false",
                "set import=rivr_dial_leg",
                "bridge {originate_timeout=30}[rivr_dial_leg=0]user/1001,\
                 [rivr_dial_leg=1,leg_timeout=5]user/1002",
            ]
        );
        let sequential =
            plan_of(Command::Dial(DialOptions { targets, sequential: true, ..DialOptions::default() }));
        assert!(apps(&sequential)[3].contains("user/1001|[rivr_dial_leg=1"));
    }

    #[test]
    fn dial_with_confirm_and_ringback_sets_and_restores_ringback() {
        let settings = settings();
        let variables: BTreeMap<String, String> = [("ringback".to_string(), "${us-ring}".to_string())].into();
        let ctx = MapContext { settings: &settings, uuid: "u", variables: &variables, full_control: true };
        let command = Command::Dial(DialOptions {
            targets: vec!["user/1000".into()],
            confirm: Some("ivr/accept-call.wav".into()),
            ringback: Some("%(2000,4000,440,480)".into()),
            ..DialOptions::default()
        });
        let plan = plan(&command, &ctx).expect("maps");
        assert_eq!(
            apps(&plan),
            [
                "set continue_on_fail=true",
                "set hangup_after_bridge=false",
                "set ringback=%(2000,4000,440,480)",
                "bridge {originate_timeout=30,group_confirm_file=ivr/accept-call.wav,\
                 group_confirm_key=1}user/1000",
                // `${us-ring}` must come back as written, so it is escaped for both expansions.
                r"set ringback=\\\${us-ring}",
            ]
        );
        let Step::App { arg: Some(arg), .. } = &plan.steps[4] else {
            panic!("not an app");
        };
        assert_eq!(fs_expand(&fs_expand(arg)), "ringback=${us-ring}");
    }

    #[test]
    fn dial_values_with_braces_are_unsupported() {
        let settings = settings();
        let variables = BTreeMap::new();
        let ctx = MapContext { settings: &settings, uuid: "u", variables: &variables, full_control: true };
        let command = Command::Dial(DialOptions {
            targets: vec!["user/1000".into()],
            caller_id_name: Some("{evil}".into()),
            ..DialOptions::default()
        });
        assert!(matches!(plan(&command, &ctx), Err(CallError::Unsupported { verb: "dial", .. })));
    }

    #[test]
    fn dial_values_with_dollars_are_protected_but_targets_still_expand() {
        let plan = plan_of(Command::Dial(DialOptions {
            targets: vec!["user/1000@${domain_name}".into()],
            caller_id_name: Some("Cash $$ Co".into()),
            ..DialOptions::default()
        }));
        assert_eq!(
            apps(&plan)[2],
            r"bridge {originate_timeout=30,origination_caller_id_name=Cash \$\$ Co}user/1000@${domain_name}"
        );
    }

    #[test]
    fn dial_values_round_trip_through_expansion_and_bracket_parsing() {
        for name in ["O'Brien, Pat", r"back\slash = ok", "Cash $$ $x", r"\n'"] {
            for target in ["user/1000", "user/1000@${domain_name}"] {
                let plan = plan_of(Command::Dial(DialOptions {
                    targets: vec![target.into()],
                    caller_id_name: Some(name.into()),
                    ..DialOptions::default()
                }));
                let Step::App { arg: Some(arg), .. } = &plan.steps[2] else {
                    panic!("not an app");
                };
                let expanded = fs_expand(arg);
                let close = expanded.find('}').expect("closing brace");
                assert_eq!(&expanded[close + 1..], target);
                let vars = fs_separate(&expanded[1..close], Some(','), 64);
                let pair = fs_separate(&vars[1], Some('='), 2);
                assert_eq!(pair, ["origination_caller_id_name", name], "{arg}");
            }
        }
    }

    #[test]
    fn record_matches_the_capture_and_brackets_it_with_terminators() {
        // outbound-record: `record /tmp/fslab-rec-<uuid>.wav 3 200 3`.
        let plan = plan_of(Command::Record(RecordOptions {
            name: "fslab-rec-a0497c94-d1a6-4d62-89e1-c010ab8c21d3".into(),
            max_duration: Duration::from_secs(3),
            silence_timeout: Duration::from_secs(3),
            silence_threshold: 200,
            beep: true,
            terminators: "#".into(),
        }));
        assert_eq!(
            apps(&plan),
            [
                "playback tone_stream://%(250,0,800)",
                "set playback_terminators=#",
                "record /tmp/fslab-rec-a0497c94-d1a6-4d62-89e1-c010ab8c21d3.wav 3 200 3",
                "unset playback_terminators",
            ]
        );
        assert_eq!(plan.main, 2);
    }

    #[test]
    fn record_without_silence_detection_or_terminators() {
        let plan = plan_of(Command::Record(RecordOptions {
            name: "msg".into(),
            max_duration: Duration::from_millis(60_500),
            silence_timeout: Duration::ZERO,
            silence_threshold: 200,
            beep: false,
            terminators: String::new(),
        }));
        assert_eq!(
            apps(&plan),
            ["set playback_terminators=none", "record /tmp/msg.wav 61 0 0", "unset playback_terminators",]
        );
    }

    #[test]
    fn transfer_and_variables() {
        assert_eq!(
            apps(&plan_of(Command::Transfer(TransferOptions {
                extension: "1000".into(),
                context: Some("default".into()),
            }))),
            ["transfer 1000 XML default"]
        );
        assert_eq!(
            apps(&plan_of(Command::Transfer(TransferOptions {
                extension: "operator".into(),
                context: None,
            }))),
            ["transfer operator"]
        );
        // outbound-errors: `set fslab_var=hello world`, then `api uuid_getvar <uuid> fslab_var`.
        assert_eq!(
            apps(&plan_of(Command::SetVar { name: "fslab_var".into(), value: "hello world".into() })),
            ["set fslab_var=hello world"]
        );
        assert_eq!(
            apps(&plan_of(Command::GetVar("fslab_var".into()))),
            ["api uuid_getvar 54a68d40-0ec8-4658-b126-577f3a9d53de fslab_var"]
        );
    }

    #[test]
    fn get_var_uses_getvar_without_full_control() {
        let settings = settings();
        let variables = BTreeMap::new();
        let ctx = MapContext { settings: &settings, uuid: "u", variables: &variables, full_control: false };
        let plan = plan(&Command::GetVar("fslab_var".into()), &ctx).expect("maps");
        assert_eq!(apps(&plan), ["getvar fslab_var"]);
    }

    #[test]
    fn execute_passes_its_argument_raw() {
        let plan = plan_of(Command::Execute { app: "log".into(), args: "INFO ${caller_id_number}".into() });
        assert_eq!(apps(&plan), ["log INFO ${caller_id_number}"]);
        assert_eq!(plan.expect, Expect::Response);
    }

    #[test]
    fn bad_dtmf_and_variable_names_fail() {
        let settings = settings();
        let variables = BTreeMap::new();
        let ctx = MapContext { settings: &settings, uuid: "u", variables: &variables, full_control: true };
        assert!(plan(&Command::SendDtmf("12x".into()), &ctx).is_err());
        assert!(plan(&Command::GetVar("a b".into()), &ctx).is_err());
        assert!(plan(&Command::Execute { app: "bad app".into(), args: String::new() }, &ctx).is_err());
    }

    #[test]
    fn escapes_round_trip_through_freeswitch_parsers() {
        let samples = [
            "plain",
            "two words",
            "it's",
            "'quoted' text",
            r"back\slash",
            r"\d+\s*",
            r"trailing\",
            r"a\\b",
            "bang! and | bar, comma=eq",
            "\"double\"",
            r"\'",
        ];
        for text in samples {
            let word = escape_word(text);
            assert_eq!(fs_separate(&word, None, 8), [text], "word {word:?}");
            for delim in ['!', '|', ',', '='] {
                let item = escape_item(text, delim);
                let parsed = fs_separate(&format!("x{delim}{item}"), Some(delim), 8);
                assert_eq!(parsed, ["x", text], "item {item:?} split on {delim}");
            }
            assert_eq!(fs_expand(&protect(text)), text);
        }
    }

    #[test]
    fn protect_leaves_text_the_core_would_not_expand() {
        assert_eq!(protect("hello world"), "hello world");
        assert_eq!(protect("$5 and \\d"), "$5 and \\d");
        assert_eq!(protect("${x}"), r"\${x}");
        assert_eq!(protect(r"a\nb"), r"a\\nb");
    }

    #[test]
    fn playback_responses_become_outcomes() {
        let expect = Expect::Playback { what: "this-file-does-not-exist.wav".into() };
        let observed = Observed::default();
        // outbound-errors: `Application-Response: FILE NOT FOUND`.
        let missing = event(&[("Application-Response", "FILE NOT FOUND")]);
        assert_eq!(
            expect.outcome("play", Finished::App(&missing), &observed),
            Err(CallError::Failed {
                verb: "play",
                reason: "file not found: this-file-does-not-exist.wav".into()
            })
        );
        let played = event(&[("Application-Response", "FILE PLAYED")]);
        assert_eq!(expect.outcome("play", Finished::App(&played), &observed), Ok(Outcome::Done));
        let error = event(&[("Application-Response", "PLAYBACK ERROR")]);
        assert!(expect.outcome("play", Finished::App(&error), &observed).is_err());
    }

    fn ask_expect(max: u32) -> Expect {
        Expect::Ask(AskExpect { variable: "rivr_digits".into(), max_digits: max, terminators: "#".into() })
    }

    fn ask(expect: &Expect, vars: &[(&str, &str)], dtmf: &str) -> AskOutcome {
        let pairs: Vec<(String, String)> =
            vars.iter().map(|(k, v)| (format!("variable_{k}"), v.to_string())).collect();
        let map: BTreeMap<String, String> = pairs.into_iter().collect();
        let observed = Observed { dtmf: dtmf.into(), ..Observed::default() };
        match expect.outcome("ask", Finished::App(&map), &observed) {
            Ok(Outcome::Ask(outcome)) => outcome,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn ask_outcomes_follow_play_and_get_digits_variables() {
        let one = ask_expect(1);
        // outbound-pagd: `variable_read_result: success`, `variable_fslab_digit: 1`.
        let matched = ask(&one, &[("read_result", "success"), ("rivr_digits", "1")], "1");
        assert_eq!(matched, AskOutcome { status: AskStatus::Match, digits: "1".into(), terminator: None });
        let four = ask_expect(4);
        let terminated = ask(
            &four,
            &[("read_result", "success"), ("rivr_digits", "12"), ("read_terminator_used", "#")],
            "12#",
        );
        assert_eq!(terminated.status, AskStatus::Match);
        assert_eq!(terminated.terminator, Some('#'));
        let enough_then_timeout = ask(&four, &[("read_result", "timeout"), ("rivr_digits", "123")], "123");
        assert_eq!(enough_then_timeout.status, AskStatus::Match);
        let too_few = ask(&four, &[("read_result", "failure"), ("rivr_digits", "1")], "1");
        assert_eq!((too_few.status, too_few.digits.as_str()), (AskStatus::NoMatch, "1"));
        let mismatch = ask(&four, &[("read_result", "success"), ("rivr_digits_invalid", "9999")], "9999");
        assert_eq!((mismatch.status, mismatch.digits.as_str()), (AskStatus::NoMatch, "9999"));
        let silence = ask(&four, &[("read_result", "failure")], "");
        assert_eq!(silence.status, AskStatus::NoInput);
        // A terminator left over from an earlier ask does not count.
        let stale = ask(&four, &[("read_result", "failure"), ("read_terminator_used", "#")], "");
        assert_eq!((stale.status, stale.terminator), (AskStatus::NoInput, None));
        let only_terminator = ask(&four, &[("read_result", "failure"), ("read_terminator_used", "#")], "#");
        assert_eq!((only_terminator.status, only_terminator.terminator), (AskStatus::NoMatch, Some('#')));
        let min_zero_timeout = ask(&four, &[("read_result", "timeout")], "");
        assert_eq!(min_zero_timeout.status, AskStatus::NoInput);
        // Enough digits, then the inter-digit timeout, then the regex said no.
        let refused_after_timeout =
            ask(&four, &[("read_result", "timeout"), ("rivr_digits_invalid", "99")], "99");
        assert_eq!(
            (refused_after_timeout.status, refused_after_timeout.digits.as_str()),
            (AskStatus::NoMatch, "99")
        );
    }

    #[test]
    fn ask_without_read_result_failed_to_play() {
        let expect = ask_expect(1);
        let empty = BTreeMap::new();
        assert!(matches!(
            expect.outcome("ask", Finished::App(&empty), &Observed::default()),
            Err(CallError::Failed { verb: "ask", .. })
        ));
    }

    fn dial_outcome_of(targets: &[&str], vars: &[(&str, &str)], observed: &Observed) -> DialOutcome {
        let expect = Expect::Dial(DialExpect { targets: targets.iter().map(|t| t.to_string()).collect() });
        let map: BTreeMap<String, String> = vars
            .iter()
            .map(|(k, v)| {
                let key = if *k == "Event-Date-Timestamp" { k.to_string() } else { format!("variable_{k}") };
                (key, v.to_string())
            })
            .collect();
        match expect.outcome("dial", Finished::App(&map), observed) {
            Ok(Outcome::Dial(outcome)) => outcome,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn dial_outcomes_follow_originate_disposition() {
        let observed =
            Observed { bridged_at: Some(1_000_000), unbridged_at: Some(43_500_000), ..Observed::default() };
        let answered = dial_outcome_of(
            &["user/1000"],
            &[
                ("originate_disposition", "call accepted"),
                ("DIALSTATUS", "ANSWER"),
                ("bridge_hangup_cause", "NORMAL_CLEARING"),
            ],
            &observed,
        );
        assert_eq!(
            answered,
            DialOutcome {
                status: DialStatus::Answered,
                cause: "NORMAL_CLEARING".into(),
                duration: Duration::from_millis(42_500),
                answered_by: Some("user/1000".into()),
            }
        );
        let second = dial_outcome_of(
            &["user/1001", "user/1002"],
            &[("originate_disposition", "call accepted"), ("rivr_dial_leg", "1")],
            &Observed::default(),
        );
        assert_eq!(second.answered_by.as_deref(), Some("user/1002"));
        for (disposition, status) in [
            ("USER_BUSY", DialStatus::Busy),
            ("NO_ANSWER", DialStatus::NoAnswer),
            ("NO_ROUTE_DESTINATION", DialStatus::Failed),
            ("CALL_REJECTED", DialStatus::Failed),
            ("SUBSCRIBER_ABSENT", DialStatus::Failed),
        ] {
            let outcome = dial_outcome_of(
                &["user/1000"],
                &[("originate_disposition", disposition)],
                &Observed::default(),
            );
            assert_eq!((outcome.status, outcome.cause.as_str()), (status, disposition));
            assert_eq!(outcome.duration, Duration::ZERO);
        }
        let early_failure = dial_outcome_of(
            &["bogus"],
            &[("originate_disposition", "failure"), ("originate_failed_cause", "INVALID_GATEWAY")],
            &Observed::default(),
        );
        assert_eq!(
            (early_failure.status, early_failure.cause.as_str()),
            (DialStatus::Failed, "INVALID_GATEWAY")
        );
    }

    #[test]
    fn record_outcomes_from_record_variables() {
        let expect =
            Expect::Record(RecordExpect { path: "/tmp/x.wav".into(), silence: Duration::from_secs(3) });
        let read = |vars: &[(&str, &str)]| {
            let map: BTreeMap<String, String> =
                vars.iter().map(|(k, v)| (format!("variable_{k}"), v.to_string())).collect();
            match expect.outcome("record", Finished::App(&map), &Observed::default()) {
                Ok(Outcome::Record(outcome)) => outcome,
                other => panic!("{other:?}"),
            }
        };
        // outbound-record: `record_ms: 3320`, `silence_hits_exhausted: false`.
        let captured = read(&[
            ("record_ms", "3320"),
            ("record_seconds", "3"),
            ("silence_hits_exhausted", "false"),
            ("playback_terminator_used", ""),
        ]);
        assert_eq!(
            captured,
            RecordOutcome {
                status: RecordStatus::Recorded,
                path: "/tmp/x.wav".into(),
                duration: Duration::from_millis(3320),
                terminator: None,
            }
        );
        let silent = read(&[("record_ms", "3040"), ("silence_hits_exhausted", "true")]);
        assert_eq!(silent.status, RecordStatus::Empty);
        let spoke_then_silent = read(&[("record_ms", "7040"), ("silence_hits_exhausted", "true")]);
        assert_eq!(spoke_then_silent.status, RecordStatus::Recorded);
        let stopped = read(&[("record_ms", "1500"), ("playback_terminator_used", "#")]);
        assert_eq!(stopped.terminator, Some('#'));
        assert_eq!(read(&[]).status, RecordStatus::Empty);
    }

    #[test]
    fn getvar_replies_become_values() {
        let expect = Expect::Value;
        let observed = Observed::default();
        // outbound-errors: the `api uuid_getvar` body is `hello world`.
        assert_eq!(
            expect.outcome("get_var", Finished::Api("hello world"), &observed),
            Ok(Outcome::Value(Some("hello world".into())))
        );
        assert_eq!(expect.outcome("get_var", Finished::Api("_undef_"), &observed), Ok(Outcome::Value(None)));
        assert!(expect.outcome("get_var", Finished::Api("-ERR No such channel!\n"), &observed).is_err());
        // outbound-errors: `getvar fslab_var` → `Reply-Text: hello world`; unset is empty.
        assert_eq!(expect.outcome("get_var", Finished::Api(""), &observed), Ok(Outcome::Value(None)));
    }
}
