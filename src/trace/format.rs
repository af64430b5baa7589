//! The trace file format, version 2: JSON lines, one call per file.
//!
//! ```text
//! {"trace":2,"call":{…},"script":"main.rhai","version":"1a2b3c4d","started":"2026-11-23T15:00:00Z","recorder":"run"}
//! {"type":"verb","n":1,"at_ms":0,"switch_ms":12,"origin":"main.rhai:30:1","verb":"answer","args":{},"result":{"outcome":"done"}}
//! {"type":"verb","n":2,"at_ms":12,"switch_ms":4180,"origin":"rivr/menu:57:17","verb":"ask","args":{…},"result":{"outcome":"ask","status":"match","digits":"2","digit_count":1,"keys":[{"key":"2","at_ms":1520}]}}
//! {"type":"end","at_ms":9120,"ending":"completed","script":"main.rhai"}
//! ```
//!
//! The first line is the header (`"trace": 2` is the format version); then one `verb` line per
//! command the script ran, in order, with its arguments and its result; then one `end` line. A
//! file without its `end` line is a call that was still running (or a rivr that stopped): it
//! reads as such, it is not corrupt.
//!
//! An ask's result lists every key the ask took (`keys`), on every try, terminators included,
//! each with `at_ms`: when the switch took it, in ms since **the ask started** (its own
//! `at_ms`). A key typed ahead, before the ask, is taken as it starts (`0`). A masked ask keeps
//! only the times: no `key`, except for a key that is one of the ask's terminators (which is
//! never one of the digits). `keys` is absent when the switch did not report them; then a
//! replay presses the ask's keys as one burst, as it does for version 1 traces, which had no
//! `keys` and still read.
//!
//! These record types are the format: they are converted from `Command`/`Outcome` and back, so
//! the files stay the same when the internal types change.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::call::{
    AskOutcome, AskStatus, CallError, Command, DialOutcome, DialStatus, DtmfKeys, HttpResponse, Outcome,
    Prompt, RecordOutcome, RecordStatus,
};
use crate::trace::TraceError;

/// The format version this rivr writes.
pub const TRACE_VERSION: u64 = 2;

/// The oldest format version this rivr reads (version 1: no per-key times).
pub const OLDEST_TRACE_VERSION: u64 = 1;

/// The first line of a trace.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Header {
    /// The format version ([`TRACE_VERSION`]).
    pub trace: u64,
    /// The call as it arrived.
    pub call: CallStart,
    /// The script the call started on (relative to the scripts directory).
    pub script: String,
    /// Its version (a hash of its text, as `rivr run` logs it).
    pub version: String,
    /// When the call started (RFC 3339, UTC).
    pub started: String,
    /// What wrote the trace: `run`, `sim`, `test` or `replay`.
    pub recorder: String,
    /// Verbs whose DTMF was masked on every call (`traces.mask_dtmf`): a replay masks the same.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mask_dtmf: Vec<String>,
}

/// The call's start data, filtered: channel variables only on the allowlist, the caller's
/// number possibly hashed.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CallStart {
    /// The switch's uuid of the call.
    pub uuid: String,
    /// Calling number; absent when hashed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caller: Option<String>,
    /// `sha256:` and a hash of the calling number, when `traces.hash_caller` is on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caller_hash: Option<String>,
    /// Calling name.
    #[serde(default)]
    pub caller_name: String,
    /// Dialled number.
    pub destination: String,
    /// Dialplan context.
    #[serde(default)]
    pub context: String,
    /// The route that took the call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route: Option<String>,
    /// Channel variables on `traces.variables` (and `rivr_now`).
    #[serde(default)]
    pub variables: BTreeMap<String, String>,
}

/// One line after the header.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Line {
    /// One command and what came of it.
    Verb(VerbRecord),
    /// How the call ended.
    End(EndRecord),
}

/// One command the script ran.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VerbRecord {
    /// 1-based number of the command in the call.
    pub n: usize,
    /// When it started, in ms since the call started.
    pub at_ms: u64,
    /// How long it took on the switch, in ms (for `ask`: from the prompt to the last key).
    pub switch_ms: u64,
    /// Where in the script (`file:line:col`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
    /// For a verb the stdlib ran (inside `menu`, `collect::digits`): that stdlib call as the
    /// script made it. Analytics (`rivr stats`) count per script site from it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub site: Option<SiteRecord>,
    /// The script API's verb.
    pub verb: String,
    /// Its arguments (per verb; see the README).
    pub args: Value,
    /// What came of it.
    pub result: TraceResult,
}

