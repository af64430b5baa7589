//! The verb API scripts call, bound to one call's `CallHandle`.
//!
//! Each family registers its verbs on the call's engine as closures over an `Arc<CallContext>`:
//! option maps become typed `Command`s, `Outcome`s become maps with a `status`. A hangup becomes
//! a non-catchable termination so it passes through a script's `try/catch`.

mod clock;
mod control;
mod dial;
mod events;
pub mod http;
mod input;
mod media;
pub mod options;
mod record;
mod vars;

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use rhai::{Dynamic, Engine, EvalAltResult, Module, NativeCallContext, Position, Shared};

use crate::call::{fiber, CallHandle, CallInfo, Command, LogLevel, LogLine, Origin, Outcome, Site};
use crate::config::Limits;
use crate::script::store::Script;

/// Why a script was stopped from outside its own logic. Carried as the token of
/// `ErrorTerminated`, which `try/catch` cannot intercept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    /// The call ended.
    Hangup,
    /// The script computed longer than its budget without running a verb.
    Deadline,
    /// The script handed the call to another script with `pass`.
    Pass,
    /// rivr is shutting down.
    Shutdown,
    /// The call broke a per-call limit a token cannot name (`limits.max_passes`,
    /// `limits.max_verbs_without_progress`); the message travels in the token.
    Limit,
}

impl Stop {
    /// The token Rhai carries.
    pub fn token(self) -> &'static str {
        match self {
            Stop::Hangup => "hangup",
            Stop::Deadline => "deadline",
            Stop::Pass => "pass",
            Stop::Shutdown => "shutdown",
            Stop::Limit => LIMIT_TOKEN_PREFIX,
        }
    }

    /// The non-catchable error for a broken per-call limit, carrying what a person must know.
    pub fn limit(message: String, pos: Position) -> Box<EvalAltResult> {
        EvalAltResult::ErrorTerminated(format!("{LIMIT_TOKEN_PREFIX}{message}").into(), pos).into()
    }

    /// The message of a [`Stop::limit`] error's token.
    pub fn limit_message(token: &str) -> Option<&str> {
        token.strip_prefix(LIMIT_TOKEN_PREFIX)
    }

    /// The stop an error stands for, if it is one.
    pub fn of(error: &EvalAltResult) -> Option<Stop> {
        match error {
            EvalAltResult::ErrorTerminated(token, _) => match token.to_string().as_str() {
                "hangup" => Some(Stop::Hangup),
                "deadline" => Some(Stop::Deadline),
                "pass" => Some(Stop::Pass),
                "shutdown" => Some(Stop::Shutdown),
                other if other.starts_with(LIMIT_TOKEN_PREFIX) => Some(Stop::Limit),
                _ => None,
            },
            EvalAltResult::ErrorInFunctionCall(_, _, inner, _)
            | EvalAltResult::ErrorInModule(_, inner, _) => Stop::of(inner),
            _ => None,
        }
    }

    /// The non-catchable error for this stop at `pos`.
    pub fn error(self, pos: Position) -> Box<EvalAltResult> {
        EvalAltResult::ErrorTerminated(self.token().into(), pos).into()
    }
}

/// What a [`Stop::Limit`] token starts with; the message follows.
const LIMIT_TOKEN_PREFIX: &str = "limit: ";

/// Where other scripts come from, for `pass` and `invoke`.
pub trait Scripts: Send + Sync {
    /// The current version of the script `name`.
    fn script(&self, name: &str) -> Option<Arc<Script>>;
}

impl Scripts for crate::script::ScriptStore {
    fn script(&self, name: &str) -> Option<Arc<Script>> {
        self.get(name)
    }
}

/// Settings the verbs need beyond the call itself.
#[derive(Clone, Debug)]
pub struct VerbSettings {
    /// Language for `say_*` (mod_say module name).
    pub language: String,
    /// The call's sandbox limits (an `invoke`d script runs under what is left of them).
    pub limits: Limits,
}

impl Default for VerbSettings {
    fn default() -> Self {
        VerbSettings { language: "en".into(), limits: Limits::default() }
    }
}

