//! Contact methods, notification rules, the delivery outbox and the engine's bookkeeping (leases, link key,
//! shift reminders, heartbeats).
//!
//! A delivery is claimed before it is sent (status `sending`, `due_at` moved to the claim's expiry) and finished
//! after; a process that dies in between leaves a claim that expires, or that the next lease holder releases, so
//! the delivery is sent again under the same ID, which receivers use to drop the duplicate.

use super::catalog::load_user;
use super::escalation::{insert_delivery, methods_of, rules_of};
use super::incidents::load as load_incident;
use super::rows::{self, ALERT_SELECT, time, to_json, ts};
use crate::db::SqlStore;
use crate::params;
use crate::secrets::Sealer;
use crate::sql::{Conn, Dialect, Row};
use crate::{
    AttemptOutcome, AttemptRecord, ChangeRecord, ClaimedDelivery, ContactRepo, DeliveryFilter,
    DeliveryRecord, DeliveryResult, DeliveryStatus, EngineRepo, Fired, Lease, MAX_RECENT_CHANGES,
    RECENT_CHANGES, Result, StoreError,
};
use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use std::collections::HashMap;
use tocsin_domain::FieldError;
use tocsin_domain::alert::Alert;
use tocsin_domain::contact::{
    self, ContactMethod, ContactMethodSpec, ContactTarget, NotificationRule, NotificationRuleSpec,
    Purpose, StatusUpdates, reminder_methods,
};
use tocsin_domain::ids::{
    ContactMethodId, DeliveryId, IncidentId, NotificationRuleId, ServiceId, UserId,
};
use tocsin_domain::incident::{Actor, Incident, IncidentStatus, TimelineEntry, TimelineEvent};
use tocsin_domain::oncall;
use tocsin_domain::refs::{ScheduleRef, UserRef};
use tocsin_domain::timeline::AttemptResult;

pub(super) const METHOD_COLUMNS: &str = "id, user_id, name, target, enabled, created_at";

/// A contact method row; its target is sealed (see `secrets`), bound to the method's ID.
pub(super) fn method(row: &Row<'_>, sealer: &Sealer) -> Result<ContactMethod> {
    method_or_unopened(row, sealer)?
}

/// A contact method row for paging, or `None`, logged, when its target does not open (restored from another
/// database, altered): one unreadable method must not keep everyone else from being paged.
pub(super) fn readable_method(row: &Row<'_>, sealer: &Sealer) -> Result<Option<ContactMethod>> {
    Ok(method_or_unopened(row, sealer)?
        .inspect_err(|e| {
            tracing::error!(error = %e, "A contact method cannot be read; it is left out of paging.");
        })
        .ok())
}

/// The row read (the outer error: the database failed), its target opened or not (the inner one).
fn method_or_unopened(row: &Row<'_>, sealer: &Sealer) -> Result<Result<ContactMethod>> {
    let id: String = row.get(0)?;
    let stored: String = row.get(3)?;
    let (user_id, name, enabled, created_at) =
        (row.get(1)?, row.get(2)?, row.get(4)?, row.time(5)?);
    Ok(
        open_target(sealer, &id, &stored).map(|target| ContactMethod {
            id: ContactMethodId::from_trusted(id),
            user_id: UserId::from_trusted(user_id),
            name,
            target,
            enabled,
            created_at,
        }),
    )
}

/// What a contact method's sealed target is bound to: its row.
fn target_place(id: &str) -> String {
    format!("contact_methods.target:{id}")
}

fn seal_target(sealer: &Sealer, id: &str, target: &ContactTarget) -> String {
    sealer.seal(&target_place(id), &to_json(target))
}

fn open_target(sealer: &Sealer, id: &str, stored: &str) -> Result<ContactTarget> {
    serde_json::from_str(&sealer.open(&target_place(id), stored)?)
        .map_err(|e| StoreError::Backend(format!("contact method {id}'s target: {e}")))
}

fn load_method(c: &dyn Conn, id: &ContactMethodId) -> Result<ContactMethod> {
    c.find(
        &format!("SELECT {METHOD_COLUMNS} FROM contact_methods WHERE id = ?1"),
        params![id.as_str()],
        |r| method(r, c.sealer()),
        "contact method",
        id.as_str(),
    )
}

const DELIVERY_COLUMNS: &str = "d.id, d.user_id, d.contact_method_id, coalesce(m.kind, ''), \
     d.incident_id, d.purpose, d.status, d.due_at, d.created_at";

fn delivery(row: &Row<'_>) -> Result<DeliveryRecord> {
    Ok(DeliveryRecord {
        id: DeliveryId::from_trusted(row.get(0)?),
        user_id: UserId::from_trusted(row.get(1)?),
        contact_method_id: ContactMethodId::from_trusted(row.get(2)?),
        channel: row.get(3)?,
        incident_id: row.get::<Option<String>>(4)?.map(IncidentId::from_trusted),
        purpose: row.json(5)?,
        status: DeliveryStatus::parse(&row.get::<String>(6)?).unwrap_or(DeliveryStatus::Failed),
        due_at: row.time(7)?,
        attempts: Vec::new(),
        created_at: row.time(8)?,
    })
}

fn with_attempts(c: &dyn Conn, mut d: DeliveryRecord) -> Result<DeliveryRecord> {
    d.attempts = c.query_all(
        "SELECT attempt, at, outcome, detail FROM delivery_attempts WHERE delivery_id = ?1 ORDER BY attempt",
        params![d.id.as_str()],
        |r| {
            Ok(AttemptRecord {
                attempt: r.get(0)?,
                at: r.time(1)?,
                outcome: r.get(2)?,
                detail: r.get(3)?,
            })
        },
    )?;
    Ok(d)
}

fn load_delivery(c: &dyn Conn, id: &str) -> Result<DeliveryRecord> {
    with_attempts(c, delivery_row(c, id)?)
}

