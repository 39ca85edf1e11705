//! `final-schedule`: loading every schedule from the store and computing each one's final schedule (who is on call,
//! layers, restrictions and time zones resolved) over a long window, as a calendar or a coverage report does. The
//! same computation over a tenth of the window, in the same run, is the baseline: linear scaling gives a ratio
//! near the windows' ratio.

use super::fixture::{Population, epoch};
use super::report::{ms, thousands};
use serde::Serialize;
use std::fmt::Write;
use std::time::{Duration, Instant};
use tocsin_domain::oncall::final_schedule;
use tocsin_store::{ScheduleRecord, Store};

/// Each figure is the median of this many repetitions, so that one descheduled moment does not make it.
const REPEATS: usize = 5;
const TARGET_MS: f64 = 1000.0;

#[derive(Debug, Serialize)]
pub struct ScheduleFigures {
    /// `SQLite` or `PostgreSQL`, where the schedules are loaded from.
    pub database: &'static str,
    pub schedules: usize,
    pub layers: usize,
    pub users: usize,
    pub repeats: usize,
    pub load_ms: f64,
    pub windows: Vec<Window>,
    /// Compute time of the long window over the short one.
    pub compute_ratio: f64,
    pub target_ms: f64,
    /// Load plus compute over the long window.
    pub target_figure_ms: f64,
    pub target_met: bool,
}

#[derive(Debug, Serialize)]
pub struct Window {
    pub days: u32,
    pub compute_ms: f64,
    pub per_schedule_us: f64,
    pub shifts: usize,
}

/// Runs on SQLite, or on a fresh database on the PostgreSQL server at `postgres`.
pub async fn run(
    schedules: usize,
    days: u32,
    postgres: Option<&str>,
) -> anyhow::Result<ScheduleFigures> {
    anyhow::ensure!(days > 0, "--days must be at least 1");
    eprintln!(
        "final-schedule: building {} schedules…",
        thousands(schedules as u64)
    );
    let people = Population::people(schedules, schedules, None, postgres).await?;
    let store: &dyn Store = &*people.store;
    let mut loads = Vec::with_capacity(REPEATS);
    let mut records = Vec::new();
    for _ in 0..REPEATS {
        let started = Instant::now();
        records = store.oncall().list_schedules().await?;
        loads.push(started.elapsed());
    }
    anyhow::ensure!(
        records.len() == schedules,
        "the store listed {} schedules of {schedules}",
        records.len()
    );
    let short = (days / 10).max(1);
    let windows = [short, days]
        .into_iter()
        .map(|d| window(&records, d))
        .collect::<Vec<_>>();
    let load_ms = median_ms(loads);
    let long = &windows[1];
    let target_figure_ms = load_ms + long.compute_ms;
    Ok(ScheduleFigures {
        database: super::fixture::backend_name(postgres),
        schedules,
        layers: people.layers,
        users: people.users.len(),
        repeats: REPEATS,
        load_ms,
        compute_ratio: long.compute_ms / windows[0].compute_ms.max(f64::EPSILON),
        target_ms: TARGET_MS,
        target_figure_ms,
        target_met: target_figure_ms <= TARGET_MS,
        windows,
    })
}

/// Every schedule's final schedule from the scenario's epoch over `days`, on this thread, as a request handler or
/// the engine computes one.
fn window(records: &[ScheduleRecord], days: u32) -> Window {
    let from = epoch();
    let to = from + chrono::Duration::days(i64::from(days));
    let mut times = Vec::with_capacity(REPEATS);
    let mut shifts = 0;
    for _ in 0..REPEATS {
        let started = Instant::now();
        shifts = records
            .iter()
            .map(|r| final_schedule(&r.schedule(), from, to).len())
            .sum();
        times.push(started.elapsed());
    }
    let compute_ms = median_ms(times);
    Window {
        days,
        compute_ms,
        per_schedule_us: compute_ms * 1000.0 / records.len().max(1) as f64,
        shifts,
    }
}

fn median_ms(mut v: Vec<Duration>) -> f64 {
    v.sort_unstable();
    v.get(v.len() / 2).map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

impl ScheduleFigures {
    pub fn table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "final-schedule: {} schedules ({} layers over {} users, 12 time zones, hour/day/week rotations, \
             restricted layers) loaded from {} with list_schedules and computed one after another on one thread; \
             median of {}",
            thousands(self.schedules as u64),
            thousands(self.layers as u64),
            thousands(self.users as u64),
            self.database,
            self.repeats
        );
        let _ = writeln!(
            out,
            "\n{:<16} {:>5}  {:>10}  {:>15}  {:>10}",
            "final-schedule", "days", "compute ms", "per schedule µs", "shifts"
        );
        for w in &self.windows {
            let _ = writeln!(
                out,
                "{:<16} {:>5}  {:>10.1}  {:>15.1}  {:>10}",
                "",
                w.days,
                w.compute_ms,
                w.per_schedule_us,
                thousands(w.shifts as u64)
            );
        }
        let (short, long) = (&self.windows[0], &self.windows[1]);
        let _ = writeln!(
            out,
            "load (list_schedules): {} ms\n{} days/{} days compute ratio: {:.2}x ({:.0}x the window)",
            ms(Some(self.load_ms)),
            long.days,
            short.days,
            self.compute_ratio,
            f64::from(long.days) / f64::from(short.days)
        );
        let _ = writeln!(
            out,
            "target: final schedule of {} schedules over {} days ≤ {:.0} ms, load included: {} ms, {}",
            thousands(self.schedules as u64),
            long.days,
            self.target_ms,
            ms(Some(self.target_figure_ms)),
            if self.target_met { "met" } else { "MISSED" }
        );
        out
    }
}
