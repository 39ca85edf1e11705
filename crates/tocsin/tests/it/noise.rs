//! Noise reduction end to end: rules, silences, maintenance windows and grouping each keep matching alerts from
//! paging (with the reason on the alert) and leave the others alone.

use crate::support::TestApp;
use chrono::{Duration, SecondsFormat, TimeZone, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::sync::Arc;
use tocsin_domain::clock::ManualClock;

/// A service with a generic integration; returns its URL.
async fn service(app: &TestApp, name: &str, extra: Value) -> String {
    let mut spec = json!({ "name": name });
    spec.as_object_mut()
        .unwrap()
        .extend(extra.as_object().cloned().unwrap_or_default());
    let (s, b) = app.post("/api/v1/services", spec).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let (s, b) = app
        .post(
            &format!("/api/v1/services/{name}/integrations"),
            json!({ "kind": "generic" }),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    b["url"].as_str().unwrap().to_owned()
}

/// Sends a critical alert and returns it as stored.
async fn alert(app: &TestApp, url: &str, key: &str, labels: Value) -> Value {
    let (s, b) = app.send(app.client.post(url).json(&json!({"summary": format!("{key} failing"), "dedup_key": key, "severity": "critical", "labels": labels}))).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{b}");
    let (_, alerts) = app.get(&format!("/api/v1/alerts?dedup_key={key}")).await;
    alerts["items"][0].clone()
}

fn iso(t: chrono::DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

#[tokio::test]
async fn rules_suppress_reprioritise_and_route_in_order() {
    let app = TestApp::spawn().await;
    let web = service(&app, "web", json!({})).await;
    service(&app, "db", json!({})).await;
    for rule in [
        json!({"name": "drop staging", "matchers": ["env=staging"], "action": {"type": "suppress"}, "position": 1}),
        json!({"name": "batch is not urgent", "matchers": ["source=~batch.*"], "action": {"type": "set_severity", "severity": "warning"}, "position": 2}),
        json!({"name": "db alerts to db", "matchers": ["team=db"], "action": {"type": "route", "service": "db"}, "position": 3}),
    ] {
        let (s, b) = app.post("/api/v1/rules", rule).await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
    }
    let suppressed = alert(&app, &web, "stg", json!({"env": "staging"})).await;
    assert_eq!(suppressed["incident_id"], Value::Null, "{suppressed}");
    assert_eq!(
        suppressed["no_page_reason"]["type"], "suppressed_by_rule",
        "{suppressed}"
    );
    assert_eq!(suppressed["no_page_reason"]["rule_name"], "drop staging");

    let (s, _) = app.send(app.client.post(&web).json(&json!({"summary": "nightly export", "dedup_key": "bx", "severity": "critical", "source": "batch-7"}))).await;
    assert_eq!(s, StatusCode::ACCEPTED);
    let routed = alert(&app, &web, "pg", json!({"team": "db"})).await;
    let paged = alert(&app, &web, "prod", json!({"env": "prod"})).await;
    assert!(
        paged["incident_id"].is_string() && paged["no_page_reason"].is_null(),
        "a non-matching alert pages: {paged}"
    );

    let incidents = app.get("/api/v1/incidents").await.1["items"]
        .as_array()
        .cloned()
        .unwrap();
    let sev = |title: &str| {
        incidents
            .iter()
            .find(|i| i["title"].as_str().unwrap().starts_with(title))
            .map(|i| i["severity"].clone())
    };
    assert_eq!(
        sev("nightly export"),
        Some(json!("SEV-3")),
        "set_severity applied: {incidents:?}"
    );
    let db = app.get("/api/v1/services/db").await.1;
    assert_eq!(routed["service_id"], db["id"], "routed to db: {routed}");
    assert_eq!(
        app.get("/api/v1/incidents?service=db").await.1["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    // The routed alert resolves through the integration that sent it.
    let (s, _) = app
        .send(
            app.client
                .post(&web)
                .json(&json!({"action": "resolve", "dedup_key": "pg"})),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED);
    assert_eq!(
        alert(&app, &web, "pg", json!({"team": "db"})).await["status"],
        "triggered",
        "a new trigger after the resolve"
    );
    assert_eq!(
        app.get("/api/v1/incidents?service=db&status=resolved")
            .await
            .1["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    for (rule, field) in [
        (
            json!({"name": "x", "matchers": ["bad matcher"], "action": {"type": "suppress"}}),
            "matchers[0]",
        ),
        (
            json!({"name": "x", "matchers": ["a=b"], "action": {"type": "route", "service": "nowhere"}}),
            "action.service",
        ),
        (
            json!({"name": "", "matchers": [], "action": {"type": "suppress"}}),
            "name",
        ),
    ] {
        let (s, b) = app.post("/api/v1/rules", rule).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
        assert!(
            b["error"]["message"].as_str().unwrap().contains(field),
            "{field}: {b}"
        );
    }
    assert_eq!(
        app.get("/api/v1/rules").await.1["items"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
}

#[tokio::test]
async fn silences_mute_until_expired_and_can_be_extended() {
    let start = Utc.with_ymd_and_hms(2026, 6, 1, 12, 0, 0).unwrap();
    let clock = Arc::new(ManualClock::new(start));
    let app = TestApp::spawn_with_clock(clock.clone()).await;
    let url = service(&app, "storage", json!({})).await;
    let (s, silence) = app
        .post("/api/v1/silences", json!({"matchers": ["alertname=DiskFull", "host=~db-.*"], "starts_at": iso(start), "ends_at": iso(start + Duration::hours(1)), "comment": "disk swap on db hosts"}))
        .await;
    assert_eq!(
        (s, silence["state"].as_str()),
        (StatusCode::CREATED, Some("active")),
        "{silence}"
    );
    assert_eq!(silence["created_by"], "bootstrap admin");
    let id = silence["id"].as_str().unwrap().to_owned();

    let muted = alert(
        &app,
        &url,
        "d1",
        json!({"alertname": "DiskFull", "host": "db-1"}),
    )
    .await;
    assert_eq!(
        (
            muted["incident_id"].clone(),
            muted["no_page_reason"]["type"].clone()
        ),
        (Value::Null, json!("silenced")),
        "{muted}"
    );
    assert_eq!(muted["no_page_reason"]["comment"], "disk swap on db hosts");
    let other = alert(
        &app,
        &url,
        "w1",
        json!({"alertname": "DiskFull", "host": "web-1"}),
    )
    .await;
    assert!(
        other["incident_id"].is_string(),
        "web-1 is not silenced: {other}"
    );

    let (s, b) = app
        .post(
            &format!("/api/v1/silences/{id}/extend"),
            json!({"ends_at": iso(start + Duration::hours(3))}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    clock.advance(Duration::hours(2));
    assert_eq!(
        alert(
            &app,
            &url,
            "d2",
            json!({"alertname": "DiskFull", "host": "db-2"})
        )
        .await["no_page_reason"]["type"],
        "silenced",
        "extended"
    );

    let (s, b) = app
        .send(app.req(Method::DELETE, &format!("/api/v1/silences/{id}")))
        .await;
    assert_eq!(
        (s, b["state"].as_str()),
        (StatusCode::OK, Some("expired")),
        "{b}"
    );
    // The muted alert is still firing: its next trigger pages now.
    let paged = alert(
        &app,
        &url,
        "d1",
        json!({"alertname": "DiskFull", "host": "db-1"}),
    )
    .await;
    assert!(
        paged["incident_id"].is_string() && paged["no_page_reason"].is_null(),
        "{paged}"
    );

    let (s, b) = app.post("/api/v1/silences", json!({"matchers": ["a=b"], "starts_at": iso(start), "ends_at": iso(start), "comment": "x"})).await;
    assert!(
        s == StatusCode::BAD_REQUEST && b["error"]["message"].as_str().unwrap().contains("ends_at"),
        "{b}"
    );
    let (s, b) = app.post("/api/v1/silences", json!({"matchers": ["a=b"], "starts_at": iso(start), "ends_at": iso(start + Duration::hours(1)), "comment": " "})).await;
    assert!(
        s == StatusCode::BAD_REQUEST && b["error"]["message"].as_str().unwrap().contains("comment"),
        "{b}"
    );
    assert_eq!(
        app.get("/api/v1/silences").await.1["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn maintenance_windows_once_and_recurring() {
    let start = Utc.with_ymd_and_hms(2026, 6, 7, 1, 0, 0).unwrap();
    let clock = Arc::new(ManualClock::new(start));
    let app = TestApp::spawn_with_clock(clock.clone()).await;
    let db = service(&app, "db", json!({})).await;
    let web = service(&app, "web", json!({})).await;
    let (s, once) = app
        .post("/api/v1/maintenance", json!({"service": "web", "description": "load balancer swap",
            "schedule": {"type": "once", "starts_at": iso(start), "ends_at": iso(start + Duration::minutes(30))}}))
        .await;
    assert_eq!(
        (s, once["active"].as_bool()),
        (StatusCode::CREATED, Some(true)),
        "{once}"
    );
    let (s, nightly) = app
        .post("/api/v1/maintenance", json!({"service": "db", "description": "nightly vacuum",
            "schedule": {"type": "cron", "expression": "0 2 * * *", "time_zone": "UTC", "duration_minutes": 60}}))
        .await;
    assert_eq!(
        (s, nightly["active"].as_bool()),
        (StatusCode::CREATED, Some(false)),
        "{nightly}"
    );
    assert_eq!(nightly["next_starts_at"], iso(start + Duration::hours(1)));

    let a = alert(&app, &web, "lb", json!({})).await;
    assert_eq!(
        (
            a["incident_id"].clone(),
            a["no_page_reason"]["type"].clone()
        ),
        (Value::Null, json!("in_maintenance")),
        "{a}"
    );
    assert_eq!(a["no_page_reason"]["description"], "load balancer swap");
    assert!(
        alert(&app, &db, "before", json!({})).await["incident_id"].is_string(),
        "db is not in maintenance at 01:00"
    );

    clock.set(Utc.with_ymd_and_hms(2026, 6, 8, 2, 30, 0).unwrap());
    assert_eq!(
        alert(&app, &db, "vacuum", json!({})).await["no_page_reason"]["type"],
        "in_maintenance",
        "02:30 the next night"
    );
    assert!(
        alert(&app, &web, "after", json!({})).await["incident_id"].is_string(),
        "the one-off window is over"
    );
    clock.set(Utc.with_ymd_and_hms(2026, 6, 8, 3, 0, 0).unwrap());
    assert!(
        alert(&app, &db, "late", json!({})).await["incident_id"].is_string(),
        "the window closed at 03:00"
    );

    let (s, b) = app.post("/api/v1/maintenance", json!({"service": "db", "schedule": {"type": "cron", "expression": "every night", "time_zone": "UTC", "duration_minutes": 60}})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
    assert!(
        b["error"]["message"]
            .as_str()
            .unwrap()
            .contains("schedule.expression"),
        "{b}"
    );
    let (s, _) = app.post("/api/v1/maintenance", json!({"service": "ghost", "schedule": {"type": "once", "starts_at": iso(start), "ends_at": iso(start + Duration::hours(1))}})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let id = nightly["id"].as_str().unwrap();
    assert_eq!(
        app.send(app.req(Method::DELETE, &format!("/api/v1/maintenance/{id}")))
            .await
            .0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.get("/api/v1/maintenance?service=db").await.1["items"],
        json!([])
    );
}

#[tokio::test]
async fn services_group_alerts_by_time_window_or_by_labels() {
    let start = Utc.with_ymd_and_hms(2026, 6, 1, 9, 0, 0).unwrap();
    let clock = Arc::new(ManualClock::new(start));
    let app = TestApp::spawn_with_clock(clock.clone()).await;
    let windowed = service(
        &app,
        "api",
        json!({"grouping": {"mode": "time_window", "minutes": 10}}),
    )
    .await;
    let keyed = service(
        &app,
        "k8s",
        json!({"grouping": {"mode": "by_key", "key": {"type": "labels", "labels": ["cluster"]}}}),
    )
    .await;

    let first = alert(&app, &windowed, "a1", json!({})).await;
    clock.advance(Duration::minutes(5));
    let second = alert(&app, &windowed, "a2", json!({})).await;
    assert_eq!(
        first["incident_id"], second["incident_id"],
        "within 10 minutes: one incident"
    );
    clock.advance(Duration::minutes(20));
    let third = alert(&app, &windowed, "a3", json!({})).await;
    assert_ne!(
        first["incident_id"], third["incident_id"],
        "later: a new incident"
    );
    let (_, timeline) = app
        .get(&format!(
            "/api/v1/incidents/{}/timeline",
            first["incident_id"].as_str().unwrap()
        ))
        .await;
    let joined = timeline["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "alert_added")
        .cloned()
        .expect("joined on the timeline");
    assert!(
        joined["message"]
            .as_str()
            .unwrap()
            .contains("within 10 minutes"),
        "{joined}"
    );

    let a = alert(&app, &keyed, "p1", json!({"cluster": "eu-1", "pod": "x"})).await;
    let b = alert(&app, &keyed, "p2", json!({"cluster": "eu-1", "pod": "y"})).await;
    let c = alert(&app, &keyed, "p3", json!({"cluster": "us-2", "pod": "x"})).await;
    assert_eq!(a["incident_id"], b["incident_id"]);
    assert_ne!(a["incident_id"], c["incident_id"]);

    let (s, b) = app
        .post(
            "/api/v1/services",
            json!({"name": "bad", "grouping": {"mode": "time_window", "minutes": 0}}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
    assert!(
        b["error"]["message"].as_str().unwrap().contains("grouping"),
        "{b}"
    );
}

#[tokio::test]
async fn info_alerts_say_why_they_did_not_page() {
    let app = TestApp::spawn().await;
    let url = service(&app, "misc", json!({})).await;
    let (s, _) = app
        .send(app.client.post(&url).json(
            &json!({"summary": "cert renews in 20 days", "dedup_key": "cert", "severity": "info"}),
        ))
        .await;
    assert_eq!(s, StatusCode::ACCEPTED);
    let a = &app.get("/api/v1/alerts?dedup_key=cert").await.1["items"][0];
    assert_eq!(a["no_page_reason"]["type"], "info_severity", "{a}");
}

#[tokio::test]
async fn alerts_downstream_of_an_open_incident_join_it() {
    let app = TestApp::spawn().await;
    let db = service(&app, "db", json!({})).await;
    service(&app, "queue", json!({"depends_on": ["db"]})).await;
    let checkout = service(&app, "checkout", json!({"depends_on": ["queue"]})).await;
    let upstream = alert(&app, &db, "db-down", json!({})).await;
    let downstream = alert(&app, &checkout, "checkout-errors", json!({})).await;
    assert_eq!(
        downstream["incident_id"], upstream["incident_id"],
        "checkout depends on db through queue"
    );
    let id = upstream["incident_id"].as_str().unwrap();
    let (_, inc) = app.get(&format!("/api/v1/incidents/{id}")).await;
    assert_eq!(
        inc["services"].as_array().unwrap().len(),
        2,
        "the incident now affects checkout too: {inc}"
    );
    let (_, timeline) = app.get(&format!("/api/v1/incidents/{id}/timeline")).await;
    assert!(
        timeline["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["message"]
                .as_str()
                .unwrap()
                .contains("checkout depends on db")),
        "the timeline says why: {timeline}"
    );
    // Nothing upstream is open for db's own dependants' siblings: an unrelated service still opens its own.
    let other = service(&app, "search", json!({})).await;
    assert_ne!(
        alert(&app, &other, "search-slow", json!({})).await["incident_id"],
        upstream["incident_id"]
    );
}

#[tokio::test]
async fn a_flapping_alert_holds_its_incident_open_instead_of_reopening() {
    let app = TestApp::spawn().await;
    let url = service(&app, "flaky", json!({})).await;
    let resolve = || {
        app.client
            .post(&url)
            .json(&json!({"action": "resolve", "dedup_key": "flap"}))
    };
    let mut fifth = Value::Null;
    for round in 1..=5 {
        let fired = alert(&app, &url, "flap", json!({})).await;
        assert!(
            fired["incident_id"].is_string(),
            "round {round} pages: {fired}"
        );
        fifth = fired["incident_id"].clone();
        assert_eq!(app.send(resolve()).await.0, StatusCode::ACCEPTED);
    }
    let held = app
        .get(&format!("/api/v1/incidents/{}", fifth.as_str().unwrap()))
        .await
        .1;
    assert_eq!(
        held["status"], "triggered",
        "the fifth resolve holds the incident open: {held}"
    );
    let sixth = alert(&app, &url, "flap", json!({})).await;
    assert_eq!(
        sixth["incident_id"], fifth,
        "the next fire joins the held incident instead of opening one"
    );
    assert_eq!(
        app.get("/api/v1/incidents").await.1["items"]
            .as_array()
            .unwrap()
            .len(),
        5
    );
    let (_, timeline) = app
        .get(&format!(
            "/api/v1/incidents/{}/timeline",
            fifth.as_str().unwrap()
        ))
        .await;
    let messages: Vec<&str> = timeline["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["message"].as_str().unwrap())
        .collect();
    assert!(
        messages
            .iter()
            .any(|m| m.contains("held open because the alert is flapping")),
        "{messages:?}"
    );
    assert!(
        messages
            .iter()
            .any(|m| m.contains("fired again while flapping")),
        "{messages:?}"
    );

    // Once a person resolves it, further flapping fires are recorded with the reason and page no one.
    app.post(
        &format!("/api/v1/incidents/{}/resolve", fifth.as_str().unwrap()),
        json!({}),
    )
    .await;
    let seventh = alert(&app, &url, "flap", json!({})).await;
    assert_eq!(
        (
            seventh["incident_id"].clone(),
            seventh["no_page_reason"]["type"].clone()
        ),
        (Value::Null, json!("flapping")),
        "{seventh}"
    );
}

#[tokio::test]
async fn a_rule_routing_to_a_deleted_service_keeps_the_alert_on_its_own() {
    let app = TestApp::spawn().await;
    let web = service(&app, "web", json!({})).await;
    service(&app, "legacy", json!({})).await;
    let (s, b) = app.post("/api/v1/rules", json!({"name": "to legacy", "matchers": ["team=old"], "action": {"type": "route", "service": "legacy"}})).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    assert_eq!(
        app.send(app.req(Method::DELETE, "/api/v1/services/legacy"))
            .await
            .0,
        StatusCode::NO_CONTENT
    );
    let kept = alert(&app, &web, "old-1", json!({"team": "old"})).await;
    let web_id = app.get("/api/v1/services/web").await.1["id"].clone();
    assert_eq!(kept["service_id"], web_id, "{kept}");
    assert!(kept["incident_id"].is_string(), "it still pages: {kept}");
}
