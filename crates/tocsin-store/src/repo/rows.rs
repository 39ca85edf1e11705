//! Mapping between rows and domain types.

use crate::params;
use crate::sql::{Conn, Dialect, Row};
use crate::{Result, StoreError};
use tocsin_domain::alert::Alert;
use tocsin_domain::ids::{AlertId, IncidentId, IntegrationId, ServiceId};
use tocsin_domain::incident::{Incident, TimelineEntry, TimelineEvent, TimelineKind};
use tocsin_domain::severity::Severity;

pub use crate::sql::{time, to_json, ts};

pub fn severity_col(row: &Row<'_>, idx: usize) -> Result<Severity> {
    let v: i64 = row.get(idx)?;
    Severity::from_level(v).ok_or_else(|| StoreError::Backend(format!("bad severity {v}")))
}

/// An alert with its activity. Column 22 is the alert's `seq`, which the event log refers to.
pub const ALERT_SELECT: &str = "SELECT a.id, a.service_id, a.integration_id, a.dedup_key, a.status, a.severity, a.summary, a.source, \
     a.component, a.grp, a.class, a.custom_details, a.links, a.images, a.client, a.client_url, a.incident_id, v.event_count, \
     a.created_at, v.last_event_at, a.acknowledged_at, a.resolved_at, a.seq, a.labels, a.no_page_reason, v.ends_at \
     FROM alerts a JOIN alert_activity v ON v.alert_seq = a.seq";

pub fn alert(row: &Row<'_>) -> Result<Alert> {
    Ok(Alert {
        id: AlertId::from_trusted(row.get(0)?),
        service_id: ServiceId::from_trusted(row.get(1)?),
        integration_id: IntegrationId::from_trusted(row.get(2)?),
        dedup_key: row.get(3)?,
        status: row.parsed(4)?,
        severity: row.parsed(5)?,
        summary: row.get(6)?,
        source: row.get(7)?,
        component: row.get(8)?,
        group: row.get(9)?,
        class: row.get(10)?,
        custom_details: row.json(11)?,
        links: row.json(12)?,
        images: row.json(13)?,
        client: row.get(14)?,
        client_url: row.get(15)?,
        incident_id: row.get::<Option<String>>(16)?.map(IncidentId::from_trusted),
        event_count: row.get(17)?,
        created_at: row.time(18)?,
        last_event_at: row.time(19)?,
        acknowledged_at: row.opt_time(20)?,
        resolved_at: row.opt_time(21)?,
        labels: row.json(23)?,
        no_page_reason: row.opt_json(24)?,
        ends_at: row.opt_time(25)?,
    })
}

/// The alert and its `seq`.
pub fn alert_with_seq(row: &Row<'_>) -> Result<(Alert, i64)> {
    Ok((alert(row)?, row.get(22)?))
}

/// Inserts a new alert whose first event is `event_seq`; returns the alert's `seq`.
/// `group_value` is what the alert is grouped on, if anything (see `alerts.group_value`).
pub fn insert_alert(
    conn: &dyn Conn,
    a: &Alert,
    event_seq: i64,
    group_value: Option<&str>,
) -> Result<i64> {
    let seq: i64 = conn.query_one(
        "INSERT INTO alerts (id, service_id, integration_id, dedup_key, status, severity, summary, source, component, grp, class, \
         custom_details, links, images, client, client_url, incident_id, created_at, acknowledged_at, resolved_at, labels, \
         no_page_reason, group_value) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23) \
         RETURNING seq",
        params![
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
        ],
        |r| r.get(0),
    )?;
    conn.execute_later(
        "INSERT INTO alert_activity (alert_seq, event_count, last_event_at, first_event_seq, last_event_seq, ends_at) \
         VALUES (?1, ?2, ?3, ?4, ?4, ?5)",
        params![seq, a.event_count, ts(a.last_event_at), event_seq, a.ends_at.map(ts)],
    )?;
    Ok(seq)
}

/// Writes everything about an alert except its activity (see [`record_activity`]).
pub fn update_alert(conn: &dyn Conn, a: &Alert) -> Result<()> {
    conn.execute_later(
        "UPDATE alerts SET status = ?2, severity = ?3, summary = ?4, source = ?5, component = ?6, grp = ?7, class = ?8, \
         custom_details = ?9, links = ?10, images = ?11, client = ?12, client_url = ?13, incident_id = ?14, \
         acknowledged_at = ?15, resolved_at = ?16, labels = ?17, no_page_reason = ?18 WHERE id = ?1",
        params![
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
        ],
    )?;
    Ok(())
}

