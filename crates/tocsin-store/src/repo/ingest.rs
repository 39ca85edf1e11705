//! The ingest path (alert and change events) and alert queries.
//!
//! `apply_batch` is the hot path, inside the writer's shared transaction: one indexed lookup of the key, then per
//! event triage (rules, silences, maintenance, from the store's in-memory triage snapshot), one lookup of the open alert,
//! the domain's `apply_event`, and an insert or update; incident opening, joining and flap checks only for alerts
//! that call for an incident.

use super::catalog::{change_record, load_service};
use super::incidents::open_incident;
use super::noise;
use super::rows::{
    self, ALERT_SELECT, insert_alert, parse_cursor, record_activity, to_json, ts, update_alert,
};
use crate::db::SqlStore;
use crate::params;
use crate::sql::{Conn, Dialect};
use crate::{
    AlertEventRecord, AlertFilter, AlertRepo, ChangeRecord, HeartbeatStatus, IngestOutcome,
    IngestRepo, IngestResult, IntegrationKind, Page, RAW_PAYLOADS_KEPT, RawPayload, Result,
    StoreError,
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tocsin_domain::alert::AlertDetails;
use tocsin_domain::alert::{
    Alert, AlertChange, AlertEvent, AlertStatus, EventAction, IngestTarget, apply_event,
};
use tocsin_domain::ids::{AlertId, ChangeEventId, IncidentId, IntegrationId, ServiceId};
use tocsin_domain::incident::{Actor, ActorKind, ResolveCause, TimelineEntry, TimelineEvent};
use tocsin_domain::noise::{
    AlertFields, FlapPolicy, Grouping, JoinCandidate, MaintenanceWindow, NoPageReason,
    ResolveEffect, apply_rules, silenced_by,
};
use tocsin_domain::pagerduty::ChangeEvent;
use tocsin_domain::senders::Batch;
use tocsin_domain::severity::Severity;
use tocsin_domain::severity::{AlertSeverity, SeverityMap, SeverityTarget};
use tocsin_domain::timeline::{JoinReason, SeverityCause};

struct Target {
    ingest: IngestTarget,
    kind: IntegrationKind,
    actor: Actor,
    service_name: String,
    grouping: Grouping,
    /// The triage version stored when the transaction read the target (see `noise::snapshot_at`).
    triage_version: i64,
    /// Whether the service depends on others, whose open incidents its new alerts may join.
    has_upstream: bool,
}

/// Whether the service (column `s.id` of the query) depends on any other.
const HAS_UPSTREAM: &str =
    "EXISTS (SELECT 1 FROM service_dependencies d WHERE d.service_id = s.id)";

/// The integration the key belongs to, which must be of the kind whose endpoint received the request.
fn target(c: &dyn Conn, key_hash: &str, expected: IntegrationKind) -> Result<Target> {
    type Row = (
        String,
        String,
        String,
        String,
        SeverityMap,
        String,
        Grouping,
        i64,
        bool,
    );
    // The triage version comes with the integration: one round trip fewer for every request.
    let row: Option<Row> = c.query_opt(
        &format!(
            "SELECT i.id, i.kind, i.name, s.id, s.severity_map, s.name, s.grouping, ({}), {HAS_UPSTREAM} \
             FROM integrations i JOIN services s ON s.id = i.service_id \
             WHERE i.key_hash = ?1 AND i.revoked_at IS NULL AND s.deleted_at IS NULL",
            noise::TRIAGE_VERSION
        ),
        params![key_hash],
        |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.json(4)?,
                r.get(5)?,
                r.json(6)?,
                r.get(7)?,
                r.get(8)?,
            ))
        },
    )?;
    let (
        id,
        kind,
        name,
        service_id,
        severity_map,
        service_name,
        grouping,
        triage_version,
        has_upstream,
    ) = row.ok_or(StoreError::UnknownRoutingKey)?;
    let kind = IntegrationKind::parse(&kind)
        .ok_or_else(|| StoreError::Backend(format!("unknown integration kind {kind}")))?;
    if kind != expected {
        return Err(StoreError::WrongIntegrationKind {
            actual: kind.as_str(),
        });
    }
    Ok(Target {
        actor: Actor {
            kind: ActorKind::Integration,
            id: Some(id.clone()),
            name,
        },
        ingest: IngestTarget {
            integration_id: IntegrationId::from_trusted(id),
            service_id: ServiceId::from_trusted(service_id),
            severity_map,
        },
        kind,
        service_name,
        grouping,
        triage_version,
        has_upstream,
    })
}

