//! Alerts: what a sender reported, deduplicated by key within a service, and what each event does to them.
//!
//! [`apply_event`] is the whole dedup rule set, independent of the wire format: every sender's parser produces an
//! [`AlertEvent`], and every storage backend calls this function inside its transaction.

use crate::ids::{AlertId, IncidentId, IntegrationId, ServiceId};
use crate::incident::truncate_chars;
use crate::severity::{AlertSeverity, Severity, SeverityMap, SeverityTarget};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum AlertStatus {
    Triggered,
    Acknowledged,
    Resolved,
}

impl AlertStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Triggered => "triggered",
            Self::Acknowledged => "acknowledged",
            Self::Resolved => "resolved",
        }
    }
}

impl FromStr for AlertStatus {
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

impl fmt::Display for AlertStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum EventAction {
    Trigger,
    Acknowledge,
    Resolve,
    /// Changes some fields of the open alert and nothing else ([`AlertPatch`]).
    Update,
}

impl EventAction {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Trigger => "trigger",
            Self::Acknowledge => "acknowledge",
            Self::Resolve => "resolve",
            Self::Update => "update",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::Trigger,
            Self::Acknowledge,
            Self::Resolve,
            Self::Update,
        ]
        .into_iter()
        .find(|a| a.as_str() == s)
    }
}

/// What an update changes on the open alert; everything it does not name stays as it is. Opsgenie's message,
/// description and priority updates are these.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct AlertPatch {
    pub summary: Option<String>,
    pub severity: Option<AlertSeverity>,
    /// Labels set, others kept.
    pub labels: BTreeMap<String, String>,
    /// Keys set in the alert's custom details (when they are an object), others kept.
    pub custom_details: serde_json::Map<String, serde_json::Value>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Link {
    pub href: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Image {
    pub src: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub href: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alt: Option<String>,
}

/// What a trigger says about the alert.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertDetails {
    pub summary: String,
    pub source: String,
    pub severity: AlertSeverity,
    /// When the sender says the condition started.
    pub timestamp: Option<DateTime<Utc>>,
    pub component: Option<String>,
    pub group: Option<String>,
    pub class: Option<String>,
    pub custom_details: serde_json::Value,
    pub links: Vec<Link>,
    pub images: Vec<Image>,
    pub client: Option<String>,
    pub client_url: Option<String>,
    /// Name/value pairs that routing rules and silences match: Alertmanager's labels, Opsgenie's tags and details,
    /// fields a generic mapping picks out.
    pub labels: BTreeMap<String, String>,
    /// When the alert resolves by itself unless the sender posts it again: Alertmanager's `endsAt`, for senders
    /// that post to its API and stop posting once the condition clears (Prometheus, vmalert).
    pub ends_at: Option<DateTime<Utc>>,
}

impl AlertDetails {
    /// Details with only the required fields set.
    pub fn new(
        summary: impl Into<String>,
        source: impl Into<String>,
        severity: AlertSeverity,
    ) -> Self {
        Self {
            summary: summary.into(),
            source: source.into(),
            severity,
            timestamp: None,
            component: None,
            group: None,
            class: None,
            custom_details: serde_json::Value::Null,
            links: vec![],
            images: vec![],
            client: None,
            client_url: None,
            labels: BTreeMap::new(),
            ends_at: None,
        }
    }
}

