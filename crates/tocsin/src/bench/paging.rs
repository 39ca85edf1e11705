//! `page-latency`: how long after an event's 202 its page reaches the person, while ingest runs at a steady rate.
//!
//! The load is open-loop: events are released on a 1 ms tick at the configured rate whatever the server's answers
//! do, since monitoring systems do not slow down when Tocsin does. Most events repeat a seeded dedup key (they
//! deduplicate and page no one); every `1 / new_ratio`-th opens a new incident whose summary, and so whose title,
//! carries its key. The user the service's policy pages has one webhook, to a receiver in this process that notes
//! when each page arrives; the latency is that moment minus the moment the event's 202 arrived here. The baseline
//! is the same with only the new-incident events, in the same run, against the same server.

use super::load::{Endpoint, connect, describe, exchange};
use super::receiver::Receiver;
use super::report::{ms, percentile, thousands};
use super::targets::{Target, json_post};
use anyhow::Context;
use hyper::StatusCode;
use hyper::body::Bytes;
use reqwest::{Method, Url};
use serde::Serialize;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tocsin_domain::auth::new_dedup_key;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// What the summary of a paging event starts with; the rest is its dedup key.
const TITLE: &str = "bench page ";
/// How long after the load stops a page may still arrive; one that has not by then counts as lost.
const GRACE: Duration = Duration::from_secs(10);
/// How long the pages of the seeded keys may take to arrive before the measurement starts anyway.
const SEED_WAIT: Duration = Duration::from_secs(60);
const TARGET_MS: f64 = 1000.0;

pub struct PagingParams {
    pub rate: f64,
    pub new_ratio: f64,
    pub warmup: Duration,
    pub duration: Duration,
    pub seed_keys: usize,
    pub connections: usize,
}

#[derive(Debug, Serialize)]
pub struct PagingFigures {
    pub rate: f64,
    pub new_ratio: f64,
    pub warmup_s: f64,
    pub duration_s: f64,
    pub seeded_keys: usize,
    pub connections: usize,
    pub runs: Vec<PagingRun>,
    /// Loaded p99 over baseline p99.
    pub p99_ratio: Option<f64>,
    pub target_ms: f64,
    pub target_figure_ms: Option<f64>,
    pub target_met: bool,
}

#[derive(Debug, Serialize)]
pub struct PagingRun {
    pub name: &'static str,
    pub target_events_per_s: f64,
    /// Events answered 202 within the measured window, per second of it.
    pub events_per_s: f64,
    /// New-incident events answered 202 within the window, and how many of their pages arrived.
    pub new_keys: usize,
    pub paged: usize,
    /// From the 202 to the page's arrival at the receiver; `None` where a page that never arrived falls.
    pub p50_ms: Option<f64>,
    pub p95_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub max_ms: Option<f64>,
    /// How long the 202 itself took, for every event in the window.
    pub accept_p50_ms: Option<f64>,
    pub accept_p99_ms: Option<f64>,
    pub errors: u64,
    pub first_error: Option<String>,
}

