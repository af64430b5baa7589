//! Running scenarios on the simulated switch and comparing what the flow did with the steps.

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tracing::Instrument;

use crate::call::actor::CallServices;
use crate::call::fiber::Fibers;
use crate::call::http::{CannedHttp, HttpError, HttpRequest, HttpResponse};
use crate::call::{actor, CallError, Command};
use crate::config::Limits;
use crate::scenario::report::{Outcome, ScenarioResult};
use crate::scenario::{Expectation, Scenario, StepAction};
use crate::script::engine::STACK_SIZE;
use crate::script::runner::{self, CallJob, Ending};
use crate::script::ScriptStore;
use crate::switch::sim::{CallerAction, Entry, Journal, SimChannel, SimSetup};

/// How to run scenarios.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// Sandbox limits for the scripts.
    pub limits: Limits,
    /// Scenarios run at once.
    pub parallel: usize,
    /// Write each scenario's call trace into this directory (`rivr test --traces`).
    pub traces: Option<PathBuf>,
}

impl Default for RunOptions {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
        RunOptions { limits: Limits::default(), parallel: cores * 4, traces: None }
    }
}

/// Compiled scripts per directory, shared by the scenarios that use them.
struct Stores {
    limits: Limits,
    stores: Mutex<HashMap<PathBuf, Arc<ScriptStore>>>,
}

impl Stores {
    fn for_dir(&self, dir: &Path) -> Arc<ScriptStore> {
        let mut stores = self.stores.lock().unwrap_or_else(|p| p.into_inner());
        stores
            .entry(dir.to_path_buf())
            .or_insert_with(|| Arc::new(ScriptStore::load(dir, &self.limits).0))
            .clone()
    }
}

/// Run every scenario, several at once; results come back in the scenarios' order.
pub fn run_all(scenarios: &[Scenario], options: &RunOptions) -> Vec<ScenarioResult> {
    let runtime = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            return scenarios
                .iter()
                .map(|s| {
                    ScenarioResult::failed(s, format!("cannot start the simulator: {error}"), Vec::new(), 0.0)
                })
                .collect()
        }
    };
    let stores = Stores { limits: options.limits.clone(), stores: Mutex::default() };
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<ScenarioResult>>> =
        Mutex::new((0..scenarios.len()).map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..options.parallel.max(1).min(scenarios.len().max(1)) {
            scope.spawn(|| loop {
                let index = next.fetch_add(1, Ordering::Relaxed);
                let Some(scenario) = scenarios.get(index) else { break };
                let result = run_one(&runtime, &stores, scenario, options);
                results.lock().unwrap_or_else(|p| p.into_inner())[index] = Some(result);
            });
        }
    });
    results.into_inner().unwrap_or_else(|p| p.into_inner()).into_iter().flatten().collect()
}

/// The fiber stacks scenarios reuse.
fn stacks() -> Arc<Fibers> {
    static STACKS: OnceLock<Arc<Fibers>> = OnceLock::new();
    STACKS.get_or_init(|| Fibers::new(STACK_SIZE, 64)).clone()
}

/// Run one scenario on `runtime`.
pub fn run_scenario(
    runtime: &tokio::runtime::Runtime,
    scenario: &Scenario,
    options: &RunOptions,
) -> ScenarioResult {
    let stores = Stores { limits: options.limits.clone(), stores: Mutex::default() };
    run_one(runtime, &stores, scenario, options)
}

