//! Whole calls on the simulated switch: every verb through a real script, with its success and
//! failure outcomes, and hangup during each blocking verb.

mod support;

use std::collections::VecDeque;
use std::time::Duration;

use rivr::call::DialStatus;
use rivr::script::runner::Ending;
use rivr::switch::sim::{CallerAction, SimDial, SimRecord, SimSetup};
use support::*;

fn lines_of(text: &str, actions: Vec<CallerAction>) -> Vec<String> {
    let (report, lines) = run(text, actions);
    assert_eq!(report.ending, Ending::Completed, "{lines:#?}");
    lines
}

fn with_setup(
    text: &str,
    actions: Vec<CallerAction>,
    setup: SimSetup,
) -> (rivr::script::runner::CallReport, Vec<String>) {
    let rt = runtime();
    run_on(&rt, compile("main.rhai", text), SimCall { actions, setup, ..SimCall::default() })
}

#[test]
fn call_control_verbs_reach_the_switch_in_order() {
    let lines = lines_of(
        r#"ring(); pre_answer(); answer(); send_dtmf("12#"); sleep(250); execute("info"); hangup("busy");"#,
        vec![],
    );
    assert_eq!(
        lines,
        [
            "ring",
            "pre_answer",
            "answer",
            "send_dtmf: 12#",
            "sleep: 0.2s",
            "execute: info  → _none_",
            "hangup: USER_BUSY"
        ]
    );
}

