//! The roles of a response: the organisation's definitions (a `settings` row), who holds and held each role in
//! an incident (`incident_roles`), who works an incident (`incident_responders`, and its pages), and filling
//! roles from their defaults (`role_fills`, a timer the engine takes, since whoever takes a role is paged).

use super::catalog::load_user;
use super::escalation::{PageCause, People, page_users, resolve_levels};
use super::incidents::load as load_incident;
use super::rows::{self, to_json, ts};
use crate::db::SqlStore;
use crate::params;
use crate::sql::{Conn, Row};
use crate::{Conflict, Dependents, Result, RoleRepo, StoreError};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tocsin_domain::FieldError;
use tocsin_domain::ValidationErrors;
use tocsin_domain::catalog::User;
use tocsin_domain::contact::Channels;
use tocsin_domain::escalation::EscalationTarget;
use tocsin_domain::ids::{IncidentId, UserId};
use tocsin_domain::incident::{
    Actor, Incident, IncidentStatus, TimelineEntry, TimelineEvent, TransitionError,
};
use tocsin_domain::refs::Key;
use tocsin_domain::refs::{IncidentRef, UserRef};
use tocsin_domain::roles::{
    self, Assignment, Joined, Presence, Responder, Role, RoleAssignment, RoleSpec,
};
use tocsin_domain::timeline::Person;

/// The `settings` row holding the roles as the organisation defined them: the built-in ones it reworded and its
/// own, in order.
const ROLES: &str = "incident_roles";

#[derive(serde::Serialize, serde::Deserialize)]
struct StoredRole {
    key: String,
    spec: serde_json::Value,
}

/// The built-in roles (as reworded) then the organisation's own. A stored role this version cannot read (a newer
/// one wrote it) is passed over rather than failing every incident page.
pub(super) fn load_roles(c: &dyn Conn) -> Result<Vec<Role>> {
    Ok(load_stored(c)?.0)
}

/// The roles, and the stored entries this version could not read.
fn load_stored(c: &dyn Conn) -> Result<(Vec<Role>, Vec<serde_json::Value>)> {
    let stored = super::settings::read_list(c, ROLES, |raw| {
        let entry: StoredRole = serde_json::from_value(raw).map_err(|e| e.to_string())?;
        let key = entry.key.parse::<Key>()?;
        let spec: RoleSpec = serde_json::from_value(entry.spec).map_err(|e| e.to_string())?;
        Ok((key, spec))
    })?;
    let mut roles = Role::built_in();
    for (key, spec) in stored.items {
        match roles.iter_mut().find(|r| r.key == key) {
            Some(builtin) => {
                builtin.name = spec.name;
                builtin.instructions = spec.instructions;
                builtin.defaults = spec.defaults;
            }
            None => roles.push(spec.into_role(key)),
        }
    }
    Ok((roles, stored.unreadable))
}

fn write_roles(c: &dyn Conn, roles: &[Role], unreadable: Vec<serde_json::Value>) -> Result<()> {
    let items = roles
        .iter()
        .map(|r| serde_json::json!({ "key": r.key.to_string(), "spec": r.spec() }))
        .collect();
    super::settings::write_list(c, ROLES, items, unreadable)
}

fn find_role(roles: &[Role], key: &Key) -> Result<Role> {
    roles
        .iter()
        .find(|r| &r.key == key)
        .cloned()
        .ok_or_else(|| StoreError::not_found("role", key.as_str()))
}

/// What a role's defaults name must exist: its services and whom it gives the role to.
fn check_defaults(c: &dyn Conn, spec: &RoleSpec) -> Result<()> {
    let mut errors = ValidationErrors::default();
    for (i, d) in spec.defaults.iter().enumerate() {
        for (j, s) in d.services.iter().enumerate() {
            if !super::escalation::exists(c, "services", s.as_str())? {
                errors.push(
                    format!("defaults[{i}].services[{j}]"),
                    "no service has this ID",
                );
            }
        }
        if let Some(what) = super::escalation::missing_target(c, &d.target)? {
            errors.push(
                format!("defaults[{i}].target"),
                format!("no {what} has this ID"),
            );
        }
    }
    errors.into_result(()).map_err(StoreError::from)
}

