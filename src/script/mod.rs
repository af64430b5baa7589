//! The script layer: sandboxed Rhai engines, the verb API, the stdlib and the script store.
