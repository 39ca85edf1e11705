//! Two stores on one database, standing for two Tocsin processes: what they do at the same moment must end as if
//! one had gone first.

use super::paging::paged_service;
use super::*;
use crate::conformance::refs::*;
use tocsin_domain::contact::Purpose;

/// Both processes receive the same new dedup key at once, for many keys: each key opens exactly one alert and
/// one incident, and the other process's event deduplicates against it.
pub async fn racing_ingest_of_a_new_key_opens_one_incident(a: &dyn Store, b: &dyn Store) {
    let key = arbitrary_service_with_key(a, "race").await;
    const KEYS: usize = 20;
    for i in 0..KEYS {
        let dedup = format!("disk-{i}");
        let (x, y) = tokio::join!(
            a.ingest()
                .event(&key, trigger(&dedup, AlertSeverity::Critical), t0()),
            b.ingest()
                .event(&key, trigger(&dedup, AlertSeverity::Critical), t0()),
        );
        let (x, y) = (x.expect("first sender"), y.expect("second sender"));
        let mut results = [x.result, y.result];
        results.sort_by_key(|r| r.as_str());
        assert_eq!(
            results,
            [IngestResult::Created, IngestResult::Deduplicated],
            "{dedup}"
        );
        assert_eq!(x.alert_id, y.alert_id, "{dedup}: one alert");
        assert_eq!(x.incident_id, y.incident_id, "{dedup}: one incident");
        assert_eq!(
            [x.opened_incident, y.opened_incident]
                .iter()
                .filter(|o| o.is_some())
                .count(),
            1,
            "{dedup}: one of them opened the incident"
        );
    }
    let incidents = b
        .incidents()
        .list(IncidentFilter {
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(incidents.items.len(), KEYS);
    let numbers: std::collections::BTreeSet<i64> =
        incidents.items.iter().map(|i| i.number).collect();
    assert_eq!(numbers.len(), KEYS, "numbers are unique");
    let alerts = a
        .alerts()
        .list(AlertFilter {
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(alerts.items.len(), KEYS);
    assert!(alerts.items.iter().all(|a| a.event_count == 2));
}

/// One process acknowledges while the other escalates by hand: the incident ends acknowledged with its escalation
/// stopped, and nothing the acknowledgement should have cancelled is still waiting to be sent.
pub async fn racing_acknowledge_and_escalate_end_consistent(a: &dyn Store, b: &dyn Store) {
    let (key, _ann, _ben) = paged_service(a).await;
    let opened = a
        .ingest()
        .event(&key, trigger("boom", AlertSeverity::Critical), t0())
        .await
        .unwrap();
    let incident = opened.incident_id.unwrap();
    a.engine()
        .fire_escalations(t0(), 100, Channels::ALL)
        .await
        .unwrap();

    let now = t0() + Duration::minutes(1);
    let incident = IncidentRef::Id(incident);
    let (acked, escalated) = tokio::join!(
        a.incidents().acknowledge(&incident, user(), now),
        b.escalation()
            .escalate(&incident, None, user(), Channels::ALL, now),
    );
    acked.expect("acknowledging wins or goes second, never fails");
    if let Err(e) = escalated {
        // Escalating after the acknowledgement pages that level once; it may only fail as a refused transition.
        assert!(matches!(e, StoreError::Transition(_)), "{e}");
    }

    let got = b.incidents().get(&incident).await.unwrap();
    assert_eq!(got.status, IncidentStatus::Acknowledged);
    let e = a
        .escalation()
        .incident_escalation(&incident)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(e.escalation.next_at, None, "the escalation stopped");
    let log = a
        .contacts()
        .deliveries(DeliveryFilter {
            incident: Some(incident_ref(&incident.to_string())),
            ..Default::default()
        })
        .await
        .unwrap();
    for d in log.iter().filter(|d| d.status == DeliveryStatus::Pending) {
        assert!(
            matches!(
                d.purpose,
                Purpose::Page {
                    after_acknowledgement: true,
                    ..
                }
            ),
            "a page planned before the acknowledgement is still pending: {d:?}"
        );
    }
}

/// Both processes run engine steps at once (as they would if the lease were ever held twice): every due level
/// fires once, and every due delivery is claimed by exactly one of them.
pub async fn racing_engines_fire_each_level_and_claim_each_delivery_once(
    a: &dyn Store,
    b: &dyn Store,
) {
    let (key, ann, _ben) = paged_service(a).await;
    const INCIDENTS: usize = 10;
    for i in 0..INCIDENTS {
        a.ingest()
            .event(
                &key,
                trigger(&format!("k{i}"), AlertSeverity::Critical),
                t0(),
            )
            .await
            .unwrap();
    }
    let (x, y) = tokio::join!(
        a.engine().fire_escalations(t0(), 100, Channels::ALL),
        b.engine().fire_escalations(t0(), 100, Channels::ALL),
    );
    let (x, y) = (x.unwrap(), y.unwrap());
    assert_eq!(x.escalations + y.escalations, INCIDENTS as u32);
    assert_eq!(
        x.deliveries_planned + y.deliveries_planned,
        INCIDENTS as u32
    );

    let claim_for = Duration::minutes(1);
    let (x, y) = tokio::join!(
        a.engine()
            .claim_deliveries("a", t0(), claim_for, 100, false),
        b.engine()
            .claim_deliveries("b", t0(), claim_for, 100, false),
    );
    let (x, y) = (x.unwrap(), y.unwrap());
    let mut ids: Vec<_> = x.iter().chain(&y).map(|d| d.id.clone()).collect();
    assert_eq!(ids.len(), INCIDENTS, "every due page claimed");
    ids.sort_by(|p, q| p.as_str().cmp(q.as_str()));
    ids.dedup();
    assert_eq!(ids.len(), INCIDENTS, "no page claimed twice");
    assert!(x.iter().chain(&y).all(|d| d.user_id == ann));
}
