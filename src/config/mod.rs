//! The configuration: `rivr.yaml`, typed, defaulted, validated with positions in every error.

mod fallback;
mod limits;

pub use fallback::Fallback;
pub use limits::Limits;
