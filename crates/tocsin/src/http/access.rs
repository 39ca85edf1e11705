//! Credentials: integration keys and API tokens. Secrets are returned once, at creation, and stored hashed.

use super::AppState;
use super::catalog::Items;
use super::error::{ApiError, ApiResult, ErrorResponse};
use super::extract::Query;
use super::extract::{Caller, Json, path_id};
use super::extract::{ServiceRef, UserRef};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tocsin_domain::auth::{Role, Scope, display_prefix, new_api_token, new_integration_key};
use tocsin_domain::ids::{IntegrationId, TokenId};
use tocsin_store::{
    ApiToken, Integration, IntegrationConfig, IntegrationKind, NewIntegration, NewToken, RawPayload,
};

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateIntegration {
    /// The sender's format; `pagerduty` when absent.
    #[serde(default = "pagerduty")]
    kind: IntegrationKind,
    /// A label, e.g. the sender's name.
    #[serde(default)]
    name: Option<String>,
    /// Rate limit and, for `generic`, the field mapping.
    #[serde(default)]
    config: IntegrationConfig,
}

fn pagerduty() -> IntegrationKind {
    IntegrationKind::Pagerduty
}

#[derive(Serialize, Deserialize, utoipa::ToSchema)]
pub struct CreatedIntegration {
    #[serde(flatten)]
    pub integration: Integration,
    /// The routing key. Shown only now.
    pub key: String,
    /// Where the sender posts events.
    pub url: String,
    /// How to point the sender at it.
    pub how: String,
}

/// Where a sender of `kind` posts, and how to configure it.
fn sender_url(base: &str, kind: IntegrationKind, key: &str) -> (String, &'static str) {
    match kind {
        IntegrationKind::Pagerduty => (
            format!("{base}/v2/enqueue"),
            "PagerDuty Events API v2: post events here with the key as routing_key (or the X-Routing-Key header).",
        ),
        IntegrationKind::Alertmanager => (
            format!("{base}/ingest/alertmanager/{key}"),
            "Alertmanager: use this URL in a receiver's webhook_configs (or /ingest/alertmanager with http_config.authorization).",
        ),
        IntegrationKind::Prometheus => (
            format!("{base}/ingest/prometheus/{key}"),
            "Prometheus, vmalert, amtool: use this URL as the Alertmanager URL; they post to its /api/v2/alerts.",
        ),
        IntegrationKind::Grafana => (
            format!("{base}/ingest/grafana/{key}"),
            "Grafana: add a webhook contact point with this URL (POST or PUT).",
        ),
        IntegrationKind::Opsgenie => (
            format!("{base}/v2/alerts"),
            "Opsgenie clients: set the API URL to this server and send the key as `Authorization: GenieKey <key>`.",
        ),
        IntegrationKind::Generic => (
            format!("{base}/ingest/generic/{key}"),
            "Any JSON sender: post here (or to /ingest/generic with `Authorization: Bearer <key>`); set config.mapping to map its fields.",
        ),
        IntegrationKind::Heartbeat => (
            format!("{base}/heartbeat/{key}"),
            "A job calls this URL (GET or POST) every config.heartbeat.interval_seconds; a missed beat opens an alert, the next beat resolves it.",
        ),
    }
}

fn nested(e: tocsin_domain::ValidationErrors, prefix: &str) -> tocsin_domain::ValidationErrors {
    tocsin_domain::ValidationErrors(e.0.into_iter().map(|f| f.under(prefix)).collect())
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateIntegration {
    config: IntegrationConfig,
}

/// Changes an integration's settings (rate limit, field mapping).
#[utoipa::path(patch, path = "/api/v1/integrations/{id}", tag = "integrations", security(("bearer" = [])),
    params(("id" = String, Path, description = "Integration ID")), request_body = UpdateIntegration,
    responses((status = 200, body = Integration), (status = "4XX", body = ErrorResponse)))]
