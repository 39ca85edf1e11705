//! Status pages: their setup (admins, under `/api/v1/status-pages`), and what the public reads of each, under
//! `/status/{page}/api/v2/`, in the shape of Statuspage's public API so that widgets, exporters and aggregators
//! that read Statuspage read Tocsin unmodified.

use super::AppState;
use super::catalog::Items;
use super::error::{ApiError, ApiResult, ErrorResponse};
use super::extract::{Caller, Json, MaybeCaller, path_id};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use tocsin_app::{PublicPage, Shown};
use tocsin_domain::ids::{ComponentId, PublicIncidentId};
use tocsin_domain::public_incidents::{PublicIncident, PublicIncidentSpec, PublicUpdateSpec};
use tocsin_domain::refs::Key;
use tocsin_domain::status_page::{Component, ComponentSpec, StatusPage, StatusPageSpec};

fn page_key(raw: &str) -> Result<Key, ApiError> {
    path_id(raw, |r| r.parse().ok(), "status page")
}

fn component_id(raw: &str) -> Result<ComponentId, ApiError> {
    path_id(raw, ComponentId::parse, "component")
}

/// Every status page.
#[utoipa::path(get, path = "/api/v1/status-pages", tag = "status pages", security(("bearer" = [])),
    responses((status = 200, body = Items<StatusPage>), (status = "4XX", body = ErrorResponse)))]
pub async fn list_status_pages(
    caller: Caller,
    State(s): State<AppState>,
) -> ApiResult<axum::Json<Items<StatusPage>>> {
    let items = s.app.status_pages().list(&caller).await?;
    Ok(axum::Json(Items { items }))
}

/// A status page with its components (and the services each stands for).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct StatusPageSetup {
    #[serde(flatten)]
    pub page: StatusPage,
    /// In the order they are shown.
    pub components: Vec<Component>,
}

#[utoipa::path(get, path = "/api/v1/status-pages/{page}", tag = "status pages", security(("bearer" = [])),
    params(("page" = String, Path, description = "The page's slug")),
    responses((status = 200, body = StatusPageSetup), (status = "4XX", body = ErrorResponse)))]
pub async fn get_status_page(
    caller: Caller,
    State(s): State<AppState>,
    Path(page): Path<String>,
) -> ApiResult<axum::Json<StatusPageSetup>> {
    let (page, components) = s.app.status_pages().get(&caller, &page_key(&page)?).await?;
    Ok(axum::Json(StatusPageSetup { page, components }))
}

/// Creates the page at this slug, or replaces it (admins); a new `slug` in the body moves it.
#[utoipa::path(put, path = "/api/v1/status-pages/{page}", tag = "status pages", security(("bearer" = [])),
    request_body = StatusPageSpec,
    params(("page" = String, Path, description = "The page's slug: lowercase letters, digits and dashes")),
    responses((status = 200, body = StatusPage), (status = 201, body = StatusPage),
        (status = "4XX", body = ErrorResponse)))]
pub async fn put_status_page(
    caller: Caller,
    State(s): State<AppState>,
    Path(page): Path<String>,
    Json(spec): Json<StatusPageSpec>,
) -> ApiResult<(StatusCode, axum::Json<StatusPage>)> {
    let slug = page
        .parse::<Key>()
        .map_err(|m| ApiError::field("page", format!("the page's slug {m}")))?;
    let (page, created) = s.app.status_pages().put(&caller, &slug, spec).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, axum::Json(page)))
}

/// Removes a status page and its components (admins).
#[utoipa::path(delete, path = "/api/v1/status-pages/{page}", tag = "status pages", security(("bearer" = [])),
    params(("page" = String, Path, description = "The page's slug")),
    responses((status = 204), (status = "4XX", body = ErrorResponse)))]
