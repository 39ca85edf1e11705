//! What SEV-0 to SEV-3 mean here: a page everyone reads and admins reword, and the short guide shown beside every
//! place a severity is chosen, so that people choose the same severity for the same harm.

use super::forms::{self, Problems};
use super::pages::Choice;
use super::{Chrome, PageError, Viewer, render};
use crate::http::AppState;
use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde_json::json;
use tocsin_domain::auth::Need;
use tocsin_domain::severity::{Severity, SeverityLevel, SeverityLevelChange, SeverityLevelSpec};

type PageResult = Result<Response, PageError>;

/// A severity as the guide beside a choice shows it.
pub struct GuideEntry {
    pub label: String,
    pub definition: String,
}

/// A severity as its page shows it, with its edit form.
pub struct LevelView {
    pub value: &'static str,
    pub name: String,
    pub definition: String,
    pub examples: Vec<String>,
    pub expectations: String,
    pub high_urgency: bool,
    pub cadence: String,
    pub postmortem: bool,
    pub edit: LevelForm,
    pub problems: Problems,
}

/// A severity's definition as typed: examples one per line, the cadence in minutes.
#[derive(Deserialize, Default, Clone)]
pub struct LevelForm {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub definition: String,
    #[serde(default)]
    pub examples: String,
    #[serde(default)]
    pub expectations: String,
    #[serde(default)]
    pub update_every: String,
    /// A checkbox: present when ticked.
    #[serde(default)]
    pub postmortem: Option<String>,
}

impl LevelForm {
    fn of(spec: &SeverityLevelSpec) -> Self {
        Self {
            name: spec.name.clone(),
            definition: spec.definition.clone(),
            examples: spec.examples.join("\n"),
            expectations: spec.expectations.clone(),
            update_every: spec
                .update_every_minutes
                .map(|m| m.to_string())
                .unwrap_or_default(),
            postmortem: spec.postmortem_required.then(|| "1".into()),
        }
    }

    fn spec(&self) -> Result<SeverityLevelSpec, Problems> {
        let minutes = match forms::given(&self.update_every).map(str::parse::<u32>) {
            None => None,
            Some(Ok(m)) => Some(m),
            Some(Err(_)) => {
                return Err(forms::problem(
                    "update_every_minutes",
                    "must be a whole number of minutes, or blank for no cadence",
                ));
            }
        };
        forms::parse(json!({
            "name": self.name,
            "definition": self.definition.replace("\r\n", "\n"),
            "examples": self.examples.replace("\r\n", "\n").lines().collect::<Vec<_>>(),
            "expectations": self.expectations.replace("\r\n", "\n"),
            "update_every_minutes": minutes,
            "postmortem_required": self.postmortem.is_some(),
        }))
        .map_err(|e| forms::problems(e).unwrap_or_default())
    }
}

fn label(level: &SeverityLevel) -> String {
    format!("{} {}", level.severity, level.name)
}

/// The severities for a choice, labelled with their names, `selected` chosen.
pub(super) fn choices(levels: &[SeverityLevel], selected: &str) -> Vec<Choice> {
    levels
        .iter()
        .map(|l| Choice {
            value: l.severity.as_str().to_owned(),
            label: label(l),
            selected: l.severity.as_str() == selected,
        })
        .collect()
}

pub(super) fn guide(levels: &[SeverityLevel]) -> Vec<GuideEntry> {
    levels
        .iter()
        .map(|l| GuideEntry {
            label: label(l),
            definition: l.definition.clone(),
        })
        .collect()
}

pub(super) async fn levels(s: &AppState, viewer: &Viewer) -> Result<Vec<SeverityLevel>, PageError> {
    Ok(s.app.incidents().severity_levels(&viewer.who).await?)
}

#[derive(Template)]
#[template(path = "severities.html")]
struct SeveritiesPage {
    chrome: Chrome,
    levels: Vec<LevelView>,
    may_edit: bool,
}

/// A refused edit: which severity, as typed, and what is wrong.
type Refused = Option<(Severity, LevelForm, Problems)>;

async fn page(
    s: &AppState,
    viewer: &Viewer,
    status: StatusCode,
    mut refused: Refused,
) -> PageResult {
    let levels = levels(s, viewer).await?;
    Ok(render(
        status,
        &SeveritiesPage {
            chrome: viewer.chrome("incidents"),
            may_edit: viewer.who.grant.allows(&Need::Configure),
            levels: levels
                .iter()
                .map(|l| {
                    let (edit, problems) = match refused.take_if(|(sev, ..)| *sev == l.severity) {
                        Some((_, typed, problems)) => (typed, problems),
                        None => (LevelForm::of(&l.spec()), Problems::default()),
                    };
                    LevelView {
                        value: l.severity.as_str(),
                        name: l.name.clone(),
                        definition: l.definition.clone(),
                        examples: l.examples.clone(),
                        expectations: l.expectations.clone(),
                        high_urgency: l.severity.is_high_urgency(),
                        cadence: match l.update_every_minutes {
                            Some(m) if m % 60 == 0 => format!("every {} h", m / 60),
                            Some(m) => format!("every {m} min"),
                            None => String::new(),
                        },
                        postmortem: l.postmortem_required,
                        edit,
                        problems,
                    }
                })
                .collect(),
        },
    ))
}

pub async fn severities(State(s): State<AppState>, viewer: Viewer) -> PageResult {
    page(&s, &viewer, StatusCode::OK, None).await
}

pub async fn update(
    State(s): State<AppState>,
    viewer: Viewer,
    Path(severity): Path<String>,
    Form(f): Form<LevelForm>,
) -> PageResult {
    let severity: Severity = severity.parse().map_err(|e: String| {
        PageError::new(
            StatusCode::NOT_FOUND,
            "Not found",
            &format!("No such severity: {e}"),
        )
    })?;
    let incidents = s.app.incidents();
    // The form shows every field, so it sends the whole definition.
    match forms::submit(f.spec(), |spec| {
        incidents.change_severity_level(&viewer.who, severity, SeverityLevelChange::whole(spec))
    })
    .await?
    {
        Ok(_) => Ok(Redirect::to(&format!("/severities#{severity}")).into_response()),
        Err(p) => page(&s, &viewer, StatusCode::BAD_REQUEST, Some((severity, f, p))).await,
    }
}
