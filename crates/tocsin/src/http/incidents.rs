//! Incidents, their timeline, and alerts.

use super::AppState;
use super::catalog::Items;
use super::error::{ApiError, ApiResult, ErrorCode, ErrorResponse};
use super::extract::{Caller, Json, Query, path_id};
use super::extract::{ServiceRef, incident_ref};
use super::warnings::warned;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::str::FromStr;
use tocsin_domain::alert::{Alert, AlertStatus};
use tocsin_domain::ids::{AlertId, IncidentId, IntegrationId};
use tocsin_domain::incident::{Actor, Incident, IncidentStatus, TimelineKind};
use tocsin_domain::severity::{Severity, SeverityLevel, SeverityLevelChange};
use tocsin_store::{
    AlertEventRecord, AlertFilter, ChangeRecord, IncidentChanges, IncidentFilter, NewIncident,
    Page, TimelineRecord,
};

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct IncidentQuery {
    /// Comma-separated statuses: triggered, acknowledged, resolved.
    status: Option<String>,
    /// Comma-separated severities, e.g. `SEV-0,SEV-1`.
    severity: Option<String>,
    /// Service ID or name.
    service: Option<String>,
    /// Team ID or name: incidents on the services it owns.
    team: Option<String>,
    /// Opened at or after this time (RFC 3339).
    since: Option<String>,
    /// Opened before this time (RFC 3339).
    until: Option<String>,
    /// Page size (default 50, max 500).
    limit: Option<u32>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

fn list_of<T: FromStr<Err = String>>(
    field: &str,
    raw: &Option<String>,
) -> Result<Vec<T>, ApiError> {
    raw.iter()
        .flat_map(|r| r.split(','))
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().map_err(|e: String| ApiError::field(field, e)))
        .collect()
}

pub(super) fn time(field: &str, raw: &Option<String>) -> Result<Option<DateTime<Utc>>, ApiError> {
    raw.as_deref()
        .map(|s| {
            DateTime::parse_from_rfc3339(s)
                .map(|t| t.with_timezone(&Utc))
                .map_err(|_| {
                    ApiError::field(
                        field,
                        format!("{s:?} is not an RFC 3339 time such as 2026-11-23T10:00:00Z"),
                    )
                })
        })
        .transpose()
}

#[utoipa::path(get, path = "/api/v1/incidents", tag = "incidents", security(("bearer" = [])), params(IncidentQuery),
    responses((status = 200, body = Page<Incident>), (status = "4XX", body = ErrorResponse)))]
pub async fn list_incidents(
    caller: Caller,
    State(s): State<AppState>,
    Query(q): Query<IncidentQuery>,
) -> ApiResult<axum::Json<Page<Incident>>> {
    let filter = IncidentFilter {
        statuses: list_of::<IncidentStatus>("status", &q.status)?,
        severities: list_of::<Severity>("severity", &q.severity)?,
        service: q.service.as_deref().map(ServiceRef::parse),
        team: q.team.as_deref().map(tocsin_domain::refs::TeamRef::parse),
        created_after: time("since", &q.since)?,
        created_before: time("until", &q.until)?,
        limit: q.limit.unwrap_or(0),
        cursor: q.cursor,
        numbers: Vec::new(),
    };
    Ok(axum::Json(s.app.incidents().list(&caller, filter).await?))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeclareIncident {
    /// Kept to its first 255 characters.
    #[schema(pattern = "^[^\\u0000]*\\S[^\\u0000]*$")]
    title: String,
    #[serde(default)]
    description: String,
    severity: Severity,
    /// Affected services, by ID or name.
    #[serde(default)]
    services: Vec<String>,
}

/// Declares an incident by hand, without an alert (e.g. from a customer report).
#[utoipa::path(post, path = "/api/v1/incidents", tag = "incidents", security(("bearer" = [])), request_body = DeclareIncident,
    responses((status = 201, body = Incident, headers(("Warning" = String, description = "What the change leaves that cannot page, as `299 tocsin \"text\"`; one header per warning"))), (status = "4XX", body = ErrorResponse)))]
pub async fn declare_incident(
    caller: Caller,
    State(s): State<AppState>,
    Json(req): Json<DeclareIncident>,
) -> ApiResult<Response> {
    let new = NewIncident {
        title: req.title,
        description: req.description,
        severity: req.severity,
        services: req.services.iter().map(|s| ServiceRef::parse(s)).collect(),
    };
    let incident = s.app.incidents().declare(&caller, new).await?;
    Ok(warned(StatusCode::CREATED, incident))
}

