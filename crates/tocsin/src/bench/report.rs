//! Turning what the load runs saw into figures, a table and JSON.

use super::Scenario;
use super::load::Outcome;
use serde::Serialize;
use std::fmt::Write;

#[derive(Debug, Serialize)]
pub struct Parameters {
    pub scenarios: Vec<Scenario>,
    pub connections: usize,
    pub warmup_s: f64,
    pub duration_s: f64,
    pub new_ratio: f64,
    pub seeded_keys: usize,
    /// Alerts per webhook or `/api/v2/alerts` request; one group per connection.
    pub batch_size: usize,
    pub changed_per_request: usize,
    /// `full` or `process` for a server the benchmark started; unknown for one it was pointed at.
    pub durability: Option<String>,
    pub tocsin_server: String,
}

impl Parameters {
    fn describe(&self, scenario: Scenario) -> String {
        match scenario {
            Scenario::Pagerduty => format!(
                "one event per request to /v2/enqueue, {:.0}% new dedup keys, {:.0}% repeats of {} seeded",
                self.new_ratio * 100.0,
                (1.0 - self.new_ratio) * 100.0,
                thousands(self.seeded_keys as u64),
            ),
            Scenario::WebhookUnchanged => format!(
                "one Alertmanager group of {} alerts per connection, re-sent unchanged",
                self.batch_size
            ),
            Scenario::WebhookChanges => format!(
                "one Alertmanager group of {} alerts per connection, {} of them changed in each request",
                self.batch_size, self.changed_per_request
            ),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct Figures {
    pub scenario: Scenario,
    pub target: &'static str,
    pub connections: usize,
    pub alerts_per_request: usize,
    pub requests: u64,
    pub requests_per_s: f64,
    pub alerts_per_s: f64,
    /// Latency percentiles of accepted requests; absent when none was accepted.
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub p99_9_ms: Option<f64>,
    pub errors: u64,
    pub first_error: Option<String>,
    /// The server's highest resident memory during the scenario, seeding included.
    pub peak_rss_bytes: Option<u64>,
}

impl Figures {
    pub fn new(
        scenario: Scenario,
        target: &'static str,
        connections: usize,
        alerts_per_request: usize,
        outcome: Outcome,
        peak_rss_bytes: Option<u64>,
    ) -> Self {
        let mut latencies = outcome.latencies_us;
        latencies.sort_unstable();
        let requests = latencies.len() as u64;
        let requests_per_s = requests as f64 / outcome.window.as_secs_f64().max(f64::EPSILON);
        Self {
            scenario,
            target,
            connections,
            alerts_per_request,
            requests,
            requests_per_s,
            alerts_per_s: requests_per_s * alerts_per_request as f64,
            p50_ms: percentile_ms(&latencies, 0.50),
            p99_ms: percentile_ms(&latencies, 0.99),
            p99_9_ms: percentile_ms(&latencies, 0.999),
            errors: outcome.errors,
            first_error: outcome.first_error,
            peak_rss_bytes,
        }
    }
}

/// Nearest-rank percentile of sorted durations, in milliseconds.
pub(super) fn percentile(sorted: &[std::time::Duration], q: f64) -> Option<f64> {
    let rank = (q * sorted.len() as f64).ceil() as usize;
    let d = sorted.get(rank.saturating_sub(1))?;
    Some(d.as_secs_f64() * 1000.0)
}

/// Nearest-rank percentile of sorted microseconds, in milliseconds.
pub(super) fn percentile_ms(sorted_us: &[u32], q: f64) -> Option<f64> {
    let rank = (q * sorted_us.len() as f64).ceil() as usize;
    let us = sorted_us.get(rank.saturating_sub(1))?;
    Some(f64::from(*us) / 1000.0)
}

/// Tocsin's figures over Alertmanager's in one scenario: above 1 for throughput, below 1 for p99, means Tocsin is
/// ahead.
#[derive(Debug, Serialize)]
pub struct Ratios {
    pub scenario: Scenario,
    pub alerts_per_s: f64,
    pub p99: Option<f64>,
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub parameters: Parameters,
    pub results: Vec<Figures>,
    pub tocsin_over_alertmanager: Vec<Ratios>,
}

impl Report {
    pub fn new(parameters: Parameters, results: Vec<Figures>) -> Self {
        let tocsin_over_alertmanager = parameters
            .scenarios
            .iter()
            .filter_map(|&scenario| {
                let find = |name| {
                    results
                        .iter()
                        .find(|f| f.scenario == scenario && f.target == name)
                };
                let (t, a) = find("tocsin").zip(find("alertmanager"))?;
                Some(Ratios {
                    scenario,
                    alerts_per_s: t.alerts_per_s / a.alerts_per_s,
                    p99: t.p99_ms.zip(a.p99_ms).map(|(t, a)| t / a),
                })
            })
            .collect();
        Self {
            parameters,
            results,
            tocsin_over_alertmanager,
        }
    }

    pub fn table(&self) -> String {
        let mut out = String::new();
        let p = &self.parameters;
        let _ = writeln!(
            out,
            "{} connections, {} s warm-up and {} s measured per scenario; tocsin: {}, durability {}",
            p.connections,
            p.warmup_s,
            p.duration_s,
            p.tocsin_server,
            p.durability.as_deref().unwrap_or("as configured"),
        );
        for &s in &p.scenarios {
            let _ = writeln!(out, "  {:<18} {}", s.name(), p.describe(s));
        }
        if p.scenarios.iter().any(|s| s.is_webhook()) {
            let _ = writeln!(
                out,
                "  Tocsin gets webhook groups at /ingest/alertmanager/{{key}}; Alertmanager gets the same alerts, \
                 in the same batches, at its /api/v2/alerts."
            );
        }
        let _ = writeln!(
            out,
            "\n{:<18} {:<12} {:>5}  {:>10}  {:>10}  {:>6}  {:>6}  {:>8}  {:>6}  {:>8}",
            "scenario",
            "target",
            "conns",
            "requests/s",
            "alerts/s",
            "p50 ms",
            "p99 ms",
            "p99.9 ms",
            "errors",
            "peak RSS"
        );
        for f in &self.results {
            let _ = writeln!(
                out,
                "{:<18} {:<12} {:>5}  {:>10}  {:>10}  {:>6}  {:>6}  {:>8}  {:>6}  {:>8}",
                f.scenario.name(),
                f.target,
                f.connections,
                thousands(f.requests_per_s.round() as u64),
                thousands(f.alerts_per_s.round() as u64),
                ms(f.p50_ms),
                ms(f.p99_ms),
                ms(f.p99_9_ms),
                f.errors,
                f.peak_rss_bytes
                    .map_or("unknown".into(), |b| format!("{} MiB", b.div_ceil(1 << 20))),
            );
        }
        if !self.tocsin_over_alertmanager.is_empty() {
            let _ = writeln!(
                out,
                "\n{:<18} {:>15}  {:>9}",
                "tocsin/alertmanager", "alerts/s ratio", "p99 ratio"
            );
            for r in &self.tocsin_over_alertmanager {
                let p99 = r.p99.map_or("-".into(), |x| format!("{x:.2}x"));
                let _ = writeln!(
                    out,
                    "{:<18} {:>15}  {:>9}",
                    r.scenario.name(),
                    format!("{:.2}x", r.alerts_per_s),
                    p99
                );
            }
        }
        for f in self.results.iter().filter(|f| f.errors > 0) {
            let first = f.first_error.as_deref().unwrap_or("");
            let _ = writeln!(
                out,
                "\n{} {}: {} errors; the first: {first}",
                f.scenario.name(),
                f.target,
                f.errors
            );
        }
        out
    }
}

pub(super) fn ms(v: Option<f64>) -> String {
    v.map_or("-".into(), |v| format!("{v:.2}"))
}

pub(super) fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_nearest_rank() {
        let v: Vec<u32> = (1..=1000).map(|i| i * 1000).collect();
        assert_eq!(percentile_ms(&v, 0.5), Some(500.0));
        assert_eq!(percentile_ms(&v, 0.99), Some(990.0));
        assert_eq!(percentile_ms(&v, 0.999), Some(999.0));
        assert_eq!(percentile_ms(&[], 0.5), None);
    }

    #[test]
    fn ratios_pair_each_scenario_with_its_own_alertmanager_run() {
        let figures = |scenario, target, per_request, requests: u32| {
            let outcome = Outcome {
                latencies_us: vec![1000; requests as usize],
                window: std::time::Duration::from_secs(1),
                ..Outcome::default()
            };
            Figures::new(scenario, target, 4, per_request, outcome, None)
        };
        let parameters = Parameters {
            scenarios: vec![Scenario::Pagerduty, Scenario::WebhookUnchanged],
            connections: 4,
            warmup_s: 0.0,
            duration_s: 1.0,
            new_ratio: 0.2,
            seeded_keys: 10,
            batch_size: 100,
            changed_per_request: 10,
            durability: None,
            tocsin_server: "x".into(),
        };
        let report = Report::new(
            parameters,
            vec![
                figures(Scenario::Pagerduty, "tocsin", 1, 300),
                figures(Scenario::WebhookUnchanged, "tocsin", 100, 40),
                figures(Scenario::Pagerduty, "alertmanager", 1, 100),
                figures(Scenario::WebhookUnchanged, "alertmanager", 100, 10),
            ],
        );
        assert_eq!(report.results[1].alerts_per_s, 4000.0);
        let ratios: Vec<_> = report
            .tocsin_over_alertmanager
            .iter()
            .map(|r| (r.scenario, r.alerts_per_s))
            .collect();
        assert_eq!(
            ratios,
            [
                (Scenario::Pagerduty, 3.0),
                (Scenario::WebhookUnchanged, 4.0)
            ]
        );
        assert!(report.table().contains("webhook-unchanged  tocsin"));
    }

    #[test]
    fn thousands_groups_digits() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(27512), "27,512");
        assert_eq!(thousands(1234567), "1,234,567");
    }
}