/// A sender's event, whatever its wire format.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlertEvent {
    pub action: EventAction,
    pub dedup_key: String,
    /// Present for triggers.
    pub details: Option<AlertDetails>,
    /// Present for updates.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub patch: Option<AlertPatch>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Alert {
    pub id: AlertId,
    pub service_id: ServiceId,
    pub integration_id: IntegrationId,
    pub dedup_key: String,
    pub status: AlertStatus,
    pub severity: AlertSeverity,
    pub summary: String,
    pub source: String,
    pub component: Option<String>,
    pub group: Option<String>,
    pub class: Option<String>,
    #[schema(value_type = Object)]
    pub custom_details: serde_json::Value,
    pub links: Vec<Link>,
    pub images: Vec<Image>,
    pub client: Option<String>,
    pub client_url: Option<String>,
    pub labels: BTreeMap<String, String>,
    /// Why the alert opened or joined no incident, when it did not.
    #[schema(value_type = Option<Object>)]
    pub no_page_reason: Option<crate::noise::NoPageReason>,
    pub incident_id: Option<IncidentId>,
    /// How many events this alert received (the first trigger included).
    pub event_count: i64,
    pub created_at: DateTime<Utc>,
    pub last_event_at: DateTime<Utc>,
    pub acknowledged_at: Option<DateTime<Utc>>,
    pub resolved_at: Option<DateTime<Utc>>,
    /// When it resolves by itself unless its sender posts it again (see [`AlertDetails::ends_at`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ends_at: Option<DateTime<Utc>>,
}

impl Alert {
    /// The alert's details as an event would carry them, for matchers.
    pub fn details(&self) -> AlertDetails {
        AlertDetails {
            summary: self.summary.clone(),
            source: self.source.clone(),
            severity: self.severity,
            timestamp: None,
            component: self.component.clone(),
            group: self.group.clone(),
            class: self.class.clone(),
            custom_details: self.custom_details.clone(),
            links: self.links.clone(),
            images: self.images.clone(),
            client: self.client.clone(),
            client_url: self.client_url.clone(),
            labels: self.labels.clone(),
            ends_at: self.ends_at,
        }
    }

    fn apply_details(&mut self, d: &AlertDetails) {
        self.severity = d.severity;
        self.summary = d.summary.clone();
        self.source = d.source.clone();
        self.component = d.component.clone();
        self.group = d.group.clone();
        self.class = d.class.clone();
        self.custom_details = d.custom_details.clone();
        self.links = d.links.clone();
        self.images = d.images.clone();
        self.client = d.client.clone();
        self.client_url = d.client_url.clone();
        self.labels = d.labels.clone();
    }

    fn apply_patch(&mut self, p: &AlertPatch) {
        if let Some(summary) = &p.summary {
            self.summary = summary.clone();
        }
        if let Some(severity) = p.severity {
            self.severity = severity;
        }
        self.labels
            .extend(p.labels.iter().map(|(k, v)| (k.clone(), v.clone())));
        if !p.custom_details.is_empty() {
            if !self.custom_details.is_object() {
                self.custom_details = serde_json::Value::Object(serde_json::Map::new());
            }
            if let Some(details) = self.custom_details.as_object_mut() {
                details.extend(p.custom_details.clone());
            }
        }
    }

    /// The title an incident opened by this alert gets.
    pub fn incident_title(&self) -> String {
        truncate_chars(&self.summary, 255)
    }
}

/// Where an event lands: the integration it came through and its service's severity rules.
#[derive(Debug, Clone)]
pub struct IngestTarget {
    pub integration_id: IntegrationId,
    pub service_id: ServiceId,
    pub severity_map: SeverityMap,
}

/// What an event did to the open alert with its dedup key.
#[derive(Debug, Clone, PartialEq)]
pub enum AlertChange {
    /// A new alert; `open_incident` says whether it pages, and at what severity.
    Created {
        alert: Alert,
        open_incident: Option<Severity>,
    },
    /// A repeat trigger updated the open alert. `open_incident` is set when the alert had no incident (e.g. it was
    /// `info`) and its new severity calls for one. `changed` is false when the trigger repeated what the alert
    /// already said, so only its activity (count, last event time) moved.
    Retriggered {
        alert: Alert,
        open_incident: Option<Severity>,
        changed: bool,
    },
    Acknowledged {
        alert: Alert,
    },
    Resolved {
        alert: Alert,
    },
    /// An update changed some fields of the open alert; `changed` is false when it set what was already there.
    /// The severity it brings is the alert's, and an incident at a lower one rises to it.
    Updated {
        alert: Alert,
        changed: bool,
    },
    /// Accepted, but it changes nothing beyond the alert's activity, if there is an alert: the reason says why.
    Ignored {
        alert: Option<Alert>,
        reason: IgnoreReason,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IgnoreReason {
    NoOpenAlert,
    AlreadyAcknowledged,
}

impl IgnoreReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NoOpenAlert => "no open alert with this dedup key",
            Self::AlreadyAcknowledged => "alert already acknowledged",
        }
    }
}

