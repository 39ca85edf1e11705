//! The servers compared: Tocsin's PagerDuty endpoint and Alertmanager's alerts endpoint. Each is set up, then reduced
//! to an `Endpoint` whose requests differ only in the key, so that both see the same load.

use super::load::Endpoint;
use super::process::{Spawned, free_port, scratch_dir};
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

pub struct Target {
    pub name: &'static str,
    pub endpoint: Endpoint,
    /// The server process, when known, for its peak memory.
    pub pid: Option<u32>,
    // Holds a server the benchmark started until the target is dropped.
    _process: Option<Spawned>,
}

/// Starts a Tocsin server of this binary on a fresh database.
pub async fn spawn_tocsin(durability: &str) -> anyhow::Result<Target> {
    let dir = scratch_dir("tocsin")?;
    let port = free_port()?;
    let token = new_api_token().expose().to_owned();
    let mut command = Command::new(std::env::current_exe().context("finding this executable")?);
    command
        .arg("serve")
        .arg("--listen")
        .arg(format!("127.0.0.1:{port}"))
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .env("TOCSIN_BOOTSTRAP_TOKEN", &token)
        .env("TOCSIN_DURABILITY", durability)
        .env("TOCSIN_LOG", "warn");
    let mut process = Spawned::start("tocsin", dir, command)?;
    let base = Url::parse(&format!("http://127.0.0.1:{port}/"))?;
    process.wait_ready(base.join("readyz")?.as_str()).await?;
    let pid = Some(process.pid());
    tocsin_target(&base, &token, "bench", pid, Some(process)).await
}

/// Uses a Tocsin server that is already running, in a service of its own.
pub async fn remote_tocsin(server: &str, token: &str, pid: Option<u32>) -> anyhow::Result<Target> {
    let base = Url::parse(server).with_context(|| format!("--server {server:?}"))?;
    anyhow::ensure!(
        base.scheme() == "http",
        "--server must be an http:// URL (the load generator speaks plain HTTP)"
    );
    let service = format!("bench-{}", &new_dedup_key()[..8]);
    tocsin_target(&base, token, &service, pid, None).await
}

async fn tocsin_target(
    base: &Url,
    token: &str,
    service: &str,
    pid: Option<u32>,
    process: Option<Spawned>,
) -> anyhow::Result<Target> {
    let client = reqwest::Client::new();
    api_post(
        &client,
        base,
        token,
        "api/v1/services",
        json!({ "name": service }),
    )
    .await?;
    let integration = api_post(
        &client,
        base,
        token,
        &format!("api/v1/services/{service}/integrations"),
        // The benchmark measures the ingest path, not the rate limiter that guards it.
        json!({ "config": { "rate_limit": { "per_second": 0, "burst": 0 } } }),
    )
    .await?;
    let routing_key = integration["key"]
        .as_str()
        .context("the integration came without a key")?;
    let body = Template::new(&json!({
        "routing_key": routing_key,
        "event_action": "trigger",
        "dedup_key": Template::HOLE,
        "payload": { "summary": "tocsin bench event", "source": "tocsin-bench", "severity": "error" },
    }))?;
    let endpoint = json_post(base, "v2/enqueue", body, StatusCode::ACCEPTED).await?;
    Ok(Target {
        name: "tocsin",
        endpoint,
        pid,
        _process: process,
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
    let starts_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let body = Template::new(&json!([{
        "labels": { "alertname": "Bench", "instance": Template::HOLE },
        "annotations": { "summary": "tocsin bench alert" },
        "startsAt": starts_at,
    }]))?;
    Ok(Target {
        name: "alertmanager",
        endpoint: json_post(&base, "api/v2/alerts", body, StatusCode::OK).await?,
        pid: Some(process.pid()),
        _process: Some(process),
    })
}

/// POSTs of `body` to `path` under `base`, with the key filled in.
async fn json_post(
    base: &Url,
    path: &str,
    body: Template,
    accepted: StatusCode,
) -> anyhow::Result<Endpoint> {
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
    let build = move |key: &str| {
        let mut request = Request::new(Full::new(body.render(key)));
        *request.method_mut() = Method::POST;
        *request.uri_mut() = uri.clone();
        let headers = request.headers_mut();
        headers.insert(HOST, host.clone());
        headers.insert(CONTENT_TYPE, content_type.clone());
        request
    };
    Ok(Endpoint {
        addr,
        build: Arc::new(build),
        accepted,
    })
}

/// A JSON body serialized once, with a hole for the one string that changes between requests.
struct Template {
    head: Vec<u8>,
    tail: Vec<u8>,
}

impl Template {
    const HOLE: &str = "__tocsin_bench_key__";

    fn new(value: &Value) -> anyhow::Result<Self> {
        let text = value.to_string();
        let quoted = format!("\"{}\"", Self::HOLE);
        let at = text.find(&quoted).context("the body has no key hole")?;
        Ok(Self {
            head: text.as_bytes()[..=at].to_vec(),
            tail: text.as_bytes()[at + quoted.len() - 1..].to_vec(),
        })
    }

    /// Keys are the benchmark's own (letters, digits, dashes), so they go in without escaping.
    fn render(&self, key: &str) -> Bytes {
        debug_assert!(key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'));
        let mut out = Vec::with_capacity(self.head.len() + key.len() + self.tail.len());
        out.extend_from_slice(&self.head);
        out.extend_from_slice(key.as_bytes());
        out.extend_from_slice(&self.tail);
        Bytes::from(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_fills_the_hole() {
        let t = Template::new(&json!({ "a": [1, { "k": Template::HOLE }], "z": "x" })).unwrap();
        let body: Value = serde_json::from_slice(&t.render("new-1-2")).unwrap();
        assert_eq!(body, json!({ "a": [1, { "k": "new-1-2" }], "z": "x" }));
    }
}
