//! Escalation policies and each incident's escalation: who is paged, and the timer for who is paged next.
//!
//! An incident's escalation starts in the transaction that opens it ([`start`], called from
//! `incidents::insert`) and stops in the one that acknowledges or resolves it ([`stop`], from
//! `incidents::save`), so no path that changes an incident can forget its escalation. Paging a user plans
//! their notifications as deliveries in the same transaction ([`page_users`]): the outbox.

use super::catalog::{load_service, load_user};
use super::incidents::load as load_incident;
use super::rows::{to_json, ts};
use crate::db::SqlStore;
use crate::params;
use crate::sql::{Conn, Row};
use crate::{Conflict, Dependents};
use crate::{
    EscalationRecord, EscalationRepo, PagingSettingsRecord, PolicySummary, Reassignment,
    Responders, RespondersPaged, Result, StoreError,
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use tocsin_domain::FieldError;
use tocsin_domain::ValidationErrors;
use tocsin_domain::catalog::User;
use tocsin_domain::contact::{
    Channels, ContactMethod, NotificationRule, Purpose, Urgency, plan_page,
};
use tocsin_domain::doctor::PagingSetup;
use tocsin_domain::escalation::{
    self, Directory, Escalation, EscalationPolicy, EscalationPolicySpec, EscalationTarget, Miss,
    PagingSettings, TeamEntry,
};
use tocsin_domain::ids::{
    ContactMethodId, DeliveryId, IncidentId, NotificationRuleId, PolicyId, ScheduleId, ServiceId,
    TeamId, UserId,
};
use tocsin_domain::incident::TransitionError;
use tocsin_domain::incident::{Actor, Incident, IncidentStatus, TimelineEntry, TimelineEvent};
use tocsin_domain::refs::{IncidentRef, PolicyRef, ServiceRef};
use tocsin_domain::timeline::{Handover, PagedUser, PlannedMethod, Unreached};

const POLICY_COLUMNS: &str =
    "id, name, description, repeat, levels, created_at, updated_at, team_id";

fn policy(row: &Row<'_>) -> Result<EscalationPolicy> {
    Ok(EscalationPolicy {
        id: PolicyId::from_trusted(row.get(0)?),
        name: row.get(1)?,
        description: row.get(2)?,
        repeat: row.get(3)?,
        levels: row.json(4)?,
        created_at: row.time(5)?,
        updated_at: row.time(6)?,
        team_id: row.get::<Option<String>>(7)?.map(TeamId::from_trusted),
    })
}

pub(super) fn load_policy(c: &dyn Conn, r: &PolicyRef) -> Result<EscalationPolicy> {
    let col = if r.is_id() { "id" } else { "name" };
    let sql = format!("SELECT {POLICY_COLUMNS} FROM escalation_policies WHERE {col} = ?1");
    c.find(&sql, params![r.key()], policy, "escalation policy", r.key())
}

/// The policy a request names in its `policy` field; one that does not exist is that field's error.
fn requested_policy(c: &dyn Conn, p: &PolicyRef) -> Result<EscalationPolicy> {
    load_policy(c, p).map_err(|e| match e {
        StoreError::NotFound { .. } => StoreError::Invalid(
            FieldError::new("policy", format!("no escalation policy {p:?}")).into(),
        ),
        other => other,
    })
}

/// What a target names, when nothing by its ID exists: "user", "schedule" or "team".
pub(super) fn missing_target(
    c: &dyn Conn,
    target: &EscalationTarget,
) -> Result<Option<&'static str>> {
    let (exists, what) = match target {
        EscalationTarget::User(id) => (exists(c, "users", id.as_str())?, "user"),
        EscalationTarget::Schedule(id) => (exists(c, "schedules", id.as_str())?, "schedule"),
        EscalationTarget::Team(id) | EscalationTarget::TeamOnCall(id) => {
            (exists(c, "teams", id.as_str())?, "team")
        }
    };
    Ok((!exists).then_some(what))
}

/// Checks the spec and that every target exists, reporting all problems at once.
fn check_policy(c: &dyn Conn, spec: &EscalationPolicySpec) -> Result<()> {
    let mut errors = match spec.validate() {
        Ok(()) => ValidationErrors::default(),
        Err(e) => e,
    };
    for (i, level) in spec.levels.iter().enumerate() {
        for (j, target) in level.targets.iter().enumerate() {
            if let Some(what) = missing_target(c, target)? {
                errors.push(
                    format!("levels[{i}].targets[{j}]"),
                    format!("no {what} has this ID"),
                );
            }
        }
    }
    errors.into_result(()).map_err(StoreError::from)
}

pub(super) fn exists(c: &dyn Conn, table: &str, id: &str) -> Result<bool> {
    c.exists(&format!("SELECT 1 FROM {table} WHERE id = ?1"), params![id])
}

fn write_targets(c: &dyn Conn, id: &PolicyId, spec: &EscalationPolicySpec) -> Result<()> {
    c.execute(
        "DELETE FROM policy_targets WHERE policy_id = ?1",
        params![id.as_str()],
    )?;
    for target in spec.levels.iter().flat_map(|l| &l.targets) {
        let (user, schedule, team) = match target {
            EscalationTarget::User(u) => (Some(u.as_str()), None, None),
            EscalationTarget::Schedule(s) => (None, Some(s.as_str()), None),
            EscalationTarget::Team(t) | EscalationTarget::TeamOnCall(t) => {
                (None, None, Some(t.as_str()))
            }
        };
        c.execute(
            "INSERT INTO policy_targets (policy_id, user_id, schedule_id, team_id) VALUES (?1, ?2, ?3, ?4)",
            params![id.as_str(), user, schedule, team],
        )?;
    }
    Ok(())
}

fn name_taken(c: &dyn Conn, name: &str, except: Option<&PolicyId>) -> Result<()> {
    let other: Option<String> = c.query_opt(
        "SELECT id FROM escalation_policies WHERE name = ?1",
        params![name],
        |r| r.get(0),
    )?;
    match other {
        Some(id) if except.is_none_or(|e| e.as_str() != id) => Err(Conflict::NameTaken {
            kind: "escalation policy",
            name: name.to_owned(),
        }
        .into()),
        _ => Ok(()),
    }
}

/// Deleting a user an escalation policy pages would leave a level paging nobody; the user must be taken out of
/// those policies first.
pub(super) fn refuse_if_paged(c: &dyn Conn, user: &User) -> Result<()> {
    let names = policies_targeting(c, PolicyTarget::User, user.id.as_str())?;
    if names.is_empty() {
        return Ok(());
    }
    Err(Conflict::InUse {
        kind: "user",
        name: user.email.to_string(),
        by: Dependents::Policies(names),
    }
    .into())
}

/// What a policy level can page.
pub(super) enum PolicyTarget {
    User,
    Schedule,
    Team,
}