/// A delivery without its attempts, for callers that only need what it is and whom it is for.
fn delivery_row(c: &dyn Conn, id: &str) -> Result<DeliveryRecord> {
    c.find(
        &format!(
            "SELECT {DELIVERY_COLUMNS} FROM deliveries d LEFT JOIN contact_methods m ON m.id = d.contact_method_id WHERE d.id = ?1"
        ),
        params![id],
        delivery,
        "delivery",
        id,
    )
}

/// Tells the people paged for `incident` who asked to hear of it that `actor` acknowledged or resolved it, by the
/// methods their reminders go to; never the person who did it. These notices are not pages: nothing about the
/// incident makes them moot.
pub(super) fn tell_subscribers(
    c: &dyn Conn,
    incident: &Incident,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<()> {
    let column = match incident.status {
        IncidentStatus::Acknowledged => "acknowledged",
        IncidentStatus::Resolved => "resolved",
        IncidentStatus::Triggered => return Ok(()),
    };
    let users: Vec<String> = c.query_all(
        &format!(
            "SELECT DISTINCT d.user_id FROM deliveries d JOIN status_subscriptions s ON s.user_id = d.user_id \
             WHERE d.incident_id = ?1 AND d.page_id IS NOT NULL AND s.{column} = 1 ORDER BY d.user_id"
        ),
        params![incident.id.as_str()],
        |r| r.get(0),
    )?;
    let purpose = Purpose::StatusUpdate {
        incident_id: incident.id.clone(),
        status: incident.status,
        by: actor.name.clone(),
    };
    for user in users {
        let user = UserId::from_trusted(user);
        if actor.is_user(&user) {
            continue;
        }
        let (methods, rules) = (methods_of(c, &user)?, rules_of(c, &user)?);
        for method in reminder_methods(&rules, &methods) {
            insert_delivery(c, &user, &method, &purpose, None, now, now)?;
        }
    }
    Ok(())
}

#[async_trait]
impl ContactRepo for SqlStore {
    async fn status_updates(&self, user: &UserRef) -> Result<StatusUpdates> {
        let user = user.clone();
        self.read(move |c| {
            let u = load_user(c, &user)?;
            Ok(c.query_opt(
                "SELECT acknowledged, resolved FROM status_subscriptions WHERE user_id = ?1",
                params![u.id.as_str()],
                |r| {
                    Ok(StatusUpdates {
                        acknowledged: r.get(0)?,
                        resolved: r.get(1)?,
                    })
                },
            )?
            .unwrap_or_default())
        })
        .await
    }

    async fn set_status_updates(
        &self,
        user: &UserRef,
        wanted: StatusUpdates,
    ) -> Result<StatusUpdates> {
        let user = user.clone();
        self.write(move |c| {
            let u = load_user(c, &user)?;
            c.execute(
                "INSERT INTO status_subscriptions (user_id, acknowledged, resolved) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (user_id) DO UPDATE SET acknowledged = excluded.acknowledged, resolved = excluded.resolved",
                params![u.id.as_str(), wanted.acknowledged, wanted.resolved],
            )?;
            Ok(wanted)
        })
        .await
    }

    async fn create_method(
        &self,
        user: &UserRef,
        spec: ContactMethodSpec,
        now: DateTime<Utc>,
    ) -> Result<ContactMethod> {
        spec.validate()?;
        let user = user.to_owned();
        self.write(move |c| {
            let u = load_user(c, &user)?;
            let id = ContactMethodId::generate();
            c.execute(
                &format!(
                    "INSERT INTO contact_methods ({METHOD_COLUMNS}, kind) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
                ),
                params![
                    id.as_str(),
                    u.id.as_str(),
                    spec.name.trim(),
                    seal_target(c.sealer(), id.as_str(), &spec.target),
                    spec.enabled,
                    ts(now),
                    spec.target.kind()
                ],
            )?;
            load_method(c, &id)
        })
        .await
    }

    async fn list_methods(&self, user: &UserRef) -> Result<Vec<ContactMethod>> {
        let user = user.to_owned();
        self.read(move |c| {
            let u = load_user(c, &user)?;
            methods_of(c, &u.id)
        })
        .await
    }

    async fn get_method(&self, id: &ContactMethodId) -> Result<ContactMethod> {
        let id = id.clone();
        self.read(move |c| load_method(c, &id)).await
    }

    async fn replace_method(
        &self,
        id: &ContactMethodId,
        spec: ContactMethodSpec,
    ) -> Result<ContactMethod> {
        spec.validate()?;
        let id = id.clone();
        self.write(move |c| {
            let existing = load_method(c, &id)?;
            if existing.target.kind() != spec.target.kind() {
                return Err(StoreError::Invalid(
                    FieldError::new(
                        "target.type",
                        format!(
                            "is {} for this contact method; create a new method for another kind",
                            existing.target.kind()
                        ),
                    )
                    .into(),
                ));
            }
            let target = spec.target.clone().restore_hidden(&existing.target);
            c.execute(
                "UPDATE contact_methods SET name = ?2, target = ?3, enabled = ?4, kind = ?5 WHERE id = ?1",
                params![
                    id.as_str(),
                    spec.name.trim(),
                    seal_target(c.sealer(), id.as_str(), &target),
                    spec.enabled,
                    target.kind()
                ],
            )?;
            load_method(c, &id)
        })
        .await
    }

    async fn delete_method(&self, id: &ContactMethodId) -> Result<()> {
        let id = id.clone();
        self.write(move |c| {
            load_method(c, &id)?;
            c.execute(
                "DELETE FROM contact_methods WHERE id = ?1",
                params![id.as_str()],
            )?;
            Ok(())
        })
        .await
    }

    async fn create_rule(
        &self,
        user: &UserRef,
        spec: NotificationRuleSpec,
    ) -> Result<NotificationRule> {
        spec.validate()?;
        let user = user.to_owned();
        self.write(move |c| {
            let u = load_user(c, &user)?;
            let m = load_method(c, &spec.contact_method_id).map_err(|e| match e {
                StoreError::NotFound { .. } => StoreError::Invalid(
                    FieldError::new("contact_method_id", "no contact method has this ID").into(),
                ),
                other => other,
            })?;
            if m.user_id != u.id {
                return Err(StoreError::Invalid(
                    FieldError::new(
                        "contact_method_id",
                        "belongs to another user; a rule can only use the user's own contact methods",
                    )
                    .into(),
                ));
            }
            let id = NotificationRuleId::generate();
            c.execute(
                "INSERT INTO notification_rules (id, user_id, contact_method_id, urgency, delay_minutes) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![id.as_str(), u.id.as_str(), m.id.as_str(), spec.urgency.as_str(), spec.delay_minutes],
            )?;
            Ok(NotificationRule {
                id,
                user_id: u.id,
                contact_method_id: m.id,
                urgency: spec.urgency,
                delay_minutes: spec.delay_minutes,
            })
        })
        .await
    }

    async fn list_rules(&self, user: &UserRef) -> Result<Vec<NotificationRule>> {
        let user = user.to_owned();
        self.read(move |c| {
            let u = load_user(c, &user)?;
            rules_of(c, &u.id)
        })
        .await
    }

    async fn delete_rule(&self, id: &NotificationRuleId) -> Result<()> {
        let id = id.clone();
        self.write(move |c| {
            let n = c.execute(
                "DELETE FROM notification_rules WHERE id = ?1",
                params![id.as_str()],
            )?;
            if n == 0 {
                return Err(StoreError::not_found("notification rule", id.as_str()));
            }
            Ok(())
        })
        .await
    }

    async fn send_test(&self, id: &ContactMethodId, now: DateTime<Utc>) -> Result<DeliveryRecord> {
        let id = id.clone();
        self.write(move |c| {
            let m = load_method(c, &id)?;
            let d = insert_delivery(c, &m.user_id, &m.id, &Purpose::Test, None, now, now)?;
            load_delivery(c, d.as_str())
        })
        .await
    }

    async fn deliveries(&self, filter: DeliveryFilter) -> Result<Vec<DeliveryRecord>> {
        self.read(move |c| {
            let limit = super::rows::page_limit(filter.limit);
            let (clause, key) = match (&filter.incident, &filter.user) {
                (Some(i), _) => ("d.incident_id = ?1", load_incident(c, i)?.id.to_string()),
                (None, Some(u)) => ("d.user_id = ?1", load_user(c, u)?.id.to_string()),
                (None, None) => ("CAST(?1 AS TEXT) = ?1", String::new()),
            };
            let rows: Vec<DeliveryRecord> = c.query_all(
                &format!(
                    "SELECT {DELIVERY_COLUMNS} FROM deliveries d LEFT JOIN contact_methods m ON m.id = d.contact_method_id \
                     WHERE {clause} ORDER BY d.seq DESC LIMIT ?2"
                ),
                params![key, limit],
                delivery,
            )?;
            rows.into_iter().map(|d| with_attempts(c, d)).collect()
        })
        .await
    }

    async fn delivery(&self, id: &DeliveryId) -> Result<DeliveryRecord> {
        let id = id.clone();
        self.read(move |c| load_delivery(c, id.as_str())).await
    }
}

/// The database's current time in microseconds since the epoch, as an SQL expression.
fn database_now(dialect: Dialect) -> &'static str {
    match dialect {
        Dialect::Sqlite => "CAST(unixepoch('subsec') * 1000000 AS INTEGER)",
        Dialect::Postgres => "CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000000 AS BIGINT)",
    }
}

