//! `ask` on FreeSWITCH: one `play_and_get_digits` per prompt-and-collect (never one operation
//! per digit), and its outcome read from the variables it leaves on the channel.

use super::media::{file, files};
use super::{millis, Expect, Lookup, Observed, Plan, Step};
use crate::call::{AskOptions, AskOutcome, AskStatus, CallError, DtmfKeys, Outcome};
use crate::switch::freeswitch::escape::{escape_word, protect};
use crate::switch::freeswitch::settings::FsSettings;

/// What `ask` needs to read its outcome.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AskExpect {
    /// The variable `play_and_get_digits` stores the digits in.
    pub variable: String,
    /// The script's `max_digits`.
    pub max_digits: u32,
    /// The script's terminator keys.
    pub terminators: DtmfKeys,
}

/// `ask`: `play_and_get_digits` into [`ASK_VARIABLE`].
pub(super) fn plan(options: &AskOptions, settings: &FsSettings) -> Plan {
    Plan::single(
        Step::app(APP_PLAY_AND_GET_DIGITS, protect(&ask_arg(options, ASK_VARIABLE, settings))),
        Expect::Ask(AskExpect {
            variable: ASK_VARIABLE.into(),
            max_digits: options.max_digits,
            terminators: options.terminators.clone(),
        }),
    )
}

/// The `play_and_get_digits` argument: `<min> <max> <tries> <timeout> <terminators> <file>
/// <invalid_file> <var_name> <regex> <digit_timeout>`, as in the outbound-pagd capture.
///
/// A regex is always passed (the slot is positional); without the script's own, one that
/// accepts `min..=max` DTMF keys, so `<var>_invalid` is always reset and only FreeSWITCH's own
/// min/max rules decide.
fn ask_arg(options: &AskOptions, variable: &str, settings: &FsSettings) -> String {
    let prompt = if options.prompts.is_empty() {
        ASK_NO_PROMPT.to_string()
    } else {
        files(&options.prompts, settings)
    };
    let invalid = options
        .invalid_prompt
        .as_ref()
        .map_or_else(|| ASK_NO_INVALID_PROMPT.to_string(), |p| file(p, settings));
    let terminators = if options.terminators.is_empty() {
        // An empty slot means `#` to play_and_get_digits; `none` holds no DTMF key.
        ASK_NO_TERMINATORS
    } else {
        options.terminators.as_str()
    };
    let regex = options
        .regex
        .as_ref()
        .map(|pattern| pattern.as_str().to_string())
        .unwrap_or_else(|| format!("^[0-9*#A-D]{{{},{}}}$", options.min_digits, options.max_digits));
    format!(
        "{} {} {} {} {} {} {} {} {} {}",
        options.min_digits,
        options.max_digits,
        options.tries.max(1),
        millis(options.timeout),
        escape_word(terminators),
        escape_word(&prompt),
        escape_word(&invalid),
        variable,
        escape_word(&regex),
        millis(options.inter_digit_timeout),
    )
}

