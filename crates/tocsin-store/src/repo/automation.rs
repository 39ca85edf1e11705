//! Runbook automation: `automation_secrets` (sealed values steps' requests use), `automation_runs` (each run of a
//! step for an incident, from its request to its end; a row with a due time while queued or running) and
//! `automation_checks` (incidents that opened or gained an alert, to look at for automatic steps).

use super::incidents::{load as load_incident, load_many};
use super::rows::{self, ALERT_SELECT, to_json, ts};
use crate::db::SqlStore;
use crate::params;
use crate::sql::{Conn, Dialect, Row};
use crate::{AutomationRepo, ClaimedRun, Conflict, Dependents, Result, StoreError};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, HashMap};
use tocsin_domain::FieldError;
use tocsin_domain::automation::{
    self, Finished, MAX_SECRET_BYTES, MAX_SECRETS, Run, RunStatus, SecretInfo,
};
use tocsin_domain::ids::{IncidentId, RunId};
use tocsin_domain::incident::{
    Actor, Incident, IncidentStatus, TimelineEntry, TimelineEvent, TransitionError,
};
use tocsin_domain::refs::{IncidentRef, Key};

const RUN_COLUMNS: &str = "id, incident_id, runbook, runbook_version, step, status, requested_at, requested_by, \
     approved_at, approved_by, started_at, finished_at, outcome, output, idempotency_key, retry_of";

pub(super) const RUNS_DUE: &str =
    "SELECT min(due_at) AS due FROM automation_runs WHERE due_at IS NOT NULL";
pub(super) const CHECKS_DUE: &str = "SELECT min(due_at) AS due FROM automation_checks";

fn run(r: &Row<'_>) -> Result<Run> {
    let status: String = r.get(5)?;
    Ok(Run {
        id: RunId::from_trusted(r.get::<String>(0)?),
        incident_id: IncidentId::from_trusted(r.get::<String>(1)?),
        runbook: Key::try_from(r.get::<String>(2)?).map_err(StoreError::Backend)?,
        runbook_version: u32::try_from(r.get::<i64>(3)?).unwrap_or_default(),
        step: r.json(4)?,
        status: RunStatus::parse(&status)
            .ok_or_else(|| StoreError::Backend(format!("unknown run status {status:?}")))?,
        requested_at: rows::time(r.get(6)?),
        requested_by: r.json(7)?,
        approved_at: r.get::<Option<i64>>(8)?.map(rows::time),
        approved_by: r.opt_json(9)?,
        started_at: r.get::<Option<i64>>(10)?.map(rows::time),
        finished_at: r.get::<Option<i64>>(11)?.map(rows::time),
        outcome: r.get(12)?,
        output: r.get(13)?,
        idempotency_key: r.get(14)?,
        retry_of: r.get::<Option<String>>(15)?.map(RunId::from_trusted),
    })
}

fn load_run(c: &dyn Conn, id: &RunId) -> Result<Run> {
    c.find(
        &format!("SELECT {RUN_COLUMNS} FROM automation_runs WHERE id = ?1"),
        params![id.as_str()],
        run,
        "run",
        id.as_str(),
    )
}

