//! `check_config`: one pass over a deployment reports the configuration's problems, routes
//! naming missing scripts, and scripts that do not compile, each with its position.

use std::fs;

use rivr::check_config::{check_config, Problem};
use rivr::config::DiagnosticKind;

#[test]
fn three_different_errors_are_all_reported_with_positions() {
    let dir = tempfile::tempdir().unwrap();
    let scripts = dir.path().join("scripts");
    fs::create_dir_all(scripts.join("lib")).unwrap();
    fs::write(scripts.join("main.rhai"), "import \"lib/util\" as util;\nutil::greet();\n").unwrap();
    fs::write(scripts.join("lib/util.rhai"), "fn greet() {\n    say(\"hi\" +);\n}\n").unwrap();
    fs::write(scripts.join("sales.rhai"), "say(\"sales\");\n").unwrap();
    let config = dir.path().join("rivr.yaml");
    fs::write(
        &config,
        "routes:\n  - name: main\n    destination: '1000'\n    script: main.rhai\n  - name: sales\n    \
         destination: '/^2[0-9{3}$/'\n    script: sales.rhai\n  - name: support\n    script: support.rhai\n",
    )
    .unwrap();

    let check = check_config(&config);
    let shown: Vec<String> = check.problems.iter().map(ToString::to_string).collect();
    assert!(!check.is_ok());
    assert!(check.config.is_some());

    // 1. The configuration: a regex that does not compile, at its value.
    let pattern = check
        .problems
        .iter()
        .find_map(|p| match p {
            Problem::Config(d) if d.kind == DiagnosticKind::BadPattern => Some(d),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no pattern error in {shown:#?}"));
    assert_eq!((pattern.line, pattern.column), (6, 18), "{shown:#?}");
    // 2. A route naming a script that does not exist, at its `script:` value.
    let missing = check
        .problems
        .iter()
        .find_map(|p| match p {
            Problem::Config(d) if d.kind == DiagnosticKind::MissingScript => Some(d),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no missing script in {shown:#?}"));
    assert_eq!((missing.line, missing.column), (9, 13), "{shown:#?}");
    // 3. A route's script whose import does not compile: in the module's file, naming the
    //    script that imports it.
    assert!(
        shown
            .iter()
            .any(|line| line.contains("lib/util.rhai:2:") && line.contains("(imported by `main.rhai`)")),
        "{shown:#?}"
    );
    assert!(check.problems.iter().all(|p| p.position().0 > 0), "{shown:#?}");

    assert_eq!(check.scripts_checked, 3);
    assert_eq!(check.errors(), check.problems.len(), "{shown:#?}");
}

#[test]
fn a_file_that_is_not_yaml_is_one_positioned_problem() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("rivr.yaml");
    fs::write(&config, "routes:\n  - name: a\n   script: [\n").unwrap();
    let check = check_config(&config);
    assert_eq!(check.problems.len(), 1);
    assert!(check.problems[0].position().0 > 0, "{}", check.problems[0]);
    assert!(check.config.is_none());
}

#[test]
fn a_missing_config_file_is_a_problem_not_a_panic() {
    let check = check_config("/nonexistent-rivr/rivr.yaml");
    assert_eq!(check.problems.len(), 1);
    assert!(check.problems[0].to_string().contains("cannot read config file"));
}

#[test]
fn a_clean_deployment_has_no_problems() {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir(dir.path().join("scripts")).unwrap();
    fs::write(dir.path().join("scripts/main.rhai"), "answer();\n").unwrap();
    fs::write(dir.path().join("rivr.yaml"), "").unwrap();
    let check = check_config(dir.path().join("rivr.yaml"));
    assert!(check.is_ok() && check.problems.is_empty(), "{:?}", check.problems);
    assert_eq!(check.scripts_checked, 1);
}

#[test]
fn an_unknown_key_is_reported_next_to_every_other_problem() {
    let dir = tempfile::tempdir().unwrap();
    let scripts = dir.path().join("scripts");
    fs::create_dir_all(&scripts).unwrap();
    fs::write(scripts.join("main.rhai"), "say(\"hi\" +);\n").unwrap();
    let config = dir.path().join("rivr.yaml");
    fs::write(
        &config,
        "lisen: 127.0.0.1:8084\nroutes:\n  - name: main\n    destination: '/^2[0-9{3}$/'\n    script: main.rhai\n  \
         - name: gone\n    destinaton: '3000'\n    script: gone.rhai\nlimits:\n  max_pases: 5\n",
    )
    .unwrap();
    let check = check_config(&config);
    let shown: Vec<String> = check.problems.iter().map(ToString::to_string).collect();
    let at = |kind: DiagnosticKind| {
        check
            .problems
            .iter()
            .filter_map(|p| match p {
                Problem::Config(d) if d.kind == kind => Some((d.line, d.column)),
                _ => None,
            })
            .collect::<Vec<_>>()
    };
    // Three typos, each at its key, with what was meant where one is close.
    assert_eq!(at(DiagnosticKind::UnknownKey), [(1, 1), (7, 5), (10, 3)], "{shown:#?}");
    assert!(shown.iter().any(|l| l.contains("`lisen`") && l.contains("listen")), "{shown:#?}");
    // And everything else in the same run: the regex, the missing script, the script's syntax.
    assert_eq!(at(DiagnosticKind::BadPattern).len(), 1, "{shown:#?}");
    assert_eq!(at(DiagnosticKind::MissingScript), [(8, 13)], "{shown:#?}");
    assert!(shown.iter().any(|l| l.contains("main.rhai:1:")), "{shown:#?}");
}
