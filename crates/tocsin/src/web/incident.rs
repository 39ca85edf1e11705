//! The incident page: its state, timeline, escalation, who was paged and how each notification went, its alerts
//! with why each did or did not page, its services' runbooks and recent changes; and every action on it a tap
//! away: acknowledge, resolve, escalate (to the next level or a chosen one), add responders, reassign, change
//! severity, edit, keep links, add a note.

use super::forms::{self, Fields, Problems};
use super::pages::{Choice, IncidentRow, by_name, names_of, people, row};
use super::{Chrome, PageError, Viewer, When, markdown, render};
use crate::http::AppState;
use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, Utc};
use serde_json::json;
use tocsin_domain::auth::Need;
use tocsin_domain::automation::RunStatus;
use tocsin_domain::contact::Purpose;
use tocsin_domain::ids::RunId;
use tocsin_domain::incident::{IncidentStatus, MAX_RELATED, Milestone, Stage};
use tocsin_domain::refs::Key;
use tocsin_domain::refs::{IncidentRef, PolicyRef, ScheduleRef, UserRef};
use tocsin_domain::severity::Severity;
use tocsin_domain::tasks::Assignee;
use tocsin_domain::timeline::TimelineEvent;
use tocsin_domain::updates::{Audience, DueBecause};
use tocsin_store::{DeliveryFilter, IncidentChanges, IncidentFilter, Reassignment, Responders};

type PageResult = Result<Response, PageError>;

pub struct EntryView {
    pub at: When,
    pub kind: &'static str,
    pub text: String,
    /// A note's Markdown, rendered safe.
    pub note_html: Option<String>,
    pub actor: String,
    /// The number of the incident merged into this one that the entry is of, if it is not this one's.
    pub merged_from: Option<i64>,
}

pub struct AlertView {
    pub summary: String,
    pub status: String,
    pub severity: String,
    pub why: String,
    pub last: When,
}

pub struct EscalationView {
    pub policy: String,
    pub level: u32,
    /// When the next level pages; none once the escalation stopped (acknowledged, resolved, or past its last
    /// level).
    pub next: Option<When>,
    pub paged: String,
}

pub struct ChangeView {
    pub service: String,
    pub summary: String,
    pub at: When,
}

/// One notification about the incident and what became of it.
pub struct DeliveryView {
    pub person: String,
    pub channel: String,
    pub what: &'static str,
    pub status: String,
    pub attempts: Vec<AttemptView>,
}

pub struct AttemptView {
    pub at: When,
    pub outcome: String,
    pub detail: String,
}

pub struct RunbookView {
    pub service: String,
    pub url: String,
}

/// Most runbooks an incident page shows the steps of.
const MAX_RUNBOOKS_SHOWN: usize = 10;

/// A runbook kept in Tocsin that the incident shows, with its steps rendered.
pub struct KeptRunbookView {
    pub key: String,
    pub title: String,
    pub body_html: String,
    pub steps: Vec<StepView>,
}

/// A step of a runbook that Tocsin can run for the incident.
pub struct StepView {
    pub key: String,
    pub title: String,
    /// What it does: `POST https://…` or `command …`.
    pub action: String,
    pub needs_approval: bool,
    pub automatic: bool,
}

/// A run of a step for the incident.
pub struct RunView {
    pub id: String,
    pub title: String,
    pub status: &'static str,
    /// Its status as people say it.
    pub said: &'static str,
    pub requested: When,
    pub requested_by: String,
    pub approved_by: Option<String>,
    pub outcome: Option<String>,
    pub output: Option<String>,
    pub can_decide: bool,
    /// The viewer asked for it: they may withdraw it, not approve it.
    pub asked_by_viewer: bool,
    pub can_retry: bool,
}

/// What customers are told of the incident on status pages.
#[derive(Default)]
pub struct StatusPagesView {
    /// Slug and name of each page.
    pub pages: Vec<(String, String)>,
    /// ID and "Page: Group - Component" of every component that can be affected.
    pub components: Vec<(String, String)>,
    pub published: Vec<PublishedView>,
}

/// A public incident telling of this one.
pub struct PublishedView {
    pub id: String,
    pub page_slug: String,
    pub page_name: String,
    pub name: String,
    pub status: &'static str,
    pub latest: String,
}

/// The status pages, their components, and the public incidents that tell of `incident`; nothing to show when
/// there is no page. Pages are few, so each is read on its own, once.
async fn status_pages_view(
    s: &AppState,
    who: &tocsin_app::Principal,
    incident: &tocsin_domain::incident::Incident,
) -> Result<StatusPagesView, PageError> {
    let mut view = StatusPagesView::default();
    for (page, components, published) in s.app.status_pages().overview(who).await? {
        for c in components.iter().filter(|c| !c.group) {
            let name = tocsin_domain::status_page::qualified_name(c, &components);
            view.components
                .push((c.id.to_string(), format!("{}: {name}", page.name)));
        }
        for p in published
            .iter()
            .filter(|p| p.incident_id.as_ref() == Some(&incident.id))
        {
            view.published.push(PublishedView {
                id: p.id.to_string(),
                page_slug: page.slug.to_string(),
                page_name: page.name.clone(),
                name: p.name.clone(),
                status: p.status.label(),
                latest: p
                    .updates
                    .first()
                    .map(|u| u.body.clone())
                    .unwrap_or_default(),
            });
        }
        view.pages.push((page.slug.to_string(), page.name));
    }
    Ok(view)
}

/// A stakeholder update posted on the incident.
pub struct UpdateView {
    pub number: u32,
    pub status: String,
    pub posted: When,
    pub by: String,
    pub message: String,
    pub report: Option<tocsin_domain::updates::Report>,
    /// Who it went to: people by name, then channels with how their send went.
    pub people: Vec<String>,
    pub channels: Vec<(String, String)>,
}

/// The next update the incident owes.
pub struct UpdateDueView {
    /// When it is due; once its leads were reminded, when the next reminder goes.
    pub at: When,
    pub because: &'static str,
    pub overdue: bool,
    pub reminders: u32,
}

