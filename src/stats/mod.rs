//! Per-menu analytics: for every `ask`, `menu` and `collect` site of a script (its file and
//! line), how often callers reached it, matched, got no match or no input, hung up during it, and
//! retried, and which menu choice they took.
//!
//! - [`visit`]: one caller's pass through one site and what came of it, shared by the live
//!   counters (`ops::calls`, Prometheus) and the offline report, so both count alike.
//! - [`report`]: `rivr stats`: traces read (in parallel), counted per flow, with the funnel.
//! - [`render`]: the report as a text table or JSON (the JSON is what `rivr graph --stats` reads).

pub mod render;
pub mod report;
pub mod visit;

pub use report::{FlowStats, FunnelStep, SiteStats, StatsReport};
pub use visit::{Visit, VisitOutcome};