const ASSIGNMENT_COLUMNS: &str =
    "role, role_name, user_id, user_name, assigned_at, assigned_by, released_at, released_by";

fn assignment(r: &Row<'_>) -> Result<RoleAssignment> {
    Ok(RoleAssignment {
        role: Key::try_from(r.get::<String>(0)?).map_err(StoreError::Backend)?,
        role_name: r.get(1)?,
        user_id: UserId::from_trusted(r.get::<String>(2)?),
        user: r.get(3)?,
        assigned_at: rows::time(r.get(4)?),
        assigned_by: r.json(5)?,
        released_at: r.get::<Option<i64>>(6)?.map(rows::time),
        released_by: match r.get::<Option<String>>(7)? {
            Some(_) => Some(r.json(7)?),
            None => None,
        },
    })
}

/// Who holds and held each role in the incident, oldest first.
pub(super) fn assignments(c: &dyn Conn, incident: &IncidentId) -> Result<Vec<RoleAssignment>> {
    c.query_all(
        &format!(
            "SELECT {ASSIGNMENT_COLUMNS} FROM incident_roles WHERE incident_id = ?1 ORDER BY assigned_at, id"
        ),
        params![incident.as_str()],
        assignment,
    )
}

/// Ends someone's holding of a role.
fn close(
    c: &dyn Conn,
    incident: &IncidentId,
    role: &Key,
    user: &UserId,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<()> {
    c.execute_later(
        "UPDATE incident_roles SET released_at = ?4, released_by = ?5 \
         WHERE incident_id = ?1 AND role = ?2 AND user_id = ?3 AND released_at IS NULL",
        params![
            incident.as_str(),
            role.as_str(),
            user.as_str(),
            ts(now),
            to_json(actor)
        ],
    )
}

/// Who gives a role: a person (or token), or the role's default, in Tocsin's name.
#[derive(Clone, Copy)]
enum GivenBy<'a> {
    Actor(&'a Actor),
    Default,
}

/// Gives `role` to `user` in the incident and pages them, unless they took it themselves: the role's name is in
/// the page ("you are now incident commander of #42"). For a role one person holds, whoever held it hands it
/// over. Returns the new holding, or none when they held it already.
fn assign(
    c: &dyn Conn,
    incident: &Incident,
    role: &Role,
    user: &User,
    given_by: GivenBy<'_>,
    channels: &Channels,
    now: DateTime<Utc>,
) -> Result<Option<RoleAssignment>> {
    let tocsin = Actor::system();
    let (actor, by_default) = match given_by {
        GivenBy::Actor(actor) => (actor, false),
        GivenBy::Default => (&tocsin, true),
    };
    if incident.status == IncidentStatus::Resolved {
        return Err(TransitionError::AssigningResolved(incident.number).into());
    }
    let current = assignments(c, &incident.id)?;
    let holders: Vec<&RoleAssignment> = current
        .iter()
        .filter(|a| a.is_held() && a.role == role.key)
        .collect();
    let replaces =
        match roles::assign(role, &holders, &user.id).map_err(|e| StoreError::Invalid(e.into()))? {
            Assignment::AlreadyHeld => return Ok(None),
            Assignment::Take { replaces } => replaces,
        };
    for previous in &replaces {
        close(c, &incident.id, &role.key, previous, actor, now)?;
    }
    let replaced = holders
        .iter()
        .find(|h| replaces.first() == Some(&h.user_id))
        .map(|h| Person {
            user_id: h.user_id.clone(),
            name: h.user.clone(),
        });
    c.execute_later(
        "INSERT INTO incident_roles (id, incident_id, role, role_name, user_id, user_name, assigned_at, assigned_by) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            ulid::Ulid::new().to_string(),
            incident.id.as_str(),
            role.key.as_str(),
            role.name.clone(),
            user.id.as_str(),
            user.name.to_string(),
            ts(now),
            to_json(actor)
        ],
    )?;
    let took_it_themselves = actor.is_user(&user.id);
    let paged = if took_it_themselves {
        None
    } else {
        let people = People::load(c, std::slice::from_ref(&user.id))?;
        let (_, mut paged) = page_users(
            c,
            incident,
            std::slice::from_ref(&user.id),
            &people,
            PageCause::Role(&role.name),
            channels,
            now,
        )?;
        if paged.iter().any(|p| !p.methods.is_empty()) {
            super::escalation::record_assigned(c, incident)?;
        }
        paged.pop()
    };
    let entry = TimelineEntry::new(
        now,
        actor,
        TimelineEvent::RoleAssigned {
            role: role.key.clone(),
            role_name: role.name.clone(),
            user_id: user.id.clone(),
            user: user.name.to_string(),
            replaced,
            paged,
            by_default,
        },
    );
    rows::record_timeline(c, &incident.id, &entry)?;
    Ok(Some(RoleAssignment {
        role: role.key.clone(),
        role_name: role.name.clone(),
        user_id: user.id.clone(),
        user: user.name.to_string(),
        assigned_at: now,
        assigned_by: actor.clone(),
        released_at: None,
        released_by: None,
    }))
}

