//! The service catalog: services with their owners, tier, dependencies both ways, escalation policy, integrations
//! (with the URL and a setup snippet for each sender) and recent changes.

use super::forms::{self, Problems, given, problem};
use super::pages::{IncidentRow, OPEN, names_of, people, row, usable_teams};
use super::{Chrome, PageError, Viewer, When, render};
use crate::http::AppState;
use crate::http::access::{sender_url, setup_snippet};
use crate::http::extract::path_id;
use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use tocsin_app::IntegrationRequest;
use tocsin_domain::auth::Need;
use tocsin_domain::catalog::{Service, ServiceSpec};
use tocsin_domain::ids::IntegrationId;
use tocsin_domain::refs::{PolicyRef, ServiceRef};
use tocsin_store::{IncidentFilter, IntegrationConfig, IntegrationKind};

type PageResult = Result<Response, PageError>;

/// A service form as typed: kept as text so a refused form comes back as it was sent.
#[derive(Deserialize, Default, Clone)]
pub struct ServiceForm {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub team: String,
    #[serde(default)]
    pub tier: String,
    #[serde(default)]
    pub runbook_url: String,
    #[serde(default)]
    pub depends_on: String,
    /// The rest of the service, as JSON: its severity map and grouping.
    #[serde(default)]
    pub advanced: String,
}

impl ServiceForm {
    fn of(s: &Service) -> Self {
        let mut advanced = serde_json::Map::new();
        let spec = serde_json::to_value(ServiceSpec::from(s)).unwrap_or_default();
        for key in ["alert_severity_map", "grouping"] {
            if let Some(v) = spec.get(key) {
                advanced.insert(key.into(), v.clone());
            }
        }
        Self {
            name: s.name.to_string(),
            description: s.description.clone(),
            team: s.team.as_ref().map(|t| t.to_string()).unwrap_or_default(),
            tier: s.tier.map(|t| t.get().to_string()).unwrap_or_default(),
            runbook_url: s
                .runbook_url
                .as_ref()
                .map(|u| u.as_str().to_owned())
                .unwrap_or_default(),
            depends_on: s
                .depends_on
                .iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join(", "),
            advanced: if advanced.is_empty() {
                String::new()
            } else {
                serde_json::to_string_pretty(&advanced).unwrap_or_default()
            },
        }
    }

    /// The service the form describes, as the JSON API reads one.
    fn spec(&self) -> Result<ServiceSpec, Problems> {
        let mut body = json!({
            "name": self.name.trim(),
            "description": self.description.trim(),
            "depends_on": forms::list(&self.depends_on),
        });
        if let Some(team) = given(&self.team) {
            body["team"] = json!(team);
        }
        if let Some(tier) = given(&self.tier) {
            body["tier"] = match tier.parse::<i64>() {
                Ok(n) => json!(n),
                Err(_) => json!(tier),
            };
        }
        if let Some(url) = given(&self.runbook_url) {
            body["runbook_url"] = json!(url);
        }
        if let Some(advanced) = given(&self.advanced) {
            match serde_json::from_str::<Value>(advanced) {
                Ok(Value::Object(extra)) => {
                    for (k, v) in extra {
                        body[k.as_str()] = v;
                    }
                }
                _ => {
                    return Err(problem(
                        "advanced",
                        "must be a JSON object, e.g. {\"grouping\": {\"mode\": \"time_window\", \"minutes\": 10}}",
                    ));
                }
            }
        }
        forms::parse(body).map_err(|e| forms::problems(e).unwrap_or_default())
    }
}

pub struct ServiceRow {
    pub name: String,
    pub team: String,
    pub tier: String,
    pub description: String,
}

#[derive(Template)]
#[template(path = "services.html")]
struct ServicesPage {
    chrome: Chrome,
    rows: Vec<ServiceRow>,
    teams: Vec<String>,
    may_create: bool,
    form: ServiceForm,
    problems: Problems,
}

async fn list_page(
    s: &AppState,
    viewer: &Viewer,
    status: StatusCode,
    form: ServiceForm,
    problems: Problems,
) -> PageResult {
    let mut services = s.app.services().list(&viewer.who).await?;
    services.sort_by(|a, b| a.name.as_str().cmp(b.name.as_str()));
    let teams = usable_teams(s, viewer).await?;
    // Anyone in a team may add a service to it; without a team only those who configure may.
    let may_create = viewer.who.grant.allows(&Need::Configure) || !teams.is_empty();
    Ok(render(
        status,
        &ServicesPage {
            chrome: viewer.chrome("services"),
            rows: services
                .iter()
                .map(|svc| ServiceRow {
                    name: svc.name.to_string(),
                    team: svc.team.as_ref().map(|t| t.to_string()).unwrap_or_default(),
                    tier: svc
                        .tier
                        .map(|t| format!("Tier {}", t.get()))
                        .unwrap_or_default(),
                    description: svc.description.chars().take(140).collect(),
                })
                .collect(),
            teams: teams.into_iter().map(|(name, _)| name).collect(),
            may_create,
            form,
            problems,
        },
    ))
}