fn due_words(because: DueBecause) -> &'static str {
    match because {
        DueBecause::Cadence => "its severity asks for regular updates",
        DueBecause::SeverityChanged => "its severity changed",
        DueBecause::Resolved => "it was resolved",
    }
}

fn run_status_words(status: RunStatus) -> &'static str {
    match status {
        RunStatus::AwaitingApproval => "awaiting approval",
        RunStatus::Queued => "queued",
        RunStatus::Running => "running",
        RunStatus::Succeeded => "succeeded",
        RunStatus::Failed => "failed",
        RunStatus::TimedOut => "timed out",
        RunStatus::Interrupted => "interrupted",
        RunStatus::Declined => "declined",
    }
}

/// A moment of the incident's course, and its time as the correction form shows it (the viewer's zone).
pub struct MilestoneView {
    pub key: &'static str,
    pub label: &'static str,
    pub at: Option<When>,
    pub typed: String,
    /// Its time as the page showed it, sent back so that only what was changed is changed.
    pub original: String,
    /// The field its problems name.
    pub problem_field: String,
    /// Whether it may be left blank: only impact started and mitigated, which people add.
    pub clearable: bool,
    /// Whether it can be recorded now: acknowledged and resolved only once they happened.
    pub settable: bool,
}

/// A role in the response, with who holds it now.
pub struct RoleView {
    pub key: String,
    pub name: String,
    /// (user ID, name) of each holder.
    pub holders: Vec<(String, String)>,
    /// The viewer holds it: its instructions are shown to them.
    pub mine: bool,
    pub instructions_html: String,
}

/// A task of the incident's checklist.
pub struct TaskView {
    pub number: u32,
    pub title: String,
    pub done: bool,
    /// Whom it is for, as people say it; empty for anyone.
    pub assignee: String,
    pub due: Option<When>,
    pub overdue: bool,
    pub done_by: Option<String>,
}

/// Someone working the incident.
pub struct ResponderView {
    pub name: String,
    pub joined: &'static str,
    pub since: When,
    pub roles: String,
}

/// Someone's holding of a role, now or before.
pub struct HoldingView {
    pub role: String,
    pub person: String,
    pub since: When,
    pub until: Option<When>,
    pub by: String,
}

/// An incident linked to this one as related.
pub struct RelatedView {
    pub number: i64,
    pub title: String,
    pub status: &'static str,
}

/// A level of the incident's policy to escalate to, and whom it reaches now.
pub struct LevelChoice {
    pub number: u32,
    pub reaches: String,
    /// The level that pages next anyway.
    pub next: bool,
}

/// The edit form as typed.
#[derive(Default, Clone)]
pub struct EditForm {
    pub title: String,
    pub description: String,
    pub customer_impact: String,
    pub services: Vec<String>,
}

#[derive(Template)]
#[template(path = "incident.html")]
struct IncidentPage {
    chrome: Chrome,
    head: IncidentRow,
    description_html: String,
    impact_html: String,
    can_acknowledge: bool,
    can_resolve: bool,
    can_respond: bool,
    severities: Vec<Choice>,
    severity_guide: Vec<super::severities::GuideEntry>,
    stage: &'static str,
    stages: Vec<Choice>,
    related: Vec<RelatedView>,
    roles: Vec<RoleView>,
    responders: Vec<ResponderView>,
    holdings: Vec<HoldingView>,
    /// The viewer works the incident (to offer leaving rather than joining).
    responding: bool,
    tasks: Vec<TaskView>,
    /// A refused task as typed: title, assignee, minutes until due.
    task_form: (String, String, String),
    milestones: Vec<MilestoneView>,
    escalation: Option<EscalationView>,
    alerts: Vec<AlertView>,
    changes: Vec<ChangeView>,
    deliveries: Vec<DeliveryView>,
    runbooks: Vec<RunbookView>,
    kept_runbooks: Vec<KeptRunbookView>,
    runs: Vec<RunView>,
    updates: Vec<UpdateView>,
    update_due: Option<UpdateDueView>,
    /// An update is due and has not come: the page says so at its top and opens the form.
    update_overdue: bool,
    /// The viewer's subscription to this incident's updates, if they have one.
    subscription: Option<String>,
    /// What the status pages say of it, and where it can be published.
    status: StatusPagesView,
    /// How many more runbooks match than are shown.
    more_runbooks: usize,
    /// Where responders look: dashboards, the chat channel, the ticket.
    links: Vec<tocsin_domain::incident::IncidentLink>,
    /// The levels of the incident's policy, to escalate straight to one.
    levels: Vec<LevelChoice>,
    timeline: Vec<EntryView>,
    everyone: Vec<(String, String)>,
    schedules: Vec<String>,
    policies: Vec<String>,
    all_services: Vec<String>,
    edit: EditForm,
    /// The incident as the page showed it, sent back with the edit so that only what changed is changed.
    original: EditForm,
    problems: Problems,
    /// Which form the problems belong to, to open it.
    problem_form: &'static str,
    /// A refused link as typed: its URL and label.
    link_form: (String, String),
    notices: Vec<String>,
    refusals: Vec<String>,
}

impl IncidentPage {
    fn has_service(&self, name: &str) -> bool {
        self.edit.services.iter().any(|s| s == name)
    }
}

#[derive(Template)]
#[template(path = "timeline.html")]
struct TimelinePart {
    timeline: Vec<EntryView>,
}

pub(super) fn incident_ref(number: &str) -> Result<IncidentRef, PageError> {
    number
        .trim_start_matches('#')
        .parse::<i64>()
        .map(IncidentRef::Number)
        .or_else(|_| {
            tocsin_domain::ids::IncidentId::parse(number)
                .map(IncidentRef::Id)
                .ok_or(())
        })
        .map_err(|_| {
            PageError::new(
                StatusCode::NOT_FOUND,
                "Not found",
                "Incidents are numbered, like /incidents/42.",
            )
        })
}

