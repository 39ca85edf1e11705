//! What a notification says: a claimed delivery rendered into a channel-neutral [`Notice`], with signed action
//! links for pages.

use chrono::{DateTime, Duration, Utc};
use serde_json::json;
use tocsin_domain::contact::{Notice, NoticeIncident, NoticeLink, Purpose};
use tocsin_domain::incident::Incident;
use tocsin_domain::incident::IncidentStatus;
use tocsin_domain::links::{ActionLink, LinkAction};
use tocsin_domain::updates::{Audience, DueBecause, StatusUpdate, UpdateTemplate};
use tocsin_store::ClaimedDelivery;

/// Most runbooks kept in Tocsin a notice links to.
const MAX_RUNBOOK_LINKS: usize = 5;

/// How long the links in a notification work. A day covers the life of most pages; an older one is better
/// answered from the incident itself, where the person sees its current state.
pub const LINK_TTL: Duration = Duration::hours(24);

/// How many of an alert's labels a page shows.
const KEY_DETAILS: usize = 8;

pub struct Renderer {
    pub public_url: String,
    pub link_key: Vec<u8>,
    pub update_templates: UpdateTemplates,
}

/// The number and title of a delivery's incident, for notices that name it.
fn number_and_title(d: &ClaimedDelivery) -> (i64, &str) {
    d.incident
        .as_ref()
        .map_or((0, ""), |i| (i.number, i.title.as_str()))
}

fn about(incident: &Incident) -> NoticeIncident {
    NoticeIncident {
        id: incident.id.clone(),
        status: incident.status,
    }
}

/// How stakeholder updates are worded, per audience (`[updates.templates]`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateTemplates {
    #[serde(default = "responders_template")]
    pub responders: UpdateTemplate,
    #[serde(default = "subscribers_template")]
    pub subscribers: UpdateTemplate,
}

fn responders_template() -> UpdateTemplate {
    UpdateTemplate::default_for(Audience::Responders)
}

fn subscribers_template() -> UpdateTemplate {
    UpdateTemplate::default_for(Audience::Subscribers)
}

impl Default for UpdateTemplates {
    fn default() -> Self {
        Self {
            responders: responders_template(),
            subscribers: subscribers_template(),
        }
    }
}

impl UpdateTemplates {
    pub fn check(&self) -> Result<(), tocsin_domain::ValidationErrors> {
        let mut errors = tocsin_domain::ValidationErrors::default();
        self.responders
            .check("updates.templates.responders", &mut errors);
        self.subscribers
            .check("updates.templates.subscribers", &mut errors);
        errors.into_result(())
    }

    fn of(&self, audience: Audience) -> &UpdateTemplate {
        match audience {
            Audience::Responders => &self.responders,
            Audience::Subscribers => &self.subscribers,
        }
    }
}

impl Renderer {
    pub fn notice(&self, d: &ClaimedDelivery, now: DateTime<Utc>) -> Notice {
        match &d.purpose {
            Purpose::Page { level, role, .. } => self.page(d, *level, role.as_deref(), now),
            Purpose::StatusUpdate { status, by, .. } => Self::status_update(d, *status, by, now),
            Purpose::Update { audience, .. } => match (&d.incident, &d.update) {
                (Some(incident), Some(update)) => {
                    self.update_notice(incident, update, *audience, now)
                }
                _ => Notice {
                    quick_link: None,
                    incident: None,
                    subject: "An incident update".into(),
                    body: String::new(),
                    links: Vec::new(),
                    event: json!({ "type": "incident.update", "timestamp": now }),
                },
            },
            Purpose::UpdateDue {
                because, reminder, ..
            } => self.update_due(d, *because, *reminder, now),
            Purpose::Test => Notice {
                quick_link: None,
                incident: None,
                subject: "Test notification from Tocsin".into(),
                body: format!(
                    "Hello {}, this is the test you asked for. If you can read this, Tocsin can reach you here.",
                    d.user_name
                ),
                links: Vec::new(),
                event: json!({
                    "type": "test",
                    "timestamp": now,
                    "data": { "delivery_id": d.id, "user": { "id": d.user_id, "name": d.user_name } },
                }),
            },
            Purpose::ShiftReminder {
                schedule_id,
                schedule_name,
                start,
                end,
            } => Notice {
                quick_link: None,
                incident: None,
                subject: format!(
                    "Your on-call shift in {schedule_name} starts {}",
                    start.format("%Y-%m-%d %H:%M UTC")
                ),
                body: format!(
                    "Hello {}, you are on call in {schedule_name} from {} to {}.",
                    d.user_name,
                    start.format("%Y-%m-%d %H:%M UTC"),
                    end.format("%Y-%m-%d %H:%M UTC")
                ),
                links: Vec::new(),
                event: json!({
                    "type": "shift.reminder",
                    "timestamp": now,
                    "data": {
                        "schedule": { "id": schedule_id, "name": schedule_name },
                        "user": { "id": d.user_id, "name": d.user_name },
                        "start": start,
                        "end": end,
                    },
                }),
            },
        }
    }

