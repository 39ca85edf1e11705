//! Test harness: a real server per test, and helpers to talk to it.

use reqwest::{Method, RequestBuilder, StatusCode};
use serde_json::{Value, json};
use std::sync::Arc;
use tempfile::TempDir;
use tocsin::config::{Config, Durability};
use tocsin::server::RunningServer;
use tocsin_domain::clock::{Clock, SystemClock};

pub const ADMIN_TOKEN: &str = "tcs_test0000000000000000000000000000000000000000000";

pub struct TestApp {
    pub url: String,
    pub token: String,
    pub client: reqwest::Client,
    #[allow(dead_code)] // kept alive for the test's duration
    pub server: Option<RunningServer>,
    #[allow(dead_code)] // the data directory lives as long as the app
    pub dir: TempDir,
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with_clock(Arc::new(SystemClock)).await
    }

    pub async fn spawn_with_clock(clock: Arc<dyn Clock>) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let config = Config {
            listen: "127.0.0.1:0".parse().unwrap(),
            data_dir: dir.path().join("data"),
            durability: Durability::Process,
            bootstrap_token: Some(ADMIN_TOKEN.into()),
            ..Config::default()
        };
        let server = tocsin::server::start(&config, clock)
            .await
            .expect("server starts");
        Self {
            url: format!("http://{}", server.addr),
            token: ADMIN_TOKEN.into(),
            client: reqwest::Client::new(),
            server: Some(server),
            dir,
        }
    }

    /// A request with the admin token.
    pub fn req(&self, method: Method, path: &str) -> RequestBuilder {
        self.client
            .request(method, format!("{}{path}", self.url))
            .bearer_auth(&self.token)
    }

    /// Sends a request and returns the status and the JSON body (Null when there is none).
    pub async fn send(&self, rb: RequestBuilder) -> (StatusCode, Value) {
        let resp = rb.send().await.expect("request sent");
        let status = resp.status();
        let text = resp.text().await.expect("body read");
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, body)
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.send(self.req(Method::GET, path)).await
    }

    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.send(self.req(Method::POST, path).json(&body)).await
    }

    /// Creates a service with a PagerDuty integration and returns the routing key.
    pub async fn service_with_key(&self, name: &str) -> String {
        let (s, b) = self.post("/api/v1/services", json!({ "name": name })).await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
        let (s, b) = self
            .post(&format!("/api/v1/services/{name}/integrations"), json!({}))
            .await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
        b["key"].as_str().unwrap().to_owned()
    }

    /// Posts to `/v2/enqueue` without an API token, as a sender does.
    pub async fn enqueue(&self, body: Value) -> (StatusCode, Value) {
        self.send(
            self.client
                .post(format!("{}/v2/enqueue", self.url))
                .json(&body),
        )
        .await
    }

    pub fn trigger(key: &str, dedup_key: &str, severity: &str) -> Value {
        json!({
            "routing_key": key,
            "event_action": "trigger",
            "dedup_key": dedup_key,
            "payload": { "summary": format!("{dedup_key} failing"), "source": "test", "severity": severity }
        })
    }
}

/// Whether tests that need an external program (Alertmanager) must run: in CI they must, elsewhere they may skip.
pub fn peers_required() -> bool {
    std::env::var("TOCSIN_REQUIRE_PEERS").is_ok_and(|v| v == "1")
}

/// A loopback port that was free a moment ago, for programs that must be told their port before they start.
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    listener.local_addr().expect("local address").port()
}

/// A child process whose output goes to `log` and which is killed when dropped, so a failing test leaves no
/// process behind.
pub struct ChildGuard {
    pub child: std::process::Child,
    pub log: std::path::PathBuf,
}

