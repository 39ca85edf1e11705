//! The roles of a response: the organisation's definitions, who holds them in an incident, and who works it.

use super::AppState;
use super::catalog::Items;
use super::error::{ApiError, ApiResult, ErrorResponse};
use super::extract::{Caller, Json, UserRef, incident_ref, path_id};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use tocsin_domain::refs::Key;
use tocsin_domain::roles::{Responder, Role, RoleAssignment, RoleSpec};

/// The roles people take in a response: the built-in incident commander, communications lead, scribe and
/// subject-matter expert, then the organisation's own.
#[utoipa::path(get, path = "/api/v1/incident-roles", tag = "roles", security(("bearer" = [])),
    responses((status = 200, body = Items<Role>), (status = "4XX", body = ErrorResponse)))]
pub async fn list_roles(
    caller: Caller,
    State(s): State<AppState>,
) -> ApiResult<axum::Json<Items<Role>>> {
    Ok(axum::Json(Items {
        items: s.app.roles().list(&caller).await?,
    }))
}

/// Creates a role of the organisation's own, or rewords one (a built-in one's name, instructions and defaults).
/// `defaults` say who takes the role when an incident opens or its severity changes and nobody holds it. Admins
/// only.
#[utoipa::path(put, path = "/api/v1/incident-roles/{role}", tag = "roles", security(("bearer" = [])),
    request_body = RoleSpec,
    params(("role" = String, Path, description = "The role's key: lowercase letters, digits and dashes")),
    responses((status = 200, body = Role), (status = "4XX", body = ErrorResponse)))]
pub async fn put_role(
    caller: Caller,
    State(s): State<AppState>,
    Path(role): Path<String>,
    Json(spec): Json<RoleSpec>,
) -> ApiResult<axum::Json<Role>> {
    let key = role
        .parse::<Key>()
        .map_err(|m| ApiError::field("role", format!("the role's key {m}")))?;
    Ok(axum::Json(s.app.roles().put(&caller, key, spec).await?))
}

/// Removes a role of the organisation's own; refused for the built-in ones and while someone holds it in an open
/// incident. Who held it stays in incidents' history. Admins only.
#[utoipa::path(delete, path = "/api/v1/incident-roles/{role}", tag = "roles", security(("bearer" = [])),
    params(("role" = String, Path, description = "The role's key")),
    responses((status = 204), (status = "4XX", body = ErrorResponse)))]
pub async fn delete_role(
    caller: Caller,
    State(s): State<AppState>,
    Path(role): Path<String>,
) -> ApiResult<StatusCode> {
    s.app
        .roles()
        .delete(&caller, &path_id(&role, |r| r.parse().ok(), "role")?)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Who holds and held each role in the incident, oldest first; `released_at` is null while they hold it.
#[utoipa::path(get, path = "/api/v1/incidents/{incident}/roles", tag = "roles", security(("bearer" = [])),
    params(("incident" = String, Path, description = "Incident ID or number")),
    responses((status = 200, body = Items<RoleAssignment>), (status = "4XX", body = ErrorResponse)))]
pub async fn incident_roles(
    caller: Caller,
    State(s): State<AppState>,
    Path(incident): Path<String>,
) -> ApiResult<axum::Json<Items<RoleAssignment>>> {
    let items = s
        .app
        .roles()
        .assignments(&caller, &incident_ref(&incident)?)
        .await?;
    Ok(axum::Json(Items { items }))
}

/// Whom to give a role to.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignRole {
    /// User ID or email.
    pub user: String,
}

/// Whom a change of the response names; the caller's own person when left out.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Someone {
    /// User ID or email.
    #[serde(default)]
    pub user: Option<String>,
}

/// Whom an optional body names: an empty one names nobody, so `curl -X POST` alone acts for the caller.
fn someone(body: &[u8]) -> Result<Option<UserRef>, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let named: Someone = super::extract::parse_json(body)?;
    Ok(named.user.as_deref().map(UserRef::parse))
}

