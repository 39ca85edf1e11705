//! Alerts, with why each did or did not page, and noise: the rules that route, re-rate or suppress alerts, the
//! silences that mute them for a while, and the maintenance windows of services.

use super::forms::{self, Problems, given};
use super::pages::service_names;
use super::{Chrome, PageError, Viewer, When, render};
use crate::http::AppState;
use crate::http::extract::path_id;
use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;
use serde_json::{Value, json};
use tocsin_domain::alert::AlertStatus;
use tocsin_domain::auth::Need;
use tocsin_domain::ids::{MaintenanceId, RuleId, SilenceId};
use tocsin_domain::noise::{
    MaintenanceSchedule, MaintenanceSpec, MaintenanceWindow, RuleAction, RuleSpec, SilenceSpec,
};
use tocsin_store::AlertFilter;

type PageResult = Result<Response, PageError>;

/// When a maintenance window applies, as its viewer reads it.
pub fn maintenance_when(w: &MaintenanceWindow, viewer: &Viewer, now: DateTime<Utc>) -> String {
    let local = |t: DateTime<Utc>| When::new(t, viewer.tz, now).local;
    let next = w
        .next_occurrence(now)
        .map(|t| format!("; next {}", local(t)))
        .unwrap_or_default();
    match &w.schedule {
        MaintenanceSchedule::Once { starts_at, ends_at } => {
            format!("{} to {}", local(*starts_at), local(*ends_at))
        }
        MaintenanceSchedule::Rrule {
            rule,
            duration_minutes,
        } => format!(
            "{} for {duration_minutes} min{next}",
            rule.replace('\n', " ")
        ),
        MaintenanceSchedule::Cron {
            expression,
            time_zone,
            duration_minutes,
        } => format!("cron {expression} ({time_zone}) for {duration_minutes} min{next}"),
    }
}

// ---- alerts -----------------------------------------------------------------------------------------------------

#[derive(Deserialize, Default)]
pub struct AlertQuery {
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    service: Option<String>,
    #[serde(default)]
    cursor: Option<String>,
}

pub struct AlertRow {
    pub summary: String,
    pub service: String,
    pub severity: String,
    pub status: &'static str,
    pub source: String,
    pub events: i64,
    pub created: When,
    pub incident: Option<String>,
    /// Why it opened or joined no incident.
    pub reason: Option<String>,
}

#[derive(Template)]
#[template(path = "alerts.html")]
struct AlertsPage {
    chrome: Chrome,
    rows: Vec<AlertRow>,
    statuses: Vec<super::pages::Choice>,
    services: Vec<super::pages::Choice>,
    next_url: Option<String>,
}

pub async fn alerts(
    State(s): State<AppState>,
    viewer: Viewer,
    Query(q): Query<AlertQuery>,
) -> PageResult {
    let now = s.app.now();
    let status = q.status.clone().unwrap_or_default();
    let statuses = match status.as_str() {
        "" => Vec::new(),
        other => vec![
            other
                .parse::<AlertStatus>()
                .map_err(|e| PageError::new(StatusCode::BAD_REQUEST, "Unknown status", &e))?,
        ],
    };
    let service = q.service.clone().unwrap_or_default();
    let page = s
        .app
        .alerts()
        .list(
            &viewer.who,
            AlertFilter {
                statuses,
                service: given(&service).map(Into::into),
                limit: 50,
                cursor: q.cursor.clone(),
                ..Default::default()
            },
        )
        .await?;
    let names = service_names(&s, &viewer).await?;
    let rows = page
        .items
        .into_iter()
        .map(|a| AlertRow {
            service: names.get(&a.service_id).cloned().unwrap_or_default(),
            severity: a.severity.as_str().to_owned(),
            status: a.status.as_str(),
            source: a.source,
            events: a.event_count,
            created: When::new(a.created_at, viewer.tz, now),
            incident: a.incident_id.map(|i| i.to_string()),
            reason: a.no_page_reason.map(|r| r.describe()),
            summary: a.summary,
        })
        .collect();
    let next_url = page.next_cursor.map(|c| {
        let mut pairs = url::form_urlencoded::Serializer::new(String::new());
        pairs.append_pair("status", &status);
        pairs.append_pair("service", &service);
        pairs.append_pair("cursor", &c);
        format!("/alerts?{}", pairs.finish())
    });
    let service_choices = super::pages::service_choices(&names, &service);
    Ok(render(
        StatusCode::OK,
        &AlertsPage {
            chrome: viewer.chrome("alerts"),
            rows,
            statuses: super::pages::choices(
                &[
                    ("", "Any status"),
                    ("triggered", "Triggered"),
                    ("acknowledged", "Acknowledged"),
                    ("resolved", "Resolved"),
                ],
                &status,
            ),
            services: service_choices,
            next_url,
        },
    ))
}

