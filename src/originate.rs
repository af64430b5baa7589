//! Placing an outbound call, one path for every way a request arrives: `POST /calls` and
//! originate requests over NATS (`crate::nats::commands`) both build an [`OriginateOrder`],
//! [`prepare`] it against the runtime and [`Prepared::place`] it.
//!
//! [`prepare`] refuses, with a typed [`OriginateRefusal`], everything that can be known before
//! a byte goes to FreeSWITCH: a script that is not loaded, no FreeSWITCH configured, rivr not
//! listening yet, a `freeswitch` server name that does not exist, a dial string or variable
//! that the `originate` command cannot carry (the codec's own checks, by encoding the command
//! once), more channel variables than [`MAX_VARIABLES`] or more bytes of them than
//! [`MAX_VARIABLE_BYTES`], and variables that would override what rivr sets itself
//! ([`RESERVED_VARIABLES`]).
//!
//! # Idempotency
//!
//! An order may carry an idempotency key. Its call then gets a uuid derived from the key
//! ([`call_uuid_for_key`]) as its `origination_uuid`, so every attempt to place the same order
//! names the same channel, and [`Prepared::exists_on_switch`] can ask FreeSWITCH (`api
//! uuid_exists`) whether an earlier attempt already made it. FreeSWITCH itself does not refuse
//! a second `originate` with a uuid that exists: `switch_core_session_set_uuid` logs
//! `Duplicate UUID!` and the call goes ahead under a random uuid. So the check before placing is
//! what stops a duplicate, not the uuid alone.

use std::collections::BTreeMap;
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::server::Runtime;
use crate::switch::freeswitch::inbound::{
    Destination, EslError, InboundClient, InboundPool, OriginateOutcome, OriginateRequest,
    RIVR_SCRIPT_VARIABLE,
};

/// The most channel variables one request may set.
pub const MAX_VARIABLES: usize = 64;

/// The most bytes (names and values together) of channel variables one request may set: the
/// whole `originate` command goes to FreeSWITCH as one line, and an operator's dial plan rarely
/// needs more than a few ids.
pub const MAX_VARIABLE_BYTES: usize = 4096;

/// The most bytes of an idempotency key.
pub const MAX_IDEMPOTENCY_KEY_BYTES: usize = 256;

/// Channel variables rivr sets itself and a request may not: `origination_uuid` carries the
/// idempotency key's uuid and `rivr_script` the script, so overriding either would let a request
/// escape its own checks.
pub const RESERVED_VARIABLES: [&str; 2] = ["origination_uuid", RIVR_SCRIPT_VARIABLE];

/// One call to place, as the API or a NATS request describes it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OriginateOrder {
    /// FreeSWITCH dial string: `user/1000`, `sofia/gateway/carrier/15551234567`.
    pub to: String,
    /// The script the answered call runs.
    pub script: String,
    /// `origination_caller_id_number`.
    pub caller_id_number: Option<String>,
    /// `origination_caller_id_name`.
    pub caller_id_name: Option<String>,
    /// How long to ring (FreeSWITCH's default otherwise: 60 s).
    pub timeout: Option<Duration>,
    /// Channel variables for the new call.
    pub variables: BTreeMap<String, String>,
    /// Which `freeswitch` connection to use (default: the healthiest, see
    /// [`InboundPool::originate`]).
    pub server: Option<String>,
    /// Makes the call's uuid a function of this key ([`call_uuid_for_key`]).
    pub idempotency_key: Option<String>,
}

