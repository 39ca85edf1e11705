//! The audit log: every change a principal made, and every sign-in attempt, with who, when, what and from where.

use crate::incident::Actor;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// One change, written in the same transaction as the change itself, so the log holds a change exactly when the
/// database does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AuditEntry {
    pub at: DateTime<Utc>,
    pub actor: Actor,
    /// The use case, as `<object>.<verb>` (`service.create`, `incident.acknowledge`, `session.login_failed`).
    pub action: String,
    /// What it changed, as the principal named it (an ID, a name, an email, an incident number).
    pub target: String,
    /// What changed: the request's values (`after`), what they replaced when known (`before`), with secrets left
    /// out.
    #[schema(value_type = Object)]
    pub summary: serde_json::Value,
    /// The address the request came from, when it came over the network.
    pub address: Option<String>,
}

/// An entry as stored, with its place in the log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AuditRecord {
    pub seq: i64,
    #[serde(flatten)]
    pub entry: AuditEntry,
}

/// How long the log keeps entries by default.
pub const DEFAULT_RETENTION_DAYS: u32 = 400;

/// The action a failed sign-in (or a request for a reset link) is recorded with; counted to limit guessing.
pub const LOGIN_FAILED: &str = "session.login_failed";
