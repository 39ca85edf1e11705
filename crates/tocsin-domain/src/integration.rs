//! Integrations: how a sender reaches a service, and the settings each kind takes.

use crate::error::ValidationErrors;
use crate::senders::generic::FieldMapping;
use serde::{Deserialize, Serialize};
use std::num::NonZeroU32;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum IntegrationKind {
    /// PagerDuty Events API v2: `/v2/enqueue`, `/v2/change/enqueue`.
    Pagerduty,
    /// Alertmanager `webhook_configs` (payload version 4).
    Alertmanager,
    /// Alertmanager's own `POST /api/v2/alerts`, as Prometheus, vmalert and amtool send it.
    Prometheus,
    /// Grafana alerting webhook contact point.
    Grafana,
    /// Opsgenie's alert API (`/v2/alerts`, `GenieKey` auth).
    Opsgenie,
    /// Any JSON, through a field mapping.
    Generic,
    /// A job calls the URL every interval; a missed beat opens an alert, the next beat resolves it.
    Heartbeat,
}

impl IntegrationKind {
    pub const ALL: [IntegrationKind; 7] = [
        Self::Pagerduty,
        Self::Alertmanager,
        Self::Prometheus,
        Self::Grafana,
        Self::Opsgenie,
        Self::Generic,
        Self::Heartbeat,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pagerduty => "pagerduty",
            Self::Alertmanager => "alertmanager",
            Self::Prometheus => "prometheus",
            Self::Grafana => "grafana",
            Self::Opsgenie => "opsgenie",
            Self::Generic => "generic",
            Self::Heartbeat => "heartbeat",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// How many requests and events an integration may send; over either, senders get 429 with `Retry-After`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    /// Sustained requests per second; 0 turns request limiting off.
    pub per_second: u32,
    /// Requests allowed at once above the sustained rate.
    #[serde(default = "default_burst")]
    pub burst: u32,
    /// Sustained events (alerts) per second, counting only those that change something: a sender re-sending a
    /// group state this server recognises costs nothing. 0 turns event limiting off. When absent: 500, or off
    /// when `per_second` is 0 (a limit turned off before events were limited stays off).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub events_per_second: Option<u32>,
    /// Events allowed at once above the sustained rate; also the most one request may carry. 10,000 when
    /// absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_burst: Option<u32>,
}

fn default_burst() -> u32 {
    1_000
}

fn default_events_per_second() -> u32 {
    500
}

fn default_event_burst() -> u32 {
    10_000
}

impl Default for RateLimit {
    /// Generous enough for any single monitoring system, tight enough that one runaway sender cannot take the
    /// ingest path from the others or fill the disk in minutes.
    fn default() -> Self {
        Self {
            per_second: 200,
            burst: default_burst(),
            events_per_second: None,
            event_burst: None,
        }
    }
}

/// One of an integration's limits, or the whole server's ingest budget: sustained units per second and burst.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub per_second: NonZeroU32,
    pub burst: NonZeroU32,
}

impl Rate {
    /// `None` when `per_second` is 0 (unlimited); a zero burst means one second's worth.
    pub fn new(per_second: u32, burst: u32) -> Option<Self> {
        let per_second = NonZeroU32::new(per_second)?;
        Some(Self {
            per_second,
            burst: NonZeroU32::new(burst).unwrap_or(per_second),
        })
    }
}

/// Settings of one integration.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IntegrationConfig {
    /// Request rate limit; the default applies when absent. `{"per_second": 0}` turns limiting off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimit>,
    /// For `generic` integrations: where the fields are in the sender's JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mapping: Option<FieldMapping>,
    /// For `heartbeat` integrations: how often the job beats, and how late a beat may be.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heartbeat: Option<HeartbeatConfig>,
}

/// A heartbeat is missed once `interval_seconds + grace_seconds` pass without a beat.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HeartbeatConfig {
    #[schema(minimum = 10, maximum = 2678400)]
    pub interval_seconds: u32,
    #[serde(default = "default_grace")]
    #[schema(maximum = 86400)]
    pub grace_seconds: u32,
}

fn default_grace() -> u32 {
    60
}

impl HeartbeatConfig {
    /// How long after a beat the next one is missed.
    pub fn deadline(&self) -> chrono::Duration {
        chrono::Duration::seconds(i64::from(self.interval_seconds) + i64::from(self.grace_seconds))
    }
}

