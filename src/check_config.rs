//! `check_config`: everything `rivr check -c rivr.yaml` reports about a deployment, in one
//! pass: the configuration's problems, a route naming a missing script, and every script of
//! the scripts directory compiled with its imports, and the flow lint's warnings on them (with
//! the configured sound directory, so that missing prompt files are found). It never stops at
//! the first problem.

use std::fmt;
use std::path::Path;

use crate::check::compile_and_parse;
use crate::config::{self, Config, ConfigError};
use crate::flow::lint;
use crate::script;
use crate::script::store::{script_files, Compiler};

/// One problem, from the configuration or from a script.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Problem {
    /// In the configuration file (its `line:column`), including routes naming missing
    /// scripts. May be a warning.
    Config(config::Diagnostic),
    /// A script that does not compile (its `file:line:column`, the file shown with the scripts
    /// directory in front).
    Script(script::Diagnostic),
    /// A flow lint warning on a script. Never an error.
    Lint(lint::Warning),
}

impl Problem {
    /// Whether the problem makes the deployment unusable (every script problem does).
    pub fn is_error(&self) -> bool {
        match self {
            Problem::Config(diagnostic) => diagnostic.is_error(),
            Problem::Script(_) => true,
            Problem::Lint(_) => false,
        }
    }

    /// The file the problem is in.
    pub fn file(&self) -> &str {
        match self {
            Problem::Config(diagnostic) => &diagnostic.file,
            Problem::Script(diagnostic) => &diagnostic.file,
            Problem::Lint(warning) => &warning.file,
        }
    }

    /// `(line, column)`, 1-based; 0 when unknown.
    pub fn position(&self) -> (usize, usize) {
        match self {
            Problem::Config(diagnostic) => (diagnostic.line, diagnostic.column),
            Problem::Script(diagnostic) => (diagnostic.line, diagnostic.column),
            Problem::Lint(warning) => (warning.line, warning.column),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Config(diagnostic) => diagnostic.fmt(f),
            Problem::Script(diagnostic) => diagnostic.fmt(f),
            Problem::Lint(warning) => warning.fmt(f),
        }
    }
}

/// The result of [`check_config`].
#[derive(Debug, Default)]
pub struct ConfigCheck {
    /// The configuration, when the file could be read as one (even with errors).
    pub config: Option<Config>,
    /// How many scripts were compiled.
    pub scripts_checked: usize,
    /// Every problem: the configuration's first (in file order), then the scripts' (by file),
    /// then the lint's warnings.
    pub problems: Vec<Problem>,
    /// What could not be checked and why (a sound directory that is not on this machine).
    pub notes: Vec<String>,
}

impl ConfigCheck {
    /// How many problems are errors.
    pub fn errors(&self) -> usize {
        self.problems.iter().filter(|problem| problem.is_error()).count()
    }

    /// Whether the deployment is usable: no errors (warnings allowed).
    pub fn is_ok(&self) -> bool {
        self.errors() == 0
    }

    /// How many problems are lint warnings.
    pub fn warnings(&self) -> usize {
        self.problems.iter().filter(|problem| matches!(problem, Problem::Lint(_))).count()
    }
}

/// Check the configuration at `path` and every script in its scripts directory, with the flow
/// lint.
pub fn check_config(path: impl AsRef<Path>) -> ConfigCheck {
    check_config_with(path, true)
}

/// [`check_config`], with the flow lint only if `lint` is set.
pub fn check_config_with(path: impl AsRef<Path>, lint: bool) -> ConfigCheck {
    let path = path.as_ref();
    let mut check = ConfigCheck::default();
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(source) => {
            let error = ConfigError::Read { path: path.to_path_buf(), source };
            check.problems.push(Problem::Config(config::Diagnostic::error(
                &path.to_string_lossy(),
                config::Position::UNKNOWN,
                config::DiagnosticKind::Syntax,
                error.to_string(),
            )));
            return check;
        }
    };
    let config = match Config::parse_and_check(&text, &path.to_string_lossy()) {
        Ok((config, diagnostics)) => {
            check.problems.extend(diagnostics.into_iter().map(Problem::Config));
            config
        }
        Err(error) => {
            // The file is not a configuration at all (bad YAML, a typo in a key): there are no
            // routes to follow, but the scripts directory may still be the default one.
            check.problems.extend(error.diagnostics().iter().cloned().map(Problem::Config));
            return check;
        }
    };
    let dir = config.scripts.as_path();
    if dir.is_dir() {
        let compiler = Compiler::new(dir, &config.limits);
        let mut sources = Vec::new();
        for file in script_files(dir) {
            check.scripts_checked += 1;
            match compile_and_parse(&compiler, dir, &file, lint) {
                Ok(source) => sources.extend(source),
                Err(problem) => check.problems.push(Problem::Script(problem)),
            }
        }
        if lint {
            let settings = lint::Settings { sounds: sound_directory(path, &config, &mut check.notes) };
            check.problems.extend(lint::lint(&sources, dir, &settings).into_iter().map(Problem::Lint));
        }
    }
    check.config = Some(config);
    check
}

/// The configured sound directory (`sounds.prefix`, relative to the configuration file), if it
/// is a directory on this machine; otherwise a note that prompt files were not checked.
fn sound_directory(path: &Path, config: &Config, notes: &mut Vec<String>) -> Option<std::path::PathBuf> {
    let prefix = config.sounds.prefix.as_deref()?;
    let dir = path.parent().unwrap_or(Path::new("")).join(prefix);
    if dir.is_dir() {
        return Some(dir);
    }
    notes.push(format!(
        "{}: sounds.prefix `{prefix}` is not a directory on this machine, so prompt files were not checked \
         (run rivr check -c where the sound files are)",
        path.display()
    ));
    None
}
