//! The node itself: liveness, readiness, scripts, reload, drain and resume, metrics.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

use super::{ApiError, ApiState};
use crate::ops::calls::{rfc3339, Counters};
use crate::ops::metrics::Readings;
use crate::reload::ReloadOutcome;
use crate::server::Runtime;
use crate::switch::freeswitch::inbound::ConnectionState;

/// `GET /health`: the process answers.
pub(super) async fn health() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "alive" }))
}

/// `GET /ready`: 200 when the node should get calls, 503 with the reasons when not.
pub(super) async fn ready(State(state): State<ApiState>) -> Response {
    let reasons = not_ready_because(&state.runtime);
    let status = if reasons.is_empty() { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    let mut body = serde_json::json!({ "ready": reasons.is_empty(), "reasons": reasons });
    // NATS is shown, not a reason: a node serves calls just as well without it (events wait in
    // their queues, and commands only come while it is up), and since every node shares the one
    // NATS, counting it would take every node out of the balancer at once when NATS goes down,
    // turning an outage of events into an outage of calls.
    if let Some(nats) = state.runtime.nats() {
        body["nats"] = serde_json::json!({ "state": nats.state().as_str(), "servers": nats.servers() });
    }
    (status, Json(body)).into_response()
}

/// Why the node should not get calls now; empty when it should.
pub fn not_ready_because(runtime: &Runtime) -> Vec<String> {
    let mut reasons = Vec::new();
    if runtime.listening_on().is_none() {
        reasons.push("not listening for FreeSWITCH's outbound sockets".to_string());
    }
    if runtime.calls().is_draining() {
        reasons.push("draining: new calls are refused (POST /resume takes them again)".to_string());
    }
    let snapshot = runtime.live().current();
    for script in snapshot.scripts() {
        if runtime.store().get(&script).is_none() {
            reasons.push(format!("script `{script}`, which the routes name, is not loaded (GET /scripts)"));
        }
    }
    if let Some(pool) = runtime.inbound() {
        for client in pool.clients() {
            if !matches!(client.state(), ConnectionState::Connected { .. }) {
                reasons.push(format!(
                    "FreeSWITCH connection `{}` ({}) is down",
                    client.name(),
                    client.server()
                ));
            }
        }
    }
    reasons
}

/// A script as `GET /scripts` lists it.
#[derive(Serialize)]
struct ScriptInfo {
    name: String,
    /// The version serving new calls; `null` when the script never compiled.
    version: Option<String>,
    /// When that version went live (RFC 3339).
    loaded_at: Option<String>,
    /// The compile error of the file as it is on disk now, if it does not compile.
    error: Option<ScriptProblem>,
}

#[derive(Serialize)]
struct ScriptProblem {
    file: String,
    line: usize,
    column: usize,
    message: String,
}

/// Every script with its version and its current compile error, by name.
pub(super) fn script_list(runtime: &Runtime) -> serde_json::Value {
    let mut problems = runtime.store().problems();
    let mut scripts: Vec<ScriptInfo> = runtime
        .store()
        .scripts()
        .iter()
        .map(|script| ScriptInfo {
            name: script.name.clone(),
            version: Some(script.version_tag()),
            loaded_at: Some(rfc3339(script.compiled_at)),
            error: None,
        })
        .collect();
    for problem in problems.drain(..) {
        let error = ScriptProblem {
            file: problem.file.clone(),
            line: problem.line,
            column: problem.column,
            message: problem.message.clone(),
        };
        match scripts.iter_mut().find(|script| script.name == problem.file) {
            Some(script) => script.error = Some(error),
            None => scripts.push(ScriptInfo {
                name: problem.file,
                version: None,
                loaded_at: None,
                error: Some(error),
            }),
        }
    }
    scripts.sort_by(|a, b| a.name.cmp(&b.name));
    serde_json::json!({ "scripts": scripts })
}

/// `GET /scripts`.
pub(super) async fn scripts(State(state): State<ApiState>) -> Json<serde_json::Value> {
    Json(script_list(&state.runtime))
}

/// `POST /reload`: read the configuration and rescan the scripts now.
pub(super) async fn reload(
    State(state): State<ApiState>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
) -> Result<Response, ApiError> {
    tracing::info!(%remote, "API: reload");
    let runtime = state.runtime.clone();
    let (config, scripts) = tokio::task::spawn_blocking(move || {
        let config = runtime.live().reload_now();
        let scripts = runtime.store().rescan();
        (config, scripts)
    })
    .await
    .map_err(|error| {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, format!("the reload failed: {error}"))
    })?;
    let (config, config_errors, restart_required) = match config {
        ReloadOutcome::Applied { restart_required } => ("applied", Vec::new(), restart_required),
        ReloadOutcome::Unchanged => ("unchanged", Vec::new(), Vec::new()),
        ReloadOutcome::Rejected(error) => {
            ("rejected", error.diagnostics().iter().map(ToString::to_string).collect(), Vec::new())
        }
    };
    let body = serde_json::json!({
        "config": config,
        "config_errors": config_errors,
        "restart_required": restart_required,
        "scripts": {
            "updated": scripts.updated,
            "failed": scripts.failed.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "removed": scripts.removed,
        },
    });
    let status = if config == "rejected" || !scripts.failed.is_empty() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    Ok((status, Json(body)).into_response())
}

/// `POST /drain`: refuse new calls (with `busy_cause`) and let live ones finish; the process
/// keeps running.
pub(super) async fn drain(
    State(state): State<ApiState>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
) -> Json<Counters> {
    if state.runtime.calls().set_draining(true) {
        tracing::warn!(%remote, live = state.runtime.calls().len(), "API: draining; new calls are refused");
    }
    Json(state.runtime.calls().counters())
}

/// `POST /resume`: take new calls again.
pub(super) async fn resume(
    State(state): State<ApiState>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
) -> Json<Counters> {
    if state.runtime.calls().set_draining(false) {
        tracing::warn!(%remote, "API: resumed; taking new calls");
    }
    Json(state.runtime.calls().counters())
}

/// `GET /stats`: the live view's header counters.
pub(super) async fn counters(State(state): State<ApiState>) -> Json<Counters> {
    Json(state.runtime.calls().counters())
}

/// `GET /metrics`: Prometheus' text format.
pub(super) async fn metrics(State(state): State<ApiState>) -> Response {
    let runtime = &state.runtime;
    let readings = Readings {
        scripts: (runtime.store().scripts().len(), runtime.store().problems().len()),
        script_reloads: runtime.store().reload_counts(),
        config_reloads: runtime.live().reload_counts(),
        connections: runtime
            .inbound()
            .map(|pool| {
                pool.clients()
                    .map(|client| match client.state() {
                        ConnectionState::Connected { generation } => {
                            (client.name().to_string(), true, generation)
                        }
                        _ => (client.name().to_string(), false, 0),
                    })
                    .collect()
            })
            .unwrap_or_default(),
        tasks: tokio::runtime::Handle::current().metrics().num_alive_tasks()
            + runtime.call_threads().map_or(0, |threads| threads.alive_tasks()),
        sinks: runtime.events().map(|bus| bus.readings()).unwrap_or_default(),
        nats: runtime.nats().map(|nats| nats.state().is_connected()),
    };
    let text = runtime.calls().metrics().render(&readings);
    ([(header::CONTENT_TYPE, prometheus::TEXT_FORMAT)], text).into_response()
}
