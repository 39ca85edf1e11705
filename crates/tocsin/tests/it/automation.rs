//! Runbook automation end to end: steps that call a real HTTP receiver and run allowed commands on the server, a
//! second responder's approval, a timeout, secrets kept sealed, and a server killed mid-run.

use crate::support::{TestApp, TestDatabase, WebhookReceiver, api, start_on, token, wait_until};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;
use tocsin::automation::{AutomationConfig, CommandConfig};
use tocsin_domain::clock::{ManualClock, SystemClock};

const SECRET: &str = "rundeck-s3cret-value";

fn commands() -> AutomationConfig {
    let shell = |script: &str| CommandConfig {
        program: "/bin/sh".into(),
        args: vec!["-c".into(), script.into()],
    };
    AutomationConfig {
        commands: BTreeMap::from([
            (
                "report".to_owned(),
                shell(
                    "echo \"incident $TOCSIN_INCIDENT_NUMBER key $TOCSIN_IDEMPOTENCY_KEY\"; echo warned >&2; exit 3",
                ),
            ),
            ("flood".to_owned(), shell("seq 1 100000")),
            ("hang".to_owned(), shell("sleep 30")),
        ]),
        allowed_networks: tocsin_domain::net::AllowedNetworks(vec!["127.0.0.0/8".parse().unwrap()]),
    }
}

async fn ok(app: &TestApp, method: Method, path: &str, body: Value) -> Value {
    let mut rb = app.req(method.clone(), path);
    if !body.is_null() {
        rb = rb.json(&body);
    }
    let (s, b) = app.send(rb).await;
    assert!(s.is_success(), "{method} {path}: {s} {b}");
    b
}

/// A token acting as a new responder called `name`.
async fn responder(app: &TestApp, name: &str) -> String {
    let email = format!("{}@example.com", name.to_lowercase());
    ok(
        app,
        Method::POST,
        "/api/v1/users",
        json!({"name": name, "email": email}),
    )
    .await;
    let t = ok(
        app,
        Method::POST,
        "/api/v1/tokens",
        json!({"name": format!("{name}'s"), "user": email}),
    )
    .await;
    t["token"].as_str().unwrap().to_owned()
}

async fn as_token(app: &TestApp, token: &str, method: Method, path: &str) -> (StatusCode, Value) {
    app.send(
        app.client
            .request(method, format!("{}{path}", app.url))
            .bearer_auth(token),
    )
    .await
}

fn step(key: &str, extra: Value) -> Value {
    let mut s = json!({"key": key, "title": format!("Step {key}")});
    s.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    s
}

async fn run(app: &TestApp, incident: u64, step: &str) -> Value {
    ok(
        app,
        Method::POST,
        &format!("/api/v1/incidents/{incident}/runs"),
        json!({"runbook": "checkout", "step": step}),
    )
    .await
}

/// Runs an engine cycle and waits for the run to end: a cycle waits two seconds for its runs, and one that takes
/// longer finishes on its own.
async fn run_now(app: &TestApp, id: &str) -> Value {
    app.cycle().await;
    let mut ended = Value::Null;
    wait_until(
        "the run to end",
        std::time::Duration::from_secs(30),
        async || {
            let (_, r) = app.get(&format!("/api/v1/runs/{id}")).await;
            let done = !matches!(r["status"].as_str(), Some("queued" | "running"));
            ended = r;
            done
        },
    )
    .await;
    ended
}