pub async fn delete_status_page(
    caller: Caller,
    State(s): State<AppState>,
    Path(page): Path<String>,
) -> ApiResult<StatusCode> {
    s.app
        .status_pages()
        .delete(&caller, &page_key(&page)?)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Adds a component to a page (admins): a group, or one standing for services whose open incidents set its
/// status through the page's severity map, unless its status is set by hand.
#[utoipa::path(post, path = "/api/v1/status-pages/{page}/components", tag = "status pages",
    security(("bearer" = [])), request_body = ComponentSpec,
    params(("page" = String, Path, description = "The page's slug")),
    responses((status = 201, body = Component), (status = "4XX", body = ErrorResponse)))]
pub async fn create_component(
    caller: Caller,
    State(s): State<AppState>,
    Path(page): Path<String>,
    Json(spec): Json<ComponentSpec>,
) -> ApiResult<(StatusCode, axum::Json<Component>)> {
    let component = s
        .app
        .status_pages()
        .add_component(&caller, &page_key(&page)?, spec)
        .await?;
    Ok((StatusCode::CREATED, axum::Json(component)))
}

/// Replaces a component (admins), its services and how its status is set included.
#[utoipa::path(put, path = "/api/v1/status-pages/{page}/components/{component}", tag = "status pages",
    security(("bearer" = [])), request_body = ComponentSpec,
    params(("page" = String, Path, description = "The page's slug"),
        ("component" = String, Path, description = "The component's ID")),
    responses((status = 200, body = Component), (status = "4XX", body = ErrorResponse)))]
pub async fn replace_component(
    caller: Caller,
    State(s): State<AppState>,
    Path((page, component)): Path<(String, String)>,
    Json(spec): Json<ComponentSpec>,
) -> ApiResult<axum::Json<Component>> {
    let component = s
        .app
        .status_pages()
        .replace_component(&caller, &page_key(&page)?, &component_id(&component)?, spec)
        .await?;
    Ok(axum::Json(component))
}

/// Removes a component (admins); a group's members stay on the page.
#[utoipa::path(delete, path = "/api/v1/status-pages/{page}/components/{component}", tag = "status pages",
    security(("bearer" = [])),
    params(("page" = String, Path, description = "The page's slug"),
        ("component" = String, Path, description = "The component's ID")),
    responses((status = 204), (status = "4XX", body = ErrorResponse)))]
pub async fn delete_component(
    caller: Caller,
    State(s): State<AppState>,
    Path((page, component)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    s.app
        .status_pages()
        .delete_component(&caller, &page_key(&page)?, &component_id(&component)?)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The page's most recent public incidents (at most 50), newest first, with their updates.
#[utoipa::path(get, path = "/api/v1/status-pages/{page}/incidents", tag = "status pages", security(("bearer" = [])),
    params(("page" = String, Path, description = "The page's slug")),
    responses((status = 200, body = Items<PublicIncident>), (status = "4XX", body = ErrorResponse)))]
pub async fn list_public_incidents(
    caller: Caller,
    State(s): State<AppState>,
    Path(page): Path<String>,
) -> ApiResult<axum::Json<Items<PublicIncident>>> {
    let items = s
        .app
        .status_pages()
        .incidents(&caller, &page_key(&page)?)
        .await?;
    Ok(axum::Json(Items { items }))
}

/// Publishes an incident on the page (responders): its public title and first update, never the internal
/// incident's words, and the components it affects and how.
#[utoipa::path(post, path = "/api/v1/status-pages/{page}/incidents", tag = "status pages",
    security(("bearer" = [])), request_body = PublicIncidentSpec,
    params(("page" = String, Path, description = "The page's slug")),
    responses((status = 201, body = PublicIncident), (status = "4XX", body = ErrorResponse)))]
pub async fn publish_incident(
    caller: Caller,
    State(s): State<AppState>,
    Path(page): Path<String>,
    Json(spec): Json<PublicIncidentSpec>,
) -> ApiResult<(StatusCode, axum::Json<PublicIncident>)> {
    let published = s
        .app
        .status_pages()
        .publish(&caller, &page_key(&page)?, spec)
        .await?;
    Ok((StatusCode::CREATED, axum::Json(published)))
}