fn run_one(
    runtime: &tokio::runtime::Runtime,
    stores: &Stores,
    scenario: &Scenario,
    options: &RunOptions,
) -> ScenarioResult {
    let started = Instant::now();
    let dir = scenario.script.parent().map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("."));
    let store = stores.for_dir(&dir);
    let script = match store.compiler().compile_file(&scenario.script) {
        Ok(script) => Arc::new(script),
        Err(problem) => {
            return ScenarioResult::failed(
                scenario,
                format!("the script does not compile: {problem}"),
                Vec::new(),
                0.0,
            )
        }
    };

    let journal = Journal::new();
    let (tx, rx) = mpsc::unbounded_channel();
    let mut actions = 0;
    for step in &scenario.steps {
        if let StepAction::Caller(action) = &step.action {
            actions += 1;
            let _ = tx.send(action.clone());
        }
    }
    drop(tx);
    let setup = SimSetup {
        dials: VecDeque::from(scenario.dials.clone()),
        records: VecDeque::from(scenario.records.clone()),
        ..SimSetup::default()
    };
    let channel = SimChannel::new(&scenario.info, rx, setup, journal.clone());
    let mut services = CallServices::with_http(Arc::new(canned_http(scenario, journal.clone())));
    let recorder = options.traces.as_ref().map(|_| {
        let settings = crate::trace::RecorderSettings { recorder: "test", ..Default::default() };
        Arc::new(crate::trace::TraceRecorder::start(
            &scenario.info,
            &script.name,
            &script.version_tag(),
            &settings,
        ))
    });
    if let Some(recorder) = &recorder {
        services = services.also_observed(recorder.clone());
    }
    // The script runs as in `rivr run`: on a fiber, driven by the call's task.
    let job = CallJob {
        scripts: Some(store),
        limits: options.limits.clone(),
        ..CallJob::new(scenario.info.clone(), script)
    };
    let span = job.span();
    let fiber = match runner::fiber(&stacks(), job) {
        Ok(fiber) => fiber,
        Err(error) => {
            return ScenarioResult::failed(
                scenario,
                format!("cannot start the script: {error}"),
                Vec::new(),
                0.0,
            )
        }
    };
    // The task writes the last entry before it answers, so the journal is complete at the end.
    let report = runtime.block_on(runtime.spawn(actor::drive(channel, fiber, services).instrument(span)));
    let seconds = started.elapsed().as_secs_f64();
    let entries = journal.entries();
    let transcript: Vec<String> = entries.iter().map(describe).collect();
    let report = match report {
        Ok(report) => report,
        Err(_) => return ScenarioResult::failed(scenario, "the script panicked".into(), transcript, seconds),
    };
    if let (Some(recorder), Some(dir)) = (recorder, &options.traces) {
        let trace = recorder.finish(Some(&report));
        // Scenario calls share uuids across files (`test-1`): the scenario's line keeps names apart.
        let stem = Path::new(&scenario.file)
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        let path = dir.join(format!("{stem}-{}{}", scenario.line, crate::trace::writer::TRACE_SUFFIX));
        if let Err(error) = std::fs::create_dir_all(dir).and_then(|()| std::fs::write(&path, trace.text)) {
            return ScenarioResult::failed(
                scenario,
                format!("cannot write the trace {}: {error}", path.display()),
                transcript,
                seconds,
            );
        }
    }
    if let Ending::Failed(failure) = &report.ending {
        return ScenarioResult::failed(
            scenario,
            format!("the script failed at {failure} (the fallback ran)"),
            transcript,
            seconds,
        );
    }
    match compare(scenario, &entries, journal.input_exhausted(), journal.actions_taken() < actions) {
        Ok(()) => {
            ScenarioResult { outcome: Outcome::Passed, ..ScenarioResult::new(scenario, transcript, seconds) }
        }
        Err(message) => ScenarioResult::failed(scenario, message, transcript, seconds),
    }
}

/// The scenario's canned HTTP answers, each request written to the journal like a verb.
fn canned_http(
    scenario: &Scenario,
    journal: Journal,
) -> CannedHttp<impl Fn(&HttpRequest) -> Result<HttpResponse, HttpError>> {
    let answers = scenario.http.clone();
    CannedHttp(move |request: &HttpRequest| {
        let found = answers.iter().find(|c| c.method == request.method && c.url.matches(&request.url));
        let result = match found {
            None => Err(HttpError::Refused {
                url: request.url.clone(),
                allowed: vec!["the scenario's `http:` answers (add one for this request)".into()],
            }),
            Some(canned) => match canned.error.as_deref() {
                Some("timeout") => Err(HttpError::Timeout {
                    url: request.url.clone(),
                    after: request.timeout.unwrap_or(Duration::from_secs(5)),
                }),
                Some(_) => Err(HttpError::Connect {
                    url: request.url.clone(),
                    reason: "connection refused (scenario)".into(),
                }),
                None => Ok(HttpResponse::new(canned.status, &canned.content_type, canned.body.clone())),
            },
        };
        journal.push(Entry {
            at: Duration::ZERO,
            command: Command::Http(request.clone()),
            origin: None,
            result: match &result {
                Ok(response) => Ok(crate::call::Outcome::Http(response.clone())),
                Err(error) => Err(CallError::Http { verb: request.method.verb(), error: error.clone() }),
            },
        });
        result
    })
}

