//! Versioned schema migrations: each runs once, in its own transaction, in order.

use super::backend;
use crate::Result;
use rusqlite::Connection;

const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "initial", include_str!("migrations/0001_initial.sql")),
    (2, "oncall", include_str!("migrations/0002_oncall.sql")),
    (3, "portable", include_str!("migrations/0003_portable.sql")),
    (
        4,
        "sender_groups",
        include_str!("migrations/0004_sender_groups.sql"),
    ),
    (
        5,
        "due_order",
        include_str!("migrations/0005_due_order.sql"),
    ),
    (
        6,
        "unassigned",
        include_str!("migrations/0006_unassigned.sql"),
    ),
    (
        7,
        "team_targets",
        include_str!("migrations/0007_team_targets.sql"),
    ),
    (
        8,
        "status_updates",
        include_str!("migrations/0008_status_updates.sql"),
    ),
    (
        9,
        "incident_details",
        include_str!("migrations/0009_incident_details.sql"),
    ),
    (
        10,
        "alert_ends",
        include_str!("migrations/0010_alert_ends.sql"),
    ),
    (
        11,
        "roles_audit",
        include_str!("migrations/0011_roles_audit.sql"),
    ),
    (12, "accounts", include_str!("migrations/0012_accounts.sql")),
    (13, "course", include_str!("migrations/0013_course.sql")),
    (14, "related", include_str!("migrations/0014_related.sql")),
    (15, "roles", include_str!("migrations/0015_roles.sql")),
    (16, "tasks", include_str!("migrations/0016_tasks.sql")),
    (17, "runbooks", include_str!("migrations/0017_runbooks.sql")),
    (18, "merges", include_str!("migrations/0018_merges.sql")),
    (
        19,
        "automation",
        include_str!("migrations/0019_automation.sql"),
    ),
    (20, "updates", include_str!("migrations/0020_updates.sql")),
    (21, "slack", include_str!("migrations/0021_slack.sql")),
    (
        22,
        "status_pages",
        include_str!("migrations/0022_status_pages.sql"),
    ),
    (
        23,
        "public_incidents",
        include_str!("migrations/0023_public_incidents.sql"),
    ),
    (
        24,
        "status_history",
        include_str!("migrations/0024_status_history.sql"),
    ),
];

pub(super) fn run(conn: &mut Connection) -> Result<()> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)",
    )
    .map_err(backend)?;
    let current: i64 = conn
        .query_row(
            "SELECT coalesce(max(version), 0) FROM schema_migrations",
            [],
            |r| r.get(0),
        )
        .map_err(backend)?;
    if let Some((latest, _, _)) = MIGRATIONS.last()
        && current > *latest
    {
        return Err(crate::StoreError::Backend(format!(
            "the database is at schema version {current}, newer than this Tocsin knows ({latest}); upgrade Tocsin"
        )));
    }
    for (version, name, sql) in MIGRATIONS.iter().filter(|(v, _, _)| *v > current) {
        let tx = conn.transaction().map_err(backend)?;
        tx.execute_batch(sql)
            .map_err(|e| backend(format!("migration {version} ({name}) failed: {e}")))?;
        tx.execute(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?1, ?2, ?3)",
            rusqlite::params![version, name, chrono::Utc::now().timestamp_micros()],
        )
        .map_err(backend)?;
        tx.commit().map_err(backend)?;
        tracing::info!(version, name, "Applied database migration.");
    }
    Ok(())
}
