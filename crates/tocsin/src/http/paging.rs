//! Escalation policies, who is paged for incidents, contact methods, notification rules, the notification log,
//! heartbeats and the engine.

use super::AppState;
use super::catalog::Items;
use super::error::{ApiError, ApiResult, ErrorCode, ErrorResponse};
use super::extract::{Caller, Created, Json, Query, path_id};
use super::extract::{PolicyRef, ServiceRef, UserRef, incident_ref};
use super::warnings::Warnings;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tocsin_app::Principal;
use tocsin_domain::auth::Need;
use tocsin_domain::contact::{
    ContactMethod, ContactMethodSpec, NotificationRule, NotificationRuleSpec, StatusUpdates,
};
use tocsin_domain::escalation::{EscalationPolicy, EscalationPolicySpec};
use tocsin_domain::ids::{ContactMethodId, DeliveryId, NotificationRuleId};
use tocsin_domain::timeline::TargetGap;
use tocsin_store::{
    DeliveryFilter, DeliveryRecord, EscalationRecord, HeartbeatStatus, PagingSettingsRecord,
    Reassignment, Responders, RespondersPaged,
};

use crate::engine::CycleReport;

#[utoipa::path(get, path = "/api/v1/escalation-policies", tag = "escalation", security(("bearer" = [])),
    responses((status = 200, body = Items<EscalationPolicy>), (status = "4XX", body = ErrorResponse)))]
pub async fn list_policies(
    caller: Caller,
    State(s): State<AppState>,
) -> ApiResult<axum::Json<Items<EscalationPolicy>>> {
    Ok(axum::Json(Items {
        items: s.app.escalation().list_policies(&caller).await?,
    }))
}

/// Creates a policy: ordered levels, each paging users and schedules, with a delay before the next level.
#[utoipa::path(post, path = "/api/v1/escalation-policies", tag = "escalation", security(("bearer" = [])),
    request_body = EscalationPolicySpec,
    responses((status = 201, body = EscalationPolicy), (status = "4XX", body = ErrorResponse)))]
pub async fn create_policy(
    caller: Caller,
    State(s): State<AppState>,
    Json(spec): Json<EscalationPolicySpec>,
) -> ApiResult<Created<EscalationPolicy>> {
    let p = s.app.escalation().create_policy(&caller, spec).await?;
    Ok((StatusCode::CREATED, axum::Json(p)))
}

#[utoipa::path(get, path = "/api/v1/escalation-policies/{policy}", tag = "escalation", security(("bearer" = [])),
    params(("policy" = String, Path, description = "Policy ID or name")),
    responses((status = 200, body = EscalationPolicy), (status = "4XX", body = ErrorResponse)))]
pub async fn get_policy(
    caller: Caller,
    State(s): State<AppState>,
    Path(policy): Path<String>,
) -> ApiResult<axum::Json<EscalationPolicy>> {
    Ok(axum::Json(
        s.app
            .escalation()
            .get_policy(&caller, &PolicyRef::parse(&policy))
            .await?,
    ))
}

/// Replaces a policy; incidents escalating under it continue with the new levels.
#[utoipa::path(put, path = "/api/v1/escalation-policies/{policy}", tag = "escalation", security(("bearer" = [])),
    params(("policy" = String, Path, description = "Policy ID or name")), request_body = EscalationPolicySpec,
    responses((status = 200, body = EscalationPolicy), (status = "4XX", body = ErrorResponse)))]
pub async fn replace_policy(
    caller: Caller,
    State(s): State<AppState>,
    Path(policy): Path<String>,
    Json(spec): Json<EscalationPolicySpec>,
) -> ApiResult<axum::Json<EscalationPolicy>> {
    Ok(axum::Json(
        s.app
            .escalation()
            .replace_policy(&caller, &PolicyRef::parse(&policy), spec)
            .await?,
    ))
}

