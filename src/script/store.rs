//! `ScriptStore`: the compiled version of every script in the scripts directory, and
//! `Diagnostic`s for the ones that do not compile.
//!
//! Scripts are compiled once per version with their imports embedded
//! (`compile_into_self_contained`), so a call needs no module resolver and no file access. A call
//! takes an `Arc<Script>` when it starts and keeps that version to the end.
//!
//! Hot reload is `ScriptStore::rescan` (driven by `script::watch`): it compares every file with
//! what it saw last (length, mtime, content hash), recompiles what changed and the scripts that
//! import it, and swaps the whole map at once. A broken edit never replaces a working version.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use arc_swap::{ArcSwap, ArcSwapOption};
use rhai::{Engine, EvalAltResult, Position, AST};

use crate::config::Limits;
use crate::script::engine;
use crate::script::stdlib::Resolver;

/// One compiled version of a script.
#[derive(Debug)]
pub struct Script {
    /// Path relative to the scripts directory, e.g. `main.rhai`.
    pub name: String,
    /// The compiled program with its imports embedded.
    pub ast: AST,
    /// A hash of the source text: which version of the script this is.
    pub version: u64,
    /// Whether the script defines `fn on_hangup()`.
    pub has_on_hangup: bool,
    /// When this version was compiled: when it went live for new calls.
    pub compiled_at: std::time::SystemTime,
}

impl Script {
    /// A short hex form of the version, for logs.
    pub fn version_tag(&self) -> String {
        format!("{:08x}", self.version as u32)
    }
}

/// A problem found in a script, with its place.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    /// File the problem is in (relative to the scripts directory, or `rivr/<module>`).
    pub file: String,
    /// 1-based line; 0 when unknown.
    pub line: usize,
    /// 1-based column; 0 when unknown.
    pub column: usize,
    /// What is wrong and, where it helps, what to do.
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.line, self.column) {
            (0, _) => write!(f, "{}: {}", self.file, self.message),
            (line, 0) => write!(f, "{}:{line}: {}", self.file, self.message),
            (line, column) => write!(f, "{}:{line}:{column}: {}", self.file, self.message),
        }
    }
}

impl std::error::Error for Diagnostic {}

/// Compiles scripts against the stdlib and one scripts directory.
pub struct Compiler {
    engine: Engine,
    scripts_dir: PathBuf,
    /// The scripts-directory modules read by the compile in progress (see `compile_tracked`).
    imports: Arc<Mutex<BTreeSet<String>>>,
    /// One compile at a time, so that `imports` belongs to exactly one script.
    compiling: Mutex<()>,
}

impl Compiler {
    /// A compiler for scripts under `scripts_dir`, applying `limits` (expression depth and
    /// module count are checked at compile time).
    pub fn new(scripts_dir: impl Into<PathBuf>, limits: &Limits) -> Self {
        let scripts_dir = scripts_dir.into();
        let imports = Arc::new(Mutex::new(BTreeSet::new()));
        let mut engine = engine::sandboxed(limits);
        engine.set_module_resolver(Recording {
            inner: Resolver::new(scripts_dir.clone()),
            imports: imports.clone(),
        });
        // Verb names are registered per call, so unknown functions can't be told apart at
        // compile time; the operator `fn` declarations are checked as usual.
        Compiler { engine, scripts_dir, imports, compiling: Mutex::new(()) }
    }

    /// The scripts directory.
    pub fn scripts_dir(&self) -> &Path {
        &self.scripts_dir
    }

    /// Compile the script `name` (relative to the scripts directory) from `text`.
    ///
    /// # Errors
    /// A `Diagnostic` with the file, line and column of the first error.
    pub fn compile(&self, name: &str, text: &str) -> Result<Script, Diagnostic> {
        self.compile_tracked(name, text).0
    }

    /// Like [`Compiler::compile`], also returning every module of the scripts directory the
    /// script imports, directly or through other modules (`lib/greet.rhai`), including modules
    /// that could not be read: when one of them changes or appears, the script must be
    /// recompiled.
    pub fn compile_tracked(&self, name: &str, text: &str) -> (Result<Script, Diagnostic>, BTreeSet<String>) {
        let _one_at_a_time = self.compiling.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        self.imports.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clear();
        let result = self.compile_untracked(name, text);
        let imports =
            std::mem::take(&mut *self.imports.lock().unwrap_or_else(|poisoned| poisoned.into_inner()));
        (result, imports)
    }

