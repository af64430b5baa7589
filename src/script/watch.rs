//! `ScriptWatcher`: rescans the script store whenever anything changes under the scripts
//! directory.
//!
//! Editors save in many ways (write in place, write a temporary file and rename it over, vim's
//! swap-and-backup dance, delete and recreate), `git checkout` rewrites many files at once, and
//! file-system events can be lost (queue overflow, NFS, WSL2). So the watcher never interprets
//! events (TECH-NOTES §3): it watches the root recursively (per-file watches die when an editor
//! replaces the inode), and any debounced batch of events under it just means "dirty", which
//! triggers a full `ScriptStore::rescan`: the rescan decides what changed by comparing content.
//! (The one exception: events that only report a file being opened or read are ignored, since
//! the rescan's own reads produce them.)
//! A periodic rescan is the safety net for lost events, and `PollWatcher` is available for file
//! systems without change notification.
//!
//! Rescans run on the watcher's own thread, with the script stack size (compiling recurses on
//! the native stack), never on a call's thread or the async runtime.

use std::path::Path;
use std::sync::mpsc;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use notify::event::{AccessKind, AccessMode};
use notify::{EventKind, PollWatcher, RecommendedWatcher, RecursiveMode};
use notify_debouncer_full::{new_debouncer_opt, DebounceEventResult, NoCache, RecommendedCache};

use crate::script::engine;
use crate::script::store::ScriptStore;

/// How the watcher learns about changes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WatchOptions {
    /// Quiet time after the last event before a rescan. 50 ms delivers editor saves and `git`
    /// bursts as one batch (TECH-NOTES §3) and keeps save-to-new-version well under 100 ms.
    pub debounce: Duration,
    /// Rescan this often even without events (lost events, unwatchable file systems); `None`
    /// never.
    pub periodic: Option<Duration>,
    /// Poll the file system at this interval instead of using the OS's change notification:
    /// for NFS, bind mounts and WSL2, where notifications don't arrive.
    pub poll: Option<Duration>,
}

impl Default for WatchOptions {
    fn default() -> Self {
        WatchOptions { debounce: DEFAULT_DEBOUNCE, periodic: Some(DEFAULT_PERIODIC), poll: None }
    }
}

/// The default debounce: see [`WatchOptions::debounce`].
pub const DEFAULT_DEBOUNCE: Duration = Duration::from_millis(50);

/// The default periodic rescan.
pub const DEFAULT_PERIODIC: Duration = Duration::from_secs(30);

/// Keeps a store in step with its scripts directory until dropped.
pub struct ScriptWatcher {
    // Fields drop in order: the file watcher first, so no event arrives for a stopped worker.
    _debouncer: Option<Watching>,
    worker: Worker,
}

impl ScriptWatcher {
    /// Watch `store`'s scripts directory with the given debounce and the default periodic
    /// rescan. A directory that cannot be watched is logged; the periodic rescan still runs.
    pub fn start(store: Arc<ScriptStore>, debounce: Duration) -> ScriptWatcher {
        ScriptWatcher::start_with(store, WatchOptions { debounce, ..WatchOptions::default() })
    }

    /// Watch `store`'s scripts directory as `options` say.
    pub fn start_with(store: Arc<ScriptStore>, options: WatchOptions) -> ScriptWatcher {
        let root = store.compiler().scripts_dir().to_path_buf();
        let worker = Worker::spawn("rivr-reload", options.periodic, move || {
            store.rescan();
        });
        let debouncer = match watch(&root, true, &options, worker.dirty()) {
            Ok(debouncer) => Some(debouncer),
            Err(error) => {
                tracing::warn!(
                    dir = %root.display(),
                    "cannot watch the scripts directory ({error}); changes are picked up by the \
                     periodic rescan only"
                );
                None
            }
        };
        ScriptWatcher { _debouncer: debouncer, worker }
    }

    /// Rescan now, without waiting for an event (SIGHUP, an HTTP `POST /reload`).
    pub fn trigger(&self) {
        self.worker.trigger();
    }
}

/// A thread that runs `action` when told something is dirty, and every `periodic`; stops
/// (and is joined) on drop. Signals that pile up while `action` runs are served by one more run.
pub(crate) struct Worker {
    signals: mpsc::Sender<Signal>,
    thread: Option<JoinHandle<()>>,
}

