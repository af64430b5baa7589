//! Call control on FreeSWITCH: `answer`, `pre_answer`, `ring`, `reject`, `hangup`, `transfer`,
//! `sleep`, `send_dtmf` and the `execute` escape hatch. Each is one application (or a `sendmsg
//! hangup`) whose completion carries nothing but `execute`'s `Application-Response`.

use super::{millis, Expect, Lookup, Plan, Step};
use crate::call::{CallError, Command, TransferOptions};
use crate::switch::freeswitch::escape::{escape_word, protect};
use crate::switch::freeswitch::protocol::HEADER_APPLICATION_RESPONSE;

/// The plan of a call-control command (the caller routes only those here).
pub(super) fn plan(command: &Command) -> Result<Plan, CallError> {
    let plan = match command {
        Command::Answer => Plan::single(Step::bare(APP_ANSWER), Expect::Done),
        Command::PreAnswer => Plan::single(Step::bare(APP_PRE_ANSWER), Expect::Done),
        Command::Ring => Plan::single(Step::bare(APP_RING_READY), Expect::Done),
        // `sendmsg` `call-command: hangup`, exactly as every outbound capture ends a call.
        // Reject is a hangup too, rather than `respond <code>`: `respond` only means something
        // to SIP channels (loopback, verto and FreeTDM calls stay up), while a hangup ends any
        // channel and, on an unanswered SIP call, sends the final response mod_sofia derives
        // from the cause (`hangup_cause_to_sip`: USER_BUSY → 486, CALL_REJECTED → 603, ...).
        Command::Reject(cause) | Command::Hangup(cause) => {
            Plan::single(Step::Hangup { cause: cause.as_str().to_string() }, Expect::EndsCall)
        }
        Command::Transfer(options) => Plan::single(transfer(options), Expect::Done),
        // `DtmfTones` holds only keys and pauses: nothing in it needs escaping.
        Command::SendDtmf(digits) => Plan::single(Step::app(APP_SEND_DTMF, digits.as_str()), Expect::Done),
        Command::Sleep(duration) => {
            Plan::single(Step::app(APP_SLEEP, millis(*duration).to_string()), Expect::Done)
        }
        Command::Execute { app, args } => {
            if app.is_empty() || app.contains(char::is_whitespace) {
                return Err(CallError::Invalid {
                    verb: "execute",
                    reason: format!("`{app}` is not an application name"),
                });
            }
            // The escape hatch passes its argument exactly as a dialplan would, `${...}`
            // expansion included.
            let arg = (!args.is_empty()).then(|| args.clone());
            Plan::single(Step::App { app: app.clone(), arg }, Expect::Response)
        }
        other => {
            return Err(CallError::Internal { verb: other.verb(), reason: "not a call-control verb".into() })
        }
    };
    Ok(plan)
}

/// `execute`'s outcome: the application's `Application-Response`, as the switch wrote it.
pub(super) fn response(event: &dyn Lookup) -> String {
    event.header(HEADER_APPLICATION_RESPONSE).unwrap_or_default().to_string()
}

/// `transfer <extension> [XML <context>]`.
fn transfer(options: &TransferOptions) -> Step {
    let arg = match &options.context {
        Some(context) => {
            format!("{} {TRANSFER_DIALPLAN} {}", escape_word(&options.extension), escape_word(context))
        }
        None => escape_word(&options.extension),
    };
    Step::app(APP_TRANSFER, protect(&arg))
}

const APP_ANSWER: &str = "answer";
const APP_PRE_ANSWER: &str = "pre_answer";
const APP_RING_READY: &str = "ring_ready";
const APP_SEND_DTMF: &str = "send_dtmf";
const APP_SLEEP: &str = "sleep";
const APP_TRANSFER: &str = "transfer";
/// The dialplan a `transfer` with a context names (`transfer <ext> XML <context>`).
const TRANSFER_DIALPLAN: &str = "XML";

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::time::Duration;

    use super::super::test_support::{apps, plan_of, settings};
    use super::super::MapContext;
    use super::*;
    use crate::call::{DtmfTones, HangupCause};

    #[test]
    fn call_control_verbs_map_to_their_applications() {
        assert_eq!(apps(&plan_of(Command::Answer)), ["answer"]);
        assert_eq!(apps(&plan_of(Command::PreAnswer)), ["pre_answer"]);
        assert_eq!(apps(&plan_of(Command::Ring)), ["ring_ready"]);
        assert_eq!(
            apps(&plan_of(Command::Hangup(HangupCause::normal()))),
            ["sendmsg hangup NORMAL_CLEARING"]
        );
        let busy = HangupCause::parse("busy").expect("cause");
        let reject = plan_of(Command::Reject(busy));
        assert_eq!(apps(&reject), ["sendmsg hangup USER_BUSY"]);
        assert_eq!(reject.expect, Expect::EndsCall);
        assert_eq!(apps(&plan_of(Command::Sleep(Duration::from_millis(1500)))), ["sleep 1500"]);
        assert_eq!(
            apps(&plan_of(Command::SendDtmf(DtmfTones::parse("12#w3").expect("dtmf")))),
            ["send_dtmf 12#w3"]
        );
    }

    #[test]
    fn transfer_names_the_extension_and_its_dialplan_context() {
        assert_eq!(
            apps(&plan_of(Command::Transfer(TransferOptions {
                extension: "1000".into(),
                context: Some("default".into()),
            }))),
            ["transfer 1000 XML default"]
        );
        assert_eq!(
            apps(&plan_of(Command::Transfer(TransferOptions {
                extension: "operator".into(),
                context: None,
            }))),
            ["transfer operator"]
        );
    }

    #[test]
    fn execute_passes_its_argument_raw() {
        let plan = plan_of(Command::Execute { app: "log".into(), args: "INFO ${caller_id_number}".into() });
        assert_eq!(apps(&plan), ["log INFO ${caller_id_number}"]);
        assert_eq!(plan.expect, Expect::Response);
    }

    #[test]
    fn bad_application_names_fail() {
        let settings = settings();
        let variables = BTreeMap::new();
        let ctx = MapContext { settings: &settings, uuid: "u", variables: &variables, full_control: true };
        assert!(super::super::plan(&Command::Execute { app: "bad app".into(), args: String::new() }, &ctx)
            .is_err());
    }
}
