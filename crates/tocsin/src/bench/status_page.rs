//! `--scenario status-page`: a status page read by a crowd while a responder posts an update every second.
//! `summary.json` and the HTML page, each under the same connections, against the no-op handler answering a body
//! of the same size (this machine's HTTP-stack limit for that answer); with `--database`, again through a second
//! instance on PostgreSQL while the responder posts through the first, so every update reaches the reader's
//! instance through the database.

use super::load::{self, Endpoint, Shape};
use super::report::{percentile_ms, thousands};
use super::targets;
use super::{BenchArgs, Bodies};
use anyhow::Context;
use http_body_util::Full;
use hyper::body::Bytes;
use hyper::header::{HOST, HeaderValue};
use hyper::{Method, Request, StatusCode, Uri};
use reqwest::Url;
use serde::Serialize;
use serde_json::{Value, json};
use std::fmt::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug, Serialize)]
struct Row {
    /// What was read, from what.
    label: String,
    bytes: usize,
    requests_per_s: f64,
    p50_ms: Option<f64>,
    p99_ms: Option<f64>,
    errors: u64,
    first_error: Option<String>,
    /// Requests per second over the no-op handler's for a body of the same size.
    ratio: Option<f64>,
    /// Updates the responder posted during the run.
    updates_posted: u64,
}

/// A GET of `path` on `base`, answered `200`.
async fn get(base: &Url, path: &str) -> anyhow::Result<Endpoint> {
    let url = base.join(path)?;
    let port = url.port().context("the server URL has no port")?;
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse()?;
    let host = HeaderValue::from_str(&format!("127.0.0.1:{port}"))?;
    let uri: Uri = url.path().parse()?;
    let request = move |_: Bytes| {
        let mut request = Request::new(Full::default());
        *request.method_mut() = Method::GET;
        *request.uri_mut() = uri.clone();
        request.headers_mut().insert(HOST, host.clone());
        request
    };
    Ok(Endpoint {
        addr,
        post: Arc::new(request),
        accepted: StatusCode::OK,
    })
}

/// Requests with no body, one per turn.
fn empty_bodies(connections: usize) -> Bodies {
    Bodies::Cycled {
        per_connection: vec![vec![Bytes::new()]; connections.max(1)].into(),
        alerts_per_request: 1,
    }
}

async fn read(
    label: String,
    endpoint: Endpoint,
    shape: Shape,
    updates: Option<&AtomicU64>,
) -> anyhow::Result<Row> {
    eprintln!(
        "{label}: {} s warm-up and {} s measured on {} connections…",
        shape.warmup.as_secs_f64(),
        shape.duration.as_secs_f64(),
        shape.connections
    );
    let (_, body) = load::exchange(
        &mut load::connect(endpoint.addr).await?,
        (endpoint.post)(Bytes::new()),
    )
    .await
    .with_context(|| format!("{label}: the first request"))?;
    let before = updates.map_or(0, |u| u.load(Ordering::Relaxed));
    let mut outcome = load::drive(
        std::slice::from_ref(&endpoint),
        &empty_bodies(shape.connections),
        shape,
    )
    .await?;
    outcome.latencies_us.sort_unstable();
    let requests_per_s =
        outcome.latencies_us.len() as f64 / outcome.window.as_secs_f64().max(f64::EPSILON);
    Ok(Row {
        label,
        bytes: body.len(),
        requests_per_s,
        p50_ms: percentile_ms(&outcome.latencies_us, 0.50),
        p99_ms: percentile_ms(&outcome.latencies_us, 0.99),
        errors: outcome.errors,
        first_error: outcome.first_error,
        ratio: None,
        updates_posted: updates.map_or(0, |u| u.load(Ordering::Relaxed)) - before,
    })
}

/// A page like a real one: a group of three components, two more on their own, each following the service; an
/// unresolved public incident with a few updates.
async fn set_up(client: &reqwest::Client, base: &Url, token: &str) -> anyhow::Result<String> {
    let call = |method: reqwest::Method, path: &'static str, body: Value| {
        let request = client
            .request(method, base.join(path).expect("a relative path"))
            .bearer_auth(token)
            .json(&body);
        async move {
            let response = request.send().await?;
            let status = response.status();
            let text = response.text().await?;
            anyhow::ensure!(status.is_success(), "{path}: HTTP {status}: {text}");
            anyhow::Ok(serde_json::from_str::<Value>(&text)?)
        }
    };
    let service = call(reqwest::Method::GET, "api/v1/services/bench", Value::Null).await?;
    let service = service["id"].clone();
    call(
        reqwest::Method::PUT,
        "api/v1/status-pages/bench",
        json!({"name": "Bench Shop", "slug": "bench", "time_zone": "Europe/Berlin"}),
    )
    .await?;
    let group = call(
        reqwest::Method::POST,
        "api/v1/status-pages/bench/components",
        json!({"name": "Shop", "group": true}),
    )
    .await?;
    let mut first = Value::Null;
    for (i, name) in ["Checkout", "Search", "Accounts", "API", "Documentation"]
        .iter()
        .enumerate()
    {
        let group_id = if i < 3 {
            group["id"].clone()
        } else {
            Value::Null
        };
        let c = call(
            reqwest::Method::POST,
            "api/v1/status-pages/bench/components",
            json!({"name": name, "services": [service], "group_id": group_id, "position": i,
                "description": format!("{name}, as customers use it")}),
        )
        .await?;
        if i == 0 {
            first = c["id"].clone();
        }
    }
    let incident = call(
        reqwest::Method::POST,
        "api/v1/status-pages/bench/incidents",
        json!({"name": "Some card payments fail", "body": "We are investigating failed card payments.",
            "components": [{"component_id": first, "status": "partial_outage"}]}),
    )
    .await?;
    Ok(incident["id"]
        .as_str()
        .context("a public incident ID")?
        .to_owned())
}