#[utoipa::path(delete, path = "/api/v1/escalation-policies/{policy}", tag = "escalation", security(("bearer" = [])),
    params(("policy" = String, Path, description = "Policy ID or name")),
    responses((status = 204), (status = "4XX", body = ErrorResponse)))]
pub async fn delete_policy(
    caller: Caller,
    State(s): State<AppState>,
    Path(policy): Path<String>,
) -> ApiResult<StatusCode> {
    s.app
        .escalation()
        .delete_policy(&caller, &PolicyRef::parse(&policy))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AtQuery {
    /// The instant to ask about (RFC 3339); now when absent.
    at: Option<DateTime<Utc>>,
}

/// Who a level would page at an instant. `level` counts from 1, `level_index` from 0.
#[derive(Serialize, utoipa::ToSchema)]
pub struct LevelOnCall {
    pub level: u32,
    pub level_index: u32,
    pub users: Vec<OnCallUser>,
    /// Schedules and teams among the level's targets with nobody to page at that instant, by name.
    pub gaps: Vec<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct OnCallUser {
    #[serde(flatten)]
    pub person: super::oncall::Person,
    /// The schedule that puts them on call, when not named directly.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub via_schedule: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct PolicyOnCall {
    pub policy: EscalationPolicy,
    pub at: DateTime<Utc>,
    pub levels: Vec<LevelOnCall>,
}

/// The API's view of who each level pages: people with their names, and schedules with nobody on call.
async fn policy_on_call(
    s: &AppState,
    who: &Principal,
    policy: EscalationPolicy,
    at: DateTime<Utc>,
) -> ApiResult<PolicyOnCall> {
    let people = super::oncall::people(s, who).await?;
    let on_call = s.app.escalation().on_call(who, policy, Some(at)).await?;
    let levels = on_call
        .levels
        .iter()
        .enumerate()
        .map(|(i, level)| LevelOnCall {
            level: i as u32 + 1,
            level_index: i as u32,
            users: level
                .users
                .iter()
                .map(|(u, via)| OnCallUser {
                    person: super::oncall::person(&people, u),
                    via_schedule: via
                        .as_ref()
                        .and_then(|id| on_call.schedules.get(id).cloned()),
                })
                .collect(),
            gaps: level
                .gaps
                .iter()
                .filter_map(|g| match g {
                    TargetGap::NobodyOnCall { schedule } => Some(schedule.clone()),
                    TargetGap::TeamHasNoMembers { team } | TargetGap::TeamNobodyOnCall { team } => {
                        Some(team.clone())
                    }
                    TargetGap::ScheduleGone { .. } | TargetGap::TeamGone { .. } => None,
                })
                .collect(),
        })
        .collect();
    Ok(PolicyOnCall {
        policy: on_call.policy,
        at: on_call.at,
        levels,
    })
}

/// Who each level of the policy pages at an instant.
#[utoipa::path(get, path = "/api/v1/escalation-policies/{policy}/on-call", tag = "escalation", security(("bearer" = [])),
    params(("policy" = String, Path, description = "Policy ID or name"), AtQuery),
    responses((status = 200, body = PolicyOnCall), (status = "4XX", body = ErrorResponse)))]
pub async fn get_policy_on_call(
    caller: Caller,
    State(s): State<AppState>,
    Path(policy): Path<String>,
    Query(q): Query<AtQuery>,
) -> ApiResult<axum::Json<PolicyOnCall>> {
    let policy = s
        .app
        .escalation()
        .get_policy(&caller, &PolicyRef::parse(&policy))
        .await?;
    let at = q.at.unwrap_or_else(|| s.app.now());
    Ok(axum::Json(policy_on_call(&s, &caller, policy, at).await?))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ServicePolicy {
    /// `null` when the service pages nobody.
    pub policy: Option<EscalationPolicy>,
}

#[utoipa::path(get, path = "/api/v1/services/{service}/escalation-policy", tag = "escalation", security(("bearer" = [])),
    params(("service" = String, Path, description = "Service ID or name")),
    responses((status = 200, body = ServicePolicy), (status = "4XX", body = ErrorResponse)))]
