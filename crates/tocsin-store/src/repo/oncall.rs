//! On-call schedules, their overrides and calendar feeds.
//!
//! A schedule's layers are one JSON column; `schedule_participants` mirrors who they name, rewritten with every
//! change in the same transaction, so that deleting a user who still takes part can be refused by index. Every
//! change that can move a shift (the layers, an override) also pulls the schedule's row in `schedule_timers` to
//! `now`, in that same transaction, so the engine looks at the schedule again on its next cycle and reminders
//! follow the change; a timer already due stays due.

use super::catalog::load_user;
use super::rows::{to_json, ts};
use crate::db::SqlStore;
use crate::params;
use crate::sql::{Conn, Row};
use crate::{
    CalendarFeed, FeedSubject, NewFeed, NewOverride, OnCallRepo, OverrideRecord, Result,
    ScheduleRecord, StoreError,
};
use crate::{Conflict, Dependents};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tocsin_domain::catalog::User;
use tocsin_domain::ids::{FeedId, OverrideId, ScheduleId, TeamId, UserId};
use tocsin_domain::oncall::ScheduleSpec;
use tocsin_domain::refs::{ScheduleRef, UserRef};
use tocsin_domain::{FieldError, ValidationErrors};

const SCHEDULE_COLUMNS: &str =
    "id, name, description, time_zone, layers, reminder_minutes, created_at, updated_at, team_id";

fn schedule(row: &Row<'_>) -> Result<ScheduleRecord> {
    Ok(ScheduleRecord {
        id: ScheduleId::from_trusted(row.get(0)?),
        name: row.get(1)?,
        description: row.get(2)?,
        time_zone: row.get(3)?,
        layers: row.json(4)?,
        overrides: Vec::new(),
        reminder_minutes: row.get(5)?,
        created_at: row.time(6)?,
        updated_at: row.time(7)?,
        team_id: row.get::<Option<String>>(8)?.map(TeamId::from_trusted),
    })
}

fn override_row(row: &Row<'_>) -> Result<OverrideRecord> {
    Ok(OverrideRecord {
        id: OverrideId::from_trusted(row.get(0)?),
        user_id: UserId::from_trusted(row.get(1)?),
        start: row.time(2)?,
        end: row.time(3)?,
        created_at: row.time(4)?,
    })
}

/// Overrides in the order they were added, since a later override wins where two overlap.
fn load_overrides(c: &dyn Conn, record: &mut ScheduleRecord) -> Result<()> {
    record.overrides = c.query_all(
        "SELECT id, user_id, starts_at, ends_at, created_at FROM schedule_overrides \
         WHERE schedule_id = ?1 ORDER BY created_at, id",
        params![record.id.as_str()],
        override_row,
    )?;
    Ok(())
}

/// Schedules with their overrides, by ID, in two statements (for work on many at once).
pub(super) fn load_schedules_by_id(
    c: &dyn Conn,
    ids: &[ScheduleId],
) -> Result<std::collections::HashMap<ScheduleId, ScheduleRecord>> {
    let keys: Vec<&str> = ids.iter().map(ScheduleId::as_str).collect();
    let mut found: std::collections::HashMap<ScheduleId, ScheduleRecord> = super::rows::query_in(
        c,
        &format!("SELECT {SCHEDULE_COLUMNS} FROM schedules WHERE id IN ({{}})"),
        &keys,
        schedule,
    )?
    .into_iter()
    .map(|r| (r.id.clone(), r))
    .collect();
    let overrides: Vec<(String, OverrideRecord)> = super::rows::query_in(
        c,
        "SELECT id, user_id, starts_at, ends_at, created_at, schedule_id FROM schedule_overrides \
         WHERE schedule_id IN ({}) ORDER BY created_at, id",
        &keys,
        |r| Ok((r.get(5)?, override_row(r)?)),
    )?;
    for (schedule_id, o) in overrides {
        if let Some(r) = found.get_mut(&ScheduleId::from_trusted(schedule_id)) {
            r.overrides.push(o);
        }
    }
    Ok(found)
}

/// A schedule with its overrides, by ID or name.
pub(super) fn load_schedule(c: &dyn Conn, r: &ScheduleRef) -> Result<ScheduleRecord> {
    let col = if r.is_id() { "id" } else { "name" };
    let mut record = c.find(
        &format!("SELECT {SCHEDULE_COLUMNS} FROM schedules WHERE {col} = ?1"),
        params![r.key()],
        schedule,
        "schedule",
        r.key(),
    )?;
    load_overrides(c, &mut record)?;
    Ok(record)
}