async fn timeline_views(
    s: &AppState,
    viewer: &Viewer,
    this: &tocsin_domain::incident::Incident,
    now: DateTime<Utc>,
) -> Result<Vec<EntryView>, PageError> {
    let incidents = s.app.incidents();
    let mut entries = incidents
        .timeline(&viewer.who, &IncidentRef::Id(this.id.clone()))
        .await?;
    entries.reverse();
    // Entries of the incidents merged into this one say which they are of.
    let mut merged: std::collections::HashMap<tocsin_domain::ids::IncidentId, i64> =
        std::collections::HashMap::new();
    for r in &entries {
        if r.incident_id != this.id && !merged.contains_key(&r.incident_id) {
            let other = incidents
                .get(&viewer.who, &IncidentRef::Id(r.incident_id.clone()))
                .await?;
            merged.insert(other.id, other.number);
        }
    }
    Ok(entries
        .into_iter()
        .map(|r| {
            let note_html = match &r.entry.event {
                TimelineEvent::Note { body } => Some(markdown::render(body)),
                _ => None,
            };
            EntryView {
                at: When::new(r.entry.at, viewer.tz, now),
                kind: r.entry.kind().as_str(),
                text: crate::wording::timeline(&r.entry),
                note_html,
                actor: r.entry.actor.name.clone(),
                merged_from: merged.get(&r.incident_id).copied(),
            }
        })
        .collect())
}

/// The roles with who holds them (and, to their holders, what they ask), who works the incident (and whether the
/// viewer does), and who held which role when, newest first.
async fn response_views(
    s: &AppState,
    viewer: &Viewer,
    incident: &IncidentRef,
    now: DateTime<Utc>,
) -> Result<(Vec<RoleView>, (Vec<ResponderView>, bool), Vec<HoldingView>), PageError> {
    let who = &viewer.who;
    let roles = s.app.roles();
    let defined = roles.list(who).await?;
    let holdings = roles.assignments(who, incident).await?;
    let responders = roles.responders(who, incident).await?;
    let me = viewer.user.id.as_str();
    let role_views = defined
        .iter()
        .map(|r| {
            let holders: Vec<(String, String)> = holdings
                .iter()
                .filter(|a| a.is_held() && a.role == r.key)
                .map(|a| (a.user_id.to_string(), a.user.clone()))
                .collect();
            let mine = holders.iter().any(|(id, _)| id == me);
            RoleView {
                key: r.key.to_string(),
                name: r.name.clone(),
                holders,
                mine,
                instructions_html: if mine {
                    markdown::render(&r.instructions)
                } else {
                    String::new()
                },
            }
        })
        .collect();
    let role_name = |key: &tocsin_domain::refs::Key| {
        defined
            .iter()
            .find(|r| &r.key == key)
            .map_or_else(|| key.to_string(), |r| r.name.clone())
    };
    let responding = responders.iter().any(|r| r.user_id.as_str() == me);
    let responder_views = responders
        .iter()
        .map(|r| ResponderView {
            name: r.name.clone(),
            joined: r.joined.as_str(),
            since: When::new(r.since, viewer.tz, now),
            roles: r.roles.iter().map(role_name).collect::<Vec<_>>().join(", "),
        })
        .collect();
    let holding_views = holdings
        .iter()
        .rev()
        .map(|a| HoldingView {
            role: a.role_name.clone(),
            person: a.user.clone(),
            since: When::new(a.assigned_at, viewer.tz, now),
            until: a.released_at.map(|t| When::new(t, viewer.tz, now)),
            by: a.assigned_by.name.clone(),
        })
        .collect();
    Ok((role_views, (responder_views, responding), holding_views))
}

/// What the page shows besides the incident: a refused form as typed, or what an action reported.
#[derive(Default)]
struct Shown {
    edit: Option<EditForm>,
    /// Milestone times as typed in a refused correction, by key, with the times the form was made from: sent
    /// again as they were, so that fixing the form does not undo what someone else changed meanwhile.
    milestones: Vec<(String, String, String)>,
    link: (String, String),
    task: (String, String, String),
    problems: Problems,
    problem_form: &'static str,
    notices: Vec<String>,
    refusals: Vec<String>,
}