pub async fn get_service_policy(
    caller: Caller,
    State(s): State<AppState>,
    Path(service): Path<String>,
) -> ApiResult<axum::Json<ServicePolicy>> {
    Ok(axum::Json(ServicePolicy {
        policy: s
            .app
            .escalation()
            .service_policy(&caller, &ServiceRef::parse(&service))
            .await?,
    }))
}

/// A required field naming a policy, where `null` means none: an empty body must not stop paging by accident.
fn policy_or_null(
    field: &str,
    value: serde_json::Value,
    null_means: &str,
) -> ApiResult<Option<PolicyRef>> {
    match value {
        serde_json::Value::Null => Ok(None),
        serde_json::Value::String(p) => Ok(Some(PolicyRef::parse(&p))),
        _ => Err(ApiError::field(
            field,
            format!("must be a policy ID or name, or {null_means}"),
        )),
    }
}

/// One finding of the paging setup's check.
#[derive(Serialize, utoipa::ToSchema)]
pub struct DoctorFinding {
    #[serde(flatten)]
    finding: tocsin_domain::doctor::Finding,
    /// What was found and how to fix it, in a sentence.
    message: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct DoctorReport {
    /// Empty when every service is paged and every person a policy pages can be reached.
    findings: Vec<DoctorFinding>,
}

/// Checks the paging setup for what would leave an incident with nobody: services without a policy, schedules
/// with nobody on call in the next 14 days, people a policy pages who cannot be reached, contact methods of a
/// kind this server is not configured to send.
#[utoipa::path(get, path = "/api/v1/doctor", tag = "escalation", security(("bearer" = [])),
    responses((status = 200, body = DoctorReport), (status = "4XX", body = ErrorResponse)))]
pub async fn doctor(
    caller: Caller,
    State(s): State<AppState>,
) -> ApiResult<axum::Json<DoctorReport>> {
    let findings = s.app.escalation().doctor(&caller).await?;
    Ok(axum::Json(DoctorReport {
        findings: findings
            .into_iter()
            .map(|finding| DoctorFinding {
                message: crate::wording::finding(&finding),
                finding,
            })
            .collect(),
    }))
}

/// Organisation-wide paging settings.
#[utoipa::path(get, path = "/api/v1/settings/paging", tag = "escalation", security(("bearer" = [])),
    responses((status = 200, body = PagingSettingsRecord), (status = "4XX", body = ErrorResponse)))]
pub async fn get_paging_settings(
    caller: Caller,
    State(s): State<AppState>,
) -> ApiResult<axum::Json<PagingSettingsRecord>> {
    Ok(axum::Json(
        s.app.escalation().paging_settings(&caller).await?,
    ))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetPagingSettings {
    /// Policy ID or name of the escalation policy that takes incidents nobody else pages (no policy on their
    /// service, no service, or a whole pass of their policy reached nobody); `null` for none. Required.
    #[schema(value_type = Option<String>)]
    fallback_policy: serde_json::Value,
}

/// Sets the organisation-wide paging settings (admin scope).
#[utoipa::path(put, path = "/api/v1/settings/paging", tag = "escalation", security(("bearer" = [])),
    request_body = SetPagingSettings,
    responses((status = 200, body = PagingSettingsRecord), (status = "4XX", body = ErrorResponse)))]
pub async fn set_paging_settings(
    caller: Caller,
    State(s): State<AppState>,
    Json(req): Json<SetPagingSettings>,
) -> ApiResult<axum::Json<PagingSettingsRecord>> {
    let policy = policy_or_null(
        "fallback_policy",
        req.fallback_policy,
        "null for no fallback",
    )?;
    Ok(axum::Json(
        s.app
            .escalation()
            .set_fallback_policy(&caller, policy)
            .await?,
    ))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetServicePolicy {
    /// Policy ID or name; `null` stops paging for the service's new incidents. Required, so that an empty body
    /// cannot stop paging by accident.
    #[schema(value_type = Option<String>)]
    policy: serde_json::Value,
}

/// Sets the policy that pages for the service's new incidents.
#[utoipa::path(put, path = "/api/v1/services/{service}/escalation-policy", tag = "escalation", security(("bearer" = [])),
    params(("service" = String, Path, description = "Service ID or name")), request_body = SetServicePolicy,
    responses((status = 200, body = ServicePolicy, headers(("Warning" = String, description = "What the change leaves that cannot page, as `299 tocsin \"text\"`; one header per warning"))), (status = "4XX", body = ErrorResponse)))]
