//! Setting status pages up: the list of pages (made there by admins), and each page's components, with the
//! services they stand for and how their status is set. Everyone signed in reads; admins change.

use super::forms::{self, Fields, Problems};
use super::{Chrome, PageError, Viewer, render};
use crate::http::AppState;
use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde_json::json;
use tocsin_domain::auth::Need;
use tocsin_domain::ids::ComponentId;
use tocsin_domain::refs::Key;
use tocsin_domain::status_page::{ComponentSpec, ComponentStatus, StatusSetting};

type PageResult = Result<Response, PageError>;

#[derive(Template)]
#[template(path = "status_pages.html")]
struct PagesList {
    chrome: Chrome,
    /// Slug and name.
    pages: Vec<(String, String)>,
    /// The slugs of the pages only people signed in may read.
    private_pages: Vec<String>,
    may_edit: bool,
    problems: Problems,
    /// The new page as typed: name, slug, time zone.
    typed: (String, String, String),
}

/// A component as the setup page shows it.
pub struct ComponentRow {
    pub id: String,
    pub name: String,
    pub group: bool,
    pub member: bool,
    /// "automatic", or the status set by hand.
    pub setting: String,
    pub services: Vec<String>,
}

#[derive(Template)]
#[template(path = "status_page_setup.html")]
struct Setup {
    chrome: Chrome,
    slug: String,
    name: String,
    components: Vec<ComponentRow>,
    /// ID and name of each group, for the add form.
    groups: Vec<(String, String)>,
    /// ID and name of every service.
    services: Vec<(String, String)>,
    statuses: &'static [ComponentStatus],
    may_edit: bool,
    problems: Problems,
}

fn slug_of(raw: &str) -> Result<Key, PageError> {
    raw.parse()
        .map_err(|_| PageError::new(StatusCode::NOT_FOUND, "Not found", "No such status page."))
}

async fn list_page(
    s: &AppState,
    viewer: &Viewer,
    status: StatusCode,
    problems: Problems,
    typed: (String, String, String),
) -> PageResult {
    let pages = s.app.status_pages().list(&viewer.who).await?;
    Ok(render(
        status,
        &PagesList {
            chrome: viewer.chrome("status"),
            private_pages: pages
                .iter()
                .filter(|p| p.visibility == tocsin_domain::status_page::Visibility::Private)
                .map(|p| p.slug.to_string())
                .collect(),
            pages: pages
                .into_iter()
                .map(|p| (p.slug.to_string(), p.name))
                .collect(),
            may_edit: viewer.who.grant.allows(&Need::Configure),
            problems,
            typed,
        },
    ))
}

pub async fn pages(State(s): State<AppState>, viewer: Viewer) -> PageResult {
    list_page(
        &s,
        &viewer,
        StatusCode::OK,
        Problems::default(),
        Default::default(),
    )
    .await
}

/// Makes a page (admins).
pub async fn create(
    State(s): State<AppState>,
    viewer: Viewer,
    Form(pairs): Form<Vec<(String, String)>>,
) -> PageResult {
    let f = Fields::new(pairs);
    let typed = (f.one("name"), f.one("slug"), f.one("time_zone"));
    let parsed = forms::parse(json!({
        "name": typed.0, "slug": typed.1.trim(),
        "time_zone": forms::given(&typed.2).unwrap_or("UTC"),
        "visibility": forms::given(&f.one("visibility")).unwrap_or("public"),
    }))
    .map_err(|e| forms::problems(e).unwrap_or_default());
    let pages = s.app.status_pages();
    let made = forms::submit(
        parsed,
        |spec: tocsin_domain::status_page::StatusPageSpec| async {
            let slug = spec.slug.clone();
            pages.put(&viewer.who, &slug, spec).await
        },
    )
    .await?;
    match made {
        Ok((page, _)) => Ok(Redirect::to(&format!("/status-pages/{}", page.slug)).into_response()),
        Err(p) => list_page(&s, &viewer, StatusCode::BAD_REQUEST, p, typed).await,
    }
}

