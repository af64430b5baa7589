//! The stdlib modules (`stdlib/*.rhai`) are tested through whole calls: the scenario files under
//! `tests/stdlib/` drive small scripts that import each module and say what it returned
//! (`rivr test tests/stdlib` runs the same files).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rivr::scenario::cli::scenario_files;
use rivr::scenario::{load, run_all, RunOptions};

fn scenarios_of(module: &str) {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/stdlib/{module}.test.yaml"));
    let parsed = load(&file).unwrap_or_else(|problems| panic!("{problems:?}"));
    assert!(!parsed.scenarios.is_empty(), "{} has no scenarios", file.display());
    let results = run_all(&parsed.scenarios, &RunOptions::default());
    let failures: Vec<String> = results.iter().filter(|r| !r.passed()).map(|r| r.render()).collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn hours_scenarios_pass() {
    scenarios_of("hours");
}

#[test]
fn collect_scenarios_pass() {
    scenarios_of("collect");
}

#[test]
fn say_scenarios_pass() {
    scenarios_of("say");
}

#[test]
fn every_stdlib_module_has_scenarios() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/stdlib");
    let files: Vec<PathBuf> = scenario_files(&[dir]);
    for name in rivr::script::stdlib::names() {
        // `menu` predates this directory: tests/calls.rs and scripts/main.test.yaml cover it.
        if name == "menu" {
            continue;
        }
        assert!(
            files.iter().any(|f| f.file_name().is_some_and(|n| n == format!("{name}.test.yaml").as_str())),
            "stdlib module {name} has no tests/stdlib/{name}.test.yaml"
        );
    }
}

/// Rhai caches function lookups by name and arity for a whole call, across module boundaries: once
/// a call has run one module's `checked(x)`, another module's (or the script's) `checked(x)`
/// resolves to the same function. So no two stdlib modules may define a function with the same
/// name and arity; each module's helpers carry its prefix (`hours_`, `collect_`, `speech_`,
/// `menu_`).
#[test]
fn stdlib_function_names_are_unique_across_modules() {
    let engine = rivr::script::engine::sandboxed(&rivr::config::Limits::default());
    let mut owners: BTreeMap<(String, usize), Vec<String>> = BTreeMap::new();
    for name in rivr::script::stdlib::names() {
        let text = rivr::script::stdlib::source(&name).expect("embedded");
        let ast = engine.compile(text).unwrap_or_else(|e| panic!("rivr/{name}: {e}"));
        for function in ast.iter_functions() {
            owners.entry((function.name.to_string(), function.params.len())).or_default().push(name.clone());
        }
    }
    let shared: Vec<String> = owners
        .iter()
        .filter(|(_, modules)| modules.len() > 1)
        .map(|((function, arity), modules)| format!("{function}/{arity} in {}", modules.join(", ")))
        .collect();
    assert!(shared.is_empty(), "functions defined in more than one stdlib module: {shared:?}");
}