/// The stdlib call a verb ran inside: `{"function":"menu","at":"main.rhai:12:5","visit":1,"keys":["1","2"]}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SiteRecord {
    /// `menu`, `digits` or `pin`.
    pub function: String,
    /// Where the script called it (`file:line:col`).
    pub at: String,
    /// Which call of a stdlib function this is in the call (1, 2, …): two verbs with the same
    /// `visit` ran inside the same call of the function.
    pub visit: u64,
    /// A menu's choice keys.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keys: Vec<String>,
}

/// What a command produced, as a trace keeps it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum TraceResult {
    /// Done, nothing to report.
    Done,
    /// The result of `ask`. With `masked`, `digits` is absent and only `digit_count` is kept.
    Ask {
        /// `match`, `nomatch` or `noinput`.
        status: String,
        /// The digits collected, unless masked.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        digits: Option<String>,
        /// How many digits were collected.
        digit_count: usize,
        /// The terminator pressed.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        terminator: Option<char>,
        /// The digits were personal data and are not in the file.
        #[serde(default, skip_serializing_if = "is_false")]
        masked: bool,
        /// Every key the ask took and when; `None` when the switch did not say (and in
        /// version 1 traces).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        keys: Option<Vec<KeyRecord>>,
    },
    /// The result of `dial`.
    Dial {
        /// `answered`, `busy`, `no_answer`, `failed`.
        status: String,
        /// The Q.850 cause.
        cause: String,
        /// Talk time in ms.
        duration_ms: u64,
        /// The target that answered.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        answered_by: Option<String>,
    },
    /// The result of `record`.
    Record {
        /// `recorded` or `empty`.
        status: String,
        /// Where the switch wrote the file.
        path: String,
        /// Its length in ms.
        duration_ms: u64,
        /// The key that stopped it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        terminator: Option<char>,
    },
    /// A variable's value (`get_var`); absent when unset.
    Value {
        /// The value.
        #[serde(default)]
        value: Option<String>,
    },
    /// The switch's response to `execute`.
    Response {
        /// Its text.
        text: String,
    },
    /// An HTTP response (the body as UTF-8 text).
    Http {
        /// Status code.
        status: u16,
        /// Headers.
        #[serde(default)]
        headers: Vec<(String, String)>,
        /// Body.
        #[serde(default)]
        body: String,
    },
    /// The call ended during (or before) the command.
    Hangup {
        /// The hangup cause.
        cause: String,
    },
    /// The call had been transferred.
    Transferred,
    /// The command failed; the script got a catchable error.
    Error {
        /// The error as the script saw it.
        message: String,
    },
}

fn is_false(value: &bool) -> bool {
    !value
}

/// One key an ask took: `{"key":"1","at_ms":1520}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRecord {
    /// The key; absent for a masked ask's digits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<char>,
    /// When the switch took it, in ms since the ask started.
    pub at_ms: u64,
}

/// The key records of an ask's `keys`; `mask` keeps the times of digits but not the digits,
/// and keeps a key of `terminators` (it cannot be one of the digits). `None` when the switch
/// reported no keys for an ask that got some.
fn key_records(ask: &AskOutcome, mask: bool, terminators: &DtmfKeys) -> Option<Vec<KeyRecord>> {
    let pressed_something = !ask.digits.is_empty() || ask.terminator.is_some();
    if ask.keys.is_empty() && pressed_something {
        return None;
    }
    Some(
        ask.keys
            .iter()
            .map(|press| KeyRecord {
                key: (!mask || terminators.contains(press.key)).then_some(press.key),
                at_ms: millis(press.at),
            })
            .collect(),
    )
}

/// The last line: how the call ended.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EndRecord {
    /// When, in ms since the call started.
    pub at_ms: u64,
    /// `completed`, `hung_up`, `transferred`, `failed` or `cancelled`.
    pub ending: String,
    /// The hangup cause, for `hung_up`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause: Option<String>,
    /// The failure (`file:line:col: message`), for `failed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
    /// The script the call ended in (after any `pass`).
    pub script: String,
}