/// `ask`'s outcome from what `play_and_get_digits` leaves behind (`switch_ivr_play_say.c`,
/// `switch_play_and_get_digits` and `switch_ivr_read`).
///
/// Each try's `switch_ivr_read` resets `<var>` and `read_result` first, so both describe the
/// last try: a match returns at once with `<var>` set and `read_result` `success` (or `timeout`
/// once enough digits were in); too few digits leave `<var>` set and `read_result` `failure`;
/// a regex mismatch clears `<var>` and stores the digits in `<var>_invalid`; nothing pressed is
/// `timeout` (min 0) or `failure` with no digits. `read_terminator_used` is only reset when a
/// terminator is pressed, so it is read only when the last try must have ended on one; when
/// that cannot be told from the variables, the last DTMF key of the ask decides.
///
/// `<var>_invalid` is reset once per `play_and_get_digits`, not per try: with `min_digits: 0`,
/// a mismatch on an earlier try followed by silence on the last reports `nomatch` with the
/// earlier digits.
pub(super) fn outcome(
    ask: &AskExpect,
    event: &dyn Lookup,
    observed: &Observed,
) -> Result<Outcome, CallError> {
    let digits = event.variable(&ask.variable).filter(|d| !d.is_empty()).map(str::to_string);
    let invalid = event
        .variable(&format!("{}{INVALID_SUFFIX}", ask.variable))
        .filter(|d| !d.is_empty())
        .map(str::to_string);
    let used = event.variable(VAR_READ_TERMINATOR_USED).and_then(|t| t.chars().next());
    let last_key_was_terminator =
        || observed.keys.last().map(|press| press.key).filter(|k| ask.terminators.contains(*k));
    let result = event.variable(VAR_READ_RESULT);
    let (status, digits, terminator) = match (result, digits) {
        (Some(READ_SUCCESS), Some(digits)) => {
            let terminator = if (digits.chars().count() as u32) < ask.max_digits { used } else { None };
            (AskStatus::Match, digits, terminator)
        }
        (Some(READ_TIMEOUT), Some(digits)) => (AskStatus::Match, digits, None),
        (Some(_), Some(digits)) => (AskStatus::NoMatch, digits, last_key_was_terminator()),
        // The regex refused the digits (they are in `<var>_invalid`), or min_digits is 0 and
        // only a terminator (success) or nothing (timeout) came.
        (Some(result @ (READ_SUCCESS | READ_TIMEOUT)), None) => match invalid {
            Some(digits) => (
                AskStatus::NoMatch,
                digits,
                used.filter(|_| result == READ_SUCCESS && last_key_was_terminator().is_some()),
            ),
            None if result == READ_SUCCESS => {
                (AskStatus::NoMatch, String::new(), used.filter(|_| last_key_was_terminator().is_some()))
            }
            None => (AskStatus::NoInput, String::new(), None),
        },
        (Some(_), None) => match last_key_was_terminator() {
            Some(key) => (AskStatus::NoMatch, String::new(), Some(key)),
            None => (AskStatus::NoInput, String::new(), None),
        },
        (None, _) => {
            return Err(CallError::Switch {
                verb: "ask",
                reason: "FreeSWITCH could not play the prompt (play_and_get_digits set no \
                         read_result)"
                    .into(),
            })
        }
    };
    Ok(Outcome::Ask(AskOutcome { status, digits, terminator, keys: observed.keys.clone() }))
}