/// Asks the engine to fill the incident's roles from their defaults now, if any default applies to it: after it
/// opened, and after its severity changed.
pub(super) fn schedule_fill(c: &dyn Conn, incident: &Incident, now: DateTime<Utc>) -> Result<()> {
    let applies = load_roles(c)?
        .iter()
        .any(|r| r.default_for(incident).is_some());
    if applies {
        c.execute_later(
            "INSERT INTO role_fills (incident_id, due_at) VALUES (?1, ?2) \
             ON CONFLICT (incident_id) DO UPDATE SET due_at = excluded.due_at",
            params![incident.id.as_str(), ts(now)],
        )?;
    }
    Ok(())
}

pub(super) const ROLE_FILLS_DUE: &str = "SELECT min(due_at) AS due FROM role_fills";

/// Fills the roles nobody holds in each incident due (at most `limit`) from the first of each role's defaults
/// that applies: the person it names, or whoever is on call where it points (everyone, for a role several people
/// hold). A default that finds nobody is on the timeline. Returns how many roles were given.
pub(super) fn fill_due(
    c: &dyn Conn,
    now: DateTime<Utc>,
    limit: u32,
    channels: &Channels,
) -> Result<u32> {
    let due = rows::take_due_incidents(c, "role_fills", now, limit)?;
    if due.is_empty() {
        return Ok(0);
    }
    let roles = load_roles(c)?;
    let tocsin = Actor::system();
    let mut given = 0;
    for id in due {
        let incident = match load_incident(c, &IncidentRef::Id(IncidentId::from_trusted(id))) {
            Ok(i) if i.status != IncidentStatus::Resolved => i,
            Ok(_) | Err(StoreError::NotFound { .. }) => continue,
            Err(e) => return Err(e),
        };
        let held = assignments(c, &incident.id)?;
        for role in &roles {
            let Some(default) = role.default_for(&incident) else {
                continue;
            };
            if held.iter().any(|a| a.is_held() && a.role == role.key) {
                continue;
            }
            let targets: [EscalationTarget; 1] = [default.target.clone()];
            let level = resolve_levels(c, &[&targets], now)?.remove(0);
            // People deleted since the default was written take nothing.
            let mut users = Vec::new();
            for id in level.user_ids() {
                match load_user(c, &UserRef::Id(id)) {
                    Ok(u) => users.push(u),
                    Err(StoreError::NotFound { .. }) => {}
                    Err(e) => return Err(e),
                }
            }
            if role.single {
                users.truncate(1);
            }
            users.truncate(roles::MAX_HOLDERS);
            if users.is_empty() {
                let entry = TimelineEntry::new(
                    now,
                    &tocsin,
                    TimelineEvent::RoleUnfilled {
                        role: role.key.clone(),
                        role_name: role.name.clone(),
                        gaps: level.gaps,
                    },
                );
                rows::record_timeline(c, &incident.id, &entry)?;
                continue;
            }
            for user in users {
                if assign(c, &incident, role, &user, GivenBy::Default, channels, now)?.is_some() {
                    given += 1;
                }
            }
        }
    }
    Ok(given)
}

