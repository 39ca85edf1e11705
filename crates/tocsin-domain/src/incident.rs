//! Incidents: their life cycle (triggered → acknowledged → resolved) and the timeline that records every change.

use crate::catalog::HttpUrl;
use crate::error::FieldError;
use crate::ids::{IncidentId, ServiceId};
use crate::severity::Severity;
use crate::timeline::{Edit, SeverityCause};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

pub use crate::timeline::{ResolveCause, TimelineEntry, TimelineEvent, TimelineKind};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum IncidentStatus {
    Triggered,
    Acknowledged,
    Resolved,
}

impl IncidentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Triggered => "triggered",
            Self::Acknowledged => "acknowledged",
            Self::Resolved => "resolved",
        }
    }
}

impl FromStr for IncidentStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "triggered" => Ok(Self::Triggered),
            "acknowledged" => Ok(Self::Acknowledged),
            "resolved" => Ok(Self::Resolved),
            _ => Err(format!(
                "must be one of triggered, acknowledged, resolved (got {s:?})"
            )),
        }
    }
}

impl fmt::Display for IncidentStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ActorKind {
    User,
    Token,
    Integration,
    System,
}

/// Who did something. The name is captured at the time so the timeline still reads well if the actor is deleted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Actor {
    pub kind: ActorKind,
    pub id: Option<String>,
    pub name: String,
}

impl Actor {
    pub fn system() -> Self {
        Self {
            kind: ActorKind::System,
            id: None,
            name: "Tocsin".into(),
        }
    }

    /// Whether this is the person `user` acting themselves.
    pub fn is_user(&self, user: &crate::ids::UserId) -> bool {
        self.kind == ActorKind::User && self.id.as_deref() == Some(user.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Incident {
    pub id: IncidentId,
    /// Human number, shown as #42.
    pub number: i64,
    pub title: String,
    pub description: String,
    pub severity: Severity,
    pub status: IncidentStatus,
    pub services: Vec<ServiceId>,
    pub created_at: DateTime<Utc>,
    pub created_by: Actor,
    pub updated_at: DateTime<Utc>,
    pub acknowledged_at: Option<DateTime<Utc>>,
    pub acknowledged_by: Option<Actor>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub resolved_by: Option<Actor>,
    #[serde(default)]
    /// Since when the incident has had nobody: its escalation reached no one (no policy, nobody on call, nobody
    /// with a usable contact method). Cleared once someone is paged, acknowledges or resolves it.
    pub unassigned_since: Option<DateTime<Utc>>,
    /// What customers notice, in a few words (Markdown).
    #[serde(default)]
    pub customer_impact: String,
    /// Where responders look: dashboards, the chat channel, the tracking ticket.
    #[serde(default)]
    pub links: Vec<IncidentLink>,
    /// Where the response stands while it is open.
    #[serde(default)]
    pub stage: Stage,
    /// The times of its course, as they happened or as people corrected them.
    #[serde(default)]
    pub milestones: Milestones,
    /// The numbers of incidents people linked to this one as related (the link is kept on both).
    #[serde(default)]
    pub related: Vec<i64>,
    /// The number of the incident this one was merged into, which carries its alerts and response.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merged_into: Option<i64>,
}

/// Where the response to an open incident stands: finding the cause, knowing it, or watching a fix hold.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    #[default]
    Investigating,
    Identified,
    Monitoring,
}

impl Stage {
    pub const ALL: [Stage; 3] = [Self::Investigating, Self::Identified, Self::Monitoring];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Investigating => "investigating",
            Self::Identified => "identified",
            Self::Monitoring => "monitoring",
        }
    }
}

impl FromStr for Stage {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|v| v.as_str() == s.trim())
            .ok_or_else(|| {
                format!("must be one of investigating, identified, monitoring (got {s:?})")
            })
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A moment in an incident's course.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Milestone {
    /// When customers began to be harmed, often before anyone noticed.
    ImpactStarted,
    Detected,
    Acknowledged,
    /// When the harm stopped, though the incident may stay open while a fix is watched.
    Mitigated,
    Resolved,
}