    fn compile_untracked(&self, name: &str, text: &str) -> Result<Script, Diagnostic> {
        let mut ast = self
            .engine
            .compile_into_self_contained(&rhai::Scope::new(), text)
            .map_err(|error| diagnostic(name, text, &error))?;
        ast.set_source(name);
        let has_on_hangup = ast.iter_functions().any(|f| f.name == "on_hangup" && f.params.is_empty());
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        text.hash(&mut hasher);
        Ok(Script {
            name: name.to_string(),
            ast,
            version: hasher.finish(),
            has_on_hangup,
            compiled_at: SystemTime::now(),
        })
    }

    /// Read and compile the file at `path`, naming it relative to the scripts directory.
    ///
    /// # Errors
    /// A `Diagnostic` if the file can't be read or doesn't compile.
    pub fn compile_file(&self, path: &Path) -> Result<Script, Diagnostic> {
        let name = script_name(&self.scripts_dir, path);
        let text = std::fs::read_to_string(path).map_err(|error| Diagnostic {
            file: name.clone(),
            line: 0,
            column: 0,
            message: format!("cannot read the script: {error}"),
        })?;
        self.compile(&name, &text)
    }
}

/// The module resolver of a `Compiler`: `Resolver`, noting every scripts-directory module it is
/// asked for.
struct Recording {
    inner: Resolver,
    imports: Arc<Mutex<BTreeSet<String>>>,
}

impl Recording {
    fn note(&self, path: &str) {
        if let Some(file) = Resolver::module_file(path) {
            self.imports.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).insert(file);
        }
    }
}

impl rhai::ModuleResolver for Recording {
    fn resolve(
        &self,
        engine: &Engine,
        source: Option<&str>,
        path: &str,
        pos: Position,
    ) -> Result<rhai::Shared<rhai::Module>, Box<EvalAltResult>> {
        self.note(path);
        self.inner.resolve(engine, source, path, pos)
    }

    fn resolve_ast(
        &self,
        engine: &Engine,
        source: Option<&str>,
        path: &str,
        pos: Position,
    ) -> Option<Result<AST, Box<EvalAltResult>>> {
        self.note(path);
        self.inner.resolve_ast(engine, source, path, pos)
    }
}

/// The name a script file goes by: its path relative to the scripts directory, with `/`.
pub fn script_name(scripts_dir: &Path, path: &Path) -> String {
    let relative = path.strip_prefix(scripts_dir).unwrap_or(path);
    relative.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/")
}

/// Turn a Rhai compile error into a diagnostic in the right file.
fn diagnostic(file: &str, text: &str, error: &EvalAltResult) -> Diagnostic {
    match error {
        EvalAltResult::ErrorInModule(module, inner, pos) => {
            let mut inner = diagnostic(module, "", inner);
            if inner.line == 0 && !pos.is_none() {
                inner.file = file.to_string();
                inner.line = pos.line().unwrap_or(0);
                inner.column = pos.position().unwrap_or(0);
            }
            if inner.file != file {
                // The error is in the module's file; say which script brought it in, since
                // that is the script that will not load.
                inner.message = format!("{} (imported by `{file}`)", inner.message);
            }
            inner
        }
        EvalAltResult::ErrorParsing(kind, pos) => at(file, *pos, kind.to_string()),
        EvalAltResult::ErrorModuleNotFound(message, pos) => {
            let mut found = at(file, *pos, message.clone());
            if pos.is_none() {
                // Rhai resolves imports without a position; find the import in the text.
                if let Some((line, column)) = import_position(text, message) {
                    found.line = line;
                    found.column = column;
                }
            }
            found
        }
        other => at(file, other.position(), other.to_string()),
    }
}

fn at(file: &str, pos: Position, message: String) -> Diagnostic {
    Diagnostic {
        file: file.to_string(),
        line: pos.line().unwrap_or(0),
        column: pos.position().unwrap_or(0),
        message: message.trim_end_matches('.').to_string(),
    }
}

/// Line and column of the `import` whose quoted path appears in `message`.
fn import_position(text: &str, message: &str) -> Option<(usize, usize)> {
    for (index, line) in text.lines().enumerate() {
        let Some(column) = line.find("import") else {
            continue;
        };
        let Some(start) = line[column..].find('"') else {
            continue;
        };
        let rest = &line[column + start + 1..];
        let Some(end) = rest.find('"') else { continue };
        let path = &rest[..end];
        if message.contains(&format!("`{path}`")) {
            return Some((index + 1, column + 1));
        }
    }
    None
}

