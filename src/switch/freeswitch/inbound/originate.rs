//! `originate`: building the API command for an outbound call and reading its outcome.
//!
//! The command is `originate {<variables>}<dial string> <destination>`. FreeSWITCH splits it
//! at blanks outside single quotes and then strips the quotes (`switch_separate_string`), and
//! splits the `{...}` block at commas not escaped with `\`. So a variable value may hold blanks
//! (it is quoted) and commas (they are escaped) but no single quote, brace or backslash, and the
//! `&socket(<addr> async full)` destination is quoted as a whole.
//!
//! The result is the body of the job: `+OK <uuid>` once the far end answered, or `-ERR
//! <HANGUP_CAUSE>` (inbound-misc and inbound-nolinger captures).

use std::fmt::Write as _;
use std::time::Duration;

use super::error::EslError;
use crate::switch::freeswitch::protocol::{CAUSE_NORMAL_CLEARING, REPLY_OK};

/// The channel variable that names the script rivr should run for an originated call; the
/// router reads it from the call's variables when the answered call connects back.
pub const RIVR_SCRIPT_VARIABLE: &str = "rivr_script";

/// One outbound call to place.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OriginateRequest {
    /// What to call, e.g. `sofia/gateway/carrier/15551234567` or `user/1000`. FreeSWITCH's
    /// own `{var=value}` prefix is allowed; the variables below are merged into it.
    pub dial_string: String,
    /// Where the answered call goes.
    pub destination: Destination,
    /// Extra channel variables, set on the new channel.
    pub variables: Vec<(String, String)>,
    /// The new channel's uuid (`origination_uuid`). One is made up when `None`; knowing it in
    /// advance lets a caller subscribe to the call's events before they start.
    pub uuid: Option<String>,
    /// The script rivr runs once the call connects back ([`RIVR_SCRIPT_VARIABLE`]).
    pub script: Option<String>,
    /// `origination_caller_id_number`.
    pub caller_id_number: Option<String>,
    /// `origination_caller_id_name`.
    pub caller_id_name: Option<String>,
    /// How long to ring (`originate_timeout`, whole seconds; FreeSWITCH's default is 60).
    pub timeout: Option<Duration>,
}

impl OriginateRequest {
    /// A call to `dial_string` that goes to `destination` when answered.
    pub fn new(dial_string: impl Into<String>, destination: Destination) -> Self {
        Self {
            dial_string: dial_string.into(),
            destination,
            variables: Vec::new(),
            uuid: None,
            script: None,
            caller_id_number: None,
            caller_id_name: None,
            timeout: None,
        }
    }

    /// Adds a channel variable.
    pub fn variable(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.variables.push((name.into(), value.into()));
        self
    }

    /// Sets the new channel's uuid.
    pub fn uuid(mut self, uuid: impl Into<String>) -> Self {
        self.uuid = Some(uuid.into());
        self
    }

    /// Names the script rivr runs for the call.
    pub fn script(mut self, script: impl Into<String>) -> Self {
        self.script = Some(script.into());
        self
    }

    /// Sets the caller id number shown to the called party.
    pub fn caller_id_number(mut self, number: impl Into<String>) -> Self {
        self.caller_id_number = Some(number.into());
        self
    }

    /// Sets the caller id name shown to the called party.
    pub fn caller_id_name(mut self, name: impl Into<String>) -> Self {
        self.caller_id_name = Some(name.into());
        self
    }

    /// Sets how long to ring.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// The API command (without `api`/`bgapi`) for a call whose uuid is `uuid`.
    ///
    /// # Errors
    ///
    /// [`EslError::InvalidRequest`] when a field cannot be carried (see the module doc).
    pub fn to_command(&self, uuid: &str) -> Result<String, EslError> {
        check_word("dial string", &self.dial_string)?;
        let mut variables = vec![(VAR_ORIGINATION_UUID, uuid.to_owned())];
        if let Some(script) = &self.script {
            variables.push((RIVR_SCRIPT_VARIABLE, script.clone()));
        }
        if let Some(number) = &self.caller_id_number {
            variables.push((VAR_CALLER_ID_NUMBER, number.clone()));
        }
        if let Some(name) = &self.caller_id_name {
            variables.push((VAR_CALLER_ID_NAME, name.clone()));
        }
        if let Some(timeout) = self.timeout {
            // FreeSWITCH counts whole seconds; round up so a short timeout is never zero
            // (which would mean "no timeout").
            let seconds = timeout.as_secs() + u64::from(timeout.subsec_nanos() > 0);
            variables.push((VAR_ORIGINATE_TIMEOUT, seconds.max(1).to_string()));
        }
        let mut block = String::new();
        for (name, value) in variables
            .iter()
            .map(|(name, value)| (*name, value.as_str()))
            .chain(self.variables.iter().map(|(n, v)| (n.as_str(), v.as_str())))
        {
            check_variable(name, value)?;
            if !block.is_empty() {
                block.push(',');
            }
            block.push_str(name);
            block.push('=');
            push_value(&mut block, value);
        }
        let dial = match self.dial_string.strip_prefix('{') {
            // The caller's own block: ours goes first, theirs (which may override) after.
            Some(rest) if rest.starts_with('}') => format!("{{{block}{rest}"),
            Some(rest) => format!("{{{block},{rest}"),
            None => format!("{{{block}}}{}", self.dial_string),
        };
        Ok(format!("{ORIGINATE} {dial} {}", self.destination.to_arg()?))
    }
}

