//! Users, teams, services and the declarative catalog.

use super::escalation::PolicyTarget;
use super::rows::{to_json, ts};
use crate::db::SqlStore;
use crate::params;
use crate::sql::{Conn, Row};
use crate::{
    CatalogRepo, ChangeRecord, Result, ServiceRepo, StoreError, TeamRepo, UserAccess, UserRepo,
};
use crate::{Conflict, Dependents};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tocsin_domain::FieldError;
use tocsin_domain::auth::Role;
use tocsin_domain::catalog::{
    self, CatalogDocument, Email, Name, PersonName, PlanAction, PlanEntry, Service, ServiceSpec,
    Team, TeamSpec, TimeZone, User, UserSpec,
};
use tocsin_domain::ids::{ChangeEventId, IntegrationId, ServiceId, TeamId, UserId};
use tocsin_domain::refs::{ServiceRef, TeamRef, UserRef};

fn parse_trusted<T>(
    row: &Row<'_>,
    idx: usize,
    parse: fn(&str) -> std::result::Result<T, String>,
) -> Result<T> {
    let s: String = row.get(idx)?;
    parse(&s).map_err(|e| StoreError::Backend(format!("column {idx}: {e}")))
}

// ---- users ----------------------------------------------------------------------------------------------------

const USER_COLUMNS: &str = "id, name, email, time_zone, created_at, updated_at, role";

fn user(row: &Row<'_>) -> Result<User> {
    Ok(User {
        id: UserId::from_trusted(row.get(0)?),
        name: parse_trusted(row, 1, PersonName::parse)?,
        email: parse_trusted(row, 2, Email::parse)?,
        time_zone: parse_trusted(row, 3, TimeZone::parse)?,
        created_at: row.time(4)?,
        updated_at: row.time(5)?,
        role: row.parsed(6)?,
    })
}

/// The user's role and the teams they belong to.
pub(super) fn user_access(conn: &dyn Conn, user: &UserId) -> Result<UserAccess> {
    let role = conn.find(
        "SELECT role FROM users WHERE id = ?1",
        params![user.as_str()],
        |r| r.parsed(0),
        "user",
        user.as_str(),
    )?;
    let teams = conn.query_all(
        "SELECT team_id FROM team_members WHERE user_id = ?1 ORDER BY team_id",
        params![user.as_str()],
        |r| Ok(TeamId::from_trusted(r.get(0)?)),
    )?;
    Ok(UserAccess { role, teams })
}

/// Whether someone can still do everything after a change: a person holding the owner role, or a live owner
/// token acting for nobody (a token acting for a person holds at most that person's role, so owners' own tokens
/// are counted with them). Checked after the change, inside its transaction, which it fails otherwise.
pub(super) fn an_owner_remains(conn: &dyn Conn, now: DateTime<Utc>) -> Result<bool> {
    let owners: i64 = conn.query_one(
        "SELECT (SELECT count(*) FROM users WHERE role = ?1) + \
                (SELECT count(*) FROM api_tokens WHERE role = ?1 AND user_id IS NULL AND revoked_at IS NULL \
                 AND (expires_at IS NULL OR expires_at > ?2))",
        params![Role::Owner.as_str(), ts(now)],
        |r| r.get(0),
    )?;
    Ok(owners > 0)
}

/// Refuses a change that took the owner role from `user` (as they were before it) if nobody holds it any more.
fn refuse_if_no_owner_left(conn: &dyn Conn, user: &User, now: DateTime<Utc>) -> Result<()> {
    if user.role != Role::Owner || an_owner_remains(conn, now)? {
        return Ok(());
    }
    Err(Conflict::LastOwner {
        user: user.email.to_string(),
    }
    .into())
}

pub(super) fn load_user(conn: &dyn Conn, r: &UserRef) -> Result<User> {
    // Emails are stored lowercased; a reference built without `UserRef::parse` may not be.
    let sql = match r {
        UserRef::Id(_) => format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?1"),
        UserRef::Email(_) => format!("SELECT {USER_COLUMNS} FROM users WHERE email = lower(?1)"),
    };
    conn.find(&sql, params![r.key()], user, "user", r.key())
}

fn load_users(conn: &dyn Conn) -> Result<Vec<User>> {
    conn.query_all(
        &format!("SELECT {USER_COLUMNS} FROM users ORDER BY email"),
        params![],
        user,
    )
}