/// Every compiled script of a scripts directory, swapped atomically when a script changes.
///
/// [`ScriptStore::rescan`] brings it up to date with the disk: it recompiles the files whose
/// content changed and every script importing one of them, keeps the last good version of a
/// script that no longer compiles, drops deleted scripts unless a route names them
/// ([`ScriptStore::pin`]), and publishes the result as one new map. A call takes its
/// `Arc<Script>` once, at its start, so it finishes on the version it started with.
pub struct ScriptStore {
    compiler: Compiler,
    /// What new calls get. Replaced whole, never changed in place.
    scripts: ArcSwap<HashMap<String, Arc<Script>>>,
    /// Scripts the routes name: a deleted one keeps serving its last good version.
    pinned: ArcSwap<BTreeSet<String>>,
    /// The current compile problems, one per failing script, readable while a rescan runs.
    problems: ArcSwap<Vec<Diagnostic>>,
    /// What the last rescan saw. Held for a whole rescan, which also serializes rescans.
    tracker: Mutex<Tracker>,
    /// How many times `scripts` has been replaced.
    generation: AtomicU64,
    /// How many rescans have run.
    rescans: AtomicU64,
    /// Rescans that put new versions live (or removed scripts) without a compile error.
    reloads_applied: AtomicU64,
    /// Rescans that found a script which does not compile.
    reloads_failed: AtomicU64,
    /// Told about every rescan after the first that changed something (the event bus).
    on_reload: ArcSwapOption<ReloadListener>,
}

/// Told what a rescan changed, with the store to read the new versions from.
pub type ReloadListener = Box<dyn Fn(&ReloadReport, &ScriptStore) + Send + Sync>;

/// What one [`ScriptStore::rescan`] changed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReloadReport {
    /// Scripts compiled and now serving a new version (new files included), sorted.
    pub updated: Vec<String>,
    /// Scripts that changed (or whose imports changed) but do not compile: each keeps its last
    /// good version, if it had one.
    pub failed: Vec<Diagnostic>,
    /// Deleted scripts no longer served.
    pub removed: Vec<String>,
    /// Deleted scripts that keep serving their last good version because a route names them.
    pub kept: Vec<String>,
}

impl ReloadReport {
    /// Whether the rescan found nothing to do.
    pub fn is_empty(&self) -> bool {
        self.updated.is_empty() && self.failed.is_empty() && self.removed.is_empty() && self.kept.is_empty()
    }
}

/// The bookkeeping behind `rescan`.
#[derive(Default)]
struct Tracker {
    /// Every script file seen on disk by the last rescan.
    files: HashMap<String, Fingerprint>,
    /// The scripts-directory modules each script imported (transitively) when last compiled,
    /// including modules that were missing then.
    imports: HashMap<String, BTreeSet<String>>,
    /// Scripts that fail to compile, by name.
    problems: BTreeMap<String, Diagnostic>,
    /// Deleted, pinned scripts already warned about.
    kept: BTreeSet<String>,
    /// Whether a rescan has run (the first one loads quietly).
    scanned: bool,
}

/// A file's identity as far as reloading cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Fingerprint {
    len: u64,
    modified: Option<SystemTime>,
    /// A hash of the content, the only thing that decides whether the file changed.
    hash: u64,
    /// When the hash was taken. Length and mtime alone are trusted only for a file whose mtime
    /// was already `RACY_WINDOW` old then: file systems keep mtimes in coarse ticks, so two
    /// writes of the same length close together can share an mtime ("racy git").
    hashed_at: SystemTime,
}

impl Fingerprint {
    /// Whether a file with this length and mtime is certainly unchanged since it was hashed.
    fn still_matches(&self, len: u64, modified: Option<SystemTime>) -> bool {
        let settled = |m: SystemTime| m.checked_add(RACY_WINDOW).is_some_and(|m| m < self.hashed_at);
        self.len == len && self.modified == modified && modified.is_some_and(settled)
    }
}