/// Posts an update on a public incident (responders): where things stand, and the affected components now.
#[utoipa::path(post, path = "/api/v1/status-pages/{page}/incidents/{incident}/updates", tag = "status pages",
    security(("bearer" = [])), request_body = PublicUpdateSpec,
    params(("page" = String, Path, description = "The page's slug"),
        ("incident" = String, Path, description = "The public incident's ID")),
    responses((status = 201, body = PublicIncident), (status = "4XX", body = ErrorResponse)))]
pub async fn update_public_incident(
    caller: Caller,
    State(s): State<AppState>,
    Path((page, incident)): Path<(String, String)>,
    Json(spec): Json<PublicUpdateSpec>,
) -> ApiResult<(StatusCode, axum::Json<PublicIncident>)> {
    let id = path_id(&incident, PublicIncidentId::parse, "public incident")?;
    let updated = s
        .app
        .status_pages()
        .update_public(&caller, &page_key(&page)?, &id, spec)
        .await?;
    Ok((StatusCode::CREATED, axum::Json(updated)))
}

/// What `reader` may see of the page, or 404 for a page that does not exist (or a slug that cannot be one, or a
/// private page read by someone outside the organisation).
pub(crate) async fn public_page(
    s: &AppState,
    raw: &str,
    reader: Option<&tocsin_app::Principal>,
) -> Result<Shown, ApiError> {
    Ok(s.app.status_pages().public(&page_key(raw)?, reader).await?)
}

/// One of the documents the public reads of a page.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Document {
    Summary,
    Status,
    Components,
    Incidents,
    Unresolved,
    Maintenances,
    Atom,
    Rss,
    PageBadge,
    ComponentBadge(String),
    Html,
}

impl Document {
    /// The document's body and content type; none for a component the page does not have.
    fn render(&self, p: &PublicPage, public_url: &str) -> Option<(Vec<u8>, &'static str)> {
        use crate::statuspage as sp;
        let json = |v: serde_json::Result<Vec<u8>>| {
            Some((v.expect("a public document serializes"), "application/json"))
        };
        match self {
            Self::Summary => json(serde_json::to_vec(&sp::summary(p, public_url))),
            Self::Status => json(serde_json::to_vec(&sp::status(p, public_url))),
            Self::Components => json(serde_json::to_vec(&sp::components(p, public_url))),
            Self::Incidents => json(serde_json::to_vec(&sp::incidents(p, public_url))),
            Self::Unresolved => json(serde_json::to_vec(&sp::unresolved(p, public_url))),
            Self::Maintenances => json(serde_json::to_vec(&sp::maintenances(p, public_url))),
            Self::Atom => Some((sp::atom(p, public_url).into_bytes(), "application/atom+xml")),
            Self::Rss => Some((sp::rss(p, public_url).into_bytes(), "application/rss+xml")),
            Self::PageBadge => Some((sp::page_badge(p).into_bytes(), "image/svg+xml")),
            Self::ComponentBadge(id) => {
                sp::component_badge(p, id).map(|svg| (svg.into_bytes(), "image/svg+xml"))
            }
            Self::Html => Some((
                crate::web::status::html(p).into_bytes(),
                "text/html; charset=utf-8",
            )),
        }
    }
}

/// A document as rendered from one snapshot.
#[derive(Clone)]
struct Rendered {
    from: Arc<PublicPage>,
    body: axum::body::Bytes,
    etag: HeaderValue,
    last_modified: HeaderValue,
    content_type: &'static str,
}

/// The public documents rendered from each page's current snapshot, so that a crowd reading a page costs one
/// rendering per change, not one per request. Bounded: only documents of pages and components that exist are
/// kept, and the whole is dropped if it ever holds more than `MOST_RENDERED`.
#[derive(Default)]
pub struct RenderedDocuments {
    kept: RwLock<HashMap<Key, HashMap<Document, Rendered>>>,
}

const MOST_RENDERED: usize = 4096;