/// A whole trace read back.
#[derive(Clone, Debug, PartialEq)]
pub struct Trace {
    /// The file it came from.
    pub path: PathBuf,
    /// The header.
    pub header: Header,
    /// Every command, in order.
    pub verbs: Vec<VerbRecord>,
    /// How the call ended; `None` when the file has no `end` line (the call was cut short).
    pub end: Option<EndRecord>,
}

impl Trace {
    /// Read and check the trace file at `path`.
    ///
    /// # Errors
    /// When the file can't be read, or a line is not valid (with the file and line number).
    pub fn read(path: &Path) -> Result<Trace, TraceError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| TraceError::Read { path: path.to_path_buf(), source })?;
        Trace::parse(&text, path)
    }

    /// Parse the text of a trace file named `path`.
    ///
    /// # Errors
    /// The first line that is not valid, with the file and line number.
    pub fn parse(text: &str, path: &Path) -> Result<Trace, TraceError> {
        let bad =
            |line: usize, message: String| TraceError::Malformed { path: path.to_path_buf(), line, message };
        let mut lines = text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty());
        let Some((_, first)) = lines.next() else {
            return Err(bad(1, "the file is empty: it is not a rivr trace".into()));
        };
        let value: Value = serde_json::from_str(first)
            .map_err(|e| bad(1, format!("the header is not JSON ({e}): is this a rivr trace?")))?;
        match value.get("trace").and_then(Value::as_u64) {
            Some(OLDEST_TRACE_VERSION..=TRACE_VERSION) => {}
            Some(other) => {
                return Err(bad(
                    1,
                    format!(
                        "trace format version {other}; this rivr reads versions {OLDEST_TRACE_VERSION} to {TRACE_VERSION}: replay it with the rivr that wrote it"
                    ),
                ))
            }
            None => return Err(bad(1, "the header has no `\"trace\": <version>`: it is not a rivr trace".into())),
        }
        let header: Header = serde_json::from_value(value).map_err(|e| bad(1, format!("bad header: {e}")))?;
        let mut verbs = Vec::new();
        let mut end = None;
        for (index, text) in lines {
            let number = index + 1;
            if end.is_some() {
                return Err(bad(number, "a line after the `end` line".into()));
            }
            let line: Line = serde_json::from_str(text).map_err(|e| {
                let hint = if e.is_eof() { " (the line is cut short: was the file truncated?)" } else { "" };
                bad(number, format!("{e}{hint}"))
            })?;
            match line {
                Line::Verb(verb) => verbs.push(verb),
                Line::End(record) => end = Some(record),
            }
        }
        Ok(Trace { path: path.to_path_buf(), header, verbs, end })
    }
}

