//! Turning what the load runs saw into figures, a table and JSON.

use super::load::Outcome;
use serde::Serialize;
use std::fmt::Write;

#[derive(Debug, Serialize)]
pub struct Parameters {
    pub connections: usize,
    pub warmup_s: f64,
    pub duration_s: f64,
    pub new_ratio: f64,
    pub seeded_keys: usize,
    /// `full` or `process` for a server the benchmark started; unknown for one it was pointed at.
    pub durability: Option<String>,
    pub tocsin_server: String,
}

#[derive(Debug, Serialize)]
pub struct Figures {
    pub target: &'static str,
    pub connections: usize,
    pub accepted: u64,
    pub accepted_per_s: f64,
    /// Latency percentiles of accepted requests; absent when none was accepted.
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub p99_9_ms: Option<f64>,
    pub errors: u64,
    pub first_error: Option<String>,
    pub peak_rss_bytes: Option<u64>,
}

impl Figures {
    pub fn new(
        target: &'static str,
        connections: usize,
        outcome: Outcome,
        peak_rss_bytes: Option<u64>,
    ) -> Self {
        let mut latencies = outcome.latencies_us;
        latencies.sort_unstable();
        let accepted = latencies.len() as u64;
        Self {
            target,
            connections,
            accepted,
            accepted_per_s: accepted as f64 / outcome.window.as_secs_f64().max(f64::EPSILON),
            p50_ms: percentile_ms(&latencies, 0.50),
            p99_ms: percentile_ms(&latencies, 0.99),
            p99_9_ms: percentile_ms(&latencies, 0.999),
            errors: outcome.errors,
            first_error: outcome.first_error,
            peak_rss_bytes,
        }
    }
}

/// Nearest-rank percentile of sorted microseconds, in milliseconds.
fn percentile_ms(sorted_us: &[u32], q: f64) -> Option<f64> {
    let rank = (q * sorted_us.len() as f64).ceil() as usize;
    let us = sorted_us.get(rank.saturating_sub(1))?;
    Some(f64::from(*us) / 1000.0)
}

/// Tocsin's figures over Alertmanager's: above 1 for throughput, below 1 for p99, means Tocsin is ahead.
#[derive(Debug, Serialize)]
pub struct Ratios {
    pub throughput: f64,
    pub p99: Option<f64>,
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub parameters: Parameters,
    pub results: Vec<Figures>,
    pub tocsin_over_alertmanager: Option<Ratios>,
}

impl Report {
    pub fn new(parameters: Parameters, results: Vec<Figures>) -> Self {
        let find = |name| results.iter().find(|f| f.target == name);
        let tocsin_over_alertmanager =
            find("tocsin")
                .zip(find("alertmanager"))
                .map(|(t, a)| Ratios {
                    throughput: t.accepted_per_s / a.accepted_per_s,
                    p99: t.p99_ms.zip(a.p99_ms).map(|(t, a)| t / a),
                });
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
            "{} connections, {} s warm-up, {} s measured; {:.0}% new dedup keys, {:.0}% repeats of {} seeded; \
             tocsin: {}, durability {}",
            p.connections,
            p.warmup_s,
            p.duration_s,
            p.new_ratio * 100.0,
            (1.0 - p.new_ratio) * 100.0,
            thousands(p.seeded_keys as u64),
            p.tocsin_server,
            p.durability.as_deref().unwrap_or("as configured"),
        );
        let _ = writeln!(
            out,
            "\n{:<13} {:>5}  {:>10}  {:>6}  {:>6}  {:>8}  {:>6}  {:>8}",
            "target", "conns", "accepted/s", "p50 ms", "p99 ms", "p99.9 ms", "errors", "peak RSS"
        );
        for f in &self.results {
            let _ = writeln!(
                out,
                "{:<13} {:>5}  {:>10}  {:>6}  {:>6}  {:>8}  {:>6}  {:>8}",
                f.target,
                f.connections,
                thousands(f.accepted_per_s.round() as u64),
                ms(f.p50_ms),
                ms(f.p99_ms),
                ms(f.p99_9_ms),
                f.errors,
                f.peak_rss_bytes
                    .map_or("unknown".into(), |b| format!("{} MiB", b.div_ceil(1 << 20))),
            );
        }
        if let Some(r) = &self.tocsin_over_alertmanager {
            let p99 = r.p99.map_or("-".into(), |x| format!("{x:.2}x"));
            let _ = writeln!(
                out,
                "\ntocsin/alertmanager throughput ratio: {:.2}x   p99 ratio: {p99}",
                r.throughput
            );
        }
        for f in self.results.iter().filter(|f| f.errors > 0) {
            let first = f.first_error.as_deref().unwrap_or("");
            let _ = writeln!(
                out,
                "\n{}: {} errors; the first: {first}",
                f.target, f.errors
            );
        }
        out
    }
}

fn ms(v: Option<f64>) -> String {
    v.map_or("-".into(), |v| format!("{v:.2}"))
}

fn thousands(n: u64) -> String {
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
    fn thousands_groups_digits() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(27512), "27,512");
        assert_eq!(thousands(1234567), "1,234,567");
    }
}
