//! `record` on FreeSWITCH: an optional beep, `set playback_terminators`, `record`, then the
//! terminators put back; the outcome is read from what `record` leaves on the channel.
//!
//! # Where recordings go
//!
//! `record` does not create directories: when it cannot open its file, FreeSWITCH hangs the
//! call up with `DESTINATION_OUT_OF_ORDER` (`switch_ivr_record_file`). So by default rivr
//! records into FreeSWITCH's own recordings directory, which exists on every install: the path
//! is written as `${recordings_dir}/<name>.wav`, the core expands the global variable
//! (`switch_channel_get_variable` falls back to globals), and the outcome reads the real path
//! back from the completion's `Application-Data`. A configured `recordings:` directory is
//! used as written; if the call ends that way anyway, `hangup_hint` says what to fix.

use std::time::Duration;

use super::media::APP_PLAYBACK;
use super::{restore, set, Expect, Lookup, MapContext, Plan, Step};
use crate::call::{RecordOptions, RecordOutcome, RecordStatus};
use crate::switch::freeswitch::escape::{escape_expansion, escape_word, protect};
use crate::switch::freeswitch::protocol::HEADER_APPLICATION_DATA;

/// What `record` needs to read its outcome.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordExpect {
    /// Where FreeSWITCH writes the file, as rivr named it: a literal path, or one under
    /// [`SWITCH_RECORDINGS_DIR`] that the completion's `Application-Data` resolves.
    pub path: String,
    /// The silence that ends the recording; zero when silence detection is off.
    pub silence: Duration,
}

/// Beep, set the terminators, `record <path> <secs> <threshold> <silence secs>` (as in the
/// outbound-record capture), then put `playback_terminators` back.
///
/// `record` stops on the keys in `playback_terminators` (`mod_dptools.c`, `on_dtmf`); that
/// variable also governs later playbacks, hence the restore.
pub(super) fn plan(options: &RecordOptions, ctx: &MapContext<'_>) -> Plan {
    let seconds = |d: Duration| d.as_millis().div_ceil(1000);
    let (threshold, silence) = if options.silence_timeout.is_zero() {
        (0, 0)
    } else {
        (options.silence_threshold, seconds(options.silence_timeout))
    };
    let rest = format!("{} {threshold} {silence}", seconds(options.max_duration));
    let (path, arg) = match &ctx.settings.recordings_dir {
        Some(dir) => {
            let path = format!("{}/{}.wav", dir.trim_end_matches('/'), options.name);
            let arg = protect(&format!("{} {rest}", escape_word(&path))).into_owned();
            (path, arg)
        }
        // The whole argument is expanded (it holds `${`), so the name is escaped against it;
        // the quotes keep a directory with blanks one word.
        None => {
            let path = format!("{SWITCH_RECORDINGS_DIR}/{}.wav", options.name);
            let arg = format!("'{SWITCH_RECORDINGS_DIR}/{}.wav' {rest}", escape_expansion(&options.name));
            (path, arg)
        }
    };
    let mut steps = Vec::new();
    if options.beep {
        steps.push(Step::app(APP_PLAYBACK, BEEP));
    }
    let terminators =
        if options.terminators.is_empty() { PLAYBACK_TERMINATORS_NONE } else { options.terminators.as_str() };
    steps.push(set(VAR_PLAYBACK_TERMINATORS, terminators));
    let main = steps.len();
    steps.push(Step::app(APP_RECORD, arg));
    steps.push(restore(VAR_PLAYBACK_TERMINATORS, ctx.variables));
    Plan {
        steps,
        main,
        expect: Expect::Record(RecordExpect { path, silence: Duration::from_secs(silence as u64) }),
    }
}

/// `record`'s outcome (`switch_ivr_record_file`): `record_ms` is the length written,
/// `playback_terminator_used` the key that stopped it (reset by `record` itself), and
/// `silence_hits_exhausted` says silence ended it. A recording that is no longer than the
/// silence that ended it never had sound in it: `empty`.
pub(super) fn outcome(record: &RecordExpect, event: &dyn Lookup) -> RecordOutcome {
    let duration = event
        .variable(VAR_RECORD_MS)
        .and_then(|ms| ms.parse::<u64>().ok())
        .map(Duration::from_millis)
        .or_else(|| {
            event.variable(VAR_RECORD_SECONDS).and_then(|s| s.parse::<u64>().ok()).map(Duration::from_secs)
        })
        .unwrap_or(Duration::ZERO);
    let silent_throughout = !record.silence.is_zero()
        && event.variable(VAR_SILENCE_HITS_EXHAUSTED) == Some("true")
        && duration <= record.silence + EMPTY_RECORDING_MARGIN;
    let status =
        if duration.is_zero() || silent_throughout { RecordStatus::Empty } else { RecordStatus::Recorded };
    RecordOutcome {
        status,
        path: recorded_path(record, event),
        duration,
        terminator: event.variable(VAR_PLAYBACK_TERMINATOR_USED).and_then(|t| t.chars().next()),
    }
}

