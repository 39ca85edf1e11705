//! Ingest endpoints for senders other than PagerDuty: Alertmanager (webhook and its own `/api/v2/alerts`),
//! Grafana, Opsgenie and generic JSON. Each authenticates its integration key, parses the body with its
//! `tocsin_domain::senders` parser and stores the request's events in one durable transaction before answering,
//! in the sender's own response format where it has one.

use super::AppState;
use super::error::{ApiError, ErrorCode};
use super::extract::sender_body;
use axum::Json;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use std::time::{Duration, Instant};
use tocsin_app::{Accepted, Over};
use tocsin_domain::ValidationErrors;
use tocsin_domain::alert::EventAction;
use tocsin_domain::alert::{Alert, AlertStatus};
use tocsin_domain::ids::AlertId;
use tocsin_domain::integration::IntegrationKind;
use tocsin_domain::senders::opsgenie::{Receipt, RequestAction, RequestOutcome, UpdateField};
use tocsin_domain::senders::{Batch, alertmanager, generic, grafana, opsgenie};
use tocsin_store::{IngestResult, Integration, StoreError};

/// Why a sender's request was refused; each endpoint renders it in its sender's format.
#[derive(Debug)]
pub(super) enum Refusal {
    NoKey,
    UnknownKey,
    WrongKind(&'static str),
    Limited(Over, Duration),
    Api(ApiError),
    Invalid(ValidationErrors),
}

impl Refusal {
    pub(super) fn into_api_error(self) -> Response {
        let (err, retry) = self.into_error();
        let mut resp = err.into_response();
        if let Some(wait) = retry {
            set_retry_after(&mut resp, wait);
        }
        resp
    }

    /// The refusal as an API error, and how long a rate-limited sender should wait.
    pub(super) fn into_error(self) -> (ApiError, Option<Duration>) {
        match self {
            Self::NoKey => (
                ApiError::new(
                    ErrorCode::MissingToken,
                    "send the integration key in the URL or as `Authorization: Bearer <key>`",
                ),
                None,
            ),
            Self::UnknownKey => (
                ApiError::new(
                    ErrorCode::InvalidToken,
                    "the integration key is unknown or revoked",
                ),
                None,
            ),
            Self::WrongKind(actual) => (
                ApiError::new(
                    ErrorCode::InvalidToken,
                    format!(
                        "this key belongs to a {actual} integration; send to that integration's URL"
                    ),
                ),
                None,
            ),
            Self::Limited(over, wait) => (
                ApiError::new(ErrorCode::RateLimited, over_limit(over)),
                Some(wait),
            ),
            Self::Api(e) => (e, None),
            Self::Invalid(v) => (v.into(), None),
        }
    }
}

impl From<tocsin_app::Refusal> for Refusal {
    fn from(r: tocsin_app::Refusal) -> Self {
        use tocsin_app::Refusal as R;
        match r {
            R::NoKey => Self::NoKey,
            R::UnknownKey => Self::UnknownKey,
            R::WrongKind(k) => Self::WrongKind(k),
            R::Limited(over, wait) => Self::Limited(over, wait),
            R::TooMany { events, max } => Self::Api(ApiError::new(
                ErrorCode::PayloadTooLarge,
                format!(
                    "this request carries {events} alerts; Tocsin takes at most {max} in one request: send \
                     fewer at a time (for Alertmanager, set `max_alerts` in the webhook_config)"
                ),
            )),
            R::Malformed(m) => Self::Api(ApiError::new(ErrorCode::MalformedJson, m)),
            R::Invalid(v) => Self::Invalid(v),
            R::Failed(e) => Self::Api(e.into()),
        }
    }
}

/// Why a request was throttled, in words.
fn over_limit(over: Over) -> &'static str {
    match over {
        Over::Integration => "this integration is over its rate limit; retry later",
        Over::Server => {
            "Tocsin is taking in more events than its ingest budget allows; retry later"
        }
    }
}

/// The integration for a request's key, checked against the endpoint's kind and rate limit; and the key's hash.
pub(super) async fn admit(
    state: &AppState,
    kind: IntegrationKind,
    key: Option<String>,
) -> Result<(Integration, String), Refusal> {
    Ok(state.app.ingest().admit(kind, key).await?)
}

