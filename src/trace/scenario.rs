//! `rivr trace to-scenario`: a trace as a `*.test.yaml` scenario (see `crate::scenario`), so a
//! real call that went wrong can be kept as a test.
//!
//! Every verb becomes an `expect` step with its exact argument; an ask's keys become one
//! `press` step with `at:`, each key's time since the ask started (a version 1 trace, without
//! key times: `press` steps, or `silence` for each try that timed out); dial and record results go on their
//! `expect` step; HTTP responses become the scenario's canned `http:` answers; the variables the
//! call read become the call's variables; a call the caller hung up gets a `hangup` step there.
//! Masked digits are replaced with stand-ins of the same length that satisfy the ask's regex.

use std::fmt::Write as _;

use serde_json::Value;

use crate::trace::format::{Trace, TraceResult, VerbRecord};
use crate::trace::replay::{stand_in_digits, timed_keys};

/// Why a trace cannot become a scenario.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {message}")]
pub struct ToScenarioError {
    /// The trace file.
    pub path: String,
    /// What is missing.
    pub message: String,
}

/// The scenario file text for `trace`, naming `script` (relative to where the file will be).
///
/// # Errors
/// When a masked ask has no stand-in digits that satisfy its regex.
pub fn to_scenario(trace: &Trace, script: &str) -> Result<String, ToScenarioError> {
    let header = &trace.header;
    let mut out = String::new();
    let _ = writeln!(out, "# Made by `rivr trace to-scenario` from {}", trace.path.display());
    let _ = writeln!(
        out,
        "# (call {}, {} {} at {}).",
        header.call.uuid, header.script, header.version, header.started
    );
    let _ = writeln!(out, "script: {}", quote(script));
    let caller = header.call.caller.clone().or_else(|| header.call.caller_hash.clone()).unwrap_or_default();
    let mut variables: Vec<(String, String)> =
        header.call.variables.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    if !variables.iter().any(|(name, _)| name == "rivr_now") {
        variables.push(("rivr_now".into(), header.started.clone()));
    }
    let mut set = std::collections::HashSet::new();
    for verb in &trace.verbs {
        let name = verb.args.get("name").and_then(Value::as_str).unwrap_or_default().to_string();
        match (verb.verb.as_str(), &verb.result) {
            ("set_var", _) => {
                set.insert(name);
            }
            ("get_var", TraceResult::Value { value: Some(value) })
                if !set.contains(&name) && !variables.iter().any(|(n, _)| *n == name) =>
            {
                variables.push((name, value.clone()));
            }
            _ => {}
        }
    }
    let _ = writeln!(out, "call:");
    let _ = writeln!(out, "  from: {}", quote(&caller));
    let _ = writeln!(out, "  to: {}", quote(&header.call.destination));
    if !header.call.context.is_empty() {
        let _ = writeln!(out, "  context: {}", quote(&header.call.context));
    }
    let _ = writeln!(out, "  variables:");
    for (name, value) in &variables {
        let _ = writeln!(out, "    {}: {}", quote(name), quote(value));
    }
    let _ = writeln!(out, "scenarios:");
    let name = format!("call {} replays as recorded", header.call.uuid);
    let _ = writeln!(out, "  - name: {}", quote(&name));
    let http: Vec<&VerbRecord> = trace.verbs.iter().filter(|v| v.verb.starts_with("http_")).collect();
    if !http.is_empty() {
        let _ = writeln!(out, "    http:");
        for verb in http {
            let method = if verb.verb == "http_get" { "get" } else { "post" };
            let url = verb.args.get("url").and_then(Value::as_str).unwrap_or_default();
            match &verb.result {
                TraceResult::Http { status, body, .. } => {
                    let _ = writeln!(out, "      - {method}: {}", quote(url));
                    let _ = writeln!(out, "        status: {status}");
                    let _ = writeln!(out, "        body: {}", quote(body));
                }
                _ => {
                    let _ = writeln!(out, "      - {method}: {}", quote(url));
                    let _ = writeln!(out, "        error: refused");
                }
            }
        }
    }
    let _ = writeln!(out, "    steps:");
    let mut hung_up = false;
    for verb in &trace.verbs {
        if matches!(verb.verb.as_str(), "get_var" | "set_var" | "log") {
            continue;
        }
        let ended = matches!(verb.result, TraceResult::Hangup { .. } | TraceResult::Transferred);
        if ended {
            // Only the verb the caller hung up in reached the switch; later ones never ran.
            if hung_up || !matches!(verb.result, TraceResult::Hangup { .. }) {
                continue;
            }
            hung_up = true;
            let _ = writeln!(out, "      - hangup");
            continue;
        }
        let argument = argument(verb);
        let expect = if argument.is_empty() {
            verb.verb.clone()
        } else {
            format!("{} {}", verb.verb, pattern(&argument))
        };
        let _ = writeln!(out, "      - expect: {}", quote(&expect));
        match &verb.result {
            TraceResult::Dial { status, duration_ms, .. } => {
                let result = if status == "answered" {
                    format!("answered {}s", duration_ms.div_ceil(1000))
                } else {
                    status.clone()
                };
                let _ = writeln!(out, "        dial: {}", quote(&result));
            }
            TraceResult::Record { status, duration_ms, .. } => {
                let result = if status == "recorded" {
                    format!("recorded {}s", duration_ms.div_ceil(1000))
                } else {
                    status.clone()
                };
                let _ = writeln!(out, "        record: {}", quote(&result));
            }
            TraceResult::Ask { keys: Some(keys), .. } if !keys.is_empty() => {
                let presses = timed_keys(trace, verb, keys)
                    .map_err(|message| ToScenarioError { path: trace.path.display().to_string(), message })?;
                let pressed: String = presses.iter().map(|press| press.key).collect();
                let times: Vec<String> =
                    presses.iter().map(|press| format!("{}ms", press.at.as_millis())).collect();
                let _ = writeln!(out, "      - press: {}", quote(&pressed));
                let _ = writeln!(out, "        at: [{}]", times.join(", "));
            }
            TraceResult::Ask { status, digits, digit_count, terminator, .. } => {
                let digits = match digits {
                    Some(digits) => digits.clone(),
                    None => stand_in_digits(verb, *digit_count).ok_or_else(|| ToScenarioError {
                        path: trace.path.display().to_string(),
                        message: format!(
                            "the ask at {} was masked and no {digit_count}-digit value satisfies its regex",
                            verb.origin.as_deref().unwrap_or("?")
                        ),
                    })?,
                };
                let mut keys = digits;
                if let Some(terminator) = terminator {
                    keys.push(*terminator);
                }
                let tries = verb.args.get("tries").and_then(Value::as_u64).unwrap_or(1).max(1);
                let repeat = if status == "match" { 1 } else { tries };
                for _ in 0..repeat {
                    if keys.is_empty() {
                        let _ = writeln!(out, "      - silence");
                    } else {
                        let _ = writeln!(out, "      - press: {}", quote(&keys));
                    }
                }
            }
            _ => {}
        }
    }
    Ok(out)
}