/// The names of the escalation policies with a level paging this user or schedule.
pub(super) fn policies_targeting(
    c: &dyn Conn,
    kind: PolicyTarget,
    id: &str,
) -> Result<Vec<String>> {
    let sql = match kind {
        PolicyTarget::User => {
            "SELECT DISTINCT p.name FROM policy_targets t JOIN escalation_policies p ON p.id = t.policy_id \
             WHERE t.user_id = ?1 ORDER BY p.name"
        }
        PolicyTarget::Schedule => {
            "SELECT DISTINCT p.name FROM policy_targets t JOIN escalation_policies p ON p.id = t.policy_id \
             WHERE t.schedule_id = ?1 ORDER BY p.name"
        }
        PolicyTarget::Team => {
            "SELECT DISTINCT p.name FROM policy_targets t JOIN escalation_policies p ON p.id = t.policy_id \
             WHERE t.team_id = ?1 ORDER BY p.name"
        }
    };
    c.query_all(sql, params![id], |r| r.get(0))
}

/// The policy that pages for a new incident on `service`, if it has one.
fn policy_of_service(c: &dyn Conn, service: &ServiceId) -> Result<Option<PolicyId>> {
    c.query_opt(
        "SELECT policy_id FROM service_policies WHERE service_id = ?1",
        params![service.as_str()],
        |r| r.get::<String>(0).map(PolicyId::from_trusted),
    )
}

/// The policy that pages a new incident: that of the first of its services that has one.
pub(super) fn policy_of_incident(c: &dyn Conn, incident: &Incident) -> Result<Option<PolicyId>> {
    for service in &incident.services {
        if let Some(policy) = policy_of_service(c, service)? {
            return Ok(Some(policy));
        }
    }
    Ok(None)
}

/// Starts the escalation of a newly opened incident by its policy (level 0 is due at once); without one, the
/// incident is unassigned from the start (the caller marked its row) and the fallback policy takes it, if set.
pub(super) fn start(c: &dyn Conn, incident: &Incident, policy: Option<PolicyId>) -> Result<()> {
    let Some(policy) = policy else {
        return unassign_at_open(c, incident);
    };
    let e = Escalation::start(incident.id.clone(), policy, incident.created_at);
    save(c, &e, &[], incident.created_at)
}

/// The setting's row in `settings`, as JSON.
const PAGING_SETTINGS: &str = "paging";

pub(super) fn paging_settings(c: &dyn Conn) -> Result<PagingSettings> {
    Ok(c.query_opt(
        "SELECT value FROM settings WHERE name = ?1",
        params![PAGING_SETTINGS],
        |r| r.json(0),
    )?
    .unwrap_or_default())
}

fn all_policies(c: &dyn Conn) -> Result<Vec<EscalationPolicy>> {
    c.query_all(
        &format!("SELECT {POLICY_COLUMNS} FROM escalation_policies ORDER BY name"),
        params![],
        policy,
    )
}

fn paging_settings_record(c: &dyn Conn) -> Result<PagingSettingsRecord> {
    Ok(PagingSettingsRecord {
        fallback_policy: fallback_policy(c)?.map(|p| PolicySummary {
            id: p.id,
            name: p.name,
        }),
    })
}

/// The policy that takes incidents nobody else pages, if one is set.
fn fallback_policy(c: &dyn Conn) -> Result<Option<EscalationPolicy>> {
    fallback_of(c, paging_settings(c)?)
}

/// The fallback policy `settings` name, if it still exists.
fn fallback_of(c: &dyn Conn, settings: PagingSettings) -> Result<Option<EscalationPolicy>> {
    match settings.fallback_policy {
        Some(id) => Ok(load_policies_by_id(c, &[id])?.into_values().next()),
        None => Ok(None),
    }
}

/// An incident no policy pages from the start: it says so, and the fallback policy (if set) takes it. The ingest
/// path opens such incidents in bulk, so the service's name and the settings come in one statement.
fn unassign_at_open(c: &dyn Conn, incident: &Incident) -> Result<()> {
    let service = incident.services.first();
    let (name, settings): (Option<String>, Option<PagingSettings>) = c.query_one(
        "SELECT (SELECT name FROM services WHERE id = ?1), (SELECT value FROM settings WHERE name = ?2)",
        params![service.map(ServiceId::as_str), PAGING_SETTINGS],
        |r| Ok((r.get(0)?, r.opt_json(1)?)),
    )?;
    let why = match service {
        None => Unreached::NoService,
        Some(s) => Unreached::NoPolicy {
            service: name.unwrap_or_else(|| s.to_string()),
        },
    };
    let fallback = fallback_of(c, settings.unwrap_or_default())?;
    record_unassigned(c, &incident.id, why, fallback.as_ref(), incident.created_at)?;
    if let Some(f) = fallback {
        let e = Escalation::start(incident.id.clone(), f.id, incident.created_at);
        save(c, &e, &[], incident.created_at)?;
    }
    Ok(())
}

/// Says on an incident's timeline that it has nobody.
fn record_unassigned(
    c: &dyn Conn,
    incident: &IncidentId,
    why: Unreached,
    fallback: Option<&EscalationPolicy>,
    now: DateTime<Utc>,
) -> Result<()> {
    let entry = TimelineEntry::new(
        now,
        &Actor::system(),
        TimelineEvent::Unassigned {
            why,
            fallback: fallback.map(|p| p.name.clone()),
        },
    );
    super::rows::record_timeline(c, incident, &entry)
}

/// Marks an incident's row as having nobody since `now`, unless it already had nobody.
fn mark_unassigned(c: &dyn Conn, incident: &mut Incident, now: DateTime<Utc>) -> Result<bool> {
    if incident.unassigned_since.is_some() {
        return Ok(false);
    }
    incident.unassigned_since = Some(now);
    c.execute_later(
        "UPDATE incidents SET unassigned_since = ?2 WHERE id = ?1",
        params![incident.id.as_str(), ts(now)],
    )?;
    Ok(true)
}

/// Someone was reached: the incident has somebody again.
pub(super) fn record_assigned(c: &dyn Conn, incident: &Incident) -> Result<()> {
    if incident.unassigned_since.is_none() {
        return Ok(());
    }
    c.execute_later(
        "UPDATE incidents SET unassigned_since = NULL WHERE id = ?1",
        params![incident.id.as_str()],
    )
}

/// Acknowledging stops escalation and the notifications not yet sent; so does resolving.
pub(super) fn stop(c: &dyn Conn, incident: &Incident) -> Result<()> {
    if incident.status == IncidentStatus::Triggered {
        return Ok(());
    }
    c.execute_later(
        "UPDATE escalations SET next_at = NULL, updated_at = ?2 WHERE incident_id = ?1 AND next_at IS NOT NULL",
        params![incident.id.as_str(), ts(incident.updated_at)],
    )?;
    // The pages that are moot now: all of them, or (acknowledged) all but those sent by hand afterwards.
    let even_after_acknowledgement = escalation::page_is_moot(incident.status, true);
    cancel_pending(
        c,
        &incident.id,
        even_after_acknowledgement,
        incident.updated_at,
    )
}