/// Reads a sender's request body and hands it to the ingest use case.
async fn intake(
    state: &AppState,
    integration: &Integration,
    key_hash: &str,
    req: Request,
    parse: impl FnOnce(&serde_json::Value, &Integration) -> Result<Batch, ValidationErrors>,
) -> Result<Accepted, Refusal> {
    let started = Instant::now();
    let bytes = sender_body(req, state).await.map_err(|e| {
        state
            .app
            .ingest()
            .count(integration.kind.as_str(), "invalid");
        Refusal::Api(e)
    })?;
    Ok(state
        .app
        .ingest()
        .accept(integration, key_hash, &bytes, started, parse)
        .await?)
}

/// Stores a batch already parsed from a request body.
pub(super) async fn store_batch(
    state: &AppState,
    integration: &Integration,
    key_hash: &str,
    batch: Batch,
    body: &[u8],
    started: Instant,
) -> Result<Accepted, Refusal> {
    Ok(state
        .app
        .ingest()
        .store(integration, key_hash, batch, body, started)
        .await?)
}

pub(super) fn set_retry_after(resp: &mut Response, wait: Duration) {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    resp.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
}

/// The key from the URL, or from `Authorization: Bearer|GenieKey <key>`, or the password of basic auth.
pub(super) fn key_from(path_key: Option<String>, headers: &HeaderMap) -> Option<String> {
    if let Some(k) = path_key.filter(|k| !k.is_empty()) {
        return Some(k);
    }
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, rest) = value.split_once(' ')?;
    match scheme.to_ascii_lowercase().as_str() {
        "bearer" | "genie" | "geniekey" => Some(rest.trim().to_owned()),
        "basic" => {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(rest.trim())
                .ok()?;
            let (user, pass) = String::from_utf8(decoded)
                .ok()?
                .split_once(':')
                .map(|(u, p)| (u.to_owned(), p.to_owned()))?;
            Some(if pass.is_empty() { user } else { pass })
        }
        _ => None,
    }
    .filter(|k| !k.is_empty())
}

/// Runs an endpoint's whole flow and renders refusals as API errors.
async fn handle(
    state: AppState,
    kind: IntegrationKind,
    path_key: Option<String>,
    req: Request,
    parse: impl FnOnce(&serde_json::Value, &Integration) -> Result<Batch, ValidationErrors>,
    answer: impl FnOnce(Accepted) -> Response,
) -> Response {
    handle_refusing(
        state,
        kind,
        path_key,
        req,
        parse,
        answer,
        Refusal::into_api_error,
    )
    .await
}

/// [`handle`], with the sender's own rendering of refusals.
async fn handle_refusing(
    state: AppState,
    kind: IntegrationKind,
    path_key: Option<String>,
    req: Request,
    parse: impl FnOnce(&serde_json::Value, &Integration) -> Result<Batch, ValidationErrors>,
    answer: impl FnOnce(Accepted) -> Response,
    refuse: impl FnOnce(Refusal) -> Response,
) -> Response {
    let key = key_from(path_key, req.headers());
    let result = match admit(&state, kind, key).await {
        Ok((integration, key_hash)) => intake(&state, &integration, &key_hash, req, parse).await,
        Err(r) => Err(r),
    };
    match result {
        Ok(accepted) => answer(accepted),
        Err(r) => refuse(r),
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct BatchAccepted {
    #[schema(example = "success")]
    status: &'static str,
    /// Events stored.
    events: usize,
    /// True when the request re-sent a state already stored: nothing was written.
    unchanged: bool,
}

fn batch_answer(status: StatusCode) -> impl FnOnce(Accepted) -> Response {
    move |a| {
        (
            status,
            Json(BatchAccepted {
                status: "success",
                events: a.outcomes.len(),
                unchanged: a.unchanged,
            }),
        )
            .into_response()
    }
}

/// Alertmanager `webhook_configs` (payload version 4), key in the path.
#[utoipa::path(post, path = "/ingest/alertmanager/{key}", tag = "ingest", params(("key" = String, Path, description = "Integration key")),
    request_body(content = Object, description = "Alertmanager webhook payload, version 4"),
    responses((status = 200, body = BatchAccepted), (status = "4XX", body = super::error::ErrorResponse)))]
pub async fn alertmanager_webhook(
    State(state): State<AppState>,
    Path(key): Path<String>,
    req: Request,
) -> Response {
    handle(
        state,
        IntegrationKind::Alertmanager,
        Some(key),
        req,
        |v, _| alertmanager::parse_webhook(v),
        batch_answer(StatusCode::OK),
    )
    .await
}