/// Milliseconds, saturating.
pub fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// The arguments of `command` as a trace keeps them. `mask_digits` hides `send_dtmf`'s digits.
pub fn args_of(command: &Command, mask_digits: bool) -> Value {
    let prompts = |list: &[Prompt]| list.iter().map(ToString::to_string).collect::<Vec<_>>();
    match command {
        Command::Answer | Command::PreAnswer | Command::Ring => json!({}),
        Command::Reject(cause) | Command::Hangup(cause) => json!({ "cause": cause.as_str() }),
        Command::Play(list) => json!({ "prompts": prompts(list) }),
        Command::Say(say) => json!({ "text": say.text, "voice": say.voice, "engine": say.engine }),
        Command::SayAs(say) => json!({ "value": say.value, "language": say.language }),
        Command::Ask(ask) => json!({
            "prompts": prompts(&ask.prompts),
            "min_digits": ask.min_digits,
            "max_digits": ask.max_digits,
            "timeout_ms": millis(ask.timeout),
            "inter_digit_timeout_ms": millis(ask.inter_digit_timeout),
            "terminators": ask.terminators.as_str(),
            "tries": ask.tries,
            "invalid": ask.invalid_prompt.as_ref().map(ToString::to_string),
            "regex": ask.regex.as_ref().map(|r| r.as_str().to_string()),
            "sensitive": ask.sensitive,
        }),
        Command::Dial(dial) => json!({
            "targets": dial.targets,
            "sequential": dial.sequential,
            "timeout_ms": millis(dial.timeout),
            "caller_id_number": dial.caller_id_number,
            "caller_id_name": dial.caller_id_name,
            "confirm": dial.confirm.as_ref().map(ToString::to_string),
            "ringback": dial.ringback,
        }),
        Command::Record(record) => json!({
            "name": record.name,
            "max_duration_ms": millis(record.max_duration),
            "silence_timeout_ms": millis(record.silence_timeout),
            "silence_threshold": record.silence_threshold,
            "beep": record.beep,
            "terminators": record.terminators.as_str(),
        }),
        Command::Transfer(transfer) => {
            json!({ "extension": transfer.extension, "context": transfer.context })
        }
        Command::GetVar(name) => json!({ "name": name }),
        Command::SetVar { name, value } => json!({ "name": name, "value": value }),
        Command::SendDtmf(digits) if mask_digits => {
            json!({ "digit_count": digits.as_str().len(), "masked": true })
        }
        Command::SendDtmf(digits) => json!({ "digits": digits.as_str() }),
        Command::Sleep(duration) => json!({ "ms": millis(*duration) }),
        Command::Execute { app, args } => json!({ "app": app, "args": args }),
        Command::Http(request) => json!({
            "url": request.url,
            "headers": request.headers,
            "body": request.body.as_ref().map(|b| String::from_utf8_lossy(b).into_owned()),
        }),
        Command::Log(line) => json!({ "level": line.level.as_str(), "text": line.text }),
        Command::Publish(publication) => {
            json!({ "type": publication.kind.as_str(), "data": publication.data })
        }
    }
}

/// A command's result as a trace keeps it; `mask` hides an `ask`'s digits (and its keys,
/// but for those of `terminators`, the ask's).
pub fn result_of(result: &Result<Outcome, CallError>, mask: bool, terminators: &DtmfKeys) -> TraceResult {
    match result {
        Ok(Outcome::Done) => TraceResult::Done,
        Ok(Outcome::Ask(ask)) => TraceResult::Ask {
            status: ask.status.as_str().into(),
            digits: (!mask).then(|| ask.digits.clone()),
            digit_count: ask.digits.chars().count(),
            terminator: ask.terminator,
            masked: mask,
            keys: key_records(ask, mask, terminators),
        },
        Ok(Outcome::Dial(dial)) => TraceResult::Dial {
            status: dial.status.as_str().into(),
            cause: dial.cause.to_string(),
            duration_ms: millis(dial.duration),
            answered_by: dial.answered_by.clone(),
        },
        Ok(Outcome::Record(record)) => TraceResult::Record {
            status: record.status.as_str().into(),
            path: record.path.clone(),
            duration_ms: millis(record.duration),
            terminator: record.terminator,
        },
        Ok(Outcome::Value(value)) => TraceResult::Value { value: value.clone() },
        Ok(Outcome::Response(text)) => TraceResult::Response { text: text.clone() },
        Ok(Outcome::Http(response)) => TraceResult::Http {
            status: response.status,
            headers: response.headers.clone(),
            body: String::from_utf8_lossy(&response.body).into_owned(),
        },
        Err(CallError::Hangup { cause }) => TraceResult::Hangup { cause: cause.to_string() },
        Err(CallError::Transferred) => TraceResult::Transferred,
        Err(error) => TraceResult::Error { message: error.to_string() },
    }
}

impl TraceResult {
    /// Whether a replay got the same result: everything but when an ask's keys came.
    pub fn same_as(&self, other: &TraceResult) -> bool {
        match (self, other) {
            (
                TraceResult::Ask { status, digits, digit_count, terminator, masked, keys: _ },
                TraceResult::Ask {
                    status: other_status,
                    digits: other_digits,
                    digit_count: other_count,
                    terminator: other_terminator,
                    masked: other_masked,
                    keys: _,
                },
            ) => {
                (status, digits, digit_count, terminator, masked)
                    == (other_status, other_digits, other_count, other_terminator, other_masked)
            }
            _ => self == other,
        }
    }

