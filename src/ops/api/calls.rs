//! `/calls`: the live calls, one call with its transcript, hanging one up, placing one.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};

use super::{ApiError, ApiState};
use crate::call::HangupCause;
use crate::ops::calls::{CallView, TranscriptLine};
use crate::originate::{self, OriginateOrder, OriginateRefusal};
use crate::switch::freeswitch::inbound::OriginateOutcome;

/// `GET /calls`: every live call, oldest first.
pub(super) async fn list(State(state): State<ApiState>) -> Json<serde_json::Value> {
    let calls: Vec<CallView> = state.runtime.calls().list().iter().map(|call| call.view()).collect();
    Json(serde_json::json!({ "calls": calls }))
}

/// One call with its transcript.
#[derive(Serialize)]
struct CallDetail {
    #[serde(flatten)]
    call: CallView,
    transcript: Vec<TranscriptLine>,
    /// Earlier transcript entries not kept.
    transcript_dropped: usize,
}

/// `GET /calls/{uuid}`.
pub(super) async fn show(
    State(state): State<ApiState>,
    Path(uuid): Path<String>,
) -> Result<Response, ApiError> {
    let call = state.runtime.calls().get(&uuid).ok_or_else(|| no_call(&uuid))?;
    let (transcript, transcript_dropped) = call.transcript();
    Ok(Json(CallDetail { call: call.view(), transcript, transcript_dropped }).into_response())
}

/// `?cause=` of `DELETE /calls/{uuid}`.
#[derive(Deserialize)]
pub(super) struct HangupQuery {
    cause: Option<String>,
}

/// `DELETE /calls/{uuid}[?cause=CAUSE]`: hang the call up (default `NORMAL_CLEARING`).
pub(super) async fn hang_up(
    State(state): State<ApiState>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    Path(uuid): Path<String>,
    query: Result<Query<HangupQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query.map_err(|rejection| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("{}: the only parameter is `cause`", rejection.body_text()),
        )
    })?;
    let cause = match query.cause.as_deref() {
        None | Some("") => HangupCause::normal(),
        Some(name) => HangupCause::parse(name).ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("unknown hangup cause `{name}`: use a FreeSWITCH cause such as NORMAL_CLEARING or USER_BUSY"),
            )
        })?,
    };
    let call = state.runtime.calls().get(&uuid).ok_or_else(|| no_call(&uuid))?;
    let first = call.hang_up(cause.clone());
    tracing::info!(%remote, %uuid, %cause, "API: hang up call");
    let body = serde_json::json!({ "uuid": uuid, "cause": cause.as_str(), "already_asked": !first });
    Ok((StatusCode::ACCEPTED, Json(body)).into_response())
}

fn no_call(uuid: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        format!("no live call {uuid}: it has ended, or it is not on this node (GET /calls lists them)"),
    )
}

/// The body of `POST /calls`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct OriginateBody {
    /// FreeSWITCH dial string: `user/1000`, `sofia/gateway/carrier/15551234567`.
    to: String,
    /// The script the answered call runs.
    script: String,
    caller_id_number: Option<String>,
    caller_id_name: Option<String>,
    /// Seconds to ring before giving up (FreeSWITCH's default otherwise: 60).
    timeout_s: Option<u64>,
    /// Channel variables for the new call.
    #[serde(default)]
    variables: BTreeMap<String, String>,
    /// Which `freeswitch` connection to use (default: the healthiest).
    server: Option<String>,
}

/// `POST /calls`: place a call that runs `script` once answered, as `rivr originate` does;
/// answers when the originate has an outcome.
pub(super) async fn originate(
    State(state): State<ApiState>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    body: Result<Json<OriginateBody>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(body) = body.map_err(|rejection| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            format!(
                "{}: send JSON such as {{\"to\": \"user/1000\", \"script\": \"main.rhai\"}}",
                rejection.body_text()
            ),
        )
    })?;
    let order = OriginateOrder {
        to: body.to,
        script: body.script,
        caller_id_number: body.caller_id_number,
        caller_id_name: body.caller_id_name,
        timeout: body.timeout_s.map(Duration::from_secs),
        variables: body.variables,
        server: body.server,
        idempotency_key: None,
    };
    tracing::info!(%remote, to = %order.to, script = %order.script, "API: originate");
    let outcome = originate::place(&state.runtime, &order).await.map_err(|refusal| {
        state.runtime.calls().metrics().originate.with_label_values(&["api", "refused"]).inc();
        let status = match &refusal {
            OriginateRefusal::UnknownServer { .. } => StatusCode::NOT_FOUND,
            OriginateRefusal::NoFreeswitch | OriginateRefusal::NotListening => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            OriginateRefusal::Switch(_) => StatusCode::BAD_GATEWAY,
            _ => StatusCode::UNPROCESSABLE_ENTITY,
        };
        ApiError::new(status, refusal.to_string())
    })?;
    let (word, cause) = match &outcome {
        OriginateOutcome::Answered { .. } => ("answered", None),
        OriginateOutcome::Busy => ("busy", None),
        OriginateOutcome::Ended => ("ended", None),
        OriginateOutcome::Failed { cause } => ("failed", Some(cause.clone())),
        OriginateOutcome::NoAnswer => ("no_answer", None),
        OriginateOutcome::NoRoute => ("no_route", None),
        OriginateOutcome::Rejected => ("rejected", None),
    };
    state.runtime.calls().metrics().originate.with_label_values(&["api", word]).inc();
    let body = serde_json::json!({
        "outcome": word,
        "uuid": outcome.uuid(),
        "cause": cause,
        "detail": outcome.to_string(),
    });
    Ok(Json(body).into_response())
}
