//! Conformance: the simulated switch and FreeSWITCH must agree.
//!
//! `rivr test` and `rivr sim` run scripts on the simulator; production runs them on FreeSWITCH.
//! Every [`Case`] here is a script and what the caller and the far ends do, written once in a
//! neutral form ([`Input`]) and translated into (a) a simulated call (`SimChannel`, its caller
//! actions and `SimSetup`) and (b) a call against the fake FreeSWITCH of
//! `support::fake_freeswitch` (made from the captures in `tests/fixtures/esl/`, with
//! `play_and_get_digits`, `bridge` and `record` emulated from FreeSWITCH's source) over a real
//! socket, through rivr's outbound listener, `FsChannel` and the verb mapping.
//!
//! Both calls run through the same recording wrapper around the switch, so for every case the
//! test compares, command by command, what the script asked for and what came back (every
//! `Outcome` field: ask status/digits/terminator, dial status/cause/duration/answered_by, record
//! status/path/duration/terminator, `get_var` values, errors and hangups), which includes what
//! the script saw (the scripts `set_var` their observations), and how the call ended.
//!
//! Differences that are by design are cases with [`Case::differs`]: each names its reason and
//! asserts the difference still exists, so the note cannot outlive it. What the neutral form
//! cannot say is left out on purpose: keys pressed during a prompt rather than after it, keys
//! typed ahead that arrive while a later verb runs rather than at once, a non-terminator key
//! during `record` (the simulator leaves it for the next prompt), dial failure causes other than
//! `NO_ROUTE_DESTINATION`, and a caller who hangs up between two tries of one `ask`.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rivr::call::actor::{self, CallServices};
use rivr::call::{CallError, CallInfo, Command, Origin, Outcome};
use rivr::config::{Fallback, Limits};
use rivr::script::runner::{self, CallJob, CallReport, Ending};
use rivr::switch::freeswitch::{outbound, FsSettings};
use rivr::switch::sim::{CallerAction, Journal, SimChannel, SimDial, SimRecord, SimSetup};
use rivr::switch::Channel;
use support::fake_freeswitch::{self as fake, DialResult, RecordResult, Scenario};
use support::press;
use tokio::sync::{mpsc, oneshot};

/// Where both switches are told recordings go, so record paths compare.
const RECORDINGS: &str = "/var/spool/rivr-conformance";

/// Both calls' uuid, so what derives from it (`record`'s default name) compares.
const UUID: &str = "3f1c9a52-7d0e-4b8a-9c61-2e5d4f7a8b90";