#[utoipa::path(get, path = "/api/v1/incidents/{incident}", tag = "incidents", security(("bearer" = [])),
    params(("incident" = String, Path, description = "Incident ID or number")),
    responses((status = 200, body = Incident), (status = "4XX", body = ErrorResponse)))]
pub async fn get_incident(
    caller: Caller,
    State(s): State<AppState>,
    Path(incident): Path<String>,
) -> ApiResult<axum::Json<Incident>> {
    Ok(axum::Json(
        s.app
            .incidents()
            .get(&caller, &incident_ref(&incident)?)
            .await?,
    ))
}

/// What each severity means here and what it asks of responders, SEV-0 first.
#[utoipa::path(get, path = "/api/v1/severities", tag = "incidents", security(("bearer" = [])),
    responses((status = 200, body = Items<SeverityLevel>), (status = "4XX", body = ErrorResponse)))]
pub async fn list_severities(
    caller: Caller,
    State(s): State<AppState>,
) -> ApiResult<axum::Json<Items<SeverityLevel>>> {
    Ok(axum::Json(Items {
        items: s.app.incidents().severity_levels(&caller).await?,
    }))
}

/// Rewords one severity: its name, definition, examples and expectations, how often stakeholders are owed an
/// update (`null` for no cadence), and whether a postmortem is required. Only what is sent changes. Admins only.
#[utoipa::path(patch, path = "/api/v1/severities/{severity}", tag = "incidents", security(("bearer" = [])),
    request_body = SeverityLevelChange,
    params(("severity" = String, Path, description = "SEV-0 to SEV-3")),
    responses((status = 200, body = SeverityLevel), (status = "4XX", body = ErrorResponse)))]
pub async fn set_severity_level(
    caller: Caller,
    State(s): State<AppState>,
    Path(severity): Path<String>,
    Json(change): Json<SeverityLevelChange>,
) -> ApiResult<axum::Json<SeverityLevel>> {
    let severity = severity_in_path(&severity)?;
    if change.is_empty() {
        return Err(ApiError::new(
            ErrorCode::InvalidRequest,
            "nothing to change; send one of name, definition, examples, expectations, update_every_minutes, \
             postmortem_required",
        ));
    }
    Ok(axum::Json(
        s.app
            .incidents()
            .change_severity_level(&caller, severity, change)
            .await?,
    ))
}

fn severity_in_path(raw: &str) -> Result<Severity, ApiError> {
    raw.parse().map_err(|_| {
        ApiError::new(
            ErrorCode::NotFound,
            format!("no severity {raw:?}; there are SEV-0 to SEV-3"),
        )
    })
}

/// Changes an incident's title, description, severity, customer impact, services (`add_services`,
/// `remove_services`), links (`add_links`, `remove_links`), stage or milestones (times by name; null removes
/// `impact_started` or `mitigated`); only what is sent changes, and every change is on the timeline. A rise from low to high urgency before anyone acknowledged pages the current level again.
#[utoipa::path(patch, path = "/api/v1/incidents/{incident}", tag = "incidents", security(("bearer" = [])), request_body = IncidentChanges,
    params(("incident" = String, Path, description = "Incident ID or number")),
    responses((status = 200, body = Incident), (status = "4XX", body = ErrorResponse)))]
pub async fn update_incident(
    caller: Caller,
    State(s): State<AppState>,
    Path(incident): Path<String>,
    Json(changes): Json<IncidentChanges>,
) -> ApiResult<axum::Json<Incident>> {
    if changes.is_empty() {
        return Err(ApiError::new(
            ErrorCode::InvalidRequest,
            "nothing to change; send one of title, description, severity, customer_impact, add_services, \
             remove_services, add_links, remove_links, stage, milestones",
        ));
    }
    Ok(axum::Json(
        s.app
            .incidents()
            .edit(&caller, &incident_ref(&incident)?, changes)
            .await?,
    ))
}

#[utoipa::path(post, path = "/api/v1/incidents/{incident}/acknowledge", tag = "incidents", security(("bearer" = [])),
    params(("incident" = String, Path, description = "Incident ID or number")),
    responses((status = 200, body = Incident), (status = "4XX", body = ErrorResponse)))]
pub async fn acknowledge_incident(
    caller: Caller,
    State(s): State<AppState>,
    Path(incident): Path<String>,
) -> ApiResult<axum::Json<Incident>> {
    Ok(axum::Json(
        s.app
            .incidents()
            .acknowledge(&caller, &incident_ref(&incident)?)
            .await?,
    ))
}

