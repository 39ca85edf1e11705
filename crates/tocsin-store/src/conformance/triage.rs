//! Triage through the store: rules, silences, maintenance windows, grouping, flapping and joining an incident
//! open upstream, each decided inside the ingest transaction of whichever backend runs it.

use super::{arbitrary_service_with_key, follow_up, pagerduty_key, t0, trigger, user};
use crate::conformance::refs::*;
use crate::*;
use chrono::Duration;
use serde_json::json;
use tocsin_domain::alert::{AlertStatus, EventAction};
use tocsin_domain::incident::{IncidentStatus, TimelineEvent};
use tocsin_domain::noise::NoPageReason;
use tocsin_domain::severity::AlertSeverity;
use tocsin_domain::timeline::JoinReason;

async fn event(store: &dyn Store, key: &str, e: tocsin_domain::alert::AlertEvent) -> IngestOutcome {
    store.ingest().event(key, e, t0()).await.expect("ingest")
}

async fn event_at(
    store: &dyn Store,
    key: &str,
    e: tocsin_domain::alert::AlertEvent,
    at: chrono::DateTime<chrono::Utc>,
) -> IngestOutcome {
    store.ingest().event(key, e, at).await.expect("ingest")
}

async fn reason(store: &dyn Store, outcome: &IngestOutcome) -> Option<NoPageReason> {
    let id = outcome.alert_id.clone().expect("an alert");
    store.alerts().get(&id).await.unwrap().no_page_reason
}

fn rule(v: serde_json::Value) -> tocsin_domain::noise::RuleSpec {
    serde_json::from_value(v).expect("a valid rule")
}

pub async fn rules_route_set_severity_and_suppress(store: &dyn Store) {
    let key = arbitrary_service_with_key(store, "edge").await;
    arbitrary_service_with_key(store, "db").await;
    let noise = store.noise();
    noise
        .create_rule(rule(json!({"name": "db to db", "matchers": ["team=db"], "action": {"type": "route", "service": "db"}, "position": 1})), t0())
        .await
        .unwrap();
    noise
        .create_rule(rule(json!({"name": "batch is minor", "matchers": ["source=~batch.*"], "action": {"type": "set_severity", "severity": "warning"}, "position": 2})), t0())
        .await
        .unwrap();
    let drop = noise
        .create_rule(rule(json!({"name": "drop staging", "matchers": ["env=staging"], "action": {"type": "suppress"}, "position": 3})), t0())
        .await
        .unwrap();

    let labelled = |dedup: &str, labels: &[(&str, &str)], source: &str| {
        let mut e = trigger(dedup, AlertSeverity::Critical);
        let d = e.details.as_mut().unwrap();
        d.labels = labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        d.source = source.into();
        e
    };

    // Routed: the alert and its incident belong to db, not to the service whose key sent it.
    let routed = event(store, &key, labelled("pg", &[("team", "db")], "mon")).await;
    let alert = store
        .alerts()
        .get(routed.alert_id.as_ref().unwrap())
        .await
        .unwrap();
    let db = store.services().get(&service_ref("db")).await.unwrap();
    assert_eq!(alert.service_id, db.id);
    let incident = store
        .incidents()
        .get(&routed.incident_id.clone().unwrap().into())
        .await
        .unwrap();
    assert_eq!(incident.services, vec![db.id.clone()]);

    // A lower severity: the alert pages as a warning would.
    let minor = event(store, &key, labelled("nightly", &[], "batch-7")).await;
    let alert = store
        .alerts()
        .get(minor.alert_id.as_ref().unwrap())
        .await
        .unwrap();
    assert_eq!(alert.severity, AlertSeverity::Warning);

    // Suppressed: stored with the rule that stopped it, no incident.
    let dropped = event(store, &key, labelled("stg", &[("env", "staging")], "mon")).await;
    assert_eq!(dropped.incident_id, None);
    assert_eq!(
        reason(store, &dropped).await,
        Some(NoPageReason::SuppressedByRule {
            rule_id: drop.id.clone(),
            rule_name: "drop staging".into()
        })
    );

    // A rule deleted stops applying to the very next event.
    noise.delete_rule(&drop.id).await.unwrap();
    let again = event(store, &key, labelled("stg2", &[("env", "staging")], "mon")).await;
    assert!(again.incident_id.is_some(), "{again:?}");
}

pub async fn silences_and_maintenance_hold_pages_until_they_end(store: &dyn Store) {
    let key = arbitrary_service_with_key(store, "api").await;
    let silence: tocsin_domain::noise::SilenceSpec = serde_json::from_value(json!({
        "matchers": ["team=core"],
        "starts_at": t0() - Duration::minutes(1),
        "ends_at": t0() + Duration::hours(1),
        "comment": "disk swap",
    }))
    .unwrap();
    let silence = store
        .noise()
        .create_silence(silence, "Alice".into(), t0())
        .await
        .unwrap();

    let muted = event(store, &key, trigger("disk", AlertSeverity::Critical)).await;
    assert_eq!(muted.incident_id, None);
    assert!(matches!(
        reason(store, &muted).await,
        Some(NoPageReason::Silenced { silence_id, .. }) if silence_id == silence.id
    ));

    // The same alert firing after the silence ended pages.
    let later = t0() + Duration::hours(2);
    let paged = event_at(store, &key, trigger("disk", AlertSeverity::Critical), later).await;
    assert!(paged.incident_id.is_some(), "{paged:?}");

    // A maintenance window on the service holds its new alerts; outside the window they page.
    let window: tocsin_domain::noise::MaintenanceSpec = serde_json::from_value(json!({
        "service": "api",
        "description": "failover test",
        "schedule": {"type": "once", "starts_at": later, "ends_at": later + Duration::minutes(30)},
    }))
    .unwrap();
    let window = store
        .noise()
        .create_maintenance(window, later)
        .await
        .unwrap();
    let held = event_at(
        store,
        &key,
        trigger("cpu", AlertSeverity::Critical),
        later + Duration::minutes(10),
    )
    .await;
    assert_eq!(held.incident_id, None);
    assert!(matches!(
        reason(store, &held).await,
        Some(NoPageReason::InMaintenance { window_id, .. }) if window_id == window.id
    ));
    let after = event_at(
        store,
        &key,
        trigger("cpu", AlertSeverity::Critical),
        later + Duration::minutes(31),
    )
    .await;
    assert!(after.incident_id.is_some(), "{after:?}");
}

