//! `rivr sim`: one call on the simulated switch, in the terminal.
//!
//! Each verb is printed as a readable line as it completes; lines typed on standard input are the
//! caller's keys. It works the same with input piped in, so a flow can be exercised in CI.

use std::collections::VecDeque;
use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tracing::Instrument;

use crate::call::actor::{self, CallServices};
use crate::call::fiber::Fibers;
use crate::call::{CallInfo, DtmfKeys};
use crate::config::{Fallback, Limits};
use crate::script::api::Scripts;
use crate::script::engine::STACK_SIZE;
use crate::script::runner::{self, CallJob, CallReport, Ending};
use crate::script::{Diagnostic, ScriptStore};
use crate::switch::sim::{CallerAction, Journal, SimChannel, SimDial, SimSetup};

/// What `rivr sim` was asked to do.
#[derive(Clone, Debug)]
pub struct SimOptions {
    /// The script to run.
    pub script: PathBuf,
    /// The scripts directory (for imports, `pass` and `invoke`); the script's own by default.
    pub scripts_dir: Option<PathBuf>,
    /// The calling number.
    pub from: String,
    /// The dialled number.
    pub to: String,
    /// Channel variables.
    pub variables: Vec<(String, String)>,
    /// Results of successive dials.
    pub dials: Vec<SimDial>,
    /// Sandbox limits.
    pub limits: Limits,
    /// What happens when the script fails.
    pub fallback: Fallback,
    /// What the call's task uses besides the simulated switch: the HTTP client for
    /// `http_get`/`http_post` (`rivr sim -c rivr.yaml`; by default none, and they fail with
    /// "HTTP is not configured for this call").
    pub services: CallServices,
    /// Longest the call may last in simulated time (`max_call_duration_s`): then it is hung up
    /// with `ALLOTTED_TIMEOUT`, as `rivr run` does on the switch.
    pub max_duration: Duration,
    /// Write the call's trace to this file (`rivr sim --trace`).
    pub trace: Option<PathBuf>,
}

