//! The simulated switch: an in-process, deterministic backend for `rivr sim`, the scenario
//! runner and the tests.
//!
//! The caller is a queue of `CallerAction`s (keys, waits, a hangup); dial and record results are
//! scripted. Time is virtual: a 30 s timeout costs nothing. Every command is written to a
//! `Journal` in order, with its outcome and its place in the script.

mod channel;
mod journal;

pub use channel::{CallerAction, SimChannel, SimDial, SimRecord, SimSetup, TimedKeys, SIM_PROMPT_TIME};
pub use journal::{Entry, Journal};
