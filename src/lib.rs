//! rivr: a scriptable IVR runtime.

pub mod call;
pub mod config;
pub mod router;
pub mod script;
pub mod switch;