/// Why the simulation could not run.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The script does not compile.
    #[error("{0}")]
    Compile(Diagnostic),
    /// The script file was not found in the store.
    #[error("cannot find the script {0}: it must be a .rhai file")]
    NotFound(String),
    /// The runtime or the script's fiber could not start.
    #[error("cannot start the call: {0}")]
    Start(#[from] std::io::Error),
    /// The trace could not be written.
    #[error("{0}")]
    Trace(#[from] crate::trace::TraceError),
}

/// Parse one line of console input into a caller action.
///
/// Keys (`1`, `1234#`), an empty line (stay silent until the prompt times out), `wait <seconds>`,
/// or `hangup`.
pub fn parse_input(line: &str) -> Result<CallerAction, String> {
    let line = line.trim();
    if line.is_empty() {
        return Ok(CallerAction::Silence);
    }
    if line.eq_ignore_ascii_case("hangup") || line.eq_ignore_ascii_case("h") {
        return Ok(CallerAction::Hangup);
    }
    if let Some(seconds) = line.strip_prefix("wait") {
        let seconds: f64 = seconds
            .trim()
            .trim_end_matches('s')
            .parse()
            .map_err(|_| format!("`{line}`: write wait and a number of seconds, e.g. `wait 5`"))?;
        if !(0.0..=3600.0).contains(&seconds) {
            return Err(format!("`{line}`: wait 0 to 3600 seconds"));
        }
        return Ok(CallerAction::Wait(Duration::from_secs_f64(seconds)));
    }
    if let Ok(keys) = DtmfKeys::parse(line) {
        return Ok(CallerAction::Press(keys));
    }
    Err(format!(
        "`{line}` is not DTMF: type keys (0-9 * # A-D), an empty line for silence, `wait N` or `hangup`"
    ))
}

/// Run one simulated call, reading the caller's actions from `input` and printing the
/// transcript to `output`. Returns the report of the script run.
///
/// # Errors
/// If the script doesn't compile or the call can't start.
pub fn simulate(
    options: SimOptions,
    input: Box<dyn BufRead + Send>,
    output: Arc<dyn Fn(&str) + Send + Sync>,
    interactive: bool,
) -> Result<CallReport, SimError> {
    let script_path = options.script.clone();
    let dir = options
        .scripts_dir
        .clone()
        .unwrap_or_else(|| script_path.parent().map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from(".")));
    let dir = if dir.as_os_str().is_empty() { PathBuf::from(".") } else { dir };
    let (store, _problems) = ScriptStore::load(&dir, &options.limits);
    // Compile the script itself directly, so its own errors are reported even when it lives
    // outside the scripts directory.
    let script = Arc::new(store.compiler().compile_file(&script_path).map_err(SimError::Compile)?);
    let store: Arc<dyn Scripts> = Arc::new(store);

    let mut info = CallInfo::new(format!("sim-{}", uuid::Uuid::new_v4()), options.from, options.to);
    info.variables.extend(options.variables);
    let setup = SimSetup {
        dials: VecDeque::from(options.dials),
        max_duration: options.max_duration,
        ..SimSetup::default()
    };

    let printer = output.clone();
    let journal = Journal::observed(move |entry| printer(&entry.to_string()));
    let (tx, rx) = mpsc::unbounded_channel();
    let hint = output.clone();
    let mut channel = SimChannel::new(&info, rx, setup, journal);
    if interactive {
        channel =
            channel.on_waiting(move || hint("  … keys? (digits, Enter for silence, `wait N`, `hangup`)"));
    }
    let reader_output = output.clone();
    std::thread::Builder::new().name("rivr-sim-input".into()).spawn(move || {
        for line in input.lines() {
            let Ok(line) = line else { break };
            match parse_input(&line) {
                Ok(action) => {
                    if tx.send(action).is_err() {
                        break;
                    }
                }
                Err(message) => reader_output(&format!("  ! {message}")),
            }
        }
        // End of input: the caller hangs up when the flow next waits for them.
    })?;

    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    // The script runs as in `rivr run`: on a fiber, driven by the call's task.
    let job = CallJob {
        scripts: Some(store),
        limits: options.limits,
        fallback: options.fallback,
        ..CallJob::new(info, script)
    };
    let span = job.span();
    let recorder = options.trace.as_ref().map(|_| {
        let settings = crate::trace::RecorderSettings { recorder: "sim", ..Default::default() };
        Arc::new(crate::trace::TraceRecorder::start(
            &job.info,
            &job.script.name,
            &job.script.version_tag(),
            &settings,
        ))
    });
    let services = match &recorder {
        Some(recorder) => options.services.also_observed(recorder.clone()),
        None => options.services,
    };
    let fiber = runner::fiber(&Fibers::new(STACK_SIZE, 0), job)?;
    let drive = actor::drive(channel, fiber, services).instrument(span);
    let report = runtime.block_on(async move { tokio::spawn(drive).await });
    let report = match report {
        Ok(report) => report,
        Err(_) => return Err(SimError::Start(std::io::Error::other("the script panicked"))),
    };
    output(&describe(&report));
    if let (Some(recorder), Some(path)) = (recorder, &options.trace) {
        let trace = recorder.finish(Some(&report));
        std::fs::write(path, trace.text)
            .map_err(|source| crate::trace::TraceError::Write { path: path.clone(), source })?;
    }
    Ok(report)
}

/// The closing line of a simulated call.
pub fn describe(report: &CallReport) -> String {
    let ending = match &report.ending {
        Ending::Completed => format!("call ended: {} completed", report.script),
        Ending::Transferred => format!("call ended: transferred by {}", report.script),
        Ending::HungUp { cause } => format!("call ended: hung up ({cause}) in {}", report.script),
        Ending::Failed(failure) => {
            format!("call ended: script failed at {failure}; fallback applied")
        }
        Ending::Cancelled => "call ended: cancelled".to_string(),
    };
    match &report.on_hangup_error {
        Some(failure) => format!("{ending}\non_hangup failed at {failure}"),
        None => ending,
    }
}

/// Print to standard output, flushing at once.
pub fn stdout_printer() -> Arc<dyn Fn(&str) + Send + Sync> {
    Arc::new(|line: &str| {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    })
}

/// Whether standard input is a terminal.
pub fn stdin_is_terminal() -> bool {
    std::io::stdin().is_terminal()
}