/// Pages the level that paged last again, now, at the incident's new urgency: the notifications it still had
/// planned were chosen for a lower urgency and are cancelled. The policy goes on from that level.
pub(super) fn repage_current_level(
    c: &dyn Conn,
    incident: &IncidentId,
    now: DateTime<Utc>,
) -> Result<()> {
    cancel_pending(c, incident, false, now)?;
    c.execute_later(
        "UPDATE escalations SET level = last_paged, next_at = ?2, updated_at = ?2 \
         WHERE incident_id = ?1 AND last_paged IS NOT NULL AND policy_id IS NOT NULL",
        params![incident.as_str(), ts(now)],
    )?;
    Ok(())
}

/// Cancels the incident's notifications not yet sent: all of them, or all but the pages sent by hand after an
/// acknowledgement. Those being sent finish, and are not retried (see [`escalation::page_is_moot`]).
fn cancel_pending(
    c: &dyn Conn,
    incident: &IncidentId,
    everything: bool,
    now: DateTime<Utc>,
) -> Result<()> {
    c.execute_later(
        "UPDATE deliveries SET status = 'cancelled', updated_at = ?3 WHERE incident_id = ?1 AND status = 'pending' \
         AND (?2 = 1 OR after_acknowledgement = 0)",
        params![incident.as_str(), everything, ts(now)],
    )?;
    Ok(())
}

fn escalation_row(row: &Row<'_>) -> Result<(Escalation, Vec<UserId>)> {
    Ok((
        Escalation {
            incident_id: IncidentId::from_trusted(row.get(0)?),
            policy_id: row.get::<Option<String>>(1)?.map(PolicyId::from_trusted),
            level: row.get(2)?,
            round: row.get(3)?,
            next_at: row.opt_time(4)?,
            last_paged: row.get(6)?,
        },
        row.json(5)?,
    ))
}

const ESCALATION_COLUMNS: &str =
    "incident_id, policy_id, level, round, next_at, assignees, last_paged";

fn load_escalation(
    c: &dyn Conn,
    incident: &IncidentId,
) -> Result<Option<(Escalation, Vec<UserId>)>> {
    c.query_opt(
        &format!("SELECT {ESCALATION_COLUMNS} FROM escalations WHERE incident_id = ?1"),
        params![incident.as_str()],
        escalation_row,
    )
}

fn save(c: &dyn Conn, e: &Escalation, assignees: &[UserId], now: DateTime<Utc>) -> Result<()> {
    c.execute_later(
        "INSERT INTO escalations (incident_id, policy_id, level, round, next_at, assignees, updated_at, last_paged) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT (incident_id) DO UPDATE SET policy_id = excluded.policy_id, \
         level = excluded.level, round = excluded.round, next_at = excluded.next_at, assignees = excluded.assignees, \
         updated_at = excluded.updated_at, last_paged = excluded.last_paged",
        params![
            e.incident_id.as_str(),
            e.policy_id.as_ref().map(PolicyId::as_str),
            e.level,
            e.round,
            e.next_at.map(ts),
            to_json(&assignees),
            ts(now),
            e.last_paged
        ],
    )?;
    Ok(())
}

/// Moves an escalation that exists on, as the engine does when it falls due; its incident and policy stay. Unlike
/// [`save`]'s upsert, an update that changes no key is one SQLite runs without a statement journal. Releasing that
/// journal walks the in-memory sub-journal of the enclosing savepoint from its start, and the engine's savepoint
/// covers a whole batch, so with the upsert each escalation paid for every page the batch had touched before it.
fn advance(c: &dyn Conn, e: &Escalation, assignees: &[UserId], now: DateTime<Utc>) -> Result<()> {
    c.execute_later(
        "UPDATE escalations SET level = ?2, round = ?3, next_at = ?4, assignees = ?5, updated_at = ?6, last_paged = ?7 \
         WHERE incident_id = ?1",
        params![
            e.incident_id.as_str(),
            e.level,
            e.round,
            e.next_at.map(ts),
            to_json(&assignees),
            ts(now),
            e.last_paged
        ],
    )?;
    Ok(())
}

fn record(c: &dyn Conn, e: Escalation, assignees: Vec<UserId>) -> Result<EscalationRecord> {
    let policy_name = match &e.policy_id {
        Some(p) => c
            .query_opt(
                "SELECT name FROM escalation_policies WHERE id = ?1",
                params![p.as_str()],
                |r| r.get(0),
            )?
            .unwrap_or_default(),
        None => String::new(),
    };
    Ok(EscalationRecord {
        level: e.level + 1,
        escalation: e,
        policy_name,
        assignees,
    })
}

pub(super) fn methods_of(c: &dyn Conn, user: &UserId) -> Result<Vec<ContactMethod>> {
    c.query_all(
        &format!(
            "SELECT {} FROM contact_methods WHERE user_id = ?1 ORDER BY created_at, id",
            super::delivery::METHOD_COLUMNS
        ),
        params![user.as_str()],
        |r| super::delivery::readable_method(r, c.sealer()),
    )
    .map(|methods| methods.into_iter().flatten().collect())
}

const RULE_COLUMNS: &str = "id, user_id, contact_method_id, urgency, delay_minutes";

fn rule_row(r: &Row<'_>) -> Result<NotificationRule> {
    Ok(NotificationRule {
        id: NotificationRuleId::from_trusted(r.get(0)?),
        user_id: UserId::from_trusted(r.get(1)?),
        contact_method_id: ContactMethodId::from_trusted(r.get(2)?),
        urgency: if r.get::<String>(3)? == "high" {
            Urgency::High
        } else {
            Urgency::Low
        },
        delay_minutes: r.get(4)?,
    })
}

pub(super) fn rules_of(c: &dyn Conn, user: &UserId) -> Result<Vec<NotificationRule>> {
    c.query_all(
        &format!(
            "SELECT {RULE_COLUMNS} FROM notification_rules WHERE user_id = ?1 ORDER BY delay_minutes, id"
        ),
        params![user.as_str()],
        rule_row,
    )
}

/// What paging a person needs to know about them.
#[derive(Default)]
struct Person {
    name: Option<String>,
    methods: Vec<ContactMethod>,
    rules: Vec<NotificationRule>,
}

/// The people a batch of pages goes to, loaded in three statements rather than three per person.
#[derive(Default)]
pub(super) struct People(HashMap<UserId, Person>);

