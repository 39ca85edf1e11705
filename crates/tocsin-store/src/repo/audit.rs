//! The audit log: written inside the transaction of the change it records, listed newest first.

use super::rows::{self, parse_cursor, to_json, ts};
use crate::db::SqlStore;
use crate::params;
use crate::sql::{Conn, Row};
use crate::{AuditFilter, AuditRepo, Page, Result};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tocsin_domain::audit::{AuditEntry, AuditRecord};
use tocsin_domain::incident::{Actor, ActorKind};

pub(crate) fn insert(c: &dyn Conn, e: &AuditEntry) -> Result<()> {
    c.execute_later(
        "INSERT INTO audit_log (at, actor_kind, actor_id, actor_name, action, target, summary, address) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            ts(e.at),
            kind_str(e.actor.kind),
            e.actor.id.as_deref(),
            e.actor.name,
            e.action,
            e.target,
            to_json(&e.summary),
            e.address.as_deref()
        ],
    )
}

fn kind_str(kind: ActorKind) -> &'static str {
    match kind {
        ActorKind::User => "user",
        ActorKind::Token => "token",
        ActorKind::Integration => "integration",
        ActorKind::System => "system",
    }
}

fn record(row: &Row<'_>) -> Result<AuditRecord> {
    let kind: String = row.get(2)?;
    let kind = match kind.as_str() {
        "user" => ActorKind::User,
        "token" => ActorKind::Token,
        "integration" => ActorKind::Integration,
        _ => ActorKind::System,
    };
    Ok(AuditRecord {
        seq: row.get(0)?,
        entry: AuditEntry {
            at: row.time(1)?,
            actor: Actor {
                kind,
                id: row.get(3)?,
                name: row.get(4)?,
            },
            action: row.get(5)?,
            target: row.get(6)?,
            summary: row.json(7)?,
            address: row.get(8)?,
        },
    })
}

#[async_trait]
impl AuditRepo for SqlStore {
    async fn record(&self, entry: AuditEntry) -> Result<()> {
        self.write(move |c| insert(c, &entry)).await
    }

    async fn list(&self, f: AuditFilter) -> Result<Page<AuditRecord>> {
        self.read(move |c| {
            let mut w = rows::Conditions::default();
            if let Some(seq) = parse_cursor(f.cursor.as_deref(), 'a')? {
                w.with("seq < {}", seq);
            }
            if let Some(actor) = &f.actor {
                w.with("(actor_id = {} OR actor_name = {})", actor.clone());
            }
            if let Some(action) = &f.action {
                let exact = w.param(action.clone());
                let prefix = w.param(format!("{action}."));
                w.push(format!(
                    "(action = {exact} OR substr(action, 1, length({prefix})) = {prefix})"
                ));
            }
            if let Some(target) = &f.target {
                w.with("target = {}", target.clone());
            }
            if let Some(t) = f.since {
                w.with("at >= {}", ts(t));
            }
            if let Some(t) = f.until {
                w.with("at < {}", ts(t));
            }
            let limit = rows::page_limit(f.limit);
            let m = w.param(i64::from(limit + 1));
            let sql = format!(
                "SELECT seq, at, actor_kind, actor_id, actor_name, action, target, summary, address \
                 FROM audit_log WHERE {} ORDER BY seq DESC LIMIT {m}",
                w.sql()
            );
            let mut items = c.query_all(&sql, &w.params(), record)?;
            let next_cursor = (items.len() > limit as usize).then(|| {
                items.truncate(limit as usize);
                format!("a{}", items.last().map(|i| i.seq).unwrap_or_default())
            });
            Ok(Page { items, next_cursor })
        })
        .await
    }

    async fn prune(&self, before: DateTime<Utc>) -> Result<u64> {
        self.write(move |c| {
            c.execute("DELETE FROM audit_log WHERE at < ?1", params![ts(before)])
                .map(|n| n as u64)
        })
        .await
    }

    async fn recent(
        &self,
        action: &str,
        target: &str,
        address: Option<&str>,
        since: DateTime<Utc>,
    ) -> Result<(i64, i64)> {
        let (action, target, address) = (
            action.to_owned(),
            target.to_owned(),
            address.map(str::to_owned),
        );
        self.read(move |c| {
            let by_target: i64 = c.query_one(
                "SELECT count(*) FROM audit_log WHERE at >= ?1 AND action = ?2 AND target = ?3",
                params![ts(since), action, target],
                |r| r.get(0),
            )?;
            let by_address: i64 = match &address {
                Some(a) => c.query_one(
                    "SELECT count(*) FROM audit_log WHERE at >= ?1 AND action = ?2 AND address = ?3",
                    params![ts(since), action, a],
                    |r| r.get(0),
                )?,
                None => 0,
            };
            Ok((by_target, by_address))
        })
        .await
    }
}
