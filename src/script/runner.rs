//! One call's script run: build the sandboxed engine, run the script (following `pass`), apply
//! the fallback if it fails, hang up when it is done, then run `on_hangup`.
//!
//! A run happens on a fiber of its own (`call::fiber`, `engine::STACK_SIZE` of stack), in
//! `rivr run`, the simulator and the tests alike. Nothing that goes wrong in it reaches another
//! call.

use std::sync::{Arc, OnceLock};

use regex::Regex;
use rhai::{CallFnOptions, EvalAltResult, Scope};

use crate::call::fiber::{Fiber, Fibers};
use crate::call::{CallEnd, CallHandle, CallInfo, CallState, Command, HangupCause, Prompt, TransferOptions};
use crate::config::{Fallback, Limits};
use crate::script::api::{self, CallContext, Scripts, Stop, VerbSettings};
use crate::script::engine;
use crate::script::store::Script;

/// Everything needed to run one call's script, but the handle to the call: that exists only on
/// the script's fiber (see [`fiber`]).
pub struct CallJob {
    /// The call's data (routed: `route` and route variables filled in).
    pub info: CallInfo,
    /// The script version the call starts on.
    pub script: Arc<Script>,
    /// Other scripts, for `pass` and `invoke`.
    pub scripts: Option<Arc<dyn Scripts>>,
    /// Sandbox limits.
    pub limits: Limits,
    /// What to do if the script fails.
    pub fallback: Fallback,
    /// Language for `say_*`.
    pub language: String,
}

/// How a script run ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ending {
    /// The script ran to its end.
    Completed,
    /// The call ended while the script ran; the script was stopped.
    HungUp {
        /// The hangup cause.
        cause: HangupCause,
    },
    /// The script transferred the call back to the dialplan, which goes on with it.
    Transferred,
    /// The script failed or broke a limit; the fallback was applied.
    Failed(Failure),
    /// rivr stopped the script (shutdown).
    Cancelled,
}

/// A script failure with its place.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// The script (or module) the error is in.
    pub source: String,
    /// 1-based line, 0 when unknown.
    pub line: usize,
    /// 1-based column, 0 when unknown.
    pub column: usize,
    /// What went wrong.
    pub message: String,
    /// Which kind of failure, for metrics and events.
    pub kind: FailureKind,
}

/// What kind of failure stopped a script: a fixed set, so it can label a metric.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FailureKind {
    /// An error the script raised or ran into (a type error, an unknown function, `throw`).
    Error,
    /// It computed longer than `limits.compute_budget_ms` without running a verb.
    ComputeBudget,
    /// It ran more than `limits.max_operations`.
    Operations,
    /// Its calls nested deeper than `limits.max_call_depth`.
    CallDepth,
    /// A string, array or map outgrew its limit.
    DataTooLarge,
    /// It broke a per-call limit on the flow (`limits.max_passes`,
    /// `limits.max_verbs_without_progress`).
    Limit,
    /// rivr failed, not the script (an engine panic).
    Internal,
}

impl FailureKind {
    /// The kind as a metric label or event field.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::Error => "error",
            FailureKind::ComputeBudget => "compute_budget",
            FailureKind::Operations => "max_operations",
            FailureKind::CallDepth => "max_call_depth",
            FailureKind::DataTooLarge => "data_too_large",
            FailureKind::Limit => "limit",
            FailureKind::Internal => "internal",
        }
    }

    /// Whether a sandbox or flow limit stopped the script, rather than an error in it.
    pub fn is_limit(self) -> bool {
        !matches!(self, FailureKind::Error | FailureKind::Internal)
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}:{}: {}", self.source, self.line, self.column, self.message)
    }
}

/// What a run did, for logs, tests and the scenario runner.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallReport {
    /// How the main script ended.
    pub ending: Ending,
    /// The script the call ended in (after any `pass`).
    pub script: String,
    /// An error raised by `on_hangup`, if it ran and failed.
    pub on_hangup_error: Option<Failure>,
}

impl CallJob {
    /// A call of `info` running `script` with the defaults: no other scripts, the default
    /// limits and fallback, English for `say_*`.
    pub fn new(info: CallInfo, script: Arc<Script>) -> Self {
        CallJob {
            info,
            script,
            scripts: None,
            limits: Limits::default(),
            fallback: Fallback::default(),
            language: DEFAULT_LANGUAGE.into(),
        }
    }