fn incident_severity(map: &SeverityMap, s: AlertSeverity) -> Option<Severity> {
    match map.target(s) {
        SeverityTarget::Incident(sev) => Some(sev),
        SeverityTarget::NoIncident => None,
    }
}

/// Applies `event` to the open alert with its dedup key (`open` is that alert, if any).
///
/// Follows PagerDuty's semantics: a trigger for an open alert updates it; a trigger when none is open opens a new
/// one (so a trigger after resolve starts over); acknowledge and resolve of an unknown or closed key change nothing.
pub fn apply_event(
    open: Option<Alert>,
    event: &AlertEvent,
    target: &IngestTarget,
    now: DateTime<Utc>,
) -> AlertChange {
    match (event.action, open) {
        (EventAction::Trigger, None) => {
            let d = event.details.as_ref().expect("a trigger carries details");
            let mut alert = Alert {
                id: AlertId::generate(),
                service_id: target.service_id.clone(),
                integration_id: target.integration_id.clone(),
                dedup_key: event.dedup_key.clone(),
                status: AlertStatus::Triggered,
                severity: d.severity,
                summary: String::new(),
                source: String::new(),
                component: None,
                group: None,
                class: None,
                custom_details: serde_json::Value::Null,
                links: vec![],
                images: vec![],
                client: None,
                client_url: None,
                labels: BTreeMap::new(),
                no_page_reason: None,
                incident_id: None,
                event_count: 1,
                created_at: now,
                last_event_at: now,
                acknowledged_at: None,
                resolved_at: None,
                ends_at: d.ends_at,
            };
            alert.apply_details(d);
            let open_incident = incident_severity(&target.severity_map, d.severity);
            AlertChange::Created {
                alert,
                open_incident,
            }
        }
        (EventAction::Trigger, Some(mut alert)) => {
            let d = event.details.as_ref().expect("a trigger carries details");
            let before = alert.clone();
            alert.apply_details(d);
            let changed = alert != before;
            alert.event_count += 1;
            alert.last_event_at = now;
            // Each post moves the end on, or lifts it; like the count, it lives with the alert's activity.
            alert.ends_at = d.ends_at;
            let open_incident = if alert.incident_id.is_none() {
                incident_severity(&target.severity_map, d.severity)
            } else {
                None
            };
            AlertChange::Retriggered {
                alert,
                open_incident,
                changed,
            }
        }
        (EventAction::Update, Some(mut alert)) => {
            let before = alert.clone();
            if let Some(patch) = &event.patch {
                alert.apply_patch(patch);
            }
            let changed = alert != before;
            alert.last_event_at = now;
            AlertChange::Updated { alert, changed }
        }
        (EventAction::Acknowledge | EventAction::Resolve | EventAction::Update, None) => {
            AlertChange::Ignored {
                alert: None,
                reason: IgnoreReason::NoOpenAlert,
            }
        }
        (EventAction::Acknowledge, Some(mut alert)) => {
            alert.event_count += 1;
            alert.last_event_at = now;
            if alert.status == AlertStatus::Acknowledged {
                return AlertChange::Ignored {
                    alert: Some(alert),
                    reason: IgnoreReason::AlreadyAcknowledged,
                };
            }
            alert.status = AlertStatus::Acknowledged;
            alert.acknowledged_at = Some(now);
            AlertChange::Acknowledged { alert }
        }
        (EventAction::Resolve, Some(mut alert)) => {
            alert.event_count += 1;
            alert.last_event_at = now;
            alert.status = AlertStatus::Resolved;
            alert.resolved_at = Some(now);
            alert.ends_at = None;
            AlertChange::Resolved { alert }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn target() -> IngestTarget {
        IngestTarget {
            integration_id: IntegrationId::generate(),
            service_id: ServiceId::generate(),
            severity_map: SeverityMap::default(),
        }
    }

    fn event(action: EventAction, severity: AlertSeverity) -> AlertEvent {
        AlertEvent {
            patch: None,
            action,
            dedup_key: "k1".into(),
            details: (action == EventAction::Trigger)
                .then(|| AlertDetails::new("disk full", "db-1", severity)),
        }
    }

    fn t(min: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 1, 12, min, 0).unwrap()
    }

    #[test]
    fn trigger_opens_then_repeats_update_then_resolve_closes() {
        let tg = target();
        let AlertChange::Created {
            alert,
            open_incident,
        } = apply_event(
            None,
            &event(EventAction::Trigger, AlertSeverity::Critical),
            &tg,
            t(0),
        )
        else {
            panic!()
        };
        assert_eq!(open_incident, Some(Severity::Sev1));
        let mut alert = alert;
        alert.incident_id = Some(IncidentId::generate());
        let AlertChange::Retriggered {
            alert,
            open_incident,
            changed: true,
        } = apply_event(
            Some(alert),
            &event(EventAction::Trigger, AlertSeverity::Warning),
            &tg,
            t(1),
        )
        else {
            panic!("a new severity is a change")
        };
        assert_eq!(
            (alert.event_count, alert.severity, open_incident),
            (2, AlertSeverity::Warning, None)
        );
        let AlertChange::Retriggered {
            alert,
            changed: false,
            ..
        } = apply_event(
            Some(alert),
            &event(EventAction::Trigger, AlertSeverity::Warning),
            &tg,
            t(1),
        )
        else {
            panic!("a repeat that says the same is no change")
        };
        assert_eq!(alert.event_count, 3);
        let AlertChange::Acknowledged { alert } = apply_event(
            Some(alert),
            &event(EventAction::Acknowledge, AlertSeverity::Info),
            &tg,
            t(2),
        ) else {
            panic!()
        };
        assert_eq!(alert.acknowledged_at, Some(t(2)));
        assert!(matches!(
            apply_event(
                Some(alert.clone()),
                &event(EventAction::Acknowledge, AlertSeverity::Info),
                &tg,
                t(3)
            ),
            AlertChange::Ignored {
                reason: IgnoreReason::AlreadyAcknowledged,
                ..
            }
        ));
        let AlertChange::Resolved { alert } = apply_event(
            Some(alert),
            &event(EventAction::Resolve, AlertSeverity::Info),
            &tg,
            t(4),
        ) else {
            panic!()
        };
        assert_eq!(
            (alert.status, alert.resolved_at),
            (AlertStatus::Resolved, Some(t(4)))
        );
    }

    #[test]
    fn info_alerts_open_no_incident_until_they_escalate() {
        let tg = target();
        let AlertChange::Created {
            alert,
            open_incident: None,
        } = apply_event(
            None,
            &event(EventAction::Trigger, AlertSeverity::Info),
            &tg,
            t(0),
        )
        else {
            panic!()
        };
        let change = apply_event(
            Some(alert),
            &event(EventAction::Trigger, AlertSeverity::Error),
            &tg,
            t(1),
        );
        assert!(matches!(
            change,
            AlertChange::Retriggered {
                open_incident: Some(Severity::Sev2),
                ..
            }
        ));
    }

    #[test]
    fn follow_ups_for_unknown_keys_change_nothing() {
        for action in [EventAction::Acknowledge, EventAction::Resolve] {
            assert!(matches!(
                apply_event(None, &event(action, AlertSeverity::Info), &target(), t(0)),
                AlertChange::Ignored {
                    alert: None,
                    reason: IgnoreReason::NoOpenAlert
                }
            ));
        }
    }
}
