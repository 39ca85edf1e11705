//! Slack's buttons end to end: a page posted to Slack carries Acknowledge / Resolve / Escalate; clicks signed as
//! Slack signs them act as the Tocsin person the clicker is linked to (by a one-time code typed as a slash
//! command, or by the email Slack's `users.info` gives) and update the message through its `response_url`;
//! replayed, stale, forged and unsigned requests are refused.

use crate::support::{TestApp, WebhookReceiver};
use chrono::{DateTime, Duration, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::sync::Arc;
use tocsin::slack::SlackConfig;
use tocsin_domain::clock::ManualClock;
use tocsin_domain::slack::sign;

const SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
const BOT_TOKEN: &str = "xoxb-17653672481-19874698323-pdFZKVeTuE8sk7oOcBrzbqgy";

/// Slack's Web API as far as Tocsin uses it: `users.info` with a bot token, answering the users it knows as full
/// members of workspace T0001 with a confirmed email, except guests (IDs starting `U0GUEST`).
struct SlackApi {
    url: String,
    task: tokio::task::JoinHandle<()>,
}

impl SlackApi {
    async fn start(emails: &'static [(&'static str, &'static str)]) -> Self {
        let app = axum::Router::new().route(
            "/api/users.info",
            axum::routing::get(
                move |headers: axum::http::HeaderMap,
                      axum::extract::Query(q): axum::extract::Query<
                    std::collections::HashMap<String, String>,
                >| async move {
                    let auth = headers
                        .get("authorization")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("");
                    if auth != format!("Bearer {BOT_TOKEN}") {
                        return axum::Json(json!({"ok": false, "error": "invalid_auth"}));
                    }
                    let user = q.get("user").cloned().unwrap_or_default();
                    match emails.iter().find(|(id, _)| *id == user) {
                        Some((id, email)) => axum::Json(json!({"ok": true, "user": {
                            "id": id, "team_id": "T0001", "name": "someone", "deleted": false,
                            "is_bot": false, "is_restricted": id.starts_with("U0GUEST"),
                            "is_ultra_restricted": false, "is_email_confirmed": true,
                            "profile": {"email": email, "real_name": "Someone"}}})),
                        None => axum::Json(json!({"ok": false, "error": "user_not_found"})),
                    }
                },
            ),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/api", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { url, task }
    }
}

impl Drop for SlackApi {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Posts `body` to a Slack endpoint of the app, signed at `signed_at` with `secret` as Slack does.
async fn slack_post(
    app: &TestApp,
    path: &str,
    body: &str,
    signed_at: DateTime<Utc>,
    secret: &str,
) -> (StatusCode, Value) {
    let ts = signed_at.timestamp();
    let signature = sign(secret, ts, body.as_bytes());
    post_as_signed(app, path, body, Some((ts, &signature))).await
}

/// Posts `body` with these `X-Slack-Request-Timestamp` and `X-Slack-Signature` headers, or none.
async fn post_as_signed(
    app: &TestApp,
    path: &str,
    body: &str,
    signed: Option<(i64, &str)>,
) -> (StatusCode, Value) {
    let mut rb = app
        .client
        .post(format!("{}{path}", app.url))
        .header("content-type", "application/x-www-form-urlencoded");
    if let Some((ts, signature)) = signed {
        rb = rb
            .header("x-slack-request-timestamp", ts.to_string())
            .header("x-slack-signature", signature);
    }
    app.send(rb.body(body.to_owned())).await
}

fn form(fields: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(fields)
        .finish()
}

/// A `block_actions` payload as Slack sends it for a click on `action_id` in `message`.
fn click(
    user: &str,
    action_id: &str,
    incident: &str,
    response_url: &str,
    message: &Value,
) -> String {
    let payload = json!({
        "type": "block_actions",
        "team": {"id": "T0001", "domain": "example"},
        "user": {"id": user, "username": user.to_lowercase(), "name": user.to_lowercase(), "team_id": "T0001"},
        "api_app_id": "A0001",
        "token": "verification-token-unused",
        "container": {"type": "message", "message_ts": "1548261231.000200", "channel_id": "C0001", "is_ephemeral": false},
        "trigger_id": "12321423423.333649436676.d8c1bb837935619ccad0f624c448ffb3",
        "channel": {"id": "C0001", "name": "checkout-oncall"},
        "message": {"type": "message", "text": message["text"], "blocks": message["blocks"]},
        "response_url": response_url,
        "actions": [{"action_id": action_id, "block_id": "tocsin_actions",
            "text": {"type": "plain_text", "text": "x"}, "value": incident, "type": "button",
            "action_ts": "1548426417.840180"}],
    });
    form(&[("payload", &payload.to_string())])
}

/// Clicks `action_id` as the Slack user, signed at `at`, and answers what Tocsin posted to the click's response
/// URL, `/actions/T0001/{reply}` on `hook`.
async fn press(
    app: &TestApp,
    hook: &WebhookReceiver,
    (user, action_id): (&str, &str),
    incident: &str,
    reply: &str,
    message: &Value,
    at: DateTime<Utc>,
) -> Value {
    let response_url = format!("{}/actions/T0001/{reply}", hook.url);
    let body = click(user, action_id, incident, &response_url, message);
    let (s, b) = slack_post(app, "/slack/interactivity", &body, at, SECRET).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    hook.wait_for_path(app, &format!("/actions/T0001/{reply}"))
        .await
        .json()
}

fn action_ids(message: &Value) -> Vec<String> {
    message["blocks"]
        .as_array()
        .map(|blocks| {
            blocks
                .iter()
                .filter(|b| b["type"] == "actions")
                .flat_map(|b| b["elements"].as_array().cloned().unwrap_or_default())
                .map(|e| e["action_id"].as_str().unwrap_or("").to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// The notes under a message: who did what.
fn notes(message: &Value) -> Vec<String> {
    message["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| b["type"] == "context")
        .map(|b| b["elements"][0]["text"].as_str().unwrap().to_owned())
        .collect()
}

async fn created(app: &TestApp, path: &str, body: Value) -> Value {
    let (s, b) = app.post(path, body).await;
    assert_eq!(s, StatusCode::CREATED, "{path}: {b}");
    b
}

#[tokio::test]
async fn slack_buttons_act_as_the_linked_person_and_update_the_message() {
    let hook = WebhookReceiver::start().await;
    let api = SlackApi::start(&[
        ("U0BOB", "bob@example.test"),
        ("U0GUEST", "ann@example.test"),
    ])
    .await;
    let start: DateTime<Utc> = "2026-03-02T10:00:00Z".parse().unwrap();
    let clock = Arc::new(ManualClock::new(start));
    let api_url = api.url.clone();
    let app = TestApp::spawn_with(clock.clone(), |c| {
        c.slack = Some(SlackConfig {
            bot_token: Some(BOT_TOKEN.into()),
            teams: vec!["T0001".into()],
            api_url,
            ..SlackConfig::new(SECRET)
        });
        c.engine.tick_ms = 3_600_000;
    })
    .await;
    let mut people = Vec::new();
    for name in ["Ann", "Bob"] {
        let email = format!("{}@example.test", name.to_lowercase());
        let user = created(&app, "/api/v1/users", json!({"name": name, "email": email})).await;
        let id = user["id"].as_str().unwrap().to_owned();
        created(
            &app,
            &format!("/api/v1/users/{id}/contact-methods"),
            json!({"name": "slack", "target": {"type": "slack",
                "url": format!("{}/services/T0001/B0001/{}", hook.url, name.to_lowercase())}}),
        )
        .await;
        people.push(id);
    }
    let (ann, _bob) = (people[0].clone(), people[1].clone());
    let policy = created(
        &app,
        "/api/v1/escalation-policies",
        json!({"name": "checkout", "levels": [
            {"delay_minutes": 30, "targets": [{"type": "user", "id": ann}]},
            {"delay_minutes": 30, "targets": [{"type": "user", "id": people[1]}]},
        ]}),
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
    let (s, b) = app
        .enqueue(TestApp::trigger(&key, "checkout-5xx", "critical"))
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{b}");

    // Ann's page reaches Slack with the three buttons, each naming the incident.
    let page = hook
        .wait_for_path(&app, "/services/T0001/B0001/ann")
        .await
        .json();
    assert_eq!(
        action_ids(&page),
        ["tocsin_acknowledge", "tocsin_resolve", "tocsin_escalate"],
        "{page}"
    );
    let (_, incident) = app.get("/api/v1/incidents/1").await;
    let incident_id = incident["id"].as_str().unwrap().to_owned();
    let buttons = page["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["type"] == "actions")
        .unwrap();
    assert!(
        buttons["elements"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["value"] == incident_id.as_str()),
        "{buttons}"
    );
    assert!(page["text"].as_str().unwrap().contains("#1"), "{page}");

    // Ann is not linked yet: her click does nothing and tells her, to her alone, how to link.
    let response_url = |name: &str| format!("{}/actions/T0001/{name}", hook.url);
    let answer = press(
        &app,
        &hook,
        ("U0ANN", "tocsin_acknowledge"),
        &incident_id,
        "ann-1",
        &page,
        start,
    )
    .await;
    assert_eq!(answer["response_type"], "ephemeral", "{answer}");
    assert_eq!(answer["replace_original"], false);
    assert!(
        answer["text"]
            .as_str()
            .unwrap()
            .contains("/tocsin link CODE"),
        "{answer}"
    );
    let (_, still) = app.get("/api/v1/incidents/1").await;
    assert_eq!(still["status"], "triggered");

    // She gets a code in Tocsin and types it in Slack.
    let token = created(
        &app,
        "/api/v1/tokens",
        json!({"name": "Ann's", "user": "ann@example.test"}),
    )
    .await;
    let as_ann = |method: Method, path: &str| {
        app.client
            .request(method, format!("{}{path}", app.url))
            .bearer_auth(token["token"].as_str().unwrap())
    };
    let (s, code) = app
        .send(as_ann(Method::POST, "/api/v1/slack/link-codes"))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{code}");
    let typed = code["code"].as_str().unwrap().to_lowercase();
    assert_eq!(
        code["command"],
        format!("/tocsin link {}", code["code"].as_str().unwrap())
    );
    let command = |user: &str, text: &str| {
        form(&[
            ("token", "unused"),
            ("team_id", "T0001"),
            ("team_domain", "example"),
            ("channel_id", "C0001"),
            ("user_id", user),
            ("user_name", "someone"),
            ("command", "/tocsin"),
            ("text", text),
            ("response_url", "https://hooks.slack.com/commands/T0001/1/x"),
            ("trigger_id", "1.2.3"),
        ])
    };
    let (s, b) = slack_post(
        &app,
        "/slack/commands",
        &command("U0EVE", "link ZZZZ-ZZZZ"),
        start,
        SECRET,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert!(
        b["text"]
            .as_str()
            .unwrap()
            .contains("wrong, used or expired"),
        "{b}"
    );
    let (s, b) = slack_post(
        &app,
        "/slack/commands",
        &command("U0ANN", &format!("link {typed}")),
        start,
        SECRET,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["response_type"], "ephemeral");
    assert!(b["text"].as_str().unwrap().contains("you are Ann"), "{b}");
    let (s, b) = slack_post(
        &app,
        "/slack/commands",
        &command("U0EVE", &format!("link {typed}")),
        start + Duration::seconds(1),
        SECRET,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert!(
        b["text"]
            .as_str()
            .unwrap()
            .contains("wrong, used or expired"),
        "a code links once: {b}"
    );

    // Now her click acknowledges as her, and the message says so in place, keeping what it said.
    clock.advance(Duration::minutes(2));
    let now = start + Duration::minutes(2);
    let ack = click(
        "U0ANN",
        "tocsin_acknowledge",
        &incident_id,
        &response_url("ann-2"),
        &page,
    );
    let (s, b) = slack_post(&app, "/slack/interactivity", &ack, now, SECRET).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (_, acked) = app.get("/api/v1/incidents/1").await;
    assert_eq!(acked["status"], "acknowledged", "{acked}");
    assert_eq!(acked["acknowledged_by"]["name"], "Ann", "{acked}");
    assert_eq!(acked["acknowledged_by"]["id"], ann.as_str(), "{acked}");
    let updated = hook
        .wait_for_path(&app, "/actions/T0001/ann-2")
        .await
        .json();
    assert_eq!(updated["replace_original"], true, "{updated}");
    assert_eq!(updated["blocks"][0], page["blocks"][0], "{updated}");
    assert_eq!(notes(&updated), ["Acknowledged by Ann at 10:02 UTC"]);
    assert_eq!(action_ids(&updated), ["tocsin_resolve", "tocsin_escalate"]);

    // An update posted to a Slack channel carries the buttons too, as the incident now stands.
    created(
        &app,
        "/api/v1/subscriptions",
        json!({"incident": "1", "channel": {"name": "#checkout-status",
            "target": {"type": "slack", "url": format!("{}/services/T0001/B0001/status", hook.url)}}}),
    )
    .await;
    created(
        &app,
        "/api/v1/incidents/1/updates",
        json!({"message": "Some payments fail; we are rolling back."}),
    )
    .await;
    let update = hook
        .wait_for_path(&app, "/services/T0001/B0001/status")
        .await
        .json();
    assert_eq!(
        action_ids(&update),
        ["tocsin_resolve", "tocsin_escalate"],
        "{update}"
    );
    assert!(
        update["text"].as_str().unwrap().contains("rolling back"),
        "{update}"
    );

    // The same request again, within the five minutes, is a replay: refused, and nothing happens twice.
    let (s, b) = slack_post(&app, "/slack/interactivity", &ack, now, SECRET).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{b}");
    assert_eq!(b["error"]["code"], "replayed_request", "{b}");
    // Nor in capitals, which verify as well (hex has two cases) and must not make it new.
    let ts = now.timestamp();
    let shouted = sign(SECRET, ts, ack.as_bytes())
        .to_uppercase()
        .replacen("V0=", "v0=", 1);
    let (s, b) = post_as_signed(&app, "/slack/interactivity", &ack, Some((ts, &shouted))).await;
    assert_eq!(b["error"]["code"], "replayed_request", "{s} {b}");
    // Stale: signed more than five minutes ago (or ahead), even if the signature is right.
    let escalate = click(
        "U0BOB",
        "tocsin_escalate",
        &incident_id,
        &response_url("bob-1"),
        &updated,
    );
    for skew in [Duration::seconds(-301), Duration::seconds(301)] {
        let (s, b) = slack_post(&app, "/slack/interactivity", &escalate, now + skew, SECRET).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{b}");
        assert_eq!(b["error"]["code"], "invalid_signature", "{b}");
        assert!(
            b["error"]["message"]
                .as_str()
                .unwrap()
                .contains("5 minutes"),
            "{b}"
        );
    }
    // Forged: signed with another secret, or altered after signing, or not signed at all.
    let (s, b) = slack_post(
        &app,
        "/slack/interactivity",
        &escalate,
        now,
        "not the secret",
    )
    .await;
    assert_eq!(
        (s, &b["error"]["code"]),
        (StatusCode::UNAUTHORIZED, &json!("invalid_signature")),
        "{b}"
    );
    let altered = escalate.replace("tocsin_escalate", "tocsin_resolve");
    let signature = sign(SECRET, ts, escalate.as_bytes());
    let (s, b) = post_as_signed(
        &app,
        "/slack/interactivity",
        &altered,
        Some((ts, &signature)),
    )
    .await;
    assert_eq!(
        (s, &b["error"]["code"]),
        (StatusCode::UNAUTHORIZED, &json!("invalid_signature")),
        "{b}"
    );
    let (s, b) = post_as_signed(&app, "/slack/interactivity", &escalate, None).await;
    assert_eq!(
        (s, &b["error"]["code"]),
        (StatusCode::UNAUTHORIZED, &json!("invalid_signature")),
        "{b}"
    );
    assert!(
        hook.requests()
            .iter()
            .all(|r| r.path != "/actions/T0001/bob-1"),
        "no refused request was acted on"
    );
    let (_, unchanged) = app.get("/api/v1/incidents/1").await;
    assert_eq!(unchanged["status"], "acknowledged");

    // Bob never linked, but Slack's profile gives his email: his click links him and escalates as him.
    let (s, b) = slack_post(&app, "/slack/interactivity", &escalate, now, SECRET).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let escalated = hook
        .wait_for_path(&app, "/actions/T0001/bob-1")
        .await
        .json();
    assert_eq!(
        notes(&escalated),
        [
            "Acknowledged by Ann at 10:02 UTC",
            "Escalated to the next level by Bob at 10:02 UTC"
        ],
        "{escalated}"
    );
    let (_, escalation) = app.get("/api/v1/incidents/1/escalation").await;
    assert_eq!(
        escalation["escalation"]["level"], 2,
        "the second level pages Bob: {escalation}"
    );
    let bob_paged = hook
        .wait_for_path(&app, "/services/T0001/B0001/bob")
        .await
        .json();
    assert_eq!(
        action_ids(&bob_paged),
        ["tocsin_resolve", "tocsin_escalate"],
        "{bob_paged}"
    );
    let (_, timeline) = app.get("/api/v1/incidents/1/timeline").await;
    let said = timeline.to_string();
    assert!(said.contains("Bob"), "the escalation is Bob's: {said}");

    // Someone Slack has no email for, and who never linked, can do nothing.
    let refused = press(
        &app,
        &hook,
        ("U0EVE", "tocsin_resolve"),
        &incident_id,
        "eve",
        &escalated,
        now,
    )
    .await;
    assert_eq!(refused["response_type"], "ephemeral", "{refused}");
    // A guest whose Slack profile carries Ann's email is not Ann: only full members link by email.
    let guest = press(
        &app,
        &hook,
        ("U0GUEST", "tocsin_resolve"),
        &incident_id,
        "guest",
        &escalated,
        now,
    )
    .await;
    assert!(
        guest["text"]
            .as_str()
            .unwrap()
            .contains("/tocsin link CODE"),
        "{guest}"
    );
    // Another workspace sharing the app's signing secret is not served.
    let mut elsewhere = click(
        "U0ANN",
        "tocsin_resolve",
        &incident_id,
        &response_url("elsewhere"),
        &escalated,
    );
    elsewhere = elsewhere.replace("T0001", "T0002");
    let (s, _) = slack_post(&app, "/slack/interactivity", &elsewhere, now, SECRET).await;
    assert_eq!(s, StatusCode::OK);
    let other = hook
        .wait_for_path(&app, "/actions/T0002/elsewhere")
        .await
        .json();
    assert!(
        other["text"]
            .as_str()
            .unwrap()
            .contains("not one this Tocsin answers"),
        "{other}"
    );
    let (_, open) = app.get("/api/v1/incidents/1").await;
    assert_eq!(open["status"], "acknowledged");

    // Ann resolves; a later click on the old message is told there is nothing left to do.
    let resolved = press(
        &app,
        &hook,
        ("U0ANN", "tocsin_resolve"),
        &incident_id,
        "ann-3",
        &escalated,
        now,
    )
    .await;
    assert!(action_ids(&resolved).is_empty(), "{resolved}");
    assert_eq!(
        notes(&resolved).last().unwrap(),
        "Resolved by Ann at 10:02 UTC"
    );
    let (_, done) = app.get("/api/v1/incidents/1").await;
    assert_eq!(
        (&done["status"], &done["resolved_by"]["name"]),
        (&json!("resolved"), &json!("Ann"))
    );
    let nothing = press(
        &app,
        &hook,
        ("U0ANN", "tocsin_acknowledge"),
        &incident_id,
        "ann-4",
        &page,
        now,
    )
    .await;
    assert_eq!(nothing["response_type"], "ephemeral", "{nothing}");
    assert!(
        nothing["text"]
            .as_str()
            .unwrap()
            .starts_with("Nothing to do: #1 was already resolved by Ann"),
        "{nothing}"
    );
    let late = press(
        &app,
        &hook,
        ("U0BOB", "tocsin_resolve"),
        &incident_id,
        "bob-2",
        &escalated,
        now,
    )
    .await;
    assert_eq!(
        (late["response_type"].as_str(), late["text"].as_str()),
        (
            Some("ephemeral"),
            Some("Nothing to do: #1 was already resolved by Ann.")
        ),
        "Bob takes no credit for Ann's resolution"
    );

    // People see and end their links; an unlinked Slack user acts as nobody.
    let (_, anns) = app
        .send(as_ann(
            Method::GET,
            &format!("/api/v1/users/{ann}/slack-accounts"),
        ))
        .await;
    assert_eq!(anns["items"].as_array().unwrap().len(), 1, "{anns}");
    assert_eq!(
        anns["items"][0]["slack"],
        json!({"team_id": "T0001", "user_id": "U0ANN"}),
        "{anns}"
    );
    assert_eq!(anns["items"][0]["user_id"], ann.as_str(), "{anns}");
    assert_eq!(anns["items"][0]["linked_by"], "code", "{anns}");
    let (_, bobs) = app
        .get(&format!("/api/v1/users/{}/slack-accounts", people[1]))
        .await;
    assert_eq!(bobs["items"][0]["linked_by"], "email", "{bobs}");
    let (s, b) = app
        .send(as_ann(
            Method::GET,
            &format!("/api/v1/users/{}/slack-accounts", people[1]),
        ))
        .await;
    assert_eq!(
        s,
        StatusCode::FORBIDDEN,
        "someone else's links are theirs: {b}"
    );
    let (s, b) = app
        .send(as_ann(
            Method::DELETE,
            &format!("/api/v1/users/{ann}/slack-accounts/T0001/U0ANN"),
        ))
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{b}");
    let (_, none) = app
        .send(as_ann(
            Method::GET,
            &format!("/api/v1/users/{ann}/slack-accounts"),
        ))
        .await;
    assert_eq!(none["items"], json!([]));

    // An unlinking sticks: Bob's profile email does not link him again; a code of his own would.
    let (s, b) = app
        .send(app.req(
            Method::DELETE,
            &format!("/api/v1/users/{}/slack-accounts/T0001/U0BOB", people[1]),
        ))
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{b}");
    let unlinked = press(
        &app,
        &hook,
        ("U0BOB", "tocsin_escalate"),
        &incident_id,
        "bob-3",
        &escalated,
        now,
    )
    .await;
    assert!(
        unlinked["text"]
            .as_str()
            .unwrap()
            .contains("/tocsin link CODE"),
        "{unlinked}"
    );

    // A token holding less than its person's role cannot make a link that would act with all of it.
    let narrow = created(
        &app,
        "/api/v1/tokens",
        json!({"name": "Ann's dashboard", "user": "ann@example.test", "role": "observer"}),
    )
    .await;
    let (s, b) = app
        .send(
            app.client
                .post(format!("{}/api/v1/slack/link-codes", app.url))
                .bearer_auth(narrow["token"].as_str().unwrap()),
        )
        .await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("forbidden")),
        "{b}"
    );
}

#[tokio::test]
async fn without_slack_configured_its_endpoints_say_so_and_messages_carry_no_buttons() {
    let app = TestApp::spawn().await;
    let body = form(&[("payload", "{}")]);
    let (s, b) = slack_post(&app, "/slack/interactivity", &body, Utc::now(), SECRET).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{b}");
    assert!(
        b["error"]["message"].as_str().unwrap().contains("[slack]"),
        "{b}"
    );
    let (s, b) = app.post("/api/v1/slack/link-codes", json!({})).await;
    assert_eq!(
        (s, b["error"]["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("token")),
        "the admin token is nobody to link: {b}"
    );
}

#[tokio::test]
async fn people_link_their_slack_account_on_their_profile_and_act_within_their_role() {
    let hook = WebhookReceiver::start().await;
    let start: DateTime<Utc> = "2026-03-02T10:00:00Z".parse().unwrap();
    let clock = Arc::new(ManualClock::new(start));
    let app = TestApp::spawn_with(clock.clone(), |c| {
        c.slack = Some(SlackConfig::new(SECRET));
        c.engine.tick_ms = 3_600_000;
    })
    .await;
    let key = app.service_with_key("checkout").await;
    app.enqueue(TestApp::trigger(&key, "checkout-5xx", "critical"))
        .await;
    app.cycle().await;
    let (_, incident) = app.get("/api/v1/incidents/1").await;
    let incident_id = incident["id"].as_str().unwrap().to_owned();
    created(
        &app,
        "/api/v1/users",
        json!({"name": "Olive", "email": "olive@example.test"}),
    )
    .await;
    let (s, b) = app
        .send(
            app.req(Method::PUT, "/api/v1/users/olive@example.test/role")
                .json(&json!({"role": "observer"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (_, invitation) = app
        .post("/api/v1/users/olive@example.test/invitation", json!({}))
        .await;
    let mut olive = crate::web::Browser::new(&app);
    let signed_in = olive
        .post(
            invitation["link"].as_str().unwrap(),
            &[("password", "a passphrase of theirs")],
        )
        .await;
    assert_eq!(
        signed_in.status,
        StatusCode::SEE_OTHER,
        "{}",
        signed_in.html
    );

    let profile = olive.get("/profile").await;
    assert!(
        profile.html.contains(r#"<h2 id="slack">Slack</h2>"#),
        "{}",
        profile.html
    );
    assert!(profile.html.contains("No Slack account is linked"));
    let shown = olive.post("/profile/slack/code", &[]).await;
    assert_eq!(shown.status, StatusCode::OK, "{}", shown.html);
    let code = shown
        .html
        .split("/tocsin link ")
        .nth(1)
        .map(|rest| rest[..9].to_owned())
        .expect("the page shows the command to type");
    let linked = slack_post(
        &app,
        "/slack/commands",
        &form(&[
            ("team_id", "T0001"),
            ("user_id", "U0OLIVE"),
            ("command", "/tocsin"),
            ("text", &format!("link {code}")),
        ]),
        start,
        SECRET,
    )
    .await;
    assert!(
        linked.1["text"].as_str().unwrap().contains("you are Olive"),
        "{:?}",
        linked
    );
    let profile = olive.get("/profile").await;
    assert!(profile.html.contains("U0OLIVE"), "{}", profile.html);
    assert!(profile.html.contains("linked by code"));

    // She is an observer: her click is refused for her role, to her alone.
    let message = json!({"text": "#1", "blocks": []});
    let refused = press(
        &app,
        &hook,
        ("U0OLIVE", "tocsin_acknowledge"),
        &incident_id,
        "olive",
        &message,
        start,
    )
    .await;
    assert_eq!(refused["response_type"], "ephemeral");
    assert!(
        refused["text"]
            .as_str()
            .unwrap()
            .starts_with("You hold the observer role"),
        "{refused}"
    );
    let (_, still) = app.get("/api/v1/incidents/1").await;
    assert_eq!(still["status"], "triggered");

    let unlinked = olive.post("/profile/slack/T0001/U0OLIVE/unlink", &[]).await;
    assert_eq!(unlinked.status, StatusCode::SEE_OTHER, "{}", unlinked.html);
    assert_eq!(unlinked.location.as_deref(), Some("/profile#slack"));
    let profile = olive.get("/profile").await;
    assert!(!profile.html.contains("U0OLIVE"), "{}", profile.html);
}
