//! `ScriptStore`: the compiled version of every script in the scripts directory, and
//! `Diagnostic`s for the ones that do not compile.
//!
//! Scripts are compiled once per version with their imports embedded
//! (`compile_into_self_contained`), so a call needs no module resolver and no file access. A call
//! takes an `Arc<Script>` when it starts and keeps that version to the end.

use std::collections::HashMap;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arc_swap::ArcSwap;
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
}

impl Compiler {
    /// A compiler for scripts under `scripts_dir`, applying `limits` (expression depth and
    /// module count are checked at compile time).
    pub fn new(scripts_dir: impl Into<PathBuf>, limits: &Limits) -> Self {
        let scripts_dir = scripts_dir.into();
        let mut engine = engine::sandboxed(limits);
        engine.set_module_resolver(Resolver::new(scripts_dir.clone()));
        // Verb names are registered per call, so unknown functions can't be told apart at
        // compile time; the operator `fn` declarations are checked as usual.
        Compiler { engine, scripts_dir }
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
        let mut ast = self
            .engine
            .compile_into_self_contained(&rhai::Scope::new(), text)
            .map_err(|error| diagnostic(name, text, &error))?;
        ast.set_source(name);
        let has_on_hangup = ast.iter_functions().any(|f| f.name == "on_hangup" && f.params.is_empty());
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        text.hash(&mut hasher);
        Ok(Script { name: name.to_string(), ast, version: hasher.finish(), has_on_hangup })
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
pub struct ScriptStore {
    compiler: Compiler,
    scripts: ArcSwap<HashMap<String, Arc<Script>>>,
}

impl ScriptStore {
    /// Compile every `*.rhai` under `scripts_dir`. Scripts that fail are left out and reported.
    pub fn load(scripts_dir: impl Into<PathBuf>, limits: &Limits) -> (Self, Vec<Diagnostic>) {
        let compiler = Compiler::new(scripts_dir, limits);
        let mut scripts = HashMap::new();
        let mut problems = Vec::new();
        for path in script_files(compiler.scripts_dir()) {
            match compiler.compile_file(&path) {
                Ok(script) => {
                    scripts.insert(script.name.clone(), Arc::new(script));
                }
                Err(problem) => problems.push(problem),
            }
        }
        (ScriptStore { compiler, scripts: ArcSwap::from_pointee(scripts) }, problems)
    }

    /// The current version of the script `name` (`main.rhai` or `main`).
    pub fn get(&self, name: &str) -> Option<Arc<Script>> {
        let scripts = self.scripts.load();
        scripts.get(name).or_else(|| scripts.get(&format!("{name}.rhai"))).cloned()
    }

    /// Put `script` in place of its previous version, for calls that start from now on.
    pub fn insert(&self, script: Script) {
        let script = Arc::new(script);
        self.scripts.rcu(|current| {
            let mut next = HashMap::clone(current);
            next.insert(script.name.clone(), script.clone());
            next
        });
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
}

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