impl Milestone {
    pub const ALL: [Milestone; 5] = [
        Self::ImpactStarted,
        Self::Detected,
        Self::Acknowledged,
        Self::Mitigated,
        Self::Resolved,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::ImpactStarted => "impact_started",
            Self::Detected => "detected",
            Self::Acknowledged => "acknowledged",
            Self::Mitigated => "mitigated",
            Self::Resolved => "resolved",
        }
    }

    /// As a sentence names it.
    pub fn label(self) -> &'static str {
        match self {
            Self::ImpactStarted => "impact started",
            Self::Detected => "detected",
            Self::Acknowledged => "acknowledged",
            Self::Mitigated => "mitigated",
            Self::Resolved => "resolved",
        }
    }

    /// Detection, acknowledgement and resolution happened, so they are corrected but never removed.
    pub fn may_be_cleared(self) -> bool {
        matches!(self, Self::ImpactStarted | Self::Mitigated)
    }
}

impl FromStr for Milestone {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|v| v.as_str() == s.trim())
            .ok_or_else(|| {
                format!(
                    "must be one of impact_started, detected, acknowledged, mitigated, resolved (got {s:?})"
                )
            })
    }
}

/// The times of an incident's course. Detected, acknowledged and resolved are recorded as they happen; people add
/// when the impact started and when it was mitigated, and correct any of them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Milestones {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub impact_started: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detected: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acknowledged: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mitigated: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved: Option<DateTime<Utc>>,
}

impl Milestones {
    pub fn get(&self, m: Milestone) -> Option<DateTime<Utc>> {
        match m {
            Milestone::ImpactStarted => self.impact_started,
            Milestone::Detected => self.detected,
            Milestone::Acknowledged => self.acknowledged,
            Milestone::Mitigated => self.mitigated,
            Milestone::Resolved => self.resolved,
        }
    }

    fn slot(&mut self, m: Milestone) -> &mut Option<DateTime<Utc>> {
        match m {
            Milestone::ImpactStarted => &mut self.impact_started,
            Milestone::Detected => &mut self.detected,
            Milestone::Acknowledged => &mut self.acknowledged,
            Milestone::Mitigated => &mut self.mitigated,
            Milestone::Resolved => &mut self.resolved,
        }
    }

    /// Refuses times out of order (impact before detection, detection before acknowledgement and resolution,
    /// mitigation before resolution…), on the one of the pair that `moved` names, or the later one.
    pub fn check_order(&self, moved: &[Milestone]) -> Result<(), FieldError> {
        use Milestone::*;
        const BEFORE: [(Milestone, Milestone); 6] = [
            (ImpactStarted, Detected),
            (ImpactStarted, Mitigated),
            (Detected, Acknowledged),
            (Detected, Resolved),
            (Acknowledged, Resolved),
            (Mitigated, Resolved),
        ];
        for (earlier, later) in BEFORE {
            if let (Some(a), Some(b)) = (self.get(earlier), self.get(later))
                && a > b
            {
                let (field, message) = if moved.contains(&earlier) && !moved.contains(&later) {
                    (
                        earlier,
                        format!(
                            "must not be after {} ({})",
                            later.label(),
                            b.format("%Y-%m-%d %H:%M UTC")
                        ),
                    )
                } else {
                    (
                        later,
                        format!(
                            "must not be before {} ({})",
                            earlier.label(),
                            a.format("%Y-%m-%d %H:%M UTC")
                        ),
                    )
                };
                return Err(FieldError::new(
                    format!("milestones.{}", field.as_str()),
                    message,
                ));
            }
        }
        Ok(())
    }

    /// Fills what the incident's own times say and nobody recorded (incidents from before milestones were kept).
    pub fn completed(mut self, incident: &Incident) -> Self {
        self.detected.get_or_insert(incident.created_at);
        if let Some(t) = incident.acknowledged_at {
            self.acknowledged.get_or_insert(t);
        }
        if let Some(t) = incident.resolved_at {
            self.resolved.get_or_insert(t);
        }
        self
    }
}

impl Incident {
    /// The incident with `recorded` as its milestones, completed from its own times where they are missing.
    pub fn with_milestones(mut self, recorded: Milestones) -> Self {
        self.milestones = recorded.completed(&self);
        self
    }
}

/// How far ahead of the server's clock a recorded time may be, for clocks that disagree a little.
const CLOCK_SKEW_MINUTES: i64 = 5;

/// A link kept with an incident.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IncidentLink {
    #[schema(value_type = String, example = "https://grafana.example.com/d/checkout")]
    pub url: HttpUrl,
    /// What it is, e.g. "Dashboard".
    #[serde(default)]
    pub label: String,
}

