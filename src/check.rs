//! `rivr check`: compile every script and report every problem with file:line:col.

use std::path::{Path, PathBuf};

use crate::config::Limits;
use crate::script::store::{script_files, Compiler};
use crate::script::Diagnostic;

/// The result of checking scripts.
#[derive(Debug, Default)]
pub struct CheckReport {
    /// How many scripts were compiled.
    pub checked: usize,
    /// Every problem found, in file order.
    pub problems: Vec<Diagnostic>,
}

/// Compile every script under each of `paths` (a `.rhai` file, or a directory searched
/// recursively). Imports resolve from the directory given, or from a file's own directory.
pub fn check_paths(paths: &[PathBuf], limits: &Limits) -> CheckReport {
    let mut report = CheckReport::default();
    for path in paths {
        let (root, files) = if path.is_dir() {
            (path.clone(), script_files(path))
        } else {
            let root = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
            (root.to_path_buf(), vec![path.clone()])
        };
        let compiler = Compiler::new(&root, limits);
        if !path.exists() {
            report.problems.push(Diagnostic {
                file: path.display().to_string(),
                line: 0,
                column: 0,
                message: "no such file or directory".into(),
            });
            continue;
        }
        for file in files {
            report.checked += 1;
            if let Err(mut problem) = compiler.compile_file(&file) {
                // Show paths as the user typed them, not relative to the scripts directory.
                if !problem.file.starts_with(crate::script::stdlib::STDLIB_PREFIX) {
                    problem.file = root.join(&problem.file).display().to_string();
                    problem.file = problem.file.trim_start_matches("./").to_string();
                }
                report.problems.push(problem);
            }
        }
    }
    report
}