pub(super) fn write_user(
    conn: &dyn Conn,
    existing: Option<&UserId>,
    spec: &UserSpec,
    now: DateTime<Utc>,
) -> Result<UserId> {
    let taken: Option<String> = conn.query_opt(
        "SELECT id FROM users WHERE email = ?1",
        params![spec.email.as_str()],
        |r| r.get(0),
    )?;
    if let Some(other) = taken
        && existing.is_none_or(|e| e.as_str() != other)
    {
        return Err(Conflict::NameTaken {
            kind: "user",
            name: spec.email.to_string(),
        }
        .into());
    }
    match existing {
        Some(id) => {
            conn.execute(
                "UPDATE users SET name = ?2, email = ?3, time_zone = ?4, updated_at = ?5 WHERE id = ?1",
                params![id.as_str(), spec.name.as_str(), spec.email.as_str(), spec.time_zone.as_str(), ts(now)],
            )?;
            Ok(id.clone())
        }
        None => {
            let id = UserId::generate();
            conn.execute(
                "INSERT INTO users (id, name, email, time_zone, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
                params![id.as_str(), spec.name.as_str(), spec.email.as_str(), spec.time_zone.as_str(), ts(now)],
            )?;
            Ok(id)
        }
    }
}

// ---- teams ----------------------------------------------------------------------------------------------------

fn team(conn: &dyn Conn, row: &Row<'_>) -> Result<Team> {
    let id: String = row.get(0)?;
    let members = conn.query_all(
        "SELECT u.email FROM team_members m JOIN users u ON u.id = m.user_id WHERE m.team_id = ?1 ORDER BY u.email",
        params![id],
        |r| parse_trusted(r, 0, Email::parse),
    )?;
    Ok(Team {
        id: TeamId::from_trusted(id),
        name: parse_trusted(row, 1, Name::parse)?,
        description: row.get(2)?,
        members,
        created_at: row.time(3)?,
        updated_at: row.time(4)?,
    })
}

pub(super) fn load_team(conn: &dyn Conn, r: &TeamRef) -> Result<Team> {
    let col = if r.is_id() { "id" } else { "name" };
    let sql =
        format!("SELECT id, name, description, created_at, updated_at FROM teams WHERE {col} = ?1");
    conn.find(
        &sql,
        params![r.key()],
        |row| team(conn, row),
        "team",
        r.key(),
    )
}

/// The team a request's `team` field names, refused by field when there is none.
pub(super) fn team_field(conn: &dyn Conn, team: Option<&TeamRef>) -> Result<Option<TeamId>> {
    let Some(t) = team else { return Ok(None) };
    load_team(conn, t)
        .map(|team| Some(team.id))
        .map_err(|e| match e {
            StoreError::NotFound { .. } => {
                StoreError::Invalid(FieldError::new("team", format!("no team {t:?}")).into())
            }
            other => other,
        })
}

fn load_teams(conn: &dyn Conn) -> Result<Vec<Team>> {
    conn.query_all(
        "SELECT id, name, description, created_at, updated_at FROM teams ORDER BY name",
        params![],
        |row| team(conn, row),
    )
}

fn write_team(
    conn: &dyn Conn,
    existing: Option<&TeamId>,
    spec: &TeamSpec,
    now: DateTime<Utc>,
) -> Result<TeamId> {
    let taken: Option<String> = conn.query_opt(
        "SELECT id FROM teams WHERE name = ?1",
        params![spec.name.as_str()],
        |r| r.get(0),
    )?;
    if let Some(other) = taken
        && existing.is_none_or(|e| e.as_str() != other)
    {
        return Err(Conflict::NameTaken {
            kind: "team",
            name: spec.name.to_string(),
        }
        .into());
    }
    let mut member_ids = Vec::new();
    let mut errors = tocsin_domain::ValidationErrors::default();
    for (i, email) in spec.members.iter().enumerate() {
        match conn.query_opt(
            "SELECT id FROM users WHERE email = ?1",
            params![email.as_str()],
            |r| r.get::<String>(0),
        )? {
            Some(id) => member_ids.push(id),
            None => errors.push(
                format!("members[{i}]"),
                format!("no user with email {email}"),
            ),
        }
    }
    if !errors.is_empty() {
        return Err(StoreError::Invalid(errors));
    }
    let id = match existing {
        Some(id) => {
            conn.execute(
                "UPDATE teams SET name = ?2, description = ?3, updated_at = ?4 WHERE id = ?1",
                params![id.as_str(), spec.name.as_str(), spec.description, ts(now)],
            )?;
            id.clone()
        }
        None => {
            let id = TeamId::generate();
            conn.execute(
                "INSERT INTO teams (id, name, description, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?4)",
                params![id.as_str(), spec.name.as_str(), spec.description, ts(now)],
            )?;
            id
        }
    };
    conn.execute(
        "DELETE FROM team_members WHERE team_id = ?1",
        params![id.as_str()],
    )?;
    for uid in member_ids {
        conn.execute(
            "INSERT INTO team_members (team_id, user_id) VALUES (?1, ?2) \
             ON CONFLICT (team_id, user_id) DO NOTHING",
            params![id.as_str(), uid],
        )?;
    }
    Ok(id)
}

