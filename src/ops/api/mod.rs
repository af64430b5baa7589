//! The operations API: an axum router on its own listener (`api:` in rivr.yaml), serving
//! health and readiness, the live calls, scripts, reload, drain, Prometheus metrics, and the
//! live view's page with its event stream.
//!
//! Safe by default: it listens on loopback unless configured otherwise, the configuration
//! refuses a network address without a token, every request but `/health`, `/ready` and the
//! page's static files must carry it (`auth`), and every request that changes something is
//! logged with the remote address that made it.

mod auth;
mod calls;
mod events;
mod node;
mod web;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use tokio::net::TcpListener;

use crate::config::Secret;
use crate::server::Runtime;

/// What every handler reaches.
#[derive(Clone)]
pub struct ApiState {
    runtime: Arc<Runtime>,
}

impl ApiState {
    /// The state for `runtime`'s API.
    pub fn new(runtime: Arc<Runtime>) -> Self {
        ApiState { runtime }
    }
}

/// The whole API for `runtime`, guarded by `token` when there is one.
pub fn router(runtime: Arc<Runtime>, token: Option<Secret>) -> Router {
    let state = ApiState::new(runtime);
    let guarded = Router::new()
        .route("/calls", get(calls::list).post(calls::originate))
        .route("/calls/{uuid}", get(calls::show).delete(calls::hang_up))
        .route("/scripts", get(node::scripts))
        .route("/reload", post(node::reload))
        .route("/drain", post(node::drain))
        .route("/resume", post(node::resume))
        .route("/metrics", get(node::metrics))
        .route("/events", get(events::stream))
        .route("/stats", get(node::counters))
        .route_layer(axum::middleware::from_fn_with_state(auth::Token::new(token), auth::require));
    Router::new()
        .route("/health", get(node::health))
        .route("/ready", get(node::ready))
        .route("/", get(web::index))
        .route("/assets/{file}", get(web::asset))
        .merge(guarded)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
}

/// Serve the API on `listener` until `shutdown`.
///
/// # Errors
/// When accepting connections fails for good.
pub async fn serve_on(
    listener: TcpListener,
    runtime: Arc<Runtime>,
    token: Option<Secret>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = router(runtime, token).into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, app).with_graceful_shutdown(shutdown).await
}

/// An error as the API answers it: a status and a message a person can act on, as
/// `{"error": "…"}`.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    /// An error with `status` and `message`.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError { status, message: message.into() }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(serde_json::json!({ "error": self.message }))).into_response()
    }
}

async fn method_not_allowed(method: axum::http::Method, uri: axum::http::Uri) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        format!(
            "{method} is not allowed on {}: see the API reference in README.md (Operating rivr)",
            uri.path()
        ),
    )
}

async fn not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        format!(
            "no such endpoint: {}; the API has /health, /ready, /calls, /calls/{{uuid}}, /scripts, \
             /reload, /drain, /resume, /metrics, /events and the live view at /",
            uri.path()
        ),
    )
}