/// Why a call was not placed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OriginateRefusal {
    // ---- the request ----
    /// The script is not loaded on this node.
    #[error("script `{script}` is not loaded: GET /scripts lists the scripts and their errors")]
    UnknownScript {
        /// As requested.
        script: String,
    },
    /// The request named a `freeswitch` connection this node does not have.
    #[error("no `freeswitch` connection named `{name}` in rivr.yaml")]
    UnknownServer {
        /// As requested.
        name: String,
    },
    /// A field holds characters the `originate` command cannot carry (a blank in the dial
    /// string, a quote, brace, backslash or line break in a variable...), or a reserved variable.
    #[error("the request cannot be sent to FreeSWITCH: {detail}; remove the offending characters")]
    Uncarriable {
        /// Which field and why.
        detail: String,
    },
    /// More than [`MAX_VARIABLES`] channel variables.
    #[error("{count} channel variables: at most {max} may be set on one call")]
    TooManyVariables {
        /// As requested.
        count: usize,
        /// [`MAX_VARIABLES`].
        max: usize,
    },
    /// More than [`MAX_VARIABLE_BYTES`] of channel variables.
    #[error(
        "channel variables of {bytes} bytes: at most {max} bytes (names and values) may be set on one call"
    )]
    VariablesTooLarge {
        /// Names and values, summed.
        bytes: usize,
        /// [`MAX_VARIABLE_BYTES`].
        max: usize,
    },
    /// The idempotency key is empty or too long.
    #[error("idempotency key {detail}: send 1 to {MAX_IDEMPOTENCY_KEY_BYTES} bytes, the same for every retry of one call")]
    BadIdempotencyKey {
        /// What is wrong with it.
        detail: String,
    },

    // ---- this node ----
    /// `freeswitch:` is empty in this node's rivr.yaml.
    #[error("no FreeSWITCH connection is configured: add a `freeswitch:` entry to rivr.yaml and restart")]
    NoFreeswitch,
    /// The outbound listener is not up (starting or stopping), so the answered call would
    /// have nowhere to go.
    #[error("rivr is not listening for calls yet; try again")]
    NotListening,

    // ---- FreeSWITCH ----
    /// FreeSWITCH could not be reached, or refused the command itself. Whether a call was made
    /// is unknown when the connection dropped with the command in flight
    /// ([`EslError::Disconnected`], [`EslError::Timeout`]).
    #[error("FreeSWITCH did not place the call: {0}")]
    Switch(#[source] EslError),
}

impl OriginateRefusal {
    /// A short stable word for the refusal, for JSON outcomes: `unknown_script`,
    /// `unknown_server`, `uncarriable`, `too_many_variables`, `variables_too_large`,
    /// `bad_idempotency_key`, `no_freeswitch`, `not_listening`, `switch`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::UnknownScript { .. } => "unknown_script",
            Self::UnknownServer { .. } => "unknown_server",
            Self::Uncarriable { .. } => "uncarriable",
            Self::TooManyVariables { .. } => "too_many_variables",
            Self::VariablesTooLarge { .. } => "variables_too_large",
            Self::BadIdempotencyKey { .. } => "bad_idempotency_key",
            Self::NoFreeswitch => "no_freeswitch",
            Self::NotListening => "not_listening",
            Self::Switch(_) => "switch",
        }
    }

    /// Whether the request itself is at fault: sending it again, to this node or another,
    /// gives the same refusal.
    pub fn is_request_fault(&self) -> bool {
        matches!(
            self,
            Self::UnknownScript { .. }
                | Self::UnknownServer { .. }
                | Self::Uncarriable { .. }
                | Self::TooManyVariables { .. }
                | Self::VariablesTooLarge { .. }
                | Self::BadIdempotencyKey { .. }
        ) || matches!(self, Self::Switch(EslError::InvalidRequest(_)))
    }

    /// Whether trying again later, or on another node, may succeed: this node is not ready,
    /// or FreeSWITCH was unreachable.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::NoFreeswitch | Self::NotListening => true,
            Self::Switch(error) => error.is_transient(),
            _ => false,
        }
    }
}

/// An order checked against the runtime, ready to go to FreeSWITCH.
#[derive(Debug)]
pub struct Prepared<'a> {
    request: OriginateRequest,
    pool: &'a InboundPool,
    client: Option<&'a InboundClient>,
}

