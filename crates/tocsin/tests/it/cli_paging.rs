//! The command-line client's paging commands: contact methods and rules, a policy from a YAML file on a service,
//! an incident escalated, reassigned and notified, engine cycles, heartbeat integrations.

use crate::cli::tocsin;
use crate::support::{TestApp, WebhookReceiver};
use reqwest::StatusCode;
use serde_json::Value;
use std::sync::Arc;
use tocsin_domain::clock::SystemClock;

const POLICY: &str = "\
name: checkout on-call
description: Checkout API
repeat: 1
levels:
  - delay_minutes: 5
    targets:
      - user: alice@example.test
  - delay_minutes: 10
    targets:
      - {type: user, id: bob@example.test}
";

/// A server whose engine runs only when asked, so each cycle's report is the test's to predict.
async fn app_without_ticker() -> TestApp {
    TestApp::spawn_with(Arc::new(SystemClock), |c| c.engine.enabled = false).await
}

/// The JSON a command prints before it fails.
async fn json_of_failing(app: &TestApp, args: &[&str]) -> Value {
    let mut args = args.to_vec();
    args.push("--json");
    let out = tocsin(app, &args).await.stdout_of_failure();
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?} printed no JSON ({e}):\n{out}"))
}

async fn json_of(app: &TestApp, args: &[&str]) -> Value {
    let mut args = args.to_vec();
    args.push("--json");
    let out = tocsin(app, &args).await.ok();
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?} printed no JSON ({e}):\n{out}"))
}

/// The word of `out` that starts with `prefix`, without the punctuation around it.
fn word<'a>(out: &'a str, prefix: &str) -> &'a str {
    out.split(|c: char| c.is_whitespace() || "(),;:\"".contains(c))
        .find(|w| w.starts_with(prefix))
        .unwrap_or_else(|| panic!("no {prefix}… in:\n{out}"))
}

/// The table rows that contain every one of `parts`.
fn rows_with<'a>(table: &'a str, parts: &[&str]) -> Vec<&'a str> {
    table
        .lines()
        .filter(|l| parts.iter().all(|p| l.contains(p)))
        .collect()
}

fn assert_lines(out: &str, lines: &[&str]) {
    for line in lines {
        assert!(
            out.lines().any(|l| l.trim_end() == *line),
            "{line:?} missing from:\n{out}"
        );
    }
}