/// The same sender's target, with the service a rule routed the alert to.
fn routed_to(c: &dyn Conn, t: &Target, service: &str) -> Result<Target> {
    let (id, severity_map, grouping, has_upstream): (String, SeverityMap, Grouping, bool) = c
        .find(
            &format!(
                "SELECT s.id, s.severity_map, s.grouping, {HAS_UPSTREAM} FROM services s \
             WHERE s.name = ?1 AND s.deleted_at IS NULL"
            ),
            params![service],
            |r| Ok((r.get(0)?, r.json(1)?, r.json(2)?, r.get(3)?)),
            "service",
            service,
        )?;
    Ok(Target {
        ingest: IngestTarget {
            integration_id: t.ingest.integration_id.clone(),
            service_id: ServiceId::from_trusted(id),
            severity_map,
        },
        kind: t.kind,
        actor: t.actor.clone(),
        service_name: service.to_owned(),
        grouping,
        triage_version: t.triage_version,
        has_upstream,
    })
}

/// The open alert with this key on the service, and its `seq`. Acknowledge and resolve carry nothing rules could
/// route by, so for them an open alert this integration's triggers were routed elsewhere counts too.
fn open_alert(
    c: &dyn Conn,
    t: &Target,
    dedup_key: &str,
    follow_up: bool,
) -> Result<Option<(Alert, i64)>> {
    let on_service = c.query_opt(
        &format!(
            "{ALERT_SELECT} WHERE a.service_id = ?1 AND a.dedup_key = ?2 AND a.status <> 'resolved'"
        ),
        params![t.ingest.service_id.as_str(), dedup_key],
        rows::alert_with_seq,
    )?;
    if on_service.is_some() || !follow_up {
        return Ok(on_service);
    }
    c.query_opt(
        &format!(
            "{ALERT_SELECT} WHERE a.dedup_key = ?1 AND a.integration_id = ?2 AND a.status <> 'resolved' ORDER BY a.seq DESC LIMIT 1"
        ),
        params![dedup_key, t.ingest.integration_id.as_str()],
        rows::alert_with_seq,
    )
}

/// What triage decided about a trigger before dedup.
#[derive(Default)]
struct Triaged {
    /// The service a rule routed the alert to.
    routed: Option<Target>,
    /// The severity a rule gave it.
    severity: Option<AlertSeverity>,
    /// Why it must not page: a suppressing rule, a silence, or a maintenance window of its service.
    reason: Option<NoPageReason>,
}

fn triage(
    c: &dyn Conn,
    cache: &noise::TriageCache,
    t: &Target,
    details: &AlertDetails,
    now: DateTime<Utc>,
) -> Result<Triaged> {
    let snap = noise::snapshot_at(c, cache, t.triage_version, now)?;
    let fields = AlertFields::new(details, &t.service_name);
    let outcome = apply_rules(&snap.rules, &fields);
    let routed = match &outcome.route_to {
        Some(name) if *name != t.service_name => match routed_to(c, t, name) {
            Ok(target) => Some(target),
            // A rule may outlive the service it routes to; the alert then stays where it came from rather than
            // being refused and lost.
            Err(StoreError::NotFound { .. }) => {
                tracing::warn!(service = %name, "A rule routes to a service that no longer exists; the alert stays on its own service.");
                None
            }
            Err(e) => return Err(e),
        },
        _ => None,
    };
    let target = routed.as_ref().unwrap_or(t);
    let severity = outcome.severity.unwrap_or(details.severity);
    let fields = fields
        .with_service(&target.service_name)
        .with_severity(severity);
    let reason = outcome
        .no_page_reason()
        .or_else(|| silenced_by(&snap.silences, &fields, now).map(|s| s.no_page_reason()))
        .or_else(|| {
            snap.open_window(&target.ingest.service_id, now)
                .map(MaintenanceWindow::no_page_reason)
        });
    Ok(Triaged {
        routed,
        severity: outcome.severity,
        reason,
    })
}

