//! The catalog as one document: downloaded as YAML to keep in a repository, and applied from a file or pasted text,
//! previewed first, the same way `tocsin apply` does it.

use super::{Chrome, PageError, Viewer, render};
use crate::document::{self, Syntax};
use crate::http::AppState;
use askama::Template;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use tocsin_domain::auth::Need;
use tocsin_domain::catalog::{CatalogDocument, CatalogKind, PlanAction, PlanEntry};

type PageResult = Result<Response, PageError>;

pub struct EntryRow {
    pub kind: &'static str,
    pub name: String,
    pub action: &'static str,
}

/// What applying the document does, or did.
pub struct Report {
    pub dry_run: bool,
    pub created: usize,
    pub updated: usize,
    pub unchanged: usize,
    /// Only what changes: a catalog of hundreds of services applied again lists nothing.
    pub changes: Vec<EntryRow>,
}

impl Report {
    fn new(entries: &[PlanEntry], dry_run: bool) -> Self {
        let count = |a| entries.iter().filter(|e| e.action == a).count();
        Self {
            dry_run,
            created: count(PlanAction::Created),
            updated: count(PlanAction::Updated),
            unchanged: count(PlanAction::Unchanged),
            changes: entries
                .iter()
                .filter(|e| e.action != PlanAction::Unchanged)
                .map(|e| EntryRow {
                    kind: match e.kind {
                        CatalogKind::User => "person",
                        CatalogKind::Team => "team",
                        CatalogKind::Service => "service",
                    },
                    name: e.name.clone(),
                    action: match e.action {
                        PlanAction::Created => "created",
                        PlanAction::Updated => "updated",
                        PlanAction::Unchanged => "unchanged",
                    },
                })
                .collect(),
        }
    }
}

#[derive(Template)]
#[template(path = "catalog.html")]
struct CatalogPage {
    chrome: Chrome,
    may_apply: bool,
    document: String,
    problems: Vec<String>,
    report: Option<Report>,
}

fn page(viewer: &Viewer, status: StatusCode, shown: CatalogPage) -> Response {
    render(
        status,
        &CatalogPage {
            chrome: viewer.chrome("services"),
            may_apply: viewer.who.grant.allows(&Need::Configure),
            ..shown
        },
    )
}

impl CatalogPage {
    /// Whether the document shown is one a preview just accepted, ready to apply.
    fn previewed(&self) -> bool {
        self.report.as_ref().is_some_and(|r| r.dry_run) && self.problems.is_empty()
    }

    fn empty() -> Self {
        Self {
            chrome: Chrome::default(),
            may_apply: false,
            document: String::new(),
            problems: Vec::new(),
            report: None,
        }
    }
}

/// Where applying a document leads: its counts, so that reloading the page shows them rather than applying the
/// document again over what changed since.
#[derive(Deserialize, Default)]
pub struct Applied {
    created: Option<usize>,
    updated: Option<usize>,
    unchanged: Option<usize>,
}

pub async fn catalog(viewer: Viewer, Query(applied): Query<Applied>) -> PageResult {
    let report = match applied {
        Applied {
            created: Some(created),
            updated: Some(updated),
            unchanged: Some(unchanged),
        } => Some(Report {
            dry_run: false,
            created,
            updated,
            unchanged,
            changes: Vec::new(),
        }),
        _ => None,
    };
    Ok(page(
        &viewer,
        StatusCode::OK,
        CatalogPage {
            report,
            ..CatalogPage::empty()
        },
    ))
}

/// The whole catalog as YAML, to download: what `tocsin export` writes, and what this page applies.
pub async fn export(State(s): State<AppState>, viewer: Viewer) -> PageResult {
    let doc = s.app.catalog().export(&viewer.who).await?;
    let yaml = serde_yaml_ng::to_string(&doc).map_err(PageError::internal)?;
    let mut resp = yaml.into_response();
    let headers = resp.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/yaml; charset=utf-8"),
    );
    headers.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("attachment; filename=\"tocsin-catalog.yaml\""),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(resp)
}

#[derive(Deserialize)]
pub struct ApplyForm {
    #[serde(default)]
    document: String,
    /// Which button: `apply`, or anything else to preview.
    #[serde(default)]
    mode: String,
}

/// Previews or applies a document, all or nothing; what is wrong with it is shown above it, with the document kept.
pub async fn apply(
    State(s): State<AppState>,
    viewer: Viewer,
    Form(f): Form<ApplyForm>,
) -> PageResult {
    viewer.who.require(Need::Configure)?;
    let source = f.document.replace("\r\n", "\n");
    let dry_run = f.mode != "apply";
    let refused = |problems: Vec<String>| {
        Ok(page(
            &viewer,
            StatusCode::BAD_REQUEST,
            CatalogPage {
                document: source.clone(),
                problems,
                ..CatalogPage::empty()
            },
        ))
    };
    if source.trim().is_empty() {
        return refused(vec![
            "Choose a file or paste a catalog: it lists users, teams and services.".into(),
        ]);
    }
    let doc = match document::parse::<CatalogDocument>(&source, Syntax::of_text(&source)) {
        Ok(doc) => doc,
        Err(e) => return refused(vec![e]),
    };
    match s.app.catalog().apply(&viewer.who, doc, dry_run).await {
        // After a preview the same document is there to apply.
        Ok(entries) if dry_run => Ok(page(
            &viewer,
            StatusCode::OK,
            CatalogPage {
                document: source.clone(),
                report: Some(Report::new(&entries, dry_run)),
                ..CatalogPage::empty()
            },
        )),
        Ok(entries) => {
            let r = Report::new(&entries, dry_run);
            Ok(Redirect::to(&format!(
                "/catalog?created={}&updated={}&unchanged={}",
                r.created, r.updated, r.unchanged
            ))
            .into_response())
        }
        Err(e) => refused(super::forms::problems(e)?.general(&[])),
    }
}