/// Records that people were asked to join (added by someone), so that they are responders even when no page
/// reached them; someone who had left is back.
pub(super) fn record_added(
    c: &dyn Conn,
    incident: &IncidentId,
    users: &[UserId],
    now: DateTime<Utc>,
) -> Result<()> {
    for user in users {
        c.execute_later(
            "INSERT INTO incident_responders (incident_id, user_id, joined, since) VALUES (?1, ?2, ?3, ?4) \
             ON CONFLICT (incident_id, user_id) DO UPDATE SET joined = excluded.joined, since = excluded.since, \
             left_at = NULL",
            params![
                incident.as_str(),
                user.as_str(),
                Joined::Added.as_str(),
                ts(now)
            ],
        )?;
    }
    Ok(())
}

/// Who works the incident now, with their roles.
pub(super) fn responders(c: &dyn Conn, incident: &IncidentId) -> Result<Vec<Responder>> {
    let recorded: Vec<Presence> = c.query_all(
        "SELECT user_id, joined, since, left_at FROM incident_responders WHERE incident_id = ?1",
        params![incident.as_str()],
        |r| {
            Ok(Presence {
                user_id: UserId::from_trusted(r.get::<String>(0)?),
                joined: r.get::<String>(1)?.parse().map_err(StoreError::Backend)?,
                since: rows::time(r.get(2)?),
                left_at: r.get::<Option<i64>>(3)?.map(rows::time),
            })
        },
    )?;
    let paged: Vec<(UserId, DateTime<Utc>, DateTime<Utc>)> = c.query_all(
        "SELECT user_id, min(created_at), max(created_at) FROM deliveries \
         WHERE incident_id = ?1 AND page_id IS NOT NULL GROUP BY user_id",
        params![incident.as_str()],
        |r| {
            Ok((
                UserId::from_trusted(r.get::<String>(0)?),
                rows::time(r.get(1)?),
                rows::time(r.get(2)?),
            ))
        },
    )?;
    let held = assignments(c, incident)?;
    let mut ids: Vec<&str> = recorded.iter().map(|p| p.user_id.as_str()).collect();
    ids.extend(paged.iter().map(|p| p.0.as_str()));
    ids.extend(held.iter().map(|a| a.user_id.as_str()));
    ids.sort_unstable();
    ids.dedup();
    let names = rows::user_names(c, &ids)?;
    Ok(roles::responders(&recorded, &paged, &held, |u| {
        names
            .get(u.as_str())
            .cloned()
            .or_else(|| {
                held.iter()
                    .find(|a| &a.user_id == u)
                    .map(|a| a.user.clone())
            })
            .unwrap_or_else(|| "a deleted person".to_owned())
    }))
}

/// The person a request names; one who does not exist is the request's mistake, shown beside its field.
pub(super) fn named_person(c: &dyn Conn, field: &str, user: &UserRef) -> Result<User> {
    load_user(c, user).map_err(|e| match e {
        StoreError::NotFound { .. } => {
            StoreError::Invalid(FieldError::new(field, format!("nobody is {}", user.key())).into())
        }
        other => other,
    })
}

/// Ends every role the person holds in open incidents, on each one's timeline in Tocsin's name: they are being
/// deleted, and nobody should stay commander of an incident they can no longer work.
pub(super) fn release_everything_of(c: &dyn Conn, user: &User, now: DateTime<Utc>) -> Result<()> {
    let held: Vec<(String, String, String)> = c.query_all(
        "SELECT r.incident_id, r.role, r.role_name FROM incident_roles r JOIN incidents i ON i.id = r.incident_id \
         WHERE r.user_id = ?1 AND r.released_at IS NULL AND i.status <> 'resolved' ORDER BY r.incident_id, r.role",
        params![user.id.as_str()],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )?;
    let tocsin = Actor::system();
    for (incident, role, role_name) in held {
        let incident = IncidentId::from_trusted(incident);
        let role = Key::try_from(role).map_err(StoreError::Backend)?;
        close(c, &incident, &role, &user.id, &tocsin, now)?;
        let entry = TimelineEntry::new(
            now,
            &tocsin,
            TimelineEvent::RoleReleased {
                role,
                role_name,
                user_id: user.id.clone(),
                user: user.name.to_string(),
            },
        );
        rows::record_timeline(c, &incident, &entry)?;
    }
    Ok(())
}