/// What the caller or a far end does, in the order the script meets it.
#[derive(Clone, Debug)]
enum Input {
    /// The keys the caller presses during the next try of a prompt-and-collect (`ask`, `menu`);
    /// `""` is silence until the try times out. Keys after those the try takes stay on the
    /// channel, typed ahead: the next try takes them instead of the next `Keys`, unless media
    /// or a bridge takes them first.
    Keys(&'static str),
    /// How the next `dial` ends.
    Dial(Far),
    /// How the next `record` ends.
    Record(Speech),
    /// The caller hangs up during the script's `command`-th command (1-based, every verb
    /// counted, `get_var`/`set_var` included), which is the `run`-th (1-based) execution of
    /// FreeSWITCH application `app`. (Each switch needs its own half; if they name different
    /// moments, the two calls differ and the case fails.)
    HangupDuring { command: usize, app: &'static str, run: usize },
}

/// The far end of a dial.
#[derive(Clone, Debug)]
enum Far {
    /// The first target answers and talks this long.
    Answered(Duration),
    /// Target `n` (0-based) of several answers.
    AnsweredBy(usize, Duration),
    Busy,
    NoAnswer,
    /// No route to the target.
    Failed,
}

/// The caller during a recording.
#[derive(Clone, Debug)]
enum Speech {
    /// Speaks until the recording's limit, this long.
    Speaks(Duration),
    /// Says nothing; the silence timeout ends the recording after this long.
    Silent(Duration),
    /// Speaks this long, then presses `key`.
    Presses(Duration, char),
}

/// One script and everything outside it.
struct Case {
    name: &'static str,
    script: &'static str,
    caller: Vec<Input>,
    /// `Some(reason)`: the two switches differ here by design; the test asserts they still do.
    differs: Option<&'static str>,
}

fn case(name: &'static str, script: &'static str, caller: Vec<Input>) -> Case {
    Case { name, script, caller, differs: None }
}

use Input::{Dial, HangupDuring, Keys, Record};

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn cases() -> Vec<Case> {
    vec![
        // ---- ask ----
        case(
            "ask matches on the first try",
            r#"answer(); let r = ask("x.wav", #{max_digits: 4}); set_var("seen", `${r}`);"#,
            vec![Keys("1234")],
        ),
        case(
            "ask ends on a terminator and reports it",
            r#"answer(); let r = ask("x.wav", #{max_digits: 4}); set_var("seen", `${r}`);"#,
            vec![Keys("12#")],
        ),
        case(
            "ask with only a terminator is nomatch",
            r#"answer(); let r = ask("x.wav", #{max_digits: 4}); set_var("seen", `${r}`);"#,
            vec![Keys("#")],
        ),
        case(
            "ask with silence on every try is noinput",
            r#"answer(); let r = ask("x.wav", #{max_digits: 4, tries: 3}); set_var("seen", `${r}`);"#,
            vec![Keys(""), Keys(""), Keys("")],
        ),
        case(
            "ask retries after silence and matches on a later try",
            r#"answer(); let r = ask("x.wav", #{max_digits: 2, tries: 3}); set_var("seen", `${r}`);"#,
            vec![Keys(""), Keys("42")],
        ),
        case(
            "ask with too few digits is nomatch after the inter-digit timeout",
            r#"answer(); let r = ask("x.wav", #{min_digits: 3, max_digits: 5, tries: 2}); set_var("seen", `${r}`);"#,
            vec![Keys("1"), Keys("12")],
        ),
        case(
            "ask with enough digits then the inter-digit timeout matches",
            r#"answer(); let r = ask("x.wav", #{min_digits: 2, max_digits: 5}); set_var("seen", `${r}`);"#,
            vec![Keys("123")],
        ),
        case(
            "ask with too few digits before a terminator is nomatch with the terminator",
            r#"answer(); let r = ask("x.wav", #{min_digits: 3, max_digits: 5}); set_var("seen", `${r}`);"#,
            vec![Keys("1#")],
        ),
        case(
            "ask stops at max_digits",
            r#"answer(); let r = ask("x.wav", #{max_digits: 2}); set_var("seen", `${r}`);"#,
            vec![Keys("12")],
        ),
        case(
            "ask with a regex refuses then accepts",
            r#"answer(); let r = ask("x.wav", #{min_digits: 2, max_digits: 4, tries: 2, regex: "^1"}); set_var("seen", `${r}`);"#,
            vec![Keys("99"), Keys("12#")],
        ),
        case(
            "ask with a regex refusing every try is nomatch with the last digits",
            r#"answer(); let r = ask("x.wav", #{min_digits: 2, max_digits: 4, tries: 2, regex: "^1"}); set_var("seen", `${r}`);"#,
            vec![Keys("9#"), Keys("99")],
        ),
        case(
            "ask with other terminators",
            r#"answer(); let r = ask("x.wav", #{max_digits: 4, terminator: "*"}); set_var("seen", `${r}`);"#,
            vec![Keys("7*")],
        ),
        case(
            "ask without terminators takes # as a digit",
            r#"answer(); let r = ask("x.wav", #{max_digits: 3, terminator: ""}); set_var("seen", `${r}`);"#,
            vec![Keys("1#2")],
        ),
        case(
            "ask with min_digits 0 and silence",
            r#"answer(); let r = ask("x.wav", #{min_digits: 0, max_digits: 3}); set_var("seen", `${r}`);"#,
            vec![Keys("")],
        ),
        case(
            "ask with min_digits 0 and only a terminator",
            r#"answer(); let r = ask("x.wav", #{min_digits: 0, max_digits: 3}); set_var("seen", `${r}`);"#,
            vec![Keys("#")],
        ),
        case(
            "six asks in a row as in the outbound test",
            r#"
                answer();
                for i in 0..6 {
                    let r = ask("x.wav", #{min_digits: 2, max_digits: 4, tries: 2, regex: "^1"});
                    set_var("seen" + i, `${r.status}:${r.digits}:${r.terminator}`);
                }
            "#,
            ["12#", "", "", "", "9#", "5", "#", "99", "1234", "", "99"].into_iter().map(Keys).collect(),
        ),
        case(
            "ask with min_digits 0 ends at once on a lone terminator, with tries left",
            r#"answer(); let r = ask("x.wav", #{min_digits: 0, max_digits: 3, tries: 2}); set_var("seen", `${r}`);"#,
            vec![Keys("#")],
        ),
        case(
            "ask with min_digits 0: a refused try then silence is nomatch with the refused digits",
            r#"answer(); let r = ask("x.wav", #{min_digits: 0, max_digits: 3, tries: 2, regex: "^1"}); set_var("seen", `${r}`);"#,
            vec![Keys("99"), Keys("")],
        ),
        case(
            "ask with min_digits 0 after an earlier ask ended on a terminator gives up after one silent try",
            r#"answer(); let a = ask("x.wav", #{max_digits: 3}); set_var("seen", `${a}`);
               let b = ask("y.wav", #{min_digits: 0, max_digits: 3, tries: 3}); set_var("seen2", `${b}`);
               let c = ask("z.wav", #{max_digits: 3}); set_var("seen3", `${c}`);"#,
            vec![Keys("1#"), Keys(""), Keys("7#")],
        ),
        case(
            "ask with min_digits 0: refused, then a terminator alone",
            r#"answer(); let r = ask("x.wav", #{min_digits: 0, max_digits: 3, tries: 3, regex: "^1"}); set_var("seen", `${r}`);"#,
            vec![Keys("99"), Keys("#")],
        ),
        case(
            "ask: a refused try then silence is noinput",
            r#"answer(); let r = ask("x.wav", #{min_digits: 1, max_digits: 3, tries: 2, regex: "^1"}); set_var("seen", `${r}`);"#,
            vec![Keys("99"), Keys("")],
        ),
        case(
            "ask: too few digits then silence is noinput",
            r#"answer(); let r = ask("x.wav", #{min_digits: 3, max_digits: 3, tries: 2}); set_var("seen", `${r}`);"#,
            vec![Keys("1"), Keys("")],
        ),
        case(
            "ask: a regex refusing max digits",
            r#"answer(); let r = ask("x.wav", #{max_digits: 2, regex: "^1"}); set_var("seen", `${r}`);"#,
            vec![Keys("22")],
        ),
        case(
            "ask: a regex refusing digits ended by a terminator",
            r#"answer(); let r = ask("x.wav", #{max_digits: 4, regex: "^1"}); set_var("seen", `${r}`);"#,
            vec![Keys("2#")],
        ),
        case(
            "ask: a terminator at max_digits",
            r#"answer(); let r = ask("x.wav", #{max_digits: 2}); set_var("seen", `${r}`);"#,
            vec![Keys("1#")],
        ),
        case(
            "ask with an invalid prompt and several prompts",
            r#"answer(); let r = ask(["a.wav", "say:enter it"], #{max_digits: 2, tries: 2, min_digits: 2, invalid_prompt: "bad.wav"}); set_var("seen", `${r}`);"#,
            vec![Keys("1"), Keys("12")],
        ),
        case(
            "ask with star and letters as digits",
            r#"answer(); let r = ask("x.wav", #{max_digits: 3}); set_var("seen", `${r}`);"#,
            vec![Keys("*A1")],
        ),
        // ---- menu (stdlib) ----
        case(
            "menu runs the handler of the pressed key",
            r#"let r = menu("say:menu", #{"1": || "one", "2": || "two"}); set_var("seen", `${r}`);"#,
            vec![Keys("2")],
        ),
        case(
            "menu retries invalid and timeout then fails",
            r#"let r = menu("say:menu", #{"1": || 1}, #{tries: 3, invalid: "invalid.wav", timeout_prompt: "timeout.wav"});
               set_var("seen", `${r}`);"#,
            vec![Keys("9"), Keys(""), Keys("8")],
        ),
        case(
            "menu with a range takes the digits",
            r#"let r = menu("say:ext", #{"1": || "one", "10-19": || "ext " + this}); set_var("seen", `${r}`);"#,
            vec![Keys("12")],
        ),
        // ---- dial ----
        case(
            "dial answered",
            r#"answer(); let d = dial("user/1000", #{timeout: 20000}); set_var("seen", `${d}`);"#,
            vec![Dial(Far::Answered(ms(42_500)))],
        ),
        case(
            "dial busy, no answer and failed leave the caller up",
            r#"
                answer();
                for i in 0..3 { let d = dial("user/1000"); set_var("seen" + i, `${d}`); }
                play("still-here.wav");
            "#,
            vec![Dial(Far::Busy), Dial(Far::NoAnswer), Dial(Far::Failed)],
        ),
        case(
            "dial to several targets names the one that answered",
            r#"
                answer();
                let d = dial(["user/1001", "user/1002"]); set_var("seen", `${d}`);
                let s = dial(["user/1003", "user/1004"], #{sequential: true}); set_var("seen2", `${s}`);
            "#,
            vec![Dial(Far::Answered(secs(3))), Dial(Far::Answered(secs(4)))],
        ),
        Case {
            name: "dial to several targets answered by the second",
            script: r#"answer(); let d = dial(["user/1001", "user/1002"]); set_var("seen", `${d}`);"#,
            caller: vec![Dial(Far::AnsweredBy(1, secs(3)))],
            differs: Some(
                "a simulated dial result (`rivr sim --dial`, a scenario's `dials:`) has no way to say \
                 which target answers, so the simulator names the first",
            ),
        },
        Case {
            name: "get_var of a variable FreeSWITCH sets on every channel",
            script: r#"answer(); set_var("seen", `${get_var("call_uuid")}`);"#,
            caller: vec![],
            differs: Some(
                "the simulator knows only the variables its call is given (route and scenario \
                 variables), not the ones a real channel carries from its creation",
            ),
        },
        case(
            "dial to several targets that are all busy",
            r#"answer(); let d = dial(["user/1001", "user/1002"]); set_var("seen", `${d}`);"#,
            vec![Dial(Far::Busy)],
        ),
        // ---- record ----
        case(
            "record recorded",
            r#"answer(); let m = record(#{name: "msg", max_duration: 60000}); set_var("seen", `${m}`);"#,
            vec![Record(Speech::Speaks(ms(7320)))],
        ),
        case(
            "record of silence is empty",
            r#"answer(); let m = record(#{name: "quiet", silence_timeout: 3000}); set_var("seen", `${m}`);"#,
            vec![Record(Speech::Silent(ms(3040)))],
        ),
        case(
            "record ended by its terminator",
            r##"answer(); let m = record(#{name: "keyed", terminator: "#"}); set_var("seen", `${m}`);"##,
            vec![Record(Speech::Presses(ms(1500), '#'))],
        ),
        case(
            "record then an ask: the key pressed during the recording is not a digit for the ask",
            r##"answer(); let m = record(#{name: "keyed", terminator: "#"}); set_var("seen", `${m}`);
               let r = ask("x.wav", #{max_digits: 1}); set_var("seen2", `${r}`);"##,
            vec![Record(Speech::Presses(ms(2000), '#')), Keys("5")],
        ),
        // ---- keys an ask did not take ----
        case(
            "keys an ask did not take are type-ahead for the next ask",
            r#"answer(); let a = ask("x.wav", #{max_digits: 1}); let b = ask("y.wav", #{max_digits: 1});
               set_var("seen", `${a}/${b}`);"#,
            vec![Keys("12")],
        ),
        case(
            "a play between two asks drops the keys typed ahead",
            r#"answer(); let a = ask("x.wav", #{max_digits: 1}); play("thanks.wav");
               let b = ask("y.wav", #{max_digits: 1}); set_var("seen", `${a}/${b}`);"#,
            vec![Keys("12"), Keys("5")],
        ),
        case(
            "a say and a say_number drop the keys typed ahead too",
            r#"answer(); let a = ask("x.wav", #{max_digits: 1}); say("thanks"); let b = ask("y.wav", #{max_digits: 1});
               say_number(7); let c = ask("z.wav", #{max_digits: 1}); set_var("seen", `${a}/${b}/${c}`);"#,
            vec![Keys("12"), Keys("34"), Keys("5")],
        ),
        case(
            "a star typed ahead stops the play and the keys after it wait for the next ask",
            r#"answer(); let a = ask("x.wav", #{max_digits: 1}); play("thanks.wav");
               let b = ask("y.wav", #{max_digits: 1}); set_var("seen", `${a}/${b}`);"#,
            vec![Keys("19*3")],
        ),
        case(
            "with playback_terminators none a play drops even a star",
            r#"answer(); set_var("playback_terminators", "none"); let a = ask("x.wav", #{max_digits: 1});
               play("thanks.wav"); let b = ask("y.wav", #{max_digits: 1}); set_var("seen", `${a}/${b}`);"#,
            vec![Keys("1*3"), Keys("5")],
        ),
        case(
            "a recording terminator typed ahead ends a recording without a beep before it writes",
            r##"answer(); let a = ask("x.wav", #{max_digits: 1, terminator: "*"});
               let m = record(#{name: "msg", beep: false}); set_var("seen", `${a}/${m}`);"##,
            vec![Keys("1#"), Record(Speech::Speaks(ms(4000)))],
        ),
        case(
            "the beep drops a recording terminator typed ahead",
            r##"answer(); let a = ask("x.wav", #{max_digits: 1, terminator: "*"});
               let m = record(#{name: "msg"}); set_var("seen", `${a}/${m}`);"##,
            vec![Keys("1#"), Record(Speech::Speaks(ms(4000)))],
        ),
        case(
            "an answered dial passes the keys typed ahead to the far end",
            r#"answer(); let a = ask("x.wav", #{max_digits: 1}); let d = dial("user/1");
               let b = ask("y.wav", #{max_digits: 1}); set_var("seen", `${a}/${d}/${b}`);"#,
            vec![Keys("12"), Dial(Far::Answered(secs(5))), Keys("5")],
        ),
        case(
            "a busy dial leaves the keys typed ahead for the next ask",
            r#"answer(); let a = ask("x.wav", #{max_digits: 1}); let d = dial("user/1");
               let b = ask("y.wav", #{max_digits: 1}); set_var("seen", `${a}/${d}/${b}`);"#,
            vec![Keys("12"), Dial(Far::Busy)],
        ),
        // ---- play, say, say_* ----
        case(
            "play, say and every say_ verb complete",
            r#"
                answer();
                play("ivr/welcome.wav");
                play(["ivr/you-have.wav", "say:three new messages"]);
                say("Hello");
                say_number(42); say_digits("0123"); say_digits("12*#"); say_time("14:30"); say_money(12.5);
            "#,
            vec![],
        ),
        case(
            "ring, pre_answer, send_dtmf, sleep and execute",
            r#"ring(); pre_answer(); answer(); send_dtmf("1#"); sleep(250); set_var("seen", `${execute("info", "")}`);"#,
            vec![],
        ),
        // ---- variables ----
        case(
            "set_var and get_var",
            r#"
                answer();
                set_var("colour", "blue");
                set_var("seen", `${get_var("colour")}:${get_var("nothing") == ()}`);
                set_var("colour", "");
                set_var("seen2", `${get_var("colour")}`);
            "#,
            vec![],
        ),
        // ---- control ----
        case(
            "transfer ends the script's part of the call",
            r#"answer(); transfer("1000", "default"); play("after.wav");"#,
            vec![],
        ),
        case("hangup by the script", r#"answer(); play("a.wav"); hangup(); play("never.wav");"#, vec![]),
        case("hangup with a cause", r#"answer(); hangup("busy");"#, vec![]),
        case("reject", r#"reject("busy");"#, vec![]),
        case("a script error applies the fallback", r#"answer(); play("a.wav"); throw "broken";"#, vec![]),
        case("a script that just ends", r#"answer(); play("a.wav");"#, vec![]),
        case(
            "the script goes on after a dial that was answered and after one that failed",
            r#"answer(); let a = dial("user/1"); let b = dial("user/2"); play("after.wav"); set_var("seen", `${a}/${b}`);"#,
            vec![Dial(Far::Answered(secs(5))), Dial(Far::Failed)],
        ),
        // ---- the caller hangs up during each blocking verb ----
        case(
            "caller hangs up during play",
            r#"answer(); play("long.wav"); play("after.wav");"#,
            vec![HangupDuring { command: 2, app: "playback", run: 1 }],
        ),
        case(
            "caller hangs up during say",
            r#"answer(); say("hello"); play("after.wav");"#,
            vec![HangupDuring { command: 2, app: "speak", run: 1 }],
        ),
        case(
            "caller hangs up during say_number",
            r#"answer(); say_number(5); play("after.wav");"#,
            vec![HangupDuring { command: 2, app: "say", run: 1 }],
        ),
        case(
            "caller hangs up during ask",
            r#"answer(); let r = ask("x.wav", #{max_digits: 2}); set_var("seen", `${r}`);"#,
            vec![HangupDuring { command: 2, app: "play_and_get_digits", run: 1 }],
        ),
        case(
            "caller hangs up during the second ask",
            r#"answer(); let a = ask("x.wav"); set_var("seen", `${a}`); let b = ask("y.wav"); set_var("seen2", `${b}`);"#,
            vec![Keys("1"), HangupDuring { command: 4, app: "play_and_get_digits", run: 2 }],
        ),
        case(
            "caller hangs up during dial",
            r#"answer(); let d = dial("user/1"); set_var("seen", `${d}`);"#,
            vec![HangupDuring { command: 2, app: "bridge", run: 1 }],
        ),
        case(
            "caller hangs up during record",
            r#"answer(); let m = record(); set_var("seen", `${m}`);"#,
            vec![HangupDuring { command: 2, app: "record", run: 1 }],
        ),
        case(
            "caller hangs up during sleep",
            r#"answer(); sleep(1000); play("after.wav");"#,
            vec![HangupDuring { command: 2, app: "sleep", run: 1 }],
        ),
        case(
            "on_hangup runs after the caller hangs up",
            r#"answer(); play("long.wav"); fn on_hangup() { set_var("seen", "on_hangup"); }"#,
            vec![HangupDuring { command: 2, app: "playback", run: 1 }],
        ),
    ]
}

// ---- What one call did ----

/// One command the script's call sent to its switch, and what came back.
type Step = (Command, Result<Outcome, CallError>);

/// What a call did, as far as a script can tell.
#[derive(Debug, PartialEq)]
struct Observed {
    steps: Vec<Step>,
    /// The keys each `ask` took, in order (its outcome's equality leaves them out, with their
    /// times): a key taken by something else, a playback or a bridge, is not among them.
    ask_keys: Vec<String>,
    ending: Ending,
    on_hangup_error: Option<String>,
}

impl Observed {
    fn of(steps: &Mutex<Vec<Step>>, report: CallReport) -> Self {
        let steps = steps.lock().expect("steps").clone();
        let ask_keys = steps
            .iter()
            .filter_map(|(_, result)| match result {
                Ok(Outcome::Ask(ask)) => Some(ask.keys.iter().map(|press| press.key).collect()),
                _ => None,
            })
            .collect();
        Observed {
            steps,
            ask_keys,
            ending: report.ending,
            on_hangup_error: report.on_hangup_error.map(|failure| failure.message),
        }
    }

    fn render(&self) -> String {
        let mut out = String::new();
        for (command, result) in &self.steps {
            out.push_str(&format!("    {command:?}\n      → {result:?}\n"));
        }
        out.push_str(&format!(
            "    ending: {:?}, on_hangup error: {:?}\n",
            self.ending, self.on_hangup_error
        ));
        out
    }
}

/// A switch whose every command and outcome is written down: the same wrapper for both.
struct Recorded<C> {
    inner: C,
    steps: Arc<Mutex<Vec<Step>>>,
}

impl<C: Channel> Channel for Recorded<C> {
    async fn execute(&mut self, command: Command, origin: Option<Origin>) -> Result<Outcome, CallError> {
        let result = self.inner.execute(command.clone(), origin).await;
        self.steps.lock().expect("steps").push((command, result.clone()));
        result
    }

    async fn ended(&mut self) -> rivr::call::HangupCause {
        self.inner.ended().await
    }

    async fn close(self) {
        self.inner.close().await
    }
}

fn job(info: CallInfo, script: &'static str) -> CallJob {
    CallJob {
        info,
        script: support::compile("main.rhai", script),
        scripts: None,
        limits: Limits::default(),
        fallback: Fallback::Hangup {
            prompt: Some("ivr/sorry.wav".into()),
            cause: "NORMAL_TEMPORARY_FAILURE".into(),
        },
        language: "en".into(),
    }
}

// ---- (a) the simulator ----

fn on_the_simulator(rt: &tokio::runtime::Runtime, case: &Case) -> Observed {
    let mut setup = SimSetup { recordings_dir: RECORDINGS.into(), ..SimSetup::default() };
    let mut actions = Vec::new();
    for input in &case.caller {
        match input {
            Keys("") => actions.push(CallerAction::Silence),
            Keys(keys) => actions.push(press(keys)),
            Dial(far) => setup.dials.push_back(match far {
                // The simulator's dial results do not say which target answers.
                Far::Answered(talk) | Far::AnsweredBy(_, talk) => SimDial::answered(*talk),
                Far::Busy => SimDial { status: rivr::call::DialStatus::Busy, duration: Duration::ZERO },
                Far::NoAnswer => SimDial { status: rivr::call::DialStatus::NoAnswer, duration: secs(30) },
                Far::Failed => SimDial { status: rivr::call::DialStatus::Failed, duration: Duration::ZERO },
            }),
            Record(speech) => {
                let (status, duration) = match speech {
                    Speech::Speaks(length) => (rivr::call::RecordStatus::Recorded, *length),
                    Speech::Silent(length) => (rivr::call::RecordStatus::Empty, *length),
                    Speech::Presses(length, key) => {
                        actions.push(press(&key.to_string()));
                        (rivr::call::RecordStatus::Recorded, *length)
                    }
                };
                setup.records.push_back(SimRecord { status, duration });
            }
            HangupDuring { command, .. } => setup.hangup_at_command = Some(*command),
        }
    }
    // The simulated caller hangs up when its actions run out; the cases say everything.
    let (tx, rx) = mpsc::unbounded_channel();
    for action in actions {
        tx.send(action).expect("queue");
    }
    drop(tx);
    let info = CallInfo::new(UUID, "5551234", "9000");
    let steps = Arc::new(Mutex::new(Vec::new()));
    let channel = Recorded { inner: SimChannel::new(&info, rx, setup, Journal::new()), steps: steps.clone() };
    let report = rt
        .block_on(support::start_call(rt, channel, CallServices::default(), job(info, case.script)))
        .expect("script task");
    Observed::of(&steps, report)
}

// ---- (b) FreeSWITCH ----

async fn on_freeswitch(case: &Case) -> Observed {
    let mut scenario = Scenario { uuid: UUID.into(), ..Scenario::default() };
    for input in &case.caller {
        match input {
            Keys(keys) => scenario.keys.push_back(keys.to_string()),
            Dial(far) => scenario.dials.push_back(match far {
                Far::Answered(talk) => DialResult::Answered { leg: 0, talk: *talk },
                Far::AnsweredBy(leg, talk) => DialResult::Answered { leg: *leg, talk: *talk },
                Far::Busy => DialResult::Busy,
                Far::NoAnswer => DialResult::NoAnswer,
                Far::Failed => DialResult::Failed("NO_ROUTE_DESTINATION"),
            }),
            Record(speech) => scenario.records.push_back(match speech {
                Speech::Speaks(length) => {
                    RecordResult { ms: length.as_millis() as u64, silence_exhausted: false, key: None }
                }
                Speech::Silent(length) => {
                    RecordResult { ms: length.as_millis() as u64, silence_exhausted: true, key: None }
                }
                Speech::Presses(length, key) => {
                    RecordResult { ms: length.as_millis() as u64, silence_exhausted: false, key: Some(*key) }
                }
            }),
            HangupDuring { app, run, .. } => {
                scenario.hangup_during = Some((app.to_string(), "NORMAL_CLEARING".into()));
                scenario.hangup_during_skip = run - 1;
            }
        }
    }
    let settings = FsSettings { recordings_dir: Some(RECORDINGS.into()), ..FsSettings::default() };
    let listener = outbound::bind(([127, 0, 0, 1], 0).into()).expect("bind");
    let addr = listener.local_addr().expect("address");
    let steps = Arc::new(Mutex::new(Vec::new()));
    let (reports, mut reported) = mpsc::unbounded_channel();
    let (_stop, stopped) = oneshot::channel::<()>();
    let script = case.script;
    let recorded = steps.clone();
    let on_call = move |info: CallInfo, channel| {
        let channel = Recorded { inner: channel, steps: recorded.clone() };
        let fiber = runner::fiber(&support::fibers(), job(info, script)).expect("fiber stack");
        let reports = reports.clone();
        tokio::spawn(async move {
            let _ = reports.send(actor::drive(channel, fiber, CallServices::default()).await);
        });
    };
    tokio::spawn(outbound::serve(listener, Arc::new(settings), support::call_threads(), on_call, async {
        let _ = stopped.await;
    }));
    // Generous: it detects a hung call, it does not measure speed.
    let guard = Duration::from_secs(60);
    tokio::time::timeout(guard, fake::call(addr, scenario)).await.expect("the fake call finished");
    let report = tokio::time::timeout(guard, reported.recv()).await.expect("a report").expect("report");
    Observed::of(&steps, report)
}

#[test]
fn the_simulator_and_freeswitch_agree_on_every_case() {
    let rt = support::runtime();
    let mut disagreements = Vec::new();
    for case in cases() {
        let simulated = on_the_simulator(&rt, &case);
        let switched = rt.block_on(on_freeswitch(&case));
        let agree = simulated == switched;
        match case.differs {
            None if !agree => disagreements.push(format!(
                "{}:\n  simulator:\n{}  FreeSWITCH:\n{}",
                case.name,
                simulated.render(),
                switched.render()
            )),
            Some(reason) if agree => disagreements.push(format!(
                "{}: documented as differing ({reason}), but the two now agree: drop the note",
                case.name
            )),
            _ => {}
        }
    }
    assert!(
        disagreements.is_empty(),
        "{} disagreement(s):\n{}",
        disagreements.len(),
        disagreements.join("\n")
    );
}
