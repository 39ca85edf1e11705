//! `tocsin bench`: drives Tocsin's ingest endpoints (PagerDuty events, Alertmanager webhooks), and Alertmanager's
//! alerts endpoint for comparison, with the same load, and reports requests and alerts per second, latency
//! percentiles and the servers' peak memory, per scenario. Three more scenarios follow a page past ingest: the
//! engine's cycle time and the final-schedule computation at scale (in-process), and the time from an event's 202
//! to its page at a webhook receiver under steady ingest.

mod backends;
mod bodies;
mod engine;
mod fixture;
mod flood;
mod load;
mod memory;
mod noop;
mod paging;
mod process;
mod receiver;
mod report;
mod schedules;
mod status_page;
mod targets;
mod ui;

use anyhow::Context;
use bodies::{Bodies, Groups, Template};
use clap::{Args, ValueEnum};
use load::Shape;
use report::{Figures, Parameters, Report};
use serde::Serialize;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use targets::Target;

const DEFAULT_ALERTMANAGER: &str = "/usr/bin/prometheus-alertmanager";

/// What `--scenario` accepts: one scenario, or all of them in turn.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Choice {
    /// PagerDuty Events API v2, one event per request.
    Pagerduty,
    /// Alertmanager webhooks re-sending each group's unchanged state.
    WebhookUnchanged,
    /// Alertmanager webhooks changing a tenth of each group's alerts per request.
    WebhookChanges,
    /// One engine cycle with 10,000 open incidents under escalation and 1,000 schedules, in-process.
    EngineCycle,
    /// The final schedules of 1,000 schedules over 90 days, in-process.
    FinalSchedule,
    /// From an event's 202 to its page at a webhook receiver, while ingest runs at 1,000 events/s.
    PageLatency,
    /// A hostile Alertmanager sender: the same alerts under a new groupKey each request; the server's memory as
    /// it goes.
    CacheMemory,
    /// A hostile Alertmanager sender posting new alerts as fast as it is answered, beside a quiet sender: the
    /// quiet one's latency, what the flood stored and the disk it took, with the ingest limits off and on.
    IngestFlood,
    /// The web UI's render time for home, the incident list and an incident page with a long timeline, on a
    /// year of data (100,000 incidents, 1,000,000 alerts by default), and the bytes of a first load; in-process.
    UiRender,
    /// summary.json and the status page's HTML under load while a responder posts an update every second,
    /// against the no-op handler answering as many bytes; with --database, also through a second instance on
    /// PostgreSQL.
    StatusPage,
    /// Every scenario in turn: the ingest ones on one server of each kind, then the three above.
    All,
    /// PagerDuty ingest on a no-op handler, on SQLite, and on PostgreSQL with one instance and with --instances,
    /// each against the no-op; then engine-cycle on PostgreSQL. Needs --database.
    Backends,
}

impl Choice {
    fn scenarios(self) -> Vec<Scenario> {
        match self {
            Self::Pagerduty => vec![Scenario::Pagerduty],
            Self::WebhookUnchanged => vec![Scenario::WebhookUnchanged],
            Self::WebhookChanges => vec![Scenario::WebhookChanges],
            Self::All => vec![
                Scenario::Pagerduty,
                Scenario::WebhookUnchanged,
                Scenario::WebhookChanges,
            ],
            Self::EngineCycle
            | Self::FinalSchedule
            | Self::PageLatency
            | Self::CacheMemory
            | Self::IngestFlood
            | Self::UiRender
            | Self::StatusPage
            | Self::Backends => Vec::new(),
        }
    }