pub async fn run(target: &Target, p: &PagingParams) -> anyhow::Result<PagingFigures> {
    anyhow::ensure!(p.rate > 0.0, "--page-rate must be more than zero");
    anyhow::ensure!(
        p.new_ratio > 0.0,
        "--page-new-ratio must be more than zero: only new incidents page"
    );
    let (base, token, service) = target
        .tocsin_api()
        .context("page-latency needs a Tocsin server")?;
    let receiver = Receiver::start(true).await?;
    let tag = new_dedup_key()[..8].to_owned();
    let client = reqwest::Client::new();
    let user = api(
        &client,
        base,
        token,
        Method::POST,
        "api/v1/users",
        json!({ "name": "Bench Pager", "email": format!("pager-{tag}@bench.example") }),
    )
    .await?;
    let user = user["id"].as_str().context("the user came without an ID")?;
    api(
        &client,
        base,
        token,
        Method::POST,
        &format!("api/v1/users/{user}/contact-methods"),
        json!({ "name": "bench receiver", "target": { "type": "webhook", "url": receiver.url } }),
    )
    .await?;
    let policy = format!("bench-paging-{tag}");
    // The next level is far off, so every page in the run is a first one.
    api(
        &client,
        base,
        token,
        Method::POST,
        "api/v1/escalation-policies",
        json!({ "name": policy, "levels": [{ "delay_minutes": 60, "targets": [{ "type": "user", "id": user }] }] }),
    )
    .await?;
    api(
        &client,
        base,
        token,
        Method::PUT,
        &format!("api/v1/services/{service}/escalation-policy"),
        json!({ "policy": policy }),
    )
    .await?;
    let routing_key = target.integration("pagerduty").await?;
    let endpoint = json_post(base, "v2/enqueue", StatusCode::ACCEPTED).await?;
    let event = |key: &str| -> Bytes {
        Bytes::from(
            json!({
                "routing_key": routing_key,
                "event_action": "trigger",
                "dedup_key": key,
                "payload": { "summary": format!("{TITLE}{key}"), "source": "tocsin-bench", "severity": "critical" },
            })
            .to_string(),
        )
    };
    let pool: Arc<[Bytes]> = (0..p.seed_keys)
        .map(|i| event(&format!("seed-{tag}-{i}")))
        .collect();

    eprintln!(
        "page-latency: seeding {} keys (each opens an incident and pages once)…",
        pool.len()
    );
    let far = Instant::now() + Duration::from_secs(24 * 3600);
    let seeding = Senders::start(&endpoint, p.connections, Instant::now(), far);
    for body in pool.iter() {
        seeding.send(Job {
            body: body.clone(),
            new_key: None,
        });
    }
    let seeded = seeding.finish().await?;
    if let Some(e) = seeded.first_error.lock().expect("errors").clone() {
        anyhow::bail!("seeding page-latency: {e}");
    }
    let give_up = Instant::now() + SEED_WAIT;
    while receiver.count() < pool.len() as u64 && Instant::now() < give_up {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    if receiver.count() < pool.len() as u64 {
        eprintln!(
            "page-latency: only {} of {} seeded pages arrived within {} s; measuring anyway",
            receiver.count(),
            pool.len(),
            SEED_WAIT.as_secs()
        );
    }

    let new_rate = p.rate * p.new_ratio;
    let every = (1.0 / p.new_ratio).round().max(1.0) as u64;
    eprintln!(
        "page-latency: baseline, {new_rate:.0} new-incident events/s alone, {} s warm-up and {} s measured…",
        p.warmup.as_secs_f64(),
        p.duration.as_secs_f64()
    );
    let baseline = measure("baseline", &endpoint, &receiver, p, new_rate, |i| Job {
        body: event(&format!("base-{tag}-{i}")),
        new_key: Some(format!("base-{tag}-{i}").into()),
    })
    .await?;
    eprintln!(
        "page-latency: loaded, {:.0} events/s with one in {every} new, {} s warm-up and {} s measured…",
        p.rate,
        p.warmup.as_secs_f64(),
        p.duration.as_secs_f64()
    );
    let loaded = measure("loaded", &endpoint, &receiver, p, p.rate, |i| {
        if i % every == 0 {
            let key = format!("load-{tag}-{}", i / every);
            Job {
                body: event(&key),
                new_key: Some(key.into()),
            }
        } else {
            Job {
                body: pool[(i - i / every - 1) as usize % pool.len().max(1)].clone(),
                new_key: None,
            }
        }
    })
    .await?;
    let target_figure_ms = loaded.p99_ms;
    Ok(PagingFigures {
        rate: p.rate,
        new_ratio: p.new_ratio,
        warmup_s: p.warmup.as_secs_f64(),
        duration_s: p.duration.as_secs_f64(),
        seeded_keys: pool.len(),
        connections: p.connections,
        p99_ratio: loaded.p99_ms.zip(baseline.p99_ms).map(|(l, b)| l / b),
        target_ms: TARGET_MS,
        target_figure_ms,
        target_met: target_figure_ms.is_some_and(|v| v <= TARGET_MS),
        runs: vec![baseline, loaded],
    })
}

/// Releases events at `rate` for warm-up plus duration, then follows each new incident measured to its page.
async fn measure(
    name: &'static str,
    endpoint: &Endpoint,
    receiver: &Receiver,
    p: &PagingParams,
    rate: f64,
    mut next: impl FnMut(u64) -> Job,
) -> anyhow::Result<PagingRun> {
    // Pages still arriving from before are no part of this run.
    receiver.drain();
    let start = Instant::now();
    let (from, to) = (start + p.warmup, start + p.warmup + p.duration);
    let senders = Senders::start(endpoint, p.connections, from, to);
    let mut tick = tokio::time::interval(Duration::from_millis(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut released = 0u64;
    loop {
        tick.tick().await;
        let elapsed = start.elapsed().min(p.warmup + p.duration);
        let due = (elapsed.as_secs_f64() * rate) as u64;
        while released < due {
            senders.send(next(released));
            released += 1;
        }
        if elapsed >= p.warmup + p.duration {
            break;
        }
    }
    let shared = senders.finish().await?;
    let accepted = std::mem::take(&mut *shared.accepted_new.lock().expect("accepted"));
    let mut first: HashMap<String, Instant> = HashMap::new();
    let give_up = Instant::now() + GRACE;
    loop {
        for (at, body) in receiver.drain() {
            if let Some(key) = key_of(&body) {
                first
                    .entry(key)
                    .and_modify(|t| *t = (*t).min(at))
                    .or_insert(at);
            }
        }
        let all_in = accepted.iter().all(|(k, _)| first.contains_key(&**k));
        if all_in || Instant::now() > give_up {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // A page that never came sorts after every one that did, so it shows in the percentiles it lands in.
    let mut latencies: Vec<Option<Duration>> = accepted
        .iter()
        .map(|(k, at)| first.get(&**k).map(|t| t.saturating_duration_since(*at)))
        .collect();
    latencies.sort_unstable_by_key(|l| l.unwrap_or(Duration::MAX));
    let paged = latencies.iter().filter(|l| l.is_some()).count();
    let nth = |q: f64| -> Option<f64> {
        let rank = (q * latencies.len() as f64).ceil() as usize;
        latencies
            .get(rank.saturating_sub(1))
            .copied()
            .flatten()
            .map(|d| d.as_secs_f64() * 1000.0)
    };
    let mut accept = std::mem::take(&mut *shared.accept_times.lock().expect("accept times"));
    accept.sort_unstable();
    Ok(PagingRun {
        name,
        target_events_per_s: rate,
        events_per_s: accept.len() as f64 / p.duration.as_secs_f64(),
        new_keys: accepted.len(),
        paged,
        p50_ms: nth(0.50),
        p95_ms: nth(0.95),
        p99_ms: nth(0.99),
        max_ms: nth(1.0),
        accept_p50_ms: percentile(&accept, 0.50),
        accept_p99_ms: percentile(&accept, 0.99),
        errors: shared.errors.load(Ordering::Relaxed),
        first_error: shared.first_error.lock().expect("errors").clone(),
    })
}

/// The dedup key in a page's incident title.
fn key_of(body: &[u8]) -> Option<String> {
    let v: Value = serde_json::from_slice(body).ok()?;
    let title = v["data"]["incident"]["title"].as_str()?;
    title.strip_prefix(TITLE).map(str::to_owned)
}

struct Job {
    body: Bytes,
    /// The dedup key, for an event that opens an incident.
    new_key: Option<Arc<str>>,
}

/// What the senders saw of answers that arrived within the measured window.
struct Seen {
    from: Instant,
    to: Instant,
    /// Each new key with the moment its 202 arrived.
    accepted_new: Mutex<Vec<(Arc<str>, Instant)>>,
    accept_times: Mutex<Vec<Duration>>,
    /// Counted whenever they happen, warm-up included.
    errors: AtomicU64,
    first_error: Mutex<Option<String>>,
}

/// Keep-alive connections taking events from one queue, so that a slow answer on one delays none of the others'.
struct Senders {
    queue: mpsc::UnboundedSender<Job>,
    workers: Vec<JoinHandle<()>>,
    seen: Arc<Seen>,
}

impl Senders {
    fn start(endpoint: &Endpoint, connections: usize, from: Instant, to: Instant) -> Self {
        let (queue, rx) = mpsc::unbounded_channel();
        let rx = Arc::new(tokio::sync::Mutex::new(rx));
        let seen = Arc::new(Seen {
            from,
            to,
            accepted_new: Mutex::default(),
            accept_times: Mutex::default(),
            errors: AtomicU64::new(0),
            first_error: Mutex::default(),
        });
        let workers = (0..connections.max(1))
            .map(|_| tokio::spawn(sender(endpoint.clone(), rx.clone(), seen.clone())))
            .collect();
        Self {
            queue,
            workers,
            seen,
        }
    }

    fn send(&self, job: Job) {
        // The workers end only once the queue is closed, which `finish` does after the last send.
        let _ = self.queue.send(job);
    }

    /// Closes the queue and waits until every queued event has been answered.
    async fn finish(self) -> anyhow::Result<Arc<Seen>> {
        drop(self.queue);
        let give_up = Instant::now() + Duration::from_secs(60);
        for w in self.workers {
            tokio::time::timeout_at(give_up.into(), w)
                .await
                .context("events still unanswered 60 s after the load stopped")??;
        }
        Ok(self.seen)
    }
}

async fn sender(
    endpoint: Endpoint,
    queue: Arc<tokio::sync::Mutex<mpsc::UnboundedReceiver<Job>>>,
    seen: Arc<Seen>,
) {
    let mut tx = None;
    loop {
        let Some(job) = queue.lock().await.recv().await else {
            return;
        };
        let request = (endpoint.post)(job.body);
        let started = Instant::now();
        let result = match &mut tx {
            Some(tx) => exchange(tx, request).await,
            None => match connect(endpoint.addr).await {
                Ok(fresh) => exchange(tx.insert(fresh), request).await,
                Err(e) => Err(e),
            },
        };
        let done = Instant::now();
        let error = match result {
            Ok((status, _)) if status == endpoint.accepted => {
                if (seen.from..=seen.to).contains(&done) {
                    seen.accept_times
                        .lock()
                        .expect("accept times")
                        .push(done - started);
                    if let Some(key) = job.new_key {
                        seen.accepted_new
                            .lock()
                            .expect("accepted")
                            .push((key, done));
                    }
                }
                continue;
            }
            Ok((status, body)) => describe(status, &body),
            Err(e) => {
                tx = None;
                format!("{e:#}")
            }
        };
        seen.errors.fetch_add(1, Ordering::Relaxed);
        seen.first_error
            .lock()
            .expect("errors")
            .get_or_insert(error);
    }
}

async fn api(
    client: &reqwest::Client,
    base: &Url,
    token: &str,
    method: Method,
    path: &str,
    body: Value,
) -> anyhow::Result<Value> {
    let url = base.join(path)?;
    let response = client
        .request(method.clone(), url.clone())
        .bearer_auth(token)
        .json(&body)
        .send()
        .await?;
    let status = response.status();
    let text = response.text().await?;
    anyhow::ensure!(status.is_success(), "{method} {url}: HTTP {status}: {text}");
    serde_json::from_str(&text).with_context(|| format!("{method} {url}: unexpected answer {text}"))
}

impl PagingFigures {
    pub fn table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "page-latency: PagerDuty events to /v2/enqueue released open-loop at a fixed rate on {} connections, \
             {} s warm-up and {} s measured per run",
            self.connections, self.warmup_s, self.duration_s
        );
        let _ = writeln!(
            out,
            "  loaded   {} events/s, {:.0}% with a new dedup key (an incident that pages), the rest repeats of {} \
             seeded keys\n  baseline the new-key events alone, at the same {} per second; same server, same run\n  \
             latency: from the event's 202 to its page arriving at a webhook receiver in this process",
            thousands(self.rate.round() as u64),
            self.new_ratio * 100.0,
            thousands(self.seeded_keys as u64),
            thousands((self.rate * self.new_ratio).round() as u64),
        );
        let _ = writeln!(
            out,
            "\n{:<14} {:<10} {:>8}  {:>8}  {:>6}  {:>6}  {:>6}  {:>6}  {:>7}  {:>10}  {:>6}",
            "page-latency",
            "run",
            "events/s",
            "new keys",
            "paged",
            "p50 ms",
            "p95 ms",
            "p99 ms",
            "max ms",
            "202 p99 ms",
            "errors"
        );
        let lat = |v: Option<f64>| v.map_or("lost".into(), |v| format!("{v:.1}"));
        for r in &self.runs {
            let _ = writeln!(
                out,
                "{:<14} {:<10} {:>8}  {:>8}  {:>6}  {:>6}  {:>6}  {:>6}  {:>7}  {:>10}  {:>6}",
                "",
                r.name,
                thousands(r.events_per_s.round() as u64),
                thousands(r.new_keys as u64),
                thousands(r.paged as u64),
                lat(r.p50_ms),
                lat(r.p95_ms),
                lat(r.p99_ms),
                lat(r.max_ms),
                ms(r.accept_p99_ms),
                r.errors
            );
        }
        let _ = writeln!(
            out,
            "loaded/baseline p99 ratio: {}",
            self.p99_ratio.map_or("-".into(), |r| format!("{r:.2}x"))
        );
        let _ = writeln!(
            out,
            "target: p99 from 202 to first notification ≤ {:.0} ms while ingest runs at {} events/s: {} ms, {}",
            self.target_ms,
            thousands(self.rate.round() as u64),
            lat(self.target_figure_ms),
            if self.target_met { "met" } else { "MISSED" }
        );
        for r in self.runs.iter().filter(|r| r.errors > 0) {
            let _ = writeln!(
                out,
                "page-latency {}: {} errors; the first: {}",
                r.name,
                r.errors,
                r.first_error.as_deref().unwrap_or("")
            );
        }
        out
    }
}
