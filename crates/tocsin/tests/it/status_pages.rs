//! Status pages end to end: an admin sets a page up, a component follows the open incidents on its service
//! through the page's severity map, and the public reads it as Statuspage's API and as a page, with nothing
//! internal in either.

use crate::support::{TestApp, instant};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

async fn ok(app: &TestApp, method: Method, path: &str, body: Value) -> Value {
    let mut rb = app.req(method.clone(), path);
    if !body.is_null() {
        rb = rb.json(&body);
    }
    let (s, b) = app.send(rb).await;
    assert!(s.is_success(), "{method} {path}: {s} {b}");
    b
}

/// An unauthenticated GET, as the public (and any widget) reads the page.
async fn public(app: &TestApp, path: &str) -> (StatusCode, reqwest::header::HeaderMap, String) {
    let r = reqwest::Client::new()
        .get(format!("{}{path}", app.url))
        .send()
        .await
        .unwrap();
    let (status, headers) = (r.status(), r.headers().clone());
    (status, headers, r.text().await.unwrap())
}

async fn public_json(app: &TestApp, path: &str) -> Value {
    let (s, _, body) = public(app, path).await;
    assert_eq!(s, StatusCode::OK, "{path}: {body}");
    serde_json::from_str(&body).unwrap()
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Ours has the same keys as a real Statuspage document at every level, and the same type wherever both are
/// set: a field Statuspage allows to be null may be null or set in either.
fn same_shape(ours: &Value, real: &Value, at: &str) {
    match (ours, real) {
        (Value::Object(o), Value::Object(r)) => {
            let (mut ok, mut rk): (Vec<&String>, Vec<&String>) =
                (o.keys().collect(), r.keys().collect());
            ok.sort();
            rk.sort();
            assert_eq!(ok, rk, "the keys of {at}");
            for (k, v) in o {
                same_shape(v, &r[k], &format!("{at}.{k}"));
            }
        }
        (Value::Array(o), Value::Array(r)) => {
            // Each element against a real one of its sort: a group against a group.
            for (i, item) in o.iter().enumerate() {
                let model = r
                    .iter()
                    .find(|m| m.get("group") == item.get("group"))
                    .or(r.first());
                if let Some(model) = model {
                    same_shape(item, model, &format!("{at}[{i}]"));
                }
            }
        }
        (Value::Null, _) | (_, Value::Null) => {}
        _ => assert_eq!(
            kind(ours),
            kind(real),
            "the type of {at}: {ours} against {real}"
        ),
    }
}

/// The component of a Statuspage document with this name.
fn component<'a>(doc: &'a Value, name: &str) -> &'a Value {
    doc["components"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no component {name} in {doc}"))
}

