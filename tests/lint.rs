//! The flow lint through `rivr check`: every rule on its fixtures in `tests/fixtures/lint/<rule>/`
//! (a script that triggers it, marked where, and one that does not), the exit codes, and the
//! example scripts linting clean.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use rivr::flow::lint::Rule;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn rivr(args: &[&str]) -> (i32, String) {
    let output =
        Command::new(env!("CARGO_BIN_EXE_rivr")).args(args).current_dir(root()).output().expect("run rivr");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.is_empty(), "rivr {args:?} wrote to stderr: {stderr}");
    (output.status.code().unwrap_or(-1), String::from_utf8_lossy(&output.stdout).into_owned())
}

/// `(file, line, rule)` of every warning in `rivr check`'s output.
fn warnings(out: &str) -> BTreeSet<(String, usize, String)> {
    out.lines()
        .filter_map(|line| {
            let (place, rest) = line.split_once(": warning[")?;
            let rule = rest.split_once(']')?.0.to_string();
            let mut parts = place.rsplitn(3, ':');
            let _column = parts.next()?;
            let line: usize = parts.next()?.parse().ok()?;
            Some((parts.next()?.to_string(), line, rule))
        })
        .collect()
}

/// `(file, line, rule)` of every `// warns: RULE[, RULE]` mark in the scripts under `dir`.
fn marks(dir: &Path) -> BTreeSet<(String, usize, String)> {
    let mut found = BTreeSet::new();
    for path in rivr::script::store::script_files(dir) {
        let text = std::fs::read_to_string(&path).expect("fixture");
        let shown = path.strip_prefix(root()).unwrap_or(&path).display().to_string();
        for (index, line) in text.lines().enumerate() {
            let Some((_, rules)) = line.split_once("warns: ") else { continue };
            for rule in rules.split(',') {
                found.insert((shown.clone(), index + 1, rule.trim().to_string()));
            }
        }
    }
    found
}

#[test]
fn every_rule_warns_exactly_where_its_fixtures_say_and_nowhere_in_their_passing_script() {
    for rule in Rule::ALL {
        let dir = root().join("tests/fixtures/lint").join(rule.name());
        let shown = format!("tests/fixtures/lint/{}", rule.name());
        let config = dir.join("rivr.yaml");
        let (code, out) = if config.exists() {
            rivr(&["check", "-c", &format!("{shown}/rivr.yaml")])
        } else {
            rivr(&["check", &shown])
        };
        assert_eq!(code, 0, "{}: warnings alone must not fail the check:\n{out}", rule.name());
        let expected = marks(&dir);
        assert_eq!(warnings(&out), expected, "{}:\n{out}", rule.name());
        assert!(
            expected.iter().any(|(file, _, r)| r == rule.name() && !file.ends_with("passes.rhai")),
            "{}: no script of its fixtures triggers it",
            rule.name()
        );
        let passing = script_named(&dir, "passes.rhai");
        assert!(passing.exists(), "{}: no passes.rhai", rule.name());
        assert!(
            !expected.iter().any(|(file, _, _)| file.ends_with("passes.rhai")),
            "{}: passes.rhai must pass",
            rule.name()
        );
    }
}

fn script_named(dir: &Path, name: &str) -> PathBuf {
    rivr::script::store::script_files(dir)
        .into_iter()
        .find(|path| path.file_name().is_some_and(|n| n == name))
        .unwrap_or_default()
}

#[test]
fn a_warning_names_its_place_its_rule_and_a_fix() {
    let (_, out) = rivr(&["check", "tests/fixtures/lint/short-time/triggers.rhai"]);
    let first = out.lines().position(|l| l.contains("warning[short-time]")).expect("a warning");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[first],
        "tests/fixtures/lint/short-time/triggers.rhai:3:43: warning[short-time]: dial option `timeout` is 30 ms: \
         rivr's times are milliseconds; did you mean 30000 (30 s)?"
    );
    assert_eq!(lines[first + 1], "    fix: write it in milliseconds: 30000");
    assert!(out.contains("checked 1 script: no problems, 3 warning(s)"), "{out}");
}

#[test]
fn deny_warnings_fails_on_a_warning_and_no_lint_skips_the_lint() {
    let triggers = "tests/fixtures/lint/unchecked-dial/triggers.rhai";
    let (code, _) = rivr(&["check", "--deny-warnings", triggers]);
    assert_eq!(code, 1);
    let (code, _) = rivr(&["check", "--deny-warnings", "tests/fixtures/lint/unchecked-dial/passes.rhai"]);
    assert_eq!(code, 0);
    let (code, out) = rivr(&["check", "--no-lint", "--deny-warnings", triggers]);
    assert_eq!(code, 0);
    assert!(!out.contains("warning["), "{out}");
    // The last of --lint / --no-lint wins.
    let (_, out) = rivr(&["check", "--no-lint", "--lint", triggers]);
    assert!(out.contains("warning[unchecked-dial]"), "{out}");
}

#[test]
fn errors_still_fail_and_a_script_that_does_not_compile_is_not_linted() {
    let (code, out) = rivr(&["check", "tests/fixtures/scripts/syntax_error.rhai"]);
    assert_eq!(code, 1);
    assert!(!out.contains("warning["), "{out}");
}

#[test]
fn the_example_scripts_lint_clean() {
    let (code, out) = rivr(&["check", "--deny-warnings", "scripts"]);
    assert_eq!(code, 0, "{out}");
    assert!(!out.contains("warning["), "{out}");
}

#[test]
fn a_sound_directory_missing_from_this_machine_is_a_note_not_a_warning() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir(dir.path().join("scripts")).expect("scripts");
    std::fs::write(dir.path().join("scripts/main.rhai"), "answer();\nplay(\"ivr/welcome.wav\");\n")
        .expect("script");
    std::fs::write(dir.path().join("rivr.yaml"), "sounds:\n  prefix: /nonexistent/sounds\n").expect("config");
    let config = dir.path().join("rivr.yaml");
    let (code, out) = rivr(&["check", "-c", config.to_str().expect("utf-8 path")]);
    assert_eq!(code, 0, "{out}");
    assert!(!out.contains("warning["), "{out}");
    assert!(out.contains("note: ") && out.contains("prompt files were not checked"), "{out}");
}
