//! `engine-cycle`: how long one engine cycle takes with many open incidents under escalation and many schedules,
//! measured in-process on a real store and a real engine whose webhooks go to a receiver in this process, and the
//! same on a population a tenth to a twentieth the size as the baseline the ratios compare with.
//!
//! The clock is manual, so what falls due is exactly what the scenario moves it past: nothing while idling, every
//! incident's first level right after they open, and every second level once it moves past the longest first
//! delay.

use super::fixture::{FIRST_DELAY_MAX_MINUTES, Population, concurrently, epoch};
use super::receiver::Receiver;
use super::report::{ms, percentile, thousands};
use crate::engine::{CycleReport, Engine, EngineSettings, Renderer};
use crate::notify::{NotifyConfig, Transports};
use serde::Serialize;
use std::fmt::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tocsin_domain::clock::{Clock, ManualClock};
use tocsin_domain::incident::Actor;
use tocsin_domain::severity::Severity;
use tocsin_store::{NewIncident, Store};

/// Cycles in the idle measurement: enough for a p99 that is not just the maximum.
const IDLE_CYCLES: usize = 500;
/// Cycles that may pass while draining before the scenario gives up on the engine ever running dry.
const MAX_DRAIN_CYCLES: usize = 10_000;
/// The baseline population is this much smaller, with at least two batches of incidents so that its figure for a
/// full batch is not a single cycle's.
const BASELINE_SHRINK: usize = 20;
/// What the issue asks of one cycle.
const TARGET_MS: f64 = 50.0;

#[derive(Debug, Serialize)]
pub struct EngineFigures {
    pub batch: u32,
    /// `SQLite` or `PostgreSQL`.
    pub database: &'static str,
    pub baseline: PopulationFigures,
    pub loaded: PopulationFigures,
    /// Loaded over baseline: idle p50, and the median full-batch cycle of the second-level drain.
    pub idle_p50_ratio: Option<f64>,
    pub full_batch_p50_ratio: Option<f64>,
    pub target_ms: f64,
    /// The slowest full-batch cycle of the loaded population's second-level drain, which the target is read on.
    pub target_figure_ms: Option<f64>,
    pub target_met: Option<bool>,
}

/// One population's figures.
#[derive(Debug, Serialize)]
pub struct PopulationFigures {
    pub incidents: usize,
    pub schedules: usize,
    pub layers: usize,
    pub users: usize,
    pub policies: usize,
    pub services: usize,
    pub setup_s: f64,
    pub idle: Idle,
    pub drains: Vec<Drain>,
}

#[derive(Debug, Serialize)]
pub struct Idle {
    pub cycles: usize,
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub max_ms: Option<f64>,
}

/// Cycles run back to back, as the engine does while a cycle fills its batch, until one finds nothing to do.
#[derive(Debug, Serialize)]
pub struct Drain {
    pub what: &'static str,
    pub cycles: usize,
    pub escalations: u64,
    pub notifications_sent: u64,
    pub reminders: u64,
    /// Webhooks the receiver got during the drain: the sends were real.
    pub arrived: u64,
    pub total_ms: f64,
    /// Cycles that fired a whole batch of escalations.
    pub full_batch_cycles: usize,
    pub full_batch_p50_ms: Option<f64>,
    pub full_batch_max_ms: Option<f64>,
}

/// Runs on SQLite, or on fresh databases on the PostgreSQL server at `postgres`.
pub async fn run(
    incidents: usize,
    schedules: usize,
    postgres: Option<&str>,
) -> anyhow::Result<EngineFigures> {
    let batch = EngineSettings::default().batch;
    let receiver = Receiver::start(false).await?;
    let small_incidents = (incidents / BASELINE_SHRINK).max(2 * batch as usize);
    let small_schedules = (schedules / BASELINE_SHRINK).max(4);
    eprintln!(
        "engine-cycle: baseline of {} incidents and {} schedules…",
        thousands(small_incidents as u64),
        thousands(small_schedules as u64)
    );
    let baseline = population(&receiver, small_incidents, small_schedules, postgres).await?;
    eprintln!(
        "engine-cycle: {} incidents and {} schedules…",
        thousands(incidents as u64),
        thousands(schedules as u64)
    );
    let loaded = population(&receiver, incidents, schedules, postgres).await?;
    let ratio = |a: Option<f64>, b: Option<f64>| a.zip(b).map(|(a, b)| a / b);
    let second = |p: &PopulationFigures| p.drains.last().and_then(|d| d.full_batch_p50_ms);
    let target_figure_ms = loaded.drains.last().and_then(|d| d.full_batch_max_ms);
    Ok(EngineFigures {
        batch,
        database: super::fixture::backend_name(postgres),
        idle_p50_ratio: ratio(loaded.idle.p50_ms, baseline.idle.p50_ms),
        full_batch_p50_ratio: ratio(second(&loaded), second(&baseline)),
        target_ms: TARGET_MS,
        target_figure_ms,
        target_met: target_figure_ms.map(|v| v <= TARGET_MS),
        baseline,
        loaded,
    })
}