/// Every schedule, by name.
pub(super) fn all_schedules(c: &dyn Conn) -> Result<Vec<ScheduleRecord>> {
    load_schedules(
        c,
        &format!("SELECT {SCHEDULE_COLUMNS} FROM schedules ORDER BY name"),
        None,
    )
}

fn load_schedules(c: &dyn Conn, sql: &str, param: Option<&str>) -> Result<Vec<ScheduleRecord>> {
    let mut records: Vec<ScheduleRecord> = match param {
        Some(p) => c.query_all(sql, params![p], schedule)?,
        None => c.query_all(sql, params![], schedule)?,
    };
    for r in &mut records {
        load_overrides(c, r)?;
    }
    Ok(records)
}

/// The participant IDs a spec names, once each, after checking every one is a user; every unknown one is reported
/// at once, by its place in the layers.
fn check_participants(c: &dyn Conn, spec: &ScheduleSpec) -> Result<Vec<UserId>> {
    let mut errors = ValidationErrors::default();
    let mut ids: Vec<UserId> = Vec::new();
    for (i, layer) in spec.layers.iter().enumerate() {
        for (j, user) in layer.participants.iter().enumerate() {
            if !c.exists("SELECT 1 FROM users WHERE id = ?1", params![user.as_str()])? {
                errors.push(
                    format!("layers[{i}].participants[{j}]"),
                    format!("no user with ID {user}"),
                );
            } else if !ids.contains(user) {
                ids.push(user.clone());
            }
        }
    }
    errors.into_result(ids).map_err(StoreError::Invalid)
}

/// Writes the schedule row and its participants; `existing` is the ID of the schedule being replaced.
fn write_schedule(
    c: &dyn Conn,
    existing: Option<&ScheduleId>,
    spec: &ScheduleSpec,
    now: DateTime<Utc>,
) -> Result<ScheduleId> {
    spec.validate()?;
    let name = spec.name.trim();
    let taken: Option<String> = c.query_opt(
        "SELECT id FROM schedules WHERE name = ?1",
        params![name],
        |r| r.get(0),
    )?;
    if let Some(other) = taken
        && existing.is_none_or(|e| e.as_str() != other)
    {
        return Err(Conflict::NameTaken {
            kind: "schedule",
            name: name.to_owned(),
        }
        .into());
    }
    let participants = check_participants(c, spec)?;
    let team = super::catalog::team_field(c, spec.team.as_ref())?;
    let team = team.as_ref().map(TeamId::as_str);
    let id = match existing {
        Some(id) => {
            c.execute(
                "UPDATE schedules SET name = ?2, description = ?3, time_zone = ?4, layers = ?5, reminder_minutes = ?6, \
                 updated_at = ?7, team_id = ?8 WHERE id = ?1",
                params![
                    id.as_str(),
                    name,
                    spec.description,
                    spec.time_zone.name(),
                    to_json(&spec.layers),
                    spec.reminder_minutes,
                    ts(now),
                    team
                ],
            )?;
            id.clone()
        }
        None => {
            let id = ScheduleId::generate();
            c.execute(
                "INSERT INTO schedules (id, name, description, time_zone, layers, reminder_minutes, created_at, updated_at, \
                 team_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7, ?8)",
                params![
                    id.as_str(),
                    name,
                    spec.description,
                    spec.time_zone.name(),
                    to_json(&spec.layers),
                    spec.reminder_minutes,
                    ts(now),
                    team
                ],
            )?;
            id
        }
    };
    c.execute(
        "DELETE FROM schedule_participants WHERE schedule_id = ?1",
        params![id.as_str()],
    )?;
    for user in &participants {
        c.execute(
            "INSERT INTO schedule_participants (schedule_id, user_id) VALUES (?1, ?2) \
             ON CONFLICT (schedule_id, user_id) DO NOTHING",
            params![id.as_str(), user.as_str()],
        )?;
    }
    wake(c, &id, now)?;
    Ok(id)
}

/// Makes the engine look at the schedule again from `now`; a timer already due earlier stays as it is.
fn wake(c: &dyn Conn, id: &ScheduleId, now: DateTime<Utc>) -> Result<()> {
    c.execute(
        "INSERT INTO schedule_timers (schedule_id, next_at) VALUES (?1, ?2) \
         ON CONFLICT (schedule_id) DO UPDATE SET next_at = CASE \
         WHEN excluded.next_at < schedule_timers.next_at THEN excluded.next_at ELSE schedule_timers.next_at END",
        params![id.as_str(), ts(now)],
    )?;
    Ok(())
}

