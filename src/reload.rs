//! `LiveConfig`: the running configuration and its router, reloaded while calls run.
//!
//! New calls read [`LiveConfig::current`] once, at their start, and keep that [`Snapshot`] (its
//! routes, limits and fallbacks) to the end. A reload parses and checks the whole file first: a
//! file with any error is not applied, and every diagnostic is logged with its position, so a
//! typo never replaces a working configuration. A valid file is swapped in atomically; keys that
//! only take effect on restart (`Config::restart_required`) are logged as such.
//!
//! Reloads come from a watcher on the configuration file's directory (editors replace the file,
//! so a watch on the file itself would die with its first save), from SIGHUP, and from
//! [`LiveConfig::reload_now`] (an HTTP `POST /reload`). After each reload the script store is
//! told which scripts the routes name ([`ScriptStore::pin`]) and the HTTP client gets the new
//! `http:` policy.
//!
//! # Wiring (what `rivr run` does)
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let rt = tokio::runtime::Runtime::new()?;
//! # let _enter = rt.enter();
//! use std::sync::Arc;
//! use rivr::call::actor::CallServices;
//! use rivr::reload::LiveConfig;
//! use rivr::script::{ScriptStore, ScriptWatcher, WatchOptions};
//!
//! let live = LiveConfig::load("rivr.yaml")?;
//! let snapshot = live.current();
//! let config = &snapshot.config;
//! let (store, _problems) = ScriptStore::load(config.scripts.as_path(), &config.limits);
//! let store = Arc::new(store);
//! live.attach_store(store.clone());
//! let http = Arc::new(rivr::http::ReqwestHttp::new(&config.http)?);
//! live.attach_http(http.clone());
//! let _scripts = ScriptWatcher::start_with(store.clone(), WatchOptions::default());
//! let _config = live.watch(&WatchOptions::default());
//! let _sighup = live.reload_on_sighup()?;
//! // For each call: route with `live.current()`, take `store.get(script)`, and drive it with
//! // `actor::drive(channel, fiber, CallServices::with_http(http.clone()))` (see `server.rs`).
//! # let _ = CallServices::with_http(http);
//! # Ok(())
//! # }
//! ```

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;

use crate::config::{Config, ConfigError, Diagnostic};
use crate::http::ReqwestHttp;
use crate::router::Router;
use crate::script::watch::{self, WatchOptions, Watching, Worker};
use crate::script::ScriptStore;

/// One version of the configuration, with its router built. Calls keep the snapshot they
/// started with.
#[derive(Debug)]
pub struct Snapshot {
    /// The configuration as written in the file.
    pub config: Config,
    /// Its routes, compiled.
    pub router: Router,
    /// 0 for the configuration rivr started with, then one more per applied reload.
    pub generation: u64,
    /// Keys changed in the file since start that only take effect on restart (their running
    /// values are the ones from start).
    pub restart_required: Vec<&'static str>,
}

impl Snapshot {
    fn new(config: Config, generation: u64, restart_required: Vec<&'static str>) -> Self {
        let router = Router::new(&config);
        Snapshot { config, router, generation, restart_required }
    }

    /// Every script the configuration names: each route's (enabled or not) and the default
    /// route's.
    pub fn scripts(&self) -> Vec<String> {
        let mut scripts: Vec<String> =
            self.config.routes.iter().map(|route| route.script.as_str().to_string()).collect();
        scripts.extend(self.config.default_script().map(str::to_string));
        scripts.sort();
        scripts.dedup();
        scripts
    }
}

/// What a reload did.
#[derive(Debug)]
pub enum ReloadOutcome {
    /// The new configuration is in place for new calls.
    Applied {
        /// Changed keys that need a restart to take effect.
        restart_required: Vec<&'static str>,
    },
    /// The file has not changed since it was last read.
    Unchanged,
    /// The file could not be read or has errors; the running configuration stays.
    Rejected(ConfigError),
}

/// The configuration in force, reloadable. Share it as `Arc<LiveConfig>`.
pub struct LiveConfig {
    /// The file, or `None` for a configuration given in code (nothing to reload).
    path: Option<PathBuf>,
    /// The configuration rivr started with: what `listen` and friends really are.
    started: Config,
    current: ArcSwap<Snapshot>,
    /// The hash of the text last read, so that events which change nothing stay quiet. Held
    /// for a whole reload, which also serializes reloads.
    last_text: Mutex<Option<u64>>,
    generation: AtomicU64,
    /// Reloads that found errors and kept the running configuration.
    rejected: AtomicU64,
    store: Mutex<Option<Arc<ScriptStore>>>,
    http: Mutex<Option<Arc<ReqwestHttp>>>,
    /// Sets the log filter, when `log.level` decides it (not `--log` nor an environment
    /// variable).
    log_level: Mutex<Option<LogLevelSetter>>,
}

