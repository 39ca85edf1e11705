//! Runbooks: the list, each one rendered with what it is for and its versions, and admins' forms to write them.

use super::forms::{self, Fields, Problems};
use super::pages::{by_name, key_in_path, names_of};
use super::{Chrome, PageError, Viewer, When, markdown, render};
use crate::http::AppState;
use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde_json::json;
use std::collections::HashMap;
use tocsin_domain::auth::Need;
use tocsin_domain::ids::ServiceId;
use tocsin_domain::refs::Key;
use tocsin_domain::runbooks::{Runbook, RunbookSpec, RunbookSummary};

type PageResult = Result<Response, PageError>;

/// A runbook in the list, or heading its page.
pub struct RunbookRow {
    pub key: String,
    pub title: String,
    /// Its services' names and its matchers, in words.
    pub applies: String,
    pub version: u32,
    pub updated: When,
    pub updated_by: String,
}

/// What a runbook is for, in words.
pub(super) fn applies(r: &RunbookSummary, names: &HashMap<ServiceId, String>) -> String {
    let mut parts: Vec<String> = r
        .services
        .iter()
        .filter_map(|s| names.get(s).cloned())
        .collect();
    if !r.matchers.is_empty() {
        let matchers: Vec<String> = r.matchers.iter().map(ToString::to_string).collect();
        parts.push(format!("alerts matching {}", matchers.join(", ")));
    }
    if parts.is_empty() {
        "opened from this list".into()
    } else {
        parts.join("; ")
    }
}

fn row(
    r: &RunbookSummary,
    names: &HashMap<ServiceId, String>,
    viewer: &Viewer,
    now: chrono::DateTime<chrono::Utc>,
) -> RunbookRow {
    RunbookRow {
        key: r.key.to_string(),
        title: r.title.clone(),
        applies: applies(r, names),
        version: r.version,
        updated: When::new(r.updated_at, viewer.tz, now),
        updated_by: r.updated_by.name.clone(),
    }
}

/// A runbook's form as typed, or as stored.
#[derive(Default)]
pub struct RunbookForm {
    pub key: String,
    pub title: String,
    pub body: String,
    /// Service IDs chosen.
    pub services: Vec<String>,
    /// One matcher per line.
    pub matchers: String,
    /// What Tocsin can run, as YAML (a list of steps).
    pub steps: String,
    /// The version the form was filled from.
    pub version: String,
}

impl RunbookForm {
    fn of(r: &Runbook) -> Self {
        Self {
            key: r.summary.key.to_string(),
            title: r.summary.title.clone(),
            body: r.body.clone(),
            services: r.summary.services.iter().map(ToString::to_string).collect(),
            matchers: r
                .summary
                .matchers
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n"),
            steps: if r.steps.is_empty() {
                String::new()
            } else {
                serde_yaml_ng::to_string(&r.steps).unwrap_or_default()
            },
            version: r.summary.version.to_string(),
        }
    }

    fn typed(f: &Fields) -> Self {
        Self {
            key: f.one("key"),
            title: f.one("title"),
            body: f.one("body"),
            services: f.all("services"),
            matchers: f.one("matchers"),
            steps: f.one("steps"),
            version: f.one("version"),
        }
    }

    fn spec(&self) -> Result<RunbookSpec, Problems> {
        let matchers: Vec<&str> = self
            .matchers
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect();
        let steps: serde_json::Value = if self.steps.trim().is_empty() {
            json!([])
        } else {
            crate::document::parse(&self.steps, crate::document::Syntax::Yaml).map_err(|e| {
                forms::problem("steps", &format!("is not a YAML list of steps: {e}"))
            })?
        };
        forms::parse(json!({
            "title": self.title,
            "body": self.body,
            "services": self.services,
            "matchers": matchers,
            "steps": steps,
        }))
        .map_err(|e| forms::problems(e).unwrap_or_default())
    }

    fn has_service(&self, id: &str) -> bool {
        self.services.iter().any(|s| s == id)
    }
}

/// The fields a runbook form shows its problems beside.
const FIELDS: &[&str] = &["key", "title", "body", "services", "matchers"];

#[derive(Template)]
#[template(path = "runbooks.html")]
struct RunbooksPage {
    chrome: Chrome,
    runbooks: Vec<RunbookRow>,
    may_edit: bool,
    services: Vec<(String, String)>,
    form: RunbookForm,
    problems: Problems,
}