/// Alertmanager `webhook_configs` (payload version 4), key as `Authorization: Bearer` (`http_config.authorization`).
#[utoipa::path(post, path = "/ingest/alertmanager", tag = "ingest",
    request_body(content = Object, description = "Alertmanager webhook payload, version 4"),
    responses((status = 200, body = BatchAccepted), (status = "4XX", body = super::error::ErrorResponse)))]
pub async fn alertmanager_webhook_bearer(State(state): State<AppState>, req: Request) -> Response {
    handle(
        state,
        IntegrationKind::Alertmanager,
        None,
        req,
        |v, _| alertmanager::parse_webhook(v),
        batch_answer(StatusCode::OK),
    )
    .await
}

/// Alertmanager's own alerts API, as Prometheus, vmalert and amtool post it. Point them at
/// `…/ingest/prometheus/{key}` as their Alertmanager URL; they append `/api/v2/alerts`.
#[utoipa::path(post, path = "/ingest/prometheus/{key}/api/v2/alerts", tag = "ingest", params(("key" = String, Path, description = "Integration key")),
    request_body(content = Vec<Object>, description = "Alertmanager API v2 postable alerts"),
    responses((status = 200, description = "Accepted"), (status = "4XX", body = String, content_type = "application/json", description = "The error, as a JSON string")))]
pub async fn prometheus_alerts(
    State(state): State<AppState>,
    Path(key): Path<String>,
    req: Request,
) -> Response {
    let now = state.app.now();
    handle_refusing(
        state,
        IntegrationKind::Prometheus,
        Some(key),
        req,
        move |v, _| alertmanager::parse_api_alerts(v, now),
        |_| StatusCode::OK.into_response(),
        super::alertmanager_api::refuse,
    )
    .await
}

/// Alertmanager's own alerts API with the key as `Authorization: Bearer`, at the path Prometheus uses by default.
#[utoipa::path(post, path = "/api/v2/alerts", tag = "ingest",
    request_body(content = Vec<Object>, description = "Alertmanager API v2 postable alerts"),
    responses((status = 200, description = "Accepted"), (status = "4XX", body = String, content_type = "application/json", description = "The error, as a JSON string")))]
pub async fn prometheus_alerts_bearer(State(state): State<AppState>, req: Request) -> Response {
    let now = state.app.now();
    handle_refusing(
        state,
        IntegrationKind::Prometheus,
        None,
        req,
        move |v, _| alertmanager::parse_api_alerts(v, now),
        |_| StatusCode::OK.into_response(),
        super::alertmanager_api::refuse,
    )
    .await
}

/// Grafana alerting webhook contact point (POST or PUT), key in the path.
#[utoipa::path(post, path = "/ingest/grafana/{key}", tag = "ingest", params(("key" = String, Path, description = "Integration key")),
    request_body(content = Object, description = "Grafana webhook payload"),
    responses((status = 200, body = BatchAccepted), (status = "4XX", body = super::error::ErrorResponse)))]
pub async fn grafana_webhook(
    State(state): State<AppState>,
    Path(key): Path<String>,
    req: Request,
) -> Response {
    handle(
        state,
        IntegrationKind::Grafana,
        Some(key),
        req,
        |v, _| grafana::parse(v),
        batch_answer(StatusCode::OK),
    )
    .await
}

/// Grafana alerting webhook sent with PUT, key in the path.
#[utoipa::path(put, path = "/ingest/grafana/{key}", tag = "ingest", params(("key" = String, Path, description = "Integration key")),
    request_body(content = Object, description = "Grafana webhook payload"),
    responses((status = 200, body = BatchAccepted), (status = "4XX", body = super::error::ErrorResponse)))]
pub async fn grafana_webhook_put(
    state: State<AppState>,
    key: Path<String>,
    req: Request,
) -> Response {
    grafana_webhook(state, key, req).await
}

/// Grafana alerting webhook sent with PUT, key as a bearer token or the basic-auth password.
#[utoipa::path(put, path = "/ingest/grafana", tag = "ingest",
    request_body(content = Object, description = "Grafana webhook payload"),
    responses((status = 200, body = BatchAccepted), (status = "4XX", body = super::error::ErrorResponse)))]
pub async fn grafana_webhook_auth_put(state: State<AppState>, req: Request) -> Response {
    grafana_webhook_auth(state, req).await
}