#[utoipa::path(post, path = "/api/v1/incidents/{incident}/resolve", tag = "incidents", security(("bearer" = [])),
    params(("incident" = String, Path, description = "Incident ID or number")),
    responses((status = 200, body = Incident), (status = "4XX", body = ErrorResponse)))]
pub async fn resolve_incident(
    caller: Caller,
    State(s): State<AppState>,
    Path(incident): Path<String>,
) -> ApiResult<axum::Json<Incident>> {
    let resolved = s
        .app
        .incidents()
        .resolve(&caller, &incident_ref(&incident)?)
        .await?;
    Ok(axum::Json(resolved))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MergeIncident {
    /// The incident that carries on: its number (42 or #42) or ID.
    into: String,
}

/// Merges the incident into another, which carries on: its alerts, services and responders move there, its
/// timeline shows in the other's, and it is resolved, pointing at the other (`merged_into`). Answers the
/// incident that carries on.
#[utoipa::path(post, path = "/api/v1/incidents/{incident}/merge", tag = "incidents", security(("bearer" = [])),
    request_body = MergeIncident,
    params(("incident" = String, Path, description = "Incident ID or number: the one merged away")),
    responses((status = 200, body = Incident), (status = "4XX", body = ErrorResponse)))]
pub async fn merge_incident(
    caller: Caller,
    State(s): State<AppState>,
    Path(incident): Path<String>,
    Json(body): Json<MergeIncident>,
) -> ApiResult<axum::Json<Incident>> {
    let into = tocsin_domain::refs::IncidentRef::parse(&body.into).ok_or_else(|| {
        ApiError::field(
            "into",
            "names no incident; give its number (42 or #42) or ID",
        )
    })?;
    let survivor = s
        .app
        .incidents()
        .merge(&caller, &incident_ref(&incident)?, &into)
        .await?;
    Ok(axum::Json(survivor))
}

/// A timeline entry as the API shows it: its kind and facts (`data`), and a sentence saying what happened.
#[derive(Serialize, utoipa::ToSchema)]
pub struct TimelineItem {
    /// Position in the whole timeline store; increases with time.
    pub seq: i64,
    pub incident_id: IncidentId,
    pub at: DateTime<Utc>,
    pub actor: Actor,
    pub kind: TimelineKind,
    /// Worded when shown; Markdown for notes.
    pub message: String,
    /// The facts the entry records, by kind (e.g. `{"from":"SEV-2","to":"SEV-1"}` for `severity_changed`).
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
}

impl From<TimelineRecord> for TimelineItem {
    fn from(r: TimelineRecord) -> Self {
        Self {
            seq: r.seq,
            incident_id: r.incident_id,
            at: r.entry.at,
            message: crate::wording::timeline(&r.entry),
            kind: r.entry.kind(),
            data: r.entry.event.fields(),
            actor: r.entry.actor,
        }
    }
}

#[utoipa::path(get, path = "/api/v1/incidents/{incident}/timeline", tag = "incidents", security(("bearer" = [])),
    params(("incident" = String, Path, description = "Incident ID or number")),
    responses((status = 200, body = Items<TimelineItem>), (status = "4XX", body = ErrorResponse)))]
pub async fn timeline(
    caller: Caller,
    State(s): State<AppState>,
    Path(incident): Path<String>,
) -> ApiResult<axum::Json<Items<TimelineItem>>> {
    let records = s
        .app
        .incidents()
        .timeline(&caller, &incident_ref(&incident)?)
        .await?;
    Ok(axum::Json(Items {
        items: records.into_iter().map(TimelineItem::from).collect(),
    }))
}

/// A change on one of an incident's services.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ServiceChange {
    /// The service's name.
    service: String,
    #[serde(flatten)]
    change: ChangeRecord,
}

/// Changes (deploys, config pushes) on the incident's services from a day before it opened until now, newest
/// first (at most 20): what responders check first, beside the timeline.
#[utoipa::path(get, path = "/api/v1/incidents/{incident}/changes", tag = "incidents", security(("bearer" = [])),
    params(("incident" = String, Path, description = "Incident ID or number")),
    responses((status = 200, body = Items<ServiceChange>), (status = "4XX", body = ErrorResponse)))]