/// The user an override names, by ID or email; an unknown one is the request's fault, so it names the field.
fn override_user(c: &dyn Conn, user: &UserRef) -> Result<UserId> {
    match load_user(c, user) {
        Ok(u) => Ok(u.id),
        Err(StoreError::NotFound { .. }) => Err(StoreError::Invalid(
            FieldError::new("user", format!("no user with ID or email {user}")).into(),
        )),
        Err(e) => Err(e),
    }
}

/// Refuses to delete a user whom a schedule's layers still name, naming the schedules: the rotation would
/// otherwise silently skip a turn. Their overrides and feeds go with them.
pub(super) fn refuse_if_in_rotation(c: &dyn Conn, user: &User) -> Result<()> {
    let schedules: Vec<String> = c.query_all(
        "SELECT s.name FROM schedule_participants p JOIN schedules s ON s.id = p.schedule_id \
         WHERE p.user_id = ?1 ORDER BY s.name",
        params![user.id.as_str()],
        |r| r.get(0),
    )?;
    if schedules.is_empty() {
        return Ok(());
    }
    Err(Conflict::InUse {
        kind: "user",
        name: user.email.to_string(),
        by: Dependents::Schedules(schedules),
    }
    .into())
}

const FEED_COLUMNS: &str = "id, schedule_id, user_id, token_prefix, created_at, revoked_at";

fn feed(row: &Row<'_>) -> Result<CalendarFeed> {
    let schedule: Option<String> = row.get(1)?;
    let user: Option<String> = row.get(2)?;
    let subject = match (schedule, user) {
        (Some(s), _) => FeedSubject::Schedule(ScheduleId::from_trusted(s)),
        (None, Some(u)) => FeedSubject::User(UserId::from_trusted(u)),
        // The table's CHECK constraint keeps exactly one of the two set.
        (None, None) => {
            return Err(StoreError::Backend(
                "a calendar feed with neither schedule nor user".into(),
            ));
        }
    };
    Ok(CalendarFeed {
        id: FeedId::from_trusted(row.get(0)?),
        subject,
        token_prefix: row.get(3)?,
        created_at: row.time(4)?,
        revoked_at: row.opt_time(5)?,
    })
}

fn load_feed(c: &dyn Conn, id: &FeedId) -> Result<CalendarFeed> {
    c.find(
        &format!("SELECT {FEED_COLUMNS} FROM calendar_feeds WHERE id = ?1"),
        params![id.as_str()],
        feed,
        "calendar feed",
        id.as_str(),
    )
}

/// The two columns a feed's subject fills, checking that the schedule or user exists.
fn subject_columns(
    c: &dyn Conn,
    subject: &FeedSubject,
) -> Result<(Option<String>, Option<String>)> {
    Ok(match subject {
        FeedSubject::Schedule(id) => (
            Some(load_schedule(c, &id.clone().into())?.id.to_string()),
            None,
        ),
        FeedSubject::User(id) => (None, Some(load_user(c, &id.clone().into())?.id.to_string())),
    })
}

#[async_trait]
impl OnCallRepo for SqlStore {
    async fn create_schedule(
        &self,
        spec: ScheduleSpec,
        now: DateTime<Utc>,
    ) -> Result<ScheduleRecord> {
        self.write(move |c| {
            let id = write_schedule(c, None, &spec, now)?;
            load_schedule(c, &id.clone().into())
        })
        .await
    }

    async fn get_schedule(&self, schedule: &ScheduleRef) -> Result<ScheduleRecord> {
        let r = schedule.to_owned();
        self.read(move |c| load_schedule(c, &r)).await
    }

    async fn list_schedules(&self) -> Result<Vec<ScheduleRecord>> {
        self.read(all_schedules).await
    }

    async fn replace_schedule(
        &self,
        schedule: &ScheduleRef,
        spec: ScheduleSpec,
        now: DateTime<Utc>,
    ) -> Result<ScheduleRecord> {
        let r = schedule.to_owned();
        self.write(move |c| {
            let existing = load_schedule(c, &r)?;
            write_schedule(c, Some(&existing.id), &spec, now)?;
            load_schedule(c, &existing.id.clone().into())
        })
        .await
    }