/// Everything one call's verbs share.
pub struct CallContext {
    handle: CallHandle,
    info: Mutex<CallInfo>,
    settings: VerbSettings,
    scripts: Option<Arc<dyn Scripts>>,
    started: Instant,
    /// Nanoseconds after `started` at which the last verb returned: the compute budget counts
    /// from there. Atomic because the progress hook reads it on every 256th operation.
    last_verb: AtomicU64,
    /// Set while `on_hangup` runs: media verbs are refused then.
    after_hangup: AtomicBool,
    /// Set by an operator or shutdown to stop the script at its next operation.
    cancelled: AtomicBool,
    recordings: AtomicU32,
    invoke_depth: AtomicUsize,
    pass_to: Mutex<Option<String>>,
    /// The scripts this call passed to or invoked, in order (`limits.max_passes`).
    handed_to: Mutex<Vec<String>>,
    /// Verbs in a row that made no progress (`limits.max_verbs_without_progress`).
    idle_verbs: AtomicU32,
    /// The stdlib entry points (`menu`, `collect::digits`) running now, innermost last: the
    /// script-level site a verb inside them counts under. Touched only on entry and exit.
    sites: Mutex<Vec<Arc<Site>>>,
}

impl CallContext {
    /// The context of one call.
    pub fn new(
        handle: CallHandle,
        info: CallInfo,
        settings: VerbSettings,
        scripts: Option<Arc<dyn Scripts>>,
    ) -> Arc<Self> {
        Arc::new(CallContext {
            handle,
            info: Mutex::new(info),
            settings,
            scripts,
            started: Instant::now(),
            last_verb: AtomicU64::new(0),
            after_hangup: AtomicBool::new(false),
            cancelled: AtomicBool::new(false),
            recordings: AtomicU32::new(0),
            invoke_depth: AtomicUsize::new(0),
            pass_to: Mutex::new(None),
            handed_to: Mutex::new(Vec::new()),
            idle_verbs: AtomicU32::new(0),
            sites: Mutex::new(Vec::new()),
        })
    }

    /// The call's handle.
    pub fn handle(&self) -> &CallHandle {
        &self.handle
    }

    /// A copy of the call's data.
    pub fn info(&self) -> CallInfo {
        fiber::lock(&self.info).clone()
    }

    /// Restart the compute budget (a verb just returned, or a new phase of the call begins).
    pub fn restart_budget(&self) {
        let now = self.started.elapsed().as_nanos() as u64;
        self.last_verb.store(now, Ordering::Relaxed);
    }

    /// Enter `on_hangup`: media verbs are refused from now on.
    pub fn enter_on_hangup(&self) {
        self.after_hangup.store(true, Ordering::Release);
        self.restart_budget();
        // on_hangup runs no media at all: its verbs are counted on their own.
        self.idle_verbs.store(0, Ordering::Relaxed);
    }

