//! `Command`: one variant per verb of the script API, with typed options.
//!
//! Commands are what a script asks of its call. They are plain data so that every verb passes
//! through one seam (`CallHandle::execute`) where the simulator, the scenario runner and the
//! FreeSWITCH mapping can all see them. This module knows nothing of ESL or Rhai.

use std::fmt;
use std::time::Duration;

use crate::call::http::HttpRequest;
use crate::call::{DtmfKeys, DtmfTones, Origin, Pattern};
use crate::cause::HangupCause;

/// One request from a script to its call.
#[derive(Clone, Debug, PartialEq)]
pub enum Command {
    /// Answer the call.
    Answer,
    /// Open early media without answering.
    PreAnswer,
    /// Signal ringing to the caller.
    Ring,
    /// Refuse an unanswered call with a cause.
    Reject(HangupCause),
    /// End the call.
    Hangup(HangupCause),
    /// Play one or more prompts in order.
    Play(Vec<Prompt>),
    /// Speak text with the text-to-speech engine.
    Say(SayOptions),
    /// Render a value as speech (mod_say): numbers, digits, times, money.
    SayAs(SayAs),
    /// Play a prompt and collect DTMF digits.
    Ask(AskOptions),
    /// Bridge the caller to one or more targets.
    Dial(DialOptions),
    /// Record the caller.
    Record(RecordOptions),
    /// Hand the call back to the switch's dialplan.
    Transfer(TransferOptions),
    /// Read a channel variable.
    GetVar(String),
    /// Set a channel variable.
    SetVar {
        /// Variable name.
        name: String,
        /// New value.
        value: String,
    },
    /// Send DTMF digits towards the caller.
    SendDtmf(DtmfTones),
    /// Keep the call up without doing anything.
    Sleep(Duration),
    /// Run any switch application (the escape hatch).
    Execute {
        /// Application name, e.g. `playback`.
        app: String,
        /// Its argument string, passed as is.
        args: String,
    },
    /// Call out to a web service (`http_get`, `http_post`). Carried out by the call actor through
    /// its `HttpClient`, not by the switch.
    Http(HttpRequest),
    /// A line the script wrote (`log`, `print`, `debug`): nothing happens on the switch, but the
    /// line takes its place among the verbs, in the log, the simulator's transcript and (later)
    /// a call's trace.
    Log(LogLine),
    /// An event for the node's sinks (`publish`): nothing happens on the switch; the actor hands
    /// it to its `Publisher`.
    Publish(crate::call::Publication),
}

/// One line a script wrote to its call's log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogLine {
    /// How loud.
    pub level: LogLevel,
    /// What it said.
    pub text: String,
}

/// The level of a script's log line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogLevel {
    /// `log("error", …)`.
    Error,
    /// `log("warn", …)`.
    Warn,
    /// `log(…)`, `log("info", …)`, `print(…)`.
    Info,
    /// `log("debug", …)`, `debug(…)`.
    Debug,
    /// `log("trace", …)`.
    Trace,
}

impl LogLevel {
    /// Parse a level as scripts name it (`warning` is `warn`).
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "error" => LogLevel::Error,
            "warn" | "warning" => LogLevel::Warn,
            "info" => LogLevel::Info,
            "debug" => LogLevel::Debug,
            "trace" => LogLevel::Trace,
            _ => return None,
        })
    }

    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Error => "error",
            LogLevel::Warn => "warn",
            LogLevel::Info => "info",
            LogLevel::Debug => "debug",
            LogLevel::Trace => "trace",
        }
    }
}

impl LogLine {
    /// Write the line to rivr's own log, in the call's span (target `rivr::script`), with the
    /// script and line it came from when known.
    pub fn emit(&self, origin: Option<&Origin>) {
        let text = &self.text;
        let source = origin.map_or("", |o| o.source.as_str());
        let line = origin.map_or(0, |o| o.line);
        match self.level {
            LogLevel::Error => tracing::error!(target: "rivr::script", source, line, "{text}"),
            LogLevel::Warn => tracing::warn!(target: "rivr::script", source, line, "{text}"),
            LogLevel::Info => tracing::info!(target: "rivr::script", source, line, "{text}"),
            LogLevel::Debug => tracing::debug!(target: "rivr::script", source, line, "{text}"),
            LogLevel::Trace => tracing::trace!(target: "rivr::script", source, line, "{text}"),
        }
    }
}