// ---- services -------------------------------------------------------------------------------------------------

const SERVICE_SELECT: &str = "SELECT s.id, s.name, s.description, t.name, s.tier, s.runbook_url, s.severity_map, s.created_at, s.updated_at, s.grouping \
     FROM services s LEFT JOIN teams t ON t.id = s.team_id WHERE s.deleted_at IS NULL";

fn service(conn: &dyn Conn, row: &Row<'_>) -> Result<Service> {
    let id: String = row.get(0)?;
    let depends_on = conn.query_all(
        "SELECT d.name FROM service_dependencies sd JOIN services d ON d.id = sd.depends_on_id \
         WHERE sd.service_id = ?1 AND d.deleted_at IS NULL ORDER BY d.name",
        params![id],
        |r| parse_trusted(r, 0, Name::parse),
    )?;
    let tier: Option<i64> = row.get(4)?;
    let runbook: Option<String> = row.get(5)?;
    let team: Option<String> = row.get(3)?;
    let bad = |idx: usize, e: String| StoreError::Backend(format!("column {idx}: {e}"));
    Ok(Service {
        id: ServiceId::from_trusted(id),
        name: parse_trusted(row, 1, Name::parse)?,
        description: row.get(2)?,
        team: team
            .map(|t| Name::parse(&t))
            .transpose()
            .map_err(|e| bad(3, e))?,
        tier: tier
            .map(catalog::Tier::try_from)
            .transpose()
            .map_err(|e| bad(4, e))?,
        runbook_url: runbook
            .map(|u| catalog::HttpUrl::parse(&u))
            .transpose()
            .map_err(|e| bad(5, e))?,
        depends_on,
        alert_severity_map: row.json(6)?,
        grouping: row.json(9)?,
        created_at: row.time(7)?,
        updated_at: row.time(8)?,
    })
}

pub(super) fn load_service(conn: &dyn Conn, r: &ServiceRef) -> Result<Service> {
    let col = if r.is_id() { "s.id" } else { "s.name" };
    conn.find(
        &format!("{SERVICE_SELECT} AND {col} = ?1"),
        params![r.key()],
        |row| service(conn, row),
        "service",
        r.key(),
    )
}

fn load_services(conn: &dyn Conn) -> Result<Vec<Service>> {
    conn.query_all(
        &format!("{SERVICE_SELECT} ORDER BY s.name"),
        params![],
        |row| service(conn, row),
    )
}

fn live_service_id(conn: &dyn Conn, name: &Name) -> Result<Option<String>> {
    conn.query_opt(
        "SELECT id FROM services WHERE name = ?1 AND deleted_at IS NULL",
        params![name.as_str()],
        |r| r.get(0),
    )
}

/// Writes a service's own fields; dependencies are set separately so a document can refer to services it creates later.
fn write_service_fields(
    conn: &dyn Conn,
    existing: Option<&ServiceId>,
    spec: &ServiceSpec,
    now: DateTime<Utc>,
) -> Result<ServiceId> {
    if let Some(other) = live_service_id(conn, &spec.name)?
        && existing.is_none_or(|e| e.as_str() != other)
    {
        return Err(Conflict::NameTaken {
            kind: "service",
            name: spec.name.to_string(),
        }
        .into());
    }
    let team_id: Option<String> = match &spec.team {
        Some(t) => Some(
            conn.query_opt(
                "SELECT id FROM teams WHERE name = ?1",
                params![t.as_str()],
                |r| r.get(0),
            )?
            .ok_or_else(|| {
                StoreError::Invalid(FieldError::new("team", format!("no team named {t}")).into())
            })?,
        ),
        None => None,
    };
    let (sql, id) = match existing {
        Some(id) => (
            "UPDATE services SET name = ?2, description = ?3, team_id = ?4, tier = ?5, runbook_url = ?6, severity_map = ?7, \
             updated_at = ?8, grouping = ?9 WHERE id = ?1",
            id.clone(),
        ),
        None => (
            "INSERT INTO services (id, name, description, team_id, tier, runbook_url, severity_map, created_at, updated_at, grouping) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8, ?9)",
            ServiceId::generate(),
        ),
    };
    conn.execute(
        sql,
        params![
            id.as_str(),
            spec.name.as_str(),
            spec.description,
            team_id,
            spec.tier.map(i64::from),
            spec.runbook_url.as_ref().map(|u| u.as_str()),
            to_json(&spec.alert_severity_map),
            ts(now),
            to_json(&spec.grouping),
        ],
    )?;
    Ok(id)
}

