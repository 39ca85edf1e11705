//! Catalog endpoints: users, teams, services, change events and the declarative document.

use super::AppState;
use super::error::{ApiResult, ErrorResponse};
use super::extract::Query;
use super::extract::{Caller, Created, Json};
use super::extract::{ServiceRef, TeamRef, UserRef};
use super::warnings::warned;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use tocsin_domain::auth::Role;
use tocsin_domain::catalog::{
    CatalogDocument, PlanAction, PlanEntry, Service, ServiceSpec, Team, TeamSpec, User, UserSpec,
};
use tocsin_store::ChangeRecord;

/// A list of items.
#[derive(Serialize, Deserialize, utoipa::ToSchema)]
pub struct Items<T> {
    pub items: Vec<T>,
}

fn created<T>(v: T) -> Created<T> {
    (StatusCode::CREATED, axum::Json(v))
}

#[utoipa::path(get, path = "/api/v1/users", tag = "catalog", security(("bearer" = [])),
    responses((status = 200, body = Items<User>), (status = "4XX", body = ErrorResponse)))]
pub async fn list_users(
    caller: Caller,
    State(s): State<AppState>,
) -> ApiResult<axum::Json<Items<User>>> {
    Ok(axum::Json(Items {
        items: s.app.users().list(&caller).await?,
    }))
}

#[utoipa::path(post, path = "/api/v1/users", tag = "catalog", security(("bearer" = [])), request_body = UserSpec,
    responses((status = 201, body = User), (status = "4XX", body = ErrorResponse)))]
pub async fn create_user(
    caller: Caller,
    State(s): State<AppState>,
    Json(spec): Json<UserSpec>,
) -> ApiResult<Created<User>> {
    Ok(created(s.app.users().create(&caller, spec).await?))
}

#[utoipa::path(get, path = "/api/v1/users/{user}", tag = "catalog", security(("bearer" = [])),
    params(("user" = String, Path, description = "User ID or email")),
    responses((status = 200, body = User), (status = "4XX", body = ErrorResponse)))]
pub async fn get_user(
    caller: Caller,
    State(s): State<AppState>,
    Path(user): Path<String>,
) -> ApiResult<axum::Json<User>> {
    Ok(axum::Json(
        s.app.users().get(&caller, &UserRef::parse(&user)).await?,
    ))
}

#[utoipa::path(put, path = "/api/v1/users/{user}", tag = "catalog", security(("bearer" = [])), request_body = UserSpec,
    params(("user" = String, Path, description = "User ID or email")),
    responses((status = 200, body = User), (status = "4XX", body = ErrorResponse)))]
pub async fn replace_user(
    caller: Caller,
    State(s): State<AppState>,
    Path(user): Path<String>,
    Json(spec): Json<UserSpec>,
) -> ApiResult<axum::Json<User>> {
    Ok(axum::Json(
        s.app
            .users()
            .replace(&caller, &UserRef::parse(&user), spec)
            .await?,
    ))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleChange {
    pub role: Role,
}

/// Gives a person a role; owners only. The last owner keeps the owner role.
#[utoipa::path(put, path = "/api/v1/users/{user}/role", tag = "catalog", security(("bearer" = [])), request_body = RoleChange,
    params(("user" = String, Path, description = "User ID or email")),
    responses((status = 200, body = User), (status = "4XX", body = ErrorResponse)))]
pub async fn set_user_role(
    caller: Caller,
    State(s): State<AppState>,
    Path(user): Path<String>,
    Json(change): Json<RoleChange>,
) -> ApiResult<axum::Json<User>> {
    Ok(axum::Json(
        s.app
            .users()
            .set_role(&caller, &UserRef::parse(&user), change.role)
            .await?,
    ))
}

#[utoipa::path(delete, path = "/api/v1/users/{user}", tag = "catalog", security(("bearer" = [])),
    params(("user" = String, Path, description = "User ID or email")),
    responses((status = 204), (status = "4XX", body = ErrorResponse)))]
