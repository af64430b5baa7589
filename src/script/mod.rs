//! The script layer: sandboxed Rhai engines, the verb API, the stdlib and the script store.
//!
//! This module knows nothing of ESL: it drives calls only through `call::CallHandle`.

pub mod engine;
pub mod stdlib;
pub mod store;
pub mod watch;

pub use store::{Compiler, Diagnostic, ReloadReport, Script, ScriptStore};
pub use watch::{ScriptWatcher, WatchOptions};
pub mod api;
pub mod runner;