/// The file's path: as rivr wrote it, or, under FreeSWITCH's own directory, as the core
/// expanded it in the completion's `Application-Data` (`'<path>' <secs> ...`).
fn recorded_path(record: &RecordExpect, event: &dyn Lookup) -> String {
    if !record.path.starts_with(SWITCH_RECORDINGS_DIR) {
        return record.path.clone();
    }
    let expanded = event.header(HEADER_APPLICATION_DATA).and_then(|data| {
        let quoted = data.strip_prefix('\'')?;
        let path = &quoted[..quoted.find('\'')?];
        (!path.contains("${")).then(|| path.to_string())
    });
    expanded.unwrap_or_else(|| record.path.clone())
}

/// Why a call that ended during `record` ended, when the recording itself was the cause: the
/// one error an operator needs, naming the directory, the configuration key and the fix.
pub(super) fn hangup_hint(record: &RecordExpect, cause: &str) -> Option<String> {
    if cause != CAUSE_DESTINATION_OUT_OF_ORDER {
        return None;
    }
    let dir = record.path.rsplit_once('/').map_or(record.path.as_str(), |(dir, _)| dir);
    Some(format!(
        "FreeSWITCH hung the call up ({cause}) when `record` could not open `{}`: the directory \
         `{dir}` must exist on the FreeSWITCH host and be writable by FreeSWITCH. Create it, or \
         set `recordings:` in rivr.yaml to a directory that is (remove the key to record into \
         FreeSWITCH's own recordings_dir)",
        record.path
    ))
}

/// FreeSWITCH's own recordings directory, a global variable every install sets
/// (`switch_core.c`: `recordings_dir`), expanded by the core in the `record` argument.
pub const SWITCH_RECORDINGS_DIR: &str = "${recordings_dir}";

