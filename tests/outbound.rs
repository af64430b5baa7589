//! Whole calls over FreeSWITCH's outbound socket: rivr's listener and `FsChannel` against the
//! fake FreeSWITCH of `support::fake_freeswitch`, which is made from real captures. Scripts run
//! exactly as in production (a fiber driven by the call's task, the runner), and every assertion is about what
//! rivr sent or what the script saw; nothing waits on a clock.

mod support;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rivr::call::actor::{self, CallServices};
use rivr::call::CallInfo;
use rivr::config::{Fallback, Limits};
use rivr::script::runner::{self, CallJob, CallReport, Ending};
use rivr::switch::freeswitch::{outbound, FsSettings};
use support::compile;
use support::fake_freeswitch::{self as fake, CallLog, DialResult, RecordResult, Scenario};
use tokio::sync::{mpsc, oneshot};

/// rivr's outbound listener on a free port, running `script` for every call.
struct Rivr {
    addr: SocketAddr,
    reports: mpsc::UnboundedReceiver<(CallInfo, CallReport)>,
    _stop: oneshot::Sender<()>,
}

async fn start(script: &str, settings: FsSettings) -> Rivr {
    start_with_limits(script, settings, Limits::default()).await
}

async fn start_with_limits(script: &str, settings: FsSettings, limits: Limits) -> Rivr {
    start_with_services(script, settings, limits, CallServices::default()).await
}

async fn start_with_services(
    script: &str,
    settings: FsSettings,
    limits: Limits,
    services: CallServices,
) -> Rivr {
    let script = compile("main.rhai", script);
    let listener = outbound::bind(([127, 0, 0, 1], 0).into()).expect("bind");
    let addr = listener.local_addr().expect("address");
    let (tx, reports) = mpsc::unbounded_channel();
    let (stop, stopped) = oneshot::channel::<()>();
    let on_call = move |info: CallInfo, channel| {
        let job = CallJob {
            info: info.clone(),
            script: script.clone(),
            scripts: None,
            limits: limits.clone(),
            fallback: Fallback::Hangup {
                prompt: Some("ivr/sorry.wav".into()),
                cause: "NORMAL_TEMPORARY_FAILURE".into(),
            },
            language: "en".into(),
        };
        let fiber = runner::fiber(&support::fibers(), job).expect("fiber stack");
        let (tx, services) = (tx.clone(), services.clone());
        tokio::spawn(async move {
            let report = actor::drive(channel, fiber, services).await;
            let _ = tx.send((info, report));
        });
    };
    tokio::spawn(outbound::serve(listener, Arc::new(settings), support::call_threads(), on_call, async {
        let _ = stopped.await;
    }));
    Rivr { addr, reports, _stop: stop }
}

/// Fails the test instead of hanging it if a call never ends. Generous: it detects hangs, it
/// does not measure speed (the 2 build cores are shared, and debug builds are slow).
async fn guard<F: Future>(future: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(300), future).await.expect("the call did not finish")
}

async fn one_call_with(script: &str, scenario: Scenario, settings: FsSettings) -> (CallReport, CallLog) {
    let mut rivr = start(script, settings).await;
    let log = guard(fake::call(rivr.addr, scenario)).await;
    let (info, report) = guard(rivr.reports.recv()).await.expect("a report");
    assert_eq!(info.uuid, log.uuid);
    (report, log)
}

async fn one_call(script: &str, scenario: Scenario) -> (CallReport, CallLog) {
    one_call_with(script, scenario, FsSettings::default()).await
}

fn keys(tries: &[&str]) -> Scenario {
    Scenario { keys: tries.iter().map(|k| k.to_string()).collect(), ..Scenario::default() }
}

/// The variables a script wrote its observations to (`set_var("result...", ...)`), as
/// FreeSWITCH stores them: `set` arguments pass the core's expansion and `set`'s own.
fn results(log: &CallLog) -> Vec<String> {
    log.apps()
        .iter()
        .filter_map(|l| {
            l.strip_prefix("set result").map(|r| fake::fs_expand(&fake::fs_expand(&format!("result{r}"))))
        })
        .collect()
}

