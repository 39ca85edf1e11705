//! Users, teams, services and the declarative catalog.

use super::SqliteStore;
use super::backend;
use super::rows::{find, json_col, time, to_json, ts};
use crate::{CatalogRepo, ChangeRecord, Result, ServiceRepo, StoreError, TeamRepo, UserRepo};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, Row};
use tocsin_domain::FieldError;
use tocsin_domain::catalog::{
    self, CatalogDocument, Email, Name, PersonName, PlanAction, PlanEntry, Service, ServiceSpec,
    Team, TeamSpec, TimeZone, User, UserSpec,
};
use tocsin_domain::ids::{ChangeEventId, IntegrationId, ServiceId, TeamId, UserId};

fn parse_trusted<T>(
    row: &Row<'_>,
    idx: usize,
    parse: fn(&str) -> std::result::Result<T, String>,
) -> rusqlite::Result<T> {
    let s: String = row.get(idx)?;
    parse(&s).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(idx, rusqlite::types::Type::Text, e.into())
    })
}

// ---- users ----------------------------------------------------------------------------------------------------

const USER_COLUMNS: &str = "id, name, email, time_zone, created_at, updated_at";

fn user(row: &Row<'_>) -> rusqlite::Result<User> {
    Ok(User {
        id: UserId::from_trusted(row.get(0)?),
        name: parse_trusted(row, 1, PersonName::parse)?,
        email: parse_trusted(row, 2, Email::parse)?,
        time_zone: parse_trusted(row, 3, TimeZone::parse)?,
        created_at: time(row.get(4)?),
        updated_at: time(row.get(5)?),
    })
}

pub(super) fn load_user(conn: &Connection, r: &str) -> Result<User> {
    let sql = if UserId::parse(r).is_some() {
        format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?1")
    } else {
        format!("SELECT {USER_COLUMNS} FROM users WHERE email = lower(?1)")
    };
    find(conn, &sql, [r], user, "user", r)
}

fn load_users(conn: &Connection) -> Result<Vec<User>> {
    let mut stmt = conn
        .prepare_cached(&format!("SELECT {USER_COLUMNS} FROM users ORDER BY email"))
        .map_err(backend)?;
    stmt.query_map([], user)
        .and_then(Iterator::collect)
        .map_err(backend)
}

fn write_user(
    conn: &Connection,
    existing: Option<&UserId>,
    spec: &UserSpec,
    now: DateTime<Utc>,
) -> Result<UserId> {
    let taken: Option<String> = conn
        .query_row(
            "SELECT id FROM users WHERE email = ?1",
            [spec.email.as_str()],
            |r| r.get(0),
        )
        .optional()
        .map_err(backend)?;
    if let Some(other) = taken
        && existing.is_none_or(|e| e.as_str() != other)
    {
        return Err(StoreError::Conflict(format!(
            "a user with email {} already exists",
            spec.email
        )));
    }
    match existing {
        Some(id) => {
            conn.execute(
                "UPDATE users SET name = ?2, email = ?3, time_zone = ?4, updated_at = ?5 WHERE id = ?1",
                rusqlite::params![id.as_str(), spec.name.as_str(), spec.email.as_str(), spec.time_zone.as_str(), ts(now)],
            )
            .map_err(backend)?;
            Ok(id.clone())
        }
        None => {
            let id = UserId::generate();
            conn.execute(
                "INSERT INTO users (id, name, email, time_zone, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
                rusqlite::params![id.as_str(), spec.name.as_str(), spec.email.as_str(), spec.time_zone.as_str(), ts(now)],
            )
            .map_err(backend)?;
            Ok(id)
        }
    }
}

// ---- teams ----------------------------------------------------------------------------------------------------

