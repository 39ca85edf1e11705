//! The audit log.

use super::AppState;
use super::error::{ApiResult, ErrorResponse};
use super::extract::{Caller, Query};
use super::incidents::time;
use axum::extract::State;
use serde::Deserialize;
use tocsin_domain::audit::AuditRecord;
use tocsin_store::{AuditFilter, Page};

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// An actor's ID, or their name as recorded.
    actor: Option<String>,
    /// An action (`incident.acknowledge`), or an object's actions (`incident`).
    action: Option<String>,
    /// A target as recorded: an ID, a name, an email, an incident number.
    target: Option<String>,
    /// At or after this time (RFC 3339).
    since: Option<String>,
    /// Before this time (RFC 3339).
    until: Option<String>,
    /// Page size (default 50, max 500).
    limit: Option<u32>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// Every change any principal made, and every sign-in attempt, newest first. Admins only.
#[utoipa::path(get, path = "/api/v1/audit", tag = "audit", security(("bearer" = [])), params(AuditQuery),
    responses((status = 200, body = Page<AuditRecord>), (status = "4XX", body = ErrorResponse)))]
pub async fn list_audit(
    caller: Caller,
    State(s): State<AppState>,
    Query(q): Query<AuditQuery>,
) -> ApiResult<axum::Json<Page<AuditRecord>>> {
    let filter = AuditFilter {
        actor: q.actor,
        action: q.action,
        target: q.target,
        since: time("since", &q.since)?,
        until: time("until", &q.until)?,
        limit: q.limit.unwrap_or(0),
        cursor: q.cursor,
    };
    Ok(axum::Json(s.app.audit().list(&caller, filter).await?))
}