async fn population(
    receiver: &Receiver,
    incidents: usize,
    schedules: usize,
    postgres: Option<&str>,
) -> anyhow::Result<PopulationFigures> {
    let started = Instant::now();
    let mut people =
        Population::people(schedules, schedules, Some(&receiver.url), postgres).await?;
    people.paging().await?;
    let store: Arc<dyn Store> = people.store.clone();
    let clock = Arc::new(ManualClock::new(epoch()));
    let engine = engine(store.clone(), clock.clone()).await?;
    // The first cycles queue every schedule's first shift reminders; that is set-up, not the state measured.
    drain(&engine, receiver, "settle").await?;
    let services = Arc::new(people.services.clone());
    let now = clock.now();
    concurrently(incidents, move |i| {
        let (store, services) = (store.clone(), services.clone());
        async move {
            let new = NewIncident {
                title: format!("bench incident {i}"),
                description: String::new(),
                severity: Severity::Sev1,
                services: vec![services[i % services.len()].as_str().into()],
            };
            store.incidents().declare(new, Actor::system(), now).await?;
            Ok(())
        }
    })
    .await?;
    let setup_s = started.elapsed().as_secs_f64();
    let opened = drain(&engine, receiver, "level 1 of every incident, just opened").await?;
    let idle = idle(&engine).await?;
    clock.advance(chrono::Duration::minutes(FIRST_DELAY_MAX_MINUTES));
    let second = drain(&engine, receiver, "level 2 of every incident, at once").await?;
    Ok(PopulationFigures {
        incidents,
        schedules: people.schedules.len(),
        layers: people.layers,
        users: people.users.len(),
        policies: people.policies,
        services: people.services.len(),
        setup_s,
        idle,
        drains: vec![opened, second],
    })
}

async fn engine(store: Arc<dyn Store>, clock: Arc<ManualClock>) -> anyhow::Result<Engine> {
    let link_key = store.engine().link_key().await?;
    Ok(Engine::new(
        &tocsin_app::App::new(store, clock, tocsin_app::Metrics::new()),
        Arc::new(Transports::new(&NotifyConfig {
            // The receiver is in this process, on loopback.
            allowed_networks: tocsin_domain::net::AllowedNetworks(vec!["127.0.0.0/8".parse()?]),
            ..NotifyConfig::default()
        })?),
        Renderer {
            public_url: "http://127.0.0.1:8080".into(),
            link_key,
            update_templates: Default::default(),
        },
        EngineSettings::default(),
    ))
}

fn busy(r: &CycleReport) -> bool {
    r.escalations_fired > 0
        || r.deliveries_sent > 0
        || r.reminders_queued > 0
        || r.heartbeats_missed > 0
}

async fn drain(engine: &Engine, receiver: &Receiver, what: &'static str) -> anyhow::Result<Drain> {
    let batch = EngineSettings::default().batch;
    let arrived_before = receiver.count();
    let mut d = Drain {
        what,
        cycles: 0,
        escalations: 0,
        notifications_sent: 0,
        reminders: 0,
        arrived: 0,
        total_ms: 0.0,
        full_batch_cycles: 0,
        full_batch_p50_ms: None,
        full_batch_max_ms: None,
    };
    let mut full: Vec<Duration> = Vec::new();
    loop {
        anyhow::ensure!(
            d.cycles < MAX_DRAIN_CYCLES,
            "{what}: still busy after {MAX_DRAIN_CYCLES} cycles"
        );
        let started = Instant::now();
        let r = engine.cycle().await?;
        let took = started.elapsed();
        anyhow::ensure!(r.leader, "the engine did not get its lease");
        // The cycle that finds nothing is how the drain ends, not part of its work.
        if !busy(&r) {
            break;
        }
        d.cycles += 1;
        d.escalations += u64::from(r.escalations_fired);
        d.notifications_sent += u64::from(r.deliveries_sent);
        d.reminders += u64::from(r.reminders_queued);
        d.total_ms += took.as_secs_f64() * 1000.0;
        if r.escalations_fired >= batch {
            full.push(took);
        }
    }
    d.arrived = receiver.count() - arrived_before;
    full.sort_unstable();
    d.full_batch_cycles = full.len();
    d.full_batch_p50_ms = percentile(&full, 0.5);
    d.full_batch_max_ms = percentile(&full, 1.0);
    Ok(d)
}