impl Prepared<'_> {
    /// The new call's uuid when the order has an idempotency key (otherwise FreeSWITCH's
    /// client makes one up as it places the call).
    pub fn uuid(&self) -> Option<&str> {
        self.request.uuid.as_deref()
    }

    /// The request as it goes to FreeSWITCH.
    pub fn request(&self) -> &OriginateRequest {
        &self.request
    }

    /// Places the call and waits for its outcome (answered, busy, ...).
    ///
    /// # Errors
    ///
    /// [`OriginateRefusal::Switch`] when FreeSWITCH could not be reached or refused the
    /// command.
    pub async fn place(&self) -> Result<OriginateOutcome, OriginateRefusal> {
        match self.client {
            Some(client) => client.originate(&self.request).await,
            None => self.pool.originate(&self.request).await,
        }
        .map_err(OriginateRefusal::Switch)
    }

    /// Whether a channel with this order's uuid exists on any connected FreeSWITCH server
    /// (`api uuid_exists <uuid>`, answered `true` or `false`): an earlier attempt at the same
    /// order placed it, and it is still up (ringing or answered). `false` without a uuid.
    ///
    /// # Errors
    ///
    /// [`OriginateRefusal::Switch`] when no server answered: then nobody knows, and the caller
    /// should not place the call on a guess.
    pub async fn exists_on_switch(&self) -> Result<bool, OriginateRefusal> {
        let Some(uuid) = self.uuid() else {
            return Ok(false);
        };
        let command = format!("{API_UUID_EXISTS} {uuid}");
        let mut answered = false;
        let mut last_error = None;
        for client in self.pool.clients() {
            match client.api(&command).await {
                Ok(reply) if reply.trim() == "true" => return Ok(true),
                Ok(_) => answered = true,
                Err(error) => last_error = Some(error),
            }
        }
        match (answered, last_error) {
            // A server that did not answer may hold the channel; only a full set of answers
            // is a "no". Ask again later rather than risk a second call.
            (_, Some(error)) => Err(OriginateRefusal::Switch(error)),
            (true, None) => Ok(false),
            (false, None) => Err(OriginateRefusal::NoFreeswitch),
        }
    }
}

/// Checks `order` against `runtime` (script loaded, FreeSWITCH configured, listening, fields
/// that can be carried, within limits) and builds the request.
///
/// # Errors
///
/// The first [`OriginateRefusal`] that applies, request faults before this node's state (a bad
/// request is refused as such even on a node that could not place anything).
pub fn prepare<'a>(runtime: &'a Runtime, order: &OriginateOrder) -> Result<Prepared<'a>, OriginateRefusal> {
    if runtime.store().get(&order.script).is_none() {
        return Err(OriginateRefusal::UnknownScript { script: order.script.clone() });
    }
    let uuid = order.idempotency_key.as_deref().map(call_uuid_for_key).transpose()?;
    check_variables(order)?;
    let pool = runtime.inbound().ok_or(OriginateRefusal::NoFreeswitch)?;
    let client = match &order.server {
        Some(name) => {
            Some(pool.client(name).ok_or_else(|| OriginateRefusal::UnknownServer { name: name.clone() })?)
        }
        None => None,
    };
    let listen = runtime.listening_on().ok_or(OriginateRefusal::NotListening)?;
    let mut request =
        OriginateRequest::new(&order.to, Destination::socket(listen.to_string())).script(&order.script);
    if let Some(number) = &order.caller_id_number {
        request = request.caller_id_number(number);
    }
    if let Some(name) = &order.caller_id_name {
        request = request.caller_id_name(name);
    }
    if let Some(timeout) = order.timeout {
        request = request.timeout(timeout);
    }
    for (name, value) in &order.variables {
        request = request.variable(name, value);
    }
    if let Some(uuid) = uuid {
        request = request.uuid(uuid);
    }
    // The codec's own checks, by encoding the command once: what it refuses now it would
    // refuse at the switch, after the order had been taken.
    request.to_command(request.uuid.as_deref().unwrap_or(PLACEHOLDER_UUID)).map_err(|error| match error {
        EslError::InvalidRequest(detail) => OriginateRefusal::Uncarriable { detail },
        other => OriginateRefusal::Switch(other),
    })?;
    Ok(Prepared { request, pool, client })
}