impl IntegrationConfig {
    pub fn validate(&self, kind: IntegrationKind) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::default();
        if let Some(r) = &self.rate_limit {
            if r.per_second > 0 && r.burst == 0 {
                errors.push(
                    "rate_limit.burst",
                    "must be at least 1 when per_second is set",
                );
            }
            if r.events_per_second.is_some_and(|e| e > 0) && r.event_burst == Some(0) {
                errors.push(
                    "rate_limit.event_burst",
                    "must be at least 1 when events_per_second is set",
                );
            }
        }
        match (&self.mapping, kind) {
            (Some(m), IntegrationKind::Generic) => {
                if let Err(e) = m.validate() {
                    errors.0.extend(e.0.into_iter().map(|f| f.under("mapping")));
                }
            }
            (Some(_), _) => {
                errors.push("mapping", "only generic integrations take a field mapping")
            }
            (None, _) => {}
        }
        match (&self.heartbeat, kind) {
            (Some(h), IntegrationKind::Heartbeat) => {
                if !(10..=31 * 86_400).contains(&h.interval_seconds) {
                    errors.push(
                        "heartbeat.interval_seconds",
                        "must be 10 to 2678400 (31 days)",
                    );
                }
                if h.grace_seconds > 86_400 {
                    errors.push("heartbeat.grace_seconds", "must be at most 86400 (a day)");
                }
            }
            (None, IntegrationKind::Heartbeat) => errors.push(
                "heartbeat",
                "is required for heartbeat integrations, e.g. {\"interval_seconds\": 300}",
            ),
            (Some(_), _) => errors.push(
                "heartbeat",
                "only heartbeat integrations take heartbeat settings",
            ),
            (None, _) => {}
        }
        errors.into_result(())
    }

    /// The requests this integration may send, `None` when unlimited.
    pub fn request_rate(&self) -> Option<Rate> {
        let r = self.rate_limit.unwrap_or_default();
        Rate::new(r.per_second, r.burst)
    }

    /// The events this integration may send, `None` when unlimited.
    pub fn event_rate(&self) -> Option<Rate> {
        let r = self.rate_limit.unwrap_or_default();
        let per_second = r.events_per_second.unwrap_or(if r.per_second == 0 {
            0
        } else {
            default_events_per_second()
        });
        Rate::new(
            per_second,
            r.event_burst.unwrap_or_else(default_event_burst),
        )
    }
}

/// The alert a heartbeat raises: one per integration, fired when a beat is overdue and resolved by the next beat,
/// through the same ingest path senders' events take.
pub mod heartbeat {
    use crate::alert::{AlertDetails, AlertEvent, EventAction};
    use crate::severity::AlertSeverity;
    use chrono::{DateTime, Utc};

    /// The dedup key of a heartbeat's alert.
    pub const DEDUP_KEY: &str = "heartbeat";

    /// The trigger for a heartbeat expected every `interval` seconds whose last beat was at `last`.
    pub fn missed(interval: u32, last: Option<DateTime<Utc>>) -> AlertEvent {
        let summary = match last {
            Some(t) => format!(
                "Heartbeat missed: no beat since {} (expected every {interval} s)",
                t.format("%Y-%m-%d %H:%M:%S UTC")
            ),
            None => {
                format!("Heartbeat missed: no beat received yet (expected every {interval} s)")
            }
        };
        let mut details = AlertDetails::new(summary, "tocsin-heartbeat", AlertSeverity::Critical);
        details.custom_details = serde_json::json!({
            "interval_seconds": interval,
            "last_beat_at": last,
        });
        AlertEvent {
            patch: None,
            action: EventAction::Trigger,
            dedup_key: DEDUP_KEY.into(),
            details: Some(details),
        }
    }

    /// The resolve a beat sends after a missed one.
    pub fn back() -> AlertEvent {
        AlertEvent {
            patch: None,
            action: EventAction::Resolve,
            dedup_key: DEDUP_KEY.into(),
            details: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (per second, burst), or `None` when unlimited.
    type Limit = Option<(u32, u32)>;

    fn rates(config: serde_json::Value) -> (Limit, Limit) {
        let c: IntegrationConfig = serde_json::from_value(config).unwrap();
        let pair = |r: Option<Rate>| r.map(|r| (r.per_second.get(), r.burst.get()));
        (pair(c.request_rate()), pair(c.event_rate()))
    }

    #[test]
    fn event_limits_default_on_except_where_limiting_was_turned_off() {
        assert_eq!(
            rates(serde_json::json!({})),
            (Some((200, 1_000)), Some((500, 10_000)))
        );
        assert_eq!(
            rates(serde_json::json!({"rate_limit": {"per_second": 0}})),
            (None, None),
            "a limit turned off before events were limited stays off"
        );
        assert_eq!(
            rates(
                serde_json::json!({"rate_limit": {"per_second": 0, "events_per_second": 5, "event_burst": 50}})
            ),
            (None, Some((5, 50)))
        );
        assert_eq!(
            rates(
                serde_json::json!({"rate_limit": {"per_second": 10, "burst": 20, "events_per_second": 0}})
            ),
            (Some((10, 20)), None)
        );
    }
}