fn set_service_deps(conn: &dyn Conn, id: &ServiceId, deps: &[Name]) -> Result<()> {
    conn.execute(
        "DELETE FROM service_dependencies WHERE service_id = ?1",
        params![id.as_str()],
    )?;
    for (i, d) in deps.iter().enumerate() {
        let dep = live_service_id(conn, d)?.ok_or_else(|| {
            StoreError::Invalid(
                FieldError::new(format!("depends_on[{i}]"), format!("no service named {d}")).into(),
            )
        })?;
        conn.execute(
            "INSERT INTO service_dependencies (service_id, depends_on_id) VALUES (?1, ?2) \
             ON CONFLICT (service_id, depends_on_id) DO NOTHING",
            params![id.as_str(), dep],
        )?;
    }
    Ok(())
}

fn export(conn: &dyn Conn) -> Result<CatalogDocument> {
    Ok(CatalogDocument {
        users: load_users(conn)?.iter().map(UserSpec::from).collect(),
        teams: load_teams(conn)?.iter().map(TeamSpec::from).collect(),
        services: load_services(conn)?.iter().map(ServiceSpec::from).collect(),
    })
}

/// Checks a service's references as they would stand after writing it in place of `replacing` (a rename included).
fn check_service(conn: &dyn Conn, spec: &ServiceSpec, replacing: Option<&Service>) -> Result<()> {
    let mut current = export(conn)?;
    if let Some(old) = replacing {
        current.services.retain(|s| s.name != old.name);
        for s in &mut current.services {
            for d in &mut s.depends_on {
                if *d == old.name {
                    *d = spec.name.clone();
                }
            }
        }
    }
    catalog::check_service_refs(spec, &current).map_err(StoreError::Invalid)
}

#[async_trait]
impl UserRepo for SqlStore {
    async fn create(&self, spec: UserSpec, now: DateTime<Utc>) -> Result<User> {
        self.write(move |c| {
            let id = write_user(c, None, &spec, now)?;
            load_user(c, &id.clone().into())
        })
        .await
    }
    async fn create_with_role(
        &self,
        spec: UserSpec,
        role: Role,
        now: DateTime<Utc>,
    ) -> Result<User> {
        self.write(move |c| {
            let id = write_user(c, None, &spec, now)?;
            c.execute(
                "UPDATE users SET role = ?2 WHERE id = ?1",
                params![id.as_str(), role.as_str()],
            )?;
            load_user(c, &id.clone().into())
        })
        .await
    }
    async fn get(&self, r: &UserRef) -> Result<User> {
        let r = r.clone();
        self.read(move |c| load_user(c, &r)).await
    }
    async fn list(&self) -> Result<Vec<User>> {
        self.read(load_users).await
    }
    async fn replace(&self, r: &UserRef, spec: UserSpec, now: DateTime<Utc>) -> Result<User> {
        let r = r.clone();
        self.write(move |c| {
            let existing = load_user(c, &r)?;
            write_user(c, Some(&existing.id), &spec, now)?;
            load_user(c, &existing.id.clone().into())
        })
        .await
    }
    async fn delete(&self, r: &UserRef, now: DateTime<Utc>) -> Result<()> {
        let r = r.clone();
        self.write(move |c| {
            let u = load_user(c, &r)?;
            super::oncall::refuse_if_in_rotation(c, &u)?;
            super::escalation::refuse_if_paged(c, &u)?;
            super::roles::release_everything_of(c, &u, now)?;
            // Their tokens go with them, whatever role they hold: nobody's token acts for a person who left.
            c.execute(
                "UPDATE api_tokens SET revoked_at = ?2 WHERE user_id = ?1 AND revoked_at IS NULL",
                params![u.id.as_str(), ts(now)],
            )?;
            c.execute("DELETE FROM users WHERE id = ?1", params![u.id.as_str()])?;
            refuse_if_no_owner_left(c, &u, now)
        })
        .await
    }
    async fn set_role(&self, r: &UserRef, role: Role, now: DateTime<Utc>) -> Result<User> {
        let r = r.clone();
        self.write(move |c| {
            let u = load_user(c, &r)?;
            c.execute(
                "UPDATE users SET role = ?2, updated_at = ?3 WHERE id = ?1",
                params![u.id.as_str(), role.as_str(), ts(now)],
            )?;
            refuse_if_no_owner_left(c, &u, now)?;
            load_user(c, &u.id.clone().into())
        })
        .await
    }
    async fn access(&self, user: &UserId) -> Result<UserAccess> {
        let user = user.clone();
        self.read(move |c| user_access(c, &user)).await
    }
}

