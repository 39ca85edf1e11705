//! Records and queries the repositories exchange that are not domain entities themselves.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tocsin_domain::alert::{Alert, AlertStatus, EventAction, Link};
use tocsin_domain::auth::Role;
use tocsin_domain::contact::{ContactTarget, Purpose};
use tocsin_domain::escalation::Escalation;
use tocsin_domain::ids::{
    AlertId, ChangeEventId, ContactMethodId, DeliveryId, FeedId, IncidentId, IntegrationId,
    OverrideId, PolicyId, ScheduleId, ServiceId, SessionId, TeamId, TokenId, UserId,
};
use tocsin_domain::incident::Incident;
use tocsin_domain::incident::{IncidentStatus, TimelineEntry};
use tocsin_domain::oncall::{Layer, Override, Schedule};
use tocsin_domain::severity::Severity;

pub use tocsin_domain::integration::{IntegrationConfig, IntegrationKind};
use tocsin_domain::refs::{IncidentRef, PolicyRef, ScheduleRef, ServiceRef, TeamRef, UserRef};

#[derive(Debug, Clone)]
pub struct NewIntegration {
    pub service: ServiceRef,
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
    /// The role the token holds; `None` for a token that acts with its user's role, whatever it is then.
    pub role: Option<Role>,
    pub expires_at: Option<DateTime<Utc>>,
    /// The user the token acts as, by ID or email; actions are then attributed to that user, and the token never
    /// holds more than the user's role.
    pub user: Option<UserRef>,
    pub token_hash: String,
    pub token_prefix: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ApiToken {
    pub id: TokenId,
    pub name: String,
    /// The role the token holds (at most its user's); absent for a token that acts with its user's role.
    pub role: Option<Role>,
    pub token_prefix: String,
    pub user_id: Option<UserId>,
    /// The user's name, when the token acts as a user.
    pub user_name: Option<String>,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A signed-in browser. Its cookie's value is never stored, only its hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SessionRecord {
    pub id: SessionId,
    pub user_id: UserId,
    pub created_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    /// Where it signed in from.
    pub address: Option<String>,
    /// The browser, as it named itself.
    pub user_agent: String,
    pub revoked_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone)]
pub struct NewSession {
    pub token_hash: String,
    pub user_id: UserId,
    pub address: Option<String>,
    pub user_agent: String,
}

/// A single-use link that sets a password, as its holder sees it before using it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountLink {
    pub purpose: tocsin_domain::account::LinkPurpose,
    /// Whose password it sets; none for the first owner's, who names themselves.
    pub user: Option<tocsin_domain::catalog::User>,
    pub expires_at: DateTime<Utc>,
}

/// What redeeming a link does, besides using it up.
#[derive(Debug, Clone)]
pub enum Redeem {
    /// Sets the password of the person the link is for; a reset also ends their sessions.
    SetPassword { hash: String },
    /// Creates the first owner (or makes the person with this email one) with this password.
    CreateOwner {
        spec: tocsin_domain::catalog::UserSpec,
        hash: String,
    },
}

/// What a person may do: their role and the teams they belong to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserAccess {
    pub role: Role,
    pub teams: Vec<TeamId>,
}

/// Which audit entries to list, newest first.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// Entries by this actor: an ID, or a name as it was recorded.
    pub actor: Option<String>,
    /// Entries whose action is this one, or starts with it followed by a dot (`service` finds `service.create`).
    pub action: Option<String>,
    /// Entries about this target, as it was recorded.
    pub target: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    pub limit: u32,
    pub cursor: Option<String>,
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
    /// An update changed fields of the open alert.
    Updated,
    Ignored,
}