/// Where an answered originated call goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Destination {
    /// Run one dialplan application, e.g. `park`, or `playback` with a file.
    Application {
        /// The application.
        name: String,
        /// Its argument, if any.
        args: Option<String>,
    },
    /// An extension in the dialplan.
    Extension {
        /// The extension (destination number).
        extension: String,
        /// The dialplan (`XML` when only a context is given).
        dialplan: Option<String>,
        /// The dialplan context.
        context: Option<String>,
    },
    /// Connect the call to an ESL outbound listener, normally rivr's own, with
    /// `socket(<addr> async full)`: the call then runs a script like any incoming call.
    Socket {
        /// `host:port` of the listener, e.g. `127.0.0.1:8084`.
        addr: String,
    },
}

impl Destination {
    /// Connect the answered call back to the outbound listener at `addr`.
    pub fn socket(addr: impl Into<String>) -> Self {
        Self::Socket { addr: addr.into() }
    }

    /// Send the answered call to `extension` in the default dialplan and context.
    pub fn extension(extension: impl Into<String>) -> Self {
        Self::Extension { extension: extension.into(), dialplan: None, context: None }
    }

    /// Run `name` on the answered call.
    pub fn application(name: impl Into<String>, args: Option<String>) -> Self {
        Self::Application { name: name.into(), args }
    }

    fn to_arg(&self) -> Result<String, EslError> {
        match self {
            Self::Application { name, args } => {
                check_word("application name", name)?;
                match args {
                    None => Ok(format!("&{name}")),
                    Some(args) => {
                        check_quotable("application argument", args)?;
                        Ok(quote_if_blank(format!("&{name}({args})")))
                    }
                }
            }
            Self::Extension { extension, dialplan, context } => {
                check_word("extension", extension)?;
                let mut arg = extension.clone();
                let dialplan = match (dialplan, context) {
                    (Some(dialplan), _) => Some(dialplan.as_str()),
                    (None, Some(_)) => Some(DEFAULT_DIALPLAN),
                    (None, None) => None,
                };
                for word in dialplan.into_iter().chain(context.as_deref()) {
                    check_word("dialplan or context", word)?;
                    let _ = write!(arg, " {word}");
                }
                Ok(arg)
            }
            Self::Socket { addr } => {
                check_word("socket address", addr)?;
                Ok(format!("'&{SOCKET_APP}({addr} {SOCKET_MODE})'"))
            }
        }
    }
}

/// How an originate ended.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum OriginateOutcome {
    /// The far end answered; the call runs the destination. `uuid` is the new channel.
    Answered {
        /// The originated channel's uuid.
        uuid: String,
    },
    /// `USER_BUSY`.
    Busy,
    /// `NORMAL_CLEARING` before the originate returned: answered and hung up at once (the
    /// race in the inbound-nolinger capture).
    Ended,
    /// Any other hangup cause.
    Failed {
        /// The cause as FreeSWITCH named it, e.g. `DESTINATION_OUT_OF_ORDER`.
        cause: String,
    },
    /// `NO_ANSWER` or `NO_USER_RESPONSE`: it rang out.
    NoAnswer,
    /// `NO_ROUTE_DESTINATION`: nothing in the dialplan or gateway matched.
    NoRoute,
    /// `CALL_REJECTED`.
    Rejected,
}

impl std::fmt::Display for OriginateOutcome {
    /// The words the rest of the CLI uses (`dial`'s statuses, `rivr sim --dial`): `answered`,
    /// `busy`, `no_answer`, `no_route`, `rejected`, `ended`, `failed (CAUSE)`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OriginateOutcome::Answered { uuid } => write!(f, "answered ({uuid})"),
            OriginateOutcome::Busy => f.write_str("busy"),
            OriginateOutcome::Ended => f.write_str("ended (answered and hung up at once)"),
            OriginateOutcome::Failed { cause } => write!(f, "failed ({cause})"),
            OriginateOutcome::NoAnswer => f.write_str("no_answer"),
            OriginateOutcome::NoRoute => f.write_str("no_route"),
            OriginateOutcome::Rejected => f.write_str("rejected"),
        }
    }
}

