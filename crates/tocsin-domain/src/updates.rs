//! Stakeholder updates: what responders tell the people who wait on an incident, and when they owe the next one.
//!
//! An update is a status (the incident's stage, or resolved), a message and, optionally, a tactical report
//! (conditions, actions, needs). It goes to audiences: the incident's responders, and the stakeholders who
//! subscribed to one of its services or to the incident itself, as people (by the methods their reminders go to)
//! or as channels (an email list, a chat channel's incoming webhook, a signed webhook).
//!
//! A severity may set a cadence. While an incident of that severity is open, the next update is due that long
//! after the last one (or after it opened); a severity change and the resolution make one due shortly. When one
//! is due and none came, Tocsin reminds the communications lead (or the commander, or else the responders), and
//! widens the reminder to both leads if it is ignored.

use crate::ValidationErrors;
use crate::contact::ContactTarget;
use crate::ids::{IncidentId, ServiceId, SubscriptionId, UserId};
use crate::incident::{Actor, Incident, IncidentStatus};
use crate::severity::Severity;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

pub const MAX_MESSAGE_CHARS: usize = 4_000;
pub const MAX_REPORT_CHARS: usize = 2_000;
/// Most subscriptions to one service or one incident.
pub const MAX_SUBSCRIPTIONS_PER_SCOPE: usize = 200;
pub const MAX_CHANNEL_NAME_CHARS: usize = 100;
/// How soon after a severity change or the resolution an update is due.
pub const PROMPT_AFTER: Duration = Duration::minutes(5);
/// How long a reminder may go unanswered before it goes to both leads.
pub const ESCALATE_AFTER: Duration = Duration::minutes(10);
/// How often reminders repeat once escalated, for a severity without a cadence (a prompt after resolution does
/// not repeat).
pub const REPEAT_WITHOUT_CADENCE: Duration = Duration::minutes(30);

/// Who an update is for.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Audience {
    /// The people working the incident.
    Responders,
    /// People and channels subscribed to one of its services or to the incident.
    Subscribers,
}

impl Audience {
    pub const ALL: [Audience; 2] = [Self::Responders, Self::Subscribers];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Responders => "responders",
            Self::Subscribers => "subscribers",
        }
    }
}

/// A tactical report: where things stand, what is being done, what is needed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Report {
    #[serde(default)]
    pub conditions: String,
    #[serde(default)]
    pub actions: String,
    #[serde(default)]
    pub needs: String,
}

impl Report {
    fn is_empty(&self) -> bool {
        self.conditions.is_empty() && self.actions.is_empty() && self.needs.is_empty()
    }
}

/// An update as someone writes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateSpec {
    /// What stakeholders should know, in plain words.
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report: Option<Report>,
    /// Both audiences unless given.
    #[serde(default = "all_audiences")]
    pub audiences: Vec<Audience>,
}

fn all_audiences() -> Vec<Audience> {
    Audience::ALL.to_vec()
}

impl UpdateSpec {
    /// The spec trimmed, its audiences in order and once each, or what to fix.
    pub fn checked(mut self) -> Result<Self, ValidationErrors> {
        let mut errors = ValidationErrors::default();
        self.message = self.message.trim().to_owned();
        if self.message.is_empty() {
            errors.push("message", "is empty: say where things stand");
        } else if self.message.chars().count() > MAX_MESSAGE_CHARS {
            errors.push(
                "message",
                format!("is longer than {MAX_MESSAGE_CHARS} characters"),
            );
        }
        if let Some(report) = &mut self.report {
            for (field, text) in [
                ("report.conditions", &mut report.conditions),
                ("report.actions", &mut report.actions),
                ("report.needs", &mut report.needs),
            ] {
                *text = text.trim().to_owned();
                if text.chars().count() > MAX_REPORT_CHARS {
                    errors.push(
                        field,
                        format!("is longer than {MAX_REPORT_CHARS} characters"),
                    );
                }
            }
        }
        if self.report.as_ref().is_some_and(Report::is_empty) {
            self.report = None;
        }
        self.audiences.sort();
        self.audiences.dedup();
        if self.audiences.is_empty() {
            errors.push(
                "audiences",
                "names nobody: give responders, subscribers or both",
            );
        }
        errors.into_result(self)
    }
}