    /// Ask the script to stop at its next operation.
    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::Release);
    }

    /// Count a `pass` or `invoke` of `name` from `script`; past `limits.max_passes` the call
    /// stops with an error that shows the chain, where a cycle is plain to see.
    fn hand_to(&self, verb: &str, script: &str, name: &str, pos: Position) -> Result<(), Box<EvalAltResult>> {
        let mut handed = fiber::lock(&self.handed_to);
        let max = self.settings.limits.max_passes;
        if handed.len() >= max {
            let first = handed.first().map_or(script, String::as_str);
            let tail = &handed[handed.len().saturating_sub(4)..];
            return Err(Stop::limit(
                format!(
                    "{verb}(\"{name}\"): this call already went through {max} scripts (limits.max_passes): \
                     {first} → … → {} → {name}; a pass cycle never ends, so end one of the scripts \
                     (hangup, transfer) or raise the limit if the flow really needs more",
                    tail.join(" → ")
                ),
                pos,
            ));
        }
        handed.push(name.to_string());
        Ok(())
    }

    /// Write a line to the call's log through the call, so it lands in order with the verbs
    /// (the simulator's transcript shows it). Not a verb: it does not restart the compute
    /// budget, so a loop that only logs is still stopped by it.
    pub fn write_log(&self, level: LogLevel, text: &str, origin: Option<Origin>) {
        let line = LogLine { level, text: text.to_string() };
        // A log line cannot fail but for a call that is gone, and then there is no one to tell.
        let _ = self.handle.execute_from(Command::Log(line), origin);
    }

    /// Count a verb; too many in a row without `progress` stop the call.
    fn count_progress(&self, verb: &str, progress: bool, pos: Position) -> Result<(), Box<EvalAltResult>> {
        if progress {
            self.idle_verbs.store(0, Ordering::Relaxed);
            return Ok(());
        }
        let max = self.settings.limits.max_verbs_without_progress;
        if self.idle_verbs.fetch_add(1, Ordering::Relaxed) + 1 > max {
            return Err(Stop::limit(
                format!(
                    "{verb}: {max} verbs in a row played nothing and waited for no one \
                     (limits.max_verbs_without_progress); is there an endless loop of verbs?"
                ),
                pos,
            ));
        }
        Ok(())
    }

    /// The script `pass` handed the call to, taken once.
    pub fn take_pass(&self) -> Option<String> {
        fiber::lock(&self.pass_to).take()
    }

    /// Whether the script must stop now, checked from the engine's progress hook.
    fn check_progress(&self) -> Option<Stop> {
        if self.cancelled.load(Ordering::Acquire) {
            return Some(Stop::Shutdown);
        }
        if self.handle.is_hung_up() && !self.after_hangup.load(Ordering::Acquire) {
            return Some(Stop::Hangup);
        }
        let since = self.started.elapsed().as_nanos() as u64 - self.last_verb.load(Ordering::Relaxed);
        if since > self.settings.limits.compute_budget().as_nanos() as u64 {
            return Some(Stop::Deadline);
        }
        // On a fiber, a script computing between verbs holds a runtime worker: give it up now
        // and then so other calls go on.
        self.handle.pause_if_due();
        None
    }

    /// Run `body` as the stdlib entry point `function`, called by the script at `nctx`'s
    /// position: the verbs it runs count under that call ([`Origin::within`]).
    pub(crate) fn within_site<T>(
        &self,
        nctx: &NativeCallContext,
        function: &'static str,
        keys: Vec<String>,
        body: impl FnOnce() -> T,
    ) -> T {
        let pos = nctx.call_position();
        let at = Origin {
            source: nctx.call_source().unwrap_or("").to_string(),
            line: pos.line().unwrap_or(0),
            column: pos.position().unwrap_or(0),
            within: None,
        };
        fiber::lock(&self.sites).push(Arc::new(Site { function, at, keys }));
        let result = body();
        fiber::lock(&self.sites).pop();
        result
    }

    /// Run `command` for the verb called at `nctx`'s position, converting the result for Rhai.
    fn run(&self, nctx: &NativeCallContext, command: Command) -> Result<Outcome, Box<EvalAltResult>> {
        let pos = nctx.call_position();
        let verb = command.verb();
        if command.needs_media() && self.after_hangup.load(Ordering::Acquire) {
            return Err(options::error(
                format!("{verb} can't run in on_hangup: the call has ended; only non-media verbs work there"),
                pos,
            ));
        }
        let source = nctx.call_source().unwrap_or("");
        // A verb the stdlib runs counts under the script's call of the stdlib function.
        let within = if source.starts_with(crate::script::stdlib::STDLIB_PREFIX) {
            fiber::lock(&self.sites).last().cloned()
        } else {
            None
        };
        let origin = Origin {
            source: source.to_string(),
            line: pos.line().unwrap_or(0),
            column: pos.position().unwrap_or(0),
            within,
        };
        // Variables stay readable in on_hangup from the call's snapshot. A value being set is
        // remembered before it is sent, so a hangup racing the `set` does not lose it.
        match &command {
            Command::SetVar { name, value } => {
                let mut info = fiber::lock(&self.info);
                info.variables.insert(name.clone(), value.clone());
                if self.handle.is_hung_up() {
                    return Ok(Outcome::Done);
                }
            }
            Command::GetVar(name) if self.handle.is_hung_up() => {
                let info = fiber::lock(&self.info);
                return Ok(Outcome::Value(info.variables.get(name).map(str::to_string)));
            }
            _ => {}
        }
        let takes_time = command.takes_call_time();
        let result = self.handle.execute_from(command, Some(origin));
        self.restart_budget();
        if !result.as_ref().is_err_and(crate::call::CallError::is_hangup) {
            self.count_progress(verb, takes_time && result.is_ok(), pos)?;
        }
        match result {
            Ok(outcome) => Ok(outcome),
            Err(error) if error.is_hangup() => Err(Stop::Hangup.error(pos)),
            Err(error) => Err(options::error(error.to_string(), pos)),
        }
    }
}