pub async fn update_integration(
    caller: Caller,
    State(s): State<AppState>,
    Path(id): Path<String>,
    Json(req): Json<UpdateIntegration>,
) -> ApiResult<axum::Json<Integration>> {
    let id = path_id(&id, IntegrationId::parse, "integration")?;
    let updated = s
        .app
        .integrations()
        .update_config(&caller, &id, req.config)
        .await
        .map_err(|e| match e {
            tocsin_app::Error::Store(tocsin_store::StoreError::Invalid(v)) => {
                ApiError::from(nested(v, "config"))
            }
            e => e.into(),
        })?;
    Ok(axum::Json(updated))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PayloadQuery {
    /// At most this many (default 50; the last 100 are kept).
    limit: Option<u32>,
}

/// The most recent request bodies the integration accepted, newest first, as the sender sent them but with the
/// values of credential fields (`routing_key`, tokens, passwords, API keys) replaced by `[redacted]`. Needs write
/// scope.
#[utoipa::path(get, path = "/api/v1/integrations/{id}/payloads", tag = "integrations", security(("bearer" = [])),
    params(("id" = String, Path, description = "Integration ID"), PayloadQuery),
    responses((status = 200, body = Items<RawPayload>), (status = "4XX", body = ErrorResponse)))]
pub async fn integration_payloads(
    caller: Caller,
    State(s): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<PayloadQuery>,
) -> ApiResult<axum::Json<Items<RawPayload>>> {
    let id = path_id(&id, IntegrationId::parse, "integration")?;
    let items = s
        .app
        .integrations()
        .payloads(&caller, &id, q.limit.unwrap_or(0))
        .await?;
    Ok(axum::Json(Items { items }))
}

#[utoipa::path(get, path = "/api/v1/services/{service}/integrations", tag = "integrations", security(("bearer" = [])),
    params(("service" = String, Path, description = "Service ID or name")),
    responses((status = 200, body = Items<Integration>), (status = "4XX", body = ErrorResponse)))]
pub async fn list_integrations(
    caller: Caller,
    State(s): State<AppState>,
    Path(service): Path<String>,
) -> ApiResult<axum::Json<Items<Integration>>> {
    Ok(axum::Json(Items {
        items: s
            .app
            .integrations()
            .list(&caller, &ServiceRef::parse(&service))
            .await?,
    }))
}

/// Creates an integration and returns its key, once.
#[utoipa::path(post, path = "/api/v1/services/{service}/integrations", tag = "integrations", security(("bearer" = [])),
    params(("service" = String, Path, description = "Service ID or name")), request_body = CreateIntegration,
    responses((status = 201, body = CreatedIntegration), (status = "4XX", body = ErrorResponse)))]
pub async fn create_integration(
    caller: Caller,
    State(s): State<AppState>,
    Path(service): Path<String>,
    Json(req): Json<CreateIntegration>,
) -> ApiResult<(StatusCode, axum::Json<CreatedIntegration>)> {
    req.config
        .validate(req.kind)
        .map_err(|e| ApiError::from(nested(e, "config")))?;
    let key = new_integration_key();
    let name = req
        .name
        .filter(|n| !n.trim().is_empty())
        .unwrap_or_else(|| req.kind.as_str().to_owned());
    let new = NewIntegration {
        service: ServiceRef::parse(&service),
        kind: req.kind,
        name,
        key_hash: key.hash(),
        key_prefix: key.expose()[..6].to_owned(),
        config: req.config,
    };
    let integration = s.app.integrations().create(&caller, new).await?;
    let (url, how) = sender_url(&s.public_url, integration.kind, key.expose());
    Ok((
        StatusCode::CREATED,
        axum::Json(CreatedIntegration {
            integration,
            key: key.expose().to_owned(),
            url,
            how: how.to_owned(),
        }),
    ))
}

#[utoipa::path(get, path = "/api/v1/integrations/{id}", tag = "integrations", security(("bearer" = [])),
    params(("id" = String, Path, description = "Integration ID")),
    responses((status = 200, body = Integration), (status = "4XX", body = ErrorResponse)))]
pub async fn get_integration(
    caller: Caller,
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Integration>> {
    let id = path_id(&id, IntegrationId::parse, "integration")?;
    Ok(axum::Json(s.app.integrations().get(&caller, &id).await?))
}

/// Revokes the integration's key: its events are refused from now on.
#[utoipa::path(delete, path = "/api/v1/integrations/{id}", tag = "integrations", security(("bearer" = [])),
    params(("id" = String, Path, description = "Integration ID")),
    responses((status = 200, body = Integration), (status = "4XX", body = ErrorResponse)))]
