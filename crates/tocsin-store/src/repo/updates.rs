//! Stakeholder updates: `status_updates` (each update posted on an incident), `update_subscriptions` (people and
//! channels that hear of a service's or an incident's updates; a channel's target sealed), `update_sends` (the
//! outbox of sends to channels; people are told through `deliveries`) and `update_dues` (the next update each
//! incident owes: a timer the engine takes to remind its leads).

use super::escalation::{insert_delivery, methods_of, rules_of};
use super::incidents::load as load_incident;
use super::rows::{self, to_json, ts};
use crate::db::SqlStore;
use crate::params;
use crate::sql::{Conn, Dialect, Row};
use crate::{ClaimedSend, Result, StoreError, UpdateRepo};
use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use std::collections::HashMap;
use tocsin_domain::ValidationErrors;
use tocsin_domain::contact::{self, ContactTarget, Purpose};
use tocsin_domain::ids::{IncidentId, SubscriptionId, UserId};
use tocsin_domain::incident::{
    Actor, Incident, IncidentStatus, TimelineEntry, TimelineEvent, TransitionError,
};
use tocsin_domain::refs::{IncidentRef, UserRef};
use tocsin_domain::roles::{COMMANDER, COMMUNICATIONS};
use tocsin_domain::severity::Severity;
use tocsin_domain::updates::{
    self, Audience, ChannelSend, DueBecause, MAX_SUBSCRIPTIONS_PER_SCOPE, PostedUpdate, Scope,
    StatusUpdate, Subscriber, Subscription, UpdateDue, UpdateSpec,
};

pub(super) const DUES_DUE: &str = "SELECT min(due_at) AS due FROM update_dues";
pub(super) const SENDS_DUE: &str =
    "SELECT min(due_at) AS due FROM update_sends WHERE due_at IS NOT NULL";

const UPDATE_COLUMNS: &str = "incident_id, number, status, severity, message, report, audiences, posted_at, posted_by, people";

fn status_update(r: &Row<'_>) -> Result<(StatusUpdate, Vec<String>)> {
    Ok((
        StatusUpdate {
            incident_id: IncidentId::from_trusted(r.get::<String>(0)?),
            number: u32::try_from(r.get::<i64>(1)?).unwrap_or_default(),
            status: r.get(2)?,
            severity: Severity::from_level(r.get(3)?)
                .ok_or_else(|| StoreError::Backend("an update's severity is unknown".into()))?,
            message: r.get(4)?,
            report: r.opt_json(5)?,
            audiences: r.json(6)?,
            posted_at: rows::time(r.get(7)?),
            posted_by: r.json(8)?,
        },
        r.json(9)?,
    ))
}

pub(super) fn load_update(
    c: &dyn Conn,
    incident: &IncidentId,
    number: u32,
) -> Result<StatusUpdate> {
    c.find(
        &format!(
            "SELECT {UPDATE_COLUMNS} FROM status_updates WHERE incident_id = ?1 AND number = ?2"
        ),
        params![incident.as_str(), i64::from(number)],
        |r| status_update(r).map(|(u, _)| u),
        "update",
        &format!("{incident} #{number}"),
    )
}

/// What a channel subscription's sealed target is bound to: its row.
fn subscription_place(id: &str) -> String {
    format!("update_subscriptions.target:{id}")
}

fn send_place(id: &str) -> String {
    format!("update_sends.target:{id}")
}

fn open_target(c: &dyn Conn, place: &str, stored: &str) -> Result<ContactTarget> {
    serde_json::from_str(&c.sealer().open(place, stored)?)
        .map_err(|e| StoreError::Backend(format!("{place}: {e}")))
}

const SUBSCRIPTION_COLUMNS: &str =
    "id, scope_kind, scope_id, user_id, channel_name, target, created_at, created_by";