#[tokio::test]
async fn a_policy_from_a_file_pages_escalates_reassigns_and_notifies() {
    let app = app_without_ticker().await;
    let hook = WebhookReceiver::start().await;
    for (name, email) in [("Alice", "alice@example.test"), ("Bob", "bob@example.test")] {
        let args = ["users", "create", "--name", name, "--email", email];
        tocsin(&app, &args).await.ok();
    }

    // Contact methods: the secret is printed once, and never listed.
    let alice_hook = format!("{}/alice", hook.url);
    let args = [
        "contacts",
        "add",
        "alice@example.test",
        "--name",
        "pager bridge",
        "--webhook",
        &alice_hook,
    ];
    let out = tocsin(&app, &args).await.ok();
    assert!(
        out.starts_with("added contact method \"pager bridge\" (cm_")
            && out.contains("for alice@example.test: webhook 127.0.0.1"),
        "{out}"
    );
    assert!(out.contains("shown only this once"), "{out}");
    let secret = word(&out, "whsec_");
    let alice_cm = word(&out, "cm_").to_owned();
    let listed = tocsin(&app, &["contacts", "list", "alice@example.test"])
        .await
        .ok();
    assert_eq!(
        rows_with(
            &listed,
            &[
                alice_cm.as_str(),
                "pager bridge",
                "webhook",
                "127.0.0.1",
                "yes"
            ]
        )
        .len(),
        1,
        "{listed}"
    );
    assert!(!listed.contains(secret), "{listed}");
    let bob_hook = format!("{}/bob", hook.url);
    let args = [
        "contacts",
        "add",
        "bob@example.test",
        "--name",
        "bridge",
        "--webhook",
        &bob_hook,
    ];
    tocsin(&app, &args).await.ok();
    let args = [
        "contacts",
        "add",
        "bob@example.test",
        "--name",
        "x",
        "--sms",
        "+4915112345678",
        "--voice",
        "+4915112345678",
    ];
    let refused = tocsin(&app, &args).await.failed();
    assert!(refused.contains("cannot be used with"), "{refused}");

    // A rule naming the method by its name.
    let args = [
        "notification-rules",
        "add",
        "alice@example.test",
        "--method",
        "pager bridge",
        "--urgency",
        "high",
    ];
    let out = tocsin(&app, &args).await.ok();
    assert!(
        out.starts_with("added notification rule nr_")
            && out.contains("high urgency pages reach alice@example.test at pager bridge at once"),
        "{out}"
    );
    let rules = tocsin(&app, &["notification-rules", "list", "alice@example.test"])
        .await
        .ok();
    assert_eq!(
        rows_with(&rules, &["high", "at once", "pager bridge (webhook)"]).len(),
        1,
        "{rules}"
    );

    // The policy file names people by email; the API got IDs.
    let file = app.dir.path().join("policy.yaml");
    std::fs::write(&file, POLICY).unwrap();
    let out = tocsin(&app, &["policies", "create", "-f", file.to_str().unwrap()])
        .await
        .ok();
    assert!(
        out.starts_with("created escalation policy checkout on-call (pol_"),
        "{out}"
    );
    let policy = json_of(&app, &["policies", "show", "checkout on-call"]).await;
    let (_, alice) = app.get("/api/v1/users/alice@example.test").await;
    let (_, bob) = app.get("/api/v1/users/bob@example.test").await;
    assert_eq!(policy["levels"][0]["targets"][0]["id"], alice["id"]);
    assert_eq!(policy["levels"][1]["targets"][0]["id"], bob["id"]);
    let show = tocsin(&app, &["policies", "show", "checkout on-call"])
        .await
        .ok();
    assert_lines(
        &show,
        &[
            "repeat:      once more after the last level",
            "level 1 (after 5m, level 2):",
            "  user Alice <alice@example.test>",
            "level 2 (after 10m, level 1 again):",
            "  user Bob <bob@example.test>",
        ],
    );

    tocsin(&app, &["services", "create", "--name", "checkout"])
        .await
        .ok();
    let args = [
        "services",
        "policy",
        "checkout",
        "--set",
        "checkout on-call",
    ];
    let out = tocsin(&app, &args).await.ok();
    assert!(
        out.starts_with("checkout pages with escalation policy checkout on-call (pol_"),
        "{out}"
    );
    let (_, set) = app.get("/api/v1/services/checkout/escalation-policy").await;
    assert_eq!(set["policy"]["name"], "checkout on-call");
    let oncall = tocsin(&app, &["services", "oncall", "checkout"]).await.ok();
    assert_lines(
        &oncall,
        &[
            "  level 1: Alice <alice@example.test>",
            "  level 2: Bob <bob@example.test>",
        ],
    );

    let args = [
        "incidents",
        "declare",
        "--title",
        "Checkout down",
        "--severity",
        "SEV-1",
        "--service",
        "checkout",
    ];
    let out = tocsin(&app, &args).await.ok();
    assert!(out.starts_with("declared #1 "), "{out}");
    let before = tocsin(&app, &["incidents", "escalation", "#1"]).await.ok();
    assert!(
        before.contains("policy:    checkout on-call (pol_")
            && before.contains("next page: level 1 at ")
            && before.contains("assignees: (nobody paged yet)"),
        "{before}"
    );

    // One cycle pages level 1: Alice's rule sends to her webhook at once.
    let report = tocsin(&app, &["engine", "cycle"]).await.ok();
    assert_lines(
        &report,
        &[
            "    1  escalation levels fired",
            "    1  notifications planned",
            "    1  notifications sent",
        ],
    );
    assert_eq!(hook.requests().len(), 1);
    assert_eq!(hook.requests()[0].path, "/alice");
    let after = tocsin(&app, &["incidents", "escalation", "1"]).await.ok();
    assert!(
        after.contains("next page: level 2 at ")
            && after.contains("assignees: Alice <alice@example.test>"),
        "{after}"
    );

    let out = tocsin(&app, &["incidents", "escalate", "1"]).await.ok();
    assert_eq!(
        out.trim(),
        "escalated #1: level 2 of checkout on-call pages now"
    );
    let report = json_of(&app, &["engine", "cycle"]).await;
    assert_eq!(report["escalations_fired"], 1, "{report}");
    assert_eq!(hook.requests().last().unwrap().path, "/bob");

    let args = [
        "incidents",
        "reassign",
        "1",
        "--user",
        "alice@example.test",
        "--user",
        "bob@example.test",
    ];
    let out = tocsin(&app, &args).await.ok();
    assert_eq!(
        out.trim(),
        "reassigned #1 to Alice <alice@example.test>, Bob <bob@example.test>; paged now"
    );
    let (_, state) = app.get("/api/v1/incidents/1/escalation").await;
    let e = &state["escalation"];
    assert_eq!(
        e["assignees"],
        serde_json::json!([alice["id"], bob["id"]]),
        "{state}"
    );
    assert!(
        e["next_at"].is_null(),
        "people named by hand own it: {state}"
    );
    let stopped = tocsin(&app, &["incidents", "escalation", "1"]).await.ok();
    assert!(
        stopped.contains("next page: none; escalation has stopped"),
        "{stopped}"
    );
    let both = [
        "incidents",
        "reassign",
        "1",
        "--user",
        "a@b.c",
        "--policy",
        "p",
    ];
    let refused = tocsin(&app, &both).await.failed();
    assert!(refused.contains("cannot be used with"), "{refused}");

    tocsin(&app, &["engine", "cycle"]).await.ok();
    let table = tocsin(&app, &["incidents", "notifications", "1"])
        .await
        .ok();
    assert!(
        table.starts_with("TIME") && table.contains("ATTEMPTS"),
        "{table}"
    );
    let alice_rows = ["Alice <alice@example.test>", "webhook", "delivered"];
    assert_eq!(
        rows_with(&table, &alice_rows).len(),
        2,
        "the page at level 1 and the reassignment:\n{table}"
    );
    assert_eq!(
        rows_with(
            &table,
            &["Bob <bob@example.test>", "page, level 2", "delivered"]
        )
        .len(),
        1,
        "{table}"
    );
    let listed = json_of(&app, &["incidents", "notifications", "1"]).await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 4, "{listed}");

    // A test notification, and a disabled method receiving nothing.
    let out = tocsin(&app, &["contacts", "test", &alice_cm]).await.ok();
    assert!(out.starts_with("queued test notification msg_"), "{out}");
    tocsin(&app, &["engine", "cycle"]).await.ok();
    let mine = tocsin(&app, &["notifications", "alice@example.test"])
        .await
        .ok();
    assert_eq!(
        rows_with(&mine, &["test", "webhook", "delivered", "1"]).len(),
        1,
        "{mine}"
    );
    assert!(
        !rows_with(&mine, &["page", "#1"]).is_empty() && !mine.contains("inc_"),
        "pages name their incident by number: {mine}"
    );
    assert_eq!(hook.requests().last().unwrap().path, "/alice");

    let out = tocsin(&app, &["contacts", "disable", &alice_cm]).await.ok();
    assert_eq!(
        out.trim(),
        format!("disabled contact method \"pager bridge\" ({alice_cm})")
    );
    let (_, m) = app
        .get(&format!("/api/v1/contact-methods/{alice_cm}"))
        .await;
    assert_eq!(m["enabled"], false);
    assert_eq!(m["target"]["url"], alice_hook.as_str());
    tocsin(&app, &["contacts", "enable", &alice_cm]).await.ok();
    let (_, m) = app
        .get(&format!("/api/v1/contact-methods/{alice_cm}"))
        .await;
    assert_eq!(m["enabled"], true);
}