/// [`prepare`]s and places `order`.
///
/// # Errors
///
/// As [`prepare`] and [`Prepared::place`].
pub async fn place(runtime: &Runtime, order: &OriginateOrder) -> Result<OriginateOutcome, OriginateRefusal> {
    prepare(runtime, order)?.place().await
}

/// The call uuid for an idempotency key: the key itself when it is a UUID (in FreeSWITCH's
/// lowercase hyphenated form), otherwise a name-based UUID of it (version 8, SHA-256 of a rivr
/// namespace and the key, as RFC 9562 §B.2 describes), so the same key always names the same
/// call, on every node.
///
/// # Errors
///
/// [`OriginateRefusal::BadIdempotencyKey`] for an empty key or one over
/// [`MAX_IDEMPOTENCY_KEY_BYTES`].
pub fn call_uuid_for_key(key: &str) -> Result<String, OriginateRefusal> {
    if key.is_empty() {
        return Err(OriginateRefusal::BadIdempotencyKey { detail: "is empty".into() });
    }
    if key.len() > MAX_IDEMPOTENCY_KEY_BYTES {
        return Err(OriginateRefusal::BadIdempotencyKey { detail: format!("is {} bytes long", key.len()) });
    }
    if let Ok(uuid) = uuid::Uuid::parse_str(key) {
        return Ok(uuid.hyphenated().to_string());
    }
    let mut hash = Sha256::new();
    hash.update(KEY_NAMESPACE.as_bytes());
    hash.update(key.as_bytes());
    let digest = hash.finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    Ok(uuid::Builder::from_custom_bytes(bytes).into_uuid().hyphenated().to_string())
}

fn check_variables(order: &OriginateOrder) -> Result<(), OriginateRefusal> {
    let count = order.variables.len();
    if count > MAX_VARIABLES {
        return Err(OriginateRefusal::TooManyVariables { count, max: MAX_VARIABLES });
    }
    let bytes: usize = order.variables.iter().map(|(name, value)| name.len() + value.len()).sum();
    if bytes > MAX_VARIABLE_BYTES {
        return Err(OriginateRefusal::VariablesTooLarge { bytes, max: MAX_VARIABLE_BYTES });
    }
    for reserved in RESERVED_VARIABLES {
        if order.variables.keys().any(|name| name.eq_ignore_ascii_case(reserved)) {
            return Err(OriginateRefusal::Uncarriable {
                detail: format!("channel variable {reserved} is set by rivr itself"),
            });
        }
        // The dial string's own `{...}`/`[...]` blocks are merged after rivr's variables, so
        // one there would override them just the same.
        if order.to.to_ascii_lowercase().contains(&format!("{reserved}=")) {
            return Err(OriginateRefusal::Uncarriable {
                detail: format!("the dial string sets {reserved}, which rivr sets itself"),
            });
        }
    }
    Ok(())
}

/// What the encoding check passes for a call whose uuid FreeSWITCH's client will make up.
const PLACEHOLDER_UUID: &str = "00000000-0000-0000-0000-000000000000";

/// Hashed before each key that is not a UUID, so rivr's uuids do not collide with another
/// system's hashes of the same strings.
const KEY_NAMESPACE: &str = "rivr.originate.idempotency-key/1:";

