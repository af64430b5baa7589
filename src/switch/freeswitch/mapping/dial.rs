//! `dial` on FreeSWITCH: `bridge` to one or more targets, and the outcome read from what the
//! originate leaves on the caller's channel.
//!
//! The reader follows the outbound-dial capture (FreeSWITCH 1.10.12), which runs every bridge
//! outcome on one call:
//! - an answered bridge reports `originate_disposition: SUCCESS` and `DIALSTATUS: SUCCESS`
//!   (older releases wrote `call accepted` / `ANSWER`; both count), with `CHANNEL_BRIDGE` and
//!   `CHANNEL_UNBRIDGE` around the talk time and `bridge_hangup_cause` saying how it ended;
//! - a failed one reports the cause name as `originate_disposition` (`USER_BUSY`, `NO_ANSWER`,
//!   `NO_ROUTE_DESTINATION`, `CALL_REJECTED`), with `DIALSTATUS` `BUSY`, `NOANSWER`,
//!   `NO_ROUTE_DESTINATION`, `DONTCALL`;
//! - variables of an earlier bridge stay on the channel (`bridge_hangup_cause`, `bridge_uuid`,
//!   `originate_failed_cause`, and the disposition itself until the next originate writes it),
//!   so only what this step saw proves this dial was answered: its own `CHANNEL_BRIDGE`.
//!
//! Each leg of a multi-target dial carries its index in `rivr_dial_leg`, and `import` copies
//! the answering leg's back to the caller: a per-leg variable is not visible on the caller's
//! channel by itself.

use std::time::Duration;

use super::media::file;
use super::{restore, set, Expect, Lookup, MapContext, Observed, Plan, Step};
use crate::call::{CallError, DialOptions, DialOutcome, DialStatus};
use crate::switch::freeswitch::escape::{escape_expansion, escape_item, expands};
use crate::switch::freeswitch::protocol::{CAUSE_NORMAL_CLEARING, HEADER_EVENT_DATE_TIMESTAMP};

/// What `dial` needs to read its outcome.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DialExpect {
    /// The targets, in the order they were given (leg numbers index this list).
    pub targets: Vec<String>,
}

/// `set continue_on_fail=true`, `set hangup_after_bridge=false`, then `bridge`.
///
/// Without those two variables a failed bridge hangs the caller up (`switch_channel_handle_cause`)
/// and so does the end of an answered one (`hangup_after_bridge` defaults to true for
/// `bridge` in a dialplan); the script must keep its caller either way.
pub(super) fn plan(options: &DialOptions, ctx: &MapContext<'_>) -> Result<Plan, CallError> {
    let settings = ctx.settings;
    let unsupported = |reason: String| CallError::Unsupported { verb: "dial", reason };
    let mut globals: Vec<(&str, String)> =
        vec![(VAR_ORIGINATE_TIMEOUT, options.timeout.as_millis().div_ceil(1000).max(1).to_string())];
    let mut add = |name: &'static str, value: &str| -> Result<(), CallError> {
        if value.contains(['{', '}', '\n', '\r']) {
            // `switch_find_end_paren` counts braces without regard to quotes or escapes.
            return Err(unsupported(format!(
                "{name} `{value}` cannot hold braces or line breaks in a FreeSWITCH dial string"
            )));
        }
        // Split on `,` and then at the first `=` (`switch_event_create_brackets`).
        globals.push((name, escape_item(&escape_item(value, '='), ',')));
        Ok(())
    };
    if let Some(number) = &options.caller_id_number {
        add(VAR_ORIGINATION_CALLER_ID_NUMBER, number)?;
    }
    if let Some(name) = &options.caller_id_name {
        add(VAR_ORIGINATION_CALLER_ID_NAME, name)?;
    }
    if let Some(confirm) = &options.confirm {
        add(VAR_GROUP_CONFIRM_FILE, &file(confirm, settings))?;
        add(VAR_GROUP_CONFIRM_KEY, GROUP_CONFIRM_KEY)?;
    }
    let several = options.targets.len() > 1;
    let legs: Vec<String> = options
        .targets
        .iter()
        .enumerate()
        .map(|(index, target)| {
            if !several {
                return target.clone();
            }
            // Each leg carries its number; `import` copies the answering leg's to the caller.
            let leg = format!("{VAR_DIAL_LEG}={index}");
            match target.strip_prefix('[') {
                Some(rest) => format!("[{leg},{rest}"),
                None => format!("[{leg}]{target}"),
            }
        })
        .collect();
    let separator = if options.sequential { "|" } else { "," };
    let targets = legs.join(separator);
    let assemble = |protect_values: bool| {
        let vars: Vec<String> = globals
            .iter()
            .map(|(name, value)| {
                let value = if protect_values { escape_expansion(value) } else { value.clone() };
                format!("{name}={value}")
            })
            .collect();
        format!("{{{}}}{targets}", vars.join(","))
    };
    // The targets stay expandable (`user/1000@${domain_name}`), so the values are escaped
    // against the expansion exactly when the whole argument will be expanded.
    let bridge = assemble(false);
    let bridge = if expands(&bridge) { assemble(true) } else { bridge };

    let mut steps = vec![set(VAR_CONTINUE_ON_FAIL, "true"), set(VAR_HANGUP_AFTER_BRIDGE, "false")];
    if several {
        steps.push(set(VAR_IMPORT, VAR_DIAL_LEG));
    }
    if let Some(ringback) = &options.ringback {
        steps.push(set(VAR_RINGBACK, ringback));
    }
    let main = steps.len();
    steps.push(Step::app(APP_BRIDGE, bridge));
    if options.ringback.is_some() {
        steps.push(restore(VAR_RINGBACK, ctx.variables));
    }
    Ok(Plan { steps, main, expect: Expect::Dial(DialExpect { targets: options.targets.clone() }) })
}

