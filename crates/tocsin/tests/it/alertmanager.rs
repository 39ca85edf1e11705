//! A real PagerDuty sender: Prometheus Alertmanager delivering to `/v2/enqueue`, firing and then resolving.

use crate::support::{AlertmanagerPeer, TestApp, poll};
use chrono::{DateTime, Duration as Span, SecondsFormat, Utc};
use reqwest::StatusCode;
use serde_json::{Value, json};

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn config(key: &str, enqueue_url: &str) -> Value {
    json!({
        "global": { "resolve_timeout": "5s" },
        "route": {
            "receiver": "tocsin",
            "group_by": ["alertname"],
            "group_wait": "1s",
            "group_interval": "1s",
            "repeat_interval": "1h",
        },
        "receivers": [{
            "name": "tocsin",
            "pagerduty_configs": [{ "routing_key": key, "url": enqueue_url, "send_resolved": true }],
        }],
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
