//! `TraceWriter`: writes finished traces to a directory on a thread of its own, behind a
//! bounded queue. A call hands its trace over with `try_send` and never waits: when the queue is
//! full the trace is dropped and counted, and the count is logged as a total every few seconds
//! (never a line per drop).
//!
//! Each file is written whole to a `.tmp` name, then renamed: a rivr stopped mid-write leaves a
//! `.tmp` (removed at the next start), never a half-written trace, and earlier traces are never
//! touched. Retention (`keep_files`, `keep_mb`) deletes the oldest traces first.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::Duration;

use crate::trace::recorder::FinishedTrace;
use crate::trace::TraceError;

/// How often the writer logs the drops since its last report.
const DROP_REPORT_INTERVAL: Duration = Duration::from_secs(10);

/// The file name ending of a trace.
pub const TRACE_SUFFIX: &str = ".trace.jsonl";

/// Limits on what a trace directory keeps.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Retention {
    /// Most files.
    pub max_files: Option<usize>,
    /// Most bytes.
    pub max_bytes: Option<u64>,
}

/// Counts a writer keeps.
#[derive(Debug, Default)]
pub struct WriterStats {
    /// Traces written.
    pub written: AtomicU64,
    /// Traces dropped because the queue was full.
    pub dropped: AtomicU64,
    /// Traces that could not be written (disk full, permissions).
    pub failed: AtomicU64,
}

/// The sending side of a trace directory's writer. Cloning shares it.
#[derive(Clone)]
pub struct TraceWriter {
    queue: SyncSender<FinishedTrace>,
    stats: Arc<WriterStats>,
    on_drop: Option<Arc<dyn Fn() + Send + Sync>>,
    dir: PathBuf,
}

impl std::fmt::Debug for TraceWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TraceWriter").field("dir", &self.dir).finish_non_exhaustive()
    }
}

impl TraceWriter {
    /// Start a writer for `dir` (created if missing) holding up to `queue` traces in waiting.
    /// `on_drop` is called for every dropped trace (a metric).
    ///
    /// # Errors
    /// When the directory cannot be created or read, or the thread cannot start.
    pub fn start(
        dir: &Path,
        queue: usize,
        retention: Retention,
        on_drop: Option<Arc<dyn Fn() + Send + Sync>>,
    ) -> Result<TraceWriter, TraceError> {
        let io = |source| TraceError::Dir { path: dir.to_path_buf(), source };
        std::fs::create_dir_all(dir).map_err(io)?;
        let kept = existing_traces(dir).map_err(io)?;
        let (tx, rx) = sync_channel(queue.max(1));
        let stats = Arc::new(WriterStats::default());
        let thread = Writer { dir: dir.to_path_buf(), retention, kept, stats: stats.clone() };
        std::thread::Builder::new().name("rivr-traces".into()).spawn(move || thread.run(rx)).map_err(io)?;
        Ok(TraceWriter { queue: tx, stats, on_drop, dir: dir.to_path_buf() })
    }

    /// Hand a trace over without waiting: false when it was dropped (the queue is full or the
    /// writer is gone).
    pub fn submit(&self, trace: FinishedTrace) -> bool {
        match self.queue.try_send(trace) {
            Ok(()) => true,
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.stats.dropped.fetch_add(1, Ordering::Relaxed);
                if let Some(on_drop) = &self.on_drop {
                    on_drop();
                }
                false
            }
        }
    }

    /// The writer's counts.
    pub fn stats(&self) -> &Arc<WriterStats> {
        &self.stats
    }

    /// The directory written to.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// The thread's side.
struct Writer {
    dir: PathBuf,
    retention: Retention,
    /// Traces in the directory, oldest first, with their sizes.
    kept: VecDeque<(PathBuf, u64)>,
    stats: Arc<WriterStats>,
}

impl Writer {
    fn run(mut self, queue: Receiver<FinishedTrace>) {
        let mut reported = 0;
        loop {
            match queue.recv_timeout(DROP_REPORT_INTERVAL) {
                Ok(trace) => self.write(&trace),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
            let dropped = self.stats.dropped.load(Ordering::Relaxed);
            if dropped != reported {
                tracing::warn!(
                    dropped_since_last_report = dropped - reported,
                    dropped_total = dropped,
                    dir = %self.dir.display(),
                    "the trace queue was full: calls' traces were dropped (raise traces.queue, or sample fewer calls)"
                );
                reported = dropped;
            }
        }
    }

    fn write(&mut self, trace: &FinishedTrace) {
        let path = self.dir.join(&trace.name);
        let temporary = self.dir.join(format!("{}.tmp", trace.name));
        let result =
            std::fs::write(&temporary, &trace.text).and_then(|()| std::fs::rename(&temporary, &path));
        match result {
            Ok(()) => {
                self.stats.written.fetch_add(1, Ordering::Relaxed);
                self.kept.push_back((path, trace.text.len() as u64));
                self.enforce_retention();
            }
            Err(error) => {
                let _ = std::fs::remove_file(&temporary);
                let failed = self.stats.failed.fetch_add(1, Ordering::Relaxed) + 1;
                // One line per failure would flood a full disk's log: the first, then every 1000th.
                if failed == 1 || failed.is_multiple_of(1000) {
                    tracing::error!(%error, path = %path.display(), failed_total = failed, "cannot write a call trace");
                }
            }
        }
    }

    fn enforce_retention(&mut self) {
        let mut bytes: u64 = self.kept.iter().map(|(_, size)| size).sum();
        while let Some((oldest, size)) = self.kept.front().cloned() {
            let too_many = self.retention.max_files.is_some_and(|max| self.kept.len() > max);
            let too_big = self.retention.max_bytes.is_some_and(|max| bytes > max);
            if !(too_many || too_big) || self.kept.len() == 1 {
                break;
            }
            if let Err(error) = std::fs::remove_file(&oldest) {
                if error.kind() != std::io::ErrorKind::NotFound {
                    tracing::warn!(%error, path = %oldest.display(), "cannot delete an old call trace");
                }
            }
            self.kept.pop_front();
            bytes = bytes.saturating_sub(size);
        }
    }
}

/// The traces already in `dir`, oldest first (names start with the start time); leftover
/// `.tmp` files of a rivr that stopped mid-write are removed.
fn existing_traces(dir: &Path) -> std::io::Result<VecDeque<(PathBuf, u64)>> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().to_string();
        if name.ends_with(&format!("{TRACE_SUFFIX}.tmp")) {
            let _ = std::fs::remove_file(entry.path());
        } else if name.ends_with(TRACE_SUFFIX) {
            found.push((entry.path(), entry.metadata().map(|m| m.len()).unwrap_or(0)));
        }
    }
    found.sort();
    Ok(found.into())
}