/// Records that the alert at `alert_seq` received the event logged at `event_seq`.
pub fn record_activity(conn: &dyn Conn, alert_seq: i64, a: &Alert, event_seq: i64) -> Result<()> {
    conn.execute_later(
        "UPDATE alert_activity SET event_count = ?2, last_event_at = ?3, last_event_seq = ?4, ends_at = ?5 \
         WHERE alert_seq = ?1",
        params![alert_seq, a.event_count, ts(a.last_event_at), event_seq, a.ends_at.map(ts)],
    )?;
    Ok(())
}

pub const INCIDENT_COLUMNS: &str = "id, number, title, description, severity, status, created_at, created_by, updated_at, \
     acknowledged_at, acknowledged_by, resolved_at, resolved_by, unassigned_since, customer_impact, links, stage, \
     milestones, related, merged_into";

/// An incident row without its services (see [`load_incident_services`]).
pub fn incident(row: &Row<'_>) -> Result<Incident> {
    Ok(Incident {
        id: IncidentId::from_trusted(row.get(0)?),
        number: row.get(1)?,
        title: row.get(2)?,
        description: row.get(3)?,
        severity: severity_col(row, 4)?,
        status: row.parsed(5)?,
        services: Vec::new(),
        created_at: row.time(6)?,
        created_by: row.json(7)?,
        updated_at: row.time(8)?,
        acknowledged_at: row.opt_time(9)?,
        acknowledged_by: row.opt_json(10)?,
        resolved_at: row.opt_time(11)?,
        resolved_by: row.opt_json(12)?,
        unassigned_since: row.opt_time(13)?,
        customer_impact: row.get(14)?,
        links: row.json(15)?,
        stage: row.parsed(16)?,
        milestones: Default::default(),
        related: row.json(18)?,
        merged_into: row.get(19)?,
    }
    .with_milestones(row.json(17)?))
}

pub fn load_incident_services(conn: &dyn Conn, incident: &mut Incident) -> Result<()> {
    incident.services = conn.query_all(
        "SELECT service_id FROM incident_services WHERE incident_id = ?1 ORDER BY position",
        params![incident.id.as_str()],
        |r| r.get::<String>(0).map(ServiceId::from_trusted),
    )?;
    Ok(())
}

/// The incident's rows only; [`super::incidents::insert`] also starts its escalation.
pub fn insert_incident_row(conn: &dyn Conn, i: &Incident) -> Result<()> {
    conn.execute_later(
        INSERT_INCIDENT,
        params![
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
            i.unassigned_since.map(ts),
            i.customer_impact,
            to_json(&i.links),
            i.stage.as_str(),
            to_json(&i.milestones),
            to_json(&i.related),
        ],
    )?;
    // A new incident has no services yet: their positions are known without reading any.
    for (position, s) in (1i64..).zip(&i.services) {
        conn.execute_later(
            "INSERT INTO incident_services (incident_id, service_id, position) VALUES (?1, ?2, ?3) \
             ON CONFLICT (incident_id, service_id) DO NOTHING",
            params![i.id.as_str(), s.as_str(), position],
        )?;
    }
    Ok(())
}

const INSERT_INCIDENT: &str = "INSERT INTO incidents (id, number, title, description, severity, status, created_at, \
     created_by, updated_at, acknowledged_at, acknowledged_by, resolved_at, resolved_by, unassigned_since, \
     customer_impact, links, stage, milestones, related) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19)";

/// Adds a service to an incident, after the ones it already has; adding it twice changes nothing.
pub fn link_service(conn: &dyn Conn, incident: &IncidentId, service: &ServiceId) -> Result<()> {
    conn.execute_later(
        "INSERT INTO incident_services (incident_id, service_id, position) \
         SELECT ?1, ?2, coalesce(max(position), 0) + 1 FROM incident_services WHERE incident_id = ?1 \
         ON CONFLICT (incident_id, service_id) DO NOTHING",
        params![incident.as_str(), service.as_str()],
    )?;
    Ok(())
}