pub async fn set_service_policy(
    caller: Caller,
    State(s): State<AppState>,
    Path(service): Path<String>,
    Json(req): Json<SetServicePolicy>,
) -> ApiResult<Response> {
    let policy = policy_or_null("policy", req.policy, "null to stop paging")?;
    let set = s
        .app
        .escalation()
        .set_service_policy(&caller, &ServiceRef::parse(&service), policy)
        .await?;
    Ok((
        Warnings(set.warnings),
        axum::Json(ServicePolicy { policy: set.value }),
    )
        .into_response())
}

/// Who the service's policy pages at an instant.
#[utoipa::path(get, path = "/api/v1/services/{service}/on-call", tag = "escalation", security(("bearer" = [])),
    params(("service" = String, Path, description = "Service ID or name"), AtQuery),
    responses((status = 200, body = PolicyOnCall), (status = "4XX", body = ErrorResponse)))]
pub async fn get_service_on_call(
    caller: Caller,
    State(s): State<AppState>,
    Path(service): Path<String>,
    Query(q): Query<AtQuery>,
) -> ApiResult<axum::Json<PolicyOnCall>> {
    let Some(policy) = s
        .app
        .escalation()
        .service_policy(&caller, &ServiceRef::parse(&service))
        .await?
    else {
        return Err(ApiError::new(
            ErrorCode::NotFound,
            format!(
                "service {service:?} has no escalation policy; set one with PUT /api/v1/services/{{service}}/escalation-policy"
            ),
        ));
    };
    let at = q.at.unwrap_or_else(|| s.app.now());
    Ok(axum::Json(policy_on_call(&s, &caller, policy, at).await?))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct IncidentEscalation {
    /// `null` when the incident's service has no policy and it was never reassigned.
    pub escalation: Option<EscalationRecord>,
}

#[utoipa::path(get, path = "/api/v1/incidents/{incident}/escalation", tag = "escalation", security(("bearer" = [])),
    params(("incident" = String, Path, description = "Incident ID or number")),
    responses((status = 200, body = IncidentEscalation), (status = "4XX", body = ErrorResponse)))]
pub async fn get_incident_escalation(
    caller: Caller,
    State(s): State<AppState>,
    Path(incident): Path<String>,
) -> ApiResult<axum::Json<IncidentEscalation>> {
    Ok(axum::Json(IncidentEscalation {
        escalation: s
            .app
            .escalation()
            .incident_escalation(&caller, &incident_ref(&incident)?)
            .await?,
    }))
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EscalateRequest {
    /// The level to page, counted from 1; the next one when absent.
    #[serde(default)]
    level: Option<u32>,
}

/// Pages a level of the incident's policy now (the next one by default) and continues from there.
#[utoipa::path(post, path = "/api/v1/incidents/{incident}/escalate", tag = "escalation", security(("bearer" = [])),
    params(("incident" = String, Path, description = "Incident ID or number")), request_body = EscalateRequest,
    responses((status = 200, body = EscalationRecord), (status = "4XX", body = ErrorResponse)))]
pub async fn escalate_incident(
    caller: Caller,
    State(s): State<AppState>,
    Path(incident): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult<axum::Json<EscalationRecord>> {
    // An empty body means "the next level", so `curl -X POST` alone escalates.
    let level = if body.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        match super::extract::parse_json::<EscalateRequest>(&body)?.level {
            Some(0) => return Err(ApiError::field("level", "levels are counted from 1")),
            level => level.map(|l| l - 1),
        }
    };
    let record = s
        .app
        .escalation()
        .escalate(&caller, &incident_ref(&incident)?, level)
        .await?;
    Ok(axum::Json(record))
}