fn completed(report: &CallReport, log: &CallLog) {
    assert_eq!(report.ending, Ending::Completed, "{:#?}", log.lines());
}

/// A lingering socket's end, as rivr ends it: FreeSWITCH sent the linger notice, and rivr
/// closed the socket instead of saying `exit` (FreeSWITCH keeps it open, with nothing more to
/// send, until either: esl-captures README).
fn closed_after_the_linger_notice(log: &CallLog, what: &str) {
    assert!(log.linger_notice_sent, "{what}: FreeSWITCH's linger notice came first: {:#?}", log.lines());
    assert!(log.closed_by_rivr, "{what}: rivr closed the socket: {:#?}", log.lines());
    assert!(!log.lines().iter().any(|line| line == "exit"), "{what}: no `exit`: {:#?}", log.lines());
}

/// A lab capture of what the app sent, up to its `exit`, which rivr does not send (it closes
/// the socket after the linger notice instead).
fn capture_until_exit(name: &str) -> Vec<u8> {
    let mut bytes = capture(name);
    assert!(bytes.ends_with(b"exit\n\n"), "{name} ends with the lab app's `exit`");
    bytes.truncate(bytes.len() - b"exit\n\n".len());
    bytes
}

fn capture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/esl/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("reading {path}: {e}"))
}

