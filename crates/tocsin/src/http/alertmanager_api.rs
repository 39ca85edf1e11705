//! The rest of Alertmanager's API v2 that amtool calls, over a prometheus-kind integration: its open alerts
//! (`amtool alert query`), the server's status (`amtool config show`, `amtool cluster show`) and silences
//! (`amtool silence add|query|expire`), confined to the integration's service. Alertmanager answers errors with a
//! JSON string body, which amtool prints; so does every path here, posting alerts included.

use super::AppState;
use super::error::ApiError;
use super::extract::sender_body;
use super::senders::{Refusal, admit, key_from};
use axum::Json;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use tocsin_domain::alert::Alert;
use tocsin_domain::ids::SilenceId;
use tocsin_domain::integration::IntegrationKind;
use tocsin_domain::noise::{MatchOp, Matcher, NoPageReason, Silence, SilenceSpec};
use tocsin_store::Integration;

/// An error as Alertmanager sends it: the message as a JSON string.
pub(super) fn refusal(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(message.into())).into_response()
}

pub(super) fn refuse(r: Refusal) -> Response {
    let (e, retry) = r.into_error();
    let mut resp = api_error(e);
    if let Some(wait) = retry {
        super::senders::set_retry_after(&mut resp, wait);
    }
    resp
}

fn api_error(e: ApiError) -> Response {
    refusal(e.0.code.status(), e.0.message)
}

fn failed(e: tocsin_app::Error) -> Response {
    api_error(e.into())
}

/// Whether a path not routed belongs to this API, to be refused in its shape.
pub(super) fn in_alertmanager_api(uri: &Uri) -> bool {
    let p = uri.path();
    p.starts_with("/ingest/prometheus/")
        || p == "/api/v2/status"
        || ["/api/v2/alerts", "/api/v2/silence"]
            .iter()
            .any(|prefix| p.starts_with(prefix))
}

async fn sender(
    state: &AppState,
    path_key: Option<String>,
    headers: &HeaderMap,
) -> Result<Integration, Response> {
    admit(
        state,
        IntegrationKind::Prometheus,
        key_from(path_key, headers),
    )
    .await
    .map(|(integration, _)| integration)
    .map_err(refuse)
}

fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

// ---- Alerts ----------------------------------------------------------------------------------------------------

/// Alertmanager's `gettableAlert`.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GettableAlert {
    labels: BTreeMap<String, String>,
    annotations: BTreeMap<String, String>,
    starts_at: String,
    ends_at: String,
    updated_at: String,
    #[serde(rename = "generatorURL", skip_serializing_if = "Option::is_none")]
    generator_url: Option<String>,
    fingerprint: String,
    receivers: Vec<Receiver>,
    status: AlertState,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Receiver {
    name: String,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AlertState {
    /// `active` or `suppressed` (silenced, in maintenance or suppressed by a rule).
    state: &'static str,
    silenced_by: Vec<String>,
    inhibited_by: Vec<String>,
}

impl GettableAlert {
    fn new(alert: Alert, receiver: &str) -> Self {
        let details = &alert.custom_details;
        let annotations = details
            .get("annotations")
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                    .collect()
            })
            .unwrap_or_default();
        let starts_at = details
            .get("startsAt")
            .and_then(Value::as_str)
            .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
            .map_or(alert.created_at, |t| t.with_timezone(&Utc));
        let (silenced_by, inhibited_by) = match &alert.no_page_reason {
            Some(NoPageReason::Silenced { silence_id, .. }) => {
                (vec![silence_id.to_string()], Vec::new())
            }
            Some(NoPageReason::InMaintenance { window_id, .. }) => {
                (Vec::new(), vec![window_id.to_string()])
            }
            Some(NoPageReason::SuppressedByRule { rule_id, .. }) => {
                (Vec::new(), vec![rule_id.to_string()])
            }
            _ => (Vec::new(), Vec::new()),
        };
        let suppressed = !(silenced_by.is_empty() && inhibited_by.is_empty());
        Self {
            annotations,
            starts_at: time(starts_at),
            ends_at: time(alert.ends_at.unwrap_or(alert.last_event_at)),
            updated_at: time(alert.last_event_at),
            generator_url: details
                .get("generatorURL")
                .and_then(Value::as_str)
                .filter(|u| !u.is_empty())
                .map(Into::into),
            fingerprint: alert.dedup_key,
            receivers: vec![Receiver {
                name: receiver.to_owned(),
            }],
            status: AlertState {
                state: if suppressed { "suppressed" } else { "active" },
                silenced_by,
                inhibited_by,
            },
            labels: alert.labels,
        }
    }
}