#[tokio::test]
async fn heartbeat_integrations_print_their_url_and_take_their_interval() {
    let app = TestApp::spawn().await;
    tocsin(&app, &["services", "create", "--name", "nightly-backup"])
        .await
        .ok();
    let args = [
        "integrations",
        "create",
        "--service",
        "nightly-backup",
        "--kind",
        "heartbeat",
        "--interval",
        "300",
        "--grace",
        "30",
    ];
    let out = tocsin(&app, &args).await.ok();
    let url = out
        .lines()
        .find_map(|l| l.strip_prefix("heartbeat URL: "))
        .unwrap_or_else(|| panic!("no heartbeat URL in:\n{out}"));
    assert!(url.starts_with(&format!("{}/heartbeat/", app.url)), "{out}");
    assert!(
        out.contains(
            "The job calls it (GET or POST) every 300s; a call missing for 30s more opens an alert"
        ),
        "{out}"
    );
    let resp = app.client.get(url).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let beat: Value = resp.json().await.unwrap();
    assert_eq!(beat["recovered"], false, "{beat}");

    let list = json_of(
        &app,
        &["integrations", "list", "--service", "nightly-backup"],
    )
    .await;
    let config = &list["items"][0]["config"]["heartbeat"];
    assert_eq!(
        (&config["interval_seconds"], &config["grace_seconds"]),
        (&serde_json::json!(300), &serde_json::json!(30))
    );

    let mut wrong_kind = args.to_vec();
    wrong_kind[5] = "pagerduty";
    let refused = tocsin(&app, &wrong_kind).await.failed();
    assert!(
        refused.contains("--interval and --grace are for heartbeat integrations"),
        "{refused}"
    );
    let refused = tocsin(&app, &args[..6]).await.failed();
    assert!(refused.contains("needs --interval SECONDS"), "{refused}");
    let (_, after) = app
        .get("/api/v1/services/nightly-backup/integrations")
        .await;
    assert_eq!(after["items"].as_array().unwrap().len(), 1, "{after}");
}