#[tokio::test]
async fn a_component_follows_its_services_incidents_and_the_public_reads_it_as_statuspage() {
    let app = TestApp::spawn().await;
    app.service_with_key("payments-api").await;
    let (_, service) = app.get("/api/v1/services/payments-api").await;
    let payments = service["id"].as_str().unwrap().to_owned();

    let (s, page) = app
        .send(
            app.req(Method::PUT, "/api/v1/status-pages/example")
                .json(&json!({
                    "name": "Example Shop", "slug": "example", "time_zone": "America/Chicago"
                })),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{page}");
    let shop = ok(
        &app,
        Method::POST,
        "/api/v1/status-pages/example/components",
        json!({"name": "Shop", "group": true, "position": 1}),
    )
    .await;
    ok(
        &app,
        Method::POST,
        "/api/v1/status-pages/example/components",
        json!({"name": "Checkout", "group_id": shop["id"], "services": [payments], "position": 1,
            "description": "Paying for what is in the cart"}),
    )
    .await;
    ok(
        &app,
        Method::POST,
        "/api/v1/status-pages/example/components",
        json!({"name": "Docs", "position": 2, "status": {"mode": "manual", "status": "operational"}}),
    )
    .await;
    ok(
        &app,
        Method::POST,
        "/api/v1/status-pages/example/components",
        json!({"name": "Legacy API", "position": 3, "only_show_if_degraded": true}),
    )
    .await;
    let (s, refused) = app
        .post(
            "/api/v1/status-pages/example/components",
            json!({"name": "Ghost", "services": ["svc_01jd0000000000000000000000"]}),
        )
        .await;
    assert_eq!(
        (s, refused["error"]["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("services")),
        "{refused}"
    );

    // All is well: the page says so, in Statuspage's words and shapes.
    let summary = public_json(&app, "/status/example/api/v2/summary.json").await;
    let real: Value = serde_json::from_str(include_str!(
        "../../../../tests/fixtures/statuspage/summary.json"
    ))
    .unwrap();
    same_shape(&summary, &real, "summary");
    same_shape(
        component(&summary, "Shop"),
        &real["components"][1],
        "a group",
    );
    same_shape(
        component(&summary, "Checkout"),
        &real["components"][0],
        "a member",
    );
    assert_eq!(
        summary["status"],
        json!({"indicator": "none", "description": "All Systems Operational"})
    );
    assert_eq!(summary["page"]["name"], "Example Shop");
    assert_eq!(summary["page"]["time_zone"], "America/Chicago");
    assert_eq!(
        summary["page"]["url"],
        format!("{}/status/example", app.url)
    );
    let stamp = summary["page"]["updated_at"].as_str().unwrap();
    assert!(
        stamp.len() == 29
            && stamp[19..23].starts_with('.')
            && (stamp.ends_with("-06:00") || stamp.ends_with("-05:00")),
        "milliseconds and Chicago's offset: {stamp}"
    );
    let checkout = component(&summary, "Checkout");
    assert_eq!(checkout["group_id"], component(&summary, "Shop")["id"]);
    assert_eq!(
        component(&summary, "Shop")["components"],
        json!([checkout["id"]])
    );
    assert_eq!(
        (
            checkout["position"].as_u64(),
            component(&summary, "Docs")["position"].as_u64()
        ),
        (Some(1), Some(2)),
        "positions count among siblings"
    );
    let said = summary.to_string();
    assert!(
        !said.contains("payments-api") && !said.contains(&payments),
        "{said}"
    );

    // A SEV-1 on the payments service: Checkout, and its group, are in partial outage.
    let incident = ok(
        &app,
        Method::POST,
        "/api/v1/incidents",
        json!({"title": "Card processor timing out for EU merchants", "severity": "SEV-1",
            "services": ["payments-api"]}),
    )
    .await;
    // The engine records what the incident does to the components.
    app.cycle().await;
    let (_, headers, _) = public(&app, "/status/example/api/v2/status.json").await;
    let etag = headers["etag"].to_str().unwrap().to_owned();
    let summary = public_json(&app, "/status/example/api/v2/summary.json").await;
    assert_eq!(component(&summary, "Checkout")["status"], "partial_outage");
    assert_eq!(component(&summary, "Shop")["status"], "partial_outage");
    assert_eq!(component(&summary, "Docs")["status"], "operational");
    assert_eq!(component(&summary, "Legacy API")["status"], "operational");
    assert_eq!(
        summary["status"],
        json!({"indicator": "minor", "description": "Minor Service Outage"})
    );
    assert!(
        !summary.to_string().contains("Card processor"),
        "internal titles stay inside"
    );
    let components = public_json(&app, "/status/example/api/v2/components.json").await;
    let keys: Vec<&String> = components.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["components", "page"], "in key order");
    let status = public_json(&app, "/status/example/api/v2/status.json").await;
    assert_eq!(status["status"]["indicator"], "minor");

    // A client asking again with the ETag it holds gets 304 while nothing changed.
    let again = reqwest::Client::new()
        .get(format!("{}/status/example/api/v2/status.json", app.url))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    assert!(
        again.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("max-age")
    );

    // The page itself, for people: no internal words either.
    let (s, _, html) = public(&app, "/status/example").await;
    assert_eq!(s, StatusCode::OK);
    assert!(html.contains("<h1>Example Shop</h1>"), "{html}");
    assert!(html.contains("Minor Service Outage"));
    assert!(
        html.contains(r#"class="badge cs-partial_outage">Partial outage"#),
        "{html}"
    );
    assert!(!html.contains("Legacy API"), "shown only when degraded");
    assert!(!html.contains("Card processor") && !html.contains("payments-api"));

    // A responder publishes it in public words, saying how Checkout is affected.
    let checkout_id = component(&summary, "Checkout")["id"].clone();
    let published = ok(
        &app,
        Method::POST,
        "/api/v1/status-pages/example/incidents",
        json!({"incident": incident["number"].to_string(), "name": "Some card payments fail",
            "body": "We are investigating failed card payments at checkout.",
            "components": [{"component_id": checkout_id, "status": "partial_outage"}]}),
    )
    .await;
    assert_eq!(
        (
            published["impact"].as_str(),
            published["incident_id"].as_str()
        ),
        (Some("major"), incident["id"].as_str()),
        "{published}"
    );
    let (s, refused) = app
        .post(
            "/api/v1/status-pages/example/incidents",
            json!({"name": "x", "body": "y", "components": [{"component_id": shop["id"], "status": "major_outage"}]}),
        )
        .await;
    assert_eq!(
        (s, refused["error"]["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("components")),
        "a group shows what its members do: {refused}"
    );
    let summary = public_json(&app, "/status/example/api/v2/summary.json").await;
    same_shape(&summary, &real, "summary with an incident");
    let shown = &summary["incidents"][0];
    assert_eq!(
        (
            shown["name"].as_str(),
            shown["status"].as_str(),
            shown["impact"].as_str()
        ),
        (
            Some("Some card payments fail"),
            Some("investigating"),
            Some("major")
        )
    );
    assert_eq!(
        shown["incident_updates"][0]["affected_components"],
        json!([{"code": checkout_id, "name": "Shop - Checkout", "old_status": "operational",
            "new_status": "partial_outage"}])
    );
    assert_eq!(shown["components"][0]["id"], checkout_id);
    assert_eq!(
        summary["status"],
        json!({"indicator": "major", "description": "Partial System Outage"}),
        "the incident's impact says more than the components"
    );
    let said = summary.to_string();
    assert!(
        !said.contains("Card processor") && !said.contains(incident["id"].as_str().unwrap()),
        "neither the internal title nor the internal incident: {said}"
    );
    let id = published["id"].as_str().unwrap().to_owned();
    let monitoring = ok(
        &app,
        Method::POST,
        &format!("/api/v1/status-pages/example/incidents/{id}/updates"),
        json!({"status": "monitoring", "body": "A fix is out; we are watching payments recover.",
            "components": [{"component_id": checkout_id, "status": "degraded_performance"}]}),
    )
    .await;
    assert_eq!(monitoring["updates"].as_array().unwrap().len(), 2);
    assert_eq!(
        monitoring["impact"], "minor",
        "the impact follows what the incident now says of its components"
    );
    assert!(monitoring["monitoring_at"].is_string(), "{monitoring}");
    // What customers were told is on the internal incident's timeline, by whom.
    let (_, timeline) = app
        .get(&format!(
            "/api/v1/incidents/{}/timeline",
            incident["number"]
        ))
        .await;
    let told: Vec<(&str, &str)> = timeline["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "status_page_posted")
        .map(|e| {
            (
                e["actor"]["kind"].as_str().unwrap(),
                e["message"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(told.len(), 2, "{timeline}");
    assert!(
        told[0].1.ends_with(
            "published \"Some card payments fail\" on status page Example Shop (investigating): \
             We are investigating failed card payments at checkout."
        ) && told[1].1.ends_with(
            "updated \"Some card payments fail\" on status page Example Shop (monitoring): \
             A fix is out; we are watching payments recover."
        ),
        "{told:?}"
    );
    assert!(told.iter().all(|(kind, _)| *kind == "token"), "{told:?}");
    let (_, _, html) = public(&app, "/status/example").await;
    assert!(
        html.contains("Some card payments fail") && html.contains("A fix is out"),
        "{html}"
    );

    // Resolved inside and outside: all is well again, and the ETag is no longer current.
    ok(
        &app,
        Method::POST,
        &format!("/api/v1/incidents/{}/resolve", incident["number"]),
        Value::Null,
    )
    .await;
    app.cycle().await;
    let resolved = ok(
        &app,
        Method::POST,
        &format!("/api/v1/status-pages/example/incidents/{id}/updates"),
        json!({"status": "resolved", "body": "Card payments work again."}),
    )
    .await;
    assert!(resolved["resolved_at"].is_string(), "{resolved}");
    assert_eq!(
        resolved["components"],
        json!([{"component_id": checkout_id, "status": "operational"}]),
        "resolving clears what it said"
    );
    let unresolved = public_json(&app, "/status/example/api/v2/incidents/unresolved.json").await;
    assert_eq!(unresolved["incidents"], json!([]));
    for which in ["", "/upcoming", "/active"] {
        let none = public_json(
            &app,
            &format!("/status/example/api/v2/scheduled-maintenances{which}.json"),
        )
        .await;
        assert_eq!(none["scheduled_maintenances"], json!([]), "{which}");
        assert_eq!(none["page"]["name"], "Example Shop");
    }
    let history = public_json(&app, "/status/example/api/v2/incidents.json").await;
    assert_eq!(history["incidents"][0]["status"], "resolved");
    assert_eq!(
        history["incidents"][0]["incident_updates"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["status"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["resolved", "monitoring", "investigating"],
        "newest first"
    );
    let (_, _, html) = public(&app, "/status/example").await;
    assert!(
        html.contains("Past incidents") && html.contains("Card payments work again."),
        "{html}"
    );
    let again = reqwest::Client::new()
        .get(format!("{}/status/example/api/v2/status.json", app.url))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::OK);
    let status: Value = again.json().await.unwrap();
    assert_eq!(status["status"]["indicator"], "none");

    // Unknown pages are 404 in every form.
    for path in [
        "/status/nowhere/api/v2/summary.json",
        "/status/nowhere",
        "/status/..%2f/api/v2/status.json",
    ] {
        let (s, _, _) = public(&app, path).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{path}");
    }
    // Setting pages up is for admins; reading the setup for anyone signed in.
    let (_, setup) = app.get("/api/v1/status-pages/example").await;
    assert_eq!(setup["components"].as_array().unwrap().len(), 4, "{setup}");
    let (_, all) = app.get("/api/v1/status-pages").await;
    assert_eq!(all["items"][0]["slug"], "example");
    let (s, _) = app
        .send(app.req(Method::DELETE, "/api/v1/status-pages/example"))
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _, _) = public(&app, "/status/example/api/v2/summary.json").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

/// The page `example` ("Example Shop") with one component, Checkout, following the service `payments-api`:
/// the component.
async fn shop_page(app: &TestApp) -> Value {
    app.service_with_key("payments-api").await;
    let (_, service) = app.get("/api/v1/services/payments-api").await;
    ok(
        app,
        Method::PUT,
        "/api/v1/status-pages/example",
        json!({"name": "Example Shop", "slug": "example", "time_zone": "UTC"}),
    )
    .await;
    ok(
        app,
        Method::POST,
        "/api/v1/status-pages/example/components",
        json!({"name": "Checkout", "services": [service["id"]]}),
    )
    .await
}

#[tokio::test]
async fn responders_publish_and_update_from_the_incident_page() {
    let app = TestApp::spawn().await;
    let mut b = crate::web::owner_signed_in(&app).await;
    let checkout = shop_page(&app).await;
    ok(
        &app,
        Method::POST,
        "/api/v1/incidents",
        json!({"title": "Card processor timing out", "severity": "SEV-1", "services": ["payments-api"]}),
    )
    .await;
    let page = b.get("/incidents/1").await;
    assert!(
        page.html.contains("Publish on a status page")
            && page.html.contains("Example Shop: Checkout")
            && page.html.contains("Customers have not been told of it."),
        "{}",
        page.html
    );

    // An empty title is refused beside its field; nothing is published.
    let id = checkout["id"].as_str().unwrap();
    let form = |name: &'static str| {
        [
            ("page", "example"),
            ("name", name),
            ("body", "We are investigating failed card payments."),
            ("components", id),
            ("component_status", "major_outage"),
        ]
    };
    let refused = b.post("/incidents/1/publish", &form(" ")).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.html);
    assert!(refused.html.contains("is empty"), "{}", refused.html);
    assert_eq!(
        public_json(&app, "/status/example/api/v2/incidents.json").await["incidents"],
        json!([])
    );

    let done = b
        .post("/incidents/1/publish", &form("Card payments fail"))
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.html);
    let summary = public_json(&app, "/status/example/api/v2/summary.json").await;
    assert_eq!(summary["incidents"][0]["name"], "Card payments fail");
    assert_eq!(component(&summary, "Checkout")["status"], "major_outage");
    let page = b.get("/incidents/1").await;
    assert!(
        page.html.contains("As customers see it") && page.html.contains("Tell customers more"),
        "{}",
        page.html
    );
    let public_id = summary["incidents"][0]["id"].as_str().unwrap().to_owned();

    let done = b
        .post(
            "/incidents/1/public-update",
            &[
                ("page", "example"),
                ("public", public_id.as_str()),
                ("status", "resolved"),
                ("body", "Card payments work again."),
                ("component_status", ""),
            ],
        )
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.html);
    let unresolved = public_json(&app, "/status/example/api/v2/incidents/unresolved.json").await;
    assert_eq!(unresolved["incidents"], json!([]));
    let history = public_json(&app, "/status/example/api/v2/incidents.json").await;
    assert_eq!(history["incidents"][0]["status"], "resolved");
    let timeline = b.get("/incidents/1").await;
    assert!(
        timeline
            .html
            .contains("on status page Example Shop (resolved): Card payments work again."),
        "the timeline says what customers were told: {}",
        timeline.html
    );
}

#[tokio::test]
async fn admins_set_pages_up_from_their_page() {
    let app = TestApp::spawn().await;
    let mut b = crate::web::owner_signed_in(&app).await;
    app.service_with_key("payments-api").await;
    let (_, service) = app.get("/api/v1/services/payments-api").await;

    let refused = b
        .post(
            "/status-pages",
            &[
                ("name", "Example Shop"),
                ("slug", "Not A Slug!"),
                ("time_zone", ""),
            ],
        )
        .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.html);
    assert!(
        refused.html.contains(r#"value="Not A Slug!""#),
        "what was typed is kept: {}",
        refused.html
    );
    let made = b
        .post(
            "/status-pages",
            &[
                ("name", "Example Shop"),
                ("slug", "example"),
                ("time_zone", "Europe/Berlin"),
            ],
        )
        .await;
    assert_eq!(made.status, StatusCode::SEE_OTHER, "{}", made.html);
    assert_eq!(made.location.as_deref(), Some("/status-pages/example"));
    let list = b.get("/status-pages").await;
    assert!(
        list.html
            .contains(r#"<a href="/status-pages/example">Example Shop</a>"#),
        "{}",
        list.html
    );

    let added = b
        .post(
            "/status-pages/example/components",
            &[("name", "Shop"), ("group", "1")],
        )
        .await;
    assert_eq!(added.status, StatusCode::SEE_OTHER, "{}", added.html);
    let (_, setup) = app.get("/api/v1/status-pages/example").await;
    let shop = setup["components"][0]["id"].as_str().unwrap().to_owned();
    let added = b
        .post(
            "/status-pages/example/components",
            &[
                ("name", "Checkout"),
                ("group_id", shop.as_str()),
                ("services", service["id"].as_str().unwrap()),
                ("position", "1"),
            ],
        )
        .await;
    assert_eq!(added.status, StatusCode::SEE_OTHER, "{}", added.html);
    let page = b.get("/status-pages/example").await;
    assert!(
        page.html.contains("follows payments-api") && page.html.contains("(group)"),
        "{}",
        page.html
    );
    let (_, setup) = app.get("/api/v1/status-pages/example").await;
    let checkout = setup["components"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "Checkout")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // Set by hand, the component shows it whatever its services do; set back, it follows them again.
    let set = b
        .post(
            &format!("/status-pages/example/components/{checkout}/status"),
            &[("status", "under_maintenance")],
        )
        .await;
    assert_eq!(set.status, StatusCode::SEE_OTHER, "{}", set.html);
    let summary = public_json(&app, "/status/example/api/v2/summary.json").await;
    assert_eq!(
        component(&summary, "Checkout")["status"],
        "under_maintenance"
    );
    assert_eq!(summary["status"]["indicator"], "maintenance");
    b.post(
        &format!("/status-pages/example/components/{checkout}/status"),
        &[("status", "")],
    )
    .await;
    let summary = public_json(&app, "/status/example/api/v2/summary.json").await;
    assert_eq!(component(&summary, "Checkout")["status"], "operational");

    let removed = b
        .post(
            &format!("/status-pages/example/components/{checkout}/delete"),
            &[],
        )
        .await;
    assert_eq!(removed.status, StatusCode::SEE_OTHER);
    let summary = public_json(&app, "/status/example/api/v2/summary.json").await;
    assert_eq!(summary["components"].as_array().unwrap().len(), 1);
}

const PARSE_FEED: &str = r#"
import json, sys
import feedparser
d = feedparser.parse(sys.stdin.buffer.read())
print(json.dumps({
    "bozo": bool(d.bozo), "version": d.version, "title": d.feed.get("title"),
    "entries": [{"id": e.get("id"), "title": e.get("title"), "link": e.get("link"),
                 "content": (e.get("content") or [{}])[0].get("value") or e.get("summary")} for e in d.entries],
}))
"#;

/// The feed as Python's `feedparser` reads it; None when Debian's feedparser is missing (and peers are not
/// required).
async fn parse_feed(xml: String) -> Option<Value> {
    const PYTHON: &str = "/usr/bin/python3";
    let found = std::process::Command::new(PYTHON)
        .args(["-c", "import feedparser"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            !crate::support::peers_required(),
            "{PYTHON} with feedparser is missing; run scripts/install-test-deps.sh"
        );
        return None;
    }
    let out = tokio::task::spawn_blocking(move || {
        use std::io::Write;
        let mut child = std::process::Command::new(PYTHON)
            .args(["-c", PARSE_FEED])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(xml.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    })
    .await
    .unwrap();
    assert!(out.status.success());
    Some(serde_json::from_slice(&out.stdout).unwrap())
}

#[tokio::test]
async fn incident_history_is_read_by_feed_readers_whatever_the_text() {
    let app = TestApp::spawn().await;
    ok(
        &app,
        Method::PUT,
        "/api/v1/status-pages/example",
        json!({"name": "Example <Shop> & Co", "slug": "example"}),
    )
    .await;
    let hostile = "Payments \"fail\" <script>alert(1)</script> & ]]> more";
    let published = ok(
        &app,
        Method::POST,
        "/api/v1/status-pages/example/incidents",
        json!({"name": hostile, "body": "We <b>are</b> looking & will say more."}),
    )
    .await;
    let id = published["id"].as_str().unwrap().to_owned();
    ok(
        &app,
        Method::POST,
        &format!("/api/v1/status-pages/example/incidents/{id}/updates"),
        json!({"status": "resolved", "body": "Fixed; <i>all</i> good."}),
    )
    .await;
    for (path, version) in [("history.atom", "atom10"), ("history.rss", "rss20")] {
        let (s, headers, body) = public(&app, &format!("/status/example/{path}")).await;
        assert_eq!(s, StatusCode::OK);
        assert!(headers["content-type"].to_str().unwrap().contains("xml"));
        assert!(!body.contains("<script>"), "{body}");
        let Some(feed) = parse_feed(body).await else {
            return;
        };
        assert_eq!(feed["bozo"], false, "{path} is well formed: {feed}");
        assert_eq!(feed["version"], version);
        assert_eq!(
            feed["title"],
            "Example <Shop> & Co Status - Incident History"
        );
        let [entry] = feed["entries"].as_array().unwrap().as_slice() else {
            panic!("one entry per incident, updated in place: {feed}");
        };
        assert_eq!(entry["title"], hostile, "{path}");
        assert_eq!(
            entry["link"],
            format!("{}/status/example#incident-{id}", app.url)
        );
        let content = entry["content"].as_str().unwrap();
        let (resolved, investigating) = (
            content
                .find("Fixed; &lt;i&gt;all&lt;/i&gt; good.")
                .unwrap_or(usize::MAX),
            content
                .find("We &lt;b&gt;are&lt;/b&gt; looking")
                .unwrap_or(usize::MAX),
        );
        assert!(
            resolved < investigating && investigating < usize::MAX,
            "every update, newest first, its markup shown as text: {content}"
        );
    }
}

#[tokio::test]
async fn badges_show_a_page_and_a_component_as_they_stand() {
    let app = TestApp::spawn().await;
    ok(
        &app,
        Method::PUT,
        "/api/v1/status-pages/example",
        json!({"name": "Shop & <Co>", "slug": "example"}),
    )
    .await;
    let api = ok(
        &app,
        Method::POST,
        "/api/v1/status-pages/example/components",
        json!({"name": "API", "status": {"mode": "manual", "status": "major_outage"}}),
    )
    .await;
    let (s, headers, page) = public(&app, "/status/example/badge.svg").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(headers["content-type"], "image/svg+xml");
    assert!(headers.contains_key("etag"));
    let (_, _, component) = public(
        &app,
        &format!(
            "/status/example/components/{}/badge.svg",
            api["id"].as_str().unwrap()
        ),
    )
    .await;
    // Read as XML by Python's own parser: well formed, and saying what it should to a screen reader.
    let labels = crate::support::python3(vec![
        "-c".into(),
        "import sys, xml.etree.ElementTree as ET\nfor a in sys.argv[1:]:\n    print(ET.fromstring(a).get('aria-label'))".into(),
        page.into(),
        component.into(),
    ])
    .await;
    assert_eq!(
        String::from_utf8(labels).unwrap(),
        "Shop & <Co>: Major System Outage\nAPI: Major outage\n"
    );
    let (s, _, _) = public(
        &app,
        "/status/example/components/cmp_01jdq9a3k2m7x8v4n5p6r7s8t9/badge.svg",
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

/// One pass of PyPI's `statuspage-prometheus-exporter` over the page's `summary.json`, as a cron job runs it: the
/// metrics it wrote.
async fn exporter_pass(app: &TestApp, dir: &std::path::Path) -> String {
    std::fs::write(
        dir.join("services.json"),
        json!({"example": {"name": "Example Shop",
            "url": format!("{}/status/example/api/v2/summary.json", app.url)}})
        .to_string(),
    )
    .unwrap();
    let (dir, metrics) = (dir.to_owned(), dir.join("statuspage.prom"));
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("python3")
            .args(["-m", "statuspage_prometheus_exporter.status_monitoring"])
            .current_dir(&dir)
            .env("RUN_MODE", "once")
            .env("SERVICES_JSON_PATH", dir.join("services.json"))
            .env("METRICS_TEXTFILE_PATH", dir.join("statuspage.prom"))
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "the exporter failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::read_to_string(metrics).expect("the exporter wrote its metrics")
}

/// The value of the metric line that starts with `series` (its name and the first labels).
fn metric(text: &str, series: &str, label: &str) -> Option<f64> {
    text.lines()
        .filter(|l| l.starts_with(series) && l.contains(label))
        .find_map(|l| l.rsplit(' ').next()?.parse().ok())
}

#[tokio::test]
async fn the_statuspage_prometheus_exporter_reads_what_the_page_says() {
    if crate::support::python_module_missing("statuspage_prometheus_exporter") {
        return;
    }
    let app = TestApp::spawn().await;
    let dir = tempfile::tempdir().unwrap();
    let checkout = shop_page(&app).await;
    ok(
        &app,
        Method::POST,
        "/api/v1/status-pages/example/components",
        json!({"name": "Docs"}),
    )
    .await;

    let calm = exporter_pass(&app, dir.path()).await;
    assert_eq!(
        metric(&calm, "statuspage_service_status{", "Example Shop"),
        Some(1.0),
        "{calm}"
    );
    assert_eq!(
        metric(
            &calm,
            "statuspage_component_status{",
            "component_name=\"Checkout\""
        ),
        Some(1.0),
        "{calm}"
    );

    ok(
        &app,
        Method::POST,
        "/api/v1/incidents",
        json!({"title": "Card processor timing out", "severity": "SEV-1", "services": ["payments-api"]}),
    )
    .await;
    app.cycle().await;
    let published = ok(
        &app,
        Method::POST,
        "/api/v1/status-pages/example/incidents",
        json!({"incident": "1", "name": "Some card payments fail", "body": "We are investigating.",
            "components": [{"component_id": checkout["id"], "status": "partial_outage"}]}),
    )
    .await;
    let trouble = exporter_pass(&app, dir.path()).await;
    assert_eq!(
        metric(&trouble, "statuspage_service_status{", "Example Shop"),
        Some(0.0),
        "{trouble}"
    );
    assert_eq!(
        metric(
            &trouble,
            "statuspage_component_status{",
            "component_name=\"Checkout\""
        ),
        Some(0.0),
        "{trouble}"
    );
    assert_eq!(
        metric(
            &trouble,
            "statuspage_component_status{",
            "component_name=\"Docs\""
        ),
        Some(1.0),
        "{trouble}"
    );
    let incident = trouble
        .lines()
        .find(|l| {
            l.starts_with("statuspage_incident_info{") && l.contains("Some card payments fail")
        })
        .unwrap_or_else(|| panic!("the exporter sees the public incident: {trouble}"));
    assert!(
        incident.contains("impact=\"major\"") && incident.contains("Checkout"),
        "{incident}"
    );
    assert!(
        !trouble.contains("Card processor"),
        "the internal title stays inside"
    );

    ok(
        &app,
        Method::POST,
        &format!(
            "/api/v1/status-pages/example/incidents/{}/updates",
            published["id"].as_str().unwrap()
        ),
        json!({"status": "resolved", "body": "Card payments work again."}),
    )
    .await;
    ok(
        &app,
        Method::POST,
        "/api/v1/incidents/1/resolve",
        Value::Null,
    )
    .await;
    app.cycle().await;
    let again = exporter_pass(&app, dir.path()).await;
    assert_eq!(
        metric(&again, "statuspage_service_status{", "Example Shop"),
        Some(1.0),
        "{again}"
    );
    assert_eq!(
        metric(
            &again,
            "statuspage_component_status{",
            "component_name=\"Checkout\""
        ),
        Some(1.0),
        "{again}"
    );
}

#[tokio::test]
async fn a_private_page_exists_only_for_people_of_the_organisation() {
    let app = TestApp::spawn().await;
    let (s, b) = app
        .send(
            app.req(Method::PUT, "/api/v1/status-pages/inside")
                .json(&json!({
                    "name": "Internal tools", "slug": "inside", "visibility": "private"
                })),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let component = ok(
        &app,
        Method::POST,
        "/api/v1/status-pages/inside/components",
        json!({"name": "Build farm"}),
    )
    .await;
    // To anyone else it answers exactly as a page that does not exist.
    for path in [
        "/status/inside/api/v2/summary.json".to_owned(),
        "/status/inside/history.atom".to_owned(),
        "/status/inside/badge.svg".to_owned(),
        format!(
            "/status/inside/components/{}/badge.svg",
            component["id"].as_str().unwrap()
        ),
    ] {
        let (s, _, hidden) = public(&app, &path).await;
        let (_, _, missing) = public(&app, &path.replace("inside", "nowhere")).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(
            hidden.replace("inside", "nowhere"),
            missing,
            "{path} says nothing a missing page would not"
        );
    }
    let (s, _, html) = public(&app, "/status/inside").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert!(html.contains("sign in"), "{html}");

    // With a token, or signed in, it is read, and no shared cache keeps it.
    let r = app
        .req(Method::GET, "/status/inside/api/v2/summary.json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["cache-control"], "private, no-cache");
    assert!(!r.headers().contains_key("access-control-allow-origin"));
    let mut b = crate::web::owner_signed_in(&app).await;
    let page = b.get("/status/inside").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.html.contains("Build farm"), "{}", page.html);
    let list = b.get("/status-pages").await;
    assert!(list.html.contains("(private)"), "{}", list.html);
}

/// The ID of `shop_page`'s Checkout.
async fn checkout_page(app: &TestApp) -> String {
    shop_page(app).await["id"].as_str().unwrap().to_owned()
}

/// The text of the day bars of the page's HTML, oldest first.
fn day_texts(html: &str) -> Vec<String> {
    html.split("<span class=\"tip\">")
        .skip(1)
        .map(|rest| rest.split("</span>").next().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_days_outage_is_kept_as_history_and_shown_as_its_bar() {
    use std::sync::Arc;
    use tocsin_domain::clock::{Clock, ManualClock};
    let start: chrono::DateTime<chrono::Utc> = "2026-11-20T10:00:00Z".parse().unwrap();
    let clock = Arc::new(ManualClock::new(start));
    let mut app = TestApp::spawn_with_clock(clock.clone()).await;
    let checkout = checkout_page(&app).await;
    let (_, _, html) = public(&app, "/status/example").await;
    let days = day_texts(&html);
    assert_eq!(days.len(), 90, "{html}");
    assert_eq!(days[89], "20 Nov 2026: no downtime");
    assert_eq!(
        days[88], "19 Nov 2026: no data",
        "before the component existed"
    );

    // A SEV-0 on its service: a major outage, from when the engine records it until it is resolved.
    clock.advance(chrono::Duration::hours(1));
    let incident = ok(
        &app,
        Method::POST,
        "/api/v1/incidents",
        json!({"title": "Card processor down", "severity": "SEV-0", "services": ["payments-api"]}),
    )
    .await;
    app.cycle().await;
    ok(
        &app,
        Method::POST,
        "/api/v1/status-pages/example/incidents",
        json!({"incident": incident["id"], "name": "Card payments fail", "body": "We are on it.",
            "components": [{"component_id": checkout, "status": "major_outage"}]}),
    )
    .await;
    clock.advance(chrono::Duration::minutes(45));
    ok(
        &app,
        Method::POST,
        &format!("/api/v1/incidents/{}/resolve", incident["number"]),
        Value::Null,
    )
    .await;
    let public_id = public_json(&app, "/status/example/api/v2/incidents.json").await["incidents"]
        [0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    ok(
        &app,
        Method::POST,
        &format!("/api/v1/status-pages/example/incidents/{public_id}/updates"),
        json!({"status": "resolved", "body": "Card payments work again."}),
    )
    .await;
    app.cycle().await;
    let components = public_json(&app, "/status/example/api/v2/components.json").await;
    assert_eq!(components["components"][0]["status"], "operational");
    assert_eq!(
        instant(&components["components"][0]["updated_at"]),
        clock.now(),
        "a status that moves moves the component's updated_at"
    );

    // The next day, the bar of the 20th says how long it was down and why; the page's uptime counts it.
    clock.advance(chrono::Duration::hours(20));
    let (_, _, html) = public(&app, "/status/example").await;
    let days = day_texts(&html);
    assert_eq!(
        days[88], "20 Nov 2026: 45 minutes of outage · Card payments fail",
        "{html}"
    );
    assert_eq!(days[89], "21 Nov 2026: no downtime");
    assert!(
        html.contains(r#"class="day d-major_outage" tabindex="0""#),
        "{html}"
    );
    // 45 minutes out of the 21 hours 45 minutes since the component was made.
    let uptime: f64 = 100.0 * (1.0 - 45.0 / (21.75 * 60.0));
    assert!(
        html.contains(&format!("{}% uptime", (uptime * 100.0).floor() / 100.0)),
        "{uptime} in {html}"
    );

    // History is kept in the database: a restarted server shows the same bars.
    app.server.take().unwrap().stop().await.unwrap();
    let back = TestApp::spawn_with(clock.clone(), |c| {
        c.data_dir = app.db.data_dir.clone();
        c.database_url = app.db.url.clone();
    })
    .await;
    let (_, _, html) = public(&back, "/status/example").await;
    assert_eq!(day_texts(&html)[88], days[88]);
}

#[tokio::test]
async fn a_change_through_one_instance_shows_on_the_others_within_a_second() {
    let a = TestApp::spawn().await;
    let checkout = checkout_page(&a).await;
    let b = TestApp::spawn_with(
        std::sync::Arc::new(tocsin_domain::clock::SystemClock),
        |c| {
            c.data_dir = a.db.data_dir.clone();
            c.database_url = a.db.url.clone();
        },
    )
    .await;
    let summary = public_json(&b, "/status/example/api/v2/summary.json").await;
    assert_eq!(component(&summary, "Checkout")["status"], "operational");
    let (_, etag_before, _) = public(&b, "/status/example/api/v2/summary.json").await;

    // A responder publishes through A; B serves the page from its snapshot, which catches up on its own.
    ok(
        &a,
        Method::POST,
        "/api/v1/status-pages/example/incidents",
        json!({"name": "Checkout is slow", "body": "We are looking into it.",
            "components": [{"component_id": checkout, "status": "degraded_performance"}]}),
    )
    .await;
    let seen = std::time::Instant::now();
    crate::support::wait_until(
        "the publication on the other instance",
        std::time::Duration::from_secs(5),
        async || {
            let summary = public_json(&b, "/status/example/api/v2/summary.json").await;
            component(&summary, "Checkout")["status"] == "degraded_performance"
        },
    )
    .await;
    assert!(
        seen.elapsed() < std::time::Duration::from_millis(1500),
        "{:?}",
        seen.elapsed()
    );
    let (_, etag_after, _) = public(&b, "/status/example/api/v2/summary.json").await;
    assert_ne!(etag_before["etag"], etag_after["etag"]);
}

/// Stops every connection to the test's PostgreSQL database and refuses new ones (`false`), or allows them
/// again (`true`).
async fn database_reachable(url: &str, reachable: bool) {
    let name = url
        .rsplit('/')
        .next()
        .unwrap()
        .split('?')
        .next()
        .unwrap()
        .to_owned();
    let admin = url.replacen(&format!("/{name}"), "/postgres", 1);
    let mut sql = format!("ALTER DATABASE \"{name}\" ALLOW_CONNECTIONS {reachable};");
    if !reachable {
        sql.push_str(&format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}';"
        ));
    }
    let out = tokio::process::Command::new("psql")
        .args([admin.as_str(), "-v", "ON_ERROR_STOP=1", "-c", &sql])
        .output()
        .await
        .expect("psql runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn the_page_keeps_answering_while_the_database_is_unreachable_and_says_so() {
    let app = TestApp::spawn().await;
    let Some(url) = app.db.url.clone() else {
        // An embedded database cannot be unreachable; the PostgreSQL run of this suite covers it.
        return;
    };
    checkout_page(&app).await;
    let (s, headers, before) = public(&app, "/status/example/api/v2/summary.json").await;
    assert_eq!(s, StatusCode::OK);
    assert!(!headers.contains_key("x-tocsin-stale-since"));

    database_reachable(&url, false).await;
    crate::support::wait_until(
        "a page served from its snapshot, said to be stale",
        std::time::Duration::from_secs(10),
        async || {
            let (s, headers, body) = public(&app, "/status/example/api/v2/summary.json").await;
            assert_eq!(s, StatusCode::OK, "{body}");
            assert_eq!(body, before, "the last snapshot");
            headers.contains_key("x-tocsin-stale-since")
        },
    )
    .await;
    let (s, headers, html) = public(&app, "/status/example").await;
    assert_eq!(s, StatusCode::OK, "{html}");
    assert!(headers.contains_key("x-tocsin-stale-since"));

    database_reachable(&url, true).await;
    crate::support::wait_until(
        "the page confirmed again",
        std::time::Duration::from_secs(10),
        async || {
            let (_, headers, _) = public(&app, "/status/example/api/v2/summary.json").await;
            !headers.contains_key("x-tocsin-stale-since")
        },
    )
    .await;
}