impl IngestResult {
    pub const ALL: [Self; 6] = [
        Self::Created,
        Self::Deduplicated,
        Self::Acknowledged,
        Self::Resolved,
        Self::Updated,
        Self::Ignored,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Deduplicated => "deduplicated",
            Self::Acknowledged => "acknowledged",
            Self::Resolved => "resolved",
            Self::Updated => "updated",
            Self::Ignored => "ignored",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
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

/// A stored timeline entry; interfaces word it when they show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimelineRecord {
    /// Position in the whole timeline store; increases with time.
    pub seq: i64,
    pub incident_id: IncidentId,
    pub entry: TimelineEntry,
}

#[derive(Debug, Clone)]
pub struct NewIncident {
    pub title: String,
    pub description: String,
    pub severity: Severity,
    /// Affected services, by ID or name.
    pub services: Vec<ServiceRef>,
}

#[derive(Debug, Clone, Default)]
pub struct IncidentFilter {
    /// Any of these statuses; empty means all.
    pub statuses: Vec<IncidentStatus>,
    /// Any of these severities; empty means all.
    pub severities: Vec<Severity>,
    /// Incidents touching this service.
    pub service: Option<ServiceRef>,
    /// Incidents touching a service this team owns.
    pub team: Option<TeamRef>,
    /// Only these incidents, by number; empty means all.
    pub numbers: Vec<i64>,
    pub created_after: Option<DateTime<Utc>>,
    pub created_before: Option<DateTime<Utc>>,
    pub limit: u32,
    pub cursor: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct AlertFilter {
    pub statuses: Vec<AlertStatus>,
    pub service: Option<ServiceRef>,
    /// Only alerts this integration sent.
    pub integration: Option<IntegrationId>,
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

/// A stored on-call schedule with its overrides.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ScheduleRecord {
    pub id: ScheduleId,
    pub name: String,
    pub description: String,
    #[schema(value_type = String)]
    pub time_zone: String,
    pub layers: Vec<Layer>,
    pub overrides: Vec<OverrideRecord>,
    pub reminder_minutes: u32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The team whose on-call rotation this is.
    pub team_id: Option<TeamId>,
}

impl ScheduleRecord {
    /// The schedule as the on-call rules read it.
    pub fn schedule(&self) -> Schedule {
        Schedule {
            time_zone: self.time_zone.parse().unwrap_or(chrono_tz::UTC),
            layers: self.layers.clone(),
            overrides: self
                .overrides
                .iter()
                .map(|o| Override {
                    user: o.user_id.clone(),
                    start: o.start,
                    end: o.end,
                })
                .collect(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct OverrideRecord {
    pub id: OverrideId,
    pub user_id: UserId,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
}

/// A user taking over a schedule for a time range; `user` is an ID or email.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewOverride {
    #[schema(value_type = String)]
    pub user: UserRef,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

/// What a calendar feed shows: one schedule's shifts, or one user's shifts across every schedule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "type", content = "id", rename_all = "snake_case")]
pub enum FeedSubject {
    Schedule(ScheduleId),
    User(UserId),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewFeed {
    pub subject: FeedSubject,
    pub token_hash: String,
    pub token_prefix: String,
}

/// A secret calendar URL; the token itself is shown once, at creation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct CalendarFeed {
    pub id: FeedId,
    pub subject: FeedSubject,
    pub token_prefix: String,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// Where an incident's escalation stands, with the people it is assigned to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct EscalationRecord {
    #[serde(flatten)]
    pub escalation: Escalation,
    /// The level that pages next, counted from 1 as people count them (`level_index` counts from 0).
    pub level: u32,
    pub policy_name: String,
    /// The users paged last (by the last level that fired, or by a reassignment).
    pub assignees: Vec<UserId>,
}

/// What to change of an incident; only what is given changes. Services by ID or name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IncidentChanges {
    pub title: Option<String>,
    /// Markdown.
    pub description: Option<String>,
    pub severity: Option<Severity>,
    /// What customers notice (Markdown).
    pub customer_impact: Option<String>,
    #[serde(default)]
    #[schema(value_type = Vec<String>)]
    pub add_services: Vec<ServiceRef>,
    #[serde(default)]
    #[schema(value_type = Vec<String>)]
    pub remove_services: Vec<ServiceRef>,
    #[serde(default)]
    pub add_links: Vec<tocsin_domain::incident::IncidentLink>,
    /// URLs of links to remove.
    #[serde(default)]
    #[schema(value_type = Vec<String>)]
    pub remove_links: Vec<tocsin_domain::catalog::HttpUrl>,
    /// Where the response stands: investigating, identified or monitoring (which records `mitigated` now unless
    /// it is set).
    pub stage: Option<tocsin_domain::incident::Stage>,
    /// Milestones to record or correct by name (`impact_started`, `detected`, `acknowledged`, `mitigated`,
    /// `resolved`), each an RFC 3339 time, or null to remove `impact_started` or `mitigated`.
    #[serde(default)]
    #[schema(value_type = tocsin_domain::incident::Milestones)]
    pub milestones: std::collections::BTreeMap<
        tocsin_domain::incident::Milestone,
        Option<chrono::DateTime<chrono::Utc>>,
    >,
    /// Incidents (numbers or IDs) to link as related; each is linked back.
    #[serde(default)]
    pub add_related: Vec<String>,
    /// Related incidents to unlink, on both sides.
    #[serde(default)]
    pub remove_related: Vec<String>,
}

impl IncidentChanges {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// People asked to join an incident's response, paged now; its escalation goes on. Each list names entries by ID
/// or name (email for users).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Responders {
    #[serde(default)]
    #[schema(value_type = Vec<String>)]
    pub users: Vec<UserRef>,
    /// Whoever is on call in each.
    #[serde(default)]
    #[schema(value_type = Vec<String>)]
    pub schedules: Vec<ScheduleRef>,
    /// Every member of each.
    #[serde(default)]
    #[schema(value_type = Vec<String>)]
    pub teams: Vec<TeamRef>,
    /// Whoever is on call in each team's schedules.
    #[serde(default)]
    #[schema(value_type = Vec<String>)]
    pub teams_on_call: Vec<TeamRef>,
}

/// Whom a task added by hand is for: a person (ID or email), or whoever holds a role in the incident.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "type", content = "id", rename_all = "snake_case")]
pub enum TaskAssignee {
    #[schema(value_type = String)]
    User(UserRef),
    #[schema(value_type = String)]
    Role(tocsin_domain::refs::Key),
}

/// Who adding responders paged, and which of the named targets paged nobody.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct RespondersPaged {
    #[schema(value_type = Vec<Object>)]
    pub paged: Vec<tocsin_domain::timeline::PagedUser>,
    #[schema(value_type = Vec<Object>)]
    pub gaps: Vec<tocsin_domain::timeline::TargetGap>,
}

/// Whom to hand an incident to: named users (paged now; the policy stops) or another escalation policy (starting
/// at its first level now).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Reassignment {
    /// User IDs or emails.
    #[schema(value_type = Vec<String>)]
    Users(Vec<UserRef>),
    /// Policy ID or name.
    #[schema(value_type = String)]
    Policy(PolicyRef),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    Pending,
    Sending,
    Delivered,
    Failed,
    Cancelled,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Sending => "sending",
            Self::Delivered => "delivered",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::Pending,
            Self::Sending,
            Self::Delivered,
            Self::Failed,
            Self::Cancelled,
        ]
        .into_iter()
        .find(|v| v.as_str() == s)
    }
}

/// One try at sending a delivery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct AttemptRecord {
    pub attempt: u32,
    pub at: DateTime<Utc>,
    /// `delivered`, `retry` or `failed`.
    pub outcome: String,
    pub detail: String,
}