#[tokio::test]
async fn an_incident_nobody_pages_is_unassigned_visibly_until_the_fallback_policy_takes_it() {
    let app = app_without_ticker().await;
    let hook = WebhookReceiver::start().await;
    let key = app.service_with_key("orphan").await;

    // The service has no escalation policy: the incident says it has nobody, in the API and in the CLI.
    let (s, _) = app
        .enqueue(TestApp::trigger(&key, "disk", "critical"))
        .await;
    assert_eq!(s, StatusCode::ACCEPTED);
    let (_, first) = app.get("/api/v1/incidents/1").await;
    assert!(first["unassigned_since"].is_string(), "{first}");
    let list = tocsin(&app, &["incidents", "list"]).await.ok();
    assert!(
        list.lines()
            .any(|l| l.starts_with("#1 ") && l.contains("triggered, unassigned")),
        "{list}"
    );
    let timeline = tocsin(&app, &["incidents", "timeline", "1"]).await.ok();
    assert!(
        timeline.contains("its service orphan has no escalation policy")
            && timeline.contains("No fallback escalation policy is set"),
        "{timeline}"
    );

    // The check of the paging setup finds the service, and fails.
    let found = tocsin(&app, &["doctor"]).await.failed();
    assert!(
        found.contains("1 thing(s) in the paging setup would leave an incident with nobody"),
        "{found}"
    );
    let report = json_of_failing(&app, &["doctor"]).await;
    assert_eq!(
        report["findings"][0]["code"], "no_escalation_policy",
        "{report}"
    );
    assert!(
        report["findings"][0]["message"]
            .as_str()
            .unwrap()
            .starts_with("Service orphan has no escalation policy, so its incidents page nobody"),
        "{report}"
    );

    // An admin names a fallback policy; the next such incident is handed to it and pages at once.
    let (s, ben) = app
        .post(
            "/api/v1/users",
            serde_json::json!({"name": "Ben", "email": "ben@example.test"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{ben}");
    let (s, m) = app
        .post(
            "/api/v1/users/ben@example.test/contact-methods",
            serde_json::json!({"name": "hook", "target": {"type": "webhook", "url": format!("{}/ben", hook.url)}}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{m}");
    // An email address on a server without SMTP is accepted, with a warning that it reaches nobody.
    let (out, err) = tocsin(
        &app,
        &[
            "contacts",
            "add",
            "ben@example.test",
            "--name",
            "mail",
            "--email",
            "ben@example.test",
        ],
    )
    .await
    .ok_with_stderr();
    assert!(!out.is_empty(), "{out}");
    assert!(
        err.contains(
            "warning: Ben's contact method mail (email) cannot send: this server has no [notify.smtp] configuration"
        ),
        "{err}"
    );
    let (s, p) = app
        .post(
            "/api/v1/escalation-policies",
            serde_json::json!({"name": "backup", "levels": [{"delay_minutes": 5, "targets": [{"type": "user", "id": ben["id"]}]}]}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{p}");
    let set = tocsin(&app, &["policies", "fallback", "--set", "backup"])
        .await
        .ok();
    assert!(set.contains("go to escalation policy backup"), "{set}");
    let refused = tocsin(&app, &["policies", "delete", "backup"])
        .await
        .failed();
    assert!(refused.contains("is the fallback"), "{refused}");

    let (s, _) = app.enqueue(TestApp::trigger(&key, "cpu", "critical")).await;
    assert_eq!(s, StatusCode::ACCEPTED);
    let report = app.cycle().await;
    assert_eq!(report["deliveries_planned"], 1, "{report}");
    let got = hook.wait_for(&app, 1).await;
    assert_eq!(
        got[0].json()["data"]["incident"]["number"],
        2,
        "{:?}",
        got[0].json()
    );
    let (_, second) = app.get("/api/v1/incidents/2").await;
    assert_eq!(second["unassigned_since"], Value::Null, "{second}");
    let (_, esc) = app.get("/api/v1/incidents/2/escalation").await;
    assert_eq!(esc["escalation"]["policy_name"], "backup", "{esc}");

    // Incident #1 predates the fallback; Ben is asked to join it by hand, and the page goes out.
    let refused = tocsin(&app, &["incidents", "add-responder", "1", "--team", "nope"])
        .await
        .failed();
    assert!(refused.contains("teams[0]: no team \"nope\""), "{refused}");
    let added = tocsin(
        &app,
        &[
            "incidents",
            "add-responder",
            "#1",
            "--user",
            "ben@example.test",
        ],
    )
    .await
    .ok();
    assert_eq!(added.trim(), "paged Ben to join #1");
    app.cycle().await;
    let got = hook.wait_for(&app, 2).await;
    assert_eq!(
        got[1].json()["data"]["incident"]["number"],
        1,
        "{:?}",
        got[1].json()
    );
    let (_, first) = app.get("/api/v1/incidents/1").await;
    assert_eq!(
        first["unassigned_since"],
        Value::Null,
        "someone has it now: {first}"
    );

    // Ben asks to hear when someone else resolves what he was paged for; the admin resolves #2.
    let asked = tocsin(
        &app,
        &[
            "contacts",
            "status-updates",
            "ben@example.test",
            "--resolved",
            "true",
        ],
    )
    .await
    .ok();
    assert_eq!(
        asked.trim(),
        "ben@example.test is told when someone else has resolved an incident they were paged for"
    );
    tocsin(&app, &["incidents", "resolve", "2"]).await.ok();
    app.cycle().await;
    let got = hook.wait_for(&app, 3).await;
    let news = got[2].json();
    assert_eq!(news["type"], "incident.resolved", "{news}");
    assert_eq!(news["data"]["incident"]["number"], 2, "{news}");

    // Declaring an incident that no policy pages prints a warning.
    let (out, err) = tocsin(
        &app,
        &[
            "incidents",
            "declare",
            "--title",
            "Customers report errors",
            "--severity",
            "SEV-2",
        ],
    )
    .await
    .ok_with_stderr();
    assert!(out.contains("declared #3"), "{out}");
    assert!(
        err.contains(
            "warning: No escalation policy of its services pages #3; the fallback policy backup pages it"
        ),
        "{err}"
    );
    let cleared = tocsin(&app, &["policies", "fallback", "--clear"])
        .await
        .ok();
    assert!(cleared.contains("stay unassigned"), "{cleared}");
}

#[tokio::test]
async fn a_page_carries_its_runbook_alert_details_and_recent_changes() {
    use serde_json::json;
    let app = app_without_ticker().await;
    let hook = WebhookReceiver::start().await;
    for (path, body) in [
        (
            "/api/v1/users".to_owned(),
            json!({"name": "Ann", "email": "ann@example.test"}),
        ),
        (
            "/api/v1/users/ann@example.test/contact-methods".to_owned(),
            json!({"name": "hook", "target": {"type": "webhook", "url": format!("{}/ann", hook.url)}}),
        ),
        (
            "/api/v1/services".to_owned(),
            json!({"name": "checkout", "runbook_url": "https://runbooks.example.com/checkout"}),
        ),
    ] {
        let (s, b) = app.post(&path, body).await;
        assert_eq!(s, StatusCode::CREATED, "{path}: {b}");
    }
    let (_, ann) = app.get("/api/v1/users/ann@example.test").await;
    let (s, b) = app
        .post(
            "/api/v1/escalation-policies",
            json!({"name": "solo", "levels": [{"delay_minutes": 5, "targets": [{"type": "user", "id": ann["id"]}]}]}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let (s, b) = app
        .send(
            app.req(
                reqwest::Method::PUT,
                "/api/v1/services/checkout/escalation-policy",
            )
            .json(&json!({"policy": "solo"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (s, integration) = app
        .post("/api/v1/services/checkout/integrations", json!({}))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{integration}");
    let key = integration["key"].as_str().unwrap();
    // Runbooks kept in Tocsin, applied from files: one for the service, one for alerts like this one, one for
    // neither.
    let runbooks = app.dir.path().join("runbooks");
    std::fs::create_dir(&runbooks).unwrap();
    for (file, text) in [
        (
            "checkout.md",
            "---\nservices: [checkout]\n---\n# Checkout down\n\n1. Roll back.\n",
        ),
        (
            "errors.md",
            "---\nkey: five-hundreds\nmatch: ['summary=~\".*failing\"']\n---\n# 5xx\n",
        ),
        (
            "disk.md",
            "---\nmatch: [alertname=DiskFull]\n---\n# Disk full\n",
        ),
        ("notes.txt", "not a runbook"),
    ] {
        std::fs::write(runbooks.join(file), text).unwrap();
    }
    let dir = runbooks.to_str().unwrap();
    let applied = tocsin(&app, &["runbooks", "apply", dir]).await.ok();
    assert_eq!(
        applied.lines().collect::<Vec<_>>(),
        [
            "runbook checkout (Checkout down): created, version 1",
            "runbook disk (Disk full): created, version 1",
            "runbook five-hundreds (5xx): created, version 1",
        ]
    );
    std::fs::write(
        runbooks.join("disk.md"),
        "---\nmatch: [alertname=DiskFull]\n---\n# Disk full\n\nFree space.\n",
    )
    .unwrap();
    let again = tocsin(&app, &["runbooks", "apply", dir]).await.ok();
    assert!(
        again.contains("runbook checkout (Checkout down): unchanged, version 1"),
        "{again}"
    );
    assert!(
        again.contains("runbook disk (Disk full): updated, version 2"),
        "{again}"
    );
    let first = tocsin(&app, &["runbooks", "show", "disk", "--version", "1"])
        .await
        .ok();
    assert!(
        first.starts_with("# Disk full (disk, version 1)"),
        "{first}"
    );
    assert!(!first.contains("Free space."), "{first}");
    let history = tocsin(&app, &["runbooks", "history", "disk"]).await.ok();
    assert_eq!(
        history.lines().count(),
        3,
        "a heading and two versions: {history}"
    );
    // A file that cannot be applied names itself and what is wrong, and keeps the others from being written.
    std::fs::write(
        runbooks.join("aa.md"),
        "---\nmatch: ['bad matcher']\n---\n# Bad\n",
    )
    .unwrap();
    std::fs::write(
        runbooks.join("checkout.md"),
        "---\nservices: [checkout]\n---\n# Checkout down\n\nChanged.\n",
    )
    .unwrap();
    let refused = tocsin(&app, &["runbooks", "apply", dir]).await.failed();
    assert!(refused.contains("aa.md: match[0]"), "{refused}");
    let checkout_history = tocsin(&app, &["runbooks", "history", "checkout"])
        .await
        .ok();
    assert_eq!(
        checkout_history.lines().count(),
        2,
        "still one version: {checkout_history}"
    );
    std::fs::remove_file(runbooks.join("aa.md")).unwrap();
    std::fs::write(
        runbooks.join("checkout.md"),
        "---\nservices: [checkout]\n---\n# Checkout down\n\n1. Roll back.\n",
    )
    .unwrap();
    // Files applied as they are change nothing, not even the audit log: three runbooks made, one changed.
    tocsin(&app, &["runbooks", "apply", dir]).await.ok();
    let (_, audit) = app.get("/api/v1/audit?action=runbook.put").await;
    assert_eq!(audit["items"].as_array().map(Vec::len), Some(4), "{audit}");
    // A deploy, then the alert it caused.
    let (s, _) = app
        .send(
            app.client
                .post(format!("{}/v2/change/enqueue", app.url))
                .json(&json!({"routing_key": key, "payload": {"summary": "Deployed v1.4.2", "source": "ci"}})),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED);
    let (s, _) = app.enqueue(TestApp::trigger(key, "5xx", "critical")).await;
    assert_eq!(s, StatusCode::ACCEPTED);
    app.cycle().await;
    let page = hook.wait_for(&app, 1).await[0].json();
    let data = &page["data"];
    assert_eq!(
        data["runbooks"],
        json!([{"service": "checkout", "url": "https://runbooks.example.com/checkout"}]),
        "{page}"
    );
    assert_eq!(
        data["runbook_documents"],
        json!([
            {"title": "5xx", "url": format!("{}/runbooks/five-hundreds", app.url)},
            {"title": "Checkout down", "url": format!("{}/runbooks/checkout", app.url)},
        ]),
        "{page}"
    );
    let shown = tocsin(&app, &["incidents", "runbooks", "1"]).await.ok();
    assert!(
        shown.contains("five-hundreds") && shown.contains("checkout") && !shown.contains("disk"),
        "{shown}"
    );
    assert_eq!(data["latest_alert"]["summary"], "5xx failing", "{page}");
    assert_eq!(
        data["recent_changes"][0]["summary"], "Deployed v1.4.2",
        "{page}"
    );
    assert_eq!(data["escalation_level"], 1, "{page}");
}

const COMMANDER: &str = "\
name: Incident commander
instructions: Lead the response; decide, do not fix.
single: true
defaults:
  - severities: [SEV-0, SEV-1]
    services: [checkout]
    target: {schedule: checkout rota}
";

#[tokio::test]
async fn roles_are_given_by_default_and_by_hand_and_page_whoever_takes_them() {
    let app = app_without_ticker().await;
    let hook = WebhookReceiver::start().await;
    for (name, email) in [("Alice", "alice@example.test"), ("Bob", "bob@example.test")] {
        tocsin(&app, &["users", "create", "--name", name, "--email", email])
            .await
            .ok();
        let url = format!("{}/{}", hook.url, name.to_lowercase());
        let args = [
            "contacts",
            "add",
            email,
            "--name",
            "bridge",
            "--webhook",
            &url,
        ];
        tocsin(&app, &args).await.ok();
        let args = [
            "notification-rules",
            "add",
            email,
            "--method",
            "bridge",
            "--urgency",
            "high",
        ];
        tocsin(&app, &args).await.ok();
    }
    let (_, alice) = app.get("/api/v1/users/alice@example.test").await;
    let (s, b) = app
        .post(
            "/api/v1/schedules",
            serde_json::json!({"name": "checkout rota", "time_zone": "UTC", "layers": [{"name": "l",
                "participants": [alice["id"]], "rotation": {"every": "days", "count": 1},
                "start": "2026-01-01T09:00:00"}]}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    tocsin(&app, &["services", "create", "--name", "checkout"])
        .await
        .ok();
    let file = app.dir.path().join("commander.yaml");
    std::fs::write(&file, COMMANDER).unwrap();
    let out = tocsin(
        &app,
        &["roles", "set", "commander", "-f", file.to_str().unwrap()],
    )
    .await
    .ok();
    assert_eq!(out.trim(), "role commander is Incident commander");
    let out = tocsin(&app, &["roles", "list"]).await.ok();
    assert_eq!(
        rows_with(
            &out,
            &["commander", "Incident commander", "one person", "1", "yes"]
        )
        .len(),
        1,
        "{out}"
    );
    let args = ["roles", "set", "liaison", "--name", "Customer liaison"];
    tocsin(&app, &args).await.ok();

    // A SEV-1 on checkout: its commander comes from the rota and is paged with the role.
    let args = [
        "incidents",
        "declare",
        "--title",
        "Checkout fails",
        "--severity",
        "SEV-1",
        "--service",
        "checkout",
    ];
    tocsin(&app, &args).await.ok();
    let page = hook.wait_for_path(&app, "/alice").await;
    let event: Value = serde_json::from_slice(&page.body).unwrap();
    assert_eq!(event["type"], "incident.role_assigned", "{event}");
    assert_eq!(event["data"]["role"], "Incident commander");
    let roles = tocsin(&app, &["incidents", "roles", "1"]).await.ok();
    assert_eq!(
        rows_with(&roles, &["Incident commander", "Alice", "Tocsin"]).len(),
        1,
        "{roles}"
    );

    // Bob is made an expert by hand, then hands command over from Alice.
    let out = tocsin(
        &app,
        &["incidents", "assign", "1", "expert", "bob@example.test"],
    )
    .await
    .ok();
    assert_eq!(
        rows_with(&out, &["Subject-matter expert", "Bob"]).len(),
        1,
        "{out}"
    );
    let page = hook.wait_for_path(&app, "/bob").await;
    let event: Value = serde_json::from_slice(&page.body).unwrap();
    assert_eq!(event["data"]["role"], "Subject-matter expert", "{event}");
    let args = ["incidents", "assign", "1", "commander", "bob@example.test"];
    tocsin(&app, &args).await.ok();
    let responders = tocsin(&app, &["incidents", "responders", "1"]).await.ok();
    assert_eq!(
        rows_with(
            &responders,
            &["Bob", "Subject-matter expert, Incident commander"]
        )
        .len(),
        1,
        "{responders}"
    );
    // A role nobody holds cannot be released; Bob leaves and his roles go with him.
    let refused = tocsin(&app, &["incidents", "release", "1", "scribe"])
        .await
        .failed();
    assert!(refused.contains("nobody holds Scribe in #1"), "{refused}");
    let args = ["incidents", "leave", "1", "--user", "bob@example.test"];
    let out = tocsin(&app, &args).await.ok();
    assert!(!out.contains("Bob"), "{out}");
    let timeline = tocsin(&app, &["incidents", "timeline", "1"]).await.ok();
    for said in [
        "Alice is Incident commander, by the role's default; paged Alice (webhook)",
        "made Bob Subject-matter expert; paged Bob (webhook)",
        "made Bob Incident commander, taking over from Alice",
        "took Bob off the response; Bob is no longer Subject-matter expert, Incident commander",
    ] {
        assert!(
            timeline.contains(said),
            "{said:?} missing from:\n{timeline}"
        );
    }
    // The role of the organisation's own goes once nobody holds it.
    tocsin(&app, &["roles", "delete", "liaison"]).await.ok();
    let refused = tocsin(&app, &["roles", "delete", "scribe"]).await.failed();
    assert!(refused.contains("built in"), "{refused}");
}

const CHECKLIST: &str = "\
name: SEV-0 response
severities: [SEV-0]
services: [checkout]
tasks:
  - title: Open a bridge
    assignee: {role: commander}
  - title: First customer update
    assignee: {user: alice@example.test}
    due_minutes: 15
";

#[tokio::test]
async fn checklists_from_a_file_give_incidents_their_tasks_which_are_done_from_the_command_line() {
    let app = app_without_ticker().await;
    tocsin(
        &app,
        &[
            "users",
            "create",
            "--name",
            "Alice",
            "--email",
            "alice@example.test",
        ],
    )
    .await
    .ok();
    tocsin(&app, &["services", "create", "--name", "checkout"])
        .await
        .ok();
    let file = app.dir.path().join("sev0.yaml");
    std::fs::write(&file, CHECKLIST).unwrap();
    let out = tocsin(
        &app,
        &[
            "task-templates",
            "set",
            "sev0",
            "-f",
            file.to_str().unwrap(),
        ],
    )
    .await
    .ok();
    assert_eq!(out.trim(), "checklist sev0 (SEV-0 response) has 2 tasks");
    let (_, alice) = app.get("/api/v1/users/alice@example.test").await;
    let (_, templates) = app.get("/api/v1/task-templates").await;
    assert_eq!(
        templates["items"][0]["tasks"][1]["assignee"],
        serde_json::json!({"type": "user", "id": alice["id"]}),
        "the file's email became an ID: {templates}"
    );
    let list = tocsin(&app, &["task-templates", "list"]).await.ok();
    assert_eq!(
        rows_with(&list, &["sev0", "SEV-0 response", "SEV-0", "2"]).len(),
        1,
        "{list}"
    );
    let args = [
        "incidents",
        "declare",
        "--title",
        "Checkout down",
        "--severity",
        "SEV-0",
        "--service",
        "checkout",
    ];
    tocsin(&app, &args).await.ok();
    let args = [
        "incidents",
        "task",
        "1",
        "Check the last deploy",
        "--for",
        "role:expert",
        "--due",
        "30m",
    ];
    let out = tocsin(&app, &args).await.ok();
    assert_eq!(out.trim(), "added task 3: Check the last deploy");
    let out = tocsin(&app, &["incidents", "done", "1", "1"]).await.ok();
    assert_eq!(out.trim(), "task 1 (Open a bridge) is done");
    let tasks = tocsin(&app, &["incidents", "tasks", "1"]).await.ok();
    assert_eq!(
        rows_with(&tasks, &["1", "yes", "Open a bridge", "role commander"]).len(),
        1,
        "{tasks}"
    );
    assert_eq!(
        rows_with(&tasks, &["3", "no", "Check the last deploy", "role expert"]).len(),
        1,
        "{tasks}"
    );
    let refused = tocsin(&app, &["incidents", "done", "1", "9"])
        .await
        .failed();
    assert!(refused.contains("task"), "{refused}");
    let timeline = tocsin(&app, &["incidents", "timeline", "1"]).await.ok();
    assert!(
        timeline
            .contains("Tasks of SEV-0 response added: 1. Open a bridge; 2. First customer update")
            && timeline.contains("did task 1. Open a bridge"),
        "{timeline}"
    );
}