impl People {
    pub(super) fn load(c: &dyn Conn, users: &[UserId]) -> Result<Self> {
        let keys: Vec<&str> = users.iter().map(UserId::as_str).collect();
        let mut people: HashMap<UserId, Person> = HashMap::new();
        for (id, name) in super::rows::user_names(c, &keys)? {
            people.entry(UserId::from_trusted(id)).or_default().name = Some(name);
        }
        let methods = super::rows::query_in(
            c,
            &format!(
                "SELECT {} FROM contact_methods WHERE user_id IN ({{}}) ORDER BY created_at, id",
                super::delivery::METHOD_COLUMNS
            ),
            &keys,
            |r| super::delivery::readable_method(r, c.sealer()),
        )?;
        for m in methods.into_iter().flatten() {
            people.entry(m.user_id.clone()).or_default().methods.push(m);
        }
        let rules = super::rows::query_in(
            c,
            &format!(
                "SELECT {RULE_COLUMNS} FROM notification_rules WHERE user_id IN ({{}}) ORDER BY delay_minutes, id"
            ),
            &keys,
            rule_row,
        )?;
        for r in rules {
            people.entry(r.user_id.clone()).or_default().rules.push(r);
        }
        Ok(Self(people))
    }

    /// The user's display name, or their ID if they were deleted.
    fn name(&self, user: &UserId) -> String {
        self.0
            .get(user)
            .and_then(|p| p.name.clone())
            .unwrap_or_else(|| user.to_string())
    }
}

/// Writes one delivery to the outbox.
pub(super) fn insert_delivery(
    c: &dyn Conn,
    user: &UserId,
    method: &ContactMethodId,
    purpose: &Purpose,
    page_id: Option<&str>,
    due_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<DeliveryId> {
    let id = DeliveryId::generate();
    let (incident, after_acknowledgement) = match purpose {
        Purpose::Page {
            incident_id,
            after_acknowledgement,
            ..
        } => (Some(incident_id.as_str()), *after_acknowledgement),
        _ => (None, false),
    };
    c.execute_later(
        "INSERT INTO deliveries (id, user_id, contact_method_id, incident_id, page_id, purpose, status, due_at, created_at, \
         updated_at, after_acknowledgement) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'pending', ?7, ?8, ?8, ?9)",
        params![
            id.as_str(),
            user.as_str(),
            method.as_str(),
            incident,
            page_id,
            to_json(purpose),
            ts(due_at),
            ts(now),
            after_acknowledgement
        ],
    )?;
    Ok(id)
}

/// Why people are paged for an incident.
#[derive(Debug, Clone, Copy)]
pub(super) enum PageCause<'a> {
    /// A level of its escalation policy, counted from 0.
    Level(u32),
    ByHand,
    /// They were given the role of this name; acknowledging the incident does not make telling them moot.
    Role(&'a str),
}

/// Pages users for an incident: plans each one's notifications from their rules for the incident's urgency and
/// writes them to the outbox. Returns how many deliveries were planned and, for the timeline, who was paged how.
pub(super) fn page_users(
    c: &dyn Conn,
    incident: &Incident,
    users: &[UserId],
    people: &People,
    cause: PageCause<'_>,
    channels: &Channels,
    now: DateTime<Utc>,
) -> Result<(u32, Vec<PagedUser>)> {
    let urgency = Urgency::of(incident.severity);
    let acknowledged = incident.status == IncidentStatus::Acknowledged;
    let purpose = Purpose::Page {
        incident_id: incident.id.clone(),
        level: match cause {
            PageCause::Level(level) => Some(level),
            PageCause::ByHand | PageCause::Role(_) => None,
        },
        after_acknowledgement: acknowledged || matches!(cause, PageCause::Role(_)),
        role: match cause {
            PageCause::Role(name) => Some(name.to_owned()),
            PageCause::Level(_) | PageCause::ByHand => None,
        },
    };
    let mut planned = 0;
    let mut paged = Vec::new();
    let nobody = Person::default();
    for user in users {
        let person = people.0.get(user).unwrap_or(&nobody);
        let (methods, rules) = (&person.methods, &person.rules);
        let plan = plan_page(rules, methods, urgency, now, channels);
        let name = people.name(user);
        if plan.is_empty() {
            paged.push(PagedUser {
                user_id: user.clone(),
                name,
                methods: Vec::new(),
            });
            continue;
        }
        let page_id = ulid::Ulid::new().to_string();
        for notice in &plan {
            insert_delivery(
                c,
                user,
                &notice.contact_method_id,
                &purpose,
                Some(&page_id),
                notice.due_at,
                now,
            )?;
        }
        planned += plan.len() as u32;
        let planned_methods = plan
            .iter()
            .map(|p| PlannedMethod {
                kind: methods
                    .iter()
                    .find(|m| m.id == p.contact_method_id)
                    .map_or("?", |m| m.target.kind())
                    .to_owned(),
                after_minutes: (p.due_at - now).num_minutes().max(0),
            })
            .collect();
        paged.push(PagedUser {
            user_id: user.clone(),
            name,
            methods: planned_methods,
        });
    }
    Ok((planned, paged))
}

/// Who each list of level targets pages at `at`, by the domain's [`escalation::resolve_targets`], with every
/// team and schedule they name (a team's own schedules included) loaded in a few statements.
pub(super) fn resolve_levels(
    c: &dyn Conn,
    levels: &[&[EscalationTarget]],
    at: DateTime<Utc>,
) -> Result<Vec<escalation::LevelTargets>> {
    let directory = directory_for(c, levels.iter().flat_map(|targets| targets.iter()))?;
    Ok(levels
        .iter()
        .map(|targets| escalation::resolve_targets(targets, at, &directory))
        .collect())
}

/// The teams and schedules `targets` name, as resolving them needs.
pub(super) fn directory_for<'a>(
    c: &dyn Conn,
    targets: impl Iterator<Item = &'a EscalationTarget> + Clone,
) -> Result<Directory> {
    let teams = team_entries(c, &Directory::teams_needed(targets.clone()))?;
    let schedule_ids = Directory::schedules_needed(targets, &teams);
    let schedules = super::oncall::load_schedules_by_id(c, &schedule_ids)?
        .into_iter()
        .map(|(id, r)| {
            let schedule = r.schedule();
            (id, (r.name, schedule))
        })
        .collect();
    Ok(Directory { schedules, teams })
}