pub async fn delete_user(
    caller: Caller,
    State(s): State<AppState>,
    Path(user): Path<String>,
) -> ApiResult<StatusCode> {
    s.app
        .users()
        .delete(&caller, &UserRef::parse(&user))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/v1/teams", tag = "catalog", security(("bearer" = [])),
    responses((status = 200, body = Items<Team>), (status = "4XX", body = ErrorResponse)))]
pub async fn list_teams(
    caller: Caller,
    State(s): State<AppState>,
) -> ApiResult<axum::Json<Items<Team>>> {
    Ok(axum::Json(Items {
        items: s.app.teams().list(&caller).await?,
    }))
}

#[utoipa::path(post, path = "/api/v1/teams", tag = "catalog", security(("bearer" = [])), request_body = TeamSpec,
    responses((status = 201, body = Team), (status = "4XX", body = ErrorResponse)))]
pub async fn create_team(
    caller: Caller,
    State(s): State<AppState>,
    Json(spec): Json<TeamSpec>,
) -> ApiResult<Created<Team>> {
    Ok(created(s.app.teams().create(&caller, spec).await?))
}

#[utoipa::path(get, path = "/api/v1/teams/{team}", tag = "catalog", security(("bearer" = [])),
    params(("team" = String, Path, description = "Team ID or name")),
    responses((status = 200, body = Team), (status = "4XX", body = ErrorResponse)))]
pub async fn get_team(
    caller: Caller,
    State(s): State<AppState>,
    Path(team): Path<String>,
) -> ApiResult<axum::Json<Team>> {
    Ok(axum::Json(
        s.app.teams().get(&caller, &TeamRef::parse(&team)).await?,
    ))
}

#[utoipa::path(put, path = "/api/v1/teams/{team}", tag = "catalog", security(("bearer" = [])), request_body = TeamSpec,
    params(("team" = String, Path, description = "Team ID or name")),
    responses((status = 200, body = Team), (status = "4XX", body = ErrorResponse)))]
pub async fn replace_team(
    caller: Caller,
    State(s): State<AppState>,
    Path(team): Path<String>,
    Json(spec): Json<TeamSpec>,
) -> ApiResult<axum::Json<Team>> {
    Ok(axum::Json(
        s.app
            .teams()
            .replace(&caller, &TeamRef::parse(&team), spec)
            .await?,
    ))
}

#[utoipa::path(delete, path = "/api/v1/teams/{team}", tag = "catalog", security(("bearer" = [])),
    params(("team" = String, Path, description = "Team ID or name")),
    responses((status = 204), (status = "4XX", body = ErrorResponse)))]
pub async fn delete_team(
    caller: Caller,
    State(s): State<AppState>,
    Path(team): Path<String>,
) -> ApiResult<StatusCode> {
    s.app
        .teams()
        .delete(&caller, &TeamRef::parse(&team))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/v1/services", tag = "catalog", security(("bearer" = [])),
    responses((status = 200, body = Items<Service>), (status = "4XX", body = ErrorResponse)))]
pub async fn list_services(
    caller: Caller,
    State(s): State<AppState>,
) -> ApiResult<axum::Json<Items<Service>>> {
    Ok(axum::Json(Items {
        items: s.app.services().list(&caller).await?,
    }))
}

#[utoipa::path(post, path = "/api/v1/services", tag = "catalog", security(("bearer" = [])), request_body = ServiceSpec,
    responses((status = 201, body = Service, headers(("Warning" = String, description = "What the change leaves that cannot page, as `299 tocsin \"text\"`; one header per warning"))), (status = "4XX", body = ErrorResponse)))]
pub async fn create_service(
    caller: Caller,
    State(s): State<AppState>,
    Json(spec): Json<ServiceSpec>,
) -> ApiResult<Response> {
    let service = s.app.services().create(&caller, spec).await?;
    Ok(warned(StatusCode::CREATED, service))
}

#[utoipa::path(get, path = "/api/v1/services/{service}", tag = "catalog", security(("bearer" = [])),
    params(("service" = String, Path, description = "Service ID or name")),
    responses((status = 200, body = Service), (status = "4XX", body = ErrorResponse)))]
pub async fn get_service(
    caller: Caller,
    State(s): State<AppState>,
    Path(service): Path<String>,
) -> ApiResult<axum::Json<Service>> {
    Ok(axum::Json(
        s.app
            .services()
            .get(&caller, &ServiceRef::parse(&service))
            .await?,
    ))
}