impl OriginateOutcome {
    /// Reads an originate result (`+OK <uuid>` or `-ERR <CAUSE>`); `None` if it is neither, as
    /// when the command itself was refused (`-ERR ... Command not found!`, `-USAGE: ...`).
    pub fn parse(body: &str) -> Option<Self> {
        let body = body.trim();
        if let Some(uuid) = body.strip_prefix(REPLY_OK) {
            let uuid = uuid.trim();
            return (!uuid.is_empty() && !uuid.contains(char::is_whitespace))
                .then(|| Self::Answered { uuid: uuid.to_owned() });
        }
        let cause = body.strip_prefix(ERR_PREFIX)?;
        if cause.is_empty() || !cause.bytes().all(|b| b.is_ascii_uppercase() || b == b'_') {
            return None;
        }
        Some(match cause {
            CAUSE_USER_BUSY => Self::Busy,
            CAUSE_CALL_REJECTED => Self::Rejected,
            CAUSE_NO_ANSWER | CAUSE_NO_USER_RESPONSE => Self::NoAnswer,
            CAUSE_NO_ROUTE_DESTINATION => Self::NoRoute,
            CAUSE_NORMAL_CLEARING => Self::Ended,
            other => Self::Failed { cause: other.to_owned() },
        })
    }

    /// The new channel's uuid when answered.
    pub fn uuid(&self) -> Option<&str> {
        match self {
            Self::Answered { uuid } => Some(uuid),
            _ => None,
        }
    }
}

/// Quotes a value that holds a blank, escapes commas.
fn push_value(out: &mut String, value: &str) {
    let quote = value.contains([' ', '\t']);
    if quote {
        out.push('\'');
    }
    for c in value.chars() {
        if c == ',' {
            out.push('\\');
        }
        out.push(c);
    }
    if quote {
        out.push('\'');
    }
}

fn quote_if_blank(arg: String) -> String {
    if arg.contains([' ', '\t']) {
        format!("'{arg}'")
    } else {
        arg
    }
}

fn check_word(field: &str, value: &str) -> Result<(), EslError> {
    if value.is_empty() {
        return Err(EslError::InvalidRequest(format!("{field} is empty")));
    }
    if value.contains(char::is_whitespace) || value.contains(['\'', '\0']) {
        return Err(EslError::InvalidRequest(format!(
            "{field} {value:?} holds a blank, a line break or a quote"
        )));
    }
    Ok(())
}

fn check_quotable(field: &str, value: &str) -> Result<(), EslError> {
    if value.contains(['\'', '\r', '\n', '\0', '\\']) {
        return Err(EslError::InvalidRequest(format!(
            "{field} {value:?} holds a quote, a backslash or a line break"
        )));
    }
    Ok(())
}

fn check_variable(name: &str, value: &str) -> Result<(), EslError> {
    let name_ok = !name.is_empty()
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.');
    if !name_ok {
        return Err(EslError::InvalidRequest(format!(
            "channel variable name {name:?} must be letters, digits, '_', '-' or '.'"
        )));
    }
    if value.contains(['\'', '{', '}', '\\', '\r', '\n', '\0']) {
        return Err(EslError::InvalidRequest(format!(
            "channel variable {name} holds a quote, a brace, a backslash or a line break"
        )));
    }
    Ok(())
}

