//! `rivr test` is itself tested: passing scenarios, each kind of failure with its message and
//! exit code, and JUnit output.

use std::path::Path;
use std::process::Command;

use rivr::scenario::{junit, parse, run_all, RunOptions, ScenarioResult};

fn run_text(yaml: &str) -> Vec<ScenarioResult> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/scenarios/inline.test.yaml");
    let file = match parse(yaml, &path) {
        Ok(file) => file,
        Err(problems) => panic!("{problems:?}"),
    };
    run_all(&file.scenarios, &RunOptions::default())
}

fn failure(yaml: &str) -> String {
    let results = run_text(yaml);
    assert_eq!(results.len(), 1);
    match &results[0].outcome {
        rivr::scenario::Outcome::Failed(message) => message.clone(),
        rivr::scenario::Outcome::Passed => panic!("expected a failure"),
    }
}

const HEAD: &str = "script: flow.rhai\nscenarios:\n  - name: s\n    steps:\n";

#[test]
fn a_matching_scenario_passes_with_simulated_time() {
    let results = run_text(&format!(
        "{HEAD}      - expect: answer\n      - expect: say \"Welcome*\"\n      - expect: ask /press 1/i\n      - wait: 30s\n      - expect: say Goodbye\n      - expect: hangup\n"
    ));
    assert!(results[0].passed(), "{}", results[0].render());
    assert!(results[0].seconds < 5.0, "30 s of waiting is simulated");
}

#[test]
fn a_wrong_prompt_names_the_step_the_expectation_and_what_the_flow_did() {
    let message = failure(&format!("{HEAD}      - expect: answer\n      - expect: say \"Hello*\"\n"));
    assert!(message.contains("step 2 (line 6): expected say \"Hello*\""), "{message}");
    assert!(message.contains("but the flow did say: \"Welcome to Acme\" at flow.rhai:2:1"), "{message}");
}

#[test]
fn a_missing_dial_is_reported() {
    let message = failure(&format!(
        "{HEAD}      - expect: answer\n      - expect: say \"Welcome*\"\n      - expect: ask\n      - press: \"2\"\n      - expect: dial user/1000\n"
    ));
    assert!(message.contains("expected dial user/1000"), "{message}");
    assert!(message.contains("but the flow did say: \"Goodbye\""), "{message}");
}

#[test]
fn extra_verbs_at_the_end_fail_the_scenario() {
    let message = failure(&format!(
        "{HEAD}      - expect: answer\n      - expect: say \"Welcome*\"\n      - expect: ask\n      - press: \"2\"\n      - expect: say Goodbye\n"
    ));
    assert!(
        message.contains("the flow did more than the steps expect: hangup: NORMAL_CLEARING"),
        "{message}"
    );
}

#[test]
fn a_flow_still_waiting_for_input_fails_the_scenario() {
    let message = failure(&format!(
        "{HEAD}      - expect: answer\n      - expect: say \"Welcome*\"\n      - expect: ask\n"
    ));
    assert!(message.contains("still waiting for input when the steps ran out"), "{message}");
}

#[test]
fn unused_caller_input_fails_the_scenario() {
    let message = failure(&format!(
        "{HEAD}      - expect: answer\n      - expect: say \"Welcome*\"\n      - expect: ask\n      - press: \"2\"\n      - expect: say Goodbye\n      - expect: hangup\n      - press: \"5\"\n"
    ));
    assert!(message.contains("never used"), "{message}");
}

#[test]
fn dial_outcomes_come_from_the_steps() {
    let results = run_text(&format!(
        "{HEAD}      - expect: answer\n      - expect: say \"Welcome*\"\n      - expect: ask\n      - press: \"1\"\n      - expect: dial user/1000\n        dial: busy\n      - expect: say \"Sorry, busy\"\n      - expect: say Goodbye\n      - expect: hangup\n"
    ));
    assert!(results[0].passed(), "{}", results[0].render());
}

#[test]
fn a_bad_step_is_reported_with_its_line() {
    let path = Path::new("inline.test.yaml");
    let problems = parse(&format!("{HEAD}      - expect: answer\n      - jump: 3\n"), path).unwrap_err();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(problems[0].line, 6, "{}", problems[0]);
    let problems = parse(&format!("{HEAD}      - expect: fly away\n"), path).unwrap_err();
    assert!(problems[0].to_string().contains("unknown verb `fly`"), "{}", problems[0]);
}

