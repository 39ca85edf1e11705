//! Paging stories: a schedule and an escalation policy on a service, an alert, notifications through real
//! transports, time moved by the test's clock.

use crate::support::{SmtpPeer, TestApp, WebhookReceiver};
use chrono::{DateTime, Duration, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::sync::Arc;
use tocsin::notify::{GatewayConfig, NotifyConfig};
use tocsin_domain::clock::ManualClock;

fn t(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

pub struct Story {
    pub app: TestApp,
    pub clock: Arc<ManualClock>,
    pub key: String,
    pub alice: Value,
    pub bob: Value,
    /// Bob's webhook signing secret, shown once at creation.
    pub bob_secret: String,
}

async fn created(app: &TestApp, path: &str, body: Value) -> Value {
    let (s, b) = app.post(path, body).await;
    assert_eq!(s, StatusCode::CREATED, "{path}: {b}");
    b
}

/// Alice is on call in "Primary" (level 1, reached by email); Bob is level 2 (signed webhook), 5 minutes later.
async fn seed(smtp_port: Option<u16>, hook: &WebhookReceiver) -> Story {
    let clock = Arc::new(ManualClock::new(t("2026-03-02T10:00:00Z")));
    let app = TestApp::spawn_with(clock.clone(), |c| {
        c.notify = NotifyConfig {
            smtp: smtp_port.map(crate::support::smtp_relay),
            // Phone gateways are HTTP APIs: the test's receiver stands in for the provider.
            sms: Some(GatewayConfig {
                body: r#"{"to": "{{to}}", "text": "{{message}}"}"#.into(),
                ..GatewayConfig::new(&format!("{}/sms", hook.url))
            }),
            voice: Some(GatewayConfig {
                body: r#"{"to": "{{to}}", "say": "{{message}}"}"#.into(),
                ..GatewayConfig::new(&format!("{}/voice", hook.url))
            }),
            ..c.notify.clone()
        };
        // The test drives cycles itself; a slow ticker keeps them from racing its clock moves.
        c.engine.tick_ms = 3_600_000;
    })
    .await;
    let alice = created(
        &app,
        "/api/v1/users",
        json!({"name": "Alice", "email": "alice@example.test"}),
    )
    .await;
    let bob = created(
        &app,
        "/api/v1/users",
        json!({"name": "Bob", "email": "bob@example.test"}),
    )
    .await;
    let alice_id = alice["id"].as_str().unwrap();
    let bob_id = bob["id"].as_str().unwrap();
    created(
        &app,
        &format!("/api/v1/users/{alice_id}/contact-methods"),
        json!({"name": "work mail", "target": {"type": "email", "address": "alice@example.test"}}),
    )
    .await;
    let hook_method = created(
        &app,
        &format!("/api/v1/users/{bob_id}/contact-methods"),
        json!({"name": "pager bridge", "target": {"type": "webhook", "url": format!("{}/bob", hook.url)}}),
    )
    .await;
    let bob_secret = hook_method["target"]["secret"]
        .as_str()
        .expect("the secret is shown at creation")
        .to_owned();
    let schedule = created(
        &app,
        "/api/v1/schedules",
        json!({
            "name": "Primary",
            "time_zone": "Europe/Berlin",
            "layers": [{
                "name": "weekly",
                "participants": [alice_id],
                "rotation": {"every": "weeks", "count": 1},
                "start": "2026-03-02T09:00:00"
            }]
        }),
    )
    .await;
    let policy = created(
        &app,
        "/api/v1/escalation-policies",
        json!({
            "name": "checkout on-call",
            "levels": [
                {"delay_minutes": 5, "targets": [{"type": "schedule", "id": schedule["id"]}]},
                {"delay_minutes": 10, "targets": [{"type": "user", "id": bob_id}]}
            ]
        }),
    )
    .await;
    let key = app.service_with_key("checkout").await;
    let (s, b) = app
        .send(
            app.req(Method::PUT, "/api/v1/services/checkout/escalation-policy")
                .json(&json!({"policy": policy["name"]})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    // These stories are about pages: a SEV-1's hourly reminder that stakeholders are owed an update (which goes
    // to whoever works an incident nobody leads) is the updates story's, not theirs.
    let (s, b) = app
        .send(
            app.req(Method::PATCH, "/api/v1/severities/SEV-1")
                .json(&json!({"update_every_minutes": null})),
        )
        .await;
    assert!(s.is_success(), "{b}");
    Story {
        app,
        clock,
        key,
        alice,
        bob,
        bob_secret,
    }
}

fn verify_signature(secret: &str, req: &crate::support::ReceivedRequest) {
    let now: i64 = req
        .header("webhook-timestamp")
        .parse()
        .expect("a timestamp");
    tocsin_domain::webhook::verify(
        secret,
        req.header("webhook-id"),
        req.header("webhook-timestamp"),
        req.header("webhook-signature"),
        &req.body,
        now,
        300,
    )
    .unwrap_or_else(|e| panic!("the webhook signature does not verify: {e:?}"));
}

fn link(text: &str, label: &str) -> String {
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{label}: ")))
        .unwrap_or_else(|| panic!("no {label} link in {text}"))
        .trim()
        .to_owned()
}

#[tokio::test]
async fn a_page_escalates_from_email_to_a_signed_webhook_until_acknowledged_from_the_link() {
    let Some(smtp) = SmtpPeer::start().await else {
        return;
    };
    let hook = WebhookReceiver::start().await;
    let story = seed(Some(smtp.port), &hook).await;
    let app = &story.app;
    // A deploy shortly before: what responders check first.
    app.change(&story.key, "Deploy checkout v42").await;

    let (s, b) = app
        .enqueue(crate::support::TestApp::trigger(
            &story.key,
            "disk-full",
            "critical",
        ))
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{b}");
    let (_, changes) = app.get("/api/v1/incidents/1/changes").await;
    assert_eq!(
        (
            changes["items"][0]["summary"].as_str(),
            changes["items"][0]["service"].as_str()
        ),
        (Some("Deploy checkout v42"), Some("checkout")),
        "{changes}"
    );

    // Level 1: whoever is on call in Primary (Alice), by email.
    let mails = smtp.wait_for(app, 1).await;
    assert_eq!(mails.len(), 1);
    let mail = &mails[0];
    assert!(mail.to.contains("alice@example.test"), "{mail:?}");
    assert!(mail.subject.contains("#1"), "{}", mail.subject);
    assert!(mail.subject.contains("SEV-1"), "{}", mail.subject);
    assert!(mail.message_id.contains("@tocsin"), "{}", mail.message_id);
    assert!(
        hook.requests().is_empty(),
        "level 2 must wait for its delay"
    );

    // Not yet: four minutes in, nothing more.
    story.clock.advance(Duration::minutes(4));
    app.cycle_sending_nothing().await;
    assert!(hook.requests().is_empty());

    // Past the delay with no acknowledgement: level 2, Bob's signed webhook.
    story
        .clock
        .advance(Duration::minutes(1) + Duration::seconds(1));
    let reqs = hook.wait_for(app, 1).await;
    assert_eq!(reqs.len(), 1);
    let req = &reqs[0];
    assert_eq!(req.path, "/bob");
    verify_signature(&story.bob_secret, req);
    let event = req.json();
    assert_eq!(event["type"], "incident.triggered", "{event}");
    assert_eq!(event["data"]["incident"]["number"], 1);
    assert_eq!(event["data"]["user"]["id"], story.bob["id"]);
    assert!(req.header("webhook-id").starts_with("msg_"));

    // Every page links to the incident's page in the UI, and the event carries a signed read-only view for the
    // person paged, with what they can do, that needs no account.
    let open = link(&mail.text, "Open incident");
    assert_eq!(open, format!("{}/incidents/1", app.url));
    assert_eq!(event["data"]["incident"]["page_url"], open.as_str());
    assert_eq!(
        event["data"]["incident"]["url"],
        event["data"]["links"]["view"]
    );
    assert_eq!(
        mail.text.matches(open.as_str()).count(),
        1,
        "the incident's link once: {}",
        mail.text
    );
    let view = event["data"]["links"]["view"].as_str().unwrap().to_owned();
    assert!(view.contains("/act/"), "{view}");
    let html = app
        .client
        .get(&view)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for expected in [
        "Incident #1",
        ">Acknowledge</button>",
        ">Resolve</button>",
        "Deploy checkout v42",
        "checkout",
    ] {
        assert!(html.contains(expected), "{expected:?} missing from {html}");
    }
    let refused = app.client.post(&view).send().await.unwrap();
    assert_eq!(refused.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(
        app.get("/api/v1/incidents/1").await.1["status"],
        "triggered"
    );

    // Alice acknowledges from her email. Opening the link changes nothing (mail scanners open links too).
    let ack = link(&mail.text, "Acknowledge");
    let page = app.client.get(&ack).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(
        html.contains("<form method=\"post\" action=\"/act/"),
        "{html}"
    );
    let (_, incident) = app.get("/api/v1/incidents/1").await;
    assert_eq!(
        incident["status"], "triggered",
        "a GET must not acknowledge"
    );
    let done = app.client.post(&ack).send().await.unwrap();
    assert_eq!(done.status(), StatusCode::OK);
    let (_, incident) = app.get("/api/v1/incidents/1").await;
    assert_eq!(incident["status"], "acknowledged");
    assert_eq!(incident["acknowledged_by"]["name"], "Alice");
    assert_eq!(incident["acknowledged_by"]["id"], story.alice["id"]);

    // Long past every delay and repeat: nothing more is sent.
    for _ in 0..3 {
        story.clock.advance(Duration::minutes(30));
        app.cycle_sending_nothing().await;
    }
    assert_eq!(smtp.messages().len(), 1);
    assert_eq!(hook.requests().len(), 1);

    // Every attempt is on the timeline and in the notification log.
    let (_, timeline) = app.get("/api/v1/incidents/1/timeline").await;
    let kinds: Vec<&str> = timeline["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds.iter().filter(|k| **k == "escalated").count(),
        2,
        "{kinds:?}"
    );
    assert_eq!(
        kinds.iter().filter(|k| **k == "notification").count(),
        2,
        "{kinds:?}"
    );
    let (_, log) = app.get("/api/v1/incidents/1/notifications").await;
    let items = log["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{log}");
    for item in items {
        assert_eq!(item["status"], "delivered", "{item}");
        assert_eq!(item["attempts"].as_array().unwrap().len(), 1, "{item}");
    }
    // Using the link again does nothing and says who acknowledged.
    let again = app.client.post(&ack).send().await.unwrap();
    assert_eq!(again.status(), StatusCode::OK);
    let html = again.text().await.unwrap();
    assert!(
        html.contains("Already acknowledged") && html.contains("by Alice"),
        "{html}"
    );
    // An altered link is refused.
    let forged = format!("{}x", ack);
    let refused = app.client.post(&forged).send().await.unwrap();
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_failing_webhook_is_retried_with_backoff_then_falls_through_to_the_next_method() {
    let hook = WebhookReceiver::start().await;
    let story = seed(None, &hook).await;
    let app = &story.app;
    let bob_id = story.bob["id"].as_str().unwrap();
    // Bob's rules: the webhook at once, Slack an hour later.
    let (_, methods) = app
        .get(&format!("/api/v1/users/{bob_id}/contact-methods"))
        .await;
    let hook_id = methods["items"][0]["id"].as_str().unwrap().to_owned();
    let slack = created(
        app,
        &format!("/api/v1/users/{bob_id}/contact-methods"),
        json!({"name": "phone", "target": {"type": "slack", "url": format!("{}/slack", hook.url)}}),
    )
    .await;
    for (method, delay) in [
        (&hook_id, 0),
        (&slack["id"].as_str().unwrap().to_owned(), 60),
    ] {
        created(
            app,
            &format!("/api/v1/users/{bob_id}/notification-rules"),
            json!({"contact_method_id": method, "urgency": "high", "delay_minutes": delay}),
        )
        .await;
    }
    hook.answer_with(503);
    let (s, b) = app
        .send(app.req(Method::POST, "/api/v1/incidents").json(&json!({
            "title": "Checkout is down", "severity": "SEV-1", "services": ["checkout"]
        })))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    // Hand it straight to Bob.
    let (s, b) = app
        .post("/api/v1/incidents/1/reassign", json!({"users": [bob_id]}))
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["assignees"], json!([bob_id]));

    let first = hook.wait_for(app, 1).await;
    assert_eq!(first[0].path, "/bob");
    // Each retry waits its backoff: nothing goes out before the clock passes it.
    app.cycle_sending_nothing().await;
    assert_eq!(hook.requests().len(), 1, "a retry before its backoff");
    let mut seen = 1;
    for _ in 0..5 {
        story.clock.advance(Duration::minutes(11));
        seen += 1;
        let got = hook.wait_for(app, seen).await;
        assert_eq!(
            got.last().unwrap().header("webhook-id"),
            first[0].header("webhook-id"),
            "same idempotency key"
        );
    }
    // Six attempts spent: given up, and the next rule (Slack, not due for minutes yet) goes out now instead.
    let got = hook.wait_for(app, seen + 1).await;
    assert_eq!(got.last().unwrap().path, "/slack");
    let (_, log) = app.get("/api/v1/incidents/1/notifications").await;
    let webhook = log["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["channel"] == "webhook")
        .unwrap()
        .clone();
    assert_eq!(webhook["status"], "failed", "{webhook}");
    assert_eq!(
        webhook["attempts"].as_array().unwrap().len(),
        6,
        "{webhook}"
    );
    let (_, timeline) = app.get("/api/v1/incidents/1/timeline").await;
    let gave_up = timeline["items"].as_array().unwrap().iter().any(|e| {
        e["message"]
            .as_str()
            .unwrap()
            .contains("Gave up notifying Bob by webhook")
    });
    assert!(gave_up, "{timeline}");
}

#[tokio::test]
async fn escalating_by_hand_pages_the_next_level_and_resolving_stops_everything() {
    let hook = WebhookReceiver::start().await;
    // Email is configured, so Alice's address is a way to reach her, though the relay does not answer.
    let down = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let relay_down = down.local_addr().unwrap().port();
    drop(down);
    let story = seed(Some(relay_down), &hook).await;
    let app = &story.app;
    let (s, _) = app
        .enqueue(crate::support::TestApp::trigger(
            &story.key, "k", "critical",
        ))
        .await;
    assert_eq!(s, StatusCode::ACCEPTED);
    app.cycle().await;
    let (_, esc) = app.get("/api/v1/incidents/1/escalation").await;
    // Level 1 paged; level 2 is next. JSON counts levels as people do, with a separate index from 0.
    assert_eq!(
        (
            &esc["escalation"]["level"],
            &esc["escalation"]["level_index"]
        ),
        (&json!(2), &json!(1)),
        "{esc}"
    );
    assert_eq!(esc["escalation"]["assignees"], json!([story.alice["id"]]));

    // Bob is level 2; escalating by hand pages him now rather than in 5 minutes.
    let (s, b) = app
        .send(app.req(Method::POST, "/api/v1/incidents/1/escalate"))
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    hook.wait_for(app, 1).await;

    // Resolving cancels everything still planned.
    let (s, _) = app.post("/api/v1/incidents/1/resolve", json!({})).await;
    assert_eq!(s, StatusCode::OK);
    story.clock.advance(Duration::hours(2));
    app.cycle_sending_nothing().await;
    assert_eq!(hook.requests().len(), 1);
    let (_, esc) = app.get("/api/v1/incidents/1/escalation").await;
    assert_eq!(esc["escalation"]["next_at"], Value::Null, "{esc}");
    let (s, b) = app
        .send(app.req(Method::POST, "/api/v1/incidents/1/escalate"))
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{b}");
    assert_eq!(
        b["error"]["code"], "invalid_transition",
        "a resolved incident: {b}"
    );

    // Who is on call for the service, per level.
    let (_, oncall) = app.get("/api/v1/services/checkout/on-call").await;
    assert_eq!(oncall["levels"][0]["users"][0]["name"], "Alice", "{oncall}");
    assert_eq!(oncall["levels"][0]["users"][0]["via_schedule"], "Primary");
    assert_eq!(oncall["levels"][1]["users"][0]["name"], "Bob");
}

#[tokio::test]
async fn a_test_notification_reaches_the_method_and_a_missed_heartbeat_pages() {
    let hook = WebhookReceiver::start().await;
    let story = seed(None, &hook).await;
    let app = &story.app;
    let bob_id = story.bob["id"].as_str().unwrap();
    let (_, methods) = app
        .get(&format!("/api/v1/users/{bob_id}/contact-methods"))
        .await;
    assert_eq!(
        methods["items"][0]["target"].get("secret"),
        None,
        "secrets are not listed"
    );
    let method = methods["items"][0]["id"].as_str().unwrap();
    let (s, d) = app
        .post(&format!("/api/v1/contact-methods/{method}/test"), json!({}))
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{d}");
    let got = hook.wait_for(app, 1).await;
    assert_eq!(got[0].json()["type"], "test");
    verify_signature(&story.bob_secret, &got[0]);

    // A heartbeat on checkout every 60 s with 30 s grace.
    let (s, hb) = app
        .post(
            "/api/v1/services/checkout/integrations",
            json!({"kind": "heartbeat", "config": {"heartbeat": {"interval_seconds": 60, "grace_seconds": 30}}}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{hb}");
    let beat_url = hb["url"].as_str().unwrap().to_owned();
    let beat = app.client.get(&beat_url).send().await.unwrap();
    assert_eq!(beat.status(), StatusCode::OK);
    story.clock.advance(Duration::seconds(80));
    app.cycle().await;
    let (_, alerts) = app.get("/api/v1/alerts?status=triggered").await;
    assert_eq!(
        alerts["items"].as_array().unwrap().len(),
        0,
        "inside the grace period"
    );
    story.clock.advance(Duration::seconds(20));
    let report = app.cycle().await;
    assert_eq!(report["heartbeats_missed"], 1, "{report}");
    let (_, alerts) = app.get("/api/v1/alerts?status=triggered").await;
    assert_eq!(alerts["items"][0]["dedup_key"], "heartbeat", "{alerts}");
    let (_, incidents) = app.get("/api/v1/incidents").await;
    assert_eq!(incidents["items"][0]["status"], "triggered");
    // The next beat resolves it.
    let beat = app.client.post(&beat_url).send().await.unwrap();
    let body: Value = beat.json().await.unwrap();
    assert_eq!(body["recovered"], true, "{body}");
    let (_, incidents) = app.get("/api/v1/incidents").await;
    assert_eq!(incidents["items"][0]["status"], "resolved", "{incidents}");
    let bad = app
        .client
        .get(format!("{}/heartbeat/nope", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::NOT_FOUND);

    // Beats are held to the integration's request limit, as any sender's requests are.
    let (_, tight) = app
        .post(
            "/api/v1/services/checkout/integrations",
            json!({"kind": "heartbeat", "config": {"heartbeat": {"interval_seconds": 60},
                   "rate_limit": {"per_second": 1, "burst": 2}}}),
        )
        .await;
    let tight_url = tight["url"].as_str().unwrap().to_owned();
    for _ in 0..2 {
        let beat = app.client.post(&tight_url).send().await.unwrap();
        assert_eq!(beat.status(), StatusCode::OK);
    }
    let limited = app.client.post(&tight_url).send().await.unwrap();
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(limited.headers().contains_key("retry-after"));
}

#[tokio::test]
async fn each_person_is_reminded_once_shortly_before_their_shift() {
    let hook = WebhookReceiver::start().await;
    let story = seed(None, &hook).await;
    let app = &story.app;
    created(
        app,
        "/api/v1/schedules",
        json!({
            "name": "Secondary",
            "time_zone": "Europe/Berlin",
            "reminder_minutes": 30,
            "layers": [{
                "name": "daily",
                "participants": [story.alice["id"], story.bob["id"]],
                "rotation": {"every": "days", "count": 1},
                "start": "2026-03-02T09:00:00"
            }]
        }),
    )
    .await;
    // Bob's first shift starts on 3 March at 09:00 Berlin (08:00 UTC); his reminder is due at 07:30 UTC.
    app.cycle_sending_nothing().await;
    story.clock.set(t("2026-03-03T07:29:00Z"));
    app.cycle_sending_nothing().await;
    assert!(hook.requests().is_empty(), "too early for a reminder");
    story.clock.set(t("2026-03-03T07:31:00Z"));
    let got = hook.wait_for(app, 1).await;
    let event = got[0].json();
    assert_eq!(event["type"], "shift.reminder", "{event}");
    assert_eq!(event["data"]["schedule"]["name"], "Secondary");
    assert_eq!(event["data"]["start"], "2026-03-03T08:00:00Z");
    assert_eq!(event["data"]["end"], "2026-03-04T08:00:00Z");
    verify_signature(&story.bob_secret, &got[0]);
    // However often the engine looks, one reminder per shift.
    for _ in 0..3 {
        story.clock.advance(Duration::minutes(10));
        app.cycle_sending_nothing().await;
    }
    assert_eq!(hook.requests().len(), 1);
    let (_, sent) = app
        .get(&format!(
            "/api/v1/users/{}/notifications",
            story.bob["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(
        sent["items"][0]["purpose"]["type"], "shift_reminder",
        "{sent}"
    );
}

#[tokio::test]
async fn urgency_picks_the_rules_and_every_channel_reaches_its_receiver() {
    let hook = WebhookReceiver::start().await;
    let story = seed(None, &hook).await;
    let app = &story.app;
    let bob_id = story.bob["id"].as_str().unwrap();
    let method = |name: &'static str, target: Value| {
        let path = format!("/api/v1/users/{bob_id}/contact-methods");
        async move { created(app, &path, json!({"name": name, "target": target})).await["id"].clone() }
    };
    let teams = method(
        "teams",
        json!({"type": "teams", "url": format!("{}/teams", hook.url)}),
    )
    .await;
    let sms = method("sms", json!({"type": "sms", "number": "+4915112345678"})).await;
    let mattermost = method(
        "mattermost",
        json!({"type": "mattermost", "url": format!("{}/mattermost", hook.url)}),
    )
    .await;
    let voice = method(
        "voice",
        json!({"type": "voice", "number": "+4915112345679"}),
    )
    .await;
    for (m, urgency) in [
        (&teams, "high"),
        (&sms, "high"),
        (&mattermost, "low"),
        (&voice, "low"),
    ] {
        created(
            app,
            &format!("/api/v1/users/{bob_id}/notification-rules"),
            json!({"contact_method_id": m, "urgency": urgency}),
        )
        .await;
    }
    // Bob covers Alice's on-call hour: level 1 pages him.
    created(
        app,
        "/api/v1/schedules/Primary/overrides",
        json!({"user": bob_id, "start": "2026-03-02T09:30:00Z", "end": "2026-03-02T11:00:00Z"}),
    )
    .await;
    let (s, oncall) = app
        .get("/api/v1/escalation-policies/checkout%20on-call/on-call")
        .await;
    assert_eq!(s, StatusCode::OK, "{oncall}");
    assert_eq!(oncall["levels"][0]["users"][0]["name"], "Bob", "{oncall}");
    assert_eq!(oncall["levels"][0]["users"][0]["via_schedule"], "Primary");
    let (_, later) = app
        .get("/api/v1/escalation-policies/checkout%20on-call/on-call?at=2026-03-02T12:00:00Z")
        .await;
    assert_eq!(later["levels"][0]["users"][0]["name"], "Alice", "{later}");
    let (s, _) = app.get("/api/v1/escalation-policies/nope/on-call").await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // SEV-1 is high urgency: Teams and SMS.
    let (s, _) = app
        .enqueue(TestApp::trigger(&story.key, "high", "critical"))
        .await;
    assert_eq!(s, StatusCode::ACCEPTED);
    let got = hook.wait_for(app, 2).await;
    let mut paths: Vec<&str> = got.iter().map(|r| r.path.as_str()).collect();
    paths.sort();
    assert_eq!(paths, ["/sms", "/teams"]);
    let card = got.iter().find(|r| r.path == "/teams").unwrap().json();
    assert_eq!(card["@type"], "MessageCard", "{card}");
    assert!(
        card["potentialAction"]
            .as_array()
            .is_some_and(|a| !a.is_empty()),
        "{card}"
    );
    let text = got.iter().find(|r| r.path == "/sms").unwrap().json();
    assert_eq!(text["to"], "+4915112345678", "{text}");
    assert!(text["text"].as_str().unwrap().contains("#1"), "{text}");

    // SEV-3 is low urgency: Mattermost and a call.
    let (s, _) = app
        .enqueue(TestApp::trigger(&story.key, "low", "warning"))
        .await;
    assert_eq!(s, StatusCode::ACCEPTED);
    let got = hook.wait_for(app, 4).await;
    let mut paths: Vec<&str> = got[2..].iter().map(|r| r.path.as_str()).collect();
    paths.sort();
    assert_eq!(paths, ["/mattermost", "/voice"]);
    let call = got.iter().find(|r| r.path == "/voice").unwrap().json();
    assert_eq!(call["to"], "+4915112345679", "{call}");
    for (incident, channels) in [(1, ["sms", "teams"]), (2, ["mattermost", "voice"])] {
        let (_, log) = app
            .get(&format!("/api/v1/incidents/{incident}/notifications"))
            .await;
        let mut sent: Vec<&str> = log["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| {
                assert_eq!(d["status"], "delivered", "{d}");
                d["channel"].as_str().unwrap()
            })
            .collect();
        sent.sort();
        assert_eq!(sent, channels, "incident #{incident}: {log}");
    }
}

#[tokio::test]
async fn an_action_link_stops_acting_once_its_person_is_deleted() {
    let hook = WebhookReceiver::start().await;
    let story = seed(None, &hook).await;
    let app = &story.app;
    let dana = created(
        app,
        "/api/v1/users",
        json!({"name": "Dana", "email": "dana@example.test"}),
    )
    .await;
    let dana_id = dana["id"].as_str().unwrap();
    created(
        app,
        &format!("/api/v1/users/{dana_id}/contact-methods"),
        json!({"name": "hook", "target": {"type": "webhook", "url": format!("{}/dana", hook.url)}}),
    )
    .await;
    created(
        app,
        "/api/v1/incidents",
        json!({"title": "Checkout is down", "severity": "SEV-1", "services": ["checkout"]}),
    )
    .await;
    let (s, b) = app
        .post("/api/v1/incidents/1/reassign", json!({"users": [dana_id]}))
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let page = hook.wait_for_path(app, "/dana").await.json();
    let ack = page["data"]["links"]["acknowledge"]
        .as_str()
        .unwrap()
        .to_owned();

    let (s, b) = app
        .send(app.req(Method::DELETE, &format!("/api/v1/users/{dana_id}")))
        .await;
    assert!(s.is_success(), "{b}");
    for method in [Method::GET, Method::POST] {
        let resp = app.client.request(method, &ack).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::FORBIDDEN);
        assert!(resp.text().await.unwrap().contains("no longer in Tocsin"));
    }
    assert_eq!(
        app.get("/api/v1/incidents/1").await.1["status"],
        "triggered"
    );
}

/// Users' webhook and chat URLs cannot reach the machine, its network or a metadata service unless the
/// configuration lists the network; a name is checked once resolved, when sending.
#[tokio::test]
async fn users_urls_cannot_reach_private_addresses_unless_allowed() {
    let hook = WebhookReceiver::start().await;
    let app = TestApp::spawn_with(Arc::new(tocsin_domain::clock::SystemClock), |c| {
        c.notify.allowed_networks = Default::default();
        c.engine.tick_ms = 3_600_000;
    })
    .await;
    let eve = created(
        &app,
        "/api/v1/users",
        json!({"name": "Eve", "email": "eve@example.test"}),
    )
    .await;
    let eve_id = eve["id"].as_str().unwrap();
    let port = hook.url.rsplit(':').next().unwrap().to_owned();
    for (name, target) in [
        (
            "literal",
            json!({"type": "webhook", "url": format!("{}/literal", hook.url)}),
        ),
        (
            "by name",
            json!({"type": "webhook", "url": format!("http://localhost:{port}/name")}),
        ),
        (
            "metadata",
            json!({"type": "slack", "url": "http://169.254.169.254/latest/meta-data/"}),
        ),
        (
            "mapped",
            json!({"type": "mattermost", "url": format!("http://[::ffff:127.0.0.1]:{port}/mapped")}),
        ),
    ] {
        let method = created(
            &app,
            &format!("/api/v1/users/{eve_id}/contact-methods"),
            json!({"name": name, "target": target}),
        )
        .await;
        let id = method["id"].as_str().unwrap();
        let (s, d) = app
            .post(&format!("/api/v1/contact-methods/{id}/test"), json!({}))
            .await;
        assert_eq!(s, StatusCode::ACCEPTED, "{d}");
    }
    app.cycle().await;
    assert!(hook.requests().is_empty(), "{:?}", hook.requests().len());
    let (_, log) = app
        .get(&format!("/api/v1/users/{eve_id}/notifications"))
        .await;
    let items = log["items"].as_array().unwrap();
    assert_eq!(items.len(), 4, "{log}");
    for item in items {
        assert_eq!(
            item["status"], "failed",
            "refused at once, not retried: {item}"
        );
        let detail = item["attempts"][0]["detail"].as_str().unwrap_or_default();
        assert!(detail.contains("notify.allowed_networks"), "{item}");
    }
    let metrics = app.text("/metrics").await;
    for (channel, refused) in [
        ("webhook", 2),
        ("slack", 1),
        ("mattermost", 1),
        ("teams", 0),
    ] {
        let series =
            format!(r#"tocsin_notifications_refused_total{{channel="{channel}"}} {refused}"#);
        assert!(
            metrics.lines().any(|l| l == series),
            "{series} in:\n{metrics}"
        );
    }
}
