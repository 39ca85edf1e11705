//! Every sender besides PagerDuty, end to end: real Alertmanager and amtool where they run here, documented
//! payloads for Grafana, Opsgenie and generic JSON, and the rules all senders share (keys, kinds, rate limits,
//! raw payloads).

use crate::support::{AMTOOL, AlertmanagerPeer, ChildGuard, TestApp, poll};
use chrono::{Duration as Span, SecondsFormat, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// Creates a service (if needed) and an integration of `kind` on it; returns (id, key, url).
async fn integration(
    app: &TestApp,
    service: &str,
    kind: &str,
    config: Value,
) -> (String, String, String) {
    app.post("/api/v1/services", json!({ "name": service }))
        .await;
    let (s, b) = app
        .post(
            &format!("/api/v1/services/{service}/integrations"),
            json!({ "kind": kind, "config": config }),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    (
        b["id"].as_str().unwrap().to_owned(),
        b["key"].as_str().unwrap().to_owned(),
        b["url"].as_str().unwrap().to_owned(),
    )
}

async fn incidents(app: &TestApp) -> Vec<Value> {
    app.get("/api/v1/incidents").await.1["items"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn metric(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test]
async fn alertmanager_webhook_keeps_a_group_in_one_incident() {
    let app = TestApp::spawn().await;
    let (_, _, url) = integration(&app, "checkout", "alertmanager", json!({})).await;
    let config = json!({
        "route": { "receiver": "tocsin", "group_by": ["alertname"], "group_wait": "1s", "group_interval": "1s", "repeat_interval": "2s" },
        "receivers": [{ "name": "tocsin", "webhook_configs": [{ "url": url, "send_resolved": true }] }],
    });
    let Some(peer) = AlertmanagerPeer::start(&app.client, &config).await else {
        return;
    };
    let am = &peer.guard;
    let at = |offset: Span| (Utc::now() + offset).to_rfc3339_opts(SecondsFormat::Millis, true);
    let alert = |instance: &str, ends: Span| {
        json!({
            "labels": { "alertname": "ErrorRate", "instance": instance, "severity": "critical" },
            "annotations": { "summary": format!("5xx above 5% on {instance}") },
            "startsAt": at(Span::minutes(-1)),
            "endsAt": at(ends),
        })
    };
    let firing = Span::hours(1);
    peer.post_alerts(
        &app.client,
        json!([
            alert("web-1", firing),
            alert("web-2", firing),
            alert("web-3", firing)
        ]),
    )
    .await;
    poll(
        &app,
        am,
        "/api/v1/alerts?status=triggered",
        "three open alerts",
        |b| (b["items"].as_array()?.len() == 3).then_some(()),
    )
    .await;
    let all = incidents(&app).await;
    assert_eq!(all.len(), 1, "one group, one incident: {all:?}");
    assert_eq!(all[0]["severity"], "SEV-1");
    let (_, alerts) = app.get("/api/v1/incidents/1/alerts").await;
    assert_eq!(alerts["items"].as_array().unwrap().len(), 3, "{alerts}");
    assert_eq!(alerts["items"][0]["labels"]["alertname"], "ErrorRate");

    // Alertmanager re-sends the unchanged group every repeat_interval; Tocsin answers without writing.
    let metrics_url = format!("{}/metrics", app.url);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let text = app
            .client
            .get(&metrics_url)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if metric(
            &text,
            "tocsin_events_total{kind=\"alertmanager\",outcome=\"unchanged\"}",
        ) >= 3.0
        {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no unchanged re-send counted:\n{text}\n{}",
            am.log_tail()
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }

    // Resolving part of the group resolves those alerts only.
    peer.post_alerts(&app.client, json!([alert("web-1", Span::seconds(-1))]))
        .await;
    poll(
        &app,
        am,
        "/api/v1/alerts?status=resolved",
        "one resolved alert",
        |b| (b["items"].as_array()?.len() == 1).then_some(()),
    )
    .await;
    let (_, inc) = app.get("/api/v1/incidents/1").await;
    assert_eq!(inc["status"], "triggered", "{inc}");
    let (_, timeline) = app.get("/api/v1/incidents/1/timeline").await;
    assert!(
        timeline["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["kind"] == "alert_resolved"),
        "{timeline}"
    );

    // Resolving the rest resolves the incident; still one incident in all.
    peer.post_alerts(
        &app.client,
        json!([
            alert("web-2", Span::seconds(-1)),
            alert("web-3", Span::seconds(-1))
        ]),
    )
    .await;
    poll(
        &app,
        am,
        "/api/v1/incidents/1",
        "the incident resolved",
        |b| (b["status"] == "resolved").then_some(()),
    )
    .await;
    let all = incidents(&app).await;
    assert_eq!(all.len(), 1, "no duplicate incidents: {all:?}");
    let (_, alerts) = app.get("/api/v1/alerts").await;
    assert!(
        alerts["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["status"] == "resolved"),
        "{alerts}"
    );
}

#[tokio::test]
async fn amtool_posts_alerts_straight_to_tocsin() {
    if amtool_missing() {
        return;
    }
    let app = TestApp::spawn().await;
    let (_, _, url) = integration(&app, "storage", "prometheus", json!({})).await;
    run_amtool(&url, vec![]).await;
    let (_, alerts) = app.get("/api/v1/alerts").await;
    let alert = &alerts["items"][0];
    assert_eq!(
        (alert["summary"].as_str(), alert["status"].as_str()),
        (Some("Disk 95% full on db-1"), Some("triggered")),
        "{alerts}"
    );
    assert_eq!(incidents(&app).await[0]["severity"], "SEV-3");

    let at = |offset: Span| (Utc::now() + offset).to_rfc3339_opts(SecondsFormat::Secs, true);
    run_amtool(
        &url,
        vec![
            format!("--start={}", at(Span::minutes(-5))),
            format!("--end={}", at(Span::seconds(-5))),
        ],
    )
    .await;
    let (_, inc) = app.get("/api/v1/incidents/1").await;
    assert_eq!(
        inc["status"], "resolved",
        "an endsAt in the past resolves: {inc}"
    );
}

#[tokio::test]
async fn an_api_alert_resolves_when_its_end_passes_without_a_new_post() {
    if amtool_missing() {
        return;
    }
    let start = Utc::now();
    let clock = std::sync::Arc::new(tocsin_domain::clock::ManualClock::new(start));
    let app = TestApp::spawn_with(clock.clone(), |c| c.engine.tick_ms = 3_600_000).await;
    let (_, _, url) = integration(&app, "storage", "prometheus", json!({})).await;
    let end = |minutes| {
        format!(
            "--end={}",
            (start + Span::minutes(minutes)).to_rfc3339_opts(SecondsFormat::Secs, true)
        )
    };
    let status = || async {
        let (_, inc) = app.get("/api/v1/incidents/1").await;
        inc["status"].as_str().unwrap().to_owned()
    };
    // Prometheus keeps re-posting a firing alert with an end a few minutes ahead; each post moves the end on.
    run_amtool(&url, vec![end(10)]).await;
    clock.advance(Span::minutes(9));
    app.cycle().await;
    assert_eq!(status().await, "triggered");
    run_amtool(&url, vec![end(20)]).await;
    clock.advance(Span::minutes(6));
    let report = app.cycle().await;
    assert_eq!(report["alerts_ended"], 0, "{report}");
    assert_eq!(status().await, "triggered", "the second post moved the end");
    // Then it stops (the rule was deleted, Prometheus went away): the alert resolves when its end passes.
    clock.advance(Span::minutes(6));
    let report = app.cycle().await;
    assert_eq!(report["alerts_ended"], 1, "{report}");
    assert_eq!(status().await, "resolved");
    let (_, alerts) = app.get("/api/v1/alerts").await;
    assert_eq!(alerts["items"][0]["status"], "resolved", "{alerts}");

    // Without an endsAt, an alert ends five minutes after its last post, as in Alertmanager.
    let resp = app
        .client
        .post(format!("{url}/api/v2/alerts"))
        .json(&json!([{"labels": {"alertname": "Lonely", "severity": "critical"}}]))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let (_, lonely) = app.get("/api/v1/incidents/2").await;
    assert_eq!(lonely["status"], "triggered", "{lonely}");
    clock.advance(Span::minutes(4));
    app.cycle().await;
    assert_eq!(
        app.get("/api/v1/incidents/2").await.1["status"],
        "triggered"
    );
    clock.advance(Span::minutes(2));
    app.cycle().await;
    assert_eq!(app.get("/api/v1/incidents/2").await.1["status"], "resolved");
}

/// Runs amtool with `args` against `url` as its Alertmanager; returns whether it succeeded, its stdout and stderr.
async fn amtool(url: &str, args: &[&str]) -> (bool, String, String) {
    let url = url.to_owned();
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    tokio::task::spawn_blocking(move || {
        let out = std::process::Command::new(AMTOOL)
            .args(&args)
            .args(["--no-version-check", &format!("--alertmanager.url={url}")])
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn amtool_queries_alerts_and_manages_silences_scoped_to_the_service() {
    if amtool_missing() {
        return;
    }
    let app = TestApp::spawn().await;
    let (_, _, url) = integration(&app, "storage", "prometheus", json!({})).await;
    let (_, _, other_url) = integration(&app, "payments", "prometheus", json!({})).await;
    run_amtool(&url, vec![]).await;

    let (ok, out, err) = amtool(&url, &["alert", "query", "-o", "json"]).await;
    assert!(ok, "{err}");
    let alerts: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(alerts.as_array().unwrap().len(), 1, "{alerts}");
    assert_eq!(alerts[0]["labels"]["alertname"], "DiskFull");
    assert_eq!(alerts[0]["annotations"]["summary"], "Disk 95% full on db-1");
    assert_eq!(alerts[0]["status"]["state"], "active");
    let (ok, out, _) = amtool(&url, &["alert", "query", "alertname=Other"]).await;
    assert!(
        ok && !out.contains("DiskFull"),
        "a filter that matches nothing: {out}"
    );
    let (_, out, _) = amtool(&other_url, &["alert", "query"]).await;
    assert!(
        !out.contains("DiskFull"),
        "another integration's alerts: {out}"
    );

    // A silence through the integration mutes its service's matching alerts, and only those.
    let (ok, id, err) = amtool(
        &url,
        &[
            "silence",
            "add",
            "alertname=Latency",
            "--comment=db failover",
            "--duration=1h",
        ],
    )
    .await;
    assert!(ok, "{err}");
    let id = id.trim().to_owned();
    assert!(id.starts_with("sil_"), "{id}");
    let post = |url: String| {
        let client = app.client.clone();
        async move {
            let resp = client
                .post(format!("{url}/api/v2/alerts"))
                .json(&json!([{"labels": {"alertname": "Latency", "severity": "critical"}}]))
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), StatusCode::OK);
        }
    };
    post(url.clone()).await;
    post(other_url.clone()).await;
    let (_, storage) = app
        .get("/api/v1/alerts?service=storage&status=triggered")
        .await;
    let muted = storage["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["labels"]["alertname"] == "Latency")
        .unwrap();
    assert_eq!(muted["no_page_reason"]["type"], "silenced", "{muted}");
    let (_, payments) = app.get("/api/v1/alerts?service=payments").await;
    assert!(
        payments["items"][0]["incident_id"].is_string(),
        "the other service still pages: {payments}"
    );
    let (ok, out, _) = amtool(&url, &["alert", "query", "-o", "json", "--silenced"]).await;
    assert!(ok);
    let shown: Value = serde_json::from_str(&out).unwrap();
    let latency = shown
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["labels"]["alertname"] == "Latency")
        .unwrap_or_else(|| panic!("the silenced alert is listed with --silenced: {shown}"));
    assert_eq!(latency["status"]["state"], "suppressed");
    assert_eq!(latency["status"]["silencedBy"][0], id.as_str());

    let (ok, out, err) = amtool(&url, &["silence", "query", "-o", "json"]).await;
    assert!(ok, "{err}");
    let listed: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(listed[0]["id"], id.as_str(), "{listed}");
    assert_eq!(
        listed[0]["matchers"],
        json!([{"name": "alertname", "value": "Latency", "isRegex": false, "isEqual": true}]),
        "the scope is implied, not shown"
    );
    assert_eq!(listed[0]["status"]["state"], "active");
    let (_, out, _) = amtool(&other_url, &["silence", "query", "-q"]).await;
    assert!(out.trim().is_empty(), "another service sees none: {out}");
    // amtool 0.25 knows no 404 for this endpoint, so it shows the status rather than the message.
    let (ok, _, err) = amtool(&other_url, &["silence", "expire", &id]).await;
    assert!(!ok && err.contains("404"), "{err}");
    let (_, all) = app.get("/api/v1/silences").await;
    assert!(
        all["items"][0]["matchers"]
            .as_array()
            .unwrap()
            .contains(&json!("@service=storage")),
        "{all}"
    );
    let created_by = all["items"][0]["created_by"].as_str().unwrap();
    assert!(
        created_by.contains(" (through "),
        "amtool's user, through the integration: {created_by}"
    );

    let (ok, _, err) = amtool(&url, &["silence", "expire", &id]).await;
    assert!(ok, "{err}");
    let (_, out, _) = amtool(&url, &["silence", "query", "-q"]).await;
    assert!(
        out.trim().is_empty(),
        "expired silences are not shown by default: {out}"
    );
    let (_, out, _) = amtool(&url, &["silence", "query", "-q", "--expired"]).await;
    assert_eq!(out.trim(), id);

    // Refusals come back as Alertmanager's JSON string, which amtool prints.
    let (ok, _, err) = amtool(&url, &["silence", "add", "alertname=~.*", "--comment=all"]).await;
    assert!(!ok && err.contains("non-empty value"), "{err}");
    let (ok, _, err) = amtool(&url, &["silence", "add", "alertname=X", "--comment= "]).await;
    assert!(!ok && err.contains("must say why"), "{err}");

    let (ok, out, err) = amtool(&url, &["config", "show"]).await;
    assert!(ok, "{err}");
    assert!(out.contains("service \"storage\""), "{out}");
    let (ok, out, err) = amtool(&url, &["cluster", "show"]).await;
    assert!(ok && out.contains("ready"), "{out}{err}");

    let bad = url.replace("/prometheus/", "/prometheus/x");
    let resp = app
        .client
        .get(format!("{bad}/api/v2/alerts"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let body: Value = resp.json().await.unwrap();
    assert!(
        body.as_str().unwrap().contains("unknown or revoked"),
        "{body}"
    );
    let resp = app
        .client
        .get(format!("{url}/api/v2/receivers"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    assert!(resp.json::<Value>().await.unwrap().is_string());
}

/// Whether amtool is missing here, which fails the test where peers are required.
fn amtool_missing() -> bool {
    if std::path::Path::new(AMTOOL).exists() {
        return false;
    }
    assert!(
        !crate::support::peers_required(),
        "{AMTOOL} is missing; run scripts/install-test-deps.sh"
    );
    eprintln!("SKIPPED: {AMTOOL} is not installed");
    true
}

/// Runs `amtool alert add` for one DiskFull alert against `url` as its Alertmanager.
async fn run_amtool(url: &str, extra: Vec<String>) {
    let url = url.to_owned();
    tokio::task::spawn_blocking(move || {
        let dir = tempfile::tempdir().unwrap();
        let mut cmd = std::process::Command::new(AMTOOL);
        cmd.args([
            "alert",
            "add",
            "--no-version-check",
            &format!("--alertmanager.url={url}"),
        ]);
        cmd.args([
            "alertname=DiskFull",
            "instance=db-1",
            "severity=warning",
            "--annotation=summary=Disk 95% full on db-1",
        ]);
        cmd.args(extra);
        let mut guard = ChildGuard::spawn(&mut cmd, dir.path().join("amtool.log"));
        assert!(
            guard.child.wait().unwrap().success(),
            "amtool failed: {}",
            guard.log_tail()
        );
    })
    .await
    .unwrap();
}

fn grafana_payload(state: &str, status: &str) -> Value {
    json!({
        "receiver": "tocsin", "status": status, "orgId": 1, "version": "1", "state": state,
        "title": "[FIRING:1] HighCPU", "message": "CPU above 90%", "groupKey": "{}:{alertname=\"HighCPU\"}",
        "groupLabels": {"alertname": "HighCPU"}, "commonLabels": {"alertname": "HighCPU"}, "commonAnnotations": {},
        "externalURL": "http://grafana.example.com/", "truncatedAlerts": 0,
        "alerts": [{
            "status": status, "labels": {"alertname": "HighCPU", "instance": "web-1", "severity": "warning"},
            "annotations": {"summary": "CPU above 90% on web-1"}, "startsAt": "2026-11-23T10:00:00Z", "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://grafana.example.com/alerting/grafana/abc/view", "fingerprint": "c6eadffa33fcdf37",
            "silenceURL": "http://grafana.example.com/alerting/silence/new", "dashboardURL": "http://grafana.example.com/d/1",
            "panelURL": "http://grafana.example.com/d/1?viewPanel=2", "values": {"B": 93.5}, "valueString": "[ var='B' value=93.5 ]"
        }]
    })
}

#[tokio::test]
async fn grafana_fires_resolves_and_keeps_its_links() {
    let app = TestApp::spawn().await;
    let (id, key, url) = integration(&app, "web", "grafana", json!({})).await;
    let (s, b) = app
        .send(
            app.client
                .post(&url)
                .json(&grafana_payload("alerting", "firing")),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (_, alerts) = app.get("/api/v1/alerts").await;
    let alert = &alerts["items"][0];
    assert_eq!(
        (alert["dedup_key"].as_str(), alert["severity"].as_str()),
        (Some("c6eadffa33fcdf37"), Some("warning"))
    );
    let hrefs: Vec<&str> = alert["links"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|l| l["href"].as_str())
        .collect();
    assert!(
        hrefs.contains(&"http://grafana.example.com/d/1")
            && hrefs.contains(&"http://grafana.example.com/alerting/silence/new"),
        "{alert}"
    );
    assert_eq!(alert["custom_details"]["values"]["B"], 93.5, "{alert}");

    // PUT with basic auth (the key as password), state ok: resolves.
    let (s, _) = app
        .send(
            app.client
                .put(format!("{}/ingest/grafana", app.url))
                .basic_auth("grafana", Some(&key))
                .json(&grafana_payload("ok", "resolved")),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(app.get("/api/v1/incidents/1").await.1["status"], "resolved");

    for (body, field) in [
        (json!({"alerts": "x"}), "alerts"),
        (
            json!({"alerts": [{"status": "firing"}]}),
            "alerts[0].labels",
        ),
    ] {
        let (s, b) = app.send(app.client.post(&url).json(&body)).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
        assert!(
            b["error"]["message"].as_str().unwrap().contains(field),
            "{field}: {b}"
        );
    }
    let (_, payloads) = app
        .get(&format!("/api/v1/integrations/{id}/payloads"))
        .await;
    let items = payloads["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "refused bodies are not kept: {payloads}");
    assert!(
        items[0]["body"]
            .as_str()
            .unwrap()
            .contains("\"state\":\"ok\""),
        "newest first, as sent: {payloads}"
    );
    assert!(
        items[0]["outcome"].as_str().unwrap().contains("resolved"),
        "{payloads}"
    );
}

#[tokio::test]
async fn kept_payloads_hold_no_credential_and_need_a_writer() {
    let app = TestApp::spawn().await;
    let key = app.service_with_key("checkout").await;
    let mut event = TestApp::trigger(&key, "disk-full", "critical");
    event["payload"]["custom_details"] = json!({"api_token": "tk-very-secret", "host": "db-1"});
    let (s, b) = app.enqueue(event).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{b}");
    let (_, integrations) = app.get("/api/v1/services/checkout/integrations").await;
    let id = integrations["items"][0]["id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/integrations/{id}/payloads");

    let (_, reader) = app
        .post(
            "/api/v1/tokens",
            json!({"name": "dashboard", "scope": "read"}),
        )
        .await;
    let (s, b) = app
        .send(
            app.client
                .get(format!("{}{path}", app.url))
                .bearer_auth(reader["token"].as_str().unwrap()),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "a reader gets no bodies: {b}");

    let (s, payloads) = app.get(&path).await;
    assert_eq!(s, StatusCode::OK);
    let body = payloads["items"][0]["body"].as_str().unwrap();
    assert!(
        !body.contains(&key) && !body.contains("tk-very-secret"),
        "{body}"
    );
    assert!(
        body.contains(r#""routing_key":"[redacted]""#) && body.contains(r#""host":"db-1""#),
        "{body}"
    );
    // Nor is the key anywhere in the embedded database's files, the sample now written (reading flushed it).
    let files: Vec<std::path::PathBuf> = match app.db.url {
        None => std::fs::read_dir(&app.db.data_dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect(),
        Some(_) => Vec::new(),
    };
    for file in files {
        let bytes = std::fs::read(file).unwrap();
        assert!(
            !bytes.windows(key.len()).any(|w| w == key.as_bytes()),
            "the routing key is in the database's files"
        );
    }
}

/// Opsgenie's own Python SDK, driven through its usual flow: create, read the request's status for the alert ID,
/// read the alert, update its priority, message and description, acknowledge by ID and close by tiny ID.
const OPSGENIE_SDK_FLOW: &str = r#"
import json, sys
import opsgenie_sdk
conf = opsgenie_sdk.configuration.Configuration()
conf.host = sys.argv[1]
conf.api_key['Authorization'] = sys.argv[2]
conf.retry_enabled = False
api = opsgenie_sdk.AlertApi(opsgenie_sdk.api_client.ApiClient(configuration=conf))
out = {}
created = api.create_alert(create_alert_payload=opsgenie_sdk.CreateAlertPayload(
    message='Card processor down', alias='card-down', priority='P3', description='All card payments fail'))
status = api.get_request_status(request_id=created.request_id)
out['status'] = {'success': status.data.is_success, 'action': status.data.action, 'alert_id': status.data.alert_id,
                 'alias': status.data.alias, 'status': status.data.status}
alert = api.get_alert(identifier=status.data.alert_id, identifier_type='id')
out['alert'] = {'tiny_id': alert.data.tiny_id, 'message': alert.data.message, 'status': alert.data.status,
                'priority': alert.data.priority, 'description': alert.data.description}
api.update_alert_priority(identifier=status.data.alert_id, identifier_type='id',
    update_alert_priority_payload=opsgenie_sdk.UpdateAlertPriorityPayload(priority='P1'))
api.update_alert_message(identifier='card-down', identifier_type='alias',
    update_alert_message_payload=opsgenie_sdk.UpdateAlertMessagePayload(message='Card processor down in EU'))
described = api.update_alert_description(identifier=alert.data.tiny_id, identifier_type='tiny',
    update_alert_description_payload=opsgenie_sdk.UpdateAlertDescriptionPayload(description='EU cards fail'))
out['described'] = api.get_request_status(request_id=described.request_id).data.status
updated = api.get_alert(identifier=status.data.alert_id, identifier_type='id').data
out['updated'] = {'message': updated.message, 'priority': updated.priority, 'description': updated.description}
api.acknowledge_alert(identifier=status.data.alert_id, identifier_type='id',
                      acknowledge_alert_payload=opsgenie_sdk.AcknowledgeAlertPayload(user='dana', note='on it'))
out['acknowledged'] = api.get_alert(identifier='card-down', identifier_type='alias').data.acknowledged
closed = api.close_alert(identifier=alert.data.tiny_id, identifier_type='tiny',
                         close_alert_payload=opsgenie_sdk.CloseAlertPayload(user='dana'))
out['closed'] = api.get_request_status(request_id=closed.request_id).data.status
try:
    api.get_alert(identifier='alt_01JAAAAAAAAAAAAAAAAAAAAAAA', identifier_type='id')
    out['unknown'] = None
except opsgenie_sdk.rest.ApiException as e:
    out['unknown'] = [e.status, json.loads(e.body)['message']]
print(json.dumps(out))
"#;

#[tokio::test]
async fn opsgenie_sdk_creates_reads_status_and_acts_by_id_and_tiny_id() {
    if crate::support::python_module_missing("opsgenie_sdk") {
        return;
    }
    let app = TestApp::spawn().await;
    let (_, key, _) = integration(&app, "payments", "opsgenie", json!({})).await;
    let out = crate::support::python3(vec![
        "-c".into(),
        OPSGENIE_SDK_FLOW.into(),
        app.url.clone().into(),
        key.into(),
    ])
    .await;
    let got: Value = serde_json::from_slice(&out).unwrap();
    let (_, alerts) = app.get("/api/v1/alerts").await;
    let alert = &alerts["items"][0];
    assert_eq!(
        got["status"],
        json!({"success": true, "action": "Create", "alert_id": alert["id"], "alias": "card-down", "status": "Created alert"})
    );
    assert_eq!(got["alert"]["message"], "Card processor down");
    assert_eq!(got["alert"]["status"], "open");
    assert_eq!(got["alert"]["priority"], "P3");
    assert_eq!(got["described"], "Updated");
    assert_eq!(
        got["updated"],
        json!({"message": "Card processor down in EU", "priority": "P1", "description": "EU cards fail"})
    );
    assert_eq!(got["alert"]["description"], "All card payments fail");
    assert!(
        got["alert"]["tiny_id"]
            .as_str()
            .unwrap()
            .parse::<i64>()
            .is_ok(),
        "{got}"
    );
    assert_eq!(got["acknowledged"], true);
    assert_eq!(got["closed"], "Closed");
    assert_eq!(got["unknown"], json!([404, "Alert does not exist"]));
    let (_, inc) = app.get("/api/v1/incidents/1").await;
    assert_eq!(inc["status"], "resolved", "{inc}");
    let (_, events) = app
        .get(&format!(
            "/api/v1/alerts/{}/events",
            alert["id"].as_str().unwrap()
        ))
        .await;
    let results: Vec<&str> = events["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["result"].as_str().unwrap())
        .collect();
    assert_eq!(
        results,
        [
            "created",
            "updated",
            "updated",
            "updated",
            "acknowledged",
            "resolved"
        ]
    );
    let (_, timeline) = app.get("/api/v1/incidents/1/timeline").await;
    assert!(
        timeline["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["message"]
                .as_str()
                .unwrap()
                .starts_with("Severity raised from SEV-3 to SEV-1: one of its alerts got worse")),
        "{timeline}"
    );
}

#[tokio::test]
async fn opsgenie_actions_refuse_what_is_not_json_and_store_nothing_of_it() {
    let app = TestApp::spawn().await;
    let (_, key, _) = integration(&app, "payments", "opsgenie", json!({})).await;
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    for body in [
        b"{not json".to_vec(),
        vec![0xff, 0xfe, b'{'],
        deep.into_bytes(),
    ] {
        let resp = app
            .client
            .post(format!(
                "{}/v2/alerts/a1/close?identifierType=alias",
                app.url
            ))
            .header("Authorization", format!("GenieKey {key}"))
            .header("Content-Type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
        let answer: Value = resp.json().await.unwrap();
        assert!(
            answer["message"].as_str().unwrap().contains("not JSON"),
            "{answer}"
        );
    }
    let metrics = app.text("/metrics").await;
    let counted = r#"tocsin_events_total{kind="opsgenie",outcome="invalid"} 3"#;
    assert!(metrics.lines().any(|l| l == counted), "{metrics}");
    let (_, integrations) = app.get("/api/v1/services/payments/integrations").await;
    let id = integrations["items"][0]["id"].as_str().unwrap();
    let (_, payloads) = app
        .get(&format!("/api/v1/integrations/{id}/payloads"))
        .await;
    assert_eq!(payloads["items"], json!([]), "{payloads}");
}

#[tokio::test]
async fn bodies_not_declared_as_json_are_refused_in_each_senders_shape() {
    let app = TestApp::spawn().await;
    let pd_key = app.service_with_key("web").await;
    let (_, og_key, _) = integration(&app, "payments", "opsgenie", json!({})).await;
    let (_, _, generic) = integration(&app, "jobs", "generic", json!({})).await;
    let (_, _, prometheus) = integration(&app, "storage", "prometheus", json!({})).await;
    let pd = json!({"routing_key": pd_key, "event_action": "trigger", "payload": {"summary": "s", "source": "x", "severity": "error"}});
    let post = |url: String, content_type: Option<&'static str>, body: String| {
        let mut rb = app.client.post(url).body(body);
        if let Some(ct) = content_type {
            rb = rb.header("Content-Type", ct);
        }
        rb
    };
    for content_type in [Some("text/plain"), Some("application/xml"), None] {
        let (s, b) = app
            .send(post(
                format!("{}/v2/enqueue", app.url),
                content_type,
                pd.to_string(),
            ))
            .await;
        assert_eq!(
            s,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "{content_type:?}: {b}"
        );
        assert_eq!(b["status"], "invalid event", "PagerDuty's shape: {b}");
        let (s, b) = app
            .send(post(
                generic.clone(),
                content_type,
                r#"{"summary":"s"}"#.into(),
            ))
            .await;
        assert_eq!(s, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{b}");
        assert_eq!(b["error"]["code"], "unsupported_media_type", "{b}");
        let (s, b) = app
            .send(
                post(
                    format!("{}/v2/alerts", app.url),
                    content_type,
                    r#"{"message":"m"}"#.into(),
                )
                .header("Authorization", format!("GenieKey {og_key}")),
            )
            .await;
        assert_eq!(s, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{b}");
        assert!(
            b["message"].as_str().unwrap().contains("application/json"),
            "Opsgenie's shape: {b}"
        );
        let (s, b) = app
            .send(post(
                format!("{prometheus}/api/v2/alerts"),
                content_type,
                "[]".into(),
            ))
            .await;
        assert_eq!(s, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{b}");
        assert!(b.is_string(), "Alertmanager's shape: {b}");
    }
    let (s, b) = app
        .send(post(
            format!("{}/v2/enqueue", app.url),
            Some("application/json; charset=utf-8"),
            pd.to_string(),
        ))
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{b}");
    assert!(
        incidents(&app).await.len() == 1,
        "only the JSON one was stored"
    );
}

#[tokio::test]
async fn a_refusal_before_the_body_is_read_announces_the_close() {
    let app = TestApp::spawn().await;
    let (_, key, url) = integration(&app, "jobs", "generic", json!({})).await;
    let body = json!({"summary": "Backup failed", "dedup_key": "b1", "severity": "error"});
    let refused = app
        .client
        .post(url.replace(&key, "unknown-key"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        refused
            .headers()
            .get("connection")
            .map(|v| v.to_str().unwrap()),
        Some("close"),
        "the unread body leaves the connection unusable, and the client is told"
    );
    let accepted = app.client.post(&url).json(&body).send().await.unwrap();
    assert_eq!(accepted.status(), StatusCode::ACCEPTED);
    assert_eq!(
        accepted.headers().get("connection"),
        None,
        "read bodies keep the connection"
    );
    let health = app
        .client
        .get(format!("{}/healthz", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(
        health.headers().get("connection"),
        None,
        "requests without a body too"
    );
}

#[tokio::test]
async fn opsgenie_identifiers_stay_within_the_keys_service() {
    let app = TestApp::spawn().await;
    let (_, key, _) = integration(&app, "payments", "opsgenie", json!({})).await;
    let (_, other_key, _) = integration(&app, "search", "opsgenie", json!({})).await;
    let og = |m: Method, path: &str, key: &str| {
        app.client
            .request(m, format!("{}{path}", app.url))
            .header("Authorization", format!("GenieKey {key}"))
    };
    let (_, created) = app
        .send(og(Method::POST, "/v2/alerts", &key).json(&json!({"message": "m", "alias": "a1"})))
        .await;
    let request = created["requestId"].as_str().unwrap();
    let (s, status) = app
        .send(og(
            Method::GET,
            &format!("/v2/alerts/requests/{request}"),
            &key,
        ))
        .await;
    assert_eq!(s, StatusCode::OK, "{status}");
    let id = status["data"]["alertId"].as_str().unwrap().to_owned();
    // Another service's key learns nothing of this alert, and cannot act on it.
    let (s, b) = app
        .send(og(
            Method::GET,
            &format!("/v2/alerts/requests/{request}"),
            &other_key,
        ))
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{b}");
    assert!(
        b["message"].is_string() && b["requestId"].is_string(),
        "{b}"
    );
    let (s, _) = app
        .send(og(
            Method::POST,
            &format!("/v2/alerts/{id}/close?identifierType=id"),
            &other_key,
        ))
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = app
        .send(og(Method::GET, "/v2/alerts/requests/not-a-request", &key))
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, b) = app
        .send(og(
            Method::POST,
            "/v2/alerts/a1/close?identifierType=name",
            &key,
        ))
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
    assert!(
        b["message"].as_str().unwrap().contains("id, tiny or alias"),
        "{b}"
    );
    assert_eq!(
        app.get("/api/v1/incidents/1").await.1["status"],
        "triggered"
    );

    // Without identifierType, an alert ID is an ID (Opsgenie's default) and anything else an alias.
    let (s, _) = app
        .send(og(Method::POST, &format!("/v2/alerts/{id}/close"), &key))
        .await;
    assert_eq!(s, StatusCode::ACCEPTED);
    assert_eq!(app.get("/api/v1/incidents/1").await.1["status"], "resolved");
    // A closed alert named by ID stays closed, even once its alias has a new open alert.
    app.send(og(Method::POST, "/v2/alerts", &key).json(&json!({"message": "m", "alias": "a1"})))
        .await;
    let (_, b) = app
        .send(og(
            Method::POST,
            &format!("/v2/alerts/{id}/acknowledge?identifierType=id"),
            &key,
        ))
        .await;
    let (_, status) = app
        .send(og(
            Method::GET,
            &format!("/v2/alerts/requests/{}", b["requestId"].as_str().unwrap()),
            &key,
        ))
        .await;
    assert_eq!(status["data"]["isSuccess"], false, "{status}");
    assert_eq!(
        app.get("/api/v1/incidents/2").await.1["status"],
        "triggered"
    );
}

#[tokio::test]
async fn opsgenie_clients_create_acknowledge_and_close_by_alias() {
    let app = TestApp::spawn().await;
    let (_, key, _) = integration(&app, "payments", "opsgenie", json!({})).await;
    let og = |m: Method, path: &str| {
        app.client
            .request(m, format!("{}{path}", app.url))
            .header("Authorization", format!("GenieKey {key}"))
    };
    let create = json!({"message": "Payment gateway timeouts", "alias": "pg-timeouts", "priority": "P1", "tags": ["payments"], "details": {"region": "eu"}, "entity": "gateway"});
    let (s, b) = app.send(og(Method::POST, "/v2/alerts").json(&create)).await;
    assert_eq!(
        (s, b["result"].as_str()),
        (StatusCode::ACCEPTED, Some("Request will be processed")),
        "{b}"
    );
    assert!(
        !b["requestId"].as_str().unwrap().is_empty() && b["took"].is_number(),
        "{b}"
    );
    let inc = &incidents(&app).await[0];
    assert_eq!(
        (inc["severity"].as_str(), inc["title"].as_str()),
        (Some("SEV-1"), Some("Payment gateway timeouts"))
    );

    let (s, _) = app
        .send(
            og(
                Method::POST,
                "/v2/alerts/pg-timeouts/acknowledge?identifierType=alias",
            )
            .json(&json!({"user": "dana", "note": "looking"})),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED);
    assert_eq!(
        app.get("/api/v1/incidents/1").await.1["status"],
        "acknowledged"
    );
    let (s, _) = app
        .send(og(
            Method::POST,
            "/v2/alerts/pg-timeouts/close?identifierType=alias",
        ))
        .await;
    assert_eq!(s, StatusCode::ACCEPTED);
    assert_eq!(app.get("/api/v1/incidents/1").await.1["status"], "resolved");

    let (s, b) = app
        .send(og(Method::POST, "/v2/alerts").json(&json!({"message": "x", "priority": "P9"})))
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(b["message"].as_str().unwrap().contains("priority"), "{b}");
    let (s, _) = app
        .send(og(Method::POST, "/v2/alerts").json(&json!({"message": "m".repeat(131)})))
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let (s, b) = app
        .send(
            app.client
                .post(format!("{}/v2/alerts", app.url))
                .header("Authorization", "GenieKey wrong")
                .json(&create),
        )
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{b}");
    let (s, _) = app
        .send(og(Method::POST, "/v2/alerts/x/close?identifierType=id"))
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "no alert has that ID");
    assert_eq!(
        app.get("/api/v1/alerts").await.1["items"]
            .as_array()
            .unwrap()
            .len(),
        1,
        "refusals store nothing"
    );
}

#[tokio::test]
async fn generic_json_takes_the_documented_format_and_mapped_ones() {
    let app = TestApp::spawn().await;
    let (id, key, url) = integration(&app, "jobs", "generic", json!({})).await;
    let (s, b) = app.send(app.client.post(&url).json(&json!({"summary": "Nightly backup failed", "severity": "error", "dedup_key": "backup", "source": "cron"}))).await;
    assert_eq!(
        (s, b["events"].as_u64()),
        (StatusCode::ACCEPTED, Some(1)),
        "{b}"
    );
    let (s, _) = app
        .send(
            app.client
                .post(format!("{}/ingest/generic", app.url))
                .bearer_auth(&key)
                .json(&json!([{"action": "resolve", "dedup_key": "backup"}])),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED);
    assert_eq!(app.get("/api/v1/incidents/1").await.1["status"], "resolved");

    // A Datadog-style templated body, mapped.
    let mapping = json!({"summary": "/title", "action": "/alert_transition", "dedup_key": "/id", "severity": "/priority",
        "value_maps": {"action": {"Triggered": "trigger", "Recovered": "resolve"}}});
    let (s, b) = app
        .send(
            app.req(Method::PATCH, &format!("/api/v1/integrations/{id}"))
                .json(&json!({"config": {"mapping": mapping}})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let dd = |transition: &str| json!({"title": "[P1] Latency high on api", "alert_transition": transition, "priority": "P1", "id": "4711"});
    assert_eq!(
        app.send(app.client.post(&url).json(&dd("Triggered")))
            .await
            .0,
        StatusCode::ACCEPTED
    );
    let inc = &incidents(&app).await[0];
    assert_eq!(
        (inc["number"].as_i64(), inc["severity"].as_str()),
        (Some(2), Some("SEV-1"))
    );
    let (s, b) = app.send(app.client.post(&url).json(&dd("Paused"))).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
    assert!(
        b["error"]["message"]
            .as_str()
            .unwrap()
            .contains("value_maps"),
        "says how to fix it: {b}"
    );
    assert_eq!(
        app.send(app.client.post(&url).json(&dd("Recovered")))
            .await
            .0,
        StatusCode::ACCEPTED
    );
    assert_eq!(app.get("/api/v1/incidents/2").await.1["status"], "resolved");

    let (s, b) = app.send(app.req(Method::PATCH, &format!("/api/v1/integrations/{id}")).json(&json!({"config": {"mapping": {"summary": "/t", "value_maps": {"colour": {}}}}}))).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
    assert!(
        b["error"]["message"]
            .as_str()
            .unwrap()
            .contains("config.mapping.value_maps"),
        "{b}"
    );
    let (s, b) = app
        .post(
            "/api/v1/services/jobs/integrations",
            json!({"kind": "grafana", "config": {"mapping": {"summary": "/x"}}}),
        )
        .await;
    assert_eq!(
        (s, b["error"]["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("config.mapping")),
        "{b}"
    );
}

#[tokio::test]
async fn each_integration_has_its_own_rate_limit_and_kind() {
    let app = TestApp::spawn().await;
    let (_, noisy, _) = integration(
        &app,
        "noisy",
        "generic",
        json!({"rate_limit": {"per_second": 1, "burst": 2}}),
    )
    .await;
    let (_, quiet, _) = integration(&app, "quiet", "generic", json!({})).await;
    let send = |key: &str, n: usize| {
        app.client
            .post(format!("{}/ingest/generic/{key}", app.url))
            .json(&json!({"summary": format!("e{n}"), "dedup_key": format!("k{n}")}))
    };
    assert_eq!(app.send(send(&noisy, 1)).await.0, StatusCode::ACCEPTED);
    assert_eq!(app.send(send(&noisy, 2)).await.0, StatusCode::ACCEPTED);
    let resp = send(&noisy, 3).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = resp.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&retry), "{retry}");
    assert_eq!(
        resp.json::<Value>().await.unwrap()["error"]["code"],
        "rate_limited"
    );
    assert_eq!(
        app.send(send(&quiet, 4)).await.0,
        StatusCode::ACCEPTED,
        "one noisy sender does not starve another"
    );
    assert_eq!(
        app.get("/api/v1/alerts").await.1["items"]
            .as_array()
            .unwrap()
            .len(),
        3,
        "the refused event stored nothing"
    );

    // Keys work only at their own kind's endpoint.
    let pd = app.service_with_key("pd").await;
    let (s, b) = app
        .send(
            app.client
                .post(format!("{}/ingest/grafana/{pd}", app.url))
                .json(&grafana_payload("alerting", "firing")),
        )
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{b}");
    assert!(
        b["error"]["message"]
            .as_str()
            .unwrap()
            .contains("pagerduty"),
        "{b}"
    );
    let (s, b) = app.enqueue(TestApp::trigger(&quiet, "x", "error")).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
    assert!(b["errors"][0].as_str().unwrap().contains("generic"), "{b}");
    let (s, _) = app
        .send(
            app.client
                .post(format!("{}/ingest/generic", app.url))
                .json(&json!({"summary": "x"})),
        )
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "no key, no entry");
}

#[tokio::test]
async fn a_changed_group_writes_only_the_alerts_that_changed() {
    let app = TestApp::spawn().await;
    let (_, _, url) = integration(&app, "checkout", "alertmanager", json!({})).await;
    let fixture: Value = serde_json::from_str(include_str!(
        "../../../../tests/fixtures/alertmanager-0.25-webhook-v4-firing.json"
    ))
    .unwrap();
    let post = |body: Value| app.send(app.client.post(&url).json(&body));
    let (s, first) = post(fixture.clone()).await;
    assert_eq!(
        (s, first["events"].as_u64()),
        (StatusCode::OK, Some(2)),
        "{first}"
    );
    let (_, again) = post(fixture.clone()).await;
    assert_eq!(
        (again["events"].as_u64(), again["unchanged"].as_bool()),
        (Some(0), Some(true)),
        "{again}"
    );

    let mut changed = fixture.clone();
    changed["alerts"][1]["status"] = json!("resolved");
    let (_, partly) = post(changed).await;
    assert_eq!(
        (partly["events"].as_u64(), partly["unchanged"].as_bool()),
        (Some(1), Some(false)),
        "only the resolved alert is written: {partly}"
    );
    let (_, alerts) = app.get("/api/v1/alerts").await;
    let status = |fp: &str| {
        alerts["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["dedup_key"] == fp)
            .map(|a| a["status"].clone())
    };
    assert_eq!(
        (status("f68647e830815b57"), status("6e4aa44b32a827f2")),
        (Some(json!("triggered")), Some(json!("resolved")))
    );
    let (_, events) = app
        .get(&format!(
            "/api/v1/alerts/{}/events",
            alerts["items"][1]["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(
        events["items"].as_array().unwrap().len(),
        1,
        "the unchanged alert was not written again: {events}"
    );

    // Going back to an earlier state is a change: the same bytes as before, but not the group's latest state.
    let (_, back) = post(fixture.clone()).await;
    assert_eq!(
        (back["events"].as_u64(), back["unchanged"].as_bool()),
        (Some(1), Some(false)),
        "{back}"
    );
    let (_, open) = app.get("/api/v1/alerts?status=triggered").await;
    assert_eq!(
        open["items"].as_array().unwrap().len(),
        2,
        "the resolved alert fires again: {open}"
    );
    let (_, same) = post(fixture).await;
    assert_eq!(
        same["unchanged"].as_bool(),
        Some(true),
        "and re-sending that state again changes nothing: {same}"
    );
}

/// A second server on the same database, as another instance behind the same load balancer.
async fn second_instance(app: &TestApp) -> TestApp {
    let (data_dir, url) = (app.db.data_dir.clone(), app.db.url.clone());
    TestApp::spawn_with(
        std::sync::Arc::new(tocsin_domain::clock::SystemClock),
        move |c| {
            c.data_dir = data_dir;
            c.database_url = url;
        },
    )
    .await
}

#[tokio::test]
async fn a_group_state_another_instance_replaced_is_written_when_re_sent() {
    let a = TestApp::spawn().await;
    let b = second_instance(&a).await;
    let (_, _, url) = integration(&a, "checkout", "alertmanager", json!({})).await;
    let on_b = url.replace(&a.url, &b.url);
    assert_ne!(on_b, url);
    let fixture: Value = serde_json::from_str(include_str!(
        "../../../../tests/fixtures/alertmanager-0.25-webhook-v4-firing.json"
    ))
    .unwrap();
    let mut resolved = fixture.clone();
    resolved["alerts"][1]["status"] = json!("resolved");

    let (s, first) = send(&a, &url, &fixture).await;
    assert_eq!(
        (s, first["events"].as_u64()),
        (StatusCode::OK, Some(2)),
        "{first}"
    );
    // B stores the group's next state; A still remembers the first one.
    let (_, partly) = send(&b, &on_b, &resolved).await;
    assert_eq!(partly["unchanged"].as_bool(), Some(false), "{partly}");
    // The first state again, to A: not the group's latest any more, so it is written and the alert fires again.
    let (_, back) = send(&a, &url, &fixture).await;
    assert_eq!(back["unchanged"].as_bool(), Some(false), "{back}");
    let (_, open) = b.get("/api/v1/alerts?status=triggered").await;
    assert_eq!(
        open["items"].as_array().unwrap().len(),
        2,
        "the resolved alert fires again: {open}"
    );
    // Now it is the latest state: A answers its re-send without a write, and so does B once it has seen it (B
    // remembers no digests of this state, so its first re-send writes, changing nothing).
    send(&b, &on_b, &fixture).await;
    for (app, to) in [(&a, &url), (&b, &on_b)] {
        let (_, same) = send(app, to, &fixture).await;
        assert_eq!(same["unchanged"].as_bool(), Some(true), "{same}");
    }

    // A person resolving the incident through B makes A's next re-send open a new one.
    let (_, incidents) = b.get("/api/v1/incidents?status=triggered").await;
    let id = incidents["items"][0]["id"].as_str().unwrap().to_owned();
    let (s, _) = b
        .send(b.req(Method::POST, &format!("/api/v1/incidents/{id}/resolve")))
        .await;
    assert_eq!(s, StatusCode::OK);
    let (_, again) = send(&a, &url, &fixture).await;
    assert_eq!(again["unchanged"].as_bool(), Some(false), "{again}");
    let (_, open) = a.get("/api/v1/incidents?status=triggered").await;
    assert_eq!(open["items"].as_array().unwrap().len(), 1, "{open}");
    assert_ne!(open["items"][0]["id"], json!(id), "a new incident: {open}");
}

async fn send(app: &TestApp, to: &str, body: &Value) -> (StatusCode, Value) {
    app.send(app.client.post(to).json(body)).await
}

#[tokio::test]
async fn opsgenie_paths_answer_in_opsgenie_shape_even_when_unsupported() {
    let app = TestApp::spawn().await;
    for (method, path, status) in [
        (Method::GET, "/v2/alerts/x/notes", StatusCode::NOT_FOUND),
        (Method::PUT, "/v2/alerts/x/unknown", StatusCode::NOT_FOUND),
        (Method::DELETE, "/v2/alerts", StatusCode::METHOD_NOT_ALLOWED),
    ] {
        let (s, body) = app
            .send(
                app.client
                    .request(method.clone(), format!("{}{path}", app.url))
                    .header("Authorization", "GenieKey x"),
            )
            .await;
        assert_eq!(s, status, "{method} {path}: {body}");
        assert!(body["message"].is_string(), "{body}");
        assert!(body["took"].is_number(), "{body}");
        assert!(body["requestId"].is_string(), "{body}");
    }
    // Other paths keep Tocsin's own error shape.
    let (s, body) = app.get("/api/v1/nope").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["code"], "not_found", "{body}");
}

/// A sender that sends the same alerts under a new group key each time, or keys of any size, cannot grow the
/// server's memory: the caches keep to their budget and count what they evict, and oversized keys are refused.
#[tokio::test]
async fn ingest_caches_keep_to_their_budget_whatever_a_sender_sends() {
    let app = TestApp::spawn_with(
        std::sync::Arc::new(tocsin_domain::clock::SystemClock),
        |c| c.ingest.cache_megabytes = 1,
    )
    .await;
    // Unlimited events: this sender is here to test memory, not the event limit.
    let (_, _, url) = integration(
        &app,
        "checkout",
        "alertmanager",
        json!({"rate_limit": {"per_second": 0, "events_per_second": 0}}),
    )
    .await;
    let alerts: Vec<Value> = (0..200)
        .map(|i| {
            json!({"status": "firing", "labels": {"alertname": "Disk", "instance": format!("db-{i}")},
                   "annotations": {}, "startsAt": "2026-11-30T10:00:00Z", "endsAt": "0001-01-01T00:00:00Z",
                   "fingerprint": format!("{i:016x}")})
        })
        .collect();
    for n in 0..60 {
        let body = json!({"version": "4", "status": "firing", "receiver": "tocsin",
            "groupKey": format!("{{}}:{{attempt=\"{n}\"}}"), "alerts": alerts});
        let (s, b) = app.send(app.client.post(&url).json(&body)).await;
        assert_eq!(s, StatusCode::OK, "{b}");
    }
    let metrics = app.text("/metrics").await;
    let value = |series: &str| {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(series)?.trim().parse::<f64>().ok())
            .unwrap_or_else(|| panic!("{series} missing"))
    };
    let budget = 1024.0 * 1024.0 / 16.0 * 10.0;
    assert!(
        value(r#"tocsin_cache_bytes{cache="groups"}"#) <= budget,
        "{metrics}"
    );
    assert!(
        value(r#"tocsin_cache_evictions_total{cache="groups"}"#) > 0.0,
        "sixty groups of 200 alerts do not fit in 640 KiB"
    );

    for size in [256, 400_000] {
        let long = json!({"version": "4", "status": "firing", "groupKey": "g", "alerts": [{
            "status": "firing", "labels": {"alertname": "X"}, "fingerprint": "f".repeat(size)}]});
        let (s, b) = app.send(app.client.post(&url).json(&long)).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
        assert_eq!(b["error"]["field"], "alerts[0].fingerprint", "{b}");
    }
}

/// One sender cannot flood ingest with events: requests carry at most so many, each integration has an event limit
/// as well as a request limit, and all integrations together have the server's budget; time moves on the
/// injected clock, and every refusal is in Alertmanager's format, with `Retry-After`, and counted.
#[tokio::test]
async fn events_are_limited_per_request_per_integration_and_for_the_whole_server() {
    let clock = std::sync::Arc::new(tocsin_domain::clock::ManualClock::new(Utc::now()));
    let app = TestApp::spawn_with(clock.clone(), |c| {
        c.ingest.max_events_per_request = 100;
        c.ingest.events_per_second = 10;
        c.ingest.event_burst = 250;
    })
    .await;
    let (_, _, flood) = integration(
        &app,
        "flood",
        "prometheus",
        json!({"rate_limit": {"per_second": 100, "events_per_second": 10, "event_burst": 150}}),
    )
    .await;
    let (_, _, other) = integration(
        &app,
        "other",
        "prometheus",
        json!({"rate_limit": {"per_second": 100, "events_per_second": 10, "event_burst": 200}}),
    )
    .await;
    let post = |url: &str, prefix: &str, n: usize| {
        let alerts: Vec<Value> = (0..n)
            .map(
                |i| json!({"labels": {"alertname": format!("{prefix}{i}"), "severity": "warning"}}),
            )
            .collect();
        app.client
            .post(format!("{url}/api/v2/alerts"))
            .json(&alerts)
            .send()
    };
    let refused = |resp: reqwest::Response| async move {
        let status = resp.status();
        let retry = resp
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap().to_owned());
        let message: Value = resp.json().await.unwrap();
        (
            status,
            retry,
            message.as_str().unwrap_or_default().to_owned(),
        )
    };
    let stored = || async {
        app.get("/api/v1/alerts?limit=500").await.1["items"]
            .as_array()
            .unwrap()
            .len()
    };

    let (s, _, message) = refused(post(&flood, "a", 101).await.unwrap()).await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE, "{message}");
    assert!(
        message.contains("101 alerts") && message.contains("at most 100"),
        "{message}"
    );
    assert_eq!(stored().await, 0, "a refused request stores nothing");

    assert_eq!(
        post(&flood, "a", 100).await.unwrap().status(),
        StatusCode::OK
    );
    // 50 of the integration's 150 are left: 100 more need 5 seconds at 10 a second.
    let (s, retry, message) = refused(post(&flood, "b", 100).await.unwrap()).await;
    assert_eq!(
        (s, retry.as_deref()),
        (StatusCode::TOO_MANY_REQUESTS, Some("5")),
        "{message}"
    );
    assert!(
        message.contains("this integration is over its rate limit"),
        "{message}"
    );
    // Told to wait five seconds, the sender is refused until then, before its body is read, even for one alert.
    let (s, retry, _) = refused(post(&flood, "tiny", 1).await.unwrap()).await;
    assert_eq!(
        (s, retry.as_deref()),
        (StatusCode::TOO_MANY_REQUESTS, Some("5"))
    );

    // Another sender has its own limit, but the server's budget (250) is shared: 150 are left after the first 100.
    assert_eq!(
        post(&other, "c", 100).await.unwrap().status(),
        StatusCode::OK
    );
    let (s, retry, message) = refused(post(&other, "d", 100).await.unwrap()).await;
    assert_eq!(
        (s, retry.as_deref()),
        (StatusCode::TOO_MANY_REQUESTS, Some("5")),
        "{message}"
    );
    assert!(message.contains("ingest budget"), "{message}");
    assert_eq!(stored().await, 200);

    // A request the budget refused cost its integration nothing: five seconds on, the budget has 100 again and
    // "other" 150 (it would have 50 had the refusal been charged).
    clock.advance(Span::seconds(5));
    assert_eq!(
        post(&other, "d", 100).await.unwrap().status(),
        StatusCode::OK
    );
    clock.advance(Span::seconds(10));
    assert_eq!(
        post(&flood, "b", 100).await.unwrap().status(),
        StatusCode::OK
    );
    assert_eq!(stored().await, 400);

    // Refusals count requests; stored events count events.
    let metrics = app.text("/metrics").await;
    for (outcome, count) in [
        ("too_many_events", 1),
        ("rate_limited", 2),
        ("over_budget", 1),
        ("created", 400),
    ] {
        let series =
            format!(r#"tocsin_events_total{{kind="prometheus",outcome="{outcome}"}} {count}"#);
        assert!(
            metrics.lines().any(|l| l == series),
            "{series} not in:\n{metrics}"
        );
    }
}
