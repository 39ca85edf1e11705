//! `ingest-flood`: one hostile Alertmanager sender posting groups of new alerts as fast as it is answered, while
//! a quiet PagerDuty sender on another integration sends at a steady rate. Run twice, on servers with the ingest
//! limits off and as configured by default: what the limits buy is the quiet sender's latency against its own
//! baseline (the same sender with no flood), the alerts the flood got stored, and the disk it took.

use super::bodies::{numbered_alerts, webhook_body};
use super::process::mib;
use super::report::percentile;
use super::targets::{self, Budget};
use anyhow::Context;
use serde::Serialize;
use serde_json::json;
use std::fmt::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct FloodParams {
    pub durability: String,
    /// How long the quiet sender runs alone, and then again under the flood.
    pub duration: Duration,
    /// Concurrent flooding connections.
    pub senders: usize,
    /// Alerts in each flood request, all new.
    pub alerts: usize,
    /// The quiet sender's events per second.
    pub quiet_rate: f64,
}

#[derive(Debug, Serialize)]
pub struct Latency {
    pub requests: usize,
    pub errors: usize,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

#[derive(Debug, Serialize)]
pub struct FloodRun {
    pub limits: &'static str,
    pub quiet_alone: Latency,
    pub quiet_flooded: Latency,
    /// Flood requests answered 200, 429, 413, and otherwise.
    pub flood_ok: u64,
    pub flood_limited: u64,
    pub flood_too_large: u64,
    pub flood_other: u64,
    /// The answer to one request carrying five times the flood's alerts.
    pub oversized_status: u16,
    pub alerts_stored: u64,
    pub disk_growth_mib: f64,
    pub wal_peak_mib: f64,
    pub wal_after_mib: f64,
}

#[derive(Debug, Serialize)]
pub struct FloodFigures {
    pub params: String,
    pub runs: Vec<FloodRun>,
}

fn size(path: &std::path::Path) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.len())
}

/// The bytes of every file under `dir`.
fn disk(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir).map_or(0, |entries| {
        entries
            .flatten()
            .map(|e| {
                let p = e.path();
                if p.is_dir() { disk(&p) } else { size(&p) }
            })
            .sum()
    })
}

/// The quiet sender: PagerDuty triggers at `rate` per second on a fixed schedule, each timed to its answer.
async fn quiet(
    client: &reqwest::Client,
    url: &reqwest::Url,
    key: &str,
    rate: f64,
    duration: Duration,
) -> Latency {
    let mut ticks = tokio::time::interval(Duration::from_secs_f64(1.0 / rate.max(0.1)));
    let started = Instant::now();
    let mut times = Vec::new();
    let mut errors = 0;
    let mut n = 0u64;
    while started.elapsed() < duration {
        ticks.tick().await;
        n += 1;
        let body = json!({"routing_key": key, "event_action": "trigger", "dedup_key": format!("quiet-{n}-{}", started.elapsed().as_nanos()),
            "payload": {"summary": "quiet sender", "source": "bench", "severity": "warning"}});
        let sent = Instant::now();
        match client.post(url.clone()).json(&body).send().await {
            Ok(r) if r.status().is_success() => times.push(sent.elapsed()),
            _ => errors += 1,
        }
    }
    times.sort();
    Latency {
        requests: times.len() + errors,
        errors,
        p50_ms: percentile(&times, 0.5).unwrap_or(0.0),
        p99_ms: percentile(&times, 0.99).unwrap_or(0.0),
        max_ms: times.last().map_or(0.0, |d| d.as_secs_f64() * 1000.0),
    }
}