pub async fn grouping_and_upstream_incidents_join_alerts(store: &dyn Store) {
    // A service that groups alerts opened within 10 minutes into one incident.
    let spec = serde_json::from_value(
        json!({"name": "checkout", "grouping": {"mode": "time_window", "minutes": 10}}),
    )
    .unwrap();
    store.services().create(spec, t0()).await.unwrap();
    let key = pagerduty_key(store, "checkout").await;
    let first = event(store, &key, trigger("a", AlertSeverity::Critical)).await;
    let second = event_at(
        store,
        &key,
        trigger("b", AlertSeverity::Error),
        t0() + Duration::minutes(5),
    )
    .await;
    assert!(first.opened_incident.is_some());
    assert_eq!(second.opened_incident, None, "{second:?}");
    assert_eq!(second.incident_id, first.incident_id);
    let third = event_at(
        store,
        &key,
        trigger("c", AlertSeverity::Error),
        t0() + Duration::minutes(30),
    )
    .await;
    assert!(
        third.opened_incident.is_some(),
        "outside the window: {third:?}"
    );
    let joined = store
        .incidents()
        .alerts(&first.incident_id.clone().unwrap().into())
        .await
        .unwrap();
    assert_eq!(joined.len(), 2);

    // A service depending on one with an open incident: its new alert joins that incident.
    let web = serde_json::from_value(json!({"name": "web", "depends_on": ["checkout"]})).unwrap();
    store.services().create(web, t0()).await.unwrap();
    let web_key = pagerduty_key(store, "web").await;
    let downstream = event_at(
        store,
        &web_key,
        trigger("5xx", AlertSeverity::Critical),
        t0() + Duration::minutes(31),
    )
    .await;
    assert_eq!(downstream.opened_incident, None, "{downstream:?}");
    assert_eq!(downstream.incident_id, third.incident_id);
    let upstream: IncidentRef = third.incident_id.clone().unwrap().into();
    let web = store.services().get(&service_ref("web")).await.unwrap();
    let incident = store.incidents().get(&upstream).await.unwrap();
    assert!(
        incident.services.contains(&web.id),
        "it now affects web too"
    );
    let timeline = store.incidents().timeline(&upstream).await.unwrap();
    let why: Vec<&JoinReason> = timeline
        .iter()
        .filter_map(|r| match &r.entry.event {
            TimelineEvent::AlertAdded { why, .. } => Some(why),
            _ => None,
        })
        .collect();
    assert_eq!(
        why,
        [&JoinReason::Upstream {
            service: "web".into(),
            upstream: "checkout".into()
        }],
        "the timeline records why the alert joined"
    );
}

pub async fn a_flapping_alert_holds_its_incident_open(store: &dyn Store) {
    let key = arbitrary_service_with_key(store, "queue").await;
    // Firing and resolving every few minutes: once it counts as flapping, its fires keep to one incident.
    let mut incidents = Vec::new();
    let mut at = t0();
    for _ in 0..8 {
        let fired = event_at(store, &key, trigger("lag", AlertSeverity::Critical), at).await;
        incidents.push(
            fired
                .incident_id
                .clone()
                .expect("every fire belongs to an incident"),
        );
        at += Duration::minutes(2);
        event_at(store, &key, follow_up(EventAction::Resolve, "lag"), at).await;
        at += Duration::minutes(2);
    }
    assert_eq!(
        incidents[incidents.len() - 1],
        incidents[incidents.len() - 2],
        "once flapping, fires keep to one incident"
    );
    assert_ne!(
        incidents[0], incidents[1],
        "before it flaps, each fire is its own incident"
    );
    let incident = store
        .incidents()
        .get(&incidents.last().unwrap().clone().into())
        .await
        .unwrap();
    assert_ne!(
        incident.status,
        IncidentStatus::Resolved,
        "a flapping alert's resolve leaves its incident open"
    );
    let timeline = store
        .incidents()
        .timeline(&incident.id.clone().into())
        .await
        .unwrap();
    assert!(
        timeline.iter().any(|r| matches!(
            r.entry.event,
            TimelineEvent::AlertResolved {
                held_open: true,
                ..
            }
        )),
        "{timeline:?}"
    );

    // Once a person resolves it, further flapping fires are recorded and page no one.
    store
        .incidents()
        .resolve(&incident.id.clone().into(), user(), at)
        .await
        .unwrap();
    let fired = event_at(store, &key, trigger("lag", AlertSeverity::Critical), at).await;
    assert_eq!(fired.opened_incident, None, "{fired:?}");
    assert_eq!(reason(store, &fired).await, Some(NoPageReason::Flapping));
    let alert = store
        .alerts()
        .get(fired.alert_id.as_ref().unwrap())
        .await
        .unwrap();
    assert_eq!(alert.status, AlertStatus::Triggered);
}