/// The incident's row only; [`super::incidents::save`] also stops its escalation when it is acknowledged or resolved.
pub fn update_incident_row(conn: &dyn Conn, i: &Incident) -> Result<()> {
    conn.execute_later(
        "UPDATE incidents SET title = ?2, description = ?3, severity = ?4, status = ?5, updated_at = ?6, acknowledged_at = ?7, \
         acknowledged_by = ?8, resolved_at = ?9, resolved_by = ?10, unassigned_since = ?11, customer_impact = ?12, \
         links = ?13, stage = ?14, milestones = ?15, related = ?16, merged_into = ?17 WHERE id = ?1",
        params![
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
            i.unassigned_since.map(ts),
            i.customer_impact,
            to_json(&i.links),
            i.stage.as_str(),
            to_json(&i.milestones),
            to_json(&i.related),
            i.merged_into,
        ],
    )?;
    Ok(())
}

/// Stores the entry's facts; its words are chosen where it is shown (`message` stays empty, and holds the words
/// only of entries written before entries recorded facts).
pub fn append_timeline(conn: &dyn Conn, incident: &IncidentId, e: &TimelineEntry) -> Result<i64> {
    let message = legacy_words(e);
    conn.query_one(
        "INSERT INTO timeline (incident_id, at, actor, kind, message, data) VALUES (?1, ?2, ?3, ?4, ?5, ?6) RETURNING seq",
        params![incident.as_str(), ts(e.at), to_json(&e.actor), e.kind().as_str(), message, to_json(&e.event.fields())],
        |r| r.get(0),
    )
}

/// [`append_timeline`] for a caller that does not need the entry's `seq`: the row may go with the next statement.
pub fn record_timeline(conn: &dyn Conn, incident: &IncidentId, e: &TimelineEntry) -> Result<()> {
    let message = legacy_words(e);
    conn.execute_later(
        "INSERT INTO timeline (incident_id, at, actor, kind, message, data) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![incident.as_str(), ts(e.at), to_json(&e.actor), e.kind().as_str(), message, to_json(&e.event.fields())],
    )
}

/// The `message` column: the words of an entry written before entries recorded facts, else empty.
fn legacy_words(e: &TimelineEntry) -> &str {
    match &e.event {
        TimelineEvent::Worded { message, .. } => message,
        _ => "",
    }
}

pub fn timeline_entry(row: &Row<'_>) -> Result<(i64, IncidentId, TimelineEntry)> {
    let kind: String = row.get(4)?;
    let kind = TimelineKind::parse(&kind)
        .ok_or_else(|| StoreError::Backend(format!("bad timeline kind {kind}")))?;
    let message: String = row.get(5)?;
    Ok((
        row.get(0)?,
        IncidentId::from_trusted(row.get(1)?),
        TimelineEntry {
            at: row.time(2)?,
            actor: row.json(3)?,
            event: TimelineEvent::from_stored(kind, &row.json::<serde_json::Value>(6)?, &message),
        },
    ))
}

/// The next incident number, inside the caller's transaction. SQLite's single writer counts in a row, without
/// gaps; on PostgreSQL a row every new incident updates would make concurrent transactions abort each other, so a
/// sequence hands the numbers out: unique and increasing, with a gap where a transaction rolled back.
pub fn next_incident_number(conn: &dyn Conn) -> Result<i64> {
    let sql = match conn.dialect() {
        Dialect::Sqlite => {
            "UPDATE counters SET value = value + 1 WHERE name = 'incident_number' RETURNING value"
        }
        Dialect::Postgres => "SELECT nextval('incident_number')",
    };
    conn.query_one(sql, params![], |r| r.get(0))
}

/// The conditions of a list query and their parameters, numbered as they are added.
#[derive(Default)]
pub struct Conditions {
    clauses: Vec<String>,
    params: Vec<crate::sql::Value>,
}

impl Conditions {
    /// A parameter's placeholder (`?N`).
    pub fn param(&mut self, value: impl Into<crate::sql::Value>) -> String {
        self.params.push(value.into());
        format!("?{}", self.params.len())
    }

    /// A condition on one parameter, which `condition` names `{}` (as often as it needs).
    pub fn with(&mut self, condition: &str, value: impl Into<crate::sql::Value>) {
        let mark = self.param(value);
        self.clauses.push(condition.replace("{}", &mark));
    }

    /// A condition that the column is one of `values`; none at all adds nothing.
    pub fn one_of<V: Into<crate::sql::Value>>(
        &mut self,
        column: &str,
        values: impl IntoIterator<Item = V>,
    ) {
        let marks: Vec<String> = values.into_iter().map(|v| self.param(v)).collect();
        if !marks.is_empty() {
            self.clauses
                .push(format!("{column} IN ({})", marks.join(", ")));
        }
    }

