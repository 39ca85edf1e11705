//! The HTTP API and PagerDuty ingest, end to end against a real server.

use crate::support::TestApp;
use chrono::{Duration, TimeZone, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::sync::Arc;
use tocsin_domain::clock::ManualClock;

fn remove(v: &mut Value, path: &[&str]) {
    let (last, parents) = path.split_last().unwrap();
    let mut cur = v;
    for p in parents {
        cur = &mut cur[*p];
    }
    cur.as_object_mut().unwrap().remove(*last);
}

#[tokio::test]
async fn pagerduty_validation_names_each_bad_field_and_stores_nothing() {
    let app = TestApp::spawn().await;
    let key = app.service_with_key("api").await;
    let valid = TestApp::trigger(&key, "v1", "critical");
    type Edit = Box<dyn Fn(&mut Value)>;
    let cases: Vec<(&str, Edit, &str)> = vec![
        (
            "missing routing_key",
            Box::new(|v| remove(v, &["routing_key"])),
            "'routing_key' is missing or blank",
        ),
        (
            "routing_key not a string",
            Box::new(|v| v["routing_key"] = json!(42)),
            "'routing_key' is invalid",
        ),
        (
            "missing event_action",
            Box::new(|v| remove(v, &["event_action"])),
            "'event_action' is missing or blank",
        ),
        (
            "unknown event_action",
            Box::new(|v| v["event_action"] = json!("page")),
            "'event_action' is invalid",
        ),
        (
            "missing payload",
            Box::new(|v| remove(v, &["payload"])),
            "'payload' is missing or blank",
        ),
        (
            "payload not an object",
            Box::new(|v| v["payload"] = json!([1])),
            "'payload' is invalid",
        ),
        (
            "missing summary",
            Box::new(|v| remove(v, &["payload", "summary"])),
            "'payload.summary' is missing or blank",
        ),
        (
            "summary too long",
            Box::new(|v| v["payload"]["summary"] = json!("s".repeat(1025))),
            "'payload.summary' is invalid",
        ),
        (
            "missing source",
            Box::new(|v| remove(v, &["payload", "source"])),
            "'payload.source' is missing or blank",
        ),
        (
            "missing severity",
            Box::new(|v| remove(v, &["payload", "severity"])),
            "'payload.severity' is missing or blank",
        ),
        (
            "bad severity",
            Box::new(|v| v["payload"]["severity"] = json!("fatal")),
            "'payload.severity' is invalid",
        ),
        (
            "bad timestamp",
            Box::new(|v| v["payload"]["timestamp"] = json!("now-ish")),
            "'payload.timestamp' is invalid",
        ),
        (
            "dedup_key too long",
            Box::new(|v| v["dedup_key"] = json!("d".repeat(256))),
            "'dedup_key' is invalid",
        ),
        (
            "link without href",
            Box::new(|v| v["links"] = json!([{"text": "runbook"}])),
            "'links[0].href' is missing or blank",
        ),
        (
            "image without src",
            Box::new(|v| v["images"] = json!([{"alt": "graph"}])),
            "'images[0].src' is missing or blank",
        ),
        (
            "resolve without dedup_key",
            Box::new(|v| {
                v["event_action"] = json!("resolve");
                remove(v, &["dedup_key"]);
            }),
            "'dedup_key' is missing or blank",
        ),
    ];
    for (name, edit, expected) in cases {
        let mut body = valid.clone();
        edit(&mut body);
        let (status, resp) = app.enqueue(body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{name}: {resp}");
        assert_eq!(resp["status"], "invalid event", "{name}");
        assert_eq!(resp["message"], "Event object is invalid", "{name}");
        let errors: Vec<&str> = resp["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e.as_str().unwrap())
            .collect();
        assert!(
            errors.iter().any(|e| e.starts_with(expected)),
            "{name}: expected {expected:?} in {errors:?}"
        );
    }
    let (status, resp) = app
        .send(
            app.client
                .post(format!("{}/v2/enqueue", app.url))
                .header("Content-Type", "application/json")
                .body("{not json"),
        )
        .await;
    assert_eq!(
        (status, resp["status"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid event"))
    );
    let (_, alerts) = app.get("/api/v1/alerts").await;
    assert_eq!(alerts["items"], json!([]), "refused events store nothing");
}

#[tokio::test]
async fn dedup_acknowledge_resolve_and_retrigger_follow_pagerduty() {
    let app = TestApp::spawn().await;
    let key = app.service_with_key("checkout").await;

    let (s, first) = app
        .enqueue(TestApp::trigger(&key, "disk-full", "critical"))
        .await;
    assert_eq!(
        (s, &first),
        (
            StatusCode::ACCEPTED,
            &json!({"status": "success", "message": "Event processed", "dedup_key": "disk-full"})
        )
    );
    let (s, _) = app
        .enqueue(TestApp::trigger(&key, "disk-full", "critical"))
        .await;
    assert_eq!(s, StatusCode::ACCEPTED);

    let (_, incidents) = app.get("/api/v1/incidents").await;
    let items = incidents["items"].as_array().unwrap();
    assert_eq!(
        items.len(),
        1,
        "a repeat trigger updates the open alert: {incidents}"
    );
    assert_eq!(
        (items[0]["number"].as_i64(), items[0]["severity"].as_str()),
        (Some(1), Some("SEV-1"))
    );
    let (_, alerts) = app.get("/api/v1/incidents/1/alerts").await;
    assert_eq!(alerts["items"][0]["event_count"], 2);

    let ack = json!({"routing_key": key, "event_action": "acknowledge", "dedup_key": "disk-full"});
    assert_eq!(app.enqueue(ack).await.0, StatusCode::ACCEPTED);
    let (_, inc) = app.get("/api/v1/incidents/1").await;
    assert_eq!(
        (
            inc["status"].as_str(),
            inc["acknowledged_by"]["kind"].as_str()
        ),
        (Some("acknowledged"), Some("integration"))
    );

    // Alertmanager's resolve carries a payload; it must be accepted.
    let resolve = json!({"routing_key": key, "event_action": "resolve", "dedup_key": "disk-full", "payload": {"summary": "ok", "source": "am", "severity": "error"}});
    assert_eq!(app.enqueue(resolve.clone()).await.0, StatusCode::ACCEPTED);
    let (_, inc) = app.get("/api/v1/incidents/1").await;
    assert_eq!(inc["status"], "resolved");
    let (_, timeline) = app.get("/api/v1/incidents/1/timeline").await;
    let last = timeline["items"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(last["kind"], "resolved");
    assert!(
        last["message"]
            .as_str()
            .unwrap()
            .contains("all of its alerts resolved"),
        "{last}"
    );

    // Follow-ups for closed or unknown keys are accepted and change nothing.
    assert_eq!(app.enqueue(resolve).await.0, StatusCode::ACCEPTED);
    assert_eq!(
        app.enqueue(
            json!({"routing_key": key, "event_action": "acknowledge", "dedup_key": "never"})
        )
        .await
        .0,
        StatusCode::ACCEPTED
    );
    let (_, inc) = app.get("/api/v1/incidents/1").await;
    assert_eq!(inc["status"], "resolved");

    // A trigger after resolve opens a new alert and incident.
    assert_eq!(
        app.enqueue(TestApp::trigger(&key, "disk-full", "warning"))
            .await
            .0,
        StatusCode::ACCEPTED
    );
    let (_, incidents) = app.get("/api/v1/incidents?status=triggered").await;
    assert_eq!(
        (
            incidents["items"][0]["number"].as_i64(),
            incidents["items"][0]["severity"].as_str()
        ),
        (Some(2), Some("SEV-3"))
    );
    let (_, by_key) = app.get("/api/v1/alerts?dedup_key=disk-full").await;
    assert_eq!(by_key["items"].as_array().unwrap().len(), 2);
    let alert_id = by_key["items"][1]["id"].as_str().unwrap();
    let (_, events) = app.get(&format!("/api/v1/alerts/{alert_id}/events")).await;
    let results: Vec<&str> = events["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["result"].as_str().unwrap())
        .collect();
    assert_eq!(
        results,
        ["created", "deduplicated", "acknowledged", "resolved"]
    );
}

#[tokio::test]
async fn generated_dedup_keys_routing_key_header_and_info_alerts() {
    let app = TestApp::spawn().await;
    let key = app.service_with_key("web").await;
    let mut body = TestApp::trigger("", "x", "info");
    remove(&mut body, &["routing_key"]);
    remove(&mut body, &["dedup_key"]);
    let (s, resp) = app
        .send(
            app.client
                .post(format!("{}/v2/enqueue", app.url))
                .header("X-Routing-Key", &key)
                .json(&body),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{resp}");
    let generated = resp["dedup_key"].as_str().unwrap();
    assert_eq!(generated.len(), 32);
    let (_, alerts) = app
        .get(&format!("/api/v1/alerts?dedup_key={generated}"))
        .await;
    assert_eq!(
        alerts["items"][0]["incident_id"],
        Value::Null,
        "info alerts are recorded without an incident"
    );
    let (_, incidents) = app.get("/api/v1/incidents").await;
    assert_eq!(incidents["items"], json!([]));
}

#[tokio::test]
async fn severity_map_is_per_service() {
    let app = TestApp::spawn().await;
    let map = json!({"critical": "SEV-0", "error": "SEV-1", "warning": "none", "info": "SEV-3"});
    let (s, b) = app
        .post(
            "/api/v1/services",
            json!({"name": "payments", "alert_severity_map": map}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let (_, integ) = app
        .post(
            "/api/v1/services/payments/integrations",
            json!({"name": "grafana"}),
        )
        .await;
    let key = integ["key"].as_str().unwrap();
    assert!(integ["url"].as_str().unwrap().ends_with("/v2/enqueue"));
    app.enqueue(TestApp::trigger(key, "a", "critical")).await;
    app.enqueue(TestApp::trigger(key, "b", "warning")).await;
    app.enqueue(TestApp::trigger(key, "c", "info")).await;
    let (_, incidents) = app.get("/api/v1/incidents").await;
    let sevs: Vec<&str> = incidents["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["severity"].as_str().unwrap())
        .collect();
    assert_eq!(sevs, ["SEV-3", "SEV-0"]);
    let (s, b) = app.post("/api/v1/services", json!({"name": "x", "alert_severity_map": {"critical": "SEV-9", "error": "none", "warning": "none", "info": "none"}})).await;
    assert_eq!(
        (s, b["error"]["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("alert_severity_map.critical")),
        "{b}"
    );
}

#[tokio::test]
async fn change_events_are_recorded_and_never_page() {
    let app = TestApp::spawn().await;
    let key = app.service_with_key("deploys").await;
    let change = json!({"routing_key": key, "payload": {"summary": "Deployed v1.4.2", "source": "github-actions", "custom_details": {"sha": "9f1c"}}, "links": [{"href": "https://ci.example.com/1", "text": "build"}]});
    let (s, b) = app
        .send(
            app.client
                .post(format!("{}/v2/change/enqueue", app.url))
                .json(&change),
        )
        .await;
    assert_eq!(
        (s, b["status"].as_str()),
        (StatusCode::ACCEPTED, Some("success"))
    );
    let (s, b) = app
        .send(
            app.client
                .post(format!("{}/v2/change/enqueue", app.url))
                .json(&json!({"routing_key": key, "payload": {}})),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(
        b["errors"],
        json!(["'payload.summary' is missing or blank"])
    );
    let (_, changes) = app.get("/api/v1/services/deploys/changes").await;
    assert_eq!(changes["items"].as_array().unwrap().len(), 1);
    assert_eq!(changes["items"][0]["links"][0]["text"], "build");
    let (_, incidents) = app.get("/api/v1/incidents").await;
    assert_eq!(incidents["items"], json!([]));
}

#[tokio::test]
async fn integration_keys_are_scoped_and_revocable() {
    let app = TestApp::spawn().await;
    let key_a = app.service_with_key("a").await;
    app.service_with_key("b").await;
    app.enqueue(TestApp::trigger(&key_a, "k", "error")).await;
    let (_, alerts) = app.get("/api/v1/alerts?service=b").await;
    assert_eq!(
        alerts["items"],
        json!([]),
        "a key ingests only into its own service"
    );

    let (_, list) = app.get("/api/v1/services/a/integrations").await;
    let id = list["items"][0]["id"].as_str().unwrap();
    assert!(
        list["items"][0].get("key").is_none(),
        "keys are never shown again"
    );
    let (s, revoked) = app
        .send(app.req(Method::DELETE, &format!("/api/v1/integrations/{id}")))
        .await;
    assert_eq!(s, StatusCode::OK);
    assert!(revoked["revoked_at"].is_string());
    let (s, b) = app.enqueue(TestApp::trigger(&key_a, "k2", "error")).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(
        b["errors"][0]
            .as_str()
            .unwrap()
            .starts_with("'routing_key' is invalid"),
        "{b}"
    );
    let (s, _) = app
        .enqueue(TestApp::trigger(
            "0123456789abcdef0123456789abcdef",
            "k",
            "error",
        ))
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "unknown keys are refused");
    let (_, alerts) = app.get("/api/v1/alerts").await;
    assert_eq!(alerts["items"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn manual_incidents_and_their_life_cycle() {
    let app = TestApp::spawn().await;
    app.post(
        "/api/v1/users",
        json!({"name": "Dana", "email": "dana@example.com", "time_zone": "America/New_York"}),
    )
    .await;
    app.post("/api/v1/services", json!({"name": "storefront"}))
        .await;
    let (_, tok) = app
        .post(
            "/api/v1/tokens",
            json!({"name": "dana-cli", "scope": "write", "user": "dana@example.com"}),
        )
        .await;
    let dana = tok["token"].as_str().unwrap().to_owned();
    let as_dana = |m: Method, p: &str| {
        app.client
            .request(m, format!("{}{p}", app.url))
            .bearer_auth(&dana)
    };

    let (s, inc) = app
        .send(as_dana(Method::POST, "/api/v1/incidents").json(&json!({"title": "Customers cannot pay", "severity": "SEV-1", "services": ["storefront"], "description": "Support ticket 4411"})))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{inc}");
    assert_eq!(
        (
            inc["number"].as_i64(),
            inc["created_by"]["name"].as_str(),
            inc["status"].as_str()
        ),
        (Some(1), Some("Dana"), Some("triggered"))
    );

    let (s, b) = app
        .send(as_dana(Method::PATCH, "/api/v1/incidents/1").json(&json!({"severity": "SEV-0"})))
        .await;
    assert_eq!((s, b["severity"].as_str()), (StatusCode::OK, Some("SEV-0")));
    let (s, note) = app
        .send(
            as_dana(Method::POST, "/api/v1/incidents/%231/notes")
                .json(&json!({"body": "Payment provider **down**"})),
        )
        .await;
    assert_eq!(
        (s, note["kind"].as_str(), note["actor"]["name"].as_str()),
        (StatusCode::CREATED, Some("note"), Some("Dana"))
    );
    let (s, b) = app
        .send(as_dana(Method::POST, "/api/v1/incidents/1/acknowledge"))
        .await;
    assert_eq!(
        (s, b["acknowledged_by"]["name"].as_str()),
        (StatusCode::OK, Some("Dana"))
    );
    let (s, b) = app
        .send(as_dana(Method::POST, "/api/v1/incidents/1/resolve"))
        .await;
    assert_eq!(
        (s, b["status"].as_str()),
        (StatusCode::OK, Some("resolved"))
    );
    let (s, b) = app
        .send(as_dana(Method::POST, "/api/v1/incidents/1/acknowledge"))
        .await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("invalid_transition"))
    );

    let (_, timeline) = app.get("/api/v1/incidents/1/timeline").await;
    let kinds: Vec<&str> = timeline["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "opened",
            "unassigned",
            "severity_changed",
            "note",
            "acknowledged",
            "resolved"
        ]
    );
    assert!(
        timeline["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["kind"] != "unassigned")
            .all(|e| e["actor"]["name"] == "Dana"),
        "what people did is credited to them; that nobody was paged, to the system"
    );

    for (body, field) in [
        (json!({"title": "", "severity": "SEV-1"}), "title"),
        (json!({"title": "x", "severity": "SEV-7"}), "severity"),
        (
            json!({"title": "x", "severity": "SEV-1", "services": ["ghost"]}),
            "services[0]",
        ),
        (
            json!({"title": "x", "severity": "SEV-1", "colour": "red"}),
            "colour",
        ),
    ] {
        let (s, b) = app.post("/api/v1/incidents", body.clone()).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{body}: {b}");
        let named = b["error"]["field"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| b["error"]["message"].as_str().unwrap().to_owned());
        assert!(named.contains(field), "{body}: expected {field} in {b}");
    }
    let (_, list) = app.get("/api/v1/incidents").await;
    assert_eq!(
        list["items"].as_array().unwrap().len(),
        1,
        "refused declarations open nothing"
    );
    let (s, b) = app.get("/api/v1/incidents/99").await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found"))
    );
}

#[tokio::test]
async fn incident_lists_filter_by_time_and_paginate() {
    let start = Utc.with_ymd_and_hms(2026, 6, 1, 12, 0, 0).unwrap();
    let clock = Arc::new(ManualClock::new(start));
    let app = TestApp::spawn_with_clock(clock.clone()).await;
    let key = app.service_with_key("svc").await;
    for i in 0..5 {
        app.enqueue(TestApp::trigger(&key, &format!("k{i}"), "critical"))
            .await;
        clock.advance(Duration::hours(1));
    }
    let since = (start + Duration::hours(1)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let until = (start + Duration::hours(3)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let (_, b) = app
        .get(&format!("/api/v1/incidents?since={since}&until={until}"))
        .await;
    let numbers: Vec<i64> = b["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["number"].as_i64().unwrap())
        .collect();
    assert_eq!(numbers, [3, 2]);

    let (_, p1) = app.get("/api/v1/incidents?limit=2").await;
    let cursor = p1["next_cursor"].as_str().unwrap();
    let (_, p2) = app
        .get(&format!("/api/v1/incidents?limit=2&cursor={cursor}"))
        .await;
    let (_, p3) = app
        .get(&format!(
            "/api/v1/incidents?limit=2&cursor={}",
            p2["next_cursor"].as_str().unwrap()
        ))
        .await;
    let all: Vec<i64> = [&p1, &p2, &p3]
        .iter()
        .flat_map(|p| {
            p["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["number"].as_i64().unwrap())
        })
        .collect();
    assert_eq!(all, [5, 4, 3, 2, 1]);
    assert_eq!(p3["next_cursor"], Value::Null);

    for (query, field) in [
        ("status=open", "status"),
        ("severity=high", "severity"),
        ("since=yesterday", "since"),
        ("cursor=zzz", "cursor"),
        ("limit=many", "limit"),
    ] {
        let (s, b) = app.get(&format!("/api/v1/incidents?{query}")).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{query}: {b}");
        assert!(
            b["error"]["message"].as_str().unwrap().contains(field),
            "{query}: {b}"
        );
    }
}

#[tokio::test]
async fn every_api_call_needs_a_valid_token_with_the_right_scope() {
    let app = TestApp::spawn().await;
    let anon = |m: Method, p: &str| app.client.request(m, format!("{}{p}", app.url));
    for (m, p) in [
        (Method::GET, "/api/v1/services"),
        (Method::POST, "/api/v1/incidents"),
        (Method::GET, "/api/v1/tokens"),
        (Method::GET, "/api/v1/catalog"),
    ] {
        let (s, b) = app.send(anon(m.clone(), p)).await;
        assert_eq!(
            (s, b["error"]["code"].as_str()),
            (StatusCode::UNAUTHORIZED, Some("missing_token")),
            "{m} {p}"
        );
    }
    let (s, b) = app
        .send(anon(Method::GET, "/api/v1/services").bearer_auth("tcs_forged"))
        .await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_token"))
    );
    // An unauthenticated write with a malformed body is refused for the token, not the body, and changes nothing.
    let (s, _) = app
        .send(anon(Method::POST, "/api/v1/services").body("{{{"))
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);

    let (_, reader) = app
        .post("/api/v1/tokens", json!({"name": "dash", "scope": "read"}))
        .await;
    let reader_token = reader["token"].as_str().unwrap().to_owned();
    assert!(reader_token.starts_with("tcs_"));
    let as_reader = |m: Method, p: &str| {
        app.client
            .request(m, format!("{}{p}", app.url))
            .bearer_auth(&reader_token)
    };
    assert_eq!(
        app.send(as_reader(Method::GET, "/api/v1/services")).await.0,
        StatusCode::OK
    );
    let (s, b) = app
        .send(as_reader(Method::POST, "/api/v1/services").json(&json!({"name": "x"})))
        .await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("forbidden"))
    );
    assert_eq!(
        app.send(as_reader(Method::GET, "/api/v1/tokens")).await.0,
        StatusCode::FORBIDDEN,
        "tokens are admin-only"
    );
    let (_, services) = app.get("/api/v1/services").await;
    assert_eq!(
        services["items"],
        json!([]),
        "refused writes change nothing"
    );

    let (_, list) = app.get("/api/v1/tokens").await;
    assert!(
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t.get("token").is_none() && t.get("token_hash").is_none()),
        "secrets never listed"
    );
    let id = reader["id"].as_str().unwrap();
    assert_eq!(
        app.send(app.req(Method::DELETE, &format!("/api/v1/tokens/{id}")))
            .await
            .0,
        StatusCode::OK
    );
    assert_eq!(
        app.send(as_reader(Method::GET, "/api/v1/services")).await.0,
        StatusCode::UNAUTHORIZED,
        "revoked tokens stop working"
    );

    let (s, b) = app
        .post(
            "/api/v1/tokens",
            json!({"name": "old", "scope": "read", "expires_at": "2001-01-01T00:00:00Z"}),
        )
        .await;
    assert_eq!(
        (s, b["error"]["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("expires_at"))
    );
}

#[tokio::test]
async fn expired_tokens_stop_working_when_the_clock_passes_them() {
    let start = Utc.with_ymd_and_hms(2026, 6, 1, 12, 0, 0).unwrap();
    let clock = Arc::new(ManualClock::new(start));
    let app = TestApp::spawn_with_clock(clock.clone()).await;
    let (_, t) = app
        .post(
            "/api/v1/tokens",
            json!({"name": "temp", "scope": "read", "expires_at": "2026-06-01T13:00:00Z"}),
        )
        .await;
    let temp = t["token"].as_str().unwrap().to_owned();
    let get = || {
        app.client
            .get(format!("{}/api/v1/services", app.url))
            .bearer_auth(&temp)
    };
    assert_eq!(app.send(get()).await.0, StatusCode::OK);
    clock.advance(Duration::hours(2));
    assert_eq!(app.send(get()).await.0, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn oversize_bodies_get_413_and_change_nothing() {
    let app = TestApp::spawn().await;
    let key = app.service_with_key("big").await;
    let mut body = TestApp::trigger(&key, "huge", "critical");
    body["payload"]["custom_details"] = json!({"blob": "x".repeat(600 * 1024)});
    let (s, b) = app.enqueue(body).await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE, "{b}");
    let (s, b) = app
        .post(
            "/api/v1/services",
            json!({"name": "y", "description": "d".repeat(600 * 1024)}),
        )
        .await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (StatusCode::PAYLOAD_TOO_LARGE, Some("payload_too_large"))
    );
    let (_, alerts) = app.get("/api/v1/alerts").await;
    assert_eq!(alerts["items"], json!([]));
    let (_, services) = app.get("/api/v1/services").await;
    assert_eq!(services["items"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn catalog_refusals_name_the_field() {
    let app = TestApp::spawn().await;
    let cases = [
        (
            "/api/v1/users",
            json!({"name": "A", "email": "not-an-email"}),
            StatusCode::BAD_REQUEST,
            "email",
        ),
        (
            "/api/v1/users",
            json!({"name": "A", "email": "a@example.com", "time_zone": "Mars/Base"}),
            StatusCode::BAD_REQUEST,
            "time_zone",
        ),
        (
            "/api/v1/services",
            json!({"name": "s", "tier": 9}),
            StatusCode::BAD_REQUEST,
            "tier",
        ),
        (
            "/api/v1/services",
            json!({"name": "s", "runbook_url": "gopher://x"}),
            StatusCode::BAD_REQUEST,
            "runbook_url",
        ),
        (
            "/api/v1/services",
            json!({"name": "s", "team": "nobody"}),
            StatusCode::BAD_REQUEST,
            "team",
        ),
        (
            "/api/v1/services",
            json!({"name": "s", "depends_on": ["ghost"]}),
            StatusCode::BAD_REQUEST,
            "depends_on[0]",
        ),
        (
            "/api/v1/services",
            json!({"nme": "s"}),
            StatusCode::BAD_REQUEST,
            "nme",
        ),
        (
            "/api/v1/teams",
            json!({"name": "t", "members": ["ghost@example.com"]}),
            StatusCode::BAD_REQUEST,
            "members[0]",
        ),
    ];
    for (path, body, status, field) in cases {
        let (s, b) = app.post(path, body.clone()).await;
        assert_eq!(s, status, "{body}: {b}");
        assert!(
            b["error"]["message"].as_str().unwrap().contains(field),
            "{body}: expected {field} in {b}"
        );
    }
    let (s, b) = app
        .send(
            app.req(Method::POST, "/api/v1/services")
                .header("content-type", "text/plain")
                .body("name=x"),
        )
        .await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Some("unsupported_media_type")
        )
    );
    let (s, b) = app
        .send(
            app.req(Method::POST, "/api/v1/services")
                .header("content-type", "application/json")
                .body("{\"name\":"),
        )
        .await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("malformed_json"))
    );
    app.post("/api/v1/services", json!({"name": "s"})).await;
    let (s, b) = app.post("/api/v1/services", json!({"name": "s"})).await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("name_taken"))
    );
    let (s, b) = app.send(app.req(Method::PATCH, "/api/v1/services")).await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (StatusCode::METHOD_NOT_ALLOWED, Some("method_not_allowed"))
    );
    let (_, services) = app.get("/api/v1/services").await;
    assert_eq!(services["items"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn catalog_apply_is_idempotent_and_exports_what_it_applied() {
    let app = TestApp::spawn().await;
    let doc = json!({
        "users": [{"name": "Alice", "email": "alice@example.com", "time_zone": "Europe/Berlin"}],
        "teams": [{"name": "payments", "members": ["alice@example.com"]}],
        "services": [
            {"name": "checkout", "team": "payments", "tier": 1, "depends_on": ["ledger"], "runbook_url": "https://runbooks.example.com/checkout"},
            {"name": "ledger", "tier": 2}
        ]
    });
    let (s, first) = app.post("/api/v1/catalog/apply", doc.clone()).await;
    assert_eq!(s, StatusCode::OK, "{first}");
    assert_eq!(
        (first["created"].as_u64(), first["unchanged"].as_u64()),
        (Some(4), Some(0))
    );
    let (_, second) = app.post("/api/v1/catalog/apply", doc.clone()).await;
    assert_eq!(
        (
            second["created"].as_u64(),
            second["updated"].as_u64(),
            second["unchanged"].as_u64()
        ),
        (Some(0), Some(0), Some(4))
    );
    let (_, exported) = app.get("/api/v1/catalog").await;
    let (_, third) = app.post("/api/v1/catalog/apply", exported).await;
    assert_eq!(
        third["unchanged"].as_u64(),
        Some(4),
        "the export applies as unchanged: {third}"
    );
    let (_, svc) = app.get("/api/v1/services/checkout").await;
    assert_eq!(
        (svc["team"].as_str(), svc["depends_on"][0].as_str()),
        (Some("payments"), Some("ledger"))
    );

    let mut changed = doc.clone();
    changed["services"][1]["tier"] = json!(3);
    let (_, dry) = app
        .post("/api/v1/catalog/apply?dry_run=true", changed.clone())
        .await;
    assert_eq!(
        (dry["dry_run"].as_bool(), dry["updated"].as_u64()),
        (Some(true), Some(1))
    );
    assert_eq!(
        app.get("/api/v1/services/ledger").await.1["tier"],
        2,
        "dry runs change nothing"
    );

    let mut cyclic = changed.clone();
    cyclic["services"][1]["depends_on"] = json!(["checkout"]);
    let (s, b) = app.post("/api/v1/catalog/apply", cyclic).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(
        b["error"]["message"].as_str().unwrap().contains("cycle"),
        "{b}"
    );
    assert_eq!(
        app.get("/api/v1/services/ledger").await.1["tier"],
        2,
        "a refused apply changes nothing"
    );
}

#[tokio::test]
async fn operations_endpoints_and_openapi_cover_every_route() {
    let app = TestApp::spawn().await;
    let key = app.service_with_key("ops").await;
    app.enqueue(TestApp::trigger(&key, "m", "critical")).await;
    app.enqueue(json!({"routing_key": key})).await;
    let plain = |p: &str| app.client.get(format!("{}{p}", app.url));
    assert_eq!(
        app.send(plain("/healthz")).await,
        (StatusCode::OK, json!({"status": "ok"}))
    );
    assert_eq!(
        app.send(plain("/readyz")).await,
        (StatusCode::OK, json!({"status": "ready"}))
    );
    let metrics = plain("/metrics")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("tocsin_events_total{kind=\"pagerduty\",outcome=\"created\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("tocsin_events_total{kind=\"pagerduty\",outcome=\"invalid\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("tocsin_incidents_opened_total{severity=\"SEV-1\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("tocsin_ingest_duration_seconds_bucket{kind=\"pagerduty\""),
        "{metrics}"
    );

    let (s, doc) = app.send(plain("/api/v1/openapi.json")).await;
    assert_eq!(s, StatusCode::OK);
    let paths = doc["paths"].as_object().unwrap();
    // Every endpoint a user can call must be documented; probe each documented path+method exists and each
    // known route is documented.
    let expected = [
        ("get", "/healthz"),
        ("get", "/readyz"),
        ("get", "/metrics"),
        ("get", "/api/v1/openapi.json"),
        ("post", "/v2/enqueue"),
        ("post", "/v2/change/enqueue"),
        ("get", "/api/v1/users"),
        ("post", "/api/v1/users"),
        ("get", "/api/v1/users/{user}"),
        ("put", "/api/v1/users/{user}"),
        ("delete", "/api/v1/users/{user}"),
        ("put", "/api/v1/users/{user}/role"),
        ("get", "/api/v1/audit"),
        ("post", "/api/v1/users/{user}/invitation"),
        ("get", "/api/v1/users/{user}/sessions"),
        ("delete", "/api/v1/sessions/{id}"),
        ("get", "/api/v1/teams"),
        ("post", "/api/v1/teams"),
        ("get", "/api/v1/teams/{team}"),
        ("put", "/api/v1/teams/{team}"),
        ("delete", "/api/v1/teams/{team}"),
        ("get", "/api/v1/services"),
        ("post", "/api/v1/services"),
        ("get", "/api/v1/services/{service}"),
        ("put", "/api/v1/services/{service}"),
        ("delete", "/api/v1/services/{service}"),
        ("get", "/api/v1/services/{service}/changes"),
        ("get", "/api/v1/services/{service}/integrations"),
        ("post", "/api/v1/services/{service}/integrations"),
        ("get", "/api/v1/catalog"),
        ("post", "/api/v1/catalog/apply"),
        ("get", "/api/v1/integrations/{id}"),
        ("delete", "/api/v1/integrations/{id}"),
        ("get", "/api/v1/tokens"),
        ("post", "/api/v1/tokens"),
        ("delete", "/api/v1/tokens/{id}"),
        ("get", "/api/v1/incidents"),
        ("post", "/api/v1/incidents"),
        ("get", "/api/v1/incidents/{incident}"),
        ("patch", "/api/v1/incidents/{incident}"),
        ("get", "/api/v1/severities"),
        ("patch", "/api/v1/severities/{severity}"),
        ("post", "/api/v1/incidents/{incident}/acknowledge"),
        ("post", "/api/v1/incidents/{incident}/resolve"),
        ("get", "/api/v1/incidents/{incident}/timeline"),
        ("post", "/api/v1/incidents/{incident}/notes"),
        ("get", "/api/v1/incidents/{incident}/alerts"),
        ("get", "/api/v1/alerts"),
        ("get", "/api/v1/alerts/{id}"),
        ("get", "/api/v1/alerts/{id}/events"),
        ("post", "/ingest/alertmanager/{key}"),
        ("post", "/ingest/alertmanager"),
        ("post", "/ingest/prometheus/{key}/api/v2/alerts"),
        ("post", "/api/v2/alerts"),
        ("post", "/ingest/grafana/{key}"),
        ("put", "/ingest/grafana/{key}"),
        ("post", "/ingest/grafana"),
        ("put", "/ingest/grafana"),
        ("post", "/ingest/generic/{key}"),
        ("post", "/ingest/generic"),
        ("post", "/v2/alerts"),
        ("post", "/v2/alerts/{identifier}/close"),
        ("post", "/v2/alerts/{identifier}/acknowledge"),
        ("patch", "/api/v1/integrations/{id}"),
        ("get", "/api/v1/integrations/{id}/payloads"),
        ("get", "/api/v1/rules"),
        ("post", "/api/v1/rules"),
        ("get", "/api/v1/rules/{id}"),
        ("put", "/api/v1/rules/{id}"),
        ("delete", "/api/v1/rules/{id}"),
        ("get", "/api/v1/silences"),
        ("post", "/api/v1/silences"),
        ("get", "/api/v1/silences/{id}"),
        ("delete", "/api/v1/silences/{id}"),
        ("post", "/api/v1/silences/{id}/extend"),
        ("get", "/api/v1/maintenance"),
        ("post", "/api/v1/maintenance"),
        ("get", "/api/v1/maintenance/{id}"),
        ("delete", "/api/v1/maintenance/{id}"),
        ("get", "/api/v1/schedules"),
        ("post", "/api/v1/schedules"),
        ("get", "/api/v1/schedules/{schedule}"),
        ("put", "/api/v1/schedules/{schedule}"),
        ("delete", "/api/v1/schedules/{schedule}"),
        ("post", "/api/v1/schedules/{schedule}/overrides"),
        ("delete", "/api/v1/schedules/{schedule}/overrides/{id}"),
        ("get", "/api/v1/schedules/{schedule}/on-call"),
        ("get", "/api/v1/schedules/{schedule}/shifts"),
        ("post", "/api/v1/schedules/{schedule}/feeds"),
        ("post", "/api/v1/users/{user}/feeds"),
        ("get", "/api/v1/feeds"),
        ("delete", "/api/v1/feeds/{id}"),
        ("get", "/calendar/{file}"),
        ("get", "/api/v1/escalation-policies"),
        ("post", "/api/v1/escalation-policies"),
        ("get", "/api/v1/escalation-policies/{policy}"),
        ("put", "/api/v1/escalation-policies/{policy}"),
        ("delete", "/api/v1/escalation-policies/{policy}"),
        ("get", "/api/v1/escalation-policies/{policy}/on-call"),
        ("get", "/api/v1/services/{service}/escalation-policy"),
        ("put", "/api/v1/services/{service}/escalation-policy"),
        ("get", "/api/v1/services/{service}/on-call"),
        ("get", "/api/v1/incidents/{incident}/escalation"),
        ("post", "/api/v1/incidents/{incident}/escalate"),
        ("post", "/api/v1/incidents/{incident}/reassign"),
        ("get", "/api/v1/incidents/{incident}/notifications"),
        ("get", "/api/v1/users/{user}/notifications"),
        ("get", "/api/v1/notifications/{id}"),
        ("get", "/api/v1/users/{user}/contact-methods"),
        ("post", "/api/v1/users/{user}/contact-methods"),
        ("get", "/api/v1/contact-methods/{id}"),
        ("put", "/api/v1/contact-methods/{id}"),
        ("delete", "/api/v1/contact-methods/{id}"),
        ("post", "/api/v1/contact-methods/{id}/test"),
        ("get", "/api/v1/users/{user}/notification-rules"),
        ("post", "/api/v1/users/{user}/notification-rules"),
        ("delete", "/api/v1/notification-rules/{id}"),
        ("post", "/api/v1/engine/cycle"),
        ("get", "/api/v1/settings/paging"),
        ("put", "/api/v1/settings/paging"),
        ("get", "/api/v1/doctor"),
        ("post", "/api/v1/incidents/{incident}/responders"),
        ("get", "/api/v1/incidents/{incident}/responders"),
        ("post", "/api/v1/incidents/{incident}/responders/join"),
        ("post", "/api/v1/incidents/{incident}/responders/leave"),
        ("get", "/api/v1/incident-roles"),
        ("put", "/api/v1/incident-roles/{role}"),
        ("delete", "/api/v1/incident-roles/{role}"),
        ("get", "/api/v1/incidents/{incident}/roles"),
        ("post", "/api/v1/incidents/{incident}/roles/{role}"),
        ("post", "/api/v1/incidents/{incident}/roles/{role}/release"),
        ("get", "/api/v1/task-templates"),
        ("put", "/api/v1/task-templates/{template}"),
        ("delete", "/api/v1/task-templates/{template}"),
        ("get", "/api/v1/incidents/{incident}/tasks"),
        ("post", "/api/v1/incidents/{incident}/tasks"),
        ("post", "/api/v1/incidents/{incident}/tasks/{task}/done"),
        ("post", "/api/v1/incidents/{incident}/tasks/{task}/undone"),
        ("post", "/api/v1/incidents/{incident}/merge"),
        ("get", "/api/v1/runbooks"),
        ("get", "/api/v1/runbooks/{runbook}"),
        ("put", "/api/v1/runbooks/{runbook}"),
        ("delete", "/api/v1/runbooks/{runbook}"),
        ("get", "/api/v1/runbooks/{runbook}/versions"),
        ("get", "/api/v1/incidents/{incident}/runbooks"),
        ("get", "/api/v1/incidents/{incident}/runs"),
        ("post", "/api/v1/incidents/{incident}/runs"),
        ("get", "/api/v1/runs/{run}"),
        ("post", "/api/v1/runs/{run}/approve"),
        ("post", "/api/v1/runs/{run}/decline"),
        ("post", "/api/v1/runs/{run}/retry"),
        ("get", "/api/v1/automation/secrets"),
        ("put", "/api/v1/automation/secrets/{secret}"),
        ("delete", "/api/v1/automation/secrets/{secret}"),
        ("get", "/api/v1/incidents/{incident}/updates"),
        ("post", "/api/v1/incidents/{incident}/updates"),
        ("get", "/api/v1/subscriptions"),
        ("post", "/api/v1/subscriptions"),
        ("delete", "/api/v1/subscriptions/{subscription}"),
        ("get", "/api/v1/users/{user}/status-updates"),
        ("put", "/api/v1/users/{user}/status-updates"),
        ("post", "/heartbeat/{key}"),
        ("get", "/heartbeat/{key}"),
        ("get", "/act/{token}"),
        ("post", "/act/{token}"),
        ("get", "/api/v1/status-pages"),
        ("get", "/api/v1/status-pages/{page}"),
        ("put", "/api/v1/status-pages/{page}"),
        ("delete", "/api/v1/status-pages/{page}"),
        ("post", "/api/v1/status-pages/{page}/components"),
        ("put", "/api/v1/status-pages/{page}/components/{component}"),
        (
            "delete",
            "/api/v1/status-pages/{page}/components/{component}",
        ),
        ("get", "/status/{page}/api/v2/summary.json"),
        ("get", "/status/{page}/api/v2/status.json"),
        ("get", "/status/{page}/api/v2/components.json"),
        ("get", "/status/{page}/api/v2/incidents.json"),
        ("get", "/status/{page}/api/v2/scheduled-maintenances.json"),
        (
            "get",
            "/status/{page}/api/v2/scheduled-maintenances/upcoming.json",
        ),
        (
            "get",
            "/status/{page}/api/v2/scheduled-maintenances/active.json",
        ),
        ("get", "/status/{page}/history.atom"),
        ("get", "/status/{page}/history.rss"),
        ("get", "/status/{page}/badge.svg"),
        ("get", "/status/{page}/components/{component}/badge.svg"),
        ("get", "/status/{page}/api/v2/incidents/unresolved.json"),
        ("get", "/api/v1/status-pages/{page}/incidents"),
        ("post", "/api/v1/status-pages/{page}/incidents"),
        (
            "post",
            "/api/v1/status-pages/{page}/incidents/{incident}/updates",
        ),
        ("post", "/slack/interactivity"),
        ("post", "/slack/commands"),
        ("post", "/api/v1/slack/link-codes"),
        ("get", "/api/v1/users/{user}/slack-accounts"),
        (
            "delete",
            "/api/v1/users/{user}/slack-accounts/{team_id}/{slack_user_id}",
        ),
        ("get", "/ingest/prometheus/{key}/api/v2/alerts"),
        ("get", "/api/v2/alerts"),
        ("get", "/ingest/prometheus/{key}/api/v2/status"),
        ("get", "/api/v2/status"),
        ("get", "/ingest/prometheus/{key}/api/v2/silences"),
        ("post", "/ingest/prometheus/{key}/api/v2/silences"),
        ("get", "/api/v2/silences"),
        ("post", "/api/v2/silences"),
        ("get", "/ingest/prometheus/{key}/api/v2/silence/{id}"),
        ("delete", "/ingest/prometheus/{key}/api/v2/silence/{id}"),
        ("get", "/api/v2/silence/{id}"),
        ("delete", "/api/v2/silence/{id}"),
        ("get", "/v2/alerts/requests/{request_id}"),
        ("get", "/v2/alerts/{identifier}"),
        ("get", "/api/v1/incidents/{incident}/changes"),
        ("put", "/v2/alerts/{identifier}/message"),
        ("put", "/v2/alerts/{identifier}/description"),
        ("put", "/v2/alerts/{identifier}/priority"),
    ];
    let documented: usize = paths.values().map(|p| p.as_object().unwrap().len()).sum();
    assert_eq!(
        documented,
        expected.len(),
        "documented operations: {:?}",
        paths.keys().collect::<Vec<_>>()
    );
    for (method, path) in expected {
        assert!(
            paths.get(path).and_then(|p| p.get(method)).is_some(),
            "{method} {path} is not in the OpenAPI document"
        );
        // And the documented route is really served (anything but the router's 404 or 405).
        let url = format!(
            "{}{}",
            app.url,
            path.replace("{user}", "u")
                .replace("{team}", "t")
                .replace("{service}", "s")
                .replace("{id}", "i")
                .replace("{incident}", "1")
                .replace("{key}", "k")
                .replace("{alias}", "a")
                .replace("{schedule}", "sc")
                .replace("{policy}", "p")
                .replace("{token}", "x")
                .replace("{file}", "f.ics")
        );
        let resp = app
            .client
            .request(method.to_uppercase().parse().unwrap(), url)
            .send()
            .await
            .unwrap();
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        assert_ne!(
            body["error"]["message"]
                .as_str()
                .map(|m| m.starts_with("no such endpoint")),
            Some(true),
            "{method} {path} is not routed"
        );
        assert_ne!(
            body["error"]["code"], "method_not_allowed",
            "{method} {path} is not routed"
        );
    }
}

/// The OpenAPI document validates, as generated clients need it to.
#[tokio::test]
async fn the_openapi_document_is_valid() {
    if crate::support::python_module_missing("openapi_spec_validator") {
        return;
    }
    let app = TestApp::spawn().await;
    let doc = app.text("/api/v1/openapi.json").await;
    let path = app.dir.path().join("openapi.json");
    std::fs::write(&path, doc).unwrap();
    crate::support::python3(vec![
        "-m".into(),
        "openapi_spec_validator".into(),
        "--errors".into(),
        "all".into(),
        path.into(),
    ])
    .await;
}

/// Requests generated from the OpenAPI document (schemathesis, a fixed seed, a bounded number of examples per
/// operation) get no 5xx and no answer the document does not describe: status, content type, headers, body.
#[tokio::test]
async fn generated_requests_get_only_documented_answers() {
    if crate::support::python_module_missing("schemathesis") {
        return;
    }
    let app = TestApp::spawn_with(
        std::sync::Arc::new(tocsin_domain::clock::SystemClock),
        |c| {
            c.ingest.events_per_second = 0;
        },
    )
    .await;
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/schemathesis_run.py");
    crate::support::python3(vec![
        script.into(),
        app.url.clone().into(),
        app.token.clone().into(),
        "--report-dir".into(),
        app.dir.path().join("schemathesis").into(),
    ])
    .await;
}

/// Judges instances against the OpenAPI document's schemas as a generated client's validator would: reads the
/// document and `[[schema, instance], …]` and prints one verdict per instance.
const SCHEMA_VERDICTS: &str = r##"
import json, sys
from jsonschema import Draft202012Validator
doc = json.load(open(sys.argv[1]))
cases = json.load(open(sys.argv[2]))
out = []
for name, instance in cases:
    schema = {"$ref": "#/components/schemas/" + name, "components": doc["components"]}
    out.append(Draft202012Validator(schema).is_valid(instance))
print(json.dumps(out))
"##;

/// What the document promises is what the server enforces: every request below is valid by the document's schema
/// exactly when the server takes it, at and around each documented limit.
#[tokio::test]
async fn documented_constraints_are_the_enforced_ones() {
    if crate::support::python_module_missing("jsonschema") {
        return;
    }
    let app = TestApp::spawn().await;
    let (_, user) = app
        .post(
            "/api/v1/users",
            json!({"name": "Alice", "email": "alice@example.com"}),
        )
        .await;
    let alice = user["id"].as_str().unwrap().to_owned();
    let id_shaped = format!("svc_{}", "0".repeat(26));
    let mut cases: Vec<(&str, &str, Value)> = Vec::new();
    for name in [
        "",
        " ",
        "a",
        "payments",
        " padded ",
        "ünïcödé",
        "tab\there",
        "nel\u{85}x",
        &"n".repeat(100),
        &"n".repeat(101),
        &id_shaped,
        "svc_short",
    ] {
        cases.push(("TeamSpec", "/api/v1/teams", json!({ "name": name })));
    }
    for (i, email) in [
        "bob@example.com",
        "BOB2@Example.COM",
        "bob@localhost",
        "@example.com",
        "bob@.example.com",
        "bob@example.com.",
        "bo b@example.com",
        "bob@@example.com",
        " carol@example.com ",
        "d@e.f",
    ]
    .into_iter()
    .enumerate()
    {
        cases.push((
            "UserSpec",
            "/api/v1/users",
            json!({"name": format!("User {i}"), "email": email}),
        ));
    }
    for (i, zone) in ["Europe/Berlin", "UTC", "Mars/Olympus", "europe/berlin"]
        .into_iter()
        .enumerate()
    {
        cases.push((
            "UserSpec",
            "/api/v1/users",
            json!({"name": format!("Zoned {i}"), "email": format!("zone{i}@example.com"), "time_zone": zone}),
        ));
    }
    for (i, tier) in [0, 1, 4, 5].into_iter().enumerate() {
        cases.push((
            "ServiceSpec",
            "/api/v1/services",
            json!({"name": format!("tiered {i}"), "tier": tier}),
        ));
    }
    for (i, runbook) in [
        "https://runbooks.example.com/x",
        "ftp://example.com/x",
        "not a url",
    ]
    .into_iter()
    .enumerate()
    {
        cases.push((
            "ServiceSpec",
            "/api/v1/services",
            json!({"name": format!("runbook {i}"), "runbook_url": runbook}),
        ));
    }
    let policy = |i: usize, repeat: u32, delay: u32, levels: usize| {
        let level = json!({"delay_minutes": delay, "targets": [{"type": "user", "id": alice}]});
        json!({"name": format!("policy {i}"), "repeat": repeat, "levels": vec![level; levels]})
    };
    for (i, (repeat, delay, levels)) in [
        (0, 5, 1),
        (10, 1, 1),
        (11, 5, 1),
        (0, 0, 1),
        (0, 1440, 1),
        (0, 1441, 1),
        (0, 5, 0),
        (0, 5, 20),
        (0, 5, 21),
    ]
    .into_iter()
    .enumerate()
    {
        cases.push((
            "EscalationPolicySpec",
            "/api/v1/escalation-policies",
            policy(i, repeat, delay, levels),
        ));
    }

    let doc = app.text("/api/v1/openapi.json").await;
    let doc_path = app.dir.path().join("openapi.json");
    let cases_path = app.dir.path().join("cases.json");
    std::fs::write(&doc_path, doc).unwrap();
    let judged: Vec<(&str, &Value)> = cases.iter().map(|(s, _, v)| (*s, v)).collect();
    std::fs::write(&cases_path, serde_json::to_string(&judged).unwrap()).unwrap();
    let out = crate::support::python3(vec![
        "-c".into(),
        SCHEMA_VERDICTS.into(),
        doc_path.into(),
        cases_path.into(),
    ])
    .await;
    let verdicts: Vec<bool> = serde_json::from_slice(&out).unwrap();
    let mut disagreements = Vec::new();
    for ((schema, path, body), valid) in cases.iter().zip(verdicts) {
        let (status, answer) = app.post(path, body.clone()).await;
        let accepted = status.is_success();
        assert!(
            accepted || status.is_client_error(),
            "{path} {body}: {status} {answer}"
        );
        if accepted != valid {
            disagreements.push(format!(
                "{schema} {body}: the document says {}, the server answered {status} {answer}",
                if valid { "valid" } else { "invalid" }
            ));
        }
    }
    assert!(disagreements.is_empty(), "{}", disagreements.join("\n"));
}

#[tokio::test]
async fn the_last_admin_token_stays_and_the_bearer_scheme_is_case_insensitive() {
    let app = TestApp::spawn().await;
    let (_, tokens) = app.get("/api/v1/tokens").await;
    let bootstrap = tokens["items"][0]["id"].as_str().unwrap().to_owned();
    let (s, b) = app
        .send(app.req(Method::DELETE, &format!("/api/v1/tokens/{bootstrap}")))
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{b}");
    assert!(
        b["error"]["message"]
            .as_str()
            .unwrap()
            .contains("last owner token"),
        "{b}"
    );
    for scheme in ["BEARER", "bearer", "Bearer", "bEaReR"] {
        let (s, b) = app
            .send(
                app.client
                    .get(format!("{}/api/v1/tokens", app.url))
                    .header("Authorization", format!("{scheme} {}", app.token)),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{scheme}: {b}");
    }
    let (s, _) = app
        .send(
            app.client
                .get(format!("{}/api/v1/tokens", app.url))
                .header("Authorization", format!("Basic {}", app.token)),
        )
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_reader_is_refused_before_its_body_is_read() {
    let app = TestApp::spawn().await;
    let (_, reader) = app
        .post(
            "/api/v1/tokens",
            json!({"name": "dashboard", "scope": "read"}),
        )
        .await;
    let token = reader["token"].as_str().unwrap();
    for (method, path) in [
        (Method::POST, "/api/v1/services"),
        (Method::PUT, "/api/v1/services/x"),
        (Method::POST, "/api/v1/tokens"),
    ] {
        let (s, b) = app
            .send(
                app.client
                    .request(method.clone(), format!("{}{path}", app.url))
                    .bearer_auth(token)
                    .header("Content-Type", "application/json")
                    .body("{not json"),
            )
            .await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{method} {path}: {b}");
        assert_eq!(b["error"]["code"], "forbidden", "{b}");
    }
}

#[tokio::test]
async fn nul_in_any_api_body_is_refused_before_the_database_sees_it() {
    let app = TestApp::spawn().await;
    for (path, body) in [
        (
            "/api/v1/services",
            r#"{"name": "web", "description": "a\u0000b"}"#,
        ),
        (
            "/api/v1/escalation-policies",
            r#"{"name": "p\u0000", "levels": []}"#,
        ),
    ] {
        let (s, b) = app
            .send(
                app.req(Method::POST, path)
                    .header("Content-Type", "application/json")
                    .body(body),
            )
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{path}: {b}");
        assert!(
            b["error"]["message"].as_str().unwrap().contains("NUL"),
            "{b}"
        );
    }
}