/// A subscription with its channel's target opened (not redacted: the caller decides).
fn subscription(c: &dyn Conn, r: &Row<'_>) -> Result<Subscription> {
    let id: String = r.get(0)?;
    let (kind, scope_id): (String, String) = (r.get(1)?, r.get(2)?);
    let scope = match kind.as_str() {
        "service" => Scope::Service {
            service_id: tocsin_domain::ids::ServiceId::from_trusted(scope_id),
        },
        _ => Scope::Incident {
            incident_id: IncidentId::from_trusted(scope_id),
        },
    };
    let subscriber = match r.get::<Option<String>>(3)? {
        Some(user) => Subscriber::Person {
            user_id: UserId::from_trusted(user),
        },
        None => Subscriber::Channel {
            name: r.get::<Option<String>>(4)?.unwrap_or_default(),
            target: open_target(
                c,
                &subscription_place(&id),
                &r.get::<Option<String>>(5)?.unwrap_or_default(),
            )?,
        },
    };
    Ok(Subscription {
        id: SubscriptionId::from_trusted(id),
        scope,
        subscriber,
        created_at: rows::time(r.get(6)?),
        created_by: r.json(7)?,
    })
}

fn scope_key(scope: &Scope) -> (&'static str, &str) {
    match scope {
        Scope::Service { service_id } => ("service", service_id.as_str()),
        Scope::Incident { incident_id } => ("incident", incident_id.as_str()),
    }
}

/// The subscriptions to an incident and to its services.
fn subscriptions_of_incident(c: &dyn Conn, incident: &Incident) -> Result<Vec<Subscription>> {
    let mut found = c.query_all(
        &format!(
            "SELECT {SUBSCRIPTION_COLUMNS} FROM update_subscriptions \
             WHERE scope_kind = 'incident' AND scope_id = ?1 ORDER BY id"
        ),
        params![incident.id.as_str()],
        |r| subscription(c, r),
    )?;
    let services: Vec<&str> = incident.services.iter().map(|s| s.as_str()).collect();
    found.extend(rows::query_in(
        c,
        &format!(
            "SELECT {SUBSCRIPTION_COLUMNS} FROM update_subscriptions \
             WHERE scope_kind = 'service' AND scope_id IN ({{}}) ORDER BY id"
        ),
        &services,
        |r| subscription(c, r),
    )?);
    Ok(found)
}

fn cadence(c: &dyn Conn, severity: Severity) -> Result<Option<u32>> {
    super::incidents::update_cadence(c, severity)
}

fn write_due(c: &dyn Conn, incident: &IncidentId, due: Option<UpdateDue>) -> Result<()> {
    match due {
        Some(d) => c.execute_later(
            "INSERT INTO update_dues (incident_id, due_at, because, reminders) VALUES (?1, ?2, ?3, ?4) \
             ON CONFLICT (incident_id) DO UPDATE SET due_at = excluded.due_at, because = excluded.because, \
             reminders = excluded.reminders",
            params![
                incident.as_str(),
                ts(d.due_at),
                d.because.as_str(),
                i64::from(d.reminders)
            ],
        ),
        None => c.execute_later(
            "DELETE FROM update_dues WHERE incident_id = ?1",
            params![incident.as_str()],
        ),
    }
}

/// An `update_dues` row's due time, reason and reminders, from column `at` on.
fn due_row(r: &Row<'_>, at: usize) -> Result<UpdateDue> {
    let because: String = r.get(at + 1)?;
    Ok(UpdateDue {
        due_at: rows::time(r.get(at)?),
        because: DueBecause::parse(&because)
            .ok_or_else(|| StoreError::Backend(format!("unknown reason {because:?}")))?,
        reminders: u32::try_from(r.get::<i64>(at + 2)?).unwrap_or_default(),
    })
}

fn read_due(c: &dyn Conn, incident: &IncidentId) -> Result<Option<UpdateDue>> {
    c.query_opt(
        "SELECT due_at, because, reminders FROM update_dues WHERE incident_id = ?1",
        params![incident.as_str()],
        |r| due_row(r, 0),
    )
}