#[test]
fn junit_output_has_the_required_elements_and_attributes() {
    let mut results = run_text(&format!("{HEAD}      - expect: answer\n      - expect: say \"Nope\"\n"));
    results.extend(run_text(&format!(
        "{HEAD}      - expect: answer\n      - expect: say \"Welcome*\"\n      - expect: ask\n      - press: \"2\"\n      - expect: say Goodbye\n      - expect: hangup\n"
    )));
    let xml = junit(&results);
    assert!(xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites "), "{xml}");
    assert!(xml.contains("tests=\"2\" failures=\"1\""), "{xml}");
    assert!(xml.contains("<testsuite name=\""), "{xml}");
    assert_eq!(xml.matches("<testcase name=\"s\" classname=").count(), 2, "{xml}");
    assert!(
        xml.contains(
            "<failure message=\"step 2 (line 6): expected say &quot;Nope&quot;\" type=\"ScenarioFailure\">"
        ),
        "{xml}"
    );
    assert_eq!(xml.matches("<testsuite ").count(), xml.matches("</testsuite>").count());
    assert!(xml.trim_end().ends_with("</testsuites>"));
}

fn rivr(args: &[&str]) -> (i32, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_rivr"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run rivr");
    (output.status.code().unwrap_or(-1), String::from_utf8_lossy(&output.stdout).into_owned())
}

#[test]
fn the_example_scenarios_pass_through_the_binary() {
    let (code, out) = rivr(&["test", "scripts"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.lines().last().unwrap_or("").ends_with(" passed, 0 failed"), "{out}");
}

#[test]
fn a_failing_scenario_file_exits_1_with_the_summary_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/scenarios/flow.rhai"),
        dir.path().join("flow.rhai"),
    )
    .expect("copy");
    std::fs::write(dir.path().join("x.test.yaml"), format!("{HEAD}      - expect: say nothing\n"))
        .expect("write");
    let (code, out) = rivr(&["test", dir.path().to_str().expect("utf-8")]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("FAIL "), "{out}");
    assert!(out.trim_end().ends_with("0 passed, 1 failed"), "{out}");
}

#[test]
fn rivr_new_scaffolds_a_project_whose_scenarios_pass() {
    let dir = tempfile::tempdir().expect("tempdir");
    let project = dir.path().join("acme");
    let (code, _) = rivr(&["new", project.to_str().expect("utf-8")]);
    assert_eq!(code, 0);
    for file in ["rivr.yaml", "scripts/main.rhai", "scripts/main.test.yaml", "README.md"] {
        assert!(project.join(file).exists(), "{file}");
    }
    let (code, out) = rivr(&["test", project.join("scripts").to_str().expect("utf-8")]);
    assert_eq!(code, 0, "{out}");
    rivr::config::Config::load(project.join("rivr.yaml")).expect("the scaffolded config is valid");
}

#[test]
fn canned_http_answers_make_flows_that_call_services_testable_offline() {
    let yaml = r#"script: balance.rhai
scenarios:
  - name: balance read out
    http:
      - get: "https://bank.example/api/balance*"
        json: { balance: 12.5 }
    steps:
      - expect: answer
      - expect: http_get "https://bank.example/*"
      - expect: say_money 12.50
      - expect: hangup
  - name: service down
    http:
      - get: "https://bank.example/*"
        status: 503
    steps:
      - expect: answer
      - expect: http_get
      - expect: say unavailable
      - expect: hangup
"#;
    let results = run_text(yaml);
    for result in &results {
        assert!(result.passed(), "{}", result.render());
    }
    assert_eq!(results.len(), 2);
}

#[test]
fn a_request_without_a_canned_answer_fails_the_script_with_a_hint() {
    let yaml = "script: balance.rhai\nscenarios:\n  - name: s\n    steps:\n      - expect: answer\n";
    let message = failure(yaml);
    assert!(message.contains("the script failed at balance.rhai:2:"), "{message}");
    assert!(message.contains("add one for this request"), "{message}");
}
