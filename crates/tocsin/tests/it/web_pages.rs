//! The configuration pages over HTTP: services and their integrations, schedules and overrides, policies, noise,
//! alerts and administration. Each creates through its forms, shows refusals beside the field at fault with what
//! was typed kept, and leaves the same records the JSON API reads.

use crate::roles::{Fixture, ROLES, fixture, rank};
use crate::support::{AlertmanagerPeer, TestApp, poll};
use crate::web::{Browser, owner_signed_in};
use reqwest::{Method, StatusCode};
use serde_json::json;

/// The text of an HTML page as a person reads it: entities back to characters.
fn unescape(html: &str) -> String {
    html.replace("&#34;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// What lies between `start` and the next `end` after it.
fn between<'a>(html: &'a str, start: &str, end: &str) -> &'a str {
    let from = html
        .find(start)
        .unwrap_or_else(|| panic!("{start:?} in {html}"))
        + start.len();
    let len = html[from..].find(end).expect("end marker");
    &html[from..from + len]
}

async fn person<'a>(app: &'a TestApp, name: &str, email: &str, role: &str) -> Browser<'a> {
    let (s, b) = app
        .post("/api/v1/users", json!({"name": name, "email": email}))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let (s, b) = app
        .send(
            app.req(Method::PUT, &format!("/api/v1/users/{email}/role"))
                .json(&json!({ "role": role })),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (_, invitation) = app
        .post(&format!("/api/v1/users/{email}/invitation"), json!({}))
        .await;
    let mut b = Browser::new(app);
    let done = b
        .post(
            invitation["link"].as_str().unwrap(),
            &[("password", "a passphrase of theirs")],
        )
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.html);
    b
}