/// Teams by ID with their members (by name) and the schedules they own (by name), in three statements.
pub(super) fn team_entries(c: &dyn Conn, ids: &[TeamId]) -> Result<HashMap<TeamId, TeamEntry>> {
    let keys: Vec<&str> = ids.iter().map(TeamId::as_str).collect();
    let mut teams: HashMap<TeamId, TeamEntry> =
        super::rows::text_by_id(c, "SELECT id, name FROM teams WHERE id IN ({})", &keys)?
            .into_iter()
            .map(|(id, name)| {
                (
                    TeamId::from_trusted(id),
                    TeamEntry {
                        name,
                        ..TeamEntry::default()
                    },
                )
            })
            .collect();
    let pairs = |sql: &str| -> Result<Vec<(String, String)>> {
        super::rows::query_in(c, sql, &keys, |r| Ok((r.get(0)?, r.get(1)?)))
    };
    for (team, user) in pairs(
        "SELECT m.team_id, m.user_id FROM team_members m JOIN users u ON u.id = m.user_id \
         WHERE m.team_id IN ({}) ORDER BY u.name, u.id",
    )? {
        if let Some(t) = teams.get_mut(&TeamId::from_trusted(team)) {
            t.members.push(UserId::from_trusted(user));
        }
    }
    for (team, schedule) in
        pairs("SELECT team_id, id FROM schedules WHERE team_id IN ({}) ORDER BY name, id")?
    {
        if let Some(t) = teams.get_mut(&TeamId::from_trusted(team)) {
            t.schedules.push(ScheduleId::from_trusted(schedule));
        }
    }
    Ok(teams)
}

/// The targets a request for responders names, each checked to exist; every unknown one is reported at once, by
/// its list and place.
fn responder_targets(c: &dyn Conn, r: &Responders) -> Result<Vec<EscalationTarget>> {
    let mut errors = ValidationErrors::default();
    let mut targets = Vec::new();
    let mut found = |field: String, result: Result<EscalationTarget>| -> Result<()> {
        match result {
            Ok(t) if !targets.contains(&t) => targets.push(t),
            Ok(_) => {}
            Err(StoreError::NotFound { kind, key }) => {
                errors.push(field, format!("no {kind} {key:?}"))
            }
            Err(e) => return Err(e),
        }
        Ok(())
    };
    for (n, u) in r.users.iter().enumerate() {
        let t = load_user(c, u).map(|u| EscalationTarget::User(u.id));
        found(format!("users[{n}]"), t)?;
    }
    for (n, s) in r.schedules.iter().enumerate() {
        let t = super::oncall::load_schedule(c, s).map(|s| EscalationTarget::Schedule(s.id));
        found(format!("schedules[{n}]"), t)?;
    }
    for (n, t) in r.teams.iter().enumerate() {
        let t = super::catalog::load_team(c, t).map(|t| EscalationTarget::Team(t.id));
        found(format!("teams[{n}]"), t)?;
    }
    for (n, t) in r.teams_on_call.iter().enumerate() {
        let t = super::catalog::load_team(c, t).map(|t| EscalationTarget::TeamOnCall(t.id));
        found(format!("teams_on_call[{n}]"), t)?;
    }
    if targets.is_empty() && errors.is_empty() {
        errors.push("users", "name at least one user, schedule or team");
    }
    errors.into_result(targets).map_err(StoreError::from)
}

/// The users a page reached: those it planned at least one notification for.
fn reached(paged: &[PagedUser]) -> Vec<UserId> {
    paged
        .iter()
        .filter(|p| !p.methods.is_empty())
        .map(|p| p.user_id.clone())
        .collect()
}

/// One escalation on its way through [`fire_due`].
struct Firing {
    incident: Incident,
    escalation: Escalation,
    assignees: Vec<UserId>,
    /// Levels that reached nobody one after the other so far.
    missed: usize,
    /// Handed to another policy than its stored row names, so the row is rewritten whole.
    switched: bool,
}

impl Firing {
    fn settle(
        &self,
        c: &dyn Conn,
        e: &Escalation,
        assignees: &[UserId],
        now: DateTime<Utc>,
    ) -> Result<()> {
        if self.switched {
            save(c, e, assignees, now)
        } else {
            advance(c, e, assignees, now)
        }
    }
}

/// Fires up to `limit` due escalations: pages each due level's targets and sets the timer for the next. A level
/// that reached nobody hands over to the next level at once; a whole pass that reached nobody leaves the incident
/// unassigned and hands it to the fallback policy, if one is set.
pub(super) fn fire_due(
    c: &dyn Conn,
    now: DateTime<Utc>,
    limit: u32,
    channels: &Channels,
) -> Result<crate::Fired> {
    let due: Vec<(Escalation, Vec<UserId>)> = c.query_all(
        &format!(
            "SELECT {ESCALATION_COLUMNS} FROM escalations WHERE next_at IS NOT NULL AND next_at <= ?1 ORDER BY next_at, incident_id LIMIT ?2"
        ),
        params![ts(now), limit],
        escalation_row,
    )?;
    let mut fired = crate::Fired::default();
    if due.is_empty() {
        return Ok(fired);
    }
    // Everything the batch reads is loaded up front, a few statements for all of it, so that each escalation
    // costs only its own writes.
    let incident_ids: Vec<IncidentId> = due.iter().map(|(e, _)| e.incident_id.clone()).collect();
    let mut incidents = super::incidents::load_many(c, &incident_ids)?;
    let fallback = fallback_policy(c)?;
    let mut policy_ids: Vec<PolicyId> = due
        .iter()
        .filter_map(|(e, _)| e.policy_id.clone())
        .collect();
    policy_ids.sort();
    policy_ids.dedup();
    let mut policies = load_policies_by_id(c, &policy_ids)?;
    if let Some(f) = &fallback {
        policies.insert(f.id.clone(), f.clone());
    }
    let mut firing = Vec::new();
    for (e, assignees) in due {
        let Some(incident) = incidents.remove(&e.incident_id) else {
            advance(c, &Escalation { next_at: None, ..e }, &assignees, now)?;
            continue;
        };
        if incident.status != IncidentStatus::Triggered {
            advance(c, &Escalation { next_at: None, ..e }, &assignees, now)?;
            continue;
        }
        if e.policy_id
            .as_ref()
            .is_some_and(|p| policies.contains_key(p))
        {
            firing.push(Firing {
                incident,
                escalation: e,
                assignees,
                missed: 0,
                switched: false,
            });
            continue;
        }
        // Its policy was deleted since (or it has none, which a due escalation never should).
        let mut incident = incident;
        let to_fallback = fallback
            .as_ref()
            .filter(|f| e.policy_id.as_ref() != Some(&f.id));
        record_unassigned(c, &incident.id, Unreached::PolicyGone, to_fallback, now)?;
        fired.unassigned += u32::from(mark_unassigned(c, &mut incident, now)?);
        match to_fallback {
            Some(f) => firing.push(Firing {
                escalation: Escalation::start(incident.id.clone(), f.id.clone(), now),
                incident,
                assignees,
                missed: 0,
                switched: true,
            }),
            None => advance(c, &Escalation { next_at: None, ..e }, &assignees, now)?,
        }
    }
    // Rounds: a level that reached nobody puts its escalation back in for the next round, at its next level or
    // at the fallback policy's first. Each escalation comes back at most once per level of its policy and once
    // more for the fallback's, so this ends.
    while !firing.is_empty() {
        let steps: Vec<Option<escalation::Fired>> = firing
            .iter()
            .map(|f| {
                let policy = &policies[f.escalation.policy_id.as_ref().expect("checked above")];
                f.escalation.fire(policy)
            })
            .collect();
        let levels: Vec<&[EscalationTarget]> = steps
            .iter()
            .map(|s| s.as_ref().map_or(&[][..], |s| s.targets.as_slice()))
            .collect();
        let targets = resolve_levels(c, &levels, now)?;
        let mut users: Vec<UserId> = targets.iter().flat_map(|t| t.user_ids()).collect();
        users.sort();
        users.dedup();
        let people = People::load(c, &users)?;

        let mut again = Vec::new();
        for ((f, step), targets) in firing.into_iter().zip(steps).zip(targets) {
            let policy = &policies[f.escalation.policy_id.as_ref().expect("checked above")];
            let Some(step) = step else {
                let stopped = Escalation {
                    next_at: None,
                    ..f.escalation.clone()
                };
                f.settle(c, &stopped, &f.assignees, now)?;
                continue;
            };
            let mut incident = f.incident.clone();
            let (assignees, missed) = (f.assignees.clone(), f.missed);
            let users = targets.user_ids();
            let (planned, paged) = page_users(
                c,
                &incident,
                &users,
                &people,
                PageCause::Level(step.level),
                channels,
                now,
            )?;
            let reached = reached(&paged);
            let (level, round) = (step.level, step.round);
            fired.escalations += 1;
            fired.deliveries_planned += planned;
            let (after, next) = if !reached.is_empty() {
                record_assigned(c, &incident)?;
                incident.unassigned_since = None;
                (step.after, None)
            } else {
                match step.reached_nobody(missed + 1, policy.levels.len(), now) {
                    Miss::NextLevelNow(after) => {
                        (after.clone(), Some((after, missed + 1, f.switched)))
                    }
                    Miss::PassReachedNobody(after) if assignees.is_empty() => {
                        let to_fallback = fallback.as_ref().filter(|fb| fb.id != policy.id);
                        record_unassigned(
                            c,
                            &incident.id,
                            Unreached::NobodyReached {
                                policy: policy.name.clone(),
                            },
                            to_fallback,
                            now,
                        )?;
                        fired.unassigned += u32::from(mark_unassigned(c, &mut incident, now)?);
                        match to_fallback {
                            Some(fb) => {
                                let handed =
                                    Escalation::start(incident.id.clone(), fb.id.clone(), now);
                                (after, Some((handed, 0, true)))
                            }
                            None => (after, None),
                        }
                    }
                    Miss::PassReachedNobody(after) => (after, None),
                }
            };
            let entry = TimelineEntry::new(
                now,
                &Actor::system(),
                TimelineEvent::Escalated {
                    policy_id: policy.id.clone(),
                    policy: policy.name.clone(),
                    level,
                    round,
                    repeat: policy.repeat,
                    by_hand: false,
                    paged: Some(paged),
                    gaps: targets.gaps,
                    next_at: after.next_at,
                },
            );
            super::rows::record_timeline(c, &incident.id, &entry)?;
            let assignees = if reached.is_empty() {
                assignees
            } else {
                reached
            };
            match next {
                // Written once, by the round that settles it.
                Some((escalation, missed, switched)) => again.push(Firing {
                    incident,
                    escalation,
                    assignees,
                    missed,
                    switched,
                }),
                None => f.settle(c, &after, &assignees, now)?,
            }
        }
        firing = again;
    }
    Ok(fired)
}

