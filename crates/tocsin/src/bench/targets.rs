//! The servers compared: Tocsin and Alertmanager. Each scenario reduces a server to an `Endpoint` and the `Bodies`
//! to send it, Tocsin's in its ingest formats and Alertmanager's at its own alerts API, with the same alerts in both.

use super::bodies::{Bodies, Template};
use super::load::Endpoint;
use super::process::{self, Spawned, free_port, scratch_dir};
use super::{Scenario, Workload};
use anyhow::Context;
use http_body_util::Full;
use hyper::body::Bytes;
use hyper::header::{CONTENT_TYPE, HOST, HeaderValue};
use hyper::{Method, Request, StatusCode, Uri};
use reqwest::Url;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use tocsin_domain::auth::{new_api_token, new_dedup_key};
use tocsin_store::postgres::ScratchDatabase;

pub struct Target {
    pub name: &'static str,
    /// The server process, when known, for its peak memory.
    pub pid: Option<u32>,
    /// The data directory of a server the benchmark started, for its size on disk.
    pub data_dir: Option<std::path::PathBuf>,
    server: Server,
    // Holds the servers the benchmark started until the target is dropped.
    processes: Vec<Spawned>,
    // Dropped after the servers are gone.
    database: Option<ScratchDatabase>,
}

enum Server {
    Tocsin {
        client: reqwest::Client,
        base: Url,
        token: String,
        service: String,
        /// Further instances on the same database, which the load is spread over with the first.
        replicas: Vec<Url>,
    },
    Alertmanager {
        base: Url,
    },
    /// The no-op handler (`noop.rs`): the ceiling of the HTTP stack and the parser.
    Noop {
        base: Url,
    },
}

impl Target {
    /// Where (one endpoint per instance) and what to send for `scenario`, after creating what it needs.
    pub async fn load(
        &self,
        scenario: Scenario,
        work: &Workload,
    ) -> anyhow::Result<(Vec<Endpoint>, Bodies)> {
        match &self.server {
            Server::Tocsin { base, replicas, .. } => match scenario {
                Scenario::Pagerduty => {
                    let routing_key = self.integration("pagerduty").await?;
                    let template = Template::new(&json!({
                        "routing_key": routing_key,
                        "event_action": "trigger",
                        "dedup_key": Template::HOLE,
                        "payload": { "summary": "tocsin bench event", "source": "tocsin-bench", "severity": "error" },
                    }))?;
                    let endpoints =
                        every_instance(base, replicas, "v2/enqueue", StatusCode::ACCEPTED).await?;
                    Ok((endpoints, work.keyed(template)))
                }
                Scenario::WebhookUnchanged | Scenario::WebhookChanges => {
                    let key = self.integration("alertmanager").await?;
                    let path = format!("ingest/alertmanager/{key}");
                    let endpoints = every_instance(base, replicas, &path, StatusCode::OK).await?;
                    Ok((endpoints, work.groups(scenario.changes()).webhook()))
                }
            },
            Server::Noop { base } => {
                anyhow::ensure!(
                    scenario == Scenario::Pagerduty,
                    "the no-op handler takes PagerDuty events only"
                );
                let template = Template::new(&json!({
                    "routing_key": NOOP_ROUTING_KEY,
                    "event_action": "trigger",
                    "dedup_key": Template::HOLE,
                    "payload": { "summary": "tocsin bench event", "source": "tocsin-bench", "severity": "error" },
                }))?;
                let endpoint = json_post(base, "v2/enqueue", StatusCode::ACCEPTED).await?;
                Ok((vec![endpoint], work.keyed(template)))
            }
            Server::Alertmanager { base } => {
                let endpoint = vec![json_post(base, "api/v2/alerts", StatusCode::OK).await?];
                let bodies = match scenario {
                    Scenario::Pagerduty => work.keyed(Template::new(&json!([{
                        "labels": { "alertname": "Bench", "instance": Template::HOLE },
                        "annotations": { "summary": "tocsin bench alert" },
                        "startsAt": work.starts_at,
                    }]))?),
                    Scenario::WebhookUnchanged | Scenario::WebhookChanges => {
                        work.groups(scenario.changes()).alerts_api()
                    }
                };
                Ok((endpoint, bodies))
            }
        }
    }

    /// The base URL of every Tocsin instance, the first one first; none for other servers.
    pub fn instances(&self) -> Vec<Url> {
        match &self.server {
            Server::Tocsin { base, replicas, .. } => {
                std::iter::once(base).chain(replicas).cloned().collect()
            }
            Server::Alertmanager { .. } | Server::Noop { .. } => Vec::new(),
        }
    }

    /// The no-op handler's base URL.
    pub fn base(&self) -> Option<Url> {
        match &self.server {
            Server::Noop { base } => Some(base.clone()),
            Server::Tocsin { .. } | Server::Alertmanager { .. } => None,
        }
    }

