//! Operations endpoints and the shared fallbacks.

use super::AppState;
use super::error::{ApiError, ErrorCode, ErrorResponse};
use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

/// Liveness: the process answers.
#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, description = "Alive", body = Object)))]
pub async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok" }))
}

/// Readiness: the database answers.
#[utoipa::path(get, path = "/readyz", tag = "operations", responses(
    (status = 200, description = "Ready", body = Object),
    (status = 503, description = "Database unreachable", body = ErrorResponse)))]
pub async fn readyz(State(state): State<AppState>) -> Result<Json<serde_json::Value>, ApiError> {
    state.app.ping().await.map_err(|e| {
        tracing::warn!(error = %e, "Readiness check failed.");
        ApiError::new(ErrorCode::Unavailable, "the database is not reachable")
    })?;
    Ok(Json(serde_json::json!({ "status": "ready" })))
}

/// Prometheus metrics in text format.
#[utoipa::path(get, path = "/metrics", tag = "operations", responses((status = 200, description = "Prometheus text format", body = String, content_type = "text/plain")))]
pub async fn metrics(State(state): State<AppState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.app.metrics_text().await,
    )
        .into_response()
}

/// This document.
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "operations", responses((status = 200, description = "OpenAPI 3.1 document", body = Object)))]
pub async fn openapi(State(state): State<AppState>) -> Response {
    let doc = state.openapi.get().cloned().unwrap_or_default();
    ([(header::CONTENT_TYPE, "application/json")], doc).into_response()
}

/// Opsgenie's clients read errors only in Opsgenie's shape, so a path under its API is refused in that shape.
fn in_opsgenie_api(uri: &axum::http::Uri) -> bool {
    uri.path() == "/v2/alerts" || uri.path().starts_with("/v2/alerts/")
}

pub async fn not_found(uri: axum::http::Uri) -> Response {
    if super::alertmanager_api::in_alertmanager_api(&uri) {
        return super::alertmanager_api::refusal(StatusCode::NOT_FOUND, "not found");
    }
    if in_opsgenie_api(&uri) {
        return super::senders::opsgenie_refusal(
            StatusCode::NOT_FOUND,
            "Tocsin does not support this Opsgenie endpoint; it takes create (POST /v2/alerts), \
             acknowledge and close (POST /v2/alerts/{identifier}/acknowledge|close), updates (PUT \
             /v2/alerts/{identifier}/message|description|priority), get alert \
             (GET /v2/alerts/{identifier}) and request status (GET /v2/alerts/requests/{requestId})",
        );
    }
    ApiError::new(
        ErrorCode::NotFound,
        "no such endpoint; see /api/v1/openapi.json",
    )
    .into_response()
}

pub async fn method_not_allowed(uri: axum::http::Uri) -> Response {
    if super::alertmanager_api::in_alertmanager_api(&uri) {
        return super::alertmanager_api::refusal(
            StatusCode::METHOD_NOT_ALLOWED,
            "this endpoint does not accept that method",
        );
    }
    if in_opsgenie_api(&uri) {
        return super::senders::opsgenie_refusal(
            StatusCode::METHOD_NOT_ALLOWED,
            "This Opsgenie endpoint does not accept that method",
        );
    }
    ApiError::new(
        ErrorCode::MethodNotAllowed,
        "this endpoint does not accept that method; see /api/v1/openapi.json",
    )
    .into_response()
}

pub fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("A request handler panicked.");
    let mut r = ApiError::new(
        ErrorCode::Internal,
        "internal error; the server log has the details",
    )
    .into_response();
    *r.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    r
}
