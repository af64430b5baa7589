//! `TraceRecorder`: one call's trace, built as the call runs. It is a `CallObserver` (like the
//! live call table), so it sees every command and its result on the call's task; it only
//! formats lines in memory there, and hands the finished file to whoever writes it.
//!
//! Masking happens here, before anything is formatted: an `ask` with `sensitive: true`, or on a
//! verb of `traces.mask_dtmf`, keeps only its digit count and when each key came (not which key
//! it was, but for the ask's terminators); and those digits (three or more) are
//! blotted out of every later line (a script that reads a PIN back with `say_digits` or posts it
//! to a service does not leak it into the file).

use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::call::{CallError, CallInfo, CallObserver, Command, DtmfKeys, Origin, Outcome};
use crate::config::MaskedVerb;
use crate::script::runner::{CallReport, Ending};
use crate::trace::format::{self, CallStart, EndRecord, Header, Line, VerbRecord, TRACE_VERSION};

/// What a trace may hold, and who writes it.
#[derive(Clone, Debug, Default)]
pub struct RecorderSettings {
    /// `run`, `sim`, `test` or `replay`: written in the header.
    pub recorder: &'static str,
    /// Channel variables kept (an allowlist).
    pub variables: Vec<String>,
    /// Keep a hash of the caller's number instead of the number.
    pub hash_caller: bool,
    /// Key mixed into that hash.
    pub hash_key: Option<String>,
    /// Verbs whose DTMF is masked on every call.
    pub mask_dtmf: Vec<MaskedVerb>,
}

/// Most commands one trace keeps: the sandbox's limits end a runaway flow long before, and this
/// bounds a trace's memory even when they are raised.
pub const MAX_TRACE_VERBS: usize = 10_000;

/// Masked digits shorter than this are not blotted out of later lines: a one- or two-key value
/// would blot out every `1` in the file.
const MIN_SECRET_LEN: usize = 3;

/// The channel variable that gives a call its "now" (`script::api::clock`): always kept, so a
/// replay runs at the time the call ran.
const NOW_VARIABLE: &str = "rivr_now";

/// A finished trace, ready to be written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FinishedTrace {
    /// The file's name: start time and uuid, so names sort by time.
    pub name: String,
    /// The whole file.
    pub text: String,
}

/// One call's trace in the making.
pub struct TraceRecorder {
    name: String,
    mask_ask: bool,
    mask_send_dtmf: bool,
    started: Instant,
    inner: Mutex<Inner>,
}

struct Inner {
    text: String,
    verbs: usize,
    current: Option<Started>,
    secrets: Vec<String>,
    finished: bool,
    /// The last stdlib call a verb ran inside, and its visit number.
    site: Option<(std::sync::Arc<crate::call::Site>, u64)>,
}

struct Started {
    verb: &'static str,
    args: Value,
    mask: bool,
    /// An ask's terminators: a masked ask's keys keep these (they are never its digits).
    terminators: DtmfKeys,
    origin: Option<String>,
    site: Option<format::SiteRecord>,
    at: Duration,
}

