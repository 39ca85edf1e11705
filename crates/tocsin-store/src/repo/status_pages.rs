//! Status pages: `status_pages`, `status_components` (groups among them, with how each one's status is set) and
//! `status_component_services` (the services a component stands for, with its page for reading a page at once).

use super::rows::{self, to_json, ts};
use crate::db::SqlStore;
use crate::params;
use crate::sql::{Conn, Row};
use crate::{Conflict, PageView, Result, StatusPageRepo, StoreError};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use tocsin_domain::ValidationErrors;
use tocsin_domain::ids::{ComponentId, ServiceId, StatusPageId};
use tocsin_domain::ids::{IncidentId, PublicIncidentId, PublicUpdateId};
use tocsin_domain::incident::{Actor, TimelineEntry, TimelineEvent};
use tocsin_domain::public_incidents::{
    self, Affected, MAX_UPDATES, PublicIncident, PublicIncidentSpec, PublicStatus, PublicUpdate,
    PublicUpdateSpec,
};
use tocsin_domain::refs::Key;
use tocsin_domain::severity::Severity;
use tocsin_domain::status_page::{
    self, Component, ComponentSpec, ComponentStatus, MAX_COMPONENTS, StatusPage, StatusPageSpec,
    Visibility,
};
use tocsin_domain::uptime::StatusSpan;

/// How many public incidents a page's public documents show: Statuspage's `incidents.json` holds the 50 most
/// recent.
pub const RECENT_PUBLIC_INCIDENTS: i64 = 50;
const PUBLIC_COLUMNS: &str = "id, page_id, incident_id, name, status, impact, components, created_at, updated_at, \
     monitoring_at, resolved_at, impact_given";

fn public_status(s: &str) -> Result<PublicStatus> {
    PublicStatus::parse(s)
        .ok_or_else(|| StoreError::Backend(format!("unknown public status {s:?}")))
}

/// A public incident without its updates, which [`with_updates`] adds.
fn public_incident(r: &Row<'_>) -> Result<PublicIncident> {
    Ok(PublicIncident {
        id: PublicIncidentId::from_trusted(r.get(0)?),
        page_id: StatusPageId::from_trusted(r.get(1)?),
        incident_id: r.get::<Option<String>>(2)?.map(IncidentId::from_trusted),
        name: r.get(3)?,
        status: public_status(&r.get::<String>(4)?)?,
        impact: r.json(5)?,
        components: r.json(6)?,
        created_at: r.time(7)?,
        updated_at: r.time(8)?,
        monitoring_at: r.opt_time(9)?,
        resolved_at: r.opt_time(10)?,
        impact_given: r.opt_json(11)?,
        updates: Vec::new(),
    })
}

/// The incidents' updates, newest first, from one query.
fn with_updates(c: &dyn Conn, mut incidents: Vec<PublicIncident>) -> Result<Vec<PublicIncident>> {
    if incidents.is_empty() {
        return Ok(incidents);
    }
    let ids: Vec<String> = incidents.iter().map(|i| i.id.to_string()).collect();
    let rows: Vec<(String, PublicUpdate)> = rows::query_in(
        c,
        "SELECT public_incident_id, id, status, body, changes, created_at FROM public_incident_updates \
         WHERE public_incident_id IN ({})",
        &ids,
        |r| {
            Ok((
                r.get(0)?,
                PublicUpdate {
                    id: PublicUpdateId::from_trusted(r.get(1)?),
                    status: public_status(&r.get::<String>(2)?)?,
                    body: r.get(3)?,
                    changes: r.json(4)?,
                    created_at: r.time(5)?,
                },
            ))
        },
    )?;
    let mut by_incident: HashMap<String, Vec<PublicUpdate>> = HashMap::new();
    for (incident, update) in rows {
        by_incident.entry(incident).or_default().push(update);
    }
    for i in &mut incidents {
        let mut updates = by_incident.remove(i.id.as_str()).unwrap_or_default();
        updates.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.id.cmp(&a.id)));
        i.updates = updates;
    }
    Ok(incidents)
}