/// What changes the running log filter to a `log.level` value (the logging set-up lives in the
/// binary, so the configuration knows only this).
pub type LogLevelSetter = Box<dyn Fn(&str) + Send + Sync>;

impl LiveConfig {
    /// Load the configuration at `path` (as `Config::load` does: every problem is reported).
    ///
    /// # Errors
    /// `ConfigError` when the file cannot be read or has errors.
    pub fn load(path: impl AsRef<Path>) -> Result<Arc<LiveConfig>, ConfigError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path)
            .map_err(|source| ConfigError::Read { path: path.to_path_buf(), source })?;
        // Not logged here: the caller reports a configuration it cannot start with.
        let config = checked(&text, path, false)?;
        let live = LiveConfig::build(Some(path.to_path_buf()), config);
        *lock(&live.last_text) = Some(hash_text(&text));
        Ok(live)
    }

    /// A configuration that does not come from a file (the defaults when rivr runs without
    /// `-c`): reloads find nothing to do.
    pub fn fixed(config: Config) -> Arc<LiveConfig> {
        LiveConfig::build(None, config)
    }

    fn build(path: Option<PathBuf>, config: Config) -> Arc<LiveConfig> {
        Arc::new(LiveConfig {
            path,
            started: config.clone(),
            current: ArcSwap::from_pointee(Snapshot::new(config, 0, Vec::new())),
            last_text: Mutex::new(None),
            generation: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
            store: Mutex::new(None),
            http: Mutex::new(None),
            log_level: Mutex::new(None),
        })
    }

    /// The configuration for a call starting now.
    pub fn current(&self) -> Arc<Snapshot> {
        self.current.load_full()
    }

    /// Reloads applied and reloads rejected since start.
    pub fn reload_counts(&self) -> (u64, u64) {
        (self.generation.load(Ordering::Acquire), self.rejected.load(Ordering::Acquire))
    }

    /// The configuration rivr started with: the one `listen`, `api` and `freeswitch` really
    /// come from, whatever the file says now.
    pub fn started(&self) -> &Config {
        &self.started
    }

    /// The configuration file, if there is one.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Pin the scripts the routes name in `store`, now and after every reload.
    pub fn attach_store(&self, store: Arc<ScriptStore>) {
        store.pin(self.current().scripts());
        *lock(&self.store) = Some(store);
    }

    /// Give `http` the `http:` policy, now and after every reload.
    pub fn attach_http(&self, http: Arc<ReqwestHttp>) {
        http.set_policy(&self.current().config.http);
        *lock(&self.http) = Some(http);
    }

    /// Apply `log.level` with `set` after every reload that changes it.
    pub fn attach_log_level(&self, set: LogLevelSetter) {
        *lock(&self.log_level) = Some(set);
    }

    /// Read and apply the file now, even if it looks unchanged (SIGHUP, `POST /reload`: the
    /// scripts a route names may have appeared since).
    pub fn reload_now(&self) -> ReloadOutcome {
        self.reload(true)
    }

    /// Read the file and apply it if its text changed since it was last read.
    pub fn reload_if_changed(&self) -> ReloadOutcome {
        self.reload(false)
    }

    fn reload(&self, force: bool) -> ReloadOutcome {
        let Some(path) = &self.path else { return ReloadOutcome::Unchanged };
        let mut last_text = lock(&self.last_text);
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(source) => {
                // Mid-save by delete and recreate, or a real problem: either way the running
                // configuration stays, and the save's own event brings another reload.
                tracing::error!(
                    file = %path.display(),
                    "cannot read the configuration ({source}); keeping the running configuration"
                );
                *last_text = None;
                self.rejected.fetch_add(1, Ordering::AcqRel);
                return ReloadOutcome::Rejected(ConfigError::Read { path: path.clone(), source });
            }
        };
        let hash = hash_text(&text);
        if !force && *last_text == Some(hash) {
            return ReloadOutcome::Unchanged;
        }
        *last_text = Some(hash);
        let config = match checked(&text, path, true) {
            Ok(config) => config,
            Err(error) => {
                let errors = error.diagnostics().iter().filter(|d| d.is_error()).count();
                tracing::error!(
                    file = %path.display(),
                    "configuration not reloaded: {errors} error(s); new calls keep the running configuration"
                );
                self.rejected.fetch_add(1, Ordering::AcqRel);
                return ReloadOutcome::Rejected(error);
            }
        };
        let restart_required = self.started.restart_required(&config);
        if !restart_required.is_empty() {
            tracing::warn!(
                file = %path.display(),
                keys = %restart_required.join(", "),
                "changed in the configuration, but needs a restart to take effect; the running values stay"
            );
        }
        let generation = self.generation.fetch_add(1, Ordering::AcqRel) + 1;
        let snapshot = Snapshot::new(config, generation, restart_required.clone());
        if let Some(store) = &*lock(&self.store) {
            store.pin(snapshot.scripts());
        }
        if let Some(http) = &*lock(&self.http) {
            http.set_policy(&snapshot.config.http);
        }
        if let Some(set) = &*lock(&self.log_level) {
            if snapshot.config.log.level != self.current.load().config.log.level {
                set(&snapshot.config.log.level);
            }
        }
        tracing::info!(
            file = %path.display(),
            routes = snapshot.router.len(),
            generation,
            "configuration reloaded; new calls use it"
        );
        self.current.store(Arc::new(snapshot));
        ReloadOutcome::Applied { restart_required }
    }

    /// Reload whenever the file changes (watching its directory), and every
    /// `options.periodic`, until the returned guard is dropped. Scripts have their own
    /// `ScriptWatcher`.
    pub fn watch(self: &Arc<Self>, options: &WatchOptions) -> ConfigWatcher {
        let live = self.clone();
        let worker = Worker::spawn("rivr-config", options.periodic, move || {
            live.reload_if_changed();
        });
        let debouncer = self.path.as_deref().and_then(|path| {
            let dir = match path.parent() {
                Some(dir) if !dir.as_os_str().is_empty() => dir,
                _ => Path::new("."),
            };
            // The directory, not the file: editors and config managers replace the file (or,
            // for Kubernetes ConfigMaps, a symlinked directory), and a reload that finds the
            // text unchanged costs one small read.
            match watch::watch(dir, false, options, worker.dirty()) {
                Ok(debouncer) => Some(debouncer),
                Err(error) => {
                    tracing::warn!(
                        dir = %dir.display(),
                        "cannot watch the configuration's directory ({error}); use SIGHUP to reload"
                    );
                    None
                }
            }
        });
        ConfigWatcher { _debouncer: debouncer, _worker: worker }
    }

    /// Reload the configuration, and rescan the attached script store, on every SIGHUP, until
    /// the returned guard is dropped.
    ///
    /// # Errors
    /// When the signal handler cannot be installed.
    ///
    /// # Panics
    /// When called outside a tokio runtime.
    #[cfg(unix)]
    pub fn reload_on_sighup(self: &Arc<Self>) -> std::io::Result<SighupGuard> {
        use tokio::signal::unix::{signal, SignalKind};
        let mut hangups = signal(SignalKind::hangup())?;
        let live = self.clone();
        let task = tokio::spawn(async move {
            while hangups.recv().await.is_some() {
                tracing::info!("SIGHUP: reloading the configuration and rescanning the scripts");
                let live = live.clone();
                // Reading files and compiling scripts blocks; keep it off the async workers.
                let _ = tokio::task::spawn_blocking(move || {
                    live.reload_now();
                    let store = lock(&live.store).clone();
                    if let Some(store) = store {
                        store.rescan();
                    }
                })
                .await;
            }
        });
        Ok(SighupGuard(task))
    }
}