/// The latest open incident on a service this one depends on, directly or through others, and that service's name:
/// an outage upstream explains the alerts downstream.
fn upstream_incident(c: &dyn Conn, service: &ServiceId) -> Result<Option<(String, String)>> {
    c.query_opt(
        "WITH RECURSIVE upstream(id) AS ( \
             SELECT depends_on_id FROM service_dependencies WHERE service_id = ?1 \
             UNION SELECT d.depends_on_id FROM service_dependencies d JOIN upstream u ON d.service_id = u.id) \
         SELECT i.id, s.name FROM incidents i JOIN incident_services x ON x.incident_id = i.id \
         JOIN services s ON s.id = x.service_id \
         WHERE x.service_id IN (SELECT id FROM upstream) AND i.status <> 'resolved' ORDER BY i.number DESC LIMIT 1",
        params![service.as_str()],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
}

/// When alerts with this key fired on the service within the flap window, `now` not included.
fn fires_in_window(
    c: &dyn Conn,
    service: &ServiceId,
    dedup_key: &str,
    now: DateTime<Utc>,
) -> Result<Vec<DateTime<Utc>>> {
    let since = now - chrono::Duration::minutes(i64::from(FlapPolicy::default().window_minutes));
    c.query_all(
        "SELECT created_at FROM alerts WHERE dedup_key = ?1 AND service_id = ?2 AND created_at >= ?3",
        params![dedup_key, service.as_str(), ts(since)],
        |r| r.time(0),
    )
}

/// Whether firing once more now makes the key flapping.
fn flapping(
    c: &dyn Conn,
    service: &ServiceId,
    dedup_key: &str,
    now: DateTime<Utc>,
) -> Result<bool> {
    let mut fired = fires_in_window(c, service, dedup_key, now)?;
    fired.push(now);
    Ok(FlapPolicy::default().is_flapping(&fired, now))
}

/// The open incident of an earlier alert with this key, which a flapping alert's new fire joins.
fn flapping_incident(
    c: &dyn Conn,
    t: &Target,
    alert: &Alert,
    now: DateTime<Utc>,
) -> Result<Option<IncidentId>> {
    let found: Option<String> = c.query_opt(
        "SELECT a.incident_id FROM alerts a JOIN incidents i ON i.id = a.incident_id \
         WHERE a.service_id = ?1 AND a.dedup_key = ?2 AND i.status <> 'resolved' ORDER BY a.seq DESC LIMIT 1",
        params![t.ingest.service_id.as_str(), alert.dedup_key.as_str()],
        |r| r.get(0),
    )?;
    joined(c, t, alert, found, JoinReason::Flapping, now)
}

/// Records on the timeline of the incident `found` (if any) that an alert joined it, and why.
fn joined(
    c: &dyn Conn,
    t: &Target,
    alert: &Alert,
    found: Option<String>,
    why: JoinReason,
    now: DateTime<Utc>,
) -> Result<Option<IncidentId>> {
    let Some(id) = found.map(IncidentId::from_trusted) else {
        return Ok(None);
    };
    let entry = TimelineEntry::new(
        now,
        &t.actor,
        TimelineEvent::AlertAdded {
            alert_id: alert.id.clone(),
            summary: alert.summary.clone(),
            why,
        },
    );
    rows::record_timeline(c, &id, &entry)?;
    super::automation::schedule_check(c, &id, now)?;
    Ok(Some(id))
}

/// An incident is as severe as its worst alert: one that joined with a worse severity raises it (on the timeline),
/// and a rise to high urgency pages its current level again (see `incidents::save`).
fn raise_to_alert(
    c: &dyn Conn,
    incident: &IncidentId,
    severity: Severity,
    cause: SeverityCause,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<()> {
    let mut i = super::incidents::load(c, &incident.clone().into())?;
    if let Some(entry) = i.raise_for_alert(severity, cause, actor, now) {
        super::incidents::save(c, &i, Some(&entry))?;
        rows::record_timeline(c, incident, &entry)?;
    }
    Ok(())
}

/// The open incident a new alert joins instead of opening one: the first of the domain's
/// [`Grouping::join_candidates`] that finds one. Records on the incident's timeline why the alert joined.
fn join_incident(
    c: &dyn Conn,
    t: &Target,
    alert: &Alert,
    group_value: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Option<IncidentId>> {
    for candidate in t.grouping.join_candidates(group_value, t.has_upstream) {
        let (found, why): (Option<String>, JoinReason) = match candidate {
            JoinCandidate::SameGroup(group) => (
                c.query_opt(
                    "SELECT a.incident_id FROM alerts a JOIN incidents i ON i.id = a.incident_id \
                     WHERE a.service_id = ?1 AND a.group_value = ?2 AND a.status <> 'resolved' AND i.status <> 'resolved' \
                     ORDER BY a.seq DESC LIMIT 1",
                    params![t.ingest.service_id.as_str(), group],
                    |r| r.get(0),
                )?,
                JoinReason::SameGroup { group },
            ),
            JoinCandidate::OpenedWithin { minutes } => {
                let since = now - chrono::Duration::minutes(i64::from(minutes));
                (
                    c.query_opt(
                        "SELECT i.id FROM incidents i JOIN incident_services s ON s.incident_id = i.id \
                         WHERE s.service_id = ?1 AND i.status <> 'resolved' AND i.created_at >= ?2 ORDER BY i.number DESC LIMIT 1",
                        params![t.ingest.service_id.as_str(), ts(since)],
                        |r| r.get(0),
                    )?,
                    JoinReason::TimeWindow { minutes },
                )
            }
            JoinCandidate::Upstream => match upstream_incident(c, &t.ingest.service_id)? {
                Some((id, upstream)) => {
                    // The incident now affects this service too.
                    rows::link_service(
                        c,
                        &IncidentId::from_trusted(id.clone()),
                        &t.ingest.service_id,
                    )?;
                    let why = JoinReason::Upstream {
                        service: t.service_name.clone(),
                        upstream,
                    };
                    (Some(id), why)
                }
                None => continue,
            },
        };
        if found.is_some() {
            return joined(c, t, alert, found, why, now);
        }
    }
    Ok(None)
}

fn alert_resolved(
    alert: &Alert,
    actor: &Actor,
    still_open: u32,
    held_open: bool,
    now: DateTime<Utc>,
) -> TimelineEntry {
    TimelineEntry::new(
        now,
        actor,
        TimelineEvent::AlertResolved {
            alert_id: alert.id.clone(),
            summary: alert.summary.clone(),
            still_open,
            held_open,
        },
    )
}

/// Applies an alert's acknowledgement or resolution to its incident, with a timeline entry.
fn follow_up_incident(
    c: &dyn Conn,
    alert: &Alert,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<()> {
    let Some(inc) = &alert.incident_id else {
        return Ok(());
    };
    let mut incident = super::incidents::load(c, &inc.clone().into())?;
    let entry = if alert.status == AlertStatus::Acknowledged {
        // An alert acknowledged after a human resolved its incident changes only the alert.
        incident.acknowledge(actor, now).ok().flatten()
    } else {
        let still_open: i64 = c.query_one(
            "SELECT count(*) FROM alerts WHERE incident_id = ?1 AND status <> 'resolved'",
            params![inc.as_str()],
            |r| r.get(0),
        )?;
        let still_open = u32::try_from(still_open).unwrap_or(u32::MAX);
        // How often the key fired matters only once no other alert holds the incident open.
        let fires = if still_open == 0 {
            fires_in_window(c, &alert.service_id, &alert.dedup_key, now)?.len()
        } else {
            0
        };
        match FlapPolicy::default().on_resolve(still_open, fires) {
            ResolveEffect::HoldOpen => Some(alert_resolved(alert, actor, 0, true, now)),
            ResolveEffect::ResolveIncident => {
                incident.resolve(actor, now, Some(ResolveCause::AllAlertsResolved))
            }
            ResolveEffect::KeepOpen { still_open } => {
                Some(alert_resolved(alert, actor, still_open, false, now))
            }
        }
    };
    if let Some(entry) = entry {
        super::incidents::save(c, &incident, Some(&entry))?;
        rows::record_timeline(c, inc, &entry)?;
    }
    Ok(())
}

pub(super) fn apply_batch(
    c: &dyn Conn,
    triage: &noise::TriageCache,
    key_hash: &str,
    kind: IntegrationKind,
    batch: &Batch,
    now: DateTime<Utc>,
) -> Result<Vec<IngestOutcome>> {
    let t = target(c, key_hash, kind)?;
    let group = batch.group_key.as_deref();
    let seqs = next_event_seqs(c, batch.events.len())?;
    let outcomes = batch
        .events
        .iter()
        .zip(seqs)
        .map(|(e, seq)| apply(c, triage, &t, e, seq, group, now))
        .collect::<Result<Vec<_>>>()?;
    if let (Some(group), Some(state)) = (group, &batch.group_state) {
        c.execute_later(
            "INSERT INTO sender_groups (integration_id, group_key, state) VALUES (?1, ?2, ?3) \
             ON CONFLICT (integration_id, group_key) DO UPDATE SET state = excluded.state",
            params![t.ingest.integration_id.as_str(), group, state],
        )?;
    }
    Ok(outcomes)
}

/// Resolves the alerts whose `endsAt` passed without a new post, through the ingest path as a resolve from their
/// own integration: what Alertmanager does when Prometheus stops sending. An alert already resolved (by a
/// person, or with its incident) or one whose integration was revoked only loses its timer.
pub(super) fn resolve_ended(
    c: &dyn Conn,
    triage: &noise::TriageCache,
    now: DateTime<Utc>,
    limit: u32,
) -> Result<u32> {
    type Due = (i64, String, String, String, String, Option<i64>);
    let due: Vec<Due> = c.query_all(
        "SELECT v.alert_seq, a.status, a.dedup_key, i.key_hash, i.kind, i.revoked_at FROM alert_activity v \
         JOIN alerts a ON a.seq = v.alert_seq JOIN integrations i ON i.id = a.integration_id \
         WHERE v.ends_at IS NOT NULL AND v.ends_at <= ?1 ORDER BY v.ends_at, v.alert_seq LIMIT ?2",
        params![ts(now), limit],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?)),
    )?;
    // By integration key, for one batch per integration.
    let mut ending: std::collections::BTreeMap<String, (IntegrationKind, Vec<AlertEvent>)> =
        Default::default();
    for (seq, status, dedup_key, key_hash, kind, revoked) in due {
        let kind = IntegrationKind::parse(&kind);
        match kind {
            Some(kind) if status != AlertStatus::Resolved.as_str() && revoked.is_none() => ending
                .entry(key_hash)
                .or_insert_with(|| (kind, Vec::new()))
                .1
                .push(AlertEvent {
                    patch: None,
                    action: EventAction::Resolve,
                    dedup_key,
                    details: None,
                }),
            _ => c.execute_later(
                "UPDATE alert_activity SET ends_at = NULL WHERE alert_seq = ?1",
                params![seq],
            )?,
        }
    }
    let mut resolved = 0;
    for (key_hash, (kind, events)) in ending {
        resolved += events.len() as u32;
        apply_batch(c, triage, &key_hash, kind, &Batch::new(events), now)?;
    }
    Ok(resolved)
}

/// Forgets every sender group's stored state, after a change that a re-send of an old state must be evaluated
/// against (a person resolving an incident, a new rule or silence).
pub(crate) fn forget_sender_groups(c: &dyn Conn) -> Result<()> {
    c.execute("DELETE FROM sender_groups", params![])?;
    Ok(())
}

/// Writes accepted request bodies into their integrations' rings of [`RAW_PAYLOADS_KEPT`] slots, oldest first.
/// Each integration's next slot follows the newest stored one, read once per call from the database, so every
/// process on it writes the same ring; two processes flushing at once may overwrite one sample, never an event.
pub(super) fn keep_payloads(c: &dyn Conn, payloads: &[(IntegrationId, RawPayload)]) -> Result<()> {
    let mut next_slot: std::collections::HashMap<&IntegrationId, i64> = Default::default();
    for (integration, p) in payloads {
        let slot = match next_slot.get(integration) {
            Some(slot) => *slot,
            None => c
                .query_opt(
                    "SELECT slot + 1 FROM raw_payloads WHERE integration_id = ?1 ORDER BY received_at DESC, slot DESC LIMIT 1",
                    params![integration.as_str()],
                    |r| r.get::<i64>(0),
                )?
                .unwrap_or(0),
        } % RAW_PAYLOADS_KEPT;
        next_slot.insert(integration, slot + 1);
        c.execute_later(
            "INSERT INTO raw_payloads (integration_id, slot, received_at, body, truncated, outcome) VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
             ON CONFLICT (integration_id, slot) DO UPDATE SET received_at = excluded.received_at, body = excluded.body, \
             truncated = excluded.truncated, outcome = excluded.outcome",
            params![integration.as_str(), slot, ts(p.received_at), p.body, p.truncated, p.outcome],
        )?;
    }
    Ok(())
}

/// The `seq`s of the next `n` events in the log, in order, which the caller inserts explicitly; drawn once per
/// request rather than once per event.
///
/// On SQLite the single writer makes `max + 1` onwards safe; on PostgreSQL concurrent writers draw from the
/// column's sequence.
fn next_event_seqs(c: &dyn Conn, n: usize) -> Result<Vec<i64>> {
    if n == 0 {
        return Ok(Vec::new());
    }
    match c.dialect() {
        Dialect::Sqlite => {
            let first: i64 = c.query_one(
                "SELECT coalesce(max(seq), 0) + 1 FROM alert_events",
                params![],
                |r| r.get(0),
            )?;
            Ok((first..first + n as i64).collect())
        }
        Dialect::Postgres => c.query_all(
            // The identity column's sequence, by the name PostgreSQL gives it: looking it up costs a catalog read per call.
            "SELECT nextval('alert_events_seq_seq') FROM generate_series(1, ?1) ORDER BY 1",
            params![n as i64],
            |r| r.get(0),
        ),
    }
}

fn apply(
    c: &dyn Conn,
    cache: &noise::TriageCache,
    t: &Target,
    event: &AlertEvent,
    event_seq: i64,
    group: Option<&str>,
    now: DateTime<Utc>,
) -> Result<IngestOutcome> {
    let triaged = match &event.details {
        Some(d) if event.action == EventAction::Trigger => triage(c, cache, t, d, now)?,
        _ => Triaged::default(),
    };
    let t = triaged.routed.as_ref().unwrap_or(t);
    let retyped;
    let event = match triaged.severity {
        Some(severity) => {
            let mut e = event.clone();
            if let Some(d) = e.details.as_mut() {
                d.severity = severity;
            }
            retyped = e;
            &retyped
        }
        None => event,
    };
    let open = open_alert(c, t, &event.dedup_key, event.action != EventAction::Trigger)?;
    let open_seq = open.as_ref().map(|(_, seq)| *seq);
    let severity_before = open.as_ref().map(|(a, _)| a.severity);
    // An incident is as severe as its worst alert, also when an alert it holds gets worse.
    let raise_if_worse = |alert: &Alert| -> Result<()> {
        if severity_before == Some(alert.severity) {
            return Ok(());
        }
        if let (Some(incident), SeverityTarget::Incident(severity)) = (
            &alert.incident_id,
            t.ingest.severity_map.target(alert.severity),
        ) {
            let cause = SeverityCause::AlertWorsened {
                alert_id: alert.id.clone(),
                summary: alert.summary.clone(),
            };
            raise_to_alert(c, incident, severity, cause, &t.actor, now)?;
        }
        Ok(())
    };
    let mut opened_incident = None;
    // Opens or joins an incident for an alert that calls for one, unless triage found a reason it must not page.
    let mut page =
        |alert: &mut Alert, severity: Severity, group_value: Option<&str>| -> Result<()> {
            if let Some(reason) = &triaged.reason {
                alert.no_page_reason = Some(reason.clone());
                return Ok(());
            }
            alert.no_page_reason = None;
            match join_incident(c, t, alert, group_value, now)? {
                Some(incident) => {
                    let cause = SeverityCause::AlertJoined {
                        alert_id: alert.id.clone(),
                        summary: alert.summary.clone(),
                    };
                    raise_to_alert(c, &incident, severity, cause, &t.actor, now)?;
                    alert.incident_id = Some(incident);
                }
                None => {
                    alert.incident_id = Some(open_incident(c, alert, severity, &t.actor, now)?);
                    opened_incident = Some(severity);
                }
            }
            Ok(())
        };
    let (alert, alert_seq, result) = match apply_event(open.map(|(a, _)| a), event, &t.ingest, now)
    {
        AlertChange::Created {
            mut alert,
            open_incident,
        } => {
            let details = event
                .details
                .as_ref()
                .expect("a created alert comes from a trigger");
            let group_value = t
                .grouping
                .group_value(details)
                .or_else(|| group.map(str::to_owned));
            match open_incident {
                // A key that keeps firing and resolving joins the incident held open for it, and opens no new one.
                Some(_)
                    if triaged.reason.is_none()
                        && flapping(c, &t.ingest.service_id, &alert.dedup_key, now)? =>
                {
                    match flapping_incident(c, t, &alert, now)? {
                        Some(incident) => alert.incident_id = Some(incident),
                        None => alert.no_page_reason = Some(NoPageReason::Flapping),
                    }
                }
                Some(severity) => page(&mut alert, severity, group_value.as_deref())?,
                None => {
                    alert.no_page_reason =
                        Some(triaged.reason.clone().unwrap_or(NoPageReason::InfoSeverity))
                }
            }
            let seq = insert_alert(c, &alert, event_seq, group_value.as_deref())?;
            (Some(alert), Some(seq), IngestResult::Created)
        }
        AlertChange::Retriggered {
            mut alert,
            open_incident,
            changed,
        } => {
            if let Some(severity) = open_incident {
                page(&mut alert, severity, None)?;
            } else if changed {
                raise_if_worse(&alert)?;
            }
            if changed || open_incident.is_some() {
                update_alert(c, &alert)?;
            }
            (Some(alert), open_seq, IngestResult::Deduplicated)
        }
        AlertChange::Acknowledged { alert } | AlertChange::Resolved { alert } => {
            update_alert(c, &alert)?;
            follow_up_incident(c, &alert, &t.actor, now)?;
            let result = if alert.status == AlertStatus::Resolved {
                IngestResult::Resolved
            } else {
                IngestResult::Acknowledged
            };
            (Some(alert), open_seq, result)
        }
        AlertChange::Updated { alert, changed } => {
            if changed {
                update_alert(c, &alert)?;
                raise_if_worse(&alert)?;
            }
            (Some(alert), open_seq, IngestResult::Updated)
        }
        AlertChange::Ignored { alert, .. } => (alert, open_seq, IngestResult::Ignored),
    };
    if let (Some(a), Some(seq), false) = (&alert, alert_seq, result == IngestResult::Created) {
        record_activity(c, seq, a, event_seq)?;
    }
    c.execute_later(
        "INSERT INTO alert_events (seq, integration_id, alert_seq, dedup_key, action, result, received_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            event_seq,
            t.ingest.integration_id.as_str(),
            alert_seq,
            event.dedup_key,
            event.action.as_str(),
            result.as_str(),
            ts(now)
        ],
    )?;
    let incident_id = alert
        .as_ref()
        .and_then(|a| a.incident_id.clone())
        .filter(|_| result != IngestResult::Ignored);
    Ok(IngestOutcome {
        integration_id: t.ingest.integration_id.clone(),
        integration_kind: t.kind,
        alert_id: alert.map(|a| a.id),
        result,
        incident_id,
        opened_incident,
    })
}

#[async_trait]
impl IngestRepo for SqlStore {
    async fn group_state(
        &self,
        integration: &IntegrationId,
        group: &str,
    ) -> Result<Option<String>> {
        let (integration, group) = (integration.clone(), group.to_owned());
        self.read(move |c| {
            c.query_opt(
                "SELECT state FROM sender_groups WHERE integration_id = ?1 AND group_key = ?2",
                params![integration.as_str(), group],
                |r| r.get(0),
            )
        })
        .await
    }
    async fn batch(
        &self,
        key_hash: &str,
        kind: IntegrationKind,
        batch: Batch,
        now: DateTime<Utc>,
    ) -> Result<Vec<IngestOutcome>> {
        let key_hash = key_hash.to_owned();
        let triage = self.inner.triage.clone();
        self.write(move |c| apply_batch(c, &triage, &key_hash, kind, &batch, now))
            .await
    }

    async fn beat(&self, key_hash: &str, now: DateTime<Utc>) -> Result<HeartbeatStatus> {
        self.heartbeat_beat(key_hash, now).await
    }

    async fn change(
        &self,
        key_hash: &str,
        event: ChangeEvent,
        now: DateTime<Utc>,
    ) -> Result<ChangeRecord> {
        let key_hash = key_hash.to_owned();
        self.write(move |c| {
            let t = target(c, &key_hash, IntegrationKind::Pagerduty)?;
            let id = ChangeEventId::generate();
            c.execute(
                "INSERT INTO change_events (id, service_id, integration_id, summary, source, timestamp, custom_details, links, received_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![
                    id.as_str(),
                    t.ingest.service_id.as_str(),
                    t.ingest.integration_id.as_str(),
                    event.summary,
                    event.source,
                    event.timestamp.map(ts),
                    to_json(&event.custom_details),
                    to_json(&event.links),
                    ts(now)
                ],
            )?;
            c.find(
                "SELECT id, service_id, integration_id, summary, source, timestamp, custom_details, links, received_at FROM change_events WHERE id = ?1",
                params![id.as_str()],
                change_record,
                "change event",
                id.as_str(),
            )
        })
        .await
    }
}

