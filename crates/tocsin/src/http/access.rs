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
use tocsin_domain::auth::{Role, Scope};
use tocsin_domain::ids::{IntegrationId, TokenId};
use tocsin_store::{ApiToken, Integration, IntegrationConfig, IntegrationKind, RawPayload};

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateIntegration {
    /// The sender's format; `pagerduty` when absent.
    #[serde(default = "pagerduty")]
    kind: IntegrationKind,
    /// A label, e.g. the sender's name; the kind's name when absent or blank.
    #[serde(default)]
    #[schema(max_length = 100)]
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
pub(crate) fn sender_url(base: &str, kind: IntegrationKind, key: &str) -> (String, &'static str) {
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

/// A starting point to paste into the sender's configuration: its own format, with this integration's URL and key.
pub(crate) fn setup_snippet(
    base: &str,
    kind: IntegrationKind,
    key: &str,
    config: &IntegrationConfig,
) -> String {
    let (url, _) = sender_url(base, kind, key);
    match kind {
        IntegrationKind::Pagerduty => format!(
            "curl -sS -X POST {url} -H 'Content-Type: application/json' -d '{{\"routing_key\": \"{key}\", \
             \"event_action\": \"trigger\", \"dedup_key\": \"disk-db-1\", \"payload\": {{\"summary\": \
             \"Disk almost full on db-1\", \"source\": \"db-1\", \"severity\": \"critical\"}}}}'"
        ),
        IntegrationKind::Alertmanager => format!(
            "# alertmanager.yml\nroute:\n  receiver: tocsin\nreceivers:\n  - name: tocsin\n    webhook_configs:\n      \
             - url: {url}\n        send_resolved: true"
        ),
        IntegrationKind::Prometheus => {
            let parsed = url::Url::parse(base).ok();
            let scheme = parsed.as_ref().map_or("http", |u| u.scheme()).to_owned();
            let target = parsed
                .as_ref()
                .and_then(|u| {
                    u.host_str()
                        .map(|h| format!("{h}:{}", u.port_or_known_default().unwrap_or(80)))
                })
                .unwrap_or_else(|| "localhost:8080".into());
            let prefix = parsed
                .as_ref()
                .map(|u| u.path().trim_end_matches('/').to_owned())
                .unwrap_or_default();
            format!(
                "# prometheus.yml\nalerting:\n  alertmanagers:\n    - scheme: {scheme}\n      \
                 path_prefix: {prefix}/ingest/prometheus/{key}\n      static_configs:\n        - targets: [\"{target}\"]"
            )
        }
        IntegrationKind::Grafana => format!(
            "Alerting → Contact points → Add contact point\n  Integration: Webhook\n  URL: {url}\n  \
             HTTP Method: POST"
        ),
        IntegrationKind::Opsgenie => format!(
            "curl -sS -X POST {url} -H 'Authorization: GenieKey {key}' -H 'Content-Type: application/json' \
             -d '{{\"message\": \"Disk almost full on db-1\", \"alias\": \"disk-db-1\", \"priority\": \"P1\"}}'"
        ),
        IntegrationKind::Generic => format!(
            "curl -sS -X POST {url} -H 'Content-Type: application/json' -d '{{\"summary\": \
             \"Disk almost full on db-1\", \"severity\": \"critical\", \"dedup_key\": \"disk-db-1\"}}'"
        ),
        IntegrationKind::Heartbeat => {
            heartbeat_snippet(&url, config.heartbeat.map_or(300, |h| h.interval_seconds))
        }
    }
}

/// A job that beats as often as the integration expects: a crontab line when cron can keep that rhythm, a loop
/// otherwise.
fn heartbeat_snippet(url: &str, interval: u32) -> String {
    let job = "/usr/local/bin/your-job";
    let (minutes, hours) = (interval / 60, interval / 3600);
    let cron = if interval.is_multiple_of(60)
        && (1..60).contains(&minutes)
        && 60u32.is_multiple_of(minutes)
    {
        Some(format!("*/{minutes} * * * *"))
    } else if interval.is_multiple_of(3600)
        && (1..24).contains(&hours)
        && 24u32.is_multiple_of(hours)
    {
        Some(format!("0 */{hours} * * *"))
    } else if interval == 86_400 {
        Some("0 0 * * *".to_owned())
    } else {
        None
    };
    match cron {
        Some(schedule) => format!(
            "# crontab: beat after each successful run, every {interval} s\n{schedule} {job} && curl -fsS {url}"
        ),
        None => format!(
            "# every {interval} s, after each successful run\nwhile sleep {interval}; do {job} && curl -fsS {url}; done"
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
    let tocsin_app::Issued {
        record: integration,
        secret: key,
    } = s
        .app
        .integrations()
        .issue(
            &caller,
            tocsin_app::IntegrationRequest {
                service: ServiceRef::parse(&service),
                kind: req.kind,
                name: req.name,
                config: req.config,
            },
        )
        .await?;
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
    let role = match (req.role, req.scope) {
        (Some(_), Some(_)) => {
            return Err(ApiError::field(
                "scope",
                "give the role alone; scope is its older form",
            ));
        }
        (role, scope) => role.or(scope.map(Role::for_scope)),
    };
    let tocsin_app::Issued {
        record: info,
        secret,
    } = s
        .app
        .tokens()
        .issue(
            &caller,
            tocsin_app::TokenRequest {
                name: req.name,
                role,
                expires_at: req.expires_at,
                user: req.user.as_deref().map(UserRef::parse),
            },
        )
        .await?;
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

#[cfg(test)]
mod tests {
    #[test]
    fn a_heartbeat_snippet_beats_as_often_as_its_integration_expects() {
        let url = "http://127.0.0.1:8080/heartbeat/k";
        assert!(super::heartbeat_snippet(url, 60).contains("\n*/1 * * * * "));
        assert!(super::heartbeat_snippet(url, 900).contains("\n*/15 * * * * "));
        assert!(super::heartbeat_snippet(url, 7200).contains("\n0 */2 * * * "));
        assert!(super::heartbeat_snippet(url, 86_400).contains("\n0 0 * * * "));
        assert!(super::heartbeat_snippet(url, 420).contains("while sleep 420;"));
        assert!(super::heartbeat_snippet(url, 90).contains("while sleep 90;"));
    }
}