/// Grafana alerting webhook (POST or PUT), key as a bearer token or the basic-auth password.
#[utoipa::path(post, path = "/ingest/grafana", tag = "ingest",
    request_body(content = Object, description = "Grafana webhook payload"),
    responses((status = 200, body = BatchAccepted), (status = "4XX", body = super::error::ErrorResponse)))]
pub async fn grafana_webhook_auth(State(state): State<AppState>, req: Request) -> Response {
    handle(
        state,
        IntegrationKind::Grafana,
        None,
        req,
        |v, _| grafana::parse(v),
        batch_answer(StatusCode::OK),
    )
    .await
}

/// Generic JSON, mapped by the integration's field mapping; key in the path.
#[utoipa::path(post, path = "/ingest/generic/{key}", tag = "ingest", params(("key" = String, Path, description = "Integration key")),
    request_body(content = Object, description = "One event object, an array of them, or any JSON the mapping describes"),
    responses((status = 202, body = BatchAccepted), (status = "4XX", body = super::error::ErrorResponse)))]
pub async fn generic_event(
    State(state): State<AppState>,
    Path(key): Path<String>,
    req: Request,
) -> Response {
    handle(
        state,
        IntegrationKind::Generic,
        Some(key),
        req,
        parse_generic,
        batch_answer(StatusCode::ACCEPTED),
    )
    .await
}

/// Generic JSON with the key as `Authorization: Bearer`.
#[utoipa::path(post, path = "/ingest/generic", tag = "ingest",
    request_body(content = Object, description = "One event object, an array of them, or any JSON the mapping describes"),
    responses((status = 202, body = BatchAccepted), (status = "4XX", body = super::error::ErrorResponse)))]
pub async fn generic_event_bearer(State(state): State<AppState>, req: Request) -> Response {
    handle(
        state,
        IntegrationKind::Generic,
        None,
        req,
        parse_generic,
        batch_answer(StatusCode::ACCEPTED),
    )
    .await
}

fn parse_generic(
    v: &serde_json::Value,
    integration: &Integration,
) -> Result<Batch, ValidationErrors> {
    let default = generic::FieldMapping::default();
    generic::parse(v, integration.config.mapping.as_ref().unwrap_or(&default))
}

// ---- Opsgenie ----------------------------------------------------------------------------------------------------

/// Opsgenie's answer shape, for success and failure alike.
#[derive(Serialize, utoipa::ToSchema)]
pub struct OpsgenieAnswer {
    #[serde(skip_serializing_if = "Option::is_none")]
    result: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<String>,
    took: f64,
    #[serde(rename = "requestId")]
    request_id: String,
}

/// The receipt of a request that Tocsin processed.
fn receipt(action: RequestAction, accepted: &Accepted, now: DateTime<Utc>) -> Receipt {
    let outcome = accepted.outcomes.first();
    let alert_id = outcome.and_then(|o| o.alert_id.clone());
    let outcome = match outcome.map(|o| o.result) {
        Some(IngestResult::Created) => RequestOutcome::Created,
        Some(IngestResult::Deduplicated) => RequestOutcome::Deduplicated,
        Some(IngestResult::Acknowledged) => RequestOutcome::Acknowledged,
        Some(IngestResult::Resolved) => RequestOutcome::Closed,
        Some(IngestResult::Updated) => RequestOutcome::Updated,
        Some(IngestResult::Ignored) | None if alert_id.is_some() => RequestOutcome::AlreadyDone,
        Some(IngestResult::Ignored) | None => RequestOutcome::NoAlert,
    };
    Receipt {
        action,
        outcome,
        alert_id,
        processed_at: now,
    }
}