/// Gives someone a role in the incident and pages them with it through their own notification rules ("You are
/// now Incident commander of #42"), unless they take it themselves. A role one person holds is handed over by
/// whoever held it. Answers every holding of the incident's roles, as GET does.
#[utoipa::path(post, path = "/api/v1/incidents/{incident}/roles/{role}", tag = "roles", security(("bearer" = [])),
    request_body = AssignRole,
    params(("incident" = String, Path, description = "Incident ID or number"),
           ("role" = String, Path, description = "The role's key")),
    responses((status = 200, body = Items<RoleAssignment>), (status = "4XX", body = ErrorResponse)))]
pub async fn assign_role(
    caller: Caller,
    State(s): State<AppState>,
    Path((incident, role)): Path<(String, String)>,
    Json(body): Json<AssignRole>,
) -> ApiResult<axum::Json<Items<RoleAssignment>>> {
    let (incident, role) = (
        incident_ref(&incident)?,
        path_id(&role, |r| r.parse().ok(), "role")?,
    );
    let roles = s.app.roles();
    roles
        .assign(&caller, &incident, &role, &UserRef::parse(&body.user))
        .await?;
    Ok(axum::Json(Items {
        items: roles.assignments(&caller, &incident).await?,
    }))
}

/// Someone stops holding a role in the incident: `user`, or whoever holds it when left out.
#[utoipa::path(post, path = "/api/v1/incidents/{incident}/roles/{role}/release", tag = "roles", security(("bearer" = [])),
    request_body = Someone,
    params(("incident" = String, Path, description = "Incident ID or number"),
           ("role" = String, Path, description = "The role's key")),
    responses((status = 200, body = Items<RoleAssignment>), (status = "4XX", body = ErrorResponse)))]
pub async fn release_role(
    caller: Caller,
    State(s): State<AppState>,
    Path((incident, role)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> ApiResult<axum::Json<Items<RoleAssignment>>> {
    let (incident, role) = (
        incident_ref(&incident)?,
        path_id(&role, |r| r.parse().ok(), "role")?,
    );
    let roles = s.app.roles();
    let user = someone(&body)?;
    roles.release(&caller, &incident, &role, user).await?;
    Ok(axum::Json(Items {
        items: roles.assignments(&caller, &incident).await?,
    }))
}

/// The people working the incident (paged for it, joined, added, or holding a role), with their roles.
#[utoipa::path(get, path = "/api/v1/incidents/{incident}/responders", tag = "roles", security(("bearer" = [])),
    params(("incident" = String, Path, description = "Incident ID or number")),
    responses((status = 200, body = Items<Responder>), (status = "4XX", body = ErrorResponse)))]
pub async fn list_responders(
    caller: Caller,
    State(s): State<AppState>,
    Path(incident): Path<String>,
) -> ApiResult<axum::Json<Items<Responder>>> {
    let items = s
        .app
        .roles()
        .responders(&caller, &incident_ref(&incident)?)
        .await?;
    Ok(axum::Json(Items { items }))
}

/// Joins the response without being paged: the caller, or `user`, whom the caller adds.
#[utoipa::path(post, path = "/api/v1/incidents/{incident}/responders/join", tag = "roles", security(("bearer" = [])),
    request_body = Someone,
    params(("incident" = String, Path, description = "Incident ID or number")),
    responses((status = 200, body = Items<Responder>), (status = "4XX", body = ErrorResponse)))]
pub async fn join_response(
    caller: Caller,
    State(s): State<AppState>,
    Path(incident): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult<axum::Json<Items<Responder>>> {
    let user = someone(&body)?;
    let items = s
        .app
        .roles()
        .join(&caller, &incident_ref(&incident)?, user)
        .await?;
    Ok(axum::Json(Items { items }))
}

/// Leaves the response (the caller, or `user`), giving up the roles held in it.
#[utoipa::path(post, path = "/api/v1/incidents/{incident}/responders/leave", tag = "roles", security(("bearer" = [])),
    request_body = Someone,
    params(("incident" = String, Path, description = "Incident ID or number")),
    responses((status = 200, body = Items<Responder>), (status = "4XX", body = ErrorResponse)))]
pub async fn leave_response(
    caller: Caller,
    State(s): State<AppState>,
    Path(incident): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult<axum::Json<Items<Responder>>> {
    let user = someone(&body)?;
    let items = s
        .app
        .roles()
        .leave(&caller, &incident_ref(&incident)?, user)
        .await?;
    Ok(axum::Json(Items { items }))
}