async fn run_once(p: &FloodParams, budget: Budget) -> anyhow::Result<FloodRun> {
    let target = targets::spawn_tocsins(&p.durability, None, 1, budget).await?;
    let limits = match budget {
        Budget::Off => targets::unlimited(),
        Budget::Default => json!({}),
    };
    let flood_key = target
        .integration_with("alertmanager", limits.clone())
        .await?;
    let quiet_key = target.integration_with("pagerduty", limits).await?;
    let (base, _, _) = target
        .tocsin_api()
        .context("ingest-flood needs a Tocsin server")?;
    let data = target
        .data_dir
        .clone()
        .context("ingest-flood needs a server it started")?;
    let flood_url = base.join(&format!("ingest/alertmanager/{flood_key}"))?;
    let quiet_url = base.join("v2/enqueue")?;
    let client = reqwest::Client::new();

    let quiet_alone = quiet(&client, &quiet_url, &quiet_key, p.quiet_rate, p.duration).await;
    let disk_before = disk(&data);

    let oversized = webhook_body("{}:{oversized}", &numbered_alerts(1 << 48, p.alerts * 5));
    let oversized_status = client
        .post(flood_url.clone())
        .json(&oversized)
        .send()
        .await?
        .status()
        .as_u16();

    let stop = Arc::new(AtomicBool::new(false));
    let counts: Arc<[AtomicU64; 4]> = Arc::new(Default::default());
    let next = Arc::new(AtomicU64::new(0));
    let mut flooders = Vec::new();
    for _ in 0..p.senders.max(1) {
        let (client, url, stop, counts, next) = (
            client.clone(),
            flood_url.clone(),
            stop.clone(),
            counts.clone(),
            next.clone(),
        );
        let per_request = p.alerts;
        flooders.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let from = next.fetch_add(per_request as u64, Ordering::Relaxed);
                let body = webhook_body(
                    &format!("{{}}:{{batch=\"{from}\"}}"),
                    &numbered_alerts(from, per_request),
                );
                let slot = match client.post(url.clone()).json(&body).send().await {
                    Ok(r) if r.status().is_success() => 0,
                    Ok(r) if r.status() == reqwest::StatusCode::TOO_MANY_REQUESTS => 1,
                    Ok(r) if r.status() == reqwest::StatusCode::PAYLOAD_TOO_LARGE => 2,
                    _ => 3,
                };
                counts[slot].fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    let wal = data.join("tocsin.db-wal");
    let watching = {
        let (stop, wal) = (stop.clone(), wal.clone());
        tokio::spawn(async move {
            let mut peak = 0;
            while !stop.load(Ordering::Relaxed) {
                peak = peak.max(size(&wal));
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            peak
        })
    };
    let quiet_flooded = quiet(&client, &quiet_url, &quiet_key, p.quiet_rate, p.duration).await;
    stop.store(true, Ordering::Relaxed);
    for f in flooders {
        f.await?;
    }
    let wal_peak = watching.await?;
    // After the burst, ordinary traffic: the WAL is checkpointed and cut back.
    quiet(
        &client,
        &quiet_url,
        &quiet_key,
        p.quiet_rate,
        Duration::from_secs(3),
    )
    .await;
    let flood_ok = counts[0].load(Ordering::Relaxed);
    Ok(FloodRun {
        limits: match budget {
            Budget::Off => "off",
            Budget::Default => "default",
        },
        quiet_alone,
        quiet_flooded,
        flood_ok,
        flood_limited: counts[1].load(Ordering::Relaxed),
        flood_too_large: counts[2].load(Ordering::Relaxed),
        flood_other: counts[3].load(Ordering::Relaxed),
        oversized_status,
        alerts_stored: flood_ok * p.alerts as u64,
        disk_growth_mib: mib(disk(&data).saturating_sub(disk_before)),
        wal_peak_mib: mib(wal_peak),
        wal_after_mib: mib(size(&wal)),
    })
}

pub async fn run(p: &FloodParams) -> anyhow::Result<FloodFigures> {
    let mut runs = Vec::new();
    for budget in [Budget::Off, Budget::Default] {
        eprintln!("ingest-flood: limits {budget:?}…");
        runs.push(run_once(p, budget).await?);
    }
    Ok(FloodFigures {
        params: format!(
            "{} flooding connections of {} new alerts per request; a quiet sender at {}/s; {:?} alone, then {:?} flooded",
            p.senders, p.alerts, p.quiet_rate, p.duration, p.duration
        ),
        runs,
    })
}

impl FloodFigures {
    pub fn table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "ingest-flood: {}", self.params);
        let _ = writeln!(
            out,
            "{:<8} {:>22} {:>22} {:>8} {:>8} {:>8} {:>6} {:>10} {:>9} {:>9} {:>9}",
            "limits",
            "quiet alone p50/p99",
            "quiet flooded p50/p99",
            "p99 ×",
            "flood ok",
            "429",
            "413",
            "stored",
            "disk MiB",
            "WAL peak",
            "WAL after"
        );
        for r in &self.runs {
            let _ = writeln!(
                out,
                "{:<8} {:>22} {:>22} {:>8.1} {:>8} {:>8} {:>6} {:>10} {:>9.1} {:>9.1} {:>9.1}",
                r.limits,
                format!("{:.2}/{:.2} ms", r.quiet_alone.p50_ms, r.quiet_alone.p99_ms),
                format!(
                    "{:.2}/{:.2} ms",
                    r.quiet_flooded.p50_ms, r.quiet_flooded.p99_ms
                ),
                r.quiet_flooded.p99_ms / r.quiet_alone.p99_ms.max(f64::MIN_POSITIVE),
                r.flood_ok,
                r.flood_limited,
                r.flood_too_large + u64::from(r.oversized_status == 413),
                r.alerts_stored,
                r.disk_growth_mib,
                r.wal_peak_mib,
                r.wal_after_mib
            );
            if r.quiet_alone.errors + r.quiet_flooded.errors > 0 || r.flood_other > 0 {
                let _ = writeln!(
                    out,
                    "         errors: quiet {} alone, {} flooded; flood {} other answers",
                    r.quiet_alone.errors, r.quiet_flooded.errors, r.flood_other
                );
            }
        }
        out
    }
}