/// Policies by ID, in one statement.
fn load_policies_by_id(
    c: &dyn Conn,
    ids: &[PolicyId],
) -> Result<HashMap<PolicyId, EscalationPolicy>> {
    let keys: Vec<&str> = ids.iter().map(PolicyId::as_str).collect();
    Ok(super::rows::query_in(
        c,
        &format!("SELECT {POLICY_COLUMNS} FROM escalation_policies WHERE id IN ({{}})"),
        &keys,
        policy,
    )?
    .into_iter()
    .map(|p| (p.id.clone(), p))
    .collect())
}

#[async_trait]
impl EscalationRepo for SqlStore {
    async fn create_policy(
        &self,
        spec: EscalationPolicySpec,
        now: DateTime<Utc>,
    ) -> Result<EscalationPolicy> {
        self.write(move |c| {
            check_policy(c, &spec)?;
            let name = spec.name.trim().to_owned();
            name_taken(c, &name, None)?;
            let team = super::catalog::team_field(c, spec.team.as_ref())?;
            let id = PolicyId::generate();
            c.execute(
                &format!("INSERT INTO escalation_policies ({POLICY_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6, ?7)"),
                params![id.as_str(), name, spec.description, spec.repeat, to_json(&spec.levels), ts(now), team.as_ref().map(TeamId::as_str)],
            )?;
            write_targets(c, &id, &spec)?;
            load_policy(c, &id.clone().into())
        })
        .await
    }

    async fn get_policy(&self, r: &PolicyRef) -> Result<EscalationPolicy> {
        let r = r.clone();
        self.read(move |c| load_policy(c, &r)).await
    }

    async fn list_policies(&self) -> Result<Vec<EscalationPolicy>> {
        self.read(all_policies).await
    }

    async fn resolve_levels(
        &self,
        levels: Vec<Vec<EscalationTarget>>,
        at: DateTime<Utc>,
    ) -> Result<(Vec<escalation::LevelTargets>, HashMap<ScheduleId, String>)> {
        self.read(move |c| {
            let directory = directory_for(c, levels.iter().flatten())?;
            let resolved = levels
                .iter()
                .map(|targets| escalation::resolve_targets(targets, at, &directory))
                .collect();
            let names = directory
                .schedules
                .into_iter()
                .map(|(id, (name, _))| (id, name))
                .collect();
            Ok((resolved, names))
        })
        .await
    }

    async fn paging_setup(&self) -> Result<PagingSetup> {
        self.read(|c| {
            Ok(PagingSetup {
                services: c.query_all(
                    "SELECT s.id, s.name, sp.policy_id FROM services s \
                     LEFT JOIN service_policies sp ON sp.service_id = s.id WHERE s.deleted_at IS NULL ORDER BY s.name",
                    params![],
                    |r| {
                        Ok((
                            ServiceId::from_trusted(r.get(0)?),
                            r.get(1)?,
                            r.get::<Option<String>>(2)?.map(PolicyId::from_trusted),
                        ))
                    },
                )?,
                policies: all_policies(c)?,
                schedules: super::oncall::all_schedules(c)?
                    .into_iter()
                    .map(|r| {
                        let schedule = r.schedule();
                        (r.id, r.name, schedule)
                    })
                    .collect(),
                users: c.query_all(
                    "SELECT id, name FROM users ORDER BY name, id",
                    params![],
                    |r| Ok((UserId::from_trusted(r.get(0)?), r.get(1)?)),
                )?,
                methods: c.query_all(
                    &format!(
                        "SELECT {} FROM contact_methods ORDER BY created_at, id",
                        super::delivery::METHOD_COLUMNS
                    ),
                    params![],
                    |r| super::delivery::readable_method(r, c.sealer()),
                )?
                .into_iter()
                .flatten()
                .collect(),
                teams: {
                    let ids: Vec<TeamId> = c.query_all(
                        "SELECT id FROM teams",
                        params![],
                        |r| r.get::<String>(0).map(TeamId::from_trusted),
                    )?;
                    team_entries(c, &ids)?
                },
                fallback: paging_settings(c)?.fallback_policy,
            })
        })
        .await
    }