/// Posts an update to the public incident every second until aborted, counting those that succeeded.
fn responder(
    client: reqwest::Client,
    base: Url,
    token: String,
    incident: String,
    posted: Arc<AtomicU64>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let url = base
            .join(&format!(
                "api/v1/status-pages/bench/incidents/{incident}/updates"
            ))
            .expect("a relative path");
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
        let mut n = 0u64;
        loop {
            tick.tick().await;
            n += 1;
            let status = if n.is_multiple_of(2) {
                "identified"
            } else {
                "investigating"
            };
            let sent = client
                .post(url.clone())
                .bearer_auth(&token)
                .json(
                    &json!({"status": status, "body": format!("Update {n}: we are still on it.")}),
                )
                .send()
                .await;
            if sent.is_ok_and(|r| r.status().is_success()) {
                posted.fetch_add(1, Ordering::Relaxed);
            }
        }
    })
}

/// The responder, stopped when dropped.
struct Responding(tokio::task::JoinHandle<()>);

impl Drop for Responding {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The page read on `instances` Tocsin servers on `database` (SQLite when none), through the last one, while the
/// responder posts through the first.
async fn read_tocsin(
    args: &BenchArgs,
    database: Option<&str>,
    instances: usize,
    on: &str,
) -> anyhow::Result<Vec<Row>> {
    let tocsin = targets::spawn_tocsins(
        &args.durability,
        database,
        instances,
        targets::Budget::Default,
    )
    .await
    .with_context(|| format!("starting Tocsin, {on}"))?;
    let (base, token, _) = tocsin.tocsin_api().context("a Tocsin target")?;
    let client = reqwest::Client::new();
    let incident = set_up(&client, base, token).await?;
    let posted = Arc::new(AtomicU64::new(0));
    let _responding = Responding(responder(
        client,
        base.clone(),
        token.to_owned(),
        incident,
        posted.clone(),
    ));
    let read_from = tocsin.instances().pop().context("a Tocsin instance")?;
    let mut rows = Vec::new();
    for (what, path) in [
        ("summary.json", "status/bench/api/v2/summary.json"),
        ("HTML page", "status/bench"),
    ] {
        let endpoint = get(&read_from, path).await?;
        rows.push(
            read(
                format!("{what}, {on}"),
                endpoint,
                args.shape(),
                Some(&posted),
            )
            .await?,
        );
    }
    Ok(rows)
}

pub async fn run(args: &BenchArgs) -> anyhow::Result<()> {
    let shape = args.shape();
    let mut rows = read_tocsin(args, None, 1, "SQLite").await?;
    let sizes: Vec<usize> = rows.iter().map(|r| r.bytes).collect();
    if let Some(postgres) = args.database.as_deref() {
        let on = "PostgreSQL, the other instance";
        rows.extend(read_tocsin(args, Some(postgres), 2, on).await?);
    }
    // The limit for each size, measured after Tocsin so that the machine is as warm for it.
    let noop = targets::spawn_noop().await?;
    let noop_base = noop.base().context("the no-op handler's URL")?;
    let mut limits = Vec::new();
    for size in sizes {
        let row = read(
            format!("no-op, {size} bytes"),
            get(&noop_base, &format!("bytes/{size}")).await?,
            shape,
            None,
        )
        .await?;
        limits.push(row);
    }
    for (i, row) in rows.iter_mut().enumerate() {
        let limit = &limits[i % limits.len()];
        row.ratio = Some(row.requests_per_s / limit.requests_per_s.max(f64::EPSILON));
    }
    rows.extend(limits);
    print!("{}", table(args, &rows));
    if args.json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
    }
    Ok(())
}

fn table(args: &BenchArgs, rows: &[Row]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "status-page: GET requests on {} connections, {} s warm-up and {} s measured per run, while a responder \
         posts an update every second; each read against the no-op handler answering as many bytes",
        args.connections,
        args.warmup.as_secs_f64(),
        args.duration.as_secs_f64(),
    );
    let _ = writeln!(
        out,
        "\n{:<44} {:>7} {:>10}  {:>8}  {:>6}  {:>6}  {:>7}  {:>6}",
        "read", "bytes", "req/s", "× no-op", "p50 ms", "p99 ms", "updates", "errors"
    );
    let ms = |v: Option<f64>| v.map_or("-".into(), |v| format!("{v:.2}"));
    for r in rows {
        let _ = writeln!(
            out,
            "{:<44} {:>7} {:>10}  {:>8}  {:>6}  {:>6}  {:>7}  {:>6}",
            r.label,
            r.bytes,
            thousands(r.requests_per_s.round() as u64),
            r.ratio.map_or("".into(), |x| format!("{x:.2}×")),
            ms(r.p50_ms),
            ms(r.p99_ms),
            r.updates_posted,
            r.errors,
        );
        if let Some(e) = &r.first_error {
            let _ = writeln!(out, "    first error: {e}");
        }
    }
    out
}