const ORIGINATE: &str = "originate";
const ERR_PREFIX: &str = "-ERR ";
const VAR_ORIGINATION_UUID: &str = "origination_uuid";
const VAR_CALLER_ID_NUMBER: &str = "origination_caller_id_number";
const VAR_CALLER_ID_NAME: &str = "origination_caller_id_name";
const VAR_ORIGINATE_TIMEOUT: &str = "originate_timeout";
const DEFAULT_DIALPLAN: &str = "XML";
const SOCKET_APP: &str = "socket";
/// `async`: FreeSWITCH answers every `sendmsg` at once; `full`: the socket may use every
/// command, `api` included (TECH-NOTES §1).
const SOCKET_MODE: &str = "async full";
const CAUSE_USER_BUSY: &str = "USER_BUSY";
const CAUSE_CALL_REJECTED: &str = "CALL_REJECTED";
const CAUSE_NO_ANSWER: &str = "NO_ANSWER";
const CAUSE_NO_USER_RESPONSE: &str = "NO_USER_RESPONSE";
const CAUSE_NO_ROUTE_DESTINATION: &str = "NO_ROUTE_DESTINATION";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_read_in_the_words_the_rest_of_the_cli_uses() {
        assert_eq!(OriginateOutcome::NoAnswer.to_string(), "no_answer");
        assert_eq!(OriginateOutcome::NoRoute.to_string(), "no_route");
        assert_eq!(OriginateOutcome::Busy.to_string(), "busy");
        assert_eq!(OriginateOutcome::Rejected.to_string(), "rejected");
        let failed = OriginateOutcome::Failed { cause: "DESTINATION_OUT_OF_ORDER".into() };
        assert_eq!(failed.to_string(), "failed (DESTINATION_OUT_OF_ORDER)");
    }

    #[test]
    fn socket_destination_is_quoted_and_variables_go_in_braces() {
        let request =
            OriginateRequest::new("sofia/gateway/gw/15551234", Destination::socket("127.0.0.1:8084"))
                .script("callback.rhai")
                .caller_id_number("5550100")
                .caller_id_name("Front Desk, Main")
                .timeout(Duration::from_millis(2500));
        assert_eq!(
            request.to_command("u-1").expect("encodes"),
            "originate {origination_uuid=u-1,rivr_script=callback.rhai,\
             origination_caller_id_number=5550100,\
             origination_caller_id_name='Front Desk\\, Main',originate_timeout=3}\
             sofia/gateway/gw/15551234 '&socket(127.0.0.1:8084 async full)'"
        );
    }

    #[test]
    fn a_dial_string_with_its_own_variables_keeps_them_after_ours() {
        let request =
            OriginateRequest::new("{ignore_early_media=true}user/1000", Destination::extension("9000"));
        assert_eq!(
            request.to_command("u-2").expect("encodes"),
            "originate {origination_uuid=u-2,ignore_early_media=true}user/1000 9000"
        );
    }

    #[test]
    fn extension_with_context_names_the_xml_dialplan() {
        let destination = Destination::Extension {
            extension: "9000".into(),
            dialplan: None,
            context: Some("default".into()),
        };
        let request = OriginateRequest::new("loopback/1000", destination);
        assert!(request.to_command("u").expect("encodes").ends_with("loopback/1000 9000 XML default"));
    }

    #[test]
    fn application_destinations_match_the_captured_form() {
        let park = OriginateRequest::new("loopback/busy/default", Destination::application("park", None));
        assert!(park.to_command("u").expect("encodes").ends_with("loopback/busy/default &park"));
        let play = Destination::application("playback", Some("/tmp/a b.wav".into()));
        assert_eq!(play.to_arg().expect("encodes"), "'&playback(/tmp/a b.wav)'");
    }

    #[test]
    fn unsafe_fields_are_refused_before_anything_is_sent() {
        let bad = [
            OriginateRequest::new("user/1000 &park", Destination::extension("1")),
            OriginateRequest::new("user/1000", Destination::extension("1")).variable("x", "it's"),
            OriginateRequest::new("user/1000", Destination::extension("1")).variable("x}", "1"),
            OriginateRequest::new("user/1000", Destination::extension("1")).variable("x", "a\nb"),
            OriginateRequest::new("user/1000", Destination::socket("127.0.0.1:8084 x")),
        ];
        for request in bad {
            assert!(matches!(request.to_command("u"), Err(EslError::InvalidRequest(_))), "{request:?}");
        }
    }

    #[test]
    fn captured_results_map_to_outcomes() {
        let cases = [
            (
                "+OK fae0532b-3707-495f-9d1f-652b617173cb\n",
                OriginateOutcome::Answered { uuid: "fae0532b-3707-495f-9d1f-652b617173cb".into() },
            ),
            ("-ERR USER_BUSY\n", OriginateOutcome::Busy),
            ("-ERR CALL_REJECTED\n", OriginateOutcome::Rejected),
            ("-ERR NO_ANSWER\n", OriginateOutcome::NoAnswer),
            ("-ERR NO_ROUTE_DESTINATION\n", OriginateOutcome::NoRoute),
            ("-ERR NORMAL_CLEARING\n", OriginateOutcome::Ended),
            (
                "-ERR DESTINATION_OUT_OF_ORDER\n",
                OriginateOutcome::Failed { cause: "DESTINATION_OUT_OF_ORDER".into() },
            ),
        ];
        for (body, outcome) in cases {
            assert_eq!(OriginateOutcome::parse(body), Some(outcome), "{body:?}");
        }
        assert_eq!(OriginateOutcome::parse("-ERR originate Command not found!\n"), None);
        assert_eq!(OriginateOutcome::parse("-USAGE: <call url> <exten>\n"), None);
    }
}