impl Worker {
    /// Start the thread, with the script stack size: `action` may compile scripts.
    pub(crate) fn spawn(
        name: &str,
        periodic: Option<Duration>,
        action: impl FnMut() + Send + 'static,
    ) -> Worker {
        let (signals, inbox) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name(name.into())
            .stack_size(engine::STACK_SIZE)
            .spawn(move || work(&inbox, periodic, action));
        let thread = match thread {
            Ok(thread) => Some(thread),
            Err(error) => {
                tracing::error!("cannot start the {name} thread ({error}); nothing will reload");
                None
            }
        };
        Worker { signals, thread }
    }

    /// Run the action soon.
    pub(crate) fn trigger(&self) {
        let _ = self.signals.send(Signal::Dirty);
    }

    /// A callback that triggers the action, for a file watcher.
    pub(crate) fn dirty(&self) -> impl FnMut() + Send + 'static {
        let signals = self.signals.clone();
        move || {
            let _ = signals.send(Signal::Dirty);
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.signals.send(Signal::Stop);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

enum Signal {
    Dirty,
    Stop,
}

fn work(inbox: &mpsc::Receiver<Signal>, periodic: Option<Duration>, mut action: impl FnMut()) {
    loop {
        let signal = match periodic {
            Some(every) => inbox.recv_timeout(every),
            None => inbox.recv().map_err(|_| mpsc::RecvTimeoutError::Disconnected),
        };
        match signal {
            Ok(Signal::Dirty) | Err(mpsc::RecvTimeoutError::Timeout) => {
                // Signals that arrived meanwhile are covered by this run.
                let mut stop = false;
                while let Ok(signal) = inbox.try_recv() {
                    stop |= matches!(signal, Signal::Stop);
                }
                if stop {
                    return;
                }
                action();
            }
            Ok(Signal::Stop) | Err(mpsc::RecvTimeoutError::Disconnected) => return,
        }
    }
}

/// Whether an event only says a file was opened or read. The one detail the watcher looks at:
/// inotify reports opens, and a rescan opens the files it hashes and the modules it compiles,
/// so counting reads as changes would make every rescan schedule the next one (and make the
/// configuration watcher, which reads its file every time, rescan forever). Closing a file that
/// was written is a change: the last event of an in-place save.
fn is_read(kind: &EventKind) -> bool {
    matches!(kind, EventKind::Access(access) if *access != AccessKind::Close(AccessMode::Write))
}

/// A running debounced watcher of either kind, held only so that dropping it stops it.
pub(crate) struct Watching {
    _debouncer: Box<dyn std::any::Any + Send>,
}

/// Watch `dir` (recursively or not) and call `dirty` after each debounced batch of events.
/// Watcher errors count as dirty: something may have been missed.
pub(crate) fn watch(
    dir: &Path,
    recursive: bool,
    options: &WatchOptions,
    mut dirty: impl FnMut() + Send + 'static,
) -> notify::Result<Watching> {
    let handler = move |result: DebounceEventResult| match result {
        Ok(events) => {
            if events.iter().any(|event| !is_read(&event.kind)) {
                dirty();
            }
        }
        Err(errors) => {
            for error in &errors {
                tracing::warn!("file watcher: {error}; rescanning");
            }
            dirty();
        }
    };
    let mode = if recursive { RecursiveMode::Recursive } else { RecursiveMode::NonRecursive };
    match options.poll {
        None => {
            let mut debouncer = new_debouncer_opt::<_, RecommendedWatcher, RecommendedCache>(
                options.debounce,
                None,
                handler,
                RecommendedCache::new(),
                notify::Config::default(),
            )?;
            debouncer.watch(dir, mode)?;
            Ok(Watching { _debouncer: Box::new(debouncer) })
        }
        Some(interval) => {
            let config = notify::Config::default().with_poll_interval(interval).with_compare_contents(false);
            let mut debouncer = new_debouncer_opt::<_, PollWatcher, NoCache>(
                options.debounce,
                None,
                handler,
                NoCache,
                config,
            )?;
            debouncer.watch(dir, mode)?;
            Ok(Watching { _debouncer: Box::new(debouncer) })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use notify::event::{CreateKind, ModifyKind};

    #[test]
    fn reads_are_not_changes_but_closing_a_written_file_is() {
        assert!(is_read(&EventKind::Access(AccessKind::Open(AccessMode::Any))));
        assert!(is_read(&EventKind::Access(AccessKind::Close(AccessMode::Read))));
        assert!(!is_read(&EventKind::Access(AccessKind::Close(AccessMode::Write))));
        assert!(!is_read(&EventKind::Create(CreateKind::File)));
        assert!(!is_read(&EventKind::Modify(ModifyKind::Any)));
        assert!(!is_read(&EventKind::Any));
    }
}
