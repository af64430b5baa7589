//! Operating rivr: the table of live calls, the Prometheus metrics, and the HTTP API with the
//! live view that serve them (`api:` in rivr.yaml).
//!
//! - [`calls`]: `LiveCalls`, every call that is up and the verb it is in, fed by each call's
//!   actor through the `call::CallObserver` seam; counters and a feed of changes.
//! - [`metrics`]: `Metrics`, the Prometheus registry.
//! - [`api`]: the axum router: health and readiness, calls, scripts, reload, drain, metrics, the
//!   live view's page and its event stream; bearer-token auth.

pub mod api;
pub mod calls;
pub mod metrics;