#[test]
fn reject_uses_call_rejected_by_default_and_accepts_causes() {
    assert_eq!(lines_of("reject();", vec![]), ["reject: CALL_REJECTED"]);
    assert_eq!(lines_of(r#"reject("UNALLOCATED_NUMBER");"#, vec![]), ["reject: UNALLOCATED_NUMBER"]);
}

#[test]
fn an_unknown_hangup_cause_is_a_script_error_naming_the_cause() {
    let (report, _) = run(r#"hangup("whenever");"#, vec![]);
    let Ending::Failed(failure) = report.ending else { panic!("{:?}", report.ending) };
    assert!(failure.message.contains("unknown hangup cause `whenever`"), "{failure}");
    assert_eq!((failure.line, failure.column), (1, 1));
}

#[test]
fn play_say_and_say_as_verbs_render_their_arguments() {
    let lines = lines_of(
        r#"play("ivr/welcome.wav"); play(["a.wav", "say:hi"]); say("Hello", #{voice: "kal"});
           say_number(42); say_digits("0123"); say_time("14:30"); say_money(12.5);"#,
        vec![],
    );
    assert_eq!(
        lines,
        [
            "play: ivr/welcome.wav",
            r#"play: a.wav, "hi""#,
            r#"say: "Hello""#,
            "say_number: 42",
            "say_digits: 0123",
            "say_time: 14:30",
            "say_money: 12.50",
            "hangup: NORMAL_CLEARING",
        ]
    );
}

#[test]
fn bad_say_values_are_script_errors() {
    for (script, expected) in [
        ("say_number(\"abc\");", "say_number: `abc` is not a whole number"),
        ("say_digits(\"12a\");", "say_digits: `12a` is not a string of digits"),
        ("say_time(\"25:00\");", "say_time: `25:00` is not a time"),
        ("say_money(\"lots\");", "say_money: `lots` is not an amount of money"),
        ("play(\"\");", "play: nothing to play"),
        ("play(42);", "play: the prompt must be a string"),
    ] {
        let (report, _) = run(script, vec![]);
        let Ending::Failed(failure) = report.ending else { panic!("{script}: {:?}", report.ending) };
        assert!(failure.message.contains(expected), "{script}: {failure}");
    }
}

#[test]
fn ask_reports_match_with_digits_and_terminator() {
    let lines = lines_of(
        r#"let r = ask("say:pin", #{max_digits: 4, min_digits: 4}); say(r.status + " " + r.digits + " " + r.terminator);
           let s = ask("say:code", #{max_digits: 6, min_digits: 2}); say(s.status + " " + s.digits + " " + s.terminator);"#,
        vec![press("1234"), press("55#")],
    );
    assert_eq!(lines[1], r#"say: "match 1234 ""#);
    assert_eq!(lines[3], r#"say: "match 55 #""#);
}

#[test]
fn ask_reports_noinput_when_the_caller_stays_silent() {
    let lines =
        lines_of(r#"let r = ask("say:pin", #{max_digits: 4}); say(r.status);"#, vec![CallerAction::Silence]);
    assert_eq!(lines, [r#"ask: "pin" → noinput"#, r#"say: "noinput""#, "hangup: NORMAL_CLEARING"]);
}

#[test]
fn ask_reports_nomatch_for_too_few_digits_or_a_failed_regex() {
    let lines = lines_of(
        r#"let r = ask("say:pin", #{min_digits: 4, max_digits: 4}); say(r.status + " " + r.digits);
           let s = ask("say:id", #{max_digits: 3, regex: "^9"}); say(s.status + " " + s.digits);"#,
        vec![press("12#"), press("123")],
    );
    assert_eq!(lines[1], r#"say: "nomatch 12""#);
    assert_eq!(lines[3], r#"say: "nomatch 123""#);
}

#[test]
fn ask_retries_with_the_invalid_prompt_until_a_match() {
    let lines = lines_of(
        r#"let r = ask("say:pin", #{min_digits: 2, max_digits: 2, tries: 3, invalid: "bad.wav"}); say(r.digits);"#,
        vec![press("1#"), CallerAction::Silence, press("42")],
    );
    assert_eq!(lines, [r#"ask: "pin" → match "42""#, r#"say: "42""#, "hangup: NORMAL_CLEARING"]);
}

#[test]
fn ask_waits_for_a_key_within_the_timeout_and_times_out_on_a_longer_wait() {
    let lines = lines_of(
        r#"say(ask("say:a", #{timeout: 5000}).status); say(ask("say:b", #{timeout: 5000}).status);"#,
        vec![
            CallerAction::Wait(Duration::from_secs(3)),
            press("1"),
            CallerAction::Wait(Duration::from_secs(7)),
            press("2"),
        ],
    );
    assert_eq!(lines[1], r#"say: "match""#);
    assert_eq!(lines[3], r#"say: "noinput""#);
}

#[test]
fn ask_rejects_unknown_options_and_wrong_types_with_the_verb_and_key() {
    for (script, expected) in [
        (r#"ask("x", #{timout: 5});"#, "ask: unknown option `timout`; did you mean `timeout`?"),
        (
            r#"ask("x", #{timeout: "5s"});"#,
            "ask: option `timeout` must be a whole number of milliseconds, not string",
        ),
        (r#"ask("x", #{min_digits: 5, max_digits: 2});"#, "ask: min_digits (5) is more than max_digits (2)"),
        (r#"ask("x", #{regex: "("});"#, "ask: option `regex` is not a valid pattern"),
        (r#"ask("x", 5);"#, "ask: options must be an object map"),
    ] {
        let (report, lines) = run(&format!("answer();\n  {script}"), vec![press("1")]);
        let Ending::Failed(failure) = report.ending else { panic!("{script}: {:?}", report.ending) };
        assert!(failure.message.contains(expected), "{script}: {failure}");
        assert_eq!((failure.source.as_str(), failure.line, failure.column), ("main.rhai", 2, 3), "{script}");
        assert_eq!(lines, ["answer", "play: ivr/sorry.wav", "hangup: NORMAL_TEMPORARY_FAILURE"]);
    }
}

#[test]
fn dial_reports_each_outcome_and_the_caller_leg_survives() {
    let setup = SimSetup {
        dials: VecDeque::from([
            SimDial::answered(Duration::from_secs(42)),
            SimDial { status: DialStatus::Busy, duration: Duration::ZERO },
            SimDial { status: DialStatus::NoAnswer, duration: Duration::from_secs(20) },
            SimDial { status: DialStatus::Failed, duration: Duration::ZERO },
        ]),
        ..SimSetup::default()
    };
    let (report, lines) = with_setup(
        r#"for target in ["user/1", "user/2", "user/3", "user/4"] {
               let r = dial(target, #{timeout: 20000, caller_id: "100"});
               say(`${r.status} ${r.cause} ${r.duration} ${r.answered_by}`);
           }"#,
        vec![],
        setup,
    );
    assert_eq!(report.ending, Ending::Completed);
    let says: Vec<&String> = lines.iter().filter(|l| l.starts_with("say")).collect();
    assert_eq!(
        says,
        [
            r#"say: "answered NORMAL_CLEARING 42000 user/1""#,
            r#"say: "busy USER_BUSY 0 ""#,
            r#"say: "no_answer NO_ANSWER 0 ""#,
            r#"say: "failed NO_ROUTE_DESTINATION 0 ""#,
        ]
    );
}

#[test]
fn dial_refuses_joined_dial_strings() {
    let (report, _) = run(r#"dial("user/1,user/2");"#, vec![]);
    let Ending::Failed(failure) = report.ending else { panic!() };
    assert!(failure.message.contains("pass several targets as an array"), "{failure}");
}

#[test]
fn record_reports_path_duration_and_terminator() {
    let setup = SimSetup {
        records: VecDeque::from([
            SimRecord { status: rivr::call::RecordStatus::Recorded, duration: Duration::from_secs(200) },
            SimRecord { status: rivr::call::RecordStatus::Empty, duration: Duration::ZERO },
        ]),
        ..SimSetup::default()
    };
    let (_, lines) = with_setup(
        r#"let a = record(#{max_duration: 60000, name: "vm/box1"}); say(`${a.status} ${a.path} ${a.duration} ${a.terminator}`);
           let b = record(); say(`${b.status} ${b.duration}`);"#,
        vec![press("#")],
        setup,
    );
    assert_eq!(lines[1], r#"say: "recorded /usr/local/freeswitch/recordings/vm/box1.wav 60000 #""#);
    assert_eq!(lines[3], r#"say: "empty 0""#);
}

#[test]
fn record_refuses_a_name_that_escapes_the_recordings_directory() {
    let (report, _) = run(r#"record(#{name: "../../etc/x"});"#, vec![]);
    let Ending::Failed(failure) = report.ending else { panic!() };
    assert!(failure.message.contains("record: name `../../etc/x`"), "{failure}");
}

#[test]
fn variables_and_call_info_reach_the_script() {
    let rt = runtime();
    let mut call = SimCall::default();
    call.info.variables.insert("account".into(), "42".into());
    let (report, lines) = run_on(
        &rt,
        compile(
            "main.rhai",
            r#"let info = call_info();
               set_var("lang", "fr");
               say(`${info.caller_id} ${info.destination} ${info.variables.account} ${get_var("lang")} ${get_var("missing") == ()}`);"#,
        ),
        call,
    );
    assert_eq!(report.ending, Ending::Completed);
    assert!(lines.contains(&r#"say: "5551234 1000 42 fr true""#.to_string()), "{lines:#?}");
}

#[test]
fn transfer_hands_the_call_back_and_stops_media() {
    let (report, lines) = run(r#"transfer("1000", "default"); play("never.wav");"#, vec![]);
    assert_eq!(report.ending, Ending::Transferred);
    assert_eq!(lines[0], "transfer: 1000 default");
}

#[test]
fn menu_runs_the_handler_of_the_pressed_key() {
    let lines = lines_of(
        r#"let r = menu("say:menu", #{"1": || say("sales"), "2": || say("support")});
           say(r.status + " " + r.key);"#,
        vec![press("2")],
    );
    assert_eq!(lines[1], r#"say: "support""#);
    assert_eq!(lines[2], r#"say: "match 2""#);
}

#[test]
fn menu_from_the_stdlib_import_matches_ranges_with_the_digits_as_this() {
    let lines = lines_of(
        r#"import "rivr/menu" as m;
           m::menu("say:ext", #{"1": || say("one"), "10-19": || say("ext " + this)});"#,
        vec![press("15")],
    );
    assert_eq!(lines[1], r#"say: "ext 15""#);
}

#[test]
fn menu_retries_invalid_and_timeout_then_calls_on_failure() {
    let lines = lines_of(
        r#"let r = menu("say:menu", #{"1": || 1}, #{tries: 3, invalid: "invalid.wav", timeout_prompt: "timeout.wav",
                                              on_failure: || say("failure")});
           say(r.status);"#,
        vec![press("9"), CallerAction::Silence, press("8")],
    );
    assert_eq!(
        lines,
        [
            r#"ask: "menu" → match "9""#,
            "play: invalid.wav",
            r#"ask: "menu" → noinput"#,
            "play: timeout.wav",
            r#"ask: "menu" → match "8""#,
            "play: invalid.wav",
            r#"say: "failure""#,
            r#"say: "nomatch""#,
            "hangup: NORMAL_CLEARING",
        ]
    );
}

#[test]
fn menu_rejects_an_unknown_option() {
    let (report, _) = run(r#"menu("x", #{"1": || 1}, #{retries: 2});"#, vec![]);
    let Ending::Failed(failure) = report.ending else { panic!() };
    assert!(failure.message.contains("menu: unknown option `retries`"), "{failure}");
}

#[test]
fn log_and_print_lines_take_their_place_among_the_verbs() {
    let lines = lines_of(r#"log("info", "hello"); answer(); log("x"); print("p"); debug("d");"#, vec![]);
    assert_eq!(
        lines,
        [
            "log info: hello",
            "answer",
            "log info: x",
            "log info: p",
            r#"log debug: "d""#,
            "hangup: NORMAL_CLEARING"
        ]
    );
}

#[test]
fn a_script_that_returns_is_hung_up_and_on_hangup_runs_after() {
    let lines =
        lines_of(r#"answer(); fn on_hangup() { set_var("done", "yes"); log(get_var("done")); }"#, vec![]);
    assert_eq!(lines, ["answer", "hangup: NORMAL_CLEARING", "log info: yes"]);
}

fn hangup_during(script: &str, setup: SimSetup) {
    let text = format!(
        r#"answer();
           {script}
           play("after.wav");
           fn on_hangup() {{ set_var("seen", "yes"); let media = "played"; try {{ play("x.wav"); }} catch (e) {{ media = "refused"; }} log(media); }}"#
    );
    let (report, lines) = with_setup(&text, vec![], SimSetup { hangup_at_command: Some(2), ..setup });
    assert_eq!(report.ending, Ending::HungUp { cause: "NORMAL_CLEARING".into() }, "{script}: {lines:#?}");
    assert_eq!(report.on_hangup_error, None, "{script}");
    assert_eq!(lines.len(), 3, "{script}: nothing runs after the hangup: {lines:#?}");
    assert!(lines[1].ends_with("→ caller hung up (NORMAL_CLEARING)"), "{script}: {lines:#?}");
    // on_hangup ran, and media was refused there.
    assert_eq!(lines[2], "log info: refused", "{script}");
}

#[test]
fn hangup_during_each_blocking_verb_stops_the_script_and_runs_on_hangup() {
    for script in [
        r#"play("x.wav");"#,
        r#"say("hello");"#,
        r#"say_number(5);"#,
        r#"ask("x", #{max_digits: 2});"#,
        r#"menu("x", #{"1": || 1});"#,
        r#"dial("user/1");"#,
        r#"record();"#,
        r#"sleep(1000);"#,
    ] {
        hangup_during(script, SimSetup::default());
    }
}

#[test]
fn a_hangup_passes_through_try_catch() {
    let (report, lines) = with_setup(
        r#"answer(); let caught = false; try { ask("x"); } catch (e) { caught = true; } say("caught " + caught);"#,
        vec![press("1")],
        SimSetup { hangup_at_command: Some(2), ..SimSetup::default() },
    );
    assert_eq!(report.ending, Ending::HungUp { cause: "NORMAL_CLEARING".into() });
    assert_eq!(lines.len(), 2, "{lines:#?}");
}

#[test]
fn media_verbs_are_refused_in_on_hangup_but_variables_work() {
    let (report, _) = run(
        r#"answer(); set_var("x", "1");
           fn on_hangup() { if get_var("x") != "1" { throw "lost"; } play("x.wav"); }"#,
        vec![],
    );
    let failure = report.on_hangup_error.expect("play must fail in on_hangup");
    assert!(failure.message.contains("play can't run in on_hangup"), "{failure}");
}

#[test]
fn a_variable_set_as_the_call_ends_is_still_seen_by_on_hangup() {
    let (report, _) = with_setup(
        r#"answer(); set_var("answer", "5");
           fn on_hangup() { if get_var("answer") != "5" { throw "lost"; } }"#,
        vec![],
        SimSetup { hangup_at_command: Some(2), ..SimSetup::default() },
    );
    assert_eq!(report.on_hangup_error, None);
}

#[test]
fn a_simulated_call_is_hung_up_at_max_call_duration_in_simulated_time() {
    // An hour of simulated waiting takes no real time; the call ends as `rivr run` ends it.
    let text = "answer();\nloop { sleep(60000); }\nfn on_hangup() { log(\"info\", \"bye\"); }";
    let setup = SimSetup { max_duration: Duration::from_secs(3600), ..SimSetup::default() };
    let (report, lines) = with_setup(text, vec![], setup);
    assert_eq!(report.ending, Ending::HungUp { cause: "ALLOTTED_TIMEOUT".into() });
    assert_eq!(lines.iter().filter(|l| l.starts_with("sleep")).count(), 61, "{lines:#?}");
    assert_eq!(lines[lines.len() - 2], "sleep: 60s → caller hung up (ALLOTTED_TIMEOUT)");
    assert_eq!(lines.last().map(String::as_str), Some("log info: bye"));
}

#[test]
fn a_flow_that_redials_a_busy_line_for_ever_ends_at_max_call_duration_in_simulated_time() {
    let setup = SimSetup {
        max_duration: Duration::from_secs(600),
        default_dial: SimDial { status: DialStatus::Busy, duration: Duration::ZERO },
        ..SimSetup::default()
    };
    let (report, _) = with_setup("answer();\nloop { dial(\"user/1000\"); }", vec![], setup);
    assert_eq!(report.ending, Ending::HungUp { cause: "ALLOTTED_TIMEOUT".into() });
}