    async fn replace_policy(
        &self,
        r: &PolicyRef,
        spec: EscalationPolicySpec,
        now: DateTime<Utc>,
    ) -> Result<EscalationPolicy> {
        let r = r.clone();
        self.write(move |c| {
            let existing = load_policy(c, &r)?;
            check_policy(c, &spec)?;
            let name = spec.name.trim().to_owned();
            name_taken(c, &name, Some(&existing.id))?;
            let team = super::catalog::team_field(c, spec.team.as_ref())?;
            c.execute(
                "UPDATE escalation_policies SET name = ?2, description = ?3, repeat = ?4, levels = ?5, updated_at = ?6, \
                 team_id = ?7 WHERE id = ?1",
                params![existing.id.as_str(), name, spec.description, spec.repeat, to_json(&spec.levels), ts(now), team.as_ref().map(TeamId::as_str)],
            )?;
            write_targets(c, &existing.id, &spec)?;
            load_policy(c, &existing.id.clone().into())
        })
        .await
    }

    async fn delete_policy(&self, r: &PolicyRef) -> Result<()> {
        let r = r.clone();
        self.write(move |c| {
            let p = load_policy(c, &r)?;
            let escalating: i64 = c.query_one(
                "SELECT count(*) FROM escalations WHERE policy_id = ?1 AND next_at IS NOT NULL",
                params![p.id.as_str()],
                |r| r.get(0),
            )?;
            if escalating > 0 {
                return Err(Conflict::StillEscalating {
                    policy: p.name,
                    incidents: escalating,
                }
                .into());
            }
            let users: Vec<String> = c.query_all(
                "SELECT s.name FROM service_policies sp JOIN services s ON s.id = sp.service_id \
                 WHERE sp.policy_id = ?1 ORDER BY s.name",
                params![p.id.as_str()],
                |r| r.get(0),
            )?;
            if !users.is_empty() {
                return Err(Conflict::InUse {
                    kind: "escalation policy",
                    name: p.name,
                    by: Dependents::Services(users),
                }
                .into());
            }
            if paging_settings(c)?.fallback_policy.as_ref() == Some(&p.id) {
                return Err(Conflict::InUse {
                    kind: "escalation policy",
                    name: p.name,
                    by: Dependents::Fallback,
                }
                .into());
            }
            // Incidents it paged keep their history; their escalation simply stops.
            c.execute(
                "DELETE FROM escalations WHERE policy_id = ?1",
                params![p.id.as_str()],
            )?;
            c.execute(
                "DELETE FROM escalation_policies WHERE id = ?1",
                params![p.id.as_str()],
            )?;
            Ok(())
        })
        .await
    }

    async fn set_service_policy(
        &self,
        service: &ServiceRef,
        policy: Option<PolicyRef>,
    ) -> Result<Option<EscalationPolicy>> {
        let service = service.to_owned();
        self.write(move |c| {
            let svc = load_service(c, &service)?;
            match policy.clone() {
                None => {
                    c.execute(
                        "DELETE FROM service_policies WHERE service_id = ?1",
                        params![svc.id.as_str()],
                    )?;
                    Ok(None)
                }
                Some(p) => {
                    let p = requested_policy(c, &p)?;
                    c.execute(
                        "INSERT INTO service_policies (service_id, policy_id) VALUES (?1, ?2) \
                         ON CONFLICT (service_id) DO UPDATE SET policy_id = excluded.policy_id",
                        params![svc.id.as_str(), p.id.as_str()],
                    )?;
                    Ok(Some(p))
                }
            }
        })
        .await
    }

    async fn service_policy(&self, service: &ServiceRef) -> Result<Option<EscalationPolicy>> {
        let service = service.to_owned();
        self.read(move |c| {
            let svc = load_service(c, &service)?;
            match policy_of_service(c, &svc.id)? {
                Some(p) => load_policy(c, &p.clone().into()).map(Some),
                None => Ok(None),
            }
        })
        .await
    }

    async fn policy_services(&self, r: &PolicyRef) -> Result<Vec<ServiceId>> {
        let r = r.clone();
        self.read(move |c| {
            let p = load_policy(c, &r)?;
            c.query_all(
                "SELECT service_id FROM service_policies WHERE policy_id = ?1 ORDER BY service_id",
                params![p.id.as_str()],
                |r| r.get::<String>(0).map(ServiceId::from_trusted),
            )
        })
        .await
    }

    async fn add_responders(
        &self,
        incident: &IncidentRef,
        responders: Responders,
        actor: Actor,
        channels: Channels,
        now: DateTime<Utc>,
    ) -> Result<RespondersPaged> {
        let incident = incident.to_owned();
        self.write(move |c| {
            let i = load_incident(c, &incident)?;
            if i.status == IncidentStatus::Resolved {
                return Err(TransitionError::AddingToResolved(i.number).into());
            }
            let targets = responder_targets(c, &responders)?;
            let level = resolve_levels(c, &[&targets], now)?.remove(0);
            let users = level.user_ids();
            let people = People::load(c, &users)?;
            // Sent by hand: an acknowledgement does not make these pages moot.
            let by_hand = Incident {
                status: IncidentStatus::Acknowledged,
                ..i.clone()
            };
            let (_, paged) = page_users(
                c,
                &by_hand,
                &users,
                &people,
                PageCause::ByHand,
                &channels,
                now,
            )?;
            if !reached(&paged).is_empty() {
                record_assigned(c, &i)?;
            }
            super::roles::record_added(c, &i.id, &users, now)?;
            let entry = TimelineEntry::new(
                now,
                &actor,
                TimelineEvent::RespondersAdded {
                    paged: paged.clone(),
                    gaps: level.gaps.clone(),
                },
            );
            super::rows::record_timeline(c, &i.id, &entry)?;
            Ok(RespondersPaged {
                paged,
                gaps: level.gaps,
            })
        })
        .await
    }

    async fn paging_settings(&self) -> Result<PagingSettingsRecord> {
        self.read(paging_settings_record).await
    }