/// The query Alertmanager takes; `filter` repeats, so it is read by hand (the derive documents it).
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct AlertQuery {
    /// Show active alerts (default true).
    #[param(required = false)]
    active: bool,
    /// Show silenced alerts (default true).
    #[param(required = false)]
    silenced: bool,
    /// Show alerts in maintenance or suppressed by a rule (default true).
    #[param(required = false)]
    inhibited: bool,
    /// Label matchers, all of which must match (repeated).
    #[param(required = false)]
    filter: Vec<Matcher>,
}

impl AlertQuery {
    fn parse(query: Option<&str>) -> Result<Self, String> {
        let mut q = Self {
            active: true,
            silenced: true,
            inhibited: true,
            filter: Vec::new(),
        };
        for (name, value) in url::form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
            let flag = || match value.as_ref() {
                "true" => Ok(true),
                "false" => Ok(false),
                other => Err(format!("{name} must be true or false, not {other:?}")),
            };
            match name.as_ref() {
                "active" => q.active = flag()?,
                "silenced" => q.silenced = flag()?,
                "inhibited" => q.inhibited = flag()?,
                "filter" => q
                    .filter
                    .push(Matcher::parse(&value).map_err(|e| format!("bad matcher format: {e}"))?),
                // Every alert of an integration goes to the one receiver, and none waits unprocessed.
                _ => {}
            }
        }
        Ok(q)
    }

    fn keeps(&self, a: &GettableAlert) -> bool {
        let status = &a.status;
        let shown = match (
            status.silenced_by.is_empty(),
            status.inhibited_by.is_empty(),
        ) {
            (true, true) => self.active,
            (silenced, inhibited) => (!silenced && self.silenced) || (!inhibited && self.inhibited),
        };
        shown && self.filter.iter().all(|m| m.matches_labels(&a.labels))
    }
}

async fn alerts(
    state: AppState,
    path_key: Option<String>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let query = match AlertQuery::parse(uri.query()) {
        Ok(q) => q,
        Err(e) => return refusal(StatusCode::BAD_REQUEST, e),
    };
    let integration = match sender(&state, path_key, &headers).await {
        Ok(i) => i,
        Err(r) => return r,
    };
    match state.app.sender_api(&integration).open_alerts().await {
        Ok(alerts) => {
            let shown: Vec<GettableAlert> = alerts
                .into_iter()
                .map(|a| GettableAlert::new(a, &integration.name))
                .filter(|a| query.keeps(a))
                .collect();
            Json(shown).into_response()
        }
        Err(e) => failed(e),
    }
}

/// The open alerts this integration sent (`amtool alert query`).
#[utoipa::path(get, path = "/ingest/prometheus/{key}/api/v2/alerts", tag = "ingest",
    params(("key" = String, Path, description = "Integration key"), AlertQuery),
    responses((status = 200, body = Vec<GettableAlert>), (status = "4XX", body = String, content_type = "application/json", description = "The error, as a JSON string")))]
pub async fn am_list_alerts(
    State(state): State<AppState>,
    Path(key): Path<String>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    alerts(state, Some(key), uri, headers).await
}

/// The open alerts this integration sent, key as `Authorization: Bearer`.
#[utoipa::path(get, path = "/api/v2/alerts", tag = "ingest",
    params(AlertQuery),
    responses((status = 200, body = Vec<GettableAlert>), (status = "4XX", body = String, content_type = "application/json", description = "The error, as a JSON string")))]
pub async fn am_list_alerts_bearer(
    State(state): State<AppState>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    alerts(state, None, uri, headers).await
}

// ---- Status ----------------------------------------------------------------------------------------------------

