//! Crash safety: every event answered 202 is still there after the server is killed with SIGKILL mid-load.

use crate::support::{TestApp, TestDatabase, api, instant, start, start_with, wait_until};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const SENDERS: usize = 16;
const ACKED_BEFORE_KILL: usize = 2_000;

/// Sends triggers with fresh dedup keys until the server stops answering; returns the keys it answered 202.
async fn send_until_dead(
    client: reqwest::Client,
    url: String,
    key: String,
    sender: usize,
    acked: Arc<AtomicUsize>,
) -> Vec<String> {
    let mut keys = Vec::new();
    for n in 0.. {
        let dedup_key = format!("crash-{sender}-{n}");
        let sent = client
            .post(format!("{url}/v2/enqueue"))
            .json(&TestApp::trigger(&key, &dedup_key, "critical"))
            .send()
            .await;
        match sent {
            Ok(r) if r.status() == StatusCode::ACCEPTED => {
                keys.push(dedup_key);
                acked.fetch_add(1, Ordering::Relaxed);
            }
            // Not acknowledged, so not promised; keep loading the server.
            Ok(_) => {}
            Err(_) => break,
        }
    }
    keys
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_acknowledged_event_survives_sigkill() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = TestDatabase::new(dir.path()).await;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("HTTP client");

    let mut server = start(&client, &db, dir.path().join("before-kill.log")).await;
    let create = client
        .post(format!("{}/api/v1/services", server.url))
        .json(&json!({ "name": "crash" }));
    let (s, b) = api(create).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let integrate = client
        .post(format!("{}/api/v1/services/crash/integrations", server.url))
        .json(&json!({}));
    let (s, b) = api(integrate).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let key = b["key"].as_str().expect("routing key").to_owned();

    let acked = Arc::new(AtomicUsize::new(0));
    let senders: Vec<_> = (0..SENDERS)
        .map(|i| {
            tokio::spawn(send_until_dead(
                client.clone(),
                server.url.clone(),
                key.clone(),
                i,
                acked.clone(),
            ))
        })
        .collect();

    let deadline = Instant::now() + Duration::from_secs(180);
    while acked.load(Ordering::Relaxed) < ACKED_BEFORE_KILL {
        if let Some(status) = server.guard.child.try_wait().expect("child status") {
            panic!(
                "the server exited ({status}) under load:\n{}",
                server.guard.log_tail()
            );
        }
        assert!(
            Instant::now() < deadline,
            "only {} events acknowledged in time",
            acked.load(Ordering::Relaxed)
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    server.guard.child.kill().expect("SIGKILL the server");
    let killed = server.guard.child.wait().expect("reap the server");
    let at_kill = acked.load(Ordering::Relaxed);

    let mut acked_keys = Vec::new();
    for s in senders {
        acked_keys.extend(s.await.expect("sender task"));
    }
    let unique: HashSet<&String> = acked_keys.iter().collect();
    assert_eq!(unique.len(), acked_keys.len(), "dedup keys must be unique");
    eprintln!(
        "server killed ({killed}) with {at_kill} events acknowledged, {} in all",
        acked_keys.len()
    );

    // The restarted server reads only what reached the database file, nothing from the killed one's memory.
    drop(server);
    db.assert_intact();
    let server = start(&client, &db, dir.path().join("after-kill.log")).await;

    let mut stored = HashSet::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut rb = client
            .get(format!("{}/api/v1/alerts", server.url))
            .query(&[("limit", "500")]);
        if let Some(c) = &cursor {
            rb = rb.query(&[("cursor", c)]);
        }
        let (s, page) = api(rb).await;
        assert_eq!(s, StatusCode::OK, "{page}");
        for a in page["items"].as_array().expect("alert items") {
            stored.insert(a["dedup_key"].as_str().expect("dedup_key").to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    let missing: Vec<&String> = acked_keys.iter().filter(|k| !stored.contains(*k)).collect();
    assert!(
        missing.is_empty(),
        "{} of {} acknowledged events are missing after the crash, e.g. {:?}",
        missing.len(),
        acked_keys.len(),
        &missing[..missing.len().min(10)]
    );

    let newest_first = client
        .get(format!("{}/api/v1/incidents", server.url))
        .query(&[("limit", "1")]);
    let (s, latest) = api(newest_first).await;
    assert_eq!(s, StatusCode::OK, "{latest}");
    let newest = latest["items"][0]["number"].as_i64().expect("an incident");
    assert!(
        newest >= acked_keys.len() as i64,
        "each critical trigger opens an incident: newest is #{newest}, {} acknowledged",
        acked_keys.len()
    );
}

/// A page that is due when the server dies goes out after the restart, and one that dies mid-send goes out again
/// under the same idempotency key; either way the next level still pages on time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_survives_sigkill_before_and_during_sending_and_escalation_keeps_time() {
    use crate::support::{HOLD, WebhookReceiver};
    let dir = tempfile::tempdir().expect("temp dir");
    let db = TestDatabase::new(dir.path()).await;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("HTTP client");
    let receiver = WebhookReceiver::start().await;
    let no_engine = dir.path().join("no-engine.toml");
    std::fs::write(&no_engine, "[engine]\nenabled = false\n").expect("write config");

    // First life: the engine is off, so the page falls due and nothing sends it.
    let mut server = start_with(&client, &db, dir.path().join("first.log"), Some(&no_engine)).await;
    let url = server.url.clone();
    let post = |path: &str, body: Value| api(client.post(format!("{url}{path}")).json(&body));
    let mut users = Vec::new();
    for who in ["bob", "carol"] {
        let (s, u) = post(
            "/api/v1/users",
            json!({"name": who, "email": format!("{who}@example.test")}),
        )
        .await;
        assert_eq!(s, StatusCode::CREATED, "{u}");
        let (s, m) = post(
            &format!("/api/v1/users/{}/contact-methods", u["id"].as_str().unwrap()),
            json!({"name": "hook", "target": {"type": "webhook", "url": format!("{}/{who}", receiver.url)}}),
        )
        .await;
        assert_eq!(s, StatusCode::CREATED, "{m}");
        users.push(u);
    }
    let (s, p) = post(
        "/api/v1/escalation-policies",
        json!({"name": "crash", "levels": [
            {"delay_minutes": 1, "targets": [{"type": "user", "id": users[0]["id"]}]},
            {"delay_minutes": 1, "targets": [{"type": "user", "id": users[1]["id"]}]}
        ]}),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{p}");
    let (s, b) = post("/api/v1/services", json!({"name": "crash"})).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let (s, b) = api(client
        .put(format!("{url}/api/v1/services/crash/escalation-policy"))
        .json(&json!({"policy": "crash"})))
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (s, b) = post("/api/v1/services/crash/integrations", json!({})).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let key = b["key"].as_str().unwrap().to_owned();
    let sent = client
        .post(format!("{url}/v2/enqueue"))
        .json(&TestApp::trigger(&key, "crash-page", "critical"))
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), StatusCode::ACCEPTED);
    let (_, incident) = api(client.get(format!("{url}/api/v1/incidents/1"))).await;
    let opened = instant(&incident["created_at"]);
    server.guard.child.kill().expect("SIGKILL");
    server.guard.child.wait().expect("reap");
    drop(server);
    db.assert_intact();
    assert!(
        receiver.requests().is_empty(),
        "nothing may be sent while the engine is off"
    );

    // Second life: the page goes out, and the server dies while Bob's receiver is still taking it.
    receiver.answer_with(HOLD);
    let mut server = start(&client, &db, dir.path().join("second.log")).await;
    wait_until(
        "Bob's page is being sent",
        Duration::from_secs(30),
        async || receiver.requests().iter().any(|r| r.path == "/bob"),
    )
    .await;
    server.guard.child.kill().expect("SIGKILL");
    server.guard.child.wait().expect("reap");
    drop(server);
    db.assert_intact();
    receiver.answer_with(200);

    // Third life: once the dead process's lease runs out, its unfinished send is made again, under the same key.
    let server = start(&client, &db, dir.path().join("third.log")).await;
    let url = server.url.clone();
    wait_until(
        "Bob's page is sent again and recorded",
        Duration::from_secs(60),
        async || {
            let (_, log) = api(client.get(format!("{url}/api/v1/incidents/1/notifications"))).await;
            log["items"]
                .as_array()
                .is_some_and(|items| items.iter().any(|d| d["status"] == "delivered"))
        },
    )
    .await;
    let bob: Vec<_> = receiver
        .requests()
        .into_iter()
        .filter(|r| r.path == "/bob")
        .collect();
    assert!(bob.len() >= 2, "sent before the kill and again after it");
    let ids: HashSet<&str> = bob.iter().map(|r| r.header("webhook-id")).collect();
    assert_eq!(
        ids.len(),
        1,
        "every attempt carries the same idempotency key: {ids:?}"
    );

    // Level 2 pages Carol a minute after level 1 was due, however late the restarts made level 1.
    wait_until("Carol is paged", Duration::from_secs(90), async || {
        receiver.requests().iter().any(|r| r.path == "/carol")
    })
    .await;
    let (_, timeline) = api(client.get(format!("{url}/api/v1/incidents/1/timeline"))).await;
    let escalations: Vec<&Value> = timeline["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "escalated")
        .collect();
    assert_eq!(escalations.len(), 2, "{timeline}");
    let level_two_due = instant(&escalations[0]["data"]["next_at"]);
    assert_eq!(
        level_two_due,
        opened + chrono::Duration::minutes(1),
        "{timeline}"
    );
    let level_two_paged = instant(&escalations[1]["at"]);
    assert!(
        level_two_paged >= level_two_due,
        "never early: {level_two_paged} < {level_two_due}"
    );
    assert!(
        level_two_paged - level_two_due < chrono::Duration::seconds(30),
        "the engine ticks every second; {level_two_paged} is far past {level_two_due}"
    );
    let carol = receiver
        .requests()
        .into_iter()
        .filter(|r| r.path == "/carol")
        .count();
    assert_eq!(carol, 1);
    let (_, log) = api(client.get(format!("{url}/api/v1/incidents/1/notifications"))).await;
    assert_eq!(
        log["items"].as_array().unwrap().len(),
        2,
        "one delivery per page: {log}"
    );
}
