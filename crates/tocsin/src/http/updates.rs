//! Stakeholder updates on incidents, and subscriptions to a service's or an incident's updates.

use super::AppState;
use super::catalog::Items;
use super::error::{ApiError, ApiResult, ErrorResponse};
use super::extract::{Caller, Json, ServiceRef, Stakeholder, UserRef, incident_ref, path_id};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use tocsin_app::{ScopeRef, SubscriberRef};
use tocsin_domain::contact::ContactTarget;
use tocsin_domain::ids::SubscriptionId;
use tocsin_domain::updates::{PostedUpdate, Subscription, UpdateDue, UpdateSpec};

/// An incident's updates, and the next one it owes.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct IncidentUpdates {
    /// When the next update is due and why; none when nothing is owed.
    pub due: Option<UpdateDue>,
    /// Newest first.
    pub items: Vec<PostedUpdate>,
}

/// The incident's stakeholder updates, newest first, and when the next is due.
#[utoipa::path(get, path = "/api/v1/incidents/{incident}/updates", tag = "updates", security(("bearer" = [])),
    params(("incident" = String, Path, description = "Incident ID or number")),
    responses((status = 200, body = IncidentUpdates), (status = "4XX", body = ErrorResponse)))]
pub async fn list_updates(
    caller: Caller,
    State(s): State<AppState>,
    Path(incident): Path<String>,
) -> ApiResult<axum::Json<IncidentUpdates>> {
    let incident = incident_ref(&incident)?;
    let updates = s.app.updates();
    Ok(axum::Json(IncidentUpdates {
        due: updates.due(&caller, &incident).await?,
        items: updates.list(&caller, &incident).await?,
    }))
}

/// Posts a stakeholder update (responders): to the incident's responders and to the people and channels
/// subscribed to it or to its services. The next update is then due a cadence later, if its severity has one.
#[utoipa::path(post, path = "/api/v1/incidents/{incident}/updates", tag = "updates", security(("bearer" = [])),
    request_body = UpdateSpec,
    params(("incident" = String, Path, description = "Incident ID or number")),
    responses((status = 201, body = PostedUpdate), (status = "4XX", body = ErrorResponse)))]
pub async fn post_update(
    caller: Caller,
    State(s): State<AppState>,
    Path(incident): Path<String>,
    Json(spec): Json<UpdateSpec>,
) -> ApiResult<(StatusCode, axum::Json<PostedUpdate>)> {
    let posted = s
        .app
        .updates()
        .post(&caller, &incident_ref(&incident)?, spec)
        .await?;
    Ok((StatusCode::CREATED, axum::Json(posted)))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SubscriptionQuery {
    /// A service's subscriptions (ID or name).
    pub service: Option<String>,
    /// An incident's subscriptions (ID or number).
    pub incident: Option<String>,
}

/// What a request names: a service or an incident, exactly one.
fn scope(service: Option<&str>, incident: Option<&str>) -> Result<Option<ScopeRef>, ApiError> {
    match (service, incident) {
        (Some(_), Some(_)) => Err(ApiError::field(
            "service",
            "name a service or an incident, not both",
        )),
        (Some(s), None) => Ok(Some(ScopeRef::Service(ServiceRef::parse(s)))),
        (None, Some(i)) => Ok(Some(ScopeRef::Incident(incident_ref(i)?))),
        (None, None) => Ok(None),
    }
}

/// Subscriptions to a service or an incident; without either, the caller's own. Channels' targets show redacted.
#[utoipa::path(get, path = "/api/v1/subscriptions", tag = "updates", security(("bearer" = [])),
    params(SubscriptionQuery),
    responses((status = 200, body = Items<Subscription>), (status = "4XX", body = ErrorResponse)))]
pub async fn list_subscriptions(
    caller: Caller,
    State(s): State<AppState>,
    Query(q): Query<SubscriptionQuery>,
) -> ApiResult<axum::Json<Items<Subscription>>> {
    let items = match scope(q.service.as_deref(), q.incident.as_deref())? {
        Some(scope) => s.app.updates().subscriptions(&caller, &scope).await?,
        None => s.app.updates().mine(&caller).await?,
    };
    Ok(axum::Json(Items { items }))
}

/// A channel that hears of updates.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChannelSpec {
    /// What people call it, e.g. `#payments-status`.
    pub name: String,
    /// An email address, a Slack, Teams or Mattermost incoming webhook, or a signed webhook.
    pub target: ContactTarget,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Subscribe {
    /// The service (ID or name) to hear of; or else `incident`.
    pub service: Option<String>,
    /// The incident (ID or number) to hear of.
    pub incident: Option<String>,
    /// Another person (ID or email) to subscribe (admins); without it or `channel`, the caller.
    pub user: Option<String>,
    /// A channel to subscribe (admins).
    pub channel: Option<ChannelSpec>,
}

/// Subscribes to a service's or an incident's updates: oneself (anyone), another person or a channel (admins).
/// Subscribing a person twice answers the subscription they have.
#[utoipa::path(post, path = "/api/v1/subscriptions", tag = "updates", security(("bearer" = [])),
    request_body = Subscribe,
    responses((status = 201, body = Subscription), (status = "4XX", body = ErrorResponse)))]
pub async fn subscribe(
    caller: Stakeholder,
    State(s): State<AppState>,
    Json(body): Json<Subscribe>,
) -> ApiResult<(StatusCode, axum::Json<Subscription>)> {
    let scope = scope(body.service.as_deref(), body.incident.as_deref())?
        .ok_or_else(|| ApiError::field("service", "name a service or an incident to hear of"))?;
    let subscriber = match (body.user, body.channel) {
        (Some(_), Some(_)) => {
            return Err(ApiError::field(
                "user",
                "name a person or a channel, not both",
            ));
        }
        (Some(user), None) => SubscriberRef::Person(UserRef::parse(&user)),
        (None, Some(ChannelSpec { name, target })) => SubscriberRef::Channel { name, target },
        (None, None) => SubscriberRef::Me,
    };
    let made = s
        .app
        .updates()
        .subscribe(&caller, &scope, subscriber)
        .await?;
    Ok((StatusCode::CREATED, axum::Json(made)))
}

/// Ends a subscription: one's own (anyone), or any (admins).
#[utoipa::path(delete, path = "/api/v1/subscriptions/{subscription}", tag = "updates", security(("bearer" = [])),
    params(("subscription" = String, Path, description = "The subscription's ID")),
    responses((status = 204), (status = "4XX", body = ErrorResponse)))]
pub async fn unsubscribe(
    caller: Stakeholder,
    State(s): State<AppState>,
    Path(subscription): Path<String>,
) -> ApiResult<StatusCode> {
    let id = path_id(&subscription, SubscriptionId::parse, "subscription")?;
    s.app.updates().unsubscribe(&caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
