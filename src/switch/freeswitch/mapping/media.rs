//! Media on FreeSWITCH: `play` (`playback`), `say` (`speak`), the `say_*` family (`say`, mod_say),
//! and how every verb's prompts become FreeSWITCH file strings.
//!
//! # `say:` prompts
//!
//! A prompt `say:<text>` is text to speech. FreeSWITCH's own `say:` file syntax needs the
//! channel variable `tts_engine` (`switch_ivr_play_file`) and is not understood inside
//! `file_string://` (each part is opened with `switch_core_file_open`), so the mapping writes it
//! as `tts://<engine>|<voice>|<text>` (`mod_dptools`' `tts` file format), with the engine and
//! voice of [`FsSettings`]. That works alone, in lists, in `ask` and in dial confirmations.

use super::{Expect, Lookup, Plan, Step};
use crate::call::{CallError, Outcome, Prompt, SayAs, SayKind, SayOptions};
use crate::switch::freeswitch::escape::{escape_item, escape_word, protect};
use crate::switch::freeswitch::protocol::HEADER_APPLICATION_RESPONSE;
use crate::switch::freeswitch::settings::FsSettings;

/// `playback <file string>`, as in the outbound-pagd capture.
pub(super) fn play(prompts: &[Prompt], settings: &FsSettings) -> Result<Plan, CallError> {
    if prompts.is_empty() {
        return Err(CallError::Invalid { verb: "play", reason: "nothing to play".into() });
    }
    let what = files(prompts, settings);
    Ok(Plan::single(Step::app(APP_PLAYBACK, protect(&what)), Expect::Playback { what }))
}

/// `speak <engine>|<voice>|<text>`, as in the outbound-speak capture.
pub(super) fn say(options: &SayOptions, settings: &FsSettings) -> Result<Plan, CallError> {
    let engine = options.engine.as_deref().unwrap_or(&settings.tts_engine);
    let voice = options.voice.as_deref().unwrap_or(&settings.tts_voice);
    check_tts_name("say", "engine", engine)?;
    check_tts_name("say", "voice", voice)?;
    let text = tts_text(&options.text);
    Ok(Plan::single(Step::app(APP_SPEAK, protect(&format!("{engine}|{voice}|{text}"))), Expect::Done))
}

/// `say <lang> <type> <method> <value>` (mod_say), as in the outbound-pagd capture.
pub(super) fn say_as(say: &SayAs, settings: &FsSettings) -> Result<Plan, CallError> {
    let language = if say.language.is_empty() { settings.language.as_str() } else { say.language.as_str() };
    check_tts_name(say.kind.verb(), "language", language)?;
    let value = say.value.trim();
    let unsupported = |reason: String| CallError::Unsupported { verb: say.kind.verb(), reason };
    let (kind, method) = match say.kind {
        // mod_say reads numbers with `switch_strip_commas`: digits only, nine at most in
        // `mod_say_en` (`en_say_general_count`).
        SayKind::Number => {
            if value.is_empty()
                || value.len() > MAX_SAY_NUMBER_DIGITS
                || !value.bytes().all(|b| b.is_ascii_digit())
            {
                return Err(unsupported(format!(
                    "FreeSWITCH's mod_say speaks whole numbers from 0 to 999999999, not `{value}`"
                )));
            }
            (SAY_TYPE_NUMBER, SAY_METHOD_PRONOUNCED)
        }
        // `number iterated` says each digit but refuses anything else; `name_spelled` also
        // says `*` and `#` (ascii/42.wav, ascii/35.wav).
        SayKind::Digits => {
            if value.bytes().all(|b| b.is_ascii_digit()) {
                (SAY_TYPE_NUMBER, SAY_METHOD_ITERATED)
            } else {
                (SAY_TYPE_NAME_SPELLED, SAY_METHOD_ITERATED)
            }
        }
        SayKind::Money => (SAY_TYPE_CURRENCY, SAY_METHOD_PRONOUNCED),
        // An epoch timestamp is a moment: date and time. `HH:MM[:SS]` is a time of today.
        SayKind::Time => {
            if value.contains(':') {
                (SAY_TYPE_CURRENT_TIME, SAY_METHOD_PRONOUNCED)
            } else {
                (SAY_TYPE_CURRENT_DATE_TIME, SAY_METHOD_PRONOUNCED)
            }
        }
    };
    if value.is_empty() || value.contains(char::is_whitespace) {
        return Err(unsupported(format!("`{value}` is not one word")));
    }
    let arg = format!("{language} {kind} {method} {}", escape_word(value));
    Ok(Plan::single(Step::app(APP_SAY, protect(&arg)), Expect::Done))
}

