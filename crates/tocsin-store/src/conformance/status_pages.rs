//! Conformance of status pages: pages and their components, groups, and what a page shows of open incidents.

use super::{arbitrary_service_with_key, t0, trigger};
use crate::*;
use chrono::Duration;
use tocsin_domain::ids::ServiceId;
use tocsin_domain::incident::Actor;
use tocsin_domain::refs::{IncidentRef, Key, ServiceRef};
use tocsin_domain::severity::AlertSeverity;
use tocsin_domain::status_page::{ComponentSpec, ComponentStatus, StatusPageSpec, StatusSetting};

fn key(s: &str) -> Key {
    s.parse().unwrap()
}

fn page_spec(slug: &str) -> StatusPageSpec {
    serde_json::from_value(serde_json::json!({"name": "Example status", "slug": slug})).unwrap()
}

fn component(name: &str, services: Vec<ServiceId>) -> ComponentSpec {
    serde_json::from_value(serde_json::json!({"name": name, "services": services})).unwrap()
}

pub async fn status_pages_show_their_components_and_the_open_incidents_on_them(store: &dyn Store) {
    let routing_key = arbitrary_service_with_key(store, "checkout").await;
    let checkout = store
        .services()
        .get(&ServiceRef::parse("checkout"))
        .await
        .unwrap()
        .id;
    let repo = store.status_pages();
    let (page, created) = repo
        .put_status_page(&key("public"), page_spec("public"), t0())
        .await
        .unwrap();
    assert!(created);
    let (_, created) = repo
        .put_status_page(&key("public"), page_spec("public"), t0())
        .await
        .unwrap();
    assert!(!created, "a page is replaced where it is");
    repo.put_status_page(&key("other"), page_spec("other"), t0())
        .await
        .unwrap();
    let made_twice = repo.create_status_page(page_spec("other"), t0()).await;
    assert!(
        matches!(
            made_twice,
            Err(StoreError::Conflict(Conflict::NameTaken { .. }))
        ),
        "creating never replaces: {made_twice:?}"
    );
    let taken = repo
        .put_status_page(&key("other"), page_spec("public"), t0())
        .await;
    assert!(
        matches!(taken, Err(StoreError::Conflict(Conflict::NameTaken { .. }))),
        "{taken:?}"
    );

    let group = repo
        .create_component(
            &key("public"),
            ComponentSpec {
                group: true,
                position: 1,
                ..component("Shop", vec![])
            },
            t0(),
        )
        .await
        .unwrap();
    let pay = repo
        .create_component(
            &key("public"),
            ComponentSpec {
                group_id: Some(group.id.clone()),
                position: 2,
                ..component("Payments", vec![checkout.clone(), checkout.clone()])
            },
            t0(),
        )
        .await
        .unwrap();
    assert_eq!(pay.services, vec![checkout], "each service once");
    let docs = repo
        .create_component(
            &key("public"),
            ComponentSpec {
                position: 0,
                status: StatusSetting::Manual(ComponentStatus::UnderMaintenance),
                ..component("Docs", vec![])
            },
            t0(),
        )
        .await
        .unwrap();
    let refused = repo
        .create_component(
            &key("public"),
            ComponentSpec {
                group_id: Some(pay.id.clone()),
                ..component("Nowhere", vec![ServiceId::generate()])
            },
            t0(),
        )
        .await;
    match refused {
        Err(StoreError::Invalid(e)) => assert_eq!(e.fields(), ["group_id", "services"]),
        other => panic!("{other:?}"),
    }
    let elsewhere = repo
        .create_component(
            &key("other"),
            ComponentSpec {
                group_id: Some(group.id.clone()),
                ..component("Elsewhere", vec![])
            },
            t0(),
        )
        .await;
    assert!(
        matches!(elsewhere, Err(StoreError::Invalid(_))),
        "a group of another page is no group here"
    );

    let view = repo.page_view(&key("public"), None).await.unwrap();
    assert_eq!(view.page.id, page.id);
    let names: Vec<&str> = view.components.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["Docs", "Shop", "Payments"], "in position order");
    let status_of = |view: &PageView, id: &tocsin_domain::ids::ComponentId| view.statuses[id];
    assert_eq!(
        (
            status_of(&view, &docs.id),
            status_of(&view, &group.id),
            status_of(&view, &pay.id)
        ),
        (
            ComponentStatus::UnderMaintenance,
            ComponentStatus::Operational,
            ComponentStatus::Operational
        ),
        "recorded as each component was written"
    );
    let version = view.version;
    assert!(
        repo.record_statuses(t0()).await.unwrap().is_empty(),
        "nothing moved"
    );

    let opened = store
        .ingest()
        .event(
            &routing_key,
            trigger("db-down", AlertSeverity::Critical),
            t0(),
        )
        .await
        .unwrap();
    let incident = IncidentRef::Id(opened.incident_id.clone().unwrap());
    let severity = store.incidents().get(&incident).await.unwrap().severity;
    let outage = page.severity_map.of(severity);
    assert_eq!(
        repo.page_view(&key("public"), None).await.unwrap().statuses[&pay.id],
        ComponentStatus::Operational,
        "a status is what was recorded, until it is recorded again"
    );
    let moved = repo
        .record_statuses(t0() + Duration::minutes(1))
        .await
        .unwrap();
    assert_eq!(moved, [key("public")], "only the page showing checkout");
    let view = repo.page_view(&key("public"), None).await.unwrap();
    assert_eq!(
        (status_of(&view, &pay.id), status_of(&view, &group.id)),
        (outage, outage)
    );
    assert_eq!(
        status_of(&view, &docs.id),
        ComponentStatus::UnderMaintenance
    );
    assert!(view.version > version, "a recorded change counts");
    store
        .incidents()
        .resolve(&incident, Actor::system(), t0() + Duration::minutes(5))
        .await
        .unwrap();
    repo.record_statuses(t0() + Duration::minutes(6))
        .await
        .unwrap();
    let view = repo
        .page_view(&key("public"), Some(t0() - Duration::days(1)))
        .await
        .unwrap();
    assert_eq!(status_of(&view, &pay.id), ComponentStatus::Operational);
    let spans: Vec<_> = view.history[&pay.id]
        .iter()
        .map(|s| (s.status, s.started_at, s.ended_at))
        .collect();
    assert_eq!(
        spans,
        [
            (
                ComponentStatus::Operational,
                t0(),
                Some(t0() + Duration::minutes(1))
            ),
            (
                outage,
                t0() + Duration::minutes(1),
                Some(t0() + Duration::minutes(6))
            ),
            (
                ComponentStatus::Operational,
                t0() + Duration::minutes(6),
                None
            ),
        ],
        "each status from when it was recorded until the next"
    );
    assert_eq!(view.history[&docs.id].len(), 1);

    // Replacing a component rewrites its services; a group with members stays one.
    let moved = repo
        .replace_component(
            &key("public"),
            &pay.id,
            ComponentSpec {
                position: 5,
                ..component("Card payments", vec![])
            },
            t0() + Duration::minutes(6),
        )
        .await
        .unwrap();
    assert_eq!(
        (
            moved.name.as_str(),
            moved.services.len(),
            moved.group_id.as_ref()
        ),
        ("Card payments", 0, None)
    );
    repo.replace_component(
        &key("public"),
        &pay.id,
        ComponentSpec {
            group_id: Some(group.id.clone()),
            position: 5,
            ..component("Card payments", vec![])
        },
        t0(),
    )
    .await
    .unwrap();
    let ungroup = repo
        .replace_component(&key("public"), &group.id, component("Shop", vec![]), t0())
        .await;
    assert!(
        matches!(ungroup, Err(StoreError::Invalid(_))),
        "{ungroup:?}"
    );
    repo.delete_component(&key("public"), &group.id, t0())
        .await
        .unwrap();
    let view = repo.page_view(&key("public"), None).await.unwrap();
    let left: Vec<(&str, Option<&tocsin_domain::ids::ComponentId>)> = view
        .components
        .iter()
        .map(|c| (c.name.as_str(), c.group_id.as_ref()))
        .collect();
    assert_eq!(left, [("Docs", None), ("Card payments", None)]);
    assert_eq!(view.components[0].id, docs.id);

    repo.delete_status_page(&key("public")).await.unwrap();
    assert!(matches!(
        repo.page_view(&key("public"), None).await,
        Err(StoreError::NotFound { .. })
    ));
    assert_eq!(repo.status_pages().await.unwrap().len(), 1);
}