    /// A stakeholder update as the audience's template words it; a webhook receives it as `incident.update`.
    pub fn update_notice(
        &self,
        incident: &Incident,
        update: &StatusUpdate,
        audience: Audience,
        now: DateTime<Utc>,
    ) -> Notice {
        let page = format!("{}/incidents/{}", self.public_url, incident.number);
        let (subject, body) = self
            .update_templates
            .of(audience)
            .render(incident, update, &page);
        Notice {
            quick_link: None,
            incident: Some(about(incident)),
            subject,
            body,
            links: vec![NoticeLink {
                label: "Open incident".into(),
                url: page.clone(),
            }],
            event: json!({
                "type": "incident.update",
                "timestamp": now,
                "data": {
                    "incident": {
                        "id": incident.id,
                        "number": incident.number,
                        "title": incident.title,
                        "severity": incident.severity,
                        "status": incident.status,
                        "page_url": page,
                    },
                    "update": update,
                    "audience": audience,
                },
            }),
        }
    }

    /// "An update on #42 is due", for its communications lead (or commander, or responders).
    fn update_due(
        &self,
        d: &ClaimedDelivery,
        because: DueBecause,
        reminder: u32,
        now: DateTime<Utc>,
    ) -> Notice {
        let (number, title) = number_and_title(d);
        let page = format!("{}/incidents/{number}", self.public_url);
        let why = match because {
            DueBecause::Cadence => "its severity asks for regular updates and the last one is due",
            DueBecause::SeverityChanged => "its severity changed",
            DueBecause::Resolved => "it was resolved: tell stakeholders how it ended",
        };
        let again = if reminder > 1 {
            format!(" (reminder {reminder})")
        } else {
            String::new()
        };
        Notice {
            quick_link: None,
            incident: None,
            subject: format!("Post an update on #{number} {title}{again}"),
            body: format!(
                "Hello {}, stakeholders are waiting for an update on incident #{number} ({title}): {why}. \
                 Post one from the incident's page.",
                d.user_name
            ),
            links: vec![NoticeLink {
                label: "Post an update".into(),
                url: format!("{page}#updates"),
            }],
            event: json!({
                "type": "incident.update_due",
                "timestamp": now,
                "data": {
                    "incident": { "number": number, "title": title, "page_url": page },
                    "because": because,
                    "reminder": reminder,
                    "user": { "id": d.user_id, "name": d.user_name },
                },
            }),
        }
    }

    fn link(&self, d: &ClaimedDelivery, action: LinkAction, now: DateTime<Utc>) -> Option<String> {
        let incident = d.incident.as_ref()?;
        let token = ActionLink {
            incident_id: incident.id.clone(),
            action,
            user_id: d.user_id.clone(),
            expires_at: now + LINK_TTL,
        }
        .sign(&self.link_key);
        Some(format!("{}/act/{token}", self.public_url))
    }

    /// "Alice acknowledged #42", for someone paged for #42 who asked to hear of it.
    fn status_update(
        d: &ClaimedDelivery,
        status: IncidentStatus,
        by: &str,
        now: DateTime<Utc>,
    ) -> Notice {
        let (number, title) = number_and_title(d);
        let did = match status {
            IncidentStatus::Resolved => "resolved",
            _ => "acknowledged",
        };
        Notice {
            quick_link: None,
            incident: None,
            subject: format!("{by} {did} #{number} {title}"),
            body: format!(
                "Hello {}, {by} {did} incident #{number}: {title}\nYou were paged for it and asked to be told.",
                d.user_name
            ),
            links: Vec::new(),
            event: json!({
                "type": format!("incident.{did}"),
                "timestamp": now,
                "data": {
                    "incident": { "number": number, "title": title, "status": status },
                    "by": by,
                    "user": { "id": d.user_id, "name": d.user_name },
                },
            }),
        }
    }

