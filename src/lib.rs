//! rivr: a scriptable IVR runtime.
//!
//! Telephony developers write call flows as Rhai scripts; rivr runs one sandboxed script per
//! call against a switch (FreeSWITCH over the Event Socket, or the simulated switch) and gives
//! the script a plain, synchronous API (`say`, `play`, `ask`, `menu`, `dial`, `record`, …).
//! `../DESIGN.md`-style overview: a call's actor (a tokio task) owns the switch connection; the
//! script runs on its own thread and drives the call through one seam,
//! `call::CallHandle::execute(Command) -> Outcome`.
//!
//! # Layout
//!
//! - [`call`]: `Command`, `Outcome`, `CallInfo`, the blocking `CallHandle` and the call actor.
//!   Knows nothing of ESL or Rhai.
//! - [`switch`]: the `Channel` boundary and its backends: `sim` (in-process) and `freeswitch`.
//! - [`script`]: sandboxed engines, the verb API, the embedded stdlib, the script store and the
//!   per-call runner.
//! - [`config`]: `rivr.yaml`, typed and validated with positions; [`router`]: call → script.
//! - [`console`]: `rivr sim`; [`check`]: `rivr check`; [`check_config`]: `rivr check -c`.
//! - [`reload`]: the live configuration, reloaded on change and SIGHUP; scripts reload through
//!   `script::watch`.
//! - [`http`]: the HTTP client behind `http_get`/`http_post` (reqwest, allowlist, size cap).

// No unsafe code, except in `call::fiber` (switching stacks), which allows it for itself.
#![deny(unsafe_code)]

pub mod call;
pub mod cause;
pub mod check;
pub mod check_config;
pub mod config;
pub mod console;
pub mod http;
pub mod reload;
pub mod router;
pub mod scenario;
pub mod script;
pub mod server;
pub mod switch;