/// A change to an incident's description of itself, checked at the edge: only what is set changes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IncidentEdit {
    pub title: Option<String>,
    pub description: Option<String>,
    pub customer_impact: Option<String>,
    pub add_services: Vec<ServiceId>,
    pub remove_services: Vec<ServiceId>,
    pub add_links: Vec<IncidentLink>,
    /// Links to remove, by URL.
    pub remove_links: Vec<HttpUrl>,
    pub stage: Option<Stage>,
    /// Milestones to record or correct (a time), or to clear (`None`: only impact started and mitigated).
    pub milestones: Vec<(Milestone, Option<DateTime<Utc>>)>,
    /// Incidents to link as related, or to unlink, by number.
    pub add_related: Vec<i64>,
    pub remove_related: Vec<i64>,
}

/// Most incidents one incident is linked to as related.
pub const MAX_RELATED: usize = 20;

/// Longest description or customer impact, in bytes.
pub const MAX_TEXT: usize = 65_536;
/// Most links an incident keeps.
pub const MAX_LINKS: usize = 50;

/// A validated incident description or customer impact: at most 64 KiB, surrounding blanks trimmed.
pub fn parse_text(field: &str, s: &str) -> Result<String, FieldError> {
    refuse_nul(field, s)?;
    let t = s.trim();
    if t.len() > MAX_TEXT {
        return Err(FieldError::new(field, "must be at most 65536 bytes"));
    }
    Ok(t.to_owned())
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    #[error("incident #{0} is resolved; it can no longer be acknowledged")]
    AlreadyResolved(i64),
    #[error("incident #{0} is resolved; there is nobody to escalate to")]
    EscalatingResolved(i64),
    #[error("incident #{0} is resolved; it cannot be reassigned")]
    ReassigningResolved(i64),
    #[error(
        "incident #{0} is resolved; reopen it by a new alert or declare a new incident to page people"
    )]
    AddingToResolved(i64),
    #[error("incident #{0} is resolved; roles are given while an incident is open")]
    AssigningResolved(i64),
    #[error("incident #{0} is resolved; there is no response to join")]
    JoiningResolved(i64),
    #[error("incident #{0} cannot be merged into itself; name the incident that carries on")]
    MergingIntoItself(i64),
    #[error("incident #{0} was merged into #{1} already")]
    AlreadyMerged(i64, i64),
    #[error("incident #{0} was merged into #{1}; merge into #{1} instead")]
    MergingIntoMerged(i64, i64),
    #[error(
        "incident #{0} is resolved; merge it into an open incident instead, or merge the other way"
    )]
    MergingIntoResolved(i64),
    #[error("run {run} is {status}; only a run awaiting approval is approved or declined")]
    RunNotAwaitingApproval { run: String, status: &'static str },
    #[error(
        "you asked for this run; a second responder approves it (or you decline it to withdraw it)"
    )]
    ApprovingOwnRun,
    #[error("run {run} is {status}; only a failed, timed-out or interrupted run is tried again")]
    RetryingRun { run: String, status: &'static str },
    #[error("incident #{0} is resolved; runbook steps run for open incidents")]
    RunningOnResolved(i64),
    #[error("incident #{0} was merged into #{1}; post updates on #{1}")]
    UpdatingMerged(i64, i64),
}

/// A validated incident title: 1–255 characters.
pub fn parse_title(s: &str) -> Result<String, FieldError> {
    refuse_nul("title", s)?;
    let t = s.trim();
    if t.is_empty() {
        return Err(FieldError::new("title", "must not be empty"));
    }
    Ok(truncate_chars(t, 255))
}

/// A validated Markdown note: 1 to 65,536 bytes.
pub fn parse_note(s: &str) -> Result<String, FieldError> {
    refuse_nul("body", s)?;
    if s.trim().is_empty() {
        return Err(FieldError::new("body", "must not be empty"));
    }
    if s.len() > 65_536 {
        return Err(FieldError::new("body", "must be at most 65536 bytes"));
    }
    Ok(s.to_owned())
}

/// No database column takes NUL, and no person means one.
fn refuse_nul(field: &str, s: &str) -> Result<(), FieldError> {
    if s.contains('\0') {
        return Err(FieldError::new(field, "must not contain the NUL character"));
    }
    Ok(())
}

pub fn truncate_chars(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => s[..i].to_owned(),
        None => s.to_owned(),
    }
}

