//! Operating a server: recovering admin access and backing up the embedded database, with the real binary.

use crate::cli::run;
use crate::support::TestApp;
use reqwest::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn a_lost_admin_token_is_replaced_from_the_command_line() {
    let app = TestApp::spawn().await;
    let mut args = vec!["admin-token"];
    let db = app.db.args();
    args.extend(db.iter().map(String::as_str));
    let out = run(&app, &[("TOCSIN_LOG", "warn")], &args).await.ok();
    let token = out
        .split_whitespace()
        .find(|w| w.starts_with("tcs_"))
        .unwrap_or_else(|| panic!("no token in:\n{out}"))
        .to_owned();

    let resp = app
        .client
        .get(format!("{}/api/v1/tokens", app.url))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let tokens: serde_json::Value = resp.json().await.unwrap();
    let recovered = tokens["items"]
        .as_array()
        .expect("a token list")
        .iter()
        .find(|t| t["name"] == "recovered admin")
        .expect("the recovered token is listed");
    assert_eq!(recovered["role"], "owner");
}

#[tokio::test]
async fn a_backup_of_the_running_database_is_consistent_and_restores() {
    let app = TestApp::spawn().await;
    if app.db.url.is_some() {
        // PostgreSQL is backed up with pg_dump, not by Tocsin, and the command says so.
        let to = app.dir.path().join("unused.db");
        let mut args = vec!["backup", "--to", to.to_str().unwrap()];
        let db = app.db.args();
        args.extend(db.iter().map(String::as_str));
        let out = run(&app, &[], &args).await.failed();
        assert!(out.contains("pg_dump"), "{out}");
        return;
    }
    let (status, _) = app
        .send(app.req(Method::POST, "/api/v1/incidents").json(&json!({
            "title": "Checkout is down", "severity": "SEV-1"
        })))
        .await;
    assert_eq!(status, StatusCode::CREATED);

    let copy = app.dir.path().join("restore").join("tocsin.db");
    std::fs::create_dir_all(copy.parent().unwrap()).unwrap();
    let copy_arg = copy.to_string_lossy().into_owned();
    let data_arg = app.db.data_dir.to_string_lossy().into_owned();
    run(
        &app,
        &[],
        &["backup", "--data-dir", &data_arg, "--to", &copy_arg],
    )
    .await
    .ok();
    assert!(
        tocsin_store::sqlite::integrity_problems(&copy)
            .unwrap()
            .is_empty()
    );
    let again = run(
        &app,
        &[],
        &["backup", "--data-dir", &data_arg, "--to", &copy_arg],
    )
    .await
    .failed();
    assert!(again.contains("already exists"), "{again}");
    let mode = |p: &std::path::Path| {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    };
    assert_eq!(mode(&copy), 0o600, "the copy holds the same secrets");

    // Restoring is starting a server on a data directory holding the copy and the secret key.
    std::fs::copy(
        app.db.data_dir.join("secret.key"),
        copy.parent().unwrap().join("secret.key"),
    )
    .unwrap();
    let restored = TestApp::spawn_with(
        std::sync::Arc::new(tocsin_domain::clock::SystemClock),
        |c| {
            c.data_dir = copy.parent().unwrap().to_owned();
        },
    )
    .await;
    let (status, list) = restored.get("/api/v1/incidents").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["items"][0]["title"], "Checkout is down", "{list}");
}

#[tokio::test]
async fn the_data_directory_is_its_owners_alone() {
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let scratch = tempfile::tempdir().unwrap();
    let fresh = scratch.path().join("data");
    let app = TestApp::spawn_with(
        std::sync::Arc::new(tocsin_domain::clock::SystemClock),
        |c| {
            c.data_dir = fresh.clone();
            c.database_url = None;
        },
    )
    .await;
    app.post("/api/v1/services", json!({"name": "checkout"}))
        .await;
    assert_eq!(mode(&fresh), 0o700);
    for file in ["tocsin.db", "tocsin.db-wal", "tocsin.db-shm"] {
        let path = fresh.join(file);
        if path.exists() {
            assert_eq!(mode(&path), 0o600, "{file}");
        }
    }
    assert!(fresh.join("tocsin.db").exists());

    let shared = scratch.path().join("shared");
    std::fs::create_dir(&shared).unwrap();
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o777)).unwrap();
    let config = tocsin::config::Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: shared.clone(),
        ..tocsin::config::Config::default()
    };
    let refused = refused_start(&config).await;
    assert!(refused.contains("chmod go-w"), "{refused}");
    assert!(
        !shared.join("tocsin.db").exists(),
        "nothing was created in it"
    );
}