pub(super) fn load_alert(c: &dyn Conn, id: &AlertId) -> Result<Alert> {
    c.find(
        &format!("{ALERT_SELECT} WHERE a.id = ?1"),
        params![id.as_str()],
        rows::alert,
        "alert",
        id.as_str(),
    )
}

#[async_trait]
impl AlertRepo for SqlStore {
    async fn get(&self, id: &AlertId) -> Result<Alert> {
        let id = id.clone();
        self.read(move |c| load_alert(c, &id)).await
    }

    async fn numbered(&self, id: &AlertId) -> Result<(Alert, i64)> {
        let id = id.clone();
        self.read(move |c| {
            c.find(
                &format!("{ALERT_SELECT} WHERE a.id = ?1"),
                params![id.as_str()],
                rows::alert_with_seq,
                "alert",
                id.as_str(),
            )
        })
        .await
    }

    async fn by_number(&self, number: i64) -> Result<Alert> {
        self.read(move |c| {
            c.find(
                &format!("{ALERT_SELECT} WHERE a.seq = ?1"),
                params![number],
                rows::alert,
                "alert",
                &number.to_string(),
            )
        })
        .await
    }

    async fn list(&self, f: AlertFilter) -> Result<Page<Alert>> {
        self.read(move |c| {
            let mut w = rows::Conditions::default();
            if let Some(seq) = parse_cursor(f.cursor.as_deref(), 'a')? {
                w.with("a.seq < {}", seq);
            }
            w.one_of("a.status", f.statuses.iter().map(|s| s.as_str().to_owned()));
            if let Some(s) = &f.service {
                w.with(
                    "a.service_id = {}",
                    load_service(c, s)?.id.as_str().to_owned(),
                );
            }
            if let Some(i) = &f.integration {
                w.with("a.integration_id = {}", i.as_str().to_owned());
            }
            if let Some(k) = &f.dedup_key {
                w.with("a.dedup_key = {}", k.clone());
            }
            if let Some(t) = f.created_after {
                w.with("a.created_at >= {}", ts(t));
            }
            if let Some(t) = f.created_before {
                w.with("a.created_at < {}", ts(t));
            }
            let limit = rows::page_limit(f.limit);
            let m = w.param(i64::from(limit + 1));
            let sql = format!(
                "{ALERT_SELECT} WHERE {} ORDER BY a.seq DESC LIMIT {m}",
                w.sql()
            );
            let mut found: Vec<(Alert, i64)> =
                c.query_all(&sql, &w.params(), rows::alert_with_seq)?;
            let next_cursor = (found.len() > limit as usize).then(|| {
                found.truncate(limit as usize);
                format!("a{}", found.last().map(|(_, s)| *s).unwrap_or_default())
            });
            Ok(Page {
                items: found.into_iter().map(|(a, _)| a).collect(),
                next_cursor,
            })
        })
        .await
    }