    fn page(
        &self,
        d: &ClaimedDelivery,
        level: Option<u32>,
        role: Option<&str>,
        now: DateTime<Utc>,
    ) -> Notice {
        let Some(incident) = &d.incident else {
            return Notice {
                quick_link: None,
                incident: None,
                subject: "An incident needs you".into(),
                body: String::new(),
                links: Vec::new(),
                event: json!({ "type": "incident.triggered", "timestamp": now }),
            };
        };
        let services = if d.service_names.is_empty() {
            String::new()
        } else {
            format!(" ({})", d.service_names.join(", "))
        };
        let subject = match role {
            Some(role) => format!(
                "[{}] You are now {role} of #{}: {}{services}",
                incident.severity, incident.number, incident.title
            ),
            None => format!(
                "[{}] #{} {}{services}",
                incident.severity, incident.number, incident.title
            ),
        };
        let status = incident.status.as_str();
        let mut body = match role {
            Some(role) => format!(
                "Hello {}, you are now {role} of incident #{}. Open it to see what the role asks of you.\n\n",
                d.user_name, incident.number
            ),
            None => String::new(),
        };
        body += &format!(
            "Incident #{} is {status}: {}\nSeverity: {}\nServices: {}\nOpened: {}",
            incident.number,
            incident.title,
            incident.severity,
            if d.service_names.is_empty() {
                "none".to_owned()
            } else {
                d.service_names.join(", ")
            },
            incident.created_at.format("%Y-%m-%d %H:%M:%S UTC"),
        );
        if let Some(l) = level {
            body.push_str(&format!("\nYou were paged by escalation level {}.", l + 1));
        }
        if let Some(a) = &d.latest_alert {
            body.push_str(&format!(
                "\n\nLatest alert: {} (from {}, {})",
                a.summary, a.source, a.severity
            ));
            for (k, v) in a.labels.iter().take(KEY_DETAILS) {
                body.push_str(&format!("\n  {k}: {v}"));
            }
        }
        if !d.recent_changes.is_empty() {
            body.push_str("\n\nChanges on its services in the last 24 hours:");
            for (service, c) in &d.recent_changes {
                body.push_str(&format!(
                    "\n  {} {service}: {}",
                    c.received_at.format("%Y-%m-%d %H:%M UTC"),
                    c.summary
                ));
            }
        }
        // Links (the incident, its actions, runbooks) are the notice's `links`, which every channel shows in its own
        // way; in the body too they were shown twice by email and chat, and read out by voice.
        // People open the incident's page in the UI (signing in first if they must). The signed read-only view needs
        // no account: an SMS, with room for one link, carries it, and so does the event, as it always has.
        let page = format!("{}/incidents/{}", self.public_url, incident.number);
        let mut links = vec![NoticeLink {
            label: "Open incident".into(),
            url: page.clone(),
        }];
        let mut link_map = serde_json::Map::new();
        let view = self.link(d, LinkAction::View, now);
        if let Some(url) = &view {
            link_map.insert(LinkAction::View.as_str().into(), url.clone().into());
        }
        if incident.status != IncidentStatus::Resolved {
            let mut actions = vec![(LinkAction::Resolve, "Resolve")];
            if incident.status == IncidentStatus::Triggered {
                actions.insert(0, (LinkAction::Acknowledge, "Acknowledge"));
            }
            for (action, label) in actions {
                if let Some(url) = self.link(d, action, now) {
                    link_map.insert(action.as_str().into(), url.clone().into());
                    links.push(NoticeLink {
                        label: label.into(),
                        url,
                    });
                }
            }
        }
        for (service, url) in &d.runbooks {
            links.push(NoticeLink {
                label: format!("Runbook ({service})"),
                url: url.clone(),
            });
        }
        // A notice has room for a few links; the incident's page shows them all.
        let kept_runbooks: Vec<(&str, String)> = d
            .kept_runbooks
            .iter()
            .take(MAX_RUNBOOK_LINKS)
            .map(|(key, title)| {
                (
                    title.as_str(),
                    format!("{}/runbooks/{key}", self.public_url),
                )
            })
            .collect();
        for (title, url) in &kept_runbooks {
            links.push(NoticeLink {
                label: format!("Runbook: {title}"),
                url: url.clone(),
            });
        }
        Notice {
            quick_link: view.clone(),
            incident: Some(about(incident)),
            subject,
            body,
            links,
            event: json!({
                "type": match role {
                    Some(_) => "incident.role_assigned".to_owned(),
                    None => format!("incident.{status}"),
                },
                "timestamp": now,
                "data": {
                    "incident": {
                        "id": incident.id,
                        "number": incident.number,
                        "title": incident.title,
                        "severity": incident.severity,
                        "status": incident.status,
                        "services": d.service_names,
                        "created_at": incident.created_at,
                        "url": view,
                        "page_url": page,
                    },
                    "user": { "id": d.user_id, "name": d.user_name },
                    "role": role,
                    "latest_alert": d.latest_alert.as_ref().map(|a| json!({
                        "id": a.id,
                        "summary": a.summary,
                        "source": a.source,
                        "severity": a.severity,
                        "labels": a.labels,
                    })),
                    "runbooks": d.runbooks.iter().map(|(service, url)| json!({ "service": service, "url": url })).collect::<Vec<_>>(),
                    "runbook_documents": kept_runbooks.iter().map(|(title, url)| json!({ "title": title, "url": url })).collect::<Vec<_>>(),
                    "recent_changes": d.recent_changes.iter().map(|(service, c)| json!({
                        "service": service,
                        "summary": c.summary,
                        "source": c.source,
                        "at": c.received_at,
                    })).collect::<Vec<_>>(),
                    // Counted from 1 as people count levels; the index counts from 0.
                    "escalation_level": level.map(|l| l + 1),
                    "escalation_level_index": level,
                    "links": link_map,
                },
            }),
        }
    }
}