fn team(conn: &Connection, row: &Row<'_>) -> rusqlite::Result<Team> {
    let id: String = row.get(0)?;
    let mut stmt = conn.prepare_cached(
        "SELECT u.email FROM team_members m JOIN users u ON u.id = m.user_id WHERE m.team_id = ?1 ORDER BY u.email",
    )?;
    let members = stmt
        .query_map([&id], |r| parse_trusted(r, 0, Email::parse))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(Team {
        id: TeamId::from_trusted(id),
        name: parse_trusted(row, 1, Name::parse)?,
        description: row.get(2)?,
        members,
        created_at: time(row.get(3)?),
        updated_at: time(row.get(4)?),
    })
}

pub(super) fn load_team(conn: &Connection, r: &str) -> Result<Team> {
    let col = if TeamId::parse(r).is_some() {
        "id"
    } else {
        "name"
    };
    let sql =
        format!("SELECT id, name, description, created_at, updated_at FROM teams WHERE {col} = ?1");
    find(conn, &sql, [r], |row| team(conn, row), "team", r)
}

fn load_teams(conn: &Connection) -> Result<Vec<Team>> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT id, name, description, created_at, updated_at FROM teams ORDER BY name",
        )
        .map_err(backend)?;
    stmt.query_map([], |row| team(conn, row))
        .and_then(Iterator::collect)
        .map_err(backend)
}

fn write_team(
    conn: &Connection,
    existing: Option<&TeamId>,
    spec: &TeamSpec,
    now: DateTime<Utc>,
) -> Result<TeamId> {
    let taken: Option<String> = conn
        .query_row(
            "SELECT id FROM teams WHERE name = ?1",
            [spec.name.as_str()],
            |r| r.get(0),
        )
        .optional()
        .map_err(backend)?;
    if let Some(other) = taken
        && existing.is_none_or(|e| e.as_str() != other)
    {
        return Err(StoreError::Conflict(format!(
            "a team named {} already exists",
            spec.name
        )));
    }
    let mut member_ids = Vec::new();
    let mut errors = tocsin_domain::ValidationErrors::default();
    for (i, email) in spec.members.iter().enumerate() {
        match conn
            .query_row(
                "SELECT id FROM users WHERE email = ?1",
                [email.as_str()],
                |r| r.get::<_, String>(0),
            )
            .optional()
        {
            Ok(Some(id)) => member_ids.push(id),
            Ok(None) => errors.push(
                format!("members[{i}]"),
                format!("no user with email {email}"),
            ),
            Err(e) => return Err(backend(e)),
        }
    }
    if !errors.is_empty() {
        return Err(StoreError::Invalid(errors));
    }
    let id = match existing {
        Some(id) => {
            conn.execute(
                "UPDATE teams SET name = ?2, description = ?3, updated_at = ?4 WHERE id = ?1",
                rusqlite::params![id.as_str(), spec.name.as_str(), spec.description, ts(now)],
            )
            .map_err(backend)?;
            id.clone()
        }
        None => {
            let id = TeamId::generate();
            conn.execute(
                "INSERT INTO teams (id, name, description, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?4)",
                rusqlite::params![id.as_str(), spec.name.as_str(), spec.description, ts(now)],
            )
            .map_err(backend)?;
            id
        }
    };
    conn.execute("DELETE FROM team_members WHERE team_id = ?1", [id.as_str()])
        .map_err(backend)?;
    for uid in member_ids {
        conn.execute(
            "INSERT OR IGNORE INTO team_members (team_id, user_id) VALUES (?1, ?2)",
            [id.as_str(), &uid],
        )
        .map_err(backend)?;
    }
    Ok(id)
}

// ---- services -------------------------------------------------------------------------------------------------

const SERVICE_SELECT: &str = "SELECT s.id, s.name, s.description, t.name, s.tier, s.runbook_url, s.severity_map, s.created_at, s.updated_at, s.grouping \
     FROM services s LEFT JOIN teams t ON t.id = s.team_id WHERE s.deleted_at IS NULL";