async fn status(state: AppState, path_key: Option<String>, headers: HeaderMap) -> Response {
    let integration = match sender(&state, path_key, &headers).await {
        Ok(i) => i,
        Err(r) => return r,
    };
    let service = match state.app.sender_api(&integration).service_name().await {
        Ok(name) => name,
        Err(e) => return failed(e),
    };
    let quoted = |s: &str| serde_json::to_string(s).expect("strings serialize");
    // Alertmanager shows its configuration file; an integration's equivalent is where its alerts go.
    let original = format!(
        "# Tocsin integration {name} of service {service}: alerts posted here open incidents on that service,\n\
         # and silences made here apply to that service only. Routing, grouping and paging are configured in Tocsin.\n\
         route:\n  receiver: {name}\nreceivers:\n  - name: {name}\n",
        name = quoted(&integration.name),
        service = quoted(&service),
    );
    let uptime = time(state.started_at);
    Json(serde_json::json!({
        "cluster": {"name": "tocsin", "status": "ready", "peers": []},
        "versionInfo": {
            "version": env!("CARGO_PKG_VERSION"),
            "revision": "", "branch": "", "buildUser": "", "buildDate": "", "goVersion": "",
        },
        "config": {"original": original},
        "uptime": uptime,
    }))
    .into_response()
}

/// The server's status as Alertmanager reports it (`amtool config show`, `amtool cluster show`).
#[utoipa::path(get, path = "/ingest/prometheus/{key}/api/v2/status", tag = "ingest",
    params(("key" = String, Path, description = "Integration key")),
    responses((status = 200, body = Object), (status = "4XX", body = String, content_type = "application/json", description = "The error, as a JSON string")))]
pub async fn am_get_status(
    State(state): State<AppState>,
    Path(key): Path<String>,
    headers: HeaderMap,
) -> Response {
    status(state, Some(key), headers).await
}

/// The server's status as Alertmanager reports it, key as `Authorization: Bearer`.
#[utoipa::path(get, path = "/api/v2/status", tag = "ingest",
    responses((status = 200, body = Object), (status = "4XX", body = String, content_type = "application/json", description = "The error, as a JSON string")))]
pub async fn am_get_status_bearer(State(state): State<AppState>, headers: HeaderMap) -> Response {
    status(state, None, headers).await
}

// ---- Silences --------------------------------------------------------------------------------------------------

/// Alertmanager's matcher object.
#[derive(Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AmMatcher {
    name: String,
    value: String,
    is_regex: bool,
    /// Absent in older clients, where every matcher is positive.
    #[serde(default = "yes")]
    is_equal: bool,
}

fn yes() -> bool {
    true
}

impl AmMatcher {
    fn from_matcher(m: &Matcher) -> Self {
        let (is_regex, is_equal) = match m.op() {
            MatchOp::Equal => (false, true),
            MatchOp::NotEqual => (false, false),
            MatchOp::Regex => (true, true),
            MatchOp::NotRegex => (true, false),
        };
        Self {
            name: m.name().to_owned(),
            value: m.value().to_owned(),
            is_regex,
            is_equal,
        }
    }

    fn to_matcher(&self) -> Result<Matcher, String> {
        let op = match (self.is_regex, self.is_equal) {
            (false, true) => MatchOp::Equal,
            (false, false) => MatchOp::NotEqual,
            (true, true) => MatchOp::Regex,
            (true, false) => MatchOp::NotRegex,
        };
        Matcher::new(&self.name, op, self.value.clone())
    }
}

/// Alertmanager's `gettableSilence`.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GettableSilence {
    id: String,
    status: SilenceStatus,
    updated_at: String,
    /// The sender's matchers; the scope to the integration's service is implied.
    matchers: Vec<AmMatcher>,
    starts_at: String,
    ends_at: String,
    created_by: String,
    comment: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct SilenceStatus {
    /// `pending`, `active` or `expired`.
    state: &'static str,
}

impl GettableSilence {
    fn new(s: Silence, service: &Matcher, now: DateTime<Utc>) -> Self {
        Self {
            id: s.id.to_string(),
            status: SilenceStatus {
                state: s.state(now).as_str(),
            },
            updated_at: time(s.created_at),
            matchers: s
                .matchers
                .iter()
                .filter(|m| *m != service)
                .map(AmMatcher::from_matcher)
                .collect(),
            starts_at: time(s.starts_at),
            ends_at: time(s.ends_at),
            created_by: s.created_by,
            comment: s.comment,
        }
    }
}