// ---- noise ------------------------------------------------------------------------------------------------------

pub struct RuleView {
    pub id: String,
    pub name: String,
    pub matchers: String,
    pub action: String,
    pub position: i64,
    pub service: String,
    /// The edit form: as stored, or as typed when it was refused.
    pub edit: RuleForm,
    pub problems: Problems,
}

pub struct SilenceView {
    pub id: String,
    pub matchers: String,
    pub comment: String,
    pub created_by: String,
    pub state: &'static str,
    pub starts: When,
    pub ends: When,
}

pub struct WindowView {
    pub id: String,
    pub service: String,
    pub description: String,
    pub when: String,
    pub active: bool,
}

#[derive(Deserialize, Default, Clone)]
pub struct RuleForm {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub matchers: String,
    #[serde(default)]
    pub action: String,
    /// The service to route to, or the severity to set, depending on the action.
    #[serde(default)]
    pub argument: String,
    #[serde(default)]
    pub position: String,
    #[serde(default)]
    pub service: String,
}

#[derive(Deserialize, Default, Clone)]
pub struct SilenceForm {
    #[serde(default)]
    pub matchers: String,
    #[serde(default)]
    pub starts_at: String,
    #[serde(default)]
    pub hours: String,
    #[serde(default)]
    pub comment: String,
}

#[derive(Deserialize, Default, Clone)]
pub struct MaintenanceForm {
    #[serde(default)]
    pub service: String,
    #[serde(default)]
    pub description: String,
    /// `once` or `cron`.
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub starts_at: String,
    #[serde(default)]
    pub ends_at: String,
    #[serde(default)]
    pub expression: String,
    #[serde(default)]
    pub time_zone: String,
    #[serde(default)]
    pub duration_minutes: String,
}

#[derive(Template)]
#[template(path = "noise.html")]
struct NoisePage {
    chrome: Chrome,
    rules: Vec<RuleView>,
    silences: Vec<SilenceView>,
    windows: Vec<WindowView>,
    services: Vec<String>,
    may_silence: bool,
    may_configure: bool,
    zone: String,
    rule: RuleForm,
    rule_problems: Problems,
    silence: SilenceForm,
    silence_problems: Problems,
    window: MaintenanceForm,
    window_problems: Problems,
}

#[derive(Default)]
struct Typed {
    rule: Option<(RuleForm, Problems)>,
    /// A refused edit of a rule: its ID, what was typed, what is wrong.
    edited_rule: Option<(String, RuleForm, Problems)>,
    silence: Option<(SilenceForm, Problems)>,
    window: Option<(MaintenanceForm, Problems)>,
}