/// The ID a reference names; an ID is taken as it is, so that someone deleted since can still be released from a
/// role or taken off a response.
fn user_id_of(c: &dyn Conn, user: &UserRef) -> Result<UserId> {
    match user {
        UserRef::Id(id) => Ok(id.clone()),
        UserRef::Email(_) => Ok(load_user(c, user)?.id),
    }
}

fn open_incident(c: &dyn Conn, r: &IncidentRef) -> Result<Incident> {
    let i = load_incident(c, r)?;
    if i.status == IncidentStatus::Resolved {
        return Err(TransitionError::JoiningResolved(i.number).into());
    }
    Ok(i)
}

#[async_trait]
impl RoleRepo for SqlStore {
    async fn roles(&self) -> Result<Vec<Role>> {
        self.read(load_roles).await
    }

    async fn put_role(&self, key: Key, spec: RoleSpec) -> Result<Role> {
        self.write(move |c| {
            let spec = spec.clone().tidy();
            spec.validate().map_err(StoreError::Invalid)?;
            check_defaults(c, &spec)?;
            let (mut roles, unreadable) = load_stored(c)?;
            roles::check_role_change(&roles, &key, &spec)
                .map_err(|e| StoreError::Invalid(e.into()))?;
            let role = spec.into_role(key.clone());
            match roles.iter_mut().find(|r| r.key == key) {
                Some(r) => *r = role.clone(),
                None => roles.push(role.clone()),
            }
            write_roles(c, &roles, unreadable)?;
            Ok(role)
        })
        .await
    }

    async fn delete_role(&self, key: &Key) -> Result<()> {
        let key = key.clone();
        self.write(move |c| {
            let (mut roles, unreadable) = load_stored(c)?;
            let role = find_role(&roles, &key)?;
            if role.built_in {
                return Err(StoreError::Invalid(
                    FieldError::new(
                        "key",
                        format!(
                            "{} is built in: it can be reworded, not removed",
                            role.name
                        ),
                    )
                    .into(),
                ));
            }
            let holding: Vec<i64> = c.query_all(
                "SELECT DISTINCT i.number FROM incident_roles r JOIN incidents i ON i.id = r.incident_id \
                 WHERE r.role = ?1 AND r.released_at IS NULL AND i.status <> 'resolved' ORDER BY i.number",
                params![key.as_str()],
                |r| r.get(0),
            )?;
            if !holding.is_empty() {
                return Err(Conflict::InUse {
                    kind: "role",
                    name: role.name,
                    by: Dependents::OpenIncidents(holding),
                }
                .into());
            }
            roles.retain(|r| r.key != key);
            write_roles(c, &roles, unreadable)
        })
        .await
    }

    async fn assignments(&self, incident: &IncidentRef) -> Result<Vec<RoleAssignment>> {
        let incident = incident.clone();
        self.read(move |c| {
            let i = load_incident(c, &incident)?;
            assignments(c, &i.id)
        })
        .await
    }

    async fn assign_role(
        &self,
        incident: &IncidentRef,
        role: &Key,
        user: &UserRef,
        actor: Actor,
        channels: Channels,
        now: DateTime<Utc>,
    ) -> Result<Option<RoleAssignment>> {
        let (incident, role, user) = (incident.clone(), role.clone(), user.clone());
        self.write(move |c| {
            let i = load_incident(c, &incident)?;
            let role = find_role(&load_roles(c)?, &role)?;
            let user = named_person(c, "user", &user)?;
            assign(c, &i, &role, &user, GivenBy::Actor(&actor), &channels, now)
        })
        .await
    }

