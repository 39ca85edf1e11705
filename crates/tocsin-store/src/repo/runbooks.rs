//! Runbooks: `runbooks` holds each one's current version, `runbook_versions` every version kept.

use super::incidents::load as load_incident;
use super::rows::{self, ALERT_SELECT, to_json, ts};
use crate::db::SqlStore;
use crate::params;
use crate::sql::{Conn, Row};
use crate::{Conflict, Result, RunbookRepo, StoreError};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use tocsin_domain::FieldError;
use tocsin_domain::ValidationErrors;
use tocsin_domain::automation::Step;
use tocsin_domain::incident::{Actor, Incident};
use tocsin_domain::noise::AlertFields;
use tocsin_domain::refs::{IncidentRef, Key};
use tocsin_domain::runbooks::{
    MAX_RUNBOOKS, MAX_VERSIONS, Runbook, RunbookSpec, RunbookSummary, RunbookVersion,
};

/// The columns of a summary, from `runbooks r` joined with the version `v` wanted; [`runbook`] reads the body
/// and the steps after them.
const SUMMARY_COLUMNS: &str =
    "r.key, v.title, v.services, v.matchers, v.version, v.written_at, v.written_by";
const CURRENT: &str =
    "FROM runbooks r JOIN runbook_versions v ON v.key = r.key AND v.version = r.version";
/// How many of an incident's latest alerts a runbook's matchers are tried on.
const ALERTS_MATCHED: i64 = 100;

fn summary(r: &Row<'_>) -> Result<RunbookSummary> {
    Ok(RunbookSummary {
        key: Key::try_from(r.get::<String>(0)?).map_err(StoreError::Backend)?,
        title: r.get(1)?,
        services: r.json(2)?,
        matchers: r.json(3)?,
        version: u32::try_from(r.get::<i64>(4)?).unwrap_or_default(),
        updated_at: rows::time(r.get(5)?),
        updated_by: r.json(6)?,
    })
}

fn runbook(r: &Row<'_>) -> Result<Runbook> {
    Ok(Runbook {
        summary: summary(r)?,
        body: r.get(7)?,
        steps: r.json(8)?,
    })
}

pub(super) fn summaries(c: &dyn Conn) -> Result<Vec<RunbookSummary>> {
    c.query_all(
        &format!("SELECT {SUMMARY_COLUMNS} {CURRENT} ORDER BY v.title, r.key"),
        &[],
        summary,
    )
}

pub(super) fn load(c: &dyn Conn, key: &Key, version: Option<u32>) -> Result<Runbook> {
    let found = match version {
        None => c.query_opt(
            &format!("SELECT {SUMMARY_COLUMNS}, v.body, v.steps {CURRENT} WHERE r.key = ?1"),
            params![key.as_str()],
            runbook,
        )?,
        Some(v) => c.query_opt(
            &format!(
                "SELECT {SUMMARY_COLUMNS}, v.body, v.steps FROM runbooks r JOIN runbook_versions v ON v.key = r.key \
                 WHERE r.key = ?1 AND v.version = ?2"
            ),
            params![key.as_str(), i64::from(v)],
            runbook,
        )?,
    };
    found.ok_or_else(|| match version {
        None => StoreError::not_found("runbook", key.as_str()),
        Some(v) => StoreError::not_found("runbook version", format!("{key} version {v}")),
    })
}

/// Every runbook at its current version, with its body and steps.
pub(super) fn current(c: &dyn Conn) -> Result<Vec<Runbook>> {
    c.query_all(
        &format!("SELECT {SUMMARY_COLUMNS}, v.body, v.steps {CURRENT} ORDER BY r.key"),
        &[],
        runbook,
    )
}

/// The runbooks whose current version has steps that run on their own.
pub(super) fn automatic(c: &dyn Conn) -> Result<Vec<Runbook>> {
    c.query_all(
        &format!("SELECT {SUMMARY_COLUMNS}, v.body, v.steps {CURRENT} WHERE r.automatic = 1 ORDER BY r.key"),
        &[],
        runbook,
    )
}