async fn list_page(
    s: &AppState,
    viewer: &Viewer,
    status: StatusCode,
    refused: Option<(RunbookForm, Problems)>,
) -> PageResult {
    let now = s.app.now();
    let names = names_of(&s.app.services().list(&viewer.who).await?);
    let runbooks = s.app.runbooks().list(&viewer.who).await?;
    let (form, problems) = refused.unwrap_or_default();
    Ok(render(
        status,
        &RunbooksPage {
            chrome: viewer.chrome("runbooks"),
            runbooks: runbooks
                .iter()
                .map(|r| row(r, &names, viewer, now))
                .collect(),
            may_edit: viewer.who.grant.allows(&Need::Configure),
            services: by_name(names.iter().map(|(id, n)| (id, n.clone()))),
            form,
            problems,
        },
    ))
}

pub async fn runbooks(State(s): State<AppState>, viewer: Viewer) -> PageResult {
    list_page(&s, &viewer, StatusCode::OK, None).await
}

/// Creates a runbook from the list's form.
pub async fn create(
    State(s): State<AppState>,
    viewer: Viewer,
    Form(pairs): Form<Vec<(String, String)>>,
) -> PageResult {
    let typed = RunbookForm::typed(&Fields::new(pairs));
    let key = match typed.key.trim().parse::<Key>() {
        Ok(k) => k,
        Err(m) => {
            let p = forms::problem("key", &m);
            return list_page(&s, &viewer, StatusCode::BAD_REQUEST, Some((typed, p))).await;
        }
    };
    let runbooks = s.app.runbooks();
    // A key in use is another runbook: creating must not overwrite it (version 0: none yet).
    match forms::submit(typed.spec(), |spec| {
        runbooks.put(&viewer.who, key.clone(), spec, Some(0))
    })
    .await?
    {
        Ok(_) => Ok(Redirect::to(&format!("/runbooks/{key}")).into_response()),
        Err(p) => list_page(&s, &viewer, StatusCode::BAD_REQUEST, Some((typed, p))).await,
    }
}

/// A version in the runbook's history.
pub struct VersionRow {
    pub version: u32,
    pub title: String,
    pub written: When,
    pub written_by: String,
}

#[derive(Template)]
#[template(path = "runbook.html")]
struct RunbookPage {
    chrome: Chrome,
    runbook: RunbookRow,
    body_html: String,
    /// What Tocsin can run: (title, what it does, how: by hand or on its own, with approval or not).
    steps: Vec<(String, String, String)>,
    /// The current version, when an older one is shown.
    current: Option<u32>,
    versions: Vec<VersionRow>,
    may_edit: bool,
    services: Vec<(String, String)>,
    form: RunbookForm,
    problems: Problems,
}

fn runbook_key(raw: &str) -> Result<Key, PageError> {
    key_in_path(raw, "runbook")
}

#[derive(Deserialize)]
pub struct VersionQuery {
    version: Option<u32>,
}

async fn runbook_page(
    s: &AppState,
    viewer: &Viewer,
    key: &Key,
    version: Option<u32>,
    status: StatusCode,
    refused: Option<(RunbookForm, Problems)>,
) -> PageResult {
    let now = s.app.now();
    let runbooks = s.app.runbooks();
    let current = runbooks.get(&viewer.who, key, None).await?;
    let shown = match version {
        Some(v) if v != current.summary.version => runbooks.get(&viewer.who, key, Some(v)).await?,
        _ => current.clone(),
    };
    let versions = runbooks.versions(&viewer.who, key).await?;
    let names = names_of(&s.app.services().list(&viewer.who).await?);
    let (form, problems) =
        refused.unwrap_or_else(|| (RunbookForm::of(&current), Problems::default()));
    Ok(render(
        status,
        &RunbookPage {
            chrome: viewer.chrome("runbooks"),
            runbook: row(&shown.summary, &names, viewer, now),
            body_html: markdown::render(&shown.body),
            steps: shown
                .steps
                .iter()
                .map(|st| {
                    let when = if st.automatic {
                        "runs on its own when an incident it is for opens or gains an alert"
                    } else {
                        "run by a responder from the incident"
                    };
                    let approval = if st.needs_approval {
                        ", once a second responder approves"
                    } else {
                        ""
                    };
                    (
                        st.title.clone(),
                        st.action(),
                        format!("{when}{approval}; at most {} s", st.timeout_seconds),
                    )
                })
                .collect(),
            current: (shown.summary.version != current.summary.version)
                .then_some(current.summary.version),
            versions: versions
                .iter()
                .map(|v| VersionRow {
                    version: v.version,
                    title: v.title.clone(),
                    written: When::new(v.written_at, viewer.tz, now),
                    written_by: v.written_by.name.clone(),
                })
                .collect(),
            may_edit: viewer.who.grant.allows(&Need::Configure),
            services: by_name(names.iter().map(|(id, n)| (id, n.clone()))),
            form,
            problems,
        },
    ))
}