    /// The tracing span the call's script runs in: uuid, route, script and version on every line.
    ///
    /// An `error` span, so that it is on whatever the log level: at `warn` an `info` span was
    /// off, and a call's warnings and errors (its script failing, its own `log("warn", …)`)
    /// could not be told apart. Being on costs about 1 % of a call's CPU at `warn`, within the
    /// noise (BENCHMARKS.md, log level).
    pub fn span(&self) -> tracing::Span {
        tracing::error_span!(
            "call",
            uuid = %self.info.uuid,
            route = self.info.route.as_deref().unwrap_or(""),
            script = %self.script.name,
            version = %self.script.version_tag(),
        )
    }
}

/// The `say_*` language of a call whose route names none (`mod_say_en`).
pub const DEFAULT_LANGUAGE: &str = "en";

/// A fiber from `fibers` that runs `job` for a new call; drive it with `call::actor::drive`
/// inside the job's [`CallJob::span`].
///
/// # Errors
/// When the OS refuses the fiber's stack.
pub fn fiber(fibers: &Arc<Fibers>, job: CallJob) -> std::io::Result<Fiber<CallReport>> {
    fibers.fiber(Arc::new(CallState::default()), move |handle| run(handle, job))
}

/// Run `job` through `handle`, on its fiber. The fiber's driver enters the call's span
/// ([`CallJob::span`]) around every resume: a span entered inside the fiber would stay entered
/// on whichever worker thread the fiber last ran on.
///
/// A panic inside the engine (a bug in Rhai or in a verb) ends only this call: it is caught here,
/// logged, and the call is hung up.
pub fn run(handle: CallHandle, job: CallJob) -> CallReport {
    let script = job.script.name.clone();
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run_unguarded(handle.clone(), job))) {
        Ok(report) => report,
        Err(panic) => {
            let message = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            tracing::error!(%script, %message, "script engine panicked; ending this call");
            if !handle.is_hung_up() {
                let _ = handle.execute(Command::Hangup(
                    HangupCause::parse("NORMAL_TEMPORARY_FAILURE").unwrap_or_else(HangupCause::normal),
                ));
            }
            CallReport {
                ending: Ending::Failed(Failure {
                    source: script.clone(),
                    line: 0,
                    column: 0,
                    message: format!("internal error: {message}"),
                    kind: FailureKind::Internal,
                }),
                script,
                on_hangup_error: None,
            }
        }
    }
}

fn run_unguarded(handle: CallHandle, job: CallJob) -> CallReport {
    let CallJob { info, script, scripts, limits, fallback, language } = job;
    let settings = VerbSettings { language, limits: limits.clone() };
    let ctx = CallContext::new(handle.clone(), info, settings, scripts.clone());
    let mut engine = engine::sandboxed(&limits);
    api::install(&mut engine, &ctx);
    crate::script::stdlib::register_globals(&mut engine);
    ctx.restart_budget();

    let mut current = script;
    let mut scope = Scope::new();
    let ending = loop {
        scope.clear();
        match engine.run_ast_with_scope(&mut scope, &current.ast) {
            Ok(()) => break Ending::Completed,
            Err(error) => match Stop::of(&error) {
                Some(Stop::Hangup) => match handle.state().end() {
                    CallEnd::HungUp(cause) => break Ending::HungUp { cause },
                    CallEnd::Transferred => break Ending::Transferred,
                },
                Some(Stop::Shutdown) => break Ending::Cancelled,
                Some(Stop::Pass) => {
                    let next =
                        ctx.take_pass().and_then(|name| scripts.as_ref().and_then(|s| s.script(&name)));
                    match next {
                        Some(next) => {
                            tracing::info!(from = %current.name, to = %next.name, "pass");
                            current = next;
                            ctx.restart_budget();
                        }
                        None => break Ending::Failed(failure(&current.name, &error, &limits)),
                    }
                }
                Some(Stop::Deadline | Stop::Limit) | None => {
                    break Ending::Failed(failure(&current.name, &error, &limits))
                }
            },
        }
    };

    match &ending {
        Ending::Completed => {
            if !handle.is_hung_up() {
                let _ = handle.execute(Command::Hangup(HangupCause::normal()));
            }
        }
        Ending::HungUp { cause } => tracing::info!(%cause, "caller hung up"),
        Ending::Transferred => tracing::info!("transferred to the dialplan"),
        Ending::Failed(failed) => {
            tracing::error!(at = %failed, "script failed; applying the fallback");
            apply_fallback(&handle, &fallback);
        }
        Ending::Cancelled => {
            if !handle.is_hung_up() {
                let _ = handle.execute(Command::Hangup(HangupCause::normal()));
            }
        }
    }

    let mut on_hangup_error = None;
    if current.has_on_hangup && ending != Ending::Cancelled {
        ctx.enter_on_hangup();
        let options = CallFnOptions::new().eval_ast(false).rewind_scope(true);
        if let Err(error) =
            engine.call_fn_with_options::<rhai::Dynamic>(options, &mut scope, &current.ast, "on_hangup", ())
        {
            let failed = failure(&current.name, &error, &limits);
            tracing::warn!(at = %failed, "on_hangup failed");
            on_hangup_error = Some(failed);
        }
    }
    CallReport { ending, script: current.name.clone(), on_hangup_error }
}

