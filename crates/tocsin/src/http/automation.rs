//! Runbook automation: runs of runbook steps for an incident, their approval and retries, and the secrets steps'
//! requests use.

use super::AppState;
use super::catalog::Items;
use super::error::{ApiError, ApiResult, ErrorResponse};
use super::extract::{Caller, Json, incident_ref, path_id};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use tocsin_domain::automation::{Run, SecretInfo};
use tocsin_domain::ids::RunId;
use tocsin_domain::refs::Key;

fn run_id(raw: &str) -> Result<RunId, ApiError> {
    path_id(raw, RunId::parse, "run")
}

fn secret_name(raw: &str) -> Result<Key, ApiError> {
    raw.parse::<Key>()
        .map_err(|m| ApiError::field("secret", format!("the secret's name {m}")))
}

/// The incident's runs of runbook steps, newest first.
#[utoipa::path(get, path = "/api/v1/incidents/{incident}/runs", tag = "automation", security(("bearer" = [])),
    params(("incident" = String, Path, description = "Incident ID or number")),
    responses((status = 200, body = Items<Run>), (status = "4XX", body = ErrorResponse)))]
pub async fn list_runs(
    caller: Caller,
    State(s): State<AppState>,
    Path(incident): Path<String>,
) -> ApiResult<axum::Json<Items<Run>>> {
    let items = s
        .app
        .automation()
        .runs(&caller, &incident_ref(&incident)?)
        .await?;
    Ok(axum::Json(Items { items }))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartRun {
    /// The runbook's key.
    #[schema(value_type = String, example = "checkout-latency")]
    pub runbook: Key,
    /// The step's key within it.
    #[schema(value_type = String, example = "restart-workers")]
    pub step: Key,
}

/// Runs a runbook's step for the incident (responders): at once, or once a second responder approves it if
/// the step needs approval. One run of a step per incident at a time.
#[utoipa::path(post, path = "/api/v1/incidents/{incident}/runs", tag = "automation", security(("bearer" = [])),
    request_body = StartRun,
    params(("incident" = String, Path, description = "Incident ID or number")),
    responses((status = 201, body = Run), (status = "4XX", body = ErrorResponse)))]
pub async fn start_run(
    caller: Caller,
    State(s): State<AppState>,
    Path(incident): Path<String>,
    Json(body): Json<StartRun>,
) -> ApiResult<(StatusCode, axum::Json<Run>)> {
    let run = s
        .app
        .automation()
        .start(
            &caller,
            &incident_ref(&incident)?,
            &body.runbook,
            &body.step,
        )
        .await?;
    Ok((StatusCode::CREATED, axum::Json(run)))
}

/// A run: its step as asked for, who asked and approved, how it ended and its output.
#[utoipa::path(get, path = "/api/v1/runs/{run}", tag = "automation", security(("bearer" = [])),
    params(("run" = String, Path, description = "The run's ID")),
    responses((status = 200, body = Run), (status = "4XX", body = ErrorResponse)))]
pub async fn get_run(
    caller: Caller,
    State(s): State<AppState>,
    Path(run): Path<String>,
) -> ApiResult<axum::Json<Run>> {
    Ok(axum::Json(
        s.app.automation().run(&caller, &run_id(&run)?).await?,
    ))
}

/// Approves a run awaiting approval: a responder other than whoever asked for it.
#[utoipa::path(post, path = "/api/v1/runs/{run}/approve", tag = "automation", security(("bearer" = [])),
    params(("run" = String, Path, description = "The run's ID")),
    responses((status = 200, body = Run), (status = "4XX", body = ErrorResponse)))]
pub async fn approve_run(
    caller: Caller,
    State(s): State<AppState>,
    Path(run): Path<String>,
) -> ApiResult<axum::Json<Run>> {
    Ok(axum::Json(
        s.app
            .automation()
            .decide(&caller, &run_id(&run)?, true)
            .await?,
    ))
}

/// Declines a run awaiting approval; whoever asked for it may decline it to withdraw it.
#[utoipa::path(post, path = "/api/v1/runs/{run}/decline", tag = "automation", security(("bearer" = [])),
    params(("run" = String, Path, description = "The run's ID")),
    responses((status = 200, body = Run), (status = "4XX", body = ErrorResponse)))]
pub async fn decline_run(
    caller: Caller,
    State(s): State<AppState>,
    Path(run): Path<String>,
) -> ApiResult<axum::Json<Run>> {
    Ok(axum::Json(
        s.app
            .automation()
            .decide(&caller, &run_id(&run)?, false)
            .await?,
    ))
}

/// Runs a failed, timed-out or interrupted run's step again, with the same idempotency key, so that a receiver
/// that did the work the first time can tell.
#[utoipa::path(post, path = "/api/v1/runs/{run}/retry", tag = "automation", security(("bearer" = [])),
    params(("run" = String, Path, description = "The run's ID")),
    responses((status = 201, body = Run), (status = "4XX", body = ErrorResponse)))]
pub async fn retry_run(
    caller: Caller,
    State(s): State<AppState>,
    Path(run): Path<String>,
) -> ApiResult<(StatusCode, axum::Json<Run>)> {
    let run = s.app.automation().retry(&caller, &run_id(&run)?).await?;
    Ok((StatusCode::CREATED, axum::Json(run)))
}

/// The secrets runbook steps' requests may use, by name (admins); never their values.
#[utoipa::path(get, path = "/api/v1/automation/secrets", tag = "automation", security(("bearer" = [])),
    responses((status = 200, body = Items<SecretInfo>), (status = "4XX", body = ErrorResponse)))]
pub async fn list_secrets(
    caller: Caller,
    State(s): State<AppState>,
) -> ApiResult<axum::Json<Items<SecretInfo>>> {
    let items = s.app.automation().secrets(&caller).await?;
    Ok(axum::Json(Items { items }))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SecretValue {
    /// Stored sealed; steps use it as `{{secret.<name>}}`.
    pub value: String,
}

/// Sets a secret (admins), e.g. an automation system's API token; it is sealed at rest and never shown again.
#[utoipa::path(put, path = "/api/v1/automation/secrets/{secret}", tag = "automation", security(("bearer" = [])),
    request_body = SecretValue,
    params(("secret" = String, Path, description = "The secret's name: lowercase letters, digits and dashes")),
    responses((status = 200, body = SecretInfo), (status = "4XX", body = ErrorResponse)))]
pub async fn put_secret(
    caller: Caller,
    State(s): State<AppState>,
    Path(secret): Path<String>,
    Json(body): Json<SecretValue>,
) -> ApiResult<axum::Json<SecretInfo>> {
    let name = secret_name(&secret)?;
    Ok(axum::Json(
        s.app
            .automation()
            .put_secret(&caller, name, body.value)
            .await?,
    ))
}

/// Removes a secret (admins); refused while a runbook's steps use it.
#[utoipa::path(delete, path = "/api/v1/automation/secrets/{secret}", tag = "automation", security(("bearer" = [])),
    params(("secret" = String, Path, description = "The secret's name")),
    responses((status = 204), (status = "4XX", body = ErrorResponse)))]
pub async fn delete_secret(
    caller: Caller,
    State(s): State<AppState>,
    Path(secret): Path<String>,
) -> ApiResult<StatusCode> {
    s.app
        .automation()
        .delete_secret(&caller, &secret_name(&secret)?)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
