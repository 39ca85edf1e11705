//! Conformance of runbooks: their versions, and which incidents show them.

use super::{arbitrary_service_with_key, t0, trigger};
use crate::conformance::refs::*;
use crate::*;
use chrono::Duration;
use tocsin_domain::incident::{Actor, ActorKind};
use tocsin_domain::noise::Matcher;
use tocsin_domain::refs::Key;
use tocsin_domain::runbooks::RunbookSpec;
use tocsin_domain::severity::{AlertSeverity, Severity};

fn writer(name: &str) -> Actor {
    Actor {
        kind: ActorKind::User,
        id: None,
        name: name.into(),
    }
}

fn spec(title: &str, body: &str) -> RunbookSpec {
    RunbookSpec {
        title: title.into(),
        body: body.into(),
        services: vec![],
        matchers: vec![],
        steps: vec![],
    }
}

pub async fn runbooks_keep_their_versions_and_show_on_the_incidents_they_are_for(
    store: &dyn Store,
) {
    let runbooks = store.runbooks();
    let key: Key = "checkout-latency".parse().unwrap();

    let first = runbooks
        .put_runbook(
            key.clone(),
            spec(" Checkout latency ", "1. Look at the graph"),
            None,
            writer("Ana"),
            t0(),
        )
        .await
        .unwrap();
    assert_eq!(
        (
            first.summary.version,
            first.summary.title.as_str(),
            first.summary.updated_by.name.as_str()
        ),
        (1, "Checkout latency", "Ana")
    );
    // The same text again is no new version: applying the same files twice changes nothing.
    let same = runbooks
        .put_runbook(
            key.clone(),
            spec("Checkout latency", "1. Look at the graph"),
            None,
            writer("Bo"),
            t0() + Duration::minutes(1),
        )
        .await
        .unwrap();
    assert_eq!(same, first);
    let second = runbooks
        .put_runbook(
            key.clone(),
            spec("Checkout latency", "1. Roll back the deploy"),
            None,
            writer("Bo"),
            t0() + Duration::minutes(2),
        )
        .await
        .unwrap();
    assert_eq!(
        (
            second.summary.version,
            second.summary.updated_by.name.as_str()
        ),
        (2, "Bo")
    );
    let history = runbooks.runbook_versions(&key).await.unwrap();
    assert_eq!(
        history
            .iter()
            .map(|v| (v.version, v.written_by.name.as_str()))
            .collect::<Vec<_>>(),
        [(2, "Bo"), (1, "Ana")]
    );
    assert_eq!(
        runbooks.runbook(&key, Some(1)).await.unwrap().body,
        "1. Look at the graph"
    );
    assert_eq!(
        runbooks.runbook(&key, None).await.unwrap().body,
        "1. Roll back the deploy"
    );
    assert!(matches!(
        runbooks.runbook(&key, Some(3)).await,
        Err(StoreError::NotFound { .. })
    ));

    // A change made to what someone read does not undo one saved since; a create does not overwrite.
    match runbooks
        .put_runbook(
            key.clone(),
            spec("Checkout latency", "stale"),
            Some(1),
            writer("Cy"),
            t0(),
        )
        .await
    {
        Err(StoreError::Conflict(Conflict::Changed { now: 2, .. })) => {}
        other => panic!("{other:?}"),
    }
    match runbooks
        .put_runbook(
            key.clone(),
            spec("Another", ""),
            Some(0),
            writer("Cy"),
            t0(),
        )
        .await
    {
        Err(StoreError::Conflict(Conflict::NameTaken { .. })) => {}
        other => panic!("{other:?}"),
    }
    // The newest 100 versions are kept.
    let long: Key = "long-lived".parse().unwrap();
    for n in 1..=102 {
        runbooks
            .put_runbook(
                long.clone(),
                spec("Long", &format!("step {n}")),
                None,
                writer("Ana"),
                t0(),
            )
            .await
            .unwrap();
    }
    let kept = runbooks.runbook_versions(&long).await.unwrap();
    assert_eq!(
        (
            kept.len(),
            kept.first().map(|v| v.version),
            kept.last().map(|v| v.version)
        ),
        (100, Some(102), Some(3))
    );
    assert!(matches!(
        runbooks.runbook(&long, Some(2)).await,
        Err(StoreError::NotFound { .. })
    ));
    runbooks.delete_runbook(&long).await.unwrap();

    // What a runbook names must exist.
    let mut broken = spec("Broken", "");
    broken.services = vec![tocsin_domain::ids::ServiceId::generate()];
    match runbooks
        .put_runbook("broken".parse().unwrap(), broken, None, writer("Ana"), t0())
        .await
    {
        Err(StoreError::Invalid(e)) => assert_eq!(e.0[0].field, "services[0]", "{e:?}"),
        other => panic!("{other:?}"),
    }

    // Shown on incidents of its services, and on those with an alert its matchers accept.
    let key_api = arbitrary_service_with_key(store, "api").await;
    store
        .services()
        .create(
            serde_json::from_value(serde_json::json!({"name": "web"})).unwrap(),
            t0(),
        )
        .await
        .unwrap();
    let api = store.services().get(&service_ref("api")).await.unwrap();
    let mut by_service = spec("API down", "Restart it");
    by_service.services = vec![api.id.clone()];
    runbooks
        .put_runbook(
            "api-down".parse().unwrap(),
            by_service,
            None,
            writer("Ana"),
            t0(),
        )
        .await
        .unwrap();
    let mut by_alert = spec("Core team alerts", "Page core");
    by_alert.matchers = vec![
        Matcher::parse("team=core").unwrap(),
        Matcher::parse("@service=api").unwrap(),
    ];
    runbooks
        .put_runbook("core".parse().unwrap(), by_alert, None, writer("Ana"), t0())
        .await
        .unwrap();

    let opened = store
        .ingest()
        .event(&key_api, trigger("db-down", AlertSeverity::Critical), t0())
        .await
        .unwrap();
    let on_api = incident_ref(opened.incident_id.unwrap().as_str());
    let shown: Vec<String> = runbooks
        .incident_runbooks(&on_api)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.summary.key.to_string())
        .collect();
    assert_eq!(shown, ["api-down", "core"]);

    let on_web = store
        .incidents()
        .declare(
            NewIncident {
                title: "Web is slow".into(),
                description: String::new(),
                severity: Severity::Sev2,
                services: vec![service_ref("web")],
            },
            writer("Ana"),
            t0(),
        )
        .await
        .unwrap();
    assert!(
        runbooks
            .incident_runbooks(&incident_ref(on_web.id.as_str()))
            .await
            .unwrap()
            .is_empty()
    );

    runbooks.delete_runbook(&key).await.unwrap();
    assert!(matches!(
        runbooks.runbook(&key, None).await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        runbooks.runbook_versions(&key).await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        runbooks.delete_runbook(&key).await,
        Err(StoreError::NotFound { .. })
    ));
    assert_eq!(
        runbooks
            .runbooks()
            .await
            .unwrap()
            .iter()
            .map(|r| r.title.as_str())
            .collect::<Vec<_>>(),
        ["API down", "Core team alerts"]
    );
}