/// A notification in the outbox and what became of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct DeliveryRecord {
    /// Also the idempotency key receivers see (`webhook-id`, the email Message-ID).
    pub id: DeliveryId,
    pub user_id: UserId,
    pub contact_method_id: ContactMethodId,
    /// `email`, `slack`, … (empty if the contact method was deleted).
    pub channel: String,
    pub incident_id: Option<IncidentId>,
    pub purpose: Purpose,
    pub status: DeliveryStatus,
    /// When it is (or was) due to be sent.
    pub due_at: DateTime<Utc>,
    pub attempts: Vec<AttemptRecord>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Default)]
pub struct DeliveryFilter {
    pub incident: Option<IncidentRef>,
    pub user: Option<UserRef>,
    pub limit: u32,
}

/// Whether this process may run the engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lease {
    /// `fresh` when the lease was taken over rather than renewed: work claimed by the previous holder is then
    /// released, since that holder is gone.
    Held { fresh: bool },
    HeldElsewhere {
        holder: String,
        until: DateTime<Utc>,
    },
}

/// A delivery claimed for sending, with everything needed to render and send it.
#[derive(Debug, Clone)]
pub struct ClaimedDelivery {
    pub id: DeliveryId,
    /// 1 for the first try.
    pub attempt: u32,
    pub user_id: UserId,
    pub user_name: String,
    pub purpose: Purpose,
    /// `None` when the contact method was deleted since the delivery was planned.
    pub target: Option<ContactTarget>,
    /// The incident as it is now, for pages.
    pub incident: Option<Incident>,
    /// Names of the incident's services.
    pub service_names: Vec<String>,
    /// The runbooks of the incident's services, by service name.
    pub runbooks: Vec<(String, String)>,
    /// The runbooks kept in Tocsin that the incident shows, as (key, title).
    pub kept_runbooks: Vec<(String, String)>,
    /// The incident's latest alert, for its details.
    pub latest_alert: Option<Alert>,
    /// Change events (deploys and the like) on the incident's services in the last [`RECENT_CHANGES`], newest
    /// first, at most [`MAX_RECENT_CHANGES`], with their service's name.
    pub recent_changes: Vec<(String, ChangeRecord)>,
    /// The stakeholder update a `Purpose::Update` notification carries.
    pub update: Option<tocsin_domain::updates::StatusUpdate>,
}