    /// The outcome a replay answers with, for the results a replay reproduces (dial, record,
    /// get_var, execute, HTTP); `None` for the others.
    pub fn to_outcome(&self) -> Option<Outcome> {
        Some(match self {
            TraceResult::Done => Outcome::Done,
            TraceResult::Dial { status, cause, duration_ms, answered_by } => Outcome::Dial(DialOutcome {
                status: DialStatus::parse(status)?,
                cause: cause.as_str().into(),
                duration: Duration::from_millis(*duration_ms),
                answered_by: answered_by.clone(),
            }),
            TraceResult::Record { status, path, duration_ms, terminator } => Outcome::Record(RecordOutcome {
                status: if status == "empty" { RecordStatus::Empty } else { RecordStatus::Recorded },
                path: path.clone(),
                duration: Duration::from_millis(*duration_ms),
                terminator: *terminator,
            }),
            TraceResult::Value { value } => Outcome::Value(value.clone()),
            TraceResult::Response { text } => Outcome::Response(text.clone()),
            TraceResult::Http { status, headers, body } => Outcome::Http(HttpResponse {
                status: *status,
                headers: headers.clone(),
                body: body.clone().into_bytes(),
            }),
            TraceResult::Ask { status, digits: Some(digits), terminator, .. } => Outcome::Ask(AskOutcome {
                status: match status.as_str() {
                    "match" => AskStatus::Match,
                    "nomatch" => AskStatus::NoMatch,
                    _ => AskStatus::NoInput,
                },
                digits: digits.clone(),
                terminator: *terminator,
                keys: Vec::new(),
            }),
            _ => return None,
        })
    }

    /// One line for a report: `match "2"`, `busy (USER_BUSY)`, `caller hung up`.
    pub fn shown(&self) -> String {
        match self {
            TraceResult::Done => "done".into(),
            TraceResult::Ask { status, digits: Some(digits), .. } if !digits.is_empty() => {
                format!("{status} {digits:?}")
            }
            TraceResult::Ask { status, masked: true, digit_count, .. } if *digit_count > 0 => {
                format!("{status} ({digit_count} masked digits)")
            }
            TraceResult::Ask { status, .. } => status.clone(),
            TraceResult::Dial { status, cause, .. } => format!("{status} ({cause})"),
            TraceResult::Record { status, duration_ms, .. } => format!("{status} ({duration_ms} ms)"),
            TraceResult::Value { value: Some(value) } => format!("{value:?}"),
            TraceResult::Value { value: None } => "unset".into(),
            TraceResult::Response { text } => text.clone(),
            TraceResult::Http { status, .. } => format!("HTTP {status}"),
            TraceResult::Hangup { cause } => format!("the call ended ({cause})"),
            TraceResult::Transferred => "transferred".into(),
            TraceResult::Error { message } => format!("error: {message}"),
        }
    }
}

impl VerbRecord {
    /// One line for a report and transcripts: `ask: say:For sales… → match "1"  (main.rhai:3:1)`.
    pub fn shown(&self) -> String {
        let args = short_args(&self.args);
        let origin = self.origin.as_deref().map(|o| format!("  at {o}")).unwrap_or_default();
        if args.is_empty() {
            format!("{} → {}{origin}", self.verb, self.result.shown())
        } else {
            format!("{}: {args} → {}{origin}", self.verb, self.result.shown())
        }
    }
}

/// The main argument of a verb's `args` in a few words.
fn short_args(args: &Value) -> String {
    for key in
        ["prompts", "text", "value", "targets", "name", "extension", "url", "cause", "digits", "app", "ms"]
    {
        match args.get(key) {
            Some(Value::Array(items)) => {
                return items
                    .iter()
                    .map(|i| i.as_str().unwrap_or_default().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            }
            Some(Value::String(text)) => {
                let text = text.clone();
                return match args.get("value") {
                    Some(Value::String(value)) if key == "name" => format!("{text}={value}"),
                    _ => text,
                };
            }
            Some(Value::Number(n)) => return n.to_string(),
            _ => {}
        }
    }
    String::new()
}

impl EndRecord {
    /// `completed`, `hung_up (NORMAL_CLEARING)`, `failed at main.rhai:3:1: …`.
    pub fn shown(&self) -> String {
        match (&self.cause, &self.failure) {
            (Some(cause), _) => format!("{} ({cause})", self.ending),
            (_, Some(failure)) => format!("{} at {failure}", self.ending),
            _ => self.ending.clone(),
        }
    }
}