/// Hands the incident to people (`{"users": [...]}`, paged now) or to another policy (`{"policy": "..."}`).
#[utoipa::path(post, path = "/api/v1/incidents/{incident}/reassign", tag = "escalation", security(("bearer" = [])),
    params(("incident" = String, Path, description = "Incident ID or number")), request_body = Reassignment,
    responses((status = 200, body = EscalationRecord), (status = "4XX", body = ErrorResponse)))]
pub async fn reassign_incident(
    caller: Caller,
    State(s): State<AppState>,
    Path(incident): Path<String>,
    Json(to): Json<Reassignment>,
) -> ApiResult<axum::Json<EscalationRecord>> {
    let record = s
        .app
        .escalation()
        .reassign(&caller, &incident_ref(&incident)?, to)
        .await?;
    Ok(axum::Json(record))
}

/// Pages more people now (`users`, `schedules`, `teams`, `teams_on_call`) while the incident's escalation goes on.
#[utoipa::path(post, path = "/api/v1/incidents/{incident}/responders", tag = "escalation", security(("bearer" = [])),
    params(("incident" = String, Path, description = "Incident ID or number")), request_body = Responders,
    responses((status = 200, body = RespondersPaged), (status = "4XX", body = ErrorResponse)))]
pub async fn add_responders(
    caller: Caller,
    State(s): State<AppState>,
    Path(incident): Path<String>,
    Json(responders): Json<Responders>,
) -> ApiResult<axum::Json<RespondersPaged>> {
    let paged = s
        .app
        .escalation()
        .add_responders(&caller, &incident_ref(&incident)?, responders)
        .await?;
    Ok(axum::Json(paged))
}

/// Which changes of incidents the user was paged for they are told of when someone else makes them.
#[utoipa::path(get, path = "/api/v1/users/{user}/status-updates", tag = "notifications", security(("bearer" = [])),
    params(("user" = String, Path, description = "User ID or email")),
    responses((status = 200, body = StatusUpdates), (status = "4XX", body = ErrorResponse)))]
pub async fn get_status_updates(
    caller: Caller,
    State(s): State<AppState>,
    Path(user): Path<String>,
) -> ApiResult<axum::Json<StatusUpdates>> {
    Ok(axum::Json(
        s.app
            .contacts()
            .status_updates(&caller, &UserRef::parse(&user))
            .await?,
    ))
}

/// Asks to be told (by the methods shift reminders use) when someone else acknowledges or resolves an incident
/// the user was paged for.
#[utoipa::path(put, path = "/api/v1/users/{user}/status-updates", tag = "notifications", security(("bearer" = [])),
    params(("user" = String, Path, description = "User ID or email")), request_body = StatusUpdates,
    responses((status = 200, body = StatusUpdates), (status = "4XX", body = ErrorResponse)))]
pub async fn set_status_updates(
    caller: Caller,
    State(s): State<AppState>,
    Path(user): Path<String>,
    Json(wanted): Json<StatusUpdates>,
) -> ApiResult<axum::Json<StatusUpdates>> {
    Ok(axum::Json(
        s.app
            .contacts()
            .set_status_updates(&caller, &UserRef::parse(&user), wanted)
            .await?,
    ))
}

/// The latest notifications matching `filter`, as many as a page holds.
async fn notifications(
    s: &AppState,
    caller: &Caller,
    filter: DeliveryFilter,
) -> ApiResult<axum::Json<Items<DeliveryRecord>>> {
    let filter = DeliveryFilter {
        limit: tocsin_store::MAX_PAGE,
        ..filter
    };
    let items = s.app.contacts().deliveries(caller, filter).await?;
    Ok(axum::Json(Items { items }))
}