pub async fn services(State(s): State<AppState>, viewer: Viewer) -> PageResult {
    list_page(
        &s,
        &viewer,
        StatusCode::OK,
        ServiceForm::default(),
        Problems::default(),
    )
    .await
}

pub async fn create(
    State(s): State<AppState>,
    viewer: Viewer,
    Form(f): Form<ServiceForm>,
) -> PageResult {
    let services = s.app.services();
    match forms::submit(f.spec(), |spec| services.create(&viewer.who, spec)).await? {
        Ok(created) => Ok(Redirect::to(&service_url(created.value.name.as_str())).into_response()),
        Err(p) => list_page(&s, &viewer, StatusCode::BAD_REQUEST, f, p).await,
    }
}

pub fn service_url(name: &str) -> String {
    super::named_path("services", name)
}

pub struct Link {
    pub label: String,
    pub url: String,
}

fn link(name: &str) -> Link {
    Link {
        label: name.to_owned(),
        url: service_url(name),
    }
}

pub struct IntegrationView {
    pub id: String,
    pub name: String,
    /// Its settings as JSON, to edit.
    pub config: String,
    pub kind: &'static str,
    pub key_prefix: String,
    pub created: When,
    pub revoked: Option<When>,
}

/// A new integration's key and where its sender posts, shown once.
pub struct NewKey {
    pub name: String,
    pub key: String,
    pub url: String,
    pub how: &'static str,
    pub snippet: String,
}

pub struct ChangeView {
    pub summary: String,
    pub source: String,
    pub at: When,
}

pub struct MaintenanceView {
    pub description: String,
    pub when: String,
    pub active: bool,
}

/// The integration form as typed.
#[derive(Deserialize, Default, Clone)]
pub struct IntegrationForm {
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub interval_seconds: String,
    /// Further settings as JSON: a rate limit, a generic sender's field mapping.
    #[serde(default)]
    pub config: String,
}

#[derive(Template)]
#[template(path = "service.html")]
struct ServicePage {
    chrome: Chrome,
    name: String,
    url: String,
    description: String,
    team: String,
    tier: String,
    runbook: String,
    depends_on: Vec<Link>,
    depended_on_by: Vec<Link>,
    policy: Option<Link>,
    policies: Vec<String>,
    on_call_now: Vec<String>,
    incidents: Vec<IncidentRow>,
    integrations: Vec<IntegrationView>,
    changes: Vec<ChangeView>,
    maintenance: Vec<MaintenanceView>,
    may_change: bool,
    teams: Vec<String>,
    form: ServiceForm,
    editing: bool,
    problems: Problems,
    integration: IntegrationForm,
    integration_problems: Problems,
    kinds: Vec<(&'static str, &'static str)>,
    new_key: Option<NewKey>,
    warnings: Vec<String>,
    refusals: Vec<String>,
    /// The viewer's subscription to the service's updates, if they have one.
    subscription: Option<String>,
}

const KINDS: [(&str, &str); 7] = [
    ("alertmanager", "Alertmanager"),
    ("prometheus", "Prometheus, vmalert, amtool"),
    ("grafana", "Grafana"),
    ("pagerduty", "PagerDuty Events v2"),
    ("opsgenie", "Opsgenie"),
    ("generic", "Any JSON sender"),
    ("heartbeat", "Heartbeat"),
];

/// What the service page shows besides the service itself.
#[derive(Default)]
struct Shown {
    form: Option<ServiceForm>,
    problems: Problems,
    integration: IntegrationForm,
    integration_problems: Problems,
    new_key: Option<NewKey>,
    warnings: Vec<String>,
    /// What was refused, and why.
    refusals: Vec<String>,
    /// Refused settings of an integration, as typed: its ID and the text.
    typed_config: Option<(String, String)>,
}

