//! `rivr replay` and `rivr trace to-scenario`: find the trace files, run, print.

use std::path::{Path, PathBuf};

use crate::trace::format::Trace;
use crate::trace::replay::{replay_all, summary, ReplayOptions, Verdict};
use crate::trace::scenario::to_scenario;
use crate::trace::writer::TRACE_SUFFIX;
use crate::trace::TraceError;

/// Trace files under `paths`: files as given, directories searched for `*.trace.jsonl`, in
/// name (so time) order.
pub fn trace_files(paths: &[PathBuf]) -> Vec<PathBuf> {
    crate::files::named(paths, &[TRACE_SUFFIX])
}

/// `rivr replay`: replay every trace, print a report per trace and the summary. Returns
/// whether every trace replayed the same (`fail_on_diverge` decides what the caller does).
pub fn replay(paths: &[PathBuf], options: &ReplayOptions) -> bool {
    let files = trace_files(paths);
    if files.is_empty() {
        eprintln!(
            "no traces (*{TRACE_SUFFIX}) under {}",
            paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
        );
        return false;
    }
    let results = replay_all(&files, options);
    for result in &results {
        println!("{}", result.render());
    }
    println!("{}", summary(&results));
    results.iter().all(|r| r.verdict == Verdict::Same)
}

/// Why `rivr trace to-scenario` failed.
#[derive(Debug, thiserror::Error)]
pub enum ToScenarioFailure {
    /// The trace could not be read.
    #[error("{0}")]
    Trace(#[from] TraceError),
    /// The trace cannot become a scenario.
    #[error("{0}")]
    Scenario(#[from] crate::trace::scenario::ToScenarioError),
}

/// `rivr trace to-scenario TRACE [-o FILE] [--script NAME]`: write the scenario to `output` (or
/// standard output), naming `script` (default: the trace's script).
///
/// # Errors
/// When the trace can't be read or written as a scenario, or the file can't be written.
pub fn trace_to_scenario(
    trace: &Path,
    output: Option<&Path>,
    script: Option<&str>,
) -> Result<(), ToScenarioFailure> {
    let trace = Trace::read(trace)?;
    let script = script.map_or_else(|| trace.header.script.clone(), str::to_string);
    let text = to_scenario(&trace, &script)?;
    match output {
        Some(path) => std::fs::write(path, text)
            .map_err(|source| TraceError::Write { path: path.to_path_buf(), source })?,
        None => print!("{text}"),
    }
    Ok(())
}
