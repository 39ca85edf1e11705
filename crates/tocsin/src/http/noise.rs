//! Rules, silences and maintenance windows: what keeps an alert from paging.

use super::AppState;
use super::catalog::Items;
use super::error::{ApiResult, ErrorResponse};
use super::extract::{Caller, Json, Query, path_id};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tocsin_domain::auth::Scope;
use tocsin_domain::ids::{MaintenanceId, RuleId, SilenceId};
use tocsin_domain::noise::{
    MaintenanceSpec, MaintenanceWindow, Rule, RuleSpec, Silence, SilenceSpec, SilenceState,
};

#[utoipa::path(get, path = "/api/v1/rules", tag = "noise", security(("bearer" = [])),
    responses((status = 200, body = Items<Rule>), (status = "4XX", body = ErrorResponse)))]
pub async fn list_rules(
    caller: Caller,
    State(s): State<AppState>,
) -> ApiResult<axum::Json<Items<Rule>>> {
    caller.require(Scope::Read)?;
    Ok(axum::Json(Items {
        items: s.store.noise().rules().await?,
    }))
}

/// Adds a rule; rules run on every trigger in ascending `position`.
#[utoipa::path(post, path = "/api/v1/rules", tag = "noise", security(("bearer" = [])), request_body = RuleSpec,
    responses((status = 201, body = Rule), (status = "4XX", body = ErrorResponse)))]
pub async fn create_rule(
    caller: Caller,
    State(s): State<AppState>,
    Json(spec): Json<RuleSpec>,
) -> ApiResult<(StatusCode, axum::Json<Rule>)> {
    caller.require(Scope::Write)?;
    let rule = s.store.noise().create_rule(spec, s.clock.now()).await?;
    Ok((StatusCode::CREATED, axum::Json(rule)))
}

#[utoipa::path(get, path = "/api/v1/rules/{id}", tag = "noise", security(("bearer" = [])), params(("id" = String, Path, description = "Rule ID")),
    responses((status = 200, body = Rule), (status = "4XX", body = ErrorResponse)))]
pub async fn get_rule(
    caller: Caller,
    State(s): State<AppState>,
    Path(raw): Path<String>,
) -> ApiResult<axum::Json<Rule>> {
    caller.require(Scope::Read)?;
    Ok(axum::Json(
        s.store
            .noise()
            .get_rule(&path_id(&raw, RuleId::parse, "rule")?)
            .await?,
    ))
}

#[utoipa::path(put, path = "/api/v1/rules/{id}", tag = "noise", security(("bearer" = [])), params(("id" = String, Path, description = "Rule ID")),
    request_body = RuleSpec, responses((status = 200, body = Rule), (status = "4XX", body = ErrorResponse)))]
pub async fn replace_rule(
    caller: Caller,
    State(s): State<AppState>,
    Path(raw): Path<String>,
    Json(spec): Json<RuleSpec>,
) -> ApiResult<axum::Json<Rule>> {
    caller.require(Scope::Write)?;
    let rule = s
        .store
        .noise()
        .replace_rule(&path_id(&raw, RuleId::parse, "rule")?, spec, s.clock.now())
        .await?;
    Ok(axum::Json(rule))
}

#[utoipa::path(delete, path = "/api/v1/rules/{id}", tag = "noise", security(("bearer" = [])), params(("id" = String, Path, description = "Rule ID")),
    responses((status = 204), (status = "4XX", body = ErrorResponse)))]
pub async fn delete_rule(
    caller: Caller,
    State(s): State<AppState>,
    Path(raw): Path<String>,
) -> ApiResult<StatusCode> {
    caller.require(Scope::Write)?;
    s.store
        .noise()
        .delete_rule(&path_id(&raw, RuleId::parse, "rule")?)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A silence and whether it is pending, active or expired now.
#[derive(Serialize, utoipa::ToSchema)]
pub struct SilenceView {
    #[serde(flatten)]
    silence: Silence,
    state: SilenceState,
}

impl SilenceView {
    fn new(silence: Silence, now: DateTime<Utc>) -> Self {
        let state = silence.state(now);
        Self { silence, state }
    }
}

#[utoipa::path(get, path = "/api/v1/silences", tag = "noise", security(("bearer" = [])),
    responses((status = 200, body = Items<SilenceView>), (status = "4XX", body = ErrorResponse)))]
pub async fn list_silences(
    caller: Caller,
    State(s): State<AppState>,
) -> ApiResult<axum::Json<Items<SilenceView>>> {
    caller.require(Scope::Read)?;
    let now = s.clock.now();
    let items = s
        .store
        .noise()
        .silences()
        .await?
        .into_iter()
        .map(|x| SilenceView::new(x, now))
        .collect();
    Ok(axum::Json(Items { items }))
}

/// Silences alerts matching every matcher from `starts_at` until `ends_at`, with a comment saying why.
#[utoipa::path(post, path = "/api/v1/silences", tag = "noise", security(("bearer" = [])), request_body = SilenceSpec,
    responses((status = 201, body = SilenceView), (status = "4XX", body = ErrorResponse)))]
pub async fn create_silence(
    caller: Caller,
    State(s): State<AppState>,
    Json(spec): Json<SilenceSpec>,
) -> ApiResult<(StatusCode, axum::Json<SilenceView>)> {
    caller.require(Scope::Write)?;
    let now = s.clock.now();
    let silence = s
        .store
        .noise()
        .create_silence(spec, caller.actor().name, now)
        .await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(SilenceView::new(silence, now)),
    ))
}

#[utoipa::path(get, path = "/api/v1/silences/{id}", tag = "noise", security(("bearer" = [])), params(("id" = String, Path, description = "Silence ID")),
    responses((status = 200, body = SilenceView), (status = "4XX", body = ErrorResponse)))]
