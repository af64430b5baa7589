//! The simulated switch: an in-process, deterministic backend for `rivr sim`, the scenario
//! runner and the tests.
//!
//! The caller is a queue of `CallerAction`s (keys, waits, a hangup; or, for a replayed call, each
//! key at its time since its ask started); dial and record results are scripted. Time is
//! virtual: a 30 s timeout costs nothing. Prompts play for `SIM_PROMPT_TIME`, and an `ask`
//! collects as FreeSWITCH's `play_and_get_digits` does (barge-in, first-key and inter-digit
//! timeouts, the invalid prompt between tries). Every command is written to a
//! `Journal` in order, with its outcome and its place in the script.

mod channel;
mod journal;

pub use channel::{CallerAction, SimChannel, SimDial, SimRecord, SimSetup, TimedKeys, SIM_PROMPT_TIME};
pub use journal::{Entry, Journal};