async fn service_page(
    s: &AppState,
    viewer: &Viewer,
    name: &str,
    status: StatusCode,
    shown: Shown,
) -> PageResult {
    let who = &viewer.who;
    let now = s.app.now();
    let service_ref = ServiceRef::parse(name);
    let svc = s.app.services().get(who, &service_ref).await?;
    let all = s.app.services().list(who).await?;
    let mut depended_on_by: Vec<Link> = all
        .iter()
        .filter(|other| other.depends_on.iter().any(|d| d == &svc.name))
        .map(|other| link(other.name.as_str()))
        .collect();
    depended_on_by.sort_by(|a, b| a.label.cmp(&b.label));
    let escalation = s.app.escalation();
    let policy = escalation.service_policy(who, &service_ref).await?;
    let people = people(s, viewer).await?;
    let on_call_now = match &policy {
        Some(p) => escalation
            .on_call(who, p.clone(), None)
            .await?
            .levels
            .first()
            .map(|level| {
                level
                    .users
                    .iter()
                    .filter_map(|(u, _)| people.get(u).cloned())
                    .collect()
            })
            .unwrap_or_default(),
        None => Vec::new(),
    };
    let mut policies: Vec<String> = escalation
        .list_policies(who)
        .await?
        .into_iter()
        .map(|p| p.name.to_string())
        .collect();
    policies.sort();
    let names = names_of(&all);
    let incidents = s
        .app
        .incidents()
        .list(
            who,
            IncidentFilter {
                statuses: OPEN.to_vec(),
                service: Some(svc.id.clone().into()),
                limit: 20,
                ..Default::default()
            },
        )
        .await?
        .items
        .iter()
        .map(|i| row(i, &names, viewer, now))
        .collect();
    let integrations = s
        .app
        .integrations()
        .list(who, &service_ref)
        .await?
        .into_iter()
        .map(|i| IntegrationView {
            config: match &shown.typed_config {
                Some((id, text)) if *id == i.id.as_str() => text.clone(),
                _ => serde_json::to_string_pretty(&i.config).unwrap_or_default(),
            },
            id: i.id.to_string(),
            name: i.name,
            kind: i.kind.as_str(),
            key_prefix: i.key_prefix,
            created: When::new(i.created_at, viewer.tz, now),
            revoked: i.revoked_at.map(|t| When::new(t, viewer.tz, now)),
        })
        .collect();
    let changes = s
        .app
        .services()
        .changes(who, &service_ref, 10)
        .await?
        .into_iter()
        .map(|c| ChangeView {
            summary: c.summary,
            source: c.source.unwrap_or_default(),
            at: When::new(c.timestamp.unwrap_or(c.received_at), viewer.tz, now),
        })
        .collect();
    let maintenance = s
        .app
        .noise()
        .maintenance(who, Some(svc.id.clone().into()))
        .await?
        .into_iter()
        .map(|m| MaintenanceView {
            when: super::noise::maintenance_when(&m, viewer, now),
            active: m.is_active(now),
            description: m.description,
        })
        .collect();
    // A team the viewer may not use is one whose service they may not change, as is no team for all but admins.
    let teams = usable_teams(s, viewer).await?;
    let own_team = svc
        .team
        .as_ref()
        .and_then(|t| teams.iter().find(|(n, _)| n == t.as_str()))
        .map(|(_, id)| id);
    let may_change = viewer.who.grant.allows(&Need::Team(own_team));
    let editing = shown.form.is_some();
    let subscription = s
        .app
        .updates()
        .mine_to(
            who,
            &tocsin_domain::updates::Scope::Service {
                service_id: svc.id.clone(),
            },
        )
        .await?
        .map(|sub| sub.id.to_string());
    Ok(render(
        status,
        &ServicePage {
            chrome: viewer.chrome("services"),
            url: service_url(svc.name.as_str()),
            name: svc.name.to_string(),
            description: svc.description.clone(),
            team: svc.team.as_ref().map(|t| t.to_string()).unwrap_or_default(),
            tier: svc
                .tier
                .map(|t| format!("Tier {}", t.get()))
                .unwrap_or_default(),
            runbook: svc
                .runbook_url
                .as_ref()
                .map(|u| u.as_str().to_owned())
                .unwrap_or_default(),
            depends_on: svc.depends_on.iter().map(|d| link(d.as_str())).collect(),
            depended_on_by,
            policy: policy.as_ref().map(|p| Link {
                label: p.name.to_string(),
                url: super::oncall::policy_url(p.name.as_str()),
            }),
            policies,
            on_call_now,
            incidents,
            integrations,
            changes,
            maintenance,
            may_change,
            teams: teams.into_iter().map(|(n, _)| n).collect(),
            form: shown.form.unwrap_or_else(|| ServiceForm::of(&svc)),
            editing,
            problems: shown.problems,
            integration: shown.integration,
            integration_problems: shown.integration_problems,
            kinds: KINDS.to_vec(),
            new_key: shown.new_key,
            warnings: shown.warnings,
            refusals: shown.refusals,
            subscription,
        },
    ))
}

