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

    let view = repo.page_view(&key("public")).await.unwrap();
    assert_eq!(view.page.id, page.id);
    let names: Vec<&str> = view.components.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["Docs", "Shop", "Payments"], "in position order");
    assert!(view.open_severities.is_empty());

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
    let view = repo.page_view(&key("public")).await.unwrap();
    assert_eq!(
        view.open_severities.get(&pay.id).map(Vec::as_slice),
        Some(&[severity][..])
    );
    assert_eq!(
        view.open_severities.len(),
        1,
        "only Payments stands for checkout"
    );
    store
        .incidents()
        .resolve(&incident, Actor::system(), t0() + Duration::minutes(5))
        .await
        .unwrap();
    assert!(
        repo.page_view(&key("public"))
            .await
            .unwrap()
            .open_severities
            .is_empty()
    );

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
    repo.delete_component(&key("public"), &group.id)
        .await
        .unwrap();
    let view = repo.page_view(&key("public")).await.unwrap();
    let left: Vec<(&str, Option<&tocsin_domain::ids::ComponentId>)> = view
        .components
        .iter()
        .map(|c| (c.name.as_str(), c.group_id.as_ref()))
        .collect();
    assert_eq!(left, [("Docs", None), ("Card payments", None)]);
    assert_eq!(view.components[0].id, docs.id);

    repo.delete_status_page(&key("public")).await.unwrap();
    assert!(matches!(
        repo.page_view(&key("public")).await,
        Err(StoreError::NotFound { .. })
    ));
    assert_eq!(repo.status_pages().await.unwrap().len(), 1);
}
