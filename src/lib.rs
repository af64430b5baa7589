//! rivr: a scriptable IVR runtime.
//!
//! Telephony developers write call flows as Rhai scripts; rivr runs one sandboxed script per
//! call against a switch (FreeSWITCH over the Event Socket, or the simulated switch) and gives
//! the script a plain, synchronous API (`say`, `play`, `ask`, `menu`, `dial`, `record`, …).
//! Each call is one tokio task that owns the switch connection; the script runs on a fiber (a
//! stack of its own) inside that task and drives the call through one seam,
//! [`call::CallHandle::execute`]`(Command) -> Outcome`.
//!
//! # Layout (start here)
//!
//! - [`call`]: `Command`, `Outcome`, `CallError` (and whose fault it is), `CallInfo`, the
//!   `CallHandle` seam, script fibers (`call::fiber`) and the task that drives a call
//!   (`call::actor`). Knows nothing of ESL or Rhai.
//! - [`cause`]: `HangupCause` and `CallEnd`, the leaf types every layer shares.
//! - [`switch`]: the `Channel` boundary and its backends: `sim` (in-process, deterministic) and
//!   `freeswitch` (the ESL codec, the outbound listener and channel, the inbound client, and the
//!   verb mapping, one file per verb family in `switch::freeswitch::mapping`).
//! - [`script`]: sandboxed engines, the verb API (one file per verb family in `script::api`), the
//!   embedded stdlib, the script store with hot reload, and the per-call runner.
//! - [`config`]: `rivr.yaml`, typed and validated with positions; [`router`]: call → script;
//!   [`reload`]: the live configuration, reloaded on change and SIGHUP.
//! - [`server`]: `rivr run`: the outbound listener's calls routed, limited and run, each on one
//!   of the [`call_threads`].
//! - [`scenario`]: `rivr test` (scenario files on the simulated switch) and `rivr new`.
//! - [`console`]: `rivr sim`; [`check`]: `rivr check`; [`check_config`]: `rivr check -c`.
//! - [`host`]: this machine's name, for events and the NATS connection.
//! - [`flow`]: a flow seen without running it, from the scripts' syntax: `rivr graph` (Mermaid,
//!   DOT, JSON) and the flow lint behind `rivr check`'s warnings.
//! - [`trace`]: call traces (`traces:` in `rivr.yaml`, `rivr sim --trace`), `rivr replay` and
//!   `rivr trace to-scenario`.
//! - [`http`]: the HTTP client behind `http_get`/`http_post` (reqwest, allowlist, size cap).
//! - [`memory`]: freed memory handed back to the OS while `rivr run` serves.
//! - [`files`]: the scenario and trace files under the paths a command was given.
//! - [`events`]: call and script events out, as CloudEvents, to webhooks and NATS.
//! - [`nats`]: the node's one NATS connection, shared by the event sink and the commands in.
//! - [`originate`]: placing an outbound call, for the API and NATS alike.
//! - [`ops`]: operating rivr: the live call table, Prometheus metrics, the HTTP API and the
//!   live view.
//!
//! # One verb, end to end
//!
//! `record()` in a script, as every verb goes:
//!
//! 1. `script::api::record` checks the option map and builds a [`call::Command`]
//!    (`Command::Record(RecordOptions)`), then calls `CallHandle::execute`.
//! 2. The handle suspends the script's fiber with the command (`call::fiber`); the call's task,
//!    `call::actor::drive`, takes it and calls `Channel::execute` on the call's switch.
//! 3. On FreeSWITCH, `switch::freeswitch::mapping::record` plans the applications (beep,
//!    `set playback_terminators`, `record`, the restore) and the channel sends each as `sendmsg`,
//!    correlating its `CHANNEL_EXECUTE_COMPLETE` by `Event-UUID`; the same file reads the
//!    outcome from the completion. On the simulator, `switch::sim` plays it out in virtual time.
//! 4. The `Outcome::Record` (or a `CallError`) resumes the fiber; the API turns it into the map
//!    the script sees.

// No unsafe code, except in `call::fiber` (switching stacks), which allows it for itself.
#![deny(unsafe_code)]

pub mod call;
pub mod call_threads;
pub mod cause;
pub mod check;
pub mod check_config;
pub mod config;
pub mod console;
pub mod events;
pub mod files;
pub mod flow;
pub mod host;
pub mod http;
pub mod memory;
pub mod nats;
pub mod ops;
pub mod originate;
pub mod reload;
pub mod router;
pub mod scenario;
pub mod script;
pub mod server;
pub mod stats;
pub mod switch;
pub mod trace;
