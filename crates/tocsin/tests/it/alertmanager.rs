//! A real PagerDuty sender: Prometheus Alertmanager delivering to `/v2/enqueue`, firing and then resolving.

use crate::support::{ChildGuard, TestApp, free_port, peers_required};
use chrono::{DateTime, Duration as Span, SecondsFormat, Utc};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const ALERTMANAGER: &str = "/usr/bin/prometheus-alertmanager";
/// Alertmanager delivers after `group_wait`, and retries failed deliveries with backoff; this leaves room for both.
const DELIVERY: Duration = Duration::from_secs(30);

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn config(key: &str, enqueue_url: &str) -> String {
    let config = json!({
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
    });
    serde_yaml_ng::to_string(&config).expect("YAML")
}

/// Polls Tocsin until `check` finds what it waits for in `path`'s body.
async fn poll<T>(
    app: &TestApp,
    am: &ChildGuard,
    path: &str,
    what: &str,
    check: impl Fn(&Value) -> Option<T>,
) -> T {
    let deadline = Instant::now() + DELIVERY;
    loop {
        let (status, body) = app.get(path).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        if let Some(found) = check(&body) {
            return found;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: not seen within {DELIVERY:?}; last {path}: {body}\nAlertmanager's log:\n{}",
            am.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn alertmanager_pages_and_resolves_through_the_pagerduty_endpoint() {
    if !Path::new(ALERTMANAGER).exists() {
        assert!(
            !peers_required(),
            "{ALERTMANAGER} is missing and TOCSIN_REQUIRE_PEERS=1; run scripts/install-test-deps.sh"
        );
        eprintln!(
            "SKIPPED: {ALERTMANAGER} is not installed (scripts/install-test-deps.sh installs it)"
        );
        return;
    }
    let app = TestApp::spawn().await;
    let key = app.service_with_key("checkout").await;

    let dir = tempfile::tempdir().expect("temp dir");
    let config_file = dir.path().join("alertmanager.yml");
    std::fs::write(
        &config_file,
        config(&key, &format!("{}/v2/enqueue", app.url)),
    )
    .expect("write config");
    let am_url = format!("http://127.0.0.1:{}", free_port());
    let mut am = ChildGuard::spawn(
        Command::new(ALERTMANAGER)
            .arg(format!("--config.file={}", config_file.display()))
            .arg(format!(
                "--storage.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!(
                "--web.listen-address={}",
                am_url.trim_start_matches("http://")
            ))
            .arg("--cluster.listen-address="),
        dir.path().join("alertmanager.log"),
    );
    am.wait_ready(
        &app.client,
        &format!("{am_url}/-/ready"),
        Duration::from_secs(20),
    )
    .await;

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
    let post_alert = |body: Value| {
        let client = app.client.clone();
        let url = format!("{am_url}/api/v2/alerts");
        async move {
            let resp = client
                .post(url)
                .json(&body)
                .send()
                .await
                .expect("post to Alertmanager");
            let status = resp.status();
            assert_eq!(
                status,
                StatusCode::OK,
                "{}",
                resp.text().await.unwrap_or_default()
            );
        }
    };

    post_alert(alert(Utc::now() + Span::hours(1))).await;
    let incident = poll(&app, &am, "/api/v1/incidents", "an incident", |b| {
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

    post_alert(alert(Utc::now() - Span::seconds(1))).await;
    let path = format!("/api/v1/incidents/{number}");
    let resolved = poll(&app, &am, &path, "the incident resolved", |b| {
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
