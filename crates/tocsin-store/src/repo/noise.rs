//! Rules, silences and maintenance windows, and the loading of what ingest needs of them.
//!
//! Ingest triages every trigger against all three, so each process keeps them in memory as a [`Snapshot`]. The
//! snapshot is never the authority: every change to rules, silences, windows or the services they name stores a
//! fresh random token ([`triage_changed`]) in the same transaction, and ingest reads the token in its own
//! transaction and reloads the snapshot when the token is not the one it was loaded under. A change made through
//! any process on the same database therefore applies to the next event every process ingests; a token from a
//! transaction that rolled back is never stored again, so it cannot match.

use super::catalog::load_service;
use super::rows::{to_json, ts};
use crate::db::SqlStore;
use crate::params;
use crate::sql::{Conn, Row};
use crate::{NoiseRepo, Result, StoreError};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::sync::{Arc, Mutex};
use tocsin_domain::FieldError;
use tocsin_domain::ids::{MaintenanceId, RuleId, ServiceId, SilenceId};
use tocsin_domain::noise::{
    MaintenanceSpec, MaintenanceWindow, Rule, RuleAction, RuleSpec, Silence, SilenceSpec,
};
use tocsin_domain::refs::ServiceRef;

const RULE_COLUMNS: &str = "id, name, position, service, matchers, action";

fn rule(row: &Row<'_>) -> Result<Rule> {
    Ok(Rule {
        id: RuleId::from_trusted(row.get(0)?),
        name: row.get(1)?,
        position: row.get(2)?,
        service: row.get(3)?,
        matchers: row.json(4)?,
        action: row.json(5)?,
    })
}

/// Every rule in the order they run.
pub(super) fn load_rules(c: &dyn Conn) -> Result<Vec<Rule>> {
    c.query_all(
        &format!("SELECT {RULE_COLUMNS} FROM rules ORDER BY position, id"),
        params![],
        rule,
    )
}

fn load_rule(c: &dyn Conn, id: &RuleId) -> Result<Rule> {
    c.find(
        &format!("SELECT {RULE_COLUMNS} FROM rules WHERE id = ?1"),
        params![id.as_str()],
        rule,
        "rule",
        id.as_str(),
    )
}

