//! The scenario file format, parsed with positions.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::call::{CallInfo, DialStatus, DtmfKeys, KeyPress, RecordStatus};
use crate::config::{Diagnostic, DiagnosticKind, Position, Positioned};
use crate::scenario::Pattern;
use crate::switch::sim::{CallerAction, SimDial, SimRecord, TimedKeys};

/// The verbs an `expect` step may name.
const VERBS: &[&str] = &[
    "answer",
    "pre_answer",
    "ring",
    "reject",
    "hangup",
    "play",
    "say",
    "say_number",
    "say_digits",
    "say_time",
    "say_money",
    "ask",
    "dial",
    "record",
    "transfer",
    "send_dtmf",
    "sleep",
    "execute",
    "get_var",
    "set_var",
    "http_get",
    "http_post",
    "publish",
];

/// A parsed scenario file.
#[derive(Debug)]
pub struct ScenarioFile {
    /// The file, as given.
    pub path: PathBuf,
    /// Its scenarios, in order.
    pub scenarios: Vec<Scenario>,
}

/// One call to simulate and check.
#[derive(Debug)]
pub struct Scenario {
    /// What the scenario is about.
    pub name: String,
    /// The file it came from, as given.
    pub file: String,
    /// Its line in the file.
    pub line: usize,
    /// The script to run.
    pub script: PathBuf,
    /// The call's data.
    pub info: CallInfo,
    /// The steps, in order.
    pub steps: Vec<Step>,
    /// Results of successive dials, from the steps' `dial:` keys.
    pub dials: Vec<SimDial>,
    /// Results of successive recordings, from the steps' `record:` keys.
    pub records: Vec<SimRecord>,
    /// Canned answers to the flow's `http_get`/`http_post`, first match wins.
    pub http: Vec<CannedResponse>,
}

/// A canned HTTP answer: requests whose method and URL match get this response.
#[derive(Clone, Debug)]
pub struct CannedResponse {
    /// `GET` or `POST`.
    pub method: crate::call::http::HttpMethod,
    /// The URL pattern (exact, glob or `/regex/`).
    pub url: Pattern,
    /// The status code (200 by default).
    pub status: u16,
    /// The body's content type.
    pub content_type: String,
    /// The body.
    pub body: Vec<u8>,
    /// Instead of a response, this failure (`timeout` or `refused`).
    pub error: Option<String>,
}

/// One step with its line.
#[derive(Debug)]
pub struct Step {
    /// Line in the scenario file.
    pub line: usize,
    /// What happens.
    pub action: StepAction,
}

/// What a step does.
#[derive(Debug)]
pub enum StepAction {
    /// The caller acts.
    Caller(CallerAction),
    /// The flow must do this next.
    Expect(Expectation),
}

/// An `expect` step.
#[derive(Debug)]
pub struct Expectation {
    /// The verb (`say`, `play`, …; `menu` is written as `ask`).
    pub verb: String,
    /// The argument pattern.
    pub pattern: Pattern,
    /// The step as written, for messages.
    pub written: String,
}

impl std::fmt::Display for Expectation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.written)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    script: Option<String>,
    #[serde(default)]
    call: Option<RawCall>,
    scenarios: Vec<Positioned<RawScenario>>,
    #[serde(default)]
    http: Vec<Positioned<RawHttp>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHttp {
    #[serde(default)]
    get: Option<String>,
    #[serde(default)]
    post: Option<String>,
    #[serde(default)]
    status: Option<u16>,
    #[serde(default)]
    json: Option<serde_json::Value>,
    #[serde(default)]
    body: Option<String>,
    #[serde(default)]
    error: Option<String>,
}