    async fn events(&self, id: &AlertId) -> Result<Vec<AlertEventRecord>> {
        let id = id.clone();
        self.read(move |c| {
            // The log has no index by alert; the alert's activity bounds the range of the log that holds its events.
            let (first, last, seq): (i64, i64, i64) = c.find(
                "SELECT v.first_event_seq, v.last_event_seq, a.seq FROM alerts a JOIN alert_activity v ON v.alert_seq = a.seq WHERE a.id = ?1",
                params![id.as_str()],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                "alert",
                id.as_str(),
            )?;
            c.query_all(
                "SELECT action, result, integration_id, received_at FROM alert_events \
                 WHERE seq BETWEEN ?1 AND ?2 AND alert_seq = ?3 ORDER BY seq",
                params![first, last, seq],
                |r| {
                let action: String = r.get(0)?;
                let result: String = r.get(1)?;
                let bad = |i| StoreError::Backend(format!("column {i}: bad enum"));
                Ok(AlertEventRecord {
                    action: EventAction::parse(&action).ok_or_else(|| bad(0))?,
                    result: IngestResult::parse(&result).ok_or_else(|| bad(1))?,
                    integration_id: IntegrationId::from_trusted(r.get(2)?),
                    received_at: r.time(3)?,
                })
            },
            )
        })
        .await
    }
}

/// Marks an incident's open alerts as its new status (used when a human acknowledges or resolves the incident).
pub(super) fn cascade_to_alerts(
    c: &dyn Conn,
    incident: &str,
    status: AlertStatus,
    now: DateTime<Utc>,
) -> Result<()> {
    let sql = match status {
        AlertStatus::Acknowledged => {
            "UPDATE alerts SET status = 'acknowledged', acknowledged_at = ?2 WHERE incident_id = ?1 AND status = 'triggered'"
        }
        AlertStatus::Resolved => {
            "UPDATE alerts SET status = 'resolved', resolved_at = ?2 WHERE incident_id = ?1 AND status <> 'resolved'"
        }
        AlertStatus::Triggered => return Ok(()),
    };
    c.execute_later(sql, params![incident, ts(now)])?;
    Ok(())
}