impl RenderedDocuments {
    fn get(
        &self,
        slug: &Key,
        doc: &Document,
        p: &Arc<PublicPage>,
        public_url: &str,
    ) -> Option<Rendered> {
        if let Some(r) = self
            .kept
            .read()
            .expect("render lock")
            .get(slug)
            .and_then(|docs| docs.get(doc))
            && Arc::ptr_eq(&r.from, p)
        {
            return Some(r.clone());
        }
        let (body, content_type) = doc.render(p, public_url)?;
        let etag = format!("\"{}\"", hex::encode(&Sha256::digest(&body)[..16]));
        let rendered = Rendered {
            from: p.clone(),
            body: body.into(),
            etag: HeaderValue::from_str(&etag).expect("hex is a header value"),
            last_modified: HeaderValue::from_str(&http_date(p.updated_at))
                .expect("a date is a header value"),
            content_type,
        };
        let mut kept = self.kept.write().expect("render lock");
        if kept.values().map(HashMap::len).sum::<usize>() >= MOST_RENDERED {
            kept.clear();
        }
        kept.entry(slug.clone())
            .or_default()
            .insert(doc.clone(), rendered.clone());
        Some(rendered)
    }
}

/// The header saying since when a page served from its last snapshot has not been confirmed by the database.
pub const STALE_HEADER: &str = "x-tocsin-stale-since";

fn http_date(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

/// A public document of the page shown: its `ETag` and `Last-Modified`, a 304 for a client holding it, caching
/// suited to a CDN in front (a private page's kept by no shared cache and offered to no other site), and whether
/// it comes from a snapshot the database has not confirmed lately. None for a component the page does not have.
pub(crate) fn answer(
    s: &AppState,
    slug: &Key,
    doc: &Document,
    shown: &Shown,
    request: &HeaderMap,
) -> Option<Response> {
    let rendered = s
        .status_documents
        .get(slug, doc, &shown.page, &s.public_url)?;
    let p = &shown.page;
    let modified = p.updated_at;
    let matched = match request.get(header::IF_NONE_MATCH) {
        Some(tags) => tags.to_str().ok().is_some_and(|tags| {
            tags.split(',')
                .any(|t| t.trim().as_bytes() == rendered.etag.as_bytes() || t.trim() == "*")
        }),
        // The page's own HTML moves with the time of day too (its bars, its past week), which no date tells.
        None => {
            *doc != Document::Html
                && request
                    .get(header::IF_MODIFIED_SINCE)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| chrono::DateTime::parse_from_rfc2822(v).ok())
                    .is_some_and(|since| modified.timestamp() <= since.timestamp())
        }
    };
    let mut response = if matched {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (
            [(header::CONTENT_TYPE, rendered.content_type)],
            rendered.body.clone(),
        )
            .into_response()
    };
    let headers = response.headers_mut();
    headers.insert(header::ETAG, rendered.etag.clone());
    headers.insert(header::LAST_MODIFIED, rendered.last_modified.clone());
    if let Some(since) = shown.stale_since
        && let Ok(v) = HeaderValue::from_str(&http_date(since))
    {
        headers.insert(STALE_HEADER, v);
    }
    if p.page.visibility == tocsin_domain::status_page::Visibility::Private {
        headers.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("private, no-cache"),
        );
        return Some(response);
    }
    // Short enough that a page in trouble is seen in trouble at once, long enough for a CDN to absorb a crowd.
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=10"),
    );
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    Some(response)
}

/// One of a page's public documents, as `reader` may read it.
async fn document(
    s: &AppState,
    reader: Option<&tocsin_app::Principal>,
    page: &str,
    headers: &HeaderMap,
    doc: Document,
) -> ApiResult<Response> {
    let shown = public_page(s, page, reader).await?;
    answer(s, &shown.page.page.slug, &doc, &shown, headers).ok_or_else(|| {
        let missing = match &doc {
            Document::ComponentBadge(id) => format!("no component {id:?} on this page"),
            _ => format!("no status page {page:?}"),
        };
        ApiError::new(super::error::ErrorCode::NotFound, missing)
    })
}