/// The page's public incidents that matter now, newest first: every unresolved one, and the 50 most recent.
fn recent_public(c: &dyn Conn, page: &StatusPageId) -> Result<Vec<PublicIncident>> {
    let mut found = c.query_all(
        &format!(
            "SELECT {PUBLIC_COLUMNS} FROM public_incidents WHERE page_id = ?1 AND resolved_at IS NULL \
             ORDER BY created_at DESC, id DESC"
        ),
        params![page.as_str()],
        public_incident,
    )?;
    let recent = c.query_all(
        &format!(
            "SELECT {PUBLIC_COLUMNS} FROM public_incidents WHERE page_id = ?1 \
             ORDER BY created_at DESC, id DESC LIMIT {RECENT_PUBLIC_INCIDENTS}"
        ),
        params![page.as_str()],
        public_incident,
    )?;
    for i in recent {
        if !found.iter().any(|f| f.id == i.id) {
            found.push(i);
        }
    }
    found.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.id.cmp(&a.id)));
    with_updates(c, found)
}

fn load_public(c: &dyn Conn, page: &StatusPageId, id: &PublicIncidentId) -> Result<PublicIncident> {
    let found = c.find(
        &format!("SELECT {PUBLIC_COLUMNS} FROM public_incidents WHERE id = ?1 AND page_id = ?2"),
        params![id.as_str(), page.as_str()],
        public_incident,
        "public incident",
        id.as_str(),
    )?;
    Ok(with_updates(c, vec![found])?.remove(0))
}

/// The affected components must be components of the page, and not groups: a group shows what its members do.
fn check_affected(c: &dyn Conn, page: &StatusPageId, affected: &[Affected]) -> Result<()> {
    let mut errors = ValidationErrors::default();
    for a in affected {
        let is_group: Option<i64> = c.query_opt(
            "SELECT is_group FROM status_components WHERE id = ?1 AND page_id = ?2",
            params![a.component_id.as_str(), page.as_str()],
            |r| r.get(0),
        )?;
        match is_group {
            None => errors.push(
                "components",
                format!("{} is no component of this page", a.component_id),
            ),
            Some(1) => errors.push(
                "components",
                format!("{} is a group: name its members", a.component_id),
            ),
            Some(_) => {}
        }
    }
    errors.into_result(()).map_err(StoreError::Invalid)
}

/// On the internal incident's timeline, what customers were told of it, if it tells of one.
fn told(
    c: &dyn Conn,
    page: &StatusPage,
    public: &PublicIncident,
    body: &str,
    first: bool,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<()> {
    let Some(incident) = &public.incident_id else {
        return Ok(());
    };
    rows::record_timeline(
        c,
        incident,
        &TimelineEntry::new(
            now,
            actor,
            TimelineEvent::StatusPagePosted {
                page: page.name.clone(),
                public_incident_id: public.id.clone(),
                name: public.name.clone(),
                status: public.status,
                body: body.trim().to_owned(),
                first,
            },
        ),
    )
}

fn insert_update(
    c: &dyn Conn,
    incident: &PublicIncidentId,
    status: PublicStatus,
    body: &str,
    changes: &[public_incidents::ComponentChange],
    now: DateTime<Utc>,
) -> Result<()> {
    c.execute(
        "INSERT INTO public_incident_updates (id, public_incident_id, status, body, changes, created_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            PublicUpdateId::generate().as_str(),
            incident.as_str(),
            status.as_str(),
            body.trim(),
            to_json(changes),
            ts(now)
        ],
    )?;
    Ok(())
}

const PAGE_COLUMNS: &str =
    "id, slug, name, time_zone, severity_map, created_at, updated_at, visibility";
const COMPONENT_COLUMNS: &str = "id, page_id, name, description, group_id, is_group, position, \
     status_setting, only_show_if_degraded, created_at, updated_at";

fn page(r: &Row<'_>) -> Result<StatusPage> {
    Ok(StatusPage {
        id: StatusPageId::from_trusted(r.get(0)?),
        slug: Key::try_from(r.get::<String>(1)?).map_err(StoreError::Backend)?,
        name: r.get(2)?,
        time_zone: tocsin_domain::catalog::TimeZone::parse(&r.get::<String>(3)?)
            .map_err(StoreError::Backend)?,
        severity_map: r.json(4)?,
        visibility: {
            let v: String = r.get(7)?;
            Visibility::parse(&v)
                .ok_or_else(|| StoreError::Backend(format!("unknown visibility {v:?}")))?
        },
        created_at: r.time(5)?,
        updated_at: r.time(6)?,
    })
}