/// One prompt as a FreeSWITCH file string.
pub(super) fn file(prompt: &Prompt, settings: &FsSettings) -> String {
    match prompt {
        Prompt::Speech(text) => format!(
            "{TTS_FILE_PREFIX}{}|{}|{}",
            settings.tts_engine,
            settings.tts_voice,
            escape_item(&tts_text(text), '|')
        ),
        Prompt::File(text) => match &settings.sound_prefix {
            // What FreeSWITCH does with its `sound_prefix` (`switch_ivr_play_file`): a name that
            // is not a path (`switch_is_file_path`: a leading `/`, or `://`) is joined to the
            // prefix. A name starting with `$` is expanded by the switch first, so it is left to
            // it.
            Some(prefix) if !text.starts_with('/') && !text.contains("://") && !text.starts_with('$') => {
                format!("{}/{text}", prefix.trim_end_matches('/'))
            }
            _ => text.clone(),
        },
        Prompt::Tone(text) | Prompt::Url(text) => text.clone(),
    }
}

/// Prompts as one file string: one as is, several as `file_string://a!b`.
pub(super) fn files(prompts: &[Prompt], settings: &FsSettings) -> String {
    match prompts {
        [one] => file(one, settings),
        _ => {
            let parts: Vec<String> = prompts.iter().map(|p| escape_item(&file(p, settings), '!')).collect();
            format!("{FILE_STRING_PREFIX}{}", parts.join("!"))
        }
    }
}

/// TTS text made safe where FreeSWITCH reads more than text: `playback` cuts its argument at
/// `@@` (a start offset), so the pair is split with a space, which speech engines ignore.
fn tts_text(text: &str) -> String {
    text.replace("@@", "@ @")
}

/// `play`'s outcome: `FILE PLAYED`, or the reason the file could not be played.
pub(super) fn playback_outcome(
    verb: &'static str,
    what: &str,
    event: &dyn Lookup,
) -> Result<Outcome, CallError> {
    match event.header(HEADER_APPLICATION_RESPONSE) {
        Some(RESPONSE_FILE_NOT_FOUND) => {
            Err(CallError::Switch { verb, reason: format!("file not found: {what}") })
        }
        Some(RESPONSE_PLAYBACK_ERROR) => {
            Err(CallError::Switch { verb, reason: format!("FreeSWITCH could not play {what}") })
        }
        _ => Ok(Outcome::Done),
    }
}

/// An engine, voice or language sits between `|` or blanks; it must be a plain word.
fn check_tts_name(verb: &'static str, what: &str, value: &str) -> Result<(), CallError> {
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-.:/".contains(&b)) {
        return Err(CallError::Unsupported {
            verb,
            reason: format!("{what} `{value}` is not a plain name FreeSWITCH can take"),
        });
    }
    Ok(())
}

/// `mod_dptools`' `playback`: plays a file string.
pub(super) const APP_PLAYBACK: &str = "playback";
const APP_SAY: &str = "say";
const APP_SPEAK: &str = "speak";

const RESPONSE_FILE_NOT_FOUND: &str = "FILE NOT FOUND";
const RESPONSE_PLAYBACK_ERROR: &str = "PLAYBACK ERROR";

const SAY_TYPE_CURRENCY: &str = "currency";
const SAY_TYPE_CURRENT_DATE_TIME: &str = "current_date_time";
const SAY_TYPE_CURRENT_TIME: &str = "current_time";
const SAY_TYPE_NAME_SPELLED: &str = "name_spelled";
const SAY_TYPE_NUMBER: &str = "number";
const SAY_METHOD_ITERATED: &str = "iterated";
const SAY_METHOD_PRONOUNCED: &str = "pronounced";
const MAX_SAY_NUMBER_DIGITS: usize = 9;

