//! A SEV-0 from first report to resolution: a support engineer declares an outage of checkout by hand from a
//! customer's report; the on-call engineer of checkout's rota takes command by the role's default and is paged
//! with it; the SEV-0 checklist appears; a subject-matter expert and a communications lead join; a runbook step
//! runs once a second responder approves it; stakeholders (a person by email, a Slack channel) hear every
//! update at SEV-0's cadence, and the communications lead is reminded when one is late; the incident goes
//! investigating → identified → monitoring → resolved, its milestones recorded and one corrected; and its
//! timeline tells all of it, in order.

use crate::support::{ReceivedMail, SmtpPeer, TestApp, WebhookReceiver, instant, wait_until};
use chrono::{DateTime, Duration, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::sync::Arc;
use tocsin::notify::NotifyConfig;
use tocsin_domain::clock::ManualClock;

const TITLE: &str = "Checkout rejects every card payment";
const CADENCE_MINUTES: i64 = 15;

/// A time on the day of the outage, Monday 2 March 2026 (UTC).
fn at(hh_mm: &str) -> DateTime<Utc> {
    format!("2026-03-02T{hh_mm}:00Z").parse().unwrap()
}

/// Sends a request with the admin token and answers the body of a success.
async fn ok(app: &TestApp, method: Method, path: &str, body: Value) -> Value {
    let mut rb = app.req(method.clone(), path);
    if !body.is_null() {
        rb = rb.json(&body);
    }
    let (s, b) = app.send(rb).await;
    assert!(s.is_success(), "{method} {path}: {s} {b}");
    b
}

/// Someone in the story: a user with an email contact method, and a token acting as them, so that the timeline
/// credits them rather than an admin token.
struct Person {
    id: String,
    email: String,
    token: String,
}

impl Person {
    /// A person holding `role` (responder, observer…), which their token holds too.
    async fn new(app: &TestApp, name: &str, role: &str) -> Self {
        let email = format!("{}@example.test", name.to_lowercase());
        let user = ok(
            app,
            Method::POST,
            "/api/v1/users",
            json!({"name": name, "email": email}),
        )
        .await;
        let id = user["id"].as_str().unwrap().to_owned();
        ok(
            app,
            Method::POST,
            &format!("/api/v1/users/{id}/contact-methods"),
            json!({"name": "work mail", "target": {"type": "email", "address": email}}),
        )
        .await;
        if role != "responder" {
            ok(
                app,
                Method::PUT,
                &format!("/api/v1/users/{id}/role"),
                json!({"role": role}),
            )
            .await;
        }
        let token = ok(
            app,
            Method::POST,
            "/api/v1/tokens",
            json!({"name": format!("{name}'s"), "user": email}),
        )
        .await;
        Self {
            id,
            email,
            token: token["token"].as_str().unwrap().to_owned(),
        }
    }

    async fn send(
        &self,
        app: &TestApp,
        method: Method,
        path: &str,
        body: Value,
    ) -> (StatusCode, Value) {
        let mut rb = app
            .client
            .request(method, format!("{}{path}", app.url))
            .bearer_auth(&self.token);
        if !body.is_null() {
            rb = rb.json(&body);
        }
        app.send(rb).await
    }

    /// What this person does, which must succeed.
    async fn does(&self, app: &TestApp, method: Method, path: &str, body: Value) -> Value {
        let (s, b) = self.send(app, method.clone(), path, body).await;
        assert!(s.is_success(), "{} {method} {path}: {s} {b}", self.email);
        b
    }
}

/// Waits, running engine cycles, for a mail to `to` whose subject starts with `subject`: several people get mail
/// at each step, in whatever order the engine sends it.
async fn mail(smtp: &SmtpPeer, app: &TestApp, to: &str, subject: &str) -> ReceivedMail {
    let matches = |m: &ReceivedMail| m.to.contains(to) && m.subject.starts_with(subject);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        if let Some(m) = smtp.messages().into_iter().find(|m| matches(m)) {
            return m;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no mail to {to} starting {subject:?} within 30 s; got {:#?}\nSMTP log:\n{}",
            smtp.messages()
                .iter()
                .map(|m| (&m.to, &m.subject))
                .collect::<Vec<_>>(),
            smtp.guard.log_tail()
        );
        app.cycle().await;
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

fn mails_to(smtp: &SmtpPeer, to: &str, subject: &str) -> usize {
    smtp.messages()
        .iter()
        .filter(|m| m.to.contains(to) && m.subject.starts_with(subject))
        .count()
}

/// Runs engine cycles until the run ends; a cycle waits a little for the runs it started, a slower one finishes
/// on its own.
async fn run_to_end(app: &TestApp, id: &str) -> Value {
    app.cycle().await;
    let mut ended = Value::Null;
    wait_until(
        "the run to end",
        std::time::Duration::from_secs(30),
        async || {
            let (_, r) = app.get(&format!("/api/v1/runs/{id}")).await;
            let done = !matches!(
                r["status"].as_str(),
                Some("awaiting_approval" | "queued" | "running")
            );
            ended = r;
            done
        },
    )
    .await;
    ended
}

/// The incident's timeline as labels: its kind, sharpened where the kind alone would not show a step missing or
/// out of place (which role, which update, who was reminded, how a run ended, which stage or milestone an edit
/// set), and who did it. Delivery attempts are left out: they land whenever the engine gets to send.
async fn story(app: &TestApp) -> Vec<String> {
    let (s, timeline) = app.get("/api/v1/incidents/1/timeline").await;
    assert_eq!(s, StatusCode::OK, "{timeline}");
    let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    let mut labels = Vec::new();
    for e in timeline["items"].as_array().unwrap() {
        let (kind, d, by) = (text(&e["kind"]), &e["data"], text(&e["actor"]["name"]));
        let what = match kind.as_str() {
            "notification" => continue,
            "role_assigned" => vec![format!("role_assigned {}", text(&d["role"]))],
            "update_posted" => vec![format!(
                "update_posted {} ({})",
                d["number"],
                text(&d["status"])
            )],
            "update_reminded" => vec![format!("update_reminded {}", d["to"])],
            "run_finished" => vec![format!("run_finished {}", text(&d["status"]))],
            "edited" => d["changes"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| match c["field"].as_str().unwrap() {
                    "stage_changed" => format!("stage {}", text(&c["to"])),
                    "milestone_set" => format!("milestone {}", text(&c["milestone"])),
                    other => format!("edited {other}"),
                })
                .collect(),
            _ => vec![kind.clone()],
        };
        labels.extend(what.into_iter().map(|w| format!("{w} by {by}")));
    }
    labels
}

#[tokio::test]
async fn a_sev0_declared_from_a_customer_report_is_run_from_first_page_to_resolution() {
    let Some(smtp) = SmtpPeer::start().await else {
        return;
    };
    let rundeck = WebhookReceiver::start().await;
    // Rundeck answers a job run as "accepted", which the run's outcome repeats.
    rundeck.answer_with(202);
    let slack = WebhookReceiver::start().await;
    let clock = Arc::new(ManualClock::new(at("09:30")));
    let port = smtp.port;
    let app = TestApp::spawn_with(clock.clone(), |c| {
        c.notify = NotifyConfig {
            smtp: Some(crate::support::smtp_relay(port)),
            ..c.notify.clone()
        };
        c.automation.allowed_networks =
            tocsin_domain::net::AllowedNetworks(vec!["127.0.0.0/8".parse().unwrap()]);
        // The test runs every engine cycle itself, at the clock's time.
        c.engine.tick_ms = 3_600_000;
    })
    .await;

    // --- 1. Checkout, its team's rota and policy, who leads its SEV-0s, their checklist, its runbook. ---
    let pat = Person::new(&app, "Pat", "responder").await;
    let olivia = Person::new(&app, "Olivia", "responder").await;
    let devi = Person::new(&app, "Devi", "responder").await;
    let cora = Person::new(&app, "Cora", "responder").await;
    let rosa = Person::new(&app, "Rosa", "responder").await;
    ok(
        &app,
        Method::POST,
        "/api/v1/teams",
        json!({"name": "payments", "members": [&pat.email, &olivia.email, &devi.email]}),
    )
    .await;
    let checkout = ok(
        &app,
        Method::POST,
        "/api/v1/services",
        json!({"name": "checkout", "team": "payments"}),
    )
    .await["id"]
        .clone();
    // Daily turns from Sunday 09:00, Pat first: on Monday morning it is Olivia's turn.
    let rota = ok(
        &app,
        Method::POST,
        "/api/v1/schedules",
        json!({"name": "checkout-rota", "time_zone": "UTC", "team": "payments", "layers": [{"name": "daily",
            "participants": [&pat.id, &olivia.id], "rotation": {"every": "days", "count": 1},
            "start": "2026-03-01T09:00:00"}]}),
    )
    .await["id"]
        .clone();
    let (_, on_call) = app
        .get("/api/v1/schedules/checkout-rota/on-call?at=2026-03-02T10:00:00Z")
        .await;
    assert_eq!(on_call["user"]["id"], olivia.id.as_str(), "{on_call}");
    ok(
        &app,
        Method::POST,
        "/api/v1/escalation-policies",
        json!({"name": "checkout-oncall", "levels": [{"delay_minutes": 5,
            "targets": [{"type": "schedule", "id": rota}]}]}),
    )
    .await;
    ok(
        &app,
        Method::PUT,
        "/api/v1/services/checkout/escalation-policy",
        json!({"policy": "checkout-oncall"}),
    )
    .await;
    ok(
        &app,
        Method::PUT,
        "/api/v1/incident-roles/commander",
        json!({"name": "Incident commander", "instructions": "Lead the response; decide, do not fix.",
            "single": true,
            "defaults": [{"severities": ["SEV-0"], "services": [checkout], "target": {"type": "schedule", "id": rota}}]}),
    )
    .await;
    ok(
        &app,
        Method::PUT,
        "/api/v1/task-templates/sev0",
        json!({"name": "SEV-0 response", "severities": ["SEV-0"], "tasks": [
            {"title": "Open a bridge", "assignee": {"type": "role", "id": "commander"}, "due_minutes": 5},
            {"title": "First customer update", "assignee": {"type": "role", "id": "communications"}, "due_minutes": 15},
            {"title": "Page the payment provider's on-call", "assignee": {"type": "role", "id": "expert"}}]}),
    )
    .await;
    let level = ok(
        &app,
        Method::PATCH,
        "/api/v1/severities/SEV-0",
        json!({"update_every_minutes": CADENCE_MINUTES}),
    )
    .await;
    assert_eq!(level["update_every_minutes"], CADENCE_MINUTES, "{level}");
    let step = json!({"key": "fail-over", "title": "Fail over to the standby payment provider",
        "needs_approval": true,
        "http": {"url": format!("{}/api/41/job/fail-over/run", rundeck.url),
                 "body": "{\"options\": {\"incident\": \"{{incident.number}}\", \"title\": \"{{incident.title}}\"}}"}});
    ok(
        &app,
        Method::PUT,
        "/api/v1/runbooks/checkout",
        json!({"title": "Checkout", "body": "1. Fail over to the standby provider.", "services": [checkout],
            "steps": [step]}),
    )
    .await;

    // --- 2. A customer reports failed payments; Rosa, in support, declares a SEV-0 by hand. ---
    clock.set(at("10:00"));
    let declared = rosa
        .does(
            &app,
            Method::POST,
            "/api/v1/incidents",
            json!({"title": TITLE, "severity": "SEV-0", "services": ["checkout"],
                "description": "Customer ticket 8812: every card is declined at checkout since about 09:45."}),
        )
        .await;
    assert_eq!(
        (
            declared["number"].as_i64(),
            declared["severity"].as_str(),
            declared["status"].as_str(),
            declared["stage"].as_str(),
        ),
        (
            Some(1),
            Some("SEV-0"),
            Some("triggered"),
            Some("investigating")
        ),
        "{declared}"
    );
    assert_eq!(
        declared["unassigned_since"],
        Value::Null,
        "checkout's policy pages it: {declared}"
    );
    assert_eq!(instant(&declared["milestones"]["detected"]), at("10:00"));

    // --- 3. The SEV-0 checklist is the incident's as it opens. ---
    let (_, tasks) = app.get("/api/v1/incidents/1/tasks").await;
    let listed: Vec<(&str, &Value, Option<&str>)> = tasks["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["title"].as_str().unwrap(),
                &t["assignee"],
                t["due_at"].as_str(),
            )
        })
        .collect();
    assert_eq!(
        listed,
        [
            (
                "Open a bridge",
                &json!({"type": "role", "id": "commander"}),
                Some("2026-03-02T10:05:00Z")
            ),
            (
                "First customer update",
                &json!({"type": "role", "id": "communications"}),
                Some("2026-03-02T10:15:00Z")
            ),
            (
                "Page the payment provider's on-call",
                &json!({"type": "role", "id": "expert"}),
                None
            ),
        ],
        "{tasks}"
    );
    assert!(
        tasks["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["template"] == "SEV-0 response"),
        "{tasks}"
    );

    // --- 4. Olivia, on call in checkout's rota, is commander by the role's default, and paged with it. ---
    let command = mail(
        &smtp,
        &app,
        &olivia.email,
        "[SEV-0] You are now Incident commander of #1",
    )
    .await;
    assert_eq!(
        command.subject,
        format!("[SEV-0] You are now Incident commander of #1: {TITLE} (checkout)")
    );
    assert!(
        command
            .text
            .contains("Hello Olivia, you are now Incident commander of incident #1"),
        "{}",
        command.text
    );
    let (_, roles) = app.get("/api/v1/incidents/1/roles").await;
    assert_eq!(roles["items"].as_array().unwrap().len(), 1, "{roles}");
    let commander = &roles["items"][0];
    assert_eq!(
        (
            commander["role"].as_str(),
            commander["user_id"].as_str(),
            commander["assigned_by"]["kind"].as_str(),
            commander["released_at"].as_str(),
        ),
        (
            Some("commander"),
            Some(olivia.id.as_str()),
            Some("system"),
            None
        ),
        "{roles}"
    );
    // Pat, not on call, is neither paged nor given anything.
    assert_eq!(mails_to(&smtp, &pat.email, ""), 0);
    clock.set(at("10:02"));
    olivia
        .does(
            &app,
            Method::POST,
            "/api/v1/incidents/1/acknowledge",
            Value::Null,
        )
        .await;
    olivia
        .does(
            &app,
            Method::POST,
            "/api/v1/incidents/1/tasks/1/done",
            Value::Null,
        )
        .await;

    // --- 5. Devi, who knows the payment provider's integration, is the subject-matter expert; Cora runs comms. ---
    clock.set(at("10:03"));
    for (role, who) in [("expert", &devi), ("communications", &cora)] {
        olivia
            .does(
                &app,
                Method::POST,
                &format!("/api/v1/incidents/1/roles/{role}"),
                json!({"user": who.email}),
            )
            .await;
    }
    mail(
        &smtp,
        &app,
        &devi.email,
        "[SEV-0] You are now Subject-matter expert of #1",
    )
    .await;
    mail(
        &smtp,
        &app,
        &cora.email,
        "[SEV-0] You are now Communications lead of #1",
    )
    .await;
    let (_, responders) = app.get("/api/v1/incidents/1/responders").await;
    let mut holders: Vec<(String, Vec<String>)> = responders["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| !r["roles"].as_array().unwrap().is_empty())
        .map(|r| {
            (
                r["name"].as_str().unwrap_or_default().to_owned(),
                r["roles"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|x| x.as_str().unwrap_or_default().to_owned())
                    .collect(),
            )
        })
        .collect();
    holders.sort();
    assert_eq!(
        holders,
        [
            ("Cora".to_owned(), vec!["communications".to_owned()]),
            ("Devi".to_owned(), vec!["expert".to_owned()]),
            ("Olivia".to_owned(), vec!["commander".to_owned()]),
        ],
        "{responders}"
    );

    // --- 6. Olivia asks for the fail-over; it waits until Devi, a second responder, approves it. ---
    clock.set(at("10:04"));
    let asked = olivia
        .does(
            &app,
            Method::POST,
            "/api/v1/incidents/1/runs",
            json!({"runbook": "checkout", "step": "fail-over"}),
        )
        .await;
    assert_eq!(asked["status"], "awaiting_approval", "{asked}");
    let run = asked["id"].as_str().unwrap().to_owned();
    assert_eq!(app.cycle().await["runs_started"], 0);
    assert!(rundeck.requests().is_empty(), "sent before approval");
    let (s, b) = olivia
        .send(
            &app,
            Method::POST,
            &format!("/api/v1/runs/{run}/approve"),
            Value::Null,
        )
        .await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("invalid_transition")),
        "nobody approves their own run: {b}"
    );
    let approved = devi
        .does(
            &app,
            Method::POST,
            &format!("/api/v1/runs/{run}/approve"),
            Value::Null,
        )
        .await;
    assert_eq!(approved["status"], "queued", "{approved}");
    let ran = run_to_end(&app, &run).await;
    assert_eq!(
        (ran["status"].as_str(), ran["outcome"].as_str()),
        (Some("succeeded"), Some("HTTP 202 Accepted")),
        "{ran}"
    );
    let [job] = rundeck
        .requests()
        .try_into()
        .expect("one request to Rundeck");
    assert_eq!(job.path, "/api/41/job/fail-over/run");
    assert_eq!(job.header("idempotency-key"), run);
    assert_eq!(
        job.json(),
        json!({"options": {"incident": "1", "title": TITLE}})
    );

    // --- 7. Stakeholders hear of updates at SEV-0's cadence. ---
    // Sam, in finance, only reads Tocsin: he subscribes himself to checkout.
    let sam = Person::new(&app, "Sam", "observer").await;
    sam.does(
        &app,
        Method::POST,
        "/api/v1/subscriptions",
        json!({"service": "checkout"}),
    )
    .await;
    ok(
        &app,
        Method::POST,
        "/api/v1/subscriptions",
        json!({"service": "checkout", "channel": {"name": "#checkout-status",
            "target": {"type": "slack", "url": format!("{}/services/T0/B0/status", slack.url)}}}),
    )
    .await;
    clock.set(at("10:08"));
    let first = cora
        .does(
            &app,
            Method::POST,
            "/api/v1/incidents/1/updates",
            json!({"message": "Card payments fail at checkout; we are failing over to the standby provider.",
                "report": {"actions": "Failing over to the standby provider", "needs": "Nothing yet"}}),
        )
        .await;
    assert_eq!(
        (first["number"].as_u64(), first["status"].as_str()),
        (Some(1), Some("investigating")),
        "{first}"
    );
    let to_sam = mail(
        &smtp,
        &app,
        &sam.email,
        &format!("[SEV-0] {TITLE}: investigating"),
    )
    .await;
    assert!(
        to_sam.text.contains("failing over to the standby provider"),
        "{}",
        to_sam.text
    );
    let posted = slack.wait_for_path(&app, "/services/T0/B0/status").await;
    let said = posted.json().to_string();
    assert!(
        said.contains("failing over to the standby provider"),
        "{said}"
    );
    let (_, updates) = app.get("/api/v1/incidents/1/updates").await;
    assert_eq!(
        (
            updates["due"]["because"].as_str(),
            instant(&updates["due"]["due_at"]),
        ),
        (
            Some("cadence"),
            at("10:08") + Duration::minutes(CADENCE_MINUTES)
        ),
        "{updates}"
    );

    // The cause is found: a certificate rotated on the provider's side.
    clock.set(at("10:12"));
    olivia
        .does(
            &app,
            Method::PATCH,
            "/api/v1/incidents/1",
            json!({"stage": "identified"}),
        )
        .await;

    // The cadence passes without an update: Cora, the communications lead, is reminded; Olivia not yet.
    clock.set(at("10:08") + Duration::minutes(CADENCE_MINUTES + 1));
    let nudge = mail(&smtp, &app, &cora.email, "Post an update on #1").await;
    assert_eq!(nudge.subject, format!("Post an update on #1 {TITLE}"));
    assert_eq!(mails_to(&smtp, &olivia.email, "Post an update"), 0);
    let (_, updates) = app.get("/api/v1/incidents/1/updates").await;
    assert_eq!(updates["due"]["reminders"], 1, "{updates}");

    clock.set(at("10:25"));
    let second = cora
        .does(
            &app,
            Method::POST,
            "/api/v1/incidents/1/updates",
            json!({"message": "Cause found: the provider rotated a certificate. Payments recover on the standby provider."}),
        )
        .await;
    assert_eq!(
        (second["number"].as_u64(), second["status"].as_str()),
        (Some(2), Some("identified")),
        "{second}"
    );
    mail(
        &smtp,
        &app,
        &sam.email,
        &format!("[SEV-0] {TITLE}: identified"),
    )
    .await;
    slack
        .wait_until(&app, "the second update in #checkout-status", |got| {
            got.len() >= 2
        })
        .await;
    let (_, updates) = app.get("/api/v1/incidents/1/updates").await;
    assert_eq!(
        (
            instant(&updates["due"]["due_at"]),
            &updates["due"]["reminders"]
        ),
        (at("10:25") + Duration::minutes(CADENCE_MINUTES), &json!(0)),
        "{updates}"
    );

    // --- 8. Monitoring (which records mitigation), resolved, and the times corrected for the review. ---
    clock.set(at("10:30"));
    olivia
        .does(
            &app,
            Method::PATCH,
            "/api/v1/incidents/1",
            json!({"stage": "monitoring"}),
        )
        .await;
    clock.set(at("10:45"));
    let resolved = olivia
        .does(
            &app,
            Method::POST,
            "/api/v1/incidents/1/resolve",
            Value::Null,
        )
        .await;
    assert_eq!(resolved["status"], "resolved", "{resolved}");
    // The logs show the harm began at 09:41; the customer's ticket came in at 09:52, before anyone declared.
    // (Before 10:50, when the update the resolution asks for would be reminded of.)
    clock.set(at("10:48"));
    olivia
        .does(
            &app,
            Method::PATCH,
            "/api/v1/incidents/1",
            json!({"milestones": {"impact_started": "2026-03-02T09:41:00Z"}}),
        )
        .await;
    let corrected = olivia
        .does(
            &app,
            Method::PATCH,
            "/api/v1/incidents/1",
            json!({"milestones": {"detected": "2026-03-02T09:52:00Z"}}),
        )
        .await;
    let m = &corrected["milestones"];
    assert_eq!(
        [
            instant(&m["impact_started"]),
            instant(&m["detected"]),
            instant(&m["acknowledged"]),
            instant(&m["mitigated"]),
            instant(&m["resolved"]),
        ],
        [
            at("09:41"),
            at("09:52"),
            at("10:02"),
            at("10:30"),
            at("10:45")
        ],
        "{corrected}"
    );
    // Detection cannot come after acknowledgement.
    let (s, b) = olivia
        .send(
            &app,
            Method::PATCH,
            "/api/v1/incidents/1",
            json!({"milestones": {"detected": "2026-03-02T10:10:00Z"}}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");

    // The resolution asks for a last update, which tells stakeholders how it ended.
    let (_, updates) = app.get("/api/v1/incidents/1/updates").await;
    assert_eq!(
        (
            updates["due"]["because"].as_str(),
            instant(&updates["due"]["due_at"])
        ),
        (Some("resolved"), at("10:50")),
        "{updates}"
    );
    let last = cora
        .does(
            &app,
            Method::POST,
            "/api/v1/incidents/1/updates",
            json!({"message": "Resolved: payments work again since 10:30. A review follows."}),
        )
        .await;
    assert_eq!(last["status"], "resolved", "{last}");
    mail(
        &smtp,
        &app,
        &sam.email,
        &format!("[SEV-0] {TITLE}: resolved"),
    )
    .await;
    slack
        .wait_until(&app, "the last update in #checkout-status", |got| {
            got.len() >= 3
        })
        .await;
    // Each update reached each stakeholder once.
    assert_eq!(mails_to(&smtp, &sam.email, ""), 3);
    assert_eq!(slack.requests().len(), 3);

    // --- 9. The timeline tells the whole story, in order. ---
    assert_eq!(
        story(&app).await,
        [
            "opened by Rosa",
            "tasks_added by Tocsin",
            "escalated by Tocsin",
            "role_assigned commander by Tocsin",
            "acknowledged by Olivia",
            "task_done by Olivia",
            "role_assigned expert by Olivia",
            "role_assigned communications by Olivia",
            "run_requested by Olivia",
            "run_approved by Devi",
            "run_finished succeeded by Tocsin",
            "update_posted 1 (investigating) by Cora",
            "stage identified by Olivia",
            "update_reminded [\"Cora\"] by Tocsin",
            "update_posted 2 (identified) by Cora",
            "stage monitoring by Olivia",
            "milestone mitigated by Olivia",
            "resolved by Olivia",
            "milestone impact_started by Olivia",
            "milestone detected by Olivia",
            "update_posted 3 (resolved) by Cora",
        ]
    );
}
