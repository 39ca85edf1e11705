//! Incidents: declaring, listing, and the transitions people make.

use super::catalog::load_service;
use super::ingest::cascade_to_alerts;
use super::rows::{self, ALERT_SELECT, INCIDENT_COLUMNS, parse_cursor, to_json, ts};
use crate::db::SqlStore;
use crate::params;
use crate::sql::Conn;
use crate::{
    IncidentChanges, IncidentFilter, IncidentRepo, NewIncident, Page, Result, StoreError,
    TimelineRecord,
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use tocsin_domain::ValidationErrors;
use tocsin_domain::alert::{Alert, AlertStatus};
use tocsin_domain::ids::{IncidentId, ServiceId};
use tocsin_domain::incident::{
    Actor, Incident, IncidentEdit, TimelineEntry, TimelineEvent, parse_note, parse_text,
    parse_title,
};
use tocsin_domain::refs::{IncidentRef, ServiceRef};
use tocsin_domain::severity::{Severity, SeverityLevel, SeverityLevelChange, SeverityLevelSpec};
use tocsin_domain::updates::DueBecause;

/// The `settings` row holding the severities admins defined, by severity; the others keep their defaults.
const SEVERITY_LEVELS: &str = "severity_levels";

/// Kept as JSON values, so that one a newer version wrote (with a field this one does not know) is passed over
/// rather than failing every page that shows severities.
fn stored_severity_levels(c: &dyn Conn) -> Result<HashMap<String, serde_json::Value>> {
    Ok(c.query_opt(
        "SELECT value FROM settings WHERE name = ?1",
        params![SEVERITY_LEVELS],
        |r| r.json(0),
    )?
    .unwrap_or_default())
}

/// A severity's stored definition, or its default when none is stored or the stored one cannot be read.
/// How often, in minutes, an open incident of `severity` owes an update; none if its definition sets no cadence.
pub(super) fn update_cadence(c: &dyn Conn, severity: Severity) -> Result<Option<u32>> {
    Ok(level_spec(&stored_severity_levels(c)?, severity).update_every_minutes)
}

fn level_spec(
    stored: &HashMap<String, serde_json::Value>,
    severity: Severity,
) -> SeverityLevelSpec {
    stored
        .get(severity.as_str())
        .and_then(|v| match serde_json::from_value(v.clone()) {
            Ok(spec) => Some(spec),
            Err(e) => {
                tracing::warn!(%severity, error = %e, "A stored severity definition could not be read; showing the default.");
                None
            }
        })
        .unwrap_or_else(|| SeverityLevelSpec::default_for(severity))
}

fn to_value(spec: &SeverityLevelSpec) -> serde_json::Value {
    serde_json::to_value(spec).unwrap_or_default()
}

pub(super) fn load(c: &dyn Conn, r: &IncidentRef) -> Result<Incident> {
    let (sql, key) = match r {
        IncidentRef::Id(id) => ("id = ?1", crate::sql::Value::from(id.as_str().to_owned())),
        IncidentRef::Number(n) => ("number = ?1", crate::sql::Value::from(*n)),
    };
    let mut incident = c.find(
        &format!("SELECT {INCIDENT_COLUMNS} FROM incidents WHERE {sql}"),
        &crate::sql::dyn_params(&[key]),
        rows::incident,
        "incident",
        &r.to_string(),
    )?;
    rows::load_incident_services(c, &mut incident)?;
    Ok(incident)
}

/// Incidents by ID, with their services, in two statements (for work on many at once).
pub(super) fn load_many(
    c: &dyn Conn,
    ids: &[IncidentId],
) -> Result<std::collections::HashMap<IncidentId, Incident>> {
    let keys: Vec<&str> = ids.iter().map(IncidentId::as_str).collect();
    let mut found: std::collections::HashMap<IncidentId, Incident> = rows::query_in(
        c,
        &format!("SELECT {INCIDENT_COLUMNS} FROM incidents WHERE id IN ({{}})"),
        &keys,
        rows::incident,
    )?
    .into_iter()
    .map(|i| (i.id.clone(), i))
    .collect();
    let links: Vec<(String, String)> = rows::query_in(
        c,
        "SELECT incident_id, service_id FROM incident_services WHERE incident_id IN ({}) ORDER BY incident_id, position",
        &keys,
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    for (incident, service) in links {
        if let Some(i) = found.get_mut(&IncidentId::from_trusted(incident)) {
            i.services
                .push(tocsin_domain::ids::ServiceId::from_trusted(service));
        }
    }
    Ok(found)
}

/// Stores a new incident and starts its escalation, in the caller's transaction: every path that opens an
/// incident comes through here, so none can forget to page.
pub(super) fn insert(c: &dyn Conn, incident: &mut Incident, opened: &TimelineEntry) -> Result<()> {
    let policy = super::escalation::policy_of_incident(c, incident)?;
    if policy.is_none() {
        incident.unassigned_since = Some(incident.created_at);
    }
    rows::insert_incident_row(c, incident)?;
    rows::record_timeline(c, &incident.id, opened)?;
    super::roles::schedule_fill(c, incident, incident.created_at)?;
    super::tasks::apply_templates(c, incident, incident.created_at)?;
    super::automation::schedule_check(c, &incident.id, incident.created_at)?;
    super::updates::schedule_first(c, incident)?;
    super::escalation::start(c, incident, policy)
}

/// Stores a changed incident and, once it is acknowledged or resolved, stops its escalation and cancels the
/// pages it no longer needs: every path that changes an incident comes through here.
///
/// `change` is the timeline entry of what changed, if anything did: an acknowledgement or resolution by someone
/// tells the people paged for the incident who asked to hear of it; a rise to high urgency pages its current
/// level again.
pub(super) fn save(
    c: &dyn Conn,
    incident: &Incident,
    change: Option<&TimelineEntry>,
) -> Result<()> {
    rows::update_incident_row(c, incident)?;
    super::escalation::stop(c, incident)?;
    if let Some(
        e @ TimelineEntry {
            event: TimelineEvent::SeverityChanged { .. },
            ..
        },
    ) = change
    {
        super::roles::schedule_fill(c, incident, e.at)?;
        super::tasks::apply_templates(c, incident, e.at)?;
        if incident.status != tocsin_domain::incident::IncidentStatus::Resolved {
            super::updates::prompt(c, incident, DueBecause::SeverityChanged, e.at)?;
        }
    }
    if let Some(
        e @ TimelineEntry {
            event: TimelineEvent::Resolved { .. },
            ..
        },
    ) = change
    {
        super::updates::prompt(c, incident, DueBecause::Resolved, e.at)?;
    }
    match change.map(|e| (e, &e.event)) {
        Some((e, TimelineEvent::Acknowledged | TimelineEvent::Resolved { .. })) => {
            super::delivery::tell_subscribers(c, incident, &e.actor, e.at)
        }
        Some((e, TimelineEvent::SeverityChanged { from, to, .. }))
            if tocsin_domain::escalation::repages_on_severity(*from, *to, incident.status) =>
        {
            super::escalation::repage_current_level(c, &incident.id, e.at)
        }
        _ => Ok(()),
    }
}

/// Opens an incident for a new alert and returns its ID; the caller links the alert.
pub(super) fn open_incident(
    c: &dyn Conn,
    alert: &Alert,
    severity: Severity,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<IncidentId> {
    let number = rows::next_incident_number(c)?;
    let (mut incident, mut entry) = Incident::open(
        IncidentId::generate(),
        number,
        alert.incident_title(),
        String::new(),
        severity,
        vec![alert.service_id.clone()],
        actor,
        now,
    );
    if let TimelineEvent::Opened { alert_id, .. } = &mut entry.event {
        *alert_id = Some(alert.id.clone());
    }
    insert(c, &mut incident, &entry)?;
    Ok(incident.id)
}

/// The edit `changes` asks for (texts checked, services found, every problem reported at once), with the names of
/// the services it names, for the timeline.
fn checked_edit(
    c: &dyn Conn,
    changes: &IncidentChanges,
) -> Result<(IncidentEdit, HashMap<ServiceId, String>)> {
    let mut errors = ValidationErrors::default();
    let mut text = |field: &str, value: &Option<String>| match value {
        Some(v) => match parse_text(field, v) {
            Ok(v) => Some(v),
            Err(e) => {
                errors.push(e.field, e.message);
                None
            }
        },
        None => None,
    };
    let description = text("description", &changes.description);
    let customer_impact = text("customer_impact", &changes.customer_impact);
    let title = match changes.title.as_deref().map(parse_title) {
        Some(Ok(t)) => Some(t),
        Some(Err(e)) => {
            errors.push(e.field, e.message);
            None
        }
        None => None,
    };
    let mut names = HashMap::new();
    let mut services = |field: &str, refs: &[ServiceRef]| -> Result<Vec<ServiceId>> {
        let mut ids = Vec::new();
        for (n, s) in refs.iter().enumerate() {
            match load_service(c, s) {
                Ok(found) => {
                    names.insert(found.id.clone(), found.name.to_string());
                    ids.push(found.id)
                }
                Err(StoreError::NotFound { .. }) => {
                    errors.push(format!("{field}[{n}]"), format!("no service {s:?}"))
                }
                Err(e) => return Err(e),
            }
        }
        Ok(ids)
    };
    let add_services = services("add_services", &changes.add_services)?;
    let remove_services = services("remove_services", &changes.remove_services)?;
    let mut numbers = |field: &str, refs: &[String]| -> Result<Vec<i64>> {
        let mut found = Vec::new();
        for (n, raw) in refs.iter().enumerate() {
            let missing = || format!("no incident {raw:?}");
            match IncidentRef::parse(raw).map(|r| load(c, &r)) {
                Some(Ok(i)) => found.push(i.number),
                Some(Err(StoreError::NotFound { .. })) | None => {
                    errors.push(format!("{field}[{n}]"), missing())
                }
                Some(Err(e)) => return Err(e),
            }
        }
        Ok(found)
    };
    let add_related = numbers("add_related", &changes.add_related)?;
    let remove_related = numbers("remove_related", &changes.remove_related)?;
    let edit = IncidentEdit {
        title,
        description,
        customer_impact,
        add_services,
        remove_services,
        add_links: changes.add_links.clone(),
        remove_links: changes.remove_links.clone(),
        stage: changes.stage,
        add_related,
        remove_related,
        milestones: changes.milestones.iter().map(|(m, at)| (*m, *at)).collect(),
    };
    errors.into_result((edit, names)).map_err(StoreError::from)
}

/// Loads, changes and saves an incident in one step, appending the timeline entry the change produced (if any).
fn transition(
    c: &dyn Conn,
    r: &IncidentRef,
    change: impl FnOnce(&mut Incident) -> Result<Option<TimelineEntry>>,
) -> Result<(Incident, Option<i64>)> {
    let mut incident = load(c, r)?;
    let entry = change(&mut incident)?;
    let seq = match entry {
        Some(e) => {
            save(c, &incident, Some(&e))?;
            Some(rows::append_timeline(c, &incident.id, &e)?)
        }
        None => None,
    };
    Ok((incident, seq))
}

/// The incident's timeline after `after`, with the entries of the incidents merged into it (but for their own
/// "merged into" entries, which the incident's "merged" entry says again).
fn timeline(c: &dyn Conn, incident: &Incident, after: Option<i64>) -> Result<Vec<TimelineRecord>> {
    c.query_all(
        "SELECT seq, incident_id, at, actor, kind, message, data FROM timeline WHERE seq > ?2 AND (incident_id = ?1 \
         OR (kind <> 'merged_into' AND incident_id IN (SELECT id FROM incidents WHERE merged_into = ?3))) ORDER BY seq",
        params![incident.id.as_str(), after.unwrap_or(0), incident.number],
        rows::timeline_entry,
    )
    .map(|v: Vec<_>| {
        v.into_iter()
            .map(|(seq, incident_id, entry)| TimelineRecord {
                seq,
                incident_id,
                entry,
            })
            .collect()
    })
}

#[async_trait]
impl IncidentRepo for SqlStore {
    async fn declare(
        &self,
        new: NewIncident,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<Incident> {
        self.write(move |c| {
            let title = parse_title(&new.title).map_err(|e| StoreError::Invalid(e.into()))?;
            let mut services = Vec::new();
            for (i, s) in new.services.iter().enumerate() {
                let svc = load_service(c, s).map_err(|e| match e {
                    StoreError::NotFound { .. } => StoreError::Invalid(
                        tocsin_domain::FieldError::new(
                            format!("services[{i}]"),
                            format!("no service {s:?}"),
                        )
                        .into(),
                    ),
                    e => e,
                })?;
                if !services.contains(&svc.id) {
                    services.push(svc.id);
                }
            }
            let number = rows::next_incident_number(c)?;
            let (mut incident, entry) = Incident::open(
                IncidentId::generate(),
                number,
                title,
                new.description.clone(),
                new.severity,
                services,
                &actor,
                now,
            );
            insert(c, &mut incident, &entry)?;
            Ok(incident)
        })
        .await
    }

    async fn severity_levels(&self) -> Result<Vec<SeverityLevel>> {
        self.read(|c| {
            let stored = stored_severity_levels(c)?;
            Ok(Severity::ALL
                .into_iter()
                .map(|sev| SeverityLevel::new(sev, level_spec(&stored, sev)))
                .collect())
        })
        .await
    }

    async fn change_severity_level(
        &self,
        severity: Severity,
        change: SeverityLevelChange,
    ) -> Result<SeverityLevel> {
        self.write(move |c| {
            let mut stored = stored_severity_levels(c)?;
            let spec = change.clone().apply(level_spec(&stored, severity)).tidy();
            spec.validate().map_err(StoreError::Invalid)?;
            stored.insert(severity.as_str().to_owned(), to_value(&spec));
            c.execute(
                "INSERT INTO settings (name, value) VALUES (?1, ?2) \
                 ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                params![SEVERITY_LEVELS, to_json(&stored)],
            )?;
            Ok(SeverityLevel::new(severity, spec))
        })
        .await
    }

    async fn get(&self, r: &IncidentRef) -> Result<Incident> {
        let r = r.clone();
        self.read(move |c| load(c, &r)).await
    }

    async fn list(&self, f: IncidentFilter) -> Result<Page<Incident>> {
        self.read(move |c| {
            let mut w = rows::Conditions::default();
            if let Some(n) = parse_cursor(f.cursor.as_deref(), 'n')? {
                w.with("number < {}", n);
            }
            w.one_of("status", f.statuses.iter().map(|s| s.as_str().to_owned()));
            w.one_of(
                "severity",
                f.severities.iter().map(|s| i64::from(s.level())),
            );
            w.one_of("number", f.numbers.iter().copied());
            if let Some(s) = &f.service {
                let id = load_service(c, s)?.id;
                w.with(
                    "id IN (SELECT incident_id FROM incident_services WHERE service_id = {})",
                    id.as_str().to_owned(),
                );
            }
            if let Some(t) = &f.team {
                let id = super::catalog::load_team(c, t)?.id;
                w.with(
                    "id IN (SELECT x.incident_id FROM incident_services x \
                     JOIN services s ON s.id = x.service_id WHERE s.team_id = {})",
                    id.as_str().to_owned(),
                );
            }
            if let Some(t) = f.created_after {
                w.with("created_at >= {}", ts(t));
            }
            if let Some(t) = f.created_before {
                w.with("created_at < {}", ts(t));
            }
            let limit = rows::page_limit(f.limit);
            let m = w.param(i64::from(limit + 1));
            let sql = format!(
                "SELECT {INCIDENT_COLUMNS} FROM incidents WHERE {} ORDER BY number DESC LIMIT {m}",
                w.sql()
            );
            let mut items: Vec<Incident> = c.query_all(&sql, &w.params(), rows::incident)?;
            let next_cursor = (items.len() > limit as usize).then(|| {
                items.truncate(limit as usize);
                format!("n{}", items.last().map(|i| i.number).unwrap_or_default())
            });
            for i in &mut items {
                rows::load_incident_services(c, i)?;
            }
            Ok(Page { items, next_cursor })
        })
        .await
    }

    async fn acknowledge(
        &self,
        r: &IncidentRef,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<Incident> {
        let r = r.clone();
        self.write(move |c| {
            let (incident, _) = transition(c, &r, |i| Ok(i.acknowledge(&actor, now)?))?;
            cascade_to_alerts(c, incident.id.as_str(), AlertStatus::Acknowledged, now)?;
            Ok(incident)
        })
        .await
    }

    async fn resolve(&self, r: &IncidentRef, actor: Actor, now: DateTime<Utc>) -> Result<Incident> {
        let r = r.clone();
        self.write(move |c| {
            let (incident, _) = transition(c, &r, |i| Ok(i.resolve(&actor, now, None)))?;
            cascade_to_alerts(c, incident.id.as_str(), AlertStatus::Resolved, now)?;
            // The sender may re-send the state it last sent, still firing: that must open a new incident.
            super::ingest::forget_sender_groups(c)?;
            Ok(incident)
        })
        .await
    }

    async fn edit(
        &self,
        r: &IncidentRef,
        changes: IncidentChanges,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<Incident> {
        let r = r.clone();
        self.write(move |c| {
            let mut incident = load(c, &r)?;
            let before = incident.services.clone();
            let (edit, names) = checked_edit(c, &changes)?;
            let edited = incident
                .edit(
                    &edit,
                    |s| names.get(s).cloned().unwrap_or_default(),
                    &actor,
                    now,
                )
                .map_err(|e| StoreError::Invalid(e.into()))?;
            let severity = changes
                .severity
                .and_then(|s| incident.set_severity(s, &actor, now));
            let entries: Vec<&TimelineEntry> = severity.iter().chain(&edited).collect();
            let Some(first) = entries.first() else {
                return Ok(incident);
            };
            save(c, &incident, Some(first))?;
            for entry in entries {
                rows::record_timeline(c, &incident.id, entry)?;
            }
            for s in incident.services.iter().filter(|s| !before.contains(s)) {
                rows::link_service(c, &incident.id, s)?;
            }
            for s in before.iter().filter(|s| !incident.services.contains(s)) {
                c.execute_later(
                    "DELETE FROM incident_services WHERE incident_id = ?1 AND service_id = ?2",
                    params![incident.id.as_str(), s.as_str()],
                )?;
            }
            // A relation is kept on both incidents, each with its own entry.
            let back = |number: i64| IncidentRef::Number(number);
            let (added, removed): (Vec<i64>, Vec<i64>) =
                (edit.add_related.clone(), edit.remove_related.clone());
            for (others, adding) in [(added, true), (removed, false)] {
                for other in others {
                    let reverse = IncidentEdit {
                        add_related: if adding {
                            vec![incident.number]
                        } else {
                            vec![]
                        },
                        remove_related: if adding {
                            vec![]
                        } else {
                            vec![incident.number]
                        },
                        ..Default::default()
                    };
                    let mut o = load(c, &back(other))?;
                    if let Some(entry) = o
                        .edit(&reverse, |_| String::new(), &actor, now)
                        .map_err(|e| StoreError::Invalid(e.into()))?
                    {
                        save(c, &o, Some(&entry))?;
                        rows::record_timeline(c, &o.id, &entry)?;
                    }
                }
            }
            Ok(incident)
        })
        .await
    }

    async fn set_severity(
        &self,
        r: &IncidentRef,
        severity: Severity,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<Incident> {
        let r = r.clone();
        self.write(move |c| Ok(transition(c, &r, |i| Ok(i.set_severity(severity, &actor, now)))?.0))
            .await
    }

    async fn add_note(
        &self,
        r: &IncidentRef,
        body: String,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<TimelineRecord> {
        let r = r.clone();
        self.write(move |c| {
            let body = parse_note(&body).map_err(|e| StoreError::Invalid(e.into()))?;
            let (incident, seq) = transition(c, &r, |i| Ok(Some(i.note(body, &actor, now))))?;
            let seq = seq.expect("a note always adds an entry");
            timeline(c, &incident, Some(seq - 1))?
                .into_iter()
                .next()
                .ok_or_else(|| StoreError::Backend("note vanished".into()))
        })
        .await
    }

    async fn timeline(&self, r: &IncidentRef) -> Result<Vec<TimelineRecord>> {
        let r = r.clone();
        self.read(move |c| {
            let incident = load(c, &r)?;
            timeline(c, &incident, None)
        })
        .await
    }

    async fn merge(
        &self,
        r: &IncidentRef,
        into: &IncidentRef,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<Incident> {
        let (r, into) = (r.clone(), into.clone());
        self.write(move |c| {
            let mut merged = load(c, &r)?;
            let mut survivor = load(c, &into)?;
            let alerts: i64 = c.query_one(
                "SELECT count(*) FROM alerts WHERE incident_id = ?1",
                params![merged.id.as_str()],
                |row| row.get(0),
            )?;
            let (mine, theirs) = merged.merge_into(
                &mut survivor,
                u32::try_from(alerts).unwrap_or(u32::MAX),
                &actor,
                now,
            )?;
            c.execute(
                "UPDATE alerts SET incident_id = ?1 WHERE incident_id = ?2",
                params![survivor.id.as_str(), merged.id.as_str()],
            )?;
            for s in &merged.services {
                if !survivor.services.contains(s) {
                    rows::link_service(c, &survivor.id, s)?;
                    survivor.services.push(s.clone());
                }
            }
            let working: Vec<_> = super::roles::responders(c, &survivor.id)?
                .into_iter()
                .map(|r| r.user_id)
                .collect();
            let joining: Vec<_> = super::roles::responders(c, &merged.id)?
                .into_iter()
                .map(|r| r.user_id)
                .filter(|u| !working.contains(u))
                .collect();
            super::roles::record_added(c, &survivor.id, &joining, now)?;
            // The entry that matters to what follows a save: the resolution of the merged one (its escalation
            // stops, subscribers hear of it), a severity raised on the survivor (its roles, checklists, pages).
            let telling = |entries: &[TimelineEntry]| {
                entries
                    .iter()
                    .find(|e| {
                        matches!(
                            e.event,
                            TimelineEvent::Resolved { .. } | TimelineEvent::SeverityChanged { .. }
                        )
                    })
                    .or(entries.first())
                    .cloned()
            };
            save(c, &survivor, telling(&theirs).as_ref())?;
            for e in &theirs {
                rows::record_timeline(c, &survivor.id, e)?;
            }
            save(c, &merged, telling(&mine).as_ref())?;
            for e in &mine {
                rows::record_timeline(c, &merged.id, e)?;
            }
            if survivor.status == tocsin_domain::incident::IncidentStatus::Acknowledged {
                cascade_to_alerts(c, survivor.id.as_str(), AlertStatus::Acknowledged, now)?;
            }
            Ok(survivor)
        })
        .await
    }

    async fn alerts(&self, r: &IncidentRef) -> Result<Vec<Alert>> {
        let r = r.clone();
        self.read(move |c| {
            let incident = load(c, &r)?;
            c.query_all(
                &format!("{ALERT_SELECT} WHERE a.incident_id = ?1 ORDER BY a.seq"),
                params![incident.id.as_str()],
                rows::alert,
            )
        })
        .await
    }
}