macro_rules! claimable {
    () => {
        "SELECT id, user_id, contact_method_id, purpose, attempts FROM deliveries \
         WHERE status IN ('pending', 'sending') AND due_at <= ?1 ORDER BY due_at, seq LIMIT ?2"
    };
}

fn claim(
    c: &dyn Conn,
    holder: &str,
    now: DateTime<Utc>,
    claim_for: Duration,
    limit: u32,
) -> Result<Vec<ClaimedDelivery>> {
    // On PostgreSQL a claimer skips the rows another is claiming instead of conflicting with it; SQLite's single
    // writer has no concurrent claimer to skip.
    let sql = match c.dialect() {
        Dialect::Sqlite => claimable!(),
        Dialect::Postgres => concat!(claimable!(), " FOR UPDATE SKIP LOCKED"),
    };
    let due: Vec<(String, String, String, Purpose, u32)> =
        c.query_all(sql, params![ts(now), limit], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.json(3)?, r.get(4)?))
        })?;
    // What rendering needs, for the whole batch at once: its incidents, their services' names, the contact
    // methods and the people.
    let mut incident_ids: Vec<IncidentId> = due
        .iter()
        .filter_map(|(_, _, _, purpose, _)| purpose.incident_id().cloned())
        .collect();
    incident_ids.sort();
    incident_ids.dedup();
    let incidents = super::incidents::load_many(c, &incident_ids)?;
    let mut service_ids: Vec<&str> = incidents
        .values()
        .flat_map(|i| i.services.iter().map(|s| s.as_str()))
        .collect();
    service_ids.sort_unstable();
    service_ids.dedup();
    let services: HashMap<String, (String, Option<String>)> = rows::query_in(
        c,
        "SELECT id, name, runbook_url FROM services WHERE id IN ({})",
        &service_ids,
        |r| Ok((r.get(0)?, (r.get(1)?, r.get(2)?))),
    )?
    .into_iter()
    .collect();
    let incident_keys: Vec<&str> = incident_ids.iter().map(IncidentId::as_str).collect();
    let latest_alerts: HashMap<IncidentId, Alert> = rows::query_in(
        c,
        &format!(
            "{ALERT_SELECT} WHERE a.seq IN (SELECT max(seq) FROM alerts WHERE incident_id IN ({{}}) GROUP BY incident_id)"
        ),
        &incident_keys,
        rows::alert,
    )?
    .into_iter()
    .filter_map(|a| Some((a.incident_id.clone()?, a)))
    .collect();
    let mut changes: HashMap<ServiceId, Vec<ChangeRecord>> = HashMap::new();
    for change in rows::query_in(
        c,
        &format!(
            "SELECT {} FROM change_events WHERE service_id IN ({{}}) AND received_at >= {} ORDER BY seq DESC",
            super::catalog::CHANGE_COLUMNS,
            ts(now - RECENT_CHANGES)
        ),
        &service_ids,
        super::catalog::change_record,
    )? {
        let of_service = changes.entry(change.service_id.clone()).or_default();
        if of_service.len() < MAX_RECENT_CHANGES {
            of_service.push(change);
        }
    }
    let every_runbook = super::runbooks::summaries(c)?;
    let mut kept_runbooks: HashMap<&IncidentId, Vec<(String, String)>> = HashMap::new();
    if !every_runbook.is_empty() {
        for (id, i) in &incidents {
            let shown = super::runbooks::matching(c, &every_runbook, i)?;
            kept_runbooks.insert(
                id,
                shown
                    .into_iter()
                    .map(|r| (r.key.to_string(), r.title))
                    .collect(),
            );
        }
    }
    let method_ids: Vec<&str> = due.iter().map(|(_, _, m, _, _)| m.as_str()).collect();
    let targets = rows::text_by_id(
        c,
        "SELECT id, target FROM contact_methods WHERE enabled = 1 AND id IN ({})",
        &method_ids,
    )?;
    let user_ids: Vec<&str> = due.iter().map(|(_, u, _, _, _)| u.as_str()).collect();
    let names = rows::user_names(c, &user_ids)?;

    let mut out = Vec::with_capacity(due.len());
    let mut claimed: Vec<String> = Vec::with_capacity(due.len());
    for (id, user, method_id, purpose, attempts) in due {
        let incident = match purpose.incident_id() {
            Some(incident_id) => Some(
                incidents
                    .get(incident_id)
                    .cloned()
                    .ok_or_else(|| StoreError::not_found("incident", incident_id.as_str()))?,
            ),
            None => None,
        };
        // A claim that lapsed (its sender died) for an incident acknowledged since is not sent again.
        if let (
            Some(i),
            Purpose::Page {
                after_acknowledgement,
                ..
            },
        ) = (&incident, &purpose)
            && tocsin_domain::escalation::page_is_moot(i.status, *after_acknowledgement)
        {
            c.execute_later(
                "UPDATE deliveries SET status = 'cancelled', updated_at = ?2 WHERE id = ?1",
                params![id, ts(now)],
            )?;
            continue;
        }
        let attempt = attempts + 1;
        claimed.push(id.clone());
        // A target that does not open is sent like a deleted one: that delivery fails, the others go out.
        let target = targets
            .get(&method_id)
            .and_then(|t| match open_target(c.sealer(), &method_id, t) {
                Ok(target) => Some(target),
                Err(e) => {
                    tracing::error!(error = %e, "A contact method cannot be read; its notification fails.");
                    None
                }
            });
        let of_incident: Vec<&ServiceId> = incident.iter().flat_map(|i| &i.services).collect();
        let service_names = of_incident
            .iter()
            .filter_map(|s| services.get(s.as_str()).map(|(name, _)| name.clone()))
            .collect();
        let runbooks = of_incident
            .iter()
            .filter_map(|s| {
                let (name, runbook) = services.get(s.as_str())?;
                Some((name.clone(), runbook.clone()?))
            })
            .collect();
        let mut recent_changes: Vec<(String, ChangeRecord)> = of_incident
            .iter()
            .flat_map(|s| {
                let name = services
                    .get(s.as_str())
                    .map(|(n, _)| n.clone())
                    .unwrap_or_default();
                changes
                    .get(*s)
                    .into_iter()
                    .flatten()
                    .map(move |c| (name.clone(), c.clone()))
            })
            .collect();
        recent_changes.sort_by_key(|(_, c)| std::cmp::Reverse(c.received_at));
        recent_changes.truncate(MAX_RECENT_CHANGES);
        let latest_alert = incident
            .as_ref()
            .and_then(|i| latest_alerts.get(&i.id).cloned());
        let kept_runbooks = incident
            .as_ref()
            .and_then(|i| kept_runbooks.get(&i.id).cloned())
            .unwrap_or_default();
        let update = match (&purpose, &incident) {
            (Purpose::Update { number, .. }, Some(i)) => {
                Some(super::updates::load_update(c, &i.id, *number)?)
            }
            _ => None,
        };
        let user_id = UserId::from_trusted(user);
        out.push(ClaimedDelivery {
            id: DeliveryId::from_trusted(id),
            attempt,
            // A person deleted since keeps their ID as their name.
            user_name: names
                .get(user_id.as_str())
                .cloned()
                .unwrap_or_else(|| user_id.to_string()),
            user_id,
            purpose,
            target,
            incident,
            service_names,
            runbooks,
            kept_runbooks,
            latest_alert,
            recent_changes,
            update,
        });
    }
    // Each claimed row's `attempts` goes up by one, as `attempt` above says: the rows are locked (PostgreSQL) or
    // the writer is alone (SQLite) since they were read.
    rows::execute_in(
        c,
        "UPDATE deliveries SET status = 'sending', attempts = attempts + 1, due_at = ?1, claimed_by = ?2, \
         updated_at = ?3 WHERE id IN ({})",
        &[
            ts(now + claim_for).into(),
            holder.to_owned().into(),
            ts(now).into(),
        ],
        &claimed,
    )?;
    Ok(out)
}