/// A new incident owes its first update a cadence after it opened, if its severity has one.
pub(super) fn schedule_first(c: &dyn Conn, incident: &Incident) -> Result<()> {
    let due = UpdateDue::on_open(incident, cadence(c, incident.severity)?);
    if due.is_some() {
        write_due(c, &incident.id, due)?;
    }
    Ok(())
}

/// A severity change of an open incident, or its resolution, asks for an update shortly.
pub(super) fn prompt(
    c: &dyn Conn,
    incident: &Incident,
    because: DueBecause,
    now: DateTime<Utc>,
) -> Result<()> {
    let current = read_due(c, &incident.id)?;
    write_due(
        c,
        &incident.id,
        Some(UpdateDue::prompted(current, because, now)),
    )
}

/// Those who hold the communications lead's and the commander's roles on the incident now.
fn leads(c: &dyn Conn, incident: &IncidentId) -> Result<(Vec<UserId>, Vec<UserId>)> {
    let (mut communications, mut commanders) = (Vec::new(), Vec::new());
    for a in super::roles::assignments(c, incident)? {
        match a.role.as_str() {
            _ if !a.is_held() => {}
            COMMUNICATIONS => communications.push(a.user_id),
            COMMANDER => commanders.push(a.user_id),
            _ => {}
        }
    }
    Ok((communications, commanders))
}

/// Queues one notification per reminder method of `user` for `purpose`; false if they have none.
fn tell(c: &dyn Conn, user: &UserId, purpose: &Purpose, now: DateTime<Utc>) -> Result<bool> {
    let (methods, rules) = (methods_of(c, user)?, rules_of(c, user)?);
    let chosen = contact::reminder_methods(&rules, &methods);
    for method in &chosen {
        insert_delivery(c, user, method, purpose, None, now, now)?;
    }
    Ok(!chosen.is_empty())
}

