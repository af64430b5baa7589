//! `HangupCause`: why a call ended, as the switch names it, and `CallEnd`: how a call stopped
//! being the script's. A leaf module: the configuration,
//! the router, the call model and both switch backends use it, and it uses nothing of theirs.

use std::fmt;

/// A Q.850 hangup cause as FreeSWITCH names it (`NORMAL_CLEARING`, `USER_BUSY`, …).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HangupCause(String);

impl HangupCause {
    /// The ordinary end of a call.
    pub fn normal() -> Self {
        HangupCause("NORMAL_CLEARING".into())
    }

    /// Parse a cause name or a friendly alias (`busy`, `rejected`, `normal`, `unavailable`,
    /// `no_answer`, `not_found`). Returns `None` for a name FreeSWITCH would not know.
    pub fn parse(text: &str) -> Option<Self> {
        let upper = text.trim().to_ascii_uppercase();
        let name = match upper.as_str() {
            "NORMAL" | "" => "NORMAL_CLEARING",
            "BUSY" => "USER_BUSY",
            "REJECTED" | "REJECT" | "DECLINE" => "CALL_REJECTED",
            "UNAVAILABLE" => "SUBSCRIBER_ABSENT",
            "NO_ANSWER" => "NO_ANSWER",
            "NOT_FOUND" => "UNALLOCATED_NUMBER",
            "CONGESTION" => "NORMAL_CIRCUIT_CONGESTION",
            other if KNOWN_CAUSES.contains(&other) => other,
            _ => return None,
        };
        Some(HangupCause(name.to_string()))
    }

    /// The FreeSWITCH cause name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for HangupCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Cause names FreeSWITCH accepts (`switch_channel.c`'s cause table, the commonly used part).
pub const KNOWN_CAUSES: &[&str] = &[
    "UNSPECIFIED",
    "UNALLOCATED_NUMBER",
    "NO_ROUTE_TRANSIT_NET",
    "NO_ROUTE_DESTINATION",
    "CHANNEL_UNACCEPTABLE",
    "CALL_AWARDED_DELIVERED",
    "NORMAL_CLEARING",
    "USER_BUSY",
    "NO_USER_RESPONSE",
    "NO_ANSWER",
    "SUBSCRIBER_ABSENT",
    "CALL_REJECTED",
    "NUMBER_CHANGED",
    "REDIRECTION_TO_NEW_DESTINATION",
    "EXCHANGE_ROUTING_ERROR",
    "DESTINATION_OUT_OF_ORDER",
    "INVALID_NUMBER_FORMAT",
    "FACILITY_REJECTED",
    "RESPONSE_TO_STATUS_ENQUIRY",
    "NORMAL_UNSPECIFIED",
    "NORMAL_CIRCUIT_CONGESTION",
    "NETWORK_OUT_OF_ORDER",
    "NORMAL_TEMPORARY_FAILURE",
    "SWITCH_CONGESTION",
    "REQUESTED_CHAN_UNAVAIL",
    "BEARERCAPABILITY_NOTAUTH",
    "BEARERCAPABILITY_NOTAVAIL",
    "SERVICE_UNAVAILABLE",
    "INCOMPATIBLE_DESTINATION",
    "RECOVERY_ON_TIMER_EXPIRE",
    "ORIGINATOR_CANCEL",
    "ALLOTTED_TIMEOUT",
    "USER_CHALLENGE",
    "MEDIA_TIMEOUT",
    "PICKED_OFF",
    "USER_NOT_REGISTERED",
    "PROGRESS_TIMEOUT",
    "GATEWAY_DOWN",
];

impl HangupCause {
    /// A cause as the switch reported it. Switches report causes beyond [`KNOWN_CAUSES`], and
    /// what the switch says is passed on as it is; only what a script or a configuration asks
    /// for goes through [`HangupCause::parse`].
    pub fn reported(name: &str) -> Self {
        HangupCause(name.to_string())
    }
}

impl Default for HangupCause {
    fn default() -> Self {
        HangupCause::normal()
    }
}

impl From<&str> for HangupCause {
    /// A cause the switch reported ([`HangupCause::reported`]).
    fn from(name: &str) -> Self {
        HangupCause::reported(name)
    }
}

impl From<String> for HangupCause {
    fn from(name: String) -> Self {
        HangupCause(name)
    }
}

impl PartialEq<str> for HangupCause {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for HangupCause {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

/// How a call stopped being the script's to drive.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CallEnd {
    /// The call is down: the caller, the script, the switch or a limit hung it up.
    HungUp(HangupCause),
    /// A `transfer` handed the call back to the switch's dialplan; it goes on without rivr.
    Transferred,
}

impl fmt::Display for CallEnd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallEnd::HungUp(cause) => write!(f, "hung up ({cause})"),
            CallEnd::Transferred => f.write_str("transferred"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn friendly_names_become_the_switch_s_and_unknown_ones_are_refused() {
        assert_eq!(HangupCause::parse("busy").expect("known"), "USER_BUSY");
        assert_eq!(HangupCause::parse(" normal ").expect("known"), "NORMAL_CLEARING");
        assert_eq!(HangupCause::parse("ORIGINATOR_CANCEL").expect("known"), "ORIGINATOR_CANCEL");
        assert!(HangupCause::parse("HAPPY_ENDING").is_none());
        // What the switch reports is kept as it is.
        assert_eq!(HangupCause::reported("LOSE_RACE").as_str(), "LOSE_RACE");
    }
}