/// `dial`'s outcome from the caller leg's variables after `bridge` (`switch_ivr_originate.c`)
/// and the bridge events this step saw. `bridge_epoch`/`billsec` are only written at hangup, so
/// the talk time comes from the `CHANNEL_BRIDGE` and `CHANNEL_UNBRIDGE` event timestamps.
pub(super) fn outcome(dial: &DialExpect, event: &dyn Lookup, observed: &Observed) -> DialOutcome {
    let disposition = event.variable(VAR_ORIGINATE_DISPOSITION).or_else(|| event.variable(VAR_DIALSTATUS));
    let says_answered = disposition.is_some_and(|d| ANSWERED_DISPOSITIONS.contains(&d));
    // A bridge is only ever answered when FreeSWITCH bridged the caller during this step; a
    // `SUCCESS` without that is an earlier dial's, left on the channel.
    if says_answered && observed.bridged_at.is_some() {
        let cause = event.variable(VAR_BRIDGE_HANGUP_CAUSE).unwrap_or(CAUSE_NORMAL_CLEARING).to_string();
        let end = observed
            .unbridged_at
            .or_else(|| event.header(HEADER_EVENT_DATE_TIMESTAMP).and_then(|t| t.parse().ok()));
        let duration = match (observed.bridged_at, end) {
            (Some(start), Some(end)) if end >= start => Duration::from_micros(end - start),
            _ => Duration::ZERO,
        };
        let answered_by = match dial.targets.as_slice() {
            [one] => Some(one.clone()),
            targets => event
                .variable(VAR_DIAL_LEG)
                .and_then(|leg| leg.parse::<usize>().ok())
                .and_then(|leg| targets.get(leg).cloned()),
        };
        return DialOutcome { status: DialStatus::Answered, cause: cause.into(), duration, answered_by };
    }
    // Every originate writes its disposition, so a failure's cause is this dial's own. A
    // success without a bridge means no originate ran this time: the cause is not known.
    let cause = match disposition {
        Some(d) if says_answered => {
            tracing::debug!(
                disposition = d,
                "dial: a success left by an earlier bridge; this one did not run"
            );
            CAUSE_UNKNOWN
        }
        // `failure` is what early errors (bad arguments) leave; the cause is then elsewhere.
        Some(DISPOSITION_FAILURE) | None => {
            event.variable(VAR_ORIGINATE_FAILED_CAUSE).filter(|c| is_cause_name(c)).unwrap_or(CAUSE_UNKNOWN)
        }
        Some(d) if is_cause_name(d) => d,
        Some(_) => CAUSE_UNKNOWN,
    }
    .to_string();
    let status = match cause.as_str() {
        "USER_BUSY" => DialStatus::Busy,
        "NO_ANSWER" | "NO_USER_RESPONSE" | "PROGRESS_TIMEOUT" | "ALLOTTED_TIMEOUT" | "ORIGINATOR_CANCEL" => {
            DialStatus::NoAnswer
        }
        _ => DialStatus::Failed,
    };
    DialOutcome { status, cause: cause.into(), duration: Duration::ZERO, answered_by: None }
}