fn post(
    c: &dyn Conn,
    incident: &IncidentRef,
    spec: UpdateSpec,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<PostedUpdate> {
    let spec = spec.checked().map_err(StoreError::Invalid)?;
    let incident = load_incident(c, incident)?;
    if let Some(into) = incident.merged_into {
        return Err(TransitionError::UpdatingMerged(incident.number, into).into());
    }
    let number: i64 = c.query_one(
        "SELECT coalesce(max(number), 0) + 1 FROM status_updates WHERE incident_id = ?1",
        params![incident.id.as_str()],
        |r| r.get(0),
    )?;
    let update = StatusUpdate {
        incident_id: incident.id.clone(),
        number: u32::try_from(number).unwrap_or(u32::MAX),
        status: updates::status_of(&incident).to_owned(),
        severity: incident.severity,
        message: spec.message,
        report: spec.report,
        audiences: spec.audiences,
        posted_at: now,
        posted_by: actor.clone(),
    };

    // People: the responders, then subscribed people who are not responders; never whoever posted it.
    let mut told: Vec<UserId> = Vec::new();
    let mut audiences_of: Vec<(UserId, Audience)> = Vec::new();
    if update.audiences.contains(&Audience::Responders) {
        for r in super::roles::responders(c, &incident.id)? {
            audiences_of.push((r.user_id, Audience::Responders));
        }
    }
    let subscriptions = if update.audiences.contains(&Audience::Subscribers) {
        subscriptions_of_incident(c, &incident)?
    } else {
        Vec::new()
    };
    for s in &subscriptions {
        if let Subscriber::Person { user_id } = &s.subscriber {
            audiences_of.push((user_id.clone(), Audience::Subscribers));
        }
    }
    for (user, audience) in audiences_of {
        if actor.is_user(&user) || told.contains(&user) {
            continue;
        }
        let purpose = Purpose::Update {
            incident_id: incident.id.clone(),
            number: update.number,
            audience,
        };
        if tell(c, &user, &purpose, now)? {
            told.push(user);
        }
    }
    let ids: Vec<&str> = told.iter().map(UserId::as_str).collect();
    let names = rows::user_names(c, &ids)?;
    let people: Vec<String> = ids
        .iter()
        .filter_map(|id| names.get(*id).cloned())
        .collect();

    let mut channels = Vec::new();
    for s in &subscriptions {
        if let Subscriber::Channel { name, target } = &s.subscriber {
            let id = ulid::Ulid::new().to_string();
            c.execute_later(
                "INSERT INTO update_sends (id, incident_id, number, subscription_id, channel_name, target, status, \
                 due_at, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'pending', ?7, ?7, ?7)",
                params![
                    id,
                    incident.id.as_str(),
                    i64::from(update.number),
                    s.id.as_str(),
                    name,
                    c.sealer().seal(&send_place(&id), &to_json(target)),
                    ts(now)
                ],
            )?;
            channels.push(ChannelSend {
                channel: name.clone(),
                status: "pending".into(),
                attempts: 0,
                detail: None,
            });
        }
    }
    c.execute_later(
        &format!("INSERT INTO status_updates ({UPDATE_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"),
        params![
            incident.id.as_str(),
            number,
            update.status.as_str(),
            i64::from(update.severity.level()),
            update.message.as_str(),
            update.report.as_ref().map(to_json),
            to_json(&update.audiences),
            ts(now),
            to_json(actor),
            to_json(&people)
        ],
    )?;
    rows::record_timeline(
        c,
        &incident.id,
        &TimelineEntry::new(
            now,
            actor,
            TimelineEvent::UpdatePosted {
                number: update.number,
                status: update.status.clone(),
                message: update.message.clone(),
                audiences: update.audiences.clone(),
                recipients: u32::try_from(people.len() + channels.len()).unwrap_or(u32::MAX),
            },
        ),
    )?;
    write_due(
        c,
        &incident.id,
        UpdateDue::after_update(&incident, cadence(c, incident.severity)?, now),
    )?;
    Ok(PostedUpdate {
        update,
        people,
        channels,
    })
}

fn posted(c: &dyn Conn, incident: &IncidentId) -> Result<Vec<PostedUpdate>> {
    let all = c.query_all(
        &format!("SELECT {UPDATE_COLUMNS} FROM status_updates WHERE incident_id = ?1 ORDER BY number DESC"),
        params![incident.as_str()],
        status_update,
    )?;
    let mut sends: HashMap<u32, Vec<ChannelSend>> = HashMap::new();
    for (number, send) in c.query_all(
        "SELECT number, channel_name, status, attempts, detail FROM update_sends WHERE incident_id = ?1 \
         ORDER BY number, channel_name, id",
        params![incident.as_str()],
        |r| {
            Ok((
                u32::try_from(r.get::<i64>(0)?).unwrap_or_default(),
                ChannelSend {
                    channel: r.get(1)?,
                    status: r.get(2)?,
                    attempts: u32::try_from(r.get::<i64>(3)?).unwrap_or_default(),
                    detail: r.get(4)?,
                },
            ))
        },
    )? {
        sends.entry(number).or_default().push(send);
    }
    Ok(all
        .into_iter()
        .map(|(update, people)| PostedUpdate {
            channels: sends.remove(&update.number).unwrap_or_default(),
            update,
            people,
        })
        .collect())
}

fn subscribe(
    c: &dyn Conn,
    scope: Scope,
    subscriber: Subscriber,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<Subscription> {
    let mut errors = ValidationErrors::default();
    subscriber.check(&mut errors);
    errors.into_result(()).map_err(StoreError::Invalid)?;
    let (kind, scope_id) = scope_key(&scope);
    let exists = match kind {
        "service" => super::escalation::exists(c, "services", scope_id)?,
        _ => super::escalation::exists(c, "incidents", scope_id)?,
    };
    if !exists {
        return Err(StoreError::not_found(kind, scope_id));
    }
    let count: i64 = c.query_one(
        "SELECT count(*) FROM update_subscriptions WHERE scope_kind = ?1 AND scope_id = ?2",
        params![kind, scope_id],
        |r| r.get(0),
    )?;
    if usize::try_from(count).unwrap_or(usize::MAX) >= MAX_SUBSCRIPTIONS_PER_SCOPE {
        return Err(StoreError::Invalid(
            tocsin_domain::FieldError::new(
                "scope",
                format!(
                    "already has {MAX_SUBSCRIPTIONS_PER_SCOPE} subscriptions, the most it may have"
                ),
            )
            .into(),
        ));
    }
    if let Subscriber::Person { user_id } = &subscriber {
        if !super::escalation::exists(c, "users", user_id.as_str())? {
            return Err(StoreError::not_found("user", user_id.as_str()));
        }
        // Subscribing twice is subscribing once.
        if let Some(existing) = c.query_opt(
            &format!(
                "SELECT {SUBSCRIPTION_COLUMNS} FROM update_subscriptions \
                 WHERE scope_kind = ?1 AND scope_id = ?2 AND user_id = ?3"
            ),
            params![kind, scope_id, user_id.as_str()],
            |r| subscription(c, r),
        )? {
            return Ok(existing);
        }
    }
    let id = SubscriptionId::generate();
    let (user, channel, target) = match &subscriber {
        Subscriber::Person { user_id } => (Some(user_id.as_str().to_owned()), None, None),
        Subscriber::Channel { name, target } => (
            None,
            Some(name.trim().to_owned()),
            Some(
                c.sealer()
                    .seal(&subscription_place(id.as_str()), &to_json(target)),
            ),
        ),
    };
    c.execute(
        &format!("INSERT INTO update_subscriptions ({SUBSCRIPTION_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"),
        params![
            id.as_str(),
            kind,
            scope_id,
            user,
            channel,
            target,
            ts(now),
            to_json(actor)
        ],
    )?;
    Ok(Subscription {
        id,
        scope,
        subscriber: match subscriber {
            Subscriber::Channel { name, target } => Subscriber::Channel {
                name: name.trim().to_owned(),
                target,
            },
            person => person,
        },
        created_at: now,
        created_by: actor.clone(),
    })
}

/// Reminds the leads of incidents whose update is due, and plans the next reminder.
fn remind_due(c: &dyn Conn, now: DateTime<Utc>, limit: u32) -> Result<u32> {
    let due: Vec<(String, UpdateDue)> = c.query_all(
        "SELECT incident_id, due_at, because, reminders FROM update_dues WHERE due_at <= ?1 \
         ORDER BY due_at, incident_id LIMIT ?2",
        params![ts(now), limit],
        |r| Ok((r.get(0)?, due_row(r, 1)?)),
    )?;
    let mut reminded = 0;
    for (id, owed) in due {
        let id = IncidentId::from_trusted(id);
        let incident = match load_incident(c, &IncidentRef::Id(id.clone())) {
            Ok(i) => i,
            Err(StoreError::NotFound { .. }) => {
                write_due(c, &id, None)?;
                continue;
            }
            Err(e) => return Err(e),
        };
        // A resolved incident owes only the update its resolution asked for.
        if incident.merged_into.is_some()
            || (incident.status == IncidentStatus::Resolved && owed.because != DueBecause::Resolved)
        {
            write_due(c, &id, None)?;
            continue;
        }
        let responders: Vec<UserId> = super::roles::responders(c, &id)?
            .into_iter()
            .map(|r| r.user_id)
            .collect();
        let (communications, commanders) = leads(c, &id)?;
        let to = updates::reminder_recipients(
            owed.because,
            owed.reminders,
            &communications,
            &commanders,
            &responders,
        );
        if to.is_empty() && owed.because == DueBecause::Resolved {
            write_due(c, &id, None)?;
            continue;
        }
        let purpose = Purpose::UpdateDue {
            incident_id: id.clone(),
            because: owed.because,
            reminder: owed.reminders + 1,
        };
        let mut reached = Vec::new();
        for user in &to {
            if tell(c, user, &purpose, now)? {
                reached.push(user.as_str());
            }
        }
        let names = rows::user_names(c, &reached)?;
        rows::record_timeline(
            c,
            &id,
            &TimelineEntry::new(
                now,
                &Actor::system(),
                TimelineEvent::UpdateReminded {
                    because: owed.because,
                    to: reached
                        .iter()
                        .filter_map(|u| names.get(*u).cloned())
                        .collect(),
                    reminder: owed.reminders + 1,
                },
            ),
        )?;
        write_due(
            c,
            &id,
            owed.after_reminder(cadence(c, incident.severity)?, now),
        )?;
        reminded += 1;
    }
    Ok(reminded)
}

macro_rules! pending_sends {
    () => {
        "SELECT id FROM update_sends WHERE status IN ('pending', 'sending') AND due_at <= ?1 \
         ORDER BY due_at, id LIMIT ?2"
    };
}

fn claim_sends(
    c: &dyn Conn,
    holder: &str,
    now: DateTime<Utc>,
    claim_for: Duration,
    limit: u32,
) -> Result<Vec<ClaimedSend>> {
    // On PostgreSQL a claimer skips the rows another is claiming instead of conflicting with it.
    let sql = match c.dialect() {
        Dialect::Sqlite => pending_sends!(),
        Dialect::Postgres => concat!(pending_sends!(), " FOR UPDATE SKIP LOCKED"),
    };
    let ids: Vec<String> = c.query_all(sql, params![ts(now), limit], |r| r.get(0))?;
    let rows_claimed: Vec<(String, String, u32, String, String, u32)> = rows::query_in(
        c,
        "SELECT id, incident_id, number, channel_name, target, attempts FROM update_sends WHERE id IN ({}) \
         ORDER BY id",
        &ids,
        |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                u32::try_from(r.get::<i64>(2)?).unwrap_or_default(),
                r.get(3)?,
                r.get(4)?,
                u32::try_from(r.get::<i64>(5)?).unwrap_or_default(),
            ))
        },
    )?;
    let mut claimed = Vec::with_capacity(rows_claimed.len());
    for (id, incident_id, number, channel, stored, attempts) in rows_claimed {
        let incident_id = IncidentId::from_trusted(incident_id);
        let incident = load_incident(c, &IncidentRef::Id(incident_id.clone()))?;
        let update = load_update(c, &incident_id, number)?;
        let target = open_target(c, &send_place(&id), &stored)?;
        c.execute(
            "UPDATE update_sends SET status = 'sending', attempts = attempts + 1, due_at = ?2, claimed_by = ?3, \
             updated_at = ?4 WHERE id = ?1",
            params![id, ts(now + claim_for), holder, ts(now)],
        )?;
        claimed.push(ClaimedSend {
            id,
            attempt: attempts + 1,
            channel,
            target,
            incident,
            update,
        });
    }
    Ok(claimed)
}