/// Every notification sent (or planned) for the incident, with each attempt.
#[utoipa::path(get, path = "/api/v1/incidents/{incident}/notifications", tag = "notifications", security(("bearer" = [])),
    params(("incident" = String, Path, description = "Incident ID or number")),
    responses((status = 200, body = Items<DeliveryRecord>), (status = "4XX", body = ErrorResponse)))]
pub async fn incident_notifications(
    caller: Caller,
    State(s): State<AppState>,
    Path(incident): Path<String>,
) -> ApiResult<axum::Json<Items<DeliveryRecord>>> {
    notifications(
        &s,
        &caller,
        DeliveryFilter {
            incident: Some(incident_ref(&incident)?),
            ..DeliveryFilter::default()
        },
    )
    .await
}

/// Notifications sent to the user, newest first.
#[utoipa::path(get, path = "/api/v1/users/{user}/notifications", tag = "notifications", security(("bearer" = [])),
    params(("user" = String, Path, description = "User ID or email")),
    responses((status = 200, body = Items<DeliveryRecord>), (status = "4XX", body = ErrorResponse)))]
pub async fn user_notifications(
    caller: Caller,
    State(s): State<AppState>,
    Path(user): Path<String>,
) -> ApiResult<axum::Json<Items<DeliveryRecord>>> {
    notifications(
        &s,
        &caller,
        DeliveryFilter {
            user: Some(UserRef::parse(&user)),
            ..DeliveryFilter::default()
        },
    )
    .await
}

#[utoipa::path(get, path = "/api/v1/notifications/{id}", tag = "notifications", security(("bearer" = [])),
    params(("id" = String, Path, description = "Notification (delivery) ID")),
    responses((status = 200, body = DeliveryRecord), (status = "4XX", body = ErrorResponse)))]
pub async fn get_notification(
    caller: Caller,
    State(s): State<AppState>,
    Path(raw): Path<String>,
) -> ApiResult<axum::Json<DeliveryRecord>> {
    let id = path_id(&raw, DeliveryId::parse, "notification")?;
    Ok(axum::Json(s.app.contacts().delivery(&caller, &id).await?))
}

/// A contact method as listed: a webhook's signing secret is never shown again after creation.
fn redacted(mut m: ContactMethod) -> ContactMethod {
    m.target = m.target.redacted();
    m
}

#[utoipa::path(get, path = "/api/v1/users/{user}/contact-methods", tag = "notifications", security(("bearer" = [])),
    params(("user" = String, Path, description = "User ID or email")),
    responses((status = 200, body = Items<ContactMethod>), (status = "4XX", body = ErrorResponse)))]
pub async fn list_contact_methods(
    caller: Caller,
    State(s): State<AppState>,
    Path(user): Path<String>,
) -> ApiResult<axum::Json<Items<ContactMethod>>> {
    let items = s
        .app
        .contacts()
        .list_methods(&caller, &UserRef::parse(&user))
        .await?;
    Ok(axum::Json(Items {
        items: items.into_iter().map(redacted).collect(),
    }))
}

/// Adds a contact method. A webhook's signing secret (`whsec_…`) is generated and shown only in this answer.
#[utoipa::path(post, path = "/api/v1/users/{user}/contact-methods", tag = "notifications", security(("bearer" = [])),
    params(("user" = String, Path, description = "User ID or email")), request_body = ContactMethodSpec,
    responses((status = 201, body = ContactMethod, headers(("Warning" = String, description = "What the change leaves that cannot page, as `299 tocsin \"text\"`; one header per warning"))), (status = "4XX", body = ErrorResponse)))]
pub async fn create_contact_method(
    caller: Caller,
    State(s): State<AppState>,
    Path(user): Path<String>,
    Json(spec): Json<ContactMethodSpec>,
) -> ApiResult<Response> {
    let m = s
        .app
        .contacts()
        .create_method(&caller, &UserRef::parse(&user), spec)
        .await?;
    Ok((
        StatusCode::CREATED,
        Warnings(m.warnings),
        axum::Json(m.value),
    )
        .into_response())
}