pub async fn service(
    State(s): State<AppState>,
    viewer: Viewer,
    Path(name): Path<String>,
) -> PageResult {
    service_page(&s, &viewer, &name, StatusCode::OK, Shown::default()).await
}

pub async fn update(
    State(s): State<AppState>,
    viewer: Viewer,
    Path(name): Path<String>,
    Form(f): Form<ServiceForm>,
) -> PageResult {
    let services = s.app.services();
    let this = ServiceRef::parse(&name);
    match forms::submit(f.spec(), |spec| services.replace(&viewer.who, &this, spec)).await? {
        Ok(svc) => Ok(Redirect::to(&service_url(svc.name.as_str())).into_response()),
        Err(problems) => {
            let shown = Shown {
                form: Some(f),
                problems,
                ..Default::default()
            };
            service_page(&s, &viewer, &name, StatusCode::BAD_REQUEST, shown).await
        }
    }
}

pub async fn delete(
    State(s): State<AppState>,
    viewer: Viewer,
    Path(name): Path<String>,
) -> PageResult {
    match s
        .app
        .services()
        .delete(&viewer.who, &ServiceRef::parse(&name))
        .await
    {
        Ok(()) => Ok(Redirect::to("/services").into_response()),
        Err(e) => {
            let p = forms::problems(e)?;
            service_page(
                &s,
                &viewer,
                &name,
                StatusCode::CONFLICT,
                Shown {
                    refusals: p.general(&[]),
                    ..Default::default()
                },
            )
            .await
        }
    }
}

/// A subscription named in a form; one that names none is not found.
pub(super) fn subscription_id(raw: &str) -> Result<tocsin_domain::ids::SubscriptionId, PageError> {
    tocsin_domain::ids::SubscriptionId::parse(raw.trim()).ok_or_else(|| {
        PageError::new(
            StatusCode::NOT_FOUND,
            "Not found",
            "There is no such subscription.",
        )
    })
}

#[derive(Deserialize)]
pub struct SubscriptionForm {
    #[serde(default)]
    subscription: String,
}

/// The viewer hears of the service's updates (`subscribe`) or stops (`unsubscribe`).
pub async fn subscription(
    State(s): State<AppState>,
    viewer: Viewer,
    Path((name, action)): Path<(String, String)>,
    Form(f): Form<SubscriptionForm>,
) -> PageResult {
    let updates = s.app.updates();
    match action.as_str() {
        "subscribe" => {
            updates
                .subscribe(
                    &viewer.who,
                    &tocsin_app::ScopeRef::Service(ServiceRef::parse(&name)),
                    tocsin_app::SubscriberRef::Me,
                )
                .await?;
        }
        "unsubscribe" => {
            updates
                .unsubscribe(&viewer.who, &subscription_id(&f.subscription)?)
                .await?;
        }
        _ => {
            return Err(PageError::new(
                StatusCode::NOT_FOUND,
                "Not found",
                "There is no such page.",
            ));
        }
    }
    Ok(Redirect::to(&service_url(&name)).into_response())
}

#[derive(Deserialize)]
pub struct PolicyForm {
    #[serde(default)]
    policy: String,
}

pub async fn set_policy(
    State(s): State<AppState>,
    viewer: Viewer,
    Path(name): Path<String>,
    Form(f): Form<PolicyForm>,
) -> PageResult {
    let policy = given(&f.policy).map(PolicyRef::parse);
    let set = s
        .app
        .escalation()
        .set_service_policy(&viewer.who, &ServiceRef::parse(&name), policy)
        .await?;
    let warnings: Vec<String> = set.warnings.iter().map(crate::wording::warning).collect();
    if warnings.is_empty() {
        return Ok(Redirect::to(&service_url(&name)).into_response());
    }
    service_page(
        &s,
        &viewer,
        &name,
        StatusCode::OK,
        Shown {
            warnings,
            ..Default::default()
        },
    )
    .await
}

