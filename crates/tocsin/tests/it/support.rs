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
    /// The database the server uses.
    pub db: TestDatabase,
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with_clock(Arc::new(SystemClock)).await
    }

    pub async fn spawn_with_clock(clock: Arc<dyn Clock>) -> Self {
        Self::spawn_with(clock, |_| {}).await
    }

    /// A server with settings changed by `configure` (notification transports, engine).
    pub async fn spawn_with(clock: Arc<dyn Clock>, configure: impl FnOnce(&mut Config)) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = TestDatabase::new(dir.path()).await;
        let mut config = Config {
            listen: "127.0.0.1:0".parse().unwrap(),
            data_dir: db.data_dir.clone(),
            database_url: db.url.clone(),
            durability: Durability::Process,
            bootstrap_token: Some(ADMIN_TOKEN.into()),
            // The tests' receivers listen on loopback, which users' URLs may not reach by default.
            notify: tocsin::notify::NotifyConfig {
                allowed_networks: tocsin_domain::net::AllowedNetworks(vec![
                    "127.0.0.0/8".parse().unwrap(),
                ]),
                ..Default::default()
            },
            ..Config::default()
        };
        configure(&mut config);
        // `configure` may point the server at another app's database.
        let db = TestDatabase {
            data_dir: config.data_dir.clone(),
            url: config.database_url.clone(),
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
            db,
        }
    }

    /// The same server, called with `token` (one an earlier process on its database made).
    pub fn with_token(mut self, token: String) -> Self {
        self.token = token;
        self
    }

    /// The link that creates the first owner's account, which the first start prints.
    pub fn first_owner_link(&self) -> String {
        self.server
            .as_ref()
            .and_then(|s| s.first_owner_link.clone())
            .expect("the first start makes a link for the first owner")
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

    /// The body of an unauthenticated GET, as text (metrics, the OpenAPI document).
    pub async fn text(&self, path: &str) -> String {
        self.client
            .get(format!("{}{path}", self.url))
            .send()
            .await
            .expect("request sent")
            .text()
            .await
            .expect("body read")
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

    /// Records a change event (a deploy from CI) through a PagerDuty integration's key.
    pub async fn change(&self, key: &str, summary: &str) {
        let change = json!({"routing_key": key, "payload": {"summary": summary, "source": "ci"}});
        let (s, b) = self
            .send(
                self.client
                    .post(format!("{}/v2/change/enqueue", self.url))
                    .json(&change),
            )
            .await;
        assert_eq!(s, StatusCode::ACCEPTED, "{b}");
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
/// The backend the servers of this run use: a fresh PostgreSQL database when `TOCSIN_TEST_BACKEND=postgres`
/// (its URL), else the embedded SQLite in the test's data directory (`None`).
pub async fn test_database() -> Option<String> {
    if std::env::var("TOCSIN_TEST_BACKEND").as_deref() != Ok("postgres") {
        return None;
    }
    Some(
        tocsin_store::postgres::test_database()
            .await
            .expect("TOCSIN_TEST_BACKEND=postgres needs TOCSIN_TEST_POSTGRES_URL"),
    )
}

/// Where a test's servers keep their data, on the backend of this run: a data directory for SQLite, or a fresh
/// PostgreSQL database. Restarts and second processes get the same one.
pub struct TestDatabase {
    pub data_dir: std::path::PathBuf,
    pub url: Option<String>,
}

impl TestDatabase {
    pub async fn new(dir: &std::path::Path) -> Self {
        Self {
            data_dir: dir.join("data"),
            url: test_database().await,
        }
    }

    /// The `tocsin` arguments that select it. The data directory also holds the secret key, which every process
    /// on one database shares.
    pub fn args(&self) -> Vec<String> {
        let mut args = vec![
            "--data-dir".into(),
            self.data_dir.to_string_lossy().into_owned(),
        ];
        if let Some(url) = &self.url {
            args.extend(["--database".into(), url.clone()]);
        }
        args
    }

    /// After a process on it was killed: SQLite's integrity check finds nothing wrong with the file. (PostgreSQL
    /// was not killed, and recovers its own.)
    pub fn assert_intact(&self) {
        if self.url.is_none() {
            let problems =
                tocsin_store::sqlite::integrity_problems(&self.data_dir.join("tocsin.db"))
                    .expect("run the integrity check");
            assert!(
                problems.is_empty(),
                "integrity check after the kill: {problems:?}"
            );
        }
    }

    /// A store of its own on it, as another process would open, with the servers' secret key.
    pub async fn open(&self) -> tocsin_store::SqlStore {
        std::fs::create_dir_all(&self.data_dir).expect("data dir");
        let key = tocsin::server::existing_secret_key(&tocsin::config::Config {
            data_dir: self.data_dir.clone(),
            ..Default::default()
        })
        .expect("the secret key");
        let store = match &self.url {
            Some(url) => tocsin_store::postgres::open(url, Default::default())
                .await
                .expect("open the test database"),
            None => {
                std::fs::create_dir_all(&self.data_dir).expect("data dir");
                tocsin_store::sqlite::open(
                    &self.data_dir.join("tocsin.db"),
                    tocsin_store::sqlite::Durability::Process,
                )
                .expect("open the test database")
            }
        };
        match key {
            Some(key) => store.with_secret_key(&key),
            None => store,
        }
    }
}

pub fn peers_required() -> bool {
    std::env::var("TOCSIN_REQUIRE_PEERS").is_ok_and(|v| v == "1")
}

/// Runs `python3` with `args` on a blocking thread and returns its stdout, failing the test (with its stderr) if
/// it fails.
pub async fn python3(args: Vec<std::ffi::OsString>) -> Vec<u8> {
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("python3")
            .args(&args)
            .output()
            .expect("python3 runs")
    })
    .await
    .expect("the python3 thread finishes");
    assert!(
        out.status.success(),
        "python3 failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Whether `python3` lacks `module` (installed from PyPI by scripts/install-test-deps.sh), which fails the test
/// where peers are required.
pub fn python_module_missing(module: &str) -> bool {
    let found = std::process::Command::new("python3")
        .args(["-c", &format!("import {module}")])
        .output();
    if found.is_ok_and(|o| o.status.success()) {
        return false;
    }
    assert!(
        !peers_required(),
        "python3's {module} is missing; run scripts/install-test-deps.sh"
    );
    eprintln!("SKIPPED: {module} is not installed");
    true
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

/// The interpreter Debian's python3-* packages (installed by scripts/install-test-deps.sh) belong to; a `python3`
/// earlier on PATH (pyenv, a virtualenv) would not see them.
pub const DEBIAN_PYTHON: &str = "/usr/bin/python3";

/// A real SMTP server (Python's aiosmtpd) storing every message it receives in a maildir, or `None` (the test
/// skips) when aiosmtpd is not installed and the environment does not demand it.
/// The relay settings of a server that sends its mail to the [`SmtpPeer`] listening on `port`.
pub fn smtp_relay(port: u16) -> tocsin::notify::SmtpConfig {
    tocsin::notify::SmtpConfig {
        port: Some(port),
        tls: tocsin::notify::SmtpTls::None,
        ..tocsin::notify::SmtpConfig::new("127.0.0.1", "Tocsin <tocsin@example.test>")
    }
}

pub struct SmtpPeer {
    pub guard: ChildGuard,
    pub port: u16,
    dir: TempDir,
}

/// One received email, parsed by Python's `email` package.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct ReceivedMail {
    pub to: String,
    pub subject: String,
    pub message_id: String,
    /// The text/plain part, decoded.
    pub text: String,
}

impl SmtpPeer {
    pub async fn start() -> Option<Self> {
        let available = std::process::Command::new(DEBIAN_PYTHON)
            .args(["-c", "import aiosmtpd"])
            .status()
            .is_ok_and(|s| s.success());
        if !available {
            assert!(
                !peers_required(),
                "python3-aiosmtpd is missing and TOCSIN_REQUIRE_PEERS=1; run scripts/install-test-deps.sh"
            );
            eprintln!(
                "SKIPPED: aiosmtpd is not installed (scripts/install-test-deps.sh installs it)"
            );
            return None;
        }
        let dir = tempfile::tempdir().expect("temp dir");
        let port = free_port();
        let mut guard = ChildGuard::spawn(
            std::process::Command::new(DEBIAN_PYTHON)
                .args(["-m", "aiosmtpd", "-n", "-l"])
                .arg(format!("127.0.0.1:{port}"))
                .args(["-c", "aiosmtpd.handlers.Mailbox"])
                .arg(dir.path().join("mail")),
            dir.path().join("smtp.log"),
        );
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            if let Some(status) = guard.child.try_wait().expect("child status") {
                panic!("aiosmtpd exited ({status}):\n{}", guard.log_tail());
            }
            assert!(
                std::time::Instant::now() < deadline,
                "aiosmtpd not listening:\n{}",
                guard.log_tail()
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        Some(Self { guard, port, dir })
    }

    /// Every message received so far, oldest first.
    pub fn messages(&self) -> Vec<ReceivedMail> {
        let new = self.dir.path().join("mail").join("new");
        let Ok(entries) = std::fs::read_dir(&new) else {
            return Vec::new();
        };
        let mut files: Vec<(std::time::SystemTime, std::path::PathBuf)> = entries
            .filter_map(|e| e.ok())
            .map(|e| {
                (
                    e.metadata()
                        .and_then(|m| m.modified())
                        .unwrap_or(std::time::UNIX_EPOCH),
                    e.path(),
                )
            })
            .collect();
        files.sort();
        files
            .into_iter()
            .map(|(_, path)| {
                let out = std::process::Command::new(DEBIAN_PYTHON)
                    .arg("-c")
                    .arg(
                        "import email, email.policy, json, sys\n\
                         m = email.message_from_binary_file(open(sys.argv[1], 'rb'), policy=email.policy.default)\n\
                         body = m.get_body(preferencelist=('plain',))\n\
                         print(json.dumps({'to': str(m['To']), 'subject': str(m['Subject']), 'message_id': str(m['Message-ID']), 'text': body.get_content() if body else ''}))",
                    )
                    .arg(&path)
                    .output()
                    .expect("python3 parses the message");
                assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
                serde_json::from_slice(&out.stdout).expect("parsed message as JSON")
            })
            .collect()
    }

    /// Waits until at least `n` messages arrived, running engine cycles meanwhile.
    pub async fn wait_for(&self, app: &TestApp, n: usize) -> Vec<ReceivedMail> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let got = self.messages();
            if got.len() >= n {
                return got;
            }
            if std::time::Instant::now() >= deadline {
                let (_, timeline) = app.get("/api/v1/incidents/1/timeline").await;
                panic!(
                    "{n} messages not received within 30 s; got {got:?}\nSMTP log:\n{}\nincident #1: {timeline}",
                    self.guard.log_tail()
                );
            }
            app.cycle().await;
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }
}

/// One request a [`WebhookReceiver`] got.
#[derive(Debug, Clone)]
pub struct ReceivedRequest {
    pub path: String,
    pub headers: reqwest::header::HeaderMap,
    pub body: Vec<u8>,
}

impl ReceivedRequest {
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("JSON body")
    }
}

/// Tells a [`WebhookReceiver`] to record requests and never answer them.
pub const HOLD: u16 = 0;

/// A local HTTP server that records every request and answers with the status it is told to.
pub struct WebhookReceiver {
    pub url: String,
    requests: Arc<std::sync::Mutex<Vec<ReceivedRequest>>>,
    status: Arc<std::sync::atomic::AtomicU16>,
    task: tokio::task::JoinHandle<()>,
}

impl WebhookReceiver {
    pub async fn start() -> Self {
        let requests: Arc<std::sync::Mutex<Vec<ReceivedRequest>>> = Arc::default();
        let status = Arc::new(std::sync::atomic::AtomicU16::new(200));
        let (log, answer) = (requests.clone(), status.clone());
        let app = axum::Router::new().fallback(move |req: axum::extract::Request| {
            let (log, answer) = (log.clone(), answer.clone());
            async move {
                let (parts, body) = req.into_parts();
                let body = axum::body::to_bytes(body, 1 << 20)
                    .await
                    .unwrap_or_default();
                log.lock().unwrap().push(ReceivedRequest {
                    path: parts.uri.path().to_owned(),
                    headers: parts.headers,
                    body: body.to_vec(),
                });
                let status = answer.load(std::sync::atomic::Ordering::SeqCst);
                if status == HOLD {
                    // Received but never answered: the sender is stuck mid-send.
                    tokio::time::sleep(std::time::Duration::from_secs(3600)).await;
                }
                axum::http::StatusCode::from_u16(status).unwrap_or(axum::http::StatusCode::OK)
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            url,
            requests,
            status,
            task,
        }
    }

    pub fn requests(&self) -> Vec<ReceivedRequest> {
        self.requests.lock().unwrap().clone()
    }

    /// The status later requests are answered with; [`HOLD`] keeps them waiting without an answer.
    pub fn answer_with(&self, status: u16) {
        self.status
            .store(status, std::sync::atomic::Ordering::SeqCst);
    }

    /// Waits until at least `n` requests arrived, running engine cycles meanwhile.
    pub async fn wait_for(&self, app: &TestApp, n: usize) -> Vec<ReceivedRequest> {
        self.wait_until(app, &format!("{n} requests"), |got| got.len() >= n)
            .await
    }

    /// Waits until a request to `path` arrived, running engine cycles meanwhile, and returns it: other people's
    /// pages may come first, in whatever order the engine sends them.
    pub async fn wait_for_path(&self, app: &TestApp, path: &str) -> ReceivedRequest {
        let got = self
            .wait_until(app, &format!("a request to {path}"), |got| {
                got.iter().any(|r| r.path == path)
            })
            .await;
        got.into_iter()
            .find(|r| r.path == path)
            .expect("the request waited for")
    }

    pub async fn wait_until(
        &self,
        app: &TestApp,
        what: &str,
        done: impl Fn(&[ReceivedRequest]) -> bool,
    ) -> Vec<ReceivedRequest> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let got = self.requests();
            if done(&got) {
                return got;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{what} not received within 30 s; got {} requests",
                got.len()
            );
            app.cycle().await;
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }
}

impl Drop for WebhookReceiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TestApp {
    /// Runs one engine cycle that must find nothing to send. A cycle waits for its sends, so what the test's
    /// receivers hold afterwards is final.
    pub async fn cycle_sending_nothing(&self) {
        let report = self.cycle().await;
        assert_eq!(report["deliveries_sent"], 0, "{report}");
    }

    /// Runs one engine cycle now, at the server's clock.
    pub async fn cycle(&self) -> Value {
        let (status, body) = self.post("/api/v1/engine/cycle", json!({})).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }
}

/// `tocsin serve` child processes, for crash and multi-instance stories.
pub fn token() -> String {
    let t = format!("tcs_{}", "c".repeat(48));
    assert_eq!(t.len(), 52);
    t
}

pub struct Server {
    pub guard: ChildGuard,
    pub url: String,
}

pub async fn start(client: &reqwest::Client, db: &TestDatabase, log: std::path::PathBuf) -> Server {
    start_with(client, db, log, None).await
}

/// A `tocsin serve` child on `db`, with a TOML configuration file when given.
pub async fn start_with(
    client: &reqwest::Client,
    db: &TestDatabase,
    log: std::path::PathBuf,
    config: Option<&std::path::Path>,
) -> Server {
    start_on(client, db, log, config, free_port()).await
}

/// The same, on a given port (a restarted instance keeps its address).
pub async fn start_on(
    client: &reqwest::Client,
    db: &TestDatabase,
    log: std::path::PathBuf,
    config: Option<&std::path::Path>,
    port: u16,
) -> Server {
    // The tests' receivers listen on loopback, which users' URLs may not reach by default.
    let mut settings = config
        .map(|c| std::fs::read_to_string(c).expect("the test's configuration"))
        .unwrap_or_default();
    settings.push_str("\n[notify]\nallowed_networks = [\"127.0.0.0/8\"]\n");
    let config_file = log.with_extension("toml");
    std::fs::write(&config_file, settings).expect("write the configuration");
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_tocsin"));
    cmd.arg("serve").arg("-c").arg(&config_file);
    let mut guard = ChildGuard::spawn(
        cmd.arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .args(db.args())
            .env("TOCSIN_BOOTSTRAP_TOKEN", token())
            .env("TOCSIN_DURABILITY", "full")
            .env("TOCSIN_LOG", "warn"),
        log,
    );
    let url = format!("http://127.0.0.1:{port}");
    guard
        .wait_ready(
            client,
            &format!("{url}/readyz"),
            std::time::Duration::from_secs(30),
        )
        .await;
    Server { guard, url }
}

pub async fn api(rb: reqwest::RequestBuilder) -> (StatusCode, Value) {
    let resp = rb.bearer_auth(token()).send().await.expect("API request");
    let status = resp.status();
    let body = resp.json().await.unwrap_or(Value::Null);
    (status, body)
}

/// Polls until `check` holds, or fails naming `what` after `within`.
pub async fn wait_until(
    what: &str,
    within: std::time::Duration,
    mut check: impl AsyncFnMut() -> bool,
) {
    let deadline = std::time::Instant::now() + within;
    while !check().await {
        assert!(
            std::time::Instant::now() < deadline,
            "{what}: not within {within:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

pub fn instant(v: &Value) -> chrono::DateTime<chrono::Utc> {
    v.as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not a time: {v}"))
}

/// A real OpenID Connect provider (PyPI's oidc-provider-mock) on a loopback port, requiring a nonce; `None` (the
/// test skips) when it is not installed and peers are not required.
pub struct OidcPeer {
    _guard: ChildGuard,
    pub url: String,
    _dir: TempDir,
}

impl OidcPeer {
    pub async fn start(client: &reqwest::Client) -> Option<Self> {
        if python_module_missing("oidc_provider_mock") {
            return None;
        }
        let dir = tempfile::tempdir().expect("temp dir");
        let port = free_port();
        let mut guard = ChildGuard::spawn(
            std::process::Command::new("python3")
                .args(["-W", "ignore", "-m", "oidc_provider_mock", "--port"])
                .arg(port.to_string())
                .args(["--require-nonce", "true"]),
            dir.path().join("oidc.log"),
        );
        let url = format!("http://127.0.0.1:{port}");
        guard
            .wait_ready(
                client,
                &format!("{url}/.well-known/openid-configuration"),
                std::time::Duration::from_secs(20),
            )
            .await;
        Some(Self {
            _guard: guard,
            url,
            _dir: dir,
        })
    }

    /// Tells the provider who `sub` is: the claims its ID tokens carry.
    pub async fn person(&self, client: &reqwest::Client, sub: &str, claims: Value) {
        let resp = client
            .put(format!("{}/users/{sub}", self.url))
            .json(&claims)
            .send()
            .await
            .expect("the provider answers");
        assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    }
}
