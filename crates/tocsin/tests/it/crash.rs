//! Crash safety: every event answered 202 is still there after the server is killed with SIGKILL mid-load.

use crate::support::{ChildGuard, TestApp, free_port};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const SENDERS: usize = 16;
const ACKED_BEFORE_KILL: usize = 2_000;

fn token() -> String {
    let t = format!("tcs_{}", "c".repeat(48));
    assert_eq!(t.len(), 52);
    t
}

struct Server {
    guard: ChildGuard,
    url: String,
}

async fn start(client: &reqwest::Client, data_dir: &Path, log: PathBuf) -> Server {
    let port = free_port();
    let mut guard = ChildGuard::spawn(
        Command::new(env!("CARGO_BIN_EXE_tocsin"))
            .arg("serve")
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .arg("--data-dir")
            .arg(data_dir)
            .env("TOCSIN_BOOTSTRAP_TOKEN", token())
            .env("TOCSIN_DURABILITY", "full")
            .env("TOCSIN_LOG", "warn"),
        log,
    );
    let url = format!("http://127.0.0.1:{port}");
    guard
        .wait_ready(client, &format!("{url}/readyz"), Duration::from_secs(30))
        .await;
    Server { guard, url }
}

async fn api(rb: reqwest::RequestBuilder) -> (StatusCode, Value) {
    let resp = rb.bearer_auth(token()).send().await.expect("API request");
    let status = resp.status();
    let body = resp.json().await.unwrap_or(Value::Null);
    (status, body)
}

/// Sends triggers with fresh dedup keys until the server stops answering; returns the keys it answered 202.
async fn send_until_dead(
    client: reqwest::Client,
    url: String,
    key: String,
    sender: usize,
    acked: Arc<AtomicUsize>,
) -> Vec<String> {
    let mut keys = Vec::new();
    for n in 0.. {
        let dedup_key = format!("crash-{sender}-{n}");
        let sent = client
            .post(format!("{url}/v2/enqueue"))
            .json(&TestApp::trigger(&key, &dedup_key, "critical"))
            .send()
            .await;
        match sent {
            Ok(r) if r.status() == StatusCode::ACCEPTED => {
                keys.push(dedup_key);
                acked.fetch_add(1, Ordering::Relaxed);
            }
            // Not acknowledged, so not promised; keep loading the server.
            Ok(_) => {}
            Err(_) => break,
        }
    }
    keys
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_acknowledged_event_survives_sigkill() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data_dir = dir.path().join("data");
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("HTTP client");

    let mut server = start(&client, &data_dir, dir.path().join("before-kill.log")).await;
    let create = client
        .post(format!("{}/api/v1/services", server.url))
        .json(&json!({ "name": "crash" }));
    let (s, b) = api(create).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let integrate = client
        .post(format!("{}/api/v1/services/crash/integrations", server.url))
        .json(&json!({}));
    let (s, b) = api(integrate).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let key = b["key"].as_str().expect("routing key").to_owned();

    let acked = Arc::new(AtomicUsize::new(0));
    let senders: Vec<_> = (0..SENDERS)
        .map(|i| {
            tokio::spawn(send_until_dead(
                client.clone(),
                server.url.clone(),
                key.clone(),
                i,
                acked.clone(),
            ))
        })
        .collect();

    let deadline = Instant::now() + Duration::from_secs(180);
    while acked.load(Ordering::Relaxed) < ACKED_BEFORE_KILL {
        if let Some(status) = server.guard.child.try_wait().expect("child status") {
            panic!(
                "the server exited ({status}) under load:\n{}",
                server.guard.log_tail()
            );
        }
        assert!(
            Instant::now() < deadline,
            "only {} events acknowledged in time",
            acked.load(Ordering::Relaxed)
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    server.guard.child.kill().expect("SIGKILL the server");
    let killed = server.guard.child.wait().expect("reap the server");
    let at_kill = acked.load(Ordering::Relaxed);

    let mut acked_keys = Vec::new();
    for s in senders {
        acked_keys.extend(s.await.expect("sender task"));
    }
    let unique: HashSet<&String> = acked_keys.iter().collect();
    assert_eq!(unique.len(), acked_keys.len(), "dedup keys must be unique");
    eprintln!(
        "server killed ({killed}) with {at_kill} events acknowledged, {} in all",
        acked_keys.len()
    );

    // The restarted server reads only what reached the database file, nothing from the killed one's memory.
    drop(server);
    let server = start(&client, &data_dir, dir.path().join("after-kill.log")).await;

    let mut stored = HashSet::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut rb = client
            .get(format!("{}/api/v1/alerts", server.url))
            .query(&[("limit", "500")]);
        if let Some(c) = &cursor {
            rb = rb.query(&[("cursor", c)]);
        }
        let (s, page) = api(rb).await;
        assert_eq!(s, StatusCode::OK, "{page}");
        for a in page["items"].as_array().expect("alert items") {
            stored.insert(a["dedup_key"].as_str().expect("dedup_key").to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    let missing: Vec<&String> = acked_keys.iter().filter(|k| !stored.contains(*k)).collect();
    assert!(
        missing.is_empty(),
        "{} of {} acknowledged events are missing after the crash, e.g. {:?}",
        missing.len(),
        acked_keys.len(),
        &missing[..missing.len().min(10)]
    );
    assert!(stored.len() >= acked_keys.len());

    let newest_first = client
        .get(format!("{}/api/v1/incidents", server.url))
        .query(&[("limit", "1")]);
    let (s, latest) = api(newest_first).await;
    assert_eq!(s, StatusCode::OK, "{latest}");
    let newest = latest["items"][0]["number"].as_i64().expect("an incident");
    assert!(
        newest >= acked_keys.len() as i64,
        "each critical trigger opens an incident: newest is #{newest}, {} acknowledged",
        acked_keys.len()
    );
}