async fn incident_page(
    s: &AppState,
    viewer: &Viewer,
    number: &str,
    status: StatusCode,
    shown: Shown,
) -> PageResult {
    let now = s.app.now();
    let this = incident_ref(number)?;
    let who = &viewer.who;
    let i = s.app.incidents().get(who, &this).await?;
    let services = s.app.services().list(who).await?;
    let names = names_of(&services);
    let severity_levels = super::severities::levels(s, viewer).await?;
    // One that was deleted is left out rather than failing the page.
    let related = if i.related.is_empty() {
        Vec::new()
    } else {
        let filter = IncidentFilter {
            numbers: i.related.clone(),
            limit: MAX_RELATED as u32,
            ..Default::default()
        };
        let mut found = s.app.incidents().list(who, filter).await?.items;
        found.sort_by_key(|r| i.related.iter().position(|n| *n == r.number));
        found
            .into_iter()
            .map(|r| RelatedView {
                number: r.number,
                title: r.title,
                status: r.status.as_str(),
            })
            .collect()
    };
    let escalation = s.app.escalation().incident_escalation(who, &this).await?;
    let people = people(s, viewer).await?;
    let (roles, responders, holdings) = response_views(s, viewer, &this, now).await?;
    let tasks = s
        .app
        .tasks()
        .list(who, &this)
        .await?
        .into_iter()
        .map(|t| TaskView {
            number: t.number,
            overdue: t.is_overdue(now),
            done: t.is_done(),
            assignee: match &t.assignee {
                None => String::new(),
                Some(Assignee::User(u)) => people.get(u).cloned().unwrap_or_else(|| u.to_string()),
                Some(Assignee::Role(key)) => roles
                    .iter()
                    .find(|r| r.key == key.as_str())
                    .map_or_else(|| key.to_string(), |r| r.name.clone()),
            },
            due: t.due_at.map(|d| When::new(d, viewer.tz, now)),
            done_by: t.done_by.map(|a| a.name),
            title: t.title,
        })
        .collect();
    let responding = responders.1;
    let responders = responders.0;
    let alerts = s
        .app
        .incidents()
        .alerts(who, &this)
        .await?
        .into_iter()
        .map(|a| AlertView {
            why: match &a.no_page_reason {
                Some(reason) => format!("did not page: {}", reason.describe()),
                None => "paged through this incident".into(),
            },
            summary: a.summary.clone(),
            status: a.status.as_str().to_owned(),
            severity: a.severity.as_str().to_owned(),
            last: When::new(a.last_event_at, viewer.tz, now),
        })
        .collect();
    let changes = s
        .app
        .incidents()
        .recent_changes(who, &this)
        .await?
        .into_iter()
        .map(|(service, c)| ChangeView {
            service,
            summary: c.summary.clone(),
            at: When::new(c.timestamp.unwrap_or(c.received_at), viewer.tz, now),
        })
        .collect();
    let deliveries = s
        .app
        .contacts()
        .deliveries(
            who,
            DeliveryFilter {
                incident: Some(this.clone()),
                user: None,
                limit: 100,
            },
        )
        .await?
        .into_iter()
        .map(|d| DeliveryView {
            person: people
                .get(&d.user_id)
                .cloned()
                .unwrap_or_else(|| d.user_id.to_string()),
            channel: d.channel.clone(),
            what: match d.purpose {
                Purpose::Page { .. } => "page",
                Purpose::Test => "test",
                _ => "update",
            },
            status: serde_json::to_value(d.status)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default(),
            attempts: d
                .attempts
                .iter()
                .map(|a| AttemptView {
                    at: When::new(a.at, viewer.tz, now),
                    outcome: a.outcome.clone(),
                    detail: a.detail.clone(),
                })
                .collect(),
        })
        .collect();
    let mut kept = s.app.runbooks().of_incident(who, &this).await?;
    let more_runbooks = kept.len().saturating_sub(MAX_RUNBOOKS_SHOWN);
    kept.truncate(MAX_RUNBOOKS_SHOWN);
    let kept_runbooks = kept
        .into_iter()
        .map(|r| KeptRunbookView {
            key: r.summary.key.to_string(),
            title: r.summary.title,
            body_html: markdown::render(&r.body),
            steps: r
                .steps
                .iter()
                .map(|step| StepView {
                    key: step.key.to_string(),
                    title: step.title.clone(),
                    action: step.action(),
                    needs_approval: step.needs_approval,
                    automatic: step.automatic,
                })
                .collect(),
        })
        .collect();
    let runs = s
        .app
        .automation()
        .runs(who, &this)
        .await?
        .into_iter()
        .map(|r| RunView {
            id: r.id.to_string(),
            title: r.step.title.clone(),
            status: r.status.as_str(),
            said: run_status_words(r.status),
            requested: When::new(r.requested_at, viewer.tz, now),
            requested_by: r.requested_by.name.clone(),
            approved_by: r.approved_by.as_ref().map(|a| a.name.clone()),
            outcome: r.outcome.clone(),
            output: r.output.clone(),
            can_decide: r.status == RunStatus::AwaitingApproval,
            asked_by_viewer: r.requested_by.is_user(&viewer.user.id),
            can_retry: r.status.can_retry(),
        })
        .collect();
    let posted = s.app.updates();
    let updates = posted
        .list(who, &this)
        .await?
        .into_iter()
        .map(|p| UpdateView {
            number: p.update.number,
            status: p.update.status,
            posted: When::new(p.update.posted_at, viewer.tz, now),
            by: p.update.posted_by.name,
            message: p.update.message,
            report: p.update.report,
            people: p.people,
            channels: p
                .channels
                .into_iter()
                .map(|c| (c.channel, c.status))
                .collect(),
        })
        .collect();
    let update_due = posted.due(who, &this).await?.map(|d| UpdateDueView {
        at: When::new(d.due_at, viewer.tz, now),
        because: due_words(d.because),
        overdue: d.is_overdue(now),
        reminders: d.reminders,
    });
    let subscription = posted
        .mine_to(
            who,
            &tocsin_domain::updates::Scope::Incident {
                incident_id: i.id.clone(),
            },
        )
        .await?
        .map(|sub| sub.id.to_string());
    let mut runbooks = Vec::new();
    let mut all_services: Vec<String> = Vec::new();
    for svc in &services {
        if i.services.contains(&svc.id)
            && let Some(url) = &svc.runbook_url
        {
            runbooks.push(RunbookView {
                service: svc.name.to_string(),
                url: url.as_str().to_owned(),
            });
        }
        all_services.push(svc.name.to_string());
    }
    all_services.sort();
    let can_respond = who.grant.allows(&Need::Respond);
    let (everyone, schedules, policies) = if can_respond {
        let everyone = by_name(people.iter().map(|(id, n)| (id, n.clone())));
        let mut schedules: Vec<String> = s
            .app
            .oncall()
            .list_schedules(who)
            .await?
            .into_iter()
            .map(|r| r.name)
            .collect();
        schedules.sort();
        let mut policies = s.app.escalation().list_policies(who).await?;
        policies.sort_by(|a, b| a.name.cmp(&b.name));
        (everyone, schedules, policies)
    } else {
        Default::default()
    };
    let levels = match escalation
        .as_ref()
        .filter(|_| i.status != IncidentStatus::Resolved)
        .and_then(|e| e.escalation.policy_id.as_ref())
        .and_then(|id| policies.iter().find(|p| &p.id == id))
    {
        Some(policy) => {
            // Only a running escalation has a next level; one stopped (acknowledged, or past its last level) has
            // none to mark.
            let next = escalation
                .as_ref()
                .filter(|e| e.escalation.next_at.is_some())
                .map(|e| e.escalation.level);
            let on_call = s
                .app
                .escalation()
                .on_call(who, policy.clone(), None)
                .await?;
            (0..policy.levels.len())
                .map(|at| LevelChoice {
                    number: at as u32 + 1,
                    reaches: on_call.levels.get(at).map_or_else(String::new, |l| {
                        l.users
                            .iter()
                            .map(|(u, _)| people.get(u).cloned().unwrap_or_else(|| u.to_string()))
                            .collect::<Vec<_>>()
                            .join(", ")
                    }),
                    next: Some(at as u32) == next,
                })
                .collect()
        }
        None => Vec::new(),
    };
    let original = EditForm {
        title: i.title.clone(),
        description: i.description.clone(),
        customer_impact: i.customer_impact.clone(),
        services: i
            .services
            .iter()
            .filter_map(|id| names.get(id).cloned())
            .collect(),
    };
    let edit = shown.edit.unwrap_or_else(|| original.clone());
    Ok(render(
        status,
        &IncidentPage {
            chrome: viewer.chrome("incidents"),
            head: row(&i, &names, viewer, now),
            description_html: markdown::render(&i.description),
            impact_html: markdown::render(&i.customer_impact),
            can_acknowledge: can_respond && i.status == IncidentStatus::Triggered,
            can_resolve: can_respond && i.status != IncidentStatus::Resolved,
            can_respond,
            severities: super::severities::choices(&severity_levels, i.severity.as_str()),
            severity_guide: super::severities::guide(&severity_levels),
            related,
            roles,
            responders,
            holdings,
            responding,
            tasks,
            task_form: shown.task.clone(),
            stage: i.stage.as_str(),
            stages: Stage::ALL
                .iter()
                .map(|st| Choice {
                    value: st.as_str().to_owned(),
                    label: st.as_str().to_owned(),
                    selected: *st == i.stage,
                })
                .collect(),
            milestones: Milestone::ALL
                .iter()
                .map(|m| {
                    let at = i.milestones.get(*m);
                    let stored = at
                        .map(|t| forms::local_input(t, viewer.tz))
                        .unwrap_or_default();
                    let (typed, original) = shown
                        .milestones
                        .iter()
                        .find(|(k, ..)| k == m.as_str())
                        .map(|(_, typed, original)| (typed.clone(), original.clone()))
                        .unwrap_or_else(|| (stored.clone(), stored));
                    MilestoneView {
                        key: m.as_str(),
                        label: m.label(),
                        original,
                        problem_field: format!("milestones.{}", m.as_str()),
                        at: at.map(|t| When::new(t, viewer.tz, now)),
                        typed,
                        clearable: m.may_be_cleared(),
                        settable: match m {
                            Milestone::Acknowledged | Milestone::Resolved => at.is_some(),
                            _ => true,
                        },
                    }
                })
                .collect(),
            escalation: escalation
                .filter(|e| e.escalation.next_at.is_some() || !e.assignees.is_empty())
                .map(|e| EscalationView {
                    policy: e.policy_name.clone(),
                    level: e.level,
                    next: e.escalation.next_at.map(|t| When::new(t, viewer.tz, now)),
                    paged: e
                        .assignees
                        .iter()
                        .map(|u| people.get(u).cloned().unwrap_or_else(|| u.to_string()))
                        .collect::<Vec<_>>()
                        .join(", "),
                }),
            alerts,
            changes,
            deliveries,
            runbooks,
            kept_runbooks,
            runs,
            updates,
            update_overdue: update_due.as_ref().is_some_and(|d| d.overdue),
            update_due,
            subscription,
            status: status_pages_view(s, who, &i).await?,
            more_runbooks,
            links: i.links.clone(),
            levels,
            timeline: timeline_views(s, viewer, &i, now).await?,
            everyone,
            schedules,
            policies: policies.into_iter().map(|p| p.name).collect(),
            all_services,
            edit,
            original,
            problems: shown.problems,
            problem_form: shown.problem_form,
            link_form: shown.link,
            notices: shown.notices,
            refusals: shown.refusals,
        },
    ))
}

