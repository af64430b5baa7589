//! Seeing a flow without running it: the flow graph (`rivr graph`) and the flow lint (the
//! warnings of `rivr check`), both read from the scripts' syntax (Rhai's AST).
//!
//! - `syntax`: a script parsed as written (no optimiser), with its functions and imports, and
//!   helpers to read calls, literals and conditions.
//! - `verbs`: what the analyses know of each verb (effect on the call, result, options, prompts,
//!   times).
//! - [`graph`]: the flow graph; [`render`]: Mermaid, DOT and JSON (the JSON format is documented
//!   there); [`overlay`]: the counts of `rivr stats` laid over it (`rivr graph --stats`).
//! - [`lint`]: the lint rules, one module each, and allow comments.

pub mod graph;
pub mod lint;
pub mod overlay;
pub mod render;
mod syntax;
mod verbs;

use std::path::{Path, PathBuf};

use crate::script::store::{script_files, script_name};
use crate::script::Diagnostic;

pub use graph::Graph;
pub use render::Format;

/// Why scripts could not be read for a graph.
#[derive(Debug, thiserror::Error)]
pub enum FlowError {
    /// The path given does not exist.
    #[error("{}: no such file or directory", .0.display())]
    NotFound(PathBuf),
    /// A script could not be read.
    #[error("{}: cannot read the script: {source}", path.display())]
    Read { path: PathBuf, source: std::io::Error },
    /// Scripts that do not parse, each with its place.
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Syntax(Vec<Diagnostic>),
}

/// The scripts directory of a path given on the command line, and the script files it names:
/// a directory and every `.rhai` under it, or a file and its own directory.
pub fn scripts_of(path: &Path) -> Result<(PathBuf, Vec<PathBuf>), FlowError> {
    if path.is_dir() {
        Ok((path.to_path_buf(), script_files(path)))
    } else if path.is_file() {
        let root = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        Ok((root.to_path_buf(), vec![path.to_path_buf()]))
    } else {
        Err(FlowError::NotFound(path.to_path_buf()))
    }
}

/// Parse a script file of the scripts directory `root` for the analyses.
pub fn parse_file(root: &Path, path: &Path) -> Result<lint::Source, FlowError> {
    let text = std::fs::read_to_string(path)
        .map_err(|source| FlowError::Read { path: path.to_path_buf(), source })?;
    parse_text(root, path, &text).map_err(|problem| FlowError::Syntax(vec![problem]))
}

/// Parse the text of the script file `path` of the scripts directory `root`. A problem names
/// the file as `path` does.
pub fn parse_text(root: &Path, path: &Path, text: &str) -> Result<lint::Source, Diagnostic> {
    let name = script_name(root, path);
    match syntax::parse(&name, text) {
        Ok(parsed) => Ok(lint::Source { path: shown(path), parsed }),
        Err(mut problem) => {
            problem.file = shown(path);
            Err(problem)
        }
    }
}

/// A path as the user typed it, without a leading `./`.
fn shown(path: &Path) -> String {
    path.display().to_string().trim_start_matches("./").to_string()
}

/// The flow graph of a script, or of every script in a directory (`rivr graph`).
///
/// # Errors
/// A path that does not exist, a file that cannot be read, or scripts that do not parse (all
/// of them, each with its place).
pub fn graph_of(path: &Path) -> Result<Graph, FlowError> {
    let (root, files) = scripts_of(path)?;
    let mut scripts = Vec::new();
    let mut problems = Vec::new();
    for file in files {
        match parse_file(&root, &file) {
            Ok(source) => scripts.push(source.parsed),
            Err(FlowError::Syntax(mut found)) => problems.append(&mut found),
            Err(other) => return Err(other),
        }
    }
    if !problems.is_empty() {
        return Err(FlowError::Syntax(problems));
    }
    Ok(graph::build(&scripts, &root))
}