/// Event-UUIDs are fresh per command: compare them as a placeholder.
fn mask_event_uuids(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes)
        .lines()
        .map(|line| if line.starts_with("Event-UUID: ") { "Event-UUID: *" } else { line })
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_captured_ivr_flow_sends_the_captured_bytes() {
    let script = r#"
        answer();
        play("hello-world.wav");
        let r = ask("vm-enter-num-to-call.wav", #{tries: 2, timeout: 8000, regex: "\\d"});
        play("you-entered.wav");
        say_digits(r.digits);
        play("goodbye.wav");
        hangup();
    "#;
    let (report, log) = one_call(script, keys(&["1"])).await;
    completed(&report, &log);
    let captured = String::from_utf8(capture_until_exit("outbound-pagd.app2fs.raw"))
        .expect("utf-8")
        .replace("fslab_digit", "rivr_digits");
    assert_eq!(mask_event_uuids(&log.bytes), mask_event_uuids(captured.as_bytes()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_captured_speak_and_record_calls_send_the_captured_commands() {
    let (report, log) =
        one_call(r#"answer(); say("Hello from the F S lab."); hangup();"#, Scenario::default()).await;
    completed(&report, &log);
    let captured = capture_until_exit("outbound-speak.app2fs.raw");
    assert_eq!(mask_event_uuids(&log.bytes), mask_event_uuids(&captured));

    let script = r#"
        answer();
        play("beep.wav");
        let m = record(#{name: "fslab-rec-" + call_info().uuid, max_duration: 3000, silence_timeout: 3000, beep: false});
        play(m.path);
        hangup();
    "#;
    let scenario = Scenario { uuid: "a0497c94-d1a6-4d62-89e1-c010ab8c21d3".into(), ..Scenario::default() };
    // The lab recorded into /tmp; rivr's default is FreeSWITCH's own recordings_dir.
    let settings = FsSettings { recordings_dir: Some("/tmp".into()), ..FsSettings::default() };
    let (report, log) = one_call_with(script, scenario, settings).await;
    completed(&report, &log);
    let apps = log.apps();
    // The captured `record` and playback lines, bracketed by the terminator setting.
    assert_eq!(
        apps,
        [
            "answer",
            "playback beep.wav",
            "set playback_terminators=#",
            "record /tmp/fslab-rec-a0497c94-d1a6-4d62-89e1-c010ab8c21d3.wav 3 200 3",
            "unset playback_terminators",
            "playback /tmp/fslab-rec-a0497c94-d1a6-4d62-89e1-c010ab8c21d3.wav",
            "hangup NORMAL_CLEARING",
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_verb_reaches_freeswitch_as_its_application_and_returns_its_outcome() {
    let script = r#"
        ring(); pre_answer(); answer();
        play("ivr/welcome.wav");
        play(["ivr/you-have.wav", "say:three new messages"]);
        say("Hello");
        say_number(42); say_digits("0123"); say_time("14:30"); say_money(12.5);
        let pin = ask("say:Enter your PIN", #{min_digits: 4, max_digits: 4});
        set_var("result_ask", `${pin.status}:${pin.digits}:${pin.terminator}`);
        let d = dial("user/1000", #{timeout: 20000, caller_id: "5551234"});
        set_var("result_dial", `${d.status}:${d.cause}:${d.duration}:${d.answered_by}`);
        let m = record(#{name: "msg", max_duration: 60000});
        set_var("result_record", `${m.status}:${m.path}:${m.duration}:${m.terminator}`);
        set_var("colour", "blue");
        set_var("result_get", `${get_var("colour")}:${get_var("nothing") == ()}`);
        send_dtmf("1#");
        sleep(250);
        set_var("result_execute", execute("info", ""));
        transfer("1000", "default");
    "#;
    let scenario = Scenario {
        keys: ["1234"].into_iter().map(String::from).collect(),
        dials: [DialResult::Answered { leg: 0, talk: Duration::from_millis(42_500) }].into(),
        records: [RecordResult { ms: 7320, silence_exhausted: true, key: None }].into(),
        responses: [("info".to_string(), "+OK info".to_string())].into(),
        ..Scenario::default()
    };
    let (report, log) = one_call(script, scenario).await;
    completed(&report, &log);
    assert_eq!(
        results(&log),
        [
            "result_ask=match:1234:",
            "result_dial=answered:NORMAL_CLEARING:42500:user/1000",
            "result_record=recorded:/usr/local/freeswitch/recordings/msg.wav:7320:",
            "result_get=blue:true",
            "result_execute=+OK info",
        ]
    );
    let apps = log.apps();
    let expected_start = [
        "ring_ready",
        "pre_answer",
        "answer",
        "playback ivr/welcome.wav",
        "playback file_string://ivr/you-have.wav!tts://flite|kal|three new messages",
        "speak flite|kal|Hello",
        "say en number pronounced 42",
        "say en number iterated 0123",
        "say en current_time pronounced 14:30",
        "say en currency pronounced 12.50",
        "play_and_get_digits 4 4 1 5000 # 'tts://flite|kal|Enter your PIN' silence_stream://250 rivr_digits ^[0-9*#A-D]{4,4}$ 3000",
    ];
    assert_eq!(apps[..expected_start.len()], expected_start);
    for line in [
        "set continue_on_fail=true",
        "set hangup_after_bridge=false",
        "bridge {originate_timeout=20,origination_caller_id_number=5551234}user/1000",
        "playback tone_stream://%(250,0,800)",
        "set playback_terminators=#",
        "record '${recordings_dir}/msg.wav' 60 200 5",
        "unset playback_terminators",
        "api uuid_getvar",
        "send_dtmf 1#",
        "sleep 250",
        "info",
        "transfer 1000 XML default",
    ] {
        assert!(log.lines().iter().any(|l| l.starts_with(line)), "{line} missing from {:#?}", log.lines());
    }
    // A transferred call belongs to the dialplan again: rivr says `exit`, never hangs it up.
    assert_eq!(log.lines().last().map(String::as_str), Some("exit"));
    assert!(!log.apps().iter().any(|l| l.starts_with("hangup")));
    assert_eq!(log.hung_up, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ask_reports_nomatch_noinput_and_terminators_as_the_simulator_does() {
    let script = r#"
        answer();
        for i in 0..6 {
            let r = ask("x.wav", #{min_digits: 2, max_digits: 4, tries: 2, regex: "^1"});
            set_var("result" + i, `${r.status}:${r.digits}:${r.terminator}`);
        }
    "#;
    // One string of keys per try; an ask that matches on its first try uses one.
    let tries = ["12#", "", "", "", "9#", "5", "#", "99", "1234", "", "99"];
    let (report, log) = one_call(script, keys(&tries)).await;
    completed(&report, &log);
    assert_eq!(
        results(&log),
        [
            "result0=match:12:#",
            "result1=noinput::",
            "result2=nomatch:9:#",
            "result3=nomatch::#",
            "result4=match:1234:",
            "result5=nomatch:99:",
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_verbs_are_catchable_script_errors() {
    let script = r#"
        answer();
        try { play("missing.wav"); } catch (e) { set_var("result_play", e); }
        try { say_number(-5); } catch (e) { set_var("result_say", e); }
        try { dial("user/1", #{caller_name: "{x}"}); } catch (e) { set_var("result_dial", e); }
        play("still-here.wav");
    "#;
    let scenario = Scenario { missing_files: vec!["missing.wav".into()], ..Scenario::default() };
    let (report, log) = one_call(script, scenario).await;
    completed(&report, &log);
    let results = results(&log);
    assert_eq!(results[0], "result_play=play failed: file not found: missing.wav");
    assert!(results[1].starts_with("result_say=say_number is not supported"), "{results:?}");
    assert!(results[2].starts_with("result_dial=dial is not supported"), "{results:?}");
    assert!(log.apps().contains(&"playback still-here.wav".to_string()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bridge_outcome_of_the_real_switch_reaches_the_script_in_order_on_one_call() {
    // The outbound-dial capture's call: each bridge outcome in turn, with what every bridge
    // wrote replayed from the capture, so the later dials run over an earlier one's leftovers
    // (`bridge_hangup_cause`, `originate_failed_cause`, a `SUCCESS` disposition).
    let script = r#"
        answer();
        let targets = [
            "loopback/short/default", "loopback/busy/default", "loopback/noanswer/default",
            "loopback/nosuchext/default", "loopback/reject/default",
        ];
        let i = 0;
        for target in targets {
            let r = dial(target, #{timeout: 10000});
            set_var("result" + i, `${r.status}:${r.cause}:${r.duration}:${r.answered_by}`);
            i += 1;
        }
        for sequential in [false, true] {
            let r = dial(["loopback/busy/default", "loopback/short/default"], #{sequential: sequential});
            set_var("result" + i, `${r.status}:${r.cause}:${r.duration}:${r.answered_by}`);
            i += 1;
        }
    "#;
    let answered = |leg| DialResult::Answered { leg, talk: Duration::from_secs(2) };
    let scenario = Scenario {
        dials: [
            answered(0),
            DialResult::Busy,
            DialResult::NoAnswer,
            DialResult::Failed("NO_ROUTE_DESTINATION"),
            DialResult::Failed("CALL_REJECTED"),
            answered(1),
            answered(1),
        ]
        .into(),
        ..Scenario::default()
    };
    let (report, log) = one_call(script, scenario).await;
    completed(&report, &log);
    assert_eq!(
        results(&log),
        [
            "result0=answered:NORMAL_CLEARING:2000:loopback/short/default",
            "result1=busy:USER_BUSY:0:",
            "result2=no_answer:NO_ANSWER:0:",
            "result3=failed:NO_ROUTE_DESTINATION:0:",
            "result4=failed:CALL_REJECTED:0:",
            "result5=answered:NORMAL_CLEARING:2000:loopback/short/default",
            "result6=answered:NORMAL_CLEARING:2000:loopback/short/default",
        ]
    );
    // The caller stayed up through every outcome: rivr's own hangup ends the call.
    assert_eq!(log.hung_up.as_deref(), Some("NORMAL_CLEARING"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_dial_leaves_the_caller_up_and_the_script_continues() {
    let script = r#"
        answer();
        for i in 0..4 {
            let r = dial(["user/1001", "user/1002"], #{sequential: i == 0});
            set_var("result" + i, `${r.status}:${r.cause}:${r.duration}:${r.answered_by}`);
        }
        play("ivr/still-with-you.wav");
    "#;
    let scenario = Scenario {
        dials: [
            DialResult::Busy,
            DialResult::NoAnswer,
            DialResult::Failed("NO_ROUTE_DESTINATION"),
            DialResult::Answered { leg: 1, talk: Duration::from_secs(3) },
        ]
        .into(),
        ..Scenario::default()
    };
    let (report, log) = one_call(script, scenario).await;
    completed(&report, &log);
    assert_eq!(
        results(&log),
        [
            "result0=busy:USER_BUSY:0:",
            "result1=no_answer:NO_ANSWER:0:",
            "result2=failed:NO_ROUTE_DESTINATION:0:",
            "result3=answered:NORMAL_CLEARING:3000:user/1002",
        ]
    );
    assert!(log
        .apps()
        .iter()
        .any(|l| l == "bridge {originate_timeout=30}[rivr_dial_leg=0]user/1001|[rivr_dial_leg=1]user/1002"));
    assert!(log.apps().contains(&"playback ivr/still-with-you.wav".to_string()));
    // The caller went down only at the end, by rivr's hangup.
    assert_eq!(log.hung_up.as_deref(), Some("NORMAL_CLEARING"));
    assert_eq!(log.apps().last().map(String::as_str), Some("hangup NORMAL_CLEARING"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn record_reports_empty_recordings_and_terminators() {
    let script = r##"
        answer();
        let a = record(#{name: "a", silence_timeout: 3000});
        let b = record(#{name: "b", terminator: "#"});
        set_var("result", `${a.status}:${a.duration};${b.status}:${b.duration}:${b.terminator}`);
    "##;
    let scenario = Scenario {
        records: [
            RecordResult { ms: 3040, silence_exhausted: true, key: None },
            RecordResult { ms: 1500, silence_exhausted: false, key: Some('#') },
        ]
        .into(),
        ..Scenario::default()
    };
    let (report, log) = one_call(script, scenario).await;
    completed(&report, &log);
    assert_eq!(results(&log), ["result=empty:3040;recorded:1500:#"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reject_and_hangup_send_the_cause() {
    let (report, log) = one_call(r#"reject("busy");"#, Scenario::default()).await;
    completed(&report, &log);
    assert_eq!(log.apps(), ["hangup USER_BUSY"]);
    assert_eq!(log.hung_up.as_deref(), Some("USER_BUSY"));
}

async fn hangup_during(verb: &str, app: &str) {
    let script = format!(
        r#"answer();
           {verb}
           play("after.wav");
           fn on_hangup() {{ throw "on_hangup ran"; }}"#
    );
    let scenario = Scenario {
        hangup_during: Some((app.to_string(), "NORMAL_CLEARING".to_string())),
        keys: ["1"].into_iter().map(String::from).collect(),
        ..Scenario::default()
    };
    let (report, log) = one_call(&script, scenario).await;
    assert_eq!(
        report.ending,
        Ending::HungUp { cause: "NORMAL_CLEARING".into() },
        "{verb}: {:#?}",
        log.lines()
    );
    let on_hangup = report.on_hangup_error.expect("on_hangup ran");
    assert!(on_hangup.message.contains("on_hangup ran"), "{verb}: {on_hangup}");
    let last_app = log.apps().last().cloned().unwrap_or_default();
    assert!(last_app.starts_with(app), "{verb}: nothing runs after the hangup: {:#?}", log.lines());
    // The fake lingers: rivr closes once FreeSWITCH has sent the channel's last events.
    closed_after_the_linger_notice(&log, verb);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hangup_during_each_blocking_verb_stops_the_script_and_runs_on_hangup() {
    for (verb, app) in [
        (r#"play("long.wav");"#, "playback"),
        (r#"say("hello");"#, "speak"),
        (r#"say_number(5);"#, "say"),
        (r#"ask("x.wav", #{max_digits: 2});"#, "play_and_get_digits"),
        (r#"dial("user/1");"#, "bridge"),
        (r#"record();"#, "record"),
        (r#"sleep(1000);"#, "sleep"),
    ] {
        hangup_during(verb, app).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_playback_error_reported_with_the_hangup_is_a_hangup_not_a_script_error() {
    // outbound-farhangup: the interrupted playback completes with `PLAYBACK ERROR` and
    // `Answer-State: hangup`; here it even arrives before CHANNEL_HANGUP.
    let script = r#"answer(); try { play("long.wav"); } catch (e) { play("caught.wav"); }"#;
    let scenario = Scenario {
        hangup_during: Some(("playback".into(), "NORMAL_CLEARING".into())),
        completion_first: true,
        ..Scenario::default()
    };
    let (report, log) = one_call(script, scenario).await;
    assert_eq!(report.ending, Ending::HungUp { cause: "NORMAL_CLEARING".into() });
    assert_eq!(log.apps(), ["answer", "playback long.wav"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn completions_are_matched_by_application_uuid_not_by_order() {
    // Each real completion is preceded by one for the same application with another uuid and
    // a failing response: matching by position would fail every play.
    let script =
        r#"answer(); play("a.wav"); play("b.wav"); let r = ask("c.wav"); set_var("result", r.digits);"#;
    let scenario =
        Scenario { decoys: true, keys: ["7"].into_iter().map(String::from).collect(), ..Scenario::default() };
    let (report, log) = one_call(script, scenario).await;
    completed(&report, &log);
    assert_eq!(results(&log), ["result=7"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_socket_dropped_mid_verb_ends_the_call_with_a_hangup() {
    let script =
        r#"answer(); play("long.wav"); play("after.wav"); fn on_hangup() { throw "on_hangup ran"; }"#;
    let scenario = Scenario { drop_during: Some("playback".into()), ..Scenario::default() };
    let (report, log) = one_call(script, scenario).await;
    assert_eq!(report.ending, Ending::HungUp { cause: "NETWORK_OUT_OF_ORDER".into() });
    assert!(report.on_hangup_error.expect("on_hangup ran").message.contains("on_hangup ran"));
    assert_eq!(log.apps(), ["answer", "playback long.wav"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_application_ends_the_call_instead_of_hanging_the_script() {
    // outbound-errors: `+OK`, no EXECUTE, then the channel is hung up DESTINATION_OUT_OF_ORDER.
    let script = r#"answer(); execute("nosuchapp", "x"); play("never.wav");"#;
    let (report, log) = one_call(script, Scenario::default()).await;
    assert_eq!(report.ending, Ending::HungUp { cause: "DESTINATION_OUT_OF_ORDER".into() });
    assert_eq!(log.apps(), ["answer", "nosuchapp x"]);
    closed_after_the_linger_notice(&log, "nosuchapp");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hangup_while_the_script_computes_stops_it_and_runs_on_hangup() {
    // No verb runs when the caller hangs up: the channel's `ended()` sees it and the script's
    // progress hook stops the loop.
    let script = r#"answer(); let n = 0; loop { n += 1; } fn on_hangup() { throw "on_hangup ran"; }"#;
    let limits = Limits { compute_budget_ms: 600_000, max_operations: 0, ..Limits::default() };
    let mut rivr = start_with_limits(script, FsSettings::default(), limits).await;
    let scenario =
        Scenario { hangup_after: Some(("answer".into(), "ORIGINATOR_CANCEL".into())), ..Scenario::default() };
    let log = guard(fake::call(rivr.addr, scenario)).await;
    let (_, report) = guard(rivr.reports.recv()).await.expect("report");
    assert_eq!(report.ending, Ending::HungUp { cause: "ORIGINATOR_CANCEL".into() });
    assert!(report.on_hangup_error.expect("on_hangup ran").message.contains("on_hangup ran"));
    assert_eq!(log.apps(), ["answer"]);
    closed_after_the_linger_notice(&log, "hangup while computing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_that_reaches_max_call_duration_is_hung_up_with_allotted_timeout() {
    let script =
        r#"answer(); play("long.wav"); play("never.wav"); fn on_hangup() { throw "on_hangup ran"; }"#;
    let services = CallServices::default().with_max_duration(Duration::from_millis(300));
    let mut rivr = start_with_services(script, FsSettings::default(), Limits::default(), services).await;
    // The playback would take a minute: the limit interrupts it.
    let scenario = Scenario { media_time: Some(Duration::from_secs(60)), ..Scenario::default() };
    let log = guard(fake::call(rivr.addr, scenario)).await;
    let (_, report) = guard(rivr.reports.recv()).await.expect("report");
    assert_eq!(report.ending, Ending::HungUp { cause: "ALLOTTED_TIMEOUT".into() });
    assert!(report.on_hangup_error.expect("on_hangup ran").message.contains("on_hangup ran"));
    assert_eq!(log.apps(), ["answer", "playback long.wav", "hangup ALLOTTED_TIMEOUT"]);
    assert_eq!(log.hung_up.as_deref(), Some("ALLOTTED_TIMEOUT"));
    closed_after_the_linger_notice(&log, "max_call_duration_s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_script_computing_past_max_call_duration_is_stopped_as_on_a_hangup() {
    // No verb runs when the time is up: the limit is noticed when the computing script pauses.
    let script = r#"answer(); let n = 0; loop { n += 1; }"#;
    let limits = Limits { compute_budget_ms: 600_000, max_operations: 0, ..Limits::default() };
    let services = CallServices::default().with_max_duration(Duration::from_millis(300));
    let mut rivr = start_with_services(script, FsSettings::default(), limits, services).await;
    let log = guard(fake::call(rivr.addr, Scenario::default())).await;
    let (_, report) = guard(rivr.reports.recv()).await.expect("report");
    assert_eq!(report.ending, Ending::HungUp { cause: "ALLOTTED_TIMEOUT".into() });
    assert_eq!(log.hung_up.as_deref(), Some("ALLOTTED_TIMEOUT"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_with_line_breaks_and_variables_arrives_literally() {
    let script = r#"
        answer();
        say("Line one\nline two costs ${price} | $5");
        set_var("note", "it's ${not_a_variable}");
        set_var("result", get_var("note"));
    "#;
    let (report, log) = one_call(script, Scenario::default()).await;
    completed(&report, &log);
    let speak = log.commands.iter().find(|c| c.header("execute-app-name") == Some("speak")).expect("speak");
    // A line break cannot travel in a header: the argument is the body.
    assert_eq!(speak.header("execute-app-arg"), None);
    assert_eq!(speak.header("content-type"), Some("text/plain"));
    let arg = speak.app_arg().expect("argument");
    assert_eq!(fake::fs_expand(arg), "flite|kal|Line one\nline two costs ${price} | $5");
    assert_eq!(results(&log), ["result=it's ${not_a_variable}"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_full_control_get_var_uses_getvar() {
    let script = r#"answer(); set_var("colour", "blue"); set_var("result", `${get_var("colour")}:${get_var("none") == ()}`);"#;
    let scenario = Scenario { single_channel: true, ..Scenario::default() };
    let (report, log) = one_call(script, scenario).await;
    completed(&report, &log);
    assert!(log.lines().contains(&"getvar colour".to_string()), "{:#?}", log.lines());
    assert_eq!(results(&log), ["result=blue:true"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_linger_rivr_waits_for_the_notice_and_closes_the_socket() {
    let (report, log) = one_call(r#"answer(); play("x.wav");"#, Scenario::default()).await;
    completed(&report, &log);
    assert_eq!(
        log.lines(),
        ["connect", "myevents", "linger", "answer", "playback x.wav", "hangup NORMAL_CLEARING"]
    );
    closed_after_the_linger_notice(&log, "the call");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_linger_freeswitch_closes_the_socket_after_the_hangup() {
    let settings = FsSettings { linger: false, ..FsSettings::default() };
    let (report, log) = one_call_with(r#"answer(); play("x.wav");"#, Scenario::default(), settings).await;
    completed(&report, &log);
    assert_eq!(log.lines(), ["connect", "myevents", "answer", "playback x.wav", "hangup NORMAL_CLEARING"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_frame_closes_only_that_call() {
    let script = r#"answer(); play("x.wav"); play("y.wav");"#;
    let mut rivr = start(script, FsSettings::default()).await;
    let broken = Scenario { garbage_during: Some("playback".into()), ..Scenario::default() };
    let healthy = Scenario::default();
    let (broken_log, healthy_log) =
        guard(async { tokio::join!(fake::call(rivr.addr, broken), fake::call(rivr.addr, healthy)) }).await;
    let mut reports = Vec::new();
    for _ in 0..2 {
        reports.push(guard(rivr.reports.recv()).await.expect("report"));
    }
    let ending =
        |uuid: &str| reports.iter().find(|(info, _)| info.uuid == uuid).map(|(_, r)| r.ending.clone());
    assert_eq!(ending(&broken_log.uuid), Some(Ending::HungUp { cause: "NETWORK_OUT_OF_ORDER".into() }));
    assert!(broken_log.closed_by_rivr);
    assert_eq!(ending(&healthy_log.uuid), Some(Ending::Completed));
    assert_eq!(healthy_log.apps(), ["answer", "playback x.wav", "playback y.wav", "hangup NORMAL_CLEARING"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_handshake_closes_the_socket_and_the_listener_serves_the_next_call() {
    let mut rivr = start(r#"answer();"#, FsSettings::default()).await;
    let refused =
        guard(fake::call(rivr.addr, Scenario { refuse: Some("myevents".into()), ..Scenario::default() }))
            .await;
    assert_eq!(refused.lines(), ["connect", "myevents"]);
    assert!(refused.closed_by_rivr);
    let next = guard(fake::call(rivr.addr, Scenario::default())).await;
    let (info, report) = guard(rivr.reports.recv()).await.expect("report");
    assert_eq!(info.uuid, next.uuid, "no script ran for the refused call");
    assert_eq!(report.ending, Ending::Completed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn call_info_comes_from_the_connect_reply() {
    let script = r#"
        let c = call_info();
        set_var("result", `${c.caller_id}>${c.destination}@${c.context}:${c.variables.socket_host}`);
    "#;
    let scenario = Scenario { caller: "5550100".into(), destination: "1234".into(), ..Scenario::default() };
    let (report, log) = one_call(script, scenario).await;
    completed(&report, &log);
    assert_eq!(results(&log), ["result=5550100>1234@default:127.0.0.1"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_hundred_concurrent_calls_through_one_listener_all_complete() {
    let script = r#"
        answer();
        let pin = ask("say:Enter your PIN", #{min_digits: 4, max_digits: 4});
        let who = call_info().caller_id;
        let r = dial("user/" + pin.digits);
        set_var("result", `${who}:${pin.digits}:${r.status}`);
    "#;
    let mut rivr = start(script, FsSettings::default()).await;
    let calls: Vec<_> = (0..500)
        .map(|i| {
            let scenario = Scenario {
                caller: format!("caller{i}"),
                keys: [format!("{i:04}")].into(),
                // Half a second of prompts and ringing per call, so the 500 overlap.
                media_time: Some(Duration::from_millis(250)),
                ..Scenario::default()
            };
            tokio::spawn(fake::call(rivr.addr, scenario))
        })
        .collect();
    let mut logs = Vec::new();
    for (i, call) in calls.into_iter().enumerate() {
        logs.push((i, guard(call).await.expect("fake call task")));
    }
    let mut endings = std::collections::HashMap::new();
    for _ in 0..500 {
        let (info, report) = guard(rivr.reports.recv()).await.expect("report");
        endings.insert(info.uuid, report.ending);
    }
    for (i, log) in logs {
        assert_eq!(endings.get(&log.uuid), Some(&Ending::Completed), "call {i}: {:#?}", log.lines());
        assert_eq!(results(&log), [format!("result=caller{i}:{i:04}:answered")], "call {i}");
        assert!(log.apps().contains(&format!("bridge {{originate_timeout=30}}user/{i:04}")), "call {i}");
        closed_after_the_linger_notice(&log, &format!("call {i}"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_and_print_lines_never_reach_freeswitch() {
    let (report, log) =
        one_call(r#"answer(); log("hi"); print("p"); debug("d"); hangup();"#, Scenario::default()).await;
    completed(&report, &log);
    assert_eq!(log.apps(), ["answer", "hangup NORMAL_CLEARING"]);
}
