//! Rules, silences and maintenance windows: what keeps an alert from paging.

use super::AppState;
use super::catalog::Items;
use super::error::{ApiResult, ErrorResponse};
use super::extract::ServiceRef;
use super::extract::{Caller, Json, Query, path_id};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
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
    Ok(axum::Json(Items {
        items: s.app.noise().rules(&caller).await?,
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
    let rule = s.app.noise().create_rule(&caller, spec).await?;
    Ok((StatusCode::CREATED, axum::Json(rule)))
}

#[utoipa::path(get, path = "/api/v1/rules/{id}", tag = "noise", security(("bearer" = [])), params(("id" = String, Path, description = "Rule ID")),
    responses((status = 200, body = Rule), (status = "4XX", body = ErrorResponse)))]
pub async fn get_rule(
    caller: Caller,
    State(s): State<AppState>,
    Path(raw): Path<String>,
) -> ApiResult<axum::Json<Rule>> {
    Ok(axum::Json(
        s.app
            .noise()
            .get_rule(&caller, &path_id(&raw, RuleId::parse, "rule")?)
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
    let rule = s
        .app
        .noise()
        .replace_rule(&caller, &path_id(&raw, RuleId::parse, "rule")?, spec)
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
    s.app
        .noise()
        .delete_rule(&caller, &path_id(&raw, RuleId::parse, "rule")?)
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
    let now = s.app.now();
    let items = s
        .app
        .noise()
        .silences(&caller)
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
    let now = s.app.now();
    let silence = s.app.noise().create_silence(&caller, spec).await?;
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
    let silence = s
        .app
        .noise()
        .get_silence(&caller, &path_id(&raw, SilenceId::parse, "silence")?)
        .await?;
    Ok(axum::Json(SilenceView::new(silence, s.app.now())))
}

/// Expires a silence now.
#[utoipa::path(delete, path = "/api/v1/silences/{id}", tag = "noise", security(("bearer" = [])), params(("id" = String, Path, description = "Silence ID")),
    responses((status = 200, body = SilenceView), (status = "4XX", body = ErrorResponse)))]
pub async fn expire_silence(
    caller: Caller,
    State(s): State<AppState>,
    Path(raw): Path<String>,
) -> ApiResult<axum::Json<SilenceView>> {
    let now = s.app.now();
    let silence = s
        .app
        .noise()
        .expire_silence(&caller, &path_id(&raw, SilenceId::parse, "silence")?)
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
    let silence = s
        .app
        .noise()
        .extend_silence(
            &caller,
            &path_id(&raw, SilenceId::parse, "silence")?,
            req.ends_at,
        )
        .await?;
    Ok(axum::Json(SilenceView::new(silence, s.app.now())))
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
#[into_params(parameter_in = Query)]
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
    let now = s.app.now();
    let items = s
        .app
        .noise()
        .maintenance(&caller, q.service.as_deref().map(ServiceRef::parse))
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
    let now = s.app.now();
    let window = s.app.noise().create_maintenance(&caller, spec).await?;
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
    let window = s
        .app
        .noise()
        .get_maintenance(
            &caller,
            &path_id(&raw, MaintenanceId::parse, "maintenance window")?,
        )
        .await?;
    Ok(axum::Json(MaintenanceView::new(window, s.app.now())))
}

#[utoipa::path(delete, path = "/api/v1/maintenance/{id}", tag = "noise", security(("bearer" = [])), params(("id" = String, Path, description = "Maintenance window ID")),
    responses((status = 204), (status = "4XX", body = ErrorResponse)))]
pub async fn delete_maintenance(
    caller: Caller,
    State(s): State<AppState>,
    Path(raw): Path<String>,
) -> ApiResult<StatusCode> {
    s.app
        .noise()
        .delete_maintenance(
            &caller,
            &path_id(&raw, MaintenanceId::parse, "maintenance window")?,
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