    /// The scenarios past ingest, each with a report of its own.
    fn beyond_ingest(self) -> Vec<Self> {
        match self {
            Self::EngineCycle
            | Self::FinalSchedule
            | Self::PageLatency
            | Self::CacheMemory
            | Self::IngestFlood
            | Self::UiRender => vec![self],
            Self::All => vec![Self::PageLatency, Self::EngineCycle, Self::FinalSchedule],
            Self::Pagerduty
            | Self::WebhookUnchanged
            | Self::WebhookChanges
            | Self::Backends
            | Self::StatusPage => Vec::new(),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scenario {
    Pagerduty,
    WebhookUnchanged,
    WebhookChanges,
}

impl Scenario {
    fn name(self) -> &'static str {
        match self {
            Self::Pagerduty => "pagerduty",
            Self::WebhookUnchanged => "webhook-unchanged",
            Self::WebhookChanges => "webhook-changes",
        }
    }

    fn is_webhook(self) -> bool {
        self != Self::Pagerduty
    }

    fn changes(self) -> bool {
        self == Self::WebhookChanges
    }
}

/// What every target is given to send, so that all see the same load.
pub struct Workload {
    pool: Arc<[String]>,
    new_ratio: f64,
    groups: usize,
    batch_size: usize,
    starts_at: String,
}

impl Workload {
    fn keyed(&self, template: Template) -> Bodies {
        Bodies::Keyed {
            template: Arc::new(template),
            pool: self.pool.clone(),
            new_ratio: self.new_ratio,
        }
    }

    fn groups(&self, changes: bool) -> Groups {
        let prefix = if changes { "changes" } else { "unchanged" };
        Groups::new(
            prefix,
            self.groups,
            self.batch_size,
            changes,
            &self.starts_at,
        )
    }
}

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// What to measure; `all` runs every scenario in turn against one server of each kind.
    #[arg(long, value_enum, default_value = "pagerduty")]
    scenario: Choice,
    /// Concurrent keep-alive connections, each with one request in flight.
    #[arg(long, default_value_t = 32)]
    connections: usize,
    /// How long to measure, e.g. 10s, 500ms, 1m.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    duration: Duration,
    /// Load before measuring, not counted.
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    warmup: Duration,
    /// Alerts per request in the webhook scenarios, in one group per connection.
    #[arg(long, default_value_t = 100)]
    batch_size: usize,
    /// pagerduty: share of events with a dedup key never sent before; the rest repeat a seeded key.
    #[arg(long, default_value_t = 0.2, value_parser = parse_ratio)]
    new_ratio: f64,
    /// pagerduty: dedup keys triggered once before the run, for the repeats to hit.
    #[arg(long, default_value_t = 1000)]
    seed_keys: usize,
    /// Durability of the server the benchmark starts: full (fsync every commit) or process.
    #[arg(long, default_value = "full", value_parser = ["full", "process"], conflicts_with = "server")]
    durability: String,
    /// Drive this running Tocsin server (http://host:port) instead of starting one.
    #[arg(long, requires = "token")]
    server: Option<String>,
    /// API token with write scope, for --server.
    #[arg(long, env = "TOCSIN_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Process ID of the --server, to report its peak memory.
    #[arg(long, requires = "server")]
    server_pid: Option<u32>,
    /// Alertmanager binary to compare with [default: /usr/bin/prometheus-alertmanager, if present].
    #[arg(long, conflicts_with = "no_alertmanager")]
    alertmanager: Option<PathBuf>,
    /// Skip the Alertmanager comparison.
    #[arg(long)]
    no_alertmanager: bool,
    /// Also print the figures as JSON.
    #[arg(long)]
    json: bool,
    /// engine-cycle: open incidents under escalation.
    #[arg(long, default_value_t = 10_000)]
    incidents: usize,
    /// engine-cycle and final-schedule: on-call schedules, two or three layers each.
    #[arg(long, default_value_t = 1_000)]
    schedules: usize,
    /// final-schedule: how many days of final schedule to compute per schedule.
    #[arg(long, default_value_t = 90)]
    days: u32,
    /// page-latency: events per second, released on a fixed schedule whatever the answers.
    #[arg(long, default_value_t = 1000.0)]
    page_rate: f64,
    /// page-latency: share of events with a new dedup key, each opening an incident that pages.
    #[arg(long, default_value_t = 0.05, value_parser = parse_ratio)]
    page_new_ratio: f64,
    /// page-latency: how long each of its two runs (baseline, loaded) measures.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    page_duration: Duration,
    /// A PostgreSQL server (postgres://user@host:port/db) on which the servers and stores the benchmark starts
    /// get fresh databases of their own (dropped when they are done), instead of SQLite files; `backends` compares
    /// both.
    #[arg(long, value_name = "URL", conflicts_with = "server")]
    database: Option<String>,
    /// backends: how many Tocsin instances share the PostgreSQL database in its last run.
    #[arg(long, default_value_t = 3)]
    instances: usize,
    /// cache-memory: how many requests, each under a new groupKey.
    #[arg(long, default_value_t = 10_000)]
    requests: usize,
    /// cache-memory: alerts in each request, the same ones every time.
    #[arg(long, default_value_t = 300)]
    cache_alerts: usize,
    /// ingest-flood: how long the quiet sender runs alone, and again under the flood.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    flood_duration: Duration,
    /// ingest-flood: concurrent flooding connections.
    #[arg(long, default_value_t = 4)]
    flood_senders: usize,
    /// ingest-flood: new alerts in each flood request.
    #[arg(long, default_value_t = 1000)]
    flood_alerts: usize,
    /// ingest-flood: the quiet sender's events per second.
    #[arg(long, default_value_t = 20.0)]
    quiet_rate: f64,
    /// ui-render: incidents in the store.
    #[arg(long, default_value_t = 100_000)]
    ui_incidents: usize,
    /// ui-render: alerts of each incident.
    #[arg(long, default_value_t = 10)]
    ui_alerts_per_incident: usize,
    /// ui-render: incidents left open (the newest); the rest are resolved.
    #[arg(long, default_value_t = 1_000)]
    ui_open: usize,
    /// ui-render: entries on the timeline of the incident whose page is measured.
    #[arg(long, default_value_t = 500)]
    ui_timeline: usize,
    /// ui-render: measured requests per page.
    #[arg(long, default_value_t = 200)]
    ui_requests: usize,
}

impl BenchArgs {
    fn shape(&self) -> Shape {
        Shape {
            connections: self.connections,
            warmup: self.warmup,
            duration: self.duration,
        }
    }