    /// A Tocsin target's API: its base URL, token and the service the benchmark works in.
    pub fn tocsin_api(&self) -> Option<(&Url, &str, &str)> {
        match &self.server {
            Server::Tocsin {
                base,
                token,
                service,
                ..
            } => Some((base, token, service)),
            Server::Alertmanager { .. } | Server::Noop { .. } => None,
        }
    }

    /// Creates an integration of `kind` in the target's service, without rate limits (the benchmarks measure the
    /// ingest path, not the limiter that guards it), and returns its key.
    pub async fn integration(&self, kind: &str) -> anyhow::Result<String> {
        self.integration_with(kind, unlimited()).await
    }

    /// Creates an integration of `kind` with these settings in the target's service and returns its key.
    pub async fn integration_with(&self, kind: &str, config: Value) -> anyhow::Result<String> {
        let Server::Tocsin {
            client,
            base,
            token,
            service,
            ..
        } = &self.server
        else {
            anyhow::bail!("{} has no integrations", self.name);
        };
        let integration = api_post(
            client,
            base,
            token,
            &format!("api/v1/services/{service}/integrations"),
            json!({ "kind": kind, "config": config }),
        )
        .await?;
        Ok(integration["key"]
            .as_str()
            .context("the integration came without a key")?
            .to_owned())
    }

    /// Restarts the peak-memory count, so that each scenario's figure is its own. Only for servers the benchmark
    /// started: the statistics of a server it was pointed at are its operator's, and its peak counts from its start.
    pub fn reset_peak_rss(&self) {
        if let Some(p) = self.processes.first()
            && !process::reset_peak_rss(p.pid())
        {
            eprintln!(
                "{}: peak memory could not be reset; later scenarios' peaks count from earlier ones",
                self.name
            );
        }
    }
}

/// Integration settings without any rate limit.
pub fn unlimited() -> Value {
    json!({ "rate_limit": { "per_second": 0, "events_per_second": 0 } })
}

/// Whether the servers a benchmark starts keep the server's ingest budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Budget {
    /// Off: the benchmark measures the ingest path, not the budget that guards it.
    Off,
    /// As a default configuration has it.
    Default,
}

/// Starts `instances` Tocsin servers of this binary on one fresh database: a new PostgreSQL database on the server
/// of `postgres` (an admin URL), or else one embedded database (then `instances` must be 1).
pub async fn spawn_tocsins(
    durability: &str,
    postgres: Option<&str>,
    instances: usize,
    budget: Budget,
) -> anyhow::Result<Target> {
    anyhow::ensure!(
        instances == 1 || postgres.is_some(),
        "several instances need a PostgreSQL database"
    );
    let database = match postgres {
        Some(admin) => Some(
            ScratchDatabase::create(admin, "tocsin_bench")
                .await
                .context("creating a benchmark database")?,
        ),
        None => None,
    };
    let token = new_api_token().expose().to_owned();
    // Instances on one database share the key that seals its secrets.
    let secret_key = tocsin_store::secrets::SecretKey::generate().encode();
    let mut processes = Vec::new();
    let mut bases = Vec::new();
    let mut data_dirs = Vec::new();
    for _ in 0..instances.max(1) {
        let dir = scratch_dir("tocsin")?;
        let port = free_port()?;
        // The page-latency receiver listens on loopback, which users' URLs may not reach by default.
        let config = dir.path().join("tocsin.toml");
        let mut settings = "[notify]\nallowed_networks = [\"127.0.0.0/8\"]\n".to_owned();
        if budget == Budget::Off {
            settings
                .push_str("[ingest]\nevents_per_second = 0\nmax_events_per_request = 1000000\n");
        }
        std::fs::write(&config, settings)
            .context("writing the benchmark server's configuration")?;
        data_dirs.push(dir.path().join("data"));
        let mut command = Command::new(std::env::current_exe().context("finding this executable")?);
        command
            .arg("serve")
            .arg("-c")
            .arg(&config)
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .env("TOCSIN_BOOTSTRAP_TOKEN", &token)
            .env(crate::server::SECRET_KEY_ENV, &secret_key)
            .env("TOCSIN_DURABILITY", durability)
            .env("TOCSIN_LOG", "warn")
            .arg("--data-dir")
            .arg(dir.path().join("data"));
        if let Some(db) = &database {
            command.arg("--database").arg(db.url());
        }
        let mut process = Spawned::start("tocsin", dir, command)?;
        let base = Url::parse(&format!("http://127.0.0.1:{port}/"))?;
        process.wait_ready(base.join("readyz")?.as_str()).await?;
        processes.push(process);
        bases.push(base);
    }
    let pid = processes.first().map(Spawned::pid);
    let base = bases.remove(0);
    let mut target = tocsin_target(base, token, "bench", pid, processes).await?;
    if let Server::Tocsin { replicas, .. } = &mut target.server {
        *replicas = bases;
    }
    target.data_dir = data_dirs.into_iter().next();
    target.database = database;
    Ok(target)
}

/// A routing key for the no-op handler, which checks its shape only.
const NOOP_ROUTING_KEY: &str = "0123456789abcdef0123456789abcdef";