async fn idle(engine: &Engine) -> anyhow::Result<Idle> {
    let mut took = Vec::with_capacity(IDLE_CYCLES);
    for _ in 0..IDLE_CYCLES {
        let started = Instant::now();
        let r = engine.cycle().await?;
        took.push(started.elapsed());
        anyhow::ensure!(!busy(&r), "an idle cycle found work: {r:?}");
    }
    took.sort_unstable();
    Ok(Idle {
        cycles: took.len(),
        p50_ms: percentile(&took, 0.5),
        p99_ms: percentile(&took, 0.99),
        max_ms: percentile(&took, 1.0),
    })
}

impl EngineFigures {
    pub fn table(&self) -> String {
        let mut out = String::new();
        let l = &self.loaded;
        let _ = writeln!(
            out,
            "engine-cycle: in-process engine on {} (durability full), batch {} escalations and {} deliveries per \
             cycle; every user has one webhook to a receiver in this process",
            self.database, self.batch, self.batch
        );
        for (name, p) in [("baseline", &self.baseline), ("loaded", l)] {
            let _ = writeln!(
                out,
                "  {name:<8} {} incidents, {} schedules ({} layers, 12 time zones), {} users, {} policies, {} services; \
                 built in {:.1} s",
                thousands(p.incidents as u64),
                thousands(p.schedules as u64),
                thousands(p.layers as u64),
                thousands(p.users as u64),
                thousands(p.policies as u64),
                thousands(p.services as u64),
                p.setup_s
            );
        }
        let _ = writeln!(
            out,
            "\n{:<10} {:<38} {:>6}  {:>6}  {:>6}  {:>6}",
            "idle", "cycles with nothing due", "cycles", "p50 ms", "p99 ms", "max ms"
        );
        for (name, p) in [("baseline", &self.baseline), ("loaded", l)] {
            let _ = writeln!(
                out,
                "{:<10} {:<38} {:>6}  {:>6}  {:>6}  {:>6}",
                name,
                "",
                p.idle.cycles,
                ms(p.idle.p50_ms),
                ms(p.idle.p99_ms),
                ms(p.idle.max_ms)
            );
        }
        let _ = writeln!(
            out,
            "\n{:<10} {:<38} {:>6}  {:>11}  {:>9}  {:>8}  {:>10}  {:>13}  {:>14}  {:>6}",
            "drain",
            "escalations falling due at once",
            "cycles",
            "escalations",
            "notified",
            "arrived",
            "total ms",
            "µs/escalation",
            "full-batch p50",
            "max ms"
        );
        for (name, p) in [("baseline", &self.baseline), ("loaded", l)] {
            for d in &p.drains {
                let _ = writeln!(
                    out,
                    "{:<10} {:<38} {:>6}  {:>11}  {:>9}  {:>8}  {:>10.1}  {:>13.0}  {:>14}  {:>6}",
                    name,
                    d.what,
                    d.cycles,
                    thousands(d.escalations),
                    thousands(d.notifications_sent),
                    thousands(d.arrived),
                    d.total_ms,
                    d.total_ms * 1000.0 / d.escalations.max(1) as f64,
                    ms(d.full_batch_p50_ms),
                    ms(d.full_batch_max_ms),
                );
            }
        }
        let ratio = |r: Option<f64>| r.map_or("-".into(), |r| format!("{r:.2}x"));
        let _ = writeln!(
            out,
            "\nloaded/baseline ({:.0}x the incidents, {:.0}x the schedules): idle p50 {}, level-2 full-batch cycle p50 {}",
            l.incidents as f64 / self.baseline.incidents.max(1) as f64,
            l.schedules as f64 / self.baseline.schedules.max(1) as f64,
            ratio(self.idle_p50_ratio),
            ratio(self.full_batch_p50_ratio)
        );
        let verdict = match self.target_met {
            Some(true) => "met",
            Some(false) => "MISSED",
            None => "not measured (no cycle filled a batch)",
        };
        let _ = writeln!(
            out,
            "target: one engine cycle ≤ {:.0} ms with {} open incidents and {} schedules, read on the slowest cycle \
             that fired a full batch of {} escalations (and claimed, sent and recorded up to {} notifications) in the \
             level-2 drain: {} ms, {verdict}",
            self.target_ms,
            thousands(l.incidents as u64),
            thousands(l.schedules as u64),
            self.batch,
            self.batch,
            ms(self.target_figure_ms),
        );
        out
    }
}