    fn workload(&self) -> Workload {
        Workload {
            pool: bodies::seed_keys(self.seed_keys),
            new_ratio: self.new_ratio,
            groups: self.connections,
            batch_size: self.batch_size,
            starts_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        }
    }

    fn parameters(&self) -> Parameters {
        Parameters {
            scenarios: self.scenario.scenarios(),
            connections: self.connections,
            warmup_s: self.warmup.as_secs_f64(),
            duration_s: self.duration.as_secs_f64(),
            new_ratio: self.new_ratio,
            seeded_keys: self.seed_keys,
            batch_size: self.batch_size,
            changed_per_request: Groups::changed_per_request(self.batch_size),
            durability: self.server.is_none().then(|| self.durability.clone()),
            tocsin_server: self
                .server
                .clone()
                .unwrap_or_else(|| "started by the benchmark".into()),
        }
    }

    fn paging(&self) -> paging::PagingParams {
        paging::PagingParams {
            rate: self.page_rate,
            new_ratio: self.page_new_ratio,
            warmup: self.warmup,
            duration: self.page_duration,
            seed_keys: self.seed_keys,
            connections: self.connections,
        }
    }

    fn alertmanager_bin(&self) -> anyhow::Result<Option<PathBuf>> {
        if self.no_alertmanager {
            return Ok(None);
        }
        if let Some(bin) = &self.alertmanager {
            anyhow::ensure!(
                bin.exists(),
                "--alertmanager {}: no such file",
                bin.display()
            );
            return Ok(Some(bin.clone()));
        }
        let default = PathBuf::from(DEFAULT_ALERTMANAGER);
        if default.exists() {
            return Ok(Some(default));
        }
        eprintln!(
            "No Alertmanager at {DEFAULT_ALERTMANAGER}; skipping the comparison (see --alertmanager)."
        );
        Ok(None)
    }