#[derive(Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCall {
    #[serde(default)]
    from: Option<Text>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    to: Option<Text>,
    #[serde(default)]
    context: Option<String>,
    #[serde(default)]
    variables: BTreeMap<String, Text>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScenario {
    name: String,
    #[serde(default)]
    script: Option<String>,
    #[serde(default)]
    call: Option<RawCall>,
    steps: Vec<Positioned<RawStep>>,
    #[serde(default)]
    http: Vec<Positioned<RawHttp>>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawStep {
    Word(String),
    Map(StepMap),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StepMap {
    #[serde(default)]
    press: Option<Text>,
    #[serde(default)]
    wait: Option<Text>,
    /// With `press`: when each key is pressed, since the ask that takes them started.
    #[serde(default)]
    at: Option<Times>,
    #[serde(default)]
    expect: Option<String>,
    #[serde(default)]
    dial: Option<String>,
    #[serde(default)]
    record: Option<String>,
}

/// `at: 1.5s` (every key then) or `at: [500ms, 4s]` (one time per key).
#[derive(Deserialize)]
#[serde(untagged)]
enum Times {
    One(Text),
    Each(Vec<Text>),
}

/// A YAML scalar taken as text, whether written as a string or a number (`press: 1`).
#[derive(Clone, Debug)]
struct Text(String);

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Text;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("text or a number")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Text, E> {
                Ok(Text(v.to_string()))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Text, E> {
                Ok(Text(v.to_string()))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Text, E> {
                Ok(Text(v.to_string()))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Text, E> {
                Ok(Text(v.to_string()))
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

/// Read and parse a scenario file.
///
/// # Errors
/// Every problem found, with file:line:col.
pub fn load(path: &Path) -> Result<ScenarioFile, Vec<Diagnostic>> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| {
        vec![Diagnostic::error(
            &file,
            Position::UNKNOWN,
            DiagnosticKind::InvalidValue,
            format!("cannot read: {e}"),
        )]
    })?;
    parse(&text, path)
}

/// Parse scenario text; `path` names the file and locates relative script paths.
///
/// # Errors
/// Every problem found, with file:line:col.
pub fn parse(text: &str, path: &Path) -> Result<ScenarioFile, Vec<Diagnostic>> {
    let file = path.display().to_string();
    let raw: RawFile = serde_saphyr::from_str(text).map_err(|e| vec![Diagnostic::from_yaml(&file, &e)])?;
    let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut problems = Vec::new();
    let mut scenarios = Vec::new();
    for raw_scenario in raw.scenarios {
        let line = raw_scenario.position().line;
        let raw_scenario = raw_scenario.into_inner();
        let script = match raw_scenario.script.as_ref().or(raw.script.as_ref()) {
            Some(script) => base.join(script),
            None => {
                problems.push(problem(
                    &file,
                    line,
                    format!(
                        "scenario `{}` names no script: add `script: main.rhai` to it or to the file",
                        raw_scenario.name
                    ),
                ));
                continue;
            }
        };
        let call = raw_scenario.call.clone().or(raw.call.clone()).unwrap_or_default();
        let mut info = CallInfo::new(
            format!("test-{}", scenarios.len() + 1),
            call.from.map(|t| t.0).unwrap_or_else(|| "5551234".into()),
            call.to.map(|t| t.0).unwrap_or_else(|| "1000".into()),
        );
        info.caller_id_name = call.name.unwrap_or_default();
        if let Some(context) = call.context {
            info.context = context;
        }
        info.variables = call.variables.into_iter().map(|(k, v)| (k, v.0)).collect();
        let mut scenario = Scenario {
            name: raw_scenario.name,
            file: file.clone(),
            line,
            script,
            info,
            steps: Vec::new(),
            dials: Vec::new(),
            records: Vec::new(),
            http: Vec::new(),
        };
        for raw_http in raw_scenario.http.iter().chain(raw.http.iter()) {
            match canned(raw_http) {
                Ok(response) => scenario.http.push(response),
                Err(message) => problems.push(problem(&file, raw_http.position().line, message)),
            }
        }
        for raw_step in raw_scenario.steps {
            let step_line = raw_step.position().line;
            match step(raw_step.into_inner(), &mut scenario) {
                Ok(StepAction::Caller(CallerAction::Hangup)) => {
                    // The caller hangs up after the flow did what the steps so far expect.
                    let expected =
                        scenario.steps.iter().filter(|s| matches!(s.action, StepAction::Expect(_))).count();
                    let action = StepAction::Caller(CallerAction::HangupAfter(expected));
                    scenario.steps.push(Step { line: step_line, action });
                }
                Ok(action) => scenario.steps.push(Step { line: step_line, action }),
                Err(message) => problems.push(problem(&file, step_line, message)),
            }
        }
        scenarios.push(scenario);
    }
    if problems.is_empty() {
        Ok(ScenarioFile { path: path.to_path_buf(), scenarios })
    } else {
        Err(problems)
    }
}

fn problem(file: &str, line: usize, message: String) -> Diagnostic {
    Diagnostic::error(file, Position::new(line, 1), DiagnosticKind::InvalidValue, message)
}

const STEP_HELP: &str =
    "a step is `press: KEYS`, `wait: 5s`, `silence`, `hangup` or `expect: VERB [ARGUMENT]`";

fn step(raw: RawStep, scenario: &mut Scenario) -> Result<StepAction, String> {
    match raw {
        RawStep::Word(word) => match word.trim() {
            "hangup" => Ok(StepAction::Caller(CallerAction::Hangup)),
            "silence" => Ok(StepAction::Caller(CallerAction::Silence)),
            other => Err(format!("unknown step `{other}`: {STEP_HELP}")),
        },
        RawStep::Map(map) => {
            let actions = [map.press.is_some(), map.wait.is_some(), map.expect.is_some()];
            if actions.iter().filter(|a| **a).count() != 1 {
                return Err(format!("one action per step: {STEP_HELP}"));
            }
            if let Some(Text(keys)) = map.press {
                let keys = match DtmfKeys::parse(keys.trim()) {
                    Ok(keys) if !keys.is_empty() => keys,
                    _ => return Err(format!("press: `{}` is not DTMF (0-9, *, #, A-D)", keys.trim())),
                };
                return match map.at {
                    None => Ok(StepAction::Caller(CallerAction::Press(keys))),
                    Some(times) => timed_press(&keys, times),
                };
            }
            if map.at.is_some() {
                return Err(
                    "`at:` goes with `press:` (when each key is pressed, since the ask started)".into()
                );
            }
            if let Some(Text(wait)) = map.wait {
                return Ok(StepAction::Caller(CallerAction::Wait(duration(&wait)?)));
            }
            let expect = map.expect.unwrap_or_default();
            let (verb, argument) = match expect.trim().split_once(char::is_whitespace) {
                Some((verb, argument)) => (verb.to_string(), argument.to_string()),
                None => (expect.trim().to_string(), String::new()),
            };
            let verb = if verb == "menu" { "ask".to_string() } else { verb };
            if !VERBS.contains(&verb.as_str()) {
                return Err(format!("expect: unknown verb `{verb}` (verbs: {})", VERBS.join(", ")));
            }
            if let Some(dial) = map.dial {
                if verb != "dial" {
                    return Err("`dial:` goes with `expect: dial …`".into());
                }
                scenario.dials.push(dial_result(&dial)?);
            }
            if let Some(record) = map.record {
                if verb != "record" {
                    return Err("`record:` goes with `expect: record`".into());
                }
                scenario.records.push(record_result(&record)?);
            }
            let pattern = Pattern::parse(&argument)?;
            Ok(StepAction::Expect(Expectation { verb, pattern, written: expect.trim().to_string() }))
        }
    }
}

fn canned(raw: &RawHttp) -> Result<CannedResponse, String> {
    use crate::call::http::HttpMethod;
    let (method, url) = match (&raw.get, &raw.post) {
        (Some(url), None) => (HttpMethod::Get, url),
        (None, Some(url)) => (HttpMethod::Post, url),
        _ => return Err("an http answer names one request: `get: URL` or `post: URL`".into()),
    };
    if let Some(error) = &raw.error {
        if error != "timeout" && error != "refused" {
            return Err(format!("http: error `{error}` is not one of: timeout, refused"));
        }
    }
    let (content_type, body) = match (&raw.json, &raw.body) {
        (Some(_), Some(_)) => return Err("http: give `json` or `body`, not both".into()),
        (Some(json), None) => ("application/json".to_string(), json.to_string().into_bytes()),
        (None, Some(body)) => ("text/plain".to_string(), body.clone().into_bytes()),
        (None, None) => ("text/plain".to_string(), Vec::new()),
    };
    Ok(CannedResponse {
        method,
        url: Pattern::parse(url)?,
        status: raw.status.unwrap_or(200),
        content_type,
        body,
        error: raw.error.clone(),
    })
}

/// `5s`, `500ms`, `2m`, or a bare number of seconds.
/// `press: KEYS` with `at:`: each key at its time since the ask that takes them started.
fn timed_press(keys: &DtmfKeys, times: Times) -> Result<StepAction, String> {
    let times = match times {
        Times::One(Text(time)) => vec![duration(&time)?; keys.len()],
        Times::Each(times) => times.iter().map(|Text(time)| duration(time)).collect::<Result<_, _>>()?,
    };
    if times.len() != keys.len() {
        return Err(format!(
            "press: {} keys but {} times in `at:` (give one time, or one per key)",
            keys.len(),
            times.len()
        ));
    }
    if times.windows(2).any(|pair| pair[1] < pair[0]) {
        return Err("press: the times in `at:` go back in time (a caller presses keys in order)".into());
    }
    let presses = keys.keys().zip(times).map(|(key, at)| KeyPress { key, at }).collect();
    Ok(StepAction::Caller(CallerAction::PressAt(TimedKeys::new(presses))))
}

fn duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, scale) = if let Some(n) = text.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = text.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = text.strip_suffix('m') {
        (n, 60.0)
    } else {
        (text, 1.0)
    };
    match number.trim().parse::<f64>() {
        Ok(value) if value >= 0.0 && value * scale <= 86_400.0 => Ok(Duration::from_secs_f64(value * scale)),
        _ => Err(format!("`{text}` is not a duration (write 5s, 500ms or 2m)")),
    }
}

/// `answered`, `answered 30s`, `busy`, `no_answer`, `failed`.
fn dial_result(text: &str) -> Result<SimDial, String> {
    let mut words = text.split_whitespace();
    let status = words.next().and_then(DialStatus::parse).ok_or_else(|| {
        format!("dial: `{text}` is not a dial result (answered [30s], busy, no_answer, failed)")
    })?;
    let length = match words.next() {
        Some(time) => duration(time)?,
        None if status == DialStatus::Answered => Duration::from_secs(30),
        None => Duration::ZERO,
    };
    Ok(SimDial { status, duration: length })
}

/// `recorded`, `recorded 12s`, `empty`.
fn record_result(text: &str) -> Result<SimRecord, String> {
    let mut words = text.split_whitespace();
    let status = match words.next() {
        Some("recorded") => RecordStatus::Recorded,
        Some("empty") => RecordStatus::Empty,
        _ => return Err(format!("record: `{text}` is not a record result (recorded [12s], empty)")),
    };
    let length = match words.next() {
        Some(time) => duration(time)?,
        None if status == RecordStatus::Recorded => Duration::from_secs(5),
        None => Duration::ZERO,
    };
    Ok(SimRecord { status, duration: length })
}
