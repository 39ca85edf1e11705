//! PagerDuty Events API v2: `/v2/enqueue` and `/v2/change/enqueue`, answered in PagerDuty's own formats so that
//! any PagerDuty sender works by changing its URL.
//!
//! The 202 goes out only after the store has committed the event (see `tocsin_store::sqlite`).

use super::AppState;
use super::extract::sender_body;
use super::senders::{Refusal, admit, set_retry_after, store_batch};
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use std::time::Instant;
use tocsin_app::Over;
use tocsin_domain::integration::IntegrationKind;
use tocsin_domain::pagerduty::{parse_change, parse_enqueue};
use tocsin_domain::senders::Batch;

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
) -> Result<(T, Bytes), Response> {
    let invalid = |status: StatusCode, errors: Vec<String>| {
        state.app.ingest().count(kind, "invalid");
        rejected(status, "Event object is invalid", errors)
    };
    let header_key = header_routing_key(req.headers()).map(str::to_owned);
    let bytes = sender_body(req, state)
        .await
        .map_err(|e| invalid(e.0.code.status(), vec![e.0.message]))?;
    let value = serde_json::from_slice(&bytes).map_err(|e| {
        invalid(
            StatusCode::BAD_REQUEST,
            vec![format!("Could not parse JSON: {e}")],
        )
    })?;
    let parsed = parse(&value, header_key.as_deref())
        .map_err(|errors| invalid(StatusCode::BAD_REQUEST, errors))?;
    Ok((parsed, bytes))
}

/// A refused key or rate, answered the way PagerDuty does (counted where it was refused).
fn refused(r: Refusal) -> Response {
    let invalid_key = |why: String| {
        rejected(
            StatusCode::BAD_REQUEST,
            "Event object is invalid",
            vec![format!("'routing_key' is invalid ({why})")],
        )
    };
    match r {
        Refusal::NoKey | Refusal::UnknownKey => invalid_key(
            "not an active integration key; check the key or create an integration".into(),
        ),
        Refusal::WrongKind(actual) => invalid_key(format!(
            "it belongs to a {actual} integration, which has its own URL"
        )),
        Refusal::Limited(over, wait) => {
            let message = match over {
                Over::Integration => {
                    "Requests for this service are arriving too quickly. Please retry later."
                }
                Over::Server => {
                    "Tocsin is taking in more events than its ingest budget allows. Please retry later."
                }
            };
            let body = serde_json::json!({ "status": "throttle event", "message": message });
            let mut resp = (StatusCode::TOO_MANY_REQUESTS, Json(body)).into_response();
            set_retry_after(&mut resp, wait);
            resp
        }
        // Already counted and logged where it happened; 5xx makes senders retry.
        Refusal::Api(e) => (
            e.0.code.status(),
            Json(serde_json::json!({ "status": "error", "message": e.0.message })),
        )
            .into_response(),
        Refusal::Invalid(v) => rejected(
            StatusCode::BAD_REQUEST,
            "Event object is invalid",
            v.0.iter().map(ToString::to_string).collect(),
        ),
    }
}

fn accepted(
    state: &AppState,
    kind: &str,
    outcome: &str,
    started: Instant,
    message: &'static str,
    dedup_key: Option<String>,
) -> Response {
    state.app.ingest().count(kind, outcome);
    state.app.ingest().observe_latency(kind, started);
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

/// A store that failed (counted where it failed), answered the way PagerDuty does.
fn store_failure(detail: impl std::fmt::Display) -> Response {
    tracing::error!(error = %detail, "Ingest failed.");
    // 5xx makes senders retry, which is what they should do.
    (StatusCode::SERVICE_UNAVAILABLE, Json(serde_json::json!({ "status": "error", "message": "Tocsin could not store the event; retry" })))
        .into_response()
}

/// Send an alert event (trigger, acknowledge, resolve).
#[utoipa::path(post, path = "/v2/enqueue", tag = "ingest",
    request_body(content = Object, description = "A PagerDuty Events API v2 event"),
    params(("X-Routing-Key" = Option<String>, Header, description = "Routing key, when not in the body")),
    responses(
        (status = 202, description = "Stored durably", body = EnqueueAccepted),
        (status = 400, description = "Invalid event or unknown routing key", body = EnqueueRejected),
        (status = 413, description = "Body over 512 KB", body = EnqueueRejected),
        (status = 415, description = "The body is not declared as JSON", body = EnqueueRejected),
        (status = 429, description = "Over the integration's rate limit or the server's ingest budget; retry after Retry-After", body = Object),
        (status = 503, description = "Not stored; retry")))]
pub async fn enqueue(State(state): State<AppState>, req: Request) -> Response {
    let started = Instant::now();
    let (parsed, body) = match parse_body(req, &state, KIND_EVENT, parse_enqueue).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let (integration, key_hash) =
        match admit(&state, IntegrationKind::Pagerduty, Some(parsed.routing_key)).await {
            Ok(found) => found,
            Err(r) => return refused(r),
        };
    let dedup_key = parsed.event.dedup_key.clone();
    match store_batch(
        &state,
        &integration,
        &key_hash,
        Batch::new(vec![parsed.event]),
        &body,
        started,
    )
    .await
    {
        Ok(_) => (
            StatusCode::ACCEPTED,
            Json(EnqueueAccepted {
                status: "success",
                message: "Event processed",
                dedup_key: Some(dedup_key),
            }),
        )
            .into_response(),
        Err(r) => refused(r),
    }
}

/// Send a change event (a deploy, a config change). Recorded on the service; never pages.
#[utoipa::path(post, path = "/v2/change/enqueue", tag = "ingest",
    request_body(content = Object, description = "A PagerDuty change event"),
    params(("X-Routing-Key" = Option<String>, Header, description = "Routing key, when not in the body")),
    responses(
        (status = 202, description = "Stored durably", body = EnqueueAccepted),
        (status = 400, description = "Invalid event or unknown routing key", body = EnqueueRejected),
        (status = 413, description = "Body over 512 KB", body = EnqueueRejected),
        (status = 415, description = "The body is not declared as JSON", body = EnqueueRejected),
        (status = 429, description = "Over the integration's rate limit or the server's ingest budget; retry after Retry-After", body = Object),
        (status = 503, description = "Not stored; retry")))]
pub async fn change_enqueue(State(state): State<AppState>, req: Request) -> Response {
    let started = Instant::now();
    let (parsed, _) = match parse_body(req, &state, KIND_CHANGE, parse_change).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let (integration, key_hash) = match admit(
        &state,
        IntegrationKind::Pagerduty,
        Some(parsed.routing_key.clone()),
    )
    .await
    {
        Ok(found) => found,
        Err(r) => return refused(r),
    };
    match state
        .app
        .ingest()
        .change(&integration, &key_hash, parsed)
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
        Err(tocsin_app::Refusal::Failed(e)) => store_failure(e),
        Err(r) => refused(r.into()),
    }
}
