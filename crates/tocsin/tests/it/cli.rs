//! The command-line client, run as its own process against a real server, the way people use it.

use crate::support::TestApp;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::process::Command;

const CATALOG: &str = "\
users:
  - name: Alice Martin
    email: alice@example.com
    time_zone: Europe/Paris
  - name: Bob Li
    email: bob@example.com
teams:
  - name: payments
    description: Payment flows
    members: [alice@example.com, bob@example.com]
services:
  - name: checkout
    description: Checkout API
    team: payments
    tier: 1
    depends_on: [ledger]
  - name: ledger
    team: payments
    tier: 2
";

pub(crate) struct Run {
    pub(crate) success: bool,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

impl Run {
    pub(crate) fn ok(self) -> String {
        assert!(
            self.success,
            "the command failed:\n{}{}",
            self.stdout, self.stderr
        );
        self.stdout
    }

    /// Standard output of a command that failed.
    pub(crate) fn stdout_of_failure(self) -> String {
        let stdout = self.stdout.clone();
        self.failed();
        stdout
    }

    /// Standard output and standard error of a command that succeeded.
    pub(crate) fn ok_with_stderr(self) -> (String, String) {
        let stderr = self.stderr.clone();
        (self.ok(), stderr)
    }

    pub(crate) fn failed(self) -> String {
        assert!(
            !self.success,
            "the command succeeded:\n{}{}",
            self.stdout, self.stderr
        );
        self.stderr
    }
}

/// Runs `tocsin <args>` with the app's server and admin token.
pub(crate) async fn tocsin(app: &TestApp, args: &[&str]) -> Run {
    let env = [
        ("TOCSIN_SERVER", app.url.as_str()),
        ("TOCSIN_TOKEN", &app.token),
    ];
    run(app, &env, args).await
}

/// The child blocks while the server answers it on this test's runtime, so it waits on a blocking thread. Its
/// environment is only what the test gives, and HOME is the test's directory, so no setting or config file of the
/// machine running the tests can leak in.
pub(crate) async fn run(app: &TestApp, env: &[(&str, &str)], args: &[&str]) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tocsin"));
    cmd.args(args)
        .env_remove("TOCSIN_SERVER")
        .env_remove("TOCSIN_TOKEN")
        .env_remove("TOCSIN_CLI_CONFIG")
        .env("HOME", app.dir.path())
        .envs(env.iter().copied());
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .expect("the child's thread finishes")
        .expect("the binary starts");
    Run {
        success: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn write(app: &TestApp, name: &str, contents: &str) -> String {
    let path: PathBuf = app.dir.path().join(name);
    std::fs::write(&path, contents).expect("file written");
    path.to_string_lossy().into_owned()
}

fn last_line(out: &str) -> &str {
    out.lines().last().unwrap_or_default()
}

#[tokio::test]
async fn apply_creates_the_catalog_and_a_second_apply_changes_nothing() {
    let app = TestApp::spawn().await;
    let file = write(&app, "catalog.yaml", CATALOG);

    let out = tocsin(&app, &["apply", "-f", &file]).await.ok();
    for line in [
        "created  user alice@example.com",
        "created  user bob@example.com",
        "created  team payments",
        "created  service checkout",
        "created  service ledger",
    ] {
        assert!(
            out.lines().any(|l| l == line),
            "{line:?} missing from:\n{out}"
        );
    }
    assert_eq!(last_line(&out), "5 created, 0 updated, 0 unchanged");

    let again = tocsin(&app, &["apply", "-f", &file]).await.ok();
    let (entries, summary) = again
        .trim_end()
        .rsplit_once('\n')
        .expect("entries and summary");
    assert!(
        entries.lines().all(|l| l.starts_with("unchanged ")),
        "{again}"
    );
    assert_eq!(entries.lines().count(), 5, "{again}");
    assert_eq!(summary, "0 created, 0 updated, 5 unchanged");

    let services = tocsin(&app, &["services", "list"]).await.ok();
    let checkout = services
        .lines()
        .find(|l| l.starts_with("checkout"))
        .unwrap();
    assert!(
        checkout.contains("payments") && checkout.contains("ledger"),
        "{services}"
    );
}

#[tokio::test]
async fn a_dry_run_reports_changes_without_making_them() {
    let app = TestApp::spawn().await;
    tocsin(&app, &["apply", "-f", &write(&app, "c.yaml", CATALOG)])
        .await
        .ok();
    let changed = CATALOG.replace("Checkout API", "Checkout and payment API");
    let file = write(&app, "changed.yaml", &changed);

    let out = tocsin(&app, &["apply", "-f", &file, "--dry-run"])
        .await
        .ok();
    assert!(out.contains("updated  service checkout"), "{out}");
    assert_eq!(
        last_line(&out),
        "(dry run) 0 created, 1 updated, 4 unchanged"
    );

    let checkout = tocsin(&app, &["services", "get", "checkout", "--json"])
        .await
        .ok();
    let checkout: Value = serde_json::from_str(&checkout).unwrap();
    assert_eq!(checkout["description"], "Checkout API");
}

#[tokio::test]
async fn an_exported_catalog_applies_as_unchanged() {
    let app = TestApp::spawn().await;
    tocsin(&app, &["apply", "-f", &write(&app, "c.yaml", CATALOG)])
        .await
        .ok();

    let yaml = tocsin(&app, &["export"]).await.ok();
    assert!(yaml.contains("- name: checkout"), "{yaml}");
    let exported = app.dir.path().join("exported.yaml");
    let exported = exported.to_str().unwrap();
    tocsin(&app, &["export", "-o", exported]).await.ok();
    assert_eq!(std::fs::read_to_string(exported).unwrap(), yaml);

    let out = tocsin(&app, &["apply", "-f", exported]).await.ok();
    assert_eq!(last_line(&out), "0 created, 0 updated, 5 unchanged");
}

#[tokio::test]
async fn catalog_mistakes_are_reported_with_their_line() {
    let app = TestApp::spawn().await;
    let file = write(
        &app,
        "bad.yaml",
        "services:\n  - name: checkout\n    teem: payments\n",
    );
    let err = tocsin(&app, &["apply", "-f", &file]).await.failed();
    assert!(err.contains("line 3"), "{err}");
    assert!(err.contains("teem"), "{err}");
}

#[tokio::test]
async fn an_incident_is_declared_handled_and_shown_with_its_timeline() {
    let app = TestApp::spawn().await;
    let key = app.service_with_key("checkout").await;
    app.change(&key, "Deploy checkout v42").await;

    let declared = tocsin(
        &app,
        &[
            "incidents",
            "declare",
            "--title",
            "Checkout errors",
            "--severity",
            "SEV-2",
            "--service",
            "checkout",
        ],
    )
    .await
    .ok();
    assert_eq!(declared.trim(), "declared #1 [SEV-2] Checkout errors");

    let steps: [(&[&str], &str); 4] = [
        (&["incidents", "ack", "#1"], "#1 acknowledged"),
        (&["incidents", "severity", "1", "SEV-1"], "#1 is now SEV-1"),
        (
            &["incidents", "note", "1", "Rolled back the deploy"],
            "added a note to #1",
        ),
        (&["incidents", "resolve", "1"], "#1 resolved"),
    ];
    for (args, expected) in steps {
        assert_eq!(tocsin(&app, args).await.ok().trim(), expected, "{args:?}");
    }

    let shown = tocsin(&app, &["incidents", "show", "1"]).await.ok();
    assert!(shown.contains("number:") && shown.contains("#1"), "{shown}");
    let timeline = shown.split("Timeline:").nth(1).expect("a timeline");
    for kind in [
        "opened",
        "unassigned",
        "acknowledged",
        "severity_changed",
        "note",
        "resolved",
    ] {
        assert!(
            timeline.lines().any(|l| l.contains(&format!(" {kind} "))),
            "{kind} missing from:\n{shown}"
        );
    }
    assert!(timeline.contains("Rolled back the deploy"), "{shown}");
    let changes = shown
        .split("Changes on its services")
        .nth(1)
        .expect("recent changes beside the timeline");
    assert!(
        changes.contains("checkout") && changes.contains("Deploy checkout v42"),
        "{shown}"
    );

    let json = tocsin(&app, &["incidents", "show", "1", "--json"])
        .await
        .ok();
    let json: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(json["incident"]["status"], "resolved");
    assert_eq!(json["timeline"].as_array().unwrap().len(), 6);
    assert_eq!(json["recent_changes"][0]["summary"], "Deploy checkout v42");

    let list = tocsin(&app, &["incidents", "list", "--status", "resolved"])
        .await
        .ok();
    assert!(list.lines().any(|l| l.starts_with("#1 ")), "{list}");
}

#[tokio::test]
async fn all_follows_every_page() {
    let app = TestApp::spawn().await;
    for title in ["one", "two", "three"] {
        let args = [
            "incidents",
            "declare",
            "--title",
            title,
            "--severity",
            "SEV-3",
        ];
        tocsin(&app, &args).await.ok();
    }
    let page = tocsin(&app, &["incidents", "list", "--limit", "1", "--json"])
        .await
        .ok();
    let page: Value = serde_json::from_str(&page).unwrap();
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    assert!(page["next_cursor"].is_string(), "{page}");

    let args = ["incidents", "list", "--limit", "1", "--all", "--json"];
    let all: Value = serde_json::from_str(&tocsin(&app, &args).await.ok()).unwrap();
    let numbers: Vec<i64> = all["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["number"].as_i64().unwrap())
        .collect();
    assert_eq!(numbers, [3, 2, 1]);
}

#[tokio::test]
async fn a_created_token_is_printed_once_and_works() {
    let app = TestApp::spawn().await;
    let out = tocsin(
        &app,
        &["tokens", "create", "--name", "ci", "--scope", "read"],
    )
    .await
    .ok();
    assert!(out.contains("shown only this once"), "{out}");
    let token = out
        .split_whitespace()
        .find(|w| w.starts_with("tcs_"))
        .expect("the token is printed");

    let env = [("TOCSIN_SERVER", app.url.as_str()), ("TOCSIN_TOKEN", token)];
    run(&app, &env, &["users", "list"]).await.ok();
    let err = run(
        &app,
        &env,
        &[
            "users",
            "create",
            "--name",
            "Eve",
            "--email",
            "eve@example.com",
        ],
    )
    .await
    .failed();
    assert!(err.contains("(forbidden)"), "{err}");
}

#[tokio::test]
async fn without_a_token_the_client_says_how_to_give_one() {
    let app = TestApp::spawn().await;
    let env = [("TOCSIN_SERVER", app.url.as_str())];
    let err = run(&app, &env, &["users", "list"]).await.failed();
    assert!(err.contains("TOCSIN_TOKEN"), "{err}");
}

#[tokio::test]
async fn the_token_can_come_from_the_config_file() {
    let app = TestApp::spawn().await;
    let config = format!("server = {:?}\ntoken = {:?}\n", app.url, app.token);
    let config = write(&app, "cli.toml", &config);
    let env = [("TOCSIN_CLI_CONFIG", config.as_str())];
    let out = run(&app, &env, &["users", "list"]).await.ok();
    assert_eq!(out.trim(), "(none)");
}

#[tokio::test]
async fn server_errors_print_their_code_and_fail() {
    let app = TestApp::spawn().await;
    let err = tocsin(&app, &["services", "get", "nope"]).await.failed();
    assert_eq!(err.trim(), r#"error: no service "nope" (not_found)"#);
}

#[tokio::test]
async fn a_generic_integration_is_created_with_a_mapping_and_shows_what_arrived() {
    let app = TestApp::spawn().await;
    tocsin(&app, &["services", "create", "--name", "jobs"])
        .await
        .ok();
    let config = write(
        &app,
        "mapping.yaml",
        "mapping:\n  summary: /title\n  dedup_key: /id\nrate_limit:\n  per_second: 5\n  burst: 10\n",
    );
    let out = tocsin(
        &app,
        &[
            "integrations",
            "create",
            "--service",
            "jobs",
            "--kind",
            "generic",
            "--config",
            &config,
        ],
    )
    .await
    .ok();
    assert!(
        out.contains("/ingest/generic/") && out.contains("mapping"),
        "{out}"
    );
    let key = out
        .split_whitespace()
        .find(|w| w.len() == 32 && w.bytes().all(|b| b.is_ascii_hexdigit()))
        .expect("the key is printed");
    let url = out
        .split_whitespace()
        .find(|w| w.contains("/ingest/generic/"))
        .unwrap()
        .to_owned();
    assert!(url.ends_with(key), "{out}");
    let resp = app
        .client
        .post(&url)
        .json(&serde_json::json!({"title": "Backup failed", "id": "b1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), reqwest::StatusCode::ACCEPTED);

    let list = tocsin(
        &app,
        &["integrations", "list", "--service", "jobs", "--json"],
    )
    .await
    .ok();
    let listed: serde_json::Value = serde_json::from_str(&list).unwrap();
    let id = listed["items"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(listed["items"][0]["config"]["rate_limit"]["per_second"], 5);
    let payloads = tocsin(&app, &["integrations", "payloads", &id]).await.ok();
    assert!(
        payloads.contains("\"title\":\"Backup failed\"") && payloads.contains("1 event: 1 created"),
        "{payloads}"
    );

    let bad = write(
        &app,
        "bad.yaml",
        "mapping:\n  summary: /title\n  value_maps:\n    colour: {}\n",
    );
    let err = tocsin(&app, &["integrations", "update", &id, "--config", &bad])
        .await
        .failed();
    assert!(
        err.contains("config.mapping.value_maps") && err.contains("(invalid_request)"),
        "{err}"
    );
}

#[tokio::test]
async fn an_incident_is_edited_and_every_change_is_on_its_timeline() {
    let app = TestApp::spawn().await;
    app.service_with_key("checkout").await;
    tocsin(
        &app,
        &[
            "incidents",
            "declare",
            "--title",
            "Errors",
            "--severity",
            "SEV-3",
        ],
    )
    .await
    .ok();
    let edited = tocsin(
        &app,
        &[
            "incidents",
            "edit",
            "#1",
            "--title",
            "Checkout errors",
            "--impact",
            "Some payments fail",
            "--add-service",
            "checkout",
            "--link",
            "Dashboard=https://grafana.example.com/d/x?var-env=prod",
        ],
    )
    .await
    .ok();
    assert_eq!(edited.trim(), "edited #1");
    let (_, incident) = app.get("/api/v1/incidents/1").await;
    assert_eq!(incident["title"], "Checkout errors");
    assert_eq!(incident["customer_impact"], "Some payments fail");
    assert_eq!(
        incident["links"],
        json!([{"url": "https://grafana.example.com/d/x?var-env=prod", "label": "Dashboard"}])
    );
    assert_eq!(incident["services"].as_array().unwrap().len(), 1);
    let timeline = tocsin(&app, &["incidents", "timeline", "1"]).await.ok();
    assert!(
        timeline.contains(
            "changed the title from \"Errors\" to \"Checkout errors\"; the customer impact to \"Some payments fail\"; \
             service checkout (added); link Dashboard https://grafana.example.com/d/x?var-env=prod (added)"
        ),
        "{timeline}"
    );
    let refused = tocsin(&app, &["incidents", "edit", "1", "--link", "grafana"])
        .await
        .failed();
    assert!(refused.contains("is not an http(s) URL"), "{refused}");
    let (s, b) = app
        .send(
            app.req(reqwest::Method::PATCH, "/api/v1/incidents/1")
                .json(&json!({})),
        )
        .await;
    assert_eq!(s, reqwest::StatusCode::BAD_REQUEST, "{b}");
}

#[tokio::test]
async fn a_closed_pipe_ends_the_client_quietly() {
    let app = TestApp::spawn().await;
    tocsin(
        &app,
        &[
            "incidents",
            "declare",
            "--title",
            "Errors",
            "--severity",
            "SEV-3",
        ],
    )
    .await
    .ok();
    // As with `tocsin incidents list | head -0`: whatever reads the output is gone before anything is written.
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tocsin"));
    cmd.args(["incidents", "list"])
        .env("TOCSIN_SERVER", &app.url)
        .env("TOCSIN_TOKEN", &app.token)
        .env("HOME", app.dir.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let out = tokio::task::spawn_blocking(move || {
        let mut child = cmd.spawn().expect("the binary starts");
        drop(child.stdout.take());
        child.wait_with_output().expect("the child ends")
    })
    .await
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(out.status.signal(), Some(13), "ended by SIGPIPE: {stderr}");
}

#[tokio::test]
async fn sender_text_reaches_the_terminal_escaped() {
    let app = TestApp::spawn().await;
    let key = app.service_with_key("checkout").await;
    let hostile = "Disk \u{1b}[2J\u{1b}]0;pwned\u{7} full\u{0} \u{202e}cod.exe";
    let mut event = TestApp::trigger(&key, "disk", "critical");
    event["payload"]["summary"] = serde_json::json!(hostile);
    let (s, b) = app.enqueue(event).await;
    assert_eq!(s, reqwest::StatusCode::ACCEPTED, "{b}");
    for args in [
        &["incidents", "show", "1"][..],
        &["incidents", "list"],
        &["alerts", "list"],
    ] {
        let out = tocsin(&app, args).await.ok();
        assert!(
            !out.chars()
                .any(|c| (c.is_control() && c != '\n') || c == '\u{202e}'),
            "{args:?} printed raw control characters: {out:?}"
        );
        assert!(out.contains(r"Disk \u{1b}[2J"), "{args:?}: {out}");
    }
}

#[tokio::test]
async fn severities_are_listed_and_reworded_keeping_what_is_not_given() {
    let app = TestApp::spawn().await;
    let listed = tocsin(&app, &["severities", "list"]).await.ok();
    let sev0 = listed
        .lines()
        .find(|l| l.starts_with("SEV-0"))
        .unwrap_or_default();
    assert!(
        sev0.contains("critical")
            && sev0.contains("high")
            && sev0.contains("every 30 min")
            && sev0.contains("required"),
        "{listed}"
    );
    let set = tocsin(
        &app,
        &[
            "severities",
            "set",
            "sev2",
            "--name",
            "major",
            "--update-every",
            "2h",
            "--postmortem-required",
            "true",
        ],
    )
    .await
    .ok();
    assert!(
        set.starts_with("SEV-2 is now major: Partial degradation"),
        "{set}"
    );
    let (_, levels) = app.get("/api/v1/severities").await;
    let sev2 = &levels["items"][2];
    assert_eq!(
        (
            sev2["name"].clone(),
            sev2["update_every_minutes"].clone(),
            sev2["postmortem_required"].clone()
        ),
        (json!("major"), json!(120), json!(true)),
        "{sev2}"
    );
    assert_eq!(
        sev2["examples"].as_array().map(Vec::len),
        Some(2),
        "examples not given are kept"
    );
    let none = tocsin(&app, &["severities", "set", "SEV-2", "--no-update-cadence"])
        .await
        .ok();
    assert!(none.starts_with("SEV-2 is now major"), "{none}");
    let (_, levels) = app.get("/api/v1/severities").await;
    assert!(levels["items"][2]["update_every_minutes"].is_null());
    let refused = tocsin(
        &app,
        &["severities", "set", "SEV-1", "--update-every", "1m"],
    )
    .await
    .failed();
    assert!(refused.contains("update_every_minutes"), "{refused}");
    let unknown = tocsin(&app, &["severities", "set", "SEV-9", "--name", "x"])
        .await
        .failed();
    assert!(unknown.contains("SEV-0, SEV-1, SEV-2, SEV-3"), "{unknown}");
}

#[tokio::test]
async fn an_incidents_stage_and_times_are_set_from_the_command_line() {
    let app = TestApp::spawn().await;
    tocsin(
        &app,
        &[
            "incidents",
            "declare",
            "--title",
            "Slow search",
            "--severity",
            "SEV-3",
        ],
    )
    .await
    .ok();
    let (_, i) = app.get("/api/v1/incidents/1").await;
    let detected =
        chrono::DateTime::parse_from_rfc3339(i["milestones"]["detected"].as_str().unwrap())
            .unwrap();
    let started = (detected - chrono::Duration::minutes(30)).with_timezone(&chrono::Utc);
    let started_arg = format!("impact_started={}", started.to_rfc3339());
    let edited = tocsin(
        &app,
        &[
            "incidents",
            "edit",
            "#1",
            "--stage",
            "identified",
            "--milestone",
            &started_arg,
        ],
    )
    .await
    .ok();
    assert!(edited.contains("edited #1"), "{edited}");
    let (_, i) = app.get("/api/v1/incidents/1").await;
    assert_eq!(i["stage"], "identified");
    assert_eq!(
        chrono::DateTime::parse_from_rfc3339(i["milestones"]["impact_started"].as_str().unwrap())
            .unwrap(),
        started
    );
    let removed = tocsin(
        &app,
        &[
            "incidents",
            "edit",
            "1",
            "--milestone",
            "impact_started=none",
        ],
    )
    .await
    .ok();
    assert!(removed.contains("edited #1"), "{removed}");
    let (_, i) = app.get("/api/v1/incidents/1").await;
    assert!(i["milestones"]["impact_started"].is_null(), "{i}");
    let refused = tocsin(
        &app,
        &["incidents", "edit", "1", "--milestone", "detected=none"],
    )
    .await
    .failed();
    assert!(refused.contains("milestones.detected"), "{refused}");
    let bad = tocsin(
        &app,
        &[
            "incidents",
            "edit",
            "1",
            "--milestone",
            "fixed=2026-01-01T00:00:00Z",
        ],
    )
    .await
    .failed();
    assert!(bad.contains("impact_started, detected"), "{bad}");
}

#[tokio::test]
async fn related_incidents_are_linked_from_the_command_line() {
    let app = TestApp::spawn().await;
    for title in ["Checkout slow", "Payments slow"] {
        tocsin(
            &app,
            &[
                "incidents",
                "declare",
                "--title",
                title,
                "--severity",
                "SEV-3",
            ],
        )
        .await
        .ok();
    }
    tocsin(&app, &["incidents", "edit", "1", "--relate", "#2"])
        .await
        .ok();
    let (_, two) = app.get("/api/v1/incidents/2").await;
    assert_eq!(two["related"], json!([1]), "{two}");
    tocsin(&app, &["incidents", "edit", "2", "--unrelate", "1"])
        .await
        .ok();
    let (_, one) = app.get("/api/v1/incidents/1").await;
    assert_eq!(one["related"], json!([]), "{one}");
    let refused = tocsin(&app, &["incidents", "edit", "1", "--relate", "1"])
        .await
        .failed();
    assert!(refused.contains("not related to itself"), "{refused}");
}

#[tokio::test]
async fn updates_are_posted_and_subscriptions_kept_from_the_command_line() {
    let app = TestApp::spawn().await;
    app.service_with_key("checkout").await;
    let (s, b) = app
        .post(
            "/api/v1/users",
            serde_json::json!({"name": "Sam", "email": "sam@example.com"}),
        )
        .await;
    assert!(s.is_success(), "{b}");
    tocsin(
        &app,
        &[
            "incidents",
            "declare",
            "--title",
            "Checkout errors",
            "--severity",
            "SEV-1",
            "--service",
            "checkout",
        ],
    )
    .await
    .ok();

    let added = tocsin(
        &app,
        &[
            "subscriptions",
            "add",
            "--service",
            "checkout",
            "--user",
            "sam@example.com",
        ],
    )
    .await
    .ok();
    assert!(added.starts_with("subscribed usr_"), "{added}");
    let refused = tocsin(
        &app,
        &[
            "subscriptions",
            "add",
            "--incident",
            "1",
            "--channel",
            "#status",
        ],
    )
    .await
    .failed();
    assert!(
        refused.contains("exactly one of --email, --slack"),
        "{refused}"
    );
    let channel = tocsin(
        &app,
        &[
            "subscriptions",
            "add",
            "--incident",
            "1",
            "--channel",
            "#status",
            "--slack",
            "https://hooks.slack.com/services/T0/B0/status",
        ],
    )
    .await
    .ok();
    assert!(channel.contains("#status (slack)"), "{channel}");
    let listed = tocsin(&app, &["subscriptions", "list", "--service", "checkout"])
        .await
        .ok();
    assert_eq!(listed.lines().count(), 2, "a header and Sam: {listed}");

    let posted = tocsin(
        &app,
        &[
            "incidents",
            "update",
            "1",
            "Checkout fails for some payments; rolling back.",
            "--needs",
            "A payments engineer",
        ],
    )
    .await
    .ok();
    assert_eq!(
        posted.trim(),
        "posted update 1 on incident 1 to 0 people and 1 channel",
        "Sam has no contact method; the channel hears"
    );
    let shown = tocsin(&app, &["incidents", "updates", "1"]).await.ok();
    assert!(
        shown.contains("Next update due") && shown.contains("rolling back"),
        "{shown}"
    );

    let id = listed
        .lines()
        .nth(1)
        .and_then(|l| l.split_whitespace().next())
        .unwrap()
        .to_owned();
    let removed = tocsin(&app, &["subscriptions", "remove", &id]).await.ok();
    assert_eq!(removed.trim(), format!("subscription {id} ended"));
}