impl IntegrationForm {
    fn request(&self, service: &str) -> Result<IntegrationRequest, Problems> {
        let kind: IntegrationKind = forms::parse(json!(self.kind.trim()))
            .map_err(|_| problem("kind", "choose the kind of sender"))?;
        let mut config = match given(&self.config) {
            Some(text) => match serde_json::from_str::<Value>(text) {
                Ok(v @ Value::Object(_)) => v,
                _ => {
                    return Err(problem(
                        "config",
                        "must be a JSON object, e.g. {\"rate_limit\": {\"per_second\": 5}}",
                    ));
                }
            },
            None => json!({}),
        };
        if let Some(interval) = given(&self.interval_seconds) {
            match interval.parse::<u32>() {
                // The settings may name a heartbeat already; it must then be an object to set the interval in.
                Ok(n) => match config.get_mut("heartbeat") {
                    Some(Value::Object(heartbeat)) => {
                        heartbeat.insert("interval_seconds".into(), json!(n));
                    }
                    None | Some(Value::Null) => {
                        config["heartbeat"] = json!({ "interval_seconds": n })
                    }
                    Some(_) => {
                        return Err(problem(
                            "config.heartbeat",
                            "must be an object, e.g. {\"grace_seconds\": 120}",
                        ));
                    }
                },
                Err(_) => {
                    return Err(problem(
                        "config.heartbeat.interval_seconds",
                        "must be a whole number of seconds",
                    ));
                }
            }
        }
        let config: IntegrationConfig = forms::parse(json!({ "config": config }))
            .map(|v: ConfigOnly| v.config)
            .map_err(|e| forms::problems(e).unwrap_or_default())?;
        Ok(IntegrationRequest {
            service: ServiceRef::parse(service),
            kind,
            name: given(&self.name).map(str::to_owned),
            config,
        })
    }
}

#[derive(Deserialize)]
struct ConfigOnly {
    config: IntegrationConfig,
}

pub async fn add_integration(
    State(s): State<AppState>,
    viewer: Viewer,
    Path(name): Path<String>,
    Form(f): Form<IntegrationForm>,
) -> PageResult {
    let integrations = s.app.integrations();
    let shown =
        match forms::submit(f.request(&name), |req| integrations.issue(&viewer.who, req)).await? {
            Ok(issued) => {
                let kind = issued.record.kind;
                let key = issued.secret.expose();
                let (url, how) = sender_url(&s.public_url, kind, key);
                Shown {
                    new_key: Some(NewKey {
                        name: issued.record.name.clone(),
                        key: key.to_owned(),
                        url,
                        how,
                        snippet: setup_snippet(&s.public_url, kind, key, &issued.record.config),
                    }),
                    ..Default::default()
                }
            }
            Err(problems) => {
                let shown = Shown {
                    integration: f,
                    integration_problems: problems,
                    ..Default::default()
                };
                return service_page(&s, &viewer, &name, StatusCode::BAD_REQUEST, shown).await;
            }
        };
    service_page(&s, &viewer, &name, StatusCode::CREATED, shown).await
}

pub async fn revoke_integration(
    State(s): State<AppState>,
    viewer: Viewer,
    Path((name, id)): Path<(String, String)>,
) -> PageResult {
    let id = path_id(&id, IntegrationId::parse, "integration")?;
    s.app.integrations().revoke(&viewer.who, &id).await?;
    Ok(Redirect::to(&service_url(&name)).into_response())
}

#[derive(Deserialize)]
pub struct ConfigForm {
    #[serde(default)]
    config: String,
}

/// Changes an integration's settings (rate limit, a generic sender's field mapping, a heartbeat's interval).
pub async fn configure_integration(
    State(s): State<AppState>,
    viewer: Viewer,
    Path((name, id)): Path<(String, String)>,
    Form(f): Form<ConfigForm>,
) -> PageResult {
    let id = path_id(&id, IntegrationId::parse, "integration")?;
    let text = given(&f.config).unwrap_or("{}");
    let config = forms::parse::<ConfigOnly>(
        serde_json::from_str::<Value>(text)
            .map(|config| json!({ "config": config }))
            .unwrap_or_else(|_| json!({ "config": text })),
    )
    .map(|c| c.config)
    .map_err(|e| forms::problems(e).unwrap_or_default());
    let integrations = s.app.integrations();
    match forms::submit(config, |c| integrations.update_config(&viewer.who, &id, c)).await? {
        Ok(_) => Ok(Redirect::to(&service_url(&name)).into_response()),
        Err(p) => {
            let shown = Shown {
                refusals: p.general(&[]),
                typed_config: Some((id.to_string(), f.config)),
                ..Default::default()
            };
            service_page(&s, &viewer, &name, StatusCode::BAD_REQUEST, shown).await
        }
    }
}