impl TraceRecorder {
    /// Start the trace of the call `info`, running `script` at `version`.
    pub fn start(info: &CallInfo, script: &str, version: &str, settings: &RecorderSettings) -> Self {
        let now = jiff::Timestamp::now();
        let (caller, caller_hash) = if settings.hash_caller {
            (None, Some(hash_number(&info.caller_id_number, settings.hash_key.as_deref())))
        } else {
            (Some(info.caller_id_number.clone()), None)
        };
        let variables = info
            .variables
            .iter()
            .filter(|(name, _)| *name == NOW_VARIABLE || settings.variables.iter().any(|v| v == name))
            .map(|(name, value)| (name.to_string(), value.to_string()))
            .collect();
        let header = Header {
            trace: TRACE_VERSION,
            call: CallStart {
                uuid: info.uuid.clone(),
                caller,
                caller_hash,
                caller_name: info.caller_id_name.clone(),
                destination: info.destination.clone(),
                context: info.context.clone(),
                route: info.route.clone(),
                variables,
            },
            script: script.to_string(),
            version: version.to_string(),
            started: now.to_string(),
            recorder: settings.recorder.to_string(),
            mask_dtmf: settings
                .mask_dtmf
                .iter()
                .map(|verb| match verb {
                    MaskedVerb::Ask => "ask".to_string(),
                    MaskedVerb::SendDtmf => "send_dtmf".to_string(),
                })
                .collect(),
        };
        let mut text = serde_json::to_string(&header).unwrap_or_default();
        text.push('\n');
        let safe_uuid: String =
            info.uuid.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_').collect();
        TraceRecorder {
            name: format!("{:013}-{safe_uuid}.trace.jsonl", now.as_millisecond()),
            mask_ask: settings.mask_dtmf.contains(&MaskedVerb::Ask),
            mask_send_dtmf: settings.mask_dtmf.contains(&MaskedVerb::SendDtmf),
            started: Instant::now(),
            inner: Mutex::new(Inner {
                text,
                verbs: 0,
                current: None,
                secrets: Vec::new(),
                finished: false,
                site: None,
            }),
        }
    }

    /// The file name the trace will have.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// How many verbs the trace holds so far.
    pub fn verbs_so_far(&self) -> usize {
        self.lock().verbs
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// End the trace with how the call ended (`None`: unknown, e.g. the fallback ran without a
    /// script) and take the file. Later calls give the same file without a second `end` line.
    pub fn finish(&self, report: Option<&CallReport>) -> FinishedTrace {
        let at_ms = format::millis(self.started.elapsed());
        let mut inner = self.lock();
        if !inner.finished {
            inner.finished = true;
            let end = end_record(report, at_ms);
            let line = to_line(&Line::End(end), &inner.secrets);
            inner.text.push_str(&line);
        }
        FinishedTrace { name: self.name.clone(), text: inner.text.clone() }
    }
}

impl CallObserver for TraceRecorder {
    fn verb_started(&self, command: &Command, origin: Option<&Origin>) {
        let mask = match command {
            Command::Ask(ask) => ask.sensitive || self.mask_ask,
            Command::SendDtmf(_) => self.mask_send_dtmf,
            _ => false,
        };
        let mut inner = self.lock();
        if let Command::SendDtmf(digits) = command {
            if mask && digits.as_str().len() >= MIN_SECRET_LEN {
                inner.secrets.push(digits.as_str().to_string());
            }
        }
        let site = origin.and_then(|o| o.within.as_ref()).map(|within| {
            let visit = match &inner.site {
                Some((last, visit)) if std::sync::Arc::ptr_eq(last, within) => *visit,
                Some((_, visit)) => visit + 1,
                None => 1,
            };
            inner.site = Some((within.clone(), visit));
            format::SiteRecord {
                function: within.function.to_string(),
                at: within.at.to_string(),
                visit,
                keys: within.keys.clone(),
            }
        });
        inner.current = Some(Started {
            verb: command.verb(),
            args: format::args_of(command, mask),
            mask,
            terminators: match command {
                Command::Ask(ask) => ask.terminators.clone(),
                _ => DtmfKeys::default(),
            },
            origin: origin.map(ToString::to_string),
            site,
            at: self.started.elapsed(),
        });
    }

