//! Call traces end to end: `rivr run` (against the fake FreeSWITCH) writes a trace per call,
//! `rivr replay` runs it again against a script version, and `rivr trace to-scenario` turns it
//! into a scenario that passes.

mod support;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rivr::trace::{
    replay_all, FinishedTrace, ReplayOptions, Retention, Trace, TraceWriter, Verdict, TRACE_VERSION,
};
use support::fake_freeswitch::{self as fake, Scenario};
use support::server::Server;

const SCRIPT: &str = r#"
answer();
let pin = ask("ivr/enter-pin.wav", #{min_digits: 4, max_digits: 4, sensitive: true});
say_digits(pin.digits);
let choice = ask("ivr/menu.wav", #{max_digits: 1});
if choice.digits == "1" {
    let result = dial("user/1001");
    if result.status != "answered" { play("ivr/sorry.wav"); }
}
play("ivr/goodbye.wav");
"#;

const CONFIG: &str = "listen: 127.0.0.1:0\ntraces:\n  enabled: true\n  dir: traces\n";

async fn start() -> Server {
    support::server::start(CONFIG, &[("main.rhai", SCRIPT)]).await
}

/// One call on `rivr run` in which the caller types PIN 4821, then 1 (sales answers); the trace
/// it left.
async fn recorded_call() -> (Server, PathBuf) {
    let server = start().await;
    let scenario = Scenario { keys: ["4821".to_string(), "1".to_string()].into(), ..Scenario::default() };
    let log = tokio::time::timeout(Duration::from_secs(60), fake::call(server.addr, scenario))
        .await
        .expect("the call ended");
    assert!(log.apps().iter().any(|app| app.starts_with("bridge")), "{:?}", log.apps());
    let traces = server.dir.path().join("traces");
    let found = tokio::task::spawn_blocking(move || {
        support::wait_for("the trace to be written", || {
            std::fs::read_dir(&traces)
                .map(|d| d.flatten().any(|e| e.path().to_string_lossy().ends_with(".trace.jsonl")))
                .unwrap_or(false)
        });
        let entry = std::fs::read_dir(&traces)
            .expect("dir")
            .flatten()
            .find(|e| e.path().to_string_lossy().ends_with(".trace.jsonl"));
        entry.expect("a trace").path()
    })
    .await
    .expect("waited");
    (server, found)
}

/// Scripts directory holding `text` as main.rhai.
fn scripts_with(text: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("main.rhai"), text).expect("script");
    dir
}

fn replay(trace: &Path, scripts: &Path) -> Verdict {
    let options = ReplayOptions { scripts_dir: Some(scripts.to_path_buf()), ..ReplayOptions::default() };
    let results = replay_all(&[trace.to_path_buf()], &options);
    results.into_iter().next().expect("one result").verdict
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_recorded_on_rivr_run_replays_the_same_against_the_same_script() {
    let (server, trace) = recorded_call().await;
    let scripts = server.dir.path().join("scripts");
    let verdict = tokio::task::spawn_blocking(move || replay(&trace, &scripts)).await.expect("replayed");
    assert_eq!(verdict, Verdict::Same, "{verdict:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_call_replayed_against_an_edited_script_diverges_at_the_verb_that_changed() {
    let (_server, trace) = recorded_call().await;
    let edited = scripts_with(&SCRIPT.replace("ivr/goodbye.wav", "ivr/bye.wav"));
    let path = trace.clone();
    let verdict = tokio::task::spawn_blocking(move || replay(&path, edited.path())).await.expect("replayed");
    let Verdict::Diverged(divergence) = verdict else { panic!("expected a divergence, got {verdict:?}") };
    let recorded = Trace::read(&trace).expect("trace reads");
    let play =
        recorded.verbs.iter().position(|v| v.args["prompts"][0] == "ivr/goodbye.wav").expect("the play") + 1;
    assert_eq!(divergence.at, play);
    let (was, now) =
        (divergence.recorded.expect("recorded verb"), divergence.replayed.expect("replayed verb"));
    assert_eq!(was.args["prompts"][0], "ivr/goodbye.wav");
    assert_eq!(now.args["prompts"][0], "ivr/bye.wav");
    assert_eq!(now.origin.as_deref(), Some("main.rhai:10:1"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dial_to_a_target_the_trace_never_dialled_could_not_be_replayed_and_the_report_names_it() {
    let (_server, trace) = recorded_call().await;
    let edited = scripts_with(&SCRIPT.replace("user/1001", "user/1002"));
    let verdict = tokio::task::spawn_blocking(move || replay(&trace, edited.path())).await.expect("replayed");
    let Verdict::CouldNotReplay(why) = verdict else { panic!("expected could not replay, got {verdict:?}") };
    assert!(why.contains("dial user/1002") && why.contains("never dialled"), "{why}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sensitive_pin_never_reaches_the_trace_file_even_when_the_script_reads_it_back() {
    let (_server, trace) = recorded_call().await;
    let text = std::fs::read_to_string(&trace).expect("trace");
    assert!(!text.contains("4821"), "{text}");
    assert!(text.contains(r#""digit_count":4"#), "{text}");
    assert!(text.contains("••••"), "say_digits' argument is blotted out: {text}");
}

#[test]
fn a_trace_made_by_the_simulator_becomes_a_scenario_that_passes_against_the_script_that_made_it() {
    let scripts = scripts_with(SCRIPT);
    let trace_path = scripts.path().join("call.trace.jsonl");
    let options = rivr::console::SimOptions {
        script: scripts.path().join("main.rhai"),
        scripts_dir: None,
        from: "5551234".into(),
        to: "1000".into(),
        variables: Vec::new(),
        dials: vec![rivr::switch::sim::SimDial::parse("busy").expect("dial")],
        limits: rivr::config::Limits::default(),
        fallback: rivr::config::Fallback::default(),
        services: rivr::call::actor::CallServices::default(),
        max_duration: Duration::from_secs(3600),
        trace: Some(trace_path.clone()),
    };
    let input = Box::new(std::io::Cursor::new("4821\n1\n".as_bytes().to_vec()));
    rivr::console::simulate(options, input, Arc::new(|_: &str| {}), false).expect("simulated");
    let trace = Trace::read(&trace_path).expect("trace reads");
    let yaml = rivr::trace::scenario::to_scenario(&trace, "main.rhai").expect("a scenario");
    assert!(yaml.contains("dial: \"busy\""), "{yaml}");
    assert!(!yaml.contains("4821"), "the masked PIN is not in the scenario either: {yaml}");
    let file = scripts.path().join("call.test.yaml");
    std::fs::write(&file, &yaml).expect("write");
    let parsed = rivr::scenario::load(&file).unwrap_or_else(|e| panic!("{e:?}\n{yaml}"));
    let results = rivr::scenario::run_all(&parsed.scenarios, &rivr::scenario::RunOptions::default());
    assert!(results.iter().all(|r| r.passed()), "{}\n{yaml}", results[0].render());
}

#[test]
fn a_truncated_trace_is_reported_with_its_file_and_line_and_the_other_traces_still_replay() {
    let scripts = scripts_with("answer(); play(\"a.wav\");");
    let good = scripts.path().join("good.trace.jsonl");
    let options = rivr::console::SimOptions {
        script: scripts.path().join("main.rhai"),
        scripts_dir: None,
        from: "5551234".into(),
        to: "1000".into(),
        variables: Vec::new(),
        dials: Vec::new(),
        limits: rivr::config::Limits::default(),
        fallback: rivr::config::Fallback::default(),
        services: rivr::call::actor::CallServices::default(),
        max_duration: Duration::from_secs(3600),
        trace: Some(good.clone()),
    };
    rivr::console::simulate(
        options,
        Box::new(std::io::Cursor::new(Vec::new())),
        Arc::new(|_: &str| {}),
        false,
    )
    .expect("simulated");
    let text = std::fs::read_to_string(&good).expect("trace");
    let cut = scripts.path().join("cut.trace.jsonl");
    let lines: Vec<&str> = text.lines().collect();
    std::fs::write(&cut, format!("{}\n{}\n{}", lines[0], lines[1], &lines[2][..lines[2].len() / 2]))
        .expect("write");
    let future = scripts.path().join("future.trace.jsonl");
    let header = format!(r#"{{"trace":{TRACE_VERSION}"#);
    std::fs::write(&future, text.replacen(&header, r#"{"trace":7"#, 1)).expect("write");

    let options =
        ReplayOptions { scripts_dir: Some(scripts.path().to_path_buf()), ..ReplayOptions::default() };
    let results = replay_all(&[cut.clone(), future.clone(), good.clone()], &options);
    let Verdict::CouldNotReplay(why) = &results[0].verdict else { panic!("{:?}", results[0]) };
    assert!(why.starts_with(&format!("{}:3:", cut.display())) && why.contains("truncated"), "{why}");
    let Verdict::CouldNotReplay(why) = &results[1].verdict else { panic!("{:?}", results[1]) };
    assert!(why.contains(":1:") && why.contains("version 7"), "{why}");
    assert_eq!(results[2].verdict, Verdict::Same);
}

#[test]
fn a_full_trace_queue_drops_and_counts_traces_without_making_calls_wait() {
    let dir = tempfile::tempdir().expect("tempdir");
    let drops = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let counted = drops.clone();
    let on_drop: Arc<dyn Fn() + Send + Sync> = Arc::new(move || {
        counted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    });
    let writer = TraceWriter::start(dir.path(), 1, Retention::default(), Some(on_drop)).expect("writer");
    let body = "x".repeat(64 * 1024);
    let started = Instant::now();
    let mut accepted = 0;
    for n in 0..2000 {
        let trace = FinishedTrace { name: format!("{n:08}.trace.jsonl"), text: body.clone() };
        if writer.submit(trace) {
            accepted += 1;
        }
    }
    let submitting = started.elapsed();
    let dropped = writer.stats().dropped.load(std::sync::atomic::Ordering::Relaxed);
    assert!(dropped > 0, "a queue of one cannot take 2000 traces at once");
    assert_eq!(dropped, drops.load(std::sync::atomic::Ordering::Relaxed), "every drop reaches the metric");
    assert_eq!(accepted + dropped, 2000);
    // Writing 2000 × 64 KiB takes the disk far longer; handing them over must not.
    assert!(submitting < Duration::from_secs(2), "submitting took {submitting:?}");
    support::wait_for("the accepted traces to be written", || {
        writer.stats().written.load(std::sync::atomic::Ordering::Relaxed) == accepted
    });
}

#[test]
fn a_writer_restarted_after_a_crash_mid_write_removes_the_half_file_and_keeps_earlier_traces() {
    let dir = tempfile::tempdir().expect("tempdir");
    let earlier = dir.path().join("0000000000001-a.trace.jsonl");
    std::fs::write(&earlier, "{\"trace\":1}\n").expect("write");
    let half = dir.path().join("0000000000002-b.trace.jsonl.tmp");
    std::fs::write(&half, "{\"trace\":1,\"ca").expect("write");
    let writer = TraceWriter::start(dir.path(), 8, Retention { max_files: Some(2), max_bytes: None }, None)
        .expect("writer");
    assert!(!half.exists(), "the half-written file is gone");
    assert!(earlier.exists());
    for name in ["0000000000003-c.trace.jsonl", "0000000000004-d.trace.jsonl"] {
        writer.submit(FinishedTrace { name: name.into(), text: "{}\n".into() });
    }
    support::wait_for("both written", || {
        writer.stats().written.load(std::sync::atomic::Ordering::Relaxed) == 2
    });
    // Retention: two files at most, the oldest went first.
    assert!(!earlier.exists());
    assert!(dir.path().join("0000000000004-d.trace.jsonl").exists());
}

#[test]
fn every_example_scenario_traced_by_rivr_test_replays_the_same_against_its_script() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let traces = tempfile::tempdir().expect("tempdir");
    let files = rivr::scenario::cli::scenario_files(&[root.join("scripts")]);
    let scenarios: Vec<_> =
        files.iter().flat_map(|f| rivr::scenario::load(f).expect("scenario file").scenarios).collect();
    let options = rivr::scenario::RunOptions {
        traces: Some(traces.path().to_path_buf()),
        ..rivr::scenario::RunOptions::default()
    };
    let results = rivr::scenario::run_all(&scenarios, &options);
    assert!(results.iter().all(|r| r.passed()));
    let paths = rivr::trace::cli::trace_files(&[traces.path().to_path_buf()]);
    assert_eq!(paths.len(), scenarios.len());
    let options = ReplayOptions { scripts_dir: Some(root.join("scripts")), ..ReplayOptions::default() };
    for result in replay_all(&paths, &options) {
        assert_eq!(result.verdict, Verdict::Same, "{}", result.render());
    }
}

/// Up to four digits after the prompt (which the simulator plays for 1 s), a 2 s inter-digit
/// timeout; then a one-key confirmation.
const TIMED_SCRIPT: &str = r#"answer();
let account = ask("ivr/account.wav", #{min_digits: 1, max_digits: 4, timeout: 5000, inter_digit_timeout: 2000});
say("account " + account.digits);
let confirm = ask("ivr/confirm.wav", #{max_digits: 1});
say("confirm " + confirm.digits);
"#;

/// The caller presses 1 300 ms into the account prompt (barge-in), then 2 at 3 s: 2.7 s later,
/// past the inter-digit timeout, so the account is "1". The 2 comes while `say` plays (2.3 s to
/// 3.3 s), which drops it as FreeSWITCH's `speak` does; the caller then answers the confirmation.
const BARGE_IN_THEN_PAUSE: &str = r#"script: main.rhai
scenarios:
  - name: barge-in, then a pause past the inter-digit timeout
    steps:
      - expect: answer
      - expect: ask ivr/account.wav
      - press: "12"
        at: [300ms, 3s]
      - expect: say account 1
      - expect: ask ivr/confirm.wav
      - press: "5"
      - expect: say confirm 5
      - expect: hangup
"#;

/// The trace `rivr test --traces` writes for `scenario` on `TIMED_SCRIPT`, in `scripts`.
fn traced_scenario(scripts: &Path, scenario: &str) -> PathBuf {
    let file = scripts.join("call.test.yaml");
    std::fs::write(&file, scenario).expect("write");
    let parsed = rivr::scenario::load(&file).unwrap_or_else(|e| panic!("{e:?}"));
    let traces = scripts.join("traces");
    let options =
        rivr::scenario::RunOptions { traces: Some(traces.clone()), ..rivr::scenario::RunOptions::default() };
    let results = rivr::scenario::run_all(&parsed.scenarios, &options);
    assert!(results.iter().all(|r| r.passed()), "{}", results[0].render());
    let paths = rivr::trace::cli::trace_files(&[traces]);
    assert_eq!(paths.len(), 1);
    paths[0].clone()
}

/// `trace` as the version 1 format kept it: no key times.
fn without_key_times(trace: &Path) -> String {
    let text = std::fs::read_to_string(trace).expect("trace");
    let mut lines = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let mut value: serde_json::Value = serde_json::from_str(line).expect("json");
        if index == 0 {
            value["trace"] = 1.into();
        } else if let Some(result) = value.get_mut("result").and_then(|r| r.as_object_mut()) {
            result.remove("keys");
        }
        lines.push(value.to_string());
    }
    lines.join("\n") + "\n"
}

fn ask_result(trace: &Trace, n: usize) -> (String, Option<String>, serde_json::Value) {
    let ask = trace.verbs.iter().filter(|v| v.verb == "ask").nth(n).expect("the ask");
    let value = serde_json::to_value(&ask.result).expect("json");
    (
        value["status"].as_str().unwrap_or_default().to_string(),
        value["digits"].as_str().map(String::from),
        value["keys"].clone(),
    )
}

#[test]
fn a_caller_who_barges_in_then_pauses_past_the_inter_digit_timeout_replays_the_same_ask_result() {
    let scripts = scripts_with(TIMED_SCRIPT);
    let path = traced_scenario(scripts.path(), BARGE_IN_THEN_PAUSE);
    let trace = Trace::read(&path).expect("trace reads");
    assert_eq!(trace.header.trace, TRACE_VERSION);
    assert_eq!(
        ask_result(&trace, 0),
        ("match".into(), Some("1".into()), serde_json::json!([{"key": "1", "at_ms": 300}]))
    );
    // The say dropped the 2: the confirmation took the 5, pressed after its 1 s prompt.
    assert_eq!(
        ask_result(&trace, 1),
        ("match".into(), Some("5".into()), serde_json::json!([{"key": "5", "at_ms": 1000}]))
    );
    // Same: every verb has the same arguments and result (status, digits, terminator).
    assert_eq!(replay(&path, scripts.path()), Verdict::Same);
}

#[test]
fn a_shorter_inter_digit_timeout_in_a_new_version_splits_keys_the_caller_paused_between_and_only_key_times_show_it(
) {
    // Recorded on a version with a 4 s inter-digit timeout: 1 at 300 ms and 2 at 3 s make "12".
    let patient =
        scripts_with(&TIMED_SCRIPT.replace("inter_digit_timeout: 2000", "inter_digit_timeout: 4000"));
    let scenario = BARGE_IN_THEN_PAUSE.replace("say account 1", "say account 12");
    let path = traced_scenario(patient.path(), &scenario);
    assert_eq!(replay(&path, patient.path()), Verdict::Same);
    // The caller's 2.7 s pause is longer than the new version's 2 s: it would have taken "1".
    let hasty = scripts_with(TIMED_SCRIPT);
    let Verdict::Diverged(divergence) = replay(&path, hasty.path()) else { panic!("expected a divergence") };
    assert_eq!(divergence.at, 2, "the account ask");
    let shown = |verb: Option<rivr::trace::format::VerbRecord>| verb.expect("a verb").result.shown();
    assert_eq!(shown(divergence.recorded.clone()), r#"match "12""#);
    assert_eq!(shown(divergence.replayed.clone()), r#"match "1""#);
    // Without key times (a version 1 trace) the keys come as one burst and the pause is lost.
    let burst = patient.path().join("burst.trace.jsonl");
    std::fs::write(&burst, without_key_times(&path)).expect("write");
    let Verdict::Diverged(divergence) = replay(&burst, hasty.path()) else { panic!("a changed argument") };
    assert_eq!(shown(divergence.replayed.clone()), r#"match "12""#, "the burst hides the pause");
}

#[test]
fn a_version_1_trace_without_key_times_still_reads_and_replays_the_same() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/traces/v1");
    let trace = dir.join("menu.trace.jsonl");
    let read = Trace::read(&trace).expect("a version 1 trace reads");
    assert_eq!(read.header.trace, 1);
    assert!(ask_result(&read, 0).2.is_null(), "no key times in version 1");
    assert_eq!(replay(&trace, &dir), Verdict::Same);
}

#[test]
fn a_masked_asks_key_times_reach_the_file_without_its_digits_and_still_replay() {
    let scripts = scripts_with(
        &TIMED_SCRIPT.replace("inter_digit_timeout: 2000", "inter_digit_timeout: 2000, sensitive: true"),
    );
    let scenario = r#"script: main.rhai
scenarios:
  - name: a PIN typed key by key
    steps:
      - expect: answer
      - expect: ask ivr/account.wav
      - press: "9876"
        at: [300ms, 800ms, 1.5s, 2s]
      - expect: say /^account/
      - expect: ask ivr/confirm.wav
      - press: "1"
      - expect: say confirm 1
      - expect: hangup
"#;
    let path = traced_scenario(scripts.path(), scenario);
    let text = std::fs::read_to_string(&path).expect("trace");
    assert!(!text.contains("9876"), "{text}");
    assert!(text.contains(r#""keys":[{"at_ms":300},{"at_ms":800},{"at_ms":1500},{"at_ms":2000}]"#), "{text}");
    assert_eq!(replay(&path, scripts.path()), Verdict::Same);
}
