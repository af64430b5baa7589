//! `rivr test`: find scenario files, run them, print results.

use std::path::{Path, PathBuf};

use crate::scenario::{junit, load, run_all, summary, RunOptions, Scenario};

/// Scenario files under `paths`: files as given, directories searched for `*.test.yaml`.
pub fn scenario_files(paths: &[PathBuf]) -> Vec<PathBuf> {
    crate::files::named(paths, &[".test.yaml", ".test.yml"])
}

/// Run every scenario under `paths`, print the results (text, or JUnit XML with `junit_stdout`),
/// optionally write JUnit XML to `junit_file`. Returns whether everything passed.
///
/// # Errors
/// When the JUnit file can't be written.
/// With `traces`, each scenario's call trace is written there (`rivr test --traces DIR`).
pub fn run(
    paths: &[PathBuf],
    junit_stdout: bool,
    junit_file: Option<&Path>,
    traces: Option<&Path>,
) -> std::io::Result<bool> {
    let files = scenario_files(paths);
    let mut scenarios: Vec<Scenario> = Vec::new();
    let mut broken = 0;
    for file in &files {
        match load(file) {
            Ok(parsed) => scenarios.extend(parsed.scenarios),
            Err(problems) => {
                broken += problems.len();
                for problem in problems {
                    eprintln!("{problem}");
                }
            }
        }
    }
    if files.is_empty() {
        eprintln!(
            "no scenario files (*.test.yaml) under {}",
            paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
        );
    }
    let options = RunOptions { traces: traces.map(Path::to_path_buf), ..RunOptions::default() };
    let results = run_all(&scenarios, &options);
    let xml = junit(&results);
    if junit_stdout {
        print!("{xml}");
    } else {
        for result in &results {
            println!("{}", result.render());
        }
        let line = summary(&results);
        if broken > 0 {
            println!("{line}, {broken} scenario file problem(s)");
        } else {
            println!("{line}");
        }
    }
    if let Some(path) = junit_file {
        std::fs::write(path, &xml)?;
    }
    Ok(broken == 0 && !files.is_empty() && results.iter().all(|r| r.passed()))
}