    async fn tocsin(&self) -> anyhow::Result<Target> {
        match (&self.server, &self.token) {
            (Some(server), Some(token)) => {
                targets::remote_tocsin(server, token, self.server_pid).await
            }
            (Some(_), None) => anyhow::bail!("--server needs --token (or TOCSIN_TOKEN)"),
            (None, _) => {
                targets::spawn_tocsins(
                    &self.durability,
                    self.database.as_deref(),
                    1,
                    targets::Budget::Off,
                )
                .await
            }
        }
    }
}

/// Runs the no-op handler `backends` compares with, until the process is stopped.
pub async fn serve_noop(listen: std::net::SocketAddr) -> anyhow::Result<()> {
    noop::serve(listen).await
}

pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    if args.scenario == Choice::Backends {
        return backends::run(&args).await;
    }
    if args.scenario == Choice::StatusPage {
        anyhow::ensure!(args.server.is_none(), "status-page starts its own servers");
        return status_page::run(&args).await;
    }
    if !args.scenario.scenarios().is_empty() {
        ingest(&args).await?;
    }
    for choice in args.scenario.beyond_ingest() {
        let (table, json) = match choice {
            Choice::EngineCycle => {
                let f =
                    engine::run(args.incidents, args.schedules, args.database.as_deref()).await?;
                (f.table(), serde_json::to_string_pretty(&f)?)
            }
            Choice::FinalSchedule => {
                let f = schedules::run(args.schedules, args.days, args.database.as_deref()).await?;
                (f.table(), serde_json::to_string_pretty(&f)?)
            }
            Choice::PageLatency => {
                let tocsin = args.tocsin().await?;
                let f = paging::run(&tocsin, &args.paging()).await?;
                (f.table(), serde_json::to_string_pretty(&f)?)
            }
            Choice::CacheMemory => {
                let tocsin = args.tocsin().await?;
                let params = memory::MemoryParams {
                    requests: args.requests,
                    alerts: args.cache_alerts,
                };
                let f = memory::run(&tocsin, &params).await?;
                (f.table(), serde_json::to_string_pretty(&f)?)
            }
            Choice::IngestFlood => {
                anyhow::ensure!(
                    args.server.is_none() && args.database.is_none(),
                    "ingest-flood starts its own embedded servers, one with the limits off and one with them on"
                );
                let f = flood::run(&flood::FloodParams {
                    durability: args.durability.clone(),
                    duration: args.flood_duration,
                    senders: args.flood_senders,
                    alerts: args.flood_alerts,
                    quiet_rate: args.quiet_rate,
                })
                .await?;
                (f.table(), serde_json::to_string_pretty(&f)?)
            }
            Choice::UiRender => {
                anyhow::ensure!(
                    args.server.is_none() && args.database.is_none(),
                    "ui-render builds its own SQLite store in-process"
                );
                let f = ui::run(&ui::UiParams {
                    incidents: args.ui_incidents,
                    alerts_per_incident: args.ui_alerts_per_incident,
                    open: args.ui_open,
                    timeline: args.ui_timeline,
                    requests: args.ui_requests,
                })
                .await?;
                (f.table(), serde_json::to_string_pretty(&f)?)
            }
            Choice::Pagerduty
            | Choice::WebhookUnchanged
            | Choice::WebhookChanges
            | Choice::StatusPage
            | Choice::All
            | Choice::Backends => {
                continue;
            }
        };
        println!("\n{table}");
        if args.json {
            println!("{json}");
        }
    }
    Ok(())
}