/// A component without its services, which [`with_services`] adds.
fn component(r: &Row<'_>) -> Result<Component> {
    Ok(Component {
        id: ComponentId::from_trusted(r.get(0)?),
        page_id: StatusPageId::from_trusted(r.get(1)?),
        name: r.get(2)?,
        description: r.get(3)?,
        services: Vec::new(),
        group_id: r.get::<Option<String>>(4)?.map(ComponentId::from_trusted),
        group: r.get::<i64>(5)? != 0,
        position: u32::try_from(r.get::<i64>(6)?).unwrap_or_default(),
        status: r.json(7)?,
        only_show_if_degraded: r.get::<i64>(8)? != 0,
        created_at: r.time(9)?,
        updated_at: r.time(10)?,
    })
}

fn load_page(c: &dyn Conn, slug: &Key) -> Result<StatusPage> {
    c.find(
        &format!("SELECT {PAGE_COLUMNS} FROM status_pages WHERE slug = ?1"),
        params![slug.as_str()],
        page,
        "status page",
        slug.as_str(),
    )
}

fn insert_page(c: &dyn Conn, spec: &StatusPageSpec, now: DateTime<Utc>) -> Result<()> {
    c.execute(
        "INSERT INTO status_pages (id, slug, name, time_zone, severity_map, created_at, updated_at, visibility) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6, ?7)",
        params![
            StatusPageId::generate().as_str(),
            spec.slug.as_str(),
            spec.name.trim(),
            spec.time_zone.as_str(),
            to_json(&spec.severity_map),
            ts(now),
            spec.visibility.as_str()
        ],
    )?;
    Ok(())
}