fn opsgenie_answer(started: Instant, result: Result<Receipt, Refusal>) -> Response {
    let took = started.elapsed().as_secs_f64();
    let (status, message, retry) = match result {
        Ok(receipt) => {
            let body = OpsgenieAnswer {
                result: Some("Request will be processed"),
                message: None,
                took,
                request_id: receipt.request_id(),
            };
            return (StatusCode::ACCEPTED, Json(body)).into_response();
        }
        Err(Refusal::NoKey) => (
            StatusCode::UNAUTHORIZED,
            "Key format is not valid! Send `Authorization: GenieKey <key>`".to_owned(),
            None,
        ),
        Err(Refusal::UnknownKey) => (
            StatusCode::UNAUTHORIZED,
            "Could not authenticate: the key is unknown or revoked".to_owned(),
            None,
        ),
        Err(Refusal::WrongKind(k)) => (
            StatusCode::UNAUTHORIZED,
            format!("This key belongs to a {k} integration"),
            None,
        ),
        Err(Refusal::Limited(Over::Integration, wait)) => (
            StatusCode::TOO_MANY_REQUESTS,
            "You are making too many requests! Retry later".to_owned(),
            Some(wait),
        ),
        Err(Refusal::Limited(Over::Server, wait)) => (
            StatusCode::TOO_MANY_REQUESTS,
            over_limit(Over::Server).to_owned(),
            Some(wait),
        ),
        Err(Refusal::Invalid(v)) => (StatusCode::UNPROCESSABLE_ENTITY, v.to_string(), None),
        Err(Refusal::Api(e)) => (e.0.code.status(), e.0.message, None),
    };
    let mut resp = opsgenie_refusal(status, &message);
    if let Some(wait) = retry {
        set_retry_after(&mut resp, wait);
    }
    resp
}

/// A refusal in Opsgenie's shape, for paths under its API that no handler takes.
pub fn opsgenie_refusal(status: StatusCode, message: &str) -> Response {
    (
        status,
        Json(OpsgenieAnswer {
            result: None,
            message: Some(message.to_owned()),
            took: 0.0,
            request_id: opsgenie::new_request_id(),
        }),
    )
        .into_response()
}

/// Opsgenie: create an alert (`alias` is the dedup key).
#[utoipa::path(post, path = "/v2/alerts", tag = "ingest",
    params(("Authorization" = String, Header, description = "GenieKey <key>")),
    request_body(content = Object, description = "Opsgenie create-alert request"),
    responses((status = 202, body = OpsgenieAnswer), (status = "4XX", body = OpsgenieAnswer)))]