    pub fn push(&mut self, clause: String) {
        self.clauses.push(clause);
    }

    /// The `WHERE` condition: every one of them.
    pub fn sql(&self) -> String {
        if self.clauses.is_empty() {
            "1 = 1".to_owned()
        } else {
            self.clauses.join(" AND ")
        }
    }

    pub fn params(&self) -> Vec<&dyn crate::sql::ToSql> {
        crate::sql::dyn_params(&self.params)
    }
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

/// How many values one `IN (…)` list takes; longer lists are split, well under every database's parameter limit.
const IN_CHUNK: usize = 500;

/// Runs `sql`, whose `{}` is replaced by an `IN` list's placeholders, for every chunk of `keys`, and collects the
/// rows. For loading what a batch of work needs in a few statements instead of one per item.
pub fn query_in<K: AsRef<str>, T>(
    conn: &dyn Conn,
    sql: &str,
    keys: &[K],
    map: impl Fn(&Row<'_>) -> Result<T>,
) -> Result<Vec<T>> {
    let mut out = Vec::new();
    for chunk in keys.chunks(IN_CHUNK) {
        let (statement, values) = in_list(sql, &[], chunk);
        out.extend(conn.query_all(&statement, &crate::sql::dyn_params(&values), &map)?);
    }
    Ok(out)
}

/// One text column of the rows with these IDs, by ID: `sql` selects `id` and the column, `IN ({})` the IDs.
pub fn text_by_id(
    conn: &dyn Conn,
    sql: &str,
    ids: &[&str],
) -> Result<std::collections::HashMap<String, String>> {
    Ok(query_in(conn, sql, ids, |r| Ok((r.get(0)?, r.get(1)?)))?
        .into_iter()
        .collect())
}

/// The names of the users with these IDs, by ID; a deleted user has none.
pub fn user_names(
    conn: &dyn Conn,
    ids: &[&str],
) -> Result<std::collections::HashMap<String, String>> {
    text_by_id(conn, "SELECT id, name FROM users WHERE id IN ({})", ids)
}

/// Runs the write `sql` for every chunk of `keys`, as [`query_in`] reads: `?1`… are the `fixed` values, and `{}`
/// becomes the `IN` list, numbered after them. Its row count is not read, so it may go with the next statement.
pub fn execute_in<K: AsRef<str>>(
    conn: &dyn Conn,
    sql: &str,
    fixed: &[crate::sql::Value],
    keys: &[K],
) -> Result<()> {
    for chunk in keys.chunks(IN_CHUNK) {
        let (statement, values) = in_list(sql, fixed, chunk);
        conn.execute_later(&statement, &crate::sql::dyn_params(&values))?;
    }
    Ok(())
}

/// `sql` with its `{}` replaced by an `IN` list for `chunk` after the `fixed` parameters, and every value to bind.
/// Lists are padded (repeating the last key) to a power of two, so a few statement texts serve every size and
/// prepared statements are reused.
fn in_list<K: AsRef<str>>(
    sql: &str,
    fixed: &[crate::sql::Value],
    chunk: &[K],
) -> (String, Vec<crate::sql::Value>) {
    let len = chunk.len().next_power_of_two().max(8);
    let marks: Vec<String> = (1..=len).map(|i| format!("?{}", fixed.len() + i)).collect();
    let last = chunk.last().map_or("", |k| k.as_ref());
    let values = fixed
        .iter()
        .cloned()
        .chain((0..len).map(|i| chunk.get(i).map_or(last, |k| k.as_ref()).to_owned().into()))
        .collect();
    (sql.replace("{}", &marks.join(", ")), values)
}

/// Takes the incidents whose one-shot timer in `table` (`incident_id`, `due_at`) is due at `now`, at most
/// `limit`, oldest first, deleting their rows: what they were due for is done in the same transaction.
pub(crate) fn take_due_incidents(
    c: &dyn Conn,
    table: &'static str,
    now: chrono::DateTime<chrono::Utc>,
    limit: u32,
) -> Result<Vec<String>> {
    let due: Vec<String> = c.query_all(
        &format!(
            "SELECT incident_id FROM {table} WHERE due_at <= ?1 ORDER BY due_at, incident_id LIMIT ?2"
        ),
        params![ts(now), limit],
        |r| r.get(0),
    )?;
    if !due.is_empty() {
        execute_in(
            c,
            &format!("DELETE FROM {table} WHERE incident_id IN ({{}})"),
            &[],
            &due,
        )?;
    }
    Ok(due)
}