impl Incident {
    #[allow(clippy::too_many_arguments)]
    pub fn open(
        id: IncidentId,
        number: i64,
        title: String,
        description: String,
        severity: Severity,
        services: Vec<ServiceId>,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> (Self, TimelineEntry) {
        let entry = TimelineEntry::new(
            now,
            actor,
            TimelineEvent::Opened {
                title: title.clone(),
                severity,
                alert_id: None,
            },
        );
        let incident = Self {
            id,
            number,
            title,
            description,
            severity,
            status: IncidentStatus::Triggered,
            services,
            created_at: now,
            created_by: actor.clone(),
            updated_at: now,
            acknowledged_at: None,
            acknowledged_by: None,
            resolved_at: None,
            resolved_by: None,
            unassigned_since: None,
            customer_impact: String::new(),
            links: Vec::new(),
            stage: Stage::Investigating,
            milestones: Milestones {
                detected: Some(now),
                ..Default::default()
            },
            related: Vec::new(),
            merged_into: None,
        };
        (incident, entry)
    }

    /// Acknowledges; acknowledging twice changes nothing (`Ok(None)`), so retries are safe.
    pub fn acknowledge(
        &mut self,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<Option<TimelineEntry>, TransitionError> {
        match self.status {
            IncidentStatus::Resolved => Err(TransitionError::AlreadyResolved(self.number)),
            IncidentStatus::Acknowledged => Ok(None),
            IncidentStatus::Triggered => {
                self.status = IncidentStatus::Acknowledged;
                self.unassigned_since = None;
                self.acknowledged_at = Some(now);
                self.acknowledged_by = Some(actor.clone());
                self.milestones.acknowledged.get_or_insert(now);
                self.updated_at = now;
                Ok(Some(TimelineEntry::new(
                    now,
                    actor,
                    TimelineEvent::Acknowledged,
                )))
            }
        }
    }

    /// Hands an acknowledged incident to other people: it is unacknowledged again, so that the new assignees are
    /// paged and must acknowledge it themselves, and escalation runs for them. Returns whether anything changed;
    /// the reassignment itself is the timeline entry.
    pub fn reopen_for_reassignment(&mut self, now: DateTime<Utc>) -> bool {
        if self.status != IncidentStatus::Acknowledged {
            return false;
        }
        self.status = IncidentStatus::Triggered;
        self.acknowledged_at = None;
        self.acknowledged_by = None;
        self.updated_at = now;
        true
    }

    /// Resolves; resolving twice changes nothing. `cause` explains automatic resolution on the timeline.
    pub fn resolve(
        &mut self,
        actor: &Actor,
        now: DateTime<Utc>,
        cause: Option<ResolveCause>,
    ) -> Option<TimelineEntry> {
        if self.status == IncidentStatus::Resolved {
            return None;
        }
        self.status = IncidentStatus::Resolved;
        self.unassigned_since = None;
        self.resolved_at = Some(now);
        self.resolved_by = Some(actor.clone());
        self.milestones.resolved.get_or_insert(now);
        self.updated_at = now;
        Some(TimelineEntry::new(
            now,
            actor,
            TimelineEvent::Resolved { cause },
        ))
    }

    pub fn set_severity(
        &mut self,
        severity: Severity,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Option<TimelineEntry> {
        if self.severity == severity {
            return None;
        }
        let from = self.severity;
        self.severity = severity;
        self.updated_at = now;
        Some(TimelineEntry::new(
            now,
            actor,
            TimelineEvent::SeverityChanged {
                from,
                to: severity,
                cause: None,
            },
        ))
    }

    /// Applies an edit, all of it or (when refused) none of it; returns the entry listing what changed, or none when
    /// nothing did. Adding a service it has or a link it keeps, or removing one it does not, changes nothing.
    pub fn edit(
        &mut self,
        edit: &IncidentEdit,
        service_name: impl Fn(&ServiceId) -> String,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<Option<TimelineEntry>, FieldError> {
        let mut next = self.clone();
        let entry = next.apply_edit(edit, service_name, actor, now)?;
        *self = next;
        Ok(entry)
    }

    fn apply_edit(
        &mut self,
        edit: &IncidentEdit,
        service_name: impl Fn(&ServiceId) -> String,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<Option<TimelineEntry>, FieldError> {
        if let Some(n) = edit
            .remove_services
            .iter()
            .position(|s| edit.add_services.contains(s))
        {
            return Err(FieldError::new(
                format!("remove_services[{n}]"),
                "is also in add_services",
            ));
        }
        if let Some(n) = edit
            .remove_links
            .iter()
            .position(|u| edit.add_links.iter().any(|l| &l.url == u))
        {
            return Err(FieldError::new(
                format!("remove_links[{n}]"),
                "is also in add_links",
            ));
        }
        let mut changes = Vec::new();
        if let Some(title) = edit.title.as_ref().filter(|t| **t != self.title) {
            changes.push(Edit::Title {
                from: std::mem::replace(&mut self.title, title.clone()),
                to: title.clone(),
            });
        }
        if let Some(d) = edit
            .description
            .as_ref()
            .filter(|d| **d != self.description)
        {
            self.description = d.clone();
            changes.push(Edit::Description);
        }
        if let Some(c) = edit
            .customer_impact
            .as_ref()
            .filter(|c| **c != self.customer_impact)
        {
            self.customer_impact = c.clone();
            changes.push(Edit::CustomerImpact { to: c.clone() });
        }
        for s in &edit.add_services {
            if !self.services.contains(s) {
                self.services.push(s.clone());
                changes.push(Edit::ServiceAdded {
                    service: service_name(s),
                });
            }
        }
        for s in &edit.remove_services {
            if let Some(at) = self.services.iter().position(|x| x == s) {
                self.services.remove(at);
                changes.push(Edit::ServiceRemoved {
                    service: service_name(s),
                });
            }
        }
        for url in &edit.remove_links {
            if let Some(at) = self.links.iter().position(|l| &l.url == url) {
                self.links.remove(at);
                changes.push(Edit::LinkRemoved { url: url.clone() });
            }
        }
        for link in &edit.add_links {
            if !self.links.iter().any(|l| l.url == link.url) {
                self.links.push(link.clone());
                changes.push(Edit::LinkAdded { link: link.clone() });
            }
        }
        if self.links.len() > MAX_LINKS {
            return Err(FieldError::new(
                "links",
                "an incident keeps at most 50 links",
            ));
        }
        if let Some(stage) = edit.stage.filter(|s| *s != self.stage) {
            if self.status == IncidentStatus::Resolved {
                return Err(FieldError::new(
                    "stage",
                    format!("#{} is resolved; its stage no longer changes", self.number),
                ));
            }
            changes.push(Edit::StageChanged {
                from: std::mem::replace(&mut self.stage, stage),
                to: stage,
            });
            // Watching a fix hold means the harm stopped, unless someone said when it did.
            if stage == Stage::Monitoring
                && self.milestones.mitigated.is_none()
                && !edit
                    .milestones
                    .iter()
                    .any(|(m, _)| *m == Milestone::Mitigated)
            {
                self.milestones.mitigated = Some(now);
                changes.push(Edit::MilestoneSet {
                    milestone: Milestone::Mitigated,
                    at: Some(now),
                });
            }
        }
        for (milestone, at) in &edit.milestones {
            let field = || format!("milestones.{}", milestone.as_str());
            match at {
                None if !milestone.may_be_cleared() => {
                    return Err(FieldError::new(
                        field(),
                        "happened, so it can be corrected but not removed",
                    ));
                }
                Some(t) if *t > now + chrono::Duration::minutes(CLOCK_SKEW_MINUTES) => {
                    return Err(FieldError::new(field(), "is in the future"));
                }
                // An acknowledgement stays part of the course even when a reassignment asks for a new one.
                Some(_)
                    if (*milestone == Milestone::Acknowledged
                        && self.milestones.acknowledged.is_none())
                        || (*milestone == Milestone::Resolved
                            && self.milestones.resolved.is_none()) =>
                {
                    return Err(FieldError::new(
                        field(),
                        format!("#{} has not been {} yet", self.number, milestone.label()),
                    ));
                }
                _ => {}
            }
            let slot = self.milestones.slot(*milestone);
            if slot != at {
                *slot = *at;
                changes.push(Edit::MilestoneSet {
                    milestone: *milestone,
                    at: *at,
                });
            }
        }
        for (n, number) in edit.add_related.iter().enumerate() {
            if *number == self.number {
                return Err(FieldError::new(
                    format!("add_related[{n}]"),
                    "an incident is not related to itself",
                ));
            }
            if !self.related.contains(number) {
                self.related.push(*number);
                changes.push(Edit::RelatedAdded { number: *number });
            }
        }
        for number in &edit.remove_related {
            if let Some(at) = self.related.iter().position(|r| r == number) {
                self.related.remove(at);
                changes.push(Edit::RelatedRemoved { number: *number });
            }
        }
        if self.related.len() > MAX_RELATED {
            return Err(FieldError::new(
                "add_related",
                format!("an incident is linked to at most {MAX_RELATED} related incidents"),
            ));
        }
        let moved: Vec<Milestone> = edit.milestones.iter().map(|(m, _)| *m).collect();
        self.milestones.check_order(&moved)?;
        if changes.is_empty() {
            return Ok(None);
        }
        self.updated_at = now;
        Ok(Some(TimelineEntry::new(
            now,
            actor,
            TimelineEvent::Edited { changes },
        )))
    }

    /// Raises the severity to that of an alert that joined or got worse (`cause` says which), when the alert's
    /// is worse; a milder alert changes nothing, since the incident is as severe as its worst alert.
    pub fn raise_for_alert(
        &mut self,
        severity: Severity,
        cause: SeverityCause,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Option<TimelineEntry> {
        if severity >= self.severity {
            return None;
        }
        let mut entry = self.set_severity(severity, actor, now)?;
        if let TimelineEvent::SeverityChanged { cause: why, .. } = &mut entry.event {
            *why = Some(cause);
        }
        Some(entry)
    }

    /// Merges this incident into `survivor`, which carries on: this one is resolved and points at it, and the
    /// survivor becomes as severe as the worse of the two. `alerts` is how many alerts move with it. Returns the
    /// entries of this incident's timeline, then the survivor's.
    pub fn merge_into(
        &mut self,
        survivor: &mut Incident,
        alerts: u32,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<(Vec<TimelineEntry>, Vec<TimelineEntry>), TransitionError> {
        if self.id == survivor.id {
            return Err(TransitionError::MergingIntoItself(self.number));
        }
        if let Some(into) = self.merged_into {
            return Err(TransitionError::AlreadyMerged(self.number, into));
        }
        if let Some(into) = survivor.merged_into {
            return Err(TransitionError::MergingIntoMerged(survivor.number, into));
        }
        if survivor.status == IncidentStatus::Resolved {
            return Err(TransitionError::MergingIntoResolved(survivor.number));
        }
        let mut mine = vec![TimelineEntry::new(
            now,
            actor,
            TimelineEvent::MergedInto {
                into: survivor.number,
                title: survivor.title.clone(),
            },
        )];
        mine.extend(self.resolve(actor, now, None));
        self.merged_into = Some(survivor.number);
        self.updated_at = now;
        let mut theirs = vec![TimelineEntry::new(
            now,
            actor,
            TimelineEvent::Merged {
                from: self.number,
                title: self.title.clone(),
                alerts,
            },
        )];
        theirs.extend(survivor.raise_for_alert(
            self.severity,
            SeverityCause::Merged { from: self.number },
            actor,
            now,
        ));
        survivor.updated_at = now;
        Ok((mine, theirs))
    }

    pub fn note(&mut self, body: String, actor: &Actor, now: DateTime<Utc>) -> TimelineEntry {
        self.updated_at = now;
        TimelineEntry::new(now, actor, TimelineEvent::Note { body })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::AlertId;
    use chrono::TimeZone;

    fn user() -> Actor {
        Actor {
            kind: ActorKind::User,
            id: Some("usr_x".into()),
            name: "Alice".into(),
        }
    }

    fn incident() -> Incident {
        let now = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        Incident::open(
            IncidentId::generate(),
            1,
            "Down".into(),
            String::new(),
            Severity::Sev2,
            vec![],
            &Actor::system(),
            now,
        )
        .0
    }

    #[test]
    fn the_course_moves_by_stage_and_records_corrected_times() {
        let t = |m| Utc.with_ymd_and_hms(2026, 1, 1, 0, m, 0).unwrap();
        let mut i = incident();
        assert_eq!(
            (i.stage, i.milestones.detected),
            (Stage::Investigating, Some(t(0)))
        );
        let none = |_: &ServiceId| String::new();
        let change = |stage, milestones| IncidentEdit {
            stage,
            milestones,
            ..Default::default()
        };
        // Monitoring means the harm stopped: mitigated is recorded then, unless it was given.
        let e = i
            .edit(
                &change(Some(Stage::Monitoring), vec![]),
                none,
                &user(),
                t(10),
            )
            .unwrap()
            .unwrap();
        assert_eq!(i.milestones.mitigated, Some(t(10)));
        let TimelineEvent::Edited { changes } = e.event else {
            panic!()
        };
        assert_eq!(changes.len(), 2, "{changes:?}");
        // Times are corrected, impact started added, and a time in the future or of what did not happen refused.
        let corrected = change(
            None,
            vec![
                (Milestone::ImpactStarted, Some(t(0))),
                (Milestone::Mitigated, Some(t(8))),
            ],
        );
        i.edit(&corrected, none, &user(), t(11)).unwrap().unwrap();
        assert_eq!(
            (i.milestones.impact_started, i.milestones.mitigated),
            (Some(t(0)), Some(t(8)))
        );
        let refuse = |i: &mut Incident, m, at| {
            i.edit(&change(None, vec![(m, at)]), none, &user(), t(11))
                .unwrap_err()
                .message
        };
        assert_eq!(
            refuse(&mut i, Milestone::Mitigated, Some(t(30))),
            "is in the future"
        );
        assert_eq!(
            refuse(&mut i, Milestone::Acknowledged, Some(t(5))),
            "#1 has not been acknowledged yet"
        );
        assert_eq!(
            refuse(&mut i, Milestone::Detected, None),
            "happened, so it can be corrected but not removed"
        );
        i.edit(
            &change(None, vec![(Milestone::Mitigated, None)]),
            none,
            &user(),
            t(12),
        )
        .unwrap();
        assert_eq!(
            i.milestones.mitigated, None,
            "added by people, removed by them"
        );
        // Acknowledging and resolving record their times; a resolved incident's stage stays.
        i.acknowledge(&user(), t(13)).unwrap();
        i.resolve(&user(), t(14), None);
        assert_eq!(
            (i.milestones.acknowledged, i.milestones.resolved),
            (Some(t(13)), Some(t(14)))
        );
        let after = i
            .edit(
                &change(Some(Stage::Identified), vec![]),
                none,
                &user(),
                t(15),
            )
            .unwrap_err();
        assert_eq!(
            (after.field.as_str(), after.message.as_str()),
            ("stage", "#1 is resolved; its stage no longer changes")
        );
        // Times keep their order: the one moved is refused.
        let early = i
            .edit(
                &change(
                    None,
                    vec![(
                        Milestone::Resolved,
                        Some(t(0) - chrono::Duration::minutes(1)),
                    )],
                ),
                none,
                &user(),
                t(15),
            )
            .unwrap_err();
        assert_eq!(early.field, "milestones.resolved");
        assert!(
            early.message.starts_with("must not be before"),
            "{}",
            early.message
        );
        let late = i
            .edit(
                &change(None, vec![(Milestone::ImpactStarted, Some(t(14)))]),
                none,
                &user(),
                t(15),
            )
            .unwrap_err();
        assert_eq!(late.field, "milestones.impact_started", "{}", late.message);
        assert_eq!(
            i.milestones.impact_started,
            Some(t(0)),
            "a refused edit changes nothing"
        );
        // A correction after the fact is what postmortems need.
        i.edit(
            &change(None, vec![(Milestone::Acknowledged, Some(t(12)))]),
            none,
            &user(),
            t(15),
        )
        .unwrap();
        assert_eq!(i.milestones.acknowledged, Some(t(12)));
    }

    #[test]
    fn incidents_from_before_milestones_read_their_times_from_what_happened() {
        let t = |m| Utc.with_ymd_and_hms(2026, 1, 1, 0, m, 0).unwrap();
        let mut i = incident();
        i.acknowledge(&user(), t(3)).unwrap();
        i.resolve(&user(), t(9), None);
        let read = i.clone().with_milestones(Milestones::default());
        assert_eq!(
            (
                read.milestones.detected,
                read.milestones.acknowledged,
                read.milestones.resolved,
                read.milestones.mitigated
            ),
            (Some(t(0)), Some(t(3)), Some(t(9)), None)
        );
        let corrected = Milestones {
            detected: Some(t(1)),
            ..Default::default()
        };
        assert_eq!(
            i.with_milestones(corrected).milestones.detected,
            Some(t(1)),
            "a correction wins"
        );
    }

    #[test]
    fn life_cycle_records_who_and_when_and_is_idempotent() {
        let t0 = Utc.with_ymd_and_hms(2026, 1, 1, 0, 5, 0).unwrap();
        let mut i = incident();
        let e = i.acknowledge(&user(), t0).unwrap().unwrap();
        assert_eq!(
            (e.kind(), i.status, i.acknowledged_at),
            (
                TimelineKind::Acknowledged,
                IncidentStatus::Acknowledged,
                Some(t0)
            )
        );
        assert_eq!(i.acknowledge(&user(), t0), Ok(None));
        assert!(i.resolve(&user(), t0, None).is_some());
        assert!(i.resolve(&user(), t0, None).is_none());
        assert_eq!(
            i.acknowledge(&user(), t0),
            Err(TransitionError::AlreadyResolved(1))
        );
        assert_eq!(i.resolved_by, Some(user()));
    }

    #[test]
    fn severity_change_is_recorded_with_from_and_to() {
        let mut i = incident();
        assert!(
            i.set_severity(Severity::Sev2, &user(), i.created_at)
                .is_none()
        );
        let e = i
            .set_severity(Severity::Sev0, &user(), i.created_at)
            .unwrap();
        assert_eq!(
            e.event,
            TimelineEvent::SeverityChanged {
                from: Severity::Sev2,
                to: Severity::Sev0,
                cause: None,
            }
        );
    }

    #[test]
    fn an_edit_records_each_change_and_nothing_when_nothing_changed() {
        let mut i = incident();
        let (web, db) = (ServiceId::generate(), ServiceId::generate());
        i.services = vec![web.clone()];
        let dash = IncidentLink {
            url: HttpUrl::parse("https://grafana.example.com/d/1").unwrap(),
            label: "Dashboard".into(),
        };
        let name = |s: &ServiceId| if *s == web { "web".into() } else { "db".into() };
        let edit = IncidentEdit {
            title: Some("Checkout is down".into()),
            description: Some(i.description.clone()),
            customer_impact: Some("Nobody can pay".into()),
            add_services: vec![db.clone()],
            remove_services: vec![web.clone()],
            add_links: vec![dash.clone()],
            remove_links: vec![],
            ..Default::default()
        };
        let entry = i.edit(&edit, name, &user(), i.created_at).unwrap().unwrap();
        assert_eq!(
            entry.event,
            TimelineEvent::Edited {
                changes: vec![
                    Edit::Title {
                        from: "Down".into(),
                        to: "Checkout is down".into()
                    },
                    Edit::CustomerImpact {
                        to: "Nobody can pay".into()
                    },
                    Edit::ServiceAdded {
                        service: "db".into()
                    },
                    Edit::ServiceRemoved {
                        service: "web".into()
                    },
                    Edit::LinkAdded { link: dash.clone() },
                ]
            }
        );
        assert_eq!(i.services, vec![db]);
        assert_eq!(i.links, vec![dash]);
        assert_eq!(
            i.edit(&edit, name, &user(), i.created_at),
            Ok(None),
            "the same edit again"
        );
        let both = IncidentEdit {
            add_services: vec![web.clone()],
            remove_services: vec![web.clone()],
            ..IncidentEdit::default()
        };
        assert_eq!(
            i.edit(&both, name, &user(), i.created_at)
                .unwrap_err()
                .field,
            "remove_services[0]"
        );
        let too_many = IncidentEdit {
            add_links: (0..51)
                .map(|n| IncidentLink {
                    url: HttpUrl::parse(&format!("https://x.example.com/{n}")).unwrap(),
                    label: String::new(),
                })
                .collect(),
            ..IncidentEdit::default()
        };
        assert_eq!(
            i.edit(&too_many, name, &user(), i.created_at)
                .unwrap_err()
                .field,
            "links"
        );
    }

    #[test]
    fn a_worse_alert_raises_the_severity_and_a_milder_one_does_not() {
        let mut i = incident();
        let alert = AlertId::generate();
        let now = i.created_at;
        let joined = |summary: &str| SeverityCause::AlertJoined {
            alert_id: alert.clone(),
            summary: summary.into(),
        };
        assert!(
            i.raise_for_alert(Severity::Sev3, joined("warn"), &user(), now)
                .is_none()
        );
        let e = i
            .raise_for_alert(Severity::Sev1, joined("disk full"), &user(), now)
            .unwrap();
        assert_eq!(i.severity, Severity::Sev1);
        assert_eq!(
            e.event,
            TimelineEvent::SeverityChanged {
                from: Severity::Sev2,
                to: Severity::Sev1,
                cause: Some(SeverityCause::AlertJoined {
                    alert_id: alert,
                    summary: "disk full".into()
                }),
            }
        );
    }

    #[test]
    fn titles_and_notes_are_checked() {
        assert!(parse_title("  ").is_err());
        assert!(parse_title("a\0b").is_err() && parse_note("a\0b").is_err());
        assert!(parse_text("description", "a\0b").is_err());
        assert_eq!(parse_title(&"é".repeat(300)).unwrap().chars().count(), 255);
        assert!(parse_note("").is_err());
        assert!(parse_note(&"x".repeat(70_000)).is_err());
    }
}