/// Starts the no-op handler (`tocsin bench-noop`).
pub async fn spawn_noop() -> anyhow::Result<Target> {
    let dir = scratch_dir("noop")?;
    let port = free_port()?;
    let mut command = Command::new(std::env::current_exe().context("finding this executable")?);
    command
        .arg("bench-noop")
        .arg("--listen")
        .arg(format!("127.0.0.1:{port}"));
    let mut process = Spawned::start("no-op handler", dir, command)?;
    let base = Url::parse(&format!("http://127.0.0.1:{port}/"))?;
    process.wait_ready(base.join("readyz")?.as_str()).await?;
    Ok(Target {
        name: "no-op",
        pid: Some(process.pid()),
        data_dir: None,
        server: Server::Noop { base },
        processes: vec![process],
        database: None,
    })
}

/// Uses a Tocsin server that is already running, in a service of its own.
pub async fn remote_tocsin(server: &str, token: &str, pid: Option<u32>) -> anyhow::Result<Target> {
    let base = Url::parse(server).with_context(|| format!("--server {server:?}"))?;
    anyhow::ensure!(
        base.scheme() == "http",
        "--server must be an http:// URL (the load generator speaks plain HTTP)"
    );
    let service = format!("bench-{}", &new_dedup_key()[..8]);
    tocsin_target(base, token.to_owned(), &service, pid, Vec::new()).await
}

async fn tocsin_target(
    base: Url,
    token: String,
    service: &str,
    pid: Option<u32>,
    processes: Vec<Spawned>,
) -> anyhow::Result<Target> {
    let client = reqwest::Client::new();
    api_post(
        &client,
        &base,
        &token,
        "api/v1/services",
        json!({ "name": service }),
    )
    .await?;
    Ok(Target {
        name: "tocsin",
        pid,
        data_dir: None,
        server: Server::Tocsin {
            client,
            base,
            token,
            service: service.to_owned(),
            replicas: Vec::new(),
        },
        processes,
        database: None,
    })
}

async fn api_post(
    client: &reqwest::Client,
    base: &Url,
    token: &str,
    path: &str,
    body: Value,
) -> anyhow::Result<Value> {
    let url = base.join(path)?;
    let response = client
        .post(url.clone())
        .bearer_auth(token)
        .json(&body)
        .send()
        .await?;
    let status = response.status();
    let text = response.text().await?;
    anyhow::ensure!(status.is_success(), "POST {url}: HTTP {status}: {text}");
    serde_json::from_str(&text).with_context(|| format!("POST {url}: unexpected answer {text}"))
}

/// Starts Alertmanager with one receiver that sends nowhere and clustering off, so that only ingest is measured.
pub async fn spawn_alertmanager(bin: &Path) -> anyhow::Result<Target> {
    let dir = scratch_dir("alertmanager")?;
    let port = free_port()?;
    let config = dir.path().join("alertmanager.yml");
    std::fs::write(
        &config,
        "route:\n  receiver: \"null\"\nreceivers:\n  - name: \"null\"\n",
    )?;
    let mut command = Command::new(bin);
    command
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.path={}",
            dir.path().join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--cluster.listen-address=")
        .arg("--log.level=warn");
    let mut process = Spawned::start("alertmanager", dir, command)?;
    let base = Url::parse(&format!("http://127.0.0.1:{port}/"))?;
    process.wait_ready(base.join("-/ready")?.as_str()).await?;
    Ok(Target {
        name: "alertmanager",
        pid: Some(process.pid()),
        data_dir: None,
        server: Server::Alertmanager { base },
        processes: vec![process],
        database: None,
    })
}

/// JSON POSTs to `path` on the first instance and on each replica.
async fn every_instance(
    base: &Url,
    replicas: &[Url],
    path: &str,
    accepted: StatusCode,
) -> anyhow::Result<Vec<Endpoint>> {
    let mut endpoints = Vec::new();
    for b in std::iter::once(base).chain(replicas) {
        endpoints.push(json_post(b, path, accepted).await?);
    }
    Ok(endpoints)
}

/// JSON POSTs to `path` under `base`.
pub async fn json_post(base: &Url, path: &str, accepted: StatusCode) -> anyhow::Result<Endpoint> {
    let url = base.join(path)?;
    let host = url.host_str().context("the server URL has no host")?;
    let port = url
        .port_or_known_default()
        .context("the server URL has no port")?;
    let addr: SocketAddr = tokio::net::lookup_host((host, port))
        .await?
        .next()
        .with_context(|| format!("{host} has no address"))?;
    let host = HeaderValue::from_str(&match url.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_owned(),
    })?;
    let uri: Uri = url.path().parse()?;
    let content_type = HeaderValue::from_static("application/json");
    let post = move |body: Bytes| {
        let mut request = Request::new(Full::new(body));
        *request.method_mut() = Method::POST;
        *request.uri_mut() = uri.clone();
        let headers = request.headers_mut();
        headers.insert(HOST, host.clone());
        headers.insert(CONTENT_TYPE, content_type.clone());
        request
    };
    Ok(Endpoint {
        addr,
        post: Arc::new(post),
        accepted,
    })
}