pub async fn revoke_integration(
    caller: Caller,
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Integration>> {
    let id = path_id(&id, IntegrationId::parse, "integration")?;
    let revoked = s.app.integrations().revoke(&caller, &id).await?;
    Ok(axum::Json(revoked))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateToken {
    name: String,
    /// What the token may do; at most the creator's own role. Without it, a token for `user` acts with whatever
    /// role the user holds.
    #[serde(default)]
    role: Option<Role>,
    /// The older way of saying what a token may do: `read` is the observer role, `write` admin, `admin` owner.
    #[serde(default)]
    scope: Option<Scope>,
    /// When the token stops working; never, if absent.
    #[serde(default)]
    expires_at: Option<DateTime<Utc>>,
    /// The user (ID or email) the token acts as, so actions are credited to them.
    #[serde(default)]
    user: Option<String>,
}

#[derive(Serialize, Deserialize, utoipa::ToSchema)]
pub struct CreatedToken {
    #[serde(flatten)]
    pub info: ApiToken,
    /// The token. Shown only now.
    pub token: String,
}

#[utoipa::path(get, path = "/api/v1/tokens", tag = "tokens", security(("bearer" = [])),
    responses((status = 200, body = Items<ApiToken>), (status = "4XX", body = ErrorResponse)))]
pub async fn list_tokens(
    caller: Caller,
    State(s): State<AppState>,
) -> ApiResult<axum::Json<Items<ApiToken>>> {
    Ok(axum::Json(Items {
        items: s.app.tokens().list(&caller).await?,
    }))
}

/// Creates a token and returns it, once.
#[utoipa::path(post, path = "/api/v1/tokens", tag = "tokens", security(("bearer" = [])), request_body = CreateToken,
    responses((status = 201, body = CreatedToken), (status = "4XX", body = ErrorResponse)))]
pub async fn create_token(
    caller: Caller,
    State(s): State<AppState>,
    Json(req): Json<CreateToken>,
) -> ApiResult<(StatusCode, axum::Json<CreatedToken>)> {
    let name = req.name.trim();
    if name.is_empty() || name.len() > 100 {
        return Err(ApiError::field("name", "must be 1 to 100 characters"));
    }
    let now = s.app.now();
    if req.expires_at.is_some_and(|e| e <= now) {
        return Err(ApiError::field("expires_at", "must be in the future"));
    }
    let role = match (req.role, req.scope) {
        (Some(_), Some(_)) => {
            return Err(ApiError::field(
                "scope",
                "give the role alone; scope is its older form",
            ));
        }
        (None, None) if req.user.is_none() => {
            return Err(ApiError::field(
                "role",
                "is needed for a token that does not act as a user: observer, responder, admin or owner",
            ));
        }
        (role, scope) => role.or(scope.map(Role::for_scope)),
    };
    let secret = new_api_token();
    let new = NewToken {
        name: name.to_owned(),
        role,
        expires_at: req.expires_at,
        user: req.user.as_deref().map(UserRef::parse),
        token_hash: secret.hash(),
        token_prefix: display_prefix(secret.expose()),
    };
    let info = s
        .app
        .tokens()
        .create(&caller, new)
        .await
        .map_err(|e| match e {
            tocsin_app::Error::Store(tocsin_store::StoreError::NotFound { key, .. }) => {
                ApiError::field("user", format!("no user {key:?}"))
            }
            e => e.into(),
        })?;
    Ok((
        StatusCode::CREATED,
        axum::Json(CreatedToken {
            info,
            token: secret.expose().to_owned(),
        }),
    ))
}

#[utoipa::path(delete, path = "/api/v1/tokens/{id}", tag = "tokens", security(("bearer" = [])),
    params(("id" = String, Path, description = "Token ID")),
    responses((status = 200, body = ApiToken), (status = "4XX", body = ErrorResponse)))]
pub async fn revoke_token(
    caller: Caller,
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<ApiToken>> {
    let id = path_id(&id, TokenId::parse, "token")?;
    Ok(axum::Json(s.app.tokens().revoke(&caller, &id).await?))
}
