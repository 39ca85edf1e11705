//! Mapping between rows and domain types.

use super::backend;
use crate::{Result, StoreError};
use chrono::{DateTime, Utc};
use rusqlite::types::Type;
use rusqlite::{Connection, OptionalExtension, Row};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tocsin_domain::alert::Alert;
use tocsin_domain::ids::{AlertId, IncidentId, IntegrationId, ServiceId};
use tocsin_domain::incident::{Incident, TimelineEntry, TimelineKind};
use tocsin_domain::severity::Severity;

pub fn ts(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

pub fn time(v: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(v).unwrap_or_default()
}

pub fn opt_time(v: Option<i64>) -> Option<DateTime<Utc>> {
    v.map(time)
}

pub fn to_json<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v).expect("domain types serialize")
}

fn conversion(idx: usize, e: impl std::error::Error + Send + Sync + 'static) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(idx, Type::Text, Box::new(e))
}

pub fn json_col<T: DeserializeOwned>(row: &Row<'_>, idx: usize) -> rusqlite::Result<T> {
    let s: String = row.get(idx)?;
    serde_json::from_str(&s).map_err(|e| conversion(idx, e))
}

pub fn opt_json_col<T: DeserializeOwned>(row: &Row<'_>, idx: usize) -> rusqlite::Result<Option<T>> {
    let s: Option<String> = row.get(idx)?;
    s.map(|s| serde_json::from_str(&s).map_err(|e| conversion(idx, e)))
        .transpose()
}