async fn ingest(args: &BenchArgs) -> anyhow::Result<()> {
    let scenarios = args.scenario.scenarios();
    anyhow::ensure!(args.connections > 0, "--connections must be at least 1");
    anyhow::ensure!(
        !args.duration.is_zero(),
        "--duration must be more than zero"
    );
    anyhow::ensure!(
        args.seed_keys > 0 || args.new_ratio >= 1.0 || !scenarios.contains(&Scenario::Pagerduty),
        "--seed-keys must be at least 1 unless every key is new (--new-ratio 1)"
    );
    anyhow::ensure!(args.batch_size > 0, "--batch-size must be at least 1");
    // Found before the first run, so that a wrong path does not waste it.
    let alertmanager_bin = args.alertmanager_bin()?;
    let work = args.workload();
    let mut results = Vec::new();
    {
        let tocsin = args.tocsin().await?;
        for &scenario in &scenarios {
            results.push(measure(&tocsin, scenario, &work, args.shape()).await?);
        }
    }
    // Tocsin is stopped by now, so that it takes no CPU from Alertmanager.
    if let Some(bin) = alertmanager_bin {
        let alertmanager = targets::spawn_alertmanager(&bin)
            .await
            .with_context(|| format!("starting Alertmanager {}", bin.display()))?;
        for &scenario in &scenarios {
            results.push(measure(&alertmanager, scenario, &work, args.shape()).await?);
        }
    }
    let report = Report::new(args.parameters(), results);
    print!("{}", report.table());
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    }
    Ok(())
}

/// Seeds, loads and measures one scenario on one target.
pub(super) async fn measure(
    target: &Target,
    scenario: Scenario,
    work: &Workload,
    shape: Shape,
) -> anyhow::Result<Figures> {
    let what = format!("{} {}", target.name, scenario.name());
    let (endpoints, bodies) = target
        .load(scenario, work)
        .await
        .with_context(|| format!("setting up {what}"))?;
    let seeds = match &bodies {
        Bodies::Keyed { pool, .. } => format!("{} keys", pool.len()),
        Bodies::Cycled { per_connection, .. } => format!(
            "{} groups of {} alerts",
            per_connection.len(),
            bodies.alerts_per_request()
        ),
    };
    eprintln!(
        "{what}: seeding {seeds}, then {} s warm-up and {} s measured on {} connections…",
        shape.warmup.as_secs_f64(),
        shape.duration.as_secs_f64(),
        shape.connections
    );
    target.reset_peak_rss();
    load::seed(&endpoints[0], &bodies, shape.connections)
        .await
        .with_context(|| format!("seeding {what}"))?;
    let outcome = load::drive(&endpoints, &bodies, shape)
        .await
        .with_context(|| format!("loading {what}"))?;
    let peak_rss = target.pid.and_then(process::peak_rss);
    Ok(Figures::new(
        scenario,
        target.name,
        shape.connections,
        bodies.alerts_per_request(),
        outcome,
        peak_rss,
    ))
}

/// Parses `500ms`, `10s`, `1.5s` or `1m`.
fn parse_duration(s: &str) -> Result<Duration, String> {
    let bad = || format!("{s:?} is not a duration like 500ms, 10s or 1m");
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .ok_or_else(bad)?;
    let (number, unit) = s.split_at(split);
    let number: f64 = number.parse().map_err(|_| bad())?;
    let seconds = match unit {
        "ms" => number / 1000.0,
        "s" => number,
        "m" => number * 60.0,
        _ => return Err(bad()),
    };
    Duration::try_from_secs_f64(seconds).map_err(|_| bad())
}

fn parse_ratio(s: &str) -> Result<f64, String> {
    s.parse::<f64>()
        .ok()
        .filter(|r| (0.0..=1.0).contains(r))
        .ok_or_else(|| format!("{s:?} is not a number from 0 to 1"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_units() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("1m"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        for bad in ["10", "s", "10h", "-1s", ""] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn ratios_must_be_fractions() {
        assert_eq!(parse_ratio("0.2"), Ok(0.2));
        assert!(parse_ratio("1.5").is_err() && parse_ratio("x").is_err());
    }
}