pub async fn opsgenie_create(State(state): State<AppState>, req: Request) -> Response {
    let started = Instant::now();
    let key = key_from(None, req.headers());
    let result = match admit(&state, IntegrationKind::Opsgenie, key).await {
        Ok((integration, key_hash)) => {
            intake(&state, &integration, &key_hash, req, |v, _| {
                opsgenie::parse_create(v)
            })
            .await
        }
        Err(r) => Err(r),
    };
    let now = state.app.now();
    opsgenie_answer(
        started,
        result.map(|a| receipt(RequestAction::Create, &a, now)),
    )
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct IdentifierQuery {
    /// `id` (Tocsin's alert ID, as request statuses report it), `tiny` (the alert's number) or `alias`. Without
    /// it, an identifier shaped like an alert ID is one, and anything else is an alias.
    #[serde(rename = "identifierType")]
    identifier_type: Option<String>,
}

fn opsgenie_not_found() -> Refusal {
    Refusal::Api(ApiError::new(ErrorCode::NotFound, "Alert does not exist"))
}

/// The alert an identifier names, within the integration's service.
async fn opsgenie_alert(
    state: &AppState,
    integration: &Integration,
    identifier: &str,
    q: &IdentifierQuery,
) -> Result<Option<(Alert, i64)>, Refusal> {
    let api = state.app.sender_api(integration);
    let found = match q.identifier_type.as_deref() {
        Some("alias") => return Ok(None),
        Some("id") => match AlertId::parse(identifier) {
            Some(id) => api.alert(&id).await,
            None => return Err(opsgenie_not_found()),
        },
        Some("tiny") => match identifier.parse::<i64>() {
            Ok(n) => api.alert_numbered(n).await,
            Err(_) => return Err(opsgenie_not_found()),
        },
        None => match AlertId::parse(identifier) {
            Some(id) => api.alert(&id).await,
            None => return Ok(None),
        },
        Some(_) => {
            return Err(Refusal::Api(ApiError::field(
                "identifierType",
                "must be id, tiny or alias",
            )));
        }
    };
    match found {
        Ok(found) => Ok(Some(found)),
        Err(tocsin_app::Error::Store(StoreError::NotFound { .. })) => Err(opsgenie_not_found()),
        Err(e) => Err(Refusal::Api(e.into())),
    }
}

/// What an Opsgenie request does to the alert its path names.
#[derive(Clone, Copy)]
enum OpsgenieAct {
    Transition(EventAction),
    Update(UpdateField),
}

impl OpsgenieAct {
    fn request_action(self) -> RequestAction {
        match self {
            Self::Transition(EventAction::Resolve) => RequestAction::Close,
            Self::Transition(_) => RequestAction::Acknowledge,
            Self::Update(field) => field.request_action(),
        }
    }

    /// What the receipt says when the alert named by ID or number is already closed.
    fn on_closed_alert(self) -> RequestOutcome {
        match self {
            Self::Transition(EventAction::Resolve) => RequestOutcome::AlreadyDone,
            _ => RequestOutcome::NoAlert,
        }
    }

    fn parse(
        self,
        alias: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<Batch, ValidationErrors> {
        match self {
            Self::Transition(action) => opsgenie::parse_action(alias, action, body),
            Self::Update(field) => {
                opsgenie::parse_update(alias, field, body.unwrap_or(&serde_json::Value::Null))
            }
        }
    }
}

async fn opsgenie_action(
    state: AppState,
    identifier: String,
    q: IdentifierQuery,
    act: OpsgenieAct,
    req: Request,
) -> Response {
    let started = Instant::now();
    let key = key_from(None, req.headers());
    let result = match admit(&state, IntegrationKind::Opsgenie, key).await {
        Ok((integration, key_hash)) => {
            opsgenie_act(&state, &integration, &key_hash, &identifier, &q, act, req).await
        }
        Err(r) => Err(r),
    };
    opsgenie_answer(started, result)
}

/// Acts on the alert an identifier names. An alert named by ID or number that is no longer open is left as it is
/// (its alias may belong to a newer alert by now), with a receipt saying so.
async fn opsgenie_act(
    state: &AppState,
    integration: &Integration,
    key_hash: &str,
    identifier: &str,
    q: &IdentifierQuery,
    act: OpsgenieAct,
    req: Request,
) -> Result<Receipt, Refusal> {
    let alias = match opsgenie_alert(state, integration, identifier, q).await? {
        None => identifier.to_owned(),
        Some((alert, _)) if alert.status == AlertStatus::Resolved => {
            return Ok(Receipt {
                action: act.request_action(),
                outcome: act.on_closed_alert(),
                alert_id: Some(alert.id),
                processed_at: state.app.now(),
            });
        }
        Some((alert, _)) => alert.dedup_key,
    };
    let started = Instant::now();
    let invalid = |r: Refusal| {
        state
            .app
            .ingest()
            .count(integration.kind.as_str(), "invalid");
        r
    };
    // Opsgenie lets close and acknowledge come with no body at all.
    let bytes = sender_body(req, state)
        .await
        .map_err(|e| invalid(Refusal::Api(e)))?;
    let value: Option<serde_json::Value> = if bytes.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        // A body that is not JSON is refused, and nothing of it is stored, as on create.
        Some(serde_json::from_slice(&bytes).map_err(|e| {
            invalid(Refusal::Api(ApiError::new(
                ErrorCode::MalformedJson,
                format!("the body is not JSON: {e}"),
            )))
        })?)
    };
    let batch = act
        .parse(&alias, value.as_ref())
        .map_err(|e| invalid(Refusal::Invalid(e)))?;
    let accepted = store_batch(state, integration, key_hash, batch, &bytes, started).await?;
    Ok(receipt(act.request_action(), &accepted, state.app.now()))
}

/// Opsgenie: close (resolve) the alert with this identifier.
#[utoipa::path(post, path = "/v2/alerts/{identifier}/close", tag = "ingest",
    params(("identifier" = String, Path, description = "The alert's ID, number or alias (see identifierType)"), IdentifierQuery),
    responses((status = 202, body = OpsgenieAnswer), (status = "4XX", body = OpsgenieAnswer)))]
pub async fn opsgenie_close(
    State(state): State<AppState>,
    Path(identifier): Path<String>,
    Query(q): Query<IdentifierQuery>,
    req: Request,
) -> Response {
    opsgenie_action(
        state,
        identifier,
        q,
        OpsgenieAct::Transition(EventAction::Resolve),
        req,
    )
    .await
}

/// Opsgenie: acknowledge the alert with this identifier.
#[utoipa::path(post, path = "/v2/alerts/{identifier}/acknowledge", tag = "ingest",
    params(("identifier" = String, Path, description = "The alert's ID, number or alias (see identifierType)"), IdentifierQuery),
    responses((status = 202, body = OpsgenieAnswer), (status = "4XX", body = OpsgenieAnswer)))]