/// A column holding a value of a type with `FromStr` (statuses, severities, kinds).
pub fn parsed_col<T: std::str::FromStr>(row: &Row<'_>, idx: usize) -> rusqlite::Result<T>
where
    T::Err: std::fmt::Display,
{
    let s: String = row.get(idx)?;
    s.parse()
        .map_err(|e: T::Err| conversion(idx, std::io::Error::other(e.to_string())))
}

pub fn severity_col(row: &Row<'_>, idx: usize) -> rusqlite::Result<Severity> {
    let v: i64 = row.get(idx)?;
    Severity::from_level(v)
        .ok_or_else(|| conversion(idx, std::io::Error::other(format!("bad severity {v}"))))
}

/// An alert with its activity. Column 22 is the alert's `seq`, which the event log refers to.
pub const ALERT_SELECT: &str = "SELECT a.id, a.service_id, a.integration_id, a.dedup_key, a.status, a.severity, a.summary, a.source, \
     a.component, a.grp, a.class, a.custom_details, a.links, a.images, a.client, a.client_url, a.incident_id, v.event_count, \
     a.created_at, v.last_event_at, a.acknowledged_at, a.resolved_at, a.seq, a.labels, a.no_page_reason \
     FROM alerts a JOIN alert_activity v ON v.alert_seq = a.seq";

pub fn alert(row: &Row<'_>) -> rusqlite::Result<Alert> {
    Ok(Alert {
        id: AlertId::from_trusted(row.get(0)?),
        service_id: ServiceId::from_trusted(row.get(1)?),
        integration_id: IntegrationId::from_trusted(row.get(2)?),
        dedup_key: row.get(3)?,
        status: parsed_col(row, 4)?,
        severity: parsed_col(row, 5)?,
        summary: row.get(6)?,
        source: row.get(7)?,
        component: row.get(8)?,
        group: row.get(9)?,
        class: row.get(10)?,
        custom_details: json_col(row, 11)?,
        links: json_col(row, 12)?,
        images: json_col(row, 13)?,
        client: row.get(14)?,
        client_url: row.get(15)?,
        incident_id: row
            .get::<_, Option<String>>(16)?
            .map(IncidentId::from_trusted),
        event_count: row.get(17)?,
        created_at: time(row.get(18)?),
        last_event_at: time(row.get(19)?),
        acknowledged_at: opt_time(row.get(20)?),
        resolved_at: opt_time(row.get(21)?),
        labels: json_col(row, 23)?,
        no_page_reason: opt_json_col(row, 24)?,
    })
}

/// The alert and its `seq`.
pub fn alert_with_seq(row: &Row<'_>) -> rusqlite::Result<(Alert, i64)> {
    Ok((alert(row)?, row.get(22)?))
}

/// Inserts a new alert whose first event is `event_seq`; returns the alert's `seq`.
/// `group_value` is what the alert is grouped on, if anything (see `alerts.group_value`).
pub fn insert_alert(
    conn: &Connection,
    a: &Alert,
    event_seq: i64,
    group_value: Option<&str>,
) -> Result<i64> {
    conn.prepare_cached(
        "INSERT INTO alerts (id, service_id, integration_id, dedup_key, status, severity, summary, source, component, grp, class, \
         custom_details, links, images, client, client_url, incident_id, created_at, acknowledged_at, resolved_at, labels, \
         no_page_reason, group_value) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23)",
    )
    .and_then(|mut s| {
        s.execute(rusqlite::params![
            a.id.as_str(),
            a.service_id.as_str(),
            a.integration_id.as_str(),
            a.dedup_key,
            a.status.as_str(),
            a.severity.as_str(),
            a.summary,
            a.source,
            a.component,
            a.group,
            a.class,
            to_json(&a.custom_details),
            to_json(&a.links),
            to_json(&a.images),
            a.client,
            a.client_url,
            a.incident_id.as_ref().map(|i| i.as_str()),
            ts(a.created_at),
            a.acknowledged_at.map(ts),
            a.resolved_at.map(ts),
            to_json(&a.labels),
            a.no_page_reason.as_ref().map(to_json),
            group_value,
        ])
    })
    .map_err(backend)?;
    let seq = conn.last_insert_rowid();
    conn.prepare_cached(
        "INSERT INTO alert_activity (alert_seq, event_count, last_event_at, first_event_seq, last_event_seq) VALUES (?1, ?2, ?3, ?4, ?4)",
    )
    .and_then(|mut s| s.execute(rusqlite::params![seq, a.event_count, ts(a.last_event_at), event_seq]))
    .map_err(backend)?;
    Ok(seq)
}

/// Writes everything about an alert except its activity (see [`record_activity`]).
pub fn update_alert(conn: &Connection, a: &Alert) -> Result<()> {
    conn.prepare_cached(
        "UPDATE alerts SET status = ?2, severity = ?3, summary = ?4, source = ?5, component = ?6, grp = ?7, class = ?8, \
         custom_details = ?9, links = ?10, images = ?11, client = ?12, client_url = ?13, incident_id = ?14, \
         acknowledged_at = ?15, resolved_at = ?16, labels = ?17, no_page_reason = ?18 WHERE id = ?1",
    )
    .and_then(|mut s| {
        s.execute(rusqlite::params![
            a.id.as_str(),
            a.status.as_str(),
            a.severity.as_str(),
            a.summary,
            a.source,
            a.component,
            a.group,
            a.class,
            to_json(&a.custom_details),
            to_json(&a.links),
            to_json(&a.images),
            a.client,
            a.client_url,
            a.incident_id.as_ref().map(|i| i.as_str()),
            a.acknowledged_at.map(ts),
            a.resolved_at.map(ts),
            to_json(&a.labels),
            a.no_page_reason.as_ref().map(to_json),
        ])
    })
    .map_err(backend)?;
    Ok(())
}

/// Records that the alert at `alert_seq` received the event logged at `event_seq`.
pub fn record_activity(conn: &Connection, alert_seq: i64, a: &Alert, event_seq: i64) -> Result<()> {
    conn.prepare_cached("UPDATE alert_activity SET event_count = ?2, last_event_at = ?3, last_event_seq = ?4 WHERE alert_seq = ?1")
        .and_then(|mut s| s.execute(rusqlite::params![alert_seq, a.event_count, ts(a.last_event_at), event_seq]))
        .map_err(backend)?;
    Ok(())
}

pub const INCIDENT_COLUMNS: &str = "id, number, title, description, severity, status, created_at, created_by, updated_at, \
     acknowledged_at, acknowledged_by, resolved_at, resolved_by";

/// An incident row without its services (see [`load_incident_services`]).
pub fn incident(row: &Row<'_>) -> rusqlite::Result<Incident> {
    Ok(Incident {
        id: IncidentId::from_trusted(row.get(0)?),
        number: row.get(1)?,
        title: row.get(2)?,
        description: row.get(3)?,
        severity: severity_col(row, 4)?,
        status: parsed_col(row, 5)?,
        services: Vec::new(),
        created_at: time(row.get(6)?),
        created_by: json_col(row, 7)?,
        updated_at: time(row.get(8)?),
        acknowledged_at: opt_time(row.get(9)?),
        acknowledged_by: opt_json_col(row, 10)?,
        resolved_at: opt_time(row.get(11)?),
        resolved_by: opt_json_col(row, 12)?,
    })
}

pub fn load_incident_services(conn: &Connection, incident: &mut Incident) -> Result<()> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT service_id FROM incident_services WHERE incident_id = ?1 ORDER BY rowid",
        )
        .map_err(backend)?;
    incident.services = stmt
        .query_map([incident.id.as_str()], |r| {
            r.get::<_, String>(0).map(ServiceId::from_trusted)
        })
        .and_then(Iterator::collect)
        .map_err(backend)?;
    Ok(())
}