/// A database from before sealing existed: its secrets are sealed at the first start, and the file is rewritten so
/// that their plaintext is gone from it, while everything reads back the same.
#[tokio::test]
async fn secrets_stored_before_sealing_are_sealed_and_gone_from_the_file() {
    use tocsin_domain::contact::{ContactMethodSpec, ContactTarget};
    let scratch = tempfile::tempdir().unwrap();
    let data = scratch.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let chat_url = "https://hooks.slack.com/services/T9/B9/plaintextsekrit";
    {
        let old = tocsin_store::sqlite::open(
            &data.join("tocsin.db"),
            tocsin_store::sqlite::Durability::Full,
        )
        .unwrap();
        let ann = tocsin_store::conformance::paging::person(&old, "ann").await;
        use tocsin_store::Store;
        old.contacts()
            .create_method(
                &tocsin_store::conformance::refs::user_ref(ann.as_str()),
                ContactMethodSpec {
                    name: "chat".into(),
                    target: ContactTarget::Slack {
                        url: tocsin_domain::catalog::HttpUrl::parse(chat_url).unwrap(),
                    },
                    enabled: true,
                },
                chrono::Utc::now(),
            )
            .await
            .unwrap();
    }
    let file_holds = |needle: &str| {
        ["tocsin.db", "tocsin.db-wal"].iter().any(|f| {
            std::fs::read(data.join(f)).is_ok_and(|b| String::from_utf8_lossy(&b).contains(needle))
        })
    };
    assert!(
        file_holds("plaintextsekrit"),
        "the old database holds it in plaintext"
    );
    let app = TestApp::spawn_with(
        std::sync::Arc::new(tocsin_domain::clock::SystemClock),
        |c| {
            c.data_dir = data.clone();
            c.database_url = None;
        },
    )
    .await;
    assert!(
        !file_holds("plaintextsekrit"),
        "the plaintext is gone from the file"
    );
    let (_, users) = app.get("/api/v1/users").await;
    let ann = users["items"][0]["id"].as_str().unwrap();
    let (_, methods) = app
        .get(&format!("/api/v1/users/{ann}/contact-methods"))
        .await;
    assert_eq!(methods["items"][0]["target"]["type"], "slack", "{methods}");
}

/// Why a server with `config` does not start.
async fn refused_start(config: &tocsin::config::Config) -> String {
    let refused = tocsin::server::start(
        config,
        std::sync::Arc::new(tocsin_domain::clock::SystemClock),
    )
    .await
    .err()
    .expect("the server refuses to start");
    format!("{refused:#}")
}

