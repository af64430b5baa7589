//! Helpers shared by the whole-call tests: run a script on the simulated switch, on a fiber as
//! `rivr run` does.
#![allow(dead_code)]

pub mod esl_wire;
pub mod fake_freeswitch;
pub mod fake_inbound;
pub mod fs_parsers;
pub mod nats_server;
pub mod rivr_process;
pub mod server;

use std::sync::{Arc, OnceLock};

use rivr::call::actor::{self, CallServices};
use rivr::call::fiber::Fibers;
use rivr::call::CallInfo;
use rivr::config::{Fallback, Limits};
use rivr::script::api::Scripts;
use rivr::script::engine::STACK_SIZE;
use rivr::script::runner::{self, CallJob, CallReport};
use rivr::script::{Compiler, Script};
use rivr::switch::sim::{CallerAction, Journal, SimChannel, SimSetup};
use rivr::switch::Channel;
use tokio::sync::mpsc;
use tracing::Instrument;

/// A runtime for the call actors of one test.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime")
}

/// Compile `text` as `name` against an empty scripts directory.
pub fn compile(name: &str, text: &str) -> Arc<Script> {
    let compiler = Compiler::new(std::env::temp_dir().join("rivr-no-scripts"), &Limits::default());
    match compiler.compile(name, text) {
        Ok(script) => Arc::new(script),
        Err(problem) => panic!("{problem}"),
    }
}

/// One simulated call's inputs.
pub struct SimCall {
    pub actions: Vec<CallerAction>,
    pub setup: SimSetup,
    pub limits: Limits,
    pub fallback: Fallback,
    pub info: CallInfo,
    /// Other scripts, for `pass` and `invoke`.
    pub scripts: Option<Arc<dyn Scripts>>,
    /// HTTP for `http_get`/`http_post` (none by default).
    pub services: CallServices,
}

impl Default for SimCall {
    fn default() -> Self {
        SimCall {
            actions: Vec::new(),
            setup: SimSetup::default(),
            limits: Limits::default(),
            fallback: Fallback::Hangup {
                prompt: Some("ivr/sorry.wav".into()),
                cause: "NORMAL_TEMPORARY_FAILURE".into(),
            },
            info: CallInfo::new("call-1", "5551234", "1000"),
            scripts: None,
            services: CallServices::default(),
        }
    }
}

/// Run `script` as `call` describes on `rt`; returns the report and the switch's transcript.
pub fn run_on(rt: &tokio::runtime::Runtime, script: Arc<Script>, call: SimCall) -> (CallReport, Vec<String>) {
    let journal = Journal::new();
    let (tx, rx) = mpsc::unbounded_channel();
    for action in call.actions {
        tx.send(action).expect("queue");
    }
    drop(tx);
    let channel = SimChannel::new(&call.info, rx, call.setup, journal.clone());
    let SimCall { info, scripts, limits, fallback, services, .. } = call;
    let job = CallJob { scripts, limits, fallback, ..CallJob::new(info, script) };
    let report = rt.block_on(start_call(rt, channel, services, job)).expect("script fiber panicked");
    // The switch writes each entry before the actor answers, so the transcript is complete.
    (report, journal.lines())
}

/// Start a call as `rivr run` does: `job`'s script on a fiber, driven by a task on `rt` (in the
/// call's span) that serves its commands on `channel`.
pub fn start_call<C: Channel>(
    rt: &tokio::runtime::Runtime,
    channel: C,
    services: CallServices,
    job: CallJob,
) -> tokio::task::JoinHandle<CallReport> {
    let span = job.span();
    let fiber = runner::fiber(&fibers(), job).expect("fiber stack");
    rt.spawn(actor::drive(channel, fiber, services).instrument(span))
}

/// The fiber stacks of a test process, as `rivr run` keeps them.
pub fn fibers() -> Arc<Fibers> {
    static FIBERS: OnceLock<Arc<Fibers>> = OnceLock::new();
    FIBERS.get_or_init(|| Fibers::new(STACK_SIZE, 64)).clone()
}

/// The call threads of a test process, as `rivr run` runs its calls: shared by the test's
/// listeners, kept for the whole process.
pub fn call_threads() -> Arc<rivr::call_threads::CallThreads> {
    static THREADS: OnceLock<Arc<rivr::call_threads::CallThreads>> = OnceLock::new();
    THREADS
        .get_or_init(|| {
            let two = std::num::NonZeroUsize::new(2).expect("two");
            Arc::new(rivr::call_threads::CallThreads::start(two).expect("call threads"))
        })
        .clone()
}

/// Run `text` with the given caller actions and defaults for the rest.
pub fn run(text: &str, actions: Vec<CallerAction>) -> (CallReport, Vec<String>) {
    let rt = runtime();
    run_on(&rt, compile("main.rhai", text), SimCall { actions, ..SimCall::default() })
}

pub fn press(keys: &str) -> CallerAction {
    CallerAction::Press(rivr::call::DtmfKeys::parse(keys).expect("DTMF keys"))
}

/// Wait for `condition`, failing after a generous deadline (never a timing assertion).
pub fn wait_for(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !condition() {
        assert!(std::time::Instant::now() < deadline, "gave up waiting: {what}");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

/// The spoken lines of a transcript (`say: "…"` → `…`).
pub fn said(lines: &[String]) -> Vec<String> {
    lines
        .iter()
        .filter_map(|line| line.strip_prefix("say: \"").and_then(|rest| rest.strip_suffix('"')))
        .map(|text| text.replace("\\\"", "\""))
        .collect()
}