impl ScriptStore {
    /// An empty store over `scripts_dir`; [`ScriptStore::rescan`] fills it.
    pub fn new(scripts_dir: impl Into<PathBuf>, limits: &Limits) -> Self {
        ScriptStore {
            compiler: Compiler::new(scripts_dir, limits),
            scripts: ArcSwap::from_pointee(HashMap::new()),
            pinned: ArcSwap::from_pointee(BTreeSet::new()),
            problems: ArcSwap::from_pointee(Vec::new()),
            tracker: Mutex::new(Tracker::default()),
            generation: AtomicU64::new(0),
            rescans: AtomicU64::new(0),
            reloads_applied: AtomicU64::new(0),
            reloads_failed: AtomicU64::new(0),
            on_reload: ArcSwapOption::empty(),
        }
    }

    /// Call `listener` after every rescan that changed something, once the scripts are loaded
    /// (the first load is not a reload). Replaces any earlier listener.
    pub fn on_reload(&self, listener: ReloadListener) {
        self.on_reload.store(Some(Arc::new(listener)));
    }

    /// Compile every `*.rhai` under `scripts_dir`. Scripts that fail are left out and reported.
    pub fn load(scripts_dir: impl Into<PathBuf>, limits: &Limits) -> (Self, Vec<Diagnostic>) {
        let store = ScriptStore::new(scripts_dir, limits);
        let report = store.rescan();
        (store, report.failed)
    }

    /// The current version of the script `name` (`main.rhai` or `main`).
    pub fn get(&self, name: &str) -> Option<Arc<Script>> {
        let scripts = self.scripts.load();
        scripts.get(name).or_else(|| scripts.get(&format!("{name}.rhai"))).cloned()
    }

    /// Put `script` in place of its previous version, for calls that start from now on. A
    /// script with no file behind it is dropped by the next rescan unless it is pinned.
    pub fn insert(&self, script: Script) {
        let script = Arc::new(script);
        self.scripts.rcu(|current| {
            let mut next = HashMap::clone(current);
            next.insert(script.name.clone(), script.clone());
            next
        });
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// Names of every script that compiled.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.scripts.load().keys().cloned().collect();
        names.sort();
        names
    }

    /// The compiler this store uses.
    pub fn compiler(&self) -> &Compiler {
        &self.compiler
    }

    /// Every script that does not compile now, with the place of its first error, in file
    /// order. A script listed here may still serve its last good version.
    pub fn problems(&self) -> Vec<Diagnostic> {
        Vec::clone(&self.problems.load())
    }

    /// Rescans that changed what is served without a compile error, and rescans that found a
    /// script which does not compile (the first load counts too).
    pub fn reload_counts(&self) -> (u64, u64) {
        (self.reloads_applied.load(Ordering::Acquire), self.reloads_failed.load(Ordering::Acquire))
    }

    /// Every script served now, sorted by name.
    pub fn scripts(&self) -> Vec<Arc<Script>> {
        let mut scripts: Vec<Arc<Script>> = self.scripts.load().values().cloned().collect();
        scripts.sort_by(|a, b| a.name.cmp(&b.name));
        scripts
    }

    /// How many times the set of served scripts has changed: a cheap way to notice a reload.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// How many rescans have run (for the status API, and to see that a watcher is alive).
    pub fn rescans(&self) -> u64 {
        self.rescans.load(Ordering::Acquire)
    }

