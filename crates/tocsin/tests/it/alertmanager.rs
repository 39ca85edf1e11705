//! A real PagerDuty sender: Prometheus Alertmanager delivering to `/v2/enqueue`, firing and then resolving.

use crate::support::{AlertmanagerPeer, TestApp, poll};
use chrono::{DateTime, Duration as Span, SecondsFormat, Utc};
use reqwest::StatusCode;
use serde_json::{Value, json};

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn config(key: &str, enqueue_url: &str) -> Value {
    with_receiver(json!({
        "name": "tocsin",
        "pagerduty_configs": [{ "routing_key": key, "url": enqueue_url, "send_resolved": true }],
    }))
}

/// Alertmanager sending every alert, grouped by name, to `receiver` (named `tocsin`) within about a second.
fn with_receiver(receiver: Value) -> Value {
    json!({
        "global": { "resolve_timeout": "5s" },
        "route": {
            "receiver": "tocsin",
            "group_by": ["alertname"],
            "group_wait": "1s",
            "group_interval": "1s",
            "repeat_interval": "1h",
        },
        "receivers": [receiver],
    })
}

#[tokio::test]
async fn alertmanager_pages_and_resolves_through_the_pagerduty_endpoint() {
    let app = TestApp::spawn().await;
    let key = app.service_with_key("checkout").await;
    let Some(peer) = AlertmanagerPeer::start(
        &app.client,
        &config(&key, &format!("{}/v2/enqueue", app.url)),
    )
    .await
    else {
        return;
    };
    let am = &peer.guard;

    // Explicit endsAt far ahead: without one Alertmanager would resolve the alert itself after resolve_timeout.
    let starts_at = Utc::now() - Span::minutes(1);
    let alert = |ends_at: DateTime<Utc>| {
        json!([{
            "labels": { "alertname": "HighLatency", "service": "checkout", "severity": "critical" },
            "annotations": { "summary": "p99 latency above 2s" },
            "startsAt": rfc3339(starts_at),
            "endsAt": rfc3339(ends_at),
        }])
    };
    peer.post_alerts(&app.client, alert(Utc::now() + Span::hours(1)))
        .await;
    let incident = poll(&app, am, "/api/v1/incidents", "an incident", |b| {
        b["items"].as_array().and_then(|i| i.first()).cloned()
    })
    .await;
    assert_eq!(incident["status"], "triggered", "{incident}");
    assert_eq!(
        incident["severity"], "SEV-2",
        "Alertmanager sends severity error: {incident}"
    );
    let title = incident["title"].as_str().unwrap_or_default();
    assert!(title.contains("HighLatency"), "{incident}");
    let number = incident["number"].as_i64().expect("incident number");

    let (status, alerts) = app.get(&format!("/api/v1/incidents/{number}/alerts")).await;
    assert_eq!(status, StatusCode::OK, "{alerts}");
    let items = alerts["items"].as_array().expect("alert list");
    assert_eq!(items.len(), 1, "{alerts}");
    let dedup_key = items[0]["dedup_key"].as_str().expect("dedup_key");
    assert!(
        dedup_key.len() == 64 && dedup_key.bytes().all(|b| b.is_ascii_hexdigit()),
        "Alertmanager's dedup key is the SHA-256 of its group key, got {dedup_key:?}"
    );
    assert_eq!(items[0]["client"], "Alertmanager", "{alerts}");

    peer.post_alerts(&app.client, alert(Utc::now() - Span::seconds(1)))
        .await;
    let path = format!("/api/v1/incidents/{number}");
    let resolved = poll(&app, am, &path, "the incident resolved", |b| {
        (b["status"] == "resolved").then(|| b.clone())
    })
    .await;
    assert!(resolved["resolved_at"].is_string(), "{resolved}");

    let (status, timeline) = app.get(&format!("{path}/timeline")).await;
    assert_eq!(status, StatusCode::OK, "{timeline}");
    let resolved_by = timeline["items"]
        .as_array()
        .expect("timeline items")
        .iter()
        .find(|e| e["kind"] == "resolved")
        .map(|e| e["actor"]["kind"].clone());
    assert_eq!(
        resolved_by,
        Some(json!("integration")),
        "the resolve event, not a person, resolves it: {timeline}"
    );

    let (status, alert_after) = app.get(&format!("{path}/alerts")).await;
    assert_eq!(status, StatusCode::OK, "{alert_after}");
    assert_eq!(
        alert_after["items"][0]["status"], "resolved",
        "{alert_after}"
    );
    assert_eq!(
        alert_after["items"][0]["dedup_key"], dedup_key,
        "{alert_after}"
    );

    let (status, all) = app.get("/api/v1/incidents").await;
    assert_eq!(status, StatusCode::OK, "{all}");
    assert_eq!(
        all["items"].as_array().map(Vec::len),
        Some(1),
        "one alert group must open exactly one incident: {all}"
    );
}