/// Where the incident stood when an update was posted: its stage while open, or resolved.
pub fn status_of(incident: &Incident) -> &'static str {
    match incident.status {
        IncidentStatus::Resolved => "resolved",
        _ => incident.stage.as_str(),
    }
}

/// An update as posted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StatusUpdate {
    #[schema(value_type = String)]
    pub incident_id: IncidentId,
    /// Counted from 1 within the incident.
    pub number: u32,
    /// `investigating`, `identified`, `monitoring` or `resolved`.
    pub status: String,
    pub severity: Severity,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report: Option<Report>,
    pub audiences: Vec<Audience>,
    pub posted_at: DateTime<Utc>,
    pub posted_by: Actor,
}

/// What a subscription is to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Scope {
    Service {
        #[schema(value_type = String)]
        service_id: ServiceId,
    },
    Incident {
        #[schema(value_type = String)]
        incident_id: IncidentId,
    },
}

/// Who hears of updates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Subscriber {
    /// A person, reached by the methods their reminders go to.
    Person {
        #[schema(value_type = String)]
        user_id: UserId,
    },
    /// A channel: an email list, a Slack, Teams or Mattermost channel's incoming webhook, or a signed webhook.
    Channel { name: String, target: ContactTarget },
}

impl Subscriber {
    /// What to fix in a channel: a name, and a target that is not a phone.
    pub fn check(&self, errors: &mut ValidationErrors) {
        if let Self::Channel { name, target } = self {
            if name.trim().is_empty() {
                errors.push(
                    "subscriber.name",
                    "is empty: name the channel, e.g. #payments-status",
                );
            } else if name.chars().count() > MAX_CHANNEL_NAME_CHARS {
                errors.push(
                    "subscriber.name",
                    format!("is longer than {MAX_CHANNEL_NAME_CHARS} characters"),
                );
            }
            if matches!(
                target,
                ContactTarget::Sms { .. } | ContactTarget::Voice { .. }
            ) {
                errors.push(
                    "subscriber.target",
                    "updates go to email, chat or webhook channels, not to phones",
                );
            }
        }
    }

    /// As it is shown after creation: a channel's credential hidden.
    pub fn redacted(&self) -> Self {
        match self {
            Self::Channel { name, target } => Self::Channel {
                name: name.clone(),
                target: target.redacted(),
            },
            person => person.clone(),
        }
    }
}

/// A subscription: someone who hears of a service's or an incident's updates without working it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Subscription {
    #[schema(value_type = String)]
    pub id: SubscriptionId,
    pub scope: Scope,
    /// A channel's target shows redacted.
    pub subscriber: Subscriber,
    pub created_at: DateTime<Utc>,
    pub created_by: Actor,
}

/// How the send of an update to a subscribed channel went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ChannelSend {
    pub channel: String,
    /// `pending`, `sending`, `delivered` or `failed`.
    pub status: String,
    pub attempts: u32,
    /// What the receiver answered, or why it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// An update with how its sends to channels went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PostedUpdate {
    #[serde(flatten)]
    pub update: StatusUpdate,
    /// The people it went to, through the methods their reminders go to.
    pub people: Vec<String>,
    pub channels: Vec<ChannelSend>,
}

/// Why an update is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DueBecause {
    /// The severity's cadence since the last update (or since the incident opened).
    Cadence,
    SeverityChanged,
    Resolved,
}

impl DueBecause {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Cadence => "cadence",
            Self::SeverityChanged => "severity_changed",
            Self::Resolved => "resolved",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Cadence, Self::SeverityChanged, Self::Resolved]
            .into_iter()
            .find(|d| d.as_str() == s)
    }
}

/// The next update an incident owes: when, why, and how many reminders about it went out already.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct UpdateDue {
    pub due_at: DateTime<Utc>,
    pub because: DueBecause,
    /// Reminders sent about it so far.
    pub reminders: u32,
}

impl UpdateDue {
    /// Whether stakeholders are owed the update now: its time has passed, or its leads were reminded of it (the
    /// time then is the next reminder's).
    pub fn is_overdue(&self, now: DateTime<Utc>) -> bool {
        self.reminders > 0 || self.due_at <= now
    }

    fn fresh(due_at: DateTime<Utc>, because: DueBecause) -> Self {
        Self {
            due_at,
            because,
            reminders: 0,
        }
    }