pub async fn opsgenie_acknowledge(
    State(state): State<AppState>,
    Path(identifier): Path<String>,
    Query(q): Query<IdentifierQuery>,
    req: Request,
) -> Response {
    opsgenie_action(
        state,
        identifier,
        q,
        OpsgenieAct::Transition(EventAction::Acknowledge),
        req,
    )
    .await
}

/// Opsgenie: change the open alert's message (its summary).
#[utoipa::path(put, path = "/v2/alerts/{identifier}/message", tag = "ingest",
    params(("identifier" = String, Path, description = "The alert's ID, number or alias (see identifierType)"), IdentifierQuery),
    request_body(content = Object, description = "`{\"message\": \"…\"}`, at most 130 characters"),
    responses((status = 202, body = OpsgenieAnswer), (status = "4XX", body = OpsgenieAnswer)))]
pub async fn opsgenie_update_message(
    State(state): State<AppState>,
    Path(identifier): Path<String>,
    Query(q): Query<IdentifierQuery>,
    req: Request,
) -> Response {
    let act = OpsgenieAct::Update(UpdateField::Message);
    opsgenie_action(state, identifier, q, act, req).await
}

/// Opsgenie: change the open alert's description.
#[utoipa::path(put, path = "/v2/alerts/{identifier}/description", tag = "ingest",
    params(("identifier" = String, Path, description = "The alert's ID, number or alias (see identifierType)"), IdentifierQuery),
    request_body(content = Object, description = "`{\"description\": \"…\"}`, at most 15,000 characters"),
    responses((status = 202, body = OpsgenieAnswer), (status = "4XX", body = OpsgenieAnswer)))]
pub async fn opsgenie_update_description(
    State(state): State<AppState>,
    Path(identifier): Path<String>,
    Query(q): Query<IdentifierQuery>,
    req: Request,
) -> Response {
    let act = OpsgenieAct::Update(UpdateField::Description);
    opsgenie_action(state, identifier, q, act, req).await
}

/// Opsgenie: change the open alert's priority, and so its severity; its incident rises to a worse one.
#[utoipa::path(put, path = "/v2/alerts/{identifier}/priority", tag = "ingest",
    params(("identifier" = String, Path, description = "The alert's ID, number or alias (see identifierType)"), IdentifierQuery),
    request_body(content = Object, description = "`{\"priority\": \"P1\"}`: P1 to P5"),
    responses((status = 202, body = OpsgenieAnswer), (status = "4XX", body = OpsgenieAnswer)))]
pub async fn opsgenie_update_priority(
    State(state): State<AppState>,
    Path(identifier): Path<String>,
    Query(q): Query<IdentifierQuery>,
    req: Request,
) -> Response {
    let act = OpsgenieAct::Update(UpdateField::Priority);
    opsgenie_action(state, identifier, q, act, req).await
}

/// Opsgenie's answer to a read: the data, and the usual timing fields.
#[derive(Serialize, utoipa::ToSchema)]
pub struct OpsgenieData {
    #[schema(value_type = Object)]
    data: serde_json::Value,
    took: f64,
    #[serde(rename = "requestId")]
    request_id: String,
}

fn opsgenie_data(started: Instant, data: serde_json::Value) -> Response {
    Json(OpsgenieData {
        data,
        took: started.elapsed().as_secs_f64(),
        request_id: opsgenie::new_request_id(),
    })
    .into_response()
}

fn opsgenie_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// The integration a read on the Opsgenie API is made with.
async fn opsgenie_reader(state: &AppState, headers: &HeaderMap) -> Result<Integration, Refusal> {
    let key = key_from(None, headers);
    Ok(admit(state, IntegrationKind::Opsgenie, key).await?.0)
}

/// Opsgenie: what became of a request, with the ID of the alert it created or acted on.
#[utoipa::path(get, path = "/v2/alerts/requests/{request_id}", tag = "ingest",
    params(("request_id" = String, Path, description = "The requestId a create, acknowledge or close answered")),
    responses((status = 200, body = OpsgenieData), (status = "4XX", body = OpsgenieAnswer)))]