const FILE_STRING_PREFIX: &str = "file_string://";
const TTS_FILE_PREFIX: &str = "tts://";

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::super::test_support::{apps, captured_runs, event, plan_of, settings};
    use super::super::{Finished, MapContext, Observed};
    use super::*;
    use crate::call::Command;
    use crate::switch::freeswitch::escape::fs_parsers;

    #[test]
    fn playback_of_one_file_matches_the_capture() {
        // outbound-pagd: `execute-app-name: playback`, `execute-app-arg: hello-world.wav`.
        let plan = plan_of(Command::Play(vec!["hello-world.wav".into()]));
        assert_eq!(apps(&plan), ["playback hello-world.wav"]);
    }

    #[test]
    fn a_configured_sound_prefix_is_joined_to_relative_prompt_files_only() {
        let settings =
            FsSettings { sound_prefix: Some("/usr/share/sounds/en/us/callie/".into()), ..settings() };
        let shown = |text: &str| file(&Prompt::parse(text), &settings);
        assert_eq!(shown("ivr/ivr-welcome.wav"), "/usr/share/sounds/en/us/callie/ivr/ivr-welcome.wav");
        assert_eq!(shown("/var/lib/prompts/x.wav"), "/var/lib/prompts/x.wav");
        assert_eq!(shown("${sounds_dir}/x.wav"), "${sounds_dir}/x.wav");
        assert_eq!(shown("https://cdn.example.com/x.wav"), "https://cdn.example.com/x.wav");
        assert_eq!(shown("tone_stream://%(100,0,440)"), "tone_stream://%(100,0,440)");
        assert_eq!(file(&Prompt::parse("ivr/x.wav"), &super::super::test_support::settings()), "ivr/x.wav");
    }

    #[test]
    fn several_prompts_become_one_file_string() {
        let plan = plan_of(Command::Play(vec![
            "ivr/you-have.wav".into(),
            "digits/3.wav".into(),
            "tone_stream://%(100,0,440)".into(),
        ]));
        assert_eq!(
            apps(&plan),
            ["playback file_string://ivr/you-have.wav!digits/3.wav!tone_stream://%(100,0,440)"]
        );
    }

    #[test]
    fn say_prompts_become_tts_file_strings() {
        let settings = settings();
        assert_eq!(files(&["say:Hello there".into()], &settings), "tts://flite|kal|Hello there");
        let list = files(&["say:Wow! A|B".into(), "beep.wav".into()], &settings);
        assert_eq!(list, r"file_string://tts://flite|kal|Wow\! A\|B!beep.wav");
        // FreeSWITCH's parsers give the text back: split on `!`, then on `|` (3 items).
        let parts = fs_parsers::separate(list.trim_start_matches("file_string://"), Some('!'), 128);
        assert_eq!(parts.len(), 2);
        let tts = fs_parsers::separate(parts[0].trim_start_matches("tts://"), Some('|'), 3);
        assert_eq!(tts, ["flite", "kal", "Wow! A|B"]);
        assert_eq!(parts[1], "beep.wav");
    }

    #[test]
    fn speak_matches_the_capture_and_keeps_bars_and_quotes_in_the_text() {
        // outbound-speak: `execute-app-arg: flite|kal|Hello from the F S lab.`
        let say =
            |text: &str| plan_of(Command::Say(SayOptions { text: text.into(), voice: None, engine: None }));
        assert_eq!(apps(&say("Hello from the F S lab.")), ["speak flite|kal|Hello from the F S lab."]);
        // speak takes the text after the second `|` verbatim.
        assert_eq!(apps(&say("It's a|b, 'quoted'")), ["speak flite|kal|It's a|b, 'quoted'"]);
        let voice = plan_of(Command::Say(SayOptions {
            text: "Bonjour".into(),
            voice: Some("slt".into()),
            engine: Some("flite".into()),
        }));
        assert_eq!(apps(&voice), ["speak flite|slt|Bonjour"]);
    }

    #[test]
    fn speak_text_with_variables_arrives_literally() {
        let plan = plan_of(Command::Say(SayOptions {
            text: "Costs ${system(rm -rf /)} \\n $5".into(),
            voice: None,
            engine: None,
        }));
        let Step::App { arg: Some(arg), .. } = &plan.steps[0] else {
            panic!("not an app");
        };
        assert_eq!(fs_parsers::expand(arg), "flite|kal|Costs ${system(rm -rf /)} \\n $5");
    }

    #[test]
    fn an_unplain_voice_is_unsupported() {
        let settings = settings();
        let variables = BTreeMap::new();
        let ctx = MapContext { settings: &settings, uuid: "u", variables: &variables, full_control: true };
        let bad = Command::Say(SayOptions { text: "hi".into(), voice: Some("kal|x".into()), engine: None });
        assert!(matches!(super::super::plan(&bad, &ctx), Err(CallError::Unsupported { verb: "say", .. })));
    }

    #[test]
    fn say_digits_matches_the_capture() {
        // outbound-pagd: `execute-app-name: say`, `execute-app-arg: en number iterated 1`.
        let plan = plan_of(Command::SayAs(SayAs {
            kind: SayKind::Digits,
            value: "1".into(),
            language: "en".into(),
        }));
        assert_eq!(apps(&plan), ["say en number iterated 1"]);
    }

    #[test]
    fn say_kinds_use_the_matching_mod_say_types() {
        let say = |kind, value: &str| {
            apps(&plan_of(Command::SayAs(SayAs { kind, value: value.into(), language: "en".into() })))
        };
        assert_eq!(say(SayKind::Number, "42"), ["say en number pronounced 42"]);
        assert_eq!(say(SayKind::Digits, "12*#"), ["say en name_spelled iterated 12*#"]);
        assert_eq!(say(SayKind::Money, "12.50"), ["say en currency pronounced 12.50"]);
        assert_eq!(say(SayKind::Time, "14:30"), ["say en current_time pronounced 14:30"]);
        assert_eq!(say(SayKind::Time, "1795472296"), ["say en current_date_time pronounced 1795472296"]);
    }

    #[test]
    fn numbers_mod_say_cannot_speak_are_unsupported() {
        let settings = settings();
        let variables = BTreeMap::new();
        let ctx = MapContext { settings: &settings, uuid: "u", variables: &variables, full_control: true };
        for value in ["-5", "1234567890"] {
            let command =
                Command::SayAs(SayAs { kind: SayKind::Number, value: value.into(), language: "en".into() });
            assert!(matches!(
                super::super::plan(&command, &ctx),
                Err(CallError::Unsupported { verb: "say_number", .. })
            ));
        }
    }

    #[test]
    fn playback_responses_become_outcomes() {
        let expect = Expect::Playback { what: "this-file-does-not-exist.wav".into() };
        let observed = Observed::default();
        // outbound-errors: `Application-Response: FILE NOT FOUND`.
        let missing = event(&[("Application-Response", "FILE NOT FOUND")]);
        assert_eq!(
            expect.outcome("play", Finished::App(&missing), &observed),
            Err(CallError::Switch {
                verb: "play",
                reason: "file not found: this-file-does-not-exist.wav".into()
            })
        );
        let played = event(&[("Application-Response", "FILE PLAYED")]);
        assert_eq!(expect.outcome("play", Finished::App(&played), &observed), Ok(Outcome::Done));
        let error = event(&[("Application-Response", "PLAYBACK ERROR")]);
        assert!(expect.outcome("play", Finished::App(&error), &observed).is_err());
    }

    #[test]
    fn the_captured_playbacks_read_as_played_or_missing() {
        let expect = |what: &str| Expect::Playback { what: what.into() };
        for run in captured_runs("outbound-pagd", "playback") {
            let outcome = expect(&run.arg).outcome("play", Finished::App(&run.completion), &run.observed);
            assert_eq!(outcome, Ok(Outcome::Done), "{}", run.arg);
        }
        // outbound-errors: `FILE NOT FOUND`.
        let missing = captured_runs("outbound-errors", "playback");
        let outcome = expect(&missing[0].arg).outcome(
            "play",
            Finished::App(&missing[0].completion),
            &missing[0].observed,
        );
        assert!(matches!(outcome, Err(CallError::Switch { verb: "play", .. })), "{outcome:?}");
        // outbound-farhangup-linger3: `PLAYBACK ERROR` once the caller hung up.
        let cut = captured_runs("outbound-farhangup-linger3", "playback");
        let last = cut.last().expect("a playback");
        assert!(expect(&last.arg).outcome("play", Finished::App(&last.completion), &last.observed).is_err());
    }
}