/// The verb's argument as a scenario matches it (`transcript::Entry::argument`).
fn argument(verb: &VerbRecord) -> String {
    let text = |key: &str| verb.args.get(key).and_then(Value::as_str).unwrap_or_default().to_string();
    let list = |key: &str| -> Vec<String> {
        verb.args
            .get(key)
            .and_then(Value::as_array)
            .map(|items| items.iter().map(|i| i.as_str().unwrap_or_default().to_string()).collect())
            .unwrap_or_default()
    };
    match verb.verb.as_str() {
        "play" | "ask" => list("prompts")
            .iter()
            .map(|p| p.strip_prefix(crate::call::SAY_PROMPT_PREFIX).unwrap_or(p).to_string())
            .collect::<Vec<_>>()
            .join(", "),
        "say" => text("text"),
        "say_number" | "say_digits" | "say_time" | "say_money" => text("value"),
        "dial" => {
            let sequential = verb.args.get("sequential").and_then(Value::as_bool).unwrap_or(false);
            list("targets").join(if sequential { " | " } else { ", " })
        }
        "record" => text("name"),
        "transfer" => {
            let context = text("context");
            if context.is_empty() {
                text("extension")
            } else {
                format!("{} {context}", text("extension"))
            }
        }
        "hangup" | "reject" => text("cause"),
        "send_dtmf" => text("digits"),
        "sleep" => verb.args.get("ms").map(Value::to_string).unwrap_or_default(),
        "execute" => format!("{} {}", text("app"), text("args")).trim_end().to_string(),
        "http_get" | "http_post" => text("url"),
        _ => String::new(),
    }
}

/// An exact-match pattern for `text`: the text itself when nothing in it means something to a
/// pattern, else an anchored regex.
fn pattern(text: &str) -> String {
    let plain = !text.contains(['*', '?', '"', '\'', MASK]) && !text.starts_with('/') && text.trim() == text;
    if plain {
        text.to_string()
    } else {
        // A masked key (•) matches any key: the scenario presses stand-ins for masked digits.
        format!("/^{}$/", regex::escape(text).replace(MASK, "[0-9*#A-D]"))
    }
}

/// What a trace writes for each masked key.
const MASK: char = '•';

/// A YAML double-quoted scalar (a JSON string is one).
fn quote(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_default()
}