impl Command {
    /// The script-API verb this command comes from, for logs and transcripts.
    pub fn verb(&self) -> &'static str {
        match self {
            Command::Answer => "answer",
            Command::PreAnswer => "pre_answer",
            Command::Ring => "ring",
            Command::Reject(_) => "reject",
            Command::Hangup(_) => "hangup",
            Command::Play(_) => "play",
            Command::Say(_) => "say",
            Command::SayAs(s) => s.kind.verb(),
            Command::Ask(_) => "ask",
            Command::Dial(_) => "dial",
            Command::Record(_) => "record",
            Command::Transfer(_) => "transfer",
            Command::GetVar(_) => "get_var",
            Command::SetVar { .. } => "set_var",
            Command::SendDtmf(_) => "send_dtmf",
            Command::Sleep(_) => "sleep",
            Command::Execute { .. } => "execute",
            Command::Http(request) => request.method.verb(),
            Command::Log(_) => "log",
            Command::Publish(_) => "publish",
        }
    }

    /// Whether the command needs a live call with media. After a hangup these fail at once;
    /// `get_var`/`set_var` stay usable in `on_hangup` from the script's snapshot, and HTTP
    /// requests run there too (reporting a call's result to a CRM is what `on_hangup` is for).
    pub fn needs_media(&self) -> bool {
        !matches!(
            self,
            Command::GetVar(_)
                | Command::SetVar { .. }
                | Command::Http(_)
                | Command::Log(_)
                | Command::Publish(_)
        )
    }

    /// Whether the command plays media or waits for the caller or the far end when it succeeds:
    /// progress a flow makes, as opposed to setting, reading or answering something.
    pub fn takes_call_time(&self) -> bool {
        matches!(
            self,
            Command::Play(_)
                | Command::Say(_)
                | Command::SayAs(_)
                | Command::Ask(_)
                | Command::Dial(_)
                | Command::Record(_)
                | Command::Sleep(_)
        )
    }

    /// Whether the actor still carries the command out once the call has ended: HTTP requests,
    /// log lines and publications, which need no call (`on_hangup` reports a call's result).
    pub fn runs_after_hangup(&self) -> bool {
        matches!(self, Command::Http(_) | Command::Log(_) | Command::Publish(_))
    }
}

/// What a verb plays. Scripts write prompts as strings; [`Prompt::parse`] (or `From<&str>`)
/// tells the kinds apart, and [`fmt::Display`] writes one back as the script wrote it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Prompt {
    /// An audio file, relative to the switch's sound prefix or absolute (`ivr/welcome.wav`).
    File(String),
    /// A generated tone or silence, with its scheme (`tone_stream://%(250,0,800)`,
    /// `silence_stream://500`).
    Tone(String),
    /// A file the switch fetches (`http://…`, `https://…`).
    Url(String),
    /// Text to speech (`say:<text>` in a script), in the configured engine and voice.
    Speech(String),
}

impl Prompt {
    /// The prompt a script wrote as `text`.
    pub fn parse(text: &str) -> Prompt {
        if let Some(speech) = text.strip_prefix(SAY_PROMPT_PREFIX) {
            return Prompt::Speech(speech.to_string());
        }
        let scheme = text.split_once("://").map(|(scheme, _)| scheme.to_ascii_lowercase());
        match scheme.as_deref() {
            Some("tone_stream" | "silence_stream") => Prompt::Tone(text.to_string()),
            Some("http" | "https") => Prompt::Url(text.to_string()),
            _ => Prompt::File(text.to_string()),
        }
    }

    /// The text a transcript shows: speech in quotes, anything else as written.
    pub fn shown(&self) -> ShownPrompt<'_> {
        ShownPrompt(self)
    }

    /// The plain text of the prompt: what is spoken, or the file, tone or URL.
    pub fn text(&self) -> &str {
        match self {
            Prompt::File(text) | Prompt::Tone(text) | Prompt::Url(text) | Prompt::Speech(text) => text,
        }
    }
}

impl From<&str> for Prompt {
    fn from(text: &str) -> Self {
        Prompt::parse(text)
    }
}

impl fmt::Display for Prompt {
    /// As a script writes it (`say:` in front of speech).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Prompt::Speech(text) => write!(f, "{SAY_PROMPT_PREFIX}{text}"),
            Prompt::File(text) | Prompt::Tone(text) | Prompt::Url(text) => f.write_str(text),
        }
    }
}

/// A prompt as a transcript shows it ([`Prompt::shown`]), written without building a `String`.
pub struct ShownPrompt<'a>(&'a Prompt);

impl fmt::Display for ShownPrompt<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Prompt::Speech(text) => write!(f, "{text:?}"),
            Prompt::File(text) | Prompt::Tone(text) | Prompt::Url(text) => f.write_str(text),
        }
    }
}

/// The `say:` prefix that turns a prompt into text to speech.
pub const SAY_PROMPT_PREFIX: &str = "say:";

/// Options of `say(text, #{…})`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SayOptions {
    /// The text to speak.
    pub text: String,
    /// TTS voice; `None` uses the configured default.
    pub voice: Option<String>,
    /// TTS engine; `None` uses the configured default.
    pub engine: Option<String>,
}

/// What `say_number` and friends render.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SayKind {
    /// A value spoken as a sequence of digits.
    Digits,
    /// An amount of money in the language's currency.
    Money,
    /// A whole number, spoken as a number.
    Number,
    /// A time of day or timestamp (seconds since the Unix epoch, or `HH:MM[:SS]`).
    Time,
}