const APP_RECORD: &str = "record";
/// The keys that stop `record` (and any later playback, hence the restore).
pub(super) const VAR_PLAYBACK_TERMINATORS: &str = "playback_terminators";
const VAR_PLAYBACK_TERMINATOR_USED: &str = "playback_terminator_used";
const VAR_RECORD_MS: &str = "record_ms";
const VAR_RECORD_SECONDS: &str = "record_seconds";
const VAR_SILENCE_HITS_EXHAUSTED: &str = "silence_hits_exhausted";
/// `on_dtmf` treats `none` as no terminator.
const PLAYBACK_TERMINATORS_NONE: &str = "none";
/// A 250 ms 800 Hz tone.
const BEEP: &str = "tone_stream://%(250,0,800)";
/// How much longer than its silence timeout an all-silent recording may come out (one packet
/// of rounding at each end).
const EMPTY_RECORDING_MARGIN: Duration = Duration::from_millis(250);
/// The cause FreeSWITCH hangs a call up with when `record` cannot open its file.
const CAUSE_DESTINATION_OUT_OF_ORDER: &str = "DESTINATION_OUT_OF_ORDER";

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::super::test_support::{apps, captured_runs, plan_of, settings};
    use super::super::{Finished, Observed};
    use super::*;
    use crate::call::{Command, DtmfKeys, Outcome};
    use crate::switch::freeswitch::settings::FsSettings;

    /// The plan of `command` with recordings under `dir`.
    fn plan_in(dir: &str, command: Command) -> Plan {
        let settings = FsSettings { recordings_dir: Some(dir.into()), ..settings() };
        let variables = BTreeMap::new();
        let ctx = MapContext { settings: &settings, uuid: "u", variables: &variables, full_control: true };
        super::super::plan(&command, &ctx).expect("maps")
    }

    #[test]
    fn record_matches_the_capture_and_brackets_it_with_terminators() {
        // outbound-record: `record /tmp/fslab-rec-<uuid>.wav 3 200 3`.
        let plan = plan_in(
            "/tmp",
            Command::Record(RecordOptions {
                name: "fslab-rec-a0497c94-d1a6-4d62-89e1-c010ab8c21d3".into(),
                max_duration: Duration::from_secs(3),
                silence_timeout: Duration::from_secs(3),
                silence_threshold: 200,
                beep: true,
                terminators: DtmfKeys::parse("#").expect("dtmf"),
            }),
        );
        assert_eq!(
            apps(&plan),
            [
                "playback tone_stream://%(250,0,800)",
                "set playback_terminators=#",
                "record /tmp/fslab-rec-a0497c94-d1a6-4d62-89e1-c010ab8c21d3.wav 3 200 3",
                "unset playback_terminators",
            ]
        );
        assert_eq!(plan.main, 2);
    }

    #[test]
    fn record_without_silence_detection_or_terminators() {
        let plan = plan_of(Command::Record(RecordOptions {
            name: "msg".into(),
            max_duration: Duration::from_millis(60_500),
            silence_timeout: Duration::ZERO,
            silence_threshold: 200,
            beep: false,
            terminators: DtmfKeys::default(),
        }));
        assert_eq!(
            apps(&plan),
            [
                "set playback_terminators=none",
                "record '${recordings_dir}/msg.wav' 61 0 0",
                "unset playback_terminators",
            ]
        );
    }

    #[test]
    fn record_outcomes_from_record_variables() {
        let expect =
            Expect::Record(RecordExpect { path: "/tmp/x.wav".into(), silence: Duration::from_secs(3) });
        let read = |vars: &[(&str, &str)]| {
            let map: BTreeMap<String, String> =
                vars.iter().map(|(k, v)| (format!("variable_{k}"), v.to_string())).collect();
            match expect.outcome("record", Finished::App(&map), &Observed::default()) {
                Ok(Outcome::Record(outcome)) => outcome,
                other => panic!("{other:?}"),
            }
        };
        // outbound-record: `record_ms: 3320`, `silence_hits_exhausted: false`.
        let captured = read(&[
            ("record_ms", "3320"),
            ("record_seconds", "3"),
            ("silence_hits_exhausted", "false"),
            ("playback_terminator_used", ""),
        ]);
        assert_eq!(
            captured,
            RecordOutcome {
                status: RecordStatus::Recorded,
                path: "/tmp/x.wav".into(),
                duration: Duration::from_millis(3320),
                terminator: None,
            }
        );
        let silent = read(&[("record_ms", "3040"), ("silence_hits_exhausted", "true")]);
        assert_eq!(silent.status, RecordStatus::Empty);
        let spoke_then_silent = read(&[("record_ms", "7040"), ("silence_hits_exhausted", "true")]);
        assert_eq!(spoke_then_silent.status, RecordStatus::Recorded);
        let stopped = read(&[("record_ms", "1500"), ("playback_terminator_used", "#")]);
        assert_eq!(stopped.terminator, Some('#'));
        assert_eq!(read(&[]).status, RecordStatus::Empty);
    }

    #[test]
    fn by_default_recordings_go_to_the_switch_s_own_directory_and_the_path_is_read_back() {
        let plan =
            plan_of(Command::Record(RecordOptions { name: "vm/box1".into(), ..RecordOptions::default() }));
        let Expect::Record(expect) = &plan.expect else { panic!("{:?}", plan.expect) };
        assert_eq!(expect.path, "${recordings_dir}/vm/box1.wav");
        // The core expanded the global variable in the argument it reports back.
        let completion = super::super::test_support::event(&[
            ("Application-Data", "'/usr/local/freeswitch/recordings/vm/box1.wav' 60 200 5"),
            ("variable_record_ms", "4200"),
        ]);
        match plan.expect.outcome("record", Finished::App(&completion), &Observed::default()) {
            Ok(Outcome::Record(outcome)) => {
                assert_eq!(outcome.path, "/usr/local/freeswitch/recordings/vm/box1.wav")
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_configured_directory_is_used_as_written() {
        let plan = plan_in(
            "/var/spool/rivr",
            Command::Record(RecordOptions { name: "m".into(), ..RecordOptions::default() }),
        );
        assert_eq!(apps(&plan)[plan.main], "record /var/spool/rivr/m.wav 60 200 5");
    }

    #[test]
    fn a_recording_that_ends_the_call_names_the_directory_the_key_and_the_fix() {
        let expect = RecordExpect { path: "/tmp/rivr-recordings/m.wav".into(), silence: Duration::ZERO };
        let hint = hangup_hint(&expect, "DESTINATION_OUT_OF_ORDER").expect("a hint");
        assert!(hint.contains("`/tmp/rivr-recordings`"), "{hint}");
        assert!(hint.contains("`recordings:`"), "{hint}");
        assert!(hint.contains("Create it"), "{hint}");
        assert_eq!(hangup_hint(&expect, "NORMAL_CLEARING"), None);
    }

    #[test]
    fn the_captured_recording_reads_as_it_was_made() {
        // outbound-record: `record /tmp/fslab-rec-<uuid>.wav 3 200 3`, 3.32 s written.
        let runs = captured_runs("outbound-record", "record");
        assert_eq!(runs.len(), 1);
        let path = "/tmp/fslab-rec-a0497c94-d1a6-4d62-89e1-c010ab8c21d3.wav";
        let expect = Expect::Record(RecordExpect { path: path.into(), silence: Duration::from_secs(3) });
        let outcome = expect.outcome("record", Finished::App(&runs[0].completion), &runs[0].observed);
        assert_eq!(
            outcome,
            Ok(Outcome::Record(RecordOutcome {
                status: RecordStatus::Recorded,
                path: path.into(),
                duration: Duration::from_millis(3320),
                terminator: None,
            }))
        );
    }
}