#[async_trait]
impl TeamRepo for SqlStore {
    async fn create(&self, spec: TeamSpec, now: DateTime<Utc>) -> Result<Team> {
        self.write(move |c| {
            let id = write_team(c, None, &spec, now)?;
            load_team(c, &id.clone().into())
        })
        .await
    }
    async fn get(&self, r: &TeamRef) -> Result<Team> {
        let r = r.clone();
        self.read(move |c| load_team(c, &r)).await
    }
    async fn list(&self) -> Result<Vec<Team>> {
        self.read(load_teams).await
    }
    async fn replace(&self, r: &TeamRef, spec: TeamSpec, now: DateTime<Utc>) -> Result<Team> {
        let r = r.clone();
        self.write(move |c| {
            let existing = load_team(c, &r)?;
            write_team(c, Some(&existing.id), &spec, now)?;
            load_team(c, &existing.id.clone().into())
        })
        .await
    }
    async fn delete(&self, r: &TeamRef) -> Result<()> {
        let r = r.clone();
        self.write(move |c| {
            let t = load_team(c, &r)?;
            let policies =
                super::escalation::policies_targeting(c, PolicyTarget::Team, t.id.as_str())?;
            if !policies.is_empty() {
                return Err(Conflict::InUse {
                    kind: "team",
                    name: t.name.to_string(),
                    by: Dependents::Policies(policies),
                }
                .into());
            }
            // Its schedules stay, belonging to no team.
            c.execute(
                "UPDATE schedules SET team_id = NULL WHERE team_id = ?1",
                params![t.id.as_str()],
            )?;
            c.execute("DELETE FROM teams WHERE id = ?1", params![t.id.as_str()])?;
            Ok(())
        })
        .await
    }
}