fn finish_send(
    c: &dyn Conn,
    id: &str,
    holder: &str,
    outcome: crate::AttemptOutcome,
    now: DateTime<Utc>,
) -> Result<()> {
    let (status, due, detail) = match outcome {
        crate::AttemptOutcome::Delivered { detail } => ("delivered", None, detail),
        crate::AttemptOutcome::Retry { error, next_at } => ("pending", Some(ts(next_at)), error),
        crate::AttemptOutcome::Failed { error } => ("failed", None, error),
    };
    c.execute(
        "UPDATE update_sends SET status = ?3, due_at = ?4, detail = ?5, claimed_by = NULL, updated_at = ?6 \
         WHERE id = ?1 AND claimed_by = ?2 AND status = 'sending'",
        params![id, holder, status, due, detail, ts(now)],
    )?;
    Ok(())
}

#[async_trait]
impl UpdateRepo for SqlStore {
    async fn post_update(
        &self,
        incident: &IncidentRef,
        spec: UpdateSpec,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<PostedUpdate> {
        let incident = incident.clone();
        self.write(move |c| post(c, &incident, spec.clone(), &actor, now))
            .await
    }

    async fn updates(&self, incident: &IncidentRef) -> Result<Vec<PostedUpdate>> {
        let incident = incident.clone();
        self.read(move |c| {
            let i = load_incident(c, &incident)?;
            posted(c, &i.id)
        })
        .await
    }

    async fn update_due(&self, incident: &IncidentRef) -> Result<Option<UpdateDue>> {
        let incident = incident.clone();
        self.read(move |c| {
            let i = load_incident(c, &incident)?;
            read_due(c, &i.id)
        })
        .await
    }

    async fn subscriptions(&self, scope: &Scope) -> Result<Vec<Subscription>> {
        let scope = scope.clone();
        self.read(move |c| {
            let (kind, id) = scope_key(&scope);
            c.query_all(
                &format!(
                    "SELECT {SUBSCRIPTION_COLUMNS} FROM update_subscriptions WHERE scope_kind = ?1 AND scope_id = ?2 \
                     ORDER BY id"
                ),
                params![kind, id],
                |r| subscription(c, r),
            )
        })
        .await
    }

    async fn subscriptions_of(&self, user: &UserRef) -> Result<Vec<Subscription>> {
        let user = user.clone();
        self.read(move |c| {
            let u = super::catalog::load_user(c, &user)?;
            c.query_all(
                &format!("SELECT {SUBSCRIPTION_COLUMNS} FROM update_subscriptions WHERE user_id = ?1 ORDER BY id"),
                params![u.id.as_str()],
                |r| subscription(c, r),
            )
        })
        .await
    }

    async fn subscription(&self, id: &SubscriptionId) -> Result<Subscription> {
        let id = id.clone();
        self.read(move |c| {
            c.find(
                &format!("SELECT {SUBSCRIPTION_COLUMNS} FROM update_subscriptions WHERE id = ?1"),
                params![id.as_str()],
                |r| subscription(c, r),
                "subscription",
                id.as_str(),
            )
        })
        .await
    }

    async fn subscribe(
        &self,
        scope: Scope,
        subscriber: Subscriber,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<Subscription> {
        self.write(move |c| subscribe(c, scope.clone(), subscriber.clone(), &actor, now))
            .await
    }

    async fn unsubscribe(&self, id: &SubscriptionId) -> Result<()> {
        let id = id.clone();
        self.write(move |c| {
            if c.execute(
                "DELETE FROM update_subscriptions WHERE id = ?1",
                params![id.as_str()],
            )? == 0
            {
                return Err(StoreError::not_found("subscription", id.as_str()));
            }
            Ok(())
        })
        .await
    }

    async fn remind_due_updates(&self, now: DateTime<Utc>, limit: u32) -> Result<u32> {
        if !self.any_due(DUES_DUE, now).await? {
            return Ok(0);
        }
        self.write(move |c| remind_due(c, now, limit)).await
    }

    async fn claim_update_sends(
        &self,
        holder: &str,
        now: DateTime<Utc>,
        claim_for: Duration,
        limit: u32,
    ) -> Result<Vec<ClaimedSend>> {
        if !self.any_due(SENDS_DUE, now).await? {
            return Ok(Vec::new());
        }
        let holder = holder.to_owned();
        self.write(move |c| claim_sends(c, &holder, now, claim_for, limit))
            .await
    }

    async fn finish_update_send(
        &self,
        id: &str,
        holder: &str,
        outcome: crate::AttemptOutcome,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let (id, holder) = (id.to_owned(), holder.to_owned());
        self.write(move |c| finish_send(c, &id, &holder, outcome.clone(), now))
            .await
    }
}