fn joined(matchers: &[tocsin_domain::noise::Matcher]) -> String {
    matchers
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

impl NoisePage {
    /// A rule scoped to a service that no longer exists keeps its scope in the form rather than falling back to
    /// every service.
    fn unknown_service(&self, name: &str) -> bool {
        !name.is_empty() && !self.services.iter().any(|s| s == name)
    }
}

impl RuleForm {
    fn of(r: &tocsin_domain::noise::Rule) -> Self {
        let (action, argument) = match &r.action {
            RuleAction::Route { service } => ("route", service.clone()),
            RuleAction::SetSeverity { severity } => ("set_severity", severity.as_str().to_owned()),
            RuleAction::Suppress => ("suppress", String::new()),
        };
        Self {
            name: r.name.clone(),
            matchers: r
                .matchers
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n"),
            action: action.into(),
            argument,
            position: r.position.to_string(),
            service: r.service.clone().unwrap_or_default(),
        }
    }
}

async fn noise_page(s: &AppState, viewer: &Viewer, status: StatusCode, typed: Typed) -> PageResult {
    let who = &viewer.who;
    let now = s.app.now();
    let noise = s.app.noise();
    let mut rules = noise.rules(who).await?;
    rules.sort_by_key(|r| r.position);
    let mut silences = noise.silences(who).await?;
    silences.retain(|x| x.ends_at > now - Duration::days(7));
    silences.sort_by_key(|x| std::cmp::Reverse(x.ends_at));
    let windows = noise.maintenance(who, None).await?;
    let mut services: Vec<String> = service_names(s, viewer).await?.into_values().collect();
    services.sort();
    let local_now = forms::local_input(now, viewer.tz);
    let (rule, rule_problems) = typed.rule.unwrap_or_default();
    let (silence, silence_problems) = typed.silence.unwrap_or_else(|| {
        (
            SilenceForm {
                starts_at: local_now.clone(),
                hours: "2".into(),
                ..Default::default()
            },
            Problems::default(),
        )
    });
    let (window, window_problems) = typed.window.unwrap_or_else(|| {
        (
            MaintenanceForm {
                kind: "once".into(),
                starts_at: local_now.clone(),
                time_zone: viewer.tz.name().to_owned(),
                duration_minutes: "60".into(),
                ..Default::default()
            },
            Problems::default(),
        )
    });
    let mut edited_rule = typed.edited_rule;
    Ok(render(
        status,
        &NoisePage {
            chrome: viewer.chrome("noise"),
            rules: rules
                .into_iter()
                .map(|r| RuleView {
                    id: r.id.to_string(),
                    edit: RuleForm::of(&r),
                    problems: Problems::default(),
                    matchers: joined(&r.matchers),
                    action: match &r.action {
                        RuleAction::Route { service } => format!("route to {service}"),
                        RuleAction::SetSeverity { severity } => {
                            format!("set severity {}", severity.as_str())
                        }
                        RuleAction::Suppress => "suppress".into(),
                    },
                    position: r.position,
                    service: r.service.clone().unwrap_or_default(),
                    name: r.name.clone(),
                })
                .map(|mut view| {
                    if let Some((id, form, problems)) = &mut edited_rule
                        && *id == view.id
                    {
                        view.edit = form.clone();
                        view.problems = std::mem::take(problems);
                    }
                    view
                })
                .collect(),
            silences: silences
                .into_iter()
                .map(|x| SilenceView {
                    id: x.id.to_string(),
                    matchers: joined(&x.matchers),
                    state: x.state(now).as_str(),
                    starts: When::new(x.starts_at, viewer.tz, now),
                    ends: When::new(x.ends_at, viewer.tz, now),
                    comment: x.comment,
                    created_by: x.created_by,
                })
                .collect(),
            windows: windows
                .iter()
                .map(|w| WindowView {
                    id: w.id.to_string(),
                    service: w.service.clone(),
                    description: w.description.clone(),
                    when: maintenance_when(w, viewer, now),
                    active: w.is_active(now),
                })
                .collect(),
            services,
            may_silence: who.grant.allows(&Need::Respond),
            may_configure: who.grant.allows(&Need::Configure),
            zone: viewer.tz.name().to_owned(),
            rule,
            rule_problems,
            silence,
            silence_problems,
            window,
            window_problems,
        },
    ))
}

pub async fn noise(State(s): State<AppState>, viewer: Viewer) -> PageResult {
    noise_page(&s, &viewer, StatusCode::OK, Typed::default()).await
}

/// One matcher per line, as Alertmanager writes them (a comma may be part of a regular expression).
fn matchers(text: &str) -> Value {
    json!(
        text.lines()
            .map(str::trim)
            .filter(|m| !m.is_empty())
            .collect::<Vec<_>>()
    )
}

impl RuleForm {
    fn spec(&self) -> Result<RuleSpec, Problems> {
        let action = match self.action.as_str() {
            "route" => json!({"type": "route", "service": self.argument.trim()}),
            "set_severity" => json!({"type": "set_severity", "severity": self.argument.trim()}),
            _ => json!({"type": "suppress"}),
        };
        let mut body = json!({
            "name": self.name.trim(),
            "matchers": matchers(&self.matchers),
            "action": action,
        });
        if let Some(p) = given(&self.position) {
            body["position"] = p.parse::<i64>().map(Value::from).unwrap_or(json!(p));
        }
        if let Some(svc) = given(&self.service) {
            body["service"] = json!(svc);
        }
        forms::parse(body).map_err(|e| forms::problems(e).unwrap_or_default())
    }
}

pub async fn create_rule(
    State(s): State<AppState>,
    viewer: Viewer,
    Form(f): Form<RuleForm>,
) -> PageResult {
    let noise = s.app.noise();
    match forms::submit(f.spec(), |spec| noise.create_rule(&viewer.who, spec)).await? {
        Ok(_) => Ok(Redirect::to("/noise#rules").into_response()),
        Err(p) => {
            let typed = Typed {
                rule: Some((f, p)),
                ..Default::default()
            };
            noise_page(&s, &viewer, StatusCode::BAD_REQUEST, typed).await
        }
    }
}

pub async fn delete_rule(
    State(s): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
) -> PageResult {
    let id = path_id(&id, RuleId::parse, "rule")?;
    s.app.noise().delete_rule(&viewer.who, &id).await?;
    Ok(Redirect::to("/noise#rules").into_response())
}

impl SilenceForm {
    fn spec(&self, viewer: &Viewer) -> Result<SilenceSpec, Problems> {
        let starts = forms::local_time(&self.starts_at, viewer.tz)
            .map_err(|m| forms::problem("starts_at", &m))?;
        let hours: f64 = self
            .hours
            .trim()
            .parse()
            .ok()
            .filter(|h: &f64| h.is_finite() && *h > 0.0 && *h <= 24.0 * 365.0)
            .ok_or_else(|| forms::problem("hours", "must be a number of hours, e.g. 2 or 0.5"))?;
        let ends = starts
            .checked_add_signed(Duration::minutes((hours * 60.0).round() as i64))
            .ok_or_else(|| forms::problem("starts_at", "is too far in the future"))?;
        let spec: SilenceSpec = forms::parse(json!({
            "matchers": matchers(&self.matchers),
            "starts_at": starts,
            "ends_at": ends,
            "comment": self.comment.trim(),
        }))
        .map_err(|e| forms::problems(e).unwrap_or_default())?;
        Ok(spec)
    }
}

pub async fn create_silence(
    State(s): State<AppState>,
    viewer: Viewer,
    Form(f): Form<SilenceForm>,
) -> PageResult {
    let noise = s.app.noise();
    match forms::submit(f.spec(&viewer), |spec| {
        noise.create_silence(&viewer.who, spec)
    })
    .await?
    {
        Ok(_) => Ok(Redirect::to("/noise#silences").into_response()),
        Err(p) => {
            let typed = Typed {
                silence: Some((f, p)),
                ..Default::default()
            };
            noise_page(&s, &viewer, StatusCode::BAD_REQUEST, typed).await
        }
    }
}

pub async fn expire_silence(
    State(s): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
) -> PageResult {
    let id = path_id(&id, SilenceId::parse, "silence")?;
    s.app.noise().expire_silence(&viewer.who, &id).await?;
    Ok(Redirect::to("/noise#silences").into_response())
}

impl MaintenanceForm {
    fn spec(&self, viewer: &Viewer) -> Result<MaintenanceSpec, Problems> {
        let schedule = if self.kind == "cron" {
            let minutes = self.duration_minutes.trim().parse::<i64>().map_err(|_| {
                forms::problem(
                    "schedule.duration_minutes",
                    "must be a whole number of minutes",
                )
            })?;
            json!({
                "type": "cron",
                "expression": self.expression.trim(),
                "time_zone": self.time_zone.trim(),
                "duration_minutes": minutes,
            })
        } else {
            let starts = forms::local_time(&self.starts_at, viewer.tz)
                .map_err(|m| forms::problem("schedule.starts_at", &m))?;
            let ends = forms::local_time(&self.ends_at, viewer.tz)
                .map_err(|m| forms::problem("schedule.ends_at", &m))?;
            json!({"type": "once", "starts_at": starts, "ends_at": ends})
        };
        forms::parse(json!({
            "service": self.service.trim(),
            "description": self.description.trim(),
            "schedule": schedule,
        }))
        .map_err(|e| forms::problems(e).unwrap_or_default())
    }
}

pub async fn create_maintenance(
    State(s): State<AppState>,
    viewer: Viewer,
    Form(f): Form<MaintenanceForm>,
) -> PageResult {
    let noise = s.app.noise();
    match forms::submit(f.spec(&viewer), |spec| {
        noise.create_maintenance(&viewer.who, spec)
    })
    .await?
    {
        Ok(_) => Ok(Redirect::to("/noise#maintenance").into_response()),
        Err(p) => {
            let typed = Typed {
                window: Some((f, p)),
                ..Default::default()
            };
            noise_page(&s, &viewer, StatusCode::BAD_REQUEST, typed).await
        }
    }
}

pub async fn delete_maintenance(
    State(s): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
) -> PageResult {
    let id = path_id(&id, MaintenanceId::parse, "maintenance window")?;
    s.app.noise().delete_maintenance(&viewer.who, &id).await?;
    Ok(Redirect::to("/noise#maintenance").into_response())
}

pub async fn update_rule(
    State(s): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
    Form(f): Form<RuleForm>,
) -> PageResult {
    let rule = path_id(&id, RuleId::parse, "rule")?;
    let noise = s.app.noise();
    match forms::submit(f.spec(), |spec| {
        noise.replace_rule(&viewer.who, &rule, spec)
    })
    .await?
    {
        Ok(_) => Ok(Redirect::to("/noise#rules").into_response()),
        Err(p) => {
            let typed = Typed {
                edited_rule: Some((id, f, p)),
                ..Default::default()
            };
            noise_page(&s, &viewer, StatusCode::BAD_REQUEST, typed).await
        }
    }
}

#[derive(Deserialize)]
pub struct ExtendForm {
    #[serde(default)]
    hours: String,
}

/// Lengthens a silence by some hours from when it would have ended (or from now, if that has passed).
pub async fn extend_silence(
    State(s): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
    Form(f): Form<ExtendForm>,
) -> PageResult {
    let silence = path_id(&id, SilenceId::parse, "silence")?;
    let noise = s.app.noise();
    let current = noise.get_silence(&viewer.who, &silence).await?;
    let hours: f64 = f
        .hours
        .trim()
        .parse()
        .ok()
        .filter(|h: &f64| h.is_finite() && *h > 0.0 && *h <= 24.0 * 365.0)
        .ok_or_else(|| {
            PageError::new(
                StatusCode::BAD_REQUEST,
                "That did not work",
                "Extend by a number of hours, e.g. 2 or 0.5.",
            )
        })?;
    let from = current.ends_at.max(s.app.now());
    let ends_at = from
        .checked_add_signed(Duration::minutes((hours * 60.0).round() as i64))
        .ok_or_else(|| {
            PageError::new(
                StatusCode::BAD_REQUEST,
                "That did not work",
                "That would end the silence too far in the future.",
            )
        })?;
    noise.extend_silence(&viewer.who, &silence, ends_at).await?;
    Ok(Redirect::to("/noise#silences").into_response())
}