pub async fn public_incidents_keep_their_updates_and_what_they_say_of_components(
    store: &dyn Store,
) {
    use tocsin_domain::public_incidents::{
        Affected, PublicIncidentSpec, PublicStatus, PublicUpdateSpec,
    };
    use tocsin_domain::status_page::Indicator;
    let repo = store.status_pages();
    repo.put_status_page(&key("public"), page_spec("public"), t0())
        .await
        .unwrap();
    let group = repo
        .create_component(
            &key("public"),
            ComponentSpec {
                group: true,
                ..component("Shop", vec![])
            },
            t0(),
        )
        .await
        .unwrap();
    let pay = repo
        .create_component(&key("public"), component("Payments", vec![]), t0())
        .await
        .unwrap();
    let affected = |status| Affected {
        component_id: pay.id.clone(),
        status,
    };
    let spec = |components: Vec<Affected>| PublicIncidentSpec {
        incident: None,
        name: "Payments fail".into(),
        body: "We are looking into it.".into(),
        status: PublicStatus::Investigating,
        impact: None,
        components,
    };
    let refused = repo
        .publish(
            &key("public"),
            None,
            spec(vec![Affected {
                component_id: group.id.clone(),
                status: ComponentStatus::MajorOutage,
            }]),
            Actor::system(),
            t0(),
        )
        .await;
    assert!(
        matches!(refused, Err(StoreError::Invalid(_))),
        "{refused:?}"
    );

    let first = repo
        .publish(
            &key("public"),
            None,
            spec(vec![affected(ComponentStatus::PartialOutage)]),
            Actor::system(),
            t0(),
        )
        .await
        .unwrap();
    assert_eq!(
        (first.impact, first.updates.len(), first.resolved_at),
        (Indicator::Major, 1, None)
    );
    assert_eq!(first.updates[0].changes.len(), 1);
    assert_eq!(
        repo.page_view(&key("public"), None).await.unwrap().statuses[&pay.id],
        ComponentStatus::PartialOutage,
        "what a public incident says of a component is recorded as it is published"
    );
    let later = t0() + Duration::minutes(10);
    let second = repo
        .publish(&key("public"), None, spec(vec![]), Actor::system(), later)
        .await
        .unwrap();

    let monitoring = repo
        .update_public(
            &key("public"),
            &first.id,
            PublicUpdateSpec {
                status: PublicStatus::Monitoring,
                body: "A fix is out.".into(),
                components: None,
                all_affected: None,
            },
            Actor::system(),
            t0() + Duration::minutes(20),
        )
        .await
        .unwrap();
    assert_eq!(monitoring.monitoring_at, Some(t0() + Duration::minutes(20)));
    assert_eq!(
        monitoring.components,
        [affected(ComponentStatus::PartialOutage)]
    );
    assert!(
        monitoring.updates[0].changes.is_empty(),
        "nothing named, nothing changed"
    );
    let eased = repo
        .update_public(
            &key("public"),
            &first.id,
            PublicUpdateSpec {
                status: PublicStatus::Monitoring,
                body: "Payments slow but working.".into(),
                components: None,
                all_affected: Some(ComponentStatus::DegradedPerformance),
            },
            Actor::system(),
            t0() + Duration::minutes(25),
        )
        .await
        .unwrap();
    assert_eq!(
        (eased.components.clone(), eased.impact, eased.monitoring_at),
        (
            vec![affected(ComponentStatus::DegradedPerformance)],
            Indicator::Minor,
            Some(t0() + Duration::minutes(20))
        ),
        "the impact follows the components; monitoring keeps when it began"
    );
    let resolved = repo
        .update_public(
            &key("public"),
            &first.id,
            PublicUpdateSpec {
                status: PublicStatus::Resolved,
                body: "Fixed.".into(),
                components: None,
                all_affected: None,
            },
            Actor::system(),
            t0() + Duration::minutes(30),
        )
        .await
        .unwrap();
    assert_eq!(resolved.resolved_at, Some(t0() + Duration::minutes(30)));
    assert_eq!(
        resolved.components,
        [affected(ComponentStatus::Operational)]
    );
    let statuses: Vec<PublicStatus> = resolved.updates.iter().map(|u| u.status).collect();
    assert_eq!(
        statuses,
        [
            PublicStatus::Resolved,
            PublicStatus::Monitoring,
            PublicStatus::Monitoring,
            PublicStatus::Investigating
        ],
        "newest first"
    );

    let view = repo.page_view(&key("public"), None).await.unwrap();
    let ids: Vec<_> = view.incidents.iter().map(|i| i.id.clone()).collect();
    assert_eq!(ids, [second.id.clone(), first.id.clone()], "newest first");
    assert_eq!(
        repo.public_incidents(&key("public")).await.unwrap().len(),
        2
    );
    repo.delete_component(&key("public"), &pay.id, t0())
        .await
        .unwrap();
    let view = repo.page_view(&key("public"), None).await.unwrap();
    assert!(
        view.incidents.iter().all(|i| i.components.is_empty()),
        "a removed component is named by no public incident"
    );
    let elsewhere = repo
        .update_public(
            &key("public"),
            &tocsin_domain::ids::PublicIncidentId::generate(),
            PublicUpdateSpec {
                status: PublicStatus::Resolved,
                body: "x".into(),
                components: None,
                all_affected: None,
            },
            Actor::system(),
            later,
        )
        .await;
    assert!(matches!(elsewhere, Err(StoreError::NotFound { .. })));
}