fn is_cause_name(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
}

const APP_BRIDGE: &str = "bridge";

/// Each leg of a multi-target dial carries its index in this variable.
pub const VAR_DIAL_LEG: &str = "rivr_dial_leg";
/// What the caller hears while the targets ring (put back after the dial).
pub(super) const VAR_RINGBACK: &str = "ringback";
const VAR_BRIDGE_HANGUP_CAUSE: &str = "bridge_hangup_cause";
const VAR_CONTINUE_ON_FAIL: &str = "continue_on_fail";
const VAR_DIALSTATUS: &str = "DIALSTATUS";
const VAR_GROUP_CONFIRM_FILE: &str = "group_confirm_file";
const VAR_GROUP_CONFIRM_KEY: &str = "group_confirm_key";
const VAR_HANGUP_AFTER_BRIDGE: &str = "hangup_after_bridge";
const VAR_IMPORT: &str = "import";
const VAR_ORIGINATE_DISPOSITION: &str = "originate_disposition";
const VAR_ORIGINATE_FAILED_CAUSE: &str = "originate_failed_cause";
const VAR_ORIGINATE_TIMEOUT: &str = "originate_timeout";
const VAR_ORIGINATION_CALLER_ID_NAME: &str = "origination_caller_id_name";
const VAR_ORIGINATION_CALLER_ID_NUMBER: &str = "origination_caller_id_number";

