//! Call traces and replay: every real call can become a regression test for the next script
//! version.
//!
//! - [`format`](mod@format): the trace file format (JSON lines, `"trace": 2`, with each ask's keys and when
//!   they came; version 1 still reads), its record types, reading.
//! - [`recorder`]: `TraceRecorder`, the `CallObserver` that builds one call's trace (masking).
//! - [`writer`]: `TraceWriter`, the bounded queue and thread that write traces for `rivr run`.
//! - [`replay`]: `rivr replay`: a trace run again on the simulated switch against a script.
//! - [`scenario`]: `rivr trace to-scenario`: a trace as a `*.test.yaml` scenario.
//!
//! [`Tracing`] is what `rivr run` holds: it decides per call whether to trace it (from
//! `traces:` in `rivr.yaml`) and hands finished traces to the directory's writer.

pub mod cli;
pub mod format;
pub mod recorder;
pub mod replay;
pub mod scenario;
pub mod writer;

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use crate::call::{CallInfo, CallObserver};
use crate::config::Traces;
use crate::script::runner::CallReport;

pub use format::{Trace, TRACE_VERSION};
pub use recorder::{FinishedTrace, RecorderSettings, TraceRecorder};
pub use replay::{replay_all, ReplayOptions, ReplayResult, Verdict};
pub use writer::{Retention, TraceWriter};

/// What went wrong reading or writing traces.
#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    /// A trace file could not be read.
    #[error("cannot read the trace {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// A line of a trace is not valid: a corrupt or truncated file, or not a trace.
    #[error("{}:{line}: {message}", path.display())]
    Malformed {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// The trace directory could not be created or read.
    #[error("cannot use the trace directory {}: {source} (check traces.dir in rivr.yaml and its permissions)", path.display())]
    Dir {
        /// The directory.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// A file could not be written.
    #[error("cannot write {}: {source}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
}

/// `rivr run`'s traces: one writer per directory, started when the first call is traced.
pub struct Tracing {
    writers: Mutex<HashMap<PathBuf, Option<TraceWriter>>>,
    on_drop: Option<Arc<dyn Fn() + Send + Sync>>,
}

impl Tracing {
    /// Tracing that calls `on_drop` for every trace dropped on a full queue (a metric).
    pub fn new(on_drop: Option<Arc<dyn Fn() + Send + Sync>>) -> Self {
        Tracing { writers: Mutex::new(HashMap::new()), on_drop }
    }

    /// The trace of a new call `info` running `script` at `version`, if `config` says to trace
    /// it (its route's setting, sampled by the call's uuid).
    pub fn begin(&self, config: &Traces, info: &CallInfo, script: &str, version: &str) -> Option<CallTrace> {
        let policy = config.policy(info.route.as_deref());
        if policy.sample <= 0.0 || !sampled(&info.uuid, policy.sample) {
            return None;
        }
        let writer = self.writer(config)?;
        let settings = RecorderSettings {
            recorder: "run",
            variables: config.variables.clone(),
            hash_caller: config.hash_caller,
            hash_key: config.hash_key.as_ref().map(|key| key.expose().to_string()),
            mask_dtmf: policy.mask_dtmf,
        };
        Some(CallTrace { recorder: Arc::new(TraceRecorder::start(info, script, version, &settings)), writer })
    }

    fn writer(&self, config: &Traces) -> Option<TraceWriter> {
        let mut writers = self.writers.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        writers
            .entry(config.dir.clone())
            .or_insert_with(|| {
                let retention = Retention {
                    max_files: config.keep_files.map(|n| n.get()),
                    max_bytes: config.keep_mb.map(|mb| mb.get().saturating_mul(1024 * 1024)),
                };
                // Tried once per directory: a directory that cannot be used is logged once,
                // not once per call.
                match TraceWriter::start(&config.dir, config.queue.get(), retention, self.on_drop.clone()) {
                    Ok(writer) => {
                        tracing::info!(dir = %config.dir.display(), "writing call traces");
                        Some(writer)
                    }
                    Err(error) => {
                        tracing::error!(%error, "call traces are off");
                        None
                    }
                }
            })
            .clone()
    }
}

/// Whether the call `uuid` is in the sampled `fraction` (the same answer for the same uuid).
fn sampled(uuid: &str, fraction: f64) -> bool {
    if fraction >= 1.0 {
        return true;
    }
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    uuid.hash(&mut hasher);
    (hasher.finish() as f64 / u64::MAX as f64) < fraction
}

/// One traced call of `rivr run`.
pub struct CallTrace {
    recorder: Arc<TraceRecorder>,
    writer: TraceWriter,
}

impl CallTrace {
    /// The observer to add to the call's services.
    pub fn observer(&self) -> Arc<dyn CallObserver> {
        self.recorder.clone()
    }

    /// The call ended as `report` says: queue its trace for writing (never waits).
    pub fn finish(self, report: Option<&CallReport>) {
        self.writer.submit(self.recorder.finish(report));
    }
}