/// Of `all`, the runbooks an incident shows: those of its services, and those whose matchers accept one of its
/// latest alerts. Alerts are read only when some runbook has matchers.
pub(super) fn matching(
    c: &dyn Conn,
    all: &[RunbookSummary],
    incident: &Incident,
) -> Result<Vec<RunbookSummary>> {
    let alerts = if all.iter().any(|r| !r.matchers.is_empty()) {
        c.query_all(
            &format!("{ALERT_SELECT} WHERE a.incident_id = ?1 ORDER BY a.seq DESC LIMIT ?2"),
            params![incident.id.as_str(), ALERTS_MATCHED],
            rows::alert,
        )?
    } else {
        Vec::new()
    };
    let mut of_alerts: Vec<&str> = alerts.iter().map(|a| a.service_id.as_str()).collect();
    of_alerts.sort_unstable();
    of_alerts.dedup();
    let names = rows::text_by_id(
        c,
        "SELECT id, name FROM services WHERE id IN ({})",
        &of_alerts,
    )?;
    let details: Vec<_> = alerts
        .iter()
        .map(|a| {
            let name = names
                .get(a.service_id.as_str())
                .cloned()
                .unwrap_or_default();
            (a.details(), name)
        })
        .collect();
    Ok(all
        .iter()
        .filter(|r| {
            r.applies_to(
                &incident.services,
                details.iter().map(|(d, name)| AlertFields::new(d, name)),
            )
        })
        .cloned()
        .collect())
}

/// What a runbook names must exist: its services and the secrets its steps use.
fn check(c: &dyn Conn, spec: RunbookSpec) -> Result<RunbookSpec> {
    let (spec, mut errors) = match spec.clone().validated() {
        Ok(spec) => (spec, ValidationErrors::default()),
        Err(e) => (spec, e),
    };
    for (j, s) in spec.services.iter().enumerate() {
        if !super::escalation::exists(c, "services", s.as_str())? {
            errors.push(format!("services[{j}]"), "no service has this ID");
        }
    }
    for (j, step) in spec.steps.iter().enumerate() {
        for secret in step.secrets() {
            if !super::automation::secret_exists(c, &secret)? {
                errors.push(
                    format!("steps[{j}].http"),
                    format!("uses secret {secret}, which is not set; set it first (tocsin secrets set {secret})"),
                );
            }
        }
    }
    errors.into_result(spec).map_err(StoreError::from)
}

#[async_trait]
impl RunbookRepo for SqlStore {
    async fn runbooks(&self) -> Result<Vec<RunbookSummary>> {
        self.read(summaries).await
    }

    async fn runbook(&self, key: &Key, version: Option<u32>) -> Result<Runbook> {
        let key = key.clone();
        self.read(move |c| load(c, &key, version)).await
    }

    async fn runbook_versions(&self, key: &Key) -> Result<Vec<RunbookVersion>> {
        let key = key.clone();
        self.read(move |c| {
            load(c, &key, None)?;
            c.query_all(
                "SELECT version, title, written_at, written_by FROM runbook_versions WHERE key = ?1 \
                 ORDER BY version DESC",
                params![key.as_str()],
                |r| {
                    Ok(RunbookVersion {
                        version: u32::try_from(r.get::<i64>(0)?).unwrap_or_default(),
                        title: r.get(1)?,
                        written_at: rows::time(r.get(2)?),
                        written_by: r.json(3)?,
                    })
                },
            )
        })
        .await
    }