/// Apply the fallback to a call whose script failed. Errors are ignored: the call may be gone.
pub fn apply_fallback(handle: &CallHandle, fallback: &Fallback) {
    if handle.is_hung_up() {
        return;
    }
    match fallback {
        Fallback::Hangup { prompt, cause } => {
            if let Some(prompt) = prompt {
                let _ = handle.execute(Command::Play(vec![Prompt::parse(prompt)]));
            }
            let cause = HangupCause::parse(cause).unwrap_or_else(HangupCause::normal);
            let _ = handle.execute(Command::Hangup(cause));
        }
        Fallback::Transfer { extension, context } => {
            let options = TransferOptions { extension: extension.clone(), context: context.clone() };
            if handle.execute(Command::Transfer(options)).is_err() && !handle.is_hung_up() {
                let _ = handle.execute(Command::Hangup(HangupCause::normal()));
            }
        }
    }
}

/// Describe a script error: where (the innermost place) and what, with a hint for limits.
pub fn failure(script: &str, error: &EvalAltResult, limits: &Limits) -> Failure {
    let mut source = script.to_string();
    let mut current = error;
    let mut position = error.position();
    let mut chain = Vec::new();
    loop {
        match current {
            EvalAltResult::ErrorInFunctionCall(name, fn_source, inner, _) => {
                if !fn_source.is_empty() {
                    source = fn_source.clone();
                }
                chain.push(name.clone());
                current = inner;
            }
            EvalAltResult::ErrorInModule(module, inner, _) => {
                source = module.clone();
                current = inner;
            }
            _ => break,
        }
        if !current.position().is_none() {
            position = current.position();
        }
    }
    let (kind, message) = match current {
        EvalAltResult::ErrorTerminated(token, _) if token.to_string() == Stop::Deadline.token() => (
            FailureKind::ComputeBudget,
            format!(
                "computed for more than {} ms without running a verb (limits.compute_budget_ms); is there an endless loop?",
                limits.compute_budget_ms
            ),
        ),
        EvalAltResult::ErrorTerminated(token, _) if Stop::limit_message(&token.to_string()).is_some() => {
            (FailureKind::Limit, Stop::limit_message(&token.to_string()).unwrap_or_default().to_string())
        }
        EvalAltResult::ErrorTerminated(token, _) if token.to_string() == Stop::Pass.token() => {
            (FailureKind::Error, "pass: the target script is gone".to_string())
        }
        EvalAltResult::ErrorTooManyOperations(_) => (
            FailureKind::Operations,
            format!("ran more than {} operations (limits.max_operations)", limits.max_operations),
        ),
        EvalAltResult::ErrorStackOverflow(_) => (
            FailureKind::CallDepth,
            format!(
                "function calls nested deeper than {} (limits.max_call_depth); is there endless recursion?",
                limits.max_call_depth
            ),
        ),
        EvalAltResult::ErrorDataTooLarge(what, _) => (
            FailureKind::DataTooLarge,
            format!(
                "{what} grew beyond its limit (limits.max_string_size {} bytes, max_array_size {}, max_map_size {})",
                limits.max_string_size, limits.max_array_size, limits.max_map_size
            ),
        ),
        other => (FailureKind::Error, strip_position(&other.to_string())),
    };
    let message = if chain.is_empty() { message } else { format!("{message} (in {})", chain.join(" → ")) };
    Failure {
        source,
        line: position.line().unwrap_or(0),
        column: position.position().unwrap_or(0),
        message,
        kind,
    }
}

fn strip_position(text: &str) -> String {
    static SUFFIX: OnceLock<Regex> = OnceLock::new();
    let suffix = SUFFIX.get_or_init(|| Regex::new(r"\s*\(line \d+, position \d+\)").expect("literal regex"));
    suffix.replace_all(text, "").trim_end_matches('.').to_string()
}