#[derive(serde::Deserialize, Default)]
pub struct IncidentQuery {
    /// Set after adding responders some of whom page nobody right now.
    #[serde(default)]
    paged: Option<String>,
}

pub async fn incident(
    State(s): State<AppState>,
    viewer: Viewer,
    Path(number): Path<String>,
    axum::extract::Query(q): axum::extract::Query<IncidentQuery>,
) -> PageResult {
    let mut shown = Shown::default();
    if q.paged.as_deref() == Some("partly") {
        shown.notices.push(
            "Some of the responders you asked for page nobody right now; the timeline says which."
                .into(),
        );
    }
    incident_page(&s, &viewer, &number, StatusCode::OK, shown).await
}

/// The timeline alone, for the script that keeps it live.
pub async fn timeline(
    State(s): State<AppState>,
    viewer: Viewer,
    Path(number): Path<String>,
) -> PageResult {
    let this = s
        .app
        .incidents()
        .get(&viewer.who, &incident_ref(&number)?)
        .await?;
    let now = s.app.now();
    Ok(render(
        StatusCode::OK,
        &TimelinePart {
            timeline: timeline_views(&s, &viewer, &this, now).await?,
        },
    ))
}

/// The incident page again, with a form's problems shown beside it and the form open.
async fn refused(
    s: &AppState,
    viewer: &Viewer,
    number: &str,
    form: &'static str,
    problems: Problems,
) -> PageResult {
    let shown = Shown {
        problems,
        problem_form: form,
        ..Default::default()
    };
    incident_page(s, viewer, number, StatusCode::BAD_REQUEST, shown).await
}

/// Sends an edit a form built as the API's body, so that a refusal names the API's field: the problems to show beside
/// the form, if it was refused.
async fn send_edit(
    s: &AppState,
    who: &tocsin_app::Principal,
    incident: &IncidentRef,
    body: Result<serde_json::Value, Problems>,
) -> Result<Option<Problems>, PageError> {
    let changes = body.and_then(|b| {
        forms::parse::<IncidentChanges>(b).map_err(|e| forms::problems(e).unwrap_or_default())
    });
    let incidents = s.app.incidents();
    let sent = forms::submit(changes, |c| incidents.edit(who, incident, c)).await?;
    Ok(sent.err())
}

