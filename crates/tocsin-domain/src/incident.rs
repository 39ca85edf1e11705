//! Incidents: their life cycle (triggered → acknowledged → resolved) and the timeline that records every change.

use crate::error::FieldError;
use crate::ids::{IncidentId, ServiceId};
use crate::severity::Severity;
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
}

/// A validated incident title: 1–255 characters.
pub fn parse_title(s: &str) -> Result<String, FieldError> {
    let t = s.trim();
    if t.is_empty() {
        return Err(FieldError::new("title", "must not be empty"));
    }
    Ok(truncate_chars(t, 255))
}

/// A validated Markdown note: 1 to 65,536 bytes.
pub fn parse_note(s: &str) -> Result<String, FieldError> {
    if s.trim().is_empty() {
        return Err(FieldError::new("body", "must not be empty"));
    }
    if s.len() > 65_536 {
        return Err(FieldError::new("body", "must be at most 65536 bytes"));
    }
    Ok(s.to_owned())
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
            TimelineEvent::SeverityChanged { from, to: severity },
        ))
    }

    pub fn note(&mut self, body: String, actor: &Actor, now: DateTime<Utc>) -> TimelineEntry {
        self.updated_at = now;
        TimelineEntry::new(now, actor, TimelineEvent::Note { body })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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
                to: Severity::Sev0
            }
        );
    }

    #[test]
    fn titles_and_notes_are_checked() {
        assert!(parse_title("  ").is_err());
        assert_eq!(parse_title(&"é".repeat(300)).unwrap().chars().count(), 255);
        assert!(parse_note("").is_err());
        assert!(parse_note(&"x".repeat(70_000)).is_err());
    }
}
