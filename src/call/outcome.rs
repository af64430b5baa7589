//! `Outcome`: what a command produced, typed per verb, with status enums a script can branch on.

use std::fmt;
use std::time::Duration;

use crate::call::http::HttpResponse;
use crate::cause::HangupCause;

/// The result of one executed command.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// The command finished and has nothing to report.
    Done,
    /// Result of `ask`.
    Ask(AskOutcome),
    /// Result of `dial`.
    Dial(DialOutcome),
    /// Result of `record`.
    Record(RecordOutcome),
    /// A variable's value (`get_var`); `None` when unset.
    Value(Option<String>),
    /// The switch's response text to a raw `execute`.
    Response(String),
    /// The response to `http_get`/`http_post`.
    Http(HttpResponse),
}

/// How an `ask` ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AskStatus {
    /// Digits were collected and satisfied the constraints.
    Match,
    /// Nothing was pressed before the timeout, on every try.
    NoInput,
    /// Digits were pressed but did not satisfy min/max/regex, on the last try.
    NoMatch,
}

impl AskStatus {
    /// The lowercase name scripts see.
    pub fn as_str(self) -> &'static str {
        match self {
            AskStatus::Match => "match",
            AskStatus::NoInput => "noinput",
            AskStatus::NoMatch => "nomatch",
        }
    }
}

/// Result of `ask`.
///
/// Two outcomes are equal when the script sees the same result (status, digits, terminator):
/// when the keys came is how the call went, not what it produced, and no two switches time a
/// caller alike.
#[derive(Clone, Debug)]
pub struct AskOutcome {
    /// How it ended.
    pub status: AskStatus,
    /// The digits collected (without the terminator); empty for `noinput`.
    pub digits: String,
    /// The terminator key pressed, if any.
    pub terminator: Option<char>,
    /// Every key the ask took, on every try (terminators included), with when it came: what a
    /// call trace needs to replay barge-in and timeouts. Empty when the switch did not say.
    pub keys: Vec<KeyPress>,
}

impl PartialEq for AskOutcome {
    fn eq(&self, other: &Self) -> bool {
        self.status == other.status && self.digits == other.digits && self.terminator == other.terminator
    }
}

impl Eq for AskOutcome {}

/// One key a collection took, and when.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyPress {
    /// The key (`0`-`9`, `*`, `#`, `A`-`D`).
    pub key: char,
    /// When the switch took it, since the verb started. A key typed ahead (before the verb)
    /// is taken as the verb starts.
    pub at: Duration,
}

/// How a `dial` ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DialStatus {
    /// A target answered and was bridged; the bridge has since ended.
    Answered,
    /// Every target was busy.
    Busy,
    /// Nothing could be reached: bad target, no route, gateway down, rejected.
    Failed,
    /// Targets rang but nobody answered in time.
    NoAnswer,
}

impl DialStatus {
    /// The lowercase name scripts see.
    pub fn as_str(self) -> &'static str {
        match self {
            DialStatus::Answered => "answered",
            DialStatus::Busy => "busy",
            DialStatus::Failed => "failed",
            DialStatus::NoAnswer => "no_answer",
        }
    }

    /// Parse the lowercase name (as used in sim flags and scenarios).
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "answered" | "answer" => DialStatus::Answered,
            "busy" => DialStatus::Busy,
            "failed" | "fail" => DialStatus::Failed,
            "no_answer" | "noanswer" => DialStatus::NoAnswer,
            _ => return None,
        })
    }
}

impl fmt::Display for DialStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Result of `dial`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DialOutcome {
    /// How it ended.
    pub status: DialStatus,
    /// The Q.850 cause the switch reported (`NORMAL_CLEARING`, `USER_BUSY`, `NO_ANSWER`, …).
    pub cause: HangupCause,
    /// Talk time of the bridge, zero when not answered.
    pub duration: Duration,
    /// The target that answered, when one did.
    pub answered_by: Option<String>,
}

/// How a `record` ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordStatus {
    /// Audio was recorded.
    Recorded,
    /// Nothing usable was recorded (silence from the start).
    Empty,
}

impl RecordStatus {
    /// The lowercase name scripts see.
    pub fn as_str(self) -> &'static str {
        match self {
            RecordStatus::Recorded => "recorded",
            RecordStatus::Empty => "empty",
        }
    }
}

/// Result of `record`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordOutcome {
    /// How it ended.
    pub status: RecordStatus,
    /// Where the switch wrote the file.
    pub path: String,
    /// Length of the recording.
    pub duration: Duration,
    /// The key that stopped the recording, if any.
    pub terminator: Option<char>,
}