/// Acknowledge, resolve, escalate, add a note, change the severity, add responders, reassign, edit, add or remove a
/// link, the stage and times, related incidents, give or release a role, join or leave: each a form on the incident
/// page, which it returns to.
pub async fn incident_action(
    State(s): State<AppState>,
    viewer: Viewer,
    Path((number, action)): Path<(String, String)>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> PageResult {
    let f = Fields::new(pairs);
    let this = incident_ref(&number)?;
    let who = &viewer.who;
    let incidents = s.app.incidents();
    let escalation = s.app.escalation();
    let shown = match action.as_str() {
        "acknowledge" => incidents.acknowledge(who, &this).await.map(drop),
        "resolve" => incidents.resolve(who, &this).await.map(drop),
        "escalate" => {
            // Counted from 1 as the page shows levels; without one, the next level.
            let level = match forms::given(&f.one("level")).map(str::parse::<u32>) {
                None => None,
                Some(Ok(n)) if n >= 1 => Some(n - 1),
                Some(_) => {
                    let p = forms::problem("level", "choose one of the policy's levels");
                    return refused(&s, &viewer, &number, "escalate", p).await;
                }
            };
            match escalation.escalate(who, &this, level).await {
                // A level the policy does not have is shown beside the level chosen.
                Err(e @ tocsin_app::Error::Store(tocsin_store::StoreError::Invalid(_))) => {
                    let p = forms::problems(e)?;
                    return refused(&s, &viewer, &number, "escalate", p).await;
                }
                other => other.map(drop),
            }
        }
        "merge" => {
            let typed = f.one("into");
            let raw = typed.trim().trim_start_matches('#');
            let Some(into) = IncidentRef::parse(raw) else {
                let p = forms::problem("into", "give the number of the incident that carries on");
                return refused(&s, &viewer, &number, "merge", p).await;
            };
            match incidents.merge(who, &this, &into).await {
                Ok(survivor) => {
                    return Ok(
                        Redirect::to(&format!("/incidents/{}", survivor.number)).into_response()
                    );
                }
                Err(tocsin_app::Error::Store(tocsin_store::StoreError::NotFound { .. })) => {
                    let p = forms::problem("into", &format!("there is no incident #{raw}"));
                    return refused(&s, &viewer, &number, "merge", p).await;
                }
                Err(e) => Err(e),
            }
        }
        "relate" | "unrelate" => {
            let other = f.one("incident");
            let other = other.trim().trim_start_matches('#');
            let body = if action == "relate" {
                json!({ "add_related": [other] })
            } else {
                json!({ "remove_related": [other] })
            };
            match send_edit(&s, who, &this, Ok(body)).await? {
                None => Ok(()),
                Some(problems) => return refused(&s, &viewer, &number, "related", problems).await,
            }
        }
        "stage" => {
            let body = json!({ "stage": f.one("stage").trim() });
            match send_edit(&s, who, &this, Ok(body)).await? {
                None => Ok(()),
                Some(problems) => return refused(&s, &viewer, &number, "stage", problems).await,
            }
        }
        "milestones" => {
            // Only the times changed from what the page showed are sent; a blank one removes it.
            let mut sent = serde_json::Map::new();
            let mut problems = Problems::default();
            let mut typed = Vec::new();
            for m in Milestone::ALL {
                let now_typed = f.one(m.as_str());
                let original = f.one(&format!("original_{}", m.as_str()));
                typed.push((m.as_str().to_owned(), now_typed.clone(), original.clone()));
                if now_typed.trim() == original.trim() {
                    continue;
                }
                match forms::given(&now_typed) {
                    None => {
                        sent.insert(m.as_str().into(), serde_json::Value::Null);
                    }
                    Some(t) => match forms::local_time(t, viewer.tz) {
                        Ok(at) => {
                            sent.insert(m.as_str().into(), json!(at));
                        }
                        Err(message) => {
                            problems.add(&format!("milestones.{}", m.as_str()), &message);
                        }
                    },
                }
            }
            if sent.is_empty() && problems.is_empty() {
                Ok(())
            } else {
                let body = if problems.is_empty() {
                    Ok(json!({ "milestones": sent }))
                } else {
                    Err(problems)
                };
                match send_edit(&s, who, &this, body).await? {
                    None => Ok(()),
                    Some(problems) => {
                        let shown = Shown {
                            problems,
                            problem_form: "milestones",
                            milestones: typed,
                            ..Default::default()
                        };
                        return incident_page(&s, &viewer, &number, StatusCode::BAD_REQUEST, shown)
                            .await;
                    }
                }
            }
        }
        "links" | "unlink" => {
            let body = if action == "links" {
                json!({"add_links": [{"url": f.one("url").trim(), "label": f.one("label").trim()}]})
            } else {
                json!({"remove_links": [f.one("url").trim()]})
            };
            match send_edit(&s, who, &this, Ok(body)).await? {
                None => Ok(()),
                Some(problems) => {
                    let shown = Shown {
                        problems,
                        problem_form: "links",
                        link: (f.one("url"), f.one("label")),
                        ..Default::default()
                    };
                    return incident_page(&s, &viewer, &number, StatusCode::BAD_REQUEST, shown)
                        .await;
                }
            }
        }
        "assign" => {
            let (role, user) = (f.one("role"), f.one("user"));
            let mut p = Problems::default();
            if forms::given(&role).is_none() {
                p.add("role", "choose a role");
            }
            if forms::given(&user).is_none() {
                p.add("user", "choose a person");
            }
            let key = role.trim().parse::<Key>();
            match (p.is_empty(), key) {
                (true, Ok(key)) => {
                    let given = s
                        .app
                        .roles()
                        .assign(who, &this, &key, &UserRef::parse(user.trim()))
                        .await;
                    match given {
                        Err(e @ tocsin_app::Error::Store(tocsin_store::StoreError::Invalid(_))) => {
                            return refused(&s, &viewer, &number, "roles", forms::problems(e)?)
                                .await;
                        }
                        other => other.map(drop),
                    }
                }
                (_, Err(_)) if p.is_empty() => {
                    let p = forms::problem("role", "choose one of the roles listed");
                    return refused(&s, &viewer, &number, "roles", p).await;
                }
                _ => return refused(&s, &viewer, &number, "roles", p).await,
            }
        }
        "release" => {
            let key = f
                .one("role")
                .trim()
                .parse::<Key>()
                .map_err(|e| PageError::new(StatusCode::BAD_REQUEST, "Unknown role", &e))?;
            let user = forms::given(&f.one("user")).map(UserRef::parse);
            s.app
                .roles()
                .release(who, &this, &key, user)
                .await
                .map(drop)
        }
        "tasks" => {
            let typed = (f.one("title"), f.one("assignee"), f.one("due_in_minutes"));
            let mut body = json!({ "title": typed.0.trim() });
            match typed.1.split_once(':') {
                Some(("role", key)) => body["assignee"] = json!({"type": "role", "id": key}),
                Some(("user", id)) => body["assignee"] = json!({"type": "user", "id": id}),
                _ => {}
            }
            let due = forms::given(&typed.2).map(str::parse::<u32>);
            let mut problems = Problems::default();
            match due {
                Some(Ok(m)) => body["due_in_minutes"] = json!(m),
                Some(Err(_)) => problems.add("due_in_minutes", "must be a number of minutes"),
                None => {}
            }
            let parsed = if problems.is_empty() {
                forms::parse::<crate::http::tasks::NewTaskRequest>(body)
                    .map_err(|e| forms::problems(e).unwrap_or_default())
            } else {
                Err(problems)
            };
            let tasks = s.app.tasks();
            let added = forms::submit(parsed, |t| {
                tasks.add(who, &this, t.title, t.assignee, t.due_in_minutes)
            })
            .await?;
            match added {
                Ok(_) => Ok(()),
                Err(problems) => {
                    let shown = Shown {
                        problems,
                        problem_form: "tasks",
                        task: typed,
                        ..Default::default()
                    };
                    return incident_page(&s, &viewer, &number, StatusCode::BAD_REQUEST, shown)
                        .await;
                }
            }
        }
        "task-done" | "task-undone" => {
            let task = f.one("task").trim().parse::<u32>().map_err(|_| {
                PageError::new(StatusCode::NOT_FOUND, "Not found", "There is no such task.")
            })?;
            let done = action == "task-done";
            s.app.tasks().mark(who, &this, task, done).await.map(drop)
        }
        "run" => {
            let key = |name: &str| {
                f.one(name).trim().parse::<Key>().map_err(|_| {
                    PageError::new(StatusCode::NOT_FOUND, "Not found", "There is no such step.")
                })
            };
            s.app
                .automation()
                .start(who, &this, &key("runbook")?, &key("step")?)
                .await
                .map(drop)
        }
        "approve-run" | "decline-run" | "retry-run" => {
            let id = RunId::parse(f.one("run").trim()).ok_or_else(|| {
                PageError::new(StatusCode::NOT_FOUND, "Not found", "There is no such run.")
            })?;
            let automation = s.app.automation();
            match action.as_str() {
                "retry-run" => automation.retry(who, &id).await.map(drop),
                decision => automation
                    .decide(who, &id, decision == "approve-run")
                    .await
                    .map(drop),
            }
        }
        "update" => {
            let text = |name: &str| f.one(name).trim().to_owned();
            let report = tocsin_domain::updates::Report {
                conditions: text("conditions"),
                actions: text("actions"),
                needs: text("needs"),
            };
            let audiences = f
                .all("audiences")
                .iter()
                .filter_map(|a| Audience::ALL.into_iter().find(|x| x.as_str() == a.as_str()))
                .collect();
            let spec = tocsin_domain::updates::UpdateSpec {
                message: f.one("message").to_owned(),
                report: Some(report),
                audiences,
            };
            match s.app.updates().post(who, &this, spec).await {
                Err(e @ tocsin_app::Error::Store(tocsin_store::StoreError::Invalid(_))) => {
                    let p = forms::problems(e)?;
                    return refused(&s, &viewer, &number, "update", p).await;
                }
                other => other.map(drop),
            }
        }
        "publish" => {
            let page = page_slug(&f.one("page"))?;
            let status = component_status_of(&f.one("component_status"))
                .unwrap_or(tocsin_domain::status_page::ComponentStatus::PartialOutage);
            let spec = tocsin_domain::public_incidents::PublicIncidentSpec {
                incident: Some(number.clone()),
                name: f.one("name").to_owned(),
                body: f.one("body").to_owned(),
                status: tocsin_domain::public_incidents::PublicStatus::Investigating,
                impact: None,
                components: affected(&f.all("components"), status),
            };
            match s.app.status_pages().publish(who, &page, spec).await {
                Err(e @ tocsin_app::Error::Store(tocsin_store::StoreError::Invalid(_))) => {
                    let p = forms::problems(e)?;
                    return refused(&s, &viewer, &number, "publish", p).await;
                }
                other => other.map(drop),
            }
        }
        "public-update" => {
            let page = page_slug(&f.one("page"))?;
            let id =
                tocsin_domain::ids::PublicIncidentId::parse(&f.one("public")).ok_or_else(|| {
                    PageError::new(
                        StatusCode::NOT_FOUND,
                        "Not found",
                        "No such public incident.",
                    )
                })?;
            let status = tocsin_domain::public_incidents::PublicStatus::parse(&f.one("status"))
                .unwrap_or_default();
            // One status for every component the incident affects, or leave them as they are.
            let spec = tocsin_domain::public_incidents::PublicUpdateSpec {
                status,
                body: f.one("body").to_owned(),
                components: None,
                all_affected: component_status_of(&f.one("component_status")),
            };
            match s
                .app
                .status_pages()
                .update_public(who, &page, &id, spec)
                .await
            {
                Err(e @ tocsin_app::Error::Store(tocsin_store::StoreError::Invalid(_))) => {
                    let p = forms::problems(e)?;
                    return refused(&s, &viewer, &number, "public-update", p).await;
                }
                other => other.map(drop),
            }
        }
        "subscribe" => s
            .app
            .updates()
            .subscribe(
                who,
                &tocsin_app::ScopeRef::Incident(this.clone()),
                tocsin_app::SubscriberRef::Me,
            )
            .await
            .map(drop),
        "unsubscribe" => {
            let id = super::services::subscription_id(&f.one("subscription"))?;
            s.app.updates().unsubscribe(who, &id).await
        }
        "join" => s.app.roles().join(who, &this, None).await.map(drop),
        "leave" => s.app.roles().leave(who, &this, None).await.map(drop),
        "notes" => {
            let body = f.one("body");
            if body.trim().is_empty() {
                let p = forms::problem("body", "write something in the note before adding it");
                return refused(&s, &viewer, &number, "note", p).await;
            }
            incidents
                .add_note(who, &this, body.to_owned())
                .await
                .map(drop)
        }
        "severity" => {
            let severity = f
                .one("severity")
                .parse::<Severity>()
                .map_err(|e| PageError::new(StatusCode::BAD_REQUEST, "Unknown severity", &e))?;
            incidents.set_severity(who, &this, severity).await.map(drop)
        }
        "responders" => {
            let responders = Responders {
                users: f.all("users").iter().map(|u| UserRef::parse(u)).collect(),
                schedules: f
                    .all("schedules")
                    .iter()
                    .map(|x| ScheduleRef::parse(x))
                    .collect(),
                ..Default::default()
            };
            if responders.users.is_empty() && responders.schedules.is_empty() {
                let p = forms::problem("responders", "choose at least one person or schedule");
                return refused(&s, &viewer, &number, "responders", p).await;
            }
            match escalation.add_responders(who, &this, responders).await {
                // Redirected like any other change, so that reloading the page pages nobody again; the gaps are on
                // the timeline, and the page says to look there.
                Ok(paged) if !paged.gaps.is_empty() => {
                    return Ok(Redirect::to(&format!(
                        "/incidents/{}?paged=partly",
                        number.trim_start_matches('#')
                    ))
                    .into_response());
                }
                other => other.map(drop),
            }
        }
        "reassign" => {
            let to = match f.one("to").split_once(':') {
                Some(("user", id)) => Reassignment::Users(vec![UserRef::parse(id)]),
                Some(("policy", name)) => Reassignment::Policy(PolicyRef::parse(name)),
                _ => {
                    let p = forms::problem("to", "choose a person or an escalation policy");
                    return refused(&s, &viewer, &number, "reassign", p).await;
                }
            };
            escalation.reassign(who, &this, to).await.map(drop)
        }
        "edit" => {
            // Browsers send a textarea's line breaks as CRLF; people and the API write LF.
            let text = |name: &str| f.one(name);
            let typed = EditForm {
                title: text("title"),
                description: text("description"),
                customer_impact: text("customer_impact"),
                services: f.all("services"),
            };
            // Only what this person changed from the page they saw is sent, so that what someone else changed since
            // stays as they left it.
            let original = EditForm {
                title: text("original_title"),
                description: text("original_description"),
                customer_impact: text("original_customer_impact"),
                services: f.all("original_services"),
            };
            let mut body = serde_json::Map::new();
            if typed.title != original.title {
                body.insert("title".into(), json!(typed.title.trim()));
            }
            if typed.description != original.description {
                body.insert("description".into(), json!(typed.description));
            }
            if typed.customer_impact != original.customer_impact {
                body.insert("customer_impact".into(), json!(typed.customer_impact));
            }
            let added: Vec<&String> = typed
                .services
                .iter()
                .filter(|s| !original.services.contains(s))
                .collect();
            let removed: Vec<&String> = original
                .services
                .iter()
                .filter(|s| !typed.services.contains(s))
                .collect();
            if !added.is_empty() {
                body.insert("add_services".into(), json!(added));
            }
            if !removed.is_empty() {
                body.insert("remove_services".into(), json!(removed));
            }
            if body.is_empty() {
                return Ok(
                    Redirect::to(&format!("/incidents/{}", number.trim_start_matches('#')))
                        .into_response(),
                );
            }
            match send_edit(&s, who, &this, Ok(serde_json::Value::Object(body))).await? {
                None => Ok(()),
                Some(problems) => {
                    let shown = Shown {
                        edit: Some(typed),
                        problems,
                        problem_form: "edit",
                        ..Default::default()
                    };
                    return incident_page(&s, &viewer, &number, StatusCode::BAD_REQUEST, shown)
                        .await;
                }
            }
        }
        _ => {
            return Err(PageError::new(
                StatusCode::NOT_FOUND,
                "Not found",
                "There is no such action on an incident.",
            ));
        }
    };
    match shown {
        Ok(()) => Ok(
            Redirect::to(&format!("/incidents/{}", number.trim_start_matches('#'))).into_response(),
        ),
        // A refusal the person can act on (already resolved, nobody to page) is shown on the page.
        Err(e) => {
            let api = crate::http::error::ApiError::from(e);
            let status = api.0.code.status();
            let problems = forms::problems(api)?;
            let shown = Shown {
                refusals: problems.general(&[]),
                ..Default::default()
            };
            incident_page(&s, &viewer, &number, status, shown).await
        }
    }
}

fn page_slug(raw: &str) -> Result<tocsin_domain::refs::Key, PageError> {
    raw.parse()
        .map_err(|_| PageError::new(StatusCode::NOT_FOUND, "Not found", "No such status page."))
}

/// A component status chosen in a form; none for "as they are".
fn component_status_of(raw: &str) -> Option<tocsin_domain::status_page::ComponentStatus> {
    tocsin_domain::status_page::ComponentStatus::parse(raw)
}

/// The components checked, each with `status`; unknown IDs are left to the use case to refuse.
fn affected(
    ids: &[String],
    status: tocsin_domain::status_page::ComponentStatus,
) -> Vec<tocsin_domain::public_incidents::Affected> {
    ids.iter()
        .filter_map(|id| tocsin_domain::ids::ComponentId::parse(id))
        .map(|component_id| tocsin_domain::public_incidents::Affected {
            component_id,
            status,
        })
        .collect()
}