    async fn release_role(
        &self,
        incident: &IncidentRef,
        role: &Key,
        user: Option<UserRef>,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<Vec<RoleAssignment>> {
        let (incident, role) = (incident.clone(), role.clone());
        self.write(move |c| {
            let i = load_incident(c, &incident)?;
            let role = find_role(&load_roles(c)?, &role)?;
            let who = match &user {
                Some(u) => Some(user_id_of(c, u)?),
                None => None,
            };
            let released: Vec<RoleAssignment> = assignments(c, &i.id)?
                .into_iter()
                .filter(|a| a.is_held() && a.role == role.key)
                .filter(|a| who.as_ref().is_none_or(|u| &a.user_id == u))
                .collect();
            if released.is_empty() {
                let message = match &user {
                    Some(u) => format!("{} does not hold {} in #{}", u.key(), role.name, i.number),
                    None => format!("nobody holds {} in #{}", role.name, i.number),
                };
                return Err(StoreError::Invalid(FieldError::new("user", message).into()));
            }
            let mut out = Vec::new();
            for mut a in released {
                close(c, &i.id, &role.key, &a.user_id, &actor, now)?;
                let entry = TimelineEntry::new(
                    now,
                    &actor,
                    TimelineEvent::RoleReleased {
                        role: role.key.clone(),
                        role_name: role.name.clone(),
                        user_id: a.user_id.clone(),
                        user: a.user.clone(),
                    },
                );
                rows::record_timeline(c, &i.id, &entry)?;
                a.released_at = Some(now);
                a.released_by = Some(actor.clone());
                out.push(a);
            }
            Ok(out)
        })
        .await
    }

    async fn responders(&self, incident: &IncidentRef) -> Result<Vec<Responder>> {
        let incident = incident.clone();
        self.read(move |c| {
            let i = load_incident(c, &incident)?;
            responders(c, &i.id)
        })
        .await
    }

    async fn join(
        &self,
        incident: &IncidentRef,
        user: &UserRef,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<Vec<Responder>> {
        let (incident, user) = (incident.clone(), user.clone());
        self.write(move |c| {
            let i = open_incident(c, &incident)?;
            let u = named_person(c, "user", &user)?;
            if responders(c, &i.id)?.iter().any(|r| r.user_id == u.id) {
                return responders(c, &i.id);
            }
            let by_themselves = actor.is_user(&u.id);
            let joined = if by_themselves {
                Joined::Joined
            } else {
                Joined::Added
            };
            c.execute(
                "INSERT INTO incident_responders (incident_id, user_id, joined, since) VALUES (?1, ?2, ?3, ?4) \
                 ON CONFLICT (incident_id, user_id) DO UPDATE SET joined = excluded.joined, since = excluded.since, \
                 left_at = NULL",
                params![i.id.as_str(), u.id.as_str(), joined.as_str(), ts(now)],
            )?;
            let entry = TimelineEntry::new(
                now,
                &actor,
                TimelineEvent::ResponderJoined {
                    user_id: u.id.clone(),
                    user: u.name.to_string(),
                },
            );
            rows::record_timeline(c, &i.id, &entry)?;
            responders(c, &i.id)
        })
        .await
    }

    async fn leave(
        &self,
        incident: &IncidentRef,
        user: &UserRef,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<Vec<Responder>> {
        let (incident, user) = (incident.clone(), user.clone());
        self.write(move |c| {
            let i = load_incident(c, &incident)?;
            let id = user_id_of(c, &user)?;
            let Some(u) = responders(c, &i.id)?.into_iter().find(|r| r.user_id == id) else {
                return Err(StoreError::Invalid(
                    FieldError::new(
                        "user",
                        format!("{} is not working on #{}", user.key(), i.number),
                    )
                    .into(),
                ));
            };
            let mut released = Vec::new();
            for a in assignments(c, &i.id)?
                .into_iter()
                .filter(|a| a.is_held() && a.user_id == u.user_id)
            {
                close(c, &i.id, &a.role, &u.user_id, &actor, now)?;
                released.push(a.role_name);
            }
            c.execute(
                "INSERT INTO incident_responders (incident_id, user_id, joined, since, left_at) \
                 VALUES (?1, ?2, ?3, ?4, ?4) ON CONFLICT (incident_id, user_id) DO UPDATE SET left_at = excluded.left_at",
                params![i.id.as_str(), u.user_id.as_str(), u.joined.as_str(), ts(now)],
            )?;
            let entry = TimelineEntry::new(
                now,
                &actor,
                TimelineEvent::ResponderLeft {
                    user_id: u.user_id.clone(),
                    user: u.name.clone(),
                    released,
                },
            );
            rows::record_timeline(c, &i.id, &entry)?;
            responders(c, &i.id)
        })
        .await
    }
}