/// How far back a page looks for changes on its incident's services: responders look at the last deploys first.
pub const RECENT_CHANGES: chrono::Duration = chrono::Duration::hours(24);
pub const MAX_RECENT_CHANGES: usize = 5;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptOutcome {
    Delivered {
        detail: String,
    },
    /// Try again at `next_at`.
    Retry {
        error: String,
        next_at: DateTime<Utc>,
    },
    /// Given up: the user's next notification rule for the same page is sent instead.
    Failed {
        error: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryResult {
    pub id: DeliveryId,
    pub attempt: u32,
    pub at: DateTime<Utc>,
    pub outcome: AttemptOutcome,
}

/// How late a pending delivery may be before it counts as overdue: a few engine ticks.
pub const OVERDUE_AFTER: chrono::Duration = chrono::Duration::minutes(1);

/// The database's state as the metrics endpoint shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Gauges {
    /// Open (triggered or acknowledged) incidents by severity; severities with none are left out.
    pub open_incidents: Vec<(Severity, i64)>,
    /// Open incidents nobody has: their escalation reached no one.
    pub unassigned_incidents: i64,
    pub deliveries_pending: i64,
    /// Pending deliveries due more than [`OVERDUE_AFTER`] ago: the engine is not keeping up, or not running.
    pub deliveries_overdue: i64,
}

/// What one pass of an engine module did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Fired {
    pub escalations: u32,
    pub deliveries_planned: u32,
    /// Incidents left with nobody by this pass: a whole pass of their policy reached no one.
    pub unassigned: u32,
}

/// Organisation-wide paging settings as shown.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct PagingSettingsRecord {
    /// The escalation policy that takes incidents nobody else pages: those whose service has no policy, those
    /// declared without a service, and those whose policy's whole pass reached nobody.
    pub fallback_policy: Option<PolicySummary>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct PolicySummary {
    pub id: PolicyId,
    pub name: String,
}

/// What a heartbeat's beat did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct HeartbeatStatus {
    pub integration_id: IntegrationId,
    /// The heartbeat was down and this beat resolved its alert.
    pub recovered: bool,
    /// The beat after this one is missed if it has not come by then.
    pub next_due: DateTime<Utc>,
}

/// A status page as it stands, read in one transaction.
#[derive(Debug, Clone, PartialEq)]
pub struct PageView {
    pub page: tocsin_domain::status_page::StatusPage,
    /// Counts every change to what the public sees of the page.
    pub version: i64,
    /// In the order they are shown.
    pub components: Vec<tocsin_domain::status_page::Component>,
    /// Each component's status as last recorded.
    pub statuses: std::collections::HashMap<
        tocsin_domain::ids::ComponentId,
        tocsin_domain::status_page::ComponentStatus,
    >,
    /// Its unresolved public incidents and the 50 most recent, newest first, with their updates.
    pub incidents: Vec<tocsin_domain::public_incidents::PublicIncident>,
    /// When asked for: each component's statuses since then, oldest first.
    pub history: std::collections::HashMap<
        tocsin_domain::ids::ComponentId,
        Vec<tocsin_domain::uptime::StatusSpan>,
    >,
    /// When asked for: the public incidents open at some time since then (at most 500), newest first, with
    /// their updates.
    pub history_incidents: Vec<tocsin_domain::public_incidents::PublicIncident>,
}