/// Alertmanager's own Opsgenie integration, with `update_alerts`: it creates through `POST /v2/alerts`, then sends
/// the message and description as updates on every later notification of the group.
#[tokio::test]
async fn alertmanager_opsgenie_receiver_creates_updates_and_closes() {
    let app = TestApp::spawn().await;
    app.post("/api/v1/services", json!({"name": "storage"}))
        .await;
    let (s, integration) = app
        .post(
            "/api/v1/services/storage/integrations",
            json!({"kind": "opsgenie"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{integration}");
    let key = integration["key"].as_str().unwrap();
    let config = with_receiver(json!({
        "name": "tocsin",
        "opsgenie_configs": [{
            "api_key": key,
            "api_url": format!("{}/", app.url),
            "message": "{{ .CommonLabels.alertname }}: {{ len .Alerts.Firing }} firing",
            "description": "Instances: {{ range .Alerts.Firing }}{{ .Labels.instance }} {{ end }}",
            "priority": "{{ if gt (len .Alerts.Firing) 1 }}P1{{ else }}P3{{ end }}",
            "update_alerts": true,
            "send_resolved": true,
        }],
    }));
    let Some(peer) = AlertmanagerPeer::start(&app.client, &config).await else {
        return;
    };
    let am = &peer.guard;
    let disk = |instance: &str, ends_at: DateTime<Utc>| {
        json!({
            "labels": { "alertname": "DiskFull", "instance": instance },
            "annotations": { "summary": format!("Disk full on {instance}") },
            "startsAt": rfc3339(Utc::now() - Span::minutes(1)),
            "endsAt": rfc3339(ends_at),
        })
    };
    let later = Utc::now() + Span::hours(1);
    peer.post_alerts(&app.client, json!([disk("db-1", later)]))
        .await;
    let incident = poll(&app, am, "/api/v1/incidents", "an incident", |b| {
        b["items"].as_array().and_then(|i| i.first()).cloned()
    })
    .await;
    assert_eq!(incident["title"], "DiskFull: 1 firing", "{incident}");
    assert_eq!(incident["severity"], "SEV-3", "P3: {incident}");

    // A second instance joins the group: the message, description and priority change.
    peer.post_alerts(
        &app.client,
        json!([disk("db-1", later), disk("db-2", later)]),
    )
    .await;
    let alert = poll(&app, am, "/api/v1/alerts", "the updates", |b| {
        let alert = b["items"][0].clone();
        (alert["event_count"].as_i64() >= Some(2) && alert["summary"] == "DiskFull: 2 firing")
            .then_some(alert)
    })
    .await;
    assert_eq!(
        alert["custom_details"]["description"], "Instances: db-1 db-2 ",
        "{alert}"
    );
    let id = alert["id"].as_str().unwrap().to_owned();
    let events = poll(
        &app,
        am,
        &format!("/api/v1/alerts/{id}/events"),
        "update events",
        |b| {
            let results: Vec<String> = b["items"]
                .as_array()?
                .iter()
                .map(|e| e["result"].as_str().unwrap_or_default().to_owned())
                .collect();
            results.iter().any(|r| r == "updated").then_some(results)
        },
    )
    .await;
    assert_eq!(events[0], "created", "{events:?}");
    let (_, incident) = app.get("/api/v1/incidents/1").await;
    assert_eq!(incident["severity"], "SEV-1", "P1 raised it: {incident}");

    // Both resolve: Alertmanager closes the alert by its alias.
    let past = Utc::now() - Span::seconds(1);
    peer.post_alerts(&app.client, json!([disk("db-1", past), disk("db-2", past)]))
        .await;
    poll(&app, am, "/api/v1/incidents/1", "the close", |b| {
        (b["status"] == "resolved").then_some(())
    })
    .await;
}