    async fn set_fallback_policy(&self, policy: Option<PolicyRef>) -> Result<PagingSettingsRecord> {
        self.write(move |c| {
            let settings = PagingSettings {
                fallback_policy: match &policy {
                    Some(p) => Some(
                        load_policy(c, p)
                            .map_err(|e| match e {
                                StoreError::NotFound { .. } => StoreError::Invalid(
                                    FieldError::new(
                                        "fallback_policy",
                                        format!("no escalation policy {p:?}"),
                                    )
                                    .into(),
                                ),
                                other => other,
                            })?
                            .id,
                    ),
                    None => None,
                },
            };
            c.execute(
                "INSERT INTO settings (name, value) VALUES (?1, ?2) \
                 ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                params![PAGING_SETTINGS, to_json(&settings)],
            )?;
            paging_settings_record(c)
        })
        .await
    }

    async fn incident_escalation(
        &self,
        incident: &IncidentRef,
    ) -> Result<Option<EscalationRecord>> {
        let incident = incident.to_owned();
        self.read(move |c| {
            let i = load_incident(c, &incident)?;
            match load_escalation(c, &i.id)? {
                Some((e, assignees)) => record(c, e, assignees).map(Some),
                None => Ok(None),
            }
        })
        .await
    }

    async fn escalate(
        &self,
        incident: &IncidentRef,
        level: Option<u32>,
        actor: Actor,
        channels: Channels,
        now: DateTime<Utc>,
    ) -> Result<EscalationRecord> {
        let incident = incident.to_owned();
        self.write(move |c| {
            let i = load_incident(c, &incident)?;
            if i.status == IncidentStatus::Resolved {
                return Err(TransitionError::EscalatingResolved(i.number).into());
            }
            let Some((e, assignees)) = load_escalation(c, &i.id)? else {
                return Err(Conflict::NoPolicy { number: i.number }.into());
            };
            let Some(policy_id) = &e.policy_id else {
                return Err(Conflict::HandedToPeople { number: i.number }.into());
            };
            let policy = load_policy(c, &policy_id.clone().into())?;
            let moved = e
                .escalate_to(&policy, level, now)
                .map_err(|m| StoreError::Invalid(FieldError::new("level", m).into()))?;
            let escalated = |paged, gaps, next_at| {
                TimelineEntry::new(
                    now,
                    &actor,
                    TimelineEvent::Escalated {
                        policy_id: policy.id.clone(),
                        policy: policy.name.clone(),
                        level: moved.level,
                        round: moved.round,
                        repeat: policy.repeat,
                        by_hand: true,
                        paged,
                        gaps,
                        next_at,
                    },
                )
            };
            if i.status == IncidentStatus::Acknowledged {
                // An acknowledged incident no longer escalates on its own, so the engine would never page this
                // level: page it once, now, and leave the policy stopped.
                let targets = &policy.levels[moved.level as usize].targets;
                let level = resolve_levels(c, &[targets], now)?.remove(0);
                let (users, gaps) = (level.user_ids(), level.gaps);
                let people = People::load(c, &users)?;
                let (_, paged) = page_users(
                    c,
                    &i,
                    &users,
                    &people,
                    PageCause::Level(moved.level),
                    &channels,
                    now,
                )?;
                let reached = reached(&paged);
                if !reached.is_empty() {
                    record_assigned(c, &i)?;
                }
                super::rows::record_timeline(c, &i.id, &escalated(Some(paged), gaps, None))?;
                let stopped = Escalation {
                    next_at: None,
                    last_paged: Some(moved.level),
                    ..moved
                };
                let assignees = if reached.is_empty() {
                    assignees
                } else {
                    reached
                };
                save(c, &stopped, &assignees, now)?;
                return record(c, stopped, assignees);
            }
            super::rows::record_timeline(c, &i.id, &escalated(None, Vec::new(), moved.next_at))?;
            save(c, &moved, &assignees, now)?;
            // The level pages in the next engine cycle, like any due level, so there is one paging path.
            record(c, moved, assignees)
        })
        .await
    }

    async fn reassign(
        &self,
        incident: &IncidentRef,
        to: Reassignment,
        actor: Actor,
        channels: Channels,
        now: DateTime<Utc>,
    ) -> Result<EscalationRecord> {
        let incident = incident.to_owned();
        self.write(move |c| {
            let i = load_incident(c, &incident)?;
            if i.status == IncidentStatus::Resolved {
                return Err(TransitionError::ReassigningResolved(i.number).into());
            }
            let current = load_escalation(c, &i.id)?;
            // The people it is handed over from stop being notified; if they had acknowledged it, the new ones
            // must acknowledge it again.
            cancel_pending(c, &i.id, true, now)?;
            let mut i = i;
            if i.reopen_for_reassignment(now) {
                super::incidents::save(c, &i, None)?;
            }
            match to.clone() {
                Reassignment::Policy(p) => {
                    let policy = requested_policy(c, &p)?;
                    let e = Escalation::start(i.id.clone(), policy.id.clone(), now);
                    let assignees = current.map(|(_, a)| a).unwrap_or_default();
                    let entry = TimelineEntry::new(
                        now,
                        &actor,
                        TimelineEvent::Reassigned {
                            to: Handover::Policy {
                                policy_id: policy.id.clone(),
                                policy: policy.name.clone(),
                            },
                        },
                    );
                    super::rows::record_timeline(c, &i.id, &entry)?;
                    save(c, &e, &assignees, now)?;
                    record(c, e, assignees)
                }
                Reassignment::Users(refs) => {
                    if refs.is_empty() {
                        return Err(StoreError::Invalid(
                            FieldError::new("users", "name at least one user").into(),
                        ));
                    }
                    let mut users = Vec::new();
                    let mut errors = ValidationErrors::default();
                    for (n, r) in refs.iter().enumerate() {
                        match load_user(c, r) {
                            Ok(u) if !users.contains(&u.id) => users.push(u.id),
                            Ok(_) => {}
                            Err(StoreError::NotFound { .. }) => {
                                errors.push(format!("users[{n}]"), format!("no user {r:?}"))
                            }
                            Err(e) => return Err(e),
                        }
                    }
                    errors.into_result(())?;
                    let people = People::load(c, &users)?;
                    let (_, paged) =
                        page_users(c, &i, &users, &people, PageCause::ByHand, &channels, now)?;
                    if !reached(&paged).is_empty() {
                        record_assigned(c, &i)?;
                    }
                    // The people named now own it: the policy (if any) stops paging others, and is kept so that
                    // escalating by hand can continue from it.
                    let e = match current {
                        Some((e, _)) => Escalation { next_at: None, ..e },
                        None => Escalation {
                            incident_id: i.id.clone(),
                            policy_id: None,
                            level: 0,
                            last_paged: None,
                            round: 0,
                            next_at: None,
                        },
                    };
                    let entry = TimelineEntry::new(
                        now,
                        &actor,
                        TimelineEvent::Reassigned {
                            to: Handover::Users { paged },
                        },
                    );
                    super::rows::record_timeline(c, &i.id, &entry)?;
                    save(c, &e, &users, now)?;
                    record(c, e, users)
                }
            }
        })
        .await
    }
}