impl ChildGuard {
    pub fn spawn(cmd: &mut std::process::Command, log: std::path::PathBuf) -> Self {
        let out = std::fs::File::create(&log).expect("create child log");
        let err = out.try_clone().expect("clone child log");
        let child = cmd
            .stdin(std::process::Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {:?}: {e}", cmd.get_program()));
        Self { child, log }
    }

    /// The end of the child's output, to put in failure messages.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    /// Polls `url` until it answers 200; panics with the child's output if it exits or `within` passes first.
    pub async fn wait_ready(
        &mut self,
        client: &reqwest::Client,
        url: &str,
        within: std::time::Duration,
    ) {
        let deadline = std::time::Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().expect("child status") {
                panic!(
                    "{url}: the process exited ({status}) before it was ready:\n{}",
                    self.log_tail()
                );
            }
            if let Ok(r) = client.get(url).send().await
                && r.status() == StatusCode::OK
            {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{url} not ready within {within:?}:\n{}",
                self.log_tail()
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub const ALERTMANAGER: &str = "/usr/bin/prometheus-alertmanager";
pub const AMTOOL: &str = "/usr/bin/amtool";

/// A running Alertmanager with the given configuration, or `None` (the test skips) when it is not installed and
/// the environment does not demand it.
pub struct AlertmanagerPeer {
    pub guard: ChildGuard,
    pub url: String,
    _dir: TempDir,
}

impl AlertmanagerPeer {
    pub async fn start(client: &reqwest::Client, config: &serde_json::Value) -> Option<Self> {
        if !std::path::Path::new(ALERTMANAGER).exists() {
            assert!(
                !peers_required(),
                "{ALERTMANAGER} is missing and TOCSIN_REQUIRE_PEERS=1; run scripts/install-test-deps.sh"
            );
            eprintln!(
                "SKIPPED: {ALERTMANAGER} is not installed (scripts/install-test-deps.sh installs it)"
            );
            return None;
        }
        let dir = tempfile::tempdir().expect("temp dir");
        let config_file = dir.path().join("alertmanager.yml");
        std::fs::write(
            &config_file,
            serde_yaml_ng::to_string(config).expect("YAML"),
        )
        .expect("write config");
        let url = format!("http://127.0.0.1:{}", free_port());
        let mut guard = ChildGuard::spawn(
            std::process::Command::new(ALERTMANAGER)
                .arg(format!("--config.file={}", config_file.display()))
                .arg(format!(
                    "--storage.path={}",
                    dir.path().join("data").display()
                ))
                .arg(format!(
                    "--web.listen-address={}",
                    url.trim_start_matches("http://")
                ))
                .arg("--cluster.listen-address="),
            dir.path().join("alertmanager.log"),
        );
        guard
            .wait_ready(
                client,
                &format!("{url}/-/ready"),
                std::time::Duration::from_secs(20),
            )
            .await;
        Some(Self {
            guard,
            url,
            _dir: dir,
        })
    }

    /// Posts alerts to Alertmanager's own API, as Prometheus does.
    pub async fn post_alerts(&self, client: &reqwest::Client, alerts: serde_json::Value) {
        let resp = client
            .post(format!("{}/api/v2/alerts", self.url))
            .json(&alerts)
            .send()
            .await
            .expect("post to Alertmanager");
        let status = resp.status();
        assert_eq!(
            status,
            StatusCode::OK,
            "{}",
            resp.text().await.unwrap_or_default()
        );
    }
}

/// Polls `path` on Tocsin until `check` finds what it waits for; external programs deliver on their own schedule.
pub async fn poll<T>(
    app: &TestApp,
    peer: &ChildGuard,
    path: &str,
    what: &str,
    check: impl Fn(&Value) -> Option<T>,
) -> T {
    let within = std::time::Duration::from_secs(30);
    let deadline = std::time::Instant::now() + within;
    loop {
        let (status, body) = app.get(path).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        if let Some(found) = check(&body) {
            return found;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{what}: not seen within {within:?}; last {path}: {body}\npeer's log:\n{}",
            peer.log_tail()
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}