/// The verb API as one module, built once per process and shared by every call's engine.
/// Each verb finds its call through the engine's default tag (see [`install`]), so a call's
/// engine holds no per-call closures: that keeps call start cheap and memory per call small.
pub fn module() -> Shared<Module> {
    static MODULE: OnceLock<Shared<Module>> = OnceLock::new();
    MODULE
        .get_or_init(|| {
            let mut module = Module::new();
            control::register(&mut module);
            media::register(&mut module);
            input::register(&mut module);
            dial::register(&mut module);
            record::register(&mut module);
            vars::register(&mut module);
            http::register(&mut module);
            events::register(&mut module);
            clock::register(&mut module);
            module.build_index();
            Shared::new(module)
        })
        .clone()
}

/// Bind `engine` to one call: the verb API, the call as the engine's tag, and the progress hook
/// that enforces hangup, cancellation and the compute budget.
pub fn install(engine: &mut Engine, ctx: &Arc<CallContext>) {
    engine.register_global_module(module());
    engine.set_default_tag(Dynamic::from(ctx.clone()));
    let printing = ctx.clone();
    engine.on_print(move |text| printing.write_log(LogLevel::Info, text, None));
    let debugging = ctx.clone();
    engine.on_debug(move |text, source, position| {
        let origin = Origin {
            source: source.unwrap_or_default().to_string(),
            line: position.line().unwrap_or(0),
            column: position.position().unwrap_or(0),
            within: None,
        };
        debugging.write_log(LogLevel::Debug, text, Some(origin))
    });
    let progress = ctx.clone();
    engine.on_progress(move |operations| {
        // Checking the clock on every operation costs ~30 %; every 256th costs ~2 % and still
        // stops a busy loop within microseconds of the budget.
        if operations & 0xFF != 0 {
            return None;
        }
        progress.check_progress().map(|stop| Dynamic::from(stop.token()))
    });
}

/// The call a verb runs for, from the engine's tag.
pub(crate) fn context(nctx: &NativeCallContext) -> Result<Arc<CallContext>, Box<EvalAltResult>> {
    nctx.tag().and_then(|tag| tag.read_lock::<Arc<CallContext>>().map(|ctx| ctx.clone())).ok_or_else(|| {
        options::error(format!("{} can only run during a call", nctx.fn_name()), nctx.call_position())
    })
}

/// The keys the option map of `verb` takes (`ask`, `dial`, `record`, `say`, `http_get`,
/// `http_post`), for checks that read scripts without running them (the flow lint of
/// `rivr check`). The verbs read their options through these same lists.
pub fn option_keys(verb: &str) -> Option<&'static [&'static str]> {
    match verb {
        "ask" => Some(input::ASK_OPTIONS),
        "dial" => Some(dial::DIAL_OPTIONS),
        "record" => Some(record::RECORD_OPTIONS),
        "say" => Some(media::SAY_OPTIONS),
        "http_get" => Some(http::GET_OPTIONS),
        "http_post" => Some(http::POST_OPTIONS),
        _ => None,
    }
}

/// A map from string pairs.
fn map_of(pairs: impl IntoIterator<Item = (&'static str, Dynamic)>) -> rhai::Map {
    pairs.into_iter().map(|(key, value)| (key.into(), value)).collect()
}

/// A map of channel variables.
fn variables_map(variables: &crate::call::Variables) -> rhai::Map {
    variables.iter().map(|(k, v)| (k.into(), Dynamic::from(v.to_string()))).collect()
}

/// Milliseconds as a Rhai integer.
fn millis(duration: Duration) -> Dynamic {
    Dynamic::from_int(duration.as_millis().min(i64::MAX as u128) as i64)
}