/// Alertmanager's `postableSilence`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PostableSilence {
    /// Set to update a silence, which Tocsin does not do: expire it and add another.
    #[serde(default)]
    id: Option<String>,
    matchers: Vec<AmMatcher>,
    starts_at: DateTime<Utc>,
    ends_at: DateTime<Utc>,
    #[serde(default)]
    created_by: String,
    #[serde(default)]
    comment: String,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SilenceCreated {
    #[serde(rename = "silenceID")]
    silence_id: String,
}

async fn silences(
    state: AppState,
    path_key: Option<String>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let filter = match AlertQuery::parse(uri.query()) {
        Ok(q) => q.filter,
        Err(e) => return refusal(StatusCode::BAD_REQUEST, e),
    };
    let integration = match sender(&state, path_key, &headers).await {
        Ok(i) => i,
        Err(r) => return r,
    };
    let now = state.app.now();
    match state.app.sender_api(&integration).silences().await {
        // Alertmanager's filter keeps the silences that have every matcher given.
        Ok((scope, found)) => Json(
            found
                .into_iter()
                .filter(|s| filter.iter().all(|f| s.matchers.contains(f)))
                .map(|s| GettableSilence::new(s, &scope, now))
                .collect::<Vec<_>>(),
        )
        .into_response(),
        Err(e) => failed(e),
    }
}

async fn create(state: AppState, path_key: Option<String>, req: Request) -> Response {
    let integration = match sender(&state, path_key, req.headers()).await {
        Ok(i) => i,
        Err(r) => return r,
    };
    let body = match sender_body(req, &state).await {
        Ok(b) => b,
        Err(e) => return api_error(e),
    };
    let posted: PostableSilence = match serde_json::from_slice(&body) {
        Ok(p) => p,
        Err(e) => {
            return refusal(
                StatusCode::BAD_REQUEST,
                format!("the silence is not valid: {e}"),
            );
        }
    };
    if posted.id.as_deref().is_some_and(|id| !id.is_empty()) {
        return refusal(
            StatusCode::BAD_REQUEST,
            "updating a silence is not supported: expire it and add a new one",
        );
    }
    let matchers: Result<Vec<Matcher>, String> =
        posted.matchers.iter().map(AmMatcher::to_matcher).collect();
    let matchers = match matchers {
        Ok(m) => m,
        Err(e) => return refusal(StatusCode::BAD_REQUEST, format!("invalid matcher: {e}")),
    };
    let spec = SilenceSpec {
        matchers,
        starts_at: posted.starts_at,
        ends_at: posted.ends_at,
        comment: posted.comment,
    };
    match state
        .app
        .sender_api(&integration)
        .create_silence(spec, &posted.created_by)
        .await
    {
        Ok(s) => Json(SilenceCreated {
            silence_id: s.id.to_string(),
        })
        .into_response(),
        Err(e) => failed(e),
    }
}

fn unknown_silence() -> Response {
    refusal(StatusCode::NOT_FOUND, "silence not found")
}

async fn one(
    state: AppState,
    path_key: Option<String>,
    raw: String,
    headers: HeaderMap,
) -> Response {
    let integration = match sender(&state, path_key, &headers).await {
        Ok(i) => i,
        Err(r) => return r,
    };
    let Some(id) = SilenceId::parse(&raw) else {
        return unknown_silence();
    };
    match state.app.sender_api(&integration).silence(&id).await {
        Ok((scope, s)) => Json(GettableSilence::new(s, &scope, state.app.now())).into_response(),
        Err(e) => failed(e),
    }
}

async fn expire(
    state: AppState,
    path_key: Option<String>,
    raw: String,
    headers: HeaderMap,
) -> Response {
    let integration = match sender(&state, path_key, &headers).await {
        Ok(i) => i,
        Err(r) => return r,
    };
    let Some(id) = SilenceId::parse(&raw) else {
        return unknown_silence();
    };
    match state.app.sender_api(&integration).expire_silence(&id).await {
        Ok(_) => StatusCode::OK.into_response(),
        Err(e) => failed(e),
    }
}