/// Statuspage's `summary.json`: the page, its components, unresolved incidents, upcoming and active
/// maintenance, and the overall status.
#[utoipa::path(get, path = "/status/{page}/api/v2/summary.json", tag = "status pages",
    params(("page" = String, Path, description = "The page's slug")),
    responses((status = 200, description = "Statuspage's summary", content_type = "application/json"),
        (status = 304, description = "Unchanged since the ETag sent"), (status = 404, body = ErrorResponse)))]
pub async fn summary(
    State(s): State<AppState>,
    MaybeCaller(reader): MaybeCaller,
    Path(page): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    document(&s, reader.as_ref(), &page, &headers, Document::Summary).await
}

/// Statuspage's `status.json`: the page and its overall status.
#[utoipa::path(get, path = "/status/{page}/api/v2/status.json", tag = "status pages",
    params(("page" = String, Path, description = "The page's slug")),
    responses((status = 200, description = "Statuspage's status", content_type = "application/json"),
        (status = 304, description = "Unchanged since the ETag sent"), (status = 404, body = ErrorResponse)))]
pub async fn status(
    State(s): State<AppState>,
    MaybeCaller(reader): MaybeCaller,
    Path(page): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    document(&s, reader.as_ref(), &page, &headers, Document::Status).await
}

/// Statuspage's `components.json`: the page and its components.
#[utoipa::path(get, path = "/status/{page}/api/v2/components.json", tag = "status pages",
    params(("page" = String, Path, description = "The page's slug")),
    responses((status = 200, description = "Statuspage's components", content_type = "application/json"),
        (status = 304, description = "Unchanged since the ETag sent"), (status = 404, body = ErrorResponse)))]
pub async fn components(
    State(s): State<AppState>,
    MaybeCaller(reader): MaybeCaller,
    Path(page): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    document(&s, reader.as_ref(), &page, &headers, Document::Components).await
}

/// Statuspage's `incidents.json`: the 50 most recent incidents, resolved ones included.
#[utoipa::path(get, path = "/status/{page}/api/v2/incidents.json", tag = "status pages",
    params(("page" = String, Path, description = "The page's slug")),
    responses((status = 200, description = "Statuspage's incidents", content_type = "application/json"),
        (status = 304, description = "Unchanged since the ETag sent"), (status = 404, body = ErrorResponse)))]
pub async fn incidents(
    State(s): State<AppState>,
    MaybeCaller(reader): MaybeCaller,
    Path(page): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    document(&s, reader.as_ref(), &page, &headers, Document::Incidents).await
}

/// Statuspage's `incidents/unresolved.json`: the incidents investigating, identified or monitoring.
#[utoipa::path(get, path = "/status/{page}/api/v2/incidents/unresolved.json", tag = "status pages",
    params(("page" = String, Path, description = "The page's slug")),
    responses((status = 200, description = "Statuspage's unresolved incidents", content_type = "application/json"),
        (status = 304, description = "Unchanged since the ETag sent"), (status = 404, body = ErrorResponse)))]
pub async fn unresolved(
    State(s): State<AppState>,
    MaybeCaller(reader): MaybeCaller,
    Path(page): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    document(&s, reader.as_ref(), &page, &headers, Document::Unresolved).await
}

/// The page's incident history as an Atom feed: one entry per incident, updated in place.
#[utoipa::path(get, path = "/status/{page}/history.atom", tag = "status pages",
    params(("page" = String, Path, description = "The page's slug")),
    responses((status = 200, description = "Atom feed", content_type = "application/atom+xml"),
        (status = 304, description = "Unchanged since the ETag sent"), (status = 404, body = ErrorResponse)))]
pub async fn history_atom(
    State(s): State<AppState>,
    MaybeCaller(reader): MaybeCaller,
    Path(page): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    document(&s, reader.as_ref(), &page, &headers, Document::Atom).await
}