/// Stops watching the configuration file when dropped.
pub struct ConfigWatcher {
    // Fields drop in order: the file watcher first, then the worker thread.
    _debouncer: Option<Watching>,
    _worker: Worker,
}

/// Stops reloading on SIGHUP when dropped.
pub struct SighupGuard(tokio::task::JoinHandle<()>);

impl Drop for SighupGuard {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Parse and check `text`; return every problem if any is an error, logging them (warnings
/// included) if `log`.
fn checked(text: &str, path: &Path, log: bool) -> Result<Config, ConfigError> {
    let origin = path.to_string_lossy();
    let (config, diagnostics) = Config::parse_and_check(text, &origin).inspect_err(|error| {
        if log {
            error.diagnostics().iter().for_each(log_diagnostic);
        }
    })?;
    if log {
        diagnostics.iter().for_each(log_diagnostic);
    }
    if diagnostics.iter().any(Diagnostic::is_error) {
        return Err(ConfigError::Invalid(diagnostics));
    }
    Ok(config)
}

fn log_diagnostic(diagnostic: &Diagnostic) {
    if diagnostic.is_error() {
        tracing::error!("{diagnostic}");
    } else {
        tracing::warn!("{diagnostic}");
    }
}

fn hash_text(text: &str) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    text.hash(&mut hasher);
    hasher.finish()
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