pub async fn opsgenie_request_status(
    State(state): State<AppState>,
    Path(request_id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let started = Instant::now();
    let integration = match opsgenie_reader(&state, &headers).await {
        Ok(i) => i,
        Err(r) => return opsgenie_answer(started, Err(r)),
    };
    let not_found = || {
        opsgenie_refusal(
            StatusCode::NOT_FOUND,
            "Request not found: Tocsin did not answer a request with this ID",
        )
    };
    let Some(receipt) = opsgenie::Receipt::parse(&request_id) else {
        return not_found();
    };
    let alert = match &receipt.alert_id {
        None => None,
        Some(id) => match state.app.sender_api(&integration).alert(id).await {
            Ok((alert, _)) => Some(alert),
            Err(tocsin_app::Error::Store(StoreError::NotFound { .. })) => return not_found(),
            Err(e) => return opsgenie_answer(started, Err(Refusal::Api(e.into()))),
        },
    };
    let (status, success) = receipt.outcome.status();
    let mut data = serde_json::json!({
        "success": success,
        "action": receipt.action.as_str(),
        "processedAt": opsgenie_time(receipt.processed_at),
        "integrationId": integration.id.as_str(),
        "isSuccess": success,
        "status": status,
    });
    if let Some(alert) = alert {
        data["alertId"] = alert.id.as_str().into();
        data["alias"] = alert.dedup_key.into();
    }
    opsgenie_data(started, data)
}

/// Opsgenie: one alert, by ID, number (tiny) or alias.
#[utoipa::path(get, path = "/v2/alerts/{identifier}", tag = "ingest",
    params(("identifier" = String, Path, description = "The alert's ID, number or alias (see identifierType)"), IdentifierQuery),
    responses((status = 200, body = OpsgenieData), (status = "4XX", body = OpsgenieAnswer)))]
pub async fn opsgenie_get_alert(
    State(state): State<AppState>,
    Path(identifier): Path<String>,
    Query(q): Query<IdentifierQuery>,
    headers: HeaderMap,
) -> Response {
    let started = Instant::now();
    let integration = match opsgenie_reader(&state, &headers).await {
        Ok(i) => i,
        Err(r) => return opsgenie_answer(started, Err(r)),
    };
    let found = match opsgenie_alert(&state, &integration, &identifier, &q).await {
        Ok(Some(found)) => Ok(found),
        Ok(None) => opsgenie_by_alias(&state, &integration, &identifier).await,
        Err(r) => Err(r),
    };
    match found {
        Ok((alert, number)) => {
            opsgenie_data(started, opsgenie_alert_json(&alert, number, &integration))
        }
        Err(r) => opsgenie_answer(started, Err(r)),
    }
}

/// The open alert with this alias, else the latest closed one, as Opsgenie finds alerts by alias.
async fn opsgenie_by_alias(
    state: &AppState,
    integration: &Integration,
    alias: &str,
) -> Result<(Alert, i64), Refusal> {
    let latest = state
        .app
        .sender_api(integration)
        .latest_with_key(alias)
        .await
        .map_err(|e| Refusal::Api(e.into()))?;
    latest.ok_or_else(opsgenie_not_found)
}

fn opsgenie_alert_json(alert: &Alert, number: i64, integration: &Integration) -> serde_json::Value {
    let details = &alert.custom_details;
    let text = |key: &str| {
        details
            .get(key)
            .and_then(serde_json::Value::as_str)
            .unwrap_or("")
    };
    serde_json::json!({
        "id": alert.id.as_str(),
        "tinyId": number.to_string(),
        "alias": alert.dedup_key,
        "message": alert.summary,
        "description": text("description"),
        "status": if alert.status == AlertStatus::Resolved { "closed" } else { "open" },
        "acknowledged": alert.status == AlertStatus::Acknowledged || alert.acknowledged_at.is_some(),
        "isSeen": alert.acknowledged_at.is_some(),
        "snoozed": false,
        "tags": details.get("tags").cloned().unwrap_or_else(|| serde_json::json!([])),
        "details": details.get("details").cloned().unwrap_or_else(|| serde_json::json!({})),
        "count": alert.event_count,
        "createdAt": opsgenie_time(alert.created_at),
        "updatedAt": opsgenie_time(alert.last_event_at),
        "lastOccurredAt": opsgenie_time(alert.last_event_at),
        "source": alert.source,
        "entity": alert.component.clone().unwrap_or_default(),
        "owner": "",
        "priority": text("priority"),
        "responders": [],
        "integration": {"id": integration.id.as_str(), "name": integration.name, "type": "API"},
    })
}