/// A rule's references must name live services: refusing a typo beats a rule that silently never applies.
fn check_rule(c: &dyn Conn, spec: &RuleSpec) -> Result<()> {
    spec.validate()?;
    let exists = |name: &str, field: &str| match load_service(c, &ServiceRef::parse(name)) {
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

fn write_rule(c: &dyn Conn, r: &Rule, now: DateTime<Utc>, insert: bool) -> Result<()> {
    let sql = if insert {
        "INSERT INTO rules (id, name, position, service, matchers, action, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)"
    } else {
        "UPDATE rules SET name = ?2, position = ?3, service = ?4, matchers = ?5, action = ?6, updated_at = ?7 WHERE id = ?1"
    };
    c.execute(
        sql,
        params![
            r.id.as_str(),
            r.name,
            r.position,
            r.service,
            to_json(&r.matchers),
            to_json(&r.action),
            ts(now)
        ],
    )?;
    Ok(())
}

const SILENCE_COLUMNS: &str = "id, matchers, starts_at, ends_at, created_by, comment, created_at";

fn silence(row: &Row<'_>) -> Result<Silence> {
    Ok(Silence {
        id: SilenceId::from_trusted(row.get(0)?),
        matchers: row.json(1)?,
        starts_at: row.time(2)?,
        ends_at: row.time(3)?,
        created_by: row.get(4)?,
        comment: row.get(5)?,
        created_at: row.time(6)?,
    })
}

fn load_silence(c: &dyn Conn, id: &SilenceId) -> Result<Silence> {
    c.find(
        &format!("SELECT {SILENCE_COLUMNS} FROM silences WHERE id = ?1"),
        params![id.as_str()],
        silence,
        "silence",
        id.as_str(),
    )
}

const WINDOW_SELECT_WITH_SERVICE: &str = "SELECT m.id, s.name, m.description, m.schedule, m.created_at, m.service_id \
     FROM maintenance_windows m JOIN services s ON s.id = m.service_id WHERE s.deleted_at IS NULL";

const WINDOW_SELECT: &str = "SELECT m.id, s.name, m.description, m.schedule, m.created_at FROM maintenance_windows m JOIN services s ON s.id = m.service_id";

fn window(row: &Row<'_>) -> Result<MaintenanceWindow> {
    Ok(MaintenanceWindow {
        id: MaintenanceId::from_trusted(row.get(0)?),
        service: row.get(1)?,
        description: row.get(2)?,
        schedule: row.json(3)?,
        created_at: row.time(4)?,
    })
}

fn load_window(c: &dyn Conn, id: &MaintenanceId) -> Result<MaintenanceWindow> {
    c.find(
        &format!("{WINDOW_SELECT} WHERE m.id = ?1"),
        params![id.as_str()],
        window,
        "maintenance window",
        id.as_str(),
    )
}

#[async_trait]
impl NoiseRepo for SqlStore {
    async fn rules(&self) -> Result<Vec<Rule>> {
        self.read(load_rules).await
    }
    async fn create_rule(&self, spec: RuleSpec, now: DateTime<Utc>) -> Result<Rule> {
        self.write(move |c| {
            triage_changed(c)?;
            check_rule(c, &spec)?;
            let r = spec.clone().into_rule(RuleId::generate());
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
            triage_changed(c)?;
            load_rule(c, &id)?;
            check_rule(c, &spec)?;
            let r = spec.clone().into_rule(id.clone());
            write_rule(c, &r, now, false)?;
            Ok(r)
        })
        .await
    }
    async fn delete_rule(&self, id: &RuleId) -> Result<()> {
        let id = id.clone();
        self.write(move |c| {
            triage_changed(c)?;
            load_rule(c, &id)?;
            c.execute("DELETE FROM rules WHERE id = ?1", params![id.as_str()])?;
            Ok(())
        })
        .await
    }

    async fn silences(&self) -> Result<Vec<Silence>> {
        self.read(|c| {
            c.query_all(
                &format!("SELECT {SILENCE_COLUMNS} FROM silences ORDER BY ends_at DESC, id"),
                params![],
                silence,
            )
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
            triage_changed(c)?;
            spec.validate()?;
            let s = spec
                .clone()
                .into_silence(SilenceId::generate(), created_by.clone(), now);
            c.execute(
                "INSERT INTO silences (id, matchers, starts_at, ends_at, created_by, comment, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![s.id.as_str(), to_json(&s.matchers), ts(s.starts_at), ts(s.ends_at), s.created_by, s.comment, ts(now)],
            )?;
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
            triage_changed(c)?;
            let s = load_silence(c, &id)?;
            // A silence that has not started yet ends where it would have begun, so it never applies.
            let end = now.max(s.starts_at);
            c.execute(
                "UPDATE silences SET ends_at = ?2 WHERE id = ?1 AND ends_at > ?2",
                params![id.as_str(), ts(end)],
            )?;
            load_silence(c, &id)
        })
        .await
    }
    async fn extend_silence(&self, id: &SilenceId, ends_at: DateTime<Utc>) -> Result<Silence> {
        let id = id.clone();
        self.write(move |c| {
            triage_changed(c)?;
            let s = load_silence(c, &id)?;
            if ends_at <= s.starts_at {
                return Err(StoreError::Invalid(
                    FieldError::new("ends_at", "must be after the silence's starts_at").into(),
                ));
            }
            c.execute(
                "UPDATE silences SET ends_at = ?2 WHERE id = ?1",
                params![id.as_str(), ts(ends_at)],
            )?;
            load_silence(c, &id)
        })
        .await
    }

    async fn maintenance(&self, service: Option<ServiceRef>) -> Result<Vec<MaintenanceWindow>> {
        self.read(move |c| {
            let (sql, param) = match &service {
                Some(s) => (
                    format!("{WINDOW_SELECT} WHERE m.service_id = ?1 ORDER BY m.created_at, m.id"),
                    Some(load_service(c, s)?.id),
                ),
                None => (format!("{WINDOW_SELECT} ORDER BY m.created_at, m.id"), None),
            };
            match &param {
                Some(id) => c.query_all(&sql, params![id.as_str()], window),
                None => c.query_all(&sql, params![], window),
            }
        })
        .await
    }
    async fn create_maintenance(
        &self,
        spec: MaintenanceSpec,
        now: DateTime<Utc>,
    ) -> Result<MaintenanceWindow> {
        self.write(move |c| {
            triage_changed(c)?;
            spec.validate()?;
            let service = load_service(c, &ServiceRef::parse(&spec.service)).map_err(|e| match e {
                StoreError::NotFound { key, .. } => StoreError::Invalid(FieldError::new("service", format!("no service named {key}")).into()),
                e => e,
            })?;
            let w = spec.clone().into_window(MaintenanceId::generate(), now);
            c.execute(
                "INSERT INTO maintenance_windows (id, service_id, description, schedule, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![w.id.as_str(), service.id.as_str(), w.description, to_json(&w.schedule), ts(now)],
            )?;
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
            triage_changed(c)?;
            load_window(c, &id)?;
            c.execute(
                "DELETE FROM maintenance_windows WHERE id = ?1",
                params![id.as_str()],
            )?;
            Ok(())
        })
        .await
    }
}

/// What triage needs, as of the last change: every rule in order, the silences not yet ended, every window with its
/// service.
pub(crate) struct Snapshot {
    pub rules: Vec<Rule>,
    pub silences: Vec<Silence>,
    pub windows: Vec<(ServiceId, MaintenanceWindow)>,
}

/// The triage snapshot this process holds, and the token it was loaded under. Cheap to clone: clones share it.
#[derive(Clone, Default)]
pub(crate) struct TriageCache {
    current: Arc<Mutex<Option<Tokened>>>,
}

/// A snapshot and the token stored when it was loaded.
type Tokened = (i64, Arc<Snapshot>);

/// Records, in the caller's transaction, that what triage reads has changed.
pub(crate) fn triage_changed(c: &dyn Conn) -> Result<()> {
    c.execute(
        "UPDATE counters SET value = ?1 WHERE name = 'triage_version'",
        params![rand::random::<i64>()],
    )?;
    // A sender group re-sending an old state is triaged again under the new rules.
    super::ingest::forget_sender_groups(c)
}

/// The triage version stored now; the ingest path reads it with the integration, in the same statement.
pub(crate) const TRIAGE_VERSION: &str = "SELECT value FROM counters WHERE name = 'triage_version'";

/// The snapshot for the triage version `token` the caller read in its transaction.
pub(crate) fn snapshot_at(
    c: &dyn Conn,
    cache: &TriageCache,
    token: i64,
    now: DateTime<Utc>,
) -> Result<Arc<Snapshot>> {
    if let Some((cached, snap)) = cache.current.lock().expect("triage cache").as_ref()
        && *cached == token
    {
        return Ok(snap.clone());
    }
    let silences = c.query_all(
        &format!("SELECT {SILENCE_COLUMNS} FROM silences WHERE ends_at > ?1"),
        params![ts(now)],
        silence,
    )?;
    let windows = c.query_all(WINDOW_SELECT_WITH_SERVICE, params![], |r| {
        Ok((ServiceId::from_trusted(r.get(5)?), window(r)?))
    })?;
    let snap = Arc::new(Snapshot {
        rules: load_rules(c)?,
        silences,
        windows,
    });
    *cache.current.lock().expect("triage cache") = Some((token, snap.clone()));
    Ok(snap)
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