fn service(conn: &Connection, row: &Row<'_>) -> rusqlite::Result<Service> {
    let id: String = row.get(0)?;
    let mut stmt = conn.prepare_cached(
        "SELECT d.name FROM service_dependencies sd JOIN services d ON d.id = sd.depends_on_id \
         WHERE sd.service_id = ?1 AND d.deleted_at IS NULL ORDER BY d.name",
    )?;
    let depends_on = stmt
        .query_map([&id], |r| parse_trusted(r, 0, Name::parse))?
        .collect::<rusqlite::Result<_>>()?;
    let tier: Option<i64> = row.get(4)?;
    let runbook: Option<String> = row.get(5)?;
    let team: Option<String> = row.get(3)?;
    let bad = |idx: usize, e: String| {
        rusqlite::Error::FromSqlConversionFailure(idx, rusqlite::types::Type::Text, e.into())
    };
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
        alert_severity_map: json_col(row, 6)?,
        grouping: json_col(row, 9)?,
        created_at: time(row.get(7)?),
        updated_at: time(row.get(8)?),
    })
}

pub(super) fn load_service(conn: &Connection, r: &str) -> Result<Service> {
    let col = if ServiceId::parse(r).is_some() {
        "s.id"
    } else {
        "s.name"
    };
    find(
        conn,
        &format!("{SERVICE_SELECT} AND {col} = ?1"),
        [r],
        |row| service(conn, row),
        "service",
        r,
    )
}

fn load_services(conn: &Connection) -> Result<Vec<Service>> {
    let mut stmt = conn
        .prepare_cached(&format!("{SERVICE_SELECT} ORDER BY s.name"))
        .map_err(backend)?;
    stmt.query_map([], |row| service(conn, row))
        .and_then(Iterator::collect)
        .map_err(backend)
}

fn live_service_id(conn: &Connection, name: &Name) -> Result<Option<String>> {
    conn.query_row(
        "SELECT id FROM services WHERE name = ?1 AND deleted_at IS NULL",
        [name.as_str()],
        |r| r.get(0),
    )
    .optional()
    .map_err(backend)
}

