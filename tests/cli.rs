//! The `rivr` binary: `sim` with piped input, `check` exit codes and messages.

#[path = "support/http_server.rs"]
mod http_server;

use std::io::Write;
use std::process::{Command, Stdio};

use http_server::Reply;

fn rivr(args: &[&str], input: &str) -> (i32, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_rivr"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run rivr");
    child.stdin.take().expect("stdin").write_all(input.as_bytes()).expect("write stdin");
    let output = child.wait_with_output().expect("wait");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// The example menu answers with its menu only in Acme's office hours: pin the call's clock there.
const OFFICE_HOURS: &str = "rivr_now=2026-11-23T10:00:00-05:00";

#[test]
fn sim_with_piped_input_prints_the_transcript() {
    let (code, out, err) =
        rivr(&["sim", "scripts/main.rhai", "--from", "5550100", "--var", OFFICE_HOURS], "3\n");
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "answer");
    assert_eq!(lines[1], r#"say: "Welcome to Acme.""#);
    assert!(
        lines[2].starts_with(r#"ask: "For sales press 1."#) && lines[2].ends_with(r#"→ match "3""#),
        "{out}"
    );
    assert_eq!(lines[3], r#"say: "You are calling from""#);
    assert_eq!(lines[4], "say_digits: 5550100");
    assert_eq!(lines[5], r#"say: "Goodbye.""#);
    assert_eq!(lines[6], "hangup: NORMAL_CLEARING");
    // The script's own log line (from on_hangup) in its place among the verbs.
    assert_eq!(lines[7], "log info: call finished");
    assert_eq!(lines[8], "call ended: main.rhai completed");
}

#[test]
fn sim_uses_the_dial_outcomes_given_on_the_command_line() {
    let (code, out, _) = rivr(&["sim", "scripts/main.rhai", "--dial", "busy", "--var", OFFICE_HOURS], "1\n");
    assert_eq!(code, 0);
    assert!(out.contains("dial: user/1001, user/1002 → busy"), "{out}");
    assert!(out.contains(r#"say: "Sorry, nobody in sales can take your call right now.""#), "{out}");
}

#[test]
fn sim_ends_the_call_when_input_runs_out() {
    let (code, out, _) = rivr(&["sim", "scripts/main.rhai"], "");
    assert_eq!(code, 0);
    assert!(out.ends_with("call ended: hung up (NORMAL_CLEARING) in main.rhai\n"), "{out}");
}

#[test]
fn sim_exits_1_when_the_script_fails_and_names_the_place() {
    let (code, out, _) = rivr(&["sim", "tests/fixtures/scripts/infinite_loop.rhai"], "");
    assert_eq!(code, 1);
    assert!(out.contains("script failed at infinite_loop.rhai:2:"), "{out}");
    assert!(out.contains("hangup: NORMAL_TEMPORARY_FAILURE"), "{out}");
}

#[test]
fn sim_rejects_a_bad_dial_outcome_with_a_hint() {
    let (code, _, err) = rivr(&["sim", "scripts/main.rhai", "--dial", "maybe"], "");
    assert_eq!(code, 2);
    assert!(err.contains("--dial maybe: use answered[:SECONDS], busy, no_answer or failed"), "{err}");
}

#[test]
fn check_reports_a_syntax_error_with_file_line_and_column_and_exits_1() {
    let (code, out, _) = rivr(&["check", "tests/fixtures/scripts/syntax_error.rhai"], "");
    assert_eq!(code, 1, "{out}");
    assert!(out.starts_with("tests/fixtures/scripts/syntax_error.rhai:2:"), "{out}");
    assert!(out.contains("checked 1 script: 1 problem(s)"), "{out}");
}

#[test]
fn check_passes_the_example_scripts() {
    let (code, out, _) = rivr(&["check", "scripts"], "");
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("no problems"), "{out}");
}

#[test]
fn sim_reports_a_script_that_does_not_compile() {
    let (code, _, err) = rivr(&["sim", "tests/fixtures/scripts/syntax_error.rhai"], "");
    assert_eq!(code, 1);
    assert!(err.contains("syntax_error.rhai:2:"), "{err}");
}

#[test]
fn sim_with_a_config_reaches_the_http_services_it_allows() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("rt");
    let server = http_server::start(&rt, |_| Reply::json(200, r#"{"balance": 42}"#));
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("rivr.yaml");
    std::fs::write(&config, format!("scripts: .\nhttp:\n  allow: ['{}/']\n", server.base)).expect("config");
    let script = dir.path().join("balance.rhai");
    let text =
        format!(r#"answer(); let r = http_get("{}/balance"); say_number(r.json.balance);"#, server.base);
    std::fs::write(&script, text).expect("script");
    let (script, config) = (script.to_string_lossy().into_owned(), config.to_string_lossy().into_owned());

    let (code, out, err) = rivr(&["sim", &script, "-c", &config], "");
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("say_number: 42"), "{out}");
    assert_eq!(server.requests().len(), 1);

    // Without the configuration the same flow has no HTTP and fails through its fallback.
    let (code, out, _) = rivr(&["sim", &script], "");
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("HTTP is not configured"), "{out}");
}

#[test]
fn sim_ends_a_script_that_passes_to_itself_with_the_limit_and_its_place() {
    let dir = tempfile::tempdir().expect("tempdir");
    let script = dir.path().join("self.rhai");
    std::fs::write(&script, "answer();\npass(\"self.rhai\");\n").expect("write");
    let (code, stdout, _) = rivr(&["sim", script.to_str().expect("utf-8")], "");
    assert_eq!(code, 1, "{stdout}");
    assert!(stdout.contains("self.rhai:2"), "{stdout}");
    assert!(stdout.contains("limits.max_passes"), "{stdout}");
    // 101 answers (the first run and 100 passes), not a million.
    assert!(stdout.lines().filter(|l| *l == "answer").count() <= 101, "{stdout}");
}

#[test]
fn logs_written_to_a_pipe_carry_no_colour_unless_asked() {
    // `--log info` makes the sim log; stderr is a pipe here, as with `rivr run 2>log`.
    let (_, _, plain) = rivr(&["--log", "info", "sim", "scripts/main.rhai", "--var", OFFICE_HOURS], "2\n");
    assert!(plain.contains("INFO"), "{plain}");
    assert!(!plain.contains('\u{1b}'), "colour escapes in piped logs: {plain:?}");
    let (_, _, coloured) = rivr(
        &["--log", "info", "--color", "always", "sim", "scripts/main.rhai", "--var", OFFICE_HOURS],
        "2\n",
    );
    assert!(coloured.contains("\u{1b}["), "{coloured:?}");
}

#[test]
fn sim_with_a_config_applies_its_fallback_and_limits() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("rivr.yaml");
    std::fs::write(
        &config,
        "scripts: .\nlimits:\n  max_passes: 3\nfallback:\n  transfer: { extension: \"0\", context: default }\n",
    )
    .expect("config");
    let script = dir.path().join("self.rhai");
    std::fs::write(&script, "answer();\npass(\"self.rhai\");\n").expect("script");
    let (script, config) = (script.to_string_lossy().into_owned(), config.to_string_lossy().into_owned());
    let (code, out, err) = rivr(&["sim", &script, "-c", &config], "");
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("limits.max_passes"), "{out}");
    assert_eq!(out.lines().filter(|l| *l == "answer").count(), 4, "three passes, then the limit: {out}");
    assert!(out.contains("transfer: 0 default"), "the config's fallback: {out}");
}

#[test]
fn run_refuses_to_start_the_api_on_a_network_address_without_a_token() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("scripts")).expect("mkdir");
    std::fs::write(dir.path().join("scripts/main.rhai"), "answer();").expect("script");
    let config = dir.path().join("rivr.yaml");
    std::fs::write(&config, "listen: 127.0.0.1:0\napi:\n  listen: 0.0.0.0:0\n").expect("config");
    let (code, _, err) = rivr(&["run", "-c", config.to_str().expect("utf-8")], "");
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("rivr.yaml:3:11: api.listen 0.0.0.0:0 is reachable from other hosts"), "{err}");
    assert!(err.contains("set `api.token: ${RIVR_API_TOKEN}`, or listen on 127.0.0.1"), "{err}");
    assert!(err.contains("nothing was started"), "{err}");

    // A token from the environment that is unset is named, not silently empty.
    std::fs::write(&config, "api:\n  listen: 0.0.0.0:0\n  token: ${RIVR_TEST_UNSET_TOKEN}\n")
        .expect("config");
    let (code, _, err) = rivr(&["run", "-c", config.to_str().expect("utf-8")], "");
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("RIVR_TEST_UNSET_TOKEN"), "{err}");
}
