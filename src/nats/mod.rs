//! NATS for rivr: one connection per node, shared by the event sink (`crate::events::nats`)
//! and the commands in.
//!
//! NATS is never a reason not to serve calls. The connection starts without waiting for a
//! server: when none answers at startup, or the one in use goes away, the client keeps trying
//! in the background with backoff while calls go on, and the state it is in shows on `/ready`,
//! in `/metrics` (`rivr_nats_connected`) and in the log.

pub mod commands;
mod connection;

pub use connection::{client_state, NatsConnection, NatsState};