pub async fn get_silence(
    caller: Caller,
    State(s): State<AppState>,
    Path(raw): Path<String>,
) -> ApiResult<axum::Json<SilenceView>> {
    caller.require(Scope::Read)?;
    let silence = s
        .store
        .noise()
        .get_silence(&path_id(&raw, SilenceId::parse, "silence")?)
        .await?;
    Ok(axum::Json(SilenceView::new(silence, s.clock.now())))
}

/// Expires a silence now.
#[utoipa::path(delete, path = "/api/v1/silences/{id}", tag = "noise", security(("bearer" = [])), params(("id" = String, Path, description = "Silence ID")),
    responses((status = 200, body = SilenceView), (status = "4XX", body = ErrorResponse)))]
pub async fn expire_silence(
    caller: Caller,
    State(s): State<AppState>,
    Path(raw): Path<String>,
) -> ApiResult<axum::Json<SilenceView>> {
    caller.require(Scope::Write)?;
    let now = s.clock.now();
    let silence = s
        .store
        .noise()
        .expire_silence(&path_id(&raw, SilenceId::parse, "silence")?, now)
        .await?;
    Ok(axum::Json(SilenceView::new(silence, now)))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExtendSilence {
    ends_at: DateTime<Utc>,
}

/// Moves a silence's end.
#[utoipa::path(post, path = "/api/v1/silences/{id}/extend", tag = "noise", security(("bearer" = [])),
    params(("id" = String, Path, description = "Silence ID")), request_body = ExtendSilence,
    responses((status = 200, body = SilenceView), (status = "4XX", body = ErrorResponse)))]
pub async fn extend_silence(
    caller: Caller,
    State(s): State<AppState>,
    Path(raw): Path<String>,
    Json(req): Json<ExtendSilence>,
) -> ApiResult<axum::Json<SilenceView>> {
    caller.require(Scope::Write)?;
    let silence = s
        .store
        .noise()
        .extend_silence(&path_id(&raw, SilenceId::parse, "silence")?, req.ends_at)
        .await?;
    Ok(axum::Json(SilenceView::new(silence, s.clock.now())))
}

/// A maintenance window, whether it is open now, and when it next opens.
#[derive(Serialize, utoipa::ToSchema)]
pub struct MaintenanceView {
    #[serde(flatten)]
    window: MaintenanceWindow,
    active: bool,
    next_starts_at: Option<DateTime<Utc>>,
}

impl MaintenanceView {
    fn new(window: MaintenanceWindow, now: DateTime<Utc>) -> Self {
        Self {
            active: window.is_active(now),
            next_starts_at: window.next_occurrence(now),
            window,
        }
    }
}

#[derive(Deserialize, utoipa::IntoParams)]
pub struct MaintenanceQuery {
    /// Only this service's windows (ID or name).
    service: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/maintenance", tag = "noise", security(("bearer" = [])), params(MaintenanceQuery),
    responses((status = 200, body = Items<MaintenanceView>), (status = "4XX", body = ErrorResponse)))]
pub async fn list_maintenance(
    caller: Caller,
    State(s): State<AppState>,
    Query(q): Query<MaintenanceQuery>,
) -> ApiResult<axum::Json<Items<MaintenanceView>>> {
    caller.require(Scope::Read)?;
    let now = s.clock.now();
    let items = s
        .store
        .noise()
        .maintenance(q.service)
        .await?
        .into_iter()
        .map(|w| MaintenanceView::new(w, now))
        .collect();
    Ok(axum::Json(Items { items }))
}

/// Plans maintenance on a service, once or recurring (RRULE or cron): its alerts are recorded but page no one
/// while a window is open.
#[utoipa::path(post, path = "/api/v1/maintenance", tag = "noise", security(("bearer" = [])), request_body = MaintenanceSpec,
    responses((status = 201, body = MaintenanceView), (status = "4XX", body = ErrorResponse)))]
pub async fn create_maintenance(
    caller: Caller,
    State(s): State<AppState>,
    Json(spec): Json<MaintenanceSpec>,
) -> ApiResult<(StatusCode, axum::Json<MaintenanceView>)> {
    caller.require(Scope::Write)?;
    let now = s.clock.now();
    let window = s.store.noise().create_maintenance(spec, now).await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(MaintenanceView::new(window, now)),
    ))
}

#[utoipa::path(get, path = "/api/v1/maintenance/{id}", tag = "noise", security(("bearer" = [])), params(("id" = String, Path, description = "Maintenance window ID")),
    responses((status = 200, body = MaintenanceView), (status = "4XX", body = ErrorResponse)))]
pub async fn get_maintenance(
    caller: Caller,
    State(s): State<AppState>,
    Path(raw): Path<String>,
) -> ApiResult<axum::Json<MaintenanceView>> {
    caller.require(Scope::Read)?;
    let window = s
        .store
        .noise()
        .get_maintenance(&path_id(&raw, MaintenanceId::parse, "maintenance window")?)
        .await?;
    Ok(axum::Json(MaintenanceView::new(window, s.clock.now())))
}

#[utoipa::path(delete, path = "/api/v1/maintenance/{id}", tag = "noise", security(("bearer" = [])), params(("id" = String, Path, description = "Maintenance window ID")),
    responses((status = 204), (status = "4XX", body = ErrorResponse)))]
pub async fn delete_maintenance(
    caller: Caller,
    State(s): State<AppState>,
    Path(raw): Path<String>,
) -> ApiResult<StatusCode> {
    caller.require(Scope::Write)?;
    s.store
        .noise()
        .delete_maintenance(&path_id(&raw, MaintenanceId::parse, "maintenance window")?)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
