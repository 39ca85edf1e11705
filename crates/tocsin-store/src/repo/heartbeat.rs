//! Heartbeat integrations: each has a timer row whose due time is its last beat plus interval and grace.
//!
//! A missed beat is an alert like any other: the engine feeds a trigger through the same ingest path a sender's
//! event takes (dedup, triage, incident, escalation), and the next beat feeds the resolve.

use super::rows::{time, ts};
use crate::db::SqlStore;
use crate::params;
use crate::sql::Conn;
use crate::{HeartbeatStatus, IntegrationKind, Result};
use chrono::{DateTime, Utc};
use tocsin_domain::ids::IntegrationId;
use tocsin_domain::integration::{HeartbeatConfig, heartbeat};
use tocsin_domain::senders::Batch;

/// Arms (or re-arms with new settings) the timer of a heartbeat integration; `since` stands in for the last beat
/// when there has been none.
pub(super) fn arm(
    c: &dyn Conn,
    integration: &IntegrationId,
    config: &HeartbeatConfig,
    since: DateTime<Utc>,
) -> Result<()> {
    c.execute(
        "INSERT INTO heartbeats (integration_id, interval_secs, grace_secs, due_at) VALUES (?1, ?2, ?3, ?4) \
         ON CONFLICT (integration_id) DO UPDATE SET interval_secs = excluded.interval_secs, grace_secs = excluded.grace_secs, \
         due_at = CASE WHEN heartbeats.down = 1 THEN NULL ELSE coalesce(heartbeats.last_beat_at, ?5) + (excluded.interval_secs + excluded.grace_secs) * 1000000 END",
        params![
            integration.as_str(),
            config.interval_seconds,
            config.grace_seconds,
            ts(since + config.deadline()),
            ts(since)
        ],
    )?;
    Ok(())
}

/// Opens an alert for every heartbeat overdue at `now`.
pub(super) fn fire_due(
    c: &dyn Conn,
    triage: &super::noise::TriageCache,
    now: DateTime<Utc>,
) -> Result<u32> {
    // A revoked heartbeat (or one whose service was deleted) never fires again.
    c.execute(
        "UPDATE heartbeats SET due_at = NULL WHERE due_at <= ?1 AND integration_id IN (SELECT id FROM integrations WHERE revoked_at IS NOT NULL)",
        params![ts(now)],
    )?;
    let due: Vec<(String, String, u32, Option<i64>)> = c.query_all(
        "SELECT h.integration_id, i.key_hash, h.interval_secs, h.last_beat_at FROM heartbeats h \
         JOIN integrations i ON i.id = h.integration_id \
         WHERE h.due_at IS NOT NULL AND h.due_at <= ?1 AND i.revoked_at IS NULL",
        params![ts(now)],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
    )?;
    let mut fired = 0;
    for (id, key_hash, interval, last) in due {
        let batch = Batch::new(vec![heartbeat::missed(interval, last.map(time))]);
        super::ingest::apply_batch(
            c,
            triage,
            &key_hash,
            IntegrationKind::Heartbeat,
            &batch,
            now,
        )?;
        c.execute(
            "UPDATE heartbeats SET down = 1, due_at = NULL WHERE integration_id = ?1",
            params![id],
        )?;
        fired += 1;
    }
    Ok(fired)
}

/// Records a beat: re-arms the timer and, if the heartbeat was down, resolves its alert.
pub(super) fn beat(
    c: &dyn Conn,
    triage: &super::noise::TriageCache,
    key_hash: &str,
    now: DateTime<Utc>,
) -> Result<HeartbeatStatus> {
    let row: Option<(String, u32, u32, bool)> = c.query_opt(
        "SELECT h.integration_id, h.interval_secs, h.grace_secs, h.down FROM heartbeats h \
         JOIN integrations i ON i.id = h.integration_id WHERE i.key_hash = ?1 AND i.revoked_at IS NULL",
        params![key_hash],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
    )?;
    let Some((id, interval, grace, down)) = row else {
        // Unknown, revoked or another kind: the ingest path gives the precise error.
        super::ingest::apply_batch(
            c,
            triage,
            key_hash,
            IntegrationKind::Heartbeat,
            &Batch::new(vec![]),
            now,
        )?;
        return Err(crate::StoreError::UnknownRoutingKey);
    };
    if down {
        super::ingest::apply_batch(
            c,
            triage,
            key_hash,
            IntegrationKind::Heartbeat,
            &Batch::new(vec![heartbeat::back()]),
            now,
        )?;
    }
    let next_due = now + chrono::Duration::seconds(i64::from(interval) + i64::from(grace));
    c.execute(
        "UPDATE heartbeats SET last_beat_at = ?2, due_at = ?3, down = 0 WHERE integration_id = ?1",
        params![id, ts(now), ts(next_due)],
    )?;
    Ok(HeartbeatStatus {
        integration_id: IntegrationId::from_trusted(id),
        recovered: down,
        next_due,
    })
}

impl SqlStore {
    pub(super) async fn heartbeat_beat(
        &self,
        key_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<HeartbeatStatus> {
        let key_hash = key_hash.to_owned();
        let triage = self.inner.triage.clone();
        self.write(move |c| beat(c, &triage, &key_hash, now)).await
    }
}