impl SayKind {
    /// The script verb for this kind.
    pub fn verb(self) -> &'static str {
        match self {
            SayKind::Digits => "say_digits",
            SayKind::Money => "say_money",
            SayKind::Number => "say_number",
            SayKind::Time => "say_time",
        }
    }
}

/// Options of the `say_*` verbs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SayAs {
    /// How to render the value.
    pub kind: SayKind,
    /// The value, already formatted as text (`"42"`, `"12.50"`, `"1795472296"`).
    pub value: String,
    /// Language module, e.g. `en`.
    pub language: String,
}

/// Options of `ask(prompt, #{…})`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AskOptions {
    /// Prompts played (with barge-in) before collecting.
    pub prompts: Vec<Prompt>,
    /// Fewest digits that make a valid answer.
    pub min_digits: u32,
    /// Most digits collected; collection stops when reached.
    pub max_digits: u32,
    /// How long to wait for the first digit after the prompt.
    pub timeout: Duration,
    /// How long to wait between digits.
    pub inter_digit_timeout: Duration,
    /// Keys that end collection early (not part of the digits), e.g. `#`.
    pub terminators: DtmfKeys,
    /// How many times to prompt before giving up.
    pub tries: u32,
    /// Prompt played after an invalid or missing answer, before the next try.
    pub invalid_prompt: Option<Prompt>,
    /// A pattern the digits must match to count as valid.
    pub regex: Option<Pattern>,
    /// The digits are personal data (a PIN): a call trace keeps only how many were pressed.
    /// The switch never sees this.
    pub sensitive: bool,
}

impl Default for AskOptions {
    fn default() -> Self {
        AskOptions {
            prompts: Vec::new(),
            min_digits: 1,
            max_digits: 1,
            timeout: Duration::from_secs(5),
            inter_digit_timeout: Duration::from_secs(3),
            terminators: DtmfKeys::parse("#").expect("a key"),
            tries: 1,
            invalid_prompt: None,
            regex: None,
            sensitive: false,
        }
    }
}

/// Options of `dial(to, #{…})`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DialOptions {
    /// Dial strings, e.g. `user/1000` or `sofia/gateway/carrier/15551234567`.
    pub targets: Vec<String>,
    /// Try the targets one after another instead of all at once.
    pub sequential: bool,
    /// How long each attempt may ring.
    pub timeout: Duration,
    /// Caller id number presented to the targets.
    pub caller_id_number: Option<String>,
    /// Caller id name presented to the targets.
    pub caller_id_name: Option<String>,
    /// A prompt the answering party hears and must accept with `1` before being connected.
    pub confirm: Option<Prompt>,
    /// What the caller hears while the targets ring (e.g. `%(2000,4000,440,480)` or a file).
    pub ringback: Option<String>,
}

impl Default for DialOptions {
    fn default() -> Self {
        DialOptions {
            targets: Vec::new(),
            sequential: false,
            timeout: Duration::from_secs(30),
            caller_id_number: None,
            caller_id_name: None,
            confirm: None,
            ringback: None,
        }
    }
}

/// Options of `record(#{…})`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordOptions {
    /// File name of the recording without extension; the backend places it.
    pub name: String,
    /// Longest recording.
    pub max_duration: Duration,
    /// Stop after this much silence.
    pub silence_timeout: Duration,
    /// Energy level below which audio counts as silence.
    pub silence_threshold: u32,
    /// Play a beep first.
    pub beep: bool,
    /// Keys that stop the recording.
    pub terminators: DtmfKeys,
}

impl Default for RecordOptions {
    /// A minute at most, ended by 5 s of silence or `#`, after a beep; the name is left for
    /// the caller to give (the script API names it after the call).
    fn default() -> Self {
        RecordOptions {
            name: String::new(),
            max_duration: Duration::from_secs(60),
            silence_timeout: Duration::from_secs(5),
            silence_threshold: 200,
            beep: true,
            terminators: DtmfKeys::parse("#").expect("a key"),
        }
    }
}

/// Options of `transfer(extension[, context])`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransferOptions {
    /// Extension to continue at.
    pub extension: String,
    /// Dialplan context; `None` keeps the call's current context.
    pub context: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prompt_is_told_apart_by_how_the_script_writes_it() {
        assert_eq!(Prompt::parse("ivr/welcome.wav"), Prompt::File("ivr/welcome.wav".into()));
        assert_eq!(Prompt::parse("say:Hello"), Prompt::Speech("Hello".into()));
        assert_eq!(
            Prompt::parse("tone_stream://%(250,0,800)"),
            Prompt::Tone("tone_stream://%(250,0,800)".into())
        );
        assert_eq!(Prompt::parse("silence_stream://500"), Prompt::Tone("silence_stream://500".into()));
        assert_eq!(
            Prompt::parse("https://cdn.example/a.wav"),
            Prompt::Url("https://cdn.example/a.wav".into())
        );
        // Written back as the script wrote it.
        assert_eq!(Prompt::parse("say:Hello").to_string(), "say:Hello");
        assert_eq!(Prompt::parse("say:Hello").shown().to_string(), "\"Hello\"");
    }
}