#[utoipa::path(get, path = "/api/v1/contact-methods/{id}", tag = "notifications", security(("bearer" = [])),
    params(("id" = String, Path, description = "Contact method ID")),
    responses((status = 200, body = ContactMethod), (status = "4XX", body = ErrorResponse)))]
pub async fn get_contact_method(
    caller: Caller,
    State(s): State<AppState>,
    Path(raw): Path<String>,
) -> ApiResult<axum::Json<ContactMethod>> {
    let id = path_id(&raw, ContactMethodId::parse, "contact method")?;
    Ok(axum::Json(redacted(
        s.app.contacts().get_method(&caller, &id).await?,
    )))
}

/// Replaces a contact method (its kind stays); a webhook keeps its signing secret.
#[utoipa::path(put, path = "/api/v1/contact-methods/{id}", tag = "notifications", security(("bearer" = [])),
    params(("id" = String, Path, description = "Contact method ID")), request_body = ContactMethodSpec,
    responses((status = 200, body = ContactMethod, headers(("Warning" = String, description = "What the change leaves that cannot page, as `299 tocsin \"text\"`; one header per warning"))), (status = "4XX", body = ErrorResponse)))]
pub async fn replace_contact_method(
    caller: Caller,
    State(s): State<AppState>,
    Path(raw): Path<String>,
    Json(spec): Json<ContactMethodSpec>,
) -> ApiResult<Response> {
    let id = path_id(&raw, ContactMethodId::parse, "contact method")?;
    let m = s.app.contacts().replace_method(&caller, &id, spec).await?;
    Ok((Warnings(m.warnings), axum::Json(redacted(m.value))).into_response())
}

#[utoipa::path(delete, path = "/api/v1/contact-methods/{id}", tag = "notifications", security(("bearer" = [])),
    params(("id" = String, Path, description = "Contact method ID")),
    responses((status = 204), (status = "4XX", body = ErrorResponse)))]
pub async fn delete_contact_method(
    caller: Caller,
    State(s): State<AppState>,
    Path(raw): Path<String>,
) -> ApiResult<StatusCode> {
    let id = path_id(&raw, ContactMethodId::parse, "contact method")?;
    s.app.contacts().delete_method(&caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Sends a test notification to the contact method now; follow it at `/api/v1/notifications/{id}`.
#[utoipa::path(post, path = "/api/v1/contact-methods/{id}/test", tag = "notifications", security(("bearer" = [])),
    params(("id" = String, Path, description = "Contact method ID")),
    responses((status = 202, body = DeliveryRecord), (status = "4XX", body = ErrorResponse)))]
pub async fn test_contact_method(
    caller: Caller,
    State(s): State<AppState>,
    Path(raw): Path<String>,
) -> ApiResult<(StatusCode, axum::Json<DeliveryRecord>)> {
    let id = path_id(&raw, ContactMethodId::parse, "contact method")?;
    let d = s.app.contacts().send_test(&caller, &id).await?;
    Ok((StatusCode::ACCEPTED, axum::Json(d)))
}

#[utoipa::path(get, path = "/api/v1/users/{user}/notification-rules", tag = "notifications", security(("bearer" = [])),
    params(("user" = String, Path, description = "User ID or email")),
    responses((status = 200, body = Items<NotificationRule>), (status = "4XX", body = ErrorResponse)))]
pub async fn list_notification_rules(
    caller: Caller,
    State(s): State<AppState>,
    Path(user): Path<String>,
) -> ApiResult<axum::Json<Items<NotificationRule>>> {
    Ok(axum::Json(Items {
        items: s
            .app
            .contacts()
            .list_rules(&caller, &UserRef::parse(&user))
            .await?,
    }))
}

