//! Rules, silences and maintenance windows, and the loading of what ingest needs of them.
//!
//! Ingest triages every trigger against all three, so the writer thread keeps them in memory as a [`Snapshot`].
//! It is safe because every change to them is a write job on that same thread, which drops the snapshot
//! ([`invalidate`]), as does a failed commit (whose changes the snapshot might have seen).

use super::catalog::load_service;
use super::rows::{find, json_col, time, to_json, ts};
use super::{SqliteStore, backend};
use crate::{NoiseRepo, Result, StoreError};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{Connection, Row};
use tocsin_domain::FieldError;
use tocsin_domain::ids::{MaintenanceId, RuleId, ServiceId, SilenceId};
use tocsin_domain::noise::{
    MaintenanceSpec, MaintenanceWindow, Rule, RuleAction, RuleSpec, Silence, SilenceSpec,
};

const RULE_COLUMNS: &str = "id, name, position, service, matchers, action";

fn rule(row: &Row<'_>) -> rusqlite::Result<Rule> {
    Ok(Rule {
        id: RuleId::from_trusted(row.get(0)?),
        name: row.get(1)?,
        position: row.get(2)?,
        service: row.get(3)?,
        matchers: json_col(row, 4)?,
        action: json_col(row, 5)?,
    })
}

/// Every rule in the order they run.
pub(super) fn load_rules(c: &Connection) -> Result<Vec<Rule>> {
    let mut stmt = c
        .prepare_cached(&format!(
            "SELECT {RULE_COLUMNS} FROM rules ORDER BY position, id"
        ))
        .map_err(backend)?;
    stmt.query_map([], rule)
        .and_then(Iterator::collect)
        .map_err(backend)
}

fn load_rule(c: &Connection, id: &RuleId) -> Result<Rule> {
    find(
        c,
        &format!("SELECT {RULE_COLUMNS} FROM rules WHERE id = ?1"),
        [id.as_str()],
        rule,
        "rule",
        id.as_str(),
    )
}

/// A rule's references must name live services: refusing a typo beats a rule that silently never applies.
fn check_rule(c: &Connection, spec: &RuleSpec) -> Result<()> {
    spec.validate()?;
    let exists = |name: &str, field: &str| match load_service(c, name) {
        Ok(_) => Ok(()),
        Err(StoreError::NotFound { .. }) => Err(StoreError::Invalid(
            FieldError::new(field, format!("no service named {name}")).into(),
        )),
        Err(e) => Err(e),
    };
    if let Some(s) = &spec.service {
        exists(s.trim(), "service")?;
    }
    if let RuleAction::Route { service } = &spec.action {
        exists(service.trim(), "action.service")?;
    }
    Ok(())
}

fn write_rule(c: &Connection, r: &Rule, now: DateTime<Utc>, insert: bool) -> Result<()> {
    let sql = if insert {
        "INSERT INTO rules (id, name, position, service, matchers, action, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)"
    } else {
        "UPDATE rules SET name = ?2, position = ?3, service = ?4, matchers = ?5, action = ?6, updated_at = ?7 WHERE id = ?1"
    };
    c.execute(
        sql,
        rusqlite::params![
            r.id.as_str(),
            r.name,
            r.position,
            r.service,
            to_json(&r.matchers),
            to_json(&r.action),
            ts(now)
        ],
    )
    .map_err(backend)?;
    Ok(())
}

const SILENCE_COLUMNS: &str = "id, matchers, starts_at, ends_at, created_by, comment, created_at";

fn silence(row: &Row<'_>) -> rusqlite::Result<Silence> {
    Ok(Silence {
        id: SilenceId::from_trusted(row.get(0)?),
        matchers: json_col(row, 1)?,
        starts_at: time(row.get(2)?),
        ends_at: time(row.get(3)?),
        created_by: row.get(4)?,
        comment: row.get(5)?,
        created_at: time(row.get(6)?),
    })
}

fn load_silence(c: &Connection, id: &SilenceId) -> Result<Silence> {
    find(
        c,
        &format!("SELECT {SILENCE_COLUMNS} FROM silences WHERE id = ?1"),
        [id.as_str()],
        silence,
        "silence",
        id.as_str(),
    )
}

const WINDOW_SELECT_WITH_SERVICE: &str = "SELECT m.id, s.name, m.description, m.schedule, m.created_at, m.service_id \
     FROM maintenance_windows m JOIN services s ON s.id = m.service_id WHERE s.deleted_at IS NULL";

