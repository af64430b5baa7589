//! [`EslError`]: everything that can go wrong talking to FreeSWITCH on its inbound port, sorted by
//! who is at fault, so a caller (and an operator reading a log) knows whether to fix the
//! configuration, wait for the network, look at FreeSWITCH or fix the request.
//!
//! Errors are `Clone` because one event (a lost connection) fails every waiter at once.

use std::time::Duration;

use crate::switch::freeswitch::frame::EncodeError;

/// Why a request to FreeSWITCH (or the connection itself) failed.
///
/// No variant ever carries the ESL password.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EslError {
    // ---- the operator's configuration ----
    /// FreeSWITCH's ACL turned the connection away before any authentication
    /// (`text/rude-rejection`).
    #[error(
        "FreeSWITCH at {server} refused the connection by ACL ({reason}); check \
         `apply-inbound-acl` in event_socket.conf.xml"
    )]
    AccessDenied {
        /// `host:port`.
        server: String,
        /// What FreeSWITCH said.
        reason: String,
    },
    /// FreeSWITCH answered `auth` with `-ERR invalid`.
    #[error(
        "FreeSWITCH at {server} refused the ESL password; check `password` in \
         event_socket.conf.xml and rivr.yaml"
    )]
    AuthRejected {
        /// `host:port`.
        server: String,
    },

    // ---- the network, or FreeSWITCH going away ----
    /// The TCP connection (or the handshake on it) could not be made.
    #[error("cannot connect to FreeSWITCH at {server}: {reason}")]
    Connect {
        /// `host:port`.
        server: String,
        /// The socket error, or the handshake step that timed out.
        reason: String,
    },
    /// The connection dropped while the request was in flight; whether FreeSWITCH carried it
    /// out is unknown.
    #[error("connection to FreeSWITCH at {server} lost: {reason}")]
    Disconnected {
        /// `host:port`.
        server: String,
        /// What ended it (EOF, a socket error, a protocol error).
        reason: String,
    },
    /// The client is between connections (it reconnects by itself, with backoff).
    #[error("not connected to FreeSWITCH at {server} (last error: {last_error})")]
    NotConnected {
        /// `host:port`.
        server: String,
        /// Why the last connection attempt failed or the last connection ended.
        last_error: String,
    },
    /// No reply within the configured time. The connection stays up: a late reply is matched
    /// to this request and discarded, so later requests still get their own replies.
    #[error("FreeSWITCH at {server} did not answer `{command}` within {timeout:?}")]
    Timeout {
        /// `host:port`.
        server: String,
        /// The command (`api status`, `bgapi originate ...`).
        command: String,
        /// The limit that passed.
        timeout: Duration,
    },

    // ---- FreeSWITCH's answer ----
    /// FreeSWITCH ran the command and answered `-ERR ...` (or `-USAGE ...`).
    #[error("FreeSWITCH at {server} answered `{command}` with {reply:?}")]
    CommandFailed {
        /// `host:port`.
        server: String,
        /// The command as sent.
        command: String,
        /// FreeSWITCH's answer, e.g. `-ERR bogus_command Command not found!`.
        reply: String,
    },

    // ---- FreeSWITCH broke the protocol ----
    /// FreeSWITCH sent bytes that are not ESL, or a message at a moment it makes no sense (a
    /// reply nobody asked for). The connection is closed and reopened.
    #[error("FreeSWITCH at {server} broke the ESL protocol: {detail}")]
    Protocol {
        /// `host:port`.
        server: String,
        /// What was wrong.
        detail: String,
    },

    // ---- the caller ----
    /// The request cannot be expressed on the wire (a line break in a command, a quote in a
    /// channel variable, ...). Nothing was sent.
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// The client was closed with `close()`.
    #[error("the ESL client for FreeSWITCH at {server} is closed")]
    Closed {
        /// `host:port`.
        server: String,
    },
}

impl EslError {
    /// Whether retrying later (on this or another server) may succeed: the network or
    /// FreeSWITCH's availability, not the request or the configuration, was at fault.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Self::Connect { .. }
                | Self::Disconnected { .. }
                | Self::NotConnected { .. }
                | Self::Timeout { .. }
        )
    }
}

impl From<EncodeError> for EslError {
    fn from(err: EncodeError) -> Self {
        Self::InvalidRequest(err.to_string())
    }
}
