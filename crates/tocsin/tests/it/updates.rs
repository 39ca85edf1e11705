//! Stakeholder updates end to end: a severity's cadence, reminders to the leads (widened when ignored) by a real
//! SMTP server and a signed webhook, and updates reaching responders, a subscribed stakeholder and a subscribed
//! Slack channel.

use crate::support::{SmtpPeer, TestApp, WebhookReceiver};
use chrono::{DateTime, Duration, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::sync::Arc;
use tocsin::notify::NotifyConfig;
use tocsin_domain::clock::ManualClock;

async fn created(app: &TestApp, path: &str, body: Value) -> Value {
    let (s, b) = app.post(path, body).await;
    assert_eq!(s, StatusCode::CREATED, "{path}: {b}");
    b
}

async fn person(app: &TestApp, name: &str, target: Value) -> String {
    let email = format!("{}@example.test", name.to_lowercase());
    let user = created(app, "/api/v1/users", json!({"name": name, "email": email})).await;
    let id = user["id"].as_str().unwrap().to_owned();
    created(
        app,
        &format!("/api/v1/users/{id}/contact-methods"),
        json!({"name": "mine", "target": target}),
    )
    .await;
    id
}

fn subjects(smtp: &SmtpPeer) -> Vec<(String, String)> {
    smtp.messages()
        .into_iter()
        .map(|m| (m.to, m.subject))
        .collect()
}

#[tokio::test]
async fn updates_keep_their_cadence_reminders_widen_and_stakeholders_hear_by_mail_and_chat() {
    let Some(smtp) = SmtpPeer::start().await else {
        return;
    };
    let hook = WebhookReceiver::start().await;
    let start: DateTime<Utc> = "2026-03-02T10:00:00Z".parse().unwrap();
    let clock = Arc::new(ManualClock::new(start));
    let port = smtp.port;
    let app = TestApp::spawn_with(clock.clone(), |c| {
        c.notify = NotifyConfig {
            smtp: Some(crate::support::smtp_relay(port)),
            ..c.notify.clone()
        };
        c.engine.tick_ms = 3_600_000;
    })
    .await;
    let key = app.service_with_key("checkout").await;
    let (s, b) = app
        .send(
            app.req(Method::PATCH, "/api/v1/severities/SEV-1")
                .json(&json!({"update_every_minutes": 30})),
        )
        .await;
    assert!(s.is_success(), "{b}");
    let cora = person(
        &app,
        "Cora",
        json!({"type": "email", "address": "cora@example.test"}),
    )
    .await;
    let ivan = person(
        &app,
        "Ivan",
        json!({"type": "webhook", "url": format!("{}/ivan", hook.url)}),
    )
    .await;
    let sam = person(
        &app,
        "Sam",
        json!({"type": "email", "address": "sam@example.test"}),
    )
    .await;

    let (s, b) = app
        .enqueue(TestApp::trigger(&key, "checkout-5xx", "critical"))
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{b}");
    app.cycle().await;
    for (role, who) in [("communications", &cora), ("commander", &ivan)] {
        let (s, b) = app
            .post(
                &format!("/api/v1/incidents/1/roles/{role}"),
                json!({"user": who}),
            )
            .await;
        assert!(s.is_success(), "{b}");
    }
    // Sam hears of the service as a stakeholder; the status channel of this incident.
    created(
        &app,
        "/api/v1/subscriptions",
        json!({"service": "checkout", "user": sam}),
    )
    .await;
    let channel = created(
        &app,
        "/api/v1/subscriptions",
        json!({"incident": "1", "channel": {"name": "#checkout-status",
            "target": {"type": "slack", "url": format!("{}/status", hook.url)}}}),
    )
    .await;
    assert!(
        !channel.to_string().contains("/status"),
        "the channel's webhook is a credential, never shown: {channel}"
    );
    let (_, mine) = app.get("/api/v1/subscriptions?service=checkout").await;
    assert_eq!(mine["items"].as_array().unwrap().len(), 1, "{mine}");

    let (_, updates) = app.get("/api/v1/incidents/1/updates").await;
    assert_eq!(updates["due"]["because"], "cadence", "{updates}");
    assert_eq!(
        updates["due"]["due_at"]
            .as_str()
            .unwrap()
            .parse::<DateTime<Utc>>()
            .unwrap(),
        start + Duration::minutes(30)
    );
    // The role pages reach Cora and Ivan; nothing about updates yet.
    smtp.wait_for(&app, 1).await;
    hook.wait_for_path(&app, "/ivan").await;
    let before = smtp.messages().len();
    assert!(
        subjects(&smtp)
            .iter()
            .all(|(_, s)| !s.contains("Post an update")),
        "{:?}",
        subjects(&smtp)
    );

    // Thirty minutes without an update: the communications lead is reminded, by her email.
    clock.advance(Duration::minutes(30));
    let mails = smtp.wait_for(&app, before + 1).await;
    let reminder = mails.last().unwrap();
    assert!(reminder.to.contains("cora@example.test"), "{reminder:?}");
    assert!(
        reminder.subject.starts_with("Post an update on #1"),
        "{}",
        reminder.subject
    );
    let ivan_before = hook.requests().iter().filter(|r| r.path == "/ivan").count();

    // Ignored for ten minutes: both leads.
    clock.advance(Duration::minutes(10));
    let mails = smtp.wait_for(&app, before + 2).await;
    assert!(mails.last().unwrap().subject.contains("(reminder 2)"));
    let got = hook
        .wait_until(&app, "a second request to /ivan", |got| {
            got.iter().filter(|r| r.path == "/ivan").count() > ivan_before
        })
        .await;
    let due = got.iter().rfind(|r| r.path == "/ivan").unwrap().json();
    assert_eq!(due["type"], "incident.update_due", "{due}");
    assert_eq!(due["data"]["reminder"], 2);

    // An update: responders (Cora by mail, Ivan by webhook), Sam by mail, the Slack channel.
    let posted = created(
        &app,
        "/api/v1/incidents/1/updates",
        json!({"message": "Checkout fails for 40% of payments; rolling back deploy 41.",
               "report": {"actions": "Rolling back deploy 41", "needs": "A payments engineer"}}),
    )
    .await;
    assert_eq!(posted["number"], 1);
    assert_eq!(posted["status"], "investigating");
    let mut people: Vec<&str> = posted["people"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    people.sort();
    assert_eq!(people, ["Cora", "Ivan", "Sam"]);
    let mails = smtp.wait_for(&app, before + 4).await;
    let to_sam = mails
        .iter()
        .find(|m| m.to.contains("sam@example.test"))
        .expect("Sam hears of the update");
    let title = app.get("/api/v1/incidents/1").await.1["title"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(to_sam.subject, format!("[SEV-1] {title}: investigating"));
    assert!(
        to_sam.text.contains("rolling back deploy 41"),
        "{}",
        to_sam.text
    );
    assert!(to_sam.text.contains("/incidents/1"), "{}", to_sam.text);
    let to_cora = mails
        .iter()
        .rev()
        .find(|m| m.to.contains("cora@example.test"))
        .unwrap();
    assert!(
        to_cora.subject.starts_with("Update 1 on #1"),
        "{}",
        to_cora.subject
    );
    assert!(
        to_cora.text.contains("Needs: A payments engineer"),
        "{}",
        to_cora.text
    );
    let slack = hook.wait_for_path(&app, "/status").await;
    let message = slack.json().to_string();
    assert!(message.contains("rolling back deploy 41"), "{message}");

    // The channel's send is recorded; the next update is due a cadence after this one.
    app.cycle().await;
    let (_, updates) = app.get("/api/v1/incidents/1/updates").await;
    assert_eq!(
        updates["items"][0]["channels"][0]["status"], "delivered",
        "{updates}"
    );
    assert_eq!(
        updates["due"]["due_at"]
            .as_str()
            .unwrap()
            .parse::<DateTime<Utc>>()
            .unwrap(),
        start + Duration::minutes(70)
    );
    assert_eq!(updates["due"]["reminders"], 0);

    let (_, timeline) = app.get("/api/v1/incidents/1/timeline").await;
    let said: Vec<&str> = timeline["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["message"].as_str())
        .filter(|m| m.contains("update"))
        .collect();
    assert!(
        said.iter()
            .any(|m| m.starts_with("No update since an update was due: reminded Cora again"))
            || said.iter().any(|m| m.contains("reminded Cora, Ivan again")),
        "{said:?}"
    );
    assert!(
        said.iter()
            .any(|m| m.contains("posted update 1 (investigating; sent to 4 people and channels)")),
        "{said:?}"
    );

    // Sam ends the subscription himself; he no longer hears.
    let token = created(
        &app,
        "/api/v1/tokens",
        json!({"name": "Sam's", "user": "sam@example.test"}),
    )
    .await;
    let as_sam = |method: Method, path: &str| {
        app.client
            .request(method, format!("{}{path}", app.url))
            .bearer_auth(token["token"].as_str().unwrap())
    };
    let (_, own) = app.send(as_sam(Method::GET, "/api/v1/subscriptions")).await;
    let id = own["items"][0]["id"].as_str().unwrap().to_owned();
    let (s, b) = app
        .send(as_sam(
            Method::DELETE,
            &format!("/api/v1/subscriptions/{id}"),
        ))
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{b}");
    let (_, left) = app.get("/api/v1/subscriptions?service=checkout").await;
    assert_eq!(left["items"], json!([]), "{left}");
}