pub fn insert_incident(conn: &Connection, i: &Incident) -> Result<()> {
    conn.prepare_cached(&format!(
        "INSERT INTO incidents ({INCIDENT_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)"
    ))
    .and_then(|mut s| {
        s.execute(rusqlite::params![
            i.id.as_str(),
            i.number,
            i.title,
            i.description,
            i.severity.level(),
            i.status.as_str(),
            ts(i.created_at),
            to_json(&i.created_by),
            ts(i.updated_at),
            i.acknowledged_at.map(ts),
            i.acknowledged_by.as_ref().map(to_json),
            i.resolved_at.map(ts),
            i.resolved_by.as_ref().map(to_json),
        ])
    })
    .map_err(backend)?;
    let mut link = conn
        .prepare_cached(
            "INSERT OR IGNORE INTO incident_services (incident_id, service_id) VALUES (?1, ?2)",
        )
        .map_err(backend)?;
    for s in &i.services {
        link.execute([i.id.as_str(), s.as_str()]).map_err(backend)?;
    }
    super::escalation::start(conn, i)
}

pub fn update_incident(conn: &Connection, i: &Incident) -> Result<()> {
    conn.prepare_cached(
        "UPDATE incidents SET title = ?2, description = ?3, severity = ?4, status = ?5, updated_at = ?6, acknowledged_at = ?7, \
         acknowledged_by = ?8, resolved_at = ?9, resolved_by = ?10 WHERE id = ?1",
    )
    .and_then(|mut s| {
        s.execute(rusqlite::params![
            i.id.as_str(),
            i.title,
            i.description,
            i.severity.level(),
            i.status.as_str(),
            ts(i.updated_at),
            i.acknowledged_at.map(ts),
            i.acknowledged_by.as_ref().map(to_json),
            i.resolved_at.map(ts),
            i.resolved_by.as_ref().map(to_json),
        ])
    })
    .map_err(backend)?;
    super::escalation::stop(conn, i)
}

pub fn append_timeline(conn: &Connection, incident: &IncidentId, e: &TimelineEntry) -> Result<i64> {
    conn.prepare_cached("INSERT INTO timeline (incident_id, at, actor, kind, message, data) VALUES (?1, ?2, ?3, ?4, ?5, ?6)")
        .and_then(|mut s| {
            s.execute(rusqlite::params![incident.as_str(), ts(e.at), to_json(&e.actor), e.kind.as_str(), e.message, to_json(&e.data)])
        })
        .map_err(backend)?;
    Ok(conn.last_insert_rowid())
}

pub fn timeline_entry(row: &Row<'_>) -> rusqlite::Result<(i64, IncidentId, TimelineEntry)> {
    let kind: String = row.get(4)?;
    let kind = TimelineKind::parse(&kind)
        .ok_or_else(|| conversion(4, std::io::Error::other(format!("bad kind {kind}"))))?;
    Ok((
        row.get(0)?,
        IncidentId::from_trusted(row.get(1)?),
        TimelineEntry {
            at: time(row.get(2)?),
            actor: json_col(row, 3)?,
            kind,
            message: row.get(5)?,
            data: json_col(row, 6)?,
        },
    ))
}

/// Next value of a named counter (e.g. incident numbers), inside the caller's transaction.
pub fn next_counter(conn: &Connection, name: &str) -> Result<i64> {
    conn.prepare_cached("UPDATE counters SET value = value + 1 WHERE name = ?1 RETURNING value")
        .and_then(|mut s| s.query_row([name], |r| r.get(0)))
        .map_err(backend)
}

/// Runs a single-row lookup, turning "no row" into `NotFound`.
pub fn find<T>(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
    map: impl FnOnce(&Row<'_>) -> rusqlite::Result<T>,
    kind: &'static str,
    key: &str,
) -> Result<T> {
    conn.prepare_cached(sql)
        .and_then(|mut s| s.query_row(params, map).optional())
        .map_err(backend)?
        .ok_or_else(|| StoreError::not_found(kind, key))
}

/// Parses a page cursor of the form `<prefix><integer>`.
pub fn parse_cursor(cursor: Option<&str>, prefix: char) -> Result<Option<i64>> {
    let Some(c) = cursor else { return Ok(None) };
    c.strip_prefix(prefix)
        .and_then(|n| n.parse::<i64>().ok())
        .map(Some)
        .ok_or_else(|| {
            StoreError::Invalid(
                tocsin_domain::FieldError::new(
                    "cursor",
                    "is not a cursor from a previous page; omit it to start from the beginning",
                )
                .into(),
            )
        })
}

pub fn page_limit(limit: u32) -> u32 {
    match limit {
        0 => crate::DEFAULT_PAGE,
        n => n.min(crate::MAX_PAGE),
    }
}
