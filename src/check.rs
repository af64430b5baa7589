//! `rivr check`: compile every script and report every problem with file:line:col, then run the
//! flow lint (`crate::flow::lint`) on the scripts that compile.

use std::path::{Path, PathBuf};

use crate::config::Limits;
use crate::flow::lint::{self, Warning};
use crate::script::store::{script_files, script_name, Compiler};
use crate::script::Diagnostic;

/// What `rivr check` does beyond compiling.
#[derive(Clone, Debug)]
pub struct CheckOptions {
    /// Run the flow lint (the default).
    pub lint: bool,
    /// What the lint may look at (the sound directory).
    pub settings: lint::Settings,
}

impl Default for CheckOptions {
    fn default() -> Self {
        CheckOptions { lint: true, settings: lint::Settings::default() }
    }
}

/// The result of checking scripts.
#[derive(Debug, Default)]
pub struct CheckReport {
    /// How many scripts were compiled.
    pub checked: usize,
    /// Every problem found, in file order.
    pub problems: Vec<Diagnostic>,
    /// The flow lint's warnings, in file order.
    pub warnings: Vec<Warning>,
}

/// Compile and lint every script under each of `paths` (a `.rhai` file, or a directory searched
/// recursively). Imports resolve from the directory given, or from a file's own directory.
pub fn check_paths(paths: &[PathBuf], limits: &Limits) -> CheckReport {
    check_paths_with(paths, limits, &CheckOptions::default())
}

/// [`check_paths`] with the lint as `options` say.
pub fn check_paths_with(paths: &[PathBuf], limits: &Limits, options: &CheckOptions) -> CheckReport {
    let mut report = CheckReport::default();
    for path in paths {
        let (root, files) = if path.is_dir() {
            (path.clone(), script_files(path))
        } else {
            let root = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
            (root.to_path_buf(), vec![path.clone()])
        };
        if !path.exists() {
            report.problems.push(Diagnostic {
                file: path.display().to_string(),
                line: 0,
                column: 0,
                message: "no such file or directory".into(),
            });
            continue;
        }
        let compiler = Compiler::new(&root, limits);
        let mut sources = Vec::new();
        for file in files {
            report.checked += 1;
            match compile_and_parse(&compiler, &root, &file, options.lint) {
                Ok(Some(source)) => sources.push(source),
                Ok(None) => {}
                Err(problem) => report.problems.push(problem),
            }
        }
        if options.lint && !sources.is_empty() {
            report.warnings.extend(lint::lint(&sources, &root, &options.settings));
        }
    }
    report
}

/// Compile the script `file` of the scripts directory `root` and, when it compiles and `parse`
/// is set, parse it for the lint. Problems name files as the user typed them.
pub(crate) fn compile_and_parse(
    compiler: &Compiler,
    root: &Path,
    file: &Path,
    parse: bool,
) -> Result<Option<lint::Source>, Diagnostic> {
    let name = script_name(root, file);
    let shown = |name: &str| root.join(name).display().to_string().trim_start_matches("./").to_string();
    let text = std::fs::read_to_string(file).map_err(|error| Diagnostic {
        file: shown(&name),
        line: 0,
        column: 0,
        message: format!("cannot read the script: {error}"),
    })?;
    if let Err(mut problem) = compiler.compile(&name, &text) {
        // Show paths as the user typed them, not relative to the scripts directory.
        if !problem.file.starts_with(crate::script::stdlib::STDLIB_PREFIX) {
            problem.file = shown(&problem.file);
        }
        return Err(problem);
    }
    if !parse {
        return Ok(None);
    }
    // It compiled, so it parses; a failure here would be the lint's, not the script's.
    Ok(crate::flow::parse_text(root, file, &text).ok())
}
