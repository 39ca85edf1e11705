//! Runbooks: Markdown documents kept with their versions, and the ones an incident shows.

use super::AppState;
use super::catalog::Items;
use super::error::{ApiError, ApiResult, ErrorResponse};
use super::extract::{Caller, Json, Query, incident_ref, path_id};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use tocsin_domain::refs::Key;
use tocsin_domain::runbooks::{Runbook, RunbookSpec, RunbookSummary, RunbookVersion};

fn runbook_key(raw: &str) -> Result<Key, ApiError> {
    path_id(raw, |r| r.parse().ok(), "runbook")
}

/// Every runbook at its current version, by title, without bodies.
#[utoipa::path(get, path = "/api/v1/runbooks", tag = "runbooks", security(("bearer" = [])),
    responses((status = 200, body = Items<RunbookSummary>), (status = "4XX", body = ErrorResponse)))]
pub async fn list_runbooks(
    caller: Caller,
    State(s): State<AppState>,
) -> ApiResult<axum::Json<Items<RunbookSummary>>> {
    let items = s.app.runbooks().list(&caller).await?;
    Ok(axum::Json(Items { items }))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct VersionQuery {
    /// A version still kept (the newest 100 are); the current one if left out.
    pub version: Option<u32>,
}

/// A runbook with its Markdown body, at its current version or at `version`.
#[utoipa::path(get, path = "/api/v1/runbooks/{runbook}", tag = "runbooks", security(("bearer" = [])),
    params(("runbook" = String, Path, description = "The runbook's key"), VersionQuery),
    responses((status = 200, body = Runbook), (status = "4XX", body = ErrorResponse)))]
pub async fn get_runbook(
    caller: Caller,
    State(s): State<AppState>,
    Path(runbook): Path<String>,
    Query(q): Query<VersionQuery>,
) -> ApiResult<axum::Json<Runbook>> {
    let key = runbook_key(&runbook)?;
    Ok(axum::Json(
        s.app.runbooks().get(&caller, &key, q.version).await?,
    ))
}

/// Creates a runbook or writes its next version (admins). Writing what is there already writes no version.
#[utoipa::path(put, path = "/api/v1/runbooks/{runbook}", tag = "runbooks", security(("bearer" = [])),
    request_body = RunbookSpec,
    params(("runbook" = String, Path, description = "The runbook's key: lowercase letters, digits and dashes")),
    responses((status = 200, body = Runbook), (status = "4XX", body = ErrorResponse)))]
pub async fn put_runbook(
    caller: Caller,
    State(s): State<AppState>,
    Path(runbook): Path<String>,
    Json(spec): Json<RunbookSpec>,
) -> ApiResult<axum::Json<Runbook>> {
    let key = runbook
        .parse::<Key>()
        .map_err(|m| ApiError::field("runbook", format!("the runbook's key {m}")))?;
    Ok(axum::Json(
        s.app.runbooks().put(&caller, key, spec, None).await?,
    ))
}

/// Removes a runbook with all its versions (admins).
#[utoipa::path(delete, path = "/api/v1/runbooks/{runbook}", tag = "runbooks", security(("bearer" = [])),
    params(("runbook" = String, Path, description = "The runbook's key")),
    responses((status = 204), (status = "4XX", body = ErrorResponse)))]
pub async fn delete_runbook(
    caller: Caller,
    State(s): State<AppState>,
    Path(runbook): Path<String>,
) -> ApiResult<StatusCode> {
    s.app
        .runbooks()
        .delete(&caller, &runbook_key(&runbook)?)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The versions of a runbook still kept, newest first.
#[utoipa::path(get, path = "/api/v1/runbooks/{runbook}/versions", tag = "runbooks", security(("bearer" = [])),
    params(("runbook" = String, Path, description = "The runbook's key")),
    responses((status = 200, body = Items<RunbookVersion>), (status = "4XX", body = ErrorResponse)))]
pub async fn runbook_versions(
    caller: Caller,
    State(s): State<AppState>,
    Path(runbook): Path<String>,
) -> ApiResult<axum::Json<Items<RunbookVersion>>> {
    let items = s
        .app
        .runbooks()
        .versions(&caller, &runbook_key(&runbook)?)
        .await?;
    Ok(axum::Json(Items { items }))
}

/// The runbooks the incident shows: its services' and those whose matchers accept one of its alerts.
#[utoipa::path(get, path = "/api/v1/incidents/{incident}/runbooks", tag = "runbooks", security(("bearer" = [])),
    params(("incident" = String, Path, description = "Incident ID or number")),
    responses((status = 200, body = Items<Runbook>), (status = "4XX", body = ErrorResponse)))]
pub async fn incident_runbooks(
    caller: Caller,
    State(s): State<AppState>,
    Path(incident): Path<String>,
) -> ApiResult<axum::Json<Items<Runbook>>> {
    let items = s
        .app
        .runbooks()
        .of_incident(&caller, &incident_ref(&incident)?)
        .await?;
    Ok(axum::Json(Items { items }))
}