    fn verb_finished(&self, result: &Result<Outcome, CallError>, switch_time: Duration) {
        let mut inner = self.lock();
        let Some(started) = inner.current.take() else { return };
        if inner.finished || inner.verbs >= MAX_TRACE_VERBS {
            return;
        }
        inner.verbs += 1;
        if let (true, Ok(Outcome::Ask(ask))) = (started.mask, result) {
            if ask.digits.len() >= MIN_SECRET_LEN {
                inner.secrets.push(ask.digits.clone());
            }
        }
        let record = VerbRecord {
            n: inner.verbs,
            at_ms: format::millis(started.at),
            switch_ms: format::millis(switch_time),
            origin: started.origin,
            site: started.site,
            verb: started.verb.to_string(),
            args: started.args,
            result: format::result_of(result, started.mask, &started.terminators),
        };
        let line = to_line(&Line::Verb(record), &inner.secrets);
        inner.text.push_str(&line);
    }
}

/// The `end` line for `report`.
fn end_record(report: Option<&CallReport>, at_ms: u64) -> EndRecord {
    let Some(report) = report else {
        return EndRecord {
            at_ms,
            ending: "unknown".into(),
            cause: None,
            failure: None,
            script: String::new(),
        };
    };
    let (ending, cause, failure) = match &report.ending {
        Ending::Completed => ("completed", None, None),
        Ending::HungUp { cause } => ("hung_up", Some(cause.to_string()), None),
        Ending::Transferred => ("transferred", None, None),
        Ending::Failed(failure) => ("failed", None, Some(failure.to_string())),
        Ending::Cancelled => ("cancelled", None, None),
    };
    EndRecord { at_ms, ending: ending.into(), cause, failure, script: report.script.clone() }
}

/// `line` as one line of JSON, with every secret blotted out of its strings.
fn to_line(line: &Line, secrets: &[String]) -> String {
    let mut text = if secrets.is_empty() {
        // Written straight from the record: fields in their documented order.
        serde_json::to_string(line).unwrap_or_default()
    } else {
        let mut value = serde_json::to_value(line).unwrap_or(Value::Null);
        redact(&mut value, secrets);
        value.to_string()
    };
    text.push('\n');
    text
}

/// Blot every secret out of every string in `value`.
fn redact(value: &mut Value, secrets: &[String]) {
    if secrets.is_empty() {
        return;
    }
    match value {
        Value::String(text) => {
            for secret in secrets {
                if text.contains(secret.as_str()) {
                    *text = text.replace(secret.as_str(), &"•".repeat(secret.chars().count()));
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|item| redact(item, secrets)),
        Value::Object(map) => map.values_mut().for_each(|item| redact(item, secrets)),
        _ => {}
    }
}

/// `sha256:` and the first 16 bytes, in hex, of SHA-256 over the key and the number.
pub fn hash_number(number: &str, key: Option<&str>) -> String {
    let mut hasher = Sha256::new();
    if let Some(key) = key {
        // Length-prefixed, so that key and number cannot trade characters.
        hasher.update((key.len() as u64).to_be_bytes());
        hasher.update(key.as_bytes());
    }
    hasher.update(number.as_bytes());
    let digest = hasher.finalize();
    let hex: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::call::{AskOptions, AskOutcome, AskStatus, DtmfTones, KeyPress};

    fn call() -> CallInfo {
        let mut info = CallInfo::new("call-1", "5551234", "1000");
        info.variables.insert("account".into(), "42".into());
        info.variables.insert("sip_auth_password".into(), "hunter2".into());
        info
    }

    fn ask_and_send(recorder: &TraceRecorder, digits: &str) {
        let ask = Command::Ask(AskOptions { max_digits: 8, ..AskOptions::default() });
        recorder.verb_started(&ask, None);
        let outcome = AskOutcome {
            status: AskStatus::Match,
            digits: digits.into(),
            terminator: Some('#'),
            keys: Vec::new(),
        };
        recorder.verb_finished(&Ok(Outcome::Ask(outcome)), Duration::from_millis(900));
        let send = Command::SendDtmf(DtmfTones::parse(digits).expect("tones"));
        recorder.verb_started(&send, None);
        recorder.verb_finished(&Ok(Outcome::Done), Duration::ZERO);
    }

    #[test]
    fn mask_dtmf_on_ask_keeps_only_the_digit_count_of_every_ask_and_what_repeats_them() {
        let settings = RecorderSettings { mask_dtmf: vec![MaskedVerb::Ask], ..RecorderSettings::default() };
        let recorder = TraceRecorder::start(&call(), "main.rhai", "1", &settings);
        ask_and_send(&recorder, "987654");
        let text = recorder.finish(None).text;
        assert!(!text.contains("987654"), "{text}");
        assert!(text.contains(r#""digit_count":6"#) && text.contains(r#""masked":true"#), "{text}");
    }

    /// The trace of one ask with `keys` (each key and its ms), and that ask's `keys` record.
    fn ask_with_keys(sensitive: bool, keys: &[(char, u64)]) -> (String, Value) {
        let recorder = TraceRecorder::start(&call(), "main.rhai", "1", &RecorderSettings::default());
        let ask = Command::Ask(AskOptions {
            max_digits: 8,
            sensitive,
            terminators: DtmfKeys::parse("#").expect("keys"),
            ..AskOptions::default()
        });
        recorder.verb_started(&ask, None);
        let keys: Vec<KeyPress> =
            keys.iter().map(|&(key, ms)| KeyPress { key, at: Duration::from_millis(ms) }).collect();
        let digits: String = keys.iter().map(|k| k.key).filter(|k| *k != '#').collect();
        let outcome = AskOutcome { status: AskStatus::Match, digits, terminator: Some('#'), keys };
        recorder.verb_finished(&Ok(Outcome::Ask(outcome)), Duration::from_millis(3000));
        let text = recorder.finish(None).text;
        let line: Value = serde_json::from_str(text.lines().nth(1).expect("the ask")).expect("json");
        (text, line["result"]["keys"].clone())
    }

    #[test]
    fn an_ask_keeps_each_key_with_its_time_since_the_ask_started() {
        let (_, keys) = ask_with_keys(false, &[('4', 300), ('2', 900), ('#', 2500)]);
        assert_eq!(
            keys,
            serde_json::json!([{"key": "4", "at_ms": 300}, {"key": "2", "at_ms": 900}, {"key": "#", "at_ms": 2500}])
        );
    }

    #[test]
    fn a_masked_asks_key_times_hold_no_digits_only_when_they_came_and_its_terminator() {
        let (text, keys) = ask_with_keys(true, &[('9', 300), ('8', 700), ('7', 1100), ('#', 1500)]);
        assert_eq!(
            keys,
            serde_json::json!([{"at_ms": 300}, {"at_ms": 700}, {"at_ms": 1100}, {"key": "#", "at_ms": 1500}])
        );
        assert!(!text.contains("987") && !text.contains(r#""digits""#), "{text}");
    }

    #[test]
    fn an_ask_whose_switch_reported_no_keys_has_no_key_times_and_so_replays_as_a_burst() {
        let recorder = TraceRecorder::start(&call(), "main.rhai", "1", &RecorderSettings::default());
        recorder.verb_started(&Command::Ask(AskOptions::default()), None);
        let outcome =
            AskOutcome { status: AskStatus::Match, digits: "5".into(), terminator: None, keys: Vec::new() };
        recorder.verb_finished(&Ok(Outcome::Ask(outcome)), Duration::from_millis(10));
        let text = recorder.finish(None).text;
        assert!(text.contains(r#""digits":"5""#) && !text.contains(r#""keys""#), "{text}");
    }

    #[test]
    fn without_masking_the_digits_are_kept_for_replay() {
        let recorder = TraceRecorder::start(&call(), "main.rhai", "1", &RecorderSettings::default());
        ask_and_send(&recorder, "987654");
        assert!(recorder.finish(None).text.contains(r#""digits":"987654""#));
    }

    #[test]
    fn only_allowlisted_channel_variables_and_a_hashed_caller_reach_the_header() {
        let settings = RecorderSettings {
            variables: vec!["account".into()],
            hash_caller: true,
            hash_key: Some("k".into()),
            ..RecorderSettings::default()
        };
        let text = TraceRecorder::start(&call(), "main.rhai", "1", &settings).finish(None).text;
        assert!(text.contains(r#""account":"42""#), "{text}");
        assert!(!text.contains("hunter2") && !text.contains("5551234"), "{text}");
        assert!(text.contains(&hash_number("5551234", Some("k"))));
        assert_ne!(hash_number("5551234", Some("k")), hash_number("5551234", Some("other")));
    }
}
