//! Roles: every route of the JSON API against every role, what people and team members may change of their
//! own, and the audit log those changes leave.

use crate::support::TestApp;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

pub const ROLES: [&str; 4] = ["observer", "responder", "admin", "owner"];

/// What a fresh server holds for the matrix to act on, by the names its routes take.
pub struct Fixture {
    pub dana: String,
    pub method: String,
    pub rule: String,
    pub integration: String,
    pub silence: String,
    pub maintenance: String,
    pub noise_rule: String,
    pub feed: String,
    pub overriding: String,
    pub token: String,
    pub delivery: String,
    pub alert: String,
    pub session: String,
}

/// A run ID no run has: the routes that name one answer 404 to whoever may use them, 403 to the others.
const NO_RUN: &str = "run_01jdq9a3k2m7x8v4n5p6r7s8t9";
/// A subscription ID no subscription has: anyone may end their own, so everyone is told there is none.
const NO_SUBSCRIPTION: &str = "sub_01jdq9a3k2m7x8v4n5p6r7s8t9";
/// A component ID no page has.
const NO_COMPONENT: &str = "cmp_01jdq9a3k2m7x8v4n5p6r7s8t9";
/// A public incident ID no page has.
const NO_PUBLIC_INCIDENT: &str = "pinc_01jdq9a3k2m7x8v4n5p6r7s8t9";

async fn created(app: &TestApp, path: &str, body: Value) -> Value {
    let (s, b) = app.post(path, body).await;
    assert!(s.is_success(), "{path}: {s} {b}");
    b
}

fn id(v: &Value) -> String {
    v["id"].as_str().expect("an ID").to_owned()
}