    /// What an incident owes once an update was posted at `at`: the next one a cadence later, if it is open and
    /// its severity has a cadence.
    pub fn after_update(
        incident: &Incident,
        cadence: Option<u32>,
        at: DateTime<Utc>,
    ) -> Option<Self> {
        Self::by_cadence(incident, cadence, at)
    }

    /// What a newly opened incident owes.
    pub fn on_open(incident: &Incident, cadence: Option<u32>) -> Option<Self> {
        Self::by_cadence(incident, cadence, incident.created_at)
    }

    fn by_cadence(incident: &Incident, cadence: Option<u32>, from: DateTime<Utc>) -> Option<Self> {
        if incident.status == IncidentStatus::Resolved {
            return None;
        }
        let minutes = cadence.filter(|m| *m > 0)?;
        Some(Self::fresh(
            from + Duration::minutes(i64::from(minutes)),
            DueBecause::Cadence,
        ))
    }

    /// A severity change or the resolution: an update is due shortly, unless one was due sooner anyway.
    pub fn prompted(current: Option<Self>, because: DueBecause, now: DateTime<Utc>) -> Self {
        let prompt = Self::fresh(now + PROMPT_AFTER, because);
        match current {
            Some(c) if c.due_at <= prompt.due_at && because != DueBecause::Resolved => c,
            _ => prompt,
        }
    }

    /// After a reminder went out: the next reminder if nobody posts, or none. The first reminder is followed by
    /// a wider one [`ESCALATE_AFTER`] later; then reminders repeat at the cadence while the incident is open. A
    /// prompt after the resolution is reminded of twice at most.
    pub fn after_reminder(self, cadence: Option<u32>, now: DateTime<Utc>) -> Option<Self> {
        let reminders = self.reminders + 1;
        let next_in = if reminders == 1 {
            ESCALATE_AFTER
        } else if self.because == DueBecause::Resolved {
            return None;
        } else {
            cadence
                .filter(|m| *m > 0)
                .map_or(REPEAT_WITHOUT_CADENCE, |m| Duration::minutes(i64::from(m)))
        };
        Some(Self {
            due_at: now + next_in,
            because: self.because,
            reminders,
        })
    }
}

/// Who a reminder goes to: the first one to the communications lead (or else the commander, or else the
/// responders); later ones to both leads (or else the responders). `reminders` is how many went out before. The
/// update a resolution asks for is asked of the leads alone: an incident nobody led (most that resolve on their
/// own) owes its stakeholders nothing more than its resolution.
pub fn reminder_recipients(
    because: DueBecause,
    reminders: u32,
    communications: &[UserId],
    commanders: &[UserId],
    responders: &[UserId],
) -> Vec<UserId> {
    let mut to: Vec<UserId> = if reminders == 0 {
        if communications.is_empty() {
            commanders.to_vec()
        } else {
            communications.to_vec()
        }
    } else {
        communications.iter().chain(commanders).cloned().collect()
    };
    if to.is_empty() && because != DueBecause::Resolved {
        to = responders.to_vec();
    }
    let mut seen = std::collections::HashSet::new();
    to.retain(|u| seen.insert(u.clone()));
    to
}

/// An update's subject and text as the audience's template words them. `{{name}}` placeholders: `incident.number`,
/// `incident.title`, `incident.severity`, `incident.url`, `update.number`, `update.status`, `update.message`,
/// `update.conditions`, `update.actions`, `update.needs`, `update.author`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateTemplate {
    pub subject: String,
    pub body: String,
}

pub const UPDATE_PLACEHOLDERS: [&str; 11] = [
    "incident.number",
    "incident.title",
    "incident.severity",
    "incident.url",
    "update.number",
    "update.status",
    "update.message",
    "update.conditions",
    "update.actions",
    "update.needs",
    "update.author",
];

impl UpdateTemplate {
    pub fn default_for(audience: Audience) -> Self {
        match audience {
            Audience::Responders => Self {
                subject: "Update {{update.number}} on #{{incident.number}} {{incident.title}}: {{update.status}}"
                    .into(),
                body: "{{update.author}} posted an update on #{{incident.number}} ({{incident.severity}}, \
                       {{update.status}}):\n\n{{update.message}}\n\nConditions: {{update.conditions}}\n\
                       Actions: {{update.actions}}\nNeeds: {{update.needs}}\n\n{{incident.url}}"
                    .into(),
            },
            Audience::Subscribers => Self {
                subject: "[{{incident.severity}}] {{incident.title}}: {{update.status}}".into(),
                body: "{{update.message}}\n\nStatus: {{update.status}}\nIncident #{{incident.number}}: \
                       {{incident.url}}"
                    .into(),
            },
        }
    }