#[tokio::test]
async fn steps_call_a_real_receiver_and_run_allowed_commands_with_approval_and_timeouts() {
    let app = TestApp::spawn_with(Arc::new(SystemClock), |c| c.automation = commands()).await;
    let receiver = WebhookReceiver::start().await;
    ok(
        &app,
        Method::POST,
        "/api/v1/services",
        json!({"name": "checkout"}),
    )
    .await;

    // A command the server does not allow is refused when the runbook is written, naming the step.
    let (s, b) = app
        .send(
            app.req(Method::PUT, "/api/v1/runbooks/checkout")
                .json(&json!({
                    "title": "Checkout", "steps": [step("rm", json!({"command": "rm-everything"}))]
                })),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
    assert_eq!(b["error"]["details"][0]["field"], "steps[0].command", "{b}");

    ok(
        &app,
        Method::PUT,
        "/api/v1/automation/secrets/rundeck-token",
        json!({"value": SECRET}),
    )
    .await;
    let request = json!({"http": {
        "url": format!("{}/api/41/job/restart/run?incident={{{{incident.number}}}}", receiver.url),
        "headers": {"X-Rundeck-Auth-Token": "{{secret.rundeck-token}}"},
        "body": "{\"options\": {\"title\": \"{{incident.title}}\", \"service\": \"{{incident.services}}\"}}"
    }});
    let mut approved = request.clone();
    approved["needs_approval"] = json!(true);
    ok(&app, Method::PUT, "/api/v1/runbooks/checkout", json!({
        "title": "Checkout",
        "body": "1. Restart the workers.",
        "services": [ok(&app, Method::GET, "/api/v1/services/checkout", Value::Null).await["id"]],
        "steps": [
            step("restart", request),
            step("restart-approved", approved),
            step("report", json!({"command": "report"})),
            step("flood", json!({"command": "flood"})),
            step("hang", json!({"command": "hang", "timeout_seconds": 1})),
            step("metadata", json!({"http": {"url": "http://169.254.169.254/latest/meta-data", "method": "GET"}})),
        ]
    }))
    .await;
    let incident = ok(
        &app,
        Method::POST,
        "/api/v1/incidents",
        json!({
            "title": "Checkout \"down\" & out", "severity": "SEV-1", "services": ["checkout"]
        }),
    )
    .await;
    let number = incident["number"].as_u64().unwrap();

    // An HTTP step: its request filled in and escaped, its secret in a header, its idempotency key sent.
    let first = run(&app, number, "restart").await;
    assert_eq!(first["status"], "queued", "{first}");
    let (s, b) = app
        .send(
            app.req(Method::POST, &format!("/api/v1/incidents/{number}/runs"))
                .json(&json!({"runbook": "checkout", "step": "restart"})),
        )
        .await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("already_running")),
        "one run of a step at a time: {b}"
    );
    let id = first["id"].as_str().unwrap();
    let done = run_now(&app, id).await;
    assert_eq!(
        (done["status"].as_str(), done["outcome"].as_str()),
        (Some("succeeded"), Some("HTTP 200 OK")),
        "{done}"
    );
    let [sent] = receiver.requests().try_into().unwrap();
    assert_eq!(sent.path, "/api/41/job/restart/run");
    assert_eq!(sent.header("idempotency-key"), id);
    assert_eq!(sent.header("x-rundeck-auth-token"), SECRET);
    assert_eq!(
        sent.json(),
        json!({"options": {"title": "Checkout \"down\" & out", "service": "checkout"}})
    );

    // A step that needs approval waits for a second responder.
    let ana = responder(&app, "Ana").await;
    let bo = responder(&app, "Bo").await;
    let (s, asked) = app
        .send(
            app.client
                .post(format!("{}/api/v1/incidents/{number}/runs", app.url))
                .bearer_auth(&ana)
                .json(&json!({"runbook": "checkout", "step": "restart-approved"})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{asked}");
    assert_eq!(asked["status"], "awaiting_approval");
    let gated = asked["id"].as_str().unwrap();
    assert_eq!(app.cycle().await["runs_started"], 0);
    let (s, b) = as_token(
        &app,
        &ana,
        Method::POST,
        &format!("/api/v1/runs/{gated}/approve"),
    )
    .await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("invalid_transition")),
        "{b}"
    );
    assert!(
        b["error"]["message"]
            .as_str()
            .unwrap()
            .contains("a second responder"),
        "{b}"
    );
    let (s, b) = as_token(
        &app,
        &bo,
        Method::POST,
        &format!("/api/v1/runs/{gated}/approve"),
    )
    .await;
    assert_eq!(
        (s, b["status"].as_str()),
        (StatusCode::OK, Some("queued")),
        "{b}"
    );
    assert_eq!(run_now(&app, gated).await["status"], "succeeded");
    assert_eq!(receiver.requests().len(), 2);

    // An allowed command: the incident's values in its environment, its output kept, its exit status reported.
    let report = run(&app, number, "report").await;
    let report_id = report["id"].as_str().unwrap();
    let ended = run_now(&app, report_id).await;
    assert_eq!(
        (ended["status"].as_str(), ended["outcome"].as_str()),
        (Some("failed"), Some("exit status 3")),
        "{ended}"
    );
    let output = ended["output"].as_str().unwrap();
    assert!(
        output.contains(&format!("incident {number} key {report_id}")) && output.contains("warned"),
        "{output}"
    );
    // Output past the cap is cut, saying how much there was.
    let flood = run_now(
        &app,
        run(&app, number, "flood").await["id"].as_str().unwrap(),
    )
    .await;
    let kept = flood["output"].as_str().unwrap();
    assert!(kept.len() < 17 * 1024, "{}", kept.len());
    assert!(
        kept.contains("[cut: 588895 bytes in all]"),
        "{}",
        &kept[kept.len() - 60..]
    );
    // A command that outlives its timeout is killed.
    let hang = run_now(
        &app,
        run(&app, number, "hang").await["id"].as_str().unwrap(),
    )
    .await;
    assert_eq!(
        (hang["status"].as_str(), hang["outcome"].as_str()),
        (Some("timed_out"), Some("timed out after 1 s")),
        "{hang}"
    );
    // A request to a private address the configuration does not allow is not sent.
    let refused = run_now(
        &app,
        run(&app, number, "metadata").await["id"].as_str().unwrap(),
    )
    .await;
    assert_eq!(refused["status"], "failed", "{refused}");
    assert!(
        refused["outcome"]
            .as_str()
            .unwrap()
            .starts_with("not sent:"),
        "{refused}"
    );

    // Retrying keeps the idempotency key.
    let again = ok(
        &app,
        Method::POST,
        &format!("/api/v1/runs/{report_id}/retry"),
        Value::Null,
    )
    .await;
    assert_eq!(again["idempotency_key"], report_id);
    assert_eq!(
        run_now(&app, again["id"].as_str().unwrap()).await["output"]
            .as_str()
            .map(|o| o.contains(&format!("key {report_id}"))),
        Some(true)
    );

    // Every step is on the timeline, in order, with how it ended.
    let (_, timeline) = app
        .get(&format!("/api/v1/incidents/{number}/timeline"))
        .await;
    let runs: Vec<String> = timeline["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"].as_str().unwrap().starts_with("run_"))
        .map(|e| e["message"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(runs.len(), 15, "{runs:#?}");
    assert!(
        runs[1].starts_with("\"Step restart\" succeeded: HTTP 200 OK"),
        "{runs:#?}"
    );
    assert!(
        runs[2].contains("once another responder approves it"),
        "{runs:#?}"
    );
    assert!(runs[3].starts_with("Bo approved running"), "{runs:#?}");

    // The secret is nowhere to be read: not listed, not in the audit log, not in the database file.
    let (_, secrets) = app.get("/api/v1/automation/secrets").await;
    assert!(!secrets.to_string().contains(SECRET), "{secrets}");
    let (_, audit) = app.get("/api/v1/audit").await;
    assert!(!audit.to_string().contains(SECRET));
    let database = std::fs::read(app.db.data_dir.join("tocsin.db")).unwrap_or_default();
    assert!(
        app.db.url.is_some()
            || !database
                .windows(SECRET.len())
                .any(|w| w == SECRET.as_bytes()),
        "the secret is stored in the clear"
    );
}

/// A server killed while a run waits for its receiver: the run is reported as interrupted when the instance comes
/// back (it knows its predecessor's claims died with it), never sent again by itself, and sent again only when a
/// responder asks, with the same idempotency key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_cut_short_by_sigkill_is_reported_interrupted_and_retried_with_its_key() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = TestDatabase::new(dir.path()).await;
    let client = reqwest::Client::new();
    let receiver = WebhookReceiver::start().await;
    receiver.answer_with(crate::support::HOLD);
    let config = dir.path().join("automation.toml");
    std::fs::write(
        &config,
        "[automation]\nallowed_networks = [\"127.0.0.0/8\"]\n[engine]\ninstance = \"only\"\n",
    )
    .unwrap();
    let port = crate::support::free_port();
    let mut server = start_on(
        &client,
        &db,
        dir.path().join("killed.log"),
        Some(&config),
        port,
    )
    .await;
    let url = server.url.clone();
    let call = |method: Method, path: &str, body: Value| {
        let rb = client.request(method, format!("{url}{path}"));
        if body.is_null() { rb } else { rb.json(&body) }
    };
    let (s, b) = api(call(
        Method::POST,
        "/api/v1/services",
        json!({"name": "checkout"}),
    ))
    .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let (s, b) = api(call(Method::PUT, "/api/v1/runbooks/checkout", json!({
        "title": "Checkout",
        "steps": [{"key": "restart", "title": "Restart", "http": {"url": format!("{}/restart", receiver.url)}, "timeout_seconds": 120}]
    })))
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (s, b) = api(call(
        Method::POST,
        "/api/v1/incidents",
        json!({"title": "Down", "severity": "SEV-2"}),
    ))
    .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let (s, started) = api(call(
        Method::POST,
        "/api/v1/incidents/1/runs",
        json!({"runbook": "checkout", "step": "restart"}),
    ))
    .await;
    assert_eq!(s, StatusCode::CREATED, "{started}");
    let id = started["id"].as_str().unwrap().to_owned();
    // The server's engine runs it on its own and waits for the receiver, which holds the request.
    wait_until(
        "the step's request",
        std::time::Duration::from_secs(30),
        async || !receiver.requests().is_empty(),
    )
    .await;
    server.guard.child.kill().expect("SIGKILL the server");
    let _ = server.guard.child.wait();
    db.assert_intact();

    // The same instance comes back, on a clock an hour on: nothing is sent by itself.
    let later = chrono::Utc::now() + chrono::Duration::hours(1);
    let back = TestApp::spawn_with(Arc::new(ManualClock::new(later)), |c| {
        c.data_dir = db.data_dir.clone();
        c.database_url = db.url.clone();
        c.bootstrap_token = Some(token());
        c.engine.instance = Some("only".into());
        c.automation.allowed_networks =
            tocsin_domain::net::AllowedNetworks(vec!["127.0.0.0/8".parse().unwrap()]);
    })
    .await;
    let back = back.with_token(token());
    back.cycle().await;
    let (_, run) = back.get(&format!("/api/v1/runs/{id}")).await;
    assert_eq!(run["status"], "interrupted", "{run}");
    assert!(
        run["outcome"]
            .as_str()
            .unwrap()
            .contains("not run again by itself"),
        "{run}"
    );
    back.cycle().await;
    assert_eq!(
        receiver.requests().len(),
        1,
        "an interrupted run is not repeated by itself"
    );

    receiver.answer_with(202);
    let (s, again) = back
        .send(back.req(Method::POST, &format!("/api/v1/runs/{id}/retry")))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{again}");
    back.cycle().await;
    wait_until(
        "the retried request",
        std::time::Duration::from_secs(30),
        async || receiver.requests().len() >= 2,
    )
    .await;
    let requests = receiver.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[1].header("idempotency-key"), id);
    assert_eq!(requests[0].header("idempotency-key"), id);
    let (_, timeline) = back.get("/api/v1/incidents/1/timeline").await;
    let kinds: Vec<&str> = timeline["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["kind"].as_str().filter(|k| k.starts_with("run_")))
        .collect();
    assert_eq!(
        kinds,
        [
            "run_requested",
            "run_finished",
            "run_requested",
            "run_finished"
        ]
    );
}
