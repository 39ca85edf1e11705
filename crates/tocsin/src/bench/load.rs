//! The load generator: keep-alive HTTP/1.1 connections, each sending one request at a time.
//!
//! It shares the machine with the server under test, so it uses hyper's connection API directly (no pool, no
//! per-request allocation beyond the body and the request head) to leave the cores to the server.

use super::bodies::{Bodies, Cursor};
use anyhow::Context;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::{self, SendRequest};
use hyper::{Request, StatusCode};
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpStream;

/// Wraps a body in the request that carries it to the endpoint.
pub type Post = dyn Fn(Bytes) -> Request<Full<Bytes>> + Send + Sync;

/// Where to send, and which status means the request was taken.
#[derive(Clone)]
pub struct Endpoint {
    pub addr: SocketAddr,
    pub post: Arc<Post>,
    pub accepted: StatusCode,
}

#[derive(Debug, Clone, Copy)]
pub struct Shape {
    pub connections: usize,
    pub warmup: Duration,
    pub duration: Duration,
}

/// What one load run saw in its measured window.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Latency of each accepted request, in microseconds.
    pub latencies_us: Vec<u32>,
    /// Non-accepted answers and transport failures, warm-up included: any of them means the figures are suspect.
    pub errors: u64,
    pub first_error: Option<String>,
    pub window: Duration,
}

impl Outcome {
    fn error(&mut self, what: impl FnOnce() -> String) {
        self.errors += 1;
        if self.first_error.is_none() {
            self.first_error = Some(what());
        }
    }

    fn merge(&mut self, other: Outcome) {
        self.latencies_us.extend(other.latencies_us);
        self.errors += other.errors;
        self.first_error = self.first_error.take().or(other.first_error);
    }
}

/// Sends every seed once, spread over the connections, and fails on the first one not accepted.
pub async fn seed(endpoint: &Endpoint, bodies: &Bodies, connections: usize) -> anyhow::Result<()> {
    let seeds: Arc<[Bytes]> = bodies.seeds().into();
    let connections = connections.clamp(1, seeds.len().max(1));
    let tasks: Vec<_> = (0..connections)
        .map(|i| {
            let (endpoint, seeds) = (endpoint.clone(), seeds.clone());
            tokio::spawn(async move {
                let mut tx = connect(endpoint.addr).await?;
                for (n, body) in seeds.iter().enumerate().skip(i).step_by(connections) {
                    let (status, answer) = exchange(&mut tx, (endpoint.post)(body.clone())).await?;
                    anyhow::ensure!(
                        status == endpoint.accepted,
                        "seed request {n}: {}",
                        describe(status, &answer)
                    );
                }
                anyhow::Ok(())
            })
        })
        .collect();
    for task in tasks {
        task.await??;
    }
    Ok(())
}

/// Runs the load for warm-up plus duration and returns what the measured part saw. Connections are dealt out to
/// the endpoints in turn (round-robin, as a load balancer would), each staying with its endpoint.
pub async fn drive(
    endpoints: &[Endpoint],
    bodies: &Bodies,
    shape: Shape,
) -> anyhow::Result<Outcome> {
    anyhow::ensure!(!endpoints.is_empty(), "no endpoint to load");
    let cursors = (0..shape.connections)
        .map(|conn| bodies.cursor(conn))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let measure_from = Instant::now() + shape.warmup;
    let deadline = measure_from + shape.duration;
    let tasks: Vec<_> = cursors
        .into_iter()
        .enumerate()
        .map(|(i, cursor)| {
            let endpoint = endpoints[i % endpoints.len()].clone();
            tokio::spawn(connection_loop(endpoint, cursor, measure_from, deadline))
        })
        .collect();
    // A server that stops answering must not hang the run.
    let grace = deadline + Duration::from_secs(30);
    let mut outcome = Outcome::default();
    for task in tasks {
        let part = tokio::time::timeout_at(grace.into(), task)
            .await
            .context("requests still outstanding 30 s after the deadline")??;
        outcome.merge(part);
    }
    outcome.window = measure_from.elapsed();
    Ok(outcome)
}

async fn connection_loop(
    endpoint: Endpoint,
    mut bodies: Cursor,
    measure_from: Instant,
    deadline: Instant,
) -> Outcome {
    let mut outcome = Outcome::default();
    let mut tx = None;
    while Instant::now() < deadline {
        let request = (endpoint.post)(bodies.next());
        let started = Instant::now();
        let result = match &mut tx {
            Some(tx) => exchange(tx, request).await,
            None => match connect(endpoint.addr).await {
                Ok(fresh) => exchange(tx.insert(fresh), request).await,
                Err(e) => Err(e),
            },
        };
        let latency = started.elapsed();
        match result {
            Ok((status, _)) if status == endpoint.accepted => {
                if started >= measure_from {
                    outcome
                        .latencies_us
                        .push(u32::try_from(latency.as_micros()).unwrap_or(u32::MAX));
                }
            }
            Ok((status, body)) => outcome.error(|| describe(status, &body)),
            Err(e) => {
                outcome.error(|| format!("{e:#}"));
                tx = None;
                // Don't spin on a server that refuses connections.
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
    outcome
}

pub async fn connect(addr: SocketAddr) -> anyhow::Result<SendRequest<Full<Bytes>>> {
    let stream = TcpStream::connect(addr)
        .await
        .with_context(|| format!("connecting to {addr}"))?;
    stream.set_nodelay(true)?;
    let (tx, connection) = http1::handshake(TokioIo::new(stream)).await?;
    // Its errors also fail the pending request, which is where they are counted.
    tokio::spawn(connection);
    Ok(tx)
}

pub async fn exchange(
    tx: &mut SendRequest<Full<Bytes>>,
    request: Request<Full<Bytes>>,
) -> anyhow::Result<(StatusCode, Bytes)> {
    tx.ready().await?;
    let response = tx.send_request(request).await?;
    let status = response.status();
    // Reading the body to its end is what lets the connection carry the next request.
    let body = response.into_body().collect().await?.to_bytes();
    Ok((status, body))
}

pub fn describe(status: StatusCode, body: &[u8]) -> String {
    let body = String::from_utf8_lossy(body);
    let body: String = body.chars().take(500).collect();
    format!("HTTP {status}: {body}")
}