/// Stores a new run, refusing a second active one of the step for the incident, and puts the request on the
/// incident's timeline.
fn insert_run(c: &dyn Conn, run: &Run, incident: &Incident) -> Result<()> {
    let active: Option<(String, String)> = c.query_opt(
        "SELECT id, status FROM automation_runs WHERE incident_id = ?1 AND runbook = ?2 AND step_key = ?3 \
         AND active = 1",
        params![
            run.incident_id.as_str(),
            run.runbook.as_str(),
            run.step.key.as_str()
        ],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    if let Some((id, status)) = active {
        return Err(Conflict::RunActive {
            runbook: run.runbook.to_string(),
            step: run.step.key.to_string(),
            number: incident.number,
            run: id,
            status: RunStatus::parse(&status).map_or("active", RunStatus::as_str),
        }
        .into());
    }
    let due = (run.status == RunStatus::Queued).then(|| ts(run.requested_at));
    c.execute(
        "INSERT INTO automation_runs (id, incident_id, runbook, runbook_version, step_key, step, status, active, \
         requested_at, requested_by, idempotency_key, retry_of, due_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 1, ?8, ?9, ?10, ?11, ?12)",
        params![
            run.id.as_str(),
            run.incident_id.as_str(),
            run.runbook.as_str(),
            i64::from(run.runbook_version),
            run.step.key.as_str(),
            to_json(&run.step),
            run.status.as_str(),
            ts(run.requested_at),
            to_json(&run.requested_by),
            run.idempotency_key.as_str(),
            run.retry_of.as_ref().map(|r| r.as_str()),
            due
        ],
    )?;
    let entry = TimelineEntry::new(
        run.requested_at,
        &run.requested_by,
        TimelineEvent::RunRequested {
            run_id: run.id.clone(),
            runbook: run.runbook.clone(),
            step: run.step.key.clone(),
            title: run.step.title.clone(),
            needs_approval: run.step.needs_approval,
            retry_of: run.retry_of.clone(),
        },
    );
    rows::record_timeline(c, &incident.id, &entry)
}

/// Writes what a run's end changed and puts it on the timeline.
fn record_end(c: &dyn Conn, run: &Run, now: DateTime<Utc>) -> Result<()> {
    c.execute(
        "UPDATE automation_runs SET status = ?2, active = 0, due_at = NULL, claimed_by = NULL, finished_at = ?3, \
         outcome = ?4, output = ?5 WHERE id = ?1",
        params![
            run.id.as_str(),
            run.status.as_str(),
            ts(now),
            run.outcome.as_deref(),
            run.output.as_deref()
        ],
    )?;
    let entry = TimelineEntry::new(
        now,
        &Actor::system(),
        TimelineEvent::RunFinished {
            run_id: run.id.clone(),
            title: run.step.title.clone(),
            status: run.status,
            outcome: run.outcome.clone().unwrap_or_default(),
            output: run.output.as_deref().map(automation::excerpt),
        },
    );
    rows::record_timeline(c, &run.incident_id, &entry)
}

fn open_for_runs(incident: &Incident) -> Result<()> {
    if incident.status == IncidentStatus::Resolved {
        return Err(TransitionError::RunningOnResolved(incident.number).into());
    }
    Ok(())
}

/// Asks the engine to look at the incident for automatic steps, if any runbook has them: after it opened, and
/// after it gained an alert.
pub(super) fn schedule_check(
    c: &dyn Conn,
    incident: &IncidentId,
    now: DateTime<Utc>,
) -> Result<()> {
    let any: Option<i64> = c.query_opt(
        "SELECT 1 FROM runbooks WHERE automatic = 1 LIMIT 1",
        params![],
        |r| r.get(0),
    )?;
    if any.is_some() {
        c.execute_later(
            "INSERT INTO automation_checks (incident_id, due_at) VALUES (?1, ?2) \
             ON CONFLICT (incident_id) DO UPDATE SET due_at = excluded.due_at",
            params![incident.as_str(), ts(now)],
        )?;
    }
    Ok(())
}

fn start_automatic(c: &dyn Conn, now: DateTime<Utc>, limit: u32) -> Result<u32> {
    let due = rows::take_due_incidents(c, "automation_checks", now, limit)?;
    if due.is_empty() {
        return Ok(0);
    }
    let runbooks = super::runbooks::automatic(c)?;
    let summaries: Vec<_> = runbooks.iter().map(|r| r.summary.clone()).collect();
    let ids: Vec<IncidentId> = due.into_iter().map(IncidentId::from_trusted).collect();
    let mut started = 0;
    for incident in load_many(c, &ids)?.into_values() {
        if incident.status == IncidentStatus::Resolved {
            continue;
        }
        for shown in super::runbooks::matching(c, &summaries, &incident)? {
            let Some(runbook) = runbooks.iter().find(|r| r.summary.key == shown.key) else {
                continue;
            };
            for step in runbook.steps.iter().filter(|s| s.automatic) {
                // Once per incident: a later alert does not run it again, whatever became of the first run.
                let ran: Option<i64> = c.query_opt(
                    "SELECT 1 FROM automation_runs WHERE incident_id = ?1 AND runbook = ?2 AND step_key = ?3 \
                     LIMIT 1",
                    params![
                        incident.id.as_str(),
                        runbook.summary.key.as_str(),
                        step.key.as_str()
                    ],
                    |r| r.get(0),
                )?;
                if ran.is_some() {
                    continue;
                }
                let run = Run::new(
                    incident.id.clone(),
                    runbook.summary.key.clone(),
                    runbook.summary.version,
                    step.clone(),
                    &Actor::system(),
                    None,
                    now,
                );
                insert_run(c, &run, &incident)?;
                started += 1;
            }
        }
    }
    Ok(started)
}

macro_rules! queued {
    () => {
        "SELECT id FROM automation_runs WHERE status = 'queued' AND due_at <= ?1 ORDER BY due_at, id LIMIT ?2"
    };
}

/// What an interrupted run says.
const INTERRUPTED: &str = "Tocsin stopped while it ran, so whether it did its work is unknown; it is not run \
     again by itself (try it again to repeat it with the same idempotency key)";

fn claim(
    c: &dyn Conn,
    holder: &str,
    now: DateTime<Utc>,
    limit: u32,
    predecessor_died: bool,
) -> Result<Vec<ClaimedRun>> {
    let base = format!("SELECT {RUN_COLUMNS} FROM automation_runs WHERE status = 'running'");
    let lapsed = if predecessor_died {
        c.query_all(
            &format!("{base} AND (due_at <= ?1 OR claimed_by = ?2)"),
            params![ts(now), holder],
            run,
        )?
    } else {
        c.query_all(&format!("{base} AND due_at <= ?1"), params![ts(now)], run)?
    };
    for mut lapsed in lapsed {
        lapsed.status = RunStatus::Interrupted;
        lapsed.outcome = Some(INTERRUPTED.into());
        record_end(c, &lapsed, now)?;
    }

    // On PostgreSQL a claimer skips the rows another is claiming instead of conflicting with it.
    let sql = match c.dialect() {
        Dialect::Sqlite => queued!(),
        Dialect::Postgres => concat!(queued!(), " FOR UPDATE SKIP LOCKED"),
    };
    let ids: Vec<String> = c.query_all(sql, params![ts(now), limit], |r| r.get(0))?;
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let runs = rows::query_in(
        c,
        &format!("SELECT {RUN_COLUMNS} FROM automation_runs WHERE id IN ({{}}) ORDER BY id"),
        &ids,
        run,
    )?;
    let incident_ids: Vec<IncidentId> = runs.iter().map(|r| r.incident_id.clone()).collect();
    let incidents = load_many(c, &incident_ids)?;
    let secrets = all_secrets(c)?;
    let mut claimed = Vec::with_capacity(runs.len());
    for mut run in runs {
        let incident = incidents
            .get(&run.incident_id)
            .cloned()
            .ok_or_else(|| StoreError::not_found("incident", run.incident_id.as_str()))?;
        run.status = RunStatus::Running;
        run.started_at = Some(now);
        c.execute(
            "UPDATE automation_runs SET status = 'running', started_at = ?2, due_at = ?3, claimed_by = ?4 \
             WHERE id = ?1",
            params![
                run.id.as_str(),
                ts(now),
                ts(run.claimed_until(now)),
                holder
            ],
        )?;
        let service_ids: Vec<&str> = incident.services.iter().map(|s| s.as_str()).collect();
        let names = rows::text_by_id(
            c,
            "SELECT id, name FROM services WHERE id IN ({})",
            &service_ids,
        )?;
        let services = service_ids
            .iter()
            .filter_map(|id| names.get(*id).cloned())
            .collect();
        let alert = c.query_opt(
            &format!("{ALERT_SELECT} WHERE a.incident_id = ?1 ORDER BY a.seq DESC LIMIT 1"),
            params![incident.id.as_str()],
            rows::alert,
        )?;
        let (mut opened, mut missing) = (BTreeMap::new(), Vec::new());
        for name in run.step.secrets() {
            match secrets.get(&name) {
                Some(sealed) => {
                    opened.insert(name.clone(), c.sealer().open(&secret_place(&name), sealed)?);
                }
                None => missing.push(name),
            }
        }
        claimed.push(ClaimedRun {
            run,
            incident,
            services,
            alert,
            secrets: opened,
            missing_secrets: missing,
        });
    }
    Ok(claimed)
}

fn finish(
    c: &dyn Conn,
    id: &RunId,
    holder: &str,
    finished: Finished,
    now: DateTime<Utc>,
) -> Result<bool> {
    let claimed_by: Option<Option<String>> = c.query_opt(
        "SELECT claimed_by FROM automation_runs WHERE id = ?1 AND status = 'running'",
        params![id.as_str()],
        |r| r.get(0),
    )?;
    if claimed_by.flatten().as_deref() != Some(holder) {
        return Ok(false);
    }
    let mut run = load_run(c, id)?;
    run.status = finished.status;
    run.outcome = Some(finished.outcome);
    run.output = finished.output;
    record_end(c, &run, now)?;
    Ok(true)
}

/// What a secret's sealed value is bound to: its row.
fn secret_place(name: &Key) -> String {
    format!("automation_secrets.value:{name}")
}

fn all_secrets(c: &dyn Conn) -> Result<HashMap<Key, String>> {
    let stored: Vec<(String, String)> = c.query_all(
        "SELECT name, value FROM automation_secrets",
        params![],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    Ok(stored
        .into_iter()
        .filter_map(|(name, value)| Some((name.parse().ok()?, value)))
        .collect())
}

/// Whether a secret called `name` is set.
pub(super) fn secret_exists(c: &dyn Conn, name: &Key) -> Result<bool> {
    c.exists(
        "SELECT 1 FROM automation_secrets WHERE name = ?1",
        params![name.as_str()],
    )
}

fn secret_info(r: &Row<'_>) -> Result<SecretInfo> {
    Ok(SecretInfo {
        name: Key::try_from(r.get::<String>(0)?).map_err(StoreError::Backend)?,
        updated_at: rows::time(r.get(1)?),
        updated_by: r.json(2)?,
    })
}

#[async_trait]
impl AutomationRepo for SqlStore {
    async fn secrets(&self) -> Result<Vec<SecretInfo>> {
        self.read(|c| {
            c.query_all(
                "SELECT name, updated_at, updated_by FROM automation_secrets ORDER BY name",
                params![],
                secret_info,
            )
        })
        .await
    }

    async fn put_secret(
        &self,
        name: Key,
        value: String,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<SecretInfo> {
        if value.is_empty() || value.len() > MAX_SECRET_BYTES || value.contains('\0') {
            return Err(StoreError::Invalid(
                FieldError::new(
                    "value",
                    format!("must be 1 to {MAX_SECRET_BYTES} bytes, without NUL"),
                )
                .into(),
            ));
        }
        self.write(move |c| {
            if !secret_exists(c, &name)? {
                let count = c.query_one("SELECT count(*) FROM automation_secrets", &[], |r| {
                    r.get::<i64>(0)
                })?;
                if usize::try_from(count).unwrap_or(usize::MAX) >= MAX_SECRETS {
                    return Err(StoreError::Invalid(
                        FieldError::new(
                            "name",
                            format!("there are already {MAX_SECRETS} secrets; remove one first"),
                        )
                        .into(),
                    ));
                }
            }
            c.execute(
                "INSERT INTO automation_secrets (name, value, updated_at, updated_by) VALUES (?1, ?2, ?3, ?4) \
                 ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at, \
                 updated_by = excluded.updated_by",
                params![
                    name.as_str(),
                    c.sealer().seal(&secret_place(&name), &value),
                    ts(now),
                    to_json(&actor)
                ],
            )?;
            Ok(SecretInfo {
                name: name.clone(),
                updated_at: now,
                updated_by: actor.clone(),
            })
        })
        .await
    }

    async fn delete_secret(&self, name: &Key) -> Result<()> {
        let name = name.clone();
        self.write(move |c| {
            let users: Vec<String> = super::runbooks::current(c)?
                .into_iter()
                .filter(|r| r.steps.iter().any(|s| s.secrets().contains(&name)))
                .map(|r| r.summary.key.to_string())
                .collect();
            if !users.is_empty() {
                return Err(Conflict::InUse {
                    kind: "secret",
                    name: name.to_string(),
                    by: Dependents::Runbooks(users),
                }
                .into());
            }
            if c.execute(
                "DELETE FROM automation_secrets WHERE name = ?1",
                params![name.as_str()],
            )? == 0
            {
                return Err(StoreError::not_found("secret", name.as_str()));
            }
            Ok(())
        })
        .await
    }

    async fn runs(&self, incident: &IncidentRef) -> Result<Vec<Run>> {
        let incident = incident.clone();
        self.read(move |c| {
            let i = load_incident(c, &incident)?;
            c.query_all(
                &format!(
                    "SELECT {RUN_COLUMNS} FROM automation_runs WHERE incident_id = ?1 ORDER BY requested_at DESC, id DESC"
                ),
                params![i.id.as_str()],
                run,
            )
        })
        .await
    }

    async fn run(&self, id: &RunId) -> Result<Run> {
        let id = id.clone();
        self.read(move |c| load_run(c, &id)).await
    }

    async fn start_run(
        &self,
        incident: &IncidentRef,
        runbook: &Key,
        step: &Key,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<Run> {
        let (incident, runbook, step) = (incident.clone(), runbook.clone(), step.clone());
        self.write(move |c| {
            let incident = load_incident(c, &incident)?;
            open_for_runs(&incident)?;
            let book = super::runbooks::load(c, &runbook, None)?;
            let spec = book.step(&step).cloned().ok_or_else(|| {
                StoreError::not_found("runbook step", format!("{runbook} step {step}"))
            })?;
            let run = Run::new(
                incident.id.clone(),
                runbook.clone(),
                book.summary.version,
                spec,
                &actor,
                None,
                now,
            );
            insert_run(c, &run, &incident)?;
            Ok(run)
        })
        .await
    }

    async fn decide_run(
        &self,
        id: &RunId,
        approve: bool,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<Run> {
        let id = id.clone();
        self.write(move |c| {
            let mut run = load_run(c, &id)?;
            run.decide(approve, &actor, now)?;
            c.execute(
                "UPDATE automation_runs SET status = ?2, active = ?3, approved_at = ?4, approved_by = ?5, \
                 due_at = ?6 WHERE id = ?1",
                params![
                    run.id.as_str(),
                    run.status.as_str(),
                    run.status.is_active(),
                    ts(now),
                    to_json(&actor),
                    approve.then(|| ts(now))
                ],
            )?;
            let (run_id, title) = (run.id.clone(), run.step.title.clone());
            let event = if approve {
                TimelineEvent::RunApproved { run_id, title }
            } else {
                TimelineEvent::RunDeclined { run_id, title }
            };
            rows::record_timeline(
                c,
                &run.incident_id,
                &TimelineEntry::new(now, &actor, event),
            )?;
            Ok(run)
        })
        .await
    }

    async fn retry_run(&self, id: &RunId, actor: Actor, now: DateTime<Utc>) -> Result<Run> {
        let id = id.clone();
        self.write(move |c| {
            let earlier = load_run(c, &id)?;
            let incident = load_incident(c, &IncidentRef::Id(earlier.incident_id.clone()))?;
            open_for_runs(&incident)?;
            let run = earlier.retry(&actor, now)?;
            insert_run(c, &run, &incident)?;
            Ok(run)
        })
        .await
    }

    async fn start_automatic(&self, now: DateTime<Utc>, limit: u32) -> Result<u32> {
        if !self.any_due(CHECKS_DUE, now).await? {
            return Ok(0);
        }
        self.write(move |c| start_automatic(c, now, limit)).await
    }

    async fn claim_runs(
        &self,
        holder: &str,
        now: DateTime<Utc>,
        limit: u32,
        predecessor_died: bool,
    ) -> Result<Vec<ClaimedRun>> {
        if !predecessor_died && !self.any_due(RUNS_DUE, now).await? {
            return Ok(Vec::new());
        }
        let holder = holder.to_owned();
        self.write(move |c| claim(c, &holder, now, limit, predecessor_died))
            .await
    }

    async fn finish_run(
        &self,
        id: &RunId,
        holder: &str,
        finished: Finished,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let (id, holder) = (id.clone(), holder.to_owned());
        self.write(move |c| finish(c, &id, &holder, finished.clone(), now))
            .await
    }
}