/// An entry with its place in the script, for transcripts.
fn describe(entry: &Entry) -> String {
    match &entry.origin {
        Some(origin) if origin.line > 0 => format!("{entry}    ({origin})"),
        _ => entry.to_string(),
    }
}

/// Whether an entry only moves data (these are matched only when a step names them).
fn is_quiet(entry: &Entry) -> bool {
    matches!(
        entry.command,
        Command::GetVar(_) | Command::SetVar { .. } | Command::Log(_) | Command::Publish(_)
    )
}

/// Whether the entry never really happened: the caller was already gone when it started.
fn never_ran(entry: &Entry) -> bool {
    entry.result.as_ref().is_err_and(CallError::is_hangup)
        && !matches!(entry.command, Command::Ask(_) | Command::Dial(_) | Command::Record(_))
}

fn matches(expectation: &Expectation, entry: &Entry) -> bool {
    entry.command.verb() == expectation.verb || (expectation.verb == "ask" && entry.command.verb() == "ask")
}

fn compare(
    scenario: &Scenario,
    entries: &[Entry],
    exhausted: bool,
    unused_input: bool,
) -> Result<(), String> {
    let mut next = 0;
    let mut last_step_line = scenario.line;
    let mut expected_hangup = false;
    for (index, step) in scenario.steps.iter().enumerate() {
        let number = index + 1;
        let expectation = match &step.action {
            StepAction::Caller(CallerAction::Hangup | CallerAction::HangupAfter(_)) => {
                expected_hangup = true;
                continue;
            }
            StepAction::Caller(_) => continue,
            StepAction::Expect(expectation) => expectation,
        };
        last_step_line = step.line;
        loop {
            let Some(entry) = entries.get(next) else {
                return Err(format!(
                    "step {number} (line {}): expected {expectation}, but the flow had ended",
                    step.line
                ));
            };
            next += 1;
            let quiet_skip =
                is_quiet(entry) && !matches!(expectation.verb.as_str(), "get_var" | "set_var" | "publish");
            if quiet_skip || (never_ran(entry) && !matches(expectation, entry)) {
                continue;
            }
            if matches(expectation, entry) && expectation.pattern.matches(&entry.argument()) {
                break;
            }
            let place = entry.origin.as_ref().map(|o| format!(" at {o}")).unwrap_or_default();
            return Err(format!(
                "step {number} (line {}): expected {expectation}\n       but the flow did {}{place}",
                step.line,
                entry.to_string().trim()
            ));
        }
    }
    let extra: Vec<&Entry> = entries[next..].iter().filter(|e| !is_quiet(e) && !never_ran(e)).collect();
    if let Some(entry) = extra.first() {
        let waiting = exhausted && !expected_hangup;
        let place = entry.origin.as_ref().map(|o| format!(" at {o}")).unwrap_or_default();
        if waiting && matches!(entry.command, Command::Ask(_) | Command::Record(_)) {
            return Err(format!(
                "the flow was still waiting for input when the steps ran out: {}{place}\n       add the caller's keys (press), `silence` or `hangup` after line {last_step_line}",
                entry.to_string().trim()
            ));
        }
        return Err(format!(
            "the flow did more than the steps expect: {}{place}\n       add `expect: {}` after line {last_step_line}",
            entry.to_string().trim(),
            entry.command.verb()
        ));
    }
    if exhausted && !expected_hangup {
        return Err(format!(
            "the flow was still waiting for input when the steps ran out (after line {last_step_line})"
        ));
    }
    if unused_input {
        return Err("some of the caller's steps (press, wait, silence) were never used: the flow did not ask for that input".into());
    }
    Ok(())
}