const APP_PLAY_AND_GET_DIGITS: &str = "play_and_get_digits";
/// The variable `play_and_get_digits` stores an `ask`'s digits in.
pub const ASK_VARIABLE: &str = "rivr_digits";
const VAR_READ_RESULT: &str = "read_result";
const VAR_READ_TERMINATOR_USED: &str = "read_terminator_used";
const READ_SUCCESS: &str = "success";
const READ_TIMEOUT: &str = "timeout";
/// `play_and_get_digits` keeps digits its regex refused in `<var>_invalid`.
const INVALID_SUFFIX: &str = "_invalid";
/// `switch_ivr_read` skips the prompt when it is literally `silence`.
const ASK_NO_PROMPT: &str = "silence";
/// What the outbound-pagd capture plays between tries when the script names no prompt.
const ASK_NO_INVALID_PROMPT: &str = "silence_stream://250";
/// Holds no DTMF key, so no key ends input (an empty slot would mean `#`).
const ASK_NO_TERMINATORS: &str = "none";

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::time::Duration;

    use super::super::test_support::{apps, captured_runs, plan_of, settings};
    use super::super::Finished;
    use super::*;
    use crate::call::{Command, DtmfKeys, KeyPress, Pattern};
    use crate::switch::freeswitch::escape::fs_parsers;

    #[test]
    fn ask_argument_matches_the_capture_byte_for_byte() {
        // outbound-pagd: `1 1 2 8000 # vm-enter-num-to-call.wav silence_stream://250
        // fslab_digit \d 3000`.
        let options = AskOptions {
            prompts: vec!["vm-enter-num-to-call.wav".into()],
            min_digits: 1,
            max_digits: 1,
            timeout: Duration::from_millis(8000),
            inter_digit_timeout: Duration::from_millis(3000),
            terminators: DtmfKeys::parse("#").expect("dtmf"),
            tries: 2,
            invalid_prompt: None,
            regex: Some(Pattern::new(r"\d").expect("valid")),
            sensitive: false,
        };
        let arg = ask_arg(&options, "fslab_digit", &settings());
        assert_eq!(arg, r"1 1 2 8000 # vm-enter-num-to-call.wav silence_stream://250 fslab_digit \d 3000");
        assert_eq!(protect(&arg), arg);
    }

    #[test]
    fn ask_without_a_regex_passes_one_that_enforces_min_and_max() {
        let options = AskOptions {
            prompts: vec!["ivr/enter-pin.wav".into()],
            min_digits: 4,
            max_digits: 6,
            terminators: DtmfKeys::default(),
            ..AskOptions::default()
        };
        let plan = plan_of(Command::Ask(options));
        assert_eq!(
            apps(&plan),
            ["play_and_get_digits 4 6 1 5000 none ivr/enter-pin.wav silence_stream://250 \
              rivr_digits ^[0-9*#A-D]{4,6}$ 3000"]
        );
    }

    #[test]
    fn ask_with_tts_prompts_survives_the_blank_splitter() {
        let options = AskOptions {
            prompts: vec!["say:Press 1 for sales, or 2!".into(), "beep.wav".into()],
            invalid_prompt: Some("say:That's not right".into()),
            regex: Some(Pattern::new(r"^\d\s?$").expect("valid")),
            ..AskOptions::default()
        };
        let plan = plan_of(Command::Ask(options));
        let Step::App { arg: Some(arg), .. } = &plan.steps[0] else {
            panic!("not an app");
        };
        let expanded = fs_parsers::expand(arg);
        let argv = fs_parsers::separate(&expanded, None, 11);
        assert_eq!(argv.len(), 10, "{argv:?}");
        assert_eq!(argv[5], r"file_string://tts://flite|kal|Press 1 for sales, or 2\!!beep.wav");
        assert_eq!(argv[6], "tts://flite|kal|That\\'s not right");
        assert_eq!(argv[8], r"^\d\s?$");
        // The file string splits back into the TTS text.
        let parts = fs_parsers::separate(argv[5].trim_start_matches("file_string://"), Some('!'), 128);
        let tts = fs_parsers::separate(parts[0].trim_start_matches("tts://"), Some('|'), 3);
        assert_eq!(tts[2], "Press 1 for sales, or 2!");
        let invalid = fs_parsers::separate(argv[6].trim_start_matches("tts://"), Some('|'), 3);
        assert_eq!(invalid[2], "That's not right");
    }

    fn ask_expect(max: u32) -> Expect {
        Expect::Ask(AskExpect {
            variable: "rivr_digits".into(),
            max_digits: max,
            terminators: DtmfKeys::parse("#").expect("dtmf"),
        })
    }

    fn ask(expect: &Expect, vars: &[(&str, &str)], dtmf: &str) -> AskOutcome {
        let pairs: Vec<(String, String)> =
            vars.iter().map(|(k, v)| (format!("variable_{k}"), v.to_string())).collect();
        let map: BTreeMap<String, String> = pairs.into_iter().collect();
        let keys = dtmf.chars().map(|key| KeyPress { key, at: Duration::ZERO }).collect();
        let observed = Observed { keys, ..Observed::default() };
        match expect.outcome("ask", Finished::App(&map), &observed) {
            Ok(Outcome::Ask(outcome)) => outcome,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn ask_outcomes_follow_play_and_get_digits_variables() {
        let one = ask_expect(1);
        // outbound-pagd: `variable_read_result: success`, `variable_fslab_digit: 1`.
        let matched = ask(&one, &[("read_result", "success"), ("rivr_digits", "1")], "1");
        assert_eq!(
            matched,
            AskOutcome { status: AskStatus::Match, digits: "1".into(), terminator: None, keys: Vec::new() }
        );
        let four = ask_expect(4);
        let terminated = ask(
            &four,
            &[("read_result", "success"), ("rivr_digits", "12"), ("read_terminator_used", "#")],
            "12#",
        );
        assert_eq!(terminated.status, AskStatus::Match);
        assert_eq!(terminated.terminator, Some('#'));
        let enough_then_timeout = ask(&four, &[("read_result", "timeout"), ("rivr_digits", "123")], "123");
        assert_eq!(enough_then_timeout.status, AskStatus::Match);
        let too_few = ask(&four, &[("read_result", "failure"), ("rivr_digits", "1")], "1");
        assert_eq!((too_few.status, too_few.digits.as_str()), (AskStatus::NoMatch, "1"));
        let mismatch = ask(&four, &[("read_result", "success"), ("rivr_digits_invalid", "9999")], "9999");
        assert_eq!((mismatch.status, mismatch.digits.as_str()), (AskStatus::NoMatch, "9999"));
        let silence = ask(&four, &[("read_result", "failure")], "");
        assert_eq!(silence.status, AskStatus::NoInput);
        // A terminator left over from an earlier ask does not count.
        let stale = ask(&four, &[("read_result", "failure"), ("read_terminator_used", "#")], "");
        assert_eq!((stale.status, stale.terminator), (AskStatus::NoInput, None));
        let only_terminator = ask(&four, &[("read_result", "failure"), ("read_terminator_used", "#")], "#");
        assert_eq!((only_terminator.status, only_terminator.terminator), (AskStatus::NoMatch, Some('#')));
        let min_zero_timeout = ask(&four, &[("read_result", "timeout")], "");
        assert_eq!(min_zero_timeout.status, AskStatus::NoInput);
        // Enough digits, then the inter-digit timeout, then the regex said no.
        let refused_after_timeout =
            ask(&four, &[("read_result", "timeout"), ("rivr_digits_invalid", "99")], "99");
        assert_eq!(
            (refused_after_timeout.status, refused_after_timeout.digits.as_str()),
            (AskStatus::NoMatch, "99")
        );
    }

    #[test]
    fn ask_without_read_result_failed_to_play() {
        let expect = ask_expect(1);
        let empty = BTreeMap::new();
        assert!(matches!(
            expect.outcome("ask", Finished::App(&empty), &Observed::default()),
            Err(CallError::Switch { verb: "ask", .. })
        ));
    }

    #[test]
    fn the_captured_asks_read_as_the_caller_pressed() {
        // outbound-pagd and outbound-pagd-digit3: one play_and_get_digits each, the caller
        // pressed 1 and 3 (variable `fslab_digit`, max one digit).
        for (capture, digit) in [("outbound-pagd", "1"), ("outbound-pagd-digit3", "3")] {
            let runs = captured_runs(capture, "play_and_get_digits");
            assert_eq!(runs.len(), 1, "{capture}");
            let expect = Expect::Ask(AskExpect {
                variable: "fslab_digit".into(),
                max_digits: 1,
                terminators: DtmfKeys::parse("#").expect("keys"),
            });
            let outcome = expect.outcome("ask", Finished::App(&runs[0].completion), &runs[0].observed);
            assert_eq!(
                outcome,
                Ok(Outcome::Ask(AskOutcome {
                    status: AskStatus::Match,
                    digits: digit.into(),
                    terminator: None,
                    keys: Vec::new(),
                })),
                "{capture}"
            );
        }
    }
}