#[async_trait]
impl ServiceRepo for SqlStore {
    async fn create(&self, spec: ServiceSpec, now: DateTime<Utc>) -> Result<Service> {
        self.write(move |c| {
            if live_service_id(c, &spec.name)?.is_some() {
                return Err(Conflict::NameTaken {
                    kind: "service",
                    name: spec.name.to_string(),
                }
                .into());
            }
            check_service(c, &spec, None)?;
            let id = write_service_fields(c, None, &spec, now)?;
            set_service_deps(c, &id, &spec.depends_on)?;
            load_service(c, &id.clone().into())
        })
        .await
    }
    async fn get(&self, r: &ServiceRef) -> Result<Service> {
        let r = r.clone();
        self.read(move |c| load_service(c, &r)).await
    }
    async fn list(&self) -> Result<Vec<Service>> {
        self.read(load_services).await
    }
    async fn replace(
        &self,
        r: &ServiceRef,
        spec: ServiceSpec,
        now: DateTime<Utc>,
    ) -> Result<Service> {
        let r = r.clone();
        self.write(move |c| {
            // Triage's snapshot holds service names and windows of live services.
            super::noise::triage_changed(c)?;
            let existing = load_service(c, &r)?;
            check_service(c, &spec, Some(&existing))?;
            write_service_fields(c, Some(&existing.id), &spec, now)?;
            set_service_deps(c, &existing.id, &spec.depends_on)?;
            load_service(c, &existing.id.clone().into())
        })
        .await
    }
    async fn delete(&self, r: &ServiceRef, now: DateTime<Utc>) -> Result<()> {
        let r = r.clone();
        self.write(move |c| {
            // Triage's snapshot holds service names and windows of live services.
            super::noise::triage_changed(c)?;
            let s = load_service(c, &r)?;
            let dependents: Vec<String> = c.query_all(
                "SELECT d.name FROM service_dependencies sd JOIN services d ON d.id = sd.service_id \
                 WHERE sd.depends_on_id = ?1 AND d.deleted_at IS NULL ORDER BY d.name",
                params![s.id.as_str()],
                |r| r.get(0),
            )?;
            if !dependents.is_empty() {
                return Err(Conflict::InUse {
                    kind: "service",
                    name: s.name.to_string(),
                    by: Dependents::DependentServices(dependents),
                }
                .into());
            }
            c.execute("UPDATE services SET deleted_at = ?2 WHERE id = ?1", params![s.id.as_str(), ts(now)])?;
            c.execute("DELETE FROM service_dependencies WHERE service_id = ?1", params![s.id.as_str()])?;
            // A deleted service pages nobody, and must not keep its policy from being deleted.
            c.execute("DELETE FROM service_policies WHERE service_id = ?1", params![s.id.as_str()])?;
            c.execute(
                "UPDATE integrations SET revoked_at = ?2 WHERE service_id = ?1 AND revoked_at IS NULL",
                params![s.id.as_str(), ts(now)],
            )?;
            Ok(())
        })
        .await
    }
    async fn changes(&self, r: &ServiceRef, limit: u32) -> Result<Vec<ChangeRecord>> {
        let r = r.clone();
        self.read(move |c| {
            let s = load_service(c, &r)?;
            c.query_all(
                "SELECT id, service_id, integration_id, summary, source, timestamp, custom_details, links, received_at \
                 FROM change_events WHERE service_id = ?1 ORDER BY seq DESC LIMIT ?2",
                params![s.id.as_str(), super::rows::page_limit(limit)],
                change_record,
            )
        })
        .await
    }
}

/// The columns [`change_record`] reads, in its order.
pub(super) const CHANGE_COLUMNS: &str = "id, service_id, integration_id, summary, source, timestamp, custom_details, links, received_at";

pub(super) fn change_record(row: &Row<'_>) -> Result<ChangeRecord> {
    Ok(ChangeRecord {
        id: ChangeEventId::from_trusted(row.get(0)?),
        service_id: ServiceId::from_trusted(row.get(1)?),
        integration_id: IntegrationId::from_trusted(row.get(2)?),
        summary: row.get(3)?,
        source: row.get(4)?,
        timestamp: row.opt_time(5)?,
        custom_details: row.json(6)?,
        links: row.json(7)?,
        received_at: row.time(8)?,
    })
}

#[async_trait]
impl CatalogRepo for SqlStore {
    async fn apply(
        &self,
        doc: CatalogDocument,
        dry_run: bool,
        now: DateTime<Utc>,
    ) -> Result<Vec<PlanEntry>> {
        self.write(move |c| {
            // Triage's snapshot holds service names and windows of live services.
            super::noise::triage_changed(c)?;
            let current = export(c)?;
            let plan = catalog::plan(&current, &doc)?;
            if dry_run {
                return Ok(plan.entries());
            }
            let changed = |a: &PlanAction| *a != PlanAction::Unchanged;
            for (spec, _) in plan.users.iter().filter(|(_, a)| changed(a)) {
                let existing = load_user(c, &UserRef::parse(spec.email.as_str()))
                    .ok()
                    .map(|u| u.id);
                write_user(c, existing.as_ref(), spec, now)?;
            }
            for (spec, _) in plan.teams.iter().filter(|(_, a)| changed(a)) {
                let existing = load_team(c, &TeamRef::parse(spec.name.as_str()))
                    .ok()
                    .map(|t| t.id);
                write_team(c, existing.as_ref(), spec, now)?;
            }
            let mut written = Vec::new();
            for (spec, _) in plan.services.iter().filter(|(_, a)| changed(a)) {
                let existing = live_service_id(c, &spec.name)?.map(ServiceId::from_trusted);
                written.push((write_service_fields(c, existing.as_ref(), spec, now)?, spec));
            }
            for (id, spec) in written {
                set_service_deps(c, &id, &spec.depends_on)?;
            }
            Ok(plan.entries())
        })
        .await
    }

    async fn export(&self) -> Result<CatalogDocument> {
        self.read(export).await
    }
}
