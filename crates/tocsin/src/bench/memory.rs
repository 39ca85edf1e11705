//! `cache-memory`: a hostile Alertmanager sender re-sending the same alerts under a new `groupKey` each time, the
//! pattern that grew the server's memory without end while the ingest caches capped entries rather than bytes.
//! Prints the server's resident memory as the requests go, so that a bound holds or visibly does not.

use super::bodies::{numbered_alerts, webhook_body};
use super::process::{mib, rss};
use super::targets::Target;
use anyhow::Context;
use serde::Serialize;
use std::fmt::Write;

#[derive(Debug, Clone)]
pub struct MemoryParams {
    pub requests: usize,
    pub alerts: usize,
}

#[derive(Debug, Serialize)]
pub struct MemoryFigures {
    pub requests: usize,
    pub alerts_per_request: usize,
    /// (requests sent, resident memory in MiB) at each sample.
    pub samples: Vec<(usize, f64)>,
    pub first_mib: f64,
    pub max_mib: f64,
    pub last_mib: f64,
    pub seconds: f64,
}

pub async fn run(target: &Target, p: &MemoryParams) -> anyhow::Result<MemoryFigures> {
    anyhow::ensure!(
        p.requests > 0 && p.alerts > 0,
        "--requests and --cache-alerts must be at least 1"
    );
    let pid = target
        .pid
        .context("cache-memory needs a server whose process it can watch")?;
    let key = target.integration("alertmanager").await?;
    let (base, _, _) = target
        .tocsin_api()
        .context("cache-memory needs a Tocsin server")?;
    let url = base.join(&format!("ingest/alertmanager/{key}"))?;
    let alerts = numbered_alerts(0, p.alerts);
    let client = reqwest::Client::new();
    let every = (p.requests / 20).max(1);
    let mut samples = Vec::new();
    let started = std::time::Instant::now();
    eprintln!(
        "cache-memory: {} requests of {} alerts, each under a new groupKey…",
        p.requests, p.alerts
    );
    for n in 0..p.requests {
        let body = webhook_body(&format!("{{}}:{{attempt=\"{n}\"}}"), &alerts);
        let response = client.post(url.clone()).json(&body).send().await?;
        anyhow::ensure!(
            response.status().is_success(),
            "request {n}: HTTP {}: {}",
            response.status(),
            response.text().await.unwrap_or_default()
        );
        if (n + 1) % every == 0 || n == 0 {
            samples.push((n + 1, mib(rss(pid).context("reading the server's memory")?)));
        }
    }
    let values: Vec<f64> = samples.iter().map(|(_, m)| *m).collect();
    Ok(MemoryFigures {
        requests: p.requests,
        alerts_per_request: p.alerts,
        first_mib: values[0],
        max_mib: values.iter().copied().fold(0.0, f64::max),
        last_mib: *values.last().expect("at least one sample"),
        samples,
        seconds: started.elapsed().as_secs_f64(),
    })
}

impl MemoryFigures {
    pub fn table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "cache-memory: {} requests of {} alerts, a new groupKey each, in {:.0} s",
            self.requests, self.alerts_per_request, self.seconds
        );
        let _ = writeln!(out, "{:>10}  {:>10}", "requests", "RSS MiB");
        for (n, m) in &self.samples {
            let _ = writeln!(out, "{n:>10}  {m:>10.1}");
        }
        let _ = writeln!(
            out,
            "first {:.1} MiB, highest {:.1} MiB, last {:.1} MiB (growth {:.1} MiB)",
            self.first_mib,
            self.max_mib,
            self.last_mib,
            self.max_mib - self.first_mib
        );
        out
    }
}