pub async fn recent_changes(
    caller: Caller,
    State(s): State<AppState>,
    Path(incident): Path<String>,
) -> ApiResult<axum::Json<Items<ServiceChange>>> {
    let changes = s
        .app
        .incidents()
        .recent_changes(&caller, &incident_ref(&incident)?)
        .await?;
    Ok(axum::Json(Items {
        items: changes
            .into_iter()
            .map(|(service, change)| ServiceChange { service, change })
            .collect(),
    }))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddNote {
    /// Markdown, at most 65,536 bytes.
    #[schema(pattern = "^[^\\u0000]*\\S[^\\u0000]*$", max_length = 16384)]
    body: String,
}

#[utoipa::path(post, path = "/api/v1/incidents/{incident}/notes", tag = "incidents", security(("bearer" = [])), request_body = AddNote,
    params(("incident" = String, Path, description = "Incident ID or number")),
    responses((status = 201, body = TimelineItem), (status = "4XX", body = ErrorResponse)))]
pub async fn add_note(
    caller: Caller,
    State(s): State<AppState>,
    Path(incident): Path<String>,
    Json(req): Json<AddNote>,
) -> ApiResult<(StatusCode, axum::Json<TimelineItem>)> {
    let note = s
        .app
        .incidents()
        .add_note(&caller, &incident_ref(&incident)?, req.body)
        .await?;
    Ok((StatusCode::CREATED, axum::Json(note.into())))
}

#[utoipa::path(get, path = "/api/v1/incidents/{incident}/alerts", tag = "incidents", security(("bearer" = [])),
    params(("incident" = String, Path, description = "Incident ID or number")),
    responses((status = 200, body = Items<Alert>), (status = "4XX", body = ErrorResponse)))]
pub async fn incident_alerts(
    caller: Caller,
    State(s): State<AppState>,
    Path(incident): Path<String>,
) -> ApiResult<axum::Json<Items<Alert>>> {
    Ok(axum::Json(Items {
        items: s
            .app
            .incidents()
            .alerts(&caller, &incident_ref(&incident)?)
            .await?,
    }))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AlertQuery {
    /// Comma-separated statuses: triggered, acknowledged, resolved.
    status: Option<String>,
    /// Service ID or name.
    service: Option<String>,
    /// Integration ID: only the alerts it sent.
    integration: Option<String>,
    dedup_key: Option<String>,
    /// Created at or after this time (RFC 3339).
    since: Option<String>,
    /// Created before this time (RFC 3339).
    until: Option<String>,
    limit: Option<u32>,
    cursor: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/alerts", tag = "incidents", security(("bearer" = [])), params(AlertQuery),
    responses((status = 200, body = Page<Alert>), (status = "4XX", body = ErrorResponse)))]
pub async fn list_alerts(
    caller: Caller,
    State(s): State<AppState>,
    Query(q): Query<AlertQuery>,
) -> ApiResult<axum::Json<Page<Alert>>> {
    let filter = AlertFilter {
        statuses: list_of::<AlertStatus>("status", &q.status)?,
        service: q.service.as_deref().map(ServiceRef::parse),
        integration: match q.integration.as_deref() {
            None => None,
            Some(raw) => Some(IntegrationId::parse(raw).ok_or_else(|| {
                ApiError::field("integration", "must be an integration ID (int_…)")
            })?),
        },
        dedup_key: q.dedup_key,
        created_after: time("since", &q.since)?,
        created_before: time("until", &q.until)?,
        limit: q.limit.unwrap_or(0),
        cursor: q.cursor,
    };
    Ok(axum::Json(s.app.alerts().list(&caller, filter).await?))
}

#[utoipa::path(get, path = "/api/v1/alerts/{id}", tag = "incidents", security(("bearer" = [])),
    params(("id" = String, Path, description = "Alert ID")),
    responses((status = 200, body = Alert), (status = "4XX", body = ErrorResponse)))]
pub async fn get_alert(
    caller: Caller,
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Alert>> {
    Ok(axum::Json(
        s.app
            .alerts()
            .get(&caller, &path_id(&id, AlertId::parse, "alert")?)
            .await?,
    ))
}

/// Every event received for an alert, oldest first.
#[utoipa::path(get, path = "/api/v1/alerts/{id}/events", tag = "incidents", security(("bearer" = [])),
    params(("id" = String, Path, description = "Alert ID")),
    responses((status = 200, body = Items<AlertEventRecord>), (status = "4XX", body = ErrorResponse)))]
pub async fn alert_events(
    caller: Caller,
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Items<AlertEventRecord>>> {
    Ok(axum::Json(Items {
        items: s
            .app
            .alerts()
            .events(&caller, &path_id(&id, AlertId::parse, "alert")?)
            .await?,
    }))
}