    async fn delete_schedule(&self, schedule: &ScheduleRef) -> Result<()> {
        let r = schedule.to_owned();
        self.write(move |c| {
            let s = load_schedule(c, &r)?;
            let policies = super::escalation::policies_targeting(
                c,
                super::escalation::PolicyTarget::Schedule,
                s.id.as_str(),
            )?;
            if !policies.is_empty() {
                return Err(Conflict::InUse {
                    kind: "schedule",
                    name: s.name,
                    by: Dependents::Policies(policies),
                }
                .into());
            }
            // Overrides, participants, the timer, sent reminders and feeds go with it (ON DELETE CASCADE).
            c.execute(
                "DELETE FROM schedules WHERE id = ?1",
                params![s.id.as_str()],
            )?;
            Ok(())
        })
        .await
    }

    async fn add_override(
        &self,
        schedule: &ScheduleRef,
        new: NewOverride,
        now: DateTime<Utc>,
    ) -> Result<OverrideRecord> {
        let r = schedule.to_owned();
        self.write(move |c| {
            let s = load_schedule(c, &r)?;
            let user = override_user(c, &new.user)?;
            if new.end <= new.start {
                return Err(StoreError::Invalid(
                    FieldError::new("end", "must be after start").into(),
                ));
            }
            let record = OverrideRecord {
                id: OverrideId::generate(),
                user_id: user,
                start: new.start,
                end: new.end,
                created_at: now,
            };
            c.execute(
                "INSERT INTO schedule_overrides (id, schedule_id, user_id, starts_at, ends_at, created_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    record.id.as_str(),
                    s.id.as_str(),
                    record.user_id.as_str(),
                    ts(record.start),
                    ts(record.end),
                    ts(now)
                ],
            )?;
            wake(c, &s.id, now)?;
            Ok(record)
        })
        .await
    }

    async fn delete_override(
        &self,
        schedule: &ScheduleRef,
        id: &OverrideId,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let r = schedule.to_owned();
        let id = id.clone();
        self.write(move |c| {
            let s = load_schedule(c, &r)?;
            let deleted = c.execute(
                "DELETE FROM schedule_overrides WHERE id = ?1 AND schedule_id = ?2",
                params![id.as_str(), s.id.as_str()],
            )?;
            if deleted == 0 {
                return Err(StoreError::not_found("override", id.as_str()));
            }
            wake(c, &s.id, now)
        })
        .await
    }

    async fn schedules_of_user(&self, user: &UserRef) -> Result<Vec<ScheduleRecord>> {
        let r = user.to_owned();
        self.read(move |c| {
            let u = load_user(c, &r)?;
            load_schedules(
                c,
                &format!(
                    "SELECT {SCHEDULE_COLUMNS} FROM schedules WHERE id IN ( \
                     SELECT schedule_id FROM schedule_participants WHERE user_id = ?1 \
                     UNION SELECT schedule_id FROM schedule_overrides WHERE user_id = ?1) ORDER BY name"
                ),
                Some(u.id.as_str()),
            )
        })
        .await
    }

    async fn create_feed(&self, new: NewFeed, now: DateTime<Utc>) -> Result<CalendarFeed> {
        self.write(move |c| {
            let (schedule, user) = subject_columns(c, &new.subject)?;
            let id = FeedId::generate();
            c.execute(
                "INSERT INTO calendar_feeds (id, schedule_id, user_id, token_hash, token_prefix, created_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    id.as_str(),
                    schedule,
                    user,
                    new.token_hash,
                    new.token_prefix,
                    ts(now)
                ],
            )?;
            load_feed(c, &id)
        })
        .await
    }

    async fn list_feeds(&self, subject: Option<FeedSubject>) -> Result<Vec<CalendarFeed>> {
        self.read(move |c| {
            let (sql, param) = match &subject {
                None => (
                    format!("SELECT {FEED_COLUMNS} FROM calendar_feeds ORDER BY created_at, id"),
                    None,
                ),
                Some(FeedSubject::Schedule(id)) => (
                    format!("SELECT {FEED_COLUMNS} FROM calendar_feeds WHERE schedule_id = ?1 ORDER BY created_at, id"),
                    Some(id.as_str()),
                ),
                Some(FeedSubject::User(id)) => (
                    format!("SELECT {FEED_COLUMNS} FROM calendar_feeds WHERE user_id = ?1 ORDER BY created_at, id"),
                    Some(id.as_str()),
                ),
            };
            match param {
                Some(p) => c.query_all(&sql, params![p], feed),
                None => c.query_all(&sql, params![], feed),
            }
        })
        .await
    }

    async fn revoke_feed(&self, id: &FeedId, now: DateTime<Utc>) -> Result<CalendarFeed> {
        let id = id.clone();
        self.write(move |c| {
            load_feed(c, &id)?;
            c.execute(
                "UPDATE calendar_feeds SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
                params![id.as_str(), ts(now)],
            )?;
            load_feed(c, &id)
        })
        .await
    }

    async fn feed_by_token(&self, token_hash: &str) -> Result<Option<CalendarFeed>> {
        let token_hash = token_hash.to_owned();
        self.read(move |c| {
            c.query_opt(
                &format!(
                    "SELECT {FEED_COLUMNS} FROM calendar_feeds WHERE token_hash = ?1 AND revoked_at IS NULL"
                ),
                params![token_hash],
                feed,
            )
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Store;
    use crate::conformance::refs::*;
    use crate::sql::time;
    use crate::sqlite::Durability;
    use chrono::{Duration, TimeZone};

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 5, 4, 10, 0, 0).unwrap()
    }

    async fn timer(store: &SqlStore, id: &ScheduleId) -> Option<DateTime<Utc>> {
        let id = id.clone();
        store
            .read(move |c| {
                c.query_opt(
                    "SELECT next_at FROM schedule_timers WHERE schedule_id = ?1",
                    params![id.as_str()],
                    |r| r.get::<i64>(0),
                )
            })
            .await
            .unwrap()
            .map(time)
    }

    async fn set_timer(store: &SqlStore, id: &ScheduleId, at: DateTime<Utc>) {
        let id = id.clone();
        store
            .write(move |c| {
                c.execute(
                    "UPDATE schedule_timers SET next_at = ?2 WHERE schedule_id = ?1",
                    params![id.as_str(), ts(at)],
                )
            })
            .await
            .unwrap();
    }

    /// The engine's reminder timer is not part of the public interface, so this backend checks it on its own:
    /// every change that can move a shift must make the engine look again.
    #[tokio::test]
    async fn every_change_that_moves_shifts_wakes_the_engine() {
        let dir = tempfile::tempdir().unwrap();
        let store =
            crate::sqlite::open(&dir.path().join("db.sqlite"), Durability::Process).unwrap();
        let alice = store
            .users()
            .create(
                serde_json::from_value(
                    serde_json::json!({"name": "Alice", "email": "alice@example.com"}),
                )
                .unwrap(),
                t0(),
            )
            .await
            .unwrap();
        let spec: ScheduleSpec = serde_json::from_value(serde_json::json!({
            "name": "primary", "time_zone": "UTC",
            "layers": [{"name": "l", "participants": [alice.id], "rotation": {"every": "days", "count": 1},
                        "start": "2026-05-04T09:00:00"}]
        }))
        .unwrap();
        let s = store.create_schedule(spec.clone(), t0()).await.unwrap();
        assert_eq!(timer(&store, &s.id).await, Some(t0()));

        let later = t0() + Duration::days(3);
        let parked = t0() + Duration::days(30);
        set_timer(&store, &s.id, parked).await;
        store
            .replace_schedule(&schedule_ref("primary"), spec, later)
            .await
            .unwrap();
        assert_eq!(
            timer(&store, &s.id).await,
            Some(later),
            "a replace wakes it"
        );

        set_timer(&store, &s.id, parked).await;
        let o = store
            .add_override(
                &schedule_ref("primary"),
                NewOverride {
                    user: "alice@example.com".into(),
                    start: later,
                    end: later + Duration::hours(2),
                },
                later,
            )
            .await
            .unwrap();
        assert_eq!(
            timer(&store, &s.id).await,
            Some(later),
            "an override wakes it"
        );

        set_timer(&store, &s.id, parked).await;
        store
            .delete_override(
                &schedule_ref("primary"),
                &o.id,
                later + Duration::minutes(1),
            )
            .await
            .unwrap();
        assert_eq!(
            timer(&store, &s.id).await,
            Some(later + Duration::minutes(1)),
            "so does removing one"
        );

        // A timer that is already due is not pushed later by a change.
        store
            .delete_override(
                &schedule_ref("primary"),
                &o.id,
                later + Duration::minutes(2),
            )
            .await
            .unwrap_err();
        set_timer(&store, &s.id, t0()).await;
        store
            .add_override(
                &schedule_ref("primary"),
                NewOverride {
                    user: user_ref(&alice.id.to_string()),
                    start: later,
                    end: later + Duration::hours(1),
                },
                later,
            )
            .await
            .unwrap();
        assert_eq!(timer(&store, &s.id).await, Some(t0()));

        store
            .delete_schedule(&schedule_ref("primary"))
            .await
            .unwrap();
        assert_eq!(timer(&store, &s.id).await, None, "the timer goes with it");
    }
}