const WINDOW_SELECT: &str = "SELECT m.id, s.name, m.description, m.schedule, m.created_at FROM maintenance_windows m JOIN services s ON s.id = m.service_id";

fn window(row: &Row<'_>) -> rusqlite::Result<MaintenanceWindow> {
    Ok(MaintenanceWindow {
        id: MaintenanceId::from_trusted(row.get(0)?),
        service: row.get(1)?,
        description: row.get(2)?,
        schedule: json_col(row, 3)?,
        created_at: time(row.get(4)?),
    })
}

fn load_window(c: &Connection, id: &MaintenanceId) -> Result<MaintenanceWindow> {
    find(
        c,
        &format!("{WINDOW_SELECT} WHERE m.id = ?1"),
        [id.as_str()],
        window,
        "maintenance window",
        id.as_str(),
    )
}

#[async_trait]
impl NoiseRepo for SqliteStore {
    async fn rules(&self) -> Result<Vec<Rule>> {
        self.read(load_rules).await
    }
    async fn create_rule(&self, spec: RuleSpec, now: DateTime<Utc>) -> Result<Rule> {
        self.write(move |c| {
            invalidate();
            check_rule(c, &spec)?;
            let r = spec.into_rule(RuleId::generate());
            write_rule(c, &r, now, true)?;
            Ok(r)
        })
        .await
    }
    async fn get_rule(&self, id: &RuleId) -> Result<Rule> {
        let id = id.clone();
        self.read(move |c| load_rule(c, &id)).await
    }
    async fn replace_rule(&self, id: &RuleId, spec: RuleSpec, now: DateTime<Utc>) -> Result<Rule> {
        let id = id.clone();
        self.write(move |c| {
            invalidate();
            load_rule(c, &id)?;
            check_rule(c, &spec)?;
            let r = spec.into_rule(id);
            write_rule(c, &r, now, false)?;
            Ok(r)
        })
        .await
    }
    async fn delete_rule(&self, id: &RuleId) -> Result<()> {
        let id = id.clone();
        self.write(move |c| {
            invalidate();
            load_rule(c, &id)?;
            c.execute("DELETE FROM rules WHERE id = ?1", [id.as_str()])
                .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn silences(&self) -> Result<Vec<Silence>> {
        self.read(|c| {
            let mut stmt = c
                .prepare_cached(&format!(
                    "SELECT {SILENCE_COLUMNS} FROM silences ORDER BY ends_at DESC"
                ))
                .map_err(backend)?;
            stmt.query_map([], silence)
                .and_then(Iterator::collect)
                .map_err(backend)
        })
        .await
    }
    async fn create_silence(
        &self,
        spec: SilenceSpec,
        created_by: String,
        now: DateTime<Utc>,
    ) -> Result<Silence> {
        self.write(move |c| {
            invalidate();
            spec.validate()?;
            let s = spec.into_silence(SilenceId::generate(), created_by, now);
            c.execute(
                "INSERT INTO silences (id, matchers, starts_at, ends_at, created_by, comment, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                rusqlite::params![s.id.as_str(), to_json(&s.matchers), ts(s.starts_at), ts(s.ends_at), s.created_by, s.comment, ts(now)],
            )
            .map_err(backend)?;
            Ok(s)
        })
        .await
    }
    async fn get_silence(&self, id: &SilenceId) -> Result<Silence> {
        let id = id.clone();
        self.read(move |c| load_silence(c, &id)).await
    }
    async fn expire_silence(&self, id: &SilenceId, now: DateTime<Utc>) -> Result<Silence> {
        let id = id.clone();
        self.write(move |c| {
            invalidate();
            let s = load_silence(c, &id)?;
            // A silence that has not started yet ends where it would have begun, so it never applies.
            let end = now.max(s.starts_at);
            c.execute(
                "UPDATE silences SET ends_at = ?2 WHERE id = ?1 AND ends_at > ?2",
                rusqlite::params![id.as_str(), ts(end)],
            )
            .map_err(backend)?;
            load_silence(c, &id)
        })
        .await
    }
    async fn extend_silence(&self, id: &SilenceId, ends_at: DateTime<Utc>) -> Result<Silence> {
        let id = id.clone();
        self.write(move |c| {
            invalidate();
            let s = load_silence(c, &id)?;
            if ends_at <= s.starts_at {
                return Err(StoreError::Invalid(
                    FieldError::new("ends_at", "must be after the silence's starts_at").into(),
                ));
            }
            c.execute(
                "UPDATE silences SET ends_at = ?2 WHERE id = ?1",
                rusqlite::params![id.as_str(), ts(ends_at)],
            )
            .map_err(backend)?;
            load_silence(c, &id)
        })
        .await
    }

    async fn maintenance(&self, service: Option<String>) -> Result<Vec<MaintenanceWindow>> {
        self.read(move |c| {
            let (sql, param) = match &service {
                Some(s) => (
                    format!("{WINDOW_SELECT} WHERE m.service_id = ?1 ORDER BY m.created_at"),
                    Some(load_service(c, s)?.id),
                ),
                None => (format!("{WINDOW_SELECT} ORDER BY m.created_at"), None),
            };
            let mut stmt = c.prepare(&sql).map_err(backend)?;
            let rows = match &param {
                Some(id) => stmt.query_map([id.as_str()], window),
                None => stmt.query_map([], window),
            };
            rows.and_then(Iterator::collect).map_err(backend)
        })
        .await
    }
    async fn create_maintenance(
        &self,
        spec: MaintenanceSpec,
        now: DateTime<Utc>,
    ) -> Result<MaintenanceWindow> {
        self.write(move |c| {
            invalidate();
            spec.validate()?;
            let service = load_service(c, spec.service.trim()).map_err(|e| match e {
                StoreError::NotFound { key, .. } => StoreError::Invalid(FieldError::new("service", format!("no service named {key}")).into()),
                e => e,
            })?;
            let w = spec.into_window(MaintenanceId::generate(), now);
            c.execute(
                "INSERT INTO maintenance_windows (id, service_id, description, schedule, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                rusqlite::params![w.id.as_str(), service.id.as_str(), w.description, to_json(&w.schedule), ts(now)],
            )
            .map_err(backend)?;
            load_window(c, &w.id)
        })
        .await
    }
    async fn get_maintenance(&self, id: &MaintenanceId) -> Result<MaintenanceWindow> {
        let id = id.clone();
        self.read(move |c| load_window(c, &id)).await
    }
    async fn delete_maintenance(&self, id: &MaintenanceId) -> Result<()> {
        let id = id.clone();
        self.write(move |c| {
            invalidate();
            load_window(c, &id)?;
            c.execute(
                "DELETE FROM maintenance_windows WHERE id = ?1",
                [id.as_str()],
            )
            .map_err(backend)?;
            Ok(())
        })
        .await
    }
}

/// What triage needs, as of the last change: every rule in order, the silences not yet ended, every window with its
/// service.
pub(super) struct Snapshot {
    pub rules: Vec<Rule>,
    pub silences: Vec<Silence>,
    pub windows: Vec<(ServiceId, MaintenanceWindow)>,
}

thread_local! {
    static SNAPSHOT: std::cell::RefCell<Option<std::rc::Rc<Snapshot>>> = const { std::cell::RefCell::new(None) };
}

/// The writer thread's snapshot, loaded on first use after a change.
pub(super) fn snapshot(c: &Connection, now: DateTime<Utc>) -> Result<std::rc::Rc<Snapshot>> {
    if let Some(s) = SNAPSHOT.with(|s| s.borrow().clone()) {
        return Ok(s);
    }
    let mut stmt = c
        .prepare_cached(&format!(
            "SELECT {SILENCE_COLUMNS} FROM silences WHERE ends_at > ?1"
        ))
        .map_err(backend)?;
    let silences = stmt
        .query_map([ts(now)], silence)
        .and_then(Iterator::collect)
        .map_err(backend)?;
    let mut stmt = c
        .prepare_cached(WINDOW_SELECT_WITH_SERVICE)
        .map_err(backend)?;
    let windows = stmt
        .query_map([], |r| Ok((ServiceId::from_trusted(r.get(5)?), window(r)?)))
        .and_then(Iterator::collect)
        .map_err(backend)?;
    let snap = std::rc::Rc::new(Snapshot {
        rules: load_rules(c)?,
        silences,
        windows,
    });
    SNAPSHOT.with(|s| *s.borrow_mut() = Some(snap.clone()));
    Ok(snap)
}

/// Drops the snapshot after a change to rules, silences or windows.
pub(super) fn invalidate() {
    SNAPSHOT.with(|s| *s.borrow_mut() = None);
}

impl Snapshot {
    /// The service's windows open at `now`.
    pub fn open_window(
        &self,
        service: &ServiceId,
        now: DateTime<Utc>,
    ) -> Option<&MaintenanceWindow> {
        self.windows
            .iter()
            .find(|(s, w)| s == service && w.is_active(now))
            .map(|(_, w)| w)
    }
}
