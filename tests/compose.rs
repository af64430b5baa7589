//! Script composition: `pass` and `invoke` across the scripts directory, and imports.

mod support;

use std::sync::Arc;

use rivr::call::actor;
use rivr::config::{Fallback, Limits};
use rivr::script::api::Scripts;
use rivr::script::runner::{self, CallJob, CallReport, Ending};
use rivr::script::ScriptStore;
use rivr::switch::sim::{Journal, SimChannel, SimSetup};
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
    let journal = Journal::new();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    for key in keys {
        tx.send(press(key)).expect("queue");
    }
    drop(tx);
    let call = SimCall::default();
    let channel = SimChannel::new(&call.info, rx, SimSetup::default(), journal.clone());
    let (handle, _task) = {
        let _guard = rt.enter();
        actor::spawn(channel)
    };
    let job = CallJob {
        handle,
        info: call.info,
        script,
        scripts: Some(store),
        limits: Limits::default(),
        fallback: Fallback::default(),
        language: "en".into(),
    };
    let report = runner::spawn(job).expect("thread").join().expect("no panic");
    std::thread::sleep(std::time::Duration::from_millis(1));
    (report, journal.lines(), problems)
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
    assert_eq!(lines, ["answer", r#"say: "support""#, "hangup: NORMAL_CLEARING"]);
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