/// The page's components in the order they are shown, with their services.
fn components_of(c: &dyn Conn, page: &StatusPageId) -> Result<Vec<Component>> {
    let mut found = c.query_all(
        &format!(
            "SELECT {COMPONENT_COLUMNS} FROM status_components WHERE page_id = ?1 ORDER BY position, created_at, id"
        ),
        params![page.as_str()],
        component,
    )?;
    let services: Vec<(String, String)> = c.query_all(
        "SELECT component_id, service_id FROM status_component_services WHERE page_id = ?1 ORDER BY service_id",
        params![page.as_str()],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    let mut by_component: HashMap<String, Vec<ServiceId>> = HashMap::new();
    for (component, service) in services {
        by_component
            .entry(component)
            .or_default()
            .push(ServiceId::from_trusted(service));
    }
    for comp in &mut found {
        comp.services = by_component.remove(comp.id.as_str()).unwrap_or_default();
    }
    Ok(found)
}

fn load_component(c: &dyn Conn, page: &StatusPageId, id: &ComponentId) -> Result<Component> {
    components_of(c, page)?
        .into_iter()
        .find(|comp| &comp.id == id)
        .ok_or_else(|| StoreError::not_found("component", id.as_str()))
}

/// What a component's spec names must exist on the same page: its group, and its services.
fn check_references(c: &dyn Conn, page: &StatusPageId, spec: &ComponentSpec) -> Result<()> {
    let mut errors = ValidationErrors::default();
    if let Some(group) = &spec.group_id {
        let is_group: Option<i64> = c.query_opt(
            "SELECT is_group FROM status_components WHERE id = ?1 AND page_id = ?2",
            params![group.as_str(), page.as_str()],
            |r| r.get(0),
        )?;
        if is_group != Some(1) {
            errors.push("group_id", format!("{group} is no group on this page"));
        }
    }
    for service in &spec.services {
        if !c.exists(
            "SELECT 1 FROM services WHERE id = ?1",
            params![service.as_str()],
        )? {
            errors.push("services", format!("no service {service}"));
        }
    }
    errors.into_result(()).map_err(StoreError::Invalid)
}

/// Writes a component as `spec` says, created or replaced (keeping when it was created), with its services.
fn write_component(
    c: &dyn Conn,
    page: &StatusPageId,
    id: &ComponentId,
    spec: &ComponentSpec,
    now: DateTime<Utc>,
) -> Result<()> {
    c.execute(
        "INSERT INTO status_components (id, page_id, name, description, group_id, is_group, position, \
         status_setting, only_show_if_degraded, created_at, updated_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10) \
         ON CONFLICT (id) DO UPDATE SET name = excluded.name, description = excluded.description, \
         group_id = excluded.group_id, is_group = excluded.is_group, position = excluded.position, \
         status_setting = excluded.status_setting, only_show_if_degraded = excluded.only_show_if_degraded, \
         updated_at = excluded.updated_at",
        params![
            id.as_str(),
            page.as_str(),
            spec.name.trim(),
            spec.description.as_deref(),
            spec.group_id.as_ref().map(ComponentId::as_str),
            i64::from(spec.group),
            i64::from(spec.position),
            to_json(&spec.status),
            i64::from(spec.only_show_if_degraded),
            ts(now)
        ],
    )?;
    write_services(c, page, id, spec)
}

fn write_services(
    c: &dyn Conn,
    page: &StatusPageId,
    comp: &ComponentId,
    spec: &ComponentSpec,
) -> Result<()> {
    c.execute(
        "DELETE FROM status_component_services WHERE component_id = ?1",
        params![comp.as_str()],
    )?;
    let mut services = spec.services.clone();
    services.sort();
    services.dedup();
    for service in &services {
        c.execute(
            "INSERT INTO status_component_services (component_id, service_id, page_id) VALUES (?1, ?2, ?3)",
            params![comp.as_str(), service.as_str(), page.as_str()],
        )?;
    }
    Ok(())
}

/// The status each component of the page has now: from how it is set, the open incidents on its services and
/// what the page's unresolved public incidents say of it.
fn statuses_now(
    c: &dyn Conn,
    page: &StatusPage,
    components: &[Component],
) -> Result<HashMap<ComponentId, ComponentStatus>> {
    let open: Vec<(String, i64)> = c.query_all(
        "SELECT DISTINCT cs.component_id, i.severity FROM status_component_services cs \
         JOIN incident_services s ON s.service_id = cs.service_id \
         JOIN incidents i ON i.id = s.incident_id \
         WHERE cs.page_id = ?1 AND i.status <> 'resolved'",
        params![page.id.as_str()],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    let mut open_severities: HashMap<ComponentId, Vec<Severity>> = HashMap::new();
    for (component, level) in open {
        if let Some(severity) = Severity::from_level(level) {
            open_severities
                .entry(ComponentId::from_trusted(component))
                .or_default()
                .push(severity);
        }
    }
    let said: Vec<Vec<Affected>> = c.query_all(
        "SELECT components FROM public_incidents WHERE page_id = ?1 AND resolved_at IS NULL",
        params![page.id.as_str()],
        |r| r.json(0),
    )?;
    let declared = public_incidents::declared(said.iter().flatten());
    Ok(status_page::statuses(
        components,
        &open_severities,
        &declared,
        &page.severity_map,
    ))
}

/// The status each component of the page was last recorded with.
fn recorded(c: &dyn Conn, page: &StatusPageId) -> Result<HashMap<ComponentId, ComponentStatus>> {
    let rows: Vec<(String, String)> = c.query_all(
        "SELECT component_id, status FROM status_component_history WHERE page_id = ?1 AND ended_at IS NULL",
        params![page.as_str()],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    rows.into_iter()
        .map(|(id, status)| {
            let status = ComponentStatus::parse(&status).ok_or_else(|| {
                StoreError::Backend(format!("unknown component status {status:?}"))
            })?;
            Ok((ComponentId::from_trusted(id), status))
        })
        .collect()
}

/// Components' statuses, by component.
type Statuses = Vec<(ComponentId, ComponentStatus)>;

/// The components whose status now differs from the one recorded (or that have none recorded yet).
fn unrecorded(c: &dyn Conn, page: &StatusPage) -> Result<(Vec<Component>, Statuses)> {
    let components = components_of(c, &page.id)?;
    let now = statuses_now(c, page, &components)?;
    let before = recorded(c, &page.id)?;
    let mut changed: Vec<(ComponentId, ComponentStatus)> = now
        .into_iter()
        .filter(|(id, status)| before.get(id) != Some(status))
        .collect();
    changed.sort_by(|a, b| a.0.cmp(&b.0));
    Ok((components, changed))
}

/// Records the page's components' statuses where they changed: the old status ends at `now` and the new one
/// starts (a new component's first status starts when it was created). True when something changed.
fn record_changes(c: &dyn Conn, page: &StatusPage, now: DateTime<Utc>) -> Result<bool> {
    let (components, changed) = unrecorded(c, page)?;
    for (id, status) in &changed {
        let ended = c.execute(
            "UPDATE status_component_history SET ended_at = ?2 WHERE component_id = ?1 AND ended_at IS NULL",
            params![id.as_str(), ts(now)],
        )?;
        let started = match components.iter().find(|comp| &comp.id == id) {
            Some(comp) if ended == 0 => comp.created_at.min(now),
            _ => now,
        };
        c.execute(
            "INSERT INTO status_component_history (id, page_id, component_id, status, started_at) \
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                ulid::Ulid::new().to_string(),
                page.id.as_str(),
                id.as_str(),
                status.as_str(),
                ts(started)
            ],
        )?;
    }
    Ok(!changed.is_empty())
}

/// After a change to what the public sees of the page: its statuses recorded and its version counted, in the
/// change's transaction.
fn settle(c: &dyn Conn, page: &StatusPage, now: DateTime<Utc>) -> Result<()> {
    record_changes(c, page, now)?;
    bump(c, &page.id)
}

fn bump(c: &dyn Conn, page: &StatusPageId) -> Result<()> {
    c.execute(
        "UPDATE status_pages SET version = version + 1 WHERE id = ?1",
        params![page.as_str()],
    )?;
    Ok(())
}

/// Each component's statuses since `since`, oldest first.
fn history(
    c: &dyn Conn,
    page: &StatusPageId,
    since: DateTime<Utc>,
) -> Result<HashMap<ComponentId, Vec<StatusSpan>>> {
    let rows: Vec<(String, StatusSpan)> = c.query_all(
        "SELECT component_id, status, started_at, ended_at FROM status_component_history \
         WHERE page_id = ?1 AND (ended_at IS NULL OR ended_at >= ?2) ORDER BY started_at, id",
        params![page.as_str(), ts(since)],
        |r| {
            let status: String = r.get(1)?;
            let status = ComponentStatus::parse(&status).ok_or_else(|| {
                StoreError::Backend(format!("unknown component status {status:?}"))
            })?;
            let span = StatusSpan {
                status,
                started_at: r.time(2)?,
                ended_at: r.opt_time(3)?,
            };
            Ok((r.get(0)?, span))
        },
    )?;
    let mut out: HashMap<ComponentId, Vec<StatusSpan>> = HashMap::new();
    for (component, span) in rows {
        out.entry(ComponentId::from_trusted(component))
            .or_default()
            .push(span);
    }
    Ok(out)
}

/// The most public incidents a page's history shows.
const HISTORY_INCIDENTS: i64 = 500;

/// The public incidents open at some time since `since`, newest first, with their updates.
fn incidents_since(
    c: &dyn Conn,
    page: &StatusPageId,
    since: DateTime<Utc>,
) -> Result<Vec<PublicIncident>> {
    let found = c.query_all(
        &format!(
            "SELECT {PUBLIC_COLUMNS} FROM public_incidents WHERE page_id = ?1 \
             AND (resolved_at IS NULL OR resolved_at >= ?2) \
             ORDER BY created_at DESC, id DESC LIMIT {HISTORY_INCIDENTS}"
        ),
        params![page.as_str(), ts(since)],
        public_incident,
    )?;
    with_updates(c, found)
}

#[async_trait]
impl StatusPageRepo for SqlStore {
    async fn status_pages(&self) -> Result<Vec<StatusPage>> {
        self.read(|c| {
            c.query_all(
                &format!("SELECT {PAGE_COLUMNS} FROM status_pages ORDER BY name, slug"),
                &[],
                page,
            )
        })
        .await
    }

    async fn status_page(&self, slug: &Key) -> Result<StatusPage> {
        let slug = slug.clone();
        self.read(move |c| load_page(c, &slug)).await
    }

    async fn put_status_page(
        &self,
        slug: &Key,
        spec: StatusPageSpec,
        now: DateTime<Utc>,
    ) -> Result<(StatusPage, bool)> {
        spec.validate()?;
        let slug = slug.clone();
        self.write(move |c| {
            let existing: Option<String> = c.query_opt(
                "SELECT id FROM status_pages WHERE slug = ?1",
                params![slug.as_str()],
                |r| r.get(0),
            )?;
            if spec.slug != slug
                && c.exists(
                    "SELECT 1 FROM status_pages WHERE slug = ?1",
                    params![spec.slug.as_str()],
                )?
            {
                return Err(Conflict::NameTaken {
                    kind: "status page",
                    name: spec.slug.to_string(),
                }
                .into());
            }
            let created = existing.is_none();
            match existing {
                Some(id) => {
                    c.execute(
                        "UPDATE status_pages SET slug = ?2, name = ?3, time_zone = ?4, severity_map = ?5, \
                         updated_at = ?6, visibility = ?7 WHERE id = ?1",
                        params![
                            id,
                            spec.slug.as_str(),
                            spec.name.trim(),
                            spec.time_zone.as_str(),
                            to_json(&spec.severity_map),
                            ts(now),
                            spec.visibility.as_str()
                        ],
                    )?;
                }
                None => {
                    insert_page(c, &spec, now)?;
                }
            }
            // As it is now: its severity map may have changed, and with it its components' statuses.
            let page = load_page(c, &spec.slug)?;
            settle(c, &page, now)?;
            Ok((page, created))
        })
        .await
    }

    async fn delete_status_page(&self, slug: &Key) -> Result<()> {
        let slug = slug.clone();
        self.write(move |c| {
            let page = load_page(c, &slug)?;
            c.execute(
                "DELETE FROM status_component_history WHERE page_id = ?1",
                params![page.id.as_str()],
            )?;
            c.execute(
                "DELETE FROM status_component_services WHERE page_id = ?1",
                params![page.id.as_str()],
            )?;
            c.execute(
                "UPDATE status_components SET group_id = NULL WHERE page_id = ?1",
                params![page.id.as_str()],
            )?;
            c.execute(
                "DELETE FROM status_components WHERE page_id = ?1",
                params![page.id.as_str()],
            )?;
            c.execute(
                "DELETE FROM status_pages WHERE id = ?1",
                params![page.id.as_str()],
            )?;
            Ok(())
        })
        .await
    }

    async fn create_component(
        &self,
        page_slug: &Key,
        spec: ComponentSpec,
        now: DateTime<Utc>,
    ) -> Result<Component> {
        spec.validate()?;
        let slug = page_slug.clone();
        self.write(move |c| {
            let page = load_page(c, &slug)?;
            let count: i64 = c.query_one(
                "SELECT count(*) FROM status_components WHERE page_id = ?1",
                params![page.id.as_str()],
                |r| r.get(0),
            )?;
            if count >= MAX_COMPONENTS as i64 {
                let most = format!("a page has at most {MAX_COMPONENTS} components");
                return Err(StoreError::invalid("components", most));
            }
            check_references(c, &page.id, &spec)?;
            let id = ComponentId::generate();
            write_component(c, &page.id, &id, &spec, now)?;
            settle(c, &page, now)?;
            load_component(c, &page.id, &id)
        })
        .await
    }

    async fn replace_component(
        &self,
        page_slug: &Key,
        id: &ComponentId,
        spec: ComponentSpec,
        now: DateTime<Utc>,
    ) -> Result<Component> {
        spec.validate()?;
        let (slug, id) = (page_slug.clone(), id.clone());
        self.write(move |c| {
            let page = load_page(c, &slug)?;
            let before = load_component(c, &page.id, &id)?;
            check_references(c, &page.id, &spec)?;
            if spec.group_id.as_ref() == Some(&id) {
                let why = "a component is not its own group";
                return Err(StoreError::invalid("group_id", why));
            }
            if before.group
                && !spec.group
                && c.exists(
                    "SELECT 1 FROM status_components WHERE group_id = ?1",
                    params![id.as_str()],
                )?
            {
                let why = "it has members: move them out of the group first";
                return Err(StoreError::invalid("group", why));
            }
            write_component(c, &page.id, &id, &spec, now)?;
            settle(c, &page, now)?;
            load_component(c, &page.id, &id)
        })
        .await
    }

    async fn delete_component(
        &self,
        page_slug: &Key,
        id: &ComponentId,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let (slug, id) = (page_slug.clone(), id.clone());
        self.write(move |c| {
            let page = load_page(c, &slug)?;
            load_component(c, &page.id, &id)?;
            // Its members stay on the page, shown on their own.
            c.execute(
                "UPDATE status_components SET group_id = NULL WHERE group_id = ?1",
                params![id.as_str()],
            )?;
            // The public incidents that said how it was affected no longer name it.
            let naming: Vec<(String, String)> = c.query_all(
                "SELECT id, components FROM public_incidents WHERE page_id = ?1",
                params![page.id.as_str()],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            for (incident, components) in naming {
                let affected: Vec<Affected> = serde_json::from_str(&components)
                    .map_err(|e| StoreError::Backend(e.to_string()))?;
                if affected.iter().any(|a| a.component_id == id) {
                    let kept: Vec<&Affected> =
                        affected.iter().filter(|a| a.component_id != id).collect();
                    c.execute(
                        "UPDATE public_incidents SET components = ?2 WHERE id = ?1",
                        params![incident, to_json(&kept)],
                    )?;
                }
            }
            c.execute(
                "DELETE FROM status_component_services WHERE component_id = ?1",
                params![id.as_str()],
            )?;
            c.execute(
                "DELETE FROM status_component_history WHERE component_id = ?1",
                params![id.as_str()],
            )?;
            c.execute(
                "DELETE FROM status_components WHERE id = ?1",
                params![id.as_str()],
            )?;
            settle(c, &page, now)
        })
        .await
    }

    async fn page_view(
        &self,
        slug: &Key,
        history_since: Option<DateTime<Utc>>,
    ) -> Result<PageView> {
        let slug = slug.clone();
        self.read(move |c| {
            let page = load_page(c, &slug)?;
            let version: i64 = c.query_one(
                "SELECT version FROM status_pages WHERE id = ?1",
                params![page.id.as_str()],
                |r| r.get(0),
            )?;
            let components = components_of(c, &page.id)?;
            let statuses = recorded(c, &page.id)?;
            let incidents = recent_public(c, &page.id)?;
            let (history, history_incidents) = match history_since {
                Some(since) => (
                    history(c, &page.id, since)?,
                    incidents_since(c, &page.id, since)?,
                ),
                None => Default::default(),
            };
            Ok(PageView {
                page,
                version,
                components,
                statuses,
                incidents,
                history,
                history_incidents,
            })
        })
        .await
    }

    async fn page_versions(&self) -> Result<Vec<(Key, i64)>> {
        self.read(|c| {
            c.query_all(
                "SELECT slug, version FROM status_pages ORDER BY slug",
                &[],
                |r| {
                    let slug = Key::try_from(r.get::<String>(0)?).map_err(StoreError::Backend)?;
                    Ok((slug, r.get(1)?))
                },
            )
        })
        .await
    }

    async fn record_statuses(&self, now: DateTime<Utc>) -> Result<Vec<Key>> {
        // Most cycles change nothing: find out by reading, and write only what moved.
        let moved: Vec<StatusPageId> = self
            .read(|c| {
                let mut moved = Vec::new();
                for page in c.query_all(
                    &format!("SELECT {PAGE_COLUMNS} FROM status_pages ORDER BY id"),
                    &[],
                    page,
                )? {
                    if !unrecorded(c, &page)?.1.is_empty() {
                        moved.push(page.id);
                    }
                }
                Ok(moved)
            })
            .await?;
        if moved.is_empty() {
            return Ok(Vec::new());
        }
        self.write(move |c| {
            let mut changed = Vec::new();
            for id in &moved {
                let Some(page) = c.query_opt(
                    &format!("SELECT {PAGE_COLUMNS} FROM status_pages WHERE id = ?1"),
                    params![id.as_str()],
                    page,
                )?
                else {
                    continue;
                };
                if record_changes(c, &page, now)? {
                    bump(c, &page.id)?;
                    changed.push(page.slug);
                }
            }
            Ok(changed)
        })
        .await
    }

    async fn publish(
        &self,
        page_slug: &Key,
        incident: Option<&IncidentId>,
        spec: PublicIncidentSpec,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<PublicIncident> {
        spec.validate()?;
        let (slug, incident) = (page_slug.clone(), incident.cloned());
        self.write(move |c| {
            let page = load_page(c, &slug)?;
            check_affected(c, &page.id, &spec.components)?;
            let (components, changes) =
                public_incidents::apply_update(&[], Some(&spec.components), spec.status);
            let impact = public_incidents::impact(spec.impact, &components);
            let id = PublicIncidentId::generate();
            let (monitoring_at, resolved_at) =
                public_incidents::milestones_after(spec.status, None, None, now);
            let (monitoring_at, resolved_at) = (monitoring_at.map(ts), resolved_at.map(ts));
            c.execute(
                "INSERT INTO public_incidents (id, page_id, incident_id, name, status, impact, components, \
                 created_at, updated_at, monitoring_at, resolved_at, impact_given) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8, ?9, ?10, ?11)",
                params![
                    id.as_str(),
                    page.id.as_str(),
                    incident.as_ref().map(IncidentId::as_str),
                    spec.name.trim(),
                    spec.status.as_str(),
                    to_json(&impact),
                    to_json(&components),
                    ts(now),
                    monitoring_at,
                    resolved_at,
                    spec.impact.map(|i| to_json(&i))
                ],
            )?;
            insert_update(c, &id, spec.status, &spec.body, &changes, now)?;
            settle(c, &page, now)?;
            let published = load_public(c, &page.id, &id)?;
            told(c, &page, &published, &spec.body, true, &actor, now)?;
            Ok(published)
        })
        .await
    }

    async fn update_public(
        &self,
        page_slug: &Key,
        id: &PublicIncidentId,
        spec: PublicUpdateSpec,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<PublicIncident> {
        spec.validate()?;
        let (slug, id) = (page_slug.clone(), id.clone());
        self.write(move |c| {
            let page = load_page(c, &slug)?;
            let before = load_public(c, &page.id, &id)?;
            if before.updates.len() >= MAX_UPDATES {
                let most = format!("a public incident holds at most {MAX_UPDATES} updates");
                return Err(StoreError::invalid("updates", most));
            }
            let named = public_incidents::named_by(&spec, &before.components);
            if let Some(named) = &named {
                check_affected(c, &page.id, named)?;
            }
            let (components, changes) =
                public_incidents::apply_update(&before.components, named.as_deref(), spec.status);
            let impact = public_incidents::impact(before.impact_given, &components);
            let (monitoring_at, resolved_at) = public_incidents::milestones_after(
                spec.status,
                before.monitoring_at,
                before.resolved_at,
                now,
            );
            c.execute(
                "UPDATE public_incidents SET status = ?2, components = ?3, updated_at = ?4, monitoring_at = ?5, \
                 resolved_at = ?6, impact = ?7 WHERE id = ?1",
                params![
                    id.as_str(),
                    spec.status.as_str(),
                    to_json(&components),
                    ts(now),
                    monitoring_at.map(ts),
                    resolved_at.map(ts),
                    to_json(&impact)
                ],
            )?;
            insert_update(c, &id, spec.status, &spec.body, &changes, now)?;
            settle(c, &page, now)?;
            let updated = load_public(c, &page.id, &id)?;
            told(c, &page, &updated, &spec.body, false, &actor, now)?;
            Ok(updated)
        })
        .await
    }

    async fn create_status_page(
        &self,
        spec: StatusPageSpec,
        now: DateTime<Utc>,
    ) -> Result<StatusPage> {
        spec.validate()?;
        self.write(move |c| {
            if c.exists(
                "SELECT 1 FROM status_pages WHERE slug = ?1",
                params![spec.slug.as_str()],
            )? {
                return Err(Conflict::NameTaken {
                    kind: "status page",
                    name: spec.slug.to_string(),
                }
                .into());
            }
            insert_page(c, &spec, now)?;
            let page = load_page(c, &spec.slug)?;
            settle(c, &page, now)?;
            Ok(page)
        })
        .await
    }

    async fn set_component_status(
        &self,
        page_slug: &Key,
        id: &ComponentId,
        setting: tocsin_domain::status_page::StatusSetting,
        now: DateTime<Utc>,
    ) -> Result<Component> {
        let (slug, id) = (page_slug.clone(), id.clone());
        self.write(move |c| {
            let page = load_page(c, &slug)?;
            load_component(c, &page.id, &id)?;
            c.execute(
                "UPDATE status_components SET status_setting = ?2, updated_at = ?3 WHERE id = ?1",
                params![id.as_str(), to_json(&setting), ts(now)],
            )?;
            settle(c, &page, now)?;
            load_component(c, &page.id, &id)
        })
        .await
    }

    async fn public_incidents(&self, page_slug: &Key) -> Result<Vec<PublicIncident>> {
        let slug = page_slug.clone();
        self.read(move |c| {
            let page = load_page(c, &slug)?;
            recent_public(c, &page.id)
        })
        .await
    }
}