const API_UUID_EXISTS: &str = "uuid_exists";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_key_names_the_same_call_and_different_keys_different_calls() {
        let first = call_uuid_for_key("campaign-7/contact-42").expect("key");
        assert_eq!(first, call_uuid_for_key("campaign-7/contact-42").expect("key"));
        assert_ne!(first, call_uuid_for_key("campaign-7/contact-43").expect("key"));
        let parsed = uuid::Uuid::parse_str(&first).expect("a uuid");
        assert_eq!(parsed.get_version_num(), 8);
        assert_eq!(parsed.get_variant(), uuid::Variant::RFC4122);
    }

    #[test]
    fn a_key_that_is_a_uuid_is_the_call_uuid_in_lowercase() {
        let key = "6F1C2E1A-0B9D-4C39-9D2E-3C1A2B4D5E6F";
        assert_eq!(call_uuid_for_key(key).expect("key"), key.to_ascii_lowercase());
    }

    #[test]
    fn empty_and_overlong_keys_are_refused() {
        assert!(matches!(call_uuid_for_key(""), Err(OriginateRefusal::BadIdempotencyKey { .. })));
        let long = "k".repeat(MAX_IDEMPOTENCY_KEY_BYTES + 1);
        assert!(matches!(call_uuid_for_key(&long), Err(OriginateRefusal::BadIdempotencyKey { .. })));
    }

    fn order(variables: &[(&str, &str)]) -> OriginateOrder {
        OriginateOrder {
            to: "user/1000".into(),
            script: "main.rhai".into(),
            variables: variables.iter().map(|(n, v)| ((*n).to_owned(), (*v).to_owned())).collect(),
            ..OriginateOrder::default()
        }
    }

    #[test]
    fn more_variables_than_the_limit_are_refused_by_count() {
        let many: Vec<(String, String)> =
            (0..=MAX_VARIABLES).map(|i| (format!("v{i}"), "1".into())).collect();
        let many: Vec<(&str, &str)> = many.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
        let refusal = check_variables(&order(&many)).expect_err("too many");
        assert!(matches!(refusal, OriginateRefusal::TooManyVariables { count: 65, max: 64 }), "{refusal}");
        assert!(refusal.is_request_fault());
    }

    #[test]
    fn variables_over_the_byte_limit_are_refused_by_size() {
        let big = "x".repeat(MAX_VARIABLE_BYTES);
        let refusal = check_variables(&order(&[("note", &big)])).expect_err("too large");
        assert!(matches!(refusal, OriginateRefusal::VariablesTooLarge { .. }), "{refusal}");
        assert_eq!(refusal.code(), "variables_too_large");
    }

    #[test]
    fn a_request_may_not_set_the_variables_rivr_sets_itself() {
        for bad in [order(&[("origination_uuid", "x")]), order(&[("RIVR_SCRIPT", "other.rhai")])] {
            assert!(matches!(check_variables(&bad), Err(OriginateRefusal::Uncarriable { .. })), "{bad:?}");
        }
        let sneaky = OriginateOrder { to: "{origination_uuid=x}user/1000".into(), ..order(&[]) };
        assert!(matches!(check_variables(&sneaky), Err(OriginateRefusal::Uncarriable { .. })));
        assert!(check_variables(&order(&[("campaign", "spring, 2027")])).is_ok());
    }

    #[test]
    fn refusals_sort_into_the_requests_fault_and_the_nodes() {
        assert!(OriginateRefusal::UnknownScript { script: "x".into() }.is_request_fault());
        assert!(!OriginateRefusal::NotListening.is_request_fault());
        assert!(OriginateRefusal::NotListening.is_transient());
        let down = OriginateRefusal::Switch(EslError::NotConnected {
            server: "127.0.0.1:8021".into(),
            last_error: "refused".into(),
        });
        assert!(down.is_transient() && !down.is_request_fault());
        let said_no = OriginateRefusal::Switch(EslError::CommandFailed {
            server: "127.0.0.1:8021".into(),
            command: "bgapi originate".into(),
            reply: "-USAGE".into(),
        });
        assert!(!said_no.is_transient() && !said_no.is_request_fault());
    }
}
