//! Script composition: `pass` and `invoke` across the scripts directory, and imports.

mod support;

use std::sync::Arc;

use rivr::config::{Fallback, Limits};
use rivr::script::api::Scripts;
use rivr::script::runner::{CallReport, Ending};
use rivr::script::ScriptStore;
use support::*;

fn run_in_dir(files: &[(&str, &str)], entry: &str, keys: &[&str]) -> (CallReport, Vec<String>, Vec<String>) {
    let dir = tempfile::tempdir().expect("tempdir");
    for (name, text) in files {
        let path = dir.path().join(name);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, text).expect("write");
    }
    let (store, problems) = ScriptStore::load(dir.path(), &Limits::default());
    let problems: Vec<String> = problems.iter().map(ToString::to_string).collect();
    let script = store.get(entry).expect("entry script compiles");
    let store: Arc<dyn Scripts> = Arc::new(store);
    let rt = runtime();
    let call = SimCall {
        actions: keys.iter().map(|key| press(key)).collect(),
        fallback: Fallback::default(),
        scripts: Some(store),
        ..SimCall::default()
    };
    let (report, lines) = run_on(&rt, script, call);
    (report, lines, problems)
}

#[test]
fn pass_continues_the_call_in_another_script_and_its_on_hangup_runs() {
    let (report, lines, _) = run_in_dir(
        &[
            ("main.rhai", r#"answer(); pass("support.rhai"); say("never");"#),
            ("support.rhai", r#"say("support"); fn on_hangup() { log("support done"); }"#),
        ],
        "main.rhai",
        &[],
    );
    assert_eq!(report.ending, Ending::Completed);
    assert_eq!(report.script, "support.rhai");
    assert_eq!(lines, ["answer", r#"say: "support""#, "hangup: NORMAL_CLEARING", "log info: support done"]);
}

#[test]
fn invoke_runs_another_script_and_returns_its_value() {
    let (report, lines, _) = run_in_dir(
        &[
            ("main.rhai", r#"answer(); let ok = invoke("verify.rhai"); say(`verified ${ok}`);"#),
            (
                "verify.rhai",
                r#"let pin = ask("say:pin", #{max_digits: 4, min_digits: 4}); pin.digits == "1234""#,
            ),
        ],
        "main.rhai",
        &["1234"],
    );
    assert_eq!(report.ending, Ending::Completed);
    assert_eq!(lines[2], r#"say: "verified true""#);
}

#[test]
fn pass_to_a_missing_script_is_a_script_error() {
    let (report, _, _) = run_in_dir(&[("main.rhai", r#"pass("nope.rhai");"#)], "main.rhai", &[]);
    let Ending::Failed(failure) = report.ending else { panic!("{:?}", report.ending) };
    assert!(failure.message.contains("no script `nope.rhai`"), "{failure}");
}

#[test]
fn endless_invoke_recursion_is_stopped() {
    let (report, _, _) = run_in_dir(&[("main.rhai", r#"answer(); invoke("main.rhai");"#)], "main.rhai", &[]);
    let Ending::Failed(failure) = report.ending else { panic!("{:?}", report.ending) };
    assert!(failure.message.contains("nests too deep"), "{failure}");
}

#[test]
fn scripts_import_modules_from_the_scripts_directory() {
    let (report, lines, problems) = run_in_dir(
        &[
            ("main.rhai", r#"import "lib/greet" as greet; greet::hello("Ada");"#),
            ("lib/greet.rhai", r#"fn hello(name) { say(`Hello ${name}`); }"#),
        ],
        "main.rhai",
        &[],
    );
    assert!(problems.is_empty(), "{problems:?}");
    assert_eq!(report.ending, Ending::Completed);
    assert_eq!(lines[0], r#"say: "Hello Ada""#);
}

#[test]
fn a_broken_module_is_reported_in_its_own_file_with_position() {
    let (_, _, problems) = run_in_dir(
        &[
            ("main.rhai", "answer();"),
            ("other.rhai", "import \"lib/bad\" as bad;\nanswer();"),
            ("lib/bad.rhai", "fn oops( {\n}"),
        ],
        "main.rhai",
        &[],
    );
    assert!(problems.iter().any(|p| p.starts_with("lib/bad.rhai:1:")), "{problems:?}");
    assert_eq!(problems.len(), 2, "the module and the script importing it: {problems:?}");
}

#[test]
fn a_missing_import_names_the_importing_line() {
    let (_, _, problems) = run_in_dir(
        &[("main.rhai", "answer();"), ("other.rhai", "answer();\nimport \"lib/none\" as x;")],
        "main.rhai",
        &[],
    );
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].starts_with("other.rhai:2:1: "), "{problems:?}");
}

#[test]
fn a_script_that_passes_to_itself_ends_with_the_pass_limit_at_the_pass() {
    let (report, lines, _) =
        run_in_dir(&[("loop.rhai", "answer();\npass(\"loop.rhai\");")], "loop.rhai", &[]);
    let Ending::Failed(failure) = report.ending else { panic!("{:?}", report.ending) };
    assert!(failure.message.contains("limits.max_passes"), "{failure}");
    assert!(failure.message.contains("loop.rhai → loop.rhai"), "{failure}");
    assert_eq!((failure.source.as_str(), failure.line), ("loop.rhai", 2), "{failure}");
    // 100 passes, each answering once, then the fallback: the call ends, the transcript is short.
    assert_eq!(lines.iter().filter(|l| *l == "answer").count(), 101, "{lines:?}");
}

#[test]
fn a_pass_cycle_between_two_scripts_ends_naming_the_chain() {
    let (report, _, _) = run_in_dir(
        &[("a.rhai", r#"say("a"); pass("b.rhai");"#), ("b.rhai", r#"say("b"); pass("a.rhai");"#)],
        "a.rhai",
        &[],
    );
    let Ending::Failed(failure) = report.ending else { panic!("{:?}", report.ending) };
    assert!(failure.message.contains("a.rhai → b.rhai → a.rhai"), "{failure}");
}

#[test]
fn invokes_in_a_loop_count_toward_the_pass_limit() {
    let (report, _, _) = run_in_dir(
        &[("main.rhai", r#"loop { invoke("noop.rhai"); }"#), ("noop.rhai", r#"answer();"#)],
        "main.rhai",
        &[],
    );
    let Ending::Failed(failure) = report.ending else { panic!("{:?}", report.ending) };
    assert!(failure.message.contains("invoke(\"noop.rhai\")"), "{failure}");
    assert!(failure.message.contains("limits.max_passes"), "{failure}");
}