/// Adds a rule: for pages of this urgency (high: SEV-0/1, low: SEV-2/3), use the contact method after the delay.
#[utoipa::path(post, path = "/api/v1/users/{user}/notification-rules", tag = "notifications", security(("bearer" = [])),
    params(("user" = String, Path, description = "User ID or email")), request_body = NotificationRuleSpec,
    responses((status = 201, body = NotificationRule), (status = "4XX", body = ErrorResponse)))]
pub async fn create_notification_rule(
    caller: Caller,
    State(s): State<AppState>,
    Path(user): Path<String>,
    Json(spec): Json<NotificationRuleSpec>,
) -> ApiResult<Created<NotificationRule>> {
    let r = s
        .app
        .contacts()
        .create_rule(&caller, &UserRef::parse(&user), spec)
        .await?;
    Ok((StatusCode::CREATED, axum::Json(r)))
}

#[utoipa::path(delete, path = "/api/v1/notification-rules/{id}", tag = "notifications", security(("bearer" = [])),
    params(("id" = String, Path, description = "Notification rule ID")),
    responses((status = 204), (status = "4XX", body = ErrorResponse)))]
pub async fn delete_notification_rule(
    caller: Caller,
    State(s): State<AppState>,
    Path(raw): Path<String>,
) -> ApiResult<StatusCode> {
    let id = path_id(&raw, NotificationRuleId::parse, "notification rule")?;
    s.app.contacts().delete_rule(&caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Runs one engine cycle now and says what it did (escalations, heartbeats, reminders, deliveries).
#[utoipa::path(post, path = "/api/v1/engine/cycle", tag = "operations", security(("bearer" = [])),
    responses((status = 200, body = CycleReport), (status = "4XX", body = ErrorResponse)))]
pub async fn run_engine_cycle(
    caller: Caller,
    State(s): State<AppState>,
) -> ApiResult<axum::Json<CycleReport>> {
    caller.require(Need::Configure)?;
    let Some(engine) = &s.engine else {
        return Err(ApiError::new(
            ErrorCode::Unavailable,
            "this server runs without an engine",
        ));
    };
    let report = engine.cycle().await.map_err(|e| {
        tracing::error!(error = %e, "Engine cycle on demand failed.");
        ApiError::new(
            ErrorCode::Internal,
            "the engine cycle failed; see the server log",
        )
    })?;
    Ok(axum::Json(report))
}

/// A beat of a heartbeat integration: the job calls this every interval. A beat after a missed one resolves the
/// missed-heartbeat alert. The key in the path is the credential.
#[utoipa::path(post, path = "/heartbeat/{key}", tag = "ingest",
    params(("key" = String, Path, description = "The heartbeat integration's key")),
    responses((status = 200, body = HeartbeatStatus), (status = 404, body = ErrorResponse),
        (status = 429, description = "Over the integration's rate limit; retry after Retry-After", body = ErrorResponse)))]
pub async fn heartbeat_post(state: State<AppState>, key: Path<String>) -> Response {
    heartbeat(state, key).await
}

/// The same beat, for jobs that can only make GET requests (`curl -fsS <url>`).
#[utoipa::path(get, path = "/heartbeat/{key}", tag = "ingest",
    params(("key" = String, Path, description = "The heartbeat integration's key")),
    responses((status = 200, body = HeartbeatStatus), (status = 404, body = ErrorResponse),
        (status = 429, description = "Over the integration's rate limit; retry after Retry-After", body = ErrorResponse)))]
pub async fn heartbeat_get(state: State<AppState>, key: Path<String>) -> Response {
    heartbeat(state, key).await
}

async fn heartbeat(State(s): State<AppState>, Path(key): Path<String>) -> Response {
    use tocsin_app::Refusal;
    match s.app.ingest().beat(&key).await {
        Ok(status) => axum::Json(status).into_response(),
        Err(Refusal::NoKey | Refusal::UnknownKey | Refusal::WrongKind(_)) => ApiError::new(
            ErrorCode::NotFound,
            "no active heartbeat integration has this key; create one with kind heartbeat",
        )
        .into_response(),
        Err(r) => super::senders::Refusal::from(r).into_api_error(),
    }
}