#[tokio::test]
async fn services_are_created_edited_and_connected_to_a_sender_from_their_pages() {
    let app = TestApp::spawn().await;
    let mut b = owner_signed_in(&app).await;
    let empty = b.get("/services").await;
    assert!(empty.html.contains("No service yet"), "{}", empty.html);

    let refused = b
        .post(
            "/services",
            &[
                ("name", "checkout"),
                ("tier", "9"),
                ("description", "Takes the money"),
            ],
        )
        .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert!(
        refused.html.contains(r#"id="tier-problem""#) && refused.html.contains("Takes the money"),
        "the problem beside the tier, the description kept: {}",
        refused.html
    );
    let bad_runbook = b
        .post(
            "/services",
            &[("name", "checkout"), ("runbook_url", "ftp://x")],
        )
        .await;
    assert!(
        bad_runbook.html.contains(r#"id="runbook_url-problem""#),
        "{}",
        bad_runbook.html
    );
    for name in ["db", "checkout"] {
        let made = b.post("/services", &[("name", name), ("tier", "1")]).await;
        assert_eq!(
            (made.status, made.location.as_deref()),
            (
                StatusCode::SEE_OTHER,
                Some(format!("/services/{name}").as_str())
            ),
            "{}",
            made.html
        );
    }
    // Names may hold spaces and slashes: links and forms keep them whole.
    let spaced = b.post("/services", &[("name", "Payments API/eu")]).await;
    assert_eq!(
        spaced.location.as_deref(),
        Some("/services/Payments%20API%2Feu"),
        "{}",
        spaced.html
    );
    let page = b.get("/services/Payments%20API%2Feu").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.html);
    assert!(
        page.html
            .contains(r#"action="/services/Payments%20API%2Feu/integrations""#)
    );
    let list = b.get("/services").await;
    assert!(
        list.html
            .contains(r#"href="/services/Payments%20API%2Feu""#),
        "{}",
        list.html
    );
    let deleted = b.post("/services/Payments%20API%2Feu/delete", &[]).await;
    assert_eq!(deleted.location.as_deref(), Some("/services"));
    let taken = b.post("/services", &[("name", "db")]).await;
    assert!(
        taken.html.contains(r#"id="name-problem""#),
        "{}",
        taken.html
    );
    let edited = b
        .post(
            "/services/checkout",
            &[
                ("name", "checkout"),
                ("tier", "2"),
                ("depends_on", "db"),
                ("runbook_url", "https://wiki.example.com/checkout"),
                (
                    "advanced",
                    r#"{"grouping": {"mode": "time_window", "minutes": 10}}"#,
                ),
            ],
        )
        .await;
    assert_eq!(edited.status, StatusCode::SEE_OTHER, "{}", edited.html);
    let (_, svc) = app.get("/api/v1/services/checkout").await;
    assert_eq!(
        (
            svc["tier"].as_i64(),
            svc["depends_on"][0].as_str(),
            svc["grouping"]["minutes"].as_i64()
        ),
        (Some(2), Some("db"), Some(10)),
        "{svc}"
    );
    let bad_json = b
        .post(
            "/services/checkout",
            &[("name", "checkout"), ("advanced", "{nope")],
        )
        .await;
    assert!(
        bad_json.html.contains(r#"id="advanced-problem""#) && bad_json.html.contains("{nope"),
        "{}",
        bad_json.html
    );
    let db = b.get("/services/db").await;
    assert!(
        between(&db.html, "Depended on by", "</ul>").contains(r#"href="/services/checkout""#),
        "dependencies are shown both ways: {}",
        db.html
    );
    let checkout = b.get("/services/checkout").await;
    assert!(
        checkout.html.contains("No escalation policy"),
        "{}",
        checkout.html
    );
    assert!(checkout.html.contains("https://wiki.example.com/checkout"));

    let no_interval = b
        .post(
            "/services/checkout/integrations",
            &[("kind", "heartbeat"), ("name", "backup")],
        )
        .await;
    assert_eq!(no_interval.status, StatusCode::BAD_REQUEST);
    assert!(
        no_interval
            .html
            .contains(r#"id="config.heartbeat-problem""#),
        "{}",
        no_interval.html
    );
    let not_an_object = b
        .post(
            "/services/checkout/integrations",
            &[
                ("kind", "heartbeat"),
                ("interval_seconds", "60"),
                ("config", r#"{"heartbeat": 5}"#),
            ],
        )
        .await;
    assert_eq!(not_an_object.status, StatusCode::BAD_REQUEST);
    assert!(
        not_an_object
            .html
            .contains(r#"id="config.heartbeat-problem""#),
        "{}",
        not_an_object.html
    );
    let added = b
        .post(
            "/services/checkout/integrations",
            &[("kind", "alertmanager"), ("name", "prod")],
        )
        .await;
    assert_eq!(added.status, StatusCode::CREATED, "{}", added.html);
    let key = between(&added.html, r#"<code id="new-key-value">"#, "</code>").to_owned();
    let snippet = unescape(between(
        &added.html,
        r#"<pre class="snippet" id="new-key-snippet">"#,
        "</pre>",
    ));
    assert!(
        snippet.contains(&format!("/ingest/alertmanager/{key}")),
        "{snippet}"
    );
    let (_, integrations) = app.get("/api/v1/services/checkout/integrations").await;
    assert_eq!(integrations["items"][0]["name"], "prod");
    assert!(
        !b.get("/services/checkout").await.html.contains(&key),
        "the key is shown once"
    );

    // The snippet, pasted into a real Alertmanager, delivers its alerts.
    let mut config: serde_json::Value =
        serde_yaml_ng::from_str(&snippet).expect("the snippet is YAML");
    config["route"]["group_wait"] = json!("0s");
    if let Some(am) = AlertmanagerPeer::start(&app.client, &config).await {
        am.post_alerts(
            &app.client,
            json!([{"labels": {"alertname": "CartSlow", "severity": "critical"}}]),
        )
        .await;
        poll(
            &app,
            &am.guard,
            "/api/v1/alerts",
            "the alert from Alertmanager",
            |b| b["items"].as_array().filter(|a| !a.is_empty()).cloned(),
        )
        .await;
    }

    let id = integrations["items"][0]["id"].as_str().unwrap();
    let revoked = b
        .post(&format!("/services/checkout/integrations/{id}/revoke"), &[])
        .await;
    assert_eq!(revoked.status, StatusCode::SEE_OTHER);
    assert!(b.get("/services/checkout").await.html.contains("revoked"));

    let in_use = b.post("/services/db/delete", &[]).await;
    assert_eq!(in_use.status, StatusCode::CONFLICT, "{}", in_use.html);
    assert!(
        in_use.html.contains(r#"<div class="error" role="alert">"#),
        "a refusal reads as one: {}",
        in_use.html
    );
    assert!(
        in_use.html.contains("checkout"),
        "says what depends on it: {}",
        in_use.html
    );
    let (s, _) = app.get("/api/v1/services/db").await;
    assert_eq!(s, StatusCode::OK);

    // A responder outside the service's team reads the page without its forms and cannot post them.
    let mut rita = person(&app, "Rita", "rita@example.com", "responder").await;
    let page = rita.get("/services/checkout").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        !page.html.contains("/services/checkout/integrations\""),
        "{}",
        page.html
    );
    let refused = rita.post("/services/checkout/delete", &[]).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn schedules_show_the_coming_weeks_with_gaps_and_take_a_shift_in_two_taps() {
    let app = TestApp::spawn().await;
    let mut b = owner_signed_in(&app).await;
    for (name, email) in [("Ann", "ann@example.com"), ("Bo", "bo@example.com")] {
        app.post("/api/v1/users", json!({"name": name, "email": email}))
            .await;
    }
    let start = (chrono::Utc::now() - chrono::Duration::days(3))
        .with_timezone(&chrono_tz::America::New_York)
        .format("%Y-%m-%dT09:00:00")
        .to_string();
    let (s, body) = app
        .post(
            "/api/v1/schedules",
            json!({"name": "primary", "time_zone": "America/New_York", "layers": [{
                "name": "weekdays", "participants": ["ann@example.com", "bo@example.com"],
                "rotation": {"every": "days", "count": 1}, "start": start,
                "restrictions": [{"days": ["Mon", "Tue", "Wed", "Thu", "Fri"], "start": "09:00:00", "end": "17:00:00"}]
            }]}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
    let list = b.get("/schedules").await;
    assert!(
        list.html.contains(r#"href="/schedules/primary""#),
        "{}",
        list.html
    );
    assert!(
        list.html.contains("gaps in the next two weeks"),
        "{}",
        list.html
    );

    let page = b.get("/schedules/primary").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.html.contains("America/New_York"),
        "the schedule's zone: {}",
        page.html
    );
    assert!(
        page.html.contains("yours: "),
        "the viewer's own time beside it (UTC here)"
    );
    assert!(
        page.html.contains("<svg class=\"timeline-chart\""),
        "a timeline of the layers"
    );
    assert!(page.html.contains("bar-gap"), "gaps are marked");
    assert!(
        page.html.contains("Nobody on call"),
        "the agenda lists the gaps"
    );
    // Tap one: "Take this shift" on the first shift that is someone else's; tap two is the page it returns to.
    let first = between(
        &page.html,
        r#"<form method="post" action="/schedules/primary/overrides"><input type="hidden" name="user" value=""#,
        "</form>",
    );
    let user = first.split('"').next().unwrap().to_owned();
    let start = between(first, r#"name="start" value=""#, "\"").to_owned();
    let end = between(first, r#"name="end" value=""#, "\"").to_owned();
    let taken = b
        .post(
            "/schedules/primary/overrides",
            &[("user", &user), ("start", &start), ("end", &end)],
        )
        .await;
    assert_eq!(taken.status, StatusCode::SEE_OTHER, "{}", taken.html);
    let (_, schedule) = app.get("/api/v1/schedules/primary").await;
    let overrides = schedule["overrides"].as_array().unwrap();
    assert_eq!(overrides.len(), 1, "{schedule}");
    assert_eq!(
        crate::support::instant(&overrides[0]["start"]),
        chrono::DateTime::parse_from_rfc3339(&start).unwrap()
    );
    let backwards = b
        .post(
            "/schedules/primary/overrides",
            &[
                ("user", &user),
                ("starts_at", "2026-12-02T10:00"),
                ("ends_at", "2026-12-01T10:00"),
            ],
        )
        .await;
    assert_eq!(
        backwards.status,
        StatusCode::BAD_REQUEST,
        "{}",
        backwards.html
    );
    assert!(
        backwards.html.contains("2026-12-02T10:00"),
        "what was typed is kept"
    );
    let garbled = b
        .post(
            "/schedules/primary/overrides",
            &[("user", &user), ("starts_at", "soon"), ("ends_at", "")],
        )
        .await;
    assert!(
        garbled.html.contains(r#"id="start-problem""#),
        "{}",
        garbled.html
    );
    // A calendar feed of the whole schedule, its URL shown once, serving the shifts.
    let feed = b.post("/schedules/primary/feed", &[]).await;
    assert_eq!(feed.status, StatusCode::CREATED, "{}", feed.html);
    let url = between(&feed.html, r#"<code id="feed-url">"#, "</code>").to_owned();
    let ics = app
        .client
        .get(&url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        ics.contains("BEGIN:VCALENDAR") && ics.contains("BEGIN:VEVENT"),
        "{ics}"
    );
    let id = overrides[0]["id"].as_str().unwrap();
    let removed = b
        .post(&format!("/schedules/primary/overrides/{id}/delete"), &[])
        .await;
    assert_eq!(removed.status, StatusCode::SEE_OTHER);
    let (_, schedule) = app.get("/api/v1/schedules/primary").await;
    assert!(schedule["overrides"].as_array().unwrap().is_empty());

    let (_, bo) = app.get("/api/v1/users/bo@example.com").await;
    let (s, body) = app
        .post(
            "/api/v1/escalation-policies",
            json!({"name": "checkout-oncall", "levels": [
                {"delay_minutes": 10, "targets": [{"type": "schedule", "id": schedule["id"]}]},
                {"delay_minutes": 10, "targets": [{"type": "user", "id": bo["id"]}]}
            ]}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
    let policies = b.get("/policies").await;
    assert!(
        policies.html.contains("/policies/checkout-oncall"),
        "{}",
        policies.html
    );
    let policy = b.get("/policies/checkout-oncall").await;
    assert!(policy.html.contains("Level 2"), "{}", policy.html);
    assert!(
        between(&policy.html, "Level 2", "</li>").contains("Now reaches <strong>Bo</strong>"),
        "{}",
        policy.html
    );
}

#[tokio::test]
async fn noise_is_managed_from_its_page_and_alerts_say_why_they_did_not_page() {
    let app = TestApp::spawn().await;
    let mut b = owner_signed_in(&app).await;
    let key = app.service_with_key("search").await;
    let empty = b
        .post(
            "/noise/silences",
            &[
                ("matchers", ""),
                ("starts_at", "2026-01-01T00:00"),
                ("hours", "2"),
                ("comment", "x"),
            ],
        )
        .await;
    assert_eq!(empty.status, StatusCode::BAD_REQUEST);
    assert!(
        empty.html.contains(r#"id="matchers-problem""#),
        "{}",
        empty.html
    );
    let no_hours = b
        .post(
            "/noise/silences",
            &[
                ("matchers", "@service=\"search\""),
                ("starts_at", "2026-01-01T00:00"),
                ("hours", "-1"),
                ("comment", "failover"),
            ],
        )
        .await;
    assert!(
        no_hours.html.contains(r#"id="hours-problem""#),
        "{}",
        no_hours.html
    );
    assert!(no_hours.html.contains("failover"), "the comment is kept");
    let now = chrono::Utc::now().format("%Y-%m-%dT%H:%M").to_string();
    let made = b
        .post(
            "/noise/silences",
            &[
                (
                    "matchers",
                    "@service=\"search\"\nseverity=~\"warning|error\"",
                ),
                ("starts_at", &now),
                ("hours", "2"),
                ("comment", "reindexing"),
            ],
        )
        .await;
    assert_eq!(made.status, StatusCode::SEE_OTHER, "{}", made.html);
    let (_, silences) = app.get("/api/v1/silences").await;
    assert_eq!(silences["items"].as_array().unwrap().len(), 1, "{silences}");

    app.enqueue(TestApp::trigger(&key, "slow-queries", "warning"))
        .await;
    let alerts = b.get("/alerts").await;
    assert!(
        alerts.html.contains("Did not page: silenced by") && alerts.html.contains("reindexing"),
        "{}",
        alerts.html
    );
    let id = silences["items"][0]["id"].as_str().unwrap();
    let expired = b.post(&format!("/noise/silences/{id}/expire"), &[]).await;
    assert_eq!(expired.status, StatusCode::SEE_OTHER);
    let (_, silence) = app.get(&format!("/api/v1/silences/{id}")).await;
    assert_eq!(silence["state"], "expired", "{silence}");

    let bad_cron = b
        .post(
            "/noise/maintenance",
            &[
                ("service", "search"),
                ("kind", "cron"),
                ("expression", "every sunday"),
                ("time_zone", "Europe/Berlin"),
                ("duration_minutes", "60"),
            ],
        )
        .await;
    assert_eq!(bad_cron.status, StatusCode::BAD_REQUEST);
    assert!(
        bad_cron
            .html
            .contains(r#"id="schedule.expression-problem""#),
        "{}",
        bad_cron.html
    );
    let window = b
        .post(
            "/noise/maintenance",
            &[
                ("service", "search"),
                ("description", "Upgrade"),
                ("kind", "cron"),
                ("expression", "0 2 * * SUN"),
                ("time_zone", "Europe/Berlin"),
                ("duration_minutes", "60"),
            ],
        )
        .await;
    assert_eq!(window.status, StatusCode::SEE_OTHER, "{}", window.html);
    let noise = b.get("/noise").await;
    assert!(
        noise.html.contains("cron 0 2 * * SUN (Europe/Berlin)"),
        "{}",
        noise.html
    );
    let service = b.get("/services/search").await;
    assert!(
        service.html.contains("Upgrade"),
        "the service shows its windows"
    );

    let rule = b
        .post(
            "/noise/rules",
            &[
                ("name", "Route DB"),
                ("matchers", "component=\"db\""),
                ("action", "route"),
                ("argument", "nowhere"),
            ],
        )
        .await;
    assert_eq!(rule.status, StatusCode::BAD_REQUEST, "{}", rule.html);
    assert!(
        rule.html.contains("Route DB"),
        "what was typed is kept: {}",
        rule.html
    );
    let rule = b
        .post(
            "/noise/rules",
            &[
                ("name", "Quiet info"),
                ("matchers", "severity=\"info\""),
                ("action", "suppress"),
            ],
        )
        .await;
    assert_eq!(rule.status, StatusCode::SEE_OTHER, "{}", rule.html);
    let (_, rules) = app.get("/api/v1/rules").await;
    assert_eq!(rules["items"][0]["name"], "Quiet info", "{rules}");
}

#[tokio::test]
async fn administration_adds_people_gives_roles_makes_tokens_and_reads_the_audit_log() {
    let app = TestApp::spawn().await;
    let mut b = owner_signed_in(&app).await;
    let mut rita = person(&app, "Rita", "rita@example.com", "responder").await;
    assert_eq!(rita.get("/admin").await.status, StatusCode::FORBIDDEN);
    assert!(
        !rita.get("/").await.html.contains(r#"href="/admin""#),
        "no link to a page one may not see"
    );
    assert_eq!(
        rita.post("/admin/tokens", &[("name", "mine"), ("role", "owner")])
            .await
            .status,
        StatusCode::FORBIDDEN
    );

    let page = b.get("/admin").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.html.contains("rita@example.com"), "{}", page.html);
    let bad = b
        .post(
            "/admin/people",
            &[
                ("name", "Sam"),
                ("email", "not-an-email"),
                ("role", "observer"),
            ],
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(
        bad.html.contains(r#"id="email-problem""#) && bad.html.contains("not-an-email"),
        "{}",
        bad.html
    );
    let added = b
        .post(
            "/admin/people",
            &[
                ("name", "Sam"),
                ("email", "sam@example.com"),
                ("role", "observer"),
                ("time_zone", "Europe/Paris"),
            ],
        )
        .await;
    assert_eq!(added.status, StatusCode::CREATED, "{}", added.html);
    let link = between(&added.html, r#"<code id="shown-once">"#, "</code>").to_owned();
    assert!(
        link.contains("/account/"),
        "without SMTP the invitation link is shown to pass on: {link}"
    );
    let (_, sam) = app.get("/api/v1/users/sam@example.com").await;
    assert_eq!(
        (sam["role"].as_str(), sam["time_zone"].as_str()),
        (Some("observer"), Some("Europe/Paris"))
    );
    let twice = b
        .post(
            "/admin/people",
            &[
                ("name", "Sam Again"),
                ("email", "sam@example.com"),
                ("role", "observer"),
            ],
        )
        .await;
    assert_eq!(twice.status, StatusCode::BAD_REQUEST);
    assert!(
        twice.html.contains(r#"id="email-problem""#),
        "a taken email is the email's problem: {}",
        twice.html
    );
    let mut sam_browser = Browser::new(&app);
    let joined = sam_browser
        .post(&link, &[("password", "sam's own passphrase")])
        .await;
    assert_eq!(joined.status, StatusCode::SEE_OTHER, "{}", joined.html);

    let sam_id = sam["id"].as_str().unwrap();
    let signed_up = b.post(&format!("/admin/people/{sam_id}/invite"), &[]).await;
    assert_eq!(signed_up.status, StatusCode::CONFLICT, "{}", signed_up.html);
    assert!(
        signed_up.html.contains(r#"role="alert""#),
        "{}",
        signed_up.html
    );
    let promoted = b
        .post(
            &format!("/admin/people/{sam_id}/role"),
            &[("role", "responder")],
        )
        .await;
    assert_eq!(promoted.status, StatusCode::SEE_OTHER, "{}", promoted.html);
    let (_, sam) = app.get("/api/v1/users/sam@example.com").await;
    assert_eq!(sam["role"], "responder");

    let no_name = b
        .post(
            "/admin/tokens",
            &[("name", " "), ("role", "observer"), ("days", "30")],
        )
        .await;
    assert!(
        no_name.html.contains(r#"id="name-problem""#),
        "{}",
        no_name.html
    );
    let made = b
        .post(
            "/admin/tokens",
            &[("name", "grafana"), ("role", "observer"), ("days", "30")],
        )
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.html);
    let token = between(&made.html, r#"<code id="shown-once">"#, "</code>").to_owned();
    let (s, _) = app
        .send(
            app.client
                .get(format!("{}/api/v1/services", app.url))
                .bearer_auth(&token),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "the token works");
    let (s, _) = app
        .send(
            app.client
                .post(format!("{}/api/v1/services", app.url))
                .bearer_auth(&token)
                .json(&json!({"name": "x"})),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "with the role it was given");
    let (_, tokens) = app.get("/api/v1/tokens").await;
    let id = tokens["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "grafana")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let revoked = b.post(&format!("/admin/tokens/{id}/revoke"), &[]).await;
    assert_eq!(revoked.status, StatusCode::SEE_OTHER);
    let (s, _) = app
        .send(
            app.client
                .get(format!("{}/api/v1/services", app.url))
                .bearer_auth(&token),
        )
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);

    // Teams: made with members, a bad email shown beside the members, renamed.
    let bad_team = b
        .post(
            "/admin/teams",
            &[
                ("name", "payments"),
                ("members", "rita@example.com\nno-at-sign"),
            ],
        )
        .await;
    assert_eq!(bad_team.status, StatusCode::BAD_REQUEST);
    assert!(
        bad_team.html.contains(r#"id="members-problem""#),
        "{}",
        bad_team.html
    );
    let team = b
        .post(
            "/admin/teams",
            &[("name", "payments"), ("members", "rita@example.com")],
        )
        .await;
    assert_eq!(team.status, StatusCode::SEE_OTHER, "{}", team.html);
    let (_, t) = app.get("/api/v1/teams/payments").await;
    assert_eq!(t["members"][0], "rita@example.com", "{t}");
    let renamed = b
        .post(
            "/admin/teams/payments",
            &[
                ("name", "payments-eu"),
                ("members", "rita@example.com\nsam@example.com"),
            ],
        )
        .await;
    assert_eq!(renamed.status, StatusCode::SEE_OTHER, "{}", renamed.html);
    let (_, t) = app.get("/api/v1/teams/payments-eu").await;
    assert_eq!(t["members"].as_array().unwrap().len(), 2, "{t}");
    // A person's details, refused beside the field of the row being edited.
    let bad_zone = b
        .post(
            &format!("/admin/people/{sam_id}"),
            &[
                ("name", "Sam"),
                ("email", "sam@example.com"),
                ("time_zone", "Mars/Olympus"),
            ],
        )
        .await;
    assert_eq!(bad_zone.status, StatusCode::BAD_REQUEST);
    assert!(
        bad_zone.html.contains("Mars/Olympus")
            && bad_zone.html.contains(r#"id="time_zone-problem""#),
        "{}",
        bad_zone.html
    );

    let audit = b.get("/admin/audit?action=token").await;
    assert_eq!(audit.status, StatusCode::OK);
    assert!(
        audit.html.contains("token.create")
            && audit.html.contains("token.revoke")
            && !audit.html.contains("user.set_role"),
        "{}",
        audit.html
    );
    let by_role = b.get("/admin/audit?action=user.set_role").await;
    assert!(
        by_role.html.contains("sam@example.com") || by_role.html.contains(sam_id),
        "{}",
        by_role.html
    );
    let bad_since = b.get("/admin/audit?since=yesterday").await;
    assert_eq!(bad_since.status, StatusCode::BAD_REQUEST);
    assert!(bad_since.html.contains(r#"id="since-problem""#));
    assert_eq!(rita.get("/admin/audit").await.status, StatusCode::FORBIDDEN);
}

/// A page request: method, path, form, and the least role that may send it.
type PageCheck = (
    &'static str,
    String,
    Vec<(&'static str, String)>,
    &'static str,
);

/// Every page and every form of the UI with a request valid for it, and the least role it needs of someone outside
/// the fixture's team (so a team's things need an admin) acting on Dana's things (so hers need an admin too).
/// Destructive requests come last, each on its own object.
fn page_matrix(f: &Fixture, me: &str) -> Vec<PageCheck> {
    let d = &f.dana;
    let get = |p: &str, needs| ("GET", p.to_owned(), Vec::new(), needs);
    let post = |p: &str, form: &[(&'static str, &str)], needs| {
        (
            "POST",
            p.to_owned(),
            form.iter().map(|(k, v)| (*k, (*v).to_owned())).collect(),
            needs,
        )
    };
    vec![
        get("/", "observer"),
        get("/incidents", "observer"),
        get("/incidents?fragment=1", "observer"),
        get("/incidents?status=all&team=payments&within=7d", "observer"),
        get("/incidents/1", "observer"),
        get("/incidents/1/timeline", "observer"),
        get("/alerts", "observer"),
        get("/services", "observer"),
        get("/services/checkout", "observer"),
        get("/schedules", "observer"),
        get("/schedules/primary", "observer"),
        get("/policies", "observer"),
        get("/policies/pol", "observer"),
        get("/schedules/new", "observer"),
        get("/schedules/primary/edit", "observer"),
        get("/policies/new", "observer"),
        get("/policies/pol/edit", "observer"),
        get("/noise", "observer"),
        get("/profile", "observer"),
        get("/admin", "admin"),
        get("/admin/audit", "admin"),
        get("/catalog", "observer"),
        get("/severities", "observer"),
        get("/status-pages", "observer"),
        get("/status-pages/public", "observer"),
        get("/status/public", "observer"),
        get("/catalog.yaml", "observer"),
        get(&format!("/admin/people/{d}/sessions"), "admin"),
        post(
            "/incidents",
            &[
                ("title", "Customers report failures"),
                ("severity", "SEV-2"),
                ("services", "checkout"),
            ],
            "responder",
        ),
        post("/incidents/1/acknowledge", &[], "responder"),
        post("/incidents/1/notes", &[("body", "a note")], "responder"),
        post(
            "/incidents/1/severity",
            &[("severity", "SEV-2")],
            "responder",
        ),
        post("/incidents/1/escalate", &[], "responder"),
        post(
            "/incidents/1/links",
            &[
                ("url", "https://grafana.example.com/d/x"),
                ("label", "Board"),
            ],
            "responder",
        ),
        post(
            "/incidents/1/unlink",
            &[("url", "https://grafana.example.com/d/x")],
            "responder",
        ),
        post(
            "/severities/SEV-3",
            &[("name", "minor"), ("definition", "Little harm.")],
            "admin",
        ),
        post(
            "/catalog",
            &[
                ("document", "services:\n  - name: ledger-preview\n"),
                ("mode", "preview"),
            ],
            "admin",
        ),
        post("/incidents/1/responders", &[("users", me)], "responder"),
        post(
            "/incidents/1/assign",
            &[("role", "expert"), ("user", me)],
            "responder",
        ),
        post(
            "/incidents/1/release",
            &[("role", "expert"), ("user", me)],
            "responder",
        ),
        post("/incidents/1/join", &[], "responder"),
        post(
            "/incidents/1/tasks",
            &[("title", "Open a bridge")],
            "responder",
        ),
        post("/incidents/1/task-done", &[("task", "1")], "responder"),
        post("/incidents/1/task-undone", &[("task", "1")], "responder"),
        get("/response", "observer"),
        post(
            "/response/roles",
            &[("key", "liaison"), ("name", "Customer liaison")],
            "admin",
        ),
        post(
            "/response/roles/scribe/edit",
            &[("name", "Scribe"), ("instructions", "Write it down.")],
            "admin",
        ),
        post(
            "/response/roles/scribe/defaults",
            &[("target", &format!("user:{me}"))],
            "admin",
        ),
        post(
            "/response/roles/scribe/remove-default",
            &[("default", "0")],
            "admin",
        ),
        post("/response/roles/liaison/delete", &[], "admin"),
        post(
            "/response/checklists",
            &[
                ("key", "sev0"),
                ("name", "SEV-0"),
                ("lines", "Open a bridge"),
            ],
            "admin",
        ),
        post("/response/checklists/sev0/delete", &[], "admin"),
        get("/runbooks", "observer"),
        post(
            "/runbooks",
            &[
                ("key", "disk"),
                ("title", "Disk full"),
                ("body", "Free space."),
            ],
            "admin",
        ),
        get("/runbooks/disk", "observer"),
        get("/runbooks/disk?version=1", "observer"),
        post(
            "/runbooks/disk",
            &[("title", "Disk full"), ("body", "Free more space.")],
            "admin",
        ),
        post("/runbooks/disk/delete", &[], "admin"),
        get("/secrets", "admin"),
        post(
            "/secrets",
            &[("name", "spare"), ("value", "s3cret")],
            "admin",
        ),
        post("/secrets/spare/delete", &[], "admin"),
        post(
            "/incidents/1/run",
            &[("runbook", "disk"), ("step", "restart")],
            "responder",
        ),
        post(
            "/incidents/1/approve-run",
            &[("run", "run_01jdq9a3k2m7x8v4n5p6r7s8t9")],
            "responder",
        ),
        post(
            "/incidents/1/decline-run",
            &[("run", "run_01jdq9a3k2m7x8v4n5p6r7s8t9")],
            "responder",
        ),
        post(
            "/incidents/1/retry-run",
            &[("run", "run_01jdq9a3k2m7x8v4n5p6r7s8t9")],
            "responder",
        ),
        post(
            "/incidents/1/update",
            &[
                ("message", "Failing over the database."),
                ("audiences", "responders"),
            ],
            "responder",
        ),
        post("/incidents/1/subscribe", &[], "observer"),
        post("/services/checkout/subscribe", &[], "observer"),
        post(
            "/services/checkout/unsubscribe",
            &[("subscription", "sub_01jdq9a3k2m7x8v4n5p6r7s8t9")],
            "observer",
        ),
        post(
            "/incidents/1/unsubscribe",
            &[("subscription", "sub_01jdq9a3k2m7x8v4n5p6r7s8t9")],
            "observer",
        ),
        post("/incidents/1/leave", &[], "responder"),
        post(
            "/incidents/1/edit",
            &[("title", "Checkout down"), ("services", "checkout")],
            "responder",
        ),
        post(
            "/incidents/1/reassign",
            &[("to", "policy:pol")],
            "responder",
        ),
        post(
            "/noise/silences",
            &[
                ("matchers", "x=\"y\""),
                ("starts_at", "2026-01-01T00:00"),
                ("hours", "2"),
                ("comment", "c"),
            ],
            "responder",
        ),
        post(
            "/schedules/primary/overrides",
            &[
                ("user", me),
                ("start", "2035-05-01T09:00:00Z"),
                ("end", "2035-05-01T10:00:00Z"),
            ],
            "responder",
        ),
        post(
            "/profile/time-zone",
            &[("time_zone", "Europe/Berlin")],
            "responder",
        ),
        post(
            "/profile/methods",
            &[
                ("name", "mail"),
                ("kind", "email"),
                ("target", "me@example.com"),
            ],
            "responder",
        ),
        post("/profile/feed", &[], "responder"),
        // Anyone may link their own Slack account: an observer's clicks are then refused by role, not by name.
        post("/profile/slack/code", &[], "observer"),
        post("/profile/slack/T0001/U0001/unlink", &[], "observer"),
        post(
            "/status-pages/public/components",
            &[("name", "Checkout")],
            "admin",
        ),
        post(
            "/status-pages/public/components/cmp_01jdq9a3k2m7x8v4n5p6r7s8t9/status",
            &[("status", "major_outage")],
            "admin",
        ),
        post(
            "/status-pages/public/components/cmp_01jdq9a3k2m7x8v4n5p6r7s8t9/delete",
            &[],
            "admin",
        ),
        post(
            "/status-pages",
            &[("name", "Other"), ("slug", "other")],
            "admin",
        ),
        post("/schedules/primary/feed", &[], "responder"),
        post(
            "/profile/rules",
            &[("method", &f.method), ("urgency", "low"), ("delay", "5")],
            "responder",
        ),
        post(
            "/profile/password",
            &[
                ("current", "wrong"),
                ("password", "another long passphrase"),
            ],
            "observer",
        ),
        post(
            "/schedules/primary/overrides",
            &[
                ("user", d),
                ("start", "2035-05-02T09:00:00Z"),
                ("end", "2035-05-02T10:00:00Z"),
            ],
            "admin",
        ),
        post("/services", &[("name", "ledger")], "admin"),
        post(
            "/schedules",
            &[
                ("name", "secondary"),
                ("time_zone", "UTC"),
                ("layer0_name", "l"),
                ("layer0_participants", "dana@example.com"),
                ("layer0_every", "days"),
                ("layer0_count", "1"),
                ("layer0_start", "2026-03-02T09:00"),
            ],
            "admin",
        ),
        post(
            "/schedules/primary",
            &[
                ("name", "primary"),
                ("time_zone", "UTC"),
                ("team", "payments"),
                ("layer0_name", "l"),
                ("layer0_participants", "dana@example.com"),
                ("layer0_every", "days"),
                ("layer0_count", "1"),
                ("layer0_start", "2026-03-02T09:00"),
            ],
            "admin",
        ),
        post(
            "/policies",
            &[
                ("name", "other"),
                ("level0_targets", &format!("user:{d}")),
                ("level0_delay", "5"),
            ],
            "admin",
        ),
        post(
            "/policies/pol",
            &[
                ("name", "pol"),
                ("team", "payments"),
                ("level0_targets", &format!("user:{d}")),
                ("level0_delay", "5"),
            ],
            "admin",
        ),
        post(
            "/services/checkout",
            &[("name", "checkout"), ("team", "payments")],
            "admin",
        ),
        post("/services/checkout/policy", &[("policy", "pol")], "admin"),
        post(
            "/services/checkout/integrations",
            &[("kind", "grafana")],
            "admin",
        ),
        post(
            "/noise/rules",
            &[
                ("name", "quieter"),
                ("matchers", "env=\"qa\""),
                ("action", "suppress"),
            ],
            "admin",
        ),
        post(
            "/noise/maintenance",
            &[
                ("service", "checkout"),
                ("kind", "once"),
                ("starts_at", "2035-01-02T00:00"),
                ("ends_at", "2035-01-02T01:00"),
            ],
            "admin",
        ),
        post(
            "/admin/people",
            &[
                ("name", "Lee"),
                ("email", "lee@example.com"),
                ("role", "observer"),
            ],
            "admin",
        ),
        post(
            "/admin/tokens",
            &[("name", "t"), ("role", "observer"), ("days", "30")],
            "admin",
        ),
        post(&format!("/admin/people/{d}/invite"), &[], "admin"),
        post(
            &format!("/admin/people/{d}/role"),
            &[("role", "responder")],
            "owner",
        ),
        post(
            &format!("/admin/people/{d}"),
            &[
                ("name", "Dana"),
                ("email", "dana@example.com"),
                ("time_zone", "UTC"),
            ],
            "admin",
        ),
        post(
            "/admin/teams",
            &[("name", "ops"), ("members", "dana@example.com")],
            "admin",
        ),
        post(
            "/admin/teams/payments",
            &[("name", "payments"), ("members", "dana@example.com")],
            "admin",
        ),
        post("/admin/paging", &[("policy", "")], "admin"),
        post(
            &format!("/profile/methods/{}", f.method),
            &[("name", "mail"), ("enabled", "1")],
            "admin",
        ),
        post(
            "/profile/status-updates",
            &[("acknowledged", "1")],
            "responder",
        ),
        post(
            &format!("/noise/rules/{}", f.noise_rule),
            &[
                ("name", "quiet"),
                ("matchers", "env=\"dev\""),
                ("action", "suppress"),
            ],
            "admin",
        ),
        post(
            &format!("/noise/silences/{}/extend", f.silence),
            &[("hours", "1")],
            "responder",
        ),
        post(
            &format!("/services/checkout/integrations/{}", f.integration),
            &[("config", r#"{"rate_limit": {"per_second": 5}}"#)],
            "admin",
        ),
        post(&format!("/profile/methods/{}/test", f.method), &[], "admin"),
        post(
            &format!("/profile/sessions/{}/end", f.session),
            &[],
            "admin",
        ),
        // Destructive, each on its own object, after everything that uses them.
        post("/incidents/1/resolve", &[], "responder"),
        post(
            &format!("/noise/silences/{}/expire", f.silence),
            &[],
            "responder",
        ),
        post(
            &format!("/schedules/primary/overrides/{}/delete", f.overriding),
            &[],
            "admin",
        ),
        post(&format!("/profile/rules/{}/delete", f.rule), &[], "admin"),
        post(
            &format!("/profile/methods/{}/delete", f.method),
            &[],
            "admin",
        ),
        post(
            &format!("/noise/maintenance/{}/delete", f.maintenance),
            &[],
            "admin",
        ),
        post(
            &format!("/noise/rules/{}/delete", f.noise_rule),
            &[],
            "admin",
        ),
        post(&format!("/admin/tokens/{}/revoke", f.token), &[], "admin"),
        post(
            &format!("/services/checkout/integrations/{}/revoke", f.integration),
            &[],
            "admin",
        ),
        post(&format!("/feeds/{}/revoke", f.feed), &[], "admin"),
        post(
            &format!("/admin/people/{d}/sessions/{}/end", f.session),
            &[],
            "admin",
        ),
        post("/services/checkout/delete", &[], "admin"),
        post("/policies/pol/delete", &[], "admin"),
        post("/schedules/primary/delete", &[], "admin"),
        post("/admin/teams/ops/delete", &[], "admin"),
        post(&format!("/admin/people/{d}/delete"), &[], "admin"),
    ]
}

/// The page routes the UI serves, read from its router, with their path parameters as `{name}`.
fn page_routes() -> Vec<(String, String)> {
    let source = include_str!("../../src/web/mod.rs");
    let mut routes = Vec::new();
    let mut rest = source;
    while let Some(at) = rest.find(".route(") {
        rest = &rest[at + ".route(".len()..];
        let path = between(rest, "\"", "\"").to_owned();
        let end = rest.find("\n        .route(").unwrap_or(rest.len());
        let handlers = &rest[..end];
        for method in ["get", "post"] {
            if handlers.contains(&format!("{method}(")) {
                routes.push((method.to_uppercase(), path.clone()));
            }
        }
    }
    routes
}

/// Pages anyone may open, signed in or not.
const PUBLIC: [&str; 8] = [
    "/status/{page}",
    "/login",
    "/logout",
    "/forgot",
    "/account/{token}",
    "/assets/{file}",
    "/login/sso",
    "/login/sso/callback",
];

#[tokio::test]
async fn every_page_answers_each_role_as_the_role_allows() {
    let mut checked = 0;
    for role in ROLES {
        let app = TestApp::spawn().await;
        let fixture = fixture(&app).await;
        let email = format!("{role}@example.com");
        let mut b = person(&app, &format!("Pat {role}"), &email, role).await;
        let (_, me) = app.get(&format!("/api/v1/users/{email}")).await;
        let me = me["id"].as_str().unwrap().to_owned();
        let matrix = page_matrix(&fixture, &me);
        if role == "observer" {
            for (method, template) in page_routes() {
                let covered = matrix.iter().any(|(m, p, ..)| {
                    *m == method && crate::roles::fits(&template, p.split('?').next().unwrap())
                });
                assert!(
                    covered || PUBLIC.contains(&template.as_str()),
                    "{method} {template} is missing from the page matrix"
                );
            }
        }
        for (method, path, form, needs) in matrix {
            let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let page = match method {
                "GET" => b.get(&path).await,
                _ => b.post(&path, &form).await,
            };
            let s = page.status;
            if rank(role) >= rank(needs) {
                assert!(
                    s != StatusCode::FORBIDDEN
                        && s.as_u16() < 500
                        && page
                            .location
                            .as_deref()
                            .is_none_or(|l| !l.starts_with("/login")),
                    "{role} may {method} {path}, got {s}: {}",
                    page.html
                );
            } else {
                assert_eq!(
                    s,
                    StatusCode::FORBIDDEN,
                    "{role} may not {method} {path}: {}",
                    page.html
                );
                assert!(page.html.contains("Not allowed"), "{}", page.html);
            }
            checked += 1;
        }
    }
    assert!(checked > 4 * 45, "{checked} checks");
}

#[tokio::test]
async fn the_incident_page_adds_responders_reassigns_edits_and_shows_who_was_notified() {
    let app = TestApp::spawn().await;
    let mut b = owner_signed_in(&app).await;
    let (_, olga) = app.get("/api/v1/users/olga@example.com").await;
    let olga_id = olga["id"].as_str().unwrap().to_owned();
    let hook = crate::support::WebhookReceiver::start().await;
    let (s, method) = app
        .post(
            &format!("/api/v1/users/{olga_id}/contact-methods"),
            json!({"name": "hook", "target": {"type": "webhook", "url": format!("{}/olga", hook.url)}}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{method}");
    let key = app.service_with_key("checkout").await;
    app.post(
        "/api/v1/services",
        json!({"name": "payments", "runbook_url": "https://wiki.example.com/payments"}),
    )
    .await;
    app.enqueue(TestApp::trigger(&key, "cart", "critical"))
        .await;

    let none = b.post("/incidents/1/responders", &[]).await;
    assert_eq!(none.status, StatusCode::BAD_REQUEST);
    assert!(
        none.html.contains(r#"id="responders-problem""#),
        "{}",
        none.html
    );
    let paged = b
        .post("/incidents/1/responders", &[("users", &olga_id)])
        .await;
    assert_eq!(paged.status, StatusCode::SEE_OTHER, "{}", paged.html);
    hook.wait_for(&app, 1).await;
    let page = b.get("/incidents/1").await;
    let notified = between(&page.html, "Who was notified", "</section>");
    assert!(
        notified.contains("Olga Owner")
            && notified.contains("by webhook (page): <strong>delivered")
            && notified.contains("HTTP 200"),
        "{notified}"
    );

    let untitled = b
        .post(
            "/incidents/1/edit",
            &[
                ("title", " "),
                ("description", "kept"),
                ("services", "checkout"),
            ],
        )
        .await;
    assert_eq!(untitled.status, StatusCode::BAD_REQUEST);
    assert!(
        untitled.html.contains(r#"id="title-problem""#)
            && untitled.html.contains(">kept</textarea>"),
        "{}",
        untitled.html
    );
    let edited = b
        .post(
            "/incidents/1/edit",
            &[
                ("original_title", "cart failing"),
                ("original_services", "checkout"),
                ("title", "Cart fails to load"),
                (
                    "description",
                    "Started after **deploy 41**\r\nRolling back.",
                ),
                ("customer_impact", "No checkouts"),
                ("services", "checkout"),
                ("services", "payments"),
            ],
        )
        .await;
    assert_eq!(edited.status, StatusCode::SEE_OTHER, "{}", edited.html);
    let (_, incident) = app.get("/api/v1/incidents/1").await;
    assert_eq!(incident["title"], "Cart fails to load");
    assert_eq!(
        incident["description"], "Started after **deploy 41**\nRolling back.",
        "line breaks as people write them"
    );
    assert_eq!(
        incident["services"].as_array().unwrap().len(),
        2,
        "{incident}"
    );
    // An edit sends only what changed from the page it was made on: a service someone else removed meanwhile
    // stays removed when this person only retitles.
    let (s, _) = app
        .send(
            app.req(reqwest::Method::PATCH, "/api/v1/incidents/1")
                .json(&json!({"remove_services": ["payments"]})),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let retitled = b
        .post(
            "/incidents/1/edit",
            &[
                ("original_title", "Cart fails to load"),
                ("original_services", "checkout"),
                ("original_services", "payments"),
                ("title", "Cart fails to load for everyone"),
                ("services", "checkout"),
                ("services", "payments"),
            ],
        )
        .await;
    assert_eq!(retitled.status, StatusCode::SEE_OTHER, "{}", retitled.html);
    let (_, incident) = app.get("/api/v1/incidents/1").await;
    assert_eq!(
        incident["services"].as_array().unwrap().len(),
        1,
        "{incident}"
    );
    app.send(
        app.req(reqwest::Method::PATCH, "/api/v1/incidents/1")
            .json(&json!({"add_services": ["payments"]})),
    )
    .await;
    let page = b.get("/incidents/1").await;
    assert!(
        page.html.contains("<strong>deploy 41</strong>"),
        "{}",
        page.html
    );
    assert!(
        between(&page.html, r#"<h2 id="runbooks-title">"#, "</section>")
            .contains("https://wiki.example.com/payments"),
        "the runbooks of its services"
    );

    let nobody = b.post("/incidents/1/reassign", &[("to", "")]).await;
    assert!(
        nobody.html.contains(r#"id="to-problem""#),
        "{}",
        nobody.html
    );
    let handed = b
        .post(
            "/incidents/1/reassign",
            &[("to", &format!("user:{olga_id}"))],
        )
        .await;
    assert_eq!(handed.status, StatusCode::SEE_OTHER, "{}", handed.html);
    let (_, escalation) = app.get("/api/v1/incidents/1/escalation").await;
    assert_eq!(
        escalation["escalation"]["assignees"][0],
        olga_id.as_str(),
        "{escalation}"
    );

    b.post("/incidents/1/resolve", &[]).await;
    let again = b.post("/incidents/1/acknowledge", &[]).await;
    assert_eq!(
        again.status,
        StatusCode::CONFLICT,
        "a refusal is shown on the page: {}",
        again.html
    );
    assert!(
        again.html.contains("#1 Cart fails to load"),
        "{}",
        again.html
    );
}

#[tokio::test]
async fn schedules_and_policies_are_made_and_changed_from_their_forms() {
    let app = TestApp::spawn().await;
    let mut b = owner_signed_in(&app).await;
    for (name, email) in [("Ann", "ann@example.com"), ("Bo", "bo@example.com")] {
        app.post("/api/v1/users", json!({"name": name, "email": email}))
            .await;
    }
    let form = b.get("/schedules/new").await;
    assert!(
        form.html.contains(r#"name="layer0_participants""#),
        "{}",
        form.html
    );
    let layer = |participants: &'static str, restrictions: &'static str| {
        vec![
            ("name", "primary"),
            ("time_zone", "Europe/Berlin"),
            ("layer0_name", "weekdays"),
            ("layer0_participants", participants),
            ("layer0_every", "weeks"),
            ("layer0_count", "1"),
            ("layer0_start", "2026-03-02T09:00"),
            ("layer0_restrictions", restrictions),
            ("layer1_name", ""),
            ("layer1_participants", ""),
            ("layer1_every", "weeks"),
            ("layer1_count", "1"),
        ]
    };
    let stranger = b
        .post(
            "/schedules",
            &layer("ann@example.com\nnobody@example.com", ""),
        )
        .await;
    assert_eq!(stranger.status, StatusCode::BAD_REQUEST);
    assert!(
        stranger
            .html
            .contains("no user with email nobody@example.com")
            && stranger.html.contains("nobody@example.com</textarea>"),
        "the problem beside the layer's people, what was typed kept: {}",
        stranger.html
    );
    let funday = b
        .post(
            "/schedules",
            &layer("ann@example.com", "Funday 10:00-12:00"),
        )
        .await;
    assert!(
        funday
            .html
            .contains("line 1: &#34;Funday&#34; is not a day"),
        "{}",
        funday.html
    );
    let made = b
        .post(
            "/schedules",
            &layer("ann@example.com\nbo@example.com", "Mon-Fri 09:00-17:00"),
        )
        .await;
    assert_eq!(
        made.location.as_deref(),
        Some("/schedules/primary"),
        "{}",
        made.html
    );
    let (_, schedule) = app.get("/api/v1/schedules/primary").await;
    assert_eq!(
        schedule["layers"][0]["participants"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        schedule["layers"][0]["restrictions"][0]["days"][4], "Fri",
        "{schedule}"
    );
    assert_eq!(schedule["layers"][0]["start"], "2026-03-02T09:00:00");

    let edit = b.get("/schedules/primary/edit").await;
    assert!(
        edit.html
            .contains("ann@example.com\nbo@example.com</textarea>")
            && edit
                .html
                .contains("Mon Tue Wed Thu Fri 09:00-17:00</textarea>"),
        "the editor shows the schedule as it was written: {}",
        edit.html
    );
    // The first layer emptied (removed), the second with a bad shift length: the problem is the second's.
    let mut second = vec![
        ("name", "primary"),
        ("time_zone", "Europe/Berlin"),
        ("layer0_name", ""),
        ("layer0_participants", ""),
        ("layer1_name", "nights"),
        ("layer1_participants", "bo@example.com"),
        ("layer1_every", "hours"),
        ("layer1_count", "0"),
        ("layer1_start", "2026-03-02T22:00"),
    ];
    let bad = b.post("/schedules/primary", &second).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    let problem = bad.html.find("field-error").expect("a problem shown");
    assert!(
        problem > bad.html.find(r#"name="layer1_count""#).unwrap(),
        "shown in the second layer: {}",
        bad.html
    );
    second[7] = ("layer1_count", "12");
    let saved = b.post("/schedules/primary", &second).await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.html);
    let (_, schedule) = app.get("/api/v1/schedules/primary").await;
    assert_eq!(
        (
            schedule["layers"].as_array().unwrap().len(),
            schedule["layers"][0]["name"].as_str()
        ),
        (1, Some("nights"))
    );

    let (_, bo) = app.get("/api/v1/users/bo@example.com").await;
    let (schedule_target, bo_target) = (
        format!("schedule:{}", schedule["id"].as_str().unwrap()),
        format!("user:{}", bo["id"].as_str().unwrap()),
    );
    let policy = |delay: &'static str| {
        vec![
            ("name", "checkout-oncall".to_owned()),
            ("level0_targets", schedule_target.clone()),
            ("level0_delay", "10".to_owned()),
            ("level1_targets", bo_target.clone()),
            ("level1_delay", delay.to_owned()),
        ]
    };
    let zero = policy("0");
    let zero: Vec<(&str, &str)> = zero.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let refused = b.post("/policies", &zero).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.html);
    assert!(
        refused.html.find("field-error").unwrap()
            > refused.html.find(r#"name="level1_delay""#).unwrap(),
        "the second level's delay: {}",
        refused.html
    );
    let ok = policy("20");
    let ok: Vec<(&str, &str)> = ok.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let created = b.post("/policies", &ok).await;
    assert_eq!(
        created.location.as_deref(),
        Some("/policies/checkout-oncall"),
        "{}",
        created.html
    );
    let (_, p) = app.get("/api/v1/escalation-policies/checkout-oncall").await;
    assert_eq!(p["levels"][1]["delay_minutes"], 20, "{p}");
    assert_eq!(p["levels"][1]["targets"][0]["type"], "user");
    let edit = b.get("/policies/checkout-oncall/edit").await;
    assert!(
        edit.html
            .contains(&format!(r#"<option value="{bo_target}" selected>"#)),
        "{}",
        edit.html
    );
    let one = [
        ("name", "checkout-oncall"),
        ("level0_targets", bo_target.as_str()),
        ("level0_delay", "5"),
    ];
    b.post("/policies/checkout-oncall", &one).await;
    let (_, p) = app.get("/api/v1/escalation-policies/checkout-oncall").await;
    assert_eq!(p["levels"].as_array().unwrap().len(), 1, "{p}");

    let in_use = b.post("/schedules/primary/delete", &[]).await;
    assert_eq!(
        in_use.status,
        StatusCode::SEE_OTHER,
        "nothing pages it any more: {}",
        in_use.html
    );
    let gone = b.post("/policies/checkout-oncall/delete", &[]).await;
    assert_eq!(gone.location.as_deref(), Some("/policies"));
    assert_eq!(
        app.get("/api/v1/escalation-policies/checkout-oncall")
            .await
            .0,
        StatusCode::NOT_FOUND
    );

    // A responder makes their own team's schedules: the form starts on their team, and one of no team is refused
    // beside the team with what they typed kept.
    app.post(
        "/api/v1/users",
        json!({"name": "Rita", "email": "rita@example.com"}),
    )
    .await;
    app.post(
        "/api/v1/teams",
        json!({"name": "payments", "members": ["rita@example.com"]}),
    )
    .await;
    let (_, invitation) = app
        .post("/api/v1/users/rita@example.com/invitation", json!({}))
        .await;
    let mut rita = Browser::new(&app);
    rita.post(
        invitation["link"].as_str().unwrap(),
        &[("password", "rita's passphrase")],
    )
    .await;
    let form = rita.get("/schedules/new").await;
    assert!(
        form.html.contains(r#"<option value="payments" selected>"#),
        "{}",
        form.html
    );
    let mut theirs = vec![
        ("name", "payments-primary"),
        ("time_zone", "UTC"),
        ("team", ""),
        ("layer0_name", "everyone"),
        ("layer0_participants", "rita@example.com"),
        ("layer0_every", "days"),
        ("layer0_count", "1"),
        ("layer0_start", "2026-03-02T09:00"),
    ];
    let no_team = rita.post("/schedules", &theirs).await;
    assert_eq!(no_team.status, StatusCode::BAD_REQUEST, "{}", no_team.html);
    assert!(
        no_team.html.contains("choose one of your teams")
            && no_team.html.contains(">rita@example.com</textarea>"),
        "{}",
        no_team.html
    );
    theirs[2] = ("team", "payments");
    let made = rita.post("/schedules", &theirs).await;
    assert_eq!(
        made.location.as_deref(),
        Some("/schedules/payments-primary"),
        "{}",
        made.html
    );
}

#[tokio::test]
async fn incidents_are_declared_by_hand_and_listed_by_team_and_time() {
    let app = TestApp::spawn().await;
    let mut b = owner_signed_in(&app).await;
    app.post("/api/v1/teams", json!({"name": "payments"})).await;
    app.post(
        "/api/v1/services",
        json!({"name": "checkout", "team": "payments"}),
    )
    .await;
    app.post("/api/v1/services", json!({"name": "search"}))
        .await;
    let untitled = b
        .post(
            "/incidents",
            &[
                ("title", " "),
                ("severity", "SEV-1"),
                ("description", "kept"),
            ],
        )
        .await;
    assert_eq!(untitled.status, StatusCode::BAD_REQUEST);
    assert!(
        untitled.html.contains(r#"id="title-problem""#)
            && untitled.html.contains(">kept</textarea>"),
        "{}",
        untitled.html
    );
    let declared = b
        .post(
            "/incidents",
            &[
                ("title", "Customers report failed payments"),
                ("severity", "SEV-1"),
                ("services", "checkout"),
                ("description", "From **support**"),
            ],
        )
        .await;
    assert_eq!(
        declared.location.as_deref(),
        Some("/incidents/1"),
        "{}",
        declared.html
    );
    let (_, incident) = app.get("/api/v1/incidents/1").await;
    assert_eq!(
        (
            incident["severity"].as_str(),
            incident["created_by"]["name"].as_str()
        ),
        (Some("SEV-1"), Some("Olga Owner")),
        "{incident}"
    );
    b.post(
        "/incidents",
        &[
            ("title", "Search is slow"),
            ("severity", "SEV-3"),
            ("services", "search"),
        ],
    )
    .await;
    let by_team = b.get("/incidents?status=all&team=payments").await;
    assert!(
        by_team.html.contains("/incidents/1\"") && !by_team.html.contains("/incidents/2\""),
        "only the team's services' incidents: {}",
        by_team.html
    );
    let recent = b.get("/incidents?status=all&within=24h").await;
    assert!(recent.html.contains("/incidents/2\""), "{}", recent.html);
    let live = b
        .get("/incidents?status=all&team=payments&fragment=1")
        .await;
    assert!(
        !live.html.contains("/incidents/2\""),
        "the live rows keep the filters"
    );
    assert_eq!(
        b.get("/incidents?within=forever").await.status,
        StatusCode::BAD_REQUEST
    );
    let (_, api) = app.get("/api/v1/incidents?team=payments").await;
    assert_eq!(api["items"].as_array().unwrap().len(), 1, "{api}");
}

#[tokio::test]
async fn the_incident_page_keeps_links_and_escalates_to_a_chosen_level() {
    let app = TestApp::spawn().await;
    let mut b = owner_signed_in(&app).await;
    let (_, olga) = app.get("/api/v1/users/olga@example.com").await;
    let (_, sam) = app
        .post(
            "/api/v1/users",
            json!({"name": "Sam Second", "email": "sam@example.com"}),
        )
        .await;
    // A level whose people have no way to be reached passes straight to the next.
    let hook = crate::support::WebhookReceiver::start().await;
    for id in [&olga["id"], &sam["id"]] {
        let (s, body) = app
            .post(
                &format!("/api/v1/users/{}/contact-methods", id.as_str().unwrap()),
                json!({"name": "hook", "target": {"type": "webhook", "url": format!("{}/{}", hook.url, id.as_str().unwrap())}}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{body}");
    }
    let key = app.service_with_key("checkout").await;
    let (s, body) = app
        .post(
            "/api/v1/escalation-policies",
            json!({"name": "two", "levels": [
                {"delay_minutes": 30, "targets": [{"type": "user", "id": olga["id"]}]},
                {"delay_minutes": 30, "targets": [{"type": "user", "id": sam["id"]}]}
            ]}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
    let (s, body) = app
        .send(
            app.req(Method::PUT, "/api/v1/services/checkout/escalation-policy")
                .json(&json!({"policy": "two"})),
        )
        .await;
    assert!(s.is_success(), "{body}");
    app.enqueue(TestApp::trigger(&key, "cart", "critical"))
        .await;
    app.cycle().await;
    let (_, e) = app.get("/api/v1/incidents/1/escalation").await;
    assert_eq!(e["escalation"]["last_paged_index"], 0, "level 1 paged: {e}");

    // Each level, whom it reaches now, and the next one chosen.
    let page = b.get("/incidents/1").await;
    let levels = between(&page.html, r#"<select name="level">"#, "</select>");
    assert!(
        levels.contains("Level 1: Olga Owner")
            && levels.contains(r#"value="2" selected>Level 2 (next): Sam Second"#),
        "{levels}"
    );
    let zero = b.post("/incidents/1/escalate", &[("level", "0")]).await;
    assert_eq!(zero.status, StatusCode::BAD_REQUEST);
    assert!(zero.html.contains(r#"id="level-problem""#), "{}", zero.html);
    let again = b.post("/incidents/1/escalate", &[("level", "1")]).await;
    assert_eq!(again.status, StatusCode::SEE_OTHER, "{}", again.html);
    app.cycle().await;
    let paged = hook.wait_for(&app, 2).await;
    assert_eq!(paged[1].path, paged[0].path, "Olga is paged again");
    let (_, e) = app.get("/api/v1/incidents/1/escalation").await;
    let e = &e["escalation"];
    assert_eq!(
        (e["last_paged_index"].clone(), e["level"].clone()),
        (json!(0), json!(2)),
        "level 1 paged again, and level 2 is next: {e}"
    );
    let past = b.post("/incidents/1/escalate", &[("level", "3")]).await;
    assert_eq!(past.status, StatusCode::BAD_REQUEST, "{}", past.html);
    assert_eq!(
        unescape(between(&past.html, r#"id="level-problem">"#, "<")),
        "the policy has levels 1 to 2; there is no level 3",
        "{}",
        past.html
    );

    // Links: added, refused beside the URL when it is not a web address, listed for everyone, and removed.
    let bad = b
        .post(
            "/incidents/1/links",
            &[("url", "javascript:alert(1)"), ("label", "x")],
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(
        bad.html.contains(r#"id="add_links-problem""#)
            && bad.html.contains("<details open><summary>Add a link")
            && bad.html.contains(r#"value="javascript:alert(1)""#),
        "{}",
        bad.html
    );
    let added = b
        .post(
            "/incidents/1/links",
            &[
                ("url", "https://grafana.example.com/d/cart?from=now-1h"),
                ("label", "Cart <dashboard>"),
            ],
        )
        .await;
    assert_eq!(added.status, StatusCode::SEE_OTHER, "{}", added.html);
    let (_, incident) = app.get("/api/v1/incidents/1").await;
    assert_eq!(
        incident["links"],
        json!([{"url": "https://grafana.example.com/d/cart?from=now-1h", "label": "Cart <dashboard>"}])
    );
    let page = b.get("/incidents/1").await;
    let links = between(&page.html, r#"<h2 id="links-title">"#, "</section>");
    assert!(
        links.contains(r#"<a href="https://grafana.example.com/d/cart?from=now-1h" rel="noopener noreferrer">Cart &#60;dashboard&#62;</a>"#)
            || links.contains(r#"<a href="https://grafana.example.com/d/cart?from=now-1h" rel="noopener noreferrer">Cart &lt;dashboard&gt;</a>"#),
        "{links}"
    );
    let removed = b
        .post(
            "/incidents/1/unlink",
            &[("url", "https://grafana.example.com/d/cart?from=now-1h")],
        )
        .await;
    assert_eq!(removed.status, StatusCode::SEE_OTHER, "{}", removed.html);
    let (_, incident) = app.get("/api/v1/incidents/1").await;
    assert_eq!(incident["links"], json!([]));
    let timeline = b.get("/incidents/1/timeline").await.html;
    assert_eq!(
        timeline.matches("grafana.example.com/d/cart").count(),
        2,
        "both changes are on the timeline: {timeline}"
    );
}

#[tokio::test]
async fn the_catalog_is_downloaded_previewed_and_applied_from_its_page() {
    let app = TestApp::spawn().await;
    let mut b = owner_signed_in(&app).await;
    app.post("/api/v1/services", json!({"name": "checkout", "tier": 1}))
        .await;

    let yaml = b.get("/catalog.yaml").await;
    assert_eq!(yaml.status, StatusCode::OK);
    assert!(
        yaml.headers["content-disposition"]
            .to_str()
            .unwrap()
            .contains("tocsin-catalog.yaml")
            && yaml.html.contains("name: checkout"),
        "{}",
        yaml.html
    );
    // Applying what was downloaded changes nothing.
    let same = b
        .post("/catalog", &[("document", &yaml.html), ("mode", "preview")])
        .await;
    assert_eq!(same.status, StatusCode::OK, "{}", same.html);
    assert!(same.html.contains("0 created, 0 updated"), "{}", same.html);

    let document = "teams:\r\n  - name: payments\r\n    members: [olga@example.com]\r\nservices:\r\n  - name: checkout\r\n    tier: 2\r\n    team: payments\r\n  - name: ledger\r\n";
    let preview = b
        .post("/catalog", &[("document", document), ("mode", "preview")])
        .await;
    assert_eq!(preview.status, StatusCode::OK, "{}", preview.html);
    assert!(
        preview.html.contains("2 created, 1 updated, 0 unchanged")
            && preview.html.contains("<td>ledger</td><td>created</td>")
            && preview.html.contains(r#"value="apply""#),
        "{}",
        preview.html
    );
    let (s, _) = app.get("/api/v1/services/ledger").await;
    assert_eq!(s, StatusCode::NOT_FOUND, "a preview changes nothing");
    let applied = b
        .post("/catalog", &[("document", document), ("mode", "apply")])
        .await;
    assert_eq!(applied.status, StatusCode::SEE_OTHER, "{}", applied.html);
    let applied = b.get(applied.location.as_deref().unwrap()).await;
    assert!(
        applied.html.contains("Applied")
            && applied.html.contains("2 created, 1 updated, 0 unchanged"),
        "reloading the result shows it without applying again: {}",
        applied.html
    );
    let (_, checkout) = app.get("/api/v1/services/checkout").await;
    assert_eq!(
        (checkout["tier"].clone(), checkout["team"].clone()),
        (json!(2), json!("payments"))
    );

    // A mistake names its line, and the document stays to be fixed.
    let wrong = b
        .post(
            "/catalog",
            &[
                (
                    "document",
                    "services:\n  - name: checkout\n    tier: nine\n",
                ),
                ("mode", "preview"),
            ],
        )
        .await;
    assert_eq!(wrong.status, StatusCode::BAD_REQUEST);
    assert!(
        wrong.html.contains("line 3") && wrong.html.contains("tier: nine\n</textarea>"),
        "{}",
        wrong.html
    );
    // What the catalog refuses (a member nobody knows) is said above the form, and nothing is applied.
    let unknown = b
        .post(
            "/catalog",
            &[
                (
                    "document",
                    "teams:\n  - name: ops\n    members: [nobody@example.com]\n",
                ),
                ("mode", "apply"),
            ],
        )
        .await;
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST, "{}", unknown.html);
    assert!(
        unknown.html.contains("nobody@example.com"),
        "{}",
        unknown.html
    );
    let (s, _) = app.get("/api/v1/teams/ops").await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    let mut watcher = person(&app, "Wes", "wes@example.com", "observer").await;
    let read_only = watcher.get("/catalog").await;
    assert!(
        read_only.html.contains("/catalog.yaml") && !read_only.html.contains(r#"name="document""#),
        "{}",
        read_only.html
    );
    // An observer's profile offers no change they would be refused.
    let profile = watcher.get("/profile").await.html;
    assert!(
        !profile.contains(r#"action="/profile/methods""#)
            && !profile.contains(r#"action="/profile/time-zone""#)
            && !profile.contains(r#"action="/profile/feed""#)
            && profile.contains(r#"action="/profile/password""#)
            && profile.contains("an admin sets how you are reached"),
        "{profile}"
    );
}

#[tokio::test]
async fn admins_sign_people_out_and_feeds_are_revoked_where_they_are_listed() {
    let app = TestApp::spawn().await;
    let mut admin = owner_signed_in(&app).await;
    let mut rita = person(&app, "Rita", "rita@example.com", "responder").await;
    assert_eq!(rita.get("/").await.status, StatusCode::OK);
    let (_, r) = app.get("/api/v1/users/rita@example.com").await;
    let rita_id = r["id"].as_str().unwrap().to_owned();

    let page = admin
        .get(&format!("/admin/people/{rita_id}/sessions"))
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.html);
    let end = between(&page.html, r#"<form method="post" action=""#, r#"""#).to_owned();
    assert!(
        end.starts_with(&format!("/admin/people/{rita_id}/sessions/")),
        "{end}"
    );
    let ended = admin.post(&end, &[]).await;
    assert_eq!(
        ended.location.as_deref(),
        Some(format!("/admin/people/{rita_id}/sessions").as_str())
    );
    let signed_out = rita.get("/").await;
    assert!(
        signed_out
            .location
            .as_deref()
            .is_some_and(|l| l.starts_with("/login")),
        "her browser is signed out at once"
    );
    assert!(
        admin
            .get(&format!("/admin/people/{rita_id}/sessions"))
            .await
            .html
            .contains("Signed in nowhere")
    );
    // Someone who does not configure reads only their own.
    let mut sam = person(&app, "Sam", "sam@example.com", "responder").await;
    assert_eq!(
        sam.get(&format!("/admin/people/{rita_id}/sessions"))
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    let (_, s) = app.get("/api/v1/users/sam@example.com").await;
    let own = sam
        .get(&format!(
            "/admin/people/{}/sessions",
            s["id"].as_str().unwrap()
        ))
        .await;
    assert!(
        own.status == StatusCode::OK && own.html.contains("This browser"),
        "{}",
        own.html
    );

    // A schedule's feeds are listed on its page, and revoking one returns there.
    let (s, body) = app
        .post(
            "/api/v1/schedules",
            json!({"name": "primary", "time_zone": "UTC", "layers": [{"name": "l",
                "participants": ["rita@example.com"], "rotation": {"every": "days", "count": 1},
                "start": "2026-03-02T09:00:00"}]}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
    let made = sam.post("/schedules/primary/feed", &[]).await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.html);
    let (_, feeds) = app.get("/api/v1/feeds?schedule=primary").await;
    let feed = feeds["items"][0]["id"].as_str().unwrap().to_owned();
    let page = sam.get("/schedules/primary").await;
    assert!(
        between(&page.html, r#"<h2 id="feeds">"#, "</section>")
            .contains(&format!("/feeds/{feed}/revoke")),
        "{}",
        page.html
    );
    let revoked = sam.post(&format!("/feeds/{feed}/revoke"), &[]).await;
    assert_eq!(
        revoked.location.as_deref(),
        Some("/schedules/primary#feeds")
    );
    let (_, feeds) = app.get("/api/v1/feeds?schedule=primary").await;
    assert!(feeds["items"][0]["revoked_at"].is_string(), "{feeds}");
    assert!(
        !sam.get("/schedules/primary")
            .await
            .html
            .contains(&format!("/feeds/{feed}/revoke"))
    );
}

#[tokio::test]
async fn severities_are_defined_on_their_page_and_shown_where_one_is_chosen() {
    let app = TestApp::spawn().await;
    let mut admin = owner_signed_in(&app).await;
    let page = admin.get("/severities").await;
    assert_eq!(page.status, StatusCode::OK);
    let sev0 = between(&page.html, r#"<h2 id="SEV-0">"#, "</section>");
    assert!(
        sev0.contains("</span> critical</h2>")
            && sev0.contains("A complete outage")
            && sev0.contains("with high urgency")
            && sev0.contains("every 30 min")
            && sev0.contains("<dd>required</dd>"),
        "{sev0}"
    );

    // A refusal is shown beside its field, with what was typed kept.
    let refused = admin
        .post(
            "/severities/SEV-2",
            &[
                ("name", "major"),
                ("definition", "Payments fail for some."),
                ("examples", "one\r\ntwo"),
                ("update_every", "2"),
            ],
        )
        .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert!(
        refused
            .html
            .contains(r#"id="update_every_minutes-problem""#)
            && refused.html.contains(r#"value="major""#)
            && refused.html.contains("Payments fail for some."),
        "{}",
        refused.html
    );
    let saved = admin
        .post(
            "/severities/SEV-2",
            &[
                ("name", "major"),
                ("definition", "Payments fail for some customers."),
                ("examples", "Card payments time out\r\n\r\nRefunds stall"),
                ("expectations", "Payments' on-call leads."),
                ("update_every", "45"),
                ("postmortem", "1"),
            ],
        )
        .await;
    assert_eq!(
        saved.location.as_deref(),
        Some("/severities#SEV-2"),
        "{}",
        saved.html
    );
    let (_, levels) = app.get("/api/v1/severities").await;
    assert_eq!(
        levels["items"][2],
        json!({"severity": "SEV-2", "urgency": "low", "name": "major",
            "definition": "Payments fail for some customers.",
            "examples": ["Card payments time out", "Refunds stall"],
            "expectations": "Payments' on-call leads.", "update_every_minutes": 45, "postmortem_required": true})
    );

    // Wherever a severity is chosen, it is named and the guide says what each means.
    app.post(
        "/api/v1/incidents",
        json!({"title": "Refunds stall", "severity": "SEV-2"}),
    )
    .await;
    let incident = admin.get("/incidents/1").await.html;
    assert!(
        incident.contains(r#"<option value="SEV-2" selected>SEV-2 major</option>"#)
            && incident.contains("<dt>SEV-2 major</dt><dd>Payments fail for some customers.</dd>"),
        "{incident}"
    );
    let list = admin.get("/incidents").await.html;
    assert!(
        list.contains(r#"<option value="SEV-2" selected>SEV-2 major</option>"#)
            && list.contains(r#"<option value="SEV-2">SEV-2 major</option>"#)
            && list.contains("<dt>SEV-2 major</dt>"),
        "the declare form, the filter and the guide: {list}"
    );

    // Everyone reads the definitions; only admins reword them.
    let mut rita = person(&app, "Rita", "rita@example.com", "responder").await;
    let read = rita.get("/severities").await;
    assert!(
        read.html.contains("Payments fail for some customers.")
            && !read.html.contains("Reword SEV-2"),
        "{}",
        read.html
    );
    let forbidden = rita.post("/severities/SEV-2", &[("name", "tiny")]).await;
    assert_eq!(forbidden.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn an_incident_moves_through_its_stages_with_its_times_recorded_and_corrected() {
    let app = TestApp::spawn().await;
    let mut b = owner_signed_in(&app).await;
    // Olga reads times in Berlin: what she types is read there.
    app.send(app.req(Method::PUT, "/api/v1/users/olga@example.com").json(
        &json!({"name": "Olga Owner", "email": "olga@example.com", "time_zone": "Europe/Berlin"}),
    ))
    .await;
    let (_, declared) = app
        .post(
            "/api/v1/incidents",
            json!({"title": "Refunds stall", "severity": "SEV-2"}),
        )
        .await;
    let detected = declared["milestones"]["detected"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(declared["stage"], "investigating", "{declared}");

    let page = b.get("/incidents/1").await.html;
    assert!(
        page.contains("Stage: <strong>investigating</strong>")
            && page.contains("<span class=\"muted\">not recorded</span>"),
        "{page}"
    );
    let moved = b
        .post("/incidents/1/stage", &[("stage", "monitoring")])
        .await;
    assert_eq!(moved.status, StatusCode::SEE_OTHER, "{}", moved.html);
    let (_, i) = app.get("/api/v1/incidents/1").await;
    assert_eq!(i["stage"], "monitoring");
    assert!(
        i["milestones"]["mitigated"].is_string(),
        "monitoring records mitigated: {i}"
    );

    // Impact started an hour before detection, typed in Berlin time; detection is kept as it was.
    let at = chrono::DateTime::parse_from_rfc3339(&detected).unwrap() - chrono::Duration::hours(1);
    let typed = at
        .with_timezone(&chrono_tz::Europe::Berlin)
        .format("%Y-%m-%dT%H:%M")
        .to_string();
    let local = |v: &serde_json::Value| {
        chrono::DateTime::parse_from_rfc3339(v.as_str().unwrap())
            .unwrap()
            .with_timezone(&chrono_tz::Europe::Berlin)
            .format("%Y-%m-%dT%H:%M")
            .to_string()
    };
    let shown_detected = local(&i["milestones"]["detected"]);
    let shown_mitigated = local(&i["milestones"]["mitigated"]);
    let corrected = b
        .post(
            "/incidents/1/milestones",
            &[
                ("original_impact_started", ""),
                ("impact_started", &typed),
                ("original_detected", &shown_detected),
                ("detected", &shown_detected),
                ("original_mitigated", &shown_mitigated),
                ("mitigated", &shown_mitigated),
            ],
        )
        .await;
    assert_eq!(
        corrected.status,
        StatusCode::SEE_OTHER,
        "{}",
        corrected.html
    );
    let (_, i) = app.get("/api/v1/incidents/1").await;
    assert_eq!(
        chrono::DateTime::parse_from_rfc3339(i["milestones"]["impact_started"].as_str().unwrap())
            .unwrap()
            .timestamp(),
        at.timestamp() - at.timestamp() % 60,
        "{i}"
    );
    assert_eq!(
        i["milestones"]["detected"].as_str(),
        Some(detected.as_str()),
        "untouched: {i}"
    );

    // Detection happened, so it cannot be removed; the refusal stands beside it with what was typed.
    let refused = b
        .post(
            "/incidents/1/milestones",
            &[
                ("original_detected", &shown_detected),
                ("detected", ""),
                ("original_mitigated", &shown_mitigated),
                ("mitigated", "2020-01-01T00:00"),
            ],
        )
        .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert!(
        refused.html.contains(r#"id="milestones.detected-problem""#)
            && refused.html.contains(r#"value="2020-01-01T00:00""#)
            && refused
                .html
                .contains("<details open><summary>Record or correct times"),
        "{}",
        refused.html
    );
    let timeline = b.get("/incidents/1/timeline").await.html;
    assert!(
        timeline.contains("the stage from investigating to monitoring")
            && timeline.contains("impact started to "),
        "{timeline}"
    );

    // The API takes the same changes; a resolved incident's stage stays.
    app.post("/api/v1/incidents/1/resolve", json!({})).await;
    let (s, body) = app
        .send(
            app.req(Method::PATCH, "/api/v1/incidents/1")
                .json(&json!({"stage": "identified"})),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["field"], "stage", "{body}");
    let resolved = b.get("/incidents/1").await.html;
    assert!(
        !resolved.contains(r#"action="/incidents/1/stage""#)
            && resolved.contains("Stage: <strong>resolved</strong>"),
        "no stage form once resolved: {resolved}"
    );
    // Times keep their order: impact cannot start after detection.
    let after =
        chrono::DateTime::parse_from_rfc3339(&detected).unwrap() + chrono::Duration::minutes(1);
    let (s, body) = app
        .send(
            app.req(Method::PATCH, "/api/v1/incidents/1")
                .json(&json!({"milestones": {"impact_started": after.to_rfc3339()}})),
        )
        .await;
    assert_eq!(
        (s, body["error"]["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("milestones.impact_started")),
        "{body}"
    );
}

#[tokio::test]
async fn related_incidents_are_linked_from_either_page_and_listed_on_both() {
    let app = TestApp::spawn().await;
    let mut b = owner_signed_in(&app).await;
    for title in ["Checkout slow", "Payments <slow>"] {
        app.post(
            "/api/v1/incidents",
            json!({"title": title, "severity": "SEV-3"}),
        )
        .await;
    }
    let linked = b.post("/incidents/1/relate", &[("incident", "#2")]).await;
    assert_eq!(linked.status, StatusCode::SEE_OTHER, "{}", linked.html);
    let other = b.get("/incidents/2").await.html;
    assert!(
        between(&other, r#"<h2 id="related-title">"#, "</section>")
            .contains(r#"<a href="/incidents/1">#1 Checkout slow</a>"#),
        "linked back: {other}"
    );
    let page = b.get("/incidents/1").await.html;
    assert!(
        page.contains(r#"<a href="/incidents/2">#2 Payments &#60;slow&#62;</a>"#)
            || page.contains(r#"<a href="/incidents/2">#2 Payments &lt;slow&gt;</a>"#),
        "{page}"
    );
    let unknown = b.post("/incidents/1/relate", &[("incident", "77")]).await;
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST);
    assert!(
        unknown.html.contains(r#"id="add_related-problem""#)
            && unknown
                .html
                .contains("<details open><summary>Link a related incident"),
        "{}",
        unknown.html
    );
    let unlinked = b.post("/incidents/2/unrelate", &[("incident", "1")]).await;
    assert_eq!(unlinked.status, StatusCode::SEE_OTHER, "{}", unlinked.html);
    let (_, one) = app.get("/api/v1/incidents/1").await;
    assert_eq!(one["related"], json!([]), "unlinked on both: {one}");
    let timeline = b.get("/incidents/1/timeline").await.html;
    assert!(
        timeline.contains("related incident #2 (added)")
            && timeline.contains("related incident #2 (removed)"),
        "{timeline}"
    );
}

#[tokio::test]
async fn roles_are_given_and_given_up_on_the_incident_page_and_their_instructions_shown_to_holders()
{
    let app = TestApp::spawn().await;
    let mut b = owner_signed_in(&app).await;
    app.post(
        "/api/v1/incidents",
        json!({"title": "Checkout slow", "severity": "SEV-1"}),
    )
    .await;
    let (_, olga) = app.get("/api/v1/users/olga@example.com").await;
    let olga = olga["id"].as_str().unwrap().to_owned();
    let page = b.get("/incidents/1").await.html;
    let response = between(&page, r#"<h2 id="response-title">"#, "</section>");
    assert!(
        response.contains("<li><span class=\"muted\">Incident commander</span> <span class=\"muted\">nobody</span></li>")
            && response.contains("Join the response"),
        "{response}"
    );
    let nobody = b
        .post("/incidents/1/assign", &[("role", "commander")])
        .await;
    assert_eq!(nobody.status, StatusCode::BAD_REQUEST);
    assert!(
        nobody.html.contains(r#"id="user-problem""#)
            && nobody.html.contains("<details open><summary>Give a role"),
        "{}",
        nobody.html
    );
    let took = b
        .post(
            "/incidents/1/assign",
            &[("role", "commander"), ("user", &olga)],
        )
        .await;
    assert_eq!(took.status, StatusCode::SEE_OTHER, "{}", took.html);
    let page = b.get("/incidents/1").await.html;
    let response = between(&page, r#"<h2 id="response-title">"#, "</section>");
    assert!(
        response.contains("<strong>You are Incident commander.</strong>")
            && response.contains("You lead the response")
            && response.contains("Olga Owner</strong>: Incident commander")
            && response.contains("Leave the response")
            && response.contains("holds it now"),
        "{response}"
    );
    let left = b.post("/incidents/1/leave", &[]).await;
    assert_eq!(left.status, StatusCode::SEE_OTHER, "{}", left.html);
    let page = b.get("/incidents/1").await.html;
    let response = between(&page, r#"<h2 id="response-title">"#, "</section>");
    assert!(
        !response.contains("You are Incident commander") && response.contains("Join the response"),
        "{response}"
    );
    let timeline = b.get("/incidents/1/timeline").await.html;
    assert!(
        timeline.contains("Olga Owner took the role of Incident commander")
            && timeline.contains(
                "Olga Owner left the response; Olga Owner is no longer Incident commander"
            ),
        "{timeline}"
    );
}

#[tokio::test]
async fn checklists_and_roles_are_set_up_on_their_page_and_tasks_done_on_the_incident() {
    let app = TestApp::spawn().await;
    let mut b = owner_signed_in(&app).await;
    // A checklist for every SEV-1, its tasks written one per line.
    let bad = b
        .post(
            "/response/checklists",
            &[
                ("key", "sev1"),
                ("name", "SEV-1 response"),
                ("severities", "SEV-1"),
                ("lines", "Open a bridge | commander | 5"),
            ],
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(
        bad.html
            .contains("line 1: write whom a task is for as role:KEY or user:ID")
            && bad.html.contains("Open a bridge | commander | 5")
            && bad
                .html
                .contains(r#"name="severities" value="SEV-1" checked"#),
        "kept as typed: {}",
        bad.html
    );
    let saved = b
        .post(
            "/response/checklists",
            &[
                ("key", "sev1"),
                ("name", "SEV-1 response"),
                ("severities", "SEV-1"),
                (
                    "lines",
                    "Open a bridge | role:commander | 5\r\nTell support | role:communications |",
                ),
            ],
        )
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.html);
    // A role of our own, with a default.
    let made = b
        .post(
            "/response/roles",
            &[
                ("key", "liaison"),
                ("name", "Customer <liaison>"),
                ("single", "1"),
            ],
        )
        .await;
    assert_eq!(made.status, StatusCode::SEE_OTHER, "{}", made.html);
    let (_, olga) = app.get("/api/v1/users/olga@example.com").await;
    let olga = olga["id"].as_str().unwrap().to_owned();
    let default = b
        .post(
            "/response/roles/liaison/defaults",
            &[("severities", "SEV-1"), ("target", &format!("user:{olga}"))],
        )
        .await;
    assert_eq!(default.status, StatusCode::SEE_OTHER, "{}", default.html);
    let page = b.get("/response").await.html;
    assert!(
        page.contains("Customer &#60;liaison&#62;") || page.contains("Customer &lt;liaison&gt;"),
        "{page}"
    );
    assert!(
        page.contains("SEV-1: Olga Owner")
            && page.contains("Open a bridge, for Incident commander, due after 5 min"),
        "{page}"
    );

    app.post(
        "/api/v1/incidents",
        json!({"title": "Checkout slow", "severity": "SEV-1"}),
    )
    .await;
    let page = b.get("/incidents/1").await.html;
    let tasks = between(&page, r#"<h2 id="tasks-title">"#, "</section>");
    assert!(
        tasks.contains("1. Open a bridge")
            && tasks.contains("for Incident commander")
            && tasks.contains("2. Tell support"),
        "{tasks}"
    );
    let done = b.post("/incidents/1/task-done", &[("task", "1")]).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.html);
    let refused = b
        .post(
            "/incidents/1/tasks",
            &[("title", ""), ("due_in_minutes", "soon")],
        )
        .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert!(
        refused.html.contains(r#"id="due_in_minutes-problem""#)
            && refused.html.contains("<details open><summary>Add a task"),
        "{}",
        refused.html
    );
    let added = b
        .post(
            "/incidents/1/tasks",
            &[
                ("title", "Roll back"),
                ("assignee", &format!("user:{olga}")),
                ("due_in_minutes", "10"),
            ],
        )
        .await;
    assert_eq!(added.status, StatusCode::SEE_OTHER, "{}", added.html);
    let page = b.get("/incidents/1").await.html;
    let tasks = between(&page, r#"<h2 id="tasks-title">"#, "</section>");
    assert!(
        tasks.contains("<s>1. Open a bridge</s>")
            && tasks.contains("done by Olga Owner")
            && tasks.contains("3. Roll back")
            && tasks.contains("for Olga Owner"),
        "{tasks}"
    );
    let timeline = b.get("/incidents/1/timeline").await.html;
    assert!(
        timeline.contains("Olga Owner did task 1. Open a bridge")
            && timeline.contains("Olga Owner added task 3. Roll back"),
        "{timeline}"
    );
}

#[tokio::test]
async fn runbooks_are_written_read_by_version_and_shown_on_their_incidents() {
    let app = TestApp::spawn().await;
    let mut b = owner_signed_in(&app).await;
    let (s, _) = app
        .post("/api/v1/services", json!({"name": "checkout"}))
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let (_, checkout) = app.get("/api/v1/services/checkout").await;
    let checkout = checkout["id"].as_str().unwrap().to_owned();
    // A refused runbook keeps what was typed.
    let bad = b
        .post(
            "/runbooks",
            &[
                ("key", "checkout-latency"),
                ("title", "Checkout latency"),
                ("services", &checkout),
                ("matchers", "not a matcher"),
                ("body", "1. Look at the graph"),
            ],
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(
        bad.html.contains(r#"id="matchers-problem""#)
            && bad.html.contains("1. Look at the graph")
            && bad
                .html
                .contains(&format!(r#"value="{checkout}" selected"#)),
        "{}",
        bad.html
    );
    let made = b
        .post(
            "/runbooks",
            &[
                ("key", "checkout-latency"),
                ("title", "Checkout latency"),
                ("services", &checkout),
                ("matchers", ""),
                (
                    "body",
                    "1. Look at the **graph**\r\n\r\n<script>alert(1)</script>",
                ),
            ],
        )
        .await;
    assert_eq!(
        made.location.as_deref(),
        Some("/runbooks/checkout-latency"),
        "{}",
        made.html
    );
    // The same key again is another runbook, refused rather than overwritten.
    let taken = b
        .post(
            "/runbooks",
            &[
                ("key", "checkout-latency"),
                ("title", "Other"),
                ("body", ""),
            ],
        )
        .await;
    assert_eq!(taken.status, StatusCode::BAD_REQUEST);
    assert!(
        taken.html.contains("already exists") && taken.html.contains(r#"id="key-problem""#),
        "{}",
        taken.html
    );
    let edited = b
        .post(
            "/runbooks/checkout-latency",
            &[
                ("title", "Checkout latency"),
                ("services", &checkout),
                ("body", "1. Roll back the deploy"),
            ],
        )
        .await;
    assert_eq!(edited.status, StatusCode::SEE_OTHER, "{}", edited.html);
    // An edit made to version 1 while version 2 was saved would undo it: refused, as typed.
    let stale = b
        .post(
            "/runbooks/checkout-latency",
            &[
                ("version", "1"),
                ("title", "Checkout latency"),
                ("body", "1. Look at the graph, then wait"),
            ],
        )
        .await;
    assert_eq!(stale.status, StatusCode::BAD_REQUEST);
    assert!(
        stale.html.contains("is at version 2 now")
            && stale.html.contains("1. Look at the graph, then wait"),
        "{}",
        stale.html
    );

    let page = b.get("/runbooks/checkout-latency").await.html;
    assert!(
        page.contains("<li>Roll back the deploy</li>")
            && page.contains("Version 2</strong>")
            && page.contains(r#"<a href="/runbooks/checkout-latency?version=1">Version 1</a>"#),
        "{page}"
    );
    let first = b.get("/runbooks/checkout-latency?version=1").await.html;
    assert!(
        first.contains("<strong>graph</strong>")
            && !first.contains("<script>alert")
            && first.contains("This is version 1.")
            && first.contains("Read the current one (version 2)"),
        "{first}"
    );
    let list = b.get("/runbooks").await.html;
    assert!(
        list.contains(r#"<a href="/runbooks/checkout-latency">Checkout latency</a></td><td>checkout</td><td>2</td>"#),
        "{list}"
    );

    app.post(
        "/api/v1/incidents",
        json!({"title": "Checkout slow", "severity": "SEV-2", "services": ["checkout"]}),
    )
    .await;
    let page = b.get("/incidents/1").await.html;
    let runbooks = between(&page, r#"<h2 id="runbooks-title">"#, "</section>");
    assert!(
        runbooks.contains("<summary>Checkout latency</summary>")
            && runbooks.contains("<li>Roll back the deploy</li>")
            && runbooks.contains(r#"href="/runbooks/checkout-latency""#),
        "{runbooks}"
    );

    let gone = b.post("/runbooks/checkout-latency/delete", &[]).await;
    assert_eq!(gone.location.as_deref(), Some("/runbooks"));
    assert_eq!(
        b.get("/runbooks/checkout-latency").await.status,
        StatusCode::NOT_FOUND
    );
    assert!(!b.get("/incidents/1").await.html.contains("runbooks-title"));
}

#[tokio::test]
async fn an_incident_reported_twice_is_merged_into_the_one_that_carries_on() {
    let app = TestApp::spawn().await;
    let mut b = owner_signed_in(&app).await;
    for (title, severity) in [
        ("Checkout slow", "SEV-1"),
        ("Customers report checkout errors", "SEV-3"),
        ("Checkout timeouts", "SEV-2"),
    ] {
        let (s, body) = app
            .post(
                "/api/v1/incidents",
                json!({"title": title, "severity": severity}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{body}");
    }
    let unknown = b.post("/incidents/1/merge", &[("into", "#41")]).await;
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST);
    assert!(
        unknown.html.contains("there is no incident #41"),
        "{}",
        unknown.html
    );
    let itself = b.post("/incidents/1/merge", &[("into", "1")]).await;
    assert!(
        itself.html.contains("cannot be merged into itself"),
        "{}",
        itself.html
    );

    let merged = b.post("/incidents/1/merge", &[("into", "#2")]).await;
    assert_eq!(
        merged.location.as_deref(),
        Some("/incidents/2"),
        "{}",
        merged.html
    );
    let survivor = b.get("/incidents/2").await.html;
    assert!(
        survivor.contains("merged #1 (Checkout slow) into this incident")
            && survivor.contains(r#"<a href="/incidents/1">#1</a>"#)
            && survivor.contains("Incident opened at SEV-1: Checkout slow")
            && survivor.contains(r#"<span class="badge sev-SEV-1">SEV-1</span>"#),
        "the survivor shows the merged one's history and severity: {survivor}"
    );
    let gone = b.get("/incidents/1").await.html;
    assert!(
        gone.contains(r#"Merged into <a href="/incidents/2">#2</a>"#)
            && !gone.contains("Merge into another incident"),
        "{gone}"
    );

    // The command line merges too.
    let out = crate::cli::tocsin(&app, &["incidents", "merge", "3", "--into", "#2"])
        .await
        .ok();
    assert_eq!(
        out.trim(),
        "merged #3 into #2 (Customers report checkout errors), now SEV-1"
    );
    let again = crate::cli::tocsin(&app, &["incidents", "merge", "3", "--into", "2"])
        .await
        .failed();
    assert!(again.contains("was merged into #2 already"), "{again}");
}

#[tokio::test]
async fn updates_are_posted_from_the_incident_page_which_says_when_one_is_owed() {
    let clock = std::sync::Arc::new(tocsin_domain::clock::ManualClock::new(
        "2026-03-02T10:00:00Z".parse().unwrap(),
    ));
    // The test runs the engine's cycles itself, at the clock's time.
    let app = TestApp::spawn_with(clock.clone(), |c| c.engine.tick_ms = 3_600_000).await;
    let mut b = owner_signed_in(&app).await;
    let (s, body) = app
        .send(
            app.req(reqwest::Method::PATCH, "/api/v1/severities/SEV-1")
                .json(&json!({"update_every_minutes": 30})),
        )
        .await;
    assert!(s.is_success(), "{body}");
    let key = app.service_with_key("checkout").await;
    app.enqueue(TestApp::trigger(&key, "cart", "critical"))
        .await;
    let page = b.get("/incidents/1").await;
    assert!(page.html.contains("Next update due"), "{}", page.html);
    assert!(!page.html.contains("Stakeholders are owed an update"));

    // Thirty minutes on, the page says so at its top, with the form open.
    clock.advance(chrono::Duration::minutes(31));
    let page = b.get("/incidents/1").await;
    assert!(
        page.html.contains("Stakeholders are owed an update")
            && page
                .html
                .contains(r##"<a href="#updates">Post an update</a>"##)
            && page
                .html
                .contains(r#"<details open><summary>Post an update</summary>"#),
        "{}",
        page.html
    );

    // Once its leads were reminded (the next reminder due later), it is still owed, and the page still says so.
    app.cycle().await;
    let page = b.get("/incidents/1").await;
    assert!(
        page.html.contains("Stakeholders are owed an update")
            && page
                .html
                .contains("its leads were reminded 1 time, and the next reminder goes"),
        "{}",
        page.html
    );

    // An empty update is refused beside its field; a real one is listed with its report.
    let bad = b
        .post(
            "/incidents/1/update",
            &[("message", " "), ("audiences", "responders")],
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(
        bad.html.contains("is empty: say where things stand"),
        "{}",
        bad.html
    );
    let posted = b
        .post(
            "/incidents/1/update",
            &[
                ("message", "Payments <fail> for 40%;\nrolling back."),
                ("actions", "Rolling back deploy 41"),
                ("audiences", "responders"),
                ("audiences", "subscribers"),
            ],
        )
        .await;
    assert_eq!(posted.status, StatusCode::SEE_OTHER, "{}", posted.html);
    let page = b.get("/incidents/1").await;
    assert!(
        page.html.contains("<strong>Update 1</strong>")
            && page
                .html
                .contains("Payments &#60;fail&#62; for 40%;\nrolling back.")
            && page
                .html
                .contains("<dt>Actions</dt><dd>Rolling back deploy 41</dd>")
            && !page.html.contains("Stakeholders are owed an update"),
        "{}",
        page.html
    );

    // Olga hears of this incident's updates from its page, and stops.
    let subscribed = b.post("/incidents/1/subscribe", &[]).await;
    assert_eq!(
        subscribed.status,
        StatusCode::SEE_OTHER,
        "{}",
        subscribed.html
    );
    let page = b.get("/incidents/1").await;
    let id = between(&page.html, r#"name="subscription" value=""#, "\"").to_owned();
    assert!(id.starts_with("sub_"), "{}", page.html);
    let (_, mine) = app.get("/api/v1/subscriptions?incident=1").await;
    assert_eq!(mine["items"].as_array().unwrap().len(), 1, "{mine}");
    let ended = b
        .post("/incidents/1/unsubscribe", &[("subscription", id.as_str())])
        .await;
    assert_eq!(ended.status, StatusCode::SEE_OTHER, "{}", ended.html);
    assert!(
        b.get("/incidents/1")
            .await
            .html
            .contains("Hear of its updates")
    );

    // And of every incident of the service, from the service's page.
    let subscribed = b.post("/services/checkout/subscribe", &[]).await;
    assert_eq!(
        subscribed.status,
        StatusCode::SEE_OTHER,
        "{}",
        subscribed.html
    );
    let page = b.get("/services/checkout").await;
    assert!(
        page.html.contains("Stop hearing of its updates"),
        "{}",
        page.html
    );
    let (_, of_service) = app.get("/api/v1/subscriptions?service=checkout").await;
    assert_eq!(
        of_service["items"].as_array().unwrap().len(),
        1,
        "{of_service}"
    );
}