/// The page's incident history as an RSS 2.0 feed.
#[utoipa::path(get, path = "/status/{page}/history.rss", tag = "status pages",
    params(("page" = String, Path, description = "The page's slug")),
    responses((status = 200, description = "RSS feed", content_type = "application/rss+xml"),
        (status = 304, description = "Unchanged since the ETag sent"), (status = 404, body = ErrorResponse)))]
pub async fn history_rss(
    State(s): State<AppState>,
    MaybeCaller(reader): MaybeCaller,
    Path(page): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    document(&s, reader.as_ref(), &page, &headers, Document::Rss).await
}

/// An SVG badge of the page's overall status, for READMEs and dashboards.
#[utoipa::path(get, path = "/status/{page}/badge.svg", tag = "status pages",
    params(("page" = String, Path, description = "The page's slug")),
    responses((status = 200, description = "SVG badge", content_type = "image/svg+xml"),
        (status = 304, description = "Unchanged since the ETag sent"), (status = 404, body = ErrorResponse)))]
pub async fn page_badge(
    State(s): State<AppState>,
    MaybeCaller(reader): MaybeCaller,
    Path(page): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    document(&s, reader.as_ref(), &page, &headers, Document::PageBadge).await
}

/// An SVG badge of one component's status.
#[utoipa::path(get, path = "/status/{page}/components/{component}/badge.svg", tag = "status pages",
    params(("page" = String, Path, description = "The page's slug"),
        ("component" = String, Path, description = "The component's ID")),
    responses((status = 200, description = "SVG badge", content_type = "image/svg+xml"),
        (status = 304, description = "Unchanged since the ETag sent"), (status = 404, body = ErrorResponse)))]
pub async fn component_badge(
    State(s): State<AppState>,
    MaybeCaller(reader): MaybeCaller,
    Path((page, component)): Path<(String, String)>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let doc = Document::ComponentBadge(component);
    document(&s, reader.as_ref(), &page, &headers, doc).await
}

/// Statuspage's scheduled maintenances: none are scheduled on pages.
#[utoipa::path(get, path = "/status/{page}/api/v2/scheduled-maintenances.json", tag = "status pages",
    params(("page" = String, Path, description = "The page's slug")),
    responses((status = 200, description = "Statuspage's scheduled maintenances: none are scheduled on pages", content_type = "application/json"),
        (status = 304, description = "Unchanged since the ETag sent"), (status = 404, body = ErrorResponse)))]
pub async fn maintenances(
    State(s): State<AppState>,
    MaybeCaller(reader): MaybeCaller,
    Path(page): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    document(&s, reader.as_ref(), &page, &headers, Document::Maintenances).await
}

/// Statuspage's upcoming maintenances.
#[utoipa::path(get, path = "/status/{page}/api/v2/scheduled-maintenances/upcoming.json", tag = "status pages",
    params(("page" = String, Path, description = "The page's slug")),
    responses((status = 200, description = "Statuspage's upcoming maintenances", content_type = "application/json"),
        (status = 304, description = "Unchanged since the ETag sent"), (status = 404, body = ErrorResponse)))]
pub async fn upcoming_maintenances(
    State(s): State<AppState>,
    MaybeCaller(reader): MaybeCaller,
    Path(page): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    document(&s, reader.as_ref(), &page, &headers, Document::Maintenances).await
}

/// Statuspage's active maintenances.
#[utoipa::path(get, path = "/status/{page}/api/v2/scheduled-maintenances/active.json", tag = "status pages",
    params(("page" = String, Path, description = "The page's slug")),
    responses((status = 200, description = "Statuspage's active maintenances", content_type = "application/json"),
        (status = 304, description = "Unchanged since the ETag sent"), (status = 404, body = ErrorResponse)))]
pub async fn active_maintenances(
    State(s): State<AppState>,
    MaybeCaller(reader): MaybeCaller,
    Path(page): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    document(&s, reader.as_ref(), &page, &headers, Document::Maintenances).await
}
