//! Records and queries the repositories exchange that are not domain entities themselves.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tocsin_domain::alert::{AlertStatus, EventAction, Link};
use tocsin_domain::auth::Scope;
use tocsin_domain::ids::{
    AlertId, ChangeEventId, IncidentId, IntegrationId, ServiceId, TokenId, UserId,
};
use tocsin_domain::incident::{IncidentStatus, TimelineEntry};
use tocsin_domain::severity::Severity;

pub use tocsin_domain::integration::{IntegrationConfig, IntegrationKind};

#[derive(Debug, Clone)]
pub struct NewIntegration {
    pub service: String,
    pub kind: IntegrationKind,
    pub name: String,
    pub key_hash: String,
    pub key_prefix: String,
    pub config: IntegrationConfig,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Integration {
    pub id: IntegrationId,
    pub service_id: ServiceId,
    pub kind: IntegrationKind,
    pub name: String,
    /// The first characters of the key, to tell keys apart.
    pub key_prefix: String,
    pub config: IntegrationConfig,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone)]
pub struct NewToken {
    pub name: String,
    pub scope: Scope,
    pub expires_at: Option<DateTime<Utc>>,
    /// The user the token acts as, by ID or email; actions are then attributed to that user.
    pub user: Option<String>,
    pub token_hash: String,
    pub token_prefix: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ApiToken {
    pub id: TokenId,
    pub name: String,
    pub scope: Scope,
    pub token_prefix: String,
    pub user_id: Option<UserId>,
    /// The user's name, when the token acts as a user.
    pub user_name: Option<String>,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// What an ingested event did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IngestOutcome {
    pub integration_id: IntegrationId,
    pub integration_kind: IntegrationKind,
    pub alert_id: Option<AlertId>,
    pub result: IngestResult,
    /// The incident the alert belongs to, if any.
    pub incident_id: Option<IncidentId>,
    /// Set when this event opened an incident.
    pub opened_incident: Option<Severity>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum IngestResult {
    Created,
    Deduplicated,
    Acknowledged,
    Resolved,
    Ignored,
}

impl IngestResult {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Deduplicated => "deduplicated",
            Self::Acknowledged => "acknowledged",
            Self::Resolved => "resolved",
            Self::Ignored => "ignored",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::Created,
            Self::Deduplicated,
            Self::Acknowledged,
            Self::Resolved,
            Self::Ignored,
        ]
        .into_iter()
        .find(|r| r.as_str() == s)
    }
}

/// One event as received for an alert.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AlertEventRecord {
    pub action: EventAction,
    pub result: IngestResult,
    pub integration_id: IntegrationId,
    pub received_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ChangeRecord {
    pub id: ChangeEventId,
    pub service_id: ServiceId,
    pub integration_id: IntegrationId,
    pub summary: String,
    pub source: Option<String>,
    pub timestamp: Option<DateTime<Utc>>,
    #[schema(value_type = Object)]
    pub custom_details: serde_json::Value,
    pub links: Vec<Link>,
    pub received_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TimelineRecord {
    /// Position in the whole timeline store; increases with time.
    pub seq: i64,
    pub incident_id: IncidentId,
    #[serde(flatten)]
    pub entry: TimelineEntry,
}

#[derive(Debug, Clone)]
pub struct NewIncident {
    pub title: String,
    pub description: String,
    pub severity: Severity,
    /// Affected services, by ID or name.
    pub services: Vec<String>,
}

#[derive(Debug, Clone, Default)]
pub struct IncidentFilter {
    /// Any of these statuses; empty means all.
    pub statuses: Vec<IncidentStatus>,
    /// Any of these severities; empty means all.
    pub severities: Vec<Severity>,
    /// Incidents touching this service (ID or name).
    pub service: Option<String>,
    pub created_after: Option<DateTime<Utc>>,
    pub created_before: Option<DateTime<Utc>>,
    pub limit: u32,
    pub cursor: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct AlertFilter {
    pub statuses: Vec<AlertStatus>,
    pub service: Option<String>,
    pub dedup_key: Option<String>,
    pub created_after: Option<DateTime<Utc>>,
    pub created_before: Option<DateTime<Utc>>,
    pub limit: u32,
    pub cursor: Option<String>,
}

/// One page of a list, newest first, with the cursor of the next page if there is one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

pub const MAX_PAGE: u32 = 500;
pub const DEFAULT_PAGE: u32 = 50;

/// A request body as a sender sent it, kept so a user can see exactly what arrived.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RawPayload {
    pub received_at: DateTime<Utc>,
    /// The body, cut at [`RAW_PAYLOAD_MAX`] bytes.
    pub body: String,
    pub truncated: bool,
    /// What Tocsin made of it, e.g. "3 events: 2 created, 1 resolved".
    pub outcome: String,
}

/// Bodies longer than this are kept cut short.
pub const RAW_PAYLOAD_MAX: usize = 64 * 1024;
/// How many recent payloads each integration keeps.
pub const RAW_PAYLOADS_KEPT: i64 = 100;

impl RawPayload {
    pub fn new(body: &[u8], received_at: DateTime<Utc>) -> Self {
        let truncated = body.len() > RAW_PAYLOAD_MAX;
        let kept = &body[..body.len().min(RAW_PAYLOAD_MAX)];
        Self {
            received_at,
            body: String::from_utf8_lossy(kept).into_owned(),
            truncated,
            outcome: String::new(),
        }
    }
}