#[utoipa::path(put, path = "/api/v1/services/{service}", tag = "catalog", security(("bearer" = [])), request_body = ServiceSpec,
    params(("service" = String, Path, description = "Service ID or name")),
    responses((status = 200, body = Service), (status = "4XX", body = ErrorResponse)))]
pub async fn replace_service(
    caller: Caller,
    State(s): State<AppState>,
    Path(service): Path<String>,
    Json(spec): Json<ServiceSpec>,
) -> ApiResult<axum::Json<Service>> {
    Ok(axum::Json(
        s.app
            .services()
            .replace(&caller, &ServiceRef::parse(&service), spec)
            .await?,
    ))
}

#[utoipa::path(delete, path = "/api/v1/services/{service}", tag = "catalog", security(("bearer" = [])),
    params(("service" = String, Path, description = "Service ID or name")),
    responses((status = 204, description = "Deleted; its integration keys are revoked"), (status = "4XX", body = ErrorResponse)))]
pub async fn delete_service(
    caller: Caller,
    State(s): State<AppState>,
    Path(service): Path<String>,
) -> ApiResult<StatusCode> {
    s.app
        .services()
        .delete(&caller, &ServiceRef::parse(&service))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LimitQuery {
    /// At most this many (default 50, max 500).
    limit: Option<u32>,
}

/// Change events (deploys and the like) recorded on a service, newest first.
#[utoipa::path(get, path = "/api/v1/services/{service}/changes", tag = "catalog", security(("bearer" = [])),
    params(("service" = String, Path, description = "Service ID or name"), LimitQuery),
    responses((status = 200, body = Items<ChangeRecord>), (status = "4XX", body = ErrorResponse)))]
pub async fn service_changes(
    caller: Caller,
    State(s): State<AppState>,
    Path(service): Path<String>,
    Query(q): Query<LimitQuery>,
) -> ApiResult<axum::Json<Items<ChangeRecord>>> {
    Ok(axum::Json(Items {
        items: s
            .app
            .services()
            .changes(&caller, &ServiceRef::parse(&service), q.limit.unwrap_or(0))
            .await?,
    }))
}

/// The whole catalog as one document, in the format `apply` takes.
#[utoipa::path(get, path = "/api/v1/catalog", tag = "catalog", security(("bearer" = [])),
    responses((status = 200, body = CatalogDocument), (status = "4XX", body = ErrorResponse)))]
pub async fn export_catalog(
    caller: Caller,
    State(s): State<AppState>,
) -> ApiResult<axum::Json<CatalogDocument>> {
    Ok(axum::Json(s.app.catalog().export(&caller).await?))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ApplyQuery {
    /// Report what would change without changing anything.
    #[serde(default)]
    dry_run: bool,
}

#[derive(Serialize, Deserialize, utoipa::ToSchema)]
pub struct ApplyReport {
    pub dry_run: bool,
    pub created: usize,
    pub updated: usize,
    pub unchanged: usize,
    pub entries: Vec<PlanEntry>,
}

/// Creates or updates everything the document describes, all or nothing. Applying the same document twice changes
/// nothing; entries missing from the document are left alone.
#[utoipa::path(post, path = "/api/v1/catalog/apply", tag = "catalog", security(("bearer" = [])), request_body = CatalogDocument,
    params(ApplyQuery), responses((status = 200, body = ApplyReport), (status = "4XX", body = ErrorResponse)))]
pub async fn apply_catalog(
    caller: Caller,
    State(s): State<AppState>,
    Query(q): Query<ApplyQuery>,
    Json(doc): Json<CatalogDocument>,
) -> ApiResult<axum::Json<ApplyReport>> {
    let entries = s.app.catalog().apply(&caller, doc, q.dry_run).await?;
    let count = |a| entries.iter().filter(|e| e.action == a).count();
    Ok(axum::Json(ApplyReport {
        dry_run: q.dry_run,
        created: count(PlanAction::Created),
        updated: count(PlanAction::Updated),
        unchanged: count(PlanAction::Unchanged),
        entries,
    }))
}