/// Writes a service's own fields; dependencies are set separately so a document can refer to services it creates later.
fn write_service_fields(
    conn: &Connection,
    existing: Option<&ServiceId>,
    spec: &ServiceSpec,
    now: DateTime<Utc>,
) -> Result<ServiceId> {
    if let Some(other) = live_service_id(conn, &spec.name)?
        && existing.is_none_or(|e| e.as_str() != other)
    {
        return Err(StoreError::Conflict(format!(
            "a service named {} already exists",
            spec.name
        )));
    }
    let team_id: Option<String> = match &spec.team {
        Some(t) => Some(
            conn.query_row("SELECT id FROM teams WHERE name = ?1", [t.as_str()], |r| {
                r.get(0)
            })
            .optional()
            .map_err(backend)?
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
        rusqlite::params![
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
    )
    .map_err(backend)?;
    Ok(id)
}

fn set_service_deps(conn: &Connection, id: &ServiceId, deps: &[Name]) -> Result<()> {
    conn.execute(
        "DELETE FROM service_dependencies WHERE service_id = ?1",
        [id.as_str()],
    )
    .map_err(backend)?;
    for (i, d) in deps.iter().enumerate() {
        let dep = live_service_id(conn, d)?.ok_or_else(|| {
            StoreError::Invalid(
                FieldError::new(format!("depends_on[{i}]"), format!("no service named {d}")).into(),
            )
        })?;
        conn.execute("INSERT OR IGNORE INTO service_dependencies (service_id, depends_on_id) VALUES (?1, ?2)", [id.as_str(), &dep])
            .map_err(backend)?;
    }
    Ok(())
}

fn export(conn: &Connection) -> Result<CatalogDocument> {
    Ok(CatalogDocument {
        users: load_users(conn)?.iter().map(UserSpec::from).collect(),
        teams: load_teams(conn)?.iter().map(TeamSpec::from).collect(),
        services: load_services(conn)?.iter().map(ServiceSpec::from).collect(),
    })
}

/// Checks a service's references as they would stand after writing it in place of `replacing` (a rename included).
fn check_service(conn: &Connection, spec: &ServiceSpec, replacing: Option<&Service>) -> Result<()> {
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
impl UserRepo for SqliteStore {
    async fn create(&self, spec: UserSpec, now: DateTime<Utc>) -> Result<User> {
        self.write(move |c| {
            let id = write_user(c, None, &spec, now)?;
            load_user(c, id.as_str())
        })
        .await
    }
    async fn get(&self, r: &str) -> Result<User> {
        let r = r.to_owned();
        self.read(move |c| load_user(c, &r)).await
    }
    async fn list(&self) -> Result<Vec<User>> {
        self.read(load_users).await
    }
    async fn replace(&self, r: &str, spec: UserSpec, now: DateTime<Utc>) -> Result<User> {
        let r = r.to_owned();
        self.write(move |c| {
            let existing = load_user(c, &r)?;
            write_user(c, Some(&existing.id), &spec, now)?;
            load_user(c, existing.id.as_str())
        })
        .await
    }
    async fn delete(&self, r: &str) -> Result<()> {
        let r = r.to_owned();
        self.write(move |c| {
            let u = load_user(c, &r)?;
            super::oncall::refuse_if_in_rotation(c, &u.id)?;
            super::escalation::refuse_if_paged(c, &u.id)?;
            c.execute("DELETE FROM users WHERE id = ?1", [u.id.as_str()])
                .map_err(backend)?;
            Ok(())
        })
        .await
    }
}

#[async_trait]
impl TeamRepo for SqliteStore {
    async fn create(&self, spec: TeamSpec, now: DateTime<Utc>) -> Result<Team> {
        self.write(move |c| {
            let id = write_team(c, None, &spec, now)?;
            load_team(c, id.as_str())
        })
        .await
    }
    async fn get(&self, r: &str) -> Result<Team> {
        let r = r.to_owned();
        self.read(move |c| load_team(c, &r)).await
    }
    async fn list(&self) -> Result<Vec<Team>> {
        self.read(load_teams).await
    }
    async fn replace(&self, r: &str, spec: TeamSpec, now: DateTime<Utc>) -> Result<Team> {
        let r = r.to_owned();
        self.write(move |c| {
            let existing = load_team(c, &r)?;
            write_team(c, Some(&existing.id), &spec, now)?;
            load_team(c, existing.id.as_str())
        })
        .await
    }
    async fn delete(&self, r: &str) -> Result<()> {
        let r = r.to_owned();
        self.write(move |c| {
            let t = load_team(c, &r)?;
            c.execute("DELETE FROM teams WHERE id = ?1", [t.id.as_str()])
                .map_err(backend)?;
            Ok(())
        })
        .await
    }
}

#[async_trait]
impl ServiceRepo for SqliteStore {
    async fn create(&self, spec: ServiceSpec, now: DateTime<Utc>) -> Result<Service> {
        self.write(move |c| {
            if live_service_id(c, &spec.name)?.is_some() {
                return Err(StoreError::Conflict(format!(
                    "a service named {} already exists",
                    spec.name
                )));
            }
            check_service(c, &spec, None)?;
            let id = write_service_fields(c, None, &spec, now)?;
            set_service_deps(c, &id, &spec.depends_on)?;
            load_service(c, id.as_str())
        })
        .await
    }
    async fn get(&self, r: &str) -> Result<Service> {
        let r = r.to_owned();
        self.read(move |c| load_service(c, &r)).await
    }
    async fn list(&self) -> Result<Vec<Service>> {
        self.read(load_services).await
    }
    async fn replace(&self, r: &str, spec: ServiceSpec, now: DateTime<Utc>) -> Result<Service> {
        let r = r.to_owned();
        self.write(move |c| {
            // Triage's snapshot holds service names and windows of live services.
            super::noise::invalidate();
            let existing = load_service(c, &r)?;
            check_service(c, &spec, Some(&existing))?;
            write_service_fields(c, Some(&existing.id), &spec, now)?;
            set_service_deps(c, &existing.id, &spec.depends_on)?;
            load_service(c, existing.id.as_str())
        })
        .await
    }
    async fn delete(&self, r: &str, now: DateTime<Utc>) -> Result<()> {
        let r = r.to_owned();
        self.write(move |c| {
            // Triage's snapshot holds service names and windows of live services.
            super::noise::invalidate();
            let s = load_service(c, &r)?;
            let mut stmt = c
                .prepare(
                    "SELECT d.name FROM service_dependencies sd JOIN services d ON d.id = sd.service_id \
                     WHERE sd.depends_on_id = ?1 AND d.deleted_at IS NULL ORDER BY d.name",
                )
                .map_err(backend)?;
            let dependents: Vec<String> =
                stmt.query_map([s.id.as_str()], |r| r.get(0)).and_then(Iterator::collect).map_err(backend)?;
            if !dependents.is_empty() {
                return Err(StoreError::Conflict(format!(
                    "services {} depend on {}; remove those dependencies first",
                    dependents.join(", "),
                    s.name
                )));
            }
            c.execute("UPDATE services SET deleted_at = ?2 WHERE id = ?1", rusqlite::params![s.id.as_str(), ts(now)])
                .map_err(backend)?;
            c.execute("DELETE FROM service_dependencies WHERE service_id = ?1", [s.id.as_str()]).map_err(backend)?;
            // A deleted service pages nobody, and must not keep its policy from being deleted.
            c.execute("DELETE FROM service_policies WHERE service_id = ?1", [s.id.as_str()]).map_err(backend)?;
            c.execute(
                "UPDATE integrations SET revoked_at = ?2 WHERE service_id = ?1 AND revoked_at IS NULL",
                rusqlite::params![s.id.as_str(), ts(now)],
            )
            .map_err(backend)?;
            Ok(())
        })
        .await
    }
    async fn changes(&self, r: &str, limit: u32) -> Result<Vec<ChangeRecord>> {
        let r = r.to_owned();
        self.read(move |c| {
            let s = load_service(c, &r)?;
            let mut stmt = c
                .prepare_cached(
                    "SELECT id, service_id, integration_id, summary, source, timestamp, custom_details, links, received_at \
                     FROM change_events WHERE service_id = ?1 ORDER BY seq DESC LIMIT ?2",
                )
                .map_err(backend)?;
            stmt.query_map(rusqlite::params![s.id.as_str(), super::rows::page_limit(limit)], change_record)
                .and_then(Iterator::collect)
                .map_err(backend)
        })
        .await
    }
}

pub(super) fn change_record(row: &Row<'_>) -> rusqlite::Result<ChangeRecord> {
    Ok(ChangeRecord {
        id: ChangeEventId::from_trusted(row.get(0)?),
        service_id: ServiceId::from_trusted(row.get(1)?),
        integration_id: IntegrationId::from_trusted(row.get(2)?),
        summary: row.get(3)?,
        source: row.get(4)?,
        timestamp: super::rows::opt_time(row.get(5)?),
        custom_details: json_col(row, 6)?,
        links: json_col(row, 7)?,
        received_at: time(row.get(8)?),
    })
}

#[async_trait]
impl CatalogRepo for SqliteStore {
    async fn apply(
        &self,
        doc: CatalogDocument,
        dry_run: bool,
        now: DateTime<Utc>,
    ) -> Result<Vec<PlanEntry>> {
        self.write(move |c| {
            // Triage's snapshot holds service names and windows of live services.
            super::noise::invalidate();
            let current = export(c)?;
            let plan = catalog::plan(&current, &doc)?;
            if dry_run {
                return Ok(plan.entries());
            }
            let changed = |a: &PlanAction| *a != PlanAction::Unchanged;
            for (spec, _) in plan.users.iter().filter(|(_, a)| changed(a)) {
                let existing = load_user(c, spec.email.as_str()).ok().map(|u| u.id);
                write_user(c, existing.as_ref(), spec, now)?;
            }
            for (spec, _) in plan.teams.iter().filter(|(_, a)| changed(a)) {
                let existing = load_team(c, spec.name.as_str()).ok().map(|t| t.id);
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