pub async fn runbook(
    State(s): State<AppState>,
    viewer: Viewer,
    Path(key): Path<String>,
    Query(q): Query<VersionQuery>,
) -> PageResult {
    runbook_page(
        &s,
        &viewer,
        &runbook_key(&key)?,
        q.version,
        StatusCode::OK,
        None,
    )
    .await
}

/// Writes the runbook's next version from its page's form.
pub async fn update(
    State(s): State<AppState>,
    viewer: Viewer,
    Path(key): Path<String>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> PageResult {
    let key = runbook_key(&key)?;
    let mut typed = RunbookForm::typed(&Fields::new(pairs));
    typed.key = key.to_string();
    let runbooks = s.app.runbooks();
    // Made to the version the page showed, so that it does not undo a change saved since.
    let read = typed.version.trim().parse::<u32>().ok();
    match forms::submit(typed.spec(), |spec| {
        runbooks.put(&viewer.who, key.clone(), spec, read)
    })
    .await?
    {
        Ok(_) => Ok(Redirect::to(&format!("/runbooks/{key}")).into_response()),
        Err(p) => {
            runbook_page(
                &s,
                &viewer,
                &key,
                None,
                StatusCode::BAD_REQUEST,
                Some((typed, p)),
            )
            .await
        }
    }
}

pub async fn delete(
    State(s): State<AppState>,
    viewer: Viewer,
    Path(key): Path<String>,
) -> PageResult {
    s.app
        .runbooks()
        .delete(&viewer.who, &runbook_key(&key)?)
        .await?;
    Ok(Redirect::to("/runbooks").into_response())
}

/// A secret steps' requests use, as listed: never its value.
pub struct SecretRow {
    pub name: String,
    pub updated: When,
    pub updated_by: String,
}

#[derive(Template)]
#[template(path = "secrets.html")]
struct SecretsPage {
    chrome: Chrome,
    secrets: Vec<SecretRow>,
    /// The name typed into a refused form; the value is never sent back.
    name: String,
    problems: Problems,
}

async fn secrets_page(
    s: &AppState,
    viewer: &Viewer,
    status: StatusCode,
    refused: Option<(String, Problems)>,
) -> PageResult {
    let now = s.app.now();
    let secrets = s
        .app
        .automation()
        .secrets(&viewer.who)
        .await?
        .into_iter()
        .map(|x| SecretRow {
            name: x.name.to_string(),
            updated: When::new(x.updated_at, viewer.tz, now),
            updated_by: x.updated_by.name,
        })
        .collect();
    let (name, problems) = refused.unwrap_or_default();
    Ok(render(
        status,
        &SecretsPage {
            chrome: viewer.chrome("runbooks"),
            secrets,
            name,
            problems,
        },
    ))
}

/// The secrets runbook steps use (admins).
pub async fn secrets(State(s): State<AppState>, viewer: Viewer) -> PageResult {
    secrets_page(&s, &viewer, StatusCode::OK, None).await
}

/// Sets a secret from the page's form.
pub async fn set_secret(
    State(s): State<AppState>,
    viewer: Viewer,
    Form(pairs): Form<Vec<(String, String)>>,
) -> PageResult {
    let f = Fields::new(pairs);
    let name = f.one("name");
    let refuse = |p: Problems| {
        secrets_page(
            &s,
            &viewer,
            StatusCode::BAD_REQUEST,
            Some((name.clone(), p)),
        )
    };
    let key = match name.trim().parse::<Key>() {
        Ok(k) => k,
        Err(m) => return refuse(forms::problem("name", &m)).await,
    };
    let value = f.one("value");
    match s.app.automation().put_secret(&viewer.who, key, value).await {
        Ok(_) => Ok(Redirect::to("/secrets").into_response()),
        Err(e) => refuse(forms::problems(e)?).await,
    }
}

pub async fn delete_secret(
    State(s): State<AppState>,
    viewer: Viewer,
    Path(name): Path<String>,
) -> PageResult {
    let key = key_in_path(&name, "secret")?;
    match s.app.automation().delete_secret(&viewer.who, &key).await {
        Ok(()) => Ok(Redirect::to("/secrets").into_response()),
        Err(e) => {
            let p = forms::problems(e)?;
            secrets_page(&s, &viewer, StatusCode::CONFLICT, Some((String::new(), p))).await
        }
    }
}
