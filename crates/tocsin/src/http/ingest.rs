//! PagerDuty Events API v2: `/v2/enqueue` and `/v2/change/enqueue`, answered in PagerDuty's own formats so that
//! any PagerDuty sender works by changing its URL.
//!
//! The 202 goes out only after the store has committed the event (see `tocsin_store::sqlite`).

use super::AppState;
use super::extract::body_bytes;
use axum::Json;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use std::time::Instant;
use tocsin_domain::auth::hash_secret;
use tocsin_domain::pagerduty::{parse_change, parse_enqueue};
use tocsin_store::StoreError;

#[derive(Serialize, utoipa::ToSchema)]
pub struct EnqueueAccepted {
    #[schema(example = "success")]
    status: &'static str,
    #[schema(example = "Event processed")]
    message: &'static str,
    /// The dedup key of the alert, generated when the event had none.
    #[serde(skip_serializing_if = "Option::is_none")]
    dedup_key: Option<String>,
}

/// PagerDuty's error body.
#[derive(Serialize, utoipa::ToSchema)]
pub struct EnqueueRejected {
    #[schema(example = "invalid event")]
    status: &'static str,
    #[schema(example = "Event object is invalid")]
    message: String,
    #[schema(example = json!(["'payload.summary' is missing or blank"]))]
    errors: Vec<String>,
}

const KIND_EVENT: &str = "pagerduty";
const KIND_CHANGE: &str = "pagerduty_change";

fn rejected(status: StatusCode, message: &str, errors: Vec<String>) -> Response {
    (
        status,
        Json(EnqueueRejected {
            status: "invalid event",
            message: message.into(),
            errors,
        }),
    )
        .into_response()
}

fn header_routing_key(headers: &HeaderMap) -> Option<&str> {
    headers.get("x-routing-key").and_then(|v| v.to_str().ok())
}

/// Reads the body and parses it with `parse`, or answers the way PagerDuty does.
async fn parse_body<T>(
    req: Request,
    state: &AppState,
    kind: &str,
    parse: fn(&serde_json::Value, Option<&str>) -> Result<T, Vec<String>>,
) -> Result<T, Response> {
    let invalid = |status: StatusCode, errors: Vec<String>| {
        state
            .metrics
            .events
            .with_label_values(&[kind, "invalid"])
            .inc();
        rejected(status, "Event object is invalid", errors)
    };
    let header_key = header_routing_key(req.headers()).map(str::to_owned);
    let bytes = body_bytes(req, state)
        .await
        .map_err(|e| invalid(e.0.code.status(), vec![e.0.message]))?;
    let value = serde_json::from_slice(&bytes).map_err(|e| {
        invalid(
            StatusCode::BAD_REQUEST,
            vec![format!("Could not parse JSON: {e}")],
        )
    })?;
    parse(&value, header_key.as_deref()).map_err(|errors| invalid(StatusCode::BAD_REQUEST, errors))
}

fn accepted(
    state: &AppState,
    kind: &str,
    outcome: &str,
    started: Instant,
    message: &'static str,
    dedup_key: Option<String>,
) -> Response {
    state
        .metrics
        .events
        .with_label_values(&[kind, outcome])
        .inc();
    state
        .metrics
        .ingest_latency
        .with_label_values(&[kind])
        .observe(started.elapsed().as_secs_f64());
    (
        StatusCode::ACCEPTED,
        Json(EnqueueAccepted {
            status: "success",
            message,
            dedup_key,
        }),
    )
        .into_response()
}

fn store_failure(state: &AppState, kind: &str, e: StoreError) -> Response {
    match e {
        StoreError::UnknownRoutingKey => {
            state
                .metrics
                .events
                .with_label_values(&[kind, "unknown_key"])
                .inc();
            rejected(
                StatusCode::BAD_REQUEST,
                "Event object is invalid",
                vec!["'routing_key' is invalid (not an active integration key; check the key or create an integration)".into()],
            )
        }
        e => {
            tracing::error!(error = %e, "Ingest failed.");
            state
                .metrics
                .events
                .with_label_values(&[kind, "error"])
                .inc();
            // 5xx makes senders retry, which is what they should do.
            (StatusCode::SERVICE_UNAVAILABLE, Json(serde_json::json!({ "status": "error", "message": "Tocsin could not store the event; retry" })))
                .into_response()
        }
    }
}

/// Send an alert event (trigger, acknowledge, resolve).
#[utoipa::path(post, path = "/v2/enqueue", tag = "ingest",
    request_body(content = Object, description = "A PagerDuty Events API v2 event"),
    params(("X-Routing-Key" = Option<String>, Header, description = "Routing key, when not in the body")),
    responses(
        (status = 202, description = "Stored durably", body = EnqueueAccepted),
        (status = 400, description = "Invalid event or unknown routing key", body = EnqueueRejected),
        (status = 413, description = "Body over 512 KB", body = EnqueueRejected),
        (status = 503, description = "Not stored; retry")))]
pub async fn enqueue(State(state): State<AppState>, req: Request) -> Response {
    let started = Instant::now();
    let parsed = match parse_body(req, &state, KIND_EVENT, parse_enqueue).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let dedup_key = parsed.event.dedup_key.clone();
    match state
        .store
        .ingest()
        .event(
            &hash_secret(&parsed.routing_key),
            parsed.event,
            state.clock.now(),
        )
        .await
    {
        Ok(outcome) => {
            if let Some(sev) = outcome.opened_incident {
                state
                    .metrics
                    .incidents_opened
                    .with_label_values(&[sev.as_str()])
                    .inc();
            }
            let kind = outcome.integration_kind.as_str();
            accepted(
                &state,
                kind,
                outcome.result.as_str(),
                started,
                "Event processed",
                Some(dedup_key),
            )
        }
        Err(e) => store_failure(&state, KIND_EVENT, e),
    }
}

/// Send a change event (a deploy, a config change). Recorded on the service; never pages.
#[utoipa::path(post, path = "/v2/change/enqueue", tag = "ingest",
    request_body(content = Object, description = "A PagerDuty change event"),
    params(("X-Routing-Key" = Option<String>, Header, description = "Routing key, when not in the body")),
    responses(
        (status = 202, description = "Stored durably", body = EnqueueAccepted),
        (status = 400, description = "Invalid event or unknown routing key", body = EnqueueRejected),
        (status = 413, description = "Body over 512 KB", body = EnqueueRejected)))]
pub async fn change_enqueue(State(state): State<AppState>, req: Request) -> Response {
    let started = Instant::now();
    let parsed = match parse_body(req, &state, KIND_CHANGE, parse_change).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let key_hash = hash_secret(&parsed.routing_key);
    match state
        .store
        .ingest()
        .change(&key_hash, parsed, state.clock.now())
        .await
    {
        Ok(_) => accepted(
            &state,
            KIND_CHANGE,
            "recorded",
            started,
            "Change event processed",
            None,
        ),
        Err(e) => store_failure(&state, KIND_CHANGE, e),
    }
}