    /// Declare the scripts the routes name (replacing the previous set): if one of them is
    /// deleted, it keeps serving its last good version, with a warning, instead of leaving its
    /// route with nothing to run. `main` and `main.rhai` name the same script.
    pub fn pin<I, S>(&self, names: I)
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let pinned: BTreeSet<String> = names.into_iter().map(|name| script_key(name.as_ref())).collect();
        self.pinned.store(Arc::new(pinned));
    }

    /// Bring the store up to date with the scripts directory, publish the result atomically
    /// for new calls, log what changed, and report it. Safe to call from any thread at any
    /// time; concurrent calls run one after the other.
    pub fn rescan(&self) -> ReloadReport {
        let mut tracker = self.tracker.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let first = !tracker.scanned;
        tracker.scanned = true;
        let scan_started = SystemTime::now();

        // 1. What is on disk, and which files changed.
        let mut files = HashMap::new();
        let mut changed: BTreeMap<String, Vec<u8>> = BTreeMap::new();
        for path in script_files(self.compiler.scripts_dir()) {
            let name = script_name(self.compiler.scripts_dir(), &path);
            // A file that vanishes between the walk and here is being replaced; the event of
            // its replacement brings another rescan.
            let Ok(metadata) = std::fs::metadata(&path) else { continue };
            let modified = metadata.modified().ok();
            if let Some(known) = tracker.files.get(&name) {
                if known.still_matches(metadata.len(), modified) {
                    files.insert(name, *known);
                    continue;
                }
            }
            let Ok(bytes) = std::fs::read(&path) else { continue };
            let hash = hash_bytes(&bytes);
            let fingerprint = Fingerprint { len: metadata.len(), modified, hash, hashed_at: scan_started };
            if tracker.files.get(&name).is_none_or(|known| known.hash != hash) {
                changed.insert(name.clone(), bytes);
            }
            files.insert(name, fingerprint);
        }
        let deleted: BTreeSet<String> =
            tracker.files.keys().filter(|name| !files.contains_key(*name)).cloned().collect();

        // 2. What to compile: changed files, and every script importing a changed or deleted
        //    module (or one that was missing and may exist now).
        let mut to_compile: BTreeSet<String> = changed.keys().cloned().collect();
        for (script, imports) in &tracker.imports {
            let touched =
                imports.iter().any(|module| changed.contains_key(module) || deleted.contains(module));
            if touched && files.contains_key(script) {
                to_compile.insert(script.clone());
            }
        }

        // 3. Compile into a copy of the current map.
        let mut next = HashMap::clone(&self.scripts.load());
        let mut report = ReloadReport::default();
        for name in to_compile {
            let bytes = match changed.remove(&name) {
                Some(bytes) => Ok(bytes),
                None => std::fs::read(self.compiler.scripts_dir().join(&name)),
            };
            let (result, imports) = match bytes {
                Ok(bytes) => match String::from_utf8(bytes) {
                    Ok(text) => self.compiler.compile_tracked(&name, &text),
                    Err(_) => (Err(unreadable(&name, "it is not UTF-8 text")), BTreeSet::new()),
                },
                Err(error) => (Err(unreadable(&name, &error.to_string())), BTreeSet::new()),
            };
            match result {
                Ok(mut script) => {
                    script.version = combined_version(&name, &imports, &files);
                    if !first {
                        tracing::info!(script = %name, version = %script.version_tag(), "script reloaded");
                    }
                    next.insert(name.clone(), Arc::new(script));
                    tracker.problems.remove(&name);
                    report.updated.push(name.clone());
                }
                Err(problem) => {
                    if next.contains_key(&name) {
                        tracing::error!(
                            script = %name,
                            "{problem}; new calls keep running the last version that compiled"
                        );
                    } else {
                        tracing::error!(script = %name, "{problem}");
                    }
                    tracker.problems.insert(name.clone(), problem.clone());
                    report.failed.push(problem);
                }
            }
            tracker.imports.insert(name, imports);
        }

        // 4. Deleted scripts: gone, unless a route names them.
        for name in &deleted {
            tracker.imports.remove(name);
            tracker.problems.remove(name);
        }
        let pinned = self.pinned.load();
        let mut served: Vec<String> =
            next.keys().filter(|name| !files.contains_key(*name)).cloned().collect();
        served.sort();
        for name in served {
            if pinned.contains(&name) {
                if tracker.kept.insert(name.clone()) {
                    tracing::warn!(
                        script = %name,
                        "script deleted, but a route names it: new calls keep running its last \
                         version until it is restored or the route is changed"
                    );
                }
                report.kept.push(name);
            } else {
                next.remove(&name);
                tracker.kept.remove(&name);
                tracing::info!(script = %name, "script deleted; no longer served");
                report.removed.push(name);
            }
        }
        tracker.kept.retain(|name| !files.contains_key(name));

        // 5. Publish.
        tracker.files = files;
        if !report.updated.is_empty() || !report.removed.is_empty() {
            self.scripts.store(Arc::new(next));
            self.generation.fetch_add(1, Ordering::AcqRel);
        }
        if first {
            tracing::info!(
                scripts = report.updated.len(),
                problems = report.failed.len(),
                dir = %self.compiler.scripts_dir().display(),
                "scripts loaded"
            );
        }
        self.problems.store(Arc::new(tracker.problems.values().cloned().collect()));
        if !report.failed.is_empty() {
            self.reloads_failed.fetch_add(1, Ordering::AcqRel);
        } else if !report.updated.is_empty() || !report.removed.is_empty() {
            self.reloads_applied.fetch_add(1, Ordering::AcqRel);
        }
        self.rescans.fetch_add(1, Ordering::AcqRel);
        drop(tracker);
        if !first && !report.is_empty() {
            if let Some(listener) = self.on_reload.load_full() {
                listener(&report, self);
            }
        }
        report
    }
}