/// What an answered bridge leaves in `originate_disposition` (1.10: `SUCCESS`; older releases:
/// `call accepted`) or, without it, in `DIALSTATUS` (`SUCCESS`; older: `ANSWER`, `EARLY`).
const ANSWERED_DISPOSITIONS: [&str; 4] = ["SUCCESS", "call accepted", "ANSWER", "EARLY"];
/// What early errors (bad arguments) leave as the disposition; the cause is then elsewhere.
const DISPOSITION_FAILURE: &str = "failure";
/// The cause reported when this dial left none.
const CAUSE_UNKNOWN: &str = "UNSPECIFIED";
/// The key that accepts a confirmed dial.
const GROUP_CONFIRM_KEY: &str = "1";

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::super::test_support::{apps, captured_runs, plan_of, settings, CapturedRun};
    use super::super::{Finished, MapContext};
    use super::*;
    use crate::call::{Command, Outcome};
    use crate::switch::freeswitch::escape::fs_parsers;
    use crate::switch::freeswitch::event::Event;

    #[test]
    fn dial_sets_failure_variables_then_bridges() {
        let plan = plan_of(Command::Dial(DialOptions {
            targets: vec!["user/1000".into()],
            caller_id_number: Some("5551234".into()),
            caller_id_name: Some("Acme, Inc.".into()),
            timeout: Duration::from_millis(20_500),
            ..DialOptions::default()
        }));
        assert_eq!(
            apps(&plan),
            [
                "set continue_on_fail=true",
                "set hangup_after_bridge=false",
                "bridge {originate_timeout=21,origination_caller_id_number=5551234,\
                 origination_caller_id_name=Acme\\, Inc.}user/1000",
            ]
        );
        assert_eq!(plan.main, 2);
    }

    #[test]
    fn parallel_and_sequential_dials_join_legs_with_comma_and_bar() {
        let targets = vec!["user/1001".to_string(), "[leg_timeout=5]user/1002".to_string()];
        let parallel =
            plan_of(Command::Dial(DialOptions { targets: targets.clone(), ..DialOptions::default() }));
        assert_eq!(
            apps(&parallel),
            [
                "set continue_on_fail=true",
                "set hangup_after_bridge=false",
                "set import=rivr_dial_leg",
                "bridge {originate_timeout=30}[rivr_dial_leg=0]user/1001,\
                 [rivr_dial_leg=1,leg_timeout=5]user/1002",
            ]
        );
        let sequential =
            plan_of(Command::Dial(DialOptions { targets, sequential: true, ..DialOptions::default() }));
        assert!(apps(&sequential)[3].contains("user/1001|[rivr_dial_leg=1"));
    }

    #[test]
    fn dial_with_confirm_and_ringback_sets_and_restores_ringback() {
        let settings = settings();
        let variables: BTreeMap<String, String> = [("ringback".to_string(), "${us-ring}".to_string())].into();
        let ctx = MapContext { settings: &settings, uuid: "u", variables: &variables, full_control: true };
        let command = Command::Dial(DialOptions {
            targets: vec!["user/1000".into()],
            confirm: Some("ivr/accept-call.wav".into()),
            ringback: Some("%(2000,4000,440,480)".into()),
            ..DialOptions::default()
        });
        let plan = super::super::plan(&command, &ctx).expect("maps");
        assert_eq!(
            apps(&plan),
            [
                "set continue_on_fail=true",
                "set hangup_after_bridge=false",
                "set ringback=%(2000,4000,440,480)",
                "bridge {originate_timeout=30,group_confirm_file=ivr/accept-call.wav,\
                 group_confirm_key=1}user/1000",
                // `${us-ring}` must come back as written, so it is escaped for both expansions.
                r"set ringback=\\\${us-ring}",
            ]
        );
        let Step::App { arg: Some(arg), .. } = &plan.steps[4] else {
            panic!("not an app");
        };
        assert_eq!(fs_parsers::expand(&fs_parsers::expand(arg)), "ringback=${us-ring}");
    }

    #[test]
    fn dial_values_with_braces_are_unsupported() {
        let settings = settings();
        let variables = BTreeMap::new();
        let ctx = MapContext { settings: &settings, uuid: "u", variables: &variables, full_control: true };
        let command = Command::Dial(DialOptions {
            targets: vec!["user/1000".into()],
            caller_id_name: Some("{evil}".into()),
            ..DialOptions::default()
        });
        assert!(matches!(
            super::super::plan(&command, &ctx),
            Err(CallError::Unsupported { verb: "dial", .. })
        ));
    }

    #[test]
    fn dial_values_with_dollars_are_protected_but_targets_still_expand() {
        let plan = plan_of(Command::Dial(DialOptions {
            targets: vec!["user/1000@${domain_name}".into()],
            caller_id_name: Some("Cash $$ Co".into()),
            ..DialOptions::default()
        }));
        assert_eq!(
            apps(&plan)[2],
            r"bridge {originate_timeout=30,origination_caller_id_name=Cash \$\$ Co}user/1000@${domain_name}"
        );
    }

    #[test]
    fn dial_values_round_trip_through_expansion_and_bracket_parsing() {
        for name in ["O'Brien, Pat", r"back\slash = ok", "Cash $$ $x", r"\n'"] {
            for target in ["user/1000", "user/1000@${domain_name}"] {
                let plan = plan_of(Command::Dial(DialOptions {
                    targets: vec![target.into()],
                    caller_id_name: Some(name.into()),
                    ..DialOptions::default()
                }));
                let Step::App { arg: Some(arg), .. } = &plan.steps[2] else {
                    panic!("not an app");
                };
                let expanded = fs_parsers::expand(arg);
                let close = expanded.find('}').expect("closing brace");
                assert_eq!(&expanded[close + 1..], target);
                let vars = fs_parsers::separate(&expanded[1..close], Some(','), 64);
                let pair = fs_parsers::separate(&vars[1], Some('='), 2);
                assert_eq!(pair, ["origination_caller_id_name", name], "{arg}");
            }
        }
    }

    fn dial_outcome_of(targets: &[&str], vars: &[(&str, &str)], observed: &Observed) -> DialOutcome {
        let expect = Expect::Dial(DialExpect { targets: targets.iter().map(|t| t.to_string()).collect() });
        let map: BTreeMap<String, String> = vars
            .iter()
            .map(|(k, v)| {
                let key = if *k == "Event-Date-Timestamp" { k.to_string() } else { format!("variable_{k}") };
                (key, v.to_string())
            })
            .collect();
        match expect.outcome("dial", Finished::App(&map), observed) {
            Ok(Outcome::Dial(outcome)) => outcome,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn dial_outcomes_follow_originate_disposition() {
        let observed =
            Observed { bridged_at: Some(1_000_000), unbridged_at: Some(43_500_000), ..Observed::default() };
        let answered = dial_outcome_of(
            &["user/1000"],
            &[
                ("originate_disposition", "call accepted"),
                ("DIALSTATUS", "ANSWER"),
                ("bridge_hangup_cause", "NORMAL_CLEARING"),
            ],
            &observed,
        );
        assert_eq!(
            answered,
            DialOutcome {
                status: DialStatus::Answered,
                cause: "NORMAL_CLEARING".into(),
                duration: Duration::from_millis(42_500),
                answered_by: Some("user/1000".into()),
            }
        );
        let second = dial_outcome_of(
            &["user/1001", "user/1002"],
            &[("originate_disposition", "call accepted"), ("rivr_dial_leg", "1")],
            &observed,
        );
        assert_eq!(second.answered_by.as_deref(), Some("user/1002"));
        for (disposition, status) in [
            ("USER_BUSY", DialStatus::Busy),
            ("NO_ANSWER", DialStatus::NoAnswer),
            ("NO_ROUTE_DESTINATION", DialStatus::Failed),
            ("CALL_REJECTED", DialStatus::Failed),
            ("SUBSCRIBER_ABSENT", DialStatus::Failed),
        ] {
            let outcome = dial_outcome_of(
                &["user/1000"],
                &[("originate_disposition", disposition)],
                &Observed::default(),
            );
            assert_eq!((outcome.status, outcome.cause.as_str()), (status, disposition));
            assert_eq!(outcome.duration, Duration::ZERO);
        }
        let early_failure = dial_outcome_of(
            &["bogus"],
            &[("originate_disposition", "failure"), ("originate_failed_cause", "INVALID_GATEWAY")],
            &Observed::default(),
        );
        assert_eq!(
            (early_failure.status, early_failure.cause.as_str()),
            (DialStatus::Failed, "INVALID_GATEWAY")
        );
    }

    #[test]
    fn a_success_left_by_an_earlier_bridge_is_not_an_answer() {
        // outbound-dial: the answered first bridge leaves `SUCCESS` on the channel; a bridge that
        // never reaches the originate (no CHANNEL_BRIDGE) must not read it as its own.
        let stale = dial_outcome_of(
            &["user/1000"],
            &[
                ("originate_disposition", "SUCCESS"),
                ("DIALSTATUS", "SUCCESS"),
                ("bridge_hangup_cause", "NORMAL_CLEARING"),
                ("originate_failed_cause", "CALL_REJECTED"),
            ],
            &Observed::default(),
        );
        assert_eq!(
            stale,
            DialOutcome {
                status: DialStatus::Failed,
                cause: "UNSPECIFIED".into(),
                duration: Duration::ZERO,
                answered_by: None
            }
        );
    }

    fn read(targets: &[&str], bridge: &CapturedRun) -> DialOutcome {
        let expect = Expect::Dial(DialExpect { targets: targets.iter().map(|t| t.to_string()).collect() });
        match expect.outcome("dial", Finished::App(&bridge.completion), &bridge.observed) {
            Ok(Outcome::Dial(outcome)) => outcome,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn every_bridge_outcome_of_the_real_switch_reads_as_it_happened() {
        use DialStatus::{Answered, Busy, Failed, NoAnswer};
        let bridges = captured_runs("outbound-dial", "bridge");
        let targets: Vec<&str> = bridges.iter().map(|b| b.arg.as_str()).collect();
        assert_eq!(
            targets,
            [
                "{originate_timeout=10}loopback/short/default",
                "loopback/busy/default",
                "{originate_timeout=3}loopback/noanswer/default",
                "{originate_timeout=10}loopback/nosuchext/default",
                "loopback/reject/default",
                "{originate_timeout=10}[fslab_leg=0]loopback/busy/default,[fslab_leg=1]loopback/short/default",
                "{originate_timeout=10}[fslab_leg=0]loopback/busy/default|[fslab_leg=1]loopback/short/default",
            ]
        );
        // The far end of `short` answers, talks 2 s and hangs up: 2,019,986 µs between the
        // CHANNEL_BRIDGE and CHANNEL_UNBRIDGE of the capture.
        let talk = Duration::from_micros(2_019_986);
        let single = |status, cause: &str, duration, answered: bool| DialOutcome {
            status,
            cause: cause.into(),
            duration,
            answered_by: answered.then(|| "loopback/short/default".to_string()),
        };
        let expected = [
            single(Answered, "NORMAL_CLEARING", talk, true),
            single(Busy, "USER_BUSY", Duration::ZERO, false),
            single(NoAnswer, "NO_ANSWER", Duration::ZERO, false),
            single(Failed, "NO_ROUTE_DESTINATION", Duration::ZERO, false),
            single(Failed, "CALL_REJECTED", Duration::ZERO, false),
        ];
        for (index, expected) in expected.iter().enumerate() {
            assert_eq!(&read(&["loopback/short/default"], &bridges[index]), expected, "bridge {}", index + 1);
        }
        // The parallel and sequential bridges: leg 0 busy, leg 1 answers. They still carry
        // `originate_failed_cause: CALL_REJECTED` from the bridge before them.
        let two = ["loopback/busy/default", "loopback/short/default"];
        for bridge in &bridges[5..] {
            let outcome = read(&two, bridge);
            assert_eq!((outcome.status, outcome.cause.as_str()), (Answered, "NORMAL_CLEARING"));
            assert!(outcome.duration >= Duration::from_secs(2), "{:?}", outcome.duration);
            // The lab set `fslab_leg` without `import`, so no leg number reached the caller.
            assert_eq!(outcome.answered_by, None);
        }
    }

    #[test]
    fn an_imported_leg_number_names_who_answered_a_parallel_or_sequential_dial() {
        // rivr's plan sets `import=rivr_dial_leg`, which copies the answering leg's number to
        // the caller's channel (seen on a real switch): the captured completions plus that one
        // variable, as FreeSWITCH's `process_import` adds it.
        let two = ["loopback/busy/default", "loopback/short/default"];
        for mut bridge in captured_runs("outbound-dial", "bridge").into_iter().skip(5) {
            let (mut headers, body) = bridge.completion.into_parts();
            headers.push("variable_rivr_dial_leg", "1");
            bridge.completion = Event::new(headers, body);
            assert_eq!(read(&two, &bridge).answered_by.as_deref(), Some("loopback/short/default"));
        }
    }

    #[test]
    fn a_caller_hanging_up_during_a_bridge_is_seen_before_its_completion() {
        // outbound-dialhangup: CHANNEL_HANGUP comes before CHANNEL_UNBRIDGE and the completion,
        // so the channel ends the verb as a hangup and never reads this completion. If it did,
        // it would still be an answered bridge, not a failure.
        let bridges = captured_runs("outbound-dialhangup", "bridge");
        assert_eq!(bridges.len(), 1);
        let outcome = read(&["loopback/answer/default"], &bridges[0]);
        assert_eq!(outcome.status, DialStatus::Answered);
        // 3 s into the bridge, to the microsecond of the capture's timestamps.
        assert_eq!(outcome.duration, Duration::from_micros(2_999_991));
    }
}