/// After a delivery gave up, what [`contact::fall_through`] decides: the page's next notification goes out now,
/// or another method of the user is tried. Returns the kind of the method tried next.
fn fall_through(c: &dyn Conn, id: &str, now: DateTime<Utc>) -> Result<Option<String>> {
    let row: Option<(Option<String>, String, String)> = c.query_opt(
        "SELECT page_id, user_id, purpose FROM deliveries WHERE id = ?1",
        params![id],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )?;
    let Some((Some(page), user, purpose)) = row else {
        return Ok(None);
    };
    // Only the next planned notice matters; the methods are read only when none is left.
    let next: Option<(String, String)> = c.query_opt(
        "SELECT d.id, coalesce(m.kind, '') FROM deliveries d \
         LEFT JOIN contact_methods m ON m.id = d.contact_method_id \
         WHERE d.page_id = ?1 AND d.status = 'pending' ORDER BY d.due_at, d.seq LIMIT 1",
        params![page],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    let user = UserId::from_trusted(user);
    let (methods, tried) = if next.is_some() {
        (Vec::new(), Vec::new())
    } else {
        let tried: Vec<ContactMethodId> = c.query_all(
            "SELECT contact_method_id FROM deliveries WHERE page_id = ?1",
            params![page],
            |r| r.get::<String>(0).map(ContactMethodId::from_trusted),
        )?;
        (methods_of(c, &user)?, tried)
    };
    match contact::fall_through(next, &methods, &tried) {
        contact::FallThrough::Expedite((next_id, kind)) => {
            // The earlier of the two times, written with CASE: a scalar two-argument min() is SQLite's alone.
            c.execute(
                "UPDATE deliveries SET due_at = CASE WHEN due_at < ?2 THEN due_at ELSE ?2 END, updated_at = ?2 WHERE id = ?1",
                params![next_id, ts(now)],
            )?;
            Ok(Some(kind))
        }
        contact::FallThrough::Try(method) => {
            let purpose: Purpose =
                serde_json::from_str(&purpose).map_err(|e| StoreError::Backend(e.to_string()))?;
            insert_delivery(c, &user, &method, &purpose, Some(&page), now, now)?;
            let kind = methods
                .iter()
                .find(|m| m.id == method)
                .map(|m| m.target.kind());
            Ok(kind.map(str::to_owned))
        }
        contact::FallThrough::Exhausted => Ok(None),
    }
}

/// What recording an attempt needs to know about its delivery, read in one statement.
struct Finishing {
    incident_id: Option<String>,
    user_id: UserId,
    /// The contact method's kind; empty when it was deleted.
    channel: String,
    /// The user's name, or their ID if they were deleted.
    user: String,
    /// The page no longer serves its incident (see `escalation::page_is_moot`).
    moot: bool,
}

/// What recording each delivery's attempt needs to know about it, by delivery ID.
fn finishing(c: &dyn Conn, ids: &[&str]) -> Result<HashMap<String, Finishing>> {
    let found = rows::query_in(
        c,
        "SELECT d.id, d.incident_id, d.user_id, coalesce(m.kind, ''), i.status, d.after_acknowledgement, u.name \
         FROM deliveries d LEFT JOIN contact_methods m ON m.id = d.contact_method_id \
         LEFT JOIN incidents i ON i.id = d.incident_id LEFT JOIN users u ON u.id = d.user_id WHERE d.id IN ({})",
        ids,
        |r| {
            let (status, after_acknowledgement, name): (Option<String>, bool, Option<String>) =
                (r.get(4)?, r.get(5)?, r.get(6)?);
            let user_id: String = r.get(2)?;
            let moot = status
                .and_then(|s| s.parse::<IncidentStatus>().ok())
                .is_some_and(|s| tocsin_domain::escalation::page_is_moot(s, after_acknowledgement));
            Ok((
                r.get::<String>(0)?,
                Finishing {
                    user: name.unwrap_or_else(|| user_id.clone()),
                    user_id: UserId::from_trusted(user_id),
                    incident_id: r.get(1)?,
                    channel: r.get(3)?,
                    moot,
                },
            ))
        },
    )?;
    Ok(found.into_iter().collect())
}

/// How one attempt leaves its delivery.
struct Outcome<'a> {
    result: &'a DeliveryResult,
    about: &'a Finishing,
    status: &'static str,
    outcome: &'static str,
    detail: String,
    due: DateTime<Utc>,
}

