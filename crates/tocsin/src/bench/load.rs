//! The load generator: keep-alive HTTP/1.1 connections, each sending one request at a time.
//!
//! It shares the machine with the server under test, so it uses hyper's connection API directly (no pool, no
//! per-request allocation beyond the body and the request head) to leave the cores to the server.

use anyhow::Context;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::{self, SendRequest};
use hyper::{Request, StatusCode};
use hyper_util::rt::TokioIo;
use std::fmt::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpStream;

/// Builds the request for one event, given its dedup key (or label value).
pub type BuildRequest = dyn Fn(&str) -> Request<Full<Bytes>> + Send + Sync;

/// Where to send, what to send, and which status means the event was taken.
#[derive(Clone)]
pub struct Endpoint {
    pub addr: SocketAddr,
    pub build: Arc<BuildRequest>,
    pub accepted: StatusCode,
}

#[derive(Debug, Clone, Copy)]
pub struct Shape {
    pub connections: usize,
    pub warmup: Duration,
    pub duration: Duration,
    /// Share of requests that carry a key never sent before; the rest repeat a key from the seeded pool.
    pub new_ratio: f64,
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

/// The keys that already exist on the target, so that repeats deduplicate rather than open new alerts.
pub fn seed_keys(count: usize) -> Arc<[String]> {
    (0..count).map(|i| format!("seed-{i}")).collect()
}

/// Sends every key once, spread over the connections, and fails on the first one not accepted.
pub async fn seed(
    endpoint: &Endpoint,
    keys: &Arc<[String]>,
    connections: usize,
) -> anyhow::Result<()> {
    let connections = connections.clamp(1, keys.len().max(1));
    let tasks: Vec<_> = (0..connections)
        .map(|i| {
            let (endpoint, keys) = (endpoint.clone(), keys.clone());
            tokio::spawn(async move {
                let mut tx = connect(endpoint.addr).await?;
                for key in keys.iter().skip(i).step_by(connections) {
                    let (status, body) = exchange(&mut tx, (endpoint.build)(key)).await?;
                    anyhow::ensure!(
                        status == endpoint.accepted,
                        "seeding key {key}: {}",
                        describe(status, &body)
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

/// Runs the load for warm-up plus duration and returns what the measured part saw.
pub async fn drive(
    endpoint: &Endpoint,
    pool: &Arc<[String]>,
    shape: Shape,
) -> anyhow::Result<Outcome> {
    anyhow::ensure!(
        !pool.is_empty() || shape.new_ratio >= 1.0,
        "repeats need at least one seeded key"
    );
    let measure_from = Instant::now() + shape.warmup;
    let deadline = measure_from + shape.duration;
    let tasks: Vec<_> = (0..shape.connections)
        .map(|conn| {
            let (endpoint, pool) = (endpoint.clone(), pool.clone());
            tokio::spawn(async move {
                let keys = KeyMix::new(conn, pool, shape.new_ratio);
                connection_loop(endpoint, keys, measure_from, deadline).await
            })
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
    mut keys: KeyMix,
    measure_from: Instant,
    deadline: Instant,
) -> Outcome {
    let mut outcome = Outcome::default();
    let mut tx = None;
    while Instant::now() < deadline {
        let request = (endpoint.build)(keys.next());
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

async fn connect(addr: SocketAddr) -> anyhow::Result<SendRequest<Full<Bytes>>> {
    let stream = TcpStream::connect(addr)
        .await
        .with_context(|| format!("connecting to {addr}"))?;
    stream.set_nodelay(true)?;
    let (tx, connection) = http1::handshake(TokioIo::new(stream)).await?;
    // Its errors also fail the pending request, which is where they are counted.
    tokio::spawn(connection);
    Ok(tx)
}

async fn exchange(
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

fn describe(status: StatusCode, body: &[u8]) -> String {
    let body = String::from_utf8_lossy(body);
    let body: String = body.chars().take(500).collect();
    format!("HTTP {status}: {body}")
}

/// Chooses each request's key: a new one with probability `new_ratio`, else a uniformly drawn seeded one.
struct KeyMix {
    conn: usize,
    sent_new: u64,
    pool: Arc<[String]>,
    new_threshold: u64,
    rng: SplitMix64,
    buf: String,
}

impl KeyMix {
    fn new(conn: usize, pool: Arc<[String]>, new_ratio: f64) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        Self {
            conn,
            sent_new: 0,
            pool,
            new_threshold: (new_ratio.clamp(0.0, 1.0) * u64::MAX as f64) as u64,
            rng: SplitMix64(nanos ^ (conn as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)),
            buf: String::new(),
        }
    }

    fn next(&mut self) -> &str {
        let draw = self.rng.next();
        if draw < self.new_threshold || self.pool.is_empty() {
            self.buf.clear();
            let _ = write!(self.buf, "new-{}-{}", self.conn, self.sent_new);
            self.sent_new += 1;
            &self.buf
        } else {
            let len = self.pool.len() as u64;
            &self.pool[(self.rng.next() % len) as usize]
        }
    }
}

/// Fast, good-enough randomness for picking keys; nothing here needs to be unpredictable.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_mix_follows_the_ratio_and_new_keys_never_repeat() {
        let pool = seed_keys(100);
        let mut mix = KeyMix::new(3, pool, 0.2);
        let mut new = std::collections::HashSet::new();
        let total = 100_000;
        for _ in 0..total {
            let key = mix.next().to_owned();
            if key.starts_with("new-3-") {
                assert!(new.insert(key), "a new key repeated");
            } else {
                assert!(key.starts_with("seed-"), "{key}");
            }
        }
        let share = new.len() as f64 / total as f64;
        assert!((0.19..0.21).contains(&share), "{share}");
    }
}