/// Everything the routes name, created by the owner's token: a person in a team that owns a service, its policy and
/// schedule, the person's contact method and rule, an incident, an alert, noise, a feed, an override and a token.
pub async fn fixture(app: &TestApp) -> Fixture {
    let dana = id(&created(
        app,
        "/api/v1/users",
        json!({"name": "Dana", "email": "dana@example.com"}),
    )
    .await);
    created(
        app,
        "/api/v1/teams",
        json!({"name": "payments", "members": ["dana@example.com"]}),
    )
    .await;
    created(
        app,
        "/api/v1/services",
        json!({"name": "checkout", "team": "payments"}),
    )
    .await;
    let integration = created(app, "/api/v1/services/checkout/integrations", json!({})).await;
    created(
        app,
        "/api/v1/schedules",
        json!({"name": "primary", "time_zone": "UTC", "team": "payments", "layers": [{"name": "l",
            "participants": [dana], "rotation": {"every": "days", "count": 1}, "start": "2026-03-02T09:00:00"}]}),
    )
    .await;
    created(
        app,
        "/api/v1/escalation-policies",
        json!({"name": "pol", "team": "payments", "levels": [{"delay_minutes": 5, "targets": [{"type": "user", "id": dana}]}]}),
    )
    .await;
    let (s, b) = app
        .send(
            app.req(Method::PUT, "/api/v1/services/checkout/escalation-policy")
                .json(&json!({"policy": "pol"})),
        )
        .await;
    assert!(s.is_success(), "{b}");
    let method = id(&created(
        app,
        &format!("/api/v1/users/{dana}/contact-methods"),
        json!({"name": "mail", "target": {"type": "email", "address": "dana@example.com"}}),
    )
    .await);
    let rule = id(&created(
        app,
        &format!("/api/v1/users/{dana}/notification-rules"),
        json!({"contact_method_id": method, "urgency": "high"}),
    )
    .await);
    let key = integration["key"].as_str().unwrap();
    let (s, b) = app
        .send(
            app.client
                .post(format!("{}/v2/enqueue", app.url))
                .json(&json!({
            "routing_key": key, "event_action": "trigger", "dedup_key": "d1",
            "payload": {"summary": "Checkout down", "source": "web-1", "severity": "critical"}})),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{b}");
    let (_, alerts) = app.get("/api/v1/alerts").await;
    let alert = id(&alerts["items"][0]);
    let silence = id(&created(
        app,
        "/api/v1/silences",
        json!({"matchers": ["a=b"], "starts_at": "2026-01-01T00:00:00Z", "ends_at": "2036-01-01T00:00:00Z", "comment": "c"}),
    )
    .await);
    let maintenance = id(&created(
        app,
        "/api/v1/maintenance",
        json!({"service": "checkout", "schedule": {"type": "once", "starts_at": "2035-01-01T00:00:00Z", "ends_at": "2035-01-01T01:00:00Z"}}),
    )
    .await);
    let noise_rule = id(&created(
        app,
        "/api/v1/rules",
        json!({"name": "quiet", "matchers": ["env=dev"], "action": {"type": "suppress"}}),
    )
    .await);
    let feed = id(&created(app, &format!("/api/v1/users/{dana}/feeds"), json!(null)).await);
    let overriding = id(&created(
        app,
        "/api/v1/schedules/primary/overrides",
        json!({"user": dana, "start": "2035-03-03T09:00:00Z", "end": "2035-03-03T10:00:00Z"}),
    )
    .await);
    let token = id(&created(
        app,
        "/api/v1/tokens",
        json!({"name": "spare", "role": "observer"}),
    )
    .await);
    let delivery = id(&created(
        app,
        &format!("/api/v1/contact-methods/{method}/test"),
        json!(null),
    )
    .await);
    // Dana accepts an invitation in a browser, which signs her in.
    let invitation = created(app, &format!("/api/v1/users/{dana}/invitation"), json!({})).await;
    let accepted = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .post(invitation["link"].as_str().unwrap())
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("password=dana%27s+passphrase")
        .send()
        .await
        .unwrap();
    assert_eq!(accepted.status(), StatusCode::SEE_OTHER);
    let (_, sessions) = app.get(&format!("/api/v1/users/{dana}/sessions")).await;
    let session = id(&sessions["items"][0]);
    let (status, page) = app
        .send(
            app.req(Method::PUT, "/api/v1/status-pages/public")
                .json(&json!({"name": "Example status", "slug": "public"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{page}");
    Fixture {
        session,
        dana,
        method,
        rule,
        integration: id(&integration),
        silence,
        maintenance,
        noise_rule,
        feed,
        overriding,
        token,
        delivery,
        alert,
    }
}

/// Every operation of the JSON API with a request that is valid for it, and the least role it needs from a token
/// that acts as nobody (so a person's own things and a team's things need an admin). Destructive requests come
/// last, each on its own object.
fn matrix(f: &Fixture) -> Vec<(Method, String, Value, &'static str)> {
    let d = &f.dana;
    let level = json!({"name": "pol", "team": "payments", "levels": [{"delay_minutes": 5, "targets": [{"type": "user", "id": d}]}]});
    let schedule = json!({"name": "primary", "time_zone": "UTC", "team": "payments", "layers": [{"name": "l",
        "participants": [d], "rotation": {"every": "days", "count": 1}, "start": "2026-03-02T09:00:00"}]});
    let get = |p: &str| (Method::GET, p.to_owned(), Value::Null, "observer");
    let mut m = vec![
        get("/api/v1/alerts"),
        get(&format!("/api/v1/alerts/{}", f.alert)),
        get(&format!("/api/v1/alerts/{}/events", f.alert)),
        (Method::GET, "/api/v1/audit".into(), Value::Null, "admin"),
        get("/api/v1/catalog"),
        get(&format!("/api/v1/contact-methods/{}", f.method)),
        get("/api/v1/doctor"),
        get("/api/v1/escalation-policies"),
        get("/api/v1/escalation-policies/pol"),
        get("/api/v1/escalation-policies/pol/on-call"),
        get("/api/v1/feeds"),
        get("/api/v1/incidents"),
        get("/api/v1/incidents/1"),
        get("/api/v1/incidents/1/alerts"),
        get("/api/v1/incidents/1/changes"),
        get("/api/v1/incidents/1/escalation"),
        get("/api/v1/incidents/1/notifications"),
        get("/api/v1/incidents/1/timeline"),
        get(&format!("/api/v1/integrations/{}", f.integration)),
        (
            Method::GET,
            format!("/api/v1/integrations/{}/payloads", f.integration),
            Value::Null,
            "admin",
        ),
        get("/api/v1/maintenance"),
        get(&format!("/api/v1/maintenance/{}", f.maintenance)),
        get(&format!("/api/v1/notifications/{}", f.delivery)),
        get("/api/v1/rules"),
        get(&format!("/api/v1/rules/{}", f.noise_rule)),
        get("/api/v1/schedules"),
        get("/api/v1/schedules/primary"),
        get("/api/v1/schedules/primary/on-call"),
        get("/api/v1/schedules/primary/shifts"),
        get("/api/v1/services"),
        get("/api/v1/services/checkout"),
        get("/api/v1/services/checkout/changes"),
        get("/api/v1/services/checkout/escalation-policy"),
        get("/api/v1/services/checkout/integrations"),
        get("/api/v1/services/checkout/on-call"),
        get("/api/v1/settings/paging"),
        get("/api/v1/severities"),
        get("/api/v1/incident-roles"),
        get("/api/v1/incidents/1/roles"),
        get("/api/v1/incidents/1/responders"),
        get("/api/v1/task-templates"),
        get("/api/v1/incidents/1/tasks"),
        get("/api/v1/runbooks"),
        get("/api/v1/incidents/1/runbooks"),
        get("/api/v1/runbooks/checkout-latency"),
        get("/api/v1/runbooks/checkout-latency/versions"),
        get("/api/v1/incidents/1/runs"),
        get(&format!("/api/v1/runs/{NO_RUN}")),
        get("/api/v1/incidents/1/updates"),
        get("/api/v1/status-pages"),
        get("/api/v1/status-pages/public"),
        get("/api/v1/status-pages/public/incidents"),
        get("/api/v1/subscriptions"),
        (
            Method::DELETE,
            format!("/api/v1/subscriptions/{NO_SUBSCRIPTION}"),
            Value::Null,
            "observer",
        ),
        (
            Method::GET,
            "/api/v1/automation/secrets".into(),
            Value::Null,
            "admin",
        ),
        get("/api/v1/silences"),
        get(&format!("/api/v1/silences/{}", f.silence)),
        get("/api/v1/teams"),
        get("/api/v1/teams/payments"),
        (Method::GET, "/api/v1/tokens".into(), Value::Null, "admin"),
        get("/api/v1/users"),
        get(&format!("/api/v1/users/{d}")),
        get(&format!("/api/v1/users/{d}/contact-methods")),
        get(&format!("/api/v1/users/{d}/notification-rules")),
        get(&format!("/api/v1/users/{d}/notifications")),
        get(&format!("/api/v1/users/{d}/status-updates")),
        // A token of its own has no Slack account; asking is no lack of permission.
        (
            Method::POST,
            "/api/v1/slack/link-codes".into(),
            Value::Null,
            "observer",
        ),
        (
            Method::GET,
            format!("/api/v1/users/{d}/slack-accounts"),
            Value::Null,
            "admin",
        ),
        (
            Method::DELETE,
            format!("/api/v1/users/{d}/slack-accounts/T0001/U0001"),
            Value::Null,
            "admin",
        ),
        (
            Method::GET,
            format!("/api/v1/users/{d}/sessions"),
            Value::Null,
            "admin",
        ),
    ];
    let respond = |method: Method, p: &str, body: Value| (method, p.to_owned(), body, "responder");
    m.extend([
        respond(
            Method::POST,
            "/api/v1/incidents",
            json!({"title": "By hand", "severity": "SEV-3"}),
        ),
        respond(
            Method::PATCH,
            "/api/v1/incidents/1",
            json!({"description": "more"}),
        ),
        respond(Method::POST, "/api/v1/incidents/1/notes", json!({"body": "a note"})),
        respond(Method::POST, "/api/v1/incidents/1/escalate", json!({})),
        respond(
            Method::POST,
            "/api/v1/incidents/1/responders",
            json!({"users": [d]}),
        ),
        respond(
            Method::POST,
            "/api/v1/incidents/1/reassign",
            json!({"users": [d]}),
        ),
        respond(
            Method::POST,
            "/api/v1/silences",
            json!({"matchers": ["x=y"], "starts_at": "2026-01-01T00:00:00Z", "ends_at": "2036-01-01T00:00:00Z", "comment": "c"}),
        ),
        respond(
            Method::POST,
            &format!("/api/v1/silences/{}/extend", f.silence),
            json!({"ends_at": "2037-01-01T00:00:00Z"}),
        ),
        respond(Method::POST, "/api/v1/schedules/primary/feeds", Value::Null),
        respond(Method::POST, "/api/v1/incidents/1/acknowledge", Value::Null),
        respond(
            Method::POST,
            "/api/v1/incidents/1/roles/expert",
            json!({"user": d}),
        ),
        respond(
            Method::POST,
            "/api/v1/incidents/1/roles/expert/release",
            json!({"user": d}),
        ),
        respond(
            Method::POST,
            "/api/v1/incidents/1/responders/join",
            json!({"user": d}),
        ),
        respond(
            Method::POST,
            "/api/v1/incidents/1/responders/leave",
            json!({"user": d}),
        ),
        respond(
            Method::POST,
            "/api/v1/incidents/1/tasks",
            json!({"title": "Open a bridge", "due_in_minutes": 5}),
        ),
        respond(Method::POST, "/api/v1/incidents/1/tasks/1/done", Value::Null),
        respond(
            Method::POST,
            "/api/v1/incidents/1/runs",
            json!({"runbook": "checkout-latency", "step": "restart"}),
        ),
        respond(Method::POST, &format!("/api/v1/runs/{NO_RUN}/approve"), Value::Null),
        respond(Method::POST, &format!("/api/v1/runs/{NO_RUN}/decline"), Value::Null),
        respond(Method::POST, &format!("/api/v1/runs/{NO_RUN}/retry"), Value::Null),
        respond(
            Method::POST,
            "/api/v1/incidents/1/updates",
            json!({"message": "Checkout is failing over; next update in 30 minutes."}),
        ),
        (
            Method::POST,
            "/api/v1/subscriptions".into(),
            json!({"service": "checkout", "user": d}),
            "admin",
        ),
        (
            Method::POST,
            "/api/v1/subscriptions".into(),
            json!({"incident": "1", "channel": {"name": "#status", "target": {"type": "slack", "url": "https://hooks.slack.com/services/T0/B0/x"}}}),
            "admin",
        ),
        respond(
            Method::POST,
            "/api/v1/status-pages/public/incidents",
            json!({"name": "Some payments fail", "body": "We are looking into it."}),
        ),
        respond(
            Method::POST,
            &format!("/api/v1/status-pages/public/incidents/{NO_PUBLIC_INCIDENT}/updates"),
            json!({"status": "resolved", "body": "Fixed."}),
        ),
        respond(
            Method::POST,
            "/api/v1/incidents/1/merge",
            json!({"into": "999"}),
        ),
        respond(
            Method::POST,
            "/api/v1/incidents/1/tasks/1/undone",
            Value::Null,
        ),
    ]);
    let admin = |method: Method, p: &str, body: Value| (method, p.to_owned(), body, "admin");
    m.extend([
        admin(
            Method::POST,
            "/api/v1/catalog/apply",
            json!({"teams": [{"name": "ops"}]}),
        ),
        admin(
            Method::PUT,
            &format!("/api/v1/contact-methods/{}", f.method),
            json!({"name": "mail", "target": {"type": "email", "address": "dana@example.com"}}),
        ),
        admin(
            Method::POST,
            &format!("/api/v1/contact-methods/{}/test", f.method),
            Value::Null,
        ),
        admin(Method::POST, "/api/v1/engine/cycle", Value::Null),
        admin(
            Method::POST,
            "/api/v1/escalation-policies",
            json!({"name": "other", "levels": [{"delay_minutes": 5, "targets": [{"type": "user", "id": d}]}]}),
        ),
        admin(Method::PUT, "/api/v1/escalation-policies/pol", level),
        admin(
            Method::PATCH,
            &format!("/api/v1/integrations/{}", f.integration),
            json!({"config": {"rate_limit": {"per_second": 5}}}),
        ),
        admin(
            Method::POST,
            "/api/v1/maintenance",
            json!({"service": "checkout", "schedule": {"type": "once", "starts_at": "2035-01-02T00:00:00Z", "ends_at": "2035-01-02T01:00:00Z"}}),
        ),
        admin(
            Method::POST,
            "/api/v1/rules",
            json!({"name": "quieter", "matchers": ["env=qa"], "action": {"type": "suppress"}}),
        ),
        admin(
            Method::PUT,
            &format!("/api/v1/rules/{}", f.noise_rule),
            json!({"name": "quiet", "matchers": ["env=dev"], "action": {"type": "suppress"}}),
        ),
        admin(
            Method::POST,
            "/api/v1/schedules",
            json!({"name": "secondary", "time_zone": "UTC", "layers": [{"name": "l",
                "participants": [d], "rotation": {"every": "days", "count": 1}, "start": "2026-03-02T09:00:00"}]}),
        ),
        admin(Method::PUT, "/api/v1/schedules/primary", schedule),
        admin(
            Method::POST,
            "/api/v1/schedules/primary/overrides",
            json!({"user": d, "start": "2035-04-03T09:00:00Z", "end": "2035-04-03T10:00:00Z"}),
        ),
        admin(Method::POST, "/api/v1/services", json!({"name": "ledger"})),
        admin(
            Method::PUT,
            "/api/v1/services/checkout",
            json!({"name": "checkout", "team": "payments"}),
        ),
        admin(
            Method::PUT,
            "/api/v1/services/checkout/escalation-policy",
            json!({"policy": "pol"}),
        ),
        admin(
            Method::POST,
            "/api/v1/services/checkout/integrations",
            json!({}),
        ),
        admin(
            Method::PUT,
            "/api/v1/settings/paging",
            json!({"fallback_policy": null}),
        ),
        admin(
            Method::PUT,
            "/api/v1/incident-roles/liaison",
            json!({"name": "Customer liaison", "instructions": "Talk to customers."}),
        ),
        admin(Method::DELETE, "/api/v1/incident-roles/liaison", Value::Null),
        admin(
            Method::PUT,
            "/api/v1/task-templates/sev0",
            json!({"name": "SEV-0", "severities": ["SEV-0"], "tasks": [{"title": "Open a bridge"}]}),
        ),
        admin(Method::DELETE, "/api/v1/task-templates/sev0", Value::Null),
        admin(
            Method::PUT,
            "/api/v1/runbooks/checkout-latency",
            json!({"title": "Checkout latency", "body": "1. Look at the graph"}),
        ),
        admin(Method::DELETE, "/api/v1/runbooks/checkout-latency", Value::Null),
        admin(
            Method::PUT,
            "/api/v1/automation/secrets/spare",
            json!({"value": "s3cret"}),
        ),
        admin(Method::DELETE, "/api/v1/automation/secrets/spare", Value::Null),
        admin(
            Method::PATCH,
            "/api/v1/severities/SEV-3",
            json!({"name": "minor", "definition": "Little harm."}),
        ),
        admin(Method::POST, "/api/v1/teams", json!({"name": "ops"})),
        admin(
            Method::PUT,
            "/api/v1/teams/payments",
            json!({"name": "payments", "members": ["dana@example.com"]}),
        ),
        admin(
            Method::POST,
            "/api/v1/tokens",
            json!({"name": "t", "role": "observer"}),
        ),
        admin(
            Method::POST,
            "/api/v1/users",
            json!({"name": "Lee", "email": "lee@example.com"}),
        ),
        admin(
            Method::PUT,
            &format!("/api/v1/users/{d}"),
            json!({"name": "Dana", "email": "dana@example.com"}),
        ),
        admin(
            Method::POST,
            &format!("/api/v1/users/{d}/contact-methods"),
            json!({"name": "mail2", "target": {"type": "email", "address": "d2@example.com"}}),
        ),
        admin(Method::POST, &format!("/api/v1/users/{d}/feeds"), Value::Null),
        admin(
            Method::POST,
            &format!("/api/v1/users/{d}/notification-rules"),
            json!({"contact_method_id": f.method, "urgency": "low"}),
        ),
        admin(
            Method::PUT,
            &format!("/api/v1/users/{d}/status-updates"),
            json!({"acknowledged": true, "resolved": true}),
        ),
        (
            Method::PUT,
            format!("/api/v1/users/{d}/role"),
            json!({"role": "responder"}),
            "owner",
        ),
        admin(
            Method::POST,
            &format!("/api/v1/users/{d}/invitation"),
            Value::Null,
        ),
        admin(
            Method::DELETE,
            &format!("/api/v1/sessions/{}", f.session),
            Value::Null,
        ),
        // Destructive, each on its own object, after everything that uses them.
        respond(Method::POST, "/api/v1/incidents/1/resolve", Value::Null),
        respond(
            Method::DELETE,
            &format!("/api/v1/silences/{}", f.silence),
            Value::Null,
        ),
        admin(
            Method::DELETE,
            &format!("/api/v1/schedules/primary/overrides/{}", f.overriding),
            Value::Null,
        ),
        admin(
            Method::PUT,
            "/api/v1/status-pages/public",
            json!({"name": "Example status", "slug": "public"}),
        ),
        admin(
            Method::POST,
            "/api/v1/status-pages/public/components",
            json!({"name": "Checkout"}),
        ),
        admin(
            Method::PUT,
            &format!("/api/v1/status-pages/public/components/{NO_COMPONENT}"),
            json!({"name": "Checkout"}),
        ),
        admin(
            Method::DELETE,
            &format!("/api/v1/status-pages/public/components/{NO_COMPONENT}"),
            Value::Null,
        ),
        admin(Method::DELETE, "/api/v1/status-pages/public", Value::Null),
        admin(
            Method::DELETE,
            &format!("/api/v1/feeds/{}", f.feed),
            Value::Null,
        ),
        admin(
            Method::DELETE,
            &format!("/api/v1/notification-rules/{}", f.rule),
            Value::Null,
        ),
        admin(
            Method::DELETE,
            &format!("/api/v1/contact-methods/{}", f.method),
            Value::Null,
        ),
        admin(
            Method::DELETE,
            &format!("/api/v1/maintenance/{}", f.maintenance),
            Value::Null,
        ),
        admin(
            Method::DELETE,
            &format!("/api/v1/rules/{}", f.noise_rule),
            Value::Null,
        ),
        admin(
            Method::DELETE,
            &format!("/api/v1/tokens/{}", f.token),
            Value::Null,
        ),
        admin(
            Method::DELETE,
            &format!("/api/v1/integrations/{}", f.integration),
            Value::Null,
        ),
        admin(Method::DELETE, "/api/v1/services/checkout", Value::Null),
        admin(
            Method::DELETE,
            "/api/v1/escalation-policies/pol",
            Value::Null,
        ),
        admin(Method::DELETE, "/api/v1/schedules/primary", Value::Null),
        admin(Method::DELETE, "/api/v1/teams/payments", Value::Null),
        admin(Method::DELETE, &format!("/api/v1/users/{d}"), Value::Null),
    ]);
    m
}

pub fn rank(role: &str) -> usize {
    ROLES.iter().position(|r| *r == role).expect("a role")
}

/// The API's routes in the OpenAPI document, with the ID-shaped path segments left as templates.
async fn documented_routes(app: &TestApp) -> Vec<(String, String)> {
    let (_, doc) = app.get("/api/v1/openapi.json").await;
    let mut routes = Vec::new();
    for (path, ops) in doc["paths"].as_object().unwrap() {
        if !path.starts_with("/api/v1/") || path == "/api/v1/openapi.json" {
            continue;
        }
        for method in ops.as_object().unwrap().keys() {
            routes.push((method.to_uppercase(), path.clone()));
        }
    }
    routes
}

/// Whether `path` is the concrete form of the documented `template`.
pub fn fits(template: &str, path: &str) -> bool {
    let (t, p): (Vec<_>, Vec<_>) = (template.split('/').collect(), path.split('/').collect());
    t.len() == p.len()
        && t.iter()
            .zip(&p)
            .all(|(t, p)| t == p || (t.starts_with('{') && t.ends_with('}')))
}

#[tokio::test]
async fn every_route_answers_each_role_as_the_role_allows() {
    let mut checked = Vec::new();
    for role in ROLES {
        let app = TestApp::spawn().await;
        let fixture = fixture(&app).await;
        let (s, b) = app
            .post(
                "/api/v1/tokens",
                json!({"name": format!("as {role}"), "role": role}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
        let token = b["token"].as_str().unwrap().to_owned();
        let matrix = matrix(&fixture);
        if role == "observer" {
            for (method, template) in documented_routes(&app).await {
                assert!(
                    matrix
                        .iter()
                        .any(|(m, p, ..)| m.as_str() == method && fits(&template, p)),
                    "{method} {template} is missing from the role matrix"
                );
            }
        }
        for (method, path, body, needs) in matrix {
            let mut rb = app
                .client
                .request(method.clone(), format!("{}{path}", app.url))
                .bearer_auth(&token);
            if !body.is_null() {
                rb = rb.json(&body);
            }
            let (s, b) = app.send(rb).await;
            if rank(role) >= rank(needs) {
                assert!(
                    s != StatusCode::FORBIDDEN && s != StatusCode::UNAUTHORIZED && s.as_u16() < 500,
                    "{role} may {method} {path}, got {s} {b}"
                );
            } else {
                assert_eq!(
                    (s, b["error"]["code"].as_str()),
                    (StatusCode::FORBIDDEN, Some("forbidden")),
                    "{role} may not {method} {path}: {b}"
                );
                assert!(
                    b["error"]["message"]
                        .as_str()
                        .unwrap()
                        .contains(&format!("you hold the {role} role")),
                    "{b}"
                );
            }
            checked.push((role, method, path));
        }
    }
    assert!(checked.len() > 4 * 90, "{} checks", checked.len());
}

/// A token acting as a person holds the person's role: a responder changes their own contact methods, rules and
/// feeds, takes overrides themselves, and changes their team's services, schedules and policies, and nothing
/// else of anyone's.
#[tokio::test]
async fn people_change_their_own_things_and_their_teams() {
    let app = TestApp::spawn().await;
    let f = fixture(&app).await;
    let lee = id(&created(
        &app,
        "/api/v1/users",
        json!({"name": "Lee", "email": "lee@example.com"}),
    )
    .await);
    created(&app, "/api/v1/services", json!({"name": "search"})).await;
    // A schedule no team owns: there, Dana may only take shifts herself.
    created(
        &app,
        "/api/v1/schedules",
        json!({"name": "search-rota", "time_zone": "UTC", "layers": [{"name": "l",
            "participants": [lee], "rotation": {"every": "days", "count": 1}, "start": "2026-03-02T09:00:00"}]}),
    )
    .await;
    let token_for = |user: &str| json!({"name": format!("{user}'s"), "user": user});
    let dana = created(&app, "/api/v1/tokens", token_for(&f.dana)).await;
    assert_eq!(
        dana["role"], "responder",
        "made by someone else: fixed at her role"
    );
    let dana = dana["token"].as_str().unwrap().to_owned();
    let as_dana = |method: Method, path: &str, body: Value| {
        let rb = app
            .client
            .request(method, format!("{}{path}", app.url))
            .bearer_auth(&dana);
        if body.is_null() { rb } else { rb.json(&body) }
    };
    let d = &f.dana;
    let allowed = [
        (
            Method::PUT,
            format!("/api/v1/contact-methods/{}", f.method),
            json!({"name": "work mail", "target": {"type": "email", "address": "dana@example.com"}}),
        ),
        (
            Method::POST,
            format!("/api/v1/users/{d}/notification-rules"),
            json!({"contact_method_id": f.method, "urgency": "low"}),
        ),
        (
            Method::POST,
            "/api/v1/schedules/search-rota/overrides".into(),
            json!({"user": "dana@example.com", "start": "2035-05-01T09:00:00Z", "end": "2035-05-01T10:00:00Z"}),
        ),
        (
            Method::POST,
            "/api/v1/schedules/primary/overrides".into(),
            json!({"user": "lee@example.com", "start": "2035-05-01T09:00:00Z", "end": "2035-05-01T10:00:00Z"}),
        ),
        (
            Method::PUT,
            "/api/v1/services/checkout".into(),
            json!({"name": "checkout", "team": "payments", "description": "pays"}),
        ),
        (
            Method::POST,
            "/api/v1/services".into(),
            json!({"name": "wallet", "team": "payments"}),
        ),
        (
            Method::PUT,
            "/api/v1/escalation-policies/pol".into(),
            json!({"name": "pol", "team": "payments", "levels": [{"delay_minutes": 10, "targets": [{"type": "user", "id": d}]}]}),
        ),
        (
            Method::POST,
            "/api/v1/services/checkout/integrations".into(),
            json!({}),
        ),
        (
            Method::POST,
            "/api/v1/tokens".into(),
            json!({"name": "mine", "user": "dana@example.com"}),
        ),
        (
            Method::POST,
            format!("/api/v1/users/{d}/feeds"),
            Value::Null,
        ),
    ];
    for (method, path, body) in allowed {
        let (s, b) = app.send(as_dana(method.clone(), &path, body)).await;
        assert!(s.is_success(), "Dana may {method} {path}: {s} {b}");
    }
    let refused = [
        (
            Method::POST,
            format!("/api/v1/users/{lee}/contact-methods"),
            json!({"name": "m", "target": {"type": "email", "address": "lee@example.com"}}),
        ),
        (
            Method::POST,
            "/api/v1/schedules/search-rota/overrides".into(),
            json!({"user": "lee@example.com", "start": "2035-05-02T09:00:00Z", "end": "2035-05-02T10:00:00Z"}),
        ),
        (
            Method::PUT,
            "/api/v1/services/search".into(),
            json!({"name": "search", "description": "not Dana's team's"}),
        ),
        (
            Method::PUT,
            "/api/v1/services/checkout".into(),
            json!({"name": "checkout", "description": "given away to nobody"}),
        ),
        (
            Method::PUT,
            "/api/v1/services/search".into(),
            json!({"name": "search", "team": "payments"}),
        ),
        (
            Method::PUT,
            "/api/v1/schedules/search-rota".into(),
            json!({"name": "search-rota", "time_zone": "UTC", "team": "payments", "layers": [{"name": "l",
                "participants": [lee], "rotation": {"every": "days", "count": 1}, "start": "2026-03-02T09:00:00"}]}),
        ),
        (
            Method::PUT,
            format!("/api/v1/users/{d}"),
            json!({"name": "Dana", "email": "someone-else@example.com"}),
        ),
        (
            Method::POST,
            "/api/v1/tokens".into(),
            json!({"name": "bigger", "role": "admin"}),
        ),
        (
            Method::POST,
            "/api/v1/tokens".into(),
            json!({"name": "lee's", "user": "lee@example.com"}),
        ),
        (
            Method::PUT,
            format!("/api/v1/users/{d}/role"),
            json!({"role": "owner"}),
        ),
        (
            Method::POST,
            "/api/v1/teams".into(),
            json!({"name": "mine"}),
        ),
    ];
    for (method, path, body) in refused {
        let (s, b) = app.send(as_dana(method.clone(), &path, body)).await;
        assert_eq!(
            (s, b["error"]["code"].as_str()),
            (StatusCode::FORBIDDEN, Some("forbidden")),
            "Dana may not {method} {path}: {b}"
        );
    }

    // Made an observer, the same token reads and changes nothing, its own things included.
    let (s, b) = app
        .send(
            app.req(Method::PUT, &format!("/api/v1/users/{d}/role"))
                .json(&json!({"role": "observer"})),
        )
        .await;
    assert_eq!((s, b["role"].as_str()), (StatusCode::OK, Some("observer")));
    let (s, _) = app
        .send(as_dana(Method::GET, "/api/v1/services", Value::Null))
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = app
        .send(as_dana(
            Method::POST,
            &format!("/api/v1/users/{d}/notification-rules"),
            json!({"contact_method_id": f.method, "urgency": "high", "delay_minutes": 5}),
        ))
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn the_audit_log_says_who_changed_what_from_where() {
    let app = TestApp::spawn().await;
    let f = fixture(&app).await;
    let (s, b) = app
        .send(
            app.req(Method::PUT, &format!("/api/v1/users/{}/role", f.dana))
                .json(&json!({"role": "admin"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (s, b) = app.post("/api/v1/teams", json!({"name": "payments"})).await;
    assert_eq!(s, StatusCode::CONFLICT, "{b}");

    let (s, page) = app.get("/api/v1/audit?limit=3").await;
    assert_eq!(s, StatusCode::OK, "{page}");
    let newest = &page["items"][0];
    assert_eq!(
        (
            newest["action"].as_str(),
            newest["target"].as_str(),
            newest["actor"]["kind"].as_str(),
            newest["address"].as_str(),
        ),
        (
            Some("user.set_role"),
            Some("dana@example.com"),
            Some("token"),
            Some("127.0.0.1")
        ),
        "a refused change is not in the log: {page}"
    );
    assert_eq!(
        newest["summary"],
        json!({"before": {"role": "responder"}, "after": {"role": "admin"}})
    );
    assert!(page["next_cursor"].is_string());

    let (_, incidents) = app.get("/api/v1/audit?action=incident").await;
    let actions: Vec<&str> = incidents["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert!(
        actions.is_empty(),
        "the incident came from a sender: {actions:?}"
    );
    let (_, methods) = app.get("/api/v1/audit?action=contact_method").await;
    let summaries: Vec<&Value> = methods["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["summary"])
        .collect();
    assert_eq!(
        summaries,
        [
            &json!({}),
            &json!({"after": {"name": "mail", "kind": "email"}})
        ],
        "a method's address is never in the log"
    );
    let (_, created_tokens) = app.get("/api/v1/audit?action=token.create").await;
    assert_eq!(
        created_tokens["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["target"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["spare", "bootstrap admin"],
        "the first admin token is in the log too"
    );

    // Observers and responders do not read it.
    let (_, t) = app
        .post("/api/v1/tokens", json!({"name": "r", "role": "responder"}))
        .await;
    let (s, _) = app
        .send(
            app.client
                .get(format!("{}/api/v1/audit", app.url))
                .bearer_auth(t["token"].as_str().unwrap()),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
}

/// Nobody makes a token holding more than they hold, nor one crediting someone whose role they do not hold; an
/// admin's token for a person holds a fixed role, at most the person's.
#[tokio::test]
async fn tokens_never_hold_more_than_their_maker_or_their_person() {
    let app = TestApp::spawn().await;
    let f = fixture(&app).await;
    let olga = id(&created(
        &app,
        "/api/v1/users",
        json!({"name": "Olga", "email": "olga@example.com"}),
    )
    .await);
    let (s, b) = app
        .send(
            app.req(Method::PUT, &format!("/api/v1/users/{olga}/role"))
                .json(&json!({"role": "owner"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let admin = created(
        &app,
        "/api/v1/tokens",
        json!({"name": "a", "role": "admin"}),
    )
    .await;
    let admin = admin["token"].as_str().unwrap().to_owned();
    let as_admin = |body: Value| {
        app.client
            .post(format!("{}/api/v1/tokens", app.url))
            .bearer_auth(&admin)
            .json(&body)
    };
    for body in [
        json!({"name": "o", "role": "owner"}),
        json!({"name": "as olga", "user": "olga@example.com"}),
        json!({"name": "as olga", "user": "olga@example.com", "role": "admin"}),
    ] {
        let (s, b) = app.send(as_admin(body.clone())).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{body}: {b}");
    }
    let (s, b) = app
        .send(as_admin(
            json!({"name": "as dana", "user": f.dana, "role": "admin"}),
        ))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    assert_eq!(b["role"], "responder", "capped at Dana's role, and fixed");
    // The owner's own bootstrap token is beyond an admin's reach.
    let (_, tokens) = app.get("/api/v1/tokens").await;
    let boot = tokens["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "bootstrap admin")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (s, _) = app
        .send(
            app.client
                .delete(format!("{}/api/v1/tokens/{boot}", app.url))
                .bearer_auth(&admin),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
}
