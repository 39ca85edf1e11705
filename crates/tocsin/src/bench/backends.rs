//! `--scenario backends`: PagerDuty ingest on each storage backend, read against the no-op handler that parses the
//! same bodies and stores nothing (this machine's HTTP-stack limit), then the engine cycle on PostgreSQL. Every
//! server runs alone, one after the other, on fresh databases, so each has the machine to itself.

use super::load::Shape;
use super::report::{Figures, thousands};
use super::{BenchArgs, Scenario, engine, measure, targets};
use anyhow::Context;
use serde::Serialize;
use std::fmt::Write;

#[derive(Debug, Serialize)]
struct Row {
    /// What ran: the no-op handler, or Tocsin on a backend with so many instances.
    label: String,
    figures: Figures,
    /// Events per second over the no-op handler's.
    throughput_ratio: f64,
}

pub async fn run(args: &BenchArgs) -> anyhow::Result<()> {
    let postgres = args
        .database
        .as_deref()
        .context("--scenario backends needs --database postgres://user@host:port/db (a server it may create databases on)")?;
    anyhow::ensure!(args.instances >= 2, "--instances must be at least 2");
    let work = args.workload();
    let shape: Shape = args.shape();
    let mut results: Vec<(String, Figures)> = Vec::new();

    let noop = targets::spawn_noop().await?;
    results.push((
        "no-op handler".into(),
        measure(&noop, Scenario::Pagerduty, &work, shape).await?,
    ));
    drop(noop);
    let runs: [(String, Option<&str>, usize); 3] = [
        ("tocsin, SQLite".into(), None, 1),
        ("tocsin, PostgreSQL ×1".into(), Some(postgres), 1),
        (
            format!("tocsin, PostgreSQL ×{}", args.instances),
            Some(postgres),
            args.instances,
        ),
    ];
    for (label, database, instances) in runs {
        let tocsin =
            targets::spawn_tocsins(&args.durability, database, instances, targets::Budget::Off)
                .await
                .with_context(|| format!("starting {label}"))?;
        results.push((
            label,
            measure(&tocsin, Scenario::Pagerduty, &work, shape).await?,
        ));
    }
    let limit = results[0].1.requests_per_s;
    let rows: Vec<Row> = results
        .into_iter()
        .map(|(label, figures)| Row {
            throughput_ratio: figures.requests_per_s / limit.max(f64::EPSILON),
            label,
            figures,
        })
        .collect();
    print!("{}", table(args, &rows));

    eprintln!("engine-cycle on PostgreSQL…");
    let engine = engine::run(args.incidents, args.schedules, Some(postgres)).await?;
    println!("\n{}", engine.table());
    if args.json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
        println!("{}", serde_json::to_string_pretty(&engine)?);
    }
    Ok(())
}

fn table(args: &BenchArgs, rows: &[Row]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "backends: PagerDuty events, one per request to /v2/enqueue, {:.0}% new dedup keys, {} connections (dealt \
         round-robin over the instances), {} s warm-up and {} s measured per run, durability {}",
        args.new_ratio * 100.0,
        args.connections,
        args.warmup.as_secs_f64(),
        args.duration.as_secs_f64(),
        args.durability,
    );
    let _ = writeln!(
        out,
        "\n{:<26} {:>10}  {:>8}  {:>6}  {:>6}  {:>8}  {:>6}",
        "target", "events/s", "× no-op", "p50 ms", "p99 ms", "p99.9 ms", "errors"
    );
    let ms = |v: Option<f64>| v.map_or("-".into(), |v| format!("{v:.2}"));
    for r in rows {
        let f = &r.figures;
        let _ = writeln!(
            out,
            "{:<26} {:>10}  {:>7.2}×  {:>6}  {:>6}  {:>8}  {:>6}",
            r.label,
            thousands(f.requests_per_s.round() as u64),
            r.throughput_ratio,
            ms(f.p50_ms),
            ms(f.p99_ms),
            ms(f.p99_9_ms),
            f.errors,
        );
        if let Some(e) = &f.first_error {
            let _ = writeln!(out, "    first error: {e}");
        }
    }
    out
}