/// The most attempts one statement records.
const OUTCOMES_PER_STATEMENT: usize = 64;

/// Stores each outcome on its delivery, unless a newer attempt holds the claim; returns the IDs of the deliveries
/// changed. One statement for many, since the engine records a whole cycle's attempts at once.
fn store_outcomes(
    c: &dyn Conn,
    outcomes: &[Outcome<'_>],
) -> Result<std::collections::HashSet<String>> {
    let mut changed = std::collections::HashSet::new();
    for chunk in outcomes.chunks(OUTCOMES_PER_STATEMENT) {
        let rows: Vec<String> = (0..chunk.len())
            .map(|i| {
                let p = i * 6;
                format!(
                    "(?{}, ?{}, CAST(?{} AS BIGINT), ?{}, CAST(?{} AS BIGINT), CAST(?{} AS BIGINT))",
                    p + 1,
                    p + 2,
                    p + 3,
                    p + 4,
                    p + 5,
                    p + 6
                )
            })
            .collect();
        let values: Vec<crate::sql::Value> = chunk
            .iter()
            .flat_map(|o| {
                let r = o.result;
                [
                    r.id.as_str().to_owned().into(),
                    o.status.to_owned().into(),
                    ts(o.due).into(),
                    match o.status {
                        "delivered" => crate::sql::Value::Null,
                        _ => o.detail.clone().into(),
                    },
                    ts(r.at).into(),
                    i64::from(r.attempt).into(),
                ]
            })
            .collect();
        let sql = format!(
            "WITH v (id, status, due_at, last_error, updated_at, attempt) AS (VALUES {}) \
             UPDATE deliveries SET status = v.status, due_at = v.due_at, last_error = v.last_error, claimed_by = NULL, \
             updated_at = v.updated_at FROM v \
             WHERE deliveries.id = v.id AND deliveries.attempts = v.attempt AND deliveries.status = 'sending' \
             RETURNING deliveries.id",
            rows.join(", ")
        );
        changed.extend(c.query_all(&sql, &crate::sql::dyn_params(&values), |r| {
            r.get::<String>(0)
        })?);
    }
    Ok(changed)
}

/// Records what each attempt came to: its delivery's new state (only by the attempt that holds the claim: a stale
/// sender whose claim was taken over must not overwrite what the newer attempt recorded), the attempt itself, the
/// fall-through after a notification gave up, and the incident's timeline.
fn finish(c: &dyn Conn, results: &[DeliveryResult]) -> Result<()> {
    let ids: Vec<&str> = results.iter().map(|r| r.id.as_str()).collect();
    let about = finishing(c, &ids)?;
    let outcomes = results
        .iter()
        .filter_map(|r| {
            let Some(about) = about.get(r.id.as_str()) else {
                // Deleted since it was claimed (old deliveries are cleaned up): nothing is left to record it on.
                tracing::warn!(delivery = %r.id, "A delivery attempt ended for a delivery that no longer exists.");
                return None;
            };
            let (status, outcome, detail, due) = match &r.outcome {
                AttemptOutcome::Delivered { detail } => ("delivered", "delivered", detail.clone(), r.at),
                // The incident was acknowledged or resolved while this was being sent: trying again helps nobody.
                AttemptOutcome::Retry { error, .. } if about.moot => ("cancelled", "retry", error.clone(), r.at),
                AttemptOutcome::Retry { error, next_at } => ("pending", "retry", error.clone(), *next_at),
                AttemptOutcome::Failed { error } => ("failed", "failed", error.clone(), r.at),
            };
            Some(Outcome { result: r, about, status, outcome, detail, due })
        })
        .collect::<Vec<_>>();
    let changed = store_outcomes(c, &outcomes)?;
    for o in &outcomes {
        let (r, d) = (o.result, o.about);
        c.execute_later(
            "INSERT INTO delivery_attempts (delivery_id, attempt, at, outcome, detail) VALUES (?1, ?2, ?3, ?4, ?5) \
             ON CONFLICT (delivery_id, attempt) DO NOTHING",
            params![r.id.as_str(), r.attempt, ts(r.at), o.outcome, o.detail],
        )?;
        if !changed.contains(r.id.as_str()) {
            continue;
        }
        let fell_to = if o.status == "failed" && !d.moot {
            fall_through(c, r.id.as_str(), r.at)?
        } else {
            None
        };
        let Some(incident) = &d.incident_id else {
            continue;
        };
        let result = match &r.outcome {
            AttemptOutcome::Delivered { .. } => AttemptResult::Delivered,
            AttemptOutcome::Retry { error, .. } if d.moot => AttemptResult::NotRetried {
                error: error.clone(),
            },
            AttemptOutcome::Retry { error, next_at } => AttemptResult::Retrying {
                error: error.clone(),
                next_at: *next_at,
            },
            AttemptOutcome::Failed { error } => AttemptResult::GaveUp {
                error: error.clone(),
            },
        };
        let entry = TimelineEntry::new(
            r.at,
            &Actor::system(),
            TimelineEvent::Notification {
                delivery_id: r.id.clone(),
                user_id: d.user_id.clone(),
                user: d.user.clone(),
                channel: d.channel.clone(),
                attempt: r.attempt,
                result,
                fell_through_to: fell_to,
            },
        );
        super::rows::record_timeline(c, &IncidentId::from_trusted(incident.to_string()), &entry)?;
    }
    Ok(())
}

const LINK_KEY: &str = "link_key";
/// A value sealed with the secret key when the first one was given, so that another key is noticed at start-up
/// rather than at the first notification that cannot be sent.
const SECRET_KEY_CHECK: &str = "secret_key_check";

/// What a sealed setting is bound to: its row.
fn setting_place(name: &str) -> String {
    format!("settings.value:{name}")
}

/// A setting as stored (sealed, or plaintext from before sealing).
fn stored_setting(c: &dyn Conn, name: &str) -> Result<Option<String>> {
    c.query_opt(
        "SELECT value FROM settings WHERE name = ?1",
        params![name],
        |r| r.get::<String>(0),
    )
}

/// A sealed setting's plaintext.
fn read_setting(c: &dyn Conn, name: &str) -> Result<Option<String>> {
    stored_setting(c, name)?
        .map(|v| c.sealer().open(&setting_place(name), &v))
        .transpose()
}

/// Stores a setting sealed, unless another process stored it first.
fn insert_setting(c: &dyn Conn, name: &str, plaintext: &str) -> Result<()> {
    c.execute(
        "INSERT INTO settings (name, value) VALUES (?1, ?2) ON CONFLICT (name) DO NOTHING",
        params![name, c.sealer().seal(&setting_place(name), plaintext)],
    )
    .map(|_| ())
}

impl SqlStore {
    /// Seals stored secrets with `key`; set before the store is shared (at open).
    pub fn with_secret_key(mut self, key: &crate::secrets::SecretKey) -> Self {
        std::sync::Arc::get_mut(&mut self.inner)
            .expect("the secret key is given before the store is shared")
            .sealer = Sealer::new(key);
        self
    }

    /// Whether the database's secrets were ever sealed, so that a key for them must be given rather than made.
    pub async fn has_secret_key_check(&self) -> Result<bool> {
        self.read(|c| {
            c.exists(
                "SELECT 1 FROM settings WHERE name = ?1",
                params![SECRET_KEY_CHECK],
            )
        })
        .await
    }

    /// Checks that the secret key is the one the database's secrets were sealed with (refusing another, which
    /// could open none of them), and seals the secrets written before sealing existed, returning how many. Run at
    /// start-up.
    pub async fn seal_secrets_at_rest(&self) -> Result<usize> {
        if !self.inner.sealer.seals() {
            return Ok(0);
        }
        self.write(|c| {
            let sealer = c.sealer();
            match stored_setting(c, SECRET_KEY_CHECK)? {
                Some(sealed) => {
                    sealer
                        .open(&setting_place(SECRET_KEY_CHECK), &sealed)
                        .map_err(|_| {
                            StoreError::Backend(
                                "the secret key is not the one this database's secrets were sealed with; give \
                                 this instance the key the database was first used with (TOCSIN_SECRET_KEY or \
                                 secret_key_file)"
                                    .into(),
                            )
                        })?;
                }
                None => insert_setting(c, SECRET_KEY_CHECK, "tocsin")?,
            }
            let plain: Vec<(String, String)> = c.query_all(
                &format!(
                    "SELECT id, target FROM contact_methods WHERE target NOT LIKE '{}%'",
                    crate::secrets::PREFIX
                ),
                params![],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            let mut sealed = plain.len();
            for (id, target) in plain {
                c.execute(
                    "UPDATE contact_methods SET target = ?2 WHERE id = ?1",
                    params![id, sealer.seal(&target_place(&id), &target)],
                )?;
            }
            if let Some(key) =
                stored_setting(c, LINK_KEY)?.filter(|v| !Sealer::is_sealed(v))
            {
                c.execute(
                    "UPDATE settings SET value = ?2 WHERE name = ?1",
                    params![LINK_KEY, sealer.seal(&setting_place(LINK_KEY), &key)],
                )?;
                sealed += 1;
            }
            Ok(sealed)
        })
        .await
    }
}

/// The earliest due time in each timer table, which its partial index answers from its first entry.
const ESCALATIONS_DUE: &str =
    "SELECT min(next_at) AS due FROM escalations WHERE next_at IS NOT NULL";
const DELIVERIES_DUE: &str =
    "SELECT min(due_at) AS due FROM deliveries WHERE status IN ('pending', 'sending')";
const HEARTBEATS_DUE: &str = "SELECT min(due_at) AS due FROM heartbeats WHERE due_at IS NOT NULL";
const REMINDERS_DUE: &str = "SELECT min(next_at) AS due FROM schedule_timers";
const ALERT_ENDS_DUE: &str =
    "SELECT min(ends_at) AS due FROM alert_activity WHERE ends_at IS NOT NULL";

impl SqlStore {
    /// Whether the timer table of `earliest` (one of the `*_DUE` queries) has anything due. Asks a read
    /// connection, so that an engine cycle with nothing to do never queues on the single writer that every ingest
    /// commit goes through.
    pub(super) async fn any_due(&self, earliest: &'static str, now: DateTime<Utc>) -> Result<bool> {
        let earliest: Option<i64> = self
            .read(move |c| c.query_one(earliest, params![], |r| r.get(0)))
            .await?;
        Ok(earliest.is_some_and(|t| t <= ts(now)))
    }
}

#[async_trait]
impl EngineRepo for SqlStore {
    async fn announce_due(&self) -> Result<()> {
        SqlStore::announce_due(self).await
    }

    fn listen_due(&self, wake: std::sync::Weak<tokio::sync::Notify>) {
        SqlStore::listen_due(self, wake)
    }

    async fn acquire_lease(&self, name: &str, holder: &str, ttl: Duration) -> Result<Lease> {
        let (name, holder) = (name.to_owned(), holder.to_owned());
        let ttl = ttl.num_microseconds().unwrap_or(i64::MAX);
        let now = database_now(self.dialect());
        // A lease this holder keeps for more than half its term needs no write: nobody else can take it before it
        // runs out, and the engine asks every cycle, so skipping the renewal keeps idle cycles off the writer.
        let (n, h) = (name.clone(), holder.clone());
        let held_long_enough = self
            .read(move |c| {
                c.query_opt(
                    &format!(
                        "SELECT expires_at - {now} FROM engine_leases WHERE name = ?1 AND holder = ?2"
                    ),
                    params![n, h],
                    |r| r.get::<i64>(0),
                )
            })
            .await?
            .is_some_and(|left| left > ttl / 2);
        if held_long_enough {
            return Ok(Lease::Held { fresh: false });
        }
        self.write(move |c| {
            let current: Option<(String, i64, i64)> = c.query_opt(
                &format!(
                    "SELECT holder, expires_at, expires_at - {now} FROM engine_leases WHERE name = ?1"
                ),
                params![name],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )?;
            let fresh = match &current {
                Some((h, until, left)) if h != &holder && *left > 0 => {
                    return Ok(Lease::HeldElsewhere {
                        holder: h.clone(),
                        until: time(*until),
                    });
                }
                Some((h, _, _)) => h != &holder,
                None => true,
            };
            c.execute(
                &format!(
                    "INSERT INTO engine_leases (name, holder, expires_at) VALUES (?1, ?2, {now} + ?3) \
                     ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at"
                ),
                params![name, holder, ttl],
            )?;
            Ok(Lease::Held { fresh })
        })
        .await
    }

    async fn release_lease(&self, name: &str, holder: &str) -> Result<()> {
        let (name, holder) = (name.to_owned(), holder.to_owned());
        self.write(move |c| {
            c.execute(
                "DELETE FROM engine_leases WHERE name = ?1 AND holder = ?2",
                params![name, holder],
            )?;
            Ok(())
        })
        .await
    }

    async fn fire_escalations(
        &self,
        now: DateTime<Utc>,
        limit: u32,
        channels: tocsin_domain::contact::Channels,
    ) -> Result<Fired> {
        if !self.any_due(ESCALATIONS_DUE, now).await? {
            return Ok(Fired::default());
        }
        self.write(move |c| super::escalation::fire_due(c, now, limit, &channels))
            .await
    }

    async fn claim_deliveries(
        &self,
        holder: &str,
        now: DateTime<Utc>,
        claim_for: Duration,
        limit: u32,
        release_others: bool,
    ) -> Result<Vec<ClaimedDelivery>> {
        let holder = holder.to_owned();
        if !release_others && !self.any_due(DELIVERIES_DUE, now).await? {
            return Ok(Vec::new());
        }
        self.write(move |c| {
            if release_others {
                // The earlier of the two times and "not claimed by this holder", both written portably: a scalar
                // two-argument min() and `IS NOT` between values are SQLite's alone.
                c.execute(
                    "UPDATE deliveries SET due_at = CASE WHEN due_at < ?2 THEN due_at ELSE ?2 END \
                     WHERE status = 'sending' AND (claimed_by IS NULL OR claimed_by <> ?1)",
                    params![holder, ts(now)],
                )?;
            }
            claim(c, &holder, now, claim_for, limit)
        })
        .await
    }

    async fn finish_deliveries(&self, results: Vec<DeliveryResult>) -> Result<()> {
        self.write(move |c| finish(c, &results)).await
    }

    async fn fire_heartbeats(&self, now: DateTime<Utc>) -> Result<u32> {
        if !self.any_due(HEARTBEATS_DUE, now).await? {
            return Ok(0);
        }
        let triage = self.inner.triage.clone();
        self.write(move |c| super::heartbeat::fire_due(c, &triage, now))
            .await
    }

    async fn resolve_ended_alerts(&self, now: DateTime<Utc>, limit: u32) -> Result<u32> {
        if !self.any_due(ALERT_ENDS_DUE, now).await? {
            return Ok(0);
        }
        let triage = self.inner.triage.clone();
        self.write(move |c| super::ingest::resolve_ended(c, &triage, now, limit))
            .await
    }

    async fn fill_roles(
        &self,
        now: DateTime<Utc>,
        limit: u32,
        channels: tocsin_domain::contact::Channels,
    ) -> Result<u32> {
        if !self.any_due(super::roles::ROLE_FILLS_DUE, now).await? {
            return Ok(0);
        }
        self.write(move |c| super::roles::fill_due(c, now, limit, &channels))
            .await
    }

    async fn send_shift_reminders(&self, now: DateTime<Utc>, limit: u32) -> Result<u32> {
        if !self.any_due(REMINDERS_DUE, now).await? {
            return Ok(0);
        }
        self.write(move |c| reminders(c, now, limit)).await
    }

    async fn cleanup(&self, now: DateTime<Utc>) -> Result<u32> {
        self.write(move |c| {
            let old = ts(now - Duration::days(30));
            let n = c.execute(
                "DELETE FROM shift_reminders WHERE shift_start < ?1",
                params![old],
            )?;
            let m = c.execute(
                "DELETE FROM engine_leases WHERE expires_at < ?1",
                params![ts(now - Duration::days(1))],
            )?;
            Ok((n + m) as u32)
        })
        .await
    }

    async fn link_key(&self) -> Result<Vec<u8>> {
        let existing = self.read(|c| read_setting(c, LINK_KEY)).await?;
        let hex_key = match existing {
            Some(k) => k,
            None => {
                let candidate = tocsin_domain::auth::new_signing_key();
                self.write(move |c| {
                    // Two processes starting at once must end up with one key.
                    insert_setting(c, LINK_KEY, &candidate)?;
                    read_setting(c, LINK_KEY)?
                        .ok_or_else(|| StoreError::Backend("the link key was not stored".into()))
                })
                .await?
            }
        };
        hex::decode(hex_key).map_err(|e| StoreError::Backend(e.to_string()))
    }

    async fn next_due(&self) -> Result<Option<DateTime<Utc>>> {
        self.read(|c| {
            c.query_one(
                &format!(
                    "SELECT min(due) FROM ({ESCALATIONS_DUE} UNION ALL {DELIVERIES_DUE} UNION ALL {HEARTBEATS_DUE} \
                     UNION ALL {REMINDERS_DUE} UNION ALL {ALERT_ENDS_DUE} UNION ALL {} UNION ALL {} \
                     UNION ALL {} UNION ALL {} UNION ALL {}) AS timers",
                    super::roles::ROLE_FILLS_DUE,
                    super::automation::RUNS_DUE,
                    super::automation::CHECKS_DUE,
                    super::updates::DUES_DUE,
                    super::updates::SENDS_DUE
                ),
                params![],
                |r| r.get::<Option<i64>>(0),
            )
            .map(|t| t.map(time))
        })
        .await
    }
}

/// For each schedule whose timer is due: queues a reminder to everyone whose shift starts within the lead time,
/// once per shift, and sets the timer to when the next one falls due (see [`oncall::reminders`]).
fn reminders(c: &dyn Conn, now: DateTime<Utc>, limit: u32) -> Result<u32> {
    let due: Vec<String> = c.query_all(
        "SELECT schedule_id FROM schedule_timers WHERE next_at <= ?1 ORDER BY next_at, schedule_id LIMIT ?2",
        params![ts(now), limit],
        |r| r.get(0),
    )?;
    let mut queued = 0;
    for id in due {
        let record = match super::oncall::load_schedule(c, &ScheduleRef::parse(&id)) {
            Ok(r) => r,
            Err(StoreError::NotFound { .. }) => continue,
            Err(e) => return Err(e),
        };
        let lead = (record.reminder_minutes > 0)
            .then(|| Duration::minutes(i64::from(record.reminder_minutes)));
        let plan = oncall::reminders(&record.schedule(), now, lead);
        for shift in &plan.due {
            let fresh = c.execute(
                "INSERT INTO shift_reminders (schedule_id, user_id, shift_start, created_at) VALUES (?1, ?2, ?3, ?4) \
                 ON CONFLICT (schedule_id, user_id, shift_start) DO NOTHING",
                params![id, shift.user.as_str(), ts(shift.start), ts(now)],
            )?;
            if fresh == 0 {
                continue;
            }
            let purpose = Purpose::ShiftReminder {
                schedule_id: record.id.clone(),
                schedule_name: record.name.clone(),
                start: shift.start,
                end: shift.end,
            };
            let methods = methods_of(c, &shift.user)?;
            let rules = rules_of(c, &shift.user)?;
            for m in contact::reminder_methods(&rules, &methods) {
                insert_delivery(c, &shift.user, &m, &purpose, None, now, now)?;
                queued += 1;
            }
        }
        c.execute(
            "UPDATE schedule_timers SET next_at = ?2 WHERE schedule_id = ?1",
            params![id, ts(plan.next_at)],
        )?;
    }
    Ok(queued)
}