    async fn put_runbook(
        &self,
        key: Key,
        spec: RunbookSpec,
        expected_version: Option<u32>,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<Runbook> {
        self.write(move |c| {
            let spec = check(c, spec.clone())?;
            let current = match load(c, &key, None) {
                Ok(r) => Some(r),
                Err(StoreError::NotFound { .. }) => None,
                Err(e) => return Err(e),
            };
            match (expected_version, &current) {
                (Some(0), Some(_)) => {
                    return Err(Conflict::NameTaken {
                        kind: "runbook",
                        name: key.to_string(),
                    }
                    .into());
                }
                (Some(v), None) if v > 0 => {
                    return Err(StoreError::not_found("runbook", key.as_str()));
                }
                (Some(v), Some(r)) if r.summary.version != v => {
                    return Err(Conflict::Changed {
                        kind: "runbook",
                        name: key.to_string(),
                        now: r.summary.version,
                    }
                    .into());
                }
                _ => {}
            }
            let version = match &current {
                // Writing what is there already writes no version, and no audit entry: applying the same files
                // twice changes nothing.
                Some(r) if r.spec() == spec => {
                    c.changed_nothing();
                    return Ok(r.clone());
                }
                Some(r) => r.summary.version + 1,
                None => {
                    let count = c.query_one("SELECT count(*) FROM runbooks", &[], |r| {
                        r.get::<i64>(0)
                    })?;
                    if usize::try_from(count).unwrap_or(usize::MAX) >= MAX_RUNBOOKS {
                        return Err(StoreError::Invalid(
                            FieldError::new(
                                "key",
                                format!("there are already {MAX_RUNBOOKS} runbooks; remove one first"),
                            )
                            .into(),
                        ));
                    }
                    c.execute(
                        "INSERT INTO runbooks (key, version, created_at) VALUES (?1, 0, ?2)",
                        params![key.as_str(), ts(now)],
                    )?;
                    1
                }
            };
            c.execute(
                "INSERT INTO runbook_versions (key, version, title, body, services, matchers, written_at, \
                 written_by, steps) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![
                    key.as_str(),
                    i64::from(version),
                    spec.title.as_str(),
                    spec.body.as_str(),
                    to_json(&spec.services),
                    to_json(&spec.matchers),
                    ts(now),
                    to_json(&actor),
                    to_json(&spec.steps)
                ],
            )?;
            c.execute(
                "UPDATE runbooks SET version = ?2, automatic = ?3 WHERE key = ?1",
                params![
                    key.as_str(),
                    i64::from(version),
                    spec.steps.iter().any(|s| s.automatic)
                ],
            )?;
            c.execute(
                "DELETE FROM runbook_versions WHERE key = ?1 AND version <= ?2",
                params![key.as_str(), i64::from(version) - i64::from(MAX_VERSIONS)],
            )?;
            load(c, &key, None)
        })
        .await
    }

    async fn delete_runbook(&self, key: &Key) -> Result<()> {
        let key = key.clone();
        self.write(move |c| {
            let deleted =
                c.execute("DELETE FROM runbooks WHERE key = ?1", params![key.as_str()])?;
            if deleted == 0 {
                return Err(StoreError::not_found("runbook", key.as_str()));
            }
            Ok(())
        })
        .await
    }

    async fn incident_runbooks(&self, incident: &IncidentRef) -> Result<Vec<Runbook>> {
        let incident = incident.clone();
        self.read(move |c| {
            let i = load_incident(c, &incident)?;
            let shown = matching(c, &summaries(c)?, &i)?;
            let keys: Vec<&str> = shown.iter().map(|r| r.key.as_str()).collect();
            let mut texts: HashMap<String, (String, Vec<Step>)> = rows::query_in(
                c,
                &format!("SELECT r.key, v.body, v.steps {CURRENT} WHERE r.key IN ({{}})"),
                &keys,
                |r| Ok((r.get(0)?, (r.get(1)?, r.json(2)?))),
            )?
            .into_iter()
            .collect();
            Ok(shown
                .into_iter()
                .map(|summary| {
                    let (body, steps) = texts.remove(summary.key.as_str()).unwrap_or_default();
                    Runbook {
                        body,
                        steps,
                        summary,
                    }
                })
                .collect())
        })
        .await
    }
}