/// The key a script is stored under: its path with `/`, ending in `.rhai`.
fn script_key(name: &str) -> String {
    let name = name.trim_start_matches("./");
    if name.ends_with(".rhai") {
        name.to_string()
    } else {
        format!("{name}.rhai")
    }
}

fn unreadable(name: &str, why: &str) -> Diagnostic {
    Diagnostic {
        file: name.to_string(),
        line: 0,
        column: 0,
        message: format!("cannot read the script: {why}"),
    }
}

fn hash_bytes(bytes: &[u8]) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    bytes.hash(&mut hasher);
    hasher.finish()
}

/// A script's version covers its own text and the text of every module it embeds, so a
/// recompile caused by a module shows as a new version.
fn combined_version(name: &str, imports: &BTreeSet<String>, files: &HashMap<String, Fingerprint>) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    for file in std::iter::once(name).chain(imports.iter().map(String::as_str)) {
        file.hash(&mut hasher);
        files.get(file).map(|f| f.hash).hash(&mut hasher);
    }
    hasher.finish()
}

/// How old a file's mtime must be, when its content is hashed, for its (length, mtime) to
/// stand for that content later. Generous: some file systems keep 1 s or 2 s mtimes.
const RACY_WINDOW: Duration = Duration::from_secs(2);

/// Every `*.rhai` file under `dir`, sorted, skipping hidden files and editor temporaries.
pub fn script_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = walkdir::WalkDir::new(dir)
        .follow_links(true)
        .into_iter()
        .filter_entry(|entry| entry.depth() == 0 || !entry.file_name().to_string_lossy().starts_with('.'))
        .filter_map(Result::ok)
        .filter(|entry| entry.file_type().is_file())
        .map(|entry| entry.into_path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "rhai"))
        .collect();
    files.sort();
    files
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fingerprint(modified: SystemTime, hashed_at: SystemTime) -> Fingerprint {
        Fingerprint { len: 10, modified: Some(modified), hash: 1, hashed_at }
    }

    #[test]
    fn length_and_mtime_are_trusted_only_once_the_mtime_had_settled_when_hashed() {
        let now = SystemTime::now();
        let old = now - Duration::from_secs(60);
        // Hashed long after its last write: the same length and mtime mean the same content.
        assert!(fingerprint(old, now).still_matches(10, Some(old)));
        // Hashed right after a write: another write in the same mtime tick would look the same,
        // so the content must be hashed again.
        assert!(!fingerprint(now, now).still_matches(10, Some(now)));
        // Any difference means a fresh look.
        assert!(!fingerprint(old, now).still_matches(11, Some(old)));
        assert!(!fingerprint(old, now).still_matches(10, Some(now)));
        assert!(!fingerprint(old, now).still_matches(10, None));
    }

    #[test]
    fn script_keys_are_paths_ending_in_rhai() {
        assert_eq!(script_key("main"), "main.rhai");
        assert_eq!(script_key("main.rhai"), "main.rhai");
        assert_eq!(script_key("./sales/menu"), "sales/menu.rhai");
    }

    #[test]
    fn module_errors_name_the_script_that_imports_them() {
        let dir = std::env::temp_dir().join(format!("rivr-store-test-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("lib")).unwrap();
        std::fs::write(dir.join("lib/bad.rhai"), "fn f( {").unwrap();
        let compiler = Compiler::new(&dir, &Limits::default());
        let (result, imports) = compiler.compile_tracked("main.rhai", "import \"lib/bad\" as bad;");
        let problem = result.unwrap_err();
        assert_eq!((problem.file.as_str(), problem.line), ("lib/bad.rhai", 1));
        assert!(problem.message.ends_with("(imported by `main.rhai`)"), "{problem}");
        assert_eq!(imports.into_iter().collect::<Vec<_>>(), ["lib/bad.rhai"]);
        let _ = std::fs::remove_dir_all(dir);
    }
}