/// This service's silences made through its integrations (`amtool silence query`).
#[utoipa::path(get, path = "/ingest/prometheus/{key}/api/v2/silences", tag = "ingest",
    params(("key" = String, Path, description = "Integration key"),
        ("filter" = Option<Vec<String>>, Query, description = "Matchers every listed silence must have")),
    responses((status = 200, body = Vec<GettableSilence>), (status = "4XX", body = String, content_type = "application/json", description = "The error, as a JSON string")))]
pub async fn am_list_silences(
    State(state): State<AppState>,
    Path(key): Path<String>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    silences(state, Some(key), uri, headers).await
}

/// Adds a silence confined to the integration's service (`amtool silence add`).
#[utoipa::path(post, path = "/ingest/prometheus/{key}/api/v2/silences", tag = "ingest",
    params(("key" = String, Path, description = "Integration key")),
    request_body = PostableSilence,
    responses((status = 200, body = SilenceCreated), (status = "4XX", body = String, content_type = "application/json", description = "The error, as a JSON string")))]
pub async fn am_create_silence(
    State(state): State<AppState>,
    Path(key): Path<String>,
    req: Request,
) -> Response {
    create(state, Some(key), req).await
}

/// One of this service's silences.
#[utoipa::path(get, path = "/ingest/prometheus/{key}/api/v2/silence/{id}", tag = "ingest",
    params(("key" = String, Path, description = "Integration key"), ("id" = String, Path, description = "Silence ID")),
    responses((status = 200, body = GettableSilence), (status = "4XX", body = String, content_type = "application/json", description = "The error, as a JSON string")))]
pub async fn am_get_silence(
    State(state): State<AppState>,
    Path((key, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    one(state, Some(key), id, headers).await
}

/// Expires one of this service's silences now (`amtool silence expire`).
#[utoipa::path(delete, path = "/ingest/prometheus/{key}/api/v2/silence/{id}", tag = "ingest",
    params(("key" = String, Path, description = "Integration key"), ("id" = String, Path, description = "Silence ID")),
    responses((status = 200, description = "Expired"), (status = "4XX", body = String, content_type = "application/json", description = "The error, as a JSON string")))]
pub async fn am_expire_silence(
    State(state): State<AppState>,
    Path((key, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    expire(state, Some(key), id, headers).await
}

/// This service's silences, key as `Authorization: Bearer`.
#[utoipa::path(get, path = "/api/v2/silences", tag = "ingest",
    params(("filter" = Option<Vec<String>>, Query, description = "Matchers every listed silence must have")),
    responses((status = 200, body = Vec<GettableSilence>), (status = "4XX", body = String, content_type = "application/json", description = "The error, as a JSON string")))]
pub async fn am_list_silences_bearer(
    State(state): State<AppState>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    silences(state, None, uri, headers).await
}

/// Adds a silence confined to the integration's service, key as `Authorization: Bearer`.
#[utoipa::path(post, path = "/api/v2/silences", tag = "ingest", request_body = PostableSilence,
    responses((status = 200, body = SilenceCreated), (status = "4XX", body = String, content_type = "application/json", description = "The error, as a JSON string")))]
pub async fn am_create_silence_bearer(State(state): State<AppState>, req: Request) -> Response {
    create(state, None, req).await
}

/// One of this service's silences, key as `Authorization: Bearer`.
#[utoipa::path(get, path = "/api/v2/silence/{id}", tag = "ingest",
    params(("id" = String, Path, description = "Silence ID")),
    responses((status = 200, body = GettableSilence), (status = "4XX", body = String, content_type = "application/json", description = "The error, as a JSON string")))]
pub async fn am_get_silence_bearer(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    one(state, None, id, headers).await
}

/// Expires one of this service's silences now, key as `Authorization: Bearer`.
#[utoipa::path(delete, path = "/api/v2/silence/{id}", tag = "ingest",
    params(("id" = String, Path, description = "Silence ID")),
    responses((status = 200, description = "Expired"), (status = "4XX", body = String, content_type = "application/json", description = "The error, as a JSON string")))]
pub async fn am_expire_silence_bearer(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    expire(state, None, id, headers).await
}