async fn setup_page(
    s: &AppState,
    viewer: &Viewer,
    slug: &Key,
    status: StatusCode,
    problems: Problems,
) -> PageResult {
    let (page, components) = s.app.status_pages().get(&viewer.who, slug).await?;
    let services = s.app.services().list(&viewer.who).await?;
    let service_name = |id: &tocsin_domain::ids::ServiceId| {
        services
            .iter()
            .find(|x| &x.id == id)
            .map_or_else(|| id.to_string(), |x| x.name.to_string())
    };
    let row = |c: &tocsin_domain::status_page::Component, member: bool| ComponentRow {
        id: c.id.to_string(),
        name: c.name.clone(),
        group: c.group,
        member,
        setting: match c.status {
            StatusSetting::Automatic => "automatic".into(),
            StatusSetting::Manual(st) => st.as_str().into(),
        },
        services: c.services.iter().map(service_name).collect(),
    };
    let mut rows = Vec::new();
    for top in components.iter().filter(|c| c.group_id.is_none()) {
        rows.push(row(top, false));
        for member in components
            .iter()
            .filter(|c| c.group_id.as_ref() == Some(&top.id))
        {
            rows.push(row(member, true));
        }
    }
    Ok(render(
        status,
        &Setup {
            chrome: viewer.chrome("status"),
            slug: page.slug.to_string(),
            name: page.name,
            groups: components
                .iter()
                .filter(|c| c.group)
                .map(|c| (c.id.to_string(), c.name.clone()))
                .collect(),
            components: rows,
            services: services
                .iter()
                .map(|x| (x.id.to_string(), x.name.to_string()))
                .collect(),
            statuses: &ComponentStatus::ALL,
            may_edit: viewer.who.grant.allows(&Need::Configure),
            problems,
        },
    ))
}

pub async fn setup(
    State(s): State<AppState>,
    viewer: Viewer,
    Path(slug): Path<String>,
) -> PageResult {
    setup_page(
        &s,
        &viewer,
        &slug_of(&slug)?,
        StatusCode::OK,
        Problems::default(),
    )
    .await
}

/// Adds a component (admins).
pub async fn add_component(
    State(s): State<AppState>,
    viewer: Viewer,
    Path(slug): Path<String>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> PageResult {
    let slug = slug_of(&slug)?;
    let f = Fields::new(pairs);
    let parsed = forms::parse(json!({
        "name": f.one("name"),
        "description": forms::given(&f.one("description")),
        "group": !f.one("group").is_empty(),
        "group_id": forms::given(&f.one("group_id")),
        "services": f.all("services"),
        "position": f.one("position").trim().parse::<u32>().unwrap_or(0),
    }))
    .map_err(|e| forms::problems(e).unwrap_or_default());
    let pages = s.app.status_pages();
    match forms::submit(parsed, |spec: ComponentSpec| {
        pages.add_component(&viewer.who, &slug, spec)
    })
    .await?
    {
        Ok(_) => Ok(Redirect::to(&format!("/status-pages/{slug}")).into_response()),
        Err(p) => setup_page(&s, &viewer, &slug, StatusCode::BAD_REQUEST, p).await,
    }
}

/// Sets how a component's status is set: automatic, or a status by hand (admins).
pub async fn set_status(
    State(s): State<AppState>,
    viewer: Viewer,
    Path((slug, id)): Path<(String, String)>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> PageResult {
    let slug = slug_of(&slug)?;
    let id = ComponentId::parse(&id)
        .ok_or_else(|| PageError::new(StatusCode::NOT_FOUND, "Not found", "No such component."))?;
    let f = Fields::new(pairs);
    let setting = match ComponentStatus::parse(&f.one("status")) {
        Some(st) => StatusSetting::Manual(st),
        None => StatusSetting::Automatic,
    };
    s.app
        .status_pages()
        .set_component_status(&viewer.who, &slug, &id, setting)
        .await?;
    Ok(Redirect::to(&format!("/status-pages/{slug}")).into_response())
}

pub async fn delete_component(
    State(s): State<AppState>,
    viewer: Viewer,
    Path((slug, id)): Path<(String, String)>,
) -> PageResult {
    let slug = slug_of(&slug)?;
    let id = ComponentId::parse(&id)
        .ok_or_else(|| PageError::new(StatusCode::NOT_FOUND, "Not found", "No such component."))?;
    s.app
        .status_pages()
        .delete_component(&viewer.who, &slug, &id)
        .await?;
    Ok(Redirect::to(&format!("/status-pages/{slug}")).into_response())
}