/// A copy of the database holds no credential: chat URLs and webhook secrets are sealed with a key kept outside
/// it, made on first start readable by the owner alone; a server given another key refuses to start rather than
/// fail every notification later.
#[tokio::test]
async fn stored_secrets_are_sealed_with_a_key_outside_the_database() {
    use std::os::unix::fs::PermissionsExt;
    let app = TestApp::spawn().await;
    let (_, user) = app
        .post(
            "/api/v1/users",
            json!({"name": "Ann", "email": "ann@example.test"}),
        )
        .await;
    let user = user["id"].as_str().unwrap();
    let chat_url = "https://hooks.slack.com/services/T0001/B0001/sealedsekrit";
    let (s, chat) = app
        .post(
            &format!("/api/v1/users/{user}/contact-methods"),
            json!({"name": "chat", "target": {"type": "slack", "url": chat_url}}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{chat}");
    let (s, hook) = app
        .post(
            &format!("/api/v1/users/{user}/contact-methods"),
            json!({"name": "hook", "target": {"type": "webhook", "url": "https://example.com/hook"}}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{hook}");
    let secret = hook["target"]["secret"].as_str().unwrap().to_owned();

    let key_file = app.db.data_dir.join("secret.key");
    let mode = std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    if app.db.url.is_none() {
        let mut bytes = Vec::new();
        for file in ["tocsin.db", "tocsin.db-wal"] {
            if let Ok(b) = std::fs::read(app.db.data_dir.join(file)) {
                bytes.extend(b);
            }
        }
        let text = String::from_utf8_lossy(&bytes);
        assert!(text.contains("Ann"), "the database file was read");
        for credential in ["sealedsekrit", secret.as_str()] {
            assert!(
                !text.contains(credential),
                "{credential} is in the database file"
            );
        }
    }

    // Another key, as on an instance not given the first one's: refused at start, with what to do.
    let other_key = app.dir.path().join("other.key");
    std::fs::write(
        &other_key,
        tocsin_store::secrets::SecretKey::generate().encode(),
    )
    .unwrap();
    let config = tocsin::config::Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: app.db.data_dir.clone(),
        database_url: app.db.url.clone(),
        secret_key_file: Some(other_key),
        ..tocsin::config::Config::default()
    };
    let refused = refused_start(&config).await;
    assert!(
        refused.contains("the secret key is not the one"),
        "{refused}"
    );
    // No key at all for a database whose secrets are sealed: refused, not a new key made.
    let refused = refused_start(&tocsin::config::Config {
        secret_key_file: Some(app.dir.path().join("missing.key")),
        ..config.clone()
    })
    .await;
    assert!(
        refused.contains("sealed with a secret key that is not here"),
        "{refused}"
    );
    assert!(!app.dir.path().join("missing.key").exists());
    // The offline commands touch no secret and make no key.
    let offline = tempfile::tempdir().unwrap();
    let fresh = tocsin::config::Config {
        data_dir: offline.path().join("data"),
        ..tocsin::config::Config::default()
    };
    tocsin::server::migrate(&fresh).await.unwrap();
    assert!(!fresh.data_dir.join("secret.key").exists());
    // The same key in its own file is the same key.
    let same_key = app.dir.path().join("same.key");
    std::fs::copy(&key_file, &same_key).unwrap();
    let again = tocsin::server::start(
        &tocsin::config::Config {
            secret_key_file: Some(same_key),
            ..config
        },
        std::sync::Arc::new(tocsin_domain::clock::SystemClock),
    )
    .await
    .expect("the same key opens the database");
    drop(again);
    let (_, read) = app
        .get(&format!("/api/v1/users/{user}/contact-methods"))
        .await;
    assert_eq!(
        read["items"][1]["target"]["url"], "https://example.com/hook",
        "{read}"
    );
}

/// The value of one series in a Prometheus text exposition.
fn series(metrics: &str, name: &str) -> f64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
        .unwrap_or_else(|| panic!("{name} missing from:\n{metrics}"))
}

#[tokio::test]
async fn metrics_have_every_series_from_the_start_and_show_the_database_state() {
    let app = TestApp::spawn().await;
    let scrape = || app.text("/metrics");
    let fresh = scrape().await;
    for zero in [
        r#"tocsin_events_total{kind="prometheus",outcome="created"}"#,
        r#"tocsin_events_total{kind="opsgenie",outcome="rate_limited"}"#,
        r#"tocsin_incidents_opened_total{severity="SEV-0"}"#,
        r#"tocsin_notifications_total{channel="email",outcome="failed"}"#,
        r#"tocsin_incidents_open{severity="SEV-1"}"#,
        "tocsin_incidents_unassigned",
        "tocsin_deliveries_pending",
        "tocsin_deliveries_overdue",
        "tocsin_store_write_queue",
    ] {
        assert_eq!(series(&fresh, zero), 0.0, "{zero}");
    }
    assert!(series(&fresh, "process_resident_memory_bytes") > 0.0);
    assert!(fresh.contains("tocsin_engine_cycle_duration_seconds_bucket"));

    // An alert on a service without a policy: one open SEV-1 incident, which nobody has.
    let key = app.service_with_key("orphan").await;
    let (s, _) = app
        .enqueue(TestApp::trigger(&key, "disk", "critical"))
        .await;
    assert_eq!(s, StatusCode::ACCEPTED);
    let after = scrape().await;
    assert_eq!(
        series(&after, r#"tocsin_incidents_open{severity="SEV-1"}"#),
        1.0
    );
    assert_eq!(series(&after, "tocsin_incidents_unassigned"), 1.0);
    assert!(series(&after, "tocsin_store_commit_duration_seconds_count") >= 2.0);
    let (_, _) = app.post("/api/v1/incidents/1/acknowledge", json!({})).await;
    let acked = scrape().await;
    assert_eq!(series(&acked, "tocsin_incidents_unassigned"), 0.0);
}

/// At `http.max_connections` open connections the server accepts no more until one closes: a new client waits
/// in the backlog, is served once a slot frees, and `/metrics` shows the cap was reached.
#[tokio::test]
async fn connections_over_the_cap_wait_for_a_slot() {
    let app = TestApp::spawn_with(
        std::sync::Arc::new(tocsin_domain::clock::SystemClock),
        |c| {
            c.http.max_connections = 3;
            c.http.header_read_timeout_ms = 60_000;
        },
    )
    .await;
    let addr = app.url.trim_start_matches("http://").to_owned();
    let mut idle = Vec::new();
    for _ in 0..3 {
        idle.push(tokio::net::TcpStream::connect(&addr).await.unwrap());
    }
    let url = format!("{}/healthz", app.url);
    let mut waiting = tokio::spawn(async move { reqwest::get(url).await.map(|r| r.status()) });
    let served_at_the_cap =
        tokio::time::timeout(std::time::Duration::from_millis(300), &mut waiting).await;
    assert!(
        served_at_the_cap.is_err(),
        "a fourth connection was served while three were open"
    );
    drop(idle.pop());
    assert_eq!(waiting.await.unwrap().unwrap(), StatusCode::OK);
    drop(idle);
    let metrics = app.text("/metrics").await;
    assert!(
        series(&metrics, "tocsin_http_connection_cap_reached_total") >= 1.0,
        "{metrics}"
    );
    assert!(
        series(&metrics, "tocsin_http_connections_open") <= 3.0,
        "{metrics}"
    );
}

/// Slow and idle clients: sockets that never finish their headers, bodies trickled a byte at a time and idle
/// keep-alive connections are closed after their timeouts, and meanwhile health checks and ingest answer.
#[tokio::test]
async fn slow_clients_are_cut_off_while_others_are_served() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = TestApp::spawn_with(
        std::sync::Arc::new(tocsin_domain::clock::SystemClock),
        |c| {
            c.http.header_read_timeout_ms = 400;
            c.http.body_read_timeout_ms = 800;
        },
    )
    .await;
    let key = app.service_with_key("checkout").await;
    let addr = app.url.trim_start_matches("http://").to_owned();
    let mut slow = Vec::new();
    for i in 0..150 {
        let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
        let start: &[u8] = match i % 3 {
            // Headers that never end.
            0 => b"POST /v2/enqueue HTTP/1.1\r\nHost: x\r\nX-Slow: ",
            // A body promised and trickled.
            1 => b"POST /v2/enqueue HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{",
            // A finished request, then an idle keep-alive connection.
            _ => b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
        };
        s.write_all(start).await.unwrap();
        slow.push(s);
    }
    // Meanwhile the server answers others at once.
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(5))
        .build()
        .unwrap();
    let health = client
        .get(format!("{}/healthz", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    let ingest = client
        .post(format!("{}/v2/enqueue", app.url))
        .json(&TestApp::trigger(&key, "slowloris", "critical"))
        .send()
        .await
        .unwrap();
    assert_eq!(ingest.status(), StatusCode::ACCEPTED);
    // Every slow socket is closed by the server once its timeout passes (the idle ones after their answer).
    for (i, mut s) in slow.into_iter().enumerate() {
        let mut seen = Vec::new();
        let closed = tokio::time::timeout(std::time::Duration::from_secs(5), async {
            let mut buf = [0u8; 4096];
            loop {
                match s.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => seen.extend_from_slice(&buf[..n]),
                }
            }
        })
        .await;
        assert!(
            closed.is_ok(),
            "slow socket {i} is still open: {}",
            String::from_utf8_lossy(&seen)
        );
    }
}