    /// Placeholders it names that Tocsin does not fill, as errors under `field`.
    pub fn check(&self, field: &str, errors: &mut ValidationErrors) {
        for (part, text) in [("subject", &self.subject), ("body", &self.body)] {
            for name in crate::template::placeholders(text) {
                if !UPDATE_PLACEHOLDERS.contains(&name) {
                    errors.push(
                        format!("{field}.{part}"),
                        format!(
                            "{{{{{name}}}}} is not a placeholder Tocsin fills; use {}",
                            UPDATE_PLACEHOLDERS.join(", ")
                        ),
                    );
                }
            }
        }
    }

    /// The subject and text for `update` of `incident`. Lines of a report part left empty are dropped.
    pub fn render(
        &self,
        incident: &Incident,
        update: &StatusUpdate,
        url: &str,
    ) -> (String, String) {
        let report = update.report.clone().unwrap_or_default();
        let value = |name: &str| -> Option<String> {
            Some(match name {
                "incident.number" => incident.number.to_string(),
                "incident.title" => incident.title.clone(),
                "incident.severity" => update.severity.as_str().to_owned(),
                "incident.url" => url.to_owned(),
                "update.number" => update.number.to_string(),
                "update.status" => update.status.clone(),
                "update.message" => update.message.clone(),
                "update.conditions" => report.conditions.clone(),
                "update.actions" => report.actions.clone(),
                "update.needs" => report.needs.clone(),
                "update.author" => update.posted_by.name.clone(),
                _ => return None,
            })
        };
        let fill = |text: &str| crate::template::render(text, &value, crate::template::Escape::Raw);
        const REPORT_PARTS: [&str; 3] = ["update.conditions", "update.actions", "update.needs"];
        let body = self
            .body
            .lines()
            .filter(|line| {
                let parts: Vec<_> = crate::template::placeholders(line)
                    .into_iter()
                    .filter(|p| REPORT_PARTS.contains(p))
                    .collect();
                parts.is_empty()
                    || parts
                        .iter()
                        .any(|p| value(p).is_some_and(|v| !v.is_empty()))
            })
            .map(fill)
            .collect::<Vec<_>>()
            .join("\n");
        let subject = fill(&self.subject).replace(['\r', '\n'], " ");
        (subject, body.trim().to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::incident::Stage;

    fn at(minute: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap() + Duration::minutes(minute)
    }

    fn incident() -> Incident {
        let (i, _) = Incident::open(
            IncidentId::generate(),
            42,
            "Checkout fails".into(),
            String::new(),
            Severity::Sev0,
            Vec::new(),
            &Actor::system(),
            at(0),
        );
        i
    }

    fn user(n: &str) -> UserId {
        UserId::from_trusted(format!("usr_{n}"))
    }

    #[test]
    fn specs_are_trimmed_bounded_and_name_an_audience() {
        let spec = UpdateSpec {
            message: "  Payments fail for 40% of customers. ".into(),
            report: Some(Report::default()),
            audiences: vec![
                Audience::Subscribers,
                Audience::Responders,
                Audience::Subscribers,
            ],
        }
        .checked()
        .unwrap();
        assert_eq!(spec.message, "Payments fail for 40% of customers.");
        assert_eq!(spec.report, None, "an empty report is no report");
        assert_eq!(spec.audiences, Audience::ALL.to_vec());
        let errors = UpdateSpec {
            message: " ".into(),
            report: Some(Report {
                needs: "x".repeat(MAX_REPORT_CHARS + 1),
                ..Report::default()
            }),
            audiences: Vec::new(),
        }
        .checked()
        .unwrap_err();
        let fields: Vec<_> = errors.0.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["message", "report.needs", "audiences"]);
    }

    #[test]
    fn a_cadence_makes_updates_due_and_prompts_come_shortly_after_changes() {
        let mut i = incident();
        assert_eq!(UpdateDue::on_open(&i, None), None);
        let due = UpdateDue::on_open(&i, Some(30)).unwrap();
        assert_eq!((due.due_at, due.because), (at(30), DueBecause::Cadence));
        assert_eq!(
            UpdateDue::after_update(&i, Some(30), at(20))
                .unwrap()
                .due_at,
            at(50)
        );
        // A change prompts an update in five minutes, unless one is due sooner.
        let prompted = UpdateDue::prompted(Some(due), DueBecause::SeverityChanged, at(10));
        assert_eq!(
            (prompted.due_at, prompted.because),
            (at(15), DueBecause::SeverityChanged)
        );
        let sooner = UpdateDue::prompted(Some(due), DueBecause::SeverityChanged, at(28));
        assert_eq!(sooner, due);
        // The resolution always asks for its own update; nothing is owed after one is posted.
        i.status = IncidentStatus::Resolved;
        let last = UpdateDue::prompted(Some(due), DueBecause::Resolved, at(28));
        assert_eq!((last.due_at, last.because), (at(33), DueBecause::Resolved));
        assert_eq!(UpdateDue::after_update(&i, Some(30), at(34)), None);
    }

    #[test]
    fn ignored_reminders_escalate_then_repeat_and_a_resolution_prompt_stops() {
        let due = UpdateDue::fresh(at(30), DueBecause::Cadence);
        let second = due.after_reminder(Some(30), at(30)).unwrap();
        assert_eq!((second.due_at, second.reminders), (at(40), 1));
        let third = second.after_reminder(Some(30), at(40)).unwrap();
        assert_eq!((third.due_at, third.reminders), (at(70), 2));
        let without = second.after_reminder(None, at(40)).unwrap();
        assert_eq!(without.due_at, at(70));
        let resolved = UpdateDue::fresh(at(5), DueBecause::Resolved);
        let again = resolved.after_reminder(None, at(5)).unwrap();
        assert_eq!(again.due_at, at(15));
        assert_eq!(again.after_reminder(None, at(15)), None);
    }

    #[test]
    fn reminders_go_to_the_communications_lead_first_then_both_leads() {
        let (comms, cmd, resp) = (vec![user("c")], vec![user("i")], vec![user("r"), user("c")]);
        let cadence = DueBecause::Cadence;
        assert_eq!(reminder_recipients(cadence, 0, &comms, &cmd, &resp), comms);
        assert_eq!(reminder_recipients(cadence, 0, &[], &cmd, &resp), cmd);
        assert_eq!(
            reminder_recipients(cadence, 1, &comms, &cmd, &resp),
            [user("c"), user("i")]
        );
        assert_eq!(reminder_recipients(cadence, 0, &[], &[], &resp), resp);
        assert_eq!(
            reminder_recipients(cadence, 3, &cmd, &cmd, &resp),
            cmd,
            "once each"
        );
        // Nobody led it: nobody is asked for the update its resolution prompts.
        assert!(reminder_recipients(DueBecause::Resolved, 0, &[], &[], &resp).is_empty());
        assert_eq!(
            reminder_recipients(DueBecause::Resolved, 0, &[], &cmd, &resp),
            cmd
        );
    }

    #[test]
    fn templates_fill_the_update_and_drop_empty_report_lines() {
        let mut i = incident();
        i.stage = Stage::Identified;
        let update = StatusUpdate {
            incident_id: i.id.clone(),
            number: 2,
            status: status_of(&i).into(),
            severity: i.severity,
            message: "We found the bad deploy.\nRolling back.".into(),
            report: Some(Report {
                conditions: String::new(),
                actions: "Rolling back deploy 41".into(),
                needs: String::new(),
            }),
            audiences: Audience::ALL.to_vec(),
            posted_at: at(10),
            posted_by: Actor::system(),
        };
        let (subject, body) = UpdateTemplate::default_for(Audience::Responders).render(
            &i,
            &update,
            "https://tocsin.example.com/incidents/42",
        );
        assert_eq!(subject, "Update 2 on #42 Checkout fails: identified");
        assert_eq!(
            body,
            "Tocsin posted an update on #42 (SEV-0, identified):\n\nWe found the bad deploy.\nRolling back.\n\n\
             Actions: Rolling back deploy 41\n\nhttps://tocsin.example.com/incidents/42"
        );
        let mut errors = ValidationErrors::default();
        UpdateTemplate {
            subject: "{{incident.title}} {{alert.summary}}".into(),
            body: String::new(),
        }
        .check("templates.subscribers", &mut errors);
        assert_eq!(errors.0[0].field, "templates.subscribers.subject");
    }
}
